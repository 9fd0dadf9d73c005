"""The one entry point the CLI and the app share: a study (network, facilities, demand, areas) -> coverage results."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._errors import InputError
from .config import FacilityType, FacilityTypes
from .coverage_stats import TypeCoverage, area_table, type_coverage
from .demand import assign_areas
from .network import Network, Snap, snap_points, snapped_by_class
from .study import Study

logger = logging.getLogger(__name__)

__all__ = ["Study", "CoverageResult", "coverage", "run", "goal_for", "resolve_goals", "evaluated_types"]


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """What a run produces; every table is aligned to the study's rows.

    Attributes
    ----------
    study : the input Study (unchanged).
    goals : {type key: FacilityType with the goal and speed actually used}.
    coverage : {type key: TypeCoverage}.
    summary : JSON-ready dict (parameters, network counts and warnings, per-type statistics);
        ``summary["network_audit"][mode]``: the network audit (:class:`~planner.network.NetworkAudit`
        as a dict) plus ``demand_snapped_by_class`` and ``facilities_snapped_by_class``.
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

    def route(self, type_key: str, lon: float, lat: float) -> dict | None:
        """The walking route from a place (WGS-84) to its nearest facility of one type, as the engine measures it.

        Returns ``None`` when no facility is reachable (or the place is farther than the snap limit from
        a street), else a dict: ``facility_id``, ``facility_name``, ``metres``, ``minutes`` (the same
        minutes a resident standing there gets in ``demand_table``) and ``lonlat`` (the polyline, from
        the place to the facility).
        """
        from .travel import route_to_nearest

        cov = self.coverage[type_key]
        ftype = self.goals[type_key]
        net = self.study.network_for(ftype)
        ft = self.facilities_table
        rows = ft[ft["type"] == type_key].set_index(ft[ft["type"] == type_key]["id"].astype(str))
        ids = [str(i) for i in cov.facility_ids]
        fx, fy = net.to_metric(rows.loc[ids, "lon"].to_numpy(float), rows.loc[ids, "lat"].to_numpy(float))
        x, y = net.to_metric(np.array([float(lon)]), np.array([float(lat)]))
        r = route_to_nearest(net, cov.fac_snap, float(x[0]), float(y[0]), max_snap_m=self.dem_snaps[net.mode].max_snap_m,
                             source_xy=(np.asarray(fx), np.asarray(fy)))
        if r.source < 0:
            return None
        fid = ids[r.source]
        return {"facility_id": fid, "facility_name": str(rows.loc[fid, "name"]), "metres": r.metres,
                "minutes": r.minutes(ftype.metres_per_minute), "lonlat": r.lonlat}

    def catchments(self, type_key: str) -> pd.DataFrame:
        """Which facility serves how many residents: one row per facility of the type, residents whose nearest
        facility it is by time band (the type's thirds of the goal), within the goal in all, and their mean minutes.

        Columns: ``id, name, band_1, band_2, band_3, within_goal, beyond_goal, mean_minutes`` (band edges in
        ``attrs['bands']``); facilities nobody is nearest to have zeros. Sorted by ``within_goal``, largest first.
        """
        from .coverage_stats import band_edges

        ftype = self.goals[type_key]
        edges = band_edges(ftype)
        dt = self.demand_table
        minutes = dt[f"{type_key}_minutes"].to_numpy(float)
        pop = dt["population"].to_numpy(float)
        owner = dt[f"{type_key}_facility_id"].astype(object).to_numpy()
        ft = self.facilities_table[self.facilities_table["type"] == type_key]
        out = pd.DataFrame({"id": ft["id"].astype(str).to_numpy(), "name": ft["name"].astype(str).to_numpy()})
        lows = (0.0, *edges[:-1])
        has = pd.notna(owner) & np.isfinite(minutes)
        frame = pd.DataFrame({"owner": owner[has].astype(str), "m": minutes[has], "p": pop[has]})
        for i, (lo, hi) in enumerate(zip(lows, edges), start=1):
            sel = (frame["m"] > lo) | (frame["m"] == 0) if i == 1 else (frame["m"] > lo)
            sel &= frame["m"] <= hi + 1e-9
            out[f"band_{i}"] = out["id"].map(frame[sel].groupby("owner")["p"].sum()).fillna(0.0).to_numpy()
        out["within_goal"] = out[[f"band_{i}" for i in range(1, len(edges) + 1)]].sum(axis=1)
        beyond = frame[frame["m"] > edges[-1] + 1e-9]
        out["beyond_goal"] = out["id"].map(beyond.groupby("owner")["p"].sum()).fillna(0.0).to_numpy()
        wsum = frame.assign(w=frame["m"] * frame["p"]).groupby("owner")[["w", "p"]].sum()
        mean = (wsum["w"] / wsum["p"].where(wsum["p"] > 0)).rename("mean")
        out["mean_minutes"] = out["id"].map(mean).to_numpy(float)
        out = out.sort_values("within_goal", ascending=False, kind="stable").reset_index(drop=True)
        out.attrs["bands"] = [(lo, hi) for lo, hi in zip(lows, edges)]
        return out

    def area_layer(self, type_key: str | None = None):
        """The study's areas (GeoDataFrame, EPSG:4326) with ``coverage_share``, ``demand_total`` and ``facilities``
        of one type (default the first evaluated), for a map's area layer; None without areas."""
        study = self.study
        if study.areas is None or not len(self.areas):
            return None
        key = type_key if type_key is not None else next(iter(self.coverage))
        if key not in set(self.areas["type"]):
            return None
        sub = self.areas[self.areas["type"] == key][["area_id", "coverage_share", "demand_total", "facilities"]]
        return study.areas.merge(sub, on="area_id", how="left")


def evaluated_types(study: Study, type_keys=None) -> list[str]:
    """The type keys a run evaluates: those named (keys or labels), else every type with a facility in the study."""
    types, fac = study.types, study.facilities
    if type_keys:
        keys = [types.get_type(k).key for k in type_keys]
    else:
        keys = [k for k in types if len(fac) and (fac["type"] == k).any()]
    if not keys:
        raise InputError(
            "No facilities of a known type to evaluate; give --type or a facilities file with a type column.",
            "没有可评估的已知类型设施；请指定 --type 或提供含类型列的设施文件。",
        )
    return keys


def _checked_overrides(max_snap_m, minutes, speed_kmh):
    """The run's numeric options within their plausible ranges (messages name the CLI flags)."""
    from . import _validate as V

    max_snap_m = V.number(max_snap_m, name="max_snap_m", flag="--max-snap-m", unit_en="(metres)", unit_zh="米",
                          minimum=0.0, allow_min=False, maximum=V.MAX_DISTANCE_M)
    minutes = V.number(minutes, name="minutes", flag="--minutes", unit_en="(minutes)", unit_zh="分钟",
                       minimum=V.MIN_MINUTES, maximum=V.MAX_MINUTES, allow_none=True)
    speed_kmh = V.number(speed_kmh, name="speed_kmh", flag="--speed-kmh", unit_en="(km/h)", unit_zh="公里/小时",
                         minimum=V.MIN_SPEED_KMH, maximum=V.MAX_SPEED_KMH, allow_none=True)
    return max_snap_m, minutes, speed_kmh


def resolve_goals(study: Study, *, types=None, minutes: float | None = None, speed_kmh: float | None = None,
                  max_snap_m: float | None = None) -> tuple[list[str], dict, float, tuple]:
    """What :func:`coverage` measures: ``(type keys, {key: FacilityType with the goal used}, max_snap_m,
    (minutes, speed_kmh) overrides in force)``.

    The study's goals (a study file's ``[goals]``: types, minutes, speed or the elderly profile, snap
    limit) are the defaults and the keywords override them: the one place this rule is written
    (the batch's parts resolve through it too).
    """
    goals = study.goals
    speed = speed_kmh if speed_kmh is not None else goals.speed(study.types)
    minutes = minutes if minutes is not None else goals.minutes
    snap = max_snap_m if max_snap_m is not None else goals.max_snap_m
    snap, minutes, speed = _checked_overrides(snap, minutes, speed)
    wanted = list(types) if types else (list(goals.types) if goals.types else None)
    keys = evaluated_types(study, wanted)
    goal_map = {k: goal_for(study.types, k, minutes=minutes, speed_kmh=speed) for k in keys}
    return keys, goal_map, float(snap), (minutes, speed)


def goal_for(types: FacilityTypes, key: str, *, minutes: float | None = None, speed_kmh: float | None = None) -> FacilityType:
    """The type with an overridden goal and/or speed (``--minutes``, ``--speed-kmh``)."""
    return types.get_type(key).with_goal(minutes=minutes, speed_kmh=speed_kmh)


def _snap_lonlat(net: Network, lon, lat, max_snap_m: float) -> Snap:
    x, y = net.to_metric(lon, lat)
    return snap_points(net, x, y, max_snap_m=max_snap_m)


def demand_snap(study: Study, net: Network, max_snap_m: float) -> Snap:
    """The study's demand snapped to ``net``, computed once per study and the studies derived from it
    (a scenario shares its baseline's residents and network; only its facilities differ)."""
    key = ("demand_snap", id(net), id(study.demand), float(max_snap_m))
    hit = study.memo.get(key)
    if hit is None:
        g = study.demand.gdf
        snap = _snap_lonlat(net, g.geometry.x.to_numpy(), g.geometry.y.to_numpy(), max_snap_m)
        hit = study.memo[key] = (net, study.demand, snap)  # the objects are held so their ids stay theirs
    return hit[2]


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
    goals: dict | None = None,
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

    from . import _validate as V
    from . import isochrones as iso
    from .coverage_stats import band_edges

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    report = progress or (lambda f, t: None)
    fac = study.facilities
    types = study.types
    keys = evaluated_types(study, type_keys)
    unknown_rows = ~fac["type"].isin(list(types))
    if unknown_rows.any():
        raise InputError(
            f"{int(unknown_rows.sum())} facilities have a type that is not defined: {sorted(set(fac.loc[unknown_rows, 'type'].astype(str)))}",
            f"{int(unknown_rows.sum())} 个设施的类型未定义：{sorted(set(fac.loc[unknown_rows, 'type'].astype(str)))}",
        )
    max_snap_m, minutes, speed_kmh = _checked_overrides(max_snap_m, minutes, speed_kmh)
    gap_cell_m = V.number(gap_cell_m, name="gap_cell_m", unit_en="(metres)", unit_zh="米", minimum=1.0,
                          maximum=V.MAX_DISTANCE_M)
    if isochrones not in ("dissolved", "all", "none"):
        raise InputError(f"isochrones must be 'dissolved', 'all' or 'none', not {isochrones!r}.",
                         f"isochrones 须为 dissolved、all 或 none，而非 {isochrones!r}。")
    breaks = V.breaks(breaks)
    if goals is None:
        goals = {k: goal_for(types, k, minutes=minutes, speed_kmh=speed_kmh) for k in keys}
    else:  # resolved by resolve_goals (planner.coverage): the goal of each evaluated type
        goals = {k: goals[k] for k in keys}
    iso_keys = _subset_of(types, keys, isochrone_types, "isochrone_types")
    surface_keys = _subset_of(types, keys, surface_types or [], "surface_types")
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
            dem_snaps[net.mode] = demand_snap(study, net, max_snap_m)
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
        "network_audit": {
            m: {
                **n.audit.to_dict(),
                "demand_snapped_by_class": snapped_by_class(n, dem_snaps[m]) if m in dem_snaps else {},
                "facilities_snapped_by_class": snapped_by_class(n, fac_snaps[m]) if m in fac_snaps else {},
            }
            for m, n in study.networks.items()
        },
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


def coverage(
    study: Study,
    *,
    types=None,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    isochrones: str = "dissolved",
    breaks=None,
    gap_cell_m: float = 200.0,
    progress=None,
    **display,
) -> CoverageResult:
    """Walking time from every resident to the nearest facility of each type, and coverage against each goal.

    The study's goals (its study file's ``[goals]``: types, minutes, speed or the elderly profile,
    snap limit) are the defaults; keywords override them. This is what ``python -m planner
    coverage`` and the app run.

    Parameters
    ----------
    study : Study
        From :func:`planner.load_study`.
    types : list of str, optional
        Facility types to evaluate (keys or labels); default the study's, else every type present.
    minutes, speed_kmh : float, optional
        Override every evaluated type's time goal (minutes) / speed (km/h).
    max_snap_m : float, optional
        Points farther than this from any street (metres) are flagged and count as not reached.
    isochrones : {'dissolved', 'all', 'none'}
    breaks : list of float, optional
        Isochrone band edges in minutes.
    progress : callable(fraction, text), optional
    **display :
        What is drawn, passed to :func:`run`: ``isochrone_types``, ``surface_types`` ('first', 'all'
        or type keys), ``isochrone_method``, ``surface_max_px``.

    Returns
    -------
    CoverageResult
        ``.summary`` is what ``summary.json`` holds; ``.demand_table`` has one row per demand point
        (``{type}_minutes``, ``{type}_covered``, ...).

    Examples
    --------
    >>> import planner
    >>> res = planner.coverage(planner.load_study(demo=True), types=["aed"], isochrones="none")
    >>> 0 <= res.summary["types"]["aed"]["coverage_share"] <= 1
    True
    """
    keys, goals, snap, (mins, speed) = resolve_goals(study, types=types, minutes=minutes, speed_kmh=speed_kmh,
                                                     max_snap_m=max_snap_m)
    return run(
        study,
        type_keys=keys,
        goals=goals,
        minutes=mins,  # recorded in the summary
        speed_kmh=speed,
        max_snap_m=snap,
        isochrones=isochrones,
        breaks=breaks,
        gap_cell_m=gap_cell_m,
        progress=progress,
        **display,
    )
