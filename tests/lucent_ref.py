"""Lucent's InceptionV1 (PyPI ``torch-lucent`` 0.1.8) as a reference, loaded without importing torchvision.

``lucent.modelzoo/__init__.py`` imports ``torchvision.models``, and PyPI's torchvision does not import beside the CPU
torch 2.13.0 that fcjax uses. The model itself needs only torch: ``lucent/modelzoo/inceptionv1/InceptionV1.py`` and
its ``helper_layers.py``. So this module executes those two unmodified source files by path
(``importlib.util.spec_from_file_location``). While they load, the two package modules on the import path
(``lucent.modelzoo`` and ``lucent.modelzoo.inceptionv1``) are empty stand-ins in ``sys.modules`` that point at the
real directories, so ``from lucent.modelzoo.inceptionv1 import helper_layers`` resolves to the real helper file and
the torchvision import in the package ``__init__`` never runs; the stand-ins are removed afterwards.

Lucent's LRN is wrong (``size=9, alpha=1e-4, k=1``). ``load_class(tf_lrn=True)`` gives the loaded copy of
``InceptionV1.py`` its own ``F`` namespace whose ``local_response_norm`` is the exact PyTorch equivalent of
TensorFlow's (``size=11, alpha=11e-4, beta=0.5, k=2``: PyTorch averages over ``size`` channels, dividing alpha by it);
everything else in ``F`` is ``torch.nn.functional``. torch's own module is not touched.

Used by ``tests/test_inception_v1.py`` and the benchmarks.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import types

import numpy as np

_CACHE: dict[bool, type] = {}


def lucent_dir() -> pathlib.Path:
  """The installed ``lucent`` package directory (found without executing any lucent module but its trivial root)."""
  spec = importlib.util.find_spec("lucent")
  if spec is None or not spec.submodule_search_locations:
    raise ImportError("torch-lucent is not installed (pip install --no-deps torch-lucent==0.1.8)")
  return pathlib.Path(list(spec.submodule_search_locations)[0])


def _load(name: str, path: pathlib.Path) -> types.ModuleType:
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class _TFLocalResponseNorm:
  """``torch.nn.functional`` with ``local_response_norm`` replaced by TensorFlow's LRN (inception5h constants)."""

  def __getattr__(self, name):
    import torch.nn.functional as F
    return getattr(F, name)

  @staticmethod
  def local_response_norm(x, size=None, alpha=None, beta=None, k=None):
    import torch.nn.functional as F
    # Lucent passes its own (wrong) constants; TF's depth_radius 5, bias 2, alpha 1e-4, beta 0.5 in PyTorch's terms:
    return F.local_response_norm(x, size=11, alpha=11 * 9.999999747378752e-05, beta=0.5, k=2.0)


def load_class(tf_lrn: bool = True) -> type:
  """Lucent's ``InceptionV1`` class, loaded by path (see the module docstring); ``tf_lrn`` fixes its LRN."""
  if tf_lrn in _CACHE:
    return _CACHE[tf_lrn]
  import torch  # noqa: F401  (the lucent files need it; fail here if it is missing)
  root = lucent_dir() / "modelzoo" / "inceptionv1"
  names = ("lucent.modelzoo", "lucent.modelzoo.inceptionv1", "lucent.modelzoo.inceptionv1.helper_layers")
  saved = {n: sys.modules.get(n) for n in names}
  try:
    import lucent  # noqa: F401  (the real root package; its __init__ only sets __version__)
    pkg = types.ModuleType("lucent.modelzoo")
    pkg.__path__ = [str(root.parent)]
    sub = types.ModuleType("lucent.modelzoo.inceptionv1")
    sub.__path__ = [str(root)]
    sys.modules["lucent.modelzoo"] = pkg
    sys.modules["lucent.modelzoo.inceptionv1"] = sub
    helper = _load("lucent.modelzoo.inceptionv1.helper_layers", root / "helper_layers.py")
    sub.helper_layers = helper
    module = _load(f"_lucent_inceptionv1_{'tflrn' if tf_lrn else 'orig'}", root / "InceptionV1.py")
  finally:
    for n, m in saved.items():
      if m is None:
        sys.modules.pop(n, None)
      else:
        sys.modules[n] = m
  if tf_lrn:
    module.F = _TFLocalResponseNorm()
  _CACHE[tf_lrn] = module.InceptionV1
  return module.InceptionV1


def build(seed: int = 0, tf_lrn: bool = True):
  """Lucent's ``InceptionV1(pretrained=False)`` in eval mode with every weight and bias set to random values.

  Weights are He-normal (std ``sqrt(2 / fan_in)``; ``conv2d0`` divided by 73.6, the std of a uniform input in
  [-117, 138]) so activations stay O(1) through the network; biases are N(0, 0.2^2), so a misplaced bias is visible.
  """
  import torch
  model = load_class(tf_lrn)(pretrained=False, redirected_ReLU=False).eval()
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith(".bias"):
        p.copy_(0.2 * torch.randn(p.shape, generator=g))
      else:
        std = (2.0 / np.prod(p.shape[1:])) ** 0.5
        if name.startswith("conv2d0"):
          std /= 255 / 12 ** 0.5
        p.copy_(std * torch.randn(p.shape, generator=g))
  return model


def exposed_tensors(model, images: np.ndarray) -> dict[str, np.ndarray]:
  """Every tensor Lucent exposes (the output of each named module, as its forward hooks see it).

  Args:
    model: a Lucent InceptionV1 from :func:`build`.
    images: float32 ``[N, H, W, 3]`` in [0, 1] (mapped to [-117, 138] as Lucent's ``preprocess_inceptionv1`` does).

  Returns:
    ``{module name: float32 array}``: 4-D outputs as NHWC, the dense and softmax outputs as ``[N, 1008]``. Where
    ``mixed5b`` is not 7x7 the head is undefined (Lucent's 7x7 average pool raises below 7x7 and folds the extra
    positions into the batch above it): only the trunk tensors are returned.
  """
  import torch
  out: dict[str, np.ndarray] = {}
  hooks = []
  for name, mod in model.named_modules():
    if name and not list(mod.children()):
      def hook(_, __, y, name=name):
        y = y.detach().numpy()
        out[name] = y.transpose(0, 2, 3, 1) if y.ndim == 4 else y
      hooks.append(mod.register_forward_hook(hook))
  try:
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32)) * 255 - 117
    with torch.no_grad():
      try:
        model(x)
      except RuntimeError:
        if "mixed5b" not in out or out["mixed5b"].shape[1:3] == (7, 7):
          raise  # a failure in the trunk is a real error
  finally:
    for h in hooks:
      h.remove()
  if out["mixed5b"].shape[1:3] != (7, 7):
    out = {k: v for k, v in out.items() if not k.startswith("softmax2")}
  return out
