"""The one definition of fcjax's version.

``fcjax.__version__`` re-exports it and ``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``). A bottom module
that imports nothing, so that a module recording the version (a checkpoint's metadata, a run's manifest) need not
import the package root ``fcjax``, which imports every public submodule on demand (``tests/test_layout.py``).
"""

__version__ = "0.1.0"
