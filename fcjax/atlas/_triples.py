"""The atlas of triples (k = 3; docs/atlas.md "Triples"): the triple sets, one table row per triple from
:func:`fcjax.orthants.summarize`, the ranking, and each triple's files (``triples/I_J_K.png`` and ``.html``).

**Triple sets** (:func:`select_triples`): terms joined by '+': ``joint:K`` (the K triples of the joint rule,
:func:`fcjax.stats.select_triples`: every pairwise |r| <= 0.5 and the smallest determinant of the 3 x 3 correlation
matrix), ``independent:K`` (the K largest determinants), ``random:N[:SEED]`` (N further triples of distinct live
units, drawn without replacement from those not chosen by earlier terms), explicit ``I-J-K`` items separated by
commas. ``all`` is refused: a layer of L live units has L(L-1)(L-2)/6 triples (41664 for 64).

**Impossibility score** (0..8): the sum over the octants whose verdict is decided (``possible`` or ``collapsed``) of
``1 - min(K_O, 1)``, K_O the octant's corner measure (:mod:`fcjax.orthants`; < 0.25 collapsed): the pairs' score
(:func:`fcjax.atlas.score`) over eight octants, "how many octants' worth of combinations the triple cannot reach".
``uncertain`` octants add nothing (``n_uncertain`` counts them, ``flags`` says why).

**Rank**: the number of octants only the triple shows collapsed (``n_only_triple``: collapsed, and no pair of its
units shows the collapse in its projection: what a triple sweep is for) descending, then the score descending, then
fewer uncertain octants, then the units.

``det`` is the determinant of the triple's 3 x 3 natural-image correlation matrix (:func:`fcjax.stats.
triple_determinants`): 0 when one unit is a linear function of the other two, 1 when the three are uncorrelated.
"""

from __future__ import annotations

import itertools
import math
import pathlib
from typing import Sequence

import numpy as np

from fcjax import _io, errors, orthants
from fcjax import stats as stats_lib
from fcjax.atlas import _table
from fcjax.atlas._defaults import RANDOM_SEED

O = orthants.OCTANTS
TRIPLE_COLUMNS = (["rank", "unit_i", "unit_j", "unit_k", "r_ij", "r_ik", "r_jk", "det", "n_only_triple",
                   "only_triple", "score", "n_collapsed", "n_possible", "n_uncertain"] + [f"verdict_{o}" for o in O]
                  + [f"corner_{o}" for o in O]
                  + ["shown_by", "flags", "scale_i", "scale_j", "scale_k", "chunk", "index"])
ENUMERATE_LIMIT = 200_000  # random:N lists every live triple up to this many (107 live units); above, it draws
_TERMS = "joint:K, independent:K, random:N[:SEED] or I-J-K,I-J-K (joined by +)"


# ------------------------------------------------------------------------------------------------ triple sets

def select_triples(spec: str | Sequence[Sequence[int]], layer_stats, n_units: int) -> np.ndarray:
  """The triples to screen, int [T, 3] (each i < j < k, unique, sorted): ``spec`` a list of (i, j, k) or a string
  of terms (module docstring). Bad input raises :class:`~fcjax.errors.UsageError` or
  :class:`~fcjax.errors.UnitIndexError` with one line."""
  if n_units < 3:
    raise errors.UsageError(f"the layer has {n_units} unit(s): a triple needs 3 different units")
  chosen: list = []
  if isinstance(spec, str):
    terms = [t.strip() for t in spec.split("+") if t.strip()]
    if not terms:
      raise errors.UsageError(f"the triple set is empty; use {_TERMS}")
    for term in terms:
      chosen += _term(term, layer_stats, chosen)
  else:
    try:
      chosen = [tuple(int(u) for u in t) for t in spec]
    except (TypeError, ValueError):
      raise errors.UsageError(f"triples must be (i, j, k) triples of unit indices, got {spec!r}") from None
    if any(len(t) != 3 for t in chosen):
      raise errors.UsageError(f"triples must be (i, j, k) triples of unit indices, got {spec!r}")
  if not chosen:
    raise errors.UsageError(f"the triple set {spec!r} selects no triple (fewer than 3 live units, or no triple "
                            f"passes the rule); use {_TERMS}")
  for t in chosen:
    if len(set(t)) < 3:
      raise errors.UsageError(f"triple {tuple(t)} repeats a unit; give three different units")
    for u in t:
      if not 0 <= u < n_units:
        raise errors.UnitIndexError(f"unit {u} is out of range: the layer has {n_units} units (0..{n_units - 1})")
  return np.unique(np.sort(np.asarray(chosen, np.int64).reshape(-1, 3), axis=1), axis=0)


def _live(ls) -> np.ndarray:
  return np.flatnonzero(~np.asarray(ls.dead, bool))


def _term(term: str, ls, chosen: list) -> list:
  name, _, arg = term.partition(":")
  if name == "all" and not arg:
    n = len(_live(ls))
    raise errors.UsageError(f"all is refused for triples: {math.comb(n, 3)} triples of {n} live units; use {_TERMS}")
  if name in stats_lib.TRIPLE_KINDS + ("random",):
    parts = arg.split(":")
    n_parts = 2 if name == "random" else 1
    if len(parts) > n_parts or not all(p.isdigit() for p in parts) or int(parts[0]) < 1:
      raise errors.UsageError(f"bad triple term {term!r}: use {name}:{'N[:SEED]' if n_parts == 2 else 'K'} with a "
                              "positive count")
    if name == "random":
      return _random(ls, int(parts[0]), int(parts[1]) if len(parts) == 2 else RANDOM_SEED, chosen)
    return [t[:3] for t in stats_lib.select_triples(ls.corr, int(parts[0]), ls.dead)[name]]
  out = []
  for item in term.split(","):
    units = item.strip().split("-")
    if len(units) != 3 or not all(u.isdigit() for u in units):
      raise errors.UsageError(f"bad triple term {term!r}: use {_TERMS}")
    out.append(tuple(int(u) for u in units))
  return out


def _random(ls, n: int, seed: int, chosen: list) -> list:
  """``n`` triples of distinct live units not in ``chosen`` (fewer if fewer are left), NumPy generator ``seed``: a
  choice without replacement among all of them (up to ENUMERATE_LIMIT triples), else draws that skip repeats."""
  live = _live(ls)
  taken = {tuple(sorted(t)) for t in chosen}
  rng = np.random.default_rng(seed)
  if math.comb(len(live), 3) <= ENUMERATE_LIMIT:
    rest = [t for t in itertools.combinations(live.tolist(), 3) if t not in taken]
    pick = rng.choice(len(rest), size=min(n, len(rest)), replace=False) if rest else []
    return [rest[p] for p in np.sort(pick)]
  out: list = []
  while len(out) < n:  # more than ENUMERATE_LIMIT triples: a repeat is rare, the loop ends
    t = tuple(sorted(rng.choice(live, 3, replace=False).tolist()))
    if t not in taken:
      taken.add(t)
      out.append(t)
  return sorted(out)


# ------------------------------------------------------------------------------------------------ rows

def determinant(corr3: np.ndarray) -> float:
  """det of a 3 x 3 correlation matrix (:func:`fcjax.stats.triple_determinants`)."""
  return float(stats_lib.triple_determinants(np.asarray(corr3, np.float64))[0, 1, 2])


def triple_row(result, triple: int, cloud, corr3: np.ndarray, *, chunk: int, summary: dict | None = None) -> dict:
  """The table row of triple ``triple`` of ``result`` (cloud: raw [N, 3] natural activations of its units, corr3:
  their 3 x 3 natural-image correlation matrix; ``summary``: its :func:`fcjax.orthants.summarize`, computed when
  None)."""
  s = orthants.summarize(result, triple, cloud=cloud) if summary is None else summary
  c = np.asarray(corr3, np.float64)
  row = {"rank": 0, **{f"unit_{n}": u for n, u in zip("ijk", s["units"])}, "r_ij": float(c[0, 1]),
         "r_ik": float(c[0, 2]), "r_jk": float(c[1, 2]), "det": determinant(c), "n_only_triple": len(s["only_triple"]),
         "only_triple": " ".join(s["only_triple"]), "score": _table.score(s, O), "n_collapsed": len(s["collapsed"]),
         "n_possible": len(s["possible"]), "n_uncertain": len(s["uncertain"])}
  row.update({f"verdict_{o}": s[f"verdict_{o}"] for o in O})
  row.update({f"corner_{o}": s[f"corner_{o}"] for o in O})
  row["shown_by"] = "; ".join(f"{o}: {', '.join(s[f'pair_shows_{o}'])}" for o in O if s[f"pair_shows_{o}"])
  row.update(flags=_table.flags(s, O), **{f"scale_{n}": v for n, v in zip("ijk", s["scales"])}, chunk=int(chunk),
             index=int(triple))
  return row


def rank_triples(rows: list) -> list:
  """Rows sorted by only-triple octants and score (descending), fewer uncertain octants, then units; ``rank`` set
  to 1, 2, ... (module docstring)."""
  key = lambda r: (-r["n_only_triple"], -r["score"] if math.isfinite(r["score"]) else math.inf,  # noqa: E731
                   r["n_uncertain"], r["unit_i"], r["unit_j"], r["unit_k"])
  return [{**r, "rank": n + 1} for n, r in enumerate(sorted(rows, key=key))]


# ------------------------------------------------------------------------------------------------ files

def triple_files(result, triple: int, cloud, folder: pathlib.Path, *, redo: bool, summary: dict) -> None:
  """``folder/I_J_K.png`` (:func:`fcjax.plot_triple.plot_triple`, small) and ``folder/I_J_K.html`` (its standalone
  page with the rotatable 3-D view, :func:`fcjax.plot_triple.write_triple_html`), unless there already; ``summary``:
  the triple's :func:`fcjax.orthants.summarize` (the table row's)."""
  from fcjax import plot_triple
  stem = folder / "_".join(str(int(u)) for u in result.pairs[triple])
  png, page = stem.with_suffix(".png"), stem.with_suffix(".html")
  if not (redo or not png.is_file() or not page.is_file()):
    return
  fig = plot_triple.plot_triple(result, triple, summary=summary, cloud=cloud)
  _io.atomic_write(png, lambda f: fig.savefig(f, format="png", dpi=72))
  plot_triple.write_triple_html(result, triple, summary=summary, cloud=cloud, path=page, figure=False)
