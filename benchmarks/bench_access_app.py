"""The app's access what-if on a ~300k-node demo study (issue 13: "adding or removing a site in the app updates access
for the affected residents incrementally ... <= 200 ms on 300k nodes").

Ours: the access view's :class:`app.access_state.AccessTracker` synced to the proposal list one site at a time, as a
click or a remove button does (each sync runs :class:`planner.fca.AccessWhatIf` ``add`` or ``remove``: one bounded
Dijkstra from the site over the residents within its catchment's reach). Peer, in the same run: what the view would do
without it, :func:`planner.access` on the study with the proposals (full recomputation: snapping, catchment times of
every facility, the two steps, statistics). After the edits the what-if must equal the full recomputation.

Usage: python benchmarks/bench_access_app.py [--nodes 300000] [--sites 10] [--repeat 3] [--write]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _report import fmt_s as _fmt_s
from _report import machine, timeit, write_section
from bench_engine import scale_for

from app import state as ss
from app.access_state import AccessTracker
from planner import access
from planner.store import Site

TYPE = "health_centre"


def fmt_s(s: float) -> str:
    if s < 0.001:
        return f"{s * 1e6:.0f} µs"
    return f"{s * 1000:.1f} ms" if s < 0.01 else _fmt_s(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=300_000)
    ap.add_argument("--sites", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()

    t = time.perf_counter()
    scale = scale_for(args.nodes)
    study = ss.demo_study(scale=scale)
    net = study.networks["walk"]
    _ = net.csr, net.edge_tree
    n_dem = len(study.demand.gdf)
    n_fac = int((study.facilities["type"] == TYPE).sum())
    print(f"demo study at scale {scale:.2f}: {net.n_nodes:,} nodes, {net.n_edges:,} edges, {n_dem:,} demand points, "
          f"{n_fac} facilities of {TYPE} ({time.perf_counter() - t:.1f} s to build)", flush=True)

    t = time.perf_counter()
    base = access(study, TYPE)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    tracker = AccessTracker(study, base)
    t_tracker = time.perf_counter() - t
    err0 = float(np.max(np.abs(tracker.access - base.demand["access_per_1000"].to_numpy())))
    print(f"access of the existing facilities {fmt_s(t_base)}; the view's what-if built in {fmt_s(t_tracker)} "
          f"(max |diff| {err0:.1e})", flush=True)

    # proposals at random street positions, as clicks would put them
    rng = np.random.default_rng(0)
    at = rng.choice(net.n_nodes, args.sites, replace=False)
    lon, lat = net.to_lonlat(net.x[at] + 10.0, net.y[at] + 10.0)
    sites = [Site(f"P{k + 1}", float(lon[k]), float(lat[k]), TYPE, "click") for k in range(args.sites)]
    adds, removes, touched, cpu = [], [], [], []  # wall seconds per edit; cpu: this process's CPU seconds per edit
    for k in range(args.sites):
        t, c = time.perf_counter(), time.process_time()
        deltas = tracker.sync(sites[:k + 1], 1.0)
        adds.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        touched += [len(d.changed_index) for d in deltas]
    assert not tracker.refused, tracker.refused
    cpu_rm = []
    for k in range(args.sites, 0, -1):
        t, c = time.perf_counter(), time.process_time()
        tracker.sync(sites[:k - 1], 1.0)
        removes.append(time.perf_counter() - t)
        cpu_rm.append(time.process_time() - c)
    err = float(np.max(np.abs(tracker.access - tracker.baseline)))
    # then the peer (after our timings, so its garbage is not collected inside them), and the values checked against it
    tracker.sync(sites, 1.0)
    scen = ss.with_proposals(study, sites)
    t_full, lo, hi, full = timeit(lambda: access(scen, TYPE), repeat=args.repeat, warmup=0)
    err = max(err, float(np.max(np.abs(tracker.access - full.demand["access_per_1000"].to_numpy()))))
    add_med, rm_med = statistics.median(adds), statistics.median(removes)
    add_p90, rm_p90 = float(np.percentile(adds, 90)), float(np.percentile(removes, 90))
    over = sum(a > 0.2 for a in adds + removes)
    load = os.getloadavg()[0]
    print(f"sync add median {fmt_s(add_med)} (max {fmt_s(max(adds))}), remove median {fmt_s(rm_med)} "
          f"(max {fmt_s(max(removes))}); {int(np.median(touched)):,} demand points touched per edit; "
          f"full recomputation {fmt_s(t_full)} (min {fmt_s(lo)}, max {fmt_s(hi)}); max |diff| {err:.1e}", flush=True)
    print(f"ratio: full recomputation / incremental add {t_full / add_med:.0f}x, / remove {t_full / rm_med:.0f}x", flush=True)

    lines = [
        "## Access what-if in the app (`benchmarks/bench_access_app.py`)",
        "",
        f"Machine: {machine()}. Demo study at scale {scale:.1f}: {net.n_nodes:,} nodes / {net.n_edges:,} edges, "
        f"{n_dem:,} demand points, {n_fac} existing {TYPE} sites, E2SFCA with the type's 15-minute goal, 1 per site. "
        f"{args.sites} proposals at random street positions (seed 0) added one at a time and removed again through the "
        f"access view's tracker (`app.access_state.AccessTracker.sync`, what a click or a remove button runs).",
        "",
        "| edit | ours: incremental (`AccessWhatIf`) | peer: `planner.access` on the study with the proposals | ratio |",
        "|---|---|---|---|",
        f"| add a site | {fmt_s(add_med)} median, p90 {fmt_s(add_p90)}, max {fmt_s(max(adds))} | {fmt_s(t_full)} "
        f"(median of {args.repeat}) | {t_full / add_med:.0f}× |",
        f"| remove a site | {fmt_s(rm_med)} median, p90 {fmt_s(rm_p90)}, max {fmt_s(max(removes))} | {fmt_s(t_full)} | "
        f"{t_full / rm_med:.0f}× |",
        "",
        f"Each edit touched {int(np.median(touched)):,} demand points (median) of {n_dem:,}. The issue's target is "
        f"≤ 200 ms per edit on 300k nodes: {over} of the {2 * args.sites} edits took longer (slowest "
        f"{fmt_s(max(adds + removes))}; the machine's 1-minute load average was {load:.1f} on its "
        f"{os.cpu_count()} cores, shared with other work, so single edits wait for the CPU; the CPU time of an edit itself "
        f"is {fmt_s(statistics.median(cpu))} median for an add, {fmt_s(statistics.median(cpu_rm))} for a remove). "
        f"After the edits the view's values "
        f"equal the full recomputation to {err:.1e}. Building the view's what-if once per study and options takes "
        f"{fmt_s(t_tracker)} (access of the existing facilities: {fmt_s(t_base)}).",
    ]
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("access-app", md)


if __name__ == "__main__":
    main()
