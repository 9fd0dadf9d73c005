"""Show a folium map in Streamlit, offline, and return the last click (the one maps module that imports streamlit)."""
from __future__ import annotations

import logging
import math

import folium

from .assets import localize_assets, stable_ids

__all__ = ["show_map", "fit_view"]

logger = logging.getLogger(__name__)


def fit_view(bounds, *, width: int = 700, height: int = 500, padding: int = 20, max_zoom: int = 18) -> tuple:
    """A ``(center, zoom)`` that shows ``bounds`` (``[[south, west], [north, east]]``) in a frame of this size.

    Leaflet's ``fitBounds`` needs the map's size: a map drawn in a hidden tab has none and opens
    at the largest zoom. An explicit centre and zoom work whatever the size at draw time.
    """
    (s, w), (n, e) = bounds
    center = ((s + n) / 2.0, (w + e) / 2.0)

    def merc_y(lat: float) -> float:
        r = math.radians(max(min(lat, 85.0), -85.0))
        return math.log(math.tan(math.pi / 4 + r / 2))

    dx = max(abs(e - w) / 360.0, 1e-9)
    dy = max(abs(merc_y(n) - merc_y(s)) / (2 * math.pi), 1e-9)
    zx = math.log2(max(width - 2 * padding, 50) / 256.0 / dx)
    zy = math.log2(max(height - 2 * padding, 50) / 256.0 / dy)
    zoom = int(max(1, min(max_zoom, math.floor(min(zx, zy)))))
    return center, zoom


def show_map(m: folium.Map, *, height: int = 600, key: str | None = None, center=None, zoom: int | None = None,
             returned_objects=("last_clicked",)) -> dict:
    """Render ``m`` with streamlit-folium and return what the map reports (``last_clicked`` and so on).

    streamlit-folium's frontend loads every ``default_js`` link of the map with
    ``<script src>`` and only sizes its iframe once all of them loaded; one unreachable CDN
    link leaves it at height 0 (docs/maps.md). :func:`maps.assets.localize_assets` first
    turns those links into ``data:`` URIs, so the map shows with no network.

    Pass a **new** map on every run: streamlit-folium rewrites the map's element ids while
    rendering it, so a map object rendered once draws broken the second time
    (``feature_group_… is not defined`` and a frame of height 0).

    Parameters
    ----------
    m : folium.Map
        Typically from :func:`maps.build.coverage_map`. Its asset links are localised in
        place.
    height : int
        Frame height in pixels.
    key : str, optional
        Streamlit widget key (keeps the map's state across reruns).
    center, zoom : optional
        The view to show (``(lat, lon)`` and a Leaflet zoom). The frontend applies them with
        ``setView`` without reloading the map, and only when they differ from the values passed
        on the previous run, so pass the same values again to leave the user's view alone.
    returned_objects : sequence of str
        What the map reports back; each change of one of them reruns the app (e.g. ``zoom`` and
        ``center`` rerun on every pan).

    Returns
    -------
    dict
        streamlit-folium's value: ``last_clicked`` is ``{"lat": ..., "lng": ...}`` of the last
        click (in the map's display datum: GCJ-02 on Amap basemaps) or None.
    """
    from streamlit_folium import st_folium

    localize_assets(m)
    stable_ids(m)  # same inputs, same HTML: a rerun after a pan or zoom does not reload the map
    out = st_folium(
        m,
        height=int(height),
        use_container_width=True,
        returned_objects=list(returned_objects),
        key=key,
        center=tuple(center) if center is not None else None,
        zoom=int(zoom) if zoom is not None else None,
    )
    return dict(out or {})
