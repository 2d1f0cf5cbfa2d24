"""Triples of units in the pipeline: the choice of a triple from the statistics, and the pictures and measures of a
one-triple sweep folder (``fcjax sweep --units I J K`` / ``--pick joint``). docs/triples.md has the method.

``experiment.sweep`` runs a triple as it runs a pair (the same manifest, checkpoint and resume); its
``plot_result`` hands a triple's result to :func:`plot_result` here.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Sequence

from fcjax import _io, distributed, errors

# The --pick values that choose a triple: fcjax.stats.TRIPLE_KINDS, spelled here so that building the CLI's parser
# does not import the statistics package (tests/test_stats_triples.py checks the two agree).
RULES = ("joint", "independent")


def pick_triple(stats_result, layer: str, rule: str = "joint") -> tuple[int, int, int]:
  """The first triple of ``layer`` by ``rule`` (:func:`fcjax.stats.select_triples`: 'joint' or 'independent')."""
  from fcjax import stats as stats_lib
  ls = stats_result.layers.get(layer)
  if ls is None:
    raise errors.ConfigMismatchError(
        f"the stats file has no layer {layer!r} (it has {', '.join(stats_result.layers)}); run fcjax stats "
        f"--layers {layer}")
  if rule not in stats_lib.TRIPLE_KINDS:
    raise errors.UsageError(f"a triple rule is one of {', '.join(stats_lib.TRIPLE_KINDS)}, got {rule!r}")
  found = stats_lib.select_triples(ls.corr, 1, ls.dead)[rule]
  if not found:
    raise errors.FcjaxError(f"no {rule!r} triple in {layer}: fewer than 3 live units, or every triple has a pair "
                            f"correlated beyond |r| = {stats_lib.TRIPLE_PAIR_LIMIT}; give --units I J K")
  i, j, k, _ = found[0]
  return int(i), int(j), int(k)


def cloud_of(stats_result, layer: str, units: Sequence[int]) -> Any:
  """float [n, k]: the natural-image points of ``units`` (the stats samples), or None without statistics (pairs and
  triples alike)."""
  if stats_result is None or layer not in stats_result.layers:
    return None
  return stats_result.layers[layer].samples[:, [int(u) for u in units]]


def plot_result(result, stats_result, out_dir: str | os.PathLike, formats: Sequence[str] = ("png", "pdf")) -> dict:
  """The triple figure (``plot.<fmt>``), ``triple.html`` (the rotatable 3-D view), ``measures.json`` (the octant
  verdicts, :func:`fcjax.orthants.summarize`) and ``result.csv`` of a one-triple sweep result, into ``out_dir``."""
  from fcjax import orthants, plot_triple
  out_dir = pathlib.Path(out_dir)
  cloud = cloud_of(stats_result, result.layer, result.pairs[0])
  summary = orthants.summarize(result, 0, cloud=cloud)
  paths = [out_dir / f"plot.{fmt}" for fmt in formats]

  def write():
    fig = plot_triple.plot_triple(result, 0, summary=summary, cloud=cloud)
    for path in paths:
      plot_triple.save_figure(fig, path)
    plot_triple.write_triple_html(result, 0, summary=summary, cloud=cloud, path=out_dir / "triple.html", figure=fig)
    text = json.dumps(summary, indent=2, default=float)
    _io.atomic_write(out_dir / "measures.json", lambda f: f.write(text.encode()))
    csv = result.to_csv()
    _io.atomic_write(out_dir / "result.csv", lambda f: f.write(csv.encode()))
  distributed.write_once(f"fcjax-plot:{out_dir}", write)
  return {"plots": [str(p) for p in paths + [out_dir / "triple.html"]], "measures": summary}
