"""Activation statistics of a model's units on an image stream, and the choice of unit pairs to probe.

For each requested layer and one unit readout ('neuron': the channel at the spatial centre ``(H//2, W//2)``;
'channel': the channel averaged over space; or an explicit ``(row, col)``), one pass over the data gives:

* the exact mean, standard deviation and correlation of every channel pair, accumulated in float64 on the host from
  per-batch moments merged with the pairwise update of Chan, Golub & LeVeque (1979): state ``(n, mean, M2)`` with
  ``M2 = sum (x - mean)(x - mean)^T``; merging is exact up to float64 rounding, so batches of any size, shards from
  several devices and resumed runs all give the same answer. JAX stays in 32 bit (no ``jax_enable_x64``).
* dead units (zero variance) flagged in ``dead``; their correlations are NaN (never divided by) and they are never
  part of a selected pair.
* a bounded sample of per-image activation vectors (all channels, up to ``n_samples`` images) for the point clouds.
  The sample is the ``n_samples`` images with the smallest ``hash(seed, stream index)`` (a "bottom-k" sample): a
  uniform random subset without replacement that depends only on the seed and which images were seen, not on the
  batch size, the order, the devices or interruptions. When the stream has at most ``n_samples`` images, it is all
  of them. Samples are stored in stream order with their stream indices.
* the ``k`` pairs (i < j, live units) with the highest, the lowest and the closest-to-zero correlation.

Several layers share one jitted forward pass that stops at the deepest of them (compiled once: the last, partial
batch is padded to ``batch_size``). Batches are split over the local devices when ``batch_size`` allows.

With ``state_path`` the run is interrupt-safe: the accumulated state is written there (temp file + rename) every
``checkpoint_every`` images and when the run is interrupted (Ctrl-C or any exception); calling :func:`compute` again
with the same arguments continues from the saved position and gives the same answer. A state file made with a
different configuration (model, weights, layers, readout, input size, dataset, ...) is refused with
:class:`~fcjax.errors.ConfigMismatchError` naming the difference. ``StatsResult.save`` writes one ``.npz`` file
(arrays + a JSON header) atomically; :func:`load` reads it.

Example::

    model = fcjax.models.get('inceptionv1')
    res = fcjax.stats.compute(model, params, fcjax.data.folder(root), ['conv2d2_pre_relu'], readout='neuron')
    res.layers['conv2d2_pre_relu'].pairs['lowest'][0]   # (i, j, r): the most anti-correlated pair
    res.save('conv2d2.stats.npz')
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pathlib
import time
import warnings
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from fcjax import _io, errors

log = logging.getLogger("fcjax.stats")

FORMAT = "fcjax.StatsResult/1"
STATE_FORMAT = "fcjax.StatsState/1"
VERSION = 1
PAIR_KINDS = ("highest", "lowest", "zero")
# A unit is dead when its standard deviation is below this fraction of |mean| (or exactly zero): float64 rounding of
# a constant unit's mean is ~1e-16 relative, the smallest real variation of a float32 activation ~6e-8 relative.
DEAD_RTOL = 1e-10


# --- mergeable moments -------------------------------------------------------------------------------------------

class Moments(NamedTuple):
  """Streaming first and second moments of C-dimensional vectors, in float64.

  Attributes:
    n: number of vectors accumulated.
    mean: float64 [C].
    m2: float64 [C, C] co-moment ``sum_t (x_t - mean)(x_t - mean)^T``.
  """

  n: int
  mean: np.ndarray
  m2: np.ndarray


def moments_init(channels: int) -> Moments:
  """Empty moments of ``channels``-dimensional vectors."""
  return Moments(0, np.zeros(channels, np.float64), np.zeros((channels, channels), np.float64))


def moments_of(x: np.ndarray) -> Moments:
  """Moments of a batch ``x`` [B, C] (two-pass in float64)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"expected vectors [B, C], got shape {x.shape}")
  if x.shape[0] == 0:
    return moments_init(x.shape[1])
  mean = x.mean(axis=0)
  d = x - mean
  return Moments(x.shape[0], mean, d.T @ d)


def moments_merge(a: Moments, b: Moments) -> Moments:
  """The moments of the union of two disjoint sets (Chan et al.'s pairwise update)."""
  if b.n == 0:
    return a
  if a.n == 0:
    return b
  n = a.n + b.n
  delta = b.mean - a.mean
  mean = a.mean + delta * (b.n / n)
  m2 = a.m2 + b.m2 + np.outer(delta, delta) * (a.n * b.n / n)
  return Moments(n, mean, m2)


def moments_update(m: Moments, x: np.ndarray) -> Moments:
  """``m`` updated with the batch ``x`` [B, C]."""
  return moments_merge(m, moments_of(x))


def moments_finalize(m: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """``(mean [C], std [C], corr [C, C], dead [C] bool)`` from moments.

  ``std`` is the population standard deviation (divides by n). ``corr`` has NaN in the rows and columns of dead
  units and 1 on the diagonal of live ones; it is exactly symmetric.
  """
  c = m.mean.shape[0]
  if m.n == 0:
    return m.mean.copy(), np.zeros(c), np.full((c, c), np.nan), np.ones(c, bool)
  var = np.maximum(np.diag(m.m2) / m.n, 0.0)
  std = np.sqrt(var)
  dead = (std == 0) | (std <= DEAD_RTOL * np.abs(m.mean))
  scale = np.where(dead, np.nan, np.sqrt(np.where(dead, 1.0, np.diag(m.m2))))
  corr = m.m2 / scale[:, None] / scale[None, :]
  corr = np.clip((corr + corr.T) / 2, -1.0, 1.0)  # NaN stays NaN
  live = np.flatnonzero(~dead)
  corr[live, live] = 1.0
  return m.mean.copy(), std, corr, dead


# --- bottom-k sample -----------------------------------------------------------------------------------------------

def _splitmix64(x: np.ndarray) -> np.ndarray:
  """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective mixing of uint64 values."""
  with np.errstate(over="ignore"):
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_priority(index: np.ndarray, seed: int) -> np.ndarray:
  """uint64 priority of each stream index: images with the smallest priorities form the sample."""
  with np.errstate(over="ignore"):
    key = _splitmix64(np.asarray([seed], np.uint64))[0]
    return _splitmix64(np.asarray(index, np.uint64) ^ key)


class Sample(NamedTuple):
  """A bottom-k sample: ``index`` int64 [m], ``priority`` uint64 [m], ``vectors`` {layer: float32 [m, C]}."""

  index: np.ndarray
  priority: np.ndarray
  vectors: dict


def sample_init(channels: Mapping[str, int]) -> Sample:
  return Sample(np.zeros(0, np.int64), np.zeros(0, np.uint64),
                {l: np.zeros((0, c), np.float32) for l, c in channels.items()})


def sample_update(s: Sample, index: np.ndarray, vectors: Mapping[str, np.ndarray], n: int, seed: int) -> Sample:
  """Keep the ``n`` images of ``s`` plus the new ones with the smallest priorities (ordered by stream index)."""
  index = np.concatenate([s.index, np.asarray(index, np.int64)])
  priority = np.concatenate([s.priority, sample_priority(index[len(s.index):], seed)])
  keep = np.argsort(priority, kind="stable")[:n]
  keep = keep[np.argsort(index[keep], kind="stable")]
  return Sample(index[keep], priority[keep],
                {l: np.concatenate([s.vectors[l], np.asarray(v, np.float32)])[keep] for l, v in vectors.items()})


# --- pair selection ------------------------------------------------------------------------------------------------

def select_pairs(corr: np.ndarray, k: int = 5,
                 dead: np.ndarray | None = None) -> dict[str, list[tuple[int, int, float]]]:
  """The ``k`` pairs ``(i, j, r)`` (i < j) with the highest, the lowest and the closest-to-zero correlation.

  Dead units (``dead``, or NaN correlations) are left out. Ties are broken by ``(i, j)`` order.

  Returns:
    ``{'highest': [...], 'lowest': [...], 'zero': [...]}``, each sorted best first.
  """
  corr = np.asarray(corr, np.float64)
  c = corr.shape[0]
  i, j = np.triu_indices(c, k=1)
  r = corr[i, j]
  ok = np.isfinite(r)
  if dead is not None:
    dead = np.asarray(dead, bool)
    ok &= ~dead[i] & ~dead[j]
  i, j, r = i[ok], j[ok], r[ok]
  k = max(0, int(k))

  def take(order) -> list[tuple[int, int, float]]:
    return [(int(i[t]), int(j[t]), float(r[t])) for t in order[:k]]

  # lexsort's last key is primary; the pair order (i, j) = position breaks ties
  pos = np.arange(len(r))
  return {"highest": take(np.lexsort((pos, -r))), "lowest": take(np.lexsort((pos, r))),
          "zero": take(np.lexsort((pos, np.abs(r))))}


# --- results -------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class LayerStats:
  """Statistics of one layer's units (C channels) over ``count`` images.

  Attributes:
    layer: canonical tensor name.
    count: images accumulated.
    mean: float64 [C] mean activation.
    std: float64 [C] population standard deviation.
    corr: float64 [C, C] correlation (NaN in the rows and columns of dead units).
    dead: bool [C] units with zero variance.
    samples: float32 [n, C] activation vectors of the sampled images (n <= n_samples), stream order.
    pairs: ``{'highest' | 'lowest' | 'zero': [(i, j, r), ...]}`` (see :func:`select_pairs`).
    sample_index: int64 [n] stream index of each sampled image.
    comoment: float64 [C, C] the co-moment M2 (so that results on disjoint data can be merged exactly).
  """

  layer: str
  count: int
  mean: np.ndarray
  std: np.ndarray
  corr: np.ndarray
  dead: np.ndarray
  samples: np.ndarray
  pairs: dict
  sample_index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
  comoment: np.ndarray | None = None

  @property
  def channels(self) -> int:
    return int(self.mean.shape[0])

  def moments(self) -> Moments:
    """The mergeable moments behind these statistics."""
    if self.comoment is None:
      raise errors.FcjaxError(f"stats of {self.layer} carry no co-moment matrix")
    return Moments(self.count, self.mean, self.comoment)


@dataclasses.dataclass(frozen=True, eq=False)
class StatsResult:
  """What :func:`compute` produced: provenance in ``meta`` and one :class:`LayerStats` per layer.

  ``meta`` keys: format, version, model, weights (label), weights_digest, readout, input_size, dataset, dataset_size,
  count, requested_images, skipped, layers, n_samples, seed, k, dtype, notes (list of strings, e.g. 'asked for 5000
  images, the dataset has 1000: used all'), fcjax_version, wall_s and images_per_s (of this call; a resumed call
  counts only the images it processed).
  """

  meta: dict
  layers: dict

  def __getitem__(self, layer: str) -> LayerStats:
    if layer not in self.layers:
      raise errors.unknown_layer(layer, list(self.layers), f"stats file of {self.meta.get('model')}")
    return self.layers[layer]

  def summary(self) -> str:
    """A few lines: provenance and, per layer, the selected pairs."""
    m = self.meta
    lines = [f"{m.get('model')} readout={m.get('readout')} input={m.get('input_size')}px dataset={m.get('dataset')} "
             f"images={m.get('count')} skipped={m.get('skipped', 0)}"]
    for name, ls in self.layers.items():
      lines.append(f"{name}: {ls.channels} channels, {int(ls.dead.sum())} dead, {len(ls.samples)} samples")
      for kind in PAIR_KINDS:
        pairs = ", ".join(f"({i}, {j}) r={r:+.4f}" for i, j, r in ls.pairs.get(kind, []))
        lines.append(f"  {kind}: {pairs}")
    for note in m.get("notes", []):
      lines.append(f"note: {note}")
    return "\n".join(lines)

  def check_compatible(self, model: Any = None, layer: str | None = None, readout: Any = None,
                       input_size: int | None = None, weights_digest: str | None = None) -> None:
    """Raise :class:`~fcjax.errors.ConfigMismatchError` unless these stats match the given configuration.

    Arguments left as None are not checked. ``model`` is a :class:`~fcjax.models.Model` or a model name; with a
    Model, ``layer`` may be any spelling (alias) of the tensor.
    """
    diffs = []
    m = self.meta
    name = getattr(model, "name", model)
    if name is not None and name != m.get("model"):
      diffs.append(f"model {m.get('model')!r} in the stats file, {name!r} requested")
    if layer is not None:
      canon = layer
      if hasattr(model, "canonical"):
        try:
          canon = model.canonical(layer)
        except errors.UnknownLayerError:
          pass
      if canon not in self.layers:
        diffs.append(f"layer {layer!r} requested, the stats file has {sorted(self.layers)}")
    if readout is not None and _readout_name(readout) != m.get("readout"):
      diffs.append(f"readout {m.get('readout')!r} in the stats file, {_readout_name(readout)!r} requested")
    if input_size is not None and int(input_size) != m.get("input_size"):
      diffs.append(f"input size {m.get('input_size')} px in the stats file, {int(input_size)} px requested")
    if weights_digest is not None and weights_digest != m.get("weights_digest"):
      diffs.append(f"weights digest {str(m.get('weights_digest'))[:12]}... in the stats file, "
                   f"{weights_digest[:12]}... requested")
    if diffs:
      raise errors.ConfigMismatchError("stats file does not match: " + "; ".join(diffs))

  # --- persistence ---------------------------------------------------------------------------------------------
  def save(self, path: str | os.PathLike) -> pathlib.Path:
    """Write one ``.npz`` file (arrays + a JSON header under the key ``header``) atomically; returns the path."""
    path = pathlib.Path(path)
    arrays: dict[str, np.ndarray] = {}
    layers_meta = []
    for t, (name, ls) in enumerate(self.layers.items()):
      p = f"l{t}."
      arrays.update({p + "mean": ls.mean, p + "std": ls.std, p + "corr": ls.corr, p + "dead": ls.dead,
                     p + "samples": ls.samples, p + "sample_index": ls.sample_index})
      if ls.comoment is not None:
        arrays[p + "comoment"] = ls.comoment
      layers_meta.append({"layer": name, "count": ls.count,
                          "pairs": {kind: [list(x) for x in v] for kind, v in ls.pairs.items()}})
    header = {"format": FORMAT, "meta": self.meta, "layers": layers_meta}
    arrays["header"] = np.frombuffer(json.dumps(header, default=_io.jsonable).encode(), np.uint8)
    _io.atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    return path


def load(path: str | os.PathLike) -> StatsResult:
  """Read a stats file written by :meth:`StatsResult.save`."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.FcjaxError(f"stats file {path} does not exist")
  try:
    with np.load(path, allow_pickle=False) as z:
      arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays.pop("header").tobytes().decode())
  except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
    raise errors.FcjaxError(f"{path} is not a readable fcjax stats file: {e}") from None
  if header.get("format") != FORMAT:
    raise errors.FcjaxError(f"{path} is not an fcjax stats file (format {header.get('format')!r}, expected {FORMAT!r})")
  layers = {}
  for t, lm in enumerate(header["layers"]):
    p = f"l{t}."
    pairs = {kind: [(int(i), int(j), float(r)) for i, j, r in v] for kind, v in lm["pairs"].items()}
    layers[lm["layer"]] = LayerStats(layer=lm["layer"], count=int(lm["count"]), mean=arrays[p + "mean"],
                                     std=arrays[p + "std"], corr=arrays[p + "corr"], dead=arrays[p + "dead"],
                                     samples=arrays[p + "samples"], pairs=pairs,
                                     sample_index=arrays[p + "sample_index"], comoment=arrays.get(p + "comoment"))
  return StatsResult(meta=header["meta"], layers=layers)


# --- provenance ----------------------------------------------------------------------------------------------------

def weights_digest(params: Any) -> str:
  """sha256 (hex) over every leaf of ``params``: its tree path, dtype, shape and bytes."""
  import jax  # noqa: PLC0415 - keep `import fcjax.stats` light

  h = hashlib.sha256()
  leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  for path, leaf in leaves:
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.hexdigest()


def _readout_name(readout: Any) -> str:
  if isinstance(readout, str):
    return readout
  try:
    return f"{int(readout[0])},{int(readout[1])}"
  except (TypeError, ValueError, IndexError):
    return repr(readout)


# --- the pass over the data ----------------------------------------------------------------------------------------

_FORWARDS: dict = {}  # (apply, layers, readout, dtype) -> jitted forward: the same configuration compiles once


def _forward(model, layers: tuple[str, ...], readout: Any, dtype) -> Callable:
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from fcjax import objectives  # noqa: PLC0415

  key = (model.apply, layers, _readout_name(readout), jnp.dtype(dtype).name)
  if key not in _FORWARDS:
    def forward(params, images):
      acts = model.apply(params, images, layers=layers, dtype=dtype)
      out = {}
      for name in layers:
        a = acts[name]
        mode = "vector" if a.ndim == 2 else readout
        out[name] = objectives.readout(a, np.arange(a.shape[-1]), mode).astype(jnp.float32)
      return out

    _FORWARDS[key] = jax.jit(forward)
  return _FORWARDS[key]


def _placement(devices: Any, batch_size: int):
  """``(put_params, put_images, n_devices)``: data parallel over the largest device count dividing batch_size."""
  import jax  # noqa: PLC0415
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: PLC0415

  if devices is None:
    devs = jax.local_devices()
  elif isinstance(devices, int):
    devs = jax.local_devices()[:max(1, devices)]
  else:
    devs = list(devices)
  d = max(n for n in range(1, len(devs) + 1) if batch_size % n == 0)
  devs = devs[:d]
  if d == 1:
    return (lambda p: jax.device_put(p, devs[0])), (lambda x: jax.device_put(x, devs[0])), 1
  mesh = Mesh(np.array(devs), ("batch",))
  replicated = NamedSharding(mesh, PartitionSpec())
  split = NamedSharding(mesh, PartitionSpec("batch"))
  return (lambda p: jax.device_put(p, replicated)), (lambda x: jax.device_put(x, split)), d


class _State(NamedTuple):
  """The accumulated pass, immutable: a batch is absorbed by building a new state and rebinding one name, so an
  interrupt (Ctrl-C lands between bytecodes) never leaves some layers updated and others not."""

  config: dict
  position: int  # next stream position to read
  count: int  # images accumulated
  skipped: int
  moments: dict  # layer -> Moments
  sample: Sample

  def save(self, path: pathlib.Path) -> None:
    arrays = {"sample.index": self.sample.index, "sample.priority": self.sample.priority}
    for t, name in enumerate(self.config["layers"]):
      m = self.moments[name]
      arrays.update({f"l{t}.mean": m.mean, f"l{t}.m2": m.m2, f"l{t}.samples": self.sample.vectors[name]})
    header = {"format": STATE_FORMAT, "config": self.config, "position": self.position, "count": self.count,
              "skipped": self.skipped, "saved": time.time()}
    arrays["header"] = np.frombuffer(json.dumps(header, default=_io.jsonable).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    _io.atomic_write(path, lambda f: np.savez(f, **arrays))

  @classmethod
  def load(cls, path: pathlib.Path, config: dict) -> "_State":
    try:
      with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
      header = json.loads(arrays.pop("header").tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
      raise errors.ConfigMismatchError(f"resume file {path} is not a readable fcjax stats state ({e}); delete it or "
                                       "choose another state_path") from None
    if header.get("format") != STATE_FORMAT:
      raise errors.ConfigMismatchError(f"{path} is not an fcjax stats resume file (format {header.get('format')!r}); "
                                       "delete it or choose another state_path")
    saved = header["config"]
    diffs = [f"{k}: {saved.get(k)!r} in the file, {config.get(k)!r} now" for k in sorted(set(saved) | set(config))
             if _canon_json(saved.get(k)) != _canon_json(config.get(k))]
    if diffs:
      raise errors.ConfigMismatchError(f"resume file {path} was made with a different configuration ("
                                       + "; ".join(diffs) + "); delete it or choose another state_path")
    n = int(header["count"])
    layers = config["layers"]
    moments = {name: Moments(n, arrays[f"l{t}.mean"], arrays[f"l{t}.m2"]) for t, name in enumerate(layers)}
    sample = Sample(arrays["sample.index"], arrays["sample.priority"],
                    {name: arrays[f"l{t}.samples"] for t, name in enumerate(layers)})
    return cls(config, int(header["position"]), n, int(header["skipped"]), moments, sample)

  def absorb(self, vectors: Mapping[str, np.ndarray], index: np.ndarray, n_samples: int, seed: int) -> "_State":
    """The state after one batch: ``vectors`` {layer: [B, C]} of the images at stream positions ``index``."""
    moments = {name: moments_update(m, vectors[name]) for name, m in self.moments.items()}
    last = int(index[-1]) + 1
    return self._replace(moments=moments, sample=sample_update(self.sample, index, vectors, n_samples, seed),
                         skipped=self.skipped + last - self.position - len(index), position=last,
                         count=self.count + len(index))


def _canon_json(x: Any) -> str:
  return json.dumps(x, sort_keys=True, default=_io.jsonable)


def compute(model, params, source, layers: str | Sequence[str], *, readout: Any = "neuron",
            input_size: int | None = None, batch_size: int = 32, n_samples: int = 1000, k: int = 5,
            state_path: str | os.PathLike | None = None, progress: bool = False, max_images: int | None = None,
            seed: int = 0, checkpoint_every: int = 10_000, devices: Any = None, dtype: Any = None,
            weights_label: str | None = None) -> StatsResult:
  """Unit statistics of ``layers`` of ``model`` over the images of ``source`` (see the module docstring).

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

  Raises (before anything is compiled): UnknownLayerError, InputSizeError, DatasetError (empty source),
  ConfigMismatchError (state file from another configuration), FcjaxError (bad arguments).
  """
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from fcjax import __version__  # noqa: PLC0415

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
  if isinstance(readout, str):
    if readout not in ("neuron", "channel"):
      raise errors.FcjaxError(f"unknown readout {readout!r}; use 'neuron' (centre position), 'channel' (spatial "
                              "mean) or an explicit (row, col)")
  else:
    try:
      readout = (int(readout[0]), int(readout[1]))
      if len(tuple(readout)) != 2:
        raise ValueError
    except (TypeError, ValueError, IndexError):
      raise errors.FcjaxError(f"readout must be 'neuron', 'channel' or a (row, col) pair, got {readout!r}") from None
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
  if not isinstance(readout, str):
    for n in canon:
      shp = shapes[n].shape
      if len(shp) == 4 and not (0 <= readout[0] < shp[1] and 0 <= readout[1] < shp[2]):
        raise errors.FcjaxError(f"readout position {readout} is outside {n}, which is {shp[1]}x{shp[2]} at "
                                f"{size} px inputs")
  if n_samples > target:
    notes.append(f"n_samples={n_samples} is more than the {target} images used: the samples hold all of them")

  config = {"format": STATE_FORMAT, "model": model.name, "weights_digest": weights_digest(params), "layers": canon,
            "readout": _readout_name(readout), "input_size": size, "dataset": source.name, "dataset_size": available,
            "max_images": target, "n_samples": n_samples, "seed": int(seed), "dtype": jnp.dtype(dtype).name}
  path = None if state_path is None else pathlib.Path(state_path)
  if path is not None and path.exists():
    state = _State.load(path, config)
    log.info("resuming %s from image %d (position %d)", path, state.count, state.position)
  else:
    state = _State(config, 0, 0, 0, {n: moments_init(c) for n, c in channels.items()}, sample_init(channels))

  # --- the pass
  forward = _forward(model, canon, readout, dtype)
  put_params, put_images, _ = _placement(devices, batch_size)
  dev_params = put_params(params)
  skipped0 = getattr(source, "skipped", 0)
  last_saved = count0 = state.count

  def absorb(vectors: dict, index: np.ndarray) -> None:
    nonlocal last_saved, state
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
        state = state._replace(skipped=state.skipped + max(0, available - state.position),
                               position=max(state.position, available))
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


def _fetch(out: Mapping[str, Any], index: np.ndarray) -> tuple[dict, np.ndarray]:
  n = len(index)
  return {name: np.asarray(v)[:n] for name, v in out.items()}, index
