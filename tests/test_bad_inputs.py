"""Every bad input gets one clear line (issue 17): the ``fcjax`` command line fed a few hundred plausible mistakes.

The contract checked for each case of :mod:`bad_inputs_cases`, driving the real entry point ``fcjax.cli.main(argv)``
in-process (argparse's ``SystemExit`` caught) and a few through a subprocess:

* exit status 2;
* exactly one line on stderr starts with ``fcjax: error:``, it is the last line, and it holds the case's needles
  (the offending value or argument; for typos the closest valid name); no ``usage:`` block, no ``Traceback``;
* nothing new or changed at the destination: the case's working folder is byte-identical afterwards (for a refused
  resume that folder holds the old results, so they are byte-identical too), and the shared fixtures are untouched.

Warnings (``fcjax: warning: ...``) may come before the error line. Library API: the file readers and ``SweepConfig``
raise :class:`fcjax.errors.FcjaxError` subclasses with one-line messages naming the file. A real bug (any exception
that is not an ``FcjaxError``) must still surface as an exception, not as a "bad input" line.

The expensive fixtures are made once per module at smoke size with the demo model: a figure folder (statistics of 4
photos + one sweep), a sweep folder, random-init InceptionV1 weights as ``.pth`` and as a converted checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pickle
import re
import shlex
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from bad_inputs_cases import CASES, CLOSEST, FIELD_TYPO, FIG, FROM_DICT_TYPE, L, ONE_LINE_WEIGHTS, PARSER, \
    RESULT_HEADER, RESULT_ZIP, SIZE_CAP, ST, STATS_HEADER, STATS_ZIP, SW, xf
from conftest import copy_photos
from fcjax import cli, errors

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


def _half(src: pathlib.Path, dst: pathlib.Path) -> None:
  data = src.read_bytes()
  assert len(data) > 16, src
  dst.write_bytes(data[:len(data) // 2])


def _garbage(path: pathlib.Path, n: int = 4096, seed: int = 0) -> None:
  path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


class _RunsCode:
  """A pickle payload that would create a marker file if unpickled (a weights file must never run code)."""

  def __init__(self, marker: str):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, "w"))


def _make_zoo(z: pathlib.Path, fx: dict) -> None:
  """The broken input files: empty, truncated, corrupt and wrong-kind versions of every file the CLI reads."""
  import torch
  z.mkdir()
  # weights
  (z / "empty.pth").write_bytes(b"")
  _half(fx["pth"], z / "trunc.pth")
  _garbage(z / "garbage.pth")
  _garbage(z / "garbage.pb", seed=1)
  (z / "evil.pth").write_bytes(pickle.dumps({"w": _RunsCode(str(z / "PWNED"))}, protocol=2))
  torch.save({"fc.weight": torch.zeros(3, 4)}, z / "other.pth")
  torch.save([torch.zeros(2)], z / "list.pth")
  (z / "notckpt").mkdir()
  (z / "notckpt" / "readme.txt").write_text("not weights")
  (z / "badmeta" / "params").mkdir(parents=True)
  (z / "badmeta" / "metadata.json").write_text("{")
  (z / "badckpt" / "params").mkdir(parents=True)
  shutil.copy(fx["ckpt"] / "metadata.json", z / "badckpt" / "metadata.json")
  # stats files
  stats = fx["stats"]
  (z / "empty.npz").write_bytes(b"")
  _half(stats, z / "trunc.npz")
  _garbage(z / "garbage.npz", seed=2)
  np.savez(z / "notstats.npz", x=np.zeros(3))
  with np.load(stats) as f:
    arrays = {k: f[k] for k in f.files}
  np.savez(z / "header_badjson.npz", **{**arrays, "header": np.frombuffer(b"{not json", np.uint8)})
  np.savez(z / "header_list.npz", **{**arrays, "header": np.frombuffer(b"[1, 2]", np.uint8)})
  np.savez(z / "missing_array.npz", **{k: v for k, v in arrays.items() if k != "l0.corr"})
  # --config files
  (z / "config_ok.json").write_text('{"steps": 2}')
  (z / "config_empty.json").write_text("")
  (z / "config_bad.json").write_text("{steps: 2")
  (z / "config_list.json").write_text("[1, 2]")
  (z / "config_unknown.json").write_text('{"stepz": 3}')
  (z / "config_wrongtype.json").write_text('{"steps": "many"}')
  (z / "config_nan.json").write_text('{"learning_rate": NaN}')
  # spectra
  np.save(z / "full.npy", np.ones((3, 64, 33), np.float32))
  _half(z / "full.npy", z / "trunc.npy")
  (z / "full.npy").unlink()
  np.save(z / "shape.npy", np.zeros((2, 3), np.float32))
  np.save(z / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
  # image folders
  (z / "empty_imgs").mkdir()
  (z / "loose_imgs" / "train").mkdir(parents=True)
  first = sorted((fx["photos"] / "train").glob("*/*.JPEG"))[0]
  shutil.copy(first, z / "loose_imgs" / "train" / first.name)
  (z / "txt_imgs" / "train" / "c").mkdir(parents=True)
  (z / "txt_imgs" / "train" / "c" / "readme.txt").write_text("no images here")
  (z / "corrupt_imgs" / "train" / "c").mkdir(parents=True)
  _garbage(z / "corrupt_imgs" / "train" / "c" / "x.JPEG", seed=3)
  # sweep result folders, each broken one way
  sweep = fx["sweep"]

  def variant(name: str) -> pathlib.Path:
    d = z / name
    d.mkdir()
    for f in ("result.json", "arrays.npz"):
      shutil.copy(sweep / f, d / f)
    return d

  variant("sw_badjson").joinpath("result.json").write_text("{")
  variant("sw_listjson").joinpath("result.json").write_text("[1]")
  variant("sw_nofield").joinpath("result.json").write_text("{}")
  _half(sweep / "arrays.npz", variant("sw_trunc") / "arrays.npz")
  variant("sw_emptyarrays").joinpath("arrays.npz").write_bytes(b"")
  with np.load(sweep / "arrays.npz") as f:
    res = {k: f[k] for k in f.files}
  np.savez(variant("sw_missingkey") / "arrays.npz", **{k: v for k, v in res.items() if k != "c"})
  np.savez(variant("sw_pickle") / "arrays.npz", **{**res, "c": np.array([{"a": 1}], dtype=object)})


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
  _make_zoo(root / "zoo", fx)
  fx["z"] = root / "zoo"
  fx["digest"] = tree_digest(root, content=False)
  return fx


# Preparations of a case's working folder {d}, run before its "before" digest.
PREPS = {
    "prev": lambda d, fx: shutil.copytree(fx["sweep"], d / "prev"),
    "no_checkpoint": lambda d, fx: shutil.rmtree(d / "prev" / "checkpoint"),
    "stale_stats_path": lambda d, fx: (d / "prev" / "stats_path.txt").write_text(str(d / "gone.npz")),
    "fig": lambda d, fx: shutil.copytree(fx["fig"], d / "fig"),
    "truncate_fig_stats": lambda d, fx: _half(d / "fig" / "stats.npz", d / "fig" / "stats.npz"),
    "random_file": lambda d, fx: _garbage(d / "random"),
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
def test_case_table_is_large_and_ids_unique():
  ids = [p.id for p in CASES]
  assert len(ids) == len(set(ids)) and len(ids) >= 80
  for cmd in ("weights-info", "weights-convert", "weights-verify", "weights-download", "stats", "pairs", "sweep",
              "plot", "figure"):
    assert any(i.startswith(cmd + "-") for i in ids), cmd


@pytest.mark.parametrize("argv, needles, prep", CASES)
def test_bad_input(argv, needles, prep, fx, case_dir, capsys):
  before = tree_digest(case_dir)
  code, out, err = run_cli(_argv(argv, case_dir, fx), capsys)
  error_line(code, out, err, needles)
  assert tree_digest(case_dir) == before, "the destination changed"
  assert tree_digest(fx["root"], content=False) == fx["digest"], "a shared fixture changed"
  assert not (fx["z"] / "PWNED").exists()


# --------------------------------------------------------------------------------------------------------------
# item 4: keywords that could be file names
# --------------------------------------------------------------------------------------------------------------
WEIGHTS_HELP = ("needs: fcjax/cli.py:_add_model_args (and the weights verify WEIGHTS help): end the --weights help "
                "with \"a file or folder named like a keyword is passed with a path: ./random, ./default\"")
KEYWORD_WARN = ("needs: fcjax/cli.py:_load_model_and_params: when weights is 'default' or starts with 'random' and "
                "os.path.exists(weights.split(':')[0]): print \"fcjax: warning: --weights {w} means {meaning}; a file "
                "named {name} exists here: to use it, pass ./{name}\" before going on")


@pytest.mark.parametrize("cmd", ["stats", "sweep", "figure"])
@pytest.mark.xfail(strict=True, reason=WEIGHTS_HELP)
def test_weights_help_says_how_to_pass_a_file_named_like_a_keyword(cmd, capsys):
  code, out, _ = run_cli([cmd, "--help"], capsys)
  assert code == 0
  help_text = " ".join(out.split())
  assert "./random" in help_text and "./default" in help_text


@pytest.mark.xfail(strict=True, reason=KEYWORD_WARN)
def test_keyword_random_warns_when_a_file_of_that_name_exists(fx, case_dir, capsys):
  _garbage(case_dir / "random")
  code, _, err = run_cli(_argv(f"stats --model demo --smoke --weights random --dataset folder:{{photos}} --n 4 "
                               f"--layers {L} --out {{d}}/s.npz", case_dir, fx), capsys)
  assert code == 0, err
  warn = [l for l in err.splitlines() if l.startswith("fcjax: warning:") and "./random" in l]
  assert len(warn) == 1, err


@pytest.mark.xfail(strict=True, reason=KEYWORD_WARN)
def test_keyword_default_warns_when_a_file_of_that_name_exists(fx, case_dir, capsys):
  _garbage(case_dir / "default")
  before = tree_digest(case_dir)
  code, out, err = run_cli(_argv("stats --weights default --dataset folder:{photos} --layers conv2d2_pre_relu "
                                 "--out {d}/s.npz --smoke", case_dir, fx), capsys)
  error_line(code, out, err, ["fcjax weights download"])  # the cache is empty
  assert any(l.startswith("fcjax: warning:") and "./default" in l for l in err.splitlines()), err
  assert tree_digest(case_dir) == before


def test_dot_slash_names_the_file_not_the_keyword(fx, case_dir, capsys):
  """``--weights ./random`` reads the file ``random`` (here garbage, so a weights error about that file)."""
  _garbage(case_dir / "random")
  code, out, err = run_cli(_argv(f"stats --weights ./random --dataset folder:{{photos}} --layers conv2d2_pre_relu "
                                 f"--out {{d}}/s.npz --smoke", case_dir, fx), capsys)
  line = error_line(code, out, err, ["random"])
  assert "RANDOM-INIT" not in err and "is not a" in line, line


# --------------------------------------------------------------------------------------------------------------
# library API: file readers and SweepConfig raise FcjaxError subclasses with one-line messages
# --------------------------------------------------------------------------------------------------------------
def _raises_one_line(fn, *needles, kind=errors.FcjaxError) -> str:
  with pytest.raises(errors.FcjaxError) as info:
    fn()
  assert isinstance(info.value, kind), type(info.value)
  msg = str(info.value)
  assert "\n" not in msg, msg
  for n in needles:
    assert n in msg, msg
  return msg


@pytest.mark.parametrize("name", [
    "missing.npz", "empty.npz", pytest.param("trunc.npz", marks=xf(STATS_ZIP)), "garbage.npz", "notstats.npz",
    "header_badjson.npz", pytest.param("header_list.npz", marks=xf(STATS_HEADER)),
    pytest.param("missing_array.npz", marks=xf(STATS_HEADER)), "config_ok.json"])
def test_api_stats_load(name, fx):
  from fcjax import stats
  _raises_one_line(lambda: stats.load(fx["z"] / name), name)


@pytest.mark.parametrize("name", [
    "missing", "notckpt", "sw_badjson", pytest.param("sw_listjson", marks=xf(RESULT_HEADER)),
    pytest.param("sw_nofield", marks=xf(RESULT_HEADER)), pytest.param("sw_trunc", marks=xf(RESULT_ZIP)),
    pytest.param("sw_emptyarrays", marks=xf(RESULT_ZIP)), "sw_missingkey", "sw_pickle"])
def test_api_sweep_result_load(name, fx):
  from fcjax.result import SweepResult
  _raises_one_line(lambda: SweepResult.load(fx["z"] / name), name)


@pytest.mark.parametrize("name", [
    "missing.pth", "empty.pth", "trunc.pth", "garbage.pth", "evil.pth", "list.pth", "notckpt", "badckpt",
    pytest.param("other.pth", marks=xf(ONE_LINE_WEIGHTS))])
def test_api_read_params(name, fx):
  import weights_conversion
  _raises_one_line(lambda: weights_conversion.read_params(fx["z"] / name), name, kind=errors.WeightsError)
  assert not (fx["z"] / "PWNED").exists()


@pytest.mark.parametrize("fields, needle", [
    ({"steps": 0}, "steps"), ({"steps": "many"}, "steps"), ({"steps": float("nan")}, "steps"),
    ({"n_seeds": -1}, "n_seeds"), ({"seed": -1}, "seed"), ({"seed": 2 ** 40}, "seed"),
    ({"learning_rate": float("nan")}, "learning_rate"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"readout": "nueron"}, "neuron"), ({"param": "mac0"}, "maco"), ({"crop_fraction": (0.9, 0.1)}, "crop_fraction"),
    ({"readout": "1,x"}, "readout"), ({"dtype": "float64"}, "dtype"),
    pytest.param({"canvas_size": 10 ** 6}, "canvas_size", marks=xf(SIZE_CAP)),
])
def test_api_sweep_config_rejects(fields, needle):
  from fcjax import sweep
  _raises_one_line(lambda: sweep.SweepConfig(**fields), needle)


@pytest.mark.parametrize("data, needles", [
    pytest.param({"stepz": 3}, ("did you mean 'steps'",), marks=xf(FIELD_TYPO), id="unknown-field"),
    pytest.param([1, 2], ("list",), marks=xf(FROM_DICT_TYPE), id="not-a-mapping"),
    pytest.param({"steps": True}, ("steps",), id="bool-for-int"),
])
def test_api_sweep_config_from_dict(data, needles):
  from fcjax import sweep
  _raises_one_line(lambda: sweep.SweepConfig.from_dict(data), *needles)


@pytest.mark.xfail(strict=True, reason=FIELD_TYPO)
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


def test_data_spec_typos_offer_the_closest_kind(fx):
  from fcjax import data
  _raises_one_line(lambda: data.from_spec(f"foldr:{fx['photos']}"), f"did you mean 'folder:{fx['photos']}'",
                   kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec("procedurl:8"), "did you mean 'procedural:8'", kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec(str(fx["photos"])), f"folder:{fx['photos']}", kind=errors.DatasetError)
  _raises_one_line(lambda: data.from_spec("folder"), "needs a value", kind=errors.DatasetError)


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
                 marks=xf(PARSER), id="sweep-units-not-numbers"),
])
def test_subprocess_exit_status(argv, needle, fx, case_dir):
  before = tree_digest(case_dir)
  proc = _subprocess(["-m", "fcjax.cli", *_argv(argv, case_dir, fx)], case_dir)
  error_line(proc.returncode, proc.stdout, proc.stderr, [needle])
  assert tree_digest(case_dir) == before
  assert not (fx["z"] / "PWNED").exists()


@pytest.mark.xfail(strict=True, reason="needs: fcjax/__main__.py (new): `from fcjax.cli import main; "
                                        "raise SystemExit(main())`, so `python -m fcjax` works like the fcjax script")
def test_python_dash_m_fcjax(case_dir):
  proc = _subprocess(["-m", "fcjax", "pairs", str(case_dir / "missing.npz"), "--layer", L], case_dir)
  error_line(proc.returncode, proc.stdout, proc.stderr, ["missing.npz"])


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


def test_decode_batches_skips_a_corrupt_file_but_not_a_bug(fx):
  from fcjax.data import pipeline, preprocess
  skipped = []
  good = (fx["photos"] / "train").glob("*/*.JPEG").__next__().read_bytes()
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
