"""Tests of fcjax.experiment: the figure pipeline as a function, and its manifests (no stale results, issue 11).

The pipeline runs the embedded demo model on procedural images at a tiny size (4 angles x 1 seed, 4 steps, one
pick), so that five runs into the same folder take well under a minute once compiled. Reuse is checked three ways:
the action each artefact reports, the files' modification times, and the sweep's compile counter.
"""

from __future__ import annotations

import json

import pytest

from fcjax import _manifest, errors, experiment, models, sweep

LAYER = "conv4_pre_relu"


@pytest.fixture(scope="module")
def demo():
  model = models.get("demo")
  return model, model.load_params(None)


def _config(**changes):
  base = dict(n_angles=4, n_seeds=1, steps=4, block_steps=2, canvas_size=32, input_size=64, param="pixel",
              transforms="none")
  base.update(changes)
  return sweep.SweepConfig(**base)


def _figure(demo, out, *, n=24, config=None, fresh=False):
  model, params = demo
  lines = []
  run = experiment.figure(model, params, dataset="procedural:40", layers=[LAYER], out=out, n=n,
                          config=config or _config(), picks=("lowest",), weights_label="demo:shipped",
                          batch_size=8, formats=("png",), fresh=fresh, progress=False, say=lines.append)
  return run, lines


def _mtimes(out):
  return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*")
          if p.is_file() and "checkpoint" not in p.parts}


def test_manifest_decide_names_what_changed(tmp_path):
  m = _manifest.of_file(tmp_path / "a.npz")
  inputs = {"n": 10, "config": {"steps": 4, "p": 4}, "layers": ("x",)}
  assert _manifest.decide(m, inputs, exists=False) == (False, "not made yet")
  assert _manifest.decide(m, inputs, exists=True) == (False, "no record of the inputs that made it")
  _manifest.record(m, inputs)
  assert m.name == "a.npz.inputs.json" and json.loads(m.read_text())["inputs"]["layers"] == ["x"]
  assert _manifest.decide(m, inputs, exists=True) == (True, "")  # a tuple reads back as the list it was
  assert _manifest.decide(m, inputs, exists=True, fresh=True) == (False, "--fresh")
  d = _manifest.decide(m, {**inputs, "n": 11, "config": {"steps": 8, "p": 4}}, exists=True)
  assert not d.reuse and d.reason == "inputs changed: config.steps: 4 -> 8; n: 10 -> 11"
  m.write_text("{not json")
  assert _manifest.decide(m, inputs, exists=True).reason == "no record of the inputs that made it"


def test_rerun_reuses_only_matching_artefacts_and_fresh_recomputes(demo, tmp_path):
  out = tmp_path / "fig"
  run1, _ = _figure(demo, out)
  assert set(run1.actions.values()) == {"computed"}, run1.actions
  (sweep_dir,) = [k for k in run1.actions if k.startswith("sweeps/")]
  for rel in ("stats.npz", "stats.npz.inputs.json", f"{sweep_dir}/inputs.json", "summary.json",
              "summary.json.inputs.json", "figure.png", "figure.inputs.json", "figure_config.json"):
    assert (out / rel).is_file(), rel
  recorded = _manifest.read(out / sweep_dir / "inputs.json")
  assert recorded["n"] == 24 and recorded["dataset"] == "procedural:40" and recorded["model"] == "demo"
  assert recorded["layer"] == LAYER and recorded["readout"] == "neuron" and recorded["config"]["steps"] == 4
  assert len(recorded["weights_digest"]) == 64

  # the same inputs: everything reused, nothing rewritten, nothing compiled
  before, compiles = _mtimes(out), sweep.cache_info()["compiles"]
  run2, lines = _figure(demo, out)
  assert set(run2.actions.values()) == {"reused"}, run2.actions
  assert sweep.cache_info()["compiles"] == compiles
  after = _mtimes(out)
  changed = {k for k in before if after[k] != before[k]}
  assert changed == {"figure_config.json"}, changed
  assert sum("reusing" in l for l in lines) == 4 and not any("recomputing" in l for l in lines), lines
  assert (json.dumps(run2.summary, default=float, sort_keys=True)  # the reused file holds what the run computed
          == json.dumps(json.loads((out / "summary.json").read_text()), sort_keys=True))

  # another n: the statistics and everything made from them are recomputed, and each says why in one line
  run3, lines = _figure(demo, out, n=32)
  assert run3.actions["stats.npz"] == "recomputed: inputs changed: n: 24 -> 32"
  assert run3.stats.meta["count"] == 32
  for key in ("summary.json", "figure"):
    assert run3.actions[key].startswith("recomputed:")
  assert any(l.startswith("fcjax: recomputing") and "stats.npz" in l and "n: 24 -> 32" in l for l in lines), lines
  assert all(v != "reused" for v in run3.actions.values()), run3.actions
  assert _manifest.read(out / "stats.npz.inputs.json")["n"] == 32

  # another sweep config: the statistics are reused, the sweep recomputed (steps are traced: no new compile)
  compiles = sweep.cache_info()["compiles"]
  run4, lines = _figure(demo, out, n=32, config=_config(steps=6))
  assert run4.actions["stats.npz"] == "reused"
  (sweep_dir,) = [k for k in run4.actions if k.startswith("sweeps/")]
  assert run4.actions[sweep_dir] == "recomputed: inputs changed: config.steps: 4 -> 6"
  assert run4.results[f"{LAYER}/lowest"].config["steps"] == 6
  assert sweep.cache_info()["compiles"] == compiles
  assert _manifest.read(out / sweep_dir / "inputs.json")["config"]["steps"] == 6

  # --fresh: everything again, although the inputs match
  before = _mtimes(out)
  run5, lines = _figure(demo, out, n=32, config=_config(steps=6), fresh=True)
  assert set(run5.actions.values()) == {"recomputed: --fresh"}, run5.actions
  after = _mtimes(out)
  for rel in ("stats.npz", f"{sweep_dir}/result.json", "summary.json", "figure.png"):
    assert after[rel] != before[rel], rel


def test_a_summary_of_another_measures_definition_is_recomputed(demo, tmp_path, monkeypatch):
  """Saved measures made by an older definition (measures.DEFINITION) are stale although the sweeps are not."""
  from fcjax import measures
  out = tmp_path / "fig"
  _figure(demo, out)
  monkeypatch.setattr(measures, "DEFINITION", measures.DEFINITION + 1)
  run, lines = _figure(demo, out)
  (sweep_dir,) = [k for k in run.actions if k.startswith("sweeps/")]
  assert run.actions["stats.npz"] == "reused" and run.actions[sweep_dir] == "reused"
  assert run.actions["summary.json"].startswith("recomputed: inputs changed: measures:"), run.actions
  assert _manifest.read(out / "summary.json.inputs.json")["measures"] == measures.DEFINITION


def test_state_file_of_another_configuration_is_discarded_not_resumed(demo, tmp_path):
  """A state file left by a pass with other inputs (here: another readout) is not resumed: the pass starts over."""
  import fcjax.data
  from fcjax import stats as stats_lib
  model, params = demo
  out = tmp_path / "s.npz"
  state = out.with_name(out.name + ".state")
  stats_lib.compute(model, params, fcjax.data.from_spec("procedural:40"), [LAYER], readout="channel", max_images=8,
                    batch_size=8, state_path=state)
  assert state.exists()  # what an interrupted pass leaves
  lines = []
  res, action = experiment.stats(model, params, dataset="procedural:40", layers=[LAYER], out=out, n=16,
                                 batch_size=8, say=lines.append)
  assert action == "computed" and res.meta["count"] == 16 and res.meta["readout"] == "neuron"
  assert any(l.startswith("fcjax: discarding") and "readout" in l for l in lines), lines
  assert not state.exists() and _manifest.read(_manifest.of_file(out))["readout"] == "neuron"


def test_bad_pick_is_one_fcjax_error(demo, tmp_path):
  model, params = demo
  with pytest.raises(errors.FcjaxError, match="unknown pick"):
    experiment.figure(model, params, dataset="procedural:8", layers=[LAYER], out=tmp_path, config=_config(),
                      picks=("middle",))
