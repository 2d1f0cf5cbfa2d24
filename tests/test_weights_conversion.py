"""weights_conversion: Lucent .pth and Lucid .pb -> fcjax params -> checkpoint; bad and hostile files.

The GraphDef test builds, with TensorFlow, a graph that has inception5h's constant names and shapes (random values)
and the stem + mixed3a + head ops on them, converts the serialized .pb with fcjax, checks that every one of the 116
arrays lands where it belongs, and compares fcjax's model with TensorFlow's computation over the same constants at an
odd input size (97 px), which also exercises TF-SAME padding and LRN inside the real network.
The .pth tests need no torch (fcjax writes and reads the files itself; tests/test_pth_reader.py cross-checks the
reader against torch). Also checked: weights_conversion's own table of InceptionV1's shapes equals the model's, and
weights_conversion imports nothing from fcjax.models (imports point one way).
Runtime: ~30 s on 2 busy CPU cores (TensorFlow import and graph run, a 28 MB .pth written several times).
"""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys

import jax
import numpy as np
import pytest

import weights_conversion as wc
from fcjax import _io, errors
from fcjax.models import inception_v1 as m
from weights_conversion import _shapes, _torch_write, checkpoint, lucent_pth, lucid_pb

ROOT = pathlib.Path(__file__).resolve().parents[1]


def random_params(seed: int = 0) -> dict:
  """Random float32 params of the right shapes, He-normal scaled, biases N(0, 0.2^2) (numpy only: fast)."""
  rng = np.random.default_rng(seed)
  out = {}
  for name, s in m.param_shapes().items():
    std = np.sqrt(2.0 / np.prod(s["w"][:-1])) / (73.6 if name == "conv2d0" else 1.0)
    out[name] = {"w": (rng.standard_normal(s["w"], np.float32) * std).astype(np.float32),
                 "b": (0.2 * rng.standard_normal(s["b"], np.float32)).astype(np.float32)}
  return out


def assert_same_params(a, b):
  assert set(a) == set(b)
  for name in a:
    for k in ("w", "b"):
      np.testing.assert_array_equal(np.asarray(a[name][k]), np.asarray(b[name][k]), err_msg=f"{name}/{k}")


def rel_err(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def pth(tmp_path_factory):
  """(params, path of the same params saved as a Lucent state_dict .pth)."""
  params = random_params(1)
  path = tmp_path_factory.mktemp("pth") / "inception5h.pth"
  lucent_pth.save(params, path)
  return params, path


def _leftovers(directory: pathlib.Path) -> list[str]:
  return sorted(p.name for p in directory.iterdir())


# --- the shape table and the import direction -----------------------------------------------------------------------

def test_own_shape_table_equals_the_models():
  ours, model = _shapes.param_shapes(), m.param_shapes()
  assert ours == model and list(ours) == list(model)  # names, shapes and order
  assert m.param_count() == sum(np.prod(s) for p in ours.values() for s in p.values())


def test_weights_conversion_imports_nothing_from_fcjax_models(pth, tmp_path):
  _, path = pth
  code = (f"import sys, weights_conversion as wc\n"
          f"wc.check_params(wc.read_params({str(path)!r}))\n"
          f"wc.info({str(path)!r})\n"
          f"bad = sorted(k for k in sys.modules if k.startswith(('fcjax.models', 'torch', 'tensorflow')))\n"
          f"assert not bad, bad\n"
          f"print('ok')")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
  for f in (ROOT / "weights_conversion").glob("*.py"):
    assert "fcjax.models" not in f.read_text().replace("``fcjax.models", ""), f.name  # (docstrings may name it)


# --- .pth ------------------------------------------------------------------------------------------------------------

def test_lucent_layout_is_oihw_and_out_in():
  shapes = lucent_pth.expected_shapes()
  assert len(shapes) == 116
  assert shapes["conv2d0_pre_relu_conv.weight"] == (64, 3, 7, 7)
  assert shapes["mixed4a_3x3_pre_relu_conv.weight"] == (204, 96, 3, 3)
  assert shapes["softmax2_pre_activation_matmul.weight"] == (1008, 1024)
  assert shapes["softmax2_pre_activation_matmul.bias"] == (1008,)
  # OIHW -> HWIO puts w_pth[o, i, h, w] at w_fcjax[h, w, i, o]
  sd = {k: np.random.default_rng(0).standard_normal(s).astype(np.float32) for k, s in shapes.items()}
  p = lucent_pth.to_params(sd)
  assert p["mixed3a_5x5"]["w"][1, 3, 7, 20] == sd["mixed3a_5x5_pre_relu_conv.weight"][20, 7, 1, 3]
  assert p["softmax2"]["w"][5, 900] == sd["softmax2_pre_activation_matmul.weight"][900, 5]


def test_pth_convert_roundtrip_and_metadata(pth, tmp_path):
  params, path = pth
  dst = wc.convert(path, tmp_path / "ckpt")
  assert checkpoint.is_checkpoint(dst)
  assert_same_params(m.load_params(str(dst)), params)
  assert_same_params(m.load_params(str(path)), params)  # a .pth converts on the fly, nothing written
  meta = wc.info(dst)
  assert meta["format"] == "fcjax-checkpoint" and meta["source_format"] == "lucent-pth"
  assert meta["source"] == str(path.absolute())
  assert meta["sha256"] == wc.file_sha256(path) == wc.info(path)["sha256"]
  data = path.read_bytes()
  import hashlib
  assert meta["git_blob_id"] == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == wc.git_blob_id(path)
  assert meta["param_count"] == 7_066_380
  assert meta["params_sha256"] == _io.tree_digest(params)
  import fcjax
  assert meta["fcjax_version"] == fcjax.__version__ and meta["created"][:2] == "20"
  assert _leftovers(tmp_path) == ["ckpt"]  # no temp directories left behind
  with pytest.raises(errors.WeightsError, match="already exists"):
    wc.convert(path, dst)
  wc.convert(path, dst, overwrite=True)
  assert _leftovers(tmp_path) == ["ckpt"]


def test_mismatched_pth_lists_every_problem_and_writes_nothing(pth, tmp_path):
  params, _ = pth
  sd = lucent_pth.from_params(params)
  del sd["mixed4b_5x5_pre_relu_conv.bias"]
  sd["mixed4b_extra_conv.weight"] = np.zeros(3, np.float32)
  sd["conv2d1_pre_relu_conv.weight"] = np.zeros((64, 64, 3, 3), np.float32)
  path = tmp_path / "bad.pth"
  _torch_write.save(sd, path)
  with pytest.raises(errors.WeightsError) as e:
    wc.convert(path, tmp_path / "out" / "ckpt")
  msg = str(e.value)
  assert "3 problem(s)" in msg
  assert "missing key mixed4b_5x5_pre_relu_conv.bias" in msg
  assert "unexpected key mixed4b_extra_conv.weight" in msg
  assert "conv2d1_pre_relu_conv.weight: (64, 64, 3, 3), expected (64, 64, 1, 1)" in msg
  assert _leftovers(tmp_path) == ["bad.pth"]  # not even the destination's parent


@pytest.mark.parametrize("content", [
    b"",
    b"this is not a weights file\n",
    np.random.default_rng(0).bytes(4096),  # seeded: the same bytes every run
    b"PK\x03\x04" + np.random.default_rng(1).bytes(2000),  # a broken zip archive
    pickle.dumps([1, 2, 3]),  # a plain (legacy-format-looking) pickle
], ids=["empty", "text", "random", "broken-zip", "plain-pickle"])
def test_corrupt_pth_is_a_clear_error(tmp_path, content):
  path = tmp_path / "weights.pth"
  path.write_bytes(content)
  with pytest.raises(errors.WeightsError, match="not a readable PyTorch file") as e:
    wc.read_params(path)
  assert "\n" not in str(e.value)


def test_pth_that_is_not_a_state_dict(tmp_path):
  import zipfile
  path = tmp_path / "list.pth"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("list/data.pkl", pickle.dumps([1.0, 2.0], protocol=2))
  with pytest.raises(errors.WeightsError, match="holds a list, not a state_dict of tensors"):
    wc.read_params(path)


def test_truncated_pth_is_a_clear_error(pth, tmp_path):
  _, path = pth
  cut = tmp_path / "cut.pth"
  cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  with pytest.raises(errors.WeightsError, match="not a readable PyTorch file"):
    wc.convert(cut, tmp_path / "ckpt")
  assert not (tmp_path / "ckpt").exists()


def test_malicious_pickle_is_refused_not_executed(tmp_path):
  marker = tmp_path / "pwned"
  evil = pickle.dumps({"conv2d0_pre_relu_conv.weight": _Payload(marker)}, protocol=2)
  pickle.loads(evil)  # the payload is live: plain unpickling runs it
  assert marker.exists()
  marker.unlink()
  import zipfile
  path = tmp_path / "evil.pth"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("evil/data.pkl", evil)
  with pytest.raises(errors.WeightsError, match="was refused: its pickle refers to "):
    wc.convert(path, tmp_path / "ckpt")
  assert not marker.exists() and not (tmp_path / "ckpt").exists()


class _Payload:
  """Unpickling this creates a marker file: what a malicious weights file would do with os.system."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return pathlib.Path.touch, (self.marker,)


def test_reading_pth_needs_no_torch_and_pb_needs_tensorflow(pth, tmp_path, monkeypatch):
  params, path = pth
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
  assert_same_params(wc.read_params(path), params)
  pb = tmp_path / "g.pb"
  pb.write_bytes(b"\x0a\x00")
  monkeypatch.setitem(sys.modules, "tensorflow", None)
  with pytest.raises(errors.WeightsError, match="needs TensorFlow"):
    wc.read_params(pb)


def test_bad_paths(tmp_path):
  with pytest.raises(errors.WeightsError, match="does not exist"):
    wc.read_params(tmp_path / "nope.pth")
  (tmp_path / "empty_dir").mkdir()
  with pytest.raises(errors.WeightsError, match="not an fcjax weights checkpoint"):
    m.load_params(str(tmp_path / "empty_dir"))


def test_damaged_checkpoint_and_wrong_params_tree(pth, tmp_path):
  params, _ = pth
  dst = checkpoint.save(params, tmp_path / "ckpt", {"format": checkpoint.FORMAT})
  for f in (dst / checkpoint.PARAMS_DIR).rglob("*"):
    if f.is_file() and f.stat().st_size > 1000:
      f.write_bytes(b"\0" * 16)
  with pytest.raises(errors.WeightsError, match="damaged fcjax checkpoint"):
    wc.read_params(dst)
  bad = dict(params)
  del bad["mixed5b_1x1"]
  checkpoint.save(bad, tmp_path / "partial", {"format": checkpoint.FORMAT})
  with pytest.raises(errors.WeightsError, match="missing mixed5b_1x1/w"):
    wc.read_params(tmp_path / "partial")


# --- .pb -------------------------------------------------------------------------------------------------------------

AUX_CONSTANTS = {"head0_bottleneck_w": (1, 1, 508, 128), "head0_bottleneck_b": (128,), "nn0_w": (2048, 1024),
                 "softmax0_w": (1024, 1008), "softmax1_b": (1008,)}


def _graph(tf, constants: dict[str, np.ndarray]):
  """A TF1 graph with the constants and Lucid's ops for the stem, mixed3a and the head."""
  g = tf.Graph()
  with g.as_default():
    c = {k: tf.constant(v, name=k) for k, v in constants.items()}
    inp = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="input")
    t = {}

    def conv(x, name, stride=1):
      t[f"{name}_pre_relu"] = tf.nn.bias_add(tf.nn.conv2d(x, c[f"{name}_w"], stride, "SAME"), c[f"{name}_b"])
      t[name] = tf.nn.relu(t[f"{name}_pre_relu"])
      return t[name]

    def lrn(x):
      return tf.nn.local_response_normalization(x, depth_radius=5, bias=2.0, alpha=1e-4, beta=0.5)

    x = conv(inp, "conv2d0", 2)
    x = t["maxpool0"] = tf.nn.max_pool2d(x, 3, 2, "SAME")
    x = t["localresponsenorm0"] = lrn(x)
    x = conv(conv(x, "conv2d1"), "conv2d2")
    x = t["localresponsenorm1"] = lrn(x)
    x = t["maxpool1"] = tf.nn.max_pool2d(x, 3, 2, "SAME")
    branches = [conv(x, "mixed3a_1x1"), conv(conv(x, "mixed3a_3x3_bottleneck"), "mixed3a_3x3"),
                conv(conv(x, "mixed3a_5x5_bottleneck"), "mixed3a_5x5"),
                conv(tf.nn.max_pool2d(x, 3, 1, "SAME"), "mixed3a_pool_reduce")]
    t["mixed3a"] = tf.concat(branches, -1)
    t["mixed3a_pre_relu"] = tf.concat([t[f"mixed3a_{b}_pre_relu"] for b in ("1x1", "3x3", "5x5", "pool_reduce")], -1)
    head_in = tf.compat.v1.placeholder(tf.float32, [None, 7, 7, 1024], name="mixed5b_in")
    pooled = tf.nn.avg_pool2d(head_in, 7, 1, "VALID")
    t["softmax2_pre_activation"] = tf.matmul(tf.reshape(pooled, [-1, 1024]), c["softmax2_w"]) + c["softmax2_b"]
  return g, inp, head_in, t


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
  """(tf, params, constants, graph pieces, path of the serialized GraphDef)."""
  tf = pytest.importorskip("tensorflow")
  params = random_params(2)
  rng = np.random.default_rng(3)
  constants = {k: v for name, p in params.items() for k, v in zip(lucid_pb.const_names(name), (p["w"], p["b"]))}
  constants.update({k: rng.standard_normal(s).astype(np.float32) for k, s in AUX_CONSTANTS.items()})
  g, inp, head_in, t = _graph(tf, constants)
  path = tmp_path_factory.mktemp("pb") / "tensorflow_inception_graph.pb"
  path.write_bytes(g.as_graph_def().SerializeToString())
  return tf, params, (g, inp, head_in, t), path


def test_pb_conversion_places_every_array(pb, tmp_path):
  _, params, _, path = pb
  dst = wc.convert(path, tmp_path / "ckpt")
  assert wc.info(dst)["source_format"] == "lucid-pb"
  assert_same_params(m.load_params(str(dst)), params)  # all 116 arrays, the auxiliary heads ignored


def test_pb_model_matches_tensorflow_over_the_same_constants(pb):
  tf, _, (g, inp, head_in, t), path = pb
  params = m.load_params(str(path))
  images = np.random.default_rng(4).uniform(size=(2, 97, 97, 3)).astype(np.float32)  # odd: TF SAME matters
  feats = np.random.default_rng(5).uniform(0, 3, size=(2, 7, 7, 1024)).astype(np.float32)
  names = ("conv2d0_pre_relu", "maxpool0", "localresponsenorm0", "conv2d1", "conv2d2_pre_relu", "localresponsenorm1",
           "maxpool1", "mixed3a_3x3_pre_relu", "mixed3a_5x5", "mixed3a_pool_reduce_pre_relu", "mixed3a_pre_relu",
           "mixed3a")
  with tf.compat.v1.Session(graph=g) as sess:
    ref = sess.run({n: t[n] for n in names}, {inp: images * 255 - 117})
    ref_logits = sess.run(t["softmax2_pre_activation"], {head_in: feats})
  out = jax.jit(lambda p, x: m.apply(p, x, names))(params, images)
  for n in names:
    assert out[n].shape == ref[n].shape, n
    assert rel_err(out[n], ref[n]) < 1e-4, (n, rel_err(out[n], ref[n]))
  _, head = m.STEPS[-1](params, jax.numpy.asarray(feats), jax.nn.relu)  # the head alone, on the same features
  assert rel_err(head["softmax2_pre_activation"], ref_logits) < 1e-5


def test_pb_missing_constant_and_corrupt_file(pb, tmp_path):
  tf, params, _, _ = pb
  g = tf.Graph()
  with g.as_default():
    for name, p in list(params.items())[:3]:
      tf.constant(p["w"], name=f"{name}_w")
      tf.constant(p["b"][:5], name=f"{name}_b")
  path = tmp_path / "partial.pb"
  path.write_bytes(g.as_graph_def().SerializeToString())
  with pytest.raises(errors.WeightsError) as e:
    wc.convert(path, tmp_path / "ckpt")
  assert "missing constant softmax2_w" in str(e.value) and "wrong shape for conv2d0_b: (5,)" in str(e.value)
  assert not (tmp_path / "ckpt").exists()
  bad = tmp_path / "corrupt.pb"
  bad.write_bytes(b"\xff\xff\xff\xff not a protobuf" * 10)
  with pytest.raises(errors.WeightsError, match="not a TensorFlow GraphDef"):
    wc.read_params(bad)
