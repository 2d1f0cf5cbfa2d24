"""Test setup shared by every test module.

* Four simulated CPU devices (for the sharding tests); must be set before JAX is imported.
* TensorFlow never sees a GPU (it must not take accelerator memory from JAX).
* A persistent JAX compilation cache so repeated compiles are cheap.
"""

from __future__ import annotations

import os
import pathlib
import shutil

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests run on the CPU; TF must not grab a GPU
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("FCJAX_SHARED", ROOT.parent / "shared"))

_cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
  """The project's shared data folder (``../shared``): real photos, labels, the reference MACO spectrum."""
  if not SHARED.exists():
    pytest.skip(f"shared data folder {SHARED} not found (set FCJAX_SHARED)")
  return SHARED


@pytest.fixture(scope="session")
def sample_images_dir(shared_dir) -> pathlib.Path:
  """``imagenet-sample-256``: 1000 ImageNet photos, one per class, laid out ``root/train/<synset>/*.JPEG``."""
  return shared_dir / "data" / "imagenet-sample-256"


def copy_photos(sample_images_dir: pathlib.Path, root: pathlib.Path, n: int, n_labels: int,
                label: str = "class") -> pathlib.Path:
  """Copy the first ``n`` sample photos into ``root/train/<label><t % n_labels>/`` (a small image folder)."""
  files = sorted((sample_images_dir / "train").glob("*/*.JPEG"))[:n]
  for t, f in enumerate(files):
    d = root / "train" / f"{label}{t % n_labels}"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(f, d / f.name)
  return root
