"""The PyTorch side of the benchmarks: Lucent's ``render_vis`` and InceptionV1, and a plain PyTorch truncated model.

Everything here runs the reference implementation as users run it, with two deliberate changes that make both
sides compute the same function, stated where they are made:

* **Exact LRN.** Lucent's InceptionV1 calls ``F.local_response_norm(size=9, alpha=1e-4, beta=0.5, k=1)``, which is
  not the inception5h graph's LRN (SPEC 1). The benchmark loads a private copy of Lucent's model module whose ``F``
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
import importlib
import importlib.util
import math
import sys
import time
import types
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

# The inception5h LRN (SPEC 1): depth_radius 5, bias 2, alpha float32(1e-4), beta 0.5. PyTorch's LRN averages over
# `size` channels (alpha / size), so the exact equivalent is size = 2 * 5 + 1 = 11, alpha = 11 * 1e-4, k = 2.
LRN_SIZE = 11
LRN_ALPHA = float(np.float32(1e-4))
LRN_BIAS = 2.0
LRN_BETA = 0.5

# Lucent's InceptionV1 input mapping: x * 255 - 117 on a [0, 1] image.
VALUE_SCALE, VALUE_OFFSET = 255.0, -117.0

MIXED_BLOCKS = ("mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b")
BRANCHES = ("1x1", "3x3", "5x5", "pool_reduce")  # concat order of every mixed block
_POOL_BEFORE = ("mixed4a", "mixed5a")  # maxpool4 / maxpool10 (3x3 stride 2) precede these blocks


# --------------------------------------------------------------------------------------------- importing Lucent

def _decorator_standin(caller: Callable) -> Callable:
  """What ``decorator.decorator(caller)`` does for Lucent: ``f -> (lambda *a, **k: caller(f, *a, **k))``."""

  def decorate(func):
    @functools.wraps(func)
    def wrapped(*args, **kwargs):
      return caller(func, *args, **kwargs)
    return wrapped

  return decorate


class _NormalizeStandin:
  """Stand-in for ``torchvision.transforms.Normalize``: Lucent uses it only for torchvision models."""

  def __init__(self, *args, **kwargs):
    raise RuntimeError("torchvision is not importable here; the benchmarks only drive Lucent's InceptionV1, whose "
                       "preprocessing does not use torchvision")


def _standins() -> dict[str, types.ModuleType]:
  tv = types.ModuleType("torchvision")
  tv_transforms = types.ModuleType("torchvision.transforms")
  tv_transforms.Normalize = _NormalizeStandin
  tv_models = types.ModuleType("torchvision.models")
  tv_models.__all__ = []
  tv.transforms, tv.models = tv_transforms, tv_models
  ipy = types.ModuleType("IPython")
  ipy_display = types.ModuleType("IPython.display")
  ipy.display = ipy_display
  deco = types.ModuleType("decorator")
  deco.decorator = _decorator_standin
  return {"torchvision": tv, "torchvision.transforms": tv_transforms, "torchvision.models": tv_models,
          "IPython": ipy, "IPython.display": ipy_display, "decorator": deco}


def _importable(name: str) -> bool:
  try:
    importlib.import_module(name)
    return True
  except Exception:  # a broken install (torchvision beside a mismatched torch) raises more than ImportError
    return False


@contextlib.contextmanager
def _lucent_import_standins():
  """Stand-ins for the optional imports of Lucent that fail here, present only inside the ``with`` block."""
  standins = _standins()
  missing = [top for top in ("torchvision", "IPython", "decorator") if not _importable(top)]
  added = [n for n in standins if n.split(".")[0] in missing]
  saved = {n: sys.modules.get(n) for n in added}
  for n in added:
    sys.modules[n] = standins[n]
  try:
    yield sorted(missing)
  finally:
    for n in added:
      if saved[n] is None:
        sys.modules.pop(n, None)
      else:
        sys.modules[n] = saved[n]


class _FunctionalExactLRN(types.ModuleType):
  """``torch.nn.functional`` with ``local_response_norm`` replaced by the exact inception5h LRN."""

  def __getattr__(self, name: str) -> Any:
    return getattr(F, name)

  @staticmethod
  def local_response_norm(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # Lucent's (wrong) arguments ignored
    return exact_lrn(x)


def exact_lrn(x: torch.Tensor) -> torch.Tensor:
  """TensorFlow's LRN of inception5h on an NCHW tensor (radius 5, bias 2, alpha 1e-4, beta 0.5), via PyTorch's."""
  return F.local_response_norm(x, size=LRN_SIZE, alpha=LRN_SIZE * LRN_ALPHA, beta=LRN_BETA, k=LRN_BIAS)


@functools.lru_cache(maxsize=None)
def lucent() -> types.SimpleNamespace:
  """Lucent's modules, imported once with the workaround of the module docstring.

  Returns:
    A namespace with ``render`` (``lucent.optvis.render``), ``param``, ``transform``, ``objectives``,
    ``InceptionV1`` (Lucent's class from a private copy of its module, exact LRN), ``standins`` (the names that were
    replaced during the import) and ``version``.
  """
  with _lucent_import_standins() as missing:
    render = importlib.import_module("lucent.optvis.render")
    param = importlib.import_module("lucent.optvis.param")
    transform = importlib.import_module("lucent.optvis.transform")
    objectives = importlib.import_module("lucent.optvis.objectives")
    importlib.import_module("lucent.modelzoo.inceptionv1")
    source = sys.modules["lucent.modelzoo.inceptionv1.InceptionV1"].__file__
    spec = importlib.util.spec_from_file_location("benchmarks._lucent_inceptionv1_exact_lrn", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  module.F = _FunctionalExactLRN("torch.nn.functional")
  try:
    from importlib.metadata import version
    lucent_version = version("torch-lucent")
  except Exception:
    lucent_version = "unknown"
  return types.SimpleNamespace(render=render, param=param, transform=transform, objectives=objectives,
                               InceptionV1=module.InceptionV1, standins=missing, version=lucent_version)


# ------------------------------------------------------------------------------------------------------- the model

def make_model(seed: int = 0, device: str | torch.device = "cpu") -> torch.nn.Module:
  """Lucent's InceptionV1 (exact LRN, redirected ReLU as Lucent ships it) with seeded random weights, eval mode.

  Weights are He-normal (std ``sqrt(2 / fan_in)``; ``conv2d0`` also divided by the std of a uniform [-117, 138]
  input, so activations keep a steady scale through the ReLU stack) and biases N(0, 0.1^2), so that a converter that
  drops or misplaces biases is caught by the comparison tests. The parameters keep ``requires_grad=True``, as a
  user's Lucent model does (``render_vis`` then also accumulates weight gradients each step).
  """
  model = lucent().InceptionV1(pretrained=False)
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, mod in model.named_modules():
      if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
        fan_in = mod.weight[0].numel()
        gain = 1.0 if isinstance(mod, torch.nn.Linear) else 2.0
        std = math.sqrt(gain / fan_in)
        if name == "conv2d0_pre_relu_conv":
          std /= VALUE_SCALE / math.sqrt(12.0)
        mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * std)
        mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
  return model.to(device).eval()


def save_state_dict(model: torch.nn.Module, path: str) -> None:
  """Write ``model``'s weights as a Lucent ``inception5h.pth``-style state_dict (CPU tensors)."""
  torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def tensor_modules(model: torch.nn.Module, layer: str) -> tuple[str, ...]:
  """The Lucent module names whose outputs make up ``layer`` (Lucid's spelling), concatenated in this order.

  ``<block>_pre_relu`` of a mixed block does not exist in Lucent: it is the concat of the four branch pre-ReLU convs.
  ``<conv>_pre_relu`` is Lucent's ``<conv>_pre_relu_conv``; other names (``mixed4a``, ``conv2d2``) are Lucent's own.
  """
  mods = dict(model.named_modules())
  if layer.endswith("_pre_relu"):
    base = layer[:-len("_pre_relu")]
    if base in MIXED_BLOCKS:
      return tuple(f"{base}_{b}_pre_relu_conv" for b in BRANCHES)
    if f"{layer}_conv" in mods:
      return (f"{layer}_conv",)
  if layer in mods:
    return (layer,)
  raise KeyError(f"no Lucent module for layer {layer!r}")


def unit_location(model: torch.nn.Module, layer: str, channel: int) -> tuple[str, int]:
  """(Lucent module name, channel within that module's output) of channel ``channel`` of ``layer``."""
  names = tensor_modules(model, layer)
  mods = dict(model.named_modules())
  for name in names:
    width = mods[name].out_channels if hasattr(mods[name], "out_channels") else None
    if width is None or len(names) == 1:
      return name, channel
    if channel < width:
      return name, channel
    channel -= width
  raise IndexError(f"channel out of range for {layer}")


class _Stop(RuntimeError):
  """Raised by a hook to end the forward pass once the wanted tensors exist (truncated Lucent). A RuntimeError, as
  ``render_vis`` tolerates those from the model ("some layers could not be computed") and goes on with the step."""


_ORDER: dict[int, tuple[str, ...]] = {}


def execution_order(model: torch.nn.Module) -> tuple[str, ...]:
  """Names of ``model``'s leaf modules in the order its forward pass calls them (recorded once per model with a
  64 px forward; Lucent's head fails below 193 px, after every other module has run)."""
  if id(model) not in _ORDER:
    order: list[str] = []
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: order.append(n))
               for n, m in model.named_modules() if n and not list(m.children())]
    dev = next(model.parameters()).device
    try:
      with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64, device=dev))
    except RuntimeError:
      pass
    finally:
      for h in handles:
        h.remove()
    _ORDER[id(model)] = tuple(dict.fromkeys(order))
  return _ORDER[id(model)]


@contextlib.contextmanager
def stop_after(model: torch.nn.Module, names: Sequence[str]):
  """Cut the forward pass (raise :class:`_Stop`) just before the first module that runs after all of ``names``.

  A forward pre-hook on that next module, so every forward hook on ``names`` (ours, or the ones ``render_vis``
  registers later) has already seen its output.
  """
  order = execution_order(model)
  last = max(order.index(n) for n in names)
  handle = None
  if last + 1 < len(order):
    def pre_hook(module, inputs):
      raise _Stop
    handle = dict(model.named_modules())[order[last + 1]].register_forward_pre_hook(pre_hook)
  try:
    yield
  finally:
    if handle is not None:
      handle.remove()


@contextlib.contextmanager
def capture(model: torch.nn.Module, names: Sequence[str], *, stop: bool = False):
  """Forward hooks that store the outputs of modules ``names`` in the yielded dict; with ``stop`` the forward pass
  is cut (by an exception that :func:`run_captured` swallows) as soon as all of them are computed."""
  mods = dict(model.named_modules())
  out: dict[str, torch.Tensor] = {}

  def hook_for(name):
    def hook(module, inputs, output):
      out[name] = output
    return hook

  handles = [mods[n].register_forward_hook(hook_for(n)) for n in names]
  try:
    with (stop_after(model, names) if stop else contextlib.nullcontext()):
      yield out
  finally:
    for h in handles:
      h.remove()


def run_captured(model: torch.nn.Module, x: torch.Tensor) -> None:
  """``model(x)`` tolerating what ``render_vis`` tolerates: a RuntimeError from the forward pass (the early exit of
  a stopping :func:`capture`, or Lucent's head failing on inputs outside 193..224 px)."""
  try:
    model(x)
  except RuntimeError:
    pass


def activations(model: torch.nn.Module, images: torch.Tensor, layer: str, *, truncate: bool = True) -> torch.Tensor:
  """``layer`` of Lucent's model on NCHW images in [0, 1] (mapped to [-117, 138] as ``render_vis`` does): NCHW."""
  names = tensor_modules(model, layer)
  with capture(model, names, stop=truncate) as out:
    run_captured(model, images * VALUE_SCALE + VALUE_OFFSET)
  return torch.cat([out[n] for n in names], dim=1)


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


# ------------------------------------------------------------------------------------- plain PyTorch, truncated

def _same_pad(n: int, k: int, stride: int) -> tuple[int, int]:
  """TF-SAME (before, after) padding of an axis of length n (as fcjax: the extra pixel goes after)."""
  out = -(-n // stride)
  total = max((out - 1) * stride + k - n, 0)
  return total // 2, total - total // 2


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1) -> torch.Tensor:
  k = w.shape[-1]
  if k > 1 or stride > 1:
    x = F.pad(x, _same_pad(x.shape[3], k, stride) + _same_pad(x.shape[2], k, stride))
  return F.conv2d(x, w, b, stride)


def _maxpool(x: torch.Tensor, stride: int) -> torch.Tensor:
  x = F.pad(x, _same_pad(x.shape[3], 3, stride) + _same_pad(x.shape[2], 3, stride), value=float("-inf"))
  return F.max_pool2d(x, 3, stride)


class PlainInceptionV1(torch.nn.Module):
  """InceptionV1 up to one ``<conv>_pre_relu`` / ``<block>_pre_relu`` tensor in plain PyTorch ops.

  What a PyTorch user would write to get this tensor's gradient fast: no hooks, no modules past the target, plain
  ``F.relu``, TF-SAME pads, the exact LRN, and frozen weights (no weight gradients). The weights are detached copies
  of a Lucent model's, so it computes the same function as Lucent's model (at sizes divisible by 32) and fcjax.
  Input: NCHW float in [0, 1]; output: NCHW.
  """

  def __init__(self, lucent_model: torch.nn.Module, layer: str):
    super().__init__()
    self.layer = layer
    self.weights = {n[:-len("_pre_relu_conv")]: (m.weight.detach().clone(), m.bias.detach().clone())
                    for n, m in lucent_model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    stem = ("conv2d0_pre_relu", "conv2d1_pre_relu", "conv2d2_pre_relu")
    blocks = tuple(f"{b}_pre_relu" for b in MIXED_BLOCKS)
    if layer not in stem + blocks:
      raise KeyError(f"PlainInceptionV1 stops at one of {stem + blocks}, not {layer!r}")

  def _c(self, name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    w, b = self.weights[name]
    return _conv(x, w, b, stride)

  def forward(self, images: torch.Tensor) -> torch.Tensor:
    x = self._c("conv2d0", images * VALUE_SCALE + VALUE_OFFSET, stride=2)
    if self.layer == "conv2d0_pre_relu":
      return x
    x = exact_lrn(_maxpool(F.relu(x), 2))
    x = self._c("conv2d1", x)
    if self.layer == "conv2d1_pre_relu":
      return x
    x = self._c("conv2d2", F.relu(x))
    if self.layer == "conv2d2_pre_relu":
      return x
    x = _maxpool(exact_lrn(F.relu(x)), 2)
    for block in MIXED_BLOCKS:
      if block in _POOL_BEFORE:
        x = _maxpool(x, 2)
      pre = torch.cat([self._c(f"{block}_1x1", x),
                       self._c(f"{block}_3x3", F.relu(self._c(f"{block}_3x3_bottleneck", x))),
                       self._c(f"{block}_5x5", F.relu(self._c(f"{block}_5x5_bottleneck", x))),
                       self._c(f"{block}_pool_reduce", _maxpool(x, 1))], dim=1)
      if self.layer == f"{block}_pre_relu":
        return pre
      x = F.relu(pre)
    raise AssertionError("unreachable")


def fwd_grad_fns(model: torch.nn.Module, layer: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
  """Forward + gradient to the input of ``sum(layer)``, three ways; each maps NCHW [0, 1] images to d/d images.

  * ``lucent_as_run``: Lucent's model as ``render_vis`` runs it: the whole network to ``softmax2`` with hooks,
    redirected ReLU, and weight gradients accumulated (Lucent leaves ``requires_grad`` on).
  * ``lucent_truncated``: the same model with hooks that stop the forward at ``layer``; weight gradients off.
  * ``torch_plain``: :class:`PlainInceptionV1` (plain ops, TF-SAME, exact LRN, frozen weights, plain ReLU).
  """
  names = tensor_modules(model, layer)
  plain = PlainInceptionV1(model, layer)

  def lucent_fn(truncate: bool):
    def f(images):
      for prm in model.parameters():
        prm.requires_grad_(not truncate)
      x = images.detach().requires_grad_(True)
      with capture(model, names, stop=truncate) as out:
        run_captured(model, x * VALUE_SCALE + VALUE_OFFSET)  # as render_vis: the head may fail off 193..224 px
      loss = sum(out[n].sum() for n in names)
      (g,) = torch.autograd.grad(loss, x) if truncate else (_backward(loss, x),)
      return g
    return f

  def plain_fn(images):
    x = images.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(plain(x).sum(), x)
    return g

  return {"lucent_as_run": lucent_fn(False), "lucent_truncated": lucent_fn(True), "torch_plain": plain_fn}


def _backward(loss: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
  """``loss.backward()`` as render_vis calls it (weight gradients too), returning the input gradient."""
  loss.backward()
  return x.grad


def lucent_model_fn(model: torch.nn.Module, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
  """Forward only, no gradient, truncated at ``layer`` (for the statistics comparison)."""
  names = tensor_modules(model, layer)

  def f(images):
    with torch.no_grad(), capture(model, names, stop=True) as out:
      run_captured(model, images * VALUE_SCALE + VALUE_OFFSET)
    return torch.cat([out[n] for n in names], 1)

  return f


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
