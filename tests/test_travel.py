"""Travel engine against a networkx Dijkstra oracle on graphs with points split into the edges."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from planner.network import network_from_xy, snap_points
from planner.travel import nearest, reach, reach_points


def random_network(seed: int, n: int = 60, extra: int = 40):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2000, n)
    y = rng.uniform(0, 2000, n)
    # a random spanning tree plus extra edges, some parallel and some longer than the chord
    u = [int(rng.integers(0, i)) for i in range(1, n)]
    v = list(range(1, n))
    for _ in range(extra):
        a, b = rng.integers(0, n, 2)
        if a != b:
            u.append(int(a))
            v.append(int(b))
    u, v = np.array(u), np.array(v)
    chord = np.hypot(x[v] - x[u], y[v] - y[u])
    length = chord * rng.choice([1.0, 1.0, 1.3], len(u))
    return network_from_xy(x, y, u, v, length_m=length)


def oracle(net, src, pts):
    """Split every edge at the source and target points and run networkx multi-source Dijkstra."""
    G = nx.Graph()
    events: dict[int, list[tuple[float, str]]] = {}
    for i in range(len(src)):
        if not src.too_far[i]:
            events.setdefault(int(src.edge[i]), []).append((float(src.along_m[i]), f"s{i}"))
    for j in range(len(pts)):
        events.setdefault(int(pts.edge[j]), []).append((float(pts.along_m[j]), f"p{j}"))

    def add(a, b, w):
        if G.has_edge(a, b):
            w = min(w, G[a][b]["weight"])
        G.add_edge(a, b, weight=w)

    for e in range(net.n_edges):
        u, v, L = int(net.edge_u[e]), int(net.edge_v[e]), float(net.length_m[e])
        chain = [(0.0, u)] + sorted(events.get(e, [])) + [(L, v)]
        # each split point gets its own on-edge node so that two points at one position stay distinct
        prev_pos, prev = chain[0]
        for pos, name in chain[1:]:
            node = name if isinstance(name, int) else ("on", e, name)
            add(prev, node, pos - prev_pos)
            prev_pos, prev = pos, node
    for i in range(len(src)):
        if not src.too_far[i]:
            G.add_edge(f"s{i}", ("on", int(src.edge[i]), f"s{i}"), weight=float(src.dist_m[i]))
    sources = [f"s{i}" for i in range(len(src)) if not src.too_far[i]]
    dist = nx.multi_source_dijkstra_path_length(G, sources, weight="weight")
    out = np.full(len(pts), np.inf)
    for j in range(len(pts)):
        d = dist.get(("on", int(pts.edge[j]), f"p{j}"))
        if d is not None and not pts.too_far[j]:
            out[j] = d + pts.dist_m[j]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_nearest_matches_networkx(seed):
    net = random_network(seed)
    rng = np.random.default_rng(100 + seed)
    src = snap_points(net, rng.uniform(0, 2000, 6), rng.uniform(0, 2000, 6), max_snap_m=250)
    pts = snap_points(net, rng.uniform(0, 2000, 80), rng.uniform(0, 2000, 80), max_snap_m=250)
    d, who, field = nearest(net, src, pts)
    expect = oracle(net, src, pts)
    np.testing.assert_allclose(d, expect, rtol=0, atol=1e-6)
    # the reported source really is at that distance
    for j in np.flatnonzero(np.isfinite(d)):
        one = src.subset(np.array([who[j]]))
        dj, _, _ = nearest(net, one, pts.subset(np.array([j])))
        assert dj[0] == pytest.approx(d[j], abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_same_edge_direct_path(seed):
    # one long edge: a source and a target on it must use the direct along-edge distance
    net = network_from_xy([0, 1000, 1000], [0, 0, 1000], [0, 1], [1, 2])
    src = snap_points(net, [400.0], [10.0])
    pts = snap_points(net, [450.0 + seed * 10, 900.0], [-5.0, 0.0])
    d, who, _ = nearest(net, src, pts)
    np.testing.assert_allclose(d, [10 + 50 + seed * 10 + 5, 10 + 500], atol=1e-9)
    assert list(who) == [0, 0]


@pytest.mark.parametrize("seed", range(6))
def test_limit_and_reach_match_unbounded(seed):
    net = random_network(seed, n=120, extra=100)
    rng = np.random.default_rng(seed)
    src = snap_points(net, rng.uniform(0, 2000, 25), rng.uniform(0, 2000, 25), max_snap_m=200)
    pts = snap_points(net, rng.uniform(0, 2000, 300), rng.uniform(0, 2000, 300), max_snap_m=200)
    limit = 400.0
    full, _, _ = nearest(net, src, pts)
    bounded, _, _ = nearest(net, src, pts, limit_m=limit)
    within = full <= limit
    np.testing.assert_allclose(bounded[within], full[within], atol=1e-9)
    assert np.all(np.isinf(bounded[~within]))
    # reach on local tiles: every (source, point) pair within the limit, exact, tiny tiles to force many batches
    rch = reach(net, src, limit_m=limit, tile_m=150.0, max_batch=3)
    s, p, d = reach_points(net, rch, src, pts)
    for i in range(len(src)):
        one, _, _ = nearest(net, src.subset(np.array([i])), pts)
        exp_p = np.flatnonzero(one <= limit)
        got = p[s == i]
        assert sorted(got.tolist()) == exp_p.tolist()
        np.testing.assert_allclose(d[s == i], one[got], atol=1e-6)
    # the best pair per point is the nearest distance
    best = np.full(len(pts), np.inf)
    np.minimum.at(best, p, d)
    np.testing.assert_allclose(best[within], full[within], atol=1e-6)


def test_too_far_points_are_flagged_not_reached():
    net = network_from_xy([0, 100], [0, 0], [0], [1])
    src = snap_points(net, [50.0, 50.0], [0.0, 500.0], max_snap_m=300)
    pts = snap_points(net, [0.0, 100.0], [1000.0, 5.0], max_snap_m=300)
    assert src.too_far.tolist() == [False, True]
    d, who, _ = nearest(net, src, pts)
    assert np.isinf(d[0]) and who[0] == -1
    assert d[1] == pytest.approx(55.0) and who[1] == 0


def test_inputs_unchanged():
    net = random_network(3)
    before = {k: getattr(net, k).copy() for k in ("x", "y", "edge_u", "edge_v", "length_m")}
    rng = np.random.default_rng(0)
    src = snap_points(net, rng.uniform(0, 2000, 5), rng.uniform(0, 2000, 5))
    along = src.along_m.copy()
    nearest(net, src, src)
    for k, arr in before.items():
        np.testing.assert_array_equal(getattr(net, k), arr)
    np.testing.assert_array_equal(src.along_m, along)


def chainy_network(seed: int):
    """A random graph whose edges are subdivided into chains of degree-2 nodes, plus a detached ring
    and a parallel pair of chains (so that contraction meets every awkward case)."""
    rng = np.random.default_rng(seed)
    base = random_network(seed, n=40, extra=25)
    x, y = list(base.x), list(base.y)
    u, v = [], []
    for a, b in zip(base.edge_u, base.edge_v):
        k = int(rng.integers(0, 4))  # interior nodes on this edge
        prev = int(a)
        for t in range(1, k + 1):
            f = t / (k + 1) + rng.uniform(-0.05, 0.05)
            x.append(base.x[a] + f * (base.x[b] - base.x[a]) + rng.normal(0, 5))
            y.append(base.y[a] + f * (base.y[b] - base.y[a]) + rng.normal(0, 5))
            u.append(prev)
            v.append(len(x) - 1)
            prev = len(x) - 1
        u.append(prev)
        v.append(int(b))
    # a ring of degree-2 nodes on its own
    r0 = len(x)
    for t in range(5):
        x.append(3000 + 100 * np.cos(t))
        y.append(3000 + 100 * np.sin(t))
    u += [r0 + t for t in range(5)]
    v += [r0 + (t + 1) % 5 for t in range(5)]
    return network_from_xy(np.array(x), np.array(y), np.array(u), np.array(v))


@pytest.mark.parametrize("seed", range(10))
def test_chain_contraction_matches_plain_dijkstra(seed):
    from planner.travel import _nearest_field_plain, nearest_field

    net = chainy_network(seed)
    rng = np.random.default_rng(seed)
    src = snap_points(net, rng.uniform(0, 2000, 7), rng.uniform(0, 2000, 7), max_snap_m=300)
    for limit in (np.inf, 500.0):
        a = nearest_field(net, src, limit_m=limit)
        b = _nearest_field_plain(net, src, limit_m=limit)
        np.testing.assert_allclose(a.dist_m, b.dist_m, atol=1e-6)
        # ties may pick another source at the same distance: check the distance of the named one
        fin = np.isfinite(a.dist_m)
        assert np.all((a.source >= 0) == fin)
        for node in np.flatnonzero(fin)[:: max(1, fin.sum() // 40)]:
            one = _nearest_field_plain(net, src.subset(np.array([a.source[node]])))
            assert one.dist_m[node] == pytest.approx(a.dist_m[node], abs=1e-6)
    pts = snap_points(net, rng.uniform(0, 2000, 60), rng.uniform(0, 2000, 60), max_snap_m=300)
    d, _, _ = nearest(net, src, pts)
    np.testing.assert_allclose(d, oracle(net, src, pts), atol=1e-6)


# ---------------------------------------------------------------------------------------- one route
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_route_metres_equal_the_engines_distance(seed):
    from planner.travel import route_to_nearest

    net = random_network(seed)
    rng = np.random.default_rng(seed + 100)
    src = snap_points(net, rng.uniform(0, 2000, 5), rng.uniform(0, 2000, 5), max_snap_m=1e9)
    px, py = rng.uniform(0, 2000, 25), rng.uniform(0, 2000, 25)
    pts = snap_points(net, px, py, max_snap_m=1e9)
    dist, who, _ = nearest(net, src, pts)
    for j in range(len(px)):
        r = route_to_nearest(net, src, px[j], py[j], max_snap_m=1e9)
        if not np.isfinite(dist[j]):
            assert r.source == -1
            continue
        assert r.metres == pytest.approx(dist[j], rel=1e-9, abs=1e-6)
        assert r.source == who[j] or dist[j] == pytest.approx(r.metres)
        x, y = net.to_metric(r.lonlat[:, 0], r.lonlat[:, 1]) if net.crs else (r.lonlat[:, 0], r.lonlat[:, 1])
        assert (x[0], y[0]) == pytest.approx((px[j], py[j]), abs=1e-3)  # starts where the planner clicked


def test_route_on_the_demo_gives_the_coverage_minutes():
    """The route's minutes are the minutes the coverage engine gives a resident standing there, to the same facility."""
    from app.state import demo_study
    from planner.scenario import coverage

    res = coverage(demo_study(), isochrones="none")
    dt = res.demand_table
    checked = 0
    for k in res.coverage:
        ft = res.facilities_table
        for i in range(0, len(dt), max(1, len(dt) // 12)):
            r = res.route(k, float(dt["lon"].iloc[i]), float(dt["lat"].iloc[i]))
            m = float(dt[f"{k}_minutes"].iloc[i])
            if r is None:
                assert not np.isfinite(m)
                continue
            assert r["minutes"] == pytest.approx(m, rel=1e-9)
            assert r["facility_id"] == str(dt[f"{k}_facility_id"].iloc[i])
            end = ft[ft["id"].astype(str) == r["facility_id"]].iloc[0]
            assert tuple(r["lonlat"][-1]) == pytest.approx((end["lon"], end["lat"]), abs=1e-7)
            checked += 1
    assert checked > 20
