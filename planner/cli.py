"""Command line: ``python -m planner coverage|propose|demo ...``.

The CLI is an application layer like the Streamlit app: it is the one module of the package that
reaches into ``maps`` (lazily, to draw map.html). Library modules never import maps or folium.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ._errors import InputError, PlannerError

logger = logging.getLogger(__name__)

EPILOG_COVERAGE = """\
examples:
  python -m planner coverage --demo --out out/demo
  python -m planner coverage --network district.osm.pbf --facilities stations.csv --coords gcj02 \\
      --areas subdistricts.geojson --type service_station --out out/stations
  python -m planner coverage --place "长宁区, 上海市, 中国" --facilities aed.xlsx --type aed --out out/aed

facility files: CSV (UTF-8/GBK), XLSX, GeoJSON, GPKG, zipped Shapefile with columns such as
id, name/名称, type/类型, lon/经度, lat/纬度. --coords says which coordinate system they use
(Amap/Tencent exports: gcj02; Baidu: bd09).
"""


def _add_common(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("street network (one of)")
    g = src.add_mutually_exclusive_group(required=True)
    g.add_argument("--network", metavar="PATH", help=".osm, .osm.bz2, .osm.gz, .osm.pbf, .graphml or compiled .npz")
    g.add_argument("--place", metavar="NAME", help="download by place name through osmnx (needs internet)")
    g.add_argument("--demo", action="store_true", help="the bundled synthetic demo district (offline)")
    p.add_argument("--demo-scale", type=float, default=1.0, help="demo size: 1 ≈ 38 km² (default 1)")
    p.add_argument("--facilities", metavar="PATH", action="append", default=[], help="facility file; repeat for several")
    p.add_argument("--demand", metavar="PATH", help="demand points or polygons with a population column (default: a labelled proxy)")
    p.add_argument("--areas", metavar="PATH", help="subdistrict boundaries (GeoJSON/GPKG) for per-area statistics")
    p.add_argument("--area-name-column", metavar="COL", help="the name column of --areas (detected by default)")
    p.add_argument("--keep-outside-demand", action="store_true",
                   help="with --areas: keep demand outside the areas (default: the areas are the study area)")
    p.add_argument("--type", dest="types", metavar="TYPE", action="append", help="facility type key or label; repeat; default: every type in the files")
    p.add_argument("--default-type", metavar="TYPE", help="type of facilities in files without a type column")
    p.add_argument("--minutes", type=float, help="override the time goal of every type, minutes")
    p.add_argument("--speed-kmh", type=float, help="override the travel speed, km/h (walk 4.5, elderly 3.6)")
    p.add_argument("--elderly", action="store_true", help="walking speed of older residents (3.6 km/h)")
    p.add_argument("--coords", default="wgs84", help="coordinate system of the input files: wgs84 | gcj02 | bd09 | EPSG:nnnn")
    p.add_argument("--columns", metavar="FIELD=COL,...", help="explicit column names, overriding detection, e.g. lon=经度,lat=纬度,name=机构名称,type=类别")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first sheet)")
    p.add_argument("--layer", help="GeoPackage layer name")
    p.add_argument("--facilities-from-osm", action="store_true", help="also take facilities tagged in the --network OSM file (see docs/osm_tags.md)")
    p.add_argument("--outside-tolerance-m", type=float, default=1000.0,
                   help="accept points up to this far outside the network's extent (default 1000)")
    p.add_argument("--max-snap-m", type=float, default=300.0, help="flag points farther than this from any street (default 300)")
    p.add_argument("--skip-invalid", action="store_true", help="load the valid rows and write rejected_rows.csv instead of refusing a file")
    p.add_argument("--types-file", metavar="TOML", help="extra facility types (user-defined), added to the bundled ones")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of messages and table headers (default zh)")
    p.add_argument("--cache-dir", metavar="DIR", help="where compiled networks are cached")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("-v", "--verbose", action="store_true")


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
    _add_common(cov)
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

    try:
        from . import siting_cli

        siting_cli.add_parser(sub, _add_common)
    except ImportError:  # the siting command is optional until its module exists
        pass
    return parser


# ---------------------------------------------------------------------------------------- loading
def load_study(args, *, progress=print):
    """Build a Study from CLI-style arguments (also used by the app's tests)."""
    import geopandas as gpd
    import pandas as pd

    from . import io
    from .config import load_facility_types
    from .demand import demand_from_points, proxy_demand
    from .network import download_network, load_network
    from .scenario import Study

    types = load_facility_types(extra=args.types_file) if args.types_file else load_facility_types()
    meta: dict = {"coords": args.coords}
    buildings = None
    networks = {}
    needs_bike = any(types.get_type(t).mode == "bike" for t in (args.types or []))
    if args.demo:
        from .demo import make_district
        from .network import compile_network

        district = make_district(scale=args.demo_scale)
        networks["walk"] = compile_network(district.raw)
        label = district.label_zh + " / " + district.label_en
        meta["synthetic"] = True
        facilities = district.facilities
        demand = demand_from_points(district.demand)
        areas = district.areas
        if args.facilities:
            facilities = None
    else:
        areas = None
        facilities = None
        demand = None
        if args.network:
            progress(f"loading network {args.network}")
            networks["walk"] = load_network(args.network, mode="walk", cache_dir=args.cache_dir)
            if needs_bike:
                networks["bike"] = load_network(args.network, mode="bike", cache_dir=args.cache_dir)
            label = Path(args.network).name
            if io_is_osm(args.network):
                from .osm import osm_buildings

                try:
                    buildings = osm_buildings(args.network)
                except PlannerError:
                    buildings = None
        else:
            progress(f"downloading network for {args.place}")
            networks["walk"] = download_network(args.place, mode="walk", cache_dir=args.cache_dir)
            if needs_bike:
                networks["bike"] = download_network(args.place, mode="bike", cache_dir=args.cache_dir)
            label = args.place
    net = networks["walk"]
    study_area = net.extent_lonlat
    columns = parse_columns(args.columns)
    read_opts = dict(coords=args.coords, columns=columns, skip_invalid=args.skip_invalid, study_area=study_area,
                     study_area_buffer_m=args.outside_tolerance_m, sheet=args.sheet, layer=args.layer)
    rejected = []
    if args.facilities or getattr(args, "facilities_from_osm", False):
        parts = []
        if getattr(args, "facilities_from_osm", False):
            if not (args.network and io_is_osm(args.network)):
                raise InputError("--facilities-from-osm needs --network with an OSM file.", "--facilities-from-osm 需要配合 OSM 文件（--network）使用。")
            from .osm import osm_facilities

            osm_fac = osm_facilities(args.network, types)
            progress(f"{len(osm_fac)} facilities found in {Path(args.network).name}")
            parts.append(osm_fac)
        for path in args.facilities:
            t = io.read_facilities(path, types=types, default_type=args.default_type, **read_opts)
            for w in t.warnings:
                progress("warning: " + w.message(args.lang))
            if len(t.rejected):
                rejected.append(t.rejected.assign(file=Path(path).name))
            parts.append(t.gdf)
        facilities = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
        dup = facilities["id"].duplicated(keep=False)
        if dup.any():
            raise InputError(
                f"The same facility id appears in more than one file: {sorted(set(facilities.loc[dup, 'id']))[:10]}. Give each facility a unique id.",
                f"多个文件中出现相同的设施编号：{sorted(set(facilities.loc[dup, 'id']))[:10]}。请为每个设施设置唯一编号。",
            )
    if facilities is None:
        raise InputError("Give at least one --facilities file.", "请至少提供一个 --facilities 设施文件。")
    if args.areas:
        areas = io.read_boundaries(args.areas, name_column=args.area_name_column)
        # a city-wide boundary file: keep the areas the street network reaches
        from .demand import areas_in_extent

        areas, left_out = areas_in_extent(areas, study_area, Path(args.areas).name)
        if left_out:
            progress(f"{left_out} of {len(areas) + left_out} areas lie outside the street network and are left out")
    if args.demand:
        d = io.read_demand(args.demand, **read_opts)
        if len(d.rejected):
            rejected.append(d.rejected.assign(file=Path(args.demand).name))
        g = d.gdf
        is_poly = g.geom_type.isin(["Polygon", "MultiPolygon"])
        if is_poly.any() and not is_poly.all():
            raise InputError(
                f"{Path(args.demand).name} mixes points ({int((~is_poly).sum())}) and polygons ({int(is_poly.sum())}); "
                "give demand as all points or all polygons (split the file).",
                f"{Path(args.demand).name} 同时包含点（{int((~is_poly).sum())} 个）和面（{int(is_poly.sum())} 个）；"
                "需求须全部为点或全部为面（请拆分文件）。",
            )
        if is_poly.all():
            from .demand import demand_from_polygons

            demand = demand_from_polygons(net, g)
        else:
            demand = demand_from_points(g)
    elif demand is None:
        demand = proxy_demand(net, buildings=buildings)
    if args.areas and not args.keep_outside_demand:
        from .demand import clip_to_areas

        demand, left_out = clip_to_areas(demand, areas)
        meta["demand_outside_areas_left_out"] = left_out
        if left_out["points"]:
            progress(f"{left_out['points']} demand points (population {left_out['population']:,.0f}) lie outside the areas and are left out")
    study = Study(networks=networks, facilities=facilities, demand=demand, areas=areas, types=types, label=label, meta=meta)
    return study, (pd.concat(rejected, ignore_index=True) if rejected else None)


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


def parse_columns(text: str | None) -> dict[str, str] | None:
    """``"lon=经度,lat=纬度"`` -> ``{"lon": "经度", "lat": "纬度"}``."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, col = part.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise InputError(
                f"--columns expects FIELD=COLUMN pairs separated by commas, got {part!r}.",
                f"--columns 应为以逗号分隔的 字段=列名，收到 {part!r}。",
            )
        out[key.strip()] = col.strip()
    return out


def io_is_osm(path) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf"))


# ---------------------------------------------------------------------------------------- commands
def say(message: str) -> None:
    """Progress and results go to stderr, so stdout stays clean for piping."""
    print(message, file=sys.stderr)


def cmd_coverage(args) -> int:
    from .export import atomic_path, write_outputs
    from .scenario import run

    t0 = time.perf_counter()
    study, rejected = load_study(args, progress=say)
    t_load = time.perf_counter() - t0
    speed = 3.6 if args.elderly and args.speed_kmh is None else args.speed_kmh
    breaks = parse_breaks(args.breaks)

    def progress(f, text):
        say(f"[{f:4.0%}] {text}")

    result = run(study, type_keys=args.types, minutes=args.minutes, speed_kmh=speed, max_snap_m=args.max_snap_m,
                 isochrones=args.isochrones, breaks=breaks, progress=progress,
                 **display_types(args.isochrone_types, surface=not args.no_map))
    result.summary["timings_s"]["load_inputs"] = round(t_load, 4)
    html = None
    if not args.no_map:
        t = time.perf_counter()
        from maps.build import coverage_map, to_html

        m = coverage_map(
            facilities=result.facilities_table,
            isochrones=result.isochrones,
            gaps=result.gaps,
            surfaces=result.surfaces,
            areas=area_layer_frame(result),
            types=study.types,
            lang=args.lang,
            basemap=args.basemap,
            title=study.label,
        )
        html = to_html(m)
        result.summary["timings_s"]["map"] = round(time.perf_counter() - t, 4)
    written = write_outputs(result, args.out, map_html=html, lang=args.lang)
    if rejected is not None and len(rejected):
        with atomic_path(Path(args.out) / "rejected_rows.csv") as tmp:
            rejected.to_csv(tmp, index=False, encoding="utf-8-sig")
        say(f"{len(rejected)} rejected rows written to rejected_rows.csv")
    for s in result.summary["types"].values():
        label = s["label_zh"] if args.lang == "zh" else s["label_en"]
        say(f"{label}: {s['coverage_share']:.1%} of demand within {s['target_minutes']:g} min "
            f"({s['facilities']} facilities, p90 {s['p90_minutes']:.1f} min)")
    say(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def area_layer_frame(result):
    """Areas with geometry and the coverage share of the first type (for the map's outline layer)."""
    study = result.study
    if study.areas is None or not len(result.areas):
        return None
    first = next(iter(result.coverage))
    sub = result.areas[result.areas["type"] == first][["area_id", "coverage_share", "demand_total", "facilities"]]
    return study.areas.merge(sub, on="area_id", how="left")


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
