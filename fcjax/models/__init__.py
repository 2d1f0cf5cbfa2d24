"""Models: the interface (:class:`Model`) and the networks fcjax ships."""

from fcjax.models.base import Layer, Model, from_apply

__all__ = ["Layer", "Model", "from_apply", "get"]


def get(name: str) -> Model:
  """A shipped model by name: 'inceptionv1' (alias 'inception5h') or 'demo'."""
  from fcjax import errors
  key = name.lower().replace("-", "").replace("_", "")
  if key in ("inceptionv1", "inception5h", "googlenet"):
    from fcjax.models import inception_v1
    return inception_v1.MODEL
  if key == "demo":
    from fcjax import demo
    return demo.MODEL
  raise errors.FcjaxError(f"unknown model {name!r}; choose 'inceptionv1' or 'demo'")
