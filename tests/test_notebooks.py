"""The notebooks of ``examples/`` run from a fresh kernel, and the outputs committed in them come from their code.

Each notebook is executed as ``scripts/notebooks.py`` executes it (a python3 kernel of this environment, in
``examples/``, outputs into a temporary folder; the third with its CPU / random-weights switch), under a time limit,
failing on any cell error. The re-executed notebook must have the committed one's structure: per code cell, the same
kinds of outputs in the same order (numbers and pictures may differ). About 3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Wall-clock limit of each notebook's run, seconds. Measured on a 2-core CPU that two other engineers' jobs kept busy
# (load average 4-10): 122-177, 27-39 and 73-128 s, the highest inside the full suite (-n 2); less on an idle one.
LIMIT_S = {"01_quickstart": 300, "02_your_own_network": 90, "03_paper_figure_inceptionv1": 240}
MAX_BYTES = 400_000  # per notebook, outputs included (figures are downscaled: the repository stays lean)


def _script():
  spec = importlib.util.spec_from_file_location("notebooks", ROOT / "scripts" / "notebooks.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


NB = _script()


def _committed(name: str):
  nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbformat")
  return nbformat.read(NB.path_of(name), as_version=4)


@pytest.mark.parametrize("name", NB.NOTEBOOKS)
def test_notebook_runs_and_gives_its_committed_outputs(name, tmp_path, request):
  pytest.importorskip("nbclient", reason="the test extra installs nbclient and ipykernel")
  extra = {}
  if name == "03_paper_figure_inceptionv1":  # its smoke run reads the shared photos (skips without them)
    extra["FCJAX_IMAGES"] = str(request.getfixturevalue("sample_images_dir"))
  before = sorted(NB.EXAMPLES.rglob("*"))
  nb, seconds = NB.execute(name, tmp_path, timeout=LIMIT_S[name], extra_env=extra)
  print(f"{name}: {seconds:.0f} s")
  assert seconds < LIMIT_S[name]
  assert NB.structure(nb) == NB.structure(_committed(name)), (
      f"{name}: the committed outputs are not what its code gives now; run python scripts/notebooks.py {name}")
  made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
  wanted = {"01_quickstart": "atlas/index.html", "03_paper_figure_inceptionv1": "inceptionv1_fig2.png"}.get(name)
  assert wanted is None or wanted in made
  assert sorted(NB.EXAMPLES.rglob("*")) == before, "the notebook wrote into examples/"


@pytest.mark.parametrize("name", NB.NOTEBOOKS)
def test_committed_notebook_ran_top_to_bottom_with_figures(name):
  """Committed as one run in order (execution counts 1..n), without errors, with its figures, small enough."""
  nb = _committed(name)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
  outputs = [o for c in code for o in c.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  assert any(m.startswith("image/") for o in outputs for m in o.get("data", {}))
  first = nb.cells[0]
  assert first.cell_type == "markdown" and "**Runs on**" in first.source and "**Takes**" in first.source
  assert NB.path_of(name).stat().st_size < MAX_BYTES


def test_readme_links_the_notebooks():
  text = (ROOT / "README.md").read_text()
  section = text[text.index("## Notebooks"):]
  section = section[:section.index("\n## ")]
  links = re.findall(r"\]\((examples/[^)]+\.ipynb)\)", section)
  assert links == [f"examples/{n}.ipynb" for n in NB.NOTEBOOKS]
  assert all((ROOT / link).is_file() for link in links)
