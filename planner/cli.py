"""Command line: ``python -m planner coverage|propose|demo ...``.

The CLI is an application layer like the Streamlit app: it is the one module of the package that
reaches into ``maps`` (lazily, to draw map.html). Library modules never import maps or folium.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from . import access_cli, batch_cli, siting_cli
from ._cli_common import add_common, build_from_args, network_lines, say, study_file_text
from ._errors import InputError, PlannerError

logger = logging.getLogger(__name__)

EPILOG_COVERAGE = """\
examples:
  python -m planner coverage --demo --out out/demo
  python -m planner coverage --network district.osm.pbf --facilities stations.csv --coords gcj02 \\
      --areas subdistricts.geojson --type service_station --out out/stations
  python -m planner coverage --place "长宁区, 上海市, 中国" --facilities aed.xlsx --type aed --out out/aed
  python -m planner coverage --study changning.toml --out out/changning
  python -m planner coverage --network district.osm.pbf --facilities aed_amap.xlsx --facilities-coords gcj02 \\
      --demand residents.csv --type aed --out out/aed

facility files: CSV (UTF-8/GBK), XLSX, GeoJSON, GPKG, zipped Shapefile with columns such as
id, name/名称, type/类型, lon/经度, lat/纬度. --coords says which coordinate system the files use
(Amap/Tencent exports: gcj02; Baidu: bd09); --facilities-coords, --demand-coords and --areas-coords
set it for one role. A study file (--study) gives each file its own; see docs/api.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m planner",
        description="Walking-coverage planner for public-health facilities / 公共卫生设施步行可达性规划工具",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cov = sub.add_parser(
        "coverage",
        help="coverage statistics, isochrones, gaps and a map",
        description="Walking time from every demand point to the nearest facility of each type; coverage against each type's goal.",
        epilog=EPILOG_COVERAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(cov)
    cov.add_argument("--isochrones", choices=("dissolved", "all", "none"), default="dissolved",
                     help="dissolved per type (default); all adds per-facility and nearest-facility polygons")
    cov.add_argument("--isochrone-types", metavar="TYPES", default="first",
                     help="types to draw isochrones and the minutes surface for: comma-separated keys or labels, "
                          "or 'all' (default: the first evaluated type; the statistics always cover every type)")
    cov.add_argument("--breaks", help="isochrone breaks in minutes, e.g. 5,10,15 (default: thirds of the goal)")
    cov.add_argument("--no-map", action="store_true", help="do not write map.html")
    cov.add_argument("--basemap", default="none", help="map.html basemap: none | osm | carto | amap (tiles need internet)")

    demo = sub.add_parser("demo", help="write the synthetic demo district's files (OSM, facilities, demand, areas)")
    demo.add_argument("--out", required=True)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=7)

    siting_cli.add_parser(sub, add_common)
    access_cli.add_parser(sub, add_common)
    batch_cli.add_parser(sub, add_common)
    return parser


def parse_breaks(text: str | None) -> list[float] | None:
    """``"5,10,15"`` -> ``[5.0, 10.0, 15.0]`` (positive minutes)."""
    if not text:
        return None
    try:
        out = [float(b) for b in text.split(",")]
    except ValueError:
        out = []
    if not out or not all(0 < b < 1e4 for b in out):
        raise InputError(
            f"--breaks expects positive minutes separated by commas, e.g. 5,10,15; got {text!r}.",
            f"--breaks 应为以逗号分隔的正数分钟，如 5,10,15；收到 {text!r}。",
        )
    return out


def display_types(text: str | None, *, surface: bool = True) -> dict:
    """``--isochrone-types``: ``run()`` options for the types drawn (isochrones, and the map's minutes surface)."""
    text = (text or "first").strip()
    which = text if text in ("all", "first") else [t.strip() for t in text.split(",") if t.strip()]
    return {"isochrone_types": which, "surface_types": which if surface else None}


# ---------------------------------------------------------------------------------------- commands
def cmd_coverage(args) -> int:
    from .export import write_outputs
    from .scenario import coverage

    t0 = time.perf_counter()
    study = build_from_args(args)
    t_load = time.perf_counter() - t0
    breaks = parse_breaks(args.breaks)

    def progress(f, text):
        say(f"[{f:4.0%}] {text}")

    result = coverage(study, isochrones=args.isochrones, breaks=breaks, progress=progress,
                      **display_types(args.isochrone_types, surface=not args.no_map))
    result.summary["timings_s"]["load_inputs"] = round(t_load, 4)
    html = None
    if not args.no_map:
        t = time.perf_counter()
        from maps.build import coverage_map, to_html

        from .surface import street_raster

        m = coverage_map(
            facilities=result.facilities_table,
            isochrones=result.isochrones,
            gaps=result.gaps,
            surfaces=result.surfaces,
            streets=street_raster(study.networks["walk"]),
            areas=result.area_layer(),
            types=study.types,
            lang=args.lang,
            basemap=args.basemap,
            title=study.label,
        )
        html = to_html(m)
        result.summary["timings_s"]["map"] = round(time.perf_counter() - t, 4)
    written = write_outputs(result, args.out, map_html=html, lang=args.lang, study_file=study_file_text(study))
    if study.rejected is not None and len(study.rejected):
        say(f"{len(study.rejected)} rejected rows written to rejected_rows.csv")
    for line in network_lines(result.summary, args.lang):
        say(line)
    for s in result.summary["types"].values():
        label = s["label_zh"] if args.lang == "zh" else s["label_en"]
        say(f"{label}: {s['coverage_share']:.1%} of demand within {s['target_minutes']:g} min "
            f"({s['facilities']} facilities, p90 {s['p90_minutes']:.1f} min)")
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_demo(args) -> int:
    from .demo import write_demo

    paths = write_demo(args.out, seed=args.seed, scale=args.scale)
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    lang = getattr(args, "lang", "zh")
    try:
        if args.command == "coverage":
            return cmd_coverage(args)
        if args.command == "demo":
            return cmd_demo(args)
        return args.func(args)
    except PlannerError as exc:
        print(exc.message(lang), file=sys.stderr)
        if lang == "zh":
            print(exc.message("en"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
