"""Throughput of the statistics pipeline: is decoding or the model the limit?

Three rates, in images per second, on the same photos (``imagenet-sample-256``), InceptionV1 with random weights:

* ``decode``: the image source alone (read + PIL decode + resize + crop in the thread pool), no model;
* ``forward``: the jitted forward pass + readout of the statistics (``fcjax.stats``'s own compiled function) on
  images decoded beforehand and held in memory, i.e. the model alone;
* ``pipeline``: ``fcjax.stats.compute`` end to end (decode + preprocess + forward + float64 host statistics), with
  the compile done beforehand.

Reported as ratios to ``forward``: ``pipeline_over_forward`` near 1 means the model is the limit; well below 1 (and
``decode_over_forward`` below 1) means decoding is. The two bounds say what perfect overlap of decoding and model
(the slower of the two) and no overlap at all (one after the other, as when both share two CPU cores) would give;
the pipeline also pays fixed per-call costs (weights digest, shape inference: about 0.5 s). Compile time is measured
separately and never counted.

Command::

    python -m benchmarks.bench_stats --quick     # 256 images at 64 px, conv2d2_pre_relu (about a minute on 2 cores)
    python -m benchmarks.bench_stats             # 1000 images at 224 px, conv2d2_pre_relu and mixed4a
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import numpy as np

import fcjax.data
from fcjax import stats
from fcjax.stats import forward as stats_forward
from fcjax.models import inception_v1

SHARED = pathlib.Path(os.environ.get("FCJAX_SHARED", pathlib.Path(__file__).resolve().parents[2] / "shared"))
PHOTOS = SHARED / "data" / "imagenet-sample-256"


def _settings(quick: bool) -> dict:
  if quick:
    return {"n_images": 256, "input_size": 64, "batch_size": 64, "layers": ["conv2d2_pre_relu"]}
  return {"n_images": 1000, "input_size": 224, "batch_size": 64, "layers": ["conv2d2_pre_relu", "mixed4a"]}


def run(quick: bool) -> dict:
  """Measure the three rates (see the module docstring); returns a JSON-able dict of numbers and settings."""
  s = _settings(quick)
  n, size, bs, layers = s["n_images"], s["input_size"], s["batch_size"], tuple(s["layers"])
  model = inception_v1.MODEL
  params = model.init_params(jax.random.PRNGKey(0))
  source = fcjax.data.folder(PHOTOS)

  # decode only
  t0 = time.perf_counter()
  held, count = [], 0
  for batch in source.batches(bs, size):
    take = min(len(batch["index"]), n - count)
    held.append(batch["images"][:take])
    count += take
    if count >= n:
      break
  decode_s = time.perf_counter() - t0

  # forward only, on the held images (padded to the compiled batch shape like stats.compute does)
  forward = stats_forward._forward(model, layers, "neuron", np.float32)  # noqa: SLF001 - the exact function stats runs
  put_params, put_images, n_dev = stats_forward._placement(None, bs)  # noqa: SLF001
  dev_params = put_params(params)
  padded = [np.concatenate([b, np.zeros((bs - len(b),) + b.shape[1:], np.float32)]) for b in held]
  t0 = time.perf_counter()
  jax.block_until_ready(forward(dev_params, put_images(padded[0])))
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  outs = [forward(dev_params, put_images(b)) for b in padded]
  jax.block_until_ready(outs)
  forward_s = time.perf_counter() - t0

  # the whole pipeline (the compiled forward is cached from above)
  t0 = time.perf_counter()
  res = stats.compute(model, params, source, layers, readout="neuron", input_size=size, batch_size=bs, max_images=n)
  pipeline_s = time.perf_counter() - t0

  rates = {"decode": n / decode_s, "forward": n / forward_s, "pipeline": n / pipeline_s}
  return {
      "name": "stats_throughput",
      "command": "python -m benchmarks.bench_stats" + (" --quick" if quick else ""),
      "settings": dict(s, workers=fcjax.data.pipeline.default_workers(), devices=n_dev),
      "device": f"{jax.devices()[0].platform} x{n_dev} ({jax.devices()[0].device_kind}); {os.cpu_count()} CPU cores; "
                f"{platform.processor() or platform.machine()}",
      "images": res.meta["count"],
      "decode_images_per_s": round(rates["decode"], 1),
      "forward_images_per_s": round(rates["forward"], 1),
      "pipeline_images_per_s": round(rates["pipeline"], 1),
      "pipeline_over_forward": round(rates["pipeline"] / rates["forward"], 3),
      "decode_over_forward": round(rates["decode"] / rates["forward"], 3),
      # what the pipeline would reach with perfect overlap of decode and model (the slower of the two), and with
      # none (one after the other: the case when both compete for the same few CPU cores)
      "overlapped_bound_images_per_s": round(min(rates["decode"], rates["forward"]), 1),
      "serial_bound_images_per_s": round(1 / (1 / rates["decode"] + 1 / rates["forward"]), 1),
      "limit": "decode" if rates["decode"] < rates["forward"] else "model",
      "compile_s": round(compile_s, 2),
  }


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--quick", action="store_true", help="256 images at 64 px instead of 1000 at 224 px")
  args = p.parse_args(argv)
  json.dump(run(args.quick), sys.stdout, indent=2)
  sys.stdout.write("\n")


if __name__ == "__main__":
  main()
