"""Show a folium map in Streamlit, offline, and return the last click (the one maps module that imports streamlit)."""
from __future__ import annotations

import logging

import folium

from .assets import localize_assets

__all__ = ["show_map"]

logger = logging.getLogger(__name__)


def show_map(m: folium.Map, *, height: int = 600, key: str | None = None) -> dict | None:
    """Render ``m`` with streamlit-folium and return the last click on the map.

    streamlit-folium's frontend loads every ``default_js`` link of the map with
    ``<script src>`` and only sizes its iframe once all of them loaded; one unreachable CDN
    link leaves it at height 0 (docs/maps.md). :func:`maps.assets.localize_assets` first
    turns those links into ``data:`` URIs, so the map shows with no network.

    Parameters
    ----------
    m : folium.Map
        Typically from :func:`maps.build.coverage_map`. Its asset links are localised in
        place.
    height : int
        Frame height in pixels.
    key : str, optional
        Streamlit widget key (keeps the map's state across reruns).

    Returns
    -------
    dict or None
        ``{"lat": ..., "lng": ...}`` of the last click (in the map's display datum: GCJ-02
        on Amap basemaps), or None before the first click.
    """
    from streamlit_folium import st_folium

    localize_assets(m)
    out = st_folium(
        m,
        height=int(height),
        use_container_width=True,
        returned_objects=["last_clicked"],
        key=key,
    )
    click = (out or {}).get("last_clicked")
    if not click:
        return None
    return {"lat": float(click["lat"]), "lng": float(click["lng"])}
