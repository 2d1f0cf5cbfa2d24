"""`SweepResult`: what a cosdot sweep produced, in plain arrays, with save/load in npz + JSON.

Shapes use P combinations of k units (k = 2: pairs, k = 3: triples), A angles (directions), S seeds, B blocks of
steps, H x W image size. Activations ``y`` are raw (unscaled) unit values; ``scales`` are the per-unit maxima of
phase 1 (best over seeds), so the paper's scaled vector is ``y / scales[:, None, None, :]``. A pair's verdicts are
:func:`fcjax.measures.summarize`, a triple's :func:`fcjax.orthants.summarize`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from fcjax import _io, errors, measures, orthants

_ARRAYS = ("pairs", "thetas", "scales", "unit_values", "unit_images", "y", "c", "images", "history")
_OPTIONAL = ("transparency", "norm", "unit_neg_values", "axis_y", "y_phase2")


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
  """The outcome of :func:`fcjax.sweep.run`.

  Attributes:
    config: the ``SweepConfig`` as a plain dict (``fcjax.sweep.SweepConfig(**config)`` rebuilds it).
    model: model name ('inceptionv1', 'demo', 'function' for a bare feature function).
    layer: canonical tensor name (None for a bare feature function).
    readout: 'neuron', 'channel' or 'y,x'.
    pairs: int [P, k] unit indices (channels of ``layer``): pairs (k = 2) or triples (k = 3).
    thetas: pairs: float [A] target angles in radians in the angle space (``config['angle_space']``): the normalised
      space ``normalise(y, norm)``; :attr:`plot_thetas` gives their directions in the paper's scaled space.
      Triples: float [A, 3] unit target directions in that space (:attr:`directions` for either).
    scales: float [P, k] each unit's unconstrained maximum (phase 1), best over seeds.
    unit_values: float [P, k, S] each seed's phase-1 activation of each unit.
    unit_images: uint8 [P, k, H, W, 3] the best seed's phase-1 image of each unit.
    y: float [P, A, S, k] raw unit activations of each final image.
    c: float [P, A, S] cosdot of the normalised y at theta, in the paper's exact form (``meta['reported_c']``),
      whatever schedule was optimised (``meta['objective_schedule']``).
    images: uint8 [P, A, S, H, W, 3] final images.
    history: float [P, A, S, B] cosdot at the end of each block of steps (B = ceil(steps / block_steps)).
    meta: provenance: versions, devices, objective form, weights digest, wall times.
    transparency: optional float [P, A, S, H, W] accumulated |d loss / d image| (MACO).
    norm: float [P, 2k] raw normalisers of the half-axes u0+, u0-, u1+, ... that the angles were aimed with (None in
      a result of an older version: the scales on both sides, the paper's space).
    unit_neg_values: float [P, k, S] each seed's value when minimising each unit (the half-axis phase), or None.
    axis_y: float [P, 2k, k] raw y of the best image along each half-axis u0+, u0-, u1+, ... (every unit), or None.
    y_phase2: float [P, A, S, k] raw y of each seed's image at the end of the angles phase, before refinement (which
      shares images between seeds and angles): the independent seeds that the near-threshold rule compares.
  """

  config: dict
  model: str
  layer: str | None
  readout: str
  pairs: np.ndarray
  thetas: np.ndarray
  scales: np.ndarray
  unit_values: np.ndarray
  unit_images: np.ndarray
  y: np.ndarray
  c: np.ndarray
  images: np.ndarray
  history: np.ndarray
  meta: dict = dataclasses.field(default_factory=dict)
  transparency: np.ndarray | None = None
  norm: np.ndarray | None = None
  unit_neg_values: np.ndarray | None = None
  axis_y: np.ndarray | None = None
  y_phase2: np.ndarray | None = None

  # --- derived views -------------------------------------------------------------------------------------------
  @property
  def k(self) -> int:
    """Units per combination: 2 (pairs) or 3 (triples)."""
    return int(np.asarray(self.pairs).shape[1])

  @property
  def directions(self) -> np.ndarray:
    """float [A, k]: the unit target directions in the angle space ((cos θ, sin θ) for pairs)."""
    th = np.asarray(self.thetas, np.float64)
    return np.stack([np.cos(th), np.sin(th)], axis=-1) if th.ndim == 1 else th

  def _pairs_only(self, what: str) -> None:
    if self.k != 2:
      raise errors.FcjaxError(f"{what} is defined for pairs; this result holds triples: use fcjax.orthants")

  @property
  def y_scaled(self) -> np.ndarray:
    """float [P, A, S, k]: y divided by each unit's scale (the paper's scaled space)."""
    return self.y / self.scales[:, None, None, :]

  @property
  def normalisers(self) -> np.ndarray:
    """float [P, 4]: the half-axis normalisers of the angle space (``norm``, else the scales on both sides)."""
    if self.norm is not None:
      return np.asarray(self.norm)
    return np.repeat(np.asarray(self.scales), 2, axis=1)

  @property
  def plot_thetas(self) -> np.ndarray:
    """float [P, A]: each target angle's direction in the paper's scaled space (y / scales), radians (pairs)."""
    self._pairs_only("plot_thetas")
    th = np.asarray(self.thetas, np.float64)[None]
    n = self.normalisers.astype(np.float64)[:, None, :]
    s = np.asarray(self.scales, np.float64)[:, None, :]
    cx, sy = np.cos(th), np.sin(th)
    x = cx * np.where(cx >= 0, n[..., 0], n[..., 1]) / s[..., 0]
    y = sy * np.where(sy >= 0, n[..., 2], n[..., 3]) / s[..., 1]
    return np.arctan2(y, x)

  @property
  def best_seed(self) -> np.ndarray:
    """int [P, A]: the seed with the highest finite C at each angle (:func:`fcjax.measures.best_seed`)."""
    return measures.best_seed(self.c)

  @property
  def y_best(self) -> np.ndarray:
    """float [P, A, k]: raw y of the best seed at each angle."""
    return np.take_along_axis(self.y, self.best_seed[..., None, None], axis=2)[:, :, 0]

  @property
  def c_mean(self) -> np.ndarray:
    """float [P, A]: mean C over seeds (the radius of the paper's red loop)."""
    return self.c.mean(axis=-1)

  @property
  def c_std(self) -> np.ndarray:
    """float [P, A]: standard deviation of C over seeds."""
    return self.c.std(axis=-1)

  # --- export --------------------------------------------------------------------------------------------------
  def to_csv(self) -> str:
    """Every (combination, angle, seed) as one CSV row: units, theta (pairs) or the direction h_0.. (triples), seed,
    raw y, scaled y, C."""
    buf = io.StringIO()
    w = csv.writer(buf)
    slots = "ijk"[:self.k]
    target = ["theta"] if self.k == 2 else [f"h_{t}" for t in slots]
    w.writerow(["pair" if self.k == 2 else "triple", *[f"unit_{t}" for t in slots], *target, "seed",
                *[f"y_{t}" for t in slots], *[f"y_{t}_scaled" for t in slots], "c"])
    ys = self.y_scaled
    th = np.asarray(self.thetas, np.float64)
    for p, units in enumerate(self.pairs):
      for a in range(len(th)):
        tcol = [f"{v:.6f}" for v in np.atleast_1d(th[a])]
        for s in range(self.c.shape[-1]):
          w.writerow([p, *[int(u) for u in units], *tcol, s, *[f"{v:.6g}" for v in self.y[p, a, s]],
                      *[f"{v:.6g}" for v in ys[p, a, s]], f"{self.c[p, a, s]:.6g}"])
    return buf.getvalue()

  def summary(self, pair: int = 0, cloud: np.ndarray | None = None, measured: dict | None = None) -> str:
    """A head line (layer, units, scales and the C range), then the verdicts and measures (:mod:`fcjax.measures`
    for a pair, one line per octant from :mod:`fcjax.orthants` for a triple).

    ``cloud``: optional float [N, k] natural-image activations of the combination's units (for the reach and the
    under-reach checks). ``measured``: the summary dict already computed for this combination (then ``cloud`` is
    not used).
    """
    units = ", ".join(str(int(u)) for u in self.pairs[pair])
    scales = ", ".join(f"{v:.4g}" for v in self.scales[pair])
    cm = self.c_mean[pair]
    head = (f"{self.model} {self.layer or 'f'}[{self.readout}] units ({units}): {len(self.thetas)} "
            f"{'angles' if self.k == 2 else 'directions'} x {self.c.shape[-1]} seeds, scales ({scales}), "
            f"mean C min {np.nanmin(cm):.3g} / max {np.nanmax(cm):.3g}")
    if self.k == 3:
      body = orthants.format_summary(measured or orthants.summarize(self, pair, cloud=cloud))
      return head + "\n  " + body.replace("\n", "\n  ")
    return head + "\n  " + measures.format_summary(measured or measures.summarize(self, pair, cloud=cloud))

  # --- persistence ---------------------------------------------------------------------------------------------
  def save(self, directory: str | os.PathLike) -> pathlib.Path:
    """Write ``arrays.npz`` + ``result.json`` into ``directory`` (atomically: temp files, then rename)."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
    for k in _OPTIONAL:
      if getattr(self, k) is not None:
        arrays[k] = np.asarray(getattr(self, k))
    header = {"config": self.config, "model": self.model, "layer": self.layer, "readout": self.readout,
              "meta": self.meta, "format": "fcjax.SweepResult/1"}
    _io.atomic_write(d / "arrays.npz", lambda f: np.savez_compressed(f, **arrays))
    _io.atomic_write(d / "result.json", lambda f: f.write(json.dumps(header, indent=2, default=_io.jsonable).encode()))
    return d

  @classmethod
  def load(cls, directory: str | os.PathLike) -> "SweepResult":
    """Read a result written by :meth:`save`."""
    d = pathlib.Path(directory)
    if not (d / "result.json").exists() or not (d / "arrays.npz").exists():
      raise errors.FcjaxError(f"{d} is not a sweep result directory (expected result.json and arrays.npz)")
    try:
      header = json.loads((d / "result.json").read_text())
      with np.load(d / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError):
      raise errors.FcjaxError(f"cannot read sweep result in {d}: arrays.npz is truncated or not an .npz; rerun the "
                              "sweep") from None
    except (ValueError, OSError, KeyError) as e:
      raise errors.FcjaxError(f"cannot read sweep result in {d}: {errors.one_line(e)}") from None
    keys = [k for k in ("config", "model", "layer", "readout") if not isinstance(header, dict) or k not in header]
    if keys:
      raise errors.FcjaxError(f"{d / 'result.json'} is not an fcjax sweep result header (missing {', '.join(keys)}); "
                              "rerun the sweep")
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
      raise errors.FcjaxError(f"sweep result in {d} lacks arrays {missing}")
    return cls(config=header["config"], model=header["model"], layer=header["layer"], readout=header["readout"],
               meta=header.get("meta", {}), **arrays)
