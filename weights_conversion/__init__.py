"""Weight conversion for fcjax's InceptionV1: Lucent ``.pth`` and Lucid ``.pb`` -> fcjax params -> checkpoint.

Public functions::

    read_params(src) -> params          # any supported file: .pth, .pb, or a converted checkpoint directory
    convert(src, dst) -> Path           # writes an orbax checkpoint directory + metadata.json, atomically
    info(path) -> dict                  # format and provenance of a weights file or checkpoint
    check_params(params)                # raises WeightsError listing each missing / extra / misshapen array

Also exposed on the command line as ``fcjax weights convert SRC DST``. Every failure caused by the file (missing,
corrupt, another network's weights, untrusted pickle) is a :class:`fcjax.errors.WeightsError` with a message that
says what is wrong, never a pickle or protobuf traceback; a failed conversion writes nothing at ``dst``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pathlib
from typing import Mapping

import numpy as np

from fcjax import _io, errors
from fcjax._version import __version__ as _fcjax_version
from weights_conversion import _shapes, checkpoint, lucent_pth, lucid_pb

__all__ = ["FORMATS", "check_params", "convert", "detect_format", "file_sha256", "git_blob_id", "info",
           "read_params"]

FORMATS = (lucent_pth.FORMAT, lucid_pb.FORMAT, checkpoint.FORMAT)
_SUFFIXES = {".pth": lucent_pth.FORMAT, ".pt": lucent_pth.FORMAT, ".pb": lucid_pb.FORMAT}


def detect_format(path: str | os.PathLike) -> str:
  """'lucent-pth', 'lucid-pb' or 'fcjax-checkpoint', from the file suffix, else from the file's first bytes."""
  path = pathlib.Path(path)
  if not path.exists():
    raise errors.WeightsError(f"weights path {path} does not exist")
  if path.is_dir():
    if checkpoint.is_checkpoint(path):
      return checkpoint.FORMAT
    raise errors.WeightsError(
        f"{path} is a directory but not an fcjax weights checkpoint (no {checkpoint.PARAMS_DIR}/ and "
        f"{checkpoint.METADATA}); pass a .pth / .pb file or a directory written by `fcjax weights convert`")
  if path.suffix.lower() in _SUFFIXES:
    return _SUFFIXES[path.suffix.lower()]
  with open(path, "rb") as f:
    head = f.read(4)
  # torch.save writes a zip archive (PK..) or, in the legacy format, a raw pickle (protocol byte 0x80).
  return lucent_pth.FORMAT if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" else lucid_pb.FORMAT


def check_params(params: Mapping, source: str = "params") -> None:
  """Raise :class:`~fcjax.errors.WeightsError` unless ``params`` has exactly InceptionV1's arrays and shapes."""
  expected = {f"{n}/{k}": s for n, p in _shapes.param_shapes().items() for k, s in p.items()}
  got = {f"{n}/{k}": tuple(np.shape(v)) for n, p in params.items() for k, v in dict(p).items()}
  problems = [f"missing {k} (expected shape {s})" for k, s in expected.items() if k not in got]
  problems += [f"unexpected {k} (shape {s})" for k, s in got.items() if k not in expected]
  problems += [f"wrong shape for {k}: {s}, expected {expected[k]}" for k, s in got.items()
               if k in expected and s != expected[k]]
  if problems:
    raise errors.WeightsError(f"{source} does not match InceptionV1: {errors.problems_line(problems)}")


def read_params(src: str | os.PathLike) -> dict:
  """InceptionV1 params (float32 numpy arrays) from a Lucent ``.pth``, a Lucid ``.pb`` or a converted checkpoint.

  Raises:
    WeightsError: the path is missing, unreadable, corrupt, or does not hold exactly InceptionV1's weights.
    NonFiniteError: a weight is NaN or Inf (naming the tensor).
  """
  fmt = detect_format(src)
  if fmt == lucent_pth.FORMAT:
    params = lucent_pth.read(src)
  elif fmt == lucid_pb.FORMAT:
    params = lucid_pb.read(src)
  else:
    params = checkpoint.load(src)
  check_params(params, source=str(src))
  _io.check_finite(params, str(src))
  return params


def file_sha256(path: str | os.PathLike) -> str:
  """Hex sha256 of a file's bytes."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def git_blob_id(path: str | os.PathLike) -> str:
  """Hex git blob id of a file, ``sha1(b"blob %d\\0" % size + bytes)``: the id git (and GitHub) gives its content."""
  h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()



def convert(src: str | os.PathLike, dst: str | os.PathLike, *, overwrite: bool = False, source: str | None = None,
            sha256: str | None = None, extra_metadata: Mapping | None = None) -> pathlib.Path:
  """Convert a weights file to an fcjax checkpoint directory ``dst`` (orbax params + ``metadata.json``).

  Args:
    src: a Lucent ``.pth``, a Lucid ``.pb`` or an fcjax checkpoint directory.
    dst: the checkpoint directory to create (written to a temporary sibling and renamed, so a failure leaves nothing).
    overwrite: replace an existing ``dst``.
    source: what to record as the source (default: the absolute path of ``src``; ``download`` records the URL).
    sha256: the source file's sha256 if already known (computed otherwise).
    extra_metadata: more provenance to record (``download`` adds ``verified``); the source file's ``git_blob_id``
      is always recorded, and converting a checkpoint keeps what it recorded.

  Returns:
    The absolute path of ``dst``.
  """
  dst = pathlib.Path(dst)
  if dst.exists() and not overwrite:  # before the (slow) read, so the user hears about it at once
    raise errors.WeightsError(f"{dst} already exists; choose another destination or overwrite it (--force)")
  if not dst.exists():
    _io.check_output_path(dst, "dir", what="DST")
  fmt = detect_format(src)
  params = read_params(src)
  src_path = pathlib.Path(src).absolute()
  if fmt == checkpoint.FORMAT:
    prev = checkpoint.read_metadata(src_path)
    origin = {"source": prev.get("source", str(src_path)), "source_format": prev.get("source_format", fmt),
              "sha256": prev.get("sha256"), **{k: prev[k] for k in ("git_blob_id", "verified") if k in prev}}
  else:
    origin = {"source": source or str(src_path), "source_format": fmt, "sha256": sha256 or file_sha256(src_path),
              "git_blob_id": git_blob_id(src_path)}
  metadata = {
      "format": checkpoint.FORMAT,
      "model": "inceptionv1",
      **origin,
      **dict(extra_metadata or {}),
      "params_sha256": _io.tree_digest(params),  # what a run on these weights records: fcjax's one digest
      "param_count": int(sum(np.size(v) for p in params.values() for v in p.values())),
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "fcjax_version": _fcjax_version,
  }
  return checkpoint.save(params, dst, metadata, overwrite=overwrite)


def info(path: str | os.PathLike) -> dict:
  """What a weights path is: for a checkpoint its ``metadata.json`` (plus ``path``); for a ``.pth`` / ``.pb`` file
  ``{'path', 'format', 'bytes', 'sha256', 'git_blob_id'}`` (the file is not parsed)."""
  path = pathlib.Path(path).absolute()
  fmt = detect_format(path)
  if fmt == checkpoint.FORMAT:
    return {"path": str(path), **checkpoint.read_metadata(path)}
  return {"path": str(path), "format": fmt, "bytes": path.stat().st_size, "sha256": file_sha256(path),
          "git_blob_id": git_blob_id(path)}
