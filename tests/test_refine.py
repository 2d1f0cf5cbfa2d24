"""Cross-evaluation (fcjax.sweep.refine) on hand-made candidates with answers computed by hand, and the normaliser
rule of the angle space (fcjax.sweep.run.normalisers)."""

from __future__ import annotations

import numpy as np
import pytest

from fcjax.sweep import refine
from fcjax.sweep.run import normalisers


def test_normalise_divides_each_coordinate_by_its_own_half_axis():
  norm = np.array([2.0, 10.0, 0.5, 4.0])  # x+, x-, y+, y-
  y = np.array([[2.0, 0.5], [-10.0, -4.0], [1.0, -2.0], [0.0, 0.0]])
  np.testing.assert_allclose(refine.normalise_np(y, norm), [[1, 1], [-1, -1], [0.5, -0.5], [0, 0]])


def test_cosdot_np_matches_the_papers_formula_and_is_zero_at_the_origin():
  u = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [-1.0, 0.0]])
  h = np.array([1.0, 0.0])
  # (u·h)^5 / |u|^4: 1, 1/4 (= 1 * cos(45)^4), 0, -1
  np.testing.assert_allclose(refine.cosdot_np(u, h, 4, None), [1.0, 0.25, 0.0, -1.0], atol=1e-12)


def test_beaten_is_relative_with_a_floor_near_zero():
  tol = 0.05
  assert refine.beaten(1.0, 1.06, tol) and not refine.beaten(1.0, 1.04, tol)
  # near 0 the margin is tol * C_FLOOR, not tol * |C|: noise between two tiny values is not a defeat
  assert not refine.beaten(1e-4, 2e-3, tol) and refine.beaten(1e-4, 1e-4 + 1.1 * tol * refine.C_FLOOR, tol)
  assert refine.beaten(np.nan, 0.0, tol) and not refine.beaten(0.5, np.nan, tol)


def test_cross_evaluation_finds_the_beaten_angle():
  thetas = np.array([0.0, np.pi / 2])
  cand = np.array([[0.5, 0.0], [1.0, 0.1], [0.0, 1.0]])  # candidate 1 beats candidate 0 at angle 0
  ev = refine.cross_evaluate(cand, np.ones(4), thetas, 4, None)
  assert ev.best.tolist() == [1, 2]
  u = cand / np.linalg.norm(cand, axis=1, keepdims=True)   # cosdot p = 4 by hand: C = y.h (y.h / |y|)^4
  h = np.stack([np.cos(thetas), np.sin(thetas)], 1)
  np.testing.assert_allclose(ev.scores, (cand @ h.T).T * ((u @ h.T).T) ** 4, atol=1e-12)
  own = np.array([[ev.scores[0, 0]], [ev.scores[1, 2]]])  # angle 0 kept candidate 0, angle 1 candidate 2
  assert refine.dominated_angles(own, ev, 0.05).tolist() == [True, False]
  np.testing.assert_allclose(refine.axis_values(cand)[1], [1.0, -1.0, 0.1, -0.1])


def test_normalisers_paper_space_and_guarded_half_axes():
  pos = np.array([[[2.0, 1.0], [0.0, 0.0]]])      # [P=1, 2 units, S=2]
  neg = np.array([[[-8.0, -3.0], [-5.0, -1.0]]])
  scales = np.array([[2.0, 1.0]])
  np.testing.assert_allclose(normalisers(pos, neg, scales, "paper"), [[2, 2, 1, 1]])
  # the second unit never goes above 0: its positive half-axis gets 1e-3 of its negative one
  np.testing.assert_allclose(normalisers(pos, neg, scales, "half-axes"), [[2, 8, 5e-3, 5]], rtol=1e-6)
  none = normalisers(np.zeros((1, 2, 1)), np.zeros((1, 2, 1)), np.ones((1, 2)), "half-axes")
  np.testing.assert_allclose(none, np.ones((1, 4)))


@pytest.mark.parametrize("space", ["half-axes", "paper"])
def test_config_angles_are_sorted_and_inside_the_circle(space):
  from fcjax.sweep import SweepConfig
  th = SweepConfig(n_angles=12, angle_space=space).thetas
  assert np.all(np.diff(th) > 0) and th[0] == 0 and th[-1] < 2 * np.pi
  assert (np.isclose(th, np.pi / 4).any()) == (space == "half-axes")
