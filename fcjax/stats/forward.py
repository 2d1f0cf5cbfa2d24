"""The statistics pass's compute: one jitted forward to the requested layers, and where its batches are placed."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from fcjax.stats.results import _readout_name

_FORWARDS: dict = {}  # (apply, layers, readout, dtype) -> jitted forward: the same configuration compiles once


def _forward(model, layers: tuple[str, ...], readout: Any, dtype) -> Callable:
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from fcjax import objectives  # noqa: PLC0415

  key = (model.apply, layers, _readout_name(readout), jnp.dtype(dtype).name)
  if key not in _FORWARDS:
    def forward(params, images):
      acts = model.apply(params, images, layers=layers, dtype=dtype)
      out = {}
      for name in layers:
        a = acts[name]
        mode = "vector" if a.ndim == 2 else readout
        out[name] = objectives.readout(a, np.arange(a.shape[-1]), mode).astype(jnp.float32)
      return out

    _FORWARDS[key] = jax.jit(forward)
  return _FORWARDS[key]


def _placement(devices: Any, batch_size: int):
  """``(put_params, put_images, n_devices)``: data parallel over the largest device count dividing batch_size."""
  import jax  # noqa: PLC0415
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: PLC0415

  if devices is None:
    devs = jax.local_devices()
  elif isinstance(devices, int):
    devs = jax.local_devices()[:max(1, devices)]
  else:
    devs = list(devices)
  d = max(n for n in range(1, len(devs) + 1) if batch_size % n == 0)
  devs = devs[:d]
  if d == 1:
    return (lambda p: jax.device_put(p, devs[0])), (lambda x: jax.device_put(x, devs[0])), 1
  mesh = Mesh(np.array(devs), ("batch",))
  replicated = NamedSharding(mesh, PartitionSpec())
  split = NamedSharding(mesh, PartitionSpec("batch"))
  return (lambda p: jax.device_put(p, replicated)), (lambda x: jax.device_put(x, split)), d

