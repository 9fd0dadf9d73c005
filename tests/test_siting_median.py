"""p-median and p-center against exhaustive enumeration on small instances; the swap's bookkeeping; messages."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from planner import siting_median as M
from planner._errors import InputError


def dense_instance(seed, m=30, n=9, cutoff=60.0, with_existing=True):
    """Random points in a square: Euclidean distances as a stand-in metric, pairs within a cut-off."""
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 100, (m, 2))
    cand = rng.uniform(0, 100, (n, 2))
    d = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(0, 40, m).astype(float)
    if with_existing:
        ex = rng.uniform(0, 100, (2, 2))
        fb = np.minimum(np.hypot(*(dem[:, None, :] - ex[None, :, :]).transpose(2, 0, 1)).min(axis=1), cutoff)
    else:
        fb = np.full(m, cutoff)
    r, c = np.nonzero(d <= cutoff)
    return M.time_problem(r, c, d[r, c], w, fb, n), np.minimum(d, cutoff), w, fb


def brute(d, w, fb, p, objective):
    best, arg = np.inf, None
    for comb in itertools.combinations(range(d.shape[1]), p):
        cost = np.minimum(fb, d[:, list(comb)].min(axis=1))
        val = float(w @ cost) if objective == "median" else float(cost[w > 0].max())
        if val < best - 1e-12:
            best, arg = val, comb
    return best, arg


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_exact_median_equals_enumeration(seed, p):
    prob, d, w, fb = dense_instance(seed, with_existing=seed % 2 == 0)
    want, _ = brute(d, w, fb, p, "median")
    heur = M.heuristic_median(prob, p)
    ex = M.milp_median(prob, p, warm=heur.chosen, mip_rel_gap=0.0)
    assert ex.objective == pytest.approx(want, rel=1e-9)
    assert ex.status == "Optimal" and ex.gap <= 1e-9 and ex.bound <= ex.objective + 1e-9
    assert len(ex.chosen) == p and len(heur.chosen) == p and len(set(heur.chosen)) == p
    assert heur.objective >= want - 1e-9
    assert heur.objective == pytest.approx(M.assigned_cost(prob, heur.chosen)[0] @ w)
    # the Lagrangian bound never exceeds the optimum, and the reported gap is consistent with it
    assert heur.bound <= want + 1e-9
    assert heur.gap == pytest.approx((heur.objective - heur.bound) / heur.objective)
    lb, _ = M.lagrangian_median(prob, p)
    assert lb <= want + 1e-9


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("p", [2, 3, 4])
def test_swap_ends_at_a_local_optimum(seed, p):
    """No single (in, out) exchange improves the swap's answer: checked by trying every one."""
    prob, d, w, fb = dense_instance(seed + 10, m=40, n=10, with_existing=seed % 2 == 0)
    s, _ = M.swap_median(prob, M.greedy_median(prob, p))
    base = float(w @ np.minimum(fb, d[:, s].min(axis=1)))
    for k in range(p):
        for j in set(range(10)) - set(s.tolist()):
            t = s.copy()
            t[k] = j
            assert float(w @ np.minimum(fb, d[:, t].min(axis=1))) >= base - 1e-9


def test_swap_improves_a_bad_start():
    prob, d, w, fb = dense_instance(3, m=50, n=10, with_existing=False)
    worst, comb = -1.0, None
    for c in itertools.combinations(range(10), 2):
        v = float(w @ np.minimum(fb, d[:, list(c)].min(axis=1)))
        if v > worst:
            worst, comb = v, c
    s, it = M.swap_median(prob, list(comb))
    assert it >= 1 and float(w @ np.minimum(fb, d[:, s].min(axis=1))) < worst


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_exact_center_equals_enumeration(seed, p):
    prob, d, w, fb = dense_instance(seed, with_existing=seed % 2 == 1)
    want, _ = brute(d, w, fb, p, "center")
    ex = M.exact_center(prob, p)
    assert ex.objective == pytest.approx(want, rel=1e-12)
    assert ex.status == "Optimal" and ex.bound == pytest.approx(want)
    assert len(ex.chosen) == p
    heur = M.heuristic_center(prob, p)
    assert heur.objective >= want - 1e-12


def test_fallback_caps_cost_and_far_pairs_are_dropped():
    # demand 0 has a kept facility at 5: a candidate at 7 can never serve it
    prob = M.time_problem([0, 0, 1], [0, 1, 1], [7.0, 3.0, 2.0], [10.0, 1.0], [5.0, 50.0], 2)
    assert list(zip(prob.rows.tolist(), prob.cols.tolist())) == [(0, 1), (1, 1)]
    cost, who = M.assigned_cost(prob, [0])
    assert cost.tolist() == [5.0, 50.0] and who.tolist() == [-1, -1]
    cost, who = M.assigned_cost(prob, [1])
    assert cost.tolist() == [3.0, 2.0] and who.tolist() == [1, 1]


def test_messages():
    with pytest.raises(InputError, match="only once"):
        M.time_problem([0, 0], [1, 1], [1.0, 2.0], [1.0], [9.0], 2)
    with pytest.raises(InputError, match="finite fallback") as e:
        M.time_problem([0], [0], [1.0], [1.0], [np.inf], 1)
    assert "兜底" in e.value.zh


# ------------------------------------------------------------------------- study level
def study_with_candidates(seed=0, n_cand=8):
    from planner.siting import candidates_from_points
    from tests.helpers import X0, Y0, grid_study

    study = grid_study(seed=seed, n=16, n_fac=4, n_dem=300)
    net = study.networks["walk"]
    rng = np.random.default_rng(seed + 50)
    lon, lat = net.to_lonlat(rng.uniform(X0, X0 + 1500, n_cand), rng.uniform(Y0, Y0 + 1500, n_cand))
    return study, candidates_from_points(net, np.column_stack([lon, lat]))


def brute_study(study, cands, p, cutoff, objective, *, relocate=False):
    """Enumerate every p-subset; times from a full nearest() on existing + chosen sites."""
    from planner.network import snap_points
    from planner.travel import nearest

    net = study.networks["walk"]
    mpm = 4.5 * 1000 / 60
    fac = study.facilities[study.facilities["type"] == "health_centre"]
    g = study.demand.gdf
    ds = snap_points(net, *net.to_metric(g.geometry.x.to_numpy(), g.geometry.y.to_numpy()))
    ex_xy = np.column_stack(net.to_metric(fac["lon"].to_numpy(), fac["lat"].to_numpy()))
    all_xy = np.column_stack([cands.x, cands.y])
    if relocate:
        all_xy = np.vstack([ex_xy, all_xy])
        ex_xy = ex_xy[:0]
    w = g["population"].to_numpy(float)
    best = np.inf
    for comb in itertools.combinations(range(len(all_xy)), p):
        xy = np.vstack([ex_xy, all_xy[list(comb)]])
        t = np.minimum(nearest(net, snap_points(net, xy[:, 0], xy[:, 1]), ds)[0] / mpm, cutoff)
        v = float(w @ t / w.sum()) if objective == "median" else float(t[w > 0].max())
        best = min(best, v)
    return best


@pytest.mark.parametrize("objective", ["median", "center"])
@pytest.mark.parametrize("p", [1, 2])
def test_propose_time_equals_enumeration_on_the_network(objective, p):
    study, cands = study_with_candidates()
    res = M.propose_time(study, "health_centre", count=p, objective=objective, candidates=cands, cutoff_minutes=20,
                         method="exact")
    want = brute_study(study, cands, p, 20.0, objective)
    assert res.value == pytest.approx(want, rel=1e-9)
    assert res.status == "Optimal" and res.bound == pytest.approx(want, rel=1e-6)
    assert len(res.sites) == p and (res.sites["source"] == "click").all()
    d = res.demand
    assert len(d) == len(study.demand) and (d["minutes_after"] <= d["minutes_before"] + 1e-9).all()
    assert res.summary["value_before_minutes"] >= res.value - 1e-12
    if objective == "median":
        assert res.sites["residents"].sum() <= d["population"].sum()
        assert len(res.areas) == 2 and res.areas["new_sites"].sum() == p
        w = d["population"].to_numpy()
        assert res.value == pytest.approx(float(w @ d["minutes_after"]) / w.sum())


def test_propose_time_heuristic_is_feasible_and_not_better_than_exact():
    study, cands = study_with_candidates(seed=3, n_cand=8)
    h = M.propose_time(study, "health_centre", count=3, candidates=cands, method="heuristic", cutoff_minutes=20)
    e = M.propose_time(study, "health_centre", count=3, candidates=cands, method="exact", cutoff_minutes=20)
    assert h.value >= e.value - 1e-9 and e.gap <= 1e-6
    assert h.bound <= e.value + 1e-9 and h.gap >= 0  # the Lagrangian bound is a true lower bound
    assert len(set(h.sites["id"])) == 3


def test_relocation_keeps_the_count_and_never_does_worse():
    study, cands = study_with_candidates(seed=1, n_cand=5)
    n_exist = int((study.facilities["type"] == "health_centre").sum())
    res = M.propose_time(study, "health_centre", count=0, candidates=cands, relocate=True, method="exact", cutoff_minutes=20)
    assert len(res.sites) == n_exist
    assert res.value <= res.summary["value_before_minutes"] + 1e-9
    want = brute_study(study, cands, n_exist, 20.0, "median", relocate=True)
    assert res.value == pytest.approx(want, rel=1e-9)
    assert res.summary["existing_kept"] == int((res.sites["source"] == "existing").sum())


@pytest.mark.parametrize("kwargs, en", [
    ({"count": 1, "objective": "fastest"}, "Unknown objective 'fastest'"),
    ({"count": -1}, "whole number >= 0"),
    ({"count": 1, "method": "magic"}, "Unknown method 'magic'"),
    ({"count": 1, "cutoff_minutes": 0}, "cut-off must be a positive"),
    ({"count": 9}, "only 8 candidates"),
])
def test_propose_time_messages(kwargs, en):
    study, cands = study_with_candidates()
    with pytest.raises(Exception) as e:
        M.propose_time(study, "health_centre", candidates=cands, **kwargs)
    assert en in e.value.en and e.value.zh != e.value.en


def test_write_time_siting(tmp_path):
    import json

    import pandas as pd

    study, cands = study_with_candidates()
    res = M.propose_time(study, "health_centre", count=2, candidates=cands, method="exact", cutoff_minutes=20)
    written = M.write_time_siting(res, tmp_path, extra_summary={"study": "grid"})
    assert set(written) == {"proposals.csv", "demand.csv", "areas.csv", "summary.json"}
    sites = pd.read_csv(tmp_path / "proposals.csv", encoding="utf-8-sig")
    assert sites["id"].tolist() == res.sites["id"].tolist()
    s = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert s["objective"] == "median" and s["study"] == "grid" and s["value_minutes"] == pytest.approx(res.value)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_bound_is_a_bound_and_the_lp_value(seed, p):
    """The HiGHS LP-relaxation bound never exceeds the optimum; complete, it equals the LP relaxation
    of the full formulation (solved directly), whatever the starting subset of pairs."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    prob, d, w, fb = dense_instance(seed, with_existing=seed % 2 == 0)
    want, _ = brute(d, w, fb, p, "median")
    m, n, e = prob.n_dem, prob.n_cand, len(prob.rows)
    z = np.arange(e)
    a_eq = sp.hstack([sp.csr_matrix((m, n)), sp.csr_matrix((np.ones(e), (prob.rows, z)), shape=(m, e)),
                      sp.identity(m)]).tocsr()
    a_eq = sp.vstack([a_eq, sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, e + m))])])
    a_ub = sp.hstack([sp.csr_matrix((-np.ones(e), (z, prob.cols)), shape=(e, n)), sp.identity(e), sp.csr_matrix((e, m))])
    c = np.concatenate([np.zeros(n), w[prob.rows] * prob.dist, w * prob.fallback])
    lp = linprog(c, A_ub=a_ub, b_ub=np.zeros(e), A_eq=a_eq, b_eq=np.concatenate([np.ones(m), [p]]), bounds=(0, 1),
                 method="highs")
    for k0 in (1, 8):
        b = M.lp_bound_median(prob, p, k0=k0)
        assert b.complete and b.status == "Optimal"
        assert b.bound <= want + 1e-9 * max(want, 1.0)
        assert b.bound == pytest.approx(lp.fun, rel=1e-6, abs=1e-6)
        assert b.bound >= M.lagrangian_median(prob, p)[0] - 1e-6 * max(want, 1.0)
