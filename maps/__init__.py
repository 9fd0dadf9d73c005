"""Map presentation: offline folium maps, basemaps, layers and legends (imports planner, never the reverse)."""
from __future__ import annotations

from .assets import OfflineAssetError, localize_assets, offline_map, to_html
from .basemaps import BASEMAPS, get_basemap, needs_gcj02
from .build import coverage_map, save_map
from .layers import (
    areas_layer,
    facilities_layer,
    gaps_layer,
    isochrones_layer,
    legend,
    proposals_layer,
    surface_layer,
)

__all__ = [
    "BASEMAPS",
    "OfflineAssetError",
    "areas_layer",
    "coverage_map",
    "facilities_layer",
    "gaps_layer",
    "get_basemap",
    "isochrones_layer",
    "legend",
    "localize_assets",
    "needs_gcj02",
    "offline_map",
    "proposals_layer",
    "save_map",
    "surface_layer",
    "to_html",
]
