"""Resume: a sweep's state saved after every block (orbax-checkpoint) beside a header saying which sweep it is.

``resume_dir/sweep.json`` is the header (model, layer, pairs, parameter digest, phase-1 source and every config field
that changes the result: all but config.EXECUTION_FIELDS); ``resume_dir/checkpoints/`` holds the latest block's
images, optimiser moments, history and phase-1 results. A directory made by a different sweep is refused with
:class:`~fcjax.errors.ConfigMismatchError` naming the differences.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import jax
import numpy as np

from fcjax import _guard, _io, _manifest, errors
from fcjax.sweep.config import EXECUTION_FIELDS, SweepConfig

RESUME_FORMAT = "fcjax.sweep-resume/3"  # /2: phase 1 saved per distinct unit; /3: both half-axes and their images


def header(*, model: str, layer: str | None, function: str | None, pairs: list, params_digest: str,
           phase1: str | None, config: SweepConfig) -> dict:
  """What a resume directory is for: everything that changes the result (``config`` without EXECUTION_FIELDS)."""
  return {"format": RESUME_FORMAT, "model": model, "layer": layer, "function": function, "pairs": pairs,
          "params_digest": params_digest, "phase1": phase1,
          "config": {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS}}


def payload(phase: int, block: int, history, y, c, leaves, phase1: dict) -> dict:
  """What is saved after a block: the phase's position, its history/y/C, the state's leaves and phase 1's results
  (``phase1``: ``UnitMaxima.to_arrays()`` with keys prefixed ``p1_``, empty while phase 1 runs)."""
  return {"phase": np.int32(phase), "block": np.int32(block), "history": history, "y": y, "c": c, "leaves": leaves,
          **phase1}


class _Checkpoint:
  """Resume state in ``directory``: ``sweep.json`` (what the run is) + orbax checkpoints of the latest block."""

  def __init__(self, directory, header: dict):
    import orbax.checkpoint as ocp
    self._ocp = ocp
    self.dir = pathlib.Path(directory).absolute()
    self.header = header
    self._manager = None
    self.failed = False  # a write failed (close then keeps the writer threads' teardown quiet)

  def check(self) -> None:
    """Refuse a directory written for a different sweep (naming the differences); write the header if new."""
    path = self.dir / "sweep.json"
    if path.exists():
      try:
        old = json.loads(path.read_text())
      except (OSError, ValueError) as e:
        raise errors.ConfigMismatchError(f"cannot read {path} ({e}); use an empty resume directory") from None
      diffs = _saved_vs_now(old, self.header)
      if diffs:
        raise errors.ConfigMismatchError(
            f"resume directory {self.dir} was made by a different sweep; differing: {'; '.join(diffs)}. "
            "Use the same settings, or a new (empty) resume directory")
    else:
      self.dir.mkdir(parents=True, exist_ok=True)
      if jax.process_index() == 0:
        text = json.dumps(self.header, indent=2)
        _io.atomic_write(path, lambda f: f.write(text.encode()))

  @property
  def manager(self):
    if self._manager is None:
      ocp = self._ocp
      opts = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False, create=True)
      self._manager = ocp.CheckpointManager(self.dir / "checkpoints", options=opts)
    return self._manager

  def save(self, step: int, payload: dict) -> None:
    """Save ``payload`` as ``step``. A write that fails for a cause outside the run (no space, a quota, a read-only
    file system) raises :class:`~fcjax.errors.WriteError` naming the folder and the cause; orbax finalises a step
    only once it is complete, so the failed step is never restored."""
    held = _HeldStderr()
    try:
      with held:
        self.manager.save(step, args=self._ocp.args.StandardSave(payload), force=True)
        self.manager.wait_until_finished()
    except Exception as e:  # orbax and tensorstore wrap the OSError (ValueError, RuntimeError, ...): read its text
      cause = self._write_cause(e)
      if cause is None:
        held.replay()
        raise
      _quiet_writer_threads()
      self.failed = True
      raise errors.WriteError(f"cannot write the resume checkpoint in {self.dir / 'checkpoints'}: {cause}; make "
                              "room or choose a writable place, then rerun the same command (it resumes from the "
                              "last complete block)") from None
    held.replay()

  def restore(self) -> dict | None:
    """The latest saved payload, or None. A damaged checkpoint (truncated or overwritten files, an empty
    ``_METADATA``) raises :class:`~fcjax.errors.ConfigMismatchError` saying so, as a damaged ``sweep.json`` does:
    the caller discards the folder and recomputes."""
    try:
      step = self.manager.latest_step()
      if step is None:
        return None
      return self.manager.restore(step, args=self._ocp.args.StandardRestore())
    except Exception as e:  # whatever orbax raises on a file it cannot parse: the checkpoint is unusable
      self.close()
      self._manager = None
      raise errors.ConfigMismatchError(
          f"the resume checkpoint in {self.dir / 'checkpoints'} is damaged ({type(e).__name__}: "
          f"{errors.one_line(e, 160)})") from None

  @staticmethod
  def _write_cause(e: BaseException) -> str | None:
    """The cause of a failed checkpoint write when it lies outside the run (``_io.WRITE_ERRNOS``), else None."""
    for x in (e, e.__cause__, e.__context__):
      if isinstance(x, OSError) and x.errno in _io.WRITE_ERRNOS:
        return x.strerror or str(x)
    text = str(e).lower()
    return next((os.strerror(n) for n in _io.WRITE_ERRNOS if os.strerror(n).lower() in text), None)

  def close(self) -> None:
    if self._manager is not None:
      if self.failed:  # after a failed write the writer threads' teardown only repeats the reported failure
        with _HeldStderr():
          self._manager.close()
      else:
        self._manager.close()


class _HeldStderr:
  """Holds what is written to ``sys.stderr`` inside the block (orbax's writer threads print the tracebacks of a failed
  write's teardown, ``RuntimeError: Event loop is closed``, through it); :meth:`replay` writes it out when the block
  turned out fine. A failed write is reported in one line instead."""

  def __enter__(self):
    import io
    self._real, self._buf = sys.stderr, io.StringIO()
    sys.stderr = self._buf
    return self

  def __exit__(self, *exc):
    sys.stderr = self._real
    return False

  def replay(self) -> None:
    text = self._buf.getvalue()
    if text:
      self._real.write(text)


def _quiet_writer_threads() -> None:
  """After a failed write, orbax's background writer threads and their event loops fail in turn, for a while and
  from C callbacks, and print tracebacks (``RuntimeError: Event loop is closed``) around the one line the user gets:
  in the ``fcjax`` program stderr then passes only fcjax's own lines (:func:`fcjax._guard.own_lines_only`)."""
  _guard.own_lines_only()


def _saved_vs_now(old: dict, new: dict) -> list[str]:
  """Differing header fields, as "key: <saved> (saved) vs <now> (now)"."""
  return _manifest.differences(old, new, fmt=lambda k, a, b: f"{k}: {a!r} (saved) vs {b!r} (now)")
