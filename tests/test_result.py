"""SweepResult: derived views against direct NumPy, CSV export, save/load round trip, bad directories."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from fcjax import errors, measures
from fcjax.result import SweepResult


def _result(rng, P=2, A=8, S=3, H=4):
  thetas = np.arange(A) * 2 * np.pi / A
  return SweepResult(
      config={"n_angles": A, "n_seeds": S}, model="toy", layer="l", readout="neuron",
      pairs=np.array([[0, 1], [2, 5]])[:P], thetas=thetas, scales=rng.uniform(1, 2, (P, 2)),
      unit_values=rng.normal(size=(P, 2, S)), unit_images=rng.integers(0, 255, (P, 2, H, H, 3), dtype=np.uint8),
      y=rng.normal(size=(P, A, S, 2)), c=rng.normal(size=(P, A, S)),
      images=rng.integers(0, 255, (P, A, S, H, H, 3), dtype=np.uint8), history=rng.normal(size=(P, A, S, 2)),
      meta={"objective": "exact"})


def test_derived_views_match_numpy():
  r = _result(np.random.default_rng(0))
  best = r.c.argmax(-1)
  for p in range(2):
    for a in range(8):
      np.testing.assert_array_equal(r.y_best[p, a], r.y[p, a, best[p, a]])
  np.testing.assert_allclose(r.c_mean, r.c.mean(-1))
  np.testing.assert_allclose(r.y_scaled[1, 3, 2], r.y[1, 3, 2] / r.scales[1])


def test_csv_has_one_row_per_pair_angle_seed_with_values():
  r = _result(np.random.default_rng(1))
  rows = list(csv.DictReader(io.StringIO(r.to_csv())))
  assert len(rows) == 2 * 8 * 3
  row = rows[1 * 24 + 5 * 3 + 2]  # pair 1, angle 5, seed 2
  assert (int(row["unit_i"]), int(row["unit_j"]), int(row["seed"])) == (2, 5, 2)
  assert float(row["c"]) == pytest.approx(r.c[1, 5, 2], rel=1e-5)
  assert float(row["y_j_scaled"]) == pytest.approx(r.y[1, 5, 2, 1] / r.scales[1, 1], rel=1e-5)


def test_save_load_round_trip(tmp_path):
  r = _result(np.random.default_rng(2))
  r.save(tmp_path / "res")
  back = SweepResult.load(tmp_path / "res")
  for k in ("pairs", "thetas", "scales", "y", "c", "images", "unit_images", "history"):
    np.testing.assert_array_equal(getattr(back, k), getattr(r, k))
  assert back.config == r.config and back.meta == r.meta and back.transparency is None
  assert not list((tmp_path / "res").glob(".*tmp"))  # no temp files left behind


def test_summary_carries_the_motif_measures():
  r = _result(np.random.default_rng(3))
  text = r.summary(1)
  assert "units (2, 5)" in text and "paper rel. C" in text and "frontier" in text and "corner" in text
  assert all(f"{q} {v}" in text for q, v in zip(("I", "II", "III", "IV"), measures.summarize(r, 1)["verdicts"]))


def test_best_seed_is_nan_aware():
  r = _result(np.random.default_rng(4))
  c = r.c.copy()
  c[0, 2, r.c[0, 2].argmax()] = np.nan  # the would-be best seed diverged: the next best is chosen
  r2 = SweepResult(**{**{f: getattr(r, f) for f in ("config", "model", "layer", "readout", "pairs", "thetas",
                                                    "scales", "unit_values", "unit_images", "y", "images", "history",
                                                    "meta")}, "c": c})
  assert r2.best_seed[0, 2] == np.argsort(r.c[0, 2])[-2]
  np.testing.assert_array_equal(r2.best_seed, measures.best_seed(c))


def test_load_refuses_a_directory_that_is_not_a_result(tmp_path):
  with pytest.raises(errors.FcjaxError, match="not a sweep result"):
    SweepResult.load(tmp_path)
  (tmp_path / "result.json").write_text("{not json")
  (tmp_path / "arrays.npz").write_bytes(b"garbage")
  with pytest.raises(errors.FcjaxError, match="cannot read"):
    SweepResult.load(tmp_path)
