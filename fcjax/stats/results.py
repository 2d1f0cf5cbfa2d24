"""What a statistics pass produced (:class:`LayerStats`, :class:`StatsResult`) and its file format (one ``.npz``)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from fcjax import _io, _readout, errors
from fcjax.stats.moments import Moments
from fcjax.stats.pairs import PAIR_KINDS

FORMAT = "fcjax.StatsResult/1"
_LAYER_ARRAYS = ("mean", "std", "corr", "dead", "samples", "sample_index")  # per layer, in every stats file
VERSION = 1


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
    if readout is not None and _readout.name(readout) != m.get("readout"):
      diffs.append(f"readout {m.get('readout')!r} in the stats file, {_readout.name(readout)!r} requested")
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
  except zipfile.BadZipFile:
    raise errors.FcjaxError(f"{path} is not a readable fcjax stats file (truncated or not an .npz); make it again "
                            "with fcjax stats") from None
  except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
    raise errors.FcjaxError(f"{path} is not a readable fcjax stats file: {errors.one_line(e)}") from None
  if not isinstance(header, dict):
    raise errors.FcjaxError(f"{path} is not a complete fcjax stats file (its header is a {type(header).__name__}, "
                            "not an object); make it again with fcjax stats")
  if header.get("format") != FORMAT:
    raise errors.FcjaxError(f"{path} is not an fcjax stats file (format {header.get('format')!r}, expected {FORMAT!r})")
  missing = [k for k in ("meta", "layers") if k not in header]
  missing += [f"l{t}.{a}" for t in range(len(header.get("layers", []))) for a in _LAYER_ARRAYS
              if f"l{t}.{a}" not in arrays]
  if missing:
    raise errors.FcjaxError(f"{path} is not a complete fcjax stats file (missing {', '.join(missing[:3])}); make it "
                            "again with fcjax stats")
  layers = {}
  for t, lm in enumerate(header["layers"]):
    p = f"l{t}."
    pairs = {kind: [(int(i), int(j), float(r)) for i, j, r in v] for kind, v in lm["pairs"].items()}
    layers[lm["layer"]] = LayerStats(layer=lm["layer"], count=int(lm["count"]), mean=arrays[p + "mean"],
                                     std=arrays[p + "std"], corr=arrays[p + "corr"], dead=arrays[p + "dead"],
                                     samples=arrays[p + "samples"], pairs=pairs,
                                     sample_index=arrays[p + "sample_index"], comoment=arrays.get(p + "comoment"))
  return StatsResult(meta=header["meta"], layers=layers)

