"""Speed of the layer atlas against a single-pair sweep, in the same process (issue 15, item 4); not run in tests.

Both sides run the demo model's ``conv4_pre_relu`` at the default screening protocol (fcjax.atlas.SCREEN_PROTOCOL).
An image-step is one optimisation step of one image (phase 1 or 2). For each side:

    rate = image-steps done / (wall time - compile time)      (compile time: fcjax.sweep.cache_info's counter)

* single pair: ``sweep.run`` of the top pair: (2 units + A angles) x S seeds x steps image-steps;
* atlas: ``atlas.screen`` of ``--pairs`` pairs (top half by |r| + random half), everything included (phase 1 once
  per distinct unit, chunks, measures, table, report; no per-pair plots): (U units + P x A) x S x steps.

Printed: both rates, their ratio (target >= 0.9: no per-pair overhead), and the saving of the shared phase 1: the
wall time P single-pair sweeps would take at the single-pair rate over the atlas's wall time.

**Projection** (``--project``) to one H200, a formula, not a measurement: FLOPs per image-step F are XLA's cost
analysis of one gradient step through the model to the layer (forward + backward of one image at the model input;
the render and transforms are left out: small beside the network); a layer of C units at the protocol costs
``N = (C + C(C-1)/2 * A) * S * steps`` image-steps, and takes ``N * F / (u * P_peak)`` seconds on a device of peak
P_peak (H200 dense TF32: 494e12 FLOP/s, the precision XLA uses for float32 convolutions on it by default) at
utilisation u (``--utilisation``, default 0.2: small convolutions rarely fill an H200; an assumption). A small
model does not fill the device at all: then the steps run one after another, ``(ceil(pairs / chunk_pairs) + 1) *
steps`` compiled steps at a latency of ``--step-latency`` seconds each (default 1 ms, an assumption for a small
network's forward + backward + update), and the projection is the larger of the two terms. The same FLOP formula
with this CPU's measured rate gives its achieved FLOP/s as a check.

Run (about 4 minutes on 2 CPU cores, plus about a minute of compiling InceptionV1 with --project)::

    PYTHONPATH=. python -m benchmarks.bench_atlas --pairs 16 --project
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

LAYER = "conv4_pre_relu"
H200_TF32_FLOPS = 494e12  # NVIDIA H200 datasheet: TF32 tensor core, dense
PROJECTED = (("demo", "conv4_pre_relu"), ("inceptionv1", "mixed3a_pre_relu"), ("inceptionv1", "mixed4a_pre_relu"))


def flops_per_image_step(model_name: str, layer: str) -> float:
  """XLA's FLOP count of d(sum of the layer's centre units)/d(image) for one image at the model input."""
  import jax
  import jax.numpy as jnp
  from fcjax import models, sweep
  model = models.get(model_name)
  params = model.init_params(jax.random.key(0))
  feats = sweep.make_features(model, layer)
  n = model.layer(layer).channels
  x = jnp.zeros((1, model.input_size, model.input_size, 3), jnp.float32)
  grad = jax.jit(jax.grad(lambda img: feats(params, img, jnp.arange(2) % n).sum()))
  cost = grad.lower(x).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def layer_image_steps(units: int, proto: dict) -> int:
  """Image-steps of a whole layer at a protocol: phase 1 per unit + phase 2 per pair."""
  pairs = units * (units - 1) // 2
  return (units + pairs * proto["n_angles"]) * proto["n_seeds"] * proto["steps"]


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--pairs", type=int, default=16)
  ap.add_argument("--n-images", type=int, default=500)
  ap.add_argument("--project", action="store_true")
  ap.add_argument("--utilisation", type=float, default=0.2)
  ap.add_argument("--step-latency", type=float, default=1e-3, help="seconds per compiled step on the H200 (assumed)")
  ap.add_argument("--project-chunk-pairs", type=int, default=256, help="chunk_pairs assumed on the H200")
  ap.add_argument("--json", default=None, help="also write the numbers here")
  args = ap.parse_args(argv)
  from fcjax import atlas, data, experiment, stats, sweep
  model, params, label = experiment.load_model("demo", None)
  st = stats.compute(model, params, data.from_spec(f"procedural:{args.n_images}"), [LAYER], input_size=64,
                     n_samples=args.n_images)
  cfg = atlas.screen_config(model)
  a_, s_, k_ = cfg.n_angles, cfg.n_seeds, cfg.steps
  top = atlas.select_pairs("top:1", st[LAYER], 64)[0]

  c0, t0 = sweep.cache_info()["compile_seconds"], time.perf_counter()
  sweep.run(model, params, cfg, layer=LAYER, pairs=[tuple(int(u) for u in top)])
  wall1, comp1 = time.perf_counter() - t0, sweep.cache_info()["compile_seconds"] - c0
  steps1 = (2 + a_) * s_ * k_
  rate1 = steps1 / (wall1 - comp1)

  spec = f"top:{args.pairs // 2}+random:{args.pairs - args.pairs // 2}"
  with tempfile.TemporaryDirectory() as tmp:
    c0, t0 = sweep.cache_info()["compile_seconds"], time.perf_counter()
    res = atlas.screen(model, params, layer=LAYER, stats=st, out=tmp, pairs=spec, config=cfg, plots=False)
    wall2, comp2 = time.perf_counter() - t0, sweep.cache_info()["compile_seconds"] - c0
  n_pairs, n_units = len(res.rows), len(res.unit_maxima.units)
  chunks = -(-n_pairs // atlas.CHUNK_PAIRS)
  steps2 = (n_units + chunks * atlas.CHUNK_PAIRS * a_) * s_ * k_  # padded pairs of the last chunk are computed
  useful2 = (n_units + n_pairs * a_) * s_ * k_
  rate2, useful_rate2 = steps2 / (wall2 - comp2), useful2 / (wall2 - comp2)
  saving = n_pairs * steps1 / rate1 / (wall2 - comp2)
  out = {"protocol": {"n_angles": a_, "n_seeds": s_, "steps": k_}, "single": {"pair": top.tolist(), "wall_s": wall1,
         "compile_s": comp1, "image_steps": steps1, "rate": rate1},
         "atlas": {"pairs": n_pairs, "units": n_units, "chunks": chunks, "wall_s": wall2, "compile_s": comp2,
                   "image_steps": steps2, "useful_image_steps": useful2, "rate": rate2, "useful_rate": useful_rate2},
         "ratio": rate2 / rate1, "useful_ratio": useful_rate2 / rate1, "phase1_and_batching_saving": saving}
  print(f"single pair: {steps1} image-steps in {wall1:.1f} s ({comp1:.1f} s compiling): {rate1:.0f} image-steps/s")
  print(f"atlas: {n_pairs} pairs ({n_units} units, {chunks} chunks): {steps2} image-steps in {wall2:.1f} s "
        f"({comp2:.1f} s compiling): {rate2:.0f} image-steps/s ({useful_rate2:.0f} counting only real pairs)")
  print(f"ratio atlas / single pair: {rate2 / rate1:.2f} ({useful_rate2 / rate1:.2f} counting only real pairs); "
        f"{n_pairs} single-pair sweeps would take {saving:.2f}x the atlas's time")
  cpu = (64 + 200 * a_) * s_ * k_ / useful_rate2  # the CPU target: top 100 + 100 random pairs
  print(f"CPU projection: top 100 + 100 random pairs at this protocol ~ {cpu / 60:.0f} min (incl. phase 1 of up to 64 units)")
  if args.project:
    proto = {"n_angles": a_, "n_seeds": s_, "steps": k_}
    f_demo = flops_per_image_step("demo", LAYER)
    out["cpu_flops_per_s"] = f_demo * useful_rate2
    print(f"demo: {f_demo:.3g} FLOP per image-step; this CPU achieved {f_demo * useful_rate2:.3g} FLOP/s")
    out["projection"] = {}
    for name, layer in PROJECTED:
      from fcjax import models
      units = models.get(name).layer(layer).channels
      f = f_demo if name == "demo" else flops_per_image_step(name, layer)
      n = layer_image_steps(units, proto)
      t_flops = n * f / (args.utilisation * H200_TF32_FLOPS)
      seq = (-(-(units * (units - 1) // 2) // args.project_chunk_pairs) + 1) * k_
      t = max(t_flops, seq * args.step_latency)
      out["projection"][f"{name}/{layer}"] = {"units": units, "image_steps": n, "flops_per_image_step": f,
                                              "h200_flops_s": t_flops, "sequential_steps": seq, "h200_s": t}
      print(f"H200 projection {name} {layer}: {units} units, {n:.3g} image-steps x {f:.3g} FLOP / "
            f"({args.utilisation:g} x {H200_TF32_FLOPS:.3g} FLOP/s) = {t_flops:.0f} s; {seq} sequential steps x "
            f"{args.step_latency:g} s = {seq * args.step_latency:.0f} s; projection {t:.0f} s ({t / 60:.1f} min)")
  if args.json:
    with open(args.json, "w") as fh:
      json.dump(out, fh, indent=1)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
