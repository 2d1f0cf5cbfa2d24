"""Every number README.md and docs/README.md state about the demo figure comes from docs/demo_summary.json."""

from __future__ import annotations

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
  spec = importlib.util.spec_from_file_location("demo_docs", ROOT / "scripts" / "demo_docs.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def test_demo_text_is_generated_from_the_summary():
  assert _script().main(["--check"]) == 0, "run: python scripts/demo_docs.py"


def test_generated_text_states_each_panels_verdicts():
  mod = _script()
  summary = json.loads((ROOT / "docs" / "demo_summary.json").read_text())
  text = mod.details(summary)
  for key, s in summary.items():
    i, j = s["units"]
    assert f"units {i} & {j}" in text
    for q in mod.QUADRANTS:
      assert s[f"verdict_{q}"] in ("possible", "collapsed", "uncertain")
      assert f"{q} {s[f'verdict_{q}']}" in text


def _readme_setup_commands() -> list[str]:
  text = (ROOT / "README.md").read_text()
  section = text[text.index("## Set up: two commands"):]
  block = section[section.index("```bash\n") + 8:]
  return [l for l in block[:block.index("```")].splitlines() if l.strip()]


def test_ci_runs_exactly_the_readme_setup_commands():
  """The README's set-up is two commands, and .ci/run runs exactly those (in that order, nothing else after set-up)."""
  commands = _readme_setup_commands()
  assert len(commands) == 2
  assert "scripts/install.sh" in commands[0] and "fcjax figure --model demo" in commands[0]
  assert commands[1] == "python -m pytest -n 2 --dist loadfile tests"
  ci = [l for l in (ROOT / ".ci" / "run").read_text().splitlines()
        if l.strip() and not l.startswith(("#", "set ", "cd ", "export "))]
  assert ci == commands


def test_readme_flax_snippet_runs_as_written():
  """The README's from_flax example (a user's own NNX network through a real sweep) runs unchanged."""
  import re

  import numpy as np
  text = (ROOT / "README.md").read_text()
  blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "from_flax" in b]
  assert len(blocks) == 1
  scope: dict = {}
  exec(compile(blocks[0], "README.md", "exec"), scope)
  res = scope["result"]
  assert tuple(res.pairs[0]) == (0, 1) and np.isfinite(res.c).all()
