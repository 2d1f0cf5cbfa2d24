"""The case table of ``tests/test_bad_inputs.py`` (with :mod:`bad_inputs_cases_run`): one plausible user mistake per
row, for every ``fcjax`` command, and the zoo of broken input files the rows name.

Each case is a command line with placeholders that the test fills in:

* ``{d}``: the case's own empty working folder (the current directory while it runs), holding ``file.txt`` (a
  regular file) and ``dir/`` (an empty folder), and whatever the case's ``prep`` adds (see ``PREPS`` in the test).
* ``{z}``: the shared zoo of broken input files (empty, truncated, corrupt, wrong-kind), made once per module by
  :func:`make_zoo`.
* ``{ckpt}``, ``{pth}``: random-init InceptionV1 weights as a converted checkpoint and as Lucent's ``.pth``.
* ``{photos}``: a folder of 4 sample photos (``root/train/<label>/*.JPEG``).
* ``{stats}``: a demo-model stats file of ``conv4_pre_relu`` made with ``--smoke`` on the 4 photos.
* ``{sweep}``: a finished demo-model sweep result folder (tiny settings).
* ``{prev}``, ``{fig}``: copies of that sweep folder / of a finished figure folder inside ``{d}``, for resumes.

``needles`` must appear in the one error line (``'a|b'``: either); ``CLOSEST`` marks a typo case whose line must
offer the closest valid name (``did you mean 'x'`` or ``closest ... names: x``). This module holds the command
itself, ``weights``, ``stats``, ``pairs`` and the cluster flags; :mod:`bad_inputs_cases_run` holds ``sweep``,
``plot``, ``figure`` and the resumes into folders made with other inputs (which recompute, by design).
"""

from __future__ import annotations

import pathlib
import pickle
import shutil

import numpy as np
import pytest

L = "conv4_pre_relu"  # the demo model's layer used throughout
DEMO = "--model demo --smoke"
TINY = "--set n_angles=2 --set n_seeds=1 --set steps=2 --set block_steps=2"
SW = f"sweep {DEMO} --layer {L} --units 1 2 {TINY} --format png"  # then --out ...
ST = f"stats {DEMO} --dataset folder:{{photos}} --layers {L} --n 4"  # then --out ...
FIG = f"figure {DEMO} --layers {L} --picks highest --dataset folder:{{photos}} --n 4 {TINY} --format png"
INC = "--weights {ckpt}"
CLOSEST = "closest"


def c(id_: str, argv: str, *needles: str, prep: tuple[str, ...] = (), marks=()):
  """One case: ``argv`` (placeholders as above), the substrings its error line must hold, preparations."""
  return pytest.param(argv, needles, prep, id=id_, marks=marks)


CASES = [
    # ---------------------------------------------------------------------------------------------- the command itself
    c("command-typo", "sweeep --model demo", CLOSEST, "sweep"),
    c("command-missing", "", "command"),
    c("option-typo", f"{SW} --stpes 3 --out {{d}}/out", "--stpes"),
    c("required-option-missing", f"stats {DEMO} --dataset folder:{{photos}} --layers {L}", "--out"),
    # ---------------------------------------------------------------------------------------------- weights info
    c("weights-info-missing", "weights info {d}/missing.pth", "missing.pth"),
    c("weights-info-dir-not-checkpoint", "weights info {z}/notckpt", "not an fcjax weights checkpoint"),
    c("weights-info-checkpoint-bad-metadata", "weights info {z}/badmeta", "metadata.json"),
    # ---------------------------------------------------------------------------------------------- weights convert
    c("weights-convert-src-missing", "weights convert {d}/missing.pth {d}/out", "missing.pth"),
    c("weights-convert-src-empty-pth", "weights convert {z}/empty.pth {d}/out", "empty.pth"),
    c("weights-convert-src-truncated-pth", "weights convert {z}/trunc.pth {d}/out", "trunc.pth"),
    c("weights-convert-src-garbage-pth", "weights convert {z}/garbage.pth {d}/out", "garbage.pth"),
    c("weights-convert-src-pickle-runs-code", "weights convert {z}/evil.pth {d}/out", "evil.pth"),
    c("weights-convert-src-list-pth", "weights convert {z}/list.pth {d}/out", "list"),
    c("weights-convert-src-other-network", "weights convert {z}/other.pth {d}/out", "other.pth"),
    c("weights-convert-src-garbage-pb", "weights convert {z}/garbage.pb {d}/out", "garbage.pb"),
    c("weights-convert-src-damaged-checkpoint", "weights convert {z}/badckpt {d}/out", "damaged"),
    c("weights-convert-src-dir-not-checkpoint", "weights convert {z}/notckpt {d}/out", "not an fcjax weights"),
    c("weights-convert-dst-existing-file", "weights convert {pth} {d}/file.txt", "already exists"),
    c("weights-convert-dst-existing-dir", "weights convert {pth} {d}/dir", "already exists"),
    c("weights-convert-dst-parent-is-file", "weights convert {pth} {d}/file.txt/ckpt", "file.txt"),
    # root ignores permission bits: /sys refuses new entries even to root (EPERM)
    c("weights-convert-dst-readonly", "weights convert {pth} /sys/fcjax-readonly/ckpt", "/sys"),
    # ---------------------------------------------------------------------------------------------- weights verify
    c("weights-verify-weights-missing", "weights verify {d}/nope.pth --images {photos}", "nope.pth"),
    c("weights-verify-weights-keyword-typo", "weights verify randm --images {photos}", "random"),
    c("weights-verify-images-missing", "weights verify {ckpt} --images {d}/missing", "missing"),
    c("weights-verify-images-empty-folder", "weights verify {ckpt} --images {z}/empty_imgs", "train"),
    c("weights-verify-images-no-label-subfolders", "weights verify {ckpt} --images {z}/loose_imgs",
      "label subfolders"),
    c("weights-verify-images-non-image-files", "weights verify {ckpt} --images {z}/txt_imgs", "no images"),
    c("weights-verify-batch-size-zero", "weights verify {ckpt} --images {photos} --batch-size 0", "batch", "0"),
    c("weights-verify-batch-size-negative", "weights verify {ckpt} --images {photos} --batch-size -4", "batch",
      "-4"),
    c("weights-verify-batch-size-not-a-number", "weights verify {ckpt} --images {photos} --batch-size many",
      "--batch-size"),
    # ---------------------------------------------------------------------------------------------- weights download
    c("weights-download-url-not-a-url", "weights download --url notaurl --cache-dir {d}/cache", "notaurl"),
    c("weights-download-url-unreachable",
      "weights download --url http://127.0.0.1:9/inception5h.pth --cache-dir {d}/cache", "could not download"),
    c("weights-download-cache-dir-is-file", "weights download --cache-dir {d}/file.txt", "file.txt"),
    c("weights-download-cache-dir-parent-is-file", "weights download --cache-dir {d}/file.txt/cache", "file.txt"),
    c("weights-download-cache-dir-readonly", "weights download --cache-dir /sys/fcjax-readonly", "/sys"),
    # ---------------------------------------------------------------------------------------------- stats: weights
    c("stats-weights-missing", f"stats {INC.replace('{ckpt}', '{d}/missing.pth')} --dataset folder:{{photos}} "
      "--layers conv2d2_pre_relu --out {d}/s.npz --smoke", "missing.pth"),
    c("stats-weights-truncated-pth", "stats --weights {z}/trunc.pth --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "trunc.pth"),
    c("stats-weights-damaged-checkpoint", "stats --weights {z}/badckpt --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "damaged"),
    c("stats-weights-dir-not-checkpoint", "stats --weights {z}/notckpt --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "not an fcjax weights checkpoint"),
    c("stats-weights-dot-slash-random-is-a-file", "stats --weights ./random --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "random", prep=("random_file",)),
    c("stats-weights-demo-garbage-npz", f"{ST} --weights {{z}}/garbage.npz --out {{d}}/s.npz", "garbage.npz"),
    c("stats-weights-random-seed-not-int", f"{ST} --weights random:abc --out {{d}}/s.npz", "random:abc"),
    c("stats-weights-random-seed-negative", f"{ST} --weights random:-1 --out {{d}}/s.npz", "random:-1"),
    c("stats-weights-keyword-typo", f"{ST} --weights randm --out {{d}}/s.npz", "random"),
    c("stats-weights-default-empty-cache", "stats --weights default --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "fcjax weights download"),
    # ---------------------------------------------------------------------------------------------- stats: names
    c("stats-model-typo", "stats --model inceptionv2 --dataset folder:{photos} --layers mixed4a --out {d}/s.npz",
      "inceptionv1"),
    c("stats-layer-typo-demo", f"stats {DEMO} --dataset folder:{{photos}} --layers conv4_pre_rel --out {{d}}/s.npz",
      CLOSEST, L),
    c("stats-layer-typo-inceptionv1", "stats --weights random --dataset folder:{photos} --layers mixed4a_pre_relx "
      "--out {d}/s.npz --smoke", CLOSEST, "mixed4a_pre_relu"),
    c("stats-readout-typo", f"{ST} --readout nueron --out {{d}}/s.npz", "neuron"),
    c("stats-backend-typo", f"{ST} --backend grian --out {{d}}/s.npz", "grain"),
    # ---------------------------------------------------------------------------------------------- stats: datasets
    c("stats-dataset-folder-missing", f"stats {DEMO} --dataset folder:{{d}}/nope --layers {L} --out {{d}}/s.npz",
      "nope"),
    c("stats-dataset-folder-empty", f"stats {DEMO} --dataset folder:{{z}}/empty_imgs --layers {L} --out {{d}}/s.npz",
      "empty_imgs"),
    c("stats-dataset-folder-no-label-subfolders", f"stats {DEMO} --dataset folder:{{z}}/loose_imgs --layers {L} "
      "--out {d}/s.npz", "label subfolders"),
    c("stats-dataset-folder-non-image-files", f"stats {DEMO} --dataset folder:{{z}}/txt_imgs --layers {L} "
      "--out {d}/s.npz", "no images"),
    c("stats-dataset-folder-all-corrupt", f"stats {DEMO} --dataset folder:{{z}}/corrupt_imgs --layers {L} "
      "--out {d}/s.npz", "could be read"),
    c("stats-dataset-kind-typo", f"stats {DEMO} --dataset foldr:{{photos}} --layers {L} --out {{d}}/s.npz",
      "did you mean 'folder:"),
    c("stats-dataset-bare-path", f"stats {DEMO} --dataset {{photos}} --layers {L} --out {{d}}/s.npz", "folder:"),
    c("stats-dataset-procedural-not-a-number", f"stats {DEMO} --dataset procedural:many --layers {L} "
      "--out {d}/s.npz", "procedural"),
    c("stats-dataset-procedural-zero", f"stats {DEMO} --dataset procedural:0 --layers {L} --out {{d}}/s.npz",
      "no images"),
    c("stats-dataset-procedural-negative", f"stats {DEMO} --dataset procedural:-3 --layers {L} --out {{d}}/s.npz",
      "-3"),
    c("stats-dataset-procedural-negative-seed", f"stats {DEMO} --dataset procedural:8:seed-1 --layers {L} "
      "--out {d}/s.npz", "seed"),
    c("stats-dataset-tfds-typo", f"stats {DEMO} --dataset tfds:mnistt --data-dir {{d}}/tfds --layers {L} "
      "--out {d}/s.npz", CLOSEST, "mnist"),
    # ---------------------------------------------------------------------------------------------- stats: numbers
    c("stats-n-zero", f"{ST.replace('--n 4', '--n 0')} --out {{d}}/s.npz", "--n"),
    c("stats-n-negative", f"{ST.replace('--n 4', '--n -5')} --out {{d}}/s.npz", "--n"),
    c("stats-n-nan", f"{ST.replace('--n 4', '--n nan')} --out {{d}}/s.npz", "--n"),
    c("stats-n-not-a-number", f"{ST.replace('--n 4', '--n ten')} --out {{d}}/s.npz", "--n"),
    c("stats-n-more-than-the-dataset", f"{ST.replace('--n 4', '--n 1000000')} --out {{d}}/s.npz", "--n"),
    c("stats-size-zero", f"{ST} --size 0 --out {{d}}/s.npz", "--size"),
    c("stats-size-negative", f"{ST} --size -64 --out {{d}}/s.npz", "-64"),
    c("stats-size-too-small-for-layer", "stats --weights random --dataset folder:{photos} --layers mixed5b_pre_relu "
      "--size 16 --out {d}/s.npz", "16 px"),
    c("stats-size-huge", f"{ST} --size 1000000 --out {{d}}/s.npz", "--size"),
    c("stats-size-not-a-number", f"{ST} --size big --out {{d}}/s.npz", "--size"),
    c("stats-batch-size-zero", f"{ST} --batch-size 0 --out {{d}}/s.npz", "batch"),
    c("stats-batch-size-negative", f"{ST} --batch-size -2 --out {{d}}/s.npz", "batch"),
    c("stats-batch-size-huge", f"{ST} --batch-size 1000000000 --out {{d}}/s.npz", "--batch-size"),
    c("stats-batch-size-nan", f"{ST} --batch-size nan --out {{d}}/s.npz", "--batch-size"),
    # ---------------------------------------------------------------------------------------------- stats: --out
    c("stats-out-is-a-folder", f"{ST} --out {{d}}/dir", "folder"),
    c("stats-out-existing-other-file", f"{ST} --out {{d}}/file.txt", "already exists"),
    c("stats-out-parent-is-file", f"{ST} --out {{d}}/file.txt/s.npz", "file.txt"),
    c("stats-out-readonly", f"{ST} --out /sys/fcjax-readonly/s.npz", "/sys"),
    # ---------------------------------------------------------------------------------------------- pairs
    c("pairs-stats-missing", f"pairs {{d}}/missing.npz --layer {L}", "missing.npz"),
    c("pairs-stats-empty", f"pairs {{z}}/empty.npz --layer {L}", "empty.npz"),
    c("pairs-stats-truncated", f"pairs {{z}}/trunc.npz --layer {L}", "trunc.npz"),
    c("pairs-stats-garbage", f"pairs {{z}}/garbage.npz --layer {L}", "garbage.npz"),
    c("pairs-stats-npz-of-another-kind", f"pairs {{z}}/notstats.npz --layer {L}", "notstats.npz"),
    c("pairs-stats-json-not-npz", f"pairs {{z}}/config_ok.json --layer {L}", "config_ok.json"),
    c("pairs-stats-header-not-json", f"pairs {{z}}/header_badjson.npz --layer {L}", "header_badjson.npz"),
    c("pairs-stats-header-not-object", f"pairs {{z}}/header_list.npz --layer {L}", "header_list.npz"),
    c("pairs-stats-array-missing", f"pairs {{z}}/missing_array.npz --layer {L}", "missing_array.npz"),
    c("pairs-stats-is-a-folder", f"pairs {{sweep}} --layer {L}", "stats file"),
    c("pairs-layer-typo", "pairs {stats} --layer conv4_pre_rel", L),
    c("pairs-layer-not-in-file", "pairs {stats} --layer conv3_pre_relu", "conv3_pre_relu"),
    # ---------------------------------------------------------------------------------------------- cluster flags
    c("stats-coordinator-not-host-port", f"{ST} --coordinator localhost --out {{d}}/s.npz", "--coordinator",
      "HOST:PORT"),
    c("sweep-coordinator-port-out-of-range", f"{SW} --coordinator 127.0.0.1:70000 --out {{d}}/out", "70000"),
    c("figure-num-processes-zero", f"{FIG} --num-processes 0 --out {{d}}/f", "--num-processes"),
    c("sweep-num-processes-not-a-number", f"{SW} --num-processes two --out {{d}}/out", "--num-processes"),
    c("stats-process-id-negative", f"{ST} --process-id -1 --out {{d}}/s.npz", "--process-id"),
    c("sweep-process-id-not-below-num-processes", f"{SW} --coordinator 127.0.0.1:1234 --num-processes 2 "
      "--process-id 2 --out {d}/out", "process_id", "0..1"),
]


def half(src: pathlib.Path, dst: pathlib.Path) -> None:
  """Write the first half of ``src`` to ``dst`` (a truncated file)."""
  data = src.read_bytes()
  assert len(data) > 16, src
  dst.write_bytes(data[:len(data) // 2])


def garbage(path: pathlib.Path, n: int = 4096, seed: int = 0) -> None:
  """``n`` random bytes at ``path``."""
  path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


class _RunsCode:
  """A pickle payload that would create a marker file if unpickled (a weights file must never run code)."""

  def __init__(self, marker: str):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, "w"))


def make_zoo(z: pathlib.Path, fx: dict) -> None:
  """The broken input files: empty, truncated, corrupt and wrong-kind versions of every file the CLI reads."""
  import torch
  z.mkdir()
  # weights
  (z / "empty.pth").write_bytes(b"")
  half(fx["pth"], z / "trunc.pth")
  garbage(z / "garbage.pth")
  garbage(z / "garbage.pb", seed=1)
  (z / "evil.pth").write_bytes(pickle.dumps({"w": _RunsCode(str(z / "PWNED"))}, protocol=2))
  torch.save({"fc.weight": torch.zeros(3, 4)}, z / "other.pth")
  torch.save([torch.zeros(2)], z / "list.pth")
  (z / "notckpt").mkdir()
  (z / "notckpt" / "readme.txt").write_text("not weights")
  (z / "badmeta" / "params").mkdir(parents=True)
  (z / "badmeta" / "metadata.json").write_text("{")
  (z / "badckpt" / "params").mkdir(parents=True)
  shutil.copy(fx["ckpt"] / "metadata.json", z / "badckpt" / "metadata.json")
  # stats files
  stats = fx["stats"]
  (z / "empty.npz").write_bytes(b"")
  half(stats, z / "trunc.npz")
  garbage(z / "garbage.npz", seed=2)
  np.savez(z / "notstats.npz", x=np.zeros(3))
  with np.load(stats) as f:
    arrays = {k: f[k] for k in f.files}
  np.savez(z / "header_badjson.npz", **{**arrays, "header": np.frombuffer(b"{not json", np.uint8)})
  np.savez(z / "header_list.npz", **{**arrays, "header": np.frombuffer(b"[1, 2]", np.uint8)})
  np.savez(z / "missing_array.npz", **{k: v for k, v in arrays.items() if k != "l0.corr"})
  # --config files
  (z / "config_ok.json").write_text('{"steps": 2}')
  (z / "config_empty.json").write_text("")
  (z / "config_bad.json").write_text("{steps: 2")
  (z / "config_list.json").write_text("[1, 2]")
  (z / "config_unknown.json").write_text('{"stepz": 3}')
  (z / "config_wrongtype.json").write_text('{"steps": "many"}')
  (z / "config_nan.json").write_text('{"learning_rate": NaN}')
  # spectra
  np.save(z / "full.npy", np.ones((3, 64, 33), np.float32))
  half(z / "full.npy", z / "trunc.npy")
  (z / "full.npy").unlink()
  np.save(z / "shape.npy", np.zeros((2, 3), np.float32))
  np.save(z / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
  # image folders
  (z / "empty_imgs").mkdir()
  (z / "loose_imgs" / "train").mkdir(parents=True)
  first = sorted((fx["photos"] / "train").glob("*/*.JPEG"))[0]
  shutil.copy(first, z / "loose_imgs" / "train" / first.name)
  (z / "txt_imgs" / "train" / "c").mkdir(parents=True)
  (z / "txt_imgs" / "train" / "c" / "readme.txt").write_text("no images here")
  (z / "corrupt_imgs" / "train" / "c").mkdir(parents=True)
  garbage(z / "corrupt_imgs" / "train" / "c" / "x.JPEG", seed=3)
  # sweep result folders, each broken one way
  sweep = fx["sweep"]

  def variant(name: str) -> pathlib.Path:
    d = z / name
    d.mkdir()
    for f in ("result.json", "arrays.npz"):
      shutil.copy(sweep / f, d / f)
    return d

  variant("sw_badjson").joinpath("result.json").write_text("{")
  variant("sw_listjson").joinpath("result.json").write_text("[1]")
  variant("sw_nofield").joinpath("result.json").write_text("{}")
  half(sweep / "arrays.npz", variant("sw_trunc") / "arrays.npz")
  variant("sw_emptyarrays").joinpath("arrays.npz").write_bytes(b"")
  with np.load(sweep / "arrays.npz") as f:
    res = {k: f[k] for k in f.files}
  np.savez(variant("sw_missingkey") / "arrays.npz", **{k: v for k, v in res.items() if k != "c"})
  np.savez(variant("sw_pickle") / "arrays.npz", **{**res, "c": np.array([{"a": 1}], dtype=object)})
