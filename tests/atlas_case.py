"""A tiny atlas for the atlas tests: the demo model (shipped weights), statistics of 200 procedural images, and a
protocol of 8 angles x 1 seed x 4 steps (the mechanics, not the science: verdicts at 4 steps mean nothing)."""

from __future__ import annotations

import functools

LAYER = "conv4_pre_relu"
PAIRS = [(3, 7), (3, 12), (7, 40)]  # 4 distinct units, 2 chunks of 2 (the last one padded)
TINY = dict(n_angles=8, n_seeds=1, steps=4, block_steps=2)


@functools.lru_cache(maxsize=1)
def model_params_stats():
  """(model, params, StatsResult of LAYER over 200 procedural images), computed once per process."""
  from fcjax import data, experiment, stats
  model, params, _ = experiment.load_model("demo", None)
  st = stats.compute(model, params, data.from_spec("procedural:200"), [LAYER], input_size=64, batch_size=50,
                     n_samples=200)
  return model, params, st


def config(**changes):
  from fcjax import atlas
  model, _, _ = model_params_stats()
  return atlas.screen_config(model, **{**TINY, **changes})


def build(out, *, pairs=PAIRS, chunk_pairs=2, **kw):
  """Screen ``pairs`` into ``out`` with the tiny protocol; returns the Atlas."""
  from fcjax import atlas
  model, params, st = model_params_stats()
  return atlas.screen(model, params, layer=LAYER, stats=st, out=out, pairs=pairs, config=kw.pop("config", config()),
                      chunk_pairs=chunk_pairs, weights_label="demo:shipped", **kw)


# ------------------------------------------------------------------------------------------------ triples (k = 3)
TRIPLES = [(3, 7, 12), (3, 12, 40), (7, 12, 40)]  # 4 distinct units, 2 chunks of 2 (the last one padded)
TINY3 = dict(n_directions=8, n_seeds=1, steps=4, block_steps=4)  # 8 + 20 diagonal directions x 1 seed x 4 steps


def triple_config(**changes):
  from fcjax import atlas
  model, _, _ = model_params_stats()
  return atlas.screen_config(model, k=3, **{**TINY3, **changes})


@functools.lru_cache(maxsize=1)
def triple_atlas():
  """(Atlas of TRIPLES screened with TINY3 in chunks of 2, the callbacks it made): built once per process (for
  test_atlas_triples and its browser test) in a temporary folder removed at exit. Tests that change it copy it."""
  import atexit
  import pathlib
  import shutil
  import tempfile
  root = pathlib.Path(tempfile.mkdtemp(prefix="fcjax_atlas3_"))
  atexit.register(shutil.rmtree, root, True)
  calls = []
  return build(root / "atlas", pairs=TRIPLES, k=3, config=triple_config(), callback=calls.append), calls
