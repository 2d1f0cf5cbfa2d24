"""A procedural image source: labelled synthetic images generated on the fly from a seed.

Every image is drawn by its own NumPy generator, ``PCG64(SeedSequence(seed, spawn_key=(index,)))``, so image ``i`` of
a stream depends only on ``(seed, i)``: any slice can be generated alone (``start=`` resume, parallel workers), and
the stream does not change with the JAX version. Each image shows one labelled thing composited over a coloured
1/f-noise background:

* ``grating_0``, ``grating_45``, ``grating_90``, ``grating_135``: an oriented two-colour grating (stripe orientation
  in degrees counter-clockwise from horizontal, +-7.5 degrees jitter; 2.5-7 cycles per image width; sine to square
  profile) in a soft round aperture or over the whole image. Orthogonal orientations are separate classes, so a model
  trained on them learns units that prefer one orientation and are suppressed by the other.
* ``blob_red``, ``blob_green``, ``blob_blue``: one to three soft Gaussian blobs of that hue.
* ``edge``: a straight step edge at a random orientation between a flat colour and the background.
* ``disk``, ``square``, ``triangle``: a filled shape of random colour, size, position and rotation.

Colours of gratings, edges and shapes are random, so colour and form vary independently (some units of a model trained
on this data combine freely). Geometry is defined in image-relative coordinates, so ``size`` changes the resolution,
not the content. Generation costs about 1 ms per 64 px image on one CPU core.

Example::

    src = procedural(1000, seed=0)
    for batch in src.batches(64, 64):
      batch['images']  # float32 [64, 64, 64, 3] in [0, 1]
"""

from __future__ import annotations

import functools
from typing import Iterator

import numpy as np

from fcjax import errors

LABEL_NAMES: tuple[str, ...] = ("grating_0", "grating_45", "grating_90", "grating_135", "blob_red", "blob_green",
                                "blob_blue", "edge", "disk", "square", "triangle")
GRATING_ORIENTATIONS_DEG = (0.0, 45.0, 90.0, 135.0)  # labels 0..3
_BLOB_HUES = np.array([[0.90, 0.15, 0.10], [0.15, 0.80, 0.20], [0.15, 0.25, 0.90]])  # labels 4..6 (RGB prototypes)
_ORIENTATION_JITTER_DEG = 7.5  # well below half the 45 degree class spacing, so the classes never overlap
_MIN_CONTRAST = 0.3  # minimal RMS RGB distance of a foreground colour from the background mean


def _image_rng(seed: int, index: int) -> np.random.Generator:
  """The generator of image ``index``: an independent child stream of ``seed`` (NumPy's spawn mechanism)."""
  return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
  """Pixel-centre coordinates x (right), y (up) in [-1, 1], each float64 [size, size] (cached, read-only)."""
  u = (np.arange(size) + 0.5) / size * 2.0 - 1.0
  x, y = np.meshgrid(u, -u)
  x.flags.writeable = y.flags.writeable = False
  return x, y


@functools.lru_cache(maxsize=8)
def _low_frequencies(size: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
  """The rfft2 coefficients of the background noise: those up to half the Nyquist frequency on each axis.

  Returns ((rows, cols) int indices into a [size, size // 2 + 1] spectrum, log radial frequency of each, floored at
  1/size). Finer detail comes from the white noise added last; drawing only these keeps generation cheap.
  """
  fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
  rows, cols = np.nonzero((np.abs(fy) <= 0.25) & (fx <= 0.25))
  log_f = np.log(np.maximum(np.hypot(fx, fy)[rows, cols], 1.0 / size))
  for a in (rows, cols, log_f):
    a.flags.writeable = False
  return (rows, cols), log_f


def _colour_away_from(rng: np.random.Generator, ref: np.ndarray) -> np.ndarray:
  """A random RGB colour at least ``_MIN_CONTRAST`` (RMS) from ``ref``; a fixed number of draws keeps it seeded."""
  colours = rng.random((16, 3))
  dist = np.sqrt(np.mean((colours - ref) ** 2, axis=-1))
  ok = np.flatnonzero(dist >= _MIN_CONTRAST)
  return colours[ok[0]] if ok.size else colours[np.argmax(dist)]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
  """Coloured 1/f^a noise (a in [1, 2], low frequencies) around a random greyish mean: float [size, size, 3]."""
  mean = rng.uniform(0.25, 0.75) + rng.uniform(-0.08, 0.08, 3)
  where, log_f = _low_frequencies(size)
  re_im = rng.standard_normal((2, 3, log_f.size), dtype=np.float32)
  spec = np.zeros((3, size, size // 2 + 1), np.complex64)
  spec[:, where[0], where[1]] = (re_im[0] + 1j * re_im[1]) * np.exp(-rng.uniform(1.0, 2.0) * log_f)
  noise = np.fft.irfft2(spec, s=(size, size), axes=(-2, -1))
  # Mostly luminance noise with a weaker colour part, as in natural images.
  lum_weight = rng.uniform(0.6, 0.9)
  noise = lum_weight * noise[:1] + (1.0 - lum_weight) * noise
  noise /= noise.std() + 1e-12
  return mean + rng.uniform(0.03, 0.15) * np.moveaxis(noise, 0, -1)


def _soft(signed_distance: np.ndarray, size: int) -> np.ndarray:
  """Anti-aliased coverage in [0, 1] of the region where the signed distance (image units) is positive."""
  return np.clip(signed_distance * size / 2.0 + 0.5, 0.0, 1.0)


def _aperture(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
  """A soft round window, or the whole image with probability 1/4."""
  if rng.random() < 0.25:
    return np.ones_like(x)
  cx, cy = rng.uniform(-0.4, 0.4, 2)
  radius = rng.uniform(0.4, 0.9)
  return _soft(radius - np.hypot(x - cx, y - cy), size)


def _grating(rng, label, x, y, size, bg_mean):
  theta = np.deg2rad(GRATING_ORIENTATIONS_DEG[label] + rng.uniform(-_ORIENTATION_JITTER_DEG, _ORIENTATION_JITTER_DEG))
  cycles = rng.uniform(2.5, 7.0)  # per image width (2 units); 7 cycles = a 9 px period at 64 px
  # Stripes run along (cos t, sin t); the intensity varies along the normal (-sin t, cos t).
  phase = np.pi * cycles * (-x * np.sin(theta) + y * np.cos(theta)) + rng.uniform(0.0, 2.0 * np.pi)
  k = rng.uniform(0.5, 4.0)  # sharpness: ~sine at 0.5, ~square wave at 4
  wave = 0.5 + 0.5 * np.tanh(k * np.sin(phase)) / np.tanh(k)
  c1 = _colour_away_from(rng, bg_mean)
  c2 = _colour_away_from(rng, c1)
  fg = c1 + wave[..., None] * (c2 - c1)
  return fg, _aperture(rng, x, y, size)


def _blobs(rng, label, x, y, size, bg_mean):
  colour = np.clip(_BLOB_HUES[label - 4] + rng.uniform(-0.1, 0.1, 3), 0.0, 1.0)
  mask = np.zeros_like(x)
  for _ in range(rng.integers(1, 4)):
    cx, cy = rng.uniform(-0.6, 0.6, 2)
    sigma = rng.uniform(0.12, 0.35)
    mask = np.maximum(mask, np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * sigma ** 2)))
  return np.broadcast_to(colour, x.shape + (3,)), mask


def _edge(rng, label, x, y, size, bg_mean):
  angle = rng.uniform(0.0, np.pi)
  offset = rng.uniform(-0.4, 0.4)
  width = max(rng.uniform(0.0, 0.05), 1.0 / size)  # from a sharp (1 px) to a blurred edge
  d = x * np.cos(angle) + y * np.sin(angle) - offset
  mask = 0.5 + 0.5 * np.tanh(d / width)
  return np.broadcast_to(_colour_away_from(rng, bg_mean), x.shape + (3,)), mask


def _shape(rng, label, x, y, size, bg_mean):
  cx, cy = rng.uniform(-0.45, 0.45, 2)
  r = rng.uniform(0.25, 0.55)  # circumradius in image units (8-18 px at 64 px)
  rot = rng.uniform(0.0, 2.0 * np.pi)
  px, py = x - cx, y - cy
  name = LABEL_NAMES[label]
  if name == "disk":
    sd = r - np.hypot(px, py)
  elif name == "square":
    u = px * np.cos(rot) + py * np.sin(rot)
    v = -px * np.sin(rot) + py * np.cos(rot)
    sd = r / np.sqrt(2.0) - np.maximum(np.abs(u), np.abs(v))
  else:  # equilateral triangle: inside all three half-planes at the inradius r/2
    normals = rot + np.pi / 2.0 + np.arange(3) * 2.0 * np.pi / 3.0
    sd = np.min([r / 2.0 - (px * np.cos(a) + py * np.sin(a)) for a in normals], axis=0)
  return np.broadcast_to(_colour_away_from(rng, bg_mean), x.shape + (3,)), _soft(sd, size)


_PAINTERS = (_grating,) * 4 + (_blobs,) * 3 + (_edge,) + (_shape,) * 3


def render(seed: int, index: int, size: int) -> tuple[np.ndarray, int]:
  """Image ``index`` of the stream ``seed``: (float32 [size, size, 3] in [0, 1], label int in [0, 11))."""
  rng = _image_rng(seed, index)
  label = int(rng.integers(len(LABEL_NAMES)))
  x, y = _grid(size)
  bg = _background(rng, size)
  fg, mask = _PAINTERS[label](rng, label, x, y, size, bg.mean(axis=(0, 1)))
  img = bg + mask[..., None] * (fg - bg)
  # White noise over everything (uniform, std up to 0.03: uniform draws are 3x cheaper than normal ones).
  img += rng.uniform(0.0, 0.03 * np.sqrt(3.0)) * (2.0 * rng.random(img.shape, dtype=np.float32) - 1.0)
  return np.clip(img, 0.0, 1.0).astype(np.float32), label


class ProceduralSource:
  """``n`` procedural images of the stream ``seed`` (see the module docstring); an fcjax image source.

  Attributes:
    name: 'procedural:<n>:seed<seed>' (recorded in statistics and results).
    seed: the stream seed.
    label_names: the class names, indexed by label.
    skipped: always 0 (no image can be corrupt).
  """

  label_names: list[str] = list(LABEL_NAMES)
  skipped: int = 0

  def __init__(self, n: int, seed: int = 0):
    if int(n) < 0:
      raise errors.DatasetError(f"a procedural source needs n >= 0 images; got {n}")
    if int(seed) < 0:
      raise errors.DatasetError(f"the procedural seed must be a non-negative integer; got {seed}")
    self.n = int(n)
    self.seed = int(seed)
    self.name = f"procedural:{self.n}:seed{self.seed}"

  def __len__(self) -> int:
    return self.n

  def __repr__(self) -> str:
    return f"ProceduralSource(n={self.n}, seed={self.seed})"

  def image(self, index: int, size: int) -> tuple[np.ndarray, int]:
    """Image ``index`` alone: (float32 [size, size, 3] in [0, 1], label)."""
    if not 0 <= index < self.n:
      raise errors.DatasetError(f"image index {index} is out of range for {self.name} (0..{self.n - 1})")
    return render(self.seed, index, size)

  def batches(self, batch_size: int, size: int, *, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Batches of images ``start, start + 1, ..., n - 1`` in order (the last batch may be smaller).

    Yields:
      {'images': float32 [B, size, size, 3] in [0, 1], 'labels': int32 [B], 'index': int64 [B]}.
    """
    if batch_size < 1 or size < 1:
      raise errors.DatasetError(f"batch_size and size must be positive; got {batch_size} and {size}")
    if not 0 <= start <= self.n:
      raise errors.DatasetError(f"start={start} is outside the {self.n} images of {self.name}")
    for lo in range(start, self.n, batch_size):
      index = np.arange(lo, min(lo + batch_size, self.n), dtype=np.int64)
      images, labels = zip(*(render(self.seed, int(i), size) for i in index))
      yield {"images": np.stack(images), "labels": np.asarray(labels, np.int32), "index": index}


def procedural(n: int, seed: int = 0) -> ProceduralSource:
  """A source of ``n`` procedural images from stream ``seed`` (see :class:`ProceduralSource`)."""
  return ProceduralSource(n, seed)
