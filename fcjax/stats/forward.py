"""The statistics pass's compute: one jitted forward to the requested layers, and where its batches are placed."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from fcjax import _devices, _readout

_FORWARDS: dict = {}  # (apply, layers, readout, dtype) -> jitted forward: the same configuration compiles once


def _forward(model, layers: tuple[str, ...], readout: Any, dtype) -> Callable:
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from fcjax import objectives  # noqa: PLC0415

  key = (model.apply, layers, _readout.name(readout), jnp.dtype(dtype).name)
  if key not in _FORWARDS:
    def forward(params, images):
      acts = model.apply(params, images, layers=layers, dtype=dtype)
      out = {}
      for name in layers:
        a = acts[name]
        out[name] = objectives.readout(a, np.arange(a.shape[-1]), _readout.mode_for(readout, a.ndim))
        out[name] = out[name].astype(jnp.float32)
      return out

    _FORWARDS[key] = jax.jit(forward)
  return _FORWARDS[key]


def _placement(devices: Any, batch_size: int):
  """``(put_params, put_images, n_devices)``: data parallel (fcjax._devices' policy) over the local devices, as
  many as divide ``batch_size`` (every batch is padded to ``batch_size``, so it splits evenly)."""
  devs = _devices.divisor_devices(_devices.resolve(devices, local=True), batch_size)
  mesh = _devices.mesh(devs)
  replicated, split = _devices.replicated(mesh), _devices.batched(mesh)
  return (lambda p: _devices.put_tree(p, replicated)), (lambda x: _devices.put(x, split)), len(devs)
