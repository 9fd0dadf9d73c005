"""The app's access view (issue 13): supply per 1,000 residents within reach, its what-if, and its map layers.

Two entry points for ``streamlit_app.py``: :func:`map_overlay` (before the map is drawn: the access
layers, when the planner shows them) and :func:`render` (the 可达性 / Access tab). Both read the
options from the session (a widget's value is in the session before the script runs), so the map
and the tab always show the same computation. Every number comes from :func:`planner.access` and
:class:`planner.fca.AccessWhatIf` (through :class:`app.access_state.AccessTracker`).
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
import streamlit as st

from app.access_state import ONE_PER_SITE, AccessTracker, access_figures, area_figures, supply_columns
from app.text import md_error, md_escape
from maps.i18n import t
from planner import PlannerError

logger = logging.getLogger("coverage_planner.app")

__all__ = ["render", "map_overlay", "cached_access"]

DECAYS = ("step", "none", "gaussian")


def _lang() -> str:
    return st.session_state.get("lang", "zh")


def L(key: str, **values) -> str:
    return t(key, _lang(), **values)


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_access(_study, key: str, type_key: str, supply_column: str | None, minutes: float, decay: str):
    """:func:`planner.access` of the study (existing facilities), cached on its inputs (``key`` hashes the study)."""
    from planner import access

    return access(_study, type_key, supply_column=supply_column, minutes=minutes, decay=decay)


# ------------------------------------------------------------------------------------ options
def _choice(key: str, options: list, default):
    """A choice kept raw in the session (its widget has one key per language, as in the page's other selectors)."""
    value = st.session_state.get(key, default)
    return value if value in options else default


def _pick(where, widget: str, label: str, options: list, *, key: str, fmt, default, **kw):
    lg = _lang()
    wkey = f"{key}__{lg}"
    current = _choice(key, options, default)
    if wkey not in st.session_state or st.session_state[wkey] not in options:
        st.session_state.pop(wkey, None)
        kw["index"] = options.index(current)
    value = getattr(where, widget)(label, options, key=wkey, format_func=lambda v: fmt(v, lg), **kw)
    st.session_state[key] = value
    return value


def _options(study, type_key: str) -> dict:
    """The view's options from the session (defaults on the first run): supply, catchment, decay."""
    cols = [ONE_PER_SITE, *supply_columns(study.facilities, type_key)]
    supply = _choice("acc_supply", cols, ONE_PER_SITE)
    goal = float(study.types[type_key].target_minutes) if type_key in study.types else 15.0
    minutes = float(st.session_state.get(f"acc_minutes_{type_key}", goal) or goal)
    decay = _choice("acc_decay", list(DECAYS), "step")
    return {"columns": cols, "supply": supply, "minutes": minutes, "decay": decay, "goal": goal}


# ------------------------------------------------------------------------------------ state
def _state(study, skey: str, type_key: str):
    """(result, tracker, options) for the chosen options, the proposals synced; None when access is off."""
    if not st.session_state.get("acc_on"):
        return None
    o = _options(study, type_key)
    col = None if o["supply"] == ONE_PER_SITE else o["supply"]
    result = cached_access(study, skey, type_key, col, o["minutes"], o["decay"])
    tkey = (skey, type_key, col, o["minutes"], o["decay"])
    tracker = st.session_state.get("acc_tracker")
    if tracker is None or st.session_state.get("acc_tracker_key") != tkey:
        tracker = AccessTracker(study, result)
        st.session_state["acc_tracker"] = tracker
        st.session_state["acc_tracker_key"] = tkey
    supply = _new_supply(result, type_key, o["supply"])
    tracker.sync(st.session_state.get("proposals", []), supply)
    return result, tracker, o, supply


def _new_supply(result, type_key: str, supply: str) -> float:
    """The supply of each proposed site: the planner's number, by default 1 (or the type's median supply)."""
    default = 1.0 if supply == ONE_PER_SITE else float(np.median(result.facilities["supply"])) if len(result.facilities) else 1.0
    return float(st.session_state.get(f"acc_new_supply_{type_key}_{supply}", default))


def _below(result, type_key: str, supply: str) -> float:
    """The planner's threshold (default: the district's mean access now, two significant digits)."""
    mean = result.summary["access"]["mean_per_1000"]
    default = float(f"{mean:.2g}") if mean == mean and mean > 0 else 0.0
    return float(st.session_state.get(f"acc_below_{type_key}_{supply}", default))


# ------------------------------------------------------------------------------------ map
def map_overlay(study, skey: str, type_key: str) -> dict | None:
    """The access layers for :func:`maps.build.coverage_map` (``access=``), or None when not shown."""
    if not st.session_state.get("acc_on_map"):
        return None
    try:
        got = _state(study, skey, type_key)
    except PlannerError:
        return None  # the tab says why
    if got is None:
        return None
    result, tracker, o, _ = got
    below = _below(result, type_key, o["supply"])
    values = tracker.access.copy()  # the what-if keeps changing its own array
    top_of = result.demand["access_per_1000"].to_numpy(float)
    from maps.access import access_scale_max

    h = hashlib.sha256(values.tobytes())
    h.update(repr((below, tuple(result.summary["parameters"].items()))).encode())
    return {"result": result, "areas": study.areas, "values": values, "below": below,
            "area_table": area_figures(result, values, below),
            "max_access": access_scale_max(top_of, result.demand["population"].to_numpy(float)),  # the same colours before/after
            "key": h.hexdigest()[:16]}


# ------------------------------------------------------------------------------------ tab
def _num(x: float) -> str:
    return "–" if x is None or x != x else f"{x:.4g}"


def _pct(x: float) -> str:
    return "–" if x is None or x != x else f"{x * 100:.1f}%"


def render(study, skey: str, type_key: str) -> None:
    """The access tab: options, headline (mean, Gini, share below), per-area table, what-if of the proposals."""
    st.caption(L("acc_intro"))
    c0, c1 = st.columns(2)
    on = c0.toggle(L("acc_on"), key="acc_on")
    c1.checkbox(L("acc_on_map"), key="acc_on_map", disabled=not on)
    if not on:
        return
    o = _options(study, type_key)
    c1, c2, c3 = st.columns(3)
    _pick(c1, "selectbox", L("acc_supply"), o["columns"], key="acc_supply", default=ONE_PER_SITE,
          fmt=lambda v, lg: t("acc_one_per_site", lg) if v == ONE_PER_SITE else str(v))
    c2.number_input(L("acc_minutes"), 1.0, 120.0, o["goal"], step=1.0, key=f"acc_minutes_{type_key}")
    _pick(c3, "selectbox", L("acc_decay"), list(DECAYS), key="acc_decay", default="step",
          fmt=lambda v, lg: t("acc_decay_" + v, lg))
    try:
        with st.spinner(L("computing_access")):
            got = _state(study, skey, type_key)
    except PlannerError as exc:
        st.error(md_error(exc, _lang()))
        return
    result, tracker, o, supply = got
    c1, c2 = st.columns(2)
    below = c1.number_input(L("acc_below"), 0.0, value=_below(result, type_key, o["supply"]), step=0.001, format="%.4f",
                            key=f"acc_below_{type_key}_{o['supply']}")
    c2.number_input(L("acc_new_supply"), 0.0, value=supply, step=1.0, key=f"acc_new_supply_{type_key}_{o['supply']}")

    pop = tracker.population
    now = access_figures(tracker.baseline, pop, below)
    cur = access_figures(tracker.access, pop, below)
    props = tracker.site_ids
    m1, m2 = st.columns(2)
    m3, m4 = st.columns(2)

    def delta(a, b, pct=False):
        if not props or abs(b - a) < 1e-15:
            return None
        return f"{(b - a) * 100:+.1f} pp" if pct else f"{b - a:+.3g}"

    m1.metric(L("acc_mean"), _num(cur["mean"]), delta(now["mean"], cur["mean"]))
    m2.metric(L("acc_gini"), _num(cur["gini"]), delta(now["gini"], cur["gini"]), delta_color="inverse")
    m3.metric(L("acc_share_below"), _pct(cur["share_below"]), delta(now["share_below"], cur["share_below"], True),
              delta_color="inverse")
    m4.metric(L("acc_no_access"), _pct(cur["share_no_access"]),
              delta(now["share_no_access"], cur["share_no_access"], True), delta_color="inverse")
    unit = L("acc_unit_sites") if o["supply"] == ONE_PER_SITE else md_escape(o["supply"])
    st.caption(L("acc_units", unit=unit))
    if props and tracker.last is not None:
        st.caption(L("acc_whatif", n=len(props), supply=f"{supply:g}", people=f"{len(tracker.last.changed_index):,}",
                     ms=tracker.last.seconds * 1000))
    for sid, exc in tracker.refused.items():
        st.warning(L("acc_refused", id=md_escape(sid), msg=md_error(exc, _lang())))
    st.session_state["access_view"] = {"now": now, "current": cur, "sites": props, "below": below,
                                       "summary": result.summary}  # read by tests

    st.markdown(f"**{L('acc_areas')}**")
    if not len(result.areas):
        st.caption(L("no_areas"))
        return
    a0 = area_figures(result, tracker.baseline, below)
    a1 = area_figures(result, tracker.access, below)
    table = pd.DataFrame({
        L("h_name"): a0["name"].astype(str),
        L("acc_h_now"): a0["access_mean_per_1000"].round(4),
        L("acc_h_with"): a1["access_mean_per_1000"].round(4),
        L("acc_h_change"): (a1["access_mean_per_1000"] - a0["access_mean_per_1000"]).round(4),
        L("acc_h_gini"): a1["access_gini"].round(3),
        L("acc_h_below"): (a1["share_below"] * 100).round(1),
        L("acc_h_none"): (a1["share_no_access"] * 100).round(1),
    })
    st.dataframe(table, hide_index=True, width="stretch")


# ------------------------------------------------------------------------------------ relocation
OBJECTIVES = ("coverage", "median", "center")


def relocate_best(scenario, scen_key: str, type_key: str, fid: str, name: str) -> None:
    """Move one named facility to the best nearby place under an objective (:func:`planner.relocate.relocate_one`):
    before/after coverage, mean time and access (the access tab's supply choice, else 1 per site), per subdistrict."""
    from planner import access
    from planner.relocate import relocate_one

    with st.expander(L("reloc_best_header"), expanded=bool(st.session_state.get("reloc_best"))):
        c1, c2 = st.columns([3, 1])
        objective = _pick(c1, "radio", L("reloc_objective"), list(OBJECTIVES), key="reloc_objective", default="coverage",
                          fmt=lambda v, lg: t("reloc_obj_" + v, lg), horizontal=True)
        cols = [ONE_PER_SITE, *supply_columns(scenario.facilities, type_key)]
        supply = _choice("acc_supply", cols, ONE_PER_SITE)
        col = None if supply == ONE_PER_SITE else supply
        key = (scen_key, type_key, fid, objective, col)
        if c2.button(L("reloc_best_run"), key="reloc_best_run"):
            try:
                with st.spinner(L("computing")):
                    rel = relocate_one(scenario, type_key, fid, objective=objective)
                    moved = scenario.with_facility_moved(fid, rel.best["lon"], rel.best["lat"])
                    acc_b, acc_a = access(scenario, type_key, supply_column=col), access(moved, type_key, supply_column=col)
            except PlannerError as exc:
                st.error(md_error(exc, _lang()))
                return
            st.session_state["reloc_best"] = (key, rel, acc_b, acc_a)
        got = st.session_state.get("reloc_best")
        if not got or got[0] != key:
            return
        _, rel, acc_b, acc_a = got
        s = rel.summary
        n = len(rel.candidates)
        if s["stays"]:
            st.markdown(L("reloc_best_stays", name=md_escape(name), n=n))
        else:
            st.markdown(L("reloc_best_moves", name=md_escape(name), lon=f"{rel.best['lon']:.5f}", lat=f"{rel.best['lat']:.5f}", n=n))
        m1, m2, m3 = st.columns(3)
        m1.metric(L("reloc_share"), _pct(s["share_after"]), f"{(s['share_after'] - s['share_before']) * 100:+.1f} pp")
        m2.metric(L("mean_minutes"), L("minutes_unit", v=f"{s['mean_minutes_after']:.1f}"),
                  f"{s['mean_minutes_after'] - s['mean_minutes_before']:+.1f}", delta_color="inverse")
        ab, aa = acc_b.summary["access"]["mean_per_1000"], acc_a.summary["access"]["mean_per_1000"]
        m3.metric(L("acc_mean"), _num(aa), f"{aa - ab:+.3g}")
        if len(rel.areas):
            a = rel.areas.merge(acc_b.areas[["area_id", "access_mean_per_1000"]], on="area_id", how="left").merge(
                acc_a.areas[["area_id", "access_mean_per_1000"]], on="area_id", how="left", suffixes=("_before", "_after"))
            st.dataframe(pd.DataFrame({
                L("h_name"): a["name"].astype(str),
                L("reloc_h_share_before"): (a["share_before"] * 100).round(1),
                L("reloc_h_share_after"): (a["share_after"] * 100).round(1),
                L("reloc_h_mean_before"): a["mean_minutes_before"].round(1),
                L("reloc_h_mean_after"): a["mean_minutes_after"].round(1),
                L("reloc_h_access_before"): a["access_mean_per_1000_before"].round(4),
                L("reloc_h_access_after"): a["access_mean_per_1000_after"].round(4),
            }), hide_index=True, width="stretch")
