"""Put the layers together into one coverage map and save it as a self-contained HTML file."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import folium

from .assets import offline_map, to_html
from .basemaps import needs_gcj02
from .layers import (
    _default_gap_max,
    _esc,
    _t,
    areas_layer,
    candidates_layer,
    exclusions_layer,
    facilities_layer,
    gap_colormap,
    gaps_layer,
    iso_levels,
    isochrones_layer,
    legend,
    proposals_layer,
    route_layer,
    streets_layer,
    surface_layer,
)
from .style import ISO_FILL_OPACITY, gap_scale_top

__all__ = ["coverage_map", "save_map", "SHANGHAI"]

logger = logging.getLogger(__name__)

#: Default centre (lat, lon) when there is nothing to fit to: People's Square.
SHANGHAI = (31.2304, 121.4737)


def coverage_map(
    *,
    facilities,
    isochrones=None,
    gaps=None,
    surfaces=None,
    streets=None,
    areas=None,
    proposals=None,
    preview=None,
    candidates=None,
    exclusions=None,
    route=None,
    types,
    lang: str = "zh",
    basemap: str = "none",
    title: str | None = None,
    share_goal: float = 1.0,
    view=None,
    access: dict | None = None,
) -> folium.Map:
    """The planner's map: facilities, isochrones, gaps, subdistricts and proposals.

    Parameters
    ----------
    facilities : DataFrame
        ``id, name, type, lon, lat`` (WGS-84); see :func:`maps.layers.facilities_layer`.
    isochrones, gaps, areas : GeoDataFrame, optional
        See the matching layer builders.
    streets : planner.surface.StreetRaster, optional
        The loaded network, drawn thin and grey under everything (the offline basemap).
    surfaces : sequence of planner.surface.MinutesSurface, optional
        Minutes to the nearest facility drawn as images (:func:`maps.layers.surface_layer`), the
        first one shown. They show every place of a study of any size, so when they are given the
        gap cells (kept in the exports) are not drawn.
    proposals : DataFrame, optional
        ``id, rank, lon, lat, marginal_demand``.
    preview : DataFrame, optional
        Optimised sites not yet accepted, same columns: drawn numbered in a layer of their own so
        the planner sees them before accepting.
    candidates : DataFrame, optional
        Candidate sites (``lon, lat``, optional ``id, name``): small hollow rings.
    exclusions : GeoDataFrame, optional
        Exclusion zones (polygons, optional ``name``): grey hatched with a dashed outline.
    route : dict, optional
        A walking route (:meth:`planner.scenario.CoverageResult.route`): a line with its minutes and facility.
    types : planner.config.FacilityTypes
    lang : {"zh", "en"}
    basemap : str
        Key of :data:`maps.basemaps.BASEMAPS`. On an Amap basemap every layer is shifted to
        GCJ-02.
    title : str, optional
        Page title and legend heading (escaped).
    share_goal : float
        Coverage share at the neutral colour of the subdistrict layer.
    view : ((lat, lon), zoom), optional
        The view the map opens on (the app passes the view it keeps); default: fitted to the layers,
        never a fixed place.
    access : dict, optional
        Access drawn over the coverage layers (:func:`maps.access.add_access_layers`): ``result`` (an
        :class:`planner.fca.AccessResult`) and optionally ``areas`` (polygons), ``values`` (per-point access
        to draw instead, e.g. with proposals), ``area_table``, ``below``, ``max_access``. The minutes surface
        and the coverage-share areas are then listed but hidden.

    Returns
    -------
    folium.Map
        Self-contained once rendered with :func:`maps.assets.to_html` or :func:`save_map`.
    """
    shift = needs_gcj02(basemap)
    center, zoom = view if view is not None else (SHANGHAI, 12)
    m = offline_map(tuple(center), int(zoom), basemap=basemap, title=_esc(title) if title else None,
                    control_scale=True)
    kw = {"lang": lang, "shift_gcj02": shift}
    if streets is not None and not surfaces:
        streets_layer(streets, **kw).add_to(m)
    if areas is not None and len(areas):
        areas_layer(areas, goal=share_goal, show=access is None, **kw).add_to(m)
    gap_scale = None
    surfaces = list(surfaces.values() if isinstance(surfaces, dict) else surfaces or [])
    for i, srf in enumerate(surfaces):
        surface_layer(srf, types, show=i == 0 and access is None, **kw).add_to(m)
    if streets is not None and surfaces:  # over the minutes surface, so the streets orient the eye
        streets_layer(streets, **kw).add_to(m)
    if gaps is not None and len(gaps) and not surfaces:
        import pandas as pd

        # a scale tied to the goal (maps.style.gap_scale_top), so a colour means the same minutes before and after a change
        goals = [types[t].target_minutes for t in set(gaps["type"]) if t in types] if "type" in gaps.columns else []
        top = gap_scale_top(max(goals)) if goals else \
            _default_gap_max(pd.to_numeric(gaps["minutes"], errors="coerce").to_numpy(dtype=float))
        gaps_layer(gaps, max_minutes=top, **kw).add_to(m)
        gap_scale = gap_colormap(top, lang=lang)
    iso_minutes = iso_levels(isochrones)
    if isochrones is not None and len(isochrones):
        # over a minutes surface the bands are its contour lines: outlines, so its colours show through
        isochrones_layer(isochrones, types, fill_opacity=0.0 if surfaces else ISO_FILL_OPACITY, **kw).add_to(m)
    if exclusions is not None and len(exclusions):
        exclusions_layer(exclusions, **kw).add_to(m)
    access_top = None
    if access is not None:
        from .access import add_access_layers

        access_top = add_access_layers(m, access["result"], access.get("areas"), access=access.get("values"),
                                       max_access=access.get("max_access"), below=access.get("below"),
                                       area_table=access.get("area_table"), **kw)
    facilities_layer(facilities, types, **kw).add_to(m)
    if candidates is not None and len(candidates):
        candidates_layer(candidates, **kw).add_to(m)
    if route is not None:
        route_layer(route, **kw).add_to(m)
    if proposals is not None and len(proposals):
        proposals_layer(proposals, **kw).add_to(m)
    if preview is not None and len(preview):
        proposals_layer(preview, name=_t("preview", lang), **kw).add_to(m)

    shown = _types_shown(facilities, types)
    legend(shown, lang=lang, title=title, gap_scale=gap_scale,
           share_goal=share_goal if areas is not None and len(areas) and access is None else None,
           surface_goal=surfaces[0].goal_minutes if surfaces and access is None else None,
           iso_minutes=iso_minutes, iso_outline=bool(surfaces),
           candidates=candidates is not None and len(candidates) > 0,
           exclusions=exclusions is not None and len(exclusions) > 0, route=route is not None,
           access_max=access_top).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)  # an icon that opens on hover: the layer list never covers the district

    bounds = m.get_bounds()
    if view is None and bounds and None not in bounds[0] + bounds[1]:
        # open on the data itself: centred on it before Leaflet fits it, so no frame ever shows a fixed place
        m.location = [(bounds[0][0] + bounds[1][0]) / 2.0, (bounds[0][1] + bounds[1][1]) / 2.0]
        m.fit_bounds(bounds, padding=(10, 10))
    return m


def _types_shown(facilities, types) -> list:
    """The facility types present in ``facilities``, in the order of ``types``."""
    resolve = getattr(types, "resolve", None)
    present = set()
    if "type" in facilities.columns:
        for value in facilities["type"].dropna().unique():
            key = resolve(value) if resolve is not None else value
            if key is not None:
                present.add(key)
    return [types[k] for k in types if k in present]


def save_map(m: folium.Map, path: str | os.PathLike) -> Path:
    """Write the map as one self-contained HTML file, atomically.

    The HTML is rendered first, then written to a temporary file in the same folder and
    moved over ``path`` with ``os.replace``: a failure at any point leaves no partial file
    (and an existing file at ``path`` untouched).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    text = to_html(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp creates 0600; give the file the usual permissions under the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %s (%.0f kB)", path, len(text.encode("utf-8")) / 1024)
    return path
