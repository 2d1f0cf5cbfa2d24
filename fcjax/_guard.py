"""Guards of a run against faults that come from outside its arguments (issue 26): a second run on the same output,
and signals.

* :func:`out_lock`: an exclusive OS lock (``fcntl.flock``) on an output, held while a run writes it. The lock file is
  ``OUT/.fcjax.lock`` for a folder and ``OUT.lock`` beside a file; it records the holder (``pid@host``) and is removed
  when the run ends. The kernel drops the lock when its process dies, so a lock file left by a killed run blocks
  nothing. Only the writer process of a cluster (:func:`fcjax.distributed.is_writer`) takes it.
* :func:`interrupts`: SIGTERM (what SLURM, Kubernetes and ``timeout`` send) is handled like Ctrl-C: the first signal
  raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so the run stops at once and keeps its
  last checkpoint; a second signal ends the process at once, from a helper thread that sees it even while the main
  thread is inside a long XLA compilation (where Python defers its own handlers).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import os
import pathlib
import signal
import socket
import sys
import threading
import time
from typing import Callable, Iterator

from fcjax import errors

LOCK_NAME = ".fcjax.lock"  # the lock file inside a folder output
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as the shell reports it
_held: set[pathlib.Path] = set()  # the outputs this process holds (a run's nested outputs take no second lock)


def lock_path(out: str | os.PathLike, kind: str) -> pathlib.Path:
  """The lock file of the output ``out`` of ``kind`` 'dir' (``OUT/.fcjax.lock``) or 'file' (``OUT.lock``)."""
  out = pathlib.Path(out).absolute()
  return out / LOCK_NAME if kind == "dir" else out.with_name(out.name + ".lock")


def _holder(path: pathlib.Path) -> str:
  try:
    return path.read_text().strip() or "an unknown process"
  except OSError:
    return "an unknown process"


@contextlib.contextmanager
def out_lock(out: str | os.PathLike, kind: str, *, wait: bool = False,
             say: Callable[[str], None] = lambda msg: None) -> Iterator[None]:
  """Hold the lock of the output ``out`` ('dir' or 'file', :func:`lock_path`) while the block runs.

  The folders the lock file needs are created, and removed again at the end if the run left them empty (a run that
  stops on bad input writes nothing). Re-entrant: an output inside one this process holds takes no lock of its own
  (``figure`` holds its folder while it writes the statistics and sweeps in it).

  Raises:
    BusyError: another process holds it and not ``wait`` (one line naming the output and the holder); with ``wait``
      this blocks until the holder finishes, saying so through ``say`` once.
  """
  from fcjax import distributed  # noqa: PLC0415
  out = pathlib.Path(out).absolute()
  if not distributed.is_writer() or any(out == h or h in out.parents for h in _held):
    yield
    return
  path = lock_path(out, kind)
  made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
  path.parent.mkdir(parents=True, exist_ok=True)
  try:
    fd = _acquire(path, out, wait, say)
  except BaseException:
    _remove_empty(made)
    raise
  _held.add(out)
  try:
    yield
  finally:
    _held.discard(out)
    with contextlib.suppress(OSError):
      os.unlink(path)  # while still locked: a waiter then finds the file gone and retries on a new one
    os.close(fd)
    _remove_empty(made)


def _remove_empty(folders: list[pathlib.Path]) -> None:
  for p in folders:
    try:
      p.rmdir()
    except OSError:  # not empty (the run wrote there), or gone
      return


def _acquire(path: pathlib.Path, out: pathlib.Path, wait: bool, say: Callable[[str], None]) -> int:
  """The open, locked lock file ``path`` (holder recorded). Retries when the file it locked was removed meanwhile by
  the holder that just finished (flock locks an inode, not a name)."""
  told = False
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise
      holder = _holder(path)
      if not wait:
        raise errors.BusyError(f"{out} is being written by another fcjax run ({holder}, lock {path}); wait for it "
                               "to finish, or rerun with --wait") from None
      if not told:
        say(f"fcjax: waiting for {holder} to finish with {out}")
        told = True
      time.sleep(0.5)
      continue
    try:
      same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same = False
    if same:
      os.ftruncate(fd, 0)
      os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
      return fd
    os.close(fd)


class Interrupted(KeyboardInterrupt):
  """The run was stopped by a signal: ``signum`` (SIGINT or SIGTERM) and the process's exit status ``code``."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum
    self.code = EXIT_CODES.get(signum, 128 + signum)


def message(signum: int) -> str:
  """The one line printed when a run stops on ``signum``."""
  what = "interrupted" if signum == signal.SIGINT else f"terminated ({signal.Signals(signum).name})"
  return f"fcjax: {what}; rerun the same command to resume"


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
  """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while the block runs; a second one prints
  ``fcjax: interrupted again; stopped at once ...`` and ends the process with its exit status (``os._exit``:
  nothing more runs). Exactly one of the two lines is printed: once the block has ended, the second signal is left
  to the caller, who prints :func:`message`. Outside the main thread this does nothing (Python handles signals there
  only)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  state = {"resent": 0}  # signals sent again (below), which the watcher does not count

  def first(signum, frame):
    if _dropped_there(frame):  # raised here it would be printed and lost: send it again a moment later
      state["resent"] += 1
      threading.Timer(0.05, signal.pthread_kill, (threading.main_thread().ident, signum)).start()
      return
    raise Interrupted(signum)

  read, write = os.pipe()
  os.set_blocking(write, False)
  ending = threading.Lock()  # held by whoever ends the run on a signal: the watcher, or the caller after the block
  old = {s: signal.signal(s, first) for s in EXIT_CODES}
  old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
  watcher = threading.Thread(target=_second_signal_exits, args=(read, ending, state), name="fcjax-signals",
                             daemon=True)
  watcher.start()
  try:
    yield
  finally:
    if not ending.acquire(blocking=False):  # the watcher is ending the process this instant: print nothing more
      threading.Event().wait()
    signal.set_wakeup_fd(old_fd)
    for s, h in old.items():
      signal.signal(s, h)
    os.close(write)  # the watcher reads end-of-file and returns
    watcher.join()
    os.close(read)


def _dropped_there(frame) -> bool:
  """Whether an exception raised in ``frame`` would be printed and dropped by Python: inside a garbage-collector
  callback (JAX registers one) or a ``__del__`` method, at any depth."""
  callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
  while frame is not None:
    if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
      return True
    frame = frame.f_back
  return False


def _second_signal_exits(fd: int, ending: threading.Lock, state: dict) -> None:
  """Read the signal numbers that Python's C handler writes to the wakeup fd (at once, whatever the main thread is
  doing); at the second (``state['resent']``: deliveries again, not counted), end the process, unless the block has
  ended (``ending`` taken)."""
  seen = 0
  while True:
    data = os.read(fd, 64)
    if not data:
      return
    for signum in data:
      if signum in EXIT_CODES:
        seen += 1
        if seen - state["resent"] >= 2 and ending.acquire(blocking=False):
          os.write(2, b"\nfcjax: interrupted again; stopped at once (rerun the same command to resume)\n")
          os._exit(EXIT_CODES[signal.Signals(signum)])


class _OwnLines:
  """A ``sys.stderr`` that passes only fcjax's own lines (``fcjax: ...``, as ``print`` writes them) and drops the rest."""

  def __init__(self, real):
    self._real, self._open = real, False

  def write(self, text: str) -> int:
    if text.startswith("fcjax:") or (self._open and text == "\n"):
      self._open = not text.endswith("\n")
      return self._real.write(text)
    return len(text)

  def flush(self) -> None:
    self._real.flush()

  def __getattr__(self, name):
    return getattr(self._real, name)


_quiet = {"allowed": False}


@contextlib.contextmanager
def quiet_after_failure(restore: bool = True) -> Iterator[None]:
  """While the block runs (an ``fcjax`` command), :func:`own_lines_only` may filter stderr; restored after the block
  if ``restore`` (an in-process caller), else kept to the end (the program, which then exits)."""
  real = sys.stderr
  _quiet["allowed"] = True
  try:
    yield
  finally:
    _quiet["allowed"] = False
    if restore:
      sys.stderr = real


def own_lines_only() -> None:
  """From now until :func:`quiet_after_failure` ends, stderr passes only fcjax's own lines, and exceptions of
  background threads are not printed: for a failure already reported in one line whose dying writer threads would
  print tracebacks around it. Does nothing outside :func:`quiet_after_failure` (a library caller keeps its stderr)."""
  if _quiet["allowed"] and not isinstance(sys.stderr, _OwnLines):
    sys.stderr = _OwnLines(sys.stderr)
    threading.excepthook = lambda args: None
