"""fcjax._manifest: where manifests live, what they record, and when an artefact is reused (hand-made cases)."""

from __future__ import annotations

import json

import numpy as np

from fcjax import _manifest


def test_paths_beside_a_file_and_inside_a_folder(tmp_path):
  assert _manifest.of_file(tmp_path / "stats.npz") == tmp_path / "stats.npz.inputs.json"
  assert _manifest.of_dir(tmp_path / "sweep") == tmp_path / "sweep" / "inputs.json"


def test_record_reads_back_as_plain_json(tmp_path):
  inputs = {"layers": ("a", "b"), "n": np.int64(3), "nested": {"p": np.float32(0.5)}}
  path = _manifest.record(tmp_path / "m.json", inputs)
  assert _manifest.read(path) == {"layers": ["a", "b"], "n": 3, "nested": {"p": 0.5}} == _manifest.canonical(inputs)
  assert json.loads(path.read_text())["format"] == _manifest.FORMAT


def test_read_refuses_missing_corrupt_or_foreign_files(tmp_path):
  assert _manifest.read(tmp_path / "none.json") is None
  (tmp_path / "bad.json").write_text("{not json")
  assert _manifest.read(tmp_path / "bad.json") is None
  (tmp_path / "other.json").write_text(json.dumps({"format": "else/1", "inputs": {}}))
  assert _manifest.read(tmp_path / "other.json") is None


def test_differences_name_each_changed_leaf_in_key_order():
  old = {"a": 1, "cfg": {"steps": 128, "p": 4}, "gone": True}
  new = {"a": 1, "cfg": {"steps": 512, "p": 4}, "added": "x"}
  assert _manifest.differences(old, new) == ['added: "<absent>" -> "x"', "cfg.steps: 128 -> 512",
                                             'gone: true -> "<absent>"']


def test_decide_reuses_only_a_finished_artefact_with_the_same_inputs(tmp_path):
  m = _manifest.record(tmp_path / "m.json", {"n": 3, "steps": (1, 2)})
  assert _manifest.decide(m, {"n": 3, "steps": [1, 2]}, exists=True) == (True, "")
  assert _manifest.decide(m, {"n": 3, "steps": [1, 2]}, exists=True, fresh=True) == (False, "--fresh")
  assert _manifest.decide(m, {"n": 3, "steps": [1, 2]}, exists=False) == (False, "not made yet")
  assert _manifest.decide(tmp_path / "none.json", {}, exists=True).reason == "no record of the inputs that made it"
  changed = _manifest.decide(m, {"n": 4, "steps": [1, 2], "a": 1, "b": 2, "c": 3}, exists=True, max_items=2)
  assert not changed.reuse and changed.reason.startswith("inputs changed: a: ") and changed.reason.endswith("(+2 more)")
