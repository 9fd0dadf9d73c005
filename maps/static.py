"""A static map of a coverage result as inline SVG (no tiles, no JavaScript), for printed reports.

Subdistricts are filled by coverage share, gap cells by walking minutes to the nearest
facility, facilities are dots coloured by type and proposed sites are stars; everything is
projected to the study's metric CRS, simplified to about a pixel, and drawn with a scale bar
and a north arrow. Every string from user files is escaped.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import shapely

from planner.i18n import section

from .layers import _default_gap_max, gap_colormap
from .layers import _esc as _esc_label
from .style import (
    HIGHLIGHT_COLOUR,
    PROPOSAL_FILL,
    PROPOSAL_STROKE,
    UNKNOWN_COLOUR,
    UNREACHABLE_COLOUR,
    gap_scale_top,
    share_colormap,
)

logger = logging.getLogger(__name__)

__all__ = ["static_map_svg", "map_legend_html", "proposals_frame", "focus_type"]

_TEXT = section("static")  # the one catalogue: planner/i18n.py


def _t(key: str, lang: str) -> str:
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def _esc(value) -> str:
    return _esc_label(value)


def _hex(colour: str) -> str:
    """branca gives ``#rrggbbaa``; SVG attributes get ``#rrggbb``."""
    return colour[:7]


def focus_type(result, type_key: str | None = None) -> str:
    """The type whose gaps and shares the map shows: ``type_key`` (key or label) or the first evaluated."""
    keys = list(result.coverage)
    if type_key is None:
        return keys[0]
    key = result.study.types.resolve(type_key) if hasattr(result.study.types, "resolve") else type_key
    if key not in result.coverage:
        from planner._errors import InputError

        raise InputError(
            f"Type '{type_key}' was not evaluated in this result; choose one of {keys}.",
            f"此结果未评估类型「{type_key}」；请选择 {keys} 之一。",
        )
    return key


def proposals_frame(proposals) -> pd.DataFrame:
    """Proposed sites as a DataFrame ``id, type, lon, lat`` (+ ``rank``, ``marginal_demand``, ``origin`` if given).

    Accepts a DataFrame, or an iterable of :class:`planner.store.Site` objects or dicts.
    """
    if proposals is None:
        return pd.DataFrame(columns=["id", "type", "lon", "lat"])
    if isinstance(proposals, pd.DataFrame):
        df = proposals.copy()
    else:
        rows = []
        for p in proposals:
            rows.append(p.to_dict() if hasattr(p, "to_dict") else dict(p))
        df = pd.DataFrame(rows)
    for col in ("id", "type"):
        if col not in df.columns:
            df[col] = ""
    missing = [c for c in ("lon", "lat") if c not in df.columns]
    if missing:
        raise ValueError(f"proposals: missing column(s) {missing}; it has {list(df.columns)}.")
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    return df.reset_index(drop=True)


def _metric_crs(result):
    net = getattr(result.study, "networks", {}).get("walk")
    crs = getattr(net, "crs", None)
    if crs:
        return crs
    lon = pd.to_numeric(result.facilities_table["lon"], errors="coerce").median()
    lat = pd.to_numeric(result.facilities_table["lat"], errors="coerce").median()
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return "EPSG:32651"
    from planner.coords import utm_crs

    return utm_crs(lon, lat)


class _Frame:
    """Metric coordinates -> SVG pixels (y down), fitted to a bounding box with a margin."""

    def __init__(self, bounds, width: float, height: float, pad: float):
        x0, y0, x1, y1 = bounds
        span_x, span_y = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        self.scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)  # px per metre
        self.ox = pad + ((width - 2 * pad) - span_x * self.scale) / 2 - x0 * self.scale
        self.oy = pad + ((height - 2 * pad) - span_y * self.scale) / 2 + y1 * self.scale

    def xy(self, x, y):
        return np.asarray(x) * self.scale + self.ox, self.oy - np.asarray(y) * self.scale

    def geom(self, g):
        return shapely.transform(g, lambda c: np.column_stack(self.xy(c[:, 0], c[:, 1])))


def _ring(coords) -> str:
    c = np.asarray(coords)[:, :2]
    if len(c) < 3:
        return ""
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in c[:-1])
    return f"M{pts}Z"


def _path_d(geom) -> str:
    if geom is None or geom.is_empty:
        return ""
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon":
            continue
        parts.append(_ring(poly.exterior.coords))
        parts.extend(_ring(r.coords) for r in poly.interiors)
    return "".join(parts)


def _star(cx: float, cy: float, r: float = 8.0) -> str:
    pts = []
    for i in range(10):
        a = -math.pi / 2 + i * math.pi / 5
        rr = r if i % 2 == 0 else r * 0.45
        pts.append(f"{cx + rr * math.cos(a):.1f},{cy + rr * math.sin(a):.1f}")
    return " ".join(pts)


def _nice_length(metres: float) -> float:
    """The largest 1/2/5 x 10^k not above ``metres``."""
    if metres <= 0:
        return 0.0
    k = 10 ** math.floor(math.log10(metres))
    for m in (5, 2, 1):
        if m * k <= metres:
            return m * k
    return k


def _to_metric(gdf, crs):
    if gdf is None or not len(gdf):
        return None
    g = gdf if gdf.crs is not None else gdf.set_crs(4326)
    g = g[~(g.geometry.isna() | g.geometry.is_empty)]
    return g.to_crs(crs) if len(g) else None


def static_map_svg(
    result,
    *,
    type_key: str | None = None,
    proposals=None,
    lang: str = "zh",
    width: int = 720,
    height: int | None = None,
    share_goal: float = 0.8,
    simplify_px: float = 0.7,
    max_gap_cells: int = 20000,
    all_types: bool = True,
    highlight=None,
) -> str:
    """Draw a coverage result as one ``<svg>`` element.

    Parameters
    ----------
    result : planner.scenario.CoverageResult
    type_key : str, optional
        The type whose gap cells and subdistrict shares are drawn; default the first evaluated.
    proposals : DataFrame or iterable of Site/dict, optional
        Proposed sites (``lon``, ``lat`` WGS-84; ``id``), drawn as stars.
    lang : {"zh", "en"}
    width, height : int
        Size in CSS pixels (the SVG scales with its container through ``viewBox``); by default
        the height follows the data's aspect ratio, between 0.45 and 0.62 of the width.
    share_goal : float
        Coverage share at the neutral colour of the subdistrict fill (as on the web map).
    simplify_px : float
        Polygons are simplified in the metric CRS with a tolerance of this many pixels.
    max_gap_cells : int
        At most this many gap cells (the most populous) are drawn.
    all_types : bool
        Draw the facilities of every evaluated type (True) or only of ``type_key``.
    highlight : GeoDataFrame, optional
        Polygons (EPSG:4326) drawn over the gaps in a colour of their own (``class="highlight"``), e.g.
        the cells a compared scenario newly covers.

    Returns
    -------
    str
        SVG markup: facilities are ``<circle class="fac" data-type=...>``, proposals
        ``<polygon class="prop">``; a scale bar (metres) and a north arrow (grid north of the
        metric CRS).
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}.")
    key = focus_type(result, type_key)
    d = _static_layers(result, key, proposals=proposals, max_gap_cells=max_gap_cells, all_types=all_types)
    boxes = d.boxes()
    if highlight is not None and len(highlight):
        boxes.append(_to_metric(highlight, _metric_crs(result)).total_bounds)
    if boxes:
        bb = np.array(boxes)
        bounds = (bb[:, 0].min(), bb[:, 1].min(), bb[:, 2].max(), bb[:, 3].max())
        if height is None:
            aspect = (bounds[3] - bounds[1]) / max(bounds[2] - bounds[0], 1.0)
            height = int(round(width * min(0.62, max(0.45, aspect))))
    height = height or int(width * 0.6)
    label = _esc(_t("map", lang))
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="static-map" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{label}" '
            f'font-family="Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, PingFang SC, sans-serif">')
    out = [head, f'<rect width="{width}" height="{height}" fill="#fbfbf8"/>']
    if not boxes:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="14" '
                   f'fill="#666">{_esc(_t("no_data", lang))}</text></svg>')
        return "".join(out)
    frame = _Frame(bounds, width, height, pad=18)
    tol = simplify_px / frame.scale

    def draw(gdf):
        return frame.geom(gdf.geometry.simplify(tol, preserve_topology=True).to_numpy())

    if d.areas is not None:
        out += _svg_area_fills(d.areas, draw(d.areas), share_colormap(share_goal))
    if d.gaps is not None:
        out += _svg_gaps(d.gaps, draw(d.gaps), lang, _gap_top(result, key, d.gaps["minutes"]))
    if highlight is not None and len(highlight):
        hl = _to_metric(highlight, _metric_crs(result))
        out.append(f'<g class="highlight" stroke="none" fill="{HIGHLIGHT_COLOUR}" fill-opacity="0.85">')
        out += [f'<path class="highlight" d="{_path_d(g)}"/>' for g in draw(hl)]
        out.append("</g>")
    if d.areas is not None:
        out += _svg_area_lines(d.areas, draw(d.areas), frame)
    out += _svg_facilities(d, frame, result.study.types, key, lang)
    if len(d.prop):
        out += _svg_proposals(d, frame)
    out.append(_scale_bar(frame, width, height))
    out.append(_north_arrow(width, lang))
    out.append("</svg>")
    return "".join(out)


class _StaticLayers:
    """What the static map draws, in the metric CRS: areas (with the focus type's share), gap cells, facilities,
    proposals."""

    def __init__(self, areas, gaps, ft, fpts, prop, ppts):
        self.areas, self.gaps, self.ft, self.fpts, self.prop, self.ppts = areas, gaps, ft, fpts, prop, ppts

    def boxes(self) -> list:
        return [b for b in (
            self.areas.total_bounds if self.areas is not None else None,
            self.gaps.total_bounds if self.gaps is not None else None,
            self.fpts.total_bounds if len(self.fpts) else None,
            self.ppts.total_bounds if len(self.ppts) else None,
        ) if b is not None and np.all(np.isfinite(b))]


def _static_layers(result, key: str, *, proposals, max_gap_cells: int, all_types: bool) -> _StaticLayers:
    import geopandas as gpd

    crs = _metric_crs(result)
    areas = None
    if result.study.areas is not None and len(result.study.areas):
        areas = _to_metric(result.study.areas[["area_id", "name", "geometry"]], crs)
        if areas is not None and len(result.areas):
            share = result.areas[result.areas["type"] == key][["area_id", "coverage_share"]]
            areas = areas.merge(share, on="area_id", how="left")
    gaps = None
    if result.gaps is not None and len(result.gaps):
        g = result.gaps[result.gaps["type"] == key]
        if len(g) > max_gap_cells:
            logger.warning("static map: drawing %d of %d gap cells (most populous)", max_gap_cells, len(g))
            g = g.sort_values("population", ascending=False).head(max_gap_cells)
        gaps = _to_metric(g, crs)
    ft = result.facilities_table
    ft = ft[ft["type"] == key] if not all_types else ft[ft["type"].isin(list(result.coverage))]
    flon = pd.to_numeric(ft["lon"], errors="coerce").to_numpy(dtype=float)
    flat = pd.to_numeric(ft["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(flon) & np.isfinite(flat)
    if (~ok).any():
        logger.warning("static map: %d facilities without coordinates are not drawn", int((~ok).sum()))
    ft = ft[ok]
    order = np.argsort((ft["type"] == key).to_numpy(), kind="stable")  # the focus type on top
    ft, flon, flat = ft.iloc[order], flon[ok][order], flat[ok][order]
    fpts = gpd.GeoSeries(gpd.points_from_xy(flon, flat), crs=4326).to_crs(crs)
    prop = proposals_frame(proposals)
    prop = prop[np.isfinite(prop["lon"].to_numpy(dtype=float)) & np.isfinite(prop["lat"].to_numpy(dtype=float))]
    ppts = gpd.GeoSeries(gpd.points_from_xy(prop["lon"], prop["lat"]), crs=4326).to_crs(crs)
    return _StaticLayers(areas, gaps, ft, fpts, prop, ppts)


def _svg_area_fills(areas, geoms, share_cmap) -> list[str]:
    out = ['<g class="areas" stroke="none" fill-opacity="0.55">']
    for geom, (_, row) in zip(geoms, areas.iterrows()):
        s = row.get("coverage_share")
        fill = _hex(share_cmap(float(s))) if s is not None and np.isfinite(s) else "#dddddd"
        tip = f'{_esc(row["name"])}: {float(s):.1%}' if s is not None and np.isfinite(s) else _esc(row["name"])
        out.append(f'<path d="{_path_d(geom)}" fill="{fill}" fill-rule="evenodd"><title>{tip}</title></path>')
    out.append("</g>")
    return out


def _gap_top(result, key: str, minutes) -> float:
    """The gap scale's top: the live map's rule (:func:`maps.style.gap_scale_top` of the type's goal)."""
    goals = getattr(result, "goals", None) or {}
    if key in goals:
        return gap_scale_top(goals[key].target_minutes)
    return _default_gap_max(np.asarray(minutes, dtype=float))


def _svg_gaps(gaps, geoms, lang: str, top: float) -> list[str]:
    minutes = pd.to_numeric(gaps["minutes"], errors="coerce").to_numpy(dtype=float)
    gcm = gap_colormap(top, lang=lang)
    out = ['<g class="gaps" stroke="none" fill-opacity="0.8">']
    for geom, m in zip(geoms, minutes):
        fill = _hex(gcm(min(m, top))) if np.isfinite(m) else UNREACHABLE_COLOUR
        out.append(f'<path class="gap" d="{_path_d(geom)}" fill="{fill}"/>')
    out.append("</g>")
    return out


def _svg_area_lines(areas, geoms, frame) -> list[str]:
    out = ['<g class="area-lines" fill="none" stroke="#444" stroke-width="1.1">']
    out += [f'<path d="{d}"/>' for d in _outlines(geoms)]
    out.append("</g>")
    # names at a point inside each area, with a white halo
    reps = frame.geom(areas.geometry.representative_point().to_numpy())
    out.append('<g class="area-names" font-size="10" fill="#222" text-anchor="middle" '
               'stroke="#fff" stroke-width="2.5" paint-order="stroke">')
    out += [f'<text x="{p.x:.1f}" y="{p.y:.1f}">{_esc(name)}</text>' for p, name in zip(reps, areas["name"])]
    out.append("</g>")
    return out


def _svg_facilities(d: _StaticLayers, frame, types, key: str, lang: str) -> list[str]:
    """Facilities coloured by type; the focus type's stand out (dark ring) from the warm gap colours."""
    fx, fy = frame.xy(d.fpts.x.to_numpy(), d.fpts.y.to_numpy())
    out = ['<g class="facilities" stroke="#fff" stroke-width="1">']
    for x, y, (_, row) in zip(fx, fy, d.ft.iterrows()):
        t = types.get(row["type"]) if hasattr(types, "get") else None
        colour = t.colour if t is not None else UNKNOWN_COLOUR
        tlabel = t.label(lang) if t is not None else row["type"]
        ring = ' stroke="#111" stroke-width="1.6"' if row["type"] == key else ""
        r = 5.0 if row["type"] == key else 3.0
        out.append(f'<circle class="fac" data-type="{_esc(row["type"])}" cx="{x:.1f}" cy="{y:.1f}" r="{r}" '
                   f'fill="{_esc(colour)}"{ring}><title>{_esc(row.get("name", ""))} ({_esc(tlabel)})</title></circle>')
    out.append("</g>")
    return out


def _svg_proposals(d: _StaticLayers, frame) -> list[str]:
    px, py = frame.xy(d.ppts.x.to_numpy(), d.ppts.y.to_numpy())
    out = [f'<g class="proposals" fill="{PROPOSAL_FILL}" stroke="{PROPOSAL_STROKE}" stroke-width="1.2">']
    out += [f'<polygon class="prop" points="{_star(x, y)}"><title>{_esc(row["id"])}</title></polygon>'
            for x, y, (_, row) in zip(px, py, d.prop.iterrows())]
    out.append("</g>")
    return out


def _outlines(geoms: Iterable) -> Iterable[str]:
    for g in geoms:
        d = _path_d(g)
        if d:
            yield d


def _scale_bar(frame: _Frame, width: int, height: int) -> str:
    metres = _nice_length(width * 0.22 / frame.scale)
    px = metres * frame.scale
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    x0, y0 = 14, height - 16
    half = px / 2
    return (
        f'<g class="scale-bar" font-size="10" fill="#222">'
        f'<rect x="{x0 - 4}" y="{y0 - 16}" width="{px + 8 + 40}" height="24" fill="#fff" fill-opacity="0.8"/>'
        f'<rect x="{x0}" y="{y0}" width="{half:.1f}" height="4" fill="#222"/>'
        f'<rect x="{x0 + half:.1f}" y="{y0}" width="{half:.1f}" height="4" fill="#fff" stroke="#222" stroke-width="0.8"/>'
        f'<text x="{x0}" y="{y0 - 4}">0</text>'
        f'<text x="{x0 + px:.1f}" y="{y0 - 4}" text-anchor="middle">{label}</text></g>'
    )


def _north_arrow(width: int, lang: str) -> str:
    x, y = width - 26, 16
    return (
        f'<g class="north-arrow"><polygon points="{x},{y} {x - 8},{y + 22} {x},{y + 17} {x + 8},{y + 22}" '
        f'fill="#222"/><text x="{x}" y="{y + 36}" font-size="12" text-anchor="middle" '
        f'font-weight="bold" fill="#222">{_esc(_t("north", lang))}</text></g>'
    )


def map_legend_html(result, *, type_key: str | None = None, proposals=None, lang: str = "zh",
                    share_goal: float = 0.8, all_types: bool = True) -> str:
    """The static map's legend as an HTML fragment (facility types, gap scale, share scale, proposals)."""
    key = focus_type(result, type_key)
    types = result.study.types
    keys = list(result.coverage) if all_types else [key]
    items = []
    for k in keys:
        t = types.get(k) if hasattr(types, "get") else None
        colour = t.colour if t is not None else UNKNOWN_COLOUR
        ring = ";border:1.5px solid #111" if k == key else ""
        items.append(f'<span class="lg-item"><span class="lg-dot" style="background:{_esc(colour)}{ring}"></span>'
                     f'{_esc(t.label(lang) if t is not None else k)}</span>')
    if len(proposals_frame(proposals)):
        items.append(f'<span class="lg-item"><span class="lg-star">★</span>{_esc(_t("proposals", lang))}</span>')
    parts = [f'<div class="lg-types">{"".join(items)}</div>']
    if result.gaps is not None and len(result.gaps):
        m = pd.to_numeric(result.gaps.loc[result.gaps["type"] == key, "minutes"], errors="coerce").to_numpy(dtype=float)
        top = _gap_top(result, key, m)
        cm = gap_colormap(top, lang=lang)
        stops = ", ".join(_hex(cm(top * i / 4)) for i in range(5))
        parts.append(
            f'<div class="lg-scale"><span class="lg-title">{_esc(_t("gaps", lang))}</span>'
            f'<span class="lg-bar" style="background:linear-gradient(to right, {stops})"></span>'
            f'<span class="lg-ticks"><span>0</span><span>{top / 2:g}</span><span>≥{top:g}</span></span>'
            f'<span class="lg-item"><span class="lg-dot sq" style="background:{UNREACHABLE_COLOUR}"></span>'
            f'{_esc(_t("unreachable", lang))}</span></div>'
        )
    if result.study.areas is not None and len(result.study.areas) and len(result.areas):
        cm = share_colormap(share_goal)
        stops = ", ".join(_hex(cm(i / 10)) for i in range(11))
        parts.append(
            f'<div class="lg-scale"><span class="lg-title">{_esc(_t("share", lang))}</span>'
            f'<span class="lg-bar" style="background:linear-gradient(to right, {stops})"></span>'
            f'<span class="lg-ticks"><span>0%</span><span>{_esc(_t("goal", lang))} {share_goal:.0%}</span>'
            f'<span>100%</span></span></div>'
        )
    return '<div class="map-legend">' + "".join(parts) + "</div>"
