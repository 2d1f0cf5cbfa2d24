"""Flax NNX building blocks of fcjax's networks, and the bridge between a module's state and a weights dict.

Every block is an ``nnx.Module`` whose parameters are ``nnx.Param`` attributes named ``w`` and ``b``, exactly the
leaf names of the plain weights dict that the converters produce (``{'conv2d0': {'w': ..., 'b': ...}, ...}``); the
arithmetic is the functions of :mod:`fcjax.models.layers` (TF-SAME convolution and max-pool with the first-maximum
gradient, TensorFlow's LRN). A step block returns ``(output, {tensor name: tensor})``: the named tensors it produced,
pre- and post-ReLU, so a network can return any of them and stop after the deepest requested one.

The compiled programs never traverse these objects: a network is taken apart once (``nnx.split`` -> graphdef +
state) and the traced function is pure in (state, images), rebuilding the module with ``nnx.merge`` while tracing.
:func:`state_from_params` and :func:`params_from_state` convert between the weights dict and that state.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from fcjax.models import layers as L

Relu = Callable[[jax.Array], jax.Array]
Acts = dict[str, jax.Array]


class ConvReLU(nnx.Module):
  """TF-SAME conv + bias, then the ReLU: tensors ``<name>_pre_relu`` and ``<name>``.

  Args:
    name: the tensor name (Lucid's spelling).
    w: kernel ``[k, k, Cin, Cout]`` (HWIO); b: bias ``[Cout]``; both float32, cast to the compute dtype.
    stride: spatial stride.
  """

  def __init__(self, name: str, w: Any, b: Any, stride: int = 1):
    self.name = name
    self.stride = int(stride)
    self.w = nnx.Param(w)
    self.b = nnx.Param(b)

  def __call__(self, x: jax.Array, relu: Relu = jax.nn.relu) -> tuple[jax.Array, Acts]:
    pre = L.conv2d_same(x, self.w[...], self.b[...], self.stride)
    out = relu(pre)
    return out, {f"{self.name}_pre_relu": pre, self.name: out}


class MaxPool(nnx.Module):
  """``k`` x ``k`` max-pool with TF-SAME padding (no parameters): tensor ``<name>``."""

  def __init__(self, name: str, k: int = 3, stride: int = 2):
    self.name, self.k, self.stride = name, int(k), int(stride)

  def __call__(self, x: jax.Array, relu: Relu = jax.nn.relu) -> tuple[jax.Array, Acts]:
    del relu
    y = L.max_pool_same(x, self.k, self.stride)
    return y, {self.name: y}


class LRN(nnx.Module):
  """TensorFlow's local response normalization with the inception5h constants (no parameters)."""

  def __init__(self, name: str):
    self.name = name

  def __call__(self, x: jax.Array, relu: Relu = jax.nn.relu) -> tuple[jax.Array, Acts]:
    del relu
    y = L.local_response_norm(x)
    return y, {self.name: y}


class GlobalAvgPool(nnx.Module):
  """Spatial mean ``[N, h, w, C] -> [N, C]`` (no parameters)."""

  def __init__(self, name: str):
    self.name = name

  def __call__(self, x: jax.Array, relu: Relu = jax.nn.relu) -> tuple[jax.Array, Acts]:
    del relu
    y = jnp.mean(x, axis=(1, 2))
    return y, {self.name: y}


class Dense(nnx.Module):
  """Affine map ``[N, Cin] -> [N, Cout]`` (``w`` ``[Cin, Cout]``, ``b`` ``[Cout]``, cast to the input dtype)."""

  def __init__(self, name: str, w: Any, b: Any):
    self.name = name
    self.w = nnx.Param(w)
    self.b = nnx.Param(b)

  def __call__(self, x: jax.Array, relu: Relu = jax.nn.relu) -> tuple[jax.Array, Acts]:
    del relu
    y = x @ self.w[...].astype(x.dtype) + self.b[...].astype(x.dtype)
    return y, {self.name: y}


def run_steps(net: nnx.Module, order: Sequence[str], x: jax.Array, wanted: set[str], relu: Relu) -> Acts:
  """Call the step submodules ``order`` of ``net`` in turn (each ``(x, relu) -> (x, acts)``); the wanted tensors."""
  acts: Acts = {}
  for name in order:
    x, produced = getattr(net, name)(x, relu)
    acts.update({k: v for k, v in produced.items() if k in wanted})
  return acts


# --- weights dict <-> module state ---------------------------------------------------------------------------------

def abstract_params(shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> dict:
  """``{name: {'w': ShapeDtypeStruct, 'b': ...}}`` float32: builds a module without allocating its weights."""
  return {n: {k: jax.ShapeDtypeStruct(tuple(s), jnp.float32) for k, s in p.items()} for n, p in shapes.items()}


def state_from_params(paths: Mapping[str, tuple[str, ...]], params: Mapping, abstract: Mapping) -> nnx.State:
  """The ``nnx.State`` of a module whose weights dict entry ``name`` lives at module path ``paths[name]``.

  Entries absent from ``params`` are filled from ``abstract`` (shape placeholders that a truncated forward pass never
  reads). Pure re-keying: works on arrays and on tracers (inside ``jit``).
  """
  tree: dict = {}
  for name, path in paths.items():
    node = tree
    for part in path[:-1]:
      node = node.setdefault(part, {})
    entry = params[name] if name in params else abstract[name]
    node[path[-1]] = {k: entry[k] for k in ("w", "b")}
  return nnx.State(tree)


def params_from_state(paths: Mapping[str, tuple[str, ...]], state: nnx.State) -> dict:
  """The weights dict ``{name: {'w', 'b'}}`` of a module state (the inverse of :func:`state_from_params`)."""
  pure = nnx.to_pure_dict(state)
  out = {}
  for name, path in paths.items():
    node = pure
    for part in path:
      node = node[part]
    out[name] = {"w": node["w"], "b": node["b"]}
  return out
