"""How the sweep's flat batch of N images is laid out: equal chunks of ``chunk_size`` images (a multiple of the device
count), the last one padded with copies of the last image, each chunk sharded over the 'batch' mesh
(:mod:`fcjax._devices`). Any chunk size works with one compiled program; the padding is discarded on the way back.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from fcjax import _devices


class _Layout:
  """How the flat batch of N images is split into equal chunks over the device mesh."""

  def __init__(self, n: int, chunk_size: int | None, mesh: jax.sharding.Mesh, fixed: bool = False):
    """``fixed``: every chunk has ``chunk_size`` rows even when N is smaller (one compiled shape for any N)."""
    d = mesh.size
    chunk = n if chunk_size is None else (chunk_size if fixed else min(chunk_size, n))
    self.chunk = -(-chunk // d) * d  # a multiple of the device count
    self.n = n
    self.n_chunks = -(-n // self.chunk)
    self.padded = self.n_chunks * self.chunk
    self.batch = _devices.batched(mesh)
    self.replicated = _devices.replicated(mesh)

  def split(self, tree):
    """Host pytree with N rows -> list of sharded device pytrees, one per chunk (padding: copies of the last row)."""
    padded = jax.tree.map(lambda x: _pad_rows(np.asarray(x), self.padded), tree)
    return [jax.tree.map(lambda x: _devices.put(x[k * self.chunk:(k + 1) * self.chunk], self.batch), padded)
            for k in range(self.n_chunks)]

  def join(self, chunks) -> Any:
    """List of device pytrees (one per chunk) -> host pytree with the N real rows."""
    return jax.tree.map(lambda *xs: np.concatenate([_devices.to_host(x) for x in xs])[:self.n], *chunks)


def _pad_rows(x: np.ndarray, n: int) -> np.ndarray:
  if len(x) == n:
    return x
  return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])
