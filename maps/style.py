"""Every colour and colour scale the maps, the static map and the reports draw with, in one place."""
from __future__ import annotations

import branca.colormap as bcm

__all__ = [
    "UNREACHABLE_COLOUR", "UNKNOWN_COLOUR", "GAP_COLOURS", "SHARE_COLOURS", "SHARE_MISSING_COLOUR", "SURFACE_COLOURS",
    "SURFACE_BEYOND", "SURFACE_UNREACHABLE", "HIGHLIGHT_COLOUR", "PROPOSAL_FILL", "PROPOSAL_STROKE", "STREETS_COLOUR",
    "BAND_WITHIN_COLOURS", "BAND_BEYOND_COLOUR", "CANDIDATE_STROKE", "EXCLUSION_FILL", "EXCLUSION_STROKE", "ROUTE_COLOUR",
    "ROUTE_START_FILL", "ACCESS_COLOURS", "ACCESS_NONE_COLOUR", "share_colormap", "gap_colormap", "access_colormap",
]

#: Demand no facility reaches (gap cells, legends, the report's band bars).
UNREACHABLE_COLOUR = "#3f007d"
#: A facility of a type the types file does not know.
UNKNOWN_COLOUR = "#737373"
#: Minutes to the nearest facility on gap cells: light (near) to dark red (far).
GAP_COLOURS = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"]
#: Coverage share, diverging around the planner's goal: red below, white at it, blue above.
SHARE_COLOURS = ["#b2182b", "#f4a582", "#f7f7f7", "#92c5de", "#2166ac"]
#: An area with no share (no demand).
SHARE_MISSING_COLOUR = "#bdbdbd"
#: Minutes from 0 to the goal on the minutes surface: viridis (sequential, perceptually even, readable with
#: colour-vision deficiencies).
SURFACE_COLOURS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
#: Places beyond the goal (Okabe-Ito vermillion: apart from every viridis colour in hue and lightness).
SURFACE_BEYOND = "#d55e00"
#: Streets that no facility of the type reaches.
SURFACE_UNREACHABLE = "#000000"
#: Cells a compared scenario newly covers (blue: apart from the warm gap colours).
HIGHLIGHT_COLOUR = "#2166ac"
#: Proposed sites: gold stars with a dark outline.
PROPOSAL_FILL = "#ffd700"
PROPOSAL_STROKE = "#111111"
#: Candidate sites (the only places a new site may go): small hollow rings.
CANDIDATE_STROKE = "#1b7837"
#: Exclusion zones (no new site): grey, hatched, with a dashed outline.
EXCLUSION_FILL = "#737373"
EXCLUSION_STROKE = "#252525"
#: A walking route from a clicked place to its nearest facility.
ROUTE_COLOUR = "#0072b2"
ROUTE_START_FILL = "#ffffff"
#: The loaded streets drawn as the offline basemap.
STREETS_COLOUR = "#6f6f6f"
#: The report's time-band bars within the goal (nearest first) and beyond it.
BAND_WITHIN_COLOURS = ("#238b45", "#74c476", "#c7e9c0")
BAND_BEYOND_COLOUR = "#e34a33"
#: Access (supply per 1,000 residents within reach): ColorBrewer YlGnBu, sequential, light (little) to dark blue
#: (much); readable with the common colour-vision deficiencies and apart from the minutes surface's viridis.
ACCESS_COLOURS = ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"]
#: Residents with no facility in reach (access 0): Okabe-Ito vermillion, apart from every YlGnBu colour.
ACCESS_NONE_COLOUR = "#d55e00"


def share_colormap(goal: float = 0.8) -> bcm.LinearColormap:
    """Diverging scale for coverage share: red below ``goal``, white at it, blue above."""
    # the neutral colour sits at the goal; a 100 % goal puts it just below 1 so "met" stays blue
    goal = min(max(float(goal), 0.01), 0.99)
    return bcm.LinearColormap(SHARE_COLOURS, index=[0.0, goal / 2, goal, (1 + goal) / 2, 1.0], vmin=0.0, vmax=1.0)


def gap_colormap(max_minutes: float = 30.0, *, caption: str = "") -> bcm.LinearColormap:
    """Minutes to the nearest facility from 0 to ``max_minutes`` (gap cells)."""
    return bcm.LinearColormap(GAP_COLOURS, vmin=0.0, vmax=float(max_minutes), caption=caption)


def access_colormap(max_access: float, *, caption: str = "") -> bcm.LinearColormap:
    """Access from 0 to ``max_access`` (supply per 1,000 residents); values above it take the darkest colour."""
    top = float(max_access) if max_access and max_access > 0 else 1.0
    return bcm.LinearColormap(ACCESS_COLOURS, vmin=0.0, vmax=top, caption=caption)
