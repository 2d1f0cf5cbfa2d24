"""The atlas of triples (``fcjax.atlas.screen(..., k=3)``, ``fcjax atlas --k 3``): the triple sets, one row per
triple from fcjax.orthants, the ranking rule, the files and the report's data, resume, atlases of pairs and of
triples never sharing a folder, bad input in one line.

Runs the demo model at a tiny protocol (tests/atlas_case.py; the verdicts of 4 steps mean nothing): about 30 s on
2 CPU cores, the atlas shared with tests/test_atlas_triples_browser.py when both run in one process.
"""

from __future__ import annotations

import json
import math
import shutil
import types

import numpy as np
import pytest

import atlas_case as case
from fcjax import _manifest, atlas, cli, errors, orthants, stats, sweep

TRIPLE_TEXT = ",".join("-".join(map(str, t)) for t in case.TRIPLES)


@pytest.fixture(scope="module")
def built():
  return case.triple_atlas()


def _layer():
  model, _, st = case.model_params_stats()
  return st[case.LAYER], model.layer(case.LAYER).channels


def test_phase1_once_and_equal_chunks_of_triples(built):
  a, calls = built
  assert a.inputs["k"] == 3 and a.inputs["pairs"] == [list(t) for t in case.TRIPLES]
  assert a.unit_maxima.units.tolist() == [3, 7, 12, 40]
  assert {c["chunk"] for c in calls if c["stage"] == "block" and c["phase"] == 1} == {None}
  p2 = [c for c in calls if c["stage"] == "block" and c["phase"] == 2]
  assert {c["chunk"] for c in p2} == {0, 1}
  n_dir = len(sweep.SweepConfig(n_directions=case.TINY3["n_directions"]).directions(3))
  assert {len(c["c"]) for c in p2} == {2 * n_dir * case.TINY3["n_seeds"]}  # the last chunk padded: one shape
  last = a.result(1)
  assert last.pairs.tolist() == [list(case.TRIPLES[2])] and last.thetas.shape == (n_dir, 3)


def test_rows_are_the_octant_summaries(built):
  a, _ = built
  ls, _ = _layer()
  assert sorted((r["unit_i"], r["unit_j"], r["unit_k"]) for r in a.rows) == sorted(case.TRIPLES)
  for r in a.rows:
    u = [r["unit_i"], r["unit_j"], r["unit_k"]]
    s = orthants.summarize(a.result(r["chunk"]), r["index"], cloud=ls.samples[:, u])
    assert s["units"] == u
    assert [r[f"verdict_{o}"] for o in orthants.OCTANTS] == s["verdicts"]
    assert [r[f"corner_{o}"] for o in orthants.OCTANTS] == [s[f"corner_{o}"] for o in orthants.OCTANTS]
    assert r["only_triple"] == " ".join(s["only_triple"]) and r["n_only_triple"] == len(s["only_triple"])
    assert r["n_collapsed"] + r["n_possible"] + r["n_uncertain"] == 8
    c = ls.corr[np.ix_(u, u)]
    assert (r["r_ij"], r["r_ik"], r["r_jk"]) == pytest.approx((c[0, 1], c[0, 2], c[1, 2]))
    assert r["det"] == pytest.approx(np.linalg.det(c), abs=1e-9)
    decided = [o for o in orthants.OCTANTS if r[f"verdict_{o}"] != "uncertain"]
    assert r["score"] == pytest.approx(sum(1 - min(r[f"corner_{o}"], 1) for o in decided))
  assert a.rows == atlas.rank_triples(a.rows)
  lines = (a.out / "table.csv").read_text().splitlines()
  assert lines[0].split(",") == list(atlas.TRIPLE_COLUMNS) and len(lines) == 1 + len(case.TRIPLES)
  assert atlas.load(a.out).rows == json.loads(json.dumps(a.rows))


def _row(units, n_only, score, unc):
  return dict(zip(("unit_i", "unit_j", "unit_k"), units), n_only_triple=n_only, score=score, n_uncertain=unc)


def test_rank_only_triple_then_score_then_uncertain_then_units():
  rows = [_row((1, 2, 3), 1, 0.5, 0), _row((1, 2, 4), 0, 3.0, 0), _row((1, 2, 5), 1, 2.0, 3),
          _row((5, 6, 7), 1, 2.0, 1), _row((4, 6, 7), 1, 2.0, 1), _row((0, 1, 2), 0, math.nan, 0),
          _row((2, 3, 4), 2, 0.1, 5)]
  ranked = atlas.rank_triples(rows)
  assert [r["unit_i"] * 100 + r["unit_j"] * 10 + r["unit_k"] for r in ranked] == [234, 467, 567, 125, 123, 124, 12]
  assert [r["rank"] for r in ranked] == list(range(1, 8))


def test_files_and_report(built):
  a, _ = built
  from PIL import Image
  for r in a.rows:
    stem = a.out / "triples" / f"{r['unit_i']}_{r['unit_j']}_{r['unit_k']}"
    with Image.open(stem.with_suffix(".png")) as im:
      assert min(im.size) > 300
    page = stem.with_suffix(".html").read_text()
    assert "<canvas" in page and "fc3d-data" in page and "<script src" not in page
    for u in (r["unit_i"], r["unit_j"], r["unit_k"]):
      assert (a.out / "units" / f"{u}.png").stat().st_size > 100
  assert not (a.out / "pairs").exists()
  html = (a.out / "index.html").read_text()
  assert "<script src" not in html and "<link" not in html and "@import" not in html and "<iframe" not in html
  data = json.loads(html.split('id="atlas-data">', 1)[1].split("</script>", 1)[0])
  assert data["kind"] == "triples" and data["octants"] == list(orthants.OCTANTS)
  assert len(data["rows"]) == len(case.TRIPLES) and data["meta"]["n_triples"] == len(case.TRIPLES)
  assert set(data["shown"]) <= set(atlas.TRIPLE_COLUMNS)
  atlas.write_report(a.out)
  assert (a.out / "index.html").read_text() == html


def test_rerun_reuses_every_chunk_and_resumes_a_lost_one(built, tmp_path):
  a, _ = built
  out = tmp_path / "copy"
  shutil.copytree(a.out, out)
  calls = []
  case.build(out, pairs=case.TRIPLES, k=3, config=case.triple_config(), callback=calls.append)
  assert calls == []  # nothing recomputed
  shutil.rmtree(out / "chunks" / "0001")
  (out / "table.csv").unlink()
  again = case.build(out, pairs=case.TRIPLES, k=3, config=case.triple_config(), callback=calls.append)
  assert {c["chunk"] for c in calls if c["stage"] == "block"} == {1}  # phase 1 and chunk 0 reused
  for name in ("table.csv", "table.json"):
    assert (out / name).read_bytes() == (a.out / name).read_bytes()
  assert again.rows == a.rows


def test_pair_and_triple_atlases_never_share_a_folder(built, tmp_path):
  a, _ = built
  with pytest.raises(errors.ConfigMismatchError, match=r"atlas of triples \(k = 3\) and this run screens pairs"):
    case.build(a.out, pairs=[(3, 7)])
  with pytest.raises(errors.ConfigMismatchError, match="other inputs"):
    case.build(a.out, pairs=[(3, 7, 40)], k=3, config=case.triple_config())
  pair_folder = tmp_path / "pairs"
  pair_folder.mkdir()
  _manifest.record(pair_folder / "atlas.json", {k: v for k, v in a.inputs.items() if k != "k"})  # as pairs record
  with pytest.raises(errors.ConfigMismatchError, match=r"atlas of pairs \(k = 2\) and this run screens triples"):
    case.build(pair_folder, pairs=case.TRIPLES, k=3, config=case.triple_config())


def test_triple_sets():
  ls, n = _layer()
  for rule in ("joint", "independent"):
    got = atlas.select_triples(f"{rule}:3", ls, n)
    assert got.tolist() == sorted(list(t[:3]) for t in stats.select_triples(ls.corr, 3, ls.dead)[rule])
  rnd = atlas.select_triples("random:6:2", ls, n)
  assert len(rnd) == 6 and np.array_equal(rnd, atlas.select_triples("random:6:2", ls, n))
  assert not np.array_equal(rnd, atlas.select_triples("random:6:3", ls, n))
  assert np.all(rnd[:, 0] < rnd[:, 1]) and np.all(rnd[:, 1] < rnd[:, 2]) and not ls.dead[rnd].any()
  both = atlas.select_triples("joint:3+random:6", ls, n)  # random draws among the triples not chosen before
  assert len(both) == 9 and {tuple(t) for t in atlas.select_triples("joint:3", ls, n)} <= {tuple(t) for t in both}
  assert atlas.select_triples("12-3-7, 40-12-7", ls, n).tolist() == [[3, 7, 12], [7, 12, 40]]
  assert atlas.select_triples([(9, 4, 1), (1, 4, 9)], ls, n).tolist() == [[1, 4, 9]]
  wide = types.SimpleNamespace(corr=np.eye(200), dead=np.zeros(200, bool))  # 1.3 M triples: drawn, not listed
  drawn = atlas.select_triples("random:20:1", wide, 200)
  assert len(drawn) == 20 and np.array_equal(drawn, atlas.select_triples("random:20:1", wide, 200))


@pytest.mark.parametrize("spec, error, match", [
    ("all", errors.UsageError, r"all is refused for triples: \d+ triples of \d+ live units"),
    ("3-3-7", errors.UsageError, "repeats a unit"), ("3-7-99", errors.UnitIndexError, "out of range"),
    ("3-7", errors.UsageError, "bad triple term"), ("top:4", errors.UsageError, "bad triple term"),
    ("joint:0", errors.UsageError, "positive"), ("random:x", errors.UsageError, "positive"),
    ("joint:2:1", errors.UsageError, "joint:K"), ("", errors.UsageError, "empty"),
    ([(1, 2)], errors.UsageError, r"\(i, j, k\)")])
def test_bad_triple_sets_in_one_line(spec, error, match):
  ls, n = _layer()
  with pytest.raises(error, match=match) as e:
    atlas.select_triples(spec, ls, n)
  assert "\n" not in str(e.value)


def test_too_few_units_and_bad_k(tmp_path):
  ls, _ = _layer()
  with pytest.raises(errors.UsageError, match="a triple needs 3"):
    atlas.select_triples("joint:1", ls, 2)
  two = types.SimpleNamespace(corr=np.eye(4), dead=np.array([False, True, False, True]))
  with pytest.raises(errors.UsageError, match="selects no triple"):
    atlas.select_triples("joint:1+random:2", two, 4)
  model, params, st = case.model_params_stats()
  for k in (4, 1, True):
    with pytest.raises(errors.UsageError, match="k must be 2"):
      atlas.screen(model, params, layer=case.LAYER, stats=st, out=tmp_path / "x", k=k)
  with pytest.raises(errors.UsageError, match="k must be 2"):
    atlas.screen_config(model, k=4)
  assert atlas.screen_config(model, k=3).n_directions == atlas.TRIPLE_PROTOCOL["n_directions"]


def test_readme_triple_atlas_command_through_the_cli(built, tmp_path, capsys, monkeypatch):
  """The README's ``fcjax atlas --k 3`` line through fcjax.cli.main, at the tiny size (two triples, no plots); then
  bad input answered in one line."""
  import pathlib
  import shlex
  a, _ = built
  readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
  line = next(l for l in readme.splitlines() if l.startswith("fcjax atlas --k 3"))
  argv = shlex.split(line.split("#")[0])[1:] + ["--stats", str(a.out / "stats.npz"), "--chunk-pairs", "2"]
  argv += sum((["--set", f"{k}={v}"] for k, v in case.TINY3.items()), [])
  monkeypatch.chdir(tmp_path)
  assert cli.main(argv + ["--pairs", "3-7-12,7-12-40", "--no-plots"]) == 0
  printed = capsys.readouterr().out
  assert "#1 (" in printed and "only-triple:" in printed and "(2 triples)" in printed
  out = tmp_path / argv[argv.index("--out") + 1]
  assert (out / "index.html").is_file() and json.loads((out / "atlas.json").read_text())["inputs"]["k"] == 3
  assert not (out / "triples").exists()
  for more, said in ((["--pairs", "all"], "all is refused for triples"), (["--pairs", "3-3-7"], "repeats a unit"),
                     (["--k", "4"], "k must be 2 (pairs) or 3 (triples), got 4")):
    assert cli.main(argv + more + ["--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0], err
