"""Errors that fcjax raises for bad input.

Every error a user can cause (a layer name that does not exist, a unit index out of range, a corrupt weight
file, a dataset that is not prepared, ...) is a subclass of :class:`FcjaxError`. Library code raises them
*before* anything is compiled; the CLI turns them into one line on stderr and exit status 2.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class FcjaxError(ValueError):
  """Base class of all user-facing fcjax errors (bad input, missing files, mismatched configs)."""


class UnknownLayerError(FcjaxError, KeyError):
  """A tensor name the model does not have."""

  def __str__(self) -> str:  # KeyError would quote the message
    return str(self.args[0]) if self.args else ""


class UnitIndexError(FcjaxError, IndexError):
  """A unit (channel) index out of range for the layer."""


class InputSizeError(FcjaxError):
  """Images of the wrong rank, channel count or size for the requested tensors."""


class WeightsError(FcjaxError):
  """A weight file that is missing, corrupt, or does not match the model."""


class DatasetError(FcjaxError):
  """A dataset that is missing, not prepared, or empty."""


class ConfigMismatchError(FcjaxError):
  """A resume directory or stats file that was made with a different configuration."""


class OutputPathError(FcjaxError):
  """An output path (``--out``, a conversion destination, a cache folder) that cannot be written as asked: an
  existing file where a folder is expected, a folder where a file is expected, a parent that is a file, a place
  that is not writable."""


class UsageError(FcjaxError):
  """A command-line argument that is missing, malformed or out of range (the CLI's argument checks)."""


class BusyError(OutputPathError):
  """An output that another fcjax run (this host or another) is writing now: its lock is held."""


class NonFiniteError(FcjaxError):
  """NaN or Inf where a run needs finite numbers: in weights as they load, in activations or statistics."""


class WriteError(FcjaxError):
  """A write that failed for a cause outside the arguments: no space left, a quota, a read-only file system. The
  CLI exits with :data:`WRITE_FAILED` (not 2: the input was fine; rerun once there is room, and it resumes)."""


WRITE_FAILED = 74  # the CLI's exit status for a WriteError (sysexits.h EX_IOERR)


def closest(name: str, valid: Iterable[str], n: int = 5) -> list[str]:
  """The up-to-``n`` valid names closest to ``name`` (for 'did you mean' messages)."""
  valid = list(valid)
  hits = difflib.get_close_matches(name, valid, n=n, cutoff=0.5)
  if not hits:
    hits = [v for v in valid if name.split("_")[0] in v][:n]
  return hits


def did_you_mean(name: str, valid: Iterable[str]) -> str:
  """``"; did you mean 'x'?"`` (or ``"; did you mean 'x' or 'y'?"``) for the names closest to ``name``, else ``""``.

  For messages about a mistyped name, e.g. ``f"unknown field {name!r}{did_you_mean(name, fields)}"``.
  """
  hits = difflib.get_close_matches(str(name), [str(v) for v in valid], n=2, cutoff=0.6)
  if not hits:
    return ""
  return "; did you mean " + " or ".join(repr(h) for h in hits) + "?"


def one_line(text: str, limit: int = 400) -> str:
  """``text`` as one line (newlines and runs of spaces collapsed), cut to ``limit`` characters with ``...``.

  The CLI prints every error on one line; library messages that list several problems use this.
  """
  flat = " ".join(str(text).split())
  return flat if len(flat) <= limit else flat[:limit - 3].rstrip() + "..."


def problems_line(problems: list[str], shown: int = 3) -> str:
  """``'N problem(s): a; b; c; and M more'``: a list of problems on one line (the first ``shown`` named)."""
  more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
  return f"{len(problems)} problem(s): " + "; ".join(problems[:shown]) + more


def unknown_layer(name: str, valid: Iterable[str], model: str = "model") -> UnknownLayerError:
  """An :class:`UnknownLayerError` that names the layer and lists the closest valid names."""
  hits = closest(name, valid)
  hint = f"; closest valid names: {', '.join(hits)}" if hits else ""
  return UnknownLayerError(f"{model} has no tensor named {name!r}{hint}")
