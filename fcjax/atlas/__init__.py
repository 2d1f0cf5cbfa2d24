"""The layer atlas: screen many pairs of one layer in one compiled program per chunk, rank them by how impossible
their combinations are, and browse the result in a static report (issue 15; docs/atlas.md).

* :func:`screen`: phase 1 once per distinct unit (:func:`fcjax.sweep.unit_maxima`), phase 2 in equal chunks of pairs
  (:func:`fcjax.sweep.run` with ``unit_maxima=``; one compiled program for every chunk), resumable chunk by chunk,
  into an output folder with the ranked table (CSV, JSON, Parquet when pyarrow is there), the arrays of every pair,
  the statistics used, per-pair plots and ``index.html``.
* :func:`select_pairs`: the pair sets ``all``, ``top:K`` (by |r|), ``random:N[:SEED]``, explicit ``I-J`` lists.
* ``screen(..., k=3)`` screens triples (:mod:`fcjax.atlas._triples`): :func:`select_triples` (``joint:K``,
  ``independent:K``, ``random:N[:SEED]``, ``I-J-K`` lists), :func:`triple_row` (octant verdicts of
  :func:`fcjax.orthants.summarize`), :func:`rank_triples` (only-triple octants, then the score), TRIPLE_COLUMNS.
* :data:`SCREEN_PROTOCOL`, :func:`screen_config`: the default screening protocol (chosen by the calibration in
  docs/atlas.md) on top of the model's default settings.
* :func:`score`, :func:`rank`: the impossibility score and the ranking (:mod:`fcjax.atlas._table`).
* :func:`write_report`: (re)write ``index.html`` of an atlas folder; :func:`load`: read a finished atlas.

Example (demo model, about 4 minutes on a 2-core CPU)::

    from fcjax import atlas, experiment
    model, params, label = experiment.load_model('demo', None)
    st, _ = experiment.stats(model, params, dataset='procedural', layers=['conv4_pre_relu'], out='runs/s.npz', n=512)
    a = atlas.screen(model, params, layer='conv4_pre_relu', stats=st, out='runs/atlas', pairs='top:8+random:8')
    a.rows[0]   # the most impossible pair

Names are imported lazily (as in :mod:`fcjax`), so that ``fcjax.atlas.cli`` can add its commands to the parser
without loading the screen, the plots and the report.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "write_report": "_report",
    **{n: "_screen" for n in ("CHUNK_PAIRS", "DEFAULT_PAIRS", "DEFAULT_TRIPLES", "SCREEN_PROTOCOL", "TRIPLE_PROTOCOL",
                              "Atlas", "load", "screen", "screen_config", "select_pairs")},
    **{n: "_triples" for n in ("TRIPLE_COLUMNS", "rank_triples", "select_triples", "triple_row")},
    **{n: "_table" for n in ("COLUMNS", "pair_row", "rank", "score", "to_csv", "write_table")},
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
  if name in _WHERE:
    return getattr(importlib.import_module(f"fcjax.atlas.{_WHERE[name]}"), name)
  raise AttributeError(f"module 'fcjax.atlas' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_WHERE))
