"""Demand: where people live, as weighted points; from files, from polygons, or a labelled proxy surface."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._errors import InputError
from .network import Network

logger = logging.getLogger(__name__)

__all__ = ["Demand", "MAX_ROW_POPULATION", "MAX_TOTAL_POPULATION", "HARD_MAX_POPULATION", "population_limits",
           "check_population", "demand_from_points", "demand_from_polygons", "proxy_demand", "assign_areas", "clip_to_areas",
           "areas_in_extent"]

#: Shanghai urban residential floor area per resident, m² (2023 statistical yearbook order of magnitude).
FLOOR_AREA_PER_PERSON_M2 = 37.0

#: Most residents one demand row may hold without ``allow_large_population`` (a whole large
#: Shanghai district has about 1e6; one row above 1e7 is almost always a unit or column mistake).
MAX_ROW_POPULATION = 1e7
#: Most residents a whole demand file may add up to without ``allow_large_population`` (China: 1.4e9).
MAX_TOTAL_POPULATION = 1e9
#: Above this no row or total is accepted at all: float sums of such numbers lose whole residents,
#: and 1e308 overflows to infinity.
HARD_MAX_POPULATION = 1e15


def population_limits(allow_large_population: bool = False) -> tuple[float, float]:
    """(per-row, total) population bounds: :data:`MAX_ROW_POPULATION` / :data:`MAX_TOTAL_POPULATION`,
    or :data:`HARD_MAX_POPULATION` for both with ``allow_large_population``."""
    if allow_large_population:
        return HARD_MAX_POPULATION, HARD_MAX_POPULATION
    return MAX_ROW_POPULATION, MAX_TOTAL_POPULATION


def check_population(population, ids=None, *, source: str = "demand") -> np.ndarray:
    """Population as float, refused unless every value is finite, >= 0 and at most
    :data:`HARD_MAX_POPULATION`, and their sum too (the integrity every computation needs; the
    readers apply the stricter plausibility bounds with file and row numbers)."""
    pop = np.asarray(population, dtype=float)
    bad = ~np.isfinite(pop) | (pop < 0) | (pop > HARD_MAX_POPULATION)
    if bad.any():
        where = np.flatnonzero(bad)[:10]
        shown = ", ".join(f"{ids[i] if ids is not None else i}: {pop[i]:.4g}" for i in where)
        raise InputError(
            f"{source}: {int(bad.sum())} population value(s) are missing, negative or above {HARD_MAX_POPULATION:.0e} ({shown}); "
            "give residents as finite numbers >= 0.",
            f"{source}：有 {int(bad.sum())} 个人口值缺失、为负或超过 {HARD_MAX_POPULATION:.0e}（{shown}）；人口须为非负有限数值。",
        )
    if len(pop) and float(np.sum(pop / HARD_MAX_POPULATION)) > 1.0:
        raise InputError(
            f"{source}: the population adds up to more than {HARD_MAX_POPULATION:.0e}; check the column and its units.",
            f"{source}：人口合计超过 {HARD_MAX_POPULATION:.0e}；请检查该列及单位。",
        )
    return pop


@dataclass(frozen=True, eq=False)
class Demand:
    """Weighted demand points.

    Attributes
    ----------
    gdf : GeoDataFrame (EPSG:4326 points) with columns ``id`` (str), ``population`` (float, >= 0),
        ``area_id`` (str or None) and any extra columns of the source; index = row order.
    kind : how it was made: ``points``, ``polygons``, ``proxy:buildings`` or ``proxy:streets``.
    is_proxy : True when no real population was given: numbers are relative weights, and every
        output says so.
    note_en, note_zh : a sentence for reports.
    """

    gdf: object
    kind: str = "points"
    is_proxy: bool = False
    note_en: str = ""
    note_zh: str = ""

    @property
    def population(self) -> np.ndarray:
        return self.gdf["population"].to_numpy(dtype=float)

    def __len__(self) -> int:
        return len(self.gdf)


def demand_from_points(gdf, *, note_en: str = "", note_zh: str = "") -> Demand:
    """Wrap a points GeoDataFrame with ``id`` and ``population`` columns (any CRS; stored in WGS-84)."""
    g = gdf.to_crs(4326) if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf.copy()
    if "id" not in g.columns:
        g["id"] = [f"d{i}" for i in range(len(g))]
    g["id"] = g["id"].astype(str)
    g["population"] = check_population(g["population"], g["id"].to_numpy())
    if "area_id" not in g.columns:
        g["area_id"] = None
    return Demand(g, "points", False, note_en, note_zh)


def _segments(net: Network):
    """Edge segments (x0, y0, x1, y1, length) of every edge geometry, metres."""
    xy = net.geom_xy
    counts = np.diff(net.geom_offsets)
    edge_of = np.repeat(np.arange(net.n_edges), counts)
    same = edge_of[1:] == edge_of[:-1]
    x0, y0 = xy[:-1, 0][same], xy[:-1, 1][same]
    x1, y1 = xy[1:, 0][same], xy[1:, 1][same]
    return x0, y0, x1, y1, np.hypot(x1 - x0, y1 - y0)


def street_samples(net: Network, step_m: float):
    """Points every ``step_m`` along every street (metric ``net.crs``, at the middle of each step) and the
    street length each stands for: where residents of an area go when only its total is known."""
    x0, y0, x1, y1, length = _segments(net)
    n_pts = np.maximum(np.ceil(length / step_m).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(length)), n_pts)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
    t = (k + 0.5) / n_pts[seg]
    px = x0[seg] + t * (x1[seg] - x0[seg])
    py = y0[seg] + t * (y1[seg] - y0[seg])
    return px, py, length[seg] / n_pts[seg]


def _cells(x, y, w, cell_m):
    """Bin weighted points into square cells: (cell keys, weight sum, weighted centroid x, y)."""
    ix = np.floor(x / cell_m).astype(np.int64)
    iy = np.floor(y / cell_m).astype(np.int64)
    key, inv = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    inv = inv.ravel()
    wsum = np.bincount(inv, weights=w, minlength=len(key))
    cx = np.bincount(inv, weights=w * x, minlength=len(key)) / np.where(wsum > 0, wsum, 1)
    cy = np.bincount(inv, weights=w * y, minlength=len(key)) / np.where(wsum > 0, wsum, 1)
    return key, wsum, cx, cy


def proxy_demand(net: Network, *, buildings=None, cell_m: float = 150.0, total: float | None = None) -> Demand:
    """A default demand surface when no population data is given: one point per square cell.

    Weighted by residential floor area (footprint x ``building:levels``) when ``buildings`` has
    residential polygons, otherwise by street length, which tracks built-up density. Each cell's
    point is the weighted centroid of what it holds, so it lies among the streets. The result is
    labelled a proxy everywhere it appears.

    Parameters
    ----------
    net : Network
    buildings : GeoDataFrame, optional
        Polygons with ``residential`` (bool) and ``levels`` (float, NaN if unknown) columns.
    cell_m : float
        Cell side, metres.
    total : float, optional
        Scale the weights to this many residents (e.g. a district's census total).
    """
    import geopandas as gpd
    import shapely

    kind = "proxy:streets"
    if buildings is not None and len(buildings):
        b = buildings.to_crs(net.crs)
        res = b[b["residential"].astype(bool)] if "residential" in b.columns else b
        if len(res):
            levels = res["levels"].astype(float).fillna(3.0).clip(lower=1.0).to_numpy() if "levels" in res.columns else 3.0
            floor = shapely.area(res.geometry.values) * levels
            c = shapely.centroid(res.geometry.values)
            x, y, w = shapely.get_x(c), shapely.get_y(c), floor / FLOOR_AREA_PER_PERSON_M2
            kind = "proxy:buildings"
    if kind == "proxy:streets":
        x0, y0, x1, y1, length = _segments(net)
        x, y, w = (x0 + x1) / 2, (y0 + y1) / 2, length
    key, wsum, cx, cy = _cells(x, y, w, cell_m)
    keep = wsum > 0
    key, wsum, cx, cy = key[keep], wsum[keep], cx[keep], cy[keep]
    if total is not None:
        wsum = wsum * (float(total) / wsum.sum())
    elif kind == "proxy:streets":
        wsum = wsum / wsum.sum() * len(wsum) * 100.0  # relative units: 100 per average cell
    lon, lat = net.to_lonlat(cx, cy)
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"cell_{a}_{b}" for a, b in key],
            "population": wsum,
            "area_id": None,
            "cell_m": cell_m,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    if kind == "proxy:buildings":
        en = f"Demand is a proxy: residential floor area from OSM buildings / {FLOOR_AREA_PER_PERSON_M2:g} m² per person, in {cell_m:g} m cells."
        zh = f"需求为估算值：按 OSM 住宅建筑面积 / 人均 {FLOOR_AREA_PER_PERSON_M2:g} m² 折算，{cell_m:g} 米网格。"
    else:
        en = f"Demand is a proxy weighted by street length in {cell_m:g} m cells (relative units, not residents)."
        zh = f"需求为估算值：按 {cell_m:g} 米网格内道路长度加权（相对值，非人口）。"
    logger.info("proxy demand: %d cells (%s)", len(gdf), kind)
    return Demand(gdf, kind, True, en, zh)


def demand_from_polygons(net: Network, polygons, *, pop_column: str = "population", step_m: float = 50.0) -> Demand:
    """Spread each polygon's population over the street network inside it, by street length.

    Points are placed every ``step_m`` along the streets inside each polygon; a polygon with no
    street inside gets its population on its representative point. Totals are preserved exactly.
    """
    import geopandas as gpd
    import shapely

    polys = polygons.to_crs(net.crs).reset_index(drop=True)
    check_population(polys[pop_column], polys["id"].to_numpy() if "id" in polys.columns else None, source="demand polygons")
    px, py, pw = street_samples(net, step_m)
    pts = shapely.points(px, py)
    tree = shapely.STRtree(pts)
    rows = []
    for i, geom in enumerate(polys.geometry.values):
        pop = float(polys[pop_column].iloc[i])
        hit = tree.query(geom, predicate="intersects")
        pid = polys["id"].iloc[i] if "id" in polys.columns else f"poly{i}"
        if len(hit) == 0 or pw[hit].sum() <= 0:
            rp = shapely.point_on_surface(geom)
            rows.append((f"{pid}", pop, shapely.get_x(rp), shapely.get_y(rp), str(pid)))
            logger.warning("polygon %s holds no street: its population sits on its representative point", pid)
            continue
        w = pw[hit] / pw[hit].sum() * pop
        for j, h in enumerate(hit):
            rows.append((f"{pid}_{j}", float(w[j]), px[h], py[h], str(pid)))
    ids, pop, xs, ys, src = zip(*rows) if rows else ((), (), (), (), ())
    lon, lat = net.to_lonlat(np.array(xs), np.array(ys))
    gdf = gpd.GeoDataFrame(
        {"id": list(ids), "population": np.array(pop, float), "area_id": None, "polygon_id": list(src)},
        geometry=gpd.points_from_xy(lon, lat), crs=4326,
    )
    return Demand(gdf, "polygons", False, "Population of each polygon spread over its streets.", "各多边形人口按其内部道路长度分布。")


def assign_areas(demand: Demand, areas, *, id_column: str = "area_id") -> Demand:
    """Set each demand point's ``area_id`` from the polygon it falls in (nearest polygon if in none)."""
    import geopandas as gpd

    g = demand.gdf.copy()
    a = areas[[id_column, "geometry"]].to_crs(4326)
    joined = gpd.sjoin(g[["geometry"]], a, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    g["area_id"] = joined[id_column].reindex(g.index).astype(object).where(lambda s: s.notna(), None)
    missing = g["area_id"].isna()
    if missing.any():
        metric = a.to_crs(3857)
        near = gpd.sjoin_nearest(g.loc[missing, ["geometry"]].to_crs(3857), metric, how="left")
        near = near[~near.index.duplicated(keep="first")]
        g.loc[missing, "area_id"] = near[id_column].reindex(g.index[missing]).to_numpy()
        logger.info("%d demand points lie outside every area; assigned to the nearest", int(missing.sum()))
    return Demand(g, demand.kind, demand.is_proxy, demand.note_en, demand.note_zh)


def clip_to_areas(demand: Demand, areas, *, tolerance_m: float = 100.0) -> tuple[Demand, dict]:
    """Keep the demand inside the areas (the study area is the union of the boundaries).

    A street extract usually runs past the district edge; residents beyond it are not the
    district's to serve, so they leave the statistics. Facilities and streets are kept whole:
    people near the edge may walk to a facility across it. Points within ``tolerance_m`` of an
    area (boundaries are approximate) are kept. Returns the clipped demand and what was left out
    (``points``, ``population``), which the summary reports.
    """
    import geopandas as gpd
    import shapely

    g = demand.gdf
    if not len(g):
        return demand, {"points": 0, "population": 0.0}
    metric = g.estimate_utm_crs() if g.crs is not None else None
    pts = np.asarray(g.to_crs(metric).geometry.values)
    shape = shapely.union_all(gpd.GeoSeries(areas.geometry.values, crs=areas.crs).to_crs(metric).values)
    # containment on the prepared union first (fast); the distance test only for the points left outside
    shapely.prepare(shape)
    if (shapely.get_type_id(pts) == 0).all():  # points: test their coordinates
        inside = shapely.contains_xy(shape, shapely.get_x(pts), shapely.get_y(pts))
    else:  # polygon demand
        inside = shapely.contains(shape, pts)
    rest = np.flatnonzero(~inside)
    if len(rest):
        inside[rest] = shapely.dwithin(pts[rest], shape, tolerance_m)
    out = {"points": int((~inside).sum()), "population": float(g.loc[~inside, "population"].sum())}
    if out["points"]:
        logger.info("%d demand points (population %.0f) lie outside the areas and are left out", out["points"], out["population"])
    clipped = Demand(g.loc[inside].copy(), demand.kind, demand.is_proxy, demand.note_en, demand.note_zh)
    return clipped, out


def areas_in_extent(areas, study_area_geom, name: str):
    """The areas that intersect the study area, and how many were left out (a city-wide file cut to the district).

    Raises ``InputError`` when none intersects (e.g. real boundaries over the synthetic demo district).
    """
    g = areas.to_crs(4326) if areas.crs is not None else areas
    touching = g.intersects(study_area_geom).to_numpy(bool)
    if not touching.any():
        raise InputError(
            f"{name}: none of its {len(areas)} areas overlaps the study area (the street network's extent); "
            "check the file and its coordinate system. The demo district is synthetic, so real boundaries "
            "usually do not overlap it: load your own network first.",
            f"{name}：其中 {len(areas)} 个区域均不与研究范围（路网范围）重叠；请检查文件及其坐标系。"
            "示范区为合成数据，真实边界通常与之不重叠：请先载入自己的路网。",
        )
    left_out = int((~touching).sum())
    if left_out:
        areas = areas[touching].reset_index(drop=True)
    return areas, left_out
