"""Non-finite values in a sweep (issue 26): a unit NaN everywhere stops the run with one line; diverged images give
no numpy warnings and no decided verdict."""

from __future__ import annotations

import dataclasses
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import toy_features as toys
from fcjax import errors, measures, sweep

CONFIG = sweep.SweepConfig(param="pixel", transforms="none", canvas_size=toys.SIZE, input_size=toys.SIZE,
                           optimizer="adam", learning_rate=0.1, steps=40, block_steps=20, n_angles=8, n_seeds=2,
                           relu="plain")


def test_a_unit_that_is_nan_everywhere_stops_the_sweep_with_one_line():
  """Non-finite activations enter a sweep in its half-axis phase: every seed NaN there is an error naming the unit."""
  def f(params, images):
    m = jnp.mean(images, axis=(1, 2, 3))
    return jnp.stack([m, jnp.log(-1.0 - m)], axis=-1)  # log of a negative number: NaN, finite gradient

  with pytest.raises(errors.NonFiniteError, match=r"feature 1 gave NaN/Inf in every seed when maximised"):
    sweep.run(f, None, CONFIG.replace(steps=2, block_steps=2, n_angles=4, n_seeds=1), pairs=[(0, 1)])


def test_measures_of_diverged_images_warn_nothing_and_decide_nothing():
  toy = toys.square()
  toy_result = sweep.run(toy.f, toy.params, CONFIG, pairs=[(0, 1)])
  y = toy_result.y.copy()
  c = toy_result.c.copy()
  y[0], c[0] = np.nan, np.nan  # the first pair diverged everywhere
  bad = dataclasses.replace(toy_result, y=y, c=c, axis_y=None)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    s = measures.summarize(bad, 0)
  assert all(v != "collapsed" for v in s["verdicts"]), s["verdicts"]
  assert all(any(r.startswith("diverged") for r in s[f"reasons_{q}"]) for q in measures.QUADRANTS)
