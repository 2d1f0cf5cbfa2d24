"""The steps of InceptionV1 (inception5h): the declarative network table and the NNX module of each step.

:data:`STEPS` lists the stem convs, pools and LRNs, one :class:`Mixed` row per inception block (:data:`MIXED_BLOCKS`)
and the :class:`Head`. Each row knows its tensors (rows of :data:`LAYERS`), its parameterised convs and its module
(``row.module(params)``: a :class:`~fcjax.models.modules.ConvReLU`, ``MaxPool``, ``LRN``, :class:`InceptionBlock` or
:class:`Classifier` holding the row's weights). :class:`fcjax.models.inception_v1.InceptionV1` is these modules in
order; :data:`PARAM_PATHS` says where each weights-dict entry lives in its state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from fcjax.models import layers as L
from fcjax.models import modules
from fcjax.models.base import Layer

Params = dict[str, dict[str, Any]]

NUM_CLASSES = 1008
HEAD_POOL = 7  # avgpool0 is a 7x7 VALID average pool; the head needs a 7x7 mixed5b
HEAD_SIZES = (193, 224)  # inputs whose mixed5b is 7x7: ceil(n / 32) == 7


# --- the declarative network table ---------------------------------------------------------------------------------
# Every step has `convs` (its parameterised convs), `cout_total` (output channels), `tensors(stride)` (its rows of the
# layer table, given the total stride at its output) and `module(params) -> nnx.Module` (its step module, holding the
# weights `params[conv.name]` of its convs; the module maps (x, relu) -> (output, {name: tensor})).

class _Step:
  def __call__(self, params: Params, x, relu) -> tuple[jax.Array, dict]:
    """This step alone on a weights dict, through its module (tests: e.g. the head on given features)."""
    return self.module(params)(x, relu)


@dataclasses.dataclass(frozen=True)
class Conv(_Step):
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

  def module(self, params: Params) -> modules.ConvReLU:
    return modules.ConvReLU(self.name, params[self.name]["w"], params[self.name]["b"], self.stride)


@dataclasses.dataclass(frozen=True)
class MaxPool(_Step):
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

  def module(self, params: Params) -> modules.MaxPool:
    return modules.MaxPool(self.name, self.k, self.stride)


@dataclasses.dataclass(frozen=True)
class LRN(_Step):
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

  def module(self, params: Params) -> modules.LRN:
    return modules.LRN(self.name)


BRANCHES = ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce")  # the convs of a block, in order


def branch_attr(branch: str) -> str:
  """The module attribute of a block's branch conv: 'b3x3' for '3x3' (names must not start with a digit)."""
  return branch if branch == "pool_reduce" else f"b{branch}"


@dataclasses.dataclass(frozen=True)
class Mixed(_Step):
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

  def module(self, params: Params) -> InceptionBlock:
    return InceptionBlock(self.name, {branch_attr(b): c.module(params) for b, c in zip(BRANCHES, self.convs)})


class InceptionBlock(nnx.Module):
  """The module of a :class:`Mixed` row: branch convs ``b1x1``, ``b3x3_bottleneck``, ``b3x3``, ``b5x5_bottleneck``,
  ``b5x5``, ``pool_reduce`` (each a :class:`~fcjax.models.modules.ConvReLU`) around a 3x3 stride-1 max-pool."""

  def __init__(self, name: str, branches: Mapping[str, modules.ConvReLU]):
    self.name = name
    for attr, conv in branches.items():
      setattr(self, attr, conv)

  def __call__(self, x: jax.Array, relu: modules.Relu = jax.nn.relu) -> tuple[jax.Array, dict]:
    acts: dict[str, jax.Array] = {}

    def run(conv: modules.ConvReLU, inp):
      y, t = conv(inp, relu)
      acts.update(t)
      return y

    pool = L.max_pool_same(x, 3, 1)
    acts[f"{self.name}_pool"] = pool
    run(self.b1x1, x)
    run(self.b3x3, run(self.b3x3_bottleneck, x))
    run(self.b5x5, run(self.b5x5_bottleneck, x))
    run(self.pool_reduce, pool)
    branches = [f"{self.name}_{b}" for b in ("1x1", "3x3", "5x5", "pool_reduce")]
    acts[f"{self.name}_pre_relu"] = jnp.concatenate([acts[f"{b}_pre_relu"] for b in branches], axis=-1)
    y = jnp.concatenate([acts[b] for b in branches], axis=-1)
    acts[self.name] = y
    return y, acts


@dataclasses.dataclass(frozen=True)
class Head(_Step):
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

  def module(self, params: Params) -> Classifier:
    return Classifier(params[self.name]["w"], params[self.name]["b"])


class Classifier(modules.Dense):
  """The head's module (path ``softmax2``): ``avgpool0`` ``[N, 1, 1, 1024]``, ``softmax2_pre_activation`` (the
  dense layer, ``w`` ``[1024, 1008]``) and ``softmax2`` (float32 probabilities)."""

  def __init__(self, w: Any, b: Any):
    super().__init__("softmax2", w, b)

  def __call__(self, x: jax.Array, relu: modules.Relu = jax.nn.relu) -> tuple[jax.Array, dict]:
    pooled = L.avg_pool_valid(x, HEAD_POOL)  # [N, 1, 1, 1024], Lucid's avgpool0 shape
    logits, _ = super().__call__(pooled.reshape(pooled.shape[0], -1))
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    return probs, {"avgpool0": pooled, "softmax2_pre_activation": logits, "softmax2": probs}


def _conv_tensors(conv: Conv, stride: int) -> list[Layer]:
  return [Layer(f"{conv.name}_pre_relu", conv.cout, stride, "conv", pre_relu=True, min_size=stride),
          Layer(conv.name, conv.cout, stride, "relu", pre_relu_name=f"{conv.name}_pre_relu", min_size=stride)]


# The inception blocks of Lucid's inception5h graph (as Lucent's ``inception_v1.py`` lays them out): name, input
# channels, 1x1, 3x3_bottleneck, 3x3, 5x5_bottleneck, 5x5, pool_reduce.
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


STEP_NAMES = tuple(s.name for s in STEPS)  # the submodules of InceptionV1, in computation order
# Where each weights-dict entry lives in the module: 'conv2d0' -> ('conv2d0',), 'mixed3a_3x3' -> ('mixed3a', 'b3x3').
PARAM_PATHS = {c.name: (s.name,) if isinstance(s, Conv) else (s.name, branch_attr(b))
               for s in STEPS for b, c in zip(BRANCHES, s.convs)}
PARAM_PATHS["softmax2"] = ("softmax2",)
