"""The feature-combination plot (Figure 2 of the paper) and the multi-panel figure.

One panel shows one pair of a :class:`fcjax.result.SweepResult` in its *scaled* activation space: each axis is divided
by that unit's unconstrained maximum s_i (the negative half-axis by the same factor, as in the paper), so the axis
tips at 1 are the unit maxima; tick labels are nice raw activations. Each axis runs over its own extent on each side
(a negative half-axis may run far longer than the positive one), the aspect stays equal (the loop is polar). On it:

* the grey cloud of natural-image activations (``cloud``: raw [N, 2], scaled the same way);
* every seed's final point (faint) and the best-over-seeds point at each angle (dark);
* the red closed loop of mean C over seeds at each angle theta, in polar coordinates about the origin. C lives in a
  different space from y but theta does not, so the loop may be scaled about the origin and never rotated or moved;
  a negative mean is drawn at radius 0 (a negative radius would land on the opposite ray). The seed spread
  (mean +- std) is shaded. The default scale is 1: C of a point exactly on its ray equals its scaled radius, so the loop
  then passes through the points wherever the optimiser reached its target direction;
* the optimised image of every other angle on the angle's ray, just beyond its point and the loop (pushed further out
  only as far as it takes to clear the points, the loop and the thumbnails already placed), linked by a faint line;
* each unit's maximising image just beyond the tip of its positive axis;
* the verdict of each quadrant (:func:`fcjax.measures.summarize`) in its corner, coloured; the measures under the axes;
  and, for a figure the function makes itself, a footer naming objective, recipe, model, weights digest and data.

Everything is drawn in data coordinates (thumbnails are ``imshow`` with an extent), so positions are exact and do not
depend on the figure size. Artists carry gids for tests and tools: 'fc-cloud', 'fc-seeds', 'fc-best', 'fc-loop',
'fc-loop-spread', 'fc-thumb', 'fc-thumb-link', 'fc-tip', 'fc-tip-mark', 'fc-measures', 'fc-verdict', 'fc-footer';
:func:`artists` finds them.

Library functions return a ``matplotlib.figure.Figure`` built without pyplot (no global figure registry, no GUI
backend needed); they never write files. Save with ``fig.savefig('plot.png', dpi=150)`` or ``.pdf`` / ``.svg``.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from fcjax import _orthant, errors, measures

LOOP_COLOR = "#d62728"
CLOUD_COLOR = "0.55"
POINT_COLOR = "0.1"
TIP_COLORS = ("#1f77b4", "#2ca02c")
VERDICT_COLORS = {"possible": "#1a7f37", "collapsed": "#cf222e", "uncertain": "#9a6700"}
_NICE = (1.0, 2.0, 5.0)
_THUMB = 0.085  # thumbnail side, as a fraction of the larger side of the data box (points, cloud, unit tips)
_FONT = 7  # points: the smallest text; readable at 100% on a 4.6 inch panel


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
  return _orthant.finite_cloud(cloud, 2)[0]


def annotations(result, pair: int = 0, cloud: np.ndarray | None = None, *, loop_scale: float | None = None,
                summary: dict | None = None) -> list[str]:
  """The text lines a panel shows under its axes: the loop scale, the verdicts, the corner measures, q and reach, and
  the paper-style relative C. ``summary`` (:func:`fcjax.measures.summarize`) is computed when not given."""
  s = measures.summarize(result, pair, cloud) if summary is None else summary
  if loop_scale is None:
    c = np.asarray(result.c[pair], np.float64)
    y = np.asarray(result.y_best[pair], np.float64) / np.asarray(result.scales[pair], np.float64)
    loop_scale = loop_scale_for(c.mean(-1), y)
  f, qs = measures.fmt, measures.QUADRANTS
  reach = (f"reach x{f(s['reach_median'], '.2g')} median, x{f(s['reach_max'], '.2g')} max"
           if math.isfinite(s["reach_median"]) else "reach n/a (no cloud)" if cloud is None else "reach n/a")

  def row(key, spec=".2f"):
    return "  ".join(f"{q} {f(s[key + q], spec)}" for q in qs)

  return [f"red loop: radius = {loop_scale:g} x mean C over {s['seeds']} seeds (< 0 -> 0)",
          "; ".join(measures.verdict_text(s, q) for q in qs),
          f"corner K: {row('corner_')}  (< {measures.CORNER_COLLAPSED:g}: collapsed)",
          f"q: {'  '.join(f'{q} {measures.q_text(s, q)}' for q in qs)};  {reach}",
          f"paper rel. C: {row('paper_rel_c_')}"]


def _targets(result, cfg: dict) -> str:
  """'24 angles' for a pair result, '148 directions' for a triple's (the directions it actually ran)."""
  th = np.asarray(getattr(result, "thetas", ()))
  if th.ndim == 2:
    return f"{th.shape[0]} directions"
  return f"{cfg['n_angles'] if cfg.get('n_angles') is not None else '?'} angles"


def footer_lines(result, provenance: Sequence[str] = ()) -> list[str]:
  """What made a panel: objective, recipe, model and weights (from ``result.config`` / ``result.meta``), then the
  caller's ``provenance`` strings (e.g. 'data: procedural, n = 1000'). Unknown fields read '?'."""
  cfg, meta = dict(result.config or {}), dict(result.meta or {})
  g = lambda d, k: "?" if d.get(k) is None and k not in d else d.get(k)  # noqa: E731
  floor = "?" if "floor" not in cfg else "exact (no floor)" if cfg["floor"] is None else f"floor {cfg['floor']:g}"
  obj = f"cosdot p = {g(cfg, 'p')}, {floor}"
  recipe = (f"recipe: param {g(cfg, 'param')}, transforms {g(cfg, 'transforms')}, {g(cfg, 'optimizer')} "
            f"lr {g(cfg, 'learning_rate')}, {g(cfg, 'steps')} steps, {g(cfg, 'n_seeds')} seeds x "
            f"{_targets(result, cfg)}, canvas {g(cfg, 'canvas_size')} px -> input {g(cfg, 'input_size')} px")
  digest = str(meta.get("params_digest") or "?")[:12]
  model = (f"model: {result.model} {result.layer or 'features'} [{result.readout}], weights {meta.get('weights', '?')}"
           f" (digest {digest})")
  return [f"objective: {obj}", recipe, model, *[str(p) for p in provenance]]


def _free(box, pts: np.ndarray, boxes: list) -> bool:
  """True when the square (cx, cy, half side) holds none of ``pts`` [n, 2] and overlaps none of ``boxes``."""
  cx, cy, h = box
  if pts.size and np.any((np.abs(pts[:, 0] - cx) < h) & (np.abs(pts[:, 1] - cy) < h)):
    return False
  return all(abs(cx - bx) >= h + bh or abs(cy - by) >= h + bh for bx, by, bh in boxes)


def _place(p: np.ndarray, direction: np.ndarray, h: float, gap: float, pts: np.ndarray, boxes: list):
  """The free square of half side h nearest the point p, just beyond it: its centre at distance gap + h sqrt 2 (then
  further in steps of h / 4) from p, in ``direction`` or up to 90 degrees either side of it. Returns (cx, cy, h)."""
  phi0 = math.atan2(direction[1], direction[0])
  for n in range(2000):
    rho = gap + h * math.sqrt(2) + 0.25 * h * n
    for dphi in (0.0, 0.35, -0.35, 0.7, -0.7, 1.05, -1.05, 1.4, -1.4, 1.57, -1.57):
      c = p + rho * np.array([math.cos(phi0 + dphi), math.sin(phi0 + dphi)])
      if _free((c[0], c[1], h), pts, boxes):
        return float(c[0]), float(c[1]), h
  return float(c[0]), float(c[1]), h


class _RawLocator(MaxNLocator):
  """Nice tick values in raw activation units (raw = scaled x s) on a scaled axis; none at the axis's low end (where
  the other axis's labels sit)."""

  def __init__(self, scale: float):
    super().__init__(nbins="auto", steps=[1, 2, 2.5, 5, 10])
    self.scale = float(scale)

  def tick_values(self, vmin, vmax):
    t = super().tick_values(vmin * self.scale, vmax * self.scale) / self.scale
    return t[(t >= vmin + 0.07 * (vmax - vmin)) & (t <= vmax)]


def _raw_label(v: float, s: float) -> str:
  return f"{round(v * s, 9):g}"


# The tick rule and font size that fcjax.plot_triple shares (its projections are drawn as these pair panels are).
RawLocator, raw_label, FONT = _RawLocator, _raw_label, _FONT


def combination_plot(result, pair: int = 0, *, cloud: np.ndarray | None = None, correlation: float | None = None,
                     ax: Axes | None = None, thumbnails: bool = True, loop_scale: float | None = None,
                     label: str | None = None, legend: bool = True, measures_text: bool = True,
                     thumb_px: int = 128, summary: dict | None = None, footer: bool | None = None,
                     provenance: Sequence[str] = ()) -> Figure:
  """Draw one pair's feature-combination plot.

  Args:
    result: a :class:`fcjax.result.SweepResult`.
    pair: index into ``result.pairs``.
    cloud: optional float [N, 2] raw activations of the pair's two units on natural images (e.g. the two channels'
      columns of ``LayerStats.samples``); drawn as N grey points, scaled by the result's scales, and used by the
      verdicts' under-reach check.
    correlation: the pair's natural-image correlation, shown in the title.
    ax: axes to draw into (its figure is returned); a new figure 6.4 inches wide, as tall as the data box needs, when
      None.
    thumbnails: draw the optimised image of every other angle (ceil(A / 2) images) and the two unit-maximum images.
    loop_scale: loop radius per unit of mean C; None chooses it (:func:`loop_scale_for`, usually 1).
    label: a panel label put before the title (e.g. 'a  mixed4a, lowest r').
    legend, measures_text: draw the legend / the measure lines (:func:`annotations`) under the axes.
    thumb_px: thumbnails larger than this are box-averaged down (keeps PDF/SVG files small).
    summary: :func:`fcjax.measures.summarize` of this pair and cloud (computed when None).
    footer: draw :func:`footer_lines` (with ``provenance``) at the figure's foot; default: when ``ax`` is None.
    provenance: extra footer lines from the caller (dataset and n, weights file, ...).

  Returns:
    the ``Figure``.
  """
  cloud_raw = _check(result, pair, cloud)
  own = ax is None
  if own:
    fig = Figure(figsize=(6.4, 7.0), layout="constrained")
    ax = fig.add_subplot()
  fig = ax.figure
  summ = measures.summarize(result, pair, cloud_raw) if summary is None else summary
  thetas = np.asarray(result.plot_thetas[pair], np.float64)  # each angle's direction in this plot's scaled space
  a_n = thetas.size
  scales = np.asarray(result.scales[pair], np.float64)
  c = np.asarray(result.c[pair], np.float64)                  # [A, S]
  ys = np.asarray(result.y[pair], np.float64) / scales         # [A, S, 2]
  bs = measures.best_seed(c)
  best = ys[np.arange(a_n), bs]                                # [A, 2]
  with np.errstate(invalid="ignore"):
    c_mean, c_std = c.mean(-1), c.std(-1)
  k = loop_scale_for(c_mean, best) if loop_scale is None else float(loop_scale)
  r_loop = k * np.maximum(np.nan_to_num(c_mean, nan=0.0), 0.0)
  r_lo = k * np.maximum(np.nan_to_num(c_mean - c_std, nan=0.0), 0.0)
  r_hi = k * np.maximum(np.nan_to_num(c_mean + c_std, nan=0.0), 0.0)
  cloud_s = None if cloud_raw is None else cloud_raw / scales
  i_unit, j_unit = (int(u) for u in result.pairs[pair])
  th_c, th_s = np.cos(thetas), np.sin(thetas)

  # --- layout in data (scaled) coordinates ---------------------------------------------------------------------
  pts = np.concatenate([ys.reshape(-1, 2), best], 0)
  pts = pts[np.all(np.isfinite(pts), 1)]
  u = np.linspace(0, 1, 8)[None, :]
  nxt = np.roll(np.arange(a_n), -1)
  band = np.stack([(r_hi[:, None] * (1 - u) * th_c[:, None] + r_hi[nxt, None] * u * th_c[nxt, None]),
                   (r_hi[:, None] * (1 - u) * th_s[:, None] + r_hi[nxt, None] * u * th_s[nxt, None])], -1)
  obst = np.concatenate([pts, band.reshape(-1, 2), [[1.0, 0.0], [0.0, 1.0]]], 0)  # what thumbnails must not hide
  box_pts = [obst, [[0.0, 0.0]]] + ([cloud_s] if cloud_s is not None and cloud_s.size else [])
  allp = np.concatenate(box_pts, 0)
  span = float(max(np.ptp(allp[:, 0]), np.ptp(allp[:, 1]), 1.0))
  t = _THUMB * span
  h, gap = t / 2, 0.02 * span
  boxes: list = []
  tips: list = []
  centres: list = []
  if thumbnails:  # the unit-maximum images beyond the axis tips, then each thumbnail just beyond its point
    for e in (np.array([1.0, 0.0]), np.array([0.0, 1.0])):
      tips.append(_place(e, e, 0.65 * t, gap, obst, boxes))
      boxes.append(tips[-1])
    for a in range(0, a_n, 2):
      p = best[a] if np.isfinite(best[a]).all() else np.zeros(2)
      rp = float(np.hypot(*p))
      d = p / rp if rp > 0.05 * span else np.array([th_c[a], th_s[a]])  # at the origin: the target direction
      if r_hi[a] > rp:  # the loop passes beyond the point here: start beyond the loop
        p = r_hi[a] * np.array([th_c[a], th_s[a]])
      centres.append(_place(p, d, h, gap, obst, boxes))
      boxes.append(centres[-1])
  ext = [allp] + [np.array([[bx - bh, by - bh], [bx + bh, by + bh]]) for bx, by, bh in boxes]
  ext = np.concatenate(ext, 0)
  m = 0.04 * span
  lo, hi = ext.min(0) - m, ext.max(0) + m
  half = np.array([-lo[0], hi[0], -lo[1], hi[1]])
  half = np.maximum(half, 0.22 * half.max())  # room for the verdict marks on a side nothing reaches
  xlim, ylim = (-half[0], half[1]), (-half[2], half[3])

  # --- artists -----------------------------------------------------------------------------------------------
  if cloud_s is not None:
    ax.scatter(cloud_s[:, 0], cloud_s[:, 1], s=3, c=CLOUD_COLOR, alpha=0.35, linewidths=0, zorder=1,
               rasterized=True, gid="fc-cloud", label=f"natural images (N = {cloud_s.shape[0]})")
  ax.axhline(0.0, color="0.35", lw=0.6, zorder=1.5)
  ax.axvline(0.0, color="0.35", lw=0.6, zorder=1.5)
  quads = [np.array([[r_lo[a] * th_c[a], r_lo[a] * th_s[a]], [r_hi[a] * th_c[a], r_hi[a] * th_s[a]],
                     [r_hi[b] * th_c[b], r_hi[b] * th_s[b]], [r_lo[b] * th_c[b], r_lo[b] * th_s[b]]])
           for a, b in zip(range(a_n), nxt)]
  ax.add_collection(PolyCollection(quads, facecolors=LOOP_COLOR, edgecolors="none", alpha=0.18, zorder=2,
                                   gid="fc-loop-spread"), autolim=False)
  seeds = c.shape[-1]
  ax.scatter(ys[..., 0].ravel(), ys[..., 1].ravel(), s=5, c=POINT_COLOR, alpha=0.25, linewidths=0, zorder=3,
             gid="fc-seeds", label=f"each seed ({seeds})")
  ax.scatter(best[:, 0], best[:, 1], s=12, c=POINT_COLOR, linewidths=0, zorder=4, gid="fc-best",
             label="best seed per angle")
  ax.plot(np.append(r_loop * th_c, r_loop[0] * th_c[0]), np.append(r_loop * th_s, r_loop[0] * th_s[0]),
          color=LOOP_COLOR, lw=1.6, marker=".", ms=4, zorder=5, gid="fc-loop",
          label=f"mean C over {seeds} seeds (radius = {k:g} x C), +-1 std shaded")
  if thumbnails:
    links = []
    for n, a in enumerate(range(0, a_n, 2)):
      cx, cy, _ = centres[n]
      img = _downsample(np.asarray(result.images[pair, a, bs[a]]), thumb_px)
      ax.imshow(img, extent=(cx - h, cx + h, cy - h, cy + h), zorder=6, gid="fc-thumb", interpolation="antialiased")
      if np.isfinite(best[a]).all():  # from the point to the thumbnail's edge
        v = np.array([cx, cy]) - best[a]
        dist = max(float(np.hypot(*v)), 1e-12)
        links.append([best[a], best[a] + v * max(dist - h / max(abs(v[0]), abs(v[1])) * dist, 0.0) / dist])
    ax.add_collection(LineCollection(links, colors="0.5", linewidths=0.5, alpha=0.5, zorder=3, gid="fc-thumb-link"),
                      autolim=False)
    for uidx, ((cx, cy, th), unit, col) in enumerate(zip(tips, (i_unit, j_unit), TIP_COLORS)):
      img = _downsample(np.asarray(result.unit_images[pair, uidx]), thumb_px)
      ax.imshow(img, extent=(cx - th, cx + th, cy - th, cy + th), zorder=6, gid="fc-tip", interpolation="antialiased")
      ax.add_patch(Rectangle((cx - th, cy - th), 2 * th, 2 * th, fill=False, ec=col, lw=1.5, zorder=7))
      e = np.array([1.0, 0.0]) if uidx == 0 else np.array([0.0, 1.0])
      ax.plot([e[0], cx - th * e[0]], [e[1], cy - th * e[1]], color=col, lw=0.8, ls=":", zorder=2)
  ax.plot([1.0, 0.0], [0.0, 1.0], ls="none", marker="o", ms=5, mfc="white", zorder=5, gid="fc-tip-mark",
          mec=POINT_COLOR)
  for (qx, qy, ha, va), name in zip(((0.99, 0.99, "right", "top"), (0.01, 0.99, "left", "top"),
                                     (0.01, 0.01, "left", "bottom"), (0.99, 0.01, "right", "bottom")),
                                    measures.QUADRANTS):
    v = summ[f"verdict_{name}"]
    ax.text(qx, qy, f"{name} {v}", transform=ax.transAxes, ha=ha, va=va, fontsize=_FONT + 1, color=VERDICT_COLORS[v],
            weight="bold", zorder=8, gid="fc-verdict", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1.0))

  # --- axes: equal aspect, each half-axis over its own extent, nice raw tick labels ----------------------------
  ax.set_aspect("equal")
  ax.set_xlim(*xlim)
  ax.set_ylim(*ylim)
  for name in ("top", "right"):
    ax.spines[name].set_visible(False)
  for axis, s in ((ax.xaxis, scales[0]), (ax.yaxis, scales[1])):
    axis.set_major_locator(_RawLocator(s))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos, s=s: _raw_label(v, s)))
  ax.tick_params(labelsize=_FONT, length=2, pad=1)
  xlabel = f"unit {i_unit} (raw; tip = phase-1 max {scales[0]:.3g})"
  if measures_text:  # in the x label, so that the constrained layout makes room for it
    xlabel += "\n\n" + "\n".join(annotations(result, pair, cloud_raw, loop_scale=k, summary=summ))
  ax.set_xlabel(xlabel, fontsize=_FONT, labelpad=1, family="monospace" if measures_text else None)
  ax.xaxis.label.set_gid("fc-measures" if measures_text else None)
  ax.set_ylabel(f"unit {j_unit} (raw; tip = phase-1 max {scales[1]:.3g})", fontsize=_FONT, labelpad=1)
  r = "n/a" if correlation is None or not math.isfinite(correlation) else f"{correlation:+.2f}"
  where = f"{result.layer}" if result.layer else "features"
  title = f"{result.model} {where} [{result.readout}]: units {i_unit} & {j_unit}, r = {r}"
  ax.set_title(f"{label}\n{title}" if label else title, fontsize=_FONT + 1)
  if own:  # size the figure to the data box (equal aspect): the axes about 5.6 inches wide
    ratio = (ylim[1] - ylim[0]) / (xlim[1] - xlim[0])
    fig.set_figheight(min(max(5.6 * ratio, 2.5), 8.0) + (2.0 if measures_text else 0.9) + 1.0)
  if legend and not own:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_FONT, markerscale=1.5, frameon=False)
  if (own if footer is None else footer) or (legend and own):
    lines = footer_lines(result, provenance) if (own if footer is None else footer) else []
    _footer(fig, lines, ax if legend and own else None, ncols=2)
  return fig


def _footer(fig: Figure, lines: Sequence[str], legend_from: Axes | None = None, ncols: int = 4) -> None:
  """A band at the figure's foot that the constrained layout leaves free: the legend of ``legend_from`` (if given),
  then the provenance ``lines``."""
  inch = 1 / 72 / fig.get_figheight()  # one point, in figure fraction
  handles, labels = legend_from.get_legend_handles_labels() if legend_from is not None else ([], [])
  width = int(fig.get_figwidth() * 72 / (0.62 * _FONT)) - 2  # monospace characters that fit across the figure
  lines = [w for ln in lines for w in textwrap.wrap(ln, width, subsequent_indent="  ")]
  leg = (math.ceil(len(labels) / ncols) * _FONT * 2.2 + 8) * inch if labels else 0.0
  slack = 12 * inch  # the layout lets multi-line axis labels reach a few points below its rect
  band = slack + leg + (len(lines) * _FONT * 1.3 + 6) * inch
  engine = fig.get_layout_engine()
  if engine is not None and hasattr(engine, "set"):
    engine.set(rect=(0, band, 1, 1 - band))
  if labels:
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, band - slack), ncols=ncols, fontsize=_FONT,
               markerscale=1.5, frameon=False, borderaxespad=0.0, borderpad=0.2)
  if lines:
    fig.text(0.5, band - slack - leg - 2 * inch, "\n".join(lines), ha="center", va="top", fontsize=_FONT,
             family="monospace", color="0.25", gid="fc-footer")


def _panel(p: Any) -> dict:
  if isinstance(p, Mapping):
    d = dict(p)
  elif isinstance(p, Sequence):
    d = dict(zip(("result", "pair", "cloud", "correlation", "label", "summary"), p))
  else:
    d = {"result": p}
  if "result" not in d:
    raise errors.FcjaxError("each panel needs a 'result' (a SweepResult)")
  return d


def figure(panels: Iterable[Any], ncols: int = 3, *, panel_size: float = 4.6, thumbnails: bool = True,
           provenance: Sequence[str] = ()) -> Figure:
  """The multi-panel figure in the paper's style: e.g. per layer, its highest, lowest and closest-to-zero pairs.

  Args:
    panels: each a dict with keys ``result`` (required), ``pair`` (0), ``cloud`` (None), ``correlation`` (None),
      ``label`` (None), ``summary`` (None: computed), or a tuple in that order, or a bare SweepResult.
    ncols: panels per row (3: highest, lowest, zero for one layer per row).
    panel_size: inches per panel side.
    provenance: extra footer lines (e.g. 'data: tfds:imagenet2012/validation, n = 1000 images').

  Returns:
    a Figure with one axes per panel (row-major), one legend and a footer (:func:`footer_lines` of the panels'
    distinct recipes, then ``provenance``) at its foot.
  """
  ps = [_panel(p) for p in panels]
  if not ps:
    raise errors.FcjaxError("figure() needs at least one panel")
  ncols = max(1, min(int(ncols), len(ps)))
  nrows = math.ceil(len(ps) / ncols)
  fig = Figure(figsize=(ncols * panel_size, nrows * (panel_size + 1.6) + 1.0), layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
  for n, p in enumerate(ps):
    combination_plot(p["result"], int(p.get("pair", 0) or 0), cloud=p.get("cloud"), correlation=p.get("correlation"),
                     ax=axes[n], thumbnails=thumbnails, label=p.get("label"), legend=False,
                     summary=p.get("summary"), footer=False)
  for ax in axes[len(ps):]:
    ax.remove()
  lines: list[str] = []
  for p in ps:  # the recipe lines of every distinct panel, once
    lines += [ln for ln in footer_lines(p["result"]) if ln not in lines]
  _footer(fig, lines + [str(v) for v in provenance], axes[0], ncols=4)
  return fig
