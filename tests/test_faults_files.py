"""Faults from outside the arguments, in-process (issue 26): NaN weights of every model kind, non-finite
activations, damaged resume checkpoints, foreign files in ``--out``, failed writes, stale locks, small ones.

Driven through ``fcjax.cli.main(argv)`` (the one-line contract of tests/test_bad_inputs.py: exit status, exactly
one ``fcjax: error:`` line, no traceback, the user's files intact) or the library call that loads the file. A full
disk is simulated here by a write that raises ENOSPC (the real one: tests/test_faults.py, where a tmpfs can be
mounted). About 40 s on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import io
import os
import pathlib
import shutil
import subprocess

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from fcjax import _guard, _io, cli, errors, models
from fcjax.data import preprocess
from fcjax.models import demo_cnn, inception_v1

L = "conv4_pre_relu"
SW = ["sweep", "--model", "demo", "--layer", L, "--units", "1", "2", "--smoke", "--format", "png", "--set",
      "n_angles=2", "--set", "n_seeds=1", "--set", "steps=2", "--set", "block_steps=1"]


def cli_run(argv: list[str], capsys) -> tuple[int, list[str]]:
  """``(exit status, the fcjax: lines of stderr)``; asserts no traceback."""
  code = cli.main([str(a) for a in argv])
  err = capsys.readouterr().err
  assert "Traceback" not in err, err
  return code, [l for l in err.splitlines() if l.startswith("fcjax:")]


def one_error(code: int, said: list[str], *needles: str, status: int = 2) -> str:
  assert code == status, said
  errs = [l for l in said if l.startswith("fcjax: error:")]
  assert len(errs) == 1 and said[-1] == errs[0], said
  for n in needles:
    assert n in errs[0], errs[0]
  return errs[0]


def arrays(out: pathlib.Path) -> dict:
  with np.load(out / "arrays.npz") as z:
    return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("faults_files") / "clean"
  assert cli.main(SW + ["--out", str(out)]) == 0
  return out


# ------------------------------------------------------------------------------------------------ NaN weights
def _poison(params):
  leaves, tree = jax.tree.flatten(params)
  leaves[1] = np.asarray(leaves[1]).copy()
  leaves[1].flat[3] = np.nan
  return jax.tree.unflatten(tree, leaves)


def test_nan_weights_of_the_demo_model_are_refused_naming_the_tensor(tmp_path, capsys):
  params = _poison(demo_cnn.load_params())
  demo_cnn.save_params(params, tmp_path / "nan.npz")
  before = (tmp_path / "nan.npz").read_bytes()
  code, said = cli_run(SW + ["--weights", tmp_path / "nan.npz", "--out", tmp_path / "out"], capsys)
  one_error(code, said, "nan.npz", "1 NaN", "non-finite")
  assert not (tmp_path / "out").exists() and (tmp_path / "nan.npz").read_bytes() == before


@pytest.mark.parametrize("kind", ["pth", "checkpoint"])
def test_nan_weights_of_inception_v1_are_refused_naming_the_tensor(tmp_path, kind):
  from weights_conversion import checkpoint, lucent_pth, read_params
  params = inception_v1.init_params(jax.random.key(0))
  params = {k: {n: np.asarray(v) for n, v in d.items()} for k, d in params.items()}
  params["mixed3a_3x3"]["w"] = params["mixed3a_3x3"]["w"].copy()
  params["mixed3a_3x3"]["w"][0, 0, 0, 0] = np.inf
  path = (lucent_pth.save(params, tmp_path / "w.pth") if kind == "pth"
          else checkpoint.save(params, tmp_path / "ckpt", {"format": checkpoint.FORMAT, "model": "inceptionv1"}))
  for load in (read_params, inception_v1.load_params):  # the .pb reader goes through read_params too
    with pytest.raises(errors.NonFiniteError, match=r"mixed3a_3x3/w .*1 Inf"):
      load(str(path))


def test_nan_weights_of_a_flax_model_are_refused_when_loaded(tmp_path):
  class Net(nnx.Module):
    def __init__(self, rngs):
      self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)

    def __call__(self, x):
      return self.conv(x)

  net = Net(nnx.Rngs(0))
  model = models.from_flax(net, layers=["conv"], input_size=8,
                           load_params=lambda path: _poison(nnx.state(net)))
  with pytest.raises(errors.NonFiniteError, match="non-finite"):
    model.load_params("poisoned")


def test_non_finite_activations_stop_the_statistics_naming_layer_and_unit(tmp_path, capsys, monkeypatch):
  params = demo_cnn.load_params()
  params["conv4"]["b"] = params["conv4"]["b"].at[5].set(np.inf)  # past the load check: inf activations of unit 5
  model = dataclasses.replace(demo_cnn.MODEL, load_params=lambda path=None: params)
  monkeypatch.setattr(models, "get", lambda name: model)
  code, said = cli_run(["stats", "--model", "demo", "--dataset", "procedural:8", "--layers", L, "--n", "8",
                        "--batch-size", "4", "--out", tmp_path / "s.npz"], capsys)
  one_error(code, said, L, "unit 5", "inf")
  assert not (tmp_path / "s.npz").exists()


# ------------------------------------------------------------------------------------------ damaged checkpoints
def _metadata_empty(ck: pathlib.Path) -> None:
  next(ck.rglob("_METADATA")).write_bytes(b"")


def _data_truncated(ck: pathlib.Path) -> None:
  for f in ck.rglob("d/*"):
    with open(f, "r+b") as h:
      h.truncate(7)


def _manifest_garbage(ck: pathlib.Path) -> None:
  for f in ck.rglob("manifest.ocdbt"):
    f.write_bytes(b"not an ocdbt manifest")


def _header_garbage(ck: pathlib.Path) -> None:
  (ck.parent / "sweep.json").write_text("{ truncated")


@pytest.mark.parametrize("damage", [_metadata_empty, _data_truncated, _manifest_garbage, _header_garbage])
def test_a_damaged_checkpoint_is_discarded_and_the_rerun_equals_a_clean_run(tmp_path, capsys, clean, damage):
  out = tmp_path / "s"
  shutil.copytree(clean, out)
  for name in ("result.json", "inputs.json", "arrays.npz"):  # as if interrupted after its last block
    (out / name).unlink()
  damage(out / "checkpoint" / "checkpoints")
  code, said = cli_run(SW + ["--out", out], capsys)
  assert code == 0, said
  assert len([l for l in said if "discarding the checkpoint" in l]) == 1, said
  np.testing.assert_equal(arrays(out), arrays(clean))


# ------------------------------------------------------------------------------------------------ foreign files
@pytest.mark.parametrize("fresh", [False, True])
def test_a_foreign_checkpoint_file_is_refused_and_kept(tmp_path, capsys, fresh):
  out = tmp_path / "out"
  out.mkdir()
  (out / "checkpoint").write_text("model_checkpoint_path: \"model.ckpt-1\"\n")  # what TensorFlow writes
  code, said = cli_run(SW + ["--out", out] + (["--fresh"] if fresh else []), capsys)
  one_error(code, said, str(out / "checkpoint"), "did not write")
  assert (out / "checkpoint").read_text().startswith("model_checkpoint_path")
  assert sorted(p.name for p in out.iterdir()) == ["checkpoint"]


def test_fresh_never_deletes_a_user_folder_named_like_fcjax_s(tmp_path, capsys, clean):
  out = tmp_path / "s"
  shutil.copytree(clean, out)
  shutil.rmtree(out / "checkpoint")
  (out / "checkpoint").mkdir()
  (out / "checkpoint" / "mine.txt").write_text("keep me")
  code, said = cli_run(SW + ["--out", out, "--fresh"], capsys)
  one_error(code, said, "checkpoint", "did not write")
  assert (out / "checkpoint" / "mine.txt").read_text() == "keep me"


# ------------------------------------------------------------------------------------------------ failed writes
def test_a_failed_write_is_one_line_naming_the_path_and_cause(tmp_path, capsys, monkeypatch):
  def full(path, write):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
  monkeypatch.setattr(_io, "atomic_write", full)  # simulated: a real full disk is in tests/test_faults.py
  out = tmp_path / "out"
  code, said = cli_run(SW + ["--out", out], capsys)
  one_error(code, said, str(out), "No space left on device", status=errors.WRITE_FAILED)
  assert not (out / "result.json").exists() and not (out / "inputs.json").exists()


def test_plot_in_a_read_only_place_is_one_line(tmp_path, capsys, clean):
  out, mounts = tmp_path / "ro", []
  shutil.copytree(clean, out)
  os.chmod(out, 0o555)
  try:
    if _writable(out):  # root writes into a 0555 folder: make a read-only file system instead, where it can
      ro = tmp_path / "mnt"
      ro.mkdir()
      if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ro)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and no read-only file system can be made here")
      mounts.append(ro)
      shutil.copytree(clean, ro / "r")
      subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
      out = ro / "r"
    code, said = cli_run(["plot", out, "--format", "png"], capsys)
    one_error(code, said, str(out))
  finally:
    os.chmod(tmp_path / "ro", 0o755)
    for m in mounts:
      subprocess.run(["umount", str(m)], check=False)


def _writable(folder: pathlib.Path) -> bool:
  try:
    (folder / ".probe").write_text("")
  except OSError:
    return False
  (folder / ".probe").unlink()
  return True


# ------------------------------------------------------------------------------------------------ locks
def test_a_held_lock_names_the_holder_and_a_stale_one_blocks_nothing(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  path = _guard.lock_path(out, "dir")
  path.write_text("pid 999999 on elsewhere\n")  # a stale lock file: its process is gone, no flock is held
  with _guard.out_lock(out, "dir"):
    assert "pid" in path.read_text() and str(os.getpid()) in path.read_text()
  assert not path.exists()
  fd = os.open(path, os.O_RDWR | os.O_CREAT)
  os.write(fd, b"pid 4242 on host-b\n")
  fcntl.flock(fd, fcntl.LOCK_EX)  # another holder
  try:
    with pytest.raises(errors.BusyError, match=f"{out}.*pid 4242 on host-b"):
      with _guard.out_lock(out, "dir"):
        pass
  finally:
    os.close(fd)


# ------------------------------------------------------------------------------------------------ small ones
def test_a_quoted_tilde_in_out_is_written_where_it_is_checked(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  monkeypatch.chdir(tmp_path)
  (tmp_path / "home").mkdir()
  code, said = cli_run(["stats", "--model", "demo", "--dataset", "procedural:4", "--layers", L, "--n", "4",
                        "--out", "~/s.npz"], capsys)
  assert code == 0, said
  assert (tmp_path / "home" / "s.npz").is_file() and not (tmp_path / "~").exists()


def test_a_16_bit_png_is_scaled_not_white():
  grey = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
  buf = io.BytesIO()
  Image.fromarray(grey).save(buf, format="PNG")
  x = preprocess.load_image(buf.getvalue(), 32)
  np.testing.assert_allclose(x[..., 0], grey / 65535.0, atol=1 / 255)
