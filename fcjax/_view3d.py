"""A self-contained interactive 3-D view of a triple of units, as an HTML fragment: pure string building.

:func:`view3d_html` returns a ``<div>`` holding a ``<canvas>``, a legend table of the eight octants and an inline
``<script>`` (plain JavaScript, canvas 2D, no library, no network) that draws, in the scaled space of the triple
(each unit divided by its phase-1 maximum, so the axis tips sit at 1):

* the reached points (octant colours, :data:`OCTANT_COLORS`), the natural-image cloud in grey behind them;
* the three axes over the data's extent with their labels, the tips at 1 (circles) and -1 (squares) marked;
* each octant's corner measure K as a translucent disc at K (+-1, +-1, +-1), coloured by the octant's verdict, with
  the octant's name (K is measured in the reach-normalised space of :mod:`fcjax.orthants`, so the disc is a guide
  to how far into the octant the images went, not a point that was reached).

Drag (mouse, pen or touch: pointer events) rotates the view, a double click resets it. Each fragment finds its own
elements from its script (``document.currentScript``), so several views on one page work independently; the
element ids are unique per content (and may be given). Non-finite points are dropped and a note under the view says
how many; a large cloud is thinned to :data:`MAX_CLOUD` points (every k-th, deterministic) and a note says so too.
The data travel as JSON with no NaN (``allow_nan=False``), and ``</`` is escaped so no string closes the script.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from typing import Mapping, Sequence

import numpy as np

from fcjax import _orthant

OCTANTS = _orthant.orthant_names(3)  # signs of units i, j, k: "+++", "++-", ..., "---"
# One colour per octant, in OCTANTS order, away from the verdicts' red and green (shared with fcjax.plot_triple).
OCTANT_COLORS = ("#1f77b4", "#ff7f0e", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#393b79")
OFF_OCTANT_COLOR = "#57606a"  # a point on a coordinate plane (some unit exactly 0) is in no octant
VERDICT_COLORS = {"possible": "#1a7f37", "collapsed": "#cf222e", "uncertain": "#9a6700"}  # as fcjax.plot
NO_VERDICT_COLOR = "#8c959f"
MAX_CLOUD = 4000  # natural points shipped to the page: enough to see the cloud's shape, a few hundred kB at most
CLOUD_QUANTILE = 0.99  # the view is sized to hold this fraction of the natural points (outliers may fall outside)
DIGITS = 4  # decimals kept of each scaled coordinate (the axis tips are at 1)
CANVAS = (480, 420)  # css pixels
SCALED_SPACE = "axes: each unit over its phase-1 maximum (tips at 1)"
REACH_SPACE = ("axes: each unit over the reach of its own half-axis, so every half-axis ends at \u00b11 and an "
               "octant's "
               "corner point is K(\u00b11, \u00b11, \u00b11)")


def octant_of(points: np.ndarray) -> np.ndarray:
  """int [M]: the index into OCTANTS of each point of ``points`` float [M, 3] (-1 where a coordinate is 0 or not
  finite): :func:`fcjax._orthant.orthant_of` of the point itself."""
  p = np.asarray(points, np.float64).reshape(-1, 3)
  return np.where(np.all(np.isfinite(p), axis=1), _orthant.orthant_of(p, atol=0.0), -1).astype(int)


def _finite_rows(a: np.ndarray | None, what: str, notes: list) -> np.ndarray:
  """float [n, 3]: the rows of ``a`` with every coordinate finite (a note counts the others)."""
  if a is None:
    return np.zeros((0, 3))
  a = np.asarray(a, np.float64)
  if a.ndim != 2 or a.shape[1] != 3:
    raise ValueError(f"{what} must be float [n, 3], got shape {a.shape}")  # a caller's bug: the layer-2 code checks
  ok = np.all(np.isfinite(a), axis=1)
  if not ok.all():
    notes.append(f"{int((~ok).sum())} of {a.shape[0]} {what} not finite: not drawn")
  return a[ok]


def _octant_rows(octants: Sequence[Mapping] | Mapping[str, Mapping]) -> list[dict]:
  """The eight octants as ``{'name', 'verdict', 'corner'}`` in OCTANTS order (corner None where not finite)."""
  if isinstance(octants, Mapping):
    octants = [dict(octants.get(n, {}), name=n) for n in OCTANTS]
  by_name = {str(o.get("name")): o for o in octants}
  rows = []
  for n in OCTANTS:
    o = by_name.get(n, {})
    k = o.get("corner")
    k = float(k) if k is not None and math.isfinite(float(k)) else None
    v = o.get("verdict")
    rows.append({"name": n, "verdict": v if v in VERDICT_COLORS else None, "corner": k})
  return rows


def _legend(rows: list[dict], counts: np.ndarray) -> str:
  """The octant legend: colour swatch and name, points in it, verdict, K."""
  out = ['<table class="fc3d-legend"><thead><tr><th>octant</th><th>points</th><th>verdict</th><th>K</th></tr>'
         "</thead><tbody>"]
  for n, (r, col) in enumerate(zip(rows, OCTANT_COLORS)):
    v = r["verdict"] or "n/a"
    k = "n/a" if r["corner"] is None else f"{r['corner']:.2f}"
    vcol = VERDICT_COLORS.get(r["verdict"], NO_VERDICT_COLOR)
    out.append(f'<tr data-octant="{html.escape(r["name"])}"><td><span class="fc3d-swatch" style="background:{col}">'
               f'</span><code>{html.escape(r["name"])}</code></td><td>{int(counts[n])}</td>'
               f'<td style="color:{vcol}">{html.escape(v)}</td><td>{k}</td></tr>')
  out.append("</tbody></table>")
  return "".join(out)


_CSS = ("font:12px/1.35 system-ui,sans-serif;color:#1f2328;display:inline-block;vertical-align:top;margin:6px;"
        "border:1px solid #d0d7de;border-radius:6px;padding:8px")
_STYLE = """<style>
.fc3d canvas{touch-action:none;cursor:grab;display:block;border:1px solid #eaeef2;border-radius:4px;background:#fff}
.fc3d canvas.fc3d-dragging{cursor:grabbing}
.fc3d-title{font-weight:600;margin-bottom:4px}
.fc3d-hint,.fc3d-notes{color:#57606a;font-size:11px;max-width:480px}
.fc3d-legend{border-collapse:collapse;margin-top:6px}
.fc3d-legend th,.fc3d-legend td{padding:1px 8px;border-bottom:1px solid #eaeef2;text-align:left}
.fc3d-swatch{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:middle;border-radius:2px}
</style>"""

# The viewer: world axes x, y, z = units i, j, k; z points up on screen. Orthographic projection after a turn by
# `yaw` about z and `pitch` about the screen's horizontal; points are drawn far to near (painter's order).
_SCRIPT = r"""<script>
(function () {
  "use strict";
  var root = document.currentScript.parentElement;
  var D = JSON.parse(root.querySelector("script.fc3d-data").textContent);
  var canvas = root.querySelector("canvas");
  var ctx = canvas.getContext("2d");
  var W = canvas.width, H = canvas.height, dpr = window.devicePixelRatio || 1;
  canvas.style.width = W + "px"; canvas.style.height = H + "px";
  canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
  var HOME = {yaw: -0.65, pitch: 0.45};
  var view = {yaw: HOME.yaw, pitch: HOME.pitch}, drag = null, pending = false;
  var scale = 0.42 * Math.min(W, H) / D.extent;

  function project(p) {
    var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw), cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    var x1 = p[0] * cy - p[1] * sy, y1 = p[0] * sy + p[1] * cy;
    var y2 = y1 * cp - p[2] * sp, z2 = y1 * sp + p[2] * cp;
    return [W / 2 + scale * x1, H / 2 - scale * z2, y2];
  }
  function line(a, b, color, width, dash) {
    var p = project(a), q = project(b);
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.setLineDash(dash || []);
    ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
  }
  function text(p, s, color, bold) {
    var q = project(p);
    ctx.font = (bold ? "600 " : "") + "12px system-ui, sans-serif"; ctx.fillStyle = color;
    ctx.fillText(s, q[0] + 4, q[1] - 4);
  }
  function draw() {
    pending = false;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    var c, a;
    for (a = 0; a < 3; a++) {
      var lo = [0, 0, 0], hi = [0, 0, 0], tip = [0, 0, 0], neg = [0, 0, 0];
      lo[a] = D.axes[a][0]; hi[a] = D.axes[a][1]; tip[a] = 1; neg[a] = -1;
      line(lo, hi, "#24292f", 1.2);
      var t = project(tip), n = project(neg);
      ctx.fillStyle = "#fff"; ctx.strokeStyle = "#24292f"; ctx.lineWidth = 1; ctx.setLineDash([]);
      ctx.beginPath(); ctx.arc(t[0], t[1], 3.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      ctx.fillStyle = "#24292f"; ctx.fillRect(n[0] - 1.5, n[1] - 1.5, 3, 3);
      text(hi, D.labels[a], "#24292f", true);
    }
    var items = [];
    for (c = 0; c < D.cloud.length; c++) items.push([project(D.cloud[c]), 0, c]);
    for (c = 0; c < D.points.length; c++) items.push([project(D.points[c]), 1, c]);
    for (c = 0; c < 8; c++) {
      if (D.octants[c].corner !== null) items.push([project(corner(c, D.octants[c].corner)), 2, c]);
    }
    items.sort(function (u, v) { return v[0][2] - u[0][2]; });
    for (c = 0; c < items.length; c++) {
      var it = items[c], q = it[0];
      if (it[1] === 0) { ctx.fillStyle = "rgba(140,140,140,0.35)"; ctx.fillRect(q[0] - 1, q[1] - 1, 2, 2); continue; }
      if (it[1] === 1) {
        ctx.fillStyle = D.point_colors[it[2]]; ctx.strokeStyle = "#fff"; ctx.lineWidth = 0.6; ctx.setLineDash([]);
        ctx.beginPath(); ctx.arc(q[0], q[1], 3.2, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); continue;
      }
      var o = D.octants[it[2]], col = D.verdict_colors[o.verdict] || D.no_verdict;
      line([0, 0, 0], corner(it[2], o.corner), col, 0.8, [2, 3]);
      ctx.globalAlpha = 0.35; ctx.fillStyle = col;
      ctx.beginPath(); ctx.arc(q[0], q[1], 9, 0, 2 * Math.PI); ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = col; ctx.lineWidth = 1.5; ctx.setLineDash([]); ctx.stroke();
      ctx.font = "600 11px ui-monospace, monospace"; ctx.fillStyle = col; ctx.fillText(o.name, q[0] + 10, q[1] + 4);
    }
    canvas.dataset.yaw = view.yaw.toFixed(4); canvas.dataset.pitch = view.pitch.toFixed(4);
  }
  function corner(octant, r) {  // r (+-1, +-1, +-1) with the signs of the octant (bit 2: first unit negative)
    return [(octant & 4 ? -r : r), (octant & 2 ? -r : r), (octant & 1 ? -r : r)];
  }
  function later() { if (!pending) { pending = true; window.requestAnimationFrame(draw); } }
  canvas.addEventListener("pointerdown", function (e) {
    drag = {x: e.clientX, y: e.clientY, yaw: view.yaw, pitch: view.pitch};
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* a synthetic event may carry no live pointer */ }
    canvas.classList.add("fc3d-dragging"); e.preventDefault();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drag) return;
    view.yaw = drag.yaw + 0.01 * (e.clientX - drag.x);
    view.pitch = Math.max(-1.55, Math.min(1.55, drag.pitch + 0.01 * (e.clientY - drag.y)));
    later();
  });
  function release() { drag = null; canvas.classList.remove("fc3d-dragging"); }
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("dblclick", function () { view.yaw = HOME.yaw; view.pitch = HOME.pitch; later(); });
  draw();
})();
</script>"""


def _extent(points: np.ndarray, cloud: np.ndarray, corners: list) -> tuple[list, float]:
  """Each axis's [low, high] (at least [-1, 1], 5% beyond the data) and the radius the canvas must hold (any turn
  of an orthographic view keeps a point within its norm of the centre): the furthest reached point, axis end or
  corner disc, and the CLOUD_QUANTILE quantile of the natural points' norms (a few far ones may leave the canvas)."""
  allp = np.concatenate([points, cloud, np.eye(3), -np.eye(3)], 0)
  lo, hi = np.minimum(allp.min(0), -1.0) * 1.05, np.maximum(allp.max(0), 1.0) * 1.05
  radius = max(float(np.abs(np.concatenate([lo, hi])).max()), math.sqrt(3) * max([0.0] + [k for k in corners if k]))
  if points.size:
    radius = max(radius, float(np.linalg.norm(points, axis=1).max()))
  if cloud.size:
    radius = max(radius, float(np.quantile(np.linalg.norm(cloud, axis=1), CLOUD_QUANTILE)))
  return [[round(float(a), DIGITS), round(float(b), DIGITS)] for a, b in zip(lo, hi)], round(radius, DIGITS)


def view3d_html(points: np.ndarray, cloud: np.ndarray | None,
                octants: Sequence[Mapping] | Mapping[str, Mapping], *, labels: Sequence[str], title: str,
                element_id: str | None = None, space: str = SCALED_SPACE) -> str:
  """An interactive 3-D view (module docstring) as an HTML fragment: one ``<div class="fc3d">``.

  Args:
    points: float [M, 3] reached points in the scaled space (each unit / its phase-1 maximum); non-finite rows are
      dropped (a note says how many).
    cloud: optional float [N, 3] natural-image activations, scaled the same way (grey); non-finite rows dropped,
      more than MAX_CLOUD thinned.
    octants: the eight octants, either a sequence of dicts with keys ``name`` (one of OCTANTS), ``verdict``
      ('possible' / 'collapsed' / 'uncertain', or None) and ``corner`` (K in [0, 1], or None / NaN), or a mapping
      from name to such a dict. A missing octant shows 'n/a'.
    labels: the three axis labels (units i, j, k).
    title: a line above the view.
    element_id: the ``id`` of the ``<div>``; default ``'fc3d-'`` + a digest of the content.
    space: what the coordinates are, for the hint line (``SCALED_SPACE`` or ``REACH_SPACE``: each coordinate over
      the reach of its own half-axis, where an octant's corner point is exactly K(±1, ±1, ±1)).

  Returns:
    the fragment (str). Its script needs no other script and fetches nothing.
  """
  if len(labels) != 3:
    raise ValueError(f"labels must name the three units, got {len(labels)}")
  notes: list[str] = []
  pts = _finite_rows(points, "reached points", notes)
  cl = _finite_rows(cloud, "natural points", notes)
  if cl.shape[0] > MAX_CLOUD:
    step = math.ceil(cl.shape[0] / MAX_CLOUD)
    notes.append(f"natural cloud: {cl[::step].shape[0]} of {cl.shape[0]} points shown (one in {step})")
    cl = cl[::step]
  rows = _octant_rows(octants)
  oct_idx = octant_of(pts)
  counts = np.bincount(oct_idx[oct_idx >= 0], minlength=8)
  axes, radius = _extent(pts, cl, [r["corner"] for r in rows])
  data = {"points": pts.round(DIGITS).tolist(), "cloud": cl.round(DIGITS).tolist(),
          "point_colors": [OCTANT_COLORS[n] if n >= 0 else OFF_OCTANT_COLOR for n in oct_idx],
          "octants": rows, "labels": [str(s) for s in labels], "axes": axes, "extent": radius,
          "verdict_colors": VERDICT_COLORS, "no_verdict": NO_VERDICT_COLOR}
  payload = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
  if element_id is None:
    element_id = "fc3d-" + hashlib.sha256((title + payload).encode()).hexdigest()[:12]
  note_html = "".join(f"<div>{html.escape(n)}</div>" for n in notes)
  w, h = CANVAS
  return (f'<div class="fc3d" id="{html.escape(element_id)}" style="{_CSS}">{_STYLE}'
          f'<div class="fc3d-title">{html.escape(title)}</div>'
          f'<canvas width="{w}" height="{h}" aria-label="{html.escape(title)}: 3-D view, drag to rotate"></canvas>'
          f'<div class="fc3d-hint">drag to rotate, double-click to reset; {html.escape(space)}; discs: each '
          "octant's corner K at K(&plusmn;1, &plusmn;1, &plusmn;1), coloured by verdict"
          f'</div>{_legend(rows, counts)}<div class="fc3d-notes">{note_html}</div>'
          f'<script type="application/json" class="fc3d-data">{payload}</script>{_SCRIPT}</div>')


def standalone_page(title: str, body: Sequence[str]) -> str:
  """A whole HTML document (UTF-8, no external resource) whose body is the given fragments in order."""
  return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          f"<title>{html.escape(title)}</title>\n"
          "<style>body{font:13px/1.4 system-ui,sans-serif;margin:12px 18px;color:#1f2328}"
          "h1{font-size:18px;margin:0 0 8px}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
