"""The ``batch`` subcommand: many studies, or one study split by its areas, on Dask (LocalCluster or an existing cluster)."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ._errors import InputError

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  python -m planner batch districts/*.toml --out out/shanghai                   # one task per study file
  python -m planner batch --study shanghai.toml --split-by-areas --out out/sh     # one task per area, merged exactly
  python -m planner batch --demo --demo-scale 10 --split-by-areas --workers 2 --out out/demo
  python -m planner batch districts/*.toml --scheduler tcp://10.0.0.5:8786 --out out/shanghai
  python -m planner batch districts/*.toml --type aed --propose-count 222 --out out/aed   # siting in every study

A rerun into the same --out skips the parts already finished (same inputs and options).
See docs/scale.md for clusters (local, SSH, Kubernetes), memory per worker and measured scaling.
"""


def add_parser(subparsers, add_common) -> argparse.ArgumentParser:
    """Register ``batch`` on the CLI's subparsers; ``add_common`` adds the shared input options."""
    p = subparsers.add_parser(
        "batch",
        help="many studies, or one study split by its areas, run in parallel on Dask",
        description="Run many studies (one Dask task each) or one large study split by its areas "
                    "(each area on the streets and facilities within a halo of it, merged into exactly "
                    "the whole run's result). Writes each part's folder under OUT/parts/ and merged "
                    "demand.csv, areas.csv, summary.json, batch.csv, map.html and report.html.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("study_files", nargs="*", metavar="STUDY.toml", help="study files, one task each")
    add_common(p)
    p.add_argument("--split-by-areas", action="store_true",
                   help="split the one study (--study or flags) by its areas: one task per area")
    run = p.add_argument_group("Dask")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="start a LocalCluster of N workers (default: every core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask cluster, e.g. tcp://10.0.0.5:8786")
    run.add_argument("--threads", action="store_true",
                     help="LocalCluster workers as threads in this process (small runs; default: processes)")
    sit = p.add_argument_group("siting in every study (instead of coverage)")
    goal = sit.add_mutually_exclusive_group()
    goal.add_argument("--propose-count", type=int, metavar="N", help="N new sites of the one --type in every study")
    goal.add_argument("--propose-target-share", type=float, metavar="S", help="fewest new sites to reach share S in every study")
    sit.add_argument("--method", choices=("greedy", "exact"), default="greedy")
    p.add_argument("--isochrones", choices=("none", "dissolved", "all"), default="none",
                   help="per-study isochrone polygons in each study's folder (many studies only; default none)")
    p.add_argument("--no-map", action="store_true", help="do not write map.html")
    p.set_defaults(func=cmd_batch)
    return p


def _progress(lang: str):
    from ._cli_common import say

    t0 = time.perf_counter()

    def report(done, total, label, seconds, error):
        width = 24
        bar = "#" * int(round(width * done / max(total, 1))) + "-" * (width - int(round(width * done / max(total, 1))))
        what = " ".join(x for x in (label.get("study", ""), label.get("part", "")) if x)
        if error:
            say(f"[{bar}] {done}/{total} {'失败' if lang == 'zh' else 'FAILED'} {what}: {error}")
        else:
            took = time.perf_counter() - t0
            say(f"[{bar}] {done}/{total} {what} ({seconds or 0:.1f} s; "
                + (f"已用 {took:.0f} s)" if lang == "zh" else f"{took:.0f} s elapsed)"))

    return report


# flags that describe one study: with study files they would have nothing to apply to
_STUDY_FLAGS = (("--study", "study"), ("--network", "network"), ("--place", "place"), ("--demo", "demo"),
                ("--demo-scale", "demo_scale"), ("--facilities", "facilities"), ("--demand", "demand"), ("--areas", "areas"),
                ("--area-name-column", "area_name_column"), ("--keep-outside-demand", "keep_outside_demand"),
                ("--default-type", "default_type"), ("--elderly", "elderly"), ("--coords", "coords"),
                ("--facilities-coords", "facilities_coords"), ("--demand-coords", "demand_coords"),
                ("--areas-coords", "areas_coords"), ("--columns", "columns"), ("--sheet", "sheet"), ("--layer", "layer"),
                ("--facilities-from-osm", "facilities_from_osm"), ("--outside-tolerance-m", "outside_tolerance_m"),
                ("--skip-invalid", "skip_invalid"), ("--types-file", "types_file"))


def _quiet_dask() -> None:
    """distributed sets its loggers to INFO and logs every worker's start and stop: keep the CLI's stderr for progress."""
    import distributed  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _studies(args):
    from .batch import study_names
    from .study import read_study_file

    specs = []
    for path, name in zip(args.study_files, study_names(args.study_files)):
        spec, base = read_study_file(path)
        specs.append((name, spec, base))
    return specs


def cmd_batch(args) -> int:
    from ._cli_common import say, spec_from_args
    from .batch import close_client, siting_on_dask, split_on_dask, start_client, studies_on_dask, write_batch

    t0 = time.perf_counter()
    siting = args.propose_count is not None or args.propose_target_share is not None
    if args.split_by_areas and args.study_files:
        raise InputError("--split-by-areas splits one study (--study FILE or flags); do not also list study files.",
                         "--split-by-areas 拆分一个研究（--study 文件或参数）；请勿同时列出多个研究文件。")
    if not args.split_by_areas and not args.study_files:
        raise InputError("Give study files (planner batch A.toml B.toml --out DIR) or --split-by-areas with one study.",
                         "请给出研究文件（planner batch A.toml B.toml --out 目录），或用 --split-by-areas 拆分一个研究。")
    if siting and (args.split_by_areas or not args.types or len(args.types) != 1):
        raise InputError("Siting in a batch runs per study file and needs exactly one --type; a city-wide optimisation "
                         "is one problem: run planner propose on the whole study.",
                         "批量选址按研究文件分别运行，且需要且只能指定一个 --type；全市统一优化是一个整体问题："
                         "请对整个研究运行 planner propose。")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}.", f"--workers 至少为 1，而非 {args.workers}。")
    if args.study_files:
        ignored = [flag for flag, dest in _STUDY_FLAGS if getattr(args, dest, None) not in (None, False, [], "")]
        if ignored:
            raise InputError(f"With study files, describe each study in its file; {', '.join(ignored)} would be ignored. "
                             "Goal flags (--type, --minutes, --speed-kmh, --max-snap-m) apply to every study.",
                             f"使用研究文件时，请在各文件中描述研究；{', '.join(ignored)} 不会生效。"
                             "目标参数（--type、--minutes、--speed-kmh、--max-snap-m）对所有研究生效。")
    opts = {"types": args.types, "minutes": args.minutes, "speed_kmh": args.speed_kmh, "max_snap_m": args.max_snap_m}
    specs = _studies(args) if args.study_files else None
    if specs is None:
        spec = spec_from_args(args)
    if not args.verbose:
        _quiet_dask()
    client = start_client(workers=args.workers, scheduler=args.scheduler, processes=not args.threads)
    if not args.verbose:
        _quiet_dask()
    try:
        info = client.scheduler_info()
        say(f"Dask: {client.scheduler.address}, {len(info.get('workers', {}))} workers; dashboard {client.dashboard_link}")
        progress = _progress(args.lang)
        if siting:
            br = siting_on_dask(client, specs, args.types[0], cache_dir=args.cache_dir, out=args.out, progress=progress,
                                count=args.propose_count, target_share=args.propose_target_share, method=args.method)
        elif specs is not None:
            br = studies_on_dask(client, specs, cache_dir=args.cache_dir, out=args.out, isochrones=args.isochrones,
                                 progress=progress, **opts)
        else:
            br = split_on_dask(client, spec, base_dir=None, cache_dir=args.cache_dir, out=args.out,
                               progress=progress, **opts)
    finally:
        close_client(client)
    map_html = report_html = None
    label = br.result.study.label if br.result is not None else ", ".join(n for n, _, _ in (specs or []))[:80]
    if not siting:
        if br.result is not None:  # the city-wide one-page summary, as planner coverage's report
            from maps.report import summary_html

            report_html = summary_html(br.result, lang=args.lang)
        else:  # one row per study and type, lowest coverage first
            from maps.batch_report import batch_report_html

            report_html = batch_report_html(br.table, lang=args.lang, label=label, dask=br.summary.get("dask"),
                                            failures=br.failures)
        if not args.no_map:
            map_html = _map_html(br, Path(args.out), args.lang)
    study_file = None
    if br.result is not None and br.result.study.spec is not None:
        from ._cli_common import study_file_text

        study_file = study_file_text(br.result.study)
    written = write_batch(br, args.out, lang=args.lang, map_html=map_html, report_html=report_html, study_file=study_file)
    zh = args.lang == "zh"
    for f in br.failures:
        say(f"{'失败' if zh else 'FAILED'} {f['study']} {f['part']}: {f['error']}")
    if zh:
        say(f"已写出 {', '.join(written)} 至 {args.out}，用时 {time.perf_counter() - t0:.1f} s"
            + (f"；{len(br.failures)} 个部分失败（重新运行即可重试，已完成的部分会跳过）" if br.failures else ""))
    else:
        say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s"
            + (f"; {len(br.failures)} parts failed (rerun to retry them; finished parts are skipped)" if br.failures else ""))
    return 1 if br.failures else 0


def _map_html(br, out: Path, lang: str) -> str | None:
    """The city-wide map: every area coloured by its first type's share, and the facilities."""
    import geopandas as gpd
    import pandas as pd

    from maps.build import coverage_map, to_html

    if br.result is not None:
        res = br.result
        return to_html(coverage_map(facilities=res.facilities_table, gaps=res.gaps, areas=res.area_layer(),
                                    types=res.study.types, lang=lang, title=res.study.label))
    from .config import default_types

    fac, areas = [], []
    for r in br.runs:
        folder = out / "parts" / r.name
        if (folder / "facilities.csv").exists():
            fac.append(pd.read_csv(folder / "facilities.csv", encoding="utf-8-sig", dtype={"id": str}).assign(study=r.name))
        if (folder / "areas.geojson").exists():
            areas.append(gpd.read_file(folder / "areas.geojson"))
    if not fac:
        return None
    a = gpd.GeoDataFrame(pd.concat(areas, ignore_index=True), crs=4326) if areas else None
    if a is not None:
        a["area_id"] = a["study"].astype(str) + ":" + a["area_id"].astype(str)
    return to_html(coverage_map(facilities=pd.concat(fac, ignore_index=True), areas=a, types=default_types(), lang=lang))
