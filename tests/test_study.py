"""One study, one builder: study files, per-layer coordinate systems, and the CLI, the API and the app agreeing."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import planner
from planner import InputError
from planner.cli import main
from planner.coords import wgs84_to_bd09, wgs84_to_gcj02
from planner.demo import make_district
from planner.export import jsonable
from planner.study import Goals, Layer, NetworkSource, StudySpec, read_study_file, study_toml, write_study_file

SCALE = 0.3


@pytest.fixture(scope="module")
def district():
    return make_district(scale=SCALE)


def _stations(district):
    return district.facilities[district.facilities["type"] == "service_station"].head(12)


def write_inputs(folder, district, *, fac_system="gcj02"):
    """Stations in ``fac_system`` (as an Amap/Baidu export, GBK), residents in WGS-84."""
    folder.mkdir(parents=True, exist_ok=True)
    f = _stations(district)
    lon, lat = f["lon"].to_numpy(), f["lat"].to_numpy()
    if fac_system == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif fac_system == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    pd.DataFrame({"编号": f["id"], "名称": f["name"], "经度": lon, "纬度": lat}).to_csv(
        folder / f"stations_{fac_system}.csv", index=False, encoding="gbk")
    d = district.demand.iloc[::7]
    pd.DataFrame({"id": d["id"], "lon": d.geometry.x, "lat": d.geometry.y, "population": d["population"]}).to_csv(
        folder / "residents.csv", index=False)
    return folder / f"stations_{fac_system}.csv", folder / "residents.csv"


STUDY = """\
label = "Stations test"
[network]
demo = true
demo_scale = {scale}
[[facilities]]
path = "{fac}"
coords = "{system}"
type = "service_station"
columns = {{ lon = "经度", lat = "纬度", id = "编号" }}
[demand]
path = "residents.csv"
coords = "wgs84"
[goals]
types = ["service_station"]
minutes = 12
"""


def write_study(folder, fac, system):
    path = folder / "study.toml"
    path.write_text(STUDY.format(scale=SCALE, fac=fac.name, system=system), encoding="utf-8")
    return path


def comparable(summary: dict) -> dict:
    """What must agree between front ends (timings and run options differ)."""
    s = json.loads(json.dumps(jsonable(summary), ensure_ascii=False))
    return {k: s[k] for k in ("types", "demand", "facilities", "inputs", "network")}


# ---------------------------------------------------------------------------------------- study files
def test_study_file_round_trips(tmp_path):
    spec = StudySpec(
        network=NetworkSource(path=str(tmp_path / "x.osm.pbf"), facilities=True),
        facilities=(Layer(tmp_path / "aed.xlsx", coords="gcj02", type="aed", columns={"lon": "经度", "lat": "纬度"}, sheet="AED"),
                    Layer(tmp_path / "st.csv", coords="bd09", skip_invalid=True)),
        demand=Layer(tmp_path / "pop.csv"), areas=Layer(tmp_path / "a.geojson", name_column="名称", coords="EPSG:4490"),
        goals=Goals(minutes=15, speed_kmh=4.2, types=("aed",), max_snap_m=250.0), label='长宁 "区"',
        outside_tolerance_m=500.0, keep_outside_demand=True,
    )
    path = write_study_file(spec, tmp_path / "study.toml")
    text = path.read_text(encoding="utf-8")
    assert 'path = "aed.xlsx"' in text  # written relative to the file's folder
    back, base_dir = read_study_file(path)
    assert base_dir == tmp_path.resolve()
    from planner.study import resolved

    assert resolved(back, base_dir) == spec


@pytest.mark.parametrize("text, words", [
    ("[network]\n", "path, place, demo"),
    ("[network]\ndemo = true\n[[facilities]]\ncoords = 'gcj02'\n", "path"),
    ("[network]\ndemo = true\n[goals]\nminutes = -3\n", "minutes"),
    ("[network]\ndemo = true\n[goals]\nminuets = 3\n", "minuets"),
    ("coords = 'gcj-03'\n[network]\ndemo = true\n", "gcj-03"),
    ("[network]\ndemo = true\n[demand]\npath = 'x.csv'\ncolumns = 'lon'\n", "columns"),
    ("[network\ndemo = true\n", "TOML"),
])
def test_bad_study_files_say_what_is_wrong(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        planner.load_study(path)
    assert "bad.toml" in exc.value.message("en") and words in exc.value.message("en")
    assert "bad.toml" in exc.value.message("zh")
    assert main(["coverage", "--study", str(path), "--out", str(tmp_path / "o")]) == 2


# ---------------------------------------------------------------------------------------- per-layer coordinates
def test_gcj02_facilities_with_wgs84_demand_equal_the_wgs84_sites(tmp_path, district):
    """The Amap list next to a WGS-84 demand file: each layer in its own system gives the WGS-84 figures exactly."""
    gcj, residents = write_inputs(tmp_path, district, fac_system="gcj02")
    wgs, _ = write_inputs(tmp_path, district, fac_system="wgs84")
    ref = planner.coverage(planner.load_study(demo=True, demo_scale=SCALE, facilities=[Layer(wgs, type="service_station")],
                                              demand=residents), isochrones="none")
    share = ref.summary["types"]["service_station"]["coverage_share"]
    assert 0 < share < 1

    # study file
    res = planner.coverage(planner.load_study(write_study(tmp_path, gcj, "gcj02")), minutes=15, isochrones="none")
    assert res.summary["types"]["service_station"]["coverage_share"] == share
    assert res.summary["inputs"]["facilities"][0]["coords"] == "gcj02"
    assert res.summary["inputs"]["demand"]["coords"] == "wgs84"

    # public API
    study = planner.load_study(demo=True, demo_scale=SCALE, facilities=[planner.Layer(gcj, coords="gcj02", type="service_station")],
                               demand=residents)
    assert planner.coverage(study, isochrones="none").summary["types"]["service_station"]["coverage_share"] == share

    # CLI: --facilities-coords for that role only (the demand file stays WGS-84)
    out = tmp_path / "cli"
    assert main(["coverage", "--demo", "--demo-scale", str(SCALE), "--facilities", str(gcj), "--facilities-coords", "gcj02",
                 "--default-type", "service_station", "--demand", str(residents), "--no-map", "--isochrones", "none",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["types"]["service_station"]["coverage_share"] == share
    assert s["inputs"]["facilities"][0]["coords"] == "gcj02" and s["inputs"]["demand"]["coords"] == "wgs84"

    # the old single --coords shifts the residents too: the figure changes (what the role flags fix)
    assert main(["coverage", "--demo", "--demo-scale", str(SCALE), "--facilities", str(gcj), "--coords", "gcj02",
                 "--default-type", "service_station", "--demand", str(residents), "--no-map", "--isochrones", "none",
                 "--out", str(tmp_path / "old")]) == 0
    s_old = json.loads((tmp_path / "old" / "summary.json").read_text(encoding="utf-8"))
    assert s_old["types"]["service_station"]["coverage_share"] != share


def test_bd09_role_flag_and_study_override(tmp_path, district):
    bd, residents = write_inputs(tmp_path, district, fac_system="bd09")
    wgs, _ = write_inputs(tmp_path, district, fac_system="wgs84")
    ref = planner.coverage(planner.load_study(demo=True, demo_scale=SCALE, facilities=[Layer(wgs, type="service_station")],
                                              demand=residents), isochrones="none")
    # a study file that says wgs84, corrected on the command line for the facilities only
    study_file = write_study(tmp_path, bd, "wgs84")
    out = tmp_path / "o"
    assert main(["coverage", "--study", str(study_file), "--facilities-coords", "bd09", "--minutes", "15", "--no-map",
                 "--isochrones", "none", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["types"]["service_station"]["coverage_share"] == ref.summary["types"]["service_station"]["coverage_share"]
    # the study.toml written with the run reproduces it from another folder
    used = out / "study.toml"
    assert "bd09" in used.read_text(encoding="utf-8") and "minutes = 15.0" in used.read_text(encoding="utf-8")
    again = planner.coverage(planner.load_study(used), isochrones="none")
    assert again.summary["types"]["service_station"]["coverage_share"] == s["types"]["service_station"]["coverage_share"]


def test_flags_override_the_study_file(tmp_path, district):
    gcj, residents = write_inputs(tmp_path, district, fac_system="gcj02")
    study_file = write_study(tmp_path, gcj, "gcj02")
    out = tmp_path / "o"
    assert main(["coverage", "--study", str(study_file), "--minutes", "5", "--no-map", "--isochrones", "none",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["types"]["service_station"]["target_minutes"] == 5  # the file said 12
    assert s["study"] == "Stations test"


# ---------------------------------------------------------------------------------------- one builder, three front ends
def app_summary(monkeypatch, tmp_path, study_file):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, TIMEOUT

    monkeypatch.setenv("PLANNER_DATA", str(tmp_path / "appdata"))
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PLANNER_STUDY", str(study_file))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cli_api_and_app_build_the_same_study(tmp_path, monkeypatch, district):
    gcj, _ = write_inputs(tmp_path, district, fac_system="gcj02")
    study_file = write_study(tmp_path, gcj, "gcj02")
    api = planner.coverage(planner.load_study(study_file), isochrones="none").summary
    assert main(["coverage", "--study", str(study_file), "--no-map", "--isochrones", "none", "--out", str(tmp_path / "o")]) == 0
    cli = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    at = app_summary(monkeypatch, tmp_path, study_file)
    app = at.session_state["summary"]
    assert comparable(cli) == comparable(api) == comparable(app)
    assert api["types"]["service_station"]["target_minutes"] == 12
    assert any("Stations test" in c.value for c in at.caption)


def test_mixed_demand_gives_one_clear_error_everywhere(tmp_path, monkeypatch, district):
    import geopandas as gpd
    from shapely.geometry import Point, box

    d = district.demand.iloc[:4]
    x, y = float(d.geometry.x.iloc[0]), float(d.geometry.y.iloc[0])
    mixed = gpd.GeoDataFrame({"id": ["a", "b"], "population": [10.0, 20.0]},
                             geometry=[Point(x, y), box(x, y, x + 0.002, y + 0.002)], crs=4326)
    path = tmp_path / "mixed.geojson"
    mixed.to_file(path, driver="GeoJSON")
    study_file = tmp_path / "study.toml"
    study_file.write_text(f"[network]\ndemo = true\ndemo_scale = {SCALE}\n[demand]\npath = \"mixed.geojson\"\n", encoding="utf-8")
    want_en = "mixed.geojson mixes points (1) and polygons (1)"
    want_zh = "mixed.geojson 同时包含点（1 个）和面（1 个）"

    with pytest.raises(InputError) as exc:
        planner.load_study(demo=True, demo_scale=SCALE, demand=path)
    assert want_en in exc.value.message("en") and want_zh in exc.value.message("zh")

    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["coverage", "--study", str(study_file), "--out", str(tmp_path / "o")]) == 2
    assert want_zh in err.getvalue() and want_en in err.getvalue() and "Traceback" not in err.getvalue()

    at = app_summary(monkeypatch, tmp_path, study_file)
    errors = "\n".join(e.value for e in at.error)
    assert want_zh in errors
    # and as an upload onto the app's current study
    at.radio(key="demand_kind__zh").set_value("file").run()
    at.file_uploader(key="up_demand").upload("mixed.geojson", path.read_bytes(), "application/geo+json").run()
    assert not at.exception
    assert want_zh in "\n".join(e.value for e in at.error)


def test_propose_through_the_api_and_the_cli_agree(tmp_path, district):
    gcj, _ = write_inputs(tmp_path, district, fac_system="gcj02")
    study_file = write_study(tmp_path, gcj, "gcj02")
    res = planner.propose(planner.load_study(study_file), "service_station", count=3)
    assert main(["propose", "--study", str(study_file), "--count", "3", "--no-map", "--out", str(tmp_path / "p")]) == 0
    cli = pd.read_csv(tmp_path / "p" / "proposals.csv")
    assert list(cli["id"].astype(str)) == list(res.sites["id"].astype(str))
    np.testing.assert_allclose(cli["marginal_demand"], res.sites["marginal_demand"])
    assert (tmp_path / "p" / "study.toml").exists()


def test_candidates_layer_limits_where_sites_go(tmp_path, district):
    nodes = district.demand.iloc[::50].head(5)
    cand = tmp_path / "rooms.csv"
    pd.DataFrame({"id": [f"R{i}" for i in range(len(nodes))], "lon": nodes.geometry.x, "lat": nodes.geometry.y}).to_csv(cand, index=False)
    study = planner.load_study(demo=True, demo_scale=SCALE, candidates=cand)
    res = planner.propose(study, "aed", count=2)
    assert set(res.sites["id"]) <= {f"R{i}" for i in range(5)}


def _rooms_and_zone(tmp_path, district):
    """Eight candidate rooms and one exclusion polygon (a park) around the first three of them."""
    import geopandas as gpd
    from shapely.geometry import box

    pts = district.demand.iloc[::40].head(8)
    cand = tmp_path / "rooms.csv"
    pd.DataFrame({"id": [f"R{i}" for i in range(len(pts))], "lon": pts.geometry.x, "lat": pts.geometry.y}).to_csv(cand, index=False)
    inside = pts.iloc[:3]
    others = pts.iloc[3:]
    # a box around each of the first three rooms, small enough to leave the others out
    boxes = [box(x - 1e-5, y - 1e-5, x + 1e-5, y + 1e-5) for x, y in zip(inside.geometry.x, inside.geometry.y)]
    assert not any(b.intersects(p) for b in boxes for p in others.geometry)
    zone = tmp_path / "parks.geojson"
    gpd.GeoDataFrame({"名称": ["公园A", "公园B", "公园C"]}, geometry=boxes, crs=4326).to_file(zone, driver="GeoJSON")
    return cand, zone


def test_exclusion_zones_remove_candidates_and_say_how_many(tmp_path, district):
    cand, zone = _rooms_and_zone(tmp_path, district)
    study = planner.load_study(demo=True, demo_scale=SCALE, candidates=cand, exclusions=zone)
    assert sorted(study.candidates["id"]) == [f"R{i}" for i in range(3, 8)]
    note = next(n for n in study.notes if n.code == "candidates_excluded")
    assert "3 of 8" in note.message("en") and "8 个候选点中有 3 个" in note.message("zh") and "parks.geojson" in note.message("en")
    assert study.meta["inputs"]["exclusions"]["rows"] == 3 and study.meta["inputs"]["candidates"]["excluded"] == 3
    res = planner.propose(study, "aed", count=2)
    assert set(res.sites["id"]) <= {f"R{i}" for i in range(3, 8)}
    # a place inside a zone is refused by name; one outside is not
    x, y = study.exclusions.geometry.iloc[0].centroid.coords[0]
    assert study.exclusion_at(x, y) == "公园A" and study.excluded([x], [y]).tolist() == [True]
    r = study.candidates.iloc[0]
    assert study.exclusion_at(r["lon"], r["lat"]) is None
    # through a study file, and back to the same spec
    (tmp_path / "s.toml").write_text(f'[network]\ndemo = true\ndemo_scale = {SCALE}\n[candidates]\npath = "rooms.csv"\n'
                                      '[exclusions]\npath = "parks.geojson"\n', encoding="utf-8")
    spec, folder = read_study_file(tmp_path / "s.toml")
    assert spec.exclusions == Layer("parks.geojson")
    again = planner.load_study(tmp_path / "s.toml")
    assert sorted(again.candidates["id"]) == sorted(study.candidates["id"])
    text = study_toml(spec)
    assert "[exclusions]" in text and read_study_file(tmp_path / "s.toml")[0] == spec


def test_exclusion_zones_keep_generated_candidates_out(tmp_path, district):
    import geopandas as gpd
    from shapely.geometry import box

    study = planner.load_study(demo=True, demo_scale=SCALE)
    lon0, lat0, lon1, lat1 = study.networks["walk"].bounds_lonlat
    west = box(lon0 - 0.01, lat0 - 0.01, (lon0 + lon1) / 2, lat1 + 0.01)  # the western half is off limits
    zone = tmp_path / "west.geojson"
    gpd.GeoDataFrame({"name": ["west"]}, geometry=[west], crs=4326).to_file(zone, driver="GeoJSON")
    fenced = planner.load_study(demo=True, demo_scale=SCALE, exclusions=zone)
    res = planner.propose(fenced, "aed", count=4)
    assert (res.sites["lon"] > (lon0 + lon1) / 2).all()


def test_propose_cli_takes_exclusions(tmp_path, district):
    cand, zone = _rooms_and_zone(tmp_path, district)
    out = tmp_path / "p"
    assert main(["propose", "--demo", "--demo-scale", str(SCALE), "--type", "aed", "--count", "2", "--candidates", str(cand),
                 "--exclusions", str(zone), "--exclusions-coords", "wgs84", "--out", str(out)]) == 0
    got = pd.read_csv(out / "proposals.csv")
    assert set(got["id"]) <= {f"R{i}" for i in range(3, 8)}
    html = (out / "map.html").read_text(encoding="utf-8")  # both layers drawn, with legend entries
    assert html.count("pm-cand") >= 2 and json.dumps("禁建区（不可新增点位）")[1:-1] in html
    assert "[exclusions]" in (out / "study.toml").read_text(encoding="utf-8")


def test_a_file_with_unrecognised_columns_loads_through_a_column_mapping(tmp_path, district):
    """Headers detection does not know: the study file's ``columns`` (what the app's mapping dialog writes) read it."""
    f = _stations(district)
    pd.DataFrame({"单位": f["name"], "X坐标值": f["lon"], "Y坐标值": f["lat"], "性质": "service_station"}).to_csv(
        tmp_path / "机构.csv", index=False)
    with pytest.raises(InputError) as e:
        planner.load_study(demo=True, demo_scale=SCALE, facilities=[tmp_path / "机构.csv"])
    assert {p.code for p in e.value.problems} == {"missing_column"}
    (tmp_path / "s.toml").write_text(
        f'[network]\ndemo = true\ndemo_scale = {SCALE}\n[[facilities]]\npath = "机构.csv"\n'
        'columns = { name = "单位", lon = "X坐标值", lat = "Y坐标值", type = "性质" }\n', encoding="utf-8")
    study = planner.load_study(tmp_path / "s.toml")
    got = study.facilities[study.facilities["source_file"] == "机构.csv"]
    assert len(got) == len(f) and sorted(got["name"]) == sorted(f["name"])
    np.testing.assert_allclose(np.sort(got["lon"].to_numpy(float)), np.sort(f["lon"].to_numpy(float)))
    spec, _ = read_study_file(tmp_path / "s.toml")
    assert 'columns = { lat = "Y坐标值", lon = "X坐标值", name = "单位", type = "性质" }' in study_toml(spec)


def test_study_toml_of_a_spec_is_readable_text():
    spec = StudySpec(network=NetworkSource(place="长宁区, 上海市, 中国"), facilities=(Layer("a.csv", coords="gcj02"),))
    text = study_toml(spec)
    assert 'place = "长宁区, 上海市, 中国"' in text and "[[facilities]]" in text and 'coords = "gcj02"' in text


def test_moving_one_facility(district):
    study = planner.load_study(demo=True, demo_scale=SCALE)
    f = study.facilities[study.facilities["type"] == "health_centre"].iloc[0]
    moved = study.with_facility_moved(f["id"], f["lon"] + 0.004, f["lat"] - 0.002)
    row = moved.facilities[moved.facilities["id"] == f["id"]].iloc[0]
    assert (row["lon"], row["lat"]) == (f["lon"] + 0.004, f["lat"] - 0.002)
    assert row.geometry.x == row["lon"] and len(moved.facilities) == len(study.facilities)
    assert study.facilities.loc[study.facilities["id"] == f["id"], "lon"].iloc[0] == f["lon"]  # input unchanged
    # moving it back where it was gives the original figures exactly
    back = moved.with_facility_moved(f["id"], f["lon"], f["lat"])
    a = planner.coverage(study, types=["health_centre"], isochrones="none").summary["types"]["health_centre"]
    b = planner.coverage(back, types=["health_centre"], isochrones="none").summary["types"]["health_centre"]
    assert a == b
    with pytest.raises(InputError, match="outside the street network"):
        study.with_facility_moved(f["id"], 122.5, 31.2)
    with pytest.raises(InputError, match="No facility with id"):
        study.with_facility_moved("nope", f["lon"], f["lat"])


def test_catchments_add_up_and_match_a_direct_count(district):
    study = planner.load_study(demo=True, demo_scale=SCALE)
    res = planner.coverage(study, types=["health_centre"], isochrones="none")
    c = res.catchments("health_centre")
    s = res.summary["types"]["health_centre"]
    assert c["within_goal"].sum() == pytest.approx(s["demand_covered"])
    dt = res.demand_table
    reached = dt[np.isfinite(dt["health_centre_minutes"])]
    assert (c["within_goal"] + c["beyond_goal"]).sum() == pytest.approx(reached["population"].sum())
    # one facility, counted directly
    fid = c["id"].iloc[0]
    mine = reached[(reached["health_centre_facility_id"].astype(str) == fid) & (reached["health_centre_minutes"] > 5)
                   & (reached["health_centre_minutes"] <= 10)]
    assert c["band_2"].iloc[0] == pytest.approx(mine["population"].sum())
    assert set(c["id"]) == set(study.facilities.loc[study.facilities["type"] == "health_centre", "id"])


def test_allow_large_population_reaches_the_reader_from_every_front_end(tmp_path, district):
    d = district.demand.iloc[:30]
    big = tmp_path / "big.csv"
    pd.DataFrame({"id": d["id"], "lon": d.geometry.x, "lat": d.geometry.y,
                  "population": [2e7] + [10.0] * (len(d) - 1)}).to_csv(big, index=False)
    with pytest.raises(InputError, match="allow-large-population"):
        planner.load_study(demo=True, demo_scale=SCALE, demand=big)
    study = planner.load_study(demo=True, demo_scale=SCALE, demand=big, allow_large_population=True)
    assert study.demand.population.max() == 2e7
    f = tmp_path / "s.toml"
    f.write_text(f"[network]\ndemo = true\ndemo_scale = {SCALE}\n[demand]\npath = \"big.csv\"\n"
                 "[options]\nallow_large_population = true\n", encoding="utf-8")
    assert planner.load_study(f).demand.population.max() == 2e7
    args = ["coverage", "--demo", "--demo-scale", str(SCALE), "--demand", str(big), "--type", "aed", "--no-map",
            "--isochrones", "none", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert main(args + ["--allow-large-population"]) == 0


# ---------------------------------------------------------------------------------------- population sources
def _demo_raster(tmp_path, study):
    import rasterio
    from rasterio.transform import from_origin

    net = study.networks["walk"]
    x0, x1, y0, y1 = float(net.x.min()), float(net.x.max()), float(net.y.min()), float(net.y.max())
    rng = np.random.default_rng(1)
    w, h = int((x1 - x0) // 100) + 4, int((y1 - y0) // 100) + 4
    data = rng.gamma(2.0, 20.0, (h, w)).astype("float32")
    data[rng.random(data.shape) < 0.4] = 0
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32", crs=net.crs,
                       transform=from_origin(x0 - 200, y1 + 200, 100, 100)) as dst:
        dst.write(data[None])
    return path, data


def test_population_raster_and_census_table_through_every_front_end(tmp_path, district):
    pytest.importorskip("rasterio")
    base = planner.load_study(demo=True, demo_scale=SCALE)
    tif, data = _demo_raster(tmp_path, base)
    study = planner.load_study(demo=True, demo_scale=SCALE, demand=tif)
    inp = study.meta["inputs"]["demand"]
    assert inp["kind"] == "raster" and inp["population_kept"] == pytest.approx(study.demand.population.sum(), rel=1e-12)
    assert inp["population_kept"] + inp["population_outside"] == pytest.approx(float(data[data > 0].sum()), rel=1e-6)
    out = tmp_path / "r"
    assert main(["coverage", "--demo", "--demo-scale", str(SCALE), "--demand", str(tif), "--demand-placement", "streets",
                 "--type", "aed", "--no-map", "--isochrones", "none", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["inputs"]["demand"]["placement"] == "streets"
    assert s["demand"]["total"] == pytest.approx(inp["population_kept"], rel=1e-9)  # streets keep each cell's total

    # census: residents per subdistrict, no coordinates, joined to the boundaries by name
    areas = base.areas[["area_id", "name", "geometry"]]
    areas.to_file(tmp_path / "areas.geojson", driver="GeoJSON")
    census = pd.DataFrame({"街道": areas["name"], "常住人口": [10000 + 1000 * i for i in range(len(areas))]})
    census.to_csv(tmp_path / "census.csv", index=False, encoding="gbk")
    study = planner.load_study(demo=True, demo_scale=SCALE, demand=tmp_path / "census.csv", areas=tmp_path / "areas.geojson")
    per = study.demand.gdf.groupby("area_id")["population"].sum()
    want = dict(zip(areas["area_id"], census["常住人口"].astype(float)))
    assert {k: per[k] for k in want} == pytest.approx(want, rel=1e-12)
    out = tmp_path / "c"
    assert main(["coverage", "--demo", "--demo-scale", str(SCALE), "--demand", str(tmp_path / "census.csv"), "--areas",
                 str(tmp_path / "areas.geojson"), "--type", "health_centre", "--no-map", "--isochrones", "none",
                 "--out", str(out)]) == 0
    a = pd.read_csv(out / "areas.csv")
    assert a.set_index("area_id")["demand_total"].to_dict() == pytest.approx(want, rel=1e-9)
    from planner.demo import write_demo

    osm = write_demo(tmp_path / "files", scale=0.2)["osm"]  # a network file: no areas of its own
    with pytest.raises(InputError, match="give the areas"):
        planner.load_study(network=osm, demand=tmp_path / "census.csv")


def test_a_gcj02_file_read_as_wgs84_is_flagged_by_the_builder(tmp_path):
    """On a real street network, an Amap export read as WGS-84 sits clearly off the streets: the builder says so
    (every front end shows the study's notes), naming the better system; read as GCJ-02 it is quiet."""
    from tests.conftest import shared_file

    osm = shared_file("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")
    net = planner.load_study(network=osm, cache_dir=tmp_path / "cache").networks["walk"]
    rng = np.random.default_rng(4)
    pick = rng.choice(len(net.lon), 40, replace=False)
    lon, lat = wgs84_to_gcj02(net.lon[pick] + rng.normal(0, 1e-5, 40), net.lat[pick] + rng.normal(0, 1e-5, 40))
    path = tmp_path / "amap.csv"
    pd.DataFrame({"名称": [f"站{i}" for i in range(40)], "经度": lon, "纬度": lat}).to_csv(path, index=False, encoding="gbk")
    wrong = planner.load_study(network=osm, facilities=[Layer(path, type="service_station")], cache_dir=tmp_path / "cache")
    hint = [n for n in wrong.notes if n.code == "coords_shift" and n.file == "amap.csv"]
    assert len(hint) == 1 and "GCJ-02" in hint[0].message("en") and "GCJ-02" in hint[0].message("zh")
    assert wrong.meta["inputs"]["facilities"][0]["coords_hint"] == "coords_shift"
    right = planner.load_study(network=osm, facilities=[Layer(path, coords="gcj02", type="service_station")],
                               cache_dir=tmp_path / "cache")
    assert not [n for n in right.notes if n.code == "coords_shift"]


def test_access_median_and_move_through_the_cli_and_the_api(tmp_path, district):
    f = district.facilities[district.facilities["type"] == "health_centre"]
    fac = tmp_path / "centres.csv"
    pd.DataFrame({"id": f["id"], "name": f["name"], "type": f["type"], "lon": f["lon"], "lat": f["lat"],
                  "doctors": np.arange(len(f)) % 4 + 1}).to_csv(fac, index=False)
    common = ["--demo", "--demo-scale", str(SCALE), "--facilities", str(fac), "--type", "health_centre", "--no-map"]
    assert main(["access", *common[:-1], "--supply-column", "doctors", "--out", str(tmp_path / "a")]) == 0
    acc = pd.read_csv(tmp_path / "a" / "access.csv")
    study = planner.load_study(demo=True, demo_scale=SCALE, facilities=[fac])
    lib = planner.access(study, "health_centre", supply_column="doctors")
    np.testing.assert_allclose(acc["access_per_1000"], lib.demand["access_per_1000"], rtol=1e-12)
    assert (tmp_path / "a" / "study.toml").exists()

    assert main(["propose", *common, "--count", "2", "--objective", "median", "--out", str(tmp_path / "m")]) == 0
    s = json.loads((tmp_path / "m" / "summary.json").read_text(encoding="utf-8"))
    res = planner.propose_time(study, "health_centre", count=2, objective="median", time_limit_s=10)
    assert s["value_minutes"] == pytest.approx(res.value) and s["value_minutes"] <= s["value_before_minutes"]

    fid = str(f["id"].iloc[0])
    assert main(["propose", *common, "--move", fid, "--out", str(tmp_path / "v")]) == 0
    s = json.loads((tmp_path / "v" / "summary.json").read_text(encoding="utf-8"))
    assert s["facility_id"] == fid and s["share_after"] >= s["share_before"] - 1e-12
    assert main(["propose", *common, "--objective", "center", "--target-share", "0.9", "--out", str(tmp_path / "x")]) == 2


def test_buildings_are_read_only_when_the_demand_needs_them(tmp_path, monkeypatch):
    """Reading footprints from a district's OSM file takes seconds: a study with its own residents never
    reads them; a study without residents (the street-length and building proxy) does, once."""
    import planner.osm as posm
    from planner.demo import write_demo

    paths = write_demo(tmp_path / "d", scale=0.3)
    calls = []
    real = posm.osm_buildings
    monkeypatch.setattr(posm, "osm_buildings", lambda path, **kw: calls.append(path) or real(path, **kw))
    with_residents = planner.load_study(network=paths["osm"], demand=paths["demand"], cache_dir=tmp_path / "c")
    assert len(with_residents.demand) > 0 and calls == []
    proxy = planner.load_study(network=paths["osm"], cache_dir=tmp_path / "c")
    assert proxy.demand.is_proxy and len(calls) == 1


def test_a_facility_file_that_replaces_the_sources_own_facilities_says_so(tmp_path, district):
    """With the source's facilities kept (`[network] facilities = true`), a file of service stations replaces the
    source's stations: the study's notes say which and how many (the app showed only "loaded: 2 rows")."""
    own = district.facilities[district.facilities["type"] == "service_station"]
    path = tmp_path / "新站点.csv"
    pd.DataFrame({"id": ["N1", "N2"], "name": ["甲", "乙"], "type": "service_station",
                  "lon": own["lon"].iloc[:2].to_numpy(), "lat": own["lat"].iloc[:2].to_numpy()}).to_csv(path, index=False)
    spec = StudySpec(network=NetworkSource(demo=True, demo_scale=SCALE, facilities=True), facilities=(Layer(str(path)),))
    study = planner.build_study(spec)
    notes = [n for n in study.notes if n.code == "facilities_replaced"]
    assert len(notes) == 1 and "新站点.csv" in notes[0].message("zh")
    assert f"×{len(own)}" in notes[0].message("en") and "Community health service station" in notes[0].message("en")
    assert (study.facilities["type"] == "service_station").sum() == 2
    untouched = planner.build_study(StudySpec(network=NetworkSource(demo=True, demo_scale=SCALE, facilities=True)))
    assert not [n for n in untouched.notes if n.code == "facilities_replaced"]
