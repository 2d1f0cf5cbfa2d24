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
then be on a file system all hosts share. There is no scheduler of our own. (Multi-host use is untested here.)

Example (about 30 s on a 2-core CPU the first time, mostly compilation; about 7 s when repeated in the same
process)::

    import jax, fcjax
    from fcjax import sweep
    model = fcjax.models.get('inceptionv1')
    params = model.init_params(jax.random.key(0))            # or model.load_params('inception5h.pth')
    result = sweep.run(model, params, sweep.SweepConfig.smoke(), layer='conv2d2_pre_relu', pairs=[(3, 7)])
    print(result.summary())
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import math
import numbers
import pathlib
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fcjax import errors
from fcjax import objectives
from fcjax import param as param_lib
from fcjax import transforms as transforms_lib
from fcjax.models.base import Model
from fcjax.result import SweepResult

_PARAMS = ("maco", "fft", "pixel")
_TRANSFORMS = ("maco", "standard", "none")
_OPTIMIZERS = {"adam": optax.adam, "nadam": optax.nadam, "sgd": optax.sgd}
_RELUS = ("plain", "redirected")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Config fields that do not change the result (only how the work is split): a resume may change them.
EXECUTION_FIELDS = ("chunk_size",)
_RESUME_FORMAT = "fcjax.sweep-resume/2"  # /2: phase 1 saved per distinct unit
_CACHE_SIZE = 32  # compiled programs (and their parts) kept per process


# ------------------------------------------------------------------------------------------------------ config

# The reference recipe of each image parameterization: what SweepConfig's transforms / optimizer / learning_rate are
# when left unset. MACO: random crops and NAdam lr 1.0 on the phase (Fel et al. 2023; horama). FFT and pixel images:
# Lucid's standard transforms and Adam lr 0.05 (Lucid / Lucent render defaults, SPEC §2-3).
RECIPES = {
    "maco": dict(transforms="maco", optimizer="nadam", learning_rate=1.0),
    "fft": dict(transforms="standard", optimizer="adam", learning_rate=0.05),
    "pixel": dict(transforms="standard", optimizer="adam", learning_rate=0.05),
}
# Named recipes (the CLI's --recipe): the parameterization they use, with its reference recipe above.
RECIPE_PARAMS = {"maco": "maco", "lucid": "fft"}
# Settings presets. 'smoke': tiny settings for a quick end-to-end check (seconds to a minute on a CPU).
# 'demo': the demo model is small (64 px input) and meant to finish in minutes on a laptop CPU: fewer angles, seeds
# and steps than the paper's 60 x 5 x 512, which stay the defaults for every other model. It uses Lucid's FFT image
# with the standard transforms (recipe 'lucid', DEMO_RECIPE): on this model MACO's fixed natural spectrum caps image
# contrast, and its unit maxima (measured: 22 and 20 for conv4_pre_relu units 12 and 60 at 128 steps, 25 and 24 at
# 512) fall inside the cloud of natural-image activations, while the FFT image reaches 82 and 88 in 128 steps, so
# the axis tips mean "the unit's maximum".
PRESETS = {
    "smoke": dict(n_angles=8, n_seeds=2, steps=16, block_steps=8, canvas_size=64, input_size=64),
    "demo": dict(n_angles=24, n_seeds=3, steps=128, block_steps=32, canvas_size=64, input_size=64),
}
DEMO_RECIPE = "lucid"


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Settings of a sweep. Defaults are the paper's where it states them, else the reference it cites.

  ``seed``, ``learning_rate``, ``redirect_steps`` and ``steps`` are traced: changing them reuses the compiled
  programs. ``n_angles``, ``n_seeds`` and ``chunk_size`` set the batch shape; the rest selects the program.
  """

  # Unit readout: 'neuron' = the channel at the spatial centre (Lucid's neuron objective, which the paper's
  # InceptionV1 units follow), 'channel' = spatial mean, or an explicit (row, col) position (a "row,col" string works).
  readout: str | tuple[int, int] = "neuron"
  # Angles θ evenly spaced on [0, 2π): the paper's "60 distinct θ evenly spaced on [0 - 2π]".
  n_angles: int = 60
  # Noise seeds per angle and per unit: the paper's "5 times under different noise seeds".
  n_seeds: int = 5
  # cosdot exponent: the paper's p = 4 ("We set p = 4 for all experiments").
  p: float = 4
  # None = the paper's exact cosdot (needs an even integer p); a number in [0, 1) = Lucid's floored form
  # dot * max(floor, cos)^p (Lucid uses 0.1), which accepts any real p >= 0.
  floor: float | None = None
  # Optimisation steps per image in each phase: Lucid's/Lucent's render default of 512 (the paper gives no count;
  # MACO's reference runs 256-1000).
  steps: int = 512
  # Steps per compiled block. Between blocks: history of C, progress, checkpoint. 64 gives 8 history points and
  # checkpoints per phase at 512 steps; a block boundary costs one evaluation of y per image.
  block_steps: int = 64
  # Image parameterization: 'maco' (phase-only, fixed natural magnitude spectrum; the paper optimises "augmented with
  # additional feature visualization tricks (Fel et al., 2023)", i.e. MACO), 'fft' (Lucid's decorrelated FFT image)
  # or 'pixel' (plain sigmoid pixels; toy problems).
  param: str = "maco"
  # MACO magnitude spectrum: None = the estimate shipped with fcjax, else a path to a .npy [3, h, w//2+1].
  spectrum: str | None = None
  # Random transforms of each step: 'maco' (random crops resized to the model input plus noise, Fel et al.),
  # 'standard' (Lucid's pad/jitter/scale/rotate/jitter, then resize to the input) or 'none' (resize only).
  # None = the parameterization's reference recipe (RECIPES: 'maco' for MACO, 'standard' for fft and pixel).
  transforms: str | None = None
  # MACO crops: crop side as a fraction of the canvas side, and crops per step whose objectives are averaged.
  # The sweep measures y on the whole canvas (resized to the model input), so the crops cover most of it; Horama's
  # 25-30% (fcjax.transforms.MACO_CROP_FRACTION) suits a canvas several times the input and a picture, not a
  # measurement: on a 128 px canvas its crops are ~35 px blown up to 224, and what they optimise barely moves the
  # whole image's y. One crop keeps a step at one forward/backward pass per image, like Lucid (Horama uses 6).
  crop_fraction: tuple[float, float] = (0.8, 1.0)
  n_crops: int = 1
  # Optimiser and learning rate. None = the parameterization's reference recipe (RECIPES): MACO's reference uses
  # NAdam with lr 1.0 on the phase (Fel et al.; horama); Lucid renders fft / pixel images with Adam, lr 0.05.
  optimizer: str | None = None
  learning_rate: float | None = None
  # Side of the optimised image (the canvas) and of the model input it is resized to: Lucid/Lucent render a 128 px
  # image and upsample it to InceptionV1's 224 px input.
  canvas_size: int = 128
  input_size: int = 224
  # ReLU gradient: 'plain', or 'redirected' for the first `redirect_steps` steps of each phase (Lucid's trick: where
  # no gradient passes any ReLU for an image, let through the part that pushes negative inputs up).
  relu: str = "redirected"
  redirect_steps: int = 16
  # Images optimised at once (None = all). Changes memory, and the batch layout (module docstring: results agree within
  # seed noise, not bitwise). Issue 3 measured
  # ~67 MB per 224 px image in float32 for InceptionV1; here 300 images (60 x 5) at mixed4a_pre_relu peaked at
  # 7.4 GB on an H200 (~25 MB each). Deeper layers need more: set it when a full batch does not fit.
  chunk_size: int | None = None
  # Compute dtype of the model: 'float32' (reference) or 'bfloat16' (accelerators; C is still computed in float32).
  dtype: str = "float32"
  # Accumulate |d loss / d image| over the phase-2 steps (MACO's transparency map), stored in result.transparency.
  transparency: bool = False
  # Base of every PRNG key (module docstring). Same seed and batch layout -> bitwise identical results on CPU.
  seed: int = 0

  def __post_init__(self):
    for name, value in RECIPES.get(self.param, {}).items():  # unset recipe fields follow the parameterization
      if getattr(self, name) is None:
        object.__setattr__(self, name, value)
    ro = self.readout
    if isinstance(ro, str) and "," in ro:
      try:
        ro = tuple(int(v) for v in ro.split(","))
      except ValueError:
        raise errors.FcjaxError(f"readout position must be 'row,col' with integers, got {self.readout!r}") from None
    elif isinstance(ro, list):
      ro = tuple(ro)
    object.__setattr__(self, "readout", ro)
    if isinstance(self.crop_fraction, list):
      object.__setattr__(self, "crop_fraction", tuple(self.crop_fraction))
    if isinstance(self.p, numbers.Real) and not isinstance(self.p, bool) and float(self.p).is_integer():
      object.__setattr__(self, "p", int(self.p))
    self.validate()

  def validate(self) -> None:
    """Raise :class:`~fcjax.errors.FcjaxError` naming the first invalid field."""
    def positive_int(name):
      v = getattr(self, name)
      if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise errors.FcjaxError(f"SweepConfig.{name} must be a positive integer, got {v!r}")

    ro = self.readout
    if isinstance(ro, str):
      if ro not in ("neuron", "channel"):
        raise errors.FcjaxError(f"SweepConfig.readout must be 'neuron', 'channel' or a (row, col) position, got {ro!r}")
    elif not (isinstance(ro, tuple) and len(ro) == 2 and all(isinstance(v, numbers.Integral) and v >= 0 for v in ro)):
      raise errors.FcjaxError(f"SweepConfig.readout position must be two non-negative integers, got {ro!r}")
    if isinstance(self.n_angles, numbers.Integral) and self.n_angles < 1:
      raise errors.FcjaxError(f"SweepConfig.n_angles must be at least 1 (the paper uses 60), got {self.n_angles}")
    if isinstance(self.n_seeds, numbers.Integral) and self.n_seeds < 1:
      raise errors.FcjaxError(f"SweepConfig.n_seeds must be at least 1 (the paper uses 5), got {self.n_seeds}")
    for name in ("n_angles", "n_seeds", "steps", "block_steps", "canvas_size", "input_size", "n_crops"):
      positive_int(name)
    objectives.check_exponent(self.p, self.floor)
    if self.param not in _PARAMS:
      raise errors.FcjaxError(f"SweepConfig.param must be one of {_PARAMS}, got {self.param!r}")
    if self.transforms not in _TRANSFORMS:
      raise errors.FcjaxError(f"SweepConfig.transforms must be one of {_TRANSFORMS}, got {self.transforms!r}")
    if self.optimizer not in _OPTIMIZERS:
      raise errors.FcjaxError(f"SweepConfig.optimizer must be one of {tuple(_OPTIMIZERS)}, got {self.optimizer!r}")
    lr = self.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 or not math.isfinite(lr):
      raise errors.FcjaxError(f"SweepConfig.learning_rate must be a positive number, got {lr!r}")
    cf = self.crop_fraction
    if not (isinstance(cf, tuple) and len(cf) == 2 and all(isinstance(v, numbers.Real) for v in cf)
            and 0 < cf[0] <= cf[1] <= 1):
      raise errors.FcjaxError(f"SweepConfig.crop_fraction must be (lo, hi) with 0 < lo <= hi <= 1, got {cf!r}")
    if self.relu not in _RELUS:
      raise errors.FcjaxError(f"SweepConfig.relu must be one of {_RELUS}, got {self.relu!r}")
    rs = self.redirect_steps
    if isinstance(rs, bool) or not isinstance(rs, numbers.Integral) or rs < 0:
      raise errors.FcjaxError(f"SweepConfig.redirect_steps must be an integer >= 0, got {rs!r}")
    if self.chunk_size is not None:
      positive_int("chunk_size")
    if self.dtype not in _DTYPES:
      raise errors.FcjaxError(f"SweepConfig.dtype must be one of {tuple(_DTYPES)}, got {self.dtype!r}")
    if not isinstance(self.transparency, bool):
      raise errors.FcjaxError(f"SweepConfig.transparency must be True or False, got {self.transparency!r}")
    if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or not 0 <= self.seed < 2 ** 32:
      raise errors.FcjaxError(f"SweepConfig.seed must be an integer in [0, 2**32), got {self.seed!r}")
    if self.spectrum is not None and not isinstance(self.spectrum, str):
      raise errors.FcjaxError("SweepConfig.spectrum must be None or a path to a .npy file (pass arrays to "
                              "fcjax.param.maco directly)")

  def replace(self, **changes) -> "SweepConfig":
    """A copy with ``changes`` applied (validated)."""
    names = [f.name for f in dataclasses.fields(self)]
    unknown = sorted(set(changes) - set(names))
    if unknown:
      raise errors.FcjaxError(f"SweepConfig has no field(s) {unknown}; fields: {names}")
    new_param = changes.get("param", self.param)
    if new_param != self.param:  # recipe fields still at the old parameterization's defaults follow the new one
      for name, value in RECIPES.get(self.param, {}).items():
        if name not in changes and getattr(self, name) == value:
          changes[name] = None
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict:
    """Plain JSON-able dict; ``SweepConfig(**d)`` and :meth:`from_dict` rebuild the config."""
    d = dataclasses.asdict(self)
    for k in ("readout", "crop_fraction"):
      if isinstance(d[k], tuple):
        d[k] = list(d[k])
    return d

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "SweepConfig":
    """The config of a dict written by :meth:`to_dict` (e.g. ``SweepResult.config``); unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise errors.FcjaxError(f"unknown SweepConfig field(s) {unknown}; valid: {sorted(names)}")
    return cls(**dict(d))

  @classmethod
  def smoke(cls, **changes) -> "SweepConfig":
    """Tiny settings for a quick end-to-end check (seconds to a minute on a CPU): 8 angles x 2 seeds, 16 steps in
    blocks of 8, 64 px canvas and input."""
    base = dict(PRESETS["smoke"])
    base.update(changes)
    return cls(**base)

  @classmethod
  def lucid(cls, **changes) -> "SweepConfig":
    """Lucid's render recipe: FFT image with colour decorrelation, the standard transforms, Adam lr 0.05."""
    base = dict(param=RECIPE_PARAMS["lucid"], **RECIPES[RECIPE_PARAMS["lucid"]])
    base.update(changes)
    return cls(**base)

  def with_recipe(self, name: str) -> "SweepConfig":
    """A copy that uses the named recipe (RECIPE_PARAMS): its parameterization with that one's reference recipe."""
    if name not in RECIPE_PARAMS:
      raise errors.FcjaxError(f"unknown recipe {name!r}; use one of {tuple(RECIPE_PARAMS)}")
    param = RECIPE_PARAMS[name]
    return self.replace(param=param, **RECIPES[param])

  @classmethod
  def for_model(cls, model_name: str, input_size: int, *, smoke: bool = False,
                recipe: str | None = None) -> "SweepConfig":
    """The default settings for a model: the paper's (``smoke``: PRESETS['smoke']; the demo model: PRESETS['demo']
    with DEMO_RECIPE), then ``recipe``. A model whose nominal input is smaller than the config's input size gets its
    own input size (and a canvas no larger)."""
    if smoke:
      cfg = cls.smoke()
    elif model_name == "demo":
      cfg = cls(**PRESETS["demo"])
    else:
      cfg = cls()
    if input_size < cfg.input_size:
      cfg = cfg.replace(input_size=input_size, canvas_size=min(cfg.canvas_size, input_size))
    recipe = recipe or (DEMO_RECIPE if model_name == "demo" else None)
    return cfg if recipe is None else cfg.with_recipe(recipe)

  @property
  def thetas(self) -> np.ndarray:
    """float64 [n_angles]: the target angles 2πa / n_angles, radians."""
    return 2 * np.pi * np.arange(self.n_angles) / self.n_angles

  @property
  def n_blocks(self) -> int:
    """Compiled blocks per phase: ceil(steps / block_steps)."""
    return -(-self.steps // self.block_steps)


# ---------------------------------------------------------------------------------------------------- features

@jax.custom_vjp
def _redirected_relu(x: jax.Array, active: jax.Array) -> jax.Array:
  return jnp.maximum(x, 0)


def _redirected_relu_fwd(x, active):
  return jnp.maximum(x, 0), (x, active)


def _redirected_relu_bwd(res, g):
  x, active = res
  plain = jnp.where(x > 0, g, jnp.zeros_like(g))
  # g is d(loss)/d(out) of the minimised loss, so g < 0 is where the optimiser will raise the input: let that part
  # through below zero as well, but never a push that drives a negative input further down.
  redirected = jnp.where((x > 0) | (g < 0), g, jnp.zeros_like(g))
  # Per image (axis 0): redirect only where the plain gradient is zero everywhere (the unit is stuck).
  axes = tuple(range(1, x.ndim))
  stuck = jnp.logical_not(jnp.any(plain != 0, axis=axes, keepdims=True)) if x.ndim else jnp.all(plain == 0)
  return jnp.where(active & stuck, redirected, plain), None


_redirected_relu.defvjp(_redirected_relu_fwd, _redirected_relu_bwd)


def redirected_relu(active: jax.Array | bool = True) -> Callable[[jax.Array], jax.Array]:
  """A ReLU whose gradient is Lucid's "redirected" one while ``active`` (a bool, may be traced).

  Forward: ``max(x, 0)``. Backward with ``active``: for each image (axis 0) whose ordinary ReLU gradient is zero
  everywhere, pass the incoming gradient wherever it would raise x (and where x > 0), so that a unit stuck below zero
  gets a push upward; otherwise the ordinary ReLU gradient. Pass it to ``model.apply(..., relu=...)``.
  """
  active = jnp.asarray(active, bool)
  return lambda x: _redirected_relu(x, active)


def _model_features(model: Model, layer: str, readout: Any, dtype: str):
  """``f(params, images, units, relu) -> float32 [N, k]`` for a model tensor (names already validated)."""
  name = model.canonical(layer)
  vector = model.layer(name).stride == 0
  mode = "vector" if vector else readout
  cdtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype

  def features(params, images, units, relu=jax.nn.relu):
    acts = model.apply(params, images, (name,), dtype=cdtype, relu=relu)[name]
    return objectives.readout(acts, units, mode).astype(jnp.float32)

  return features


def make_features(model: Model, layer: str, readout: Any = "neuron", dtype: str = "float32",
                  relu: Callable[[jax.Array], jax.Array] = jax.nn.relu):
  """The feature function of units of one model tensor.

  Args:
    model: a :class:`~fcjax.models.base.Model`.
    layer: tensor name (any spelling the model accepts).
    readout: 'neuron' (centre position), 'channel' (spatial mean) or (row, col); ignored for vector tensors.
    dtype: compute dtype, 'float32' or 'bfloat16' (or a JAX dtype).
    relu: the nonlinearity the model uses (:func:`redirected_relu` for Lucid's trick).

  Returns:
    ``f(params, images float32 [N, H, W, 3] in [0, 1], units int [k] (may be traced)) -> float32 [N, k]``.
  """
  name = model.canonical(layer)
  if isinstance(dtype, str) and dtype not in _DTYPES:
    raise errors.FcjaxError(f"dtype must be one of {tuple(_DTYPES)}, got {dtype!r}")
  feats = _model_features(model, name, readout, dtype)
  return lambda params, images, units: feats(params, images, units, relu)


def _function_features(fn: Callable):
  def features(params, images, units, relu=None):
    del relu  # a bare feature function has no ReLU to replace
    y = fn(params, images)
    return jnp.take(y, units, axis=-1).astype(jnp.float32)
  return features


# ------------------------------------------------------------------------------------------- compiled programs

class _Ident:
  """Hashes and compares by identity (a model or function inside a static cache key)."""

  def __init__(self, obj):
    self.obj = obj

  def __hash__(self):
    return id(self.obj)

  def __eq__(self, other):
    return isinstance(other, _Ident) and other.obj is self.obj


@dataclasses.dataclass(frozen=True)
class _Program:
  """Everything static about one phase's program (the cache key together with the argument shapes)."""
  phase: int            # 1: single-unit maximisation; 2: cosdot of the scaled pair
  source: _Ident        # Model or bare feature function
  layer: str | None
  readout: Any
  dtype: str
  relu: str
  param: str
  spectrum: str | None
  transforms: str
  crop_fraction: tuple[float, float]
  n_crops: int
  canvas_size: int
  input_size: int
  p: float
  floor: float | None
  optimizer: str
  block_steps: int
  transparency: bool

  @classmethod
  def of(cls, phase: int, source, layer, cfg: SweepConfig) -> "_Program":
    return cls(phase=phase, source=_Ident(source), layer=layer, readout=cfg.readout, dtype=cfg.dtype, relu=cfg.relu,
               param=cfg.param, spectrum=cfg.spectrum, transforms=cfg.transforms,
               crop_fraction=tuple(float(v) for v in cfg.crop_fraction), n_crops=cfg.n_crops,
               canvas_size=cfg.canvas_size, input_size=cfg.input_size, p=cfg.p, floor=cfg.floor,
               optimizer=cfg.optimizer,
               block_steps=min(cfg.block_steps, cfg.steps), transparency=cfg.transparency and phase == 2)


class _Entries(NamedTuple):
  """One row per image of the flat batch axis."""
  units: Any   # int32 [N, k] unit indices (k = 1 in phase 1, 2 in phase 2)
  theta: Any   # float32 [N] target angle (phase 2)
  scale: Any   # float32 [N, k] the units' scales (ones in phase 1)
  seed: Any    # int32 [N] seed index


class _State(NamedTuple):
  """Optimisation state of one image (a batch of them once vmapped)."""
  image: Any   # parameterization pytree
  opt: Any     # Optax state
  acc: Any     # float32 [H, W] accumulated |d loss / d image| (a scalar 0 when off)


class _Parts(NamedTuple):
  param: Any
  transform: Callable
  view: Callable
  features: Callable
  optimizer: optax.GradientTransformation


def _identity_transform(key, image):
  del key
  return image


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parts(prog: _Program) -> _Parts:
  """The parameterization, transforms, features and optimiser of a program.

  Built once per program and eagerly (factories such as MACO's compute NumPy constants, which must not be traced
  when the first call happens inside ``jit``).
  """
  with jax.ensure_compile_time_eval():
    return _build_parts(prog)


def _build_parts(prog: _Program) -> _Parts:
  size, insize = prog.canvas_size, prog.input_size
  if prog.param == "maco":
    param = param_lib.maco(size, spectrum=prog.spectrum)
  elif prog.param == "fft":
    param = param_lib.fft(size, decorrelate=True)
  else:
    param = param_lib.pixel(size)
  view = _identity_transform if size == insize else transforms_lib.resize(insize)
  if prog.transforms == "maco":
    transform = transforms_lib.maco_crops(insize, crop_fraction=prog.crop_fraction)
  elif prog.transforms == "standard":
    transform = transforms_lib.standard(insize)
  else:
    transform = view
  src = prog.source.obj
  if isinstance(src, Model):
    features = _model_features(src, prog.layer, prog.readout, prog.dtype)
  else:
    features = _function_features(src)
  # The learning rate lives in the optimiser state (inject_hyperparams), so changing it does not recompile.
  optimizer = optax.inject_hyperparams(_OPTIMIZERS[prog.optimizer])(learning_rate=1.0)
  return _Parts(param, transform, view, features, optimizer)


def _seed_key(base_key, phase: int, seed):
  return jax.random.fold_in(jax.random.fold_in(base_key, phase), seed)


def _objective(prog: _Program, y, entry: _Entries):
  """The maximised scalar of one image: the unit's scaled value (phase 1) or cosdot of the scaled pair (phase 2)."""
  ys = y / entry.scale
  if prog.phase == 1:
    return ys[0]
  return objectives.cosdot(ys, entry.theta, prog.p, floor=prog.floor)


class _Hyper(NamedTuple):
  """Numbers of the config that are traced (replicated scalars): changing them does not recompile."""
  learning_rate: Any  # float32
  redirect_steps: Any  # int32
  total_steps: Any  # int32


def _init_one(prog: _Program, base_key, hyper: _Hyper, entry: _Entries) -> _State:
  parts = _parts(prog)
  key = jax.random.fold_in(_seed_key(base_key, prog.phase, entry.seed), 0)
  image = parts.param.init(key)
  opt = optax.inject_hyperparams(_OPTIMIZERS[prog.optimizer])(learning_rate=hyper.learning_rate).init(image)
  acc = jnp.zeros((prog.canvas_size, prog.canvas_size) if prog.transparency else (), jnp.float32)
  return _State(image, opt, acc)


def _evaluate_one(prog: _Program, parts: _Parts, model_params, entry: _Entries, state: _State):
  """y and C of the current image, seen without random transforms (resized to the model input)."""
  x = parts.view(jax.random.key(0), parts.param.render(state.image))
  y = parts.features(model_params, x[None], entry.units, jax.nn.relu)[0]
  return y, _objective(prog, y, entry)


def _block_one(prog: _Program, model_params, base_key, hyper: _Hyper, entry: _Entries, state: _State, step0):
  """``block_steps`` optimisation steps of ONE image, then its y and C. vmapped over the flat batch axis.

  The first block (``step0 == 0``) starts from the image's initial state instead of ``state`` (a placeholder then), so
  that initialisation lives in the same compiled program as the optimisation.
  """
  parts = _parts(prog)
  state = jax.lax.cond(step0 == 0, lambda s: _init_one(prog, base_key, hyper, entry), lambda s: s, state)
  step_key = jax.random.fold_in(_seed_key(base_key, prog.phase, entry.seed), 1)

  def step(state: _State, t):
    key = jax.random.fold_in(step_key, t)
    relu = redirected_relu(t < hyper.redirect_steps) if prog.relu == "redirected" else jax.nn.relu
    image, render_vjp = jax.vjp(parts.param.render, state.image)

    def loss(img):
      if prog.n_crops == 1:
        x = parts.transform(key, img)[None]
      else:
        x = transforms_lib.repeat(parts.transform, prog.n_crops)(key, img)
      y = parts.features(model_params, x, entry.units, relu)
      return -jnp.mean(jax.vmap(lambda yk: _objective(prog, yk, entry))(y))

    g_img = jax.grad(loss)(image)
    (g,) = render_vjp(g_img)
    updates, opt = parts.optimizer.update(g, state.opt, state.image)
    new_image = optax.apply_updates(state.image, updates)
    acc = state.acc
    if prog.transparency:
      acc = acc + jnp.mean(jnp.abs(g_img), axis=-1)
    new = _State(new_image, opt, acc)
    # Steps past the requested count (last block only) are computed but not applied.
    keep = t < hyper.total_steps
    return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, state), None

  state, _ = jax.lax.scan(step, state, step0 + jnp.arange(prog.block_steps, dtype=jnp.int32))
  y, c = _evaluate_one(prog, parts, model_params, entry, state)
  return state, y, c


def _init_shapes(prog, base_key, hyper, entries):
  return jax.eval_shape(jax.vmap(functools.partial(_init_one, prog), in_axes=(None, None, 0)), base_key, hyper,
                        entries)


_B, _R = jax.sharding.PartitionSpec("batch"), jax.sharding.PartitionSpec()


def _block_impl(prog, mesh, model_params, base_key, hyper, entries, state, step0):
  # shard_map: every device runs the single-device program on its slice of the batch (images are independent: no
  # communication, and nothing for the SPMD partitioner to rewrite; partitioning MACO's irfft2 automatically hits an
  # XLA:CPU FFT layout check). check_vma=False: the initial optimiser state does not vary over the batch axis while
  # the carried one does, and no collective depends on the distinction.
  per_device = jax.vmap(functools.partial(_block_one, prog), in_axes=(None, None, None, 0, 0, None))
  return jax.shard_map(per_device, mesh=mesh, in_specs=(_R, _R, _R, _B, _B, _R), out_specs=(_B, _B, _B),
                       check_vma=False)(model_params, base_key, hyper, entries, state, step0)


def _render_impl(prog, mesh, state):
  parts = _parts(prog)

  def per_device(state):
    img = jax.vmap(parts.param.render)(state.image)
    return jnp.round(jnp.clip(img, 0, 1) * 255).astype(jnp.uint8)

  return jax.shard_map(per_device, mesh=mesh, in_specs=(_B,), out_specs=_B, check_vma=False)(state)


_COMPILED: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
_STATS = {"compiles": 0, "compile_seconds": 0.0, "block_compiles": 0}


def cache_info() -> dict:
  """Compilation counters of this process: ``compiles`` (all programs), ``block_compiles`` (the optimisation
  programs, two per new set of static settings/shapes/devices), ``compile_seconds``, ``cached`` (programs held)."""
  return dict(_STATS, cached=len(_COMPILED))


def _signature(args) -> tuple:
  leaves, treedef = jax.tree.flatten(args)
  return treedef, tuple((tuple(x.shape), str(x.dtype), getattr(x, "sharding", None)) for x in leaves)


def _compiled(name: str, impl: Callable, prog: _Program, mesh, args: tuple, out_shardings, donate=()) -> Callable:
  """The compiled ``impl(prog, mesh, *args)`` for these argument shapes and shardings (compiled once, then cached).

  ``donate``: positions in ``args`` whose buffers the program may reuse for its outputs (the optimisation state).
  """
  key = (name, prog, mesh, _signature(args))
  fn = _COMPILED.get(key)
  if fn is not None:
    _COMPILED.move_to_end(key)
    return fn
  t0 = time.perf_counter()
  fn = jax.jit(functools.partial(impl, prog, mesh), out_shardings=out_shardings, donate_argnums=donate)
  fn = fn.lower(*args).compile()
  _STATS["compile_seconds"] += time.perf_counter() - t0
  _STATS["compiles"] += 1
  _STATS["block_compiles"] += name == "block"
  _COMPILED[key] = fn
  while len(_COMPILED) > _CACHE_SIZE:
    _COMPILED.popitem(last=False)
  return fn


# ------------------------------------------------------------------------------------------------ host helpers

class _Layout:
  """How the flat batch of N images is split into equal chunks over the device mesh."""

  def __init__(self, n: int, chunk_size: int | None, mesh: jax.sharding.Mesh):
    d = mesh.size
    chunk = n if chunk_size is None else min(chunk_size, n)
    self.chunk = -(-chunk // d) * d  # a multiple of the device count
    self.n = n
    self.n_chunks = -(-n // self.chunk)
    self.padded = self.n_chunks * self.chunk
    self.batch = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    self.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def split(self, tree):
    """Host pytree with N rows -> list of sharded device pytrees, one per chunk (padding: copies of the last row)."""
    padded = jax.tree.map(lambda x: _pad_rows(np.asarray(x), self.padded), tree)
    return [jax.tree.map(lambda x: _put(x[k * self.chunk:(k + 1) * self.chunk], self.batch), padded)
            for k in range(self.n_chunks)]

  def join(self, chunks) -> Any:
    """List of device pytrees (one per chunk) -> host pytree with the N real rows."""
    return jax.tree.map(lambda *xs: np.concatenate([_to_host(x) for x in xs])[:self.n], *chunks)


def _pad_rows(x: np.ndarray, n: int) -> np.ndarray:
  if len(x) == n:
    return x
  return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])


def _put(x: np.ndarray, sharding) -> jax.Array:
  x = np.asarray(x)
  # Works on one host and on several (each process supplies the slices its devices hold).
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _to_host(x) -> np.ndarray:
  if getattr(x, "is_fully_addressable", True):
    return np.asarray(jax.device_get(x))
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _params_digest(params) -> str:
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    a = _to_host(leaf) if isinstance(leaf, jax.Array) else np.asarray(leaf)
    h.update(jax.tree_util.keystr(path).encode())
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


class _Checkpoint:
  """Resume state in ``directory``: ``sweep.json`` (what the run is) + orbax checkpoints of the latest block."""

  def __init__(self, directory, header: dict):
    import orbax.checkpoint as ocp
    self._ocp = ocp
    self.dir = pathlib.Path(directory).absolute()
    self.header = header
    self._manager = None

  def check(self) -> None:
    """Refuse a directory written for a different sweep (naming the differences); write the header if new."""
    path = self.dir / "sweep.json"
    if path.exists():
      try:
        old = json.loads(path.read_text())
      except (OSError, ValueError) as e:
        raise errors.ConfigMismatchError(f"cannot read {path} ({e}); use an empty resume directory") from None
      diffs = _differences(old, self.header)
      if diffs:
        raise errors.ConfigMismatchError(
            f"resume directory {self.dir} was made by a different sweep; differing: {'; '.join(diffs)}. "
            "Use the same settings, or a new (empty) resume directory")
    else:
      self.dir.mkdir(parents=True, exist_ok=True)
      if jax.process_index() == 0:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.header, indent=2))
        tmp.replace(path)

  @property
  def manager(self):
    if self._manager is None:
      ocp = self._ocp
      opts = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False, create=True)
      self._manager = ocp.CheckpointManager(self.dir / "checkpoints", options=opts)
    return self._manager

  def save(self, step: int, payload: dict) -> None:
    self.manager.save(step, args=self._ocp.args.StandardSave(payload), force=True)
    self.manager.wait_until_finished()

  def restore(self) -> dict | None:
    step = self.manager.latest_step()
    if step is None:
      return None
    return self.manager.restore(step, args=self._ocp.args.StandardRestore())

  def close(self) -> None:
    if self._manager is not None:
      self._manager.close()


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
  out = []
  for k in sorted(set(old) | set(new)):
    a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += _differences(a, b, f"{prefix}{k}.")
    elif a != b:
      out.append(f"{prefix}{k}: {a!r} (saved) vs {b!r} (now)")
  return out


# ------------------------------------------------------------------------------------------------------- run

def _check_inputs(model_or_fn, params, config: SweepConfig, layer, pairs) -> tuple[np.ndarray, str | None, int]:
  """Validate everything the user passed; returns (pairs int32 [P, 2], canonical layer, channel count)."""
  if not isinstance(config, SweepConfig):
    raise errors.FcjaxError(f"config must be a fcjax.sweep.SweepConfig, got {type(config).__name__}")
  config.validate()
  try:
    arr = np.asarray(pairs)
  except (TypeError, ValueError):
    arr = np.zeros((0,))
  if arr.ndim == 1 and arr.size == 2:
    arr = arr[None]
  if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.integer):
    raise errors.FcjaxError(f"pairs must be a non-empty list of (i, j) integer unit indices, got {pairs!r}")
  arr = arr.astype(np.int32)
  size = config.input_size
  if isinstance(model_or_fn, Model):
    model = model_or_fn
    if layer is None:
      raise errors.FcjaxError(f"run() on the model {model.name!r} needs layer=<tensor name>")
    layer = model.canonical(layer)
    for u in np.unique(arr):
      model.check_unit(layer, int(u))
    model.check_size(layer, size)
    n_units = model.layer(layer).channels
    if isinstance(config.readout, tuple) and model.layer(layer).stride != 0:
      shape = jax.eval_shape(lambda p, x: model.apply(p, x, (layer,))[layer], params,
                             jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)).shape
      r, c = config.readout
      if not (r < shape[1] and c < shape[2]):
        raise errors.UnitIndexError(f"readout position {(r, c)} is outside {layer}'s {shape[1]}x{shape[2]} feature "
                                    f"map at {size} px inputs")
    return arr, layer, n_units
  if not callable(model_or_fn):
    raise errors.FcjaxError(f"run() takes a fcjax Model or a feature function f(params, images) -> [N, k], got "
                            f"{type(model_or_fn).__name__}")
  if layer is not None:
    raise errors.FcjaxError("layer= applies to a Model; a feature function already defines its features")
  try:
    out = jax.eval_shape(model_or_fn, params, jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
  except errors.FcjaxError:
    raise
  except Exception as e:  # the user's function failed to trace: say so in one line
    raise errors.FcjaxError(f"the feature function failed on images of shape (1, {size}, {size}, 3): "
                            f"{type(e).__name__}: {e}") from None
  if not hasattr(out, "shape") or len(out.shape) != 2 or out.shape[0] != 1:
    raise errors.FcjaxError(f"a feature function must return [N, k] features; for N=1 it returned "
                            f"{getattr(out, 'shape', type(out).__name__)}")
  n_units = out.shape[1]
  bad = arr[(arr < 0) | (arr >= n_units)]
  if bad.size:
    raise errors.UnitIndexError(f"unit index {int(bad[0])} is out of range for a feature function with {n_units} "
                                f"features (valid: 0..{n_units - 1})")
  return arr, None, n_units


def _guard_scales(best: np.ndarray) -> tuple[np.ndarray, list]:
  """Phase-1 maxima -> usable scales. A unit whose best value is <= 0 cannot be driven positive: its axis tip is then
  |best| (the magnitude it does reach, keeping the axis's orientation), or 1 (no scaling) if even that is 0."""
  s = best.astype(np.float32).copy()
  guarded = []
  for idx in zip(*np.nonzero(~(s > 0))):
    s[idx] = abs(s[idx]) if s[idx] != 0 and np.isfinite(s[idx]) else 1.0
    guarded.append([int(i) for i in idx])
  return s, guarded


class UnitMaxima(NamedTuple):
  """Phase 1 of the sweep for a set of units, reusable by any number of :func:`run` calls (the layer atlas).

  Attributes:
    units: int32 [U], sorted unique unit indices.
    values: float32 [U, n_seeds], the value each seed's image reached (the unit's own activation, unscaled).
    images: uint8 [U, canvas, canvas, 3], the best seed's image.
  """
  units: np.ndarray
  values: np.ndarray
  images: np.ndarray

  def lookup(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values [..., n_seeds], images [..., H, W, 3]) of ``units`` (int array of any shape); every unit must be here."""
    units = np.asarray(units)
    pos = np.searchsorted(self.units, units)
    pos = np.minimum(pos, len(self.units) - 1)
    missing = units[self.units[pos] != units]
    if missing.size:
      raise errors.FcjaxError(f"unit_maxima has no phase-1 result for unit {int(missing.flat[0])} (it holds "
                              f"{len(self.units)} units); compute it with sweep.unit_maxima(..., units=...)")
    return self.values[pos], self.images[pos]


def _units_digest(um: UnitMaxima) -> str:
  h = hashlib.sha256()
  for a in (um.units, um.values, um.images):
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


def unit_maxima(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *,
                layer: str | None = None, units: Sequence[int], resume_dir: str | pathlib.Path | None = None,
                progress: bool = False, devices: Sequence[Any] | None = None,
                callback: Callable[[dict], None] | None = None) -> UnitMaxima:
  """Phase 1 alone: maximise each of ``units`` (``n_seeds`` seeds each), once per unit.

  Pass the result to :func:`run` (``unit_maxima=``) for any pairs of these units: phase 1 is then skipped and the
  sweep's scales, unit values and unit images are read from it. A unit's result does not depend on which pairs or
  other units share the batch (keys depend on the seed only; see "Reproducibility" for the layout caveat). Arguments
  as in :func:`run`; ``callback`` sees ``phase`` 1 only.
  """
  units_arr = np.unique(np.asarray(units, dtype=np.int64).reshape(-1)) if np.size(units) else np.zeros(0, int)
  if units_arr.size == 0:
    raise errors.FcjaxError("unit_maxima needs at least one unit index")
  return _run(model_or_fn, params, config, layer=layer, pairs=np.stack([units_arr, units_arr], 1),
              resume_dir=resume_dir, progress=progress, devices=devices, callback=callback, phase1_only=True)


def run(model_or_fn: Model | Callable, params: Any, config: SweepConfig | None = None, *, layer: str | None = None,
        pairs: Sequence[tuple[int, int]] = ((0, 1),), resume_dir: str | pathlib.Path | None = None,
        progress: bool = False, devices: Sequence[Any] | None = None,
        callback: Callable[[dict], None] | None = None, unit_maxima: UnitMaxima | None = None) -> SweepResult:
  """Run the two-phase cosdot sweep of every pair (module docstring).

  Args:
    model_or_fn: a :class:`~fcjax.models.base.Model` (then ``layer`` is required), or any differentiable feature
      function ``f(params, images float32 [N, H, W, 3] in [0, 1]) -> [N, k]`` (then ``pairs`` index into k).
    params: the model's (or function's) parameters, passed to it unchanged.
    config: :class:`SweepConfig` (default: the paper's settings).
    layer: tensor name for a model (Lucid's or Lucent's spelling).
    pairs: (i, j) unit index pairs of ``layer``, all optimised in the same program.
    resume_dir: save the state there after every block, and continue from it if it holds a run of the same sweep
      (a different sweep raises :class:`~fcjax.errors.ConfigMismatchError` naming the differences).
    progress: show a tqdm bar over blocks.
    devices: devices to shard the batch over (default ``jax.devices()``).
    callback: called after every block (after its checkpoint) with a dict ``phase, block, n_blocks, c`` (numpy C of
      each image at the end of the block); raising from it stops the run, which ``resume_dir`` can then continue.
    unit_maxima: phase-1 results (:func:`unit_maxima`, same model, params and config) covering every unit of
      ``pairs``: phase 1 is skipped. Without it, phase 1 maximises each distinct unit of ``pairs`` once.

  Returns:
    :class:`~fcjax.result.SweepResult` (images are the canvas, ``canvas_size`` px). y and C are measured on the final
    canvas resized to the model input, without random transforms. A unit whose phase-1 maximum is <= 0 (it cannot
    be driven positive) gets the scale |maximum|, or 1 if that is 0; such units are listed in
    ``meta['scale_guarded']`` as [pair, slot] indices.

  Raises:
    FcjaxError (and subclasses) for bad input, before anything is compiled.
  """
  return _run(model_or_fn, params, config, layer=layer, pairs=pairs, resume_dir=resume_dir, progress=progress,
              devices=devices, callback=callback, unit_maxima=unit_maxima)


def _run(model_or_fn, params, config, *, layer, pairs, resume_dir, progress, devices, callback,
         unit_maxima: UnitMaxima | None = None, phase1_only: bool = False):
  """:func:`run` and (``phase1_only``, ``pairs`` = [(u, u)]) :func:`unit_maxima`."""
  t_start = time.perf_counter()
  config = SweepConfig() if config is None else config
  pairs_arr, layer, _ = _check_inputs(model_or_fn, params, config, layer, pairs)
  if unit_maxima is not None:
    if not isinstance(unit_maxima, UnitMaxima):
      raise errors.FcjaxError(f"unit_maxima must be a fcjax.sweep.UnitMaxima, got {type(unit_maxima).__name__}")
    if unit_maxima.values.shape[1:] != (config.n_seeds,):
      raise errors.ConfigMismatchError(f"unit_maxima holds {unit_maxima.values.shape[1:]} seeds per unit, the config "
                                       f"asks for n_seeds={config.n_seeds}: recompute it with this config")
    unit_maxima.lookup(pairs_arr)  # every unit present
  units = np.unique(pairs_arr)  # phase 1 runs once per distinct unit
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise errors.FcjaxError("devices must name at least one device")
  mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
  model_name = model_or_fn.name if isinstance(model_or_fn, Model) else "function"
  digest = _params_digest(params)
  header = {"format": _RESUME_FORMAT, "model": model_name, "layer": layer,
            "function": None if isinstance(model_or_fn, Model) else getattr(model_or_fn, "__qualname__", "?"),
            "pairs": units.tolist() if phase1_only else pairs_arr.tolist(), "params_digest": digest,
            "phase1": "only" if phase1_only else (None if unit_maxima is None else _units_digest(unit_maxima)),
            "config": {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS}}
  ckpt = None
  if resume_dir is not None:
    ckpt = _Checkpoint(resume_dir, header)
    ckpt.check()
  saved = ckpt.restore() if ckpt is not None else None

  n_pairs, n_angles, n_seeds = len(pairs_arr), config.n_angles, config.n_seeds
  thetas = config.thetas
  n_blocks = config.n_blocks
  compiles0, compile_s0 = _STATS["compiles"], _STATS["compile_seconds"]
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  dev_params = jax.tree.map(lambda x: _put(_to_host(x) if isinstance(x, jax.Array) else x, replicated), params)
  base_key = jax.device_put(jax.random.key(config.seed), replicated)
  hyper = jax.device_put(_Hyper(jnp.float32(config.learning_rate), jnp.int32(config.redirect_steps),
                                jnp.int32(config.steps)), replicated)

  bar = None
  if progress and jax.process_index() == 0:
    from tqdm.auto import tqdm
    bar = tqdm(total=(1 if phase1_only else 2) * n_blocks, desc=f"sweep {model_name} {layer or ''}".strip(), unit="block")

  def run_phase(phase: int, entries: _Entries, resume: dict | None):
    """Optimise every image of the phase; returns host (state, y [N, k], c [N], history [N, B])."""
    prog = _Program.of(phase, model_or_fn, layer, config)
    n = len(entries.seed)
    lay = _Layout(n, config.chunk_size, mesh)
    ent_chunks = lay.split(entries)
    template = _init_shapes(prog, base_key, hyper, entries)  # [n, ...] leaves
    if resume is None:
      # Placeholders: the first block initialises every image itself.
      states = lay.split(jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), template))
      done, history = 0, np.zeros((n, n_blocks), np.float32)
      y = c = None
    else:
      flat = jax.tree.unflatten(jax.tree.structure(template), [np.asarray(a) for a in resume["leaves"]])
      states = lay.split(flat)
      done, history = int(resume["block"]), np.asarray(resume["history"])
      y, c = np.asarray(resume["y"]), np.asarray(resume["c"])
    if bar is not None:
      bar.update(done)
    block = None
    for b in range(done, n_blocks):
      step0 = jax.device_put(jnp.int32(b * prog.block_steps), replicated)
      if block is None:
        args = (dev_params, base_key, hyper, ent_chunks[0], states[0], step0)
        block = _compiled("block", _block_impl, prog, mesh, args, (lay.batch, lay.batch, lay.batch), donate=(4,))
      outs = [block(dev_params, base_key, hyper, e, s, step0) for e, s in zip(ent_chunks, states)]
      states = [o[0] for o in outs]
      y, c = lay.join([o[1] for o in outs]), lay.join([o[2] for o in outs])
      history[:, b] = c
      if ckpt is not None:
        payload = {"phase": np.int32(phase), "block": np.int32(b + 1), "history": history, "y": y, "c": c,
                   "leaves": jax.tree.leaves(lay.join(states))}
        payload.update(phase1_payload)
        ckpt.save((phase - 1) * n_blocks + b + 1, payload)
      if bar is not None:
        bar.update(1)
      if callback is not None:
        callback({"phase": phase, "block": b + 1, "n_blocks": n_blocks, "c": c})
    render = _compiled("render", _render_impl, prog, mesh, (states[0],), lay.batch)
    images = lay.join([render(s) for s in states])
    acc = lay.join([s.acc for s in states]) if prog.transparency else None
    return images, y, c, history, acc

  try:
    # Phase 1: every distinct unit alone, n_seeds seeds each. Rows enumerate (unit, seed).
    phase1_payload: dict = {}
    t1 = time.perf_counter()
    if unit_maxima is not None:
      per_unit = UnitMaxima(*unit_maxima)
      if bar is not None:
        bar.update(n_blocks)
    elif saved is not None and int(saved["phase"]) == 2:
      per_unit = UnitMaxima(units, np.asarray(saved["p1_values"]), np.asarray(saved["p1_images"]))
      phase1_payload = {"p1_values": per_unit.values, "p1_images": per_unit.images}
      if bar is not None:
        bar.update(n_blocks)
    else:
      uu, su = np.meshgrid(np.arange(len(units)), np.arange(n_seeds), indexing="ij")
      e1 = _Entries(units=units[uu.reshape(-1)][:, None].astype(np.int32),
                    theta=np.zeros(uu.size, np.float32), scale=np.ones((uu.size, 1), np.float32),
                    seed=su.reshape(-1).astype(np.int32))
      imgs1, y1, _, _, _ = run_phase(1, e1, saved)
      values = y1[:, 0].reshape(len(units), n_seeds)
      best = np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=-1)
      images = imgs1.reshape(len(units), n_seeds, *imgs1.shape[1:])[np.arange(len(units)), best]
      per_unit = UnitMaxima(units.astype(np.int32), values, images)
      phase1_payload = {"p1_values": values, "p1_images": images}
    if phase1_only:
      return per_unit
    unit_values, unit_images = per_unit.lookup(pairs_arr)   # [P, 2, seeds], [P, 2, H, W, 3]
    scales, guarded = _guard_scales(unit_values.max(axis=-1))
    t2 = time.perf_counter()

    # Phase 2: cosdot of the scaled pair at every angle and seed. Rows enumerate (pair, angle, seed).
    pp, aa, ss = np.meshgrid(np.arange(n_pairs), np.arange(n_angles), np.arange(n_seeds), indexing="ij")
    pp, aa, ss = pp.reshape(-1), aa.reshape(-1), ss.reshape(-1)
    e2 = _Entries(units=pairs_arr[pp], theta=thetas[aa].astype(np.float32), scale=scales[pp],
                  seed=ss.astype(np.int32))
    resume2 = saved if saved is not None and int(saved["phase"]) == 2 else None
    imgs2, y2, c2, hist2, acc2 = run_phase(2, e2, resume2)
    t3 = time.perf_counter()
  finally:
    if bar is not None:
      bar.close()
    if ckpt is not None:
      ckpt.close()

  shape = (n_pairs, n_angles, n_seeds)
  meta = {
      "versions": _versions(),
      "devices": [str(d.device_kind) for d in devices],
      "platform": devices[0].platform,
      "n_devices": len(devices),
      "process_count": jax.process_count(),
      "objective": "exact" if config.floor is None else "floored",
      "objective_form": objectives.describe(config.p, config.floor),
      "params_digest": digest,
      "function": header["function"],
      "scale_guarded": guarded,
      "phase1_seconds": t2 - t1,
      "phase2_seconds": t3 - t2,
      "total_seconds": time.perf_counter() - t_start,
      "compile_seconds": _STATS["compile_seconds"] - compile_s0,
      "compiles": _STATS["compiles"] - compiles0,
      "resumed_from": None if saved is None else {"phase": int(saved["phase"]), "block": int(saved["block"])},
      "phase1_units": int(len(units)),
      "phase1_reused": unit_maxima is not None,
  }
  return SweepResult(
      config=config.to_dict(), model=model_name, layer=layer, readout=objectives.readout_name(config.readout),
      pairs=pairs_arr, thetas=thetas, scales=scales, unit_values=unit_values, unit_images=unit_images,
      y=y2.reshape(*shape, 2), c=c2.reshape(shape), images=imgs2.reshape(*shape, *imgs2.shape[1:]),
      history=hist2.reshape(*shape, n_blocks), meta=meta,
      transparency=None if acc2 is None else acc2.reshape(*shape, *acc2.shape[1:]))


def _versions() -> dict:
  import importlib.metadata as md
  import fcjax
  out = {"fcjax": fcjax.__version__}
  for pkg in ("jax", "jaxlib", "optax", "orbax-checkpoint"):
    try:
      out[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      out[pkg] = None
  return out
