"""Models: the interface (:class:`Model`), the networks fcjax ships, and adapters for your own Flax network.

Shipped: :mod:`fcjax.models.inception_v1` (``InceptionV1``, an NNX module) and :mod:`fcjax.models.demo_cnn`
(``DemoCNN``, the demo model of ``fcjax.demo``). :func:`from_flax` wraps any Flax NNX module, or a Linen module with
its variables, as a :class:`Model` that statistics, sweeps, plots and the CLI accept; :func:`from_apply` wraps a
plain function.
"""

from fcjax.models.base import Defaults, Layer, Model, from_apply

__all__ = ["Defaults", "Layer", "Model", "from_apply", "from_flax", "get", "register"]

_REGISTERED: dict[str, Model] = {}


def register(model: Model) -> Model:
  """Make ``model`` available by name to :func:`get` (and so to the CLI's ``--model``); returns it."""
  _REGISTERED[_key(model.name)] = model
  return model


def _key(name: str) -> str:
  return name.lower().replace("-", "").replace("_", "")


def get(name: str) -> Model:
  """A model by name: 'inceptionv1' (alias 'inception5h'), 'demo', or one passed to :func:`register`."""
  from fcjax import errors
  key = _key(name)
  if key in ("inceptionv1", "inception5h", "googlenet"):
    from fcjax.models import inception_v1
    return inception_v1.MODEL
  if key == "demo":
    from fcjax.models import demo_cnn
    return demo_cnn.MODEL
  if key in _REGISTERED:
    return _REGISTERED[key]
  extra = "".join(f", {m.name!r}" for m in _REGISTERED.values())
  raise errors.FcjaxError(f"unknown model {name!r}; choose 'inceptionv1' or 'demo'{extra}")


def __getattr__(name: str):
  if name == "from_flax":  # lazy: importing the models package does not import Flax
    from fcjax.models.flax_adapter import from_flax
    return from_flax
  raise AttributeError(f"module 'fcjax.models' has no attribute {name!r}")
