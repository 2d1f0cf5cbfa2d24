"""The demo model's network, re-exported from :mod:`fcjax.models.demo_cnn` (where it is defined, so that the models
package imports nothing above it): the table ``ARCH``, the NNX module ``DemoCNN``, ``apply``, the weights I/O and
``MODEL``. ``fcjax.demo.train`` and existing callers import it from here."""

from __future__ import annotations

from fcjax.models.demo_cnn import (ARCH, ASSETS, DEFAULT_WEIGHTS, GRAPHDEF, INPUT_SIZE, LAYERS, MODEL,  # noqa: F401
                                   N_CLASSES, VALUE_RANGE, Conv, DemoCNN, Dense, GlobalAvgPool, MaxPool, Params,
                                   apply, init_params, load_params, param_count, param_shapes,
                                   save_params)
