"""Tests of fcjax.data.procedural: determinism, resume slices, the source protocol, and image content checked by
independent measurements (grating orientation from the Fourier spectrum, blob hue from the pixels)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from fcjax import errors

# The module itself (the package may bind the name `procedural` to the constructor function).
P = importlib.import_module("fcjax.data.procedural")


def _concat(batches):
  out = {}
  for b in batches:
    for k, v in b.items():
      out.setdefault(k, []).append(v)
  return {k: np.concatenate(v) for k, v in out.items()}


def test_protocol_shapes_dtypes_and_ranges():
  src = P.procedural(10, seed=3)
  assert len(src) == 10 and src.skipped == 0 and src.label_names == list(P.LABEL_NAMES)
  assert "procedural" in src.name and "3" in src.name
  batches = list(src.batches(4, 24))
  assert [len(b["labels"]) for b in batches] == [4, 4, 2]  # the last batch is smaller
  b = _concat(batches)
  assert b["images"].shape == (10, 24, 24, 3) and b["images"].dtype == np.float32
  assert b["images"].min() >= 0.0 and b["images"].max() <= 1.0
  assert b["labels"].dtype == np.int32 and b["index"].dtype == np.int64
  np.testing.assert_array_equal(b["index"], np.arange(10))
  assert np.all((0 <= b["labels"]) & (b["labels"] < len(P.LABEL_NAMES)))


def test_same_seed_identical_other_seed_different():
  a = _concat(P.procedural(12, seed=7).batches(5, 32))
  b = _concat(P.procedural(12, seed=7).batches(3, 32))  # batch size must not matter either
  c = _concat(P.procedural(12, seed=8).batches(5, 32))
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a["images"], c["images"])


def test_start_gives_the_same_slice_as_the_full_stream():
  full = _concat(P.procedural(20, seed=1).batches(6, 16))
  tail = _concat(P.procedural(20, seed=1).batches(4, 16, start=13))
  np.testing.assert_array_equal(tail["index"], np.arange(13, 20))
  np.testing.assert_array_equal(tail["images"], full["images"][13:])
  np.testing.assert_array_equal(tail["labels"], full["labels"][13:])
  assert list(P.procedural(20, seed=1).batches(4, 16, start=20)) == []
  img, label = P.procedural(20, seed=1).image(17, 16)  # any index alone
  np.testing.assert_array_equal(img, full["images"][17])
  assert label == full["labels"][17]


def test_labels_are_roughly_uniform():
  labels = _concat(P.procedural(1100, seed=0).batches(550, 4))["labels"]
  counts = np.bincount(labels, minlength=len(P.LABEL_NAMES))
  # Each count is Binomial(1100, 1/11): mean 100, std 9.5; 50..150 is beyond 5 sigma.
  assert counts.min() > 50 and counts.max() < 150, counts


def _stripe_orientation_deg(img: np.ndarray) -> float:
  """Orientation of the dominant stripes, degrees counter-clockwise from horizontal (y up), from the power spectrum.

  The power-weighted doubled-angle mean of the wave-vector direction over frequencies above 2 cycles per image (so
  the background's low frequencies, and the isotropic power of a round aperture, do not bias it).
  """
  n = img.shape[0]
  x = (img - img.mean(axis=(0, 1))) * (np.hanning(n)[:, None] * np.hanning(n)[None, :])[..., None]
  # Power summed over R, G, B: two grating colours may have equal luminance but always differ in some channel.
  power = np.sum(np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2, axis=-1)
  f = np.fft.fftfreq(n) * n  # cycles per image
  fr, fc = np.meshgrid(f, f, indexing="ij")
  power = power ** 2 * (np.hypot(fr, fc) >= 2.0)  # squaring sharpens the estimate towards the grating's peaks
  normal = np.arctan2(-fr, fc)  # rows grow downwards: y_up = -row
  doubled = np.arctan2(np.sum(power * np.sin(2 * normal)), np.sum(power * np.cos(2 * normal)))
  return (np.degrees(doubled / 2.0) - 90.0) % 180.0


def test_grating_orientation_matches_label():
  src = P.procedural(300, seed=5)
  errs = []
  for b in src.batches(100, 64):
    for img, label in zip(b["images"], b["labels"]):
      if label < 4:
        d = abs(_stripe_orientation_deg(img) - P.GRATING_ORIENTATIONS_DEG[label]) % 180.0
        errs.append(min(d, 180.0 - d))
  errs = np.array(errs)
  assert len(errs) > 60
  # Jitter is +-7.5 deg and the estimate adds a few degrees; the classes are 45 deg apart.
  assert np.mean(errs < 12.0) > 0.95 and np.median(errs) < 6.0, np.sort(errs)[-10:]


def test_blob_hue_matches_label():
  src = P.procedural(200, seed=9)
  for b in src.batches(100, 32):
    for img, label in zip(b["images"], b["labels"]):
      if 4 <= label < 7:
        k = label - 4
        # How much the class channel exceeds the mean of the other two, at the most saturated pixel.
        excess = img[..., k] - 0.5 * (img[..., (k + 1) % 3] + img[..., (k + 2) % 3])
        assert excess.max() > 0.3, (P.LABEL_NAMES[label], excess.max())


def test_bad_arguments_raise_dataset_errors():
  with pytest.raises(errors.DatasetError):
    P.procedural(-1)
  src = P.procedural(5)
  with pytest.raises(errors.DatasetError):
    next(src.batches(2, 16, start=6))
  with pytest.raises(errors.DatasetError):
    next(src.batches(0, 16))
  with pytest.raises(errors.DatasetError):
    src.image(5, 16)
