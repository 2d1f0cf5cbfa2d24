"""A synthetic triple result (k = 3) and its summary, built with NumPy to the triple data contract, for the tests of
fcjax.plot_triple and fcjax._view3d and for scripts/triple_view_screenshot.py (its no-argument demo).

Units (3, 7, 12) with raw scales (2.5, 0.4, 1.2). The reached set is the unit ball of the scaled space, except:

* octant '---' is pinched (reach 0.12 along its directions), and so is quadrant III of the pair (3, 7): a pair's
  projection already shows that collapse;
* octant '+-+' is pinched only along its body diagonal: each pair's projection of its directions reaches far, so
  only the triple shows it collapsed.

A second triple (1, 2, 5) is an unpinched ball. Two seeds; seed 0 is always the best.
"""

from __future__ import annotations

import itertools

import numpy as np

from fcjax.result import SweepResult

UNITS = ((3, 7, 12), (1, 2, 5))
SCALES = ((2.5, 0.4, 1.2), (1.0, 2.0, 0.5))
OCTANTS = ("+++", "++-", "+-+", "+--", "-++", "-+-", "--+", "---")


def directions() -> np.ndarray:
  """float [26, 3]: the unit vectors towards every point of {-1, 0, 1}^3 but the origin."""
  d = np.array([v for v in itertools.product((-1, 0, 1), repeat=3) if any(v)], np.float64)
  return d / np.linalg.norm(d, axis=1, keepdims=True)


def _radius(d: np.ndarray, pinched: bool) -> np.ndarray:
  r = np.ones(len(d))
  if pinched:
    r[np.all(d < 0, axis=1) | ((d[:, 0] < 0) & (d[:, 1] < 0) & (d[:, 2] == 0))] = 0.12  # '---' and pair III
    r[(d[:, 0] > 0) & (d[:, 1] < 0) & (d[:, 2] > 0)] = 0.1                              # '+-+': the diagonal only
  return r


def result(n_seeds: int = 2, size: int = 8) -> SweepResult:
  """The two-triple SweepResult described in the module docstring."""
  d = directions()
  a_n, p_n = len(d), len(UNITS)
  rng = np.random.default_rng(0)
  scales = np.array(SCALES, np.float64)
  y = np.zeros((p_n, a_n, n_seeds, 3))
  c = np.zeros((p_n, a_n, n_seeds))
  for p in range(p_n):
    r = _radius(d, pinched=p == 0)
    for s in range(n_seeds):
      shrink = 1.0 - 0.15 * s
      y[p, :, s] = d * (r * shrink)[:, None] * scales[p]
      c[p, :, s] = r * shrink
  axis_y = np.zeros((p_n, 6, 3))
  for p in range(p_n):
    for u in range(3):
      axis_y[p, 2 * u, u] = scales[p, u]
      axis_y[p, 2 * u + 1, u] = -(0.12 if p == 0 and u == 0 else 0.8) * scales[p, u]
  norm = np.abs(axis_y).max(axis=2)
  return SweepResult(
      config={"n_angles": a_n, "n_seeds": n_seeds, "steps": 10, "p": 4.0, "floor": None}, model="synthetic",
      layer="mixed4a", readout="channel", pairs=np.array(UNITS), thetas=d, scales=scales,
      unit_values=np.repeat(scales[:, :, None], n_seeds, 2), unit_images=rng.integers(0, 255, (p_n, 3, size, size, 3),
                                                                                      dtype=np.uint8),
      y=y, c=c, images=rng.integers(0, 255, (p_n, a_n, n_seeds, size, size, 3), dtype=np.uint8),
      history=c[..., None], meta={"weights": "none (synthetic)"}, norm=norm, axis_y=axis_y)


def summary(triple: int = 0) -> dict:
  """The triple summary (the contract of fcjax.orthants.summarize) that the pinches above deserve."""
  units = list(UNITS[triple])
  out = {"triple": triple, "units": units, "octants": list(OCTANTS), "notes": ["synthetic data (tests/triple_case.py)"]}
  for o in OCTANTS:
    out[f"verdict_{o}"], out[f"reasons_{o}"], out[f"corner_{o}"], out[f"pair_shows_{o}"] = "possible", [], 0.58, []
  if triple == 0:
    out.update({"verdict_---": "collapsed", "corner_---": 0.07, "reasons_---": ["corner: K 0.07 < 0.25"],
                "pair_shows_---": [f"({units[0]}, {units[1]}) quadrant III"],
                "verdict_+-+": "collapsed", "corner_+-+": 0.06, "reasons_+-+": ["corner: K 0.06 < 0.25"],
                "verdict_-+-": "uncertain", "corner_-+-": float("nan"),
                "reasons_-+-": ["seeds: the seeds disagree", "under-reached: unit 3 below the natural images"]})
  out["verdicts"] = [out[f"verdict_{o}"] for o in OCTANTS]
  out["only_triple"] = [o for o in OCTANTS if out[f"verdict_{o}"] == "collapsed" and not out[f"pair_shows_{o}"]]
  return out


def cloud(n: int = 600) -> np.ndarray:
  """float [n, 3] raw natural activations of triple 0's units: a correlated Gaussian blob."""
  rng = np.random.default_rng(1)
  z = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.2], [0.0, 0.0, 1.0]])
  return 0.3 * z * np.array(SCALES[0])
