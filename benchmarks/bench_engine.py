"""Travel-time engine benchmarks (issue: walking-coverage engine).

1. Nearest facility (300 facilities) for every node on demo networks of ~25k, ~300k and ~1M nodes:
   ours (scipy.sparse.csgraph multi-source Dijkstra with stubs) vs networkx ``multi_source_dijkstra``
   vs osmnx's isochrone recipe (``nx.ego_graph`` per facility), in the same run.
2. A full CLI run on a Changning-sized network (~25k nodes, 60 facilities, 3 breaks, isochrones
   and map), wall time with a per-stage breakdown.
3. Reloading a compiled network vs parsing the OSM file again.

Usage: python benchmarks/bench_engine.py [--sizes 25000,300000,1000000] [--write]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import ROOT, SHARED, fmt_s, machine, timeit, write_section

from planner.demo import make_district, nodes_for_scale
from planner.network import compile_network, load_network, snap_points
from planner.travel import nearest_field


def scale_for(nodes: int) -> float:
    lo, hi = 0.01, 200.0
    for _ in range(40):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if nodes_for_scale(mid) < nodes else (lo, mid)
    return (lo * hi) ** 0.5


def to_networkx(net):
    import networkx as nx

    G = nx.Graph()
    G.add_nodes_from(range(net.n_nodes))
    csr = net.csr.tocoo()
    keep = csr.row < csr.col
    G.add_weighted_edges_from(zip(csr.row[keep].tolist(), csr.col[keep].tolist(), csr.data[keep].tolist()))
    return G


def bench_nearest(sizes, n_fac=300, ego_sample=10, seed=0):
    import networkx as nx

    rows = []
    for target in sizes:
        t = time.perf_counter()
        d = make_district(scale=scale_for(target))
        net = compile_network(d.raw)
        build = time.perf_counter() - t
        rng = np.random.default_rng(seed)
        pick = rng.choice(net.n_nodes, n_fac, replace=False)
        src = snap_points(net, net.x[pick] + rng.normal(0, 15, n_fac), net.y[pick] + rng.normal(0, 15, n_fac))
        _ = net.csr  # compiled once, like the cached network
        ours, ours_min, ours_max, field = timeit(lambda: nearest_field(net, src), repeat=5)
        G = to_networkx(net)
        # networkx sources: the same stubs, added as nodes with their two arcs
        H = G.copy()
        for i in range(n_fac):
            e = src.edge[i]
            H.add_edge(("s", i), int(net.edge_u[e]), weight=float(src.dist_m[i] + src.along_m[i]))
            H.add_edge(("s", i), int(net.edge_v[e]), weight=float(src.dist_m[i] + net.length_m[e] - src.along_m[i]))
        sources = [("s", i) for i in range(n_fac)]
        nxt, _, _, nxd = timeit(lambda: nx.multi_source_dijkstra_path_length(H, sources, weight="weight"), repeat=1, warmup=0)
        worst = max(abs(nxd[k] - field.dist_m[k]) for k in range(0, net.n_nodes, max(1, net.n_nodes // 5000)))
        # osmnx isochrone recipe: ego_graph per facility with the 15-minute radius; timed on a sample
        radius = 15 * 4.5 * 1000 / 60
        t = time.perf_counter()
        for i in range(ego_sample):
            nx.ego_graph(G, int(net.edge_u[src.edge[i]]), radius=radius, distance="weight")
        ego = (time.perf_counter() - t) / ego_sample * n_fac
        rows.append(dict(nodes=net.n_nodes, edges=net.n_edges, build=build, ours=ours, ours_min=ours_min, ours_max=ours_max,
                         nx=nxt, ego=ego, err=worst))
        print(f"{net.n_nodes:>9,} nodes: ours {fmt_s(ours)}  networkx {fmt_s(nxt)} ({nxt / ours:.0f}x)  "
              f"ego_graph x{n_fac} {fmt_s(ego)} ({ego / ours:.0f}x)  max |diff| {worst:.2e} m", flush=True)
    return rows


def bench_cli(tmp: Path):
    """Whole CLI run: demo at scale 1 (~25k nodes), 60 facilities of two types, breaks 5/10/15, isochrones and map."""
    import pandas as pd

    d = make_district(scale=1.0)
    fac = d.facilities[d.facilities["type"].isin(["health_centre", "service_station", "aed"])].copy()
    rng = np.random.default_rng(1)
    fac = fac.iloc[rng.permutation(len(fac))[:60]] if len(fac) >= 60 else fac
    fac_path = tmp / "fac60.csv"
    pd.DataFrame(fac[["id", "name", "type", "lon", "lat"]]).to_csv(fac_path, index=False)
    paths = __import__("planner.demo", fromlist=["write_demo"]).write_demo(tmp / "demo", scale=1.0)
    cmd = [sys.executable, "-m", "planner", "coverage", "--network", str(paths["osm"] if "osm" in paths else paths["demo.osm"]),
           "--facilities", str(fac_path), "--demand", str(paths.get("demand") or paths["demand.csv"]),
           "--areas", str(paths.get("areas") or paths["areas.geojson"]), "--breaks", "5,10,15", "--out", str(tmp / "out"),
           "--cache-dir", str(tmp / "cache")]
    walls = []
    for _ in range(4):  # first run parses the OSM file (cold cache); the rest reload the compiled network
        t = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
        walls.append(time.perf_counter() - t)
    summary = json.loads((tmp / "out" / "summary.json").read_text(encoding="utf-8"))
    return dict(cold=walls[0], warm=float(np.median(walls[1:])), stages=summary["timings_s"], n_fac=len(fac),
                nodes=summary["network"]["walk"]["nodes"])


def bench_reload(tmp: Path):
    rows = []
    files = []
    paths = __import__("planner.demo", fromlist=["write_demo"]).write_demo(tmp / "demo_r", scale=1.0)
    files.append(("demo district .osm (synthetic)", Path(paths.get("osm") or paths["demo.osm"])))
    for rel in ("osm/andorra_graphhopper_testdata.osm.pbf", "osm/shenzhen_nanshan_overpass_20210317.osm.xml",
                "shanghai/osm/huangpu_people_square_drive_osmnx.osm"):
        if (SHARED / rel).exists():
            files.append((rel, SHARED / rel))
    for label, path in files:
        parse, _, _, net = timeit(lambda: load_network(path, use_cache=False), repeat=3, warmup=0)
        cache = tmp / f"cache_{path.name}"
        load_network(path, cache_dir=cache)
        reload, _, _, _ = timeit(lambda: load_network(path, cache_dir=cache), repeat=5)
        rows.append(dict(label=label, nodes=net.n_nodes, parse=parse, reload=reload))
        print(f"{label}: parse+compile {fmt_s(parse)}, reload {fmt_s(reload)} ({parse / reload:.0f}x)", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="25000,300000,1000000")
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        near = bench_nearest(sizes)
        cli = bench_cli(tmp)
        print(f"CLI: cold {fmt_s(cli['cold'])}, warm {fmt_s(cli['warm'])}, stages {cli['stages']}", flush=True)
        rel = bench_reload(tmp)
    lines = [
        "## Engine (`benchmarks/bench_engine.py`)",
        "",
        f"Machine: {machine()}. Medians of 5 runs (networkx: 1 run).",
        "",
        "### Nearest of 300 facilities for every node",
        "",
        "| demo network | ours (csgraph) | networkx multi_source_dijkstra | ratio | osmnx recipe: ego_graph × 300 (from 10) | ratio | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in near:
        lines.append(f"| {r['nodes']:,} nodes / {r['edges']:,} edges | {fmt_s(r['ours'])} | {fmt_s(r['nx'])} | {r['nx'] / r['ours']:.0f}× | "
                     f"{fmt_s(r['ego'])} | {r['ego'] / r['ours']:.0f}× | {r['err']:.1e} m |")
    st = cli["stages"]
    lines += [
        "",
        f"### Full CLI run: {cli['nodes']:,}-node demo, {cli['n_fac']} facilities, breaks 5/10/15, isochrones and map.html",
        "",
        "| | wall |",
        "|---|---|",
        f"| first run (parses the OSM file) | {fmt_s(cli['cold'])} |",
        f"| later runs (compiled network cached) | {fmt_s(cli['warm'])} |",
        "",
        "Stages of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()),
        "",
        "### Compiled-network reload vs parsing the OSM file",
        "",
        "| file | nodes | parse + compile | reload | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in rel:
        lines.append(f"| {r['label']} | {r['nodes']:,} | {fmt_s(r['parse'])} | {fmt_s(r['reload'])} | {r['parse'] / r['reload']:.0f}× |")
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("engine", md)


if __name__ == "__main__":
    main()
