"""Toy feature TRIPLES whose reachable sets are known, for testing the sweep of triples (k = 3) and its octants.

Each toy is a differentiable ``f(params, images float32 [N, 4, 4, 3] in [0, 1]) -> float32 [N, 3]``, ``y = g(s, t, r)``
of three independent bounded features of the image: with ``u = 2 * image - 1``, s, t and r are the means of u over
the red, the green and the blue channel (disjoint pixel groups, so (s, t, r) fills [-1, 1]^3). ``g`` is written in
arithmetic and comparisons alone, so it runs on NumPy and on JAX arrays: the truth is g over a dense grid of
(s, t, r) in [-1, 1]^3 (101^3 points), computed here in plain NumPy, importing nothing from fcjax.

Truth definitions (all over the grid's points y = g(s, t, r)):

* half-axis reach R_{i,+} = max over the set of y_i, R_{i,-} = max of -y_i (over the grid);
* octant O with signs (σ1, σ2, σ3) in the order "+++", "++-", "+-+", "+--", "-++", "-+-", "--+", "---" (sign of
  y1, y2, y3);
* corner measure K_O = max over grid points strictly inside O of min_i (σ_i y_i / R_{i,σ_i}), 0 if none; an octant
  is "possible" when K_O >= 1/4, else "collapsed";
* projections: for each pair (a, b) in ((0, 1), (0, 2), (1, 2)) and each quadrant of that pair, the same K computed
  on the 2-D projection of the grid points (pair reach = the same half-axis reaches); "pair (a, b) shows octant O"
  when the projection quadrant with O's signs on a, b is collapsed (K < 1/4). A point strictly inside O projects
  strictly inside that quadrant, with a min over fewer ratios, so a pair that shows O implies O collapsed; a
  collapsed octant that no pair shows is "only-triple".

"Strictly inside" is ``σ_i y_i > 1e-9`` (as in ``toy_features.grid_truth``); a half-axis reach <= 1e-9 gives K = 0.
:func:`grid_truth3` returns ``{"corner": float [8], "verdicts": [8 str], "pair_corner": float [3, 4] (quadrants
I (+,+), II (-,+), III (-,-), IV (+,-)), "pair_shows": 8 lists of pair indices, "reach": float [3, 2] (R_{i,+},
R_{i,-}), "only_triple": octant names}``.

The toys (:func:`toys3`; K by hand, derived in tests/test_toy_features3d.py; "only" = only-triple):

=============  ===========================================  ==========================================================
name           y                                            truth
=============  ===========================================  ==========================================================
free           (s, t, r)                                    every K = 1
stretched      (10 s if s > 0 else s, t, r)                 every K = 1 (R_{1,+} = 10)
plane          (s, t, -(s + t))                             +++, --- collapsed (K = 0), only; ++-, --+ K = 1, the
                                                            other four K = 1/3
hidden         (s, t, max(r - 9 relu(min(s, t)), -1))       +++ K = 1/10 collapsed, only; every pair quadrant K = 1
hidden near    (s, t, max(r - 4 relu(min(s, t)), -1))       +++ K = 1/5 collapsed, only (inside the sweep's band)
pointy         (s, -s, r)                                   +++, ++-, --+, --- collapsed (K = 0), shown by pair (0, 1)
product        (s, t, s t)                                  ++-, +-+, -++, --- collapsed (K = 0; sign y3 = sign y1 y2),
                                                            only: every pair is free
=============  ===========================================  ==========================================================

Why "hidden" clips y3 at -1: without it, y3 = r - c relu(min(s, t)) reaches -(1 + c) only where s, t > 0, so every
octant and pair quadrant with y3 < 0 and s or t < 0 has K <= 1/(1 + c) and is collapsed too; clipped, R_{3,-} = 1 and
+++ is the only collapsed octant (K = 1/(1 + c)) while every pair quadrant has K = 1.

Under pytest the ``tests`` folder is on ``sys.path``: ``import toy_features3d``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

import toy_features as toys

SIZE = toys.SIZE  # image side (4): three channels of 16 pixels each
OCTANTS = ("+++", "++-", "+-+", "+--", "-++", "-+-", "--+", "---")
OCTANT_SIGNS = tuple(tuple(1 if c == "+" else -1 for c in o) for o in OCTANTS)
PAIRS = ((0, 1), (0, 2), (1, 2))
QUADRANTS = ("I", "II", "III", "IV")
QUADRANT_SIGNS = ((1, 1), (-1, 1), (-1, -1), (1, -1))
CORNER_POSSIBLE = 0.25  # K >= 1/4: possible (the threshold the library uses, restated here, not imported)
GRID_N = 101  # grid points per parameter: step 0.02, with 0 and +-1 on the grid
_EPS = 1e-9


def _relu(x):
  return x * (x > 0)


def _min(a, b):
  return a - _relu(a - b)


class GridToy3(NamedTuple):
  """``y = g(s, t, r)`` of the three channel means (independent, each in [-1, 1]): ``g`` works on NumPy and JAX."""

  name: str
  g: Callable[[Any, Any, Any], tuple]

  def toy(self) -> toys.Toy:
    """The toy as a ``toy_features.Toy`` (``toy_features.combined`` puts toy t's triple at features 3t..3t+2);
    ``scales`` are the grid's R_{i,+}."""
    g = self.g

    def f(params, images):
      del params
      s, t, r = channel_means(images)
      return jnp.stack(g(s, t, r), axis=-1)

    def boundary(n):
      raise NotImplementedError("a 3-D grid toy's truth comes from grid_truth3")

    return toys.Toy(self.name, f, jnp.float32(0), boundary, grid_truth3(self)["reach"][:, 0].copy())


def channel_means(images):
  """(s, t, r), each float32 [N] in [-1, 1]: the means of u = 2 * image - 1 over the red, green, blue channel."""
  u = 2.0 * jnp.asarray(images, jnp.float32) - 1.0
  m = jnp.mean(u, axis=(1, 2))
  return m[:, 0], m[:, 1], m[:, 2]


def images_for(values: np.ndarray, size: int = SIZE) -> np.ndarray:
  """float32 [N, size, size, 3] images whose channel means of u are ``values`` [N, 3] (s, t, r, each in [-1, 1])."""
  v = (np.asarray(values, np.float32) + 1) / 2
  return np.ascontiguousarray(np.broadcast_to(v[:, None, None, :], (len(v), size, size, 3)), np.float32)


def natural_images3(n: int, seed: int = 0, lo: float = 0.1, hi: float = 0.9, size: int = SIZE) -> np.ndarray:
  """float32 [n, size, size, 3] "natural images": each channel at its own uniform level in [lo, hi] (plus pixel noise
  of 0.02), so (s, t, r) fill the middle cube [-0.8, 0.8]^3 independently (``toy_features.natural_images`` gives
  equal channels, s = t = r, one line of the cube)."""
  rng = np.random.default_rng(seed)
  lev = rng.uniform(lo, hi, (n, 1, 1, 3))
  img = np.broadcast_to(lev, (n, size, size, 3)) + rng.normal(0, 0.02, (n, size, size, 3))
  return np.clip(img, 0, 1).astype(np.float32)


def _hidden(c: float):
  """(s, t, max(r - c relu(min(s, t)), -1)): octant +++ has K = 1/(1 + c), every pair quadrant K = 1."""
  return lambda s, t, r: (s, t, -1.0 + _relu(r + 1.0 - c * _relu(_min(s, t))))


def toys3() -> dict:
  """name -> GridToy3 (the module docstring's table)."""
  return {
      "free": GridToy3("free", lambda s, t, r: (s, t, r)),
      "stretched": GridToy3("stretched", lambda s, t, r: (s * (1.0 + 9.0 * (s > 0)), t, r)),
      "plane": GridToy3("plane", lambda s, t, r: (s, t, -(s + t))),
      "hidden": GridToy3("hidden", _hidden(9.0)),
      "hidden near": GridToy3("hidden near", _hidden(4.0)),
      "pointy": GridToy3("pointy", lambda s, t, r: (s, -s, r)),
      "product": GridToy3("product", lambda s, t, r: (s, t, s * t)),
  }


def grid_points3(gt: GridToy3, n: int = GRID_N) -> np.ndarray:
  """float64 [n^3, 3]: g over the grid of [-1, 1]^3 with n points per parameter."""
  s, t, r = np.meshgrid(*[np.linspace(-1, 1, n)] * 3, indexing="ij")
  return np.stack([np.broadcast_to(np.asarray(y, np.float64), s.shape).ravel() for y in gt.g(s, t, r)], axis=-1)


def reaches(points: np.ndarray) -> np.ndarray:
  """float64 [k, 2]: (R_{i,+}, R_{i,-}) = (max y_i, max -y_i) of points [M, k]."""
  return np.stack([points.max(axis=0), (-points).max(axis=0)], axis=-1)


def corner_measure(points: np.ndarray, signs, reach) -> float:
  """K of the orthant with ``signs`` [k]: the max over points [M, k] strictly inside it of min_i (σ_i y_i / R_i),
  with ``reach`` [k] the reach of each bounding half-axis; 0 if no point is strictly inside or a reach is <= 1e-9."""
  signs, reach = np.asarray(signs, np.float64), np.asarray(reach, np.float64)
  if np.any(reach <= _EPS):
    return 0.0
  v = points * signs
  inside = np.all(v > _EPS, axis=1)
  return float(np.min(v[inside] / reach, axis=1).max()) if inside.any() else 0.0


def _half_reach(reach: np.ndarray, axes, signs) -> np.ndarray:
  return np.array([reach[a, 0 if sg > 0 else 1] for a, sg in zip(axes, signs)])


def truth_of_points(points: np.ndarray) -> dict:
  """:func:`grid_truth3`'s dict for any points [M, 3] (the module docstring's definitions)."""
  reach = reaches(points)
  corner = np.array([corner_measure(points, sg, _half_reach(reach, (0, 1, 2), sg)) for sg in OCTANT_SIGNS])
  pair_corner = np.array([[corner_measure(points[:, list(ab)], qs, _half_reach(reach, ab, qs))
                           for qs in QUADRANT_SIGNS] for ab in PAIRS])
  verdicts = ["possible" if k >= CORNER_POSSIBLE else "collapsed" for k in corner]
  pair_shows = []
  for sg in OCTANT_SIGNS:
    shows = []
    for p, (a, b) in enumerate(PAIRS):
      if pair_corner[p, QUADRANT_SIGNS.index((sg[a], sg[b]))] < CORNER_POSSIBLE:
        shows.append(p)
    pair_shows.append(shows)
  only = [o for o, v, sh in zip(OCTANTS, verdicts, pair_shows) if v == "collapsed" and not sh]
  return {"corner": corner, "verdicts": verdicts, "pair_corner": pair_corner, "pair_shows": pair_shows,
          "reach": reach, "only_triple": only}


@functools.lru_cache(maxsize=None)
def _grid_truth3(gt: GridToy3, n: int) -> dict:
  return truth_of_points(grid_points3(gt, n))


def grid_truth3(gt: GridToy3, n: int = GRID_N) -> dict:
  """The truth of a toy from its grid (module docstring); cached, a fresh copy of the arrays each call."""
  out = _grid_truth3(gt, n)
  return {k: (v.copy() if isinstance(v, np.ndarray) else [list(x) if isinstance(x, list) else x for x in v])
          for k, v in out.items()}
