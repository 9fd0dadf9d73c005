"""Batch and split runs on Dask (issue: city-wide and multi-city runs).

1. Many studies: N demo districts (different seeds) as one batch on a 2-worker LocalCluster vs the
   same studies run one after another in one process (the shell-loop peer), same work per study
   (build the study, coverage of every type, write its folder). Memory: peak RSS of each worker
   and of the sequential process.
2. One large demo split by its areas (2 workers) vs one whole run: identical demand tables checked
   point by point, wall time and peak memory of each (each measured in its own process).
3. Per-part figures (nodes, seconds, second-pass share) and the projection to all Shanghai and to
   300 cities written from them.

Usage: python benchmarks/bench_scale.py [--districts 16] [--district-scale 4] [--split-scale 40]
       [--workers 2] [--write]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _report import ROOT, fmt_s, machine, write_section

TYPES = ("health_centre", "aed")


def _child(code: str) -> dict:
    """Run ``code`` in a fresh Python (own peak RSS); it prints one JSON line last."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


PRELUDE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from planner.study import StudySpec, NetworkSource, Goals
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


def bench_many(n: int, scale: float, workers: int, tmp: Path) -> dict:
    specs = [(f"d{s:02d}", dict(scale=scale, seed=s)) for s in range(1, n + 1)]
    seq = _child(PRELUDE.format(root=str(ROOT)) + f"""
from planner.batch import _study_task, RunOptions
t = time.perf_counter()
for name, s in {specs!r}:
    spec = StudySpec(network=NetworkSource(demo=True, demo_scale=s["scale"], demo_seed=s["seed"]))
    _study_task(name, spec, None, None, RunOptions(), "none", {str(tmp / "seq")!r} + "/" + name, "k")
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - t, "rss_mb": rss_mb(), "cpu_s": ru.ru_utime + ru.ru_stime}}))
""")
    bat = _child(PRELUDE.format(root=str(ROOT)) + f"""
import logging
from planner.batch import start_client, close_client, studies_on_dask
t0 = time.perf_counter()
client = start_client(workers={workers})
def cpu():
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
cpu0 = list(client.run(cpu).values())
t1 = time.perf_counter()
studies = [(name, StudySpec(network=NetworkSource(demo=True, demo_scale=s["scale"], demo_seed=s["seed"])), None)
           for name, s in {specs!r}]
br = studies_on_dask(client, studies, out={str(tmp / "batch")!r})
t2 = time.perf_counter()
def peak():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
worker_rss = list(client.run(peak).values())
worker_cpu = [c - c0 for c, c0 in zip(client.run(cpu).values(), cpu0)]
nodes = [r.info["nodes"] for r in br.runs]
close_client(client)
print(json.dumps({{"seconds": t2 - t0, "startup": t1 - t0, "compute": t2 - t1, "worker_rss_mb": worker_rss,
                  "driver_rss_mb": rss_mb(), "failed": len(br.failures), "nodes": nodes, "worker_cpu_s": worker_cpu,
                  "task_s": [r.info["seconds"] for r in br.runs]}}))
""")
    return {"n": n, "scale": scale, "workers": workers, "seq": seq, "batch": bat}


def bench_split(scale: float, workers: int, tmp: Path) -> dict:
    spec = f"StudySpec(network=NetworkSource(demo=True, demo_scale={scale}, demo_seed=3), goals=Goals(types={TYPES!r}))"
    whole = _child(PRELUDE.format(root=str(ROOT)) + f"""
import numpy as np, planner
t = time.perf_counter()
st = planner.load_study({spec})
t1 = time.perf_counter()
res = planner.coverage(st, isochrones="none")
t2 = time.perf_counter()
np.savez({str(tmp / "whole.npz")!r}, **{{k: res.demand_table[k + "_minutes"].to_numpy() for k in {TYPES!r}}},
         **{{k + "_fid": res.demand_table[k + "_facility_id"].to_numpy().astype(str) for k in {TYPES!r}}})
print(json.dumps({{"seconds": t2 - t, "build": t1 - t, "coverage": t2 - t1, "rss_mb": rss_mb(),
                  "nodes": int(st.networks["walk"].n_nodes), "points": int(len(st.demand)), "areas": int(len(st.areas)),
                  "shares": {{k: res.summary["types"][k]["coverage_share"] for k in {TYPES!r}}}}}))
""")
    split = _child(PRELUDE.format(root=str(ROOT)) + f"""
import numpy as np
from planner.batch import start_client, close_client, split_on_dask
t0 = time.perf_counter()
client = start_client(workers={workers})
t1 = time.perf_counter()
br = split_on_dask(client, {spec}, out={str(tmp / "split")!r})
t2 = time.perf_counter()
def peak():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
worker_rss = list(client.run(peak).values())
close_client(client)
res = br.result
np.savez({str(tmp / "split.npz")!r}, **{{k: res.demand_table[k + "_minutes"].to_numpy() for k in {TYPES!r}}},
         **{{k + "_fid": res.demand_table[k + "_facility_id"].to_numpy().astype(str) for k in {TYPES!r}}})
d = res.summary["split"]["parts_detail"]
print(json.dumps({{"seconds": t2 - t0, "startup": t1 - t0, "compute": t2 - t1, "driver_rss_mb": rss_mb(),
                  "worker_rss_mb": worker_rss, "part_s": [p["seconds"] for p in d], "part_nodes": [p["nodes"] for p in d],
                  "part_points": [p["demand_points"] for p in d], "second": [p["second_pass_points"] for p in d],
                  "halo_m": res.summary["split"]["halo_m"],
                  "shares": {{k: res.summary["types"][k]["coverage_share"] for k in {TYPES!r}}}}}))
""")
    base = _child(PRELUDE.format(root=str(ROOT)) + f"""
import planner
planner.coverage(planner.load_study(StudySpec(network=NetworkSource(demo=True, demo_scale=0.05), goals=Goals(types={TYPES!r}))),
                 isochrones="none")
print(json.dumps({{"rss_mb": rss_mb()}}))
""")
    whole["baseline_rss_mb"] = base["rss_mb"]
    a, b = np.load(tmp / "whole.npz"), np.load(tmp / "split.npz")
    diff, same_fin, same_fid = 0.0, True, True
    for k in TYPES:
        fa, fb = np.isfinite(a[k]), np.isfinite(b[k])
        same_fin &= bool((fa == fb).all())
        if fa.any():
            diff = max(diff, float(np.abs(a[k][fa] - b[k][fa]).max()))
        same_fid &= bool((a[k + "_fid"] == b[k + "_fid"]).all())
    return {"scale": scale, "whole": whole, "split": split, "max_diff_min": diff, "same_reach": same_fin,
            "same_facility": same_fid, "same_shares": whole["shares"] == split["shares"]}


def load_line() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores when the run ended"
    except OSError:
        return "load average unavailable"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--districts", type=int, default=16)
    ap.add_argument("--district-scale", type=float, default=4.0)
    ap.add_argument("--split-scale", type=float, default=40.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-many", action="store_true")
    ap.add_argument("--skip-split", action="store_true")
    ap.add_argument("--save-split", metavar="JSON", help="keep the split figures in this file")
    ap.add_argument("--load-split", metavar="JSON", help="report split figures saved by --save-split instead of measuring")
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        many = None if args.skip_many else bench_many(args.districts, args.district_scale, args.workers, tmp)
        if many:
            print(json.dumps(many), flush=True)
        if args.load_split:
            split = json.loads(Path(args.load_split).read_text(encoding="utf-8"))
        else:
            split = None if args.skip_split else bench_split(args.split_scale, args.workers, tmp)
            if split:
                split["load_line"] = load_line()
        if split and args.save_split:
            Path(args.save_split).write_text(json.dumps(split), encoding="utf-8")
        if split:
            print(json.dumps({k: v for k, v in split.items() if k != "split"}), flush=True)
    import dask

    head = (f"Machine: {machine()}; {load_line()} (shared with other jobs: figures are one run, not medians). "
            f"dask and distributed {dask.__version__}.")
    if many:
        md = many_markdown(many, head)
        print(md)
        if args.write:
            write_section("scale-many", md)
    if split:
        md = split_markdown(split, head.replace(load_line(), split.get("load_line", load_line())))
        print(md)
        if args.write:
            write_section("scale-split", md)


def many_markdown(many: dict, head: str) -> str:
    s, b = many["seq"], many["batch"]
    ratio = s["seconds"] / b["seconds"]
    cpu_w = b["worker_cpu_s"]
    got_w = ", ".join(f"{c / b['seconds']:.0%}" for c in cpu_w)
    ideal = b["startup"] + max(cpu_w)
    per_study = s["cpu_s"] / many["n"]  # CPU per study, its folder written, in the sequential process
    big = 1_000_000 / float(np.median(b["nodes"]))
    lines = [
        "## Scale: many studies on Dask (`benchmarks/bench_scale.py`)", "", head, "",
        f"### {many['n']} demo districts (scale {many['scale']:g}, seeds 1-{many['n']}, "
        f"{min(b['nodes']):,}-{max(b['nodes']):,} nodes each, every facility type, each study's folder written)", "",
        "| | wall | peak memory |", "|---|---|---|",
        f"| one after another in one process (the shell-loop peer) | {fmt_s(s['seconds'])} | {s['rss_mb']:.0f} MB |",
        f"| `planner batch`, {many['workers']}-worker LocalCluster (startup included) | {fmt_s(b['seconds'])} | "
        f"{', '.join(f'{m:.0f}' for m in b['worker_rss_mb'])} MB per worker, driver {b['driver_rss_mb']:.0f} MB |",
        "", f"Batch vs one after another: **{ratio:.2f}×** (cluster startup {fmt_s(b['startup'])}; "
        f"task compute {fmt_s(float(np.median(b['task_s'])))} median, writing the study's folder not included).", "",
        f"CPU each process actually received: the sequential one {s['cpu_s']:.0f} s in {s['seconds']:.0f} s "
        f"({s['cpu_s'] / s['seconds']:.0%} of a core); the workers {' and '.join(f'{c:.0f} s' for c in cpu_w)} "
        f"in {b['seconds']:.0f} s after the cluster started ({got_w} of a core each). The batch's work is "
        f"{sum(cpu_w) / s['cpu_s']:.2f}× the sequential CPU (the workers' imports included). On two idle cores its wall "
        f"time would be about startup + the busiest worker's CPU = {fmt_s(ideal)}, "
        f"{s['cpu_s'] / ideal:.2f}× faster than the sequential CPU time (derived from CPU times, not a measured wall time).",
        "",
        f"300 cities as 300 studies: at this run's {per_study:.1f} s of CPU per {int(np.median(b['nodes'])):,}-node study "
        f"(build, every type, folder written), ~{per_study * 300 / 60:.0f} min of tasks; cities of 1M nodes cost about {big:.0f}× that "
        f"(≈ {per_study * big * 300 / 3600:.1f} core-hours, ~{per_study * big * 300 / 3600 / 32 * 60:.0f} min on 32 cores); "
        f"memory per worker is that of the largest city (see the split below: ~1.3 GB at 1M nodes).", "",
    ]
    return "\n".join(lines)


def split_markdown(split: dict, head: str) -> str:
    w, sp = split["whole"], split["split"]
    per_node_s = sum(sp["part_s"]) / w["nodes"]
    kb_node = max(0.0, w["rss_mb"] - w["baseline_rss_mb"]) * 1024 / w["nodes"]
    sh_nodes = 1_200_000
    lines = [
        "## Scale: one study split by its areas (`benchmarks/bench_scale.py`)", "", head, "",
        f"### Demo scale {split['scale']:g} ({w['nodes']:,} nodes, {w['points']:,} demand points, "
        f"{w['areas']} areas; types {', '.join(TYPES)})", "",
        "| | wall | peak memory |", "|---|---|---|",
        f"| one whole run (build + coverage) | {fmt_s(w['seconds'])} | {w['rss_mb']:.0f} MB |",
        f"| split by areas, {len(sp['worker_rss_mb'])}-worker LocalCluster (startup included) | {fmt_s(sp['seconds'])} | "
        f"{', '.join(f'{m:.0f}' for m in sp['worker_rss_mb'])} MB per worker, driver {sp['driver_rss_mb']:.0f} MB |",
        "",
        f"Identical: largest minute difference {split['max_diff_min']:.1e}, same reachable points: {split['same_reach']}, "
        f"same nearest facility: {split['same_facility']}, same coverage shares: {split['same_shares']}.",
        "",
        f"Per part: halo {sp['halo_m']:.0f} m; nodes median {int(np.median(sp['part_nodes'])):,} (of {w['nodes']:,}); "
        f"seconds median {np.median(sp['part_s']):.2f}, max {max(sp['part_s']):.2f}, sum {sum(sp['part_s']):.1f}; "
        f"{sum(sp['second']) / max(1, sum(sp['part_points'])):.0%} of residents needed the second pass "
        f"(beyond the halo: the demo's coverage is low, {w['shares']['health_centre']:.0%} within 15 min of a health centre).",
        "",
        "### Projection", "",
        f"Measured here: the parts' compute is {per_node_s * 1e6:.0f} µs per network node of the study in all "
        f"(sum of part seconds / nodes), and each worker holds the whole study once "
        f"({kb_node:.1f} kB per node above the {w['baseline_rss_mb']:.0f} MB of a near-empty run). So for all Shanghai "
        f"(~6,340 km², ~{sh_nodes / 1e6:.1f}M walking nodes, 215 subdistricts and towns): ~{per_node_s * sh_nodes:.0f} s of part "
        f"compute, ~{per_node_s * sh_nodes / 2:.0f} s on 2 free workers, ~{per_node_s * sh_nodes / 16:.0f} s on 16, "
        f"~{(w['baseline_rss_mb'] + kb_node * sh_nodes / 1024) / 1024:.1f} GB per worker; one whole run: "
        f"~{w['seconds'] * sh_nodes / w['nodes']:.0f} s and ~{(w['baseline_rss_mb'] + kb_node * sh_nodes / 1024) / 1024:.1f} GB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
