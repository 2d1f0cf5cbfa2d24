"""fcjax.distributed: argument checks, the share of work per process, the CLI flags, and the one-process set-up.

Several real processes are tested in tests/test_multiprocess.py; here everything runs in this process (where JAX is
already in use, so :func:`initialize` must refuse to set anything up) or in one fresh subprocess.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from conftest import ROOT
from fcjax import distributed, errors


@pytest.mark.parametrize("n", [0, 1, 5, 10, 13, 1000])
@pytest.mark.parametrize("p", [1, 2, 3, 4, 7])
def test_process_slice_tiles_the_items_in_order(n, p):
  shares = [distributed.process_slice(n, i, p) for i in range(p)]
  assert shares[0][0] == 0 and shares[-1][1] == n
  assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))  # contiguous, no gap, no overlap
  sizes = [stop - start for start, stop in shares]
  assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1
  covered = np.concatenate([np.arange(*s) for s in shares]) if n else np.zeros(0)
  np.testing.assert_array_equal(covered, np.arange(n))


def test_process_slice_known_values_and_defaults():
  assert [distributed.process_slice(10, i, 4) for i in range(4)] == [(0, 2), (2, 5), (5, 7), (7, 10)]
  assert distributed.process_slice(3, 2, 4) == (1, 2) and distributed.process_slice(3, 0, 4) == (0, 0)
  assert distributed.process_slice(7) == (0, 7)  # this process: 0 of 1


@pytest.mark.parametrize("args, match", [((-1, 0, 1), "n >= 0"), ((2.5, 0, 1), "n >= 0"), ((4, 2, 2), "0..1"),
                                         ((4, -1, 2), "process_id"), ((4, 0, 0), "num_processes"),
                                         ((True, 0, 1), "n >= 0")])
def test_process_slice_refuses_bad_arguments(args, match):
  with pytest.raises(errors.FcjaxError, match=match):
    distributed.process_slice(*args)


@pytest.mark.parametrize("address", ["127.0.0.1:1234", "node-0.cluster:65535", "[::1]:8476", "h:1"])
def test_parse_coordinator_accepts_host_port(address):
  assert distributed.parse_coordinator(address) == address


@pytest.mark.parametrize("address", ["127.0.0.1", ":1234", "h:0", "h:65536", "h:port", "h:", ""])
def test_parse_coordinator_refuses_other_text(address):
  with pytest.raises(errors.FcjaxError, match="HOST:PORT"):
    distributed.parse_coordinator(address)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_processes=0), "num_processes must be a positive integer"),
    (dict(num_processes=2, process_id=2), r"process_id must be in 0..1"),
    (dict(process_id=-1), "process_id must be an integer >= 0"),
    (dict(num_processes=True), "num_processes"),
    (dict(coordinator="nohost"), "HOST:PORT"),
    (dict(local_device_count=0), "local_device_count"),
    (dict(heartbeat_timeout=0), "heartbeat_timeout must"),
    (dict(initialization_timeout=2.5), "initialization_timeout"),
])
def test_initialize_checks_its_arguments_first(kwargs, match):
  with pytest.raises(errors.FcjaxError, match=match):
    distributed.initialize(**kwargs)


def test_initialize_refuses_once_jax_is_in_use():
  jax.devices()  # backends are initialised in this process now
  with pytest.raises(errors.FcjaxError, match="before any other JAX use"):
    distributed.initialize("127.0.0.1:1234", 2, 0)
  with pytest.raises(errors.FcjaxError, match="before any other JAX use"):
    distributed.initialize(local_device_count=2)
  # Nothing to set up: one process, as it already is.
  assert distributed.initialize() == distributed.Cluster(0, 1, None) == distributed.current()


def test_single_process_helpers():
  assert distributed.is_writer()
  distributed.barrier("nothing to wait for")
  x = {"a": np.float64(1) / 3, "b": np.arange(3.0)}
  (got,) = distributed.allgather_objects(x)
  assert got is x


def test_coordinator_probe_fails_with_a_reason_and_succeeds_when_listening():
  with socket.socket() as s:  # a port that nobody listens on (bound, not listening)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(errors.FcjaxError, match=rf"cannot reach the coordinator 127.0.0.1:{port} within 0.5 s"):
      distributed._wait_for_coordinator(f"127.0.0.1:{port}", 0.5)
    assert time.monotonic() - t0 < 10
    s.listen()
    distributed._wait_for_coordinator(f"127.0.0.1:{port}", 5)  # returns


def _parser():
  ap = argparse.ArgumentParser(prog="fcjax")
  distributed.add_cli_args(ap)
  return ap


def test_cli_flags_parse_and_default_to_none():
  a = _parser().parse_args(["--coordinator", "10.0.0.1:1234", "--num-processes", "2", "--process-id", "1"])
  assert (a.coordinator, a.num_processes, a.process_id) == ("10.0.0.1:1234", 2, 1)
  a = _parser().parse_args([])
  assert (a.coordinator, a.num_processes, a.process_id) == (None, None, None)
  assert distributed.from_args(a) == distributed.Cluster(0, 1, None)  # no flags: one process here
  assert "several hosts" in _parser().format_help()


@pytest.mark.parametrize("argv, match", [(["--coordinator", "10.0.0.1"], "HOST:PORT"),
                                         (["--num-processes", "0"], "positive integer"),
                                         (["--process-id", "-1"], "integer >= 0"),
                                         (["--process-id", "x"], "integer >= 0")])
def test_cli_flags_refuse_bad_values_in_one_line(argv, match, capsys):
  with pytest.raises(SystemExit) as e:
    _parser().parse_args(argv)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert match in err and "Traceback" not in err


def test_fresh_process_one_process_and_an_explicit_cluster_of_one():
  """In a fresh interpreter: no settings and no cluster -> one process, nothing initialised (and the CPU device
  count is applied); then a real jax.distributed cluster of one process, idempotent, refusing other settings."""
  script = textwrap.dedent("""
      import sys
      sys.path.insert(0, sys.argv[1])
      from fcjax import distributed
      c = distributed.initialize(local_device_count=3)
      import jax
      assert c == distributed.Cluster(0, 1, None), c
      assert not jax.distributed.is_initialized() and jax.device_count() == 3, jax.devices()
      assert jax.config.jax_cpu_collectives_implementation == "gloo"
      print("ONE-PROCESS OK")
  """)
  script2 = textwrap.dedent("""
      import socket, sys
      sys.path.insert(0, sys.argv[1])
      from fcjax import distributed, errors
      with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
      addr = f"127.0.0.1:{port}"
      c = distributed.initialize(addr, 1, 0, initialization_timeout=30, shutdown_timeout=5)
      import jax
      assert c == distributed.Cluster(0, 1, addr) and jax.distributed.is_initialized(), c
      assert distributed.initialize(addr, 1, 0) == c and distributed.initialize() == c
      try:
        distributed.initialize(addr, 2, 0)
        raise SystemExit("re-initialising with other settings was accepted")
      except errors.FcjaxError as e:
        assert "already initialised" in str(e), e
      assert distributed.allgather_objects([1.5]) == [[1.5]]
      print("CLUSTER-OF-ONE OK")
  """)
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR", "KUBERNETES_", "TPU_"))}  # no real cluster
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS="")
  for code, expect in ((script, "ONE-PROCESS OK"), (script2, "CLUSTER-OF-ONE OK")):
    r = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and expect in r.stdout, r.stdout + r.stderr
