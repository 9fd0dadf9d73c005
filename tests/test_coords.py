"""WGS-84 / GCJ-02 / BD-09 conversions: round trips over Shanghai and published reference pairs."""
from __future__ import annotations

import numpy as np
import pytest

from planner import InputError
from planner.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    normalise_system,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# A grid over Shanghai's land area (lon 120.85-122.0, lat 30.68-31.88), about 1 km spacing.
LON, LAT = np.meshgrid(np.linspace(120.85, 122.0, 120), np.linspace(30.68, 31.88, 130))
LON, LAT = LON.ravel(), LAT.ravel()

# Published reference pairs (lon, lat) -> (lon, lat).
# 1. wandergis/coordtransform README (https://github.com/wandergis/coordtransform), Tiananmen:
COORDTRANSFORM = {
    "wgs84_to_gcj02": ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    "gcj02_to_bd09": ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    "bd09_to_gcj02": ((116.404, 39.915), (116.39762729119315, 39.90865673957631)),
    # coordtransform's gcj02towgs84 is the one-step approximate inverse (1-2 m), see below.
    "gcj02_to_wgs84_approx": ((116.404, 39.915), (116.39775550083061, 39.91359571849836)),
    # same library's output as quoted in the geocraft (PyPI) README and others:
    "wgs84_to_bd09": ((116.404, 39.915), (116.41662724378733, 39.922699552216216)),
    "bd09_to_wgs84_approx": ((116.404, 39.915), (116.3913836995125, 39.907253214522164)),
}
# 2. googollee/eviltransform test suite (python/test.py, TESTS): WGS-84 -> GCJ-02, as (lat, lng) there.
EVILTRANSFORM_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]
# Not used: eviltransform's TESTS_bd pairs (BD-09 -> WGS-84 near 120.02 E, 29.20 N) disagree
# with the published Baidu formula (and with coordtransform) by 10-41 m; they appear to come
# from Baidu's online API, which is not the formula, so they cannot serve as a 1 m oracle.


def _dist(a, b) -> float:
    return float(haversine_m(a[0], a[1], b[0], b[1]))


def test_haversine_known_distance():
    # one degree of latitude is ~111.2 km on the mean sphere
    assert haversine_m(121.0, 31.0, 121.0, 32.0) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(121.0, 31.0, 121.0, 31.0) == 0.0


@pytest.mark.parametrize("name", ["wgs84_to_gcj02", "gcj02_to_bd09", "bd09_to_gcj02"])
def test_coordtransform_reference_pairs(name):
    fn = {"wgs84_to_gcj02": wgs84_to_gcj02, "gcj02_to_bd09": gcj02_to_bd09, "bd09_to_gcj02": bd09_to_gcj02}[name]
    src, expected = COORDTRANSFORM[name]
    got = fn(*src)
    assert _dist(got, expected) < 1.0
    if name != "bd09_to_gcj02":  # same forward formula: agrees to the last digits
        assert np.allclose(got, expected, atol=1e-9, rtol=0)


def test_coordtransform_approx_inverse_is_close_and_ours_is_exact():
    src, approx = COORDTRANSFORM["gcj02_to_wgs84_approx"]
    exact = gcj02_to_wgs84(*src)
    assert _dist(exact, approx) < 1.0  # the one-step inverse is off by well under a metre here
    back = wgs84_to_gcj02(*exact)
    assert _dist(back, src) < 1e-3


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_GCJ)
def test_eviltransform_reference_pairs(wgs, gcj):
    assert _dist(wgs84_to_gcj02(*wgs), gcj) < 1.0
    assert _dist(gcj02_to_wgs84(*gcj), wgs) < 1.0


def test_bd09_wgs84_reference_pairs():
    src, expected = COORDTRANSFORM["wgs84_to_bd09"]
    assert np.allclose(wgs84_to_bd09(*src), expected, atol=1e-9, rtol=0)
    src, approx = COORDTRANSFORM["bd09_to_wgs84_approx"]
    assert _dist(bd09_to_wgs84(*src), approx) < 1.0


def test_round_trip_gcj02_over_shanghai():
    glon, glat = wgs84_to_gcj02(LON, LAT)
    shift = haversine_m(LON, LAT, glon, glat)
    assert shift.min() > 300 and shift.max() < 900  # the offset really is hundreds of metres
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert haversine_m(LON, LAT, wlon, wlat).max() < 0.5
    assert max(np.abs(wlon - LON).max(), np.abs(wlat - LAT).max()) < 1e-7


def test_round_trip_bd09_over_shanghai():
    blon, blat = wgs84_to_bd09(LON, LAT)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert haversine_m(LON, LAT, wlon, wlat).max() < 0.5
    glon, glat = wgs84_to_gcj02(LON, LAT)
    g2 = bd09_to_gcj02(*gcj02_to_bd09(glon, glat))
    assert max(np.abs(g2[0] - glon).max(), np.abs(g2[1] - glat).max()) < 1e-7


def test_out_of_china_is_identity():
    lon = np.array([-0.1246, 139.7456, 2.35])
    lat = np.array([51.5007, 35.6586, 48.85])
    assert out_of_china(lon, lat).all()
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        out = fn(lon, lat)
        assert np.array_equal(out[0], lon) and np.array_equal(out[1], lat)
    assert not out_of_china(121.47, 31.23)


def test_inputs_not_modified_and_nan_passes_through():
    lon = np.array([121.4, np.nan])
    lat = np.array([31.2, 31.2])
    keep = (lon.copy(), lat.copy())
    out = to_wgs84(lon, lat, "gcj02")
    assert np.array_equal(lon, keep[0], equal_nan=True) and np.array_equal(lat, keep[1])
    assert np.isnan(out[0][1]) and np.isfinite(out[0][0])


def test_to_wgs84_systems():
    lon, lat = np.array([121.40]), np.array([31.21])
    assert np.array_equal(to_wgs84(lon, lat, "WGS-84")[0], lon)
    g = wgs84_to_gcj02(lon, lat)
    assert haversine_m(*to_wgs84(*g, "amap"), lon, lat)[0] < 0.01
    b = wgs84_to_bd09(lon, lat)
    assert haversine_m(*to_wgs84(*b, "BD-09"), lon, lat)[0] < 0.01
    # UTM 51N (EPSG:32651): project with pyproj and back
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform(lon, lat)
    back = to_wgs84(x, y, "epsg:32651")
    assert haversine_m(back[0], back[1], lon, lat)[0] < 0.01


def test_unknown_system_message():
    with pytest.raises(InputError, match="gcj02") as err:
        normalise_system("mercator-ish")
    assert "未知的坐标系" in str(err.value)
    with pytest.raises(InputError, match="EPSG"):
        to_wgs84([1.0], [2.0], "EPSG:999999")
