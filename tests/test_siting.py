"""Siting: coverage matrix, reduction, greedy and exact solvers against enumeration, what-if, messages, CLI."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from planner import siting as S
from planner._errors import InfeasibleError, InputError
from planner.config import FacilityType
from planner.coverage_stats import type_coverage
from planner.network import network_from_xy, snap_points
from planner.travel import nearest

X0, Y0 = 350000.0, 3450000.0  # UTM 51N, near Shanghai


def grid_net(nx=12, ny=12, step=60.0, seed=0, jitter=8.0):
    """A jittered square grid (non-integer lengths: no ties between paths)."""
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(nx) * step, np.arange(ny) * step, indexing="ij")
    x = xx.ravel() + X0 + rng.uniform(-jitter, jitter, nx * ny)
    y = yy.ravel() + Y0 + rng.uniform(-jitter, jitter, nx * ny)
    idx = np.arange(nx * ny).reshape(nx, ny)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    return network_from_xy(x, y, u, v)


def ftype(minutes=2.0, speed=4.5):
    return FacilityType("t", "测试", "test", target_minutes=minutes, speed_kmh=speed)


def instance(seed, n_cand=10, n_dem=80, n_fac=1, minutes=2.0):
    net = grid_net(seed=seed)
    rng = np.random.default_rng(seed + 100)
    lo_x, hi_x, lo_y, hi_y = net.x.min(), net.x.max(), net.y.min(), net.y.max()
    dx, dy = rng.uniform(lo_x, hi_x, n_dem), rng.uniform(lo_y, hi_y, n_dem)
    cx, cy = rng.uniform(lo_x, hi_x, n_cand), rng.uniform(lo_y, hi_y, n_cand)
    fx, fy = rng.uniform(lo_x, hi_x, n_fac), rng.uniform(lo_y, hi_y, n_fac)
    pop = rng.integers(1, 50, n_dem).astype(float)
    lon, lat = net.to_lonlat(cx, cy)
    cands = S.candidates_from_points(net, np.column_stack([lon, lat]))
    dem = snap_points(net, dx, dy)
    fac = snap_points(net, fx, fy)
    return net, cands, fac, dem, pop, ftype(minutes)


def oracle_matrix(net, cand_snap, dem_snap, limit):
    """Brute force: one full nearest() per candidate."""
    cols = []
    for j in range(len(cand_snap)):
        d, _, _ = nearest(net, cand_snap.subset([j]), dem_snap)
        cols.append(d <= limit)
    return np.column_stack(cols)


def enum_max(cov, pop, before, p):
    best = 0.0
    for comb in itertools.combinations(range(cov.shape[1]), p):
        c = before | cov[:, list(comb)].any(axis=1)
        best = max(best, float(pop[c].sum()))
    return best


def enum_min(cov, pop, before, need):
    for k in range(0, cov.shape[1] + 1):
        for comb in itertools.combinations(range(cov.shape[1]), k):
            c = before | cov[:, list(comb)].any(axis=1)
            if pop[c].sum() >= need - 1e-9:
                return k
    return None


# ------------------------------------------------------------------------- coverage matrix
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coverage_matrix_equals_bruteforce_nearest(seed):
    net, cands, fac, dem, pop, ft = instance(seed, n_cand=12, n_dem=150)
    cs = snap_points(net, cands.x, cands.y)
    limit = S.goal_limit_m(ft)
    a = S.coverage_matrix(net, cs, dem, limit_m=limit, max_batch=5)
    assert sp.issparse(a) and a.shape == (len(dem), len(cs))
    oracle = oracle_matrix(net, cs, dem, limit)
    np.testing.assert_array_equal(a.toarray().astype(bool), oracle)
    b = S.coverage_matrix(net, cs, dem, limit_m=limit, tile_m=150.0)  # many small tiles
    np.testing.assert_array_equal(b.toarray().astype(bool), oracle)


# ------------------------------------------------------------------------- solvers vs enumeration
@pytest.mark.parametrize("seed", range(6))
def test_max_coverage_greedy_and_exact_against_enumeration(seed):
    net, cands, fac, dem, pop, ft = instance(seed, n_cand=10 + seed % 3)
    cs = snap_points(net, cands.x, cands.y)
    limit = S.goal_limit_m(ft)
    cov = oracle_matrix(net, cs, dem, limit)
    before = nearest(net, fac, dem)[0] <= limit
    for p in (1, 2, 3, 4):
        opt = enum_max(cov, pop, before, p)
        ex = S.propose(net, cands, fac, dem, pop, ft, count=p, method="exact", mip_rel_gap=0)
        gr = S.propose(net, cands, fac, dem, pop, ft, count=p, method="greedy")
        assert ex.objective == pytest.approx(opt, rel=1e-9)
        assert ex.covered_after == pytest.approx(opt, rel=1e-9)
        assert ex.gap <= 1e-9
        new_opt = opt - pop[before].sum()
        assert gr.objective - pop[before].sum() >= (1 - 1 / np.e) * new_opt - 1e-9
        assert gr.objective <= opt + 1e-9
        assert gr.bound >= opt - 1e-6  # the (1 - 1/e) bound is a true upper bound
        # the ranked table adds up and the curve is non-decreasing
        for r in (ex, gr):
            assert r.sites["cumulative_demand"].iloc[-1] == pytest.approx(r.covered_after)
            assert np.all(np.diff(r.curve["covered_demand"]) >= -1e-9)
            assert np.all(np.diff(r.sites["marginal_demand"]) <= 1e-9)  # greedy order: gains shrink


@pytest.mark.parametrize("seed", range(5))
def test_min_sites_against_enumeration(seed):
    net, cands, fac, dem, pop, ft = instance(seed, n_cand=10, minutes=2.5)
    cs = snap_points(net, cands.x, cands.y)
    limit = S.goal_limit_m(ft)
    cov = oracle_matrix(net, cs, dem, limit)
    before = nearest(net, fac, dem)[0] <= limit
    reachable = float(pop[before | cov.any(axis=1)].sum())
    for share in (0.5, 0.8, 1.0):
        need = share * reachable
        kmin = enum_min(cov, pop, before, need)
        ex = S.propose(net, cands, fac, dem, pop, ft, target_share=share, share_of="reachable", method="exact", mip_rel_gap=0)
        gr = S.propose(net, cands, fac, dem, pop, ft, target_share=share, share_of="reachable", method="greedy")
        assert len(ex.sites) == kmin
        assert ex.objective == kmin
        assert len(gr.sites) >= kmin
        assert ex.covered_after >= need - 1e-6 and gr.covered_after >= need - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_reduction_preserves_optimum(seed):
    net, cands, fac, dem, pop, ft = instance(seed, n_cand=12, n_dem=120, minutes=3.0)
    for p in (2, 4):
        a = S.propose(net, cands, fac, dem, pop, ft, count=p, method="exact", mip_rel_gap=0, reduce=True)
        b = S.propose(net, cands, fac, dem, pop, ft, count=p, method="exact", mip_rel_gap=0, reduce=False)
        assert a.objective == pytest.approx(b.objective, rel=1e-12)
        assert a.reduction["rows_final"] <= b.reduction["rows_final"]
        assert a.reduction["cols_final"] <= b.reduction["cols_final"]
    a = S.propose(net, cands, fac, dem, pop, ft, target_share=0.9, share_of="reachable", method="exact", mip_rel_gap=0)
    b = S.propose(net, cands, fac, dem, pop, ft, target_share=0.9, share_of="reachable", method="exact", mip_rel_gap=0,
                  reduce=False)
    assert a.objective == b.objective


def test_reduce_problem_by_hand():
    # rows: 0 {0,1}, 1 {0,1}, 2 {1}, 3 {} ; col 2 = {1} ⊂ col 0 = {0,1}? no: col sets are per column
    # columns: c0 = {0,1}, c1 = {0,1,2}, c2 = {0,1} (equal to c0), c3 = {} (empty)
    a = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
    w = np.array([1.0, 2.0, 4.0, 8.0])
    red = S.reduce_problem(a, w)
    assert list(red.cols) == [1]  # c0 and c2 are inside c1; c3 covers nothing
    assert red.sizes["rows_after_merge"] == 2  # rows 0 and 1 merge
    assert red.sizes["rows_final"] == 1  # with only c1 left, all its rows are one group
    assert red.weight.sum() == pytest.approx(7.0)
    assert red.row_of[3] == -1
    # equal sets: the lowest index stays
    b = sp.csr_matrix(np.array([[0, 1, 1], [0, 1, 1], [1, 0, 0]]))
    red = S.reduce_problem(b, np.ones(3))
    assert list(red.cols) == [0, 1]
    # covered rows are dropped
    red = S.reduce_problem(b, np.ones(3), covered=np.array([False, False, True]))
    assert list(red.cols) == [1]


def test_capacitated():
    net, cands, fac, dem, pop, ft = instance(3, n_cand=10, minutes=3.0)
    free = S.propose(net, cands, fac, dem, pop, ft, count=3, method="exact", mip_rel_gap=0)
    big = S.propose(net, cands, fac, dem, pop, ft, count=3, capacity=1e9, mip_rel_gap=0)
    assert big.objective == pytest.approx(free.objective, rel=1e-9)
    cap = 50.0
    small = S.propose(net, cands, fac, dem, pop, ft, count=3, capacity=cap, mip_rel_gap=0)
    assert small.problem == "capacitated" and small.method == "exact"
    assert small.objective <= free.covered_before + 3 * cap + 1e-6
    assert (small.sites["marginal_demand"] <= cap + 1e-6).all()


# ------------------------------------------------------------------------- candidates
def test_candidates_from_nodes_one_per_cell_and_near_filter():
    net = grid_net(20, 20, step=40.0)
    c = S.candidates_from_nodes(net, spacing_m=100.0)
    cells = set(zip(np.floor(c.x / 100.0), np.floor(c.y / 100.0)))
    assert len(cells) == len(c)
    all_cells = set(zip(np.floor(net.x / 100.0), np.floor(net.y / 100.0)))
    assert cells == all_cells
    near = S.candidates_from_nodes(net, spacing_m=100.0, near_x=[net.x[0]], near_y=[net.y[0]], near_m=150.0)
    assert 0 < len(near) < len(c)
    assert (np.hypot(near.x - net.x[0], near.y - net.y[0]) <= 150.0).all()


def test_candidates_from_gdf_and_points():
    import geopandas as gpd

    net = grid_net()
    lon, lat = net.lon[:3], net.lat[:3]
    g = gpd.GeoDataFrame({"id": ["a", "b", "c"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    c = S.candidates_from_gdf(net, g)
    assert list(c.ids) == ["a", "b", "c"]
    np.testing.assert_allclose(c.x, net.x[:3], atol=1e-6)
    with pytest.raises(InputError, match="unique"):
        S.candidates_from_points(net, [(lon[0], lat[0]), (lon[1], lat[1])], ids=["x", "x"])


# ------------------------------------------------------------------------- what-if
def _full(net, what, ft, extra=(), drop=()):
    """type_coverage with the what-if's open facilities (the oracle)."""
    idx = [i for i, o in enumerate(what._open) if o]
    snap = what._snap_of(idx)
    return type_coverage(net, snap, [what._ids[i] for i in idx], what.dem_snap, what.pop, ft)


@pytest.mark.parametrize("exact_minutes", [False, True])
def test_whatif_add_remove_equal_full_recompute(exact_minutes):
    net, cands, fac, dem, pop, ft = instance(4, n_cand=6, n_dem=300, n_fac=3, minutes=2.0)
    w = S.WhatIf(net, fac, dem, pop, ft, minutes_exact=exact_minutes)
    base = type_coverage(net, fac, ["f0", "f1", "f2"], dem, pop, ft)
    assert w.share == pytest.approx(base.stats["coverage_share"])
    steps = [("add", 0), ("add", 1), ("remove", "f1"), ("add", 2), ("remove", "new3"), ("remove", "f0"), ("add", 3)]
    for op, arg in steps:
        before_cov = w.covered.copy()
        before_min = w.minutes.copy()
        d = w.add(cands.lon[arg], cands.lat[arg]) if op == "add" else w.remove(arg)
        full = _full(net, w, ft)
        np.testing.assert_array_equal(w.covered, full.covered)
        assert w.share == pytest.approx(full.stats["coverage_share"], rel=1e-12)
        assert d.share_after == pytest.approx(full.stats["coverage_share"], rel=1e-12)
        gained = full.covered & ~before_cov
        lost = ~full.covered & before_cov
        assert d.newly_covered == pytest.approx(pop[gained].sum())
        assert d.newly_uncovered == pytest.approx(pop[lost].sum())
        assert set(d.covered_ids) == set(np.flatnonzero(gained))
        if exact_minutes:
            np.testing.assert_allclose(w.minutes, full.minutes, rtol=1e-12, atol=1e-9)
            changed = np.flatnonzero(~np.isclose(before_min, full.minutes, rtol=1e-12, atol=1e-9))
            assert set(changed) <= set(d.changed_ids)
        else:  # minutes exact within the goal; beyond it never below the truth
            inside = full.minutes <= ft.target_minutes
            np.testing.assert_allclose(w.minutes[inside], full.minutes[inside], rtol=1e-12, atol=1e-9)
            assert (w.minutes >= full.minutes - 1e-9).all()


def test_whatif_from_nothing_and_errors():
    net, cands, fac, dem, pop, ft = instance(5, n_cand=3, n_dem=100, n_fac=1)
    w = S.WhatIf(net, fac.subset(np.zeros(0, np.int64)), dem, pop, ft, minutes_exact=True)
    assert w.share == 0
    w.add(cands.lon[0], cands.lat[0], site_id="a")
    full = _full(net, w, ft)
    np.testing.assert_allclose(w.minutes, full.minutes, rtol=1e-12)
    with pytest.raises(InputError, match="No open site with id 'zz'"):
        w.remove("zz")
    with pytest.raises(InputError, match="already exists"):
        w.add(cands.lon[1], cands.lat[1], site_id="a")


# ------------------------------------------------------------------------- messages
def test_messages():
    net, cands, fac, dem, pop, ft = instance(1, n_cand=5)
    with pytest.raises(InfeasibleError, match="only 5 candidates") as e:
        S.propose(net, cands, fac, dem, pop, ft, count=6)
    assert "只有 5 个候选点" in str(e.value)
    with pytest.raises(InfeasibleError, match="no demand to cover") as e:
        S.propose(net, cands, fac, dem, np.zeros(len(pop)), ft, count=1)
    assert "没有需要覆盖的需求" in str(e.value)
    with pytest.raises(InfeasibleError, match="no candidate sites"):
        S.propose(net, cands.subset(np.zeros(0, np.int64)), fac, dem, pop, ft, count=1)
    with pytest.raises(InputError, match="exactly one of count"):
        S.propose(net, cands, fac, dem, pop, ft)
    with pytest.raises(InputError, match="must be in"):
        S.propose(net, cands, fac, dem, pop, ft, target_share=1.5)
    # target above what candidates can reach: states the maximum share and the unreachable demand
    limit = S.goal_limit_m(ft)
    cs = snap_points(net, cands.x, cands.y)
    cov = oracle_matrix(net, cs, dem, limit).any(axis=1) | (nearest(net, fac, dem)[0] <= limit)
    max_share = pop[cov].sum() / pop.sum()
    assert max_share < 1
    with pytest.raises(InfeasibleError) as e:
        S.propose(net, cands, fac, dem, pop, ft, target_share=1.0, demand_ids=[f"d{i}" for i in range(len(pop))])
    msg = e.value.message("en")
    assert f"at most {max_share:.2%}" in msg
    assert f"{int((~cov).sum())} demand points" in msg
    assert f"d{np.flatnonzero(~cov)[0]}" in msg
    assert "最多覆盖" in e.value.message("zh")
    # unknown type through the study adapter
    from planner.config import default_types

    with pytest.raises(InputError, match="Unknown facility type 'nope'"):
        default_types().get_type("nope")


def test_inputs_unchanged():
    net, cands, fac, dem, pop, ft = instance(2, n_cand=8)
    pop0, x0, e0 = pop.copy(), cands.x.copy(), dem.edge.copy()
    S.propose(net, cands, fac, dem, pop, ft, count=3, method="exact")
    w = S.WhatIf(net, fac, dem, pop, ft)
    w.add(cands.lon[0], cands.lat[0])
    np.testing.assert_array_equal(pop, pop0)
    np.testing.assert_array_equal(cands.x, x0)
    np.testing.assert_array_equal(dem.edge, e0)


def test_areas_before_after():
    import geopandas as gpd
    from shapely.geometry import box

    net, cands, fac, dem, pop, ft = instance(0, n_cand=10)
    mx = float(np.median(net.lon))
    areas = gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["西", "东"]},
                             geometry=[box(0, 0, mx, 90), box(mx, 0, 180, 90)], crs=4326)
    rng = np.random.default_rng(0)
    da = np.where(rng.random(len(pop)) < 0.5, "W", "E")
    r = S.propose(net, cands, fac, dem, pop, ft, count=3, demand_area=da, areas=areas)
    assert list(r.areas["area_id"]) == ["W", "E"]
    assert r.areas["demand_total"].sum() == pytest.approx(pop.sum())
    assert r.areas["covered_after"].sum() == pytest.approx(r.covered_after)
    assert r.areas["new_sites"].sum() == 3
    assert (r.areas["share_after"] >= r.areas["share_before"]).all()


# ------------------------------------------------------------------------- CLI
def test_cli_propose_writes_files(tmp_path):
    from planner.cli import main
    from planner.network import save_network

    net, cands, fac, dem, pop, ft = instance(0, n_cand=10, n_dem=120)
    save_network(net, tmp_path / "net.npz")
    rng = np.random.default_rng(0)
    pick = rng.choice(net.n_nodes, 2, replace=False)
    pd.DataFrame({"id": ["A1", "A2"], "name": ["甲", "乙"], "type": ["aed", "aed"],
                  "lon": net.lon[pick], "lat": net.lat[pick]}).to_csv(tmp_path / "fac.csv", index=False)
    dx = rng.uniform(net.x.min(), net.x.max(), 150)
    dy = rng.uniform(net.y.min(), net.y.max(), 150)
    dlon, dlat = net.to_lonlat(dx, dy)
    pd.DataFrame({"id": [f"d{i}" for i in range(150)], "lon": dlon, "lat": dlat,
                  "population": rng.integers(1, 40, 150)}).to_csv(tmp_path / "dem.csv", index=False)
    out = tmp_path / "out"
    rc = main(["propose", "--network", str(tmp_path / "net.npz"), "--facilities", str(tmp_path / "fac.csv"),
               "--demand", str(tmp_path / "dem.csv"), "--type", "aed", "--count", "5", "--minutes", "3",
               "--candidate-spacing-m", "120", "--method", "exact", "--time-limit", "20", "--lang", "en",
               "--out", str(out)])
    assert rc == 0
    props = pd.read_csv(out / "proposals.csv")
    assert list(props.columns) == ["rank", "id", "lon", "lat", "marginal_demand", "cumulative_share"]
    assert 1 <= len(props) <= 5 and list(props["rank"]) == list(range(1, len(props) + 1))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["method"] == "exact" and summary["problem"] == "max_coverage"
    assert summary["share_after"] >= summary["share_before"]
    assert summary["share_after"] == pytest.approx(props["cumulative_share"].iloc[-1])
    gj = json.loads((out / "proposals.geojson").read_text(encoding="utf-8"))
    assert len(gj["features"]) == len(props)
    try:
        import maps.build  # noqa: F401
    except ImportError:
        pytest.skip("maps package not available: map.html is skipped by design")
    assert (out / "map.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    # a target beyond reach fails with a clear message and exit code 2
    rc = main(["propose", "--network", str(tmp_path / "net.npz"), "--facilities", str(tmp_path / "fac.csv"),
               "--demand", str(tmp_path / "dem.csv"), "--type", "aed", "--target-share", "1.0", "--minutes", "0.5",
               "--candidate-spacing-m", "400", "--lang", "en", "--no-map", "--out", str(tmp_path / "o2")])
    assert rc == 2


def _study(seed=0, n_dem=150):
    import geopandas as gpd

    from planner.config import default_types
    from planner.demand import demand_from_points
    from planner.scenario import Study

    net = grid_net(seed=seed)
    rng = np.random.default_rng(seed)
    dx = rng.uniform(net.x.min(), net.x.max(), n_dem)
    dy = rng.uniform(net.y.min(), net.y.max(), n_dem)
    lon, lat = net.to_lonlat(dx, dy)
    dem = gpd.GeoDataFrame({"id": [f"d{i}" for i in range(n_dem)], "population": rng.integers(1, 30, n_dem).astype(float)},
                           geometry=gpd.points_from_xy(lon, lat), crs=4326)
    fac = pd.DataFrame({"id": ["A1", "S1"], "name": ["a", "s"], "type": ["aed", "service_station"],
                        "lon": net.lon[[5, 60]], "lat": net.lat[[5, 60]]})
    return Study(networks={"walk": net}, facilities=fac, demand=demand_from_points(dem), types=default_types())


def test_propose_study_generated_candidates_and_unknown_type():
    study = _study()
    r = S.propose_study(study, "aed", count=4, minutes=2.0)
    assert r.problem == "max_coverage" and len(r.sites) == 4 and r.share_after > r.share_before
    assert r.sites["id"].str.startswith("n").all()  # network nodes
    r = S.propose_study(study, "AED", count=3, minutes=2.0, candidates_from="demand", method="exact")
    assert r.sites["id"].str.startswith("d:").all()
    r = S.propose_study(study, "aed", target_share=1.0, share_of="reachable", minutes=2.0, candidate_spacing_m=60)
    assert r.covered_after == pytest.approx(r.reachable_demand)
    with pytest.raises(InputError, match="Unknown facility type 'nope'") as e:
        S.propose_study(study, "nope", count=1)
    assert "未知的设施类型" in str(e.value)


def test_relocation_never_worse_than_keeping_and_matches_enumeration():
    """With relocation the existing sites compete with the candidates: the exact answer equals
    enumeration over existing + candidate sites, and is never worse than keeping them all."""
    import itertools

    from planner.network import snap_points
    from planner.scenario import run
    from planner.siting import candidates_from_points, coverage_matrix, propose_study
    from tests.helpers import X0, Y0, grid_study

    study = grid_study(5, n=14, n_fac=6, n_dem=300, with_areas=False)
    net = study.networks["walk"]
    rng = np.random.default_rng(3)
    cx, cy = rng.uniform(X0, X0 + 1300, 7), rng.uniform(Y0, Y0 + 1300, 7)
    clon, clat = net.to_lonlat(cx, cy)
    given = candidates_from_points(net, list(zip(clon, clat)))
    res = propose_study(study, "health_centre", candidates=given, count=0, minutes=4, method="exact", relocate=True)
    base = study.facilities[study.facilities["type"] == "health_centre"]
    assert len(res.sites) == len(base) == 3
    kept = set(res.sites.loc[res.sites["source"] == "existing", "id"])
    assert kept <= set(base["id"])
    # enumeration: every choice of 3 sites among the 3 existing + 7 candidates
    all_lon = np.concatenate([base["lon"].to_numpy(), clon])
    all_lat = np.concatenate([base["lat"].to_numpy(), clat])
    ax, ay = net.to_metric(all_lon, all_lat)
    dx, dy = net.to_metric(study.demand.gdf.geometry.x, study.demand.gdf.geometry.y)
    a = coverage_matrix(net, snap_points(net, ax, ay), snap_points(net, dx, dy), limit_m=4 * 75 + 1e-9).tocsc()
    pop = study.demand.population
    best = max(float(pop[np.asarray(a[:, list(c)].sum(axis=1)).ravel() > 0].sum())
               for c in itertools.combinations(range(len(all_lon)), 3))
    assert res.objective == pytest.approx(best)
    before = run(study, type_keys=["health_centre"], minutes=4, isochrones="none").coverage["health_centre"]
    assert res.share_after >= before.stats["coverage_share"] - 1e-12
    # "before" is the existing sites where they stand (it was 0.0: the solve starts from none)
    assert res.share_before == pytest.approx(before.stats["coverage_share"], abs=1e-12)
    assert res.summary()["share_before"] == pytest.approx(before.stats["coverage_share"], abs=1e-12)


def test_generated_candidates_leave_no_resident_unreachable():
    """Thinning nodes to one per cell must not make a target look infeasible: every resident on the
    network can be covered by a site placed at their door, so 100 % is always reachable."""
    from app.state import demo_study
    from planner.siting import propose_study

    study = demo_study(scale=0.3)
    res = propose_study(study, "aed", target_share=1.0, candidate_spacing_m=300)
    assert res.share_after == pytest.approx(1.0)
    assert (res.sites["source"] == "demand").any()  # some residents needed a candidate of their own


def test_whatif_started_from_a_coverage_run_equals_one_that_computes_its_own_baseline():
    """The app's what-if starts from the coverage run's distances (one multi-source Dijkstra fewer on every type
    switch of a Pudong-sized study): the same state and the same deltas, add after add."""
    from planner.coverage_stats import type_coverage

    net, cands, fac, dem, pop, ft = instance(3, n_cand=8)
    cov = type_coverage(net, fac, [f"f{i}" for i in range(len(fac))], dem, pop, ft)
    a = S.WhatIf(net, fac, dem, pop, ft)
    b = S.WhatIf(net, fac, dem, pop, ft, baseline=(cov.dist_m, cov.facility_index))
    np.testing.assert_array_equal(a.dist_m, b.dist_m)
    np.testing.assert_array_equal(a.who, b.who)
    for i in range(4):
        da, db = a.add(cands.lon[i], cands.lat[i]), b.add(cands.lon[i], cands.lat[i])
        assert (da.newly_covered, da.share_after) == (db.newly_covered, db.share_after)
    np.testing.assert_array_equal(a.dist_m, b.dist_m)
