"""Lucent's PyTorch state_dict of InceptionV1 (``inception5h.pth``) <-> fcjax params.

Layout of the file (Lucent's): 116 tensors, ``<conv>_pre_relu_conv.weight`` (OIHW) and ``.bias`` for each of the 57
convs, ``softmax2_pre_activation_matmul.weight`` ([1008, 1024], out x in) and ``.bias``. fcjax keeps TensorFlow's
layouts: conv kernels HWIO, the dense weight [in, out].

The file is untrusted input, and reading it needs no torch: :mod:`weights_conversion._torch_file` reads both
``torch.save`` formats with a restricted unpickler that admits only tensors in plain containers and refuses anything
that would run code (never executing it); :func:`save` writes the zip format, also without torch.
"""

from __future__ import annotations

import os
import pathlib
from typing import Mapping

import numpy as np

from fcjax import errors
from weights_conversion import _torch_file, _torch_write
from weights_conversion._shapes import DENSE, param_shapes

DENSE_KEY = "softmax2_pre_activation_matmul"
FORMAT = "lucent-pth"


def module_name(param: str) -> str:
  """Lucent's module name of an fcjax parameter group (``conv2d0`` -> ``conv2d0_pre_relu_conv``)."""
  return DENSE_KEY if param == DENSE else f"{param}_pre_relu_conv"


def expected_shapes() -> dict[str, tuple[int, ...]]:
  """``{state_dict key: shape}`` of Lucent's InceptionV1 (116 keys)."""
  out = {}
  for name, s in param_shapes().items():
    w = s["w"]
    out[f"{module_name(name)}.weight"] = (w[1], w[0]) if name == DENSE else (w[3], w[2], w[0], w[1])
    out[f"{module_name(name)}.bias"] = s["b"]
  return out


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The tensors of a ``.pth`` file as float32 numpy arrays, read safely and without torch.

  Raises:
    WeightsError: the file is missing, unreadable, corrupt, not a state_dict, or holds objects other than tensors (a
      pickle that would run code is refused, never executed).
  """
  path = pathlib.Path(path)
  obj = _torch_file.load(path)
  if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
    obj = obj["state_dict"]  # a training checkpoint wrapping the state_dict
  if not isinstance(obj, Mapping) or not all(isinstance(v, np.ndarray) for v in obj.values()):
    raise errors.WeightsError(f"{path} holds a {type(obj).__name__}, not a state_dict of tensors")
  return {str(k): np.asarray(v, np.float32) for k, v in obj.items()}


def check(state_dict: Mapping[str, np.ndarray], source: str = "the state_dict") -> None:
  """Raise :class:`~fcjax.errors.WeightsError` listing every missing key, unexpected key and wrong shape."""
  expected = expected_shapes()
  problems = [f"missing key {k} (expected shape {s})" for k, s in expected.items() if k not in state_dict]
  problems += [f"unexpected key {k} (shape {tuple(np.shape(v))})" for k, v in state_dict.items() if k not in expected]
  problems += [f"wrong shape for {k}: {tuple(np.shape(v))}, expected {expected[k]}"
               for k, v in state_dict.items() if k in expected and tuple(np.shape(v)) != expected[k]]
  if problems:
    raise errors.WeightsError(
        f"{source} is not Lucent's InceptionV1 (inception5h) state_dict: {errors.problems_line(problems)}")


def to_params(state_dict: Mapping[str, np.ndarray], source: str = "the state_dict") -> dict:
  """fcjax params from a Lucent state_dict (checked first): OIHW -> HWIO, dense [out, in] -> [in, out]."""
  check(state_dict, source)
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
  """Write fcjax params as a Lucent ``.pth`` state_dict in ``torch.save``'s zip format (torch not needed; torch and
  Lucent read the file)."""
  return _torch_write.save(from_params(params), path)
