"""Your own Flax network in fcjax (``fcjax.models.from_flax``): a small NNX CNN and a small Linen CNN, defined here.

For each: the Model's tensors equal calling the module directly (independent of the adapter's capture machinery);
``stats.compute`` on procedural images gives the means, standard deviations and correlations that NumPy computes
from the module's own activations on the same images (float64, tolerance 1e-5 relative); a smoke sweep runs, its
stored activations agree with the module applied to its stored images (uint8-quantised: 5 % of the largest value,
as in tests/test_sweep.py), and its result plots. Also the InceptionV1 and demo modules' state layouts. Runtime:
~40 s on 2 busy cores (two tiny sweeps). A model passed to ``fcjax.models.register`` also runs in the CLI.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen, nnx

from fcjax import errors, models, plot, stats, sweep
from fcjax.models import Layer

P = importlib.import_module("fcjax.data.procedural")
SIZE = 16
CONFIG = sweep.SweepConfig.smoke(n_angles=3, n_seeds=1, steps=4, block_steps=2, canvas_size=SIZE, input_size=SIZE)


class NnxCNN(nnx.Module):
  """conv1 (3x3, 8) -> ReLU -> conv2 (3x3 stride 2, 6), sowing conv2's ReLU, returning the pooled vector."""

  def __init__(self, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(3, 8, (3, 3), rngs=rngs)
    self.conv2 = nnx.Conv(8, 6, (3, 3), strides=2, rngs=rngs)

  def __call__(self, x):
    h = self.conv2(nnx.relu(self.conv1(x)))
    self.sow(nnx.Intermediate, "conv2_relu", nnx.relu(h))
    return {"pooled": h.mean(axis=(1, 2))}


class LinenCNN(linen.Module):
  """The same shape of network in Linen; the dense head's output is the module's return value."""

  @linen.compact
  def __call__(self, x):
    h = linen.Conv(8, (3, 3), name="conv1")(x)
    h = linen.Conv(6, (3, 3), strides=2, name="conv2")(linen.relu(h))
    self.sow("intermediates", "conv2_relu", linen.relu(h))
    return linen.Dense(4, name="head")(h.mean(axis=(1, 2)))


def _direct_nnx(net, x):
  h1 = net.conv1(x)
  h2 = net.conv2(jax.nn.relu(h1))
  return {"conv1": h1, "conv2": h2, "conv2_relu": jax.nn.relu(h2), "pooled": h2.mean(axis=(1, 2))}


def _direct_linen(variables, x):
  p = variables["params"]
  conv = lambda v, q, s: jax.lax.conv_general_dilated(  # noqa: E731  (Flax Conv: SAME padding, HWIO kernel)
      v, q["kernel"], (s, s), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + q["bias"]
  h1 = conv(x, p["conv1"], 1)
  h2 = conv(jax.nn.relu(h1), p["conv2"], 2)
  out = h2.mean(axis=(1, 2)) @ p["head"]["kernel"] + p["head"]["bias"]
  return {"conv1": h1, "conv2": h2, "conv2_relu": jax.nn.relu(h2), "output": out, "head": out}


@pytest.fixture(scope="module", params=["nnx", "linen"])
def case(request):
  """(Model, params, direct forward f(images) -> {name: array}) for each kind of module."""
  if request.param == "nnx":
    net = NnxCNN(nnx.Rngs(0))
    model = models.from_flax(net, layers=("conv1", "conv2", "conv2_relu", "pooled"), input_size=SIZE,
                             name="nnx_cnn")
    return model, nnx.state(net), lambda x: _direct_nnx(net, x)
  net = LinenCNN()
  variables = net.init(jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
  model = models.from_flax(net, variables, layers=("conv1", "conv2", "conv2_relu", "output", "head"),
                           input_size=SIZE, name="linen_cnn")
  return model, variables, lambda x: _direct_linen(variables, x)


@pytest.fixture(scope="module")
def images():
  return np.concatenate([b["images"] for b in P.procedural(12, seed=5).batches(4, SIZE)])


def test_layer_table_and_outputs_equal_the_module(case, images):
  model, params, direct = case
  t = {l.name: l for l in model.layers}
  assert (t["conv1"].channels, t["conv1"].stride) == (8, 1)
  assert (t["conv2"].channels, t["conv2"].stride) == (6, 2)
  vec = "pooled" if "pooled" in t else "output"
  assert t[vec].stride == 0 and t[vec].kind == "dense"
  names = model.layer_names
  got = jax.jit(lambda p, x: model.apply(p, x, names))(params, images)
  want = direct(jnp.asarray(images))
  for n in names:
    assert got[n].dtype == jnp.float32 and got[n].shape == want[n].shape, n
    np.testing.assert_allclose(got[n], want[n], rtol=1e-5, atol=1e-5 * float(jnp.abs(want[n]).max()), err_msg=n)
  own = model.init_params(jax.random.key(1))  # the module's own weights, whatever the key
  assert jax.tree.structure(own) == jax.tree.structure(params)
  for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(errors.UnknownLayerError, match="conv2"):
    model.layer("conv3")


def test_stats_match_numpy_on_the_modules_activations(case, images):
  model, params, direct = case
  res = stats.compute(model, params, P.procedural(12, seed=5), ["conv2", "conv1"], readout="channel",
                      batch_size=4, k=2, devices=1)
  for name in ("conv1", "conv2"):
    vecs = np.asarray(direct(jnp.asarray(images))[name], np.float64).mean(axis=(1, 2))  # [12, C] channel readout
    ls = res[name]
    assert ls.count == 12
    np.testing.assert_allclose(ls.mean, vecs.mean(0), rtol=1e-5, atol=1e-5 * np.abs(vecs).max())
    np.testing.assert_allclose(ls.std, vecs.std(0), rtol=1e-4, atol=1e-6 * np.abs(vecs).max())
    np.testing.assert_allclose(ls.corr, np.corrcoef(vecs, rowvar=False), atol=1e-5)
  assert res.meta["model"] == model.name


def test_smoke_sweep_and_plot(case):
  model, params, direct = case
  r = sweep.run(model, params, CONFIG, layer="conv2", pairs=[(0, 1)])
  assert r.model == model.name and r.layer == "conv2"
  assert r.y.shape == (1, len(CONFIG.thetas), 1, 2) and np.all(np.isfinite(r.y)) and np.all(np.isfinite(r.c))
  x = r.images[0].reshape(-1, SIZE, SIZE, 3).astype(np.float32) / 255
  acts = np.asarray(direct(jnp.asarray(x))["conv2"])
  h, w = acts.shape[1:3]
  y = acts[:, h // 2, w // 2, :2]  # the centre neuron of units 0 and 1
  np.testing.assert_allclose(y, r.y[0].reshape(-1, 2), rtol=0.05, atol=0.05 * np.abs(r.y).max())
  fig = plot.combination_plot(r, thumbnails=False)
  assert model.name in fig.axes[0].get_title()


def test_registered_model_runs_in_the_cli(case, images, tmp_path):
  from fcjax import cli
  model, _, direct = case
  assert models.register(model) is models.get(model.name.replace("_", "-"))
  out = tmp_path / "stats.npz"
  argv = ["stats", "--model", model.name, "--weights", "random", "--dataset", "procedural:12:seed5", "--layers",
          "conv1", "--readout", "channel", "--size", str(SIZE), "--batch-size", "4", "--out", str(out)]
  assert cli.main(argv) == 0
  ls = stats.load(out)["conv1"]
  vecs = np.asarray(direct(jnp.asarray(images))["conv1"], np.float64).mean(axis=(1, 2))
  assert ls.count == 12
  np.testing.assert_allclose(ls.mean, vecs.mean(0), rtol=1e-5, atol=1e-5 * np.abs(vecs).max())


def test_bad_arguments_are_fcjax_errors():
  net = LinenCNN()
  variables = net.init(jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
  with pytest.raises(errors.FcjaxError, match="variables"):
    models.from_flax(net, layers=("conv1",), input_size=SIZE)
  with pytest.raises(errors.UnknownLayerError, match="conv1"):
    models.from_flax(net, variables, layers=("conv_1",), input_size=SIZE)
  with pytest.raises(errors.FcjaxError, match="channels"):
    models.from_flax(net, variables, layers=(Layer("conv1", 9),), input_size=SIZE)
  with pytest.raises(errors.FcjaxError, match="flax"):
    models.from_flax(lambda x: x, layers=("conv1",), input_size=SIZE)
  custom = models.from_flax(net, variables, layers=(Layer("conv2", 6, stride=2, pre_relu=True),), input_size=SIZE)
  assert custom.layer("conv2").pre_relu


# --- fcjax's own networks as NNX modules -------------------------------------------------------------------------

def test_inception_state_paths_read_like_the_graph_and_round_trip():
  from fcjax.models import inception_v1 as m
  shapes = m.param_shapes()
  params = {n: {k: np.full(s, i + 0.5 * (k == "b"), np.float32) for k, s in p.items()}
            for i, (n, p) in enumerate(shapes.items())}
  net = m.InceptionV1(params)
  state = nnx.state(net)
  assert state["conv2d0"]["w"].shape == (7, 7, 3, 64)
  assert state["mixed4a"]["b3x3"]["w"].shape == (3, 3, 96, 204)
  assert float(state["mixed3b"]["pool_reduce"]["b"][0]) == list(shapes).index("mixed3b_pool_reduce") + 0.5
  assert state["softmax2"]["w"].shape == (1024, 1008)
  back = m.params_from_state(state)
  assert jax.tree.map(np.shape, back) == shapes
  for n in shapes:
    np.testing.assert_array_equal(back[n]["w"], params[n]["w"])
  assert nnx.graphdef(net) == m.GRAPHDEF
  with pytest.raises(errors.WeightsError, match="mixed5b_5x5"):
    m.InceptionV1({k: v for k, v in params.items() if k != "mixed5b_5x5"})


def test_inception_module_call_state_apply_and_dict_apply_agree():
  from fcjax.models import inception_v1 as m
  params = m.init_params(jax.random.key(3))
  net = m.InceptionV1(params)
  x = jax.random.uniform(jax.random.key(4), (2, 40, 40, 3))
  layers = ("conv2d1", "mixed3a_pre_relu")
  direct = net(x, layers=layers)
  from_state = jax.jit(lambda s, v: m.apply(s, v, layers))(nnx.state(net), x)
  from_dict = m.apply(params, x, layers)
  for n in layers:
    np.testing.assert_array_equal(direct[n], from_dict[n])
    np.testing.assert_allclose(from_state[n], from_dict[n], rtol=1e-5, atol=1e-5 * float(jnp.abs(direct[n]).max()))
  with pytest.raises(errors.FcjaxError, match="rngs"):
    m.InceptionV1()


def test_demo_module_loads_the_shipped_weights():
  from fcjax import demo
  from fcjax.models import demo_cnn
  params = demo.load_params()
  net = demo.DemoCNN(params)
  assert nnx.state(net)["conv3"]["w"].shape == (3, 3, 32, 64)
  np.testing.assert_array_equal(nnx.state(net)["logits"]["b"][...], params["logits"]["b"])
  x = jnp.asarray(next(P.procedural(4, seed=2).batches(4, 64))["images"])
  np.testing.assert_array_equal(net(x, layers=("logits",))["logits"], demo.apply(params, x, ("logits",))["logits"])
  assert demo.MODEL is demo_cnn.MODEL is models.get("demo")
