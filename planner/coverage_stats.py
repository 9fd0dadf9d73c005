"""Coverage statistics of one facility type: nearest-facility times, shares, bands, per-area tables (planner.coverage is the study-level entry point)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import FacilityType
from .network import Network, Snap
from .travel import NodeField, nearest

logger = logging.getLogger(__name__)

__all__ = ["TypeCoverage", "type_coverage", "band_edges", "weighted_quantile", "area_table"]


def band_edges(ftype: FacilityType) -> tuple[float, ...]:
    """Time-band edges in minutes: thirds of the goal (5/10/15 for a 15-minute goal, 0.5/1/1.5 for AEDs)."""
    t = ftype.target_minutes
    return (t / 3.0, 2.0 * t / 3.0, t)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile (lower), over finite values; NaN when there are none."""
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    v, w = values[ok], weights[ok]
    order = np.argsort(v, kind="stable")
    # scaled by the largest weight, so huge weights (1e308 each) cannot overflow the running sum to inf
    cw = np.cumsum(w[order] / w.max())
    return float(v[order][np.searchsorted(cw, q * cw[-1] - 1e-9 * cw[-1])])


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True, eq=False)
class TypeCoverage:
    """Coverage of one facility type.

    Attributes
    ----------
    ftype : the type, with the goal and speed used.
    facility_ids : str[f] ids of this type's facilities, in the order of ``fac_snap``.
    fac_snap : where they sit on the network.
    minutes : float[p] minutes from each demand point to its nearest facility (inf: unreachable or
        the point lies farther than the snap limit from any street).
    facility_index : int[p] index into ``facility_ids`` of that facility (-1: none).
    covered : bool[p] ``minutes <= target``.
    field : node distances (m) to the nearest facility, reused by isochrones.
    stats : dict of the headline figures (see :func:`type_coverage`).
    dist_m : float[p] the network metres behind ``minutes`` (a what-if starts from them), or None.
    """

    ftype: FacilityType
    facility_ids: np.ndarray
    fac_snap: Snap
    minutes: np.ndarray
    facility_index: np.ndarray
    covered: np.ndarray
    field: NodeField
    stats: dict = field(default_factory=dict)
    dist_m: np.ndarray | None = None

    @property
    def facility_id(self) -> np.ndarray:
        """Nearest facility id per demand point ('' where none)."""
        ids = np.asarray(self.facility_ids, dtype=object)
        out = np.full(len(self.minutes), "", dtype=object)
        ok = self.facility_index >= 0
        out[ok] = ids[self.facility_index[ok]]
        return out


def _stats(ftype: FacilityType, minutes, population, dem_snap: Snap, fac_snap: Snap) -> dict:
    pop = np.asarray(population, float)
    total = float(pop.sum())
    covered = minutes <= ftype.target_minutes + 1e-9
    cov = float(pop[covered].sum())
    edges = band_edges(ftype)
    bands = []
    lo = 0.0
    for hi in edges:
        m = (minutes >= lo) & (minutes < hi) if hi != edges[-1] else (minutes >= lo) & (minutes <= hi + 1e-9)
        bands.append({"band": f"{_fmt(lo)}-{_fmt(hi)}", "from_min": lo, "to_min": hi, "demand": float(pop[m].sum())})
        lo = hi
    beyond = np.isfinite(minutes) & (minutes > edges[-1] + 1e-9)
    bands.append({"band": f">{_fmt(edges[-1])}", "from_min": edges[-1], "to_min": None, "demand": float(pop[beyond].sum())})
    unreachable = ~np.isfinite(minutes)
    bands.append({"band": "unreachable", "from_min": None, "to_min": None, "demand": float(pop[unreachable].sum())})
    for b in bands:
        b["share"] = b["demand"] / total if total > 0 else float("nan")
    reach = np.isfinite(minutes)
    mean = float(np.average(minutes[reach], weights=pop[reach])) if pop[reach].sum() > 0 else float("nan")
    return {
        "type": ftype.key,
        "label_zh": ftype.label_zh,
        "label_en": ftype.label_en,
        "target_minutes": ftype.target_minutes,
        "speed_kmh": ftype.speed_kmh,
        "mode": ftype.mode,
        "facilities": int(len(fac_snap)),
        "facilities_snapped_too_far": int(fac_snap.too_far.sum()),
        "demand_points": int(len(minutes)),
        "demand_total": total,
        "demand_covered": cov,
        "coverage_share": cov / total if total > 0 else float("nan"),
        "bands": bands,
        "unreachable_demand": float(pop[unreachable].sum()),
        "demand_snapped_too_far": int(dem_snap.too_far.sum()),
        "demand_snapped_too_far_population": float(pop[dem_snap.too_far].sum()),
        "mean_minutes": mean,
        "p90_minutes": weighted_quantile(minutes, pop, 0.9),
    }


def type_coverage(
    net: Network,
    fac_snap: Snap,
    facility_ids,
    dem_snap: Snap,
    population,
    ftype: FacilityType,
) -> TypeCoverage:
    """Nearest-facility minutes for every demand point and the coverage statistics of one type.

    Parameters
    ----------
    net : Network
        The network for the type's mode.
    fac_snap, dem_snap : Snap
        Facilities of this type and demand points, snapped to ``net``.
    facility_ids : sequence of str
    population : float[p]
    ftype : FacilityType
        Carries the goal (minutes) and speed (km/h).
    """
    dist, who, field_ = nearest(net, fac_snap, dem_snap)
    minutes = dist / ftype.metres_per_minute
    covered = minutes <= ftype.target_minutes + 1e-9
    stats = _stats(ftype, minutes, population, dem_snap, fac_snap)
    return TypeCoverage(ftype, np.asarray(facility_ids, dtype=object), fac_snap, minutes, who, covered, field_, stats, dist)


def area_table(
    cov: TypeCoverage,
    population: np.ndarray,
    demand_area: np.ndarray,
    facility_area: np.ndarray,
    areas: pd.DataFrame,
) -> pd.DataFrame:
    """Per-area statistics of one type: demand, covered, share, mean and 90th-percentile minutes, facilities.

    ``areas`` has columns ``area_id`` and ``name``; ``demand_area`` / ``facility_area`` give each
    demand point's / facility's area id (None outside every area).
    """
    pop = np.asarray(population, float)
    rows = []
    fa = np.asarray(facility_area, dtype=object)
    # the demand rows of each area, in their original order (one hash lookup per row, not one
    # object comparison per row and area)
    da = np.asarray(demand_area, dtype=object)
    ids = pd.Index(areas["area_id"])
    if ids.is_unique:
        code = ids.get_indexer(pd.Index(da))
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(areas) + 1))
    for i, (aid, name) in enumerate(zip(areas["area_id"], areas["name"])):
        m = order[bounds[i]:bounds[i + 1]] if ids.is_unique else np.flatnonzero(da == aid)
        tot = float(pop[m].sum())
        c = float(pop[m][cov.covered[m]].sum())
        mins = cov.minutes[m]
        reach = np.isfinite(mins)
        n_fac = int(np.count_nonzero(fa == aid))
        rows.append(
            {
                "area_id": aid,
                "name": name,
                "type": cov.ftype.key,
                "demand_total": tot,
                "demand_covered": c,
                "coverage_share": c / tot if tot > 0 else float("nan"),
                "mean_minutes": float(np.average(mins[reach], weights=pop[m][reach])) if pop[m][reach].sum() > 0 else float("nan"),
                "p90_minutes": weighted_quantile(mins, pop[m], 0.9),
                "unreachable_demand": float(pop[m][~reach].sum()),
                "facilities": n_fac,
                "has_facility": n_fac > 0,
                "per_area_goal": bool(cov.ftype.per_area_goal),
            }
        )
    return pd.DataFrame(rows)
