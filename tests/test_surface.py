"""Rasters of walking time: street samples against exact distances, the minutes surface against node
times, and raster isochrones against the exact cut-and-buffer polygons."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from planner import isochrones as iso
from planner.network import network_from_xy, snap_points
from planner.scenario import run
from planner.surface import minutes_surface, street_samples, surface_value_at
from planner.travel import nearest_field
from tests.helpers import X0, Y0, grid_network, grid_study

MPM = 4.5 * 1000 / 60  # metres per minute at 4.5 km/h


def _grid_case(seed=0, n=30, n_fac=4):
    net = grid_network(n)
    rng = np.random.default_rng(seed)
    span = (n - 1) * 100.0
    src = snap_points(net, rng.uniform(X0, X0 + span, n_fac), rng.uniform(Y0, Y0 + span, n_fac))
    return net, src, nearest_field(net, src)


def test_street_samples_on_a_line_are_exact():
    # one 1000 m street, a source 10 m off it at 300 m: distance = 10 + |x - 300|
    net = network_from_xy([0, 1000], [0, 0], [0], [1])
    src = snap_points(net, [300.0], [10.0])
    field = nearest_field(net, src)
    x, y, d = street_samples(net, field, src, step_m=7.0)
    np.testing.assert_allclose(y, 0.0, atol=1e-9)
    np.testing.assert_allclose(d, 10.0 + np.abs(x - 300.0), atol=1e-6)
    assert np.diff(np.sort(x)).max() <= 7.0 + 1e-9 and x.min() == 0.0 and x.max() == 1000.0
    # a budget keeps only the positions within it
    x, _, d = street_samples(net, field, src, step_m=7.0, max_dist_m=200.0)
    assert d.max() <= 200.0 and x.min() >= 110.0 - 1e-9 and x.max() <= 490.0 + 1e-9


def test_surface_matches_node_times_and_is_transparent_away_from_streets():
    net, src, field = _grid_case(1)
    srf = minutes_surface(net, field, src, speed_kmh=4.5, goal_minutes=15.0, max_px=512, fill_m=150.0)
    assert max(srf.shape) <= 512 and srf.minutes.dtype == np.float32
    v = surface_value_at(srf, net.lon, net.lat)
    node_min = field.dist_m / MPM
    # a node's pixel holds the least time of the street in it: never more than the node's own,
    # and less by at most the pixel's extent
    assert np.all(v <= node_min + 1e-3)
    assert np.all(v >= node_min - 1.5 * srf.pixel_m / MPM)
    # 100 m off the grid's edge: the edge's time plus the straight walk; 1 km off: nothing (nan)
    lon, lat = net.to_lonlat(np.array([X0 - 100.0, X0 - 1000.0]), np.array([Y0 + 1500.0, Y0 + 1500.0]))
    near, far = surface_value_at(srf, lon, lat)
    edge_node = int(np.argmin(np.hypot(net.x - X0, net.y - (Y0 + 1500.0))))
    assert near == pytest.approx(node_min[edge_node] + 100.0 / MPM, abs=2 * srf.pixel_m / MPM)
    assert np.isnan(far)
    # the bounds hold the whole network
    w, s, e, n = srf.bounds_lonlat
    assert w < net.lon.min() and e > net.lon.max() and s < net.lat.min() and n > net.lat.max()


def test_surface_marks_streets_no_facility_reaches():
    # two separate grids; facilities only on the first
    a = grid_network(10)
    x = np.concatenate([a.x, a.x + 3000.0])
    y = np.concatenate([a.y, a.y])
    u = np.concatenate([a.edge_u, a.edge_u + a.n_nodes])
    v = np.concatenate([a.edge_v, a.edge_v + a.n_nodes])
    net = network_from_xy(x, y, u, v)
    src = snap_points(net, [X0 + 450.0], [Y0 + 400.0])
    field = nearest_field(net, src)
    srf = minutes_surface(net, field, src, speed_kmh=4.5, goal_minutes=15.0, max_px=400)
    lon, lat = net.to_lonlat(np.array([X0 + 450.0, X0 + 3450.0]), np.array([Y0 + 400.0, Y0 + 400.0]))
    reached, cut_off = surface_value_at(srf, lon, lat)
    assert np.isfinite(reached) and reached < 1.0
    assert np.isposinf(cut_off)


def test_surface_bad_size_refused():
    net, src, field = _grid_case(0)
    with pytest.raises(ValueError, match="max_px"):
        minutes_surface(net, field, src, speed_kmh=4.5, goal_minutes=15.0, max_px=4)


@pytest.mark.parametrize("seed", range(3))
def test_raster_isochrones_within_two_pixels_of_exact_and_nested(seed):
    net, src, field = _grid_case(seed, n_fac=3)
    brk = [5, 10, 15]
    exact = iso.type_isochrones(net, field, src, breaks_min=brk, speed_kmh=4.5, method="vector")
    p = 40.0 / 4.5  # the default pixel
    raster = iso.raster_isochrones(net, field, src, breaks_min=brk, speed_kmh=4.5, pixel_m=p)
    assert [b for b, _ in raster] == [5.0, 10.0, 15.0]
    for (b, v), (_, r) in zip(exact, raster):
        assert r.is_valid and not r.is_empty
        assert shapely.difference(r, v.buffer(2 * p)).area < 1.0, b
        assert shapely.difference(v.buffer(-2 * p), r).area < 1.0, b
        assert r.area == pytest.approx(v.area, rel=0.05)
    polys = [r for _, r in raster]
    for small, big in zip(polys, polys[1:]):
        assert shapely.difference(small, big).area < 1e-3 * small.area + 1.0


def test_type_isochrones_auto_switches_to_raster(monkeypatch):
    net, src, field = _grid_case(0)
    vec = iso.type_isochrones(net, field, src, breaks_min=[5], speed_kmh=4.5)  # few pieces: exact
    exact = iso.type_isochrones(net, field, src, breaks_min=[5], speed_kmh=4.5, method="vector")
    assert vec[0][1].equals(exact[0][1])
    monkeypatch.setattr(iso, "RASTER_ABOVE_PIECES", 0)
    auto = iso.type_isochrones(net, field, src, breaks_min=[5], speed_kmh=4.5)
    ras = iso.raster_isochrones(net, field, src, breaks_min=[5], speed_kmh=4.5)
    assert auto[0][1].equals(ras[0][1])
    with pytest.raises(ValueError, match="method"):
        iso.type_isochrones(net, field, src, breaks_min=[5], speed_kmh=4.5, method="fast")


def test_raster_isochrones_hold_covered_demand():
    study = grid_study(2)
    res = run(study, type_keys=["health_centre"], isochrones="none")
    cov = res.coverage["health_centre"]
    net = study.networks["walk"]
    p = 40.0 / 4.5
    (_, goal_poly), = iso.raster_isochrones(net, cov.field, cov.fac_snap, breaks_min=[15], speed_kmh=4.5, pixel_m=p)
    dt = res.demand_table
    pts = shapely.points(*net.to_metric(dt["lon"], dt["lat"]))
    inside = shapely.contains(goal_poly, pts)
    # covered points whose off-street leg is shorter than the buffer less two pixels are inside
    ok = dt["health_centre_covered"].to_numpy() & (dt["snap_dist_m"].to_numpy() < 40.0 - 2 * p)
    assert ok.sum() > 50 and inside[ok].all()
    # points well beyond the goal are outside (see test_isochrones_nested_and_follow_streets)
    far = (dt["health_centre_minutes"].to_numpy() > 17.5) & (dt["snap_dist_m"].to_numpy() < 39.0)
    assert far.sum() > 10 and not inside[far].any()


def test_run_draws_only_the_types_asked_for():
    from planner import InputError

    study = grid_study(0)
    res = run(study, isochrone_types="first", surface_types=["aed"])
    assert set(res.isochrones["type"]) == {"health_centre"}
    assert list(res.surfaces) == ["aed"] and res.surfaces["aed"].type_key == "aed"
    assert res.summary["parameters"]["isochrone_types"] == ["health_centre"]
    assert set(run(study).isochrones["type"]) == {"health_centre", "aed"}  # default: every type
    assert run(study).surfaces == {}
    with pytest.raises(InputError, match="isochrone_types: 'clinicX' is not one of the evaluated facility types"):
        run(study, isochrone_types=["clinicX"])


def test_gap_cells_match_a_row_wise_unique():
    rng = np.random.default_rng(4)
    n = 5000
    x, y = rng.uniform(-3000, 9000, n), rng.uniform(3.4e6, 3.41e6, n)
    pop = rng.integers(0, 50, n).astype(float)
    minutes = np.where(rng.uniform(size=n) < 0.05, np.inf, rng.uniform(0, 40, n))
    covered = minutes <= 15
    polys, gp, gm, gx = iso.gap_cells(x, y, pop, minutes, covered, cell_m=250.0)
    gap = ~covered & (pop > 0)
    ix, iy = np.floor(x[gap] / 250.0).astype(np.int64), np.floor(y[gap] / 250.0).astype(np.int64)
    key, inv = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    np.testing.assert_allclose(gp, np.bincount(inv.ravel(), weights=pop[gap]))
    np.testing.assert_array_equal(shapely.bounds(polys)[:, :2], key * 250.0)
    assert np.all(gx >= np.where(np.isfinite(gm), gm, -np.inf) - 1e-9)


def test_the_surface_layout_cached_per_network_gives_the_surface_of_a_fresh_network():
    """The grid, street samples and nearest street pixels are kept per network and reused by every later surface
    (another type, a scenario with one more site): the minutes are those computed on a network seen the first time."""
    net, src, field = _grid_case(2)
    rng = np.random.default_rng(9)
    x, y = rng.uniform(X0, X0 + 2900.0, 7), rng.uniform(Y0, Y0 + 2900.0, 7)
    minutes_surface(net, field, src, speed_kmh=4.5, goal_minutes=15.0, max_px=300)  # fills the cache
    assert "_surface_layout" in net.__dict__
    other = snap_points(net, x, y)
    again = minutes_surface(net, nearest_field(net, other), other, speed_kmh=4.5, goal_minutes=15.0, max_px=300)
    fresh_net = grid_network(30)
    fresh_src = snap_points(fresh_net, x, y)
    fresh = minutes_surface(fresh_net, nearest_field(fresh_net, fresh_src), fresh_src, speed_kmh=4.5, goal_minutes=15.0,
                            max_px=300)
    np.testing.assert_array_equal(again.minutes, fresh.minutes)
    assert again.bounds_lonlat == fresh.bounds_lonlat
