"""Tests of fcjax.sweep.features: Lucid's redirected ReLU, and the validation of a bare feature function."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_features as toys
from fcjax import errors, sweep

TOY_CONFIG = sweep.SweepConfig(param="pixel", transforms="none", canvas_size=toys.SIZE, input_size=toys.SIZE,
                               optimizer="adam", learning_rate=0.1, steps=200, block_steps=50, n_angles=60, n_seeds=3,
                               relu="plain", transparency=True)  # tests/test_sweep.py's (errors come before compiling)


def test_redirected_relu_gradient():
  x = jnp.array([[-1.0, -2.0, 0.5], [-1.0, -3.0, -0.5]])  # image 0 has a live unit, image 1 is stuck
  g = jnp.array([[-1.0, 2.0, 3.0], [-1.0, 2.0, 3.0]])  # cotangent of the minimised loss
  _, vjp_on = jax.vjp(sweep.redirected_relu(True), x)
  _, vjp_off = jax.vjp(sweep.redirected_relu(False), x)
  np.testing.assert_array_equal(vjp_off(g)[0], [[0, 0, 3], [0, 0, 0]])  # the plain ReLU gradient
  # Image 0 keeps the plain gradient; image 1 (nothing passes) lets through the push upward (g < 0) only.
  np.testing.assert_array_equal(vjp_on(g)[0], [[0, 0, 3], [-1, 0, 0]])
  np.testing.assert_array_equal(sweep.redirected_relu(True)(x), jax.nn.relu(x))


def test_feature_function_bad_inputs():
  f = lambda params, images: images.mean(axis=(1, 2))  # [N, 3]
  with pytest.raises(errors.UnitIndexError, match="3 features"):
    sweep.run(f, None, TOY_CONFIG, pairs=[(0, 3)])
  with pytest.raises(errors.FcjaxError, match="layer"):
    sweep.run(f, None, TOY_CONFIG, layer="conv2d0", pairs=[(0, 1)])
  with pytest.raises(errors.FcjaxError, match=r"\[N, k\]"):
    sweep.run(lambda p, x: x.mean(), None, TOY_CONFIG, pairs=[(0, 1)])
  with pytest.raises(errors.FcjaxError, match="feature function failed"):
    sweep.run(lambda p, x: x @ jnp.ones((5, 2)), None, TOY_CONFIG, pairs=[(0, 1)])
