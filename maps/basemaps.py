"""Basemaps: tile sources, their attribution, and which coordinate system they draw in."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import folium
from branca.element import Element

__all__ = ["Basemap", "BASEMAPS", "get_basemap", "add_basemap", "needs_gcj02", "BACKGROUND"]

logger = logging.getLogger(__name__)

#: Background colour of the map with no tiles (and behind tiles while they load).
BACKGROUND = "#f2efe9"


@dataclass(frozen=True)
class Basemap:
    """One tile source.

    Attributes
    ----------
    key : identifier used by the app and ``coverage_map(basemap=...)``.
    label_zh, label_en : display names.
    url : XYZ tile template, or None for no tiles.
    attribution : HTML attribution shown in the corner.
    subdomains : values for ``{s}`` in ``url``.
    crs : ``"wgs84"`` or ``"gcj02"``: the datum the tiles are drawn in. Layers must be
        shifted to GCJ-02 on a ``"gcj02"`` basemap or they sit several hundred metres off.
    max_zoom : deepest zoom the source serves.
    """

    key: str
    label_zh: str
    label_en: str
    url: str | None
    attribution: str
    subdomains: str = "abc"
    crs: str = "wgs84"
    max_zoom: int = 19

    def label(self, lang: str = "zh") -> str:
        return self.label_en if lang == "en" else self.label_zh


BASEMAPS: dict[str, Basemap] = {
    b.key: b
    for b in (
        Basemap("none", "无底图", "No basemap", None, ""),
        Basemap(
            "osm",
            "OpenStreetMap",
            "OpenStreetMap",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            subdomains="abc",
        ),
        Basemap(
            "cartodb_positron",
            "CartoDB 浅色",
            "CartoDB Positron",
            "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
            '&copy; <a href="https://carto.com/attributions">CARTO</a>',
            subdomains="abcd",
            max_zoom=20,
        ),
        Basemap(
            "amap",
            "高德地图（道路）",
            "Amap (roads)",
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            "高德地图",
            subdomains="1234",
            crs="gcj02",
            max_zoom=18,
        ),
        Basemap(
            "amap_satellite",
            "高德地图（卫星）",
            "Amap (satellite)",
            "https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}",
            "高德地图",
            subdomains="1234",
            crs="gcj02",
            max_zoom=18,
        ),
    )
}


def get_basemap(key: str) -> Basemap:
    """Look up a basemap by key; raise ValueError naming the known keys."""
    try:
        return BASEMAPS[key]
    except KeyError:
        raise ValueError(f"Unknown basemap {key!r}; choose one of {sorted(BASEMAPS)}.") from None


def needs_gcj02(key: str) -> bool:
    """True if layers drawn on this basemap must be shifted from WGS-84 to GCJ-02."""
    return get_basemap(key).crs == "gcj02"


def add_basemap(m: folium.Map, key: str = "none") -> folium.TileLayer | None:
    """Add a basemap's tiles (or none) and the light background to a map.

    Parameters
    ----------
    m : folium.Map
    key : str
        A key of :data:`BASEMAPS`.

    Returns
    -------
    folium.TileLayer or None
        None for ``"none"``: the overlays still draw on the plain background.
    """
    base = get_basemap(key)
    m.get_root().header.add_child(
        Element(f"<style>.folium-map.leaflet-container{{background:{BACKGROUND};}}</style>"), name="maps_background"
    )
    if base.url is None:
        return None
    layer = folium.TileLayer(
        tiles=base.url,
        attr=base.attribution,
        name=base.label_en,
        subdomains=base.subdomains,
        max_zoom=base.max_zoom,
        max_native_zoom=base.max_zoom,
        control=False,
    )
    layer.add_to(m)
    return layer
