"""Tests of fcjax.param: each parameterization fits a target (Lucid's test), FFT layout and scaling against an
analytic single-frequency image, colour orientation, MACO's fixed magnitude spectrum, spectrum inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fcjax import errors
from fcjax import param as P
from fcjax import spectrum as S

H = 16


def fit(p: P.Param, target, lr: float, steps: int, seed: int = 0):
  """Adam on the mean squared error between ``p.render`` and ``target``, from ``p.init``, in one compiled program
  (compiles are the slow part of this suite). Returns (first loss, last loss, last image rendered)."""
  opt = optax.adam(lr)

  @jax.jit
  def run(key):
    def loss(params):
      image = p.render(params)
      return jnp.mean((image - target) ** 2), image

    def step(carry, _):
      params, state = carry
      (l, image), g = jax.value_and_grad(loss, has_aux=True)(params)
      u, state = opt.update(g, state)
      return (optax.apply_updates(params, u), state), (l, image)

    params = p.init(key)
    _, (losses, images) = jax.lax.scan(step, (params, opt.init(params)), None, steps)
    return losses[0], losses[-1], images[-1]

  first, last, image = run(jax.random.key(seed))
  image = np.asarray(image)
  assert image.dtype == np.float32 and np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
  return float(first), float(last), image


def smooth_target(h, w):
  yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
  # Periodic, so that the FFT parameterization can represent it without wrap-around edges.
  return np.stack([0.5 + 0.3 * np.sin(2 * np.pi * xx), 0.5 + 0.3 * np.cos(2 * np.pi * yy),
                   0.5 + 0.2 * np.sin(2 * np.pi * (xx + 2 * yy))], -1).astype(np.float32)


@pytest.mark.parametrize("name", ["pixel", "fft"])
def test_fits_target_image(name):
  target = smooth_target(H, H)
  p, lr = {"pixel": (P.pixel(H), 0.1), "fft": (P.fft(H), 0.2)}[name]
  first, last, image = fit(p, target, lr, 150)
  assert image.shape == (H, H, 3)
  assert first > 0.01 and last < 1e-4, (first, last)


def image_with_spectrum(mag: np.ndarray, w: int, seed: int) -> np.ndarray:
  """An RGB image in (0, 1) whose decorrelated, standardised signal has magnitude spectrum ``mag`` (up to scale):
  built in NumPy from the phases of a random real image, independently of fcjax's render."""
  noise = np.random.default_rng(seed).normal(size=(3, mag.shape[1], w))
  phase = np.angle(np.fft.rfft2(noise))
  x = np.fft.irfft2(mag * np.exp(1j * phase), s=(mag.shape[1], w))
  x = (x - x.mean()) / x.std()
  return (1 / (1 + np.exp(-np.moveaxis(x, 0, -1) @ P.COLOR_MATRIX.T.astype(np.float64)))).astype(np.float32)


def test_maco_fits_an_image_of_its_spectrum():
  # MACO only reaches images with its fixed magnitude spectrum: fit one made in NumPy with that spectrum.
  target = image_with_spectrum(P.maco_magnitude(None, H), H, seed=7)
  first, last, _ = fit(P.maco(H), target, 0.1, 150)
  assert first > 0.01 and last < first / 100, (first, last)


def test_fft_single_frequency_matches_analytic_image():
  h, w, c, ky, kx, a = 12, 10, 1, 3, 2, 0.7
  params = np.zeros((2, 3, h, w // 2 + 1), np.float32)
  params[0, c, ky, kx] = a
  render = jax.jit(P.fft((h, w)).render)
  image = np.asarray(render(params), np.float64)
  extreme = np.asarray(render(1e4 * params))  # same program; sigmoid keeps any parameters in [0, 1]
  assert np.isfinite(extreme).all() and extreme.min() >= 0 and extreme.max() <= 1 and extreme.max() > 0.99
  # irfft2 (ortho) of one interior bin and its implicit mirror: a cosine of amplitude 2 a s / sqrt(h w).
  f = np.hypot(ky / h, kx / w)
  s = 1 / max(f, 1 / max(h, w))
  n, m = np.mgrid[0:h, 0:w]
  v = 2 * a * s / np.sqrt(h * w) * np.cos(2 * np.pi * (ky * n / h + kx * m / w)) / 4  # Lucid's "/ 4"
  m_norm = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]) / 0.4619
  want = 1 / (1 + np.exp(-(v[..., None] * m_norm[:, c])))  # rgb = M_norm @ v, v nonzero in channel c only
  np.testing.assert_allclose(image, want, rtol=2e-4, atol=2e-6)


def test_colour_matrix_orientation():
  m = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
  m_norm = m / np.linalg.norm(m, axis=0).max()
  np.testing.assert_allclose(np.linalg.norm(m, axis=0).max(), 0.4619, atol=1e-4)
  np.testing.assert_allclose(P.COLOR_MATRIX, m_norm, rtol=1e-6)
  v = np.array([0.3, -1.2, 0.8], np.float32)
  np.testing.assert_allclose(np.asarray(P.recorrelate(jnp.asarray(v))), m_norm @ v, rtol=1e-5)
  x = np.random.default_rng(0).normal(size=(4, 3))
  np.testing.assert_allclose(P.decorrelate(x @ m_norm.T), x, atol=1e-6)  # float32 constants


@pytest.mark.parametrize("size", [(16, 16), (12, 15)])
def test_maco_keeps_the_magnitude_spectrum(size):
  h, w = size
  mag = P.maco_magnitude(None, size)
  p = P.maco(size)
  rng = np.random.default_rng(0)
  phases = [rng.normal(size=(3, h, w // 2 + 1)).astype(np.float32) * s for s in (1, 1, 50)]

  @jax.jit
  def both(phase):
    return P.maco_signal(phase, jnp.asarray(mag), w), p.render(phase)

  m_norm = np.asarray(P.COLOR_MATRIX, np.float64)
  rows = [0, h // 2] if h % 2 == 0 else [0]
  cols = [0, w // 2] if w % 2 == 0 else [0]
  real = np.zeros(mag.shape, bool)  # the self-conjugate bins, where the value must be real
  real[:, np.array(rows)[:, None], np.array(cols)[None, :]] = True
  for phase in phases:
    signal, image = (np.asarray(x, np.float64) for x in both(phase))
    assert image.min() >= 0 and image.max() <= 1
    np.testing.assert_allclose(image, 1 / (1 + np.exp(-signal @ m_norm.T)), atol=1e-6)
    np.testing.assert_allclose([signal.mean(), signal.std()], [0, 1], atol=1e-3)
    spec = np.abs(np.fft.rfft2(np.moveaxis(signal, -1, 0), norm="ortho"))
    ratio = np.median(spec[~real] / mag[~real])
    np.testing.assert_allclose(spec[~real], ratio * mag[~real], rtol=1e-4, atol=1e-7)  # the magnitude is kept
    nyquist = real.copy()
    nyquist[:, 0, 0] = False  # DC also moves with the standardisation's mean
    assert np.all(spec[nyquist] <= ratio * mag[nyquist] * (1 + 1e-4) + 1e-7)  # mag·|cos φ| there
    # The same from the rendered image alone (logit, then decorrelate).
    back = np.log(image / (1 - image)) @ np.linalg.inv(m_norm).T
    spec2 = np.abs(np.fft.rfft2(np.moveaxis(back, -1, 0), norm="ortho"))
    np.testing.assert_allclose(spec2[~real], ratio * mag[~real], rtol=2e-3, atol=1e-4)


def assert_same_shape(a, b, rtol=1e-5):
  """Equal up to a positive scale factor."""
  np.testing.assert_allclose(a / a.max(), b / b.max(), rtol=rtol, atol=1e-7)


def test_maco_spectrum_inputs(tmp_path):
  shipped = S.load(S.DEFAULT_PATH)
  np.testing.assert_array_equal(P.maco_magnitude(None, 8), P.maco_magnitude(shipped, 8))
  np.testing.assert_array_equal(P.maco_magnitude(str(S.DEFAULT_PATH), 8), P.maco_magnitude(shipped, 8))
  # A spectrum at the canvas size (of a real image: symmetric DC/Nyquist columns) is used unchanged up to a scale
  # that gives images of unit variance (mean over channels of each channel's variance).
  rng = np.random.default_rng(0)
  real = np.abs(np.fft.rfft2(rng.normal(size=(3, 8, 10)))).astype(np.float32)
  mag = P.maco_magnitude(real, (8, 10))
  assert_same_shape(mag, real)
  x = np.fft.irfft2(mag * np.exp(1j * np.angle(np.fft.rfft2(rng.normal(size=(3, 8, 10))))), s=(8, 10), norm="ortho")
  np.testing.assert_allclose(x.var(axis=(1, 2)).mean(), 1.0, rtol=1e-5)
  path = tmp_path / "spec.npy"
  np.save(path, 7 * real)
  np.testing.assert_allclose(P.maco_magnitude(path, (8, 10)), mag, rtol=1e-5)
  # Another size is resized (a constant spectrum stays constant).
  const = P.maco_magnitude(np.full((3, 32, 17), 2.0, np.float32), (8, 10))
  np.testing.assert_allclose(const, const[0, 0, 0], rtol=1e-6)
  with pytest.raises(errors.FcjaxError, match=r"\[3, h, w//2\+1\]"):
    P.maco(8, spectrum=np.ones((8, 5)))
  with pytest.raises(errors.FcjaxError, match="not found"):
    P.maco(8, spectrum=tmp_path / "missing.npy")
  with pytest.raises(errors.FcjaxError, match="non-negative"):
    P.maco(8, spectrum=-np.ones((3, 8, 5)))


def test_sizes_and_shapes():
  assert P.image_size(5) == (5, 5) and P.image_size((4, 6)) == (4, 6)
  for bad in (0, 1, (3,), "a", True, (4, 5.0)):
    with pytest.raises(errors.InputSizeError):
      P.image_size(bad)
  key = jax.random.key(0)
  for p, shape, size in [(P.pixel((4, 6)), (4, 6, 3), (4, 6)), (P.fft((4, 6)), (2, 3, 4, 4), (4, 6)),
                         (P.maco((4, 7)), (3, 4, 4), (4, 7))]:
    params = jax.eval_shape(p.init, key)
    assert params.shape == shape and params.dtype == jnp.float32
    assert jax.eval_shape(p.render, params).shape == size + (3,)
  np.testing.assert_allclose(P.fft_scale(4, 4), 1 / np.maximum(np.hypot(np.fft.fftfreq(4)[:, None],
                                                                        np.fft.rfftfreq(4)[None]), 0.25))
