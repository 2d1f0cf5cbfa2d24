"""Sweeps of k units (pairs and triples through one program): a pair sweep is what it was before triples existed, a
triple shares the pairs' half-axis phase, and the corner measure has one definition for every k."""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

import toy_features as toys
from fcjax import _orthant, errors, measures, models, orthants, sweep

DATA = pathlib.Path(__file__).parent / "data"
CONFIG = sweep.SweepConfig(param="pixel", transforms="none", canvas_size=toys.SIZE, input_size=toys.SIZE,
                           optimizer="adam", learning_rate=0.1, steps=60, block_steps=30, n_angles=12, n_seeds=2,
                           relu="plain")


def _pair_toy():
  return toys.combined(toys.ell(), toys.stretch(toys.square(), neg=(5.0, 1.0)))


def test_a_pair_sweep_equals_the_one_made_before_triples_existed():
  """tests/data/pair_sweep_before_triples.npz: this sweep run by the code of commit 2bb7f82 (pairs only). On the
  machine that made it the arrays were bitwise equal; 1e-6 relative allows another CPU's vector units."""
  toy = _pair_toy()
  r = sweep.run(toy.f, toy.params, CONFIG, pairs=[(0, 1), (2, 3)])
  old = np.load(DATA / "pair_sweep_before_triples.npz")
  for name, new in (("y", r.y), ("c", r.c), ("axis_y", r.axis_y), ("norm", r.norm), ("y2", r.y_phase2)):
    np.testing.assert_allclose(new, old[name], rtol=1e-6, atol=1e-7, err_msg=name)
  assert r.k == 2 and r.thetas.shape == (16,)  # 12 angles + the 4 quadrant diagonals


def _triple_f(params, images):
  """Three independent features (the pair toy's first two and a third): a free triple."""
  u = 2.0 * jnp.asarray(images, jnp.float32) - 1.0
  return jnp.stack([jnp.mean(u[:, :2], axis=(1, 2, 3)), jnp.mean(u[:, 2:, :2], axis=(1, 2, 3)),
                    jnp.mean(u[:, 2:, 2:], axis=(1, 2, 3))], -1)


def test_a_triple_shares_the_pairs_half_axis_phase_and_has_the_documented_shapes():
  cfg = CONFIG.replace(n_directions=16)
  tri = sweep.run(_triple_f, None, cfg, units=(0, 1, 2))
  pair = sweep.run(_triple_f, None, cfg, pairs=[(0, 2)])
  n_dir = 16 + 8 + 12
  assert tri.k == 3 and tri.pairs.shape == (1, 3)
  assert tri.thetas.shape == (n_dir, 3) and tri.directions.shape == (n_dir, 3)
  assert tri.y.shape == (1, n_dir, 2, 3) and tri.c.shape == (1, n_dir, 2) and tri.axis_y.shape == (1, 6, 3)
  assert tri.norm.shape == (1, 6) and tri.y_phase2.shape == (1, n_dir, 2, 3)
  np.testing.assert_array_equal(tri.unit_values[0, [0, 2]], pair.unit_values[0])
  np.testing.assert_array_equal(tri.unit_neg_values[0, [0, 2]], pair.unit_neg_values[0])
  np.testing.assert_allclose(np.linalg.norm(tri.directions, axis=1), 1.0, atol=1e-12)
  assert tri.meta["refinement"]["kept_beaten"] == 0
  s = orthants.summarize(tri, 0)
  assert s["possible"] == list(orthants.OCTANTS)   # a free triple: every octant
  lines = tri.to_csv().splitlines()
  assert lines[0].split(",") == ["triple", "unit_i", "unit_j", "unit_k", "h_i", "h_j", "h_k", "seed", "y_i", "y_j",
                                 "y_k", "y_i_scaled", "y_j_scaled", "y_k_scaled", "c"]
  assert len(lines) == 1 + n_dir * 2
  row = lines[1].split(",")
  assert row[:4] == ["0", "0", "1", "2"] and row[7] == "0"
  np.testing.assert_allclose([float(v) for v in row[4:7]], tri.directions[0], atol=1e-6)
  np.testing.assert_allclose([float(v) for v in row[8:11]], tri.y[0, 0, 0], rtol=1e-5)
  assert float(row[-1]) == pytest.approx(float(tri.c[0, 0, 0]), rel=1e-5)
  # a free triple (the cube [-1, 1]^3): every half-axis is reached, and each direction strictly inside an octant
  # ends there
  assert np.all(tri.unit_values.max(-1) > 0.9) and np.all(tri.unit_neg_values.min(-1) < -0.9)
  inside = np.all(np.abs(tri.directions) > 0.05, axis=1)
  best = tri.y_best[0][inside]
  assert np.array_equal(np.sign(best), np.sign(tri.directions[inside]))
  assert "+++ possible" in tri.summary(0)


def test_directions_cover_the_sphere_and_include_the_diagonals():
  d = sweep.SweepConfig(n_directions=128).directions(3)
  assert d.shape == (148, 3)
  diag = np.array([1.0, -1.0, 1.0]) / np.sqrt(3.0)
  assert np.min(np.linalg.norm(d - diag, axis=1)) < 1e-12
  assert np.min(np.linalg.norm(d - np.array([0.0, -1.0, 1.0]) / np.sqrt(2.0), axis=1)) < 1e-12
  # covering radius of the 128 Fibonacci points: every point of a dense random sample is within ~13 degrees
  rng = np.random.default_rng(0)
  x = rng.normal(size=(20000, 3))
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  worst = np.degrees(np.arccos(np.clip((x @ d[:128].T).max(axis=1), -1, 1))).max()
  assert worst < 14.0
  counts = np.bincount(_orthant.orthant_of(d[:128]), minlength=8)
  assert counts.min() >= 14 and counts.max() <= 18   # the octants get nearly equal shares
  np.testing.assert_allclose(sweep.SweepConfig().directions(2),
                             np.stack([np.cos(sweep.SweepConfig().thetas), np.sin(sweep.SweepConfig().thetas)], 1))
  with pytest.raises(errors.FcjaxError, match="k = 2 or 3"):
    sweep.SweepConfig().directions(4)


def test_the_pair_measure_is_the_k_dimensional_one_in_quadrant_order():
  rng = np.random.default_rng(1)
  pts = rng.normal(size=(300, 2)) * [3.0, 0.5]
  want_reach = np.array([pts[:, 0].max(), -pts[:, 0].min(), pts[:, 1].max(), -pts[:, 1].min()])  # plain NumPy
  np.testing.assert_array_equal(measures.half_axis_reach(pts), want_reach)
  got = measures.corner_measures(pts, want_reach)
  for q, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):   # I..IV, written out here
    inside = (sx * pts[:, 0] > 0) & (sy * pts[:, 1] > 0)
    u = np.abs(pts[inside]) / want_reach[[0 if sx > 0 else 1, 2 if sy > 0 else 3]]
    assert got[q] == pytest.approx(u.min(axis=1).max())
    assert got[q] == _orthant.corner_measures(pts, want_reach)[_orthant.orthant_names(2).index(
        ("+" if sx > 0 else "-") + ("+" if sy > 0 else "-"))]
  # an independent brute-force K for one octant of a 3-D cloud
  p3 = rng.normal(size=(500, 3))
  r3 = np.stack([p3.max(0), -p3.min(0)], 1).reshape(-1)   # x+, x-, y+, y-, z+, z- in plain NumPy
  np.testing.assert_array_equal(_orthant.half_axis_reach(p3), r3)
  inside = (p3[:, 0] > 0) & (p3[:, 1] < 0) & (p3[:, 2] > 0)
  want = max(min(p[0] / r3[0], -p[1] / r3[3], p[2] / r3[4]) for p in p3[inside])
  assert _orthant.corner_measures(p3, r3)[_orthant.orthant_names(3).index("+-+")] == pytest.approx(want)


def test_bad_triples_are_refused_in_one_line():
  with pytest.raises(errors.FcjaxError, match="three different units"):
    sweep.run(_triple_f, None, CONFIG, pairs=[(0, 1, 1)])
  with pytest.raises(errors.FcjaxError, match="three different units"):
    sweep.run(_triple_f, None, CONFIG, units=(0, 1, 1))
  with pytest.raises(errors.FcjaxError, match="not both"):
    sweep.run(_triple_f, None, CONFIG, pairs=[(0, 1, 2)], units=(0, 1, 2))
  with pytest.raises(errors.FcjaxError, match="combinations of 4 units"):
    sweep.run(_triple_f, None, CONFIG, pairs=[(0, 1, 2, 3)])
  with pytest.raises(errors.UnitIndexError, match="out of range"):
    sweep.run(_triple_f, None, CONFIG, pairs=[(0, 1, 3)])
  narrow = models.from_apply("narrow", lambda *a, **k: {}, (models.Layer("x", 2),), input_size=8)
  with pytest.raises(errors.UnitIndexError, match="unit 2 is out of range for x of narrow, which has 2 channels"):
    sweep.run(narrow, {}, CONFIG, layer="x", pairs=[(0, 1, 2)])
  tri = sweep.run(_triple_f, None, CONFIG.replace(n_directions=8, steps=4, block_steps=4), pairs=[(0, 1, 2)])
  with pytest.raises(errors.FcjaxError, match="fcjax.orthants"):
    measures.summarize(tri, 0)
  with pytest.raises(errors.FcjaxError, match="out of range"):
    orthants.summarize(tri, 1)
  with pytest.raises(errors.FcjaxError, match=r"\[N, 3\]"):
    orthants.summarize(tri, 0, cloud=np.zeros((5, 2)))


def test_an_interrupted_triple_resumes_to_the_uninterrupted_result(tmp_path):
  cfg = CONFIG.replace(n_directions=8, steps=20, block_steps=10)
  whole = sweep.run(_triple_f, None, cfg, pairs=[(0, 1, 2)])

  def stop(info):
    if info["phase"] == 2 and info["block"] == 1:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    sweep.run(_triple_f, None, cfg, pairs=[(0, 1, 2)], resume_dir=tmp_path / "ck", callback=stop)
  resumed = sweep.run(_triple_f, None, cfg, pairs=[(0, 1, 2)], resume_dir=tmp_path / "ck")
  assert resumed.meta["resumed_from"] == {"phase": 2, "block": 1}
  for name in ("y", "c", "axis_y", "norm", "y_phase2", "images"):
    np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name), err_msg=name)
  with pytest.raises(errors.ConfigMismatchError):   # the checkpoint of a triple is not a pair's
    sweep.run(_triple_f, None, cfg, pairs=[(0, 1)], resume_dir=tmp_path / "ck")


def test_a_triple_sharded_over_four_devices_equals_one_device():
  """tests/conftest.py gives 4 CPU devices: the same triple on 1 and on 4 (sigmoid pixels, no transforms: the
  program is batch-exact, module docstring of fcjax.sweep)."""
  import jax
  if jax.device_count() < 4:
    pytest.skip("needs 4 devices (XLA_FLAGS=--xla_force_host_platform_device_count=4, set by conftest)")
  cfg = CONFIG.replace(n_directions=8, steps=10, block_steps=10)
  one = sweep.run(_triple_f, None, cfg, units=(0, 1, 2), devices=jax.devices()[:1])
  four = sweep.run(_triple_f, None, cfg, units=(0, 1, 2), devices=jax.devices()[:4])
  assert four.meta["n_devices"] == 4 and one.meta["n_devices"] == 1
  np.testing.assert_allclose(four.y, one.y, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(four.c, one.c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("combo", [(0, 1), (0, 1, 2)])
def test_every_kept_image_shows_its_own_y(combo):
  """Refinement swaps images between rows (a beaten row takes its beater's image, a half-axis image may be refined):
  each kept uint8 image, fed back through the features, gives its row's y (up to the uint8 rounding, at most
  1/255 per pixel: a toy feature is a mean of 2 * pixel - 1)."""
  import toy_features3d as t3
  toy = _pair_toy() if len(combo) == 2 else t3.toys3()["hidden"].toy()
  f, params = toy.f, toy.params
  cfg = CONFIG.replace(n_directions=8, refine_rounds=2)
  r = sweep.run(f, params, cfg, units=combo)
  imgs = r.images[0].reshape(-1, *r.images.shape[-3:]).astype(np.float32) / 255.0
  y = np.asarray(f(params, imgs))[:, list(combo)]
  np.testing.assert_allclose(y, r.y[0].reshape(-1, len(combo)), atol=2.5 / 255)
  assert r.meta["refinement"]["rounds"][0]["beaten_images"] > 0   # the swaps happened
