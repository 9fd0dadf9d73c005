"""The app in a real headless Chromium, with every request not to localhost blocked.

Starts ``streamlit run streamlit_app.py`` on a free port, waits for the map, checks that its
frame has real height with facility markers and the legend, clicks on the map to propose a
site and waits for the headline coverage to change, and saves screenshots
(``tests/artifacts/app.png``; with ``PLANNER_UPDATE_DOCS_IMG=1`` also ``docs/img/`` for the walkthrough).
A second test opens the app on a study of a real OSM extract from ``../shared/data/osm/`` (skipped when absent) and
checks the streets, the CLI's headline, the district in view, a click, an upload, a 100 % optimisation and compare
(``tests/artifacts/app_real_extract*.png``). The helpers are shared with ``benchmarks/bench_app.py``.
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
        try:  # a map below the fold (a short window) is scrolled to: a click off the viewport lands nowhere
            page.locator(MAP_FRAME).first.scroll_into_view_if_needed(timeout=5000)
        except Exception:  # the frame is being replaced
            pass
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


def map_frames(page) -> list:
    """The main map's frames, the one the clicks go to (the first map element) first, then the newest."""
    frames = []
    try:
        handle = page.locator(MAP_FRAME).first.element_handle(timeout=2000)
        f = handle.content_frame() if handle is not None else None
        if f is not None:
            frames.append(f)
    except Exception:  # the frame is being replaced
        pass
    return frames + [f for f in reversed(page.frames) if "streamlit_folium" in (f.url or "") and f not in frames]


def map_zoom(page) -> int | None:
    """The Leaflet zoom of the main map, read in the frame the clicks go to (the zoom steps of the demo test
    overshot, 13 to 17 or 19, on a loaded machine when it was read in the last frame of ``page.frames``)."""
    for f in map_frames(page):
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
        box, deadline = None, time.monotonic() + 30
        while box is None and time.monotonic() < deadline:  # the frame may be between two maps
            box = page.locator(MAP_FRAME).first.bounding_box()
            if box is None:
                page.wait_for_timeout(200)
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
        screenshot_with_map(page, ARTIFACTS / "app_open.png")

        before, after, secs = click_map_and_wait(page, dx=40, dy=-30)
        assert before != after
        frame = wait_for_map(page)
        frame.locator(".pm-prop").first.wait_for(state="attached", timeout=60_000)  # the proposed site is drawn
        page.wait_for_timeout(800)
        screenshot_with_map(page, ARTIFACTS / "app.png", want=lambda s: s["props"] >= 1)

        # the planner's view survives a redraw: zoom in, click, the zoom level stays
        z0 = map_zoom(page)
        for step in (1, 2):  # each zoom step reports the view (a rerun that redraws nothing)
            for _attempt in range(3):  # a click that lands while the page reruns can be lost: click again
                wait_idle(page)
                if (map_zoom(page) or 0) >= z0 + step:  # never click once there (a late click overshot to 17-19)
                    break
                page.frame_locator(MAP_FRAME).first.locator(".leaflet-control-zoom-in").click()
                deadline = time.monotonic() + 10
                while (map_zoom(page) or 0) < z0 + step and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
            page.wait_for_timeout(1200)
        wait_idle(page)
        zoomed = None
        deadline = time.monotonic() + 20
        while zoomed is None and time.monotonic() < deadline:
            zoomed = map_zoom(page)
            page.wait_for_timeout(200)
        # the planner's zoom (two steps in; a click the page received late may add one): kept across the redraw
        assert zoomed is not None and zoomed >= z0 + 2, (z0, zoomed)
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
        assert zoom_after == zoomed, (z0, zoomed, zoom_after)

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


# ---------------------------------------------------------------------------------------- a real extract
REAL_EXTRACT = ("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")

#: The main map's state, read in its frame: view, visible bounds, the image overlays and the proposal markers.
_MAP_STATE_JS = """() => {
  if (!window.map || !window.map.getCenter) return null;
  const m = window.map, c = m.getCenter(), b = m.getBounds(), s = m.getSize();
  const imgs = [...document.querySelectorAll('img.leaflet-image-layer')].map(i => {
    const r = i.getBoundingClientRect();
    return {opacity: i.style.opacity, w: i.naturalWidth, h: i.naturalHeight, done: i.complete,
            rw: r.width, rh: r.height};
  });
  const ctl = document.querySelector('.leaflet-control-layers');
  window.__pmFrameId = window.__pmFrameId || Math.random();
  return {id: window.__pmFrameId, icons: document.querySelectorAll('.pm-icon').length,
          lat: c.lat, lng: c.lng, zoom: m.getZoom(), south: b.getSouth(), west: b.getWest(), north: b.getNorth(),
          east: b.getEast(), width: s.x, height: s.y, imgs: imgs, layers: ctl ? ctl.textContent : '',
          props: document.querySelectorAll('.pm-prop').length};
}"""


def map_state(page, *, timeout_s: float = 60.0, want=lambda s: True) -> dict:
    """The newest main map's state (see ``_MAP_STATE_JS``) once ``want(state)`` holds; read again while frames swap."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        for f in map_frames(page):
            try:
                s = f.evaluate(_MAP_STATE_JS)
            except Exception:  # the frame is being replaced
                continue
            if s is not None:
                last = s
                if want(s):
                    return s
                break
        page.wait_for_timeout(250)
    raise AssertionError(f"the map did not reach the expected state in {timeout_s} s; last seen: "
                         f"{ {k: v for k, v in (last or {}).items() if k != 'imgs'} }")


def map_painted(s: dict) -> bool:
    """The map has its size, its facility markers and every image overlay loaded."""
    return s["icons"] > 0 and s["width"] > 300 and s["height"] > 300 and all(i["done"] and i["w"] > 0 for i in s["imgs"])


def screenshot_with_map(page, path: Path, *, want=lambda s: True, tries: int = 4) -> dict:
    """A screenshot showing the drawn map: the same map frame, painted, just before and just after it (a frame
    replaced meanwhile shows as an empty box: take it again). Returns the map's state."""
    for _ in range(tries):
        wait_idle(page, quiet_s=1.5, timeout_s=60)
        before = map_state(page, want=lambda s: map_painted(s) and want(s))
        page.wait_for_timeout(300)
        page.screenshot(path=str(path), full_page=False)
        try:
            after = map_state(page, timeout_s=5, want=map_painted)
        except AssertionError:
            continue
        if after["id"] == before["id"]:
            return after
    raise AssertionError(f"no screenshot with the map drawn in {tries} tries")


def streets_drawn(s: dict) -> bool:
    """The streets basemap (maps.layers.streets_layer: a PNG overlay at opacity 0.55) is loaded and has a size."""
    return any(i["opacity"] == "0.55" and i["done"] and i["w"] > 0 and i["rw"] > 50 and i["rh"] > 50 for i in s["imgs"])


def on_district(s: dict, bounds) -> bool:
    """The map's centre lies in the network's bounds, at a zoom a district is read at, and the view overlaps it."""
    west, south, east, north = bounds
    return (west <= s["lng"] <= east and south <= s["lat"] <= north and 12 <= s["zoom"] <= 18
            and s["west"] < east and s["east"] > west and s["south"] < north and s["north"] > south)


def fits(s: dict, bounds) -> bool:
    """The whole network's extent is in view."""
    west, south, east, north = bounds
    return s["west"] <= west and s["east"] >= east and s["south"] <= south and s["north"] >= north


def wait_headline(page, want, *, timeout_s: float = 90.0, what: str = "") -> str:
    """Wait until the headline satisfies ``want`` (a rerun replaces the element: read it again)."""
    deadline, now = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            now = headline_text(page)
        except Exception:
            now = None
        if now is not None and want(now):
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"headline {now!r} after {timeout_s} s ({what})")


def real_extract_study(folder: Path) -> Path:
    """A study file of the real extract with its tagged facilities and no demand file (skips when it is absent)."""
    import json

    from tests.conftest import shared_file

    osm = shared_file(*REAL_EXTRACT)
    study_file = folder / "study.toml"
    study_file.write_text(f'label = "南京玄武 OSM 2021"\n\n[network]\npath = {json.dumps(str(osm))}\nfacilities = true\n',
                          encoding="utf-8")
    return study_file


@pytest.mark.browser
@pytest.mark.slow
def test_app_on_a_real_extract_in_a_real_browser_offline(tmp_path):
    """Issue 10: the app opened on a study of a real OSM extract (Nanjing Xuanwu, its tagged health facilities,
    demand from the buildings proxy) shows the streets, the CLI's headline and the district; a click proposes a
    site, a facility upload keeps it, a 100 % optimisation accepted keeps the map on the district, compare draws
    its map."""
    import json
    import re

    import numpy as np
    import pandas as pd


    why = _have_browser()
    if why:
        pytest.skip(why)
    study_file = real_extract_study(tmp_path)
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "planner", "coverage", "--study", str(study_file), "--out", str(out),
                          "--no-map", "--cache-dir", str(cache)], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PLANNER_CACHE": str(cache)}, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    from planner.config import default_types

    type_key = next(k for k in default_types() if k in summary["types"])  # the type the app opens on
    cli_headline = f"{summary['types'][type_key]['coverage_share'] * 100:.1f}%"
    assert summary["demand"]["is_proxy"] and summary["demand"]["points"] > 0  # no demand file: the buildings proxy

    from planner.study import load_study

    net = load_study(study_file, cache_dir=cache).networks["walk"]
    bounds = net.bounds_lonlat  # west, south, east, north
    # a facility file to upload: two sites on the network's nodes (fixed seed), of the type on the map
    rng = np.random.default_rng(10)
    nodes = rng.choice(net.n_nodes, 2, replace=False)
    lon, lat = net.to_lonlat(net.x[nodes], net.y[nodes])
    fac_csv = tmp_path / "新站点.csv"
    pd.DataFrame({"id": ["U1", "U2"], "name": ["上传站一", "上传站二"], "type": [type_key] * 2,
                  "lon": lon, "lat": lat}).to_csv(fac_csv, index=False)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    with app_server(env={"PLANNER_STUDY": str(study_file)}, timeout_s=120) as (url, _proc), \
            browser_page(width=1280, height=800) as page:
        block_non_local(page, blocked)
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)[:300]))
        page.goto(url)
        wait_for_map(page, timeout_s=180)
        wait_idle(page, timeout_s=60)
        wait_for_map(page)
        # the streets, on the district, the CLI's headline
        s = map_state(page, want=lambda s: streets_drawn(s) and on_district(s, bounds))
        assert "街道（路网）" in s["layers"], s["layers"]  # the streets layer is named in the layer control
        assert fits(s, bounds), (s, bounds)  # the whole network in view at 1280 × 800
        assert wait_headline(page, lambda h: h == cli_headline, what=f"CLI says {cli_headline}") == cli_headline
        assert page.get_by_text("南京玄武 OSM 2021").count() > 0  # the study's label
        screenshot_with_map(page, ARTIFACTS / "app_real_extract_open.png", want=streets_drawn)

        # a click proposes a site: the headline changes and the site is drawn
        before, after, _ = click_map_and_wait(page, dx=-60, dy=30)
        assert before == cli_headline and after != before
        map_state(page, want=lambda s: s["props"] >= 1 and streets_drawn(s))
        wait_idle(page)
        assert page.get_by_text("地图点选").count() >= 1  # listed in the proposals tab

        # a facility upload after the click keeps the proposal (listed and drawn) and changes the headline
        # the uploader's key gets a suffix each time the layers are cleared (opening the study did): up_facilities[_N]
        page.locator('[class*="st-key-up_facilities"] input[type=file]').first.set_input_files(str(fac_csv))
        uploaded = wait_headline(page, lambda h: h != after and h.endswith("%"), what="after the upload")
        # a facility file is the list of its types: its two sites replace the one tagged in the OSM file
        # (planner.study.merge_facilities), and the proposal is counted on top
        assert uploaded != after
        count = page.locator('[data-testid="stMetricValue"]').nth(1)
        deadline = time.monotonic() + 30
        while count.inner_text().strip() != "2 + 1" and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert count.inner_text().strip() == "2 + 1"
        wait_idle(page)
        assert page.get_by_text("新站点.csv").count() >= 1  # the sidebar lists the loaded file
        assert page.get_by_text("地图点选").count() >= 1, "the proposal was dropped by the upload"
        s = map_state(page, want=lambda s: s["props"] >= 1 and on_district(s, bounds))
        page.locator(MAP_FRAME).first.scroll_into_view_if_needed()
        page.mouse.move(5, 5)  # no tooltip over the map
        screenshot_with_map(page, ARTIFACTS / "app_real_extract.png", want=lambda s: s["props"] >= 1 and streets_drawn(s))

        # optimise to 100 %, accept: the map stays on the district, the headline reads what was reached
        page.get_by_role("tab", name="优化选址").click()
        page.locator(".st-key-opt_mode__zh").get_by_text("以最少点位达到覆盖率 X%").click()
        wait_idle(page)
        x = page.locator(".st-key-opt_x input")
        x.wait_for(state="visible")
        if float(x.input_value()) != 100.0:
            x.fill("100")
            x.press("Enter")
            wait_idle(page)
        page.locator(".st-key-opt_run button").click()
        page.locator(".st-key-opt_accept_all button").wait_for(state="visible", timeout=180_000)
        msg = page.get_by_text(re.compile(r"个新点位：覆盖率")).first.inner_text()
        reached = re.search(r"→\s*([\d.]+%)", msg).group(1)
        assert reached == "100.0%", msg  # every demand point of this study can be reached on foot
        wait_idle(page)
        page.locator(".st-key-opt_accept_all button").click()
        assert wait_headline(page, lambda h: h == reached, what=f"optimisation reached {reached}") == reached
        wait_idle(page)
        s = map_state(page, want=lambda s: s["props"] >= 2 and on_district(s, bounds) and streets_drawn(s))
        page.locator(MAP_FRAME).first.scroll_into_view_if_needed()
        page.mouse.move(5, 5)  # no tooltip over the map
        screenshot_with_map(page, ARTIFACTS / "app_real_extract_optimised.png", want=lambda s: s["props"] >= 2)

        # compare: the difference map is drawn, taller than 300 px
        page.get_by_role("tab", name="方案").click()
        diff = page.locator(".diff-map img").first
        diff.wait_for(state="visible", timeout=90_000)
        dbox = diff.bounding_box()
        # at 1280 px the tools column is ~380 px wide and maps.static caps the SVG's height at 0.62 of its width:
        # drawn at the column's width, with the district's (capped) aspect, never collapsed
        assert dbox is not None and dbox["width"] > 300 and dbox["height"] >= 0.44 * dbox["width"], dbox
        diff.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "app_real_extract_compare.png"), full_page=False)
        page.set_viewport_size({"width": 1500, "height": 1100})  # the window the demo test uses: taller than 300 px
        deadline, dbox = time.monotonic() + 20, None
        while time.monotonic() < deadline and not (dbox and dbox["height"] > 300):
            page.wait_for_timeout(250)
            dbox = page.locator(".diff-map img").first.bounding_box()
        assert dbox is not None and dbox["height"] > 300, dbox
        page.set_viewport_size({"width": 1280, "height": 800})

        # a second planner on a narrow window (800 px): the same district, all of it in view
        narrow = page.context.browser.new_page(viewport={"width": 800, "height": 900}, locale="zh-CN")
        narrow.set_default_timeout(60_000)
        block_non_local(narrow, blocked)
        narrow.on("pageerror", lambda e: page_errors.append(str(e)[:300]))
        narrow.goto(url)
        wait_for_map(narrow, timeout_s=180)
        wait_idle(narrow, timeout_s=60)
        s = map_state(narrow, want=lambda s: streets_drawn(s) and on_district(s, bounds))
        assert wait_headline(narrow, lambda h: h == cli_headline, what="second session") == cli_headline
        narrow.locator(MAP_FRAME).first.scroll_into_view_if_needed()
        screenshot_with_map(narrow, ARTIFACTS / "app_real_extract_narrow.png", want=streets_drawn)
        # the first view is fitted to a 720 px map (MAP_WIDTH); with the sidebar open an 800 px window has a ~470 px
        # map, so the district's east and west edges can be cut (see the report of issue 10): on the district only
        assert on_district(map_state(narrow), bounds)
        narrow.close()
        assert not page_errors, page_errors[:3]
        if os.environ.get("PLANNER_UPDATE_DOCS_IMG"):
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            for name in ("app_real_extract.png", "app_real_extract_narrow.png"):
                shutil.copyfile(ARTIFACTS / name, DOCS_IMG / name)
    assert not blocked, blocked[:5]  # the default view has no tiles: nothing left localhost


@pytest.mark.browser
@pytest.mark.slow
def test_real_extract_fits_an_800px_window(tmp_path):
    """The whole district is in the first view on an 800 px window (the docs' narrow screenshot)."""
    why = _have_browser()
    if why:
        pytest.skip(why)
    from planner.study import load_study

    study_file = real_extract_study(tmp_path)
    bounds = load_study(study_file, cache_dir=tmp_path / "cache").networks["walk"].bounds_lonlat
    with app_server(env={"PLANNER_STUDY": str(study_file)}, timeout_s=120) as (url, _proc), \
            browser_page(width=800, height=900) as page:
        block_non_local(page, [])
        page.goto(url)
        wait_for_map(page, timeout_s=180)
        wait_idle(page, timeout_s=60)
        s = map_state(page, want=lambda s: streets_drawn(s) and on_district(s, bounds))
        assert fits(s, bounds), ({k: v for k, v in s.items() if k not in ("imgs", "layers")}, bounds)


@pytest.mark.browser
@pytest.mark.slow
def test_compare_map_taller_than_300px_on_a_1280px_window():
    """Issue 10's acceptance (compare draws a map taller than 300 px) on a common laptop window, on the demo."""
    why = _have_browser()
    if why:
        pytest.skip(why)
    with app_server() as (url, _proc), browser_page(width=1280, height=800) as page:
        block_non_local(page, [])
        page.goto(url)
        wait_for_map(page, timeout_s=180)
        wait_idle(page, timeout_s=60)
        wait_for_map(page)
        click_map_and_wait(page, dx=40, dy=-30)  # a proposal: its automatic draft opens the comparison
        wait_for_map(page)
        diff = page.locator(".diff-map img").first
        for _attempt in range(3):  # a click on the tab while the page reruns can be lost: click again
            wait_idle(page)
            page.get_by_role("tab", name="方案").click()
            try:
                diff.wait_for(state="visible", timeout=40_000)
                break
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "compare_1280_missing.png"), full_page=True)
        dbox = diff.bounding_box()
        assert dbox is not None and dbox["height"] > 300, dbox
