"""Tests of fcjax.stats.moments: merged moments equal the two-pass float64 answer, however the data is split."""

from __future__ import annotations

import numpy as np

from fcjax import stats


def test_merge_of_parts_equals_whole():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1001, 7)) * rng.uniform(0.1, 10, 7) + 1e3  # a large offset stresses the update
  whole = stats.moments_of(x)
  halves = stats.moments_merge(stats.moments_of(x[:400]), stats.moments_of(x[400:]))
  stream = stats.moments_init(7)
  for t in range(0, len(x), 13):
    stream = stats.moments_update(stream, x[t:t + 13])
  tree = stats.moments_merge(stats.moments_merge(stats.moments_of(x[:100]), stats.moments_of(x[100:300])),
                             stats.moments_merge(stats.moments_of(x[300:301]), stats.moments_of(x[301:])))
  d = x - x.mean(0)
  for m in (halves, stream, tree):
    assert m.n == 1001
    np.testing.assert_allclose(m.mean, whole.mean, rtol=1e-14)
    np.testing.assert_allclose(m.m2, whole.m2, rtol=1e-10)
    np.testing.assert_allclose(m.m2, d.T @ d, rtol=1e-10)
  mean, std, corr, dead = stats.moments_finalize(stream)
  np.testing.assert_allclose(corr, np.corrcoef(x, rowvar=False), atol=1e-12)
  np.testing.assert_allclose(std, x.std(0), rtol=1e-12)
  assert not dead.any()
  assert stats.moments_merge(stats.moments_init(7), whole) is whole
