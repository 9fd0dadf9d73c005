"""Access benchmark (issue 13): E2SFCA for 100k demand points x 300 facilities, 15-minute catchment, ~300k-node network.

Ours, from raw coordinates (lon/lat): project and snap demand and facilities
(:func:`planner.network.snap_points`), exact catchment times by bounded Dijkstra on local subgraphs
(:func:`planner.fca.catchment_pairs`), then the two E2SFCA steps (:func:`planner.fca.fca`).
Snapping peer: the shapely STRtree ``query_nearest`` over the edges (``snap_points(index=False)``,
our snapping before the KD-tree index; osmnx's ``nearest_edges`` makes the same query); the two must
give the same edge, offset and distance for every point (checked bit for bit).
Peer, the usual recipe: a cost matrix built with networkx (one ``single_source_dijkstra_path_length``
per facility with the catchment as cutoff, joined to the demand points on the reached edges with
pandas), then PySAL access ``Access.enhanced_two_stage_fca`` with ``weights.step_fn``. Both get the
same snapped points, so their times and access values must agree (checked to 1e-9, relative).

Usage: python benchmarks/bench_access.py [--nodes 300000] [--demand 100000] [--facilities 300] [--write]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from _report import fmt_s as _fmt_s
from _report import machine, timeit, write_section
from bench_engine import scale_for, to_networkx

from planner.demo import make_district
from planner.fca import AccessWhatIf, catchment_pairs, fca
from planner.network import SnapIndex, compile_network, snap_points
from planner.travel import _same_edge

MINUTES = 15.0
SPEED_KMH = 4.5


def fmt_s(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 0.01 else _fmt_s(s)


def networkx_cost_matrix(G, net, fac, dem, limit_m):
    """The usual recipe: Dijkstra with a cutoff per facility (networkx), joined to demand points with pandas."""
    import networkx as nx

    e = dem.edge
    ends = pd.DataFrame({
        "node": np.concatenate([net.edge_u[e], net.edge_v[e]]),
        "point": np.tile(np.arange(len(dem)), 2),
        "extra": np.concatenate([dem.along_m, net.length_m[e] - dem.along_m]) + np.tile(dem.dist_m, 2),
    })
    ends = ends[~np.tile(dem.too_far, 2)]
    parts = []
    for j in range(len(fac)):
        ej = fac.edge[j]
        H = G  # the facility joins the graph as a temporary node with two arcs, as in our engine
        s = ("s", j)
        H.add_edge(s, int(net.edge_u[ej]), weight=float(fac.dist_m[j] + fac.along_m[j]))
        H.add_edge(s, int(net.edge_v[ej]), weight=float(fac.dist_m[j] + net.length_m[ej] - fac.along_m[j]))
        d = nx.single_source_dijkstra_path_length(H, s, cutoff=limit_m, weight="weight")
        H.remove_node(s)
        d.pop(s, None)
        nd = pd.DataFrame({"node": np.fromiter(d.keys(), np.int64, len(d)), "d": np.fromiter(d.values(), float, len(d))})
        m = nd.merge(ends, on="node")
        m["cost"] = m["d"] + m["extra"]
        m = m[m["cost"] <= limit_m]
        m = m.groupby("point", as_index=False)["cost"].min()
        m["fac"] = j
        parts.append(m[["fac", "point", "cost"]])
    cost = pd.concat(parts, ignore_index=True)
    # a facility and a resident on the same street segment: the direct path along it
    p, s, dd = _same_edge(fac, dem)
    direct = pd.DataFrame({"fac": s, "point": p, "cost": dd})
    direct = direct[direct["cost"] <= limit_m]
    cost = pd.concat([cost, direct]).groupby(["fac", "point"], as_index=False)["cost"].min()
    return cost


def pysal_e2sfca(cost_min, supply, pop):
    from access import Access, weights

    dem = pd.DataFrame({"pop": pop}, index=pd.Index(np.arange(len(pop)), name="geoid"))
    sup = pd.DataFrame({"s": supply}, index=pd.Index(np.arange(len(supply)) + 10_000_000, name="geoid"))
    cost = pd.DataFrame({"origin": cost_min["point"].to_numpy(), "dest": cost_min["fac"].to_numpy() + 10_000_000,
                         "cost": cost_min["t"].to_numpy()})
    acc = Access(demand_df=dem, demand_index=True, demand_value="pop", supply_df=sup, supply_index=True,
                 supply_value="s", cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    fn = weights.step_fn({MINUTES / 3: 1.0, 2 * MINUTES / 3: 0.68, MINUTES: 0.22})
    out = acc.enhanced_two_stage_fca(name="e2", max_cost=MINUTES, weight_fn=fn)
    return 1000.0 * out["e2_s"].reindex(np.arange(len(pop))).fillna(0.0).to_numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=300_000)
    ap.add_argument("--demand", type=int, default=100_000)
    ap.add_argument("--facilities", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()

    load0 = os.getloadavg()
    t = time.perf_counter()
    d = make_district(scale=scale_for(args.nodes))
    net = compile_network(d.raw)
    t_tree, _, _, _ = timeit(lambda: __import__("shapely").STRtree(net.edge_geoms), repeat=args.repeat)
    t_index, _, _, _ = timeit(lambda: SnapIndex.build(net.geom_xy, net.geom_offsets), repeat=args.repeat)
    _ = net.csr, net.edge_tree, net.snap_index  # built once and cached, like a loaded network
    print(f"network: {net.n_nodes:,} nodes, {net.n_edges:,} edges ({time.perf_counter() - t:.1f} s to build)", flush=True)
    rng = np.random.default_rng(0)
    fpick = rng.choice(net.n_nodes, args.facilities, replace=False)
    fx, fy = net.x[fpick] + rng.normal(0, 15, args.facilities), net.y[fpick] + rng.normal(0, 15, args.facilities)
    dpick = rng.choice(net.n_nodes, args.demand, replace=True)
    dx, dy = net.x[dpick] + rng.normal(0, 25, args.demand), net.y[dpick] + rng.normal(0, 25, args.demand)
    supply = rng.integers(1, 20, args.facilities).astype(float)
    pop = rng.integers(1, 400, args.demand).astype(float)
    mpm = SPEED_KMH * 1000 / 60
    limit = (MINUTES + 1e-9) * mpm

    # raw coordinates, as a user gives them; both snappings start from them
    flon, flat = net.to_lonlat(fx, fy)
    dlon, dlat = net.to_lonlat(dx, dy)

    def snap(index=True):
        return (snap_points(net, *net.to_metric(flon, flat), index=index),
                snap_points(net, *net.to_metric(dlon, dlat), index=index))

    t_snap, _, _, (fs, ds) = timeit(snap, repeat=args.repeat)
    t = time.perf_counter()
    fs_p, ds_p = snap(index=False)
    t_snap_peer = time.perf_counter() - t
    same_snap = all(np.array_equal(getattr(a, k), getattr(b, k)) for a, b in ((fs, fs_p), (ds, ds_p))
                    for k in ("edge", "along_m", "dist_m", "too_far"))
    ties = int((~(net.snap_index.nearest(*net.to_metric(dlon, dlat))[0] >= 0)).sum())
    print(f"snapping: ours {fmt_s(t_snap)}, STRtree {fmt_s(t_snap_peer)} ({t_snap_peer / t_snap:.1f}x); identical: "
          f"{same_snap}; {ties:,} of {args.demand:,} demand points settled by the STRtree (ties, undecided); index build "
          f"{fmt_s(t_index)} (STRtree {fmt_s(t_tree)})", flush=True)

    def raw_run():
        f_s, d_s = snap()
        f_, p_, dist_ = catchment_pairs(net, f_s, d_s, limit_m=limit)
        return fca(f_, p_, dist_ / mpm, supply, pop, minutes=MINUTES, decay="step")

    t_raw, raw_lo, raw_hi, res_raw = timeit(raw_run, repeat=args.repeat)

    def ours():
        f, p, dist = catchment_pairs(net, fs, ds, limit_m=limit)
        return fca(f, p, dist / mpm, supply, pop, minutes=MINUTES, decay="step"), (f, p, dist)

    med, lo, hi, (res, (f, p, dist)) = timeit(ours, repeat=args.repeat)
    t_pairs, _, _, _ = timeit(lambda: catchment_pairs(net, fs, ds, limit_m=limit), repeat=args.repeat)
    t_fca, _, _, _ = timeit(lambda: fca(f, p, dist / mpm, supply, pop, minutes=MINUTES, decay="step"), repeat=args.repeat)
    print(f"ours: {fmt_s(med)} (min {fmt_s(lo)}, max {fmt_s(hi)}): catchment times {fmt_s(t_pairs)}, two steps {fmt_s(t_fca)}; "
          f"snapping {fmt_s(t_snap)} on top; {len(f):,} pairs, {int((res.access > 0).sum()):,} points with access", flush=True)

    # what-if: add a site and remove it again, incremental against a full recomputation
    wi = AccessWhatIf(net, fs, supply, ds, pop, minutes=MINUTES, speed_kmh=SPEED_KMH, decay="step")
    n_edit = 10
    at = rng.choice(net.n_nodes, n_edit, replace=False)
    alon, alat = net.to_lonlat(net.x[at] + 10.0, net.y[at] + 10.0)
    adds, removes, touched = [], [], []
    for k in range(n_edit):
        dl = wi.add(float(alon[k]), float(alat[k]), 5.0, site_id=f"w{k}")
        adds.append(dl.seconds)
        touched.append(len(dl.changed_index))
    fs_all = snap_points(net, np.concatenate([fx, net.x[at] + 10.0]), np.concatenate([fy, net.y[at] + 10.0]))
    f2, p2, d2 = catchment_pairs(net, fs_all, ds, limit_m=limit)
    ref = fca(f2, p2, d2 / mpm, np.concatenate([supply, np.full(n_edit, 5.0)]), pop, minutes=MINUTES, decay="step").access
    wi_err = float(np.max(np.abs(wi.access - ref)))
    for k in range(n_edit):
        removes.append(wi.remove(f"w{k}").seconds)
    wi_err = max(wi_err, float(np.max(np.abs(wi.access - res.access))))
    t_full = med
    print(f"what-if: add median {fmt_s(float(np.median(adds)))} (max {fmt_s(max(adds))}), remove median "
          f"{fmt_s(float(np.median(removes)))}; {int(np.median(touched)):,} residents touched per edit; "
          f"max |diff| vs full recomputation {wi_err:.1e}", flush=True)

    t = time.perf_counter()
    G = to_networkx(net)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    cost = networkx_cost_matrix(G, net, fs, ds, limit)
    t_nx = time.perf_counter() - t
    print(f"networkx cost matrix: {fmt_s(t_nx)} ({len(cost):,} pairs; graph conversion {fmt_s(t_graph)} not counted)", flush=True)
    # same times as ours?
    ours_df = pd.DataFrame({"fac": f, "point": p, "ours": dist})
    both = ours_df.merge(cost, on=["fac", "point"], how="outer")
    missing = int(both["ours"].isna().sum() + both["cost"].isna().sum())
    tdiff = float((both["ours"] - both["cost"]).abs().max())
    cost["t"] = cost["cost"] / mpm
    t = time.perf_counter()
    py = pysal_e2sfca(cost, supply, pop)
    t_py = time.perf_counter() - t
    rel = float(np.max(np.abs(py - res.access) / np.maximum(np.abs(res.access), 1e-300)))
    print(f"PySAL access E2SFCA on that matrix: {fmt_s(t_py)}; pairs differing {missing}, max |dt| {tdiff:.1e} m, "
          f"max relative access difference {rel:.1e}", flush=True)
    peer = t_nx + t_py
    peer_raw = t_snap_peer + peer
    raw_same = bool(np.array_equal(res_raw.access, res.access))
    load1 = os.getloadavg()
    print(f"ratio: travel times + access {peer / med:.0f}x; two steps alone vs PySAL {t_py / t_fca:.0f}x; "
          f"from raw coordinates {fmt_s(t_raw)} vs {fmt_s(peer_raw)} ({peer_raw / t_raw:.0f}x)", flush=True)

    lines = [
        "## Access, E2SFCA (`benchmarks/bench_access.py`)",
        "",
        f"Machine: {machine()}. Demo district: {net.n_nodes:,} nodes / {net.n_edges:,} edges; {args.demand:,} demand points "
        f"and {args.facilities} facilities at random network positions (seed 0), 15-minute catchment at {SPEED_KMH} km/h, "
        f"step weights 1.0 / 0.68 / 0.22; {len(f):,} facility-resident pairs within the catchment. Ours: median of "
        f"{args.repeat} runs; peer: 1 run. Load average (1 min) {load0[0]:.1f} at the start, {load1[0]:.1f} at the end "
        "(the machine is shared). Raw coordinates are lon/lat; after snapping, both sides use the same snapped points.",
        "",
        "| step | ours | peer: STRtree snapping, networkx cost matrix, PySAL access | ratio |",
        "|---|---|---|---|",
        f"| snapping {args.demand:,} + {args.facilities} points (lon/lat to the nearest street) | {fmt_s(t_snap)} | "
        f"{fmt_s(t_snap_peer)} (shapely STRtree `query_nearest`, our previous snapping) | {t_snap_peer / t_snap:.1f}× |",
        f"| travel times within the catchment | {fmt_s(t_pairs)} | "
        f"{fmt_s(t_nx)} (networkx `single_source_dijkstra_path_length` × {args.facilities} + pandas join) | "
        f"{t_nx / t_pairs:.0f}× |",
        f"| the two E2SFCA steps | {fmt_s(t_fca)} | {fmt_s(t_py)} (`enhanced_two_stage_fca`, `weights.step_fn`) | "
        f"{t_py / t_fca:.0f}× |",
        f"| travel times + access, from snapped points | {fmt_s(med)} | {fmt_s(peer)} | {peer / med:.0f}× |",
        f"| **the whole run from raw coordinates** | **{fmt_s(t_raw)}** (min {fmt_s(raw_lo)}, max {fmt_s(raw_hi)}) | "
        f"**{fmt_s(peer_raw)}** | **{peer_raw / t_raw:.0f}×** |",
        "",
        f"Snapping (one function, shared by coverage, siting and access): a KD-tree over points spaced along the "
        f"street segments gives 8 candidate segments per point and exact distances; ties between streets (a junction "
        f"nearest) and points the candidates cannot settle go to the STRtree ({ties:,} of the {args.demand:,} demand "
        f"points). Same edge, offset and distance as the STRtree alone for every point: {same_snap} (bit for bit); "
        f"the access values of the raw run equal those from the pre-snapped points: {raw_same}. The index is built once "
        f"per network and cached ({fmt_s(t_index)}; the STRtree, {fmt_s(t_tree)}); like the CSR matrix it is not counted "
        f"above (a loaded network), so a single cold run pays it on top. "
        f"Agreement: the peer's cost matrix has the same pairs ({missing} differ) with times within {tdiff:.1e} m of "
        f"ours; access values agree to {rel:.1e} (relative). The networkx graph conversion ({fmt_s(t_graph)}) is not "
        "counted for the peer.",
        "",
        f"What-if (`AccessWhatIf`), {n_edit} sites added at random places (supply 5) and removed again: add "
        f"{fmt_s(float(np.median(adds)))} median (max {fmt_s(max(adds))}), remove {fmt_s(float(np.median(removes)))} median "
        f"(max {fmt_s(max(removes))}), {int(np.median(touched)):,} residents touched per edit; peer: recomputing access for "
        f"all sites, {fmt_s(t_full)} ({t_full / float(np.median(adds)):.0f}× the add). After the edits the values equal a "
        f"full recomputation to {wi_err:.1e}.",
    ]
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("access", md)


if __name__ == "__main__":
    main()
