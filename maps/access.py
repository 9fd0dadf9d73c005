"""Access on the map: subdistricts filled by population-weighted access, residents' access as one image.

Access is supply per 1,000 residents within reach (:func:`planner.fca.access`). Both layers share
one sequential colour-blind-safe scale (:data:`maps.style.ACCESS_COLOURS`, 0 to a top value, above
it the darkest colour) and the no-access colour; :func:`maps.layers.legend` draws it with
``access_max``. The residents' layer is a small PNG of the population-weighted mean access per pixel,
so it shows a study of any size (300k demand points are one image, not 300k markers).
"""
from __future__ import annotations

import math

import folium
import numpy as np
import pandas as pd
import shapely

from .layers import (
    _cap_note,
    _check_lang,
    _display_xy,
    _esc,
    _feature,
    _fmt_num,
    _GeoJsonLayer,
    _ImageOverlay,
    _prepare_polygons,
    _require,
    _t,
    legend,
)
from .style import ACCESS_COLOURS, ACCESS_NONE_COLOUR, access_colormap

__all__ = ["access_scale_max", "access_area_frame", "access_areas_layer", "access_points_rgba", "access_points_layer",
           "add_access_layers", "access_map"]

_EARTH_R = 6378137.0


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def access_scale_max(access, population=None) -> float:
    """The top of the access scale: the residents' 95th percentile of positive access, rounded up to 1, 2 or 5 × 10^k.

    One value for the subdistricts and the residents (and for before/after of a what-if, when the
    caller keeps it), so a colour means the same access everywhere on the map. 1.0 when nobody has access.
    """
    a = np.asarray(access, dtype=float)
    w = np.ones_like(a) if population is None else np.asarray(population, dtype=float)
    ok = np.isfinite(a) & (a > 0) & (w > 0)
    if not ok.any():
        return 1.0
    a, w = a[ok], w[ok]
    o = np.argsort(a, kind="stable")
    cw = np.cumsum(w[o])
    p95 = float(a[o][min(np.searchsorted(cw, 0.95 * cw[-1]), len(a) - 1)])
    k = 10.0 ** math.floor(math.log10(p95))
    for step in (1.0, 2.0, 5.0, 10.0):
        if p95 <= step * k * (1 + 1e-12):
            return step * k
    return 10.0 * k


def access_area_frame(result, areas):
    """The per-area access table of an :class:`~planner.fca.AccessResult` with the areas' polygons (EPSG:4326).

    ``areas``: the study's areas (``area_id`` and geometry). Returns a GeoDataFrame with ``area_id, name,
    demand_total, access_mean_per_1000, access_gini, share_below, share_no_access``; empty without areas.
    """
    import geopandas as gpd

    table = result.areas if isinstance(result.areas, pd.DataFrame) else pd.DataFrame(result.areas)
    if areas is None or not len(areas) or not len(table):
        return gpd.GeoDataFrame({"area_id": [], "name": []}, geometry=[], crs=4326)
    geo = areas[["area_id", "geometry"]].to_crs(4326)
    return gpd.GeoDataFrame(geo.merge(table, on="area_id", how="inner"), geometry="geometry", crs=4326)


def access_areas_layer(
    gdf,
    *,
    max_access: float,
    below: float | None = None,
    lang: str = "zh",
    shift_gcj02: bool = False,
    simplify_m: float = 20.0,
    max_features: int | None = 2000,
    name: str | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """Subdistricts filled by population-weighted access; tooltips with name, access, Gini and share below ``below``.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons with ``name``, ``access_mean_per_1000``, ``access_gini`` and (optional) ``share_below``
        (see :func:`access_area_frame`). Names are escaped.
    max_access : float
        Top of the colour scale (see :func:`access_scale_max`).
    below : float, optional
        The planner's threshold (supply per 1,000): the tooltip's share of residents below it.
    """
    _check_lang(lang)
    _require(gdf, ["name", "access_mean_per_1000", "access_gini"], "access areas")
    prep, total = _prepare_polygons(gdf, shift_gcj02=shift_gcj02, simplify_m=simplify_m, max_features=max_features,
                                    keep_largest="demand_total" if "demand_total" in gdf.columns else None)
    cmap = access_colormap(max_access)
    styles: list[dict] = []
    index: dict[str, int] = {}
    features = []
    has_below = below is not None and "share_below" in prep.columns
    for _, row in prep.iterrows():
        acc = pd.to_numeric(pd.Series([row["access_mean_per_1000"]]), errors="coerce").iloc[0]
        if pd.isna(acc):
            fill = "#bdbdbd"
        elif acc <= 0:
            fill = ACCESS_NONE_COLOUR
        else:
            fill = cmap(min(float(acc), cmap.vmax))[:7]
        if fill not in index:
            index[fill] = len(styles)
            styles.append({"color": "#404040", "weight": 1.5, "opacity": 0.9, "fillColor": fill, "fillOpacity": 0.45})
        tip = (f"<b>{_esc(row['name'])}</b><br>{_t('access', lang)}: {_fmt_num(acc, 3)}"
               f"<br>{_t('gini', lang)}: {_fmt_num(row['access_gini'], 3)}")
        if has_below:
            share = pd.to_numeric(pd.Series([row["share_below"]]), errors="coerce").iloc[0]
            tip += f"<br>{_esc(_t('share_below', lang).format(below=f'{below:g}'))}: " + \
                   (f"{share * 100:.1f}%" if pd.notna(share) else "–")
        features.append(_feature(shapely.geometry.mapping(row.geometry), {"_s": index[fill], "_tip": tip}))
    title = (name or _t("access_areas", lang)) + _cap_note(len(prep), total, lang)
    group = folium.FeatureGroup(name=_esc(title), show=show)
    group.add_child(_GeoJsonLayer(features, styles=styles))
    return group


def _merc_y(lat):
    return np.log(np.tan(np.pi / 4 + np.radians(np.asarray(lat, dtype=float)) / 2))


def access_points_rgba(lon, lat, access, population=None, *, max_access: float, max_px: int = 480,
                       min_pixel_m: float = 40.0):
    """Residents' access on a Web-Mercator-aligned grid: ``(uint8[rows, cols, 4], (west, south, east, north))``.

    A pixel holds the population-weighted mean access of the demand points in it (coloured along
    :data:`ACCESS_COLOURS` from 0 to ``max_access``, above it the darkest); access 0 is
    :data:`ACCESS_NONE_COLOUR`; pixels with no resident are transparent.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    a = np.asarray(access, dtype=float)
    w = np.ones_like(a) if population is None else np.maximum(np.asarray(population, dtype=float), 0.0)
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(a)
    lon, lat, a, w = lon[ok], lat[ok], a[ok], w[ok]
    if not len(lon):
        return np.zeros((1, 1, 4), np.uint8), (0.0, 0.0, 0.0, 0.0)
    x, y = np.radians(lon), _merc_y(lat)
    m_per_unit = _EARTH_R * math.cos(math.radians(float((lat.min() + lat.max()) / 2)))
    span = max(float(x.max() - x.min()), float(y.max() - y.min()), 1e-9)
    px = max(span / max_px, min_pixel_m / m_per_unit)
    west, north = float(x.min()) - px / 2, float(y.max()) + px / 2
    cols = int(math.floor((float(x.max()) - west) / px)) + 1
    rows = int(math.floor((north - float(y.min())) / px)) + 1
    c = np.clip(((x - west) / px).astype(np.int64), 0, cols - 1)
    r = np.clip(((north - y) / px).astype(np.int64), 0, rows - 1)
    cell = r * cols + c
    wt = w + 1e-12  # points of zero population still show where they are
    sw = np.bincount(cell, weights=wt, minlength=rows * cols)
    sa = np.bincount(cell, weights=wt * a, minlength=rows * cols)
    filled = sw > 0
    mean = np.zeros(rows * cols)
    mean[filled] = sa[filled] / sw[filled]
    stops = np.array([_rgb(h) for h in ACCESS_COLOURS], dtype=float)
    top = float(max_access) if max_access and max_access > 0 else 1.0
    f = np.clip(mean / top, 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(np.floor(f).astype(np.int64), len(stops) - 2)
    frac = (f - i)[:, None]
    rgb = np.rint(stops[i] * (1 - frac) + stops[i + 1] * frac).astype(np.uint8)
    rgb[filled & (mean <= 0)] = _rgb(ACCESS_NONE_COLOUR)
    out = np.zeros((rows * cols, 4), np.uint8)
    out[:, :3] = rgb
    out[filled, 3] = 255
    south = north - rows * px
    east = west + cols * px
    bounds = (math.degrees(west), math.degrees(2 * math.atan(math.exp(south)) - math.pi / 2),
              math.degrees(east), math.degrees(2 * math.atan(math.exp(north)) - math.pi / 2))
    return out.reshape(rows, cols, 4), bounds


def access_points_layer(
    lon, lat, access, population=None, *,
    max_access: float,
    lang: str = "zh",
    shift_gcj02: bool = False,
    opacity: float = 0.85,
    name: str | None = None,
    show: bool = True,
    max_px: int = 480,
) -> folium.raster_layers.ImageOverlay:
    """Residents' access as one image (PNG data URL: self-contained, no feature cap); see :func:`access_points_rgba`."""
    from .raster import png_data_url

    _check_lang(lang)
    rgba, (west, south, east, north) = access_points_rgba(lon, lat, access, population, max_access=max_access,
                                                          max_px=max_px)
    (w, e), (s, n) = _display_xy([west, east], [south, north], shift_gcj02)
    return _ImageOverlay(
        png_data_url(rgba), bounds=[[float(s), float(w)], [float(n), float(e)]], opacity=float(opacity),
        name=_esc(name or _t("access_points", lang)), show=show, interactive=False, pixelated=True,
    )


def add_access_layers(m, result, areas=None, *, access=None, max_access: float | None = None, below: float | None = None,
                      area_table=None, lang: str = "zh", shift_gcj02: bool = False) -> float:
    """Add the residents' access image and the subdistricts' access to map ``m``; returns the scale's top.

    ``result``: an :class:`~planner.fca.AccessResult`; ``access``: other per-point values to draw
    instead (a what-if's current access, aligned to ``result.demand``); ``area_table``: the per-area
    table to draw instead of ``result.areas`` (same columns); ``areas``: the study's area polygons.
    """
    d = result.demand
    values = d["access_per_1000"].to_numpy(float) if access is None else np.asarray(access, dtype=float)
    pop = d["population"].to_numpy(float)
    top = max_access if max_access is not None else access_scale_max(values, pop)
    access_points_layer(d["lon"].to_numpy(float), d["lat"].to_numpy(float), values, pop, max_access=top, lang=lang,
                        shift_gcj02=shift_gcj02).add_to(m)
    if areas is not None and len(areas):
        table = result.areas if area_table is None else area_table
        frame = access_area_frame(result if area_table is None else _With(table), areas)
        if len(frame):
            access_areas_layer(frame, max_access=top, below=below if below is not None else result.below, lang=lang,
                               shift_gcj02=shift_gcj02).add_to(m)
    return top


class _With:
    """A stand-in result holding only a per-area table (for :func:`access_area_frame`)."""

    def __init__(self, areas):
        self.areas = areas


def access_map(result, *, areas=None, facilities=None, types=None, streets=None, lang: str = "zh", basemap: str = "none",
               title: str | None = None) -> folium.Map:
    """A self-contained map of one access result: streets, residents' access, subdistricts, facilities, legend.

    What ``python -m planner access`` writes as map.html. ``facilities``: ``id, name, type, lon, lat``
    (default: the result's facilities have no coordinates, so none are drawn); ``types``: the study's types.
    """
    from .assets import offline_map
    from .basemaps import needs_gcj02
    from .build import SHANGHAI
    from .layers import facilities_layer, streets_layer

    _check_lang(lang)
    shift = needs_gcj02(basemap)
    m = offline_map(SHANGHAI, 12, basemap=basemap, title=_esc(title) if title else None, control_scale=True)
    if streets is not None:
        streets_layer(streets, lang=lang, shift_gcj02=shift).add_to(m)
    top = add_access_layers(m, result, areas, lang=lang, shift_gcj02=shift)
    shown = []
    if facilities is not None and len(facilities) and types is not None:
        facilities_layer(facilities, types, lang=lang, shift_gcj02=shift).add_to(m)
        if result.type_key in types:
            shown = [types[result.type_key]]
    legend(shown, lang=lang, title=title, access_max=top).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    bounds = m.get_bounds()
    if bounds and None not in bounds[0] + bounds[1]:
        m.location = [(bounds[0][0] + bounds[1][0]) / 2.0, (bounds[0][1] + bounds[1][1]) / 2.0]
        m.fit_bounds(bounds, padding=(10, 10))
    return m
