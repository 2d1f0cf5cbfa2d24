"""One pass over an image stream: moments, sample and pairs of every requested layer (``fcjax.stats.compute``)."""

from __future__ import annotations

import logging
import os
import pathlib
import time
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from fcjax import _io, _readout, errors
from fcjax.stats.forward import _forward, _placement
from fcjax.stats.moments import moments_finalize, moments_init
from fcjax.stats.pairs import select_pairs
from fcjax.stats.results import FORMAT, VERSION, LayerStats, StatsResult
from fcjax.stats.resume import STATE_FORMAT, _State
from fcjax.stats.sample import sample_init

log = logging.getLogger("fcjax.stats")


def compute(model, params, source, layers: str | Sequence[str], *, readout: Any = "neuron",
            input_size: int | None = None, batch_size: int = 32, n_samples: int = 1000, k: int = 5,
            state_path: str | os.PathLike | None = None, progress: bool = False, max_images: int | None = None,
            seed: int = 0, checkpoint_every: int = 10_000, devices: Any = None, dtype: Any = None,
            weights_label: str | None = None) -> StatsResult:
  """Unit statistics of ``layers`` of ``model`` over the images of ``source`` (the :mod:`fcjax.stats` docstring).

  Args:
    model: a :class:`~fcjax.models.Model`.
    params: its parameters (hashed into ``meta['weights_digest']``).
    source: an image source (``fcjax.data``): ``name``, ``len()``, ``skipped``, ``batches(batch_size, size, start=)``.
    layers: one tensor name or several (any spelling the model accepts); one forward pass serves them all.
    readout: 'neuron' (centre position H//2, W//2), 'channel' (spatial mean) or an explicit (row, col). Vector
      tensors (logits) are used as they are.
    input_size: square input side in pixels (default ``model.input_size``); images are resized (shorter side) and
      centre-cropped to it.
    batch_size: images per forward pass (does not change the result).
    n_samples: images whose full activation vectors are kept for point clouds (bottom-k sample, see above).
    k: pairs selected per kind.
    state_path: resume file (``.npz``); created, updated every ``checkpoint_every`` images and on interruption, and
      read to continue an interrupted run with the same configuration.
    progress: show a progress bar with images/s on stderr.
    max_images: use the first ``max_images`` readable images of the stream (None: all). More than the dataset has: all
      are used, with a warning and a note in ``meta['notes']``.
    seed: seed of the sample's hash.
    checkpoint_every: images between state saves.
    devices: None (all local devices, as many as divide ``batch_size``), a count, or a list of devices.
    dtype: compute dtype of the model (default float32; statistics are float64 regardless).
    weights_label: what the weights are, for people (a file name, 'random (seed 0)'); stored as ``meta['weights']``.

  Returns:
    A :class:`StatsResult`.

  Several processes (``fcjax.distributed.initialize``): every process calls this with the same arguments; each reads
  its contiguous share of the first ``max_images`` stream positions, and all return the merged result (equal to one
  process's to float64 rounding when no image is unreadable). Only one process should write it
  (``fcjax.distributed.is_writer``).

  Raises (before anything is compiled): UnknownLayerError, InputSizeError, DatasetError (empty source),
  ConfigMismatchError (state file from another configuration), FcjaxError (bad arguments).
  """
  import jax  # noqa: PLC0415

  kwargs = dict(readout=readout, input_size=input_size, batch_size=batch_size, n_samples=n_samples, k=k,
                state_path=state_path, progress=progress, max_images=max_images, seed=seed,
                checkpoint_every=checkpoint_every, devices=devices, dtype=dtype, weights_label=weights_label)
  if jax.process_count() > 1 and not hasattr(source, "offset"):
    return _over_processes(model, params, source, layers, **kwargs)
  return _compute_one(model, params, source, layers, **kwargs)


def process_state_path(state_path: str | os.PathLike, process_id: int, num_processes: int) -> pathlib.Path:
  """The resume file of process ``process_id`` of ``num_processes``: ``<stem>.p<I>of<N><suffix>`` beside
  ``state_path``."""
  p = pathlib.Path(state_path)
  return p.with_name(f"{p.stem}.p{int(process_id)}of{int(num_processes)}{p.suffix}")


def state_files(state_path: str | os.PathLike) -> list[pathlib.Path]:
  """Every resume file of a statistics pass at ``state_path`` that exists: the one-process file and those of any
  process count (:func:`process_state_path`)."""
  import glob  # noqa: PLC0415

  p = pathlib.Path(state_path)
  found = sorted(p.parent.glob(f"{glob.escape(p.stem)}.p*of*{glob.escape(p.suffix)}"))
  return ([p] if p.exists() else []) + found


def _over_processes(model, params, source, layers, *, max_images, state_path, **kwargs) -> StatsResult:
  """Every process reads its contiguous share of the first ``max_images`` stream positions
  (:func:`fcjax.distributed.process_slice`), the parts travel to every process exactly
  (:func:`fcjax.distributed.allgather_objects`) and are merged (:func:`fcjax.stats.merge`): every process returns the
  same result, equal to one process's over those positions up to float64 rounding. Each process resumes from its own
  state file (``state_path`` with ``.p<I>of<N>`` before the suffix)."""
  import jax  # noqa: PLC0415

  from fcjax import distributed  # noqa: PLC0415
  from fcjax.data.shard import shard  # noqa: PLC0415
  from fcjax.stats.merge import merge  # noqa: PLC0415

  available = len(source)
  if available == 0:
    raise errors.DatasetError(f"dataset {source.name} has no images")
  if max_images is not None and int(max_images) < 1:
    raise errors.FcjaxError(f"max_images must be >= 1 or None, got {max_images}")
  target = available if max_images is None else min(int(max_images), available)
  start, stop = distributed.process_slice(target)
  pid, count = jax.process_index(), jax.process_count()
  if state_path is not None:
    state_path = process_state_path(state_path, pid, count)
  part = _compute_one(model, params, shard(source, start, stop), layers, max_images=None, state_path=state_path,
                      **kwargs)
  merged = merge(distributed.allgather_objects(part))
  notes = list(merged.meta["notes"])
  if max_images is not None and int(max_images) > available:
    notes.append(f"asked for {int(max_images)} images, the dataset {source.name} has {available}: used all")
  merged.meta.update(dataset_size=available, requested_images=max_images, n_processes=count, notes=notes)
  return merged


def _compute_one(model, params, source, layers, *, readout, input_size, batch_size, n_samples, k, state_path,
                 progress, max_images, seed, checkpoint_every, devices, dtype, weights_label) -> StatsResult:
  """:func:`compute` in this process alone, over all of ``source`` (a shard: its positions)."""
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from fcjax._version import __version__  # noqa: PLC0415

  t_start = time.perf_counter()
  # --- validate everything before any compilation
  names = (layers,) if isinstance(layers, str) else tuple(layers)
  if not names:
    raise errors.FcjaxError("no layers requested")
  canon = tuple(dict.fromkeys(model.canonical(n) for n in names))
  size = int(model.input_size if input_size is None else input_size)
  for name in canon:
    model.check_size(name, size)
  if int(batch_size) < 1:
    raise errors.FcjaxError(f"batch_size must be >= 1, got {batch_size}")
  if int(n_samples) < 0 or int(k) < 0:
    raise errors.FcjaxError(f"n_samples and k must be >= 0, got {n_samples} and {k}")
  if max_images is not None and int(max_images) < 1:
    raise errors.FcjaxError(f"max_images must be >= 1 or None, got {max_images}")
  readout = _readout.parse(readout)
  dtype = jnp.float32 if dtype is None else dtype
  batch_size, n_samples, k = int(batch_size), int(n_samples), int(k)
  available = len(source)
  if available == 0:
    raise errors.DatasetError(f"dataset {source.name} has no images")
  notes = []
  target = available
  if max_images is not None:
    if int(max_images) > available:
      notes.append(f"asked for {int(max_images)} images, the dataset {source.name} has {available}: used all")
      warnings.warn(notes[-1], stacklevel=2)
    target = min(int(max_images), available)

  # shapes of each layer (abstract evaluation: no compilation) for the channel counts and the readout position
  shapes = jax.eval_shape(lambda p, x: model.apply(p, x, layers=canon, dtype=dtype), params,
                          jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
  channels = {n: int(shapes[n].shape[-1]) for n in canon}
  for n in canon:
    _readout.check_position(readout, shapes[n].shape, n, size)
  if n_samples > target:
    notes.append(f"n_samples={n_samples} is more than the {target} images used: the samples hold all of them")

  config = {"format": STATE_FORMAT, "model": model.name, "weights_digest": _io.tree_digest(params), "layers": canon,
            "readout": _readout.name(readout), "input_size": size, "dataset": source.name, "dataset_size": available,
            "max_images": target, "n_samples": n_samples, "seed": int(seed), "dtype": jnp.dtype(dtype).name}
  if getattr(source, "offset", 0):
    config["offset"] = int(source.offset)
  path = None if state_path is None else pathlib.Path(state_path)
  if path is not None and path.exists():
    state = _State.load(path, config)
    log.info("resuming %s from image %d (position %d)", path, state.count, state.position)
  else:
    offset = int(getattr(source, "offset", 0))  # a shard starts at its first global position
    state = _State(config, offset, 0, 0, {n: moments_init(c) for n, c in channels.items()}, sample_init(channels))

  # --- the pass
  forward = _forward(model, canon, readout, dtype)
  put_params, put_images, _ = _placement(devices, batch_size)
  dev_params = put_params(params)
  skipped0 = getattr(source, "skipped", 0)
  last_saved = count0 = state.count

  def absorb(vectors: dict, index: np.ndarray) -> None:
    nonlocal last_saved, state
    _check_finite(vectors, index, source.name)
    state = state.absorb(vectors, index, n_samples, seed)  # one rebinding: atomic under KeyboardInterrupt
    if path is not None and state.count - last_saved >= checkpoint_every:
      state.save(path)
      last_saved = state.count

  pending = None  # (device outputs, index): the batch in flight, absorbed after the next one is dispatched
  try:
    if state.count < target:
      from fcjax.data.pipeline import progress as progress_bar  # noqa: PLC0415

      stream = progress_bar(source.batches(batch_size, size, start=state.position), total=target,
                            initial=state.count, desc="stats", enabled=progress)
      queued = state.count
      try:
        for batch in stream:
          index = np.asarray(batch["index"], np.int64)
          take = min(len(index), target - queued)
          images = np.asarray(batch["images"], np.float32)[:take]
          index = index[:take]
          if take < batch_size:  # pad the partial batch: one compiled shape
            images = np.concatenate([images, np.zeros((batch_size - take,) + images.shape[1:], np.float32)])
          out = forward(dev_params, put_images(images))  # dispatched asynchronously
          if pending is not None:
            absorb(*_fetch(*pending))
          pending = (out, index)
          queued += take
          if queued >= target:
            break
      finally:
        stream.close()  # stop the decode threads now (not when garbage collected)
      if pending is not None:
        absorb(*_fetch(*pending))
        pending = None
      if queued < target:  # the stream ended: trailing unreadable images were skipped too
        end = int(getattr(source, "offset", 0)) + available
        state = state._replace(skipped=state.skipped + max(0, end - state.position), position=max(state.position, end))
  except BaseException:
    if path is not None and state.count > last_saved:
      state.save(path)
      log.info("interrupted: state saved to %s at image %d", path, state.count)
    raise
  if state.count == 0:
    raise errors.DatasetError(f"none of the images of {source.name} could be read "
                              f"({getattr(source, 'skipped', 0) - skipped0} skipped)")
  if path is not None and state.count > last_saved:
    state.save(path)

  # --- results
  wall = time.perf_counter() - t_start
  out_layers = {}
  for name in canon:
    mean, std, corr, dead = moments_finalize(state.moments[name])
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):  # finite activations whose squares overflow
      unit = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))[0])
      raise errors.NonFiniteError(f"{name} unit {unit}: its statistics overflow (mean {mean[unit]}, std "
                                  f"{std[unit]}); the activations are too large to average")
    out_layers[name] = LayerStats(layer=name, count=state.count, mean=mean, std=std, corr=corr, dead=dead,
                                  samples=state.sample.vectors[name], pairs=select_pairs(corr, k, dead),
                                  sample_index=state.sample.index, comoment=state.moments[name].m2)
  if state.skipped:
    notes.append(f"{state.skipped} unreadable images were skipped")
  meta = {"format": FORMAT, "version": VERSION, "model": model.name, "weights_digest": config["weights_digest"],
          "readout": config["readout"], "input_size": size, "dataset": source.name, "dataset_size": available,
          "count": state.count, "requested_images": max_images, "skipped": state.skipped, "layers": list(canon),
          "n_samples": n_samples, "seed": int(seed), "k": k, "dtype": config["dtype"], "notes": notes,
          "weights": weights_label, "fcjax_version": __version__, "wall_s": round(wall, 3),
          "images_per_s": round((state.count - count0) / wall, 2) if wall > 0 else None}
  return StatsResult(meta=meta, layers=out_layers)


def _check_finite(vectors: Mapping[str, np.ndarray], index: np.ndarray, dataset: str) -> None:
  """Stop at the first non-finite activation (``vectors``: layer -> [n, C] for the images at stream positions
  ``index``), naming the layer, unit and image: NaN statistics would otherwise pass for "0 dead units"."""
  for name, v in vectors.items():
    bad = ~np.isfinite(v)
    if bad.any():
      row, unit = (int(a[0]) for a in np.nonzero(bad))
      raise errors.NonFiniteError(
          f"{name} unit {unit} is {v[row, unit]} on image {int(index[row])} of {dataset} ({int(bad.any(0).sum())} "
          f"of {v.shape[1]} units non-finite in this batch); the statistics would be meaningless: check the weights "
          "and the model")


def _fetch(out: Mapping[str, Any], index: np.ndarray) -> tuple[dict, np.ndarray]:
  n = len(index)
  return {name: np.asarray(v)[:n] for name, v in out.items()}, index
