"""Lucid's frozen TensorFlow GraphDef of InceptionV1 (``inception5h``: ``tensorflow_inception_graph.pb``) -> params.

The graph stores each conv's kernel and bias as ``Const`` nodes ``<conv>_w`` (HWIO, TensorFlow's layout, which fcjax
keeps) and ``<conv>_b``, and the classifier as ``softmax2_w`` ([1024, 1008]) and ``softmax2_b``. Constants of the two
auxiliary heads (``head0_*``, ``head1_*``, ``nn0_*``, ``nn1_*``, ``softmax0_*``, ``softmax1_*``) and shape constants
are ignored. Parsing uses TensorFlow's own GraphDef protobuf, so TensorFlow must be installed.
"""

from __future__ import annotations

import os
import pathlib
from typing import Mapping

import numpy as np

from fcjax import errors
from weights_conversion._shapes import param_shapes

FORMAT = "lucid-pb"


def const_names(param: str) -> tuple[str, str]:
  """The graph's constant names of an fcjax parameter group: (``<name>_w``, ``<name>_b``)."""
  return f"{param}_w", f"{param}_b"


def expected_shapes() -> dict[str, tuple[int, ...]]:
  """``{constant name: shape}`` that the conversion reads (116 constants)."""
  out = {}
  for name, s in param_shapes().items():
    kw, kb = const_names(name)
    out[kw], out[kb] = s["w"], s["b"]
  return out


def _tf():
  try:
    import tensorflow as tf
  except ImportError as e:
    raise errors.WeightsError(
        "reading a TensorFlow GraphDef (.pb) needs TensorFlow: pip install 'fcjax[tf]' (or convert Lucent's "
        "inception5h.pth instead, which needs nothing more)") from e
  return tf


def load_constants(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Every ``Const`` node of a frozen GraphDef as a numpy array (by node name).

  Raises:
    WeightsError: TensorFlow is missing, or the file is not a readable GraphDef.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.WeightsError(f"weights file {path} does not exist")
  tf = _tf()
  graph_def = tf.compat.v1.GraphDef()
  try:
    graph_def.ParseFromString(path.read_bytes())
  except Exception as e:  # noqa: BLE001 - a protobuf DecodeError is not a message for users
    raise errors.WeightsError(
        f"{path} is not a TensorFlow GraphDef (.pb): the protobuf does not parse ({type(e).__name__}); the file is "
        f"corrupt or of another format") from None
  if not graph_def.node:
    raise errors.WeightsError(f"{path} is not a TensorFlow GraphDef (.pb): it holds no graph nodes")
  out = {}
  for node in graph_def.node:
    if node.op == "Const" and "value" in node.attr:
      try:
        out[node.name] = tf.make_ndarray(node.attr["value"].tensor)
      except Exception as e:  # noqa: BLE001
        raise errors.WeightsError(f"{path}: constant {node.name} is unreadable ({type(e).__name__})") from None
  return out


def to_params(constants: Mapping[str, np.ndarray], source: str = "the graph") -> dict:
  """fcjax params from the graph's constants; raises WeightsError listing each missing constant or wrong shape."""
  expected = expected_shapes()
  problems = [f"missing constant {k} (expected shape {s})" for k, s in expected.items() if k not in constants]
  problems += [f"wrong shape for {k}: {tuple(np.shape(constants[k]))}, expected {s}"
               for k, s in expected.items() if k in constants and tuple(np.shape(constants[k])) != s]
  if problems:
    raise errors.WeightsError(
        f"{source} is not Lucid's InceptionV1 (inception5h) graph: {len(problems)} problem(s):\n  "
        + "\n  ".join(problems))
  params = {}
  for name in param_shapes():
    kw, kb = const_names(name)
    params[name] = {"w": np.asarray(constants[kw], np.float32), "b": np.asarray(constants[kb], np.float32)}
  return params


def read(path: str | os.PathLike) -> dict:
  """fcjax params from a Lucid / inception5h frozen GraphDef ``.pb`` file."""
  return to_params(load_constants(path), source=str(path))
