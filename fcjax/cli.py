"""The ``fcjax`` command line: thin wrappers over the library.

Commands::

    fcjax weights download | convert SRC DST | info PATH | verify WEIGHTS --images FOLDER
    fcjax stats   --dataset SPEC --layers L [L ...] --out FILE        (activation statistics, pair selection)
    fcjax pairs   STATS --layer L                                      (the selected pairs, as a table)
    fcjax sweep   --layer L --units I J | --pick lowest|highest|zero --stats STATS  --out DIR
    fcjax plot    RESULT_DIR                                           (re-draw without re-running)
    fcjax figure  --dataset SPEC --layers L [L ...] --out DIR          (the whole experiment, resumable)
    fcjax atlas   --layer L [--pairs top:K+random:N|all|I-J,...] --out DIR   (screen many pairs, browsable report)
    fcjax report  ATLAS_DIR                                            (rewrite an atlas's index.html)

Every heavy command takes ``--smoke`` (tiny settings, about a minute on a laptop CPU) and ``--fresh`` (recompute
every artefact instead of reusing those whose recorded inputs match). This module only parses arguments, prints and
maps errors to exit codes; the work is :mod:`fcjax.experiment`'s.

Exit status: 0 done; 2 bad input (one line ``fcjax: error: ...`` on stderr saying what to do, nothing written), or an
output that another run holds or where a foreign file sits; 74 a failed write (no space, quota, read-only: one line
naming the path and the cause); 130 interrupted, 143 terminated (SIGTERM) (rerun to resume); 1 with a Python
traceback is a bug in fcjax, to be reported with the command.
``stats``, ``sweep``, ``figure`` and ``atlas`` take the cluster flags of :func:`fcjax.distributed.add_cli_args` and
join the cluster before any other JAX use; only process 0 writes files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import signal
import sys
from typing import Any, Mapping, Sequence

from fcjax import _args, _guard, _io, _readout, distributed, errors, experiment, triples
from fcjax._args import Parser, add_wait_arg, out_path, positive_int
from fcjax.sweep.config import MAX_IMAGE_SIZE, PRESETS, RECIPE_PARAMS  # importing it starts no JAX backend

PICKS, FORMATS = experiment.PICKS, experiment.FORMATS
# Upper bounds of the numeric options: far above any sensible run, low enough to stop a typo before it allocates
# terabytes (a 10^9 image batch); an input side is bounded where the settings are (MAX_IMAGE_SIZE).
MAX_IMAGES, MAX_BATCH = 10 ** 9, 65536
KEYWORD_FILES = ("a file or folder named like a keyword is passed with a path: ./random, ./default")
CLUSTER_COMMANDS = ("stats", "sweep", "figure", "atlas")  # the commands that take the cluster flags (fcjax.distributed)


# --------------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------------
_say = _args.say


def _sweep_config(args, model, overrides: Mapping[str, Any] | None = None) -> Any:
  """The SweepConfig of a command (:func:`fcjax.experiment.sweep_config`): the model's defaults (or --smoke),
  --recipe, --config, ``overrides`` (the atlas's protocol), then --set."""
  return experiment.sweep_config(model, smoke=getattr(args, "smoke", False), recipe=getattr(args, "recipe", None),
                                 config_file=getattr(args, "config", None), overrides=overrides,
                                 sets=getattr(args, "set", None))


def _load(args):
  return experiment.load_model(args.model, args.weights, say=_say)


def _warn_post_relu(model, layer: str) -> None:
  experiment.warn_post_relu(model, layer, say=_say)


# --------------------------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------------------------
def cmd_weights(args) -> int:
  from fcjax import weights as weights_lib
  if args.action == "download":
    path = weights_lib.download(url=args.url, cache_dir=args.cache_dir)
    print(f"converted weights are in {path}")
  elif args.action == "convert":
    import weights_conversion
    path = weights_conversion.convert(args.src, args.dst)
    print(f"wrote {path}")
  elif args.action == "info":
    import weights_conversion
    print(json.dumps(weights_conversion.info(args.path), indent=2, default=str))
  elif args.action == "verify":
    from fcjax import data
    model, params, _ = experiment.load_model("inceptionv1", args.weights, say=_say)
    source = data.folder(args.images, split=args.split)
    names = source.label_names

    def batches():
      for b in source.batches(args.batch_size, 224):
        yield b["images"], [names[k] for k in b["labels"]]

    res = weights_lib.verify(model, params, batches())
    print(f"top-1 {res['top1']:.3f}  top-5 {res['top5']:.3f}  on {res['n']} images")
  return 0


# --------------------------------------------------------------------------------------------------------------
# stats / pairs
# --------------------------------------------------------------------------------------------------------------
def _is_stats_file(path: pathlib.Path) -> bool:
  from fcjax import stats
  try:
    stats.load(path)
  except errors.FcjaxError:
    return False
  return True


def _n_images(args) -> tuple[int | None, bool]:
  """(n, whether n only caps the count): an explicit --n must fit the dataset; --smoke's default takes at most
  SMOKE_IMAGES."""
  if args.n is not None:
    return args.n, False
  return (experiment.SMOKE_IMAGES, True) if args.smoke else (None, False)


def cmd_stats(args) -> int:
  _io.check_output_path(args.out, "file", what="--out", overwrite=_is_stats_file)
  model, params, wlabel = _load(args)
  size = args.size if args.size is not None else (
      PRESETS["smoke"]["input_size"] if args.smoke else model.input_size)
  n, cap_n = _n_images(args)
  result, _ = experiment.stats(model, params, dataset=args.dataset, layers=args.layers, out=args.out,
                               readout=args.readout, size=size, n=n, cap_n=cap_n, batch_size=args.batch_size,
                               weights_label=wlabel, data_dir=args.data_dir, backend=args.backend,
                               fresh=args.fresh, wait=args.wait, say=_say)
  for name, ls in result.layers.items():
    print(f"{name}: {ls.count} images, {int(ls.dead.sum())} dead units")
  if distributed.is_writer():
    print(f"wrote {args.out}")
  return 0


def cmd_pairs(args) -> int:
  from fcjax import models, stats
  result = stats.load(args.stats)
  layer = args.layer
  if layer not in result.layers:
    try:
      layer = models.get(result.meta["model"]).canonical(layer)
    except errors.FcjaxError:
      pass
  if layer not in result.layers:
    raise errors.ConfigMismatchError(f"{args.stats} has no layer {args.layer!r}; it has {', '.join(result.layers)}")
  ls = result.layers[layer]
  print(f"{layer} ({result.meta.get('readout')}, {ls.count} images)")
  print(f"{'pick':8s} {'unit_i':>6s} {'unit_j':>6s} {'corr':>8s}")
  for pick in PICKS:
    for i, j, r in ls.pairs.get(pick, []):
      print(f"{pick:8s} {int(i):6d} {int(j):6d} {float(r):8.4f}")
  return 0


# --------------------------------------------------------------------------------------------------------------
# sweep / plot
# --------------------------------------------------------------------------------------------------------------
def cmd_sweep(args) -> int:
  from fcjax import stats
  _io.check_output_path(args.out, "dir", what="--out")
  model, params, wlabel = _load(args)
  layer = model.canonical(args.layer)
  cfg = _sweep_config(args, model)
  stats_result = None
  if args.stats:
    stats_result = stats.load(args.stats)
    stats_result.check_compatible(model=model.name, layer=layer, readout=cfg.readout, input_size=cfg.input_size)
  if args.units:
    if len(args.units) not in (2, 3):
      raise errors.UsageError(f"--units takes two units (a pair) or three (a triple), got {len(args.units)}")
    combo = tuple(args.units)
  elif args.pick:
    if stats_result is None:
      raise errors.FcjaxError("--pick needs --stats STATS (from fcjax stats)")
    combo = (triples.pick_triple(stats_result, layer, args.pick) if args.pick in triples.RULES
             else experiment.pick_pair(stats_result, layer, args.pick))
  else:
    raise errors.FcjaxError(f"give --units I J [K] or --pick {'|'.join(PICKS + triples.RULES)} with --stats")
  for u in combo:
    model.check_unit(layer, u)
  if len(set(combo)) < len(combo):
    raise errors.UsageError(f"--units needs {len(combo)} different units, got {' '.join(map(str, combo))}")
  _warn_post_relu(model, layer)
  out = pathlib.Path(args.out)
  with _guard.out_lock(out, "dir", wait=args.wait, say=_say):
    result, _ = experiment.sweep(model, params, cfg, layer=layer, pair=combo, out=out, weights_label=wlabel,
                                 fresh=args.fresh, say=_say, stats_path=args.stats)
    info = experiment.plot_result(result, stats_result, out, args.format)
  print(result.summary(measured=info["measures"]))  # what measures.json says (judged with the stats' cloud)
  if distributed.is_writer():
    print(f"wrote {out} ({', '.join(pathlib.Path(p).name for p in info['plots'])})")
  return 0


def cmd_plot(args) -> int:
  from fcjax import result as result_lib, stats
  out = pathlib.Path(args.result_dir)
  result = result_lib.SweepResult.load(out)
  _io.check_output_path(out, "dir", what="RESULT_DIR")  # the plot is written beside the result
  stats_path = args.stats
  if stats_path is None and (out / "stats_path.txt").exists():
    stats_path = (out / "stats_path.txt").read_text().strip()
  stats_result = None
  if stats_path:
    stats_result = stats.load(stats_path)
    stats_result.check_compatible(model=result.model, layer=result.layer, readout=result.readout,
                                  input_size=result.config.get("input_size"))
  with _guard.out_lock(out, "dir"):
    info = experiment.plot_result(result, stats_result, out, args.format)
  print(f"wrote {', '.join(info['plots'])}")
  return 0


# --------------------------------------------------------------------------------------------------------------
# figure: the whole experiment
# --------------------------------------------------------------------------------------------------------------
def cmd_figure(args) -> int:
  from fcjax import measures
  _io.check_output_path(args.out, "dir", what="--out")
  model, params, wlabel = _load(args)
  cfg = _sweep_config(args, model)
  dataset = args.dataset or model.defaults.dataset
  if dataset is None:
    raise errors.DatasetError("--dataset is required (e.g. tfds:imagenet2012/validation or folder:PATH)")
  n, cap_n = _n_images(args)
  run = experiment.figure(model, params, dataset=dataset, layers=args.layers, out=args.out, config=cfg,
                          n=n, cap_n=cap_n, picks=args.picks,
                          weights_label=wlabel, batch_size=args.batch_size, data_dir=args.data_dir,
                          backend=args.backend, formats=args.format, fresh=args.fresh, wait=args.wait, say=_say)
  for key, s in run.summary.items():
    print(f"{key}: units {tuple(s['units'])} r={s['correlation']:+.3f}  {measures.format_summary(s)}")
  if distributed.is_writer():
    print(f"wrote {', '.join(str(p) for p in run.paths)}")
  return 0


# --------------------------------------------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------------------------------------------
def _add_model_args(p: argparse.ArgumentParser) -> None:
  p.add_argument("--model", default="inceptionv1", help="inceptionv1 (default) or demo (embedded, offline)")
  p.add_argument("--weights", default=None,
                 help="weights: a .pth / .pb file, a converted checkpoint, 'default' (the download cache), or "
                      f"'random[:SEED]' (random init, for trying the pipeline); {KEYWORD_FILES}")


def _add_data_args(p: argparse.ArgumentParser, *, dataset_required: bool) -> None:
  """The image-source arguments shared by ``stats`` and ``figure``."""
  p.add_argument("--dataset", required=dataset_required, default=None,
                 help="folder:PATH, tfds:NAME[/SPLIT] or procedural[:N]")
  p.add_argument("--n", type=positive_int("--n", MAX_IMAGES), default=None,
                 help="number of images for the statistics (default: all; at most the dataset's)")
  p.add_argument("--batch-size", type=positive_int("--batch-size", MAX_BATCH), default=32)
  p.add_argument("--data-dir", default=None, help="TFDS data_dir (default: TFDS's, ~/tensorflow_datasets)")
  p.add_argument("--backend", default="auto", choices=["auto", "tfdata", "data_source", "grain"],
                 help="TFDS reading path: tfdata (TFRecord, needs the tf extra) or data_source (ArrayRecord, no TF)")


def _add_sweep_args(p: argparse.ArgumentParser, *, formats: bool = True) -> None:
  """The settings arguments of the sweeping commands; ``formats``: with ``--format`` (the atlas's report is PNG)."""
  p.add_argument("--recipe", choices=tuple(RECIPE_PARAMS), default=None,
                 help="image recipe: maco (phase-only MACO, NAdam 1.0; the default) or lucid (FFT image, standard "
                      "transforms, Adam 0.05); the demo model defaults to lucid")
  p.add_argument("--config", help="JSON file of SweepConfig fields")
  p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one SweepConfig field (repeatable)")
  p.add_argument("--smoke", action="store_true", help="tiny settings that finish in about a minute on a laptop CPU")
  if formats:
    p.add_argument("--format", nargs="+", default=["png", "pdf"], choices=FORMATS, help="figure formats")
  p.add_argument("--fresh", action="store_true", help="recompute everything (default: reuse the artefacts in --out "
                                                       "whose recorded inputs match this run's)")
  add_wait_arg(p)


def build_parser() -> argparse.ArgumentParser:
  parser = Parser(prog="fcjax", description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)

  w = sub.add_parser("weights", help="download, convert, inspect or verify InceptionV1 weights")
  wsub = w.add_subparsers(dest="action", required=True)
  d = wsub.add_parser("download", help="fetch Lucent's inception5h.pth into the cache and convert it")
  d.add_argument("--url", default=None)
  d.add_argument("--cache-dir", default=None)
  c = wsub.add_parser("convert", help="convert a .pth (Lucent) or .pb (Lucid) file into an fcjax checkpoint")
  c.add_argument("src")
  c.add_argument("dst")
  i = wsub.add_parser("info", help="describe a weights file or checkpoint")
  i.add_argument("path")
  v = wsub.add_parser("verify", help="top-1/top-5 accuracy on a folder of labelled ImageNet images")
  v.add_argument("weights", help=f"a .pth / .pb file, a converted checkpoint, 'default' or 'random[:SEED]'; "
                                 f"{KEYWORD_FILES}")
  v.add_argument("--images", required=True, help="root/<split>/<synset>/*.JPEG")
  v.add_argument("--split", default="train")
  v.add_argument("--batch-size", type=positive_int("--batch-size", MAX_BATCH), default=16)
  w.set_defaults(func=cmd_weights)

  s = sub.add_parser("stats", help="activation statistics and pair selection over a dataset")
  _add_model_args(s)
  _add_data_args(s, dataset_required=True)
  s.add_argument("--layers", nargs="+", required=True)
  s.add_argument("--readout", default="neuron", choices=_readout.MODES)
  s.add_argument("--size", type=positive_int("--size", MAX_IMAGE_SIZE), default=None,
                 help="model input size in px (default: the model's)")
  s.add_argument("--out", required=True, type=out_path, help="stats file to write (.npz)")
  s.add_argument("--smoke", action="store_true")
  s.add_argument("--fresh", action="store_true", help="recompute even if --out holds statistics of the same inputs")
  add_wait_arg(s)
  distributed.add_cli_args(s)
  s.set_defaults(func=cmd_stats)

  pr = sub.add_parser("pairs", help="the selected pairs of a stats file, as a table")
  pr.add_argument("stats")
  pr.add_argument("--layer", required=True)
  pr.set_defaults(func=cmd_pairs)

  sw = sub.add_parser("sweep", help="run the cosdot sweep for one pair and plot it")
  _add_model_args(sw)
  sw.add_argument("--layer", required=True)
  sw.add_argument("--units", nargs="+", type=int, metavar="I",
                  help="two units (a pair) or three (a triple: octant verdicts, docs/triples.md)")
  sw.add_argument("--pick", choices=PICKS + triples.RULES,
                  help="from --stats: a pair (highest, lowest, zero correlation) or a triple (joint, independent)")
  sw.add_argument("--stats", help="stats file (for --pick, the grey cloud and the correlation)")
  sw.add_argument("--out", required=True, type=out_path)
  _add_sweep_args(sw)
  distributed.add_cli_args(sw)
  sw.set_defaults(func=cmd_sweep)

  pl = sub.add_parser("plot", help="re-draw a sweep result without re-running it")
  pl.add_argument("result_dir", type=out_path)
  pl.add_argument("--stats", default=None)
  pl.add_argument("--format", nargs="+", default=["png", "pdf"], choices=FORMATS)
  pl.set_defaults(func=cmd_plot)

  f = sub.add_parser("figure", help="the whole experiment: statistics, pair selection, sweeps, figure")
  _add_model_args(f)
  _add_data_args(f, dataset_required=False)
  f.add_argument("--layers", nargs="+", required=True)
  f.add_argument("--picks", nargs="+", default=list(PICKS), choices=PICKS)
  f.add_argument("--out", required=True, type=out_path)
  _add_sweep_args(f)
  distributed.add_cli_args(f)
  f.set_defaults(func=cmd_figure)
  from fcjax.atlas import cli as atlas_cli  # noqa: PLC0415 - the atlas's own subcommands (atlas, report)
  atlas_cli.add_parsers(sub, add_model_args=_add_model_args, add_sweep_args=_add_sweep_args, load=_load,
                        sweep_config=_sweep_config)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  """Run the command ``argv`` (default: ``sys.argv[1:]``); returns the exit status (module docstring).

  SIGINT and SIGTERM stop the run with one line (:mod:`fcjax._guard`; a second signal ends it at once). Run as the
  ``fcjax`` program (``argv`` None), an interrupted run or a failed write then ends the process with ``os._exit``
  after flushing its output: the interpreter's shutdown after an interrupt inside a compilation can crash (SIGSEGV,
  exit 139), and orbax's writer threads print tracebacks once their event loop is gone.
  """
  try:
    with _guard.interrupts(), _guard.quiet_after_failure(restore=argv is not None):
      code = _run(argv)
  except KeyboardInterrupt as e:
    signum = getattr(e, "signum", signal.SIGINT)
    _say(_guard.message(signum))
    code = _guard.EXIT_CODES[signum]
  if argv is None and code in (*_guard.EXIT_CODES.values(), errors.WRITE_FAILED):
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the line is out: nothing from dying threads follows it
    os._exit(code)
  return code


def _run(argv: Sequence[str] | None) -> int:
  args = build_parser().parse_args(argv)
  # orbax logs each failed write of its worker threads with a traceback (18 on a full disk); the failure reaches this
  # thread too and becomes one line below
  absl = logging.getLogger("absl")
  level = absl.level
  absl.setLevel(logging.CRITICAL)
  try:
    if args.command in CLUSTER_COMMANDS:  # before any other JAX use: the flags, else JAX's auto-detection
      distributed.from_args(args)
    return args.func(args)
  except errors.WriteError as e:
    _say(f"fcjax: error: {errors.one_line(e, 2000)}")
    return errors.WRITE_FAILED
  except errors.FcjaxError as e:
    _say(f"fcjax: error: {errors.one_line(e, 2000)}")
    return 2
  except FileNotFoundError as e:
    _say(f"fcjax: error: {e.filename or e}: no such file")
    return 2
  except OSError as e:
    if e.errno not in _io.WRITE_ERRNOS:
      raise
    _say(f"fcjax: error: {_io.write_failed(e)}")
    return errors.WRITE_FAILED
  finally:
    absl.setLevel(level)


if __name__ == "__main__":
  sys.exit(main())
