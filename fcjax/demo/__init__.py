"""The embedded demo: a small conv net trained by fcjax on procedural images, shipped with its weights.

``fcjax.demo.MODEL`` is a :class:`fcjax.models.base.Model` like InceptionV1's (the network, an NNX module
``fcjax.demo.DemoCNN``, is defined in :mod:`fcjax.models.demo_cnn`), so every fcjax tool runs on it offline;
``MODEL.load_params()`` (no path) loads the shipped weights, whose training record (config, held-out accuracy, data
seed) is :func:`train_record`. Retrain with ``python -m fcjax.demo.train`` (about 3 minutes on a laptop CPU).
"""

from __future__ import annotations

import json

from fcjax.models.demo_cnn import (ARCH, DEFAULT_WEIGHTS, INPUT_SIZE, LAYERS, MODEL, N_CLASSES, DemoCNN, apply,
                                   init_params, load_params, param_count, save_params)

TRAIN_RECORD = DEFAULT_WEIGHTS.parent / "train_record.json"

__all__ = ["ARCH", "DEFAULT_WEIGHTS", "DemoCNN", "INPUT_SIZE", "LAYERS", "MODEL", "N_CLASSES", "TRAIN_RECORD", "apply",
           "init_params", "load_params", "param_count", "save_params", "train_record"]


def train_record() -> dict:
  """The training record of the shipped weights (config, held-out accuracy, data seeds, versions, date, command)."""
  return json.loads(TRAIN_RECORD.read_text())
