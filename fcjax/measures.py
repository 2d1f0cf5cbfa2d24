"""Motif measures and verdicts of a feature-combination sweep: what the paper reads off its plots, as numbers.

Everything concerns one pair (units i, j) of a :class:`fcjax.result.SweepResult` in its *scaled* space
``(x, y) = (y_i / s_i, y_j / s_j)``, s = each unit's phase-1 maximum (the paper's scaling, where the plot's axis tips
sit at 1; the sweep aims its angles in the half-axis normalised space by default, ``SweepConfig.angle_space``).
Quadrants: I (x > 0, y > 0), II (x < 0, y > 0), III, IV. docs/measures.md
has the derivation at length; in short:

**Why not relative mean C.** Comparing quadrants by mean cosdot relative to the best quadrant
(:func:`paper_relative_c`, kept under that name) depends on each half-axis's scale: a unit reaching 30 times further
below zero than above makes its negative-side quadrants dwarf the others, and reachable quadrants read as collapsed.

**Half-axis reach** R_h of each half-axis h in ``HALF_AXES`` (a unit and a sign): the furthest any reached point goes
along it: every final image of the angles, the half-axis images (the sweep maximises *and* minimises each unit,
``result.axis_y``), the phase-1 maxima, and the natural images when a cloud is given (a natural image is a reached
point too). A half-axis below ``UNREACHED`` of its unit's other half is 0.

**Corner measure** of quadrant Q with half-axes (h_x, h_y): with ``u = |x| / R_hx``, ``v = |y| / R_hy``,

    K_Q = max over reached points strictly inside Q of min(u, v)      (0 if there is none):

an image drives both units to at least K_Q of what each reaches along that half-axis. For a quadrant that is part of
an L_q ball ``u^q + v^q <= 1``, K = 2^(-1/q): 1 for a square (free combination), 1/sqrt 2 for a disc, 1/2 for a
diamond (linear trade-off), 0 for a line through the neighbouring quadrants (the paper's pointy/rounded pair).
*Invariance:* multiplying one half-axis by k > 0 multiplies that coordinate of every point on that side and its reach
by k, so u, v and K are exactly unchanged as functions of the reached points (for k within (UNREACHED, 1/UNREACHED)).
The sweep aims its angles in the same normalised space (``SweepConfig.angle_space = 'half-axes'``), so what it
reaches does not depend on k either.
*Threshold:* collapsed when K < ``CORNER_COLLAPSED`` = 1/4 = 2^(-1/0.5), more pinched than the L_0.5 ball (the lower
bound of ``Q_RANGE``, below which a frontier is a thin cross).

**Verdicts:** ``possible`` (K >= 1/4) or ``collapsed``, unless the evidence cannot carry either: ``uncertain`` when
K is within ``CORNER_BAND`` of 1/4 and the seeds spread wider than K's distance to 1/4 (each seed's K from its own
images before refinement, ``result.y_phase2``, normalised by the pooled reach, so no seed's K exceeds the pooled K); a bounding half-axis's reach is below the natural images'
``NATURAL_QUANTILE`` quantile on that side (under-reached); a quadrant that would be collapsed while some of its
angles are still beaten on their own objective by another image after the refinement rounds (under-optimised,
``meta['refinement']``; a possible quadrant is shown by an image and needs no convergence); a bounding unit never went
above 0 in any phase (guarded); most of the quadrant's images diverged. Reasons are ``'code: sentence'``.

**Frontier exponent q** of the L_q ball best fitting the best-seed points (radial least squares), per quadrant and
overall, in the reach-normalised (u, v) space (so invariant too): ~1 linear trade-off, 2 disc, large square. NaN
where the fit disowns it (relative rms > ``POOR_FIT_REL_RMS``, too few points, all on the axes).

**Reach beyond natural images:** per angle, the point's radius over the ``REACH_QUANTILE`` quantile of the natural
radii within ``REACH_HALFWIDTH`` of its direction (NaN with fewer than ``REACH_MIN_POINTS`` there), in (u, v) space.

Degenerate inputs give NaN with a sentence in ``summary['notes']``, never a numpy exception. Plain numpy, no JAX.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from fcjax import _orthant, errors
from fcjax._frontier import POOR_FIT_REL_RMS, Q_RANGE, FrontierFit, fit_frontier, lq_radius, q_bound  # noqa: F401
from fcjax._select import best_seed  # the one NaN-aware best-seed rule (re-exported here)

QUADRANTS = ("I", "II", "III", "IV")
# Which definition of the measures a summary was made with: bump when a measure, threshold or key changes, so that
# saved summaries (fcjax.experiment's manifests record it) are recomputed instead of reused. 2: corner measure K,
# verdicts with reasons, q per quadrant with its bound (q_bound_X); 3: the overall q_bound too; 4: half-axis and
# natural points in K, pooled per-seed K, the near-threshold band, under-optimised instead of axis; 5: per-seed K
# from the seeds' own images before refinement.
DEFINITION = 5
HALF_AXES = ("x+", "x-", "y+", "y-")  # x = the pair's first unit, y = its second
# The half-axes bounding each quadrant (indices into HALF_AXES) and the signs of its points.
QUADRANT_AXES = ((0, 2), (1, 2), (1, 3), (0, 3))
QUADRANT_SIGNS = ((1, 1), (-1, 1), (-1, -1), (1, -1))
VERDICTS = ("possible", "collapsed", "uncertain")
CORNER_COLLAPSED = 0.25  # = 2^(-1/0.5), the corner of the L_0.5 ball (module docstring)
UNREACHED = _orthant.UNREACHED  # a half-axis reaching less than this fraction of its unit's other half is not reached
_QUADRANT_ORTHANT = (0, 2, 3, 1)  # I..IV in fcjax._orthant's order (++, +-, -+, --)
# Near the threshold (|K - 1/4| <= CORNER_BAND * 1/4) a verdict also needs the seeds to agree: every seed's K (pooled
# normalisation) within |K - 1/4| of the pooled K. Outside the band the pooled K decides.
CORNER_BAND = 0.4
NATURAL_QUANTILE = 0.99  # the natural images' reach along a half-axis (the unit's 1st / 99th percentile)
NATURAL_MIN_POINTS = 20  # natural images needed on a half-axis's side to judge under-reach there
DIVERGED_FRACTION = 0.5  # more than this fraction of a quadrant's images not finite: uncertain
COLLAPSE_RELATIVE = 0.25  # paper-style: relative mean C below this fraction of the best quadrant's
REACH_HALFWIDTH = math.pi / 12  # 30 degree sectors: hold natural points in most directions, keep quadrants apart
REACH_QUANTILE = 0.98  # robust extent of the natural images in a sector
REACH_MIN_POINTS = 20  # natural images a sector needs for a reach ratio
_TWO_PI = 2.0 * math.pi


# --- shared selections ---------------------------------------------------------------------------------------------
def quadrant_index(thetas: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
  """int [A]: the quadrant (0..3 for I..IV) of each angle (radians, any range) strictly inside one, -1 for angles
  within ``atol`` of an axis."""
  t = np.mod(np.asarray(thetas, np.float64), _TWO_PI)
  k = np.floor(t / (math.pi / 2)).astype(np.int64) % 4
  rem = t - np.round(t / (math.pi / 2)) * (math.pi / 2)
  return np.where(np.abs(rem) <= atol, -1, k)


# --- the corner measure --------------------------------------------------------------------------------------------
def half_axis_reach(points: np.ndarray, positive_max: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
  """float [4] (HALF_AXES order): how far scaled points [..., 2] (non-finite rows ignored) go along each half-axis,
  >= 0; ``positive_max``: more evidence for the positive ones (phase-1 maxima). Under ``UNREACHED`` of the unit's
  other half: 0. (:func:`fcjax._orthant.half_axis_reach` for k = 2.)"""
  return _orthant.half_axis_reach(np.asarray(points, np.float64).reshape(-1, 2), positive_max)


def normalise(points: np.ndarray, reach: np.ndarray) -> np.ndarray:
  """float [..., 2]: each coordinate divided by the reach of its own half-axis (signs kept; 0 on an unreached side)."""
  return _orthant.normalise(points, reach)


def corner_measures(points: np.ndarray, reach: np.ndarray) -> np.ndarray:
  """float [4]: the corner measure K of each quadrant (module docstring) of scaled points [..., 2] given their reach
  (:func:`fcjax._orthant.corner_measures` for k = 2, in the order I..IV)."""
  return _orthant.corner_measures(np.asarray(points, np.float64).reshape(-1, 2), reach)[list(_QUADRANT_ORTHANT)]


# --- paper-style relative C ----------------------------------------------------------------------------------------
def paper_relative_c(c_mean: np.ndarray, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
  """The paper-style comparison: per quadrant, the mean over its angles of the mean-over-seeds C, and that relative
  to the best quadrant. NOT invariant to half-axis scales (module docstring); kept for comparison with the paper.

  Returns (mean_c float [4], relative float [4], notes); NaN for a quadrant with no angle inside it, relative all NaN
  when no quadrant has a positive mean C.
  """
  c_mean = np.asarray(c_mean, np.float64)
  q = quadrant_index(thetas)
  mean_c = np.array([c_mean[(q == k) & np.isfinite(c_mean)].mean() if ((q == k) & np.isfinite(c_mean)).any()
                     else np.nan for k in range(4)])
  notes = []
  empty = [QUADRANTS[k] for k in range(4) if not np.isfinite(mean_c[k])]
  if empty:
    notes.append(f"no angle strictly inside quadrant(s) {', '.join(empty)}: need more angles (A >= 8)")
  best = np.nanmax(mean_c) if np.isfinite(mean_c).any() else np.nan
  if np.isfinite(best) and best > 0:
    return mean_c, mean_c / best, notes
  notes.append("no quadrant has a positive mean C (the optimisation failed everywhere): paper relative C undefined")
  return mean_c, np.full(4, np.nan), notes




# --- reach beyond natural images -----------------------------------------------------------------------------------
def reach_ratios(points: np.ndarray, cloud: np.ndarray, *, halfwidth: float = REACH_HALFWIDTH,
                 quantile: float = REACH_QUANTILE, min_points: int = REACH_MIN_POINTS) -> np.ndarray:
  """float [A]: each point's radius over the cloud's ``quantile`` radius within ``halfwidth`` radians of its direction
  (points [A, 2], cloud [N, 2], same space). NaN where the sector holds fewer than ``min_points`` cloud points or the
  point is not finite. > 1: the image drives the pair further that way than (almost) every natural image.
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
  for a in range(pts.shape[0]):
    sel = rho_c[(d[a] <= halfwidth) & (rho_c > 0)]
    if sel.size >= max(min_points, 1) and np.isfinite(rho_p[a]):
      out[a] = rho_p[a] / float(np.quantile(sel, quantile))
  return out


# --- summary and verdicts ------------------------------------------------------------------------------------------
def dominated_counts(result, index: int, region_of: np.ndarray, n_regions: int) -> list:
  """int [n_regions]: per region (quadrant or octant), how many of its angles (directions) the sweep left beaten
  after refinement (``meta['refinement']['dominated']``) in combination ``index``; ``region_of`` int [A] is each
  angle's region (-1: on an axis, counted nowhere)."""
  ref = (getattr(result, "meta", None) or {}).get("refinement") or {}
  out = [0] * n_regions
  for p, a in ref.get("dominated", []):
    if int(p) == index and 0 <= int(a) < len(region_of) and region_of[int(a)] >= 0:
      out[region_of[int(a)]] += 1
  return out


def guarded_slots(result, index: int) -> list:
  """The slots of combination ``index``'s units that phase 1 never drove above 0 (``meta['scale_guarded']``)."""
  return [int(g[1]) for g in (getattr(result, "meta", None) or {}).get("scale_guarded", []) if int(g[0]) == index]


def _axis_name(units, h: int) -> str:
  return f"unit {units[h // 2]}'s {'positive' if h % 2 == 0 else 'negative'} half-axis"


def natural_reach(cloud_raw: np.ndarray | None, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """(raw quantile reach float [2k], count [2k]) of the natural images [N, k] along each half-axis (NaN: not
  judged)."""
  nat, cnt = np.full(2 * k, np.nan), np.zeros(2 * k, np.int64)
  if cloud_raw is None or not cloud_raw.size:
    return nat, cnt
  for h in range(2 * k):
    v = (1.0 if h % 2 == 0 else -1.0) * cloud_raw[:, h // 2]
    cnt[h] = int((v > 0).sum())
    if cnt[h] >= NATURAL_MIN_POINTS:
      nat[h] = max(float(np.quantile(v, NATURAL_QUANTILE)), 0.0)
  return nat, cnt


def judge(corner: float, corner_seeds: np.ndarray, bounding, *, units, under, raw_reach, natural, dominated: int,
          guarded, reach, bad_scale: bool, diverged: float, region: str, target: str) -> tuple[str, list]:
  """The verdict of one quadrant (or octant) and its reasons (module docstring: the rules), the one place they are
  decided for pairs and triples (:mod:`fcjax.orthants`).

  Args: ``corner`` its K; ``corner_seeds`` float [S] each seed's K; ``bounding`` the indices of its half-axes (unit
  slot u: 2u positive, 2u + 1 negative); ``under`` bool [2k] / ``raw_reach`` / ``natural`` float [2k] per half-axis;
  ``dominated`` its directions still beaten after refinement; ``guarded`` slots of units never driven above 0;
  ``reach`` float [2k] the scaled reaches; ``diverged`` the fraction of its images not finite; ``region`` /
  ``target`` words for the reasons ('quadrant' / 'angle', 'octant' / 'direction').
  """
  thr, reasons = CORNER_COLLAPSED, []
  if (abs(corner - thr) <= CORNER_BAND * thr and np.isfinite(corner_seeds).any()
      and corner - np.nanmin(corner_seeds) > abs(corner - thr)):
    reasons.append(f"seeds: K {corner:.2f} is within {100 * CORNER_BAND:g}% of {thr:g} and the seeds spread "
                   f"wider than that (corner {', '.join(f'{v:.2f}' for v in corner_seeds)})")
  for h in bounding:
    if under[h]:
      reasons.append(f"under-reached: {_axis_name(units, h)} reaches {raw_reach[h]:.3g}, natural images "
                     f"{natural[h]:.3g} ({100 * NATURAL_QUANTILE:g}% quantile): the optimiser did not leave the cloud")
  if dominated and corner < thr:  # "possible" is shown by an image; only an absence needs convergence
    reasons.append(f"under-optimised: {dominated} {target}(s) in this {region} are still beaten on their own "
                   "objective by another image after refinement")
  for slot in guarded:
    if 2 * slot in bounding and not reach[2 * slot] > 0:
      reasons.append(f"guarded: unit {units[slot]} never went above 0 in any phase (restarts included)")
  if diverged > DIVERGED_FRACTION:
    reasons.append(f"diverged: {100 * diverged:.0f}% of this {region}'s images are not finite")
  if bad_scale:
    reasons.append("scale: a unit scale is not positive")
  return ("uncertain" if reasons else "possible" if corner >= thr else "collapsed"), reasons


def summarize(result, pair: int = 0, cloud: np.ndarray | None = None, *,
              reach_halfwidth: float = REACH_HALFWIDTH) -> dict:
  """All measures and verdicts of one pair: :func:`_summarize`, with NumPy's warnings about non-finite values
  (diverged images) kept from the user: the summary states them as notes and reasons instead."""
  with warnings.catch_warnings(), np.errstate(all="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)
    return _summarize(result, pair, cloud, reach_halfwidth=reach_halfwidth)


def _summarize(result, pair: int = 0, cloud: np.ndarray | None = None, *,
               reach_halfwidth: float = REACH_HALFWIDTH) -> dict:
  """All measures and verdicts of one pair (module docstring), as a JSON-able dict of plain Python values.

  Args:
    result: a :class:`fcjax.result.SweepResult`.
    pair: index into ``result.pairs``.
    cloud: optional float [N, 2] *raw* activations of the pair's two units on natural images (the stats samples of the
      two channels). Without it the reach fields are NaN and under-reach is not judged (a note says so).
    reach_halfwidth: half-width in radians of the angular sector used for reach.

  Returns:
    dict, every key listed in docs/measures.md: ``verdicts`` (I..IV), ``possible`` / ``collapsed`` / ``uncertain``;
    per quadrant X ``verdict_X``, ``reasons_X``, ``corner_X``, ``corner_seeds_X``, ``q_X`` (+ ``_rel_rms``, ``_n``,
    ``_note``), ``reach_X``, paper-style ``paper_rel_c_X``; ``half_axes``; overall ``q``; ``reach_*``; ``notes``.
  """
  if np.asarray(result.pairs).shape[1:] != (2,):
    raise errors.FcjaxError("this result holds triples: their octant verdicts are fcjax.orthants.summarize")
  n_pairs = int(np.asarray(result.pairs).shape[0])
  if not 0 <= pair < n_pairs:
    raise errors.FcjaxError(f"pair index {pair} out of range: this result has {n_pairs} pair(s) (0..{n_pairs - 1})")
  cl, _ = _orthant.finite_cloud(cloud, 2)
  thetas = np.asarray(result.thetas, np.float64)
  c = np.asarray(result.c[pair], np.float64)          # [A, S]
  scales = np.asarray(result.scales[pair], np.float64)
  units = [int(u) for u in result.pairs[pair]]
  n_a, n_s = c.shape
  notes: list[str] = []
  out: dict = {"pair": int(pair), "units": units, "scales": [float(s) for s in scales], "angles": int(n_a),
               "seeds": int(n_s)}
  with np.errstate(invalid="ignore"):
    cm = c.mean(axis=-1)
  mean_c, rel, pn = paper_relative_c(cm, thetas)
  notes += pn
  qi = quadrant_index(thetas)
  for k, name in enumerate(QUADRANTS):
    sel = (qi == k) & np.isfinite(cm)
    out[f"paper_mean_c_{name}"], out[f"paper_rel_c_{name}"] = float(mean_c[k]), float(rel[k])
    out[f"pos_frac_{name}"] = float((cm[sel] > 0).mean()) if sel.any() else math.nan
  out["paper_collapsed"] = [QUADRANTS[k] for k in range(4) if rel[k] < COLLAPSE_RELATIVE]
  out["pos_frac"] = float((cm > 0).mean()) if cm.size else math.nan

  bad_scale = not np.all(np.isfinite(scales) & (scales > 0))
  if bad_scale:
    notes.append(f"unit(s) {units} have a non-positive scale {scales.tolist()}: scaled measures undefined")
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, np.nan)
  ys = np.asarray(result.y[pair], np.float64) / scales          # [A, S, 2]
  p1 = np.asarray(result.unit_values[pair], np.float64) / scales[:, None]  # [2, S] phase-1 values, scaled
  p1max = tuple(float(np.nanmax(v)) if np.isfinite(v).any() else 0.0 for v in p1)
  axis_pts = (np.zeros((0, 2)) if getattr(result, "axis_y", None) is None
              else np.asarray(result.axis_y[pair], np.float64) / scales)           # [4, 2] half-axis images
  optimised = np.concatenate([ys.reshape(-1, 2), axis_pts], 0)
  cloud_s = np.zeros((0, 2)) if cl is None or bad_scale else cl / scales
  reached = np.concatenate([optimised, cloud_s], 0)  # every image known to reach its point, natural ones included
  reach = half_axis_reach(reached, p1max)
  reach_opt = half_axis_reach(optimised, p1max)
  corner = corner_measures(reached, reach)
  # each seed's own points (before refinement shares images between seeds), normalised by the pooled reach
  indep = getattr(result, "y_phase2", None)
  ys_seed = ys if indep is None else np.asarray(indep[pair], np.float64) / scales
  corner_seeds = np.array([corner_measures(ys_seed[:, s], reach) for s in range(n_s)]).reshape(n_s, 4)
  bs = best_seed(c)
  best, c_best = ys[np.arange(n_a), bs], c[np.arange(n_a), bs]
  un = normalise(best, reach)
  nat, nat_n = natural_reach(cl)
  raw_reach = reach_opt * np.repeat(scales, 2)
  out["half_axes"] = {}
  under = np.zeros(4, bool)
  for h, name in enumerate(HALF_AXES):
    under[h] = bool(math.isfinite(nat[h]) and nat[h] > 0 and raw_reach[h] < nat[h])
    hv = (1.0 if h % 2 == 0 else -1.0) * axis_pts[h, h // 2] if axis_pts.shape[0] == 4 else math.nan
    out["half_axes"][name] = {"reach": float(raw_reach[h]), "reach_scaled": float(reach[h]),
                              "half_axis_image": float(hv), "natural": float(nat[h]), "natural_n": int(nat_n[h])}
  if cl is None:
    notes.append("no natural-image cloud given: reach and under-reach not judged")
  guarded = guarded_slots(result, pair)
  dominated = dominated_counts(result, pair, qi, 4)

  for k, name in enumerate(QUADRANTS):
    sel = qi == k
    ks = corner_seeds[:, k]
    verdict, reasons = judge(
        corner[k], ks, QUADRANT_AXES[k], units=units, under=under, raw_reach=raw_reach, natural=nat,
        dominated=dominated[k], guarded=guarded, reach=reach, bad_scale=bad_scale,
        diverged=float(np.mean(~np.isfinite(c[sel]))) if sel.any() else 0.0, region="quadrant", target="angle")
    out[f"verdict_{name}"], out[f"reasons_{name}"] = verdict, reasons
    out[f"corner_{name}"], out[f"corner_seeds_{name}"] = float(corner[k]), [float(v) for v in ks]
    sx, sy = QUADRANT_SIGNS[k]
    inq = (sx * un[:, 0] >= 0) & (sy * un[:, 1] >= 0) & (c_best > 0)
    fit = fit_frontier(un[inq])
    out[f"q_{name}"] = float(fit.q) if fit.trusted else math.nan
    out[f"q_bound_{name}"] = q_bound(fit.q)
    out[f"q_rel_rms_{name}"], out[f"q_n_{name}"], out[f"q_note_{name}"] = float(fit.rel_rms), int(fit.n), fit.note
  out["verdicts"] = [out[f"verdict_{n}"] for n in QUADRANTS]
  out.update({v: [n for n in QUADRANTS if out[f"verdict_{n}"] == v] for v in VERDICTS})

  fit = fit_frontier(un[c_best > 0])
  if fit.note:
    notes.append("frontier: " + fit.note)
  out.update(q=float(fit.q) if fit.trusted else math.nan, q_bound=q_bound(fit.q), q_r=float(fit.r),
             q_rms=float(fit.rms), q_rel_rms=float(fit.rel_rms), q_n=int(fit.n))

  out["cloud_n"] = 0 if cl is None else int(cl.shape[0])
  if cl is None or not cl.shape[0] or bad_scale:
    ratios = np.full(n_a, np.nan)
    if cl is not None and not bad_scale:
      notes.append("reach: the natural-image cloud is empty")
  else:
    ratios = reach_ratios(un, normalise(cl / scales, reach), halfwidth=reach_halfwidth)
  for k, name in enumerate(QUADRANTS):
    v = ratios[(qi == k) & np.isfinite(ratios)]
    out[f"reach_{name}"] = float(np.median(v)) if v.size else math.nan
  fin = ratios[np.isfinite(ratios)]
  out["reach_median"] = float(np.median(fin)) if fin.size else math.nan
  out["reach_min"] = float(fin.min()) if fin.size else math.nan
  out["reach_max"] = float(fin.max()) if fin.size else math.nan
  out["reach_empty_frac"] = float(np.mean(~np.isfinite(ratios))) if cl is not None and n_a else math.nan
  if cl is not None and cl.shape[0] and not bad_scale and not fin.size:
    notes.append(f"reach: no optimised point has {REACH_MIN_POINTS} natural images within its angular sector")
  out["thresholds"] = {"corner_collapsed": CORNER_COLLAPSED, "corner_band": CORNER_BAND,
                       "natural_quantile": NATURAL_QUANTILE, "reach_quantile": REACH_QUANTILE,
                       "reach_min_points": REACH_MIN_POINTS, "poor_fit_rel_rms": POOR_FIT_REL_RMS}
  out["notes"] = notes
  return out


def fmt(v: float | None, spec: str = ".2f") -> str:
  """``format(v, spec)``, or 'n/a' for None / NaN / inf."""
  return "n/a" if v is None or not math.isfinite(v) else format(v, spec)


def q_text(summary: dict, name: str, spec: str = ".2g") -> str:
  """A quadrant's frontier exponent as the fit supports it: '1.7', '<=0.5' / '>=20' at a bound of Q_RANGE (the data
  only say q is at least that extreme), 'n/a' where the fit disowns it (``q_note_X`` says why)."""
  q = summary.get(f"q_{name}", math.nan)
  if q is None or not math.isfinite(q):
    return "n/a"
  bound = summary.get(f"q_bound_{name}", "")
  return f"<={Q_RANGE[0]:g}" if bound == "lower" else f">={Q_RANGE[1]:g}" if bound == "upper" else format(q, spec)


def verdict_text(summary: dict, name: str) -> str:
  """e.g. 'III uncertain (under-reached, seeds)': a quadrant's verdict with the codes of its reasons."""
  codes = list(dict.fromkeys(r.split(":")[0] for r in summary[f"reasons_{name}"]))
  return f"{name} {summary[f'verdict_{name}']}" + (f" ({', '.join(codes)})" if codes else "")


def format_summary(summary: dict) -> str:
  """One line of :func:`summarize`'s dict: verdicts, corner measures, q per quadrant, reach, paper-style relative C."""
  verd = ", ".join(verdict_text(summary, k) for k in QUADRANTS)
  corner = " ".join(f"{k} {fmt(summary[f'corner_{k}'])}" for k in QUADRANTS)
  q = " ".join(f"{k} {q_text(summary, k)}" for k in QUADRANTS)
  reach = f"reach x{fmt(summary['reach_median'], '.2g')} median of natural" if math.isfinite(
      summary["reach_median"]) else "reach n/a"
  rel = " ".join(f"{k} {fmt(summary[f'paper_rel_c_{k}'])}" for k in QUADRANTS)
  return f"{verd}; corner {corner}; frontier q {q}; {reach}; paper rel. C {rel}"
