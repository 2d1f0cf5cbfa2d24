"""fcjax: which combinations of two features can a vision model represent?

A JAX/Flax implementation of the cosdot feature-combination method of Hamblin, Alvarez & Konkle,
"Optimizing For Possible Feature Combinations in Discriminative Vision Models".

Submodules are imported lazily so that ``import fcjax`` stays cheap (no TensorFlow, no PyTorch).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("models", "objectives", "param", "transforms", "sweep", "data", "stats", "measures", "plot",
               "weights", "errors", "spectrum", "demo", "cli")


def __getattr__(name: str):
  if name == "inception_v1":
    return importlib.import_module("fcjax.models.inception_v1")
  if name in _SUBMODULES:
    return importlib.import_module(f"fcjax.{name}")
  raise AttributeError(f"module 'fcjax' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_SUBMODULES) + ["inception_v1"])
