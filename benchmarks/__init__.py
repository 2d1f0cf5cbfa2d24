"""Benchmarks of fcjax against the PyTorch reference (Lucent), run side by side on the same work.

Entry point: ``python -m benchmarks.run [--quick] [--device cpu|gpu] [--out PATH]`` (see :mod:`benchmarks.run`).
"""
