"""Random image transforms for feature visualization: ``transform(key, image) -> image``, for ONE image.

Every factory binds its hyperparameters and returns a pure function of a PRNG key and an image float32 [H, W, 3];
the output shape depends only on the input shape and the hyperparameters, never on the random draw, so transforms
vmap over a batch (one key per image) and jit once. They are differentiable in the image and deterministic given
the key; :func:`compose` gives each stage its own key by ``jax.random.split``.

Lucid's "standard transforms", :func:`standard`: pad 12 (0.5), jitter 8, random scale, random rotate,
jitter 4, then resize to the model input. Lucid and Lucent let the scale change the canvas size; here scale and
rotation resample into the same fixed size (zooming about the centre, filling uncovered pixels with the padding
grey), and the final :func:`resize` brings the canvas to the model's input. MACO (Fel et al. 2023), :func:`maco_crops`:
one random crop resized to the model input, plus noise; :func:`repeat` draws several per step.

Resampling uses ``jax.image.scale_and_translate`` (scale, crops) and ``jax.image.resize``. Rotation is written here
with ``jax.scipy.ndimage.map_coordinates``: jax.image has no rotation and dm-pix (whose ``affine_transform`` would
do it) is not a dependency of fcjax.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from fcjax import errors
from fcjax.param import Size, image_size
from fcjax.param import normal as _normal
from fcjax.param import uniform as _uniform

Transform = Callable[[jax.Array, jax.Array], jax.Array]

# Lucid `transform.standard_transforms`: pad 12, jitter 8, these scales and angles, jitter 4.
STANDARD_PAD = 12
STANDARD_JITTER = (8, 4)
STANDARD_SCALES = tuple(1 + (i - 5) / 50 for i in range(11))  # 0.90 .. 1.10
STANDARD_ANGLES = tuple(range(-10, 11)) + (0,) * 5  # degrees; 0 drawn 6 times in 26
# Grey used by Lucid's padding; fcjax also fills pixels that scale and rotation uncover with it (Lucid's rotation
# fills with 0 and its scale changes the size instead; grey introduces no new edge colour).
FILL = 0.5

# MACO crops. Horama's defaults are box_size=(0.20, 0.25) but its sampler draws U(0, 1) * (hi - lo) + hi, i.e.
# sides in [0.25, 0.30] of the canvas; fcjax uses the range Horama actually samples. Xplique instead shrinks the
# crop from 50 % to 5 % over the run (a schedule; here a fixed range per transform keeps the program static). Crops
# are placed uniformly where they fit inside the canvas (Horama draws the centre from N(0.5, 0.15) and zero-pads).
MACO_CROP_FRACTION = (0.25, 0.30)
# Horama adds Gaussian noise of std `noise` = 0.05 and uniform noise of width 0.05 to each crop (values in [0, 1]
# here; Horama's are in its model's range, so the relative level differs by the model).
MACO_NOISE_STD = 0.05
MACO_NOISE_UNIFORM = 0.05


def _check_image(image: jax.Array, what: str) -> None:
  if image.ndim != 3:
    raise errors.InputSizeError(f"{what} takes one image [H, W, C]; got shape {image.shape} (vmap for batches)")


# ------------------------------------------------------------------------------------------------ deterministic

def scale(image: jax.Array, factor: jax.Array, *, fill: float = FILL) -> jax.Array:
  """Zoom ``image`` [H, W, C] by ``factor`` (may be traced) about its centre, same output size; bilinear.

  Pixels that come from outside the input (factor < 1) are ``fill``.
  """
  _check_image(image, "scale")
  h, w = image.shape[:2]
  factor = jnp.asarray(factor, jnp.float32)
  s = jnp.stack([factor, factor])
  # scale_and_translate maps input coordinate x (pixel edges at integers) to x * s + t; keep the centre fixed.
  t = jnp.array([h / 2, w / 2], jnp.float32) * (1 - s)
  # Outside the input it returns 0 (and renormalises partial kernels), so resample (image - fill) and add fill back.
  out = jax.image.scale_and_translate(image - fill, image.shape, (0, 1), s, t, method="linear", antialias=True)
  return out + fill


def rotate(image: jax.Array, degrees: jax.Array, *, fill: float = FILL) -> jax.Array:
  """Rotate ``image`` [H, W, C] counter-clockwise by ``degrees`` (may be traced) about its centre; bilinear.

  Same output size; pixels that come from outside the input are ``fill``. ``rotate(x, 90)`` equals
  ``np.rot90(x)`` for a square image.
  """
  _check_image(image, "rotate")
  h, w = image.shape[:2]
  a = jnp.deg2rad(jnp.asarray(degrees, jnp.float32))
  cy, cx = (h - 1) / 2, (w - 1) / 2
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy, jnp.arange(w, dtype=jnp.float32) - cx,
                            indexing="ij")
  # Output pixel (r, c) samples the input at the inverse rotation (rows point down, so the signs differ from the
  # textbook x-up form).
  src_r = cy + cols * jnp.sin(a) + rows * jnp.cos(a)
  src_c = cx + cols * jnp.cos(a) - rows * jnp.sin(a)

  def one_channel(ch):
    return jax.scipy.ndimage.map_coordinates(ch, [src_r, src_c], order=1, mode="constant", cval=fill)

  return jax.vmap(one_channel, in_axes=2, out_axes=2)(image)


def crop_resize(image: jax.Array, top: jax.Array, left: jax.Array, side_h: jax.Array, side_w: jax.Array,
                out_size: Size) -> jax.Array:
  """The window ``[top, top+side_h) x [left, left+side_w)`` (pixels, may be fractional and traced) resampled to
  ``out_size``: float [oh, ow, C], bilinear, antialiased when shrinking."""
  oh, ow = image_size(out_size)
  s = jnp.stack([oh / jnp.asarray(side_h, jnp.float32), ow / jnp.asarray(side_w, jnp.float32)])
  t = -jnp.stack([jnp.asarray(top, jnp.float32), jnp.asarray(left, jnp.float32)]) * s
  return jax.image.scale_and_translate(image, (oh, ow, image.shape[2]), (0, 1), s, t, method="linear",
                                       antialias=True)


# ------------------------------------------------------------------------------------------------- factories

def pad(n: int, value: float = FILL) -> Transform:
  """Pad ``n`` pixels on every side with the constant ``value``: [H, W, C] -> [H+2n, W+2n, C] (key unused)."""
  if n < 0:
    raise errors.FcjaxError(f"pad needs n >= 0, got {n}")

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    del key
    _check_image(image, "pad")
    return jnp.pad(image, ((n, n), (n, n), (0, 0)), constant_values=value)

  return transform


def jitter(d: int) -> Transform:
  """Lucid's jitter: a random ``(H-d) x (W-d)`` crop at an integer offset in ``{0..d}^2`` (a shift of up to d px)."""
  if d < 0:
    raise errors.FcjaxError(f"jitter needs d >= 0, got {d}")

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    _check_image(image, "jitter")
    h, w, c = image.shape
    if h <= d or w <= d:
      raise errors.InputSizeError(f"jitter({d}) needs images larger than {d} px, got {h}x{w}")
    dy, dx = jax.random.randint(key, (2,), 0, d + 1)
    return jax.lax.dynamic_slice(image, (dy, dx, 0), (h - d, w - d, c))

  return transform


def _choice(key: jax.Array, values: Sequence[float]) -> jax.Array:
  return jnp.asarray(values, jnp.float32)[jax.random.randint(key, (), 0, len(values))]


def random_scale(scales: Sequence[float] = STANDARD_SCALES, *, fill: float = FILL) -> Transform:
  """Zoom by a factor drawn uniformly from ``scales`` (:func:`scale`), same size."""
  scales = tuple(float(s) for s in scales)
  if not scales or min(scales) <= 0:
    raise errors.FcjaxError(f"random_scale needs positive scale factors, got {scales}")
  return lambda key, image: scale(image, _choice(key, scales), fill=fill)


def random_rotate(degrees: Sequence[float] = STANDARD_ANGLES, *, fill: float = FILL) -> Transform:
  """Rotate by an angle (degrees) drawn uniformly from ``degrees`` (:func:`rotate`), same size."""
  degrees = tuple(float(a) for a in degrees)
  if not degrees:
    raise errors.FcjaxError("random_rotate needs at least one angle")
  return lambda key, image: rotate(image, _choice(key, degrees), fill=fill)


def resize(size: Size) -> Transform:
  """Resize to ``size`` (the model input): bilinear, antialiased when shrinking (key unused)."""
  h, w = image_size(size)

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    del key
    _check_image(image, "resize")
    if image.shape[:2] == (h, w):
      return image
    return jax.image.resize(image, (h, w, image.shape[2]), method="linear", antialias=True)

  return transform


def noise(std: float, *, uniform: float = 0.0) -> Transform:
  """Add Gaussian noise of standard deviation ``std`` and uniform noise on ``[-uniform/2, uniform/2]``."""
  if std < 0 or uniform < 0:
    raise errors.FcjaxError(f"noise levels must be >= 0, got std={std}, uniform={uniform}")
  width = float(uniform)

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    k1, k2 = jax.random.split(key)
    out = image + std * _normal(k1, image.shape, image.dtype)
    if width:
      out = out + width * (_uniform(k2, image.shape, image.dtype) - 0.5)
    return out

  return transform


def random_crop_resize(out_size: Size, crop_fraction: tuple[float, float] = MACO_CROP_FRACTION) -> Transform:
  """A random crop resized to ``out_size``.

  The crop side is a fraction ``U(lo, hi)`` of each side of the image (so crops keep the canvas's aspect ratio),
  placed uniformly where it fits inside the image; bilinear, antialiased when shrinking.
  """
  lo, hi = (float(f) for f in crop_fraction)
  if not 0 < lo <= hi <= 1:
    raise errors.FcjaxError(f"crop_fraction must satisfy 0 < lo <= hi <= 1, got {crop_fraction}")
  oh, ow = image_size(out_size)

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    _check_image(image, "random_crop_resize")
    h, w = image.shape[:2]
    u = jax.random.uniform(key, (3,), jnp.float32)  # one draw: each random op adds a threefry to compile
    f = lo + (hi - lo) * u[0]
    side_h, side_w = f * h, f * w
    top = u[1] * (h - side_h)
    left = u[2] * (w - side_w)
    return crop_resize(image, top, left, side_h, side_w, (oh, ow))

  return transform


def compose(*transforms: Transform) -> Transform:
  """Apply ``transforms`` in order, each with its own key from ``jax.random.split(key, n)``."""
  if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
    transforms = tuple(transforms[0])
  for t in transforms:
    if not callable(t):
      raise TypeError(f"compose takes transforms (key, image) -> image, got {type(t).__name__}")

  def transform(key: jax.Array, image: jax.Array) -> jax.Array:
    if not transforms:
      return image
    keys = jax.random.split(key, len(transforms))
    for k, t in zip(keys, transforms):
      image = t(k, image)
    return image

  return transform


def repeat(transform: Transform, n: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """``n`` independent draws of ``transform`` of one image: (key, [H, W, C]) -> [n, H', W', C]."""
  if n < 1:
    raise errors.FcjaxError(f"repeat needs n >= 1, got {n}")
  return lambda key, image: jax.vmap(transform, in_axes=(0, None))(jax.random.split(key, n), image)


def standard(out_size: Size, *, fill: float = FILL) -> Transform:
  """Lucid's standard transforms, then resize to the model input ``out_size`` (Lucid's ``standard_transforms``).

  pad 12 (0.5), jitter 8, random scale from :data:`STANDARD_SCALES`, random rotation from :data:`STANDARD_ANGLES`,
  jitter 4, resize. A canvas of H px becomes H + 24 - 12 = H + 12 px before the resize.
  """
  return compose(pad(STANDARD_PAD, fill), jitter(STANDARD_JITTER[0]), random_scale(STANDARD_SCALES, fill=fill),
                 random_rotate(STANDARD_ANGLES, fill=fill), jitter(STANDARD_JITTER[1]), resize(out_size))


def maco_crops(out_size: Size, *, crop_fraction: tuple[float, float] = MACO_CROP_FRACTION,
               noise_std: float = MACO_NOISE_STD, noise_uniform: float = MACO_NOISE_UNIFORM) -> Transform:
  """MACO's per-crop transform: a random crop of the canvas resized to ``out_size``, plus noise (Fel et al. 2023).

  One crop per call; draw several per step with :func:`repeat` (Horama uses 6). Defaults: :data:`MACO_CROP_FRACTION`,
  :data:`MACO_NOISE_STD`, :data:`MACO_NOISE_UNIFORM`.
  """
  return compose(random_crop_resize(out_size, crop_fraction), noise(noise_std, uniform=noise_uniform))
