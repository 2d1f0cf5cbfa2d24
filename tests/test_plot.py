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
  # tick at scaled 1.0 is labelled with the raw unit maximum, on each axis (negative half-axis: same factor)
  for axis, s in ((ax.xaxis, SC[0]), (ax.yaxis, SC[1])):
    fmt = axis.get_major_formatter()
    assert fmt(1.0, 0) == f"{s:.3g}" and fmt(-1.0, 0) == f"{-s:.3g}"
    assert 1.0 in list(axis.get_major_locator()())
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
    assert math.atan2(cy, cx) == pytest.approx(_wrap(r.thetas[a]), abs=1e-9)   # on its angle's ray
    np.testing.assert_array_equal(img.get_array(), r.images[0, a, r.best_seed[0, a]])
    assert math.hypot(cx, cy) - t / math.sqrt(2) >= np.hypot(*(r.y_best[0, a] / SC))  # wholly beyond its point
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
  assert "frontier q 2" in txt.get_text() and "red loop: radius = 1 x mean C" in txt.get_text()


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
