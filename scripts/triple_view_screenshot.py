"""Screenshot of a triple's page (fcjax.plot_triple.write_triple_html) in headless chromium: the 3-D view and the
octant table, for docs/triple_view.png.

    python scripts/triple_view_screenshot.py                                   # synthetic triple (tests/triple_case.py)
    python scripts/triple_view_screenshot.py RESULT_DIR SUMMARY.json [--triple 0] [--cloud CLOUD.npy] \\
        [--out docs/triple_view.png] [--html triple.html]

RESULT_DIR is a saved triple SweepResult, SUMMARY.json the dict of fcjax.orthants.summarize for that triple, CLOUD.npy
optional raw natural activations [N, 3]. Needs playwright and Debian's chromium (/usr/bin/chromium). A larger
PNG than 150 kB is reduced to a 256-colour palette, so it stays small. About 5 s.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fcjax import plot_triple  # noqa: E402
from fcjax.result import SweepResult  # noqa: E402

CHROMIUM = pathlib.Path("/usr/bin/chromium")
VIEWPORT = {"width": 1300, "height": 900}
DRAG = (60, -25)  # pixels: a small turn away from the home view, so the shot shows depth


def screenshot(page: pathlib.Path, out: pathlib.Path, *, max_bytes: int = 150_000) -> pathlib.Path:
  """Open ``page`` (a file) in headless chromium, turn the first 3-D view a little, and save the region from the
  title to the end of the octant table as a PNG at ``out`` (a 256-colour palette one if it would exceed
  ``max_bytes``). Raises RuntimeError on a page error."""
  from PIL import Image  # noqa: PLC0415
  from playwright.sync_api import sync_playwright  # noqa: PLC0415

  errors: list[str] = []
  with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    try:
      tab = browser.new_page(viewport=VIEWPORT)
      tab.on("pageerror", lambda e: errors.append(str(e)))
      tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
      tab.goto(pathlib.Path(page).resolve().as_uri())
      box = tab.locator(".fc3d canvas").first.bounding_box()
      x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
      tab.mouse.move(x, y)
      tab.mouse.down()
      tab.mouse.move(x + DRAG[0], y + DRAG[1], steps=6)
      tab.mouse.up()
      tab.wait_for_timeout(100)
      top = tab.locator("h1").bounding_box()
      end = tab.locator("div.row").first.bounding_box()
      clip = {"x": 0, "y": max(top["y"] - 8, 0), "width": VIEWPORT["width"],
              "height": end["y"] + end["height"] + 12 - max(top["y"] - 8, 0)}
      with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "shot.png"
        tab.screenshot(path=str(raw), clip=clip, full_page=True)
        img = Image.open(raw).convert("RGB")
        if raw.stat().st_size > max_bytes:  # a palette keeps it small (octree: small swatches keep their colours)
          img = img.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, optimize=True)
    finally:
      browser.close()
  if errors:
    raise RuntimeError(f"the page reported errors: {errors}")
  return out


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("result", nargs="?", help="a saved triple SweepResult folder (none: synthetic data)")
  ap.add_argument("summary", nargs="?", help="the triple's summary JSON (fcjax.orthants.summarize)")
  ap.add_argument("--triple", type=int, default=0)
  ap.add_argument("--cloud", help="optional .npy of raw natural activations [N, 3]")
  ap.add_argument("--out", default=str(ROOT / "docs" / "triple_view.png"))
  ap.add_argument("--html", help="also keep the page here (default: a temporary file)")
  args = ap.parse_args(argv)
  if (args.result is None) != (args.summary is None):
    ap.error("give both RESULT_DIR and SUMMARY.json, or neither (synthetic data)")
  if args.result is None:
    sys.path.insert(0, str(ROOT / "tests"))
    import triple_case  # noqa: PLC0415 - the tests' synthetic triple, the demo when no result is given

    result, summary, cloud = triple_case.result(), triple_case.summary(args.triple), triple_case.cloud()
  else:
    import numpy as np  # noqa: PLC0415

    result = SweepResult.load(args.result)
    summary = json.loads(pathlib.Path(args.summary).read_text())
    cloud = np.load(args.cloud) if args.cloud else None
  with tempfile.TemporaryDirectory() as tmp:
    page = pathlib.Path(args.html) if args.html else pathlib.Path(tmp) / "triple.html"
    plot_triple.write_triple_html(result, args.triple, summary, cloud, page)
    out = screenshot(page, pathlib.Path(args.out))
  print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
