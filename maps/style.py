"""Every colour and colour scale the maps, the static map and the reports draw with, in one place.

Four scales that may share a map, each readable with colour-vision deficiencies (ColorBrewer / viridis,
ordered by lightness) and each of its own hue family, so none is mistaken for another:

* gap cells, minutes to the nearest facility: yellow-orange-red (warm, sequential);
* isochrone bands, minutes of walk: blues (sequential, darkest nearest), never a facility type's colour;
* subdistrict coverage share: purple below the goal, white at it, green above (diverging, PRGn);
* the minutes surface: viridis, with vermillion beyond the goal.

Places no facility reaches are near-black on every layer.
"""
from __future__ import annotations

import branca.colormap as bcm

__all__ = [
    "UNREACHABLE_COLOUR", "UNKNOWN_COLOUR", "GAP_COLOURS", "SHARE_COLOURS", "SHARE_MISSING_COLOUR", "SURFACE_COLOURS",
    "SURFACE_BEYOND", "SURFACE_BEYOND_COLOURS", "SURFACE_UNREACHABLE", "HIGHLIGHT_COLOUR", "PROPOSAL_FILL", "PROPOSAL_STROKE",
    "STREETS_COLOUR", "BAND_WITHIN_COLOURS", "BAND_BEYOND_COLOUR", "ISO_BAND_COLOURS", "ISO_FILL_OPACITY", "ISO_SWATCH_BACKDROP",
    "AREA_LABEL_MIN_ZOOM", "GAP_SCALE_GOAL_FACTOR", "GAP_SCALE_MIN_TOP", "CANDIDATE_STROKE", "EXCLUSION_FILL", "EXCLUSION_STROKE",
    "ROUTE_COLOUR", "ROUTE_START_FILL", "ACCESS_COLOURS", "ACCESS_NONE_COLOUR", "share_colormap", "gap_colormap", "gap_scale_top",
    "iso_band_colours", "access_colormap",
]

#: Demand no facility reaches (gap cells, legends, the report's band bars): near-black, as on the minutes surface.
UNREACHABLE_COLOUR = "#252525"
#: A facility of a type the types file does not know.
UNKNOWN_COLOUR = "#737373"
#: Minutes to the nearest facility on gap cells: light (near) to dark red (far).
GAP_COLOURS = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"]
#: The gap scale runs from 0 to this many times the type's goal (a colour means the same minutes before and after
#: a change) and to at least GAP_SCALE_MIN_TOP minutes (a 1.5-minute AED goal would paint every cell darkest red).
GAP_SCALE_GOAL_FACTOR = 4.0
GAP_SCALE_MIN_TOP = 15.0
#: Coverage share, diverging around the planner's goal: purple below, white at it, green above (ColorBrewer PRGn,
#: colour-blind safe; no red or orange, which the gap cells use).
SHARE_COLOURS = ["#762a83", "#c2a5cf", "#f7f7f7", "#a6dba0", "#1b7837"]
#: An area with no share (no demand).
SHARE_MISSING_COLOUR = "#bdbdbd"
#: Minutes from 0 to the goal on the minutes surface: viridis (sequential, perceptually even, readable with
#: colour-vision deficiencies).
SURFACE_COLOURS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
#: Places beyond the goal: from the goal (orange) to :func:`gap_scale_top` minutes and further (dark brown), so
#: a type with a short goal (the AED's 1.5 minutes) shows how far beyond each place is instead of one dark-red
#: blanket. Warm like the gap cells (the same meaning: not covered), darker than viridis' yellow end.
SURFACE_BEYOND_COLOURS = ("#fd8d3c", "#d55e00", "#8c2d04")
#: The beyond-the-goal colour where one swatch stands for all (Okabe-Ito vermillion, the ramp's middle).
SURFACE_BEYOND = SURFACE_BEYOND_COLOURS[1]
#: Streets that no facility of the type reaches.
SURFACE_UNREACHABLE = "#000000"
#: Isochrone bands by minutes, nearest (darkest) first: ColorBrewer Blues, whatever the facility type.
ISO_BAND_COLOURS = ("#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef")
#: Behind an outlined band's legend swatch, so its light blues show as they do over the minutes surface.
ISO_SWATCH_BACKDROP = "#737373"
#: Fill opacity of the isochrone bands (0 when drawn as outlines over a minutes surface).
ISO_FILL_OPACITY = 0.3
#: Subdistrict name labels show from this zoom level up (below it they would crowd a whole-city view).
AREA_LABEL_MIN_ZOOM = 12
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
#: The report's time-band bars within the goal (nearest first, the isochrone bands' blues) and beyond it (the
#: minutes surface's vermillion): blue against vermillion, never green against red.
BAND_WITHIN_COLOURS = (ISO_BAND_COLOURS[0], ISO_BAND_COLOURS[2], ISO_BAND_COLOURS[4])
BAND_BEYOND_COLOUR = SURFACE_BEYOND

#: Access (supply per 1,000 residents within reach): ColorBrewer YlGnBu, sequential, light (little) to dark blue
#: (much); readable with the common colour-vision deficiencies and apart from the minutes surface's viridis.
ACCESS_COLOURS = ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"]
#: Residents with no facility in reach (access 0): Okabe-Ito vermillion, apart from every YlGnBu colour.
ACCESS_NONE_COLOUR = "#d55e00"


def iso_band_colours(n: int) -> list[str]:
    """``n`` band colours from :data:`ISO_BAND_COLOURS`, nearest (darkest) first, spread over the ramp."""
    if n <= 0:
        return []
    if n == 1:
        return [ISO_BAND_COLOURS[0]]
    last = len(ISO_BAND_COLOURS) - 1
    if n > len(ISO_BAND_COLOURS):  # more bands than stops: the lightest repeats
        return [ISO_BAND_COLOURS[min(i, last)] for i in range(n)]
    return [ISO_BAND_COLOURS[round(i * last / (n - 1))] for i in range(n)]


def gap_scale_top(goal_minutes: float) -> float:
    """Top of the gap scale (minutes) for a type's goal: the live map, the static map and the report use it."""
    return max(GAP_SCALE_GOAL_FACTOR * float(goal_minutes), GAP_SCALE_MIN_TOP)


def share_colormap(goal: float = 0.8) -> bcm.LinearColormap:
    """Diverging scale for coverage share: purple below ``goal``, white at it, green above."""
    # the neutral colour sits at the goal; a 100 % goal puts it just below 1 so "met" stays green
    goal = min(max(float(goal), 0.01), 0.99)
    return bcm.LinearColormap(SHARE_COLOURS, index=[0.0, goal / 2, goal, (1 + goal) / 2, 1.0], vmin=0.0, vmax=1.0)


def gap_colormap(max_minutes: float = 30.0, *, caption: str = "") -> bcm.LinearColormap:
    """Minutes to the nearest facility from 0 to ``max_minutes`` (gap cells)."""
    return bcm.LinearColormap(GAP_COLOURS, vmin=0.0, vmax=float(max_minutes), caption=caption)


def access_colormap(max_access: float, *, caption: str = "") -> bcm.LinearColormap:
    """Access from 0 to ``max_access`` (supply per 1,000 residents); values above it take the darkest colour."""
    top = float(max_access) if max_access and max_access > 0 else 1.0
    return bcm.LinearColormap(ACCESS_COLOURS, vmin=0.0, vmax=top, caption=caption)
