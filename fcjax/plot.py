"""The feature-combination plot (Figure 2 of the paper) and the multi-panel figure.

One panel shows one pair of a :class:`fcjax.result.SweepResult` in its *scaled* activation space: each axis is divided
by that unit's unconstrained maximum s_i (the negative half-axis by the same factor), so the axis tips at 1 are the
unit maxima; tick labels show raw activations. On it:

* the grey cloud of natural-image activations (``cloud``: raw [N, 2], scaled the same way);
* every seed's final point (faint) and the best-over-seeds point at each angle (dark);
* the red closed loop of mean C over seeds at each angle theta, in polar coordinates about the origin. C lives in a
  different space from y but theta does not, so the loop may be scaled about the origin and never rotated or moved;
  a negative mean is drawn at radius 0 (a negative radius would land on the opposite ray). The seed spread
  (mean +- std) is shaded. The default scale is 1: C of a point exactly on its ray equals its scaled radius, so the loop
  then passes through the points wherever the optimiser reached its target direction;
* the optimised image of every other angle, just beyond its point and the loop, along the angle's ray (so thumbnails
  never overlap each other or the loop), linked to its point by a faint line;
* each unit's maximising image beyond the ring at the end of its axis.

Everything is drawn in data coordinates (thumbnails are ``imshow`` with an extent), so positions are exact and do not
depend on the figure size. Artists carry gids for tests and tools: 'fc-cloud', 'fc-seeds', 'fc-best', 'fc-loop',
'fc-loop-spread', 'fc-thumb', 'fc-thumb-link', 'fc-tip', 'fc-tip-mark', 'fc-measures'; :func:`artists` finds them.

Library functions return a ``matplotlib.figure.Figure`` built without pyplot (no global figure registry, no GUI
backend needed); they never write files. Save with ``fig.savefig('plot.png', dpi=150)`` or ``.pdf`` / ``.svg``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter

from fcjax import errors, measures

LOOP_COLOR = "#d62728"
CLOUD_COLOR = "0.55"
POINT_COLOR = "0.1"
TIP_COLORS = ("#1f77b4", "#2ca02c")
_NICE = (1.0, 2.0, 5.0)
_MAX_THUMB = 0.35  # largest thumbnail side, in units of the points' extent (for sweeps with few angles)
# Centre distance between neighbouring thumbnails, in thumbnail sides: >= sqrt(2) keeps two axis-aligned squares apart
# whatever the direction between them.
_CHORD = 1.45


def artists(fig_or_ax: Figure | Axes, gid: str) -> list:
  """Every artist with this gid in a figure or axes (e.g. ``len(artists(fig, 'fc-thumb'))``)."""
  return [a for a in fig_or_ax.findobj(lambda a: a.get_gid() == gid)]


def loop_scale_for(c_mean: np.ndarray, points: np.ndarray) -> float:
  """The default factor from mean C to loop radius: 1, unless the loop would be under a quarter of the points'
  extent (a sweep whose optimiser mostly missed), then the nice number that brings its largest radius up to that extent.

  c_mean: float [A]; points: float [A, 2] best scaled points.
  """
  cmax = float(np.nanmax(c_mean)) if np.isfinite(c_mean).any() else 0.0
  rmax = float(np.nanmax(np.hypot(points[:, 0], points[:, 1]))) if np.isfinite(points).any() else 0.0
  if cmax <= 0 or rmax <= 0 or cmax >= 0.25 * rmax:
    return 1.0
  k = rmax / cmax
  e = 10.0 ** math.floor(math.log10(k))
  return max(m * e for m in _NICE + (10.0,) if m * e <= k * (1 + 1e-9))  # nice number <= k: the loop stays inside


def _downsample(img: np.ndarray, max_px: int) -> np.ndarray:
  """Box-average an [H, W, 3] image by an integer factor so that its side is at most about ``max_px``."""
  f = int(math.ceil(max(img.shape[0], img.shape[1]) / max_px))
  if f <= 1:
    return img
  h, w = img.shape[0] // f * f, img.shape[1] // f * f
  out = img[:h, :w].reshape(h // f, f, w // f, f, -1).astype(np.float32).mean(axis=(1, 3))
  return out.round().astype(np.uint8) if img.dtype == np.uint8 else out


def _check(result, pair: int, cloud) -> np.ndarray | None:
  n_pairs = int(np.asarray(result.pairs).shape[0])
  if not 0 <= pair < n_pairs:
    raise errors.FcjaxError(f"pair index {pair} out of range: this result has {n_pairs} pair(s) (0..{n_pairs - 1})")
  s = np.asarray(result.scales[pair], np.float64)
  if not np.all(np.isfinite(s) & (s > 0)):
    i, j = (int(u) for u in result.pairs[pair])
    raise errors.FcjaxError(f"cannot draw pair ({i}, {j}): unit scales {s.tolist()} must be positive (phase 1 never "
                            "drove a unit above 0; check the layer, use a pre-ReLU tensor, or run more steps)")
  if cloud is None:
    return None
  cloud = np.asarray(cloud, np.float64)
  if cloud.ndim != 2 or cloud.shape[1] != 2:
    raise errors.FcjaxError(f"cloud must be [N, 2] raw activations of the pair's two units, got shape {cloud.shape}")
  return cloud[np.all(np.isfinite(cloud), axis=1)]


def annotations(result, pair: int = 0, cloud: np.ndarray | None = None, *, loop_scale: float | None = None,
                summary: dict | None = None) -> list[str]:
  """The short text lines a panel shows under its axes: the loop scale, then the motif measures.

  ``summary`` (from :func:`fcjax.measures.summarize`) is computed when not given.
  """
  s = measures.summarize(result, pair, cloud) if summary is None else summary
  if loop_scale is None:
    c = np.asarray(result.c[pair], np.float64)
    y = np.asarray(result.y_best[pair], np.float64) / np.asarray(result.scales[pair], np.float64)
    loop_scale = loop_scale_for(c.mean(-1), y)
  f = measures.fmt
  quad = "  ".join(f"{k} {f(s[f'quadrant_rel_{k}'])}" for k in measures.QUADRANTS)
  col = f" (collapsed {', '.join(s['collapsed'])})" if s["collapsed"] else ""
  lines = [f"red loop: radius = {loop_scale:g} x mean C over {s['seeds']} seeds (negative -> 0)",
           f"rel. C  {quad}{col};  C>0 at {f(100 * s['pos_frac'], '.0f')}%"]
  q = f"frontier q {f(s['q'], '.3g')} (rms {f(100 * s['q_rel_rms'], '.1f')}% of r)" if math.isfinite(s["q"]) \
      else "frontier q n/a"
  reach = (f"reach x{f(s['reach_median'], '.2g')} median, x{f(s['reach_max'], '.2g')} max"
           if math.isfinite(s["reach_median"]) else "reach n/a (no cloud)" if cloud is None else "reach n/a")
  lines.append(f"{q};  {reach}")
  return lines


def combination_plot(result, pair: int = 0, *, cloud: np.ndarray | None = None, correlation: float | None = None,
                     ax: Axes | None = None, thumbnails: bool = True, loop_scale: float | None = None,
                     label: str | None = None, legend: bool = True, measures_text: bool = True,
                     thumb_px: int = 128) -> Figure:
  """Draw one pair's feature-combination plot.

  Args:
    result: a :class:`fcjax.result.SweepResult`.
    pair: index into ``result.pairs``.
    cloud: optional float [N, 2] raw activations of the pair's two units on natural images (e.g. the two channels'
      columns of ``LayerStats.samples``); drawn as N grey points, scaled by the result's scales.
    correlation: the pair's natural-image correlation, shown in the title.
    ax: axes to draw into (its figure is returned); a new 6.4 x 7 inch figure when None.
    thumbnails: draw the optimised image of every other angle (ceil(A / 2) images) and the two unit-maximum images.
    loop_scale: loop radius per unit of mean C; None chooses it (:func:`loop_scale_for`, usually 1). Stated in the
      legend and the text under the axes.
    label: a panel label put before the title (e.g. 'a  mixed4a, lowest r').
    legend, measures_text: draw the legend / the measure lines (:func:`annotations`) under the axes.
    thumb_px: thumbnails larger than this are box-averaged down (keeps PDF/SVG files small).

  Returns:
    the ``Figure``.
  """
  cloud_raw = _check(result, pair, cloud)
  if ax is None:
    fig = Figure(figsize=(6.4, 7.0), layout="constrained")
    ax = fig.add_subplot()
  fig = ax.figure
  thetas = np.asarray(result.thetas, np.float64)
  a_n = thetas.size
  scales = np.asarray(result.scales[pair], np.float64)
  c = np.asarray(result.c[pair], np.float64)                  # [A, S]
  ys = np.asarray(result.y[pair], np.float64) / scales         # [A, S, 2]
  best_seed = np.argmax(np.where(np.isfinite(c), c, -np.inf), axis=-1)
  best = ys[np.arange(a_n), best_seed]                         # [A, 2]
  c_mean, c_std = c.mean(-1), c.std(-1)
  k = loop_scale_for(c_mean, best) if loop_scale is None else float(loop_scale)
  r_loop = k * np.maximum(c_mean, 0.0)
  r_lo, r_hi = k * np.maximum(c_mean - c_std, 0.0), k * np.maximum(c_mean + c_std, 0.0)
  cloud_s = None if cloud_raw is None else cloud_raw / scales
  i_unit, j_unit = (int(u) for u in result.pairs[pair])

  # --- layout in data (scaled) coordinates ---------------------------------------------------------------------
  # Thumbnails are squares of side t, sized so that ceil(A/2) of them fit around a ring just outside the points
  # (chord between neighbours >= _CHORD * t); each sits on its angle's ray just beyond every point and the loop band
  # within its angular extent. The unit-maximum images sit on the positive axes beyond that ring.
  n_thumb = (a_n + 1) // 2
  thumb_idx = np.arange(0, a_n, 2)
  obst_pts = np.concatenate([ys.reshape(-1, 2), best], 0)
  obst_pts = obst_pts[np.all(np.isfinite(obst_pts), 1)]
  obst_rho, obst_phi = np.hypot(obst_pts[:, 0], obst_pts[:, 1]), np.arctan2(obst_pts[:, 1], obst_pts[:, 0])
  r_band = np.nan_to_num(r_hi, nan=0.0)  # a diverged angle (NaN C) leaves a gap in the loop, not in the layout
  r_obs = max(1.0, float(obst_rho.max(initial=0.0)), float(r_band.max(initial=0.0)))
  t = r_obs * min(_MAX_THUMB, 2 * math.pi * 1.1 / (_CHORD * max(n_thumb, 1)))
  gap = 0.03 * r_obs
  d = t / math.sqrt(2.0)  # half-diagonal: clears the box in any direction
  step = 2.0 * (2 * math.pi / max(a_n, 1))  # angle between consecutive thumbnails
  r_min = _CHORD * t / (2 * math.sin(min(step, math.pi) / 2)) if n_thumb > 1 else 0.0
  centres = np.zeros((thumb_idx.size, 2))
  for n, a in enumerate(thumb_idx):
    th = thetas[a]
    r0 = float(np.hypot(*best[a])) if np.isfinite(best[a]).all() else 0.0
    for _ in range(3):  # obstacles (points, loop band) within the box's angular extent at its current radius
      w = math.atan2(d, max(max(r0 + gap + d, r_min) - d, 1e-9))
      near_p = np.abs(np.angle(np.exp(1j * (obst_phi - th)))) <= w
      near_l = np.abs(np.angle(np.exp(1j * (thetas - th)))) <= w + math.pi / max(a_n, 1)
      r0 = max(r0, float(obst_rho[near_p].max(initial=0.0)), float(r_band[near_l].max(initial=0.0)))
    centres[n] = max(r0 + gap + d, r_min) * np.array([math.cos(th), math.sin(th)])
  ring = float(np.max(np.hypot(centres[:, 0], centres[:, 1]))) + d if (thumbnails and n_thumb) else r_obs
  t_tip = 1.3 * t
  r_tip = ring + gap + t_tip / 2
  ext = [ring, r_tip + t_tip / 2 if thumbnails else r_obs]
  if cloud_s is not None and cloud_s.size:
    ext.append(float(np.max(np.abs(cloud_s))))
  lim = max(ext) * 1.03

  # --- artists -----------------------------------------------------------------------------------------------
  if cloud_s is not None:
    ax.scatter(cloud_s[:, 0], cloud_s[:, 1], s=3, c=CLOUD_COLOR, alpha=0.35, linewidths=0, zorder=1,
               rasterized=True, gid="fc-cloud", label=f"natural images (N = {cloud_s.shape[0]})")
  th_c, th_s = np.cos(thetas), np.sin(thetas)
  quads = [np.array([[r_lo[a] * th_c[a], r_lo[a] * th_s[a]], [r_hi[a] * th_c[a], r_hi[a] * th_s[a]],
                     [r_hi[b] * th_c[b], r_hi[b] * th_s[b]], [r_lo[b] * th_c[b], r_lo[b] * th_s[b]]])
           for a, b in zip(range(a_n), np.roll(np.arange(a_n), -1))]
  ax.add_collection(PolyCollection(quads, facecolors=LOOP_COLOR, edgecolors="none", alpha=0.18, zorder=2,
                                   gid="fc-loop-spread"), autolim=False)
  seeds = c.shape[-1]
  ax.scatter(ys[..., 0].ravel(), ys[..., 1].ravel(), s=5, c=POINT_COLOR, alpha=0.25, linewidths=0, zorder=3,
             gid="fc-seeds", label=f"each seed ({seeds})")
  ax.scatter(best[:, 0], best[:, 1], s=12, c=POINT_COLOR, linewidths=0, zorder=4, gid="fc-best",
             label="best seed per angle")
  loop_x = np.append(r_loop * th_c, r_loop[0] * th_c[0])
  loop_y = np.append(r_loop * th_s, r_loop[0] * th_s[0])
  ax.plot(loop_x, loop_y, color=LOOP_COLOR, lw=1.6, marker=".", ms=4, zorder=5, gid="fc-loop",
          label=f"mean C over {seeds} seeds (radius = {k:g} x C), +-1 std shaded")

  if thumbnails:
    links = []
    for n, a in enumerate(thumb_idx):
      img = _downsample(np.asarray(result.images[pair, a, best_seed[a]]), thumb_px)
      cx, cy = centres[n]
      ax.imshow(img, extent=(cx - t / 2, cx + t / 2, cy - t / 2, cy + t / 2), zorder=6, gid="fc-thumb",
                interpolation="antialiased")
      if np.isfinite(best[a]).all():  # from the point to the thumbnail's near side
        rc = max(float(np.hypot(cx, cy)), 1e-12)
        links.append([best[a], centres[n] * max(rc - d, 0.0) / rc])
    ax.add_collection(LineCollection(links, colors="0.5", linewidths=0.5, alpha=0.5, zorder=3, gid="fc-thumb-link"),
                      autolim=False)
    for u, (axis, unit, col) in enumerate(zip((np.array([1.0, 0.0]), np.array([0.0, 1.0])), (i_unit, j_unit),
                                             TIP_COLORS)):
      img = _downsample(np.asarray(result.unit_images[pair, u]), thumb_px)
      cx, cy = axis * r_tip
      h = t_tip / 2
      ax.imshow(img, extent=(cx - h, cx + h, cy - h, cy + h), zorder=6, gid="fc-tip", interpolation="antialiased")
      ax.add_patch(Rectangle((cx - h, cy - h), 2 * h, 2 * h, fill=False, ec=col, lw=1.5, zorder=7))
      ax.plot([axis[0], cx - h * axis[0]], [axis[1], cy - h * axis[1]], color=col, lw=0.8, ls=":", zorder=2)
      txt = f"unit {unit}\nmax {scales[u]:.3g}"
      if u == 0:
        ax.text(cx, cy - h - 0.01 * lim, txt, ha="center", va="top", fontsize=7, color=col, zorder=7)
      else:
        ax.text(cx + h + 0.01 * lim, cy, txt, ha="left", va="center", fontsize=7, color=col, zorder=7)
  ax.plot([1.0, 0.0], [0.0, 1.0], ls="none", marker="o", ms=5, mfc="white", zorder=5, gid="fc-tip-mark",
          mec=POINT_COLOR)

  # --- axes: spines through the origin, scaled positions, raw tick labels ----------------------------------------
  lo = min(-1.0, math.floor(min(0.0, float(np.nanmin(obst_pts)) if obst_pts.size else 0.0) * 2) / 2)
  ax.set_aspect("equal")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  for name in ("top", "right"):
    ax.spines[name].set_visible(False)
  for name, axis, s in (("bottom", ax.xaxis, scales[0]), ("left", ax.yaxis, scales[1])):
    ax.spines[name].set_position(("data", 0.0))
    ax.spines[name].set_bounds(lo, 1.0)
    # half and whole scale on both sides, plus the far end of a longer negative half-axis (no tick crowding)
    ticks = sorted({-1.0, -0.5, 0.5, 1.0} | ({lo} if lo < -1.0 else set()))
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos, s=s: f"{v * s:.3g}"))
  ax.tick_params(labelsize=6, length=2, pad=1)
  r = "n/a" if correlation is None or not math.isfinite(correlation) else f"{correlation:+.2f}"
  where = f"{result.layer}" if result.layer else "features"
  title = f"{result.model} {where} [{result.readout}]: units {i_unit} & {j_unit}, r = {r}"
  ax.set_title(f"{label}\n{title}" if label else title, fontsize=8)
  if legend:
    ax.legend(loc="lower left", fontsize=6, framealpha=0.8, markerscale=1.5, borderaxespad=0.2)
  if measures_text:
    text = "\n".join(annotations(result, pair, cloud_raw, loop_scale=k))
    ax.text(0.5, -0.01, text, transform=ax.transAxes, ha="center", va="top", fontsize=6, gid="fc-measures",
            family="monospace")
  return fig


def _panel(p: Any) -> dict:
  if isinstance(p, Mapping):
    d = dict(p)
  elif isinstance(p, Sequence):
    d = dict(zip(("result", "pair", "cloud", "correlation", "label"), p))
  else:
    d = {"result": p}
  if "result" not in d:
    raise errors.FcjaxError("each panel needs a 'result' (a SweepResult)")
  return d


def figure(panels: Iterable[Any], ncols: int = 3, *, panel_size: float = 4.6, thumbnails: bool = True) -> Figure:
  """The multi-panel figure in the paper's style: e.g. per layer, its highest, lowest and closest-to-zero pairs.

  Args:
    panels: each a dict with keys ``result`` (required), ``pair`` (0), ``cloud`` (None), ``correlation`` (None),
      ``label`` (None), or a tuple in that order, or a bare SweepResult.
    ncols: panels per row (3: highest, lowest, zero for one layer per row).
    panel_size: inches per panel side.

  Returns:
    a Figure with one axes per panel (row-major).
  """
  ps = [_panel(p) for p in panels]
  if not ps:
    raise errors.FcjaxError("figure() needs at least one panel")
  ncols = max(1, min(int(ncols), len(ps)))
  nrows = math.ceil(len(ps) / ncols)
  fig = Figure(figsize=(ncols * panel_size, nrows * (panel_size + 0.9)), layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
  for n, p in enumerate(ps):
    combination_plot(p["result"], int(p.get("pair", 0) or 0), cloud=p.get("cloud"), correlation=p.get("correlation"),
                     ax=axes[n], thumbnails=thumbnails, label=p.get("label"), legend=(n == 0))
  for ax in axes[len(ps):]:
    ax.remove()
  return fig
