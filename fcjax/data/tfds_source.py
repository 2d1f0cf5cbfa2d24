"""TensorFlow Datasets as fcjax image sources, through either of TFDS's two reading paths.

Backends (``backend=``):

* ``'data_source'`` (aliases ``'grain'``, ``'array_record'``): ``builder.as_data_source`` random access over a dataset
  prepared in ArrayRecord format (``tfds build NAME --file_format=array_record``). No TensorFlow is imported.
  fcjax indexes the source itself from its decode threads, so grain is not needed.
* ``'tfdata'``: ``builder.as_dataset`` + tf.data, which reads the usual TFRecord-prepared datasets (the default of
  ``tfds build``) and needs TensorFlow (``pip install tensorflow-cpu``). TensorFlow is imported with every GPU
  hidden from it (``tf.config.set_visible_devices([], 'GPU')``) so it takes no accelerator memory from JAX.
* ``'auto'``: ``'data_source'`` when the prepared dataset has a random-access format, else ``'tfdata'``.

Either way TFDS hands over the *encoded* image bytes (``tfds.decode.SkipDecoding``) and fcjax decodes them with the
same function as every other source (:mod:`fcjax.data.preprocess`), in its thread pool; a corrupt image is skipped
and counted. ``tfds_folder`` reads an image folder through ``tfds.folder_dataset.ImageFolder`` (tf.data).

Nothing is ever downloaded or prepared implicitly: a dataset that is not prepared raises
:class:`~fcjax.errors.DatasetError` saying how to prepare it.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any, Iterator

from fcjax import errors
from fcjax.data import pipeline

log = logging.getLogger("fcjax.data")

BACKENDS = ("auto", "tfdata", "data_source")
_ALIASES = {"grain": "data_source", "array_record": "data_source", "datasource": "data_source",
            "tf.data": "tfdata", "tf": "tfdata"}


def import_tfds():
  """``tensorflow_datasets``, or a :class:`DatasetError` saying how to install it."""
  try:
    import tensorflow_datasets as tfds  # noqa: PLC0415 - optional, heavy
  except ImportError:
    raise errors.DatasetError("reading TFDS datasets needs tensorflow-datasets: pip install tensorflow-datasets") \
        from None
  return tfds


def import_tensorflow():
  """TensorFlow with every GPU hidden from it, so that it takes no accelerator memory from JAX.

  Raises :class:`DatasetError` if TensorFlow is not installed.
  """
  try:
    import tensorflow as tf  # noqa: PLC0415 - optional, heavy
  except ImportError:
    raise errors.DatasetError(
        "the 'tfdata' TFDS backend needs TensorFlow: pip install tensorflow-cpu (or fcjax[tf]); alternatively prepare "
        "the dataset as ArrayRecord (tfds build NAME --file_format=array_record) and use backend='data_source'") \
        from None
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # TF already initialised its devices; hiding them is no longer possible
    if tf.config.get_visible_devices("GPU"):
      log.warning("TensorFlow was initialised before fcjax could hide the GPUs from it; it may hold GPU memory")
  return tf


def normalize_backend(backend: str) -> str:
  b = _ALIASES.get(str(backend).lower(), str(backend).lower())
  if b not in BACKENDS:
    raise errors.DatasetError(f"unknown TFDS backend {backend!r}; choose one of 'auto', 'tfdata', 'data_source' "
                              "(alias 'grain')")
  return b


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return text[0] if text else type(e).__name__


def _how_to_prepare(builder, name: str, data_dir: str | os.PathLike | None) -> str:
  root = str(builder.data_dir_root)
  dd = f" --data_dir={root}"
  instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if instructions:
    manual = os.path.join(root, "downloads", "manual")
    what = " ".join(instructions.split())
    return (f"it needs a manual download: {what} Put the files in a folder (by default {manual}), then prepare "
            f"it with: tfds build {name}{dd} --manual_dir={manual}  (add --file_format=array_record to read it "
            "later without TensorFlow, backend='data_source')")
  return (f"prepare it with: tfds build {name}{dd}  (add --file_format=array_record to read it later without "
          "TensorFlow, backend='data_source')")


def _not_prepared(builder, name: str, data_dir) -> errors.DatasetError:
  return errors.DatasetError(
      f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root}; {_how_to_prepare(builder, name, data_dir)}")


class TfdsSource:
  """One split of a TFDS image dataset as an fcjax image source.

  Attributes:
    name: ``'tfds:<name>/<split>'`` (or ``'tfds-folder:<root>/<split>'``).
    backend: the backend in use, ``'tfdata'`` or ``'data_source'``.
    image_key, label_key: the features read (label_key None: labels are -1).
    label_names: class names of the label feature (empty if it has none).
    skipped: images that could not be decoded so far.
  """

  def __init__(self, name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
               backend: str = "auto", *, image_key: str | None = None, label_key: str | None = None,
               workers: int | None = None, prefetch: int = pipeline.DEFAULT_PREFETCH, draft: bool = True,
               builder: Any = None, source_name: str | None = None):
    tfds = import_tfds()
    self._tfds = tfds
    backend = normalize_backend(backend)
    if builder is None:
      data_dir = None if data_dir is None else os.fspath(pathlib.Path(data_dir).expanduser())
      try:
        builder = tfds.builder(name, data_dir=data_dir)
      except tfds.core.registered.DatasetNotFoundError:
        hits = errors.closest(name.split("/")[0].split(":")[0], tfds.list_builders())
        hint = f"; closest names: {', '.join(hits)}" if hits else ""
        raise errors.DatasetError(f"TFDS has no dataset named {name!r}{hint}") from None
      except Exception as e:  # noqa: BLE001 - a bad config or version string: report TFDS's reason in one line
        raise errors.DatasetError(f"cannot open TFDS dataset {name!r}: {_first_line(e)}") from None
    self._builder = builder
    self.name = source_name or f"tfds:{name}/{split}"
    self.dataset = name
    self.split = split
    self.data_dir = data_dir
    self.image_key, self.label_key = self._keys(image_key, label_key)
    self.label_names = self._label_names()
    self.backend = self._choose(backend)
    self.skipped = 0
    self._workers, self._prefetch, self._draft = workers, prefetch, draft
    self._data = self._open()
    self._len = self._length()

  # --- construction helpers -------------------------------------------------------------------------------------
  def _keys(self, image_key, label_key) -> tuple[str, str | None]:
    feats = self._tfds.features
    items = dict(self._builder.info.features.items())
    if image_key is None:
      image_key = next((k for k, f in items.items() if isinstance(f, feats.Image)), None)
      if image_key is None:
        raise errors.DatasetError(f"TFDS dataset {self.dataset!r} has no image feature (features: {list(items)})")
    elif image_key not in items:
      raise errors.DatasetError(f"TFDS dataset {self.dataset!r} has no feature {image_key!r} (features: {list(items)})")
    if label_key is None:
      label_key = "label" if isinstance(items.get("label"), feats.ClassLabel) else next(
          (k for k, f in items.items() if isinstance(f, feats.ClassLabel)), None)
    elif label_key not in items:
      raise errors.DatasetError(f"TFDS dataset {self.dataset!r} has no feature {label_key!r} (features: {list(items)})")
    return image_key, label_key

  def _label_names(self) -> list[str]:
    if self.label_key is None:
      return []
    try:
      return list(self._builder.info.features[self.label_key].names)
    except Exception:  # noqa: BLE001 - a ClassLabel with only num_classes
      return []

  def _choose(self, backend: str) -> str:
    if backend != "auto":
      return backend
    tfds = self._tfds
    try:
      formats = set(self._builder.info.available_file_formats())
    except Exception:  # noqa: BLE001 - builders without file formats (ImageFolder)
      formats = set()
    if formats & set(tfds.core.file_adapters.FileFormat.with_random_access()):
      return "data_source"
    return "tfdata"

  def _decoders(self) -> dict:
    return {self.image_key: self._tfds.decode.SkipDecoding()}

  def _open(self):
    try:
      if self.backend == "data_source":
        return self._builder.as_data_source(split=self.split, decoders=self._decoders())
      import_tensorflow()
      return self._builder.as_dataset(split=self.split, decoders=self._decoders(), shuffle_files=False)
    except errors.FcjaxError:
      raise
    except Exception as e:  # noqa: BLE001 - translate TFDS's errors (AssertionError, NotImplementedError, ...)
      raise self._open_error(e) from None

  def _open_error(self, e: BaseException) -> errors.DatasetError:
    b = self._builder
    try:
      prepared = b.is_prepared()
    except Exception:  # noqa: BLE001
      prepared = True
    if not prepared:
      return _not_prepared(b, self.dataset, self.data_dir)
    if isinstance(e, NotImplementedError) and self.backend == "data_source":
      return errors.DatasetError(
          f"TFDS dataset {self.dataset!r} in {b.data_dir} is prepared as {b.info.file_format.value}, which has no "
          "random access: use backend='tfdata' (needs TensorFlow), or prepare it again with "
          f"tfds build {self.dataset} --file_format=array_record")
    splits = list(getattr(b.info, "splits", {}) or {})
    return errors.DatasetError(f"cannot read split {self.split!r} of TFDS dataset {self.dataset!r} "
                               f"(splits: {splits or 'unknown'}): {_first_line(e)}")

  def _length(self) -> int:
    if self.backend == "data_source":
      return len(self._data)
    n = int(self._data.cardinality())
    if n < 0:  # unknown cardinality: ask the split metadata
      n = int(self._builder.info.splits[self.split].num_examples)
    return n

  # --- the source protocol --------------------------------------------------------------------------------------
  def __len__(self) -> int:
    return self._len

  def __repr__(self) -> str:
    return f"TfdsSource({self.name!r}, backend={self.backend!r}, images={len(self)})"

  def _example(self, ex: dict) -> tuple[Any, int]:
    label = -1 if self.label_key is None else int(ex[self.label_key])
    return ex[self.image_key], label

  def _records(self, start: int) -> Iterator[pipeline.Record]:
    if self.backend == "data_source":
      src = self._data
      for i in range(start, len(src)):
        yield pipeline.Record(i, lambda i=i: self._example(src[i]), f"{self.name}[{i}]")
      return
    tf = import_tensorflow()
    ds = self._data.skip(start) if start else self._data
    ds = ds.prefetch(tf.data.AUTOTUNE)
    it = ds.as_numpy_iterator()
    i = start
    while True:
      try:
        ex = next(it)
      except StopIteration:
        return
      except tf.errors.OpError as e:  # a read error inside tf.data ends the stream
        raise errors.DatasetError(f"TensorFlow could not read {self.name} at position {i}: {_first_line(e)}") \
            from None
      data, label = self._example(ex)
      yield pipeline.Record(i, lambda d=data, l=label: (d, l), f"{self.name}[{i}]")
      i += 1

  def batches(self, batch_size: int, size: int, *, start: int = 0) -> Iterator[dict]:
    """``{'images': float32 [B, size, size, 3] in [0, 1], 'labels': int32 [B], 'index': int64 [B]}`` in TFDS order.

    ``start`` skips that many examples (resume; for tf.data the skipped records are read but not decoded).
    """
    return pipeline.decode_batches(self._records(max(0, int(start))), batch_size, size, workers=self._workers,
                                   prefetch=self._prefetch, draft=self._draft, on_skip=pipeline.skip_logger(self))


def tfds_folder(root: str | os.PathLike, split: str = "train", **kwargs) -> TfdsSource:
  """An image folder ``root/<split>/<label>/<image>`` read through ``tfds.folder_dataset.ImageFolder`` (tf.data).

  TFDS orders the images by a fixed shuffle of the sorted file list; labels index the sorted label names.
  """
  tfds = import_tfds()
  import_tensorflow()  # ImageFolder lists files with tf.io.gfile: hide the GPUs first
  root = pathlib.Path(root).expanduser()
  if not root.is_dir():
    raise errors.DatasetError(f"image folder {root} does not exist (expected the layout root/<split>/<label>/<image>)")
  try:
    builder = tfds.folder_dataset.ImageFolder(str(root))
  except Exception as e:  # noqa: BLE001
    raise errors.DatasetError(f"TFDS cannot read image folder {root}: {_first_line(e)}") from None
  splits = dict(builder.info.splits)
  if split not in splits or splits[split].num_examples == 0:
    raise errors.DatasetError(f"no images in {root / split} (expected {root}/{split}/<label>/<image> with extensions "
                              f".jpg, .jpeg, .png; splits found: {sorted(splits) or 'none'})")
  return TfdsSource(str(root), split, backend="tfdata", builder=builder, source_name=f"tfds-folder:{root}/{split}",
                    **kwargs)
