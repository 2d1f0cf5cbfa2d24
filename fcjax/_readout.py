"""Unit readouts as the user gives them: parse and validate once, name them in results, and apply the one rule for
tensors without spatial axes. Used by :mod:`fcjax.objectives`, :mod:`fcjax.sweep` and :mod:`fcjax.stats`.

A readout is 'neuron' (the channel at the spatial centre ``(H//2, W//2)``, Lucid's convention and the paper's),
'channel' (the spatial mean), an explicit ``(row, col)`` position (a ``"row,col"`` string or a list also work), or,
inside :func:`fcjax.objectives.readout`, 'vector' (a tensor with no spatial axes, e.g. logits). A tensor without
spatial axes is always read as a vector, whatever the readout (:func:`mode_for`).
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from fcjax import errors

MODES = ("neuron", "channel")


def parse(readout: Any, *, what: str = "readout", vector: bool = False) -> str | tuple[int, int]:
  """The canonical readout: 'neuron', 'channel' (or 'vector' when ``vector``), or a (row, col) tuple of ints >= 0.

  Raises :class:`~fcjax.errors.FcjaxError` naming ``what`` for anything else.
  """
  modes = MODES + (("vector",) if vector else ())
  if isinstance(readout, str) and "," in readout:
    try:
      readout = tuple(int(v) for v in readout.split(","))
    except ValueError:
      raise errors.FcjaxError(f"{what} position must be 'row,col' with integers, got {readout!r}") from None
  if isinstance(readout, str):
    if readout not in modes:
      raise errors.FcjaxError(f"unknown {what} {readout!r}; use 'neuron' (centre position), 'channel' (spatial mean)"
                              + (", 'vector' (no spatial axes)" if vector else "") + " or an explicit (row, col) "
                              "position")
    return readout
  if (isinstance(readout, Sequence) and len(readout) == 2
      and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in readout)):
    return int(readout[0]), int(readout[1])
  raise errors.FcjaxError(f"{what} position must be two non-negative integers (row, col), got {readout!r}")


def name(readout: Any) -> str:
  """The readout as stored in results: 'neuron', 'channel', 'vector' or 'row,col'."""
  if isinstance(readout, str):
    return readout
  try:
    return f"{int(readout[0])},{int(readout[1])}"
  except (TypeError, ValueError, IndexError):
    return repr(readout)


def mode_for(readout: Any, ndim: int) -> Any:
  """The readout mode for activations of rank ``ndim``: 'vector' for [N, C] (no spatial axes), else ``readout``."""
  return "vector" if ndim == 2 else readout


def check_position(readout: Any, shape: Sequence[int], layer: str, size: int) -> None:
  """Raise :class:`~fcjax.errors.UnitIndexError` if an explicit position lies outside ``layer``'s feature map
  (``shape`` [N, H, W, C] at ``size`` px inputs); nothing to check for a mode or a tensor without spatial axes."""
  if isinstance(readout, str) or len(shape) != 4:
    return
  r, c = readout
  if not (0 <= r < shape[1] and 0 <= c < shape[2]):
    raise errors.UnitIndexError(f"readout position {(r, c)} is outside {layer}'s {shape[1]}x{shape[2]} feature map "
                                f"at {size} px inputs")
