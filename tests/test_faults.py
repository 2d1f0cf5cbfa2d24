"""Faults from outside the arguments, on real ``fcjax`` processes (issue 26): signals, a second run, a full disk.

Each case runs ``python -m fcjax sweep`` (the demo model at a tiny size) as a subprocess and checks the contract of
the README's "Errors and exit codes": the documented exit status, exactly one ``fcjax:`` line for the fault on stderr
(progress bars aside), no traceback, and that the rerun of the same command equals a clean run bit for bit.

* SIGTERM mid-sweep: 143, ``fcjax: terminated (SIGTERM); ...``, the checkpoint kept; the rerun resumes.
* SIGINT during compilation: 130, no crash in JAX's shutdown (it used to exit 139); twice in a row: 130 at once.
* Two runs on one ``--out``: the second exits 2 at once naming the folder and the holder's pid; ``--wait`` waits.
* A full disk (a 200 kB tmpfs, where the test may mount one; skipped otherwise): 74, one line naming the path and
  the cause; after making room the rerun resumes and equals the clean run.

About 1.5 minutes on 2 CPU cores (each process compiles the tiny sweep once, from the persistent compilation cache).
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SWEEP = ["sweep", "--model", "demo", "--layer", "conv4_pre_relu", "--units", "1", "2", "--smoke", "--format", "png",
         "--set", "n_angles=2", "--set", "n_seeds=1", "--set", "steps=4", "--set", "block_steps=1"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu",
       "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache"))}
TIMEOUT = 120


def start(out: pathlib.Path, *extra: str) -> subprocess.Popen:
  """``python -m fcjax sweep ... --out OUT`` in the background; its stderr goes to a file of its own (``p.err``)."""
  err = out.parent.parent / f"{out.name}.{time.monotonic_ns()}.err"  # outside OUT's file system (a full one)
  with open(err, "wb") as f:
    p = subprocess.Popen([sys.executable, "-m", "fcjax", *SWEEP, "--out", str(out), *extra], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=f)
  p.err = err
  return p


def finish(p: subprocess.Popen) -> int:
  return p.wait(timeout=TIMEOUT)


def lines(p: subprocess.Popen) -> list[str]:
  """The ``fcjax:`` lines of a run's stderr (progress bars dropped); asserts there is no traceback."""
  text = p.err.read_text(errors="replace")
  assert "Traceback" not in text and "Exception ignored" not in text, text[-3000:]
  return re.findall(r"fcjax: [^\r\n]*", text)  # a line may follow a progress bar's last state on its line


def run(out: pathlib.Path, *extra: str) -> subprocess.Popen:
  """Run to the end; returns the finished process (``returncode``, ``err``)."""
  p = start(out, *extra)
  finish(p)
  return p


def until(cond, what: str, p: subprocess.Popen | None = None, timeout: float = TIMEOUT) -> None:
  t0 = time.monotonic()
  while not cond():
    assert p is None or p.poll() is None, f"the run ended before {what}"
    assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
    time.sleep(0.02)


def steps(out: pathlib.Path) -> list[int]:
  """The finished checkpoint steps of a sweep folder."""
  d = out / "checkpoint" / "checkpoints"
  return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


def arrays(out: pathlib.Path) -> dict:
  with np.load(out / "arrays.npz") as z:
    return {k: z[k] for k in z.files}


def assert_same(a: pathlib.Path, b: pathlib.Path) -> None:
  x, y = arrays(a), arrays(b)
  assert x.keys() == y.keys()
  for k in x:
    np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("faults") / "clean"
  p = run(out)
  assert p.returncode == 0, lines(p)
  return out


def test_sigterm_mid_sweep_keeps_the_checkpoint_and_the_rerun_resumes(tmp_path, clean):
  out = tmp_path / "s"
  p = start(out)
  until(lambda: steps(out), "the first checkpoint", p)
  p.send_signal(signal.SIGTERM)
  assert finish(p) == 143
  assert lines(p) == ["fcjax: terminated (SIGTERM); rerun the same command to resume"]
  assert steps(out) and not (out / "result.json").exists()
  again = run(out)
  assert again.returncode == 0, lines(again)
  assert_same(out, clean)


@pytest.mark.parametrize("times", [1, 2])
def test_sigint_during_compilation_exits_130_without_a_crash(tmp_path, clean, times):
  out = tmp_path / "s"
  p = start(out)
  until(lambda: (out / "checkpoint" / "sweep.json").exists(), "the compilation", p)  # written just before it
  for _ in range(times):
    p.send_signal(signal.SIGINT)
    time.sleep(0.02)
  assert finish(p) == 130  # not 139 (a segmentation fault in JAX's shutdown)
  said = lines(p)
  assert len(said) == 1 and said[0].startswith("fcjax: interrupted"), said
  again = run(out)
  assert again.returncode == 0, lines(again)
  assert_same(out, clean)


def test_a_second_run_on_the_same_out_stops_at_once_or_waits(tmp_path, clean):
  out = tmp_path / "s"
  first = start(out)
  until(lambda: (out / ".fcjax.lock").exists(), "the first run's lock", first)
  t0 = time.monotonic()
  second = run(out)
  assert second.returncode == 2
  assert time.monotonic() - t0 < 30  # at once: no compilation, no waiting
  said = lines(second)
  assert len(said) == 1 and said[0].startswith("fcjax: error:"), said
  assert str(out) in said[0] and f"pid {first.pid}" in said[0] and "--wait" in said[0]
  waiting = start(out, "--wait")
  assert finish(first) == 0
  assert finish(waiting) == 0
  said = lines(waiting)
  assert any("waiting for" in l for l in said) and any("reusing" in l for l in said), said
  assert not (out / ".fcjax.lock").exists()  # removed when the run ends
  assert_same(out, clean)


def test_a_full_disk_is_one_line_and_the_rerun_resumes(tmp_path, clean):
  mnt = tmp_path / "small"
  mnt.mkdir()
  made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True)
  if made.returncode != 0:
    pytest.skip(f"cannot mount a small tmpfs here to fill ({made.stderr.decode().strip()}); the in-process "
                "ENOSPC test of tests/test_faults_files.py covers the message")
  try:
    out = mnt / "s"
    full = run(out)
    assert full.returncode == 74
    said = lines(full)
    assert len(said) == 1 and said[0].startswith("fcjax: error: cannot write"), said
    assert str(out) in said[0] and "No space left on device" in said[0]
    assert not (out / "result.json").exists() and not (out / "inputs.json").exists()  # nothing claims to be done
    subprocess.run(["mount", "-o", "remount,size=20m", str(mnt)], check=True)
    again = run(out)
    assert again.returncode == 0, lines(again)
    assert_same(out, clean)
  finally:
    subprocess.run(["umount", str(mnt)], check=False)
