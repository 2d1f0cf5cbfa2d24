"""weights_conversion._torch_file: PyTorch .pth files read without torch; hostile and broken files refused.

Reference: ``torch.load(weights_only=True)`` on files written by ``torch.save`` (zip and legacy format); every array
must be bit-identical (exact equality of the raw bits, dtype and shape). Hostile pickles are written into otherwise
valid archives with ``zipfile`` and raw opcodes (no torch), each one with a payload that creates a marker file if it
ever ran; the marker must never appear. The torch cross-checks skip without torch; everything else runs without it.
Runtime: ~10 s (two 28 MB state_dicts written by torch).
"""

from __future__ import annotations

import collections
import io
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile

import ml_dtypes
import numpy as np
import pytest

from fcjax import errors
from weights_conversion import _shapes, _torch_file, _torch_write, lucent_pth
from weights_conversion._torch_write import _int, _str, _tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]


def bits(a: np.ndarray) -> np.ndarray:
  """The raw bits of an array (so NaNs and bfloat16 compare exactly)."""
  a = np.asarray(a)
  return a.view(np.uint8) if a.dtype == np.bool_ else a.view(f"u{a.dtype.itemsize}")


def assert_identical(got, want: np.ndarray, name: str = ""):
  assert isinstance(got, np.ndarray), name
  assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, want.dtype, got.shape, want.shape)
  np.testing.assert_array_equal(bits(got), bits(want), err_msg=name)


def torch_as_numpy(t) -> np.ndarray:
  import torch
  if t.dtype == torch.bfloat16:
    return t.detach().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
  return t.detach().numpy()


def zip_pth(path: pathlib.Path, pkl: bytes, storages: dict[str, bytes] | None = None, name: str = "archive",
            byteorder: bytes | None = b"little") -> pathlib.Path:
  """A zip archive laid out as torch.save lays it out, with any pickle and storages."""
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
    zf.writestr(f"{name}/data.pkl", pkl)
    if byteorder is not None:
      zf.writestr(f"{name}/byteorder", byteorder)
    for key, data in (storages or {}).items():
      zf.writestr(f"{name}/data/{key}", data)
    zf.writestr(f"{name}/version", b"3\n")
  return path


def tensor_pickle(shape, strides, numel: int, offset: int = 0, storage: str = "FloatStorage", key: str = "0",
                  legacy: bool = False) -> bytes:
  """A state_dict {'w': tensor} pickle with any size / strides / offset (raw opcodes, as torch writes them; the
  legacy format's storage ids have a sixth entry, None)."""
  pid = (b"(" + _str("storage") + b"ctorch\n" + storage.encode() + b"\n" + _str(key) + _str("cpu") + _int(numel)
         + (b"N" if legacy else b"") + b"tQ")
  return (b"\x80\x02ccollections\nOrderedDict\n)R(" + _str("w") + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid
          + _int(offset) + _tuple(shape) + _tuple(strides) + b"\x89ccollections\nOrderedDict\n)RtRu.")


def legacy_stream(main: bytes, keys: list[str] | None = None, data: bytes = b"") -> bytes:
  """A legacy torch.save stream: magic, protocol, sys info, ``main`` pickle, storage keys, storage data."""
  head = b"".join(pickle.dumps(x, protocol=2) for x in (
      _torch_file.LEGACY_MAGIC, _torch_file.LEGACY_PROTOCOL, {"protocol_version": 1001, "little_endian": True}))
  return head + main + pickle.dumps(keys or [], protocol=2) + data


def refused(path: pathlib.Path, match: str) -> str:
  with pytest.raises(errors.WeightsError, match=match) as e:
    _torch_file.load(path)
  msg = str(e.value)
  assert "\n" not in msg and "Traceback" not in msg, msg  # one clear line
  return msg


# --- reading what torch writes ---------------------------------------------------------------------------------------

def _torch_cases():
  import torch
  g = torch.Generator().manual_seed(0)
  base = torch.randn(6, 10, generator=g)
  shared = torch.arange(24, dtype=torch.float32)
  return collections.OrderedDict([
      ("float32", torch.randn(3, 4, 5, generator=g)),
      ("float16", torch.randn(7, 3, generator=g).half()),
      ("bfloat16", torch.randn(4, 9, generator=g).to(torch.bfloat16)),
      ("float64", torch.randn(5, generator=g).double()),
      ("int64", torch.randint(-2 ** 40, 2 ** 40, (3, 3), generator=g)),
      ("int32", torch.randint(-2 ** 30, 2 ** 30, (8,), generator=g, dtype=torch.int32)),
      ("uint8", torch.randint(0, 255, (5,), generator=g, dtype=torch.uint8)),
      ("bool", torch.randn(6, generator=g) > 0),
      ("scalar", torch.tensor(2.5)),
      ("empty", torch.zeros(0, 4)),
      ("transpose", base.t()),  # non-contiguous: strides (1, 10)
      ("offset_slice", base[2:5, 3:9:2]),  # storage offset 23, strides (10, 2)
      ("shared_a", shared[:12].view(3, 4)),  # two tensors sharing one storage
      ("shared_b", shared[6:].view(2, 9)),
      ("nan_inf", torch.tensor([float("nan"), float("inf"), -0.0])),
  ])


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_save_reads_bit_identically(tmp_path, zip_format):
  torch = pytest.importorskip("torch")
  sd = _torch_cases()
  path = tmp_path / "cases.pth"
  torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
  ref = torch.load(path, weights_only=True)
  got = _torch_file.load(path)
  assert type(got) is collections.OrderedDict and list(got) == list(ref)
  for k in ref:
    assert_identical(got[k], torch_as_numpy(ref[k]), k)
  assert got["offset_slice"][1, 2] == ref["offset_slice"][1, 2].item() == sd["offset_slice"][1, 2].item()
  # nested containers and an nn.Parameter, as in a training checkpoint
  nested = {"state_dict": {"w": torch.nn.Parameter(torch.ones(2, 3))}, "epoch": 3, "hist": [1.5, (torch.ones(1),)]}
  torch.save(nested, path, _use_new_zipfile_serialization=zip_format)
  got = _torch_file.load(path)
  assert got["epoch"] == 3 and got["hist"][0] == 1.5 and isinstance(got["hist"][1], tuple)
  assert_identical(got["state_dict"]["w"], np.ones((2, 3), np.float32))


def test_inceptionv1_state_dict_reads_like_torch(tmp_path):
  """The 116-key state_dict, as a plain OrderedDict and as Lucent's own module's state_dict() (with _metadata)."""
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  params = {n: {k: rng.standard_normal(s).astype(np.float32) for k, s in p.items()}
            for n, p in _shapes.param_shapes().items()}
  sd = collections.OrderedDict((k, torch.from_numpy(v)) for k, v in lucent_pth.from_params(params).items())
  assert len(sd) == 116
  for zip_format in (True, False):
    path = tmp_path / f"inception5h_{zip_format}.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    ref = torch.load(path, weights_only=True)
    got = lucent_pth.load_state_dict(path)
    assert list(got) == list(ref)
    for k in ref:
      assert_identical(got[k], ref[k].numpy(), k)
    back = lucent_pth.read(path)
    for n in params:
      assert_identical(back[n]["w"], params[n]["w"], n)
  try:
    import lucent_ref
    model = lucent_ref.build(seed=0)
  except ImportError:
    return  # torch-lucent not installed: the plain state_dict above is the check
  torch.save(model.state_dict(), tmp_path / "lucent.pth")
  ref = torch.load(tmp_path / "lucent.pth", weights_only=True)
  got = lucent_pth.load_state_dict(tmp_path / "lucent.pth")
  assert list(got) == list(ref) and len(got) == 116
  for k in ref:
    assert_identical(got[k], ref[k].numpy(), k)


def test_module_state_dict_with_its_metadata_record(tmp_path):
  # nn.Module.state_dict() pickles its `_metadata` (module versions) with BUILD: the one BUILD that is admitted
  crafted = tensor_pickle((2,), (1,), 2)[:-1] + b"}" + _str("_metadata") + b"}" + _str("") + b"}ssb."
  got = _torch_file.load(zip_pth(tmp_path / "meta.pth", crafted, {"0": np.float32([1, 2]).tobytes()}))
  assert list(got) == ["w"] and got["w"].tolist() == [1.0, 2.0]
  torch = pytest.importorskip("torch")
  net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
  sd = net.state_dict()
  assert hasattr(sd, "_metadata")
  for zip_format in (True, False):
    torch.save(sd, tmp_path / "net.pth", _use_new_zipfile_serialization=zip_format)
    ref = torch.load(tmp_path / "net.pth", weights_only=True)
    got = _torch_file.load(tmp_path / "net.pth")
    assert list(got) == list(ref) == list(sd)  # includes BatchNorm's int64 num_batches_tracked
    for k in ref:
      assert_identical(got[k], torch_as_numpy(ref[k]), k)


def test_reading_never_imports_torch(tmp_path):
  torch = pytest.importorskip("torch")
  path = tmp_path / "w.pth"
  torch.save({"conv2d0_pre_relu_conv.weight": torch.arange(6.0).view(2, 3).t()}, path)
  code = (f"import sys; sys.modules['torch'] = None\n"  # `import torch` raises in this fresh process
          f"from weights_conversion import _torch_file\n"
          f"a = _torch_file.load({str(path)!r})['conv2d0_pre_relu_conv.weight']\n"
          f"assert a.tolist() == [[0, 3], [1, 4], [2, 5]], a\n"
          f"assert not [m for m, v in sys.modules.items() if m.startswith('torch') and v is not None]\n"
          f"print('ok')")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_reading_works_with_torch_unimportable(tmp_path, monkeypatch):
  torch = pytest.importorskip("torch")
  path = tmp_path / "w.pth"
  torch.save({"a": torch.arange(4, dtype=torch.int64)}, path)
  monkeypatch.setitem(sys.modules, "torch", None)
  assert _torch_file.load(path)["a"].tolist() == [0, 1, 2, 3]


def test_writer_output_reads_identically_in_torch_and_here(tmp_path):
  rng = np.random.default_rng(1)
  arrays = {"f32": rng.standard_normal((3, 5)).astype(np.float32), "f16": rng.standard_normal(4).astype(np.float16),
            "bf16": rng.standard_normal((2, 3)).astype(ml_dtypes.bfloat16), "i64": np.arange(5) - 2 ** 40,
            "bool": np.array([True, False]), "scalar": np.float64(1.25), "empty": np.zeros((0, 2), np.float32),
            "transposed": rng.standard_normal((4, 3)).astype(np.float32).T}
  path = _torch_write.save(arrays, tmp_path / "w.pth")
  got = _torch_file.load(path)
  for k, v in arrays.items():
    assert_identical(got[k], np.asarray(v), k)
  torch = pytest.importorskip("torch")
  ref = torch.load(path, weights_only=True)
  for k, v in arrays.items():
    assert_identical(torch_as_numpy(ref[k]), np.asarray(v), k)


def test_big_endian_archive_and_crafted_views(tmp_path):
  values = np.arange(12, dtype=np.float32) * 1.5
  zip_pth(tmp_path / "be.pth", tensor_pickle((3, 2), (1, 3), 12, offset=2), {"0": values.astype(">f4").tobytes()},
          byteorder=b"big")
  want = np.lib.stride_tricks.as_strided(values[2:], (3, 2), (4, 12))
  assert_identical(_torch_file.load(tmp_path / "be.pth")["w"], want.copy())
  zip_pth(tmp_path / "nobo.pth", tensor_pickle((4,), (0,), 1), {"0": values[:1].tobytes()}, byteorder=None)
  assert _torch_file.load(tmp_path / "nobo.pth")["w"].tolist() == [0.0] * 4  # stride 0 (expand); little by default


# --- hostile pickles: refused, never executed ------------------------------------------------------------------------

class SystemPayload:
  """Unpickling this runs ``os.system('touch MARKER')``."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return os.system, (f"touch {self.marker}",)


def _hostile_pickles(marker: pathlib.Path) -> dict[str, bytes]:
  touch = f"open({str(marker)!r}, 'w').close()"
  return {
      "reduce_os_system": pickle.dumps({"w": SystemPayload(marker)}, protocol=2),
      "global_builtins_eval": b"\x80\x02cbuiltins\neval\n" + _str(touch) + b"\x85R.",
      "global_posix_system": b"\x80\x02cposix\nsystem\n" + _str(f"touch {marker}") + b"\x85R.",
      "stack_global_exec": b"\x80\x04" + _str("builtins") + _str("exec") + b"\x93" + _str(touch) + b"\x85R.",
      "nested_in_dict": b"\x80\x02}" + _str("meta") + b"}" + _str("x") + b"]cposix\nsystem\n" + _str(
          f"touch {marker}") + b"\x85Rass.",  # {'meta': {'x': [posix.system('touch MARKER')]}}
      "newobj_build": b"\x80\x02ccollections\nOrderedDict\n)\x81}" + _str("__class__") + b"K\x01sb.",
      "build_on_dict": b"\x80\x02ccollections\nOrderedDict\n)R}" + _str("x") + b"K\x01sb.",
      "obj_opcode": b"(cposix\nsystem\n" + _str(f"touch {marker}") + b"o.",
      "bare_global": b"\x80\x02ccollections\nOrderedDict\n.",
  }


@pytest.mark.parametrize("case", list(_hostile_pickles(pathlib.Path("m"))))
def test_hostile_pickles_are_refused_not_executed(tmp_path, case):
  marker = tmp_path / "MARKER"
  pkl = _hostile_pickles(marker)[case]
  for fmt, path in (("zip", zip_pth(tmp_path / "evil.pth", pkl, {"0": b"\0" * 4})),
                    ("legacy", tmp_path / "evil_legacy.pth")):
    if fmt == "legacy":
      path.write_bytes(legacy_stream(pkl))
    msg = refused(path, "was refused: ")
    assert "never runs code" in msg
    assert not marker.exists(), (case, fmt)


def test_the_payloads_are_live(tmp_path):
  """The payloads above do run under plain pickle (so their refusal means something)."""
  marker = tmp_path / "MARKER"
  pickles = _hostile_pickles(marker)
  for case in ("reduce_os_system", "global_builtins_eval", "nested_in_dict"):
    pickle.loads(pickles[case])
    assert marker.exists(), case
    marker.unlink()


def test_refusals_name_what_was_asked_for(tmp_path):
  marker = tmp_path / "MARKER"
  p = _hostile_pickles(marker)
  assert "builtins.eval" in refused(zip_pth(tmp_path / "a.pth", p["global_builtins_eval"]), "refused")
  assert "posix.system" in refused(zip_pth(tmp_path / "b.pth", p["global_posix_system"]), "refused")
  assert "NEWOBJ opcode" in refused(zip_pth(tmp_path / "c.pth", p["newobj_build"]), "refused")
  assert "BUILD on a OrderedDict" in refused(zip_pth(tmp_path / "d.pth", p["build_on_dict"]), "refused")
  negative = tensor_pickle((1,), (1,), 1).replace(b"J\x00\x00\x00\x00(J\x01", b"J\xff\xff\xff\xff(J\x01")
  assert "storage offset is (-1,)" in refused(zip_pth(tmp_path / "h.pth", negative, {"0": b"\0" * 4}), "refused")
  huge = tensor_pickle((1 << 20, 1 << 20), (0, 0), 1)  # 4 TiB of one repeated element
  assert "over 2 GiB" in refused(zip_pth(tmp_path / "i.pth", huge, {"0": b"\0" * 4}), "refused")
  tensor_build = tensor_pickle((1,), (1,), 1)[:-2] + b"}" + _str("offset") + b"J\xff\xff\xff\xffsbu."  # offset -1
  assert "BUILD on a Tensor" in refused(zip_pth(tmp_path / "g.pth", tensor_build, {"0": b"\0" * 4}), "refused")
  not_storage = b"\x80\x02(" + _str("module") + _str("x") + b"tQ."
  assert "not a tensor storage" in refused(zip_pth(tmp_path / "e.pth", not_storage), "refused")
  untyped = tensor_pickle((1,), (1,), 1, storage="UntypedStorage")
  assert "torch.UntypedStorage" in refused(zip_pth(tmp_path / "f.pth", untyped, {"0": b"\0" * 4}), "refused")


def test_shared_nested_lists_are_walked_once(tmp_path):
  # 200 levels of [prev, prev]: 2**200 paths through a tree of 200 lists; the walk must visit each list once
  body = b"]q\x00" + b"".join(b"(h" + bytes([i]) + b"h" + bytes([i]) + b"lq" + bytes([i + 1]) for i in range(200))
  got = _torch_file.load(zip_pth(tmp_path / "dag.pth", b"\x80\x02" + body + b"."))
  depth = 0
  while got:
    got, depth = got[0], depth + 1
  assert depth == 200


# --- broken files: one clear line each -------------------------------------------------------------------------------

def _valid(tmp_path: pathlib.Path) -> pathlib.Path:
  return _torch_write.save({"w": np.arange(1000, dtype=np.float32)}, tmp_path / "valid.pth")


def _claim_size(data: bytes, member: str, size: int) -> bytes:
  """``data`` (a zip) with ``member``'s declared uncompressed size set to ``size`` in both headers."""
  out = bytearray(data)
  name = member.encode()
  for sig, field, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
    at = out.find(sig)
    while at >= 0:
      if out[at + name_at:at + name_at + len(name)] == name:
        out[at + field:at + field + 4] = struct.pack("<I", size)
      at = out.find(sig, at + 4)
  return bytes(out)


def test_broken_files_give_one_clear_line(tmp_path):
  valid = _valid(tmp_path)
  assert _torch_file.load(valid)["w"][999] == 999  # the archives below are broken copies of this valid one
  data = valid.read_bytes()
  legacy_pth = legacy_stream(tensor_pickle((4,), (1,), 4, legacy=True), ["0"], struct.pack("<q", 4) + b"\0" * 16)
  (tmp_path / "legacy.pth").write_bytes(legacy_pth)
  assert _torch_file.load(tmp_path / "legacy.pth")["w"].tolist() == [0.0] * 4
  cases = {
      "truncated.pth": (data[: len(data) // 2], "no readable end"),
      "empty.pth": (b"", "it is empty"),
      "random.pth": (np.random.default_rng(7).bytes(4096), "neither a zip archive nor"),
      "text.pth": (b"just some text\n", "neither a zip archive nor"),
      "huge_member.pth": (_claim_size(data, "valid/data/0", 3 << 30), "claims 3221225472 bytes.*zip bomb"),
      "member_beyond_file.pth": (_claim_size(data, "valid/data/0", 50 << 20), "claims 52428800 bytes.*zip bomb"),
      "legacy_cut_in_pickle.pth": (legacy_pth[:120], "malformed or truncated"),
      "legacy_cut_in_data.pth": (legacy_pth[:-5], "storage 0 claims 4 elements .16 bytes.*11 bytes are left"),
      "plain_pickle.pth": (pickle.dumps([1, 2, 3]), "not a torch.save file"),
  }
  for name, (content, match) in cases.items():
    path = tmp_path / name
    path.write_bytes(content)
    msg = refused(path, match)
    assert str(path) in msg, name
  with zipfile.ZipFile(tmp_path / "no_pkl.pth", "w") as zf:
    zf.writestr("archive/data/0", b"\0" * 16)
  refused(tmp_path / "no_pkl.pth", "holds 0 '<name>/data.pkl' records")
  zip_pth(tmp_path / "no_storage.pth", tensor_pickle((4,), (1,), 4))
  refused(tmp_path / "no_storage.pth", "refers to storage archive/data/0, which the archive does not hold")
  zip_pth(tmp_path / "short.pth", tensor_pickle((4,), (1,), 4), {"0": b"\0" * 8})
  refused(tmp_path / "short.pth", "holds 8 bytes, fewer than its 4 elements")
  zip_pth(tmp_path / "oob.pth", tensor_pickle((3, 3), (3, 1), 8), {"0": b"\0" * 32})
  refused(tmp_path / "oob.pth", "reaches element 8 of storage 0, which has 8")
  zip_pth(tmp_path / "order.pth", tensor_pickle((1,), (1,), 1), {"0": b"\0" * 4}, byteorder=b"middle")
  refused(tmp_path / "order.pth", "byteorder record")
  crc = bytearray(data)
  crc[crc.rfind(np.float32(999).tobytes())] ^= 1  # flip one bit of the storage: the CRC no longer matches
  (tmp_path / "crc.pth").write_bytes(bytes(crc))
  refused(tmp_path / "crc.pth", "not a readable PyTorch file .*CRC")
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w") as tf:
    info = tarfile.TarInfo("storages")
    info.size = 4
    tf.addfile(info, io.BytesIO(b"\0" * 4))
  (tmp_path / "old.pth").write_bytes(buf.getvalue())
  assert "torch.save(torch.load(f), g)" in refused(tmp_path / "old.pth", "tar format")
  refused(tmp_path / "missing.pth", "does not exist")
