"""The plain PyTorch truncated InceptionV1 a PyTorch user would write for speed, and the forward + gradient functions
of every PyTorch variant the benchmark times."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from benchmarks._lucent_import import exact_lrn
from benchmarks.lucent_model import (_POOL_BEFORE, MIXED_BLOCKS, VALUE_OFFSET, VALUE_SCALE, capture, run_captured,
                                     tensor_modules)


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
