"""One process of a multi-process fcjax run, launched by ``tests/test_multiprocess.py`` (N copies on localhost).

Usage::

    python tests/multiprocess_worker.py --out DIR [--coordinator 127.0.0.1:PORT --num-processes N --process-id I]
        [--local-devices D] [--sweep [--sweep-model demo]] [--stats FOLDER] [--atlas] [--resume-dir DIR] [--pause-at PHASE,BLOCK,PROCESS]

Every process runs the same jobs; what it did goes to ``DIR/report-<I>.json`` (its own file), including every file
it wrote under ``DIR`` as seen by a Python audit hook (:class:`WriteAudit`). Jobs:

* ``--sweep``: a smoke cosdot sweep of 4 pairs of toy features (``tests/toy_features.py``; ``--sweep-model demo``:
  2 pairs of the demo model's conv3, MACO images) over the global device mesh (``fcjax.sweep.run``); process 0
  writes ``DIR/sweep/`` (``SweepResult.save``). With ``--resume-dir`` the
  state is checkpointed after every block (orbax, collectively); ``--pause-at`` makes one process stop for a minute
  after that block's checkpoint (so that the test can SIGKILL it there).
* ``--atlas``: a smoke atlas of the demo model (3 pairs in 2 chunks, ``tests/atlas_case.py``); process 0 writes
  ``DIR/atlas/`` (table, chunks, report).
* ``--stats FOLDER``: statistics of two layers of the demo model over the photos of an image folder
  (``fcjax.stats.compute``: process p reads only its share of the images, ``fcjax.data.shard``; the parts are
  gathered exactly and merged, ``fcjax.stats.merge``); process 0 writes ``DIR/stats.npz``.

Without ``--coordinator`` it is a one-process run (the reference the test compares with).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # toy_features
sys.path.insert(0, str(HERE.parent))  # fcjax of this tree

from fcjax import distributed  # noqa: E402  (imports no JAX backend)

STATS_LAYERS = ("conv2_pre_relu", "conv4")
SWEEP_PAIRS = [(0, 1), (2, 3), (0, 2), (1, 3)]


def sweep_config():
  from fcjax import sweep  # noqa: PLC0415
  import toy_features as toys  # noqa: PLC0415
  return sweep.SweepConfig(param="pixel", transforms="none", canvas_size=toys.SIZE, input_size=toys.SIZE,
                           optimizer="adam", learning_rate=0.1, steps=6, block_steps=2, n_angles=4, n_seeds=2,
                           relu="plain")


class WriteAudit:
  """Every file this process creates or writes under ``root``, seen by a Python audit hook (``open`` with a write
  flag, and the destination of ``os.rename`` / ``os.replace``) -- independent of what the code under test says it
  does. Writes from C++ (orbax's tensorstore array data) are not seen."""

  WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

  def __init__(self, root: pathlib.Path):
    self.roots = {os.path.abspath(root), os.path.realpath(root)}  # as given, and with symbolic links resolved
    self.paths: set[str] = set()
    sys.addaudithook(self._hook)

  def _add(self, path) -> None:
    if isinstance(path, (str, bytes, os.PathLike)):
      p = os.path.abspath(os.fsdecode(path))
      for root in self.roots:
        if p.startswith(root + os.sep):
          self.paths.add(os.path.relpath(p, root))

  def _hook(self, event: str, args: tuple) -> None:
    try:
      if event == "open" and len(args) >= 3 and isinstance(args[2], int) and args[2] & self.WRITE:
        self._add(args[0])
      elif event == "os.rename":
        self._add(args[1])
    except Exception:  # noqa: BLE001 - an audit hook must never break the program it watches
      pass


# --------------------------------------------------------------------------------------------------- the jobs

def run_sweep(out: pathlib.Path, resume_dir: str | None, pause_at: tuple[int, int, int] | None,
              model: str) -> dict:
  import jax  # noqa: PLC0415
  import fcjax  # noqa: PLC0415
  from fcjax import sweep  # noqa: PLC0415
  import toy_features as toys  # noqa: PLC0415

  if model == "demo":  # the shipped demo model, MACO images, tiny settings
    target = dict(model_or_fn=fcjax.demo.MODEL, params=fcjax.demo.MODEL.load_params(), layer="conv3",
                  config=sweep.SweepConfig.smoke(canvas_size=32, input_size=32, n_angles=4, steps=4, block_steps=2),
                  pairs=[(0, 1), (2, 3)])
  else:  # toy features (tests/toy_features.py), sigmoid pixels
    comb = toys.combined(toys.line(a=2.0), toys.disc(r=1.5))
    target = dict(model_or_fn=comb.f, params=comb.params, config=sweep_config(), pairs=SWEEP_PAIRS)
  progress_file = out / f"progress-{jax.process_index()}.txt"

  def callback(info):
    progress_file.write_text(f"{info['phase']},{info['block']}\n")  # this process's own file
    if pause_at is not None and pause_at[:2] == (info["phase"], info["block"]) and jax.process_index() == pause_at[2]:
      time.sleep(60)  # the test SIGKILLs this process here

  result = sweep.run(**target, resume_dir=resume_dir, callback=callback)
  if distributed.is_writer():
    result.save(out / "sweep")
  distributed.barrier("sweep saved")
  return {"resumed_from": result.meta["resumed_from"], "n_devices": result.meta["n_devices"],
          "process_count": result.meta["process_count"]}


def run_stats(out: pathlib.Path, folder: str) -> dict:
  import fcjax  # noqa: PLC0415
  from fcjax import stats  # noqa: PLC0415

  model = fcjax.demo.MODEL
  params = model.load_params()
  source = fcjax.data.folder(folder)
  # the library shards over the processes itself: each reads its share, all get the merged result
  result = stats.compute(model, params, source, STATS_LAYERS, batch_size=4, n_samples=5, seed=0, k=3)
  if distributed.is_writer():
    result.save(out / "stats.npz")
  distributed.barrier("stats saved")
  return {"shard": list(distributed.process_slice(len(source))), "count": result.meta["count"]}


def run_atlas(out: pathlib.Path) -> dict:
  """A smoke atlas of the demo model (tests/atlas_case.py's tiny protocol and pairs, 2 chunks): every process screens,
  process 0 writes ``DIR/atlas/``. Its statistics come from ``stats.compute`` over procedural images, sharded too."""
  import atlas_case  # noqa: PLC0415  (tests/ is on sys.path)

  atl = atlas_case.build(out / "atlas", plots=False)
  return {"rows": len(atl.rows)}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  distributed.add_cli_args(ap)
  ap.add_argument("--local-devices", type=int, default=1)
  ap.add_argument("--heartbeat-timeout", type=int, default=None)
  ap.add_argument("--out", required=True)
  ap.add_argument("--sweep", action="store_true")
  ap.add_argument("--sweep-model", choices=("toy", "demo"), default="toy")
  ap.add_argument("--stats", default=None, metavar="FOLDER")
  ap.add_argument("--atlas", action="store_true")
  ap.add_argument("--resume-dir", default=None)
  ap.add_argument("--pause-at", default=None, metavar="PHASE,BLOCK,PROCESS")
  args = ap.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  audit = WriteAudit(out)
  cluster = distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                                   local_device_count=args.local_devices, initialization_timeout=60,
                                   heartbeat_timeout=args.heartbeat_timeout, shutdown_timeout=30)
  import jax  # noqa: PLC0415
  jax.config.update("jax_compilation_cache_dir", os.environ.get("FCJAX_TEST_CACHE", str(HERE.parent / ".jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  report = {"process_id": cluster.process_id, "num_processes": cluster.num_processes,
            "local_devices": jax.local_device_count(), "global_devices": jax.device_count()}
  if args.sweep:
    pause = tuple(int(v) for v in args.pause_at.split(",")) if args.pause_at else None
    report["sweep"] = run_sweep(out, args.resume_dir, pause, args.sweep_model)
  if args.stats:
    report["stats"] = run_stats(out, args.stats)
  if args.atlas:
    report["atlas"] = run_atlas(out)
  report["written"] = sorted(audit.paths)  # before this report itself
  (out / f"report-{cluster.process_id}.json").write_text(json.dumps(report))
  return 0


if __name__ == "__main__":
  from fcjax import errors
  try:
    sys.exit(main())
  except errors.FcjaxError as e:  # bad input: one line, as the CLI does
    print(f"worker: error: {e}", file=sys.stderr)
    sys.exit(2)
