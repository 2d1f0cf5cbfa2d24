"""fcjax.weights: download (against a local HTTP server on 127.0.0.1), cache, resolve, verify, labels.

The real inception5h.pth cannot be fetched here (no internet), so a random-init state_dict in the same format is
served locally. Runtime: ~15 s.
"""

from __future__ import annotations

import functools
import http.server
import pathlib
import socket
import threading

import jax.numpy as jnp
import numpy as np
import pytest

import weights_conversion as wc
from fcjax import errors, weights
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
  pytest.importorskip("torch")
  root = tmp_path_factory.mktemp("www")
  params = random_params(0)
  lucent_pth.save(params, root / "inception5h.pth")
  lucent_pth.save({k: params[k] for k in list(params)[:4]}, root / "partial.pth")
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


def test_download_checks_converts_and_caches(server, tmp_path):
  base_url, root, params = server
  cache = tmp_path / "cache"
  path = weights.download(f"{base_url}/inception5h.pth", cache_dir=cache)
  assert path == (cache / "inceptionv1").absolute()
  meta = wc.info(path)
  assert meta["source"] == f"{base_url}/inception5h.pth"
  assert meta["source_format"] == "lucent-pth"
  assert meta["sha256"] == wc.file_sha256(root / "inception5h.pth")
  assert sorted(p.name for p in cache.iterdir()) == ["inception5h.pth", "inceptionv1"]  # no temp files
  loaded = m.load_params(str(path))
  np.testing.assert_array_equal(loaded["mixed4c_3x3"]["w"], params["mixed4c_3x3"]["w"])
  assert weights.digest(loaded) == meta["params_sha256"]
  # cached: a second call needs no network
  assert weights.download(closed_port_url(), cache_dir=cache) == path
  assert weights.resolve("default", cache_dir=cache) == cache / "inceptionv1"


def test_download_refuses_bad_files_and_leaves_nothing(server, tmp_path):
  base_url, _, _ = server
  cache = tmp_path / "cache"
  with pytest.raises(errors.WeightsError, match="missing key mixed3a_3x3_bottleneck_pre_relu_conv.weight") as e:
    weights.download(f"{base_url}/partial.pth", cache_dir=cache)
  assert str(e.value).startswith(f"{base_url}/partial.pth is not Lucent's")  # named by its URL, not a temp file
  with pytest.raises(errors.WeightsError, match="HTTP 404"):
    weights.download(f"{base_url}/nothing-here.pth", cache_dir=cache)
  with pytest.raises(errors.WeightsError, match="sha256"):
    weights.download(f"{base_url}/inception5h.pth", cache_dir=cache, sha256="0" * 64)
  assert list(cache.iterdir()) == []


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
