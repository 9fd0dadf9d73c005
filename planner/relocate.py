"""Relocating one named facility: the best of the candidate places for it under coverage, mean time or worst time.

"Move centre X to the best of these sites (or anywhere nearby)": every candidate is scored
exactly, with the other facilities of the type staying where they are. Candidates farther than
the cut-off from a resident cannot change that resident's time, so one bounded Dijkstra per
candidate (:func:`planner.fca.catchment_pairs`) and the other facilities' nearest times are
enough: ``time_i(j) = min(others_i, t_ij)``, scored for every candidate at once with ``bincount``.
The current place is always one of the candidates, so the answer is never worse than staying.
The chosen move is then evaluated with the coverage run (and access when a supply column is given)
for before/after figures per subdistrict.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["RelocationResult", "relocate_one", "write_relocation", "OBJECTIVES"]

OBJECTIVES = ("coverage", "median", "center")


@dataclass(frozen=True, eq=False)
class RelocationResult:
    """Where to move one facility.

    Attributes
    ----------
    facility_id : the facility moved.
    objective : 'coverage' (residents within the goal), 'median' (mean minutes) or 'center' (worst minutes).
    best : dict  the chosen place: ``id, lon, lat, source`` ('current' when staying is best).
    candidates : DataFrame, one row per candidate: ``id, lon, lat, source, covered, share, mean_minutes,
        max_minutes, rank`` (minutes capped at ``cutoff_minutes``; rank 1 = best under the objective).
    areas : DataFrame per area: ``area_id, name, share_before, share_after, mean_minutes_before,
        mean_minutes_after`` and, with a supply column, ``access_before, access_after`` (mean supply per 1,000).
    summary : JSON-ready dict (before / after totals, parameters, timings).
    """

    facility_id: str
    objective: str
    best: dict
    candidates: pd.DataFrame
    areas: pd.DataFrame
    summary: dict


def relocate_one(
    study,
    type_key: str,
    facility_id: str,
    *,
    objective: str = "coverage",
    candidates=None,
    candidate_spacing_m: float | None = None,
    near_m: float | None = None,
    cutoff_minutes: float | None = None,
    supply_column: str | None = None,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float = 300.0,
) -> RelocationResult:
    """Move facility ``facility_id`` to the best candidate place under ``objective``; the others stay.

    Parameters
    ----------
    study : planner.scenario.Study
    type_key : str  the facility's type (key or label).
    facility_id : str  id of the facility to move.
    objective : {'coverage', 'median', 'center'}
        Residents within the goal (max), population-weighted mean minutes (min), worst minutes (min).
    candidates : planner.siting.Candidates, optional
        The places to consider ("these sites"). Default ("anywhere nearby"): network nodes, one per
        ``candidate_spacing_m`` cell (default a third of the goal distance, at least 25 m), within
        ``near_m`` metres (default twice the goal distance) of the facility.
    cutoff_minutes : float, optional  minutes are capped here for the mean and worst (default 3 × goal).
    supply_column : str, optional  with it, before/after access (E2SFCA) per area is reported.
    minutes, speed_kmh : overrides of the type's goal and speed.
    max_snap_m : float

    Returns
    -------
    RelocationResult
    """
    from .fca import catchment_pairs
    from .network import snap_points
    from .scenario import goal_for, run
    from .siting import Candidates, _make, candidates_from_nodes, outside_exclusions
    from .travel import nearest

    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise InputError(f"Unknown objective '{objective}'; use coverage, median or center.",
                         f"未知的目标「{objective}」；可选 coverage、median 或 center。")
    ftype = goal_for(study.types, type_key, minutes=minutes, speed_kmh=speed_kmh)
    fac = study.facilities
    is_type = fac["type"].to_numpy() == ftype.key
    ids = fac["id"].astype(str).to_numpy()
    hit = np.flatnonzero(is_type & (ids == str(facility_id)))
    if len(hit) != 1:
        known = ids[is_type][:20].tolist()
        raise InputError(f"No facility of type '{ftype.key}' has the id '{facility_id}'. Ids of that type include: {known}.",
                         f"类型「{ftype.key}」中没有编号为「{facility_id}」的设施。该类型的编号例如：{known}。")
    k = int(hit[0])
    cutoff = float(cutoff_minutes) if cutoff_minutes is not None else 3.0 * ftype.target_minutes
    if not (np.isfinite(cutoff) and cutoff >= ftype.target_minutes):
        raise InputError(f"The cut-off must be at least the goal ({ftype.target_minutes:g} minutes), not {cutoff_minutes}.",
                         f"截断时间不能小于目标时间（{ftype.target_minutes:g} 分钟），而非 {cutoff_minutes}。")
    net = study.network_for(ftype)
    mpm = ftype.metres_per_minute
    goal = ftype.target_minutes + 1e-9
    flon, flat = float(fac["lon"].iloc[k]), float(fac["lat"].iloc[k])
    fx, fy = net.to_metric([flon], [flat])
    current = _make(np.array(["current"], object), [flon], [flat], fx, fy, "current")
    if candidates is None:
        near = near_m if near_m is not None else 2.0 * ftype.target_m
        spacing = candidate_spacing_m or max(25.0, ftype.target_m / 3.0)
        candidates = outside_exclusions(study, candidates_from_nodes(net, spacing_m=spacing, near_x=fx, near_y=fy, near_m=near))
    candidates = Candidates.concat([current, candidates])

    g = study.demand.gdf
    w = g["population"].to_numpy(float)
    dem_snap = snap_points(net, *net.to_metric(g.geometry.x.to_numpy(float), g.geometry.y.to_numpy(float)), max_snap_m=max_snap_m)
    w = np.where(dem_snap.too_far, 0.0, w)
    others = np.flatnonzero(is_type & (np.arange(len(fac)) != k))
    osnap = snap_points(net, *net.to_metric(fac["lon"].to_numpy(float)[others], fac["lat"].to_numpy(float)[others]),
                        max_snap_m=max_snap_m)
    t_oth = np.minimum(nearest(net, osnap, dem_snap)[0] / mpm, cutoff)
    csnap = snap_points(net, candidates.x, candidates.y, max_snap_m=max_snap_m)
    c, r, d = catchment_pairs(net, csnap, dem_snap, limit_m=(cutoff + 1e-9) * mpm)
    t = np.minimum(d / mpm, cutoff)
    n = len(candidates)
    total = float(w.sum())
    base_cov = float(w[t_oth <= goal].sum())
    covered = base_cov + np.bincount(c, weights=w[r] * ((t <= goal) & (t_oth[r] > goal)), minlength=n)
    saved = np.bincount(c, weights=w[r] * np.maximum(t_oth[r] - t, 0.0), minlength=n)
    mean = (float(w @ t_oth) - saved) / total
    # worst: the largest of (residents this candidate does not improve: their others' time) and (its improved times)
    live = np.flatnonzero(w > 0)
    order = live[np.argsort(-t_oth[live], kind="stable")]
    worst = np.empty(n)
    by_c = np.argsort(c, kind="stable")
    cuts = np.searchsorted(c[by_c], np.arange(n + 1))
    for j in range(n):
        sl = by_c[cuts[j]:cuts[j + 1]]
        better = t[sl] < t_oth[r[sl]]
        imp = np.zeros(len(g), bool)
        imp[r[sl][better]] = True
        rest = order[~imp[order]]
        worst[j] = max(float(t_oth[rest[0]]) if len(rest) else 0.0,
                       float(t[sl][better][w[r[sl][better]] > 0].max()) if better.any() else 0.0)
    unusable = csnap.too_far
    key = {"coverage": -covered, "median": mean, "center": worst}[objective]
    key = np.where(unusable, np.inf, key)
    rank_order = np.lexsort((np.arange(n), key))  # ties: the current place (index 0) first, then the lowest index
    rank = np.empty(n, np.int64)
    rank[rank_order] = np.arange(1, n + 1)
    table = pd.DataFrame({"id": candidates.ids, "lon": candidates.lon, "lat": candidates.lat, "source": candidates.source,
                          "covered": covered, "share": covered / total if total > 0 else np.nan, "mean_minutes": mean,
                          "max_minutes": worst, "usable": ~unusable, "rank": rank})
    b = int(rank_order[0])
    best = {"id": str(candidates.ids[b]), "lon": float(candidates.lon[b]), "lat": float(candidates.lat[b]),
            "source": str(candidates.source[b])}

    # before / after per area with the coverage run (and access)
    moved = fac.copy()
    moved.iloc[k, moved.columns.get_loc("lon")] = best["lon"]
    moved.iloc[k, moved.columns.get_loc("lat")] = best["lat"]
    if "geometry" in moved.columns:
        import geopandas as gpd

        moved = gpd.GeoDataFrame(moved, geometry=gpd.points_from_xy(moved["lon"], moved["lat"]), crs=4326)
    after_study = study.with_facilities(moved)
    kw = dict(type_keys=[ftype.key], minutes=minutes, speed_kmh=speed_kmh, max_snap_m=max_snap_m, isochrones="none")
    cov_b, cov_a = run(study, **kw), run(after_study, **kw)
    areas = pd.DataFrame()
    if len(cov_b.areas):
        areas = cov_b.areas[["area_id", "name", "coverage_share", "mean_minutes"]].rename(
            columns={"coverage_share": "share_before", "mean_minutes": "mean_minutes_before"})
        areas = areas.merge(cov_a.areas[["area_id", "coverage_share", "mean_minutes"]].rename(
            columns={"coverage_share": "share_after", "mean_minutes": "mean_minutes_after"}), on="area_id")
    acc = {}
    if supply_column is not None:
        from .fca import access

        akw = dict(supply_column=supply_column, minutes=minutes, speed_kmh=speed_kmh, max_snap_m=max_snap_m)
        acc_b, acc_a = access(study, ftype.key, **akw), access(after_study, ftype.key, **akw)
        acc = {"access_mean_before": acc_b.summary["access"]["mean_per_1000"],
               "access_mean_after": acc_a.summary["access"]["mean_per_1000"],
               "access_gini_before": acc_b.summary["access"]["gini"], "access_gini_after": acc_a.summary["access"]["gini"]}
        if len(areas) and len(acc_b.areas):
            areas = areas.merge(acc_b.areas[["area_id", "access_mean_per_1000"]].rename(columns={"access_mean_per_1000": "access_before"}),
                                on="area_id").merge(
                acc_a.areas[["area_id", "access_mean_per_1000"]].rename(columns={"access_mean_per_1000": "access_after"}), on="area_id")
    sb, sa = cov_b.coverage[ftype.key].stats, cov_a.coverage[ftype.key].stats
    summary = {
        "facility_id": str(facility_id),
        "type": ftype.key,
        "objective": objective,
        "best": best,
        "stays": best["source"] == "current",
        "candidates": int(n),
        "cutoff_minutes": cutoff,
        "share_before": sb["coverage_share"], "share_after": sa["coverage_share"],
        "mean_minutes_before": sb["mean_minutes"], "mean_minutes_after": sa["mean_minutes"],
        "p90_minutes_before": sb["p90_minutes"], "p90_minutes_after": sa["p90_minutes"],
        **acc,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return RelocationResult(str(facility_id), objective, best, table, areas, summary)


def write_relocation(result: RelocationResult, out_dir, *, extra_summary: dict | None = None) -> dict:
    """Write ``candidates.csv`` (every place scored, ranked), ``areas.csv`` and ``summary.json``, atomically."""
    import json
    from pathlib import Path

    from .export import jsonable, remove_stale, write_csv, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    write_csv(result.candidates.sort_values("rank"), out / "candidates.csv")
    written["candidates.csv"] = out / "candidates.csv"
    if len(result.areas):
        write_csv(result.areas, out / "areas.csv")
        written["areas.csv"] = out / "areas.csv"
    summary = dict(result.summary)
    if extra_summary:
        summary.update(extra_summary)
    written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
    remove_stale(out, ("candidates.csv", "areas.csv", "summary.json", "map.html"), written)
    return written
