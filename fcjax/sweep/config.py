"""Sweep settings: :class:`SweepConfig`, and the recipes and presets (the only place they are defined).

A recipe is what an image parameterization is optimised with (transforms, optimiser, learning rate: RECIPES); a
named recipe (the CLI's ``--recipe``: RECIPE_PARAMS) picks a parameterization with its recipe; a preset (PRESETS)
is a set of sizes for a purpose (a smoke test). :meth:`SweepConfig.for_model` combines them with a model's own
defaults (``Model.defaults``: sizes and recipe) into the model's default settings.

Which fields the compiled program depends on is stated here too (PROGRAM_INDEPENDENT): the others are traced
arguments or set the batch shape, so changing them reuses the compiled program (:mod:`fcjax.sweep.program`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np
import optax

from fcjax import _readout, errors, objectives

_PARAMS = ("maco", "fft", "pixel")
_TRANSFORMS = ("maco", "standard", "none")
_OPTIMIZERS = {"adam": optax.adam, "nadam": optax.nadam, "sgd": optax.sgd}
_RELUS = ("plain", "redirected")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Config fields that do not change the result (only how the work is split): a resume may change them.
EXECUTION_FIELDS = ("chunk_size",)
# Largest canvas / model input side accepted (px): above any model's input, below what exhausts memory at once.
MAX_IMAGE_SIZE = 4096


# Fields the compiled program does not depend on: traced (seed, learning_rate, redirect_steps, steps: only through
# min(block_steps, steps); warmup_fraction), part of the batch shape (n_angles, n_directions, n_seeds, chunk_size),
# which the program cache keys on, or used on the host only (angle_space, refine_*).
PROGRAM_INDEPENDENT = ("seed", "learning_rate", "redirect_steps", "steps", "n_angles", "n_directions", "n_seeds",
                       "chunk_size", "angle_space", "warmup_fraction", "refine_rounds", "refine_steps",
                       "refine_tolerance")
ANGLE_SPACES = ("half-axes", "paper")

# The reference recipe of each image parameterization: what SweepConfig's transforms / optimizer / learning_rate are
# when left unset. MACO: random crops and NAdam lr 1.0 on the phase (Fel et al. 2023; horama). FFT and pixel images:
# Lucid's standard transforms and Adam lr 0.05 (Lucid's and Lucent's ``render_vis`` defaults).
RECIPES = {
    "maco": dict(transforms="maco", optimizer="nadam", learning_rate=1.0),
    "fft": dict(transforms="standard", optimizer="adam", learning_rate=0.05),
    "pixel": dict(transforms="standard", optimizer="adam", learning_rate=0.05),
}
# Named recipes (the CLI's --recipe): the parameterization they use, with its reference recipe above.
RECIPE_PARAMS = {"maco": "maco", "lucid": "fft"}
# Settings presets. 'smoke': tiny settings for a quick end-to-end check (seconds to a minute on a CPU). A model's own
# sizes and recipe are its defaults (fcjax.models.Defaults; the demo model's: fcjax.models.demo_cnn.DEFAULTS).
PRESETS = {
    "smoke": dict(n_angles=8, n_seeds=2, steps=16, block_steps=8, canvas_size=64, input_size=64),
}


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Settings of a sweep. Defaults are the paper's where it states them, else the reference it cites.

  ``seed``, ``learning_rate``, ``redirect_steps`` and ``steps`` are traced: changing them reuses the compiled
  programs. ``n_angles`` (pairs), ``n_directions`` (triples), ``n_seeds`` and ``chunk_size`` set the batch shape; the
  rest selects the program.
  """

  # Unit readout: 'neuron' = the channel at the spatial centre (Lucid's neuron objective, which the paper's
  # InceptionV1 units follow), 'channel' = spatial mean, or an explicit (row, col) position (a "row,col" string works).
  readout: str | tuple[int, int] = "neuron"
  # Angles θ evenly spaced on [0, 2π): the paper's "60 distinct θ evenly spaced on [0 - 2π]". In the 'half-axes'
  # angle space the four quadrant diagonals are added where the spacing misses them (60 -> 64 angles; see thetas).
  n_angles: int = 60
  # Where the angles are spaced (fcjax.sweep docstring, docs/measures.md): 'half-axes' = the normalised space
  # (y_i / R_i±, y_j / R_j±), each coordinate over the reach of its own half-axis found by the half-axis phase, so
  # every quadrant gets the same angles and its diagonal whatever the half-axes' lengths (measured: the paper's
  # spacing misses the interior of a quadrant next to a long half-axis and reports it collapsed); 'paper' = the
  # paper's scaled space (y_i / s_i, y_j / s_j), s = the positive maxima.
  angle_space: str = "half-axes"
  # Triples (k = 3): directions spread evenly over the sphere of the normalised space (Fibonacci points), plus each
  # octant's diagonal and each pair-quadrant's diagonal (the 12 directions (±1, ±1, 0)/√2 and permutations), so
  # n_directions + 20 in all (directions). 6-degree spacing like 60 angles on the circle would need ~1100 points;
  # docs/triples.md measures what the default loses against that on the known-answer toys.
  n_directions: int = 128
  # Noise seeds per angle and per unit: the paper's "5 times under different noise seeds".
  n_seeds: int = 5
  # cosdot exponent: the paper's p = 4 ("We set p = 4 for all experiments").
  p: float = 4
  # None = the paper's exact cosdot (needs an even integer p); a number in [0, 1) = Lucid's floored form
  # dot * max(floor, cos)^p (Lucid uses 0.1), which accepts any real p >= 0.
  floor: float | None = None
  # Warm-up schedule: the first warmup_fraction of each optimisation's steps use the floored cosdot with this floor
  # (None: no warm-up), the rest the form above. The exact form is flat (gradient ~1e-16) far from its target and
  # stalls Adam on product-like pairs; the floored form is not (docs/measures.md, "The objective that optimises").
  # C is always reported in the paper's exact form (for an even integer p).
  warmup_floor: float | None = 0.1
  warmup_fraction: float = 0.5
  # Cross-evaluation and refinement (fcjax.sweep docstring): after the angles, every kept image is scored at every
  # angle; an image beaten on its own objective by more than refine_tolerance (relative) by another image is
  # re-optimised from that image for refine_steps steps (None: steps // 4), in at most refine_rounds rounds.
  refine_rounds: int = 3
  refine_steps: int | None = None
  refine_tolerance: float = 0.05
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
  # whole image's y (measured: 0.47x the photos' 99% quantile on InceptionV1, against 1.70x with these crops;
  # docs/recipes_reach.md). One crop keeps a step at one forward/backward pass per image, like Lucid (Horama uses 6).
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
  # Images optimised at once (None = all). Changes memory, and the batch layout (fcjax.sweep docstring: results
  # agree within seed noise, not bitwise). Issue 3 measured ~67 MB per 224 px image in float32 for InceptionV1;
  # here 300 images (60 x 5) at mixed4a_pre_relu peaked at 7.4 GB on an H200 (~25 MB each). Deeper layers need
  # more: set it when a full batch does not fit.
  chunk_size: int | None = None
  # Compute dtype of the model: 'float32' (reference) or 'bfloat16' (accelerators; C is still computed in float32).
  dtype: str = "float32"
  # Accumulate |d loss / d image| over the phase-2 steps (MACO's transparency map), stored in result.transparency.
  transparency: bool = False
  # Base of every PRNG key (fcjax.sweep docstring). Same seed and batch layout -> bitwise identical results on CPU.
  seed: int = 0

  def __post_init__(self):
    for name, value in RECIPES.get(self.param, {}).items():  # unset recipe fields follow the parameterization
      if getattr(self, name) is None:
        object.__setattr__(self, name, value)
    object.__setattr__(self, "readout", _readout.parse(self.readout, what="SweepConfig.readout"))
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

    def nonnegative_int(name):
      v = getattr(self, name)
      if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise errors.FcjaxError(f"SweepConfig.{name} must be an integer >= 0, got {v!r}")

    _readout.parse(self.readout, what="SweepConfig.readout")
    if isinstance(self.n_angles, numbers.Integral) and self.n_angles < 1:
      raise errors.FcjaxError(f"SweepConfig.n_angles must be at least 1 (the paper uses 60), got {self.n_angles}")
    if isinstance(self.n_seeds, numbers.Integral) and self.n_seeds < 1:
      raise errors.FcjaxError(f"SweepConfig.n_seeds must be at least 1 (the paper uses 5), got {self.n_seeds}")
    for name in ("n_angles", "n_directions", "n_seeds", "steps", "block_steps", "canvas_size", "input_size", "n_crops"):
      positive_int(name)
    if self.angle_space not in ANGLE_SPACES:
      raise errors.FcjaxError(f"SweepConfig.angle_space must be one of {ANGLE_SPACES}, got {self.angle_space!r}")
    if self.warmup_floor is not None:
      objectives.check_exponent(self.p, self.warmup_floor)
    wf = self.warmup_fraction
    if isinstance(wf, bool) or not isinstance(wf, numbers.Real) or not 0 <= wf <= 1:
      raise errors.FcjaxError(f"SweepConfig.warmup_fraction must be a number in [0, 1], got {wf!r}")
    nonnegative_int("refine_rounds")
    if self.refine_steps is not None:
      positive_int("refine_steps")
    tol = self.refine_tolerance
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 <= tol < 1:
      raise errors.FcjaxError(f"SweepConfig.refine_tolerance must be a number in [0, 1), got {tol!r}")
    for name in ("canvas_size", "input_size"):
      if getattr(self, name) > MAX_IMAGE_SIZE:
        raise errors.FcjaxError(f"SweepConfig.{name} must be at most {MAX_IMAGE_SIZE} px, got {getattr(self, name)}")
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
    nonnegative_int("redirect_steps")
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
    _check_names(changes, "SweepConfig has no field")
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
    if not isinstance(d, Mapping):
      raise errors.FcjaxError(f"a SweepConfig needs a mapping of fields, got a {type(d).__name__}")
    _check_names(d, "unknown SweepConfig field")
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
  def for_model(cls, model, *, smoke: bool = False, recipe: str | None = None) -> "SweepConfig":
    """The default settings for ``model`` (a :class:`fcjax.models.Model`): the paper's with the model's own sizes
    (``model.defaults.sweep``; ``smoke``: PRESETS['smoke'] instead), then ``recipe`` or the model's
    (``model.defaults.recipe``). A model whose nominal input is smaller than the config's input size gets its own
    input size (and a canvas no larger)."""
    cfg = cls.smoke() if smoke else cls(**dict(model.defaults.sweep))
    if model.input_size < cfg.input_size:
      cfg = cfg.replace(input_size=model.input_size, canvas_size=min(cfg.canvas_size, model.input_size))
    recipe = recipe or model.defaults.recipe
    return cfg if recipe is None else cfg.with_recipe(recipe)

  @property
  def thetas(self) -> np.ndarray:
    """float64 [A]: the target angles in radians, in ``angle_space``: 2πa / n_angles (A = n_angles), and in the
    'half-axes' space also each quadrant's diagonal (π/4 + kπ/2) where that spacing misses it (A = n_angles + 4)."""
    even = 2 * np.pi * np.arange(self.n_angles) / self.n_angles
    if self.angle_space == "paper" or self.n_angles % 8 == 0:
      return even
    return np.sort(np.concatenate([even, np.pi / 4 + np.pi / 2 * np.arange(4)]))

  def directions(self, k: int) -> np.ndarray:
    """float64 [A, k]: the unit target directions of a sweep of k units, in ``angle_space``. k = 2: the angles
    (:attr:`thetas`) as (cos θ, sin θ). k = 3: ``n_directions`` Fibonacci points on the sphere, then the 8 octant
    diagonals (±1, ±1, ±1)/√3, then the 12 pair-quadrant diagonals (two coordinates ±1/√2, one 0)."""
    if k == 2:
      th = self.thetas
      return np.stack([np.cos(th), np.sin(th)], axis=-1)
    if k != 3:
      raise errors.FcjaxError(f"sweeps take pairs or triples of units (k = 2 or 3), got k = {k}")
    i = np.arange(self.n_directions) + 0.5
    z = 1.0 - 2.0 * i / self.n_directions
    r, phi = np.sqrt(np.maximum(1.0 - z * z, 0.0)), np.pi * (3.0 - np.sqrt(5.0)) * i
    fib = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)
    signs = np.array([[a, b, c] for a in (1, -1) for b in (1, -1) for c in (1, -1)], np.float64)
    edges = [np.insert(np.array([a, b], np.float64), zero, 0.0) for zero in (2, 1, 0) for a in (1, -1)
             for b in (1, -1)]
    return np.concatenate([fib, signs / np.sqrt(3.0), np.array(edges) / np.sqrt(2.0)])

  @property
  def refine_steps_or_default(self) -> int:
    """Steps of one refinement round: ``refine_steps``, or ``steps // 4`` (at least 1)."""
    return self.refine_steps if self.refine_steps is not None else max(self.steps // 4, 1)

  @property
  def n_blocks(self) -> int:
    """Compiled blocks per phase: ceil(steps / block_steps)."""
    return -(-self.steps // self.block_steps)


def _check_names(fields: Mapping[str, Any], what: str) -> None:
  """FcjaxError ``"<what> 'stepz'; did you mean 'steps'?"`` for the first name that is not a SweepConfig field."""
  names = [f.name for f in dataclasses.fields(SweepConfig)]
  unknown = sorted(str(k) for k in set(fields) - set(names))
  if unknown:
    hint = errors.did_you_mean(unknown[0], names) or f"; fields: {', '.join(names)}"
    more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    raise errors.FcjaxError(f"{what} {unknown[0]!r}{more}{hint}")
