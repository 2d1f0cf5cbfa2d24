"""Octant verdicts of a sweep of three units (k = 3): which sign combinations the triple can reach, and which of the
collapsed ones no pair of its units shows.

Everything concerns one triple (units i, j, k) of a :class:`fcjax.result.SweepResult` whose ``pairs`` are [P, 3]
(``sweep.run(..., pairs=[(i, j, k)])``). The measure and the rules are those of the pairs (:mod:`fcjax.measures`,
docs/measures.md) with quadrants replaced by octants:

**Octants** ``OCTANTS``: the signs of (y_i, y_j, y_k), "+++" first and "---" last.

**Reach and corner measure** (:mod:`fcjax._orthant`): the half-axis reach R of each of the six half-axes over every
reached point (each direction's final images, the six half-axis images, the phase-1 maxima, and the natural images
when a cloud is given), and

    K_O = max over reached points strictly inside O of min(|y_i| / R_i, |y_j| / R_j, |y_k| / R_k):

an image drives all three units to at least K_O of what each reaches on that side. Invariant to the length of any
half-axis (each coordinate is measured against its own half-axis). Collapsed when K_O < 1/4 (``CORNER_COLLAPSED``).

**Verdicts:** ``possible`` / ``collapsed``, or ``uncertain`` with reasons (``'code: sentence'``): ``seeds`` (K within
``CORNER_BAND`` of 1/4 and the independent seeds, before refinement, spread wider than K's distance to it),
``under-reached`` (a bounding half-axis reaches less than the natural images' ``NATURAL_QUANTILE`` quantile),
``under-optimised`` (collapsed while some direction inside the octant is still beaten on its own objective after
refinement), ``guarded`` (a bounding unit never went above 0), ``diverged`` (most of the octant's images not finite).

**Which pair already shows it.** The pair (a, b)'s reachable set is the projection of the triple's, so the projected
reached points are evidence for the pair: pair (a, b) *shows* octant O when the quadrant of (y_a, y_b) with O's signs
has projected K < 1/4 (same reach). A collapsed octant that no pair shows (``only_triple``) is a constraint that only
the three units together reveal: the finding a triple sweep is for. The sweep aims 12 of its directions at the pair
quadrants' diagonals (``SweepConfig.directions``) so that the projections are sampled where their K is decided.

Plain NumPy; degenerate inputs give NaN / notes, never a numpy warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from fcjax import _orthant, errors
from fcjax._select import best_seed
from fcjax.measures import (CORNER_BAND, CORNER_COLLAPSED, NATURAL_QUANTILE, QUADRANT_SIGNS, QUADRANTS, VERDICTS,
                            dominated_counts, fmt, guarded_slots, judge, natural_reach, verdict_text)

OCTANTS = _orthant.orthant_names(3)  # "+++", "++-", "+-+", "+--", "-++", "-+-", "--+", "---"
HALF_AXES3 = ("x+", "x-", "y+", "y-", "z+", "z-")  # x, y, z = the triple's first, second and third unit
PAIRS3 = ((0, 1), (0, 2), (1, 2))  # the triple's pairs (slots)
PAIR_QUADRANT = {sg: q for q, sg in zip(QUADRANTS, QUADRANT_SIGNS)}  # a pair's (sign a, sign b) -> quadrant


def _check(result, triple: int, cloud) -> np.ndarray | None:
  pairs = np.asarray(result.pairs)
  if pairs.ndim != 2 or pairs.shape[1] != 3:
    raise errors.FcjaxError(f"this result holds combinations of {pairs.shape[-1]} units: octant verdicts need a "
                            "triple sweep (sweep.run(..., pairs=[(i, j, k)])); use fcjax.measures for pairs")
  if not 0 <= triple < pairs.shape[0]:
    raise errors.FcjaxError(f"triple index {triple} out of range: this result has {pairs.shape[0]} triple(s) "
                            f"(0..{pairs.shape[0] - 1})")
  return _orthant.finite_cloud(cloud, 3)[0]


def summarize(result, triple: int = 0, cloud: np.ndarray | None = None) -> dict:
  """All octant measures and verdicts of one triple (module docstring), as a JSON-able dict.

  Args:
    result: a :class:`fcjax.result.SweepResult` of triples (``pairs`` int [P, 3], ``thetas`` float [A, 3]).
    triple: index into ``result.pairs``.
    cloud: optional float [N, 3] raw activations of the three units on natural images.

  Returns:
    dict: ``triple``, ``units``, ``octants`` (names); per octant O ``verdict_O``, ``reasons_O``, ``corner_O``,
    ``corner_seeds_O``, ``projection_corner_O`` (K of the octant's quadrant in each pair of ``PAIRS3``),
    ``pair_shows_O`` (a collapsed octant's pairs whose projected quadrant is collapsed too, e.g.
    ``["(3, 7) quadrant II"]``; empty for an octant not decided collapsed); ``verdicts`` (octant order),
    ``possible`` / ``collapsed`` /
    ``uncertain``, ``only_triple``; ``pairs`` (each pair's projected quadrant K); ``half_axes``; ``notes``.
  """
  cl = _check(result, triple, cloud)
  with warnings.catch_warnings(), np.errstate(all="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)
    return _summarize(result, triple, cl)


def _summarize(result, triple: int, cl: np.ndarray | None) -> dict:
  units = [int(u) for u in result.pairs[triple]]
  scales = np.asarray(result.scales[triple], np.float64)
  c = np.asarray(result.c[triple], np.float64)                    # [A, S]
  directions = np.asarray(result.thetas, np.float64)              # [A, 3]
  n_a, n_s = c.shape
  notes: list[str] = []
  out: dict = {"triple": int(triple), "units": units, "scales": [float(s) for s in scales], "directions": int(n_a),
               "seeds": int(n_s), "octants": list(OCTANTS)}
  bad_scale = not np.all(np.isfinite(scales) & (scales > 0))
  if bad_scale:
    notes.append(f"unit(s) {units} have a non-positive scale {scales.tolist()}: scaled measures undefined")
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, np.nan)
  ys = np.asarray(result.y[triple], np.float64) / scales           # [A, S, 3]
  p1 = np.asarray(result.unit_values[triple], np.float64) / scales[:, None]
  p1max = np.array([np.nanmax(v) if np.isfinite(v).any() else 0.0 for v in p1])
  axis_pts = (np.zeros((0, 3)) if getattr(result, "axis_y", None) is None
              else np.asarray(result.axis_y[triple], np.float64) / scales)
  cloud_s = np.zeros((0, 3)) if cl is None or bad_scale else cl / scales
  reached = np.concatenate([ys.reshape(-1, 3), axis_pts, cloud_s], 0)
  optimised = np.concatenate([ys.reshape(-1, 3), axis_pts], 0)
  reach = _orthant.half_axis_reach(reached, p1max)
  reach_opt = _orthant.half_axis_reach(optimised, p1max)
  corner = _orthant.corner_measures(reached, reach)
  indep = getattr(result, "y_phase2", None)
  ys_seed = ys if indep is None else np.asarray(indep[triple], np.float64) / scales
  corner_seeds = np.array([_orthant.corner_measures(ys_seed[:, s], reach) for s in range(n_s)]).reshape(n_s, 8)

  # natural reach per half-axis (raw), and under-reach
  raw_reach = reach_opt * np.repeat(scales, 2)
  nat, nat_n = natural_reach(cl, 3)
  if cl is None or not cl.size:
    notes.append("no natural-image cloud given: under-reach not judged")
  under = np.isfinite(nat) & (nat > 0) & (raw_reach < nat)
  out["half_axes"] = {name: {"reach": float(raw_reach[h]), "reach_scaled": float(reach[h]), "natural": float(nat[h]),
                             "natural_n": int(nat_n[h])} for h, name in enumerate(HALF_AXES3)}

  # projections onto the three pairs: each quadrant's K from the projected reached points (same reach)
  proj = {}
  for a, b in PAIRS3:
    pk = _orthant.corner_measures(reached[:, [a, b]], reach[[2 * a, 2 * a + 1, 2 * b, 2 * b + 1]])
    proj[(a, b)] = {PAIR_QUADRANT[tuple(sg)]: float(pk[o]) for o, sg in enumerate(_orthant.orthant_signs(2))}
  out["pairs"] = [{"units": [units[a], units[b]], **{f"corner_{q}": proj[(a, b)][q] for q in QUADRANTS}}
                  for a, b in PAIRS3]

  oct_of = _orthant.orthant_of(directions)
  dominated = dominated_counts(result, triple, oct_of, 8)
  guarded = guarded_slots(result, triple)

  thr = CORNER_COLLAPSED
  signs = _orthant.orthant_signs(3)
  for o, name in enumerate(OCTANTS):
    sg = signs[o]
    bounding = [2 * i + (0 if sg[i] > 0 else 1) for i in range(3)]
    ks = corner_seeds[:, o]
    sel = oct_of == o
    verdict, reasons = judge(
        corner[o], ks, bounding, units=units, under=under, raw_reach=raw_reach, natural=nat, dominated=dominated[o],
        guarded=guarded, reach=reach, bad_scale=bad_scale,
        diverged=float(np.mean(~np.isfinite(c[sel]))) if sel.any() else 0.0, region="octant", target="direction")
    pk = [proj[(a, b)][PAIR_QUADRANT[(int(sg[a]), int(sg[b]))]] for a, b in PAIRS3]
    shows = [f"({units[a]}, {units[b]}) quadrant {PAIR_QUADRANT[(int(sg[a]), int(sg[b]))]}"
             for (a, b), kk in zip(PAIRS3, pk) if kk < thr] if verdict == "collapsed" else []
    out[f"verdict_{name}"], out[f"reasons_{name}"] = verdict, reasons
    out[f"corner_{name}"], out[f"corner_seeds_{name}"] = float(corner[o]), [float(v) for v in ks]
    out[f"projection_corner_{name}"], out[f"pair_shows_{name}"] = pk, shows
  out["verdicts"] = [out[f"verdict_{n}"] for n in OCTANTS]
  out.update({v: [n for n in OCTANTS if out[f"verdict_{n}"] == v] for v in VERDICTS})
  out["only_triple"] = [n for n in OCTANTS if out[f"verdict_{n}"] == "collapsed" and not out[f"pair_shows_{n}"]]
  out["cloud_n"] = 0 if cl is None else int(cl.shape[0])
  out["thresholds"] = {"corner_collapsed": CORNER_COLLAPSED, "corner_band": CORNER_BAND,
                       "natural_quantile": NATURAL_QUANTILE}
  out["notes"] = notes
  return out


def format_summary(summary: dict) -> str:
  """Lines of :func:`summarize`'s dict: each octant's verdict and K, and who shows each collapsed octant."""
  lines = []
  for name in OCTANTS:
    line = f"{verdict_text(summary, name):<34} K {fmt(summary[f'corner_{name}'])}"
    if summary[f"verdict_{name}"] == "collapsed":
      shows = summary[f"pair_shows_{name}"]
      line += ("; also shown by pair " + ", ".join(shows)) if shows else "; only the triple shows it"
    lines.append(line)
  return "\n".join(lines)


def best_points(result, triple: int = 0) -> np.ndarray:
  """float [A, 3]: each direction's best-seed point of ``triple``, scaled by the unit maxima (y / scales)."""
  bs = best_seed(np.asarray(result.c[triple]))
  y = np.asarray(result.y[triple], np.float64)[np.arange(len(bs)), bs]
  return y / np.asarray(result.scales[triple], np.float64)

