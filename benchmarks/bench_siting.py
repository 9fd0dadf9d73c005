"""Siting benchmarks: AED maximal coverage at ~300k nodes, spopt MCLP side by side, fewest sites, what-if.

A script, not a test. Prints one markdown block (figures for docs/benchmarks.md)::

    python benchmarks/bench_siting.py                 # the full run (~10 min on 2 cores)
    python benchmarks/bench_siting.py --quick         # small sizes, a minute or two
    python benchmarks/bench_siting.py --skip spopt    # sections: aed, spopt, target, whatif

Networks come from the synthetic demo district (``planner.demo``); without it, a jittered grid
with random demand stands in (said in the output).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import siting as S
from planner.config import default_types
from planner.network import network_from_xy, snap_points
from planner.travel import nearest

LINES: list[str] = []


def out(line: str = "") -> None:
    LINES.append(line)
    print(line, file=sys.stderr, flush=True)


class Instance:
    """Network, demand, existing facilities of one type, in metric coordinates."""

    def __init__(self, net, dlon, dlat, pop, dem_ids, flon, flat, label):
        self.net, self.pop, self.label = net, np.asarray(pop, float), label
        self.dlon, self.dlat, self.dem_ids = dlon, dlat, dem_ids
        t = time.perf_counter()
        self.dx, self.dy = map(np.asarray, net.to_metric(dlon, dlat))
        self.dem = snap_points(net, self.dx, self.dy)
        fx, fy = net.to_metric(flon, flat)
        self.fac = snap_points(net, fx, fy)
        _ = net.csr, net.edge_tree
        self.snap_s = time.perf_counter() - t


def demo_instance(scale: float, type_key: str, seed: int = 7) -> Instance:
    try:
        from planner.demo import make_district, nodes_for_scale
        from planner.network import compile_network
    except ImportError:
        return grid_instance(scale, type_key, seed)
    t = time.perf_counter()
    d = make_district(seed=seed, scale=scale)
    net = compile_network(d.raw)
    g = d.demand
    f = d.facilities[d.facilities["type"] == type_key]
    inst = Instance(net, g.geometry.x.to_numpy(), g.geometry.y.to_numpy(), g["population"].to_numpy(float),
                    g["id"].to_numpy(), f["lon"].to_numpy(float), f["lat"].to_numpy(float),
                    f"demo district scale {scale:g} (nodes_for_scale={nodes_for_scale(scale)})")
    inst.build_s = time.perf_counter() - t
    return inst


def grid_instance(scale: float, type_key: str, seed: int = 7) -> Instance:
    """Fallback: a jittered 40 m grid with ~25k nodes per unit of scale and random demand."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(25000 * scale))
    xx, yy = np.meshgrid(np.arange(side) * 40.0, np.arange(side) * 40.0, indexing="ij")
    x = xx.ravel() + 350000 + rng.uniform(-6, 6, side * side)
    y = yy.ravel() + 3450000 + rng.uniform(-6, 6, side * side)
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    net = network_from_xy(x, y, u, v)
    n_d = int(7000 * scale)
    dx, dy = rng.uniform(x.min(), x.max(), n_d), rng.uniform(y.min(), y.max(), n_d)
    dlon, dlat = net.to_lonlat(dx, dy)
    n_f = int(100 * scale) if type_key == "aed" else int(15 * scale)
    fx, fy = rng.uniform(x.min(), x.max(), n_f), rng.uniform(y.min(), y.max(), n_f)
    flon, flat = net.to_lonlat(fx, fy)
    inst = Instance(net, dlon, dlat, rng.uniform(10, 60, n_d), np.array([f"d{i}" for i in range(n_d)]),
                    flon, flat, f"grid fallback scale {scale:g} (planner.demo not available)")
    inst.build_s = 0.0
    return inst


def existing_covered(inst: Instance, ftype) -> np.ndarray:
    lim = S.goal_limit_m(ftype)
    if len(inst.fac) == 0:
        return np.zeros(len(inst.pop), bool)
    d, _, _ = nearest(inst.net, inst.fac, inst.dem, limit_m=lim)
    return d <= lim


# ------------------------------------------------------------------------------------ AED
def bench_aed(args, inst: Instance, ftype):
    out(f"### AED maximal coverage ({ftype.target_minutes:g} min at {ftype.speed_kmh:g} km/h = {ftype.target_m:g} m)")
    out()
    lim = S.goal_limit_m(ftype)
    t = time.perf_counter()
    before = existing_covered(inst, ftype)
    t_exist = time.perf_counter() - t
    unc = ~before & ~inst.dem.too_far
    t = time.perf_counter()
    cands = S.candidates_from_nodes(inst.net, spacing_m=args.aed_spacing, near_x=inst.dx[unc], near_y=inst.dy[unc], near_m=lim)
    cs = snap_points(inst.net, cands.x, cands.y)
    t_cand = time.perf_counter() - t
    t = time.perf_counter()
    a = S.coverage_matrix(inst.net, cs, inst.dem, limit_m=lim)
    t_matrix = time.perf_counter() - t
    t = time.perf_counter()
    red = S.reduce_problem(a, inst.pop, covered=before)
    t_red = time.perf_counter() - t
    t = time.perf_counter()
    g = S.greedy_max_coverage(red, args.count)
    t_greedy = time.perf_counter() - t
    base = float(inst.pop[before].sum())
    total = float(inst.pop.sum())
    gobj = base + float(g.gains.sum())
    out(f"- network: {inst.label}: {inst.net.n_nodes:,} nodes, {inst.net.n_edges:,} edges (build {inst.build_s:.1f} s, snap {inst.snap_s:.1f} s)")
    out(f"- demand points: {len(inst.pop):,}; existing AEDs: {len(inst.fac):,} covering {base / total:.2%} of demand")
    out(f"- candidates: {len(cands):,} network nodes, one per {args.aed_spacing:g} m cell within {lim:.1f} m of uncovered demand")
    out(f"- coverage matrix: {a.shape[0]:,} x {a.shape[1]:,}, {a.nnz:,} non-zeros")
    out(f"- reduction: rows {red.sizes['rows_after_drop_covered_or_unreachable']:,} -> {red.sizes['rows_final']:,}, "
        f"candidates {red.sizes['candidates']:,} -> {red.sizes['cols_after_drop_empty']:,} (non-empty) -> {red.sizes['cols_final']:,}")
    out()
    out("| stage | seconds |")
    out("|---|---:|")
    out(f"| existing coverage (bounded multi-source Dijkstra) | {t_exist:.2f} |")
    out(f"| candidate generation + snapping | {t_cand:.2f} |")
    out(f"| coverage matrix (bounded Dijkstra, batched) | {t_matrix:.2f} |")
    out(f"| reduction | {t_red:.2f} |")
    out(f"| lazy greedy, p = {args.count} | {t_greedy:.3f} |")
    out(f"| **matrix + reduction + greedy** | **{t_matrix + t_red + t_greedy:.2f}** (target ≤ 15) |")
    out()
    res = {"red": red, "a": a, "before": before, "greedy_obj": gobj, "cands": cands}
    if "exact" in args.skip:
        return res
    t = time.perf_counter()
    m = S.milp_max_coverage(red, args.count, time_limit_s=args.exact_time_limit, mip_rel_gap=args.mip_gap, warm=g)
    t_exact = time.perf_counter() - t
    eobj = base + m.objective
    bound = base + m.bound
    out(f"- greedy covers {gobj:,.1f} ({gobj / total:.3%}); HiGHS ({m.status}, {t_exact:.1f} s, limit {args.exact_time_limit:g} s, "
        f"warm start {'accepted' if m.warm_start else 'not accepted'}): {eobj:,.1f}, proven bound {bound:,.1f}, gap {m.gap:.2e}")
    out(f"- **greedy / HiGHS bound = {gobj / bound:.4%}** (greedy / HiGHS objective = {gobj / eobj:.4%}; target ≥ 99%)")
    out("- new-site part only (what the solvers choose): greedy "
        f"{gobj - base:,.1f} vs bound {bound - base:,.1f} = {(gobj - base) / (bound - base):.4%}")
    out()
    return res


# ------------------------------------------------------------------------------------ spopt
def bench_spopt(args, inst: Instance, ftype, res):
    try:
        import pulp
        import spopt
        from spopt.locate import MCLP
    except ImportError as exc:
        out(f"### spopt MCLP: skipped ({exc})")
        return
    out(f"### spopt {getattr(spopt, '__version__', '?')} MCLP vs ours, same instance (network distances as the cost matrix)")
    out()
    lim = S.goal_limit_m(ftype)
    a_full = res["a"].tocsr()
    before = res["before"]
    cands = res["cands"]
    live = np.flatnonzero(~before & (np.diff(a_full.indptr) > 0))
    out("Instance: the AED matrix restricted to a square window (demand not already covered, candidates with any "
        "demand in the window); p scaled with the candidate count. Dense cost matrix: network metres within "
        f"the goal, {1e6:g} elsewhere. spopt solver: pulp.HiGHS (highspy {_highs_version()}), "
        f"time limit {args.spopt_time_limit:g} s; spopt time = `from_cost_matrix` + `solve`. Ours: same dense cost "
        "matrix in -> threshold -> reduction -> greedy / HiGHS MILP.")
    out()
    out("| demand | candidates | p | spopt s | spopt objective | ours greedy s | ours greedy obj | ours exact s | ours exact obj | speed-up (exact) | objective ratio (exact/spopt) |")
    out("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    dxl, dyl = inst.dx[live], inst.dy[live]
    x0, y0 = np.median(dxl), np.median(dyl)
    for n_dem in args.spopt_demand:
        # window around the centre holding about n_dem live demand points
        r = np.sort(np.maximum(np.abs(dxl - x0), np.abs(dyl - y0)))[min(n_dem, len(dxl)) - 1]
        rows = live[(np.abs(dxl - x0) <= r) & (np.abs(dyl - y0) <= r)]
        sub = a_full[rows]
        cols = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
        if len(cols) == 0:
            continue
        sub = sub[:, cols]
        w = inst.pop[rows]
        p = max(5, int(round(args.count * len(cols) / a_full.shape[1])))
        # our distances as the dense cost matrix spopt takes
        _, _, dist = _pair_dists(inst, cands, cols, rows, lim)
        cost = np.full((len(rows), len(cols)), 1e6)
        rr, cc, dd = dist
        cost[rr, cc] = dd
        t = time.perf_counter()
        try:
            model = MCLP.from_cost_matrix(cost, w, service_radius=lim, p_facilities=p, name="aed")
            model = model.solve(pulp.HiGHS(msg=False, timeLimit=args.spopt_time_limit))
            t_sp = time.perf_counter() - t
            chosen = np.array([i for i, v in enumerate(model.fac_vars) if v.value() is not None and v.value() > 0.5])
            sp_obj = float(w[(cost[:, chosen] <= lim).any(axis=1)].sum()) if len(chosen) else 0.0
            status = pulp.LpStatus[model.problem.status]
        except Exception as exc:  # spopt/pulp failures are a result here, not a crash
            t_sp, sp_obj, status = time.perf_counter() - t, float("nan"), f"failed: {exc}"
        t = time.perf_counter()
        a = sp.csr_matrix(cost <= lim)
        red = S.reduce_problem(a, w)
        g = S.greedy_max_coverage(red, p)
        t_g = time.perf_counter() - t
        t = time.perf_counter()
        a = sp.csr_matrix(cost <= lim)
        red = S.reduce_problem(a, w)
        g2 = S.greedy_max_coverage(red, p)
        m = S.milp_max_coverage(red, p, time_limit_s=args.spopt_time_limit, mip_rel_gap=0.0, warm=g2)
        t_e = time.perf_counter() - t
        out(f"| {len(rows):,} | {len(cols):,} | {p} | {t_sp:.2f} ({status}) | {sp_obj:,.1f} | {t_g:.3f} | {g.gains.sum():,.1f} | "
            f"{t_e:.3f} | {m.objective:,.1f} | {t_sp / t_e:.0f}x | {m.objective / sp_obj:.6f} |")
        if t_sp > args.spopt_budget:
            out(f"(stopped growing: spopt took {t_sp:.0f} s > budget {args.spopt_budget:g} s)")
            break
    out()


def _highs_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("highspy")
    except PackageNotFoundError:
        return "n/a"


def _pair_dists(inst, cands, cols, rows, lim):
    """Network metres for (demand row, candidate col) pairs within the goal, for the dense cost matrix."""
    from planner.travel import reach, reach_points

    cs = snap_points(inst.net, cands.x[cols], cands.y[cols])
    r = reach(inst.net, cs, limit_m=lim, tile_m=1500.0, max_batch=2048)
    s, p, d = reach_points(inst.net, r, cs, inst.dem.subset(rows))
    return cs, None, (p, s, d)


# ------------------------------------------------------------------------------------ target
def bench_target(args, inst: Instance, ftype):
    out(f"### Fewest sites for a target share ({ftype.key}, {ftype.target_minutes:g} min = {ftype.target_m:g} m)")
    out()
    out(f"- network: {inst.label}: {inst.net.n_nodes:,} nodes; demand points {len(inst.pop):,}; "
        f"candidates: nodes, one per {args.target_spacing:g} m cell near uncovered demand")
    out()
    out("| existing kept | share of reachable | candidates | greedy sites | greedy s | exact sites | proven lower bound | exact s | status |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    lim = S.goal_limit_m(ftype)
    for keep in (True, False):
        fac = inst.fac if keep else inst.fac.subset(np.zeros(0, np.int64))
        before = (nearest(inst.net, fac, inst.dem, limit_m=lim)[0] <= lim) if len(fac) else np.zeros(len(inst.pop), bool)
        unc = ~before & ~inst.dem.too_far
        cands = S.candidates_from_nodes(inst.net, spacing_m=args.target_spacing, near_x=inst.dx[unc], near_y=inst.dy[unc], near_m=lim)
        t = time.perf_counter()
        cs = snap_points(inst.net, cands.x, cands.y)
        a = S.coverage_matrix(inst.net, cs, inst.dem, limit_m=lim)
        t_m = time.perf_counter() - t
        for share in (0.95, 1.0):
            kw = dict(target_share=share, share_of="reachable", matrix=a)
            t = time.perf_counter()
            gr = S.propose(inst.net, cands, fac, inst.dem, inst.pop, ftype, method="greedy", **kw)
            t_g = time.perf_counter() - t
            t = time.perf_counter()
            ex = S.propose(inst.net, cands, fac, inst.dem, inst.pop, ftype, method="exact",
                           time_limit_s=args.target_time_limit, **kw)
            t_e = time.perf_counter() - t
            out(f"| {'yes (' + str(len(fac)) + ')' if keep else 'no (from scratch)'} | {share:.0%} | {len(cands):,} | {len(gr.sites)} | "
                f"{t_g:.2f} | {len(ex.sites)} | {ex.bound:g} | {t_e:.2f} | {ex.status} |")
        out(f"|  | (matrix: {a.shape[0]:,} x {a.shape[1]:,}, nnz {a.nnz:,}, {t_m:.1f} s; the greedy/exact seconds reuse it) | | | | | | | |")
    out()


# ------------------------------------------------------------------------------------ what-if
def bench_whatif(args, inst: Instance, ftype):
    out(f"### Incremental what-if ({ftype.key}, {ftype.target_m:g} m goal)")
    out()
    t = time.perf_counter()
    w = S.WhatIf(inst.net, inst.fac, inst.dem, inst.pop, ftype, demand_ids=inst.dem_ids)
    t_init = time.perf_counter() - t
    rng = np.random.default_rng(0)
    pick = rng.choice(len(inst.pop), args.whatif_n, replace=False)
    # a click lands near a building, not on it: 20-60 m away
    ang = rng.uniform(0, 2 * np.pi, args.whatif_n)
    rad = rng.uniform(20, 60, args.whatif_n)
    lon, lat = inst.net.to_lonlat(inst.dx[pick] + rad * np.cos(ang), inst.dy[pick] + rad * np.sin(ang))
    w.add(float(lon[0]), float(lat[0]), site_id="warmup")
    w.remove("warmup")
    adds, rems, gains = [], [], []
    for i in range(args.whatif_n):
        d = w.add(float(lon[i]), float(lat[i]), site_id=f"c{i}")
        adds.append(d.seconds)
        gains.append(d.newly_covered)
    for i in range(args.whatif_n):
        d = w.remove(f"c{i}")
        rems.append(d.seconds)
    adds, rems = np.array(adds) * 1000, np.array(rems) * 1000
    out(f"- network: {inst.label}: {inst.net.n_nodes:,} nodes; demand points {len(inst.pop):,}; existing sites {len(inst.fac):,}")
    out(f"- set-up (one full nearest + index): {t_init:.2f} s")
    out(f"- **add one site: median {np.median(adds):.1f} ms** (p90 {np.percentile(adds, 90):.1f} ms, max {adds.max():.1f} ms, "
        f"n = {args.whatif_n}; target ≤ 50 ms); median demand newly covered {np.median(gains):.1f}")
    out(f"- remove that site again: median {np.median(rems):.1f} ms (p90 {np.percentile(rems, 90):.1f} ms)")
    out()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--aed-scale", type=float, default=12.0, help="demo scale for the AED and what-if cases (12 ≈ 300k nodes)")
    ap.add_argument("--aed-spacing", type=float, default=100.0, help="candidate cell size, metres (AED)")
    ap.add_argument("--count", type=int, default=222, help="new AEDs")
    ap.add_argument("--exact-time-limit", type=float, default=120.0, help="HiGHS limit for the AED MILP, seconds")
    ap.add_argument("--mip-gap", type=float, default=1e-4, help="HiGHS relative gap for the AED MILP")
    ap.add_argument("--spopt-demand", type=lambda s: [int(v) for v in s.split(",")], default=[1000, 3000, 8000],
                    help="window sizes (live demand points) for the spopt comparison, comma-separated")
    ap.add_argument("--spopt-time-limit", type=float, default=180.0)
    ap.add_argument("--spopt-budget", type=float, default=120.0, help="stop growing the spopt size after a run this long")
    ap.add_argument("--target-scale", type=float, default=1.0, help="demo scale for the fewest-sites case (1 ≈ 25k nodes)")
    ap.add_argument("--target-type", default="service_station")
    ap.add_argument("--target-spacing", type=float, default=200.0)
    ap.add_argument("--target-time-limit", type=float, default=60.0)
    ap.add_argument("--whatif-n", type=int, default=50)
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: aed, exact, spopt, target, whatif")
    args = ap.parse_args(argv)
    if args.quick:
        args.aed_scale, args.exact_time_limit, args.spopt_demand = 1.0, 20.0, [500, 1500]
        args.target_time_limit, args.whatif_n, args.count = 20.0, 20, 30
    args.skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    import scipy

    out("```")
    out(f"bench_siting.py — Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"highspy {_highs_version()}, {platform.machine()} x{_cpus()} — {time.strftime('%Y-%m-%d %H:%M')}")
    out("```")
    out()
    types = default_types()
    aed = types["aed"]
    if {"aed", "spopt", "whatif"} - args.skip:
        big = demo_instance(args.aed_scale, "aed")
        res = bench_aed(args, big, aed) if "aed" not in args.skip or "spopt" not in args.skip else None
        if "spopt" not in args.skip and res is not None:
            bench_spopt(args, big, aed, res)
        if "whatif" not in args.skip:
            bench_whatif(args, big, aed)
        del big
    if "target" not in args.skip:
        small = demo_instance(args.target_scale, args.target_type)
        bench_target(args, small, types[args.target_type])
    out(f"_total wall time {time.perf_counter() - t0:.0f} s_")
    print("\n".join(LINES))
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _report import write_section

        write_section("siting", "## Siting (`benchmarks/bench_siting.py`)\n\n" + "\n".join(LINES))
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
