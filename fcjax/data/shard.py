"""A contiguous slice of an image source that keeps the global stream positions (one host's share of a dataset)."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from fcjax import errors


class ShardSource:
  """Images at stream positions ``[start, stop)`` of ``source`` (the :mod:`fcjax.data` source protocol).

  Batches carry the GLOBAL stream index, and ``batches(start=)`` takes a global position, so that statistics over
  the shards of several processes hash and order images exactly as one process over the whole stream does
  (:func:`fcjax.stats.merge`). ``offset`` is the first position; ``len()`` the shard's size (positions, including
  any that turn out unreadable).
  """

  def __init__(self, source: Any, start: int, stop: int):
    n = len(source)
    if not 0 <= int(start) <= int(stop) <= n:
      raise errors.FcjaxError(f"shard [{start}, {stop}) is not inside the {n} images of {source.name}")
    self.source, self.offset, self.stop = source, int(start), int(stop)
    self.name = source.name  # the dataset's name: a shard is part of the same dataset
    self.label_names = getattr(source, "label_names", None)

  @property
  def skipped(self) -> int:
    return getattr(self.source, "skipped", 0)

  def __len__(self) -> int:
    return self.stop - self.offset

  def batches(self, batch_size: int, size: int, *, start: int = 0) -> Iterator[dict]:
    """The source's batches from global position ``max(start, offset)``, cut at ``stop``."""
    first = max(self.offset, int(start))
    if first >= self.stop:
      return
    stream = self.source.batches(batch_size, size, start=first)
    try:
      for batch in stream:
        keep = np.asarray(batch["index"]) < self.stop
        if keep.all():
          yield batch
          continue
        if keep.any():
          yield {k: np.asarray(v)[keep] for k, v in batch.items()}
        return
    finally:
      close = getattr(stream, "close", None)
      if close is not None:
        close()


def shard(source: Any, start: int, stop: int) -> ShardSource:
  """Positions ``[start, stop)`` of ``source``; e.g. ``shard(src, *fcjax.distributed.process_slice(len(src)))``."""
  return ShardSource(source, start, stop)
