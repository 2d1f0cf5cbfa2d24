"""The frontier exponent: the L_q ball ``|u|^q + |v|^q = r^q`` that best fits a set of reached points.

About 1: a linear trade-off; 2: a disc; 20 (the upper bound of ``Q_RANGE``): a square, a free combination; 0.5 (the
lower bound): a thin cross, the units exclude each other. :func:`fit_frontier` reports whether its own fit supports
the number (``trusted``): a poor fit (relative rms above ``POOR_FIT_REL_RMS``), too few points, or points only on the
axes disown q. :func:`q_bound` says when q sits at a bound (then it is a bound, not an estimate).
:mod:`fcjax.measures` applies it per quadrant in reach-normalised coordinates (docs/measures.md).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

Q_RANGE = (0.5, 20.0)  # bounds of the fitted exponent: below 0.5 a thin cross, above 20 a square within 3.5%
POOR_FIT_REL_RMS = 0.15  # a quarter-disc fitted with a diamond has ~9%, a line segment ~75%
_MIN_FIT_POINTS = 3
_DISTINCT_PSI = math.radians(0.5)  # two angles to the nearest axis closer than this count as one direction


def lq_radius(phi: np.ndarray, q: float) -> np.ndarray:
  """float [...]: radius of the unit L_q ball ``|x|^q + |y|^q = 1`` along ``phi`` (radians), computed as
  ``1 / (max(|cos|, |sin|) * (1 + (min/max)^q)^(1/q))`` so that large q does not underflow."""
  c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
  hi, lo = np.maximum(c, s), np.minimum(c, s)
  return 1.0 / (hi * np.power(1.0 + np.power(lo / hi, q), 1.0 / q))


class FrontierFit(NamedTuple):
  """Least-squares L_q ball through a set of points (NaN fields when it could not be fitted)."""
  q: float        # exponent of the ball, in Q_RANGE
  r: float        # its radius (the value of the L_q norm on the frontier)
  rms: float      # root-mean-square radial residual
  rel_rms: float  # rms / r: 0.01 = points within about 1% of the ball's radius
  n: int          # points used
  note: str       # why a field is NaN, or that q sits at a bound of Q_RANGE; '' otherwise
  trusted: bool = True  # False where the fit disowns q (poor fit, all points on the axes): report q as NaN


def _sse(q: float, rho: np.ndarray, phi: np.ndarray) -> tuple[float, float]:
  """Sum of squared radial residuals at exponent q with the best radius r (closed form), and that r."""
  g = lq_radius(phi, q)
  r = float(np.dot(rho, g) / np.dot(g, g))
  return float(np.sum((rho - r * g) ** 2)), r


def fit_frontier(points: np.ndarray, *, q_range: tuple[float, float] = Q_RANGE) -> FrontierFit:
  """Fit ``|x|^q + |y|^q = r^q`` to points float [n, 2] by least squares on the radial residual
  ``rho - r * lq_radius(phi, q)`` (non-finite rows and the origin dropped). For a fixed q the best r is closed-form,
  so only q in ``q_range`` is searched: 241 log-spaced values, then golden-section refinement around the best.
  """
  pts = np.asarray(points, np.float64).reshape(-1, 2)
  pts = pts[np.all(np.isfinite(pts), axis=1)]
  rho = np.hypot(pts[:, 0], pts[:, 1])
  keep = rho > 1e-12
  rho, phi = rho[keep], np.arctan2(pts[keep, 1], pts[keep, 0])
  n = int(rho.size)
  nan = (math.nan,) * 4
  if n < _MIN_FIT_POINTS:
    return FrontierFit(*nan, n, f"only {n} usable frontier point(s) (need {_MIN_FIT_POINTS} with C > 0): q undefined",
                       False)
  # lq_radius depends on phi only through the angle to the nearest axis, psi in [0, pi/4]: r and q are both
  # determined only if the points show at least two distinct values of it.
  psi = np.sort(np.minimum(np.mod(phi, math.pi / 2), math.pi / 2 - np.mod(phi, math.pi / 2)))
  if 1 + int(np.sum(np.diff(psi) > _DISTINCT_PSI)) < 2:
    return FrontierFit(*nan, n, f"the {n} frontier points lie at a single angle ({math.degrees(psi[0]):.0f} deg) to "
                       "the axes: r and q cannot both be fitted", False)
  lo, hi = (math.log(v) for v in q_range)
  grid = np.linspace(lo, hi, 241)
  sse = np.array([_sse(math.exp(v), rho, phi)[0] for v in grid])
  k = int(np.argmin(sse))
  a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
  inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
  for _ in range(40):  # golden section on log q; the bracket shrinks to ~1e-10 of its width
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    if _sse(math.exp(c), rho, phi)[0] <= _sse(math.exp(d), rho, phi)[0]:
      b = d
    else:
      a = c
  logq = (a + b) / 2.0 if _sse(math.exp((a + b) / 2.0), rho, phi)[0] <= sse[k] else grid[k]
  q = math.exp(logq)
  s, r = _sse(q, rho, phi)
  rms = math.sqrt(s / n)
  rel = rms / r if r > 0 else math.nan
  notes, trusted = [], True
  if logq - lo < 1e-3:
    notes.append(f"q at the lower bound {q_range[0]:g} (the frontier is at least this pinched toward the axes)")
  elif hi - logq < 1e-3:
    notes.append(f"q at the upper bound {q_range[1]:g} (a square-like frontier: free combination)")
  if not (rel <= POOR_FIT_REL_RMS):
    notes.append(f"poor fit (rms {100 * rel:.0f}% of r): the frontier is not an origin-centred L_q ball")
    trusted = False
  if np.all(psi < 0.05):  # on an axis every q gives the same radius, so q only shows off the axes
    notes.append("all points lie near the axes: q is poorly determined")
    trusted = False
  return FrontierFit(q, r, rms, rel, n, "; ".join(notes), trusted)


def q_bound(q: float) -> str:
  """'lower' / 'upper' where the fitted q sits at that end of Q_RANGE (then it is a bound, not an estimate), else ''."""
  if not math.isfinite(q):
    return ""
  lo, hi = (math.log(v) for v in Q_RANGE)
  return "lower" if math.log(q) - lo < 1e-3 else "upper" if hi - math.log(q) < 1e-3 else ""
