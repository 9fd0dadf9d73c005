"""The ``access`` subcommand: supply per 1,000 residents within walking reach (2SFCA / E2SFCA) for one facility type."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ._errors import InputError

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  python -m planner access --network district.osm.pbf --facilities centres.csv --type health_centre \\
      --supply-column doctors --areas subdistricts.geojson --below 0.5 --out out/access
  python -m planner access --demo --facilities centres_with_beds.csv --type health_centre --supply-column beds \\
      --minutes 20 --decay gaussian --gaussian-sigma 8 --out out/beds

access = 1,000 x sum over facilities j within the catchment of W(t_ij) S_j / sum_k W(t_kj) P_k:
supply units (the --supply-column, e.g. doctors or beds) per 1,000 residents within reach.
--decay none is 2SFCA; step (default, E2SFCA) weighs the catchment's thirds 1.0 / 0.68 / 0.22;
gaussian weighs exp(-t^2 / (2 sigma^2)). Outputs: access.csv (per demand point), areas.csv
(population-weighted mean, Gini, share below --below), facilities.csv, summary.json and map.html
(subdistricts and residents coloured by access; --no-map to skip).
"""


def add_parser(subparsers, add_common) -> argparse.ArgumentParser:
    """Register ``access`` on the CLI's subparsers; ``add_common`` adds the shared input options
    (including --type, --minutes, --speed-kmh, --elderly, --max-snap-m, --out)."""
    p = subparsers.add_parser(
        "access",
        help="supply per 1,000 residents within walking reach (2SFCA / E2SFCA)",
        description="How much care (doctors, beds, places) is within walking reach of each resident: the two-step "
                    "floating catchment area measure on exact network walking times, per demand point and per area.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--supply-column", metavar="COL",
                   help="facilities column with each facility's supply (doctors, beds); default: every facility counts 1")
    p.add_argument("--decay", choices=("none", "step", "gaussian"), default="step",
                   help="distance decay: none (2SFCA), step (E2SFCA 1.0/0.68/0.22, default), gaussian")
    p.add_argument("--gaussian-sigma", type=float, metavar="MIN", help="gaussian decay width, minutes (default: half the catchment)")
    p.add_argument("--below", type=float, metavar="A", help="report the share of residents with access below A per 1,000")
    p.add_argument("--no-map", action="store_true", help="do not write map.html")
    p.add_argument("--basemap", default="none", help="map.html basemap: none | osm | carto | amap (tiles need internet)")
    p.set_defaults(func=cmd_access)
    return p


def cmd_access(args) -> int:
    """Run ``access`` from parsed arguments; writes access.csv, areas.csv, facilities.csv, summary.json and map.html into --out."""
    from ._cli_common import build_from_args, say, study_file_text
    from .export import write_study_extras
    from .fca import access, write_access

    t0 = time.perf_counter()
    if args.types and len(args.types) != 1:
        raise InputError("access needs exactly one --type.", "access 需要且只能指定一个 --type。")
    study = build_from_args(args)
    types = study.goals.types
    if not types or len(types) != 1:
        raise InputError("access needs exactly one --type (or one type in the study file's [goals] types).",
                         "access 需要且只能指定一个 --type（或在研究文件 [goals] types 中指定一个类型）。")
    ftype = study.types.get_type(types[0])  # unknown type: InputError listing the known ones
    result = access(study, ftype.key, supply_column=args.supply_column, decay=args.decay,
                    gaussian_sigma=args.gaussian_sigma, below=args.below)
    html = None
    if not getattr(args, "no_map", False):
        from maps.access import access_map  # the CLI draws; the library never imports maps
        from maps.assets import to_html

        from .surface import street_raster

        fac = study.facilities
        fac = fac[fac["type"] == ftype.key][["id", "name", "type", "lon", "lat"]]
        html = to_html(access_map(result, areas=study.areas, facilities=fac, types=study.types,
                                  streets=street_raster(study.network_for(ftype)), lang=args.lang,
                                  basemap=getattr(args, "basemap", "none"), title=study.label))
    written = write_access(result, args.out, map_html=html,
                           extra_summary={"elapsed_s": round(time.perf_counter() - t0, 3)})
    written.update(write_study_extras(Path(args.out), study, study_file_text(study)))
    if study.rejected is not None and len(study.rejected):
        say(f"{len(study.rejected)} rejected rows written to rejected_rows.csv")
    s = result.summary["access"]
    label = ftype.label_zh if args.lang == "zh" else ftype.label_en
    unit = result.supply_column or ("facilities" if args.lang == "en" else "设施")
    if args.lang == "zh":
        say(f"{label}（{result.summary['measure']}，{result.minutes:g} 分钟）：每千人 {s['mean_per_1000']:.3f} {unit}"
            f"（人口加权平均），基尼系数 {s['gini']:.3f}，{s['share_no_access']:.1%} 的居民范围内没有设施")
    else:
        say(f"{label} ({result.summary['measure']}, {result.minutes:g} min): {s['mean_per_1000']:.3f} {unit} per 1,000 "
            f"residents (population-weighted mean), Gini {s['gini']:.3f}, {s['share_no_access']:.1%} of residents reach none")
    if args.below is not None:
        say(f"below {args.below:g}: {s['share_below']:.1%}")
    idle = result.summary["facilities"]["idle"]
    if idle:
        say(f"{idle} facilities have no resident within the catchment" if args.lang == "en"
            else f"{idle} 个设施的服务范围内没有居民")
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
