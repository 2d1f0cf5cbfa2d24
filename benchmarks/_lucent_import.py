"""Importing Lucent without its unused dependencies, with the exact inception5h LRN (see lucent_side's docstring)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import types
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

# The inception5h graph's LRN: depth_radius 5, bias 2, alpha float32(1e-4), beta 0.5. PyTorch's LRN averages over
# `size` channels (alpha / size), so the exact equivalent is size = 2 * 5 + 1 = 11, alpha = 11 * 1e-4, k = 2.
LRN_SIZE = 11
LRN_ALPHA = float(np.float32(1e-4))
LRN_BIAS = 2.0
LRN_BETA = 0.5


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
