"""Many studies, or one large study split by its areas, with results identical to one whole run.

The core is plain Python on arrays and runs anywhere (tests, notebooks): :func:`run_part` computes
one area of a study on the part of the network within a *halo* around it, :func:`merge_parts`
joins the parts into one :class:`~planner.scenario.CoverageResult`, and :func:`run_split` does
both in one process. The Dask orchestration (:func:`start_client`, :func:`split_on_dask`,
:func:`studies_on_dask`) takes a ``dask.distributed`` client; dask is imported only there, so the
rest of the package does not need it.

Why a part is exact
-------------------
A walking path of network length ``d`` from a resident never leaves the disc of radius ``d``
around the resident (network distance >= straight-line distance), and its facility lies inside
that disc too (its off-street leg is part of ``d``). So a part made of the area's residents (as
the whole run assigns them, :func:`planner.demand.assign_areas`), every street edge that
intersects the area buffered by ``H`` metres (kept whole, never cut mid-edge) and every facility
snapped onto those edges finds every nearest-facility distance ``<= H`` exactly, and any
distance it finds ``> H`` is only an upper bound. The first pass uses ``H`` = the longest goal
in metres (minutes x speed) plus the snap limit, so coverage is exact at once. Residents whose
distance came out beyond ``H`` are then recomputed on the streets within each one's first-pass
distance of it (the true distance is no larger), or on the whole network when a part found no
facility for them; so the minutes beyond the goal, the mean and the 90th percentile are exact
too, not censored. Snapping is done on the whole network, so every point sits on the same edge
at the same place as in a whole run.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import InputError, PlannerError
from .network import Network, Snap, snap_points

logger = logging.getLogger(__name__)

__all__ = [
    "RunOptions",
    "Prepared",
    "prepare",
    "PartResult",
    "StudyRun",
    "BatchResult",
    "halo_m",
    "cut_network",
    "part_keys",
    "run_part",
    "merge_parts",
    "run_split",
    "batch_table",
    "start_client",
    "split_on_dask",
    "studies_on_dask",
    "siting_on_dask",
    "close_client",
    "write_batch",
]


# ============================================================================ goals of a run
@dataclass(frozen=True)
class RunOptions:
    """What a coverage run is asked for (the keywords of :func:`planner.coverage`), picklable."""

    types: tuple[str, ...] | None = None
    minutes: float | None = None
    speed_kmh: float | None = None
    max_snap_m: float | None = None

    def resolve(self, study):
        """``(keys, {key: FacilityType with the goal used}, max_snap_m)``: :func:`planner.scenario.resolve_goals`."""
        from .scenario import resolve_goals

        return resolve_goals(study, types=self.types, minutes=self.minutes, speed_kmh=self.speed_kmh,
                             max_snap_m=self.max_snap_m)[:3]

    def key(self) -> str:
        return json.dumps([self.types, self.minutes, self.speed_kmh, self.max_snap_m])


def _metres_per_minute(ftype) -> float:
    # the one rule (planner.config), as planner.coverage_stats.type_coverage uses it: minutes match to the last bit
    return ftype.metres_per_minute


def halo_m(goals: dict, max_snap_m: float) -> float:
    """The first-pass halo, metres: the longest goal as walking distance (minutes x speed) plus the snap limit.

    Every resident whose nearest facility of any evaluated type is within its goal is then
    computed exactly by a part (see the module docstring).
    """
    return max(g.target_minutes * _metres_per_minute(g) for g in goals.values()) + float(max_snap_m)


# ============================================================================ cutting a network
def cut_network(net: Network, region, halo: float) -> tuple[Network, np.ndarray]:
    """The sub-network of whole edges that intersect ``region`` buffered by ``halo`` metres.

    Parameters
    ----------
    net : Network
        The whole compiled network.
    region : shapely geometry in ``net.crs`` (metres)
    halo : float
        Metres; ``inf`` returns ``net`` itself.

    Returns
    -------
    (Network, int64[m])
        The part's network (edges and nodes in the whole network's order, so the Morton node
        order is kept) and, for every edge of ``net``, its index in the part (-1: not included).
        Edges are never cut: a point near the halo's edge snaps as in the whole network.
    """
    if not math.isfinite(halo):
        return net, np.arange(net.n_edges, dtype=np.int64)
    # a buffer's arcs are chords inside the true circle: grow the distance so the zone holds every point within halo
    zone = region.buffer(float(halo) / math.cos(math.pi / (4 * _QUAD_SEGS)), quad_segs=_QUAD_SEGS) if halo > 0 else region
    hit = net.edge_tree.query(zone, predicate="intersects")
    keep = np.zeros(net.n_edges, dtype=bool)
    keep[hit] = True
    edges = np.flatnonzero(keep)
    edge_map = np.full(net.n_edges, -1, dtype=np.int64)
    edge_map[edges] = np.arange(len(edges))
    on = np.zeros(net.n_nodes, dtype=bool)
    on[net.edge_u[edges]] = True
    on[net.edge_v[edges]] = True
    nodes = np.flatnonzero(on)
    node_map = np.full(net.n_nodes, -1, dtype=np.int64)
    node_map[nodes] = np.arange(len(nodes))
    counts = np.diff(net.geom_offsets)[edges]
    starts = net.geom_offsets[:-1][edges]
    pos = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(int(counts.sum()))
    kw = {}
    for f in fields(Network):  # every array sliced by what it is indexed by (nodes, edges, geometry points)
        v = getattr(net, f.name)
        if f.name in _PER_NODE:
            kw[f.name] = v[nodes]
        elif f.name in _PER_EDGE and v is not None:
            kw[f.name] = v[edges]
        elif f.name in _PER_POINT and v is not None:
            kw[f.name] = v[pos]
        else:
            kw[f.name] = v
    kw.update(edge_u=node_map[net.edge_u[edges]], edge_v=node_map[net.edge_v[edges]],
              geom_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
              source=f"{net.source} (part: {len(edges)} of {net.n_edges} edges)", meta=dict(net.meta),
              dropped_nodes=0, dropped_edges=0)
    return Network(**kw), edge_map


_PER_NODE = {"node_id", "x", "y", "lon", "lat"}
_PER_EDGE = {"length_m", "oneway", "highway", "name", "highway_code"}
_PER_POINT = {"geom_xy", "geom_cum_m"}


_QUAD_SEGS = 8


def _discs_by_cell(x: np.ndarray, y: np.ndarray, r: np.ndarray, cell_m: float = 250.0):
    """A polygon holding the disc of radius ``r[i]`` around every point: per square cell, the cell's
    box of its points buffered by their largest radius (few shapes however many points)."""
    import shapely

    cx = np.floor(x / cell_m).astype(np.int64)
    cy = np.floor(y / cell_m).astype(np.int64)
    key = cx * 1_000_003 + cy
    order = np.argsort(key, kind="stable")
    ks = key[order]
    starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
    xmin = np.minimum.reduceat(x[order], starts)
    xmax = np.maximum.reduceat(x[order], starts)
    ymin = np.minimum.reduceat(y[order], starts)
    ymax = np.maximum.reduceat(y[order], starts)
    rmax = np.maximum.reduceat(r[order], starts)
    boxes = shapely.box(xmin, ymin, xmax, ymax)
    # a buffer's arcs are chords inside the true circle: grow the radius so the polygon holds the circle
    return shapely.union_all(shapely.buffer(boxes, rmax / math.cos(math.pi / (4 * _QUAD_SEGS)), quad_segs=_QUAD_SEGS))


def _snapped_by_class(net: Network, snap: Snap) -> dict:
    """Points per highway class, as the whole run's network audit counts them (additive over parts)."""
    try:
        from .network import snapped_by_class
    except ImportError:  # a network module without the audit
        return {}
    return snapped_by_class(net, snap)


def _sum_by_class(counts: Iterable[dict]) -> dict:
    """Per-class counts of parts added up, most first (ties in the classes' own order, as the whole run lists them)."""
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + int(v)
    try:
        from .network import HIGHWAY_CLASSES

        rank = {c: i for i, c in enumerate(HIGHWAY_CLASSES)}
    except ImportError:
        rank = {}
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], rank.get(kv[0], len(rank)))))


def _on_part(snap: Snap, edge_map: np.ndarray) -> Snap:
    """A whole-network snap moved onto a part's edges (points flagged too far keep edge 0: never used)."""
    e = edge_map[snap.edge]
    lost = (e < 0) & ~snap.too_far
    if lost.any():  # a bug, not bad input: the halo always holds the edges of the part's points
        raise RuntimeError(f"{int(lost.sum())} points snapped to edges outside the part")
    return Snap(np.where(e < 0, 0, e), snap.along_m, snap.dist_m, snap.too_far, snap.max_snap_m)


# ============================================================================ the whole study, prepared once
@dataclass(frozen=True, eq=False)
class Prepared:
    """A study with what every part shares: goals, whole-network snaps of the facilities, facility areas."""

    study: object
    options: RunOptions
    keys: list
    goals: dict
    max_snap_m: float
    demand: object  # Demand with area_id set
    fac_snaps: dict  # mode -> Snap of every facility on that mode's whole network
    fac_area: np.ndarray
    area_geoms: dict  # mode -> {area_id: metric geometry}


def prepare(study, options: RunOptions | None = None) -> Prepared:
    """Resolve the goals and snap the facilities once (what a worker keeps between its parts)."""
    import geopandas as gpd

    from .demand import assign_areas

    if study.areas is None or not len(study.areas):
        raise InputError("Splitting by areas needs area boundaries: add --areas FILE (or [areas] in the study file).",
                         "按区域拆分需要区域边界：请添加 --areas 文件（或研究文件中的 [areas]）。")
    options = options or RunOptions()
    keys, goals, snap = options.resolve(study)
    fac = study.facilities
    # the same refusals as a whole run (planner.scenario.run), before any part starts
    unknown = ~fac["type"].isin(list(study.types))
    if unknown.any():
        names = sorted(set(fac.loc[unknown, "type"].astype(str)))
        raise InputError(f"{int(unknown.sum())} facilities have a type that is not defined: {names}",
                         f"{int(unknown.sum())} 个设施的类型未定义：{names}")
    if not len(study.demand) or not float(study.demand.population.sum()) > 0:
        raise InputError(
            "There is no demand to measure coverage against: the demand is empty or its population is zero everywhere.",
            "没有可评估的需求：需求点为空，或人口全部为零。",
        )
    demand = study.demand
    if demand.gdf["area_id"].isna().any():
        demand = assign_areas(demand, study.areas)
    flon, flat = fac["lon"].to_numpy(dtype=float), fac["lat"].to_numpy(dtype=float)
    fac_snaps, area_geoms = {}, {}
    for k in keys:
        net = study.network_for(goals[k])
        if net.mode not in fac_snaps:
            x, y = net.to_metric(flon, flat)
            fac_snaps[net.mode] = snap_points(net, x, y, max_snap_m=snap)
            a = study.areas.to_crs(net.crs)
            area_geoms[net.mode] = dict(zip(a["area_id"], a.geometry.values))
    a = study.areas[["area_id", "geometry"]].to_crs(4326)
    j = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(flon, flat), crs=4326), a, how="left", predicate="within")
    j = j[~j.index.duplicated(keep="first")]
    fac_area = j["area_id"].astype(object).where(j["area_id"].notna(), None).to_numpy()
    return Prepared(study, options, keys, goals, snap, demand, fac_snaps, fac_area, area_geoms)


def part_keys(study) -> list:
    """The area ids a study splits into (its areas' order)."""
    if study.areas is None or not len(study.areas):
        raise InputError("Splitting by areas needs area boundaries: add --areas FILE (or [areas] in the study file).",
                         "按区域拆分需要区域边界：请添加 --areas 文件（或研究文件中的 [areas]）。")
    return list(study.areas["area_id"])


# ============================================================================ one part
@dataclass(frozen=True, eq=False)
class PartResult:
    """One area computed on its halo.

    Attributes
    ----------
    area_id, name : the area.
    demand_table : DataFrame, the whole run's demand-table rows of this area (same columns; index =
        positions in the study's demand).
    areas : DataFrame, this area's rows of the whole run's areas table (one per type).
    info : dict: halo_m, nodes, edges, facilities, demand points, second-pass points and halo, seconds.
    """

    area_id: object
    name: str
    demand_table: pd.DataFrame
    areas: pd.DataFrame
    info: dict


def _coverage_on(net, edge_map, fac_snap_whole, fac_sel, fac_ids, dem_snap_whole, pop, ftype):
    """Nearest-facility distances (m) and facility ids on a part network."""
    from .travel import nearest

    fs = fac_snap_whole.subset(fac_sel)
    ok = ~fs.too_far & (edge_map[fs.edge] >= 0)  # facilities off the part never serve its points within the halo
    fs, ids = fs.subset(np.flatnonzero(ok)), np.asarray(fac_ids, dtype=object)[ok]
    dist, who, _ = nearest(net, _on_part(fs, edge_map), _on_part(dem_snap_whole, edge_map))
    fid = np.full(len(dist), "", dtype=object)
    fid[who >= 0] = ids[who[who >= 0]]
    return dist, fid


def run_part(prep: Prepared, area_id) -> PartResult:
    """Compute one area of a prepared study on its halo (exact: see the module docstring).

    Parameters
    ----------
    prep : Prepared
        From :func:`prepare` (a worker prepares a study once and runs many parts).
    area_id : the area (one of :func:`part_keys`).
    """
    import shapely

    from .coverage_stats import TypeCoverage, area_table

    t0 = time.perf_counter()
    study, dem = prep.study, prep.demand
    areas = study.areas[study.areas["area_id"] == area_id]
    if not len(areas):
        raise InputError(f"There is no area {area_id!r} in the study.", f"研究中没有区域 {area_id!r}。")
    name = str(areas["name"].iloc[0])
    g = dem.gdf
    pos = np.flatnonzero(g["area_id"].to_numpy(dtype=object) == area_id)
    sub = g.iloc[pos]
    dlon, dlat = sub.geometry.x.to_numpy(), sub.geometry.y.to_numpy()
    pop = sub["population"].to_numpy(dtype=float)
    fac = study.facilities
    ftypes = fac["type"].to_numpy()
    fids = fac["id"].to_numpy()
    h1 = halo_m(prep.goals, prep.max_snap_m)
    info = {"halo_m": h1, "demand_points": int(len(pos)), "second_pass_points": 0, "second_pass_halo_m": None}
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    dem_snaps: dict[str, Snap] = {}
    cuts: dict[str, tuple] = {}  # mode -> (part network, edge map)
    for k in prep.keys:
        ftype = prep.goals[k]
        net = study.network_for(ftype)
        if net.mode not in dem_snaps:
            x, y = net.to_metric(dlon, dlat)
            dem_snaps[net.mode] = snap_points(net, x, y, max_snap_m=prep.max_snap_m)
            info.setdefault("demand_snapped_by_class", {})[net.mode] = _snapped_by_class(net, dem_snaps[net.mode])
            # a point assigned to this area from outside it (nearest area) brings its own surroundings
            x, y = np.asarray(x), np.asarray(y)
            geom = prep.area_geoms[net.mode][area_id]
            pts = shapely.points(x, y)
            outside = ~shapely.covers(geom, pts) if len(x) else np.zeros(0, bool)
            region = shapely.union_all([geom, shapely.multipoints(pts[outside])]) if outside.any() else geom
            cuts[net.mode] = cut_network(net, region, h1)
            info.setdefault("nodes", int(cuts[net.mode][0].n_nodes))
            info.setdefault("edges", int(cuts[net.mode][0].n_edges))
        ds = dem_snaps[net.mode]
        part_net, edge_map = cuts[net.mode]
        sel = np.flatnonzero(ftypes == k)
        dist, fid = _coverage_on(part_net, edge_map, prep.fac_snaps[net.mode], sel, fids[sel], ds, pop, ftype)
        # distances beyond the halo are upper bounds: recompute those points on a halo that holds them
        unsure = (dist > h1) & ~ds.too_far
        if unsure.any():
            idx = np.flatnonzero(unsure)
            far = dist[idx]
            h2 = float(far.max()) * (1 + 1e-9) + 1e-6 if np.isfinite(far).all() else math.inf
            if math.isfinite(h2):
                # each such resident needs only the disc of its first-pass distance: gather them by cell
                px, py = net.to_metric(dlon[idx], dlat[idx])
                zone = _discs_by_cell(np.asarray(px), np.asarray(py), far * (1 + 1e-9) + 1e-6)
                net2, map2 = cut_network(net, zone, 0.0)
            else:
                net2, map2 = cut_network(net, None, h2)
            d2, f2 = _coverage_on(net2, map2, prep.fac_snaps[net.mode], sel, fids[sel], ds.subset(idx), pop[idx], ftype)
            dist, fid = dist.copy(), fid.copy()
            dist[idx], fid[idx] = d2, f2
            info["second_pass_points"] += int(len(idx))
            info["second_pass_halo_m"] = max(info["second_pass_halo_m"] or 0.0, h2)
        results[k] = (dist, fid)
    walk = dem_snaps.get("walk", next(iter(dem_snaps.values())))
    dt = pd.DataFrame({
        "id": sub["id"].astype(str).to_numpy(), "lon": dlon, "lat": dlat, "population": pop,
        "area_id": sub["area_id"].to_numpy(dtype=object), "snap_dist_m": walk.dist_m, "snapped_too_far": walk.too_far,
    }, index=pos)
    rows = []
    for k, (dist, fid) in results.items():
        ftype = prep.goals[k]
        minutes = dist / _metres_per_minute(ftype)
        covered = minutes <= ftype.target_minutes + 1e-9
        dt[f"{k}_minutes"] = minutes
        dt[f"{k}_facility_id"] = fid
        dt[f"{k}_covered"] = covered
        cov = TypeCoverage(ftype, np.zeros(0, dtype=object), None, minutes, np.zeros(len(minutes), np.int64), covered, None)
        rows.append(area_table(cov, pop, dt["area_id"].to_numpy(dtype=object), prep.fac_area[ftypes == k], areas))
    info["facilities"] = int(len(fac))
    info["seconds"] = round(time.perf_counter() - t0, 4)
    return PartResult(area_id, name, dt, pd.concat(rows, ignore_index=True), info)


# ============================================================================ merging
def merge_parts(prep: Prepared, parts: Iterable[PartResult], *, gap_cell_m: float = 200.0, extra: dict | None = None):
    """Join parts into the :class:`~planner.scenario.CoverageResult` of one whole run.

    The demand table, per-type statistics, time bands, areas table and gap cells are those of a
    whole run (the split-equals-whole tests compare them). Isochrone polygons are not merged
    (``isochrones`` is None): draw them from a part's folder, or run one study for them.

    Raises
    ------
    PlannerError
        When a part is missing (the run is incomplete and says which areas).
    """
    import geopandas as gpd

    from . import isochrones as iso
    from .coverage_stats import TypeCoverage, _stats
    from .scenario import CoverageResult

    t0 = time.perf_counter()
    study = prep.study
    parts = list(parts)
    got = {p.area_id for p in parts}
    missing = [a for a in part_keys(study) if a not in got]
    if missing:
        raise PlannerError(f"{len(missing)} areas have no result yet: {missing[:10]}; rerun the batch to finish them.",
                           f"{len(missing)} 个区域尚无结果：{missing[:10]}；请重新运行批处理以完成。")
    g = prep.demand.gdf
    dt = pd.concat([p.demand_table for p in parts]).sort_index()
    if len(dt) != len(g) or not (dt.index.to_numpy() == np.arange(len(g))).all():
        raise RuntimeError("parts do not cover every demand point exactly once")
    dt.index = g.index
    pop = dt["population"].to_numpy(float)
    fac = study.facilities
    ftypes = fac["type"].to_numpy()
    fids = fac["id"].astype(str).to_numpy()
    coverage, gap_rows = {}, []
    for k in prep.keys:
        ftype = prep.goals[k]
        net = study.network_for(ftype)
        sel = np.flatnonzero(ftypes == k)
        fsnap = prep.fac_snaps[net.mode].subset(sel)
        dsnap = Snap(np.zeros(len(dt), np.int64), np.zeros(len(dt)), dt["snap_dist_m"].to_numpy(float),
                     dt["snapped_too_far"].to_numpy(bool), prep.max_snap_m)
        minutes = dt[f"{k}_minutes"].to_numpy(float)
        index_of = {fid: i for i, fid in enumerate(fids[sel])}
        who = np.array([index_of.get(f, -1) for f in dt[f"{k}_facility_id"].astype(str)], dtype=np.int64)
        covered = dt[f"{k}_covered"].to_numpy(bool)
        coverage[k] = TypeCoverage(ftype, fids[sel].astype(object), fsnap, minutes, who, covered, None,
                                   _stats(ftype, minutes, pop, dsnap, fsnap))
        x, y = net.to_metric(dt["lon"].to_numpy(float), dt["lat"].to_numpy(float))
        polys, gp, gm, gx = iso.gap_cells(np.asarray(x), np.asarray(y), pop, minutes, covered, cell_m=gap_cell_m)
        for poly, p_, m_, x_ in zip(polys, gp, gm, gx):
            gap_rows.append({"type": k, "population": float(p_), "minutes": float(m_), "max_minutes": float(x_), "geometry": poly, "crs": net.crs})
    by_area = {p.area_id: p.areas for p in parts}
    areas_df = pd.concat([by_area[a] for a in part_keys(study)], ignore_index=True)
    # the whole run lists areas type by type
    areas_df = pd.concat([areas_df[areas_df["type"] == k] for k in prep.keys], ignore_index=True)
    if gap_rows:
        gparts = [gpd.GeoDataFrame(grp.drop(columns="crs"), geometry="geometry", crs=crs).to_crs(4326)
                  for crs, grp in pd.DataFrame(gap_rows).groupby("crs", sort=False)]
        gaps = gpd.GeoDataFrame(pd.concat(gparts, ignore_index=True), geometry="geometry", crs=4326)
    else:
        gaps = gpd.GeoDataFrame({c: [] for c in ("type", "population", "minutes", "max_minutes")}, geometry=[], crs=4326)
    walk_mode = "walk" if "walk" in prep.fac_snaps else next(iter(prep.fac_snaps))
    fsnap = prep.fac_snaps[walk_mode]
    ft = pd.DataFrame({
        "id": fids, "name": fac["name"].astype(str).to_numpy() if "name" in fac.columns else "", "type": ftypes,
        "lon": fac["lon"].to_numpy(float), "lat": fac["lat"].to_numpy(float), "snap_dist_m": fsnap.dist_m,
        "snapped_too_far": fsnap.too_far, "area_id": prep.fac_area,
    }, index=fac.index)
    opts = prep.options
    summary = {
        "study": study.label,
        "parameters": {"types": prep.keys,
                       # as planner.coverage reports them: the keywords, else the study's goals
                       "minutes_override": opts.minutes if opts.minutes is not None else study.goals.minutes,
                       "speed_kmh_override": opts.speed_kmh if opts.speed_kmh is not None else study.goals.speed(study.types),
                       "max_snap_m": prep.max_snap_m, "isochrones": "none", "isochrone_types": [], "breaks": None,
                       "gap_cell_m": gap_cell_m},
        "network": {m: n.summary() for m, n in study.networks.items()},
        "demand": {"kind": prep.demand.kind, "is_proxy": prep.demand.is_proxy, "note_en": prep.demand.note_en,
                   "note_zh": prep.demand.note_zh, "points": int(len(dt)), "total": float(pop.sum()),
                   "snapped_too_far": int(dt["snapped_too_far"].sum())},
        "facilities": {"rows": int(len(fac)), "snapped_too_far": int(fsnap.too_far.sum())},
        "types": {k: cov.stats for k, cov in coverage.items()},
        **study.meta,
    }
    for k in prep.keys:
        sub = areas_df[areas_df["type"] == k]
        summary["types"][k]["areas_without_facility"] = sub.loc[~sub["has_facility"], "name"].astype(str).tolist()
    summary["split"] = {
        "by": "areas", "parts": len(parts), "halo_m": halo_m(prep.goals, prep.max_snap_m),
        "parts_detail": [{"area_id": p.area_id, "name": p.name, **p.info} for p in parts],
        "note_en": "Each area was computed on the streets and facilities within its halo; results equal one whole run. "
                   "Isochrone polygons are not merged.",
        "note_zh": "各区域在其缓冲范围内的道路和设施上计算；结果与整体计算一致。等时圈多边形未合并。",
    }
    if hasattr(next(iter(study.networks.values())), "audit"):  # the whole run's network audit, counts added up
        summary["network_audit"] = {
            m: {**n.audit.to_dict(),
                "demand_snapped_by_class": _sum_by_class(p.info.get("demand_snapped_by_class", {}).get(m, {}) for p in parts)
                if m in prep.fac_snaps else {},
                "facilities_snapped_by_class": _snapped_by_class(n, prep.fac_snaps[m]) if m in prep.fac_snaps else {}}
            for m, n in study.networks.items()}
    if extra:
        summary.update(extra)
    timings = {"merge": time.perf_counter() - t0}
    summary["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
    return CoverageResult(study, dict(prep.goals), coverage, summary, areas_df, dt, ft, None, gaps, timings,
                          {}, dict(prep.fac_snaps))


def run_split(study, *, types=None, minutes: float | None = None, speed_kmh: float | None = None,
              max_snap_m: float | None = None, gap_cell_m: float = 200.0):
    """One study computed area by area in this process and merged: equal to :func:`planner.coverage` point by point.

    What :func:`split_on_dask` distributes; useful on its own to bound memory per step and to test.

    Examples
    --------
    >>> import planner
    >>> from planner.batch import run_split
    >>> res = run_split(planner.load_study(demo=True), types=["aed"])
    >>> res.summary["split"]["parts"] == len(res.study.areas)
    True
    """
    prep = prepare(study, RunOptions(tuple(types) if types else None, minutes, speed_kmh, max_snap_m))
    parts = [run_part(prep, a) for a in part_keys(study)]
    return merge_parts(prep, parts, gap_cell_m=gap_cell_m)


def batch_table(rows: Iterable[tuple[str, dict]]) -> pd.DataFrame:
    """batch.csv: one row per (study or part, type): demand, covered, share, mean and p90 minutes.

    ``rows``: ``(name, stats)`` pairs where ``stats`` is a per-type dict of a summary (``summary['types'][k]``)
    or a per-area row.
    """
    out = []
    for name, s in rows:
        out.append({
            "study": name, "type": s.get("type"), "target_minutes": s.get("target_minutes"),
            "demand": float(s["demand_total"]), "covered": float(s["demand_covered"]),
            "share": float(s["coverage_share"]) if s["coverage_share"] is not None else float("nan"),
            "mean_minutes": s["mean_minutes"], "p90_minutes": s["p90_minutes"],
        })
    return pd.DataFrame(out, columns=["study", "type", "target_minutes", "demand", "covered", "share", "mean_minutes", "p90_minutes"])


# ============================================================================ on Dask
@dataclass(frozen=True, eq=False)
class StudyRun:
    """One study of a many-study batch: its summary, areas table and demand rows (demand.csv columns)."""

    name: str
    summary: dict
    areas: pd.DataFrame
    demand: pd.DataFrame
    info: dict


@dataclass(frozen=True, eq=False)
class BatchResult:
    """What a batch produced.

    Attributes
    ----------
    result : the merged CoverageResult of a split study (None for many studies, or when a part failed).
    runs : StudyRun per study (many-study batches) or PartResult per area (split), in input order;
        failed ones are missing.
    failures : list of dicts ``{"study", "part", "error"}``: parts that failed while the others finished.
    table : batch.csv (:func:`batch_table`).
    summary : what summary.json holds: per-part timings, ``dask`` (scheduler address, workers), failures.
    """

    result: object
    runs: list
    failures: list
    table: pd.DataFrame
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def start_client(*, workers: int | None = None, scheduler: str | None = None, processes: bool = True,
                 memory_limit: str | float | None = "auto"):
    """A ``dask.distributed`` client: on an existing cluster (``scheduler`` address) or a new LocalCluster.

    Parameters
    ----------
    workers : int, optional
        Workers of the LocalCluster, one thread each (default: every core).
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786`` (``dask scheduler`` /
        ``dask ssh`` / dask-kubernetes); ``workers`` is then ignored.
    processes : bool
        Workers as processes (default) or threads in this process (tests).

    Returns
    -------
    distributed.Client
        Close it with :func:`close_client` (which also closes a LocalCluster it started). A LocalCluster
        serves the Dask dashboard (live task progress, memory per worker) on a free port: ``client.dashboard_link``.
    """
    import os

    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    n = int(workers) if workers else (os.cpu_count() or 1)
    if n < 1:
        raise InputError(f"--workers must be at least 1, not {workers!r}.", f"--workers 至少为 1，而非 {workers!r}。")
    if processes and sys.platform.startswith("linux"):
        # workers forked from this process inherit the scientific stack it has already imported, instead of
        # each importing numpy, pandas, geopandas, scipy and the planner again (seconds per worker)
        import dask

        from . import scenario, study  # noqa: F401  (imported so that the forked workers have them)

        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   memory_limit=memory_limit)
    else:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                               memory_limit=memory_limit)
    client = Client(cluster)
    client._planner_cluster = cluster  # closed with the client (see close_client)
    return client


def close_client(client) -> None:
    """Close a client and the LocalCluster :func:`start_client` started for it."""
    cluster = getattr(client, "_planner_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def dask_info(client) -> dict:
    """``{"scheduler": address, "workers": n, "threads": n, "memory_limit_bytes": per worker}`` for summary.json."""
    info = client.scheduler_info()
    ws = list(info.get("workers", {}).values())
    return {"scheduler": client.scheduler.address, "workers": len(ws), "threads": int(sum(w.get("nthreads", 0) for w in ws)),
            "memory_limit_bytes": [int(w.get("memory_limit") or 0) for w in ws]}


def _fingerprint(*parts) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode("utf-8")).hexdigest()[:16]


def _spec_text(spec, base_dir) -> str:
    """The study as text plus the size and modification time of every input file: a changed file
    changes the fingerprint, so a rerun recomputes what depends on it."""
    from .study import resolved, study_toml

    full = resolved(spec, base_dir)
    paths = [full.network.path] if full.network.path else []
    paths += [lf.path for lf in full.layers()] + ([full.types_file] if full.types_file else [])
    stamps = []
    for p in paths:
        try:
            st = Path(p).stat()
            stamps.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            stamps.append(f"{p}:missing")
    return study_toml(full) + "\n".join(stamps)


def _slug(value) -> str:
    import re

    s = re.sub(r"[^\w.-]+", "_", str(value), flags=re.UNICODE).strip("._")
    return s or "part"


_PREPARED: dict[str, Prepared] = {}
_PREP_LOCK = threading.Lock()


def _prepared_on_worker(spec, base_dir, cache_dir, options: RunOptions, key: str) -> Prepared:
    """The prepared whole study, built (or loaded from the shared compiled-network cache) once per worker."""
    from .study import build_study

    with _PREP_LOCK:
        if key not in _PREPARED:
            _PREPARED.clear()  # one study at a time per worker: bounded memory
            _PREPARED[key] = prepare(build_study(spec, base_dir=base_dir, cache_dir=cache_dir), options)
        return _PREPARED[key]


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


PART_MARK = "part.json"


def _write_part(res: PartResult, folder: Path, fingerprint: str) -> None:
    """A part's folder: demand.csv (its rows, full precision), areas.csv, summary.json, and part.json written last (the done mark)."""
    from .export import atomic_path, jsonable, write_text

    folder.mkdir(parents=True, exist_ok=True)
    (folder / PART_MARK).unlink(missing_ok=True)
    with atomic_path(folder / "demand.csv") as tmp:
        res.demand_table.rename_axis("row").to_csv(tmp, encoding="utf-8")
    with atomic_path(folder / "areas.csv") as tmp:
        res.areas.to_csv(tmp, index=False, encoding="utf-8")
    summary = {"area_id": res.area_id, "name": res.name, "part": res.info,
               "types": {r["type"]: r for r in res.areas.to_dict("records")}}
    write_text(folder / "summary.json", json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
    mark = {"fingerprint": fingerprint, "area_id": res.area_id, "name": res.name, "info": res.info}
    write_text(folder / PART_MARK, json.dumps(jsonable(mark), ensure_ascii=False, indent=2))


def _read_part(folder: Path, fingerprint: str, area_id, keys) -> PartResult | None:
    """A part written by an earlier run with the same inputs and options, or None."""
    try:
        mark = json.loads((folder / PART_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if mark.get("fingerprint") != fingerprint:
        return None
    text_cols = {"id": str, "area_id": str, **{f"{k}_facility_id": str for k in keys}}
    dt = pd.read_csv(folder / "demand.csv", index_col="row", dtype=text_cols, keep_default_na=False,
                     encoding="utf-8")
    dt.index.name = None
    dt["area_id"] = np.full(len(dt), area_id, dtype=object)  # the study's own value (and type)
    areas = pd.read_csv(folder / "areas.csv", dtype={"area_id": str, "name": str}, encoding="utf-8")
    areas["area_id"] = np.full(len(areas), area_id, dtype=object)
    info = dict(mark.get("info", {}))
    info["reused"] = True
    return PartResult(area_id, str(mark.get("name", area_id)), dt, areas, info)


def _part_task(spec, base_dir, cache_dir, options, key, area_id, folder):
    prep = _prepared_on_worker(spec, base_dir, cache_dir, options, key)
    res = run_part(prep, area_id)
    res.info["worker"] = _worker_name()
    if folder is not None:
        _write_part(res, Path(folder), key)
    return res


def _gather(client, futures: dict, total: int, progress, label) -> tuple[dict, list]:
    """Results by key as they finish; a failed task is recorded (with its error) while the others go on."""
    from distributed import as_completed

    done, failures = {}, []
    n_done = total - len(futures)
    for fut in as_completed(list(futures)):
        key = futures[fut]
        n_done += 1
        if fut.status == "error":
            exc = fut.exception()
            msg = exc.message("en") if isinstance(exc, PlannerError) else f"{type(exc).__name__}: {exc}"
            failures.append({**label(key), "error": msg})
            logger.warning("%s failed: %s", label(key), msg)
            if progress:
                progress(n_done, total, label(key), None, msg)
        else:
            res = fut.result()
            done[key] = res
            if progress:
                progress(n_done, total, label(key), res.info.get("seconds"), None)
        fut.release()
    return done, failures


def split_on_dask(client, spec, *, base_dir=None, cache_dir=None, out: str | Path | None = None,
                  types: Sequence[str] | None = None, minutes: float | None = None, speed_kmh: float | None = None,
                  max_snap_m: float | None = None, gap_cell_m: float = 200.0,
                  progress: Callable | None = None) -> BatchResult:
    """One large study split by its areas, each area a Dask task; merged into the whole run's result.

    Parameters
    ----------
    client : distributed.Client
        From :func:`start_client` (LocalCluster or an existing cluster).
    spec : StudySpec
        The study (it needs areas). Each worker builds it once (the compiled network comes from
        the shared cache in ``cache_dir`` where the workers share a disk) and cuts its parts.
    base_dir, cache_dir : path, optional
        As in :func:`planner.study.build_study`.
    out : path, optional
        Each part writes ``out/parts/<area>/`` (demand.csv, areas.csv, part.json); a rerun with
        the same inputs and options reads the parts already there instead of computing them.
    types, minutes, speed_kmh, max_snap_m :
        As in :func:`planner.coverage`.
    progress : callable(done, total, label, seconds, error), optional
        Called as each part finishes (``error`` is None on success).

    Returns
    -------
    BatchResult
        ``result`` equals ``planner.coverage(study)`` point by point (see the module docstring);
        None when a part failed (``failures`` says which and why).
    """
    from .study import build_study

    t0 = time.perf_counter()
    options = RunOptions(tuple(types) if types else None, minutes, speed_kmh, max_snap_m)
    key = _fingerprint(_spec_text(spec, base_dir), options.key())
    study = build_study(spec, base_dir=base_dir, cache_dir=cache_dir)
    prep = prepare(study, options)
    t_prep = time.perf_counter() - t0
    areas = part_keys(study)
    names = dict(zip(study.areas["area_id"], study.areas["name"].astype(str)))
    parts_dir = Path(out) / "parts" if out is not None else None
    done: dict = {}
    futures = {}
    for a in areas:
        folder = parts_dir / _slug(a) if parts_dir is not None else None
        old = _read_part(folder, key, a, prep.keys) if folder is not None else None
        if old is not None:
            done[a] = old
            continue
        fut = client.submit(_part_task, spec, base_dir, cache_dir, options, key, a,
                            str(folder) if folder is not None else None, key=f"part-{key}-{_slug(a)}", pure=False)
        futures[fut] = a
    if progress and done:
        progress(len(done), len(areas), {"study": study.label, "part": f"{len(done)} reused"}, 0.0, None)
    got, failures = _gather(client, futures, len(areas), progress,
                            lambda a: {"study": study.label, "part": f"{a} {names.get(a, '')}".strip()})
    done.update(got)
    runs = [done[a] for a in areas if a in done]
    extra = {"dask": dask_info(client), "failures": failures}
    result = None
    if not failures:
        result = merge_parts(prep, runs, gap_cell_m=gap_cell_m, extra=extra)
        result.summary["timings_s"].update({"prepare": round(t_prep, 4), "total": round(time.perf_counter() - t0, 4)})
    rows = [(f"{p.name}", {**r, "target_minutes": prep.goals[r["type"]].target_minutes})
            for p in runs for r in p.areas.to_dict("records")]
    table = batch_table(rows)
    summary = result.summary if result is not None else {
        "study": study.label, **extra, "split": {"by": "areas", "parts": len(areas), "done": len(runs),
                                                 "parts_detail": [{"area_id": p.area_id, "name": p.name, **p.info} for p in runs]}}
    return BatchResult(result, runs, failures, table, summary)


def _study_task(name, spec, base_dir, cache_dir, options: RunOptions, isochrones, folder, key):
    from .export import demand_export, jsonable, write_outputs, write_text
    from .scenario import coverage
    from .study import build_study, study_toml

    t0 = time.perf_counter()
    study = build_study(spec, base_dir=base_dir, cache_dir=cache_dir)
    res = coverage(study, types=list(options.types) if options.types else None, minutes=options.minutes,
                   speed_kmh=options.speed_kmh, max_snap_m=options.max_snap_m, isochrones=isochrones)
    info = {"seconds": round(time.perf_counter() - t0, 4), "worker": _worker_name(),
            "nodes": int(study.networks["walk"].n_nodes), "demand_points": int(len(res.demand_table))}
    res.summary["batch"] = {"name": name, **info}
    if folder is not None:
        folder = Path(folder)
        (folder / PART_MARK).unlink(missing_ok=True)
        write_outputs(res, folder, study_file=study_toml(study.spec) if study.spec is not None else None)
        if study.areas is not None and len(res.areas):  # for the city-wide map: areas with their first type's share
            from .export import write_geojson

            first = next(iter(res.coverage))
            cols = res.areas[res.areas["type"] == first][["area_id", "coverage_share", "demand_total"]]
            write_geojson(study.areas.merge(cols, on="area_id", how="left").assign(study=name), folder / "areas.geojson")
        write_text(folder / PART_MARK, json.dumps(jsonable({"fingerprint": key, "name": name, "info": info}), ensure_ascii=False))
    return StudyRun(name, res.summary, res.areas, demand_export(res), info)


def _read_study_run(folder: Path, key: str, name: str) -> StudyRun | None:
    try:
        mark = json.loads((folder / PART_MARK).read_text(encoding="utf-8"))
        if mark.get("fingerprint") != key:
            return None
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        demand = pd.read_csv(folder / "demand.csv", encoding="utf-8-sig", dtype={"id": str, "area_id": str})
        areas = (pd.read_csv(folder / "areas.csv", encoding="utf-8-sig", dtype={"area_id": str})
                 if (folder / "areas.csv").exists() else pd.DataFrame())
    except (OSError, ValueError):
        return None
    return StudyRun(name, summary, areas, demand, {**mark.get("info", {}), "reused": True})


def study_names(paths: Sequence[str | Path]) -> list[str]:
    """Folder names for study files: the file stem, made unique (``a``, ``a_2``) when two share one."""
    names, seen = [], {}
    for p in paths:
        stem = _slug(Path(str(p)).name.split(".")[0])
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


def studies_on_dask(client, studies: Sequence[tuple[str, object, object]], *, cache_dir=None,
                    out: str | Path | None = None, types: Sequence[str] | None = None, minutes: float | None = None,
                    speed_kmh: float | None = None, max_snap_m: float | None = None, isochrones: str = "none",
                    progress: Callable | None = None) -> BatchResult:
    """Many studies (e.g. one per district or city), each a Dask task that writes its own folder.

    Parameters
    ----------
    client : distributed.Client
    studies : sequence of (name, StudySpec, base_dir)
        ``name`` is the study's folder under ``out/parts/`` (see :func:`study_names`).
    out : path, optional
        Each study writes ``out/parts/<name>/`` as ``python -m planner coverage`` does, plus
        part.json last; a rerun with the same inputs and options reads those back.
    isochrones : {'none', 'dissolved', 'all'}
        Per-study isochrone polygons (in its folder).
    progress : callable(done, total, label, seconds, error), optional

    Returns
    -------
    BatchResult
        ``runs`` (StudyRun per study that finished), ``table`` (batch.csv: study x type), failures.
    """
    t0 = time.perf_counter()
    options = RunOptions(tuple(types) if types else None, minutes, speed_kmh, max_snap_m)
    if len({n for n, _, _ in studies}) != len(studies):
        raise InputError("Two studies of a batch have the same name; give each its own file name.",
                         "批处理中有两个研究同名；请为每个研究使用不同的文件名。")
    parts_dir = Path(out) / "parts" if out is not None else None
    done, futures = {}, {}
    for name, spec, base_dir in studies:
        key = _fingerprint(_spec_text(spec, base_dir), options.key(), isochrones)
        folder = parts_dir / name if parts_dir is not None else None
        old = _read_study_run(folder, key, name) if folder is not None else None
        if old is not None:
            done[name] = old
            continue
        fut = client.submit(_study_task, name, spec, base_dir, cache_dir, options, isochrones,
                            str(folder) if folder is not None else None, key, key=f"study-{key}-{name}", pure=False)
        futures[fut] = name
    if progress and done:
        progress(len(done), len(studies), {"study": f"{len(done)} reused", "part": ""}, 0.0, None)
    got, failures = _gather(client, futures, len(studies), progress, lambda n: {"study": n, "part": ""})
    done.update(got)
    runs = [done[n] for n, _, _ in studies if n in done]
    table = batch_table((r.name, s) for r in runs for s in r.summary["types"].values())
    summary = {
        "batch": {"studies": len(studies), "done": len(runs), "failed": len(failures)},
        "dask": dask_info(client),
        "failures": failures,
        "studies": [{"name": r.name, "study": r.summary.get("study"), **r.info,
                     "types": {k: {c: s.get(c) for c in ("coverage_share", "demand_total", "demand_covered", "mean_minutes", "p90_minutes")}
                               for k, s in r.summary["types"].items()}} for r in runs],
        "timings_s": {"total": round(time.perf_counter() - t0, 4)},
    }
    return BatchResult(None, runs, failures, table, summary)


def _siting_task(name, spec, base_dir, cache_dir, type_key, kwargs, folder, key):
    from .export import jsonable, write_text
    from .siting import propose_sites, write_siting
    from .study import build_study

    t0 = time.perf_counter()
    study = build_study(spec, base_dir=base_dir, cache_dir=cache_dir)
    res = propose_sites(study, type_key, **kwargs)
    info = {"seconds": round(time.perf_counter() - t0, 4), "worker": _worker_name()}
    row = {"study": name, "type": type_key, "new_sites": int(len(res.sites)), "share_before": float(res.share_before),
           "share_after": float(res.share_after), "method": res.method}
    if folder is not None:
        folder = Path(folder)
        (folder / PART_MARK).unlink(missing_ok=True)
        write_siting(res, folder, study=study, extra_summary={"study": study.label, "batch": {"name": name, **info}})
        write_text(folder / PART_MARK, json.dumps(jsonable({"fingerprint": key, "row": row, "info": info}), ensure_ascii=False))
    return StudyRun(name, {"siting": row}, getattr(res, "areas", pd.DataFrame()), res.sites.assign(study=name), info)


def _read_siting_run(folder: Path, key: str, name: str) -> StudyRun | None:
    try:
        mark = json.loads((folder / PART_MARK).read_text(encoding="utf-8"))
        if mark.get("fingerprint") != key:
            return None
        sites = pd.read_csv(folder / "proposals.csv", encoding="utf-8-sig", dtype={"id": str})
    except (OSError, ValueError):
        return None
    return StudyRun(name, {"siting": mark["row"]}, pd.DataFrame(), sites.assign(study=name), {**mark.get("info", {}), "reused": True})


def siting_on_dask(client, studies: Sequence[tuple[str, object, object]], type_key: str, *, cache_dir=None,
                   out: str | Path | None = None, progress: Callable | None = None, **propose_kwargs) -> BatchResult:
    """Siting in every study as its own task (e.g. "N AEDs per district": one study per district).

    A city-wide optimisation (sites may go wherever they help most, across districts) is one
    problem and is not split: run ``python -m planner propose`` on the whole study for that.

    Parameters
    ----------
    studies : sequence of (name, StudySpec, base_dir)
    type_key : str
    **propose_kwargs :
        Passed to :func:`planner.siting.propose_sites` (``count``, ``target_share``, ``method``, ...).

    Returns
    -------
    BatchResult
        ``table``: one row per study (new sites, share before and after); ``runs[i].demand`` the sites.
    """
    done, futures = {}, {}
    for name, spec, base_dir in studies:
        key = _fingerprint(type_key, _spec_text(spec, base_dir), sorted(propose_kwargs.items()))
        folder = Path(out) / "parts" / name if out is not None else None
        old = _read_siting_run(folder, key, name) if folder is not None else None
        if old is not None:
            done[name] = old
            continue
        fut = client.submit(_siting_task, name, spec, base_dir, cache_dir, type_key, propose_kwargs,
                            str(folder) if folder is not None else None, key, key=f"siting-{key}-{name}", pure=False)
        futures[fut] = name
    got, failures = _gather(client, futures, len(studies), progress, lambda n: {"study": n, "part": ""})
    done.update(got)
    runs = [done[n] for n, _, _ in studies if n in done]
    table = pd.DataFrame([r.summary["siting"] for r in runs])
    return BatchResult(None, runs, failures, table, {"dask": dask_info(client), "failures": failures,
                                                     "studies": [{"name": r.name, **r.info} for r in runs]})


# ============================================================================ writing a batch
BATCH_OUTPUTS = ("summary.json", "batch.csv", "demand.csv", "areas.csv", "facilities.csv", "failures.csv")


def write_batch(br: BatchResult, out_dir: str | Path, *, lang: str = "en", map_html: str | None = None,
                report_html: str | None = None, study_file: str | None = None) -> dict[str, Path]:
    """Write a batch's merged outputs into ``out_dir`` (each part's own folder is already under ``parts/``).

    A split study writes what ``python -m planner coverage`` writes for the whole study (demand.csv,
    areas.csv, facilities.csv, coverage.xlsx, gaps.geojson, summary.json with ``dask`` and per-part
    timings) plus batch.csv; many studies write demand.csv and areas.csv with a ``study`` column,
    batch.csv (one row per study x type) and summary.json. ``failures.csv`` lists failed parts.
    """
    from .export import atomic_path, jsonable, write_outputs, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if br.result is not None:
        written.update(write_outputs(br.result, out, map_html=map_html, lang=lang, study_file=study_file))
    else:
        runs = [r for r in br.runs if isinstance(r, StudyRun)]
        if runs and "siting" not in runs[0].summary:
            demand = pd.concat([r.demand.assign(study=r.name) for r in runs], ignore_index=True)
            with atomic_path(out / "demand.csv") as tmp:
                demand[["study", *[c for c in demand.columns if c != "study"]]].to_csv(tmp, index=False, encoding="utf-8-sig")
            written["demand.csv"] = out / "demand.csv"
            areas = [r.areas.assign(study=r.name) for r in runs if len(r.areas)]
            if areas:
                a = pd.concat(areas, ignore_index=True)
                with atomic_path(out / "areas.csv") as tmp:
                    a[["study", *[c for c in a.columns if c != "study"]]].to_csv(tmp, index=False, encoding="utf-8-sig")
                written["areas.csv"] = out / "areas.csv"
        written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(br.summary), ensure_ascii=False, indent=2))
        if map_html is not None:
            written["map.html"] = write_text(out / "map.html", map_html)
    with atomic_path(out / "batch.csv") as tmp:
        br.table.to_csv(tmp, index=False, encoding="utf-8-sig")
    written["batch.csv"] = out / "batch.csv"
    if report_html is not None:
        written["report.html"] = write_text(out / "report.html", report_html)
    fail = out / "failures.csv"
    if br.failures:
        with atomic_path(fail) as tmp:
            pd.DataFrame(br.failures).to_csv(tmp, index=False, encoding="utf-8-sig")
        written["failures.csv"] = fail
    elif fail.is_file():
        fail.unlink()
    return written
