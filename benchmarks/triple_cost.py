"""The cost of a triple against a pair (issue 23): the demo model's default sweep (``conv4_pre_relu``, the demo's
settings) of one pair (i, j) and of the triple (i, j, l) in one process: wall time without compilation (the run's
``total_seconds - compile_seconds``) and image-steps by phase (``meta['image_steps']``). Ratios only: wall times on
a shared CPU are noisy.

Run (about 20 minutes on 2 CPU cores; writes benchmarks/triple_cost.json)::

    PYTHONPATH=. python benchmarks/triple_cost.py
"""
import json
import pathlib
import time

from fcjax import experiment, sweep

LAYER, PAIR, TRIPLE = "conv4_pre_relu", (12, 60), (12, 60, 22)


def _timed(model, params, cfg, combo):
  t = time.perf_counter()
  r = sweep.run(model, params, cfg, layer=LAYER, pairs=[combo])
  return time.perf_counter() - t - r.meta["compile_seconds"], r.meta["image_steps"], int(r.c.shape[1])


def main():
  model, params, _ = experiment.load_model("demo", None)
  cfg = sweep.SweepConfig.for_model(model)
  out = {"config": {"n_angles": cfg.n_angles, "n_directions": cfg.n_directions, "n_seeds": cfg.n_seeds,
                    "steps": cfg.steps}}
  for name, combo in (("pair", PAIR), ("triple", TRIPLE)):
    wall, steps, n_dir = _timed(model, params, cfg, combo)
    out[name] = {"units": list(combo), "directions": n_dir, "wall_seconds_without_compile": wall, "image_steps": steps,
                 "image_steps_total": sum(steps.values())}
    print(name, out[name], flush=True)
  out["ratio_wall"] = out["triple"]["wall_seconds_without_compile"] / out["pair"]["wall_seconds_without_compile"]
  out["ratio_image_steps"] = out["triple"]["image_steps_total"] / out["pair"]["image_steps_total"]
  print({k: out[k] for k in ("ratio_wall", "ratio_image_steps")})
  path = pathlib.Path(__file__).with_name("triple_cost.json")
  path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
  main()
