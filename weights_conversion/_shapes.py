"""InceptionV1's (inception5h's) parameter shapes, as the weight files name and lay them out (Lucid, Lucent).

``weights_conversion`` sits below ``fcjax.models`` (the model loads weights through it, never the other way round),
so it keeps its own table of the 57 convs and the dense head. ``tests/test_weights_conversion.py`` checks that
:func:`param_shapes` equals ``fcjax.models.inception_v1.param_shapes()`` exactly, names and order included.
"""

from __future__ import annotations

DENSE = "softmax2"
NUM_CLASSES = 1008

# The stem convs: name, kernel size, input channels, output channels.
STEM = (("conv2d0", 7, 3, 64), ("conv2d1", 1, 64, 64), ("conv2d2", 3, 64, 192))

# The inception blocks: name, input channels, 1x1, 3x3_bottleneck, 3x3, 5x5_bottleneck, 5x5, pool_reduce.
MIXED = (
    ("mixed3a", 192, 64, 96, 128, 16, 32, 32),
    ("mixed3b", 256, 128, 128, 192, 32, 96, 64),
    ("mixed4a", 480, 192, 96, 204, 16, 48, 64),
    ("mixed4b", 508, 160, 112, 224, 24, 64, 64),
    ("mixed4c", 512, 128, 128, 256, 24, 64, 64),
    ("mixed4d", 512, 112, 144, 288, 32, 64, 64),
    ("mixed4e", 528, 256, 160, 320, 32, 128, 128),
    ("mixed5a", 832, 256, 160, 320, 48, 128, 128),
    ("mixed5b", 832, 384, 192, 384, 48, 128, 128),
)


def _convs() -> list[tuple[str, int, int, int]]:
  """Every conv as (name, kernel size, input channels, output channels), in the network's order."""
  out = list(STEM)
  for name, cin, c1, c3r, c3, c5r, c5, cp in MIXED:
    out += [(f"{name}_1x1", 1, cin, c1), (f"{name}_3x3_bottleneck", 1, cin, c3r), (f"{name}_3x3", 3, c3r, c3),
            (f"{name}_5x5_bottleneck", 1, cin, c5r), (f"{name}_5x5", 5, c5r, c5), (f"{name}_pool_reduce", 1, cin, cp)]
  return out


def param_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
  """``{param name: {'w': shape, 'b': shape}}``: the 57 convs (HWIO) and the dense head ``softmax2`` ([1024, 1008])."""
  shapes = {name: {"w": (k, k, cin, cout), "b": (cout,)} for name, k, cin, cout in _convs()}
  shapes[DENSE] = {"w": (1024, NUM_CLASSES), "b": (NUM_CLASSES,)}
  return shapes
