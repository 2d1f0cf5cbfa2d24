"""Every bad input gets one clear line (issue 17): the ``fcjax`` command line fed a few hundred plausible mistakes.

The contract checked for each case of :mod:`bad_inputs_cases`, driving the real entry point ``fcjax.cli.main(argv)``
in-process (argparse's ``SystemExit`` caught) and a few through a subprocess:

* exit status 2;
* exactly one line on stderr starts with ``fcjax: error:``, it is the last line, and it holds the case's needles
  (the offending value or argument; for typos the closest valid name); no ``usage:`` block, no ``Traceback``;
* nothing new or changed at the destination: the case's working folder is byte-identical afterwards (for a case
  that names a damaged old result, the old results are byte-identical too), and the shared fixtures are untouched.

A rerun into a folder made with *other* inputs is not bad input: it recomputes, saying which input changed
(``RESUMES`` of :mod:`bad_inputs_cases_run`). Warnings (``fcjax: warning: ...``) may come before the error line.
Library API: the file readers raise :class:`fcjax.errors.FcjaxError` subclasses with one-line messages naming the
file (``SweepConfig`` and the other library checks: ``tests/test_bad_inputs_api.py``). A real bug (any exception
that is not an ``FcjaxError``) must still surface as an exception, not as a "bad input" line.

The expensive fixtures are made once per module at smoke size with the demo model: a figure folder (statistics of 4
photos + one sweep), a sweep folder, random-init InceptionV1 weights as ``.pth`` and as a converted checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import jax
import pytest

from bad_inputs_cases import CASES, CLOSEST, FIG, L, ST, SW, garbage, half, make_zoo
from bad_inputs_cases_run import RESUMES, RUN_CASES
from bad_inputs_cases_run import raises_one_line as _raises_one_line
from conftest import copy_photos
from fcjax import _manifest, cli, errors

ROOT = pathlib.Path(__file__).resolve().parents[1]
ERROR = "fcjax: error:"


# --------------------------------------------------------------------------------------------------------------
# running the CLI
# --------------------------------------------------------------------------------------------------------------
def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
  """``(exit status, stdout, stderr)`` of ``fcjax.cli.main(argv)``; argparse's SystemExit counts as the status."""
  try:
    code = cli.main(argv)
  except SystemExit as e:  # argparse exits on a bad argument (and on --help)
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  cap = capsys.readouterr()
  return code, cap.out, cap.err


def error_line(code: int, out: str, err: str, needles=()) -> str:
  """Assert the one-line contract; return the error line."""
  lines = [l for l in err.splitlines() if l.strip()]
  assert "Traceback" not in err + out, err
  assert code == 2, f"exit status {code}, expected 2; stderr: {err!r}"
  errs = [l for l in lines if l.startswith(ERROR)]
  assert len(errs) == 1, f"expected exactly one '{ERROR}' line, stderr was: {err!r}"
  assert lines[-1] == errs[0], f"the error line must be the last line of stderr: {err!r}"
  assert not any(l.startswith("usage:") or re.match(r"fcjax [a-z ]+: error:", l) for l in lines), err
  line = errs[0]
  for n in needles:
    if n == CLOSEST:
      assert re.search(r"did you mean|closest", line), f"no closest valid name offered: {line!r}"
    else:  # 'a|b': either spelling (e.g. the sweep's checkpoint check or the CLI's check, whichever refuses first)
      assert any(part in line for part in n.split("|")), f"{n!r} not in the error line {line!r}"
  return line


def tree_digest(root: pathlib.Path, *, content: bool = True) -> dict[str, object]:
  """``{relative path: sha256 (files) or 'dir'}`` of everything under ``root`` (``content=False``: size + mtime)."""
  out: dict[str, object] = {}
  for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames:
      out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
    for name in filenames:
      p = os.path.join(dirpath, name)
      st = os.lstat(p)
      if content:
        with open(p, "rb") as f:
          out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
      else:
        out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
  return out


@pytest.fixture(scope="module")
def fx(tmp_path_factory, sample_images_dir):
  """The shared fixtures (made once): photos, weights, a figure folder, its stats file, a sweep folder, the zoo."""
  from weights_conversion import convert, lucent_pth
  from fcjax.models import inception_v1
  root = tmp_path_factory.mktemp("bad_inputs")
  fx = {"root": root, "photos": copy_photos(sample_images_dir, root / "photos", 4, 2)}
  fx["pth"] = lucent_pth.save(inception_v1.init_params(jax.random.key(0)), root / "inception5h.pth")
  fx["ckpt"] = convert(fx["pth"], root / "ckpt")
  old = os.getcwd()
  os.chdir(root)
  try:
    for argv in (FIG + f" --out {root / 'fig'}", SW + f" --out {root / 'sweep'}", ST + f" --out {root / 'stats.npz'}"):
      assert cli.main(shlex.split(argv.format(photos=fx["photos"]))) == 0, argv
  finally:
    os.chdir(old)
  fx["fig"], fx["sweep"], fx["stats"] = root / "fig", root / "sweep", root / "stats.npz"
  make_zoo(root / "zoo", fx)
  fx["z"] = root / "zoo"
  fx["digest"] = tree_digest(root, content=False)
  return fx


# Preparations of a case's working folder {d}, run before its "before" digest.
PREPS = {
    "prev": lambda d, fx: shutil.copytree(fx["sweep"], d / "prev"),
    "no_checkpoint": lambda d, fx: shutil.rmtree(d / "prev" / "checkpoint"),
    "stale_stats_path": lambda d, fx: (d / "prev" / "stats_path.txt").write_text(str(d / "gone.npz")),
    "fig": lambda d, fx: shutil.copytree(fx["fig"], d / "fig"),
    "truncate_fig_stats": lambda d, fx: half(d / "fig" / "stats.npz", d / "fig" / "stats.npz"),
    "random_file": lambda d, fx: garbage(d / "random"),
    "stats": lambda d, fx: [shutil.copy(p, d / p.name) for p in (fx["stats"], _manifest.of_file(fx["stats"]))],
}


@pytest.fixture
def case_dir(tmp_path, monkeypatch, request):
  """The case's working folder: current directory, with a regular file and an empty folder; no weights cache.

  A case's ``prep`` runs here, in the fixture, so that a preparation that breaks (say, a renamed file in the figure
  folder) is a setup error, never mistaken for a case's expected failure.
  """
  d = tmp_path / "case"
  d.mkdir()
  (d / "file.txt").write_text("an unrelated file that must survive\n")
  (d / "dir").mkdir()
  callspec = getattr(request.node, "callspec", None)
  prep = callspec.params.get("prep", ()) if callspec else ()
  if prep:
    fx = request.getfixturevalue("fx")
    for name in prep:
      PREPS[name](d, fx)
  monkeypatch.chdir(d)
  monkeypatch.setenv("FCJAX_CACHE", str(tmp_path / "no-cache"))
  return d


def _argv(template: str, d: pathlib.Path, fx: dict) -> list[str]:
  values = {k: str(v) for k, v in fx.items() if isinstance(v, pathlib.Path)}
  values.update(d=str(d), prev=str(d / "prev"), fig=str(d / "fig"))
  return shlex.split(template.format(**values))


# --------------------------------------------------------------------------------------------------------------
# the case table
# --------------------------------------------------------------------------------------------------------------
ALL_CASES = CASES + RUN_CASES


def test_case_table_is_large_and_ids_unique():
  ids = [p.id for p in ALL_CASES] + [p.id for p in RESUMES]
  assert len(ids) == len(set(ids)) and len(ids) >= 80
  for cmd in ("weights-info", "weights-convert", "weights-verify", "weights-download", "stats", "pairs", "sweep",
              "plot", "figure"):
    assert any(i.startswith(cmd + "-") for i in ids), cmd


@pytest.mark.parametrize("argv, needles, prep", ALL_CASES)
def test_bad_input(argv, needles, prep, fx, case_dir, capsys):
  before = tree_digest(case_dir)
  code, out, err = run_cli(_argv(argv, case_dir, fx), capsys)
  error_line(code, out, err, needles)
  assert tree_digest(case_dir) == before, "the destination changed"
  assert tree_digest(fx["root"], content=False) == fx["digest"], "a shared fixture changed"
  assert not (fx["z"] / "PWNED").exists()


@pytest.mark.parametrize("argv, prep, target, field, check", RESUMES)
def test_resume_with_other_inputs_recomputes(argv, prep, target, field, check, fx, case_dir, capsys):
  """Not bad input: a rerun into a folder made with other inputs recomputes and says which input changed."""
  code, out, err = run_cli(_argv(argv, case_dir, fx), capsys)
  assert code == 0 and "Traceback" not in err, err
  target = target.format(d=case_dir, prev=case_dir / "prev", fig=case_dir / "fig")
  line = rf"^fcjax: recomputing {re.escape(target)}\S*: inputs changed: (.*; )?{re.escape(field)}: "
  assert re.search(line, err, re.M), f"no 'recomputing {target}...: inputs changed: {field}' line in {err!r}"
  check(case_dir)
  assert tree_digest(fx["root"], content=False) == fx["digest"], "a shared fixture changed"


def test_keyword_random_warns_when_a_file_of_that_name_exists(fx, case_dir, capsys):
  garbage(case_dir / "random")
  code, _, err = run_cli(_argv(f"stats --model demo --smoke --weights random --dataset folder:{{photos}} --n 4 "
                               f"--layers {L} --out {{d}}/s.npz", case_dir, fx), capsys)
  assert code == 0, err
  warn = [l for l in err.splitlines() if l.startswith("fcjax: warning:") and "./random" in l]
  assert len(warn) == 1, err


def test_keyword_default_warns_when_a_file_of_that_name_exists(fx, case_dir, capsys):
  garbage(case_dir / "default")
  before = tree_digest(case_dir)
  code, out, err = run_cli(_argv("stats --weights default --dataset folder:{photos} --layers conv2d2_pre_relu "
                                 "--out {d}/s.npz --smoke", case_dir, fx), capsys)
  error_line(code, out, err, ["fcjax weights download"])  # the cache is empty
  assert any(l.startswith("fcjax: warning:") and "./default" in l for l in err.splitlines()), err
  assert tree_digest(case_dir) == before


def test_dot_slash_names_the_file_not_the_keyword(fx, case_dir, capsys):
  """``--weights ./random`` reads the file ``random`` (here garbage, so a weights error about that file)."""
  garbage(case_dir / "random")
  code, out, err = run_cli(_argv("stats --weights ./random --dataset folder:{photos} --layers conv2d2_pre_relu "
                                 "--out {d}/s.npz --smoke", case_dir, fx), capsys)
  line = error_line(code, out, err, ["random"])
  assert "RANDOM-INIT" not in err and "is not a" in line and "warning" not in err, err


# --------------------------------------------------------------------------------------------------------------
# library API: the file readers raise FcjaxError subclasses with one-line messages naming the file
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.npz", "empty.npz", "trunc.npz", "garbage.npz", "notstats.npz",
                                  "header_badjson.npz", "header_list.npz", "missing_array.npz", "config_ok.json"])
def test_api_stats_load(name, fx):
  from fcjax import stats
  _raises_one_line(lambda: stats.load(fx["z"] / name), name)


@pytest.mark.parametrize("name", ["missing", "notckpt", "sw_badjson", "sw_listjson", "sw_nofield", "sw_trunc",
                                  "sw_emptyarrays", "sw_missingkey", "sw_pickle"])
def test_api_sweep_result_load(name, fx):
  from fcjax.result import SweepResult
  _raises_one_line(lambda: SweepResult.load(fx["z"] / name), name)


@pytest.mark.parametrize("name", ["missing.pth", "empty.pth", "trunc.pth", "garbage.pth", "evil.pth", "list.pth",
                                  "notckpt", "badckpt", "other.pth"])
def test_api_read_params(name, fx):
  import weights_conversion
  _raises_one_line(lambda: weights_conversion.read_params(fx["z"] / name), name, kind=errors.WeightsError)
  assert not (fx["z"] / "PWNED").exists()


# --------------------------------------------------------------------------------------------------------------
# a bug is a bug: only FcjaxError becomes the one-line message
# --------------------------------------------------------------------------------------------------------------
def test_a_real_bug_is_not_reported_as_bad_input(fx, case_dir, capsys, monkeypatch):
  from fcjax import stats

  def broken(path):
    raise RuntimeError("a bug inside fcjax")

  monkeypatch.setattr(stats, "load", broken)
  with pytest.raises(RuntimeError, match="a bug inside fcjax"):
    cli.main(["pairs", str(fx["stats"]), "--layer", L])
  assert ERROR not in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# end to end through a subprocess: the exit status a shell sees
# --------------------------------------------------------------------------------------------------------------
def _subprocess(args: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
         "JAX_PLATFORMS": "cpu", "FCJAX_CACHE": str(cwd / "no-cache")}
  return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("argv, needle", [
    pytest.param("pairs {z}/garbage.npz --layer conv4_pre_relu", "garbage.npz", id="pairs-garbage-stats"),
    pytest.param("weights convert {z}/evil.pth {d}/out", "evil.pth", id="convert-pickle-that-runs-code"),
    pytest.param("sweep --model demo --layer conv4_pre_relu --units a b --out {d}/out", "--units",
                 id="sweep-units-not-numbers"),
    # a fresh process (JAX untouched): JAX's own check, as one line
    pytest.param(f"{ST} --num-processes 2 --out {{d}}/s.npz", "--coordinator", id="stats-cluster-flags-incomplete"),
])
def test_subprocess_exit_status(argv, needle, fx, case_dir):
  before = tree_digest(case_dir)
  proc = _subprocess(["-m", "fcjax.cli", *_argv(argv, case_dir, fx)], case_dir)
  error_line(proc.returncode, proc.stdout, proc.stderr, [needle])
  assert tree_digest(case_dir) == before
  assert not (fx["z"] / "PWNED").exists()


def test_python_dash_m_fcjax(case_dir):
  proc = _subprocess(["-m", "fcjax", "pairs", str(case_dir / "missing.npz"), "--layer", L], case_dir)
  error_line(proc.returncode, proc.stdout, proc.stderr, ["missing.npz"])


