"""Shifted-file detection: GCJ-02 / BD-09 points read as WGS-84 are caught on real street extracts."""
from __future__ import annotations

import numpy as np
import pytest

from planner.coords import (
    coordinate_fit,
    detect_coordinate_shift,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from planner.network import compile_network
from planner.osm import read_osm
from tests.conftest import shared_file
from tests.helpers import grid_network

# core bboxes from SOURCES.md (relation members pull in far-away nodes)
EXTRACTS = [
    (("osm", "nanjing_xuanwu_overpass_20210612.osm.xml"), (118.763, 32.036, 118.796, 32.052)),
    (("osm", "shenzhen_nanshan_overpass_20210317.osm.xml"), (113.923, 22.541, 113.968, 22.559)),
    (("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm"), None),
]
_NETS: dict = {}


def _net(parts, bbox):
    path = shared_file(*parts)
    if path not in _NETS:
        _NETS[path] = compile_network(read_osm(path, bbox=bbox))
    return _NETS[path]


def _street_points(net, n=150, jitter_m=5.0, seed=1):
    """Real street nodes with a small jitter, as WGS-84 lon/lat (what a correct file holds)."""
    rng = np.random.default_rng(seed)
    i = rng.choice(net.n_nodes, min(n, net.n_nodes), replace=False)
    return net.to_lonlat(net.x[i] + rng.normal(0, jitter_m, len(i)), net.y[i] + rng.normal(0, jitter_m, len(i)))


@pytest.fixture(params=EXTRACTS, ids=["nanjing", "shenzhen", "huangpu"])
def real_net(request):
    return _net(*request.param)


def test_correct_files_stay_quiet(real_net):
    lon, lat = _street_points(real_net)
    assert detect_coordinate_shift(lon, lat, real_net, declared="wgs84") is None
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert detect_coordinate_shift(glon, glat, real_net, declared="gcj02") is None
    blon, blat = wgs84_to_bd09(lon, lat)
    assert detect_coordinate_shift(blon, blat, real_net, declared="BD-09") is None


def test_gcj02_file_read_as_wgs84_is_flagged(real_net):
    lon, lat = _street_points(real_net)
    glon, glat = wgs84_to_gcj02(lon, lat)
    p = detect_coordinate_shift(glon, glat, real_net, declared="wgs84", file="aed_amap.csv")
    assert p is not None and p.code == "coords_shift" and p.file == "aed_amap.csv"
    assert "GCJ-02" in p.en and "coords='gcj02'" in p.en
    assert "GCJ-02" in p.zh and "高德" in p.zh and "coords='gcj02'" in p.zh


def test_bd09_file_read_as_wgs84_is_flagged(real_net):
    lon, lat = _street_points(real_net)
    blon, blat = wgs84_to_bd09(lon, lat)
    p = detect_coordinate_shift(blon, blat, real_net, declared="wgs84", file="baidu.xlsx")
    assert p is not None and "BD-09" in p.en and "coords='bd09'" in p.en and "百度" in p.zh


def test_wgs84_file_declared_gcj02_is_flagged(real_net):
    # the other way: a WGS-84 file converted as if it were Amap's moves the points off the streets
    lon, lat = _street_points(real_net)
    p = detect_coordinate_shift(lon, lat, real_net, declared="amap")
    assert p is not None and "coords='wgs84'" in p.en
    blon, blat = wgs84_to_bd09(lon, lat)
    p = detect_coordinate_shift(blon, blat, real_net, declared="gcj02")
    assert p is not None and "coords='bd09'" in p.en


def test_fit_numbers(real_net):
    lon, lat = _street_points(real_net, jitter_m=0.0)
    fit = coordinate_fit(lon, lat, real_net)
    assert set(fit) == {"wgs84", "gcj02", "bd09"}
    assert fit["wgs84"] < 1e-6  # street nodes lie on the streets
    assert fit["gcj02"] > 15 and fit["bd09"] > 15


def test_mostly_right_file_with_a_few_strays_stays_quiet(real_net):
    lon, lat = _street_points(real_net)
    glon, glat = wgs84_to_gcj02(lon[:20], lat[:20])  # 20 of 150 rows from Amap: not the whole file
    lon, lat = lon.copy(), lat.copy()
    lon[:20], lat[:20] = glon, glat
    assert detect_coordinate_shift(lon, lat, real_net) is None


def test_outside_china_systems_coincide_and_stay_quiet():
    # a grid near (0, 0) lon/lat: GCJ-02 applies no offset outside China, so no system fits better
    net = grid_network(12)
    from planner.network import network_from_xy

    net = network_from_xy(net.x - 350000.0 + 500000.0, net.y - 3450000.0 + 100.0, net.edge_u, net.edge_v, crs="EPSG:32631")
    lon, lat = net.lon, net.lat
    assert detect_coordinate_shift(lon + 1e-6, lat, net) is None


def test_too_few_points_or_projected_declared_gives_no_verdict():
    net = grid_network(12)
    lon, lat = gcj02_to_wgs84(net.lon[:2], net.lat[:2])
    assert detect_coordinate_shift(lon, lat, net) is None  # 2 points
    assert detect_coordinate_shift(net.lon, net.lat, net, declared="EPSG:32651") is None
    nan = np.full(10, np.nan)
    assert detect_coordinate_shift(nan, nan, net) is None


def test_synthetic_grid_shift_detected_and_inputs_unchanged():
    net = grid_network(30)
    rng = np.random.default_rng(3)
    i = rng.choice(net.n_nodes, 80, replace=False)
    lon, lat = net.lon[i].copy(), net.lat[i].copy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    before = glon.copy()
    p = detect_coordinate_shift(glon, glat, net)
    assert p is not None and "gcj02" in p.en
    np.testing.assert_array_equal(glon, before)


def test_converted_coordinates_from_read_facilities(tmp_path):
    # the builder holds WGS-84 results of read_facilities(coords=...): the check recovers the file's numbers
    import pandas as pd

    from planner.io import read_facilities

    net = _net(*EXTRACTS[0])
    lon, lat = _street_points(net, n=40)
    path = tmp_path / "aed.csv"
    pd.DataFrame({"id": range(40), "type": "aed", "lon": lon, "lat": lat}).to_csv(path, index=False)  # truly WGS-84
    wrong = read_facilities(path, coords="gcj02").gdf  # declared Amap by mistake
    p = detect_coordinate_shift(wrong["lon"], wrong["lat"], net, declared="gcj02", converted=True, file="aed.csv")
    assert p is not None and "coords='wgs84'" in p.en
    right = read_facilities(path, coords="wgs84").gdf
    assert detect_coordinate_shift(right["lon"], right["lat"], net, declared="wgs84", converted=True) is None
    glon, glat = wgs84_to_gcj02(lon, lat)
    pd.DataFrame({"id": range(40), "type": "aed", "lon": glon, "lat": glat}).to_csv(path, index=False)
    ok = read_facilities(path, coords="gcj02").gdf  # an Amap file, declared so
    assert detect_coordinate_shift(ok["lon"], ok["lat"], net, declared="gcj02", converted=True) is None
