"""Demand from census tables per 街道/镇: joins by code or tolerant name, exact per-area totals, refusals by row."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import InputError
from planner.io import read_boundaries
from planner.network import compile_network, snap_points
from planner.osm import read_osm
from planner.population import demand_from_census
from tests.conftest import shared_file
from tests.helpers import X0, Y0, grid_network

NAMES = ["华阳路街道", "江苏路街道", "新华路街道", "程家桥街道"]
CODES = ["310105001000", "310105002000", "310105004000", "310105008000"]


@pytest.fixture(scope="module")
def net():
    return grid_network(30)  # 2.9 km square


@pytest.fixture(scope="module")
def areas(net):
    """Four quadrants of the grid plus a fifth area 20 km away (beyond the network)."""
    h = 1450.0
    boxes = [shapely.box(X0 - 50 + i * h, Y0 - 50 + j * h, X0 - 50 + (i + 1) * h, Y0 - 50 + (j + 1) * h)
             for i in (0, 1) for j in (0, 1)]
    boxes.append(shapely.box(X0 + 20000, Y0, X0 + 21000, Y0 + 1000))
    g = gpd.GeoDataFrame({"area_id": [*CODES, "310105009000"], "name": [*NAMES, "虹桥街道"], "district": "长宁区"},
                         geometry=boxes, crs=net.crs).to_crs(4326)
    return g


POP = [71234.0, 25000.5, 98000.0, 40001.0, 55555.0]


def write_csv(tmp_path, frame, name="census.csv", encoding="utf-8"):
    p = tmp_path / name
    frame.to_csv(p, index=False, encoding=encoding)
    return p


def _per_area_exact(dem, rep, expected: dict):
    per = dem.gdf.groupby("area_id")["population"].sum()
    for k, v in expected.items():
        assert per[k] == pytest.approx(v, rel=1e-12, abs=0), k
        assert rep["per_area"][k] == pytest.approx(v, rel=1e-12, abs=0)


def test_code_join_keeps_each_area_total(tmp_path, net, areas):
    # 9-digit town codes (as in the census bulletins) match the 12-digit boundary codes
    t = pd.DataFrame({"区划代码": [c[:9] for c in CODES] + ["310105009"], "街道": [*NAMES, "虹桥街道"], "常住人口": POP})
    dem, rep = demand_from_census(write_csv(tmp_path, t), areas, net=net)
    assert rep["join"] == "code" and rep["key_column"] == "区划代码" and rep["population_column"] == "常住人口"
    _per_area_exact(dem, rep, dict(zip(CODES, POP[:4], strict=True)))
    assert dem.population.sum() == pytest.approx(sum(POP[:4]), rel=1e-12)
    assert rep["population_kept"] == sum(POP[:4]) and rep["population_table"] == sum(POP)
    # the fifth area is beyond the network: left out, counted, warned
    assert rep["areas_outside"] == ["310105009000"] and rep["population_outside"] == 55555.0
    assert any(w.code == "areas_outside_network" and "虹桥街道" in w.en for w in rep["warnings"])
    assert dem.kind == "census:streets" and set(rep["methods"].values()) == {"streets"}
    assert (dem.gdf["method"] == "streets").all() and dem.gdf["id"].is_unique
    x, y = net.to_metric(dem.gdf.geometry.x.to_numpy(), dem.gdf.geometry.y.to_numpy())
    assert snap_points(net, x, y).dist_m.max() < 1e-3  # residents sit on the streets
    assert "census.csv" in dem.note_en and "道路长度" in dem.note_zh and not dem.is_proxy


def test_name_join_tolerates_suffixes_prefixes_and_full_width(tmp_path, net, areas):
    t = pd.DataFrame({
        "街道名称": ["华阳路", "江苏路街道办事处", "长宁区新华路街道", "程家桥　街道"],  # no suffix, office, district prefix, ideographic space
        "常住人口（人）": ["71,234", "２５０００.５", "98000", "40001"],  # thousands separator, full-width digits
    })
    dem, rep = demand_from_census(write_csv(tmp_path, t, encoding="gbk"), areas, net=net)
    assert rep["join"] == "name" and rep["key_column"] == "街道名称"
    _per_area_exact(dem, rep, dict(zip(CODES, POP[:4], strict=True)))


def test_ten_thousands_unit(tmp_path, net, areas):
    t = pd.DataFrame({"街道": NAMES, "常住人口(万人)": [7.1234, 2.5, 9.8, 4.0001]})
    dem, rep = demand_from_census(write_csv(tmp_path, t), areas, net=net)
    assert rep["unit"] == 10000.0
    _per_area_exact(dem, rep, {CODES[0]: 71234.0, CODES[2]: 98000.0})


def test_unmatched_total_duplicate_and_bad_rows_refused_with_rows(tmp_path, net, areas):
    t = pd.DataFrame({
        "街道": ["华阳路街道", "江苏路", "天山路街道", "新华路街道", "合计", "华阳路", "程家桥街道"],
        "常住人口": ["1000", "2000", "3000", "abc", "9999", "5", "-3"],
    })
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, t, name="普查.csv"), areas, net=net)
    err = e.value
    by = {(p.code, p.row) for p in err.problems}
    # header is row 1: 天山路街道 is row 4, abc row 5, 合计 row 6, the repeated 华阳路 row 7, -3 row 8
    assert ("unmatched_area", 4) in by and ("bad_population", 5) in by and ("total_row", 6) in by
    assert ("duplicate_area", 7) in by and ("bad_population", 8) in by
    assert len(err.problems) == 5
    en, zh = err.message("en"), err.message("zh")
    assert "普查.csv, row 4, column '街道'" in en and "'天山路街道' matches no area" in en
    assert "第 4 行" in zh and "与边界中的任何区域都不对应" in zh
    assert "already appears in row 2" in en and "合计行" in zh


def test_ambiguous_name_needs_a_district(tmp_path, net, areas):
    a = areas.copy()
    a.loc[1, "name"] = "华阳路街道"
    a.loc[1, "district"] = "徐汇区"
    t = pd.DataFrame({"街道": ["华阳路街道", "新华路街道"], "常住人口": [100, 200]})
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, t), a, net=net)
    assert e.value.problems[0].code == "ambiguous_area" and "district" in e.value.message("en")
    t["区"] = ["徐汇区", "长宁"]
    dem, rep = demand_from_census(write_csv(tmp_path, t), a, net=net)
    assert rep["district_column"] == "区"
    _per_area_exact(dem, rep, {CODES[1]: 100.0, CODES[2]: 200.0})
    assert any(w.code == "areas_without_row" for w in rep["warnings"])


def test_buildings_used_where_present_else_streets(tmp_path, net, areas):
    # residential blocks in the first area only, one twice the floor area of the other
    b = gpd.GeoDataFrame(
        {"residential": [True, True, False], "levels": [6.0, 12.0, 30.0]},
        geometry=[shapely.box(X0 + 120, Y0 + 120, X0 + 180, Y0 + 180), shapely.box(X0 + 420, Y0 + 420, X0 + 480, Y0 + 480),
                  shapely.box(X0 + 1600, Y0 + 120, X0 + 1680, Y0 + 180)],
        crs=net.crs,
    ).to_crs(4326)
    t = pd.DataFrame({"code": CODES, "population": POP[:4]})
    dem, rep = demand_from_census(write_csv(tmp_path, t), areas, net=net, buildings=b)
    assert rep["methods"][CODES[0]] == "buildings" and rep["methods"][CODES[2]] == "streets"
    assert dem.kind == "census:mixed" and "住宅建筑面积" in dem.note_zh and "buildings in 1" in dem.note_en
    _per_area_exact(dem, rep, dict(zip(CODES, POP[:4], strict=True)))
    a0 = dem.gdf[dem.gdf["area_id"] == CODES[0]].sort_values("population")
    assert len(a0) == 2 and (a0["method"] == "buildings").all()
    assert a0["population"].iat[1] == pytest.approx(2 * a0["population"].iat[0])


def test_missing_population_or_key_column_refused(tmp_path, net, areas):
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, pd.DataFrame({"街道": NAMES, "面积": [1, 2, 3, 4]})), areas, net=net)
    assert "no population column" in e.value.message("en") and "找不到人口列" in e.value.message("zh")
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, pd.DataFrame({"地名": ["甲", "乙"], "人口": [1, 2]})), areas, net=net)
    assert "no column matches" in e.value.message("en") and "华阳路街道" in e.value.message("en")
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, pd.DataFrame({"街道": NAMES, "人口": [1, 2, 3, 4]})), areas, net=net,
                           code_column="代码")
    assert "no code column '代码'" in e.value.message("en")


def test_xlsx_with_title_row_reports_excel_rows(tmp_path, net, areas):
    p = tmp_path / "七普.xlsx"
    with pd.ExcelWriter(p) as xw:
        pd.DataFrame([["长宁区第七次全国人口普查 各街道常住人口"]]).to_excel(xw, index=False, header=False, startrow=0)
        pd.DataFrame({"街道": ["华阳路街道", "不存在街道"], "常住人口": [10, 20]}).to_excel(xw, index=False, startrow=1)
    with pytest.raises(InputError) as e:
        demand_from_census(p, areas, net=net)
    assert [(q.code, q.row) for q in e.value.problems] == [("unmatched_area", 4)]


def test_real_subdistricts_on_the_huangpu_network(tmp_path):
    osm = shared_file("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm")
    areas = read_boundaries(shared_file("shanghai", "boundaries", "shanghai_subdistricts_8central_osm_20260819.geojson"))
    net = compile_network(read_osm(osm))
    rng = np.random.default_rng(0)
    pop = rng.integers(20000, 150000, len(areas)).astype(float)
    # bulletins write names without 街道 sometimes: drop it on every other row
    names = [n[:-2] if (i % 2 and n.endswith("街道")) else n for i, n in enumerate(areas["name"])]
    t = pd.DataFrame({"区": areas["district"], "街道/镇": names, "常住人口": pop})
    dem, rep = demand_from_census(write_csv(tmp_path, t), areas, net=net)
    assert rep["areas_matched"] == len(areas) == 113
    kept = np.isin(areas["area_id"], list(rep["methods"]))
    assert 1 <= kept.sum() < 20 and len(rep["areas_outside"]) == 113 - kept.sum()
    assert dem.population.sum() == pytest.approx(pop[kept].sum(), rel=1e-12)
    assert rep["population_outside"] == pytest.approx(pop[~kept].sum(), rel=1e-12)
    _per_area_exact(dem, rep, dict(zip(areas["area_id"][kept], pop[kept], strict=True)))
    assert any(w.code == "area_partly_covered" for w in rep["warnings"])


def test_demand_file_kind(tmp_path, net, areas):
    from planner.population import demand_file_kind

    census = write_csv(tmp_path, pd.DataFrame({"街道": NAMES, "常住人口": POP[:4]}), name="c.csv")
    points = write_csv(tmp_path, pd.DataFrame({"经度": [121.4], "纬度": [31.2], "人口": [5]}), name="p.csv")
    loc = write_csv(tmp_path, pd.DataFrame({"location": ["121.4,31.2"], "population": [5]}), name="l.csv")
    nopop = write_csv(tmp_path, pd.DataFrame({"街道": NAMES}), name="n.csv")
    gj = tmp_path / "poly.geojson"
    areas.assign(population=1.0).to_file(gj)
    assert demand_file_kind(census) == "census"
    assert demand_file_kind(points) == "table" and demand_file_kind(loc) == "table"
    assert demand_file_kind(nopop) == "table"  # read_demand then says the population column is missing
    assert demand_file_kind(gj) == "table"
    assert demand_file_kind(tmp_path / "pop.TIF") == "raster"  # by suffix; the reader checks the content


def test_boundaries_without_codes_join_by_tolerant_name(tmp_path, net, areas):
    # read_boundaries of a file with no code column gives area_id = name: the exact-name 'code' join must not win
    a = areas.assign(area_id=areas["name"])
    t = pd.DataFrame({"街道": ["华阳路", "江苏路街道"], "常住人口": [10, 20]})
    dem, rep = demand_from_census(write_csv(tmp_path, t), a, net=net)
    assert rep["join"] == "name"
    _per_area_exact(dem, rep, {"华阳路街道": 10.0, "江苏路街道": 20.0})
    t["代码"] = ["310105001", "310105002"]
    with pytest.raises(InputError) as e:
        demand_from_census(write_csv(tmp_path, t), a, net=net, code_column="代码")
    assert "no code column" in e.value.message("en") and "没有代码列" in e.value.message("zh")


def test_real_osm_buildings_nanjing(tmp_path):
    from planner.osm import osm_buildings

    osm = shared_file("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")
    bbox = (118.763, 32.036, 118.796, 32.052)
    net = compile_network(read_osm(osm, bbox=bbox))
    b = osm_buildings(osm, bbox=bbox)
    mid = (bbox[0] + bbox[2]) / 2
    a = gpd.GeoDataFrame({"area_id": ["320102001", "320102002"], "name": ["玄武门街道", "新街口街道"]},
                         geometry=[shapely.box(bbox[0], bbox[1], mid, bbox[3]), shapely.box(mid, bbox[1], bbox[2], bbox[3])],
                         crs=4326)
    t = pd.DataFrame({"街道": ["玄武门", "新街口街道"], "常住人口": [41234, 38765]})
    dem, rep = demand_from_census(write_csv(tmp_path, t), a, net=net, buildings=b)
    _per_area_exact(dem, rep, {"320102001": 41234.0, "320102002": 38765.0})
    assert "buildings" in rep["methods"].values()
    res = b[b["residential"]]
    inside = dem.gdf[dem.gdf["method"] == "buildings"]
    assert 0 < len(inside) <= len(res)  # one point per residential building at most
