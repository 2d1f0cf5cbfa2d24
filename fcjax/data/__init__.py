"""Streaming image sources: an image folder, TensorFlow Datasets, procedural images.

Every source satisfies one small protocol (nothing is held in memory beyond a few batches)::

    source.name                      # str, e.g. 'folder:/data/imagenet-sample-256/train'
    len(source)                      # images it will yield (fewer if some turn out to be corrupt)
    source.skipped                   # corrupt / unreadable images skipped so far
    source.batches(batch_size, size, *, start=0)
        # -> iterator of {'images': float32 [B, size, size, 3] in [0, 1], 'labels': int32 [B], 'index': int64 [B]}
        #    index = position in the stream; start skips that many images (resume); a batch may be smaller than
        #    batch_size at the end or where images were skipped.

Constructors: :func:`folder`, :func:`tfds`, :func:`tfds_folder`, :func:`procedural` and :func:`from_spec` (the CLI's
``--dataset`` strings); :func:`shard` takes one host's contiguous share of any source, keeping global positions.
File-backed sources decode in a thread pool with bounded prefetch
(:mod:`fcjax.data.pipeline`) and share one preprocessing function (:mod:`fcjax.data.preprocess`: decode, resize the
shorter side, centre crop, float32 [0, 1]). :func:`progress` wraps a batch stream in a progress bar (images/s).

Example::

    src = fcjax.data.folder('/data/imagenet-sample-256')          # root/train/<synset>/*.JPEG
    for batch in fcjax.data.progress(src.batches(64, 224), total=len(src)):
      batch['images']                                              # float32 [64, 224, 224, 3]
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from typing import Any, Iterator, Protocol

from fcjax import errors
from fcjax.data.folder import FolderSource
from fcjax.data.folder import resolve as resolve_folder
from fcjax.data.pipeline import progress
from fcjax.data.preprocess import load_image
from fcjax.data.shard import ShardSource, shard

__all__ = ["Source", "FolderSource", "ShardSource", "folder", "shard", "tfds", "tfds_folder", "procedural",
           "from_spec", "progress", "load_image"]


class Source(Protocol):
  """The image source protocol (see the module docstring)."""

  name: str
  skipped: int

  def __len__(self) -> int: ...

  def batches(self, batch_size: int, size: int, *, start: int = 0) -> Iterator[dict]: ...


def folder(root: str | os.PathLike, split: str = "train", **kwargs) -> FolderSource:
  """The images of ``root/<split>/<label>/<image>`` read with PIL (see :class:`FolderSource`).

  Keyword arguments: ``workers`` (decode threads), ``prefetch`` (batches decoded ahead), ``draft`` (JPEG draft
  decoding). Raises :class:`~fcjax.errors.DatasetError` if the folder is missing or holds no images.
  """
  return FolderSource(root, split, **kwargs)


def tfds(name: str, split: str = "train", data_dir: str | os.PathLike | None = None, backend: str = "auto",
         **kwargs) -> Any:
  """One split of a TFDS image dataset (see :class:`fcjax.data.tfds_source.TfdsSource` for the backends).

  ``split`` accepts TFDS's slicing syntax (``'validation[:1000]'``). Raises :class:`~fcjax.errors.DatasetError`
  when the dataset is unknown or not prepared (saying how to prepare it).
  """
  from fcjax.data import tfds_source
  return tfds_source.TfdsSource(name, split, data_dir, backend, **kwargs)


def tfds_folder(root: str | os.PathLike, split: str = "train", **kwargs) -> Any:
  """An image folder read through ``tfds.folder_dataset.ImageFolder`` and tf.data (needs TensorFlow)."""
  from fcjax.data import tfds_source
  return tfds_source.tfds_folder(root, split, **kwargs)


def procedural(n: int = 1000, seed: int = 0) -> Any:
  """``n`` synthetic labelled images generated from ``seed`` (see :mod:`fcjax.data.procedural`)."""
  module = importlib.import_module("fcjax.data.procedural")
  return module.procedural(n, seed)


# Stream names that mark the last '/' component of a 'tfds:' spec as a split rather than a config name.
_SPLIT_WORDS = re.compile(r"^(train|test|validation|valid|val|dev|eval|all|extra|unlabeled|unsupervised)\b")


def from_spec(spec: str, *, split: str | None = None, data_dir: str | os.PathLike | None = None,
              backend: str = "auto", **kwargs) -> Any:
  """A source from a command-line string.

  * ``folder:PATH``: an image folder; PATH is the root (split ``train`` unless ``split=``) or a split folder.
  * ``tfds:NAME[/SPLIT]``: a TFDS dataset; NAME may carry a config (``imagenette/320px-v2/validation``); the last
    component counts as the split when it looks like one (train, test, validation, ..., or has ``[`` / ``+``).
  * ``tfds-folder:PATH``: an image folder read through TFDS (tf.data).
  * ``procedural[:N[:seedS]]``: N (default 1000) procedural images of stream S (default 0); a procedural source's
    ``name`` reads back.
  """
  kind, _, rest = str(spec).partition(":")
  kind = kind.strip().lower()
  if kind == "folder" and rest:
    root, sp = resolve_folder(rest, split)
    return FolderSource(root, sp, **kwargs)
  if kind == "tfds-folder" and rest:
    root, sp = resolve_folder(rest, split)
    return tfds_folder(root, sp, **kwargs)
  if kind == "tfds" and rest:
    name, sp = rest, split
    head, _, tail = rest.rpartition("/")
    if head and sp is None and (_SPLIT_WORDS.match(tail) or "[" in tail or "+" in tail):
      name, sp = head, tail
    return tfds(name, sp or "train", data_dir, backend, **kwargs)
  if kind == "procedural":
    n, _, seed = rest.partition(":")
    try:
      n = int(n) if n else 1000
      seed = int(seed[4:] if seed.startswith("seed") else seed) if seed else 0
    except ValueError:
      raise errors.DatasetError(f"bad dataset spec {spec!r}: use procedural[:N[:seedS]] with integers N, S") from None
    return procedural(n, seed)
  raise _bad_spec(spec, kind, rest)


_KINDS = ("folder", "tfds", "tfds-folder", "procedural")


def _bad_spec(spec: str, kind: str, rest: str) -> errors.DatasetError:
  """The error for a ``--dataset`` string that names no known kind: suggests the closest kind, or ``folder:`` for a
  bare path to an existing folder."""
  hint = ""
  if kind in _KINDS and not rest:
    hint = f"; {kind}: needs a value after the colon (e.g. {kind}:{'PATH' if 'folder' in kind else 'NAME'})"
  elif os.path.isdir(os.path.expanduser(str(spec))):
    hint = f"; to read the image folder {spec}, write folder:{spec}"
  elif rest:
    hint = errors.did_you_mean(f"{kind}:{rest}", [f"{k}:{rest}" for k in _KINDS])
  return errors.DatasetError(f"bad dataset spec {spec!r}{hint}; use folder:PATH, tfds:NAME[/SPLIT], "
                             "tfds-folder:PATH or procedural[:N[:seedS]]")


class _DataPackage(types.ModuleType):
  """Keeps the name ``fcjax.data.procedural`` bound to the constructor function.

  Importing the submodule ``fcjax.data.procedural`` makes Python set the package attribute ``procedural`` to the
  module object, which would shadow the function of the same name; this package ignores that assignment (the
  module stays reachable as ``sys.modules['fcjax.data.procedural']`` and ``from fcjax.data.procedural import X``).
  """

  def __setattr__(self, name: str, value: Any) -> None:
    if name == "procedural" and isinstance(value, types.ModuleType):
      return
    super().__setattr__(name, value)


sys.modules[__name__].__class__ = _DataPackage
