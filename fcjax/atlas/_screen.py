"""Screening a set of pairs (or, with ``k=3``, triples: :mod:`fcjax.atlas._triples`) of one layer: the pair sets,
phase 1 once per unit, phase 2 in equal chunks of pairs, resumable chunk by chunk (:func:`screen`), and reading a
finished atlas back (:func:`load`).

Output folder (``out``)::

    atlas.json            the atlas's inputs (written first; a rerun with other inputs is refused)
    stats.npz             the natural-image statistics used (r and the grey clouds)
    phase1/               UnitMaxima of every distinct unit (arrays.npz + inputs.json once finished)
    chunks/NNNN/          one SweepResult per chunk of pairs (arrays of every pair) + inputs.json once finished;
                          checkpoint/ while the chunk is in progress (sweep.run's resume_dir)
    table.csv, table.json one row per pair, ranked (fcjax.atlas._table); table.parquet when pyarrow is importable
    pairs/I_J.png         each pair's combination plot; pairs/I_J_images.png its best image at every angle
    triples/I_J_K.png     (k = 3, instead of pairs/) each triple's figure; triples/I_J_K.html its 3-D view page
    units/U.png           each unit's phase-1 maximising image
    index.html            the static report (fcjax.atlas._report)
    inputs.json           written last: the atlas is finished

Phase 2 runs ``chunk_pairs`` pairs per :func:`fcjax.sweep.run` call; the last chunk is padded with copies of its last
pair, so every call has the same batch shape and reuses one compiled program. A chunk's pairs see the same keys as
in any other chunk (keys depend on the seed index only), and with the same batch shape the same bits (CPU): the
table equals that of one ``sweep.run`` over all pairs with ``chunk_size = chunk_pairs * n_angles * n_seeds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import shutil
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from fcjax import _inputs, _io, _manifest, distributed, errors, orthants
from fcjax import sweep as sweep_lib
from fcjax.atlas import _report, _table, _triples
from fcjax.atlas._defaults import (CHUNK_PAIRS, DEFAULT_PAIRS, DEFAULT_TRIPLES, KS, RANDOM_SEED, SCREEN_PROTOCOL,
                                   TRIPLE_PROTOCOL)
from fcjax.result import SweepResult

FORMAT = "fcjax.atlas/1"
_NOUN = {2: "pairs", 3: "triples"}
_PER_PAIR = ("pairs", "scales", "unit_values", "unit_images", "y", "c", "images", "history", "transparency", "norm",
             "unit_neg_values", "axis_y", "y_phase2")


def screen_config(model, *, recipe: str | None = None, k: int = 2, **changes) -> sweep_lib.SweepConfig:
  """The model's default sweep settings with ``recipe``, SCREEN_PROTOCOL (TRIPLE_PROTOCOL for ``k=3``), then
  ``changes`` (any SweepConfig field): :func:`fcjax.experiment.sweep_config` with ``overrides={**SCREEN_PROTOCOL,
  **changes}``, as ``fcjax atlas`` builds it."""
  protocol = SCREEN_PROTOCOL if check_k(k) == 2 else TRIPLE_PROTOCOL
  return _inputs.sweep_config(model, recipe=recipe, overrides={**protocol, **changes})


def check_k(k) -> int:
  """``k`` if the atlas screens combinations of that many units (2: pairs, 3: triples), else a one-line UsageError."""
  if isinstance(k, bool) or k not in KS:
    raise errors.UsageError(f"k must be 2 (pairs) or 3 (triples), got {k!r}: the atlas screens pairs and triples")
  return int(k)


# ------------------------------------------------------------------------------------------------ pair sets

def _valid_pairs(layer_stats) -> np.ndarray:
  """int [M, 2]: every (i, j), i < j, of the layer's live units (dead units have no correlation)."""
  live = np.flatnonzero(~np.asarray(layer_stats.dead, bool))
  i, j = np.triu_indices(len(live), 1)
  return np.stack([live[i], live[j]], 1).astype(np.int64)


def select_pairs(spec: str | Sequence[Sequence[int]], layer_stats, n_units: int) -> np.ndarray:
  """The pairs to screen, int [P, 2] (each i < j, unique, sorted).

  ``spec``: a list of (i, j), or a string of terms joined by '+': ``all`` (every pair of live units), ``top:K`` (the K
  pairs of live units with the largest |r|, ties by index), ``random:N[:SEED]`` (N further pairs drawn without
  replacement from the live pairs not chosen by earlier terms, NumPy generator seeded with SEED, default 0), or
  explicit ``I-J`` items separated by commas (``3-7,12-60``).
  """
  chosen: list = []
  if isinstance(spec, str):
    terms = [t.strip() for t in spec.split("+") if t.strip()]
    if not terms:
      raise errors.UsageError("the pair set is empty; use all, top:K, random:N[:SEED] or I-J,I-J (joined by +)")
    for term in terms:
      chosen += _term(term, layer_stats, n_units, chosen)
  else:
    try:
      chosen = [(int(i), int(j)) for i, j in spec]
    except (TypeError, ValueError):
      raise errors.UsageError(f"pairs must be (i, j) pairs of unit indices, got {spec!r}") from None
  if not chosen:
    raise errors.UsageError(f"the pair set {spec!r} selects no pair; use all, top:K, random:N or I-J")
  for i, j in chosen:
    if i == j:
      raise errors.UsageError(f"pair ({i}, {j}) pairs a unit with itself; give two different units")
    for u in (i, j):
      if not 0 <= u < n_units:
        raise errors.UnitIndexError(f"unit {u} is out of range: the layer has {n_units} units (0..{n_units - 1})")
  arr = np.sort(np.asarray(chosen, np.int64).reshape(-1, 2), axis=1)
  return np.unique(arr, axis=0)


def _term(term: str, ls, n_units: int, chosen: list) -> list:
  name, _, arg = term.partition(":")
  if name == "all" and not arg:
    return [tuple(p) for p in _valid_pairs(ls).tolist()]
  if name in ("top", "random"):
    parts = arg.split(":")
    if not (1 <= len(parts) <= (1 if name == "top" else 2)) or not all(p.isdigit() for p in parts) or int(parts[0]) < 1:
      raise errors.UsageError(f"bad pair term {term!r}: use top:K or random:N[:SEED] with positive K, N")
    n = int(parts[0])
    valid = _valid_pairs(ls)
    if name == "top":
      r = np.abs(np.asarray(ls.corr)[valid[:, 0], valid[:, 1]])
      order = np.lexsort((valid[:, 1], valid[:, 0], -np.nan_to_num(r, nan=-1.0)))
      return [tuple(p) for p in valid[order[:n]].tolist()]
    taken = {tuple(sorted(p)) for p in chosen}
    rest = np.array([p for p in valid.tolist() if tuple(p) not in taken], np.int64).reshape(-1, 2)
    rng = np.random.default_rng(int(parts[1]) if len(parts) == 2 else RANDOM_SEED)
    pick = rng.choice(len(rest), size=min(n, len(rest)), replace=False) if len(rest) else []
    return [tuple(p) for p in rest[np.sort(pick)].tolist()]
  out = []
  for item in term.split(","):
    a, sep, b = item.strip().partition("-")
    if not sep or not a.isdigit() or not b.isdigit():
      raise errors.UsageError(f"bad pair term {term!r}: use all, top:K, random:N[:SEED] or I-J,I-J")
    out.append((int(a), int(b)))
  return out


# ------------------------------------------------------------------------------------------------ the screen

class Atlas(NamedTuple):
  """A finished atlas: its folder, its inputs (``atlas.json``), the ranked rows (``table.json``) and phase 1."""
  out: pathlib.Path
  inputs: dict
  rows: list
  unit_maxima: sweep_lib.UnitMaxima

  def result(self, chunk: int) -> SweepResult:
    """The SweepResult of chunk ``chunk`` (every row names its chunk and its index there: ``chunk``, ``index``)."""
    return SweepResult.load(self.out / "chunks" / f"{chunk:04d}")


def stats_digest(layer_stats) -> str:
  """sha256 (16 hex) of what the atlas reads from a layer's statistics: correlations, dead units and samples
  (:func:`fcjax._io.tree_digest`)."""
  return _io.tree_digest((layer_stats.corr, layer_stats.dead, layer_stats.samples))[:16]


def _slice(res: SweepResult, n: int) -> SweepResult:
  """The first ``n`` pairs of a result (drops the padding of the last chunk)."""
  kw = {k: None if getattr(res, k) is None else getattr(res, k)[:n] for k in _PER_PAIR}
  meta = {**res.meta, "scale_guarded": [g for g in res.meta.get("scale_guarded", []) if int(g[0]) < n]}
  if meta.get("refinement"):
    meta["refinement"] = {**meta["refinement"], **{k: [g for g in meta["refinement"][k] if int(g[0]) < n]
                                                   for k in ("dominated", "dominated_before_list")}}
  return dataclasses.replace(res, meta=meta, **kw)


def screen(model, params, *, layer: str, stats, out: str | pathlib.Path, pairs: Any = None,
           config: sweep_lib.SweepConfig | None = None, k: int = 2, chunk_pairs: int = CHUNK_PAIRS, plots: bool = True,
           weights_label: str | None = None, fresh: bool = False, progress: bool = False, devices=None,
           callback: Callable[[dict], None] | None = None, say: Callable[[str], None] = lambda m: None) -> Atlas:
  """Screen ``pairs`` of ``layer`` into the folder ``out`` and rank them (module docstring; docs/atlas.md).

  Args:
    model, params: a :class:`fcjax.models.Model` and its parameters.
    layer: tensor name (any spelling the model accepts).
    stats: a :class:`fcjax.stats.StatsResult` of this model and weights holding ``layer`` (r, dead units, clouds).
    out: output folder. Rerunning with the same inputs continues an interrupted screen (finished chunks are kept,
      the chunk in progress resumes from its checkpoint) and gives the same table; other inputs are refused
      (:class:`~fcjax.errors.ConfigMismatchError`) unless ``fresh``.
    pairs: a pair set (:func:`select_pairs`; default DEFAULT_PAIRS), or with ``k=3`` a triple set
      (:func:`fcjax.atlas.select_triples`; default DEFAULT_TRIPLES).
    config: sweep settings (default :func:`screen_config` of ``k``).
    k: 2 screens pairs, 3 triples (octant verdicts, :mod:`fcjax.orthants`; rows and rank of
      :mod:`fcjax.atlas._triples`). Recorded in the inputs, so a pair and a triple atlas never share a folder.
    chunk_pairs: pairs (triples) per compiled phase-2 call and per saved chunk (bounds memory; the batch is
      chunk_pairs x angles (directions) x n_seeds images, or ``config.chunk_size`` at a time).
    plots: write each pair's combination plot and image strip (``pairs/``), or each triple's figure and 3-D page
      (``triples/``), for the report.
    callback: called with ``{'stage': 'block', 'phase', 'block', 'n_blocks', 'chunk', 'c'}`` after every compiled
      block and ``{'stage': 'chunk', 'chunk', 'n_chunks'}`` after every saved chunk; raising stops the screen, which
      the same call then continues.
    say: where progress lines go (one line each).

  Returns:
    :class:`Atlas`.
  """
  from fcjax.models.base import Model
  if not isinstance(model, Model):
    raise errors.FcjaxError(f"the atlas screens a layer of a fcjax Model (fcjax.models.get(name)), got "
                            f"{type(model).__name__}")
  k = check_k(k)
  out = _io.check_output_path(out, "dir")
  layer = model.canonical(layer)
  n_units = model.layer(layer).channels
  config = screen_config(model, k=k) if config is None else config
  if not isinstance(config, sweep_lib.SweepConfig):
    raise errors.FcjaxError(f"config must be a fcjax.sweep.SweepConfig (e.g. fcjax.atlas.screen_config(model)), got "
                            f"{type(config).__name__}")
  if isinstance(chunk_pairs, bool) or not isinstance(chunk_pairs, int) or chunk_pairs < 1:
    raise errors.UsageError(f"chunk_pairs must be a positive integer, got {chunk_pairs!r}")
  if not hasattr(stats, "layers") or not hasattr(stats, "check_compatible"):
    raise errors.FcjaxError(f"stats must be a fcjax.stats.StatsResult (fcjax.stats.load(path)), got "
                            f"{type(stats).__name__}")
  digest = _io.tree_digest(params)
  stats.check_compatible(model=model, layer=layer, readout=config.readout, input_size=config.input_size,
                         weights_digest=digest)
  ls = stats[layer]
  if pairs is None:
    pairs = DEFAULT_PAIRS if k == 2 else DEFAULT_TRIPLES
  pairs_arr = select_pairs(pairs, ls, n_units) if k == 2 else _triples.select_triples(pairs, ls, n_units)
  cfg_d = {k: v for k, v in config.to_dict().items() if k not in sweep_lib.EXECUTION_FIELDS}
  inputs = _manifest.canonical({
      "format": FORMAT, "weights_digest": digest, "weights": weights_label, "model": model.name, "layer": layer,
      "config": cfg_d, "pairs": pairs_arr.tolist(), "chunk_pairs": chunk_pairs, "stats_digest": stats_digest(ls),
      "stats_count": int(ls.count), "pair_spec": pairs if isinstance(pairs, str) else "explicit",
      **({} if k == 2 else {"k": k})})  # pairs record no k: atlases made before triples keep their inputs
  writer = distributed.is_writer()  # several processes (jax.distributed): all compute, process 0 writes
  _start(out, inputs, fresh, say, write=writer)  # every process checks; the writer clears and records
  if writer:
    stats.save(out / "stats.npz")
  distributed.barrier("atlas: started")

  um = _phase1(model, params, config, layer, np.unique(pairs_arr), out / "phase1", devices, progress, callback, say)
  chunks = [pairs_arr[n:n + chunk_pairs] for n in range(0, len(pairs_arr), chunk_pairs)]
  key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
  computed = set()
  for n, chunk in enumerate(chunks):
    if not _chunk(model, params, config, layer, um, chunk, out / "chunks" / f"{n:04d}", key, n, len(chunks),
                  chunk_pairs, devices, progress, callback, say):
      continue  # reused
    computed.add(n)
    if callback is not None:
      callback({"stage": "chunk", "chunk": n, "n_chunks": len(chunks)})

  rows = []
  for n in range(len(chunks)):  # the table is always built from the saved chunks: a resumed run reads the same
    res = SweepResult.load(out / "chunks" / f"{n:04d}")
    for p in range(len(res.pairs)):
      u = [int(v) for v in res.pairs[p]]
      if k == 3:
        summary = orthants.summarize(res, p, cloud=ls.samples[:, u])
        rows.append(_triples.triple_row(res, p, ls.samples[:, u], ls.corr[np.ix_(u, u)], chunk=n, summary=summary))
        if plots and writer:
          _triples.triple_files(res, p, ls.samples[:, u], out / "triples", redo=n in computed, summary=summary)
        continue
      rows.append(_table.pair_row(res, p, ls.samples[:, u], float(ls.corr[u[0], u[1]]), chunk=n))
      if plots and writer:
        _pair_files(res, p, ls, out / "pairs", redo=n in computed)
  rows = _table.rank(rows) if k == 2 else _triples.rank_triples(rows)
  if writer:
    _table.write_table(rows, out, _table.COLUMNS if k == 2 else _triples.TRIPLE_COLUMNS)
    _unit_files(um, out / "units")
    _report.write_report(out)
    _manifest.record(_manifest.of_dir(out), inputs)
  distributed.barrier("atlas: written")
  return Atlas(out, inputs, rows, um)


def _start(out: pathlib.Path, inputs: dict, fresh: bool, say, *, write: bool = True) -> None:
  """Record the atlas's inputs in ``out/atlas.json``, or check a previous run's; ``fresh`` clears a previous run.
  ``write=False`` (a process other than the writer) only checks."""
  record = out / "atlas.json"
  old = _manifest.read(record)
  if old is not None and old != inputs:
    ks = old.get("k", 2), inputs.get("k", 2)
    if not fresh and ks[0] != ks[1]:
      raise errors.ConfigMismatchError(
          f"{out} holds an atlas of {_NOUN.get(ks[0], ks[0])} (k = {ks[0]}) and this run screens {_NOUN[ks[1]]} "
          f"(k = {ks[1]}); use another --out, or --fresh to replace it")
    if not fresh:
      diffs = _manifest.differences(old, inputs)
      raise errors.ConfigMismatchError(
          f"{out} holds an atlas of other inputs ({'; '.join(diffs[:3])}{' ...' if len(diffs) > 3 else ''}); "
          "use another --out, or --fresh to replace it")
  if not write:
    return
  if fresh or (old is not None and old != inputs):
    say(f"fcjax atlas: clearing the previous atlas in {out}")
    for name in ("phase1", "chunks", "pairs", "triples", "units"):
      shutil.rmtree(out / name, ignore_errors=True)
    for name in ("inputs.json", "table.csv", "table.json", "table.parquet", "index.html"):
      (out / name).unlink(missing_ok=True)
  if old != inputs or fresh:
    _manifest.record(record, inputs)


def _phase1(model, params, config, layer, units, pdir: pathlib.Path, devices, progress, callback, say):
  """UnitMaxima of ``units``, computed once (resumable in ``pdir/checkpoint``) and kept in ``pdir``."""
  def make():
    say(f"fcjax atlas: phase 1: {len(units)} units x {config.n_seeds} seeds")
    cb = None if callback is None else (lambda d: callback({"stage": "block", "chunk": None, **d}))
    return sweep_lib.unit_maxima(model, params, config, layer=layer, units=units, resume_dir=pdir / "checkpoint",
                                 progress=progress, devices=devices, callback=cb)
  um, _ = _manifest.reuse_or_make(
      _manifest.of_dir(pdir), {"units": units.tolist()}, exists=(pdir / "arrays.npz").is_file(),
      load=lambda: _read_maxima(pdir), make=make,
      save=lambda um: _io.atomic_write(pdir / "arrays.npz", lambda f: np.savez_compressed(f, **um.to_arrays())),
      finish=lambda: shutil.rmtree(pdir / "checkpoint", ignore_errors=True))
  return um


def _chunk(model, params, config, layer, um, pairs: np.ndarray, cdir: pathlib.Path, key: str, k: int, n_chunks: int,
           chunk_pairs: int, devices, progress, callback, say) -> bool:
  """Phase 2 of chunk ``k`` (``pairs``: int [n, 2], n <= chunk_pairs) into ``cdir``, reused when its manifest records
  the same atlas ``key`` and pairs (resumable in ``cdir/checkpoint``). The call is padded to ``chunk_pairs`` pairs with
  copies of the last (one batch shape, one compiled program); the padding is not kept. Returns whether it was computed.
  """
  def make():
    say(f"fcjax atlas: chunk {k + 1}/{n_chunks}: {len(pairs)} {_NOUN[pairs.shape[1]]}")
    padded = np.concatenate([pairs, np.repeat(pairs[-1:], chunk_pairs - len(pairs), 0)])
    cb = None if callback is None else (lambda d: callback({"stage": "block", "chunk": k, **d}))
    return sweep_lib.run(model, params, config, layer=layer, pairs=[tuple(p) for p in padded.tolist()],
                         resume_dir=cdir / "checkpoint", progress=progress, devices=devices, callback=cb,
                         unit_maxima=um)
  _, action = _manifest.reuse_or_make(
      _manifest.of_dir(cdir), {"atlas": key, "chunk": k, "pairs": pairs.tolist()},
      exists=(cdir / "result.json").is_file(), make=make, save=lambda res: _slice(res, len(pairs)).save(cdir),
      finish=lambda: shutil.rmtree(cdir / "checkpoint", ignore_errors=True))
  return action != "reused"


def _read_maxima(pdir: pathlib.Path) -> sweep_lib.UnitMaxima:
  """The UnitMaxima kept in ``pdir/arrays.npz``."""
  with np.load(pdir / "arrays.npz") as z:
    return sweep_lib.UnitMaxima.from_arrays(z)


def _png(path: pathlib.Path, image: np.ndarray) -> None:
  from PIL import Image
  _io.atomic_write(path, lambda f: Image.fromarray(np.asarray(image, np.uint8)).save(f, format="png"))


def _pair_files(res: SweepResult, p: int, ls, folder: pathlib.Path, *, redo: bool) -> None:
  """pairs/I_J.png (the combination plot, small) and pairs/I_J_images.png (best seed's image at every angle)."""
  from fcjax import plot
  i, j = (int(u) for u in res.pairs[p])
  stem = folder / f"{i}_{j}"
  if redo or not stem.with_suffix(".png").is_file():
    fig = plot.combination_plot(res, p, cloud=ls.samples[:, [i, j]], correlation=float(ls.corr[i, j]),
                                thumb_px=48, footer=False)
    _io.atomic_write(stem.with_suffix(".png"), lambda f: fig.savefig(f, format="png", dpi=72, bbox_inches="tight"))
  strip = folder / f"{i}_{j}_images.png"
  if redo or not strip.is_file():
    best = res.best_seed[p]
    _png(strip, np.concatenate([res.images[p, a, best[a]] for a in range(len(best))], axis=1))


def _unit_files(um: sweep_lib.UnitMaxima, folder: pathlib.Path) -> None:
  for u, img in zip(um.units.tolist(), um.images):
    if not (folder / f"{u}.png").is_file():
      _png(folder / f"{u}.png", img)


def load(out: str | pathlib.Path) -> Atlas:
  """Read a finished atlas folder written by :func:`screen`."""
  out = pathlib.Path(out)
  inputs = _manifest.read(out / "atlas.json")
  if inputs is None or not (out / "table.json").is_file() or not (out / "phase1" / "arrays.npz").is_file():
    raise errors.FcjaxError(f"{out} is not a finished atlas folder (expected atlas.json, table.json, phase1/); run "
                            "fcjax atlas --out there first")
  rows = json.loads((out / "table.json").read_text())["rows"]
  return Atlas(out, inputs, rows, _read_maxima(out / "phase1"))
