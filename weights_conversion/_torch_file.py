"""Reading PyTorch ``.pth`` / ``.pt`` files without torch, safely: tensors in plain containers, nothing else.

Two formats of ``torch.save`` are read:

* **zip** (torch >= 1.6): an archive ``<name>/data.pkl`` (the pickle), ``<name>/data/<key>`` (the raw bytes of each
  storage) and ``<name>/byteorder`` (``little`` or ``big``; absent means little, as torch assumes).
* **legacy** (torch < 1.6, or ``_use_new_zipfile_serialization=False``; Lucent's ``inception5h.pth``, committed in
  April 2020 before torch 1.6 made zip the default, is most likely in it): five pickles in a row (a magic number, protocol version 1001, a system-info dict, the object, the sorted list
  of storage keys), then for each key an int64 element count and the storage's bytes, both little-endian.

The older tar format (torch < 0.1.10) is refused with a line saying how to re-save the file.

A pickle can run any code while it loads, so the pickle passes two independent gates and neither runs code from it:

1. Before unpickling, every opcode is listed with :func:`pickletools.genops` (a parser; it executes nothing), and the
   pickle is refused unless all of them are in :data:`_OPCODES`: constants, tuples, lists, dicts, the memo,
   ``GLOBAL`` / ``STACK_GLOBAL``, ``REDUCE``, ``BUILD`` and persistent ids. ``NEWOBJ``, ``INST``, ``OBJ``, the
   extension registry and out-of-band buffers are refused.
2. :class:`_Unpickler` (Python's own unpickler, with only those opcodes in its dispatch table) resolves a global only
   if it is one of the names a plain state_dict uses (:data:`_GLOBALS`, and ``torch.<Type>Storage`` for the types in
   :data:`_STORAGE_DTYPES`), and then to a stand-in defined here; no module is ever imported. ``REDUCE`` can therefore
   call only those stand-ins: the tensor-rebuild functions record (storage, offset, shape, strides) and
   ``OrderedDict`` builds an ordered dict. ``BUILD`` is admitted only where ``nn.Module.state_dict()`` uses it, to
   attach its ``_metadata`` record (module versions, not weights; dropped) to the ordered dict. Persistent ids must be
   storages.

After unpickling, each tensor becomes a numpy array built from its storage's bytes with its offset, shape and strides
(bounds-checked against the storage), in native byte order. Every array is a copy: tensors that shared a storage
become independent arrays with the same values. ``bfloat16`` storages become ``ml_dtypes.bfloat16`` arrays (the
bfloat16 dtype that jax uses), so values stay bit-identical to torch's.

Members whose declared size is absurd (over 2 GiB, or an uncompressed member larger than the file) are refused before
anything is read, as are truncated, corrupt or random files; each failure is one :class:`~fcjax.errors.WeightsError`
line. No installed library reads this format without torch (``torch.load(weights_only=True)`` does the same checks but
is torch itself), hence this module.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import pathlib
import pickle
import pickletools
import re
import struct
import tarfile
import zipfile
from typing import Any, BinaryIO

import ml_dtypes
import numpy as np

from fcjax import errors

MAX_MEMBER_BYTES = 2 << 30  # no member of a weights archive, and no tensor, may claim more than 2 GiB
MAX_TOTAL_BYTES = 4 << 30  # nor all tensors together more than 4 GiB
MAX_PICKLE_BYTES = 64 << 20  # a state_dict's pickle is kilobytes; 64 MiB is far beyond any real one
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_OPCODES = frozenset("""
    PROTO FRAME STOP MARK POP POP_MARK DUP
    NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING UNICODE SHORT_BINUNICODE BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES BINBYTES8
    EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST LIST APPEND APPENDS EMPTY_DICT DICT SETITEM SETITEMS
    PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
    GLOBAL STACK_GLOBAL REDUCE BUILD PERSID BINPERSID
""".split())

_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype(np.float64), "FloatStorage": np.dtype(np.float32), "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16), "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32), "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
}


class _Refused(Exception):
  """The file asks for something a plain state_dict never needs (it is refused, not executed)."""


class _Corrupt(Exception):
  """The file is damaged or not a PyTorch file."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
  """Stand-in for ``torch.<name>`` (e.g. ``FloatStorage``): only names a dtype; not callable."""
  name: str
  dtype: np.dtype


@dataclasses.dataclass(frozen=True)
class _Storage:
  """A persistent id: the storage ``key`` read as ``numel`` elements of ``dtype``."""
  key: str
  dtype: np.dtype
  numel: int


@dataclasses.dataclass(frozen=True)
class _Tensor:
  """A tensor waiting for its storage's bytes (strides in elements)."""
  storage: _Storage
  offset: int
  shape: tuple[int, ...]
  strides: tuple[int, ...]


def _ints(value: Any, what: str) -> tuple[int, ...]:  # sizes, strides, offsets
  if not isinstance(value, (tuple, list)) or len(value) > 64 or not all(
      isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
    raise _Refused(f"a tensor's {what} is {str(value)[:80]}, not a tuple of non-negative integers")
  return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
  """Stand-in for ``torch._utils._rebuild_tensor_v2`` (and ``_rebuild_tensor``, which has the first four args)."""
  del requires_grad, metadata  # autograd flag and Python attributes of tensor subclasses: not weights
  if not isinstance(storage, _Storage):
    raise _Refused(f"a tensor is rebuilt from a {type(storage).__name__}, not from a storage")
  if backward_hooks:
    raise _Refused("a tensor carries backward hooks")
  (offset,) = _ints((storage_offset,), "storage offset")
  shape, strides = _ints(size, "size"), _ints(stride, "stride")
  if len(shape) != len(strides):
    raise _Refused(f"a tensor has size {shape} but strides {strides}")
  return _Tensor(storage, offset, shape, strides)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  """Stand-in for ``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is read as its tensor."""
  del requires_grad
  if not isinstance(data, _Tensor) or backward_hooks:
    raise _Refused("an nn.Parameter that is not a plain tensor")
  return data


def _ordered_dict(*items):
  """Stand-in for ``collections.OrderedDict`` (called with no argument, or with a list of pairs)."""
  if len(items) > 1 or (items and not isinstance(items[0], (list, tuple, dict))):
    raise _Refused("OrderedDict is called with unexpected arguments")
  return collections.OrderedDict(*items)


_GLOBALS = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


def _load_build(self) -> None:
  """BUILD, admitted only as ``nn.Module.state_dict()`` uses it: an OrderedDict getting ``{'_metadata': dict}``."""
  state = self.stack.pop()
  inst = self.stack[-1]
  if type(inst) is not collections.OrderedDict or not isinstance(state, dict) or set(state) != {"_metadata"} or \
      not isinstance(state["_metadata"], dict):
    raise _Refused(f"its pickle uses BUILD on a {type(inst).__name__.strip('_')} (only a state_dict's _metadata "
                   f"record is admitted)")


_OPCODE_NAMES = {op.code.encode("latin-1")[0]: op.name for op in pickletools.opcodes}


class _Unpickler(pickle._Unpickler):  # noqa: SLF001 - the Python unpickler, so its opcode table can be restricted
  """Resolves only :data:`_GLOBALS` and storage types, to stand-ins; persistent ids must be tensor storages (with a
  sixth entry, a storage view that must be None, in the ``legacy`` format)."""

  dispatch = {code: fn for code, fn in pickle._Unpickler.dispatch.items()  # noqa: SLF001
              if _OPCODE_NAMES.get(code) in _OPCODES - {"BUILD"}}
  dispatch[pickle.BUILD[0]] = _load_build

  def __init__(self, file: BinaryIO, legacy: bool):
    super().__init__(file, encoding="ascii")
    self.legacy = legacy

  def find_class(self, module: str, name: str):
    if (module, name) in _GLOBALS:
      return _GLOBALS[(module, name)]
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name, _STORAGE_DTYPES[name])
    raise _Refused(f"its pickle refers to {module}.{name}, which a plain state_dict of tensors never needs")

  def persistent_load(self, pid):
    n = 6 if self.legacy else 5
    if not isinstance(pid, tuple) or len(pid) != n or pid[0] not in ("storage", b"storage"):
      raise _Refused(f"its pickle refers to a persistent object {str(pid)[:80]} that is not a tensor storage")
    _, stype, key, _location, numel, *view = pid
    if view and view[0] is not None:
      raise _Refused("it uses storage views (torch < 0.4); re-save it with a current torch")
    if not isinstance(stype, _StorageType):
      raise _Refused(f"a storage of type {str(stype)[:80]}")
    if not isinstance(key, str) or not re.fullmatch(r"[0-9A-Za-z_.]{1,64}", key):
      raise _Refused(f"a storage key {str(key)[:80]!r}")
    if not isinstance(numel, int) or numel < 0 or numel * stype.dtype.itemsize > MAX_MEMBER_BYTES:
      raise _Refused(f"storage {key} claims {numel} elements")
    return _Storage(key, stype.dtype, numel)


def _unpickle(data: bytes, legacy: bool = False) -> Any:
  """Gate 1 (every opcode listed and checked), then gate 2 (the restricted unpickler)."""
  try:
    for op, _, pos in pickletools.genops(data):
      if op.name not in _OPCODES:
        raise _Refused(f"its pickle uses the {op.name} opcode (byte {pos}), which builds arbitrary objects; a plain "
                       f"state_dict never needs it")
  except (ValueError, struct.error, UnicodeDecodeError) as e:
    raise _Corrupt(f"its pickle is malformed ({_first_line(e)})") from None
  return _Unpickler(io.BytesIO(data), legacy).load()


def _first_line(e: BaseException) -> str:
  msg = str(e).strip().splitlines()
  return f"{type(e).__name__}: {msg[0][:200]}" if msg else type(e).__name__


def _array(t: _Tensor, raw: bytes, little: bool) -> np.ndarray:
  """The tensor's values from its storage's bytes (a copy, native byte order)."""
  dtype, numel = t.storage.dtype, t.storage.numel
  if len(raw) < numel * dtype.itemsize:
    raise _Corrupt(f"storage {t.storage.key} holds {len(raw)} bytes, fewer than its {numel} elements of "
                   f"{dtype.name} need")
  if little or dtype.itemsize == 1:
    flat = np.frombuffer(raw, dtype, count=numel)
  else:  # big-endian file: swap each element's bytes, then reinterpret (works for bfloat16 too)
    flat = np.frombuffer(raw, np.dtype(f">u{dtype.itemsize}"), count=numel).astype(f"=u{dtype.itemsize}").view(dtype)
  count = math.prod(t.shape)
  if count * dtype.itemsize > MAX_MEMBER_BYTES:
    raise _Refused(f"a tensor of shape {t.shape} is over {MAX_MEMBER_BYTES >> 30} GiB")
  if count == 0:
    return np.zeros(t.shape, dtype)
  last = t.offset + sum((n - 1) * s for n, s in zip(t.shape, t.strides))
  if last >= numel:
    raise _Corrupt(f"a tensor (offset {t.offset}, size {t.shape}, strides {t.strides}) reaches element {last} of "
                   f"storage {t.storage.key}, which has {numel}")
  view = np.lib.stride_tricks.as_strided(flat[t.offset:], shape=t.shape,
                                         strides=[s * dtype.itemsize for s in t.strides], writeable=False)
  return view.copy()  # C order, owns its memory


def _materialize(obj: Any, fill, memo: dict | None = None) -> Any:
  """``obj`` with every pending tensor replaced by ``fill(tensor)``; containers keep their types. Objects the pickle
  shares are visited once (``memo``), so a pickle of nested shared lists cannot make the walk exponential."""
  memo = {} if memo is None else memo
  if id(obj) in memo:
    return memo[id(obj)][1]
  if isinstance(obj, _Tensor):
    out = fill(obj)
  elif isinstance(obj, dict):
    out = type(obj)((k, _materialize(v, fill, memo)) for k, v in obj.items())
  elif isinstance(obj, (list, tuple)):
    out = type(obj)(_materialize(v, fill, memo) for v in obj)
  elif isinstance(obj, (_Storage, _StorageType)) or callable(obj):
    raise _Refused(f"it holds a bare {type(obj).__name__.strip('_')} outside a tensor")
  else:
    return obj
  memo[id(obj)] = (obj, out)  # keeps obj alive so its id is not reused
  return out


def _filler(read_storage, little: bool):
  """``fill(tensor) -> array`` reading each storage once and capping the total size of the arrays."""
  cache: dict[str, bytes] = {}
  total = [0]

  def fill(t: _Tensor) -> np.ndarray:
    if t.storage.key not in cache:
      cache[t.storage.key] = read_storage(t.storage)
    a = _array(t, cache[t.storage.key], little)
    total[0] += a.nbytes
    if total[0] > MAX_TOTAL_BYTES:
      raise _Refused(f"its tensors add up to over {MAX_TOTAL_BYTES >> 30} GiB")
    return a

  return fill


def _read_zip(path: pathlib.Path, size: int) -> Any:
  try:
    zf = zipfile.ZipFile(path)
  except zipfile.BadZipFile:
    raise _Corrupt("it starts like a zip archive but has no readable end (a truncated or corrupt download)") from None
  with zf:
    infos = zf.infolist()
    for i in infos:
      stored = i.compress_type == zipfile.ZIP_STORED
      if i.file_size > MAX_MEMBER_BYTES or (stored and i.file_size > size) or (
          not stored and i.file_size > max(1 << 20, 1024 * i.compress_size)):
        raise _Refused(f"its member {i.filename[:100]} claims {i.file_size} bytes in a {size}-byte file (a zip bomb "
                       f"or a corrupt archive)")
    pkls = [i for i in infos if re.fullmatch(r"[^/]+/data\.pkl", i.filename)]
    if len(pkls) != 1:
      raise _Corrupt(f"it is a zip archive but holds {len(pkls)} '<name>/data.pkl' records, not one: not a file "
                     f"written by torch.save")
    if pkls[0].file_size > MAX_PICKLE_BYTES:
      raise _Refused(f"its data.pkl claims {pkls[0].file_size} bytes, far more than a state_dict needs")
    prefix = pkls[0].filename[:-len("data.pkl")]
    little = True
    if f"{prefix}byteorder" in zf.namelist():
      order = zf.read(f"{prefix}byteorder")
      if order not in (b"little", b"big"):
        raise _Corrupt(f"its byteorder record is {order[:20]!r}, not 'little' or 'big'")
      little = order == b"little"
    obj = _unpickle(zf.read(pkls[0]))

    def read_storage(s: _Storage) -> bytes:
      name = f"{prefix}data/{s.key}"
      try:
        return zf.read(name)
      except KeyError:
        raise _Corrupt(f"its pickle refers to storage {name}, which the archive does not hold") from None

    return _materialize(obj, _filler(read_storage, little))


def _read_pickle_at(f: BinaryIO, legacy: bool = False) -> Any:
  """The next pickle of a legacy stream (its bytes found by listing its opcodes, then unpickled on their own)."""
  start = f.tell()
  try:
    for _ in pickletools.genops(f):
      if f.tell() - start > MAX_PICKLE_BYTES:
        raise _Refused(f"a pickle in it is over {MAX_PICKLE_BYTES >> 20} MiB, far more than a state_dict needs")
  except (ValueError, struct.error, UnicodeDecodeError) as e:
    raise _Corrupt(f"its pickle is malformed or truncated ({_first_line(e)})") from None
  end = f.tell()
  f.seek(start)
  return _unpickle(f.read(end - start), legacy)


def _read_legacy(f: BinaryIO, size: int) -> Any:
  if _read_pickle_at(f) != LEGACY_MAGIC:
    raise _Corrupt("it is a pickle but not a torch.save file (no PyTorch magic number)")
  if _read_pickle_at(f) != LEGACY_PROTOCOL:
    raise _Corrupt(f"it is a torch.save file of an unknown protocol (expected {LEGACY_PROTOCOL})")
  if not isinstance(_read_pickle_at(f), dict):
    raise _Corrupt("its system-info record is not a dict")
  refs: dict[str, _Storage] = {}

  def note(t: _Tensor) -> _Tensor:
    old = refs.setdefault(t.storage.key, t.storage)
    if old != t.storage:
      raise _Refused(f"storage {t.storage.key} is referred to with two types or sizes")
    return t

  obj = _materialize(_read_pickle_at(f, legacy=True), note)
  keys = _read_pickle_at(f)
  if not isinstance(keys, list) or set(keys) != set(refs) or len(keys) != len(refs):
    raise _Corrupt("its list of storages does not match the storages its pickle refers to")
  data = {}
  for key in keys:
    s = refs[key]
    head = f.read(8)
    if len(head) < 8:
      raise _Corrupt(f"it ends before storage {key} (a truncated download)")
    (numel,) = struct.unpack("<q", head)
    need = numel * s.dtype.itemsize
    if numel != s.numel or need > size - f.tell():
      raise _Corrupt(f"storage {key} claims {numel} elements ({need} bytes); its pickle says {s.numel} and "
                     f"{size - f.tell()} bytes are left in the file (a truncated or corrupt file)")
    data[key] = f.read(need)
  return _materialize(obj, _filler(lambda s: data[s.key], little=True))


def load(path: str | os.PathLike) -> Any:
  """The object saved in a ``.pth`` file, with every tensor as a numpy array (see the module docstring).

  Raises:
    WeightsError: the file is missing, empty, truncated, corrupt, not a PyTorch file, in the pre-2017 tar format, or
      asks for anything but tensors in dicts, lists and tuples (such a pickle is refused, never executed).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.WeightsError(f"weights file {path} does not exist")
  size = path.stat().st_size
  try:
    with open(path, "rb") as f:
      head = f.read(4)
      f.seek(0)
      if not head:
        raise _Corrupt("it is empty")
      if head == b"PK\x03\x04":
        return _read_zip(path, size)
      if head[:1] == b"\x80":
        return _read_legacy(f, size)
      if tarfile.is_tarfile(path):
        raise _Corrupt("it is in the tar format of torch < 0.1.10, which is not read; re-save it with a current "
                       "torch: torch.save(torch.load(f), g)")
      raise _Corrupt("it is neither a zip archive nor a legacy torch.save stream")
  except _Refused as e:
    raise errors.WeightsError(
        f"{path} was refused: {e}. Only tensors in dicts, lists and tuples are read, and loading never runs code "
        f"from the file") from None
  except _Corrupt as e:
    raise errors.WeightsError(f"{path} is not a readable PyTorch file: {e}") from None
  except errors.WeightsError:
    raise
  except Exception as e:  # noqa: BLE001 - zipfile / zlib / pickle failures of an untrusted file: one clear line
    raise errors.WeightsError(
        f"{path} is not a readable PyTorch file ({_first_line(e)}): it is corrupt or truncated; download it "
        f"again") from None
