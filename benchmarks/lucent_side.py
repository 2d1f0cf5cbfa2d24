"""The PyTorch side of the benchmarks: Lucent's ``render_vis`` and InceptionV1, and a plain PyTorch truncated model.

Everything here runs the reference implementation as users run it, with two deliberate changes that make both
sides compute the same function, stated where they are made:

* **Exact LRN.** Lucent's InceptionV1 calls ``F.local_response_norm(size=9, alpha=1e-4, beta=0.5, k=1)``, which is
  not the inception5h graph's LRN. The benchmark loads a private copy of Lucent's model module whose ``F``
  routes ``local_response_norm`` to the exact PyTorch equivalent ``size=11, alpha=11e-4, beta=0.5, k=2``; Lucent's own
  module object is left untouched.
* **Same random weights.** The model gets seeded He-normal weights here; :func:`save_state_dict` writes them as a
  Lucent ``.pth`` that fcjax converts with ``weights_conversion`` (so the fcjax side computes the same function).

**Import workaround.** ``lucent.optvis`` imports ``torchvision`` (only ``Normalize``, used for torchvision models, not
for InceptionV1), ``lucent.modelzoo`` does ``from torchvision.models import *``, ``lucent.misc.io`` imports
``IPython.display`` and ``lucent.optvis.objectives`` imports the ``decorator`` package. torch-lucent is installed
without its dependencies (a torchvision wheel does not import beside torch 2.13.0 CPU), so :func:`lucent` puts
minimal stand-ins for whichever of these does not import into ``sys.modules`` while Lucent is imported, and removes
them afterwards. The ``decorator`` stand-in has the same call semantics for Lucent's single use
(``@decorator def inner(func, *args, **kw)``); the others are never called on the InceptionV1 path (the
``Normalize`` stand-in raises if it ever is).
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

# The model, its import and the plain PyTorch variant live in three modules below this one; the names the runner,
# the tests and the docs use stay reachable here.
from benchmarks._lucent_import import exact_lrn, lucent  # noqa: F401
from benchmarks.lucent_model import (VALUE_SCALE, VALUE_OFFSET, make_model, save_state_dict, tensor_modules,
                                     unit_location, stop_after, capture, run_captured, activations)  # noqa: F401
from benchmarks.torch_plain import PlainInceptionV1, fwd_grad_fns  # noqa: F401


# ----------------------------------------------------------------------------------------------------- objectives

def cosdot(y: torch.Tensor, theta: torch.Tensor, p: int | float = 4, floor: float | None = None,
           eps: float = 1e-6) -> torch.Tensor:
  """The paper's cosdot in PyTorch: ``dot * cos^p`` (exact, even integer p) or ``dot * max(floor, cos)^p``.

  y: [..., 2]; theta: [...] radians; norms below ``eps`` count as ``eps`` (as fcjax's). Returns [...].
  """
  h = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1).to(y.dtype)
  dot = (y * h).sum(-1)
  cos = dot / (y.norm(dim=-1).clamp_min(eps) * h.norm(dim=-1).clamp_min(eps))
  return dot * (cos if floor is None else cos.clamp_min(floor)) ** p


def _centre(t: torch.Tensor, channel: int) -> torch.Tensor:
  """[N] value of ``channel`` at the spatial centre (H // 2, W // 2) of an NCHW tensor (Lucid's 'neuron')."""
  return t[:, channel, t.shape[2] // 2, t.shape[3] // 2]


def unit_objective(model: torch.nn.Module, layer: str, unit: int, batch: int | None = None):
  """A Lucent objective: maximise one unit of ``layer`` at the centre (phase 1 of the sweep)."""
  obj = lucent().objectives
  module, ch = unit_location(model, layer, unit)

  @obj.wrap_objective()
  def unit_activation(module, ch, batch=None):
    @obj.handle_batch(batch)
    def inner(T):
      return -_centre(T(module), ch).mean()
    return inner

  return unit_activation(module, ch, batch=batch)


def cosdot_objective(model: torch.nn.Module, layer: str, units: tuple[int, int], theta: float,
                     scales: tuple[float, float], p: int | float = 4, floor: float | None = None,
                     batch: int | None = None):
  """A Lucent objective: maximise cosdot of the scaled pair ``(y_i / s_i, y_j / s_j)`` toward ``theta``."""
  obj = lucent().objectives
  (mod_a, ch_a), (mod_b, ch_b) = (unit_location(model, layer, u) for u in units)

  @obj.wrap_objective()
  def pair_cosdot(units, theta, batch=None):
    @obj.handle_batch(batch)
    def inner(T):
      y = torch.stack([_centre(T(mod_a), ch_a) / scales[0], _centre(T(mod_b), ch_b) / scales[1]], dim=-1)
      th = torch.full(y.shape[:1], float(theta), device=y.device)
      return -cosdot(y, th, p, floor).mean()
    return inner

  return pair_cosdot(units, theta, batch=batch)


# ------------------------------------------------------------------------------------------------ the Lucent sweep

def _clear_hooks(model: torch.nn.Module) -> None:
  """Drop the forward hooks ``render_vis`` leaves behind: it registers one per module on every call and never
  removes them, so a loop of calls would slow down call after call. Clearing them is Lucent's best case."""
  for m in model.modules():
    m._forward_hooks.clear()


def _final_values(model, image: torch.Tensor, layer: str, units: tuple[int, int], model_size: int) -> np.ndarray:
  """[B, 2] raw unit values of final images [B, 3, h, w] in [0, 1], resized to the model input as render_vis does."""
  with torch.no_grad():
    if image.shape[-1] != model_size or image.shape[-2] != model_size:
      image = torch.nn.functional.interpolate(image, size=(model_size, model_size), mode="bilinear",
                                              align_corners=True)
    acts = activations(model, image, layer)
    return torch.stack([_centre(acts, u) for u in units], dim=-1).cpu().numpy()


def render(model: torch.nn.Module, objective_fns: Sequence[Callable[[int | None], Any]], *, layer: str,
           units: tuple[int, int], steps: int, size: int, model_size: int, batched: bool,
           batch_size: int | None = None, seed: int = 0, truncate: bool = False) -> np.ndarray:
  """Optimise one image per objective with Lucent's ``render_vis`` and return the final unit values [n, 2].

  Args:
    objective_fns: ``f(batch) -> Lucent objective`` per image (``batch`` is None one-at-a-time, else the index in
      the batch: Lucent's way of giving every batch item its own objective).
    batched: False: one ``render_vis`` call per image (how Lucent is usually driven); True: one call per chunk of
      ``batch_size`` images (all by default) with Lucent's ``param.image(size, batch=B)`` and the sum of the
      per-item objectives.
    size, model_size: parameterised image side and model input side (render_vis upsamples to ``model_size``).
    truncate: stop Lucent's forward pass after ``layer`` with a hook (:func:`stop_after`; render_vis tolerates the
      RuntimeError). Off by default: Lucent runs the whole network to ``softmax2``.
    seed: seeds torch (parameter init) and numpy (Lucent's transforms draw from numpy's global RNG).
  """
  L = lucent()
  chunk = (batch_size or len(objective_fns)) if batched else 1
  out = []
  for start in range(0, len(objective_fns), chunk):
    fns = objective_fns[start:start + chunk]
    torch.manual_seed(seed + start)
    np.random.seed(seed + start)
    made = {}

    def param_f(n=len(fns)):
      params, image_f = L.param.image(size, batch=n, decorrelate=True, fft=True)
      made["image_f"] = image_f
      return params, image_f

    if batched:
      objective = L.objectives.Objective.sum([f(b) for b, f in enumerate(fns)])
    else:
      objective = fns[0](None)
    with (stop_after(model, tensor_modules(model, layer)) if truncate else contextlib.nullcontext()), \
        warnings.catch_warnings():
      warnings.filterwarnings("ignore", message="Some layers could not be computed")
      L.render.render_vis(model, objective, param_f, thresholds=(steps,), fixed_image_size=model_size,
                          progress=False, show_image=False)
    _clear_hooks(model)
    out.append(_final_values(model, made["image_f"]().detach(), layer, units, model_size))
  return np.concatenate(out, axis=0)


def sweep(model: torch.nn.Module, *, layer: str, pair: tuple[int, int], n_angles: int, n_seeds: int, steps: int,
          size: int, model_size: int, batched: bool, p: int | float = 4, floor: float | None = None,
          batch_size: int | None = None, seed: int = 0, truncate: bool = False) -> dict:
  """The paper's two-phase sweep for one pair, driven through Lucent's ``render_vis``.

  Phase 1 maximises each unit alone (``n_seeds`` images each) and takes the best value as the unit's scale; phase 2
  optimises cosdot of the scaled pair at ``n_angles`` angles evenly spaced on [0, 2 pi), ``n_seeds`` images each.

  Returns:
    dict with ``wall_s`` (total seconds), ``phase_s`` [2], ``images`` and ``image_steps`` (images * steps),
    ``image_steps_per_s``, ``scales`` [2], ``c`` [A, S] final cosdot values, ``batched``.
  """
  common = dict(layer=layer, units=pair, steps=steps, size=size, model_size=model_size, batched=batched,
                batch_size=batch_size, truncate=truncate)
  for prm in model.parameters():  # as a user's model: render_vis then also computes weight gradients
    prm.requires_grad_(True)
  t0 = time.perf_counter()
  unit_fns = [functools.partial(lambda b, u: unit_objective(model, layer, u, batch=b), u=u)
              for u in pair for _ in range(n_seeds)]
  y1 = render(model, unit_fns, seed=seed, **common)
  values = np.stack([y1[:n_seeds, 0], y1[n_seeds:, 1]])  # [2, S]
  scales = tuple(float(max(v.max(), 1e-6)) for v in values)
  t1 = time.perf_counter()
  thetas = 2 * np.pi * np.arange(n_angles) / n_angles
  pair_fns = [functools.partial(lambda b, th: cosdot_objective(model, layer, pair, th, scales, p, floor, batch=b),
                                th=float(th)) for th in thetas for _ in range(n_seeds)]
  y2 = render(model, pair_fns, seed=seed + 10_000, **common)
  synchronize()
  t2 = time.perf_counter()
  y2s = torch.as_tensor(y2 / np.asarray(scales))
  c = cosdot(y2s, torch.as_tensor(np.repeat(thetas, n_seeds)), p, floor).numpy().reshape(n_angles, n_seeds)
  images = 2 * n_seeds + n_angles * n_seeds
  return {"wall_s": t2 - t0, "phase_s": [t1 - t0, t2 - t1], "images": images, "image_steps": images * steps,
          "image_steps_per_s": images * steps / (t2 - t0), "scales": list(scales), "c": c.tolist(),
          "batched": batched, "batch_size": batch_size, "truncated": truncate}


def synchronize() -> None:
  """Wait for queued GPU work (timing); nothing on the CPU."""
  if torch.cuda.is_available():
    torch.cuda.synchronize()


def versions() -> dict[str, str]:
  return {"torch": torch.__version__, "torch_lucent": lucent().version, "torch_threads": str(torch.get_num_threads()),
          "lucent_import_standins": ",".join(lucent().standins) or "none"}


__all__: Iterable[str] = ("lucent", "make_model", "save_state_dict", "tensor_modules", "unit_location", "capture",
                          "activations", "cosdot", "unit_objective", "cosdot_objective", "render", "sweep",
                          "PlainInceptionV1", "fwd_grad_fns", "exact_lrn", "versions")
