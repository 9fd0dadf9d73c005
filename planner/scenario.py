"""The one entry point the CLI and the app share: a study (network, facilities, demand, areas) -> coverage results."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ._errors import InputError
from .config import FacilityType, FacilityTypes, default_types
from .coverage import TypeCoverage, area_table, type_coverage
from .demand import Demand, assign_areas
from .network import Network, Snap, snap_points

logger = logging.getLogger(__name__)

__all__ = ["Study", "CoverageResult", "run", "goal_for"]


@dataclass(frozen=True, eq=False)
class Study:
    """Everything a coverage run needs.

    Attributes
    ----------
    networks : {'walk': Network, 'bike': Network (optional)}; a bike type without a bike network
        uses the walking network at bicycle speed (said in the summary).
    facilities : GeoDataFrame, EPSG:4326, columns id, name, type, lon, lat (+ anything else).
    demand : Demand
    areas : GeoDataFrame with area_id, name, geometry (EPSG:4326), or None.
    types : FacilityTypes
    label : a title for reports (e.g. "长宁区" or "Demo district (synthetic)").
    """

    networks: dict
    facilities: object
    demand: Demand
    areas: object = None
    types: FacilityTypes = field(default_factory=default_types)
    label: str = ""
    meta: dict = field(default_factory=dict)

    def network_for(self, ftype: FacilityType) -> Network:
        if ftype.mode == "bike" and "bike" in self.networks:
            return self.networks["bike"]
        return self.networks["walk"]

    def with_facilities(self, facilities) -> Study:
        return replace(self, facilities=facilities)


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """What a run produces; every table is aligned to the study's rows.

    Attributes
    ----------
    study : the input Study (unchanged).
    goals : {type key: FacilityType with the goal and speed actually used}.
    coverage : {type key: TypeCoverage}.
    summary : JSON-ready dict (parameters, network counts, per-type statistics).
    areas : DataFrame, one row per (area, type), or empty.
    demand_table : DataFrame: id, population, area_id, and per type ``{key}_minutes``,
        ``{key}_facility_id``, ``{key}_covered``; ``snapped_too_far``, ``snap_dist_m``.
    facilities_table : DataFrame: id, name, type, lon, lat, snap_dist_m, snapped_too_far, area_id.
    isochrones, gaps : GeoDataFrames (EPSG:4326) or None when not asked for.
    timings : seconds per stage.
    surfaces : {type key: planner.surface.MinutesSurface} for the types asked for (``surface_types``).
    """

    study: Study
    goals: dict
    coverage: dict
    summary: dict
    areas: pd.DataFrame
    demand_table: pd.DataFrame
    facilities_table: pd.DataFrame
    isochrones: object
    gaps: object
    timings: dict
    dem_snaps: dict
    fac_snaps: dict
    surfaces: dict = field(default_factory=dict)


def goal_for(types: FacilityTypes, key: str, *, minutes: float | None = None, speed_kmh: float | None = None) -> FacilityType:
    """The type with an overridden goal and/or speed (``--minutes``, ``--speed-kmh``)."""
    return types.get_type(key).with_goal(minutes=minutes, speed_kmh=speed_kmh)


def _snap_lonlat(net: Network, lon, lat, max_snap_m: float) -> Snap:
    x, y = net.to_metric(lon, lat)
    return snap_points(net, x, y, max_snap_m=max_snap_m)


def run(
    study: Study,
    *,
    type_keys=None,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float = 300.0,
    isochrones: str = "dissolved",
    isochrone_types=None,
    isochrone_method: str = "auto",
    surface_types=None,
    surface_max_px: int = 2048,
    breaks=None,
    gap_cell_m: float = 200.0,
    progress=None,
) -> CoverageResult:
    """Compute coverage for each facility type of a study.

    Parameters
    ----------
    study : Study
    type_keys : list of str, optional
        Types to evaluate (keys or labels). Default: every type present in the facilities.
    minutes, speed_kmh : float, optional
        Override every evaluated type's goal / speed.
    max_snap_m : float
        Points farther than this from any street are flagged ``snapped_too_far`` (counted in the
        summary; such demand counts as not reached, such facilities as not open).
    isochrones : {'dissolved', 'all', 'none'}
        'dissolved': one polygon per type and break; 'all' adds per-facility (overlapping) and
        split (nearest-facility, non-overlapping) polygons.
    isochrone_types : list of str, 'first' or 'all', optional
        Types (keys or labels) to draw isochrones for; 'first': the first evaluated type; default
        (None or 'all') every evaluated type. Isochrones
        are display objects and cost seconds per type on a district-sized network (coverage does
        not use them), so a front end would usually ask for the type on screen.
    isochrone_method : {'auto', 'vector', 'raster'}
        See :func:`planner.isochrones.type_isochrones`.
    surface_types : list of str, 'first' or 'all', optional
        Types to compute a minutes-to-nearest surface for (``result.surfaces``, drawn by the map
        as one image); default none.
    surface_max_px : int
        Long side of each surface, pixels.
    breaks : minutes for the isochrone bands; default 5/10/15 for 15-minute goals, thirds of the goal otherwise.
    gap_cell_m : size of the square cells that gather uncovered demand, metres.
    progress : callable(fraction, text), optional.
    """
    import geopandas as gpd

    from . import isochrones as iso
    from .coverage import band_edges

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    report = progress or (lambda f, t: None)
    fac = study.facilities
    types = study.types
    if type_keys:
        keys = [types.get_type(k).key for k in type_keys]
    else:
        keys = [k for k in types if (fac["type"] == k).any()]
    if not keys:
        raise InputError(
            "No facilities of a known type to evaluate; give --type or a facilities file with a type column.",
            "没有可评估的已知类型设施；请指定 --type 或提供含类型列的设施文件。",
        )
    unknown_rows = ~fac["type"].isin(list(types))
    if unknown_rows.any():
        raise InputError(
            f"{int(unknown_rows.sum())} facilities have a type that is not defined: {sorted(set(fac.loc[unknown_rows, 'type'].astype(str)))}",
            f"{int(unknown_rows.sum())} 个设施的类型未定义：{sorted(set(fac.loc[unknown_rows, 'type'].astype(str)))}",
        )
    goals = {k: goal_for(types, k, minutes=minutes, speed_kmh=speed_kmh) for k in keys}
    iso_keys = _subset_of(types, keys, isochrone_types, "isochrone_types")
    surface_keys = _subset_of(types, keys, surface_types or [], "surface_types")
    if breaks is not None and not all(0 < float(b) < 1e4 for b in breaks):
        raise InputError(f"Isochrone breaks must be positive minutes, not {list(breaks)}.", f"等时圈分段须为正的分钟数，而非 {list(breaks)}。")
    if not len(study.demand) or not float(study.demand.population.sum()) > 0:
        raise InputError(
            "There is no demand to measure coverage against: the demand is empty or its population is zero everywhere.",
            "没有可评估的需求：需求点为空，或人口全部为零。",
        )

    demand = study.demand
    if study.areas is not None and len(study.areas) and demand.gdf["area_id"].isna().any():
        demand = assign_areas(demand, study.areas)
    dgdf = demand.gdf
    dlon, dlat = dgdf.geometry.x.to_numpy(), dgdf.geometry.y.to_numpy()
    pop = dgdf["population"].to_numpy(dtype=float)
    flon, flat = fac["lon"].to_numpy(dtype=float), fac["lat"].to_numpy(dtype=float)

    t = time.perf_counter()
    dem_snaps: dict[str, Snap] = {}
    fac_snaps: dict[str, Snap] = {}
    for k in keys:
        net = study.network_for(goals[k])
        if net.mode not in dem_snaps:
            dem_snaps[net.mode] = _snap_lonlat(net, dlon, dlat, max_snap_m)
            fac_snaps[net.mode] = _snap_lonlat(net, flon, flat, max_snap_m)
    timings["snap"] = time.perf_counter() - t
    report(0.1, "snapped")

    t = time.perf_counter()
    coverage: dict[str, TypeCoverage] = {}
    for i, k in enumerate(keys):
        net = study.network_for(goals[k])
        sel = np.flatnonzero(fac["type"].to_numpy() == k)
        cov = type_coverage(net, fac_snaps[net.mode].subset(sel), fac["id"].to_numpy()[sel], dem_snaps[net.mode], pop, goals[k])
        coverage[k] = cov
        report(0.1 + 0.4 * (i + 1) / len(keys), f"coverage {k}")
    timings["travel_times"] = time.perf_counter() - t

    # facility areas
    fac_area = np.full(len(fac), None, dtype=object)
    if study.areas is not None and len(study.areas):
        a = study.areas[["area_id", "geometry"]].to_crs(4326)
        j = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(flon, flat), crs=4326), a, how="left", predicate="within")
        j = j[~j.index.duplicated(keep="first")]
        fac_area = j["area_id"].astype(object).where(j["area_id"].notna(), None).to_numpy()

    t = time.perf_counter()
    area_rows = []
    if study.areas is not None and len(study.areas):
        for k, cov in coverage.items():
            sel = fac["type"].to_numpy() == k
            area_rows.append(area_table(cov, pop, dgdf["area_id"].to_numpy(dtype=object), fac_area[sel], study.areas))
    areas_df = pd.concat(area_rows, ignore_index=True) if area_rows else pd.DataFrame()
    timings["statistics"] = time.perf_counter() - t

    # tables
    walk_snap = dem_snaps.get("walk", next(iter(dem_snaps.values())))
    dt = pd.DataFrame(
        {
            "id": dgdf["id"].astype(str).to_numpy(),
            "lon": dlon,
            "lat": dlat,
            "population": pop,
            "area_id": dgdf["area_id"].to_numpy(dtype=object),
            "snap_dist_m": walk_snap.dist_m,
            "snapped_too_far": walk_snap.too_far,
        },
        index=dgdf.index,
    )
    for k, cov in coverage.items():
        dt[f"{k}_minutes"] = cov.minutes
        dt[f"{k}_facility_id"] = cov.facility_id
        dt[f"{k}_covered"] = cov.covered
    fsnap = fac_snaps.get("walk", next(iter(fac_snaps.values())))
    ft = pd.DataFrame(
        {
            "id": fac["id"].astype(str).to_numpy(),
            "name": fac["name"].astype(str).to_numpy() if "name" in fac.columns else "",
            "type": fac["type"].to_numpy(),
            "lon": flon,
            "lat": flat,
            "snap_dist_m": fsnap.dist_m,
            "snapped_too_far": fsnap.too_far,
            "area_id": fac_area,
        },
        index=fac.index,
    )

    # isochrones and gaps
    t = time.perf_counter()
    iso_rows: list[dict] = []
    gap_rows: list[dict] = []
    if isochrones != "none":
        for i, k in enumerate(iso_keys):
            cov = coverage[k]
            g = goals[k]
            net = study.network_for(g)
            brk = sorted(breaks) if breaks else list(band_edges(g))
            for b, poly in iso.type_isochrones(net, cov.field, cov.fac_snap, breaks_min=brk, speed_kmh=g.speed_kmh,
                                               method=isochrone_method):
                iso_rows.append({"type": k, "kind": "dissolved", "facility_id": "", "minutes": b, "geometry": poly, "crs": net.crs})
            if isochrones == "all":
                for fi, b, poly in iso.facility_isochrones(net, cov.fac_snap, breaks_min=brk, speed_kmh=g.speed_kmh):
                    iso_rows.append({"type": k, "kind": "facility", "facility_id": cov.facility_ids[fi], "minutes": b, "geometry": poly, "crs": net.crs})
                for fi, poly in iso.split_isochrones(net, cov.field, cov.fac_snap, minutes=g.target_minutes, speed_kmh=g.speed_kmh):
                    iso_rows.append({"type": k, "kind": "split", "facility_id": cov.facility_ids[fi], "minutes": g.target_minutes, "geometry": poly, "crs": net.crs})
            report(0.5 + 0.4 * (i + 1) / len(iso_keys), f"isochrones {k}")
    timings["isochrones"] = time.perf_counter() - t
    surfaces = {}
    if surface_keys:
        from .surface import minutes_surface

        t = time.perf_counter()
        for k in surface_keys:
            g, cov = goals[k], coverage[k]
            surfaces[k] = minutes_surface(study.network_for(g), cov.field, cov.fac_snap, speed_kmh=g.speed_kmh,
                                          goal_minutes=g.target_minutes, max_px=surface_max_px, type_key=k)
        timings["surface"] = time.perf_counter() - t
        report(0.92, "surface")
    t = time.perf_counter()
    metric_xy = {}
    for k, cov in coverage.items():
        net = study.network_for(goals[k])
        if net.mode not in metric_xy:
            metric_xy[net.mode] = tuple(np.asarray(v) for v in net.to_metric(dlon, dlat))
        x, y = metric_xy[net.mode]
        polys, gp, gm, gx = iso.gap_cells(x, y, pop, cov.minutes, cov.covered, cell_m=gap_cell_m)
        if len(polys):
            gap_rows.append(pd.DataFrame({"type": k, "population": gp, "minutes": gm, "max_minutes": gx, "geometry": polys,
                                          "crs": net.crs}))

    def to_gdf(rows, columns):
        """Rows (dicts, or frames of rows) with geometry in their network's CRS -> one EPSG:4326 frame."""
        if not rows:
            return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=4326)
        frame = pd.concat(rows, ignore_index=True) if isinstance(rows[0], pd.DataFrame) else pd.DataFrame(rows)
        parts = []
        for crs, grp in frame.groupby("crs", sort=False):
            parts.append(gpd.GeoDataFrame(grp.drop(columns="crs"), geometry="geometry", crs=crs).to_crs(4326))
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)

    gaps_gdf = to_gdf(gap_rows, ["type", "population", "minutes", "max_minutes"])
    timings["gaps"] = time.perf_counter() - t
    iso_gdf = to_gdf(iso_rows, ["type", "kind", "facility_id", "minutes"]) if isochrones != "none" else None

    timings["total"] = time.perf_counter() - t_start
    summary = {
        "study": study.label,
        "parameters": {
            "types": keys,
            "minutes_override": minutes,
            "speed_kmh_override": speed_kmh,
            "max_snap_m": max_snap_m,
            "isochrones": isochrones,
            "isochrone_types": iso_keys if isochrones != "none" else [],
            "breaks": list(breaks) if breaks else None,
            "gap_cell_m": gap_cell_m,
        },
        "network": {m: n.summary() for m, n in study.networks.items()},
        "demand": {
            "kind": demand.kind,
            "is_proxy": demand.is_proxy,
            "note_en": demand.note_en,
            "note_zh": demand.note_zh,
            "points": int(len(dgdf)),
            "total": float(pop.sum()),
            "snapped_too_far": int(walk_snap.too_far.sum()),
        },
        "facilities": {"rows": int(len(fac)), "snapped_too_far": int(fsnap.too_far.sum())},
        "types": {k: cov.stats for k, cov in coverage.items()},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        **study.meta,
    }
    for k in keys:
        net = study.network_for(goals[k])
        if goals[k].mode == "bike" and net.mode != "bike":
            summary["types"][k]["note_en"] = "No bicycle network was loaded: the walking network is used at bicycle speed."
            summary["types"][k]["note_zh"] = "未加载自行车路网：按自行车速度在步行路网上计算。"
        if study.areas is not None and len(areas_df):
            sub = areas_df[areas_df["type"] == k]
            summary["types"][k]["areas_without_facility"] = sub.loc[~sub["has_facility"], "name"].astype(str).tolist()
    report(1.0, "done")
    return CoverageResult(study, goals, coverage, summary, areas_df, dt, ft, iso_gdf, gaps_gdf, timings, dem_snaps, fac_snaps,
                          surfaces)


def _subset_of(types: FacilityTypes, keys: list, wanted, what: str) -> list:
    """The evaluated type keys named in ``wanted`` (keys or labels; None: all of ``keys``), in ``keys`` order."""
    if wanted is None:
        return list(keys)
    if isinstance(wanted, str) and wanted in ("first", "all"):
        return list(keys[:1]) if wanted == "first" else list(keys)
    asked = []
    for w in ([wanted] if isinstance(wanted, str) else list(wanted)):
        k = types.resolve(w)
        if k not in keys:
            raise InputError(
                f"{what}: {w!r} is not one of the evaluated facility types {keys}; name one of them.",
                f"{what}：{w!r} 不是参与评估的设施类型 {keys} 之一；请从中选择。",
            )
        asked.append(k)
    return [k for k in keys if k in asked]
