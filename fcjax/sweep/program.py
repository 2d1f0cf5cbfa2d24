"""The one compiled sweep program: the optimisation of ONE image toward a direction, vmapped over a flat batch axis,
sharded over the device mesh, compiled once per (settings, batch shape, mesh) and cached (:func:`cache_info`).

Every phase of a sweep is the same computation on different data (:class:`Entries`): an image is optimised toward a
direction ``h`` in the combination's *normalised* space ``u = (y_i / n_i±, y_j / n_j±, ...)`` (k = 2 units for a pair,
3 for a triple; k is a batch shape, so pairs and triples compile separately; each coordinate divided by the
normaliser of its own half-axis, ``Entries.norm``), from a fresh noise image or a given one (``Entries.warm``), with
the linear objective ``u·h`` (``Entries.linear``: the half-axis phase, p = 0) or cosdot (the angles and the
refinement rounds). So one compiled block serves every phase, and a phase is a batch of entries.

:class:`Program` is the public record of pure per-image functions (init, step, evaluate, render) built once per
:class:`Spec` (the static settings); :func:`compiled_block` is the one way to get the compiled block (the sweep's host
loop and the benchmarks both call it). Unit indices, directions, normalisers, seeds, the learning rate, the warm-up
and step counts are traced: a new pair, angle set, seed or learning rate reuses the program.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
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
class Spec:
  """Everything static about the program (the cache key together with the argument shapes).

  ``cfg`` is the sweep's config with every field the program does not depend on (config.PROGRAM_INDEPENDENT) at its
  default and ``block_steps`` at ``min(block_steps, steps)``: two sweeps whose configs differ only in traced or
  batch-shape fields share one program.
  """
  source: _Ident        # Model or bare feature function
  layer: str | None
  cfg: SweepConfig

  @classmethod
  def of(cls, source, layer, cfg: SweepConfig) -> "Spec":
    defaults = {f.name: f.default for f in dataclasses.fields(SweepConfig) if f.name in PROGRAM_INDEPENDENT}
    static = dataclasses.replace(cfg, **defaults, block_steps=min(cfg.block_steps, cfg.steps),
                                 crop_fraction=tuple(float(v) for v in cfg.crop_fraction))
    return cls(source=_Ident(source), layer=layer, cfg=static)


STREAM_AXES, STREAM_ANGLES, STREAM_REFINE = 1, 2, 3  # key streams (Entries.stream); round r uses STREAM_REFINE + r


class Entries(NamedTuple):
  """One row per image of the flat batch axis (every field has leading axis N)."""
  units: Any    # int32 [N, k] unit indices (a half-axis row repeats its unit)
  h: Any        # float32 [N, k] target direction in the normalised space
  norm: Any     # float32 [N, 2k] normalisers of the half-axes u0+, u0-, u1+, u1-, ... (raw units, > 0)
  linear: Any   # bool [N] objective u·h (a half-axis, p = 0) instead of cosdot
  warm: Any     # bool [N] start from the image given in the state instead of a fresh noise image
  stream: Any   # int32 [N] key stream: 1 half-axes, 2 angles, 3 + r refinement round r
  seed: Any     # int32 [N] seed index


def make_entries(units, h, norm, linear, warm, stream, seed) -> Entries:
  """Host :class:`Entries` of N rows of k units (``seed`` sets N, ``units`` [N, k] sets k; scalars broadcast): the
  one place their dtypes are set."""
  n = len(seed)
  units = np.asarray(units, np.int32).reshape(n, -1)
  k = units.shape[1]
  return Entries(units=units, h=np.asarray(h, np.float32).reshape(n, k),
                 norm=np.asarray(norm, np.float32).reshape(n, 2 * k), linear=np.broadcast_to(linear, (n,)).astype(bool),
                 warm=np.broadcast_to(warm, (n,)).astype(bool),
                 stream=np.broadcast_to(np.int32(stream), (n,)).astype(np.int32), seed=np.asarray(seed, np.int32))


class Hyper(NamedTuple):
  """Numbers of the config that are traced (replicated scalars): changing them does not recompile."""
  learning_rate: Any  # float32
  redirect_steps: Any  # int32
  total_steps: Any  # int32: steps applied (the last block may compute more)
  warmup_steps: Any  # int32: steps optimised with the floored cosdot (SweepConfig.warmup_floor) before cfg.floor


class State(NamedTuple):
  """Optimisation state of one image (a batch of them once vmapped)."""
  image: Any   # parameterization pytree
  opt: Any     # Optax state
  acc: Any     # float32 [H, W] accumulated |d loss / d image| (a scalar 0 when off)


class Program(NamedTuple):
  """The pure functions of ONE image for one :class:`Spec` (built once, :func:`program`); vmap them for batches.

  init(base_key, hyper, entry, image) -> State: a fresh noise image (or ``image`` where ``entry.warm``; ``image``
    None: always fresh), optimiser state initialised.
  step(model_params, hyper, entry, base_key, state, t) -> State: optimisation step t (render -> the step's random
    transforms -> features -> objective -> gradient through the render -> Optax update); steps at or past
    ``hyper.total_steps`` return ``state``.
  evaluate(model_params, entry, image) -> (y float32 [k], c float32): raw unit values of the image seen without
    random transforms, and its objective in the reported form (:func:`reported_c`).
  render(image) -> float32 [canvas, canvas, 3] in [0, 1].
  objective(u, entry, t, hyper) -> float32: the maximised scalar of normalised values u [k] at step t.
  """
  init: Callable
  step: Callable
  evaluate: Callable
  render: Callable
  objective: Callable


def normalise(y, norm):
  """float [..., k]: each coordinate of raw ``y`` over the normaliser of its own half-axis (``norm`` [..., 2k] in the
  order u0+, u0-, u1+, u1-, ...). Piecewise linear and continuous: signs are kept, the origin stays the origin."""
  return y / jnp.where(y >= 0, norm[..., 0::2], norm[..., 1::2])


def reported_floor(cfg: SweepConfig):
  """The floor of the reported C: None (the paper's exact form) whenever p allows it, else ``cfg.floor``."""
  return None if objectives.exact_allowed(cfg.p) else cfg.floor


def _identity_transform(key, image):
  del key
  return image


class Parts(NamedTuple):
  """The building blocks of a :class:`Program` (the benchmarks time them one by one)."""
  param: Any                              # parameterization: init(key) -> image params, render(params) -> image
  transform: Callable                     # (key, canvas image) -> model input, the step's random transforms
  view: Callable                          # (key, canvas image) -> model input without random transforms
  features: Callable                      # (model params, images [N, S, S, 3], units [k], relu) -> float32 [N, k]
  optimizer: optax.GradientTransformation  # learning rate injected (traced)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def parts(spec: Spec) -> Parts:
  """The parts of ``spec``'s program, built once and eagerly (factories such as MACO's compute NumPy constants,
  which must not be traced when the first call happens inside ``jit``)."""
  with jax.ensure_compile_time_eval():
    return _build_parts(spec)


def _build_parts(spec: Spec) -> Parts:
  cfg = spec.cfg
  size, insize = cfg.canvas_size, cfg.input_size
  if cfg.param == "maco":
    param = param_lib.maco(size, spectrum=cfg.spectrum)
  elif cfg.param == "fft":
    param = param_lib.fft(size, decorrelate=True)
  else:
    param = param_lib.pixel(size)
  view = _identity_transform if size == insize else transforms_lib.resize(insize)
  if cfg.transforms == "maco":
    transform = transforms_lib.maco_crops(insize, crop_fraction=cfg.crop_fraction)
  elif cfg.transforms == "standard":
    transform = transforms_lib.standard(insize)
  else:
    transform = view
  src = spec.source.obj
  features = (_model_features(src, spec.layer, cfg.readout, cfg.dtype) if isinstance(src, Model)
              else _function_features(src))
  optimizer = optax.inject_hyperparams(_OPTIMIZERS[cfg.optimizer])(learning_rate=1.0)
  return Parts(param, transform, view, features, optimizer)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def program(spec: Spec) -> Program:
  """The per-image functions of ``spec`` (built once: closures over :func:`parts`)."""
  cfg = spec.cfg
  size = cfg.canvas_size
  param, transform, view, features, optimizer = parts(spec)
  make_opt = optax.inject_hyperparams(_OPTIMIZERS[cfg.optimizer])  # lr in the state: changing it does not recompile
  report_floor = reported_floor(cfg)

  def objective(u, entry: Entries, t, hyper: Hyper):
    if cfg.warmup_floor is None:
      c = objectives.direction(u, entry.h, cfg.p, floor=cfg.floor)
    else:
      c = jnp.where(t < hyper.warmup_steps, objectives.direction(u, entry.h, cfg.p, floor=cfg.warmup_floor),
                    objectives.direction(u, entry.h, cfg.p, floor=cfg.floor))
    return jnp.where(entry.linear, jnp.sum(u * entry.h), c)

  def key_of(base_key, entry: Entries):
    return jax.random.fold_in(jax.random.fold_in(base_key, entry.stream), entry.seed)

  def init(base_key, hyper: Hyper, entry: Entries, image) -> State:
    fresh = param.init(jax.random.fold_in(key_of(base_key, entry), 0))
    if image is not None:
      image = jax.tree.map(lambda a, b: jnp.where(entry.warm, a, b), image, fresh)
    else:
      image = fresh
    opt = make_opt(learning_rate=hyper.learning_rate).init(image)
    acc = jnp.zeros((size, size) if cfg.transparency else (), jnp.float32)
    return State(image, opt, acc)

  def evaluate(model_params, entry: Entries, image):
    x = view(jax.random.key(0), param.render(image))
    y = features(model_params, x[None], entry.units, jax.nn.relu)[0]
    u = normalise(y, entry.norm)
    c = objectives.direction(u, entry.h, cfg.p, floor=report_floor)
    return y, jnp.where(entry.linear, jnp.sum(u * entry.h), c)

  def step(model_params, hyper: Hyper, entry: Entries, base_key, state: State, t) -> State:
    key = jax.random.fold_in(jax.random.fold_in(key_of(base_key, entry), 1), t)
    relu = redirected_relu(t < hyper.redirect_steps) if cfg.relu == "redirected" else jax.nn.relu
    image, render_vjp = jax.vjp(param.render, state.image)

    def loss(img):
      if cfg.n_crops == 1:
        x = transform(key, img)[None]
      else:
        x = transforms_lib.repeat(transform, cfg.n_crops)(key, img)
      y = features(model_params, x, entry.units, relu)
      return -jnp.mean(jax.vmap(lambda yk: objective(normalise(yk, entry.norm), entry, t, hyper))(y))

    g_img = jax.grad(loss)(image)
    (g,) = render_vjp(g_img)
    updates, opt = optimizer.update(g, state.opt, state.image)
    acc = state.acc + jnp.mean(jnp.abs(g_img), axis=-1) if cfg.transparency else state.acc
    new = State(optax.apply_updates(state.image, updates), opt, acc)
    keep = t < hyper.total_steps  # steps past the requested count (last block only) are computed, not applied
    return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, state)

  return Program(init, step, evaluate, param.render, objective)


def _block_one(spec: Spec, model_params, base_key, hyper: Hyper, entry: Entries, state: State, step0):
  """``block_steps`` steps of ONE image, then its y and C. The first block (``step0 == 0``) initialises the image
  (fresh, or from ``state.image`` where ``entry.warm``) inside the same program as the optimisation."""
  prog = program(spec)
  state = jax.lax.cond(step0 == 0, lambda s: prog.init(base_key, hyper, entry, s.image), lambda s: s, state)
  body = lambda st, t: (prog.step(model_params, hyper, entry, base_key, st, t), None)  # noqa: E731
  state, _ = jax.lax.scan(body, state, step0 + jnp.arange(spec.cfg.block_steps, dtype=jnp.int32))
  y, c = prog.evaluate(model_params, entry, state.image)
  return state, y, c


def init_shapes(spec: Spec, base_key, hyper: Hyper, entries: Entries) -> State:
  """The batched state's shapes (``jax.ShapeDtypeStruct`` leaves, leading axis N) for ``entries``."""
  prog = program(spec)
  return jax.eval_shape(jax.vmap(lambda e: prog.init(base_key, hyper, e, None)), entries)


_B, _R = jax.sharding.PartitionSpec(_devices.AXIS), jax.sharding.PartitionSpec()


def _block_impl(spec, mesh, model_params, base_key, hyper, entries, state, step0):
  # shard_map: every device runs the single-device program on its slice of the batch (images are independent: no
  # communication, and nothing for the SPMD partitioner to rewrite; partitioning MACO's irfft2 automatically hits an
  # XLA:CPU FFT layout check). check_vma=False: the initial optimiser state does not vary over the batch axis while
  # the carried one does, and no collective depends on the distinction.
  per_device = jax.vmap(functools.partial(_block_one, spec), in_axes=(None, None, None, 0, 0, None))
  return jax.shard_map(per_device, mesh=mesh, in_specs=(_R, _R, _R, _B, _B, _R), out_specs=(_B, _B, _B),
                       check_vma=False)(model_params, base_key, hyper, entries, state, step0)


def _evaluate_impl(spec, mesh, model_params, entries, image):
  per_device = jax.vmap(program(spec).evaluate, in_axes=(None, 0, 0))
  return jax.shard_map(per_device, mesh=mesh, in_specs=(_R, _B, _B), out_specs=(_B, _B),
                       check_vma=False)(model_params, entries, image)


def _render_impl(spec, mesh, image):
  render = program(spec).render

  def per_device(image):
    img = jax.vmap(render)(image)
    return jnp.round(jnp.clip(img, 0, 1) * 255).astype(jnp.uint8)

  return jax.shard_map(per_device, mesh=mesh, in_specs=(_B,), out_specs=_B, check_vma=False)(image)


_COMPILED: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
_STATS = {"compiles": 0, "compile_seconds": 0.0, "block_compiles": 0}


def cache_info() -> dict:
  """Compilation counters of this process: ``compiles`` (all programs), ``block_compiles`` (the optimisation
  programs: one per new set of static settings/shapes/devices), ``compile_seconds``, ``cached`` (programs held)."""
  return dict(_STATS, cached=len(_COMPILED))


def stats_snapshot() -> tuple[int, float]:
  """(compiles, compile_seconds) so far in this process (a run reports its own difference)."""
  return _STATS["compiles"], _STATS["compile_seconds"]


def _signature(args) -> tuple:
  leaves, treedef = jax.tree.flatten(args)
  return treedef, tuple((tuple(x.shape), str(x.dtype), getattr(x, "sharding", None)) for x in leaves)


def _compiled(name: str, impl: Callable, spec: Spec, mesh, args: tuple, out_shardings, donate=()) -> Callable:
  """The compiled ``impl(spec, mesh, *args)`` for these argument shapes and shardings (compiled once, then cached).

  ``donate``: positions in ``args`` whose buffers the program may reuse for its outputs (the optimisation state).
  """
  key = (name, spec, mesh, _signature(args))
  fn = _COMPILED.get(key)
  if fn is not None:
    _COMPILED.move_to_end(key)
    return fn
  t0 = time.perf_counter()
  fn = jax.jit(functools.partial(impl, spec, mesh), out_shardings=out_shardings, donate_argnums=donate)
  fn = fn.lower(*args).compile()
  _STATS["compile_seconds"] += time.perf_counter() - t0
  _STATS["compiles"] += 1
  _STATS["block_compiles"] += name == "block"
  _COMPILED[key] = fn
  while len(_COMPILED) > _CACHE_SIZE:
    _COMPILED.popitem(last=False)
  return fn


def is_cached(fn: Callable) -> bool:
  """Whether ``fn`` is one of the compiled blocks this process holds."""
  return any(f is fn for k, f in _COMPILED.items() if k[0] == "block")


def compiled_block(spec: Spec, mesh, args: tuple, batch_sharding) -> Callable:
  """THE compiled optimisation block: ``(model_params, base_key, hyper, entries, state, step0) -> (state, y, c)``
  for these arguments' shapes and shardings (compiled once per process, then cached). The state is donated."""
  return _compiled("block", _block_impl, spec, mesh, args, (batch_sharding,) * 3, donate=(4,))


def compiled_evaluate(spec: Spec, mesh, args: tuple, batch_sharding) -> Callable:
  """The compiled ``(model_params, entries, image) -> (y [N, k], c [N])`` of a batch of given images."""
  return _compiled("evaluate", _evaluate_impl, spec, mesh, args, (batch_sharding,) * 2)


def compiled_render(spec: Spec, mesh, image, batch_sharding) -> Callable:
  """The compiled render of a batch of images (parameterization pytrees) to uint8 [N, canvas, canvas, 3]."""
  return _compiled("render", _render_impl, spec, mesh, (image,), batch_sharding)
