"""The cosdot sweep: which directions can a pair (or a triple) of units be driven to?

Triples (``pairs=[(i, j, k)]``) run the same phases with directions spread over the sphere instead of angles on the
circle (``SweepConfig.directions``; docs/triples.md) and get octant verdicts from :mod:`fcjax.orthants`.

For every pair of units (i, j) of one layer, the sweep follows the paper (Hamblin, Alvarez & Konkle, "Experiment and
Visualization") in phases built for the verdicts (docs/measures.md), each a batch of the same compiled program:

1. *Half-axes.* Each unit alone is maximised and minimised (``n_seeds`` noise seeds each; the linear objective, the
   cosdot of p = 0 along the axis). The best maximum is the unit's scale s_i, the tip of its axis in the plot, as in
   the paper; the best maximum and minimum are the reach R_i± of its two half-axes. The minimisation doubles this
   phase: 2 x units x seeds x steps image-steps, against units x seeds x steps for the paper's maxima alone.
2. *Angles.* For each angle θ (``SweepConfig.thetas``: ``n_angles`` evenly spaced, plus the quadrant diagonals) and
   every seed, an image is optimised for cosdot of the normalised pair ``u = (y_i / R_i±, y_j / R_j±)`` toward θ:
   every quadrant gets the same angles and its diagonal whatever the half-axes' lengths (``angle_space='paper'``
   spaces them over the scales instead). The first ``warmup_fraction`` of the steps use Lucid's floored cosdot, the
   rest the paper's exact form; C is reported in the exact form.
3. *Refinement.* Every kept image (angles and half-axes) is scored on every other image's objective
   (:mod:`~fcjax.sweep.refine`, NumPy: C depends on y alone); each image beaten by more than ``refine_tolerance``
   is re-optimised for ``refine_steps`` from the image that beat it (warm start) and keeps the best of its own, the
   refined and the beating image; rounds repeat until nothing is beaten or ``refine_rounds`` are spent.
   ``meta['refinement']`` records the beaten images and dominated angles before and after each round.

Each phase runs the one compiled block (:mod:`~fcjax.sweep.program`: :class:`~fcjax.sweep.program.Program`, the
per-image init / step / evaluate / render) on its own batch of entries (units, direction, normalisers, linear or
cosdot, fresh or warm start, key stream, seed), ``vmap``-ped over a flat batch axis, for ``block_steps`` steps
under ``lax.scan``. Unit indices, directions, normalisers, seeds, the learning rate and step counts are traced: a new
pair or angle set reuses the compiled program; each batch shape compiles once per process (:func:`cache_info`).

Keys: ``key(config.seed)`` -> ``fold_in(stream)`` (1 half-axes, 2 angles, 3 + r round r) -> ``fold_in(seed index)``; the initial image uses
``fold_in(., 0)`` and step t's transforms use ``fold_in(fold_in(., 1), t)``. Keys therefore depend on the seed index
and the step only -- not on the position in the batch, the chunk or the device -- so chunking and sharding make the
same random draws. Seed s starts from the same noise image and sees the same transforms at every angle and pair, so
the difference between angles comes from the objective alone.

Reproducibility, exactly what holds (issue 19 measured it):

* **Same batch layout** (same devices, same ``chunk_size``): bitwise identical on CPU, including a resumed run.
* **Another layout** (other device count or chunk size): the per-device batch shape changes, and XLA:CPU then reduces
  in another order where an image is standardised (MACO's render) or transformed (the standard transforms): ~3e-7
  relative. The model's forward and backward, the pixel parameterization and the optimisers are batch-exact. After one
  step results agree to ~1e-5 relative; over many steps the optimisation amplifies the difference (2% in y after 12
  steps on an AMD EPYC, family 25). The answer a user reads agrees within seed noise: each angle's mean C and each
  unit's maximum differ by less than the spread between seeds. Treat layouts as independent reruns, not copies.
* **GPU**: XLA's default kernels are not deterministic (two identical runs on an H200 gave scales 12% apart after 32
  steps); set ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` before JAX starts for repeatable runs and exact resumes
  (then two runs were bitwise equal).

Long runs: the step loop runs as a compiled block of ``block_steps`` steps called ``ceil(steps / block_steps)``
times (steps past ``steps`` in the last block are computed but not applied). Between blocks C is recorded (the
history), progress is shown, and with ``resume_dir`` the whole state (images, optimiser moments, history, phase-1
results) is saved with orbax-checkpoint; calling :func:`run` again with the same arguments and ``resume_dir``
continues from the last saved block and gives the same result, bitwise on CPU, as an uninterrupted run.

Memory: ``chunk_size`` images are optimised at once (the rest wait their turn within each block); the last chunk is
padded with copies of the last image and the padding discarded, so any chunk size works with one compiled program.

Devices: the flat batch axis is sharded over ``jax.devices()`` (a 1-D :class:`jax.sharding.Mesh` named 'batch';
model parameters replicated); each chunk is padded to a multiple of the device count. Several hosts: start the same
script on every host after ``jax.distributed.initialize()`` (arguments from the cluster environment, see the JAX
docs on multi-process use); ``jax.devices()`` then lists every host's devices, :func:`run` builds the mesh over all
of them, places inputs with ``jax.make_array_from_callback`` and gathers outputs with
``multihost_utils.process_allgather``, so every process returns the full :class:`SweepResult`. ``resume_dir`` must
then be on a file system all hosts share. There is no scheduler of our own. ``tests/test_multiprocess.py`` runs it
on 2 and 4 localhost processes (bitwise equal to one process with the same total device count).

Example (about 30 s on a 2-core CPU the first time, mostly compilation; about 7 s when repeated in the same
process)::

    import jax, fcjax
    from fcjax import sweep
    model = fcjax.models.get('inceptionv1')
    params = model.init_params(jax.random.key(0))            # or model.load_params('inception5h.pth')
    result = sweep.run(model, params, sweep.SweepConfig.smoke(), layer='conv2d2_pre_relu', pairs=[(3, 7)])
    print(result.summary())

Modules: :mod:`~fcjax.sweep.config` (:class:`SweepConfig`, recipes and presets), :mod:`~fcjax.sweep.features`
(what is optimised; input validation), :mod:`~fcjax.sweep.program` (the per-image step, init and block; the one
compiled program and its cache), :mod:`~fcjax.sweep.layout` (chunks over the device mesh),
:mod:`~fcjax.sweep.checkpoint` (resume; the refinement rounds are recomputed from phase 2's final state),
:mod:`~fcjax.sweep.refine` (cross-evaluation and the rounds) and :mod:`~fcjax.sweep.run` (the host loop: :func:`run`,
:func:`unit_maxima`).
"""

from __future__ import annotations

from fcjax.sweep.config import (EXECUTION_FIELDS, PRESETS, PROGRAM_INDEPENDENT, RECIPE_PARAMS, RECIPES,
                                SweepConfig)
from fcjax.sweep.features import make_features, redirected_relu
from fcjax.sweep.program import cache_info
from fcjax.sweep.run import UnitMaxima, run, unit_maxima

__all__ = ["EXECUTION_FIELDS", "PRESETS", "PROGRAM_INDEPENDENT", "RECIPES", "RECIPE_PARAMS",
           "SweepConfig", "UnitMaxima", "cache_info", "make_features", "redirected_relu", "run",
           "unit_maxima"]
