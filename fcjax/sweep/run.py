"""The sweep's host loop: a list of phases run through the one compiled program (:mod:`fcjax.sweep.program`), in
compiled blocks with progress, checkpoints and callbacks between them (:func:`run`, :func:`unit_maxima`).

Phases: 1. the half-axes (each distinct unit maximised and minimised); 2. the angles (cosdot in the normalised
space); then refinement rounds (cross-evaluation, :mod:`fcjax.sweep.refine`; beaten images re-optimised from the
image that beat them). Phase 1 and 2 are checkpointed after every block; the rounds are deterministic functions of
phase 2's final state and are recomputed on resume.
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
from fcjax.sweep import refine as refine_lib
from fcjax.sweep.config import SweepConfig
from fcjax.sweep.features import check_inputs
from fcjax.sweep.layout import _Layout
from fcjax.sweep.program import (STREAM_ANGLES, STREAM_AXES, Entries, Hyper, Spec, compiled_block, compiled_evaluate,
                                 compiled_render, init_shapes, make_entries, stats_snapshot)


def _guard_scales(best: np.ndarray) -> tuple[np.ndarray, list]:
  """Phase-1 maxima -> usable scales. A unit whose best value is <= 0 cannot be driven positive: its axis tip is then
  |best| (the magnitude it does reach, keeping the axis's orientation), or 1 (no scaling) if even that is 0."""
  s = best.astype(np.float32).copy()
  guarded = []
  for idx in zip(*np.nonzero(~(s > 0))):
    s[idx] = abs(s[idx]) if s[idx] != 0 and np.isfinite(s[idx]) else 1.0
    guarded.append([int(i) for i in idx])
  return s, guarded


def normalisers(pos: np.ndarray, neg: np.ndarray, scales: np.ndarray, angle_space: str) -> np.ndarray:
  """float32 [P, 2k] raw normalisers of the half-axes u0+, u0-, u1+, u1-, ... (all > 0).

  'paper': the scales on both sides (the paper's y / s). 'half-axes': each half-axis's reach from phase 1 (best over
  seeds of the unit's maximum, resp. minus its minimum); a half-axis reaching under 1e-3 of its unit's other half
  (or nothing) gets that 1e-3 fraction, so that aiming along it still means something, or 1 when neither reaches.
  ``pos``/``neg``: float [P, k, S] the phase-1 values of maximising / minimising each unit.
  """
  if angle_space == "paper":
    return np.repeat(np.asarray(scales, np.float32), 2, axis=1)
  with np.errstate(invalid="ignore"):
    rp = np.nan_to_num(np.nanmax(np.where(np.isfinite(pos), pos, np.nan), axis=-1), nan=0.0)
    rn = np.nan_to_num(np.nanmax(np.where(np.isfinite(neg), -neg, np.nan), axis=-1), nan=0.0)
  rp, rn = np.maximum(rp, 0.0), np.maximum(rn, 0.0)
  out = np.stack([rp, rn], axis=2).reshape(len(rp), -1).astype(np.float64)  # [P, 2k]: u0+, u0-, u1+, ...
  for a, b in zip(range(0, out.shape[1], 2), range(1, out.shape[1], 2)):
    top = np.maximum(out[:, a], out[:, b])
    for k in (a, b):
      out[:, k] = np.where(top > 0, np.maximum(out[:, k], 1e-3 * top), 1.0)
  return out.astype(np.float32)


class UnitMaxima(NamedTuple):
  """The half-axis phase (phase 1) for a set of units, reusable by any number of :func:`run` calls (the atlas).

  Attributes:
    units: int32 [U], sorted unique unit indices.
    values: float32 [U, S], each seed's value when maximising the unit (its own activation, raw).
    images: uint8 [U, canvas, canvas, 3], the best maximising seed's image.
    neg_values: float32 [U, S], each seed's value when minimising the unit (raw; negative where it goes below 0).
    neg_images: uint8 [U, canvas, canvas, 3], the best minimising seed's image.
    image_leaves: tuple of arrays [U, 2, ...]: the leaves of the best images' parameterization pytrees (index 1:
      maximised, minimised), the starting points of later phases.
  """
  units: np.ndarray
  values: np.ndarray
  images: np.ndarray
  neg_values: np.ndarray
  neg_images: np.ndarray
  image_leaves: tuple

  def lookup(self, units: np.ndarray) -> "UnitMaxima":
    """This record restricted to ``units`` (int array of any shape; the leading axes become its shape)."""
    units = np.asarray(units)
    pos = np.minimum(np.searchsorted(self.units, units), len(self.units) - 1)
    missing = units[self.units[pos] != units]
    if missing.size:
      raise errors.FcjaxError(f"unit_maxima has no phase-1 result for unit {int(missing.flat[0])} (it holds "
                              f"{len(self.units)} units); compute it with sweep.unit_maxima(..., units=...)")
    return UnitMaxima(units, self.values[pos], self.images[pos], self.neg_values[pos], self.neg_images[pos],
                      tuple(np.asarray(leaf)[pos] for leaf in self.image_leaves))

  def to_arrays(self) -> dict:
    """Plain arrays for ``np.savez`` (:meth:`from_arrays` rebuilds the record)."""
    out = {"units": self.units, "values": self.values, "images": self.images, "neg_values": self.neg_values,
           "neg_images": self.neg_images}
    out.update({f"leaf_{k}": np.asarray(v) for k, v in enumerate(self.image_leaves)})
    return out

  @classmethod
  def from_arrays(cls, d) -> "UnitMaxima":
    n = len([k for k in d if str(k).startswith("leaf_")])
    return cls(np.asarray(d["units"]), np.asarray(d["values"]), np.asarray(d["images"]), np.asarray(d["neg_values"]),
               np.asarray(d["neg_images"]), tuple(np.asarray(d[f"leaf_{k}"]) for k in range(n)))


def _units_digest(um: UnitMaxima) -> str:
  return _io.tree_digest((um.units, um.values, um.images, um.neg_values))[:16]


def unit_maxima(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *,
                layer: str | None = None, units: Sequence[int], resume_dir: str | pathlib.Path | None = None,
                progress: bool = False, devices: Sequence[Any] | None = None,
                callback: Callable[[dict], None] | None = None) -> UnitMaxima:
  """Phase 1 alone: maximise and minimise each of ``units`` (``n_seeds`` seeds each), once per unit.

  Pass the result to :func:`run` (``unit_maxima=``) for any pairs of these units: phase 1 is then skipped. A unit's
  result does not depend on which pairs or other units share the batch (keys depend on the seed only). Arguments as
  in :func:`run`; ``callback`` sees ``phase`` 1 only.
  """
  units_arr = np.unique(np.asarray(units, dtype=np.int64).reshape(-1)) if np.size(units) else np.zeros(0, int)
  if units_arr.size == 0:
    raise errors.FcjaxError("unit_maxima needs at least one unit index")
  return _run(model_or_fn, params, config, layer=layer, pairs=np.stack([units_arr, units_arr], 1),
              resume_dir=resume_dir, progress=progress, devices=devices, callback=callback, phase1_only=True)


def run(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *, layer: str | None = None,
        pairs: Sequence[tuple[int, int]] = ((0, 1),), resume_dir: str | pathlib.Path | None = None,
        progress: bool = False, devices: Sequence[Any] | None = None,
        callback: Callable[[dict], None] | None = None, unit_maxima: UnitMaxima | None = None,
        units: Sequence[int] | None = None) -> SweepResult:
  """Run the sweep of every pair (the :mod:`fcjax.sweep` docstring): half-axes, angles, refinement rounds.

  Args:
    model_or_fn: a :class:`~fcjax.models.base.Model` (then ``layer`` is required), or any differentiable feature
      function ``f(params, images float32 [N, H, W, 3] in [0, 1]) -> [N, k]`` (then ``pairs`` index into k).
    params: the model's (or function's) parameters, passed to it unchanged.
    config: :class:`SweepConfig` (default: the paper's settings).
    layer: tensor name for a model (Lucid's or Lucent's spelling).
    pairs: (i, j) unit index pairs of ``layer``, all optimised in the same program; or (i, j, k) triples of
      different units (then every row is a triple; directions spread over the sphere, ``SweepConfig.directions``).
    resume_dir: save the state there after every block, and continue from it if it holds a run of the same sweep
      (a different sweep raises :class:`~fcjax.errors.ConfigMismatchError` naming the differences).
    progress: show a tqdm bar over blocks.
    devices: devices to shard the batch over (default ``jax.devices()``).
    callback: called after every block (after its checkpoint) with a dict ``phase, block, n_blocks, c`` (numpy C of
      each image at the end of the block; phase 3 + r for refinement round r); raising from it stops the run, which
      ``resume_dir`` can then continue.
    unit_maxima: phase-1 results (:func:`unit_maxima`, same model, params and config) covering every unit of
      ``pairs``: phase 1 is skipped.
    units: one combination, ``(i, j)`` or ``(i, j, k)``: the same as ``pairs=[units]`` (give one or the other).

  Returns:
    :class:`~fcjax.result.SweepResult` (images are the canvas, ``canvas_size`` px). y and C are measured on the final
    canvas resized to the model input, without random transforms; C in the angle space (``result.norm``), in the
    paper's exact form. A unit whose phase-1 maximum is <= 0 gets the scale |maximum|, or 1 if that is 0; such units
    are listed in ``meta['scale_guarded']`` as [pair, slot] indices. ``meta['refinement']`` records the rounds.

  Raises:
    FcjaxError (and subclasses) for bad input, before anything is compiled.
  """
  if units is not None:
    if pairs != ((0, 1),):
      raise errors.FcjaxError("give pairs= (a list of combinations) or units= (one combination), not both")
    pairs = [tuple(units)] if np.ndim(units) == 1 else units
  return _run(model_or_fn, params, config, layer=layer, pairs=pairs, resume_dir=resume_dir, progress=progress,
              devices=devices, callback=callback, unit_maxima=unit_maxima)


@dataclasses.dataclass
class _Session:
  """What every block of one run needs: the feature source, the placed inputs, checkpoint, progress bar, callback."""
  spec: Spec
  config: SweepConfig
  mesh: Any
  dev_params: Any
  base_key: Any
  ckpt: Any
  bar: Any
  callback: Callable | None
  phase1: dict = dataclasses.field(default_factory=dict)  # phase 1's results, saved with every phase-2 block

  def progress(self, n: int) -> None:
    if self.bar is not None:
      self.bar.update(n)

  def hyper(self, steps: int):
    cfg = self.config
    h = Hyper(jnp.float32(cfg.learning_rate), jnp.int32(cfg.redirect_steps), jnp.int32(steps),
              jnp.int32(round(cfg.warmup_fraction * steps)))
    return _devices.put_tree(h, _devices.replicated(self.mesh))

  def template(self, entries: Entries):
    return init_shapes(self.spec, self.base_key, self.hyper(1), entries)

  def run_phase(self, phase: int, entries: Entries, resume: dict | None, *, steps: int | None = None,
                start_leaves: list | None = None, chunk_size: int | None = None):
    """Optimise every image of the phase; returns host (images uint8, y [N, k], c [N], history [N, B], acc,
    image leaves). ``start_leaves``: the starting images' leaves for rows with ``entries.warm``."""
    cfg = self.config
    steps = cfg.steps if steps is None else steps
    n_blocks = -(-steps // self.spec.cfg.block_steps)
    n = len(entries.seed)
    lay = _Layout(n, cfg.chunk_size if chunk_size is None else chunk_size, self.mesh, fixed=chunk_size is not None)
    ent_chunks = lay.split(entries)
    template = self.template(entries)
    treedef = jax.tree.structure(template)
    if resume is None:  # placeholders (or starting images): the first block initialises every image itself
      host = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), template)
      if start_leaves is not None:
        img_def = jax.tree.structure(template.image)
        host = host._replace(image=jax.tree.unflatten(img_def, [np.asarray(x) for x in start_leaves]))
      states = lay.split(host)
      done, history, y, c = 0, np.zeros((n, n_blocks), np.float32), None, None
    else:
      states = lay.split(jax.tree.unflatten(treedef, [np.asarray(a) for a in resume["leaves"]]))
      done, history = int(resume["block"]), np.asarray(resume["history"])
      y, c = np.asarray(resume["y"]), np.asarray(resume["c"])
    self.progress(done if phase <= 2 else 0)
    block, hyper = None, self.hyper(steps)
    for b in range(done, n_blocks):
      step0 = _devices.put(np.int32(b * self.spec.cfg.block_steps), lay.replicated)
      args = (self.dev_params, self.base_key, hyper)
      if block is None:
        block = compiled_block(self.spec, self.mesh, args + (ent_chunks[0], states[0], step0), lay.batch)
      outs = [block(*args, e, s, step0) for e, s in zip(ent_chunks, states)]
      states = [o[0] for o in outs]
      y, c = lay.join([o[1] for o in outs]), lay.join([o[2] for o in outs])
      history[:, b] = c
      if self.ckpt is not None and phase <= 2:
        self.ckpt.save((phase - 1) * cfg.n_blocks + b + 1, ckpt_lib.payload(
            phase, b + 1, history, y, c, jax.tree.leaves(lay.join(states)), self.phase1))
      self.progress(1 if phase <= 2 else 0)
      if self.callback is not None:
        self.callback({"phase": phase, "block": b + 1, "n_blocks": n_blocks, "c": c})
    images_dev = [s.image for s in states]
    render = compiled_render(self.spec, self.mesh, images_dev[0], lay.batch)
    images = lay.join([render(s) for s in images_dev])
    acc = lay.join([s.acc for s in states]) if cfg.transparency else None
    leaves = jax.tree.leaves(lay.join(images_dev))
    return images, y, c, history, acc, leaves

  def evaluate(self, entries: Entries, leaves: list):
    """(y [N, k], c [N]) of given images (their parameterization leaves) under ``entries``."""
    n = len(entries.seed)
    lay = _Layout(n, self.config.chunk_size, self.mesh)
    img_def = jax.tree.structure(self.template(entries).image)
    chunks = lay.split(jax.tree.unflatten(img_def, [np.asarray(x) for x in leaves]))
    ents = lay.split(entries)
    fn = compiled_evaluate(self.spec, self.mesh, (self.dev_params, ents[0], chunks[0]), lay.batch)
    outs = [fn(self.dev_params, e, im) for e, im in zip(ents, chunks)]
    return lay.join([o[0] for o in outs]), lay.join([o[1] for o in outs])


def _run(model_or_fn, params, config, *, layer, pairs, resume_dir, progress, devices, callback,
         unit_maxima: UnitMaxima | None = None, phase1_only: bool = False):
  """:func:`run` and (``phase1_only``, ``pairs`` = [(u, u)]) :func:`unit_maxima`."""
  t_start = time.perf_counter()
  config = SweepConfig() if config is None else config
  pairs_arr, layer = check_inputs(model_or_fn, params, config, layer, pairs)
  if unit_maxima is not None:
    _check_unit_maxima(unit_maxima, config, pairs_arr)
  units = np.unique(pairs_arr)  # phase 1 runs once per distinct unit
  devices = _devices.resolve(devices)
  mesh = _devices.mesh(devices)
  model_name = model_or_fn.name if isinstance(model_or_fn, Model) else "function"
  digest = _io.tree_digest(params)
  function = None if isinstance(model_or_fn, Model) else getattr(model_or_fn, "__qualname__", "?")
  ckpt = None
  if resume_dir is not None:
    ckpt = ckpt_lib._Checkpoint(resume_dir, ckpt_lib.header(
        model=model_name, layer=layer, function=function, pairs=(units if phase1_only else pairs_arr).tolist(),
        params_digest=digest, config=config,
        phase1="only" if phase1_only else (None if unit_maxima is None else _units_digest(unit_maxima))))
    ckpt.check()
  saved = ckpt.restore() if ckpt is not None else None
  compiles0, compile_s0 = stats_snapshot()
  replicated = _devices.replicated(mesh)
  bar = None
  if progress and jax.process_index() == 0:
    from tqdm.auto import tqdm
    bar = tqdm(total=(1 if phase1_only else 2) * config.n_blocks, desc=f"sweep {model_name} {layer or ''}".strip(),
               unit="block")
  session = _Session(Spec.of(model_or_fn, layer, config), config, mesh, _devices.put_tree(params, replicated),
                     _devices.put_key(jax.random.key(config.seed), replicated), ckpt, bar, callback)
  try:
    t1 = time.perf_counter()
    per_unit = _phase1(session, units, saved, unit_maxima)
    if phase1_only:
      return per_unit
    um = per_unit.lookup(pairs_arr)   # fields [P, k, ...]
    scales, guarded = _guard_scales(um.values.max(axis=-1))
    norm = normalisers(um.values, um.neg_values, scales, config.angle_space)
    k = pairs_arr.shape[1]
    directions = config.directions(k)
    t2 = time.perf_counter()
    resume2 = saved if saved is not None and int(saved["phase"]) == 2 else None
    e2 = _phase2_entries(pairs_arr, norm, directions, config.n_seeds)
    imgs2, y2, c2, hist2, acc2, leaves2 = session.run_phase(2, e2, resume2)
    t3 = time.perf_counter()
    axis = _axis_points(session, pairs_arr, norm, um)
    y2_independent = np.asarray(y2, np.float32)  # each seed's own image (refine works on copies)
    ref = refine_lib.refine(session, pairs_arr, norm, directions, (imgs2, y2, leaves2), axis)
    imgs2, y2, c2 = ref["images"], ref["y"], ref["c"]
    t4 = time.perf_counter()
  finally:
    if bar is not None:
      bar.close()
    if ckpt is not None:
      ckpt.close()
  compiles1, compile_s1 = stats_snapshot()
  meta = {
      "versions": _versions(), "devices": [str(d.device_kind) for d in devices], "platform": devices[0].platform,
      "n_devices": len(devices), "process_count": jax.process_count(),
      "objective": "exact" if config.floor is None else "floored",
      "objective_form": objectives.describe(config.p, config.floor),
      "objective_schedule": (f"floored floor={config.warmup_floor} for the first {config.warmup_fraction:g} of "
                             f"each optimisation's steps, then {objectives.describe(config.p, config.floor)}"
                             if config.warmup_floor is not None and config.warmup_fraction > 0 else
                             objectives.describe(config.p, config.floor)),
      "reported_c": objectives.describe(config.p, None if objectives.exact_allowed(config.p) else config.floor),
      "angle_space": config.angle_space, "params_digest": digest, "function": function,
      "scale_guarded": guarded, "phase1_seconds": t2 - t1, "phase2_seconds": t3 - t2, "refine_seconds": t4 - t3,
      "total_seconds": time.perf_counter() - t_start, "compile_seconds": compile_s1 - compile_s0,
      "compiles": compiles1 - compiles0, "refinement": ref["meta"],
      "image_steps": {"phase1": 0 if unit_maxima is not None or resume2 is not None else
                      int(len(units) * 2 * config.n_seeds * config.steps),
                      "phase2": int(len(e2.seed) * config.steps), "refine": ref["meta"]["image_steps"]},
      "resumed_from": None if saved is None else {"phase": int(saved["phase"]), "block": int(saved["block"])},
      "phase1_units": int(len(units)), "phase1_reused": unit_maxima is not None,
  }
  shape = (len(pairs_arr), len(directions), config.n_seeds)
  return SweepResult(
      config=config.to_dict(), model=model_name, layer=layer, readout=objectives.readout_name(config.readout),
      pairs=pairs_arr, thetas=config.thetas if k == 2 else directions, scales=scales, unit_values=um.values,
      unit_images=um.images, y=y2.reshape(*shape, k), c=c2.reshape(shape),
      images=imgs2.reshape(*shape, *imgs2.shape[1:]), history=hist2.reshape(*shape, -1), meta=meta,
      transparency=None if acc2 is None else acc2.reshape(*shape, *acc2.shape[1:]),
      norm=norm, unit_neg_values=um.neg_values, axis_y=ref["axis_y"], y_phase2=y2_independent.reshape(*shape, k))


def _check_unit_maxima(unit_maxima, config: SweepConfig, pairs_arr: np.ndarray) -> None:
  if not isinstance(unit_maxima, UnitMaxima):
    raise errors.FcjaxError(f"unit_maxima must be a fcjax.sweep.UnitMaxima, got {type(unit_maxima).__name__}")
  if unit_maxima.values.shape[1:] != (config.n_seeds,):
    raise errors.ConfigMismatchError(f"unit_maxima holds {unit_maxima.values.shape[1:]} seeds per unit, the config "
                                     f"asks for n_seeds={config.n_seeds}: recompute it with this config")
  unit_maxima.lookup(pairs_arr)  # every unit present


def _phase1(session: _Session, units: np.ndarray, saved: dict | None, given: UnitMaxima | None) -> UnitMaxima:
  """Phase 1: every distinct unit maximised and minimised, n_seeds seeds each (rows enumerate (unit, sign, seed)); or
  its results from ``given`` (unit_maxima=) or from a checkpoint saved in phase 2. Sets ``session.phase1``."""
  n_blocks, n_seeds = session.config.n_blocks, session.config.n_seeds
  if given is not None:
    session.progress(n_blocks)
    return UnitMaxima(*given)
  if saved is not None and int(saved["phase"]) == 2:
    per_unit = UnitMaxima.from_arrays({k[3:]: v for k, v in saved.items() if k.startswith("p1_")} | {"units": units})
    session.phase1 = {"p1_" + k: v for k, v in per_unit.to_arrays().items() if k != "units"}
    session.progress(n_blocks)
    return per_unit
  uu, sg, su = np.meshgrid(np.arange(len(units)), np.arange(2), np.arange(n_seeds), indexing="ij")
  uu, sg, su = uu.reshape(-1), sg.reshape(-1), su.reshape(-1)
  sign = np.where(sg == 0, 1.0, -1.0)
  e1 = make_entries(np.stack([units[uu], units[uu]], 1), np.stack([sign, np.zeros_like(sign)], 1),
                    np.ones((len(uu), 4)), True, False, STREAM_AXES, su)
  imgs1, y1, _, _, _, leaves1 = session.run_phase(1, e1, saved)
  vals = y1[:, 0].reshape(len(units), 2, n_seeds)
  _check_finite(vals, units, session.spec.layer)
  best = np.stack([best_seed(vals[:, 0]), best_seed(-vals[:, 1])], 1)  # [U, 2]
  rows = (np.arange(len(units))[:, None] * 2 + np.arange(2)[None]) * n_seeds + best  # [U, 2] flat rows
  imgs = imgs1[rows]
  per_unit = UnitMaxima(units.astype(np.int32), vals[:, 0], imgs[:, 0], vals[:, 1], imgs[:, 1],
                        tuple(np.asarray(leaf)[rows] for leaf in leaves1))
  session.phase1 = {"p1_" + k: v for k, v in per_unit.to_arrays().items() if k != "units"}
  return per_unit


def _check_finite(vals: np.ndarray, units: np.ndarray, layer: str | None) -> None:
  """NonFiniteError naming the first unit whose every seed of a half-axis gave NaN/Inf (vals [U, 2, S]): its
  activations are not finite wherever the optimiser went, and no verdict could rest on them. A single diverged seed
  is not an error (the measures say so per quadrant)."""
  bad = ~np.isfinite(vals).any(axis=-1)  # [U, 2]
  if bad.any():
    u, side = (int(v) for v in np.argwhere(bad)[0])
    where = f"unit {int(units[u])} of {layer}" if layer else f"feature {int(units[u])}"
    raise errors.NonFiniteError(
        f"{where} gave NaN/Inf in every seed when {'maximised' if side == 0 else 'minimised'}: its activations are "
        "not finite there; check the weights (fcjax refuses non-finite weight files) and the input size")


def _phase2_entries(pairs_arr: np.ndarray, norm: np.ndarray, directions: np.ndarray, n_seeds: int) -> Entries:
  """Phase 2's rows: (combination, direction, seed), cosdot toward each direction [A, k] in the normalised space."""
  pp, aa, ss = (g.reshape(-1) for g in np.meshgrid(np.arange(len(pairs_arr)), np.arange(len(directions)),
                                                   np.arange(n_seeds), indexing="ij"))
  return make_entries(pairs_arr[pp], directions[aa], norm[pp], False, False, STREAM_ANGLES, ss)


def _axis_points(session: _Session, pairs_arr, norm, um: UnitMaxima):
  """The half-axis phase's best images seen by every unit of each combination of k: (y [P, 2k, k],
  leaves [P*2k, ...], images [P*2k, ...]); half-axes in the order u0+, u0-, u1+, ..."""
  p, k = pairs_arr.shape
  pp = np.repeat(np.arange(p), 2 * k)
  slot = np.tile(np.repeat(np.arange(k), 2), p)
  side = np.tile([0, 1] * k, p)
  leaves = [np.asarray(leaf)[pp, slot, side] for leaf in um.image_leaves]
  h = np.zeros((2 * k * p, k))
  h[np.arange(2 * k * p), slot] = np.where(side == 0, 1.0, -1.0)
  e = make_entries(pairs_arr[pp], h, norm[pp], True, True, STREAM_AXES, np.zeros(2 * k * p))
  y, _ = session.evaluate(e, leaves)
  images = np.where((side == 0)[:, None, None, None], um.images[pp, slot], um.neg_images[pp, slot])
  return {"y": np.asarray(y).reshape(p, 2 * k, k), "leaves": leaves, "images": images}


def _versions() -> dict:
  import importlib.metadata as md
  from fcjax._version import __version__
  out = {"fcjax": __version__}
  for pkg in ("jax", "jaxlib", "optax", "orbax-checkpoint"):
    try:
      out[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      out[pkg] = None
  return out
