"""Activation statistics of a model's units on an image stream, and the choice of unit pairs to probe.

For each requested layer and one unit readout ('neuron': the channel at the spatial centre ``(H//2, W//2)``;
'channel': the channel averaged over space; or an explicit ``(row, col)``), one pass over the data gives:

* the exact mean, standard deviation and correlation of every channel pair, accumulated in float64 on the host from
  per-batch moments merged with the pairwise update of Chan, Golub & LeVeque (1979): state ``(n, mean, M2)`` with
  ``M2 = sum (x - mean)(x - mean)^T``; merging is exact up to float64 rounding, so batches of any size, shards from
  several devices and resumed runs all give the same answer. JAX stays in 32 bit (no ``jax_enable_x64``).
* dead units (zero variance) flagged in ``dead``; their correlations are NaN (never divided by) and they are never
  part of a selected pair.
* a bounded sample of per-image activation vectors (all channels, up to ``n_samples`` images) for the point clouds.
  The sample is the ``n_samples`` images with the smallest ``hash(seed, stream index)`` (a "bottom-k" sample): a
  uniform random subset without replacement that depends only on the seed and which images were seen, not on the
  batch size, the order, the devices or interruptions. When the stream has at most ``n_samples`` images, it is all
  of them. Samples are stored in stream order with their stream indices.
* the ``k`` pairs (i < j, live units) with the highest, the lowest and the closest-to-zero correlation.

Several layers share one jitted forward pass that stops at the deepest of them (compiled once: the last, partial
batch is padded to ``batch_size``). Batches are split over the local devices when ``batch_size`` allows.

With ``state_path`` the run is interrupt-safe: the accumulated state is written there (temp file + rename) every
``checkpoint_every`` images and when the run is interrupted (Ctrl-C or any exception); calling :func:`compute` again
with the same arguments continues from the saved position and gives the same answer. A state file made with a
different configuration (model, weights, layers, readout, input size, dataset, ...) is refused with
:class:`~fcjax.errors.ConfigMismatchError` naming the difference. ``StatsResult.save`` writes one ``.npz`` file
(arrays + a JSON header) atomically; :func:`load` reads it.

Example::

    model = fcjax.models.get('inceptionv1')
    res = fcjax.stats.compute(model, params, fcjax.data.folder(root), ['conv2d2_pre_relu'], readout='neuron')
    res.layers['conv2d2_pre_relu'].pairs['lowest'][0]   # (i, j, r): the most anti-correlated pair
    res.save('conv2d2.stats.npz')

Modules, one stage each: :mod:`~fcjax.stats.moments` (mergeable moments), :mod:`~fcjax.stats.sample` (bottom-k
sample), :mod:`~fcjax.stats.pairs` (pair choice), :mod:`~fcjax.stats.forward` (the jitted forward and its device
placement), :mod:`~fcjax.stats.accumulate` (the pass: :func:`compute`), :mod:`~fcjax.stats.resume` (the resume
file), :mod:`~fcjax.stats.results` (:class:`StatsResult` and its file format) and :mod:`~fcjax.stats.merge` (the
union of parts over disjoint positions: several hosts).
"""

from __future__ import annotations

from fcjax.stats.accumulate import compute, process_state_path, state_files
from fcjax.stats.merge import merge
from fcjax.stats.moments import (DEAD_RTOL, Moments, moments_finalize, moments_init, moments_merge, moments_of,
                                 moments_update)
from fcjax.stats.pairs import PAIR_KINDS, TRIPLE_KINDS, select_pairs, select_triples, triple_determinants
from fcjax.stats.results import FORMAT, VERSION, LayerStats, StatsResult, load
from fcjax.stats.resume import STATE_FORMAT
from fcjax.stats.sample import Sample, sample_init, sample_priority, sample_update

__all__ = ["DEAD_RTOL", "FORMAT", "PAIR_KINDS", "STATE_FORMAT", "VERSION", "LayerStats", "Moments", "Sample",
           "StatsResult", "compute", "load", "merge", "moments_finalize", "moments_init", "moments_merge",
           "moments_of", "moments_update", "process_state_path", "sample_init", "sample_priority", "sample_update",
           "select_pairs", "select_triples", "state_files", "TRIPLE_KINDS", "triple_determinants"]
