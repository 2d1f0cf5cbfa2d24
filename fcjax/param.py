"""Image parameterizations: ``init(key) -> params`` and ``render(params) -> image``, for ONE image.

A parameterization is a :class:`Param` pair of pure functions (the shape of optax's ``GradientTransformation``);
hyperparameters are bound by the factory. ``render`` returns float32 [H, W, 3] in [0, 1]; ``jax.vmap`` it (and
``init`` over split keys) for a batch. The canvas size set here is independent of the model's input size: the
transforms (:mod:`fcjax.transforms`) resample the canvas to the model input.

* :func:`pixel`: one free value per pixel and channel, through a sigmoid.
* :func:`fft`: Lucid's Fourier parameterization with 1/f frequency scaling and colour decorrelation (Lucid).
* :func:`maco`: MACO (Fel et al. 2023): only the Fourier phase is optimised, the magnitude is a fixed natural-image
  spectrum (Fel et al. 2023).

Colour convention (Lucid's ``_linear_decorrelate_color``): for a decorrelated pixel vector ``v``, the RGB vector is
``M_norm @ v``; for row vectors (pixels on the last axis) ``rgb = v @ M_norm.T`` (:func:`recorrelate`). ``M_norm`` is
Lucid's ``color_correlation_svd_sqrt`` divided by its largest column norm (:data:`COLOR_MATRIX`).

References:
  Olah, Mordvintsev, Schubert. "Feature Visualization", Distill 2017 (Lucid ``optvis/param/spatial.py``,
  ``optvis/param/color.py``).
  Fel et al. "Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization",
  NeurIPS 2023 (MACO).
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import errors, spectrum as spectrum_lib
from fcjax._fourier import (COLOR_CORRELATION_SVD_SQRT, COLOR_MATRIX, Size, decorrelate, image_size,  # noqa: F401
                            recorrelate, rfft2_freqs)

# Lucid's `fft_image` divides the ortho-normalised inverse FFT by 4.0 (commented there "TODO: is that a magic
# constant?"; Lucent keeps it): an empirical choice that keeps the initial image well inside the sigmoid's linear range.
FFT_OUTPUT_SCALE = 0.25

# Lucid's init standard deviation of the pixel and FFT parameters (`pixel_image`, `fft_image`: sd = 0.01).
LUCID_INIT_SD = 0.01

# MACO standardises the phase and the image with x / (std + eps) (Horama's `standardize` uses 1e-4).
STANDARDIZE_EPS = 1e-4


class Param(NamedTuple):
  """An image parameterization.

  Attributes:
    init: ``init(key) -> params`` (a pytree of float32 arrays).
    render: ``render(params) -> float32 [H, W, 3]`` in [0, 1] (one image; differentiable).
  """

  init: Callable[[jax.Array], Any]
  render: Callable[[Any], jax.Array]


# --------------------------------------------------------------------------------------------------- helpers

def normal(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
  """``jax.random.normal(key, shape)``, drawn flat and reshaped (the same values).

  Why: with JAX's default partitionable threefry, XLA:CPU takes 15-30 s to compile a random draw of rank >= 3 (jax
  0.10, measured here: 1.7 s for (864,), 33 s for (2, 3, 16, 9)); a rank-1 draw compiles in about a second.
  """
  return jax.random.normal(key, (int(np.prod(shape)),), dtype).reshape(shape)


def uniform(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
  """``jax.random.uniform(key, shape)`` on [0, 1), drawn flat and reshaped (see :func:`normal`)."""
  return jax.random.uniform(key, (int(np.prod(shape)),), dtype).reshape(shape)


def standardize(x: jax.Array, eps: float = STANDARDIZE_EPS) -> jax.Array:
  """``(x - mean) / (std + eps)`` over all elements (MACO's standardisation of phase and image)."""
  x = x - jnp.mean(x)
  return x / (jnp.std(x) + eps)


# ------------------------------------------------------------------------------------------------------ pixel

def pixel(size: Size, *, decorrelate: bool = False, sd: float = LUCID_INIT_SD) -> Param:
  """Free pixels through a sigmoid (Lucid's ``pixel_image`` + ``to_valid_rgb``).

  Params: float32 [H, W, 3], init N(0, sd^2) (an almost uniform grey image). With ``decorrelate`` the parameters
  live in decorrelated colour space and are recorrelated before the sigmoid (Lucid's default for ``image()``).
  """
  h, w = image_size(size)

  def init(key: jax.Array) -> jax.Array:
    return sd * normal(key, (h, w, 3))

  def render(params: jax.Array) -> jax.Array:
    x = recorrelate(params) if decorrelate else params
    return jax.nn.sigmoid(x)

  return Param(init, render)


# -------------------------------------------------------------------------------------------------------- fft

def fft_scale(h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
  """Lucid's per-frequency scale ``1 / max(f, 1/max(h, w))^decay_power``: float32 [h, w//2+1]."""
  f = rfft2_freqs(h, w)
  return (1.0 / np.maximum(f, 1.0 / max(h, w)) ** decay_power).astype(np.float32)


def fft(size: Size, *, decorrelate: bool = True, sd: float = LUCID_INIT_SD, decay_power: float = 1.0) -> Param:
  """Lucid's Fourier parameterization (``fft_image``) with colour decorrelation and a sigmoid (``lucid/optvis/param``).

  Params: float32 [2, 3, H, W//2+1] (real and imaginary parts of the spectrum), init N(0, sd^2). Render: scale each
  frequency by :func:`fft_scale`, ``irfft2(norm="ortho") * FFT_OUTPUT_SCALE``, recorrelate colours, sigmoid.
  """
  h, w = image_size(size)
  scale = fft_scale(h, w, decay_power)
  wf = w // 2 + 1

  def init(key: jax.Array) -> jax.Array:
    return sd * normal(key, (2, 3, h, wf))

  def render(params: jax.Array) -> jax.Array:
    spectrum = jax.lax.complex(params[0], params[1]) * scale
    x = jnp.fft.irfft2(spectrum, s=(h, w), axes=(-2, -1), norm="ortho") * FFT_OUTPUT_SCALE  # [3, h, w]
    x = jnp.transpose(x, (1, 2, 0))
    if decorrelate:
      x = recorrelate(x)
    return jax.nn.sigmoid(x)

  return Param(init, render)


# ------------------------------------------------------------------------------------------------------- maco

def _self_conjugate(n: int) -> list[int]:
  """Frequencies k with k = -k (mod n): 0, and n/2 for even n. In rfft2 layout these columns hold the bins that must
  be Hermitian along the rows for a real image, and these (row, column) pairs the bins that must be real."""
  return [0] + ([n // 2] if n % 2 == 0 else [])


def maco_magnitude(spectrum: Any, size: Size) -> np.ndarray:
  """The MACO magnitude for a canvas of ``size``: float32 [3, H, W//2+1].

  ``spectrum``: None (fcjax's shipped ImageNet estimate, :data:`fcjax.spectrum.DEFAULT_PATH`), a path to a ``.npy``
  file, or an array [3, h, w//2+1]; resized to the canvas when its size differs (:func:`fcjax.spectrum.resize`). The
  DC and Nyquist columns are symmetrised (``|X[-ky]| = |X[ky]|``, true of any real image), so that the rendered
  image has exactly this magnitude, and the whole is scaled to unit image variance (only its shape matters).
  """
  h, w = image_size(size)
  if spectrum is None:
    mag = spectrum_lib.load(spectrum_lib.DEFAULT_PATH)
  elif isinstance(spectrum, (str, os.PathLike)):
    mag = spectrum_lib.load(spectrum)
  else:
    mag = spectrum_lib.check(np.asarray(spectrum), "the spectrum array")
  mag = spectrum_lib.resize(mag, (h, w)).astype(np.float64)
  rev = (-np.arange(h)) % h
  for col in _self_conjugate(w):
    mag[:, :, col] = 0.5 * (mag[:, :, col] + mag[:, rev, col])
  # Scale so that the image it makes has about unit variance (Parseval, ortho norm: the rfft2 columns that stand for
  # a conjugate pair count twice; DC excluded): the standardisation's eps is then negligible and only the shape of
  # the spectrum matters, whatever units the file used.
  weight = np.full(mag.shape[-1], 2.0)
  weight[_self_conjugate(w)] = 1.0
  energy = np.sum(weight * mag ** 2) - np.sum(mag[:, 0, 0] ** 2)
  if energy <= 0:
    raise errors.FcjaxError("the MACO magnitude spectrum is zero at every frequency but DC")
  return (mag / np.sqrt(energy / (3 * h * w))).astype(np.float32)


def maco_signal(phase: jax.Array, magnitude: jax.Array, width: int) -> jax.Array:
  """MACO's image before colour recorrelation: float32 [H, W, 3], mean 0, std ~1, decorrelated colour space.

  Standardise the phase, form ``magnitude · e^{iφ}``, ``irfft2``, standardise the image. On the DC and Nyquist
  columns the phase is made odd in the row frequency (``φ[-ky] = -φ[ky]``) so that the spectrum is that of a real
  image and ``irfft2`` keeps its magnitude exactly: ``|rfft2(signal)| = magnitude / (std + eps)`` on every bin
  (``std`` of the ``irfft2`` output, ``eps`` = STANDARDIZE_EPS) except the self-conjugate
  bins (DC, and the Nyquist row / column of even sizes), which must be real: there the value is
  ``magnitude · cos(φ)`` (DC then shifted by the standardisation's mean), so the mean colour stays optimisable.

  Args:
    phase: float32 [3, H, W//2+1].
    magnitude: float32 [3, H, W//2+1] (from :func:`maco_magnitude`).
    width: W (``W//2+1`` does not determine it).
  """
  h, wf = phase.shape[1:]
  phase = standardize(phase)
  # φ[-ky] for every ky (flip then roll: index (h - ky) mod h); static masks and where, no gather/scatter (which
  # make XLA:CPU compiles of the gradient several times slower).
  mirrored = jnp.roll(jnp.flip(phase, axis=1), 1, axis=1)
  columns = np.zeros((1, 1, wf), bool)
  columns[..., _self_conjugate(width)] = True
  odd = jnp.where(columns, 0.5 * (phase - mirrored), phase)
  magnitude = jnp.asarray(magnitude)
  spectrum = magnitude * jnp.exp(1j * odd.astype(jnp.complex64))
  # The self-conjugate bins (DC, and the Nyquist row/column where sizes are even) must be real. A phase there only
  # picks a sign; take mag·cos(φ) as irfft2 of an unconstrained spectrum does (Horama's implicit behaviour), which
  # keeps each channel's mean colour optimisable, at the price of |X| <= magnitude on these (at most 4) bins.
  real = np.zeros((1, h, wf), bool)
  real[:, np.array(_self_conjugate(h))[:, None], np.array(_self_conjugate(width))[None, :]] = True
  spectrum = jnp.where(real, (magnitude * jnp.cos(phase)).astype(spectrum.dtype), spectrum)
  x = jnp.fft.irfft2(spectrum, s=(h, width), axes=(-2, -1), norm="ortho")
  return jnp.transpose(standardize(x), (1, 2, 0))


def maco(size: Size, *, spectrum: Any = None) -> Param:
  """MACO: optimise only the Fourier phase; the magnitude is a fixed natural-image spectrum (Fel et al. 2023).

  Params: float32 [3, H, W//2+1] phase, init N(0, 1). Render: :func:`maco_signal` (standardised phase ->
  ``magnitude · e^{iφ}`` -> ``irfft2`` -> standardised image), recorrelate colours, sigmoid to [0, 1].

  Args:
    size: the canvas (int or (h, w)); independent of the model's input size (the transforms crop and resize).
    spectrum: None (the shipped estimate), a ``.npy`` path or an array [3, h, w//2+1]; see :func:`maco_magnitude`.
  """
  h, w = image_size(size)
  magnitude = maco_magnitude(spectrum, (h, w))
  wf = w // 2 + 1

  def init(key: jax.Array) -> jax.Array:
    return normal(key, (3, h, wf))

  def render(phase: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(recorrelate(maco_signal(phase, magnitude, w)))

  return Param(init, render)
