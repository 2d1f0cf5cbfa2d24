"""Tests of fcjax.plot: the geometry of the drawn artists, not just that a file appears.

Uses the ideal sweeps of test_measures (exact cosdot maximisers over known sets, raw scales (2.5, 0.4)).
Runtime: about 10 s (most of it rendering PNG/PDF/SVG).
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from fcjax import errors, plot
from test_measures import SCALES, ideal_result

SC = np.asarray(SCALES)


def _wrap(a):
  return np.angle(np.exp(1j * np.asarray(a)))


@pytest.fixture(scope="module")
def mixed():
  """A disc sweep where some angles have a negative mean C (drawn at radius 0) plus a natural-image cloud."""
  r = ideal_result("disc", n_angles=60)
  c = r.c.copy()
  c[0, 5:9] = -np.abs(c[0, 5:9]) - 0.05     # angles 30..48 deg: mean C < 0
  r = dataclasses.replace(r, c=c)
  cloud = np.random.default_rng(3).normal(size=(700, 2)) * 0.3 * SC
  return r, cloud


@pytest.fixture(scope="module")
def mixed_fig(mixed):
  r, cloud = mixed
  return plot.combination_plot(r, cloud=cloud, correlation=-0.25)


def test_loop_vertices_lie_on_their_rays(mixed, mixed_fig):
  r, _ = mixed
  (loop,) = plot.artists(mixed_fig, "fc-loop")
  xy = loop.get_xydata()
  a_n = r.thetas.size
  assert xy.shape == (a_n + 1, 2)                       # closed: A vertices + the first again
  np.testing.assert_array_equal(xy[0], xy[-1])
  cm = r.c_mean[0]
  pos = cm > 0
  assert pos.sum() == a_n - 4
  np.testing.assert_allclose(_wrap(np.arctan2(xy[:-1, 1], xy[:-1, 0])[pos] - r.thetas[pos]), 0, atol=1e-9)
  np.testing.assert_allclose(np.hypot(xy[:-1, 0], xy[:-1, 1])[pos], cm[pos], rtol=1e-9)  # default scale 1
  np.testing.assert_array_equal(xy[:-1][~pos], 0.0)    # negative mean -> the origin, not the opposite ray
  assert "radius = 1 x C" in loop.get_label()


def test_axis_tips_are_unit_maxima(mixed, mixed_fig):
  r, _ = mixed
  ax = mixed_fig.axes[0]
  (tips,) = plot.artists(mixed_fig, "fc-tip-mark")
  np.testing.assert_array_equal(tips.get_xydata(), [[1.0, 0.0], [0.0, 1.0]])
  # tick labels are raw activations (scaled position x s, the negative half-axis by the same factor), at nice raw
  # values (changed on purpose: the ticks used to be the scaled positions +-0.5, +-1 whatever the extent)
  for axis, s in ((ax.xaxis, SC[0]), (ax.yaxis, SC[1])):
    fmt = axis.get_major_formatter()
    assert fmt(1.0, 0) == f"{s:g}" and fmt(-1.0, 0) == f"{-s:g}"
    raw = np.asarray(axis.get_major_locator()()) * s
    assert raw.size >= 3
    step = np.diff(raw).min()
    np.testing.assert_allclose(np.diff(raw), step, rtol=1e-9)                  # evenly spaced raw values,
    mant = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert min(abs(mant - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6, raw         # a nice step,
    np.testing.assert_allclose(raw / step, np.round(raw / step), atol=1e-6)    # on multiples of it
  # the best point at theta = 0 of a disc is the first unit's maximum: it plots at the tip
  (best,) = plot.artists(mixed_fig, "fc-best")
  np.testing.assert_allclose(best.get_offsets()[0], [1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(best.get_offsets(), r.y_best[0] / SC, rtol=1e-9)
  # unit-maximum images sit on their positive axes beyond the tip, and show the result's unit images
  tip_imgs = plot.artists(mixed_fig, "fc-tip")
  assert len(tip_imgs) == 2
  (x0, x1, y0, y1), (u0, u1, v0, v1) = tip_imgs[0].get_extent(), tip_imgs[1].get_extent()
  assert (x0 + x1) / 2 > 1 and (y0 + y1) / 2 == pytest.approx(0.0)
  assert (v0 + v1) / 2 > 1 and (u0 + u1) / 2 == pytest.approx(0.0)
  np.testing.assert_array_equal(tip_imgs[0].get_array(), r.unit_images[0, 0])
  np.testing.assert_array_equal(tip_imgs[1].get_array(), r.unit_images[0, 1])


def test_thumbnails_cloud_and_seeds(mixed, mixed_fig):
  r, cloud = mixed
  thumbs = plot.artists(mixed_fig, "fc-thumb")
  a_n = r.thetas.size
  assert len(thumbs) == math.ceil(a_n / 2)
  loop = plot.artists(mixed_fig, "fc-loop")[0].get_xydata()
  u = np.linspace(0, 1, 50)[None, :, None]
  loop_dense = (loop[:-1, None] * (1 - u) + loop[1:, None] * u).reshape(-1, 2)  # points along every loop segment
  pts = r.y[0].reshape(-1, 2) / SC
  boxes = []
  for n, img in enumerate(thumbs):
    a = 2 * n
    x0, x1, y0, y1 = img.get_extent()
    cx, cy, t = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0
    p = r.y_best[0, a] / SC
    np.testing.assert_array_equal(img.get_array(), r.images[0, a, r.best_seed[0, a]])
    # just beyond the point it produced (changed on purpose: no longer on a ring around all points): outward from
    # it (within 90 degrees of its direction) and near it: a disc's thumbnails only get pushed by their neighbours
    v = np.array([cx, cy]) - p
    assert np.dot(v, p) > 0
    assert t / math.sqrt(2) <= np.hypot(*v) <= 2.5 * t
    for q in (loop_dense, pts):                                                  # covers no loop and no point
      assert not np.any((q[:, 0] > x0) & (q[:, 0] < x1) & (q[:, 1] > y0) & (q[:, 1] < y1))
    boxes.append((x0, x1, y0, y1))
  for i in range(len(boxes)):                                                    # thumbnails do not overlap
    for j in range(i + 1, len(boxes)):
      a, b = boxes[i], boxes[j]
      assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]
  (cl,) = plot.artists(mixed_fig, "fc-cloud")
  assert cl.get_offsets().shape == (700, 2)
  np.testing.assert_allclose(cl.get_offsets(), cloud / SC, rtol=1e-12)
  (seeds,) = plot.artists(mixed_fig, "fc-seeds")
  np.testing.assert_allclose(seeds.get_offsets(), pts, rtol=1e-12)
  title = mixed_fig.axes[0].get_title()
  assert "units 3 & 7" in title and "r = -0.25" in title and "[neuron]" in title
  (txt,) = plot.artists(mixed_fig, "fc-measures")
  assert "q: I 2  II 2  III 2  IV 2" in txt.get_text() and "red loop: radius = 1 x mean C" in txt.get_text()
  assert "I possible; II possible; III possible; IV possible" in txt.get_text()


def test_odd_angle_count_loop_scale_and_no_thumbnails():
  r = ideal_result("diamond", n_angles=7)
  small = dataclasses.replace(r, c=r.c * 0.03)        # optimiser "missed": loop auto-scaled by a nice factor
  fig = plot.combination_plot(small)
  assert len(plot.artists(fig, "fc-thumb")) == 4 and not plot.artists(fig, "fc-cloud")
  (loop,) = plot.artists(fig, "fc-loop")
  k = plot.loop_scale_for(small.c_mean[0], small.y_best[0] / SC)
  assert k in (10.0, 20.0, 50.0)
  xy = loop.get_xydata()[:-1]
  np.testing.assert_allclose(np.hypot(xy[:, 0], xy[:, 1]), k * np.maximum(small.c_mean[0], 0), rtol=1e-9)
  assert f"radius = {k:g} x C" in loop.get_label()
  c, y = r.c.copy(), r.y.copy()
  c[0, 3, 1], y[0, 2, 0] = np.nan, np.nan                 # a diverged seed: no crash, the loop keeps A + 1 vertices
  nan_fig = plot.combination_plot(dataclasses.replace(r, c=c, y=y))
  assert len(plot.artists(nan_fig, "fc-thumb")) == 4
  assert plot.artists(nan_fig, "fc-loop")[0].get_xydata().shape == (8, 2)
  bare = plot.combination_plot(r, thumbnails=False, legend=False, measures_text=False)
  assert not plot.artists(bare, "fc-thumb") and not plot.artists(bare, "fc-tip")
  assert len(plot.artists(bare, "fc-loop")) == 1


def test_draws_into_given_axes_and_multi_panel():
  r1, r2 = ideal_result("disc", n_angles=12), ideal_result("rounded_line", n_angles=12)
  fig = Figure()
  ax = fig.add_subplot()
  assert plot.combination_plot(r1, ax=ax) is fig
  cloud = np.random.default_rng(0).normal(size=(50, 2))
  panels = [{"result": r1, "pair": 0, "cloud": cloud, "correlation": 0.8, "label": "conv2d2 highest"},
            (r2, 0, None, -0.6, "conv2d2 lowest"), (r1, 0, cloud, 0.01, "conv2d2 zero"), r2]
  fig = plot.figure(panels, ncols=3)
  assert len(fig.axes) == 4
  assert [len(plot.artists(a, "fc-loop")) for a in fig.axes] == [1, 1, 1, 1]
  assert [len(plot.artists(a, "fc-thumb")) for a in fig.axes] == [6, 6, 6, 6]
  assert [len(plot.artists(a, "fc-cloud")) for a in fig.axes] == [1, 0, 1, 0]
  assert fig.axes[1].get_title().startswith("conv2d2 lowest\n")
  with pytest.raises(errors.FcjaxError):
    plot.figure([])


def test_bad_input_is_a_clear_error():
  r = ideal_result("disc", n_angles=8)
  with pytest.raises(errors.FcjaxError, match="pair index 2 out of range"):
    plot.combination_plot(r, pair=2)
  with pytest.raises(errors.FcjaxError, match=r"\[N, 2\]"):
    plot.combination_plot(r, cloud=np.zeros(10))
  with pytest.raises(errors.FcjaxError, match="must be positive"):
    plot.combination_plot(dataclasses.replace(r, scales=np.array([[0.0, 1.0]])))


def test_renders_png_pdf_svg(mixed, mixed_fig):
  from PIL import Image
  out = {}
  for fmt in ("png", "pdf", "svg"):
    buf = io.BytesIO()
    mixed_fig.savefig(buf, format=fmt, dpi=60)
    out[fmt] = buf.getvalue()
  assert out["png"][:8] == b"\x89PNG\r\n\x1a\n" and out["pdf"][:5] == b"%PDF-" and b"<svg" in out["svg"][:2000]
  px = np.asarray(Image.open(io.BytesIO(out["png"])).convert("RGB")).astype(int)
  red = (px[..., 0] > 180) & (px[..., 1] < 90) & (px[..., 2] < 90)   # the loop's colour is on the canvas
  assert red.sum() > 50


# --- honest figure: extents, text layout, verdict marks, footer ------------------------------------------------------
def _lopsided():
  """The pointy pair (I and III impossible) whose first unit reaches 6x further below zero than above."""
  r = ideal_result("pointy_line", n_angles=24)
  y = r.y.copy()
  y[..., 0] = np.where(y[..., 0] < 0, 6 * y[..., 0], y[..., 0])
  cfg = {"p": 4, "floor": None, "param": "maco", "transforms": "maco", "optimizer": "nadam", "learning_rate": 1.0,
         "steps": 512, "n_seeds": 3, "n_angles": 24, "canvas_size": 128, "input_size": 224}
  return dataclasses.replace(r, y=y, config=cfg, meta={"params_digest": "0123456789abcdef", "weights": "demo"})


def _texts(fig):
  """(text, display bbox) of every visible, non-empty text artist of a drawn figure, tick labels included."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.text import Text
  FigureCanvasAgg(fig)
  fig.canvas.draw()
  rend = fig.canvas.get_renderer()
  out = []
  for t in fig.findobj(Text):
    if not (t.get_visible() and t.get_text().strip()):
      continue
    ax = t.axes
    if ax is not None and t in ax.xaxis.get_ticklabels() + ax.yaxis.get_ticklabels():  # only ticks inside the view
      on_x = t in ax.xaxis.get_ticklabels()
      v, lim = (t.get_position()[0], ax.get_xlim()) if on_x else (t.get_position()[1], ax.get_ylim())
      if not lim[0] - 1e-9 <= v <= lim[1] + 1e-9:
        continue
    out.append((t.get_text(), t.get_window_extent(rend)))
  return out


def _overlaps(texts):
  bad = []
  for i in range(len(texts)):
    for j in range(i + 1, len(texts)):
      a, b = texts[i][1], texts[j][1]
      if a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5:
        bad.append((texts[i][0][:30], texts[j][0][:30]))
  return bad


def test_each_axis_runs_over_its_own_extent_on_each_side():
  r = _lopsided()
  fig = plot.combination_plot(r)
  ax = fig.axes[0]
  pts = r.y[0].reshape(-1, 2) / SC
  (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
  assert x0 <= pts[:, 0].min() and x1 >= pts[:, 0].max() and y0 <= pts[:, 1].min() and y1 >= pts[:, 1].max()
  assert -x0 > 2 * x1                           # the negative half-axis runs ~6x longer, and is drawn so
  assert y1 < 0.6 * -x0 and -y0 < 0.6 * -x0     # the y axis is not stretched to the x axis's extent
  for im in plot.artists(fig, "fc-thumb") + plot.artists(fig, "fc-tip"):  # everything drawn is inside the axes
    e = im.get_extent()
    assert x0 <= e[0] and e[1] <= x1 and y0 <= e[2] and e[3] <= y1


@pytest.mark.parametrize("which", ["disc", "lopsided", "figure"])
def test_no_text_overlaps_another_in_the_rendered_figure(mixed, which):
  """Tick labels (both axes, at the origin too), verdict marks, titles, labels, legend and footer: no two rendered
  text boxes intersect."""
  r, cloud = mixed
  if which == "disc":
    fig = plot.combination_plot(r, cloud=cloud, correlation=0.5, provenance=["data: procedural, n = 700"])
  elif which == "lopsided":
    fig = plot.combination_plot(_lopsided(), cloud=cloud * [6, 1])
  else:
    fig = plot.figure([(r, 0, cloud, 0.3, "highest"), (_lopsided(), 0, None, -0.9, "lowest"),
                       (ideal_result("square", n_angles=24), 0, None, 0.0, "zero")], provenance=["data: x, n = 7"])
  texts = _texts(fig)
  ticks = [t for t, _ in texts if t.lstrip("-").replace(".", "").replace("−", "").isdigit()]
  assert len(ticks) >= 6 * (3 if which == "figure" else 1)
  assert _overlaps(texts) == []


def test_verdict_marks_and_footer():
  r = _lopsided()
  fig = plot.combination_plot(r, provenance=["data: procedural, n = 1000 images"])
  marks = {t.get_text(): t.get_color() for t in plot.artists(fig, "fc-verdict")}
  assert marks == {"I collapsed": plot.VERDICT_COLORS["collapsed"], "II possible": plot.VERDICT_COLORS["possible"],
                   "III collapsed": plot.VERDICT_COLORS["collapsed"], "IV possible": plot.VERDICT_COLORS["possible"]}
  (foot,) = plot.artists(fig, "fc-footer")
  text = foot.get_text()
  for want in ("cosdot p = 4, exact (no floor)", "param maco", "transforms maco", "nadam lr 1.0", "512 steps",
               "3 seeds x 24 angles", "weights demo", "digest 0123456789ab", "data: procedural, n = 1000 images"):
    assert want in text.replace("\n  ", " "), want
  # a panel drawn into a caller's axes has no footer; the multi-panel figure has one, naming each recipe once
  assert not plot.artists(plot.combination_plot(r, ax=Figure().add_subplot()), "fc-footer")
  multi = plot.figure([r, r], provenance=["data: x"])
  (foot,) = plot.artists(multi, "fc-footer")
  assert foot.get_text().count("objective:") == 1 and "data: x" in foot.get_text()
