"""The demo network: a small convolutional network trained by fcjax on the procedural image source (``fcjax.demo``).

Four 3x3/5x5 conv layers with 2x2 max pools between them, a global average pool and a dense classifier over the 11
classes of :mod:`fcjax.data.procedural` (4 grating orientations, 3 blob colours, edges, 3 shapes): 64 px inputs,
61,995 parameters. A Flax NNX module, :class:`DemoCNN`, like InceptionV1's; the architecture is the declarative table
``ARCH`` below, from which the layer table ``LAYERS`` and the module's submodules (one per op, named after its tensor:
state paths ``conv1.w``, ``conv1.b``, ..., ``logits.w``) are both derived. Weights are exchanged as the dict
``{op: {'w', 'b'}}`` (:func:`init_params`, :func:`load_params`; the shipped trained weights are
``fcjax/demo/assets/demo_weights.npz``), whose layout is the module state's.

Tensor names (every conv has a pre-ReLU and a post-ReLU tensor, as in Lucid's InceptionV1 names)::

    conv1_pre_relu, conv1   [N, 32, 32, 16]  5x5 stride 2
    pool1                   [N, 16, 16, 16]
    conv2_pre_relu, conv2   [N, 16, 16, 32]  3x3
    pool2                   [N,  8,  8, 32]
    conv3_pre_relu, conv3   [N,  8,  8, 64]  3x3
    pool3                   [N,  4,  4, 64]
    conv4_pre_relu, conv4   [N,  4,  4, 64]  3x3
    avgpool                 [N, 64]
    logits                  [N, 11]

(shapes at the nominal 64 px input; every tensor exists at any input size, TF-SAME padding throughout).

Example::

    net = DemoCNN(load_params())                       # or DemoCNN(rngs=nnx.Rngs(0)): random weights
    acts = net(images, layers=('conv3_pre_relu',))     # images [N, H, W, 3] in [0, 1]
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fcjax import _io, errors
from fcjax.models import base, modules
from fcjax.models.base import Defaults, Layer, Model

Params = dict[str, dict[str, jax.Array]]

INPUT_SIZE = 64
VALUE_RANGE = (-1.0, 1.0)  # [0, 1] images are mapped to this range before conv1
N_CLASSES = 11  # = len(fcjax.data.procedural.LABEL_NAMES); tests/test_demo.py checks it
# The shipped weights are package data of fcjax.demo (a file path, not an import: this package imports nothing above).
ASSETS = pathlib.Path(__file__).resolve().parents[1] / "demo" / "assets"
DEFAULT_WEIGHTS = ASSETS / "demo_weights.npz"


@dataclasses.dataclass(frozen=True)
class Conv:
  """A conv layer (SAME padding) followed by ReLU: tensors ``<name>_pre_relu`` and ``<name>``."""
  name: str
  kernel: int
  features: int
  stride: int = 1


@dataclasses.dataclass(frozen=True)
class MaxPool:
  """2x2 stride-2 max pool (SAME, so odd sizes round up)."""
  name: str


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool:
  """Spatial mean: [N, h, w, C] -> [N, C]."""
  name: str


@dataclasses.dataclass(frozen=True)
class Dense:
  """Affine map of a vector: [N, C] -> [N, features]."""
  name: str
  features: int


ARCH: tuple[Conv | MaxPool | GlobalAvgPool | Dense, ...] = (
    Conv("conv1", 5, 16, stride=2),
    MaxPool("pool1"),
    Conv("conv2", 3, 32),
    MaxPool("pool2"),
    Conv("conv3", 3, 64),
    MaxPool("pool3"),
    Conv("conv4", 3, 64),
    GlobalAvgPool("avgpool"),
    Dense("logits", N_CLASSES),
)


def _layer_table(arch: Sequence[Any]) -> tuple[Layer, ...]:
  """The named tensors of ``arch`` in computation order, with their channels and total strides."""
  layers, channels, stride = [], 3, 1
  for op in arch:
    if isinstance(op, Conv):
      channels, stride = op.features, stride * op.stride
      layers.append(Layer(f"{op.name}_pre_relu", channels, stride, "conv", pre_relu=True))
      layers.append(Layer(op.name, channels, stride, "conv", pre_relu_name=f"{op.name}_pre_relu"))
    elif isinstance(op, MaxPool):
      stride *= 2
      layers.append(Layer(op.name, channels, stride, "pool"))
    elif isinstance(op, GlobalAvgPool):
      stride = 0
      layers.append(Layer(op.name, channels, stride, "pool"))
    else:
      channels = op.features
      layers.append(Layer(op.name, channels, 0, "dense"))
  return tuple(layers)


LAYERS: tuple[Layer, ...] = _layer_table(ARCH)
# tensor name -> index of the op in ARCH that produces it
_OP_OF = {name: i for i, op in enumerate(ARCH)
          for name in ((f"{op.name}_pre_relu", op.name) if isinstance(op, Conv) else (op.name,))}


def param_shapes(arch: Sequence[Any] = ARCH) -> dict[str, dict[str, tuple[int, ...]]]:
  """{op name: {'w': HWIO or [in, out], 'b': [out]}} for every op with parameters."""
  shapes, channels = {}, 3
  for op in arch:
    if isinstance(op, Conv):
      shapes[op.name] = {"w": (op.kernel, op.kernel, channels, op.features), "b": (op.features,)}
      channels = op.features
    elif isinstance(op, Dense):
      shapes[op.name] = {"w": (channels, op.features), "b": (op.features,)}
      channels = op.features
  return shapes


def init_params(key: jax.Array) -> Params:
  """Random parameters: He-normal conv kernels (they feed ReLUs), LeCun-normal dense, zero biases. float32."""
  shapes = param_shapes()
  params = {}
  for i, (name, s) in enumerate(shapes.items()):
    fan_in = int(np.prod(s["w"][:-1]))
    gain = 1.0 if len(s["w"]) == 2 else 2.0
    w = jax.random.normal(jax.random.fold_in(key, i), s["w"], jnp.float32) * np.sqrt(gain / fan_in)
    params[name] = {"w": w, "b": jnp.zeros(s["b"], jnp.float32)}
  return params


class DemoCNN(nnx.Module):
  """The demo network as an NNX module: one submodule per op of ``ARCH`` (``conv1`` ... ``logits``).

  Args:
    params: the weights dict (:func:`load_params`, :func:`init_params`); every op's entry must be present.
    rngs: without ``params``: random weights from ``rngs.params()`` (as :func:`init_params`).
  """

  def __init__(self, params: Params | None = None, *, rngs: nnx.Rngs | None = None):
    if params is None:
      if rngs is None:
        raise errors.FcjaxError("DemoCNN needs weights: DemoCNN(load_params()), or DemoCNN(rngs=nnx.Rngs(0))")
      params = init_params(rngs.params())
    for op in ARCH:
      setattr(self, op.name, _op_module(op, params))

  def __call__(self, images: jax.Array, layers: Sequence[str] = ("logits",), *, dtype: Any = jnp.float32,
               relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
    """The requested tensors (arguments and returns: :func:`apply`, without ``params``)."""
    wanted = MODEL.names(layers)
    base.check_images(images, "the demo model")
    lo, hi = VALUE_RANGE
    x = images.astype(dtype) * (hi - lo) + lo
    order = tuple(op.name for op in ARCH[:_last_op(wanted) + 1])
    out = modules.run_steps(self, order, x, set(wanted), relu)
    return {name: out[name] for name in wanted}


def _op_module(op: Any, params: Mapping) -> nnx.Module:
  if isinstance(op, Conv):
    return modules.ConvReLU(op.name, params[op.name]["w"], params[op.name]["b"], op.stride)
  if isinstance(op, MaxPool):
    return modules.MaxPool(op.name, 2, 2)
  if isinstance(op, GlobalAvgPool):
    return modules.GlobalAvgPool(op.name)
  return modules.Dense(op.name, params[op.name]["w"], params[op.name]["b"])


def _last_op(wanted: Sequence[str]) -> int:
  return max(_OP_OF[n] for n in wanted)


_PATHS = {name: (name,) for name in param_shapes()}  # the state layout is the weights dict's
_ABSTRACT = modules.abstract_params(param_shapes())
GRAPHDEF, _ = nnx.split(DemoCNN(_ABSTRACT))  # split once; apply merges it while tracing


def apply(params: Params | nnx.State, images: jax.Array, layers: Sequence[str] = ("logits",), *,
          dtype: Any = jnp.float32, relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
  """Run the demo network and return the requested tensors: ``nnx.merge(GRAPHDEF, state)(images, layers, ...)``.

  Args:
    params: the parameter dict (:func:`init_params` or :func:`load_params`; entries of ops after the deepest
      requested tensor may be absent), or the module's ``nnx.State``.
    images: float [N, H, W, 3] in [0, 1] (any H, W; 64 x 64 nominal).
    layers: tensor names (see the module docstring); computation stops at the deepest one.
    dtype: compute dtype (parameters are stored in float32 and cast).
    relu: replaces every ReLU (the sweep passes a gradient-redirected ReLU).

  Returns:
    {name: [N, h, w, C] in ``dtype``} ({name: [N, C]} for avgpool and logits).

  Raises:
    UnknownLayerError: a name the model does not have (the message lists the closest names).
    InputSizeError: images not ``[N, H, W, 3]`` floats.
    WeightsError: ``params`` lacks an op that the requested tensors need.
  """
  wanted = MODEL.names(layers)
  base.check_images(images, "the demo model")
  if not isinstance(params, nnx.State):
    needed = [op.name for op in ARCH[:_last_op(wanted) + 1] if op.name in _PATHS]
    base.check_params(params, needed, wanted)
    params = modules.state_from_params(_PATHS, {n: params[n] for n in needed}, _ABSTRACT)
  return nnx.merge(GRAPHDEF, params)(images, wanted, dtype=dtype, relu=relu)


def save_params(params: Params, path: str | pathlib.Path) -> None:
  """Write ``params`` as an uncompressed .npz with keys '<op>/w', '<op>/b' (float32)."""
  flat = {f"{op}/{k}": np.asarray(v, np.float32) for op, d in params.items() for k, v in d.items()}
  with open(path, "wb") as f:
    np.savez(f, **flat)


def load_params(path: str | pathlib.Path | None = None) -> Params:
  """Parameters from an .npz written by :func:`save_params`; the shipped trained weights when ``path`` is None.

  Raises:
    WeightsError: the file is missing, unreadable, or its keys / shapes do not match the architecture.
    NonFiniteError: a weight is NaN or Inf (naming the tensor).
  """
  path = pathlib.Path(DEFAULT_WEIGHTS if path is None else path)
  if not path.is_file():
    hint = " (the demo weights ship inside the fcjax package; reinstall it, or retrain with " \
           "`python -m fcjax.demo.train`)" if path == DEFAULT_WEIGHTS else ""
    raise errors.WeightsError(f"demo weights file {path} does not exist{hint}")
  try:
    with np.load(path, allow_pickle=False) as z:
      flat = {k: z[k] for k in z.files}
  except (OSError, ValueError) as e:
    raise errors.WeightsError(f"cannot read demo weights {path}: {e}") from None
  expected = {f"{op}/{k}": s for op, d in param_shapes().items() for k, s in d.items()}
  if set(flat) != set(expected):
    raise errors.WeightsError(f"{path} is not a demo-model weights file: keys {sorted(flat)}, "
                              f"expected {sorted(expected)}")
  for k, s in expected.items():
    if flat[k].shape != s:
      raise errors.WeightsError(f"{path}: {k} has shape {flat[k].shape}, the demo model needs {s}")
  _io.check_finite(flat, str(path))
  params: Params = {}
  for k, v in flat.items():
    op, name = k.split("/")
    params.setdefault(op, {})[name] = jnp.asarray(v, jnp.float32)
  return params


def param_count(params: Mapping[str, Mapping[str, Any]]) -> int:
  """Total number of parameters."""
  return int(sum(np.size(v) for leaf in params.values() for v in leaf.values()))


# What a run of the demo model uses where the caller does not say. The model is small (64 px input) and meant to
# finish in minutes on a laptop CPU: fewer angles, seeds and steps than the paper's 60 x 5 x 512, which stay the
# defaults for every other model. It uses Lucid's FFT image with the standard transforms (recipe 'lucid'): on this
# model MACO's fixed natural spectrum caps image contrast, and its unit maxima (measured: 22 and 20 for conv4_pre_relu
# units 12 and 60 at 128 steps, 25 and 24 at 512) fall inside the cloud of natural-image activations, while the FFT
# image reaches 82 and 88 in 128 steps, so the axis tips mean "the unit's maximum". Its statistics come from the
# procedural images it was trained on, and its trained weights ship with fcjax.
DEFAULTS = Defaults(
    sweep=dict(n_angles=24, n_seeds=3, steps=128, block_steps=32, canvas_size=64, input_size=64), recipe="lucid",
    dataset="procedural", weights="demo:shipped", label="demo model",
    title="embedded DEMO model on procedural images")

MODEL = Model(name="demo", layers=LAYERS, value_range=VALUE_RANGE, input_size=INPUT_SIZE, apply=apply,
              init_params=init_params, load_params=load_params, defaults=DEFAULTS)
