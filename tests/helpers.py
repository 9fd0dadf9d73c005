"""Small synthetic inputs shared by tests: a street grid with facilities and demand."""
from __future__ import annotations

import geopandas as gpd
import numpy as np

from planner.demand import demand_from_points
from planner.network import network_from_xy
from planner.scenario import Study

X0, Y0 = 350000.0, 3450000.0  # UTM 51N, near Shanghai


def grid_network(n: int = 30, spacing: float = 100.0):
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = ii.ravel() * spacing + X0
    y = jj.ravel() * spacing + Y0
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    return network_from_xy(x, y, u, v)


def grid_study(seed: int = 0, n: int = 30, n_fac: int = 6, n_dem: int = 800, with_areas: bool = True):
    import shapely

    net = grid_network(n)
    rng = np.random.default_rng(seed)
    span = (n - 1) * 100.0
    fx, fy = rng.uniform(X0, X0 + span, n_fac), rng.uniform(Y0, Y0 + span, n_fac)
    flon, flat = net.to_lonlat(fx, fy)
    types = (["health_centre", "aed"] * n_fac)[:n_fac]
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n_fac)], "name": [f"站{i}" for i in range(n_fac)], "type": types, "lon": flon, "lat": flat},
        geometry=gpd.points_from_xy(flon, flat), crs=4326,
    )
    dx, dy = rng.uniform(X0, X0 + span, n_dem), rng.uniform(Y0, Y0 + span, n_dem)
    dlon, dlat = net.to_lonlat(dx, dy)
    dem = demand_from_points(
        gpd.GeoDataFrame({"id": [f"d{i}" for i in range(n_dem)], "population": rng.integers(0, 200, n_dem).astype(float)},
                         geometry=gpd.points_from_xy(dlon, dlat), crs=4326)
    )
    areas = None
    if with_areas:
        half = X0 + span / 2
        boxes = [shapely.box(X0 - 50, Y0 - 50, half, Y0 + span + 50), shapely.box(half, Y0 - 50, X0 + span + 50, Y0 + span + 50)]
        areas = gpd.GeoDataFrame({"area_id": ["A", "B"], "name": ["西区", "东区"]}, geometry=boxes, crs=net.crs).to_crs(4326)
    return Study({"walk": net}, fac, dem, areas, label="test grid")
