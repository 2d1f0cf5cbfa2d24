"""The triple page's 3-D view in a real headless browser (Debian chromium driven by Playwright): the page opens from
disk with no network and no console error (with a diverged direction and a non-finite natural point in its data), the
canvas is drawn, a mouse drag and a touch drag rotate it, and two views on one page turn independently. Also runs
scripts/triple_view_screenshot.py into pytest's tmp folder (and FCJAX_ARTEFACTS when set).

Skips (with the reason) when playwright or /usr/bin/chromium is missing. About 15 s on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import triple_case as case
from fcjax import _view3d, plot_triple

CHROMIUM = pathlib.Path("/usr/bin/chromium")
ROOT = pathlib.Path(__file__).resolve().parents[1]
# Non-white pixels of a canvas, and a digest of its pixels (to see that a drag redrew it).
INK = ("c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
       " for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++; return n; }")
PIXELS = "c => c.toDataURL()"


def _diverged():
  r = case.result()
  y, c = r.y.copy(), r.c.copy()
  y[0, 3], c[0, 3] = np.nan, np.nan
  cl = case.cloud()
  cl[0, 1] = np.nan
  return dataclasses.replace(r, y=y, c=c), cl


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
  if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)")
  out = tmp_path_factory.mktemp("view3d")
  r, cl = _diverged()
  plot_triple.write_triple_html(r, 0, case.summary(0), cl, out / "triple.html")
  pts = r.y[1, :, 0] / r.scales[1]
  two = _view3d.standalone_page("two views", [
      _view3d.view3d_html(pts, None, {}, labels=["a", "b", "c"], title="first"),
      _view3d.view3d_html(pts, None, {}, labels=["a", "b", "c"], title="second")])
  (out / "two.html").write_text(two)
  with sync_api.sync_playwright() as p:
    b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    yield b, out
    b.close()


def _open(browser, path: pathlib.Path, **context):
  ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, **context)
  page = ctx.new_page()
  log = {"requests": [], "errors": []}
  page.on("request", lambda r: log["requests"].append(r.url))
  page.on("pageerror", lambda e: log["errors"].append(str(e)))
  page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
  page.goto(path.as_uri())
  page.wait_for_selector(".fc3d canvas")
  return page, log


def _drag(page, canvas, dx: float, dy: float) -> None:
  box = canvas.bounding_box()
  x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
  page.mouse.move(x, y)
  page.mouse.down()
  page.mouse.move(x + dx, y + dy, steps=8)
  page.mouse.up()


def _redrawn(page, canvas, before: str, attr: str = "yaw") -> None:
  """Wait until the canvas has been drawn with another ``data-<attr>`` than ``before``."""
  page.wait_for_function(f"([c, v]) => c.dataset.{attr} !== v", arg=[canvas, before])


def test_page_loads_offline_without_errors_and_draws(browser):
  b, out = browser
  page, log = _open(b, out / "triple.html")
  assert [u for u in log["requests"] if not u.startswith(("file://", "data:"))] == []  # no network
  assert log["requests"][0] == (out / "triple.html").as_uri()
  assert log["errors"] == []
  canvas = page.query_selector("#fc3d-triple-0 canvas")
  assert canvas.evaluate(INK) > 2000  # axes, points, cloud, discs
  assert page.eval_on_selector_all("table.octants tr.only-triple", "rs => rs.map(r => r.dataset.octant)") == ["+-+"]
  notes = page.text_content("div.notes")
  assert "1 of 26 best-seed points not finite" in notes and "1 of 600 natural points not finite" in notes
  page.context.close()


def test_mouse_drag_rotates_and_double_click_resets(browser):
  b, out = browser
  page, log = _open(b, out / "triple.html")
  canvas = page.query_selector(".fc3d canvas")
  home, yaw = canvas.evaluate(PIXELS), canvas.get_attribute("data-yaw")
  _drag(page, canvas, 90, 40)
  _redrawn(page, canvas, yaw)
  turned = canvas.evaluate(PIXELS)
  assert turned != home and canvas.evaluate(INK) > 2000
  assert float(canvas.get_attribute("data-yaw")) == pytest.approx(float(yaw) + 0.9, abs=0.02)
  yaw = canvas.get_attribute("data-yaw")
  canvas.dblclick()
  _redrawn(page, canvas, yaw)
  assert canvas.evaluate(PIXELS) == home
  assert log["errors"] == []
  page.context.close()


def test_touch_drag_rotates(browser):
  b, out = browser
  page, log = _open(b, out / "triple.html", has_touch=True)
  canvas = page.query_selector(".fc3d canvas")
  before, yaw = canvas.evaluate(PIXELS), canvas.get_attribute("data-yaw")
  box = canvas.bounding_box()
  x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
  cdp = page.context.new_cdp_session(page)
  cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
  for k in range(1, 7):
    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + 10 * k, "y": y}]})
  cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
  _redrawn(page, canvas, yaw)
  assert canvas.evaluate(PIXELS) != before
  assert float(canvas.get_attribute("data-yaw")) > float(yaw) + 0.3
  assert log["errors"] == []
  page.context.close()


def test_two_views_on_one_page_turn_independently(browser):
  b, out = browser
  page, log = _open(b, out / "two.html")
  first, second = page.query_selector_all(".fc3d canvas")
  ids = page.eval_on_selector_all(".fc3d", "ds => ds.map(d => d.id)")
  assert len(set(ids)) == 2
  a0, b0 = first.evaluate(PIXELS), second.evaluate(PIXELS)
  assert a0 == b0  # the same points, the same home view
  yaw_a, yaw_b, pitch_b = first.get_attribute("data-yaw"), second.get_attribute("data-yaw"), \
      second.get_attribute("data-pitch")
  _drag(page, first, -70, 0)
  _redrawn(page, first, yaw_a)
  assert first.evaluate(PIXELS) != a0 and second.evaluate(PIXELS) == b0
  _drag(page, second, 0, 50)
  _redrawn(page, second, pitch_b, "pitch")
  assert second.get_attribute("data-pitch") != first.get_attribute("data-pitch")
  assert second.get_attribute("data-yaw") == yaw_b  # only the pitch of the second moved
  assert log["errors"] == []
  page.context.close()


def test_screenshot_script_writes_a_small_png(browser, tmp_path):
  shot = tmp_path / "triple_view.png"  # its own process: Playwright's sync API runs one at a time per thread
  subprocess.run([sys.executable, str(ROOT / "scripts" / "triple_view_screenshot.py"), "--out", str(shot)],
                 check=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
  assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < shot.stat().st_size < 200_000
  if os.environ.get("FCJAX_ARTEFACTS"):
    dest = pathlib.Path(os.environ["FCJAX_ARTEFACTS"])
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, dest / shot.name)
