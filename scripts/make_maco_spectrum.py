"""Estimate the natural-image magnitude spectrum that fcjax ships for MACO (``fcjax/assets/maco_spectrum.npy``).

Usage (from the repository root; about a minute on 2 CPU cores for the 1000 sample photos)::

    python scripts/make_maco_spectrum.py ../shared/data/imagenet-sample-256 \
        --reference ../shared/data/maco_magnitude_spectrum.npy

Reads every image of ``<root>/train/<synset>/*`` through ``fcjax.data.folder`` (shorter side resized to ``--size``,
centre crop; the sample photos have a shorter side of 256 px, so at the default size no pixel is resampled), computes
the mean ``|rfft2|`` of the decorrelated images (``fcjax.spectrum.estimate``), fits a power law, and writes the
spectrum as float16 [3, size, size//2+1] plus a JSON record beside it (command, images, size, date, fits, and, with
``--reference``, the comparison with another spectrum). Prints the record.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fcjax import data, spectrum  # noqa: E402

# Frequency bands (cycles per pixel) for the low / high slopes reported beside the single power law.
LOW_BAND = (1 / 256, 1 / 16)
HIGH_BAND = (1 / 8, 1 / 2)


def describe(spec: np.ndarray) -> dict:
  alpha, ratios = spectrum.fit_power_law(spec)
  low, _ = spectrum.fit_power_law(spec, f_range=LOW_BAND, n_bins=12)
  high, _ = spectrum.fit_power_law(spec, f_range=HIGH_BAND, n_bins=8)
  return {"alpha": round(alpha, 4), "alpha_low": round(low, 4), "alpha_high": round(high, 4),
          "channel_ratios": [round(r, 4) for r in ratios]}


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("root", help="image folder root (layout root/<split>/<label>/<image>)")
  ap.add_argument("--split", default="train")
  ap.add_argument("--size", type=int, default=256, help="square crop size in pixels (default 256)")
  ap.add_argument("--batch-size", type=int, default=50)
  ap.add_argument("--out", default=str(spectrum.DEFAULT_PATH), help="output .npy (default: the packaged asset)")
  ap.add_argument("--reference", default=None, help="another spectrum .npy to compare against (optional)")
  args = ap.parse_args(argv)

  source = data.folder(args.root, split=args.split)
  t0 = time.time()
  spec = spectrum.estimate(source.batches(args.batch_size, args.size))
  seconds = time.time() - t0
  out = pathlib.Path(args.out)
  spectrum.save(out, spec, dtype=np.float16)
  stored = spectrum.load(out)

  record = {
      "command": "python scripts/make_maco_spectrum.py " + " ".join(argv if argv is not None else sys.argv[1:]),
      "images": {"source": source.name, "count": len(source) - source.skipped, "skipped": source.skipped},
      "size": args.size,
      "shape": list(stored.shape),
      "dtype": "float16",
      "convention": "mean |rfft2(norm='ortho')| of rgb @ inv(M_norm).T, rgb in [0, 1] (fcjax.spectrum docstring)",
      "date": datetime.date.today().isoformat(),
      "seconds": round(seconds, 1),
      "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
      "fit": describe(stored),
  }
  if args.reference:
    ref = spectrum.load(args.reference)
    ref_small = spectrum.resize(ref, (args.size, args.size))
    record["reference"] = {
        "path": pathlib.Path(args.reference).name,
        "shape": list(ref.shape),
        "log_correlation": round(spectrum.log_correlation(stored, ref), 4),
        "log_correlation_f_le_0.25": round(spectrum.log_correlation(stored, ref, f_max=0.25), 4),
        "fit": describe(ref_small),
    }
  out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
  print(json.dumps(record, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
