"""The atlas's table: one row per pair from :func:`fcjax.measures.summarize`, the impossibility score, the ranking,
and the files (``table.csv`` always, ``table.parquet`` when pyarrow is importable, ``table.json`` for the report).

**Impossibility score** (0..4): the sum over the quadrants whose verdict is decided (``possible`` or ``collapsed``)
of ``1 - min(K_Q, 1)``, K_Q the quadrant's corner measure (fcjax.measures: 1 for a square frontier, 0.71 a disc,
0.5 a diamond, < 0.25 collapsed). A quadrant that is free adds ~0, a collapsed one ~1, so the score reads as "how
many quadrants' worth of combinations the pair cannot reach". ``uncertain`` quadrants add nothing (the evidence
carries neither verdict; ``n_uncertain`` counts them). Rank: score descending, then fewer uncertain quadrants, then
the pair's units.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib

from fcjax import _io, measures

Q = measures.QUADRANTS
COLUMNS = (["rank", "unit_i", "unit_j", "r", "score", "n_collapsed", "n_possible", "n_uncertain"]
           + [f"verdict_{q}" for q in Q] + [f"corner_{q}" for q in Q] + [f"paper_rel_c_{q}" for q in Q]
           + [f"q_{q}" for q in Q] + [f"q_bound_{q}" for q in Q] + ["q", "q_bound"] + [f"reach_{q}" for q in Q]
           + ["reach_median", "scale_i", "scale_j", "flags", "chunk", "index"])


def score(summary: dict, names=Q) -> float:
  """The impossibility score of one :func:`fcjax.measures.summarize` dict (module docstring); ``names``: the
  regions summed (a triple's octants, :mod:`fcjax.atlas._triples`)."""
  return float(sum(1.0 - min(summary[f"corner_{q}"], 1.0) for q in names
                   if summary[f"verdict_{q}"] in ("possible", "collapsed")))


def flags(summary: dict, names=Q) -> str:
  """The reasons of every uncertain quadrant (of ``names``) as codes, e.g. ``'III:under-reached,seeds;IV:axis'``
  ('' if none)."""
  parts = []
  for q in names:
    codes = list(dict.fromkeys(r.split(":")[0] for r in summary[f"reasons_{q}"]))
    if codes:
      parts.append(f"{q}:{','.join(codes)}")
  return ";".join(parts)


def pair_row(result, pair: int, cloud, r: float, *, chunk: int) -> dict:
  """The table row of pair ``pair`` of ``result`` (cloud: raw [N, 2] natural activations, r: their correlation)."""
  s = measures.summarize(result, pair, cloud=cloud)
  row = {"rank": 0, "unit_i": s["units"][0], "unit_j": s["units"][1], "r": r, "score": score(s),
         "n_collapsed": len(s["collapsed"]), "n_possible": len(s["possible"]), "n_uncertain": len(s["uncertain"])}
  for key in ("verdict_", "corner_", "paper_rel_c_", "q_", "q_bound_", "reach_"):
    row.update({key + q: s[key + q] for q in Q})
  row.update(q=s["q"], q_bound=s["q_bound"], reach_median=s["reach_median"], scale_i=s["scales"][0],
             scale_j=s["scales"][1], flags=flags(s), chunk=int(chunk), index=int(pair))
  return row


def rank(rows: list) -> list:
  """Rows sorted by score (descending), fewer uncertain quadrants, then units; ``rank`` set to 1, 2, ..."""
  key = lambda r: (-r["score"] if math.isfinite(r["score"]) else math.inf, r["n_uncertain"],  # noqa: E731
                   r["unit_i"], r["unit_j"])
  out = [dict(r) for r in sorted(rows, key=key)]
  for k, r in enumerate(out):
    r["rank"] = k + 1
  return out


def _cell(v) -> str:
  if isinstance(v, float):
    return "" if not math.isfinite(v) else format(v, ".6g")
  return str(v)


def to_csv(rows: list, columns=COLUMNS) -> str:
  """The rows as CSV text (``columns``, default the pairs' COLUMNS; floats with 6 significant digits, NaN empty)."""
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(columns)
  for r in rows:
    w.writerow([_cell(r[c]) for c in columns])
  return buf.getvalue()


def _jsonable(v):
  return None if isinstance(v, float) and not math.isfinite(v) else v


def write_table(rows: list, out: pathlib.Path, columns=COLUMNS) -> list:
  """Write table.csv, table.json (NaN as null) and, when pyarrow is importable, table.parquet, of ``columns``
  (default the pairs'); returns the paths. Without pyarrow, table.README says so (no dependency is added for it)."""
  out = pathlib.Path(out)
  text = to_csv(rows, columns)
  _io.atomic_write(out / "table.csv", lambda f: f.write(text.encode()))
  data = json.dumps({"columns": columns, "rows": [{k: _jsonable(v) for k, v in r.items()} for r in rows]})
  _io.atomic_write(out / "table.json", lambda f: f.write(data.encode()))
  paths = [out / "table.csv", out / "table.json"]
  try:
    import pyarrow as pa
    import pyarrow.parquet as pq
  except ImportError:
    note = "table.parquet not written: pyarrow is not importable here (pip install pyarrow); table.csv has it all\n"
    _io.atomic_write(out / "table.README", lambda f: f.write(note.encode()))
    return paths
  table = pa.table({c: [r[c] for r in rows] for c in columns})
  _io.atomic_write(out / "table.parquet", lambda f: pq.write_table(table, f))
  (out / "table.README").unlink(missing_ok=True)
  return paths + [out / "table.parquet"]
