"""Tests of fcjax.objectives: cosdot against NumPy, its gradient, the singular point, readouts and the algebra.

References are computed independently here in float64 NumPy from the paper's formula
``C = (y·h)^(p+1) / (|y||h|)^p`` and Lucid's floored form ``dot · max(floor, cos)^p``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcjax import errors
from fcjax import objectives as obj


def np_direction(y, h, p, floor=None):
  y, h = np.asarray(y, np.float64), np.asarray(h, np.float64)
  dot = np.sum(y * h, -1)
  norms = np.linalg.norm(y, axis=-1) * np.linalg.norm(h, axis=-1)
  if floor is None:
    return dot ** (p + 1) / norms ** p
  return dot * np.maximum(floor, dot / norms) ** p


def np_cosdot(y, theta, p, floor=None):
  return np_direction(y, np.stack([np.cos(theta), np.sin(theta)], -1), p, floor)


RNG = np.random.default_rng(0)
Y = RNG.normal(size=(64, 2)) * RNG.uniform(0.1, 5, size=(64, 1))
THETA = RNG.uniform(0, 2 * np.pi, size=64)


CASES = [(0, None), (2, None), (4, None), (0, 0.1), (2, 0.1), (4, 0.1), (2.5, 0.1), (1.5, 0.0)]


def test_cosdot_matches_numpy():
  # One compiled program for all forms (compiles are the slow part of this suite).
  got = jax.jit(lambda y, t: [obj.cosdot(y, t, p, floor=f) for p, f in CASES])(
      jnp.asarray(Y, jnp.float32), jnp.asarray(THETA, jnp.float32))
  for (p, floor), g in zip(CASES, got):
    want = np_cosdot(Y, THETA, p, floor)
    assert (want > 0).any() and ((want < 0).any() or floor == 0)  # both signs of y·h are exercised
    np.testing.assert_allclose(np.asarray(g), want, rtol=2e-5, atol=2e-5 * np.abs(want).max(), err_msg=str(p))


def test_cosdot_broadcasts_and_vmaps():
  y = jnp.asarray(Y[:6], jnp.float32)
  thetas = jnp.linspace(0, 2 * np.pi, 5, endpoint=False)

  @jax.jit
  def both(y, thetas):
    grid = obj.cosdot(y[:, None, :], thetas[None, :])  # [6, 5] by broadcasting
    return grid, jax.vmap(jax.vmap(obj.cosdot, (None, 0)), (0, None))(y, thetas)

  grid, vm = both(y, thetas)
  want = np_cosdot(Y[:6, None, :], np.asarray(thetas)[None, :], 4)
  np.testing.assert_allclose(np.asarray(grid), want, rtol=2e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(vm), np.asarray(grid), rtol=1e-6)


def test_direction_any_k_matches_numpy():
  y = RNG.normal(size=(10, 3))
  h = RNG.normal(size=(10, 3))
  forms = [(4, None), (2, 0.1)]
  got = jax.jit(lambda y, h: [obj.direction(y, h, p, floor=f) for p, f in forms])(
      jnp.asarray(y, jnp.float32), jnp.asarray(h, jnp.float32))
  for (p, floor), g in zip(forms, got):
    np.testing.assert_allclose(np.asarray(g), np_direction(y, h, p, floor), rtol=2e-5, atol=1e-5)


def test_gradient_matches_finite_differences():
  forms = [(4, None), (2, None), (2, 0.1), (2.5, 0.1)]
  ys, ts = Y[:16], THETA[:16]
  grads = jax.jit(lambda y, t: [jax.vmap(jax.grad(lambda y, t: obj.cosdot(y, t, p, floor=f)))(y, t)
                                for p, f in forms])(jnp.asarray(ys, jnp.float32), jnp.asarray(ts, jnp.float32))
  eps = 1e-6
  for (p, floor), got in zip(forms, grads):
    want = np.stack([(np_cosdot(ys + eps * e, ts, p, floor) - np_cosdot(ys - eps * e, ts, p, floor)) / (2 * eps)
                     for e in np.eye(2)], -1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-3, atol=1e-4 * np.abs(want).max(), err_msg=str(p))


def test_value_and_gradient_finite_at_zero():
  theta = 0.7
  h = np.array([np.cos(theta), np.sin(theta)])
  cases = {(4, None): np.zeros(2), (2, None): np.zeros(2), (0, None): h, (4, 0.1): 0.1 ** 4 * h,
           (2.5, 0.1): 0.1 ** 2.5 * h, (0.5, 0.0): np.zeros(2)}

  @jax.jit
  def at_zero(zero, ys):
    out = [jax.jacobian(obj.safe_norm)(zero)]  # optax's safe_norm test: the Jacobian at 0 is 0, not NaN
    out += [jax.value_and_grad(lambda y: obj.cosdot(y, theta, p, floor=f))(zero) for p, f in cases]
    out.append(jax.vmap(jax.grad(lambda y: obj.cosdot(y, theta)))(ys))
    return out

  # Zeros among other vectors, and points just off zero, batched.
  ys = jnp.asarray(np.concatenate([np.zeros((2, 2)), 1e-7 * Y[:4], Y[:4]]), jnp.float32)
  jac, *vg, g = at_zero(jnp.zeros(2), ys)
  np.testing.assert_array_equal(np.asarray(jac), [0.0, 0.0])
  for (key, want_grad), (value, grad) in zip(cases.items(), vg):
    assert float(value) == 0.0, key
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-5, atol=1e-12, err_msg=str(key))
  assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).max() <= 5.0 + 1e-4  # |dC/dy| <= p+1


def test_exact_form_refuses_odd_fractional_negative_and_traced_p():
  y = jnp.ones(2)
  for p in (1, 3, 2.5, 0.5, -2, True, "4", float("nan")):
    with pytest.raises(errors.FcjaxError):
      obj.cosdot(y, 0.0, p)
  with pytest.raises(errors.FcjaxError, match="even integer"):
    obj.cosdot(y, 0.0, 3)
  with pytest.raises(errors.FcjaxError, match="static"):
    jax.jit(lambda p: obj.cosdot(y, 0.0, p))(4)
  for floor in (1.0, -0.1, 2):
    with pytest.raises(errors.FcjaxError, match="floor"):
      obj.cosdot(y, 0.0, 2, floor=floor)
  with pytest.raises(errors.FcjaxError):
    obj.cosdot(y, 0.0, -1.0, floor=0.1)
  assert obj.check_exponent(4.0) == 4 and isinstance(obj.check_exponent(4.0), int)
  assert obj.check_exponent(2.5, 0.1) == 2.5
  with pytest.raises(errors.InputSizeError):
    obj.cosdot(jnp.ones(3), 0.0)


ACTS = RNG.normal(size=(2, 5, 7, 6)).astype(np.float32)


def test_readout_modes_match_numpy_indexing():
  units = [4, 1, 4]
  np.testing.assert_array_equal(np.asarray(obj.readout(ACTS, units)), ACTS[:, 2, 3][:, units])
  np.testing.assert_allclose(np.asarray(obj.readout(ACTS, units, "channel")), ACTS.mean(axis=(1, 2))[:, units],
                             rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(obj.readout(ACTS, units, (4, 0))), ACTS[:, 4, 0][:, units])
  np.testing.assert_array_equal(np.asarray(obj.readout(ACTS[0, 1], units, "vector")), ACTS[0, 1][:, units])
  np.testing.assert_array_equal(np.asarray(obj.readout(ACTS[0], 5)), ACTS[0, 2, 3, 5])
  # Traced unit indices: same values, no recompilation for a new pair.
  traces = []

  @jax.jit
  def f(acts, u):
    traces.append(1)
    return obj.readout(acts, u)

  for pair in ([0, 1], [5, 2]):
    np.testing.assert_array_equal(np.asarray(f(ACTS, jnp.asarray(pair))), ACTS[:, 2, 3][:, pair])
  assert len(traces) == 1


def test_readout_errors():
  with pytest.raises(errors.UnitIndexError, match="6 channels"):
    obj.readout(ACTS, [0, 6])
  with pytest.raises(errors.UnitIndexError):
    obj.readout(ACTS, [-1])
  with pytest.raises(errors.UnitIndexError):
    obj.readout(ACTS, [1.5])
  with pytest.raises(errors.UnitIndexError, match="outside"):
    obj.readout(ACTS, [0], (5, 0))
  with pytest.raises(errors.FcjaxError, match="unknown readout"):
    obj.readout(ACTS, [0], "centre")
  with pytest.raises(errors.InputSizeError):
    obj.readout(ACTS[0, 0, 0], [0])


def test_objective_algebra_values():
  acts = ACTS[0]
  a, b = obj.activation(1), obj.activation(2, mode="channel")
  va, vb = acts[2, 3, 1], acts[..., 2].mean()
  checks = [
      (0.2 * a + 0.8 * b, 0.2 * va + 0.8 * vb),
      (a - b, va - vb),
      (-a, -va),
      (a / 4, va / 4),
      (2 - a, 2 - va),
      (a + 1, va + 1),
      (sum([a, b, a]), 2 * va + vb),
      (np.float32(3) * a, 3 * va),
      (obj.total([a, b], [0.5, 2.0]), 0.5 * va + 2 * vb),
  ]
  assert all(isinstance(o, obj.Objective) for o, _ in checks)
  feats = {"l1": acts, "l2": ACTS[1]}
  scale = np.array([2.0, 0.5])
  c = obj.cosdot_objective([1, 2], 0.3, 4, scale=scale, layer="l2")
  d = obj.direction_objective([0, 1, 2], jnp.ones(3), 2, 0.1, layer="l1")

  @jax.jit
  def values(acts, batch, feats, w):
    # Batched features give one value per image; weights may be traced.
    return [o(acts) for o, _ in checks] + [(a + b)(batch), (w * a)(acts), c(feats), d(feats)]

  *got, batched, weighted, cval, dval = values(acts, ACTS, feats, 3.0)
  for (o, want), g in zip(checks, got):
    np.testing.assert_allclose(float(g), want, rtol=1e-5, err_msg=o.name)
  np.testing.assert_allclose(np.asarray(batched), ACTS[:, 2, 3, 1] + ACTS[..., 2].mean(axis=(1, 2)), rtol=1e-5)
  np.testing.assert_allclose(float(weighted), 3 * va, rtol=1e-6)
  # Layer selection from a feature dict, and cosdot of a scaled pair.
  np.testing.assert_allclose(float(cval), np_cosdot(ACTS[1, 2, 3, [1, 2]] / scale, 0.3, 4), rtol=1e-5)
  np.testing.assert_allclose(float(dval), np_direction(acts[2, 3, :3], np.ones(3), 2, 0.1), rtol=1e-5)
  with pytest.raises(errors.UnknownLayerError):
    obj.activation(0, layer="l3")(feats)
  with pytest.raises(errors.FcjaxError, match="layer="):
    obj.activation(0)(feats)


def test_objective_algebra_refuses_nonsense():
  a, b = obj.activation(1), obj.activation(2)
  with pytest.raises(TypeError, match="multiply two objectives"):
    a * b
  with pytest.raises(TypeError):
    a / b
  with pytest.raises(TypeError):
    1 / a
  with pytest.raises(TypeError):
    a + "x"
  with pytest.raises(TypeError):
    a * jnp.ones(3)  # weights are scalars
  with pytest.raises(TypeError):
    a + [1, 2]
  with pytest.raises(TypeError):
    bool(a)
  with pytest.raises(errors.FcjaxError):
    obj.cosdot_objective([1, 2], 0.0, 3)  # p checked at construction
  with pytest.raises(errors.FcjaxError, match="pair"):
    obj.cosdot_objective([1, 2, 3], 0.0)


def test_gradient_ascent_turns_y_toward_theta():
  """Lucid's objective test: gradient ascent on y raises C and turns y toward h. From y·h < 0 the exact form
  stalls at C = 0 (its gradient vanishes there); the floored form keeps a push of floor^p · h and escapes."""
  theta = 2.0
  forms = ((4, None), (2, 0.1))

  @jax.jit
  def ascend(y):
    def step(ys, _):
      return [y + jax.grad(lambda y: obj.cosdot(y, theta, p, floor=f))(y) for y, (p, f) in zip(ys, forms)], None
    return jax.lax.scan(step, [y, y], None, 300)[0]

  good, bad = jnp.array([0.5, 1.0]), jnp.array([1.0, -0.5])  # y·h > 0 and y·h < 0
  (exact_good, floored_good), (exact_bad, floored_bad) = ascend(good), ascend(bad)
  for y in (exact_good, floored_good, floored_bad):
    assert float(obj.cosdot(y, theta)) > float(obj.cosdot(good, theta)) + 1.0
    assert abs(np.arctan2(float(y[1]), float(y[0])) - theta) < 0.05
  assert abs(float(obj.cosdot(exact_bad, theta))) < 1e-2  # stuck where y is orthogonal to h
  assert abs(np.arctan2(float(exact_bad[1]), float(exact_bad[0])) - theta) > 1.0
