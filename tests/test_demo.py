"""Tests of fcjax.demo: the model interface (checked against a NumPy reference forward pass), the shipped weights
(they reproduce the recorded held-out accuracy) and the training script (a few steps through its main)."""

from __future__ import annotations

import hashlib
import importlib
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax
from fcjax import demo, errors
from fcjax.models import demo_cnn as M
from fcjax.demo import train as T

P = importlib.import_module("fcjax.data.procedural")


@pytest.fixture(scope="module")
def params():
  return demo.init_params(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def images():
  return jnp.asarray(next(P.procedural(3, seed=11).batches(3, 20))["images"])


# --- NumPy reference of the architecture (TF SAME padding, HWIO kernels) --------------------------------------------
def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
  total = max((math.ceil(n / s) - 1) * s + k - n, 0)
  return total // 2, total - total // 2


def _np_conv(x, w, b, stride):
  k = w.shape[0]
  pads = [(0, 0), _same_pads(x.shape[1], k, stride), _same_pads(x.shape[2], k, stride), (0, 0)]
  xp = np.pad(x, pads)
  win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # [N,h,w,C,k,k]
  return np.einsum("nhwcij,ijco->nhwo", win, w) + b


def _np_maxpool(x):
  pads = [(0, 0), _same_pads(x.shape[1], 2, 2), _same_pads(x.shape[2], 2, 2), (0, 0)]
  xp = np.pad(x, pads, constant_values=-np.inf)
  return np.lib.stride_tricks.sliding_window_view(xp, (2, 2), axis=(1, 2))[:, ::2, ::2].max(axis=(-2, -1))


def _np_forward(params, images):
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
  x = np.asarray(images, np.float64) * 2.0 - 1.0
  out = {}
  for op in M.ARCH:
    if isinstance(op, M.Conv):
      x = out[f"{op.name}_pre_relu"] = _np_conv(x, p[op.name]["w"], p[op.name]["b"], op.stride)
      x = out[op.name] = np.maximum(x, 0.0)
    elif isinstance(op, M.MaxPool):
      x = out[op.name] = _np_maxpool(x)
    elif isinstance(op, M.GlobalAvgPool):
      x = out[op.name] = x.mean(axis=(1, 2))
    else:
      x = out[op.name] = x @ p[op.name]["w"] + p[op.name]["b"]
  return out


def test_every_tensor_matches_numpy_reference(params, images):
  got = demo.apply(params, images, demo.MODEL.layer_names)
  want = _np_forward(params, images)
  assert list(got) == list(demo.MODEL.layer_names)
  for layer in demo.LAYERS:
    g, w = np.asarray(got[layer.name]), want[layer.name]
    assert g.shape == w.shape and g.shape[-1] == layer.channels, layer.name
    if layer.stride:  # 20 px input: each stride-2 stage rounds up (SAME)
      assert g.shape[1] == g.shape[2] == math.ceil(20 / layer.stride), layer.name
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max(), err_msg=layer.name)


def test_model_record_and_registry():
  assert fcjax.models.get("demo") is demo.MODEL
  assert demo.MODEL.name == "demo" and demo.MODEL.input_size == 64 and demo.MODEL.value_range == (-1.0, 1.0)
  assert demo.N_CLASSES == len(P.LABEL_NAMES) == demo.MODEL.layer("logits").channels
  assert demo.MODEL.layer("conv2").pre_relu_name == "conv2_pre_relu" and demo.MODEL.layer("conv2_pre_relu").pre_relu
  demo.MODEL.check_unit("conv2_pre_relu", 31)
  with pytest.raises(errors.UnitIndexError):
    demo.MODEL.check_unit("conv2_pre_relu", 32)


def test_early_stop_needs_no_deeper_parameters(params, images):
  shallow = {k: v for k, v in params.items() if k in ("conv1", "conv2")}
  out = demo.apply(shallow, images, ("conv2_pre_relu", "conv1"))
  assert set(out) == {"conv2_pre_relu", "conv1"}
  with pytest.raises(errors.WeightsError, match="params lack conv3"):  # the same error as InceptionV1's
    demo.apply(shallow, images, ("conv3",))


def test_relu_replacement_and_dtype(params, images):
  leaky = lambda x: jnp.where(x > 0, x, 0.1 * x)  # noqa: E731
  out = demo.apply(params, images, ("conv2_pre_relu", "conv2"), relu=leaky)
  np.testing.assert_allclose(out["conv2"], leaky(out["conv2_pre_relu"]), rtol=1e-6)
  ref = demo.apply(params, images, ("logits",))["logits"]
  bf = demo.apply(params, images, ("logits",), dtype=jnp.bfloat16)["logits"]
  assert bf.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(bf, np.float32), ref, atol=0.05 * float(jnp.abs(ref).max()))


def test_jit_vmap_grad(params, images):
  def unit(p, img):  # one image [H, W, 3] -> centre activation of conv3_pre_relu unit 5
    a = demo.apply(p, img[None], ("conv3_pre_relu",))["conv3_pre_relu"]
    return a[0, a.shape[1] // 2, a.shape[2] // 2, 5]

  vals = jax.jit(jax.vmap(unit, in_axes=(None, 0)))(params, images)
  eager = demo.apply(params, images, ("conv3_pre_relu",))["conv3_pre_relu"][:, 1, 1, 5]  # 20 px -> 3x3 map
  np.testing.assert_allclose(vals, eager, rtol=1e-5, atol=1e-6)
  g = jax.grad(unit, argnums=1)(params, images[0])
  assert g.shape == images[0].shape and np.all(np.isfinite(g)) and float(jnp.abs(g).max()) > 0


def test_bad_layer_and_image_errors(params, images):
  with pytest.raises(errors.UnknownLayerError, match="conv2_pre_relu"):
    demo.apply(params, images, ("conv2_prerelu",))
  with pytest.raises(errors.UnknownLayerError):
    jax.jit(lambda x: demo.apply(params, x, ("mixed4a",)))(images)  # raised while tracing, before compiling
  with pytest.raises(errors.InputSizeError):
    demo.apply(params, images[..., :1], ("conv1",))
  with pytest.raises(errors.FcjaxError):
    demo.apply(params, images, ())


def test_save_load_roundtrip_and_bad_files(params, tmp_path):
  path = tmp_path / "w.npz"
  demo.save_params(params, path)
  back = demo.load_params(path)
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(errors.WeightsError, match="does not exist"):
    demo.load_params(tmp_path / "missing.npz")
  np.savez(tmp_path / "wrong.npz", x=np.zeros(3))
  with pytest.raises(errors.WeightsError, match="not a demo-model weights file"):
    demo.load_params(tmp_path / "wrong.npz")
  bad = {f"{op}/{k}": np.asarray(v) for op, d in params.items() for k, v in d.items()}
  bad["conv1/w"] = np.zeros((3, 3, 3, 16), np.float32)
  np.savez(tmp_path / "shape.npz", **bad)
  with pytest.raises(errors.WeightsError, match="conv1/w"):
    demo.load_params(tmp_path / "shape.npz")
  (tmp_path / "junk.npz").write_bytes(b"not a zip file")
  with pytest.raises(errors.WeightsError):
    demo.load_params(tmp_path / "junk.npz")


def test_shipped_weights_are_what_the_record_says():
  record = demo.train_record()
  weights = demo.DEFAULT_WEIGHTS
  assert weights.stat().st_size < 5_000_000
  assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["weights_sha256"]
  params = demo.MODEL.load_params()  # no path: the shipped weights
  assert demo.param_count(params) == record["param_count"]
  assert record["label_names"] == list(P.LABEL_NAMES)
  config = T.TrainConfig(**record["config"])
  # The recorded held-out stream, regenerated from its seed: only float rounding on another CPU could flip a
  # near-tie, so allow 0.5 % of the images.
  acc = T.evaluate(params, config)["accuracy"]
  assert abs(acc - record["held_out_accuracy"]) <= 0.005, (acc, record["held_out_accuracy"])
  # A stream never used before: same accuracy up to sampling noise (512 images: binomial std <= 2.2 %; 3 sigma).
  preds, labels = T.predict(params, P.procedural(512, seed=20240))
  assert np.mean(preds == labels) >= record["held_out_accuracy"] - 0.066


def test_train_main_few_steps(tmp_path):
  out = tmp_path / "run"
  record = T.main(["--steps", "4", "--batch-size", "8", "--size", "32", "--eval-images", "16", "--log-every", "2",
                   "--out", str(out)])
  saved = json.loads((out / "train_record.json").read_text())
  assert saved == record
  assert record["config"]["steps"] == 4 and record["config"]["size"] == 32
  assert record["command"].startswith("python -m fcjax.demo.train --steps 4")
  for key in ("held_out_accuracy", "data_seed", "param_count", "versions", "date", "weights_sha256"):
    assert key in record, key
  # A freshly initialised classifier starts near chance: cross-entropy ~ ln(11).
  assert abs(record["first_loss"] - math.log(demo.N_CLASSES)) < 0.5
  assert math.isfinite(record["final_train_loss"])
  params = demo.load_params(out / "demo_weights.npz")
  assert demo.param_count(params) == record["param_count"] == demo.param_count(demo.init_params(jax.random.PRNGKey(0)))
  assert hashlib.sha256((out / "demo_weights.npz").read_bytes()).hexdigest() == record["weights_sha256"]
  # The written weights reproduce the written accuracy.
  assert T.evaluate(params, T.TrainConfig(**record["config"]))["accuracy"] == pytest.approx(
      record["held_out_accuracy"], abs=1.5 / 16)
