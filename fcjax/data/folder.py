"""An image folder laid out ``root/<split>/<label>/<image>`` (the layout of ``tfds.folder_dataset.ImageFolder``).

Images are read with PIL (no TensorFlow). The stream order is fixed: labels sorted by name, files within a label
sorted by name, so position ``i`` is the same file on every run (needed for resume). Labels are indices into
``label_names`` (the sorted label folder names, e.g. ImageNet synsets).
"""

from __future__ import annotations

import os
import pathlib
from typing import Iterator

from fcjax import errors
from fcjax.data import pipeline, preprocess


class FolderSource:
  """The images of one split of an image folder, as an fcjax image source.

  Attributes:
    name: ``'folder:<root>/<split>'`` (``fcjax.data.from_spec`` reads it back).
    root: the dataset root (the folder that holds the split folders).
    split: the split folder name.
    label_names: sorted label folder names; ``labels`` in batches index into it.
    files: the image paths in stream order.
    skipped: images that could not be read or decoded so far (they are left out of their batch).
  """

  def __init__(self, root: str | os.PathLike, split: str = "train", *, workers: int | None = None,
               prefetch: int = pipeline.DEFAULT_PREFETCH, draft: bool = True):
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
      raise errors.DatasetError(
          f"image folder {root} does not exist (expected the layout root/<split>/<label>/<image>)")
    split_dir = root / split
    if not split_dir.is_dir():
      found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
      raise errors.DatasetError(
          f"image folder {root} has no split folder {split!r} (expected the layout root/<split>/<label>/<image>; "
          f"folders found there: {found or 'none'})")
    labels = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[str, int]] = []
    for label, name in enumerate(labels):
      with os.scandir(split_dir / name) as it:
        names = sorted(e.name for e in it if e.is_file() and preprocess.is_image_file(e.name))
      files.extend((str(split_dir / name / f), label) for f in names)
    if not files:
      loose = [p.name for p in split_dir.iterdir() if p.is_file() and preprocess.is_image_file(p)]
      hint = (f"; found {len(loose)} images directly in {split_dir}: put them in label subfolders "
              f"({split_dir}/<label>/<image>)") if loose else ""
      raise errors.DatasetError(
          f"no images in {split_dir} (expected {split_dir}/<label>/<image> with extensions "
          f"{', '.join(preprocess.IMAGE_EXTENSIONS)}){hint}")
    self.root = root
    self.split = split
    self.name = f"folder:{root}/{split}"
    self.label_names = labels
    self.files = [f for f, _ in files]
    self._labels = [l for _, l in files]
    self.skipped = 0
    self._workers = workers
    self._prefetch = prefetch
    self._draft = draft

  def __len__(self) -> int:
    return len(self.files)

  def __repr__(self) -> str:
    return f"FolderSource({str(self.root)!r}, split={self.split!r}, images={len(self)}, labels={len(self.label_names)})"

  def _records(self, start: int) -> Iterator[pipeline.Record]:
    for i in range(start, len(self.files)):
      path, label = self.files[i], self._labels[i]
      yield pipeline.Record(i, lambda path=path, label=label: (_read(path), label), path)

  def batches(self, batch_size: int, size: int, *, start: int = 0) -> Iterator[dict]:
    """``{'images': float32 [B, size, size, 3] in [0, 1], 'labels': int32 [B], 'index': int64 [B]}`` in file order.

    ``start`` skips that many images (resume). Unreadable images are skipped, counted in ``skipped`` and logged.
    """
    return pipeline.decode_batches(self._records(max(0, int(start))), batch_size, size, workers=self._workers,
                                   prefetch=self._prefetch, draft=self._draft, on_skip=pipeline.skip_logger(self))


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def resolve(path: str | os.PathLike, split: str | None = None) -> tuple[pathlib.Path, str]:
  """``(root, split)`` for a path that is either a dataset root or one of its split folders.

  ``folder:/data/imagenet-sample-256`` and ``folder:/data/imagenet-sample-256/train`` both mean the train split:
  a path is taken as a split folder when it has no ``split`` subfolder but its subfolders hold images directly.
  """
  p = pathlib.Path(path).expanduser()
  if split is not None or not p.is_dir() or (p / "train").is_dir():
    return p, split or "train"
  for d in sorted(p.iterdir()):
    if d.is_dir():
      with os.scandir(d) as it:
        if any(e.is_file() and preprocess.is_image_file(e.name) for e in it):
          return p.parent, p.name
  return p, "train"
