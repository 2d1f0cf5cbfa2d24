"""The ``fcjax atlas`` and ``fcjax report`` commands, added to the ``fcjax`` parser by :func:`add_parsers`.

    fcjax atlas --model demo --layer conv4_pre_relu --out runs/atlas      (top 8 + 8 random pairs: ~4 min, 2 CPUs)
    fcjax atlas ... --pairs all | top:K | random:N[:SEED] | I-J,I-J | top:100+random:100
    fcjax atlas --k 3 ... --pairs joint:K | independent:K | random:N[:SEED] | I-J-K,I-J-K   (triples)
    fcjax report runs/atlas                                               (rewrite runs/atlas/index.html)

The shared argument groups and the model loader come from :mod:`fcjax.cli` by injection (this package sits below
the CLI and never imports it). Settings: the model's defaults and ``--recipe``, then ``--config FILE``, then the
screening protocol (``fcjax.atlas.SCREEN_PROTOCOL``: angles, seeds, steps, block steps; ``TRIPLE_PROTOCOL`` with
``--k 3``; skipped with ``--protocol model`` or ``--smoke``), then ``--set KEY=VALUE``.
"""

from __future__ import annotations

import pathlib
from typing import Callable

from fcjax import _guard, _io, distributed, errors, experiment
from fcjax._args import out_path, say as _say
from fcjax.atlas import _defaults


def add_parsers(sub, *, add_model_args: Callable, add_sweep_args: Callable, load: Callable,
                sweep_config: Callable) -> None:
  """Add ``atlas`` and ``report`` to the subparsers ``sub``.

  Args:
    sub: ``parser.add_subparsers(...)`` of the fcjax parser.
    add_model_args, add_sweep_args: the CLI's ``--model/--weights`` and ``--recipe/--config/--set/--smoke/--format/
      --fresh/--wait`` groups (``f(parser)``; ``add_sweep_args(parser, formats=False)`` leaves out ``--format``: the
      report's plots are PNG).
    load: ``load(args) -> (model, params, weights label)``.
    sweep_config: ``sweep_config(args, model, overrides=None) -> SweepConfig``
      (:func:`fcjax.experiment.sweep_config` of the model's defaults, --smoke, --recipe, --config, ``overrides``,
      --set).
  """
  a = sub.add_parser("atlas", help="screen many pairs (or triples) of one layer, rank them, write a browsable report")
  add_model_args(a)
  a.add_argument("--layer", required=True)
  a.add_argument("--k", type=int, default=2, help="units per combination: 2 pairs (default), 3 triples")
  a.add_argument("--pairs", default=None,
                 help=f"pair set: all, top:K (by |r|), random:N[:SEED], I-J,I-J, joined by + (default "
                      f"{_defaults.DEFAULT_PAIRS}); with --k 3 a triple set: joint:K, independent:K, random:N[:SEED], "
                      f"I-J-K,I-J-K (default {_defaults.DEFAULT_TRIPLES})")
  a.add_argument("--stats", default=None, help="stats file of this model and layer (default: computed into "
                                               "OUT/stats.npz from --dataset)")
  a.add_argument("--dataset", default=None, help="images for the statistics (default: the model's; "
                                                 "procedural for the demo)")
  a.add_argument("--n", type=int, default=1000, help="images for the statistics (default 1000)")
  a.add_argument("--protocol", choices=["screen", "model"], default="screen",
                 help="screen: the screening protocol over the model's defaults (default); model: the model's own")
  a.add_argument("--chunk-pairs", type=int, default=_defaults.CHUNK_PAIRS, help="pairs per compiled chunk")
  a.add_argument("--no-plots", action="store_true", help="skip the per-pair plots (the report then shows none)")
  a.add_argument("--out", required=True, type=out_path, help="output folder (rerun the same command to resume)")
  add_sweep_args(a, formats=False)
  distributed.add_cli_args(a)  # --coordinator --num-processes --process-id (fcjax.cli joins the cluster first)
  a.set_defaults(func=lambda args: cmd_atlas(args, load, sweep_config))

  r = sub.add_parser("report", help="rewrite the index.html of an atlas folder")
  r.add_argument("atlas_dir")
  r.set_defaults(func=cmd_report)


def _config(args, model, sweep_config: Callable):
  """The atlas's SweepConfig (module docstring: defaults, recipe, --config, protocol, --set)."""
  screen = _defaults.SCREEN_PROTOCOL if getattr(args, "k", 2) == 2 else _defaults.TRIPLE_PROTOCOL
  protocol = None if args.protocol == "model" or args.smoke else screen
  return sweep_config(args, model, overrides=protocol)


def cmd_atlas(args, load: Callable, sweep_config: Callable) -> int:
  from fcjax import stats as stats_lib
  from fcjax.atlas import _screen
  k = _screen.check_k(args.k)
  if args.chunk_pairs < 1:
    raise errors.UsageError(f"--chunk-pairs must be a positive integer, got {args.chunk_pairs}")
  if args.n < 1:
    raise errors.UsageError(f"--n must be a positive number of images, got {args.n}")
  out = _io.check_output_path(args.out, "dir")
  model, params, label = load(args)
  layer = model.canonical(args.layer)
  cfg = _config(args, model, sweep_config)
  experiment.warn_post_relu(model, layer, say=_say)
  dataset = args.dataset or model.defaults.dataset
  if not args.stats and dataset is None:
    raise errors.DatasetError("--dataset (or --stats) is required for this model, e.g. folder:PATH")
  with _guard.out_lock(out, "dir", wait=args.wait, say=_say):  # one run at a time writes an atlas folder
    if args.stats:
      st = stats_lib.load(args.stats)
    else:
      st, _ = experiment.stats(model, params, dataset=dataset, layers=[layer], out=out / "stats.npz",
                               readout=cfg.readout, size=cfg.input_size, n=args.n, weights_label=label,
                               fresh=args.fresh, say=_say)
    res = _screen.screen(model, params, layer=layer, stats=st, out=out, pairs=args.pairs, config=cfg, k=k,
                         chunk_pairs=args.chunk_pairs, plots=not args.no_plots, weights_label=label,
                         fresh=args.fresh, progress=True, say=_say)
  for row in res.rows[:5]:
    print(_line(row) if k == 2 else _triple_line(row))
  print(f"wrote {out / 'table.csv'} ({len(res.rows)} {'pairs' if k == 2 else 'triples'}) and {out / 'index.html'}")
  return 0


def _line(row: dict) -> str:
  verdicts = " ".join(f"{q}:{row[f'verdict_{q}'][:4]}" for q in ("I", "II", "III", "IV"))
  return f"#{row['rank']} ({row['unit_i']}, {row['unit_j']}) r={row['r']:+.3f} score={row['score']:.2f} {verdicts}"


def _triple_line(row: dict) -> str:
  """e.g. '#1 (3, 7, 12) det=0.512 only-triple: +-+ score=1.84 collapsed 2, uncertain 3'."""
  return (f"#{row['rank']} ({row['unit_i']}, {row['unit_j']}, {row['unit_k']}) det={row['det']:.3f} "
          f"only-triple: {row['only_triple'] or '-'} score={row['score']:.2f} collapsed {row['n_collapsed']}, "
          f"uncertain {row['n_uncertain']}")


def cmd_report(args) -> int:
  from fcjax.atlas import _report
  path = _report.write_report(pathlib.Path(args.atlas_dir))
  print(f"wrote {path}")
  return 0

