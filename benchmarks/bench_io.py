"""Benchmark the facility and demand readers on 100k-row CSVs against a naive peer.

Writes a GBK CSV of 100,000 facilities in GCJ-02 (Chinese headers, as exported from Amap)
and a UTF-8 CSV of 100,000 demand points into a temporary folder, then times (median of
``--runs`` runs):

* ``planner.io.read_facilities(..., coords="gcj02")`` and ``planner.io.read_demand(...)``:
  encoding and delimiter detection, column detection, full validation, GCJ-02 -> WGS-84;
* the naive peer: ``pandas.read_csv`` + ``geopandas.points_from_xy`` with no validation and
  no conversion, and ``geopandas.read_file`` (pyogrio) on the same CSV.

Usage: ``python benchmarks/bench_io.py [--rows 100000] [--runs 5]``. Prints a markdown table
that can be pasted into docs/benchmarks.md. Target: <= 3 s per 100k rows.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from planner.coords import wgs84_to_gcj02
from planner.io import read_demand, read_facilities


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_inputs(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(121.33, 121.43, n)
    lat = rng.uniform(31.18, 31.25, n)
    glon, glat = wgs84_to_gcj02(lon, lat)
    labels = np.array(["社区卫生服务中心", "社区卫生服务站", "AED", "除颤器", "卫生站"])
    fac = pd.DataFrame({
        "编号": [f"F{i:06d}" for i in range(n)],
        "名称": [f"示例站点{i}" for i in range(n)],
        "类型": labels[rng.integers(0, len(labels), n)],
        "经度": np.round(glon, 7),
        "纬度": np.round(glat, 7),
        "地址": "长宁区示例路",
    })
    fpath = folder / "facilities_gcj02_gbk.csv"
    fac.to_csv(fpath, index=False, encoding="gbk")
    dem = pd.DataFrame({
        "id": [f"D{i:06d}" for i in range(n)],
        "population": rng.integers(0, 400, n).astype(float),
        "lon": np.round(lon, 7),
        "lat": np.round(lat, 7),
    })
    dpath = folder / "demand.csv"
    dem.to_csv(dpath, index=False)
    return fpath, dpath


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args(argv)
    n, runs = args.rows, args.runs
    with tempfile.TemporaryDirectory() as tmp:
        fpath, dpath = write_inputs(Path(tmp), n)
        # warm up imports and caches once
        read_facilities(fpath, coords="gcj02")
        ours_f = _median_time(lambda: read_facilities(fpath, coords="gcj02"), runs)
        ours_d = _median_time(lambda: read_demand(dpath), runs)

        def naive_f():
            df = pd.read_csv(fpath, encoding="gbk")
            return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["经度"], df["纬度"]), crs=4326)

        def naive_d():
            df = pd.read_csv(dpath)
            return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)

        naive_ff = _median_time(naive_f, runs)
        naive_dd = _median_time(naive_d, runs)
        ogr_d = _median_time(lambda: gpd.read_file(dpath, engine="pyogrio"), runs)
        assert len(read_facilities(fpath, coords="gcj02")) == n
    per = 100_000 / n
    lines = [
        "## Reading inputs (`benchmarks/bench_io.py`)",
        "",
        f"{n:,} rows, median of {runs} runs; Python {platform.python_version()}, "
        f"pandas {pd.__version__}, geopandas {gpd.__version__}, {platform.machine()}.",
        "",
        "| input (100k rows) | planner.io (validate + convert) | naive peer | ratio | target |",
        "|---|---|---|---|---|",
        f"| facilities, GBK CSV, GCJ-02 -> WGS-84 | `read_facilities` {ours_f * per:.2f} s | "
        f"`pd.read_csv` + `points_from_xy` {naive_ff * per:.2f} s | {ours_f / naive_ff:.1f}x | "
        f"{'pass' if ours_f * per <= 3 else 'FAIL'} (<= 3 s) |",
        f"| demand points, UTF-8 CSV, WGS-84 | `read_demand` {ours_d * per:.2f} s | "
        f"`pd.read_csv` + `points_from_xy` {naive_dd * per:.2f} s; `gpd.read_file` {ogr_d * per:.2f} s | "
        f"{ours_d / naive_dd:.1f}x | {'pass' if ours_d * per <= 3 else 'FAIL'} (<= 3 s) |",
        "",
        "The peer reads the same file with no validation, no encoding detection and no coordinate "
        "conversion: the ratio is the price of checking every row.",
    ]
    md = "\n".join(lines)
    print(md)
    if args.write:
        from _report import write_section

        write_section("io", md)

if __name__ == "__main__":
    main()
