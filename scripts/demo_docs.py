"""Write every number that README.md and docs/README.md state about the demo figure from its ``summary.json``.

The demo figure (``docs/demo_figure.png``) and its measures (``docs/demo_summary.json``) come from the README's first
main-job command. This script turns the measures into the text between the ``<!-- demo-summary:begin -->`` and
``<!-- demo-summary:end -->`` markers of both files, so that no sentence claims what the measures do not say::

    fcjax figure --model demo --layers conv4_pre_relu --out runs/demo
    cp runs/demo/figure.png docs/demo_figure.png && cp runs/demo/summary.json docs/demo_summary.json
    python scripts/demo_docs.py            # rewrite the marked blocks
    python scripts/demo_docs.py --check    # exit 1 if they are stale (tests/test_docs.py runs this)
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from fcjax.measures import q_text  # noqa: E402  (the one rule for printing q)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "docs" / "demo_summary.json"
BEGIN, END = "<!-- demo-summary:begin -->", "<!-- demo-summary:end -->"
QUADRANTS = ("I", "II", "III", "IV")
MEANING = {"I": "both up", "II": "first down, second up", "III": "both down", "IV": "first up, second down"}


def _num(v, spec: str = ".2f") -> str:
  return "n/a" if v is None or not math.isfinite(float(v)) else format(float(v), spec)


def _quadrant(s: dict, q: str) -> str:
  """'III collapsed (K 0.03)' or 'I uncertain (axis; K 0.40)'."""
  codes = list(dict.fromkeys(r.split(":")[0] for r in s.get(f"reasons_{q}", [])))
  why = f"{', '.join(codes)}; " if codes else ""
  return f"{q} {s[f'verdict_{q}']} ({why}K {_num(s[f'corner_{q}'])})"


def _pair(key: str, s: dict) -> str:
  layer, pick = key.split("/")
  i, j = s["units"]
  quads = ", ".join(_quadrant(s, q) for q in QUADRANTS)
  line = (f"- **{pick}** (units {i} & {j}, r = {_num(s['correlation'], '+.2f')} on the statistics' images): {quads}. "
          f"Paper-style relative mean C by quadrant: "
          + " / ".join(_num(s[f"paper_rel_c_{q}"]) for q in QUADRANTS) + ".")
  collapsed = s.get("collapsed", [])
  if collapsed:
    line += " Collapsed: " + ", ".join(f"{q} ({MEANING[q]})" for q in collapsed) + "."
  qs = []
  for name in QUADRANTS:
    text = q_text(s, name)
    if text == "n/a":  # the fit disowns its number: say why instead of printing it
      note = (s.get(f"q_note_{name}") or "poor fit").split(";")
      text = "none (" + "; ".join(n.strip() for n in note if "bound" not in n) + ")"
    qs.append(f"{name} {text}")
  line += " Frontier exponent q by quadrant: " + "; ".join(qs) + "."
  return line


def caption(summary: dict) -> str:
  """The README's figure caption: one sentence per pair, verdicts only."""
  parts = []
  for key, s in summary.items():
    pick = key.split("/")[1]
    i, j = s["units"]
    col = s.get("collapsed", [])
    unc = s.get("uncertain", [])
    txt = f"{pick} (units {i} & {j}, r = {_num(s['correlation'], '+.2f')}): "
    txt += ("collapsed in " + ", ".join(col)) if col else "no quadrant collapsed"
    if unc:
      txt += "; uncertain in " + ", ".join(unc)
    parts.append(txt)
  layer = next(iter(summary)).split("/")[0]
  return (f"*The embedded demo model (not InceptionV1), layer `{layer}`. Verdicts by quadrant (scale-invariant corner "
          f"measure K, `docs/measures.md`): " + "; ".join(parts)
          + ". Every number here is generated from `docs/demo_summary.json` by `scripts/demo_docs.py`; details: "
          "[docs/README.md](docs/README.md).*")


def details(summary: dict) -> str:
  """docs/README.md's per-panel list."""
  lines = [_pair(k, s) for k, s in summary.items()]
  reach = [s.get("reach_median") for s in summary.values()]
  fin = [r for r in reach if r is not None and math.isfinite(float(r))]
  if fin:
    lines.append("")
    lines.append(f"Median reach beyond the natural-image cloud (`reach_median`): "
                 f"{_num(min(fin))}-{_num(max(fin))} by panel.")
  return "\n".join(lines)


def _replace(text: str, block: str, path: pathlib.Path) -> str:
  pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
  if not pattern.search(text):
    raise SystemExit(f"{path}: no {BEGIN} ... {END} block")
  return pattern.sub(lambda m: f"{BEGIN}\n{block}\n{END}", text, count=1)


def render(summary: dict) -> dict[pathlib.Path, str]:
  """{file: its new text}."""
  out = {}
  for path, block in ((ROOT / "README.md", caption(summary)), (ROOT / "docs" / "README.md", details(summary))):
    out[path] = _replace(path.read_text(), block, path)
  return out


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--check", action="store_true", help="exit 1 if a marked block differs from the summary")
  ap.add_argument("--summary", default=str(SUMMARY))
  args = ap.parse_args(argv)
  summary = json.loads(pathlib.Path(args.summary).read_text())
  stale = []
  for path, text in render(summary).items():
    if path.read_text() != text:
      stale.append(path)
      if not args.check:
        path.write_text(text)
  if args.check and stale:
    print("stale demo text (run python scripts/demo_docs.py): " + ", ".join(str(p) for p in stale), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
