"""The atlas report in a real headless browser (Debian chromium driven by Playwright): the page opens from disk with
no server and no network, its table holds every pair, clicking a header sorts it, clicking a pair shows that pair's
combination plot. A screenshot is saved under pytest's tmp folder and, when FCJAX_ARTEFACTS is set, there too.

Skips (with the reason) when playwright or /usr/bin/chromium is missing. About 30 s on 2 CPU cores.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

import atlas_case as case

CHROMIUM = pathlib.Path("/usr/bin/chromium")
PAIRS = [(3, 7), (3, 12), (7, 40), (12, 40)]


@pytest.fixture(scope="module")
def page_of_atlas(tmp_path_factory):
  sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
  if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)")
  out = tmp_path_factory.mktemp("atlas_browser") / "atlas"
  a = case.build(out, pairs=PAIRS)
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "index.html").as_uri())
    page.wait_for_selector("#atlas-table tbody tr")
    yield a, page, requests, errors, out
    browser.close()


def _column(page, col: str) -> list:
  idx = page.eval_on_selector_all("#atlas-table thead th", f"ths => ths.findIndex(t => t.dataset.col === '{col}')")
  return page.eval_on_selector_all("#atlas-table tbody tr", f"trs => trs.map(t => t.children[{idx}].textContent)")


def test_table_holds_every_pair_and_nothing_is_fetched(page_of_atlas):
  a, page, requests, errors, _ = page_of_atlas
  shown = page.eval_on_selector_all("#atlas-table tbody tr", "trs => trs.map(t => t.dataset.pair)")
  assert sorted(shown) == sorted(f"{i}-{j}" for i, j in PAIRS)
  assert page.text_content("#count") == f"{len(PAIRS)} of {len(PAIRS)} pairs"
  assert all(u.startswith("file://") for u in requests), requests  # no network
  assert errors == []
  assert page.eval_on_selector("#matrix", "c => c.width") > 0
  assert len(page.query_selector_all("#scatter circle")) == len(PAIRS)


def test_clicking_a_header_sorts(page_of_atlas):
  _, page, _, _, _ = page_of_atlas
  page.click("#atlas-table th[data-col='unit_j']")
  col = [int(v) for v in _column(page, "unit_j")]
  assert col == sorted(col)
  page.click("#atlas-table th[data-col='unit_j']")
  col = [int(v) for v in _column(page, "unit_j")]
  assert col == sorted(col, reverse=True)
  page.click("#atlas-table th[data-col='rank']")
  assert [int(v) for v in _column(page, "rank")] == list(range(1, len(PAIRS) + 1))


def test_filter_keeps_matching_pairs(page_of_atlas):
  _, page, _, _, _ = page_of_atlas
  page.fill("#filter", "40")
  shown = page.eval_on_selector_all("#atlas-table tbody tr", "trs => trs.map(t => t.dataset.pair)")
  assert sorted(shown) == ["12-40", "7-40"]
  page.fill("#filter", "")


def test_clicking_a_pair_shows_its_plot(page_of_atlas, tmp_path):
  _, page, _, _, out = page_of_atlas
  page.click("#atlas-table tbody tr[data-pair='7-40']")
  page.wait_for_function("() => { const i = document.getElementById('pair-plot'); "
                         "return i && i.complete && i.naturalWidth > 0; }")
  src = page.get_attribute("#pair-plot", "src")
  assert src == "pairs/7_40.png" and (out / src).is_file()
  assert "pair (7, 40)" in page.text_content("#detail h2")
  assert page.eval_on_selector("#strip", "i => i.naturalWidth") > 0
  shot = tmp_path / "atlas_report.png"
  page.screenshot(path=str(shot), full_page=True)
  assert shot.stat().st_size > 10_000
  if os.environ.get("FCJAX_ARTEFACTS"):
    dest = pathlib.Path(os.environ["FCJAX_ARTEFACTS"])
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, dest / shot.name)
