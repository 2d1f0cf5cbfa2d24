"""fcjax.weights: download (against a local HTTP server on 127.0.0.1), cache, resolve, verify, labels.

The real inception5h.pth cannot be fetched here (no internet), so a random-init state_dict in the same format is
served locally (over HTTP and as a file:// URL), with the published file's expected git blob id (or the pre-fix file's
prefix) monkeypatched to the served file's, to exercise acceptance and each refusal. No torch needed. Runtime: ~15 s.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import pathlib
import socket
import threading

import jax.numpy as jnp
import numpy as np
import pytest

import weights_conversion as wc
from fcjax import _io, errors, weights
from fcjax.models import base
from fcjax.models import inception_v1 as m
from weights_conversion import lucent_pth


def random_params(seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {n: {k: rng.standard_normal(s, np.float32) * 0.05 for k, s in p.items()} for n, p in m.param_shapes().items()}


class _Quiet(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):  # keep the test output clean
    pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """(base URL, served directory, params in the served inception5h.pth)."""
  root = tmp_path_factory.mktemp("www")
  params = random_params(0)
  lucent_pth.save(params, root / "inception5h.pth")
  lucent_pth.save({k: params[k] for k in list(params)[:4]}, root / "partial.pth")
  data = (root / "inception5h.pth").read_bytes()
  (root / "truncated.pth").write_bytes(data[:len(data) // 3])
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{httpd.server_address[1]}", root, params
  httpd.shutdown()
  httpd.server_close()


def closed_port_url() -> str:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  return f"http://127.0.0.1:{port}/inception5h.pth"  # nothing listens there: connection refused at once


def blob(path: pathlib.Path) -> str:
  """The git blob id, computed here independently: sha1 of b"blob <size>\\0" + the bytes."""
  data = path.read_bytes()
  return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_published_blob_ids():
  assert weights.LUCENT_BLOB_ID == "119f77db85c8352960933e025312b507d9a96ed7"
  assert weights.PRE_FIX_BLOB_PREFIX == "2ddbe671"
  assert weights.LUCENT_URL.endswith("ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth")


def test_download_verifies_converts_and_caches(server, tmp_path, monkeypatch):
  base_url, root, params = server
  monkeypatch.setattr(weights, "LUCENT_BLOB_ID", blob(root / "inception5h.pth"))  # as if this were the published file
  cache = tmp_path / "cache"
  path = weights.download(f"{base_url}/inception5h.pth", cache_dir=cache)
  assert path == (cache / "inceptionv1").absolute()
  meta = wc.info(path)
  assert meta["source"] == f"{base_url}/inception5h.pth"
  assert meta["source_format"] == "lucent-pth"
  assert meta["sha256"] == wc.file_sha256(root / "inception5h.pth") == hashlib.sha256(
      (root / "inception5h.pth").read_bytes()).hexdigest()
  assert meta["git_blob_id"] == blob(root / "inception5h.pth") and meta["git_blob_id"] in meta["verified"]
  assert sorted(p.name for p in cache.iterdir()) == ["inception5h.pth", "inceptionv1"]  # no temp files
  assert (cache / "inception5h.pth").read_bytes() == (root / "inception5h.pth").read_bytes()
  loaded = m.load_params(str(path))
  np.testing.assert_array_equal(loaded["mixed4c_3x3"]["w"], params["mixed4c_3x3"]["w"])
  assert _io.tree_digest(loaded) == meta["params_sha256"]
  # cached: a second call needs no network
  assert weights.download(closed_port_url(), cache_dir=cache) == path
  assert weights.resolve("default", cache_dir=cache) == cache / "inceptionv1"
  # converting the checkpoint again keeps the verified provenance
  again = wc.info(wc.convert(path, tmp_path / "copy"))
  assert again["git_blob_id"] == meta["git_blob_id"] and again["verified"] == meta["verified"]


def test_download_from_a_file_url(server, tmp_path, monkeypatch):
  _, root, params = server
  monkeypatch.setattr(weights, "LUCENT_BLOB_ID", blob(root / "inception5h.pth"))
  path = weights.download((root / "inception5h.pth").as_uri(), cache_dir=tmp_path / "c")
  assert wc.info(path)["git_blob_id"] == blob(root / "inception5h.pth")
  np.testing.assert_array_equal(m.load_params(str(path))["softmax2"]["b"], params["softmax2"]["b"])


def _never_parsed(monkeypatch):
  """Make any attempt to read or convert the downloaded file fail the test (verification must come first)."""
  def boom(*args, **kwargs):
    raise AssertionError("an unverified download was parsed")
  monkeypatch.setattr(wc, "convert", boom)
  monkeypatch.setattr(wc, "read_params", boom)


def test_download_refuses_a_file_that_is_not_the_published_one(server, tmp_path, monkeypatch):
  base_url, root, _ = server
  cache = tmp_path / "cache"
  _never_parsed(monkeypatch)
  for name in ("inception5h.pth", "truncated.pth"):  # a substituted file (random weights) and a truncated one
    with pytest.raises(errors.WeightsError) as e:
      weights.download(f"{base_url}/{name}", cache_dir=cache)
    msg = str(e.value)
    assert msg.startswith(f"{base_url}/{name} is not the published inception5h.pth")
    assert f"its git blob id is {blob(root / name)}" in msg
    assert "expected 119f77db85c8352960933e025312b507d9a96ed7" in msg
    assert "--weights path/to/inception5h.pth" in msg and f"fcjax weights convert FILE {cache / 'inceptionv1'}" in msg
    assert not cache.exists()  # nothing left behind: no temp file, no checkpoint, no folder


def test_download_refuses_the_pre_fix_file(server, tmp_path, monkeypatch):
  base_url, root, _ = server
  cache = tmp_path / "cache"
  _never_parsed(monkeypatch)
  monkeypatch.setattr(weights, "PRE_FIX_BLOB_PREFIX", blob(root / "inception5h.pth")[:8])  # as if it were 2ddbe671...
  with pytest.raises(errors.WeightsError, match="served the pre-fix inception5h.pth") as e:
    weights.download(f"{base_url}/inception5h.pth", cache_dir=cache)
  assert "replaced on 2020-04-10" in str(e.value) and "--weights path/to/inception5h.pth" in str(e.value)
  assert not cache.exists()  # a failed download leaves no cache folder behind


def test_download_refuses_bad_files_and_leaves_nothing(server, tmp_path, monkeypatch):
  base_url, root, _ = server
  cache = tmp_path / "cache"
  monkeypatch.setattr(weights, "LUCENT_BLOB_ID", blob(root / "partial.pth"))  # verified, but not InceptionV1's
  with pytest.raises(errors.WeightsError, match="missing key mixed3a_3x3_bottleneck_pre_relu_conv.weight") as e:
    weights.download(f"{base_url}/partial.pth", cache_dir=cache)
  assert str(e.value).startswith(f"{base_url}/partial.pth is not Lucent's")  # named by its URL, not a temp file
  with pytest.raises(errors.WeightsError, match="HTTP 404"):
    weights.download(f"{base_url}/nothing-here.pth", cache_dir=cache)
  monkeypatch.setattr(weights, "LUCENT_BLOB_ID", blob(root / "inception5h.pth"))
  with pytest.raises(errors.WeightsError, match="sha256 .*, expected 0000.*--weights"):
    weights.download(f"{base_url}/inception5h.pth", cache_dir=cache, sha256="0" * 64)
  assert not cache.exists()  # a failed download leaves no cache folder behind


def test_no_network_fails_fast_saying_how_to_use_a_local_file(tmp_path):
  with pytest.raises(errors.WeightsError) as e:
    weights.download(closed_port_url(), cache_dir=tmp_path, timeout=5)
  msg = str(e.value)
  assert "could not download" in msg and "fcjax weights convert PATH" in msg and "--weights PATH" in msg
  assert list(tmp_path.iterdir()) == []


def test_cache_dir_and_resolve(tmp_path, monkeypatch):
  monkeypatch.setenv("FCJAX_CACHE", str(tmp_path / "c"))
  assert weights.default_cache_dir() == tmp_path / "c"
  with pytest.raises(errors.WeightsError, match="fcjax weights download"):
    weights.resolve("default")
  with pytest.raises(errors.WeightsError, match="does not exist"):
    weights.resolve(tmp_path / "missing.pth")
  f = tmp_path / "w.pth"
  f.write_bytes(b"x")
  assert weights.resolve(str(f)) == f
  monkeypatch.delenv("FCJAX_CACHE")
  assert weights.default_cache_dir() == pathlib.Path.home() / ".cache" / "fcjax"


def test_packaged_labels_match_the_shared_table(shared_dir):
  table = weights.synset_index()
  assert len(table) == 1000
  assert sorted(table.values()) == list(range(1, 1001))  # 0 is the dummy class, 1001..1007 unused
  assert table == weights.synset_index(shared_dir / "data" / "inception5h_labels.txt")
  assert table["n02119789"] == 1


def test_verify_counts_top1_and_top5():
  table = weights.synset_index()
  synsets = sorted(table)[:6]

  def apply(params, images, layers=(), **_):
    # the class is coded in the first pixel; the model ranks it 1st, the next index 2nd, the one after 3rd
    idx = jnp.round(images[:, 0, 0, 0] * 1000).astype(jnp.int32)
    ar = jnp.arange(m.NUM_CLASSES)
    logits = 3.0 * (ar == idx[:, None]) + 2.0 * (ar == idx[:, None] + 1) + 1.0 * (ar == idx[:, None] + 2)
    return {"softmax2_pre_activation": logits}

  model = base.from_apply("fake", apply, (base.Layer("softmax2_pre_activation", 1008, 0),), input_size=8)
  coded = [table[s] for s in synsets]
  # image 0, 1: predicted exactly (top-1); image 2, 3: the truth is ranked 2nd (top-5 only); image 4, 5: never
  codes = [coded[0], coded[1], coded[2] - 1, coded[3] - 2, coded[4] + 1, coded[5] + 500]
  images = np.zeros((6, 8, 8, 3), np.float32)
  images[:, 0, 0, 0] = np.array(codes) / 1000
  batches = [(images[:4], synsets[:4]), (images[4:], synsets[4:])]
  res = weights.verify(model, None, iter(batches))
  assert res == {"top1": 2 / 6, "top5": 4 / 6, "n": 6}
  with pytest.raises(errors.DatasetError, match="n99999999"):
    weights.verify(model, None, [(images[:1], ["n99999999"])])
