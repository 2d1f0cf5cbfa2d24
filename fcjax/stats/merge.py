"""Statistics of disjoint parts of one image stream merged into the statistics of their union (several hosts).

Exact up to float64 rounding: the moments merge with Chan, Golub & LeVeque's pairwise update
(:func:`~fcjax.stats.moments.moments_merge`), and the bottom-k sample of a union is the bottom-k of the parts'
bottom-k samples, because an image's priority hashes only the seed and its global stream index
(:mod:`~fcjax.stats.sample`). The parts must come from the same model, weights, layers, readout, input size, seed
and sample size, over disjoint positions of the same dataset (``fcjax.data.shard`` keeps global positions).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fcjax import errors
from fcjax.stats.moments import moments_finalize, moments_init, moments_merge
from fcjax.stats.pairs import select_pairs
from fcjax.stats.results import LayerStats, StatsResult
from fcjax.stats.sample import sample_init, sample_update

# meta keys every part must agree on
_SAME = ("format", "model", "weights_digest", "readout", "input_size", "dataset", "layers", "n_samples", "seed", "k",
         "dtype")


def merge(parts: Sequence[StatsResult]) -> StatsResult:
  """The :class:`StatsResult` of the union of ``parts`` (each over disjoint stream positions of one dataset).

  ``meta``: the parts' common settings; ``count``, ``skipped`` and ``dataset_size`` summed; ``n_parts``; ``wall_s``
  the slowest part's. Raises :class:`~fcjax.errors.ConfigMismatchError` if the parts disagree on a setting or
  overlap.
  """
  if not parts:
    raise errors.FcjaxError("merge needs at least one statistics result")
  first = parts[0]
  for p in parts[1:]:
    diff = [k for k in _SAME if p.meta.get(k) != first.meta.get(k)]
    if diff:
      raise errors.ConfigMismatchError("statistics to merge differ in " + ", ".join(
          f"{k} ({first.meta.get(k)!r} vs {p.meta.get(k)!r})" for k in diff))
  n_samples, seed, k = int(first.meta["n_samples"]), int(first.meta["seed"]), int(first.meta["k"])
  layers = {}
  for name, ls in first.layers.items():
    m = moments_init(ls.channels)
    for p in parts:
      m = moments_merge(m, p.layers[name].moments())
    index = np.concatenate([p.layers[name].sample_index for p in parts])
    if len(np.unique(index)) != len(index):
      raise errors.ConfigMismatchError("statistics to merge overlap (an image appears in two parts' samples)")
    vectors = np.concatenate([p.layers[name].samples for p in parts])
    s = sample_update(sample_init({name: ls.channels}), index, {name: vectors}, n_samples, seed)
    mean, std, corr, dead = moments_finalize(m)
    layers[name] = LayerStats(layer=name, count=m.n, mean=mean, std=std, corr=corr, dead=dead,
                              samples=s.vectors[name], pairs=select_pairs(corr, k, dead), sample_index=s.index,
                              comoment=m.m2)
  notes = list(dict.fromkeys(n for p in parts for n in p.meta.get("notes") or []))
  walls = [p.meta.get("wall_s") or 0.0 for p in parts]
  count = sum(int(p.meta["count"]) for p in parts)
  meta = dict(first.meta, count=count, skipped=sum(int(p.meta["skipped"]) for p in parts),
              dataset_size=sum(int(p.meta["dataset_size"]) for p in parts), n_parts=len(parts), notes=notes,
              wall_s=max(walls), images_per_s=round(count / max(walls), 2) if max(walls) > 0 else None)
  return StatsResult(meta=meta, layers=layers)
