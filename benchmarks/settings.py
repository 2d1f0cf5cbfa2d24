"""What a benchmark run measures: :class:`Settings` and its presets (tiny, quick, full, gpu)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Settings:
  """What one benchmark run measures. Presets: :data:`PRESETS`."""

  name: str
  layer: str = "mixed4a_pre_relu"       # the paper's deepest layer
  pair: tuple[int, int] = (10, 250)      # one unit of the 1x1 branch, one of the 3x3 branch of mixed4a
  # sweep (identical work on both sides)
  canvas_size: int = 128                 # Lucid/Lucent: a 128 px image upsampled to the 224 px input
  input_size: int = 224
  n_angles: int = 2
  n_seeds: int = 1
  steps: int = 4
  lucent_truncated_sweep: bool = False   # also Lucent batched with its forward cut after the layer by a hook
  sweep_rounds: int = 1                  # every variant once per round; the best round is reported
  fcjax_repeat: bool = False             # time a second (cached) fcjax run instead of first run minus compile
  dtypes: tuple[str, ...] = ("float32",)
  # Lucent on an accelerator: fewer steps / images, extrapolated per image-step (None: the same work as fcjax)
  lucent_single: tuple[int, int, int] | None = None   # (n_angles, n_seeds, steps) one at a time
  lucent_batched: tuple[int, int, int] | None = None  # (n_angles, n_seeds, steps) batched
  # forward + gradient: (layer, size, batch) rows
  fwd_grad: tuple[tuple[str, int, int], ...] = (("mixed4a_pre_relu", 224, 1), ("conv2d2_pre_relu", 224, 4))
  repeats: int = 3
  # efficiency
  cost_batch: int = 2
  compiled_cost: bool = False            # cost analysis of the compiled step (else of the lowered HLO: no compile)
  profile: bool = False
  matmul_n: int = 1024
  stats: bool = True
  quick_stats: bool = True
  correctness_size: int = 224


PRESETS: dict[str, Settings] = {
    # the test suite's smoke run: every code path, tiny work
    "tiny": Settings(name="tiny", layer="conv2d0_pre_relu", pair=(3, 7), canvas_size=32, input_size=32,
                     n_angles=1, n_seeds=1, steps=2, fwd_grad=(("conv2d0_pre_relu", 32, 1),), repeats=1,
                     cost_batch=1, matmul_n=128, stats=False, correctness_size=32),
    "quick": Settings(name="quick"),
    "full": Settings(name="full", n_angles=4, n_seeds=1, steps=16, lucent_truncated_sweep=True, fcjax_repeat=True,
                     sweep_rounds=2,
                     fwd_grad=(("mixed4a_pre_relu", 128, 1), ("mixed4a_pre_relu", 224, 1),
                               ("mixed4a_pre_relu", 224, 8), ("conv2d2_pre_relu", 224, 8)),
                     repeats=5, cost_batch=4, compiled_cost=True, profile=True, matmul_n=2048, quick_stats=False),
    # item 5: the paper's sweep of one pair on an accelerator
    "gpu": Settings(name="gpu", canvas_size=224, input_size=224, n_angles=60, n_seeds=5, steps=512,
                    fcjax_repeat=True, dtypes=("float32", "bfloat16"), lucent_single=(1, 2, 32),
                    lucent_batched=(60, 5, 8),
                    fwd_grad=(("mixed4a_pre_relu", 224, 1), ("mixed4a_pre_relu", 224, 32),
                              ("mixed4a_pre_relu", 224, 128)),
                    repeats=5, cost_batch=8, compiled_cost=True, profile=True, matmul_n=8192),
}
