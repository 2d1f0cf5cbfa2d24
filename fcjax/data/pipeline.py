"""The decode pipeline behind every file-backed source: parallel decode in threads, bounded prefetch, skip-and-count.

A source describes its images as an ordered stream of :class:`Record` (position in the stream, and a ``load`` thunk
that returns the encoded image and its label). :func:`decode_batches` groups ``batch_size`` consecutive records,
runs ``load`` + :func:`fcjax.data.preprocess.load_image` for each in a thread pool (PIL releases the GIL while it
decodes and resizes, so threads decode in parallel), keeps at most ``prefetch`` batches in flight ahead of the
consumer, and yields the batches in stream order. While the consumer runs the model on one batch, the workers
decode the next ones, so the accelerator is not kept waiting when decoding keeps up.

An image whose read or decode fails is left out of its batch, reported to ``on_skip`` (the source counts it and logs
a warning); its batch is then smaller. A batch whose images all failed is not yielded. ``index`` always holds the
stream positions of the images actually in the batch, so a consumer can resume from ``max(index) + 1``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import numbers
import os
import time
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from fcjax import errors
from fcjax.data import preprocess

log = logging.getLogger("fcjax.data")

DEFAULT_PREFETCH = 2  # batches decoded ahead of the consumer


def default_workers() -> int:
  """Decode threads: one per CPU core (at least 1, at most 16)."""
  return max(1, min(16, os.cpu_count() or 1))


class Record(NamedTuple):
  """One image of a stream: its position, a thunk ``load() -> (image data, label)`` run in a worker, a name."""

  index: int
  load: Callable[[], tuple[Any, int]]
  name: str


def _decode(record: Record, size: int, draft: bool) -> tuple[np.ndarray, int] | BaseException:
  """The decoded image and label of ``record``, or the exception that makes it a skipped (unreadable) image.

  Only the reader's and the decoder's failures on a bad file count as skips; running out of memory, and any error in
  fcjax's own preprocessing code other than ``DECODE_ERRORS``, propagate (they are not a property of the image).
  """
  try:
    data, label = record.load()
  except MemoryError:
    raise
  except Exception as e:  # noqa: BLE001 - a reader (TFDS, ArrayRecord) may raise anything for a bad record
    return e
  try:
    return preprocess.load_image(data, size, draft=draft), int(label)
  except MemoryError:  # a subclass of none of DECODE_ERRORS today; kept explicit: never a "corrupt image"
    raise
  except preprocess.DECODE_ERRORS as e:
    return e


def decode_batches(records: Iterable[Record], batch_size: int, size: int, *, workers: int | None = None,
                   prefetch: int = DEFAULT_PREFETCH, draft: bool = True,
                   on_skip: Callable[[Record, BaseException], None] | None = None) -> Iterator[dict]:
  """Batches ``{'images': float32 [B, size, size, 3], 'labels': int32 [B], 'index': int64 [B]}`` in stream order.

  Args:
    records: the ordered stream of images (consumed lazily, in the caller's thread).
    batch_size: records per batch (a batch has fewer images at the end of the stream or when images were skipped).
    size: output side in pixels.
    workers: decode threads (default :func:`default_workers`).
    prefetch: batches decoded ahead of the one being consumed (memory: ``(prefetch + 1) * batch_size`` images).
    draft: JPEG draft-mode decoding (see :mod:`fcjax.data.preprocess`).
    on_skip: called with ``(record, exception)`` for each image that could not be read or decoded.
  """
  if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
    raise errors.DatasetError(f"batch_size must be a positive integer, got {batch_size!r}")
  if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
    raise errors.DatasetError(f"image size must be a positive number of pixels, got {size!r}")
  records = iter(records)
  pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers or default_workers(),
                                               thread_name_prefix="fcjax-decode")
  pending: collections.deque = collections.deque()

  def submit() -> bool:
    chunk = list(itertools.islice(records, batch_size))
    if chunk:
      pending.append([(r, pool.submit(_decode, r, size, draft)) for r in chunk])
    return bool(chunk)

  def assemble(batch) -> dict | None:
    images, labels, index = [], [], []
    for record, future in batch:
      out = future.result()
      if isinstance(out, BaseException):
        if on_skip is not None:
          on_skip(record, out)
        continue
      images.append(out[0])
      labels.append(out[1])
      index.append(record.index)
    if not images:
      return None
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int32), "index": np.asarray(index, np.int64)}

  try:
    more = True
    while more or pending:
      while more and len(pending) <= prefetch:
        more = submit()
      if pending:
        batch = assemble(pending.popleft())
        if batch is not None:
          yield batch
  finally:
    for batch in pending:
      for _, future in batch:
        future.cancel()
    pool.shutdown(wait=True, cancel_futures=True)


def skip_logger(source: Any) -> Callable[[Record, BaseException], None]:
  """An ``on_skip`` callback that increments ``source.skipped`` and logs the image and the reason."""

  def on_skip(record: Record, error: BaseException) -> None:
    source.skipped += 1
    log.warning("skipping unreadable image %s (position %d): %s: %s", record.name, record.index,
                type(error).__name__, error)

  return on_skip


def progress(batches: Iterable[dict], total: int | None = None, *, desc: str = "images", enabled: bool = True,
             initial: int = 0) -> Iterator[dict]:
  """Pass ``batches`` through unchanged, showing a tqdm bar counted in images (rate in images/s) when ``enabled``.

  ``total`` and ``initial`` are image counts (``initial``: already done, e.g. on resume). The bar goes to stderr.
  """
  if not enabled:
    yield from batches  # closing this generator closes the inner one too
    return
  from tqdm.auto import tqdm  # only when asked for

  batches = iter(batches)
  try:
    with tqdm(total=total, initial=initial, desc=desc, unit="img", unit_scale=False, dynamic_ncols=True,
              smoothing=0.1) as bar:
      t0 = time.perf_counter()
      done = 0
      for batch in batches:
        n = len(batch["index"])
        done += n
        bar.update(n)
        yield batch
      elapsed = time.perf_counter() - t0
      if elapsed > 0:
        bar.set_postfix_str(f"{done / elapsed:.1f} img/s overall")
  finally:
    close = getattr(batches, "close", None)
    if close is not None:  # stop the decode threads now, not when the generator is garbage collected
      close()
