"""The ``sweep``, ``plot`` and ``figure`` rows of the bad-input table (placeholders and needles as in
:mod:`bad_inputs_cases`), and the resumes into folders made with other inputs.

A resume with other inputs is not bad input: by design (issue 11, :mod:`fcjax._manifest`) the artefact is
recomputed, saying ``fcjax: recomputing PATH: inputs changed: <field>: old -> new``. Each row of ``RESUMES`` is
``(argv, prep, target, field, check)``: the line must name ``target`` (a path template; a prefix for a figure's
sweep folders) and ``field``, and ``check(d)`` asserts that the new result holds the new input.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from bad_inputs_cases import CLOSEST, DEMO, FIG, L, ST, SW, TINY, c
from fcjax import _manifest, errors, stats
from fcjax.result import SweepResult

RUN_CASES = [
    # ---------------------------------------------------------------------------------------------- sweep: names
    c("sweep-layer-typo", f"{SW.replace(L, 'conv4_prerelu')} --out {{d}}/out", CLOSEST, L),
    c("sweep-model-typo", f"{SW.replace('demo', 'dmeo')} --out {{d}}/out", "demo"),
    c("sweep-pick-typo", f"sweep {DEMO} --layer {L} --pick lowst --stats {{stats}} --out {{d}}/out", "lowest"),
    c("sweep-recipe-typo", f"{SW} --recipe lucd --out {{d}}/out", "lucid"),
    c("sweep-format-typo", f"{SW} --format jpg --out {{d}}/out", "png"),
    c("sweep-config-field-typo", f"{SW} --config {{z}}/config_unknown.json --out {{d}}/out", CLOSEST, "steps"),
    c("sweep-set-field-typo", f"{SW} --set stpes=3 --out {{d}}/out", CLOSEST, "steps"),
    c("sweep-set-param-typo", f"{SW} --set param=mac0 --out {{d}}/out", "maco"),
    c("sweep-set-readout-typo", f"{SW} --set readout=nueron --out {{d}}/out", "neuron"),
    # ---------------------------------------------------------------------------------------------- sweep: units
    c("sweep-units-out-of-range", f"{SW.replace('--units 1 2', '--units 0 64')} --out {{d}}/out", "64"),
    c("sweep-units-negative", f"{SW.replace('--units 1 2', '--units -1 2')} --out {{d}}/out", "-1"),
    c("sweep-units-same-twice", f"{SW.replace('--units 1 2', '--units 3 3')} --out {{d}}/out", "3"),
    c("sweep-triple-repeated", f"{SW.replace('--units 1 2', '--units 1 2 1')} --out {{d}}/out", "3 different"),
    c("sweep-units-four", f"{SW.replace('--units 1 2', '--units 1 2 3 4')} --out {{d}}/out", "three (a triple)"),
    c("sweep-units-one", f"{SW.replace('--units 1 2', '--units 1')} --out {{d}}/out", "two units"),
    c("sweep-triple-out-of-range", f"{SW.replace('--units 1 2', '--units 1 2 64')} --out {{d}}/out", "64"),
    c("sweep-units-not-numbers", f"{SW.replace('--units 1 2', '--units a b')} --out {{d}}/out", "--units"),
    c("sweep-units-missing", f"{SW.replace('--units 1 2', '')} --out {{d}}/out", "--units"),
    c("sweep-pick-without-stats", f"{SW.replace('--units 1 2', '--pick lowest')} --out {{d}}/out", "--stats"),
    # ---------------------------------------------------------------------------------------------- sweep: stats file
    c("sweep-stats-missing", f"{SW} --stats {{d}}/missing.npz --out {{d}}/out", "missing.npz"),
    c("sweep-stats-truncated", f"{SW} --stats {{z}}/trunc.npz --out {{d}}/out", "trunc.npz"),
    c("sweep-stats-another-kind", f"{SW} --stats {{z}}/notstats.npz --out {{d}}/out", "notstats.npz"),
    c("sweep-weights-truncated-pth", f"sweep --weights {{z}}/trunc.pth --smoke --layer conv2d2_pre_relu --units 1 2 "
      "--out {d}/out", "trunc.pth"),
    c("sweep-stats-other-layer", f"sweep {DEMO} --layer conv3_pre_relu --pick lowest --stats {{stats}} {TINY} "
      "--out {d}/out", "conv3_pre_relu"),
    c("sweep-stats-other-model", f"sweep --weights random --smoke --layer conv2d2_pre_relu --pick lowest "
      f"--stats {{stats}} {TINY} --out {{d}}/out", "demo"),
    # ---------------------------------------------------------------------------------------------- sweep: --config
    c("sweep-config-missing", f"{SW} --config {{d}}/missing.json --out {{d}}/out", "missing.json"),
    c("sweep-config-empty", f"{SW} --config {{z}}/config_empty.json --out {{d}}/out", "config_empty.json"),
    c("sweep-config-invalid-json", f"{SW} --config {{z}}/config_bad.json --out {{d}}/out", "config_bad.json"),
    c("sweep-config-not-an-object", f"{SW} --config {{z}}/config_list.json --out {{d}}/out", "config_list.json"),
    c("sweep-config-wrong-type", f"{SW} --config {{z}}/config_wrongtype.json --out {{d}}/out", "steps"),
    c("sweep-config-nan", f"{SW} --config {{z}}/config_nan.json --out {{d}}/out", "learning_rate"),
    c("sweep-config-is-a-folder", f"{SW} --config {{d}}/dir --out {{d}}/out", "dir"),
    # ---------------------------------------------------------------------------------------------- sweep: --set
    c("sweep-set-without-equals", f"{SW} --set steps --out {{d}}/out", "KEY=VALUE"),
    c("sweep-set-steps-zero", f"{SW} --set steps=0 --out {{d}}/out", "steps"),
    c("sweep-set-steps-negative", f"{SW} --set steps=-8 --out {{d}}/out", "steps"),
    c("sweep-set-steps-nan", f"{SW} --set steps=NaN --out {{d}}/out", "steps"),
    c("sweep-set-steps-infinite", f"{SW} --set steps=1e400 --out {{d}}/out", "steps"),
    c("sweep-set-steps-not-a-number", f"{SW} --set steps=many --out {{d}}/out", "steps"),
    c("sweep-set-angles-zero", f"{SW} --set n_angles=0 --out {{d}}/out", "n_angles"),
    c("sweep-set-seed-negative", f"{SW} --set seed=-1 --out {{d}}/out", "seed"),
    c("sweep-set-seed-huge", f"{SW} --set seed=99999999999 --out {{d}}/out", "seed"),
    c("sweep-set-seed-fraction", f"{SW} --set seed=1.5 --out {{d}}/out", "seed"),
    c("sweep-set-learning-rate-negative", f"{SW} --set learning_rate=-0.1 --out {{d}}/out", "learning_rate"),
    c("sweep-set-canvas-huge", f"{SW} --set canvas_size=1000000 --out {{d}}/out", "canvas_size"),
    # ---------------------------------------------------------------------------------------------- sweep: spectra
    c("sweep-spectrum-missing", f"{SW} --set param=maco --set spectrum={{d}}/nope.npy --out {{d}}/out", "nope.npy"),
    c("sweep-spectrum-truncated", f"{SW} --set param=maco --set spectrum={{z}}/trunc.npy --out {{d}}/out",
      "trunc.npy"),
    c("sweep-spectrum-wrong-shape", f"{SW} --set param=maco --set spectrum={{z}}/shape.npy --out {{d}}/out",
      "spectrum"),
    c("sweep-spectrum-pickled-objects", f"{SW} --set param=maco --set spectrum={{z}}/pickle.npy --out {{d}}/out",
      "pickle.npy"),
    # ---------------------------------------------------------------------------------------------- sweep: --out
    c("sweep-out-existing-file", f"{SW} --out {{d}}/file.txt", "file.txt"),
    c("sweep-out-parent-is-file", f"{SW} --out {{d}}/file.txt/out", "file.txt"),
    c("sweep-out-readonly", f"{SW} --out /sys/fcjax-readonly", "/sys"),
    # ---------------------------------------------------------------------------------------------- plot
    c("plot-folder-missing", "plot {d}/missing", "missing"),
    c("plot-folder-empty", "plot {d}/dir", "not a sweep result"),
    c("plot-result-is-a-file", "plot {d}/file.txt", "not a sweep result"),
    c("plot-result-json-invalid", "plot {z}/sw_badjson", "sw_badjson"),
    c("plot-result-json-not-object", "plot {z}/sw_listjson", "sw_listjson"),
    c("plot-result-json-fields-missing", "plot {z}/sw_nofield", "sw_nofield"),
    c("plot-arrays-truncated", "plot {z}/sw_trunc", "sw_trunc"),
    c("plot-arrays-empty", "plot {z}/sw_emptyarrays", "sw_emptyarrays"),
    c("plot-arrays-missing-key", "plot {z}/sw_missingkey", "lacks"),
    c("plot-arrays-pickled-objects", "plot {z}/sw_pickle", "sw_pickle"),
    c("plot-stats-missing", "plot {prev} --stats {d}/missing.npz", "missing.npz", prep=("prev",)),
    c("plot-stats-truncated", "plot {prev} --stats {z}/trunc.npz", "trunc.npz", prep=("prev",)),
    c("plot-stats-another-kind", "plot {prev} --stats {z}/notstats.npz", "notstats.npz", prep=("prev",)),
    c("plot-stats-path-file-stale", "plot {prev}", "gone.npz", prep=("prev", "stale_stats_path")),
    c("plot-format-typo", "plot {prev} --format jpg", "png", prep=("prev",)),
    # ---------------------------------------------------------------------------------------------- figure
    c("figure-layer-typo", f"{FIG.replace('--layers ' + L, '--layers conv4_pre_rlu')} --out {{d}}/f", CLOSEST, L),
    c("figure-picks-typo", f"{FIG.replace('--picks highest', '--picks higest')} --out {{d}}/f", "highest"),
    c("figure-weights-missing", f"{FIG.replace('--model demo', '--weights {d}/nope.pth')} --out {{d}}/f",
      "nope.pth"),
    c("figure-needs-dataset", "figure --weights random --smoke --layers conv2d2_pre_relu --out {d}/f", "--dataset"),
    c("figure-dataset-missing-folder", f"{FIG.replace('{photos}', '{d}/nope')} --out {{d}}/f", "nope"),
    c("figure-dataset-kind-typo", f"{FIG.replace('folder:', 'foldr:')} --out {{d}}/f", "did you mean 'folder:"),
    c("figure-n-zero", f"{FIG.replace('--n 4', '--n 0')} --out {{d}}/f", "--n"),
    c("figure-n-negative", f"{FIG.replace('--n 4', '--n -1')} --out {{d}}/f", "--n"),
    c("figure-batch-size-zero", f"{FIG} --batch-size 0 --out {{d}}/f", "batch"),
    c("figure-config-not-an-object", f"{FIG} --config {{z}}/config_list.json --out {{d}}/f", "config_list.json"),
    c("figure-out-existing-file", f"{FIG} --out {{d}}/file.txt", "file.txt"),
    c("figure-out-parent-is-file", f"{FIG} --out {{d}}/file.txt/f", "file.txt"),
    c("figure-resume-truncated-stats", f"{FIG} --out {{fig}}", "stats.npz", prep=("fig", "truncate_fig_stats")),
]


def _sweep(d: pathlib.Path) -> SweepResult:
  return SweepResult.load(d / "prev")


def _figure_config(d: pathlib.Path) -> dict:
  return json.loads((d / "fig" / "figure_config.json").read_text())


def _units_3_4(d: pathlib.Path) -> None:
  assert _sweep(d).pairs.tolist() == [[3, 4]]


def _seed_7(d: pathlib.Path) -> None:
  assert _sweep(d).config["seed"] == 7


def _layer_conv3(d: pathlib.Path) -> None:
  assert _sweep(d).layer == "conv3_pre_relu"


def _weights_random_3(d: pathlib.Path) -> None:
  assert _sweep(d).meta["weights"] == "random:3"


def _stats_of_3(d: pathlib.Path) -> None:
  assert stats.load(d / "stats.npz").meta["count"] == 3


def _figure_procedural(d: pathlib.Path) -> None:
  assert _manifest.read(d / "fig" / "stats.npz.inputs.json")["dataset"] == "procedural:8"
  assert _figure_config(d)["dataset"] == "procedural:8"


def _figure_seed_5(d: pathlib.Path) -> None:
  assert _figure_config(d)["sweep"]["seed"] == 5
  seeds = [SweepResult.load(p).config["seed"] for p in (d / "fig" / "sweeps").iterdir()]
  assert seeds == [5], seeds


def _figure_conv3(d: pathlib.Path) -> None:
  assert list(stats.load(d / "fig" / "stats.npz").layers) == ["conv3_pre_relu"]
  assert _figure_config(d)["layers"] == ["conv3_pre_relu"]


def _r(id_: str, argv: str, prep: tuple[str, ...], target: str, field: str, check):
  return pytest.param(argv, prep, target, field, check, id=id_)


OTHER_UNITS = f"{SW.replace('--units 1 2', '--units 3 4')} --out {{prev}}"
RESUMES = [
    _r("sweep-resume-other-units", OTHER_UNITS, ("prev",), "{prev}", "pair", _units_3_4),
    _r("sweep-resume-other-seed", f"{SW} --set seed=7 --out {{prev}}", ("prev",), "{prev}", "config.seed", _seed_7),
    _r("sweep-resume-other-layer", f"{SW.replace(L, 'conv3_pre_relu')} --out {{prev}}", ("prev",), "{prev}", "layer",
       _layer_conv3),
    _r("sweep-resume-other-weights", f"{SW} --weights random:3 --out {{prev}}", ("prev",), "{prev}", "weights_digest",
       _weights_random_3),
    _r("sweep-resume-finished-other-units", OTHER_UNITS, ("prev", "no_checkpoint"), "{prev}", "pair", _units_3_4),
    _r("stats-resume-other-n", f"{ST.replace('--n 4', '--n 3')} --out {{d}}/stats.npz", ("stats",), "{d}/stats.npz",
       "n", _stats_of_3),
    _r("figure-resume-other-dataset", f"{FIG.replace('folder:{photos}', 'procedural:8')} --out {{fig}}", ("fig",),
       "{fig}/stats.npz", "dataset", _figure_procedural),
    _r("figure-resume-other-seed", f"{FIG} --set seed=5 --out {{fig}}", ("fig",), "{fig}/sweeps/", "config.seed",
       _figure_seed_5),
    _r("figure-resume-other-layers", f"{FIG.replace('--layers ' + L, '--layers conv3_pre_relu')} --out {{fig}}",
       ("fig",), "{fig}/stats.npz", "layers", _figure_conv3),
]


def raises_one_line(fn, *needles, kind=errors.FcjaxError) -> str:
  """Call ``fn``; assert it raises ``kind`` (an FcjaxError) with a one-line message holding every needle."""
  with pytest.raises(errors.FcjaxError) as info:
    fn()
  assert isinstance(info.value, kind), type(info.value)
  msg = str(info.value)
  assert "\n" not in msg, msg
  for n in needles:
    assert n in msg, msg
  return msg
