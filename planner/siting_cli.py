"""The ``propose`` subcommand: new sites for one facility type (maximal coverage or fewest sites for a target)."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ._errors import InputError

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  python -m planner propose --demo --type aed --count 20 --out out/aed_proposals
  python -m planner propose --network district.osm.pbf --facilities stations.csv --type service_station \\
      --target-share 0.95 --method exact --time-limit 120 --out out/stations
  python -m planner propose --demo --type aed --count 10 --candidates candidates.csv --coords gcj02 --out out/x
  python -m planner propose --demo --type aed --count 10 --exclusions parks_water.geojson --out out/x

candidates: a file with the same columns as facilities (lon/lat, id), or generated from network nodes
near uncovered demand, one per --candidate-spacing-m cell (default: a third of the goal distance).
"""


def add_parser(subparsers, add_common) -> argparse.ArgumentParser:
    """Register ``propose`` on the CLI's subparsers; ``add_common`` adds the shared input options."""
    p = subparsers.add_parser(
        "propose",
        help="propose new sites: maximal coverage with N sites, or fewest sites for a target share",
        description="Where to put new facilities of one type so that the most residents are within the goal "
                    "(--count N), or how few are needed to reach a coverage share (--target-share S). "
                    "Existing facilities of the type stay open.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--count", type=int, metavar="N", help="number of new sites (maximal coverage)")
    goal.add_argument("--target-share", type=float, metavar="S", help="coverage share to reach, 0-1 (fewest new sites)")
    goal.add_argument("--move", metavar="FACILITY_ID",
                      help="move this one existing facility to the best place (candidates, or anywhere nearby)")
    p.add_argument("--objective", choices=("coverage", "median", "center"), default="coverage",
                   help="coverage: most residents within the goal (default); median: least population-weighted walking "
                        "time; center: least worst walking time")
    p.add_argument("--cutoff-minutes", type=float, metavar="M",
                   help="median/center: walking times are capped here (default three times the goal)")
    p.add_argument("--supply-column", metavar="COL", help="--move: also report access with this supply column")
    p.add_argument("--share-of", choices=("total", "reachable"), default="total",
                   help="--target-share of all demand (default) or of demand some site can reach")
    p.add_argument("--candidates", metavar="PATH", help="candidate sites file (same formats as facilities)")
    p.add_argument("--exclusions", metavar="PATH",
                   help="exclusion zones: polygons (GeoJSON/GPKG/zipped Shapefile) where no new site may go (water, parks, "
                        "military land); candidates inside are removed and counted")
    p.add_argument("--exclusions-coords", metavar="SYSTEM", help="coordinate system of the --exclusions file (overrides --coords)")
    p.add_argument("--candidate-spacing-m", type=float, metavar="M",
                   help="generated candidates: one network node per M-metre cell near uncovered demand")
    p.add_argument("--candidates-from", choices=("nodes", "demand"), default="nodes",
                   help="generated candidates from network nodes (default) or the uncovered demand points")
    p.add_argument("--method", choices=("auto", "heuristic", "greedy", "exact"), default="auto",
                   help="auto (default): the improved heuristic, then HiGHS warm-started from it within --time-limit, "
                        "with the proven gap; heuristic: greedy plus swaps and a bound; greedy: lazy greedy only; "
                        "exact: HiGHS MILP")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S",
                   help="auto/exact: the whole time budget, seconds (default 10)")
    p.add_argument("--capacity", type=float, metavar="R", help="residents one new site can serve (with --count; exact)")
    p.add_argument("--relocate", action="store_true",
                   help="existing sites may move: they compete with the candidates; --count is the number added on top (0: best placement of the same number)")
    p.add_argument("--no-map", action="store_true", help="do not write map.html")
    p.add_argument("--basemap", default="none", help="map.html basemap: none | osm | carto | amap")
    p.set_defaults(func=cmd_propose)
    return p


def cmd_propose(args) -> int:
    from ._cli_common import build_from_args, say, study_file_text
    from .siting import propose_sites, write_siting

    t0 = time.perf_counter()
    if args.types and len(args.types) != 1:
        raise InputError("propose needs exactly one --type.", "propose 需要且只能指定一个 --type。")
    study = build_from_args(args, candidates=args.candidates)
    types = study.goals.types
    if not types or len(types) != 1:
        raise InputError("propose needs exactly one --type (or one type in the study file's [goals] types).",
                         "propose 需要且只能指定一个 --type（或在研究文件 [goals] types 中指定一个类型）。")
    ftype = study.types.get_type(types[0])  # unknown type: InputError listing the known ones
    if args.move is not None or args.objective != "coverage":
        return _propose_by_time_or_move(args, study, ftype, t0)
    result = propose_sites(
        study, ftype.key, candidate_spacing_m=args.candidate_spacing_m, candidates_from=args.candidates_from,
        count=args.count, target_share=args.target_share, share_of=args.share_of, method=args.method,
        time_limit_s=args.time_limit, capacity=args.capacity, relocate=args.relocate,
    )
    html = None
    if not args.no_map:
        from maps.build import coverage_map, to_html

        fac = study.facilities
        areas = None
        if study.areas is not None and len(result.areas):  # outline coloured by the share after
            cols = result.areas[["area_id", "share_after", "demand_total", "new_sites"]]
            areas = study.areas.merge(cols.rename(columns={"share_after": "coverage_share"}), on="area_id", how="left")
        m = coverage_map(facilities=fac[fac["type"] == ftype.key], proposals=result.sites_gdf(),
                         areas=areas, types=study.types, lang=args.lang, basemap=args.basemap,
                         title=study.label, candidates=study.candidates, exclusions=study.exclusions)
        html = to_html(m)
    extra = {"study": study.label, "elapsed_s": round(time.perf_counter() - t0, 3)}
    written = write_siting(result, args.out, map_html=html, extra_summary=extra, study=study,
                           study_file=study_file_text(study))
    label = ftype.label_zh if args.lang == "zh" else ftype.label_en
    if result.method == "greedy":
        how = "greedy, at least 63% of the optimum guaranteed; --method auto or exact proves the gap"
    elif result.gap == result.gap:  # a proven gap (not NaN)
        how = f"{result.method}, {result.status}, proven gap {result.gap:.2%}"
    else:
        how = f"{result.method}, {result.status}"
    if args.relocate:
        n_exist = int((study.facilities["type"] == ftype.key).sum())
        kept = int((result.sites["source"] == "existing").sum())
        say(f"{label}: {len(result.sites)} sites: keep {kept} of {n_exist} existing, move {n_exist - kept}, "
            f"{len(result.sites) - kept} at new places; coverage {result.share_before:.1%} -> {result.share_after:.1%} ({how})")
    else:
        say(f"{label}: {len(result.sites)} new sites, coverage {result.share_before:.1%} -> {result.share_after:.1%} ({how})")
    for en, zh in result.notes:
        say(zh if args.lang == "zh" else en)
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _propose_by_time_or_move(args, study, ftype, t0: float) -> int:
    """``--objective median|center`` (new sites that shorten walks) and ``--move ID`` (one facility to its best place)."""
    from ._cli_common import say, study_file_text
    from .export import write_study_extras
    from .siting import candidates_from_gdf

    cand = candidates_from_gdf(study.network_for(ftype), study.candidates) if study.candidates is not None else None
    extra = {"study": study.label, "elapsed_s": None}
    if args.move is not None:
        from .relocate import relocate_one, write_relocation

        result = relocate_one(study, ftype.key, args.move, objective=args.objective, candidates=cand,
                              candidate_spacing_m=args.candidate_spacing_m, cutoff_minutes=args.cutoff_minutes,
                              supply_column=args.supply_column)
        extra["elapsed_s"] = round(time.perf_counter() - t0, 3)
        written = write_relocation(result, args.out, extra_summary=extra)
        say(json_line({k: v for k, v in result.summary.items() if not isinstance(v, (list, dict))}))
    else:
        if args.count is None:
            raise InputError("--objective median/center needs --count N (the number of new sites).",
                             "--objective median/center 需要 --count N（新增点位数）。")
        from .siting_median import propose_time, write_time_siting

        method = args.method if args.method in ("auto", "heuristic", "exact") else "heuristic"
        result = propose_time(study, ftype.key, count=args.count, objective=args.objective, candidates=cand,
                              candidate_spacing_m=args.candidate_spacing_m, cutoff_minutes=args.cutoff_minutes,
                              relocate=args.relocate, method=method, time_limit_s=args.time_limit)
        extra["elapsed_s"] = round(time.perf_counter() - t0, 3)
        written = write_time_siting(result, args.out, extra_summary=extra)
        say(json_line({k: v for k, v in result.summary.items() if not isinstance(v, (list, dict))}))
    written.update(write_study_extras(Path(args.out), study, study_file_text(study)))
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def json_line(d: dict) -> str:
    """A result's headline figures on one line (``key=value``), numbers rounded."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in d.items())
