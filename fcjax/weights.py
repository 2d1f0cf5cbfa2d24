"""Trained InceptionV1 weights: the cache, the download, resolving ``--weights`` arguments, and an accuracy check.

The pretrained weights are Lucent's ``inception5h.pth``. :func:`download` fetches it into a temporary file
in the cache (``$FCJAX_CACHE`` or ``~/.cache/fcjax``), verifies that it is the published file (its git blob id, the
content digest git records for the file, must be :data:`LUCENT_BLOB_ID`), checks its structure (all 116 keys and
shapes), converts it to an fcjax checkpoint that records the verified digests, and renames both into place. Without
network, or for a file that fails verification, it fails at once, leaves nothing behind and says how to pass a local
copy instead.
:func:`verify` measures top-1 / top-5 accuracy on labelled ImageNet photos so a user can see converted weights work
(inception5h classifies most photos correctly; random weights score about 1 / 1000).
"""

from __future__ import annotations

import importlib.resources
import os
import pathlib
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping

import numpy as np

from fcjax import _io, errors

LUCENT_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"
CHECKPOINT_NAME = "inceptionv1"  # the converted checkpoint directory inside the cache
PTH_NAME = "inception5h.pth"  # the downloaded original, kept beside it (Lucent reads it; `convert` accepts it)
# The git blob id (sha1 of b"blob <size>\0" + bytes) of inception5h.pth on the master branch of
# ProGamerGov/pytorch-old-tensorflow-models (committed 2020-04-10, "Fixed Inception5h"), the file LUCENT_URL serves.
LUCENT_BLOB_ID = "119f77db85c8352960933e025312b507d9a96ed7"
# The same path before that fix (2020-02-28): a different, superseded file that must not be taken for the real one.
PRE_FIX_BLOB_PREFIX = "2ddbe671"


def default_cache_dir() -> pathlib.Path:
  """``$FCJAX_CACHE`` if set, else ``~/.cache/fcjax``."""
  env = os.environ.get("FCJAX_CACHE")
  return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "fcjax"


def _by_hand_hint(cache: pathlib.Path) -> str:
  return (f"If you have a copy of inception5h.pth you trust, pass it by hand: --weights path/to/inception5h.pth, or "
          f"`fcjax weights convert FILE {cache / CHECKPOINT_NAME}`")


def check_published(path: str | os.PathLike, url: str, cache: pathlib.Path, expected: str | None = None) -> str:
  """The git blob id of a downloaded file, after checking that it is the published ``inception5h.pth``.

  Raises:
    WeightsError: the file is the pre-fix ``inception5h.pth`` or anything else whose blob id is not ``expected``
      (default :data:`LUCENT_BLOB_ID`); the message says what was expected and how to pass a file by hand.
  """
  import weights_conversion
  expected = (expected or LUCENT_BLOB_ID).lower()
  blob = weights_conversion.git_blob_id(path)
  size = os.path.getsize(path)
  if blob.startswith(PRE_FIX_BLOB_PREFIX):
    raise errors.WeightsError(
        f"{url} served the pre-fix inception5h.pth (git blob {blob}), which ProGamerGov/pytorch-old-tensorflow-models "
        f"replaced on 2020-04-10 with the fixed file (git blob {expected}); refusing it. " + _by_hand_hint(cache))
  if blob != expected:
    raise errors.WeightsError(
        f"{url} is not the published inception5h.pth: its git blob id is {blob} ({size} bytes), expected {expected}; "
        f"refusing it (a truncated, substituted or other file). " + _by_hand_hint(cache))
  return blob


def _no_network_hint(url: str, cache: pathlib.Path) -> str:
  return (f"Without network: download {url} on another machine, copy it here and run "
          f"`fcjax weights convert PATH {cache / CHECKPOINT_NAME}` (or pass the .pth directly: --weights PATH)")


def download(url: str | None = LUCENT_URL, cache_dir: str | os.PathLike | None = None, timeout: float = 30.0, *,
             force: bool = False, sha256: str | None = None, blob_id: str | None = None) -> pathlib.Path:
  """Fetch Lucent's ``inception5h.pth``, verify, check and convert it; the converted checkpoint's path.

  Args:
    url: where to fetch the ``.pth`` (default :data:`LUCENT_URL`; None means the default). A mirror must serve the
      same bytes: the file is verified whatever the URL.
    cache_dir: the cache (default :func:`default_cache_dir`).
    timeout: seconds to wait for the server to connect or send data.
    force: download and convert again even if the cache already holds a checkpoint.
    sha256: if given, the file's expected sha256 as well (a mismatch is an error).
    blob_id: the file's expected git blob id (default :data:`LUCENT_BLOB_ID`, the published file).

  Returns:
    ``cache_dir / 'inceptionv1'``, a checkpoint directory whose ``metadata.json`` records the URL, the sha256 and the
    verified git blob id (``git_blob_id``); the original file is kept as ``cache_dir / 'inception5h.pth'``.

  Raises:
    WeightsError: no network, an HTTP error, a file that is not the published one (the pre-fix file included), a
    sha256 mismatch, or a file that is not InceptionV1's state_dict. Nothing is left in the cache after a failure.
  """
  import weights_conversion
  url = url or LUCENT_URL
  cache = pathlib.Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
  target = cache / CHECKPOINT_NAME
  if target.exists() and not force:
    return target.absolute()
  if urllib.parse.urlparse(url).scheme not in ("http", "https", "file"):
    raise errors.WeightsError(f"--url must be an http(s) or file URL, got {url!r}")
  _io.check_output_path(cache, "dir", what="--cache-dir")
  made = [d for d in (cache, *cache.parents) if not d.exists()]  # removed again if the download fails
  cache.mkdir(parents=True, exist_ok=True)
  fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".download-", suffix=".pth")
  tmp = pathlib.Path(tmp_name)
  done = False
  try:
    with os.fdopen(fd, "wb") as f:
      try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
          for chunk in iter(lambda: response.read(1 << 20), b""):
            f.write(chunk)
      except urllib.error.HTTPError as e:
        raise errors.WeightsError(f"could not download {url}: HTTP {e.code} {e.reason}. "
                                  + _no_network_hint(url, cache)) from None
      except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        raise errors.WeightsError(f"could not download {url} (no network? {reason}). "
                                  + _no_network_hint(url, cache)) from None
    blob = check_published(tmp, url, cache, blob_id)  # before the file is parsed at all
    digest = weights_conversion.file_sha256(tmp)
    if sha256 is not None and digest != sha256.lower():
      raise errors.WeightsError(f"{url} has sha256 {digest}, expected {sha256}: refusing the file. "
                                + _by_hand_hint(cache))
    # convert() checks all 116 keys and shapes before writing anything, then renames the checkpoint into place.
    try:
      path = weights_conversion.convert(
          tmp, target, overwrite=True, source=url, sha256=digest,
          extra_metadata={"git_blob_id": blob, "verified": f"git blob id {blob} matched before conversion"})
    except errors.WeightsError as e:
      raise errors.WeightsError(str(e).replace(str(tmp), url)) from None  # name the file by its URL
    os.replace(tmp, cache / PTH_NAME)
    done = True
    return path
  finally:
    tmp.unlink(missing_ok=True)
    for d in made if not done else ():  # the folders this call made, innermost first, if still empty
      if d.is_dir() and not any(d.iterdir()):
        d.rmdir()


def resolve(weights: str | os.PathLike | None = "default", cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """The path that ``load_params`` should read for a ``--weights`` argument.

  Args:
    weights: a ``.pth`` / ``.pb`` file or a converted checkpoint directory; 'default' (or None) for the cache's
      checkpoint written by :func:`download`.
    cache_dir: the cache for 'default' (default :func:`default_cache_dir`).

  Raises:
    WeightsError: the path does not exist, or 'default' and the cache holds no weights (says how to get them).
  """
  if weights is None or str(weights) == "default":
    cache = pathlib.Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    path = cache / CHECKPOINT_NAME
    if not path.exists():
      raise errors.WeightsError(
          f"no converted InceptionV1 weights in the cache ({path}). Run `fcjax weights download`, or convert a local "
          f"inception5h.pth / .pb with `fcjax weights convert PATH {path}`, or pass --weights PATH")
    return path
  path = pathlib.Path(weights).expanduser()
  if not path.exists():
    raise errors.WeightsError(f"weights path {path} does not exist (pass a .pth, a .pb or a converted checkpoint)")
  return path


def synset_index(labels_path: str | os.PathLike | None = None) -> dict[str, int]:
  """``{synset: index into the 1008-way softmax2}`` from ``inception5h_labels.txt`` (lines ``synset index name``;
  the packaged copy unless ``labels_path`` is given)."""
  if labels_path is None:
    text = importlib.resources.files("fcjax").joinpath("assets/inception5h_labels.txt").read_text()
  else:
    text = pathlib.Path(labels_path).read_text()
  table = {}
  for line in text.splitlines():
    parts = line.split(maxsplit=2)
    if len(parts) >= 2:
      table[parts[0]] = int(parts[1])
  return table


def verify(model: Any, params: Any, batches: Iterable[tuple[Any, list[str]]], labels_path: str | os.PathLike | None
           = None) -> dict[str, float | int]:
  """Top-1 / top-5 accuracy of ``model`` on labelled images.

  Args:
    model: a :class:`fcjax.models.Model` with a ``softmax2_pre_activation`` tensor (InceptionV1).
    params: its parameters.
    batches: yields ``(images, synsets)``: float ``[B, 224, 224, 3]`` in [0, 1] and the B images' synset ids
      (e.g. 'n01440764').
    labels_path: a synset table in the ``inception5h_labels.txt`` format (default: the packaged one).

  Returns:
    ``{'top1': fraction, 'top5': fraction, 'n': images}`` (fractions in [0, 1]; top-k over all 1008 outputs).

  Raises:
    DatasetError: a synset that is not among inception5h's classes, or no images at all.
  """
  import functools

  import jax
  table = synset_index(labels_path)
  logits_fn = jax.jit(functools.partial(model.apply, layers=("softmax2_pre_activation",)))
  top1 = top5 = n = 0
  for images, synsets in batches:
    unknown = sorted({s for s in synsets if s not in table})
    if unknown:
      raise errors.DatasetError(f"synsets not among inception5h's classes: {', '.join(unknown[:5])}")
    logits = np.asarray(logits_fn(params, images)["softmax2_pre_activation"])
    target = np.array([table[s] for s in synsets])
    top = np.argsort(-logits, axis=-1)[:, :5]
    top1 += int(np.sum(top[:, 0] == target))
    top5 += int(np.sum(np.any(top == target[:, None], axis=-1)))
    n += len(synsets)
  if n == 0:
    raise errors.DatasetError("verify got no images")
  return {"top1": top1 / n, "top5": top5 / n, "n": n}
