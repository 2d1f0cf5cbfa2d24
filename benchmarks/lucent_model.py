"""Lucent's InceptionV1 with seeded weights, its tensor names, and hooks that capture a tensor or stop the forward."""

from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch

from benchmarks._lucent_import import lucent

# Lucent's InceptionV1 input mapping: x * 255 - 117 on a [0, 1] image.
VALUE_SCALE, VALUE_OFFSET = 255.0, -117.0

MIXED_BLOCKS = ("mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b")
BRANCHES = ("1x1", "3x3", "5x5", "pool_reduce")  # concat order of every mixed block
_POOL_BEFORE = ("mixed4a", "mixed5a")  # maxpool4 / maxpool10 (3x3 stride 2) precede these blocks



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
