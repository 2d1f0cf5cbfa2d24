"""Small helpers shared by the modules that save results: atomic writes, output-path checks, JSON of NumPy values,
and the one digest of arrays (:func:`tree_digest`) that stats files, sweep results, resume files and manifests
record."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import pathlib
import tempfile
from typing import Any, Callable

import numpy as np

from fcjax import errors

OUTPUT_KINDS = ("file", "dir")
# The causes of a failed write that lie outside the arguments (the CLI: one line, exit errors.WRITE_FAILED).
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO, errno.EACCES, errno.EPERM)


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


def write_failed(e: OSError, path: str | os.PathLike | None = None) -> str:
  """One line for a write that failed with ``e`` (one of WRITE_ERRNOS): the path, the cause, what to do."""
  where = path or e.filename or "a file"
  cause = e.strerror or str(e)
  return (f"cannot write {where}: {cause} ({errno.errorcode.get(e.errno, e.errno)}); make room or choose a writable "
          "place, then rerun the same command (it resumes; nothing half-written is kept)")


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def check_output_path(path: str | os.PathLike, kind: str, *, what: str = "--out",
                      overwrite: bool | Callable[[pathlib.Path], bool] = False) -> pathlib.Path:
  """Check, before any work, that ``path`` can be written as a ``kind`` ('file' or 'dir'); nothing is created.

  Missing parent folders are fine (writers create them, like ``mkdir -p``), as long as they can be created: the
  nearest existing ancestor must be a writable folder (probed by creating and removing a temporary file in it, since
  permission bits do not stop root).

  Args:
    path: the output path.
    kind: 'file' (a file is written there) or 'dir' (a folder of results is written there; an existing folder is fine).
    what: how the message names the argument (e.g. '--out', 'DST').
    overwrite: for kind 'file': whether an existing file may be replaced; a callable decides per path (e.g. "only if
      it is an fcjax stats file").

  Returns:
    ``path`` as a :class:`pathlib.Path`.

  Raises:
    OutputPathError: one line naming the argument, the path and what to do.
  """
  if kind not in OUTPUT_KINDS:
    raise ValueError(f"kind must be one of {OUTPUT_KINDS}, got {kind!r}")  # a caller's bug, not bad input
  path = pathlib.Path(path).expanduser()
  if str(path) in ("", "."):
    if kind == "file":
      raise errors.OutputPathError(f"{what} needs a file name, got {str(path)!r}")
  if path.is_dir():
    if kind == "file":
      raise errors.OutputPathError(f"{what} {path} is a folder; give a file name (e.g. {path / 'out.npz'})")
    _probe_writable(path, what, path)
    return path
  if path.exists() or path.is_symlink():
    if kind == "dir":
      raise errors.OutputPathError(
          f"{what} {path} is an existing file, not a folder; give a folder for the results (a new name is created)")
    allowed = overwrite(path) if callable(overwrite) else overwrite
    if not allowed:
      raise errors.OutputPathError(f"{what} {path} already exists and would be overwritten; choose another name or "
                                   "delete it first")
    _probe_writable(path.parent, what, path)
    return path
  ancestor = path.parent
  while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
    ancestor = ancestor.parent
  if not ancestor.is_dir():
    raise errors.OutputPathError(f"{what} {path} cannot be created: {ancestor} is a file, not a folder")
  _probe_writable(ancestor, what, path)
  return path


def _probe_writable(folder: pathlib.Path, what: str, path: pathlib.Path) -> None:
  from fcjax import distributed  # noqa: PLC0415
  if distributed.is_non_writer():  # a process that writes nothing leaves the probe to process 0
    return
  try:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fcjax-probe-")
  except OSError as e:
    raise errors.OutputPathError(
        f"{what} {path} cannot be written: {folder} is not a writable folder ({e.strerror or e}); choose another "
        "place") from None
  os.close(fd)
  os.unlink(tmp)


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


def check_finite(params: Any, source: str) -> None:
  """Refuse weights that hold NaN or Inf (a diverged fine-tune, a bad conversion) where they are loaded.

  Args:
    params: a pytree of arrays (any nesting of dicts, NNX or Linen state).
    source: what the weights are, for the message (a file path).

  Raises:
    NonFiniteError: one line naming ``source``, the first tensor with non-finite values (its tree path), how many
      of its values are NaN and Inf, and how many tensors are affected.
  """
  import jax  # noqa: PLC0415 - keep this module light

  bad = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    a = np.asarray(leaf)
    if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all():
      bad.append((_tree_name(path), int(np.isnan(a).sum()), int(np.isinf(a).sum()), a.size))
  if bad:
    name, nan, inf, size = bad[0]
    more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
    raise errors.NonFiniteError(f"weights {source}: tensor {name} holds non-finite values ({nan} NaN, {inf} Inf of "
                                f"{size}){more}; refusing them: use weights from before the divergence or redo the "
                                "conversion")


def _tree_name(path) -> str:
  """A tree path as ``a/b/c`` (dict keys, attributes and indices alike)."""
  parts = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
  return "/".join(parts)


def tree_digest(tree: Any) -> str:
  """sha256 (hex) over every leaf of the pytree ``tree``: its tree path, dtype, shape and bytes.

  The one digest of arrays: of model parameters ("which weights": recorded as ``weights_digest`` / ``params_digest``
  / ``params_sha256``), and of the statistics and unit maxima a result was made from. Two trees have the same digest
  exactly when their structure and values are equal. Arrays spread over several processes are gathered first.
  """
  import jax  # noqa: PLC0415 - keep this module light

  from fcjax import _devices  # noqa: PLC0415

  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    a = np.ascontiguousarray(_devices.to_host(leaf) if isinstance(leaf, jax.Array) else np.asarray(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.hexdigest()

