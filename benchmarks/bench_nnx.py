"""InceptionV1 as an NNX module vs the pure-JAX implementation it replaced, side by side in one run.

The old implementation (a table of pure-JAX functions over the weights dict) is read from git at ``--old-ref``
(default: the last commit that had it) and imported as a separate module next to today's
``fcjax.models.inception_v1`` (which merges its NNX module from a fixed graphdef while tracing). Both get the same
weights dict and the same images. Measured, with the compile done beforehand and never counted:

* ``fwd_grad``: ``jit(grad(sum of mixed4a_pre_relu))`` w.r.t. the images, at ``--sizes`` px and ``--batches``;
* ``sweep``: a short smoke sweep (``sweep.run``, 4 angles x 1 seed, 8 steps, 64 px, ``mixed4a_pre_relu``), its
  programs compiled by a first untimed run.

Repeats are interleaved (old, new, old, new, ...) so that load from other processes hits both alike; the ratio
``new / old`` of the median times is reported (below 1.05: no slower than 5 %), and that of the minima (the least
disturbed sample of each, the better estimate on a shared machine); each fwd+grad sample averages
enough back-to-back calls to last 0.3 s. Also checked: both give the same values (max relative difference of the
gradients, the sweep's activations) and whether XLA compiled the same program (the optimised HLO instructions, source
metadata removed, compared as text).

Command::

    python -m benchmarks.bench_nnx                       # 224 and 128 px, batch 1 and 8, 5 repeats (~5 min, 2 cores)
    python -m benchmarks.bench_nnx --quick               # 128 px, batch 1, 3 repeats
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import sweep
from fcjax.models import inception_v1 as new

OLD_REF = "cab523ed9fc19c05ee3f3781792d2d3fd0a49641"  # the last commit with the pure-JAX InceptionV1
LAYER = "mixed4a_pre_relu"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_old(ref: str):
  """The pure-JAX ``fcjax/models/inception_v1.py`` of commit ``ref``, imported as module ``_inception_v1_old``."""
  try:
    src = subprocess.run(["git", "show", f"{ref}:fcjax/models/inception_v1.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
  except (OSError, subprocess.CalledProcessError) as e:
    sys.exit(f"bench_nnx: cannot read the old implementation from git ref {ref} ({e}); run inside the fcjax git "
             f"checkout or pass --old-ref")
  path = pathlib.Path(tempfile.mkdtemp()) / "_inception_v1_old.py"
  path.write_text(src)
  spec = importlib.util.spec_from_file_location("_inception_v1_old", path)
  mod = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = mod  # dataclasses look their module up while the file runs
  spec.loader.exec_module(mod)
  return mod


def _fwd_grad(impl):
  return jax.jit(jax.grad(lambda p, x: jnp.sum(impl.apply(p, x, (LAYER,))[LAYER]), argnums=1))


def _program(fn, *args) -> str:
  """The optimised HLO instructions XLA compiled for ``fn(*args)``, without source metadata (file/line names)."""
  text = re.sub(r", metadata=\{[^}]*\}", "", fn.lower(*args).compile().as_text())
  return "\n".join(l for l in text.splitlines() if " = " in l or l.startswith(("ENTRY", "%", "}")))


def _timed(fn, *args, calls: int = 1) -> float:
  """Seconds per call, averaged over ``calls`` back-to-back calls."""
  t0 = time.perf_counter()
  for _ in range(calls):
    jax.block_until_ready(fn(*args))
  return (time.perf_counter() - t0) / calls


def _interleaved(fns: dict, repeats: int) -> dict:
  times = {k: [] for k in fns}
  for _ in range(repeats):
    for k, f in fns.items():
      times[k].append(f())
  return ({k: float(np.median(v)) for k, v in times.items()} | {f"{k}_min": float(np.min(v)) for k, v in times.items()}
          | {f"{k}_all": v for k, v in times.items()})


def run(sizes, batches, repeats: int, old_ref: str, sweep_repeats: int) -> dict:
  old = load_old(old_ref)
  params = new.init_params(jax.random.key(0))
  rows = []
  for size in sizes:
    for batch in batches:
      x = jax.random.uniform(jax.random.key(size + batch), (batch, size, size, 3))
      f_old, f_new = _fwd_grad(old), _fwd_grad(new)
      g_old, g_new = f_old(params, x), f_new(params, x)  # compile + check
      diff = float(jnp.abs(g_old - g_new).max() / jnp.abs(g_old).max())
      same = _program(f_old, params, x) == _program(f_new, params, x)
      calls = max(1, int(0.3 / _timed(f_new, params, x)))  # samples of >= 0.3 s: less timer and scheduler noise
      t = _interleaved({"old": lambda: _timed(f_old, params, x, calls=calls),
                        "new": lambda: _timed(f_new, params, x, calls=calls)}, repeats)
      rows.append({"what": "fwd_grad", "size": size, "batch": batch, "old_s": t["old"], "new_s": t["new"],
                   "ratio": t["new"] / t["old"], "ratio_min": t["new_min"] / t["old_min"], "grad_rel_diff": diff,
                   "same_program": same, "calls": calls, "old_all": t["old_all"], "new_all": t["new_all"]})
      print(f"fwd+grad {size:>3} px batch {batch}: old {t['old']:.4f} s  new {t['new']:.4f} s  "
            f"ratio {t['new'] / t['old']:.3f} (of minima {t['new_min'] / t['old_min']:.3f})  "
            f"(grad rel diff {diff:.1e}, same XLA program: {same})", flush=True)
  cfg = sweep.SweepConfig.smoke(n_angles=4, n_seeds=1, steps=8, block_steps=4)
  sub = {k: params[k] for k in new.required_params(LAYER)}
  runs = {"old": lambda: sweep.run(old.MODEL, sub, cfg, layer=LAYER, pairs=[(0, 1)]),
          "new": lambda: sweep.run(new.MODEL, sub, cfg, layer=LAYER, pairs=[(0, 1)])}
  first = {k: f() for k, f in runs.items()}  # compiles
  same = bool(np.allclose(first["old"].y, first["new"].y, rtol=1e-3, atol=1e-3 * np.abs(first["old"].y).max()))
  t = _interleaved({k: (lambda f=f: _timed(f)) for k, f in runs.items()}, sweep_repeats)
  rows.append({"what": "sweep", "size": cfg.input_size, "batch": cfg.n_angles * cfg.n_seeds, "old_s": t["old"],
               "new_s": t["new"], "ratio": t["new"] / t["old"], "ratio_min": t["new_min"] / t["old_min"],
               "same_y": same, "old_all": t["old_all"], "new_all": t["new_all"]})
  print(f"smoke sweep {LAYER} 64 px: old {t['old']:.3f} s  new {t['new']:.3f} s  ratio {t['new'] / t['old']:.3f} "
        f"(of minima {t['new_min'] / t['old_min']:.3f})  (same y: {same})", flush=True)
  return {"rows": rows, "repeats": repeats, "sweep_repeats": sweep_repeats, "old_ref": old_ref,
          "jax": jax.__version__, "devices": [str(d) for d in jax.devices()], "platform": platform.platform()}


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_nnx", description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="128 px, batch 1, 3 repeats")
  parser.add_argument("--sizes", type=int, nargs="+", default=[224, 128])
  parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--sweep-repeats", type=int, default=3)
  parser.add_argument("--old-ref", default=OLD_REF, help="git commit holding the pure-JAX implementation")
  parser.add_argument("--out", type=pathlib.Path, help="also write the numbers as JSON here")
  args = parser.parse_args(argv)
  if args.quick:
    args.sizes, args.batches, args.repeats, args.sweep_repeats = [128], [1], 3, 2
  result = run(args.sizes, args.batches, args.repeats, args.old_ref, args.sweep_repeats)
  if args.out:
    args.out.write_text(json.dumps(result, indent=1))
  return result


if __name__ == "__main__":
  main()
