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
    p.add_argument("--share-of", choices=("total", "reachable"), default="total",
                   help="--target-share of all demand (default) or of demand some site can reach")
    p.add_argument("--candidates", metavar="PATH", help="candidate sites file (same formats as facilities)")
    p.add_argument("--candidate-spacing-m", type=float, metavar="M",
                   help="generated candidates: one network node per M-metre cell near uncovered demand")
    p.add_argument("--candidates-from", choices=("nodes", "demand"), default="nodes",
                   help="generated candidates from network nodes (default) or the uncovered demand points")
    p.add_argument("--method", choices=("greedy", "exact"), default="greedy",
                   help="greedy (lazy greedy, fast, default) or exact (HiGHS MILP with a time limit)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S", help="exact: HiGHS time limit, seconds (default 60)")
    p.add_argument("--capacity", type=float, metavar="R", help="residents one new site can serve (with --count; exact)")
    p.add_argument("--relocate", action="store_true",
                   help="existing sites may move: they compete with the candidates; --count is the number added on top (0: best placement of the same number)")
    p.add_argument("--no-map", action="store_true", help="do not write map.html")
    p.add_argument("--basemap", default="none", help="map.html basemap: none | osm | carto | amap")
    p.set_defaults(func=cmd_propose)
    return p


def cmd_propose(args) -> int:
    from . import io
    from .cli import load_study, say
    from .siting import candidates_from_gdf, propose_study, write_siting

    t0 = time.perf_counter()
    if not args.types or len(args.types) != 1:
        raise InputError("propose needs exactly one --type.", "propose 需要且只能指定一个 --type。")
    type_key = args.types[0]
    study, rejected = load_study(args, progress=say)
    ftype = study.types.get_type(type_key)  # unknown type: InputError listing the known ones
    net = study.network_for(ftype)
    candidates = None
    if args.candidates:
        table = io.read_facilities(args.candidates, types=study.types, coords=args.coords, default_type=ftype.key,
                                   skip_invalid=args.skip_invalid)
        for w in table.warnings:
            say("warning: " + w.message(args.lang))
        candidates = candidates_from_gdf(net, table.gdf)
    speed = 3.6 if args.elderly and args.speed_kmh is None else args.speed_kmh
    result = propose_study(
        study, ftype.key, candidates=candidates, candidate_spacing_m=args.candidate_spacing_m,
        candidates_from=args.candidates_from, minutes=args.minutes, speed_kmh=speed, max_snap_m=args.max_snap_m,
        count=args.count, target_share=args.target_share, share_of=args.share_of, method=args.method,
        time_limit_s=args.time_limit, capacity=args.capacity, relocate=args.relocate,
    )
    html = None
    if not args.no_map:
        try:
            from maps.build import coverage_map, to_html
        except ImportError as exc:
            say(f"map.html skipped: the maps package is not available ({exc})")
        else:
            fac = study.facilities
            areas = None
            if study.areas is not None and len(result.areas):  # outline coloured by the share after
                cols = result.areas[["area_id", "share_after", "demand_total", "new_sites"]]
                areas = study.areas.merge(cols.rename(columns={"share_after": "coverage_share"}), on="area_id", how="left")
            m = coverage_map(facilities=fac[fac["type"] == ftype.key], proposals=result.sites_gdf(),
                             areas=areas, types=study.types, lang=args.lang, basemap=args.basemap,
                             title=study.label)
            html = to_html(m)
    extra = {"study": study.label, "elapsed_s": round(time.perf_counter() - t0, 3)}
    written = write_siting(result, args.out, map_html=html, extra_summary=extra)
    if rejected is not None and len(rejected):
        from .export import write_csv

        write_csv(rejected, Path(args.out) / "rejected_rows.csv")
    label = ftype.label_zh if args.lang == "zh" else ftype.label_en
    if result.method == "exact":
        how = f"exact, HiGHS {result.status}, proven gap {result.gap:.2%}"
    else:
        how = "greedy, at least 63% of the optimum guaranteed; --method exact proves the gap"
    if args.relocate:
        n_exist = int((study.facilities["type"] == ftype.key).sum())
        kept = int((result.sites["source"] == "existing").sum())
        say(f"{label}: {len(result.sites)} sites: keep {kept} of {n_exist} existing, move {n_exist - kept}, "
            f"{len(result.sites) - kept} at new places; coverage {result.share_after:.1%} ({how})")
    else:
        say(f"{label}: {len(result.sites)} new sites, coverage {result.share_before:.1%} -> {result.share_after:.1%} ({how})")
    for en, zh in result.notes:
        say(zh if args.lang == "zh" else en)
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
