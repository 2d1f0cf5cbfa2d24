"""fcjax._select.best_seed: the NaN-aware best-seed choice shared by the sweep, measures and plots."""

from __future__ import annotations

import numpy as np

from fcjax._select import best_seed


def test_best_seed_ignores_non_finite_values():
  v = np.array([[1.0, 3.0, 2.0], [np.nan, -1.0, -2.0], [np.nan, np.inf, np.nan], [-np.inf, 5.0, np.nan]])
  np.testing.assert_array_equal(best_seed(v), [1, 1, 0, 1])
  assert best_seed(np.zeros((2, 3, 0))).shape == (2, 3)
  assert best_seed(np.array([[2.0, 2.0]]))[0] == 0  # ties: the first seed
