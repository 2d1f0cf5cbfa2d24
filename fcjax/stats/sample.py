"""The bounded "bottom-k" sample of per-image activation vectors: the images with the smallest ``hash(seed, index)``.

A uniform random subset without replacement that depends only on the seed and which images were seen, not on the
batch size, the order, the devices or interruptions.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np


def _splitmix64(x: np.ndarray) -> np.ndarray:
  """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective mixing of uint64 values."""
  with np.errstate(over="ignore"):
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_priority(index: np.ndarray, seed: int) -> np.ndarray:
  """uint64 priority of each stream index: images with the smallest priorities form the sample."""
  with np.errstate(over="ignore"):
    key = _splitmix64(np.asarray([seed], np.uint64))[0]
    return _splitmix64(np.asarray(index, np.uint64) ^ key)


class Sample(NamedTuple):
  """A bottom-k sample: ``index`` int64 [m], ``priority`` uint64 [m], ``vectors`` {layer: float32 [m, C]}."""

  index: np.ndarray
  priority: np.ndarray
  vectors: dict


def sample_init(channels: Mapping[str, int]) -> Sample:
  return Sample(np.zeros(0, np.int64), np.zeros(0, np.uint64),
                {l: np.zeros((0, c), np.float32) for l, c in channels.items()})


def sample_update(s: Sample, index: np.ndarray, vectors: Mapping[str, np.ndarray], n: int, seed: int) -> Sample:
  """Keep the ``n`` images of ``s`` plus the new ones with the smallest priorities (ordered by stream index)."""
  index = np.concatenate([s.index, np.asarray(index, np.int64)])
  priority = np.concatenate([s.priority, sample_priority(index[len(s.index):], seed)])
  keep = np.argsort(priority, kind="stable")[:n]
  keep = keep[np.argsort(index[keep], kind="stable")]
  return Sample(index[keep], priority[keep],
                {l: np.concatenate([s.vectors[l], np.asarray(v, np.float32)])[keep] for l, v in vectors.items()})

