"""Tests of fcjax.spectrum: the estimator recovers a prescribed magnitude spectrum (power law and channel ratios) from
synthetic images, its colour convention, streaming, the power-law fit, file I/O and the shipped asset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fcjax import errors
from fcjax import spectrum as S

M_NORM = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]) / 0.46195238


def freqs(h, w):
  return np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])


def synthetic_images(n, size, alpha, ratios, seed):
  """RGB images whose decorrelated channels are white noise filtered to |X(f)| ~ ratio_c / f^alpha (random phase;
  independent noise per channel and image), plus a grey offset."""
  rng = np.random.default_rng(seed)
  f = freqs(size, size)
  amp = 1.0 / np.maximum(f, 1.0 / size) ** alpha
  white = rng.normal(size=(n, 3, size, size))
  v = np.fft.irfft2(np.fft.rfft2(white) * amp * np.asarray(ratios)[None, :, None, None], s=(size, size))
  return (np.moveaxis(v, 1, -1) @ M_NORM.T + 0.5).astype(np.float32)  # rgb = M_norm @ v


@pytest.mark.parametrize("alpha,ratios", [(1.0, (1.0, 0.6, 0.3)), (2.0, (1.0, 1.4, 0.8))])
def test_estimate_recovers_power_law_and_channel_ratios(alpha, ratios):
  images = synthetic_images(48, 48, alpha, ratios, seed=int(alpha))
  spec = S.estimate(images[i:i + 16] for i in range(0, 48, 16))
  assert spec.shape == (3, 48, 25) and spec.dtype == np.float32
  fit_alpha, fit_ratios = S.fit_power_law(spec)
  assert fit_alpha == pytest.approx(alpha, abs=0.03)
  np.testing.assert_allclose(fit_ratios, np.asarray(ratios) / ratios[0], rtol=0.03)


def test_estimate_convention_and_streaming():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(6, 8, 10, 3)).astype(np.float32)
  # Mean |rfft2 (ortho)| of rgb @ inv(M_norm).T, channel first, computed directly.
  v = images.astype(np.float64) @ np.linalg.inv(M_NORM).T
  want = np.abs(np.fft.rfft2(np.moveaxis(v, -1, 1), norm="ortho")).mean(axis=0)
  np.testing.assert_allclose(S.estimate([images]), want, rtol=1e-5)
  streamed = S.estimate([{"images": images[:2], "labels": None}, images[2:5], images[5]])
  np.testing.assert_allclose(streamed, want, rtol=1e-5)
  with pytest.raises(errors.DatasetError):
    S.estimate([])
  with pytest.raises(errors.InputSizeError):
    S.estimate([images, images[:, :4]])
  with pytest.raises(errors.InputSizeError):
    S.estimate([images[..., :2]])


def test_fit_power_law_is_exact_on_a_power_law():
  f = freqs(64, 64)
  spec = np.stack([c / np.maximum(f, 1e-3) ** 1.7 for c in (2.0, 1.0, 0.5)]).astype(np.float32)
  alpha, ratios = S.fit_power_law(spec)
  assert alpha == pytest.approx(1.7, abs=1e-4)
  np.testing.assert_allclose(ratios, (1.0, 0.5, 0.25), rtol=1e-6)
  low, _ = S.fit_power_law(spec, f_range=(1 / 64, 1 / 8), n_bins=6)
  assert low == pytest.approx(1.7, abs=1e-4)
  with pytest.raises(errors.FcjaxError):
    S.fit_power_law(spec, f_range=(0.4, 0.1))


def test_save_load_resize(tmp_path):
  f = freqs(32, 32)
  spec = np.stack([1 / np.maximum(f, 1 / 32)] * 3).astype(np.float32)
  for dtype, rtol in ((np.float32, 0), (np.float16, 1e-3)):
    path = tmp_path / f"s_{np.dtype(dtype).name}.npy"
    S.save(path, spec, dtype=dtype)
    back = S.load(path)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, spec, rtol=rtol)
  assert S.resize(spec, 32) is not None and S.resize(spec, 32).shape == (3, 32, 17)
  np.testing.assert_array_equal(S.resize(spec, 32), spec)
  small = S.resize(spec, (16, 20))
  assert small.shape == (3, 16, 11)
  np.testing.assert_allclose(S.resize(np.full((3, 32, 17), 3.0, np.float32), 8), 3.0, rtol=1e-6)
  # Resizing keeps the frequency of each bin (cycles per pixel): a power law stays one.
  assert S.fit_power_law(small, f_range=(1 / 8, 0.45), n_bins=6)[0] == pytest.approx(1.0, abs=0.1)
  assert S.log_correlation(spec, spec) == pytest.approx(1.0)
  (tmp_path / "bad.npy").write_bytes(b"not an array")
  for bad, match in [(tmp_path / "missing.npy", "not found"), (tmp_path / "bad.npy", "cannot read")]:
    with pytest.raises(errors.FcjaxError, match=match):
      S.load(bad)
  for arr in (np.ones((2, 8, 5)), np.ones((3, 8)), -np.ones((3, 8, 5)), np.full((3, 8, 5), np.nan)):
    with pytest.raises(errors.FcjaxError):
      S.check(arr)


def test_shipped_spectrum_and_record():
  spec = S.load(S.DEFAULT_PATH)
  assert spec.shape == (3, 256, 129) and np.all(spec > 0)
  assert S.DEFAULT_PATH.stat().st_size < 300_000
  record = json.loads(S.DEFAULT_PATH.with_suffix(".json").read_text())
  assert record["images"]["count"] == 1000 and record["shape"] == [3, 256, 129]
  alpha, ratios = S.fit_power_law(spec)
  assert alpha == pytest.approx(record["fit"]["alpha"], abs=1e-3)  # the record describes this file
  assert 1.0 < alpha < 2.5  # natural images: roughly 1/f
  # Symmetric where a real image's spectrum must be: |X[-ky, 0]| = |X[ky, 0]|.
  np.testing.assert_allclose(spec[:, 1:, 0], spec[:, :0:-1, 0], rtol=1e-3)
