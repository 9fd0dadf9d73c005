"""Walking time as a raster: street positions with their network distance, binned on a pixel grid.

Two users: the minutes-to-nearest surface that the map draws as one image (every place of a
district of any size, no feature cap), and the raster isochrones of large studies
(``planner.isochrones``). Coverage is still counted on demand points; these are for eyes.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .config import metres_per_minute
from .network import Network, Snap
from .travel import NodeField

logger = logging.getLogger(__name__)

__all__ = ["MinutesSurface", "minutes_surface", "street_samples", "points_along", "StreetRaster", "street_raster"]

_EARTH_R = 6378137.0


@dataclass(frozen=True, eq=False)
class MinutesSurface:
    """Walking minutes to the nearest facility of one type, on a Web-Mercator-aligned pixel grid.

    Attributes
    ----------
    minutes : float32[rows, cols]
        Row 0 is the northern edge. A street pixel holds the least network time of the street
        positions in it; a pixel off the streets holds the time of the nearest street pixel plus
        the straight walk to it. ``nan``: no street within ``fill_m``; ``inf``: streets no
        facility of the type reaches.
    bounds_lonlat : (west, south, east, north)
        WGS-84 degrees of the image's outer edges (Leaflet ``ImageOverlay`` bounds).
    pixel_m : float
        Ground size of a pixel, metres (at the grid's centre latitude).
    goal_minutes : float
        The type's goal, minutes (pixels beyond it are drawn in their own colour).
    type_key : str
    """

    minutes: np.ndarray
    bounds_lonlat: tuple
    pixel_m: float
    goal_minutes: float
    type_key: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.minutes.shape)


# ------------------------------------------------------------------------------ street positions
def _vertex_key(net: Network):
    """(along, key): distance of each geometry vertex from its edge's start (metres, scaled to
    ``length_m``) and a globally increasing search key ``edge * big + along`` (cached per network)."""
    cached = net.__dict__.get("_vertex_key")
    if cached is not None:
        return cached
    from .isochrones import _vertex_along

    along = _vertex_along(net)
    big = float(net.length_m.max()) + 10.0 if net.n_edges else 1.0
    counts = np.diff(net.geom_offsets)
    key = np.repeat(np.arange(net.n_edges), counts) * big + along
    net.__dict__["_vertex_key"] = (along, key, big)
    return along, key, big


def points_along(net: Network, edge: np.ndarray, t_m: np.ndarray, *, xy: np.ndarray | None = None):
    """Points ``t_m`` metres from the start of each ``edge`` along its geometry: ``(xy, k)``.

    ``k`` is the index of the geometry vertex that ends the segment holding the point. ``xy``
    gives the geometry vertices in other coordinates (default ``net.geom_xy``); points are
    interpolated linearly between them.
    """
    along, key, big = _vertex_key(net)
    off = net.geom_offsets
    xy = net.geom_xy if xy is None else xy
    edge = np.asarray(edge, np.int64)
    t = np.asarray(t_m, float)
    k = np.searchsorted(key, edge * big + t, side="right")
    k = np.clip(k, off[edge] + 1, off[edge + 1] - 1)
    a0, a1 = along[k - 1], along[k]
    f = np.divide(t - a0, a1 - a0, out=np.zeros_like(t), where=a1 > a0)
    f = np.clip(f, 0, 1)
    return xy[k - 1] + f[:, None] * (xy[k] - xy[k - 1]), k


def _sample_layout(net: Network, edges: np.ndarray, step_m: float):
    """Sample positions on ``edges``, at most ``step_m`` apart, both ends included: ``(e, t, n, start)``
    (edge and metres from its start per sample; samples per edge and the first sample's index)."""
    L = net.length_m
    n = np.maximum(np.ceil(L[edges] / step_m).astype(np.int64), 1) + 1  # samples per edge, both ends included
    e = np.repeat(edges, n)
    start = np.cumsum(n) - n
    j = np.arange(int(n.sum())) - np.repeat(start, n)
    t = j * np.repeat(L[edges] / (n - 1), n)
    return e, t, n, start


def _sample_dist(net: Network, field: NodeField, src: Snap, edges, e, t, n, start) -> np.ndarray:
    """Network distance from the nearest source at each sample of :func:`_sample_layout`."""
    L = net.length_m
    du, dv = field.dist_m[net.edge_u], field.dist_m[net.edge_v]
    d = np.minimum(du[e] + t, dv[e] + (L[e] - t))
    # sources on an edge: reached along it without passing a node
    usable = np.flatnonzero(~src.too_far)
    if len(usable):
        order = np.argsort(src.edge[usable], kind="stable")
        s_edge = src.edge[usable][order]
        s_at = src.along_m[usable][order]
        s_off = src.dist_m[usable][order]
        # samples of edges holding sources, once per source on that edge
        pos = np.searchsorted(edges, s_edge)
        ok = (pos < len(edges)) & (edges[np.minimum(pos, len(edges) - 1)] == s_edge)
        rep = n[pos[ok]]
        first = start[pos[ok]]
        idx = np.repeat(first, rep) + (np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep))
        via_src = np.repeat(s_off[ok], rep) + np.abs(t[idx] - np.repeat(s_at[ok], rep))
        np.minimum.at(d, idx, via_src)
    return d


def street_samples(net: Network, field: NodeField, src: Snap, *, step_m: float, max_dist_m: float = np.inf,
                   xy: np.ndarray | None = None):
    """Positions along the streets, at most ``step_m`` apart, with their network distance to the nearest source.

    Every edge with a reached end (or holding a source) is sampled from end to end; the
    distance at a position is the least of: via u, via v, and from each source on the edge.
    Positions farther than ``max_dist_m`` are left out unless ``max_dist_m`` is infinite, in
    which case unreached streets come back with ``inf`` (they show where the network is).

    Returns
    -------
    x, y : float64 arrays, metres in ``net.crs`` (or in the coordinates of ``xy``, the geometry
        vertices in another system, see :func:`points_along`)
    dist_m : float64 array
    """
    if np.isfinite(max_dist_m):
        du, dv = field.dist_m[net.edge_u], field.dist_m[net.edge_v]
        usable = np.flatnonzero(~src.too_far)
        has_src = np.zeros(net.n_edges, bool)
        has_src[src.edge[usable]] = True
        edges = np.flatnonzero((np.minimum(du, dv) <= max_dist_m) | has_src)
    else:
        edges = np.arange(net.n_edges)
    e, t, n, start = _sample_layout(net, edges, step_m)
    d = _sample_dist(net, field, src, edges, e, t, n, start)
    if np.isfinite(max_dist_m):
        keep = d <= max_dist_m
        e, t, d = e[keep], t[keep], d[keep]
    pts, _ = points_along(net, e, t, xy=xy)
    return pts[:, 0], pts[:, 1], d


# ------------------------------------------------------------------------------ display grid
def _merc_y(lat_deg):
    return np.log(np.tan(np.pi / 4 + np.radians(lat_deg) / 2))


def _lon_merc_fit(net: Network):
    """A cubic map from the network's metric CRS to (lon degrees, Mercator y), fitted on a grid of
    exactly transformed points; returns a callable, or None when it would be off by > 0.5 m."""
    cached = net.__dict__.get("_lon_merc_fit", False)
    if cached is not False:
        return cached
    x0, x1, y0, y1 = float(net.x.min()), float(net.x.max()), float(net.y.min()), float(net.y.max())
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx, sy = max((x1 - x0) / 2, 1.0), max((y1 - y0) / 2, 1.0)

    def design(x, y):
        u, v = (np.asarray(x) - cx) / sx, (np.asarray(y) - cy) / sy
        return np.column_stack([np.ones_like(u), u, v, u * u, u * v, v * v, u ** 3, u * u * v, u * v * v, v ** 3])

    def cubic(c, x, y):
        u, v = (np.asarray(x) - cx) / sx, (np.asarray(y) - cy) / sy
        return c[0] + u * (c[1] + u * (c[3] + u * c[6] + v * c[7])) + v * (c[2] + v * (c[5] + v * c[9] + u * c[8]) + u * c[4])

    gx, gy = np.meshgrid(np.linspace(x0, x1, 21), np.linspace(y0, y1, 21))
    lon, lat = net.to_lonlat(gx.ravel(), gy.ravel())
    A = design(gx.ravel(), gy.ravel())
    c_lon = np.linalg.lstsq(A, lon, rcond=None)[0]
    c_my = np.linalg.lstsq(A, _merc_y(lat), rcond=None)[0]
    # check between the fitting points
    hx, hy = np.meshgrid(np.linspace(x0, x1, 20) + (x1 - x0) / 40, np.linspace(y0, y1, 20) + (y1 - y0) / 40)
    hl, ha = net.to_lonlat(hx.ravel(), hy.ravel())
    B = design(hx.ravel(), hy.ravel())
    k = _EARTH_R * math.cos(math.radians(float(np.mean(ha))))
    err = max(float(np.abs(B @ c_lon - hl).max()) * math.pi / 180 * k, float(np.abs(B @ c_my - _merc_y(ha)).max()) * k)
    fit = None
    if err <= 0.5:
        def fit(x, y):
            return cubic(c_lon, x, y), cubic(c_my, x, y)
    else:
        logger.info("cubic lon/lat fit off by %.1f m: transforming exactly", err)
    net.__dict__["_lon_merc_fit"] = fit
    return fit


def _to_lon_merc(net: Network, x, y):
    fit = _lon_merc_fit(net)
    if fit is not None:
        return fit(x, y)
    lon, lat = net.to_lonlat(x, y)
    return np.asarray(lon), _merc_y(lat)


def _vertices_lon_merc(net: Network) -> np.ndarray:
    """Geometry vertices as (lon radians, Mercator y), cached per network."""
    cached = net.__dict__.get("_vertices_lon_merc")
    if cached is None:
        lon, my = _to_lon_merc(net, net.geom_xy[:, 0], net.geom_xy[:, 1])
        cached = np.column_stack([np.radians(lon), my])
        net.__dict__["_vertices_lon_merc"] = cached
    return cached


def _mercator_grid(net: Network, *, max_px: int, min_pixel_m: float, margin_m: float):
    """A square-pixel grid in (lon radians, Mercator y) over the network plus ``margin_m``: ``(west, north,
    pixel size in those units, rows, cols, pixel size in ground metres)``; at most ``max_px`` on the long side."""
    lon0, lat0, lon1, lat1 = net.bounds_lonlat
    m_per_unit = _EARTH_R * math.cos(math.radians((lat0 + lat1) / 2))  # ground metres per Mercator unit (radian)
    margin = margin_m / m_per_unit
    west, east = math.radians(lon0) - margin, math.radians(lon1) + margin
    south, north = float(_merc_y(lat0)) - margin, float(_merc_y(lat1)) + margin
    d = max((east - west) / max_px, (north - south) / max_px, min_pixel_m / m_per_unit)
    cols = max(int(math.ceil((east - west) / d)), 1)
    rows = max(int(math.ceil((north - south) / d)), 1)
    return west, north, d, rows, cols, d * m_per_unit


@dataclass(frozen=True, eq=False)
class _SurfaceLayout:
    """What a minutes surface of one network needs that no facility changes (cached per network)."""

    grid: tuple  # west, north, pixel size (Mercator units), rows, cols, pixel metres
    edges: np.ndarray
    e: np.ndarray
    t: np.ndarray
    n: np.ndarray
    start: np.ndarray
    on_grid: np.ndarray  # samples inside the grid
    pixel: np.ndarray  # their flat pixel index
    near: np.ndarray | None  # flat index of the nearest street pixel, per pixel (rows, cols); None: no street
    off_m: np.ndarray  # metres to it
    too_far: np.ndarray  # pixels beyond the fill distance


def _surface_layout(net: Network, *, max_px: int, min_pixel_m: float, fill_m: float) -> _SurfaceLayout:
    """The grid, the street samples and their pixels, and each pixel's nearest street pixel; cached per network
    (a scenario with one more facility, or another type, reuses it: only the distances change)."""
    from scipy import ndimage

    key = (max_px, min_pixel_m, fill_m)
    cached = net.__dict__.get("_surface_layout")
    if cached is not None and cached[0] == key:
        return cached[1]
    # grid: square pixels in Web Mercator, covering the nodes plus the fill margin
    grid = _mercator_grid(net, max_px=max_px, min_pixel_m=min_pixel_m, margin_m=fill_m + min_pixel_m)
    west, north, d, rows, cols, pixel_m = grid
    # street positions straight in (lon, Mercator y): interpolating between vertices a few metres
    # apart in those coordinates is exact to well under a pixel
    # (a sample per pixel length: a corner a street clips between two samples gets filled from
    # its neighbours like any off-street pixel)
    edges = np.arange(net.n_edges)
    e, t, n, start = _sample_layout(net, edges, pixel_m)
    pts, _ = points_along(net, e, t, xy=_vertices_lon_merc(net))
    c = np.floor((pts[:, 0] - west) / d).astype(np.int64)
    r = np.floor((north - pts[:, 1]) / d).astype(np.int64)
    on_grid = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
    pixel = r[on_grid] * cols + c[on_grid]
    has = np.zeros(rows * cols, bool)
    has[pixel] = True
    has = has.reshape(rows, cols)
    near = off_m = too_far = None
    if has.any():
        off_px, (ir, ic) = ndimage.distance_transform_edt(~has, return_indices=True)
        off_m = off_px * pixel_m
        near = ir * cols + ic
        too_far = off_m > fill_m
    out = _SurfaceLayout(grid, edges, e, t, n, start, on_grid, pixel, near, off_m, too_far)
    net.__dict__["_surface_layout"] = (key, out)
    return out


def minutes_surface(
    net: Network,
    field: NodeField,
    src: Snap,
    *,
    speed_kmh: float,
    goal_minutes: float,
    max_px: int = 2048,
    min_pixel_m: float = 5.0,
    fill_m: float = 150.0,
    type_key: str = "",
) -> MinutesSurface:
    """Minutes to the nearest facility everywhere near the network, as an image-sized grid.

    Parameters
    ----------
    net : Network
    field : NodeField
        The type's nearest-facility field (``TypeCoverage.field``).
    src : Snap
        The type's facilities on ``net`` (``TypeCoverage.fac_snap``).
    speed_kmh : float
        Walking (or cycling) speed, km/h.
    goal_minutes : float
        The type's goal, minutes (kept with the surface for the colour scale).
    max_px : int
        Pixels on the long side at most.
    min_pixel_m : float
        Smallest pixel, metres (small studies do not need finer).
    fill_m : float
        Off-street places within this distance of a street get that street's time plus the
        straight walk; farther ones are ``nan`` (transparent).
    type_key : str
        Recorded with the surface.

    Returns
    -------
    MinutesSurface
    """
    if max_px < 16:
        raise ValueError(f"max_px must be at least 16, not {max_px}")
    mpm = metres_per_minute(speed_kmh)
    lay = _surface_layout(net, max_px=max_px, min_pixel_m=min_pixel_m, fill_m=fill_m)
    west, north, d, rows, cols, pixel_m = lay.grid
    east, south = west + cols * d, north - rows * d
    if lay.near is not None:
        dist = _sample_dist(net, field, src, lay.edges, lay.e, lay.t, lay.n, lay.start)
        street = np.full(rows * cols, np.inf)
        np.minimum.at(street, lay.pixel, dist[lay.on_grid])
        out = (street[lay.near] + lay.off_m) / mpm
        out[lay.too_far] = np.nan
    else:
        out = np.full((rows, cols), np.nan)
    bounds = (math.degrees(west), math.degrees(2 * math.atan(math.exp(south)) - math.pi / 2),
              math.degrees(east), math.degrees(2 * math.atan(math.exp(north)) - math.pi / 2))
    return MinutesSurface(out.astype(np.float32), bounds, float(pixel_m), float(goal_minutes), type_key)


def surface_value_at(surface: MinutesSurface, lon, lat) -> np.ndarray:
    """The surface's minutes at WGS-84 points (``nan`` outside the grid), for checks and tooltips."""
    west, south, east, north = surface.bounds_lonlat
    rows, cols = surface.shape
    mx = np.radians(np.asarray(lon, float))
    my = _merc_y(np.asarray(lat, float))
    mw, me = math.radians(west), math.radians(east)
    ms, mn = float(_merc_y(south)), float(_merc_y(north))
    c = np.floor((mx - mw) / (me - mw) * cols).astype(np.int64)
    r = np.floor((mn - my) / (mn - ms) * rows).astype(np.int64)
    ok = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
    out = np.full(len(c), np.nan)
    out[ok] = surface.minutes[r[ok], c[ok]]
    return out


@dataclass(frozen=True, eq=False)
class StreetRaster:
    """The network's streets as a pixel mask on a Web-Mercator-aligned grid: the offline basemap.

    Attributes
    ----------
    mask : bool[rows, cols]  True where a street passes (row 0 is the northern edge).
    bounds_lonlat : (west, south, east, north)  WGS-84 degrees of the image's outer edges.
    pixel_m : float  ground size of a pixel, metres.
    """

    mask: np.ndarray
    bounds_lonlat: tuple
    pixel_m: float


def street_raster(net: Network, *, max_px: int = 2048, min_pixel_m: float = 4.0) -> StreetRaster:
    """Every street of ``net`` drawn one pixel wide on a grid of at most ``max_px`` pixels on the long side.

    Each geometry segment is sampled at half-pixel steps (vectorised over all segments), so the
    whole network of a Pudong-sized study draws in about a second, with no feature cap. Cached
    per network object.
    """
    cached = net.__dict__.get("_street_raster")
    if cached is not None and cached[0] == (max_px, min_pixel_m):
        return cached[1]
    west, north, d, rows, cols, pixel_m = _mercator_grid(net, max_px=max_px, min_pixel_m=min_pixel_m,
                                                         margin_m=2 * min_pixel_m)
    east, south = west + cols * d, north - rows * d
    v = _vertices_lon_merc(net)
    off = np.asarray(net.geom_offsets)
    # segments: consecutive vertices within an edge
    starts = np.arange(len(v) - 1)
    last_of_edge = np.zeros(len(v), bool)
    last_of_edge[off[1:] - 1] = True
    seg = starts[~last_of_edge[:-1]]
    a, b = v[seg], v[seg + 1]
    n = np.maximum(np.ceil(np.hypot(*(b - a).T) / (d / 2)).astype(np.int64), 1) + 1
    idx = np.repeat(np.arange(len(seg)), n)
    t = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
    pts = a[idx] + (b[idx] - a[idx]) * t[:, None]
    c = np.floor((pts[:, 0] - west) / d).astype(np.int64)
    r = np.floor((north - pts[:, 1]) / d).astype(np.int64)
    ok = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
    mask = np.zeros(rows * cols, bool)
    mask[r[ok] * cols + c[ok]] = True
    bounds = (math.degrees(west), math.degrees(2 * math.atan(math.exp(south)) - math.pi / 2),
              math.degrees(east), math.degrees(2 * math.atan(math.exp(north)) - math.pi / 2))
    out = StreetRaster(mask.reshape(rows, cols), bounds, float(pixel_m))
    net.__dict__["_street_raster"] = ((max_px, min_pixel_m), out)
    return out
