"""The library side of issue 17: the same checks as the command line's, through the Python API, with one-line
:class:`fcjax.errors.FcjaxError` messages (the CLI cases are ``tests/test_bad_inputs.py``).

Covers ``SweepConfig`` (fields, types, sizes, typos), the inputs of :mod:`fcjax.experiment` (weights keywords,
``--config`` files, spectra, ``n`` against the dataset), the output-path check, the closest-name helpers, the
dataset specs, the decode pipeline (bad arguments are errors; only a bad file is a skipped image) and the help
texts of the keywords that could be file names. Nothing here runs a model; the whole module takes seconds.
"""

from __future__ import annotations

import json

import pytest

from bad_inputs_cases_run import raises_one_line as _raises_one_line
from fcjax import cli, errors, experiment




# --------------------------------------------------------------------------------------------------------------
# issue 17 item 4: keywords that could be file names
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["stats"], ["sweep"], ["figure"], ["weights", "verify"]])
def test_weights_help_says_how_to_pass_a_file_named_like_a_keyword(argv, capsys):
  with pytest.raises(SystemExit) as info:
    cli.main(argv + ["--help"])
  assert info.value.code == 0
  help_text = " ".join(capsys.readouterr().out.split())
  assert "./random" in help_text and "./default" in help_text


@pytest.mark.parametrize("weights, needle, kind", [
    ("random:abc", "random:abc", errors.UsageError), ("random:-1", "2**32", errors.UsageError),
    ("random:4294967296", "2**32", errors.UsageError), ("random:", "SEED", errors.UsageError), ("randm", "did you mean 'random'", errors.WeightsError),
    ("defualt", "did you mean 'default'", errors.WeightsError), ("randomx", "'random'", errors.WeightsError)])
def test_load_model_checks_weights_keywords(weights, needle, kind, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  _raises_one_line(lambda: experiment.load_model("demo", weights), needle, kind=kind)


def test_load_model_random_seed_is_used(tmp_path, monkeypatch):
  from fcjax import _io
  monkeypatch.chdir(tmp_path)
  said = []
  _, p1, label = experiment.load_model("demo", "random:5", say=said.append)
  a, b, c = (_io.tree_digest(p) for p in (p1, experiment.load_model("demo", "random:5")[1],
                                            experiment.load_model("demo", "random")[1]))
  assert label == "random:5" and any("RANDOM-INIT" in s for s in said) and not any("warning" in s for s in said)
  assert a == b != c


def test_sweep_config_checks_config_file_and_spectrum(tmp_path):
  import numpy as np
  from fcjax import models
  model = models.get("demo")
  (tmp_path / "list.json").write_text("[1, 2]")
  _raises_one_line(lambda: experiment.sweep_config(model, config_file=str(tmp_path / "list.json")), "list.json",
                   "JSON object", kind=errors.UsageError)
  (tmp_path / "ok.json").write_text(json.dumps({"steps": 3}))
  assert experiment.sweep_config(model, smoke=True, config_file=str(tmp_path / "ok.json")).steps == 3
  np.save(tmp_path / "shape.npy", np.zeros((2, 3), np.float32))
  for name in ("nope.npy", "shape.npy"):
    _raises_one_line(lambda: experiment.sweep_config(model, overrides={"param": "maco", "spectrum": str(
        tmp_path / name)}), name)


def test_sweep_config_layers_defaults_recipe_file_overrides_then_sets(tmp_path):
  """One path to the settings: each layer replaces the fields of the one before; a --set string is read as JSON."""
  from fcjax import models, sweep
  model = models.get("inceptionv1")
  (tmp_path / "c.json").write_text(json.dumps({"steps": 3, "n_angles": 6, "seed": 1}))
  cfg = experiment.sweep_config(model, smoke=True, recipe="lucid", config_file=str(tmp_path / "c.json"),
                                overrides={"n_angles": 12, "n_seeds": 4}, sets=["n_seeds=2", "readout=channel"])
  want = sweep.SweepConfig.smoke().with_recipe("lucid").replace(steps=3, n_angles=12, n_seeds=2, seed=1,
                                                                readout="channel")
  assert cfg == want
  assert experiment.sweep_config(model, sets=["warmup_floor=null"]).warmup_floor is None
  _raises_one_line(lambda: experiment.sweep_config(model, sets=["steps"]), "--set expects KEY=VALUE", "'steps'")
  _raises_one_line(lambda: experiment.sweep_config(model, sets=["stepz=3"]), "stepz", "steps")


def test_open_source_checks_n_against_the_dataset():
  assert len(experiment.open_source("procedural:8", n=8)) == 8
  assert len(experiment.open_source("procedural:8", n=64, cap_n=True)) == 8  # --smoke's default: at most 64
  _raises_one_line(lambda: experiment.open_source("procedural:8", n=9), "--n 9", "only 8", "--n 8",
                   kind=errors.UsageError)


# --------------------------------------------------------------------------------------------------------------
# SweepConfig
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, needle", [
    ({"steps": 0}, "steps"), ({"steps": "many"}, "steps"), ({"steps": float("nan")}, "steps"),
    ({"n_seeds": -1}, "n_seeds"), ({"seed": -1}, "seed"), ({"seed": 2 ** 40}, "seed"),
    ({"learning_rate": float("nan")}, "learning_rate"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"readout": "nueron"}, "neuron"), ({"param": "mac0"}, "maco"), ({"crop_fraction": (0.9, 0.1)}, "crop_fraction"),
    ({"readout": "1,x"}, "readout"), ({"dtype": "float64"}, "dtype"),
    ({"canvas_size": 10 ** 6}, "canvas_size"), ({"input_size": 5000}, "4096"),
])
def test_api_sweep_config_rejects(fields, needle):
  from fcjax import sweep
  _raises_one_line(lambda: sweep.SweepConfig(**fields), needle)


@pytest.mark.parametrize("data, needles", [
    pytest.param({"stepz": 3}, ("unknown SweepConfig field 'stepz'; did you mean 'steps'",), id="unknown-field"),
    pytest.param([1, 2], ("list",), id="not-a-mapping"),
    pytest.param({"steps": True}, ("steps",), id="bool-for-int"),
])
def test_api_sweep_config_from_dict(data, needles):
  from fcjax import sweep
  _raises_one_line(lambda: sweep.SweepConfig.from_dict(data), *needles)


def test_api_replace_names_the_closest_field():
  from fcjax import sweep
  _raises_one_line(lambda: sweep.SweepConfig.smoke().replace(stepz=3), "did you mean 'steps'")


def test_closest_helpers():
  assert errors.did_you_mean("stepz", ["steps", "seed", "p"]) == "; did you mean 'steps'?"
  assert errors.did_you_mean("zzz", ["steps", "seed"]) == ""
  assert errors.closest("conv4_pre_rel", ["conv4_pre_relu", "conv3_pre_relu", "pool1"])[0] == "conv4_pre_relu"
  assert errors.one_line("a\n  b  c\n", 10) == "a b c"
  assert errors.one_line("x" * 50, 10) == "xxxxxxx..."


def test_check_output_path(tmp_path):
  """The --out validator: wrong kinds, a file in the way, an unwritable place; nothing is created."""
  from fcjax import _io
  f = tmp_path / "f.txt"
  f.write_text("x")
  ok = tmp_path / "new" / "deeper" / "out"
  assert _io.check_output_path(ok, "dir") == ok and _io.check_output_path(ok, "file") == ok
  assert _io.check_output_path(tmp_path, "dir") == tmp_path
  assert _io.check_output_path(f, "file", overwrite=True) == f
  assert _io.check_output_path(f, "file", overwrite=lambda p: p.read_text() == "x") == f
  for path, kind, needle in [(f, "dir", "existing file"), (tmp_path, "file", "is a folder"),
                             (f, "file", "already exists"), (f / "sub" / "x", "dir", "is a file"),
                             (f / "x", "file", "is a file"), ("/sys/fcjax-readonly/x", "dir", "not a writable"),
                             ("/proc/fcjax-nonexistent/x", "file", "not a writable")]:
    _raises_one_line(lambda: _io.check_output_path(path, kind), needle, str(path), kind=errors.OutputPathError)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no probe file or folder left behind
  with pytest.raises(ValueError):  # a caller's mistake is a bug, not bad input
    _io.check_output_path(f, "folder")


def test_data_spec_typos_offer_the_closest_kind(sample_images_dir):
  from fcjax import data
  photos = sample_images_dir
  _raises_one_line(lambda: data.from_spec(f"foldr:{photos}"), f"did you mean 'folder:{photos}'",
                   kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec("procedurl:8"), "did you mean 'procedural:8'", kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec(str(photos)), f"folder:{photos}", kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec("folder"), "needs a value", kind=errors.DatasetError)


# --------------------------------------------------------------------------------------------------------------
# the decode pipeline: bad arguments are DatasetErrors; only a bad *file* is a skipped image
# --------------------------------------------------------------------------------------------------------------
def _records(load):
  from fcjax.data import pipeline
  return [pipeline.Record(0, load, "r0")]


@pytest.mark.parametrize("batch_size, size, needle", [(0, 8, "batch_size"), (-1, 8, "batch_size"),
                                                      (2.5, 8, "batch_size"), (2, 0, "size"), (2, -8, "size")])
def test_decode_batches_rejects_bad_arguments(batch_size, size, needle):
  from fcjax.data import pipeline
  _raises_one_line(lambda: next(pipeline.decode_batches(_records(lambda: (b"", 0)), batch_size, size)), needle,
                   kind=errors.DatasetError)


def test_decode_batches_skips_a_corrupt_file_but_not_a_bug(sample_images_dir):
  from fcjax.data import pipeline, preprocess
  skipped = []
  good = sorted((sample_images_dir / "train").glob("*/*.JPEG"))[0].read_bytes()
  recs = [pipeline.Record(0, lambda: (b"not an image", 0), "bad"), pipeline.Record(1, lambda: (good, 1), "good")]
  (batch,) = pipeline.decode_batches(recs, 2, 8, on_skip=lambda r, e: skipped.append(r.name))
  assert skipped == ["bad"] and batch["index"].tolist() == [1]

  def out_of_memory():
    raise MemoryError

  with pytest.raises(MemoryError):
    list(pipeline.decode_batches(_records(out_of_memory), 1, 8))

  def broken_preprocess(data, size, draft=True):
    raise TypeError("a bug in preprocessing")

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(preprocess, "load_image", broken_preprocess)
    with pytest.raises(TypeError, match="a bug in preprocessing"):
      list(pipeline.decode_batches(_records(lambda: (good, 0)), 1, 8))
