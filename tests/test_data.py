"""Tests of fcjax.data: preprocessing geometry, the image folder, TFDS (ImageFolder, mock imagenet2012, a tiny
ArrayRecord dataset read without TensorFlow), corrupt images, resume offsets and bad input.

Runtime: about 25 s on 2 loaded cores (importing TensorFlow and a subprocess that prepares a TFDS dataset dominate).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import copy_photos
from PIL import Image

import fcjax.data
from fcjax import errors
from fcjax.data import preprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _png(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format="PNG")
  return buf.getvalue()


def _digest(image: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def small_root(sample_images_dir, tmp_path_factory) -> pathlib.Path:
  """24 photos in 4 label folders (copies of the sample images), split 'train'."""
  return copy_photos(sample_images_dir, tmp_path_factory.mktemp("small") / "ds", n=24, n_labels=4, label="class")


# --- preprocessing ------------------------------------------------------------------------------------------------

def test_centre_crop_geometry_on_known_image():
  # 80 x 20: red, then green from x = 20 to 60, then blue -> the centre square (x = 30..50) is green, with a margin
  # of 10 px for the support of the antialiasing filter (2.5 px here) that reaches outside the crop box
  img = np.zeros((20, 80, 3), np.uint8)
  img[:, :20, 0] = 255
  img[:, 20:60, 1] = 255
  img[:, 60:, 2] = 255
  out = preprocess.load_image(_png(img), 8)
  assert out.shape == (8, 8, 3) and out.dtype == np.float32
  np.testing.assert_array_equal(out, np.broadcast_to(np.float32([0, 1, 0]), (8, 8, 3)))
  # tall image: the centre square (rows 10..20) of a 10 x 30 image inside a bright band (rows 5..25)
  tall = np.zeros((30, 10, 3), np.uint8)
  tall[5:25] = 200
  np.testing.assert_allclose(preprocess.load_image(tall, 5), 200 / 255, atol=1e-6)


def test_tiny_images_are_upsampled_and_greyscale_becomes_rgb():
  rng = np.random.default_rng(0)
  tiny = rng.integers(0, 256, (17, 47, 3), np.uint8)  # the size of TFDS's fake imagenet images
  out = preprocess.load_image(_png(tiny), 64)
  assert out.shape == (64, 64, 3) and 0 <= out.min() and out.max() <= 1
  # upsampling the centre 17 x 17 square: the mean colour is preserved (bilinear is a partition of unity)
  np.testing.assert_allclose(out.mean((0, 1)), tiny[:, 15:32].mean((0, 1)) / 255, atol=0.03)
  grey = rng.integers(0, 256, (20, 20), np.uint8)
  g = preprocess.load_image(_png(grey), 20)
  np.testing.assert_allclose(g[..., 0], grey / 255, atol=1e-6)
  np.testing.assert_array_equal(g[..., 0], g[..., 2])


def test_matches_two_step_resize_then_crop(sample_images_dir):
  """One-step box resize == resize the shorter side, then crop (up to interpolation differences)."""
  f = sorted((sample_images_dir / "train").glob("*/*.JPEG"))[3]
  ours = preprocess.load_image(f.read_bytes(), 96, draft=False)
  img = Image.open(f).convert("RGB")
  w, h = img.size
  s = 96 / min(w, h)
  big = np.asarray(img.resize((round(w * s), round(h * s)), Image.Resampling.BILINEAR), np.float32) / 255
  top, left = (big.shape[0] - 96) // 2, (big.shape[1] - 96) // 2
  ref = big[top:top + 96, left:left + 96]
  assert np.abs(ours - ref).mean() < 0.02
  # the JPEG draft shortcut changes pixels only slightly
  assert np.abs(preprocess.load_image(f.read_bytes(), 96) - ours).mean() < 0.03


# --- image folder -------------------------------------------------------------------------------------------------

def test_folder_order_labels_and_resume_offset(small_root):
  src = fcjax.data.folder(small_root)
  assert len(src) == 24 and src.label_names == ["class0", "class1", "class2", "class3"]
  batches = list(src.batches(10, 32))
  assert [len(b["index"]) for b in batches] == [10, 10, 4]
  index = np.concatenate([b["index"] for b in batches])
  labels = np.concatenate([b["labels"] for b in batches])
  np.testing.assert_array_equal(index, np.arange(24))
  assert [src.label_names[l] for l in labels] == [pathlib.Path(f).parent.name for f in src.files]
  assert batches[0]["images"].dtype == np.float32 and batches[0]["images"].shape == (10, 32, 32, 3)
  assert batches[0]["labels"].dtype == np.int32 and batches[0]["index"].dtype == np.int64
  # each image is the shared preprocessing of its file
  np.testing.assert_array_equal(batches[1]["images"][3], preprocess.load_image(pathlib.Path(src.files[13]), 32))
  # start= resumes at that position
  tail = list(src.batches(4, 32, start=21))
  assert [b["index"].tolist() for b in tail] == [[21, 22, 23]]
  np.testing.assert_array_equal(tail[0]["images"], batches[2]["images"][1:])


def test_corrupt_images_are_skipped_and_counted(small_root, tmp_path, caplog):
  root = tmp_path / "ds"
  shutil.copytree(small_root, root)
  files = sorted((root / "train" / "class1").iterdir())
  (root / "train" / "class1" / "zz_garbage.jpg").write_bytes(b"this is not an image")
  data = files[0].read_bytes()
  (root / "train" / "class1" / "zz_truncated.JPEG").write_bytes(data[: len(data) // 3])
  (root / "train" / "class1" / "notes.txt").write_text("ignored: not an image extension")
  src = fcjax.data.folder(root)
  assert len(src) == 26
  with caplog.at_level(logging.WARNING, logger="fcjax.data"):
    batches = list(src.batches(8, 16))
  index = np.concatenate([b["index"] for b in batches])
  bad = [i for i, f in enumerate(src.files) if "zz_" in f]
  assert src.skipped == 2 and len(index) == 24
  assert sorted(set(range(26)) - set(index.tolist())) == bad
  assert sum("skipping unreadable image" in r.message for r in caplog.records) == 2


def test_folder_bad_input(tmp_path, small_root):
  with pytest.raises(errors.DatasetError, match="does not exist"):
    fcjax.data.folder(tmp_path / "nope")
  (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
  with pytest.raises(errors.DatasetError, match="no images"):
    fcjax.data.folder(tmp_path / "empty")
  with pytest.raises(errors.DatasetError, match="no split folder 'validation'.*train"):
    fcjax.data.folder(small_root, "validation")
  loose = tmp_path / "loose" / "train"
  loose.mkdir(parents=True)
  shutil.copy(next((small_root / "train" / "class0").iterdir()), loose / "a.jpg")
  with pytest.raises(errors.DatasetError, match="label subfolders"):
    fcjax.data.folder(loose.parent)


def test_from_spec(small_root):
  a = fcjax.data.from_spec(f"folder:{small_root}")
  b = fcjax.data.from_spec(f"folder:{small_root}/train")  # the split folder itself
  assert a.name == b.name == f"folder:{small_root}/train" and len(a) == len(b) == 24
  assert fcjax.data.from_spec(a.name).files == a.files  # a source's name reads back
  with pytest.raises(errors.DatasetError, match="bad dataset spec"):
    fcjax.data.from_spec("imagenet")
  with pytest.raises(errors.DatasetError, match="integer"):
    fcjax.data.from_spec("procedural:many")


def test_procedural_constructor_survives_submodule_import():
  import fcjax.data.procedural  # noqa: F401 - binds the submodule; must not shadow the function
  src = fcjax.data.procedural(5, seed=1)
  assert callable(fcjax.data.procedural) and len(src) == 5
  batch = next(iter(src.batches(5, 16)))
  assert batch["images"].shape == (5, 16, 16, 3) and batch["index"].tolist() == [0, 1, 2, 3, 4]
  assert len(fcjax.data.from_spec("procedural:7")) == 7
  again = fcjax.data.from_spec(src.name)  # a procedural source's name reads back
  assert (again.name, len(again)) == (src.name, 5)
  np.testing.assert_array_equal(next(iter(again.batches(5, 16)))["images"], batch["images"])


def test_progress_bar_counts_images(small_root, capsys):
  src = fcjax.data.folder(small_root)
  n = sum(len(b["index"]) for b in fcjax.data.progress(src.batches(10, 16), total=len(src), desc="read"))
  assert n == 24
  err = capsys.readouterr().err
  assert "read" in err and "24/24" in err and "img/s" in err


# --- TFDS ---------------------------------------------------------------------------------------------------------

def test_image_folder_through_tfds_gives_the_same_images(small_root):
  src = fcjax.data.from_spec(f"tfds-folder:{small_root}")
  assert src.backend == "tfdata" and len(src) == 24
  import tensorflow as tf
  assert tf.config.get_visible_devices("GPU") == []  # TF must not hold accelerator memory
  ref = fcjax.data.folder(small_root)
  ours = {_digest(im): ref.label_names[l] for b in ref.batches(24, 32) for im, l in zip(b["images"], b["labels"])}
  batches = list(src.batches(10, 32))
  got = {_digest(im): src.label_names[l] for b in batches for im, l in zip(b["images"], b["labels"])}
  assert got == ours  # the same 24 images (bit for bit) with the same labels, in TFDS's own order
  assert np.concatenate([b["index"] for b in batches]).tolist() == list(range(24))
  tail = list(src.batches(10, 32, start=20))
  np.testing.assert_array_equal(tail[0]["images"], batches[2]["images"])


@pytest.mark.parametrize("backend", ["tfdata", "data_source"])
def test_mock_imagenet2012_tiny_images_are_upsampled(backend):
  import tensorflow as tf
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=6):
    src = fcjax.data.from_spec("tfds:imagenet2012/train", backend=backend)
    assert src.backend == backend and len(src) == 6 and src.name == "tfds:imagenet2012/train"
    batches = list(src.batches(4, 48))
    tail = list(src.batches(4, 48, start=4))
    # the same encoded examples straight from TFDS (the two backends' mocks draw different fakes)
    b, skip = tfds.builder("imagenet2012"), {"image": tfds.decode.SkipDecoding()}
    if backend == "data_source":
      encoded = b.as_data_source(split="train", decoders=skip)
      raw = [encoded[i] for i in range(6)]
    else:
      raw = list(b.as_dataset(split="train", decoders=skip, shuffle_files=False).as_numpy_iterator())
  assert [x["images"].shape for x in batches] == [(4, 48, 48, 3), (2, 48, 48, 3)]
  images = np.concatenate([x["images"] for x in batches])
  # TensorFlow's JPEG decoder, not PIL's (with the accurate integer IDCT, as PIL uses; TF's default is the fast one)
  decoded = [tf.io.decode_jpeg(r["image"], dct_method="INTEGER_ACCURATE").numpy() for r in raw]
  assert all(max(d.shape[:2]) < 48 for d in decoded)  # TFDS fakes are tiny: every image was upsampled
  ref = np.stack([preprocess.load_image(d, 48) for d in decoded])
  assert np.abs(images - ref).max() <= 1 / 255
  np.testing.assert_array_equal(np.concatenate([x["labels"] for x in batches]), [int(r["label"]) for r in raw])
  np.testing.assert_array_equal(tail[0]["images"], images[4:])
  assert tail[0]["index"].tolist() == [4, 5]


def test_unprepared_tfds_dataset_says_how_to_prepare(tmp_path):
  for backend in ("auto", "data_source", "tfdata"):
    with pytest.raises(errors.DatasetError) as e:
      fcjax.data.tfds("imagenet2012", "train", data_dir=tmp_path, backend=backend)
    msg = str(e.value)
    assert "not prepared" in msg and "ILSVRC2012_img_train.tar" in msg, msg
    assert f"tfds build imagenet2012 --data_dir={tmp_path} --manual_dir={tmp_path}/downloads/manual" in msg, msg
  with pytest.raises(errors.DatasetError, match="tfds build mnist"):
    fcjax.data.tfds("mnist", data_dir=tmp_path, backend="data_source")
  with pytest.raises(errors.DatasetError, match="no dataset named 'imagenet2013'.*imagenet2012"):
    fcjax.data.tfds("imagenet2013", data_dir=tmp_path)
  with pytest.raises(errors.DatasetError, match="unknown TFDS backend"):
    fcjax.data.tfds("mnist", data_dir=tmp_path, backend="torch")


_ARRAY_RECORD_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow_datasets as tfds
    import fcjax.data

    files, data_dir = json.loads(sys.argv[1]), sys.argv[2]

    class FcjaxTestPhotos(tfds.core.GeneratorBasedBuilder):
      VERSION = tfds.core.Version("1.0.0")

      def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(encoding_format="jpeg"), "label": tfds.features.ClassLabel(num_classes=4)}))

      def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

      def _generate_examples(self):
        for i, (path, label) in enumerate(files):
          yield i, {"image": path, "label": label}

    FcjaxTestPhotos(data_dir=data_dir, file_format="array_record").download_and_prepare()
    src = fcjax.data.tfds("fcjax_test_photos", "train", data_dir=data_dir)  # backend 'auto'
    batches = list(src.batches(5, 32))
    out = {"backend": src.backend, "len": len(src), "tf_imported": "tensorflow" in sys.modules,
           "index": [int(i) for b in batches for i in b["index"]],
           "labels": [int(l) for b in batches for l in b["labels"]]}
    import numpy as np
    np.save(data_dir + "/images.npy", np.concatenate([b["images"] for b in batches]))
    print("RESULT" + json.dumps(out))
""")


def test_array_record_dataset_is_read_without_tensorflow(small_root, tmp_path):
  """A TFDS dataset prepared as ArrayRecord, read by backend 'auto' -> data_source, in a fresh process without TF."""
  ref = fcjax.data.folder(small_root)
  files = [(f, l) for f, l in zip(ref.files, np.concatenate([b["labels"] for b in ref.batches(24, 8)]).tolist())][:12]
  env = dict(os.environ, PYTHONPATH=str(ROOT), TFDS_DATA_DIR=str(tmp_path))
  proc = subprocess.run([sys.executable, "-c", _ARRAY_RECORD_SCRIPT, json.dumps(files), str(tmp_path)],
                        capture_output=True, text=True, env=env, timeout=300)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  out = json.loads(lines[-1][len("RESULT"):])
  assert out["backend"] == "data_source" and not out["tf_imported"]
  assert out["len"] == 12 and out["index"] == list(range(12))
  images = np.load(tmp_path / "images.npy")
  expected = next(iter(ref.batches(12, 32)))
  # the JPEG bytes are stored as they are: the same images bit for bit, with their labels, in TFDS's shuffled order
  assert ({_digest(im): l for im, l in zip(images, out["labels"])}
          == {_digest(im): int(l) for im, l in zip(expected["images"], expected["labels"])})
