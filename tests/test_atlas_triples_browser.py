"""The report of an atlas of triples in a real headless browser (Debian chromium driven by Playwright): it opens from
disk with no server, no network and no console error, its table holds every triple and sorts on a header click, and a
click on a triple shows its figure and its 3-D view (the triple's page in an iframe), whose canvas redraws on a mouse
drag. A screenshot is saved in FCJAX_ARTEFACTS when set, else under pytest's tmp folder.

Skips (with the reason) when playwright or /usr/bin/chromium is missing. About 15 s on 2 CPU cores (the atlas is
tests/atlas_case.py's, shared with tests/test_atlas_triples.py in one process).
"""

from __future__ import annotations

import os
import pathlib

import pytest

import atlas_case as case

CHROMIUM = pathlib.Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
  sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
  if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)")
  a, _ = case.triple_atlas()
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((a.out / "index.html").as_uri())
    page.wait_for_selector("#triples tbody tr")
    yield a, page, requests, errors
    browser.close()


def _column(page, col: str) -> list:
  idx = page.eval_on_selector_all("#triples thead th", f"ths => ths.findIndex(t => t.dataset.col === '{col}')")
  return page.eval_on_selector_all("#triples tbody tr", f"trs => trs.map(t => t.children[{idx}].textContent)")


def test_every_triple_listed_and_sortable(report):
  a, page, _, _ = report
  shown = page.eval_on_selector_all("#triples tbody tr", "trs => trs.map(t => t.dataset.triple)")
  assert sorted(shown) == sorted("-".join(map(str, t)) for t in case.TRIPLES)
  assert page.text_content("#count") == f"{len(case.TRIPLES)} of {len(case.TRIPLES)} triples"
  assert len(page.query_selector_all("#scatter circle")) == len(case.TRIPLES)
  page.click("#triples th[data-col='det']")
  dets = [float(v) for v in _column(page, "det")]
  assert dets == sorted(dets)
  page.click("#triples th[data-col='det']")
  assert [float(v) for v in _column(page, "det")] == sorted(dets, reverse=True)
  page.click("#triples th[data-col='rank']")
  assert [int(v) for v in _column(page, "rank")] == list(range(1, len(case.TRIPLES) + 1))
  page.fill("#filter", "40")
  shown = page.eval_on_selector_all("#triples tbody tr", "trs => trs.map(t => t.dataset.triple)")
  assert sorted(shown) == ["3-12-40", "7-12-40"]
  page.fill("#filter", "")


def test_click_shows_the_figure_and_a_3d_view_that_turns(report, tmp_path):
  a, page, requests, errors = report
  page.click("#triples tbody tr[data-triple='3-12-40']")
  page.wait_for_function("() => { const i = document.getElementById('triple-plot'); "
                         "return i && i.complete && i.naturalWidth > 0; }")
  assert page.get_attribute("#triple-plot", "src") == "triples/3_12_40.png"
  assert page.get_attribute("#triple-view", "src") == "triples/3_12_40.html"
  assert "triple (3, 12, 40)" in page.text_content("#shown-triple h2")
  canvas = page.frame_locator("#triple-view").locator("canvas")
  canvas.wait_for()
  before = canvas.evaluate("c => [c.toDataURL(), c.dataset.yaw]")
  box = canvas.bounding_box()
  x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
  page.mouse.move(x, y)
  page.mouse.down()
  page.mouse.move(x + 80, y + 30, steps=6)
  page.mouse.up()
  canvas.evaluate("(c, v) => new Promise(ok => { const t = () => c.dataset.yaw !== v ? ok() : "
                  "requestAnimationFrame(t); t(); })", before[1])  # redrawn (no fixed wait: busy CI cores)
  after = canvas.evaluate("c => [c.toDataURL(), c.dataset.yaw]")
  assert after[1] != before[1] and after[0] != before[0]
  shot = pathlib.Path(os.environ.get("FCJAX_ARTEFACTS") or tmp_path) / "atlas_triples_report.png"
  shot.parent.mkdir(parents=True, exist_ok=True)
  page.screenshot(path=str(shot), full_page=True)
  assert shot.stat().st_size > 10_000
  assert all(u.startswith("file://") for u in requests), requests  # no network
  assert errors == []
