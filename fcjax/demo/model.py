"""The demo model: a small convolutional network trained by fcjax on the procedural image source.

Four 3x3/5x5 conv layers with 2x2 max pools between them, a global average pool and a dense classifier over the 11
classes of :mod:`fcjax.data.procedural` (4 grating orientations, 3 blob colours, edges, 3 shapes): 64 px inputs,
61,995 parameters. Pure functions over a dict of arrays, like the InceptionV1 port; the architecture is the
declarative table ``ARCH`` below, from which the layer table ``LAYERS`` and :func:`apply` are both derived.

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
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import errors
from fcjax.models.base import Layer, Model

Params = dict[str, dict[str, jax.Array]]

INPUT_SIZE = 64
VALUE_RANGE = (-1.0, 1.0)  # [0, 1] images are mapped to this range before conv1
N_CLASSES = 11  # = len(fcjax.data.procedural.LABEL_NAMES); tests/test_demo.py checks it
ASSETS = pathlib.Path(__file__).resolve().parent / "assets"
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
_DEPTH = {l.name: i for i, l in enumerate(LAYERS)}


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


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Canonical names of ``layers``; raises UnknownLayerError (with close matches) for a name the model lacks."""
  if isinstance(layers, str):
    layers = (layers,)
  if not layers:
    raise errors.FcjaxError("apply needs at least one layer name, e.g. layers=('conv2_pre_relu',)")
  return tuple(MODEL.canonical(name) for name in layers)


def apply(params: Params, images: jax.Array, layers: Sequence[str] = ("logits",), *, dtype: Any = jnp.float32,
          relu: Callable[[jax.Array], jax.Array] = jax.nn.relu) -> dict[str, jax.Array]:
  """Run the demo network and return the requested tensors.

  Args:
    params: the parameter dict (:func:`init_params` or :func:`load_params`).
    images: float [N, H, W, 3] in [0, 1] (any H, W; 64 x 64 nominal).
    layers: tensor names (see the module docstring); computation stops at the deepest one.
    dtype: compute dtype (parameters are stored in float32 and cast).
    relu: replaces every ReLU (the sweep passes a gradient-redirected ReLU).

  Returns:
    {name: [N, h, w, C] in ``dtype``} ({name: [N, C]} for avgpool and logits).
  """
  wanted = check_layers(layers)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise errors.InputSizeError(f"demo model images must be [N, H, W, 3]; got shape {tuple(images.shape)}")
  last = max(_DEPTH[n] for n in wanted)
  lo, hi = VALUE_RANGE
  x = images.astype(dtype) * (hi - lo) + lo
  out: dict[str, jax.Array] = {}

  def emit(name: str, value: jax.Array) -> bool:
    """Record a tensor if requested; True once the deepest requested tensor is reached."""
    if name in wanted:
      out[name] = value
    return _DEPTH[name] >= last

  for op in ARCH:
    if isinstance(op, Conv):
      p = params[op.name]
      x = jax.lax.conv_general_dilated(x, p["w"].astype(dtype), (op.stride, op.stride), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["b"].astype(dtype)
      if emit(f"{op.name}_pre_relu", x):
        break
      x = relu(x)
      if emit(op.name, x):
        break
    elif isinstance(op, MaxPool):
      x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
      if emit(op.name, x):
        break
    elif isinstance(op, GlobalAvgPool):
      x = jnp.mean(x, axis=(1, 2))
      if emit(op.name, x):
        break
    else:
      p = params[op.name]
      x = x @ p["w"].astype(dtype) + p["b"].astype(dtype)
      if emit(op.name, x):
        break
  return {name: out[name] for name in wanted}


def save_params(params: Params, path: str | pathlib.Path) -> None:
  """Write ``params`` as an uncompressed .npz with keys '<op>/w', '<op>/b' (float32)."""
  flat = {f"{op}/{k}": np.asarray(v, np.float32) for op, d in params.items() for k, v in d.items()}
  with open(path, "wb") as f:
    np.savez(f, **flat)


def load_params(path: str | pathlib.Path | None = None) -> Params:
  """Parameters from an .npz written by :func:`save_params`; the shipped trained weights when ``path`` is None.

  Raises:
    WeightsError: the file is missing, unreadable, or its keys / shapes do not match the architecture.
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
  params: Params = {}
  for k, v in flat.items():
    op, name = k.split("/")
    params.setdefault(op, {})[name] = jnp.asarray(v, jnp.float32)
  return params


def param_count(params: Mapping[str, Mapping[str, Any]]) -> int:
  """Total number of parameters."""
  return int(sum(np.size(v) for leaf in params.values() for v in leaf.values()))


MODEL = Model(name="demo", layers=LAYERS, value_range=VALUE_RANGE, input_size=INPUT_SIZE, apply=apply,
              init_params=init_params, load_params=load_params)
