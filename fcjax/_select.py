"""Best-seed selection, NaN-aware: the one definition that the sweep, the measures, the plot and results share."""

from __future__ import annotations

import numpy as np


def best_seed(values: np.ndarray) -> np.ndarray:
  """Index of the best seed along the last axis of ``values`` [..., n_seeds]: the largest finite value (a NaN or
  infinite value never wins; where every value is non-finite, 0). An empty seed axis gives an empty int array."""
  values = np.asarray(values)
  if values.size == 0:
    return np.zeros(values.shape[:-1], int)
  return np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=-1)
