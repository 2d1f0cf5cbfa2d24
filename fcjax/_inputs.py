"""What a run starts from, checked where it enters: the model and its weights, the sweep settings, the dataset.

Re-exported by :mod:`fcjax.experiment` (the API); kept apart so that the pipeline module stays short. Every check
raises an :class:`fcjax.errors.FcjaxError` subclass whose one line names the argument, the value and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
from typing import Any, Callable, Mapping, Sequence

from fcjax import errors

WEIGHT_KEYWORDS = ("default", "random")  # --weights words that are not paths ('random' also as 'random:SEED')

log = logging.getLogger("fcjax.experiment")
Say = Callable[[str], None]


def _say_default(msg: str) -> None:
  log.info(msg)


def _random_seed(weights: str) -> int | None:
  """The seed of a 'random[:SEED]' weights string, or None when ``weights`` is not that keyword."""
  if weights != "random" and not weights.startswith("random:"):
    return None
  text = weights.partition(":")[2] if ":" in weights else "0"
  try:
    seed = int(text)
  except ValueError:
    seed = -1
  if not 0 <= seed < 2 ** 32:
    raise errors.UsageError(f"--weights {weights!r}: SEED must be an integer in [0, 2**32), e.g. random:0")
  return seed


def _check_weights_word(weights: str, say: Say) -> None:
  """A keyword that is also a file name here gets a warning; a near-miss of a keyword that is no path, an error."""
  word = weights.split(":")[0]
  if word in WEIGHT_KEYWORDS:
    if os.path.exists(word):
      meaning = "the download cache" if word == "default" else "random-init weights"
      say(f"fcjax: warning: --weights {weights} means {meaning}; a file named {word} exists here: to use it, pass "
          f"./{word}")
  elif not os.path.exists(weights):
    hint = errors.did_you_mean(word, WEIGHT_KEYWORDS)
    if hint:
      raise errors.WeightsError(f"--weights {weights!r} is neither an existing file nor a keyword{hint}")


def load_model(model_name: str, weights: str | None, *, say: Say = _say_default):
  """``(Model, params, weights label)``. ``weights``: a path (.pth, .pb, converted checkpoint), 'default' (the
  cache), 'random[:SEED]' (random init, clearly labelled, SEED in [0, 2**32)), or None (the model's default:
  ``model.defaults.weights`` names the weights a model ships, as the demo does; else the download cache). A file named like a keyword is passed with a path (``./random``); when one exists
  beside the keyword's use, ``say`` warns."""
  import jax
  from fcjax import models, weights as weights_lib
  model = models.get(model_name)
  if weights:
    _check_weights_word(weights, say)
  seed = _random_seed(weights) if weights else None
  if seed is not None:
    say(f"fcjax: using RANDOM-INIT weights for {model.name} (seed {seed}): results say nothing about a trained model")
    return model, model.init_params(jax.random.key(seed)), f"random:{seed}"
  if model.defaults.weights:  # the model ships its weights: load_params(None) loads them
    return model, model.load_params(weights), weights or model.defaults.weights
  try:
    path = weights_lib.resolve(weights or "default")
  except errors.WeightsError as e:
    if weights:
      raise
    raise errors.WeightsError(f"{e}; or try the embedded offline model: --model demo") from None
  return model, model.load_params(str(path)), str(path)


def sweep_config(model, *, smoke: bool = False, recipe: str | None = None, config_file: str | None = None,
                 overrides: Mapping[str, Any] | None = None, sets: Sequence[str] | None = None):
  """The SweepConfig of a run: the one path from a model and the user's choices to the settings, used by every
  command of the CLI (``--smoke``, ``--recipe``, ``--config``, ``--set``) and by the atlas. Each layer replaces
  fields of the one before:

  1. the model's defaults (:meth:`SweepConfig.for_model`: the paper's with the model's own sizes), or the smoke
     preset (``smoke``: ``fcjax.sweep.PRESETS['smoke']``);
  2. ``recipe`` (a name of ``fcjax.sweep.RECIPE_PARAMS``), else the model's own;
  3. the fields of the JSON file ``config_file``;
  4. ``overrides``, a mapping of fields (the atlas's ``SCREEN_PROTOCOL``);
  5. ``sets``, ``KEY=VALUE`` strings (``--set``; VALUE is read as JSON when it is JSON, else kept as a string).
  """
  from fcjax import sweep as sweep_lib
  cfg = sweep_lib.SweepConfig.for_model(model, smoke=smoke, recipe=recipe)
  if config_file:
    try:
      data = json.loads(pathlib.Path(config_file).read_text())
    except (OSError, ValueError) as e:
      raise errors.FcjaxError(f"cannot read config file {config_file}: {e}") from None
    if not isinstance(data, dict):
      raise errors.UsageError(f"--config {config_file} must hold a JSON object of SweepConfig fields, got a "
                              f"{type(data).__name__}")
    cfg = cfg.replace(**data)
  changes = {**(overrides or {}), **_parse_sets(sets)}  # one replace: a --set of a protocol field wins
  if changes:
    cfg = cfg.replace(**changes)
  if cfg.spectrum is not None:  # the file is read here, at the boundary (a result's config may name another machine's)
    from fcjax import spectrum
    spectrum.load(cfg.spectrum)
  return cfg


def _parse_sets(items: Sequence[str] | None) -> dict:
  """``KEY=VALUE`` strings as a dict (VALUE parsed as JSON when it is JSON, else kept as a string)."""
  out = {}
  for item in items or []:
    if "=" not in item:
      raise errors.FcjaxError(f"--set expects KEY=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    try:
      out[key] = json.loads(value)
    except ValueError:
      out[key] = value
  return out


def warn_post_relu(model, layer: str, *, say: Say = _say_default) -> None:
  """Say so when ``layer`` is post-ReLU and the model has its pre-ReLU tensor (the paper's units)."""
  info = model.layer(layer)
  if not info.pre_relu and info.pre_relu_name:
    say(f"fcjax: warning: {info.name} is a post-ReLU tensor; the paper's units are pre-ReLU "
        f"(negative values visible): consider --layer {info.pre_relu_name}")


def open_source(dataset: str, *, n: int | None = None, cap_n: bool = False, data_dir: str | None = None,
                backend: str = "auto"):
  """The image source of ``dataset`` (:func:`fcjax.data.from_spec`), checked to hold ``n`` images unless ``cap_n``
  (``n`` is then only an upper bound, as --smoke's default)."""
  from fcjax import data
  source = data.from_spec(dataset, data_dir=data_dir, backend=backend)
  if n is not None and not cap_n and n > len(source):
    raise errors.UsageError(f"--n {n} but {getattr(source, 'name', dataset)} has only {len(source)} images; use "
                            f"--n {len(source)} or omit --n for all")
  return source
