"""The model interface that every model in fcjax satisfies.

The sweep, the statistics and the plots never import a particular network: they take a :class:`Model`, a frozen
record of plain values and pure functions. InceptionV1 (``fcjax.models.inception_v1.MODEL``), the embedded demo
model (``fcjax.models.demo_cnn.MODEL``, also ``fcjax.demo.MODEL``), a user's own Flax network
(``fcjax.models.from_flax``) and any other function (:func:`from_apply`) are all ``Model`` instances.

Contract of ``apply``::

    apply(params, images, layers=(name, ...), *, dtype=jnp.float32, relu=jax.nn.relu) -> {name: array}

Each model also carries its :class:`Defaults` (sweep sizes, recipe, dataset, weights and plot labels): what a run
uses when the caller does not say, so that a new model brings its own and the pipeline never branches on a name.

``images`` are float32 ``[N, H, W, 3]`` in [0, 1] (the model maps them to its own value range); each returned array
is ``[N, h, w, C]`` (or ``[N, C]`` for vector tensors such as logits). Computation stops at the deepest requested
tensor. ``dtype`` is the compute dtype (parameters stay float32); ``relu`` replaces every ReLU (the sweep passes a
gradient-redirected ReLU). ``apply`` must be pure and work under ``jit``, ``vmap`` and ``grad``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

import jax.numpy as jnp
import numpy as np

from fcjax import _io, errors

Params = Any


@dataclasses.dataclass(frozen=True)
class Layer:
  """One named tensor of a model.

  Attributes:
    name: canonical tensor name (Lucid's spelling for InceptionV1).
    channels: number of channels (last axis).
    stride: total spatial downsampling relative to the input (1 for the input resolution; 0 for vector tensors).
    kind: 'conv', 'pool', 'lrn', 'concat', 'dense', ... (informational).
    pre_relu: True if the tensor is before a ReLU (may be negative; the paper's units are pre-ReLU).
    pre_relu_name: for a post-ReLU tensor, the name of its pre-ReLU twin (None if there is none).
    min_size: the smallest square input size (pixels) at which this tensor exists.
    max_size: the largest input size at which it exists (None: unbounded; the InceptionV1 head needs 193..224).
  """

  name: str
  channels: int
  stride: int = 1
  kind: str = "conv"
  pre_relu: bool = False
  pre_relu_name: str | None = None
  min_size: int = 1
  max_size: int | None = None


@dataclasses.dataclass(frozen=True)
class Defaults:
  """What a run of a model uses where the caller does not say (big_vision keeps such choices with the model).

  Attributes:
    sweep: SweepConfig fields over the paper's defaults (e.g. fewer angles and steps for a small model); the CLI's
      ``--smoke`` replaces them with its own preset.
    recipe: a named recipe (``fcjax.sweep.RECIPE_PARAMS``: 'maco', 'lucid'); None: the paper's MACO.
    dataset: the image source of the statistics when none is given (``fcjax.data.from_spec``); None: required.
    weights: the label of weights shipped with the model (``load_params(None)`` loads them); None: the weights come
      from a file or the download cache (``fcjax.weights.resolve``).
    label: a tag added to each plot panel's label ('demo model' -> "lowest pair [demo model]"); None: no tag.
    title: a note added to the figure title ("... (embedded DEMO model on procedural images)"); None: no note.
  """

  sweep: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  recipe: str | None = None
  dataset: str | None = None
  weights: str | None = None
  label: str | None = None
  title: str | None = None


@dataclasses.dataclass(frozen=True)
class Model:
  """A vision model as fcjax sees it: a layer table, a value range and pure functions.

  Attributes:
    name: short identifier stored in every result ('inceptionv1', 'demo', ...).
    layers: the declarative table of named tensors, input to output.
    value_range: (low, high) pixel range the network computes on internally (documentation; inputs are [0, 1]).
    input_size: the nominal square input size in pixels (224 for InceptionV1).
    apply: see the module docstring.
    init_params: ``init_params(key) -> params`` random parameters (tests, benchmarks).
    load_params: ``load_params(path) -> params`` trained parameters from a checkpoint or weights file.
    aliases: other spellings of tensor names (e.g. Lucent's) -> canonical names.
    defaults: what a run uses where the caller does not say (:class:`Defaults`).
  """

  name: str
  layers: tuple[Layer, ...]
  value_range: tuple[float, float]
  input_size: int
  apply: Callable[..., Mapping[str, Any]]
  init_params: Callable[[Any], Params]
  load_params: Callable[[str], Params]
  aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
  defaults: Defaults = Defaults()

  @property
  def layer_names(self) -> tuple[str, ...]:
    return tuple(l.name for l in self.layers)

  def canonical(self, name: str) -> str:
    """The canonical spelling of ``name``; raises :class:`~fcjax.errors.UnknownLayerError` with close matches."""
    if name in self._by_name:
      return name
    if name in self.aliases:
      return self.aliases[name]
    raise errors.unknown_layer(name, list(self._by_name) + list(self.aliases), self.name)

  def layer(self, name: str) -> Layer:
    """The :class:`Layer` record of ``name`` (aliases accepted)."""
    return self._by_name[self.canonical(name)]

  def check_unit(self, name: str, unit: int) -> None:
    """Raise :class:`~fcjax.errors.UnitIndexError` unless ``0 <= unit < channels`` of the layer."""
    layer = self.layer(name)
    if not 0 <= int(unit) < layer.channels:
      raise errors.UnitIndexError(
          f"unit {unit} is out of range for {layer.name} of {self.name}, which has {layer.channels} channels "
          f"(valid: 0..{layer.channels - 1})")

  def check_size(self, name: str, size: int) -> None:
    """Raise :class:`~fcjax.errors.InputSizeError` unless the tensor exists at a ``size`` x ``size`` input."""
    layer = self.layer(name)
    if size < layer.min_size:
      raise errors.InputSizeError(
          f"{layer.name} of {self.name} needs inputs of at least {layer.min_size} px; got {size} px")
    if layer.max_size is not None and size > layer.max_size:
      raise errors.InputSizeError(
          f"{layer.name} of {self.name} exists only for inputs of {layer.min_size}..{layer.max_size} px; "
          f"got {size} px")

  def names(self, layers: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical names of ``layers`` (one name or several); :class:`~fcjax.errors.FcjaxError` when there are none,
    :class:`~fcjax.errors.UnknownLayerError` (with close matches) for a name the model lacks."""
    names = (layers,) if isinstance(layers, str) else tuple(layers)
    if not names:
      raise errors.FcjaxError(f"{self.name} needs at least one layer name, e.g. layers=({self.layers[0].name!r},)")
    return tuple(self.canonical(n) for n in names)

  @property
  def _by_name(self) -> dict[str, Layer]:
    return {l.name: l for l in self.layers}


def check_images(images: Any, model: str) -> tuple[int, ...]:
  """The shape of ``images``; :class:`~fcjax.errors.InputSizeError` unless they are floats ``[N, H, W, 3]``."""
  shape = tuple(getattr(images, "shape", np.shape(images)))
  if len(shape) != 4 or shape[-1] != 3:
    raise errors.InputSizeError(
        f"{model} takes images of shape [N, H, W, 3] (RGB in [0, 1]); got shape {shape}"
        + (" (add a batch axis: images[None])" if len(shape) == 3 and shape[-1] == 3 else ""))
  dtype = getattr(images, "dtype", None)
  if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
    raise errors.InputSizeError(f"images must be floating point in [0, 1]; got dtype {dtype} (divide uint8 by 255)")
  return shape


def check_params(params: Any, needed: Iterable[str], layers: Iterable[str]) -> None:
  """:class:`~fcjax.errors.WeightsError` unless ``params`` is a weights dict holding every top-level entry in
  ``needed`` (the ops that computing ``layers`` reads)."""
  from flax import nnx  # lazy: only the networks that call this import Flax
  if not isinstance(params, Mapping) or isinstance(params, nnx.State):
    raise errors.WeightsError(f"params must be the dict that init_params / load_params return; got "
                              f"{type(params).__name__}")
  missing = [n for n in needed if n not in params]
  if missing:
    raise errors.WeightsError(f"params lack {', '.join(missing)} (needed for {', '.join(layers)})")


def from_apply(name: str, apply_fn: Callable[..., Mapping[str, Any]], layers: tuple[Layer, ...], *,
               input_size: int, value_range: tuple[float, float] = (0.0, 1.0),
               init_params: Callable[[Any], Params] | None = None,
               load_params: Callable[[str], Params] | None = None, defaults: Defaults = Defaults()) -> Model:
  """Wrap a user's own network as a :class:`Model`.

  ``apply_fn(params, images, layers=..., dtype=..., relu=...)`` must follow the contract in the module docstring;
  a function that ignores ``dtype`` and ``relu`` is fine (those features are then simply unavailable). Weights that
  ``load_params`` returns holding NaN or Inf are refused (``NonFiniteError``). ``defaults``: the model's run defaults
  (:class:`Defaults`: sweep sizes, recipe, dataset, labels).

  For a Flax module, ``fcjax.models.from_flax`` does this for you. Example (a Linen module that sows its
  intermediates, by hand)::

      def apply_fn(params, images, layers, dtype=jnp.float32, relu=jax.nn.relu):
        _, state = net.apply(params, images, mutable=['intermediates'])
        return {n: state['intermediates'][n][0] for n in layers}
      model = fcjax.models.from_apply('mynet', apply_fn, (Layer('block3', 256, stride=8),), input_size=128)
  """

  def _unavailable(*_):
    raise errors.FcjaxError(f"model {name!r} was built without this function; pass it to from_apply")

  return Model(name=name, layers=tuple(layers), value_range=value_range, input_size=input_size, apply=apply_fn,
               init_params=init_params or _unavailable,
               load_params=finite_loader(load_params) if load_params else _unavailable, defaults=defaults)


def finite_loader(load_params: Callable[[str], Params]) -> Callable[[str], Params]:
  """``load_params`` that refuses weights holding NaN or Inf, naming the tensor (:func:`fcjax._io.check_finite`)."""
  def load(path: str) -> Params:
    params = load_params(path)
    _io.check_finite(params, str(path))
    return params
  return load
