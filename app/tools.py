"""The planner's tools on the page: candidate sites and exclusion zones for the optimiser, the walking route of a
clicked place, and the column-mapping dialog for a file whose columns were not recognised.

Render functions only: every layer goes into the study spec (``app.state.app_spec``) and is read by the one
builder; routes come from :meth:`planner.scenario.CoverageResult.route`. ``streamlit_app.py`` calls these in
a few lines.
"""
from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from app.text import md_escape
from maps.i18n import t

logger = logging.getLogger(__name__)

__all__ = ["siting_layers_panel", "map_hint", "route_mode", "current_route", "route_caption", "map_layers",
           "mapping_for", "offer_mapping", "column_mapping_dialog", "MAPPED_FIELDS"]

#: The fields the column-mapping dialog asks for, per upload kind (required first).
MAPPED_FIELDS: dict[str, tuple[str, ...]] = {
    "facilities": ("lon", "lat", "name", "type", "id"),
    "candidates": ("lon", "lat", "name", "id"),
    "demand": ("lon", "lat", "population", "name", "id"),
}


def _lang() -> str:
    return st.session_state.get("lang", "zh")


def L(key: str, **values) -> str:
    return t(key, _lang(), **values)


# ---------------------------------------------------------------------------------------- candidates, exclusions
def siting_layers_panel(study, add_layer, upload_key, coords: str) -> None:
    """Upload candidate sites and exclusion zones (the optimise tab); they become the spec's ``candidates`` and
    ``exclusions`` layers, drawn on the map and used by the optimiser."""
    with st.expander(L("siting_layers"), expanded=study.candidates is not None or study.exclusions is not None):
        cand = st.file_uploader(L("cand_upload"), key=upload_key("up_candidates"))
        if cand is not None:
            add_layer(cand, "candidates", coords=coords, columns=mapping_for("candidates", cand))
        excl = st.file_uploader(L("excl_upload"), key=upload_key("up_exclusions"))
        if excl is not None:
            add_layer(excl, "exclusions", coords=coords)
        if study.candidates is not None:
            st.caption(L("cand_loaded", n=len(study.candidates)))
            dropped = ((study.meta or {}).get("inputs", {}).get("candidates") or {}).get("excluded")
            if dropped:
                st.caption(L("cand_excluded", n=dropped))
        if study.exclusions is not None:
            st.caption(L("excl_loaded", n=len(study.exclusions)))


def map_layers(study, route) -> dict:
    """The map's candidate sites, exclusion zones and route (keys of :func:`maps.build.coverage_map`)."""
    cand = study.candidates
    return {
        "candidates": pd.DataFrame(cand[[c for c in ("id", "name", "lon", "lat") if c in cand.columns]])
        if cand is not None and len(cand) else None,
        "exclusions": study.exclusions if study.exclusions is not None and len(study.exclusions) else None,
        "route": route,
    }


# ---------------------------------------------------------------------------------------- routes
def route_mode() -> bool:
    """Whether a click shows the walking route instead of proposing a site (the toggle above the map)."""
    return bool(st.session_state.get("route_mode"))


def map_hint(type_label: str) -> None:
    """The hint above the map and the route-mode toggle (both always drawn: the layout never moves)."""
    hint, toggle = st.columns([3, 2], vertical_alignment="center")
    hint.caption(L("map_hint_route" if route_mode() else "map_hint", type=md_escape(type_label)))
    if not toggle.toggle(L("route_mode"), key="route_mode"):
        st.session_state["route_at"] = None


def current_route(res, type_key: str):
    """The route from the last clicked place in route mode to its nearest facility of the type (None: no click,
    or no result); kept in ``st.session_state["route"]`` as ``(type_key, place, route-or-None)``."""
    at = st.session_state.get("route_at")
    if not at or res is None or type_key not in res.coverage:
        st.session_state["route"] = None
        return None
    route = res.route(type_key, *at)
    st.session_state["route"] = (type_key, at, route)
    return route


def route_caption(box, type_label: str) -> None:
    """The route's minutes and facility under the map (in ``box``, a slot that always exists)."""
    got = st.session_state.get("route")
    if not got:
        return
    route = got[2]
    if route is None:
        box.caption(L("route_none", type=md_escape(type_label)))
    else:
        box.caption(L("route_result", type=md_escape(type_label), name=md_escape(route["facility_name"]), minutes=f"{route['minutes']:.1f}",
                      metres=f"{route['metres']:,.0f}"))


# ---------------------------------------------------------------------------------------- column mapping
def mapping_for(kind: str, upload):
    """The column mapping the planner chose for this upload (``((field, column), ...)``), or None."""
    return st.session_state.get("colmaps", {}).get((kind, upload.file_id))


def offer_mapping(kind: str, upload, path, exc) -> bool:
    """After a refusal for missing columns: offer the mapping dialog for this file; True when it is offered."""
    if kind not in MAPPED_FIELDS or not any(p.code == "missing_column" for p in exc.problems):
        return False
    from planner.io import read_table

    try:
        columns = [str(c) for c in read_table(path).columns if c != "geometry"]
    except Exception:  # the file cannot even be read as a table: the error message says why
        logger.info("no column list for %s", upload.name, exc_info=True)
        return False
    for f in {f for fields in MAPPED_FIELDS.values() for f in fields}:  # a new file: its own choices
        st.session_state.pop(f"colmap_{f}", None)
    st.session_state["colmap_pending"] = {"kind": kind, "file_id": upload.file_id, "name": upload.name,
                                          "columns": columns}
    return True


def column_mapping_dialog(where) -> None:
    """Selectboxes mapping the file's columns to the fields the reader needs; "load" stores the mapping, which the
    next run passes to the layer (``Layer.columns``: the one reader honours it)."""
    pending = st.session_state.get("colmap_pending")
    if not pending:
        return
    from planner.io import detect_columns

    from .uploads import safe_filename

    kind, columns = pending["kind"], pending["columns"]
    fields = MAPPED_FIELDS[kind]
    found = detect_columns(columns, fields)
    none = "\x00none"
    box = where.container(border=True)
    box.markdown(f"**{L('colmap_header', file=md_escape(safe_filename(pending['name'])))}**")
    box.caption(L("colmap_help"))
    chosen = {}
    for f in fields:
        options = [none, *columns]
        pick = box.selectbox(L("colmap_" + f), options, index=options.index(found[f]) if f in found else 0,
                             format_func=lambda c: L("colmap_none") if c == none else c, key=f"colmap_{f}")
        if pick != none:
            chosen[f] = pick
    c1, c2 = box.columns(2)
    if c1.button(L("colmap_apply"), key="colmap_apply", type="primary"):
        st.session_state.setdefault("colmaps", {})[(kind, pending["file_id"])] = tuple(sorted(chosen.items()))
        st.session_state["colmap_pending"] = None
        st.rerun()
    if c2.button(L("colmap_cancel"), key="colmap_cancel"):
        st.session_state["colmap_pending"] = None
        st.rerun()
