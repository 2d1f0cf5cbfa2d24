"""InceptionV1 (fcjax.models.inception_v1): parity with Lucent, the layer table, truncation, compile count, bad input.

Parity: Lucent's ``InceptionV1(pretrained=False)`` (PyPI torch-lucent 0.1.8, loaded by ``tests/lucent_ref.py`` from its
source files without importing torchvision), every weight and bias set to random values, its LRN replaced by the exact
PyTorch equivalent of TensorFlow's; its state_dict is saved as a ``.pth``, converted with ``weights_conversion``, and
EVERY tensor Lucent exposes (each named module's output: 57 pre-ReLU convs, 57 ReLUs, 13 max-pools, 9 concats, the
dense layer and the softmax at 224 px) is compared on the same random images at 224 and 160 px (Lucent's hard-coded
pads equal TF SAME only at multiples of 32). Tolerance: max |a - b| / max |b| < 1e-4 per tensor, float32; run with
``-s`` to see the measured errors. Runtime: ~60 s on 2 busy CPU cores (two full-network compiles).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcjax import errors
from fcjax.models import inception_v1 as m

PARITY_RTOL = 1e-4
SPEC_BLOCK_CHANNELS = {"mixed3a": 256, "mixed3b": 480, "mixed4a": 508, "mixed4b": 512, "mixed4c": 512,
                       "mixed4d": 528, "mixed4e": 832, "mixed5a": 832, "mixed5b": 1024}


def rel_err(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / np.abs(b).max())


# --- parity with Lucent ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lucent(tmp_path_factory):
  """(Lucent model with random weights, fcjax params converted from its saved .pth)."""
  torch = pytest.importorskip("torch")
  import lucent_ref
  import weights_conversion
  model = lucent_ref.build(seed=0, tf_lrn=True)
  d = tmp_path_factory.mktemp("lucent")
  torch.save(model.state_dict(), d / "random_inception5h.pth")
  ckpt = weights_conversion.convert(d / "random_inception5h.pth", d / "converted")
  return model, m.load_params(str(ckpt))


def _compile_fast(params, images, layers):
  """The jitted full network with LLVM optimisation off: half the compile time on CPU, same arithmetic."""
  fn = jax.jit(lambda p, x: m.apply(p, x, layers))
  return fn.lower(params, images).compile(compiler_options={"xla_backend_optimization_level": 0})


@pytest.mark.parametrize("size", [224, 160])
def test_parity_with_lucent_every_exposed_tensor(lucent, size):
  import lucent_ref
  model, params = lucent
  images = np.random.default_rng(size).uniform(size=(2, size, size, 3)).astype(np.float32)
  ref = lucent_ref.exposed_tensors(model, images)
  assert len(ref) == (138 if size == 224 else 136)  # the head exists only at 193..224 px
  names = tuple(ref)  # Lucent's own spellings: the aliases must resolve
  # the Lucid-only tensors ride along in the same compile: block pre-ReLU concats, LRNs, avgpool0
  extra = tuple(f"{b}_pre_relu" for b in SPEC_BLOCK_CHANNELS) + ("localresponsenorm1",)
  out = _compile_fast(params, images, names + extra)(params, images)
  errs = {}
  for name in names:
    assert out[name].shape == ref[name].shape, name
    errs[name] = rel_err(out[name], ref[name])
  for block in SPEC_BLOCK_CHANNELS:  # Lucid's mixedXX_pre_relu: the concat of the branch pre-ReLU convs
    parts = [ref[f"{block}_{b}_pre_relu_conv"] for b in ("1x1", "3x3", "5x5", "pool_reduce")]
    errs[f"{block}_pre_relu"] = rel_err(out[f"{block}_pre_relu"], np.concatenate(parts, -1))
  worst = max(errs, key=errs.get)
  print(f"\nparity with Lucent at {size} px: {len(errs)} tensors, worst {worst} {errs[worst]:.2e}, "
        f"median {np.median(list(errs.values())):.2e}")
  bad = {k: v for k, v in errs.items() if not v < PARITY_RTOL}
  assert not bad, bad
  # truncation: asking for one tensor gives the same values as the full run
  short = m.apply_jit(params, images, ("mixed3b_pre_relu",))
  assert rel_err(short["mixed3b_pre_relu"], out["mixed3b_pre_relu"]) < 1e-5  # float32 rounding of other fusions
  if size == 224:
    probs = np.asarray(out["softmax2"], np.float64)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert probs.min() >= 0


def test_lucent_reference_loader_does_not_import_torchvision():
  pytest.importorskip("torch")
  import sys

  import lucent_ref
  lucent_ref.load_class(True)
  assert "torchvision" not in sys.modules
  assert "lucent.modelzoo" not in sys.modules  # the stand-in package modules were removed again


# --- the table -------------------------------------------------------------------------------------------------------

def test_parameter_count_and_shapes():
  assert m.param_count() == 7_066_380
  params = m.init_params(jax.random.key(0))
  assert sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params)) == 7_066_380
  assert jax.tree_util.tree_map(np.shape, params) == m.param_shapes()
  assert params["conv2d0"]["w"].shape == (7, 7, 3, 64)  # HWIO
  assert params["softmax2"]["w"].shape == (1024, 1008)
  assert len(m.CONVS) == 57


def test_layer_table_follows_spec():
  t = {l.name: l for l in m.LAYERS}
  for block, c in SPEC_BLOCK_CHANNELS.items():
    assert t[block].channels == c and t[f"{block}_pre_relu"].channels == c
    assert t[f"{block}_pre_relu"].pre_relu and not t[block].pre_relu
    assert t[block].pre_relu_name == f"{block}_pre_relu"
    for branch in ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce"):
      assert f"{block}_{branch}_pre_relu" in t and f"{block}_{branch}" in t
    assert f"{block}_pool" in t
  assert t["mixed4a_3x3"].channels == 204 and t["mixed4a_3x3_bottleneck"].channels == 96
  strides = {"conv2d0": 2, "maxpool0": 4, "conv2d2": 4, "maxpool1": 8, "mixed3b": 8, "maxpool4": 16, "mixed4e": 16,
             "maxpool10": 32, "mixed5b": 32}
  assert {n: t[n].stride for n in strides} == strides
  for name in ("localresponsenorm0", "localresponsenorm1", "avgpool0", "softmax2_pre_activation", "softmax2"):
    assert name in t
  assert (t["softmax2"].min_size, t["softmax2"].max_size) == (193, 224)
  assert t["mixed5b"].max_size is None
  assert m.MODEL.canonical("conv2d2_pre_relu_conv") == "conv2d2_pre_relu"
  assert m.MODEL.canonical("softmax2_pre_activation_matmul") == "softmax2_pre_activation"
  assert len(m.LAYER_NAMES) == len(set(m.LAYER_NAMES)) == 150


# --- truncation, jit, vmap, grad, dtype ------------------------------------------------------------------------------

def _stem_only(params):
  return {k: v for k, v in params.items() if k in ("conv2d0", "conv2d1", "conv2d2")}


@pytest.fixture(scope="module")
def params():
  return m.init_params(jax.random.key(1))


def test_truncated_apply_computes_only_what_is_needed(params):
  x = jnp.full((1, 32, 32, 3), 0.5)
  # params of every later layer may be absent: conv2d2 needs the stem only
  out = m.apply(_stem_only(params), x, ("conv2d2_pre_relu_conv",))
  assert out["conv2d2_pre_relu_conv"].shape == (1, 8, 8, 192)
  assert m.required_params("conv2d2") == ("conv2d0", "conv2d1", "conv2d2")
  assert m.computed_steps("conv2d2")[-1] == "conv2d2"

  def n_convs(layers):
    jaxpr = jax.make_jaxpr(lambda p, v: m.apply(p, v, layers))(params, x)
    return sum(e.primitive.name == "conv_general_dilated" for e in jaxpr.jaxpr.eqns)

  assert n_convs(("conv2d2",)) == 3
  assert n_convs(("mixed3a_5x5",)) == 3 + 6
  assert n_convs(("conv2d0", "mixed5b")) == 57
  with pytest.raises(errors.WeightsError, match="mixed3a_1x1"):
    m.apply(_stem_only(params), x, ("mixed3a",))


def test_jitted_apply_compiles_once_for_the_same_shapes(params):
  traces = []

  def counting_relu(v):
    traces.append(1)  # runs only while tracing
    return jax.nn.relu(v)

  x = jax.random.uniform(jax.random.key(2), (2, 32, 32, 3))
  a = m.apply_jit(params, x, ("conv2d1",), relu=counting_relu)
  assert len(traces) == 2  # conv2d0's and conv2d1's ReLU, traced once
  b = m.apply_jit(params, x * 0.5, ("conv2d1",), relu=counting_relu)
  assert len(traces) == 2  # not traced again: the first compilation serves the second call
  assert m._apply_jit._cache_size() >= 1
  assert not np.allclose(a["conv2d1"], b["conv2d1"])


def test_vmap_grad_and_relu_override(params):
  x = jax.random.uniform(jax.random.key(3), (3, 32, 32, 3))

  @jax.jit
  def run(p, v):
    batch = m.apply(p, v, ("conv2d0_pre_relu", "conv2d1_pre_relu", "conv2d1"))
    single = jax.vmap(lambda u: m.apply(p, u[None], ("conv2d1_pre_relu",))["conv2d1_pre_relu"][0])(v)
    ident = m.apply(p, v, ("conv2d0",), relu=lambda u: u)["conv2d0"]
    grad = jax.grad(lambda u: m.apply(p, u, ("conv2d2_pre_relu",))["conv2d2_pre_relu"][:, 4, 4, 7].sum())(v)
    return batch, single, ident, grad

  batch, single, ident, g = run(params, x)
  np.testing.assert_allclose(single, batch["conv2d1_pre_relu"], rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(batch["conv2d1"], jax.nn.relu(batch["conv2d1_pre_relu"]))
  np.testing.assert_allclose(ident, batch["conv2d0_pre_relu"], rtol=1e-5, atol=1e-5)  # the override replaced it
  assert float(ident.min()) < 0
  assert np.all(np.isfinite(g)) and float(jnp.abs(g).max()) > 0


def test_bfloat16_compute_close_to_float32(params):
  x = jax.random.uniform(jax.random.key(4), (1, 32, 32, 3))
  run = jax.jit(lambda p, v, dtype: m.apply(p, v, ("mixed3a_pre_relu",), dtype=dtype)["mixed3a_pre_relu"],
                static_argnums=2)
  f32, bf16 = run(params, x, jnp.float32), run(params, x, jnp.bfloat16)
  assert bf16.dtype == jnp.float32  # outputs are float32 whatever the compute dtype
  assert 0 < rel_err(bf16, f32) < 5e-2


def test_random_init_activations_stay_in_scale(params):
  x = jax.random.uniform(jax.random.key(5), (2, 32, 32, 3))
  out = _compile_fast(params, x, ("conv2d0_pre_relu", "mixed3b_pre_relu", "mixed5b_pre_relu"))(params, x)
  for name, a in out.items():
    assert 0.1 < float(jnp.std(a)) < 100, (name, float(jnp.std(a)))


def test_odd_input_size_has_tf_same_shapes(params):
  x = jnp.full((1, 97, 97, 3), 0.5)
  out = jax.eval_shape(lambda p, v: m.apply(p, v, ("conv2d0", "maxpool0", "mixed3a", "mixed4a", "mixed5b")),
                       params, x)
  assert {k: v.shape[1] for k, v in out.items()} == {"conv2d0": 49, "maxpool0": 25, "mixed3a": 13, "mixed4a": 7,
                                                     "mixed5b": 4}


# --- bad input -------------------------------------------------------------------------------------------------------

def test_unknown_layer_names_closest(params):
  with pytest.raises(errors.UnknownLayerError) as e:
    m.apply(params, jnp.zeros((1, 64, 64, 3)), ("mixed4z_pre_relu",))
  assert "mixed4z_pre_relu" in str(e.value) and "mixed4a_pre_relu" in str(e.value)
  with pytest.raises(errors.UnknownLayerError):
    m.apply_jit(params, jnp.zeros((1, 64, 64, 3)), ("conv2d9",))


@pytest.mark.parametrize("shape,layer,match", [
    ((64, 64, 3), "conv2d0", r"\[N, H, W, 3\].*batch axis"),
    ((1, 64, 64, 4), "conv2d0", r"\[N, H, W, 3\]"),
    ((1, 3, 64, 64), "conv2d0", r"\[N, H, W, 3\]"),
    ((1, 16, 16, 3), "mixed5b", "at least 32 px"),
    ((1, 64, 7, 3), "mixed3a", "at least 8 px"),
    ((1, 160, 160, 3), "softmax2", "193..224"),
    ((1, 256, 256, 3), "avgpool0", "193..224"),
])
def test_bad_images_raise_before_compiling(params, shape, layer, match):
  with pytest.raises(errors.InputSizeError, match=match):
    m.apply(params, jnp.zeros(shape), (layer,))


def test_integer_images_are_refused(params):
  with pytest.raises(errors.InputSizeError, match="floating"):
    m.apply(params, np.zeros((1, 32, 32, 3), np.uint8), ("conv2d0",))


def test_model_record():
  from fcjax import models
  assert models.get("inceptionv1") is m.MODEL
  assert m.MODEL.value_range == (-117.0, 138.0) and m.MODEL.input_size == 224
  m.MODEL.check_size("softmax2", 224)
  with pytest.raises(errors.InputSizeError):
    m.MODEL.check_size("softmax2", 225)
  with pytest.raises(errors.UnitIndexError):
    m.MODEL.check_unit("mixed4a_3x3_pre_relu", 204)
