"""Full CLI runs at district scale: the demo at Pudong's size and a quarter of it, against the previous code.

``python -m planner coverage --demo --demo-scale S`` (all 11 facility types, the map) is run with
this checkout and, in the same session, with the peer: the same command on the last commit before
the scale work (``--peer-rev``), which drew exact isochrones for every type, up to 5,000 gap cells
and wrote GeoJSON through ``GeoDataFrame.to_json``. Each run is a fresh process; wall time and peak
memory (``ru_maxrss`` from ``os.wait4``) are measured from outside, stage times come from its
summary.json. The two runs' coverage statistics are compared as a check.

A run at scale 40 takes minutes (the peer four or more): run this rarely.

Usage: python benchmarks/bench_scale_cli.py [--scales 10,40] [--repeat 3] [--peer-rev 40f76ce] [--no-peer] [--write]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _report import ROOT, machine, write_section

#: The last commit before the scale work (isochrones for every type, gap cells on the map).
PEER_REV = "40f76ce"


def run_cli(cwd: Path, scale: float, out: Path, extra=()) -> dict:
    """One CLI run in a fresh process: wall seconds, peak resident memory (MB), summary and map facts."""
    # English messages: the map's layer names then say "(showing N of M)" in plain ASCII
    cmd = [sys.executable, "-m", "planner", "coverage", "--demo", "--demo-scale", f"{scale:g}", "--lang", "en", "--out", str(out), *extra]
    t = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}; see {out.parent / (out.name + '.log')}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    html = (out / "map.html").read_text(encoding="utf-8")
    capped = re.search(r"showing (\d+) of (\d+)", html)
    st = summary["timings_s"]
    iso = json.loads((out / "isochrones.geojson").read_text(encoding="utf-8"))
    return {
        "wall": wall,
        "peak_mb": usage.ru_maxrss / 1024.0,
        "stages": st,
        # what the stages do not cover: interpreter start-up, imports and writing the output files
        "startup_and_write": wall - st.get("load_inputs", 0.0) - st.get("total", 0.0) - st.get("map", 0.0),
        "nodes": summary["network"]["walk"]["nodes"],
        "types": len(summary["types"]),
        "iso_types": len({f["properties"]["type"] for f in iso["features"]}),
        "shares": {k: v["coverage_share"] for k, v in summary["types"].items()},
        "map_mb": (out / "map.html").stat().st_size / 1e6,
        "image_overlays": html.count("L.imageOverlay("),
        "gap_cells_drawn": (int(capped.group(1)), int(capped.group(2))) if capped else None,
    }


def peer_checkout(rev: str, dest: Path) -> Path | None:
    """The peer's source tree (``git archive`` of ``rev``), or None when git or the commit is missing."""
    tar = dest / "peer.tar"
    try:
        with open(tar, "wb") as fh:
            subprocess.run(["git", "-C", str(ROOT), "archive", rev], stdout=fh, check=True, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"peer {rev} not available ({exc}); measuring this checkout only", flush=True)
        return None
    tree = dest / "peer"
    tree.mkdir()
    with tarfile.open(tar) as tf:
        tf.extractall(tree, filter="data")
    return tree


STAGES = ("load_inputs", "snap", "travel_times", "statistics", "isochrones", "surface", "gaps", "map", "startup_and_write")


def stage(r: dict, key: str) -> str:
    v = r["startup_and_write"] if key == "startup_and_write" else r["stages"].get(key)
    return "–" if v is None else f"{v:.1f}"


def walls(r: dict) -> str:
    return f"{r['wall']:.1f} s ({', '.join(f'{w:.1f}' for w in r['walls'])})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="10,40")
    ap.add_argument("--peer-rev", default=PEER_REV)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of ours per scale (the median is reported; the peer runs once)")
    ap.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        peer = None if args.no_peer else peer_checkout(args.peer_rev, tmp)
        for s in scales:
            runs = []
            for i in range(max(args.repeat, 1)):
                runs.append(run_cli(ROOT, s, tmp / f"ours_{s:g}_{i}"))
                print(f"scale {s:g}: ours {runs[-1]['wall']:.1f} s, peak {runs[-1]['peak_mb']:.0f} MB, stages {runs[-1]['stages']}", flush=True)
            runs.sort(key=lambda r: r["wall"])
            ours = dict(runs[len(runs) // 2])  # the median run, with its stages
            ours["walls"] = [r["wall"] for r in runs]
            ours["peak_mb"] = max(r["peak_mb"] for r in runs)
            theirs = None
            if peer is not None:
                theirs = run_cli(peer, s, tmp / f"peer_{s:g}")
                print(f"scale {s:g}: peer {theirs['wall']:.1f} s, peak {theirs['peak_mb']:.0f} MB, stages {theirs['stages']}", flush=True)
                diff = max(abs(ours["shares"][k] - theirs["shares"][k]) for k in ours["shares"])
                theirs["share_diff"] = diff
            rows.append((s, ours, theirs))
    load_after = os.getloadavg()

    lines = [
        "## District-scale CLI runs (`benchmarks/bench_scale_cli.py`)",
        "",
        f"Machine: {machine()}. Load average (1 min) {load_before[0]:.1f} before and {load_after[0]:.1f} after "
        "(the machine is shared: absolute seconds vary with it, the ratio measured in the same session less so).",
        "",
        "`python -m planner coverage --demo --demo-scale S --lang en`: every facility type (11), statistics, demand.csv, "
        "gaps.geojson, the workbook and map.html. Peer: the same command on commit "
        f"`{args.peer_rev}` (before this work): exact isochrones for all 11 types, up to 5,000 gap cells drawn, "
        "GeoJSON through `GeoDataFrame.to_json`. Ours: isochrones and the minutes surface for the first type "
        "(`--isochrone-types` asks for more), raster isochrones above 50k street pieces, the surface drawn as one image. "
        f"Ours: median of {max(args.repeat, 1)} runs (all runs listed), its stages below; the peer: one run. "
        "Peak memory is the process's maximum resident set (ours: the largest of the runs).",
        "",
        "| demo scale | nodes | ours: wall (runs) | peer: wall | ratio | ours: peak memory | peer: peak memory | "
        "map.html ours / peer | gaps on the map ours / peer | max coverage-share difference |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s, o, p in rows:
        gaps_o = f"whole study ({o['image_overlays']} image)" if o["image_overlays"] else "–"
        if p is not None:
            gd = p["gap_cells_drawn"]
            gaps_p = f"{gd[0]:,} of {gd[1]:,} cells" if gd else "all cells"
            lines.append(f"| {s:g} | {o['nodes']:,} | {walls(o)} | {p['wall']:.1f} s | {p['wall'] / o['wall']:.1f}× | "
                         f"{o['peak_mb'] / 1024:.2f} GB | {p['peak_mb'] / 1024:.2f} GB | {o['map_mb']:.1f} / {p['map_mb']:.1f} MB | "
                         f"{gaps_o} / {gaps_p} | {p['share_diff']:.1e} |")
        else:
            lines.append(f"| {s:g} | {o['nodes']:,} | {walls(o)} | – | – | {o['peak_mb'] / 1024:.2f} GB | – | "
                         f"{o['map_mb']:.1f} MB | {gaps_o} | – |")
    lines += ["", "Stages (s; `startup_and_write` = wall minus the timed stages: interpreter start, imports, writing files):", "",
              "| run | " + " | ".join(STAGES) + " | isochrone types |", "|---|" + "---|" * (len(STAGES) + 1)]
    for s, o, p in rows:
        lines.append(f"| scale {s:g}, ours | " + " | ".join(stage(o, k) for k in STAGES) + f" | {o['iso_types']} |")
        if p is not None:
            lines.append(f"| scale {s:g}, peer | " + " | ".join(stage(p, k) for k in STAGES) + f" | {p['iso_types']} |")
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("scale-cli", md)


if __name__ == "__main__":
    main()
