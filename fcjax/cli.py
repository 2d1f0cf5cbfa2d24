"""The ``fcjax`` command line: thin wrappers over the library.

Commands::

    fcjax weights download | convert SRC DST | info PATH | verify WEIGHTS --images FOLDER
    fcjax stats   --dataset SPEC --layers L [L ...] --out FILE        (activation statistics, pair selection)
    fcjax pairs   STATS --layer L                                      (the selected pairs, as a table)
    fcjax sweep   --layer L --units I J | --pick lowest|highest|zero --stats STATS  --out DIR
    fcjax plot    RESULT_DIR                                           (re-draw without re-running)
    fcjax figure  --dataset SPEC --layers L [L ...] --out DIR          (the whole experiment, resumable)

Every heavy command takes ``--smoke`` (tiny settings, about a minute on a laptop CPU). This module is the only
place that parses arguments, prints and writes files (besides the library's save/load helpers). Bad input exits
with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time
import warnings
from typing import Any, Sequence

from fcjax import errors

PICKS = ("highest", "lowest", "zero")
CLOUD_POINTS = 1000  # natural-image activation vectors kept for the grey cloud of each plot
FORMATS = ("png", "pdf", "svg")


# --------------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------------
def _say(*args) -> None:
  print(*args, file=sys.stderr, flush=True)


def _load_model_and_params(model_name: str, weights: str | None):
  """The Model and its parameters. ``weights``: a path (.pth, .pb, converted checkpoint), 'default' (the cache),
  'random[:SEED]' (random init, clearly labelled), or None (the model's default: the demo ships its weights)."""
  import jax
  from fcjax import models, weights as weights_lib
  model = models.get(model_name)
  if weights and weights.startswith("random"):
    seed = int(weights.split(":", 1)[1]) if ":" in weights else 0
    _say(f"fcjax: using RANDOM-INIT weights for {model.name} (seed {seed}): results say nothing about a trained model")
    return model, model.init_params(jax.random.key(seed)), f"random:{seed}"
  if model.name == "demo":
    path = weights
    return model, model.load_params(path), path or "demo:shipped"
  try:
    path = weights_lib.resolve(weights or "default")
  except errors.WeightsError as e:
    if weights:
      raise
    raise errors.WeightsError(f"{e}; or try the embedded offline model: --model demo") from None
  return model, model.load_params(str(path)), str(path)


# The demo model is small (64 px input) and meant to finish in minutes on a laptop CPU: fewer angles, seeds and steps
# than the paper's 60 x 5 x 512, which stay the defaults for every other model. It uses Lucid's FFT image with the
# standard transforms: on this model MACO's fixed natural spectrum caps image contrast, and its unit maxima (measured:
# 22 and 20 for conv4_pre_relu units 12 and 60 at 128 steps, 25 and 24 at 512) fall inside the cloud of natural-image
# activations, while the FFT image reaches 82 and 88 in 128 steps, so the axis tips mean "the unit's maximum".
DEMO_SWEEP = dict(n_angles=24, n_seeds=3, steps=128, block_steps=32, canvas_size=64, input_size=64)


def _sweep_config(args, model) -> Any:
  """The SweepConfig of a command: paper defaults (or --smoke, or the demo's settings), then --config, then --set.

  A model whose nominal input is not 224 px gets its own input size (and a canvas no larger) unless told otherwise.
  """
  from fcjax import sweep
  if getattr(args, "smoke", False):
    cfg = sweep.SweepConfig.smoke()
  elif model.name == "demo":
    cfg = sweep.SweepConfig(**DEMO_SWEEP)
  else:
    cfg = sweep.SweepConfig()
  if model.input_size < cfg.input_size:
    cfg = cfg.replace(input_size=model.input_size, canvas_size=min(cfg.canvas_size, model.input_size))
  recipe = getattr(args, "recipe", None) or ("lucid" if model.name == "demo" else None)
  if recipe == "lucid":  # FFT image, standard transforms, Adam 0.05: the optimiser comes with the parameterization
    cfg = cfg.replace(param="fft", transforms="standard", optimizer="adam", learning_rate=0.05)
  elif recipe == "maco":
    cfg = cfg.replace(param="maco", transforms="maco", optimizer="nadam", learning_rate=1.0)
  if getattr(args, "config", None):
    try:
      data = json.loads(pathlib.Path(args.config).read_text())
    except (OSError, ValueError) as e:
      raise errors.FcjaxError(f"cannot read config file {args.config}: {e}") from None
    cfg = cfg.replace(**data)
  overrides = {}
  for item in getattr(args, "set", None) or []:
    if "=" not in item:
      raise errors.FcjaxError(f"--set expects KEY=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    try:
      overrides[key] = json.loads(value)
    except ValueError:
      overrides[key] = value
  if overrides:
    cfg = cfg.replace(**overrides)
  return cfg


def _warn_post_relu(model, layer: str) -> None:
  info = model.layer(layer)
  if not info.pre_relu and info.pre_relu_name:
    _say(f"fcjax: warning: {info.name} is a post-ReLU tensor; the paper's units are pre-ReLU "
         f"(negative values visible): consider --layer {info.pre_relu_name}")


def _stats_pairs(stats_result, layer: str, pick: str) -> tuple[int, int]:
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


def _cloud_and_corr(stats_result, layer: str, i: int, j: int):
  if stats_result is None or layer not in stats_result.layers:
    return None, None
  ls = stats_result.layers[layer]
  corr = float(ls.corr[i, j])
  return ls.samples[:, [i, j]], corr


def _write_figure(fig, stem: pathlib.Path, formats: Sequence[str]) -> list[pathlib.Path]:
  out = []
  for fmt in formats:
    path = stem.with_suffix("." + fmt)
    tmp = path.with_name("." + path.name + ".tmp")
    fig.savefig(tmp, format=fmt, dpi=110 if fmt == "png" else None, bbox_inches="tight")
    os.replace(tmp, path)
    out.append(path)
  return out


def _plot_result(result, stats_result, out_dir: pathlib.Path, formats: Sequence[str], label: str = "") -> dict:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from fcjax import measures, plot
  i, j = (int(u) for u in result.pairs[0])
  cloud, corr = _cloud_and_corr(stats_result, result.layer, i, j)
  fig = plot.combination_plot(result, 0, cloud=cloud, correlation=corr)
  paths = _write_figure(fig, out_dir / "plot", formats)
  plt.close(fig)
  summary = measures.summarize(result, 0, cloud=cloud)
  (out_dir / "measures.json").write_text(json.dumps(summary, indent=2, default=float))
  (out_dir / "result.csv").write_text(result.to_csv())
  return {"plots": [str(p) for p in paths], "measures": summary}


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
    model, params, _ = _load_model_and_params("inceptionv1", args.weights)
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
def _run_stats(model, params, weights_label, dataset: str, layers, *, readout, size, n, batch_size, out: pathlib.Path,
               data_dir: str | None = None, backend: str = "auto"):
  from fcjax import data, stats
  source = data.from_spec(dataset, data_dir=data_dir, backend=backend)
  layers = [model.canonical(l) for l in layers]
  for l in layers:
    model.check_size(l, size)
  state = out.with_name(out.name + ".state")
  result = stats.compute(model, params, source, layers, readout=readout, input_size=size, batch_size=batch_size,
                         n_samples=min(n, CLOUD_POINTS) if n else CLOUD_POINTS, state_path=str(state), progress=True,
                         max_images=n,
                         weights_label=weights_label)
  result.save(str(out))
  if state.exists():
    state.unlink()
  return result


def cmd_stats(args) -> int:
  model, params, wlabel = _load_model_and_params(args.model, args.weights)
  size = args.size or (64 if args.smoke else model.input_size)
  n = args.n or (64 if args.smoke else None)
  result = _run_stats(model, params, wlabel, args.dataset, args.layers, readout=args.readout, size=size, n=n,
                      batch_size=args.batch_size, out=pathlib.Path(args.out), data_dir=args.data_dir,
                      backend=args.backend)
  for name, ls in result.layers.items():
    print(f"{name}: {ls.count} images, {int(ls.dead.sum())} dead units")
  print(f"wrote {args.out}")
  return 0


def cmd_pairs(args) -> int:
  from fcjax import stats
  result = stats.load(args.stats)
  from fcjax import models
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
  from fcjax import stats, sweep
  model, params, wlabel = _load_model_and_params(args.model, args.weights)
  layer = model.canonical(args.layer)
  cfg = _sweep_config(args, model)
  stats_result = None
  if args.stats:
    stats_result = stats.load(args.stats)
    stats_result.check_compatible(model=model.name, layer=layer, readout=cfg.readout, input_size=cfg.input_size)
  if args.units:
    i, j = args.units
  elif args.pick:
    if stats_result is None:
      raise errors.FcjaxError("--pick needs --stats STATS (from fcjax stats)")
    i, j = _stats_pairs(stats_result, layer, args.pick)
  else:
    raise errors.FcjaxError("give --units I J or --pick highest|lowest|zero with --stats")
  model.check_unit(layer, i)
  model.check_unit(layer, j)
  _warn_post_relu(model, layer)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  result = sweep.run(model, params, cfg, layer=layer, pairs=((i, j),), resume_dir=str(out / "checkpoint"),
                     progress=True)
  result = dataclasses.replace(result, meta={**result.meta, "weights": wlabel})
  result.save(out)
  info = _plot_result(result, stats_result, out, args.format)
  if args.stats:
    (out / "stats_path.txt").write_text(str(pathlib.Path(args.stats).resolve()))
  print(result.summary())
  print(f"wrote {out} ({', '.join(pathlib.Path(p).name for p in info['plots'])})")
  return 0


def cmd_plot(args) -> int:
  from fcjax import result as result_lib, stats
  out = pathlib.Path(args.result_dir)
  result = result_lib.SweepResult.load(out)
  stats_path = args.stats
  if stats_path is None and (out / "stats_path.txt").exists():
    stats_path = (out / "stats_path.txt").read_text().strip()
  stats_result = None
  if stats_path:
    stats_result = stats.load(stats_path)
    stats_result.check_compatible(model=result.model, layer=result.layer, readout=result.readout,
                                  input_size=result.config.get("input_size"))
  info = _plot_result(result, stats_result, out, args.format)
  print(f"wrote {', '.join(info['plots'])}")
  return 0


# --------------------------------------------------------------------------------------------------------------
# figure: the whole experiment
# --------------------------------------------------------------------------------------------------------------
def cmd_figure(args) -> int:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from fcjax import measures, plot, result as result_lib, stats, sweep
  model, params, wlabel = _load_model_and_params(args.model, args.weights)
  cfg = _sweep_config(args, model)
  layers = [model.canonical(l) for l in args.layers]
  for l in layers:
    model.check_size(l, cfg.input_size)
    _warn_post_relu(model, l)
  dataset = args.dataset or ("procedural" if model.name == "demo" else None)
  if dataset is None:
    raise errors.DatasetError("--dataset is required (e.g. tfds:imagenet2012/validation or folder:PATH)")
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "figure_config.json").write_text(json.dumps(
      {"model": model.name, "weights": wlabel, "dataset": dataset, "layers": layers, "sweep": cfg.to_dict(),
       "n_images": args.n}, indent=2, default=str))

  # 1. statistics (resumable through its state file)
  stats_path = out / "stats.npz"
  if stats_path.exists():
    stats_result = stats.load(str(stats_path))
    _say(f"fcjax: reusing {stats_path}")
  else:
    n = args.n or (64 if args.smoke else None)
    stats_result = _run_stats(model, params, wlabel, dataset, layers, readout=cfg.readout, size=cfg.input_size, n=n,
                              batch_size=args.batch_size, out=stats_path, data_dir=args.data_dir,
                              backend=args.backend)
  for l in layers:
    stats_result.check_compatible(model=model.name, layer=l, readout=cfg.readout, input_size=cfg.input_size)

  # 2. sweeps for the highest, lowest and closest-to-zero pair of each layer (each resumable, skipped when done)
  panels, summary = [], {}
  picks = args.picks
  for l in layers:
    for pick in picks:
      i, j = _stats_pairs(stats_result, l, pick)
      d = out / "sweeps" / f"{l}_{pick}_{i}_{j}"
      if (d / "result.json").exists():
        res = result_lib.SweepResult.load(d)
        _say(f"fcjax: reusing {d}")
      else:
        _say(f"fcjax: sweep {l} {pick} pair ({i}, {j})")
        res = sweep.run(model, params, cfg, layer=l, pairs=((i, j),), resume_dir=str(d / "checkpoint"),
                        progress=True)
        res = dataclasses.replace(res, meta={**res.meta, "weights": wlabel, "pick": pick})
        res.save(d)
      cloud, corr = _cloud_and_corr(stats_result, l, i, j)
      label = f"{pick} pair" + (" [demo model]" if model.name == "demo" else "")
      if wlabel.startswith("random"):
        label += " [random weights]"
      panels.append({"result": res, "pair": 0, "cloud": cloud, "correlation": corr, "label": label})
      summary[f"{l}/{pick}"] = {"units": [i, j], "correlation": corr, **measures.summarize(res, 0, cloud=cloud)}

  # 3. the multi-panel figure
  fig = plot.figure(panels, ncols=len(picks))
  title = f"fcjax feature-combination plots: {model.name}"
  if model.name == "demo":
    title += " (embedded DEMO model on procedural images)"
  if wlabel.startswith("random"):
    title += " (RANDOM weights)"
  fig.suptitle(title)
  paths = _write_figure(fig, out / "figure", args.format)
  plt.close(fig)
  (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
  for key, s in summary.items():
    print(f"{key}: units {tuple(s['units'])} r={s['correlation']:+.3f}  {measures.format_summary(s)}")
  print(f"wrote {', '.join(str(p) for p in paths)}")
  return 0


# --------------------------------------------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------------------------------------------
def _add_model_args(p: argparse.ArgumentParser) -> None:
  p.add_argument("--model", default="inceptionv1", help="inceptionv1 (default) or demo (embedded, offline)")
  p.add_argument("--weights", default=None,
                 help="weights: a .pth / .pb file, a converted checkpoint, 'default' (the download cache), or "
                      "'random[:SEED]' (random init, for trying the pipeline)")


def _add_data_args(p: argparse.ArgumentParser, *, dataset_required: bool) -> None:
  """The image-source arguments shared by ``stats`` and ``figure``."""
  p.add_argument("--dataset", required=dataset_required, default=None,
                 help="folder:PATH, tfds:NAME[/SPLIT] or procedural[:N]")
  p.add_argument("--n", type=int, default=None, help="number of images for the statistics (default: all)")
  p.add_argument("--batch-size", type=int, default=32)
  p.add_argument("--data-dir", default=None, help="TFDS data_dir (default: TFDS's, ~/tensorflow_datasets)")
  p.add_argument("--backend", default="auto", choices=["auto", "tfdata", "data_source", "grain"],
                 help="TFDS reading path: tfdata (TFRecord, needs the tf extra) or data_source (ArrayRecord, no TF)")


def _add_sweep_args(p: argparse.ArgumentParser) -> None:
  p.add_argument("--recipe", choices=["maco", "lucid"], default=None,
                 help="image recipe: maco (phase-only MACO, NAdam 1.0; the default) or lucid (FFT image, standard "
                      "transforms, Adam 0.05); the demo model defaults to lucid")
  p.add_argument("--config", help="JSON file of SweepConfig fields")
  p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one SweepConfig field (repeatable)")
  p.add_argument("--smoke", action="store_true", help="tiny settings that finish in about a minute on a laptop CPU")
  p.add_argument("--format", nargs="+", default=["png", "pdf"], choices=FORMATS, help="figure formats")


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="fcjax", description=__doc__.split("\n\n")[0])
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
  v.add_argument("weights")
  v.add_argument("--images", required=True, help="root/<split>/<synset>/*.JPEG")
  v.add_argument("--split", default="train")
  v.add_argument("--batch-size", type=int, default=16)
  w.set_defaults(func=cmd_weights)

  s = sub.add_parser("stats", help="activation statistics and pair selection over a dataset")
  _add_model_args(s)
  _add_data_args(s, dataset_required=True)
  s.add_argument("--layers", nargs="+", required=True)
  s.add_argument("--readout", default="neuron", choices=["neuron", "channel"])
  s.add_argument("--size", type=int, default=None, help="model input size (default: the model's)")
  s.add_argument("--out", required=True, help="stats file to write (.npz)")
  s.add_argument("--smoke", action="store_true")
  s.set_defaults(func=cmd_stats)

  pr = sub.add_parser("pairs", help="the selected pairs of a stats file, as a table")
  pr.add_argument("stats")
  pr.add_argument("--layer", required=True)
  pr.set_defaults(func=cmd_pairs)

  sw = sub.add_parser("sweep", help="run the cosdot sweep for one pair and plot it")
  _add_model_args(sw)
  sw.add_argument("--layer", required=True)
  sw.add_argument("--units", nargs=2, type=int, metavar=("I", "J"))
  sw.add_argument("--pick", choices=PICKS)
  sw.add_argument("--stats", help="stats file (for --pick, the grey cloud and the correlation)")
  sw.add_argument("--out", required=True)
  _add_sweep_args(sw)
  sw.set_defaults(func=cmd_sweep)

  pl = sub.add_parser("plot", help="re-draw a sweep result without re-running it")
  pl.add_argument("result_dir")
  pl.add_argument("--stats", default=None)
  pl.add_argument("--format", nargs="+", default=["png", "pdf"], choices=FORMATS)
  pl.set_defaults(func=cmd_plot)

  f = sub.add_parser("figure", help="the whole experiment: statistics, pair selection, sweeps, figure")
  _add_model_args(f)
  _add_data_args(f, dataset_required=False)
  f.add_argument("--layers", nargs="+", required=True)
  f.add_argument("--picks", nargs="+", default=list(PICKS), choices=PICKS)
  f.add_argument("--out", required=True)
  _add_sweep_args(f)
  f.set_defaults(func=cmd_figure)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    return args.func(args)
  except errors.FcjaxError as e:
    _say(f"fcjax: error: {e}")
    return 2
  except FileNotFoundError as e:
    _say(f"fcjax: error: {e.filename or e}: no such file")
    return 2
  except KeyboardInterrupt:
    _say("fcjax: interrupted; rerun the same command to resume")
    return 130


if __name__ == "__main__":
  sys.exit(main())
