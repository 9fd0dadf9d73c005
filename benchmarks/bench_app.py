"""App timings for docs/benchmarks.md: cold start to first map, click-to-propose round trip, optimise 50 sites.

Usage: ``python benchmarks/bench_app.py [--repeat 3]``. Needs /usr/bin/chromium and Playwright's
Python package for the two browser figures (skipped, and said so, without them). Prints a
markdown block.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_browser import (  # noqa: E402
    _have_browser,
    app_server,
    block_non_local,
    browser_page,
    click_map_and_wait,
    wait_for_map,
)


def browser_round(clicks: int) -> tuple[float, float, list[float]]:
    """One cold server: (server start -> health, server start -> map with markers, click round trips)."""
    t0 = time.perf_counter()
    with app_server() as (url, _proc):
        t_up = time.perf_counter() - t0
        with browser_page() as page:
            blocked: list[str] = []
            block_non_local(page, blocked)
            page.goto(url)
            wait_for_map(page)
            t_map = time.perf_counter() - t0
            trips = []
            for i in range(clicks):
                page.wait_for_timeout(300)
                _, _, secs = click_map_and_wait(page, dx=60 * (i - 1), dy=-40 + 30 * i)
                wait_for_map(page)
                trips.append(secs)
    return t_up, t_map, trips


def peer_cold_start() -> float:
    """Server start -> map with markers for the peer page (plain folium markers, nothing computed)."""
    t0 = time.perf_counter()
    with app_server(script=REPO / "benchmarks" / "peer_map_page.py") as (url, _proc):
        with browser_page() as page:
            blocked: list[str] = []
            block_non_local(page, blocked)
            page.goto(url)
            frame = page.frame_locator("iframe[title='streamlit_folium.st_folium']")
            frame.locator(".leaflet-container").wait_for(timeout=90_000)
            frame.locator(".leaflet-interactive").first.wait_for(state="attached", timeout=90_000)
            return time.perf_counter() - t0


def click_vs_full(repeat: int) -> tuple[list[float], list[float]]:
    """One added site: the app's incremental what-if vs recomputing the type's coverage with scenario.run."""
    import numpy as np

    from app import state as ss
    from planner.scenario import run
    from planner.siting import WhatIf

    study = ss.demo_study()
    base = run(study, type_keys=["service_station"], isochrones="none")
    cov = base.coverage["service_station"]
    net = study.networks["walk"]
    rng = np.random.default_rng(0)
    pts = [(float(study.demand.gdf.geometry.x.iloc[i]), float(study.demand.gdf.geometry.y.iloc[i]))
           for i in rng.choice(len(study.demand), repeat, replace=False)]
    inc, full = [], []
    for lon, lat in pts:
        w = WhatIf(net, cov.fac_snap, base.dem_snaps["walk"], study.demand.population, cov.ftype)
        t = time.perf_counter()
        w.add(lon, lat)
        inc.append(time.perf_counter() - t)
        fac = study.facilities
        extra = fac.iloc[:1].copy()
        extra["id"], extra["type"], extra["lon"], extra["lat"] = "new", "service_station", lon, lat
        import pandas as pd

        s2 = study.with_facilities(pd.concat([fac, extra], ignore_index=True))
        t = time.perf_counter()
        run(s2, type_keys=["service_station"], isochrones="none")
        full.append(time.perf_counter() - t)
    return inc, full


def optimise(count: int, repeat: int) -> tuple[list[float], object]:
    from app import state as ss
    from planner.siting import propose_study

    study = ss.demo_study()
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = propose_study(study, "service_station", count=count)
        times.append(time.perf_counter() - t)
    return times, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clicks", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()
    lines = ["| measure | median | runs |", "| --- | --- | --- |"]
    why = _have_browser()
    if why is None:
        ups, maps, trips = [], [], []
        for _ in range(args.repeat):
            up, mp, tr = browser_round(args.clicks)
            ups.append(up)
            maps.append(mp)
            trips += tr
        lines.append(f"| server start -> health endpoint | {statistics.median(ups):.1f} s | {', '.join(f'{x:.1f}' for x in ups)} |")
        peers = [peer_cold_start() for _ in range(args.repeat)]
        lines.append(f"| cold start -> first map with markers (demo, browser) | {statistics.median(maps):.1f} s | "
                     f"{', '.join(f'{x:.1f}' for x in maps)} |")
        lines.append(f"| peer: a page with the demo's facilities as plain folium markers, nothing computed | "
                     f"{statistics.median(peers):.1f} s | {', '.join(f'{x:.1f}' for x in peers)} |")
        lines.append(f"| ratio app / peer | {statistics.median(maps) / statistics.median(peers):.1f}x | |")
        lines.append(f"| click on map -> headline changed (browser) | {statistics.median(trips):.2f} s | "
                     f"{', '.join(f'{x:.2f}' for x in trips)} |")
    else:
        lines.append(f"| browser figures | skipped: {why} | |")
    inc, full = click_vs_full(max(5, args.repeat))
    lines.append(f"| one added site, in process: incremental what-if (`siting.WhatIf.add`) | {statistics.median(inc) * 1000:.1f} ms | "
                 f"{len(inc)} sites |")
    lines.append(f"| peer: recompute the type's coverage (`scenario.run`) | {statistics.median(full) * 1000:.0f} ms | "
                 f"ratio {statistics.median(full) / statistics.median(inc):.0f}x |")
    times, result = optimise(50, args.repeat)
    lines.append(f"| optimise 50 service stations on the demo (greedy) | {statistics.median(times):.2f} s | "
                 f"{', '.join(f'{x:.2f}' for x in times)} |")
    t = time.perf_counter()
    from app import state as ss
    from planner.siting import propose_study

    exact = propose_study(ss.demo_study(), "service_station", count=50, method="exact", time_limit_s=120)
    t_exact = time.perf_counter() - t
    lines.append(f"| peer: the same with the HiGHS MILP (`--method exact`) | {t_exact:.2f} s | ratio "
                 f"{t_exact / statistics.median(times):.0f}x; objective {exact.objective:,.0f} vs greedy {result.objective:,.0f} |")
    head = (f"## App (`benchmarks/bench_app.py`)\n\n{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
            f"optimise placed {len(result.sites)} sites (coverage {result.share_before:.1%} -> {result.share_after:.1%}: "
            f"it stops when every reachable resident is covered).\n")
    md = head + "\n" + "\n".join(lines)
    print(md)
    if args.write:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from _report import write_section

        write_section("app", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
