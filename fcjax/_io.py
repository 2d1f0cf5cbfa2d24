"""Small helpers shared by the modules that save results: atomic writes, JSON of NumPy values, and the one digest
of model parameters (:func:`params_digest`) that stats files, sweep results, resume files and manifests record."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import tempfile
from typing import Any, Callable

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
  """Call ``write(f)`` on a temp file beside ``path``, then rename it over ``path``.

  Readers never see a partial file, and an interrupted write leaves the previous file (if any) untouched.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the file the mode open() would have
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def jsonable(x: Any) -> Any:
  """``json.dumps(default=...)`` hook: NumPy scalars and arrays, paths and dataclasses as plain JSON values."""
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, np.ndarray):
    return x.tolist()
  if isinstance(x, pathlib.PurePath):
    return str(x)
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    return dataclasses.asdict(x)
  return repr(x)


def params_digest(params: Any) -> str:
  """sha256 (hex) over every leaf of the pytree ``params``: its tree path, dtype, shape and bytes.

  The one definition of "which weights": two parameter trees have the same digest exactly when their structure and
  values are equal. Arrays spread over several processes are gathered first.
  """
  import jax  # noqa: PLC0415 - keep this module light

  from fcjax import _devices  # noqa: PLC0415

  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    a = np.ascontiguousarray(_devices.to_host(leaf) if isinstance(leaf, jax.Array) else np.asarray(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.hexdigest()
