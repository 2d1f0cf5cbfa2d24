"""fcjax against Lucent (PyTorch), side by side on the same work, in one process on one machine.

Usage::

    python -m benchmarks.run --quick                 # < 10 min on a 2-core CPU; prints the tables
    python -m benchmarks.run                         # the fuller CPU run (~30 min on 2 cores)
    python -m benchmarks.run --threads 1             # both sides single-threaded (fairer on a loaded machine)
    python -m benchmarks.run --device gpu            # the paper sweep on an accelerator, float32 and bfloat16
    python -m benchmarks.run --results-md benchmarks/RESULTS.md   # also refresh the generated part of RESULTS.md

Sections (each a function below; each records its own error instead of ending the run):

1. ``sweep``: image-steps per second of the fcjax sweep and of Lucent's ``render_vis`` on identical work (same
   random weights converted through ``weights_conversion``, cosdot written as a Lucent objective, FFT image with
   decorrelation, the standard transforms, Adam 0.05, same sizes, steps, angles and seeds); Lucent one image at a
   time and batched (one objective per batch item).
2. ``fwd_grad``: forward + gradient to the input of ``sum(layer)``: fcjax, Lucent as render_vis runs it (whole
   network, hooks, weight gradients), Lucent truncated by a hook, and plain PyTorch (a truncated module).
3. ``stats``: ``benchmarks.bench_stats.run(quick)`` (fcjax stats throughput against the model's forward alone).
4. ``efficiency``: FLOPs per image-step (XLA cost analysis of ONE step, never of the scanned loop, whose body is
   counted once), achieved FLOP/s in the sweep, and the fraction of a matmul peak measured in the same run.
   ``profile``: one step split into parameterization, transforms, model and optimizer.
5. ``--device gpu``: the full paper sweep of one pair (60 angles x 5 seeds + the unit maxima, 512 steps, 224 px,
   mixed4a_pre_relu) in float32 and bfloat16; Lucent on the same GPU for fewer steps, extrapolated per image-step.

Every ratio is "other side's time / fcjax's time" (above 1: fcjax is faster). Timed calls of the two sides are
interleaved (A B C A B C ...) so that load from other processes falls on both.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback
from typing import Any, Callable

from benchmarks.report import _heading, tables, update_results_md  # noqa: F401 - benchmarks.run.tables etc.
from benchmarks.settings import PRESETS, Settings  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------- helpers

def _log(msg: str) -> None:
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, dict]:
  """Time each blocking call ``repeats`` times, rotating the order every round; warm-up calls are not timed.

  Returns ``{name: {'median_s', 'min_s', 'all_s'}}``.
  """
  for f in fns.values():
    for _ in range(warmup):
      f()
  names = list(fns)
  times: dict[str, list[float]] = {n: [] for n in names}
  for r in range(repeats):
    k = r % len(names)
    for n in names[k:] + names[:k]:
      t0 = time.perf_counter()
      fns[n]()
      times[n].append(time.perf_counter() - t0)
  return {n: {"median_s": statistics.median(t), "min_s": min(t), "all_s": t} for n, t in times.items()}


def _ratio(a: float | None, b: float | None) -> float | None:
  return None if not a or not b else a / b


def _section(results: dict, name: str, fn: Callable[[], Any]) -> None:
  """Run one section, storing its result or its error (a benchmark run reports what it could measure)."""
  _log(f"{name} ...")
  t0 = time.perf_counter()
  try:
    results[name] = fn()
  except Exception as e:  # noqa: BLE001 -- recorded in the results, the other sections still run
    results[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    _log(f"{name} failed: {type(e).__name__}: {e}")
  _log(f"{name} done in {time.perf_counter() - t0:.0f} s")


def _cpu_model() -> str:
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def _loadavg() -> list[float] | None:
  try:
    return [round(v, 2) for v in os.getloadavg()]
  except OSError:
    return None


# ---------------------------------------------------------------------------------------------------- context

class Context:
  """The shared state of one run: settings, device, the Lucent model and the same weights for fcjax."""

  def __init__(self, settings: Settings, device: str):
    import jax
    import torch
    from benchmarks import fcjax_side, lucent_side
    self.s, self.device = settings, device
    self.torch_device = torch.device("cuda" if device == "gpu" else "cpu")
    self.ls, self.fs = lucent_side, fcjax_side
    self.model_t = lucent_side.make_model(0, self.torch_device)
    self.params = jax.device_put(fcjax_side.params_from_lucent(self.model_t))
    self.sweep_ips: dict[str, float] = {}

  def sync(self) -> None:
    self.ls.synchronize()


# ---------------------------------------------------------------------------------------------------- sections

def correctness(ctx: Context) -> dict:
  """Both sides compute the same function: activations of ``layer`` and the cosdot objective on one fixed image.

  The Lucent value goes through Lucent's own machinery: ``render.hook_model`` hooks and the Lucent objective
  ``cosdot_objective`` (which returns the negated mean cosdot, as Lucent minimises).
  """
  import jax.numpy as jnp
  import numpy as np
  import torch
  from fcjax import objectives
  from fcjax.models import inception_v1
  s, ls = ctx.s, ctx.ls
  n = s.correctness_size
  rng = np.random.RandomState(0)
  image = rng.rand(1, n, n, 3).astype(np.float32)
  image_t = torch.as_tensor(image).permute(0, 3, 1, 2).contiguous().to(ctx.torch_device)
  theta, scales = 0.7, (1.3, 0.8)

  acts_j = np.asarray(inception_v1.apply_jit(ctx.params, jnp.asarray(image), (s.layer,))[s.layer])
  with torch.no_grad():
    acts_t = ls.activations(ctx.model_t, image_t, s.layer).permute(0, 2, 3, 1).cpu().numpy()
  y_j = np.asarray(objectives.readout(acts_j, np.asarray(s.pair), "neuron"))[0]
  c_j = float(objectives.cosdot(jnp.asarray(y_j) / jnp.asarray(scales), theta, 4))

  L = ls.lucent()
  hook = L.render.hook_model(ctx.model_t, lambda: image_t)
  try:
    with torch.no_grad():
      ls.run_captured(ctx.model_t, image_t * ls.VALUE_SCALE + ls.VALUE_OFFSET)
      obj = ls.cosdot_objective(ctx.model_t, s.layer, s.pair, theta, scales)
      c_t = -float(obj(hook))
  finally:
    ls._clear_hooks(ctx.model_t)
  return {"layer": s.layer, "size": n, "pair": list(s.pair), "theta": theta, "scales": list(scales),
          "acts_max_abs_diff": float(np.abs(acts_j - acts_t).max()), "acts_max_abs": float(np.abs(acts_t).max()),
          "y_fcjax": y_j.tolist(), "cosdot_fcjax": c_j, "cosdot_lucent": c_t, "cosdot_abs_diff": abs(c_j - c_t)}


def matmul_peak(ctx: Context) -> dict:
  """The device's matmul throughput, measured now: float32 at the default precision (and on an accelerator also
  at 'highest', to tell whether the default is TF32, and bfloat16)."""
  import jax.numpy as jnp
  fs, n = ctx.fs, ctx.s.matmul_n
  out = {"float32": fs.matmul_peak(n, jnp.float32)}
  if ctx.device == "gpu":
    out["float32_highest"] = fs.matmul_peak(n, jnp.float32, precision="highest")
    out["bfloat16"] = fs.matmul_peak(n, jnp.bfloat16)
  return out


def fwd_grad(ctx: Context) -> list[dict]:
  """Forward + gradient of ``sum(layer)`` to the input, each (layer, size, batch), all variants interleaved."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch
  fs, ls = ctx.fs, ctx.ls
  rows = []
  dtypes = ctx.s.dtypes
  for layer, size, batch in ctx.s.fwd_grad:
    x = np.random.RandomState(1).rand(batch, size, size, 3).astype(np.float32)
    xj = jax.device_put(jnp.asarray(x))
    xt = torch.as_tensor(x).permute(0, 3, 1, 2).contiguous().to(ctx.torch_device)
    fns, compile_s, flops = {}, {}, None
    for dt in dtypes:
      jfn = fs.fwd_grad_fn(layer, dtype=getattr(jnp, dt))
      compiled, compile_s[dt] = fs.compile_timed(jfn, ctx.params, xj)
      if dt == "float32":
        flops = fs.cost_flops(lambda p, v, f=jfn: f(p, v), ctx.params, xj) if ctx.s.compiled_cost else \
            float((jfn.lower(ctx.params, xj).cost_analysis() or {}).get("flops", 0.0))
      fns[f"fcjax_{dt}"] = (lambda c=compiled: c(ctx.params, xj).block_until_ready())
    for name, tfn in ls.fwd_grad_fns(ctx.model_t, layer).items():
      fns[name] = (lambda f=tfn: (f(xt), ctx.sync()))
    t = interleaved(fns, ctx.s.repeats)
    fj = t["fcjax_float32"]["median_s"]
    row = {"layer": layer, "size": size, "batch": batch, "compile_s": compile_s,
           "median_ms": {k: 1e3 * v["median_s"] for k, v in t.items()},
           "min_ms": {k: 1e3 * v["min_s"] for k, v in t.items()},
           "ratio_vs_fcjax": {k: _ratio(v["median_s"], fj) for k, v in t.items() if not k.startswith("fcjax")},
           "flops_per_image": flops / batch if flops else None,
           "fcjax_flops_per_s": flops / fj if flops else None}
    rows.append(row)
    _log(f"  fwd_grad {layer} {size}px x{batch}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in row["median_ms"].items()))
  return rows


def sweep(ctx: Context) -> dict:
  """Sweep throughput: the fcjax sweep and Lucent's render_vis on identical work (module docstring).

  Lucent is warmed up first (one tiny render each way: first calls allocate and load kernels). With
  ``sweep_rounds`` > 1 every variant runs once per round, the order reversed every other round, and the best round
  (highest image-steps/s: the least disturbed by other processes) is reported with all rounds listed.
  """
  s, ls, fs = ctx.s, ctx.ls, ctx.fs
  common = dict(layer=s.layer, pair=s.pair, size=s.canvas_size, model_size=s.input_size)
  out: dict[str, Any] = {"layer": s.layer, "pair": list(s.pair), "canvas_size": s.canvas_size,
                         "input_size": s.input_size, "rounds": s.sweep_rounds, "runs": {}}
  all_runs: dict[str, list[dict]] = {}

  def lucent(key, batched, spec, truncate=False):
    a, se, st = spec or (s.n_angles, s.n_seeds, s.steps)
    r = ls.sweep(ctx.model_t, n_angles=a, n_seeds=se, steps=st, batched=batched, truncate=truncate, **common)
    r.update(n_angles=a, n_seeds=se, steps=st, extrapolated=spec is not None)
    all_runs.setdefault(key, []).append(r)
    if ctx.device == "gpu":
      import torch
      torch.cuda.empty_cache()  # give the memory back for the fcjax sweep
    _log(f"  {key}: {r['image_steps']} image-steps in {r['wall_s']:.1f} s = {r['image_steps_per_s']:.3f}/s")

  def fcjax(dtype):
    cfg = fs.sweep_config(n_angles=s.n_angles, n_seeds=s.n_seeds, steps=s.steps, canvas_size=s.canvas_size,
                          input_size=s.input_size, dtype=dtype)
    first = f"fcjax_{dtype}" not in all_runs
    r = fs.sweep(ctx.params, cfg, layer=s.layer, pair=s.pair, repeat=s.fcjax_repeat and first)
    r.update(n_angles=s.n_angles, n_seeds=s.n_seeds, steps=s.steps, dtype=dtype)
    if not first:  # programs cached since the first round: this run's wall time is all execution
      r["compile_s"] = all_runs[f"fcjax_{dtype}"][0]["compile_s"]
      r["timing"] = "later round (programs cached)"
    all_runs.setdefault(f"fcjax_{dtype}", []).append(r)
    _log(f"  fcjax {dtype}: {r['image_steps']} image-steps in {r['wall_s']:.1f} s = {r['image_steps_per_s']:.3f}/s "
         f"(compile {r['compile_s']:.0f} s, {r['timing']})")

  for batched in (False, True):  # warm-up, not recorded
    ls.sweep(ctx.model_t, n_angles=1, n_seeds=1, steps=1, batched=batched, **common)
  variants = [lambda: lucent("lucent_one_at_a_time", False, s.lucent_single),
              lambda: lucent("lucent_batched", True, s.lucent_batched)]
  if s.lucent_truncated_sweep:
    variants.append(lambda: lucent("lucent_batched_truncated", True, s.lucent_batched, truncate=True))
  variants += [lambda dt=dt: fcjax(dt) for dt in s.dtypes]
  for rnd in range(s.sweep_rounds):
    for v in (variants if rnd % 2 == 0 else variants[::-1]):
      v()
  for key, runs in all_runs.items():
    best = dict(max(runs, key=lambda r: r["image_steps_per_s"]))
    best["rounds_image_steps_per_s"] = [r["image_steps_per_s"] for r in runs]
    out["runs"][key] = best
  ref = out["runs"]["fcjax_float32"]["image_steps_per_s"]
  out["speedup"] = {k: {f"fcjax_{dt}": _ratio(out["runs"][f"fcjax_{dt}"]["image_steps_per_s"],
                                              v["image_steps_per_s"]) for dt in s.dtypes}
                    for k, v in out["runs"].items() if k.startswith("lucent")}
  out["fcjax_float32_image_steps_per_s"] = ref
  for dt in s.dtypes:
    ctx.sweep_ips[dt] = out["runs"][f"fcjax_{dt}"]["image_steps_per_s"]
  if s.lucent_single or s.lucent_batched:  # the full sweep's Lucent time, extrapolated per image-step
    full_is = out["runs"]["fcjax_float32"]["image_steps"]
    out["lucent_extrapolated_full_s"] = {k: full_is / v["image_steps_per_s"] for k, v in out["runs"].items()
                                         if k.startswith("lucent")}
  return out


def efficiency(ctx: Context) -> dict:
  """FLOPs per image-step (cost analysis of ONE step at batch ``cost_batch``), achieved FLOP/s, fraction of peak."""
  import jax
  s, fs = ctx.s, ctx.fs
  cfg = fs.sweep_config(n_angles=s.n_angles, n_seeds=s.n_seeds, steps=s.steps, canvas_size=s.canvas_size,
                        input_size=s.input_size)
  out: dict[str, Any] = {"cost_batch": s.cost_batch, "source": "compiled" if s.compiled_cost else "lowered HLO"}
  for dt in s.dtypes:
    parts = fs.step_parts(ctx.params, cfg.replace(dtype=dt), layer=s.layer, pair=s.pair)
    ex = parts.example(s.cost_batch)
    lowered = jax.jit(parts.step).lower(*ex["step"])
    ca = (lowered.compile() if s.compiled_cost else lowered).cost_analysis()
    if isinstance(ca, (list, tuple)):
      ca = ca[0] if ca else {}
    flops = float((ca or {}).get("flops", 0.0)) / s.cost_batch
    parts_flops = {}
    for name in ("render", "transform", "model", "optimizer"):
      c = jax.jit(getattr(parts, name)).lower(*ex[name]).cost_analysis() or {}
      parts_flops[name] = float(c.get("flops", 0.0)) / s.cost_batch
    ips = ctx.sweep_ips.get(dt)
    achieved = flops * ips if ips else None
    out[dt] = {"flops_per_image_step": flops, "bytes_per_image_step": float((ca or {}).get("bytes accessed", 0.0))
               / s.cost_batch, "parts_flops_per_image": parts_flops, "sweep_image_steps_per_s": ips,
               "achieved_flops_per_s": achieved}
  return out


def profile(ctx: Context) -> dict:
  """One step at batch ``cost_batch`` in parts (each jitted and timed alone), per image, against the sweep."""
  import jax
  s, fs = ctx.s, ctx.fs
  cfg = fs.sweep_config(n_angles=s.n_angles, n_seeds=s.n_seeds, steps=s.steps, canvas_size=s.canvas_size,
                        input_size=s.input_size)
  parts = fs.step_parts(ctx.params, cfg, layer=s.layer, pair=s.pair)
  ex = parts.example(s.cost_batch)
  fns = {}
  for name in ("step", "render", "transform", "model", "optimizer"):
    compiled = jax.jit(getattr(parts, name)).lower(*ex[name]).compile()
    fns[name] = (lambda c=compiled, a=ex[name]: jax.block_until_ready(c(*a)))
  t = interleaved(fns, s.repeats)
  per_image_ms = {k: 1e3 * v["median_s"] / s.cost_batch for k, v in t.items()}
  ips = ctx.sweep_ips.get("float32")
  out = {"batch": s.cost_batch, "per_image_ms": per_image_ms}
  if ips:
    out["sweep_per_image_step_ms"] = 1e3 / ips
    out["sweep_overhead_ms"] = 1e3 / ips - per_image_ms["step"]
  return out


def stats(ctx: Context) -> dict:
  """Statistics throughput: ``benchmarks.bench_stats.run`` (owned by the stats work)."""
  from benchmarks import bench_stats
  return bench_stats.run(ctx.s.quick_stats)


# ------------------------------------------------------------------------------------------------------ runner

def run(settings: Settings, *, device: str = "cpu", threads: int | None = None, command: str = "") -> dict:
  """Run every section of ``settings`` and return the results dict (see the module docstring)."""
  import jax
  import torch
  if threads:
    torch.set_num_threads(threads)
  t0 = time.perf_counter()
  results: dict[str, Any] = {"meta": {
      "command": command, "preset": settings.name, "settings": dataclasses.asdict(settings), "device": device,
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "host": platform.node(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "threads": threads or "default",
      "python": platform.python_version(), "loadavg_start": _loadavg(),
      "jax_devices": [str(d) for d in jax.devices()]}}
  _log(f"preset {settings.name} on {device}; load {results['meta']['loadavg_start']}")
  ctx = Context(settings, device)
  from benchmarks import fcjax_side, lucent_side
  results["meta"]["versions"] = {**fcjax_side.versions(), **lucent_side.versions()}
  _section(results, "correctness", lambda: correctness(ctx))
  _section(results, "matmul_peak", lambda: matmul_peak(ctx))
  _section(results, "fwd_grad", lambda: fwd_grad(ctx))
  _section(results, "sweep", lambda: sweep(ctx))
  _section(results, "efficiency", lambda: efficiency(ctx))
  if settings.profile:
    _section(results, "profile", lambda: profile(ctx))
  if settings.stats:
    _section(results, "stats", lambda: stats(ctx))
  else:
    results["stats"] = {"skipped": f"not in preset {settings.name}"}
  peak = (results.get("matmul_peak") or {}).get("float32", {}).get("flops_per_s")
  for dt, e in (results.get("efficiency") or {}).items():
    if isinstance(e, dict) and e.get("achieved_flops_per_s") and peak:
      e["fraction_of_matmul_peak"] = e["achieved_flops_per_s"] / peak
      if dt == "bfloat16" and "bfloat16" in results["matmul_peak"]:
        e["fraction_of_bf16_matmul_peak"] = e["achieved_flops_per_s"] / results["matmul_peak"]["bfloat16"][
            "flops_per_s"]
  results["meta"]["loadavg_end"] = _loadavg()
  results["meta"]["wall_s"] = time.perf_counter() - t0
  return results


def _configure_environment(device: str, threads: int | None) -> None:
  """Environment that must be set before JAX is imported."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if device == "cpu":
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
  else:  # JAX and PyTorch share the accelerator: JAX must not take 75 % of its memory up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  if threads:
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={threads}").strip()
    os.environ["OMP_NUM_THREADS"] = str(threads)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="the < 10 min CPU run (preset 'quick')")
  parser.add_argument("--preset", choices=sorted(PRESETS), help="settings preset (default: full, or gpu)")
  parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
  parser.add_argument("--threads", type=int, default=None, help="threads for both sides (default: each library's)")
  parser.add_argument("--out", default=None, help="results JSON (default benchmarks/results_<device>[_quick].json)")
  parser.add_argument("--results-md", default=None, help="refresh the generated block of this RESULTS.md")
  parser.add_argument("--from-json", default=None, help="do not measure: print (and with --results-md write) the "
                      "tables of a results JSON written earlier")
  args = parser.parse_args(argv)
  if args.from_json:
    results = json.loads(pathlib.Path(args.from_json).read_text())
    text = tables(results)
    print(text)
    if args.results_md:
      update_results_md(pathlib.Path(args.results_md), text, _heading(results["meta"]))
    return 0
  preset = args.preset or ("quick" if args.quick else ("gpu" if args.device == "gpu" else "full"))
  _configure_environment(args.device, args.threads)
  if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
  command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
  results = run(PRESETS[preset], device=args.device, threads=args.threads, command=command.strip())
  suffix = "" if preset in ("full", "gpu") else f"_{preset}"
  suffix += f"_threads{args.threads}" if args.threads else ""
  out = pathlib.Path(args.out or ROOT / "benchmarks" / f"results_{args.device}{suffix}.json")
  out.write_text(json.dumps(results, indent=1, default=str))
  text = tables(results)
  print(text)
  _log(f"wrote {out}")
  if args.results_md:
    update_results_md(pathlib.Path(args.results_md), text, _heading(results["meta"]))
    _log(f"updated {args.results_md}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
