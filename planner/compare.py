"""Headline figures of a coverage run, and two scenarios side by side with the difference."""
from __future__ import annotations

from .export import jsonable

__all__ = ["headline", "compare", "METRICS"]

#: The figures compared, per type and per area.
METRICS = ("coverage_share", "demand_covered", "demand_total", "mean_minutes", "p90_minutes")


def headline(result) -> dict:
    """The headline figures of a :class:`planner.scenario.CoverageResult`, JSON-ready.

    Returns
    -------
    dict
        ``{"types": {key: {label_zh, label_en, target_minutes, facilities, coverage_share,
        demand_covered, demand_total, mean_minutes, p90_minutes}},
        "areas": [{area_id, name, type, coverage_share, demand_covered, demand_total,
        mean_minutes, p90_minutes}]}``; minutes are population-weighted, shares in [0, 1].
    """
    types = {}
    for key, cov in result.coverage.items():
        s = cov.stats
        types[key] = {k: s.get(k) for k in ("label_zh", "label_en", "target_minutes", "facilities", *METRICS)}
    areas = []
    if result.areas is not None and len(result.areas):
        cols = [c for c in ("area_id", "name", "type", *METRICS) if c in result.areas.columns]
        areas = result.areas[cols].to_dict(orient="records")
    return jsonable({"types": types, "areas": areas})


def compare(baseline: dict, proposal: dict):
    """Side-by-side headline figures of two scenarios, with the difference.

    Parameters
    ----------
    baseline, proposal : dict
        Output of :func:`headline` (or a ``CoverageResult.summary``, which has the same
        ``"types"`` part and no areas).

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (scope, type, area, metric): ``scope`` ("type" or "area"),
        ``type``, ``area_id``, ``name``, ``metric`` (coverage_share, demand_covered,
        demand_total, mean_minutes, p90_minutes), ``baseline``, ``proposal``,
        ``delta`` (= proposal - baseline; NaN when either side lacks the figure).
        Types and areas present in only one side are kept (NaN on the other).
    """
    import pandas as pd

    def rows(fig: dict) -> dict[tuple, float]:
        out: dict[tuple, float] = {}
        for key, s in (fig.get("types") or {}).items():
            for m in METRICS:
                out[("type", key, "", s.get("label_zh", "") or "", m)] = s.get(m)
        for a in fig.get("areas") or []:
            for m in METRICS:
                out[("area", a.get("type", ""), str(a.get("area_id", "")), str(a.get("name", "")), m)] = a.get(m)
        return out

    b, p = rows(baseline or {}), rows(proposal or {})
    keys = list(b) + [k for k in p if k not in b]
    cols = ["scope", "type", "area_id", "name", "metric"]
    df = pd.DataFrame([dict(zip(cols, k)) for k in keys], columns=cols)
    df["baseline"] = pd.to_numeric(pd.Series([b.get(k) for k in keys], dtype=object), errors="coerce").to_numpy()
    df["proposal"] = pd.to_numeric(pd.Series([p.get(k) for k in keys], dtype=object), errors="coerce").to_numpy()
    df["delta"] = df["proposal"] - df["baseline"]
    return df
