"""Shortest walking distances on a compiled network with scipy.sparse.csgraph: nearest facility and bounded reach.

Points (facilities, demand, candidate sites) sit on edges, not on nodes. A source point is joined
to the graph by a *stub* node with two directed arcs to its edge's end nodes, weighted by the
off-network leg plus the along-edge distance. Node distances are then exact; a target point's
distance is the best of leaving its edge at either end, plus the direct path along the edge to a
source on the same edge. All distances are in metres; divide by the speed for time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .network import Network, Snap

logger = logging.getLogger(__name__)

__all__ = ["NodeField", "nearest_field", "point_distances", "nearest", "Reach", "reach", "reach_points"]


@dataclass(frozen=True, eq=False)
class NodeField:
    """Distance from every node to the nearest usable source, in metres (inf beyond ``limit_m``).

    ``source`` is the index (into the source points) of that nearest source, -1 where none.
    """

    dist_m: np.ndarray
    source: np.ndarray
    limit_m: float


def _augment(net: Network, src: Snap, sel: np.ndarray | None = None):
    """CSR of ``net`` (or its induced subgraph on node indices ``sel``) with one stub row per source.

    Returns (matrix, n_base, keep) where ``keep`` lists the source indices that have a stub
    (usable and, for a subgraph, whose edge lies inside it).
    """
    base = net.csr
    if sel is None:
        local = None
        n = net.n_nodes
    else:
        local = np.full(net.n_nodes, -1, dtype=np.int64)
        local[sel] = np.arange(len(sel))
        base = base[sel][:, sel]
        n = len(sel)
    keep = np.flatnonzero(~src.too_far)
    u = net.edge_u[src.edge[keep]]
    v = net.edge_v[src.edge[keep]]
    if local is not None:
        u, v = local[u], local[v]
        ok = (u >= 0) & (v >= 0)
        keep, u, v = keep[ok], u[ok], v[ok]
    length = net.length_m[src.edge[keep]]
    along = src.along_m[keep]
    off = src.dist_m[keep]
    k = len(keep)
    # stub rows: two arcs each (to u and to v); weights > 0 for csgraph (zeros are missing edges)
    cols = np.column_stack([u, v]).ravel()
    w = np.maximum(np.column_stack([off + along, off + (length - along)]).ravel(), 1e-9)
    indptr = np.concatenate([base.indptr, base.indptr[-1] + 2 * np.arange(1, k + 1)])
    indices = np.concatenate([base.indices.astype(np.int64), cols])
    data = np.concatenate([base.data, w])
    m = sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))
    return m, n, keep


def nearest_field(net: Network, src: Snap, *, limit_m: float = np.inf) -> NodeField:
    """Multi-source Dijkstra (``min_only``): every node's distance to its nearest source.

    Sources flagged ``too_far`` are not used. Distances above ``limit_m`` are ``inf``.
    """
    n = net.n_nodes
    m, n, keep = _augment(net, src)
    if len(keep) == 0:
        return NodeField(np.full(n, np.inf), np.full(n, -1, dtype=np.int64), float(limit_m))
    stubs = np.arange(n, n + len(keep))
    dist, _, sources = dijkstra(
        m, directed=True, indices=stubs, min_only=True, limit=limit_m, return_predecessors=True
    )
    dist = dist[:n]
    sources = sources[:n]
    src_idx = np.where(sources >= n, keep[np.clip(sources - n, 0, len(keep) - 1)], -1)
    return NodeField(dist, src_idx.astype(np.int64), float(limit_m))


def _same_edge(src: Snap, pts: Snap):
    """Pairs (point, source) that lie on the same edge, with their direct along-edge distance."""
    usable = np.flatnonzero(~src.too_far)
    if len(usable) == 0 or len(pts) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    order = usable[np.argsort(src.edge[usable], kind="stable")]
    se = src.edge[order]
    lo = np.searchsorted(se, pts.edge, "left")
    hi = np.searchsorted(se, pts.edge, "right")
    cnt = hi - lo
    p = np.repeat(np.arange(len(pts)), cnt)
    if len(p) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    start = np.repeat(lo, cnt) + (np.arange(len(p)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    s = order[start]
    d = src.dist_m[s] + np.abs(src.along_m[s] - pts.along_m[p]) + pts.dist_m[p]
    return p, s, d


def point_distances(net: Network, field: NodeField, src: Snap, pts: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) from each point to its nearest source, and which source (-1: none within the limit).

    Points flagged ``too_far`` get ``inf`` and -1: they are reported, not reached.
    """
    e = pts.edge
    u, v = net.edge_u[e], net.edge_v[e]
    via_u = field.dist_m[u] + pts.along_m
    via_v = field.dist_m[v] + (net.length_m[e] - pts.along_m)
    use_v = via_v < via_u
    dist = np.where(use_v, via_v, via_u) + pts.dist_m
    who = np.where(use_v, field.source[v], field.source[u])
    p, s, d = _same_edge(src, pts)
    if len(p):
        # keep the best same-edge pair per point, then compare with the via-node distance
        order = np.lexsort((d, p))
        p, s, d = p[order], s[order], d[order]
        first = np.ones(len(p), dtype=bool)
        first[1:] = p[1:] != p[:-1]
        p, s, d = p[first], s[first], d[first]
        better = d < dist[p]
        dist[p[better]] = d[better]
        who[p[better]] = s[better]
    beyond = (dist > field.limit_m) | pts.too_far | ~np.isfinite(dist)
    dist[beyond] = np.inf
    who[beyond] = -1
    return dist, who


def nearest(net: Network, src: Snap, pts: Snap, *, limit_m: float = np.inf) -> tuple[np.ndarray, np.ndarray, NodeField]:
    """Nearest source for every point: ``(dist_m, source_index, node_field)``."""
    field = nearest_field(net, src, limit_m=limit_m)
    dist, who = point_distances(net, field, src, pts)
    return dist, who, field


@dataclass(frozen=True, eq=False)
class Reach:
    """Sparse source-to-node distances within a limit: triplets ``(source, node, dist_m)``.

    Every node a source reaches within ``limit_m`` appears once for that source.
    """

    source: np.ndarray
    node: np.ndarray
    dist_m: np.ndarray
    n_sources: int
    limit_m: float


def _tiles(x: np.ndarray, y: np.ndarray, tile_m: float) -> list[np.ndarray]:
    """Group point indices by square tile (spatially coherent batches)."""
    if len(x) == 0:
        return []
    tx = np.floor((x - x.min()) / tile_m).astype(np.int64)
    ty = np.floor((y - y.min()) / tile_m).astype(np.int64)
    key = tx * (ty.max() + 1) + ty
    order = np.argsort(key, kind="stable")
    ks = key[order]
    cuts = np.flatnonzero(np.diff(ks)) + 1
    return np.split(order, cuts)


def reach(
    net: Network,
    src: Snap,
    *,
    limit_m: float,
    max_batch: int = 512,
    tile_m: float | None = None,
    progress=None,
) -> Reach:
    """Every node within ``limit_m`` of each source, by bounded Dijkstra on local subgraphs.

    Sources are batched by spatial tile; each batch runs on the subgraph of nodes inside the
    tile's bounding box grown by ``limit_m``. No path of length <= ``limit_m`` can leave that
    box, so the result is exact, and memory stays bounded by batch x subgraph size rather than
    sources x nodes.
    """
    if not np.isfinite(limit_m):
        raise ValueError("reach needs a finite limit_m")
    usable = np.flatnonzero(~src.too_far)
    # anchor each source at its edge's u node (within the edge length of the true point)
    e = src.edge[usable]
    ax = net.x[net.edge_u[e]]
    ay = net.y[net.edge_u[e]]
    tile_m = tile_m or max(4.0 * limit_m, 250.0)
    out_s, out_n, out_d = [], [], []
    groups = [g[i:i + max_batch] for g in _tiles(ax, ay, tile_m) for i in range(0, len(g), max_batch)]
    half_edge = net.length_m[e]
    for gi, g in enumerate(groups):
        idx = usable[g]
        pad = limit_m + float(half_edge[g].max()) + 1.0
        x0, x1 = ax[g].min() - pad, ax[g].max() + pad
        y0, y1 = ay[g].min() - pad, ay[g].max() + pad
        sel = np.flatnonzero((net.x >= x0) & (net.x <= x1) & (net.y >= y0) & (net.y <= y1))
        m, n, keep = _augment(net, src.subset(idx), sel)
        if len(keep) == 0:
            continue
        dist = dijkstra(m, directed=True, indices=np.arange(n, n + len(keep)), limit=limit_m)[:, :n]
        r, c = np.nonzero(np.isfinite(dist))
        out_s.append(idx[keep][r])
        out_n.append(sel[c])
        out_d.append(dist[r, c])
        if progress is not None:
            progress((gi + 1) / len(groups), "reach")
    if out_s:
        s, nn, d = np.concatenate(out_s), np.concatenate(out_n), np.concatenate(out_d)
    else:
        s, nn, d = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return Reach(s.astype(np.int64), nn.astype(np.int64), d, len(src), float(limit_m))


def reach_points(net: Network, rch: Reach, src: Snap, pts: Snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point-level pairs within the limit: ``(source, point, dist_m)``, one row per pair (the best path).

    Joins each source's reached nodes to the points on edges at those nodes, adds the along-edge
    and off-network legs, and adds direct same-edge pairs. Points flagged ``too_far`` are never reached.
    """
    ok = np.flatnonzero(~pts.too_far)
    e = pts.edge[ok]
    # endpoint table: (node, point, extra) for both ends of each point's edge
    ep_node = np.concatenate([net.edge_u[e], net.edge_v[e]])
    ep_pt = np.concatenate([ok, ok])
    ep_extra = np.concatenate([pts.along_m[ok], net.length_m[e] - pts.along_m[ok]]) + np.concatenate(
        [pts.dist_m[ok], pts.dist_m[ok]]
    )
    order = np.argsort(ep_node, kind="stable")
    ep_node, ep_pt, ep_extra = ep_node[order], ep_pt[order], ep_extra[order]
    lo = np.searchsorted(ep_node, rch.node, "left")
    hi = np.searchsorted(ep_node, rch.node, "right")
    cnt = hi - lo
    total = int(cnt.sum())
    rows = np.repeat(np.arange(len(rch.node)), cnt)
    pos = np.repeat(lo, cnt) + (np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    s = rch.source[rows]
    p = ep_pt[pos]
    d = rch.dist_m[rows] + ep_extra[pos]
    ps, ss, ds = _same_edge(src, pts.subset(ok))
    s = np.concatenate([s, ss])
    p = np.concatenate([p, ok[ps]])
    d = np.concatenate([d, ds])
    keep = d <= rch.limit_m
    s, p, d = s[keep], p[keep], d[keep]
    # one row per (source, point): the shortest
    order = np.lexsort((d, p, s))
    s, p, d = s[order], p[order], d[order]
    first = np.ones(len(s), dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (p[1:] != p[:-1])
    return s[first], p[first], d[first]
