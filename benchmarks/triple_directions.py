"""How many directions a triple needs (issue 23): the known-answer 3-D toys (tests/toy_features3d.py, truth from a
dense grid) swept with ``n_directions`` Fibonacci points (+ the 20 diagonals) for several counts, against that truth:
decided octants that contradict it, uncertain octants, the largest shortfall of K below the grid's, and the
image-steps. 1100 points is the 6-degree spacing of the paper's 60 angles on the circle.

Run (about 10 minutes on 2 CPU cores; writes benchmarks/triple_directions.json)::

    PYTHONPATH=.:tests python benchmarks/triple_directions.py
"""
import json
import pathlib
import time

import numpy as np

import toy_features as toys
import toy_features3d as t3
from fcjax import orthants, sweep

COUNTS = (8, 16, 32, 64, 128, 1100)
CONFIG = sweep.SweepConfig(param="pixel", transforms="none", canvas_size=t3.SIZE, input_size=t3.SIZE,
                           optimizer="adam", learning_rate=0.1, steps=200, block_steps=100, n_seeds=3, relu="plain")


def main():
  names = list(t3.toys3())
  gts = t3.toys3()
  truth = {n: t3.grid_truth3(gts[n]) for n in names}
  comb = toys.combined(*(gts[n].toy() for n in names))
  nat = np.asarray(comb.f(comb.params, t3.natural_images3(400)), np.float64)
  out = {}
  for count in COUNTS:
    t = time.perf_counter()
    res = sweep.run(comb.f, comb.params, CONFIG.replace(n_directions=count),
                    pairs=[(3 * k, 3 * k + 1, 3 * k + 2) for k in range(len(names))])
    wrong, unc, short, total = [], [], 0.0, 0
    for k, n in enumerate(names):
      s = orthants.summarize(res, triple=k, cloud=nat[:, 3 * k:3 * k + 3])
      for o, tv, tk in zip(t3.OCTANTS, truth[n]["verdicts"], truth[n]["corner"]):
        total += 1
        v = s[f"verdict_{o}"]
        if v == "uncertain":
          unc.append(f"{n} {o}")
        elif v != tv:
          wrong.append(f"{n} {o}: {v}, truth {tv}")
        else:
          short = max(short, float(tk) - s[f"corner_{o}"])
    out[count] = {"directions": int(res.c.shape[1]), "octants": total, "wrong": wrong, "uncertain": unc,
                  "max_k_shortfall": short, "image_steps_per_triple": {
                      k: v / len(names) for k, v in res.meta["image_steps"].items()},
                  "seconds": time.perf_counter() - t}
    print(count, out[count], flush=True)
  path = pathlib.Path(__file__).with_name("triple_directions.json")
  path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
  main()
