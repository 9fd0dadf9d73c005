"""The app in a real headless Chromium, with every request not to localhost blocked.

Starts ``streamlit run streamlit_app.py`` on a free port, waits for the map, checks that its
frame has real height with facility markers and the legend, clicks on the map to propose a
site and waits for the headline coverage to change, and saves screenshots
(``tests/artifacts/app.png``; with ``PLANNER_UPDATE_DOCS_IMG=1`` also ``docs/img/`` for the walkthrough).
The helpers are shared with ``benchmarks/bench_app.py``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PLANNER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = REPO / "tests" / "artifacts"
DOCS_IMG = REPO / "docs" / "img"
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(*, port: int | None = None, timeout_s: float = 60.0, env: dict | None = None, script: Path | None = None):
    """Run the app (or another page) with ``streamlit run`` on localhost; yields ``(url, process)``; always terminated."""
    port = port or free_port()
    data = tempfile.mkdtemp(prefix="planner-app-")
    full_env = {**os.environ, "PLANNER_DATA": data, "PLANNER_CACHE": str(Path(data) / "cache"), **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(script or REPO / "streamlit_app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    log = open(Path(data) / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + (Path(data) / "server.log").read_text(errors="replace"))
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def block_non_local(page, blocked: list[str]) -> None:
    """Abort every request that is not to localhost (``data:``/``blob:`` never reach the router)."""

    def handle(route):
        u = urlparse(route.request.url)
        if u.scheme in ("data", "blob", "about") or (u.hostname or "") in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", handle)


@contextmanager
def browser_page(width: int = 1500, height: int = 1100):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def wait_for_map(page, *, timeout_s: float = 90.0):
    """Wait until the map frame shows Leaflet with facility markers; returns the frame locator."""
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator(".leaflet-container").wait_for(state="visible", timeout=timeout_s * 1000)
    frame.locator(".pm-icon").first.wait_for(state="attached", timeout=timeout_s * 1000)
    return frame


def headline_text(page) -> str:
    return page.locator('[data-testid="stMetricValue"]').first.inner_text().strip()


def wait_idle(page, *, quiet_s: float = 1.0, timeout_s: float = 30.0) -> None:
    """Wait until the app has not been running a script for ``quiet_s`` (Streamlit's status widget)."""
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)


def click_map_and_wait(page, *, dx: float = 0.0, dy: float = 0.0, timeout_s: float = 60.0) -> tuple[str, str, float]:
    """Click on the map (offset from its centre, in pixels); wait for the headline to change.

    Returns ``(before, after, seconds)``.
    """
    wait_idle(page)  # a click sent while a rerun is under way can be dropped by the component
    before = headline_text(page)
    box = None
    deadline = time.monotonic() + 30
    while box is None and time.monotonic() < deadline:  # the frame may be between two maps
        box = page.locator(MAP_FRAME).first.bounding_box()
        if box is None or box["height"] < 100:
            box = None
            time.sleep(0.1)
    assert box is not None, "the map frame did not come back"
    t0 = time.perf_counter()
    page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
    deadline = time.monotonic() + timeout_s
    clicked_again = False
    while time.monotonic() < deadline:
        try:
            now = headline_text(page)
        except Exception:  # the element is being replaced during the rerun
            now = before
        if now != before and now.endswith("%"):
            return before, now, time.perf_counter() - t0
        if not clicked_again and time.monotonic() > deadline - timeout_s / 2:
            # a click the map frame received while it was being replaced is lost (the user clicks again)
            clicked_again = True
            wait_idle(page)
            box = page.locator(MAP_FRAME).first.bounding_box() or box
            page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
        time.sleep(0.05)
    raise AssertionError(f"headline stayed at {before} for {timeout_s} s after the click")


def map_zoom(page) -> int | None:
    """The Leaflet zoom of the (newest) main map frame."""
    for f in reversed(page.frames):
        if "streamlit_folium" not in (f.url or ""):
            continue
        try:
            z = f.evaluate("() => window.map ? window.map.getZoom() : null")
        except Exception:  # the frame is being replaced
            continue
        if z is not None:
            return int(z)
    return None


def _have_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python package) not installed"
    return None


@pytest.mark.browser
@pytest.mark.slow
def test_app_in_a_real_browser_offline():
    why = _have_browser()
    if why:
        pytest.skip(why)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    with app_server() as (url, _proc), browser_page() as page:
        block_non_local(page, blocked)
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)[:300]))
        page.goto(url)
        wait_for_map(page)
        wait_idle(page)  # the first runs settle (the map reports its view once) before the frame is read
        frame = wait_for_map(page)
        box = page.locator(MAP_FRAME).first.bounding_box()
        assert box is not None and box["height"] > 300, box
        # facility markers, and one legend with its heading (read again if the frame was swapped meanwhile)
        deadline, drawn = time.monotonic() + 20, False
        while not drawn and time.monotonic() < deadline:
            try:
                drawn = (frame.locator(".pm-icon").count() > 0 and frame.locator(".pm-legend").count() == 1
                         and frame.locator(".pm-legend .pm-lg-head").count() == 1)
            except Exception:  # the frame is being replaced
                drawn = False
            if not drawn:
                page.wait_for_timeout(200)
                frame = wait_for_map(page)
        assert drawn, "no facility markers, or not one legend with a heading"
        page.wait_for_timeout(500)
        assert headline_text(page).endswith("%")
        page.screenshot(path=str(ARTIFACTS / "app_open.png"), full_page=False)

        before, after, secs = click_map_and_wait(page, dx=40, dy=-30)
        assert before != after
        frame = wait_for_map(page)
        frame.locator(".pm-prop").first.wait_for(state="attached", timeout=60_000)  # the proposed site is drawn
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=False)

        # the planner's view survives a redraw: zoom in, click, the zoom level stays
        z0 = map_zoom(page)
        for step in (1, 2):  # each zoom step reports the view (a rerun that redraws nothing)
            for _attempt in range(3):  # a click that lands while the page reruns can be lost: click again
                wait_idle(page)
                if map_zoom(page) == z0 + step:
                    break
                page.frame_locator(MAP_FRAME).first.locator(".leaflet-control-zoom-in").click()
                deadline = time.monotonic() + 10
                while map_zoom(page) != z0 + step and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
            page.wait_for_timeout(1200)
        zoomed = None
        deadline = time.monotonic() + 20
        while zoomed is None and time.monotonic() < deadline:
            zoomed = map_zoom(page)
            page.wait_for_timeout(200)
        assert zoomed == z0 + 2, (z0, zoomed)
        page.wait_for_timeout(1500)  # the view goes back to the app (debounced), which reruns without redrawing
        click_map_and_wait(page, dx=-60, dy=40)
        frame = wait_for_map(page)
        # the map with the new site is a new map: wait until it has loaded, then read its zoom
        deadline = time.monotonic() + 30
        while map_zoom(page) is None and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        page.wait_for_timeout(1000)
        zoom_after = None
        while zoom_after is None and time.monotonic() < deadline + 10:
            zoom_after = map_zoom(page)
            page.wait_for_timeout(200)
        assert zoom_after == z0 + 2, (z0, zoom_after)

        # a rerun that changes the map (isochrones off) draws a new, visible map, not an empty frame
        page.get_by_text("显示等时圈").click()
        page.wait_for_timeout(1500)
        wait_idle(page)
        frame = wait_for_map(page)
        box, deadline = None, time.monotonic() + 30
        while box is None and time.monotonic() < deadline:  # the new frame replaces the old one
            box = page.locator(MAP_FRAME).first.bounding_box()
            if box is None:
                page.wait_for_timeout(200)
        assert box is not None and box["height"] > 300, box
        # compare: the difference map is drawn, taller than 300 px, with the newly covered cells
        page.get_by_role("tab", name="方案").click()
        diff = page.locator(".diff-map img").first
        diff.wait_for(state="visible", timeout=60_000)
        dbox = diff.bounding_box()
        assert dbox is not None and dbox["height"] > 300, dbox
        assert page.get_by_text("蓝色格网").count() > 0  # the newly covered cells, said under the map
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=False)
        assert not page_errors, page_errors[:3]
        if os.environ.get("PLANNER_UPDATE_DOCS_IMG"):  # refresh the walkthrough's screenshots on request only
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ARTIFACTS / "app.png", DOCS_IMG / "app.png")
            shutil.copyfile(ARTIFACTS / "app_open.png", DOCS_IMG / "app_open.png")
    # tiles were asked for only if a basemap was chosen; the default has none, so nothing left localhost
    assert not blocked, blocked[:5]


@pytest.mark.browser
def test_legend_folds_and_labels_hide_in_a_real_browser(tmp_path):
    """The legend's heading folds it and opens it again; it opens folded on a narrow map; the subdistrict
    labels are drawn, and hidden below their zoom when crowded."""
    why = _have_browser()
    if why:
        pytest.skip(why)
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from maps import style
    from maps.build import coverage_map, save_map
    from planner.config import default_types

    fac = pd.DataFrame({"id": ["F0"], "name": ["站0"], "type": ["health_centre"], "lon": [121.45], "lat": [31.205]})
    areas = gpd.GeoDataFrame({"name": [f"街道{i}" for i in range(16)], "coverage_share": [0.5] * 16},
                             geometry=[box(121.4 + 0.01 * (i % 8), 31.2 + 0.01 * (i // 8),
                                           121.409 + 0.01 * (i % 8), 31.209 + 0.01 * (i // 8)) for i in range(16)],
                             crs="EPSG:4326")
    path = save_map(coverage_map(facilities=fac, areas=areas, types=default_types(), lang="zh",
                                 view=((31.21, 121.44), style.AREA_LABEL_MIN_ZOOM + 1)), tmp_path / "map.html")
    with browser_page(width=1000, height=700) as page:
        page.goto(path.as_uri())
        legend = page.locator(".pm-legend")
        legend.wait_for(state="visible")
        assert "pm-folded" not in legend.get_attribute("class")  # wide map: open
        body = page.locator(".pm-lg-body")
        assert body.is_visible()
        page.locator(".pm-lg-head").click()
        assert "pm-folded" in legend.get_attribute("class") and not body.is_visible()
        assert page.locator(".pm-lg-head").get_attribute("aria-expanded") == "false"
        page.screenshot(path=str(tmp_path / "folded.png"))
        page.locator(".pm-lg-head").click()
        assert body.is_visible()
        # 16 areas: labels at zoom 13, none at zoom 11
        assert page.locator(".pm-area-label").count() == 16 and page.locator(".pm-area-label").first.is_visible()
        page.evaluate("() => { for (const k in window) { const v = window[k]; "
                      "if (v && v instanceof L.Map) { v.setZoom(11, {animate: false}); } } }")
        page.wait_for_timeout(300)
        assert not page.locator(".pm-area-label").first.is_visible()
    with browser_page(width=600, height=600) as page:  # a narrow map opens with the legend folded
        page.goto(path.as_uri())
        page.locator(".pm-legend").wait_for(state="visible")
        assert "pm-folded" in page.locator(".pm-legend").get_attribute("class")
        assert not page.locator(".pm-lg-body").is_visible()
