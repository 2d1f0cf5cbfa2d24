"""fcjax._frontier on hand-made points: the exponent of a known ball, and when the fit disowns it (the fit against
many shapes is in tests/test_measures.py, through fcjax.measures)."""

from __future__ import annotations

import math

import numpy as np

from fcjax import _frontier


def _ball(q: float, r: float, n: int = 40) -> np.ndarray:
  phi = np.linspace(0.05, np.pi / 2 - 0.05, n)
  return r * _frontier.lq_radius(phi, q)[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)


def test_a_disc_and_a_diamond_are_recovered():
  for q in (1.0, 2.0):
    fit = _frontier.fit_frontier(_ball(q, 3.0))
    assert math.isclose(fit.q, q, rel_tol=1e-3) and math.isclose(fit.r, 3.0, rel_tol=1e-6)
    assert fit.trusted and fit.n == 40 and fit.rel_rms < 1e-6


def test_a_square_sits_at_the_upper_bound():
  fit = _frontier.fit_frontier(_ball(200.0, 1.0))
  assert _frontier.q_bound(fit.q) == "upper" and _frontier.q_bound(2.0) == "" and _frontier.q_bound(math.nan) == ""
  assert _frontier.q_bound(_frontier.Q_RANGE[0]) == "lower"


def test_too_few_or_axis_only_points_are_not_trusted():
  few = _frontier.fit_frontier(np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, 1.0], [0.0, 0.0]]))
  assert math.isnan(few.q) and few.note
  axes = _frontier.fit_frontier(np.array([[1.0, 0.0], [2.0, 0.01], [0.0, 1.5], [0.01, 1.0]]))
  assert not axes.trusted
