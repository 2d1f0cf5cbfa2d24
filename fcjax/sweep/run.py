"""The sweep's host loop: phase 1 (each distinct unit alone), its scales, phase 2 (the scaled pair at every angle),
in compiled blocks with progress, checkpoints and callbacks between them (:func:`run`, :func:`unit_maxima`).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import _devices, _io, errors, objectives
from fcjax._select import best_seed
from fcjax.models.base import Model
from fcjax.result import SweepResult
from fcjax.sweep import checkpoint as ckpt_lib
from fcjax.sweep.config import SweepConfig
from fcjax.sweep.features import _check_inputs
from fcjax.sweep.layout import _Layout
from fcjax.sweep.program import (_STATS, _Entries, _Hyper, _init_shapes, _Program, compiled_block,
                                 compiled_render)


def _guard_scales(best: np.ndarray) -> tuple[np.ndarray, list]:
  """Phase-1 maxima -> usable scales. A unit whose best value is <= 0 cannot be driven positive: its axis tip is then
  |best| (the magnitude it does reach, keeping the axis's orientation), or 1 (no scaling) if even that is 0."""
  s = best.astype(np.float32).copy()
  guarded = []
  for idx in zip(*np.nonzero(~(s > 0))):
    s[idx] = abs(s[idx]) if s[idx] != 0 and np.isfinite(s[idx]) else 1.0
    guarded.append([int(i) for i in idx])
  return s, guarded


class UnitMaxima(NamedTuple):
  """Phase 1 of the sweep for a set of units, reusable by any number of :func:`run` calls (the layer atlas).

  Attributes:
    units: int32 [U], sorted unique unit indices.
    values: float32 [U, n_seeds], the value each seed's image reached (the unit's own activation, unscaled).
    images: uint8 [U, canvas, canvas, 3], the best seed's image.
  """
  units: np.ndarray
  values: np.ndarray
  images: np.ndarray

  def lookup(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values [..., n_seeds], images [..., H, W, 3]) of ``units`` (int array of any shape); every unit must be here."""
    units = np.asarray(units)
    pos = np.searchsorted(self.units, units)
    pos = np.minimum(pos, len(self.units) - 1)
    missing = units[self.units[pos] != units]
    if missing.size:
      raise errors.FcjaxError(f"unit_maxima has no phase-1 result for unit {int(missing.flat[0])} (it holds "
                              f"{len(self.units)} units); compute it with sweep.unit_maxima(..., units=...)")
    return self.values[pos], self.images[pos]


def _units_digest(um: UnitMaxima) -> str:
  return _io.params_digest((um.units, um.values, um.images))[:16]


def unit_maxima(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *,
                layer: str | None = None, units: Sequence[int], resume_dir: str | pathlib.Path | None = None,
                progress: bool = False, devices: Sequence[Any] | None = None,
                callback: Callable[[dict], None] | None = None) -> UnitMaxima:
  """Phase 1 alone: maximise each of ``units`` (``n_seeds`` seeds each), once per unit.

  Pass the result to :func:`run` (``unit_maxima=``) for any pairs of these units: phase 1 is then skipped and the
  sweep's scales, unit values and unit images are read from it. A unit's result does not depend on which pairs or
  other units share the batch (keys depend on the seed only; see "Reproducibility" for the layout caveat). Arguments
  as in :func:`run`; ``callback`` sees ``phase`` 1 only.
  """
  units_arr = np.unique(np.asarray(units, dtype=np.int64).reshape(-1)) if np.size(units) else np.zeros(0, int)
  if units_arr.size == 0:
    raise errors.FcjaxError("unit_maxima needs at least one unit index")
  return _run(model_or_fn, params, config, layer=layer, pairs=np.stack([units_arr, units_arr], 1),
              resume_dir=resume_dir, progress=progress, devices=devices, callback=callback, phase1_only=True)


def run(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *, layer: str | None = None,
        pairs: Sequence[tuple[int, int]] = ((0, 1),), resume_dir: str | pathlib.Path | None = None,
        progress: bool = False, devices: Sequence[Any] | None = None,
        callback: Callable[[dict], None] | None = None, unit_maxima: UnitMaxima | None = None) -> SweepResult:
  """Run the two-phase cosdot sweep of every pair (the :mod:`fcjax.sweep` docstring).

  Args:
    model_or_fn: a :class:`~fcjax.models.base.Model` (then ``layer`` is required), or any differentiable feature
      function ``f(params, images float32 [N, H, W, 3] in [0, 1]) -> [N, k]`` (then ``pairs`` index into k).
    params: the model's (or function's) parameters, passed to it unchanged.
    config: :class:`SweepConfig` (default: the paper's settings).
    layer: tensor name for a model (Lucid's or Lucent's spelling).
    pairs: (i, j) unit index pairs of ``layer``, all optimised in the same program.
    resume_dir: save the state there after every block, and continue from it if it holds a run of the same sweep
      (a different sweep raises :class:`~fcjax.errors.ConfigMismatchError` naming the differences).
    progress: show a tqdm bar over blocks.
    devices: devices to shard the batch over (default ``jax.devices()``).
    callback: called after every block (after its checkpoint) with a dict ``phase, block, n_blocks, c`` (numpy C of
      each image at the end of the block); raising from it stops the run, which ``resume_dir`` can then continue.
    unit_maxima: phase-1 results (:func:`unit_maxima`, same model, params and config) covering every unit of
      ``pairs``: phase 1 is skipped. Without it, phase 1 maximises each distinct unit of ``pairs`` once.

  Returns:
    :class:`~fcjax.result.SweepResult` (images are the canvas, ``canvas_size`` px). y and C are measured on the final
    canvas resized to the model input, without random transforms. A unit whose phase-1 maximum is <= 0 (it cannot
    be driven positive) gets the scale |maximum|, or 1 if that is 0; such units are listed in
    ``meta['scale_guarded']`` as [pair, slot] indices.

  Raises:
    FcjaxError (and subclasses) for bad input, before anything is compiled.
  """
  return _run(model_or_fn, params, config, layer=layer, pairs=pairs, resume_dir=resume_dir, progress=progress,
              devices=devices, callback=callback, unit_maxima=unit_maxima)


@dataclasses.dataclass
class _Session:
  """What every block of one run needs: the feature source, the placed inputs, checkpoint, progress bar, callback."""
  source: Any
  layer: str | None
  config: SweepConfig
  mesh: Any
  dev_params: Any
  base_key: Any
  hyper: Any
  ckpt: Any
  bar: Any
  callback: Callable | None
  phase1: dict = dataclasses.field(default_factory=dict)  # phase 1's results, saved with every phase-2 block

  def progress(self, n: int) -> None:
    if self.bar is not None:
      self.bar.update(n)

  def run_phase(self, phase: int, entries: _Entries, resume: dict | None):
    """Optimise every image of the phase; returns host (images uint8, y [N, k], c [N], history [N, B], acc)."""
    prog = _Program.of(phase, self.source, self.layer, self.config)
    n, n_blocks = len(entries.seed), self.config.n_blocks
    lay = _Layout(n, self.config.chunk_size, self.mesh)
    ent_chunks = lay.split(entries)
    template = _init_shapes(prog, self.base_key, self.hyper, entries)  # [n, ...] leaves
    if resume is None:  # placeholders: the first block initialises every image itself
      states = lay.split(jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), template))
      done, history, y, c = 0, np.zeros((n, n_blocks), np.float32), None, None
    else:
      states = lay.split(jax.tree.unflatten(jax.tree.structure(template), [np.asarray(a) for a in resume["leaves"]]))
      done, history = int(resume["block"]), np.asarray(resume["history"])
      y, c = np.asarray(resume["y"]), np.asarray(resume["c"])
    self.progress(done)
    block = None
    for b in range(done, n_blocks):
      step0 = _devices.put(np.int32(b * prog.cfg.block_steps), lay.replicated)
      args = (self.dev_params, self.base_key, self.hyper)
      if block is None:
        block = compiled_block(prog, self.mesh, args + (ent_chunks[0], states[0], step0), lay.batch)
      outs = [block(*args, e, s, step0) for e, s in zip(ent_chunks, states)]
      states = [o[0] for o in outs]
      y, c = lay.join([o[1] for o in outs]), lay.join([o[2] for o in outs])
      history[:, b] = c
      if self.ckpt is not None:
        self.ckpt.save((phase - 1) * n_blocks + b + 1, ckpt_lib.payload(
            phase, b + 1, history, y, c, jax.tree.leaves(lay.join(states)), self.phase1))
      self.progress(1)
      if self.callback is not None:
        self.callback({"phase": phase, "block": b + 1, "n_blocks": n_blocks, "c": c})
    render = compiled_render(prog, self.mesh, states[0], lay.batch)
    images = lay.join([render(s) for s in states])
    acc = lay.join([s.acc for s in states]) if prog.cfg.transparency else None
    return images, y, c, history, acc


def _run(model_or_fn, params, config, *, layer, pairs, resume_dir, progress, devices, callback,
         unit_maxima: UnitMaxima | None = None, phase1_only: bool = False):
  """:func:`run` and (``phase1_only``, ``pairs`` = [(u, u)]) :func:`unit_maxima`."""
  t_start = time.perf_counter()
  config = SweepConfig() if config is None else config
  pairs_arr, layer, _ = _check_inputs(model_or_fn, params, config, layer, pairs)
  if unit_maxima is not None:
    _check_unit_maxima(unit_maxima, config, pairs_arr)
  units = np.unique(pairs_arr)  # phase 1 runs once per distinct unit
  devices = _devices.resolve(devices)
  mesh = _devices.mesh(devices)
  model_name = model_or_fn.name if isinstance(model_or_fn, Model) else "function"
  digest = _io.params_digest(params)
  function = None if isinstance(model_or_fn, Model) else getattr(model_or_fn, "__qualname__", "?")
  ckpt = None
  if resume_dir is not None:
    ckpt = ckpt_lib._Checkpoint(resume_dir, ckpt_lib.header(
        model=model_name, layer=layer, function=function, pairs=(units if phase1_only else pairs_arr).tolist(),
        params_digest=digest, config=config,
        phase1="only" if phase1_only else (None if unit_maxima is None else _units_digest(unit_maxima))))
    ckpt.check()
  saved = ckpt.restore() if ckpt is not None else None
  compiles0, compile_s0 = _STATS["compiles"], _STATS["compile_seconds"]
  replicated = _devices.replicated(mesh)
  bar = None
  if progress and jax.process_index() == 0:
    from tqdm.auto import tqdm
    bar = tqdm(total=(1 if phase1_only else 2) * config.n_blocks, desc=f"sweep {model_name} {layer or ''}".strip(),
               unit="block")
  hyper = _Hyper(jnp.float32(config.learning_rate), jnp.int32(config.redirect_steps), jnp.int32(config.steps))
  session = _Session(model_or_fn, layer, config, mesh, _devices.put_tree(params, replicated),
                     _devices.put_key(jax.random.key(config.seed), replicated), _devices.put_tree(hyper, replicated),
                     ckpt, bar, callback)
  try:
    t1 = time.perf_counter()
    per_unit = _phase1(session, units, saved, unit_maxima)
    if phase1_only:
      return per_unit
    unit_values, unit_images = per_unit.lookup(pairs_arr)   # [P, 2, seeds], [P, 2, H, W, 3]
    scales, guarded = _guard_scales(unit_values.max(axis=-1))
    t2 = time.perf_counter()
    resume2 = saved if saved is not None and int(saved["phase"]) == 2 else None
    imgs2, y2, c2, hist2, acc2 = session.run_phase(2, _phase2_entries(pairs_arr, scales, config), resume2)
    t3 = time.perf_counter()
  finally:
    if bar is not None:
      bar.close()
    if ckpt is not None:
      ckpt.close()
  meta = {
      "versions": _versions(), "devices": [str(d.device_kind) for d in devices], "platform": devices[0].platform,
      "n_devices": len(devices), "process_count": jax.process_count(),
      "objective": "exact" if config.floor is None else "floored",
      "objective_form": objectives.describe(config.p, config.floor), "params_digest": digest, "function": function,
      "scale_guarded": guarded, "phase1_seconds": t2 - t1, "phase2_seconds": t3 - t2,
      "total_seconds": time.perf_counter() - t_start, "compile_seconds": _STATS["compile_seconds"] - compile_s0,
      "compiles": _STATS["compiles"] - compiles0,
      "resumed_from": None if saved is None else {"phase": int(saved["phase"]), "block": int(saved["block"])},
      "phase1_units": int(len(units)), "phase1_reused": unit_maxima is not None,
  }
  shape = (len(pairs_arr), config.n_angles, config.n_seeds)
  return SweepResult(
      config=config.to_dict(), model=model_name, layer=layer, readout=objectives.readout_name(config.readout),
      pairs=pairs_arr, thetas=config.thetas, scales=scales, unit_values=unit_values, unit_images=unit_images,
      y=y2.reshape(*shape, 2), c=c2.reshape(shape), images=imgs2.reshape(*shape, *imgs2.shape[1:]),
      history=hist2.reshape(*shape, config.n_blocks), meta=meta,
      transparency=None if acc2 is None else acc2.reshape(*shape, *acc2.shape[1:]))


def _check_unit_maxima(unit_maxima, config: SweepConfig, pairs_arr: np.ndarray) -> None:
  if not isinstance(unit_maxima, UnitMaxima):
    raise errors.FcjaxError(f"unit_maxima must be a fcjax.sweep.UnitMaxima, got {type(unit_maxima).__name__}")
  if unit_maxima.values.shape[1:] != (config.n_seeds,):
    raise errors.ConfigMismatchError(f"unit_maxima holds {unit_maxima.values.shape[1:]} seeds per unit, the config "
                                     f"asks for n_seeds={config.n_seeds}: recompute it with this config")
  unit_maxima.lookup(pairs_arr)  # every unit present


def _phase1(session: _Session, units: np.ndarray, saved: dict | None, given: UnitMaxima | None) -> UnitMaxima:
  """Phase 1: every distinct unit alone, n_seeds seeds each (rows enumerate (unit, seed)); or its results from
  ``given`` (unit_maxima=) or from a checkpoint saved in phase 2. Sets ``session.phase1`` for later checkpoints."""
  n_blocks, n_seeds = session.config.n_blocks, session.config.n_seeds
  if given is not None:
    session.progress(n_blocks)
    return UnitMaxima(*given)
  if saved is not None and int(saved["phase"]) == 2:
    per_unit = UnitMaxima(units, np.asarray(saved["p1_values"]), np.asarray(saved["p1_images"]))
    session.phase1 = {"p1_values": per_unit.values, "p1_images": per_unit.images}
    session.progress(n_blocks)
    return per_unit
  uu, su = np.meshgrid(np.arange(len(units)), np.arange(n_seeds), indexing="ij")
  e1 = _Entries(units=units[uu.reshape(-1)][:, None].astype(np.int32), theta=np.zeros(uu.size, np.float32),
                scale=np.ones((uu.size, 1), np.float32), seed=su.reshape(-1).astype(np.int32))
  imgs1, y1, _, _, _ = session.run_phase(1, e1, saved)
  values = y1[:, 0].reshape(len(units), n_seeds)
  images = imgs1.reshape(len(units), n_seeds, *imgs1.shape[1:])[np.arange(len(units)), best_seed(values)]
  session.phase1 = {"p1_values": values, "p1_images": images}
  return UnitMaxima(units.astype(np.int32), values, images)


def _phase2_entries(pairs_arr: np.ndarray, scales: np.ndarray, config: SweepConfig) -> _Entries:
  """Phase 2's rows: (pair, angle, seed) of the scaled pair."""
  pp, aa, ss = np.meshgrid(np.arange(len(pairs_arr)), np.arange(config.n_angles), np.arange(config.n_seeds),
                           indexing="ij")
  pp, aa, ss = pp.reshape(-1), aa.reshape(-1), ss.reshape(-1)
  return _Entries(units=pairs_arr[pp], theta=config.thetas[aa].astype(np.float32), scale=scales[pp],
                  seed=ss.astype(np.int32))


def _versions() -> dict:
  import importlib.metadata as md
  import fcjax
  out = {"fcjax": fcjax.__version__}
  for pkg in ("jax", "jaxlib", "optax", "orbax-checkpoint"):
    try:
      out[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      out[pkg] = None
  return out
