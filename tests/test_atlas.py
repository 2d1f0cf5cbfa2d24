"""The layer atlas (fcjax.atlas): phase 1 once per unit, equal chunks without recompilation, chunked == one sweep,
kill-and-resume gives the same bytes, the pair sets, the table's score, the report's file, bad inputs.

Runs the demo model at a tiny protocol (tests/atlas_case.py): about a minute on 2 CPU cores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import atlas_case as case
from fcjax import atlas, errors, experiment, sweep


@pytest.fixture(scope="module")
def base(tmp_path_factory):
  """An uninterrupted atlas of case.PAIRS, with every callback it made and the compile counter around it."""
  out = tmp_path_factory.mktemp("atlas") / "a"
  calls = []
  case.model_params_stats()
  before = sweep.cache_info()["block_compiles"]
  a = case.build(out, callback=calls.append)
  return a, calls, sweep.cache_info()["block_compiles"] - before


def test_phase1_once_per_unit_and_one_program_for_all_chunks(base):
  a, calls, compiles = base
  units = sorted({u for p in case.PAIRS for u in p})
  assert a.unit_maxima.units.tolist() == units
  p1 = [c for c in calls if c["stage"] == "block" and c["phase"] == 1]
  assert len(p1) == case.TINY["steps"] // case.TINY["block_steps"]  # phase 1 ran once, not once per chunk
  assert {len(c["c"]) for c in p1} == {2 * len(units) * case.TINY["n_seeds"]}  # one row per (unit, sign, seed)
  p2 = [c for c in calls if c["stage"] == "block" and c["phase"] == 2]
  assert {c["chunk"] for c in p2} == {0, 1}
  n_thetas = len(sweep.SweepConfig(n_angles=case.TINY["n_angles"]).thetas)
  assert {len(c["c"]) for c in p2} == {2 * n_thetas * case.TINY["n_seeds"]}  # padded: same shape
  assert [c["chunk"] for c in calls if c["stage"] == "chunk"] == [0, 1]
  # at most one block program per batch shape (half-axes, angles, refinement rounds), whatever the number of chunks
  assert compiles <= 3


def test_table_has_every_pair_ranked_by_score(base):
  a, _, _ = base
  assert sorted((r["unit_i"], r["unit_j"]) for r in a.rows) == sorted(case.PAIRS)
  assert [r["rank"] for r in a.rows] == [1, 2, 3]
  scores = [r["score"] for r in a.rows]
  assert scores == sorted(scores, reverse=True)
  _, _, st = case.model_params_stats()
  for r in a.rows:
    assert r["r"] == pytest.approx(st[case.LAYER].corr[r["unit_i"], r["unit_j"]])
    decided = [q for q in "I II III IV".split() if r[f"verdict_{q}"] != "uncertain"]
    assert r["score"] == pytest.approx(sum(1 - min(r[f"corner_{q}"], 1) for q in decided))
  header = (a.out / "table.csv").read_text().splitlines()[0].split(",")
  assert header == list(atlas.COLUMNS)
  assert len((a.out / "table.csv").read_text().splitlines()) == 1 + len(case.PAIRS)
  assert (a.out / "table.parquet").is_file() or "pyarrow" in (a.out / "table.README").read_text()


def test_score_counts_decided_quadrants_only():
  s = {f"verdict_{q}": v for q, v in zip("I II III IV".split(), ["possible", "collapsed", "uncertain", "collapsed"])}
  s.update({"corner_I": 0.9, "corner_II": 0.1, "corner_III": 0.0, "corner_IV": 0.0})
  assert atlas.score(s) == pytest.approx(0.1 + 0.9 + 1.0)


def test_chunked_atlas_equals_one_sweep_of_all_pairs(base):
  """The atlas's chunks change nothing: one sweep.run of all pairs with the same per-call batch gives the same bits."""
  a, _, _ = base
  model, params, st = case.model_params_stats()
  cfg = case.config(chunk_size=2 * case.TINY["n_angles"] * case.TINY["n_seeds"])
  res = sweep.run(model, params, cfg, layer=case.LAYER, pairs=sorted(case.PAIRS), unit_maxima=a.unit_maxima)
  ls = st[case.LAYER]
  rows = [atlas.pair_row(res, p, ls.samples[:, list(res.pairs[p])], float(ls.corr[tuple(res.pairs[p])]),
                         chunk=p // 2) for p in range(len(res.pairs))]
  for p, r in enumerate(rows):  # where the atlas keeps the pair: chunk p // 2, index p % 2 there
    r["index"] = p % 2
  assert atlas.to_csv(atlas.rank(rows)) == (a.out / "table.csv").read_text()
  chunk0 = a.result(0)
  np.testing.assert_array_equal(chunk0.y, res.y[:2])
  np.testing.assert_array_equal(a.result(1).c, res.c[2:])


def test_kill_and_resume_gives_an_identical_table(base, tmp_path):
  a, _, _ = base
  out = tmp_path / "killed"

  class Kill(Exception):
    pass

  def after_first_chunk(c):
    if c["stage"] == "chunk":
      raise Kill

  def in_phase1(c):
    if c["stage"] == "block" and c["phase"] == 1:
      raise Kill

  def in_second_chunk(c):
    if c["stage"] == "block" and c["chunk"] == 1 and c["block"] == 1:
      raise Kill

  with pytest.raises(Kill):
    case.build(out, callback=in_phase1)
  assert (out / "phase1" / "checkpoint").is_dir() and not (out / "phase1" / "inputs.json").exists()
  with pytest.raises(Kill):
    case.build(out, callback=after_first_chunk)
  assert not (out / "table.csv").exists() and (out / "chunks" / "0000" / "inputs.json").is_file()
  with pytest.raises(Kill):
    case.build(out, callback=in_second_chunk)
  assert (out / "chunks" / "0001" / "checkpoint").is_dir()  # the chunk in progress left its checkpoint
  calls = []
  resumed = case.build(out, callback=calls.append)
  assert {c["chunk"] for c in calls if c["stage"] == "block"} == {1}  # phase 1 and chunk 0 were not redone
  # chunk 1 continued from its checkpoint (its refinement rounds, phase 3 +, rerun from phase 2's final state)
  assert min(c["block"] for c in calls if c["stage"] == "block" and c["phase"] <= 2) == 2
  assert (out / "table.csv").read_bytes() == (a.out / "table.csv").read_bytes()
  assert (out / "table.json").read_bytes() == (a.out / "table.json").read_bytes()
  assert [r["rank"] for r in resumed.rows] == [1, 2, 3]
  assert not (out / "chunks" / "0001" / "checkpoint").exists()


def test_pair_sets():
  model, _, st = case.model_params_stats()
  ls, n = st[case.LAYER], model.layer(case.LAYER).channels
  live = int((~ls.dead).sum())
  assert len(atlas.select_pairs("all", ls, n)) == live * (live - 1) // 2
  top = atlas.select_pairs("top:5", ls, n)
  r = np.abs(ls.corr[top[:, 0], top[:, 1]])
  allp = atlas.select_pairs("all", ls, n)
  assert r.min() >= np.sort(np.abs(ls.corr[allp[:, 0], allp[:, 1]]))[-5] - 1e-12
  rnd = atlas.select_pairs("random:6:3", ls, n)
  assert len(rnd) == 6 and np.array_equal(rnd, atlas.select_pairs("random:6:3", ls, n))
  assert not np.array_equal(rnd, atlas.select_pairs("random:6:4", ls, n))
  both = atlas.select_pairs("top:5+random:6", ls, n)
  assert len(both) == 11 and {tuple(p) for p in top} <= {tuple(p) for p in both}
  assert atlas.select_pairs("7-3,3-7, 1-2", ls, n).tolist() == [[1, 2], [3, 7]]
  assert atlas.select_pairs([(9, 4)], ls, n).tolist() == [[4, 9]]


@pytest.mark.parametrize("spec, error", [
    ("top:0", errors.UsageError), ("random:x", errors.UsageError), ("5-5", errors.UsageError),
    ("1-99", errors.UnitIndexError), ("nonsense", errors.UsageError), ("", errors.UsageError),
    ([(1, 2, 3)], errors.UsageError), ("top:3:1", errors.UsageError)])
def test_bad_pair_sets(spec, error):
  model, _, st = case.model_params_stats()
  with pytest.raises(error):
    atlas.select_pairs(spec, st[case.LAYER], model.layer(case.LAYER).channels)


def test_bad_screen_inputs(base, tmp_path):
  a, _, _ = base
  model, params, st = case.model_params_stats()
  with pytest.raises(errors.FcjaxError, match="StatsResult"):
    atlas.screen(model, params, layer=case.LAYER, stats={"not": "stats"}, out=tmp_path / "x")
  with pytest.raises(errors.ConfigMismatchError, match="conv3_pre_relu"):
    atlas.screen(model, params, layer="conv3_pre_relu", stats=st, out=tmp_path / "x", config=case.config())
  import jax
  with pytest.raises(errors.ConfigMismatchError, match="weights digest"):  # stats of other weights
    atlas.screen(model, model.init_params(jax.random.key(1)), layer=case.LAYER, stats=st, out=tmp_path / "x",
                 config=case.config())
  with pytest.raises(errors.FcjaxError, match="fcjax Model"):
    atlas.screen(lambda p, x: x, params, layer=case.LAYER, stats=st, out=tmp_path / "x")
  with pytest.raises(errors.FcjaxError, match="SweepConfig"):
    atlas.screen(model, params, layer=case.LAYER, stats=st, out=tmp_path / "x", config={"n_angles": 8})
  with pytest.raises(errors.UnknownLayerError):
    atlas.screen(model, params, layer="conv9", stats=st, out=tmp_path / "x")
  with pytest.raises(errors.UsageError, match="chunk_pairs"):
    case.build(tmp_path / "x", chunk_pairs=0)
  with pytest.raises(errors.ConfigMismatchError, match="other inputs"):  # a finished atlas of other pairs
    case.build(a.out, pairs=[(1, 2)])
  (tmp_path / "file").write_text("x")
  with pytest.raises(errors.OutputPathError):
    case.build(tmp_path / "file")
  with pytest.raises(errors.FcjaxError, match="not a finished atlas"):
    atlas.load(tmp_path)
  with pytest.raises(errors.FcjaxError, match="not an atlas folder"):
    atlas.write_report(tmp_path)


def test_load_and_report_file(base):
  a, _, _ = base
  back = atlas.load(a.out)
  assert [(r["unit_i"], r["unit_j"]) for r in back.rows] == [(r["unit_i"], r["unit_j"]) for r in a.rows]
  np.testing.assert_array_equal(back.unit_maxima.values, a.unit_maxima.values)
  html = (a.out / "index.html").read_text()
  assert "<script src" not in html and "<link" not in html and "@import" not in html  # nothing fetched
  data = json.loads(html.split('id="atlas-data">', 1)[1].split("</script>", 1)[0])
  assert len(data["rows"]) == len(case.PAIRS) and data["meta"]["layer"] == case.LAYER
  for r in a.rows:
    for f in (f"pairs/{r['unit_i']}_{r['unit_j']}.png", f"pairs/{r['unit_i']}_{r['unit_j']}_images.png",
              f"units/{r['unit_i']}.png"):
      assert (a.out / f).stat().st_size > 100


def test_cli_atlas_and_report(base, tmp_path, capsys):
  import argparse
  from fcjax import cli
  from fcjax.atlas import cli as atlas_cli
  parser = argparse.ArgumentParser()
  sub = parser.add_subparsers(dest="command", required=True)
  atlas_cli.add_parsers(sub, add_model_args=cli._add_model_args, add_sweep_args=cli._add_sweep_args, load=cli._load,
                        sweep_config=cli._sweep_config)
  a, _, _ = base
  (a.out / "index.html").unlink()
  args = parser.parse_args(["report", str(a.out)])
  assert args.func(args) == 0 and (a.out / "index.html").is_file()
  model, _, _ = case.model_params_stats()
  args = parser.parse_args(["atlas", "--model", "demo", "--layer", case.LAYER, "--out", str(tmp_path / "o"),
                            "--set", "steps=8"])
  cfg = atlas_cli._config(args, model, cli._sweep_config)
  assert (cfg.n_angles, cfg.n_seeds, cfg.steps) == (atlas.SCREEN_PROTOCOL["n_angles"],
                                                    atlas.SCREEN_PROTOCOL["n_seeds"], 8)
  # the command's settings are the library's for the same inputs (one path: experiment.sweep_config)
  assert cfg == experiment.sweep_config(model, overrides=atlas.SCREEN_PROTOCOL, sets=["steps=8"])
  assert cfg == atlas.screen_config(model, steps=8)
  (tmp_path / "c.json").write_text(json.dumps({"seed": 3, "n_angles": 4}))
  for extra, kw in ((["--smoke"], dict(smoke=True)), (["--protocol", "model"], {}),
                    (["--recipe", "maco", "--config", str(tmp_path / "c.json")],
                     dict(recipe="maco", config_file=str(tmp_path / "c.json"), overrides=atlas.SCREEN_PROTOCOL))):
    args = parser.parse_args(["atlas", "--model", "demo", "--layer", case.LAYER, "--out", str(tmp_path / "o"),
                              "--set", "steps=8", *extra])
    assert atlas_cli._config(args, model, cli._sweep_config) == experiment.sweep_config(model, sets=["steps=8"], **kw)
  args = parser.parse_args(["atlas", "--model", "demo", "--layer", case.LAYER, "--out", str(tmp_path / "o"),
                            "--chunk-pairs", "0"])
  with pytest.raises(errors.UsageError, match="chunk-pairs"):
    args.func(args)


def test_readme_atlas_command_runs_through_the_cli(tmp_path, capsys, monkeypatch):
  """The README's atlas command through the real entry point (``fcjax.cli.main``), at a tiny size: two explicit pairs,
  100 images, the tiny protocol, no plots."""
  import pathlib
  import shlex
  from fcjax import cli
  readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
  line = next(l for l in readme.splitlines() if l.startswith("fcjax atlas --model demo"))
  argv = shlex.split(line)[1:]
  monkeypatch.chdir(tmp_path)
  argv += ["--pairs", "3-7,3-12", "--n", "100", "--smoke", "--no-plots"] + sum(
      (["--set", f"{k}={v}"] for k, v in case.TINY.items()), [])
  assert cli.main(argv) == 0
  printed = capsys.readouterr().out
  out = tmp_path / argv[argv.index("--out") + 1]
  assert "#1 (3, " in printed and "wrote" in printed
  assert len((out / "table.csv").read_text().splitlines()) == 3 and (out / "stats.npz").is_file()
  assert (out / "index.html").is_file() and not (out / "pairs").exists()
  assert cli.main(["report", str(out)]) == 0
