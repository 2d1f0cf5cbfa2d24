"""Statistics over disjoint shards merged == statistics over the whole stream (fcjax.data.shard, fcjax.stats.merge).

One process here; tests/test_multiprocess.py runs the same through several jax.distributed processes. Reference:
the one-pass ``stats.compute`` over all images; tolerance float64 rounding (rtol 1e-12), the sample exactly equal.
"""

from __future__ import annotations

import numpy as np
import pytest

import fcjax
from fcjax import errors, stats

LAYERS = ("conv2_pre_relu", "conv4")


@pytest.fixture(scope="module")
def demo():
  model = fcjax.demo.MODEL
  return model, model.load_params()


def _compute(demo, source, **kw):
  model, params = demo
  return stats.compute(model, params, source, LAYERS, batch_size=4, n_samples=6, seed=3, k=3, **kw)


def _assert_equal(ref, got):
  assert got.meta["count"] == ref.meta["count"] and got.meta["skipped"] == ref.meta["skipped"]
  for name, r in ref.layers.items():
    g = got.layers[name]
    for k in ("mean", "std", "corr", "comoment"):
      y = getattr(r, k)
      np.testing.assert_allclose(getattr(g, k), y, rtol=1e-12, atol=1e-13 * np.nanmax(np.abs(y)), equal_nan=True)
    np.testing.assert_array_equal(g.sample_index, r.sample_index)
    np.testing.assert_array_equal(g.samples, r.samples)


def test_shard_keeps_global_positions():
  src = fcjax.data.procedural(11, seed=1)
  sh = fcjax.data.shard(src, 3, 8)
  assert len(sh) == 5 and sh.offset == 3 and sh.name == src.name
  idx = np.concatenate([b["index"] for b in sh.batches(2, 32)])
  np.testing.assert_array_equal(idx, np.arange(3, 8))
  np.testing.assert_array_equal(np.concatenate([b["index"] for b in sh.batches(2, 32, start=6)]), [6, 7])
  full = {int(i): im for b in src.batches(4, 32) for i, im in zip(b["index"], b["images"])}
  for b in sh.batches(3, 32):
    for i, im in zip(b["index"], b["images"]):
      np.testing.assert_array_equal(im, full[int(i)])
  with pytest.raises(errors.FcjaxError, match="not inside"):
    fcjax.data.shard(src, 5, 12)


@pytest.mark.parametrize("cuts", [(0, 13), (0, 5, 13), (0, 4, 9, 10, 13)])
def test_merged_shards_equal_one_pass(demo, cuts):
  src = fcjax.data.procedural(13, seed=2)
  ref = _compute(demo, src)
  parts = [_compute(demo, fcjax.data.shard(src, a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
  assert [p.meta["skipped"] for p in parts] == [0] * len(parts)  # a shard counts no positions before it as skipped
  merged = stats.merge(parts)
  _assert_equal(ref, merged)
  assert merged.meta["n_parts"] == len(parts) and merged.meta["dataset"] == ref.meta["dataset"]


def test_shard_resumes_from_its_own_state(demo, tmp_path):
  src = fcjax.data.procedural(14, seed=4)
  sh = fcjax.data.shard(src, 4, 14)  # 3 batches of 4
  ref = _compute(demo, sh)
  state = tmp_path / "s.npz"

  class Stop(Exception):
    pass

  class Interrupting:  # the shard, interrupted after its first batch
    name, offset, skipped = sh.name, sh.offset, 0

    def __len__(self):
      return len(sh)

    def batches(self, batch_size, size, *, start=0):
      for t, b in enumerate(sh.batches(batch_size, size, start=start)):
        if t == 2:
          raise Stop
        yield b

  with pytest.raises(Stop):
    _compute(demo, Interrupting(), state_path=state, checkpoint_every=1)
  assert state.exists()  # the first batch was absorbed and saved
  _assert_equal(ref, _compute(demo, sh, state_path=state))


def test_merge_refuses_mismatched_or_overlapping_parts(demo):
  src = fcjax.data.procedural(8, seed=5)
  a = _compute(demo, fcjax.data.shard(src, 0, 4))
  model, params = demo
  other = stats.compute(model, params, fcjax.data.shard(src, 4, 8), LAYERS, batch_size=4, n_samples=6, seed=9, k=3)
  with pytest.raises(errors.ConfigMismatchError, match="seed"):
    stats.merge([a, other])
  with pytest.raises(errors.ConfigMismatchError, match="overlap"):
    stats.merge([a, a])
  with pytest.raises(errors.FcjaxError):
    stats.merge([])
