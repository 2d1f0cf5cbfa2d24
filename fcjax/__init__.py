"""fcjax: which combinations of two or three features can a vision model represent?

A JAX/Flax implementation of the cosdot feature-combination method of Hamblin, Alvarez & Konkle,
"Optimizing For Possible Feature Combinations in Discriminative Vision Models".

Submodules are imported lazily so that ``import fcjax`` stays cheap (no TensorFlow, no PyTorch). The public API,
bottom layer first (a module imports only its own layer or lower; ``tests/test_layout.py`` checks it):

* ``models`` (InceptionV1, the demo model, any ``apply`` function), ``objectives`` (cosdot, readouts),
  ``param`` (image parameterizations), ``transforms``, ``spectrum`` (MACO spectra), ``errors``, ``distributed``
  (several processes: set-up, writer, barrier);
* ``sweep`` (the cosdot sweep of pairs and triples), ``stats`` (unit statistics, pair and triple choice), ``data``
  (image sources), ``measures`` (motif measures of pairs), ``orthants`` (octant verdicts of triples), ``result``
  (``SweepResult``), ``weights`` (InceptionV1 weight files), ``demo``;
* ``experiment`` (the whole pipeline as Python functions, with manifests), ``plot`` (figures), ``plot_triple`` (the
  pictures of a triple of units: projections, octant table, a page with a 3-D view), ``atlas`` (every pair of a layer
  screened, ranked and reported), ``cli``.

Private modules hold what several of these share: ``_io`` (atomic files, the array digest), ``_fourier``,
``_readout``, ``_devices``, ``_manifest`` (what made an artefact), ``_select``, ``_guard`` (signals, output locks),
``_frontier`` (the frontier exponent of :mod:`measures`), ``_orthant`` (the corner measure of any k), ``_view3d``
(the HTML of the interactive 3-D view), ``_inputs`` (the checks of a run's inputs, for ``experiment``) and
``_version`` (the version string, so that recording it needs no import of this root).
"""

from __future__ import annotations

import importlib

from fcjax._version import __version__

_SUBMODULES = ("models", "objectives", "param", "transforms", "sweep", "data", "stats", "measures", "plot",
               "plot_triple", "weights", "errors", "spectrum", "demo", "cli", "result", "experiment",
               "atlas", "distributed", "orthants", "triples")


def __getattr__(name: str):
  if name == "inception_v1":
    return importlib.import_module("fcjax.models.inception_v1")
  if name in _SUBMODULES:
    return importlib.import_module(f"fcjax.{name}")
  raise AttributeError(f"module 'fcjax' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_SUBMODULES) + ["inception_v1"])
