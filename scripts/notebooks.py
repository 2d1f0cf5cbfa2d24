"""Execute the notebooks of ``examples/`` (a python3 kernel of this environment) and save them with their outputs.

The notebooks are committed with their outputs, so that GitHub shows the figures; this script is how those outputs
are made, and ``tests/test_notebooks.py`` runs the same :func:`execute` to check that they still come from the code::

    python scripts/notebooks.py                 # execute all three, rewrite them with fresh outputs
    python scripts/notebooks.py 01_quickstart   # one of them

Each runs in ``examples/`` (as Jupyter runs it) in a fresh kernel that imports fcjax from this checkout, with its
outputs (``FCJAX_NOTEBOOK_OUT``) in a temporary folder, never in the repository, and the third one with
``FCJAX_NOTEBOOK_SMOKE=1`` (random weights, tiny settings: the CPU run). About 3 minutes for all three on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ("01_quickstart", "02_your_own_network", "03_paper_figure_inceptionv1")
SMOKE_ENV = {"03_paper_figure_inceptionv1": {"FCJAX_NOTEBOOK_SMOKE": "1"}}  # the CPU / random-weights switch
# Inherited settings that would make the kernel differ from a user's: the test suite's simulated CPU devices (the
# device count is printed and shards the sweeps) and a non-inline matplotlib backend (no figures in the outputs).
_DROP_ENV = ("XLA_FLAGS", "MPLBACKEND")


def path_of(name: str) -> pathlib.Path:
  return EXAMPLES / f"{name}.ipynb"


def kernel_env(name: str, out: str | os.PathLike, extra: dict | None = None) -> dict:
  """The kernel's environment: this one, fcjax imported from this checkout, outputs into ``out``, the notebook's
  switch (:data:`SMOKE_ENV`) and ``extra``."""
  env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
  env.update(FCJAX_NOTEBOOK_OUT=str(out), JAX_PLATFORMS=env.get("JAX_PLATFORMS", "cpu"), **SMOKE_ENV.get(name, {}),
             **(extra or {}))
  return env


def execute(name: str, out: str | os.PathLike, *, timeout: int = 600, extra_env: dict | None = None):
  """Run notebook ``name`` top to bottom in a fresh kernel; ``(notebook with outputs, seconds)``.

  Raises nbclient's ``CellExecutionError`` on the first cell that fails, ``CellTimeoutError`` on a cell that runs
  longer than ``timeout`` seconds.
  """
  import nbclient
  import nbformat
  nb = nbformat.read(path_of(name), as_version=4)
  client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                   resources={"metadata": {"path": str(EXAMPLES)}})
  start = time.perf_counter()
  client.execute(env=kernel_env(name, out, extra_env))
  return nb, time.perf_counter() - start


def structure(nb) -> list[tuple[str, ...]]:
  """Per code cell, the kinds of its outputs in order: 'stream:stdout', 'display_data:image/png', 'error', ...
  (stderr is left out: warnings depend on the machine; repeats of a kind count once). Numbers, text and pictures
  may differ between runs; this may not."""
  cells = []
  for cell in nb.cells:
    if cell.cell_type != "code":
      continue
    kinds: list[str] = []
    for o in cell.get("outputs", []):
      if o.output_type == "stream":
        kind = "" if o.name == "stderr" else "stream:stdout"
      elif o.output_type in ("display_data", "execute_result"):
        rich = [m for m in o.get("data", {}) if m != "text/plain"]
        kind = f"{o.output_type}:{','.join(sorted(rich)) or 'text/plain'}"
      else:
        kind = o.output_type
      if kind and (not kinds or kinds[-1] != kind):
        kinds.append(kind)
    cells.append(tuple(kinds))
  return cells


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("names", nargs="*", default=list(NOTEBOOKS), help=f"notebooks to run (default: {NOTEBOOKS})")
  args = ap.parse_args(argv)
  import nbformat
  for name in args.names:
    with tempfile.TemporaryDirectory() as out:
      nb, seconds = execute(name, out)
    nbformat.write(nb, path_of(name))
    size = path_of(name).stat().st_size
    print(f"{path_of(name).relative_to(ROOT)}: {seconds:.0f} s, {size / 1e3:.0f} kB")
  return 0


if __name__ == "__main__":
  sys.exit(main())
