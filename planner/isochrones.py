"""Isochrone polygons for display: the streets reached within each break, cut at the exact time, buffered.

Coverage is counted on demand points (see ``coverage``); these polygons are only drawn.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import shapely

from .config import metres_per_minute
from .network import Network, Snap
from .travel import NodeField, reach

logger = logging.getLogger(__name__)

__all__ = ["edge_pieces", "substrings", "type_isochrones", "raster_isochrones", "facility_isochrones", "split_isochrones",
           "split_pieces", "gap_cells", "RASTER_ABOVE_PIECES"]

#: ``type_isochrones(method="auto")`` draws with :func:`raster_isochrones` when the streets reached
#: within the largest break come in more pieces than this (the cut-and-buffer union grows with
#: them: about 2 s for 100k pieces, 14 s for a type on a 1M-node network; raster: 0.5 s and 5 s).
RASTER_ABOVE_PIECES = 50_000


def _vertex_along(net: Network) -> np.ndarray:
    """Distance of every geometry vertex from its edge's start, metres (cached per network)."""
    cached = net.__dict__.get("_vertex_along")
    if cached is not None:
        return cached
    xy = net.geom_xy
    counts = np.diff(net.geom_offsets)
    edge_of = np.repeat(np.arange(net.n_edges), counts)
    seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    seg[edge_of[1:] != edge_of[:-1]] = 0.0
    cs = np.concatenate([[0.0], np.cumsum(seg)])
    along = cs - cs[net.geom_offsets[:-1]][edge_of]
    # scale to length_m so that positions agree with the routing lengths exactly
    geo_len = along[net.geom_offsets[1:] - 1]
    scale = np.divide(net.length_m, geo_len, out=np.ones_like(geo_len), where=geo_len > 0)
    along = along * scale[edge_of]
    net.__dict__["_vertex_along"] = along
    return along


def substrings(net: Network, edge: np.ndarray, start_m: np.ndarray, end_m: np.ndarray) -> np.ndarray:
    """Vectorised line substrings: the part of each edge between ``start_m`` and ``end_m`` (metres from u)."""
    edge = np.asarray(edge, np.int64)
    start = np.asarray(start_m, float)
    end = np.asarray(end_m, float)
    if len(edge) == 0:
        return np.empty(0, dtype=object)
    along = _vertex_along(net)
    xy = net.geom_xy
    off = net.geom_offsets
    big = float(net.length_m.max()) + 10.0
    counts = np.diff(off)
    key = np.repeat(np.arange(net.n_edges), counts) * big + along  # globally increasing

    def point_at(e, t):
        k = np.searchsorted(key, e * big + t, side="right")
        k = np.clip(k, off[e] + 1, off[e + 1] - 1)
        a0, a1 = along[k - 1], along[k]
        f = np.divide(t - a0, a1 - a0, out=np.zeros_like(t), where=a1 > a0)
        f = np.clip(f, 0, 1)
        return xy[k - 1] + f[:, None] * (xy[k] - xy[k - 1]), k

    p0, k0 = point_at(edge, start)
    p1, k1 = point_at(edge, end)
    # interior vertices strictly between start and end: indices k0 .. k1-1
    n_in = np.maximum(k1 - k0, 0)
    total = 2 + n_in
    idx_line = np.repeat(np.arange(len(edge)), total)
    pos_in_line = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
    coords = np.empty((int(total.sum()), 2))
    first = pos_in_line == 0
    last = pos_in_line == np.repeat(total - 1, total)
    mid = ~(first | last)
    coords[first] = p0
    coords[last] = p1
    vidx = np.repeat(k0, total)[mid] + pos_in_line[mid] - 1
    coords[mid] = xy[vidx]
    return shapely.linestrings(coords, indices=idx_line)


def edge_pieces(net: Network, dist_u: np.ndarray, dist_v: np.ndarray, budget_m: float):
    """Parts of every edge within ``budget_m`` of a source, given node distances.

    Returns (edge, start_m, end_m): whole edges where the two reached parts meet, otherwise one
    piece from each reached end, cut where the budget runs out.
    """
    L = net.length_m
    a = np.clip(budget_m - dist_u, 0, None)
    c = np.clip(budget_m - dist_v, 0, None)
    whole = a + c >= L
    e_whole = np.flatnonzero(whole & ((a > 0) | (c > 0)))
    part = ~whole
    e_u = np.flatnonzero(part & (a > 0))
    e_v = np.flatnonzero(part & (c > 0))
    edge = np.concatenate([e_whole, e_u, e_v])
    start = np.concatenate([np.zeros(len(e_whole)), np.zeros(len(e_u)), L[e_v] - c[e_v]])
    end = np.concatenate([L[e_whole], a[e_u], L[e_v]])
    return edge, start, end


def _same_edge_pieces(src: Snap, which: np.ndarray, budget_m: float, L: np.ndarray):
    """Pieces around sources that sit on an edge (reached directly, without passing a node)."""
    left = budget_m - src.dist_m[which]
    ok = left > 0
    which, left = which[ok], left[ok]
    e = src.edge[which]
    return e, np.clip(src.along_m[which] - left, 0, L[e]), np.clip(src.along_m[which] + left, 0, L[e]), which




def _polygon(lines: np.ndarray, radius_m: float, simplify_m: float, base=None):
    """Buffer street pieces and dissolve them (optionally into ``base``).

    Buffering each merged line and taking one cascaded union is an order of magnitude faster
    in GEOS than buffering one big MultiLineString (measured: 0.6 s vs 15 s for 14k pieces).
    """
    lines = lines[~shapely.is_empty(lines)] if len(lines) else lines
    if len(lines) == 0:
        return base if base is not None else shapely.Polygon()
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
    if simplify_m > 0:
        merged = shapely.simplify(merged, simplify_m)
    polys = shapely.buffer(merged, radius_m, quad_segs=2)
    if base is not None and not base.is_empty:
        polys = np.append(polys, base)
    return shapely.union_all(polys)


def _band(L, a_prev, c_prev, a, c):
    """Street intervals reached within the current budget but not within the previous one.

    Reached at a budget = [0, a] ∪ [L - c, L] (clipped); the band is the part of the previous
    gap (a_prev, L - c_prev) that the current budget reaches.
    """
    a_prev, c_prev, a, c = (np.minimum(v, L) for v in (a_prev, c_prev, a, c))
    gap = a_prev + c_prev < L
    whole_now = a + c >= L
    g0, g1 = a_prev, L - c_prev
    e_mid = np.flatnonzero(gap & whole_now)
    e_u = np.flatnonzero(gap & ~whole_now & (a > a_prev))
    e_v = np.flatnonzero(gap & ~whole_now & (c > c_prev))
    edge = np.concatenate([e_mid, e_u, e_v])
    start = np.concatenate([g0[e_mid], g0[e_u], (L - c)[e_v]])
    end = np.concatenate([g1[e_mid], a[e_u], g1[e_v]])
    return edge, start, end


def type_isochrones(
    net: Network, field: NodeField, src: Snap, *, breaks_min, speed_kmh: float, radius_m: float = 40.0, simplify_m: float = 2.0,
    method: str = "auto",
) -> list[tuple[float, object]]:
    """Dissolved isochrones of one type: ``[(minutes, polygon in net.crs), ...]`` for each break.

    ``method='vector'`` is exact: built band by band, each break adds only the street intervals
    first reached since the previous break to the previous polygon, so the polygons are nested by
    construction and the union work is that of the largest break alone. ``'raster'`` is
    :func:`raster_isochrones` (within a pixel of the exact polygon, and several times faster on
    large networks); ``'auto'`` picks raster above :data:`RASTER_ABOVE_PIECES` reached pieces.
    """
    if method not in ("auto", "vector", "raster"):
        raise ValueError(f"method must be 'auto', 'vector' or 'raster', not {method!r}")
    if method == "auto":
        top = max(breaks_min) * metres_per_minute(speed_kmh)
        n_pieces = len(edge_pieces(net, field.dist_m[net.edge_u], field.dist_m[net.edge_v], top)[0])
        method = "raster" if n_pieces > RASTER_ABOVE_PIECES else "vector"
        logger.info("isochrones: %d street pieces within %.0f m: %s", n_pieces, top, method)
    if method == "raster":
        return raster_isochrones(net, field, src, breaks_min=breaks_min, speed_kmh=speed_kmh, radius_m=radius_m)
    out = []
    L = net.length_m
    du, dv = field.dist_m[net.edge_u], field.dist_m[net.edge_v]
    usable = np.flatnonzero(~src.too_far)
    e_s = src.edge[usable]
    s_at = src.along_m[usable]
    a_p = np.zeros(net.n_edges)
    c_p = np.zeros(net.n_edges)
    left_p = np.zeros(len(usable))
    poly = None
    for b in sorted(breaks_min):
        budget = b * metres_per_minute(speed_kmh)
        a = np.clip(budget - du, 0, None)
        c = np.clip(budget - dv, 0, None)
        e, s0, s1 = _band(L, a_p, c_p, a, c)
        # pieces around sources on an edge, reached without passing a node
        left = np.clip(budget - src.dist_m[usable], 0, None)
        grow = left > left_p
        lo0 = np.clip(s_at - left, 0, L[e_s])
        lo1 = np.clip(s_at - left_p, 0, L[e_s])
        hi0 = np.clip(s_at + left_p, 0, L[e_s])
        hi1 = np.clip(s_at + left, 0, L[e_s])
        e2 = np.concatenate([e_s[grow], e_s[grow]])
        t0 = np.concatenate([lo0[grow], hi0[grow]])
        t1 = np.concatenate([lo1[grow], hi1[grow]])
        keep2 = t1 > t0
        lines = substrings(net, np.concatenate([e, e2[keep2]]), np.concatenate([s0, t0[keep2]]), np.concatenate([s1, t1[keep2]]))
        poly = _polygon(lines, radius_m, simplify_m, base=poly)
        out.append((float(b), poly))
        a_p, c_p, left_p = a, c, left
    return out


def _disk(radius_px: float) -> np.ndarray:
    """Footprint of the pixels whose centres lie within ``radius_px`` of the centre pixel's."""
    k = int(math.floor(radius_px))
    r = np.arange(-k, k + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius_px ** 2 + 1e-9


def _contour_polygons(level: np.ndarray, x0: float, y0: float, pixel_m: float) -> list:
    """Regions ``level >= k`` for k = 1 .. level.max(), as (Multi)Polygons, largest k last.

    ``level`` counts, per pixel (row 0 at ``y0``, pixel centres ``pixel_m`` apart), the breaks
    that reach it. Each region is the ``k - 0.5`` contour of that one field, so the regions are
    nested and each edge runs between the pixel centres on either side (midway for a step of one
    level). One contour generator serves every break.
    """
    import contourpy

    rows, cols = level.shape
    n = int(level.max()) if level.size else 0
    z = np.zeros((rows + 2, cols + 2))  # a frame of outside pixels closes every ring
    z[1:-1, 1:-1] = level
    xs = x0 + (np.arange(cols + 2) - 1) * pixel_m
    ys = y0 + (np.arange(rows + 2) - 1) * pixel_m
    gen = contourpy.contour_generator(xs, ys, z, fill_type=contourpy.FillType.OuterOffset, corner_mask=False)
    out = []
    for k in range(1, n + 1):
        points, offsets = gen.filled(k - 0.5, n + 1.0)
        if not points:
            out.append(shapely.Polygon())
            continue
        ring_counts = [np.diff(o) for o in offsets]
        coords = np.concatenate(points)
        n_rings = np.array([len(rc) for rc in ring_counts])
        ring_len = np.concatenate(ring_counts)
        rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(ring_len)), ring_len))
        polys = shapely.polygons(rings, indices=np.repeat(np.arange(len(n_rings)), n_rings))
        out.append(shapely.multipolygons(polys) if len(polys) > 1 else polys[0])
    return out


def raster_isochrones(
    net: Network, field: NodeField, src: Snap, *, breaks_min, speed_kmh: float, radius_m: float = 40.0,
    pixel_m: float | None = None, max_pixels: int = 12_000_000,
) -> list[tuple[float, object]]:
    """Dissolved isochrones drawn on a pixel grid: ``[(minutes, polygon in net.crs), ...]``.

    Street positions (sampled at half a pixel, with their exact network distance) are binned on a
    square grid; a pixel lies in the polygon of a break when a street pixel reached within the
    break is within ``radius_m`` of it (a disc of whole pixels), and the polygon is the contour
    around those pixels. All breaks come from one field (how many breaks reach each pixel), so
    the polygons are nested by construction. Boundaries are within about one pixel of the
    exact buffered streets; the pixel is ``radius_m / 4.5`` unless the reached area would need
    more than ``max_pixels`` pixels.
    """
    from scipy import ndimage

    from .surface import street_samples

    brk = sorted(float(b) for b in breaks_min)
    mpm = metres_per_minute(speed_kmh)
    top = brk[-1] * mpm
    reached = field.dist_m <= top
    usable = ~src.too_far
    if not reached.any() and not usable.any():
        return [(b, shapely.Polygon()) for b in brk]
    px = np.concatenate([net.x[reached], net.x[net.edge_u[src.edge[usable]]], net.x[net.edge_v[src.edge[usable]]]])
    py = np.concatenate([net.y[reached], net.y[net.edge_u[src.edge[usable]]], net.y[net.edge_v[src.edge[usable]]]])
    span = max(float(px.max() - px.min()), 1.0) * max(float(py.max() - py.min()), 1.0)
    p = float(pixel_m) if pixel_m else radius_m / 4.5
    p = max(p, math.sqrt(span / max_pixels))
    # a disc of the buffer's radius: with the contour midway between pixel centres, the edge lies
    # within about half a pixel of the exact buffer in every direction
    disc = max(radius_m / p, 1.0)
    x, y, d = street_samples(net, field, src, step_m=p / 2.0, max_dist_m=top)
    if len(x) == 0:
        return [(b, shapely.Polygon()) for b in brk]
    pad = int(math.ceil(disc)) + 2
    x0 = math.floor(float(x.min()) / p) * p - pad * p
    y0 = math.floor(float(y.min()) / p) * p - pad * p
    cols = int(math.ceil((float(x.max()) - x0) / p)) + pad + 1
    rows = int(math.ceil((float(y.max()) - y0) / p)) + pad + 1
    c = np.floor((x - x0) / p).astype(np.int64)
    r = np.floor((y - y0) / p).astype(np.int64)
    street = np.full(rows * cols, np.inf, dtype=np.float32)
    np.minimum.at(street, r * cols + c, d.astype(np.float32))
    near = ndimage.minimum_filter(street.reshape(rows, cols), footprint=_disk(disc), mode="constant", cval=np.inf)
    logger.info("raster isochrones: %d x %d pixels of %.1f m, disc %.1f px", cols, rows, p, disc)
    # pixel centres: x0 + (c + 0.5) p
    # breaks reaching each pixel: the region of break i (ascending) is level >= len(brk) - i
    level = np.zeros(near.shape, dtype=np.uint8)
    for b in brk:
        level += near <= np.float32(b * mpm)
    regions = _contour_polygons(level, x0 + 0.5 * p, y0 + 0.5 * p, p)
    regions += [shapely.Polygon()] * (len(brk) - len(regions))  # breaks that reach nothing
    return [(b, regions[len(brk) - 1 - i]) for i, b in enumerate(brk)]


def facility_isochrones(
    net: Network, src: Snap, *, breaks_min, speed_kmh: float, radius_m: float = 40.0, simplify_m: float = 2.0
) -> list[tuple[int, float, object]]:
    """Per-facility (overlapping) isochrones: ``[(facility index, minutes, polygon), ...]``."""
    mpm = metres_per_minute(speed_kmh)
    top = max(breaks_min) * mpm
    rch = reach(net, src, limit_m=top)
    order = np.argsort(rch.source, kind="stable")
    s_sorted = rch.source[order]
    out = []
    L = net.length_m
    for i in np.flatnonzero(~src.too_far):
        lo, hi = np.searchsorted(s_sorted, i, "left"), np.searchsorted(s_sorted, i, "right")
        nodes = rch.node[order[lo:hi]]
        d = np.full(net.n_nodes, np.inf)
        d[nodes] = rch.dist_m[order[lo:hi]]
        touched = np.flatnonzero(np.isfinite(d[net.edge_u]) | np.isfinite(d[net.edge_v]))
        for b in sorted(breaks_min):
            budget = b * mpm
            a = np.clip(budget - d[net.edge_u[touched]], 0, None)
            c = np.clip(budget - d[net.edge_v[touched]], 0, None)
            Lt = L[touched]
            whole = a + c >= Lt
            ew = touched[whole & ((a > 0) | (c > 0))]
            pu = (~whole) & (a > 0)
            pv = (~whole) & (c > 0)
            e = np.concatenate([ew, touched[pu], touched[pv]])
            s0 = np.concatenate([np.zeros(len(ew)), np.zeros(pu.sum()), Lt[pv] - c[pv]])
            s1 = np.concatenate([L[ew], a[pu], Lt[pv]])
            e2, t0, t1, _ = _same_edge_pieces(src, np.array([i]), budget, L)
            lines = substrings(net, np.concatenate([e, e2]), np.concatenate([s0, t0]), np.concatenate([s1, t1]))
            out.append((int(i), float(b), _polygon(lines, radius_m, simplify_m)))
    return out


def _edge_owners(L: float, du: float, su: int, dv: float, sv: int, s_k, off_k, who_k, budget: float):
    """Owner intervals on one edge that holds sources: ``[(start_m, end_m, owner), ...]`` within ``budget``.

    The cost of reaching position x is the lower envelope of: via u (``du + x``), via v
    (``dv + L - x``) and each source on the edge (``off + |s - x|``). Every piece has slope
    +1 or -1, so the envelope changes owner only at crossings of a rising and a falling line,
    which are all enumerated; between breakpoints one function is lowest and linear.
    """
    funcs = []  # (owner, cost function)
    if np.isfinite(du) and su >= 0:
        funcs.append((su, lambda x, d=du: d + x))
    if np.isfinite(dv) and sv >= 0:
        funcs.append((sv, lambda x, d=dv: d + L - x))
    for s, o, w in zip(s_k, off_k, who_k):
        funcs.append((int(w), lambda x, s=s, o=o: o + abs(s - x)))
    if not funcs:
        return []
    rising = ([du] if np.isfinite(du) else []) + [o - s for s, o in zip(s_k, off_k)]
    falling = ([dv + L] if np.isfinite(dv) else []) + [o + s for s, o in zip(s_k, off_k)]
    xs = {0.0, float(L), *map(float, s_k)}
    xs.update((f - r) / 2.0 for f in falling for r in rising)
    xs = sorted(x for x in xs if 0.0 <= x <= L)
    out: list[tuple[float, float, int]] = []
    for x0, x1 in zip(xs, xs[1:]):
        if x1 - x0 <= 1e-9:
            continue
        mid = (x0 + x1) / 2.0
        owner, f = min(funcs, key=lambda of: of[1](mid))
        c0, c1 = f(x0), f(x1)
        if c0 > budget and c1 > budget:
            continue
        # the cost is linear on [x0, x1]: keep the part within the budget
        if c0 > budget:
            x0 = x0 + (c0 - budget) / (c0 - c1) * (x1 - x0)
        elif c1 > budget:
            x1 = x0 + (budget - c0) / (c1 - c0) * (x1 - x0)
        if out and out[-1][2] == owner and abs(out[-1][1] - x0) < 1e-9:
            out[-1] = (out[-1][0], x1, owner)
        else:
            out.append((x0, x1, owner))
    return out


def _partition(lines: np.ndarray, owner: np.ndarray, total, step_m: float):
    """Split ``total`` (the dissolved catchment polygon) among owners: each place goes to the owner of
    the nearest street piece (a Voronoi diagram of points sampled along the pieces, dissolved per owner)."""
    dense = shapely.segmentize(lines, step_m)
    xy, idx = shapely.get_coordinates(dense, return_index=True)
    lab = owner[idx]
    # near-coincident samples (piece ends meet at cuts and nodes) make degenerate Voronoi cells:
    # keep one sample per 0.5 m grid cell
    key = np.floor(xy / 0.5).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    xy, lab = xy[first], lab[first]
    if len(xy) < 3 or len(np.unique(lab)) == 1:
        return {int(o): total for o in np.unique(lab)}
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=shapely.envelope(total).buffer(step_m), ordered=True))
    # GEOS returns a few slightly invalid cells where samples are collinear: repair before dissolving
    cells = shapely.make_valid(cells)
    out = {}
    for o in np.unique(lab):
        region = shapely.union_all(cells[lab == o])
        out[int(o)] = shapely.intersection(region, total)
    return out


def split_isochrones(
    net: Network, field: NodeField, src: Snap, *, minutes: float, speed_kmh: float, radius_m: float = 40.0, simplify_m: float = 2.0
) -> list[tuple[int, object]]:
    """Non-overlapping catchments within ``minutes``: each place goes to its nearest facility.

    On the streets the split is exact: an edge whose ends have different nearest facilities is
    cut where the two distances meet, and edges that hold facilities are split along the lower
    envelope of every way of reaching them. The buffered polygon of all reached streets is then
    divided by the nearest street piece, so the catchments tile it without overlapping.
    Returns ``[(facility index, polygon), ...]``.
    """
    budget = minutes * metres_per_minute(speed_kmh)
    edges, start, end, owner = split_pieces(net, field, src, budget)
    lines = substrings(net, edges, start, end)
    if len(lines) == 0:
        return []
    total = _polygon(lines, radius_m, simplify_m)
    parts = _partition(lines, owner, total, step_m=max(radius_m / 2.0, 5.0))
    return [(i, parts[i]) for i in sorted(parts)]


def split_pieces(net: Network, field: NodeField, src: Snap, budget_m: float):
    """Street intervals within ``budget_m`` of a source, each with its nearest source: ``(edge, start_m, end_m, owner)``."""
    budget = budget_m
    L = net.length_m
    du, dv = field.dist_m[net.edge_u], field.dist_m[net.edge_v]
    su, sv = field.source[net.edge_u], field.source[net.edge_v]
    usable = np.flatnonzero(~src.too_far)
    has_src = np.zeros(net.n_edges, bool)
    has_src[src.edge[usable]] = True
    a = np.clip(budget - du, 0, None)
    c = np.clip(budget - dv, 0, None)
    both = np.isfinite(du) & np.isfinite(dv)
    diff = np.zeros(len(L))
    diff[both] = dv[both] - du[both]
    half = (L + diff) / 2.0
    meet = np.where(both, np.clip(half, 0, L), np.where(np.isfinite(du), L, 0.0))
    # from u: [0, min(a, meet or L)]; from v: [max(L - c, meet or 0), L]
    same = su == sv
    end_u = np.where(same, np.minimum(a, L), np.minimum(a, meet))
    start_v = np.where(same, np.maximum(L - c, end_u), np.maximum(L - c, meet))
    eu = np.flatnonzero((a > 0) & (end_u > 0) & ~has_src)
    ev = np.flatnonzero((c > 0) & (start_v < L) & ~has_src)
    edges = [eu, ev]
    start = [np.zeros(len(eu)), start_v[ev]]
    end = [end_u[eu], L[ev]]
    owner = [su[eu], sv[ev]]
    # edges holding facilities: exact lower envelope, edge by edge (there are few)
    order = usable[np.argsort(src.edge[usable], kind="stable")]
    for e in np.unique(src.edge[usable]):
        k = order[src.edge[order] == e]
        for x0, x1, w in _edge_owners(float(L[e]), float(du[e]), int(su[e]), float(dv[e]), int(sv[e]),
                                      src.along_m[k], src.dist_m[k], k, budget):
            edges.append(np.array([e]))
            start.append(np.array([x0]))
            end.append(np.array([x1]))
            owner.append(np.array([w]))
    edges, start, end, owner = (np.concatenate(v) for v in (edges, start, end, owner))
    keep = (owner >= 0) & (end > start)
    return edges[keep], start[keep], end[keep], owner[keep]


def gap_cells(x: np.ndarray, y: np.ndarray, population: np.ndarray, minutes: np.ndarray, covered: np.ndarray, *, cell_m: float = 200.0):
    """Square cells holding uncovered demand: ``(polygons, population, mean minutes, max minutes)``.

    ``minutes`` of a cell is the population-weighted mean over its uncovered points with a finite
    time (inf when all are unreachable).
    """
    gap = ~covered & (population > 0)
    if not gap.any():
        return np.empty(0, dtype=object), np.zeros(0), np.zeros(0), np.zeros(0)
    gx, gy, gp, gm = x[gap], y[gap], population[gap], minutes[gap]
    ix = np.floor(gx / cell_m).astype(np.int64)
    iy = np.floor(gy / cell_m).astype(np.int64)
    # one integer per cell, ordered by (ix, iy) like a row-wise unique
    ny = int(iy.max() - iy.min()) + 1
    flat, inv = np.unique((ix - ix.min()) * ny + (iy - iy.min()), return_inverse=True)
    inv = inv.ravel()
    key = np.column_stack([flat // ny + ix.min(), flat % ny + iy.min()])
    pop = np.bincount(inv, weights=gp, minlength=len(key))
    fin = np.isfinite(gm)
    wsum = np.bincount(inv[fin], weights=gp[fin], minlength=len(key))
    msum = np.bincount(inv[fin], weights=(gp * gm)[fin], minlength=len(key))
    mean = np.where(wsum > 0, msum / np.where(wsum > 0, wsum, 1), np.inf)
    mx = np.full(len(key), -np.inf)
    np.maximum.at(mx, inv, np.where(fin, gm, np.inf))
    polys = shapely.box(key[:, 0] * cell_m, key[:, 1] * cell_m, (key[:, 0] + 1) * cell_m, (key[:, 1] + 1) * cell_m)
    return polys, pop, mean, mx
