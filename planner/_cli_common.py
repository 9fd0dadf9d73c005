"""What every subcommand shares: the study options, and turning them into a StudySpec (flags override a study file)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ._errors import InputError
from .study import MAX_SNAP_M, OUTSIDE_TOLERANCE_M, Goals, Layer, NetworkSource, StudySpec, read_study_file, resolved

COORDS_HELP = "wgs84 | gcj02 (Amap, Tencent) | bd09 (Baidu) | EPSG:nnnn"


def say(message: str) -> None:
    """Progress and results go to stderr, so stdout stays clean for piping."""
    print(message, file=sys.stderr)


def add_common(p: argparse.ArgumentParser) -> None:
    """The options that describe a study (each one overrides the same setting of --study FILE)."""
    p.add_argument("--study", metavar="TOML", help="a study file (network, layers with their coordinate systems, goals); "
                                                   "flags given here override it")
    src = p.add_argument_group("street network (one of, unless --study gives it)")
    g = src.add_mutually_exclusive_group()
    g.add_argument("--network", metavar="PATH", help=".osm, .osm.bz2, .osm.gz, .osm.pbf, .graphml or compiled .npz")
    g.add_argument("--place", metavar="NAME", help="download by place name through osmnx (needs internet)")
    g.add_argument("--demo", action="store_true", default=None, help="the bundled synthetic demo district (offline)")
    p.add_argument("--demo-scale", type=float, help="demo size: 1 ≈ 38 km² (default 1)")
    p.add_argument("--walk-rules", metavar="TOML", help="walkability rules replacing data/walk_rules.toml (docs/osm_tags.md)")
    p.add_argument("--facilities", metavar="PATH", action="append", default=[], help="facility file; repeat for several")
    p.add_argument("--demand", metavar="PATH",
                   help="residents: points or polygons with a population column, a population raster (GeoTIFF: WorldPop, "
                        "GHS-POP, LandScan) or a census table of residents per area with --areas (default: a labelled proxy)")
    p.add_argument("--demand-band", type=int, metavar="N", help="population raster: the band to read (default the only one)")
    p.add_argument("--demand-placement", choices=("centre", "streets"),
                   help="population raster: residents at each cell's centre (default) or spread over its streets")
    p.add_argument("--areas", metavar="PATH", help="subdistrict boundaries (GeoJSON/GPKG) for per-area statistics")
    p.add_argument("--area-name-column", metavar="COL", help="the name column of --areas (detected by default)")
    p.add_argument("--keep-outside-demand", action="store_true", default=None,
                   help="with --areas: keep demand outside the areas (default: the areas are the study area)")
    p.add_argument("--type", dest="types", metavar="TYPE", action="append", help="facility type key or label; repeat; default: every type in the files")
    p.add_argument("--default-type", metavar="TYPE", help="type of facilities in files without a type column")
    p.add_argument("--minutes", type=float, help="override the time goal of every type, minutes")
    p.add_argument("--speed-kmh", type=float, help="override the travel speed, km/h (walk 4.5, elderly 3.6)")
    p.add_argument("--elderly", action="store_true", default=None, help="walking speed of older residents (the types file's elderly speed)")
    p.add_argument("--coords", help=f"coordinate system of every input file that has none of its own: {COORDS_HELP} (default wgs84)")
    p.add_argument("--facilities-coords", metavar="SYSTEM", help="coordinate system of the --facilities files (overrides --coords)")
    p.add_argument("--demand-coords", metavar="SYSTEM", help="coordinate system of the --demand file (overrides --coords)")
    p.add_argument("--areas-coords", metavar="SYSTEM", help="coordinate system of the --areas file (overrides --coords)")
    p.add_argument("--columns", metavar="FIELD=COL,...", help="explicit column names, overriding detection, e.g. lon=经度,lat=纬度,name=机构名称,type=类别")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first sheet)")
    p.add_argument("--layer", help="GeoPackage layer name")
    p.add_argument("--facilities-from-osm", action="store_true", default=None,
                   help="also take facilities tagged in the --network OSM file (see docs/osm_tags.md)")
    p.add_argument("--outside-tolerance-m", type=float,
                   help=f"accept points up to this far outside the network's extent (default {OUTSIDE_TOLERANCE_M:g})")
    p.add_argument("--max-snap-m", type=float, help=f"flag points farther than this from any street (default {MAX_SNAP_M:g})")
    p.add_argument("--allow-large-population", action="store_true", default=None,
                   help="accept demand rows above 1e7 residents (and files above 1e9); see docs/your_data.md")
    p.add_argument("--skip-invalid", action="store_true", help="load the valid rows and write rejected_rows.csv instead of refusing a file")
    p.add_argument("--types-file", metavar="TOML", help="extra facility types (user-defined), added to the bundled ones")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of messages and table headers (default zh)")
    p.add_argument("--cache-dir", metavar="DIR", help="where compiled networks are cached")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("-v", "--verbose", action="store_true")


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


def spec_from_args(args, *, candidates: str | None = None) -> StudySpec:
    """The study the flags describe: ``--study FILE`` if given, with every given flag overriding it.

    Every path in the returned spec is absolute or relative to the working folder (a study file's own
    relative paths are resolved against its folder here).
    """
    if args.study:
        spec, base_dir = read_study_file(args.study)
    else:
        if not (args.network or args.place or args.demo):
            raise InputError("Give a street network: --network FILE, --place NAME, --demo, or --study FILE.",
                             "请指定路网：--network 文件、--place 地名、--demo，或 --study 研究文件。")
        spec, base_dir = StudySpec(network=NetworkSource(demo=True)), None
    if base_dir is not None:
        spec = resolved(spec, base_dir)  # flags' paths are relative to the working folder, the file's to its folder
    net = spec.network
    if args.network or args.place or args.demo:
        net = NetworkSource(path=args.network, place=args.place, demo=bool(args.demo), demo_scale=1.0)
    if args.demo_scale is not None:
        if not net.demo:
            raise InputError("--demo-scale goes with --demo.", "--demo-scale 须与 --demo 一起使用。")
        net = replace(net, demo_scale=args.demo_scale)
    if args.facilities_from_osm:
        net = replace(net, facilities=True)
    if args.walk_rules:
        net = replace(net, walk_rules=args.walk_rules)
    default_coords = args.coords or spec.coords
    columns = parse_columns(args.columns)
    skip = bool(args.skip_invalid)

    def layer(path, role_coords, **kw):
        return Layer(path, coords=role_coords or args.coords, columns=columns, sheet=args.sheet, layer=args.layer,
                     skip_invalid=skip, **kw)

    def recoord(lf: Layer | None, role_coords: str | None) -> Layer | None:
        if lf is None:
            return None
        lf = replace(lf, skip_invalid=lf.skip_invalid or skip)
        return replace(lf, coords=role_coords) if role_coords else lf

    if args.facilities:
        facilities = tuple(layer(p, args.facilities_coords, type=args.default_type) for p in args.facilities)
    else:
        facilities = tuple(recoord(lf, args.facilities_coords) for lf in spec.facilities)
        if args.default_type:
            facilities = tuple(replace(lf, type=args.default_type) for lf in facilities)
    demand = layer(args.demand, args.demand_coords) if args.demand else recoord(spec.demand, args.demand_coords)
    if demand is not None and (args.demand_band is not None or args.demand_placement):
        demand = replace(demand, band=args.demand_band if args.demand_band is not None else demand.band,
                         placement=args.demand_placement or demand.placement)
    if args.areas:
        areas = Layer(args.areas, coords=args.areas_coords or args.coords, name_column=args.area_name_column, layer=args.layer)
    else:
        areas = recoord(spec.areas, args.areas_coords)
        if areas is not None and args.area_name_column:
            areas = replace(areas, name_column=args.area_name_column)
    cand = layer(candidates, args.facilities_coords) if candidates else spec.candidates
    excl_path, excl_coords = getattr(args, "exclusions", None), getattr(args, "exclusions_coords", None)
    if excl_path:  # propose --exclusions FILE: polygons where no new site may go
        excl = Layer(excl_path, coords=excl_coords or args.coords, layer=args.layer)
    else:
        excl = recoord(spec.exclusions, excl_coords)
    g = spec.goals
    goals = Goals(
        minutes=args.minutes if args.minutes is not None else g.minutes,
        speed_kmh=args.speed_kmh if args.speed_kmh is not None else g.speed_kmh,
        profile="elderly" if args.elderly else g.profile,
        types=tuple(args.types) if args.types else g.types,
        max_snap_m=args.max_snap_m if args.max_snap_m is not None else g.max_snap_m,
    )
    spec = replace(
        spec, network=net, facilities=facilities, demand=demand, areas=areas, candidates=cand, exclusions=excl,
        coords=default_coords,
        goals=goals, types_file=args.types_file or spec.types_file,
        outside_tolerance_m=args.outside_tolerance_m if args.outside_tolerance_m is not None else spec.outside_tolerance_m,
        keep_outside_demand=bool(args.keep_outside_demand) or spec.keep_outside_demand,
        allow_large_population=bool(args.allow_large_population) or spec.allow_large_population,
    )
    return spec


def build_from_args(args, *, candidates: str | None = None):
    """The Study the flags describe (through the one builder)."""
    from .study import build_study

    study = build_study(spec_from_args(args, candidates=candidates), cache_dir=args.cache_dir, progress=say)
    for note in study.notes:
        say(("警告：" if args.lang == "zh" else "warning: ") + note.message(args.lang))
    return study


def study_file_text(study) -> str:
    """The study file a run used, for its output folder (absolute paths: it reproduces the run from anywhere)."""
    from .study import study_toml

    return study_toml(study.spec, comment="The study this run used (goals included); rerun it with --study study.toml.")


def network_lines(summary: dict, lang: str) -> list[str]:
    """What the CLI says about each network it used: kilometres kept and dropped by rule, and the street classes
    residents snapped to."""
    out = []
    for mode, audit in (summary.get("network_audit") or {}).items():  # its warnings are among the study's notes
        dropped = sorted((audit.get("dropped_km") or {}).items(), key=lambda kv: -sum(kv[1].values()))
        parts = ", ".join(f"{rule} {sum(km.values()):.1f}" for rule, km in dropped[:5])
        if lang == "zh":
            out.append(f"{mode} 路网：保留 {audit.get('kept_total_km', 0):.1f} 公里，剔除 {audit.get('dropped_total_km', 0):.1f} 公里"
                       + (f"（{parts}）" if parts else ""))
        else:
            out.append(f"{mode} network: {audit.get('kept_total_km', 0):.1f} km kept, {audit.get('dropped_total_km', 0):.1f} km dropped"
                       + (f" ({parts})" if parts else ""))
        by_class = audit.get("demand_snapped_by_class") or {}
        total = sum(by_class.values())
        if total:
            top = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(by_class.items(), key=lambda kv: -kv[1])[:4])
            out.append(("  需求点吸附到的道路：" if lang == "zh" else "  demand points snapped to: ") + top)
    return out
