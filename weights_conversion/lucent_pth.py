"""Lucent's PyTorch state_dict of InceptionV1 (``inception5h.pth``) <-> fcjax params.

Layout of the file (SPEC §1): 116 tensors, ``<conv>_pre_relu_conv.weight`` (OIHW) and ``.bias`` for each of the 57
convs, ``softmax2_pre_activation_matmul.weight`` ([1008, 1024], out x in) and ``.bias``. fcjax keeps TensorFlow's
layouts: conv kernels HWIO, the dense weight [in, out].

The file is untrusted input: it is read with ``torch.load(..., weights_only=True)``, which unpickles only tensors and
plain containers and refuses anything that would run code.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Mapping

import numpy as np

from fcjax import errors

DENSE = "softmax2"
DENSE_KEY = "softmax2_pre_activation_matmul"
FORMAT = "lucent-pth"


def module_name(param: str) -> str:
  """Lucent's module name of an fcjax parameter group (``conv2d0`` -> ``conv2d0_pre_relu_conv``)."""
  return DENSE_KEY if param == DENSE else f"{param}_pre_relu_conv"


def expected_shapes() -> dict[str, tuple[int, ...]]:
  """``{state_dict key: shape}`` of Lucent's InceptionV1 (116 keys)."""
  from fcjax.models.inception_v1 import param_shapes
  out = {}
  for name, s in param_shapes().items():
    w = s["w"]
    out[f"{module_name(name)}.weight"] = (w[1], w[0]) if name == DENSE else (w[3], w[2], w[0], w[1])
    out[f"{module_name(name)}.bias"] = s["b"]
  return out


def _describe(e: BaseException) -> str:
  msg = str(e).strip().splitlines()
  return f"{type(e).__name__}: {msg[0][:300]}" if msg else type(e).__name__


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The tensors of a ``.pth`` file as float32 numpy arrays, read safely (``weights_only=True``).

  Raises:
    WeightsError: torch is missing, or the file is unreadable, corrupt, not a state_dict, or holds objects other than
      tensors (a pickle that would run code is refused, never executed).
  """
  path = pathlib.Path(path)
  try:
    import torch
  except ImportError as e:
    raise errors.WeightsError(
        f"reading {path.name} (a PyTorch file) needs torch: pip install 'fcjax[torch]' (CPU wheel: "
        f"pip install torch --index-url https://download.pytorch.org/whl/cpu), or convert it on a machine that has "
        f"torch with `fcjax weights convert {path} DST`") from e
  if not path.is_file():
    raise errors.WeightsError(f"weights file {path} does not exist")
  try:
    with warnings.catch_warnings():  # torch warns about odd pickles; any failure is reported below instead
      warnings.simplefilter("ignore")
      obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # noqa: BLE001 - every failure of an untrusted file becomes one clear message
    raise errors.WeightsError(
        f"{path} is not a readable PyTorch state_dict ({_describe(e)}). It is corrupt, not a weights file, or holds "
        f"objects other than tensors (such files are refused: loading never runs code from the file)") from None
  if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
    obj = obj["state_dict"]  # a training checkpoint wrapping the state_dict
  if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
    raise errors.WeightsError(f"{path} holds a {type(obj).__name__}, not a state_dict of tensors")
  return {str(k): v.detach().to(torch.float32).cpu().numpy() for k, v in obj.items()}


def check(state_dict: Mapping[str, np.ndarray], source: str = "the state_dict") -> None:
  """Raise :class:`~fcjax.errors.WeightsError` listing every missing key, unexpected key and wrong shape."""
  expected = expected_shapes()
  problems = [f"missing key {k} (expected shape {s})" for k, s in expected.items() if k not in state_dict]
  problems += [f"unexpected key {k} (shape {tuple(np.shape(v))})" for k, v in state_dict.items() if k not in expected]
  problems += [f"wrong shape for {k}: {tuple(np.shape(v))}, expected {expected[k]}"
               for k, v in state_dict.items() if k in expected and tuple(np.shape(v)) != expected[k]]
  if problems:
    raise errors.WeightsError(
        f"{source} is not Lucent's InceptionV1 (inception5h) state_dict: {len(problems)} problem(s):\n  "
        + "\n  ".join(problems))


def to_params(state_dict: Mapping[str, np.ndarray], source: str = "the state_dict") -> dict:
  """fcjax params from a Lucent state_dict (checked first): OIHW -> HWIO, dense [out, in] -> [in, out]."""
  check(state_dict, source)
  from fcjax.models.inception_v1 import param_shapes
  params = {}
  for name in param_shapes():
    w = np.asarray(state_dict[f"{module_name(name)}.weight"], np.float32)
    w = w.T if name == DENSE else w.transpose(2, 3, 1, 0)
    params[name] = {"w": np.ascontiguousarray(w), "b": np.asarray(state_dict[f"{module_name(name)}.bias"],
                                                                   np.float32)}
  return params


def from_params(params: Mapping) -> dict[str, np.ndarray]:
  """The inverse of :func:`to_params`: a Lucent state_dict (numpy arrays) from fcjax params (for tests and for
  running Lucent on fcjax's weights)."""
  out = {}
  for name, p in params.items():
    w = np.asarray(p["w"], np.float32)
    out[f"{module_name(name)}.weight"] = np.ascontiguousarray(w.T if name == DENSE else w.transpose(3, 2, 0, 1))
    out[f"{module_name(name)}.bias"] = np.asarray(p["b"], np.float32)
  return out


def read(path: str | os.PathLike) -> dict:
  """fcjax params from a Lucent ``.pth`` file (safe loading, full structural check)."""
  return to_params(load_state_dict(path), source=str(path))


def save(params: Mapping, path: str | os.PathLike) -> pathlib.Path:
  """Write fcjax params as a Lucent ``.pth`` state_dict (needs torch)."""
  import torch
  path = pathlib.Path(path)
  torch.save({k: torch.from_numpy(v) for k, v in from_params(params).items()}, path)
  return path
