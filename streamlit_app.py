"""Streamlit app: explore walking coverage, propose sites by clicking or optimising, compare scenarios, export.

A thin layer: the study is built by ``planner.study.build_study`` from what the widgets describe,
every number comes from ``planner`` (``planner.coverage``, ``planner.siting``) and every map from
``maps``; upload safety and the UI-free state live in the ``app`` package. This file holds widgets,
caching and session state.

Run: ``streamlit run streamlit_app.py`` (``-- --study FILE`` opens a study file).
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace

import pandas as pd
import streamlit as st

from app import access_view, tools, uploads
from app import state as ss
from app.text import md_error, md_escape, md_values
from maps.i18n import LANGS, t, table_headers
from planner import OfflineError, PlannerError, export
from planner.store import Site
from planner.study import Layer

st.set_page_config(page_title="步行可达性规划 / Coverage planner", layout="wide")
logger = logging.getLogger("coverage_planner.app")

#: Places on the page drawn early and filled later in the same run.
SLOTS: dict = {}

#: The main map's frame (pixels); its width is about 3/5 of a wide page.
MAP_HEIGHT, MAP_WIDTH = 640, 440  # the width the first view is fitted to: the map's width on an 800 px window with the sidebar open
DIFF_WIDTH = 900  # the compare tab's map (SVG), pixels

# ---------------------------------------------------------------------------------------- state
_DEFAULTS = {
    "lang": "zh",
    "source": None,  # planner.study.NetworkSource (None: the demo)
    "layers": [],  # list of (role, planner.study.Layer): the uploads, in order
    "seen_uploads": set(),  # (file id, kind, options) of uploads already handled
    "messages": [],  # (level, key, values, error-or-None, toast): rendered in the current language
    "proposals": [],  # list[planner.store.Site]
    "proposals_for": None,  # study key the proposals belong to
    "handled_click": None,
    "click_added": None,  # site id of the latest click, until its message was shown once
    "siting": None,  # (study key, type, SitingResult)
}
for _k, _v in _DEFAULTS.items():
    if _k not in st.session_state:
        st.session_state[_k] = _v.copy() if isinstance(_v, (list, set, dict)) else _v


def L(key: str, **values) -> str:
    """UI text in the chosen language."""
    return t(key, st.session_state.get("lang", "zh"), **values)


def lang() -> str:
    return st.session_state.get("lang", "zh")


def say(level: str, key: str, error: PlannerError | None = None, *, toast: bool | None = None, **values) -> None:
    """Queue a message for the next rendering (shown once, in whatever language is chosen then).

    Confirmations (success/info, or ``toast=True``) become toasts, which take no room on the page;
    errors and warnings go to the fixed message slot above the statistics. String ``values`` (file, facility,
    zone and scenario names) and the error's message are escaped for markdown when shown (``app.text``).
    """
    toast = level in ("success", "info") if toast is None else toast
    st.session_state["messages"].append((level, key, values, error, toast))


def choose(where, widget: str, label: str, options: list, *, key: str, fmt, default=None, **kw):
    """A selectbox or radio whose option labels follow the language, keeping its choice across a switch.

    Streamlit matches a selection by its displayed label, so a label that changes with the language
    would lose (or garble) the choice. The widget therefore gets one key per language, and the raw
    choice is kept in ``st.session_state[key]``.
    """
    lg = lang()
    wkey = f"{key}__{lg}"
    current = st.session_state.get(key, default)
    if wkey not in st.session_state:
        kw["index"] = options.index(current) if current in options else (options.index(default) if default in options else 0)
    elif st.session_state[wkey] not in options:
        del st.session_state[wkey]
        kw["index"] = options.index(current) if current in options else 0
    value = getattr(where, widget)(label, options, key=wkey, format_func=lambda v: fmt(v, lg), **kw)
    st.session_state[key] = value
    return value


def set_choice(key: str, value) -> None:
    """Set a :func:`choose` widget's choice from code (a loaded scenario or study), before it is drawn."""
    st.session_state[key] = value
    for lg in LANGS:
        st.session_state.pop(f"{key}__{lg}", None)


def pick_type(value: str) -> None:
    """Select a facility type from a callback (e.g. loading a scenario), before the selector is drawn."""
    set_choice("type_key", value)


_TOAST_ICONS = {"success": ":material/check_circle:", "info": ":material/info:", "warning": ":material/warning:",
                "error": ":material/error:"}  # bundled icons: emoji may be missing from the fonts


def show_messages(box) -> None:
    """Show the queued messages once: toasts, and errors/warnings in ``box`` (a slot that always exists)."""
    for level, key, values, error, toast in st.session_state["messages"]:
        text = L(key, **md_values(values))  # user text (file names, row values) shows as written
        if error is not None:
            text = text + "\n\n" + md_error(error, lang())
        if toast:
            st.toast(text, icon=_TOAST_ICONS.get(level))
        else:
            getattr(box, level)(text)
    st.session_state["messages"] = []


# ---------------------------------------------------------------------------------------- cached computation
@st.cache_resource(show_spinner=False, ttl=3600)
def pruned_uploads() -> int:
    """Uploads not uploaded again for a day are removed, once an hour per server process (the files live
    sessions use now are refreshed on every upload, so they are younger than that)."""
    return len(uploads.prune_uploads(max_age_s=86400.0))


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_base(source):
    """A network source opened once per server (demo, file or place); its compiled network is shared and never mutated."""
    from planner.study import open_base

    return open_base(source, facilities=source.demo or bool(source.facilities))


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_study(_base, spec):
    """The study of ``spec`` built by the one builder (``planner.study.build_study``) on the cached source."""
    from planner.study import build_study

    return build_study(spec, base=_base)


def current_source():
    src = st.session_state["source"]
    return src if src is not None else ss.app_source(demo=True)


def source_key(src) -> str:
    """``demo``, ``file:<path>`` or ``place:<name>`` (keys the map view and the scenario store's area)."""
    if src.demo:
        return "demo"
    return "file:" + src.path if src.path is not None else "place:" + src.place


def current_spec(layers=None):
    """The study the widgets describe (source, uploaded layers, goals)."""
    return ss.app_spec(current_source(), st.session_state["layers"] if layers is None else layers,
                       st.session_state.get("goals"), template=st.session_state.get("opened_spec"))


@st.cache_resource(show_spinner=False, max_entries=12)  # a Pudong-sized run holds ~70 MB: 12 of them stay under 1 GB
def cached_run(_study, key: str, type_keys: tuple | None, isochrones: str, surface: bool = False):
    """``planner.coverage`` (the study's goals) cached on its inputs (``key`` hashes the study); ``surface``: also the
    minutes-to-nearest image of the types (the map's gap view, no feature cap)."""
    from planner.scenario import coverage

    keys = list(type_keys) if type_keys else None
    return coverage(_study, types=keys, isochrones=isochrones, surface_types="all" if surface else None)


def base_study():
    """The opened network source of the chosen area (cached); returns (base, key)."""
    src = current_source()
    return cached_base(src), source_key(src)


# ---------------------------------------------------------------------------------------- sidebar
def sidebar(types) -> dict:
    sb = st.sidebar
    sb.radio(L("language"), LANGS, key="lang", horizontal=True, format_func=lambda v: "中文" if v == "zh" else "English")
    sb.html(uploads.uploader_css(lang()))  # the uploaders' own English words, in Chinese mode put into Chinese
    sb.header(L("area_header"))
    kinds = ["demo", "upload", "cached", "place"]
    names = {"demo": "src_demo", "upload": "src_upload", "cached": "src_cached", "place": "src_place"}
    kind = choose(sb, "radio", L("area_source"), kinds, key="area_kind", fmt=lambda k, lg: t(names[k], lg))
    if kind == "demo" and not current_source().demo:
        set_source(ss.app_source(demo=True))
    elif kind == "upload":
        up = sb.file_uploader(L("upload_network"), key="up_network")
        if up is not None and ("network", up.file_id) not in st.session_state["seen_uploads"]:
            st.session_state["seen_uploads"].add(("network", up.file_id))
            try:
                path = uploads.save_upload(up.name, up.getvalue(), kind="network")
                src = ss.app_source(path=path)
                with st.spinner(L("loading_network")):
                    cached_base(src)
                set_source(src)
            except PlannerError as exc:
                say("error", "upload_rejected", exc, file=uploads.safe_filename(up.name))
            except Exception as exc:  # a user's file must never take the page down
                logger.exception("reading the network upload %s failed", up.name)
                say("error", "upload_failed", file=uploads.safe_filename(up.name), err=f"{type(exc).__name__}: {exc}"[:300])
    elif kind == "cached":
        from planner.network import default_cache_dir

        files = uploads.compiled_networks()
        if not files:
            sb.info(L("cached_none", folder=md_escape(default_cache_dir())))
        else:
            pick = sb.selectbox(L("cached_pick"), [str(p) for p in files], format_func=lambda p: p.rsplit("/", 1)[-1])
            if pick and current_source().path != pick:
                try:
                    src = ss.app_source(path=pick)
                    with st.spinner(L("loading_network")):
                        cached_base(src)
                    set_source(src)
                except PlannerError as exc:
                    say("error", "err_title", exc)
    elif kind == "place":
        place = sb.text_input(L("place_name"), key="place_name")
        if sb.button(L("place_fetch"), key="place_fetch") and place.strip():
            bar = sb.progress(0.0, text=L("fetching"))
            try:
                ss.place_study(place.strip(), progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
                set_source(ss.app_source(place=place.strip()))
            except OfflineError as exc:
                say("error", "offline", msg=exc.message(lang()))
            except PlannerError as exc:
                say("error", "err_title", exc)
            finally:
                bar.empty()

    sb.header(L("layers_header"))
    sb.caption(L("upload_limit", mb=uploads.max_upload_mb()))
    coords = choose(sb, "selectbox", L("coords"), ["wgs84", "gcj02", "bd09"], key="coords",
                    fmt=lambda c, lg: t("coords_" + c, lg))
    skip = sb.checkbox(L("skip_invalid"), key="skip_invalid")
    default_type = choose(sb, "selectbox", L("fac_default_type"), list(types), key="fac_default_type",
                          fmt=lambda k, lg: types[k].label(lg))
    fac = sb.file_uploader(L("fac_upload"), key=upload_key("up_facilities"))
    if fac is not None:
        add_layer(fac, "facilities", coords=coords, skip_invalid=skip, default_type=default_type,
                  columns=tools.mapping_for("facilities", fac))
    demand_kind = choose(sb, "radio", L("demand_source"), ["default", "file"], key="demand_kind",
                         fmt=lambda k, lg: t("demand_default" if k == "default" else "demand_file", lg))
    if demand_kind == "file":
        dem = sb.file_uploader(L("demand_upload"), key=upload_key("up_demand"))
        if dem is not None:
            add_layer(dem, "demand", coords=coords, skip_invalid=skip, columns=tools.mapping_for("demand", dem))
    elif any(role == "demand" for role, _ in st.session_state["layers"]):
        st.session_state["layers"] = [(r, lf) for r, lf in st.session_state["layers"] if r != "demand"]
    areas = sb.file_uploader(L("areas_upload"), key=upload_key("up_areas"))
    if areas is not None:
        add_layer(areas, "areas", coords=coords)
    tools.column_mapping_dialog(sb)  # a file whose columns were not recognised: pick them
    if st.session_state["layers"]:
        sb.caption(L("loaded_files", files=md_escape(", ".join(lf.label for _, lf in st.session_state["layers"]))))
        if sb.button(L("reset_layers"), key="reset_layers"):
            st.session_state["layers"] = []
            clear_uploaders()
            st.rerun()  # redraw the uploaders empty
    SLOTS["rejected"] = sb.empty()  # filled once the study is built (main)

    sb.header(L("speed_header"))
    speed_kind = choose(sb, "radio", L("speed_pick"), ["walk", "elderly", "custom"], key="speed_kind",
                        fmt=lambda k, lg: t("speed_" + k, lg, walk=types.speeds["walk"], elderly=types.speeds["elderly"]))
    custom = sb.number_input(L("speed_custom"), 1.0, 30.0, float(types.speeds["walk"]), step=0.1, key="speed_custom") \
        if speed_kind == "custom" else None
    set_speed(speed_kind, custom)

    sb.header(L("study_header"))
    from planner.study import study_toml

    sb.download_button(L("study_download"), study_toml(current_spec()).encode("utf-8"), file_name="study.toml",
                       mime="application/toml", key="study_download")
    up = sb.file_uploader(L("study_upload"), type=["toml"], key="up_study")
    if up is not None and ("study", up.file_id) not in st.session_state["seen_uploads"]:
        st.session_state["seen_uploads"].add(("study", up.file_id))
        open_study_text(up.getvalue(), uploads.safe_filename(up.name))

    sb.header(L("view_header"))
    from maps.basemaps import BASEMAPS

    basemap = choose(sb, "selectbox", L("basemap"), list(BASEMAPS), key="basemap", fmt=lambda k, lg: BASEMAPS[k].label(lg))
    SLOTS["show_iso"] = sb.empty()  # filled once the network's size is known (main)
    return {"basemap": basemap}


def open_study_text(data: bytes, name: str, base_dir=None) -> None:
    """Open a study file: its network, layers and goals replace the current ones (relative paths: ``base_dir``,
    else the folder the app was started in)."""
    from planner.study import read_study_text

    try:
        spec = read_study_text(data, name=name, base_dir=base_dir)
        src = spec.network  # as the file says: the app adds no rule of its own
        cached_study(cached_base(src), spec)  # a bad file fails here, before anything changes
    except PlannerError as exc:
        say("error", "study_rejected", exc, file=name)
        return
    set_source(src)
    st.session_state["opened_spec"] = spec
    st.session_state["layers"] = ss.spec_layers(spec)
    st.session_state["goals"] = spec.goals
    set_choice("demand_kind", "file" if spec.demand is not None else "default")
    set_choice("speed_kind", "custom" if spec.goals.speed_kmh else ("elderly" if spec.goals.profile == "elderly" else "walk"))
    if spec.goals.speed_kmh:
        st.session_state["speed_custom"] = float(spec.goals.speed_kmh)
    set_choice("area_kind", "demo" if src.demo else ("place" if src.place else "upload"))
    if spec.goals.types:
        from planner.config import load_facility_types

        pick_type(load_facility_types().get_type(spec.goals.types[0]).key)
    say("success", "study_opened", file=name)


def draft_name(base_key: str) -> str:
    """The automatic draft scenario of one study area (one per area, overwritten as the proposals change)."""
    return f"草稿 draft · {ss.area_key(base_key)}"[:100]


def save_draft(base_key: str, type_key: str | None = None) -> str | None:
    """Keep the session's proposals in the scenario store as the area's draft, so a reload, a crash or a
    switch of area loses nothing; returns the draft's name (None when there is nothing to keep)."""
    props = st.session_state["proposals"]
    store = scenario_store()
    if store is None:
        return None
    from planner.store import Scenario

    name = draft_name(base_key)
    key = (base_key, tuple(props), type_key)
    if st.session_state.get("draft_saved") == key:
        return name
    try:
        if props:
            store.save(Scenario(name=name, area_key=ss.area_key(base_key), type_key=type_key or props[-1].type,
                                sites=tuple(props), notes="automatic draft / 自动保存的草稿"), overwrite=True)
        elif any(i.name == name for i in store.list()):
            store.delete(name)
    except PlannerError as exc:  # the draft is a safety net: never take the page down for it
        logger.warning("could not save the draft scenario: %s", exc.message("en"))
        return None
    st.session_state["draft_saved"] = key
    return name if props else None


def upload_key(name: str) -> str:
    """The key of an uploader: a new key after the layers were cleared, so the widget lets go of its file."""
    gen = st.session_state.get("upload_gen", 0)
    return name if gen == 0 else f"{name}_{gen}"


def clear_uploaders() -> None:
    """Empty the layer uploaders (they would otherwise keep showing files that are no longer loaded)."""
    st.session_state["upload_gen"] = st.session_state.get("upload_gen", 0) + 1
    st.session_state["seen_uploads"] = {x for x in st.session_state["seen_uploads"] if x[1] in ("network", "study")}


def set_speed(kind: str, custom: float | None) -> None:
    """The walking-speed choice as the study's goals (normal, elderly or a custom km/h; the goal minutes stay)."""
    from planner.study import Goals

    goals = st.session_state.get("goals") or Goals()
    want = replace(goals, profile="elderly" if kind == "elderly" else None,
                   speed_kmh=float(custom) if kind == "custom" and custom else None)
    if want != goals:
        st.session_state["goals"] = want


def set_source(src) -> None:
    """Switch the study area: uploaded layers, proposals and the optimisation belong to the old one.

    Unsaved proposals are kept as the old area's draft scenario first, and the planner is told where.
    """
    old = current_source()
    if st.session_state["proposals"] and src != old:
        name = save_draft(source_key(old))
        if name:
            say("warning", "draft_kept", n=len(st.session_state["proposals"]), name=name, toast=True)
    st.session_state["source"] = src
    st.session_state["layers"] = []
    clear_uploaders()
    st.session_state["opened_spec"] = None  # an opened study file described the old source
    st.session_state["goals"] = None
    st.session_state["proposals"] = []
    st.session_state["siting"] = None
    forget_click()


def add_layer(upload, kind: str, **options) -> None:
    """Store an upload safely and add it as a layer, unless reading it fails (then say why, in full).

    An upload is read again when its reading options change (coordinate system, skipping invalid
    rows, default type), so ticking 跳过有误的行 after a refusal loads the file.
    """
    handled = (upload.file_id, kind, tuple(sorted(options.items())))
    if handled in st.session_state["seen_uploads"]:
        return
    st.session_state["seen_uploads"].add(handled)
    name = uploads.safe_filename(upload.name)
    path = None
    try:
        path = uploads.save_upload(upload.name, upload.getvalue(), kind=kind)
        lf = Layer(str(path), coords=options.get("coords"), type=options.get("default_type"),
                   skip_invalid=bool(options.get("skip_invalid")), name=name, columns=options.get("columns"))
        # a facility file replaces the same file read with other options; demand and areas replace their role
        others = [(r, x) for r, x in st.session_state["layers"] if not (r == kind and (kind != "facilities" or x.path == lf.path))]
        layers = others + [(kind, lf)]
        with st.sidebar.spinner(L("reading_upload", file=md_escape(name))):
            base, _ = base_study()
            study = cached_study(base, current_spec(layers))  # raises PlannerError on a bad file
    except PlannerError as exc:
        if path is not None and tools.offer_mapping(kind, upload, path, exc):
            say("warning", "colmap_needed", file=name)
            return
        codes = {p.code for p in exc.problems}
        if "outside_study_area" in codes and codes <= {"outside_study_area", "coords_hint"} \
                and not options.get("skip_invalid"):
            n = sum(p.code == "outside_study_area" for p in exc.problems)
            say("error", "outside_only", file=name, n=n, m=ss.OUTSIDE_TOLERANCE_M)
        say("error", "upload_rejected", exc, file=name)
        return
    except Exception as exc:  # a user's file must never take the page down
        logger.exception("reading the upload %s (%s) failed", upload.name, kind)
        say("error", "upload_failed", file=name, err=f"{type(exc).__name__}: {exc}"[:300])
        return
    st.session_state["layers"] = layers
    inputs = (study.meta or {}).get("inputs", {})
    entries = inputs.get("facilities", []) if kind == "facilities" else [inputs.get(kind, {})]
    n = next((e["rows"] for e in entries if e.get("file") == name), 0)
    say("success", "upload_ok", file=name, n=n)


# ---------------------------------------------------------------------------------------- main
def pct(x: float) -> str:
    return "–" if x is None or x != x else f"{x * 100:.1f}%"


def startup_study() -> None:
    """Open the study given at start-up, once per session: ``streamlit run streamlit_app.py -- --study FILE``
    (or ``PLANNER_STUDY=FILE``), so a district's IT staff can set the page up once for its planners."""
    if st.session_state.get("startup_study_done"):
        return
    st.session_state["startup_study_done"] = True
    import argparse
    import os
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--study")
    path = parser.parse_known_args(sys.argv[1:])[0].study or os.environ.get("PLANNER_STUDY")
    if not path:
        return
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        say("error", "study_rejected", PlannerError(f"{p}: {exc.strerror}", f"{p}：{exc.strerror}"), file=p.name)
        return
    open_study_text(data, p.name, base_dir=p.resolve().parent)


def main() -> None:
    from planner.config import default_types

    pruned_uploads()
    startup_study()
    opts = sidebar(default_types())
    # map first: a compact header (title, type and headline on two short rows) so the map starts high on the page
    st.markdown("<style>.block-container{padding-top:2.2rem}</style>", unsafe_allow_html=True)
    st.markdown(f"### {L('page_title')}")

    with st.spinner(L("computing")):
        try:
            base, base_key = base_study()
        except PlannerError as exc:
            say("error", "err_title", exc)
            set_source(ss.app_source(demo=True))
            base, base_key = base_study()
        try:
            study = cached_study(base, current_spec())
        except Exception as exc:  # e.g. a layer file changed on disk: drop the layers, keep the page
            logger.exception("applying the uploaded layers failed")
            if isinstance(exc, PlannerError):
                say("error", "err_title", exc)
            else:
                say("error", "upload_failed", file=", ".join(lf.label for _, lf in st.session_state["layers"]),
                    err=f"{type(exc).__name__}: {exc}"[:300])
            st.session_state["layers"] = []
            study = cached_study(base, current_spec())
    notes = study.notes
    st.session_state["rejected"] = rejected = study.rejected
    if rejected is not None and len(rejected):
        # what "skip invalid rows" set aside, as a file to fix and load again
        SLOTS["rejected"].download_button(
            L("rejected_download", n=len(rejected)), export.csv_bytes(rejected), file_name="rejected_rows.csv",
            mime="text/csv", key="rejected_download")
    skey = ss.study_key(study, base_key, tuple(st.session_state["layers"]), st.session_state.get("goals"))
    if st.session_state["proposals_for"] != skey:
        # new layers: the proposals stay and are re-evaluated against them; an optimisation was of the old study
        st.session_state["siting"] = None
        st.session_state["proposals_for"] = skey
    st.caption(md_escape(ss.study_label(study, lang())))
    # Fixed slots: the number of elements above the tabs and the map never changes between runs
    # (Streamlit would otherwise re-create the tabs and jump back to the first one).
    msg_box = st.container()
    with msg_box:
        for note in notes:
            st.warning(L("warning", msg=md_escape(note.message(lang()))))

    types = study.types
    present = [k for k in types if (study.facilities["type"] == k).any()] if len(study.facilities) else []
    options = present or list(types)
    top = st.columns([2.2, 1.3, 1.0, 1.1], vertical_alignment="bottom")
    type_key = choose(top[0], "selectbox", L("type_pick"), options, key="type_key", fmt=lambda k, lg: types[k].label(lg))
    ftype = types[type_key]

    # the map's last click (st_folium copies it into st.session_state["map"]; tests set it there too)
    handle_click(type_key, opts["basemap"], study)
    proposals = st.session_state["proposals"]
    scenario = ss.with_proposals(study, proposals)
    scen_key = ss.study_key(scenario, base_key, tuple(st.session_state["layers"]), st.session_state.get("goals"))
    st.session_state["scen_key"] = scen_key

    base_res = res = None
    with st.spinner(L("computing")):
        try:
            # the type in view only (a Pudong-sized study computes one type in seconds, not all eleven):
            # the what-if's baseline and, while no site of the type is proposed, the map's run too
            iso = "dissolved" if isochrones_on(study) else "none"
            base_res = cached_run(study, skey, (type_key,), iso, True) if type_key in present else None
            st.session_state["summary"] = base_res.summary if base_res is not None else None
            tracker = whatif_tracker(base_res, skey, type_key) if base_res is not None else None
            headline(study, base_res, type_key, tracker, top[1:])
            if any(p.type == type_key for p in proposals):
                res = cached_run(scenario, scen_key, (type_key,), iso, True)
            else:
                res = base_res
        except PlannerError as exc:
            msg_box.error(md_error(exc, lang()))
            res = None
    show_messages(msg_box)

    # map first: the full width of the page; statistics and the planner's tools side by side under it
    tools.map_hint(ftype.label(lang()))
    spec = map_spec(scenario, res, type_key, opts)
    spec.update(tools.map_layers(study, tools.current_route(res, type_key)))
    spec["access"] = access_view.map_overlay(study, skey, type_key)  # the access tab's layers, when shown
    draw_map(spec, study, base_key)
    tools.route_caption(st.container(), ftype.label(lang()))
    col_stats, col_tools = st.columns([1, 1], gap="large")
    SLOTS["diff"] = st.container()  # the compare tab's difference map, the page's full width under both columns
    with col_stats:
        stats_panel(res, type_key, base_res, scenario, scen_key, study, skey)

    tabs = col_tools.tabs([L("propose_header"), L("optimise_header"), L("reloc_header"), L("scen_header"),
                           L("export_header"), L("access_header")])
    with tabs[0]:
        proposals_panel(types)
    with tabs[1]:
        optimise_panel(scenario, scen_key, type_key)
    with tabs[2]:
        relocate_panel(scenario, scen_key, type_key)
    with tabs[3]:
        scenarios_panel(study, skey, base_key, type_key, res, opts)
    with tabs[4]:
        export_panel(res, scenario, type_key, spec)
    with tabs[5]:
        access_view.render(study, skey, type_key)
    save_draft(base_key, type_key)  # after every change: a reload or a crash loses no proposal


#: Above this many street nodes, isochrone polygons are drawn on request (the minutes surface shows every
#: place at any size; a Pudong-sized type's bands cost seconds to trace and draw on every type switch).
ISO_AUTO_NODES = int(os.environ.get("PLANNER_ISO_AUTO_NODES", "300000"))


def isochrones_on(study) -> bool:
    """The isochrone checkbox in the sidebar: on by default for a district-sized network, on request beyond."""
    large = study.networks["walk"].n_nodes > ISO_AUTO_NODES
    on = SLOTS["show_iso"].checkbox(L("show_iso_large") if large else L("show_iso"), value=not large, key="show_iso")
    return bool(on)


def whatif_tracker(base_res, skey: str, type_key: str):
    """The session's incremental what-if for the chosen type, synced to the proposal list."""
    key = (skey, type_key)
    tr = st.session_state.get("whatif")
    if tr is None or st.session_state.get("whatif_key") != key:
        tr = ss.WhatIfTracker(base_res, type_key)
        st.session_state["whatif"] = tr
        st.session_state["whatif_key"] = key
    deltas = tr.sync(st.session_state["proposals"])
    added = st.session_state.get("click_added")
    if added is not None:
        # the message of a click, shown once (accepting optimised sites says so itself)
        for d in deltas:
            if d.site_id == added:
                st.toast(L("added_site", id=md_escape(d.site_id), before=pct(d.share_before), after=pct(d.share_after),
                           gain=f"{d.newly_covered:,.0f}", ms=d.seconds * 1000), icon=":material/add_location:")
        st.session_state["click_added"] = None
    return tr


def handle_click(type_key: str, basemap: str, study) -> None:
    """Turn a new map click into a proposed site of the chosen type (GCJ-02 clicks converted back)."""
    value = st.session_state.get("map") or {}
    click = value.get("last_clicked") if isinstance(value, dict) else None
    if not click:
        return
    pos = (round(float(click["lat"]), 7), round(float(click["lng"]), 7))
    if st.session_state["handled_click"] == pos:
        return
    st.session_state["handled_click"] = pos
    lat, lon = pos
    from maps.basemaps import needs_gcj02

    if needs_gcj02(basemap):
        from planner.coords import gcj02_to_wgs84

        x, y = gcj02_to_wgs84([lon], [lat])
        lon, lat = float(x[0]), float(y[0])
    if not in_study_area(study, lon, lat):
        say("warning", "click_outside", toast=True)
        return
    if tools.route_mode():  # the walking route from there, instead of a site
        st.session_state["route_at"] = (lon, lat)
        return
    if st.session_state.get("click_mode") == "move":  # the relocation tab picks the new place by clicking
        st.session_state["reloc_target"] = (lon, lat)
        return
    zone = study.exclusion_at(lon, lat)
    if zone is not None:
        say("warning", "click_excluded", toast=True, zone=zone)
        return
    props = st.session_state["proposals"]
    sid = ss.next_site_id(props)
    props.append(Site(sid, lon, lat, type_key, "click"))
    st.session_state["click_added"] = sid


def in_study_area(study, lon: float, lat: float) -> bool:
    """Whether a point lies in the study area (the network's extent, with a street's width to spare)."""
    import shapely

    area = ss.study_area(study)
    return bool(shapely.contains_xy(area.buffer(0.002), lon, lat))


def headline(study, base_res, type_key: str, tracker, cols) -> None:
    """The coverage share, the facility count and the planner's goal, in the three columns beside the type."""
    ftype = study.types[type_key]
    goal_share = st.session_state.get("goal_share", 100.0) / 100.0
    c1, c2, c4 = cols
    if tracker is None:
        c1.metric(L("headline", minutes=ftype.target_minutes), "–")
        return
    share = tracker.share
    delta = share - tracker.baseline_share
    c1.metric(L("headline", minutes=ftype.target_minutes), pct(share),
              delta=(L("pp", v=f"{delta * 100:+.1f}") if abs(delta) > 1e-12 else None), help=L("delta_help"))
    c1.caption(L("headline_text", minutes=ftype.target_minutes, share=pct(share), goal=pct(goal_share)))
    s = base_res.summary["types"][type_key]
    c2.metric(L("facilities_count"), f"{s['facilities']}" + (f" + {sum(p.type == type_key for p in st.session_state['proposals'])}"
                                                                if st.session_state["proposals"] else ""))
    st.session_state["headline_share"] = share  # read by tests
    c4.number_input(L("goal_share"), 0.0, 100.0, value=100.0, step=5.0, key="goal_share")


def stats_panel(res, type_key: str, base_res, scenario, scen_key: str, study, skey: str) -> None:
    st.subheader(L("stats_header"))
    h = table_headers(lang())
    if res is None:
        st.info(L("no_facilities_of_type", type=md_escape(scenario.types[type_key].label(lang()))))
    else:
        s = ss.type_stats(res, type_key)
        c1, c2 = st.columns(2)
        c1.metric(L("mean_minutes"), L("minutes_unit", v=f"{s['mean_minutes']:.1f}"))
        c2.metric(L("p90_minutes"), L("minutes_unit", v=f"{s['p90_minutes']:.1f}"))
        if scenario.demand.is_proxy:
            st.caption(L("proxy_note"))
        if scenario.meta.get("synthetic"):
            st.caption(L("synthetic_note"))
        bands = ss.bands_frame(res, type_key, lang())
        st.markdown(f"**{L('bands_chart')}**")
        chart = bands.rename(columns={"band": h["band"], "demand": h["demand"]})
        st.bar_chart(chart, x=h["band"], y=h["demand"], sort=False, height=220)
        st.markdown(f"**{L('areas_table')}**")
        table = ss.areas_display(res, type_key, h)
        if len(table):
            st.dataframe(table, hide_index=True, width="stretch")
        else:
            st.caption(L("no_areas"))
        with st.expander(L("catch_header")):
            c = res.catchments(type_key)
            bands = c.attrs["bands"]
            shown = pd.DataFrame({L("catch_facility"): c["name"] + " (" + c["id"] + ")"})
            for i, (lo, hi) in enumerate(bands, start=1):
                shown[L("catch_band", lo=f"{lo:g}", hi=f"{hi:g}")] = c[f"band_{i}"].round(0)
            shown[L("catch_within")] = c["within_goal"].round(0)
            shown[L("catch_beyond")] = c["beyond_goal"].round(0)
            shown[h["mean_minutes"]] = c["mean_minutes"].round(1)
            st.dataframe(shown, hide_index=True, width="stretch")
    audit = (base_res.summary.get("network_audit") or {}).get("walk") if base_res is not None else None
    if audit:
        with st.expander(L("audit_header", kept=f"{audit.get('kept_total_km', 0):,.1f}",
                           dropped=f"{audit.get('dropped_total_km', 0):,.1f}")):
            rows = [{L("audit_rule"): rule, L("audit_class"): cls, L("audit_km"): round(km, 2)}
                    for rule, by_class in (audit.get("dropped_km") or {}).items() for cls, km in by_class.items()]
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            snapped = audit.get("demand_snapped_by_class") or {}
            if snapped:
                st.caption(L("audit_snapped", classes=md_escape(", ".join(f"{k} {v}" for k, v in
                                                                 sorted(snapped.items(), key=lambda kv: -kv[1])))))
    all_types_table(study, skey, type_key, res, scenario, h)


#: Above this many network nodes × facility types, the table of every type waits for the planner's request
#: (``PLANNER_ALL_TYPES_AUTO`` sets it for a server).
ALL_TYPES_AUTO = int(os.environ.get("PLANNER_ALL_TYPES_AUTO", "3000000"))


def all_types_table(study, skey: str, type_key: str, res, scenario, h) -> None:
    """Coverage of every facility type present: computed with the page on a district-sized study, on request
    on a larger one (eleven types on a million streets take tens of seconds)."""
    present = tuple(k for k in study.types if (study.facilities["type"] == k).any()) if len(study.facilities) else ()
    if not present:
        return
    st.markdown(f"**{L('all_types')}**")
    small = study.networks["walk"].n_nodes * len(present) <= ALL_TYPES_AUTO
    if not small and not st.session_state.get("all_types_on"):
        st.button(L("all_types_compute", n=len(present)), key="all_types_btn",
                  on_click=lambda: st.session_state.update(all_types_on=True))
        return
    with st.spinner(L("computing")):
        every = cached_run(study, skey, present, "none")
    rows = []
    for k, s in every.summary["types"].items():
        if res is not None and k == type_key:
            s = res.summary["types"][k]
        rows.append({"type": scenario.types[k].label(lang()), "target_minutes": s["target_minutes"],
                     "coverage_share": round(s["coverage_share"] * 100, 1), "facilities": s["facilities"],
                     "mean_minutes": round(s["mean_minutes"], 1), "p90_minutes": round(s["p90_minutes"], 1)})
    st.dataframe(pd.DataFrame(rows).rename(columns=h), hide_index=True, width="stretch")


def map_spec(scenario, res, type_key: str, opts: dict) -> dict:
    """Everything the main map is drawn from (cheap: the layers come from the cached run).

    The folium map itself is never kept: streamlit-folium rewrites a map's ids while rendering
    it, so the same object drawn twice shows nothing. :func:`build_map` makes a new one from
    this on every run and for the map.html export.
    """
    from planner.surface import street_raster

    fac = scenario.facilities
    existing = fac[(fac["type"] == type_key) & ~fac.get("proposed", pd.Series(False, index=fac.index)).fillna(False).astype(bool)] \
        if len(fac) else fac
    tracker = st.session_state.get("whatif")
    marginal = tracker.marginal if tracker is not None else {}
    props = ss.sites_frame([p for p in st.session_state["proposals"] if p.type == type_key], marginal)
    preview = None
    got = st.session_state.get("siting")
    if got and got[1] == type_key and got[0] == st.session_state.get("scen_key"):
        # optimised sites on the map before they are accepted, numbered as in the table
        sites = got[2].sites
        preview = pd.DataFrame({"id": [f"#{r}" for r in sites["rank"]], "rank": sites["rank"], "lon": sites["lon"],
                                "lat": sites["lat"], "marginal_demand": sites["marginal_demand"]})
    return dict(
        facilities=pd.DataFrame(existing[["id", "name", "type", "lon", "lat"]]) if len(existing)
        else pd.DataFrame(columns=["id", "name", "type", "lon", "lat"]),
        isochrones=res.isochrones if res is not None else None,
        gaps=res.gaps if res is not None else None,
        surfaces=res.surfaces if res is not None else None,
        areas=res.area_layer(type_key) if res is not None else None,
        proposals=props if len(props) else None,
        preview=preview,
        types=scenario.types, lang=lang(), basemap=opts["basemap"], title=ss.study_label(scenario, lang()),
        share_goal=goal_share(), streets=street_raster(scenario.networks["walk"]),  # kept on the shared network
    )


def goal_share() -> float:
    """The planner's coverage goal as a share (0.05-1)."""
    return min(max(float(st.session_state.get("goal_share", 100.0)) / 100.0, 0.05), 1.0)


def build_map(spec: dict):
    """A new folium map from :func:`map_spec`."""
    from maps.build import coverage_map

    return coverage_map(**spec)


def _content_key(spec: dict) -> str:
    """What the map shows (changes give a new map frame): hashed from its inputs."""
    import hashlib

    h = hashlib.sha256()
    for k in ("facilities", "proposals", "preview", "candidates"):
        v = spec.get(k)
        if v is not None and len(v):
            h.update(pd.util.hash_pandas_object(v.astype(str), index=False).values.tobytes())
    h.update(repr(spec.get("route") and spec["route"]["lonlat"].tolist()).encode())
    for k in ("isochrones", "gaps", "areas", "surfaces", "exclusions"):
        v = spec.get(k)
        h.update(f"{k}:{id(v)}:{0 if v is None else len(v)}".encode())
    h.update(repr((spec["lang"], spec["basemap"], spec["title"], spec["share_goal"])).encode())
    h.update(str((spec.get("access") or {}).get("key")).encode())
    return h.hexdigest()


def _view_of(value) -> tuple | None:
    """``((lat, lon), zoom)`` reported by the map, or None."""
    if not isinstance(value, dict):
        return None
    c, z = value.get("center"), value.get("zoom")
    try:
        return (float(c["lat"]), float(c["lng"])), int(z)
    except (TypeError, KeyError, ValueError):
        return None


def draw_map(spec: dict, study, base_key: str) -> None:
    """The main map, opened where the planner was looking.

    The map reports its zoom and centre (a pan or zoom reruns the script, which recomputes
    nothing: every result is cached). The view is handed back to streamlit-folium only when
    the map's content changed (a new frame is drawn); otherwise the same values as before go
    out, so the frontend leaves the user's view alone.
    """
    from maps.st_map import fit_view, show_map

    content = _content_key(spec)
    sent = st.session_state.get("map_view_sent")
    if sent is None or sent[0] != base_key:
        lon0, lat0, lon1, lat1 = study.networks["walk"].bounds_lonlat
        center, zoom = fit_view([[lat0, lon0], [lat1, lon1]], width=MAP_WIDTH, height=MAP_HEIGHT)
        sent = (base_key, center, zoom, content)
    elif sent[3] != content:
        view = _view_of(st.session_state.get("map"))
        center, zoom = view if view is not None else (sent[1], sent[2])
        sent = (base_key, center, zoom, content)
    st.session_state["map_view_sent"] = sent
    # the map's HTML opens on the same view streamlit-folium then keeps: no frame shows another place first
    # no spinner here: one above the map would move it down while it is drawn, and a click would land off target
    show_map(build_map({**spec, "view": (sent[1], sent[2])}), height=MAP_HEIGHT, key="map", center=sent[1], zoom=sent[2],
             returned_objects=("last_clicked", "zoom", "center"))


def proposals_panel(types) -> None:
    props = st.session_state["proposals"]
    if not props:
        st.info(L("proposals_none"))
        return
    tracker = st.session_state.get("whatif")
    marginal = tracker.marginal if tracker is not None else {}
    for p in list(props):
        c1, c2, c3 = st.columns([3, 4, 1])
        c1.write(f"**{md_escape(p.id)}** · {md_escape(types[p.type].label(lang()))} · {L('src_click' if p.origin == 'click' else 'src_optimise')}")
        gain = marginal.get(p.id)
        c2.write(f"{p.lon:.5f}, {p.lat:.5f}" + (f" · {L('h_marginal')}: {gain:,.0f}" if gain is not None else ""))
        if c3.button(L("remove"), key=f"rm_{p.id}"):
            remove_site(p.id)
            st.rerun()
    if st.button(L("remove_all"), key="rm_all"):
        st.session_state["proposals"] = []
        forget_click()
        st.rerun()


def remove_site(site_id: str) -> None:
    st.session_state["proposals"] = [p for p in st.session_state["proposals"] if p.id != site_id]
    forget_click()


def forget_click() -> None:
    """After removing sites: the same spot can be clicked again (the last click is consumed, not remembered)."""
    value = st.session_state.get("map")
    if isinstance(value, dict) and value.get("last_clicked"):
        st.session_state["map"] = {**value, "last_clicked": None}  # "map" is a copy, not the widget's own key
    st.session_state["handled_click"] = None
    st.session_state["click_added"] = None


def optimise_panel(scenario, scen_key: str, type_key: str) -> None:
    from planner.siting import propose_study

    before = list(st.session_state["layers"])
    tools.siting_layers_panel(scenario, add_layer, upload_key, st.session_state.get("coords", "wgs84"))
    if st.session_state["layers"] != before:
        st.rerun()  # the new layer is part of the study: draw it and optimise with it
    c1, c2, c3 = st.columns(3)
    mode = choose(c1, "radio", L("opt_mode"), ["count", "target"], key="opt_mode",
                  fmt=lambda k, lg: t("opt_count" if k == "count" else "opt_target", lg))
    if mode == "count":
        n = c2.number_input(L("opt_n"), 1, 500, 10, key="opt_n")
    else:
        # the same goal as the headline's 覆盖率目标 (one goal on the page)
        x = c2.number_input(L("opt_x"), 1.0, 100.0, float(st.session_state.get("goal_share", 100.0)), step=1.0, key="opt_x")
    # auto (the default, as on the command line): greedy improved by local search, then HiGHS within 10 s,
    # with the proven gap; greedy alone is the quick look, exact the long proof
    method = choose(c3, "radio", L("opt_method"), ["auto", "greedy", "exact"], key="opt_method",
                    fmt=lambda k, lg: t("opt_" + k, lg), default="auto")
    if st.button(L("opt_run"), key="opt_run", type="primary"):
        bar = st.progress(0.05, text=L("opt_running"))
        try:
            kw = {"count": int(n)} if mode == "count" else {"target_share": float(x) / 100.0}
            result = propose_study(scenario, type_key, method=method, time_limit_s=10.0 if method == "auto" else 30.0, **kw)
            exact = greedy = None
            if method == "greedy":
                # say how far greedy is from the optimum when HiGHS proves it quickly
                bar.progress(0.6, text=L("opt_checking_exact"))
                try:
                    exact = propose_study(scenario, type_key, method="exact", time_limit_s=10.0, **kw)
                except PlannerError:
                    exact = None
            elif method == "auto":  # what the quick greedy answer would have been, for the planner to see the gain
                greedy = propose_study(scenario, type_key, method="greedy", **kw)
            st.session_state["siting"] = (scen_key, type_key, result, exact, greedy)
        except PlannerError as exc:
            st.error(md_error(exc, lang()))
        else:
            st.rerun()  # draw the optimised sites on the map (it was drawn above, before they existed)
        finally:
            bar.progress(1.0)
            bar.empty()
    got = st.session_state.get("siting")
    if not got:
        return
    key, tkey, result = got[:3]
    exact = got[3] if len(got) > 3 else None
    greedy = got[4] if len(got) > 4 else None
    if key != scen_key or tkey != type_key:
        st.caption(L("opt_stale"))
        return
    h = table_headers(lang())
    st.success(L("opt_result", n=len(result.sites), before=pct(result.share_before), after=pct(result.share_after),
                 method=method_label(result.method), secs=result.timings.get("total", 0.0)))
    if exact is not None and exact.gap <= 1e-6:
        if result.problem == "min_sites":
            st.info(L("opt_vs_exact_sites", greedy=len(result.sites), exact=len(exact.sites)))
        else:
            st.info(L("opt_vs_exact_share", greedy=pct(result.share_after), exact=pct(exact.share_after)))
    if greedy is not None:
        if result.problem == "min_sites":
            st.info(L("opt_vs_greedy_sites", greedy=len(greedy.sites), ours=len(result.sites)))
        else:
            st.info(L("opt_vs_greedy_share", greedy=pct(greedy.share_after), ours=pct(result.share_after)))
    gap = getattr(result, "gap", None)
    if result.method in ("auto", "exact") and gap is not None and gap == gap:  # a proven gap (not NaN)
        st.caption(L("opt_proven", gap=f"{max(float(gap), 0.0):.2%}"))
    st.caption(L("opt_on_map"))
    for en, zh in result.notes:
        st.caption(md_escape(en if lang() == "en" else zh))
    sites = result.sites[["rank", "lon", "lat", "marginal_demand", "cumulative_share"]].copy()  # numbered as on the map
    sites["cumulative_share"] = (sites["cumulative_share"] * 100).round(1)
    sites["marginal_demand"] = sites["marginal_demand"].round(0)
    st.markdown(f"**{L('opt_ranked')}**")
    st.dataframe(sites.rename(columns=h), hide_index=True, width="stretch", height=240)
    st.markdown(f"**{L('opt_curve')}**")
    curve = pd.DataFrame({L("h_new_sites_axis"): result.curve["new_sites"], L("h_curve_share"): result.curve["share"] * 100})
    st.line_chart(curve, x=L("h_new_sites_axis"), y=L("h_curve_share"), height=220)
    if len(result.areas):
        st.markdown(f"**{L('opt_areas')}**")
        a = result.areas[["name", "share_before", "share_after", "new_sites"]].copy()
        a[["share_before", "share_after"]] = (a[["share_before", "share_after"]] * 100).round(1)
        st.dataframe(a.rename(columns=h), hide_index=True, width="stretch")
    ranks = st.multiselect(L("opt_accept_pick"), list(result.sites["rank"]), default=list(result.sites["rank"]),
                           key=f"opt_pick_{id(result)}")
    b1, b2 = st.columns(2)
    if b1.button(L("opt_accept"), key="opt_accept"):
        accept(result, ranks, type_key)
    if b2.button(L("opt_accept_all"), key="opt_accept_all"):
        accept(result, list(result.sites["rank"]), type_key)


def relocate_panel(scenario, scen_key: str, type_key: str) -> None:
    """Move one facility (e.g. a centre's planned new address) and see coverage before and after, per subdistrict."""
    fac = scenario.facilities
    fac = fac[(fac["type"] == type_key) & ~fac.get("proposed", pd.Series(False, index=fac.index)).fillna(False).astype(bool)] \
        if len(fac) else fac
    if not len(fac):
        st.info(L("reloc_none"))
        return
    ids = fac["id"].astype(str).tolist()
    names = dict(zip(ids, fac["name"].astype(str)))
    fid = st.selectbox(L("reloc_pick"), ids, format_func=lambda i: f"{names[i]} ({i})", key="reloc_fac")
    row = fac[fac["id"].astype(str) == fid].iloc[0]
    access_view.relocate_best(scenario, scen_key, type_key, fid, names.get(fid, fid))  # the best place under an objective
    mode = st.toggle(L("reloc_click_mode"), key="reloc_click")
    st.session_state["click_mode"] = "move" if mode else "add"
    target = st.session_state.get("reloc_target")
    if target is not None and st.session_state.get("reloc_target_used") != target:
        st.session_state["reloc_target_used"] = target  # a click on the map fills the boxes once
        st.session_state[f"reloc_lon_{fid}"], st.session_state[f"reloc_lat_{fid}"] = target
        st.session_state["reloc_coords"] = "wgs84"
    c1, c2, c3 = st.columns(3)
    lon = c1.number_input(L("reloc_lon"), value=float(row["lon"]), format="%.6f", key=f"reloc_lon_{fid}")
    lat = c2.number_input(L("reloc_lat"), value=float(row["lat"]), format="%.6f", key=f"reloc_lat_{fid}")
    system = choose(c3, "selectbox", L("coords"), ["wgs84", "gcj02", "bd09"], key="reloc_coords",
                    fmt=lambda c, lg: t("coords_" + c, lg))
    if not st.button(L("reloc_run"), key="reloc_run", type="primary"):
        got = st.session_state.get("reloc")
        if not got or got[0] != (scen_key, type_key):
            return
        _, before, after, fid, where = got
    else:
        from planner.coords import to_wgs84

        x, y = to_wgs84([lon], [lat], system)
        where = (float(x[0]), float(y[0]))
        try:
            with st.spinner(L("computing")):
                moved = scenario.with_facility_moved(fid, *where)
                before = cached_run(scenario, scen_key, (type_key,), "none")
                after = cached_run(moved, ss.study_key(moved, scen_key, "moved", fid, where), (type_key,), "none")
        except PlannerError as exc:
            st.error(md_error(exc, lang()))
            return
        st.session_state["reloc"] = ((scen_key, type_key), before, after, fid, where)
    sb, sa = before.summary["types"][type_key], after.summary["types"][type_key]
    st.markdown(L("reloc_moved", name=md_escape(names.get(fid, fid)), lon=f"{where[0]:.5f}", lat=f"{where[1]:.5f}"))
    m1, m2, m3 = st.columns(3)
    m1.metric(L("reloc_share"), pct(sa["coverage_share"]), f"{(sa['coverage_share'] - sb['coverage_share']) * 100:+.1f} pp")
    m2.metric(L("mean_minutes"), L("minutes_unit", v=f"{sa['mean_minutes']:.1f}"),
              f"{sa['mean_minutes'] - sb['mean_minutes']:+.1f}", delta_color="inverse")
    m3.metric(L("reloc_covered"), f"{sa['demand_covered']:,.0f}", f"{sa['demand_covered'] - sb['demand_covered']:+,.0f}")
    if len(before.areas):
        a = before.areas[before.areas["type"] == type_key][["area_id", "name", "coverage_share"]]
        b = after.areas[after.areas["type"] == type_key][["area_id", "coverage_share"]]
        side = a.merge(b, on="area_id", suffixes=("_before", "_after"))
        table = pd.DataFrame({
            L("h_name_col"): side["name"].astype(str),
            L("reloc_before"): (side["coverage_share_before"] * 100).round(1),
            L("reloc_after"): (side["coverage_share_after"] * 100).round(1),
            L("reloc_delta"): ((side["coverage_share_after"] - side["coverage_share_before"]) * 100).round(1),
        })
        st.dataframe(table, hide_index=True, width="stretch")
    st.session_state["reloc_table"] = (sb, sa)


def method_label(method: str) -> str:
    """The siting method's name in the chosen language."""
    key = "method_" + str(method)
    try:
        return L(key)
    except KeyError:
        return str(method)


def accept(result, ranks, type_key: str) -> None:
    props = st.session_state["proposals"]
    chosen = result.sites[result.sites["rank"].isin(list(ranks))]
    for _, row in chosen.iterrows():
        props.append(Site(ss.next_site_id(props), float(row["lon"]), float(row["lat"]), type_key, "optimised"))
    st.session_state["siting"] = None
    say("success", "opt_accepted", n=len(chosen))
    st.rerun()


def scenario_store():
    """The local scenario store, or None when planner.store is not installed."""
    try:
        from planner.store import ScenarioStore
    except ImportError:
        return None
    return ScenarioStore()


def load_scenario(name: str) -> None:
    """Button callback (runs before the script, so it may set the type selector)."""
    try:
        sc = scenario_store().load(name)
    except PlannerError as exc:
        say("error", "err_title", exc)
        return
    st.session_state["proposals"] = list(sc.sites)
    st.session_state["scen_current"] = (sc.name, tuple(sc.sites))  # the exports are named after it
    forget_click()
    st.session_state["siting"] = None
    if sc.type_key:
        pick_type(sc.type_key)
    say("success", "scen_loaded", name=sc.name, n=len(sc.sites))


def scenarios_panel(study, skey: str, base_key: str, type_key: str, res, opts: dict) -> None:
    store = scenario_store()
    if store is None:
        st.info(L("scen_store_missing"))
        return
    from planner.compare import compare, headline
    from planner.store import Scenario

    akey = ss.area_key(base_key)
    saved = store.list(area_key=akey)
    taken = {i.name for i in store.list()}  # names are unique across study areas
    if st.session_state.pop("scen_name_next", False) or "scen_name" not in st.session_state:
        # a fresh name after a save: a second save never lands on the first by accident
        st.session_state["scen_name"] = free_scenario_name(taken)
        st.session_state.pop("scen_overwrite", None)
    c1, c2 = st.columns([3, 1])
    name = c1.text_input(L("scen_name"), key="scen_name")
    exists = name.strip() in taken
    overwrite = c1.checkbox(L("scen_overwrite"), key="scen_overwrite") if exists else False
    if c2.button(L("scen_save"), key="scen_save", type="primary"):
        if exists and not overwrite:
            st.warning(L("scen_exists", name=md_escape(name.strip())))
        else:
            try:
                sc = Scenario(name=name, area_key=akey, type_key=type_key, sites=tuple(st.session_state["proposals"]),
                              results=headline(res) if res is not None else None)
                store.save(sc, overwrite=exists and overwrite)
                st.session_state["scen_current"] = (sc.name, sc.sites)
                say("success", "scen_saved", name=name.strip())
                st.session_state["scen_name_next"] = True
                st.rerun()
            except PlannerError as exc:
                st.error(md_error(exc, lang()))
    if not saved:
        st.caption(L("scen_none"))
        return
    names = [i.name for i in saved]
    sizes = {i.name: i.n_sites for i in saved}
    pick = choose(st, "selectbox", L("scen_pick"), names, key="scen_pick",
                  fmt=lambda n, lg: f"{n} · {t('scen_sites', lg)} {sizes[n]}")
    b1, b2, b3 = st.columns(3)
    b1.button(L("scen_load"), key="scen_load", on_click=load_scenario, args=(pick,))
    if b2.button(L("scen_duplicate"), key="scen_dup"):
        new = pick + (" 副本" if lang() == "zh" else " copy")
        k = 2
        while new in store:
            new = f"{pick} {'副本' if lang() == 'zh' else 'copy'} {k}"
            k += 1
        try:
            store.duplicate(pick, new)
            say("success", "scen_duplicated", name=new)
            st.rerun()
        except PlannerError as exc:
            st.error(md_error(exc, lang()))
    if b3.button(L("scen_delete"), key="scen_delete"):
        store.delete(pick)
        say("success", "scen_deleted", name=pick)
        st.rerun()

    st.markdown(f"**{L('scen_compare')}**")
    options = ["__existing__", "__current__", *names]

    def label(v: str, lg: str | None = None) -> str:
        lg = lg or lang()
        return {"__existing__": t("scen_existing", lg), "__current__": t("scen_current", lg)}.get(v, v)

    c1, c2 = st.columns(2)
    a = choose(c1, "selectbox", L("scen_baseline"), options, key="cmp_a", fmt=label, default="__existing__")
    b = choose(c2, "selectbox", L("scen_proposal"), options, key="cmp_b", fmt=label, default="__current__")
    try:
        with st.spinner(L("computing")):
            ra, rb = scenario_result(study, skey, a, type_key), scenario_result(study, skey, b, type_key)
    except PlannerError as exc:
        st.error(md_error(exc, lang()))
        return
    if ra is None or rb is None:
        st.info(L("no_facilities_of_type", type=md_escape(study.types[type_key].label(lang()))))
        return
    table = compare(headline(ra), headline(rb))
    table = table[table["type"] == type_key].copy()
    for m in ("coverage_share",):
        sel = table["metric"] == m
        table.loc[sel, ["baseline", "proposal", "delta"]] = table.loc[sel, ["baseline", "proposal", "delta"]] * 100
    metric_names = {"coverage_share": L("h_share"), "demand_covered": L("h_demand_covered"),
                    "demand_total": L("h_demand_total"), "mean_minutes": L("h_mean"), "p90_minutes": L("h_p90")}
    values = ["baseline", "proposal", "delta"]
    people = table["metric"].isin(["demand_covered", "demand_total"])
    table[values] = table[values].astype(float).round(2)
    table.loc[people, values] = table.loc[people, values].round(0)  # people are whole numbers
    table["metric"] = table["metric"].map(metric_names)
    table["name"] = table["name"].where(table["scope"] == "area", study.types[type_key].label(lang()))
    show = table[["name", "metric", "baseline", "proposal", "delta"]].rename(columns={
        "name": L("h_name"), "metric": L("h_metric"), "baseline": label(a), "proposal": label(b), "delta": "Δ"})
    st.dataframe(show, hide_index=True, width="stretch", height=260)
    st.caption(L("scen_diff_below"))
    with SLOTS["diff"]:  # the full page width: a map in the half-width tools column was ~235 px tall at 1280 px
        st.markdown(f"**{L('scen_diff_map')}** · {md_escape(label(a))} → {md_escape(label(b))}")
        with st.spinner(L("drawing_map")):
            draw_diff_map(study, ra, rb, type_key, b, opts)


def free_scenario_name(taken: set) -> str:
    """The first "方案 N" / "Scenario N" not yet used."""
    n = 1
    while L("scen_name_default", n=n) in taken:
        n += 1
    return L("scen_name_default", n=n)


def scenario_result(study, skey: str, which: str, type_key: str):
    """Coverage of one type for a compared scenario: existing only, the current proposals, or a saved one."""
    if which == "__existing__":
        props = []
    elif which == "__current__":
        props = st.session_state["proposals"]
    else:
        props = list(scenario_store().load(which).sites)
    scen = ss.with_proposals(study, props)
    if not (scen.facilities["type"] == type_key).any():
        return None
    return cached_run(scen, ss.study_key(scen, skey), (type_key,), "none")


def draw_diff_map(study, ra, rb, type_key: str, which_b: str, opts: dict) -> None:
    """The compared scenario's map as an SVG drawn on the server: its gaps, the cells it newly covers (blue), the
    facilities and its new sites.

    A Leaflet map in a tab that is hidden while it is drawn has no size (it showed as a frame of height 0,
    and its scripts raised errors); an SVG scales with its box whatever the tab's state.
    """
    from maps.static import static_map_svg

    in_baseline = set(ra.facilities_table["id"])
    ft = rb.facilities_table
    new = ft[(ft["type"] == type_key) & ~ft["id"].isin(in_baseline)]
    props = pd.DataFrame({"id": new["id"], "lon": new["lon"], "lat": new["lat"]})
    cells = ss.newly_covered_cells(ra, rb, type_key)
    svg = static_map_svg(rb, type_key=type_key, proposals=props if len(props) else None, lang=lang(), width=DIFF_WIDTH,
                         share_goal=goal_share(), all_types=False, highlight=cells)
    import base64

    # as an image: Streamlit's HTML element strips inline SVG
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    st.html(f'<div class="diff-map" style="width:100%;max-width:{DIFF_WIDTH}px">'
            f'<img alt="{L("scen_diff_map")}" src="data:image/svg+xml;base64,{data}" style="width:100%;height:auto"></div>')
    st.session_state["diff_cells"] = len(cells)
    st.caption(L("scen_diff_caption", n=len(cells), people=f"{cells['population'].sum():,.0f}" if len(cells) else "0"))


def export_panel(res, scenario, type_key: str, spec: dict) -> None:
    if res is None:
        st.info(L("no_types"))
        return
    from maps.assets import to_html

    props = list(st.session_state["proposals"])
    chosen_lang = lang()
    goal = goal_share()

    def map_html() -> str:  # deferred: runs when the button is pressed, outside the script run
        return to_html(build_map(spec))  # a new map: one already shown by st_folium would render twice

    def all_types():  # the statistics cover every type of the scenario, not only the one on the map
        from planner.scenario import run

        return run(scenario, isochrones="none")

    summary = None
    try:
        from maps.report import summary_html

        tracker = st.session_state.get("whatif")
        # the sites of the type on the map, each with the residents it newly covers (from the what-if)
        shown = ss.sites_frame([p for p in props if p.type == type_key], tracker.marginal if tracker is not None else None)

        def summary() -> str:
            return summary_html(res, lang=chosen_lang, proposals=shown, type_key=type_key, coverage_goal=goal)
    except ImportError:
        st.caption(L("exp_summary_missing"))
    pdf = ss.pdf_maker(summary)  # None without Chromium: the page says how to print the HTML instead
    if summary is not None and pdf is None:
        st.caption(L("exp_pdf_missing"))
    items = export.export_items(res, lang=chosen_lang, proposals=props, type_key=type_key, map_html=map_html,
                                summary_html=summary, summary_pdf=pdf, all_types=all_types,
                                label=ss.study_label(scenario, chosen_lang),
                                scenario=ss.scenario_label(st.session_state, chosen_lang))
    st.session_state["exports"] = items  # the tests build every download from here
    cols = st.columns(4)
    for i, item in enumerate(items):
        cols[i % 4].download_button(L("exp_" + item.key), data=item.make, file_name=item.filename, mime=item.mime,
                                    key=f"dl_{item.key}", on_click="ignore")


main()
