"""The benchmark report: Markdown tables of a results dict, and the generated blocks of RESULTS.md they refresh."""

from __future__ import annotations

import pathlib
from typing import Any

BEGIN, END = "<!-- BEGIN GENERATED (python -m benchmarks.run --results-md) -->", "<!-- END GENERATED -->"


def _f(v: Any, fmt: str = ".3g") -> str:
  if v is None:
    return "-"
  if isinstance(v, float):
    return format(v, fmt)
  return str(v)


def tables(results: dict) -> str:
  """Markdown tables of a results dict (what the runner prints and what goes into RESULTS.md)."""
  m = results["meta"]
  v = m.get("versions", {})
  lines = [f"Preset `{m['preset']}` on {m['device']} ({m['cpu']}, {m['cpu_count']} cores, threads {m['threads']}), "
           f"{m['date']}, {m.get('wall_s', 0):.0f} s; load average {m['loadavg_start']} -> {m.get('loadavg_end')}.",
           f"Command: `{m['command']}`. Versions: jax {v.get('jax')}, torch {v.get('torch')}, torch-lucent "
           f"{v.get('torch_lucent')} (import stand-ins: {v.get('lucent_import_standins')}), torch threads "
           f"{v.get('torch_threads')}, JAX devices {v.get('jax_devices')}, default matmul precision "
           f"{v.get('jax_default_matmul_precision')}.", ""]
  for name in ("correctness", "matmul_peak", "fwd_grad", "sweep", "efficiency", "profile", "stats"):
    sec = results.get(name)
    if isinstance(sec, dict) and "error" in sec:
      lines += [f"**{name}: failed**: `{sec['error']}`", ""]
  c = results.get("correctness")
  if isinstance(c, dict) and "error" not in c:
    lines += [f"Same function: {c['layer']} at {c['size']} px, max |acts fcjax - Lucent| = "
              f"{c['acts_max_abs_diff']:.2e} (max |acts| {c['acts_max_abs']:.3g}); cosdot fcjax {c['cosdot_fcjax']:.6g}"
              f" vs Lucent objective {c['cosdot_lucent']:.6g}.", ""]
  sw = results.get("sweep")
  if isinstance(sw, dict) and "error" not in sw:
    lines += [f"**Sweep throughput** ({sw['layer']}, pair {tuple(sw['pair'])}, canvas {sw['canvas_size']} px -> "
              f"input {sw['input_size']} px; FFT + decorrelation, standard transforms, Adam 0.05)", "",
              "| run | angles x seeds (+2 x seeds unit maxima) | steps | wall s | image-steps/s | fcjax f32 speedup |",
              "|---|---|---|---|---|---|"]
    for k, r in sw["runs"].items():
      sp = sw["speedup"].get(k, {}).get("fcjax_float32")
      extra = " (extrapolated)" if r.get("extrapolated") else ""
      comp = f", compile {r['compile_s']:.0f} s, {r['timing']}" if "compile_s" in r else ""
      if len(r.get("rounds_image_steps_per_s", [])) > 1:
        comp += ", rounds " + "/".join(f"{v:.3g}" for v in r["rounds_image_steps_per_s"])
      lines.append(f"| {k}{extra}{comp} | {r['n_angles']} x {r['n_seeds']} | {r['steps']} | {r['wall_s']:.1f} | "
                   f"{r['image_steps_per_s']:.3g} | {_f(sp)} |")
    if sw.get("lucent_extrapolated_full_s"):
      lines += ["", "Lucent time for the fcjax run's work, extrapolated per image-step: " + ", ".join(
          f"{k} {t:.1f} s" for k, t in sw["lucent_extrapolated_full_s"].items())]
    lines.append("")
  fg = results.get("fwd_grad")
  if isinstance(fg, list) and fg:
    keys = list(fg[0]["median_ms"])
    lines += ["**Forward + gradient to the input** (median ms per call; ratio = other / fcjax float32)", "",
              "| layer | size | batch | " + " | ".join(keys) + " | Lucent as run / fcjax | Lucent truncated / fcjax"
              " | plain PyTorch / fcjax | fcjax GFLOP/s |", "|" + "---|" * (len(keys) + 7)]
    for r in fg:
      rv = r["ratio_vs_fcjax"]
      lines.append(f"| {r['layer']} | {r['size']} | {r['batch']} | " + " | ".join(
          f"{r['median_ms'][k]:.0f}" for k in keys) + f" | {_f(rv.get('lucent_as_run'))} | "
          f"{_f(rv.get('lucent_truncated'))} | {_f(rv.get('torch_plain'))} | "
          f"{_f((r.get('fcjax_flops_per_s') or 0) / 1e9)} |")
    lines.append("")
  pk = results.get("matmul_peak")
  ef = results.get("efficiency")
  if isinstance(pk, dict) and "error" not in pk:
    lines.append("**Matmul peak** (measured in this run): " + ", ".join(
        f"{k} {p['flops_per_s'] / 1e9:.1f} GFLOP/s (n={p['n']})" for k, p in pk.items()))
    lines.append("")
  if isinstance(ef, dict) and "error" not in ef:
    lines += [f"**Hardware efficiency** (XLA cost analysis of one step, {ef['source']}, batch {ef['cost_batch']})", "",
              "| dtype | GFLOP per image-step | of which model / transforms / render / optimizer | sweep image-steps/s"
              " | achieved GFLOP/s | fraction of f32 matmul peak |", "|---|---|---|---|---|---|"]
    for dt, e in ef.items():
      if not isinstance(e, dict):
        continue
      pf = e["parts_flops_per_image"]
      lines.append(f"| {dt} | {e['flops_per_image_step'] / 1e9:.3g} | " + " / ".join(
          f"{pf[k] / 1e9:.3g}" for k in ("model", "transform", "render", "optimizer")) +
          f" | {_f(e['sweep_image_steps_per_s'])} | {_f((e.get('achieved_flops_per_s') or 0) / 1e9)} | "
          f"{_f(e.get('fraction_of_matmul_peak'))}" + (
              f" (of the bf16 peak: {e['fraction_of_bf16_matmul_peak']:.3g})"
              if e.get("fraction_of_bf16_matmul_peak") else "") + " |")
    lines.append("")
  pr = results.get("profile")
  if isinstance(pr, dict) and "error" not in pr:
    lines += [f"**Profile of one step** (batch {pr['batch']}, ms per image, each part jitted alone): " + ", ".join(
        f"{k} {t:.1f}" for k, t in pr["per_image_ms"].items()) + (
        f"; the sweep spends {pr['sweep_per_image_step_ms']:.1f} ms per image-step (difference to one step: "
        f"{pr['sweep_overhead_ms']:.1f} ms)" if "sweep_per_image_step_ms" in pr else ""), ""]
  st = results.get("stats")
  if isinstance(st, dict) and "error" not in st:
    flat = {k: v for k, v in st.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    lines += ["**Statistics**: " + ", ".join(f"{k} {_f(v)}" for k, v in flat.items()), ""]
  return "\n".join(lines)


def update_results_md(path: pathlib.Path, text: str, heading: str) -> None:
  """Replace the generated block for ``heading`` in ``path`` (created if absent); the hand-written rest stays."""
  begin, end = f"{BEGIN}\n<!-- {heading} -->", f"<!-- /{heading} -->\n{END}"
  block = f"{begin}\n{text}\n{end}"
  old = path.read_text() if path.exists() else ""
  if begin in old and end in old:
    new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
  else:
    new = old.rstrip() + ("\n\n" if old else "") + block + "\n"
  path.write_text(new)


def _heading(meta: dict) -> str:
  """The name of a run's generated block in RESULTS.md: device, preset, threads."""
  threads = meta.get("threads")
  return f"{meta['device']} {meta['preset']}" + (f" threads={threads}" if threads not in (None, "default") else "")
