"""fcjax._manifest: where manifests live, what they record, when an artefact is reused, and reuse_or_make (the life
of an artefact on that rule); hand-made cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

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


def _artefact(tmp_path, inputs, calls, said, **kw):
  """reuse_or_make of a one-file artefact ``a.txt`` whose value is the call count; ``calls`` logs each step."""
  path = tmp_path / "a.txt"

  def make():
    calls.append("make")
    assert not (tmp_path / "old.tmp").exists()  # the stale files went before the making
    return str(calls.count("make"))
  return _manifest.reuse_or_make(
      _manifest.of_file(path), inputs, exists=path.is_file(), make=make, load=lambda: path.read_text(),
      save=lambda v: (calls.append("save"), path.write_text(v)), stale=[tmp_path / "old.tmp"],
      finish=lambda: calls.append("finish"), say=said.append, what=str(path), **kw)


def test_reuse_or_make_reuses_a_fresh_artefact_and_remakes_a_stale_one(tmp_path):
  calls, said = [], []
  assert _artefact(tmp_path, {"weights_digest": "aa", "n": 3}, calls, said) == ("1", "computed")
  assert calls == ["make", "save", "finish"] and said == []  # made for the first time: nothing to say
  assert _manifest.read(_manifest.of_file(tmp_path / "a.txt")) == {"weights_digest": "aa", "n": 3}
  assert _artefact(tmp_path, {"n": 3, "weights_digest": "aa"}, calls, said) == ("1", "reused")
  assert calls == ["make", "save", "finish"] and said == [f"fcjax: reusing {tmp_path / 'a.txt'} (same inputs)"]
  (tmp_path / "old.tmp").write_text("left by the older artefact")
  value, action = _artefact(tmp_path, {"weights_digest": "bb", "n": 3}, calls, said)
  assert (value, action) == ("2", 'recomputed: inputs changed: weights_digest: "aa" -> "bb"')
  assert said[-1] == f'fcjax: recomputing {tmp_path / "a.txt"}: inputs changed: weights_digest: "aa" -> "bb"'
  assert _manifest.read(_manifest.of_file(tmp_path / "a.txt"))["weights_digest"] == "bb"
  assert _artefact(tmp_path, {"weights_digest": "bb", "n": 3}, calls, said, fresh=True)[1] == "recomputed: --fresh"


def test_reuse_or_make_answers_a_damaged_manifest_in_one_line_and_remakes(tmp_path):
  calls, said = [], []
  _artefact(tmp_path, {"n": 3}, calls, said)
  _manifest.of_file(tmp_path / "a.txt").write_text('{"format": "fcjax.manif')  # cut short
  assert _artefact(tmp_path, {"n": 3}, calls, said) == ("2", "recomputed: no record of the inputs that made it")
  assert said == [f"fcjax: recomputing {tmp_path / 'a.txt'}: no record of the inputs that made it"]
  assert _manifest.read(_manifest.of_file(tmp_path / "a.txt")) == {"n": 3}  # recorded again, readable


def test_reuse_or_make_checks_before_deleting_anything(tmp_path):
  calls, said = [], []
  _artefact(tmp_path, {"n": 3}, calls, said)
  (tmp_path / "old.tmp").write_text("x")

  def bad_dataset():
    raise ValueError("no such dataset")
  with pytest.raises(ValueError):
    _artefact(tmp_path, {"n": 4}, calls, said, prepare=bad_dataset)
  assert (tmp_path / "old.tmp").exists() and (tmp_path / "a.txt").read_text() == "1" and said == []
  assert _manifest.read(_manifest.of_file(tmp_path / "a.txt")) == {"n": 3} and calls.count("make") == 1
