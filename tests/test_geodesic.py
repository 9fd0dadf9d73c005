"""Ground distances: walking minutes against an independent geodesic oracle, near Shanghai and near the
edge of UTM zone 49N (Shenzhen), where grid metres are 0.07 % longer than ground metres."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from planner.network import RawGraph, compile_network, geodesic_m, snap_points
from planner.travel import nearest
from tests.test_travel import oracle

GEOD = Geod(ellps="WGS84")
M_PER_MIN = 4.5 * 1000 / 60


def lonlat_grid(lon0: float, lat0: float, *, n: int = 12, step_m: float = 150.0, seed: int = 0) -> RawGraph:
    """A street grid in WGS-84 whose edges have a kinked three-point geometry."""
    rng = np.random.default_rng(seed)
    dlat = step_m / 111_000.0
    dlon = step_m / (111_000.0 * np.cos(np.radians(lat0)))
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lon = lon0 + ii.ravel() * dlon + rng.uniform(-0.1, 0.1, n * n) * dlon
    lat = lat0 + jj.ravel() * dlat + rng.uniform(-0.1, 0.1, n * n) * dlat
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    mid_lon = (lon[u] + lon[v]) / 2 + rng.uniform(-0.15, 0.15, len(u)) * dlon
    mid_lat = (lat[u] + lat[v]) / 2 + rng.uniform(-0.15, 0.15, len(u)) * dlat
    glon = np.column_stack([lon[u], mid_lon, lon[v]]).ravel()
    glat = np.column_stack([lat[u], mid_lat, lat[v]]).ravel()
    m = len(u)
    return RawGraph(
        node_id=np.arange(n * n, dtype=np.int64), lon=lon, lat=lat, edge_u=u, edge_v=v,
        geom_lon=glon, geom_lat=glat, geom_offsets=np.arange(0, 3 * m + 1, 3, dtype=np.int64),
        oneway=np.zeros(m, bool), highway=np.full(m, "residential", dtype=object), name=np.full(m, "", dtype=object),
        way_id=np.arange(m, dtype=np.int64), source="grid", mode="walk",
    )


def edge_lonlat(raw: RawGraph, net, e: int) -> np.ndarray:
    """The edge's WGS-84 geometry, from u to v, taken from the raw graph (not from the engine)."""
    i0, i1 = net.geom_offsets[e], net.geom_offsets[e + 1]
    xy = net.geom_xy[i0:i1]
    lon, lat = Transformer.from_crs(net.crs, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    # snap back to the raw graph's exact vertices (the projection round trip is sub-micrometre)
    pts = np.column_stack([raw.geom_lon, raw.geom_lat])
    hit = np.argmin(np.abs(pts[:, None, 0] - lon[None, :]) + np.abs(pts[:, None, 1] - lat[None, :]), axis=0)
    return pts[hit]


def geodesic_snap(raw, net, lon, lat, edges):
    """Independent legs for points on given edges: the nearest point found in an azimuthal equidistant
    projection centred on the point (distances from the centre are exact geodesics), the along-edge
    part as a geodesic polyline length."""
    along = np.empty(len(lon))
    off = np.empty(len(lon))
    for k, (plon, plat, e) in enumerate(zip(lon, lat, edges)):
        line = edge_lonlat(raw, net, int(e))
        to = Transformer.from_crs(4326, f"+proj=aeqd +lat_0={plat} +lon_0={plon} +ellps=WGS84", always_xy=True)
        x, y = to.transform(line[:, 0], line[:, 1])
        ls = shapely.LineString(np.column_stack([x, y]))
        s = ls.project(shapely.Point(0, 0))
        foot = ls.interpolate(s)
        off[k] = float(np.hypot(foot.x, foot.y))
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        j = min(int(np.searchsorted(cum, s, side="right")) - 1, len(x) - 2)
        flon, flat = to.transform(foot.x, foot.y, direction="INVERSE")
        part_lon = np.concatenate([line[: j + 1, 0], [flon]])
        part_lat = np.concatenate([line[: j + 1, 1], [flat]])
        along[k] = GEOD.line_length(part_lon, part_lat)
    return along, off


class _Snap(SimpleNamespace):
    def __len__(self):
        return len(self.edge)


@pytest.mark.parametrize(
    ("lon0", "lat0", "crs"),
    [(121.47, 31.22, "EPSG:32651"), (113.95, 22.53, "EPSG:32649")],
    ids=["shanghai", "shenzhen-zone-edge"],
)
def test_minutes_match_geodesic_oracle(lon0, lat0, crs):
    raw = lonlat_grid(lon0, lat0)
    net = compile_network(raw)
    assert net.crs == crs and net.geodesic
    # lengths: every edge is its geodesic polyline length
    for e in range(0, net.n_edges, 7):
        line = edge_lonlat(raw, net, e)
        assert net.length_m[e] == pytest.approx(GEOD.line_length(line[:, 0], line[:, 1]), rel=1e-9)

    rng = np.random.default_rng(5)
    span_lon = raw.lon.max() - raw.lon.min()
    span_lat = raw.lat.max() - raw.lat.min()
    flon = raw.lon.min() + rng.uniform(0.1, 0.9, 5) * span_lon
    flat = raw.lat.min() + rng.uniform(0.1, 0.9, 5) * span_lat
    dlon = raw.lon.min() + rng.uniform(0, 1, 120) * span_lon
    dlat = raw.lat.min() + rng.uniform(0, 1, 120) * span_lat
    src = snap_points(net, *net.to_metric(flon, flat), max_snap_m=1e6)
    pts = snap_points(net, *net.to_metric(dlon, dlat), max_snap_m=1e6)
    d, _, _ = nearest(net, src, pts)

    # the oracle: networkx Dijkstra on geodesic edge lengths with independently measured legs
    s_al, s_off = geodesic_snap(raw, net, flon, flat, src.edge)
    p_al, p_off = geodesic_snap(raw, net, dlon, dlat, pts.edge)
    lengths = np.asarray([GEOD.line_length(*edge_lonlat(raw, net, e).T) for e in range(net.n_edges)])
    onet = SimpleNamespace(n_edges=net.n_edges, edge_u=net.edge_u, edge_v=net.edge_v, length_m=lengths)
    osrc = _Snap(edge=src.edge, along_m=s_al, dist_m=s_off, too_far=np.zeros(len(flon), bool))
    opts = _Snap(edge=pts.edge, along_m=p_al, dist_m=p_off, too_far=np.zeros(len(dlon), bool))
    expect = oracle(onet, osrc, opts)
    np.testing.assert_allclose(d / M_PER_MIN, expect / M_PER_MIN, rtol=1e-4)
    np.testing.assert_allclose(pts.dist_m, p_off, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(pts.along_m, p_al, rtol=1e-4, atol=1e-3)
    # grid metres would not pass: the test can tell the two apart at both places
    grid = np.hypot(np.diff(net.geom_xy[:, 0]), np.diff(net.geom_xy[:, 1]))[:2].sum()
    assert abs(grid / net.length_m[0] - 1) > 1e-4


def test_geodesic_m_known_values():
    # one degree of latitude at the equator on WGS-84: 110,574.4 m; of longitude: 111,319.5 m
    assert geodesic_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(110_574.389, abs=0.01)
    assert geodesic_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_319.491, abs=0.01)
    assert geodesic_m(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0,)


def test_compiled_cache_keeps_ground_lengths(tmp_path):
    from planner.network import read_compiled, save_network

    net = compile_network(lonlat_grid(121.47, 31.22))
    back = read_compiled(save_network(net, tmp_path / "n.npz"))
    assert back.geodesic
    np.testing.assert_array_equal(back.geom_cum_m, net.geom_cum_m)
    np.testing.assert_array_equal(back.highway_code, net.highway_code)
    x, y = net.to_metric([121.475], [31.225])
    a, b = snap_points(net, x, y), snap_points(back, x, y)
    assert a.along_m[0] == b.along_m[0] and a.dist_m[0] == b.dist_m[0]


def test_whatif_straight_line_prefilter_allows_for_the_grid_stretch():
    """At the east edge of UTM 49N grid metres are 0.07 % longer than ground metres: a resident 112.45 ground metres down a straight street from a new AED (goal 112.5 m) is
    112.53 grid metres away. The straight-line pre-filter must still find them."""
    from planner import siting as S
    from planner.config import default_types

    lat = 22.53
    lon = np.array([113.95, 113.952, 113.954])
    raw = RawGraph(
        node_id=np.arange(3, dtype=np.int64), lon=lon, lat=np.full(3, lat), edge_u=np.array([0, 1]), edge_v=np.array([1, 2]),
        geom_lon=np.array([lon[0], lon[1], lon[1], lon[2]]), geom_lat=np.full(4, lat),
        geom_offsets=np.array([0, 2, 4]), oneway=np.zeros(2, bool), highway=np.full(2, "residential", dtype=object),
        name=np.full(2, "", dtype=object), way_id=np.arange(2), source="street", mode="walk",
    )
    net = compile_network(raw)
    assert net.grid_per_ground_max > 1.0006
    ft = default_types()["aed"]
    limit = S.goal_limit_m(ft)
    site_lon = 113.9505
    # a point `limit - 0.05` ground metres east along the street
    plon, _, _ = GEOD.fwd(site_lon, lat, 90.0, limit - 0.05)
    far_lon, _, _ = GEOD.fwd(site_lon, lat, 90.0, limit + 0.05)
    dem = snap_points(net, *net.to_metric([plon, far_lon], [lat, lat]))
    fac = snap_points(net, *net.to_metric([113.9535], [lat]))  # an existing AED out of reach of both
    w = S.WhatIf(net, fac, dem, np.array([10.0, 10.0]), ft)
    assert not w.covered.any()
    w.add(site_lon, lat)
    assert w.dist_m[0] == pytest.approx(limit - 0.05, abs=1e-3)
    assert w.dist_m[1] > limit
    assert w.covered.tolist() == [True, False]


def test_reach_box_allows_for_the_grid_stretch():
    """reach() searches a box grown by the limit; in grid metres the box must be grown by the stretch too.
    A node 3,249.9 ground metres straight down the street from a source is 3,252.2 grid metres away."""
    from planner.travel import reach

    lat = 22.53
    lon1, _, _ = GEOD.fwd(113.95, lat, 90.0, 0.5)
    lon2, _, _ = GEOD.fwd(113.95, lat, 90.0, 3249.9)
    lon = np.array([113.95, lon1, lon2])
    raw = RawGraph(
        node_id=np.arange(3, dtype=np.int64), lon=lon, lat=np.full(3, lat), edge_u=np.array([0, 1]), edge_v=np.array([1, 2]),
        geom_lon=np.array([lon[0], lon[1], lon[1], lon[2]]), geom_lat=np.full(4, lat),
        geom_offsets=np.array([0, 2, 4]), oneway=np.zeros(2, bool), highway=np.full(2, "residential", dtype=object),
        name=np.full(2, "", dtype=object), way_id=np.arange(2), source="street", mode="walk",
    )
    net = compile_network(raw)
    src = snap_points(net, *net.to_metric([113.95], [lat]))
    r = reach(net, src, limit_m=3250.0)
    far = int(np.flatnonzero(net.node_id == 2)[0])
    assert far in r.node.tolist()
    assert r.dist_m[r.node.tolist().index(far)] == pytest.approx(3249.9, abs=1e-3)


def test_candidates_near_demand_allow_for_the_grid_stretch():
    """A node 1,124.5 ground metres from a resident can cover them with a 1,125 m goal, so it stays a
    candidate although it is 1,125.3 grid metres away at the edge of UTM 49N."""
    from planner.siting import candidates_from_nodes

    lat = 22.53
    lon1, _, _ = GEOD.fwd(113.95, lat, 90.0, 1124.5)
    lon = np.array([113.95, lon1])
    raw = RawGraph(
        node_id=np.arange(2, dtype=np.int64), lon=lon, lat=np.full(2, lat), edge_u=np.array([0]), edge_v=np.array([1]),
        geom_lon=lon.copy(), geom_lat=np.full(2, lat), geom_offsets=np.array([0, 2]), oneway=np.zeros(1, bool),
        highway=np.full(1, "residential", dtype=object), name=np.full(1, "", dtype=object), way_id=np.arange(1),
        source="street", mode="walk",
    )
    net = compile_network(raw)
    x, y = net.to_metric([113.95], [lat])
    c = candidates_from_nodes(net, spacing_m=10.0, near_x=x, near_y=y, near_m=1125.0)
    assert len(c.x) == 2


def test_caches_of_the_grid_metre_format_are_rebuilt(tmp_path):
    """A compiled file of format 2 (grid-metre lengths, no geom_cum_m) is refused by name, and the cache
    key changed with the format, so load_network never picks an old cache up."""
    import json

    from planner._errors import NetworkError
    from planner.network import _FORMAT, _cache_key, read_compiled, save_network

    assert _FORMAT >= 3  # ground lengths came with format 3
    path = save_network(compile_network(lonlat_grid(121.47, 31.22)), tmp_path / "n.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in ("geom_cum_m", "highway_code")}
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))  # the header is stored as UTF-8 bytes
    header["format"] = 2
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    with pytest.raises(NetworkError, match=r"another format version\)\. Delete it"):
        read_compiled(old)
    import planner.network as N

    now = _cache_key("same", "walk")
    N._FORMAT = 2
    try:
        before = _cache_key("same", "walk")
    finally:
        N._FORMAT = 3
    assert now != before
