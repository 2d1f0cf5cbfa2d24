"""The case table of ``tests/test_bad_inputs.py``: one plausible user mistake per row, for every ``fcjax`` command.

Each case is a command line with placeholders that the test fills in:

* ``{d}``: the case's own empty working folder (the current directory while it runs), holding ``file.txt`` (a
  regular file) and ``dir/`` (an empty folder), and whatever the case's ``prep`` adds (see ``PREPS`` in the test).
* ``{z}``: the shared zoo of broken input files (empty, truncated, corrupt, wrong-kind), made once per module.
* ``{ckpt}``, ``{pth}``: random-init InceptionV1 weights as a converted checkpoint and as Lucent's ``.pth``.
* ``{photos}``: a folder of 4 sample photos (``root/train/<label>/*.JPEG``).
* ``{stats}``: a demo-model stats file of ``conv4_pre_relu`` made with ``--smoke`` on the 4 photos.
* ``{sweep}``: a finished demo-model sweep result folder (tiny settings).
* ``{prev}``, ``{fig}``: copies of that sweep folder / of a finished figure folder inside ``{d}``, for resumes.

``needles`` must appear in the one error line (``'a|b'``: either); ``CLOSEST`` marks a typo case whose line must
offer the closest valid name (``did you mean 'x'`` or ``closest ... names: x``). A case that fails on today's code
carries ``xfail(strict=True)`` with the exact fix it needs (``needs: file:function: ...``); the integrator removes
the mark when the fix lands (a strict xfail that passes fails the run, so no fixed case stays marked). Cases whose
unfixed code would try to allocate terabytes (a 10^6 px image, a 10^9 batch) are ``run=False``; they were checked by
hand to fail today (MemoryError / every image "unreadable") and to pass with the fixes.
"""

from __future__ import annotations

import pytest

L = "conv4_pre_relu"  # the demo model's layer used throughout
DEMO = "--model demo --smoke"
TINY = "--set n_angles=2 --set n_seeds=1 --set steps=2 --set block_steps=2"
SW = f"sweep {DEMO} --layer {L} --units 1 2 {TINY} --format png"  # then --out ...
ST = f"stats {DEMO} --dataset folder:{{photos}} --layers {L} --n 4"  # then --out ...
FIG = f"figure {DEMO} --layers {L} --picks highest --dataset folder:{{photos}} --n 4 {TINY} --format png"
INC = "--weights {ckpt}"
CLOSEST = "closest"

# --- the exact fixes the xfail cases need (files this helper does not own) ------------------------------------------
PARSER = ("needs: fcjax/cli.py:build_parser: an ArgumentParser subclass whose error(message) prints the one line "
          "'fcjax: error: <message> (see fcjax <command> --help)' to stderr and exits 2 (no usage block, no "
          "'fcjax <cmd>: error:' prefix)")
POS_INT = ("needs: fcjax/cli.py:build_parser: type=positive_int for {opt} (argparse type function raising "
           "ArgumentTypeError('{opt} must be a positive integer, got {{value!r}}'); values > {cap} rejected as "
           "'unreasonably large'), so 0, negatives and absurd values stop before any work")
N_OPT = POS_INT.format(opt="--n", cap="10**9") + ("; and fcjax/cli.py:cmd_stats/cmd_figure use `args.n if args.n is "
                                                   "not None` (not `args.n or ...`)")
SIZE_OPT = POS_INT.format(opt="--size", cap="4096") + ("; and fcjax/cli.py:cmd_stats uses `args.size if args.size is "
                                                       "not None` (not `args.size or ...`)")
BATCH_OPT = POS_INT.format(opt="--batch-size", cap="65536")
N_TOO_MANY = ("needs: fcjax/cli.py:_run_stats (or experiment): after opening the source, if n > len(source): raise "
              "UsageError(f'--n {n} but {source.name} has only {len(source)} images; use --n {len(source)} or omit "
              "--n for all')")
OUT_FILE = ("needs: fcjax/cli.py:cmd_stats/_run_stats: call fcjax._io.check_output_path(args.out, 'file', "
            "what='--out', overwrite=<is an fcjax stats file>) before loading the model (today it computes the "
            "statistics, then fails or overwrites at save)")
OUT_DIR = ("needs: fcjax/cli.py:cmd_{cmd}: call fcjax._io.check_output_path(args.out, 'dir', what='--out') before "
           "loading the model and before out.mkdir (today: FileExistsError / NotADirectoryError / PermissionError "
           "traceback)")
DST_DIR = ("needs: weights_conversion/__init__.py:convert: call fcjax._io.check_output_path(dst, 'dir', what='DST') "
           "first, beside the existing dst.exists() check (today it reads the source, then checkpoint.save fails with "
           "a "
           "raw OSError)")
CACHE_DIR = ("needs: fcjax/weights.py:download: call fcjax._io.check_output_path(cache, 'dir', what='--cache-dir') "
             "before cache.mkdir")
URL = ("needs: fcjax/weights.py:download: before cache.mkdir, if urllib.parse.urlparse(url).scheme not in ('http', "
       "'https', 'file'): raise WeightsError(f'--url must be an http(s) or file URL, got {url!r}') (today: ValueError "
       "'unknown url type' traceback and an empty cache folder left behind)")
URL_LEFTOVER = ("needs: fcjax/weights.py:download: create the cache folder only after the download succeeded (or "
                "remove it in the finally block when download() made it and it is still empty): a failed download "
                "leaves an empty cache folder today")
RANDOM_SEED = ("needs: fcjax/cli.py:_load_model_and_params: parse 'random[:SEED]' with a check: seed = int(...) in "
               "[0, 2**32) else raise UsageError(f\"--weights {weights!r}: SEED must be an integer in [0, 2**32), "
               "e.g. random:0\") (today: int('abc') ValueError traceback; random:-1 runs)")
KEYWORD_TYPO = ("needs: fcjax/cli.py:_load_model_and_params (one place for every model): if weights is neither a "
                "keyword nor an existing path and errors.did_you_mean(weights, ['random', 'default']) is not empty: "
                "raise WeightsError(f\"--weights {weights!r} is neither an existing file nor a keyword{hint}\")")
STATS_ZIP = ("needs: fcjax/stats.py:load: add zipfile.BadZipFile (and EOFError) to the caught exceptions -> "
             "FcjaxError(f'{path} is not a readable fcjax stats file (truncated or not an .npz): ...; make it again "
             "with fcjax stats')")
STATS_HEADER = ("needs: fcjax/stats.py:load: after json.loads, if not isinstance(header, dict) or any key of "
                "('format', 'meta', 'layers') is missing, or an array 'l{t}.<name>' is missing: raise FcjaxError("
                "f'{path} is not a complete fcjax stats file (missing {what}); make it again with fcjax stats') "
                "(today: AttributeError / KeyError traceback)")
RESULT_ZIP = ("needs: fcjax/result.py:SweepResult.load: catch zipfile.BadZipFile and EOFError with the OSError/"
              "ValueError group -> FcjaxError(f'cannot read sweep result in {d}: arrays.npz is truncated or not an "
              ".npz; rerun the sweep')")
RESULT_HEADER = ("needs: fcjax/result.py:SweepResult.load: if not isinstance(header, dict) or a key of ('config', "
                 "'model', 'layer', 'readout') is missing: raise FcjaxError(f'{d}/result.json is not an fcjax sweep "
                 "result header (missing {keys})') (today: TypeError / KeyError traceback)")
CONFIG_OBJECT = ("needs: fcjax/cli.py:_sweep_config: after json.loads of --config, if not isinstance(data, dict): "
                 "raise UsageError(f'--config {path} must hold a JSON object of SweepConfig fields, got a "
                 "{type(data).__name__}') (today: TypeError traceback from cfg.replace(**data))")
FIELD_TYPO = ("needs: fcjax/sweep.py:SweepConfig.replace and SweepConfig.from_dict: name the unknown field with "
              "errors.did_you_mean(name, field names): replace: \"SweepConfig has no field 'stepz'; did you mean "
              "'steps'?\", from_dict: \"unknown SweepConfig field 'stepz'; did you mean 'steps'?\" (keeps the words "
              "tests/test_sweep.py matches), instead of listing all 24 fields")
FROM_DICT_TYPE = ("needs: fcjax/sweep.py:SweepConfig.from_dict: if not isinstance(d, Mapping): raise FcjaxError("
                  "f'a SweepConfig needs a mapping of fields, got a {type(d).__name__}')")
SIZE_CAP = ("needs: fcjax/sweep.py:SweepConfig.validate: canvas_size and input_size at most 4096 px (FcjaxError("
            "f'SweepConfig.{name} must be at most 4096 px, got {v}')); today a 10^6 px canvas is accepted and "
            "exhausts memory")
SPECTRUM = ("needs: fcjax/cli.py:_sweep_config (the CLI boundary; SweepConfig itself should not touch files, a "
            "result's "
            "config may name a spectrum of another machine): if cfg.spectrum is not None: fcjax.spectrum.load("
            "cfg.spectrum) (it checks the file and the [3, h, w//2+1] shape) so a bad --set spectrum=... fails before "
            "out.mkdir (today the sweep folder is made first)")
SAME_UNITS = ("needs: fcjax/cli.py:cmd_sweep (and fcjax/sweep.py:run for pairs): if i == j: raise UsageError("
              "f'--units needs two different units, got {i} twice') (today it runs a meaningless sweep)")
RESUME_DONE = ("needs: fcjax/cli.py:cmd_sweep: if OUT/result.json exists, compare its config, layer, pairs and weights "
               "with this run's before sweep.run and refuse a mismatch with ConfigMismatchError('--out {out} holds a "
               "finished sweep of other inputs ({diffs}); use a new --out') (today, with checkpoint/ gone, it reruns "
               "and "
               "overwrites the old results)")
FIG_RESUME = ("needs: fcjax/cli.py:cmd_figure: before writing anything, if OUT/figure_config.json exists compare it "
              "(model, weights, dataset, layers, sweep config, n_images) with this run's and refuse a difference with "
              "ConfigMismatchError('--out {out} was made with other inputs ({diffs}); use a new --out or the same "
              "settings') (today figure_config.json is rewritten and the old stats/sweeps are reused)")
FIG_BEFORE_MKDIR = ("needs: fcjax/cli.py:cmd_figure: open the dataset (data.from_spec), check --n/--batch-size and the "
                    "--out path before out.mkdir and the figure_config.json write (today a bad dataset leaves a new "
                    "folder with figure_config.json behind)")
ONE_LINE_WEIGHTS = ("needs: weights_conversion/lucent_pth.py:check and weights_conversion/__init__.py:check_params: "
                    "one-line messages: f'{source} is not ...: {len(problems)} problem(s): ' + '; '.join(problems[:3]) "
                    "+ (f'; and {len(problems) - 3} more' if len(problems) > 3 else '') (today the problems are on "
                    "separate lines)")

def xf(reason: str, run: bool = True):
  """The strict xfail mark of a case that needs a fix outside this helper's files."""
  return pytest.mark.xfail(strict=True, reason=reason, run=run)


def c(id_: str, argv: str, *needles: str, prep: tuple[str, ...] = (), marks=()):
  """One case: ``argv`` (placeholders as above), the substrings its error line must hold, preparations."""
  return pytest.param(argv, needles, prep, id=id_, marks=marks)


CASES = [
    # ---------------------------------------------------------------------------------------------- the command itself
    c("command-typo", "sweeep --model demo", CLOSEST, "sweep", marks=xf(PARSER + "; plus errors.did_you_mean for "
                                                                       "an invalid subcommand choice")),
    c("command-missing", "", "command", marks=xf(PARSER)),
    c("option-typo", f"{SW} --stpes 3 --out {{d}}/out", "--stpes", marks=xf(PARSER)),
    c("required-option-missing", f"stats {DEMO} --dataset folder:{{photos}} --layers {L}", "--out",
      marks=xf(PARSER)),
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
    c("weights-convert-src-other-network", "weights convert {z}/other.pth {d}/out", "other.pth",
      marks=xf(ONE_LINE_WEIGHTS)),
    c("weights-convert-src-garbage-pb", "weights convert {z}/garbage.pb {d}/out", "garbage.pb"),
    c("weights-convert-src-damaged-checkpoint", "weights convert {z}/badckpt {d}/out", "damaged"),
    c("weights-convert-src-dir-not-checkpoint", "weights convert {z}/notckpt {d}/out", "not an fcjax weights"),
    c("weights-convert-dst-existing-file", "weights convert {pth} {d}/file.txt", "already exists"),
    c("weights-convert-dst-existing-dir", "weights convert {pth} {d}/dir", "already exists"),
    c("weights-convert-dst-parent-is-file", "weights convert {pth} {d}/file.txt/ckpt", "file.txt",
      marks=xf(DST_DIR)),
    # root ignores permission bits: /sys refuses new entries even to root (EPERM)
    c("weights-convert-dst-readonly", "weights convert {pth} /sys/fcjax-readonly/ckpt", "/sys", marks=xf(DST_DIR)),
    # ---------------------------------------------------------------------------------------------- weights verify
    c("weights-verify-weights-missing", "weights verify {d}/nope.pth --images {photos}", "nope.pth"),
    c("weights-verify-weights-keyword-typo", "weights verify randm --images {photos}", "random",
      marks=xf(KEYWORD_TYPO)),
    c("weights-verify-images-missing", "weights verify {ckpt} --images {d}/missing", "missing"),
    c("weights-verify-images-empty-folder", "weights verify {ckpt} --images {z}/empty_imgs", "train"),
    c("weights-verify-images-no-label-subfolders", "weights verify {ckpt} --images {z}/loose_imgs",
      "label subfolders"),
    c("weights-verify-images-non-image-files", "weights verify {ckpt} --images {z}/txt_imgs", "no images"),
    c("weights-verify-batch-size-zero", "weights verify {ckpt} --images {photos} --batch-size 0", "batch", "0"),
    c("weights-verify-batch-size-negative", "weights verify {ckpt} --images {photos} --batch-size -4", "batch",
      "-4"),
    c("weights-verify-batch-size-not-a-number", "weights verify {ckpt} --images {photos} --batch-size many",
      "--batch-size", marks=xf(PARSER)),
    # ---------------------------------------------------------------------------------------------- weights download
    c("weights-download-url-not-a-url", "weights download --url notaurl --cache-dir {d}/cache", "notaurl",
      marks=xf(URL)),
    c("weights-download-url-unreachable",
      "weights download --url http://127.0.0.1:9/inception5h.pth --cache-dir {d}/cache", "could not download",
      marks=xf(URL_LEFTOVER)),
    c("weights-download-cache-dir-is-file", "weights download --cache-dir {d}/file.txt", "file.txt",
      marks=xf(CACHE_DIR)),
    c("weights-download-cache-dir-parent-is-file", "weights download --cache-dir {d}/file.txt/cache", "file.txt",
      marks=xf(CACHE_DIR)),
    c("weights-download-cache-dir-readonly", "weights download --cache-dir /sys/fcjax-readonly", "/sys",
      marks=xf(CACHE_DIR)),
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
    c("stats-weights-random-seed-not-int", f"{ST} --weights random:abc --out {{d}}/s.npz", "random:abc",
      marks=xf(RANDOM_SEED)),
    c("stats-weights-random-seed-negative", f"{ST} --weights random:-1 --out {{d}}/s.npz", "random:-1",
      marks=xf(RANDOM_SEED)),
    c("stats-weights-keyword-typo", f"{ST} --weights randm --out {{d}}/s.npz", "random", marks=xf(KEYWORD_TYPO)),
    c("stats-weights-default-empty-cache", "stats --weights default --dataset folder:{photos} --layers "
      "conv2d2_pre_relu --out {d}/s.npz --smoke", "fcjax weights download"),
    # ---------------------------------------------------------------------------------------------- stats: names
    c("stats-model-typo", "stats --model inceptionv2 --dataset folder:{photos} --layers mixed4a --out {d}/s.npz",
      "inceptionv1"),
    c("stats-layer-typo-demo", f"stats {DEMO} --dataset folder:{{photos}} --layers conv4_pre_rel --out {{d}}/s.npz",
      CLOSEST, L),
    c("stats-layer-typo-inceptionv1", "stats --weights random --dataset folder:{photos} --layers mixed4a_pre_relx "
      "--out {d}/s.npz --smoke", CLOSEST, "mixed4a_pre_relu"),
    c("stats-readout-typo", f"{ST} --readout nueron --out {{d}}/s.npz", "neuron", marks=xf(PARSER)),
    c("stats-backend-typo", f"{ST} --backend grian --out {{d}}/s.npz", "grain", marks=xf(PARSER)),
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
    c("stats-n-zero", f"{ST.replace('--n 4', '--n 0')} --out {{d}}/s.npz", "--n", marks=xf(N_OPT)),
    c("stats-n-negative", f"{ST.replace('--n 4', '--n -5')} --out {{d}}/s.npz", "--n", marks=xf(N_OPT)),
    c("stats-n-nan", f"{ST.replace('--n 4', '--n nan')} --out {{d}}/s.npz", "--n", marks=xf(PARSER)),
    c("stats-n-not-a-number", f"{ST.replace('--n 4', '--n ten')} --out {{d}}/s.npz", "--n", marks=xf(PARSER)),
    c("stats-n-more-than-the-dataset", f"{ST.replace('--n 4', '--n 1000000')} --out {{d}}/s.npz", "--n",
      marks=xf(N_TOO_MANY)),
    c("stats-size-zero", f"{ST} --size 0 --out {{d}}/s.npz", "--size", marks=xf(SIZE_OPT)),
    c("stats-size-negative", f"{ST} --size -64 --out {{d}}/s.npz", "-64"),
    c("stats-size-too-small-for-layer", "stats --weights random --dataset folder:{photos} --layers mixed5b_pre_relu "
      "--size 16 --out {d}/s.npz", "16 px"),
    c("stats-size-huge", f"{ST} --size 1000000 --out {{d}}/s.npz", "--size", marks=xf(SIZE_OPT, run=False)),
    c("stats-size-not-a-number", f"{ST} --size big --out {{d}}/s.npz", "--size", marks=xf(PARSER)),
    c("stats-batch-size-zero", f"{ST} --batch-size 0 --out {{d}}/s.npz", "batch"),
    c("stats-batch-size-negative", f"{ST} --batch-size -2 --out {{d}}/s.npz", "batch"),
    c("stats-batch-size-huge", f"{ST} --batch-size 1000000000 --out {{d}}/s.npz", "--batch-size",
      marks=xf(BATCH_OPT, run=False)),
    c("stats-batch-size-nan", f"{ST} --batch-size nan --out {{d}}/s.npz", "--batch-size", marks=xf(PARSER)),
    # ---------------------------------------------------------------------------------------------- stats: --out
    c("stats-out-is-a-folder", f"{ST} --out {{d}}/dir", "folder", marks=xf(OUT_FILE)),
    c("stats-out-existing-other-file", f"{ST} --out {{d}}/file.txt", "already exists", marks=xf(OUT_FILE)),
    c("stats-out-parent-is-file", f"{ST} --out {{d}}/file.txt/s.npz", "file.txt", marks=xf(OUT_FILE)),
    c("stats-out-readonly", f"{ST} --out /sys/fcjax-readonly/s.npz", "/sys", marks=xf(OUT_FILE)),
    # ---------------------------------------------------------------------------------------------- pairs
    c("pairs-stats-missing", f"pairs {{d}}/missing.npz --layer {L}", "missing.npz"),
    c("pairs-stats-empty", f"pairs {{z}}/empty.npz --layer {L}", "empty.npz"),
    c("pairs-stats-truncated", f"pairs {{z}}/trunc.npz --layer {L}", "trunc.npz", marks=xf(STATS_ZIP)),
    c("pairs-stats-garbage", f"pairs {{z}}/garbage.npz --layer {L}", "garbage.npz"),
    c("pairs-stats-npz-of-another-kind", f"pairs {{z}}/notstats.npz --layer {L}", "notstats.npz"),
    c("pairs-stats-json-not-npz", f"pairs {{z}}/config_ok.json --layer {L}", "config_ok.json"),
    c("pairs-stats-header-not-json", f"pairs {{z}}/header_badjson.npz --layer {L}", "header_badjson.npz"),
    c("pairs-stats-header-not-object", f"pairs {{z}}/header_list.npz --layer {L}", "header_list.npz",
      marks=xf(STATS_HEADER)),
    c("pairs-stats-array-missing", f"pairs {{z}}/missing_array.npz --layer {L}", "missing_array.npz",
      marks=xf(STATS_HEADER)),
    c("pairs-stats-is-a-folder", f"pairs {{sweep}} --layer {L}", "stats file"),
    c("pairs-layer-typo", "pairs {stats} --layer conv4_pre_rel", L),
    c("pairs-layer-not-in-file", "pairs {stats} --layer conv3_pre_relu", "conv3_pre_relu"),
    # ---------------------------------------------------------------------------------------------- sweep: names
    c("sweep-layer-typo", f"{SW.replace(L, 'conv4_prerelu')} --out {{d}}/out", CLOSEST, L),
    c("sweep-model-typo", f"{SW.replace('demo', 'dmeo')} --out {{d}}/out", "demo"),
    c("sweep-pick-typo", f"sweep {DEMO} --layer {L} --pick lowst --stats {{stats}} --out {{d}}/out", "lowest",
      marks=xf(PARSER)),
    c("sweep-recipe-typo", f"{SW} --recipe lucd --out {{d}}/out", "lucid", marks=xf(PARSER)),
    c("sweep-format-typo", f"{SW} --format jpg --out {{d}}/out", "png", marks=xf(PARSER)),
    c("sweep-config-field-typo", f"{SW} --config {{z}}/config_unknown.json --out {{d}}/out", CLOSEST, "steps",
      marks=xf(FIELD_TYPO)),
    c("sweep-set-field-typo", f"{SW} --set stpes=3 --out {{d}}/out", CLOSEST, "steps", marks=xf(FIELD_TYPO)),
    c("sweep-set-param-typo", f"{SW} --set param=mac0 --out {{d}}/out", "maco"),
    c("sweep-set-readout-typo", f"{SW} --set readout=nueron --out {{d}}/out", "neuron"),
    # ---------------------------------------------------------------------------------------------- sweep: units
    c("sweep-units-out-of-range", f"{SW.replace('--units 1 2', '--units 0 64')} --out {{d}}/out", "64"),
    c("sweep-units-negative", f"{SW.replace('--units 1 2', '--units -1 2')} --out {{d}}/out", "-1"),
    c("sweep-units-same-twice", f"{SW.replace('--units 1 2', '--units 3 3')} --out {{d}}/out", "3",
      marks=xf(SAME_UNITS)),
    c("sweep-units-not-numbers", f"{SW.replace('--units 1 2', '--units a b')} --out {{d}}/out", "--units",
      marks=xf(PARSER)),
    c("sweep-units-missing", f"{SW.replace('--units 1 2', '')} --out {{d}}/out", "--units"),
    c("sweep-pick-without-stats", f"{SW.replace('--units 1 2', '--pick lowest')} --out {{d}}/out", "--stats"),
    # ---------------------------------------------------------------------------------------------- sweep: stats file
    c("sweep-stats-missing", f"{SW} --stats {{d}}/missing.npz --out {{d}}/out", "missing.npz"),
    c("sweep-stats-truncated", f"{SW} --stats {{z}}/trunc.npz --out {{d}}/out", "trunc.npz", marks=xf(STATS_ZIP)),
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
    c("sweep-config-not-an-object", f"{SW} --config {{z}}/config_list.json --out {{d}}/out", "config_list.json",
      marks=xf(CONFIG_OBJECT)),
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
    c("sweep-set-canvas-huge", f"{SW} --set canvas_size=1000000 --out {{d}}/out", "canvas_size",
      marks=xf(SIZE_CAP, run=False)),
    # ---------------------------------------------------------------------------------------------- sweep: spectra
    c("sweep-spectrum-missing", f"{SW} --set param=maco --set spectrum={{d}}/nope.npy --out {{d}}/out", "nope.npy",
      marks=xf(SPECTRUM)),
    c("sweep-spectrum-truncated", f"{SW} --set param=maco --set spectrum={{z}}/trunc.npy --out {{d}}/out",
      "trunc.npy", marks=xf(SPECTRUM)),
    c("sweep-spectrum-wrong-shape", f"{SW} --set param=maco --set spectrum={{z}}/shape.npy --out {{d}}/out",
      "spectrum", marks=xf(SPECTRUM)),
    c("sweep-spectrum-pickled-objects", f"{SW} --set param=maco --set spectrum={{z}}/pickle.npy --out {{d}}/out",
      "pickle.npy", marks=xf(SPECTRUM)),
    # ---------------------------------------------------------------------------------------------- sweep: --out
    c("sweep-out-existing-file", f"{SW} --out {{d}}/file.txt", "file.txt", marks=xf(OUT_DIR.format(cmd="sweep"))),
    c("sweep-out-parent-is-file", f"{SW} --out {{d}}/file.txt/out", "file.txt",
      marks=xf(OUT_DIR.format(cmd="sweep"))),
    c("sweep-out-readonly", f"{SW} --out /sys/fcjax-readonly", "/sys", marks=xf(OUT_DIR.format(cmd="sweep"))),
    # ---------------------------------------------------------------------------------------------- sweep: resumes
    c("sweep-resume-other-units", f"{SW.replace('--units 1 2', '--units 3 4')} --out {{prev}}", "(saved)", "3, 4",
      prep=("prev",)),
    c("sweep-resume-other-seed", f"{SW} --set seed=7 --out {{prev}}", "seed", prep=("prev",)),
    c("sweep-resume-other-layer", f"{SW.replace(L, 'conv3_pre_relu')} --out {{prev}}", "conv3_pre_relu",
      prep=("prev",)),
    c("sweep-resume-other-weights", f"{SW} --weights random:3 --out {{prev}}", "weights|digest", prep=("prev",)),
    c("sweep-resume-finished-other-units", f"{SW.replace('--units 1 2', '--units 3 4')} --out {{prev}}", "units",
      prep=("prev", "no_checkpoint"), marks=xf(RESUME_DONE)),
    # ---------------------------------------------------------------------------------------------- plot
    c("plot-folder-missing", "plot {d}/missing", "missing"),
    c("plot-folder-empty", "plot {d}/dir", "not a sweep result"),
    c("plot-result-is-a-file", "plot {d}/file.txt", "not a sweep result"),
    c("plot-result-json-invalid", "plot {z}/sw_badjson", "sw_badjson"),
    c("plot-result-json-not-object", "plot {z}/sw_listjson", "sw_listjson", marks=xf(RESULT_HEADER)),
    c("plot-result-json-fields-missing", "plot {z}/sw_nofield", "sw_nofield", marks=xf(RESULT_HEADER)),
    c("plot-arrays-truncated", "plot {z}/sw_trunc", "sw_trunc", marks=xf(RESULT_ZIP)),
    c("plot-arrays-empty", "plot {z}/sw_emptyarrays", "sw_emptyarrays", marks=xf(RESULT_ZIP)),
    c("plot-arrays-missing-key", "plot {z}/sw_missingkey", "lacks"),
    c("plot-arrays-pickled-objects", "plot {z}/sw_pickle", "sw_pickle"),
    c("plot-stats-missing", "plot {prev} --stats {d}/missing.npz", "missing.npz", prep=("prev",)),
    c("plot-stats-truncated", "plot {prev} --stats {z}/trunc.npz", "trunc.npz", prep=("prev",), marks=xf(STATS_ZIP)),
    c("plot-stats-another-kind", "plot {prev} --stats {z}/notstats.npz", "notstats.npz", prep=("prev",)),
    c("plot-stats-path-file-stale", "plot {prev}", "gone.npz", prep=("prev", "stale_stats_path")),
    c("plot-format-typo", "plot {prev} --format jpg", "png", prep=("prev",), marks=xf(PARSER)),
    # ---------------------------------------------------------------------------------------------- figure
    c("figure-layer-typo", f"{FIG.replace('--layers ' + L, '--layers conv4_pre_rlu')} --out {{d}}/f", CLOSEST, L),
    c("figure-picks-typo", f"{FIG.replace('--picks highest', '--picks higest')} --out {{d}}/f", "highest",
      marks=xf(PARSER)),
    c("figure-weights-missing", f"{FIG.replace('--model demo', '--weights {d}/nope.pth')} --out {{d}}/f",
      "nope.pth"),
    c("figure-needs-dataset", "figure --weights random --smoke --layers conv2d2_pre_relu --out {d}/f", "--dataset"),
    c("figure-dataset-missing-folder", f"{FIG.replace('{photos}', '{d}/nope')} --out {{d}}/f", "nope",
      marks=xf(FIG_BEFORE_MKDIR)),
    c("figure-dataset-kind-typo", f"{FIG.replace('folder:', 'foldr:')} --out {{d}}/f", "did you mean 'folder:",
      marks=xf(FIG_BEFORE_MKDIR)),
    c("figure-n-zero", f"{FIG.replace('--n 4', '--n 0')} --out {{d}}/f", "--n", marks=xf(N_OPT)),
    c("figure-n-negative", f"{FIG.replace('--n 4', '--n -1')} --out {{d}}/f", "--n", marks=xf(N_OPT)),
    c("figure-batch-size-zero", f"{FIG} --batch-size 0 --out {{d}}/f", "batch", marks=xf(FIG_BEFORE_MKDIR)),
    c("figure-config-not-an-object", f"{FIG} --config {{z}}/config_list.json --out {{d}}/f", "config_list.json",
      marks=xf(CONFIG_OBJECT)),
    c("figure-out-existing-file", f"{FIG} --out {{d}}/file.txt", "file.txt", marks=xf(OUT_DIR.format(cmd="figure"))),
    c("figure-out-parent-is-file", f"{FIG} --out {{d}}/file.txt/f", "file.txt",
      marks=xf(OUT_DIR.format(cmd="figure"))),
    c("figure-resume-other-dataset", f"{FIG.replace('folder:{photos}', 'procedural:8')} --out {{fig}}", "dataset",
      prep=("fig",), marks=xf(FIG_RESUME)),
    c("figure-resume-other-seed", f"{FIG} --set seed=5 --out {{fig}}", "seed", prep=("fig",), marks=xf(FIG_RESUME)),
    c("figure-resume-other-layers", f"{FIG.replace('--layers ' + L, '--layers conv3_pre_relu')} --out {{fig}}",
      "conv3_pre_relu", prep=("fig",), marks=xf(FIG_RESUME)),
    c("figure-resume-truncated-stats", f"{FIG} --out {{fig}}", "stats.npz", prep=("fig", "truncate_fig_stats"),
      marks=xf(STATS_ZIP)),
]
