"""The app's state without a UI: the study its widgets describe, proposed sites, the incremental what-if, display tables.

The app describes its study as a :class:`planner.StudySpec` (a network source, the uploaded
layers, goals) and builds it with :func:`planner.study.build_study`, like the CLI and notebooks;
nothing here reads a layer or applies an input rule. Proposed sites are :class:`planner.store.Site`
(what the scenario store keeps). Nothing here imports streamlit or folium; a cached study (and its
compiled network, shared between sessions) is never mutated.
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from planner.export import sites_frame
from planner.store import Site, next_site_id
from planner.study import OUTSIDE_TOLERANCE_M, Goals, Layer, NetworkSource, StudySpec

logger = logging.getLogger(__name__)

__all__ = ["scenario_label", "pdf_maker", "ROLES", "OUTSIDE_TOLERANCE_M", "app_source", "app_spec", "spec_layers", "demo_study", "place_study",
           "study_area", "study_label", "study_key", "Site", "next_site_id", "with_proposals", "sites_frame",
           "WhatIfTracker", "area_key", "newly_covered_cells", "type_stats", "bands_frame",
           "areas_display"]

# ============================================================================ studies

#: Upload kinds that are study roles (``boundaries`` is the older name of ``areas``); ``candidates`` and
#: ``exclusions`` are the siting layers (the only places a new site may go; polygons where none may).
ROLES = ("facilities", "demand", "areas", "candidates", "exclusions")


def app_source(*, demo: bool = False, path: str | Path | None = None, place: str | None = None,
               scale: float = 1.0, seed: int = 7) -> NetworkSource:
    """The network source the app opens: it shows the facilities a demo or OSM source carries."""
    from planner.study import is_osm_file

    if demo:
        return NetworkSource(demo=True, demo_scale=scale, demo_seed=seed, facilities=True)
    if path is not None:
        return NetworkSource(path=str(path), facilities=True if is_osm_file(path) else None)
    return NetworkSource(place=place)


def app_spec(source: NetworkSource, layers: Iterable[tuple[str, Layer]] = (), goals: Goals | None = None, *,
             template: StudySpec | None = None) -> StudySpec:
    """The study the app's widgets describe: a source, uploaded ``(role, Layer)`` pairs in order, and goals.

    Several facility files are merged; the last demand, areas, candidates and exclusions file count.
    ``template`` (an opened study file) gives everything the widgets do not set (label, tolerances, types file).
    """
    layers = list(layers)
    for role, _ in layers:
        if role not in ROLES:
            raise ValueError(f"unknown layer role {role!r}")

    def last(role):
        found = [lf for r, lf in layers if r == role]
        return found[-1] if found else None

    from dataclasses import replace as _replace

    return _replace(template or StudySpec(network=source), network=source,
                    facilities=tuple(lf for r, lf in layers if r == "facilities"), demand=last("demand"),
                    areas=last("areas"), candidates=last("candidates"), exclusions=last("exclusions"),
                    goals=goals or (template.goals if template else Goals()))


def spec_layers(spec: StudySpec) -> list[tuple[str, Layer]]:
    """The ``(role, Layer)`` pairs of a spec, in the app's order (the inverse of :func:`app_spec`)."""
    out = [("facilities", lf) for lf in spec.facilities]
    out += [(role, getattr(spec, role)) for role in ("demand", "areas", "candidates", "exclusions")
            if getattr(spec, role) is not None]
    return out


def demo_study(*, seed: int = 7, scale: float = 1.0):
    """The bundled synthetic district as a Study (what ``python -m planner coverage --demo`` builds)."""
    from planner.study import build_study

    return build_study(app_spec(app_source(demo=True, seed=seed, scale=scale)))


def study_label(study, lang: str = "zh") -> str:
    """The study's label in one language (``meta['label_zh'/'label_en']`` when given, else ``label``)."""
    return study.label_in(lang)


def place_study(place: str, *, progress=None, cache_dir: str | Path | None = None):
    """Download a place's network into the cache (raises ``OfflineError`` with no internet), then build its study."""
    from planner.network import download_network
    from planner.study import build_study

    download_network(place, mode="walk", cache_dir=cache_dir, progress=progress)
    return build_study(app_spec(app_source(place=place)), cache_dir=cache_dir)


def study_area(study):
    """The network's extent (WGS-84 polygon): uploaded points are checked against it with
    :data:`OUTSIDE_TOLERANCE_M`; boundary files are cut to the areas that intersect it."""
    return study.networks["walk"].extent_lonlat


def study_key(study, *parts) -> str:
    """A short stable key of a study's inputs (label, facility ids/types/coordinates, demand size) plus ``parts``."""
    h = hashlib.sha256()
    h.update(str(study.label).encode())
    fac = study.facilities
    if len(fac):
        h.update(pd.util.hash_pandas_object(fac[["id", "type", "lon", "lat"]].astype(str), index=False).values.tobytes())
    d = study.demand.gdf
    h.update(f"{len(d)}:{float(d['population'].sum()):.6f}".encode())
    h.update(f"areas:{0 if study.areas is None else len(study.areas)}".encode())
    h.update(str(id(study.networks["walk"])).encode())
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:20]


# ============================================================================ proposals
def with_proposals(study, proposals: Iterable[Site]):
    """The study with the proposed sites added as facilities (``proposed`` = True, name = the site id)."""
    import geopandas as gpd

    props = list(proposals)
    if not props:
        return study
    add = pd.DataFrame({
        "id": [p.id for p in props], "name": [p.id for p in props], "type": [p.type for p in props],
        "lon": [float(p.lon) for p in props], "lat": [float(p.lat) for p in props],
    })
    fac = study.facilities
    base = fac.assign(proposed=False) if len(fac) else fac
    add_g = gpd.GeoDataFrame(add.assign(proposed=True), geometry=gpd.points_from_xy(add["lon"], add["lat"]), crs=4326)
    merged = gpd.GeoDataFrame(pd.concat([base, add_g], ignore_index=True), geometry="geometry", crs=4326)
    return replace(study, facilities=merged)


class WhatIfTracker:
    """Keeps a :class:`planner.siting.WhatIf` in step with a list of proposed sites of one type.

    Built once from a baseline :class:`~planner.scenario.CoverageResult` (existing facilities of
    the type are open); :meth:`sync` then adds the sites that are new in the list and removes the
    ones that left it, each in milliseconds. The shared network is only read.

    Attributes
    ----------
    type_key : the facility type.
    baseline_share : coverage share of the existing facilities.
    marginal : {site id: demand newly covered when it was added}.
    last : the :class:`planner.siting.WhatIfDelta` of the latest edit, or None.
    """

    def __init__(self, result, type_key: str):
        from planner.siting import WhatIf

        cov = result.coverage[type_key]
        ftype = result.goals[type_key]
        net = result.study.network_for(ftype)
        pop = result.demand_table["population"].to_numpy(float)
        self.type_key = type_key
        self.whatif = WhatIf(net, cov.fac_snap, result.dem_snaps[net.mode], pop, ftype,
                             facility_ids=cov.facility_ids, demand_ids=result.demand_table["id"].to_numpy(),
                             baseline=(cov.dist_m, cov.facility_index) if cov.dist_m is not None else None)
        _ = net.csr  # built now (once per network, a second on a million nodes), not on the planner's first click
        self.baseline_share = float(self.whatif.share)
        self.marginal: dict[str, float] = {}
        self.last = None
        self._sites: dict[str, tuple[float, float]] = {}
        self._internal: dict[str, str] = {}  # site id -> id inside the WhatIf
        self._serial = 0

    @property
    def share(self) -> float:
        """Current coverage share with the synced proposals."""
        return float(self.whatif.share)

    def sync(self, proposals: Iterable[Site]) -> list:
        """Apply the difference between the tracked sites and ``proposals`` (of this type); returns the deltas.

        A site removed and later proposed again (undo, a loaded scenario) is opened under a fresh
        internal id, since :class:`~planner.siting.WhatIf` never reuses one.
        """
        want = {p.id: (p.lon, p.lat) for p in proposals if p.type == self.type_key}
        deltas = []
        for sid in [s for s in self._sites if s not in want or want[s] != self._sites[s]]:
            deltas.append(self.whatif.remove(self._internal.pop(sid)))
            del self._sites[sid]
            self.marginal.pop(sid, None)
        for sid, (lon, lat) in want.items():
            if sid not in self._sites:
                self._serial += 1
                internal = f"{sid}#{self._serial}"
                d = self.whatif.add(lon, lat, site_id=internal)
                self._internal[sid] = internal
                self._sites[sid] = (lon, lat)
                self.marginal[sid] = d.newly_covered
                deltas.append(replace(d, site_id=sid))
        if deltas:
            self.last = deltas[-1]
        return deltas


def area_key(base_key: str) -> str:
    """The store's ``area_key`` of a study source: ``demo``, a network file's name, or ``place:<name>``."""
    if base_key == "demo":
        return "demo"
    if base_key.startswith("file:"):
        return Path(base_key[5:]).name
    return base_key


def newly_covered_cells(baseline, proposal, type_key: str, *, cell_m: float = 200.0):
    """Grid cells of the demand one type covers in ``proposal`` but not in ``baseline`` (the difference map).

    Both are :class:`~planner.scenario.CoverageResult` of the same study's demand. Returns a
    GeoDataFrame (EPSG:4326) with ``population`` (newly covered), ``minutes`` (their mean minutes
    in the proposal), ``max_minutes`` and the cell polygon.
    """
    import geopandas as gpd

    from planner.isochrones import gap_cells

    a, b = baseline.demand_table, proposal.demand_table
    newly = b[f"{type_key}_covered"].to_numpy(bool) & ~a[f"{type_key}_covered"].to_numpy(bool)
    net = proposal.study.network_for(proposal.goals[type_key])
    x, y = net.to_metric(b["lon"].to_numpy(float), b["lat"].to_numpy(float))
    polys, pop, mean, mx = gap_cells(np.asarray(x), np.asarray(y), b["population"].to_numpy(float),
                                     b[f"{type_key}_minutes"].to_numpy(float), ~newly, cell_m=cell_m)
    g = gpd.GeoDataFrame({"population": pop, "minutes": mean, "max_minutes": mx}, geometry=list(polys), crs=net.crs)
    return g.to_crs(4326)


# ============================================================================ statistics for display
def type_stats(result, type_key: str) -> dict:
    """The headline statistics of one type from a run's summary (share, goal minutes, mean, p90, bands)."""
    return result.summary["types"][type_key]


def _band_label(band: str, lang: str) -> str:
    from planner.i18n import band_label

    return band_label(band, lang)


def _band_rank(band: dict) -> tuple:
    """Sort key of a time band: ``0-5``, ``5-10`` ... by their start, then ``>goal``, then ``unreachable``."""
    name = str(band.get("band", ""))
    if name == "unreachable":
        return (2, 0.0)
    if name.startswith(">"):
        return (1, 0.0)
    start = band.get("from_min")
    try:
        start = float(start if start is not None else name.split("-")[0])
    except ValueError:
        start = math.inf
    return (0, start)


def bands_frame(result, type_key: str, lang: str = "zh") -> pd.DataFrame:
    """Demand per time band of one type: ``band`` (label in ``lang``), ``demand``, ``share``, ``order``.

    Always in band order: ``0-…``, …, ``>goal``, then unreachable (``order`` counts from 0).
    """
    bands = sorted(type_stats(result, type_key)["bands"], key=_band_rank)
    rows = [{"band": _band_label(b["band"], lang), "demand": b["demand"], "share": b.get("share"), "order": i}
            for i, b in enumerate(bands)]
    return pd.DataFrame(rows, columns=["band", "demand", "share", "order"])


def areas_display(result, type_key: str, headers: dict[str, str]) -> pd.DataFrame:
    """The per-area table of one type with display headers (shares in %, minutes rounded)."""
    if not len(result.areas):
        return pd.DataFrame()
    a = result.areas[result.areas["type"] == type_key]
    out = pd.DataFrame({
        "name": a["name"].astype(str),
        "demand_total": a["demand_total"].round(0),
        "demand_covered": a["demand_covered"].round(0),
        "coverage_share": (a["coverage_share"] * 100).round(1),
        "mean_minutes": a["mean_minutes"].round(1),
        "p90_minutes": a["p90_minutes"].round(1),
        "facilities": a["facilities"].astype(int),
    })
    return out.rename(columns=headers).reset_index(drop=True)


def scenario_label(session, lang: str = "zh") -> str:
    """The name the exports carry for the scenario on screen.

    The scenario last loaded or saved while the proposals are still its sites; with no proposals
    the baseline (现状 / baseline); else the name the save box would give it.
    """
    from planner.i18n import section

    props = tuple(session.get("proposals") or ())
    current = session.get("scen_current")
    if current is not None and tuple(current[1]) == props:
        return str(current[0])
    if not props:
        zh, en = section("app")["exp_baseline"]
        return en if lang == "en" else zh
    return str(session.get("scen_name") or "")


def pdf_maker(summary):
    """A callable printing the one-page summary (``summary()`` returns its HTML) to PDF bytes, or None when
    there is no summary or no Chromium to print it."""
    if summary is None:
        return None
    try:
        from maps.report import find_chromium, summary_pdf_bytes
    except ImportError:
        return None
    if not find_chromium():
        return None
    return lambda: summary_pdf_bytes(summary())
