"""What the sweep optimises: the features of units of a model tensor (or of any feature function), Lucid's
redirected ReLU, and the validation of what the user asked for (model or function, layer, pairs, readout).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import _readout, errors, objectives
from fcjax.models.base import Model
from fcjax.sweep.config import _DTYPES, SweepConfig

@jax.custom_vjp
def _redirected_relu(x: jax.Array, active: jax.Array) -> jax.Array:
  return jnp.maximum(x, 0)


def _redirected_relu_fwd(x, active):
  return jnp.maximum(x, 0), (x, active)


def _redirected_relu_bwd(res, g):
  x, active = res
  plain = jnp.where(x > 0, g, jnp.zeros_like(g))
  # g is d(loss)/d(out) of the minimised loss, so g < 0 is where the optimiser will raise the input: let that part
  # through below zero as well, but never a push that drives a negative input further down.
  redirected = jnp.where((x > 0) | (g < 0), g, jnp.zeros_like(g))
  # Per image (axis 0): redirect only where the plain gradient is zero everywhere (the unit is stuck).
  axes = tuple(range(1, x.ndim))
  stuck = jnp.logical_not(jnp.any(plain != 0, axis=axes, keepdims=True)) if x.ndim else jnp.all(plain == 0)
  return jnp.where(active & stuck, redirected, plain), None


_redirected_relu.defvjp(_redirected_relu_fwd, _redirected_relu_bwd)


def redirected_relu(active: jax.Array | bool = True) -> Callable[[jax.Array], jax.Array]:
  """A ReLU whose gradient is Lucid's "redirected" one while ``active`` (a bool, may be traced).

  Forward: ``max(x, 0)``. Backward with ``active``: for each image (axis 0) whose ordinary ReLU gradient is zero
  everywhere, pass the incoming gradient wherever it would raise x (and where x > 0), so that a unit stuck below zero
  gets a push upward; otherwise the ordinary ReLU gradient. Pass it to ``model.apply(..., relu=...)``.
  """
  active = jnp.asarray(active, bool)
  return lambda x: _redirected_relu(x, active)


def _model_features(model: Model, layer: str, readout: Any, dtype: str):
  """``f(params, images, units, relu) -> float32 [N, k]`` for a model tensor (names already validated)."""
  name = model.canonical(layer)
  cdtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype

  def features(params, images, units, relu=jax.nn.relu):
    acts = model.apply(params, images, (name,), dtype=cdtype, relu=relu)[name]
    return objectives.readout(acts, units, _readout.mode_for(readout, acts.ndim)).astype(jnp.float32)

  return features


def make_features(model: Model, layer: str, readout: Any = "neuron", dtype: str = "float32",
                  relu: Callable[[jax.Array], jax.Array] = jax.nn.relu):
  """The feature function of units of one model tensor.

  Args:
    model: a :class:`~fcjax.models.base.Model`.
    layer: tensor name (any spelling the model accepts).
    readout: 'neuron' (centre position), 'channel' (spatial mean) or (row, col); ignored for vector tensors.
    dtype: compute dtype, 'float32' or 'bfloat16' (or a JAX dtype).
    relu: the nonlinearity the model uses (:func:`redirected_relu` for Lucid's trick).

  Returns:
    ``f(params, images float32 [N, H, W, 3] in [0, 1], units int [k] (may be traced)) -> float32 [N, k]``.
  """
  name = model.canonical(layer)
  if isinstance(dtype, str) and dtype not in _DTYPES:
    raise errors.FcjaxError(f"dtype must be one of {tuple(_DTYPES)}, got {dtype!r}")
  feats = _model_features(model, name, readout, dtype)
  return lambda params, images, units: feats(params, images, units, relu)


def _function_features(fn: Callable):
  def features(params, images, units, relu=None):
    del relu  # a bare feature function has no ReLU to replace
    y = fn(params, images)
    return jnp.take(y, units, axis=-1).astype(jnp.float32)
  return features


K_SUPPORTED = (2, 3)  # units per combination: pairs and triples


def check_combinations(pairs, *, distinct: bool = True) -> np.ndarray:
  """int32 [P, k]: ``pairs`` as rows of k unit indices, k in :data:`K_SUPPORTED` (one row may be given flat);
  ``distinct``: a row may not repeat a unit. Raises :class:`~fcjax.errors.FcjaxError` in one line otherwise."""
  try:
    arr = np.asarray(pairs)
  except (TypeError, ValueError):
    arr = np.zeros((0,))
  if arr.ndim == 1 and arr.size in K_SUPPORTED:
    arr = arr[None]
  if arr.ndim == 2 and arr.shape[0] and np.issubdtype(arr.dtype, np.integer) and arr.shape[1] not in K_SUPPORTED:
    raise errors.FcjaxError(f"combinations of {arr.shape[1]} units are not supported: give pairs (i, j) or triples "
                            f"(i, j, k), k = {' or '.join(map(str, K_SUPPORTED))}")
  if arr.ndim != 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.integer):
    raise errors.FcjaxError(f"pairs must be a non-empty list of (i, j) or (i, j, k) integer unit indices, all of "
                            f"one length, got {pairs!r}")
  if distinct and arr.shape[1] == 3:
    for row in arr:
      if len(set(row.tolist())) < len(row):
        raise errors.FcjaxError(f"a triple needs three different units, got {tuple(int(v) for v in row)}")
  return arr.astype(np.int32)


def check_inputs(model_or_fn, params, config: SweepConfig, layer, pairs) -> tuple[np.ndarray, str | None]:
  """Validate everything the user passed; returns (combinations int32 [P, k], canonical layer)."""
  if not isinstance(config, SweepConfig):
    raise errors.FcjaxError(f"config must be a fcjax.sweep.SweepConfig, got {type(config).__name__}")
  config.validate()
  arr = check_combinations(pairs)
  size = config.input_size
  if isinstance(model_or_fn, Model):
    model = model_or_fn
    if layer is None:
      raise errors.FcjaxError(f"run() on the model {model.name!r} needs layer=<tensor name>")
    layer = model.canonical(layer)
    for u in np.unique(arr):
      model.check_unit(layer, int(u))
    model.check_size(layer, size)
    if isinstance(config.readout, tuple) and model.layer(layer).stride != 0:
      shape = jax.eval_shape(lambda p, x: model.apply(p, x, (layer,))[layer], params,
                             jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)).shape
      _readout.check_position(config.readout, shape, layer, size)
    return arr, layer
  if not callable(model_or_fn):
    raise errors.FcjaxError(f"run() takes a fcjax Model or a feature function f(params, images) -> [N, k], got "
                            f"{type(model_or_fn).__name__}")
  if layer is not None:
    raise errors.FcjaxError("layer= applies to a Model; a feature function already defines its features")
  try:
    out = jax.eval_shape(model_or_fn, params, jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
  except errors.FcjaxError:
    raise
  except Exception as e:  # the user's function failed to trace: say so in one line
    raise errors.FcjaxError(f"the feature function failed on images of shape (1, {size}, {size}, 3): "
                            f"{type(e).__name__}: {e}") from None
  if not hasattr(out, "shape") or len(out.shape) != 2 or out.shape[0] != 1:
    raise errors.FcjaxError(f"a feature function must return [N, k] features; for N=1 it returned "
                            f"{getattr(out, 'shape', type(out).__name__)}")
  n_units = out.shape[1]
  bad = arr[(arr < 0) | (arr >= n_units)]
  if bad.size:
    raise errors.UnitIndexError(f"unit index {int(bad[0])} is out of range for a feature function with {n_units} "
                                f"features (valid: 0..{n_units - 1})")
  return arr, None
