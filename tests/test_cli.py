"""End-to-end tests of the ``fcjax`` command line, at smoke size on the CPU.

The pipeline test runs *the README's own commands* (the block marked ``<!-- tested: tests/test_cli.py -->``) in a
scratch folder that holds random-init InceptionV1 weights saved as Lucent's ``inception5h.pth`` and the shared sample
photos as ``images/``, then checks what they wrote: files that load, and a figure with the expected artists.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import shlex
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from fcjax import cli, experiment, plot, stats
from fcjax.models import inception_v1
from fcjax.result import SweepResult

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYER = "conv2d2_pre_relu"


def readme_commands(marker: str = "<!-- tested: tests/test_cli.py -->") -> list[list[str]]:
  """The ``fcjax ...`` lines of the README block that follows ``marker``, as argv lists (without 'fcjax')."""
  text = (ROOT / "README.md").read_text()
  assert marker in text, "README lost its tested command block"
  block = re.search(r"```bash\n(.*?)```", text[text.index(marker):], re.S).group(1)
  lines = [l.strip() for l in block.replace("\\\n", " ").splitlines() if l.strip().startswith("fcjax ")]
  return [shlex.split(l.split("#")[0])[1:] for l in lines]


def readme_main_demo_command() -> list[str]:
  text = (ROOT / "README.md").read_text()
  line = next(l for l in text.splitlines() if l.startswith("fcjax figure --model demo"))
  return shlex.split(line)[1:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, sample_images_dir):
  """A scratch folder with ``inception5h.pth`` (random weights, Lucent's format) and ``images/`` (the photos)."""
  from weights_conversion import lucent_pth
  d = tmp_path_factory.mktemp("cli")
  params = inception_v1.init_params(jax.random.key(7))
  lucent_pth.save(params, d / "inception5h.pth")
  os.symlink(sample_images_dir, d / "images")  # folder:images -> images/train/<synset>/*.JPEG
  return d


@pytest.fixture(scope="module")
def pipeline(workdir):
  """Run the README's tested commands in order; return their exit codes."""
  old = os.getcwd()
  os.chdir(workdir)
  try:
    codes = [(argv, cli.main(argv)) for argv in readme_commands()]
  finally:
    os.chdir(old)
  return codes


def test_readme_pipeline_exit_codes(pipeline):
  assert [a[0] for a, _ in pipeline] == ["weights", "stats", "pairs", "sweep", "plot"]
  for argv, code in pipeline:
    assert code == 0, f"fcjax {' '.join(argv)} exited {code}"


def test_readme_pipeline_outputs(pipeline, workdir):
  # converted weights load and equal what was saved
  params = inception_v1.load_params(str(workdir / "weights" / "inception5h"))
  ref = inception_v1.init_params(jax.random.key(7))
  np.testing.assert_array_equal(np.asarray(params["conv2d2"]["w"]), np.asarray(ref["conv2d2"]["w"]))

  st = stats.load(workdir / "stats.npz")
  ls = st.layers[LAYER]
  assert ls.corr.shape == (192, 192) and ls.count > 0
  i, j, r = ls.pairs["lowest"][0]
  assert r == pytest.approx(np.nanmin(ls.corr[np.triu_indices(192, 1)]), abs=1e-9)

  out = workdir / "runs" / "lowest"
  for name in ("result.json", "arrays.npz", "plot.png", "plot.svg", "measures.json", "result.csv"):
    assert (out / name).exists(), name
  res = SweepResult.load(out)
  assert tuple(int(u) for u in res.pairs[0]) == (int(i), int(j))
  assert res.layer == LAYER

  # the figure holds the expected elements: one thumbnail per other angle, a closed loop, the whole cloud
  fig = plot.combination_plot(res, 0, cloud=ls.samples[:, [i, j]], correlation=float(ls.corr[i, j]))
  n_angles = len(res.thetas)
  assert len(plot.artists(fig, "fc-thumb")) == math.ceil(n_angles / 2)
  (loop,) = plot.artists(fig, "fc-loop")
  assert len(loop.get_xdata()) == n_angles + 1
  (cloud,) = plot.artists(fig, "fc-cloud")
  assert len(cloud.get_offsets()) == np.isfinite(ls.samples[:, [i, j]]).all(axis=1).sum() == len(ls.samples)


def _run(argv, capsys):
  code = cli.main(argv)
  err = capsys.readouterr().err.strip().splitlines()
  return code, err


@pytest.mark.parametrize("argv, needle", [
    (["sweep", "--weights", "missing/inception5h.pth", "--layer", LAYER, "--units", "1", "2", "--out", "x"],
     "inception5h.pth"),
    (["sweep", "--weights", "random", "--layer", "conv2d2_pre_relx", "--units", "1", "2", "--out", "x"],
     "conv2d2_pre_relu"),
    (["sweep", "--weights", "random", "--layer", LAYER, "--units", "1", "192", "--out", "x"], "192"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  code, err = _run(argv, capsys)
  assert code == 2
  errors_ = [l for l in err if l.startswith("fcjax: error:")]
  assert len(errors_) == 1 and needle in errors_[0], err
  assert not any("Traceback" in l for l in err)


def test_parser_choices_and_settings_come_from_the_library(tmp_path):
  """--recipe, --readout and --size take the library's names and limit (one definition), and a command's settings
  are experiment.sweep_config's for the same inputs."""
  import argparse
  from fcjax import _readout, models, sweep
  parser = cli.build_parser()
  sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
  option = lambda command, flag: next(a for a in sub[command]._actions if flag in a.option_strings)  # noqa: E731
  for command in ("sweep", "figure", "atlas"):
    assert tuple(option(command, "--recipe").choices) == tuple(sweep.RECIPE_PARAMS)
  assert tuple(option("stats", "--readout").choices) == _readout.MODES
  assert option("stats", "--size").type(str(sweep.config.MAX_IMAGE_SIZE)) == sweep.config.MAX_IMAGE_SIZE
  with pytest.raises(argparse.ArgumentTypeError, match="at most"):
    option("stats", "--size").type(str(sweep.config.MAX_IMAGE_SIZE + 1))
  model = models.get("demo")
  (tmp_path / "c.json").write_text('{"seed": 2}')
  args = parser.parse_args(["sweep", "--layer", LAYER, "--units", "1", "2", "--out", "x", "--smoke", "--recipe", "maco",
                            "--config", str(tmp_path / "c.json"), "--set", "steps=3"])
  cfg = cli._sweep_config(args, model)
  assert cfg == experiment.sweep_config(
      model, smoke=True, recipe="maco", config_file=str(tmp_path / "c.json"), sets=["steps=3"])
  assert (cfg.steps, cfg.seed, cfg.param) == (3, 2, "maco")   # each layer of settings reached the config


def test_stats_file_for_another_layer_is_refused(pipeline, workdir, capsys, monkeypatch):
  monkeypatch.chdir(workdir)
  code, err = _run(["sweep", "--weights", "weights/inception5h", "--layer", "conv2d1_pre_relu", "--pick", "lowest",
                    "--stats", "stats.npz", "--out", "runs/other", "--smoke"], capsys)
  assert code == 2
  assert any("conv2d1_pre_relu" in l for l in err if l.startswith("fcjax: error:")), err


def test_post_relu_layer_warns_and_names_pre_relu(capsys):
  from fcjax import models
  cli._warn_post_relu(models.get("inceptionv1"), "conv2d2")
  err = capsys.readouterr().err
  assert "pre-ReLU" in err and "conv2d2_pre_relu" in err


def test_installed_entry_point_reports_bad_layer(tmp_path):
  """The console script (as users run it) exits 2 with one line, no traceback."""
  proc = subprocess.run([sys.executable, "-m", "fcjax.cli", "sweep", "--weights", "random", "--layer", "mixed9z",
                         "--units", "0", "1", "--out", str(tmp_path / "x")], capture_output=True, text=True,
                        cwd=ROOT, timeout=300)
  assert proc.returncode == 2, proc.stderr
  assert "mixed9z" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_main_job_offline(tmp_path, monkeypatch):
  """The README's first main-job command, at smoke size: the demo model's figure, offline."""
  monkeypatch.chdir(tmp_path)
  argv = readme_main_demo_command() + ["--smoke"]
  assert cli.main(argv) == 0
  out = tmp_path / argv[argv.index("--out") + 1]
  assert (out / "figure.png").exists() and (out / "summary.json").exists()
  import json
  summary = json.loads((out / "summary.json").read_text())
  assert len(summary) == 3  # highest, lowest, zero pair of the one layer
  from fcjax import measures
  for key, s in summary.items():
    verdicts = [s[f"verdict_{x}"] for x in measures.QUADRANTS]
    assert set(verdicts) <= set(measures.VERDICTS), (key, verdicts)
    for v in measures.VERDICTS:  # the quadrants grouped by verdict agree with the per-quadrant verdicts
      assert s[v] == [x for x in measures.QUADRANTS if s[f"verdict_{x}"] == v], (key, v)
    for x in measures.QUADRANTS:
      assert math.isfinite(s[f"corner_{x}"]) and math.isfinite(s[f"paper_rel_c_{x}"]), (key, x)
      assert f"q_{x}" in s
    assert len(s["units"]) == 2 and s["units"][0] != s["units"][1]


def test_readme_python_api_snippet(monkeypatch, tmp_path):
  """The README's Python example runs as written, with random weights and SweepConfig.smoke() for speed."""
  text = (ROOT / "README.md").read_text()
  code = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S).group(1)
  assert "sweep.SweepConfig()" in code and 'load_params("weights/inception5h")' in code
  code = code.replace("sweep.SweepConfig()", "sweep.SweepConfig.smoke()")
  monkeypatch.setattr(inception_v1, "load_params", lambda path: inception_v1.init_params(jax.random.key(3)))
  monkeypatch.chdir(tmp_path)
  scope: dict = {}
  exec(compile(code, "README.md", "exec"), scope)
  res = scope["result"]
  assert res.layer == "conv2d2_pre_relu" and tuple(res.pairs[0]) == (12, 47)
  assert np.isfinite(res.c).all()
  assert plot.artists(scope["fig"], "fc-loop")


def test_unprepared_tfds_dataset_says_how_to_prepare(capsys, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  code, err = _run(["stats", "--weights", "random", "--dataset", "tfds:imagenet2012/validation", "--data-dir",
                    str(tmp_path / "tfds"), "--layers", LAYER, "--out", "s.npz", "--smoke"], capsys)
  assert code == 2
  (line,) = [l for l in err if l.startswith("fcjax: error:")]
  assert "imagenet2012" in line and "manual" in line, line
  assert not (tmp_path / "s.npz").exists()


def test_sweep_and_stats_out_reuse_only_matching_inputs(capsys, tmp_path, monkeypatch):
  """``sweep --out`` / ``stats --out`` rerun: same inputs reuse (files untouched), other inputs recompute and say
  why in one line, ``--fresh`` recomputes (issue 11: no stale results)."""
  monkeypatch.chdir(tmp_path)
  tiny = ["--smoke", "--set", "n_angles=4", "--set", "n_seeds=1", "--set", "block_steps=2", "--set", "param=pixel",
          "--set", "transforms=none", "--format", "png"]
  sweep_argv = ["sweep", "--model", "demo", "--layer", "conv4_pre_relu", "--units", "1", "2", "--out", "run"] + tiny
  stats_argv = ["stats", "--model", "demo", "--dataset", "procedural:40", "--layers", "conv4_pre_relu", "--n", "16",
                "--batch-size", "8", "--out", "s.npz"]

  def run(argv):
    code, err = _run(argv, capsys)
    assert code == 0, err
    return [l for l in err if l.startswith("fcjax: ")]

  for argv, main in ((sweep_argv + ["--set", "steps=4"], tmp_path / "run" / "result.json"),
                     (stats_argv, tmp_path / "s.npz")):
    assert not any("reusing" in l or "recomputing" in l for l in run(argv))
    t0 = main.stat().st_mtime_ns
    lines = run(argv)
    assert any(l.startswith("fcjax: reusing") for l in lines), lines
    assert main.stat().st_mtime_ns == t0
    lines = run(argv + ["--fresh"])
    assert any(l.startswith("fcjax: recomputing") and "--fresh" in l for l in lines), lines
    assert main.stat().st_mtime_ns != t0

  lines = run(sweep_argv + ["--set", "steps=6"])
  assert any(l.startswith("fcjax: recomputing") and "config.steps: 4 -> 6" in l for l in lines), lines
  assert SweepResult.load(tmp_path / "run").config["steps"] == 6
  lines = run(stats_argv[:-4] + ["--n", "24"] + stats_argv[-4:])
  assert any(l.startswith("fcjax: recomputing") and "n: 16 -> 24" in l for l in lines), lines
  assert stats.load(tmp_path / "s.npz").meta["count"] == 24


def _free_port() -> int:
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_stats_over_two_processes_writes_once_and_matches_one(tmp_path):
  """``fcjax stats --coordinator --num-processes 2 --process-id I`` on two localhost processes: both exit 0, the
  stats file (written by process 0 only) equals a one-process run's to float64 rounding (issue 18 item 1)."""
  argv = ["-m", "fcjax", "stats", "--model", "demo", "--dataset", "procedural:16", "--layers", "conv4_pre_relu",
          "--batch-size", "8"]
  env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR"))}
  env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
  one = subprocess.run([sys.executable, *argv, "--out", "one.npz"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
  assert one.returncode == 0, one.stderr
  cluster = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2"]
  procs = [subprocess.Popen([sys.executable, *argv, "--out", "two.npz", *cluster, "--process-id", str(i)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err
  assert "wrote two.npz" in outs[0][0] and "wrote" not in outs[1][0]  # only the writer says it wrote
  a, b = stats.load(tmp_path / "one.npz"), stats.load(tmp_path / "two.npz")
  assert a.meta["count"] == b.meta["count"] == 16
  for name in ("mean", "std", "corr"):
    np.testing.assert_allclose(getattr(b.layers["conv4_pre_relu"], name), getattr(a.layers["conv4_pre_relu"], name),
                               rtol=1e-12, atol=1e-12)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["one.npz", "one.npz.inputs.json", "two.npz",
                                                         "two.npz.inputs.json"]


def test_a_triple_through_the_cli_writes_its_figure_page_and_octant_verdicts(capsys, tmp_path):
  """fcjax sweep --units I J K: the triple's sweep folder (figure, 3-D page, octant verdicts), and fcjax plot
  redraws it; --pick joint takes the triple of the joint rule from a stats file."""
  out = tmp_path / "t"
  base = ["sweep", "--model", "demo", "--layer", "conv4_pre_relu", "--smoke", "--set", "n_directions=8",
          "--set", "steps=4", "--set", "block_steps=4", "--format", "png"]
  code = cli.main(base + ["--units", "3", "7", "11", "--out", str(out)])
  cap = capsys.readouterr()
  text = cap.out
  assert code == 0, cap.err
  assert "units (3, 7, 11): 28 directions" in text and "+++ " in text
  summary = json.loads((out / "measures.json").read_text())
  assert summary["units"] == [3, 7, 11] and summary["octants"][0] == "+++" and len(summary["verdicts"]) == 8
  page = (out / "triple.html").read_text()
  assert "<canvas" in page and "http" not in page.replace("http://www.w3.org", "")
  assert (out / "plot.png").stat().st_size > 10_000
  (out / "plot.png").unlink()
  code = cli.main(["plot", str(out)])
  assert code == 0 and (out / "plot.png").is_file(), capsys.readouterr().err
  from atlas_case import model_params_stats
  from fcjax import stats
  _, _, st = model_params_stats()
  st.save(tmp_path / "stats.npz")
  want = stats.select_triples(st.layers["conv4_pre_relu"].corr, 1, st.layers["conv4_pre_relu"].dead)["joint"][0][:3]
  code = cli.main(base + ["--pick", "joint", "--stats", str(tmp_path / "stats.npz"), "--out", str(tmp_path / "j")])
  cap = capsys.readouterr()
  assert code == 0, cap.err
  assert json.loads((tmp_path / "j" / "measures.json").read_text())["units"] == list(want)
  summary = json.loads((tmp_path / "j" / "measures.json").read_text())
  assert summary["cloud_n"] > 0   # the stats' cloud is used
  for o in summary["octants"]:   # the printed lines say what measures.json says (the same cloud)
    assert f"{o} {summary[f'verdict_{o}']}" in cap.out, (o, cap.out)
