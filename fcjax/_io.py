"""Small file helpers shared by the modules that save results: atomic writes and JSON of NumPy values."""

from __future__ import annotations

import dataclasses
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
