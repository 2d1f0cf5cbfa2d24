"""TF-SAME conv / max-pool and LRN (fcjax.models.layers) against TensorFlow's own ops, the ground truth of inception5h.

Odd sizes (97, 225) are where hard-coded pads (Lucent's) go wrong, so they are tested explicitly. Runtime: ~10 s
(mostly importing TensorFlow).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcjax.models import layers as L

tf = pytest.importorskip("tensorflow")

RTOL = 1e-5  # max |a - b| / max |b|, float32


def rel_err(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("n,k,s,expected", [
    (224, 7, 2, (2, 3)),  # conv2d0: Lucent's hard-coded (2, 3) is right at 224 ...
    (112, 3, 2, (0, 1)),  # ... and so is its (0, 1) for the stride-2 pools at even sizes
    (97, 3, 2, (1, 1)),  # odd: ceil(97/2)=49, total = 48*2 + 3 - 97 = 2
    (97, 7, 2, (3, 3)),
    (225, 7, 2, (3, 3)),
    (5, 5, 1, (2, 2)),
    (1, 7, 2, (3, 3)),
    (8, 1, 2, (0, 0)),  # 1x1 stride 2 never pads
])
def test_same_padding_formula(n, k, s, expected):
  assert L.same_padding(n, k, s) == expected


@pytest.mark.parametrize("h,w,k,stride", [(h, w, k, s) for h, w in [(97, 225), (225, 97)]
                                           for k, s in [(7, 2), (3, 2), (5, 1), (1, 1)]] + [(224, 224, 7, 2)])
def test_conv_same_matches_tf(h, w, k, stride):
  rng = np.random.default_rng(k * 10 + stride)
  x = rng.normal(size=(1, h, w, 3)).astype(np.float32)
  kern = rng.normal(size=(k, k, 3, 4)).astype(np.float32)
  b = rng.normal(size=(4,)).astype(np.float32)
  ref = tf.nn.conv2d(x, kern, strides=stride, padding="SAME").numpy() + b
  got = L.conv2d_same(jnp.asarray(x), jnp.asarray(kern), jnp.asarray(b), stride)
  assert got.shape == ref.shape
  assert rel_err(got, ref) < RTOL


@pytest.mark.parametrize("h,w,stride", [(97, 225, 1), (97, 225, 2), (225, 97, 2), (56, 56, 2)])
def test_max_pool_same_matches_tf(h, w, stride):
  # all-negative inputs: a pool padded with zeros instead of -inf would return 0 at the borders
  x = -np.random.default_rng(stride).uniform(1, 2, size=(2, h, w, 5)).astype(np.float32)
  ref = tf.nn.max_pool2d(x, ksize=3, strides=stride, padding="SAME").numpy()
  got = L.max_pool_same(jnp.asarray(x), 3, stride)
  assert got.shape == ref.shape
  np.testing.assert_array_equal(np.asarray(got), ref)


@pytest.mark.parametrize("channels", [64, 7])  # 7 < 2 * 5 + 1: the window is clipped at both ends
def test_lrn_matches_tf(channels):
  # large activations so that alpha * sum(x^2) is comparable to the bias and the normalisation really acts
  x = np.random.default_rng(channels).normal(0, 60, size=(2, 9, 11, channels)).astype(np.float32)
  ref = tf.nn.local_response_normalization(x, depth_radius=5, bias=2.0, alpha=1e-4, beta=0.5).numpy()
  got = L.local_response_norm(jnp.asarray(x))
  assert L.LRN_ALPHA == 9.999999747378752e-05
  assert rel_err(got, ref) < RTOL
  # the window really matters: plain x / sqrt(bias) is far off
  assert rel_err(x / np.sqrt(2.0), ref) > 1e-2


def test_lrn_general_beta_matches_tf():
  x = np.random.default_rng(3).normal(0, 30, size=(1, 4, 4, 16)).astype(np.float32)
  ref = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-3, beta=0.75).numpy()
  got = L.local_response_norm(jnp.asarray(x), depth_radius=2, bias=1.0, alpha=1e-3, beta=0.75)
  assert rel_err(got, ref) < RTOL


def test_lrn_bfloat16_keeps_dtype_and_value():
  x = np.random.default_rng(4).normal(0, 60, size=(1, 3, 3, 32)).astype(np.float32)
  ref = L.local_response_norm(jnp.asarray(x))
  got = L.local_response_norm(jnp.asarray(x, jnp.bfloat16))
  assert got.dtype == jnp.bfloat16
  assert rel_err(got.astype(jnp.float32), ref) < 2e-2  # bfloat16 has an 8-bit mantissa


def test_avg_pool_valid_matches_tf():
  x = np.random.default_rng(5).normal(size=(2, 7, 7, 6)).astype(np.float32)
  ref = tf.nn.avg_pool2d(x, ksize=7, strides=1, padding="VALID").numpy()
  got = L.avg_pool_valid(jnp.asarray(x), 7)
  assert got.shape == (2, 1, 1, 6)
  assert rel_err(got, ref) < RTOL


def test_pools_and_lrn_differentiate_under_jit():
  x = -jnp.ones((1, 7, 7, 12))  # the -inf padding must not leak into the gradient

  @jax.jit
  def grads(v):
    g_max = jax.grad(lambda u: L.max_pool_same(u, 3, 2).sum())(v)
    g_avg = jax.grad(lambda u: L.avg_pool_valid(u, 7).sum())(v)
    g_lrn = jax.grad(lambda u: L.local_response_norm(u).sum())(v)
    return g_max, g_avg, g_lrn

  g_max, g_avg, g_lrn = grads(x)
  assert np.all(np.isfinite(np.asarray(g_max)))
  assert float(g_max.sum()) == pytest.approx(4 * 4 * 12)  # one unit of gradient per output position
  np.testing.assert_allclose(g_avg, 1 / 49, rtol=1e-6)
  assert np.all(np.isfinite(np.asarray(g_lrn))) and float(jnp.abs(g_lrn).min()) > 0


def test_feature_size_is_nested_ceil():
  strides = (2, 2, 2, 2, 2)
  for n in (193, 200, 224, 225, 97, 32, 31):
    assert L.feature_size(n, strides) == -(-n // 32)


@pytest.mark.parametrize("h, w, stride, ties", [(9, 7, 2, False), (13, 12, 2, True), (10, 10, 1, True)])
def test_max_pool_gradient_goes_to_the_first_maximum_like_tf(h, w, stride, ties):
  """The hand-written max-pool gradient equals TensorFlow's MaxPoolGrad, ties included (rounded inputs)."""
  tf = pytest.importorskip("tensorflow")
  rng = np.random.default_rng(h * w + stride)
  x = rng.normal(size=(2, h, w, 3)).astype(np.float32)
  if ties:
    x = np.round(x)  # many equal values per window: the cotangent must go to the first one only
  g = rng.normal(size=(2, -(-h // stride), -(-w // stride), 3)).astype(np.float32)
  ours = jax.jit(jax.grad(lambda v: jnp.sum(L.max_pool_same(v, 3, stride) * g)))(jnp.asarray(x))
  xt = tf.constant(x)
  with tf.GradientTape() as tape:
    tape.watch(xt)
    y = tf.nn.max_pool2d(xt, 3, stride, "SAME")
  ref = tape.gradient(y, xt, output_gradients=tf.constant(g)).numpy()
  np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-6)
  # and the same as XLA's own reduce_window gradient (an independent lowering)
  pad = ((0, 0), L.same_padding(h, 3, stride), L.same_padding(w, 3, stride), (0, 0))
  rw = lambda v: jax.lax.reduce_window(v, np.array(-np.inf, np.float32), jax.lax.max, (1, 3, 3, 1),
                                       (1, stride, stride, 1), pad)
  np.testing.assert_allclose(np.asarray(ours), np.asarray(jax.grad(lambda v: jnp.sum(rw(v) * g))(jnp.asarray(x))),
                             atol=1e-6)
