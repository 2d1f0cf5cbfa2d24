"""InceptionV1 as in Lucid and Lucent ("inception5h", Google's 2015 TensorFlow graph), as a Flax NNX module.

The network is a declarative table, :data:`STEPS`: stem convs, pools and LRNs, then inception blocks built from the
rows of :data:`MIXED_BLOCKS`, then the 1008-way head. Everything else is derived from it: the tensor table
:data:`LAYERS` (every Lucid tensor name, with channels, stride and valid input sizes), the parameter shapes, the
Lucent aliases, and the module :class:`InceptionV1`, whose submodules are the steps, named after Lucid's tensors. Its
state paths read like the graph: ``conv2d0.w``, ``maxpool0`` (no state), ``mixed3a.b1x1.w``, ``mixed3a.b3x3_bottleneck.b``,
``mixed3a.b3x3.w``, ``mixed3a.pool_reduce.w``, ..., ``softmax2.w`` (branch ``X`` of block ``mixedNN`` is attribute
``bX``, Lucid's tensor ``mixedNN_X``). Called with ``layers=(...)`` it returns those tensors and stops after the step
that produces the deepest one (asking for ``conv2d2`` runs three convs, not fifty-seven).

Weights are exchanged as a plain nested dict (what the converters in ``weights_conversion`` and the orbax checkpoint
hold; :func:`init_params` and :func:`load_params` return it), which :func:`state_from_params` turns into the module's
``nnx.State`` by re-keying alone::

    {'conv2d0': {'w': float32 [7, 7, 3, 64] (HWIO), 'b': float32 [64]}, ...,
     'mixed5b_pool_reduce': {'w': [1, 1, 832, 128], 'b': [128]},
     'softmax2': {'w': float32 [1024, 1008], 'b': float32 [1008]}}

57 convs + 1 dense, 7,066,380 numbers. Padding is TensorFlow SAME at every input size (``fcjax.models.layers``); LRN is
TensorFlow's (depth_radius 5, bias 2, alpha float32(1e-4), beta 0.5). The head (``avgpool0``, ``softmax2*``) exists
only where ``mixed5b`` is 7x7, i.e. for inputs of 193..224 px. :func:`apply` (the :class:`~fcjax.models.Model`
function that sweeps and statistics trace) merges the module from the fixed :data:`GRAPHDEF` and the state while
tracing: the compiled program is a pure function of (weights, images).

Example::

    from flax import nnx
    from fcjax.models import inception_v1 as m
    net = m.InceptionV1(m.load_params('inception5h.pth'))          # or InceptionV1(rngs=nnx.Rngs(0)): random
    acts = net(images, layers=('mixed4a_pre_relu', 'softmax2'))    # images [N, 224, 224, 3] in [0, 1]
    graphdef, state = nnx.split(net)                               # state['mixed4a']['b3x3']['w']: [3, 3, 96, 204]
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fcjax import errors
from fcjax.models import base, modules
from fcjax.models.base import Model
from fcjax.models.inception_v1_steps import (  # noqa: F401  (the table is part of this module's interface)
    ALIASES, BRANCHES, CONVS, HEAD_POOL, HEAD_SIZES, LAYER_NAMES, LAYERS, LRN, MIXED_BLOCKS, NUM_CLASSES, PARAM_PATHS,
    STEP_NAMES, STEPS, _STEP_OF, Classifier, Conv, Head, InceptionBlock, MaxPool, Mixed, Params, branch_attr,
    param_count, param_shapes)

# Input mapping (Lucid's image_value_range, Lucent's `x * 255 - 117`): [0, 1] -> [-117, 138].
VALUE_RANGE = (-117.0, 138.0)
INPUT_SIZE = 224


class InceptionV1(nnx.Module):
  """InceptionV1 (inception5h) as an NNX module; see the module docstring for its submodules and state paths.

  Args:
    params: the weights dict (:func:`load_params` of a converted checkpoint, ``.pth`` or ``.pb``; or
      :func:`init_params`); every array must be present.
    rngs: without ``params``: random weights from ``rngs.params()`` (the same draw as :func:`init_params`).

  Raises:
    WeightsError: ``params`` lacks an array; FcjaxError: neither ``params`` nor ``rngs``.
  """

  def __init__(self, params: Params | None = None, *, rngs: nnx.Rngs | None = None):
    if params is None:
      if rngs is None:
        raise errors.FcjaxError("InceptionV1 needs weights: InceptionV1(load_params(path)), or "
                                "InceptionV1(rngs=nnx.Rngs(0)) for random ones")
      params = init_params(rngs.params())
    base.check_params(params, required_params("softmax2"), ("softmax2",))
    for step in STEPS:
      setattr(self, step.name, step.module(params))

  def __call__(self, images: jax.Array, layers: str | Iterable[str] = ("softmax2",), *, dtype: Any = jnp.float32,
               relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
    """Named tensors for a batch of images (arguments, returns and errors: :func:`apply`, without ``params``)."""
    names = _as_names(layers)
    canon = tuple(canonical(n) for n in names)
    check_images(images, canon)
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
      raise errors.FcjaxError(f"dtype must be a floating type such as float32 or bfloat16; got {dtype}")
    lo, hi = VALUE_RANGE
    x = (jnp.asarray(images, jnp.float32) * (hi - lo) + lo).astype(dtype)
    last = max(_STEP_OF[c] for c in canon)
    acts = modules.run_steps(self, STEP_NAMES[:last + 1], x, set(canon), relu)
    return {n: acts[c].astype(jnp.float32) for n, c in zip(names, canon)}


# --- names, sizes and what gets computed ---------------------------------------------------------------------------

def canonical(name: str) -> str:
  """The canonical (Lucid) spelling of a tensor name; Lucent's spellings are accepted."""
  if name in _LAYER:
    return name
  if name in ALIASES:
    return ALIASES[name]
  raise errors.unknown_layer(name, list(_LAYER) + list(ALIASES), "inceptionv1")


_LAYER = {l.name: l for l in LAYERS}


def _as_names(layers: str | Iterable[str]) -> tuple[str, ...]:
  if isinstance(layers, str):
    return (layers,)
  names = tuple(layers)
  if not names:
    raise errors.FcjaxError("layers is empty: name at least one tensor, e.g. layers=('mixed4a_pre_relu',)")
  return names


def computed_steps(layers: str | Iterable[str]) -> tuple[str, ...]:
  """Names of the network steps :func:`apply` runs for these tensors (it stops at the deepest one)."""
  last = max(_STEP_OF[canonical(n)] for n in _as_names(layers))
  return tuple(getattr(s, "name", type(s).__name__) for s in STEPS[:last + 1])


def required_params(layers: str | Iterable[str]) -> tuple[str, ...]:
  """Top-level parameter names :func:`apply` reads for these tensors (params for later layers may be absent)."""
  last = max(_STEP_OF[canonical(n)] for n in _as_names(layers))
  names = [c.name for s in STEPS[:last + 1] for c in s.convs]
  if last == len(STEPS) - 1:
    names.append(STEPS[-1].name)
  return tuple(names)


def check_images(images, layers: str | Iterable[str]) -> None:
  """Raise :class:`~fcjax.errors.InputSizeError` unless ``images`` is ``[N, H, W, 3]`` big enough for ``layers``."""
  h, w = base.check_images(images, "InceptionV1")[1:3]
  for name in _as_names(layers):
    layer = _LAYER[canonical(name)]
    for side in (h, w):
      if layer.max_size is None and side < layer.min_size:
        raise errors.InputSizeError(
            f"{layer.name} needs inputs of at least {layer.min_size} px per side (its stride); got {h}x{w}")
      if layer.max_size is not None and not layer.min_size <= side <= layer.max_size:
        raise errors.InputSizeError(
            f"{layer.name} exists only for inputs of {layer.min_size}..{layer.max_size} px per side (where mixed5b "
            f"is 7x7, as the head's 7x7 average pool needs); got {h}x{w}. Resize to 224 px, or use a trunk tensor "
            f"such as mixed5b")


_ABSTRACT = modules.abstract_params(param_shapes())
GRAPHDEF, _ = nnx.split(InceptionV1(_ABSTRACT))  # split once (no weights allocated); apply merges it while tracing


def state_from_params(params: Params) -> nnx.State:
  """The module's ``nnx.State`` holding the weights dict's arrays (absent entries: shape placeholders)."""
  return modules.state_from_params(PARAM_PATHS, params, _ABSTRACT)


def params_from_state(state: nnx.State) -> Params:
  """The weights dict of a module state (``nnx.state(net)``), e.g. to save it as a converted checkpoint."""
  return modules.params_from_state(PARAM_PATHS, state)


# --- the forward pass ----------------------------------------------------------------------------------------------

def apply(params: Params | nnx.State, images: jax.Array, layers: str | Iterable[str] = ("softmax2",), *,
          dtype: Any = jnp.float32, relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
  """Named tensors of InceptionV1 for a batch of images: ``nnx.merge(GRAPHDEF, state)(images, layers, ...)``.

  Args:
    params: the weights dict (see the module docstring; only :func:`required_params` need be present), or the
      module's ``nnx.State`` (``nnx.split(net)[1]``).
    images: float ``[N, H, W, 3]`` RGB in [0, 1]; mapped to [-117, 138] here. Any H, W at or above each requested
      tensor's ``min_size`` (its stride); the head tensors need 193..224 px.
    layers: tensor names (Lucid's or Lucent's spelling; a single string is allowed). Static under ``jit``.
    dtype: compute dtype; parameters are stored float32 and cast. ``jnp.bfloat16`` for accelerators (LRN and softmax
      still run in float32). float32 convs follow ``jax.default_matmul_precision`` (on recent GPUs the default may
      use TF32; set it to 'highest' for full float32 accuracy).
    relu: the nonlinearity after every conv (the sweep passes a gradient-redirected ReLU).

  Returns:
    ``{name: float32 array}`` keyed by the names as passed: ``[N, h, w, C]`` for maps (``avgpool0`` is
    ``[N, 1, 1, 1024]``), ``[N, 1008]`` for ``softmax2_pre_activation`` and ``softmax2``. Outputs are always float32,
    whatever the compute dtype. Computation stops at the step producing the deepest requested tensor.

  Raises:
    UnknownLayerError: a name the model does not have (the message lists the closest names).
    InputSizeError: images not ``[N, H, W, 3]`` floats, or too small / wrong size for a requested tensor.
    WeightsError: ``params`` lacks a layer that the requested tensors need.
  """
  names = _as_names(layers)
  canon = tuple(canonical(n) for n in names)
  check_images(images, canon)
  if not isinstance(params, nnx.State):
    base.check_params(params, required_params(canon), canon)
    params = state_from_params(params)
  return nnx.merge(GRAPHDEF, params)(images, names, dtype=dtype, relu=relu)


@functools.partial(jax.jit, static_argnames=("layers", "dtype", "relu"))
def _apply_jit(params, images, layers, dtype, relu):
  return apply(params, images, layers, dtype=dtype, relu=relu)


def apply_jit(params: Params, images: jax.Array, layers: str | Iterable[str] = ("softmax2",), *,
              dtype: Any = jnp.float32, relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
  """:func:`apply` under one cached ``jax.jit`` (layers, dtype and relu static): same shapes never recompile."""
  names = _as_names(layers)
  for n in names:
    canonical(n)  # name errors before any tracing
  check_images(images, names)
  return _apply_jit(params, images, names, jnp.dtype(dtype), relu)


# --- parameters ----------------------------------------------------------------------------------------------------

def init_params(key: jax.Array) -> Params:
  """Random parameters (tests, benchmarks): He-normal weights, zero biases, float32.

  One random draw fills every weight (no per-layer initialiser to compile). He-normal (std ``sqrt(2 / fan_in)``)
  keeps activations at a steady scale through the ReLU stack; ``conv2d0`` is further divided by the std of a uniform
  input in [-117, 138] (255 / sqrt(12)) so the network sees unit-scale signals, and the dense head uses
  ``sqrt(1 / fan_in)`` (no ReLU after it).
  """
  shapes = param_shapes()
  sizes = [math.prod(s["w"]) for s in shapes.values()]
  draw = np.asarray(jax.random.normal(key, (sum(sizes),), jnp.float32))
  params, offset = {}, 0
  for (name, s), n in zip(shapes.items(), sizes):
    fan_in = math.prod(s["w"][:-1])
    std = math.sqrt((1.0 if name == "softmax2" else 2.0) / fan_in)
    if name == "conv2d0":
      std /= (VALUE_RANGE[1] - VALUE_RANGE[0]) / math.sqrt(12.0)
    params[name] = {"w": (draw[offset:offset + n] * std).reshape(s["w"]), "b": np.zeros(s["b"], np.float32)}
    offset += n
  return jax.device_put(params)


def load_params(path: str) -> Params:
  """Trained parameters from a converted checkpoint directory, or a Lucent ``.pth`` / Lucid ``.pb`` (converted on
  the fly, nothing written). Raises :class:`~fcjax.errors.WeightsError` for a missing, corrupt or mismatched file."""
  import weights_conversion  # lazy: .pb conversion needs TensorFlow
  return jax.device_put(weights_conversion.read_params(path))


MODEL = Model(name="inceptionv1", layers=LAYERS, value_range=VALUE_RANGE, input_size=INPUT_SIZE, apply=apply,
              init_params=init_params, load_params=load_params, aliases=ALIASES)
