"""Demand: polygons spread over streets keep their totals; the proxy surface is labelled and sensible."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner.demand import assign_areas, demand_from_points, demand_from_polygons, proxy_demand
from tests.helpers import X0, Y0, grid_network


def test_polygons_spread_preserves_totals():
    net = grid_network(20)
    polys = gpd.GeoDataFrame(
        {"id": ["a", "b", "empty"], "population": [12345.0, 678.9, 50.0]},
        geometry=[shapely.box(X0 + 120, Y0 + 120, X0 + 880, Y0 + 880), shapely.box(X0 + 1000, Y0 + 1000, X0 + 1450, Y0 + 1300),
                  shapely.box(X0 + 1010, Y0 + 10, X0 + 1090, Y0 + 90)],  # inside one block: no street
        crs=net.crs,
    )
    d = demand_from_polygons(net, polys)
    tot = d.gdf.groupby("polygon_id")["population"].sum()
    assert tot["a"] == pytest.approx(12345.0, rel=1e-12)
    assert tot["b"] == pytest.approx(678.9, rel=1e-12)
    assert tot["empty"] == pytest.approx(50.0)  # on its representative point, never lost
    pts = d.gdf.to_crs(net.crs)
    inside_a = shapely.contains(polys.geometry[0], pts.geometry[d.gdf["polygon_id"] == "a"].values)
    assert inside_a.all()


def test_proxy_from_streets_is_labelled_and_follows_street_density():
    net = grid_network(20)
    d = proxy_demand(net, cell_m=200)
    assert d.is_proxy and d.kind == "proxy:streets"
    assert "proxy" in d.note_en and "估算" in d.note_zh
    assert len(d) == 100  # a 1900 m square grid of streets in 200 m cells: 10 x 10
    assert (d.population > 0).all()


def test_proxy_from_buildings_uses_floor_area():
    net = grid_network(10)
    b = gpd.GeoDataFrame(
        {"residential": [True, True, False], "levels": [10.0, np.nan, 30.0]},
        geometry=[shapely.box(X0 + 10, Y0 + 10, X0 + 47, Y0 + 47), shapely.box(X0 + 510, Y0 + 510, X0 + 547, Y0 + 547),
                  shapely.box(X0 + 300, Y0 + 300, X0 + 337, Y0 + 337)],
        crs=net.crs,
    )
    d = proxy_demand(net, buildings=b, cell_m=150)
    assert d.kind == "proxy:buildings" and len(d) == 2
    # 37 m x 37 m x 10 floors / 37 m² per person = 370 people; unknown levels count as 3
    assert sorted(d.population.round(6)) == pytest.approx(sorted([370.0, 111.0]))


def test_assign_areas_nearest_when_outside():
    net = grid_network(10)
    lon, lat = net.to_lonlat([X0 + 100, X0 + 800, X0 + 2000], [Y0 + 100, Y0 + 100, Y0 + 100])
    pts = gpd.GeoDataFrame({"id": ["p", "q", "r"], "population": [1.0, 2.0, 3.0]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    areas = gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["西", "东"]},
                             geometry=[shapely.box(X0, Y0, X0 + 500, Y0 + 900), shapely.box(X0 + 500, Y0, X0 + 900, Y0 + 900)],
                             crs=net.crs).to_crs(4326)
    d = assign_areas(demand_from_points(pts), areas)
    assert d.gdf["area_id"].tolist() == ["W", "E", "E"]


def test_clip_to_areas_reports_what_it_leaves_out():
    from planner.demand import clip_to_areas

    net = grid_network(10)
    lon, lat = net.to_lonlat([X0 + 100, X0 + 560, X0 + 700, X0 + 100], [Y0 + 100, Y0 + 100, Y0 + 100, Y0 + 850])
    pts = gpd.GeoDataFrame({"id": list("abcd"), "population": [1.0, 2.0, 4.0, 8.0]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    areas = gpd.GeoDataFrame({"area_id": ["W"], "name": ["西"]}, geometry=[shapely.box(X0, Y0, X0 + 500, Y0 + 500)], crs=net.crs).to_crs(4326)
    d, out = clip_to_areas(demand_from_points(pts), areas, tolerance_m=100)
    assert d.gdf["id"].tolist() == ["a", "b"]  # b is 60 m outside: kept (boundaries are approximate)
    assert out == {"points": 2, "population": 12.0}
