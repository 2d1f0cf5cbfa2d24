"""Colour and Fourier helpers that the image parameterizations (:mod:`fcjax.param`) and the spectrum tools
(:mod:`fcjax.spectrum`) both use: image sizes, Lucid's colour decorrelation matrix, rfft2 frequencies.

Private: the public names are re-exported by :mod:`fcjax.param` (``param.image_size``, ``param.COLOR_MATRIX``,
``param.recorrelate``, ``param.decorrelate``, ``param.rfft2_freqs``). Both modules import this one, and
``param`` imports ``spectrum`` (MACO loads its magnitude spectrum), so the imports run one way.
"""

from __future__ import annotations

import numbers
from typing import Union

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import errors

Size = Union[int, tuple[int, int]]

# Lucid's `color_correlation_svd_sqrt` (optvis/param/color.py): a square root of ImageNet's RGB colour covariance.
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], np.float32)
# Normalised by its largest column norm (0.4619...), as Lucid's `max_norm_svd_sqrt`: rgb = COLOR_MATRIX @ v.
COLOR_MATRIX = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))

def image_size(size: Size) -> tuple[int, int]:
  """``size`` (an int or an (h, w) pair) as a (h, w) pair of positive ints; raises InputSizeError otherwise."""
  if isinstance(size, numbers.Integral) and not isinstance(size, bool):
    size = (int(size), int(size))
  if (not isinstance(size, (tuple, list)) or len(size) != 2
      or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)):
    raise errors.InputSizeError(f"an image size must be an int or an (height, width) pair of ints, got {size!r}")
  h, w = int(size[0]), int(size[1])
  if h < 2 or w < 2:
    raise errors.InputSizeError(f"an image needs at least 2x2 pixels, got {h}x{w}")
  return h, w


def recorrelate(v: jax.Array) -> jax.Array:
  """Decorrelated colour [..., 3] -> RGB-space values [..., 3]: ``v @ COLOR_MATRIX.T`` (before the sigmoid)."""
  return v @ jnp.asarray(COLOR_MATRIX.T)


def decorrelate(rgb: jax.Array) -> jax.Array:
  """The inverse of :func:`recorrelate`: ``rgb @ inv(COLOR_MATRIX).T`` (works on NumPy and JAX arrays)."""
  inv_t = np.linalg.inv(COLOR_MATRIX.astype(np.float64)).T
  if isinstance(rgb, np.ndarray):
    return rgb @ inv_t.astype(np.promote_types(rgb.dtype, np.float32))
  return rgb @ jnp.asarray(inv_t, jnp.float32)


def rfft2_freqs(h: int, w: int) -> np.ndarray:
  """Radial frequency (cycles per pixel) of each rfft2 bin: float64 [h, w//2+1], ``sqrt(fy^2 + fx^2)``."""
  fy = np.fft.fftfreq(h)[:, None]
  fx = np.fft.rfftfreq(w)[None, :]
  return np.sqrt(fy * fy + fx * fx)
