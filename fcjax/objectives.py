"""Objectives: the paper's cosdot, its floored Lucid variant, unit readouts and a small objective algebra.

Everything here is a pure function of arrays, works under ``jit``, ``vmap`` and ``grad``, and is vectorised over
leading axes. Hyperparameters that change the program (the exponent ``p``, the floor, the readout mode) are static
Python values checked at call time, before anything is traced; unit indices and angles may be traced arrays.

cosdot (Hamblin, Alvarez & Konkle, eq. 1)::

    C(y, θ; p) = (y·h)^(p+1) / (|y| |h|)^p,    h = [cos θ, sin θ]

For an even integer p this equals ``dot · cos^p`` with ``cos`` the cosine similarity of y and h, which is how it is
computed (no fractional powers of a negative number). Odd p makes C symmetric under y -> -y and fractional p leaves it
undefined where y·h < 0, so the exact form refuses both. The floored form of Lucid's ``_dot_cossim`` (also Horama's
and Xplique's, with p = 2), ``dot · max(floor, cos)^p``, accepts any real p >= 0.

Safe norm: ``|y|`` is replaced by ``max(|y|, eps)`` (``eps`` = :data:`NORM_EPS`), with the maximum taken on the squared
norm inside a ``where`` so that the square root never sees 0 (the approach of optax's ``safe_norm``). For
``|y| >= eps`` the value is the exact formula; below it C is continuous and bounded by ``|y|·|h|``, and the gradient
is finite everywhere, including y = 0 (it is ``h`` for p = 0 and 0 for the exact form with p > 0; for the floored form
it is ``floor^p · h``, so an optimiser starting at y = 0 still moves, which is the point of Lucid's floor). Lucid's
``dot / (eps + |y|)`` instead has a NaN gradient at y = 0 in JAX (the derivative of ``sqrt`` at 0).

References:
  Hamblin, Alvarez, Konkle. "Optimizing For Possible Feature Combinations in Discriminative Vision Models".
  Lucid, ``lucid/optvis/objectives.py`` (``_dot_cossim``, ``direction_neuron``), for the floored form.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable, Mapping, Union

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import _readout, errors

# Norms below this are treated as this (see module docstring). Activations fcjax optimises are O(0.1..100), and the
# gradient of C is homogeneous of degree 0 in y, so the choice only matters within 1e-6 of the origin.
NORM_EPS = 1e-6

# Lucid's floor on the cosine in `_dot_cossim` (cossim_pow objectives); Horama/Xplique use the same value.
LUCID_FLOOR = 0.1

Readout = Union[str, tuple[int, int]]



# ----------------------------------------------------------------------------------------------- checks (static)

def check_exponent(p: Any, floor: float | None = None) -> float | int:
  """Validate the cosine exponent ``p`` (and ``floor``) before tracing; returns ``p`` as a Python number.

  Exact form (``floor is None``): p must be an even integer >= 0 (an integral float such as 4.0 is accepted and
  returned as int). Floored form: any real p >= 0 and 0 <= floor < 1. Raises :class:`~fcjax.errors.FcjaxError`.
  """
  if _is_tracer(p):
    raise errors.FcjaxError("the cosdot exponent p must be a static Python number, not a traced JAX array: it "
                            "selects the form of the objective and is bound when the program is built")
  if isinstance(p, (np.ndarray, np.generic, jax.Array)):
    p = np.asarray(p)
    if p.ndim:
      raise errors.FcjaxError(f"the cosdot exponent p must be a single number, got an array of shape {p.shape}")
    p = p.item()
  if isinstance(p, bool) or not isinstance(p, numbers.Real) or not np.isfinite(p):
    raise errors.FcjaxError(f"the cosdot exponent p must be a finite real number, got {p!r}")
  if p < 0:
    raise errors.FcjaxError(f"the cosdot exponent p must be >= 0, got {p} (a negative power rewards directions "
                            "away from the target)")
  if floor is None:
    if float(p) != int(p):
      raise errors.FcjaxError(
          f"the exact cosdot form (y·h)^(p+1)/(|y||h|)^p needs an even integer p, got p={p}: a fractional power "
          "of y·h is undefined where y·h < 0. Use an even integer such as p=4 (the paper's), or the floored form "
          "cosdot(..., floor=0.1), which accepts any real p >= 0")
    if int(p) % 2:
      raise errors.FcjaxError(
          f"the exact cosdot form needs an even integer p, got p={int(p)}: with odd p, (y·h)^(p+1) and "
          "(|y||h|)^p are both even in y, so C(-y) = C(y) and the objective no longer points anywhere. Use an even "
          "p (the paper's is 4), or the floored form cosdot(..., floor=0.1)")
    return int(p)
  if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not 0 <= floor < 1:
    raise errors.FcjaxError(f"the cosdot floor must be a number in [0, 1) (Lucid's is {LUCID_FLOOR}), got {floor!r}; "
                            "a floor >= 1 makes the cosine term constant")
  return p


def exact_allowed(p: Any) -> bool:
  """Whether the paper's exact form is defined for exponent ``p`` (an even integer >= 0)."""
  return isinstance(p, numbers.Real) and not isinstance(p, bool) and p >= 0 and float(p).is_integer() and int(p) % 2 == 0


# --------------------------------------------------------------------------------------------------- primitives

def safe_norm(x: jax.Array, eps: float = NORM_EPS, axis: int = -1) -> jax.Array:
  """``max(|x|, eps)`` along ``axis`` with a finite gradient everywhere (0 where ``|x| < eps``)."""
  sq = jnp.sum(jnp.square(x), axis=axis)
  big = sq > eps * eps
  return jnp.sqrt(jnp.where(big, sq, eps * eps))


def _float(x: Any) -> jax.Array:
  """As a JAX array of at least float32 (half-precision activations are promoted: eps^2 underflows in float16)."""
  x = jnp.asarray(x)
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _pow(c: jax.Array, p: float | int) -> jax.Array:
  """``c**p`` for c >= 0 with finite gradients, also at c = 0 with 0 < p < 1 (floor = 0)."""
  if isinstance(p, int):
    return c ** p  # integer_pow: exact, any sign
  if p == 0:
    return jnp.ones_like(c)
  pos = c > 0
  return jnp.where(pos, jnp.where(pos, c, 1.0) ** p, 0.0)


def direction(y: jax.Array, h: jax.Array, p: float = 4, *, floor: float | None = None,
              eps: float = NORM_EPS) -> jax.Array:
  """cosdot toward a target direction ``h`` of any dimension k.

  Args:
    y: float [..., k] feature vectors (e.g. scaled unit activations).
    h: float [..., k] target directions (broadcast against y; need not be unit length).
    p: cosine exponent. Exact form: even integer. Floored form: any real >= 0.
    floor: None for the paper's exact form ``(y·h)^(p+1) / (|y||h|)^p``; a number in [0, 1) for the floored
      form ``(y·h) · max(floor, cos)^p``.
    eps: norms below ``eps`` count as ``eps`` (module docstring).

  Returns:
    float [...] (broadcast of the leading axes of y and h).
  """
  p = check_exponent(p, floor)
  y, h = _float(y), _float(h)
  if y.shape[-1:] != h.shape[-1:]:
    raise errors.InputSizeError(f"y and h must have the same last dimension, got {y.shape} and {h.shape}")
  dot = jnp.sum(y * h, axis=-1)
  cos = dot / (safe_norm(y, eps) * safe_norm(h, eps))
  if floor is None:
    return dot * _pow(cos, p)
  return dot * _pow(jnp.maximum(floor, cos), p)


def target(theta: jax.Array) -> jax.Array:
  """The paper's target direction ``h = [cos θ, sin θ]``: float [..., 2] for angles ``theta`` [...] in radians."""
  theta = _float(theta)
  return jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)


def cosdot(y: jax.Array, theta: jax.Array, p: float = 4, *, floor: float | None = None,
           eps: float = NORM_EPS) -> jax.Array:
  """The paper's cosdot of a feature pair ``y`` toward angle ``theta``.

  Args:
    y: float [..., 2] (y_1, y_2), typically each unit's activation divided by its scale.
    theta: float [...] radians from the first unit's axis (broadcast against ``y[..., 0]``).
    p: exponent (paper: 4). Exact form needs an even integer; floored form any real >= 0.
    floor: None (exact, paper) or the cosine floor of Lucid's form (:data:`LUCID_FLOOR` = 0.1).

  Returns:
    float [...]: ``(y·h)^(p+1) / |y|^p`` (exact) or ``(y·h) max(floor, cos)^p`` (floored), ``h = [cos θ, sin θ]``.
  """
  y = _float(y)
  if y.shape[-1:] != (2,):
    raise errors.InputSizeError(f"cosdot takes pairs y [..., 2], got shape {y.shape}; use direction() for k != 2")
  return direction(y, target(theta), p, floor=floor, eps=eps)


def describe(p: float, floor: float | None) -> str:
  """A one-line name of the objective form, for result metadata ('exact p=4' / 'floored p=2 floor=0.1')."""
  return f"exact p={p}" if floor is None else f"floored p={p} floor={floor}"


# ------------------------------------------------------------------------------------------------------- readout

def _is_tracer(x: Any) -> bool:
  return isinstance(x, jax.core.Tracer)


def readout(acts: jax.Array, units: Any, mode: Readout = "neuron") -> jax.Array:
  """The feature vector of chosen channels of one tensor.

  Args:
    acts: float [..., H, W, C] activations (any leading axes); for ``mode='vector'``, float [..., C].
    units: int channel indices, shape [k] (or a scalar); may be a traced array. Concrete indices are checked and
      an out-of-range one raises :class:`~fcjax.errors.UnitIndexError`; traced out-of-range indices read NaN.
    mode: 'neuron' = the channel at the spatial centre ``(H//2, W//2)`` (Lucid's convention, the paper's);
      'channel' = the channel averaged over space; ``(row, col)`` = the channel at that position;
      'vector' = ``acts`` has no spatial axes (logits, pooled features).

  Returns:
    float [..., k] (or [...] for a scalar ``units``).
  """
  acts = jnp.asarray(acts)
  mode = _readout.parse(mode, vector=True)
  spatial = mode != "vector"
  if spatial and acts.ndim < 3:
    raise errors.InputSizeError(f"readout {mode!r} needs activations [..., H, W, C], got shape {acts.shape}; "
                                "use mode='vector' for tensors without spatial axes")
  n_channels = acts.shape[-1]
  if not _is_tracer(units):
    u = np.asarray(units)
    if not np.issubdtype(u.dtype, np.integer):
      raise errors.UnitIndexError(f"unit indices must be integers, got {units!r}")
    if u.size and (u.min() < 0 or u.max() >= n_channels):
      raise errors.UnitIndexError(f"unit index out of range: {u.tolist()} for a tensor with {n_channels} channels "
                                  f"(valid: 0..{n_channels - 1})")
  units = jnp.asarray(units)
  if mode == "neuron":
    h, w = acts.shape[-3:-1]
    vec = acts[..., h // 2, w // 2, :]
  elif mode == "channel":
    vec = jnp.mean(acts, axis=(-3, -2))
  elif mode == "vector":
    vec = acts
  else:
    h, w = acts.shape[-3:-1]
    row, col = int(mode[0]), int(mode[1])
    if not (0 <= row < h and 0 <= col < w):
      raise errors.UnitIndexError(f"readout position {(row, col)} is outside the {h}x{w} feature map")
    vec = acts[..., row, col, :]
  return jnp.take(vec, units, axis=-1)


readout_name = _readout.name  # the readout as stored in results: 'neuron', 'channel', 'vector' or 'row,col'


# ----------------------------------------------------------------------------------------------------- algebra

Features = Union[jax.Array, Mapping[str, jax.Array]]


def _is_scalar(x: Any) -> bool:
  if isinstance(x, bool):
    return False
  if isinstance(x, numbers.Real):
    return True
  shape = getattr(x, "shape", None)
  dtype = getattr(x, "dtype", None)
  return shape == () and dtype is not None and not jnp.issubdtype(dtype, jnp.complexfloating)


def _fmt(x: Any) -> str:
  return f"{x:g}" if isinstance(x, numbers.Real) else "w"


class Objective:
  """A scalar objective of features, closed under ``+``, ``-``, scalar ``*`` and ``/`` (no global state).

  ``objective(features)`` returns the value to maximise: features are whatever the constructors read (an
  activation array [..., H, W, C], or a mapping ``{layer: array}`` when they were built with ``layer=``); leading
  axes pass through, so a batch of images gives a batch of values. Weights may be Python numbers or scalar arrays
  (also traced ones)::

      obj = 0.2 * activation(20, layer="mixed4a") + 0.8 * activation(21, layer="mixed4a")
      obj = sum(activation(u) for u in (3, 4)) / 2

  Multiplying two objectives, or combining one with a non-scalar, raises :class:`TypeError`.
  """

  __slots__ = ("fn", "name")
  __array_ufunc__ = None  # numpy scalars and arrays defer to our reflected operators

  def __init__(self, fn: Callable[[Features], jax.Array], name: str = "objective"):
    if not callable(fn):
      raise TypeError(f"Objective wraps a function features -> value, got {type(fn).__name__}")
    self.fn = fn
    self.name = name

  def __call__(self, features: Features) -> jax.Array:
    return self.fn(features)

  def __repr__(self) -> str:
    return f"Objective({self.name})"

  # -- combination
  def _combine(self, other: Any, op: str, symbol: str) -> "Objective":
    if isinstance(other, Objective):
      a, b = self.fn, other.fn
      fn = (lambda f: a(f) + b(f)) if op == "add" else (lambda f: a(f) - b(f))
      return Objective(fn, f"{self.name} {symbol} {other.name}")
    if _is_scalar(other):
      a = self.fn
      fn = (lambda f: a(f) + other) if op == "add" else (lambda f: a(f) - other)
      return Objective(fn, f"{self.name} {symbol} {_fmt(other)}")
    return NotImplemented

  def __add__(self, other: Any) -> "Objective":
    return self._combine(other, "add", "+")

  def __radd__(self, other: Any) -> "Objective":
    if isinstance(other, numbers.Real) and not isinstance(other, bool) and other == 0:
      return self  # sum([...]) starts from 0
    return self._combine(other, "add", "+")

  def __sub__(self, other: Any) -> "Objective":
    return self._combine(other, "sub", "-")

  def __rsub__(self, other: Any) -> "Objective":
    return (-self)._combine(other, "add", "+")

  def __neg__(self) -> "Objective":
    a = self.fn
    return Objective(lambda f: -a(f), f"-({self.name})")

  def __pos__(self) -> "Objective":
    return self

  def __mul__(self, other: Any) -> "Objective":
    if isinstance(other, Objective):
      raise TypeError(f"cannot multiply two objectives ({self.name}) * ({other.name}): objectives combine by "
                      "weighted sums (w1 * a + w2 * b); write a custom Objective(fn) for products")
    if _is_scalar(other):
      a = self.fn
      return Objective(lambda f: other * a(f), f"{_fmt(other)} * ({self.name})")
    return NotImplemented

  __rmul__ = __mul__

  def __truediv__(self, other: Any) -> "Objective":
    if isinstance(other, Objective):
      raise TypeError(f"cannot divide objectives ({self.name}) / ({other.name}); divide by a number")
    if _is_scalar(other):
      a = self.fn
      return Objective(lambda f: a(f) / other, f"({self.name}) / {_fmt(other)}")
    return NotImplemented

  def __rtruediv__(self, other: Any) -> "Objective":
    raise TypeError(f"cannot divide by an objective ({self.name}); objectives can only be divided by numbers")

  def __bool__(self) -> bool:
    raise TypeError("an Objective has no truth value; call it on features to get a value")


def _select(features: Features, layer: str | None) -> jax.Array:
  if isinstance(features, Mapping):
    if layer is None:
      if len(features) != 1:
        raise errors.FcjaxError(f"these features hold several tensors ({', '.join(map(str, features))}); build the "
                                "objective with layer=NAME to say which one it reads")
      return next(iter(features.values()))
    if layer not in features:
      raise errors.unknown_layer(layer, [str(k) for k in features], "the features passed to this objective")
    return features[layer]
  return features


def activation(unit: Any, *, layer: str | None = None, mode: Readout = "neuron") -> Objective:
  """Activation maximization of one unit: the value of channel ``unit`` under readout ``mode`` (:func:`readout`).

  ``unit`` is an int (or a traced scalar array). Returns an :class:`Objective` mapping features [..., H, W, C]
  (or ``{layer: ...}``) to [...].
  """
  return Objective(lambda f: readout(_select(f, layer), unit, mode),
                   f"activation({_unit_str(unit)}{_where(layer, mode)})")


def cosdot_objective(units: Any, theta: Any, p: float = 4, floor: float | None = None, *, scale: Any = None,
                     layer: str | None = None, mode: Readout = "neuron", eps: float = NORM_EPS) -> Objective:
  """cosdot of a pair of units toward angle ``theta`` (:func:`cosdot`).

  Args:
    units: int [2] channel indices (may be traced).
    theta: radians (may be traced).
    p, floor: as in :func:`cosdot`; checked here, at construction.
    scale: optional float [2] per-unit scales s_i; the objective reads ``y_i / s_i`` (the paper's phase 2).
    layer, mode: which tensor and readout (:func:`readout`).
  """
  p = check_exponent(p, floor)
  if not _is_tracer(units) and np.shape(units) != (2,):
    raise errors.FcjaxError(f"cosdot_objective needs a pair of units, got {units!r}; use direction_objective for k "
                            "units")

  y_of = _scaled_readout(units, scale, layer, mode)

  def fn(f):
    return cosdot(y_of(f), theta, p, floor=floor, eps=eps)

  return Objective(fn, f"cosdot({_unit_str(units)}, {describe(p, floor)}{_where(layer, mode)})")


def direction_objective(units: Any, h: Any, p: float = 4, floor: float | None = None, *, scale: Any = None,
                        layer: str | None = None, mode: Readout = "neuron", eps: float = NORM_EPS) -> Objective:
  """cosdot of k units toward a target vector ``h`` [k] (:func:`direction`); units int [k], scale float [k]."""
  p = check_exponent(p, floor)

  y_of = _scaled_readout(units, scale, layer, mode)

  def fn(f):
    return direction(y_of(f), h, p, floor=floor, eps=eps)

  return Objective(fn, f"direction({_unit_str(units)}, {describe(p, floor)}{_where(layer, mode)})")


def _scaled_readout(units: Any, scale: Any, layer: str | None, mode: Readout) -> Callable[[Any], jax.Array]:
  """``features -> y`` [..., k]: the units' readout, divided by ``scale`` [k] when given."""

  def y_of(f):
    y = readout(_select(f, layer), units, mode)
    return y if scale is None else y / jnp.asarray(scale)

  return y_of


def _unit_str(units: Any) -> str:
  if _is_tracer(units):
    return "traced"
  u = np.asarray(units)
  return str(u.tolist())


def _where(layer: str | None, mode: Readout) -> str:
  where = f", {layer}" if layer else ""
  return where + ("" if mode == "neuron" else f", {readout_name(mode)}")


def total(objectives: Iterable[Objective], weights: Iterable[Any] | None = None) -> Objective:
  """The (weighted) sum of several objectives."""
  objectives = list(objectives)
  if not objectives:
    raise errors.FcjaxError("total() needs at least one objective")
  if weights is None:
    return sum(objectives[1:], objectives[0])
  weights = list(weights)
  if len(weights) != len(objectives):
    raise errors.FcjaxError(f"total() got {len(objectives)} objectives and {len(weights)} weights")
  out = weights[0] * objectives[0]
  for w, o in zip(weights[1:], objectives[1:]):
    out = out + w * o
  return out
