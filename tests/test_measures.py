"""Tests of fcjax.measures on frontiers whose answers are known.

The sweeps here are *ideal*: for each angle the point is the exact maximiser of the paper's cosdot (p = 4) over a
densely sampled boundary of a known reachable set (disc, L1 diamond, square, thin anti-diagonal "lines"), built in
numpy independently of fcjax.objectives; the other seeds reach 0.9 and 0.8 of it. Runtime: about 2 s.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from fcjax import errors, measures
from fcjax.result import SweepResult

SCALES = (2.5, 0.4)  # raw unit maxima: the measures must work in the scaled space y / s


def boundary(shape: str, n: int = 20000) -> np.ndarray:
  """float [n, 2]: the boundary of a reachable set in scaled space (each unit's maximum over the set is 1)."""
  t = np.linspace(0, 2 * np.pi, n, endpoint=False)
  c, s = np.cos(t), np.sin(t)
  u = np.stack([c, s], 1)
  if shape == "disc":
    pts = u
  elif shape == "diamond":
    pts = u / (np.abs(c) + np.abs(s))[:, None]
  elif shape == "square":
    pts = u / np.maximum(np.abs(c), np.abs(s))[:, None]
  elif shape in ("rounded_line", "pointy_line"):  # thin ellipse / rhombus along the anti-diagonal
    along, across = np.array([1.0, -1.0]) / math.sqrt(2), np.array([1.0, 1.0]) / math.sqrt(2)
    r = 1.0 if shape == "rounded_line" else 1.0 / (np.abs(c) + np.abs(s))
    pts = (c * r)[:, None] * along + (0.05 * s * r)[:, None] * across
  else:
    raise ValueError(shape)
  return pts / pts.max(axis=0)


def cosdot_np(y: np.ndarray, theta: np.ndarray, p: int = 4) -> np.ndarray:
  """The paper's C = dot * cos^p, in numpy (independent of fcjax.objectives)."""
  h = np.stack([np.cos(theta), np.sin(theta)], -1)
  dot = (y * h).sum(-1)
  return dot * (dot / np.maximum(np.linalg.norm(y, axis=-1), 1e-12)) ** p


def ideal_result(shape: str, n_angles: int = 60, seed_factors=(1.0, 0.9, 0.8), image_size: int = 8,
                 rng_seed: int = 0) -> SweepResult:
  """A SweepResult of one pair whose best seed at each angle is the exact cosdot maximiser over ``shape``."""
  rng = np.random.default_rng(rng_seed)
  th = np.arange(n_angles) * 2 * np.pi / n_angles
  b = boundary(shape)
  best = b[np.argmax(cosdot_np(b[None], th[:, None]), axis=1)]          # [A, 2] scaled
  fac = rng.permuted(np.tile(np.asarray(seed_factors, float), (n_angles, 1)), axis=1)  # best seed varies by angle
  ys = best[:, None, :] * fac[..., None]                                 # [A, S, 2] scaled
  c = cosdot_np(ys, th[:, None])
  sc = np.asarray(SCALES)
  n_seeds, h = len(seed_factors), image_size
  images = rng.integers(0, 256, (1, n_angles, n_seeds, h, h, 3), dtype=np.uint8)
  return SweepResult(config={}, model="toy", layer=None, readout="neuron", pairs=np.array([[3, 7]]), thetas=th,
                     scales=sc[None], unit_values=np.tile(sc[None, :, None], (1, 1, n_seeds)),  # phase-1 maxima
                     unit_images=rng.integers(0, 256, (1, 2, h, h, 3), dtype=np.uint8), y=(ys * sc)[None],
                     c=c[None], images=images, history=np.zeros((1, n_angles, n_seeds, 1)))


# --- building blocks ---------------------------------------------------------------------------------------------
def test_quadrant_index_excludes_axes():
  th = np.deg2rad([0, 10, 90, 100, 180, 190, 270, 280, 360, -10])
  np.testing.assert_array_equal(measures.quadrant_index(th), [-1, 0, -1, 1, -1, 2, -1, 3, -1, 3])


def test_lq_radius_matches_direct_formula():
  phi = np.linspace(-3, 3, 101)
  for q in (0.5, 1.0, 2.0, 7.3):
    direct = (np.abs(np.cos(phi)) ** q + np.abs(np.sin(phi)) ** q) ** (-1 / q)
    np.testing.assert_allclose(measures.lq_radius(phi, q), direct, rtol=1e-12)
  # no underflow at large q: the square's radius
  np.testing.assert_allclose(measures.lq_radius(phi, 500.0), 1 / np.maximum(abs(np.cos(phi)), abs(np.sin(phi))),
                             rtol=2e-3)


@pytest.mark.parametrize("q", [0.8, 1.0, 1.5, 2.0, 4.0, 9.0])
def test_fit_frontier_recovers_exact_ball(q):
  phi = np.random.default_rng(1).uniform(0, 2 * np.pi, 40)
  pts = 0.7 * measures.lq_radius(phi, q)[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)
  fit = measures.fit_frontier(pts)
  assert fit.q == pytest.approx(q, rel=1e-4)
  assert fit.r == pytest.approx(0.7, rel=1e-6)
  assert fit.rms < 1e-6 and fit.n == 40 and fit.note == ""


def test_fit_frontier_noisy_and_degenerate():
  rng = np.random.default_rng(2)
  phi = rng.uniform(0, 2 * np.pi, 60)
  pts = (measures.lq_radius(phi, 1.0) * (1 + 0.02 * rng.standard_normal(60)))[:, None] * np.stack(
      [np.cos(phi), np.sin(phi)], 1)
  fit = measures.fit_frontier(pts)
  assert fit.q == pytest.approx(1.0, abs=0.08)
  assert fit.rel_rms == pytest.approx(0.02, abs=0.01)
  few = measures.fit_frontier(pts[:2])
  assert math.isnan(few.q) and "need 3" in few.note
  axes = measures.fit_frontier(np.array([[1.0, 0], [0, 1.0], [-1.0, 0.02], [0.01, -1.0]]))
  assert "near the axes" in axes.note and math.isfinite(axes.q)
  one_dir = measures.fit_frontier(np.array([[1.0, 1.0], [-2.0, 2.0], [0.5, -0.5]]))  # all at 45 deg to the axes
  assert math.isnan(one_dir.q) and "single angle" in one_dir.note


# --- the corner measure on dense point sets: analytic values ---------------------------------------------------------
@pytest.mark.parametrize("shape, expected", [("square", 1.0), ("disc", 1 / math.sqrt(2)), ("diamond", 0.5),
                                             ("pointy_line", 0.0)])
def test_corner_measure_analytic_values(shape, expected):
  pts = boundary(shape, 40_000)
  reach = measures.half_axis_reach(pts)
  np.testing.assert_allclose(reach, 1.0, atol=1e-9)  # boundary() puts every half-axis's extent at 1
  k = measures.corner_measures(pts, reach)
  if shape == "pointy_line":  # a rhombus along the anti-diagonal 0.05 as wide as long: I and III corners 0.05
    np.testing.assert_allclose(k[[1, 3]], 1.0, atol=1e-3)
    np.testing.assert_allclose(k[[0, 2]], 0.05, atol=1e-3)
    t = np.linspace(-1, 1, 1001)  # the exact segment (the paper's pointy pair): nothing inside I or III at all
    seg = np.stack([t, -t], 1)
    np.testing.assert_array_equal(measures.corner_measures(seg, measures.half_axis_reach(seg)), [0, 1, 0, 1])
  else:
    np.testing.assert_allclose(k, expected, atol=2e-4)
  for q in (0.7, 1.5, 3.0):  # an L_q ball: 2^(-1/q)
    phi = np.linspace(0, 2 * np.pi, 40_001)
    ball = measures.lq_radius(phi, q)[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)
    np.testing.assert_allclose(measures.corner_measures(ball, measures.half_axis_reach(ball)), 2 ** (-1 / q),
                               atol=2e-4)


def test_corner_measure_is_invariant_to_each_half_axis_scale():
  pts = boundary("disc", 4000) * [1.0, 0.7] + 0.03 * np.random.default_rng(5).normal(size=(4000, 2))
  base = measures.corner_measures(pts, measures.half_axis_reach(pts))
  for coord in (0, 1):
    for sign in (1.0, -1.0):
      for k in (0.05, 0.5, 3.0, 50.0):
        q = pts.copy()
        side = sign * q[:, coord] > 0
        q[side, coord] *= k
        np.testing.assert_allclose(measures.corner_measures(q, measures.half_axis_reach(q)), base, rtol=1e-12)
  # a half-axis reaching < UNREACHED of its unit's other half is not reached: no corner beside it
  half = pts[pts[:, 0] > -1e-4 * np.abs(pts[:, 0]).max()]
  r = measures.half_axis_reach(np.concatenate([half, [[-1e-5, 0.5]]]))
  assert r[1] == 0.0 and measures.corner_measures(half, r)[1] == 0.0


def test_best_seed_ignores_nan():
  c = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [np.nan, -2.0, -5.0]])
  np.testing.assert_array_equal(measures.best_seed(c), [2, 0, 1])


# --- the ideal sweeps: quadrants, q --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def summaries():
  return {s: measures.summarize(ideal_result(s)) for s in ("disc", "diamond", "square", "rounded_line", "pointy_line")}


def test_frontier_exponent_on_known_shapes(summaries):
  assert summaries["disc"]["q"] == pytest.approx(2.0, abs=0.01)
  assert summaries["diamond"]["q"] == pytest.approx(1.0, abs=0.01)
  assert summaries["square"]["q"] > 6
  for s in ("disc", "diamond"):
    assert summaries[s]["q_r"] == pytest.approx(1.0, abs=2e-3)
    assert summaries[s]["q_rel_rms"] < 2e-3
    assert summaries[s]["q_n"] == 60
  # a line is no L_q ball: the fit says so
  for s in ("rounded_line", "pointy_line"):
    assert summaries[s]["q_rel_rms"] > measures.POOR_FIT_REL_RMS
    assert any("poor fit" in n for n in summaries[s]["notes"])


def test_quadrants_on_known_shapes(summaries):
  for s in ("disc", "diamond", "square"):
    rel = [summaries[s][f"paper_rel_c_{k}"] for k in measures.QUADRANTS]
    np.testing.assert_allclose(rel, 1.0, atol=1e-3)  # four-fold symmetric sets
    assert summaries[s]["collapsed"] == [] and summaries[s]["pos_frac"] == 1.0
    assert summaries[s]["verdicts"] == ["possible"] * 4
  # corner measures of the ideal sweeps: the square's corner is reached exactly; the disc's best point nearest its
  # diagonal is the one at 42 (or 48) degrees, 6-degree steps; a diamond's maximisers sit near its edges' middles
  for q in measures.QUADRANTS:
    assert summaries["square"][f"corner_{q}"] == pytest.approx(1.0, abs=1e-3)
    assert summaries["disc"][f"corner_{q}"] == pytest.approx(math.sin(math.radians(42)), abs=1e-3)
    assert 0.45 <= summaries["diamond"][f"corner_{q}"] <= 0.5 + 1e-9
  # disc: every best point is on its ray at radius 1, so C = 1, 0.9, 0.8 over seeds and the mean is 0.9
  assert summaries["disc"]["paper_mean_c_II"] == pytest.approx(0.9, abs=1e-6)
  for s in ("rounded_line", "pointy_line"):
    d = summaries[s]
    assert d["collapsed"] == ["I", "III"] and d["possible"] == ["II", "IV"] and d["paper_collapsed"] == ["I", "III"]
    assert d["paper_rel_c_II"] == pytest.approx(1.0, abs=1e-3) and d["paper_rel_c_IV"] == pytest.approx(1.0, abs=1e-3)
    assert d["paper_rel_c_I"] < 0.15 and d["paper_rel_c_III"] < 0.15
    assert d["corner_I"] < 0.1 and d["corner_III"] < 0.1    # the thin line's width: 0.05 of its length
    assert "I collapsed, II possible, III collapsed, IV possible" in measures.format_summary(d)


def test_paper_relative_c_against_hand_computation():
  th = np.deg2rad(np.arange(0, 360, 30))  # 12 angles: 0, 90, 180, 270 on axes; two inside each quadrant
  cm = np.array([9, 1, 2, 9, -1, 3, 9, 4, 4, 9, 8, -2], float)
  mean_c, rel, notes = measures.paper_relative_c(cm, th)
  np.testing.assert_allclose(mean_c, [1.5, 1.0, 4.0, 3.0])
  np.testing.assert_allclose(rel, [1.5 / 4, 1 / 4, 1.0, 3 / 4])
  assert notes == []


def toy_result(toy, n_angles: int = 60, seed_factors=(1.0, 0.9, 0.8)) -> SweepResult:
  """An ideal sweep of a ``toy_features`` toy: its exact per-angle maximiser, other seeds at 0.9 and 0.8 of it."""
  import toy_features
  th = np.arange(n_angles) * 2 * np.pi / n_angles
  _, best = toy_features.best_on_set(toy, th, n=20_000)                  # [A, 2] scaled
  ys = best[:, None, :] * np.asarray(seed_factors)[None, :, None]
  c = toy_features.cosdot_np(ys, th[:, None])
  n_seeds = len(seed_factors)
  return SweepResult(config={}, model="toy", layer=None, readout="neuron", pairs=np.array([[0, 1]]), thetas=th,
                     scales=toy.scales[None], unit_values=np.tile(toy.scales[None, :, None], (1, 1, n_seeds)),
                     unit_images=np.zeros((1, 2, 4, 4, 3), np.uint8), y=(ys * toy.scales)[None], c=c[None],
                     images=np.zeros((1, n_angles, n_seeds, 4, 4, 3), np.uint8),
                     history=np.zeros((1, n_angles, n_seeds, 1)))


def test_measures_on_toy_features():
  """The shared toys (tests/toy_features.py): the values quoted in the issue's closing note."""
  import toy_features
  got = {t.name: measures.summarize(toy_result(t)) for t in (toy_features.line(), toy_features.disc(),
                                                             toy_features.square(), toy_features.diamond())}
  assert got["disc"]["q"] == pytest.approx(2.0, abs=0.01)
  assert got["diamond"]["q"] == pytest.approx(1.0, abs=0.01)
  assert got["square"]["q"] > 6 or math.isnan(got["square"]["q"])  # a square: q at the bound, or disowned
  assert got["square"]["q_I"] > 6 and got["square"]["corner_I"] == pytest.approx(1.0, abs=1e-3)
  line = got["line"]
  # the exact segment's maximisers are its two ends (or the origin, C = 0): one direction, so no q
  assert math.isnan(line["q"]) and any("single angle" in n for n in line["notes"])
  assert line["verdicts"] == ["collapsed", "possible", "collapsed", "possible"]
  assert line["corner_I"] == 0.0 and line["corner_III"] == 0.0 and line["corner_II"] == pytest.approx(1.0)
  assert line["paper_rel_c_I"] < 0.1 and line["paper_rel_c_III"] < 0.1
  assert line["paper_rel_c_II"] == pytest.approx(1.0) and line["paper_rel_c_IV"] == pytest.approx(1.0)
  for name in ("disc", "square", "diamond"):
    assert got[name]["verdicts"] == ["possible"] * 4


# --- reach -----------------------------------------------------------------------------------------------------------
def test_reach_on_synthetic_cloud():
  r = ideal_result("disc")
  sc = np.asarray(SCALES)
  ring = np.linspace(0, 2 * np.pi, 3600, endpoint=False)
  cloud = 0.5 * np.stack([np.cos(ring), np.sin(ring)], 1) * sc      # raw: radius 0.5 in scaled space
  d = measures.summarize(r, cloud=cloud)
  for k in measures.QUADRANTS:
    assert d[f"reach_{k}"] == pytest.approx(2.0, rel=1e-6)
  assert d["reach_empty_frac"] == 0.0 and d["cloud_n"] == 3600
  # a cloud only in quadrant I (radius 0.25): 4x there, nothing to compare with in quadrant III
  arc = np.linspace(0, np.pi / 2, 500)
  d = measures.summarize(r, cloud=0.25 * np.stack([np.cos(arc), np.sin(arc)], 1) * sc)
  assert d["reach_I"] == pytest.approx(4.0, rel=1e-6)
  assert math.isnan(d["reach_III"])
  # sectors +-15 deg around the points (6 deg apart) hold >= 20 of the 500 arc points (>= 3.6 deg of the arc) for
  # -6..96 deg: 18 of 60 angles (a sector needs REACH_MIN_POINTS natural images; before that rule: 20 of 60)
  assert d["reach_empty_frac"] == pytest.approx(42 / 60)
  ratios = measures.reach_ratios(np.array([[2.0, 0.0], [0.0, -1.0]]), np.array([[1.0, 0.1], [0.5, 0.0]]), min_points=1)
  np.testing.assert_allclose(ratios[0], 2.0 / np.quantile([math.hypot(1.0, 0.1), 0.5], measures.REACH_QUANTILE))
  assert math.isnan(ratios[1])
  # the robust quantile: one far outlier among 99 points at radius 1 barely moves the sector's extent
  pts = np.concatenate([np.tile([[1.0, 0.0]], (99, 1)), [[50.0, 0.0]]])
  assert measures.reach_ratios(np.array([[2.0, 0.0]]), pts)[0] == pytest.approx(2.0)  # the max would give 0.04
  assert math.isnan(measures.reach_ratios(np.array([[2.0, 0.0]]), pts[:19])[0])  # 19 < REACH_MIN_POINTS


# --- degenerate inputs and the dict itself ---------------------------------------------------------------------------
def test_degenerate_inputs_give_nan_and_notes():
  r = ideal_result("disc", n_angles=12)
  neg = dataclasses.replace(r, c=-np.abs(r.c) - 0.1)
  d = measures.summarize(neg, cloud=np.zeros((0, 2)))
  assert all(math.isnan(d[f"paper_rel_c_{k}"]) for k in measures.QUADRANTS)
  assert math.isnan(d["q"]) and math.isnan(d["reach_median"]) and d["pos_frac"] == 0.0
  text = " ".join(d["notes"])
  assert "no quadrant has a positive mean C" in text and "frontier" in text and "cloud is empty" in text
  assert d["verdicts"] == ["possible"] * 4  # the points are still reached: C < 0 only says the angles were missed
  assert "n/a" in measures.format_summary(d)
  few = measures.summarize(ideal_result("disc", n_angles=4))  # all on axes: no quadrant has an angle inside
  assert math.isnan(few["paper_rel_c_I"]) and any("strictly inside" in n for n in few["notes"])
  dead = measures.summarize(dataclasses.replace(r, scales=np.array([[2.5, 0.0]])))
  assert math.isnan(dead["q"]) and any("non-positive scale" in n for n in dead["notes"])
  assert dead["verdicts"] == ["uncertain"] * 4
  with pytest.raises(errors.FcjaxError, match="pair index 1 out of range"):
    measures.summarize(r, pair=1)
  with pytest.raises(errors.FcjaxError, match=r"\[N, 2\]"):
    measures.summarize(r, cloud=np.zeros((5, 3)))


def test_summary_is_plain_json(summaries):
  d = summaries["disc"]
  back = json.loads(json.dumps(d))
  assert back.keys() == d.keys()

  def plain(v):
    return (isinstance(v, (int, float, str)) or (isinstance(v, list) and all(plain(x) for x in v))
            or (isinstance(v, dict) and all(isinstance(k, str) and plain(x) for k, x in v.items())))
  assert all(plain(v) for v in d.values()), {k: type(v) for k, v in d.items()}
  assert d["units"] == [3, 7] and d["scales"] == list(SCALES) and d["angles"] == 60 and d["seeds"] == 3
