"""Access: supply within walking reach per resident, by the two-step floating catchment area family (2SFCA, E2SFCA).

Coverage answers "is there a facility within the goal?"; access answers "how much care is within
reach, per resident?" (family doctors, nursing beds, rehabilitation places). For demand point
``i`` with residents ``P_i`` and facility ``j`` with supply ``S_j`` (doctors, beds, ...), with
network walking times ``t_ij`` in minutes and a catchment of ``M`` minutes (inclusive):

    R_j = S_j / sum_k W(t_kj) P_k            over demand k with t_kj <= M   (step 1: supply per resident)
    A_i = 1000 * sum_j W(t_ij) R_j           over facilities j with t_ij <= M (step 2: supply per 1,000)

``W`` is the distance decay: ``none`` (W = 1: the classic 2SFCA of Luo & Wang 2003), ``step``
(1.0 / 0.68 / 0.22 on the three thirds of the catchment: E2SFCA of Luo & Qi 2009) or
``gaussian`` (``exp(-t^2 / (2 sigma^2))``, the form of PySAL access' ``weights.gaussian``).
A point that reaches no facility has access 0.

The pipeline is array-first: :func:`catchment_pairs` gives sparse (facility, demand, metres)
triplets within the catchment from bounded Dijkstra (:func:`planner.travel.reach` and
:func:`planner.travel.reach_points`), :func:`fca` turns them into access values with two
``bincount`` passes, and :func:`access` is the study-level adapter the CLI and the app call.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import InputError, Problem
from .config import metres_per_minute
from .network import Network, Snap, snap_points
from .travel import nearest, reach, reach_points

logger = logging.getLogger(__name__)

__all__ = [
    "DECAYS",
    "STEP_WEIGHTS",
    "decay_weights",
    "Fca",
    "fca",
    "catchment_pairs",
    "weighted_gini",
    "AccessResult",
    "access",
    "supply_values",
    "write_access",
    "AccessDelta",
    "AccessWhatIf",
]

#: Distance-decay choices: ``none`` = 2SFCA, ``step`` = E2SFCA (the default), ``gaussian``.
DECAYS = ("none", "step", "gaussian")
#: E2SFCA step weights on (0, M/3], (M/3, 2M/3], (2M/3, M] (Luo & Qi 2009).
STEP_WEIGHTS = (1.0, 0.68, 0.22)
#: Residents per unit of the access value: access is supply per 1,000 residents.
PER_RESIDENTS = 1000.0
#: A time equal to a boundary (the catchment, a step edge) counts as inside it, up to float noise;
#: the same tolerance as coverage's "minutes <= target".
_TOL_MIN = 1e-9


def _check_decay(decay: str, minutes: float, gaussian_sigma: float | None) -> float | None:
    if decay not in DECAYS:
        raise InputError(f"Unknown decay '{decay}'; use one of {', '.join(DECAYS)}.",
                         f"未知的距离衰减「{decay}」；可选：{'、'.join(DECAYS)}。")
    if not (np.isfinite(minutes) and minutes > 0):
        raise InputError(f"The catchment must be a positive number of minutes, not {minutes}.",
                         f"服务范围须为正的分钟数，而非 {minutes}。")
    if decay != "gaussian":
        if gaussian_sigma is not None:
            raise InputError("gaussian_sigma only applies to decay='gaussian'.", "gaussian_sigma 仅适用于 decay='gaussian'。")
        return None
    sigma = minutes / 2.0 if gaussian_sigma is None else float(gaussian_sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise InputError(f"The Gaussian width must be a positive number of minutes, not {gaussian_sigma}.",
                         f"高斯衰减宽度须为正的分钟数，而非 {gaussian_sigma}。")
    return sigma


def decay_weights(t_min, *, minutes: float, decay: str = "step", gaussian_sigma: float | None = None) -> np.ndarray:
    """Weight ``W(t)`` of each travel time (minutes); 0 beyond the catchment ``minutes``.

    Parameters
    ----------
    t_min : array of float
        Travel times in minutes (``inf`` allowed: weight 0).
    minutes : float
        Catchment ``M`` in minutes; ``t <= M`` is inside (inclusive).
    decay : {'none', 'step', 'gaussian'}
        ``none``: 1 inside. ``step``: 1.0 for t <= M/3, 0.68 for M/3 < t <= 2M/3, 0.22 for
        2M/3 < t <= M. ``gaussian``: ``exp(-t^2 / (2 sigma^2))``.
    gaussian_sigma : float, optional
        Width of the Gaussian in minutes (default ``M / 2``, so ``W(M) = e^-2 ≈ 0.135``).

    Returns
    -------
    numpy.ndarray of float, same shape as ``t_min``.
    """
    sigma = _check_decay(decay, float(minutes), gaussian_sigma)
    t = np.asarray(t_min, dtype=float)
    inside = t <= minutes + _TOL_MIN
    if decay == "none":
        w = np.ones_like(t)
    elif decay == "step":
        third = minutes / 3.0
        w = np.where(t <= third + _TOL_MIN, STEP_WEIGHTS[0],
                     np.where(t <= 2.0 * third + _TOL_MIN, STEP_WEIGHTS[1], STEP_WEIGHTS[2]))
    else:
        w = np.exp(-(t * t) / (2.0 * sigma * sigma))
    return np.where(inside, w, 0.0)


@dataclass(frozen=True, eq=False)
class Fca:
    """The two steps of a floating-catchment computation, in arrays.

    Attributes
    ----------
    access : float[p]
        Supply per 1,000 residents within reach of each demand point (0: no facility in reach).
    ratio : float[f]
        ``R_j``: supply per resident of each facility's catchment (0 where its catchment holds no
        resident; see ``idle``).
    catchment_demand : float[f]
        ``sum_k W(t_kj) P_k``: distance-weighted residents in each facility's catchment.
    reach_count : int[p]
        Facilities within the catchment of each demand point.
    idle : bool[f]
        Facilities with supply but no resident in their catchment: their supply reaches nobody.
    """

    access: np.ndarray
    ratio: np.ndarray
    catchment_demand: np.ndarray
    reach_count: np.ndarray
    idle: np.ndarray


def fca(fac, dem, t_min, supply, population, *, minutes: float, decay: str = "step",
        gaussian_sigma: float | None = None) -> Fca:
    """Two-step floating catchment area access from sparse facility-demand travel times.

    Parameters
    ----------
    fac, dem : int arrays, one entry per (facility, demand point) pair
        Indices into ``supply`` and ``population``. Each pair must appear once; pairs beyond the
        catchment are ignored, so a larger cut-off is allowed.
    t_min : float array
        Network travel time of each pair, minutes.
    supply : float[f]
        Supply units per facility (doctors, beds, ...), >= 0.
    population : float[p]
        Residents per demand point, >= 0.
    minutes, decay, gaussian_sigma
        Catchment and distance decay, see :func:`decay_weights`.

    Returns
    -------
    Fca
    """
    supply = np.asarray(supply, dtype=float)
    pop = np.asarray(population, dtype=float)
    fac = np.asarray(fac, dtype=np.int64)
    dem = np.asarray(dem, dtype=np.int64)
    w = decay_weights(t_min, minutes=minutes, decay=decay, gaussian_sigma=gaussian_sigma)
    keep = w > 0
    fac, dem, w = fac[keep], dem[keep], w[keep]
    n_f, n_p = len(supply), len(pop)
    catch = np.bincount(fac, weights=w * pop[dem], minlength=n_f)
    has = catch > 0
    ratio = np.zeros(n_f)
    ratio[has] = supply[has] / catch[has]
    acc = PER_RESIDENTS * np.bincount(dem, weights=w * ratio[fac], minlength=n_p)
    count = np.bincount(dem, minlength=n_p)
    return Fca(acc, ratio, catch, count, ~has & (supply > 0))


def catchment_pairs(net: Network, fac_snap: Snap, dem_snap: Snap, *, limit_m: float,
                    **reach_options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (facility, demand point) pair within ``limit_m`` network metres: ``(fac, dem, dist_m)``.

    Bounded Dijkstra from each facility (:func:`planner.travel.reach`, batched on local subgraphs)
    joined to the demand points on the reached edges (:func:`planner.travel.reach_points`), so
    distances are exact point to point (off-network legs and along-edge positions included).
    Facilities or demand flagged ``too_far`` from the street network appear in no pair.
    """
    if len(fac_snap) == 0 or len(dem_snap) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    r = reach(net, fac_snap, limit_m=float(limit_m), **reach_options)
    return reach_points(net, r, fac_snap, dem_snap)


def weighted_gini(values, weights) -> float:
    """Population-weighted Gini coefficient of ``values`` (0: equal, towards 1: concentrated).

    ``G = sum_i sum_k w_i w_k |x_i - x_k| / (2 W^2 mean)``, computed in O(n log n) from the
    sorted values. NaN when the total weight or the weighted mean is zero (undefined).
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    ok = w > 0
    x, w = x[ok], w[ok]
    total = w.sum()
    if total <= 0:
        return float("nan")
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    cw = np.cumsum(w)
    wx = w * x
    s = wx.sum()
    if s <= 0:
        return float("nan")
    # sum over pairs of w_i w_k |x_i - x_k| = 2 sum_i w_i x_i (C_{i-1} - (W - C_i))
    return float((wx * (2.0 * cw - w - total)).sum() / (total * s))


def _share_below(acc: np.ndarray, pop: np.ndarray, below: float | None) -> float:
    tot = pop.sum()
    if below is None or tot <= 0:
        return float("nan")
    return float(pop[acc < below].sum() / tot)


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(x) & (w > 0)
    return float(np.average(x[ok], weights=w[ok])) if w[ok].sum() > 0 else float("nan")


def supply_values(facilities, supply_column: str | None) -> np.ndarray:
    """The supply of each facility row from ``supply_column`` (every row 1 when it is None).

    Raises :class:`InputError` naming the file, row and column of every missing, non-numeric or
    negative value, and listing the available columns when ``supply_column`` is absent.
    """
    n = len(facilities)
    if supply_column is None:
        return np.ones(n)
    if supply_column not in facilities.columns:
        skip = {"geometry", "lon", "lat", "source_file", "source_row", "coords", "type", "id", "name"}
        cols = [str(c) for c in facilities.columns if c not in skip]
        listed = ", ".join(cols) if cols else "(none)"
        raise InputError(
            f"The facilities have no column '{supply_column}' to use as supply. Columns besides id/name/type/lon/lat: "
            f"{listed}. Add the column to the facilities file (e.g. doctors or beds per facility) or name another one.",
            f"设施表中没有可作为供给量的列「{supply_column}」。除编号/名称/类型/经纬度外的列：{listed}。"
            f"请在设施文件中加入该列（如每个设施的医生数或床位数），或指定其他列。",
        )
    raw = facilities[supply_column]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num) | (num < 0)
    if bad.any():
        files = facilities["source_file"].to_numpy() if "source_file" in facilities.columns else np.full(n, None)
        rows = facilities["source_row"].to_numpy() if "source_row" in facilities.columns else np.arange(n) + 2
        ids = facilities["id"].astype(str).to_numpy() if "id" in facilities.columns else np.arange(n).astype(str)
        problems = []
        for i in np.flatnonzero(bad):
            v = raw.iloc[i]
            shown = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            if not shown:
                en, zh = "the supply is missing; enter a number (0 if the facility has none).", "缺少供给量；请填写数字（没有则填 0）。"
            elif np.isfinite(num[i]) and num[i] < 0:
                en, zh = f"supply {shown} is negative; enter a number >= 0.", f"供给量 {shown} 为负数；请填写不小于 0 的数。"
            else:
                en, zh = f"supply '{shown}' is not a number; enter digits only (no units).", f"供给量「{shown}」不是数字；请只填写数字（不带单位）。"
            problems.append(Problem("bad_supply", f"facility {ids[i]}: {en}", f"设施 {ids[i]}：{zh}",
                                    file=None if files[i] is None else str(files[i]), row=int(rows[i]), column=supply_column))
        raise InputError(
            f"{int(bad.sum())} facilities have no usable supply in column '{supply_column}'.",
            f"{int(bad.sum())} 个设施在列「{supply_column}」中没有可用的供给量。",
            problems=problems,
        )
    return num


@dataclass(frozen=True, eq=False)
class AccessResult:
    """Access (supply per 1,000 residents within reach) for one facility type.

    Attributes
    ----------
    type_key : the facility type.
    minutes : catchment in minutes; ``speed_kmh`` the walking speed used.
    decay, gaussian_sigma : the distance decay (``gaussian_sigma`` in minutes, None unless Gaussian).
    supply_column : the facilities column read as supply (None: every facility counts 1).
    below : the planner's threshold (supply per 1,000 residents), or None.
    demand : DataFrame aligned to the study's demand rows: ``id, lon, lat, population, area_id,
        access_per_1000, nearest_minutes, nearest_facility_id, facilities_in_reach, snap_dist_m,
        snapped_too_far``.
    areas : DataFrame, one row per area: ``area_id, name, demand_total, access_mean_per_1000,
        access_gini, share_below, share_no_access, nearest_minutes_mean, facilities, supply``
        (empty without areas).
    facilities : DataFrame, one row per facility of the type: ``id, name, supply, catchment_demand,
        ratio_per_1000, demand_points_in_reach, idle, snapped_too_far, area_id``.
    summary : JSON-ready dict.
    pairs : (fac, dem, minutes) arrays of the pairs within the catchment (indices into
        ``facilities`` / ``demand``), for reuse (maps, what-if).
    timings : seconds per stage.
    snaps : (facilities, demand) :class:`~planner.network.Snap` of the run (the demand's is the study's
        shared snap, see :func:`planner.scenario.demand_snap`), for :meth:`AccessWhatIf.from_result`.
    ratio : float[f]  ``R_j`` of each facility (supply per resident of its catchment, unrounded), for the same.
    """

    type_key: str
    minutes: float
    speed_kmh: float
    decay: str
    gaussian_sigma: float | None
    supply_column: str | None
    below: float | None
    demand: pd.DataFrame
    areas: pd.DataFrame
    facilities: pd.DataFrame
    summary: dict
    pairs: tuple = field(repr=False)
    timings: dict = field(default_factory=dict)
    snaps: tuple | None = field(default=None, repr=False)
    ratio: np.ndarray | None = field(default=None, repr=False)


def access(
    study,
    type_key: str,
    *,
    supply_column: str | None = None,
    minutes: float | None = None,
    decay: str = "step",
    speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    gaussian_sigma: float | None = None,
    below: float | None = None,
) -> AccessResult:
    """Supply per 1,000 residents within walking reach (2SFCA / E2SFCA) for one facility type of a study.

    Parameters
    ----------
    study : planner.scenario.Study
    type_key : str
        Facility type key or label; its goal minutes are the default catchment.
    supply_column : str, optional
        Column of the facilities table holding each facility's supply (doctors, beds, places).
        None: every facility counts as 1 (access is then facilities per 1,000 residents).
    minutes : float, optional
        Catchment in minutes (default: the type's goal). ``t <= minutes`` is inside.
    decay : {'step', 'none', 'gaussian'}
        ``step`` (default): E2SFCA weights 1.0 / 0.68 / 0.22 on the catchment's thirds;
        ``none``: 2SFCA; ``gaussian``: ``exp(-t^2 / (2 sigma^2))``.
    speed_kmh : float, optional
        Walking speed (default: the study's goals, else the type's).
    max_snap_m : float, optional
        Default: the study's goals (300 m). Demand or facilities farther than this from any street are flagged ``snapped_too_far``:
        such demand has access 0 and no nearest facility, such facilities serve no one.
    gaussian_sigma : float, optional
        Gaussian width in minutes (default ``minutes / 2``).
    below : float, optional
        Threshold (supply per 1,000 residents): per-area and overall share of residents below it.

    Returns
    -------
    AccessResult

    Examples
    --------
    >>> res = access(study, "health_centre", supply_column="doctors", minutes=15)  # doctest: +SKIP
    >>> res.demand[["id", "access_per_1000", "nearest_minutes"]].head()  # doctest: +SKIP
    """
    import geopandas as gpd

    from .demand import assign_areas
    from .scenario import demand_snap, goal_for

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    goals = getattr(study, "goals", None)  # a study file's [goals] are the defaults, as for coverage
    if goals is not None:
        minutes = minutes if minutes is not None else goals.minutes
        speed_kmh = speed_kmh if speed_kmh is not None else goals.speed(study.types)
        max_snap_m = max_snap_m if max_snap_m is not None else goals.max_snap_m
    max_snap_m = 300.0 if max_snap_m is None else max_snap_m
    ftype = goal_for(study.types, type_key, minutes=minutes, speed_kmh=speed_kmh)
    m = ftype.target_minutes
    sigma = _check_decay(decay, m, gaussian_sigma)
    if below is not None and not (np.isfinite(below) and below >= 0):
        raise InputError(f"The access threshold must be a number >= 0 (supply per 1,000 residents), not {below}.",
                         f"可达性阈值须为不小于 0 的数（每千人供给量），而非 {below}。")
    net = study.network_for(ftype)
    fac_all = study.facilities
    sel = np.flatnonzero(fac_all["type"].to_numpy() == ftype.key) if len(fac_all) else np.zeros(0, np.int64)
    if len(sel) == 0:
        raise InputError(f"There are no facilities of type '{ftype.key}' to measure access to.",
                         f"没有类型为「{ftype.key}」的设施，无法计算可达性。")
    fac = fac_all.iloc[sel]
    supply = supply_values(fac, supply_column)
    demand = study.demand
    if not len(demand) or not float(demand.population.sum()) > 0:
        raise InputError("There is no demand to measure access for: the demand is empty or its population is zero everywhere.",
                         "没有可评估的需求：需求点为空，或人口全部为零。")
    if study.areas is not None and len(study.areas) and demand.gdf["area_id"].isna().any():
        demand = assign_areas(demand, study.areas)
    g = demand.gdf
    pop = g["population"].to_numpy(dtype=float)
    dlon, dlat = g.geometry.x.to_numpy(float), g.geometry.y.to_numpy(float)
    flon, flat = fac["lon"].to_numpy(float), fac["lat"].to_numpy(float)

    t = time.perf_counter()
    dem_snap = demand_snap(study, net, max_snap_m)  # the coverage run's snap of the same residents, when it ran
    fac_snap = snap_points(net, *net.to_metric(flon, flat), max_snap_m=max_snap_m)
    timings["snap"] = time.perf_counter() - t

    mpm = ftype.metres_per_minute
    t = time.perf_counter()
    pf, pd_, dist = catchment_pairs(net, fac_snap, dem_snap, limit_m=(m + _TOL_MIN) * mpm)
    t_min = dist / mpm
    timings["catchment_times"] = time.perf_counter() - t
    t = time.perf_counter()
    res = fca(pf, pd_, t_min, supply, pop, minutes=m, decay=decay, gaussian_sigma=sigma)
    timings["fca"] = time.perf_counter() - t
    t = time.perf_counter()
    nd, nw, _ = nearest(net, fac_snap, dem_snap)
    timings["nearest"] = time.perf_counter() - t

    fids = fac["id"].astype(str).to_numpy(dtype=object)
    near_id = np.full(len(g), "", dtype=object)
    near_id[nw >= 0] = fids[nw[nw >= 0]]
    dt = pd.DataFrame({
        "id": g["id"].astype(str).to_numpy(),
        "lon": dlon,
        "lat": dlat,
        "population": pop,
        "area_id": g["area_id"].to_numpy(dtype=object),
        "access_per_1000": res.access,
        "nearest_minutes": nd / mpm,
        "nearest_facility_id": near_id,
        "facilities_in_reach": res.reach_count,
        "snap_dist_m": dem_snap.dist_m,
        "snapped_too_far": dem_snap.too_far,
    }, index=g.index)

    fac_area = np.full(len(fac), None, dtype=object)
    areas = study.areas if study.areas is not None and len(study.areas) else None
    if areas is not None:
        a = areas[["area_id", "geometry"]].to_crs(4326)
        j = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(flon, flat), crs=4326), a, how="left", predicate="within")
        j = j[~j.index.duplicated(keep="first")]
        fac_area = j["area_id"].astype(object).where(j["area_id"].notna(), None).to_numpy()
    ft = pd.DataFrame({
        "id": fids,
        "name": fac["name"].astype(str).to_numpy() if "name" in fac.columns else "",
        "supply": supply,
        "catchment_demand": res.catchment_demand,
        "ratio_per_1000": PER_RESIDENTS * res.ratio,
        "demand_points_in_reach": np.bincount(pf, minlength=len(fac)),
        "idle": res.idle,
        "snapped_too_far": fac_snap.too_far,
        "area_id": fac_area,
    }, index=fac.index)

    t = time.perf_counter()
    rows = []
    if areas is not None:
        da = dt["area_id"].to_numpy(dtype=object)
        near_min = dt["nearest_minutes"].to_numpy()
        for aid, name in zip(areas["area_id"], areas["name"]):
            mk = da == aid
            p, x = pop[mk], res.access[mk]
            tot = float(p.sum())
            fa = fac_area == aid
            rows.append({
                "area_id": aid,
                "name": name,
                "demand_total": tot,
                "access_mean_per_1000": _wmean(x, p),
                "access_gini": weighted_gini(x, p),
                "share_below": _share_below(x, p, below),
                "share_no_access": float(p[x <= 0].sum() / tot) if tot > 0 else float("nan"),
                "nearest_minutes_mean": _wmean(near_min[mk], p),
                "facilities": int(fa.sum()),
                "supply": float(supply[fa].sum()),
            })
    areas_df = pd.DataFrame(rows)
    timings["statistics"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    total = float(pop.sum())
    summary = {
        "study": study.label,
        "measure": "2SFCA" if decay == "none" else ("E2SFCA" if decay == "step" else "Gaussian 2SFCA"),
        "parameters": {
            "type": ftype.key,
            "supply_column": supply_column,
            "catchment_minutes": m,
            "speed_kmh": ftype.speed_kmh,
            "decay": decay,
            "step_weights": list(STEP_WEIGHTS) if decay == "step" else None,
            "gaussian_sigma_minutes": sigma,
            "below_per_1000": below,
            "max_snap_m": max_snap_m,
        },
        "units_en": "supply units per 1,000 residents within the catchment",
        "units_zh": "服务范围内每千名居民拥有的供给量",
        "demand": {
            "points": int(len(g)),
            "total": total,
            "is_proxy": bool(demand.is_proxy),
            "snapped_too_far": int(dem_snap.too_far.sum()),
        },
        "facilities": {
            "count": int(len(fac)),
            "supply_total": float(supply.sum()),
            "snapped_too_far": int(fac_snap.too_far.sum()),
            "idle": int(res.idle.sum()),
            "idle_ids": fids[res.idle].tolist(),
        },
        "access": {
            "mean_per_1000": _wmean(res.access, pop),
            "gini": weighted_gini(res.access, pop),
            "share_below": _share_below(res.access, pop, below),
            "share_no_access": float(pop[res.access <= 0].sum() / total),
            "max_per_1000": float(res.access.max()) if len(res.access) else float("nan"),
        },
        "pairs_in_catchment": int(len(pf)),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    if res.idle.any():
        logger.info("%d facilities have no resident within %g minutes", int(res.idle.sum()), m)
    return AccessResult(ftype.key, m, ftype.speed_kmh, decay, sigma, supply_column, below, dt, areas_df, ft, summary,
                        (pf, pd_, t_min), timings, (fac_snap, dem_snap), res.ratio)


def write_access(result: AccessResult, out_dir: str | Path, *, map_html: str | None = None,
                 extra_summary: dict | None = None) -> dict[str, Path]:
    """Write ``access.csv``, ``areas.csv`` (with areas), ``facilities.csv``, ``summary.json`` (and ``map.html``), atomically.

    access.csv columns: ``id, lon, lat, population, area_id, access_per_1000, nearest_minutes,
    nearest_facility_id, facilities_in_reach, snapped_too_far`` (WGS-84 degrees).
    """
    import json

    from .export import jsonable, remove_stale, write_csv, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    cols = ["id", "lon", "lat", "population", "area_id", "access_per_1000", "nearest_minutes", "nearest_facility_id",
            "facilities_in_reach", "snapped_too_far"]
    write_csv(result.demand[cols], out / "access.csv")
    written["access.csv"] = out / "access.csv"
    if len(result.areas):
        write_csv(result.areas, out / "areas.csv")
        written["areas.csv"] = out / "areas.csv"
    write_csv(result.facilities, out / "facilities.csv")
    written["facilities.csv"] = out / "facilities.csv"
    summary = dict(result.summary)
    if extra_summary:
        summary.update(extra_summary)
    written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
    if map_html is not None:
        written["map.html"] = write_text(out / "map.html", map_html)
    remove_stale(out, ("access.csv", "areas.csv", "facilities.csv", "summary.json", "map.html", "rejected_rows.csv", "study.toml"),
                 written)
    return written


@dataclass(frozen=True)
class AccessDelta:
    """The effect of one what-if edit on access.

    Attributes
    ----------
    site_id : the site added, removed or changed.
    changed_index : int[k]  row positions (into the demand) whose access changed.
    changed_ids : ids of those demand points.
    access_before, access_after : float[k]  their access per 1,000 residents.
    mean_before, mean_after : population-weighted mean access over all residents.
    seconds : wall time of the update.
    """

    site_id: str
    changed_index: np.ndarray
    changed_ids: np.ndarray
    access_before: np.ndarray
    access_after: np.ndarray
    mean_before: float
    mean_after: float
    seconds: float


class AccessWhatIf:
    """Incremental access for click-to-edit: add or remove a site, or change its supply.

    In the 2SFCA family a facility's ratio ``R_j = S_j / sum_k W(t_kj) P_k`` depends only on the
    residents of its own catchment, not on other facilities. Adding site ``j`` therefore adds
    ``1000 W(t_ij) R_j`` to the residents in its catchment and changes nobody else; removing it
    subtracts the same. An edit runs one bounded Dijkstra from the edited site over the demand
    within the catchment's straight-line reach (a KD-tree pre-filter), never a full recomputation.
    Values stay equal to a full :func:`fca` on the current sites (tested).

    Built from snaps (the constructor: catchment search and :func:`fca` of the sites), or from an
    :func:`access` result with :meth:`from_result` (nothing computed again; the same values).

    Parameters
    ----------
    net : Network
    fac_snap : Snap  the facilities open at the start.
    supply : float[f]  their supply.
    dem_snap : Snap  demand points.
    population : float[p]
    minutes, decay, gaussian_sigma : catchment and decay, see :func:`decay_weights`.
    speed_kmh : float
    facility_ids, demand_ids : optional ids (default ``f0..`` / row numbers).
    max_snap_m : float  a site farther than this from any street is refused.
    """

    def __init__(self, net: Network, fac_snap: Snap, supply, dem_snap: Snap, population, *, minutes: float,
                 speed_kmh: float, decay: str = "step", gaussian_sigma: float | None = None, facility_ids=None,
                 demand_ids=None, max_snap_m: float = 300.0):
        self._setup(net, dem_snap, population, minutes=minutes, speed_kmh=speed_kmh, decay=decay,
                    gaussian_sigma=gaussian_sigma, demand_ids=demand_ids, max_snap_m=max_snap_m)
        supply = np.asarray(supply, dtype=float)
        f, p, d = catchment_pairs(net, fac_snap, dem_snap, limit_m=self.limit_m)
        t_min = d / self._mpm
        res = fca(f, p, t_min, supply, self.pop, minutes=self.minutes, decay=decay, gaussian_sigma=self.sigma)
        self._open(f, p, t_min, supply, res.ratio, res.access, facility_ids)

    @classmethod
    def from_result(cls, result: AccessResult, net: Network, *, facility_ids=None, demand_ids=None,
                    max_snap_m: float | None = None) -> AccessWhatIf:
        """The what-if of the existing facilities of an :func:`access` result, without computing access again.

        Reuses the result's snaps, catchment pairs, ratios and access values: the same what-if as the
        constructor on the same facilities, supply, demand and options (values equal bit for bit; tested),
        at the cost of sorting the pairs instead of a second catchment search and snap.

        Parameters
        ----------
        result : AccessResult  from :func:`access`.
        net : Network  the network the result was computed on (``study.network_for`` of its type).
        facility_ids, demand_ids : ids (default: the result's facility and demand ids).
        max_snap_m : a site farther than this from any street is refused (default: the result's).
        """
        if result.snaps is None or result.ratio is None:
            raise ValueError("This AccessResult keeps no snaps or ratios; build the what-if with AccessWhatIf(...).")
        fac_snap, dem_snap = result.snaps
        if len(dem_snap) != len(result.demand) or len(fac_snap) != len(result.facilities):
            raise ValueError("The result's snaps do not match its demand and facilities.")
        if len(dem_snap) and int(dem_snap.edge.max()) >= len(net.edge_geoms):
            raise ValueError("The network is not the one the result was computed on.")
        if max_snap_m is None:
            max_snap_m = result.summary["parameters"].get("max_snap_m") or 300.0
        self = cls.__new__(cls)
        self._setup(net, dem_snap, result.demand["population"].to_numpy(float), minutes=result.minutes,
                    speed_kmh=result.speed_kmh, decay=result.decay, gaussian_sigma=result.gaussian_sigma,
                    demand_ids=result.demand["id"].to_numpy() if demand_ids is None else demand_ids,
                    max_snap_m=max_snap_m)
        f, p, t_min = result.pairs
        ids = result.facilities["id"].astype(str).tolist() if facility_ids is None else facility_ids
        # a copy: the what-if edits its access in place, the result stays as computed
        self._open(f, p, t_min, result.facilities["supply"].to_numpy(float), result.ratio,
                   np.array(result.demand["access_per_1000"].to_numpy(float), dtype=float), ids)
        return self

    def _setup(self, net, dem_snap, population, *, minutes, speed_kmh, decay, gaussian_sigma, demand_ids, max_snap_m):
        """Options, demand and the KD-tree of the demand's street positions (the pre-filter of :meth:`add`)."""
        import shapely
        from scipy.spatial import cKDTree

        self.net = net
        self.minutes = float(minutes)
        self.decay = decay
        self.sigma = _check_decay(decay, self.minutes, gaussian_sigma)
        self._mpm = metres_per_minute(speed_kmh)
        self.limit_m = (self.minutes + _TOL_MIN) * self._mpm
        self.max_snap_m = float(max_snap_m)
        self.dem_snap = dem_snap
        self.pop = np.array(population, dtype=float)
        self._total = float(self.pop.sum())
        self.demand_ids = np.asarray(demand_ids if demand_ids is not None else np.arange(len(dem_snap)), dtype=object)
        pos = shapely.line_interpolate_point(net.edge_geoms[dem_snap.edge], dem_snap.along_m)
        self._dxy = np.column_stack([shapely.get_x(pos), shapely.get_y(pos)])
        self._tree = cKDTree(self._dxy)

    def _open(self, f, p, t_min, supply, ratio, access, facility_ids):
        """The existing sites from their catchment pairs (``t_min`` minutes), ratios and the access they give."""
        n_f = len(supply)
        ids = [str(i) for i in (facility_ids if facility_ids is not None else [f"f{i}" for i in range(n_f)])]
        self.access = np.array(access, dtype=float)
        # per site: its catchment (demand rows and weights) and its ratio
        order = np.argsort(f, kind="stable")
        f, p, t_min = f[order], p[order], t_min[order]
        w = decay_weights(t_min, minutes=self.minutes, decay=self.decay, gaussian_sigma=self.sigma)
        cuts = np.searchsorted(f, np.arange(n_f + 1))
        self._sites: dict[str, dict] = {}
        for j, sid in enumerate(ids):
            lo, hi = cuts[j], cuts[j + 1]
            self._sites[sid] = {"rows": p[lo:hi], "w": w[lo:hi], "ratio": float(ratio[j]), "supply": float(supply[j])}

    @property
    def mean(self) -> float:
        """Population-weighted mean access per 1,000 residents."""
        return float(self.pop @ self.access / self._total) if self._total > 0 else float("nan")

    @property
    def site_ids(self) -> list[str]:
        return list(self._sites)

    def _delta(self, sid, rows, before, mean_before, t0) -> AccessDelta:
        after = self.access[rows]
        ch = after != before
        return AccessDelta(str(sid), rows[ch], self.demand_ids[rows[ch]], before[ch], after[ch], mean_before, self.mean,
                           time.perf_counter() - t0)

    def add(self, lon: float, lat: float, supply: float, *, site_id: str | None = None) -> AccessDelta:
        """Open a site with ``supply`` units at WGS-84 (lon, lat); returns the change."""
        import shapely

        t0 = time.perf_counter()
        sid = str(site_id) if site_id is not None else f"new{len(self._sites)}"
        if sid in self._sites:
            raise InputError(f"A site with id '{sid}' already exists.", f"编号为「{sid}」的站点已存在。")
        if not (np.isfinite(supply) and supply >= 0):
            raise InputError(f"The supply of a new site must be a number >= 0, not {supply}.", f"新站点的供给量须为不小于 0 的数，而非 {supply}。")
        x, y = self.net.to_metric([lon], [lat])
        s = snap_points(self.net, x, y, max_snap_m=self.max_snap_m)
        if s.too_far[0]:
            raise InputError(f"The new site is {s.dist_m[0]:.0f} m from the nearest street (limit {self.max_snap_m:g} m); put it on the network.",
                             f"新站点距最近道路 {s.dist_m[0]:.0f} 米（上限 {self.max_snap_m:g} 米）；请放在路网上。")
        at = shapely.line_interpolate_point(self.net.edge_geoms[s.edge[0]], s.along_m[0])
        near = np.asarray(self._tree.query_ball_point([at.x, at.y], r=self.limit_m), dtype=np.int64)
        near = near[~self.dem_snap.too_far[near]] if len(near) else near
        _, p, d = catchment_pairs(self.net, s, self.dem_snap.subset(near), limit_m=self.limit_m)
        rows = near[p]
        w = decay_weights(d / self._mpm, minutes=self.minutes, decay=self.decay, gaussian_sigma=self.sigma)
        catch = float(w @ self.pop[rows])
        ratio = float(supply) / catch if catch > 0 else 0.0
        mean_before = self.mean
        before = self.access[rows].copy()
        self.access[rows] += PER_RESIDENTS * w * ratio
        self._sites[sid] = {"rows": rows, "w": w, "ratio": ratio, "supply": float(supply)}
        return self._delta(sid, rows, before, mean_before, t0)

    def remove(self, site_id) -> AccessDelta:
        """Close an open site (existing or added) by id; returns the change."""
        t0 = time.perf_counter()
        site = self._sites.get(str(site_id))
        if site is None:
            raise InputError(f"No open site with id '{site_id}'.", f"没有编号为「{site_id}」的开放站点。")
        mean_before = self.mean
        rows = site["rows"]
        before = self.access[rows].copy()
        self.access[rows] = np.maximum(self.access[rows] - PER_RESIDENTS * site["w"] * site["ratio"], 0.0)
        del self._sites[str(site_id)]
        return self._delta(site_id, rows, before, mean_before, t0)

    def set_supply(self, site_id, supply: float) -> AccessDelta:
        """Change the supply of an open site (e.g. two more doctors); returns the change."""
        t0 = time.perf_counter()
        site = self._sites.get(str(site_id))
        if site is None:
            raise InputError(f"No open site with id '{site_id}'.", f"没有编号为「{site_id}」的开放站点。")
        if not (np.isfinite(supply) and supply >= 0):
            raise InputError(f"The supply must be a number >= 0, not {supply}.", f"供给量须为不小于 0 的数，而非 {supply}。")
        rows = site["rows"]
        catch = float(site["w"] @ self.pop[rows])
        new_ratio = float(supply) / catch if catch > 0 else 0.0
        mean_before = self.mean
        before = self.access[rows].copy()
        self.access[rows] = np.maximum(self.access[rows] + PER_RESIDENTS * site["w"] * (new_ratio - site["ratio"]), 0.0)
        site["ratio"], site["supply"] = new_ratio, float(supply)
        return self._delta(site_id, rows, before, mean_before, t0)
