"""Tests of fcjax.transforms on hand-made inputs (rotations by 90°, integer jitter, pads, ramps), against SciPy
resampling, and for determinism, differentiability and static shapes under vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from fcjax import errors
from fcjax import transforms as T

RNG = np.random.default_rng(0)
IMG = RNG.uniform(size=(9, 9, 3)).astype(np.float32)
RECT = RNG.uniform(size=(6, 8, 3)).astype(np.float32)


def test_rotate_by_quarter_turns_equals_rot90():
  # One compiled program for all cases (compiles dominate the runtime of this suite).
  quarter, minus, identity, random90, half = jax.jit(lambda key, img, rect: (
      T.rotate(img, 90.0), T.rotate(img, -90.0), T.rotate(img, 0.0), T.random_rotate((90,))(key, img),
      T.rotate(rect, 180.0)))(jax.random.key(3), IMG, RECT)
  np.testing.assert_allclose(np.asarray(quarter), np.rot90(IMG), atol=1e-5)  # counter-clockwise
  np.testing.assert_allclose(np.asarray(minus), np.rot90(IMG, -1), atol=1e-5)
  np.testing.assert_allclose(np.asarray(identity), IMG, atol=1e-6)
  np.testing.assert_allclose(np.asarray(random90), np.rot90(IMG), atol=1e-5)
  np.testing.assert_allclose(np.asarray(half), RECT[::-1, ::-1], atol=1e-5)


def test_rotate_small_angle_matches_scipy():
  big = RNG.uniform(size=(15, 15, 3)).astype(np.float32)
  got = np.asarray(jax.jit(T.rotate)(big, 7.0))
  want = scipy.ndimage.rotate(big, 7.0, axes=(1, 0), reshape=False, order=1, mode="constant", cval=0.5)
  # Same centre and direction; compare where no sample needs pixels from outside (borders differ in cval handling).
  np.testing.assert_allclose(got[3:-3, 3:-3], want[3:-3, 3:-3], atol=1e-5)
  corner = np.asarray(jax.jit(T.rotate)(np.zeros((15, 15, 3), np.float32), 45.0))
  assert corner[0, 0, 0] == pytest.approx(0.5) and corner[7, 7, 0] == 0  # uncovered corners are the fill grey


def test_jitter_is_an_integer_crop_and_covers_every_offset():
  d = 2
  outs = np.asarray(jax.jit(jax.vmap(T.jitter(d), (0, None)))(jax.random.split(jax.random.key(0), 48), RECT))
  assert outs.shape == (48, 6 - d, 8 - d, 3)
  seen = set()
  for out in outs:
    hits = [(dy, dx) for dy in range(d + 1) for dx in range(d + 1)
            if np.array_equal(out, RECT[dy:dy + 6 - d, dx:dx + 8 - d])]
    assert len(hits) == 1  # exactly a shifted copy, no interpolation
    seen.add(hits[0])
  assert len(seen) == (d + 1) ** 2


def test_pad_values():
  out = np.asarray(T.pad(2, 0.25)(jax.random.key(0), RECT))
  assert out.shape == (10, 12, 3)
  np.testing.assert_array_equal(out[2:-2, 2:-2], RECT)
  border = np.ones(out.shape[:2], bool)
  border[2:-2, 2:-2] = False
  assert np.all(out[border] == 0.25)


def test_scale_matches_bilinear_reference():
  big = RNG.uniform(size=(12, 12, 3)).astype(np.float32)
  got = np.asarray(jax.jit(T.scale)(big, 1.1))
  # Output pixel centre o maps to input (o + 0.5 - c) / s + c - 0.5 with c = 6 (the image centre, pixel edges at
  # integers); SciPy samples pixel centres at integers.
  src = (np.arange(12) + 0.5 - 6) / 1.1 + 6 - 0.5
  rr, cc = np.meshgrid(src, src, indexing="ij")
  want = np.stack([scipy.ndimage.map_coordinates(big[..., k], [rr, cc], order=1, mode="nearest")
                   for k in range(3)], -1)
  np.testing.assert_allclose(got[1:-1, 1:-1], want[1:-1, 1:-1], atol=1e-5)
  np.testing.assert_allclose(np.asarray(jax.jit(T.scale)(big, 1.0)), big, atol=1e-6)
  small = np.asarray(jax.jit(T.scale)(np.zeros((12, 12, 3), np.float32), 0.5))
  assert np.all(small[:2] == 0.5) and np.all(small[:, -2:] == 0.5) and np.all(small[4:8, 4:8] == 0)


def test_crop_resize_of_a_ramp():
  # Bilinear upsampling is exact on a linear ramp, so the window's position and size can be read off the output.
  h, w, out = 40, 30, 8
  ramp = np.broadcast_to((np.arange(h, dtype=np.float32) + 0.5)[:, None, None], (h, w, 3)).copy()

  @jax.jit
  def crops(image, key):
    return (T.crop_resize(image, 10.0, 4.0, 4.0, 3.0, (out, out)), T.random_crop_resize(out, (0.5, 0.5))(key, image),
            T.random_crop_resize((h, w), (1.0, 1.0))(key, image))

  outs = [[np.asarray(x) for x in crops(ramp, key)] for key in jax.random.split(jax.random.key(1), 12)]
  window, full = outs[0][0], outs[0][2]
  random = np.stack([o[1] for o in outs])
  want = 10.0 + (np.arange(out) + 0.5) * 4.0 / out  # pixel-centre positions inside the window [10, 14)
  np.testing.assert_allclose(window[:, 3, 0], want, atol=1e-4)
  # Random crops stay inside the image and have the requested side: slope side / out with side = f * h (shrinking
  # by 2.5 here, where the antialiasing kernel sampled at whole pixels is off by up to 0.01 on a ramp).
  np.testing.assert_allclose(np.diff(random[:, 1:-1, 3, 0], axis=1), 0.5 * h / out, atol=0.03)
  assert random.min() >= 0 and random.max() <= h and len(np.unique(random[:, 0, 0, 0].round(3))) > 6
  np.testing.assert_allclose(full, ramp, atol=1e-4)


def test_compose_splits_keys_and_standard_set_is_static_deterministic_differentiable():
  def add(key, image):
    return image + jax.random.uniform(key)

  key = jax.random.key(5)
  k1, k2 = jax.random.split(key)
  np.testing.assert_allclose(np.asarray(T.compose(add, add)(key, IMG)),
                             IMG + float(jax.random.uniform(k1)) + float(jax.random.uniform(k2)), rtol=1e-6)
  canvas = RNG.uniform(size=(20, 20, 3)).astype(np.float32)
  weights = RNG.normal(size=(24, 24, 3)).astype(np.float32)
  keys = jax.random.split(jax.random.key(0), 4)
  standard = T.standard(24)
  for t in (standard, T.maco_crops(24)):
    # Static shapes: the batch shape is known without running anything (vmap traces with the shapes alone).
    assert jax.eval_shape(jax.vmap(t, (0, None)), keys, canvas).shape == (4, 24, 24, 3)
    run = jax.jit(jax.value_and_grad(lambda x, key: (jnp.sum(weights * t(key, x)), t(key, x)), has_aux=True))
    (_, a), g = run(canvas, keys[0])
    (_, b), _ = run(canvas, keys[0])
    (_, c), _ = run(canvas, keys[1])
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # deterministic given the key
    assert not np.allclose(a, c)  # different keys, different draws
    assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).sum() > 1.0  # differentiable
    if t is standard:
      # A uniformly grey canvas stays grey: padding and the pixels uncovered by scale/rotate share the fill value.
      for key in keys:
        (_, grey), _ = run(np.full((20, 20, 3), 0.5, np.float32), key)
        np.testing.assert_allclose(np.asarray(grey), 0.5, atol=1e-6)


def test_noise_statistics_and_repeat():
  crops = jax.jit(T.repeat(T.noise(0.1, uniform=0.2), 3))(jax.random.key(0), jnp.zeros((64, 64, 3)))
  crops = np.asarray(crops)
  assert crops.shape == (3, 64, 64, 3) and not np.allclose(crops[0], crops[1])
  np.testing.assert_allclose(crops.std(), np.sqrt(0.1 ** 2 + 0.2 ** 2 / 12), rtol=0.03)
  assert abs(crops.mean()) < 0.01


def test_bad_arguments():
  with pytest.raises(errors.FcjaxError):
    T.random_crop_resize(8, (0.5, 0.2))
  with pytest.raises(errors.FcjaxError):
    T.random_scale(())
  with pytest.raises(errors.FcjaxError):
    T.pad(-1)
  with pytest.raises(errors.InputSizeError):
    T.jitter(8)(jax.random.key(0), RECT)
  with pytest.raises(errors.InputSizeError):
    T.resize(8)(jax.random.key(0), RECT[None])
  with pytest.raises(TypeError):
    T.compose(T.pad(1), 3)
  assert T.STANDARD_SCALES[0] == pytest.approx(0.9) and T.STANDARD_SCALES[-1] == pytest.approx(1.1)
  assert len(T.STANDARD_ANGLES) == 26 and T.STANDARD_ANGLES.count(0) == 6
