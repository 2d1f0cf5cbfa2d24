"""The experiment pipeline as Python functions: statistics -> pair choice -> sweeps -> measures -> figure.

The ``fcjax`` command line (:mod:`fcjax.cli`) only parses arguments, prints and maps errors to exit codes; what each
command does is here, callable from Python:

* :func:`load_model`: a Model and its parameters from a ``--weights`` string.
* :func:`sweep_config`: the SweepConfig of a run (model defaults or smoke, recipe, a JSON file, overrides, ``--set``
  strings): the one path of every command and of the atlas.
* :func:`stats`: activation statistics into a ``.npz`` file (resumable through its state file).
* :func:`sweep`: the sweep of one pair (or triple) into a directory (result, plot, measures; resumable through its
  checkpoint).
* :func:`figure`: the whole experiment into a directory, returning a :class:`FigureRun`.

**No stale results.** Every artefact (the statistics, each sweep, the summary, the figure) has a manifest
(:mod:`fcjax._manifest`) recording the inputs that made it: weights digest, model, layer(s), dataset, n, readout and
the sweep config (and the pair). A rerun into the same place reuses an artefact only when its recorded inputs equal
this run's, else recomputes it, saying so in one line through ``say``; ``fresh=True`` recomputes everything (one
rule for every artefact, the atlas's too: :func:`fcjax._manifest.reuse_or_make`).
Manifests and config files are written atomically and after the work they describe, so an interrupted run leaves
none, and the next run resumes (the statistics' state file, the sweep's checkpoint) or redoes the work.

**Its own files only.** A run holds its output's lock (:func:`fcjax._guard.out_lock`: a second run on the same
output stops at once, naming the first, or waits with ``wait=True``), and refuses, in one line, to write where a
file or folder that is not fcjax's sits (a file named ``checkpoint`` where the sweep keeps its resume folder, or any
of fcjax's names in a folder without an fcjax record); ``fresh`` deletes only fcjax's own files. A damaged resume
checkpoint is discarded, saying so, and its sweep recomputed.

**Several processes** (:mod:`fcjax.distributed`): every process runs the same calls; only the writer (process 0)
creates, deletes or writes files, and the others wait at a barrier after each write, so no file is written twice
and every process reads what the writer finished.

Example::

    from fcjax import experiment
    model, params, label = experiment.load_model('demo', None)
    cfg = experiment.sweep_config(model, smoke=True)
    run = experiment.figure(model, params, dataset='procedural', layers=['conv4_pre_relu'], n=64, out='runs/demo',
                            config=cfg, weights_label=label)
    run.summary['conv4_pre_relu/lowest']
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import shutil
from typing import Any, Callable, Mapping, Sequence

from fcjax import _guard, _io, _manifest, distributed, errors
from fcjax._inputs import load_model, open_source, sweep_config, warn_post_relu  # noqa: F401 - part of this API

PICKS = ("highest", "lowest", "zero")
CLOUD_POINTS = 1000  # natural-image activation vectors kept for the grey cloud of each plot
FORMATS = ("png", "pdf", "svg")
SMOKE_IMAGES = 64  # images of the statistics at --smoke when n is not given

log = logging.getLogger("fcjax.experiment")
Say = Callable[[str], None]


def _say_default(msg: str) -> None:
  log.info(msg)


@dataclasses.dataclass(frozen=True)
class FigureRun:
  """What :func:`figure` made. ``actions`` maps each artefact (path relative to ``out``) to 'computed', 'reused'
  or 'recomputed: <why>'."""

  out: pathlib.Path
  stats: Any  # fcjax.stats.StatsResult
  results: dict  # '<layer>/<pick>' -> fcjax.result.SweepResult
  summary: dict  # '<layer>/<pick>' -> {'units', 'correlation', measures...}
  paths: list  # figure files
  actions: dict


# ------------------------------------------------------------------------------------------------- inputs

def pick_pair(stats_result, layer: str, pick: str) -> tuple[int, int]:
  """The first ``pick`` pair ('highest', 'lowest', 'zero') of ``layer`` in a stats result."""
  ls = stats_result.layers.get(layer)
  if ls is None:
    raise errors.ConfigMismatchError(
        f"the stats file has no layer {layer!r} (it has {', '.join(stats_result.layers)}); run fcjax stats "
        f"--layers {layer}")
  pairs = ls.pairs.get(pick) or []
  if not pairs:
    raise errors.FcjaxError(f"the stats file has no {pick!r} pair for {layer} (all units dead?)")
  i, j, _ = pairs[0]
  return int(i), int(j)


def cloud_and_corr(stats_result, layer: str, i: int, j: int):
  """(natural-image points [n, 2], correlation) of units i, j, or (None, None) without statistics."""
  if stats_result is None or layer not in stats_result.layers:
    return None, None
  ls = stats_result.layers[layer]
  return ls.samples[:, [i, j]], float(ls.corr[i, j])


def _check_foreign(out: pathlib.Path, names: Mapping[str, str], ours: bool) -> None:
  """Refuse (one line) to write where something that is not fcjax's sits: for each ``name`` fcjax writes in ``out``
  as ``kind`` ('file' or 'dir'), an existing path of the other kind, or, when ``out`` holds no fcjax record
  (``ours`` False), any existing path; a ``checkpoint`` folder must hold a sweep's resume files."""
  for name, kind in names.items():
    p = out / name
    if not (p.exists() or p.is_symlink()):
      continue
    foreign = not ours or p.is_dir() != (kind == "dir")
    if name == "checkpoint" and p.is_dir() and any(p.iterdir()):
      foreign = foreign or not ((p / "sweep.json").exists() or (p / "checkpoints").exists())
    if foreign:
      what = "folder" if p.is_dir() else "file"
      raise errors.OutputPathError(
          f"{p} is a {what} that fcjax did not write, where it writes its own {name} {kind}; move it away or choose "
          "another --out (fcjax never deletes files it did not write)")


# ------------------------------------------------------------------------------------------------ stats

def stats(model, params, *, dataset: str, layers: Sequence[str], out: str | os.PathLike, readout: Any = "neuron",
          size: int | None = None, n: int | None = None, batch_size: int = 32, weights_label: str | None = None,
          data_dir: str | None = None, backend: str = "auto", fresh: bool = False, say: Say = _say_default,
          digest: str | None = None, cap_n: bool = False, source=None, wait: bool = False):
  """Statistics of ``layers`` over ``n`` images of ``dataset`` into the ``.npz`` file ``out``.

  Reuses ``out`` when its manifest records the same inputs (returns ``(result, action)``); otherwise recomputes,
  resuming from ``out.state`` when that holds an interrupted pass of the same configuration. ``n`` more than the
  dataset holds is an error unless ``cap_n`` (:func:`open_source`); ``source``: the dataset, already opened;
  ``wait``: for another run that holds ``out`` (module docstring).
  """
  from fcjax import stats as stats_lib
  out = pathlib.Path(out)
  size = int(model.input_size if size is None else size)
  layers = [model.canonical(l) for l in layers]
  for l in layers:
    model.check_size(l, size)
  from fcjax import objectives
  inputs = {"weights_digest": digest or _io.tree_digest(params), "model": model.name, "layers": layers,
            "dataset": dataset, "n": n, "readout": objectives.readout_name(readout), "input_size": size}
  manifest = _manifest.of_file(out)
  state = out.with_name(out.name + ".state")

  def prepare():  # before anything is deleted: a bad dataset changes nothing
    nonlocal source
    if source is None:
      source = open_source(dataset, n=n, cap_n=cap_n, data_dir=data_dir, backend=backend)

  with _guard.out_lock(out, "file", wait=wait, say=say):
    return _manifest.reuse_or_make(
        manifest, inputs, exists=out.is_file(), fresh=fresh, stale=[out, manifest, *stats_lib.state_files(state)],
        prepare=prepare, load=lambda: stats_lib.load(out), save=lambda result: result.save(out),
        make=lambda: _compute_stats(model, params, source, layers, state, readout, size, n, batch_size,
                                    weights_label, say),
        finish=lambda: [f.unlink() for f in stats_lib.state_files(state)],  # finished: every process's resume files
        say=say, what=str(out))


def _compute_stats(model, params, source, layers, state, readout, size, n, batch_size, weights_label, say: Say):
  """The statistics pass of :func:`stats` (resumed from ``state``, or restarted when it holds another pass)."""
  from fcjax import stats as stats_lib
  compute = lambda: stats_lib.compute(  # noqa: E731
      model, params, source, layers, readout=readout, input_size=size, batch_size=batch_size,
      n_samples=min(n, CLOUD_POINTS) if n else CLOUD_POINTS, state_path=str(state), progress=True, max_images=n,
      weights_label=weights_label)
  try:
    result = compute()
  except errors.ConfigMismatchError as e:  # an interrupted pass of another configuration left its state here
    if not stats_lib.state_files(state):
      raise
    say(f"fcjax: discarding {state}: {e}")
    distributed.barrier(f"fcjax-discard:{state}")
    distributed.write_once(f"fcjax-discarded:{state}", lambda: [f.unlink() for f in stats_lib.state_files(state)])
    result = compute()
  return result


# ------------------------------------------------------------------------------------------------ sweep

def write_figure(fig, stem: pathlib.Path, formats: Sequence[str]) -> list[pathlib.Path]:
  """Save ``fig`` as ``stem.<fmt>`` for each format, each atomically."""
  out = []
  for fmt in formats:
    path = stem.with_suffix("." + fmt)
    _io.atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=110 if fmt == "png" else None,
                                                 bbox_inches="tight"))
    out.append(path)
  return out


def _write_json(path: pathlib.Path, obj: Any) -> None:
  text = json.dumps(obj, indent=2, default=float)
  _io.atomic_write(path, lambda f: f.write(text.encode()))


def _data_line(stats_result) -> str:
  """The figure footer's data line: what the natural-image cloud and the correlations were computed on."""
  m = stats_result.meta
  cloud = min(int(m.get("n_samples") or 0), int(m.get("count") or 0))
  return (f"data: {m.get('dataset', '?')}, n = {m.get('count', '?')} images, {m.get('readout', '?')} readout "
          f"at {m.get('input_size', '?')} px (the grey cloud: {cloud} of them)")


def plot_result(result, stats_result, out_dir: str | os.PathLike, formats: Sequence[str] = ("png", "pdf")) -> dict:
  """The combination plot, ``measures.json`` and ``result.csv`` of a one-pair sweep result, into ``out_dir`` (a triple:
  :func:`fcjax.triples.plot_result`)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from fcjax import measures, plot
  out_dir = pathlib.Path(out_dir)
  if result.k == 3:
    from fcjax import triples
    return triples.plot_result(result, stats_result, out_dir, formats)
  i, j = (int(u) for u in result.pairs[0])
  cloud, corr = cloud_and_corr(stats_result, result.layer, i, j)
  summary = measures.summarize(result, 0, cloud=cloud)
  paths = [(out_dir / "plot").with_suffix("." + fmt) for fmt in formats]

  def write():
    fig = plot.combination_plot(result, 0, cloud=cloud, correlation=corr,
                                provenance=[_data_line(stats_result)] if stats_result is not None else ())
    write_figure(fig, out_dir / "plot", formats)
    plt.close(fig)
    _write_json(out_dir / "measures.json", summary)
    csv = result.to_csv()
    _io.atomic_write(out_dir / "result.csv", lambda f: f.write(csv.encode()))
  distributed.write_once(f"fcjax-plot:{out_dir}", write)
  return {"plots": [str(p) for p in paths], "measures": summary}



def _sweep_inputs(digest: str, model, layer: str, pair, config, extra: Mapping[str, Any]) -> dict:
  from fcjax import objectives, sweep as sweep_lib
  cfg = {k: v for k, v in config.to_dict().items() if k not in sweep_lib.EXECUTION_FIELDS}
  return {"weights_digest": digest, "model": model.name, "layer": layer, "pair": [int(u) for u in pair],
          "readout": objectives.readout_name(config.readout), "config": cfg, **extra}


def sweep(model, params, config, *, layer: str, pair: tuple[int, ...], out: str | os.PathLike,
          weights_label: str | None = None, extra_meta: Mapping[str, Any] | None = None,
          inputs: Mapping[str, Any] | None = None, fresh: bool = False, progress: bool = True,
          say: Say = _say_default, digest: str | None = None, stats_path: str | os.PathLike | None = None,
          wait: bool = False):
  """The sweep of one pair (or triple: ``pair`` of 3 units) into the directory ``out`` (``result.json`` + arrays;
  resumable via ``out/checkpoint``).

  Reuses ``out`` when its manifest records the same inputs (weights, model, layer, pair, readout, config and the
  extra ``inputs``, e.g. the dataset and n that chose the pair); otherwise recomputes. ``stats_path``: the stats
  file that goes with the result (its absolute path is recorded in ``out/stats_path.txt`` for re-plotting).
  ``wait``: for another run that holds ``out`` (module docstring). Returns ``(result, action)``.
  """
  out = pathlib.Path(out)
  with _guard.out_lock(out, "dir", wait=wait, say=say):
    return _sweep_locked(model, params, config, layer, pair, out, weights_label, extra_meta, inputs, fresh, progress,
                         say, digest, stats_path)


SWEEP_FILES = {"checkpoint": "dir", "inputs.json": "file", "result.json": "file", "arrays.npz": "file",
               "measures.json": "file", "result.csv": "file", "stats_path.txt": "file", "triple.html": "file",
               **{f"plot.{fmt}": "file" for fmt in FORMATS}}  # a sweep folder (plot_result: measures, csv, page, plots)


def _sweep_locked(model, params, config, layer, pair, out: pathlib.Path, weights_label, extra_meta, inputs, fresh,
                  progress, say: Say, digest, stats_path):
  from fcjax import result as result_lib
  digest = digest or _io.tree_digest(params)
  full = _sweep_inputs(digest, model, layer, pair, config, inputs or {})
  manifest = _manifest.of_dir(out)
  ours = _manifest.read(manifest) is not None or (out / "checkpoint" / "sweep.json").is_file()
  _check_foreign(out, SWEEP_FILES, ours)

  def make():
    res = _run_sweep(model, params, config, layer, pair, out, progress, say)
    return dataclasses.replace(res, meta={**res.meta, "weights": weights_label, **(extra_meta or {})})
  res, action = _manifest.reuse_or_make(
      manifest, full, exists=(out / "result.json").is_file(), fresh=fresh,
      stale=[manifest, out / "checkpoint", out / "result.json"], load=lambda: result_lib.SweepResult.load(out),
      make=make, save=lambda r: r.save(out), say=say, what=str(out))
  if stats_path is not None:
    text = str(pathlib.Path(stats_path).resolve())
    distributed.write_once(f"fcjax-stats-path:{out}",
                           lambda: _io.atomic_write(out / "stats_path.txt", lambda f: f.write(text.encode())))
  return res, action


def _run_sweep(model, params, config, layer, pair, out: pathlib.Path, progress: bool, say: Say):
  """sweep.run into ``out/checkpoint`` (resumed when it holds this sweep; discarded when it holds another)."""
  from fcjax import sweep as sweep_lib
  distributed.write_once(f"fcjax-mkdir:{out}", lambda: out.mkdir(parents=True, exist_ok=True))
  run = lambda: sweep_lib.run(model, params, config, layer=layer, pairs=(tuple(pair),),  # noqa: E731
                              resume_dir=str(out / "checkpoint"), progress=progress)
  try:
    res = run()
  except errors.ConfigMismatchError as e:  # an interrupted run of another sweep left its checkpoint here
    say(f"fcjax: discarding the checkpoint in {out}: {e}")
    distributed.barrier(f"fcjax-discard:{out}")
    distributed.write_once(f"fcjax-discarded:{out}", lambda: shutil.rmtree(out / "checkpoint"))
    res = run()
  return res


# ----------------------------------------------------------------------------------------------- figure

def figure(model, params, *, dataset: str, layers: Sequence[str], out: str | os.PathLike, config,
           n: int | None = None, cap_n: bool = False, picks: Sequence[str] = PICKS, weights_label: str = "",
           batch_size: int = 32, data_dir: str | None = None, backend: str = "auto",
           formats: Sequence[str] = ("png", "pdf"),
           fresh: bool = False, progress: bool = True, say: Say = _say_default, wait: bool = False) -> FigureRun:
  """The whole experiment into the directory ``out``: statistics of ``layers`` over ``n`` images of ``dataset``
  (``stats.npz``), the sweep of the first highest / lowest / closest-to-zero pair (``picks``) of each layer
  (``sweeps/<layer>_<pick>_<i>_<j>/``), their measures (``summary.json``) and the multi-panel figure (``figure.*``).

  Each artefact is reused only when its manifest records this run's inputs (module docstring); ``fresh`` recomputes
  everything. ``figure_config.json`` (what the figure was made from) is written last. The dataset is opened (and
  ``n`` checked, :func:`open_source`) before anything is written; ``wait``: for another run that holds ``out``.
  """
  import matplotlib
  matplotlib.use("Agg")
  from fcjax import stats as stats_lib
  out = pathlib.Path(out)
  layers = [model.canonical(l) for l in layers]
  for l in layers:
    model.check_size(l, config.input_size)
    warn_post_relu(model, l, say=say)
  for pk in picks:
    if pk not in PICKS:
      raise errors.FcjaxError(f"unknown pick {pk!r}; use one of {PICKS}")
  source = open_source(dataset, n=n, cap_n=cap_n, data_dir=data_dir, backend=backend)
  with _guard.out_lock(out, "dir", wait=wait, say=say):
    records = [_manifest.of_file(out / name) for name in ("stats.npz", "summary.json", "figure")]
    ours = any(_manifest.read(r) is not None for r in records) or bool(stats_lib.state_files(out / "stats.npz.state"))
    _check_foreign(out, {**{r.name: "file" for r in records}, **FIGURE_FILES}, ours)
    return _figure_locked(model, params, dataset, layers, out, config, n, cap_n, picks, weights_label, batch_size,
                          data_dir, backend, formats, fresh, progress, say, source)


FIGURE_FILES = {"stats.npz": "file", "sweeps": "dir", "summary.json": "file", "figure_config.json": "file",
                **{f"figure.{fmt}": "file" for fmt in FORMATS}}  # what a figure folder holds, besides manifests


def _figure_locked(model, params, dataset, layers, out, config, n, cap_n, picks, weights_label, batch_size, data_dir,
                   backend, formats, fresh, progress, say: Say, source) -> FigureRun:
  import matplotlib.pyplot as plt
  from fcjax import measures, objectives, plot
  distributed.write_once(f"fcjax-mkdir:{out}", lambda: out.mkdir(parents=True, exist_ok=True))
  digest = _io.tree_digest(params)
  actions = {}

  # 1. statistics (resumable through its state file)
  stats_result, actions["stats.npz"] = stats(
      model, params, dataset=dataset, layers=layers, out=out / "stats.npz", readout=config.readout,
      size=config.input_size, n=n, batch_size=batch_size, weights_label=weights_label, data_dir=data_dir,
      backend=backend, fresh=fresh, say=say, digest=digest, cap_n=cap_n, source=source)
  for l in layers:
    stats_result.check_compatible(model=model.name, layer=l, readout=config.readout, input_size=config.input_size)

  # 2. sweeps of the chosen pairs of each layer (each resumable; reused when their inputs match)
  panels, summary, results, sweep_inputs = [], {}, {}, {}
  data_inputs = {"dataset": dataset, "n": n}
  for l in layers:
    for pick in picks:
      i, j = pick_pair(stats_result, l, pick)
      rel = f"sweeps/{l}_{pick}_{i}_{j}"
      if not (out / rel / "inputs.json").exists() or fresh:
        say(f"fcjax: sweep {l} {pick} pair ({i}, {j})")
      res, actions[rel] = sweep(model, params, config, layer=l, pair=(i, j), out=out / rel,
                                weights_label=weights_label, extra_meta={"pick": pick},
                                inputs={**data_inputs, "pick": pick}, fresh=fresh, progress=progress, say=say,
                                digest=digest)
      sweep_inputs[rel] = _sweep_inputs(digest, model, l, (i, j), config, {**data_inputs, "pick": pick})
      cloud, corr = cloud_and_corr(stats_result, l, i, j)
      label = f"{pick} pair" + (f" [{model.defaults.label}]" if model.defaults.label else "")
      if weights_label.startswith("random"):
        label += " [random weights]"
      panels.append({"result": res, "pair": 0, "cloud": cloud, "correlation": corr, "label": label})
      results[f"{l}/{pick}"] = res
      summary[f"{l}/{pick}"] = {"units": [i, j], "correlation": corr, **measures.summarize(res, 0, cloud=cloud)}

  # 3. the summary and the multi-panel figure (made from the artefacts above: their inputs are these)
  inputs = {"weights_digest": digest, "model": model.name, "layers": layers, "readout":
            objectives.readout_name(config.readout), **data_inputs, "sweeps": sweep_inputs,
            "measures": measures.DEFINITION}  # a summary made by another definition of the measures is stale
  summary_path = out / "summary.json"
  _, actions["summary.json"] = _manifest.reuse_or_make(
      _manifest.of_file(summary_path), inputs, exists=summary_path.is_file(), fresh=fresh, make=lambda: summary,
      save=lambda s: _write_json(summary_path, s), say=say, what=str(summary_path))
  fig_inputs = {**inputs, "picks": list(picks), "weights": weights_label, "formats": list(formats)}
  paths = [(out / "figure").with_suffix("." + fmt) for fmt in formats]

  def write_fig(_):
    fig = plot.figure(panels, ncols=len(picks), provenance=[_data_line(stats_result)])
    title = f"fcjax feature-combination plots: {model.name}"
    if model.defaults.title:
      title += f" ({model.defaults.title})"
    if weights_label.startswith("random"):
      title += " (RANDOM weights)"
    fig.suptitle(title)
    write_figure(fig, out / "figure", formats)
    plt.close(fig)
  _, actions["figure"] = _manifest.reuse_or_make(  # drawn by the writer alone: nothing to make in every process
      _manifest.of_file(out / "figure"), fig_inputs, exists=all(p.is_file() for p in paths), fresh=fresh,
      make=lambda: None, save=write_fig, say=say, what=str(out / "figure"))
  config_json = {"model": model.name, "weights": weights_label, "dataset": dataset, "layers": layers,
                 "sweep": config.to_dict(), "n_images": n}
  distributed.write_once(f"fcjax-wrote:{out / 'figure_config.json'}",
                         lambda: _write_json(out / "figure_config.json", config_json))
  return FigureRun(out=out, stats=stats_result, results=results, summary=summary, paths=paths, actions=actions)
