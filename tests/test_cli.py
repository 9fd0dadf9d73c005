"""The coverage CLI end to end: the demo, the real OSM extracts beside the repository, and clear failures."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from planner.cli import main
from planner.network import load_network
from tests.conftest import SHARED_DATA, shared_file

REPO = Path(__file__).resolve().parents[1]
REAL_OSM = [
    ("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm"),
    ("osm", "nanjing_xuanwu_overpass_20210612.osm.xml"),
    ("osm", "shenzhen_nanshan_overpass_20210317.osm.xml"),
    ("osm", "andorra_graphhopper_testdata.osm.pbf"),
]


def facilities_on(net, n: int, seed: int, path: Path, types=("health_centre", "aed")) -> Path:
    """Facilities 10-30 m off random streets of a network, as a CSV of WGS-84 points."""
    rng = np.random.default_rng(seed)
    e = rng.choice(net.n_edges, n, replace=False)
    x = (net.x[net.edge_u[e]] + net.x[net.edge_v[e]]) / 2 + rng.uniform(-20, 20, n)
    y = (net.y[net.edge_u[e]] + net.y[net.edge_v[e]]) / 2 + rng.uniform(-20, 20, n)
    lon, lat = net.to_lonlat(x, y)
    pd.DataFrame({"id": [f"F{i}" for i in range(n)], "name": [f"设施{i}" for i in range(n)],
                  "type": [types[i % len(types)] for i in range(n)], "lon": lon, "lat": lat}).to_csv(path, index=False)
    return path


def check_outputs(out: Path, *, areas: bool):
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for s in summary["types"].values():
        assert 0.0 <= s["coverage_share"] <= 1.0
        assert {"target_minutes", "demand_total", "demand_covered", "bands", "unreachable_demand",
                "demand_snapped_too_far", "facilities_snapped_too_far"} <= set(s)
    assert summary["network"]["walk"]["nodes"] > 0
    demand = pd.read_csv(out / "demand.csv")
    assert {"id", "minutes", "facility_id", "covered"} <= set(demand.columns) or any(c.startswith("minutes_") for c in demand.columns)
    fac = pd.read_csv(out / "facilities.csv")
    assert {"id", "type", "lon", "lat", "snap_dist_m", "snapped_too_far"} <= set(fac.columns)
    iso = gpd.read_file(out / "isochrones.geojson")
    assert len(iso) > 0 and iso.crs.to_epsg() == 4326
    gpd.read_file(out / "gaps.geojson")
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in html and "<script src=\"http" not in html
    if areas:
        assert len(pd.read_csv(out / "areas.csv")) > 0
    return summary


def test_demo_end_to_end(tmp_path):
    assert main(["coverage", "--demo", "--type", "service_station", "--type", "aed", "--out", str(tmp_path)]) == 0
    s = check_outputs(tmp_path, areas=True)
    assert set(s["types"]) == {"service_station", "aed"}
    assert s["types"]["aed"]["target_minutes"] == 1.5
    assert s["synthetic"] is True


@pytest.mark.parametrize("parts", REAL_OSM, ids=lambda p: p[-1])
def test_real_osm_extracts(parts, tmp_path):
    path = shared_file(*parts)
    net = load_network(path, cache_dir=tmp_path / "cache")
    fac = facilities_on(net, 8, 0, tmp_path / "fac.csv")
    args = ["coverage", "--network", str(path), "--facilities", str(fac), "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--lang", "en"]
    areas = parts[-1].startswith("huangpu") and (SHARED_DATA / "shanghai" / "boundaries").exists()
    if areas:
        args += ["--areas", str(SHARED_DATA / "shanghai" / "boundaries" / "shanghai_subdistricts_8central_osm_20260819.geojson")]
    assert main(args) == 0
    s = check_outputs(tmp_path / "out", areas=areas)
    assert s["demand"]["is_proxy"] is True  # no demand file: the proxy is labelled
    assert s["types"]["health_centre"]["facilities"] == 4


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_missing_network_file_exits_nonzero_without_traceback(tmp_path):
    r = run_cli("coverage", "--network", str(tmp_path / "nope.osm"), "--facilities", "x.csv", "--out", str(tmp_path), "--lang", "en")
    assert r.returncode == 2
    assert "Network file not found" in r.stderr and "Traceback" not in r.stderr


def test_bad_facility_file_names_row_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,type,lon,lat\n1,甲,社区卫生服务站,121.40,31.22\n2,乙,社区卫生服务站,abc,31.22\n", encoding="utf-8")
    r = run_cli("coverage", "--demo", "--facilities", str(bad), "--out", str(tmp_path / "o"), "--lang", "en")
    assert r.returncode == 2, r.stderr
    assert "row 3" in r.stderr and "lon" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "summary.json").exists()


def test_bad_arguments_exit_nonzero(tmp_path):
    r = run_cli("coverage", "--demo")
    assert r.returncode == 2 and "--out" in r.stderr
    r = run_cli("coverage", "--demo", "--type", "nonsense", "--out", str(tmp_path))
    assert r.returncode == 2 and "nonsense" in r.stderr and "Traceback" not in r.stderr


def test_help_documents_the_command():
    r = run_cli("coverage", "--help")
    assert r.returncode == 0
    for flag in ("--network", "--place", "--facilities", "--demand", "--areas", "--type", "--minutes", "--speed-kmh", "--coords", "--out"):
        assert flag in r.stdout


def test_explicit_columns_and_gcj02_file(tmp_path):
    """An Amap-style export with unusual headers, mapped explicitly, in GCJ-02."""
    from planner.coords import wgs84_to_gcj02
    from planner.demo import make_district

    d = make_district(scale=0.3)
    f = d.facilities[d.facilities["type"] == "service_station"].head(4)
    glon, glat = wgs84_to_gcj02(f["lon"].to_numpy(), f["lat"].to_numpy())
    src = tmp_path / "amap.csv"
    pd.DataFrame({"机构": f["name"], "坐标X": glon, "坐标Y": glat}).to_csv(src, index=False, encoding="gbk")
    args = ["coverage", "--demo", "--demo-scale", "0.3", "--facilities", str(src), "--coords", "gcj02",
            "--columns", "name=机构,lon=坐标X,lat=坐标Y", "--default-type", "service_station", "--no-map",
            "--out", str(tmp_path / "o")]
    assert main(args) == 0
    fac = pd.read_csv(tmp_path / "o" / "facilities.csv")
    np.testing.assert_allclose(fac["lon"], f["lon"], atol=1e-6)  # back in WGS-84 within ~0.1 m
    np.testing.assert_allclose(fac["lat"], f["lat"], atol=1e-6)
    assert main(args[:-3] + ["--columns", "lon", "--out", str(tmp_path / "o2")]) == 2


def test_facilities_from_osm_file(tmp_path):
    path = shared_file("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")
    assert main(["coverage", "--network", str(path), "--facilities-from-osm", "--out", str(tmp_path), "--no-map"]) == 0
    fac = pd.read_csv(tmp_path / "facilities.csv")
    assert len(fac) >= 1 and fac["id"].str.match(r"^[nw]\d+$").all()


def test_type_hospital_from_osm(tmp_path, capsys):
    """--type hospital is a known type; the OSM hospitals (node and area of one place merged) are its facilities,
    and what was skipped or merged is printed without -v."""
    path = shared_file("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")
    out = tmp_path / "o"
    assert main(["coverage", "--network", str(path), "--facilities-from-osm", "--type", "hospital", "--out", str(out),
                 "--no-map", "--lang", "en", "--cache-dir", str(tmp_path / "cache")]) == 0
    fac = pd.read_csv(out / "facilities.csv")
    assert set(fac["type"]) == {"hospital"} and fac["name"].dropna().is_unique
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(s["types"]) == {"hospital"} and s["types"]["hospital"]["target_minutes"] == 30
    printed = capsys.readouterr()
    assert "merged into it" in printed.out + printed.err and "not taken as facilities" in printed.out + printed.err


def test_areas_limit_the_study_to_the_district(tmp_path):
    """A city-wide boundary file keeps the subdistricts the network reaches; demand beyond them leaves the statistics."""
    path = shared_file("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm")
    areas = shared_file("shanghai", "boundaries", "shanghai_subdistricts_8central_osm_20260819.geojson")
    net = load_network(path, cache_dir=tmp_path / "cache")
    fac = facilities_on(net, 6, 1, tmp_path / "fac.csv")
    assert main(["coverage", "--network", str(path), "--facilities", str(fac), "--areas", str(areas), "--no-map",
                 "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "cache")]) == 0
    a = pd.read_csv(tmp_path / "o" / "areas.csv")
    s = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    n_areas = a["area_id"].nunique()
    assert 1 <= n_areas < 20  # People's Square touches a handful of the 113 subdistricts
    assert s["demand_outside_areas_left_out"]["points"] >= 0
    assert a.groupby("type")["demand_total"].sum().iloc[0] == pytest.approx(s["types"]["health_centre"]["demand_total"])


def test_rerun_into_the_same_folder_leaves_no_stale_outputs(tmp_path):
    out = tmp_path / "o"
    assert main(["coverage", "--demo", "--demo-scale", "0.3", "--type", "aed", "--out", str(out)]) == 0
    assert (out / "map.html").exists() and (out / "isochrones.geojson").exists()
    (out / "notes.txt").write_text("mine")
    assert main(["coverage", "--demo", "--demo-scale", "0.3", "--type", "aed", "--no-map", "--isochrones", "none",
                 "--out", str(out)]) == 0
    assert not (out / "map.html").exists() and not (out / "isochrones.geojson").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only our own outputs are touched


def test_isochrones_and_surface_for_the_first_type_unless_asked(tmp_path, capsys):
    base = ["coverage", "--demo", "--demo-scale", "0.3", "--type", "service_station", "--type", "aed", "--lang", "en"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    iso = gpd.read_file(tmp_path / "a" / "isochrones.geojson")
    assert set(iso["type"]) == {"service_station"}
    html = (tmp_path / "a" / "map.html").read_text(encoding="utf-8")
    assert html.count("L.imageOverlay(") == 1 + 1 and "Beyond the goal" in html  # the first type's surface + the streets
    summary = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["types"]) == {"service_station", "aed"}  # statistics for every type
    assert summary["parameters"]["isochrone_types"] == ["service_station"]
    assert len(gpd.read_file(tmp_path / "a" / "gaps.geojson")["type"].unique()) == 2  # gap cells of every type exported
    assert main(base + ["--isochrone-types", "all", "--out", str(tmp_path / "b")]) == 0
    assert set(gpd.read_file(tmp_path / "b" / "isochrones.geojson")["type"]) == {"service_station", "aed"}
    assert (tmp_path / "b" / "map.html").read_text(encoding="utf-8").count("L.imageOverlay(") == 2 + 1  # + the streets
    assert "surface" in summary["timings_s"]
    assert main(base + ["--no-map", "--out", str(tmp_path / "d")]) == 0  # no map, no surface to draw
    assert "surface" not in json.loads((tmp_path / "d" / "summary.json").read_text(encoding="utf-8"))["timings_s"]
    capsys.readouterr()
    assert main(base + ["--isochrone-types", "tcm_hall", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "isochrone_types: 'tcm_hall' is not one of the evaluated facility types" in err
