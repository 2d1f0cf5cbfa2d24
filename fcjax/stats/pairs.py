"""The choice of units to probe: pairs with the highest, lowest and closest-to-zero correlations among live units, and
triples by the determinant of their correlation matrix (the joint rule)."""

from __future__ import annotations

import numpy as np

PAIR_KINDS = ("highest", "lowest", "zero")


def select_pairs(corr: np.ndarray, k: int = 5,
                 dead: np.ndarray | None = None) -> dict[str, list[tuple[int, int, float]]]:
  """The ``k`` pairs ``(i, j, r)`` (i < j) with the highest, the lowest and the closest-to-zero correlation.

  Dead units (``dead``, or NaN correlations) are left out. Ties are broken by ``(i, j)`` order.

  Returns:
    ``{'highest': [...], 'lowest': [...], 'zero': [...]}``, each sorted best first.
  """
  corr = np.asarray(corr, np.float64)
  c = corr.shape[0]
  i, j = np.triu_indices(c, k=1)
  r = corr[i, j]
  ok = np.isfinite(r)
  if dead is not None:
    dead = np.asarray(dead, bool)
    ok &= ~dead[i] & ~dead[j]
  i, j, r = i[ok], j[ok], r[ok]
  k = max(0, int(k))

  def take(order) -> list[tuple[int, int, float]]:
    return [(int(i[t]), int(j[t]), float(r[t])) for t in order[:k]]

  # lexsort's last key is primary; the pair order (i, j) = position breaks ties
  pos = np.arange(len(r))
  return {"highest": take(np.lexsort((pos, -r))), "lowest": take(np.lexsort((pos, r))),
          "zero": take(np.lexsort((pos, np.abs(r))))}



TRIPLE_KINDS = ("joint", "independent")
TRIPLE_PAIR_LIMIT = 0.5  # 'joint' triples: no pair of the three correlates beyond this |r|


def triple_determinants(corr: np.ndarray) -> np.ndarray:
  """float64 [C, C, C]: det of the 3 x 3 correlation matrix of every triple (i, j, l),
  ``1 - r_ij² - r_il² - r_jl² + 2 r_ij r_il r_jl`` in [0, 1] (NaN where a correlation is). 0: the three are linearly
  dependent (one is fixed by the other two); 1: pairwise uncorrelated. det = (1 - r_ij²)(1 - R²_l·ij), R_l·ij the
  multiple correlation of l on i and j, so a small det with small pairwise |r| is a constraint no pair carries."""
  r = np.asarray(corr, np.float64)
  return _det3(r[:, :, None], r[:, None, :], r[None, :, :])


def _det3(r_ij, r_il, r_jl):
  """det of the correlation matrix [[1, r_ij, r_il], [r_ij, 1, r_jl], [r_il, r_jl, 1]] (broadcasting)."""
  return 1.0 - r_ij ** 2 - r_il ** 2 - r_jl ** 2 + 2.0 * r_ij * r_il * r_jl


def select_triples(corr: np.ndarray, k: int = 5, dead: np.ndarray | None = None, *,
                   pair_limit: float = TRIPLE_PAIR_LIMIT) -> dict[str, list[tuple[int, int, int, float]]]:
  """The ``k`` triples ``(i, j, l, det)`` (i < j < l) of live units by the joint rule (:func:`triple_determinants`).

  'joint': every pairwise |r| <= ``pair_limit`` and the smallest det first (the three most jointly constrained
  beyond what any pair of them shows, as far as linear statistics see it); 'independent': the largest det first
  (closest to pairwise and jointly uncorrelated). Dead units and NaN correlations are left out; ties by (i, j, l).
  Memory: blocks of 64 first indices, a few 64 x C² float64 temporaries (C = 512: 128 MiB each).
  """
  corr = np.asarray(corr, np.float64)
  n = corr.shape[0]
  live = np.isfinite(np.diag(corr)) if dead is None else ~np.asarray(dead, bool) & np.isfinite(np.diag(corr))
  k = max(0, int(k))
  rows = []
  for i0 in range(0, n, 64):
    i = np.arange(i0, min(i0 + 64, n))[:, None, None]
    j, l = np.arange(n)[None, :, None], np.arange(n)[None, None, :]
    r_ij, r_il, r_jl = corr[i, j], corr[i, l], corr[j, l]
    det = _det3(r_ij, r_il, r_jl)
    ok = (i < j) & (j < l) & live[i] & live[j] & live[l] & np.isfinite(det)
    small = ok & (np.abs(r_ij) <= pair_limit) & (np.abs(r_il) <= pair_limit) & (np.abs(r_jl) <= pair_limit)
    for mask, tag in ((small, 0), (ok, 1)):
      ii, jj, ll = np.nonzero(mask)
      d = det[ii, jj, ll]
      keep = np.argsort(d if tag == 0 else -d, kind="stable")[:k]
      rows += [(tag, float(d[t]), int(ii[t] + i0), int(jj[t]), int(ll[t])) for t in keep]

  def take(tag: int, sign: float) -> list[tuple[int, int, int, float]]:
    sel = sorted((sign * d, i, j, l) for t, d, i, j, l in rows if t == tag)[:k]
    return [(i, j, l, sign * d) for d, i, j, l in sel]

  return {"joint": take(0, 1.0), "independent": take(1, -1.0)}
