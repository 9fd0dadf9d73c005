"""The access view's state without a UI: supply columns, headline and per-area figures, and the incremental what-if.

Access (supply per 1,000 residents within reach) is computed once per study and options by
:func:`planner.access`; proposed sites then change it through :class:`planner.fca.AccessWhatIf`,
which touches only the residents in the catchment of the site added or removed. Nothing here
imports streamlit or folium; the cached study and its network are only read.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from planner._errors import InputError
from planner.fca import AccessWhatIf, weighted_gini

logger = logging.getLogger(__name__)

__all__ = ["ONE_PER_SITE", "supply_columns", "access_figures", "area_figures", "AccessTracker"]

#: The supply choice "every site counts 1" (access is then facilities per 1,000 residents).
ONE_PER_SITE = "__one__"

#: Facility columns that are never a supply.
_NOT_SUPPLY = {"id", "name", "type", "lon", "lat", "geometry", "source_file", "source_row", "coords", "area_id", "proposed",
               "x", "y"}


def supply_columns(facilities, type_key: str) -> list[str]:
    """Columns of the facilities of ``type_key`` that can be a supply: numbers >= 0 in every row of the type."""
    if not len(facilities):
        return []
    fac = facilities[facilities["type"] == type_key]
    if not len(fac):
        return []
    out = []
    for col in fac.columns:
        if str(col) in _NOT_SUPPLY or isinstance(col, tuple):
            continue
        v = pd.to_numeric(fac[col], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(v).all() and (v >= 0).all():
            out.append(str(col))
    return out


def _share(mask: np.ndarray, pop: np.ndarray) -> float:
    tot = float(pop.sum())
    return float(pop[mask].sum() / tot) if tot > 0 else float("nan")


def access_figures(access, population, below: float | None = None) -> dict:
    """The headline of per-point access: population-weighted ``mean``, ``gini``, ``share_below`` (``below``) and
    ``share_no_access`` (the same definitions as :func:`planner.access`'s summary)."""
    a = np.asarray(access, dtype=float)
    p = np.asarray(population, dtype=float)
    tot = float(p.sum())
    return {
        "mean": float(p @ a / tot) if tot > 0 else float("nan"),
        "gini": weighted_gini(a, p),
        "share_below": _share(a < below, p) if below is not None else float("nan"),
        "share_no_access": _share(a <= 0, p),
    }


def area_figures(result, access=None, below: float | None = None) -> pd.DataFrame:
    """Per-area access of an :class:`~planner.fca.AccessResult` (or of other per-point values ``access`` aligned to its
    demand, e.g. a what-if's): ``area_id, name, demand_total, access_mean_per_1000, access_gini, share_below,
    share_no_access``; empty without areas."""
    if not len(result.areas):
        return pd.DataFrame(columns=["area_id", "name", "demand_total", "access_mean_per_1000", "access_gini",
                                     "share_below", "share_no_access"])
    a = result.demand["access_per_1000"].to_numpy(float) if access is None else np.asarray(access, dtype=float)
    pop = result.demand["population"].to_numpy(float)
    aid = result.demand["area_id"].to_numpy(dtype=object)
    rows = []
    for area, name in zip(result.areas["area_id"], result.areas["name"]):
        mk = aid == area
        f = access_figures(a[mk], pop[mk], below)
        rows.append({"area_id": area, "name": name, "demand_total": float(pop[mk].sum()),
                     "access_mean_per_1000": f["mean"], "access_gini": f["gini"], "share_below": f["share_below"],
                     "share_no_access": f["share_no_access"]})
    return pd.DataFrame(rows)


class AccessTracker:
    """Keeps a :class:`planner.fca.AccessWhatIf` in step with a list of proposed sites of one type.

    Built from the study and an :class:`~planner.fca.AccessResult` of it, reusing the result's snaps,
    catchment pairs and values (:meth:`planner.fca.AccessWhatIf.from_result`: access is not computed
    a second time); :meth:`sync` adds the proposals new in the list with ``supply`` each, removes the
    ones that left it and changes every added site's supply when ``supply`` changes, each edit
    touching only the residents within reach of that site.

    Attributes
    ----------
    baseline : float[p]  access of the existing facilities.
    access : float[p]  access with the synced proposals (a view of the what-if's array).
    supply : supply of each added site.
    refused : {site id: InputError} proposals the what-if could not open (e.g. too far from a street).
    last : the latest :class:`planner.fca.AccessDelta`, or None.
    """

    def __init__(self, study, result):
        from planner.scenario import goal_for

        ftype = goal_for(study.types, result.type_key, minutes=result.minutes, speed_kmh=result.speed_kmh)
        net = study.network_for(ftype)
        d = result.demand
        self.type_key = result.type_key
        self.population = d["population"].to_numpy(float)
        # from the result's own snaps, catchment pairs and values: switching access on computes it once
        self.whatif = AccessWhatIf.from_result(result, net,
                                               facility_ids=[f"existing:{i}" for i in result.facilities["id"]],
                                               demand_ids=d["id"].to_numpy())
        self.baseline = self.whatif.access.copy()
        self.supply: float | None = None
        self.refused: dict[str, InputError] = {}
        self.last = None
        self._sites: dict[str, tuple[float, float]] = {}
        self._internal: dict[str, str] = {}
        self._serial = 0

    @property
    def access(self) -> np.ndarray:
        return self.whatif.access

    @property
    def site_ids(self) -> list[str]:
        """The proposals currently open in the what-if."""
        return list(self._sites)

    def sync(self, proposals: Iterable, supply: float) -> list:
        """Apply the difference between the open proposals and ``proposals`` (of this type) with ``supply`` per site;
        returns the :class:`planner.fca.AccessDelta` of every edit."""
        supply = float(supply)
        want = {p.id: (float(p.lon), float(p.lat)) for p in proposals if p.type == self.type_key}
        deltas = []
        for sid in [s for s in self._sites if s not in want or want[s] != self._sites[s]]:
            deltas.append(self.whatif.remove(self._internal.pop(sid)))
            del self._sites[sid]
        self.refused = {s: e for s, e in self.refused.items() if s in want and s not in self._sites}
        if self.supply is not None and supply != self.supply:
            for sid in self._sites:
                deltas.append(self.whatif.set_supply(self._internal[sid], supply))
        self.supply = supply
        for sid, (lon, lat) in want.items():
            if sid in self._sites or sid in self.refused:
                continue
            self._serial += 1
            internal = f"{sid}#{self._serial}"
            try:
                deltas.append(self.whatif.add(lon, lat, supply, site_id=internal))
            except InputError as exc:  # e.g. a site far from any street: said in the view, the others still count
                self.refused[sid] = exc
                continue
            self._internal[sid] = internal
            self._sites[sid] = (lon, lat)
        if deltas:
            self.last = deltas[-1]
        return deltas
