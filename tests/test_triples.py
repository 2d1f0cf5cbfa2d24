"""Known-answer tests of the octant verdicts of a sweep of feature triples (k = 3), through the real ``sweep.run`` and
``orthants.summarize``. Skipped until ``fcjax.orthants`` exists.

The toys (tests/toy_features3d.py) are maps g(s, t, r) of three independent channel means, whose truth comes from a
dense grid of (s, t, r) in plain NumPy (``toy_features3d.grid_truth3``, checked against hand-derived values in
tests/test_toy_features3d.py), not from fcjax: a free triple, one with a half-axis stretched 10x, a plane
y3 = -(s + t) (+++ and --- empty, and no pair shows it: every pair projection reaches every quadrant), "hidden"
(every pair free, octant +++ collapsed at K = 1/10: only the triple shows it; "hidden near" the same at K = 1/5),
a pointy pair beside a free unit (its collapsed octants shown by pair (0, 1)) and a product y3 = s t (four octants
empty, each only-triple). All toys run in ONE sweep (module-scoped), toy t on features 3t..3t+2, with
test_verdicts.py's recipe: sigmoid pixels, Adam lr 0.1, 200 steps, 3 seeds, the default 148 directions. About
15 s on 2 CPU cores.

Natural images (``toy_features3d.natural_images3``) put each channel at its own level in [0.1, 0.9], so the cloud
fills the middle of each toy's set and the under-reach checks run.
"""

from __future__ import annotations

import numpy as np
import pytest

import toy_features as toys
import toy_features3d as t3
from fcjax import orthants, sweep

P, C, U = "possible", "collapsed", "uncertain"
CONFIG = sweep.SweepConfig(param="pixel", transforms="none", canvas_size=t3.SIZE, input_size=t3.SIZE,
                           optimizer="adam", learning_rate=0.1, steps=200, block_steps=100, n_seeds=3, relu="plain")
TOYS = t3.toys3()
NAMES = list(TOYS)
TRUTH = {name: t3.grid_truth3(gt) for name, gt in TOYS.items()}
# The sweep's K against the grid's, where the verdict is decided: never above the grid's by more than 0.02 (sigmoid
# pixels approach the set's edge only in the limit, so a reach can fall ~1% short, which raises a normalised K by as
# much) and at most 0.05 below it (the maximiser of a direction only approaches the octant's best point; measured at
# most 0.025 below, the plane's K = 1/3 octants; 2-D allows 0.06: test_verdicts.py). Where the grid has no point
# inside an octant, exactly 0.
K_ABOVE, K_BELOW = 0.02, 0.05


@pytest.fixture(scope="module")
def swept():
  comb = toys.combined(*(TOYS[n].toy() for n in NAMES))
  res = sweep.run(comb.f, comb.params, CONFIG, pairs=[(3 * k, 3 * k + 1, 3 * k + 2) for k in range(len(NAMES))])
  nat = np.asarray(comb.f(comb.params, t3.natural_images3(400)), np.float64)
  return {n: orthants.summarize(res, triple=k, cloud=nat[:, 3 * k:3 * k + 3]) for k, n in enumerate(NAMES)}


def _why(s, o):
  return {"corner": s[f"corner_{o}"], "pair_shows": s[f"pair_shows_{o}"], "reasons": s.get(f"reasons_{o}")}


def test_the_summary_names_the_octants_in_order(swept):
  for name, s in swept.items():
    assert list(s["octants"]) == list(t3.OCTANTS)
    for o in t3.OCTANTS:
      assert s[f"verdict_{o}"] in (P, C, U), (name, o)
      assert isinstance(s[f"corner_{o}"], float)
      assert all(isinstance(p, str) for p in s[f"pair_shows_{o}"])
    assert set(s["only_triple"]) <= {o for o in t3.OCTANTS if s[f"verdict_{o}"] == C}, name


def test_no_decided_verdict_contradicts_the_truth_and_few_hedge(swept):
  """The bar of the 2-D verdicts (issue 22) for octants: no decided verdict against the grid's truth, and at most 5%
  of all octants uncertain."""
  wrong, hedged, total = [], [], 0
  for name, s in swept.items():
    for o, t in zip(t3.OCTANTS, TRUTH[name]["verdicts"]):
      total += 1
      v = s[f"verdict_{o}"]
      if v == U:
        hedged.append((name, o, _why(s, o)))
      elif v != t:
        wrong.append((name, o, v, t, _why(s, o)))
  assert wrong == []
  assert len(hedged) <= 0.05 * total, hedged


def test_the_hidden_octant_is_shown_by_the_triple_alone(swept):
  """'hidden': every pair of its units reaches every quadrant, yet +++ is collapsed (K = 1/10): no pair shows it."""
  assert TRUTH["hidden"]["only_triple"] == ["+++"]
  s = swept["hidden"]
  assert s["verdict_+++"] == C, _why(s, "+++")
  assert "+++" in s["only_triple"] and s["pair_shows_+++"] == []


def test_who_shows_a_collapsed_octant_follows_the_truth(swept):
  """For every decided collapsed octant: exactly the pairs (and quadrants) that show it in the grid's projections, and
  it is only-triple exactly where no pair shows it."""
  quadrant = {(1, 1): "I", (-1, 1): "II", (-1, -1): "III", (1, -1): "IV"}
  bad = []
  for t, (name, s) in enumerate(swept.items()):
    tr = TRUTH[name]
    for k, o in enumerate(t3.OCTANTS):
      if s[f"verdict_{o}"] != C:
        continue
      sg = t3.OCTANT_SIGNS[k]
      want = [f"({3 * t + a}, {3 * t + b}) quadrant {quadrant[(sg[a], sg[b])]}"
              for a, b in (t3.PAIRS[p] for p in tr["pair_shows"][k])]
      if s[f"pair_shows_{o}"] != want or (o in s["only_triple"]) != (not tr["pair_shows"][k]):
        bad.append((name, o, _why(s, o), tr["pair_shows"][k]))
  assert bad == []


def test_named_cases_of_only_triple_and_pair_shown(swept):
  """The truth (tests/test_toy_features3d.py derives it by hand) and the sweep on three toys: the plane's +++ and ---
  are empty yet every pair projection reaches every quadrant (K >= 1/3), so they are only-triple; the product's four
  empty octants likewise; the pointy toy's four are shown by pair (0, 1) and are not only-triple."""
  cases = {"plane": (["+++", "---"], True), "product": (["++-", "+-+", "-++", "---"], True),
           "pointy": (["+++", "++-", "--+", "---"], False)}
  for name, (octants, only) in cases.items():
    tr, s = TRUTH[name], swept[name]
    assert tr["only_triple"] == (octants if only else [])
    for o in octants:
      assert tr["pair_shows"][t3.OCTANTS.index(o)] == ([] if only else [0])
      assert s[f"verdict_{o}"] == C, (name, o, _why(s, o))
      assert (o in s["only_triple"]) == only, (name, o, s["only_triple"])
      assert len(s[f"pair_shows_{o}"]) == (0 if only else 1), (name, o, _why(s, o))


def test_corner_values_match_the_grid_where_decided(swept):
  bad = []
  for name, s in swept.items():
    for k, o in enumerate(t3.OCTANTS):
      got, want = s[f"corner_{o}"], TRUTH[name]["corner"][k]
      if s[f"verdict_{o}"] == U:
        continue
      if (want == 0.0 and got != 0.0) or not want - K_BELOW <= got <= want + K_ABOVE:
        bad.append((name, o, got, want))
  assert bad == []


def test_projected_corner_values_match_the_grid(swept):
  """Each pair quadrant's K from the projected reached points (``summary['pairs']``, and per octant
  ``projection_corner_O`` in the order of the pairs (0, 1), (0, 2), (1, 2)) against the grid's projections, with the
  tolerances of the octants."""
  bad = []
  for name, s in swept.items():
    want = TRUTH[name]["pair_corner"]
    got = np.array([[s["pairs"][p][f"corner_{q}"] for q in t3.QUADRANTS] for p in range(3)])
    for p, q in np.ndindex(3, 4):
      if (want[p, q] == 0.0 and got[p, q] != 0.0) or not want[p, q] - K_BELOW <= got[p, q] <= want[p, q] + K_ABOVE:
        bad.append((name, t3.PAIRS[p], t3.QUADRANTS[q], got[p, q], want[p, q]))
    for sg, o in zip(t3.OCTANT_SIGNS, t3.OCTANTS):
      quad = [t3.QUADRANT_SIGNS.index((sg[a], sg[b])) for a, b in t3.PAIRS]
      assert s[f"projection_corner_{o}"] == pytest.approx([got[p, quad[p]] for p in range(3)]), (name, o)
  assert bad == []


def test_a_stretched_half_axis_moves_no_verdict(swept):
  free, stretched = swept["free"], swept["stretched"]
  assert [stretched[f"verdict_{o}"] for o in t3.OCTANTS] == [free[f"verdict_{o}"] for o in t3.OCTANTS] == [P] * 8
  for o in t3.OCTANTS:
    assert stretched[f"corner_{o}"] == pytest.approx(1.0, abs=K_ABOVE + 0.01), o
