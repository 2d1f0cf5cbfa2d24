"""The benchmark code paths compare like with like (no timing assertions).

* Lucent's InceptionV1 (exact LRN, random weights) and fcjax's (the same weights through ``weights_conversion``)
  compute the same activations, and the cosdot objective written as a Lucent objective gives the same value as
  fcjax's cosdot on the same image (one image, and batched with one objective per batch item).
* The plain PyTorch truncated model computes the same function and the same input gradient as fcjax, also at a size
  where Lucent's hard-coded pads are not TF-SAME.
* The runner's smallest preset runs every section and returns a well-formed, JSON-able results dict.

Runtime: about 35 s on a quiet 2-core CPU with a cold compilation cache (about 65 s under load), most of it compiling
the tiny fcjax sweep.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lucent")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from benchmarks import fcjax_side, lucent_side  # noqa: E402
from benchmarks import run as bench_run  # noqa: E402
from fcjax import objectives, sweep  # noqa: E402
from fcjax.models import inception_v1  # noqa: E402

LAYER = "mixed3a_pre_relu"  # a mixed block: its pre-ReLU tensor is a concat of Lucent's four branch convs
PAIR = (5, 70)              # one unit of the 1x1 branch, one of the 3x3 branch


@pytest.fixture(scope="module")
def models():
  model_t = lucent_side.make_model(0)
  return model_t, fcjax_side.params_from_lucent(model_t)


def _nchw(x: np.ndarray) -> torch.Tensor:
  return torch.as_tensor(x).permute(0, 3, 1, 2).contiguous()


def test_exact_lrn_is_tensorflows():
  x = torch.randn(2, 20, 3, 3, generator=torch.Generator().manual_seed(0)) * 30
  xn = x.numpy().astype(np.float64)
  sq = np.pad(xn ** 2, ((0, 0), (5, 5), (0, 0), (0, 0)))
  window = sum(sq[:, k:k + 20] for k in range(11))
  expected = xn / (2.0 + float(np.float32(1e-4)) * window) ** 0.5
  np.testing.assert_allclose(lucent_side.exact_lrn(x).numpy(), expected, rtol=1e-5)


def test_cosdot_torch_matches_fcjax():
  rng = np.random.RandomState(0)
  y = rng.randn(50, 2).astype(np.float32)
  y[0] = 0.0  # the singular point: both floor the norms
  theta = rng.uniform(0, 2 * np.pi, 50).astype(np.float32)
  for floor in (None, 0.1):
    expected = np.asarray(objectives.cosdot(jnp.asarray(y), jnp.asarray(theta), 4, floor=floor))
    got = lucent_side.cosdot(torch.as_tensor(y), torch.as_tensor(theta), 4, floor).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  assert np.isfinite(got).all()


def test_same_activations_and_objective(models):
  model_t, params = models
  image = np.random.RandomState(0).rand(2, 64, 64, 3).astype(np.float32)
  image_t = _nchw(image)
  acts_j = np.asarray(inception_v1.apply_jit(params, jnp.asarray(image), (LAYER,))[LAYER])
  with torch.no_grad():
    acts_t = lucent_side.activations(model_t, image_t, LAYER).permute(0, 2, 3, 1).numpy()
  assert acts_t.shape == acts_j.shape == (2, 8, 8, 256)
  scale = np.abs(acts_t).max()
  assert scale > 1e-2  # random weights keep activations at a usable scale
  np.testing.assert_allclose(acts_j, acts_t, atol=1e-4 * scale, rtol=1e-4)

  # cosdot as a Lucent objective, through Lucent's own hooks, against fcjax's cosdot of the same readout.
  L = lucent_side.lucent()
  thetas, scales = (0.4, 2.5), (1.7, 0.6)
  y = np.asarray(objectives.readout(acts_j, np.asarray(PAIR), "neuron"))  # [2, 2]
  c_j = np.asarray(objectives.cosdot(jnp.asarray(y / np.asarray(scales)), jnp.asarray(thetas), 4))
  hook = L.render.hook_model(model_t, lambda: image_t)
  try:
    with torch.no_grad():
      lucent_side.run_captured(model_t, image_t * lucent_side.VALUE_SCALE + lucent_side.VALUE_OFFSET)
      for b in range(2):  # one image at a time: Lucent's objective is the negated mean over the batch slice
        obj = lucent_side.cosdot_objective(model_t, LAYER, PAIR, thetas[b], scales, batch=b)
        np.testing.assert_allclose(-float(obj(hook)), c_j[b], rtol=1e-4, atol=1e-6)
      # batched: one objective per batch item, summed as in the Lucent batched sweep
      total = L.objectives.Objective.sum(
          [lucent_side.cosdot_objective(model_t, LAYER, PAIR, thetas[b], scales, batch=b) for b in range(2)])
      np.testing.assert_allclose(-float(total(hook)), c_j.sum(), rtol=1e-4, atol=1e-6)
      unit = lucent_side.unit_objective(model_t, LAYER, PAIR[1], batch=1)
      np.testing.assert_allclose(-float(unit(hook)), y[1, 1], rtol=1e-4, atol=1e-5 * scale)
  finally:
    lucent_side._clear_hooks(model_t)


def test_plain_torch_same_function_and_gradient(models):
  model_t, params = models
  size = 40  # not a multiple of 32: Lucent's fixed pads differ from TF-SAME here, the plain model's do not
  image = np.random.RandomState(1).rand(1, size, size, 3).astype(np.float32)
  plain = lucent_side.PlainInceptionV1(model_t, LAYER)
  with torch.no_grad():
    out_t = plain(_nchw(image)).permute(0, 2, 3, 1).numpy()
  out_j = np.asarray(inception_v1.apply_jit(params, jnp.asarray(image), (LAYER,))[LAYER])
  scale = np.abs(out_j).max()
  np.testing.assert_allclose(out_t, out_j, atol=1e-4 * scale, rtol=1e-4)
  # the timed work: d sum(layer) / d image, plain ReLU on both sides
  g_j = np.asarray(fcjax_side.fwd_grad_fn(LAYER)(params, jnp.asarray(image)))
  g_t = lucent_side.fwd_grad_fns(model_t, LAYER)["torch_plain"](_nchw(image)).permute(0, 2, 3, 1).numpy()
  np.testing.assert_allclose(g_t, g_j, atol=1e-4 * np.abs(g_j).max(), rtol=1e-3)
  # Lucent truncated by a hook computes the same tensor as the whole network
  with torch.no_grad():
    a = lucent_side.activations(model_t, _nchw(image[:, :32, :32]), LAYER, truncate=True)
    b = lucent_side.activations(model_t, _nchw(image[:, :32, :32]), LAYER, truncate=False)
  np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unit_location_maps_mixed_channels(models):
  model_t, _ = models
  assert lucent_side.unit_location(model_t, "mixed3a_pre_relu", 5) == ("mixed3a_1x1_pre_relu_conv", 5)
  assert lucent_side.unit_location(model_t, "mixed3a_pre_relu", 70) == ("mixed3a_3x3_pre_relu_conv", 6)
  assert lucent_side.unit_location(model_t, "mixed3a_pre_relu", 255) == ("mixed3a_pool_reduce_pre_relu_conv", 31)
  assert lucent_side.unit_location(model_t, "conv2d2_pre_relu", 9) == ("conv2d2_pre_relu_conv", 9)


def test_runner_tiny_results_well_formed(tmp_path):
  settings = bench_run.PRESETS["tiny"]
  results = bench_run.run(settings, command="test")
  errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
  assert not errors, errors
  json.dumps(results)  # the runner writes it as JSON

  c = results["correctness"]
  assert c["acts_max_abs_diff"] <= 1e-4 * max(c["acts_max_abs"], 1.0)
  assert math.isclose(c["cosdot_fcjax"], c["cosdot_lucent"], rel_tol=1e-4, abs_tol=1e-6)

  sw = results["sweep"]
  n_images = 2 * settings.n_seeds + settings.n_angles * settings.n_seeds
  for key in ("lucent_one_at_a_time", "lucent_batched", "fcjax_float32"):
    r = sw["runs"][key]
    assert r["wall_s"] > 0 and math.isclose(r["image_steps_per_s"], r["image_steps"] / r["wall_s"])
    if key.startswith("lucent"):  # the paper's protocol; fcjax's sweep adds the minima, diagonals and refinement
      assert r["images"] == n_images and r["image_steps"] == n_images * settings.steps
      assert np.isfinite(np.asarray(r["c"])).all() and np.asarray(r["c"]).shape == (settings.n_angles,
                                                                                     settings.n_seeds)
    else:
      n_a = len(sweep.SweepConfig(n_angles=settings.n_angles).thetas)
      assert r["image_steps"] > 0 and np.asarray(r["c"]).shape == (n_a, settings.n_seeds)
  for key in ("lucent_one_at_a_time", "lucent_batched"):
    assert sw["speedup"][key]["fcjax_float32"] > 0

  (row,) = results["fwd_grad"]
  assert set(row["median_ms"]) == {"fcjax_float32", "lucent_as_run", "lucent_truncated", "torch_plain"}
  assert all(v > 0 for v in row["ratio_vs_fcjax"].values())
  assert row["flops_per_image"] > 0

  e = results["efficiency"]["float32"]
  parts = e["parts_flops_per_image"]
  assert parts["model"] > 0 and e["flops_per_image_step"] >= parts["model"]
  assert 0 < e["fraction_of_matmul_peak"]
  assert results["matmul_peak"]["float32"]["flops_per_s"] > 0

  text = bench_run.tables(results)
  assert "Sweep throughput" in text and "Forward + gradient" in text and "Hardware efficiency" in text
  md = tmp_path / "RESULTS.md"
  md.write_text("# hand-written notes\n")
  bench_run.update_results_md(md, text, "cpu tiny")
  bench_run.update_results_md(md, "replaced", "cpu tiny")
  body = md.read_text()
  assert body.startswith("# hand-written notes") and body.count("<!-- cpu tiny -->") == 1 and "replaced" in body


def test_benchmark_measures_the_sweeps_own_compiled_program(models):
  """fcjax_side times and costs the program the sweep runs, not a re-implementation: the block it returns is the
  compiled executable a sweep.run of the same settings cached (same object, no new compile), and its one-step
  function, run from the program's own initial state, gives the state the compiled block gives after one step."""
  from fcjax import sweep
  from fcjax.sweep import program
  _, params = models
  cfg = fcjax_side.sweep_config(n_angles=2, n_seeds=1, steps=1, canvas_size=32, input_size=64, block_steps=1)
  res = sweep.run(inception_v1.MODEL, params, cfg, layer=LAYER, pairs=[PAIR], devices=[jax.devices()[0]])
  compiles = sweep.cache_info()["compiles"]
  block, args = fcjax_side.block_program(params, cfg, layer=LAYER, pair=PAIR)
  assert sweep.cache_info()["compiles"] == compiles  # a cache hit: the run's own executable
  assert program.is_cached(block)
  assert np.isfinite(res.c).all()

  # the benchmark's step IS the block's scan body: one step from the program's initial state agrees with the block
  state, y, c = block(*args)
  parts = fcjax_side.step_parts(params, cfg, layer=LAYER, pair=PAIR)
  entries = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)), args[3])
  one = jax.jit(parts.step)(params, parts.init(entries), entries, jnp.int32(0))
  # (measured: 2 of 19584 values differ by up to 1.7e-4 absolute, XLA fusing the block's scan body differently)
  np.testing.assert_allclose(np.asarray(one.image), np.asarray(state.image), rtol=1e-4, atol=5e-4)
