"""The atlas's static report: ``index.html`` in the atlas folder, self-contained (inline CSS and JavaScript, the data
embedded as JSON, no network), from the template ``report.html`` shipped beside this module.

It shows the unit x unit matrix (each cell split into the pair's four quadrants, coloured by verdict), a scatter of
the pairs (r against the impossibility score), the sortable and filterable table, and on a click (cell, point or
row) the pair's combination plot, its best image at every angle and the two units' maximising images, read from the
folder's ``pairs/`` and ``units/`` by relative path (so the folder can be moved or zipped whole).
"""

from __future__ import annotations

import json
import pathlib

from fcjax import _io, _manifest, errors

TEMPLATE = pathlib.Path(__file__).with_name("report.html")
_SLOT = "/*__ATLAS_DATA__*/null"
# Columns the report's table shows (all columns are in table.csv).
SHOWN = ("rank", "unit_i", "unit_j", "r", "score", "verdict_I", "verdict_II", "verdict_III", "verdict_IV",
         "corner_I", "corner_II", "corner_III", "corner_IV", "q", "q_bound", "reach_median", "flags")


def report_data(out: pathlib.Path) -> dict:
  """What the report embeds: the atlas's inputs (model, layer, config, weights) and the ranked rows."""
  inputs = _manifest.read(out / "atlas.json")
  table = out / "table.json"
  if inputs is None or not table.is_file():
    raise errors.FcjaxError(f"{out} is not an atlas folder (expected atlas.json and table.json); run fcjax atlas "
                            "--out there first")
  rows = json.loads(table.read_text())["rows"]
  cfg = inputs["config"]
  meta = {"model": inputs["model"], "layer": inputs["layer"], "weights": inputs.get("weights"),
          "pair_spec": inputs.get("pair_spec"), "n_pairs": len(rows), "stats_count": inputs.get("stats_count"),
          "protocol": f"{cfg['n_angles']} angles x {cfg['n_seeds']} seeds x {cfg['steps']} steps, "
                      f"{cfg['param']} image, {cfg['transforms']} transforms, p={cfg['p']}"}
  return {"meta": meta, "shown": list(SHOWN), "rows": rows}


def write_report(out: str | pathlib.Path) -> pathlib.Path:
  """(Re)write ``out/index.html`` from the atlas in ``out`` (atomically); returns its path."""
  out = pathlib.Path(out)
  data = json.dumps(report_data(out), sort_keys=True).replace("</", "<\\/")  # cannot close the <script> early
  html = TEMPLATE.read_text()
  if _SLOT not in html:
    raise RuntimeError(f"{TEMPLATE} lacks the data slot {_SLOT!r}")  # a packaging bug, not bad input
  page = html.replace(_SLOT, data)
  _io.atomic_write(out / "index.html", lambda f: f.write(page.encode()))
  return out / "index.html"
