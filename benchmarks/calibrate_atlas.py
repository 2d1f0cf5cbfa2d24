"""Calibration of the atlas's screening protocol (issue 15, item 2) on the demo model.

Screens the same pairs of ``conv4_pre_relu`` (``--n-pairs`` pairs spread evenly over the |r| ranking of the live
pairs) with each candidate screening protocol and with a fuller reference protocol, and reports per candidate:

* verdict agreement: the fraction of (pair, quadrant) whose verdict (possible / collapsed / uncertain) equals the
  reference's, and the same over the quadrants both decided (possible or collapsed);
* Spearman rank correlation of the impossibility scores (fcjax.atlas.score) with the reference's, and of the same
  sum taken over all four quadrants whatever their verdict (a diagnostic: how much of the disagreement is verdicts);
* its measured cost (phase-2 image-steps per pair) and image-steps per second.

Run (about 15 minutes on 2 CPU cores; writes benchmarks/calibrate_atlas.json)::

    PYTHONPATH=. python -m benchmarks.calibrate_atlas --out runs/calibrate_atlas
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

CANDIDATES = {  # phase-2 cost per pair = n_angles * n_seeds * steps image-steps
    "16x2x64": dict(n_angles=16, n_seeds=2, steps=64, block_steps=32),
    "8x2x128": dict(n_angles=8, n_seeds=2, steps=128, block_steps=32),
    "16x1x128": dict(n_angles=16, n_seeds=1, steps=128, block_steps=32),
}
# The reference: paper-like angle and seed counts (the paper: 60 x 5 x 512 steps), fewer so that it fits this CPU:
# 48 angles (11 inside each quadrant) x 4 seeds x 128 steps (the demo preset's step count).
REFERENCE = ("48x4x128", dict(n_angles=48, n_seeds=4, steps=128, block_steps=32))
LAYER = "conv4_pre_relu"


def spread_pairs(layer_stats, n: int) -> list:
  """``n`` live pairs at evenly spaced positions of the |r| ranking (highest first)."""
  from fcjax.atlas._screen import select_pairs
  ranked = select_pairs("all", layer_stats, layer_stats.channels)
  r = np.abs(layer_stats.corr[ranked[:, 0], ranked[:, 1]])
  order = ranked[np.argsort(-r, kind="stable")]
  return [tuple(int(u) for u in order[k]) for k in np.linspace(0, len(order) - 1, n).round().astype(int)]


def compare(rows: list, ref: list) -> dict:
  """Verdict agreement and Spearman correlation of scores between two atlases of the same pairs."""
  from scipy.stats import spearmanr
  from fcjax.measures import QUADRANTS
  key = lambda r: (r["unit_i"], r["unit_j"])  # noqa: E731
  a, b = {key(r): r for r in rows}, {key(r): r for r in ref}
  same, decided_same, decided = 0, 0, 0
  for k in b:
    for q in QUADRANTS:
      va, vb = a[k][f"verdict_{q}"], b[k][f"verdict_{q}"]
      same += va == vb
      if va != "uncertain" and vb != "uncertain":
        decided += 1
        decided_same += va == vb
  ks = sorted(b)
  rho = spearmanr([a[k]["score"] for k in ks], [b[k]["score"] for k in ks]).statistic
  raw = lambda r: sum(1 - min(r[f"corner_{q}"], 1) for q in QUADRANTS)  # noqa: E731  every quadrant, any verdict
  rho_raw = spearmanr([raw(a[k]) for k in ks], [raw(b[k]) for k in ks]).statistic
  return {"spearman_all_corners": float(rho_raw),"verdict_agreement": same / (4 * len(b)), "decided_agreement": decided_same / decided if decided else None,
          "both_decided": decided, "quadrants": 4 * len(b), "spearman_score": float(rho)}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", default="runs/calibrate_atlas")
  ap.add_argument("--n-pairs", type=int, default=8)
  ap.add_argument("--n-images", type=int, default=1000, help="procedural images for the statistics")
  ap.add_argument("--json", default="benchmarks/calibrate_atlas.json")
  args = ap.parse_args(argv)
  from fcjax import atlas, experiment
  model, params, label = experiment.load_model("demo", None)
  out = pathlib.Path(args.out)
  st, _ = experiment.stats(model, params, dataset="procedural", layers=[LAYER], out=out / "stats.npz",
                           n=args.n_images, weights_label=label)
  pairs = spread_pairs(st[LAYER], args.n_pairs)
  print("pairs", pairs, flush=True)
  runs = {}
  for name, proto in [REFERENCE] + list(CANDIDATES.items()):
    cfg = atlas.screen_config(model, **proto)
    timing = out / name / "timing.json"  # the wall time of the run that computed it (a rerun reuses the atlas)
    t0 = time.perf_counter()
    a = atlas.screen(model, params, layer=LAYER, stats=st, out=out / name, pairs=pairs, config=cfg, plots=False,
                     weights_label=label, say=print)
    if not timing.is_file():
      timing.write_text(json.dumps({"wall_s": time.perf_counter() - t0}))
    wall = json.loads(timing.read_text())["wall_s"]
    units = len(a.unit_maxima.units)
    steps = len(pairs) * proto["n_angles"] * proto["n_seeds"] * proto["steps"] + units * proto["n_seeds"] * proto[
        "steps"]
    runs[name] = {"protocol": proto, "rows": a.rows, "wall_s": wall, "image_steps": steps,
                  "image_steps_per_pair": proto["n_angles"] * proto["n_seeds"] * proto["steps"],
                  "image_steps_per_s": steps / wall}
    print(f"{name}: {wall:.0f} s, {steps / wall:.0f} image-steps/s", flush=True)
  ref = runs[REFERENCE[0]]["rows"]
  report = {"model": "demo", "layer": LAYER, "pairs": pairs, "reference": REFERENCE[0], "runs": {}}
  for name, run in runs.items():
    entry = {k: v for k, v in run.items() if k != "rows"}
    if name != REFERENCE[0]:
      entry.update(compare(run["rows"], ref))
    entry["verdicts"] = {f"{r['unit_i']}-{r['unit_j']}": [r[f"verdict_{q}"] for q in ("I", "II", "III", "IV")]
                         for r in run["rows"]}
    entry["scores"] = {f"{r['unit_i']}-{r['unit_j']}": r["score"] for r in run["rows"]}
    report["runs"][name] = entry
    print(name, {k: v for k, v in entry.items() if k not in ("verdicts", "scores")}, flush=True)
  pathlib.Path(args.json).write_text(json.dumps(report, indent=1, default=float))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
