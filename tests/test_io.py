"""Readers: the malformed-input corpus, coordinate systems, skip-invalid, boundaries and the dasymetric spread."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import InputError
from planner.coords import haversine_m, wgs84_to_gcj02
from planner.io import (
    detect_columns,
    read_boundaries,
    read_demand,
    read_facilities,
    read_table,
    spread_population,
)

D = Path(__file__).resolve().parent / "data" / "inputs"
# WGS-84 truth of the corpus sites (tests/data/inputs/make_corpus.py, SITES)
LON = np.array([121.3862, 121.4050, 121.4160, 121.3700, 121.3560, 121.4190, 121.3500, 121.4290])
LAT = np.array([31.2105, 31.2150, 31.2005, 31.2180, 31.2230, 31.2210, 31.1960, 31.2230])
TYPES = ["health_centre", "health_centre", "service_station", "health_centre", "service_station", "aed",
         "service_station", "aed"]
CHANGNING_BOX = shapely.box(121.3274, 31.1796, 121.4348, 31.2461)


def _near_sites(radius_m: float):
    """Union of circles around the WGS-84 sites: a tight study area, in EPSG:4326."""
    pts = gpd.GeoSeries(gpd.points_from_xy(LON, LAT), crs=4326).to_crs(32651).buffer(radius_m)
    return gpd.GeoSeries(pts, crs=32651).to_crs(4326).union_all()


def _same_sites(gdf, tol_m=0.5):
    d = haversine_m(gdf["lon"].to_numpy(), gdf["lat"].to_numpy(), LON[: len(gdf)], LAT[: len(gdf)])
    assert d.max() < tol_m, d


def _ok_sites(t):
    assert len(t) == 8
    _same_sites(t.gdf)
    assert t.gdf["id"].tolist() == [f"CN00{i}" for i in range(1, 9)]
    assert t.gdf["type"].tolist() == TYPES
    assert t.gdf.crs.to_epsg() == 4326
    assert t.gdf["source_row"].tolist()[0] in (2, 3, 1)


def _check(**expect):
    def run(t):
        for col, val in expect.items():
            got = t.gdf[col].tolist()
            if isinstance(val[0], float):
                assert np.allclose(got, val), (col, got)
            else:
                assert got == val, (col, got)
    return run


# file, reader, kwargs, expected: ("ok", check) or ("error", [substrings that must appear in the English message])
CASES = [
    ("gbk_chinese_headers.csv", "f", {}, ("ok", _ok_sites)),
    ("utf8_bom.csv", "f", {}, ("ok", _ok_sites)),
    ("semicolon.csv", "f", {}, ("ok", _ok_sites)),
    ("pipe_delimited.csv", "f", {}, ("ok", _ok_sites)),
    ("excel_unicode_text.txt", "f", {}, ("ok", _ok_sites)),
    ("gb18030_rare_chars.csv", "f", {}, ("ok", _check(address=["𠮷䶮路 9 号"] + [f"示例路 {i} 号" for i in range(2, 9)]))),
    ("merged_title.xlsx", "f", {}, ("ok", _check(source_row=list(range(3, 11))))),
    ("merged_title_bad_row.xlsx", "f", {}, ("error", ["row 5", "column '纬度'", "latitude is empty"])),
    ("named_sheet.xlsx", "f", {"sheet": "设施"}, ("ok", _ok_sites)),
    ("named_sheet.xlsx", "f", {"sheet": "AED"}, ("error", ["no sheet named 'AED'", "说明, 设施"])),
    ("named_sheet.xlsx", "f", {}, ("error", ["[说明]", "Columns found: '本文件为示例'"])),
    ("swapped_lonlat.csv", "f", {}, ("error", ["look swapped", "columns={'lon': 'lat', 'lat': 'lon'}",
                                               "row 2, column 'lat': latitude 121.3862 is out of range"])),
    ("swapped_lonlat.csv", "f", {"columns": {"lon": "lat", "lat": "lon"}}, ("ok", _ok_sites)),
    ("lat_out_of_range.csv", "f", {}, ("error", ["row 3, column '纬度': latitude 131.215 is out of range"])),
    ("empty_coords.csv", "f", {}, ("error", ["row 4, column '经度': longitude is empty"])),
    ("non_numeric_coords.csv", "f", {}, ("error", ["row 5, column '经度': longitude '121.4.3' is not a number"])),
    ("fullwidth_digits.csv", "f", {}, ("ok", _ok_sites)),
    ("empty.csv", "f", {}, ("error", ["empty.csv", "the file is empty"])),
    ("header_only.csv", "f", {}, ("error", ["header but no data rows"])),
    ("really_png.txt", "f", {}, ("error", ["PNG image, not a table"])),
    ("old_excel.xls", "f", {}, ("error", ["old-format Excel", "save as .xlsx"])),
    ("unreadable_encoding.csv", "f", {}, ("error", ["row 2", "byte 0xff at line 2", "Save As > CSV UTF-8"])),
    ("unknown_type.csv", "f", {}, ("error", ["row 6, column '类型': unknown facility type '诊所X'", "Known types:",
                                            "aed (AED"])),
    ("duplicate_ids.csv", "f", {}, ("error", ["row 5, column '编号': id 'CN003' is also used by row 4"])),
    ("exact_duplicate_rows.csv", "f", {}, ("error", ["row 5: this row repeats row 3 exactly"])),
    ("mixed_type_values.csv", "f", {}, ("ok", _check(type=["health_centre", "health_centre", "service_station",
                                                          "health_centre", "service_station", "aed",
                                                          "service_station", "aed"]))),
    ("gcj02_sites.csv", "f", {"coords": "gcj02"}, ("ok", _ok_sites)),
    ("bd09_sites.csv", "f", {"coords": "bd09"}, ("ok", _ok_sites)),
    ("gcj02_sites.csv", "f", {"study_area": "tight"}, ("error", ["look like GCJ-02 (Amap/Tencent)", "coords='gcj02'",
                                                                "m outside the study area"])),
    ("bd09_sites.csv", "f", {"study_area": "tight"}, ("error", ["look like BD-09 (Baidu)", "coords='bd09'"])),
    ("projected_utm51n.csv", "f", {"coords": "EPSG:32651"}, ("ok", _ok_sites)),
    ("projected_utm51n.csv", "f", {}, ("error", ["row 2, column 'X'", "coords='EPSG:32651'"])),
    ("location_column.csv", "f", {"coords": "gcj02"}, ("ok", _ok_sites)),
    ("stray_spaces_headers.csv", "f", {}, ("ok", _ok_sites)),
    ("english_headers_mixed_case.csv", "f", {}, ("ok", _ok_sites)),
    ("trailing_empty_rows.csv", "f", {}, ("ok", _check(source_row=[2, 3, 4]))),
    ("missing_lat_column.csv", "f", {}, ("error", ["required latitude column not found",
                                                  "Columns found: '名称', '类型', '经度', '地址'"])),
    ("no_type_column.csv", "f", {}, ("error", ["required type column not found", "columns={'type'"])),
    ("no_type_column.csv", "f", {"default_type": "AED"}, ("ok", _check(type=["aed"] * 8))),
    ("multiple_problems.csv", "f", {}, ("error", ["3 of 8 row(s)", "row 2, column '经度'", "row 3, column '类型'",
                                                  "unknown facility type '牙科诊所'", "row 5, column '纬度'"])),
    ("unquoted_comma.csv", "f", {}, ("error", ["row 7: this row has more cells than the header"])),
    ("unquoted_comma.csv", "f", {"skip_invalid": True}, ("ok", _check(id=[f"CN00{i}" for i in (1, 2, 3, 4, 5, 7, 8)]))),
    ("outside_study_area.csv", "f", {"study_area": "changning"}, ("error", ["row 5", "m outside the study area"])),
    ("xlsx_renamed.csv", "f", {}, ("ok", _ok_sites)),
    ("facilities.geojson", "f", {}, ("ok", _ok_sites)),
    ("two_layers.gpkg", "f", {}, ("error", ["2 layers", "health_centres, aed"])),
    ("two_layers.gpkg", "f", {"layer": "aed"}, ("ok", _check(id=["CN006", "CN007", "CN008"]))),
    ("facilities_shapefile.zip", "f", {}, ("ok", _ok_sites)),
    ("demand_points.csv", "d", {}, ("ok", _check(population=[12345.0, 800.5, 0.0], id=["D1", "D2", "D3"]))),
    ("negative_population.csv", "d", {}, ("error", ["row 3, column 'population': population -50 is negative"])),
    ("non_numeric_population.csv", "d", {}, ("error", ["row 2, column '人口': population '约3000' is not a number",
                                                      "row 3, column '人口': population is empty"])),
    ("demand_cells.geojson", "d", {}, ("ok", _check(population=[1200.0, 300.0]))),
]


def _resolve_kwargs(kwargs):
    kw = dict(kwargs)
    if kw.get("study_area") == "tight":
        kw["study_area"] = _near_sites(250)
    elif kw.get("study_area") == "changning":
        kw["study_area"] = CHANGNING_BOX
    return kw


def test_corpus_is_big_enough_and_documented():
    files = {p.name for p in D.iterdir() if p.name not in ("make_corpus.py", "README.md")}
    assert len(files) >= 30
    assert files == {c[0] for c in CASES}, files ^ {c[0] for c in CASES}
    readme = (D / "README.md").read_text(encoding="utf-8")
    for name in files:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize(("name", "reader", "kwargs", "expected"), CASES,
                         ids=[f"{c[0]}{'-' + '-'.join(map(str, c[2])) if c[2] else ''}" for c in CASES])
def test_corpus(name, reader, kwargs, expected):
    fn = read_facilities if reader == "f" else read_demand
    kw = _resolve_kwargs(kwargs)
    if expected[0] == "ok":
        t = fn(D / name, **kw)
        if kw.get("skip_invalid"):
            assert not t.rejected.empty and set(t.rejected["row"]).isdisjoint(t.gdf["source_row"])
        else:
            assert t.rejected.empty
        assert t.gdf.index.is_unique
        assert t.gdf.geometry.notna().all() and np.isfinite(t.gdf["lon"]).all()
        expected[1](t)
    else:
        with pytest.raises(InputError) as err:
            fn(D / name, **kw)
        en, zh = err.value.message("en"), err.value.message("zh")
        for text in expected[1]:
            assert text in en, (text, en)
        assert name.split(".")[0] in zh  # the Chinese message names the file too
        assert all(p.en and p.zh for p in err.value.problems)


def test_gcj02_and_bd09_files_load_to_same_points():
    g = read_facilities(D / "gcj02_sites.csv", coords="gcj02").gdf
    b = read_facilities(D / "bd09_sites.csv", coords="bd09").gdf
    d = haversine_m(g["lon"].to_numpy(), g["lat"].to_numpy(), b["lon"].to_numpy(), b["lat"].to_numpy())
    assert d.max() < 0.5
    assert (g["coords"] == "gcj02").all() and (b["coords"] == "bd09").all()
    # and read as WGS-84 they would be hundreds of metres off: the reason this matters
    raw = read_facilities(D / "gcj02_sites.csv").gdf
    off = haversine_m(raw["lon"].to_numpy(), raw["lat"].to_numpy(), LON, LAT)
    assert off.min() > 300


def test_gcj02_loaded_correctly_has_no_hint():
    t = read_facilities(D / "gcj02_sites.csv", coords="gcj02", study_area=_near_sites(250))
    assert t.warnings == ()


def test_gcj_hint_is_a_warning_when_rows_are_skipped():
    # study area covers the true sites and the GCJ-shifted copy of the first three only
    glon, glat = wgs84_to_gcj02(LON[:3], LAT[:3])
    area = shapely.union_all([_near_sites(250), *[shapely.Point(x, y).buffer(0.001) for x, y in zip(glon, glat)]])
    t = read_facilities(D / "gcj02_sites.csv", study_area=area, skip_invalid=True)
    assert len(t) == 3 and len(t.rejected) == 5
    assert [w.code for w in t.warnings] == ["coords_hint"]
    assert "coords='gcj02'" in t.warnings[0].en and "GCJ-02" in t.warnings[0].zh


def test_skip_invalid_returns_rejected_rows(caplog):
    with caplog.at_level(logging.WARNING, logger="planner.io"):
        t = read_facilities(D / "multiple_problems.csv", skip_invalid=True)
    assert len(t) == 5
    assert list(t.gdf.index) == [2, 4, 5, 6, 7]  # original order, gaps where rows were rejected
    assert t.gdf["source_row"].tolist() == [4, 6, 7, 8, 9]
    rej = t.rejected
    assert rej["row"].tolist() == [2, 3, 5]
    assert rej["column"].tolist() == ["经度", "类型", "纬度"]
    assert set(rej.columns) >= {"row", "column", "problem_en", "problem_zh"}
    assert "牙科诊所" in rej["problem_zh"].iloc[1]
    assert "skipped 3 invalid row(s) of 8" in caplog.text


def test_skip_invalid_cannot_fix_swapped_columns():
    with pytest.raises(InputError, match="look swapped"):
        read_facilities(D / "swapped_lonlat.csv", skip_invalid=True)


def test_duplicates_keep_first_when_skipping():
    t = read_facilities(D / "exact_duplicate_rows.csv", skip_invalid=True)
    assert len(t) == 8 and t.rejected["row"].tolist() == [5]


def test_extra_columns_kept_and_names():
    t = read_facilities(D / "gbk_chinese_headers.csv")
    assert t.gdf["address"].iloc[0] == "示例路 1 号"
    assert t.gdf["name"].iloc[0] == "仙霞社区卫生服务中心"
    assert list(t.gdf.columns[:8]) == ["id", "name", "type", "lon", "lat", "source_file", "source_row", "coords"]


def test_generated_ids_when_absent():
    t = read_facilities(D / "no_type_column.csv", default_type="aed")
    assert t.gdf["id"].tolist() == [f"row{r}" for r in range(2, 10)]


def test_outside_study_area_reports_distance():
    with pytest.raises(InputError) as err:
        read_facilities(D / "outside_study_area.csv", study_area=CHANGNING_BOX)
    (p,) = err.value.problems
    assert p.row == 5 and p.code == "outside_study_area"
    dist = float(p.en.split(" is ")[1].split(" m ")[0])
    assert 10_000 < dist < 12_500  # 121.55 E vs the box edge at 121.4348 E
    ok = read_facilities(D / "outside_study_area.csv", study_area=CHANGNING_BOX, study_area_buffer_m=12_500)
    assert len(ok) == 4


def test_read_table_row_mapping_and_metadata():
    df = read_table(D / "merged_title.xlsx")
    assert df.attrs["header_row"] == 2 and df.attrs["source_row"][:2] == [3, 4]
    assert list(df.columns) == ["编号", "名称", "类型", "经度", "纬度", "地址"]
    df = read_table(D / "gbk_chinese_headers.csv")
    assert df.attrs["encoding"] == "gb18030" and df.attrs["delimiter"] == ","
    assert read_table(D / "semicolon.csv").attrs["delimiter"] == ";"
    g = read_table(D / "facilities.geojson")
    assert isinstance(g, gpd.GeoDataFrame) and g.crs.to_epsg() == 4326


def test_detect_columns():
    cols = [" 经度(GCJ-02) ", "ＬＡＴ", "机构名称", "设施类型", "序号", "常住人口(人)", "详细地址"]
    found = detect_columns(cols)
    assert found["lon"] == " 经度(GCJ-02) " and found["lat"] == "ＬＡＴ"
    assert found["name"] == "机构名称" and found["type"] == "设施类型" and found["id"] == "序号"
    assert found["population"] == "常住人口(人)" and found["address"] == "详细地址"


def test_unknown_coords_and_default_type():
    with pytest.raises(InputError, match="Unknown coordinate system"):
        read_facilities(D / "gbk_chinese_headers.csv", coords="mercator")
    with pytest.raises(InputError, match="Known types"):
        read_facilities(D / "no_type_column.csv", default_type="pharmacy")  # hospital is a type now


def test_missing_file():
    with pytest.raises(InputError, match="file not found"):
        read_facilities(D / "nope.csv")


def test_demand_polygons_converted_from_gcj02():
    raw = read_demand(D / "demand_cells.geojson").gdf
    conv = read_demand(D / "demand_cells.geojson", coords="gcj02").gdf
    assert (conv.geom_type == "Polygon").all()
    c1 = raw.geometry.to_crs(32651).centroid.to_crs(4326)
    c2 = conv.geometry.to_crs(32651).centroid.to_crs(4326)
    shift = haversine_m(c1.x.to_numpy(), c1.y.to_numpy(), c2.x.to_numpy(), c2.y.to_numpy())
    assert (shift > 300).all() and (shift < 900).all()
    assert conv["population"].sum() == 1500.0


def test_load_is_fast(tmp_path):
    n = 50_000
    rng = np.random.default_rng(0)
    lon = rng.uniform(121.33, 121.43, n)
    lat = rng.uniform(31.18, 31.25, n)
    df = pd.DataFrame({"编号": [f"F{i}" for i in range(n)], "名称": "站点", "类型": rng.choice(["AED", "服务站"], n),
                       "经度": lon.round(6), "纬度": lat.round(6)})
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False, encoding="gbk")
    t0 = time.perf_counter()
    t = read_facilities(p, coords="gcj02")
    assert time.perf_counter() - t0 < 3.0
    assert len(t) == n


# ---------------------------------------------------------------- boundaries


def test_read_boundaries_shared_subdistricts(subdistricts_geojson):
    b = read_boundaries(subdistricts_geojson)
    assert len(b) == 113 and b.crs.to_epsg() == 4326
    assert b["area_id"].str.fullmatch(r"\d{12}").all() and b["area_id"].is_unique
    cn = b[b["district"] == "长宁区"] if "长宁区" in set(b["district"]) else b[b["district"].str.contains("长宁")]
    assert len(cn) == 10
    assert "仙霞新村街道" in set(cn["name"])
    assert b.attrs["warnings"] == ()


def test_read_boundaries_shared_districts(subdistricts_geojson):
    path = subdistricts_geojson.parent / "shanghai_districts_geoboundaries_adm3.geojson"
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    b = read_boundaries(path)
    assert len(b) == 16 and "长宁区" in set(b["name"])


def test_read_boundaries_repairs_invalid(tmp_path):
    bowtie = shapely.Polygon([(121.0, 31.0), (121.1, 31.1), (121.1, 31.0), (121.0, 31.1)])
    ok = shapely.box(121.2, 31.0, 121.3, 31.1)
    gpd.GeoDataFrame({"名称": ["甲", "乙"]}, geometry=[bowtie, ok], crs=4326).to_file(tmp_path / "b.geojson")
    b = read_boundaries(tmp_path / "b.geojson")
    assert b.is_valid.all() and b["area_id"].tolist() == ["甲", "乙"]
    (w,) = b.attrs["warnings"]
    assert w.row == 1 and w.code == "repaired_geometry"


def test_read_boundaries_needs_name(tmp_path):
    gpd.GeoDataFrame({"foo": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(tmp_path / "b.geojson")
    with pytest.raises(InputError, match="no name or code column found"):
        read_boundaries(tmp_path / "b.geojson")
    with pytest.raises(InputError, match="boundaries need polygons"):
        read_boundaries(D / "gbk_chinese_headers.csv")


# ---------------------------------------------------------------- dasymetric spread


def _areas():
    return gpd.GeoDataFrame({"area_id": ["310105001", "310105002", "310105003"], "name": ["甲街道", "乙街道", "丙街道"]},
                            geometry=[shapely.box(121.35, 31.19, 121.38, 31.22), shapely.box(121.38, 31.19, 121.41, 31.22),
                                      shapely.box(121.41, 31.19, 121.44, 31.22)], crs=4326)


def _weights(seed=1, n=400):
    rng = np.random.default_rng(seed)
    pts = gpd.points_from_xy(rng.uniform(121.35, 121.41, n), rng.uniform(31.19, 31.22, n), crs=4326)
    return gpd.GeoDataFrame({"weight": rng.uniform(50, 5000, n)}, geometry=pts, crs=4326).to_crs(32651)


def test_spread_preserves_totals_and_inputs():
    areas, weights = _areas(), _weights()
    pop = pd.DataFrame({"街道": ["甲街道", "乙街道", "丙街道"], "population": [83_456.0, 120_001.5, 999.0]})
    copies = (areas.copy(), pop.copy(), weights.copy())
    out = spread_population(areas, pop, weights)
    assert out.crs.to_epsg() == 4326
    totals = out.groupby("area_id")["population"].sum()
    expected = pd.Series([83_456.0, 120_001.5, 999.0], index=["310105001", "310105002", "310105003"])
    assert np.allclose(totals.reindex(expected.index), expected, rtol=1e-9, atol=0)
    # no weight points in 丙: its people sit on its representative point and we are told
    c = out[out["area_id"] == "310105003"]
    assert len(c) == 1 and c["method"].iloc[0] == "representative_point"
    assert [w.code for w in out.attrs["warnings"]] == ["no_weights"]
    assert (out["population"] >= 0).all()
    # proportional to weight inside an area
    a = out[out["area_id"] == "310105001"]
    assert np.allclose(a["population"] / a["weight"], a["population"].iloc[0] / a["weight"].iloc[0], rtol=1e-9)
    for before, after in zip(copies, (areas, pop, weights)):
        pd.testing.assert_frame_equal(pd.DataFrame(before), pd.DataFrame(after))


def test_spread_matches_codes_and_reports_unmatched_rows():
    pop = pd.DataFrame({"代码": [310105001, 310105002, 310105999], "population": [10, 20, 30]})
    with pytest.raises(InputError) as err:
        spread_population(_areas(), pop, _weights())
    msg = err.value.message("en")
    assert "row 4, column '代码': '310105999' matches no area" in msg
    ok = spread_population(_areas(), pop.iloc[:2], _weights())
    assert ok.groupby("area_id")["population"].sum().to_dict() == pytest.approx({"310105001": 10, "310105002": 20})


def test_spread_bad_population_names_row():
    pop = pd.DataFrame({"name": ["甲街道", "乙街道"], "population": ["100", "-5"]})
    with pytest.raises(InputError, match=r"row 3, column 'population'.*>= 0"):
        spread_population(_areas(), pop, _weights())


def test_spread_on_real_changning_subdistricts(subdistricts_geojson):
    b = read_boundaries(subdistricts_geojson)
    cn = b[b["district"].astype(str).str.contains("长宁")]
    rng = np.random.default_rng(7)
    pop = pd.DataFrame({"code": cn["area_id"].to_numpy(), "population": rng.integers(20_000, 120_000, len(cn)) + 0.25})
    minx, miny, maxx, maxy = cn.total_bounds
    pts = gpd.points_from_xy(rng.uniform(minx, maxx, 5000), rng.uniform(miny, maxy, 5000), crs=4326)
    w = gpd.GeoDataFrame({"weight": rng.uniform(1, 100, 5000)}, geometry=pts, crs=4326)
    out = spread_population(cn, pop, w)
    totals = out.groupby("area_id")["population"].sum().reindex(pop["code"])
    assert np.allclose(totals.to_numpy(), pop["population"].to_numpy(), rtol=1e-9, atol=0)


# ---------------------------------------------------------------- sample files in data/samples

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_samples_amap_and_wgs84_agree():
    a = read_facilities(SAMPLES / "facilities_changning_amap_gcj02_gbk.csv", coords="gcj02").gdf
    w = read_facilities(SAMPLES / "facilities_wgs84.csv").gdf
    assert len(a) == len(w) == 12
    d = haversine_m(a["lon"].to_numpy(), a["lat"].to_numpy(), w["lon"].to_numpy(), w["lat"].to_numpy())
    assert d.max() < 0.5  # 6 decimals in the Amap file, ~0.1 m
    assert a["type"].tolist() == w["type"].tolist()
    assert a["name"].tolist() == w["name"].tolist()


def test_sample_amap_read_as_wgs84_gets_soft_hint(subdistricts_geojson):
    b = read_boundaries(subdistricts_geojson)
    changning = b[b["district"].astype(str).str.contains("长宁")].union_all()
    assert len(read_facilities(SAMPLES / "facilities_wgs84.csv", study_area=changning)) == 12
    with pytest.raises(InputError) as err:
        read_facilities(SAMPLES / "facilities_changning_amap_gcj02_gbk.csv", study_area=changning)
    codes = [p.code for p in err.value.problems]
    assert codes[0] == "coords_hint" and "outside_study_area" in codes
    assert "coords='gcj02'" in err.value.message("en") and "高德" in err.value.message("zh")


def test_single_swapped_row_is_named(tmp_path):
    p = tmp_path / "one_swapped.csv"
    p.write_text("名称,类型,经度,纬度\n甲,AED,121.40,31.21\n乙,AED,31.22,121.43\n丙,AED,121.41,31.20\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_facilities(p)
    (prob,) = err.value.problems
    assert (prob.row, prob.column) == (3, "纬度")
    assert "latitude 121.43 is out of range (-90 to 90). The longitude and latitude look swapped in this row." in prob.en
    assert "填反" in prob.zh


def test_spread_overlapping_areas_each_keep_their_total():
    areas = gpd.GeoDataFrame({"area_id": ["A", "B"], "name": ["甲", "乙"]},
                             geometry=[shapely.box(0, 0, 2, 2), shapely.box(1, 0, 3, 2)], crs=4326)
    w = gpd.GeoDataFrame({"weight": [1.0, 3.0, 2.0]}, geometry=gpd.points_from_xy([0.5, 1.5, 2.5], [1, 1, 1]), crs=4326)
    out = spread_population(areas, pd.DataFrame({"id": ["A", "B"], "population": [100.0, 50.0]}), w)
    assert out.groupby("area_id")["population"].sum().to_dict() == pytest.approx({"A": 100.0, "B": 50.0}, rel=1e-12)
    assert out.loc[out["area_id"] == "A", "population"].tolist() == pytest.approx([25.0, 75.0])
    assert out.loc[out["area_id"] == "B", "population"].tolist() == pytest.approx([30.0, 20.0])
