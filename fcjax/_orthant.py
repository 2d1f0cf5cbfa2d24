"""The corner measure of any number of units k (pairs: quadrants; triples: octants), in plain NumPy.

The one definition behind :func:`fcjax.measures.corner_measures` (k = 2) and :mod:`fcjax.orthants` (k = 3).

Points are reached unit values [..., k] in any per-unit scaling. Half-axes are ordered u0+, u0-, u1+, u1-, ... (2k);
orthants by their signs in ``itertools.product((1, -1), repeat=k)`` order ("++", "+-", "-+", "--" for pairs; "+++",
"++-", ..., "---" for triples). With ``u_i = |y_i| / R_{i, sign}`` (each coordinate over the reach of its own
half-axis), the corner measure of orthant O is

    K_O = max over reached points strictly inside O of min_i u_i      (0 if there is none).

Invariance: scaling one half-axis by c > 0 scales that coordinate of every point on that side and its reach by c, so
K is unchanged (for c within (UNREACHED, 1 / UNREACHED)).
"""

from __future__ import annotations

import itertools

import numpy as np

from fcjax import errors

UNREACHED = 1e-3  # a half-axis reaching less than this fraction of its unit's other half is not reached


def orthant_signs(k: int) -> np.ndarray:
  """int [2^k, k]: the sign of each coordinate in each orthant, ``itertools.product((1, -1), repeat=k)`` order."""
  return np.array(list(itertools.product((1, -1), repeat=k)), np.int64)


def orthant_names(k: int) -> tuple[str, ...]:
  """("++", "+-", ...) for k = 2; ("+++", "++-", ...) for k = 3: the orthants' signs as text."""
  return tuple("".join("+" if s > 0 else "-" for s in row) for row in orthant_signs(k))


def half_axis_reach(points: np.ndarray, positive_max=None) -> np.ndarray:
  """float [2k]: how far points [..., k] (non-finite rows ignored) go along each half-axis (u0+, u0-, ...), >= 0.

  ``positive_max``: optional float [k], more evidence for the positive half-axes (phase-1 maxima). A half-axis under
  ``UNREACHED`` of its unit's other half is 0.
  """
  pts = np.asarray(points, np.float64)
  k = pts.shape[-1]
  p = pts.reshape(-1, k)
  p = p[np.all(np.isfinite(p), axis=1)]
  r = np.zeros(2 * k)
  if p.size:
    r[0::2], r[1::2] = p.max(axis=0), (-p).max(axis=0)
  if positive_max is not None:
    r[0::2] = np.maximum(r[0::2], np.asarray(positive_max, np.float64))
  r = np.maximum(np.nan_to_num(r, nan=0.0), 0.0)
  pos, neg = r[0::2].copy(), r[1::2].copy()
  r[0::2] = np.where(pos < UNREACHED * neg, 0.0, pos)
  r[1::2] = np.where(neg < UNREACHED * pos, 0.0, neg)
  return r


def normalise(points: np.ndarray, reach: np.ndarray) -> np.ndarray:
  """float [..., k]: each coordinate over the reach of its own half-axis (signs kept; 0 on an unreached side)."""
  p = np.asarray(points, np.float64)
  reach = np.asarray(reach, np.float64)
  r = np.where(p >= 0, reach[0::2], reach[1::2])
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(r > 0, p / np.where(r > 0, r, 1.0), 0.0)


def corner_measures(points: np.ndarray, reach: np.ndarray) -> np.ndarray:
  """float [2^k]: K of each orthant (module docstring; :func:`orthant_signs` order) of points [..., k]."""
  k = np.asarray(points).shape[-1]
  u = normalise(np.asarray(points, np.float64).reshape(-1, k), reach)
  u = u[np.all(np.isfinite(u), axis=1)]
  signs = orthant_signs(k)
  out = np.zeros(len(signs))
  for o, sg in enumerate(signs):
    inside = np.all(sg[None] * u > 0, axis=1)
    if inside.any():
      out[o] = float(np.abs(u[inside]).min(axis=1).max())
  return out


def orthant_of(directions: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
  """int [A]: the orthant (:func:`orthant_signs` order) of each direction [A, k] strictly inside one; -1 for a
  direction within ``atol`` of a coordinate hyperplane."""
  d = np.asarray(directions, np.float64)
  k = d.shape[-1]
  on_plane = np.any(np.abs(d) <= atol, axis=-1)
  bits = (d < 0).astype(np.int64) @ (2 ** np.arange(k - 1, -1, -1))  # product order: '+' = 0, '-' = 1, first bit
  return np.where(on_plane, -1, bits)


def finite_cloud(cloud, k: int) -> tuple[np.ndarray | None, int]:
  """(the finite rows float64 [n, k], how many rows were not finite) of natural-image activations of a combination of
  k units; (None, 0) for None. Anything but [N, k] is refused in one line (:class:`~fcjax.errors.FcjaxError`)."""
  if cloud is None:
    return None, 0
  cl = np.asarray(cloud, np.float64)
  if cl.ndim != 2 or cl.shape[1] != k:
    who = {2: "the pair's two", 3: "the triple's three"}.get(k, f"the {k}")
    raise errors.FcjaxError(f"cloud must be [N, {k}] raw activations of {who} units, got shape {cl.shape}")
  ok = np.all(np.isfinite(cl), axis=1)
  return cl[ok], int((~ok).sum())
