"""Batch runs: a study split by its areas equals one whole run point by point; Dask orchestration."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import planner
from planner.batch import (
    RunOptions,
    cut_network,
    halo_m,
    part_keys,
    prepare,
    run_part,
    run_split,
)
from planner.scenario import Study, run
from planner.study import Goals, NetworkSource, StudySpec
from tests.helpers import X0, Y0, grid_network, grid_study

KW = {"minutes": 3.0, "max_snap_m": 60.0}  # a 225 m goal on a 3.9 km grid: the parts really are parts


def _assert_same(whole, split, keys):
    a, b = whole.demand_table, split.demand_table
    assert list(a.index) == list(b.index)
    assert (a["id"] == b["id"]).all() and (a["area_id"] == b["area_id"]).all()
    np.testing.assert_array_equal(a["snap_dist_m"].to_numpy(), b["snap_dist_m"].to_numpy())
    for k in keys:
        ma, mb = a[f"{k}_minutes"].to_numpy(), b[f"{k}_minutes"].to_numpy()
        np.testing.assert_array_equal(np.isfinite(ma), np.isfinite(mb))
        fin = np.isfinite(ma)
        np.testing.assert_allclose(mb[fin], ma[fin], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(a[f"{k}_covered"].to_numpy(), b[f"{k}_covered"].to_numpy())
        np.testing.assert_array_equal(a[f"{k}_facility_id"].to_numpy(), b[f"{k}_facility_id"].to_numpy())
        sa, sb = whole.summary["types"][k], split.summary["types"][k]
        assert sa["demand_covered"] == sb["demand_covered"] and sa["coverage_share"] == sb["coverage_share"]
        assert sa["bands"] == sb["bands"]
        assert sa["mean_minutes"] == pytest.approx(sb["mean_minutes"], abs=1e-9)
        assert sa["p90_minutes"] == pytest.approx(sb["p90_minutes"], abs=1e-9)
    ca = whole.areas.drop(columns=["mean_minutes", "p90_minutes"]).reset_index(drop=True)
    cb = split.areas.drop(columns=["mean_minutes", "p90_minutes"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ca, cb, check_exact=True)
    np.testing.assert_allclose(split.areas["mean_minutes"], whole.areas["mean_minutes"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(split.areas["p90_minutes"], whole.areas["p90_minutes"], rtol=0, atol=1e-9)
    assert whole.gaps["population"].tolist() == split.gaps["population"].tolist()
    assert whole.summary["parameters"] == split.summary["parameters"]
    assert whole.summary["network_audit"] == split.summary["network_audit"]
    assert set(whole.summary) <= set(split.summary)  # plus "split" (and "dask", "failures" from Dask)


def _three_areas(net, span):
    """A vertical cut at x = 1450 m (mid-edge on a 100 m grid) and a diagonal one: every border cuts streets mid-way."""
    half = X0 + span / 2
    west = shapely.box(X0 - 50, Y0 - 50, half, Y0 + span + 50)
    east = shapely.box(half, Y0 - 50, X0 + span + 50, Y0 + span + 50)
    tri = shapely.Polygon([(half, Y0 - 50), (X0 + span + 50, Y0 - 50), (X0 + span + 50, Y0 + span * 0.7)])
    geoms = [west, east.difference(tri), tri]
    return gpd.GeoDataFrame({"area_id": ["W", "NE", "SE"], "name": ["西", "东北", "东南"]}, geometry=geoms,
                            crs=net.crs).to_crs(4326)


@pytest.mark.parametrize("seed", [0, 1])
def test_split_equals_whole_on_grids_cut_mid_edge(seed):
    st = grid_study(seed=seed, n=40, n_fac=14, n_dem=1500)
    st = Study(st.networks, st.facilities, st.demand, _three_areas(st.networks["walk"], 3900.0), label="grid")
    whole = run(st, isochrones="none", **KW)
    split = run_split(st, **KW)
    _assert_same(whole, split, list(whole.coverage))
    detail = split.summary["split"]["parts_detail"]
    # the parts are real parts (fewer edges than the whole), and some residents needed the wider second pass
    assert all(p["edges"] < st.networks["walk"].n_edges for p in detail)
    assert sum(p["second_pass_points"] for p in detail) > 0


def test_facility_across_the_border_serves_residents():
    net = grid_network(40)
    st = grid_study(seed=3, n=40, n_fac=2, n_dem=10)
    half = X0 + 1950.0  # the border runs mid-edge between the 1900 m and 2000 m streets
    fx, fy = np.array([half + 40.0, X0 + 200.0]), np.array([Y0 + 2000.0, Y0 + 200.0])
    flon, flat = net.to_lonlat(fx, fy)
    fac = gpd.GeoDataFrame({"id": ["east_clinic", "far"], "name": ["东", "远"], "type": ["health_centre"] * 2,
                            "lon": flon, "lat": flat}, geometry=gpd.points_from_xy(flon, flat), crs=4326)
    dx, dy = np.array([half - 90.0, half - 30.0, X0 + 300.0]), np.array([Y0 + 2000.0, Y0 + 2080.0, Y0 + 3500.0])
    dlon, dlat = net.to_lonlat(dx, dy)
    dem = planner.demand.demand_from_points(gpd.GeoDataFrame(
        {"id": ["w1", "w2", "w3"], "population": [10.0, 20.0, 30.0]}, geometry=gpd.points_from_xy(dlon, dlat), crs=4326))
    areas = gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["西", "东"]}, crs=net.crs, geometry=[
        shapely.box(X0 - 50, Y0 - 50, half, Y0 + 3950), shapely.box(half, Y0 - 50, X0 + 3950, Y0 + 3950)]).to_crs(4326)
    st = Study({"walk": net}, fac, dem, areas, label="border")
    whole = run(st, isochrones="none", **KW)
    split = run_split(st, **KW)
    _assert_same(whole, split, ["health_centre"])
    dt = split.demand_table
    # w1 and w2 live in the west area; their nearest clinic stands across the border and covers them
    assert dt["health_centre_facility_id"].tolist()[:2] == ["east_clinic", "east_clinic"]
    assert dt["health_centre_covered"].tolist() == [True, True, False]
    assert np.isfinite(dt["health_centre_minutes"].iloc[2])  # beyond the goal: exact minutes, not censored


def test_cut_network_keeps_edges_whole():
    net = grid_network(20)
    region = shapely.box(X0 + 440, Y0 + 440, X0 + 460, Y0 + 460)
    sub, emap = cut_network(net, region, 100.0)
    kept = np.flatnonzero(emap >= 0)
    assert sub.n_edges == len(kept) > 0
    np.testing.assert_array_equal(sub.length_m, net.length_m[kept])  # whole edges, 100 m each
    # every per-edge and per-point array travels with its edge (e.g. ground metres along the geometry)
    off = net.geom_offsets
    pts = np.concatenate([np.arange(off[e], off[e + 1]) for e in kept])
    np.testing.assert_array_equal(sub.geom_xy, net.geom_xy[pts])
    np.testing.assert_array_equal(sub.geom_cum_m, net.geom_cum_m[pts])
    np.testing.assert_array_equal(sub.highway_code, net.highway_code[kept])
    # the 100 m halo reaches x = 340..560: edges from 300 to 400 and 500 to 600 m are included whole
    xs = sub.geom_xy[:, 0] - X0
    assert xs.min() == pytest.approx(300.0) and xs.max() == pytest.approx(600.0)
    zone = region.buffer(100.0)
    assert all(zone.intersects(g) for g in sub.edge_geoms)
    assert not any(zone.intersects(g) for g in net.edge_geoms[emap < 0])
    whole, same = cut_network(net, region, float("inf"))
    assert whole is net and (same == np.arange(net.n_edges)).all()


def test_halo_is_longest_goal_plus_snap():
    st = grid_study(seed=0)
    prep = prepare(st, RunOptions(minutes=3.0, max_snap_m=60.0))
    assert halo_m(prep.goals, prep.max_snap_m) == pytest.approx(3.0 * prep.goals["aed"].speed_kmh * 1000 / 60 + 60.0)


def test_split_needs_areas():
    st = grid_study(seed=0, with_areas=False)
    with pytest.raises(planner.InputError, match="needs area boundaries") as exc:
        run_split(st)
    assert "按区域拆分需要区域边界" in exc.value.message("zh")
    with pytest.raises(planner.InputError, match="no area 'Z'"):
        run_part(prepare(grid_study(seed=0)), "Z")


def test_inputs_unchanged():
    st = grid_study(seed=2)
    before = st.demand.gdf.copy(), st.facilities.copy()
    run_split(st, **KW)
    pd.testing.assert_frame_equal(st.demand.gdf, before[0])
    pd.testing.assert_frame_equal(st.facilities, before[1])
    assert part_keys(st) == ["A", "B"]


DEMO = StudySpec(network=NetworkSource(demo=True, demo_scale=0.4, demo_seed=11), goals=Goals(types=("health_centre", "aed")))


def test_split_equals_whole_on_the_demo():
    st = planner.load_study(DEMO)
    whole = planner.coverage(st, isochrones="none")
    split = run_split(st)
    _assert_same(whole, split, ["health_centre", "aed"])


# ============================================================================ Dask (in-process LocalCluster)
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from planner.batch import close_client, start_client

    c = start_client(workers=2, processes=False)
    yield c
    close_client(c)


def test_split_on_dask_equals_whole_and_reruns_skip_done_parts(client, tmp_path):
    from planner.batch import split_on_dask

    seen = []
    br = split_on_dask(client, DEMO, out=tmp_path, progress=lambda *a: seen.append(a))
    assert br.ok and len(seen) == len(br.runs) == len(planner.load_study(DEMO).areas)
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1))
    whole = planner.coverage(planner.load_study(DEMO), isochrones="none")
    _assert_same(whole, br.result, ["health_centre", "aed"])
    assert br.summary["dask"]["workers"] == 2
    assert all((tmp_path / "parts" / a / "summary.json").exists() for a in planner.load_study(DEMO).areas["area_id"])
    assert all("seconds" in p and "worker" in p for p in br.summary["split"]["parts_detail"])
    assert set(br.table["type"]) == {"health_centre", "aed"}
    # a rerun reads the finished parts back (bit for bit) instead of computing them
    again = split_on_dask(client, DEMO, out=tmp_path)
    assert all(p.info.get("reused") for p in again.runs)
    _assert_same(whole, again.result, ["health_centre", "aed"])
    # other options: the parts are recomputed
    other = split_on_dask(client, DEMO, out=tmp_path, minutes=5.0)
    assert not any(p.info.get("reused") for p in other.runs)


def test_studies_on_dask_reports_a_failed_study_and_finishes_the_others(client, tmp_path):
    from planner.batch import studies_on_dask

    good = [(f"d{s}", StudySpec(network=NetworkSource(demo=True, demo_scale=0.1, demo_seed=s), goals=Goals(types=("aed",))), None)
            for s in (1, 2)]
    bad = ("broken", StudySpec(network=NetworkSource(path=str(tmp_path / "missing.osm.pbf"))), None)
    br = studies_on_dask(client, [good[0], bad, good[1]], out=tmp_path)
    assert [r.name for r in br.runs] == ["d1", "d2"]
    assert len(br.failures) == 1 and br.failures[0]["study"] == "broken" and "missing.osm.pbf" in br.failures[0]["error"]
    assert (tmp_path / "parts" / "d1" / "demand.csv").exists() and (tmp_path / "parts" / "d1" / "summary.json").exists()
    for r in br.runs:  # batch.csv agrees with each study's own summary
        row = br.table[(br.table["study"] == r.name) & (br.table["type"] == "aed")].iloc[0]
        assert row["share"] == r.summary["types"]["aed"]["coverage_share"]
    one = planner.coverage(planner.load_study(good[0][1]), isochrones="none")
    assert br.table.iloc[0]["covered"] == one.summary["types"]["aed"]["demand_covered"]
    again = studies_on_dask(client, good, out=tmp_path)
    assert all(r.info.get("reused") for r in again.runs)
    pd.testing.assert_frame_equal(again.table, br.table)


def test_siting_per_study_on_dask(client, tmp_path):
    from planner.batch import siting_on_dask
    from planner.siting import propose_sites

    studies = [(f"d{s}", StudySpec(network=NetworkSource(demo=True, demo_scale=0.1, demo_seed=s)), None) for s in (1, 2)]
    br = siting_on_dask(client, studies, "aed", count=3, out=tmp_path)
    assert br.ok and list(br.table["study"]) == ["d1", "d2"] and (br.table["new_sites"] == 3).all()
    own = propose_sites(planner.load_study(studies[1][1]), "aed", count=3)
    assert br.table.iloc[1]["share_after"] == own.share_after
    assert (tmp_path / "parts" / "d2" / "proposals.csv").exists()
    again = siting_on_dask(client, studies, "aed", count=3, out=tmp_path)
    assert all(r.info.get("reused") for r in again.runs)
    pd.testing.assert_frame_equal(again.table, br.table)
    assert not any(r.info.get("reused") for r in siting_on_dask(client, studies, "aed", count=4, out=tmp_path).runs)


# ============================================================================ the command line
def test_cli_batch_of_study_files_and_split(tmp_path):
    import json

    from planner.cli import main
    from planner.study import write_study_file

    files = []
    for s in (1, 2):
        f = tmp_path / f"district{s}.toml"
        write_study_file(StudySpec(network=NetworkSource(demo=True, demo_scale=0.1, demo_seed=s), goals=Goals(types=("aed",))), f)
        files.append(str(f))
    out = tmp_path / "many"
    assert main(["batch", *files, "--workers", "2", "--threads", "--out", str(out), "--lang", "en"]) == 0
    for name in ("demand.csv", "areas.csv", "summary.json", "batch.csv", "map.html", "report.html"):
        assert (out / name).exists(), name
    batch = pd.read_csv(out / "batch.csv", encoding="utf-8-sig")
    assert list(batch["study"]) == ["district1", "district2"] and (batch["type"] == "aed").all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["dask"]["workers"] == 2 and len(summary["studies"]) == 2
    assert set(pd.read_csv(out / "demand.csv", encoding="utf-8-sig")["study"]) == {"district1", "district2"}
    assert "district2" in (out / "report.html").read_text(encoding="utf-8")

    split = tmp_path / "split"
    args = ["batch", "--study", files[0], "--split-by-areas", "--workers", "1", "--threads", "--out", str(split), "--no-map"]
    assert main(args) == 0
    s = json.loads((split / "summary.json").read_text(encoding="utf-8"))
    whole = planner.coverage(planner.load_study(files[0]), isochrones="none")
    assert s["types"]["aed"]["coverage_share"] == whole.summary["types"]["aed"]["coverage_share"]
    assert s["dask"]["workers"] == 1 and len(s["split"]["parts_detail"]) == len(whole.study.areas)
    assert all("seconds" in p for p in s["split"]["parts_detail"])
    assert (split / "report.html").exists() and not (split / "map.html").exists()
    assert "<svg" in (split / "report.html").read_text(encoding="utf-8")  # the one-page summary with its static map


def test_cli_batch_refuses_what_it_cannot_do(tmp_path, capsys):
    from planner.cli import main

    assert main(["batch", "--out", str(tmp_path)]) == 2
    assert "Give study files" in capsys.readouterr().err
    assert main(["batch", "a.toml", "--split-by-areas", "--out", str(tmp_path)]) == 2
    assert "splits one study" in capsys.readouterr().err
    assert main(["batch", "a.toml", "--propose-count", "3", "--out", str(tmp_path), "--lang", "en"]) == 2
    assert "exactly one --type" in capsys.readouterr().err
    assert main(["batch", "a.toml", "--facilities", "x.csv", "--coords", "gcj02", "--out", str(tmp_path), "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "--facilities, --coords would be ignored" in err
    assert main(["batch", "a.toml", "--facilities", "x.csv", "--out", str(tmp_path)]) == 2
    assert "使用研究文件时" in capsys.readouterr().err


def test_second_pass_zone_holds_every_disc():
    from planner.batch import _discs_by_cell

    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 3000, 400), rng.uniform(0, 3000, 400)
    r = rng.uniform(10, 2000, 400)
    zone = _discs_by_cell(x, y, r)
    ang = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    px = (x[:, None] + r[:, None] * np.cos(ang)).ravel()
    py = (y[:, None] + r[:, None] * np.sin(ang)).ravel()
    assert shapely.covers(zone, shapely.points(px, py)).all()


def test_split_equals_whole_on_real_huangpu_streets_and_subdistricts(huangpu_osm, subdistricts_geojson, tmp_path):
    """Real OSM streets (People's Square) and real subdistrict borders: 8 subdistricts cut the extract."""
    from planner.study import Layer

    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(121.4611, 121.4863, 12), rng.uniform(31.2196, 31.2412, 12)
    pd.DataFrame({"id": [f"c{i}" for i in range(12)], "name": [f"站{i}" for i in range(12)],
                  "type": ["health_centre"] * 6 + ["aed"] * 6, "lon": lon, "lat": lat}).to_csv(tmp_path / "f.csv", index=False)
    spec = StudySpec(network=NetworkSource(path=str(huangpu_osm)), facilities=(Layer(str(tmp_path / "f.csv")),),
                     areas=Layer(str(subdistricts_geojson)), goals=Goals(minutes=5))
    st = planner.load_study(spec, cache_dir=tmp_path / "cache")
    assert len(st.areas) > 3
    whole = planner.coverage(st, isochrones="none")
    split = run_split(st)
    _assert_same(whole, split, ["health_centre", "aed"])


def test_split_on_dask_a_failed_part_then_a_rerun_finishes_it(client, tmp_path, monkeypatch):
    import planner.batch as batch

    real = batch.run_part

    def flaky(prep, area_id):
        if area_id == "A02":
            raise RuntimeError("disk full")
        return real(prep, area_id)

    monkeypatch.setattr(batch, "run_part", flaky)  # the workers are threads of this process
    br = batch.split_on_dask(client, DEMO, out=tmp_path)
    assert br.result is None and not br.ok
    assert len(br.failures) == 1 and "A02" in br.failures[0]["part"] and "disk full" in br.failures[0]["error"]
    n = len(planner.load_study(DEMO).areas)
    assert len(br.runs) == n - 1 and (tmp_path / "parts" / "A01" / "part.json").exists()
    assert not (tmp_path / "parts" / "A02" / "part.json").exists()
    written = batch.write_batch(br, tmp_path / "merged")
    assert "failures.csv" in written and "demand.csv" not in written
    monkeypatch.setattr(batch, "run_part", real)
    again = batch.split_on_dask(client, DEMO, out=tmp_path)
    assert again.ok and [p.area_id for p in again.runs if not p.info.get("reused")] == ["A02"]
    _assert_same(planner.coverage(planner.load_study(DEMO), isochrones="none"), again.result, ["health_centre", "aed"])


def test_an_area_without_residents():
    st = grid_study(seed=0, n=20, n_fac=6, n_dem=50)
    net = st.networks["walk"]
    geoms = [shapely.box(X0 - 50, Y0 - 50, X0 + 1000, Y0 + 1950), shapely.box(X0 + 1000, Y0 - 50, X0 + 1950, Y0 + 1950),
             shapely.box(X0 + 1950, Y0 - 50, X0 + 1960, Y0 + 1950)]  # a sliver: no resident lives there
    areas = gpd.GeoDataFrame({"area_id": ["A", "B", "C"], "name": ["a", "b", "c"]}, geometry=geoms, crs=net.crs).to_crs(4326)
    st = Study(st.networks, st.facilities, st.demand, areas)
    split = run_split(st, **KW)
    _assert_same(run(st, isochrones="none", **KW), split, ["health_centre", "aed"])
    assert split.summary["split"]["parts_detail"][2]["demand_points"] == 0


def test_a_changed_input_file_changes_the_fingerprint(tmp_path):
    import os

    from planner.batch import _spec_text
    from planner.study import Layer

    f = tmp_path / "f.csv"
    f.write_text("id,lon,lat,type\na,121.4,31.2,aed\n", encoding="utf-8")
    spec = StudySpec(network=NetworkSource(demo=True), facilities=(Layer(str(f)),))
    before = _spec_text(spec, None)
    assert _spec_text(spec, None) == before
    f.write_text("id,lon,lat,type\na,121.41,31.2,aed\n", encoding="utf-8")
    os.utime(f, ns=(1, 1))
    assert _spec_text(spec, None) != before


def test_batch_report_escapes_names_and_lists_failures():
    from maps.batch_report import batch_report_html
    from planner.batch import batch_table

    stats = {"type": "aed", "target_minutes": 1.5, "demand_total": 100.0, "demand_covered": 25.0,
             "coverage_share": 0.25, "mean_minutes": 3.0, "p90_minutes": float("nan")}
    table = batch_table([("<script>x</script>", stats), ("长宁", {**stats, "coverage_share": 0.9, "demand_covered": 90.0})])
    html = batch_report_html(table, lang="zh", label="上海", failures=[{"study": "徐汇", "part": "", "error": "找不到路网文件"}])
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "徐汇" in html and "找不到路网文件" in html and "failures.csv" in html
    assert html.index("&lt;script&gt;") < html.index("长宁")  # lowest coverage first
    en = batch_report_html(table, lang="en")
    assert "Share" in en and "25.0%" in en and "–" in en  # NaN p90 shown as a dash
    with pytest.raises(ValueError):
        batch_report_html(table, lang="fr")


def test_split_refuses_what_a_whole_run_refuses():
    st = grid_study(seed=0)
    fac = st.facilities.copy()
    fac.loc[0, "type"] = "teleporter"
    with pytest.raises(planner.InputError, match="not defined") as exc:
        run_split(Study(st.networks, fac, st.demand, st.areas), types=["aed"])
    assert "类型未定义" in exc.value.message("zh")
    g = st.demand.gdf.assign(population=0.0)
    with pytest.raises(planner.InputError, match="no demand") as exc:
        run_split(Study(st.networks, st.facilities, planner.demand.demand_from_points(g), st.areas))
    assert "没有可评估的需求" in exc.value.message("zh")


def test_cli_batch_on_a_running_cluster(client, tmp_path):
    import json

    from planner.cli import main
    from planner.study import write_study_file

    f = tmp_path / "one.toml"
    write_study_file(StudySpec(network=NetworkSource(demo=True, demo_scale=0.1, demo_seed=4), goals=Goals(types=("aed",))), f)
    out = tmp_path / "out"
    assert main(["batch", str(f), "--scheduler", client.scheduler.address, "--out", str(out), "--no-map"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["dask"]["scheduler"] == client.scheduler.address and summary["dask"]["workers"] == 2
    assert client.status == "running"  # the CLI closed its own client, not the cluster
