"""Manifests: the inputs that made an artefact, so that a rerun reuses it only when they match (issue 11, item 5).

A manifest is a small JSON file beside (or inside) its artefact: ``X.inputs.json`` for a file ``X``,
``X/inputs.json`` for a directory ``X``. It holds ``{"format", "inputs"}`` where ``inputs`` is a plain
JSON dict (weights digest, model, layer, dataset, n, readout, config, ...). It is written atomically and only AFTER
the work it describes, so a manifest that exists always describes a finished artefact: an interrupted run leaves no
manifest and the next run finishes (resumes) or redoes the work.

:func:`decide` compares a recorded manifest with the inputs of this run and returns whether the artefact can be
reused and, if not, one line saying why (the first differing inputs, old -> new).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Mapping, NamedTuple

from fcjax import _io

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
