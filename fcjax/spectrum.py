"""Natural-image magnitude spectra for MACO: estimate, fit, load, save, resize.

A spectrum is float32 [3, H, W//2+1]: the mean ``|rfft2|`` (``norm="ortho"``, rfft2 layout, rows in FFT order) of
images in *decorrelated* colour space, channel first. Convention: an RGB image in [0, 1] with pixels on the last
axis is decorrelated by ``v = rgb @ inv(M_norm).T`` (:func:`fcjax.param.decorrelate`), the exact inverse of the
recorrelation that MACO's render applies (``rgb = v @ M_norm.T``); the DC bin is kept (MACO's standardisation
ignores it). Only the shape of a spectrum matters to MACO, which standardises the image; the ortho norm makes the
values of a white-noise image independent of the size.

fcjax ships one estimate, made from the 1000 ImageNet sample photos by ``scripts/make_maco_spectrum.py``
(:data:`DEFAULT_PATH`, with a JSON record of how beside it). The published MACO spectrum
(``maco_magnitude_spectrum.npy``, 3 x 512 x 257) was built with an undocumented colour convention; it loads
with :func:`load` like any other.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Iterable, Mapping

import jax
import numpy as np

from fcjax import _fourier, errors

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent / "assets" / "maco_spectrum.npy"


def check(spec: np.ndarray, what: str = "spectrum") -> np.ndarray:
  """Validate a magnitude spectrum [3, h, w//2+1] (finite, >= 0); returns it as float32."""
  spec = np.asarray(spec)
  if spec.ndim != 3 or spec.shape[0] != 3 or spec.shape[1] < 2 or spec.shape[2] < 2:
    raise errors.FcjaxError(f"{what} must be a magnitude spectrum of shape [3, h, w//2+1] (channel first, rfft2 "
                            f"layout), got shape {spec.shape}")
  if not np.issubdtype(spec.dtype, np.floating) and not np.issubdtype(spec.dtype, np.integer):
    raise errors.FcjaxError(f"{what} must hold real magnitudes, got dtype {spec.dtype}")
  spec = spec.astype(np.float32)
  if not np.all(np.isfinite(spec)) or np.any(spec < 0):
    raise errors.FcjaxError(f"{what} must hold finite non-negative magnitudes")
  return spec


def load(path: str | os.PathLike) -> np.ndarray:
  """Read a spectrum ``.npy`` file: float32 [3, h, w//2+1] (float16 files are widened)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.FcjaxError(f"spectrum file {str(path)!r} not found; pass a .npy file of shape [3, h, w//2+1], or "
                            "None for fcjax's shipped estimate")
  try:
    spec = np.load(path, allow_pickle=False)
  except (ValueError, OSError) as e:
    raise errors.FcjaxError(f"cannot read spectrum file {str(path)!r} as a .npy array: {e}") from None
  return check(spec, f"spectrum file {str(path)!r}")


def save(path: str | os.PathLike, spec: np.ndarray, *, dtype: Any = np.float32) -> None:
  """Write ``spec`` [3, h, w//2+1] as ``.npy`` in ``dtype`` (float16 halves the size; relative error ~5e-4)."""
  spec = check(spec)
  if dtype == np.float16 and spec.max() > np.finfo(np.float16).max:
    raise errors.FcjaxError("spectrum values exceed the float16 range; save as float32")
  np.save(pathlib.Path(path), spec.astype(dtype), allow_pickle=False)


def resize(spec: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
  """The spectrum for an image of ``size`` (h, w): float32 [3, h, w//2+1], bilinear with antialiasing.

  The rows are in FFT order (0, +f, ..., -f); resizing the array linearly maps each bin to the bin of the same
  frequency in cycles per pixel (the layout is symmetric about the Nyquist row), as the MACO reference does.
  """
  h, w = _fourier.image_size(size)
  spec = check(spec)
  shape = (3, h, w // 2 + 1)
  if spec.shape == shape:
    return spec
  return np.asarray(jax.image.resize(spec, shape, method="linear", antialias=True), np.float32)


def estimate(batches: Iterable[Any]) -> np.ndarray:
  """Mean ``|rfft2|`` of decorrelated images, streamed: float32 [3, H, W//2+1].

  Args:
    batches: an iterable of float [B, H, W, 3] RGB images (in [0, 1] by convention; any real values work), or of
      dicts with an ``'images'`` entry (what a :mod:`fcjax.data` source's ``batches()`` yields). All batches must
      share H and W. Accumulated in float64 on the host; nothing is kept but the running sum.
  """
  total = None
  count = 0
  for batch in batches:
    if isinstance(batch, Mapping):
      batch = batch["images"]
    x = np.asarray(batch, np.float64)
    if x.ndim == 3:
      x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
      raise errors.InputSizeError(f"spectrum.estimate takes RGB batches [B, H, W, 3], got shape {x.shape}")
    if total is None:
      hw = x.shape[1:3]
      total = np.zeros((3, hw[0], hw[1] // 2 + 1), np.float64)
    elif x.shape[1:3] != hw:
      raise errors.InputSizeError(f"all images must have the same size: got {x.shape[1:3]} after {hw}")
    v = _fourier.decorrelate(x)  # [B, H, W, 3]
    mag = np.abs(np.fft.rfft2(v, axes=(1, 2), norm="ortho"))  # [B, H, W//2+1, 3]
    total += np.transpose(mag.sum(axis=0), (2, 0, 1))
    count += x.shape[0]
  if not count:
    raise errors.DatasetError("spectrum.estimate got no images")
  return (total / count).astype(np.float32)


def channel_ratios(spec: np.ndarray) -> tuple[float, float, float]:
  """Mean magnitude of each channel over all bins except DC, relative to channel 0."""
  spec = check(spec).astype(np.float64)
  flat = spec.reshape(3, -1)[:, 1:]
  means = flat.mean(axis=1)
  return tuple(float(m / means[0]) for m in means)


def fit_power_law(spec: np.ndarray, *, f_range: tuple[float, float] | None = None,
                  n_bins: int = 24) -> tuple[float, tuple[float, float, float]]:
  """Fit ``|X(f)| ~ f^(-alpha)`` to a spectrum; returns ``(alpha, channel_ratios)``.

  The channel-mean magnitude is averaged (in log) over ``n_bins`` log-spaced rings of radial frequency ``f``
  (cycles per pixel) within ``f_range`` (default: from the lowest non-zero frequency ``1/max(H, W)`` to 0.5, the
  largest full ring), and a line is fitted to log magnitude against log frequency, so every octave weighs the same.
  ``channel_ratios`` is :func:`channel_ratios`.
  """
  spec = check(spec).astype(np.float64)
  _, h, wf = spec.shape
  w = 2 * (wf - 1)
  f = _fourier.rfft2_freqs(h, w)
  lo, hi = f_range if f_range is not None else (1.0 / max(h, w), 0.5)
  if not 0 < lo < hi:
    raise errors.FcjaxError(f"f_range must satisfy 0 < lo < hi, got {(lo, hi)}")
  edges = np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1)
  logmag = np.log(np.maximum(spec.mean(axis=0), np.finfo(np.float64).tiny))
  xs, ys = [], []
  for a, b in zip(edges[:-1], edges[1:]):
    sel = (f >= a) & (f < b)
    if sel.any():
      xs.append(np.log(f[sel]).mean())
      ys.append(logmag[sel].mean())
  if len(xs) < 2:
    raise errors.FcjaxError(f"too few frequency bins in f_range {(lo, hi)} to fit a power law")
  slope = np.polyfit(np.array(xs), np.array(ys), 1)[0]
  return float(-slope), channel_ratios(spec)


def log_correlation(a: np.ndarray, b: np.ndarray, *, f_max: float | None = None) -> float:
  """Pearson correlation of the log magnitudes of two spectra (``b`` resized to ``a``'s size; even widths).

  All three channels are pooled; DC is excluded, and with ``f_max`` every bin above that radial frequency (cycles
  per pixel) too.
  """
  a = check(a)
  _, h, wf = a.shape
  b = resize(b, (h, 2 * (wf - 1)))
  f = _fourier.rfft2_freqs(h, 2 * (wf - 1))
  sel = (f > 0) & (f <= (np.inf if f_max is None else f_max))
  tiny = np.finfo(np.float32).tiny
  la = np.log(np.maximum(a.astype(np.float64), tiny))[:, sel].ravel()
  lb = np.log(np.maximum(b.astype(np.float64), tiny))[:, sel].ravel()
  return float(np.corrcoef(la, lb)[0, 1])
