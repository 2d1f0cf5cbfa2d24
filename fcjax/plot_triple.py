"""Pictures of a triple of units (k = 3): the three pairwise projections and the octant table, and a standalone
HTML page with an interactive 3-D view.

A triple result is a :class:`fcjax.result.SweepResult` with k = 3: ``pairs`` int [P, 3] (the units of each triple),
``thetas`` float [A, 3] (unit direction vectors), ``scales`` float [P, 3], ``y`` float [P, A, S, 3], ``c`` [P, A, S],
optionally ``axis_y`` float [P, 6, 3] (the half-axis images, u0+, u0-, u1+, u1-, u2+, u2-). Its summary (the dict of
``fcjax.orthants.summarize``) gives each octant O of ``OCTANTS`` ``verdict_O``, ``reasons_O`` ('code: sentence'),
``corner_O`` (K) and ``pair_shows_O`` (the pairs whose projection already shows O collapsed), and ``only_triple``
(the collapsed octants that no pair shows).

:func:`plot_triple` draws, in the paper's scaled space (each unit / its phase-1 maximum, tips at 1, raw tick labels),
the projections (i, j), (i, k), (j, k): the natural cloud in grey behind, each direction's best-seed point coloured
by the octant it falls in (:data:`fcjax._view3d.OCTANT_COLORS`), the half-axis images as crosses, and each pair's
quadrant names (red where the summary says that pair shows a collapsed octant there); the fourth panel is the octant
table, its rows of octants collapsed only in 3-D highlighted. Artists carry gids: 'fc3-cloud', 'fc3-best',
'fc3-axis', 'fc3-tip-mark', 'fc3-quadrant', 'fc3-pair-collapsed', 'fc3-table', 'fc3-only-triple' (the highlighted
cells), 'fc3-notes' (:func:`fcjax.plot.artists` finds them). :func:`write_triple_html` writes the page.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import pathlib
import re
import textwrap
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from fcjax import _io, _orthant, _view3d, errors, measures, orthants, plot
from fcjax._view3d import OCTANT_COLORS, OCTANTS

PROJECTIONS = orthants.PAIRS3  # unit positions in the triple of each projection panel
ONLY_TRIPLE_FACE = "#ffebe9"  # the highlight of an octant that only the triple shows collapsed
_PAIR_SHOWS = re.compile(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*quadrant\s+(IV|III|II|I)\b")
_SAVE_FORMATS = ("png", "pdf", "svg")


def _check(result, triple: int, cloud, notes: list) -> np.ndarray | None:
  """Refuse what cannot be drawn (one line each); returns the cloud's finite rows, raw [N, 3], or None (a note in
  ``notes`` counts the rows dropped)."""
  pairs = np.asarray(result.pairs)
  if pairs.ndim != 2 or pairs.shape[1] != 3:
    raise errors.FcjaxError(f"plot_triple needs a triple result (pairs [P, 3]), got pairs of shape {pairs.shape}; "
                            "draw a pair result with fcjax.plot.combination_plot")
  n = pairs.shape[0]
  if isinstance(triple, bool) or not isinstance(triple, (int, np.integer)) or not 0 <= triple < n:
    raise errors.FcjaxError(f"triple index {triple!r} out of range: this result has {n} triple(s) (0..{n - 1})")
  s = np.asarray(result.scales[triple], np.float64)
  if s.shape != (3,) or not np.all(np.isfinite(s) & (s > 0)):
    raise errors.FcjaxError(f"cannot draw triple {tuple(int(u) for u in pairs[triple])}: unit scales {s.tolist()} "
                            "must be three positive numbers (phase 1 never drove a unit above 0)")
  cl, dropped = _orthant.finite_cloud(cloud, 3)
  if dropped:
    notes.append(f"{dropped} of {dropped + len(cl)} natural points not finite: not drawn")
  return cl


def _summary(result, triple: int, cloud, summary: dict | None) -> dict | None:
  """The given summary, checked against the result; or fcjax.orthants' when None."""
  units = [int(u) for u in result.pairs[triple]]
  if summary is None:
    return orthants.summarize(result, triple=triple, cloud=cloud)
  if not isinstance(summary, dict):
    raise errors.FcjaxError(f"summary must be the dict of fcjax.orthants.summarize, got {type(summary).__name__}")
  missing = [k for o in OCTANTS for k in (f"verdict_{o}", f"corner_{o}") if k not in summary]
  if missing:
    raise errors.FcjaxError(f"summary is not a triple summary (lacks {', '.join(missing[:4])}"
                            f"{', ...' if len(missing) > 4 else ''}); pass fcjax.orthants.summarize's dict")
  if "units" in summary and [int(u) for u in summary["units"]] != units:
    raise errors.FcjaxError(f"summary is of units {list(summary['units'])}, but triple {triple} of this result is "
                            f"units {units}; summarize the same triple")
  return summary


def octant_rows(summary: dict | None) -> list[dict]:
  """The table's eight rows, in OCTANTS order: ``name``, ``verdict`` (None without a summary), ``corner`` (float,
  NaN where unknown), ``codes`` (the reasons' codes, comma-separated), ``reasons`` (the sentences), ``shown`` ('shown
  by pair (i, j) quadrant II', 'only the triple', or '') and ``only_triple`` (bool: collapsed, and no pair shows it).
  """
  s = summary or {}
  only = set(s.get("only_triple") or [])
  rows = []
  for o in OCTANTS:
    v, k = s.get(f"verdict_{o}"), s.get(f"corner_{o}")
    reasons = [str(r) for r in s.get(f"reasons_{o}") or []]
    pairs = [str(p) for p in s.get(f"pair_shows_{o}") or []]
    alone = o in only or (v == "collapsed" and not pairs and "only_triple" not in s)
    shown = "shown by " + "; ".join(pairs) if pairs else "only the triple" if alone else ""
    rows.append({"name": o, "verdict": v, "corner": math.nan if k is None else float(k),
                 "codes": ", ".join(dict.fromkeys(r.split(":")[0].strip() for r in reasons)), "reasons": reasons,
                 "shown": shown, "only_triple": bool(alone)})
  return rows


def _pair_collapsed(summary: dict | None) -> set[tuple[int, int, str]]:
  """{(unit a, unit b, quadrant)} that the summary's ``pair_shows_O`` name."""
  out = set()
  for o in OCTANTS:
    for text in (summary or {}).get(f"pair_shows_{o}") or []:
      m = _PAIR_SHOWS.search(str(text))
      if m:
        out.add((int(m[1]), int(m[2]), m[3]))
  return out


def _points(result, triple: int, notes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Scaled best-seed points [M, 3] (finite only), their octants [M], the scaled half-axis points [h, 3]."""
  scales = np.asarray(result.scales[triple], np.float64)
  best = orthants.best_points(result, triple)
  ok = np.all(np.isfinite(best), axis=1)
  if not ok.all():
    notes.append(f"{int((~ok).sum())} of {ok.size} best-seed points not finite (diverged): not drawn")
  axis = np.zeros((0, 3))
  if result.axis_y is not None:
    axis = np.asarray(result.axis_y[triple], np.float64).reshape(-1, 3) / scales
    axis = axis[np.all(np.isfinite(axis), axis=1)]
  return best[ok], _view3d.octant_of(best[ok]), axis


class _Triple(NamedTuple):
  """What both pictures draw of one triple, checked."""
  notes: list          # sentences about dropped (non-finite) points
  cloud: np.ndarray | None  # raw finite natural points [N, 3]
  summary: dict | None
  scales: np.ndarray   # float [3]
  units: list          # [i, j, k]
  best: np.ndarray     # scaled finite best-seed points [M, 3]
  octants: np.ndarray  # int [M] (-1: on a coordinate plane)
  axis: np.ndarray     # scaled half-axis points [h, 3]


def _prepare(result, triple: int, summary: dict | None, cloud) -> _Triple:
  notes: list[str] = []
  cloud_raw = _check(result, triple, cloud, notes)
  summ = _summary(result, triple, cloud_raw, summary)
  best, octs, axis_pts = _points(result, triple, notes)
  return _Triple(notes, cloud_raw, summ, np.asarray(result.scales[triple], np.float64),
                 [int(u) for u in result.pairs[triple]], best, octs, axis_pts)


def _projection(ax: Axes, a: int, b: int, units, scales, best, octs, axis_pts, cloud_s, shown: set) -> None:
  """One pairwise panel: the triple's points projected on units (a, b), drawn as fcjax.plot draws a pair."""
  ua, ub = units[a], units[b]
  boxes = [best[:, [a, b]], axis_pts[:, [a, b]], np.array([[1.0, 1.0], [-1.0, -1.0]])]
  if cloud_s is not None and cloud_s.size:
    ax.scatter(cloud_s[:, a], cloud_s[:, b], s=3, c=plot.CLOUD_COLOR, alpha=0.35, linewidths=0, zorder=1,
               rasterized=True, gid="fc3-cloud")
    boxes.append(cloud_s[:, [a, b]])
  ext = np.concatenate(boxes, 0)
  lo, hi = ext.min(0), ext.max(0)
  # a square box with each axis over its own extent: the units' ranges may differ by orders of magnitude (no polar
  # loop here that would need an equal aspect)
  mx, my = (0.06 * float(max(np.ptp(ext[:, t]), 1.0)) for t in (0, 1))
  ax.axhline(0.0, color="0.35", lw=0.6, zorder=1.5)
  ax.axvline(0.0, color="0.35", lw=0.6, zorder=1.5)
  if axis_pts.size:
    ax.scatter(axis_pts[:, a], axis_pts[:, b], s=22, marker="x", c=plot.POINT_COLOR, linewidths=0.9, zorder=3,
               gid="fc3-axis")
  colors = [OCTANT_COLORS[o] if o >= 0 else _view3d.OFF_OCTANT_COLOR for o in octs]
  ax.scatter(best[:, a], best[:, b], s=16, c=colors, edgecolors="white", linewidths=0.4, zorder=4, gid="fc3-best")
  ax.plot([1.0, 0.0], [0.0, 1.0], ls="none", marker="o", ms=5, mfc="white", mec=plot.POINT_COLOR, zorder=5,
          gid="fc3-tip-mark")
  for (sx, sy), q in orthants.PAIR_QUADRANT.items():
    bad = (ua, ub, q) in shown
    ax.text(0.5 + 0.47 * sx, 0.5 + 0.47 * sy, q + (" collapsed" if bad else ""), transform=ax.transAxes,
            ha="right" if sx > 0 else "left", va="top" if sy > 0 else "bottom", fontsize=plot.FONT + 1,
            color=plot.VERDICT_COLORS["collapsed"] if bad else "0.55", weight="bold" if bad else "normal",
            gid="fc3-pair-collapsed" if bad else "fc3-quadrant")
  ax.set_box_aspect(1)
  ax.set_xlim(min(lo[0], -1.0) - mx, max(hi[0], 1.0) + mx)
  ax.set_ylim(min(lo[1], -1.0) - my, max(hi[1], 1.0) + my)
  for name in ("top", "right"):
    ax.spines[name].set_visible(False)
  for axis, s in ((ax.xaxis, scales[a]), (ax.yaxis, scales[b])):
    axis.set_major_locator(plot.RawLocator(s))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos, s=s: plot.raw_label(v, s)))
  ax.tick_params(labelsize=plot.FONT, length=2, pad=1)
  ax.set_xlabel(f"unit {ua} (raw; tip = phase-1 max {scales[a]:.3g})", fontsize=plot.FONT)
  ax.set_ylabel(f"unit {ub} (raw; tip = phase-1 max {scales[b]:.3g})", fontsize=plot.FONT)
  ax.set_title(f"units {ua} & {ub}: projection (colour = octant)", fontsize=plot.FONT + 1)


def _table(ax: Axes, rows: list[dict], summary: dict | None, notes: list, footer: list) -> None:
  """The fourth panel: the octant table, then what the highlight means, the notes and the footer."""
  ax.axis("off")
  cells = [[r["name"], r["verdict"] or "n/a", measures.fmt(r["corner"]),
            textwrap.shorten(r["codes"], 34, placeholder=" ...") or "-",
            textwrap.shorten(r["shown"].replace(" quadrant ", " "), 40, placeholder=" ...") or "-"] for r in rows]
  tab = ax.table(cellText=cells, colLabels=["octant", "verdict", "K", "reasons", "collapsed shown by"],
                 cellLoc="left", colLoc="left", colWidths=[0.1, 0.15, 0.08, 0.31, 0.36], bbox=[0.0, 0.5, 1.0, 0.5])
  tab.auto_set_font_size(False)
  tab.set_fontsize(plot.FONT + 0.5)
  tab.set_gid("fc3-table")
  for (i, j), cell in tab.get_celld().items():
    cell.set_edgecolor("#d0d7de")
    cell.set_linewidth(0.5)
    if i == 0:
      cell.set_facecolor("#f6f8fa")
      cell.get_text().set_weight("bold")
      continue
    r = rows[i - 1]
    if r["only_triple"]:
      cell.set_facecolor(ONLY_TRIPLE_FACE)
      cell.set_gid("fc3-only-triple")
      cell.get_text().set_weight("bold")
    if j == 0:
      cell.get_text().set_color(OCTANT_COLORS[i - 1])
      cell.get_text().set_weight("bold")
    if j == 1 and r["verdict"] in plot.VERDICT_COLORS:
      cell.get_text().set_color(plot.VERDICT_COLORS[r["verdict"]])
  k_rule = f"K < {measures.CORNER_COLLAPSED:g}: collapsed"
  lines = [f"octant = signs of units i, j, k; K = corner measure ({k_rule}); highlighted: collapsed in 3-D but "
           "in no pair's projection (only the triple shows it)"]
  lines += [f"note: {n}" for n in list((summary or {}).get("notes") or []) + notes] + footer
  text = "\n".join(w for ln in lines for w in textwrap.wrap(ln, 92, subsequent_indent="  "))
  ax.text(0.0, 0.46, text, transform=ax.transAxes, ha="left", va="top", fontsize=plot.FONT, family="monospace",
          color="0.25", gid="fc3-notes")


def save_figure(fig: Figure, path: str | os.PathLike) -> pathlib.Path:
  """Save ``fig`` at ``path`` atomically, in the format its suffix names (.png, .pdf or .svg)."""
  path = pathlib.Path(path)
  fmt = path.suffix.lower().lstrip(".") or "png"
  if fmt not in _SAVE_FORMATS:
    raise errors.FcjaxError(f"cannot save a figure as {path.name}: use a name ending in .png, .pdf or .svg")
  _io.atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=120))
  return path


def plot_triple(result, triple: int = 0, summary: dict | None = None, cloud: np.ndarray | None = None,
                path: str | os.PathLike | None = None) -> Figure:
  """The triple's figure: its three pairwise projections and its octant table (module docstring).

  Args:
    result: a triple :class:`fcjax.result.SweepResult` (pairs int [P, 3]).
    triple: index into ``result.pairs``.
    summary: ``fcjax.orthants.summarize(result, triple=triple, cloud=cloud)`` (computed when None, where that module
      exists; else the table shows no verdicts).
    cloud: optional float [N, 3] raw activations of the three units on natural images (grey, behind); rows with a
      non-finite value are dropped.
    path: where to save the figure (.png, .pdf or .svg), atomically; None saves nothing.

  Returns:
    the ``Figure`` (four axes: the projections (i, j), (i, k), (j, k), then the table), built without pyplot.

  Raises:
    FcjaxError: a pair result, a triple index out of range, scales that are not positive, a cloud that is not
      [N, 3], a summary of another triple or without octant verdicts.
  """
  notes, cloud_raw, summ, scales, units, best, octs, axis_pts = _prepare(result, triple, summary, cloud)
  cloud_s = None if cloud_raw is None else cloud_raw / scales
  fig = Figure(figsize=(11.0, 10.5), layout="constrained")
  grid = fig.add_gridspec(2, 2)
  shown = _pair_collapsed(summ)
  for n, (a, b) in enumerate(PROJECTIONS):
    ax = fig.add_subplot(grid[n // 2, n % 2])
    _projection(ax, a, b, units, scales, best, octs, axis_pts, cloud_s, shown)
  seeds = np.asarray(result.c).shape[-1]
  footer = [f"{best.shape[0]} directions drawn (best of {seeds} seeds each); crosses: half-axis images"]
  footer += plot.footer_lines(result)
  _table(fig.add_subplot(grid[1, 1]), octant_rows(summ), summ, notes, footer)
  where = result.layer or "features"
  fig.suptitle(f"{result.model} {where} [{result.readout}]: units {units[0]}, {units[1]}, {units[2]} "
               f"(triple {triple})", fontsize=plot.FONT + 3)
  if path is not None:
    save_figure(fig, path)
  return fig


def _html_table(rows: list[dict]) -> str:
  """The page's octant table: every reason's sentence, the pairs that show a collapse, highlights."""
  out = ['<table class="octants"><thead><tr><th>octant</th><th>verdict</th><th>K</th><th>reasons</th>'
         "<th>collapsed shown by</th></tr></thead><tbody>"]
  for r, col in zip(rows, OCTANT_COLORS):
    cls = ' class="only-triple"' if r["only_triple"] else ""
    v = r["verdict"] or "n/a"
    reasons = "<br>".join(html.escape(x) for x in r["reasons"]) or "-"
    out.append(f'<tr data-octant="{html.escape(r["name"])}"{cls}><td><code style="color:{col}">'
               f'{html.escape(r["name"])}</code></td><td class="{html.escape(v)}">{html.escape(v)}</td>'
               f'<td>{measures.fmt(r["corner"])}</td><td>{reasons}</td><td>{html.escape(r["shown"]) or "-"}</td></tr>')
  out.append("</tbody></table>")
  return "".join(out)


_PAGE_CSS = """<style>
table.octants{border-collapse:collapse;margin:8px 0}
table.octants th,table.octants td{padding:2px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
table.octants th{background:#f6f8fa}
table.octants tr.only-triple{background:ONLY_TRIPLE_FACE;font-weight:600}
td.possible{color:#1a7f37} td.collapsed{color:#cf222e;font-weight:600} td.uncertain{color:#9a6700}
.meta,.notes{color:#57606a} .row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
img.figure{max-width:100%;display:block;margin-top:10px}
</style>""".replace("ONLY_TRIPLE_FACE", ONLY_TRIPLE_FACE)


def _reach_space(summary: dict | None, scaled: np.ndarray, cloud_s):
  """(points, cloud, space) for the 3-D view: in the reach-normalised space of the measures (each coordinate over
  the reach of its own half-axis, :func:`fcjax._orthant.normalise`) when the summary gives the six reaches, where
  lopsided units stay readable and an octant's corner point is K(±1, ±1, ±1); else the scaled space as given."""
  axes = (summary or {}).get("half_axes") or {}
  try:
    reach = np.array([float(axes[h]["reach_scaled"]) for h in orthants.HALF_AXES3])
  except (KeyError, TypeError, ValueError):
    return scaled, cloud_s, _view3d.SCALED_SPACE
  if not np.all(np.isfinite(reach) & (reach > 0)):
    return scaled, cloud_s, _view3d.SCALED_SPACE
  return (_orthant.normalise(scaled, reach), None if cloud_s is None else _orthant.normalise(cloud_s, reach),
          _view3d.REACH_SPACE)


def write_triple_html(result, triple: int = 0, summary: dict | None = None, cloud: np.ndarray | None = None,
                      path: str | os.PathLike = "triple.html", *, figure: bool | Figure = True) -> pathlib.Path:
  """Write a standalone page (no external resource) for one triple, atomically: the interactive 3-D view
  (:func:`fcjax._view3d.view3d_html`), the octant table with every reason, the notes, and, with ``figure``, the
  :func:`plot_triple` figure embedded as a base64 PNG (``figure`` may be that figure, already drawn). Arguments as
  :func:`plot_triple`; returns ``path``."""
  notes, cloud_raw, summ, scales, units, best, _, _ = _prepare(result, triple, summary, cloud)
  rows = octant_rows(summ)
  title = f"{result.model} {result.layer or 'features'} [{result.readout}]: units {units[0]}, {units[1]}, {units[2]}"
  pts, cl, space = _reach_space(summ, best, None if cloud_raw is None else cloud_raw / scales)
  view = _view3d.view3d_html(pts, cl, [{"name": r["name"], "verdict": r["verdict"], "corner": r["corner"]}
                                       for r in rows],
                             labels=[f"unit {u}" for u in units], title=f"triple {triple}: units {units}",
                             element_id=f"fc3d-triple-{triple}", space=space)
  meta = (f"scales (phase-1 maxima) {', '.join(f'{s:.4g}' for s in scales)}; {best.shape[0]} directions (best of "
          f"{np.asarray(result.c).shape[-1]} seeds); highlighted rows: collapsed in 3-D but in no pair's projection")
  all_notes = list((summ or {}).get("notes") or []) + notes
  note_html = "".join(f"<div>note: {html.escape(n)}</div>" for n in all_notes)
  body = [_PAGE_CSS, f"<h1>{html.escape(title)}</h1>", f'<div class="meta">{html.escape(meta)}</div>',
          f'<div class="row">{view}<div>{_html_table(rows)}</div></div>', f'<div class="notes">{note_html}</div>']
  if figure is not False:
    buf = io.BytesIO()
    (figure if isinstance(figure, Figure) else plot_triple(result, triple, summ, cloud_raw)).savefig(
        buf, format="png", dpi=90)
    body.append(f'<img class="figure" alt="projections and octant table" src="data:image/png;base64,'
                f'{base64.b64encode(buf.getvalue()).decode()}">')
  page = _view3d.standalone_page(title, body)
  path = pathlib.Path(path)
  _io.atomic_write(path, lambda f: f.write(page.encode()))
  return path
