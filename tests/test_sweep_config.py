"""Tests of fcjax.sweep.config: the settings, their validation, recipes and presets (defined only there), and which
fields the compiled program depends on (fcjax.sweep.program derives its static key from the config)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fcjax import errors, models, sweep
from fcjax.sweep import program


def test_config_defaults_follow_the_paper():
  c = sweep.SweepConfig()
  assert (c.readout, c.n_angles, c.n_seeds, c.p, c.floor) == ("neuron", 60, 5, 4, None)
  assert (c.param, c.optimizer, c.learning_rate) == ("maco", "nadam", 1.0)
  assert (c.canvas_size, c.input_size, c.steps, c.relu, c.redirect_steps) == (128, 224, 512, "redirected", 16)
  # angles in the half-axes space: the paper's 60 evenly spaced plus the four quadrant diagonals it misses
  even = np.linspace(0, 2 * np.pi, 60, endpoint=False)
  diag = np.pi / 4 + np.pi / 2 * np.arange(4)
  assert c.angle_space == "half-axes" and len(c.thetas) == 64
  np.testing.assert_allclose(c.thetas, np.sort(np.concatenate([even, diag])))
  np.testing.assert_allclose(c.replace(angle_space="paper").thetas, even)
  np.testing.assert_allclose(c.replace(n_angles=24).thetas, np.linspace(0, 2 * np.pi, 24, endpoint=False))
  assert c.thetas.max() < 2 * np.pi
  assert (c.warmup_floor, c.warmup_fraction, c.refine_rounds, c.refine_tolerance) == (0.1, 0.5, 3, 0.05)
  assert c.refine_steps_or_default == 128
  lucid = sweep.SweepConfig.lucid()
  assert (lucid.param, lucid.transforms, lucid.optimizer, lucid.learning_rate) == ("fft", "standard", "adam", 0.05)
  s = sweep.SweepConfig.smoke()
  assert s.n_angles * s.n_seeds * s.steps < c.n_angles * c.n_seeds * c.steps / 100
  assert sweep.SweepConfig(steps=100, block_steps=32).n_blocks == 4


def test_config_round_trips_and_replaces():
  c = sweep.SweepConfig(readout=(3, 4), floor=0.1, p=2.5, chunk_size=7)
  d = json.loads(json.dumps(c.to_dict()))  # JSON-able
  assert sweep.SweepConfig.from_dict(d) == c
  assert sweep.SweepConfig(**d) == c  # what SweepResult.config promises
  assert sweep.SweepConfig(readout="3,4") == sweep.SweepConfig(readout=(3, 4))
  assert c.replace(n_angles=5).n_angles == 5 and c.n_angles == 60
  assert sweep.SweepConfig(p=4.0).p == 4 and isinstance(sweep.SweepConfig(p=4.0).p, int)
  with pytest.raises(errors.FcjaxError, match="no field"):
    c.replace(n_angle=5)
  with pytest.raises(errors.FcjaxError, match="unknown SweepConfig field"):
    sweep.SweepConfig.from_dict({**d, "colour": 1})
  with pytest.raises(dataclasses.FrozenInstanceError):
    c.n_angles = 3  # type: ignore[misc]


@pytest.mark.parametrize("changes, match", [
    (dict(n_angles=0), "n_angles"), (dict(n_seeds=0), "n_seeds"), (dict(p=3), "even integer"),
    (dict(angle_space="polar"), "angle_space"), (dict(warmup_fraction=1.5), "warmup_fraction"),
    (dict(warmup_floor=1.0), "floor"), (dict(refine_rounds=-1), "refine_rounds"), (dict(refine_steps=0), "refine_steps"),
    (dict(refine_tolerance=1.0), "refine_tolerance"), (dict(redirect_steps=-1), "redirect_steps"),
    (dict(p=2.5), "even integer"), (dict(p=-2, floor=0.1), ">= 0"), (dict(floor=1.5), "floor"),
    (dict(chunk_size=0), "chunk_size"), (dict(steps=0), "steps"), (dict(block_steps=-1), "block_steps"),
    (dict(param="jpeg"), "param"), (dict(transforms="all"), "transforms"), (dict(optimizer="lbfgs"), "optimizer"),
    (dict(learning_rate=0.0), "learning_rate"), (dict(relu="gelu"), "relu"), (dict(dtype="float16"), "dtype"),
    (dict(readout="center"), "readout"), (dict(readout="a,b"), "readout"), (dict(crop_fraction=(0.5, 0.2)), "crop"),
    (dict(seed=-1), "seed"), (dict(redirect_steps=-1), "redirect_steps"), (dict(n_crops=0), "n_crops"),
])
def test_config_refuses_invalid_values(changes, match):
  with pytest.raises(errors.FcjaxError, match=match):
    sweep.SweepConfig(**changes)


def test_unset_recipe_fields_follow_the_parameterization():
  """Transforms, optimiser and learning rate default to each parameterization's reference recipe, also on replace."""
  maco = sweep.SweepConfig()
  assert (maco.transforms, maco.optimizer, maco.learning_rate) == ("maco", "nadam", 1.0)
  fft = maco.replace(param="fft")
  assert (fft.transforms, fft.optimizer, fft.learning_rate) == ("standard", "adam", 0.05)
  assert fft == sweep.SweepConfig(param="fft") == sweep.SweepConfig.lucid()
  assert fft.replace(param="maco") == maco
  # what the user set explicitly stays
  custom = maco.replace(param="fft", learning_rate=0.1)
  assert (custom.optimizer, custom.learning_rate) == ("adam", 0.1)
  assert sweep.SweepConfig(learning_rate=0.3).replace(param="fft").learning_rate == 0.3


def test_named_recipes_and_presets_are_the_reference_recipes():
  base = sweep.SweepConfig(n_angles=7)
  lucid = base.with_recipe("lucid")
  assert (lucid.param, lucid.transforms, lucid.optimizer, lucid.learning_rate) == ("fft", "standard", "adam", 0.05)
  assert lucid == sweep.SweepConfig.lucid(n_angles=7) and lucid.n_angles == 7
  maco = lucid.replace(learning_rate=0.3).with_recipe("maco")  # the recipe's own settings replace earlier ones
  assert (maco.param, maco.transforms, maco.optimizer, maco.learning_rate) == ("maco", "maco", "nadam", 1.0)
  with pytest.raises(errors.FcjaxError, match="unknown recipe"):
    base.with_recipe("horama")
  assert sweep.SweepConfig.smoke() == sweep.SweepConfig(**sweep.PRESETS["smoke"])


def test_for_model_defaults():
  """The paper's settings for InceptionV1, the demo model's own sizes and recipe (its Defaults), a registered model's
  own defaults without touching the pipeline, the model's own input size (and a canvas no larger) for a model with
  smaller inputs, smoke on request."""
  def other(input_size, defaults=models.Defaults()):
    return models.from_apply("other", lambda *a, **k: {}, (models.Layer("x", 4),), input_size=input_size,
                             defaults=defaults)

  assert sweep.SweepConfig.for_model(models.get("inceptionv1")) == sweep.SweepConfig()
  demo = sweep.SweepConfig.for_model(models.get("demo"))
  assert demo == sweep.SweepConfig(**models.get("demo").defaults.sweep).with_recipe("lucid")
  assert (demo.n_angles, demo.n_seeds, demo.steps, demo.param) == (24, 3, 128, "fft")
  small = sweep.SweepConfig.for_model(other(96))
  assert (small.input_size, small.canvas_size) == (96, 96)
  assert sweep.SweepConfig.for_model(other(300)).input_size == 224
  own = sweep.SweepConfig.for_model(other(224, models.Defaults(sweep=dict(n_angles=12), recipe="lucid")))
  assert own == sweep.SweepConfig(n_angles=12).with_recipe("lucid")
  smoke = sweep.SweepConfig.for_model(models.get("inceptionv1"), smoke=True, recipe="lucid")
  assert smoke == sweep.SweepConfig.smoke().with_recipe("lucid")


def test_program_key_ignores_exactly_the_traced_and_shape_fields():
  fn = lambda params, images: images[:, 0, 0, :]  # noqa: E731
  cfg = sweep.SweepConfig.smoke()
  key = program.Spec.of(fn, None, cfg)
  same = dict(seed=3, learning_rate=0.2, redirect_steps=2, steps=40, n_angles=5, n_directions=9, n_seeds=4,
              chunk_size=3, angle_space="paper", warmup_fraction=0.25, refine_rounds=1, refine_steps=7, refine_tolerance=0.1)
  assert set(same) == set(sweep.PROGRAM_INDEPENDENT)
  assert program.Spec.of(fn, None, cfg.replace(**same)) == key
  assert hash(program.Spec.of(fn, None, cfg.replace(**same))) == hash(key)
  for change in (dict(p=2), dict(floor=0.1), dict(canvas_size=32), dict(param="fft"), dict(relu="plain"),
                 dict(block_steps=4), dict(n_crops=2), dict(readout="channel"), dict(transparency=True),
                 dict(warmup_floor=None)):
    assert program.Spec.of(fn, None, cfg.replace(**change)) != key, change
  # what the program reads from its key: block steps capped at the step count
  assert program.Spec.of(fn, None, cfg.replace(steps=3)).cfg.block_steps == 3
  assert program.Spec.of(lambda p, x: x, None, cfg) != key  # another feature source
