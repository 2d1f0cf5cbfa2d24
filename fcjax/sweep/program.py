"""The compiled sweep program: the optimisation of ONE image (init, step, block), vmapped over a flat batch axis,
sharded over the device mesh, compiled once per (settings, batch shape, mesh) and cached (:func:`cache_info`).

One phase's program is :func:`_block_impl`: ``block_steps`` steps of :func:`_block_one` (render -> random transforms
with the image's own key -> features -> objective -> Optax update) under ``lax.scan``, then y and C of the image
seen without transforms; the first block initialises the image inside the same program. Unit indices, angles,
scales, the seed index (:class:`_Entries`), the learning rate, redirect steps and step count (:class:`_Hyper`) are
traced: a new pair of the same layer, another seed or learning rate reuses the program. What is static is
:class:`_Program`, derived from the config. :func:`compiled_block` is the one way to get the compiled block (the
sweep's host loop and the benchmarks both call it).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fcjax import _devices, objectives
from fcjax import param as param_lib
from fcjax import transforms as transforms_lib
from fcjax.models.base import Model
from fcjax.sweep.config import _OPTIMIZERS, PROGRAM_INDEPENDENT, SweepConfig
from fcjax.sweep.features import _function_features, _model_features, redirected_relu

_CACHE_SIZE = 32  # compiled programs (and their parts) kept per process

class _Ident:
  """Hashes and compares by identity (a model or function inside a static cache key)."""

  def __init__(self, obj):
    self.obj = obj

  def __hash__(self):
    return id(self.obj)

  def __eq__(self, other):
    return isinstance(other, _Ident) and other.obj is self.obj


@dataclasses.dataclass(frozen=True)
class _Program:
  """Everything static about one phase's program (the cache key together with the argument shapes).

  ``cfg`` is the sweep's config with every field the program does not depend on (config.PROGRAM_INDEPENDENT) at its
  default, ``block_steps`` at ``min(block_steps, steps)`` and ``transparency`` off in phase 1: two sweeps whose
  configs differ only in traced or batch-shape fields share one program.
  """
  phase: int            # 1: single-unit maximisation; 2: cosdot of the scaled pair
  source: _Ident        # Model or bare feature function
  layer: str | None
  cfg: SweepConfig

  @classmethod
  def of(cls, phase: int, source, layer, cfg: SweepConfig) -> "_Program":
    defaults = {f.name: f.default for f in dataclasses.fields(SweepConfig) if f.name in PROGRAM_INDEPENDENT}
    static = dataclasses.replace(cfg, **defaults, block_steps=min(cfg.block_steps, cfg.steps),
                                 transparency=cfg.transparency and phase == 2,
                                 crop_fraction=tuple(float(v) for v in cfg.crop_fraction))
    return cls(phase=phase, source=_Ident(source), layer=layer, cfg=static)


class _Entries(NamedTuple):
  """One row per image of the flat batch axis."""
  units: Any   # int32 [N, k] unit indices (k = 1 in phase 1, 2 in phase 2)
  theta: Any   # float32 [N] target angle (phase 2)
  scale: Any   # float32 [N, k] the units' scales (ones in phase 1)
  seed: Any    # int32 [N] seed index


class _State(NamedTuple):
  """Optimisation state of one image (a batch of them once vmapped)."""
  image: Any   # parameterization pytree
  opt: Any     # Optax state
  acc: Any     # float32 [H, W] accumulated |d loss / d image| (a scalar 0 when off)


class _Parts(NamedTuple):
  param: Any
  transform: Callable
  view: Callable
  features: Callable
  optimizer: optax.GradientTransformation


def _identity_transform(key, image):
  del key
  return image


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parts(prog: _Program) -> _Parts:
  """The parameterization, transforms, features and optimiser of a program.

  Built once per program and eagerly (factories such as MACO's compute NumPy constants, which must not be traced
  when the first call happens inside ``jit``).
  """
  with jax.ensure_compile_time_eval():
    return _build_parts(prog)


def _build_parts(prog: _Program) -> _Parts:
  size, insize = prog.cfg.canvas_size, prog.cfg.input_size
  if prog.cfg.param == "maco":
    param = param_lib.maco(size, spectrum=prog.cfg.spectrum)
  elif prog.cfg.param == "fft":
    param = param_lib.fft(size, decorrelate=True)
  else:
    param = param_lib.pixel(size)
  view = _identity_transform if size == insize else transforms_lib.resize(insize)
  if prog.cfg.transforms == "maco":
    transform = transforms_lib.maco_crops(insize, crop_fraction=prog.cfg.crop_fraction)
  elif prog.cfg.transforms == "standard":
    transform = transforms_lib.standard(insize)
  else:
    transform = view
  src = prog.source.obj
  if isinstance(src, Model):
    features = _model_features(src, prog.layer, prog.cfg.readout, prog.cfg.dtype)
  else:
    features = _function_features(src)
  # The learning rate lives in the optimiser state (inject_hyperparams), so changing it does not recompile.
  optimizer = optax.inject_hyperparams(_OPTIMIZERS[prog.cfg.optimizer])(learning_rate=1.0)
  return _Parts(param, transform, view, features, optimizer)


def _seed_key(base_key, phase: int, seed):
  return jax.random.fold_in(jax.random.fold_in(base_key, phase), seed)


def _objective(prog: _Program, y, entry: _Entries):
  """The maximised scalar of one image: the unit's scaled value (phase 1) or cosdot of the scaled pair (phase 2)."""
  ys = y / entry.scale
  if prog.phase == 1:
    return ys[0]
  return objectives.cosdot(ys, entry.theta, prog.cfg.p, floor=prog.cfg.floor)


class _Hyper(NamedTuple):
  """Numbers of the config that are traced (replicated scalars): changing them does not recompile."""
  learning_rate: Any  # float32
  redirect_steps: Any  # int32
  total_steps: Any  # int32


def _init_one(prog: _Program, base_key, hyper: _Hyper, entry: _Entries) -> _State:
  parts = _parts(prog)
  key = jax.random.fold_in(_seed_key(base_key, prog.phase, entry.seed), 0)
  image = parts.param.init(key)
  opt = optax.inject_hyperparams(_OPTIMIZERS[prog.cfg.optimizer])(learning_rate=hyper.learning_rate).init(image)
  acc = jnp.zeros((prog.cfg.canvas_size, prog.cfg.canvas_size) if prog.cfg.transparency else (), jnp.float32)
  return _State(image, opt, acc)


def _evaluate_one(prog: _Program, parts: _Parts, model_params, entry: _Entries, state: _State):
  """y and C of the current image, seen without random transforms (resized to the model input)."""
  x = parts.view(jax.random.key(0), parts.param.render(state.image))
  y = parts.features(model_params, x[None], entry.units, jax.nn.relu)[0]
  return y, _objective(prog, y, entry)


def _block_one(prog: _Program, model_params, base_key, hyper: _Hyper, entry: _Entries, state: _State, step0):
  """``block_steps`` optimisation steps of ONE image, then its y and C. vmapped over the flat batch axis.

  The first block (``step0 == 0``) starts from the image's initial state instead of ``state`` (a placeholder then), so
  that initialisation lives in the same compiled program as the optimisation.
  """
  parts = _parts(prog)
  state = jax.lax.cond(step0 == 0, lambda s: _init_one(prog, base_key, hyper, entry), lambda s: s, state)
  step_key = jax.random.fold_in(_seed_key(base_key, prog.phase, entry.seed), 1)
  step = lambda st, t: (_step_one(prog, model_params, hyper, entry, step_key, st, t), None)  # noqa: E731
  state, _ = jax.lax.scan(step, state, step0 + jnp.arange(prog.cfg.block_steps, dtype=jnp.int32))
  y, c = _evaluate_one(prog, parts, model_params, entry, state)
  return state, y, c


def _step_one(prog: _Program, model_params, hyper: _Hyper, entry: _Entries, step_key, state: _State, t) -> _State:
  """Optimisation step ``t`` of ONE image (the body of the block's scan): render -> the step's random transforms ->
  features -> objective -> gradient back through the render -> Optax update. Steps at or past
  ``hyper.total_steps`` return ``state`` unchanged."""
  parts = _parts(prog)
  key = jax.random.fold_in(step_key, t)
  relu = redirected_relu(t < hyper.redirect_steps) if prog.cfg.relu == "redirected" else jax.nn.relu
  image, render_vjp = jax.vjp(parts.param.render, state.image)

  def loss(img):
    if prog.cfg.n_crops == 1:
      x = parts.transform(key, img)[None]
    else:
      x = transforms_lib.repeat(parts.transform, prog.cfg.n_crops)(key, img)
    y = parts.features(model_params, x, entry.units, relu)
    return -jnp.mean(jax.vmap(lambda yk: _objective(prog, yk, entry))(y))

  g_img = jax.grad(loss)(image)
  (g,) = render_vjp(g_img)
  updates, opt = parts.optimizer.update(g, state.opt, state.image)
  new_image = optax.apply_updates(state.image, updates)
  acc = state.acc
  if prog.cfg.transparency:
    acc = acc + jnp.mean(jnp.abs(g_img), axis=-1)
  new = _State(new_image, opt, acc)
  # Steps past the requested count (last block only) are computed but not applied.
  keep = t < hyper.total_steps
  return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, state)


def _init_shapes(prog, base_key, hyper, entries):
  return jax.eval_shape(jax.vmap(functools.partial(_init_one, prog), in_axes=(None, None, 0)), base_key, hyper,
                        entries)


_B, _R = jax.sharding.PartitionSpec(_devices.AXIS), jax.sharding.PartitionSpec()


def _block_impl(prog, mesh, model_params, base_key, hyper, entries, state, step0):
  # shard_map: every device runs the single-device program on its slice of the batch (images are independent: no
  # communication, and nothing for the SPMD partitioner to rewrite; partitioning MACO's irfft2 automatically hits an
  # XLA:CPU FFT layout check). check_vma=False: the initial optimiser state does not vary over the batch axis while
  # the carried one does, and no collective depends on the distinction.
  per_device = jax.vmap(functools.partial(_block_one, prog), in_axes=(None, None, None, 0, 0, None))
  return jax.shard_map(per_device, mesh=mesh, in_specs=(_R, _R, _R, _B, _B, _R), out_specs=(_B, _B, _B),
                       check_vma=False)(model_params, base_key, hyper, entries, state, step0)


def _render_impl(prog, mesh, state):
  parts = _parts(prog)

  def per_device(state):
    img = jax.vmap(parts.param.render)(state.image)
    return jnp.round(jnp.clip(img, 0, 1) * 255).astype(jnp.uint8)

  return jax.shard_map(per_device, mesh=mesh, in_specs=(_B,), out_specs=_B, check_vma=False)(state)


_COMPILED: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
_STATS = {"compiles": 0, "compile_seconds": 0.0, "block_compiles": 0}


def cache_info() -> dict:
  """Compilation counters of this process: ``compiles`` (all programs), ``block_compiles`` (the optimisation
  programs, two per new set of static settings/shapes/devices), ``compile_seconds``, ``cached`` (programs held)."""
  return dict(_STATS, cached=len(_COMPILED))


def _signature(args) -> tuple:
  leaves, treedef = jax.tree.flatten(args)
  return treedef, tuple((tuple(x.shape), str(x.dtype), getattr(x, "sharding", None)) for x in leaves)


def _compiled(name: str, impl: Callable, prog: _Program, mesh, args: tuple, out_shardings, donate=()) -> Callable:
  """The compiled ``impl(prog, mesh, *args)`` for these argument shapes and shardings (compiled once, then cached).

  ``donate``: positions in ``args`` whose buffers the program may reuse for its outputs (the optimisation state).
  """
  key = (name, prog, mesh, _signature(args))
  fn = _COMPILED.get(key)
  if fn is not None:
    _COMPILED.move_to_end(key)
    return fn
  t0 = time.perf_counter()
  fn = jax.jit(functools.partial(impl, prog, mesh), out_shardings=out_shardings, donate_argnums=donate)
  fn = fn.lower(*args).compile()
  _STATS["compile_seconds"] += time.perf_counter() - t0
  _STATS["compiles"] += 1
  _STATS["block_compiles"] += name == "block"
  _COMPILED[key] = fn
  while len(_COMPILED) > _CACHE_SIZE:
    _COMPILED.popitem(last=False)
  return fn


def compiled_block(prog: _Program, mesh, args: tuple, batch_sharding) -> Callable:
  """THE compiled optimisation block: ``(model_params, base_key, hyper, entries, state, step0) -> (state, y, c)``
  for these arguments' shapes and shardings (compiled once per process, then cached). The state is donated."""
  return _compiled("block", _block_impl, prog, mesh, args, (batch_sharding,) * 3, donate=(4,))


def compiled_render(prog: _Program, mesh, state, batch_sharding) -> Callable:
  """The compiled render of a batch of states to uint8 images [N, canvas, canvas, 3]."""
  return _compiled("render", _render_impl, prog, mesh, (state,), batch_sharding)
