"""Does each recipe (MACO, FFT, pixel) reach beyond natural images on InceptionV1? (issue 11, item 3)

Usage (from the repository root; about 25 minutes on the 2-core development CPU at the defaults)::

    python scripts/measure_reach.py ../shared/data/imagenet-sample-256 --out docs/recipes_reach.json

InceptionV1 with RANDOM weights (``inception_v1.init_params(jax.random.key(0))``: the trained ones cannot be
downloaded here; ``--weights`` takes a trained checkpoint), one layer, 4 units. The natural cloud is
``fcjax.stats.compute`` over the photos of the folder (``neuron`` readout at the centre, 224 px input); a unit's
natural reach on its positive half-axis is the 99% quantile of its activations, judged where at least 20 are
positive (``fcjax.measures.NATURAL_QUANTILE`` and ``NATURAL_MIN_POINTS``, as the verdicts' under-reach test uses
them). Each recipe's reach is ``fcjax.sweep.unit_maxima`` (phase 1 of the sweep) at 224 px, ``--seeds`` seeds,
``--steps`` steps, each recipe at its reference settings (``fcjax.sweep.RECIPES``); the ratio reach / natural q99 >
1 means the optimiser left the natural cloud. Then MACO variations on one unit (learning rate, steps, canvas, crops,
transforms).

Writes the JSON record to ``--out`` after every configuration (a stopped run keeps what it measured) and prints the
markdown tables at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

from fcjax import data, measures, stats, sweep  # noqa: E402
from fcjax.models import inception_v1  # noqa: E402

RANDOM_WEIGHTS = "random (inception_v1.init_params(jax.random.key(0)))"
RECIPE_NAMES = ("maco", "fft", "pixel")
# MACO variations on one unit: name -> SweepConfig changes relative to the reduced-steps MACO baseline. 'steps' as
# a factor of --steps; the rest are SweepConfig fields. The 0.25-0.30 crops are Horama's
# (fcjax.transforms.MACO_CROP_FRACTION), 'none' resizes the canvas to the input without random transforms.
VARIATIONS = {
    "baseline": {},
    "lr x0.5": {"learning_rate": 0.5},
    "lr x2": {"learning_rate": 2.0},
    "lr x4": {"learning_rate": 4.0},
    "steps x2": {"steps": 2},
    "steps x4 (= default 512)": {"steps": 4},
    "canvas 224": {"canvas_size": 224},
    "canvas 64 (the demo's)": {"canvas_size": 64},
    "crops 0.25-0.30 (Horama)": {"crop_fraction": (0.25, 0.30)},
    "transforms none": {"transforms": "none"},
}


def pick_units(layer_stats, n_units: int, min_points: int) -> list[int]:
  """The units of the layer's selected pairs (highest, lowest, zero correlation, in that order) with at least
  ``min_points`` natural images on their positive side, until there are ``n_units``."""
  units: list[int] = []
  samples = layer_stats.samples
  for kind in ("highest", "lowest", "zero"):
    for i, j, _ in layer_stats.pairs[kind]:
      for u in (int(i), int(j)):
        if u not in units and int((samples[:, u] > 0).sum()) >= min_points and len(units) < n_units:
          units.append(u)
  return units


def natural_reach(samples: np.ndarray, unit: int) -> dict:
  """The unit's natural reach on its positive half-axis: the NATURAL_QUANTILE quantile of its values (NaN where fewer
  than NATURAL_MIN_POINTS are positive), as fcjax.measures judges under-reach."""
  v = samples[:, unit].astype(np.float64)
  pos = v[v > 0]
  q = float(np.quantile(v, measures.NATURAL_QUANTILE)) if pos.size >= measures.NATURAL_MIN_POINTS else float("nan")
  return {"q99": q, "n_pos": int(pos.size), "max": float(v.max()), "n": int(v.size)}


def run_config(model, params, cfg, layer: str, units: list[int]) -> dict:
  """Phase-1 maxima of ``units`` under ``cfg``: per-seed values [U, seeds], best per unit, and wall seconds."""
  t0 = time.time()
  um = sweep.unit_maxima(model, params, cfg, layer=layer, units=units)
  seconds = time.time() - t0
  values = {int(u): [float(x) for x in um.values[k]] for k, u in enumerate(um.units)}
  return {"config": cfg.to_dict(), "values": values, "best": {u: max(v) for u, v in values.items()},
          "seconds": round(seconds, 1)}


def ratio(value: float, q99: float) -> float:
  return value / q99 if np.isfinite(q99) and q99 > 0 else float("nan")


def fmt_cell(value: float, q99: float) -> str:
  r = ratio(value, q99)
  return f"{value:.3g} (x{r:.2f})" if np.isfinite(r) else f"{value:.3g}"


def tables(record: dict) -> str:
  """The markdown tables of a (possibly partial) record."""
  nat = {int(u): v for u, v in record["natural"].items()}
  lines = ["| unit (+) | natural q99 (n > 0) | " + " | ".join(record["recipes"].get(r, {}).get("label", r)
                                                       for r in RECIPE_NAMES if r in record["recipes"]) + " |",
           "|---|---:|" + "---:|" * sum(r in record["recipes"] for r in RECIPE_NAMES)]
  for u in record["units"]:
    cells = [fmt_cell(record["recipes"][r]["best"][u], nat[u]["q99"]) for r in RECIPE_NAMES if r in record["recipes"]]
    lines.append(f"| {u} | {nat[u]['q99']:.3g} ({nat[u]['n_pos']}) | " + " | ".join(cells) + " |")
  secs = [f"{r} {record['recipes'][r]['seconds']:.0f} s" for r in RECIPE_NAMES if r in record["recipes"]]
  lines.append(f"\nWall time per recipe ({len(record['units'])} units x {record['seeds']} seeds): " + ", ".join(secs))
  if record["variations"]:
    u = record["variation_unit"]
    lines += ["", f"MACO variations, unit {u} (natural q99 {nat[u]['q99']:.3g}), best of {record['seeds']} seeds:",
              "", "| variation | steps | lr | canvas | crops | transforms | reach (x q99) | seeds | s |",
              "|---|---:|---:|---:|---|---|---:|---|---:|"]
    for name, v in record["variations"].items():
      c = v["config"]
      seeds = ", ".join(f"{x:.3g}" for x in v["values"][u])
      lines.append(f"| {name} | {c['steps']} | {c['learning_rate']:g} | {c['canvas_size']} | "
                   f"{c['crop_fraction'][0]:g}-{c['crop_fraction'][1]:g} x{c['n_crops']} | {c['transforms']} | "
                   f"{fmt_cell(v['best'][u], nat[u]['q99'])} | {seeds} | {v['seconds']:.0f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("root", help="image folder root (layout root/<split>/<label>/<image>)")
  ap.add_argument("--layer", default="mixed3a_pre_relu")
  ap.add_argument("--units", default=None, help="comma-separated units (default: 4 from the layer's selected pairs)")
  ap.add_argument("--n-units", type=int, default=4)
  ap.add_argument("--max-images", type=int, default=1000, help="natural photos for the cloud (default 1000)")
  ap.add_argument("--steps", type=int, default=128, help="optimisation steps (default 128; the sweep's is 512)")
  ap.add_argument("--seeds", type=int, default=2)
  ap.add_argument("--canvas", type=int, default=128, help="canvas side in px (default 128, SweepConfig's)")
  ap.add_argument("--recipes", default=",".join(RECIPE_NAMES))
  ap.add_argument("--variations", default=",".join(VARIATIONS), help="MACO variations to run ('' for none)")
  ap.add_argument("--weights", default=None, help="trained InceptionV1 weights for inception_v1.load_params "
                  "(default: random weights, key 0)")
  ap.add_argument("--out", default="docs/recipes_reach.json")
  args = ap.parse_args(argv)

  t_start = time.time()
  model = inception_v1.MODEL
  if args.weights:
    params, weights = inception_v1.load_params(args.weights), str(args.weights)
  else:
    params, weights = inception_v1.init_params(jax.random.key(0)), RANDOM_WEIGHTS
  source = data.folder(args.root)
  t0 = time.time()
  st = stats.compute(model, params, source, args.layer, max_images=args.max_images, batch_size=25,
                     n_samples=args.max_images, weights_label=weights)
  layer_stats = st[args.layer]
  stats_seconds = time.time() - t0
  units = ([int(u) for u in args.units.split(",")] if args.units else
           pick_units(layer_stats, args.n_units, measures.NATURAL_MIN_POINTS))
  record = {
      "what": "phase-1 unit maxima of each recipe vs the natural images' 99% quantile, positive half-axes",
      "model": "inceptionv1", "weights": weights, "layer": args.layer, "units": units, "seeds": args.seeds,
      "steps": args.steps, "images": source.name, "n_images": int(layer_stats.count),
      "stats_seconds": round(stats_seconds, 1),
      "natural": {u: natural_reach(layer_stats.samples, u) for u in units},
      "command": "python scripts/measure_reach.py " + " ".join(sys.argv[1:] if argv is None else argv),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "machine": f"{platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
                 f"{len(jax.devices())} device(s)",
      "recipes": {}, "variations": {}, "variation_unit": units[0],
  }
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)

  def save():
    record["total_seconds"] = round(time.time() - t_start, 1)
    out.write_text(json.dumps(record, indent=1) + "\n")

  save()
  print(f"natural cloud: {layer_stats.count} images, {stats_seconds:.0f} s; units {units}", flush=True)
  base = dict(n_seeds=args.seeds, steps=args.steps, block_steps=min(64, args.steps), n_angles=1,
              canvas_size=args.canvas)
  for name in [r for r in args.recipes.split(",") if r]:
    cfg = sweep.SweepConfig(param=name, **base)
    res = run_config(model, params, cfg, args.layer, units)
    res["label"] = f"{name} ({cfg.transforms}, {cfg.optimizer} {cfg.learning_rate:g})"
    record["recipes"][name] = res
    save()
    print(name, res["best"], f"{res['seconds']:.0f} s", flush=True)
  maco = sweep.SweepConfig(param="maco", **base)
  for name in [v for v in args.variations.split(",") if v]:
    changes = dict(VARIATIONS[name])
    if "steps" in changes:
      changes["steps"] = args.steps * changes["steps"]
    res = run_config(model, params, maco.replace(**changes), args.layer, [units[0]])
    record["variations"][name] = res
    save()
    print(name, res["best"], f"{res['seconds']:.0f} s", flush=True)
  save()
  print(tables(record))
  print(f"total {record['total_seconds']:.0f} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
