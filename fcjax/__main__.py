"""``python -m fcjax ...``: the same as the ``fcjax`` command (:func:`fcjax.cli.main`)."""

from fcjax.cli import main

if __name__ == "__main__":
  raise SystemExit(main())
