"""InceptionV1 as in Lucid and Lucent ("inception5h", Google's 2015 TensorFlow graph), in pure JAX.

The network is a declarative table, :data:`STEPS`: stem convs, pools and LRNs, then inception blocks built from the
rows of :data:`MIXED_BLOCKS`, then the 1008-way head. Everything else is derived from it: the tensor table
:data:`LAYERS` (every Lucid tensor name, with channels, stride and valid input sizes), the parameter shapes, the
Lucent aliases, and the forward pass :func:`apply`, which runs the steps in order and stops after the one that
produces the deepest requested tensor (asking for ``conv2d2`` runs three convs, not fifty-seven).

Parameters are a plain nested dict (no Flax module state), filled by the converters in ``weights_conversion``::

    {'conv2d0': {'w': float32 [7, 7, 3, 64] (HWIO), 'b': float32 [64]}, ...,
     'mixed5b_pool_reduce': {'w': [1, 1, 832, 128], 'b': [128]},
     'softmax2': {'w': float32 [1024, 1008], 'b': float32 [1008]}}

57 convs + 1 dense, 7,066,380 numbers. Padding is TensorFlow SAME at every input size (``fcjax.models.layers``); LRN is
TensorFlow's (depth_radius 5, bias 2, alpha float32(1e-4), beta 0.5). The head (``avgpool0``, ``softmax2*``) exists
only where ``mixed5b`` is 7x7, i.e. for inputs of 193..224 px.

Example (random weights; a converted checkpoint loads with :func:`load_params`)::

    from fcjax import inception_v1 as m
    params = m.init_params(jax.random.key(0))
    acts = m.apply_jit(params, images, layers=('mixed4a_pre_relu', 'softmax2'))   # images [N, 224, 224, 3] in [0, 1]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, ClassVar, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import errors
from fcjax.models import layers as L
from fcjax.models.base import Layer, Model

Params = dict[str, dict[str, Any]]

# Input mapping (Lucid's image_value_range, Lucent's `x * 255 - 117`): [0, 1] -> [-117, 138].
VALUE_RANGE = (-117.0, 138.0)
INPUT_SIZE = 224
NUM_CLASSES = 1008
HEAD_POOL = 7  # avgpool0 is a 7x7 VALID average pool; the head needs a 7x7 mixed5b
HEAD_SIZES = (193, 224)  # inputs whose mixed5b is 7x7: ceil(n / 32) == 7


# --- the declarative network table ---------------------------------------------------------------------------------
# Every step has `convs` (its parameterised convs), `cout_total` (output channels), `tensors(stride)` (its rows of the
# layer table, given the total stride at its output) and `__call__(params, x, relu) -> (output, {name: tensor})`.

@dataclasses.dataclass(frozen=True)
class Conv:
  """A conv + bias (+ ReLU) producing ``<name>_pre_relu`` and ``<name>``; kernel ``k`` x ``k``, TF-SAME padding."""
  name: str
  k: int
  cin: int
  cout: int
  stride: int = 1

  @property
  def convs(self) -> tuple[Conv, ...]:
    return (self,)

  @property
  def cout_total(self) -> int:
    return self.cout

  def tensors(self, stride: int) -> list[Layer]:
    return _conv_tensors(self, stride)

  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    pre = L.conv2d_same(x, params[self.name]["w"], params[self.name]["b"], self.stride)
    out = relu(pre)
    return out, {f"{self.name}_pre_relu": pre, self.name: out}


@dataclasses.dataclass(frozen=True)
class MaxPool:
  """A ``k`` x ``k`` max-pool with TF-SAME padding."""
  name: str
  channels: int
  k: int = 3
  stride: int = 2

  convs: ClassVar[tuple] = ()  # no parameters

  @property
  def cout_total(self) -> int:
    return self.channels

  def tensors(self, stride: int) -> list[Layer]:
    return [Layer(self.name, self.channels, stride, "pool", min_size=stride)]

  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    y = L.max_pool_same(x, self.k, self.stride)
    return y, {self.name: y}


@dataclasses.dataclass(frozen=True)
class LRN:
  """TensorFlow's local response normalization with the inception5h constants."""
  name: str
  channels: int
  stride: int = 1

  convs: ClassVar[tuple] = ()  # no parameters

  @property
  def cout_total(self) -> int:
    return self.channels

  def tensors(self, stride: int) -> list[Layer]:
    return [Layer(self.name, self.channels, stride, "lrn", min_size=stride)]

  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    y = L.local_response_norm(x)
    return y, {self.name: y}


@dataclasses.dataclass(frozen=True)
class Mixed:
  """An inception block: four branches concatenated in the order 1x1, 3x3, 5x5, pool_reduce.

  Branches: ``1x1``; ``3x3_bottleneck`` (1x1) -> ``3x3``; ``5x5_bottleneck`` (1x1) -> ``5x5``; ``pool`` (3x3 stride-1
  max) -> ``pool_reduce`` (1x1). ``<name>_pre_relu`` is the concat of the branch pre-ReLU tensors (as Lucid builds it)
  and ``<name>`` the concat of the branch outputs.
  """
  name: str
  cin: int
  c1x1: int
  c3x3_bottleneck: int
  c3x3: int
  c5x5_bottleneck: int
  c5x5: int
  cpool_reduce: int
  stride: int = 1

  @property
  def convs(self) -> tuple[Conv, ...]:
    n = self.name
    return (Conv(f"{n}_1x1", 1, self.cin, self.c1x1),
            Conv(f"{n}_3x3_bottleneck", 1, self.cin, self.c3x3_bottleneck),
            Conv(f"{n}_3x3", 3, self.c3x3_bottleneck, self.c3x3),
            Conv(f"{n}_5x5_bottleneck", 1, self.cin, self.c5x5_bottleneck),
            Conv(f"{n}_5x5", 5, self.c5x5_bottleneck, self.c5x5),
            Conv(f"{n}_pool_reduce", 1, self.cin, self.cpool_reduce))

  @property
  def cout_total(self) -> int:
    return self.c1x1 + self.c3x3 + self.c5x5 + self.cpool_reduce

  def tensors(self, stride: int) -> list[Layer]:
    c1, c3r, c3, c5r, c5, cp = self.convs
    out = []
    for conv in (c1, c3r, c3, c5r, c5):
      out += _conv_tensors(conv, stride)
    out.append(Layer(f"{self.name}_pool", self.cin, stride, "pool", min_size=stride))
    out += _conv_tensors(cp, stride)
    out.append(Layer(f"{self.name}_pre_relu", self.cout_total, stride, "concat", pre_relu=True, min_size=stride))
    out.append(Layer(self.name, self.cout_total, stride, "concat", pre_relu_name=f"{self.name}_pre_relu",
                     min_size=stride))
    return out

  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    c1, c3r, c3, c5r, c5, cp = self.convs
    acts: dict[str, jax.Array] = {}

    def run(conv: Conv, inp):
      y, t = conv(params, inp, relu)
      acts.update(t)
      return y

    pool = L.max_pool_same(x, 3, 1)
    acts[f"{self.name}_pool"] = pool
    branches = (c1, c3, c5, cp)
    run(c1, x)
    run(c3, run(c3r, x))
    run(c5, run(c5r, x))
    run(cp, pool)
    acts[f"{self.name}_pre_relu"] = jnp.concatenate([acts[f"{b.name}_pre_relu"] for b in branches], axis=-1)
    y = jnp.concatenate([acts[b.name] for b in branches], axis=-1)
    acts[self.name] = y
    return y, acts


@dataclasses.dataclass(frozen=True)
class Head:
  """7x7 VALID average pool -> flatten -> dense 1024 -> 1008 (``softmax2_pre_activation``) -> softmax."""
  cin: int = 1024
  classes: int = NUM_CLASSES
  name: str = "softmax2"

  @property
  def convs(self) -> tuple:
    return ()

  @property
  def cout_total(self) -> int:
    return self.classes

  def tensors(self, stride: int) -> list[Layer]:
    lo, hi = HEAD_SIZES
    return [Layer("avgpool0", self.cin, stride, "pool", min_size=lo, max_size=hi),
            Layer("softmax2_pre_activation", self.classes, 0, "dense", pre_relu=True, min_size=lo, max_size=hi),
            Layer("softmax2", self.classes, 0, "softmax", pre_relu_name="softmax2_pre_activation", min_size=lo,
                  max_size=hi)]

  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    pooled = L.avg_pool_valid(x, HEAD_POOL)  # [N, 1, 1, 1024], Lucid's avgpool0 shape
    flat = pooled.reshape(pooled.shape[0], -1)
    logits = flat @ params[self.name]["w"].astype(x.dtype) + params[self.name]["b"].astype(x.dtype)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    return probs, {"avgpool0": pooled, "softmax2_pre_activation": logits, "softmax2": probs}


def _conv_tensors(conv: Conv, stride: int) -> list[Layer]:
  return [Layer(f"{conv.name}_pre_relu", conv.cout, stride, "conv", pre_relu=True, min_size=stride),
          Layer(conv.name, conv.cout, stride, "relu", pre_relu_name=f"{conv.name}_pre_relu", min_size=stride)]


# The inception blocks (SPEC §1): name, input channels, 1x1, 3x3_bottleneck, 3x3, 5x5_bottleneck, 5x5, pool_reduce.
MIXED_BLOCKS = (
    ("mixed3a", 192, 64, 96, 128, 16, 32, 32),
    ("mixed3b", 256, 128, 128, 192, 32, 96, 64),
    ("mixed4a", 480, 192, 96, 204, 16, 48, 64),
    ("mixed4b", 508, 160, 112, 224, 24, 64, 64),
    ("mixed4c", 512, 128, 128, 256, 24, 64, 64),
    ("mixed4d", 512, 112, 144, 288, 32, 64, 64),
    ("mixed4e", 528, 256, 160, 320, 32, 128, 128),
    ("mixed5a", 832, 256, 160, 320, 48, 128, 128),
    ("mixed5b", 832, 384, 192, 384, 48, 128, 128),
)
# Stride-2 max-pools between stages: the pool named here runs before the block.
_STAGE_POOLS = {"mixed4a": ("maxpool4", 480), "mixed5a": ("maxpool10", 832)}


def _build_steps() -> tuple:
  steps: list = [
      Conv("conv2d0", 7, 3, 64, stride=2),
      MaxPool("maxpool0", 64),
      LRN("localresponsenorm0", 64),
      Conv("conv2d1", 1, 64, 64),
      Conv("conv2d2", 3, 64, 192),
      LRN("localresponsenorm1", 192),
      MaxPool("maxpool1", 192),
  ]
  for row in MIXED_BLOCKS:
    if row[0] in _STAGE_POOLS:
      steps.append(MaxPool(*_STAGE_POOLS[row[0]]))
    steps.append(Mixed(*row))
  steps.append(Head())
  return tuple(steps)


STEPS = _build_steps()


def _build_tables():
  layers, step_of, convs = [], {}, []
  stride, channels = 1, 3
  for i, step in enumerate(STEPS):
    stride *= getattr(step, "stride", 1)
    for t in step.tensors(stride):
      layers.append(t)
      step_of[t.name] = i
    if getattr(step, "cin", getattr(step, "channels", channels)) != channels:  # guards the table against typos
      raise AssertionError(f"InceptionV1 table: {step} does not take {channels} channels")
    convs.extend(step.convs)
    channels = step.cout_total
  return tuple(layers), step_of, tuple(convs)


LAYERS, _STEP_OF, CONVS = _build_tables()
LAYER_NAMES = tuple(l.name for l in LAYERS)

# Lucent's module names: `<conv>_pre_relu_conv` is the pre-ReLU conv, `softmax2_pre_activation_matmul` the dense layer.
ALIASES = {f"{c.name}_pre_relu_conv": f"{c.name}_pre_relu" for c in CONVS}
ALIASES["softmax2_pre_activation_matmul"] = "softmax2_pre_activation"


def param_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
  """``{param name: {'w': shape, 'b': shape}}`` for the 57 convs (HWIO) and the dense head ([1024, 1008])."""
  shapes = {c.name: {"w": (c.k, c.k, c.cin, c.cout), "b": (c.cout,)} for c in CONVS}
  shapes["softmax2"] = {"w": (1024, NUM_CLASSES), "b": (NUM_CLASSES,)}
  return shapes


def param_count() -> int:
  """Number of parameters (7,066,380)."""
  return sum(math.prod(s) for p in param_shapes().values() for s in p.values())


# --- names, sizes and what gets computed ---------------------------------------------------------------------------

def canonical(name: str) -> str:
  """The canonical (Lucid) spelling of a tensor name; Lucent's spellings are accepted."""
  return MODEL.canonical(name)


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
  shape = tuple(getattr(images, "shape", np.shape(images)))
  if len(shape) != 4 or shape[-1] != 3:
    raise errors.InputSizeError(
        f"InceptionV1 takes images of shape [N, H, W, 3] (RGB in [0, 1]); got shape {shape}"
        + (" (add a batch axis: images[None])" if len(shape) == 3 and shape[-1] == 3 else ""))
  dtype = getattr(images, "dtype", None)
  if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
    raise errors.InputSizeError(f"images must be floating point in [0, 1]; got dtype {dtype} (divide uint8 by 255)")
  h, w = shape[1], shape[2]
  for name in _as_names(layers):
    layer = MODEL.layer(name)
    for side in (h, w):
      if layer.max_size is None and side < layer.min_size:
        raise errors.InputSizeError(
            f"{layer.name} needs inputs of at least {layer.min_size} px per side (its stride); got {h}x{w}")
      if layer.max_size is not None and not layer.min_size <= side <= layer.max_size:
        raise errors.InputSizeError(
            f"{layer.name} exists only for inputs of {layer.min_size}..{layer.max_size} px per side (where mixed5b "
            f"is 7x7, as the head's 7x7 average pool needs); got {h}x{w}. Resize to 224 px, or use a trunk tensor "
            f"such as mixed5b")


def _check_params(params: Mapping, layers: tuple[str, ...]) -> None:
  if not isinstance(params, Mapping):
    raise errors.WeightsError(f"params must be the dict that init_params / load_params return; got "
                              f"{type(params).__name__}")
  missing = [n for n in required_params(layers) if n not in params]
  if missing:
    raise errors.WeightsError(f"params lack {', '.join(missing)} (needed for {', '.join(layers)})")


# --- the forward pass ----------------------------------------------------------------------------------------------

def apply(params: Params, images: jax.Array, layers: str | Iterable[str] = ("softmax2",), *,
          dtype: Any = jnp.float32, relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
  """Named tensors of InceptionV1 for a batch of images.

  Args:
    params: the parameter dict (see the module docstring); only :func:`required_params` need be present.
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
  _check_params(params, canon)
  dtype = jnp.dtype(dtype)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise errors.FcjaxError(f"dtype must be a floating type such as float32 or bfloat16; got {dtype}")
  lo, hi = VALUE_RANGE
  x = (jnp.asarray(images, jnp.float32) * (hi - lo) + lo).astype(dtype)
  wanted, acts = set(canon), {}
  for step in STEPS[:max(_STEP_OF[c] for c in canon) + 1]:
    x, produced = step(params, x, relu)
    acts.update({k: v for k, v in produced.items() if k in wanted})
  return {n: acts[c].astype(jnp.float32) for n, c in zip(names, canon)}


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
  import weights_conversion  # lazy: reading .pth needs torch, .pb needs TensorFlow
  return jax.device_put(weights_conversion.read_params(path))


MODEL = Model(name="inceptionv1", layers=LAYERS, value_range=VALUE_RANGE, input_size=INPUT_SIZE, apply=apply,
              init_params=init_params, load_params=load_params, aliases=ALIASES)
