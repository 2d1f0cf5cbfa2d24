"""Mergeable first and second moments of unit activations (Chan, Golub & LeVeque 1979), in float64 on the host.

State ``(n, mean, M2)`` with ``M2 = sum (x - mean)(x - mean)^T``; merging is exact up to float64 rounding, so batches
of any size, shards from several devices and resumed runs all give the same answer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# A unit is dead when its standard deviation is below this fraction of |mean| (or exactly zero): float64 rounding of
# a constant unit's mean is ~1e-16 relative, the smallest real variation of a float32 activation ~6e-8 relative.
DEAD_RTOL = 1e-10

class Moments(NamedTuple):
  """Streaming first and second moments of C-dimensional vectors, in float64.

  Attributes:
    n: number of vectors accumulated.
    mean: float64 [C].
    m2: float64 [C, C] co-moment ``sum_t (x_t - mean)(x_t - mean)^T``.
  """

  n: int
  mean: np.ndarray
  m2: np.ndarray


def moments_init(channels: int) -> Moments:
  """Empty moments of ``channels``-dimensional vectors."""
  return Moments(0, np.zeros(channels, np.float64), np.zeros((channels, channels), np.float64))


def moments_of(x: np.ndarray) -> Moments:
  """Moments of a batch ``x`` [B, C] (two-pass in float64)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"expected vectors [B, C], got shape {x.shape}")
  if x.shape[0] == 0:
    return moments_init(x.shape[1])
  mean = x.mean(axis=0)
  d = x - mean
  return Moments(x.shape[0], mean, d.T @ d)


def moments_merge(a: Moments, b: Moments) -> Moments:
  """The moments of the union of two disjoint sets (Chan et al.'s pairwise update)."""
  if b.n == 0:
    return a
  if a.n == 0:
    return b
  n = a.n + b.n
  delta = b.mean - a.mean
  mean = a.mean + delta * (b.n / n)
  m2 = a.m2 + b.m2 + np.outer(delta, delta) * (a.n * b.n / n)
  return Moments(n, mean, m2)


def moments_update(m: Moments, x: np.ndarray) -> Moments:
  """``m`` updated with the batch ``x`` [B, C]."""
  return moments_merge(m, moments_of(x))


def moments_finalize(m: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """``(mean [C], std [C], corr [C, C], dead [C] bool)`` from moments.

  ``std`` is the population standard deviation (divides by n). ``corr`` has NaN in the rows and columns of dead
  units and 1 on the diagonal of live ones; it is exactly symmetric.
  """
  c = m.mean.shape[0]
  if m.n == 0:
    return m.mean.copy(), np.zeros(c), np.full((c, c), np.nan), np.ones(c, bool)
  var = np.maximum(np.diag(m.m2) / m.n, 0.0)
  std = np.sqrt(var)
  dead = (std == 0) | (std <= DEAD_RTOL * np.abs(m.mean))
  scale = np.where(dead, np.nan, np.sqrt(np.where(dead, 1.0, np.diag(m.m2))))
  corr = m.m2 / scale[:, None] / scale[None, :]
  corr = np.clip((corr + corr.T) / 2, -1.0, 1.0)  # NaN stays NaN
  live = np.flatnonzero(~dead)
  corr[live, live] = 1.0
  return m.mean.copy(), std, corr, dead

