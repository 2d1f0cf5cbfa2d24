"""Your own Flax network as a fcjax :class:`~fcjax.models.base.Model`: :func:`from_flax`.

An NNX module is taken apart once (``nnx.split`` -> graphdef + state); the Model's ``apply(state, images, layers)``
merges it while tracing and runs it under ``nnx.capture``, so the compiled program is a pure function of (state,
images). A Linen module runs as ``module.apply(variables, images, capture_intermediates=True,
mutable=['intermediates'])``. Either way the named intermediates are, in increasing priority:

* every submodule's output (``conv1`` for ``self.conv1(x)``; nested submodules join with dots: ``block2.conv``; a
  method other than ``__call__`` adds its name: ``backbone.features``);
* values sown with ``self.sow(nnx.Intermediate, 'feat', x)`` (NNX) or ``self.sow('intermediates', 'feat', x)``
  (Linen), named by the sowing module's path and the sown name (``feat``, ``block2.feat``);
* what the module returns: a dict's entries by key (nested dicts join with dots), a single array as ``output``.

A module called more than once, or a name sown more than once, exposes its first value.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp

from fcjax import errors
from fcjax.models.base import Defaults, Layer, Model, finite_loader


def _leaves(tree: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Any]]:
  """``(path, array)`` of a nested dict / sown-tuple tree (sown and captured values are tuples, one per call: the
  first is taken)."""
  if isinstance(tree, Mapping):
    for k, v in tree.items():
      yield from _leaves(v, prefix + (str(k),))
  elif isinstance(tree, (tuple, list)):
    if tree:
      yield from _leaves(tree[0], prefix)
  elif hasattr(tree, "shape"):
    yield prefix, tree


def _named(result: Any, captured: Mapping) -> dict[str, jax.Array]:
  """Every exposed tensor by name (the priority rules are in the module docstring)."""
  outputs: dict = {}
  sown: dict = {}
  for path, value in _leaves({k: v for k, v in captured.items() if k != "__call__"}):  # root return: `result`
    name = ".".join(p for p in path if p != "__call__")
    (outputs if "__call__" in path else sown).setdefault(name, value)
  returned = {".".join(path) or "output": value for path, value in _leaves(result)}
  return {**outputs, **sown, **returned}


def _nnx_runner(module: Any, variables: Any) -> tuple[Callable, Any]:
  from flax import nnx
  graphdef, state = nnx.split(module)
  if variables is not None:
    if not isinstance(variables, nnx.State):
      raise errors.FcjaxError("for an NNX module pass no variables (its weights are its state), or an nnx.State "
                              "of the same module (nnx.state(module))")
    state = variables

  def run(params, x):
    net = nnx.merge(graphdef, params)
    result, captured = nnx.capture(net, nnx.Intermediate, method_outputs=nnx.Intermediate)(x)
    return _named(result, nnx.to_pure_dict(captured))

  return run, state


def _linen_runner(module: Any, variables: Any) -> tuple[Callable, Any]:
  if variables is None:
    raise errors.FcjaxError("a Linen module needs its variables: from_flax(net, net.init(key, images), layers=...)")
  if not isinstance(variables, Mapping) or "params" not in variables:
    raise errors.FcjaxError(f"variables must be the dict that module.init returns (with a 'params' collection); "
                            f"got {type(variables).__name__}")
  variables = {k: v for k, v in variables.items() if k != "intermediates"}  # values sown during init

  def run(params, x):
    result, state = module.apply(params, x, capture_intermediates=True, mutable=["intermediates"])
    return _named(result, state.get("intermediates", {}))

  return run, variables


def from_flax(module: Any, variables: Any = None, *, layers: Iterable[str | Layer], input_size: int,
              name: str = "flax", value_range: tuple[float, float] = (0.0, 1.0),
              init_params: Callable[[Any], Any] | None = None,
              load_params: Callable[[str], Any] | None = None, defaults: Defaults = Defaults()) -> Model:
  """A Flax network as a :class:`~fcjax.models.base.Model` that statistics, sweeps, plots and the CLI accept.

  Args:
    module: an ``nnx.Module`` (its current weights are used; call ``module.eval()`` first if it has dropout or batch
      norm), or a ``flax.linen.Module``.
    variables: Linen: the variables dict (``module.init(key, x)``); NNX: None (or an ``nnx.State`` of the module).
    layers: the intermediates to expose, by name (see the module docstring), or :class:`Layer` records for full
      control (e.g. ``pre_relu=True``). A name's channels and stride are read from its shape at ``input_size``:
      ``[N, h, w, C]`` (stride ``input_size / h``) or ``[N, C]`` (a vector: stride 0).
    input_size: the network's nominal square input side in pixels.
    name: the model name recorded in results.
    value_range: the pixel range the module expects; fcjax's [0, 1] images are mapped linearly into it.
    init_params, load_params: the Model's ``init_params(key)`` / ``load_params(path)``; by default ``init_params``
      returns the weights given here (the key is ignored: fcjax cannot re-initialise a module it did not build) and
      ``load_params`` is unavailable. Loaded weights that hold NaN or Inf are refused (``NonFiniteError``).
    defaults: what a run of this model uses where the caller does not say (:class:`~fcjax.models.Defaults`: sweep
      sizes, recipe, dataset, labels), e.g. ``Defaults(sweep=dict(n_angles=24), dataset='folder:photos')``.

  Returns:
    A Model whose parameters are ``nnx.state(module)`` (NNX) or ``variables`` (Linen), also returned by its default
    ``init_params``. Its ``apply(params, images, layers, dtype=, relu=)`` casts the images to ``dtype`` and returns
    float32 tensors; ``relu`` is ignored (the module's own nonlinearities stay; the sweep's gradient-redirected ReLU
    needs a network written against :func:`~fcjax.models.from_apply`), and the whole module runs for any request.

  Raises:
    FcjaxError: not a Flax module, missing or wrong variables, or a name whose tensor is not 2-D or 4-D.
    UnknownLayerError: a name the module does not expose (the message lists the closest ones).
  """
  from flax import linen, nnx
  if isinstance(module, nnx.Module):
    run, weights = _nnx_runner(module, variables)
  elif isinstance(module, linen.Module):
    run, weights = _linen_runner(module, variables)
  else:
    raise errors.FcjaxError(f"from_flax takes a flax.nnx.Module or a flax.linen.Module; got {type(module).__name__}")
  lo, hi = value_range

  def apply(params, images, layers=(), *, dtype=jnp.float32, relu=jax.nn.relu):
    del relu  # the module's nonlinearities are its own
    names = (layers,) if isinstance(layers, str) else tuple(layers)
    x = (jnp.asarray(images, jnp.float32) * (hi - lo) + lo).astype(dtype)
    found = run(params, x)
    missing = [n for n in names if n not in found]
    if missing:
      raise errors.unknown_layer(missing[0], list(found), name)
    return {n: found[n].astype(jnp.float32) for n in names}

  probe = jax.ShapeDtypeStruct((1, int(input_size), int(input_size), 3), jnp.float32)
  shapes = jax.eval_shape(lambda p, x: run(p, x), weights, probe)
  table = tuple(_layer(spec, shapes, int(input_size), name) for spec in layers)
  if not table:
    raise errors.FcjaxError(f"from_flax needs at least one layer name; the module exposes {', '.join(shapes)}")
  return Model(name=name, layers=table, value_range=(float(lo), float(hi)), input_size=int(input_size), apply=apply,
               init_params=init_params or (lambda key=None: weights),
               load_params=finite_loader(load_params) if load_params else _no_loader(name), defaults=defaults)


def _layer(spec: str | Layer, shapes: Mapping[str, Any], input_size: int, model: str) -> Layer:
  """The :class:`Layer` record of an exposed tensor, from its abstract shape at ``input_size``."""
  key = spec.name if isinstance(spec, Layer) else str(spec)
  if key not in shapes:
    raise errors.unknown_layer(key, list(shapes), model)
  shape = tuple(shapes[key].shape)
  if len(shape) not in (2, 4):
    raise errors.FcjaxError(f"{key} of {model} has shape {shape}; fcjax needs [N, h, w, C] maps or [N, C] vectors")
  if isinstance(spec, Layer):
    if spec.channels != shape[-1]:
      raise errors.FcjaxError(f"Layer {key} says {spec.channels} channels but the module gives {shape[-1]}")
    return spec
  stride = max(1, round(input_size / shape[1])) if len(shape) == 4 else 0
  return Layer(key, int(shape[-1]), stride, "conv" if len(shape) == 4 else "dense")


def _no_loader(name: str) -> Callable[[str], Any]:
  def load(path: str) -> Any:
    raise errors.WeightsError(f"model {name!r} has no weights loader; pass load_params= to from_flax")
  return load
