"""The 3-D toys of tests/toy_features3d.py and their grid truth, alone (no sweep): the feature maps, the truth's
shape, and the grid's K against values derived by hand. A few seconds (the 101^3 grids, cached per toy)."""

from __future__ import annotations

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_features as toys
import toy_features3d as t3

P, C = "possible", "collapsed"
TOYS = t3.toys3()
THIRD = 1 / 3

# Hand-derived truths: name -> (reach [3, 2] as (R+, R-) per unit, K per octant in t3.OCTANTS' order, K per pair
# (0,1), (0,2), (1,2) and quadrant I..IV). Derivations:
# * free (s, t, r): the cube; every reach 1, every octant's corner (+-1, +-1, +-1) is in the set: every K = 1.
# * stretched (10 s if s > 0 else s, t, r): R_{1,+} = 10 and y1 / R_{1,+} = s: the cube again, every K = 1.
# * plane (s, t, -(s + t)): R_3 = 2 on both sides (s = t = -+1). +++ / ---: y3 has the sign opposite to s + t, so no
#   point is inside: K = 0. ++- (s, t > 0, y3 = -(s + t) < 0 free): min(s, t, (s + t) / 2) = 1 at s = t = 1; --+ the
#   same. +-+ (s > 0, t < 0, |t| > s): min(s, |t|, (|t| - s) / 2) is largest at |t| = 1, s = (1 - s) / 2: s = 1/3,
#   K = 1/3; +--, -++ and -+- are its mirror images (swap s and t, or the signs): 1/3. Pairs: (0, 1) is the square,
#   K = 1; (0, 2) = (s, -(s + t)), t free in [-1, 1]: I (s > 0, y3 <= 1 - s) min(s, (1 - s) / 2) = 1/3, II (s < 0,
#   y3 up to 1 + |s|) min(|s|, (1 + |s|) / 2) = 1 at s = -1, III mirrors I (1/3), IV mirrors II (1); (1, 2) likewise.
#   Every pair quadrant has K >= 1/3: no pair shows +++ or ---, both are only-triple. (The grid's step of 0.02 gives
#   0.33 for 1/3: within 1e-2.)
# * hidden, c = 9 (s, t, max(r - c relu(min(s, t)), -1)): R_{3,+} = 1 (r = 1 where min(s, t) <= 0), R_{3,-} = 1 (the
#   clip). +++: with m = min(s, t) > 0, y3 <= 1 - c m, so K = max min(m, 1 - c m) = 1 / (1 + c) = 1/10. Every other
#   octant has its corner (+-1, +-1, +-1) in the set (y3 = r where s or t < 0; y3 = -1 at s = t = 1, r = -1): K = 1.
#   Pairs: (0, 1) the square; (0, 2) with t = -1 is (s, r), the square; (1, 2) likewise: every K = 1.
# * hidden near, c = 4: as hidden, +++ K = 1/5.
# * pointy (s, -s, r): y1 and y2 have opposite signs: +++, ++-, --+, --- empty (K = 0), the others reach their corner
#   (K = 1). Pair (0, 1) is the segment from (-1, 1) to (1, -1): I and III K = 0, II and IV K = 1; pairs (0, 2) and
#   (1, 2) are squares. Pair (0, 1) shows each collapsed octant; none is only-triple.
# * product (s, t, s t): sign y3 = sign y1 * sign y2, so ++-, +-+, -++, --- are empty (K = 0) and the other four reach
#   their corner (s, t = +-1, |s t| = 1): K = 1. Every pair is the full square (s, s t reaches (+-1, +-1) with
#   t = +-1): K = 1. All four collapsed octants are only-triple.
ONES = np.ones((3, 2))
HAND = {
    "free": (ONES, [1] * 8, np.ones((3, 4))),
    "stretched": (np.array([[10, 1], [1, 1], [1, 1]]), [1] * 8, np.ones((3, 4))),
    "plane": (np.array([[1, 1], [1, 1], [2, 2]]), [0, 1, THIRD, THIRD, THIRD, THIRD, 1, 0],
              np.array([[1, 1, 1, 1], [THIRD, 1, THIRD, 1], [THIRD, 1, THIRD, 1]])),
    "hidden": (ONES, [0.1] + [1] * 7, np.ones((3, 4))),
    "hidden near": (ONES, [0.2] + [1] * 7, np.ones((3, 4))),
    "pointy": (ONES, [0, 0, 1, 1, 1, 1, 0, 0], np.array([[0, 1, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1]])),
    "product": (ONES, [1, 0, 0, 1, 0, 1, 1, 0], np.ones((3, 4))),
}
# The hand verdicts that follow (K >= 1/4) and who shows each collapsed octant.
HAND_SHOWS = {"pointy": {"+++": [0], "++-": [0], "--+": [0], "---": [0]}}
HAND_ONLY = {"free": [], "stretched": [], "plane": ["+++", "---"], "hidden": ["+++"], "hidden near": ["+++"],
             "pointy": [], "product": ["++-", "+-+", "-++", "---"]}


def test_every_toy_has_a_hand_derived_truth():
  assert sorted(TOYS) == sorted(HAND) == sorted(HAND_ONLY)


@pytest.mark.parametrize("name", list(TOYS))
def test_grid_truth_matches_the_hand_derivation(name):
  tr = t3.grid_truth3(TOYS[name])
  reach, corner, pair_corner = HAND[name]
  assert set(tr) == {"corner", "verdicts", "pair_corner", "pair_shows", "reach", "only_triple"}
  assert tr["corner"].shape == (8,) and tr["pair_corner"].shape == (3, 4) and tr["reach"].shape == (3, 2)
  assert len(tr["verdicts"]) == len(tr["pair_shows"]) == 8
  np.testing.assert_allclose(tr["reach"], reach, atol=1e-9)  # the extremes lie on the grid
  np.testing.assert_allclose(tr["corner"], corner, atol=1e-2)
  np.testing.assert_allclose(tr["pair_corner"], pair_corner, atol=1e-2)
  assert tr["verdicts"] == [P if k >= 0.25 else C for k in corner]
  shows = HAND_SHOWS.get(name, {})
  assert tr["pair_shows"] == [shows.get(o, []) for o in t3.OCTANTS]
  assert tr["only_triple"] == HAND_ONLY[name]


def test_hidden_every_pair_reaches_every_quadrant_but_the_triple_collapses():
  """The point of "hidden": from any two units every quadrant is reachable (K = 1), yet octant +++ is collapsed."""
  for name in ("hidden", "hidden near"):
    tr = t3.grid_truth3(TOYS[name])
    assert tr["pair_corner"].min() >= 0.99
    assert tr["verdicts"] == [C] + [P] * 7 and tr["corner"][0] < 0.25
    assert tr["pair_shows"][0] == [] and tr["only_triple"] == ["+++"]


def test_hidden_without_its_clip_would_collapse_pair_quadrants_too():
  """Why "hidden" clips y3 at -1: y = (s, t, r - 4 relu(min(s, t))) reaches y3 = -5 only where s, t > 0, so every
  octant with y3 < 0 and s or t < 0 has K = 1/5 (+--, -+-, ---), and pairs (0, 2), (1, 2) show quadrant III."""
  raw = t3.GridToy3("unclipped", lambda s, t, r: (s, t, r - 4 * t3._relu(t3._min(s, t))))
  tr = t3.grid_truth3(raw)
  assert tr["reach"][2].tolist() == pytest.approx([1.0, 5.0])
  assert [o for o, v in zip(t3.OCTANTS, tr["verdicts"]) if v == C] == ["+++", "+--", "-+-", "---"]
  np.testing.assert_allclose(tr["pair_corner"][1:, 2], [0.2, 0.2], atol=1e-9)


def test_the_corner_measure_on_hand_made_points():
  pts = np.array([[0.5, 0.2, -1.0], [1.0, 1.0, 0.0], [-2.0, 0.4, 0.3], [0.1, 0.1, 0.1]])
  # +++: (1, 1, 0) is on a face, not inside; (0.1, 0.1, 0.1) is: min(0.1/1, 0.1/1, 0.1/0.3)
  assert t3.corner_measure(pts, (1, 1, 1), (1.0, 1.0, 0.3)) == pytest.approx(0.1)
  assert t3.corner_measure(pts, (1, 1, -1), (1.0, 1.0, 1.0)) == pytest.approx(0.2)
  assert t3.corner_measure(pts, (-1, -1, -1), (2.0, 1.0, 1.0)) == 0.0  # nothing inside
  assert t3.corner_measure(pts, (1, 1, 1), (1.0, 0.0, 0.3)) == 0.0  # a half-axis never reached
  tr = t3.truth_of_points(pts)
  np.testing.assert_allclose(tr["reach"], [[1, 2], [1, -0.1], [0.3, 1]])  # no y2 < 0: R_{2,-} < 0, never reached
  # -++: (-2, 0.4, 0.3) over (R_{1,-}, R_{2,+}, R_{3,+}) = (2, 1, 0.3): min(1, 0.4, 1)
  assert tr["corner"][t3.OCTANTS.index("-++")] == pytest.approx(0.4)
  assert tr["corner"][t3.OCTANTS.index("+++")] == pytest.approx(0.1)
  assert tr["corner"][t3.OCTANTS.index("+--")] == 0.0 and tr["pair_corner"][0, 3] == 0.0  # R_{2,-} < 0: K = 0


@pytest.mark.parametrize("name", list(TOYS))
def test_the_feature_map_is_g_of_the_channel_means(name):
  """On images built to hit given (s, t, r) (each channel constant), f returns g(s, t, r), float32 [N, 3]."""
  gt = TOYS[name]
  toy = gt.toy()
  stv = np.random.default_rng(1).uniform(-1, 1, (64, 3))
  stv[:8] = [[1, 1, 1], [-1, -1, -1], [0.2, 0.2, 1], [0.1, 0.1, 1], [0.3, -1, 0.4], [1, 1, -1], [-1, 0, 1],
              [0.5, -0.5, 0.25]]
  y = toy.f(toy.params, t3.images_for(stv))
  assert y.shape == (64, 3) and y.dtype == jnp.float32
  want = np.stack([np.broadcast_to(v, (64,)) for v in gt.g(*stv.astype(np.float64).T)], axis=-1)
  np.testing.assert_allclose(np.asarray(y), want, atol=1e-5)
  np.testing.assert_allclose(np.asarray(toy.scales), HAND[name][0][:, 0], atol=1e-9)


@pytest.mark.parametrize("name", list(TOYS))
def test_the_feature_map_is_differentiable(name):
  toy = TOYS[name].toy()
  img = jnp.asarray(t3.natural_images3(4, seed=2))
  for i in range(3):
    grad = jax.grad(lambda x, i=i: jnp.sum(toy.f(toy.params, x)[:, i]))(img)
    assert grad.shape == img.shape and bool(jnp.all(jnp.isfinite(grad)))


def test_combined_toys_put_each_triple_side_by_side():
  names = list(TOYS)
  comb = toys.combined(*(TOYS[n].toy() for n in names))
  img = t3.natural_images3(16, seed=3)
  y = np.asarray(comb.f(comb.params, img))
  assert y.shape == (16, 3 * len(names))
  for k, n in enumerate(names):
    toy = TOYS[n].toy()
    np.testing.assert_allclose(y[:, 3 * k:3 * k + 3], np.asarray(toy.f(toy.params, img)), atol=1e-6)


def test_natural_images_fill_the_middle_of_the_cube_independently():
  s, t, r = (np.asarray(v) for v in t3.channel_means(t3.natural_images3(2000, seed=0)))
  for v in (s, t, r):
    assert -0.85 < v.min() < -0.7 and 0.7 < v.max() < 0.85
  assert abs(np.corrcoef(s, t)[0, 1]) < 0.1 and abs(np.corrcoef(s, r)[0, 1]) < 0.1


def test_the_truth_imports_nothing_from_fcjax():
  """The truth must not come from the code it tests: tests/toy_features3d.py (and the toy_features it uses)
  import no fcjax module."""
  for mod in ("toy_features3d.py", "toy_features.py"):
    tree = ast.parse((pathlib.Path(__file__).parent / mod).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] == "fcjax"], (mod, names)
