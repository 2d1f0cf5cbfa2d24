"""Tests of fcjax.plot_triple and fcjax._view3d (no browser: tests/test_view3d_browser.py drives the page).

The synthetic triple of tests/triple_case.py: units (3, 7, 12), octant '+-+' collapsed only in 3-D, '---' collapsed
and shown by the pair (3, 7) in quadrant III, '-+-' uncertain with no K. About 10 s (rendering).
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from matplotlib.colors import to_hex

import triple_case as case
from fcjax import _view3d, errors, plot, plot_triple


@pytest.fixture(scope="module")
def fig():
  return plot_triple.plot_triple(case.result(), 0, case.summary(0), case.cloud())


def _cells(fig) -> dict:
  (tab,) = plot.artists(fig, "fc3-table")
  return tab.get_celld()


def _data(page: str) -> list[dict]:
  return [json.loads(m) for m in re.findall(r'<script type="application/json" class="fc3d-data">(.*?)</script>', page)]


def test_figure_has_three_projections_and_the_octant_table(fig):
  assert len(fig.axes) == 4
  assert [a.get_title() for a in fig.axes[:3]] == [f"units {a} & {b}: projection (colour = octant)"
                                                   for a, b in ((3, 7), (3, 12), (7, 12))]
  cells = _cells(fig)
  rows = sorted({i for i, _ in cells if i > 0})
  assert rows == list(range(1, 9))
  assert [cells[i, 0].get_text().get_text() for i in rows] == list(case.OCTANTS)
  assert [cells[i, 1].get_text().get_text() for i in rows] == case.summary(0)["verdicts"]
  assert cells[6, 2].get_text().get_text() == "n/a"  # '-+-' has no K
  assert cells[6, 3].get_text().get_text() == "seeds, under-reached"


def test_only_the_triple_octant_is_highlighted(fig):
  cells = _cells(fig)
  hot = plot.artists(fig, "fc3-only-triple")
  assert len(hot) == 5 and all(c in [cells[3, j] for j in range(5)] for c in hot)  # row 3 = '+-+', every column
  assert to_hex(cells[3, 0].get_facecolor()) == plot_triple.ONLY_TRIPLE_FACE
  assert cells[3, 4].get_text().get_text() == "only the triple"
  assert cells[8, 4].get_text().get_text() == "shown by (3, 7) III"  # '---': a pair shows it, not highlighted
  assert to_hex(cells[8, 0].get_facecolor()) != plot_triple.ONLY_TRIPLE_FACE
  (marked,) = plot.artists(fig, "fc3-pair-collapsed")  # and that pair's panel marks its quadrant III
  assert marked.axes is fig.axes[0] and marked.get_text() == "III collapsed"


def test_points_are_the_best_seeds_scaled_and_coloured_by_octant(fig):
  r = case.result()
  best = r.y[0, :, 0] / r.scales[0]  # seed 0 is the best everywhere
  octs = _view3d.octant_of(best)
  for ax, (a, b) in zip(fig.axes, plot_triple.PROJECTIONS):
    (pts,) = plot.artists(ax, "fc3-best")
    np.testing.assert_allclose(pts.get_offsets(), best[:, [a, b]], rtol=1e-12)
    cols = [to_hex(c) for c in pts.get_facecolors()]
    assert cols == [_view3d.OCTANT_COLORS[o] if o >= 0 else _view3d.OFF_OCTANT_COLOR for o in octs]
    (tips,) = plot.artists(ax, "fc3-tip-mark")
    np.testing.assert_array_equal(tips.get_xydata(), [[1.0, 0.0], [0.0, 1.0]])
    fmt = ax.xaxis.get_major_formatter()
    assert fmt(1.0, 0) == f"{r.scales[0, a]:g}"  # raw tick labels, tip = the unit's scale
  assert len(plot.artists(fig.axes[0], "fc3-cloud")) == 1 and len(plot.artists(fig, "fc3-axis")) == 3


def test_octant_of():
  p = np.array([[1, 2, 3], [1, 2, -3], [-1, -2, -3], [1, -1, 1], [0, 1, 1], [np.nan, 1, 1], [-0.5, 1, -1]])
  np.testing.assert_array_equal(_view3d.octant_of(p), [0, 1, 7, 2, -1, -1, 5])
  assert [_view3d.OCTANTS[i] for i in (0, 1, 7, 2, 5)] == ["+++", "++-", "---", "+-+", "-+-"]
  assert _view3d.VERDICT_COLORS == plot.VERDICT_COLORS  # the 3-D view and the figures speak the same colours


def test_file_is_written_atomically(tmp_path):
  out = tmp_path / "sub" / "triple.png"
  plot_triple.plot_triple(case.result(), 1, case.summary(1), path=out)
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert [p.name for p in out.parent.iterdir()] == ["triple.png"]  # no temp file left
  with pytest.raises(errors.FcjaxError, match=r"\.png, \.pdf or \.svg"):
    plot_triple.plot_triple(case.result(), 1, case.summary(1), path=tmp_path / "t.jpg")


def _one_line(excinfo) -> str:
  msg = str(excinfo.value)
  assert "\n" not in msg and msg
  return msg


def test_bad_inputs_give_one_clear_line():
  r = case.result()
  pair = dataclasses.replace(r, pairs=r.pairs[:, :2], scales=r.scales[:, :2], y=r.y[..., :2])
  with pytest.raises(errors.FcjaxError) as e:
    plot_triple.plot_triple(pair, 0, case.summary(0))
  assert "pairs [P, 3]" in _one_line(e) and "combination_plot" in str(e.value)
  for bad in (2, -1, 1.0, True):
    with pytest.raises(errors.FcjaxError) as e:
      plot_triple.plot_triple(r, bad, case.summary(0))
    assert "out of range" in _one_line(e) and "2 triple(s)" in str(e.value)
  with pytest.raises(errors.FcjaxError) as e:
    plot_triple.write_triple_html(r, 1, case.summary(0), path="unused.html")
  assert "units [3, 7, 12]" in _one_line(e) and "units [1, 2, 5]" in str(e.value)
  with pytest.raises(errors.FcjaxError) as e:
    plot_triple.plot_triple(r, 0, {"units": [3, 7, 12]})
  assert "not a triple summary" in _one_line(e)
  with pytest.raises(errors.FcjaxError) as e:
    plot_triple.plot_triple(r, 0, case.summary(0), cloud=np.zeros((5, 2)))
  assert "[N, 3]" in _one_line(e)
  with pytest.raises(errors.FcjaxError) as e:
    plot_triple.plot_triple(dataclasses.replace(r, scales=r.scales * [1, 0, 1]), 0, case.summary(0))
  assert "positive" in _one_line(e)


def _diverged():
  """Triple 0 with the '+-+' diagonal diverged in every seed (NaN y and C), and a NaN row in the cloud."""
  r = case.result()
  a = int(np.flatnonzero(np.all(np.sign(r.thetas) == [1, -1, 1], axis=1))[0])
  y, c = r.y.copy(), r.c.copy()
  y[0, a], c[0, a] = np.nan, np.nan
  cl = case.cloud()
  cl[4] = [np.inf, 0.0, 1.0]
  return dataclasses.replace(r, y=y, c=c), cl


def test_non_finite_points_are_dropped_and_said(tmp_path):
  r, cl = _diverged()
  f = plot_triple.plot_triple(r, 0, case.summary(0), cl)
  said = plot.artists(f, "fc3-notes")[0].get_text()
  assert "1 of 26 best-seed points not finite" in said and "1 of 600 natural points not finite" in said
  assert plot.artists(f.axes[0], "fc3-best")[0].get_offsets().shape == (25, 2)
  page = plot_triple.write_triple_html(r, 0, case.summary(0), cl, tmp_path / "t.html").read_text()
  text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may spell NaN by chance
  assert not re.search(r"NaN|Infinity", text)
  (d,) = _data(page)
  assert len(d["points"]) == 25 and len(d["cloud"]) == len(cl) - 1
  assert "1 of 26 best-seed points not finite" in page and "1 of 600 natural points not finite" in page


def test_page_is_standalone_with_table_view_and_figure(tmp_path):
  out = plot_triple.write_triple_html(case.result(), 0, case.summary(0), case.cloud(), tmp_path / "a" / "t.html")
  page = out.read_text()
  assert page.startswith("<!DOCTYPE html>") and page.count('id="fc3d-triple-0"') == 1
  assert not re.search(r"https?://|<script[^>]*\bsrc=|<link", page)  # nothing fetched
  rows = re.findall(r'<tr data-octant="([^"]+)"( class="only-triple")?>', page)
  assert [n for n, _ in rows] == list(case.OCTANTS) * 2  # the view's legend, then the page's table
  assert [html for n, html in rows[8:] if html] == [' class="only-triple"'] and rows[10][0] == "+-+"
  assert "under-reached: unit 3 below the natural images" in page
  assert page.count("data:image/png;base64,") == 1
  (d,) = _data(page)
  assert [o["verdict"] for o in d["octants"]] == case.summary(0)["verdicts"]
  assert d["octants"][5]["corner"] is None and d["octants"][2]["corner"] == 0.06
  lean = plot_triple.write_triple_html(case.result(), 0, case.summary(0), None, tmp_path / "b.html", figure=False)
  assert "data:image/png" not in lean.read_text()


def test_view3d_fragment_escapes_thins_and_names():
  pts = np.array([[1.0, -0.5, 0.25], [np.nan, 0, 0], [-1, -1, -1]])
  octs = {"+-+": {"verdict": "collapsed", "corner": 0.1}, "---": {"verdict": "bogus", "corner": float("inf")}}
  big = np.random.default_rng(0).normal(size=(_view3d.MAX_CLOUD * 2 + 1, 3))
  frag = _view3d.view3d_html(pts, big, octs, labels=["</script><b>x", "j", "k"], title="<t> & </script>")
  assert frag.count("</script>") == 2 and "&lt;t&gt; &amp; &lt;/script&gt;" in frag  # one data, one code script
  (d,) = _data(frag)
  assert d["labels"][0] == "</script><b>x" and len(d["points"]) == 2 and len(d["cloud"]) == 2667
  assert "1 of 3 reached points not finite" in frag and "2667 of 8001 points shown (one in 3)" in frag
  assert [(o["name"], o["verdict"], o["corner"]) for o in d["octants"] if o["verdict"] or o["corner"]] == [
      ("+-+", "collapsed", 0.1)]  # an unknown verdict and an infinite K show as n/a
  assert d["point_colors"] == [_view3d.OCTANT_COLORS[2], _view3d.OCTANT_COLORS[7]]
  other = _view3d.view3d_html(pts[:1], None, octs, labels="ijk", title="t")
  assert re.search(r'id="(fc3d-\w+)"', frag)[1] != re.search(r'id="(fc3d-\w+)"', other)[1]
  assert 'id="mine"' in _view3d.view3d_html(pts, None, [], labels="ijk", title="t", element_id="mine")
  with pytest.raises(ValueError):
    _view3d.view3d_html(pts, None, [], labels=["i", "j"], title="t")


def test_the_3d_view_shows_the_reach_normalised_space_of_the_measures(tmp_path):
  """With fcjax.orthants' summary (which has the six half-axis reaches) the view's points are the best points over
  the reach of their own half-axis, so each octant's corner point is exactly K(±1, ±1, ±1); every half-axis ends at
  ±1 (none dwarfs the others)."""
  from fcjax import _orthant, orthants
  r = case.result()
  s = orthants.summarize(r, 0, cloud=case.cloud())
  page = plot_triple.write_triple_html(r, 0, summary=s, cloud=case.cloud(), path=tmp_path / "t.html",
                                       figure=False).read_text()
  (d,) = _data(page)
  reach = [s["half_axes"][h]["reach_scaled"] for h in orthants.HALF_AXES3]
  want = _orthant.normalise(orthants.best_points(r, 0), reach)
  np.testing.assert_allclose(d["points"], want, atol=1e-4)
  assert np.abs(np.asarray(d["points"])).max() <= 1.0 + 1e-4
  assert "reach of its own half-axis" in page
  (d2,) = _data(plot_triple.write_triple_html(r, 0, summary=case.summary(0), path=tmp_path / "u.html",
                                              figure=False).read_text())
  np.testing.assert_allclose(d2["points"], orthants.best_points(r, 0), atol=1e-4)   # no reaches: the scaled space
