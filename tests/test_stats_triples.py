"""The choice of triples from the statistics (fcjax.stats.select_triples): the joint rule against numpy's det."""

from __future__ import annotations

import itertools

import numpy as np

from fcjax import stats


def _corr(n=4000, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 7))
  x[:, 4] = x[:, 0] + x[:, 1] + np.sqrt(2.0) * rng.normal(size=n)  # r(0, 4) = r(1, 4) = 1/2, det(0, 1, 4) = 1/2
  x[:, 6] = x[:, 5] + 0.1 * rng.normal(size=n)                     # one strongly correlated pair
  return np.corrcoef(x.T)


def test_determinants_equal_numpys_det_of_every_triple():
  c = _corr()
  d = stats.triple_determinants(c)
  for i, j, l in itertools.combinations(range(7), 3):
    np.testing.assert_allclose(d[i, j, l], np.linalg.det(c[np.ix_([i, j, l], [i, j, l])]), atol=1e-12)


def test_joint_rule_finds_the_constraint_no_pair_carries_and_skips_strong_pairs():
  c = _corr()
  got = stats.select_triples(c, k=3)
  assert got["joint"][0][:3] == (0, 1, 4)
  assert abs(got["joint"][0][3] - 0.5) < 0.05
  assert all(5 not in t[:3] or 6 not in t[:3] for t in got["joint"])   # |r(5, 6)| > pair_limit
  assert all(t[0] < t[1] < t[2] for t in got["joint"] + got["independent"])
  assert [t[3] for t in got["joint"]] == sorted(t[3] for t in got["joint"])
  assert got["independent"][0][3] > 0.99


def test_dead_units_and_nan_correlations_are_left_out():
  c = _corr()
  dead = np.zeros(7, bool)
  dead[0] = True
  got = stats.select_triples(c, k=50, dead=dead)
  assert all(0 not in t[:3] for t in got["joint"] + got["independent"])
  c2 = c.copy()
  c2[1, :] = c2[:, 1] = np.nan
  got = stats.select_triples(c2, k=50)
  assert all(1 not in t[:3] for t in got["joint"] + got["independent"])
  assert stats.select_triples(c, k=0) == {"joint": [], "independent": []}


def test_the_clis_triple_rules_are_the_statistics_kinds():
  from fcjax import triples
  assert triples.RULES == stats.TRIPLE_KINDS
