"""The fcjax side of the benchmarks: the compiled sweep, model forward + gradient, one step's cost and profile.

Everything is timed with ``block_until_ready`` and compile time is measured separately from run time. The one-step
function used for XLA's cost analysis and for the profile (:func:`step_parts`) is assembled from fcjax's public
pieces (``param.fft``, ``transforms.standard``, ``sweep.make_features``, ``objectives.cosdot``, ``optax.adam``) in
the same order as the sweep's own step, so its FLOPs are those of one sweep step of one image.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fcjax import objectives
from fcjax import param as param_lib
from fcjax import sweep as sweep_lib
from fcjax import transforms as transforms_lib
from fcjax.models import inception_v1


def params_from_lucent(lucent_model, directory: str | None = None) -> Any:
  """fcjax parameters equal to a Lucent model's weights: the state_dict is written as a Lucent ``.pth`` and read
  back through ``weights_conversion`` (the path users take with ``inception5h.pth``)."""
  from benchmarks import lucent_side
  with tempfile.TemporaryDirectory(dir=directory) as tmp:
    path = os.path.join(tmp, "inception5h_random.pth")
    lucent_side.save_state_dict(lucent_model, path)
    return inception_v1.MODEL.load_params(path)


def sweep_config(*, n_angles: int, n_seeds: int, steps: int, canvas_size: int, input_size: int,
                 dtype: str = "float32", block_steps: int = 64, chunk_size: int | None = None,
                 p: int = 4, floor: float | None = None) -> sweep_lib.SweepConfig:
  """Lucid's render recipe (FFT + decorrelation, standard transforms, Adam 0.05), as Lucent's ``render_vis``."""
  return sweep_lib.SweepConfig.lucid(n_angles=n_angles, n_seeds=n_seeds, steps=steps, canvas_size=canvas_size,
                                     input_size=input_size, dtype=dtype, block_steps=min(block_steps, steps),
                                     chunk_size=chunk_size, p=p, floor=floor)


def sweep(params: Any, config: sweep_lib.SweepConfig, *, layer: str, pair: tuple[int, int],
          repeat: bool = True) -> dict:
  """Run the compiled sweep of one pair on the first device; with ``repeat`` run it a second time (compiled programs cached) and time
  that run, else subtract the compile time from the first run's wall time.

  Returns:
    dict with ``wall_s`` (steady-state seconds), ``first_wall_s`` (first call, compile included), ``compile_s``,
    ``images``, ``image_steps``, ``image_steps_per_s``, ``scales`` [2], ``c`` [A, S] and ``timing`` ('second run'
    or 'first run minus compile').
  """
  model = inception_v1.MODEL
  devices = [jax.devices()[0]]  # one device, as the PyTorch side uses
  t0 = time.perf_counter()
  res = sweep_lib.run(model, params, config, layer=layer, pairs=[pair], devices=devices)
  first = time.perf_counter() - t0
  compile_s = float(res.meta.get("compile_seconds", 0.0))
  if repeat:
    t0 = time.perf_counter()
    res = sweep_lib.run(model, params, config, layer=layer, pairs=[pair], devices=devices)
    wall, how = time.perf_counter() - t0, "second run (programs cached)"
  else:
    wall, how = first - compile_s, "first run minus compile"
  images = 2 * config.n_seeds + config.n_angles * config.n_seeds
  return {"wall_s": wall, "first_wall_s": first, "compile_s": compile_s, "images": images,
          "image_steps": images * config.steps, "image_steps_per_s": images * config.steps / wall,
          "scales": np.asarray(res.scales[0]).tolist(), "c": np.asarray(res.c[0]).tolist(), "timing": how,
          "phase_s": [res.meta.get("phase1_seconds"), res.meta.get("phase2_seconds")]}


# ------------------------------------------------------------------------------------------ forward + gradient

# Model parameters are always an argument of the jitted functions, never a closure: closed-over arrays become
# constants of the program, which XLA then constant-folds (slow compiles, and not how the sweep runs).

def fwd_grad_fn(layer: str, *, dtype: Any = jnp.float32) -> Callable[[Any, jax.Array], jax.Array]:
  """jitted ``(params, images [N, H, W, 3]) -> d sum(layer) / d images`` (the same loss as the PyTorch side)."""
  name = inception_v1.canonical(layer)

  def loss(params, x):
    return jnp.sum(inception_v1.apply(params, x, (name,), dtype=dtype)[name])

  return jax.jit(jax.grad(loss, argnums=1))


def forward_fn(layer: str, *, dtype: Any = jnp.float32) -> Callable[[Any, jax.Array], jax.Array]:
  """jitted ``(params, images) -> layer`` (the statistics comparison)."""
  name = inception_v1.canonical(layer)
  return jax.jit(lambda params, x: inception_v1.apply(params, x, (name,), dtype=dtype)[name])


def compile_timed(fn: Callable, *args) -> tuple[Callable, float]:
  """(compiled executable, compile seconds) of a jitted function for these arguments."""
  t0 = time.perf_counter()
  compiled = fn.lower(*args).compile()
  return compiled, time.perf_counter() - t0


# ----------------------------------------------------------------------------------------- one step, in parts

class StepParts(NamedTuple):
  """jit-able functions of a batch of B images, each one part of one sweep step (phase 2, cosdot)."""
  step: Callable          # (params, state, keys [B], thetas [B]) -> state: the whole step (what the sweep scans)
  render: Callable        # image params [B, ...] -> vjp of render with a ones cotangent: the parameterization
  transform: Callable     # (keys [B], canvas images [B, h, w, 3]) -> vjp of the transforms: pad/jitter/scale/...
  model: Callable         # (params, model inputs [B, S, S, 3], thetas) -> d(-cosdot) / d inputs: features
  optimizer: Callable     # (grads, state) -> state: the Adam update
  init: Callable          # keys [B] -> state
  example: Callable       # B -> example arguments of every part (concrete arrays, model params included)


class _StepState(NamedTuple):
  image: Any
  opt: Any


def step_parts(params: Any, config: sweep_lib.SweepConfig, *, layer: str, pair: tuple[int, int],
               scales: tuple[float, float] = (1.0, 1.0)) -> StepParts:
  """The sweep's phase-2 step for a batch, whole and in parts (plain ReLU; the sweep's redirected ReLU differs only
  during its first ``redirect_steps`` steps and costs the same)."""
  prm = param_lib.fft(config.canvas_size, decorrelate=True)
  tfm = transforms_lib.standard(config.input_size)
  feats = sweep_lib.make_features(inception_v1.MODEL, layer, config.readout, config.dtype)
  opt = optax.adam(config.learning_rate)
  units = jnp.asarray(pair, jnp.int32)
  scale = jnp.asarray(scales, jnp.float32)

  def objective(model_params, x, theta):  # x: [S, S, 3] model input of one image
    y = feats(model_params, x[None], units)[0]
    return -objectives.cosdot(y / scale, theta, config.p, floor=config.floor)

  def loss_one(image_params, model_params, key, theta):
    return objective(model_params, tfm(key, prm.render(image_params)), theta)

  def step_one(model_params, state, key, theta):
    g = jax.grad(loss_one)(state.image, model_params, key, theta)
    updates, opt_state = opt.update(g, state.opt, state.image)
    return _StepState(optax.apply_updates(state.image, updates), opt_state)

  def init_one(key):
    image = prm.init(key)
    return _StepState(image, opt.init(image))

  def render_vjp(image_params):
    out, vjp = jax.vjp(jax.vmap(prm.render), image_params)
    return vjp(jnp.ones_like(out))[0]

  def transform_vjp(keys, canvas):
    out, vjp = jax.vjp(lambda c: jax.vmap(tfm)(keys, c), canvas)
    return vjp(jnp.ones_like(out))[0]

  def model_grad(model_params, x, thetas):
    return jax.vmap(jax.grad(objective, argnums=1), in_axes=(None, 0, 0))(model_params, x, thetas)

  def update_one(g, s):
    updates, opt_state = opt.update(g, s.opt, s.image)
    return _StepState(optax.apply_updates(s.image, updates), opt_state)

  def optimizer_update(grads, state):
    return jax.vmap(update_one)(grads, state)

  @jax.jit
  def _example(keys):
    state = jax.vmap(init_one)(keys)
    canvas = jax.vmap(prm.render)(state.image)
    return state, canvas, jax.vmap(tfm)(keys, canvas)

  def example(b):
    keys = jax.random.split(jax.random.key(1), b)
    state, canvas, x = _example(keys)
    thetas = jnp.linspace(0, 2 * np.pi, b, endpoint=False, dtype=jnp.float32)
    return {"step": (params, state, keys, thetas), "render": (state.image,), "transform": (keys, canvas),
            "model": (params, x, thetas), "optimizer": (state.image, state)}

  return StepParts(step=jax.vmap(step_one, in_axes=(None, 0, 0, 0)), render=render_vjp, transform=transform_vjp, model=model_grad,
                   optimizer=optimizer_update, init=jax.vmap(init_one), example=example)


def cost_flops(fn: Callable, *args) -> float:
  """FLOPs of one call of ``fn(*args)`` from XLA's cost analysis of the compiled program (0 if unavailable).

  A ``scan``/``while`` body is counted once, not per iteration: pass a single step, never the scanned loop.
  """
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older JAX: one dict per computation
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get("flops", 0.0))


def matmul_peak(n: int = 2048, dtype: Any = jnp.float32, repeats: int = 5,
                precision: Any = None) -> dict:
  """Measured matmul throughput of this device: best of ``repeats`` timed ``[n, n] @ [n, n]`` (2 n^3 FLOPs)."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32).astype(dtype)
  f = jax.jit(lambda x, y: jnp.dot(x, y, precision=precision))
  f(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    f(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return {"n": n, "dtype": jnp.dtype(dtype).name, "precision": str(precision), "seconds": best,
          "flops_per_s": 2.0 * n ** 3 / best}


def versions() -> dict[str, str]:
  import importlib.metadata as md
  out = {}
  for pkg in ("jax", "jaxlib", "flax", "optax"):
    try:
      out[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      out[pkg] = "absent"
  out["jax_backend"] = jax.default_backend()
  out["jax_devices"] = ", ".join(sorted({d.device_kind for d in jax.devices()}))
  out["jax_default_matmul_precision"] = str(jax.config.jax_default_matmul_precision)
  return out
