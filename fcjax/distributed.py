"""Several processes (hosts) as one JAX runtime: the set-up of ``jax.distributed`` and the few helpers fcjax needs.

A multi-process run starts the same program on every host; each process calls :func:`initialize` before anything
else touches JAX, after which ``jax.devices()`` lists the devices of every process and a program jitted over a mesh
of them runs on all hosts at once (JAX's multi-controller model: there is no scheduler of ours). Three ways in:

* explicit settings -- ``initialize('10.0.0.1:1234', num_processes=2, process_id=0)`` on the first host and
  ``process_id=1`` on the second (the CLI's ``--coordinator HOST:PORT --num-processes N --process-id I``);
* nothing on a managed cluster -- on a Cloud TPU slice, a SLURM job (``srun``), Open MPI or Kubernetes JAX reads the
  settings from the environment (``jax.distributed.initialize()`` auto-detection);
* nothing elsewhere -- no cluster is configured: one process, nothing is initialised.

On CPU the processes exchange data with gloo over TCP (``jax_cpu_collectives_implementation``), which is how the
tests run several processes on one machine (``tests/test_multiprocess.py``).

Helpers: :func:`is_writer` (exactly one process, process 0, writes each output file), :func:`barrier` (every process
waits for the others), :func:`write_once` (the writer writes, every process waits for it), :func:`process_slice`
(this process's contiguous share of n items, e.g. dataset images), :func:`allgather_objects` (exact host values
from every process: pickled bytes, so float64 arrays survive without ``jax_enable_x64``), and :func:`add_cli_args` /
:func:`from_args` for the command line.

Failure: a process that dies (killed, out of memory, a lost host) stops sending heartbeats; after
``heartbeat_timeout`` seconds (JAX's default: 100) the coordination service declares it dead and terminates the
others with an error naming the missing task, so no process waits forever in a collective. Resume with the same
command (``resume_dir`` / ``state_path`` on a file system every host shares).
"""

from __future__ import annotations

import argparse
import logging
import pickle
import socket
import time
from typing import Any, Callable, NamedTuple

from fcjax import errors

log = logging.getLogger("fcjax.distributed")

# The message jax.distributed.initialize() raises when auto-detection found no cluster (jax 0.4 - 0.10).
_NO_CLUSTER = "coordinator_address should be defined"


class Cluster(NamedTuple):
  """Where this process stands: ``process_id`` in ``[0, num_processes)``; ``coordinator`` 'HOST:PORT' (None: one
  process, jax.distributed not initialised)."""

  process_id: int
  num_processes: int
  coordinator: str | None


def parse_coordinator(address: str) -> str:
  """Check a coordinator address ``HOST:PORT`` (IPv6 as ``[::1]:PORT``); returns it unchanged."""
  host, sep, port = str(address).rpartition(":")
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise errors.FcjaxError(f"coordinator address must be HOST:PORT with a port in 1..65535, got {address!r} "
                            "(e.g. 10.0.0.1:1234: the first host's address and a free port)")
  return str(address)


def _wait_for_coordinator(address: str, timeout: float) -> None:
  """Return once a TCP connection to ``address`` succeeds; FcjaxError after ``timeout`` s.

  Processes other than 0 probe the coordinator before ``jax.distributed.initialize``: JAX aborts the whole process
  (no Python exception) when it cannot register within its timeout, which would leave a stack trace, not a reason.
  """
  host, _, port = address.rpartition(":")
  host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
  deadline = time.monotonic() + timeout
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=min(2.0, max(0.1, timeout))):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise errors.FcjaxError(f"cannot reach the coordinator {address} within {timeout:g} s ({e.strerror or e}): "
                                "start process 0 (it serves there), check the address, the port and the firewall, "
                                "and that every process uses the same --coordinator") from None
      time.sleep(0.25)


def _is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _check_counts(num_processes: int | None, process_id: int | None) -> None:
  if num_processes is not None and not (_is_int(num_processes) and num_processes >= 1):
    raise errors.FcjaxError(f"num_processes must be a positive integer, got {num_processes!r}")
  if process_id is not None and not (_is_int(process_id) and process_id >= 0):
    raise errors.FcjaxError(f"process_id must be an integer >= 0, got {process_id!r}")
  if num_processes is not None and process_id is not None and process_id >= num_processes:
    raise errors.FcjaxError(f"process_id must be in 0..{num_processes - 1} for num_processes={num_processes}, got "
                            f"{process_id}")


def _backends_initialized() -> bool:
  try:
    from jax._src import xla_bridge  # noqa: PLC0415 - no public equivalent in jax 0.10
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):  # a JAX without it: jax.distributed.initialize itself refuses
    return False


def current() -> Cluster:
  """The cluster this process belongs to (one process when jax.distributed is not initialised)."""
  import jax  # noqa: PLC0415
  if not jax.distributed.is_initialized():
    return Cluster(0, 1, None)
  try:
    from jax._src import distributed as jd  # noqa: PLC0415 - the coordinator address is not public API
    address = jd.global_state.coordinator_address
  except (ImportError, AttributeError):
    address = "?"
  return Cluster(jax.process_index(), jax.process_count(), address)


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None, *,
               local_device_count: int | None = None, initialization_timeout: int | None = None,
               heartbeat_timeout: int | None = None, shutdown_timeout: int | None = None) -> Cluster:
  """Join this process to a JAX cluster; must run before any other JAX use.

  Args:
    coordinator: 'HOST:PORT' of process 0 (it serves there; every process connects to it).
    num_processes: how many processes take part.
    process_id: this process's index, 0..num_processes-1.
      With none of the three, JAX's auto-detection runs (Cloud TPU slice, SLURM, Open MPI, Kubernetes); where it
      finds no cluster, this stays one process and nothing is initialised. Partial settings are completed by the
      auto-detection (e.g. only ``coordinator`` in a SLURM job).
    local_device_count: CPU only: how many CPU devices this process simulates (``jax_num_cpu_devices``; tests).
    initialization_timeout: seconds to wait for every process to connect (JAX's default 300).
    heartbeat_timeout: seconds without a heartbeat after which a process counts as dead and the others are
      stopped (JAX's default 100).
    shutdown_timeout: seconds a finishing process waits for the others at exit (JAX's default 300).

  Returns:
    :class:`Cluster` of this process. Calling it again with the same (or no) settings returns the same.

  Raises:
    FcjaxError: bad settings, JAX already in use (backends initialised) when something must be set up, a cluster
      that cannot be formed (one line naming what to check).
  """
  import jax  # noqa: PLC0415 - importing jax does not initialise its backends

  if coordinator is not None:
    parse_coordinator(coordinator)
  _check_counts(num_processes, process_id)
  if local_device_count is not None and not (_is_int(local_device_count) and local_device_count >= 1):
    raise errors.FcjaxError(f"local_device_count must be a positive integer, got {local_device_count!r}")
  timeouts = {}  # jax.distributed.initialize's names
  for name, jax_name, v in (("initialization_timeout", "initialization_timeout", initialization_timeout),
                            ("heartbeat_timeout", "heartbeat_timeout_seconds", heartbeat_timeout),
                            ("shutdown_timeout", "shutdown_timeout_seconds", shutdown_timeout)):
    if v is not None:
      if not (_is_int(v) and v >= 1):
        raise errors.FcjaxError(f"{name} must be a positive integer number of seconds, got {v!r}")
      timeouts[jax_name] = v
  explicit = (coordinator, num_processes, process_id) != (None, None, None)
  if jax.distributed.is_initialized():
    now = current()
    wanted = (process_id, num_processes, coordinator)
    if any(w is not None and w != h for w, h in zip(wanted, now)):
      raise errors.FcjaxError(f"jax.distributed is already initialised as process {now.process_id} of "
                              f"{now.num_processes} (coordinator {now.coordinator}); it cannot be re-initialised "
                              "with other settings in the same process")
    return now
  if _backends_initialized():
    if explicit or local_device_count is not None:
      raise errors.FcjaxError("fcjax.distributed.initialize must run before any other JAX use, but JAX backends are "
                              "already initialised in this process: call it first (before creating arrays, jit or "
                              "jax.devices()), or pass the cluster flags to the fcjax command")
    log.debug("JAX backends already initialised: no cluster auto-detection, one process")
    return Cluster(jax.process_index(), jax.process_count(), None)

  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU-only setting; GPUs and TPUs use their own
  if local_device_count is not None:
    jax.config.update("jax_num_cpu_devices", local_device_count)
  if coordinator is not None and process_id not in (None, 0):
    _wait_for_coordinator(coordinator, timeouts.get("initialization_timeout", 300))
  try:
    jax.distributed.initialize(coordinator, num_processes, process_id, **timeouts)
  except ValueError as e:
    if not explicit and _NO_CLUSTER in str(e):
      log.debug("no cluster configured: one process")
      return Cluster(0, 1, None)
    raise errors.FcjaxError(f"cannot set up the cluster: {e} (give --coordinator, --num-processes and --process-id "
                            "together, or none on a TPU slice / SLURM job)") from None
  except RuntimeError as e:  # e.g. the coordinator is unreachable (initialization_timeout) or a port in use
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise errors.FcjaxError(f"cannot join the cluster at {coordinator or 'the auto-detected coordinator'}: {first} "
                            "(check that process 0 runs, the address and port are reachable, and every process "
                            "uses the same --num-processes)") from None
  cluster = current()
  log.info("process %d of %d, coordinator %s, %d local / %d global devices", cluster.process_id,
           cluster.num_processes, cluster.coordinator, jax.local_device_count(), jax.device_count())
  return cluster


# ------------------------------------------------------------------------------------------------ helpers

def is_writer() -> bool:
  """True in exactly one process (process 0): the one that writes each output file."""
  import jax  # noqa: PLC0415
  return jax.process_index() == 0


def is_non_writer() -> bool:
  """True in a process of an initialised multi-process run other than process 0 (it writes no files). Unlike
  ``not is_writer()`` it never starts JAX's backends: False whenever ``jax.distributed`` is not initialised."""
  import sys  # noqa: PLC0415
  jax = sys.modules.get("jax")
  return jax is not None and jax.distributed.is_initialized() and jax.process_index() != 0


def barrier(name: str) -> None:
  """Wait until every process has reached ``barrier(name)`` (the same name everywhere); no-op in one process."""
  import jax  # noqa: PLC0415
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # noqa: PLC0415
    multihost_utils.sync_global_devices(name)


def write_once(name: str, write: Callable[[], Any]) -> None:
  """Run ``write()`` in the writer process only, then let every process wait for it (``barrier(name)``): no file is
  written twice and every process reads what the writer finished."""
  if is_writer():
    write()
  barrier(name)


def process_slice(n: int, process_id: int | None = None, num_processes: int | None = None) -> tuple[int, int]:
  """``(start, stop)``: this process's contiguous share of ``n`` items (shares differ in size by at most 1).

  The shares of processes 0..P-1 tile ``[0, n)`` in order. ``process_id`` / ``num_processes`` default to this
  process's (``jax.process_index()`` / ``jax.process_count()``).
  """
  if not _is_int(n) or n < 0:
    raise errors.FcjaxError(f"process_slice needs a count n >= 0, got {n!r}")
  if process_id is None or num_processes is None:
    import jax  # noqa: PLC0415
    process_id = jax.process_index() if process_id is None else process_id
    num_processes = jax.process_count() if num_processes is None else num_processes
  _check_counts(num_processes, process_id)
  return n * process_id // num_processes, n * (process_id + 1) // num_processes


def allgather_objects(obj: Any) -> list:
  """``obj`` of every process, in process order (``[obj]`` in one process).

  Exact for any picklable value (NumPy float64 arrays included, which ``multihost_utils.process_allgather`` would
  round to float32 without ``jax_enable_x64``): the pickled bytes travel as uint8. Every process must call it. Only
  for values from the same program (unpickling runs code).
  """
  import jax  # noqa: PLC0415
  import numpy as np  # noqa: PLC0415
  if jax.process_count() == 1:
    return [obj]
  from jax.experimental import multihost_utils  # noqa: PLC0415
  data = np.frombuffer(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(np.array([data.size], np.int32))).reshape(-1)
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  rows = np.asarray(multihost_utils.process_allgather(padded))  # [P, max size]
  return [pickle.loads(rows[p, :int(sizes[p])].tobytes()) for p in range(len(sizes))]


# ------------------------------------------------------------------------------------------------ command line

def _positive(text: str) -> int:
  try:
    v = int(text)
  except ValueError:
    v = 0
  if v < 1:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
  return v


def _non_negative(text: str) -> int:
  try:
    v = int(text)
  except ValueError:
    v = -1
  if v < 0:
    raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
  return v


def _address(text: str) -> str:
  try:
    return parse_coordinator(text)
  except errors.FcjaxError as e:
    raise argparse.ArgumentTypeError(str(e)) from None


def add_cli_args(parser: argparse.ArgumentParser) -> None:
  """Add ``--coordinator HOST:PORT --num-processes N --process-id I`` (an argument group 'several hosts')."""
  g = parser.add_argument_group("several hosts", "run the same command on every host (jax.distributed); leave "
                                "these out on a TPU slice or in a SLURM job (auto-detected) and on one machine")
  g.add_argument("--coordinator", type=_address, default=None, metavar="HOST:PORT",
                 help="address of process 0 and a free port, the same on every host")
  g.add_argument("--num-processes", type=_positive, default=None, metavar="N", help="how many processes take part")
  g.add_argument("--process-id", type=_non_negative, default=None, metavar="I", help="this process, 0..N-1")


def from_args(args: argparse.Namespace) -> Cluster:
  """:func:`initialize` with the settings of :func:`add_cli_args` (call before any other JAX use)."""
  return initialize(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
                    getattr(args, "process_id", None))
