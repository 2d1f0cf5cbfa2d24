"""The fcjax side of the benchmarks: the compiled sweep, model forward + gradient, one step's cost and profile.

Everything is timed with ``block_until_ready`` and compile time is measured separately from run time. Nothing here
re-implements the sweep: :func:`sweep` times ``fcjax.sweep.run`` itself; :func:`block_program` returns the compiled
block that run executes (the same cache entry of ``fcjax.sweep.program``, no new compile); and the one-step function
used for XLA's cost analysis and for the profile (:func:`step_parts`) is the program's own per-image step
(``fcjax.sweep.program.Program.step``) vmapped over a batch, with its parts (render, transforms, features + objective,
optimiser update) taken from the same program (``program.parts``), so its FLOPs are those of one sweep step.
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

from fcjax import _devices
from fcjax import sweep as sweep_lib
from fcjax.models import inception_v1
from fcjax.sweep import program
from fcjax.sweep.layout import _Layout


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
  """Run the compiled sweep of one pair on the first device; with ``repeat`` run it a second time (compiled programs
  cached) and time that run, else subtract the compile time from the first run's wall time.

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
  step: Callable          # (params, state, entries, t) -> state: the program's step (what the block scans)
  render: Callable        # image params [B, ...] -> vjp of render with a ones cotangent: the parameterization
  transform: Callable     # (keys [B], canvas images [B, h, w, 3]) -> vjp of the transforms: pad/jitter/scale/...
  model: Callable         # (params, model inputs [B, S, S, 3], entries) -> d(-objective) / d inputs: features
  optimizer: Callable     # (grads, state) -> state: the optimiser update
  init: Callable          # entries -> state
  example: Callable       # B -> example arguments of every part (concrete arrays, model params included)


def _program(config: sweep_lib.SweepConfig, layer: str) -> program.Spec:
  return program.Spec.of(inception_v1.MODEL, inception_v1.MODEL.canonical(layer), config)


def _hyper(config: sweep_lib.SweepConfig) -> program.Hyper:
  return program.Hyper(jnp.float32(config.learning_rate), jnp.int32(config.redirect_steps), jnp.int32(config.steps),
                       jnp.int32(round(config.warmup_fraction * config.steps)))


def _entries(b: int, pair, scales, thetas) -> program.Entries:
  """B angle rows (phase 2): angles cycling over ``thetas``, seed index = row (as the sweep enumerates them)."""
  th = np.asarray(thetas)[np.arange(b) % len(thetas)]
  norm = np.repeat(np.asarray(scales, np.float32), 2)[None]
  return program.make_entries(np.tile(np.asarray(pair, np.int32), (b, 1)), np.stack([np.cos(th), np.sin(th)], 1),
                              np.tile(norm, (b, 1)), False, False, 2, np.arange(b))


def step_parts(params: Any, config: sweep_lib.SweepConfig, *, layer: str, pair: tuple[int, int],
               scales: tuple[float, float] = (1.0, 1.0)) -> StepParts:
  """The sweep's phase-2 step for a batch, whole (``fcjax.sweep.program.Program.step``, vmapped) and in parts (the
  program's own parameterization, transforms, features and optimiser). Example steps use ``t = redirect_steps``:
  the steady state of 496 of the default 512 steps (the redirected ReLU's first steps cost the same)."""
  spec = _program(config, layer)
  prog, parts = program.program(spec), program.parts(spec)
  hyper = _hyper(config)
  base_key = jax.random.key(config.seed)

  def step_one(model_params, state, entry, t):
    return prog.step(model_params, hyper, entry, base_key, state, t)

  def init(entries):
    return jax.vmap(lambda e: prog.init(base_key, hyper, e, None))(entries)

  def render_vjp(image_params):
    out, vjp = jax.vjp(jax.vmap(parts.param.render), image_params)
    return vjp(jnp.ones_like(out))[0]

  def transform_vjp(keys, canvas):
    out, vjp = jax.vjp(lambda c: jax.vmap(parts.transform)(keys, c), canvas)
    return vjp(jnp.ones_like(out))[0]

  def objective(model_params, x, entry):  # x: [S, S, 3] model input of one image
    y = parts.features(model_params, x[None], entry.units, jax.nn.relu)[0]
    return -prog.objective(program.normalise(y, entry.norm), entry, hyper.warmup_steps, hyper)

  def model_grad(model_params, x, entries):
    return jax.vmap(jax.grad(objective, argnums=1), in_axes=(None, 0, 0))(model_params, x, entries)

  def update_one(g, s):
    updates, opt_state = parts.optimizer.update(g, s.opt, s.image)
    return s._replace(image=optax.apply_updates(s.image, updates), opt=opt_state)

  @jax.jit
  def _example(entries, keys):
    state = init(entries)
    canvas = jax.vmap(parts.param.render)(state.image)
    return state, canvas, jax.vmap(parts.transform)(keys, canvas)

  def example(b):
    entries = jax.tree.map(jnp.asarray, _entries(b, pair, scales, config.thetas))
    keys = jax.random.split(jax.random.key(1), b)
    state, canvas, x = _example(entries, keys)
    t = jnp.int32(config.redirect_steps)
    return {"step": (params, state, entries, t), "render": (state.image,), "transform": (keys, canvas),
            "model": (params, x, entries), "optimizer": (state.image, state)}

  return StepParts(step=jax.vmap(step_one, in_axes=(None, 0, 0, None)), render=render_vjp, transform=transform_vjp,
                   model=model_grad, optimizer=jax.vmap(update_one), init=init, example=example)


def block_program(params: Any, config: sweep_lib.SweepConfig, *, layer: str, pair: tuple[int, int],
                  devices: Any = None) -> tuple[Callable, tuple]:
  """(the compiled phase-2 block that ``sweep.run`` executes for this config and pair, example arguments).

  Built through ``fcjax.sweep.program.compiled_block`` with arguments laid out as :func:`fcjax.sweep.run` lays them
  out (same shapes, dtypes and shardings), so after a ``sweep.run`` of the same settings it is that run's cached
  executable (``sweep.cache_info()['compiles']`` does not move).
  """
  devices = [jax.devices()[0]] if devices is None else list(devices)
  mesh = _devices.mesh(devices)
  prog = _program(config, layer)
  replicated = _devices.replicated(mesh)
  n = len(config.thetas) * config.n_seeds
  lay = _Layout(n, config.chunk_size, mesh)
  entries = _entries(n, pair, (1.0, 1.0), config.thetas)
  base_key = jax.device_put(jax.random.key(config.seed), replicated)
  hyper = jax.device_put(_hyper(config), replicated)
  template = program.init_shapes(prog, base_key, hyper, entries)
  state = lay.split(jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), template))[0]
  args = (_devices.put_tree(params, replicated), base_key, hyper, lay.split(entries)[0], state,
          jax.device_put(jnp.int32(0), replicated))
  return program.compiled_block(prog, mesh, args, lay.batch), args


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
