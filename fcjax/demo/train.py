"""Train the demo model on procedural images and write its weights and training record.

    python -m fcjax.demo.train                       # the shipped weights: ~4.5 CPU-minutes (2-3 min on 2 cores)
    python -m fcjax.demo.train --steps 5 --out /tmp/demo   # a smoke run

Writes ``<out>/demo_weights.npz`` (see :func:`fcjax.models.demo_cnn.save_params`) and ``<out>/train_record.json``: the
config, the final held-out accuracy on a freshly generated stream (``eval_seed``, disjoint from ``data_seed``), the
parameter count, the weights' SHA-256, library versions, date and command. ``--out`` defaults to the package's
assets folder, i.e. it replaces the shipped weights.

The task is 11-way classification of :mod:`fcjax.data.procedural` images (4 grating orientations, 3 blob colours,
edges, 3 shapes). Orthogonal grating orientations are separate classes, so the network learns units that respond to
one orientation and are pushed down by the other (anti-correlated pairs, the paper's impossibility motif), while
colour and form vary independently (pairs that combine freely).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import pathlib
import platform
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fcjax._version import __version__
from fcjax.data.procedural import LABEL_NAMES, ProceduralSource
from fcjax.models import demo_cnn as demo_model

WEIGHTS_NAME = "demo_weights.npz"
RECORD_NAME = "train_record.json"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training hyperparameters (the defaults made the shipped weights)."""

  steps: int = 800  # optimizer steps; each sees a fresh batch (the stream never repeats)
  batch_size: int = 64
  size: int = demo_model.INPUT_SIZE  # training image size in pixels
  learning_rate: float = 3e-3  # peak of a linear-warmup, cosine-decay schedule (AdamW)
  warmup_steps: int = 50
  weight_decay: float = 1e-4
  init_seed: int = 0  # PRNG key of init_params
  data_seed: int = 0  # procedural stream of the training images
  eval_seed: int = 1  # procedural stream of the held-out images (a different seed: never seen in training)
  eval_images: int = 1024
  log_every: int = 100  # steps between progress lines (main only)


def _loss(params, images, labels):
  logits = demo_model.apply(params, images, ("logits",))["logits"]
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  return loss, jnp.mean(jnp.argmax(logits, -1) == labels)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  """AdamW under a warmup-cosine schedule."""
  warmup = min(config.warmup_steps, config.steps // 2)  # short smoke runs still get a (shorter) warmup and decay
  schedule = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup, max(config.steps, warmup + 1))
  return optax.adamw(schedule, weight_decay=config.weight_decay)


def train(config: TrainConfig, *, log: Callable[[str], None] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
  """Train from ``init_params(PRNGKey(init_seed))`` on the procedural stream ``data_seed``.

  Images are generated on the host while the previous step runs (JAX dispatch is asynchronous), so the step loss is
  only read back every ``log_every`` steps.

  Returns:
    (params, history) with history {'loss': float32 [steps], 'accuracy': float32 [steps]} (training batches).
  """
  optimizer = make_optimizer(config)

  @jax.jit
  def step(params, opt_state, images, labels):
    (loss, acc), grads = jax.value_and_grad(_loss, has_aux=True)(params, images, labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, acc

  params = demo_model.init_params(jax.random.PRNGKey(config.init_seed))
  opt_state = optimizer.init(params)
  source = ProceduralSource(config.steps * config.batch_size, config.data_seed)
  losses, accs = [], []
  for i, batch in enumerate(source.batches(config.batch_size, config.size)):
    params, opt_state, loss, acc = step(params, opt_state, batch["images"], batch["labels"])
    losses.append(loss)
    accs.append(acc)
    if log is not None and ((i + 1) % config.log_every == 0 or i + 1 == config.steps):
      window = slice(max(0, i + 1 - config.log_every), i + 1)
      log(f"step {i + 1}/{config.steps}: loss {np.mean(jax.device_get(losses[window])):.4f}, "
          f"batch accuracy {np.mean(jax.device_get(accs[window])):.3f}")
  history = {"loss": np.asarray(jax.device_get(losses), np.float32),
             "accuracy": np.asarray(jax.device_get(accs), np.float32)}
  return params, history


def predict(params, source: ProceduralSource, size: int = demo_model.INPUT_SIZE,
            batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
  """(predicted labels int32 [n], true labels int32 [n]) of the demo model over every image of ``source``."""
  forward = jax.jit(lambda p, x: jnp.argmax(demo_model.apply(p, x, ("logits",))["logits"], -1))
  preds, labels = [], []
  for batch in source.batches(batch_size, size):
    preds.append(np.asarray(forward(params, batch["images"])))
    labels.append(batch["labels"])
  return np.concatenate(preds).astype(np.int32), np.concatenate(labels)


def evaluate(params, config: TrainConfig) -> dict[str, Any]:
  """Held-out accuracy on ``eval_images`` fresh images of stream ``eval_seed``: overall and per class."""
  preds, labels = predict(params, ProceduralSource(config.eval_images, config.eval_seed), config.size)
  per_class = {name: float(np.mean(preds[labels == k] == k)) if np.any(labels == k) else None
               for k, name in enumerate(LABEL_NAMES)}
  return {"accuracy": float(np.mean(preds == labels)), "per_class_accuracy": per_class}


def _parse(argv: Sequence[str] | None) -> tuple[TrainConfig, pathlib.Path]:
  defaults = TrainConfig()
  parser = argparse.ArgumentParser(prog="python -m fcjax.demo.train", description=__doc__.split("\n\n")[0])
  for field in dataclasses.fields(TrainConfig):
    default = getattr(defaults, field.name)
    parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(default), default=default)
  parser.add_argument("--out", type=pathlib.Path, default=demo_model.ASSETS,
                      help="output folder (default: the package's assets, i.e. replace the shipped weights)")
  args = vars(parser.parse_args(argv))
  out = args.pop("out")
  return TrainConfig(**args), out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Train, evaluate, write ``<out>/demo_weights.npz`` and ``<out>/train_record.json``; return the record."""
  config, out = _parse(argv)
  log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
  t0, cpu0 = time.perf_counter(), time.process_time()
  params, history = train(config, log=log)
  train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
  metrics = evaluate(params, config)
  log(f"held-out accuracy {metrics['accuracy']:.4f} on {config.eval_images} images of stream {config.eval_seed}")

  out.mkdir(parents=True, exist_ok=True)
  weights = out / WEIGHTS_NAME
  demo_model.save_params(params, weights)
  tail = history["loss"][-min(config.log_every, len(history["loss"])):]
  record = {
      "model": "demo",
      "config": dataclasses.asdict(config),
      "held_out_accuracy": metrics["accuracy"],
      "per_class_accuracy": metrics["per_class_accuracy"],
      "eval": {"source": f"procedural:{config.eval_images}:seed{config.eval_seed}", "images": config.eval_images,
               "seed": config.eval_seed, "size": config.size},
      "data_seed": config.data_seed,
      "label_names": list(LABEL_NAMES),
      "first_loss": float(history["loss"][0]) if len(history["loss"]) else None,
      "final_train_loss": float(np.mean(tail)) if len(tail) else None,
      "param_count": demo_model.param_count(params),
      "weights_file": WEIGHTS_NAME,
      "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
      "train_seconds": round(train_s, 1),  # wall clock, on a machine that may have been shared
      "train_cpu_seconds": round(train_cpu_s, 1),  # summed over this process's threads
      "versions": {"fcjax": __version__, "jax": jax.__version__, "optax": optax.__version__,
                   "numpy": np.__version__, "python": platform.python_version()},
      "device": f"{jax.default_backend()}: {jax.devices()[0].device_kind}",
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "command": "python -m fcjax.demo.train" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
  }
  (out / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
  log(f"wrote {weights} ({weights.stat().st_size} bytes) and {out / RECORD_NAME} in {time.perf_counter() - t0:.0f} s")
  return record


if __name__ == "__main__":
  main()
