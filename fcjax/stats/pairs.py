"""The choice of unit pairs to probe: the highest, lowest and closest-to-zero correlations among live units."""

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

