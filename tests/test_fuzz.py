"""Fuzz corpus: every hostile or damaged input ends in exit code 2 with a message, or in success with
correct output; never a traceback, never more memory than a bound, never a file outside the output
and cache folders.

The corpus is ``tests/data/hostile/`` (written by ``python -m tests.hostile_corpus``) plus three
large cases written at test time (:func:`tests.hostile_corpus.write_large`). Small cases run the
CLI in-process (``planner.cli.main``); the large ones run ``python -m planner`` in a subprocess so
that their own peak memory (``ru_maxrss`` from ``wait4``) can be bounded.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from planner.cli import main
from tests.hostile_corpus import HERE as CORPUS
from tests.hostile_corpus import run_measured, write_large

REPO = Path(__file__).resolve().parents[1]
OK, ERROR = "ok", "error"
#: Peak resident memory of the test process after any in-process case, MB (the whole pytest
#: process with geopandas, osmnx and folium loaded stays near 500 MB).
IN_PROCESS_MB = 1500
#: Peak resident memory of one subprocess case, MB (the acceptance bound for the GraphML case).
SUBPROCESS_MB = 1024
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Case:
    id: str
    expect: str
    message: str = ""  # a fragment the English message must contain
    network: str = "grid.osm"
    facilities: tuple[str, ...] = ("fac_ok.csv",)
    demand: str | None = "dem_ok.csv"
    areas: str | None = None
    flags: tuple[str, ...] = ()
    same_as_clean: bool = False  # success must give the clean run's coverage
    subprocess: bool = False
    large: bool = False  # the file comes from write_large, not the committed corpus
    timeout_s: float = 120.0
    command: str = "coverage"


CASES = [
    Case("clean", OK, same_as_clean=True),
    Case("npz_truncated", ERROR, "not a compiled network file, or a damaged one", network="grid_truncated.npz"),
    # ------------------------------------------------------------ networks
    Case("osm_truncated", ERROR, "not a readable OSM file", network="grid_truncated.osm"),
    Case("osm_pbf_truncated", ERROR, "not a readable OSM file", network="grid_truncated.osm.pbf"),
    Case("osm_gz_truncated", ERROR, "not a readable OSM file", network="grid_truncated.osm.gz"),
    Case("osm_bz2_truncated", ERROR, "not a readable OSM file", network="grid_truncated.osm.bz2"),
    Case("osm_empty", ERROR, "is empty", network="empty.osm"),
    Case("osm_binary_noise", ERROR, "OSM", network="binary_noise.osm"),
    Case("osm_tag_too_long", ERROR, "longer than OSM allows", network="long_tag.osm"),
    Case("osm_name_400_chars", ERROR, "longer than OSM allows", network="long_name.osm"),
    Case("osm_utf16", OK, network="utf16.osm", same_as_clean=True),
    Case("osm_entity_expansion", ERROR, "XML entities are not supported", network="entity_expansion.osm"),
    Case("graphml_truncated", ERROR, "could not be read as an osmnx GraphML file", network="grid_truncated.graphml"),
    Case("graphml_nan_node", ERROR, "missing (NaN) or impossible coordinates", network="nan_node.graphml"),
    Case("graphml_text_node", ERROR, "GraphML", network="text_node.graphml"),
    Case("graphml_huge_names", OK, network="huge_names.graphml", subprocess=True, large=True, same_as_clean=True),
    # ------------------------------------------------------------ facilities
    Case("fac_hostile_text_and_100k_name", OK, facilities=("fac_hostile_text.csv",), flags=("--map",), same_as_clean=True),
    Case("fac_truncated_csv", ERROR, "latitude is empty", facilities=("fac_truncated.csv",)),
    Case("fac_latin1", ERROR, "is not valid utf-8 or gb18030", facilities=("fac_latin1.csv",)),
    Case("fac_utf16_without_bom", ERROR, "binary file, not a text table", facilities=("fac_utf16_no_bom.csv",)),
    Case("fac_binary_noise", ERROR, "", facilities=("fac_binary_noise.csv",)),
    Case("fac_truncated_xlsx", ERROR, "", facilities=("fac_truncated.xlsx",)),
    Case("fac_flipped_sheet_xlsx", ERROR, "", facilities=("fac_flipped_sheet.xlsx",)),
    Case("fac_truncated_geojson", ERROR, "cannot read", facilities=("fac_truncated.geojson",)),
    Case("fac_mixed_geometry", OK, facilities=("fac_mixed_geometry.geojson",)),
    Case("fac_empty_layer_geojson", ERROR, "no features", facilities=("fac_empty_layer.geojson",)),
    Case("fac_null_geometry", ERROR, "", facilities=("fac_null_geometry.geojson",)),
    Case("fac_truncated_gpkg", ERROR, "", facilities=("fac_truncated.gpkg",)),
    Case("fac_empty_layer_gpkg", ERROR, "no features", facilities=("fac_empty_layer.gpkg",)),
    Case("fac_not_gpkg_sqlite", ERROR, "", facilities=("fac_not_gpkg.gpkg",)),
    Case("fac_shp_zip_truncated", ERROR, "damaged ZIP", facilities=("fac_shp_truncated.zip",)),
    Case("fac_shp_zip_traversal", ERROR, "points outside the archive's folder", facilities=("fac_shp_traversal.zip",)),
    Case("fac_shp_zip_damaged", ERROR, "cannot read", facilities=("fac_shp_damaged.zip",)),
    Case("fac_zip_bomb", ERROR, "ZIP bomb", facilities=("bomb.zip",), subprocess=True, large=True),
    Case("fac_missing_file", ERROR, "not found", facilities=("no_such_file.csv",)),
    Case("fac_dev_zero", ERROR, "not a regular file", facilities=("/dev/zero",)),
    Case("network_dev_zero", ERROR, "not a regular file", network="/dev/zero"),
    Case("types_file_dev_zero", ERROR, "not a regular file", flags=("--types-file", "/dev/zero")),
    Case("types_file_binary", ERROR, "not valid TOML", flags=("--types-file", str(CORPUS / "fac_binary_noise.csv"))),
    # ------------------------------------------------------------ demand
    Case("dem_1e20_row", ERROR, "more than 1e+07 residents in one row", demand="dem_1e20_row.csv"),
    Case("dem_1e20_row_skipped", OK, demand="dem_1e20_row.csv", flags=("--skip-invalid",)),
    Case("dem_1e308_every_row", ERROR, "residents in one row", demand="dem_1e308_every_row.csv"),
    Case("dem_inf", ERROR, "not a number", demand="dem_inf.csv"),
    Case("dem_truncated", ERROR, "population is empty", demand="dem_truncated.csv"),
    Case("dem_mixed_geometry", ERROR, "mixes points", demand="dem_mixed_geometry.geojson"),
    # ------------------------------------------------------------ areas
    Case("areas_ok_hostile_names", OK, areas="areas_ok.geojson"),
    Case("areas_truncated", ERROR, "cannot read", areas="areas_truncated.geojson"),
    Case("areas_points", ERROR, "not a polygon", areas="areas_points.geojson"),
    Case("areas_1e6_vertices", OK, areas="areas_1e6_vertices.geojson", subprocess=True, large=True, timeout_s=90),
    # ------------------------------------------------------------ options
    Case("opt_max_snap_negative", ERROR, "--max-snap-m", flags=("--max-snap-m", "-1")),
    Case("opt_max_snap_nan", ERROR, "--max-snap-m", flags=("--max-snap-m", "nan")),
    Case("opt_breaks_duplicate", ERROR, "same minutes more than once", flags=("--breaks", "5,5")),
    Case("opt_breaks_duplicate_unsorted", ERROR, "same minutes more than once", flags=("--breaks", "10,5,5")),
    Case("opt_outside_tolerance_nan", ERROR, "--outside-tolerance-m", flags=("--outside-tolerance-m", "nan")),
    Case("opt_outside_tolerance_inf", ERROR, "--outside-tolerance-m", flags=("--outside-tolerance-m", "inf")),
    Case("opt_minutes_inf", ERROR, "--minutes", flags=("--minutes", "inf")),
    Case("opt_minutes_zero", ERROR, "", flags=("--minutes", "0")),
    Case("opt_speed_negative", ERROR, "", flags=("--speed-kmh", "-3")),
    Case("opt_speed_huge", ERROR, "--speed-kmh", flags=("--speed-kmh", "1e9")),
    Case("opt_speed_tiny", ERROR, "--speed-kmh", flags=("--speed-kmh", "1e-300")),
    Case("opt_minutes_tiny", ERROR, "--minutes", flags=("--minutes", "1e-300")),
    # ------------------------------------------------------------ siting options and inputs
    Case("propose_clean", OK, command="propose", flags=("--count", "2")),
    Case("propose_hostile_candidates", OK, command="propose", flags=("--count", "2", "--candidates", "fac_hostile_text.csv")),
    Case("propose_spacing_nan", ERROR, "--candidate-spacing-m", command="propose",
         flags=("--count", "2", "--candidate-spacing-m", "nan")),
    Case("propose_capacity_negative", ERROR, "--capacity", command="propose",
         flags=("--count", "2", "--method", "exact", "--capacity", "-5")),
    Case("propose_time_limit_inf", ERROR, "--time-limit", command="propose",
         flags=("--count", "2", "--method", "exact", "--time-limit", "inf")),
    Case("propose_target_share_nan", ERROR, "target share", command="propose", flags=("--target-share", "nan")),
    Case("propose_max_snap_nan", ERROR, "--max-snap-m", command="propose", flags=("--count", "2", "--max-snap-m", "nan")),
    Case("propose_zip_traversal_candidates", ERROR, "points outside", command="propose",
         flags=("--count", "2", "--candidates", "fac_shp_traversal.zip")),
]


def _argv(case: Case, files: dict[str, Path], out: Path, cache: Path) -> list[str]:
    def path(name: str) -> str:
        return str(files.get(name, CORPUS / name))

    argv = [case.command, "--network", path(case.network), "--type", "aed", "--lang", "zh",
            "--cache-dir", str(cache), "--out", str(out)]
    if case.command == "coverage":
        argv += ["--isochrones", "none"]
    for f in case.facilities:
        argv += ["--facilities", path(f)]
    if case.demand:
        argv += ["--demand", path(case.demand)]
    if case.areas:
        argv += ["--areas", path(case.areas)]
    flags = list(case.flags)
    if "--map" in flags:
        flags.remove("--map")
    else:
        argv.append("--no-map")
    if "--minutes" not in flags:
        argv += ["--minutes", "3"]
    if "--candidates" in flags:
        i = flags.index("--candidates") + 1
        flags[i] = path(flags[i])
    return argv + flags


def _tree(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if d / n not in skip]
        for n in filenames:
            p = d / n
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def _dangerous_csv_cells(folder: Path) -> list[str]:
    bad = []
    for p in folder.glob("*.csv"):
        for row in csv.reader(io.StringIO(p.read_text(encoding="utf-8-sig"), newline="")):
            bad += [c for c in row if c and c[0] in "=+-@\t\r" and not _NUMBER.fullmatch(c)]
    return bad


def _run_subprocess(argv: list[str], timeout_s: float, cache: Path) -> tuple[int, str, float]:
    """Run ``python -m planner`` and return (exit code, stderr, peak resident MB of that process)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PLANNER_CACHE": str(cache)}
    err_path = cache.parent / "stderr.txt"
    try:
        # RLIMIT_AS far above the bound: a regression fails the test, not the machine
        rc, _, peak_mb = run_measured([sys.executable, "-m", "planner", *argv], env=env, cwd=REPO, timeout_s=timeout_s,
                                      stderr_path=err_path, address_limit_bytes=8 * 1024**3)
    except TimeoutError as exc:
        pytest.fail(str(exc))
    return rc, err_path.read_text(encoding="utf-8", errors="replace"), peak_mb


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux: ``5`` to ``/proc/self/clear_refs`` resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """This process's peak resident memory since the last reset, MB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def large_files(tmp_path_factory) -> dict[str, Path]:
    return {p.name: p for p in write_large(tmp_path_factory.mktemp("large")).values()}


@pytest.fixture(scope="module")
def clean_shares(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("clean")
    assert main(_argv(CASES[0], {}, tmp / "out", tmp / "cache")) == 0
    return json.loads((tmp / "out" / "summary.json").read_text(encoding="utf-8"))["types"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, capsys, large_files, clean_shares):
    files = large_files if case.large else {}
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = _argv(case, files, out, cache)
    watched = (tmp_path, CORPUS, REPO / "planner", REPO / "tests" / "data")
    before = {str(w): _tree(w, (out, cache)) for w in watched}
    repo_top = sorted(os.listdir(REPO))
    t0 = time.perf_counter()
    if case.subprocess:
        rc, err, peak_mb = _run_subprocess(argv, case.timeout_s, cache)
        print(f"{case.id}: exit {rc}, peak {peak_mb:.0f} MB")
        assert peak_mb < SUBPROCESS_MB, f"peak {peak_mb:.0f} MB"
    else:
        reset = _reset_peak_rss()  # this case's own peak, not that of every test before it in this process
        rc = main(argv)
        err = capsys.readouterr().err
        peak_mb = _peak_rss_mb() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert peak_mb < IN_PROCESS_MB, f"test process peak {peak_mb:.0f} MB"
    elapsed = time.perf_counter() - t0
    assert elapsed < case.timeout_s
    assert "Traceback" not in err, err[-3000:]
    # nothing written anywhere but the output and cache folders
    for w in watched:
        after = _tree(w, (out, cache))
        if w == tmp_path:
            after.pop(str(cache.parent / "stderr.txt"), None)
        assert after == before[str(w)], f"files changed outside the output folder under {w}"
    assert sorted(os.listdir(REPO)) == repo_top
    if case.expect == ERROR:
        assert rc == 2, f"expected a refusal, got exit {rc}; stderr: {err[-2000:]}"
        assert case.message in err, err[-2000:]
        assert re.search(r"[\u4e00-\u9fff]", err), "the message is bilingual"
        assert not out.exists() or not any(out.iterdir()), "nothing half-written"
        return
    assert rc == 0, err[-3000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert _dangerous_csv_cells(out) == []
    if case.command == "propose":
        assert 0.0 <= summary["share_before"] <= summary["share_after"] <= 1.0
        assert (out / "proposals.csv").exists()
        return
    for s in summary["types"].values():
        assert 0.0 <= s["coverage_share"] <= 1.0
    if case.same_as_clean:
        for k, s in summary["types"].items():
            assert s["coverage_share"] == pytest.approx(clean_shares[k]["coverage_share"], abs=1e-12)
            assert s["demand_total"] == pytest.approx(clean_shares[k]["demand_total"])
    if (out / "map.html").exists():
        html = (out / "map.html").read_text(encoding="utf-8")
        assert "长" * 200 not in html and len(html) < 3_000_000
    if case.id == "fac_hostile_text_and_100k_name":
        import openpyxl

        ws = openpyxl.load_workbook(out / "coverage.xlsx", read_only=True).worksheets[-1]
        names = [row[1] for row in ws.iter_rows(min_row=2, values_only=True)]
        assert max(len(n) for n in names) == 32767 and any(n.endswith("…") for n in names)
        assert any(str(n).startswith("=HYPERLINK") for n in names)  # kept as text, not a formula
    if case.id == "dem_1e20_row_skipped":
        rejected = (out / "rejected_rows.csv").read_text(encoding="utf-8-sig")
        assert "implausible_population" in rejected and "1e+20" in rejected
        assert summary["demand"]["points"] == 39
    if case.id == "graphml_huge_names":
        sizes = [p.stat().st_size for p in cache.glob("*.npz")]
        assert sizes and max(sizes) < 20 * 1024**2, sizes
