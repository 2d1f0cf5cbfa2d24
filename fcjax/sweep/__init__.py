"""The cosdot sweep: which directions can a pair of units be driven to?

For every pair of units (i, j) of one layer, the sweep follows the paper (Hamblin, Alvarez & Konkle, "Experiment and
Visualization"; SPEC §5) in two phases:

1. *Scales.* Each unit alone is maximised (activation maximisation, ``n_seeds`` noise seeds). The best value over the
   seeds is the unit's scale s_i, the tip of its axis in the combination plot.
2. *Combinations.* For ``n_angles`` angles θ evenly spaced on [0, 2π) and every seed, an image is optimised for
   ``cosdot((y_i / s_i, y_j / s_j), θ; p)``. θ lives in the scaled space.

Each phase is one compiled program (plus a small one that renders the final images to uint8). The optimisation of
ONE image (render -> random transforms with the image's own key -> features -> objective -> Optax update) is written
for a single image, run for ``block_steps`` steps with ``lax.scan``, and ``vmap``-ped over a flat batch axis that
enumerates (pair, angle, seed) (phase 2) or (pair, unit, seed) (phase 1). Unit indices, angles, scales, the seed,
the learning rate and the step count are traced arguments: a new pair of the same layer, another seed or learning
rate reuses the compiled program. Each program is compiled once per (settings, batch shape, device mesh) and cached
for the life of the process (:func:`cache_info`).

Keys: ``key(config.seed)`` -> ``fold_in(phase)`` -> ``fold_in(seed index)``; the initial image uses
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
:mod:`~fcjax.sweep.checkpoint` (resume) and :mod:`~fcjax.sweep.run` (the host loop: :func:`run`,
:func:`unit_maxima`).
"""

from __future__ import annotations

from fcjax.sweep.config import (DEMO_RECIPE, EXECUTION_FIELDS, PRESETS, PROGRAM_INDEPENDENT, RECIPE_PARAMS, RECIPES,
                                SweepConfig)
from fcjax.sweep.features import make_features, redirected_relu
from fcjax.sweep.program import cache_info
from fcjax.sweep.run import UnitMaxima, run, unit_maxima

__all__ = ["DEMO_RECIPE", "EXECUTION_FIELDS", "PRESETS", "PROGRAM_INDEPENDENT", "RECIPES", "RECIPE_PARAMS",
           "SweepConfig", "UnitMaxima", "cache_info", "make_features", "redirected_relu", "run",
           "unit_maxima"]
