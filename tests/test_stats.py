"""Tests of fcjax.stats: streaming statistics against a direct two-pass NumPy computation, resume, pair selection.

The real-photo tests run InceptionV1 with random weights (seed 0) truncated at ``conv2d2_pre_relu`` on the 1000
images of ``imagenet-sample-256`` at 64 px; the reference is NumPy's two-pass ``corrcoef`` of the activations of the
same images computed by a separate ``jit`` of ``model.apply``. Everything else uses a tiny toy model on a handful of
images. Runtime: about 40 s on 2 loaded cores (most of it the four passes over the 1000 photos).
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import copy_photos

import fcjax.data
from fcjax import _io, errors, stats
from fcjax.stats import forward as stats_forward
from fcjax.models import Layer, from_apply

SIZE = 64  # px: conv2d2 is 16 x 16
LAYER = "conv2d2_pre_relu"
CORR_TOL = 1e-6  # the bound on max |corr - reference|


# --- models and data --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inception():
  from fcjax.models import inception_v1
  return inception_v1.MODEL, inception_v1.init_params(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def photos(sample_images_dir):
  return fcjax.data.folder(sample_images_dir, "train")


@pytest.fixture(scope="module")
def reference(inception, photos):
  """Readout vectors of every photo, from a separate jit of model.apply, and their two-pass NumPy statistics."""
  model, params = inception
  f = jax.jit(lambda p, x: model.apply(p, x, layers=(LAYER,))[LAYER])
  neuron, channel, index = [], [], []
  for batch in photos.batches(100, SIZE):
    acts = np.asarray(f(params, batch["images"]))  # float32 [B, 16, 16, 192]
    h, w = acts.shape[1:3]
    neuron.append(acts[:, h // 2, w // 2, :].astype(np.float64))
    channel.append(acts.astype(np.float64).mean(axis=(1, 2)))
    index.append(batch["index"])
  out = {}
  for name, vecs in (("neuron", np.concatenate(neuron)), ("channel", np.concatenate(channel))):
    out[name] = {"x": vecs, "mean": vecs.mean(0), "std": vecs.std(0), "corr": np.corrcoef(vecs, rowvar=False)}
  out["index"] = np.concatenate(index)
  assert len(out["index"]) == 1000
  return out


def _toy_apply(params, images, layers=("conv2",), dtype=jnp.float32, relu=jax.nn.relu):
  dn = ("NHWC", "HWIO", "NHWC")
  c1 = jax.lax.conv_general_dilated(images.astype(dtype), params["w1"], (2, 2), "SAME", dimension_numbers=dn)
  c1 = c1 + params["b1"]
  c2 = jax.lax.conv_general_dilated(relu(c1), params["w2"], (2, 2), "SAME", dimension_numbers=dn) + params["b2"]
  acts = {"conv1": c1, "conv2": c2}
  return {n: acts[n].astype(jnp.float32) for n in layers}


def _toy_init(seed):
  """Toy parameters from NumPy (no JAX random ops to compile)."""
  rng = np.random.default_rng(seed)
  w2 = rng.normal(size=(3, 3, 8, 6)).astype(np.float32) * 0.3
  w2[..., 5] = 0.0  # channel 5 of conv2 is constant (its bias): a dead unit
  return {"w1": rng.normal(size=(3, 3, 3, 8)).astype(np.float32) * 0.5, "b1": np.zeros(8, np.float32),
          "w2": w2, "b2": np.arange(6, dtype=np.float32)}


TOY = from_apply("toy", _toy_apply, (Layer("conv1", 8, stride=2, min_size=2), Layer("conv2", 6, stride=4, min_size=4)),
                 input_size=16, init_params=_toy_init)


@pytest.fixture(scope="module")
def toy():
  return TOY, TOY.init_params(1)


@pytest.fixture(scope="module")
def few_photos(sample_images_dir, tmp_path_factory):
  """12 photos in 3 label folders (copies), as a small image folder."""
  root = copy_photos(sample_images_dir, tmp_path_factory.mktemp("few") / "ds", n=12, n_labels=3, label="label")
  return fcjax.data.folder(root)


class Interrupting:
  """A source that raises KeyboardInterrupt after ``after`` batches (a user pressing Ctrl-C)."""

  def __init__(self, source, after):
    self.source, self.after = source, after
    self.name, self.skipped = source.name, 0

  def __len__(self):
    return len(self.source)

  def batches(self, batch_size, size, *, start=0):
    for t, batch in enumerate(self.source.batches(batch_size, size, start=start)):
      if t == self.after:
        raise KeyboardInterrupt
      yield batch


def _brute_pairs(corr, dead, k):
  """All pairs (i < j, live) sorted by plain Python: the independent reference of select_pairs."""
  c = corr.shape[0]
  allp = [(i, j, corr[i, j]) for i in range(c) for j in range(i + 1, c) if not dead[i] and not dead[j]]
  return {"highest": [p[:2] for p in sorted(allp, key=lambda p: -p[2])[:k]],
          "lowest": [p[:2] for p in sorted(allp, key=lambda p: p[2])[:k]],
          "zero": [p[:2] for p in sorted(allp, key=lambda p: abs(p[2]))[:k]]}


def _check_against(ls, ref, index):
  assert ls.count == 1000
  assert not ls.dead.any()
  assert np.max(np.abs(ls.corr - ref["corr"])) < CORR_TOL
  np.testing.assert_allclose(ls.mean, ref["mean"], rtol=1e-5, atol=1e-5 * np.abs(ref["mean"]).max())
  np.testing.assert_allclose(ls.std, ref["std"], rtol=1e-5)
  # samples are the activation vectors of the images they name
  rows = np.searchsorted(index, ls.sample_index)
  np.testing.assert_allclose(ls.samples, ref["x"][rows], rtol=1e-5, atol=1e-5 * np.abs(ref["x"]).max())
  # pair selection equals a brute-force sort of the reference correlations, up to near-ties at the 1e-6 level
  brute = _brute_pairs(ref["corr"], np.zeros(len(ls.mean), bool), len(ls.pairs["highest"]))
  for kind in stats.PAIR_KINDS:
    got = [(i, j) for i, j, _ in ls.pairs[kind]]
    assert got[0] == brute[kind][0], kind
    for (i, j), (_, _, r) in zip(got, ls.pairs[kind]):
      assert abs(r - ref["corr"][i, j]) < CORR_TOL


# --- real photos, InceptionV1 -------------------------------------------------------------------------------------

def test_both_readouts_match_two_pass_numpy_also_after_interrupt_and_resume(inception, photos, reference, tmp_path):
  """One test (not two) so that pytest-xdist computes the 1000-photo reference once."""
  model, params = inception
  # neuron readout, one uninterrupted pass, batch 64 (split over the 4 simulated devices)
  res = stats.compute(model, params, photos, [LAYER], readout="neuron", input_size=SIZE, batch_size=64,
                      n_samples=1000, k=5)
  ls = res.layers[LAYER]
  _check_against(ls, reference["neuron"], reference["index"])
  assert len(ls.samples) == 1000  # n_samples >= dataset: every image
  assert res.meta["count"] == 1000 and res.meta["readout"] == "neuron" and res.meta["input_size"] == SIZE
  assert res.meta["weights_digest"] == _io.tree_digest(params)

  # channel readout: interrupted (Ctrl-C) at batch size 50 (2 devices), resumed at batch size 64 (4 devices)
  state = tmp_path / "state.npz"
  kw = dict(readout="channel", input_size=SIZE, n_samples=100, k=5, state_path=state, checkpoint_every=100)
  with pytest.raises(KeyboardInterrupt):
    stats.compute(model, params, Interrupting(photos, after=7), [LAYER], batch_size=50, **kw)
  saved = np.load(state)
  header = json.loads(saved["header"].tobytes().decode())
  assert header["count"] == 300  # 6 batches absorbed (the 7th was in flight), saved on the interrupt
  res = stats.compute(model, params, photos, [LAYER], batch_size=64, **kw)
  ls = res.layers[LAYER]
  _check_against(ls, reference["channel"], reference["index"])
  # the bottom-k sample of the resumed run: the 100 images of smallest priority among all 1000
  expected = np.sort(np.argsort(stats.sample_priority(np.arange(1000), 0), kind="stable")[:100])
  np.testing.assert_array_equal(ls.sample_index, expected)
  # the finished state makes a rerun return at once with the same numbers
  again = stats.compute(model, params, photos, [LAYER], batch_size=64, **kw)
  np.testing.assert_array_equal(again.layers[LAYER].corr, ls.corr)


def test_unknown_layer_and_small_input_are_refused_before_anything_runs(photos):
  from fcjax.models import inception_v1
  model = inception_v1.MODEL  # params None: the checks come before the weights are even looked at
  with pytest.raises(errors.UnknownLayerError, match="conv2d2_pre_relu"):
    stats.compute(model, None, photos, ["conv2d2_prerelu"], input_size=SIZE)
  with pytest.raises(errors.InputSizeError):
    stats.compute(model, None, photos, ["mixed5b"], input_size=16)


# --- synthetic and toy --------------------------------------------------------------------------------------------

def test_pair_selection_finds_planted_extremes():
  rng = np.random.default_rng(1)
  n, c = 20000, 8
  x = rng.normal(size=(n, c))  # independent channels: |r| ~ 1/sqrt(n) ~ 0.007
  z1, z2 = rng.normal(size=(2, n))
  x[:, 2] = z1 + 0.3 * rng.normal(size=n)
  x[:, 5] = z1 + 0.3 * rng.normal(size=n)  # r(2, 5) ~ +0.92: the highest
  x[:, 1] = z2 + 0.5 * rng.normal(size=n)
  x[:, 3] = -z2 + 0.5 * rng.normal(size=n)  # r(1, 3) ~ -0.8: the lowest
  x[:, 4] -= x[:, 4].mean()
  x[:, 0] -= x[:, 0].mean()
  x[:, 4] -= x[:, 0] * (x[:, 0] @ x[:, 4]) / (x[:, 0] @ x[:, 0])  # r(0, 4) = 0 exactly: the closest to zero
  x[:, 7] = 3.0  # a dead unit
  m = stats.moments_init(c)
  for t in range(0, n, 999):
    m = stats.moments_update(m, x[t:t + 999])
  _, _, corr, dead = stats.moments_finalize(m)
  assert dead.tolist() == [False] * 7 + [True]
  assert np.isnan(corr[7]).all() and np.isnan(corr[:, 7]).all()
  pairs = stats.select_pairs(corr, k=3, dead=dead)
  assert pairs["highest"][0][:2] == (2, 5) and pairs["highest"][0][2] > 0.9
  assert pairs["lowest"][0][:2] == (1, 3) and pairs["lowest"][0][2] < -0.75
  assert pairs["zero"][0][:2] == (0, 4) and abs(pairs["zero"][0][2]) < 1e-10
  assert all(7 not in p[:2] for kind in pairs.values() for p in kind)
  assert pairs == {kind: [(i, j, corr[i, j]) for i, j in v] for kind, v in _brute_pairs(corr, dead, 3).items()}


def test_toy_model_two_layers_dead_unit_save_load(toy, few_photos, tmp_path):
  model, params = toy
  res = stats.compute(model, params, few_photos, ["conv2", "conv1"], readout="channel", batch_size=5, k=2,
                      n_samples=4, seed=3)
  assert list(res.layers) == ["conv2", "conv1"]
  c2 = res.layers["conv2"]
  assert c2.dead.tolist() == [False] * 5 + [True]
  assert np.isnan(c2.corr[5, :5]).all() and c2.std[5] == 0
  assert all(5 not in p[:2] for kind in c2.pairs.values() for p in kind)
  # one pass, both layers: each equals a direct computation on all 12 images
  images = np.concatenate([b["images"] for b in few_photos.batches(12, 16)])
  acts = model.apply(params, images, layers=("conv1", "conv2"))
  for name in ("conv1", "conv2"):
    v = np.asarray(acts[name], np.float64).mean(axis=(1, 2))
    live = ~res.layers[name].dead
    assert np.max(np.abs(res.layers[name].corr[np.ix_(live, live)] - np.corrcoef(v[:, live], rowvar=False))) < 1e-6
    assert len(res.layers[name].samples) == 4
  # save, load, compare
  path = res.save(tmp_path / "toy.stats.npz")
  back = stats.load(path)
  assert back.meta == json.loads(json.dumps(res.meta))
  for name, ls in res.layers.items():
    lb = back.layers[name]
    for field in ("mean", "std", "corr", "dead", "samples", "sample_index", "comoment"):
      np.testing.assert_array_equal(getattr(lb, field), getattr(ls, field))
    assert lb.pairs == ls.pairs and lb.count == ls.count == 12
  back.check_compatible(model=model, layer="conv1", readout="channel", input_size=16,
                        weights_digest=_io.tree_digest(params))
  with pytest.raises(errors.ConfigMismatchError, match="readout"):
    back.check_compatible(model=model, layer="conv1", readout="neuron", input_size=16)
  with pytest.raises(errors.ConfigMismatchError, match="input size"):
    back.check_compatible(input_size=32)
  with pytest.raises(errors.ConfigMismatchError, match="layer"):
    back.check_compatible(model="toy", layer="conv3")
  with pytest.raises(errors.ConfigMismatchError, match="model"):
    back.check_compatible(model="inceptionv1")
  with pytest.raises(errors.FcjaxError, match="not"):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    stats.load(tmp_path / "junk.npz")


def test_more_images_than_the_dataset_uses_all_and_says_so(toy, few_photos):
  model, params = toy
  with pytest.warns(UserWarning, match="used all"):
    res = stats.compute(model, params, few_photos, "conv1", max_images=50, batch_size=8, n_samples=100)
  assert res.meta["count"] == 12 and len(res.layers["conv1"].samples) == 12
  assert any("used all" in n for n in res.meta["notes"])
  assert any("n_samples" in n for n in res.meta["notes"])
  # a smaller max_images stops exactly there, whatever the batch size
  part = stats.compute(model, params, few_photos, "conv1", max_images=7, batch_size=4)
  assert part.meta["count"] == 7 and part.layers["conv1"].sample_index.tolist() == list(range(7))


def test_forward_compiles_once_for_full_and_partial_batches(toy, few_photos):
  model, params = toy
  for n in (12, 7, 3):  # last batches of 2, 2 and 3 images are padded to the batch size
    stats.compute(model, params, few_photos, "conv1", readout=(1, 1), batch_size=5, max_images=n, devices=1)
  assert stats_forward._forward(model, ("conv1",), (1, 1), jnp.float32)._cache_size() == 1  # noqa: SLF001


def test_resume_file_from_another_configuration_is_refused(toy, few_photos, tmp_path):
  model, params = toy
  state = tmp_path / "state.npz"
  stats.compute(model, params, few_photos, "conv1", readout="neuron", batch_size=4, state_path=state)
  with pytest.raises(errors.ConfigMismatchError, match="readout: 'neuron' in the file, 'channel' now"):
    stats.compute(model, params, few_photos, "conv1", readout="channel", batch_size=4, state_path=state)
  other = jax.tree_util.tree_map(lambda a: a + 1, params)
  with pytest.raises(errors.ConfigMismatchError, match="weights_digest"):
    stats.compute(model, other, few_photos, "conv1", readout="neuron", batch_size=4, state_path=state)
  (tmp_path / "junk.npz").write_bytes(b"not a state file")
  with pytest.raises(errors.ConfigMismatchError, match="not a readable"):
    stats.compute(model, params, few_photos, "conv1", state_path=tmp_path / "junk.npz")


def test_bad_arguments_are_fcjax_errors(toy, few_photos, tmp_path):
  model, params = toy
  with pytest.raises(errors.FcjaxError, match="readout"):
    stats.compute(model, params, few_photos, "conv1", readout="centre")
  with pytest.raises(errors.FcjaxError, match="outside"):
    stats.compute(model, params, few_photos, "conv1", readout=(8, 0))
  with pytest.raises(errors.UnknownLayerError):
    stats.compute(model, params, few_photos, ["conv1", "conv9"])
  empty = tmp_path / "empty" / "train"
  empty.mkdir(parents=True)
  with pytest.raises(errors.DatasetError):
    stats.compute(model, params, fcjax.data.from_spec(f"folder:{empty.parent}"), "conv1")


def test_explicit_position_readout(toy, few_photos):
  model, params = toy
  res = stats.compute(model, params, few_photos, "conv2", readout=(0, 3), batch_size=6)
  images = np.concatenate([b["images"] for b in few_photos.batches(12, 16)])
  v = np.asarray(model.apply(params, images, layers=("conv2",))["conv2"], np.float64)[:, 0, 3, :5]
  assert res.meta["readout"] == "0,3"
  assert np.max(np.abs(res.layers["conv2"].corr[:5, :5] - np.corrcoef(v, rowvar=False))) < 1e-6
