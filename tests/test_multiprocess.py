"""Several processes as one JAX cluster, for real: 2 and 4 CPU processes on localhost (issue 18).

Each test launches ``tests/multiprocess_worker.py`` N times as subprocesses (``jax.distributed`` with a coordinator
on 127.0.0.1 and a free port, gloo CPU collectives, ``JAX_PLATFORMS=cpu``, a hard timeout per process) and compares
what they wrote with a one-process run of the same jobs:

* the sweep (4 pairs of toy features, sharded over the global device mesh): bitwise equal to one process with the
  same number of devices in total (1 process x 2 devices vs 2 processes x 1 device; 1 x 4 vs 4 x 1). The
  per-device batch is then the same, and fcjax.sweep's "Reproducibility" guarantee is bitwise for the same
  per-device layout; a different total device count would only agree within seed noise.
* the statistics of the demo model on 10 shared photos, each process reading a disjoint shard, moments merged with
  Chan et al.'s update: equal to the one-process statistics to float64 rounding (rtol 1e-12); the bottom-k sample
  (which images, and their float32 activation vectors) exactly equal.
* a smoke atlas (3 pairs of the demo model in 2 chunks; its statistics sharded as well): the same table, byte for
  byte, and bitwise equal chunk arrays.
* exactly one process (process 0) writes each output file, and no file is written by two processes: every write
  is recorded by a Python audit hook in each process (``open`` for writing, ``os.replace``).
* a process SIGKILLed mid-run makes the other stop with JAX's error naming the dead task (heartbeat timeout 10 s,
  or gloo's closed connection) within the timeout, not hang; the same command then resumes from the last checkpoint
  (orbax, written collectively) and gives the uninterrupted result bitwise.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, copy_photos
from fcjax import stats
from fcjax.result import SweepResult

WORKER = pathlib.Path(__file__).resolve().parent / "multiprocess_worker.py"
TIMEOUT_S = 120  # per process
SWEEP_ARRAYS = ("scales", "unit_values", "unit_images", "y", "c", "images", "history")
# Settings that would make a subprocess join some real cluster (JAX's auto-detection) instead of the test's.
_CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_COORDINATOR_PORT", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_NTASKS",
                "OMPI_MCA_orte_hnp_uri", "PMIX_RANK", "KUBERNETES_SERVICE_HOST", "TPU_WORKER_HOSTNAMES")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in _CLUSTER_ENV}
  env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
             CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
             FCJAX_TEST_CACHE=os.environ.get("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache")))
  return env


_RUNNING: list = []  # every worker started, so that a failing test leaves none behind


@pytest.fixture(autouse=True)
def _no_leftover_processes():
  yield
  while _RUNNING:
    proc = _RUNNING.pop()
    if proc.poll() is None:
      proc.kill()
      proc.wait()


class Run:
  """N worker processes writing into ``out``; their stdout+stderr go to ``out/../logs``."""

  def __init__(self, out: pathlib.Path, n: int, devices: int, *args: str, heartbeat: int = 30):
    self.out, self.n = out, n
    logs = out.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    self.logs = [logs / f"{out.name}-{p}-{time.monotonic_ns()}.log" for p in range(n)]
    self.procs = []
    for p in range(n):
      cmd = [sys.executable, str(WORKER), "--out", str(out), "--local-devices", str(devices), *args]
      if n > 1:
        cmd += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n), "--process-id", str(p),
                "--heartbeat-timeout", str(heartbeat)]
      with open(self.logs[p], "wb") as log:
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(devices),
                                           cwd=ROOT))
    _RUNNING.extend(self.procs)
    self.t0 = time.monotonic()

  def log(self, p: int) -> str:
    return self.logs[p].read_text(errors="replace")

  def wait(self, timeout: float = TIMEOUT_S) -> list[int]:
    """Exit codes; a process still running after ``timeout`` s (from the start) is killed and the test fails."""
    codes = []
    for p, proc in enumerate(self.procs):
      try:
        codes.append(proc.wait(timeout=max(0.1, timeout - (time.monotonic() - self.t0))))
      except subprocess.TimeoutExpired:
        pytest.fail(f"process {p} of {self.n} still running after {timeout} s (hung); log:\n{self.log(p)[-3000:]}")
    return codes

  def check(self) -> list[dict]:
    """Wait for a clean exit of every process; their reports."""
    for p, code in enumerate(self.wait()):
      assert code == 0, f"process {p} of {self.n} exited with {code}; log:\n{self.log(p)[-4000:]}"
    return [json.loads((self.out / f"report-{p}.json").read_text()) for p in range(self.n)]


def _check_writers(reports: list[dict], outputs: set[str]) -> None:
  """Each file written by one process only; ``outputs`` by process 0; other processes only their own progress."""
  owner: dict[str, int] = {}
  for r in reports:
    for f in r["written"]:
      assert f not in owner, f"{f} written by processes {owner[f]} and {r['process_id']}"
      owner[f] = r["process_id"]
  for f in outputs:
    assert owner.get(f) == 0, f"{f}: written by {owner.get(f, 'nobody')}, expected process 0 only"
  for f, p in owner.items():
    if p != 0:
      assert f == f"progress-{p}.txt", f"process {p} wrote {f}; only process 0 writes shared files"


def _assert_sweep_equal(a: pathlib.Path, b: pathlib.Path) -> None:
  ra, rb = SweepResult.load(a), SweepResult.load(b)
  for k in SWEEP_ARRAYS:
    np.testing.assert_array_equal(getattr(rb, k), getattr(ra, k), err_msg=f"sweep {k} differs")


def _assert_stats_equal(ref: stats.StatsResult, got: stats.StatsResult) -> None:
  assert got.meta["count"] == ref.meta["count"] and got.meta["skipped"] == ref.meta["skipped"] == 0
  assert list(got.layers) == list(ref.layers)
  for name, r in ref.layers.items():
    g = got.layers[name]
    assert g.count == r.count
    np.testing.assert_array_equal(g.dead, r.dead)
    for k in ("mean", "std", "corr", "comoment"):
      x, y = getattr(g, k), getattr(r, k)
      scale = np.nanmax(np.abs(y))  # float64 rounding of sums of this size
      np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13 * scale, equal_nan=True, err_msg=f"{name} {k}")
    np.testing.assert_array_equal(g.sample_index, r.sample_index)
    np.testing.assert_array_equal(g.samples, r.samples)
    for kind in stats.PAIR_KINDS:  # the same correlations selected; pairs tied to rounding may swap places
      np.testing.assert_allclose([p[2] for p in g.pairs[kind]], [p[2] for p in r.pairs[kind]], rtol=1e-12)
      for i, j, c in g.pairs[kind]:
        assert abs(r.corr[i, j] - c) <= 1e-12, (name, kind, i, j)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> pathlib.Path:
  return tmp_path_factory.mktemp("multiprocess")


@pytest.fixture(scope="module")
def photos(work, sample_images_dir) -> pathlib.Path:
  return copy_photos(sample_images_dir, work / "photos", n=10, n_labels=3)


@pytest.fixture(scope="module")
def reference(work, photos) -> pathlib.Path:
  """One process with 2 CPU devices: the sweep and the statistics."""
  out = work / "ref-1x2"
  (report,) = Run(out, 1, 2, "--sweep", "--stats", str(photos), "--atlas").check()
  assert (report["num_processes"], report["global_devices"]) == (1, 2)
  return out


def test_two_processes_equal_one_process(work, photos, reference):
  out = work / "mp-2x1"
  reports = Run(out, 2, 1, "--sweep", "--stats", str(photos), "--atlas").check()
  assert [(r["process_id"], r["num_processes"], r["local_devices"], r["global_devices"]) for r in reports] == \
      [(0, 2, 1, 2), (1, 2, 1, 2)]
  assert [r["stats"]["shard"] for r in reports] == [[0, 5], [5, 10]]  # disjoint shards covering the folder
  _assert_sweep_equal(reference / "sweep", out / "sweep")
  _assert_stats_equal(stats.load(reference / "stats.npz"), stats.load(out / "stats.npz"))
  # the atlas: the same table (its statistics sharded too, its sweeps over the global mesh), chunk arrays bitwise
  assert (out / "atlas" / "table.csv").read_bytes() == (reference / "atlas" / "table.csv").read_bytes()
  for chunk in ("0000", "0001"):
    _assert_sweep_equal(reference / "atlas" / "chunks" / chunk, out / "atlas" / "chunks" / chunk)
  _check_writers(reports, {"sweep/arrays.npz", "sweep/result.json", "stats.npz", "atlas/table.csv",
                           "atlas/index.html", "atlas/chunks/0000/arrays.npz"})


def test_four_processes_equal_one_process(work, photos, reference):
  ref4 = work / "ref-1x4"
  Run(ref4, 1, 4, "--sweep").check()
  out = work / "mp-4x1"
  reports = Run(out, 4, 1, "--sweep", "--stats", str(photos)).check()
  assert {r["global_devices"] for r in reports} == {4}
  assert [r["stats"]["shard"] for r in reports] == [[0, 2], [2, 5], [5, 7], [7, 10]]
  _assert_sweep_equal(ref4 / "sweep", out / "sweep")
  _assert_stats_equal(stats.load(reference / "stats.npz"), stats.load(out / "stats.npz"))
  _check_writers(reports, {"sweep/arrays.npz", "sweep/result.json", "stats.npz"})


def test_killed_process_stops_the_other_and_the_rerun_resumes(work, reference):
  out = work / "kill-2x1"
  resume = out / "resume"
  args = ("--sweep", "--resume-dir", str(resume))
  run = Run(out, 2, 1, *args, "--pause-at", "1,2,1", heartbeat=10)  # process 1 stops after phase 1, block 2
  marker = out / "progress-1.txt"
  while not (marker.exists() and marker.read_text().strip() == "1,2"):
    assert time.monotonic() - run.t0 < TIMEOUT_S, f"process 1 never reached block 2; log:\n{run.log(1)[-3000:]}"
    assert run.procs[1].poll() is None, f"process 1 exited early; log:\n{run.log(1)[-3000:]}"
    time.sleep(0.2)
  run.procs[1].send_signal(signal.SIGKILL)
  t_kill = time.monotonic()
  codes = run.wait()
  assert codes[1] == -signal.SIGKILL
  assert codes[0] != 0, "process 0 finished although its peer was killed"
  assert time.monotonic() - t_kill < 60, "process 0 took more than 60 s to notice"
  log0 = run.log(0)
  assert any(s in log0 for s in ("stopped sending heartbeats", "another task died", "Connection closed by peer")), \
      f"process 0 gave no clear reason; log:\n{log0[-3000:]}"
  assert not (out / "sweep").exists()

  reports = Run(out, 2, 1, *args).check()  # the same command again
  assert [r["sweep"]["resumed_from"] for r in reports] == [{"phase": 1, "block": 2}] * 2
  _assert_sweep_equal(reference / "sweep", out / "sweep")
  _check_writers(reports, {"sweep/arrays.npz", "sweep/result.json"})
