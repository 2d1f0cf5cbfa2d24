"""The resume file of a statistics pass: the accumulated state, immutable, saved atomically."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any, Mapping, NamedTuple

import numpy as np

from fcjax import _io, errors
from fcjax.stats.moments import Moments, moments_update
from fcjax.stats.sample import Sample, sample_update

STATE_FORMAT = "fcjax.StatsState/1"


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

