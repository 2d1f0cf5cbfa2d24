"""The device placement policy that :mod:`fcjax.sweep` and :mod:`fcjax.stats` share.

Work is data parallel over a 1-D :class:`jax.sharding.Mesh` whose axis is named 'batch': model parameters are
replicated, the batch axis is split. Arrays are placed with ``jax.make_array_from_callback`` (on one host and on
several: each process supplies the slices its devices hold) and fetched with :func:`to_host` (which gathers from
every process when an array is not fully addressable).

* :func:`resolve`: which devices (all of them, the local ones, the first n, or a given list).
* :func:`mesh`: the 1-D 'batch' mesh over them; :func:`replicated` / :func:`batched` its two shardings.
* :func:`divisor_devices`: the most of them whose count divides a batch size (a batch split evenly, no padding).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np

from fcjax import errors

AXIS = "batch"


def resolve(devices: Any = None, *, local: bool = False) -> list:
  """Devices to use: ``None`` (``jax.devices()``, or ``jax.local_devices()`` with ``local``), a count (the first
  that many, at least one) or a sequence of devices."""
  every = jax.local_devices() if local else jax.devices()
  if devices is None:
    out = list(every)
  elif isinstance(devices, int) and not isinstance(devices, bool):
    out = list(every[:max(1, devices)])
  else:
    out = list(devices)
  if not out:
    raise errors.FcjaxError("devices must name at least one device")
  return out


def divisor_devices(devices: Sequence[Any], batch_size: int) -> list:
  """The first d of ``devices`` for the largest d that divides ``batch_size``."""
  d = max(n for n in range(1, len(devices) + 1) if batch_size % n == 0)
  return list(devices[:d])


def mesh(devices: Sequence[Any]) -> jax.sharding.Mesh:
  """The 1-D mesh over ``devices`` with the axis 'batch'."""
  return jax.sharding.Mesh(np.array(list(devices)), (AXIS,))


def replicated(m: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec())


def batched(m: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec(AXIS))


def put(x: Any, sharding) -> jax.Array:
  """A host array as a global array with ``sharding`` (works on one host and on several)."""
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def put_key(key: jax.Array, sharding) -> jax.Array:
  """A PRNG key array placed with ``sharding`` from its raw data (``jax.device_put`` of a committed key cannot reach
  the devices of other processes)."""
  data = put(np.asarray(jax.random.key_data(key)), sharding)
  return jax.random.wrap_key_data(data, impl=jax.random.key_impl(key))


def put_tree(tree: Any, sharding) -> Any:
  """Every leaf of ``tree`` placed with ``sharding`` (device arrays are fetched to the host first)."""
  return jax.tree.map(lambda x: put(to_host(x) if isinstance(x, jax.Array) else x, sharding), tree)


def to_host(x: Any) -> np.ndarray:
  """A (possibly multi-process) array as one NumPy array on this host."""
  if getattr(x, "is_fully_addressable", True):
    return np.asarray(jax.device_get(x))
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))
