"""Manifests: the inputs that made an artefact, so that a rerun reuses it only when they match (issue 11, item 5).

A manifest is a small JSON file beside (or inside) its artefact: ``X.inputs.json`` for a file ``X``,
``X/inputs.json`` for a directory ``X``. It holds ``{"format", "inputs"}`` where ``inputs`` is a plain
JSON dict (weights digest, model, layer, dataset, n, readout, config, ...). It is written atomically and only AFTER
the work it describes, so a manifest that exists always describes a finished artefact: an interrupted run leaves no
manifest and the next run finishes (resumes) or redoes the work.

:func:`decide` compares a recorded manifest with the inputs of this run and returns whether the artefact can be
reused and, if not, one line saying why (the first differing inputs, old -> new). :func:`reuse_or_make` is the whole
life of an artefact on that rule: reuse it, or delete the stale one, make, write and record it (in one process of
several: :mod:`fcjax.distributed`).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from fcjax import _io, distributed

FORMAT = "fcjax.manifest/1"


def of_file(path: str | pathlib.Path) -> pathlib.Path:
  """The manifest of a file artefact ``X``: ``X.inputs.json`` beside it."""
  path = pathlib.Path(path)
  return path.with_name(path.name + ".inputs.json")


def of_dir(path: str | pathlib.Path) -> pathlib.Path:
  """The manifest of a directory artefact ``X``: ``X/inputs.json``."""
  return pathlib.Path(path) / "inputs.json"


def canonical(inputs: Mapping[str, Any]) -> dict:
  """``inputs`` as plain JSON values (tuples -> lists, NumPy scalars -> numbers), as they read back from disk."""
  return json.loads(json.dumps(dict(inputs), sort_keys=True, default=_io.jsonable))


def read(manifest: str | pathlib.Path) -> dict | None:
  """The inputs recorded in ``manifest``, or None when it is missing or unreadable."""
  path = pathlib.Path(manifest)
  try:
    data = json.loads(path.read_text())
  except (OSError, ValueError):
    return None
  if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("inputs"), dict):
    return None
  return data["inputs"]


def record(manifest: str | pathlib.Path, inputs: Mapping[str, Any]) -> pathlib.Path:
  """Write ``manifest`` (call it once the artefact is finished) atomically; returns its path."""
  path = pathlib.Path(manifest)
  text = json.dumps({"format": FORMAT, "inputs": canonical(inputs)}, indent=2, sort_keys=True)
  _io.atomic_write(path, lambda f: f.write(text.encode()))
  return path


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "",
                fmt: Callable[[str, Any, Any], str] | None = None) -> list[str]:
  """One line per differing leaf of two (nested) dicts, in key order: ``fmt(dotted key, old, new)``, by default
  ``'key: old -> new'``. A key missing on one side reads ``'<absent>'``."""
  fmt = fmt or (lambda k, a, b: f"{k}: {_short(a)} -> {_short(b)}")
  out = []
  for k in sorted(set(old) | set(new)):
    a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += differences(a, b, f"{prefix}{k}.", fmt)
    elif a != b:
      out.append(fmt(f"{prefix}{k}", a, b))
  return out


def _short(x: Any) -> str:
  s = json.dumps(x, default=str)
  return s if len(s) <= 40 else s[:37] + "..."


class Decision(NamedTuple):
  """Whether to reuse an artefact; ``reason`` says why not (empty when reused)."""

  reuse: bool
  reason: str


def decide(manifest: str | pathlib.Path, inputs: Mapping[str, Any], *, exists: bool, fresh: bool = False,
           max_items: int = 3) -> Decision:
  """Reuse an artefact only if it ``exists`` (finished) and its ``manifest`` records exactly ``inputs``.

  Args:
    manifest: the artefact's manifest file (:func:`of_file`, :func:`of_dir`).
    inputs: the inputs of this run (JSON-able).
    exists: whether the finished artefact is there (its main file exists).
    fresh: recompute regardless (``--fresh``).
    max_items: differences named in the reason (the rest are counted).
  """
  if fresh:
    return Decision(False, "--fresh")
  if not exists:
    return Decision(False, "not made yet")
  old = read(manifest)
  if old is None:
    return Decision(False, "no record of the inputs that made it")
  diffs = differences(old, canonical(inputs))
  if not diffs:
    return Decision(True, "")
  more = f" (+{len(diffs) - max_items} more)" if len(diffs) > max_items else ""
  return Decision(False, "inputs changed: " + "; ".join(diffs[:max_items]) + more)


def reuse_or_make(manifest: str | pathlib.Path, inputs: Mapping[str, Any], *, exists: bool,
                  make: Callable[[], Any], save: Callable[[Any], Any], load: Callable[[], Any] = lambda: None,
                  fresh: bool = False, stale: Sequence[pathlib.Path] = (), prepare: Callable[[], Any] | None = None,
                  finish: Callable[[], Any] | None = None, say: Callable[[str], None] | None = None,
                  what: str | None = None) -> tuple[Any, str]:
  """One artefact, reused when its ``manifest`` records ``inputs`` (:func:`decide`), else made, written and recorded.

  Reused: ``load()``. Otherwise, in order: ``prepare()`` (checks that must pass before anything is deleted: a bad
  dataset changes nothing); the ``stale`` paths (files or folders) are deleted when an older artefact is replaced;
  ``make()`` computes the value in every process; the writer process saves it (``save(value)``, each file through
  :func:`fcjax._io.atomic_write`), records the manifest after it and calls ``finish()`` (removes what only the
  making needed, e.g. resume files). Every process waits at a barrier before each deletion and after each write, so
  none reads a file being replaced.

  Args:
    manifest: the artefact's manifest (:func:`of_file`, :func:`of_dir`).
    inputs: this run's inputs (JSON-able).
    exists: whether the finished artefact is there (its main file exists).
    fresh: remake it regardless (``--fresh``).
    say, what: where to say, naming the artefact ``what`` (default: the manifest's path), 'fcjax: reusing <what>
      (same inputs)' or 'fcjax: recomputing <what>: <why>' (one line each); None: say nothing.

  Returns:
    ``(value, action)``: action is 'reused', 'computed' (not made before) or 'recomputed: <why>'.
  """
  what = what or str(manifest)
  decision = decide(manifest, inputs, exists=exists, fresh=fresh)
  if decision.reuse:
    if say is not None:
      say(f"fcjax: reusing {what} (same inputs)")
    return load(), "reused"
  if prepare is not None:
    prepare()
  action = "computed"
  if decision.reason != "not made yet":
    action = f"recomputed: {decision.reason}"
    if say is not None:
      say(f"fcjax: recomputing {what}: {decision.reason}")
    distributed.barrier(f"fcjax-decided:{manifest}")  # no process still reads what the writer deletes
    distributed.write_once(f"fcjax-cleared:{manifest}", lambda: _delete(stale))
  value = make()
  distributed.barrier(f"fcjax-made:{manifest}")  # no process still uses what ``finish`` removes

  def write():
    save(value)
    record(manifest, inputs)
    if finish is not None:
      finish()
  distributed.write_once(f"fcjax-wrote:{manifest}", write)
  return value, action


def _delete(paths: Sequence[pathlib.Path]) -> None:
  for p in paths:
    if p.is_dir():
      shutil.rmtree(p)
    elif p.exists():
      p.unlink()
