"""Motif measures on a feature-combination sweep: what the paper reads off its plots by eye, as numbers.

Three measures of one pair of a :class:`fcjax.result.SweepResult`, all in the pair's *scaled* space (each unit's
activation divided by its unconstrained maximum s_i, the space in which the sweep's angles live):

* **Quadrants.** Per quadrant (I: both units positive, II: first negative / second positive, III: both negative, IV),
  the mean over its angles of the mean-over-seeds C, relative to the best quadrant, and the fraction of its angles
  with a positive mean C. A quadrant whose relative C is near 0 while the others are not is the paper's "impossibility"
  signature (Figure 2a: the two units cannot be made co-active). Angles on an axis belong to no quadrant: their
  optimum is one unit alone, which says nothing about combining the two.
* **Frontier exponent q.** The q of the L_q ball ``|x|^q + |y|^q = r^q`` that best fits the best-over-seeds scaled
  points (least squares on the radial residual, r and q both free, q in ``Q_RANGE``): about 1 for a linear trade-off
  (an L1 diamond, Figure 2c left), 2 for a disc, large for free combination (a square, Figure 2c right). It is named q
  to keep it apart from cosdot's exponent p.
* **Reach.** How far the optimised points go beyond natural images: per angle, the optimised point's radius over the
  largest radius of the natural-image cloud in an angular sector around the point's direction; summarised per quadrant
  (median) and overall.

Degenerate inputs (all C <= 0, an empty cloud, too few points) give NaN with a sentence in ``summary['notes']``,
never an exception from inside numpy. Everything here is plain numpy on small arrays: microseconds, no JAX.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from fcjax import errors

QUADRANTS = ("I", "II", "III", "IV")
# Bounds of the fitted frontier exponent. Below 0.5 the ball is a thin cross and above 20 it is a square to within
# 3.5% of radius at the corners, so neither end can be told apart from its limit with 60 noisy points.
Q_RANGE = (0.5, 20.0)
# A quadrant whose mean C is below this fraction of the best quadrant's is reported as collapsed. Our threshold (the
# paper judges by eye): its Figure 2a quadrant I sits near 0 while the other quadrants are comparable to each other.
COLLAPSE_RELATIVE = 0.25
# Half-width of the angular sector in which the natural-image cloud's radius is compared with an optimised point's
# (30 degree sectors: wide enough to hold cloud points in most directions with ~1000 images, narrow enough to keep
# the four quadrants apart).
REACH_HALFWIDTH = math.pi / 12
# A fit whose rms radial residual exceeds this fraction of r is flagged: at 15% the points no longer trace any L_q ball
# (a quarter-disc fitted with a diamond has about 9%, a line segment about 75%).
POOR_FIT_REL_RMS = 0.15
_MIN_FIT_POINTS = 3
_DISTINCT_PSI = math.radians(0.5)  # two angles to the nearest axis closer than this count as one direction
_TWO_PI = 2.0 * math.pi


# --- quadrants ---------------------------------------------------------------------------------------------------
def quadrant_index(thetas: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
  """int [A]: the quadrant (0..3 for I..IV) of each angle strictly inside one, -1 for angles on an axis.

  thetas: float [A] radians, any range (taken modulo 2 pi); within ``atol`` of a multiple of pi/2 is on an axis.
  """
  t = np.mod(np.asarray(thetas, np.float64), _TWO_PI)
  k = np.floor(t / (math.pi / 2)).astype(np.int64) % 4
  rem = t - np.round(t / (math.pi / 2)) * (math.pi / 2)
  return np.where(np.abs(rem) <= atol, -1, k)


class QuadrantStats(NamedTuple):
  """Per-quadrant numbers (each float [4], order I..IV; NaN for a quadrant with no angle strictly inside it)."""
  mean_c: np.ndarray     # mean over the quadrant's angles of the mean-over-seeds C
  relative: np.ndarray   # mean_c / the largest mean_c (NaN when no quadrant has a positive mean C)
  pos_frac: np.ndarray   # fraction of the quadrant's angles whose mean C is > 0
  count: np.ndarray      # int [4] angles strictly inside each quadrant
  notes: tuple


def quadrant_stats(c_mean: np.ndarray, thetas: np.ndarray) -> QuadrantStats:
  """Quadrant measures of one pair. c_mean: float [A] mean C over seeds; thetas: float [A] radians."""
  c_mean = np.asarray(c_mean, np.float64)
  q = quadrant_index(thetas)
  mean_c = np.full(4, np.nan)
  pos = np.full(4, np.nan)
  count = np.zeros(4, np.int64)
  notes = []
  for k in range(4):
    sel = (q == k) & np.isfinite(c_mean)
    count[k] = int(sel.sum())
    if count[k]:
      mean_c[k] = c_mean[sel].mean()
      pos[k] = float((c_mean[sel] > 0).mean())
  empty = [QUADRANTS[k] for k in range(4) if not count[k]]
  if empty:
    notes.append(f"no angle strictly inside quadrant(s) {', '.join(empty)}: need more angles (A >= 8)")
  best = np.nanmax(mean_c) if np.isfinite(mean_c).any() else np.nan
  if np.isfinite(best) and best > 0:
    relative = mean_c / best
  else:
    relative = np.full(4, np.nan)
    notes.append("no quadrant has a positive mean C (the optimisation failed everywhere): relative C undefined")
  return QuadrantStats(mean_c, relative, pos, count, tuple(notes))


# --- frontier exponent ---------------------------------------------------------------------------------------------
def lq_radius(phi: np.ndarray, q: float) -> np.ndarray:
  """float [...]: radius of the unit L_q ball ``|x|^q + |y|^q = 1`` along the directions ``phi`` (radians).

  Computed as ``1 / (max(|cos|, |sin|) * (1 + (min/max)^q)^(1/q))`` so that large q does not underflow.
  """
  c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
  hi, lo = np.maximum(c, s), np.minimum(c, s)
  return 1.0 / (hi * np.power(1.0 + np.power(lo / hi, q), 1.0 / q))


class FrontierFit(NamedTuple):
  """Least-squares L_q ball through a set of scaled points (NaN fields when it could not be fitted)."""
  q: float        # exponent of the ball, in Q_RANGE
  r: float        # its radius (the value of the L_q norm on the frontier), scaled units
  rms: float      # root-mean-square radial residual, scaled units
  rel_rms: float  # rms / r: 0.01 = points within about 1% of the ball's radius
  n: int          # points used
  note: str       # why a field is NaN, or that q sits at a bound of Q_RANGE; '' otherwise


def _sse(q: float, rho: np.ndarray, phi: np.ndarray) -> tuple[float, float]:
  """Sum of squared radial residuals at exponent q with the best radius r (closed form), and that r."""
  g = lq_radius(phi, q)
  r = float(np.dot(rho, g) / np.dot(g, g))
  return float(np.sum((rho - r * g) ** 2)), r


def fit_frontier(points: np.ndarray, *, q_range: tuple[float, float] = Q_RANGE) -> FrontierFit:
  """Fit ``|x|^q + |y|^q = r^q`` to points on a frontier by least squares on the radial residual.

  The residual of a point at polar (rho, phi) is ``rho - r * lq_radius(phi, q)``. For a fixed q the best r is the
  closed-form linear least-squares solution, so only q is searched: a grid of 241 values log-spaced over ``q_range``,
  then golden-section refinement in the bracket around the best grid value.

  Args:
    points: float [n, 2] scaled points (non-finite rows and points at the origin are dropped).
    q_range: (lo, hi) bounds of q.
  """
  pts = np.asarray(points, np.float64).reshape(-1, 2)
  pts = pts[np.all(np.isfinite(pts), axis=1)]
  rho = np.hypot(pts[:, 0], pts[:, 1])
  keep = rho > 1e-12
  rho, phi = rho[keep], np.arctan2(pts[keep, 1], pts[keep, 0])
  n = int(rho.size)
  if n < _MIN_FIT_POINTS:
    return FrontierFit(math.nan, math.nan, math.nan, math.nan, n,
                       f"only {n} usable frontier point(s) (need {_MIN_FIT_POINTS} with C > 0): q undefined")
  # lq_radius depends on phi only through the angle to the nearest axis, psi in [0, pi/4]: r and q are both
  # determined only if the points show at least two distinct values of it.
  psi = np.sort(np.minimum(np.mod(phi, math.pi / 2), math.pi / 2 - np.mod(phi, math.pi / 2)))
  if 1 + int(np.sum(np.diff(psi) > _DISTINCT_PSI)) < 2:
    return FrontierFit(math.nan, math.nan, math.nan, math.nan, n,
                       f"the {n} frontier points lie at a single angle ({math.degrees(psi[0]):.0f} deg) to the axes: "
                       "r and q cannot both be fitted")
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
  note = ""
  if logq - lo < 1e-3:
    note = f"q at the lower bound {q_range[0]:g} (the frontier is at least this pinched toward the axes)"
  elif hi - logq < 1e-3:
    note = f"q at the upper bound {q_range[1]:g} (a square-like frontier: free combination)"
  if math.isfinite(rms / r if r > 0 else math.nan) and rms / r > POOR_FIT_REL_RMS:
    note = (note + "; " if note else "") + (f"poor fit (rms {100 * rms / r:.0f}% of r): the frontier is not an "
                                            "origin-centred L_q ball")
  if np.all(psi < 0.05):  # on an axis every q gives the same radius, so q only shows off the axes
    note = (note + "; " if note else "") + "all points lie near the axes: q is poorly determined"
  return FrontierFit(q, r, rms, rms / r if r > 0 else math.nan, n, note)


# --- reach -----------------------------------------------------------------------------------------------------------
def reach_ratios(points: np.ndarray, cloud: np.ndarray, *, halfwidth: float = REACH_HALFWIDTH) -> np.ndarray:
  """float [A]: each point's radius over the cloud's largest radius within ``halfwidth`` radians of its direction.

  Both arguments are in the same (scaled) space: points float [A, 2], cloud float [N, 2]. NaN where the sector holds
  no cloud point, or the point is not finite. > 1: the optimised image drives the pair further in that direction than
  any natural image.
  """
  pts = np.asarray(points, np.float64).reshape(-1, 2)
  cl = np.asarray(cloud, np.float64).reshape(-1, 2)
  cl = cl[np.all(np.isfinite(cl), axis=1)]
  out = np.full(pts.shape[0], np.nan)
  if cl.shape[0] == 0:
    return out
  rho_p, phi_p = np.hypot(pts[:, 0], pts[:, 1]), np.arctan2(pts[:, 1], pts[:, 0])
  rho_c, phi_c = np.hypot(cl[:, 0], cl[:, 1]), np.arctan2(cl[:, 1], cl[:, 0])
  d = np.abs(np.angle(np.exp(1j * (phi_c[None, :] - phi_p[:, None]))))  # [A, N] wrapped angular distance
  inside = (d <= halfwidth) & (rho_c[None, :] > 0)
  r_max = np.where(inside, rho_c[None, :], -np.inf).max(axis=1)
  ok = np.isfinite(rho_p) & (r_max > 0)
  out[ok] = rho_p[ok] / r_max[ok]
  return out


# --- summary ---------------------------------------------------------------------------------------------------------
def summarize(result, pair: int = 0, cloud: np.ndarray | None = None, *,
              reach_halfwidth: float = REACH_HALFWIDTH) -> dict:
  """All motif measures of one pair, as a JSON-able dict of plain Python values.

  Args:
    result: a :class:`fcjax.result.SweepResult`.
    pair: index into ``result.pairs``.
    cloud: optional float [N, 2] *raw* activations of the pair's two units on natural images (the stats samples of the
      two channels); scaled here by the result's scales. Without it the reach fields are NaN.
    reach_halfwidth: half-width in radians of the angular sector used for reach.

  Returns:
    dict with keys ``pair`` (int), ``units`` ([i, j]), ``scales`` ([s_i, s_j]), ``angles``, ``seeds`` (ints);
    per quadrant X in I..IV: ``quadrant_mean_c_X``, ``quadrant_rel_X`` (mean C relative to the best quadrant),
    ``pos_frac_X``; ``pos_frac`` (all angles), ``collapsed`` (list of quadrant names with relative C below
    ``COLLAPSE_RELATIVE``); ``q``, ``q_r``, ``q_rms``, ``q_rel_rms``, ``q_n`` (frontier fit of the best-over-seeds
    scaled points with C > 0); ``reach_X`` (median ratio over the quadrant's angles), ``reach_median``, ``reach_min``,
    ``reach_max``, ``reach_empty_frac`` (angles whose sector holds no natural image), ``cloud_n``; and ``notes`` (list
    of sentences explaining every NaN). Floats are Python floats; NaN stays NaN (``json.dumps`` writes it as NaN).
  """
  n_pairs = int(np.asarray(result.pairs).shape[0])
  if not 0 <= pair < n_pairs:
    raise errors.FcjaxError(f"pair index {pair} out of range: this result has {n_pairs} pair(s) (0..{n_pairs - 1})")
  thetas = np.asarray(result.thetas, np.float64)
  c = np.asarray(result.c[pair], np.float64)          # [A, S]
  scales = np.asarray(result.scales[pair], np.float64)
  notes: list[str] = []
  out: dict = {"pair": int(pair), "units": [int(u) for u in result.pairs[pair]], "scales": [float(s) for s in scales],
               "angles": int(thetas.size), "seeds": int(c.shape[-1])}

  qs = quadrant_stats(c.mean(axis=-1), thetas)
  notes += list(qs.notes)
  for k, name in enumerate(QUADRANTS):
    out[f"quadrant_mean_c_{name}"] = float(qs.mean_c[k])
    out[f"quadrant_rel_{name}"] = float(qs.relative[k])
    out[f"pos_frac_{name}"] = float(qs.pos_frac[k])
  cm = c.mean(axis=-1)
  out["pos_frac"] = float((cm > 0).mean()) if cm.size else math.nan
  out["collapsed"] = [QUADRANTS[k] for k in range(4) if qs.relative[k] < COLLAPSE_RELATIVE]

  bad_scale = [int(u) for u, s in zip(result.pairs[pair], scales) if not (np.isfinite(s) and s > 0)]
  if bad_scale:
    notes.append(f"unit(s) {bad_scale} have a non-positive scale (phase 1 never drove them above 0): "
                 "scaled measures undefined")
    best = np.full((thetas.size, 2), np.nan)
  else:
    y = np.asarray(result.y[pair], np.float64) / scales         # [A, S, 2] scaled
    best_seed = np.argmax(np.where(np.isfinite(c), c, -np.inf), axis=-1) if c.size else np.zeros(0, int)
    best = y[np.arange(thetas.size), best_seed]                 # [A, 2]
    c_best = c[np.arange(thetas.size), best_seed]
  if bad_scale:
    fit = FrontierFit(math.nan, math.nan, math.nan, math.nan, 0, "")
  else:
    fit = fit_frontier(best[c_best > 0])
    if fit.note:
      notes.append("frontier: " + fit.note)
  out.update(q=float(fit.q), q_r=float(fit.r), q_rms=float(fit.rms), q_rel_rms=float(fit.rel_rms), q_n=int(fit.n))

  cloud_arr = None if cloud is None else np.asarray(cloud, np.float64)
  if cloud_arr is not None and (cloud_arr.ndim != 2 or cloud_arr.shape[1] != 2):
    raise errors.FcjaxError(f"cloud must be [N, 2] activations of the pair's two units, got shape {cloud_arr.shape}")
  out["cloud_n"] = 0 if cloud_arr is None else int(cloud_arr.shape[0])
  if cloud_arr is None or cloud_arr.shape[0] == 0 or bad_scale:
    ratios = np.full(thetas.size, np.nan)
    if not bad_scale:
      notes.append("reach: no natural-image cloud given" if cloud_arr is None
                   else "reach: the natural-image cloud is empty")
  else:
    ratios = reach_ratios(best, cloud_arr / scales, halfwidth=reach_halfwidth)
  qi = quadrant_index(thetas)
  for k, name in enumerate(QUADRANTS):
    v = ratios[(qi == k) & np.isfinite(ratios)]
    out[f"reach_{name}"] = float(np.median(v)) if v.size else math.nan
  fin = ratios[np.isfinite(ratios)]
  out["reach_median"] = float(np.median(fin)) if fin.size else math.nan
  out["reach_min"] = float(fin.min()) if fin.size else math.nan
  out["reach_max"] = float(fin.max()) if fin.size else math.nan
  has_cloud = cloud_arr is not None and ratios.size > 0
  out["reach_empty_frac"] = float(np.mean(~np.isfinite(ratios))) if has_cloud else math.nan
  if cloud_arr is not None and cloud_arr.shape[0] and not bad_scale and not fin.size:
    notes.append("reach: no optimised point has a natural image within its angular sector")
  out["notes"] = notes
  return out


def fmt(v: float | None, spec: str = ".2f") -> str:
  """``format(v, spec)``, or 'n/a' for None / NaN / inf."""
  return "n/a" if v is None or not math.isfinite(v) else format(v, spec)


def format_summary(summary: dict) -> str:
  """One line of the measures in :func:`summarize`'s dict, e.g. for a CLI table or a plot annotation."""
  rel = " ".join(f"{k} {fmt(summary[f'quadrant_rel_{k}'])}" for k in QUADRANTS)
  col = f" (collapsed: {', '.join(summary['collapsed'])})" if summary["collapsed"] else ""
  q = (f"frontier q {fmt(summary['q'], '.3g')} (r {fmt(summary['q_r'])}, rms {fmt(100 * summary['q_rel_rms'], '.1f')}%)"
       if math.isfinite(summary["q"]) else "frontier q n/a")
  if math.isfinite(summary["reach_median"]):
    per = " ".join(f"{k} {fmt(summary[f'reach_{k}'], '.2g')}" for k in QUADRANTS)
    reach = f"reach x{fmt(summary['reach_median'], '.2g')} median ({per})"
  else:
    reach = "reach n/a"
  return f"rel. C {rel}{col}; C>0 at {fmt(100 * summary['pos_frac'], '.0f')}% of angles; {q}; {reach}"
