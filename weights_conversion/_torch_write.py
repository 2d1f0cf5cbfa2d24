"""Writing a state_dict of numpy arrays as a PyTorch ``.pth`` file without torch (``torch.save``'s zip format).

The archive holds ``<name>/data.pkl``, ``<name>/byteorder`` (``little``), ``<name>/version`` and one raw storage
``<name>/data/<i>`` per array. The pickle (protocol 2) is written opcode by opcode, so it names exactly the globals
that ``torch.load(weights_only=True)`` and :mod:`weights_conversion._torch_file` admit: ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and ``torch.<Type>Storage``. ``tests/test_pth_reader.py`` checks that torch reads
these files bit-identically.
"""

from __future__ import annotations

import io
import os
import pathlib
import struct
import zipfile
from typing import Mapping

import numpy as np

from fcjax import errors
from weights_conversion._torch_file import _STORAGE_DTYPES

_STORAGE_NAMES = {dtype: name for name, dtype in _STORAGE_DTYPES.items()}
_ORDERED_DICT = b"ccollections\nOrderedDict\n)R"  # GLOBAL collections.OrderedDict, EMPTY_TUPLE, REDUCE: OrderedDict()


def _str(s: str) -> bytes:
  data = s.encode()
  return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(n: int) -> bytes:
  if 0 <= n < 1 << 31:
    return b"J" + struct.pack("<i", n)  # BININT
  data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
  return b"\x8a" + bytes([len(data)]) + data  # LONG1


def _tuple(values) -> bytes:
  return b"(" + b"".join(_int(v) for v in values) + b"t"  # MARK ... TUPLE


def _pickle(items: list[tuple[str, np.ndarray]]) -> bytes:
  out = [b"\x80\x02", _ORDERED_DICT, b"("]  # PROTO 2, the dict, MARK for SETITEMS
  for i, (key, a) in enumerate(items):
    stype = _STORAGE_NAMES[a.dtype.newbyteorder("=")].encode()
    storage = (b"(" + _str("storage") + b"ctorch\n" + stype + b"\n" + _str(str(i)) + _str("cpu") + _int(a.size)
               + b"tQ")  # the persistent id tuple, BINPERSID
    strides = [s // a.itemsize for s in a.strides]
    out += [_str(key), b"ctorch._utils\n_rebuild_tensor_v2\n(", storage, _int(0), _tuple(a.shape), _tuple(strides),
            b"\x89", _ORDERED_DICT, b"tR"]  # requires_grad False, no backward hooks; TUPLE, REDUCE
  out.append(b"u.")  # SETITEMS, STOP
  return b"".join(out)


def save(tensors: Mapping[str, np.ndarray], path: str | os.PathLike) -> pathlib.Path:
  """Write ``{name: array}`` as a ``.pth`` state_dict that ``torch.load`` reads (arrays keep their dtype).

  Raises:
    WeightsError: an array's dtype has no PyTorch storage type.
  """
  path = pathlib.Path(path)
  items = []
  for key, value in tensors.items():
    a = np.asarray(value)
    a = a if a.flags.c_contiguous else a.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    if a.dtype.newbyteorder("=") not in _STORAGE_NAMES:
      raise errors.WeightsError(f"{key}: dtype {a.dtype} has no PyTorch storage type")
    items.append((str(key), a.astype(a.dtype.newbyteorder("<"), copy=False)))
  name = path.stem or "archive"
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
    zf.writestr(f"{name}/data.pkl", _pickle(items))
    zf.writestr(f"{name}/byteorder", b"little")
    for i, (_, a) in enumerate(items):
      zf.writestr(f"{name}/data/{i}", a.tobytes())
    zf.writestr(f"{name}/version", b"3\n")
  path.write_bytes(buf.getvalue())
  return path
