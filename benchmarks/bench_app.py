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


def optimise(count: int, repeat: int) -> tuple[list[float], object]:
    from planner import session as ss
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
        lines.append(f"| cold start -> first map with markers (demo, browser) | {statistics.median(maps):.1f} s | "
                     f"{', '.join(f'{x:.1f}' for x in maps)} |")
        lines.append(f"| click on map -> headline changed (browser) | {statistics.median(trips):.2f} s | "
                     f"{', '.join(f'{x:.2f}' for x in trips)} |")
    else:
        lines.append(f"| browser figures | skipped: {why} | |")
    times, result = optimise(50, args.repeat)
    lines.append(f"| optimise 50 service stations on the demo (greedy) | {statistics.median(times):.2f} s | "
                 f"{', '.join(f'{x:.2f}' for x in times)} |")
    print(f"App benchmark ({platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"optimise placed {len(result.sites)} sites, coverage {result.share_before:.1%} -> {result.share_after:.1%})\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
