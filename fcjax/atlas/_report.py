"""The atlas's static report: ``index.html`` in the atlas folder, self-contained (inline CSS and JavaScript, the data
embedded as JSON, no network), from the template ``report.html`` shipped beside this module (``report_triples.html``
for an atlas of triples).

It shows the unit x unit matrix (each cell split into the pair's four quadrants, coloured by verdict), a scatter of
the pairs (r against the impossibility score), the sortable and filterable table, and on a click (cell, point or
row) the pair's combination plot, its best image at every angle and the two units' maximising images, read from the
folder's ``pairs/`` and ``units/`` by relative path (so the folder can be moved or zipped whole).

The triples' page shows the determinant of the triple's correlation matrix against its score, the table (one cell
per octant: K, coloured by verdict) and on a click the triple's figure (``triples/I_J_K.png``) beside its
rotatable 3-D view (``triples/I_J_K.html`` in an iframe) and the three units' maxima.
"""

from __future__ import annotations

import json
import pathlib

from fcjax import _io, _manifest, errors
from fcjax.orthants import OCTANTS

TEMPLATE = pathlib.Path(__file__).with_name("report.html")
TEMPLATE_TRIPLES = pathlib.Path(__file__).with_name("report_triples.html")
_SLOT = "/*__ATLAS_DATA__*/null"
# Columns the report's table shows (all columns are in table.csv).
SHOWN = ("rank", "unit_i", "unit_j", "r", "score", "verdict_I", "verdict_II", "verdict_III", "verdict_IV",
         "corner_I", "corner_II", "corner_III", "corner_IV", "q", "q_bound", "reach_median", "flags")
SHOWN_TRIPLES = (("rank", "unit_i", "unit_j", "unit_k", "r_ij", "r_ik", "r_jk", "det", "n_only_triple", "only_triple",
                  "score", "n_collapsed", "n_uncertain") + tuple(f"corner_{o}" for o in OCTANTS) + ("flags",))


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
          "pair_spec": inputs.get("pair_spec"), "stats_count": inputs.get("stats_count")}
  recipe = f"{cfg['param']} image, {cfg['transforms']} transforms, p={cfg['p']}"
  if inputs.get("k", 2) == 3:
    meta.update(n_triples=len(rows), protocol=f"{cfg['n_directions']} + 20 diagonal directions x {cfg['n_seeds']} "
                                              f"seeds x {cfg['steps']} steps, {recipe}")
    return {"kind": "triples", "meta": meta, "shown": list(SHOWN_TRIPLES), "octants": list(OCTANTS), "rows": rows}
  meta.update(n_pairs=len(rows), protocol=f"{cfg['n_angles']} angles x {cfg['n_seeds']} seeds x {cfg['steps']} steps, "
                                          f"{recipe}")
  return {"meta": meta, "shown": list(SHOWN), "rows": rows}


def write_report(out: str | pathlib.Path) -> pathlib.Path:
  """(Re)write ``out/index.html`` from the atlas in ``out`` (atomically); returns its path."""
  out = pathlib.Path(out)
  data = report_data(out)
  html = (TEMPLATE_TRIPLES if data.get("kind") == "triples" else TEMPLATE).read_text()
  data = json.dumps(data, sort_keys=True).replace("</", "<\\/")  # cannot close the <script> early
  if _SLOT not in html:
    raise RuntimeError(f"the report template lacks the data slot {_SLOT!r}")  # a packaging bug, not bad input
  page = html.replace(_SLOT, data)
  _io.atomic_write(out / "index.html", lambda f: f.write(page.encode()))
  return out / "index.html"
