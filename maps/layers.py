"""Map layers: facilities, isochrones, coverage gaps, subdistricts, proposed sites, legend.

Each builder takes a GeoDataFrame (data positional, options keyword-only) and returns a
``folium.FeatureGroup``. The features are embedded once as GeoJSON and drawn by a few lines
of Leaflet (``L.geoJSON`` with ``pointToLayer``/``style``), which keeps the HTML small for
thousands of features; folium's per-marker output is several times larger.

Every string that comes from a user file (names, ids, type labels) is HTML-escaped in
Python before it reaches the page; the GeoJSON itself is embedded with ``tojson``, which
also escapes ``<``, ``>`` and ``&``.
"""
from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import branca.colormap as bcm
import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from planner.i18n import section

from . import style
from ._memo import by_identity
from .assets import VerbatimRender, icon_svg_path
from .style import (
    SHARE_MISSING_COLOUR,
    STREETS_COLOUR,
    UNKNOWN_COLOUR,
    UNREACHABLE_COLOUR,
    share_colormap,
)

__all__ = [
    "facilities_layer",
    "isochrones_layer",
    "iso_levels",
    "gaps_layer",
    "surface_layer",
    "areas_layer",
    "proposals_layer",
    "candidates_layer",
    "exclusions_layer",
    "route_layer",
    "legend",
    "LEGEND_FOLD_BELOW_PX",
    "gap_colormap",
    "share_colormap",
    "UNREACHABLE_COLOUR",
    "CLUSTER_ABOVE",
]

logger = logging.getLogger(__name__)

#: Facilities layers with more markers than this are clustered (``cluster=None``).
CLUSTER_ABOVE = 500
#: Fill of cells no facility can be reached from.
#: Metric CRS used to simplify polygons (UTM 51N covers Shanghai).
METRIC_CRS = "EPSG:32651"

_TEXT = section("map")  # the one catalogue: planner/i18n.py


def _t(key: str, lang: str) -> str:
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


#: Longest user text shown in a tooltip, popup or layer name, in characters; longer text (a
#: 100,000-character name in a hostile file) is cut there with an ellipsis, so it cannot swell
#: the page. The exports keep the full text.
MAX_LABEL_CHARS = 120


def _esc(value: Any) -> str:
    """HTML-escape anything for display (quotes too: values may land in attributes), cut to
    :data:`MAX_LABEL_CHARS` characters."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "…"
    return html.escape(text, quote=True)


def _check_lang(lang: str) -> None:
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}.")


def _require(gdf, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {missing}; it has {list(gdf.columns)}."
        )


# ---------------------------------------------------------------------------- coordinates


def _gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Imported here: planner.coords is written in parallel and maps must import without it.
    from planner.coords import wgs84_to_gcj02

    out = wgs84_to_gcj02(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    glon, glat = out
    return np.asarray(glon, dtype=float), np.asarray(glat, dtype=float)


def _display_xy(lon, lat, shift_gcj02: bool) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if shift_gcj02 and lon.size:
        lon, lat = _gcj02(lon, lat)
    return np.round(lon, 6), np.round(lat, 6)


def _to_wgs84(gdf):
    if gdf.crs is None:
        logger.warning("GeoDataFrame has no CRS; assuming WGS-84 lon/lat degrees")
        return gdf.set_crs("EPSG:4326")
    if gdf.crs.to_epsg() != 4326:
        return gdf.to_crs("EPSG:4326")
    return gdf


def _display_geoms(geoms: np.ndarray, shift_gcj02: bool) -> np.ndarray:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = _display_xy(xy[:, 0], xy[:, 1], shift_gcj02)
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def _prepare_polygons(
    gdf,
    *,
    shift_gcj02: bool,
    simplify_m: float,
    max_features: int | None,
    keep_largest: str | None,
) -> tuple[Any, int]:
    """Copy, drop empty geometry, cap, simplify in metres, back to WGS-84, shift, round.

    Returns the prepared frame (``geometry`` in display coordinates) and the row count
    before capping.
    """
    gdf = _to_wgs84(gdf)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        logger.warning("%d feature(s) with empty geometry are not drawn", int(empty.sum()))
        gdf = gdf[~empty]
    total = len(gdf)
    if max_features is not None and total > max_features:
        if keep_largest is not None and keep_largest in gdf.columns:
            order = pd.to_numeric(gdf[keep_largest], errors="coerce").fillna(-np.inf)
        else:
            order = gdf.to_crs(METRIC_CRS).geometry.area
        gdf = gdf.loc[order.sort_values(ascending=False, kind="stable").index[:max_features]]
        logger.warning("drawing %d of %d features (cap)", max_features, total)
    geoms = gdf.geometry
    if simplify_m and simplify_m > 0 and len(gdf):
        geoms = geoms.to_crs(METRIC_CRS).simplify(simplify_m, preserve_topology=True).to_crs("EPSG:4326")
    out = gdf.copy()
    out = out.set_geometry(_display_geoms(np.asarray(geoms.values), shift_gcj02), crs="EPSG:4326")
    return out, total


def _cap_note(shown: int, total: int, lang: str) -> str:
    if shown >= total:
        return ""
    return _t("showing", lang).format(shown=shown, total=total)


# ---------------------------------------------------------------------------- element


class _ImageOverlay(folium.raster_layers.ImageOverlay, VerbatimRender):
    """folium's ImageOverlay, its data URL placed in the page without being compiled as a template."""


class _GeoJsonLayer(VerbatimRender):
    """GeoJSON drawn by Leaflet with per-feature style/icon index, tooltip and popup.

    Feature properties used: ``_s`` style index (polygons) or ``_i`` icon index (points),
    ``_tip`` tooltip HTML and ``_pop`` popup HTML (both already escaped); ``_open``: the tooltip stays shown.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data|tojson }}, {
            {%- if this.icons %}
            pointToLayer: function (f, ll) {
                var ic = {{ this.icons|tojson }}[f.properties._i];
                return L.marker(ll, {icon: L.divIcon({html: ic.html, className: ic.cls,
                    iconSize: ic.size, iconAnchor: [ic.size[0] / 2, ic.size[1] / 2],
                    popupAnchor: [0, -ic.size[1] / 2], tooltipAnchor: [ic.size[0] / 2, 0]}),
                    zIndexOffset: ic.z || 0});
            },
            {%- else %}
            style: function (f) { return {{ this.styles|tojson }}[f.properties._s]; },
            {%- endif %}
            onEachFeature: function (f, layer) {
                if (f.properties._tip) { layer.bindTooltip(f.properties._tip, {sticky: {{ 'false' if this.icons else 'true' }},
                    permanent: !!f.properties._open}); }
                if (f.properties._pop) { layer.bindPopup(f.properties._pop, {maxWidth: 320}); }
            }
        });
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict], *, styles=None, icons=None, css: str = "", body: str = ""):
        super().__init__()
        self._name = "GeoJsonLayer"
        self.data = {"type": "FeatureCollection", "features": features}
        self.styles = styles or []
        self.icons = icons or []
        self.css = css
        self.body = body  # e.g. an SVG pattern the styles refer to, once per page
        self._bounds = _bounds_of(features)

    def render(self, **kwargs):
        figure = self.get_root()
        if isinstance(figure, Figure):
            if self.css:
                figure.header.add_child(Element(f"<style>{self.css}</style>"), name="maps_layer_css")
            if self.body:
                figure.html.add_child(Element(self.body), name="maps_layer_body")
        super().render(**kwargs)

    def _get_self_bounds(self):
        return self._bounds


def _bounds_of(features: list[dict]) -> list[list[float | None]]:
    xs: list[float] = []
    ys: list[float] = []
    for f in features:
        g = f["geometry"]
        if g is None:
            continue
        b = shapely.geometry.shape(g).bounds
        if all(map(math.isfinite, b)):
            xs += [b[0], b[2]]
            ys += [b[1], b[3]]
    if not xs:
        return [[None, None], [None, None]]
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


_CSS = """
.pm-icon{border:none;background:none}
.pm-icon .pm-dot{box-sizing:border-box;width:100%;height:100%;border-radius:50%;border:2px solid #fff;
 box-shadow:0 0 2px rgba(0,0,0,.6);display:flex;align-items:center;justify-content:center}
.pm-icon svg{width:60%;height:60%;fill:#fff}
.pm-prop .pm-ring{box-sizing:border-box;width:100%;height:100%;border-radius:50%;border:4px solid #111;
 background:rgba(255,215,0,.85);display:flex;align-items:center;justify-content:center;position:relative;
 box-shadow:0 0 0 3px #fff,0 0 6px rgba(0,0,0,.6)}
.pm-prop svg{width:58%;height:58%;fill:#111}
.pm-prop .pm-rank{position:absolute;right:-8px;top:-8px;background:#111;color:#fff;border-radius:9px;
 font:bold 11px/16px sans-serif;min-width:16px;padding:0 3px;text-align:center}
.pm-pop td,.pm-pop th{padding:1px 4px;text-align:left;vertical-align:top}
.pm-cand .pm-hollow{box-sizing:border-box;width:100%;height:100%;border-radius:50%;background:transparent;
 border:2px solid {CAND};box-shadow:0 0 0 1px #fff}
"""
_CSS = _CSS.replace("{CAND}", style.CANDIDATE_STROKE)


def _svg(icon: str) -> str:
    view, d = icon_svg_path(icon)
    return f'<svg viewBox="{view}" aria-hidden="true"><path d="{d}"/></svg>'


def _feature(geometry: dict | None, props: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="pm-pop">{body}</table>'


def _fmt_num(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}"


# ---------------------------------------------------------------------------- facilities


def facilities_layer(
    gdf,
    types: Mapping,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    cluster: bool | None = None,
    max_markers: int = 20000,
    name: str | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """Facilities as round markers coloured by type, with a white glyph per type.

    Parameters
    ----------
    gdf : DataFrame or GeoDataFrame
        Columns ``id``, ``name``, ``type``, ``lon``, ``lat`` (WGS-84 degrees). ``type`` is a
        key, label or alias of ``types``; unknown types are drawn grey and counted in the log.
    types : planner.config.FacilityTypes
        Facility types (colour, icon, labels).
    lang : {"zh", "en"}
    shift_gcj02 : bool
        Shift coordinates to GCJ-02 (for Amap basemaps).
    cluster : bool, optional
        Cluster markers; None clusters above :data:`CLUSTER_ABOVE` markers.
    max_markers : int
        At most this many markers are drawn; the layer name says so when capped.
    name : str, optional
        Layer name in the layer control.
    show : bool
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.FeatureGroup
    """
    _check_lang(lang)
    _require(gdf, ["id", "name", "type", "lon", "lat"], "facilities")
    lon = pd.to_numeric(gdf["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(gdf["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    n_bad = int((~ok).sum())
    if n_bad:
        logger.warning("%d facilities without valid lon/lat are not drawn", n_bad)
    rows = gdf[ok]
    total = len(rows)
    if total > max_markers:
        logger.warning("drawing %d of %d facilities (cap)", max_markers, total)
        rows = rows.iloc[:max_markers]
    x, y = _display_xy(lon[ok][: len(rows)], lat[ok][: len(rows)], shift_gcj02)

    icon_index: dict[str, int] = {}
    icons: list[dict] = []
    features: list[dict] = []
    n_unknown = 0
    resolve = getattr(types, "resolve", None)
    for (_, row), fx, fy in zip(rows.iterrows(), x, y):
        raw_type = row["type"]
        key = resolve(raw_type) if resolve is not None else (raw_type if raw_type in types else None)
        if key is None:
            n_unknown += 1
            label, colour, glyph, ikey = str(raw_type), UNKNOWN_COLOUR, "question", "?"
        else:
            ft = types[key]
            label, colour, glyph, ikey = ft.label(lang), ft.colour, ft.icon, key
        if ikey not in icon_index:
            icon_index[ikey] = len(icons)
            icons.append({
                "html": f'<div class="pm-dot" style="background:{_esc(colour)}">{_svg(glyph)}</div>',
                "cls": "pm-icon",
                "size": [24, 24],
            })
        tip = f"<b>{_esc(row['name'])}</b><br>{_esc(label)}"
        pop = _table([
            (_t("name", lang), f"<b>{_esc(row['name'])}</b>"),
            (_t("type", lang), _esc(label)),
            (_t("id", lang), _esc(row["id"])),
        ])
        features.append(_feature(
            {"type": "Point", "coordinates": [float(fx), float(fy)]},
            {"_i": icon_index[ikey], "_tip": tip, "_pop": pop},
        ))
    if n_unknown:
        logger.warning("%d facilities have a type not in the facility types; drawn grey", n_unknown)

    title = name or _t("facilities", lang)
    title += _cap_note(len(rows), total, lang)
    if n_bad:
        title += f"（{n_bad} {_t('no_coords', lang)}）" if lang != "en" else f" ({n_bad} {_t('no_coords', lang)})"
    group = folium.FeatureGroup(name=_esc(title), show=show)
    parent: MacroElement = group
    if cluster is None:
        cluster = len(features) > CLUSTER_ABOVE
    if cluster:
        from folium.plugins import MarkerCluster

        parent = MarkerCluster(control=False, options={"disableClusteringAtZoom": 17, "chunkedLoading": True})
        group.add_child(parent)
    parent.add_child(_GeoJsonLayer(features, icons=icons, css=_CSS))
    return group


# ---------------------------------------------------------------------------- isochrones


def iso_levels(gdf) -> list[float]:
    """The isochrone bands' minutes (upper limits), nearest first: the entries of the legend's band key."""
    if gdf is None or not len(gdf) or "minutes" not in gdf.columns:
        return []
    return sorted(float(m) for m in pd.to_numeric(gdf["minutes"], errors="coerce").dropna().unique())


def isochrones_layer(
    gdf,
    types: Mapping,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    simplify_m: float = 10.0,
    max_features: int | None = 3000,
    fill_opacity: float = style.ISO_FILL_OPACITY,
    name: str | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """Isochrone bands on one blue scale by minutes (darkest nearest), whatever the facility type.

    The bands never take a facility type's colour, so they cannot be mistaken for the gap cells
    (warm) or the subdistrict shares (purple/green); :func:`iso_levels` gives the legend's entries.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons with columns ``type`` and ``minutes`` (band upper limit); optional
        ``facility_id``. Any CRS (reprojected).
    types : planner.config.FacilityTypes
    lang : {"zh", "en"}
    shift_gcj02 : bool
        Shift to GCJ-02 for Amap basemaps.
    simplify_m : float
        Simplification tolerance in metres (0 disables).
    max_features : int, optional
        Cap on polygons drawn (largest by area kept).
    fill_opacity : float
        0 draws the bands as outlines (over a minutes surface, which then stays readable).

    Returns
    -------
    folium.FeatureGroup
    """
    _check_lang(lang)
    _require(gdf, ["type", "minutes"], "isochrones")
    prep, total = by_identity("isochrones", gdf, (shift_gcj02, simplify_m, max_features), lambda: _prepare_polygons(
        gdf, shift_gcj02=shift_gcj02, simplify_m=simplify_m, max_features=max_features, keep_largest=None
    ))
    minutes = pd.to_numeric(prep["minutes"], errors="coerce")
    levels = sorted(float(m) for m in minutes.dropna().unique())
    # Larger bands first so the smaller, darker ones are drawn on top.
    prep = prep.assign(_m=minutes).sort_values("_m", ascending=False, kind="stable")
    resolve = getattr(types, "resolve", None)
    band_colours = style.iso_band_colours(len(levels))
    outline = fill_opacity <= 0
    styles: list[dict] = []
    for colour in band_colours + [UNKNOWN_COLOUR]:  # style i: the i-th band (the last: no minutes)
        # filled: a thin dark-blue edge on each band; outlines (over a minutes surface): the band's own blue, thicker
        styles.append({"color": colour if outline else style.ISO_BAND_COLOURS[0], "weight": 2 if outline else 1,
                       "opacity": 0.9 if outline else 0.55, "fillColor": colour, "fillOpacity": float(fill_opacity)})
    features = []
    for _, row in prep.iterrows():
        key = resolve(row["type"]) if resolve is not None else row["type"]
        ft = types[key] if key in types else None
        label = ft.label(lang) if ft else str(row["type"])
        m = row["_m"]
        rank = levels.index(float(m)) if pd.notna(m) else len(levels)
        tip = f"{_esc(label)}<br>≤ {_fmt_num(m, 1 if m % 1 else 0)} {_t('minutes', lang)}"
        if "facility_id" in prep.columns and pd.notna(row["facility_id"]) and str(row["facility_id"]):
            tip += f"<br>{_t('id', lang)}: {_esc(row['facility_id'])}"
        features.append(_feature(shapely.geometry.mapping(row.geometry), {"_s": rank, "_tip": tip}))
    title = (name or _t("isochrones", lang)) + _cap_note(len(prep), total, lang)
    group = folium.FeatureGroup(name=_esc(title), show=show)
    group.add_child(_GeoJsonLayer(features, styles=styles))
    return group


# ---------------------------------------------------------------------------- gaps


def gap_colormap(max_minutes: float = 30.0, *, lang: str = "zh") -> bcm.LinearColormap:
    """Sequential colour scale for walk minutes to the nearest facility (0 .. max_minutes)."""
    return style.gap_colormap(max_minutes, caption=_t("gap_scale", lang))


def gaps_layer(
    gdf,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    max_minutes: float | None = None,
    simplify_m: float = 5.0,
    max_features: int | None = 5000,
    name: str | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """Demand cells coloured by walk minutes to the nearest facility.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons with columns ``minutes`` (may be ``inf``/NaN for unreachable) and
        ``population``.
    lang : {"zh", "en"}
    shift_gcj02 : bool
    max_minutes : float, optional
        Top of the colour scale; default the largest finite minutes rounded up to 5
        (at least 15). Larger values get the darkest colour.
    simplify_m : float
        Simplification tolerance in metres.
    max_features : int, optional
        Cap on cells drawn; the most populous are kept.

    Returns
    -------
    folium.FeatureGroup
        Its ``colormap`` attribute-free: call :func:`gap_colormap` with the same
        ``max_minutes`` for the legend.
    """
    _check_lang(lang)
    _require(gdf, ["minutes", "population"], "gaps")
    prep, total = _prepare_polygons(
        gdf, shift_gcj02=shift_gcj02, simplify_m=simplify_m, max_features=max_features, keep_largest="population"
    )
    minutes = pd.to_numeric(prep["minutes"], errors="coerce").to_numpy(dtype=float)
    if max_minutes is None:
        max_minutes = _default_gap_max(minutes)
    cmap = gap_colormap(max_minutes, lang=lang)
    styles: list[dict] = []
    style_index: dict[str, int] = {}
    features = []
    for (_, row), m in zip(prep.iterrows(), minutes):
        reach = math.isfinite(m)
        fill = cmap(min(m, max_minutes)) if reach else UNREACHABLE_COLOUR
        fill = fill[:7]
        if fill not in style_index:
            style_index[fill] = len(styles)
            styles.append({"color": fill, "weight": 0.5, "opacity": 0.8, "fillColor": fill, "fillOpacity": 0.55})
        mtxt = f"{_fmt_num(m, 1)} {_t('minutes', lang)}" if reach else _t("unreachable", lang)
        tip = f"{_t('population', lang)}: {_fmt_num(row['population'])}<br>{_t('walk_minutes', lang)}: {mtxt}"
        features.append(_feature(shapely.geometry.mapping(row.geometry), {"_s": style_index[fill], "_tip": tip}))
    title = (name or _t("gaps", lang)) + _cap_note(len(prep), total, lang)
    group = folium.FeatureGroup(name=_esc(title), show=show)
    group.add_child(_GeoJsonLayer(features, styles=styles))
    return group


def _default_gap_max(minutes: np.ndarray) -> float:
    finite = minutes[np.isfinite(minutes)]
    if not finite.size:
        return 30.0
    return float(max(15.0, 5.0 * math.ceil(float(finite.max()) / 5.0)))


# ---------------------------------------------------------------------------- minutes surface


def surface_colormap(goal_minutes: float, *, lang: str = "zh") -> bcm.LinearColormap:
    """The minutes surface's scale from 0 to the goal (see :mod:`maps.raster`)."""
    from .raster import SURFACE_COLOURS

    return bcm.LinearColormap(SURFACE_COLOURS, vmin=0.0, vmax=float(goal_minutes), caption=_t("surface_scale", lang))


def surface_layer(
    surface,
    types: Mapping | None = None,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    opacity: float = 0.7,
    name: str | None = None,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """Minutes to the nearest facility as one image over the whole study, with no feature cap.

    Parameters
    ----------
    surface : planner.surface.MinutesSurface
        Minutes on a Web-Mercator-aligned grid and its WGS-84 bounds.
    types : planner.config.FacilityTypes, optional
        For the type's label in the layer name.
    lang : {"zh", "en"}
    shift_gcj02 : bool
        Shift the image's corners to GCJ-02 (Amap basemaps); the offset varies by a few metres
        across a district, well under a pixel.
    opacity : float
        Opacity of the painted pixels (places with no street nearby are transparent).
    name : str, optional
        Layer name; default the surface title with the type's label.
    show : bool

    Returns
    -------
    folium.raster_layers.ImageOverlay
        Embedded as a PNG data URL, so the HTML stays self-contained.
    """
    from .raster import png_data_url, surface_rgba

    _check_lang(lang)
    west, south, east, north = surface.bounds_lonlat
    (w, e), (s, n) = _display_xy([west, east], [south, north], shift_gcj02)
    if name is None:
        label = surface.type_key
        if types is not None and surface.type_key in types:
            label = types[surface.type_key].label(lang)
        name = f"{_t('surface', lang)}：{label}" if lang != "en" else f"{_t('surface', lang)}: {label}"
    url = by_identity("surface", surface, float(surface.goal_minutes),
                      lambda: png_data_url(surface_rgba(surface.minutes, goal_minutes=surface.goal_minutes)))
    return _ImageOverlay(
        url, bounds=[[float(s), float(w)], [float(n), float(e)]], opacity=float(opacity),
        name=_esc(name), show=show, interactive=False, pixelated=False,
    )


def streets_layer(
    streets,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    colour: str = STREETS_COLOUR,
    opacity: float = 0.55,
    name: str | None = None,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """The loaded street network as a thin grey image under everything: the basemap an offline office always has.

    Parameters
    ----------
    streets : planner.surface.StreetRaster
        The network's streets as a pixel mask and its WGS-84 bounds.
    colour, opacity : the streets' colour and opacity.

    Returns
    -------
    folium.raster_layers.ImageOverlay
        Embedded as a PNG data URL (self-contained); no feature cap whatever the network's size.
    """
    from .raster import png_data_url

    _check_lang(lang)

    def paint() -> str:
        rgba = np.zeros((*streets.mask.shape, 4), np.uint8)
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        rgba[streets.mask] = (r, g, b, 255)
        return png_data_url(rgba)

    url = by_identity("streets", streets, colour, paint)
    west, south, east, north = streets.bounds_lonlat
    (w, e), (s, n) = _display_xy([west, east], [south, north], shift_gcj02)
    return _ImageOverlay(
        url, bounds=[[float(s), float(w)], [float(n), float(e)]], opacity=float(opacity),
        name=_esc(name or _t("streets", lang)), show=show, interactive=False, pixelated=False,
    )


# ---------------------------------------------------------------------------- areas


def areas_layer(
    gdf,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    goal: float = 0.8,
    simplify_m: float = 20.0,
    max_features: int | None = 2000,
    name: str | None = None,
    show: bool = True,
    labels: bool = True,
) -> folium.FeatureGroup:
    """Subdistrict outlines filled by coverage share (diverging around ``goal``), each named by a small
    permanent label at a point on its surface (with many areas, only from zoom
    :data:`maps.style.AREA_LABEL_MIN_ZOOM` up).

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons with columns ``name`` and ``coverage_share`` (0-1).
    goal : float
        Share at the neutral colour of the scale (the plan's goal).

    Returns
    -------
    folium.FeatureGroup
    """
    _check_lang(lang)
    _require(gdf, ["name", "coverage_share"], "areas")
    prep, total = _prepare_polygons(
        gdf, shift_gcj02=shift_gcj02, simplify_m=simplify_m, max_features=max_features,
        keep_largest="population" if "population" in gdf.columns else None,
    )
    cmap = share_colormap(goal)
    styles: list[dict] = []
    style_index: dict[str, int] = {}
    features = []
    for _, row in prep.iterrows():
        share = pd.to_numeric(pd.Series([row["coverage_share"]]), errors="coerce").iloc[0]
        fill = cmap(min(max(share, 0.0), 1.0))[:7] if pd.notna(share) else SHARE_MISSING_COLOUR
        if fill not in style_index:
            style_index[fill] = len(styles)
            styles.append({"color": "#404040", "weight": 1.5, "opacity": 0.9, "fillColor": fill, "fillOpacity": 0.3})
        pct = f"{share * 100:.1f}%" if pd.notna(share) else "–"
        tip = f"<b>{_esc(row['name'])}</b><br>{_t('share', lang)}: {pct}"
        features.append(_feature(shapely.geometry.mapping(row.geometry), {"_s": style_index[fill], "_tip": tip}))
    title = (name or _t("areas", lang)) + _cap_note(len(prep), total, lang)
    group = folium.FeatureGroup(name=_esc(title), show=show)
    group.add_child(_GeoJsonLayer(features, styles=styles))
    if labels and len(prep):
        group.add_child(_AreaLabels(_area_label_points(prep), min_zoom=style.AREA_LABEL_MIN_ZOOM
                                    if len(prep) > LABELS_CROWDED_ABOVE else 0))
    return group


#: With more subdistricts than this, their name labels show only from :data:`maps.style.AREA_LABEL_MIN_ZOOM` up.
LABELS_CROWDED_ABOVE = 12


def _area_label_points(prep) -> list[dict]:
    """A point on each area's surface (inside it, unlike the centroid of a crescent) carrying its escaped name."""
    points = shapely.point_on_surface(np.asarray(prep.geometry.values))
    out = []
    for pt, label in zip(points, prep["name"]):
        text = _esc(label)
        if text and pt is not None and not pt.is_empty:
            out.append(_feature({"type": "Point", "coordinates": [round(pt.x, 6), round(pt.y, 6)]}, {"_lbl": text}))
    return out


class _AreaLabels(MacroElement):
    """Permanent, small name labels (pre-escaped HTML) at given points; hidden below ``min_zoom`` by a class on the
    map's container, set on every zoom."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var lbl = L.geoJSON({{ this.data|tojson }}, {
                pointToLayer: function (f, ll) {
                    return L.marker(ll, {icon: L.divIcon({html: '<span>' + f.properties._lbl + '</span>',
                        className: 'pm-area-label', iconSize: null}), interactive: false, keyboard: false});
                }
            });
            lbl.addTo({{ this._parent.get_name() }});
            var map = {{ this.map_name }};
            function upd() {
                map.getContainer().classList.toggle('pm-labels-off', map.getZoom() < {{ this.min_zoom|tojson }});
            }
            map.on('zoomend', upd);
            upd();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict], *, min_zoom: int = 0):
        super().__init__()
        self._name = "AreaLabels"
        self.data = {"type": "FeatureCollection", "features": features}
        self.min_zoom = int(min_zoom)
        self.map_name = "null"

    def render(self, **kwargs):
        el = self._parent
        while el is not None and not isinstance(el, folium.Map):
            el = getattr(el, "_parent", None)
        self.map_name = el.get_name() if el is not None else self._parent.get_name() + "._map"
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(Element(
                "<style>.pm-area-label{background:none;border:none;pointer-events:none}"
                ".pm-area-label span{display:inline-block;transform:translate(-50%,-50%);white-space:nowrap;"
                "font:600 11px/1.2 sans-serif;color:#1a1a1a;text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}"
                ".pm-labels-off .pm-area-label{display:none}</style>"
            ), name="maps_area_label_css")
        super().render(**kwargs)


# ---------------------------------------------------------------------------- proposals


def proposals_layer(
    gdf,
    *,
    lang: str = "zh",
    shift_gcj02: bool = False,
    name: str | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """Proposed sites as large gold rings with a star and their rank.

    Parameters
    ----------
    gdf : DataFrame or GeoDataFrame
        Columns ``id``, ``rank``, ``lon``, ``lat`` (WGS-84) and ``marginal_demand``
        (people newly covered by this site).

    Returns
    -------
    folium.FeatureGroup
    """
    _check_lang(lang)
    _require(gdf, ["id", "rank", "lon", "lat", "marginal_demand"], "proposals")
    lon = pd.to_numeric(gdf["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(gdf["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if (~ok).any():
        logger.warning("%d proposed sites without valid lon/lat are not drawn", int((~ok).sum()))
    rows = gdf[ok]
    x, y = _display_xy(lon[ok], lat[ok], shift_gcj02)
    icons: list[dict] = []
    features = []
    star = _svg("star")
    for (_, row), fx, fy in zip(rows.iterrows(), x, y):
        rank = _esc(row["rank"])
        icons.append({
            "html": f'<div class="pm-ring">{star}<span class="pm-rank">{rank}</span></div>',
            "cls": "pm-prop",
            "size": [34, 34],
            "z": 1000,
        })
        tip = (f"{_t('rank', lang)} {rank}<br>{_t('marginal', lang)}: {_fmt_num(row['marginal_demand'])}"
               f"<br>{_t('id', lang)}: {_esc(row['id'])}")
        features.append(_feature({"type": "Point", "coordinates": [float(fx), float(fy)]},
                                 {"_i": len(icons) - 1, "_tip": tip}))
    group = folium.FeatureGroup(name=_esc(name or _t("proposals", lang)), show=show)
    group.add_child(_GeoJsonLayer(features, icons=icons, css=_CSS))
    return group


# ---------------------------------------------------------------------------- siting constraints and routes


def candidates_layer(gdf, *, lang: str = "zh", shift_gcj02: bool = False, name: str | None = None,
                     show: bool = True) -> folium.FeatureGroup:
    """Candidate sites (the only places a new site may go) as small hollow rings.

    ``gdf``: columns ``lon``, ``lat`` (WGS-84) and optionally ``id``, ``name`` (escaped in the tooltip).
    """
    _check_lang(lang)
    _require(gdf, ["lon", "lat"], "candidates")
    lon = pd.to_numeric(gdf["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(gdf["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    rows = gdf[ok]
    x, y = _display_xy(lon[ok], lat[ok], shift_gcj02)
    icons = [{"html": '<div class="pm-hollow"></div>', "cls": "pm-cand", "size": [12, 12], "z": 500}]
    features = []
    for (_, row), fx, fy in zip(rows.iterrows(), x, y):
        label = " · ".join(_esc(row[c]) for c in ("name", "id") if c in rows.columns and pd.notna(row[c]) and str(row[c]))
        features.append(_feature({"type": "Point", "coordinates": [float(fx), float(fy)]},
                                 {"_i": 0, "_tip": label or _t("candidates", lang)}))
    group = folium.FeatureGroup(name=_esc(name or _t("candidates", lang)), show=show)
    group.add_child(_GeoJsonLayer(features, icons=icons, css=_CSS))
    return group


_HATCH = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="pm-hatch" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)">'
    f'<rect width="8" height="8" fill="{style.EXCLUSION_FILL}" fill-opacity="0.5"/>'
    f'<line x1="0" y1="0" x2="0" y2="8" stroke="{style.EXCLUSION_STROKE}" stroke-width="2.5"/></pattern></defs></svg>'
)


def exclusions_layer(gdf, *, lang: str = "zh", shift_gcj02: bool = False, name: str | None = None,
                     show: bool = True) -> folium.FeatureGroup:
    """Exclusion zones (no new site may go there): grey hatched polygons with a dashed outline, the zone's name as
    tooltip."""
    _check_lang(lang)
    g = _to_wgs84(gdf)
    geoms = _display_geoms(np.asarray(g.geometry.values), shift_gcj02)
    # hatched: an SVG pattern on the page, grey where a viewer does not resolve it
    styles = [{"color": style.EXCLUSION_STROKE, "weight": 1.5, "opacity": 0.9, "dashArray": "4 3",
               "fillColor": f"url(#pm-hatch) {style.EXCLUSION_FILL}", "fillOpacity": 0.6}]
    features = []
    names = g["name"] if "name" in g.columns else pd.Series([""] * len(g), index=g.index)
    for geom, nm in zip(geoms, names):
        if geom is None or geom.is_empty:
            continue
        tip = f"<b>{_esc(nm)}</b><br>{_t('exclusions', lang)}" if str(nm) else _t("exclusions", lang)
        features.append(_feature(shapely.geometry.mapping(geom), {"_s": 0, "_tip": tip}))
    group = folium.FeatureGroup(name=_esc(name or _t("exclusions", lang)), show=show)
    group.add_child(_GeoJsonLayer(features, styles=styles, body=_HATCH))
    return group


def route_layer(route: Mapping, *, lang: str = "zh", shift_gcj02: bool = False, name: str | None = None,
                show: bool = True) -> folium.FeatureGroup:
    """A walking route (``CoverageResult.route``: ``lonlat``, ``minutes``, ``metres``, ``facility_name``) as a line
    with a popup of the minutes and the facility's name (escaped)."""
    _check_lang(lang)
    xy = np.asarray(route["lonlat"], dtype=float)
    x, y = _display_xy(xy[:, 0], xy[:, 1], shift_gcj02)
    text = _t("route_tip", lang).format(minutes=f"{float(route['minutes']):.1f}", metres=f"{float(route['metres']):,.0f}",
                                        name=_esc(route.get("facility_name", "")))
    line = _feature({"type": "LineString", "coordinates": [[float(a), float(b)] for a, b in zip(x, y)]},
                    {"_s": 0, "_tip": text, "_pop": f'<div class="pm-route">{text}</div>'})
    # the clicked place, its label shown at once: the answer to the click
    start = _feature({"type": "Point", "coordinates": [float(x[0]), float(y[0])]},
                     {"_i": 0, "_tip": text, "_pop": f'<div class="pm-route">{text}</div>', "_open": True})
    dot = (f'<div style="box-sizing:border-box;width:100%;height:100%;border-radius:50%;'
           f'background:{style.ROUTE_START_FILL};border:3px solid {style.ROUTE_COLOUR}"></div>')
    group = folium.FeatureGroup(name=_esc(name or _t("route", lang)), show=show)
    group.add_child(_GeoJsonLayer([line], styles=[{"color": style.ROUTE_COLOUR, "weight": 5, "opacity": 0.9}]))
    group.add_child(_GeoJsonLayer([start], icons=[{"html": dot, "cls": "pm-icon", "size": [14, 14], "z": 900}]))
    return group


# ---------------------------------------------------------------------------- legend


#: Below this map width (pixels) the legend opens folded: on a narrow map it would hide the data.
LEGEND_FOLD_BELOW_PX = 700


class _Legend(MacroElement):
    """A fixed Leaflet control holding pre-escaped legend HTML; a click on its heading folds it to a small
    button and back (plain DOM, nothing loaded). It opens folded on maps narrower than ``fold_below`` pixels."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var c = L.control({position: {{ this.position|tojson }}});
            c.onAdd = function (map) {
                var d = L.DomUtil.create('div', 'pm-legend');
                d.innerHTML = {{ this.body|tojson }};
                var b = d.querySelector('.pm-lg-head');
                var texts = {{ this.toggle_titles|tojson }};
                function set(folded) {
                    d.classList.toggle('pm-folded', folded);
                    b.setAttribute('aria-expanded', folded ? 'false' : 'true');
                    b.title = folded ? texts[1] : texts[0];
                }
                set(map.getSize().x < {{ this.fold_below|tojson }});
                L.DomEvent.on(b, 'click', function (e) {
                    L.DomEvent.stop(e);
                    set(!d.classList.contains('pm-folded'));
                });
                L.DomEvent.disableClickPropagation(d);
                L.DomEvent.disableScrollPropagation(d);
                return d;
            };
            c.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, body: str, position: str = "bottomright", *, fold_below: int = LEGEND_FOLD_BELOW_PX,
                 toggle_titles: tuple[str, str] = ("", "")):
        super().__init__()
        self._name = "Legend"
        self.body = body
        self.position = position
        self.fold_below = int(fold_below)
        self.toggle_titles = list(toggle_titles)

    def render(self, **kwargs):
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(Element(
                "<style>.pm-legend{background:rgba(255,255,255,.92);padding:6px 9px;border-radius:5px;"
                "box-shadow:0 1px 4px rgba(0,0,0,.35);font:12px/1.35 sans-serif;max-width:260px;"
                "max-height:60vh;overflow:auto}.pm-legend h4{margin:0 0 4px;font-size:13px}"
                ".pm-legend .pm-lg-head{all:unset;cursor:pointer;display:flex;align-items:center;gap:6px;"
                "font-weight:bold;font-size:13px;margin:0 0 4px;width:100%}"
                ".pm-legend .pm-lg-head:focus-visible{outline:2px solid #08519c}"
                ".pm-legend .pm-lg-head::after{content:'\\25BE';margin-left:auto;font-size:11px}"
                ".pm-legend.pm-folded{padding:3px 7px}.pm-legend.pm-folded .pm-lg-head{margin:0}"
                ".pm-legend.pm-folded .pm-lg-head::after{content:'\\25B8'}"
                ".pm-legend.pm-folded .pm-lg-body{display:none}"
                ".pm-legend .pm-row{display:flex;align-items:center;gap:6px;margin:2px 0}"
                ".pm-legend .pm-sw{flex:none;width:16px;height:16px;border-radius:50%;display:flex;"
                "align-items:center;justify-content:center;border:1px solid #fff;box-shadow:0 0 1px #000}"
                ".pm-legend .pm-sw svg{width:60%;height:60%;fill:#fff}"
                ".pm-legend .pm-sw.pm-band{border-radius:2px;box-shadow:none}"
                ".pm-legend .pm-bar{height:10px;border-radius:2px;margin:3px 0 1px}"
                ".pm-legend .pm-ticks{display:flex;justify-content:space-between;font-size:11px}</style>"
            ), name="maps_legend_css")
        super().render(**kwargs)


def legend(
    types: Mapping | Iterable,
    *,
    lang: str = "zh",
    title: str | None = None,
    gap_scale: bcm.LinearColormap | None = None,
    show_unreachable: bool = True,
    share_goal: float | None = None,
    surface_goal: float | None = None,
    candidates: bool = False,
    exclusions: bool = False,
    route: bool = False,
    access_max: float | None = None,
    iso_minutes: Iterable[float] | None = None,
    iso_outline: bool = False,
    position: str = "bottomright",
    fold_below: int = LEGEND_FOLD_BELOW_PX,
) -> MacroElement:
    """A fixed legend: facility types with colour and glyph, and the gap colour scale.

    Parameters
    ----------
    types : FacilityTypes or iterable of FacilityType
        The types shown on the map (pass a filtered list to list only those).
    lang : {"zh", "en"}
    title : str, optional
        Heading; default 图例 / Legend. Escaped. A click on it folds the legend to a small button and back.
    gap_scale : branca LinearColormap, optional
        The scale used by :func:`gaps_layer` (see :func:`gap_colormap`); drawn as a bar.
    show_unreachable : bool
        Add the unreachable swatch under the gap scale.
    share_goal : float, optional
        Also draw the subdistrict coverage-share scale around this goal.
    surface_goal : float, optional
        Also draw the minutes surface's scale (0 to this goal, minutes) with its beyond-the-goal
        and unreachable colours.
    access_max : float, optional
        Also draw the access scale (supply per 1,000 residents, 0 to this value, see
        :func:`maps.access.access_areas_layer`) with the no-access colour.
    iso_minutes : iterable of float, optional
        The isochrone bands on the map (:func:`iso_levels`): a swatch per band in its look.
    iso_outline : bool
        The bands are drawn as outlines (over a minutes surface).
    position : str
        Leaflet control corner.
    fold_below : int
        The legend opens folded on maps narrower than this (pixels).

    Returns
    -------
    branca.element.MacroElement
        Add it to the map (``legend(...).add_to(m)``).
    """
    _check_lang(lang)
    items = list(types.values()) if isinstance(types, Mapping) else list(types)
    head = _esc(title if title is not None else _t("legend", lang))
    parts = []
    for ft in items:
        parts.append(
            f'<div class="pm-row"><span class="pm-sw" style="background:{_esc(ft.colour)}">'
            f"{_svg(ft.icon)}</span><span>{_esc(ft.label(lang))}</span></div>"
        )
    levels = [float(m) for m in (iso_minutes or [])]
    if levels:
        parts.append(f'<div style="margin-top:6px" class="pm-iso-key">{_esc(_t("iso_scale", lang))}</div>')
        for m, colour in zip(levels, style.iso_band_colours(len(levels))):
            look = (f"background:{style.ISO_SWATCH_BACKDROP};border:2px solid {colour}" if iso_outline else
                    f"background:{_rgba(colour, style.ISO_FILL_OPACITY * 2)};border:1px solid {style.ISO_BAND_COLOURS[0]}")
            parts.append(f'<div class="pm-row pm-iso"><span class="pm-sw pm-band" style="{look}"></span>'
                         f"<span>≤ {m:g} {_t('minutes', lang)}</span></div>")
    if gap_scale is not None:
        parts.append(_bar(gap_scale, _esc(gap_scale.caption or _t("gap_scale", lang)), digits=0))
        if show_unreachable:
            parts.append(
                f'<div class="pm-row"><span class="pm-sw" style="border-radius:2px;background:{UNREACHABLE_COLOUR}">'
                f"</span><span>{_t('unreachable', lang)}</span></div>"
            )
    if surface_goal is not None:
        parts.append(_bar(surface_colormap(surface_goal, lang=lang), _esc(_t("surface_scale", lang))))
        over = f"{_t('beyond_goal', lang)}（&gt; {surface_goal:g} {_t('minutes', lang)}）" if lang != "en" \
            else f"{_t('beyond_goal', lang)} (&gt; {surface_goal:g} {_t('minutes', lang)})"
        top = style.gap_scale_top(surface_goal)
        parts.append(_bar(bcm.LinearColormap(list(style.SURFACE_BEYOND_COLOURS), vmin=float(surface_goal), vmax=top),
                          over, last_plus=True))
        parts.append(f'<div class="pm-row"><span class="pm-sw" style="border-radius:2px;'
                     f'background:{style.SURFACE_UNREACHABLE}"></span><span>{_t("no_facility_reach", lang)}</span></div>')
    if candidates:
        parts.append(f'<div class="pm-row"><span class="pm-sw" style="width:10px;height:10px;background:transparent;'
                     f'border:2px solid {style.CANDIDATE_STROKE}"></span><span>{_t("candidates", lang)}</span></div>')
    if exclusions:
        hatch = f"repeating-linear-gradient(45deg,{style.EXCLUSION_STROKE} 0 2px,{style.EXCLUSION_FILL} 2px 5px)"
        parts.append(f'<div class="pm-row"><span class="pm-sw" style="border-radius:2px;background:{hatch};'
                     f'border:1px dashed {style.EXCLUSION_STROKE}"></span><span>{_t("exclusions", lang)}</span></div>')
    if route:
        parts.append(f'<div class="pm-row"><span class="pm-sw" style="border-radius:2px;height:4px;background:{style.ROUTE_COLOUR}">'
                     f'</span><span>{_t("route", lang)}</span></div>')
    if share_goal is not None:
        caption = f"{_t('share', lang)}（{_t('goal', lang)} {share_goal:.0%}）" if lang != "en" \
            else f"{_t('share', lang)} ({_t('goal', lang)} {share_goal:.0%})"
        parts.append(_bar(share_colormap(share_goal), caption, pct=True))
    if access_max is not None:
        top = float(access_max) if access_max > 0 else 1.0
        digits = max(0, min(4, 2 - int(math.floor(math.log10(top)))))
        parts.append(_bar(style.access_colormap(top), _esc(_t("access_scale", lang)), digits=digits))
        parts.append(f'<div class="pm-row"><span class="pm-sw" style="border-radius:2px;background:{style.ACCESS_NONE_COLOUR}">'
                     f"</span><span>{_t('access_none', lang)}</span></div>")
    body = (f'<button type="button" class="pm-lg-head" aria-expanded="true">{head}</button>'
            f'<div class="pm-lg-body">{"".join(parts)}</div>')
    return _Legend(body, position=position, fold_below=fold_below,
                   toggle_titles=(_t("legend_fold", lang), _t("legend_open", lang)))


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{min(max(alpha, 0.0), 1.0):.2f})"


def _bar(cmap: bcm.LinearColormap, caption: str, *, digits: int | None = None, pct: bool = False,
         last_plus: bool = False) -> str:
    """A colour bar with four ticks; ``digits`` default: up to one decimal, none when whole (a 1.5-minute goal read
    0, 0, 1, 2 with none). ``last_plus`` marks the top as "and more" (≥)."""
    stops = np.linspace(cmap.vmin, cmap.vmax, 9)
    grad = ",".join(cmap(v)[:7] for v in stops)
    ticks = np.linspace(cmap.vmin, cmap.vmax, 4)
    labels = [f"{v * 100:.0f}%" if pct else f"{round(float(v), 1):g}" if digits is None else f"{v:.{digits}f}"
              for v in ticks]
    if last_plus:
        labels[-1] = "≥" + labels[-1]
    return (f'<div style="margin-top:6px">{caption}</div>'
            f'<div class="pm-bar" style="background:linear-gradient(to right,{grad})"></div>'
            f'<div class="pm-ticks">{"".join(f"<span>{t}</span>" for t in labels)}</div>')
