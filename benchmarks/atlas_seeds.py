"""Seed agreement of the atlas's screen (issue 22, item 7): the default screen of the 16 default demo pairs
(``conv4_pre_relu``, 1000 procedural images) under seeds 0, 1 and 2; for each two runs, how many quadrants both
decided, how many of those flip (possible in one, collapsed in the other), and the Spearman correlation of their
impossibility scores. SweepConfig overrides as KEY=VALUE arguments (integers).

Run (about 10 minutes on 2 CPU cores; writes benchmarks/atlas_seeds[_KEY-VALUE...].json)::

    PYTHONPATH=. python benchmarks/atlas_seeds.py            # the default screening protocol
    PYTHONPATH=. python benchmarks/atlas_seeds.py n_seeds=3
"""
import itertools
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

from fcjax import atlas, data, experiment, stats

LAYER = "conv4_pre_relu"


def _rank(x):
  return np.argsort(np.argsort(x))


def main(argv):
  model, params, _ = experiment.load_model("demo", None)
  st = stats.compute(model, params, data.from_spec("procedural:1000"), [LAYER], input_size=64, batch_size=100,
                     n_samples=1000)
  extra = dict(a.split("=") for a in argv)
  extra = {k: int(v) for k, v in extra.items()}
  runs = {}
  for seed in (0, 1, 2):
    t = time.perf_counter()
    cfg = atlas.screen_config(model, seed=seed, **extra)
    a = atlas.screen(model, params, layer=LAYER, stats=st, out=tempfile.mkdtemp() + "/a", config=cfg, plots=False,
                     weights_label="demo:shipped")
    runs[seed] = ({(r["unit_i"], r["unit_j"]): r for r in a.rows}, time.perf_counter() - t)
    print("seed", seed, round(runs[seed][1]), "s", flush=True)
  out = {"protocol": {**atlas.SCREEN_PROTOCOL, **extra}, "wall_s": [round(runs[s][1]) for s in runs], "pairs_compared": []}
  for s1, s2 in itertools.combinations(runs, 2):
    a, b = runs[s1][0], runs[s2][0]
    keys = sorted(a)
    both = flips = 0
    for k in keys:
      for q in ("I", "II", "III", "IV"):
        va, vb = a[k][f"verdict_{q}"], b[k][f"verdict_{q}"]
        if va != "uncertain" and vb != "uncertain":
          both += 1; flips += va != vb
    sa = np.array([a[k]["score"] for k in keys]); sb = np.array([b[k]["score"] for k in keys])
    ok = np.isfinite(sa) & np.isfinite(sb)
    rho = float(np.corrcoef(_rank(sa[ok]), _rank(sb[ok]))[0, 1]) if ok.sum() > 2 else float("nan")
    unc = sum(a[k][f"verdict_{q}"] == "uncertain" for k in keys for q in ("I", "II", "III", "IV"))
    out["pairs_compared"].append(dict(seeds=[s1, s2], both_decided=both, flips=flips, spearman=round(rho, 2), uncertain_first=unc))
  print(json.dumps(out, indent=1))
  name = "atlas_seeds" + "".join(f"_{k}-{v}" for k, v in sorted(extra.items())) + ".json"
  (pathlib.Path(__file__).parent / name).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
  main(sys.argv[1:])
