"""fcjax's converted-weights format: a directory with an orbax checkpoint of the params and a metadata record.

Layout::

    DST/
      params/         orbax StandardCheckpointer checkpoint of the params dict (float32 numpy arrays)
      metadata.json   {"format", "model", "source", "source_format", "sha256", "params_sha256", "created",
                       "fcjax_version", "param_count"}, plus "git_blob_id" and "verified" for a verified download

:func:`save` writes everything into a temporary sibling directory and renames it into place at the end, so an error
or an interrupt never leaves a half-written ``DST``.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import uuid
from typing import Mapping

import numpy as np

from fcjax import errors

FORMAT = "fcjax-checkpoint"
PARAMS_DIR = "params"
METADATA = "metadata.json"


def is_checkpoint(path: str | os.PathLike) -> bool:
  """True if ``path`` is a directory written by :func:`save`."""
  path = pathlib.Path(path)
  return path.is_dir() and (path / METADATA).is_file() and (path / PARAMS_DIR).is_dir()


def save(params: Mapping, dst: str | os.PathLike, metadata: Mapping, *, overwrite: bool = False) -> pathlib.Path:
  """Write ``params`` and ``metadata`` as a checkpoint directory at ``dst`` (atomically: temp dir, then rename).

  Raises:
    WeightsError: ``dst`` exists and ``overwrite`` is False.
  """
  import orbax.checkpoint as ocp
  dst = pathlib.Path(dst).absolute()
  if dst.exists() and not overwrite:
    raise errors.WeightsError(f"{dst} already exists; choose another destination or overwrite it (--force)")
  dst.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
  old = None
  try:
    tree = {k: {kk: np.asarray(vv, np.float32) for kk, vv in v.items()} for k, v in params.items()}
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(tmp / PARAMS_DIR, tree)
    ckptr.wait_until_finished()
    ckptr.close()
    (tmp / METADATA).write_text(json.dumps(dict(metadata), indent=2, sort_keys=True) + "\n")
    if dst.exists():
      old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
      os.rename(dst, old)
    os.rename(tmp, dst)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    if old is not None and not dst.exists():
      os.rename(old, dst)  # put the previous checkpoint back
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)
  return dst


def read_metadata(path: str | os.PathLike) -> dict:
  """The ``metadata.json`` record of a checkpoint directory."""
  path = pathlib.Path(path)
  try:
    return json.loads((path / METADATA).read_text())
  except (OSError, ValueError) as e:
    raise errors.WeightsError(f"{path} is not an fcjax weights checkpoint ({METADATA}: {type(e).__name__})") from None


def load(path: str | os.PathLike) -> dict:
  """The params dict (float32 numpy arrays) of a checkpoint directory written by :func:`save`."""
  import orbax.checkpoint as ocp
  path = pathlib.Path(path).absolute()
  if not is_checkpoint(path):
    raise errors.WeightsError(
        f"{path} is not an fcjax weights checkpoint (expected {PARAMS_DIR}/ and {METADATA}; make one with "
        f"`fcjax weights convert SRC {path}`)")
  try:
    tree = ocp.StandardCheckpointer().restore(path / PARAMS_DIR)
  except Exception as e:  # noqa: BLE001 - a corrupt checkpoint gets one clear line, not an orbax traceback
    msg = str(e).strip().splitlines()
    raise errors.WeightsError(
        f"{path} is a damaged fcjax checkpoint ({type(e).__name__}: {msg[0][:200] if msg else ''}); convert the "
        f"weights again") from None
  return {k: {kk: np.asarray(vv, np.float32) for kk, vv in v.items()} for k, v in tree.items()}
