"""Siting: propose new facility sites (maximal coverage, fewest sites for a target share, capacity) and what-if edits.

The pipeline is array-first (spopt's ``from_cost_matrix`` idea, without its dense matrix):

1. :class:`Candidates` from a file, from clicked points, from network nodes thinned to a spacing,
   or from the demand points themselves (:func:`candidates_from_gdf`, :func:`candidates_from_points`,
   :func:`candidates_from_nodes`, :func:`candidates_from_demand`).
2. :func:`coverage_matrix`: a sparse demand x candidate matrix of "reachable within the goal",
   built with bounded Dijkstra (:func:`planner.travel.reach` + :func:`planner.travel.reach_points`);
   memory is bounded by the batch size, never candidates x nodes.
3. :func:`reduce_problem`: drop demand already covered by existing facilities and demand no
   candidate reaches, merge demand rows with identical candidate sets into one weighted row,
   drop candidates whose coverage set is contained in another's.
4. Solvers: lazy greedy (CELF) and an exact MILP with HiGHS (``highspy``), warm-started from greedy.
5. :class:`SitingResult` and :func:`write_siting` (proposals.csv, summary.json, proposals.geojson).
6. :class:`WhatIf`: add or remove one site and update per-demand minutes without recomputing everything.

All distances are network metres in the network's metric CRS; coordinates given to or returned
by the public functions are WGS-84 lon/lat degrees unless named ``x``/``y``.
"""
from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._errors import InfeasibleError, InputError
from .config import FacilityType
from .network import Network, Snap, snap_points
from .travel import nearest, reach, reach_points

logger = logging.getLogger(__name__)

__all__ = [
    "Candidates",
    "candidates_from_gdf",
    "candidates_from_points",
    "candidates_from_nodes",
    "candidates_from_demand",
    "outside_exclusions",
    "goal_limit_m",
    "coverage_matrix",
    "Reduced",
    "reduce_problem",
    "GreedyRun",
    "greedy_max_coverage",
    "greedy_min_sites",
    "swap_max_coverage",
    "iterated_swap_max_coverage",
    "lagrangian_max_coverage",
    "improve_min_sites",
    "ImprovedRun",
    "improved_max_coverage",
    "improved_min_sites",
    "lagrangian_set_cover",
    "MilpRun",
    "milp_max_coverage",
    "milp_min_sites",
    "milp_capacitated",
    "SitingResult",
    "propose",
    "propose_study",
    "write_siting",
    "WhatIfDelta",
    "WhatIf",
]

_EPS = 1e-9
#: Solvers of :func:`propose`: ``greedy`` (lazy greedy), ``heuristic`` (greedy + swap search, with a
#: Lagrangian bound for maximal coverage), ``auto`` (the heuristic, then within the time limit a short
#: HiGHS run, more seeded local search and HiGHS for the rest, warm-started; the proven gap is always
#: reported), ``exact`` (the same schedule, local search to 40 % of the limit).
METHODS = ("greedy", "heuristic", "auto", "exact")


def goal_limit_m(ftype: FacilityType) -> float:
    """The network distance (m) that counts as "within the goal", matching :mod:`planner.coverage_stats`.

    Coverage counts ``minutes <= target_minutes + 1e-9``; this is the same bound in metres.
    """
    return (ftype.target_minutes + 1e-9) * ftype.metres_per_minute


# ============================================================================ candidates
@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate sites for new facilities.

    Attributes
    ----------
    ids : object[c]  unique string ids.
    lon, lat : float64[c]  WGS-84 degrees.
    x, y : float64[c]  metres in the network's CRS.
    source : object[c]  where each came from: ``file``, ``click``, ``node``, ``demand``.
    """

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index) -> Candidates:
        return Candidates(*(np.asarray(a)[index] for a in (self.ids, self.lon, self.lat, self.x, self.y, self.source)))

    @staticmethod
    def concat(parts: list[Candidates]) -> Candidates:
        """Join candidate lists; ids must stay unique."""
        parts = [p for p in parts if p is not None]
        if not parts:
            return _make(np.zeros(0, object), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), "")
        out = Candidates(*(np.concatenate([getattr(p, a) for p in parts]) for a in ("ids", "lon", "lat", "x", "y", "source")))
        _check_unique(out.ids)
        return out

    def frame(self) -> pd.DataFrame:
        """``id, lon, lat, source`` as a DataFrame."""
        return pd.DataFrame({"id": self.ids, "lon": self.lon, "lat": self.lat, "source": self.source})


def _check_unique(ids: np.ndarray) -> None:
    s = pd.Series(ids, dtype=object)
    dup = s[s.duplicated(keep=False)]
    if len(dup):
        raise InputError(
            f"Candidate ids must be unique; repeated: {sorted(set(dup.astype(str)))[:10]}.",
            f"候选点编号须唯一；重复的编号：{sorted(set(dup.astype(str)))[:10]}。",
        )


def _make(ids, lon, lat, x, y, source: str) -> Candidates:
    ids = np.asarray(ids, dtype=object)
    return Candidates(ids, np.asarray(lon, float), np.asarray(lat, float), np.asarray(x, float),
                      np.asarray(y, float), np.full(len(ids), source, dtype=object))


def candidates_from_gdf(net: Network, gdf, *, id_column: str = "id") -> Candidates:
    """Candidates from a points (Geo)DataFrame, e.g. ``planner.io.read_facilities(path).gdf``.

    Parameters
    ----------
    net : Network
    gdf : GeoDataFrame or DataFrame
        Points with a CRS (reprojected to WGS-84), or ``lon``/``lat`` columns in WGS-84 degrees.
    id_column : str
        Column with unique ids (default ``id``; row numbers ``c1, c2, ...`` when absent).
    """
    if gdf is None or len(gdf) == 0:
        raise InputError("The candidate file has no rows.", "候选点文件没有任何记录。")
    if "lon" in gdf.columns and "lat" in gdf.columns:
        lon = pd.to_numeric(gdf["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(gdf["lat"], errors="coerce").to_numpy(float)
    else:
        g = gdf.to_crs(4326) if getattr(gdf, "crs", None) is not None else gdf
        lon, lat = g.geometry.x.to_numpy(float), g.geometry.y.to_numpy(float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        rows = (np.flatnonzero(bad) + 2).tolist()[:20]
        raise InputError(
            f"{int(bad.sum())} candidate rows have no valid coordinates (rows {rows}).",
            f"{int(bad.sum())} 个候选点缺少有效坐标（第 {rows} 行）。",
        )
    ids = gdf[id_column].astype(str).to_numpy(dtype=object) if id_column in gdf.columns else np.array(
        [f"c{i + 1}" for i in range(len(gdf))], dtype=object)
    _check_unique(ids)
    x, y = net.to_metric(lon, lat)
    return _make(ids, lon, lat, x, y, "file")


def candidates_from_points(net: Network, points, *, ids=None, prefix: str = "click") -> Candidates:
    """Candidates from clicked map points: a sequence of ``(lon, lat)`` in WGS-84 degrees."""
    arr = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(arr) == 0:
        raise InputError("No candidate points were given.", "没有给出候选点。")
    if not np.isfinite(arr).all():
        raise InputError("Candidate points must have finite lon/lat.", "候选点的经纬度须为有效数值。")
    ids = np.asarray(ids, dtype=object) if ids is not None else np.array(
        [f"{prefix}{i + 1}" for i in range(len(arr))], dtype=object)
    _check_unique(ids)
    x, y = net.to_metric(arr[:, 0], arr[:, 1])
    return _make(ids, arr[:, 0], arr[:, 1], x, y, "click")


def candidates_from_nodes(
    net: Network,
    *,
    spacing_m: float,
    near_x=None,
    near_y=None,
    near_m: float | None = None,
) -> Candidates:
    """Network nodes thinned to one per square cell of ``spacing_m`` (the node nearest the cell centre).

    Parameters
    ----------
    net : Network
    spacing_m : float
        Cell side in metres (e.g. 50 for AEDs, 150-300 for 15-minute facilities).
    near_x, near_y : array, optional
        Metric coordinates of the demand that matters (e.g. uncovered demand); only nodes within
        ``near_m`` (straight line, metres) of one of them are kept. A node farther than the goal
        distance from every such point cannot cover it, so ``near_m`` = the goal distance loses nothing.
    near_m : float, optional
        Radius for ``near_x``/``near_y`` (required with them).
    """
    if not spacing_m > 0:
        raise InputError("The candidate spacing must be positive (metres).", "候选点间距须大于 0（米）。")
    x, y = np.asarray(net.x), np.asarray(net.y)
    keep = np.ones(net.n_nodes, dtype=bool)
    if near_x is not None:
        from scipy.spatial import cKDTree

        if near_m is None:
            raise InputError("near_m is required with near_x/near_y.", "给出 near_x/near_y 时须给出 near_m。")
        nx_, ny_ = np.asarray(near_x, float), np.asarray(near_y, float)
        if len(nx_) == 0:
            keep[:] = False
        else:
            d, _ = cKDTree(np.column_stack([nx_, ny_])).query(np.column_stack([x, y]), distance_upper_bound=float(near_m) * net.grid_per_ground_max)
            keep = np.isfinite(d)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return _make(np.zeros(0, object), [], [], [], [], "node")
    cx = np.floor(x[idx] / spacing_m)
    cy = np.floor(y[idx] / spacing_m)
    off = np.hypot(x[idx] - (cx + 0.5) * spacing_m, y[idx] - (cy + 0.5) * spacing_m)
    order = np.lexsort((idx, off, cy, cx))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (cx[order][1:] != cx[order][:-1]) | (cy[order][1:] != cy[order][:-1])
    pick = np.sort(idx[order[first]])
    ids = np.array([f"n{v}" for v in net.node_id[pick]], dtype=object)
    return _make(ids, net.lon[pick], net.lat[pick], x[pick], y[pick], "node")


def outside_exclusions(study, candidates: Candidates) -> Candidates:
    """The candidates not in the study's exclusion zones (generated candidates: no site in water, parks,
    military land); a study without exclusion zones keeps them all."""
    excluded = getattr(study, "excluded", None)
    if excluded is None or getattr(study, "exclusions", None) is None or len(candidates) == 0:
        return candidates
    return candidates.subset(np.flatnonzero(~excluded(candidates.lon, candidates.lat)))


def candidates_from_demand(net: Network, lon, lat, ids, *, mask=None) -> Candidates:
    """The demand points themselves as candidates (optionally only where ``mask``, e.g. uncovered)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ids = np.asarray(ids, dtype=object)
    if mask is not None:
        m = np.asarray(mask, bool)
        lon, lat, ids = lon[m], lat[m], ids[m]
    x, y = net.to_metric(lon, lat)
    return _make(np.array([f"d:{i}" for i in ids], dtype=object), lon, lat, x, y, "demand")


# ============================================================================ coverage matrix
def coverage_matrix(
    net: Network,
    cand_snap: Snap,
    dem_snap: Snap,
    *,
    limit_m: float,
    max_batch: int | None = None,
    tile_m: float | None = None,
    max_cells: float = 2e7,
) -> sp.csr_matrix:
    """Sparse demand x candidate matrix: 1 where the candidate reaches the demand point within ``limit_m``.

    Built from :func:`planner.travel.reach` (candidates as sources, bounded Dijkstra on local
    subgraphs, batched) and :func:`planner.travel.reach_points` (exact point-level distances).
    Candidates or demand flagged ``too_far`` from the street network get empty columns / rows.

    Parameters
    ----------
    net : Network
    cand_snap, dem_snap : Snap
        Candidates and demand snapped to ``net``.
    limit_m : float
        Goal distance in metres (see :func:`goal_limit_m`).
    max_batch, tile_m, max_cells : optional
        Batching of the bounded Dijkstra; see :func:`planner.travel.reach` for the defaults.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(dem_snap), len(cand_snap))``, dtype int8, sorted indices.
    """
    n_d, n_c = len(dem_snap), len(cand_snap)
    if n_c == 0 or n_d == 0:
        return sp.csr_matrix((n_d, n_c), dtype=np.int8)
    r = reach(net, cand_snap, limit_m=float(limit_m), max_batch=max_batch, tile_m=tile_m, max_cells=max_cells)
    s, p, _ = reach_points(net, r, cand_snap, dem_snap)
    a = sp.csr_matrix((np.ones(len(s), dtype=np.int8), (p, s)), shape=(n_d, n_c))
    a.sum_duplicates()
    a.sort_indices()
    return a


# ============================================================================ reduction
@dataclass(frozen=True, eq=False)
class Reduced:
    """A coverage problem after reduction.

    Attributes
    ----------
    matrix : csc_matrix  rows = merged demand groups, columns = kept candidates (bool).
    weight : float[r]  demand weight of each merged row.
    row_of : int[p]  for each original demand point, its merged row (-1: dropped, see ``dropped``).
    cols : int[k]  original candidate index of each kept column.
    sizes : dict  rows/columns before and after each step, and seconds spent.
    """

    matrix: sp.csc_matrix
    weight: np.ndarray
    row_of: np.ndarray
    cols: np.ndarray
    sizes: dict


def _merge_rows(a: sp.csr_matrix, w: np.ndarray, rng_seed: int = 12345):
    """Group rows with identical column sets (128-bit random-sum hash, then verified exactly).

    Returns (merged csr, merged weights, group index per input row).
    """
    m, n = a.shape
    if m == 0:
        return a, w, np.zeros(0, np.int64)
    rng = np.random.default_rng(rng_seed)
    r1 = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64).view(np.uint64)
    r2 = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64).view(np.uint64)
    lens = np.diff(a.indptr)
    rows = np.repeat(np.arange(m), lens)
    h1 = np.zeros(m, np.uint64)
    h2 = np.zeros(m, np.uint64)
    np.add.at(h1, rows, r1[a.indices])  # uint64 wraps: a sum hash independent of order
    np.add.at(h2, rows, r2[a.indices])
    key = np.column_stack([h1.view(np.int64), h2.view(np.int64), lens.astype(np.int64)])
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    rep = first[inv]  # representative row of each row
    # exact check: every row's indices equal its representative's (same length by construction)
    pos = np.arange(len(a.indices)) - np.repeat(a.indptr[:-1], lens)
    same = a.indices == a.indices[np.repeat(a.indptr[rep], lens) + pos]
    bad_rows = np.unique(rows[~same])
    if len(bad_rows):  # hash collision (never seen): keep those rows on their own
        logger.warning("row-merge hash collision on %d rows; kept them unmerged", len(bad_rows))
        extra = np.arange(len(first), len(first) + len(bad_rows))
        inv = inv.copy()
        inv[bad_rows] = extra
        first = np.concatenate([first, bad_rows])
    g = len(first)
    wg = np.bincount(inv, weights=w, minlength=g)
    merged = a[first]
    return merged.tocsr(), wg, inv


def _dominated(a: sp.csc_matrix, *, max_work: float = 3e8) -> np.ndarray:
    """Columns whose row set is contained in another column's (equal sets: all but the lowest index).

    Candidate pairs come from each column's rarest row (a dominator must cover it), filtered by
    size, then checked exactly. Returns a boolean mask of dominated columns. If the check would
    exceed ``max_work`` element tests, only the affordable part is done (never a wrong drop).
    """
    m, n = a.shape
    dom = np.zeros(n, dtype=bool)
    if n < 2 or m == 0:
        return dom
    csc = a.tocsc()
    csr = a.tocsr()
    size = np.diff(csc.indptr)
    deg = np.diff(csr.indptr)
    nz = size > 0
    # rarest row of each column
    col_of = np.repeat(np.arange(n), size)
    rows = csc.indices
    rd = deg[rows]
    order = np.lexsort((rd, col_of))
    firsts = csc.indptr[:-1][nz]
    rare = np.full(n, -1, np.int64)
    rare[nz] = rows[order][firsts]
    # candidate pairs (j, k): k covers rare[j], k != j, size[k] >= size[j]
    j_of = np.flatnonzero(nz)
    cnt = deg[rare[j_of]]
    pj = np.repeat(j_of, cnt)
    start = np.repeat(csr.indptr[rare[j_of]], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    pk = csr.indices[start]
    ok = (pk != pj) & ((size[pk] > size[pj]) | ((size[pk] == size[pj]) & (pk < pj)))
    pj, pk = pj[ok], pk[ok]
    if len(pj) == 0:
        return dom
    # exact subset test: every row of j is in k; membership via sorted keys row * n + col
    keys = rows.astype(np.int64) * n + col_of  # csc order: sorted by col then row -> sort
    keys = np.sort(keys)
    work = size[pj].astype(np.float64)
    if work.sum() > max_work:
        keep = np.cumsum(work) <= max_work
        logger.info("dominance check limited to %d of %d candidate pairs (work cap)", int(keep.sum()), len(pj))
        pj, pk = pj[keep], pk[keep]
    step = max(1, int(2e7 // max(1.0, float(size[pj].mean()) if len(pj) else 1.0)))
    for lo in range(0, len(pj), step):
        bj, bk = pj[lo:lo + step], pk[lo:lo + step]
        bj_sz = size[bj]
        pair = np.repeat(np.arange(len(bj)), bj_sz)
        rpos = np.repeat(csc.indptr[bj], bj_sz) + (np.arange(bj_sz.sum()) - np.repeat(np.cumsum(bj_sz) - bj_sz, bj_sz))
        q = rows[rpos].astype(np.int64) * n + bk[pair]
        hit = keys[np.minimum(np.searchsorted(keys, q), len(keys) - 1)] == q
        missing = np.bincount(pair[~hit], minlength=len(bj))
        dom[bj[missing == 0]] = True
    return dom


def reduce_problem(
    a: sp.spmatrix,
    weight,
    *,
    covered=None,
    merge_rows: bool = True,
    drop_dominated: bool = True,
) -> Reduced:
    """Shrink a coverage problem without changing its optimum.

    Steps: drop demand already ``covered`` (by existing facilities) and demand with no candidate or
    zero weight; merge rows with identical candidate sets into one weighted row; drop empty and
    dominated candidates (coverage set contained in another's; among equal sets the lowest index
    stays); merge rows again. Valid for maximal coverage and (partial) set cover; *not* for the
    capacitated problem (a dominated site still adds capacity), which uses ``drop_dominated=False``.

    Parameters
    ----------
    a : sparse matrix, demand x candidate (non-zero = covers).
    weight : float[p] demand weights (residents).
    covered : bool[p], optional  demand already covered by existing facilities.
    """
    t0 = time.perf_counter()
    a = sp.csr_matrix(a, dtype=bool)
    a.sum_duplicates()
    a.eliminate_zeros()
    w = np.asarray(weight, float)
    m0, n0 = a.shape
    sizes = {"demand_points": int(m0), "candidates": int(n0), "demand_nnz": int(a.nnz)}
    live = (np.diff(a.indptr) > 0) & (w > 0)
    if covered is not None:
        live &= ~np.asarray(covered, bool)
    live_idx = np.flatnonzero(live)
    sizes["rows_after_drop_covered_or_unreachable"] = int(len(live_idx))
    sub = a[live_idx]
    ws = w[live_idx]
    if merge_rows:
        sub, ws, grp = _merge_rows(sub, ws)
    else:
        grp = np.arange(len(live_idx))
    sizes["rows_after_merge"] = int(sub.shape[0])
    cols = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
    sizes["cols_after_drop_empty"] = int(len(cols))
    csc = sub.tocsc()[:, cols]
    if drop_dominated and len(cols) > 1:
        dom = _dominated(csc)
        cols = cols[~dom]
        csc = csc[:, ~dom]
    sizes["cols_after_dominance"] = int(len(cols))
    if merge_rows and drop_dominated:
        csr2, ws2, grp2 = _merge_rows(csc.tocsr(), ws)
        grp = grp2[grp]
        csc, ws = csr2.tocsc(), ws2
    sizes["rows_final"] = int(csc.shape[0])
    sizes["cols_final"] = int(csc.shape[1])
    sizes["nnz_final"] = int(csc.nnz)
    sizes["seconds"] = round(time.perf_counter() - t0, 4)
    row_of = np.full(m0, -1, np.int64)
    row_of[live_idx] = grp
    csc = csc.astype(bool)
    csc.sort_indices()
    return Reduced(csc, ws, row_of, cols.astype(np.int64), sizes)


def _identity(a: sp.spmatrix, weight, covered=None) -> Reduced:
    """No reduction (only drop covered demand): used to check that reduction keeps the optimum."""
    return reduce_problem(a, weight, covered=covered, merge_rows=False, drop_dominated=False)


# ============================================================================ greedy (CELF)
@dataclass(frozen=True)
class GreedyRun:
    """Greedy selection: columns in order and the weight each added (its marginal gain)."""

    order: np.ndarray
    gains: np.ndarray
    seconds: float


def _celf(csc: sp.csc_matrix, w: np.ndarray, *, k_max: int, stop_at: float = np.inf, allowed=None) -> GreedyRun:
    """Lazy greedy (CELF): pop the best stale upper bound, refresh it, take it if still best.

    Marginal gains only shrink as coverage grows (submodularity), so a refreshed gain that beats
    every other stale bound is the true maximum. Ties go to the lowest column index.
    """
    t0 = time.perf_counter()
    m, n = csc.shape
    indptr, indices = csc.indptr, csc.indices
    covered = np.zeros(m, dtype=bool)
    cols = np.arange(n) if allowed is None else np.asarray(allowed, np.int64)
    g0 = np.asarray(csc[:, cols].T @ w).ravel() if len(cols) else np.zeros(0)
    heap = [(-float(g), int(j)) for g, j in zip(g0, cols)]
    heapq.heapify(heap)
    fresh = np.full(n, -1, np.int64)
    fresh[cols] = 0
    order: list[int] = []
    gains: list[float] = []
    total = 0.0
    it = 0
    while heap and len(order) < k_max and total < stop_at:
        negg, j = heap[0]
        if fresh[j] == it:
            heapq.heappop(heap)
            if -negg <= 0:
                break
            r = indices[indptr[j]:indptr[j + 1]]
            covered[r] = True
            order.append(j)
            gains.append(-negg)
            total += -negg
            it += 1
        else:
            r = indices[indptr[j]:indptr[j + 1]]
            g = float(w[r][~covered[r]].sum())
            fresh[j] = it
            heapq.heapreplace(heap, (-g, j))
    return GreedyRun(np.asarray(order, np.int64), np.asarray(gains, float), time.perf_counter() - t0)


def greedy_max_coverage(red: Reduced, p: int) -> GreedyRun:
    """Lazy greedy for maximal coverage with ``p`` new sites.

    Guarantee: the covered weight is at least (1 - 1/e) ≈ 63.2% of the optimum (Nemhauser, Wolsey
    & Fisher 1978), because coverage is monotone submodular; in practice it is usually within 1%.
    Returns columns of ``red`` (map with ``red.cols``); it stops early when no site adds anything.
    """
    return _celf(red.matrix, red.weight, k_max=int(p))


def greedy_min_sites(red: Reduced, need: float) -> GreedyRun:
    """Greedy partial set cover: add the best site until ``need`` weight (of ``red``'s rows) is covered.

    Guarantee: at most H(d) ≈ ln(d) + 1 times the fewest sites, d the largest coverage set.
    """
    return _celf(red.matrix, red.weight, k_max=red.matrix.shape[1], stop_at=float(need) * (1 - 1e-12))


def _curve_order(csc: sp.csc_matrix, w: np.ndarray, chosen) -> GreedyRun:
    """Greedy order (and marginal gains) of a fixed chosen set: the coverage curve of an exact answer."""
    chosen = np.asarray(chosen, np.int64)
    # sites that add nothing once the others are open are left out, as greedy leaves them out
    return _celf(csc, w, k_max=len(chosen), allowed=chosen)


# ============================================================================ improvement (swap) and bounds
def _covered_weight(csc: sp.csc_matrix, w: np.ndarray, chosen) -> float:
    chosen = np.asarray(chosen, np.int64)
    if len(chosen) == 0:
        return 0.0
    return float(w[np.asarray(csc[:, chosen].sum(axis=1)).ravel() > 0].sum())


def swap_max_coverage(red: Reduced, chosen, *, max_iter: int = 10_000) -> tuple[np.ndarray, int]:
    """Best-improvement vertex substitution for maximal coverage: swap one chosen site for another while coverage grows.

    For every (in ``j``, out ``k``) pair at once: ``delta = G_j - L_k + C_jk``, ``G_j`` the weight
    ``j`` would add, ``L_k`` the weight only ``k`` covers, ``C_jk`` the part of ``L_k`` that ``j``
    also covers. Stops at a local optimum: no single swap covers more. Returns (columns, swaps made).
    """
    csc = red.matrix.tocsc()
    w = red.weight
    m, n = csc.shape
    chosen = np.array(chosen, np.int64)
    p = len(chosen)
    if p == 0 or p >= n:
        return chosen, 0
    rows = csc.indices
    cols = np.repeat(np.arange(n), np.diff(csc.indptr))
    it = 0
    while it < max_iter:
        is_in = np.zeros(n, bool)
        is_in[chosen] = True
        pos = np.full(n, -1, np.int64)
        pos[chosen] = np.arange(p)
        in_nz = is_in[cols]
        cnt = np.bincount(rows[in_nz], minlength=m)
        # the one chosen site covering each row covered exactly once
        only = np.full(m, -1, np.int64)
        once = in_nz & (cnt[rows] == 1)
        only[rows[once]] = pos[cols[once]]
        loss = np.bincount(only[only >= 0], weights=w[only >= 0], minlength=p)
        out_nz = ~in_nz
        r, c = rows[out_nz], cols[out_nz]
        gain = np.bincount(c, weights=w[r] * (cnt[r] == 0), minlength=n)
        hit = only[r] >= 0
        corr = sp.coo_matrix((w[r[hit]], (c[hit], only[r[hit]])), shape=(n, p)).toarray()
        delta = gain[:, None] - loss[None, :] + corr
        delta[is_in, :] = -np.inf
        j, k = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[j, k] > 1e-9 * max(float(w.sum()), 1.0):
            break
        chosen[k] = j
        it += 1
    return chosen, it


def iterated_swap_max_coverage(red: Reduced, chosen, *, iters: int = 100, kick: int = 3, seed: int = 0,
                               time_limit_s: float = 5.0, stop_at: float = np.inf) -> tuple[np.ndarray, int]:
    """Iterated local search: from a swap-optimal answer, replace ``kick`` random sites by random others,
    run :func:`swap_max_coverage` again, keep the result when it covers more. Seeded (same answer
    every run); stops after ``iters`` kicks, ``time_limit_s``, or once the coverage reaches ``stop_at``.
    Returns (columns, improvements)."""
    csc = red.matrix.tocsc()
    w = red.weight
    n = csc.shape[1]
    best = np.array(chosen, np.int64)
    p = len(best)
    if p == 0 or p >= n:
        return best, 0
    best, _ = swap_max_coverage(red, best)
    val = _covered_weight(csc, w, best)
    rng = np.random.default_rng(seed)
    k = min(int(kick), p, n - p)
    found = 0
    t0 = time.perf_counter()
    for _ in range(int(iters)):
        if time.perf_counter() - t0 > time_limit_s or val >= stop_at:
            break
        out = rng.choice(p, k, replace=False)
        pool = np.setdiff1d(np.arange(n), best)
        trial = np.concatenate([np.delete(best, out), rng.choice(pool, k, replace=False)])
        trial, _ = swap_max_coverage(red, trial)
        v = _covered_weight(csc, w, trial)
        if v > val + 1e-9 * max(val, 1.0):
            best, val, found = trial, v, found + 1
    return best, found


def lagrangian_max_coverage(red: Reduced, p: int, *, lower: float = 0.0, max_iter: int = 400,
                            tol: float = 1e-5) -> float:
    """Upper bound on maximal coverage with ``p`` sites: Lagrangian relaxation of ``y_i <= sum_j a_ij x_j``.

    ``L(mu) = sum_i max(0, w_i - mu_i) + (sum of the p largest sum_i a_ij mu_i)`` for ``mu >= 0``;
    every value is a proven upper bound. Subgradient steps (Polyak, towards ``lower``, the best
    known coverage) halve after 20 iterations without progress.
    """
    csc = red.matrix.tocsc()
    w = red.weight
    m, n = csc.shape
    p = min(int(p), n)
    if p == 0 or m == 0:
        return 0.0
    rows = csc.indices
    cols = np.repeat(np.arange(n), np.diff(csc.indptr))
    mu = w * 0.5
    best = np.inf
    theta, stall = 1.0, 0
    for _ in range(max_iter):
        score = np.bincount(cols, weights=mu[rows], minlength=n)
        pick = np.argpartition(-score, p - 1)[:p]
        val = float(np.maximum(w - mu, 0.0).sum() + score[pick].sum())
        if val < best - 1e-12 * max(best if np.isfinite(best) else 1.0, 1.0):
            best, stall = val, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2.0, 0
        if best - lower <= tol * max(best, 1e-300) or theta < 1e-4:
            break
        is_pick = np.zeros(n, bool)
        is_pick[pick] = True
        y = (w - mu > 0).astype(float)
        cover = np.bincount(rows[is_pick[cols]], minlength=m).astype(float)
        g = y - cover  # subgradient of L in mu (L decreases along -g where g > 0)
        nrm = float(g @ g)
        if nrm == 0:
            break
        mu = np.maximum(mu + theta * (val - lower) / nrm * g, 0.0)
    return float(best)


def improve_min_sites(red: Reduced, need: float, chosen, *, tries: int = 8, ils_iters: int = 30,
                      time_limit_s: float | None = None, seed: int = 0) -> tuple[np.ndarray, int]:
    """Fewer sites for the same target: drop a site, repair by swap search, keep while ``need`` is still met.

    Starting from a feasible answer (e.g. greedy's), removes a site and runs
    :func:`swap_max_coverage` on the rest; the sites are tried in order of increasing loss (the
    weight only they cover), up to ``tries`` of them, and the first repaired set that still meets
    ``need`` is kept. When none repairs, ``ils_iters`` kicks of :func:`iterated_swap_max_coverage`
    from the best try get a last chance (stopping as soon as ``need`` is met; seeded by ``seed``).
    Stops when that fails too, or once ``time_limit_s`` has gone (each local search gets at most
    what is left of it). Returns (columns, sites removed).
    """
    t0 = time.perf_counter()
    csc = red.matrix.tocsc()
    w = red.weight
    cols = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
    cur = np.array(chosen, np.int64)
    removed = 0
    while len(cur) > 1:
        is_in = np.zeros(csc.shape[1], bool)
        is_in[cur] = True
        in_nz = is_in[cols]
        cnt = np.bincount(csc.indices[in_nz], minlength=csc.shape[0])
        once = in_nz & (cnt[csc.indices] == 1)
        loss = np.bincount(cols[once], weights=w[csc.indices[once]], minlength=csc.shape[1])[cur]
        ok, best_v, best_t = False, -1.0, None
        for k in np.argsort(loss, kind="stable")[: max(1, int(tries))]:
            trial, _ = swap_max_coverage(red, np.delete(cur, k))
            v = _covered_weight(csc, w, trial)
            if v >= need * (1 - 1e-12):
                ok = True
                break
            if v > best_v:
                best_v, best_t = v, trial
        left = np.inf if time_limit_s is None else float(time_limit_s) - (time.perf_counter() - t0)
        if not ok and ils_iters > 0 and best_t is not None and left > 0:  # harder repair: iterated local search
            trial, _ = iterated_swap_max_coverage(red, best_t, iters=ils_iters, seed=seed, time_limit_s=min(5.0, left),
                                                  stop_at=need * (1 - 1e-12))
            ok = _covered_weight(csc, w, trial) >= need * (1 - 1e-12)
        if not ok:
            break
        cur, removed = trial, removed + 1
    return cur, removed


def lagrangian_set_cover(red: Reduced, *, max_iter: int = 400, heuristic_every: int = 5,
                         start=None) -> tuple[np.ndarray, float]:
    """Fewest sites covering every row: Lagrangian heuristic for set covering (after Beasley 1990).

    Multipliers ``u_i >= 0`` on the cover rows give reduced costs ``c_j = 1 - sum_{i in j} u_i``
    and a lower bound ``L(u) = sum u_i + sum_j min(0, c_j)``. Every few subgradient steps the
    columns with ``c_j < 0`` are taken, uncovered rows repaired greedily (most new rows, then lowest
    ``c_j``), and redundant columns dropped (least attractive first). Returns (best columns, best
    bound ``ceil(L)``) — the bound proves how far the answer can be from the optimum.
    """
    csc = red.matrix.tocsc()
    csr = red.matrix.tocsr()
    m, n = csc.shape
    rows = csc.indices
    cols = np.repeat(np.arange(n), np.diff(csc.indptr))
    size = np.diff(csc.indptr)
    if m == 0:
        return np.zeros(0, np.int64), 0.0
    # start: each row's multiplier = 1 / (its number of columns), a feasible dual
    deg = np.diff(csr.indptr).astype(float)
    u = 1.0 / np.maximum(deg, 1.0)
    best_cols = np.asarray(start, np.int64) if start is not None else None
    best_lb = 0.0
    theta, stall = 2.0, 0

    def heuristic(c):
        x = np.zeros(n, bool)
        x[c < 0] = True
        cnt = np.bincount(rows[x[cols]], minlength=m)
        unc = cnt == 0
        while unc.any():
            newr = np.bincount(cols, weights=unc[rows].astype(float), minlength=n)
            newr[x] = 0
            score = newr - 1e-6 * c  # most new rows; ties to the lowest reduced cost
            j = int(np.argmax(score))
            if newr[j] <= 0:
                return None
            x[j] = True
            r = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
            cnt[r] += 1
            unc[r] = False
        chosen = np.flatnonzero(x)
        for j in chosen[np.argsort(-c[chosen], kind="stable")]:
            r = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
            if (cnt[r] >= 2).all():
                x[j] = False
                cnt[r] -= 1
        return np.flatnonzero(x)

    upper = float(len(best_cols)) if best_cols is not None else float(n)
    for it in range(max_iter):
        c = 1.0 - np.bincount(cols, weights=u[rows], minlength=n)
        lb = float(u.sum() + np.minimum(c, 0.0).sum())
        if lb > best_lb + 1e-9:
            best_lb, stall = lb, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2.0, 0
        if it % heuristic_every == 0:
            sol = heuristic(c)
            if sol is not None and (best_cols is None or len(sol) < len(best_cols)):
                best_cols, upper = sol, float(len(sol))
        if upper - np.ceil(best_lb - 1e-6) < 1 or theta < 1e-3:
            break
        x = c < 0
        g = 1.0 - np.bincount(rows[x[cols]], minlength=m)  # subgradient of L in u
        g[(u <= 0) & (g < 0)] = 0.0
        nrm = float(g @ g)
        if nrm == 0:
            break
        u = np.maximum(u + theta * (1.05 * upper - lb) / nrm * g, 0.0)
    del size
    return (best_cols if best_cols is not None else np.zeros(0, np.int64)), float(np.ceil(best_lb - 1e-6))


@dataclass(frozen=True)
class ImprovedRun:
    """A heuristic (optionally finished by HiGHS) answer on a reduced problem, in greedy order.

    ``objective``: covered weight (maximal coverage) or number of sites (fewest sites); ``bound``:
    a proven bound on the optimum (upper for coverage, lower for sites; NaN when none is known).
    """

    order: np.ndarray
    gains: np.ndarray
    objective: float
    bound: float
    status: str
    seconds: float


def improved_max_coverage(red: Reduced, p: int, *, greedy: GreedyRun | None = None, exact_time_s: float | None = None,
                          mip_rel_gap: float = 1e-6, ils_iters: int = 100, search_share: float = 0.7) -> ImprovedRun:
    """Greedy, swap search, ``ils_iters`` kicks of iterated local search (seeded) and a Lagrangian upper
    bound; with ``exact_time_s`` (``method='auto'``), then the schedule of :func:`exact_max_coverage`
    within that budget: HiGHS warm-started for a tenth of it (small instances end there, proven
    optimal), more iterated local search until ``search_share`` of it has gone, HiGHS warm-started
    for what is left.

    ``exact_time_s`` is the budget of the whole call (heuristic included). Why local search before
    HiGHS: on the 5,000 x 500 benchmark instances HiGHS warm-started did not improve the heuristic's
    answer in 8 s (seed 1: 1.9 % short of the best known), while a few seconds more of local search
    reached the best known answer.

    The answer is never worse than greedy's, nor (with a budget) than the heuristic's; ``bound`` is
    the smaller of the Lagrangian and the HiGHS dual bound, so the reported gap is always a proven one.
    """
    t0 = time.perf_counter()
    g = greedy if greedy is not None else greedy_max_coverage(red, p)
    n = red.matrix.shape[1]
    p = min(int(p), n)
    start = g.order
    if len(start) < p:  # greedy stopped early (nothing left to gain): pad so the swap search has p sites
        start = np.concatenate([start, np.setdiff1d(np.arange(n), start)[: p - len(start)]])
    imp, swaps = swap_max_coverage(red, start)
    imp, kicks = iterated_swap_max_coverage(red, imp, iters=ils_iters) if ils_iters > 0 else (imp, 0)
    cur = _curve_order(red.matrix, red.weight, imp)
    cov = float(cur.gains.sum())
    ub = min(lagrangian_max_coverage(red, p, lower=cov), float(red.weight.sum()))
    status = f"greedy + {swaps} swaps + {kicks} improving kicks"
    if exact_time_s is not None and ub - cov > 1e-9 * max(ub, 1.0):
        h = ImprovedRun(cur.order, cur.gains, cov, ub, status, 0.0)
        left = float(exact_time_s) - (time.perf_counter() - t0)  # the budget covers the heuristic too
        mr = exact_max_coverage(red, p, time_limit_s=left, mip_rel_gap=mip_rel_gap, heuristic=h,
                                search_share=search_share, share_of=float(exact_time_s))
        ub = min(ub, mr.bound)
        if mr.objective > cov + 1e-9:
            cur = _curve_order(red.matrix, red.weight, mr.chosen)
            cov = float(cur.gains.sum())
        status += f"; {mr.status}"
    elif exact_time_s is not None:
        status += "; proven optimal by the Lagrangian bound"
    return ImprovedRun(cur.order, cur.gains, cov, max(ub, cov), status, time.perf_counter() - t0)


def improved_min_sites(red: Reduced, need: float, *, greedy: GreedyRun | None = None, exact_time_s: float | None = None,
                       mip_rel_gap: float = 1e-6, lagrangian: bool = False, search_share: float = 0.8) -> ImprovedRun:
    """Greedy, then :func:`improve_min_sites`; with ``exact_time_s`` (``method='auto'``, the budget of the
    whole call), then: HiGHS warm-started for a tenth of the budget (small instances end there, proven
    optimal); more drop-and-repair local search (:func:`improve_min_sites` with iterated local search
    until ``search_share`` of the budget has gone, seeded); HiGHS warm-started for what is left (proven bound).

    For a full cover the longer repair search weighs each row by 1 / (number of sites covering it)²
    instead of its demand: only covering every row matters, and rows few sites reach are the hard
    ones. On the 5,000 x 500 benchmark instances (seeds 1 and 2) HiGHS alone, warm-started, stayed
    at 36 and 35 sites for 8 s; the search found 34 on both (with 1 / number of sites, unsquared, it
    failed on seed 2 with 1 of 6 random seeds; squared, 6 of 6 found it in 5 s).

    ``lagrangian=True`` also runs :func:`lagrangian_set_cover` for a full cover (its own lower bound
    without HiGHS; on the random benchmark instances it costs seconds and rarely beats the swap repair).
    """
    t0 = time.perf_counter()
    g = greedy if greedy is not None else greedy_min_sites(red, need)
    imp, dropped = improve_min_sites(red, need, g.order)
    status = f"greedy, {dropped} sites saved by swap search"
    bound = float("nan")
    full = need >= float(red.weight.sum()) * (1 - 1e-12)
    if lagrangian and full:  # a full cover: Lagrangian heuristic and bound
        lag, lb = lagrangian_set_cover(red, start=imp)
        lag, _ = improve_min_sites(red, need, lag)
        if len(lag) < len(imp):
            status += f"; Lagrangian heuristic {len(imp)} -> {len(lag)}"
            imp = lag
        bound = lb

    def proven() -> bool:
        return np.isfinite(bound) and bound >= len(imp)

    def highs(seconds: float) -> None:
        nonlocal imp, bound, status
        mr = milp_min_sites(red, need, time_limit_s=max(0.5, seconds), mip_rel_gap=mip_rel_gap,
                            warm=GreedyRun(imp, np.zeros(len(imp)), 0.0))
        better = len(mr.chosen) < len(imp)
        if better:
            imp = mr.chosen
        bound = max(float(np.ceil(mr.bound - 1e-6)), bound if np.isfinite(bound) else 0.0) + 0.0  # no -0
        status += f"; HiGHS {mr.seconds:.1f} s: {mr.status}" + (" (warm start)" if mr.warm_start else "") + \
            (f", {len(imp)} sites" if better else "")

    if exact_time_s is not None and not proven():
        budget = float(exact_time_s)
        spent = lambda: time.perf_counter() - t0  # noqa: E731
        highs(min(0.1 * budget, budget - spent()))
        search = search_share * budget - spent()
        if not proven() and search > 0:
            # full cover: rows weighted by how hard they are to reach; partial: the demand weights (the target is in them)
            r2, need2 = red, need
            if full:
                deg = np.diff(red.matrix.tocsr().indptr).astype(float)
                ww = 1.0 / np.maximum(deg, 1.0) ** 2
                r2, need2 = replace(red, weight=ww), float(ww.sum())
            before = len(imp)
            cand, _ = improve_min_sites(r2, need2, imp, ils_iters=10**9, time_limit_s=search, seed=1)
            if len(cand) < len(imp) and _covered_weight(red.matrix, red.weight, cand) >= need * (1 - 1e-12):
                imp = cand
            status += f"; local search {spent() - (search_share * budget - search):.1f} s" + \
                (f", {before} -> {len(imp)} sites" if len(imp) < before else "")
        if not proven() and budget - spent() >= 1.0:
            highs(budget - spent())
    cur = _curve_order(red.matrix, red.weight, imp)
    return ImprovedRun(cur.order, cur.gains, float(len(cur.order)), bound, status, time.perf_counter() - t0)


# ============================================================================ MILP (HiGHS)
@dataclass(frozen=True)
class MilpRun:
    """An exact solve: chosen columns, objective, HiGHS dual bound and relative gap, status."""

    chosen: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    warm_start: bool
    assign: np.ndarray | None = None  # capacitated: weight served by each chosen site


def _highs(cost, lower, upper, integer, a_rows: sp.spmatrix, row_lo, row_hi, *, maximize: bool,
           time_limit_s: float, mip_rel_gap: float, start=None, threads: int | None = None, options: dict | None = None):
    """Solve ``opt cost·x  s.t. row_lo <= A x <= row_hi, lower <= x <= upper`` with highspy (``options``: more
    HiGHS options by name, e.g. ``{"solver": "ipm"}``)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    if threads:
        h.setOptionValue("threads", int(threads))
    for k, v in (options or {}).items():
        h.setOptionValue(k, v)
    n = len(cost)
    a = sp.csc_matrix(a_rows)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.asarray(lower, float)
    lp.col_upper_ = np.asarray(upper, float)
    lp.row_lower_ = np.asarray(row_lo, float)
    lp.row_upper_ = np.asarray(row_hi, float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    h.passModel(lp)
    warm = False
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(np.asarray(start, float))
        sol.value_valid = True
        warm = h.setSolution(sol) == highspy.HighsStatus.kOk
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value, float) if info.primal_solution_status >= 1 else None
    return x, float(info.objective_function_value), float(info.mip_dual_bound), float(info.mip_gap), status, secs, warm


def _cover_rows(csc: sp.csc_matrix) -> sp.csr_matrix:
    return sp.csr_matrix(csc, dtype=float)


def milp_max_coverage(red: Reduced, p: int, *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6,
                      warm: GreedyRun | None = None) -> MilpRun:
    """Exact maximal coverage: ``max w·y  s.t.  y_i <= sum_{j covers i} x_j,  sum x = p,  x binary, 0<=y<=1``.

    Solved by HiGHS (``highspy``) with a time limit, warm-started from the greedy answer (the greedy
    objective is therefore a proven lower bound even if the time runs out). ``gap`` is HiGHS's
    relative gap between the objective and the dual bound (0 when proven optimal).
    """
    a = _cover_rows(red.matrix)
    m, n = a.shape
    p_eff = min(int(p), n)
    cons = sp.vstack([sp.hstack([-a, sp.identity(m, format="csr")]),
                      sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))])]).tocsr()
    lo = np.concatenate([np.full(m, -np.inf), [p_eff]])
    hi = np.concatenate([np.zeros(m), [p_eff]])
    cost = np.concatenate([np.zeros(n), red.weight])
    start = None
    if warm is not None and len(warm.order) <= p_eff:
        xs = np.zeros(n)
        xs[warm.order] = 1
        extra = np.setdiff1d(np.arange(n), warm.order)[: p_eff - len(warm.order)]
        xs[extra] = 1
        ys = np.minimum(a @ xs, 1.0)
        start = np.concatenate([xs, ys])
    x, obj, bound, gap, status, secs, used = _highs(
        cost, np.zeros(n + m), np.ones(n + m), [True] * n + [False] * m, cons, lo, hi,
        maximize=True, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=start)
    if x is None:
        raise InfeasibleError(f"HiGHS found no solution ({status}).", f"HiGHS 未找到可行解（{status}）。")
    chosen = np.flatnonzero(x[:n] > 0.5)
    covered_w = float(red.weight[np.asarray(a[:, chosen].sum(axis=1)).ravel() > 0].sum())
    return MilpRun(chosen, covered_w, bound, gap, status, secs, used)


def milp_min_sites(red: Reduced, need: float, *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6,
                   warm: GreedyRun | None = None) -> MilpRun:
    """Exact fewest sites covering at least ``need`` weight of ``red``'s rows.

    Full cover (``need`` = all the weight) is a set cover ``A x >= 1``; a partial target adds
    ``y_i <= sum x_j`` and ``w·y >= need``. Warm-started from the greedy answer.
    """
    a = _cover_rows(red.matrix)
    m, n = a.shape
    total = float(red.weight.sum())
    full = need >= total * (1 - 1e-12)
    if full:
        cons = a
        lo, hi = np.ones(m), np.full(m, np.inf)
        nv, integer = n, [True] * n
        cost = np.ones(n)
    else:
        cons = sp.vstack([sp.hstack([-a, sp.identity(m, format="csr")]),
                          sp.hstack([sp.csr_matrix((1, n)), sp.csr_matrix(red.weight.reshape(1, -1))])]).tocsr()
        lo = np.concatenate([np.full(m, -np.inf), [need * (1 - 1e-12)]])
        hi = np.concatenate([np.zeros(m), [np.inf]])
        nv, integer = n + m, [True] * n + [False] * m
        cost = np.concatenate([np.ones(n), np.zeros(m)])
    start = None
    if warm is not None:
        xs = np.zeros(n)
        xs[warm.order] = 1
        start = xs if full else np.concatenate([xs, np.minimum(a @ xs, 1.0)])
    x, obj, bound, gap, status, secs, used = _highs(
        cost, np.zeros(nv), np.ones(nv), integer, cons, lo, hi,
        maximize=False, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=start)
    if x is None:
        raise InfeasibleError(f"HiGHS found no solution ({status}).", f"HiGHS 未找到可行解（{status}）。")
    chosen = np.flatnonzero(x[:n] > 0.5)
    return MilpRun(chosen, float(len(chosen)), bound, gap, status, secs, used)


def exact_max_coverage(red: Reduced, p: int, *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6,
                       greedy: GreedyRun | None = None, search_share: float = 0.4, heuristic: ImprovedRun | None = None,
                       share_of: float | None = None) -> MilpRun:
    """``method='exact'`` for maximal coverage, all within ``time_limit_s``:

    1. the heuristic (greedy, swap search, iterated local search, Lagrangian bound), or ``heuristic``
       when given (already computed);
    2. HiGHS warm-started from it for a tenth of the limit: small instances end here, proven optimal;
    3. otherwise more iterated local search, until ``search_share`` of the limit has gone, in rounds
       with 3 and 5 sites kicked out (seeded);
    4. HiGHS again, warm-started from the best answer, for the rest of the limit (when at least 1 s is left).

    ``share_of``: the time the shares are taken of (default ``time_limit_s``; ``method='auto'`` passes
    its whole budget, of which the heuristic has already used a part). The answer is never below the
    heuristic's, whatever the limit; ``bound`` is the best of the Lagrangian and HiGHS dual bounds;
    ``status`` names the steps; ``seconds`` is the whole call. Why step 3: on the 5,000 x 500
    benchmark instances HiGHS's branch and bound, warm-started, did not improve the heuristic's
    answer in 118 s, while CBC (through spopt) found a better one and longer local search better
    still. With a time limit, the answer depends on the machine's speed.
    """
    t0 = time.perf_counter()
    limit = float(time_limit_s)
    whole = float(share_of) if share_of is not None else limit
    used_before = whole - limit  # time already spent by the caller (auto: the heuristic)

    def left() -> float:
        return limit - (time.perf_counter() - t0)

    def spent() -> float:
        return used_before + (time.perf_counter() - t0)

    h = heuristic if heuristic is not None else improved_max_coverage(red, p, greedy=greedy)
    best, val, bound = np.asarray(h.order, np.int64), h.objective, h.bound
    status, warm = "proven optimal by the Lagrangian bound", False
    steps: list[str] = []

    def done() -> bool:
        return bound - val <= max(mip_rel_gap * max(abs(bound), 1.0), 1e-9)

    def highs(seconds: float) -> None:
        nonlocal best, val, bound, status, warm
        cur = _curve_order(red.matrix, red.weight, best)
        mr = milp_max_coverage(red, p, time_limit_s=max(0.5, seconds), mip_rel_gap=mip_rel_gap,
                               warm=GreedyRun(cur.order, cur.gains, 0.0))
        bound, status, warm = min(bound, mr.bound), mr.status, warm or mr.warm_start
        better = mr.objective > val + 1e-9
        if better:
            best, val = np.asarray(mr.chosen, np.int64), mr.objective
        steps.append(f"HiGHS {mr.seconds:.1f} s: {mr.status}" + (", improved" if better else ""))

    if not done():
        highs(min(0.1 * whole, max(left(), 0.0)))
    if not done():
        search = search_share * whole - spent()
        rounds, found, t_s = 4, 0, time.perf_counter()
        for r in range(rounds):
            if search <= 0 or done():
                break
            cand, _ = iterated_swap_max_coverage(red, best, iters=10**9, kick=(3, 5)[r % 2], seed=r + 1,
                                                 time_limit_s=search / (rounds - r), stop_at=bound)
            v = _covered_weight(red.matrix, red.weight, cand)
            if v > val + 1e-9 * max(val, 1.0):
                best, val, found = cand, v, found + 1
            search = search_share * whole - spent()
        if time.perf_counter() > t_s:
            steps.append(f"local search {time.perf_counter() - t_s:.1f} s" + (", improved" if found else ""))
        if left() >= 1.0 and not done():
            highs(left())
    bound = max(bound, val)
    gap = (bound - val) / bound if bound > 0 else 0.0
    if steps and heuristic is not None:
        status = "; ".join(steps)
    return MilpRun(best, val, bound, max(gap, 0.0), status, time.perf_counter() - t0, warm)


def exact_min_sites(red: Reduced, need: float, *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6,
                    greedy: GreedyRun | None = None) -> MilpRun:
    """``method='exact'`` for fewest sites: :func:`improved_min_sites` (greedy and swap repair), then
    HiGHS warm-started from its answer with what is left of ``time_limit_s`` (at least 0.5 s); never
    more sites than the heuristic's answer. ``seconds`` is the whole call."""
    t0 = time.perf_counter()
    h = improved_min_sites(red, need, greedy=greedy)
    left = max(0.5, float(time_limit_s) - (time.perf_counter() - t0))
    mr = milp_min_sites(red, need, time_limit_s=left, mip_rel_gap=mip_rel_gap,
                        warm=GreedyRun(h.order, np.zeros(len(h.order)), 0.0))
    if len(mr.chosen) > len(h.order):  # HiGHS dropped the start (should not happen): keep the heuristic's
        chosen, warm = np.asarray(h.order), False
    else:
        chosen, warm = mr.chosen, mr.warm_start
    obj = float(len(chosen))
    gap = (obj - mr.bound) / obj if obj > 0 else 0.0
    return MilpRun(chosen, obj, mr.bound, max(gap, 0.0), mr.status, time.perf_counter() - t0, warm)


def milp_capacitated(red: Reduced, p: int, capacity: float, *, time_limit_s: float = 60.0,
                     mip_rel_gap: float = 1e-6) -> MilpRun:
    """Maximal coverage where one new site serves at most ``capacity`` residents.

    Variables: ``x_k`` (open site k), ``z_ik`` in [0, 1] (share of merged row i served by k, one per
    non-zero of the coverage matrix). ``max sum w_i z_ik`` s.t. ``sum_k z_ik <= 1``,
    ``z_ik <= x_k``, ``sum_i w_i z_ik <= capacity x_k``, ``sum x = p``. Residents are divisible
    (a block may be split between two sites). Reduce with ``drop_dominated=False``. No greedy warm
    start (greedy has no capacity notion); the MILP reports its own bound and gap.
    """
    a = sp.coo_matrix(red.matrix)
    m, n = red.matrix.shape
    e = a.nnz
    ri, ck = a.row.astype(np.int64), a.col.astype(np.int64)
    w = red.weight
    z = np.arange(e)
    # rows: (1) per demand row: sum z <= 1; (2) per pair: z - x <= 0; (3) per site: sum w z - cap x <= 0; (4) sum x = p
    r1 = sp.csr_matrix((np.ones(e), (ri, n + z)), shape=(m, n + e))
    r2 = sp.csr_matrix((np.concatenate([np.ones(e), -np.ones(e)]),
                        (np.concatenate([z, z]), np.concatenate([n + z, ck]))), shape=(e, n + e))
    r3 = sp.csr_matrix((np.concatenate([w[ri], np.full(n, -float(capacity))]),
                        (np.concatenate([ck, np.arange(n)]), np.concatenate([n + z, np.arange(n)]))), shape=(n, n + e))
    r4 = sp.csr_matrix((np.ones(n), (np.zeros(n, np.int64), np.arange(n))), shape=(1, n + e))
    cons = sp.vstack([r1, r2, r3, r4]).tocsr()
    p_eff = min(int(p), n)
    lo = np.concatenate([np.full(m + e + n, -np.inf), [p_eff]])
    hi = np.concatenate([np.ones(m), np.zeros(e + n), [p_eff]])
    cost = np.concatenate([np.zeros(n), w[ri]])
    x, obj, bound, gap, status, secs, used = _highs(
        cost, np.zeros(n + e), np.ones(n + e), [True] * n + [False] * e, cons, lo, hi,
        maximize=True, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    if x is None:
        raise InfeasibleError(f"HiGHS found no solution ({status}).", f"HiGHS 未找到可行解（{status}）。")
    chosen = np.flatnonzero(x[:n] > 0.5)
    served = np.bincount(ck, weights=w[ri] * x[n:], minlength=n)
    return MilpRun(chosen, float(obj), bound, gap, status, secs, False, served[chosen])


# ============================================================================ result
@dataclass(frozen=True, eq=False)
class SitingResult:
    """Proposed sites and what they achieve.

    Attributes
    ----------
    problem : ``max_coverage``, ``min_sites`` or ``capacitated``.
    method : ``greedy`` or ``exact``.
    ftype : the facility type with the goal used.
    sites : DataFrame in rank order: ``rank, id, lon, lat, marginal_demand, cumulative_demand,
        cumulative_share, candidate_index`` (WGS-84; demand in residents or proxy units;
        shares of all demand).
    curve : DataFrame ``new_sites, covered_demand, share`` from 0 to len(sites): the coverage curve.
    demand_total : total demand weight.
    covered_before, covered_after : demand covered by existing facilities / after adding the sites.
    share_before, share_after : the same as shares of ``demand_total``.
    reachable_demand : demand coverable at all (existing or some candidate).
    objective : covered demand (max coverage, capacitated) or number of new sites (min sites).
    bound : proven bound on the objective (upper for maximisation, lower for minimisation);
        for greedy, the bound the (1 - 1/e) guarantee gives (max coverage) or NaN.
    gap : relative gap between objective and bound (exact: HiGHS; 0 = proven optimal).
    greedy_objective : greedy's objective on the same instance (exact runs: the warm start).
    status : solver status text.
    reduction : sizes before/after :func:`reduce_problem`.
    timings : seconds per stage.
    areas : DataFrame per area: ``area_id, name, demand_total, covered_before, covered_after,
        share_before, share_after, new_sites`` (empty without areas).
    covered : bool[p] per demand point after the proposal (aligned to the demand input).
    notes : list of (en, zh) remarks.
    """

    problem: str
    method: str
    ftype: FacilityType
    sites: pd.DataFrame
    curve: pd.DataFrame
    demand_total: float
    covered_before: float
    covered_after: float
    reachable_demand: float
    objective: float
    bound: float
    gap: float
    greedy_objective: float
    status: str
    reduction: dict
    timings: dict
    areas: pd.DataFrame
    covered: np.ndarray
    notes: tuple = ()
    params: dict = field(default_factory=dict)

    @property
    def share_before(self) -> float:
        return self.covered_before / self.demand_total if self.demand_total > 0 else float("nan")

    @property
    def share_after(self) -> float:
        return self.covered_after / self.demand_total if self.demand_total > 0 else float("nan")

    def sites_gdf(self):
        """The proposed sites as a GeoDataFrame (EPSG:4326 points)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(self.sites.copy(), geometry=gpd.points_from_xy(self.sites["lon"], self.sites["lat"]), crs=4326)

    def summary(self) -> dict:
        """JSON-ready summary (before/after coverage, objective, method, gap, bound, runtime, reduction)."""
        return {
            "problem": self.problem,
            "method": self.method,
            "type": self.ftype.key,
            "target_minutes": self.ftype.target_minutes,
            "speed_kmh": self.ftype.speed_kmh,
            "goal_m": self.ftype.target_m,
            "new_sites": int(len(self.sites)),
            "demand_total": self.demand_total,
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "share_before": self.share_before,
            "share_after": self.share_after,
            "reachable_demand": self.reachable_demand,
            "reachable_share": self.reachable_demand / self.demand_total if self.demand_total > 0 else None,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "gap_source": ("HiGHS dual bound (proven)" if self.method == "exact"
                           else "Lagrangian and HiGHS dual bounds (proven)" if self.method == "auto" and self.problem == "max_coverage"
                           else "HiGHS dual bound (proven)" if self.method == "auto"
                           else "Lagrangian bound (proven)" if self.method == "heuristic" and self.problem == "max_coverage"
                           else "a-priori (1 - 1/e) guarantee of greedy" if self.problem == "max_coverage" else "none"),
            "greedy_objective": self.greedy_objective,
            "status": self.status,
            "reduction": self.reduction,
            "timings_s": {k: round(float(v), 4) for k, v in self.timings.items()},
            "parameters": self.params,
            "areas": self.areas.to_dict(orient="records") if len(self.areas) else [],
            "curve": self.curve.to_dict(orient="list"),
            "notes_en": [n[0] for n in self.notes],
            "notes_zh": [n[1] for n in self.notes],
        }


# ============================================================================ orchestration
def _infeasible_unreached(ids, pop, unreached, total, max_share, target, share_of) -> InfeasibleError:
    bad_ids = [str(i) for i in np.asarray(ids, dtype=object)[unreached][:20]]
    w = float(pop[unreached].sum())
    more = int(unreached.sum()) - len(bad_ids)
    tail = f" and {more} more" if more > 0 else ""
    tail_zh = f" 等共 {int(unreached.sum())} 个" if more > 0 else ""
    return InfeasibleError(
        f"Target share {target:.1%} of {share_of} demand cannot be reached: existing and candidate sites can cover at "
        f"most {max_share:.2%}. {int(unreached.sum())} demand points ({w:g} of {total:g}) are beyond every candidate's "
        f"reach: {bad_ids}{tail}. Lower the target, add candidates near them (e.g. --candidate-spacing-m), or check their snapping.",
        f"无法达到{'全部' if share_of == 'total' else '可达'}需求 {target:.1%} 的目标：现有设施与候选点最多覆盖 {max_share:.2%}。"
        f"{int(unreached.sum())} 个需求点（需求量 {w:g}，共 {total:g}）不在任何候选点的可达范围内：{bad_ids}{tail_zh}。"
        f"请降低目标、在其附近增加候选点（如 --candidate-spacing-m），或检查其与路网的吸附距离。",
    )


def propose(
    net: Network,
    candidates: Candidates,
    fac_snap: Snap,
    dem_snap: Snap,
    population,
    ftype: FacilityType,
    *,
    count: int | None = None,
    target_share: float | None = None,
    share_of: str = "total",
    method: str = "greedy",
    capacity: float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
    demand_ids=None,
    demand_area=None,
    areas: pd.DataFrame | None = None,
    max_snap_m: float = 300.0,
    reduce: bool = True,
    matrix: sp.spmatrix | None = None,
) -> SitingResult:
    """Propose new sites for one facility type; existing facilities stay open and count.

    Parameters
    ----------
    net : Network
        Network for the type's mode (metric CRS).
    candidates : Candidates
        Where new sites may go (WGS-84 and metric coordinates).
    fac_snap : Snap
        Existing facilities of this type, snapped to ``net`` (they are "required").
    dem_snap : Snap
        Demand points snapped to ``net``.
    population : float[p]
        Demand weights (residents, or proxy units).
    ftype : FacilityType
        Goal minutes and speed (km/h) -> goal distance.
    count : int, optional
        Maximal coverage: number of new sites ``p``.
    target_share : float, optional
        Fewest new sites so that this share (0-1] of demand is covered (existing + new).
    share_of : {'total', 'reachable'}
        What ``target_share`` is a share of: all demand, or demand that some existing or candidate
        site can reach within the goal (then 1.0 is always feasible).
    method : {'greedy', 'heuristic', 'auto', 'exact'}
        Lazy greedy (CELF, fast, (1 - 1/e) guarantee); ``heuristic``: greedy then swap search
        (maximal coverage: best-improvement vertex substitution with a Lagrangian upper bound;
        fewest sites: drop a site and repair by swaps while the target holds); ``auto``: the
        heuristic, then within ``time_limit_s`` (the whole solve): HiGHS warm-started for a tenth of
        it (small instances end there, proven optimal), more seeded local search (to 70 % of it for
        maximal coverage, 80 % for fewest sites), HiGHS warm-started for the rest (the proven gap is
        reported); ``exact``: the heuristic, then HiGHS MILP warm-started from it with the rest of
        ``time_limit_s`` (gap reported; never below the heuristic's answer).
    capacity : float, optional
        Residents one new site can serve (with ``count``; always an MILP).
    time_limit_s, mip_rel_gap : HiGHS options for ``method='exact'``.
    demand_ids : sequence, optional
        Demand ids for messages (default row numbers).
    demand_area : sequence, optional
        Area id of each demand point; with ``areas`` (``area_id``, ``name``) gives per-area before/after.
    max_snap_m : float
        Candidates farther than this from a street are not usable (flagged in ``sites``? no: counted in notes).
    reduce : bool
        Apply :func:`reduce_problem` (default). False solves the unreduced problem (for checks).
    matrix : sparse, optional
        A precomputed :func:`coverage_matrix` for these candidates and demand (what-if reuse).

    Returns
    -------
    SitingResult

    Raises
    ------
    InputError
        Bad arguments: neither or both of ``count`` / ``target_share``, unknown method, bad share.
    InfeasibleError
        No candidates, zero demand, ``count`` above the number of candidates, or a target share
        above what the candidates can reach (the message gives the maximum share and the demand
        no candidate reaches).
    """
    from . import _validate as V

    max_snap_m = _check_snap(max_snap_m)
    mip_rel_gap = V.number(mip_rel_gap, name="mip_rel_gap", minimum=0.0, maximum=1.0)
    capacity = V.number(capacity, name="capacity", flag="--capacity", unit_en="(residents per site)",
                        unit_zh="每站居民数", minimum=0.0, allow_min=False, allow_none=True)
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[tuple[str, str]] = []
    pop = np.asarray(population, float)
    n_d = len(dem_snap)
    ids = np.asarray(demand_ids if demand_ids is not None else np.arange(1, n_d + 1), dtype=object)
    if (count is None) == (target_share is None):
        raise InputError("Give exactly one of count (number of new sites) or target_share.",
                         "请给出新增设施数量（count）或目标覆盖率（target_share）之一，且只能给一个。")
    if method not in METHODS:
        raise InputError(f"Unknown method '{method}': use one of {', '.join(METHODS)}.",
                         f"未知求解方法「{method}」：请使用 {'、'.join(METHODS)} 之一。")
    if share_of not in ("total", "reachable"):
        raise InputError(f"share_of must be 'total' or 'reachable', not '{share_of}'.", f"share_of 须为 total 或 reachable，而非「{share_of}」。")
    if len(pop) != n_d:
        raise InputError(f"population has {len(pop)} values for {n_d} demand points.", f"人口数 {len(pop)} 与需求点数 {n_d} 不一致。")
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise InputError("Demand weights must be finite and non-negative.", "需求权重须为非负有限数值。")
    from .demand import check_population

    check_population(pop, demand_ids, source="demand weights")  # sums of 1e308 overflow to inf
    total = float(pop.sum())
    if n_d == 0 or total <= 0:
        raise InfeasibleError("There is no demand to cover (zero demand points or zero total population).",
                              "没有需要覆盖的需求（需求点为 0 或总人口为 0）。")
    if len(candidates) == 0:
        raise InfeasibleError("There are no candidate sites: give a candidate file, click points, or a candidate spacing.",
                              "没有候选点：请提供候选点文件、在地图上点选，或设置候选点间距。")
    if count is not None:
        if int(count) != count or count < 1:
            raise InputError(f"The number of new sites must be a positive whole number, not {count}.",
                             f"新增设施数量须为正整数，而非 {count}。")
        count = int(count)
        if count > len(candidates):
            raise InfeasibleError(
                f"Asked for {count} new sites but there are only {len(candidates)} candidates; lower --count or add candidates.",
                f"要求新增 {count} 个设施，但只有 {len(candidates)} 个候选点；请减少数量或增加候选点。",
            )
    if target_share is not None and not (0 < target_share <= 1):
        raise InputError(f"The target share must be in (0, 1], e.g. 0.95, not {target_share}.",
                         f"目标覆盖率须在 (0, 1] 之间（如 0.95），而非 {target_share}。")
    if method in ("exact", "auto") and not (isinstance(time_limit_s, (int, float)) and time_limit_s > 0):
        raise InputError(f"The time limit must be positive seconds, not {time_limit_s!r}.", f"时间上限须为正的秒数，而非 {time_limit_s!r}。")
    if method == "exact":
        time_limit_s = V.number(time_limit_s, name="time_limit_s", flag="--time-limit", unit_en="(seconds)",
                                unit_zh="秒", minimum=0.0, allow_min=False, maximum=86400.0)
    if capacity is not None:
        if count is None:
            raise InputError("Capacity applies to maximal coverage: give count with capacity.", "容量约束用于最大覆盖问题：请同时给出新增数量。")
        if not capacity > 0:
            raise InputError("Capacity must be positive (residents per site).", "容量须为正数（每个站点可服务的居民数）。")

    limit = goal_limit_m(ftype)
    t = time.perf_counter()
    cand_snap = snap_points(net, candidates.x, candidates.y, max_snap_m=max_snap_m)
    if cand_snap.too_far.any():
        k = int(cand_snap.too_far.sum())
        notes.append((f"{k} candidates lie more than {max_snap_m:g} m from a street and were not used.",
                      f"{k} 个候选点距道路超过 {max_snap_m:g} 米，未予使用。"))
    if len(fac_snap):
        dist0, _, _ = nearest(net, fac_snap, dem_snap, limit_m=limit)
        before = dist0 <= limit
    else:
        before = np.zeros(n_d, dtype=bool)
    timings["existing_coverage"] = time.perf_counter() - t
    t = time.perf_counter()
    a = coverage_matrix(net, cand_snap, dem_snap, limit_m=limit) if matrix is None else sp.csr_matrix(matrix)
    timings["coverage_matrix"] = time.perf_counter() - t
    covered_before = float(pop[before].sum())
    coverable = before | (np.diff(a.indptr) > 0)
    reachable = float(pop[coverable].sum())

    t = time.perf_counter()
    use_dom = capacity is None
    red = reduce_problem(a, pop, covered=before, drop_dominated=use_dom) if reduce else _identity(a, pop, before)
    timings["reduce"] = time.perf_counter() - t

    problem = "capacitated" if capacity is not None else ("max_coverage" if count is not None else "min_sites")
    denom = total if share_of == "total" else reachable
    bound = gap = float("nan")
    status = ""
    greedy_obj = float("nan")
    served = None
    t = time.perf_counter()
    if problem == "max_coverage":
        g = greedy_max_coverage(red, count)
        greedy_obj = covered_before + float(g.gains.sum())
        if method == "greedy":
            order, gains = g.order, g.gains
            objective = greedy_obj
            # (1 - 1/e) guarantee on the new-site part -> an upper bound on the optimum
            bound = covered_before + min(float(g.gains.sum()) / (1 - 1 / np.e), reachable - covered_before)
            gap = (bound - objective) / bound if bound > 0 else 0.0
            status = "greedy"
        elif method in ("heuristic", "auto"):
            run = improved_max_coverage(red, count, greedy=g, exact_time_s=time_limit_s if method == "auto" else None,
                                        mip_rel_gap=mip_rel_gap)
            order, gains, status = run.order, run.gains, run.status
            objective = covered_before + run.objective
            bound = covered_before + run.bound
            gap = (bound - objective) / bound if bound > 0 else 0.0
        else:
            mr = exact_max_coverage(red, count, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, greedy=g)
            cur = _curve_order(red.matrix, red.weight, mr.chosen)
            order, gains = cur.order, cur.gains
            objective = covered_before + mr.objective
            bound = covered_before + mr.bound
            gap, status = mr.gap, mr.status + (" (warm start)" if mr.warm_start else "")
        if len(order) < count:
            notes.append((f"Only {len(order)} of the {count} sites add coverage; more sites would cover nobody new.",
                          f"{count} 个新增设施中只有 {len(order)} 个能增加覆盖；更多设施不会新增覆盖人口。"))
    elif problem == "min_sites":
        need_total = target_share * denom
        max_share = reachable / denom
        if need_total > reachable * (1 + 1e-12) + 1e-9:
            unreached = ~coverable
            raise _infeasible_unreached(ids, pop, unreached, denom, max_share, target_share, share_of)
        need = max(0.0, need_total - covered_before)
        if need <= 1e-12 * total:
            order, gains = np.zeros(0, np.int64), np.zeros(0)
            objective = 0.0
            bound, gap, status = 0.0, 0.0, "already met"
            notes.append(("Existing facilities already reach the target.", "现有设施已达到目标。"))
        else:
            need = min(need, float(red.weight.sum()))
            g = greedy_min_sites(red, need)
            greedy_obj = float(len(g.order))
            if method == "greedy":
                order, gains = g.order, g.gains
                objective = float(len(order))
                status = "greedy"
            elif method in ("heuristic", "auto"):
                run = improved_min_sites(red, need, greedy=g, exact_time_s=None if method == "heuristic" else time_limit_s,
                                         mip_rel_gap=mip_rel_gap)
                order, gains, objective, bound, status = run.order, run.gains, run.objective, run.bound, run.status
                gap = (objective - bound) / objective if objective > 0 and np.isfinite(bound) else float("nan")
            else:
                mr = exact_min_sites(red, need, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, greedy=g)
                cur = _curve_order(red.matrix, red.weight, mr.chosen)
                order, gains = cur.order, cur.gains
                objective = float(len(order))
                bound = float(np.ceil(mr.bound - 1e-6))
                gap = (objective - bound) / objective if objective > 0 else 0.0
                status = mr.status + (" (warm start)" if mr.warm_start else "")
    else:  # capacitated
        mr = milp_capacitated(red, count, capacity, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
        rank = np.argsort(-mr.assign, kind="stable")
        order, gains = mr.chosen[rank], mr.assign[rank]
        served = gains
        objective = covered_before + mr.objective
        bound = covered_before + mr.bound
        gap, status = mr.gap, mr.status
        method = "exact"
        notes.append(("Capacitated: marginal_demand is the demand assigned to each site (divisible); existing "
                      "facilities serve the demand they already cover.",
                      "容量约束：marginal_demand 为分配给各站点的需求（可拆分）；现有设施服务其已覆盖的需求。"))
    timings["solve"] = time.perf_counter() - t

    cand_idx = red.cols[order] if len(order) else np.zeros(0, np.int64)
    cum = covered_before + np.cumsum(gains)
    sites = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "id": candidates.ids[cand_idx],
        "lon": candidates.lon[cand_idx],
        "lat": candidates.lat[cand_idx],
        "marginal_demand": gains,
        "cumulative_demand": cum,
        "cumulative_share": cum / total,
        "candidate_index": cand_idx,
        "source": candidates.source[cand_idx],
    })
    curve = pd.DataFrame({
        "new_sites": np.arange(len(order) + 1),
        "covered_demand": np.concatenate([[covered_before], cum]),
        "share": np.concatenate([[covered_before], cum]) / total,
    })
    if served is None:
        after = before | (np.asarray(a[:, cand_idx].sum(axis=1)).ravel() > 0)
        covered_after = float(pop[after].sum())
    else:
        after = before | (np.asarray(a[:, cand_idx].sum(axis=1)).ravel() > 0)  # reachable; capacity may leave some unserved
        covered_after = float(cum[-1]) if len(cum) else covered_before
    area_df = _area_before_after(pop, before, after, demand_area, areas, candidates, cand_idx, net) if areas is not None else pd.DataFrame()
    timings["total"] = time.perf_counter() - t_all
    params = {"count": count, "target_share": target_share, "share_of": share_of, "capacity": capacity,
              "time_limit_s": time_limit_s, "mip_rel_gap": mip_rel_gap, "candidates": int(len(candidates)),
              "existing_facilities": int(len(fac_snap)), "demand_points": int(n_d), "max_snap_m": max_snap_m,
              "reduce": reduce}
    logger.info("siting %s/%s: %d sites, share %.4f -> %.4f in %.2f s", problem, method, len(order),
                covered_before / total, covered_after / total, timings["total"])
    return SitingResult(problem, method, ftype, sites, curve, total, covered_before, covered_after, reachable,
                        float(objective), float(bound), float(gap), float(greedy_obj), status, red.sizes, timings,
                        area_df, after, tuple(notes), params)


def _area_before_after(pop, before, after, demand_area, areas, candidates, cand_idx, net) -> pd.DataFrame:
    if demand_area is None or areas is None or not len(areas):
        return pd.DataFrame()
    da = pd.Series(np.asarray(demand_area, dtype=object))
    aid = areas["area_id"].astype(object).to_numpy()
    code = pd.Categorical(da, categories=pd.unique(aid)).codes
    k = len(aid)
    ok = code >= 0
    tot = np.bincount(code[ok], weights=pop[ok], minlength=k)
    b = np.bincount(code[ok], weights=(pop * before)[ok], minlength=k)
    af = np.bincount(code[ok], weights=(pop * after)[ok], minlength=k)
    new_sites = np.zeros(k, np.int64)
    if "geometry" in areas.columns and len(cand_idx):
        import geopandas as gpd

        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(candidates.lon[cand_idx], candidates.lat[cand_idx]), crs=4326)
        j = gpd.sjoin(pts, gpd.GeoDataFrame(areas[["area_id", "geometry"]], geometry="geometry").to_crs(4326),
                      how="left", predicate="within")
        j = j[~j.index.duplicated(keep="first")]
        c = pd.Categorical(j["area_id"].astype(object), categories=pd.unique(aid)).codes
        new_sites = np.bincount(c[c >= 0], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "area_id": aid,
            "name": areas["name"].to_numpy() if "name" in areas.columns else aid,
            "demand_total": tot,
            "covered_before": b,
            "covered_after": af,
            "share_before": np.where(tot > 0, b / tot, np.nan),
            "share_after": np.where(tot > 0, af / tot, np.nan),
            "new_sites": new_sites,
        })


def propose_study(
    study,
    type_key: str,
    *,
    candidates: Candidates | None = None,
    candidate_spacing_m: float | None = None,
    candidates_from: str = "nodes",
    minutes: float | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float = 300.0,
    relocate: bool = False,
    **kwargs,
) -> SitingResult:
    """:func:`propose` on a :class:`planner.scenario.Study` (what the CLI and the app call).

    Parameters
    ----------
    study : Study
    type_key : str  facility type key or label; unknown types raise :class:`InputError`.
    candidates : Candidates, optional
        Given candidates (file, clicks). Without them candidates are generated near uncovered
        demand: ``candidates_from='nodes'`` (network nodes, one per ``candidate_spacing_m`` cell;
        default spacing: a third of the goal distance, at least 25 m) or ``'demand'`` (uncovered
        demand points themselves).
    minutes, speed_kmh : overrides of the type's goal and speed.
    relocate : bool
        Existing facilities may move: they become candidates like any other (``source ==
        'existing'`` in ``sites``) instead of staying open, and ``count`` is the number of sites
        *in addition to* the existing ones, so ``count=0`` asks for the best placement of the
        same number of sites. A chosen existing site is one to keep; an existing site not
        chosen is one to move. With ``target_share`` it gives the fewest sites in total.
    **kwargs : passed to :func:`propose` (count, target_share, method, capacity, ...).
    """
    from . import _validate as V
    from .scenario import goal_for

    max_snap_m = _check_snap(max_snap_m)
    minutes = V.number(minutes, name="minutes", flag="--minutes", unit_en="(minutes)", unit_zh="分钟",
                       minimum=V.MIN_MINUTES, maximum=V.MAX_MINUTES, allow_none=True)
    speed_kmh = V.number(speed_kmh, name="speed_kmh", flag="--speed-kmh", unit_en="(km/h)", unit_zh="公里/小时",
                         minimum=V.MIN_SPEED_KMH, maximum=V.MAX_SPEED_KMH, allow_none=True)
    candidate_spacing_m = V.number(candidate_spacing_m, name="candidate_spacing_m", flag="--candidate-spacing-m",
                                   unit_en="(metres)", unit_zh="米", minimum=0.0, allow_min=False,
                                   maximum=V.MAX_DISTANCE_M, allow_none=True)
    ftype = goal_for(study.types, type_key, minutes=minutes, speed_kmh=speed_kmh)
    net = study.network_for(ftype)
    fac = study.facilities
    sel = np.flatnonzero(fac["type"].to_numpy() == ftype.key) if len(fac) else np.zeros(0, np.int64)
    fx, fy = net.to_metric(fac["lon"].to_numpy(float)[sel], fac["lat"].to_numpy(float)[sel])
    fac_snap = snap_points(net, fx, fy, max_snap_m=max_snap_m)
    demand = study.demand
    if study.areas is not None and len(study.areas) and demand.gdf["area_id"].isna().any():
        from .demand import assign_areas

        demand = assign_areas(demand, study.areas)
    g = demand.gdf
    dlon, dlat = g.geometry.x.to_numpy(float), g.geometry.y.to_numpy(float)
    dx, dy = net.to_metric(dlon, dlat)
    dem_snap = snap_points(net, dx, dy, max_snap_m=max_snap_m)
    pop = g["population"].to_numpy(float)
    existing = None
    covered_now = None  # relocation: what the existing sites cover where they stand (the "before")
    if relocate:
        existing = _make(fac["id"].astype(str).to_numpy()[sel], fac["lon"].to_numpy(float)[sel],
                         fac["lat"].to_numpy(float)[sel], fx, fy, "existing")
        if len(sel):
            d_now, _, _ = nearest(net, fac_snap, dem_snap, limit_m=goal_limit_m(ftype))
            covered_now = (d_now <= goal_limit_m(ftype)) & ~dem_snap.too_far
        fac_snap = fac_snap.subset(np.zeros(0, np.int64))
        if kwargs.get("count") is not None:
            kwargs["count"] = int(kwargs["count"]) + len(existing)
    if candidates is None and getattr(study, "candidates", None) is not None:
        candidates = candidates_from_gdf(net, study.candidates)  # the study's candidate sites: the only places
    if candidates is None:
        limit = goal_limit_m(ftype)
        if len(sel) and not relocate:
            d0, _, _ = nearest(net, fac_snap, dem_snap, limit_m=limit)
            unc = ~(d0 <= limit) & ~dem_snap.too_far
        else:
            unc = ~dem_snap.too_far
        if candidates_from == "demand":
            candidates = outside_exclusions(study, candidates_from_demand(net, dlon, dlat, g["id"].to_numpy(), mask=unc))
        else:
            if candidate_spacing_m is not None and not candidate_spacing_m > 0:
                raise InputError(f"The candidate spacing must be positive (metres), not {candidate_spacing_m}.",
                                 f"候选点间距须为正数（米），而非 {candidate_spacing_m}。")
            spacing = candidate_spacing_m or max(25.0, ftype.target_m / 3.0)
            candidates = outside_exclusions(study, candidates_from_nodes(net, spacing_m=spacing, near_x=np.asarray(dx)[unc],
                                                                         near_y=np.asarray(dy)[unc], near_m=limit))
            # one node per cell can miss a resident its cell-mates cannot reach (a gated compound,
            # a river): such residents become candidates themselves, so no one is left
            # unreachable because of how the candidates were thinned
            cand_snap = snap_points(net, candidates.x, candidates.y, max_snap_m=max_snap_m)
            a = coverage_matrix(net, cand_snap, dem_snap, limit_m=limit)
            missing = unc & ~dem_snap.too_far & (np.diff(a.indptr) == 0)
            if missing.any():
                extra = outside_exclusions(study, candidates_from_demand(net, dlon, dlat, g["id"].to_numpy(), mask=missing))
                extra_snap = snap_points(net, extra.x, extra.y, max_snap_m=max_snap_m)
                a = sp.hstack([a, coverage_matrix(net, extra_snap, dem_snap, limit_m=limit)]).tocsr()
                candidates = Candidates.concat([candidates, extra])
            if not relocate:
                kwargs.setdefault("matrix", a)  # computed already: propose reuses it
    if existing is not None:
        taken = set(existing.ids)
        candidates = Candidates.concat([existing, candidates.subset(np.array([i not in taken for i in candidates.ids], bool))])
    areas = study.areas if study.areas is not None and len(study.areas) else None
    result = propose(net, candidates, fac_snap, dem_snap, pop, ftype, demand_ids=g["id"].to_numpy(),
                     demand_area=g["area_id"].to_numpy(dtype=object), areas=areas, max_snap_m=max_snap_m, **kwargs)
    if covered_now is not None:
        result = _with_before(result, covered_now, pop, g["area_id"].to_numpy(dtype=object))
    return result


def _with_before(result: SitingResult, covered_now: np.ndarray, pop: np.ndarray, demand_area: np.ndarray) -> SitingResult:
    """A relocation's result with "before" = the existing sites where they stand (the solve itself starts
    from none, since every existing site competes with the candidates)."""
    before = float(pop[covered_now].sum())
    areas = result.areas
    if len(areas):
        per = pd.Series(pop * covered_now).groupby(pd.Series(demand_area, dtype=object)).sum()
        areas = areas.copy()
        areas["covered_before"] = areas["area_id"].map(per).fillna(0.0).to_numpy(float)
        tot = areas["demand_total"].to_numpy(float)
        areas["share_before"] = np.where(tot > 0, areas["covered_before"].to_numpy(float) / np.where(tot > 0, tot, 1), np.nan)
    return replace(result, covered_before=before, areas=areas)


def propose_sites(study, type_key: str, *, count: int | None = None, target_share: float | None = None,
                  method: str = "greedy", candidates=None, minutes: float | None = None, speed_kmh: float | None = None,
                  max_snap_m: float | None = None, **kwargs) -> SitingResult:
    """Propose new sites of one type for a study (``planner.propose``; what ``python -m planner propose`` runs).

    Parameters
    ----------
    study : Study
        From :func:`planner.load_study`; its goals (minutes, speed, profile, snap limit) are the
        defaults, and its candidates layer (if any) the only places a site may go.
    type_key : str
        Facility type key or label.
    count : int, optional
        Number of new sites (maximal coverage).
    target_share : float, optional
        Coverage share to reach with the fewest new sites (0-1).
    method : {'greedy', 'exact'}
    candidates : Candidates or GeoDataFrame, optional
        Overrides the study's candidates layer.
    **kwargs :
        Passed to :func:`propose_study` (``relocate``, ``capacity``, ``time_limit_s``,
        ``candidate_spacing_m``, ``candidates_from``, ``share_of`` ...).

    Returns
    -------
    SitingResult
        ``.sites`` (one row per site with what it adds), ``.share_before``, ``.share_after``.

    Examples
    --------
    >>> import planner
    >>> res = planner.propose(planner.load_study(demo=True), "aed", count=3)
    >>> len(res.sites)
    3
    """
    goals = study.goals
    ftype = study.types.get_type(type_key)
    cand = candidates if candidates is not None else getattr(study, "candidates", None)
    if cand is not None and not isinstance(cand, Candidates):
        cand = candidates_from_gdf(study.network_for(ftype), cand)
    return propose_study(
        study, ftype.key, candidates=cand,
        minutes=minutes if minutes is not None else goals.minutes,
        speed_kmh=speed_kmh if speed_kmh is not None else goals.speed(study.types),
        max_snap_m=max_snap_m if max_snap_m is not None else goals.max_snap_m,
        count=count, target_share=target_share, method=method, **kwargs,
    )


def _check_snap(max_snap_m) -> float:
    from . import _validate as V

    return V.number(max_snap_m, name="max_snap_m", flag="--max-snap-m", unit_en="(metres)", unit_zh="米",
                    minimum=0.0, allow_min=False, maximum=V.MAX_DISTANCE_M)


# ============================================================================ writers
def write_siting(result: SitingResult, out_dir: str | Path, *, map_html: str | None = None,
                 extra_summary: dict | None = None, study=None, study_file: str | None = None) -> dict[str, Path]:
    """Write ``proposals.csv``, ``summary.json``, ``proposals.geojson`` (and ``map.html`` if given), atomically.

    proposals.csv columns: ``rank, id, lon, lat, marginal_demand, cumulative_share`` (WGS-84).
    """
    import json

    from .export import jsonable, write_csv, write_geojson, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    cols = ["rank", "id", "lon", "lat", "marginal_demand", "cumulative_share"]
    if "source" in result.sites and (result.sites["source"] == "existing").any():
        cols.append("source")  # relocation: which chosen sites are existing ones to keep
    written["proposals.csv"] = write_csv(result.sites[cols], out / "proposals.csv")
    summary = result.summary()
    if extra_summary:
        summary.update(extra_summary)
    written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
    gdf = result.sites_gdf().drop(columns=["candidate_index"])
    written["proposals.geojson"] = write_geojson(gdf, out / "proposals.geojson")
    if map_html is not None:
        written["map.html"] = write_text(out / "map.html", map_html)
    from .export import remove_stale, write_study_extras

    if study is not None:
        written.update(write_study_extras(out, study, study_file))
    remove_stale(out, ("proposals.csv", "summary.json", "proposals.geojson", "map.html", "rejected_rows.csv", "study.toml"),
                 written)
    return written


# ============================================================================ what-if
@dataclass(frozen=True)
class WhatIfDelta:
    """The effect of adding or removing one site.

    Attributes
    ----------
    site_id : the site added or removed.
    share_before, share_after : coverage share of all demand.
    newly_covered : float  demand weight that became covered (negative effect: see ``newly_uncovered``).
    newly_uncovered : float  demand weight that lost coverage (removals).
    covered_ids, uncovered_ids : ids of demand points that changed covered state.
    changed_ids : ids of demand points whose minutes changed.
    seconds : wall time of the update.
    """

    site_id: str
    share_before: float
    share_after: float
    newly_covered: float
    newly_uncovered: float
    covered_ids: np.ndarray
    uncovered_ids: np.ndarray
    changed_ids: np.ndarray
    seconds: float


class WhatIf:
    """Incremental coverage for click-to-propose: add or remove one site at a time.

    Keeps, per demand point, the distance (m) to its nearest open facility and which one. Adding a
    site runs one bounded Dijkstra from that site only (:func:`planner.travel.reach` limited to
    ``limit_m``) over the demand within that straight-line distance, and takes the minimum.
    Removing a site recomputes only the demand whose nearest facility it was: bounded Dijkstra from
    the facilities near them with a growing radius, then a full :func:`planner.travel.nearest` for
    any still unresolved — always exact.

    What is exact
    -------------
    * Covered flags, the coverage share and ``newly_covered`` are always exact (the add limit is at
      least the goal distance).
    * With ``minutes_exact=False`` (default, fastest) an add updates minutes exactly for every
      point the new site reaches within the goal; a point beyond the goal from both its old
      nearest facility and the new site keeps its old minutes (which may then be an overestimate).
    * With ``minutes_exact=True`` the add limit is the largest current finite distance, so every
      minute value is exact (slower: the search then spans the worst-served point's distance).

    Parameters
    ----------
    net : Network
    fac_snap : Snap  existing facilities of the type (open at the start).
    dem_snap : Snap  demand points.
    population : float[p]
    ftype : FacilityType  goal minutes and speed.
    facility_ids, demand_ids : optional ids (default ``f0.., d0..`` / row numbers).
    minutes_exact : bool
    baseline : (dist_m, facility_index), optional
        The existing facilities' network metres and nearest-facility index per demand point, from a
        coverage run on the same snaps (``TypeCoverage.dist_m``, ``facility_index``); computed when absent.
    """

    def __init__(self, net: Network, fac_snap: Snap, dem_snap: Snap, population, ftype: FacilityType, *,
                 facility_ids=None, demand_ids=None, minutes_exact: bool = False, max_snap_m: float = 300.0,
                 baseline=None):
        import shapely
        from scipy.spatial import cKDTree

        self.net = net
        self.ftype = ftype
        self.pop = np.array(population, dtype=float)
        self.total = float(self.pop.sum())
        self.dem_snap = dem_snap
        self.minutes_exact = bool(minutes_exact)
        self.max_snap_m = float(max_snap_m)
        self.limit_m = goal_limit_m(ftype)
        self._mpm = ftype.metres_per_minute
        n_f = len(fac_snap)
        self.demand_ids = np.asarray(demand_ids if demand_ids is not None else np.arange(len(dem_snap)), dtype=object)
        ids = np.asarray(facility_ids if facility_ids is not None else [f"f{i}" for i in range(n_f)], dtype=object)
        self._f_edge = list(fac_snap.edge)
        self._f_along = list(fac_snap.along_m)
        self._f_dist = list(fac_snap.dist_m)
        self._f_far = list(fac_snap.too_far)
        self._ids = list(ids)
        self._open = [True] * n_f
        self._index = {str(k): i for i, k in enumerate(ids)}
        # the existing facilities' distances: given by a coverage run of the same snaps (baseline=(dist_m, index)),
        # or computed here
        dist, who = baseline if baseline is not None else nearest(net, fac_snap, dem_snap)[:2]
        self.dist_m = np.array(dist, dtype=float)
        self.who = who.copy()
        self.covered = self.dist_m <= self.limit_m
        self._covered_w = float(self.pop[self.covered].sum())
        # on-network position of each demand point (for the straight-line pre-filter)
        pos = shapely.line_interpolate_point(net.edge_geoms[dem_snap.edge], net.grid_along(dem_snap.edge, dem_snap.along_m))
        self._dxy = np.column_stack([shapely.get_x(pos), shapely.get_y(pos)])
        self._dtree = cKDTree(self._dxy)
        self._fxy = self._fac_xy(np.arange(n_f))
        self._span = float(np.hypot(np.ptp(net.x), np.ptp(net.y)))

    # -------------------------------------------------------------- state
    @property
    def minutes(self) -> np.ndarray:
        """Minutes to the nearest open facility per demand point (inf: none)."""
        return self.dist_m / self._mpm

    @property
    def share(self) -> float:
        return self._covered_w / self.total if self.total > 0 else float("nan")

    @property
    def site_ids(self) -> list[str]:
        """Ids of the open facilities (existing and added)."""
        return [str(k) for k, o in zip(self._ids, self._open) if o]

    def _fac_xy(self, idx) -> np.ndarray:
        import shapely

        idx = np.asarray(idx, np.int64)
        if len(idx) == 0:
            return np.zeros((0, 2))
        e = np.asarray(self._f_edge)[idx]
        p = shapely.line_interpolate_point(self.net.edge_geoms[e], self.net.grid_along(e, np.asarray(self._f_along)[idx]))
        return np.column_stack([shapely.get_x(p), shapely.get_y(p)])

    def _snap_of(self, idx) -> Snap:
        idx = np.asarray(idx, np.int64)
        return Snap(np.asarray(self._f_edge, np.int64)[idx], np.asarray(self._f_along, float)[idx],
                    np.asarray(self._f_dist, float)[idx], np.asarray(self._f_far, bool)[idx], self.max_snap_m)

    def _pairs_within(self, src_idx, pts_idx, limit: float):
        """Best distance (m) from the given facilities to each given demand point, within ``limit`` (inf beyond)."""
        out = np.full(len(pts_idx), np.inf)
        if len(src_idx) == 0 or len(pts_idx) == 0:
            return out
        src = self._snap_of(src_idx)
        pts = self.dem_snap.subset(pts_idx)
        r = reach(self.net, src, limit_m=limit)
        _, p, d = reach_points(self.net, r, src, pts)
        np.minimum.at(out, p, d)
        return out

    def _delta(self, site_id, before_w, was_cov, idx, old_d, secs0) -> WhatIfDelta:
        now = self.covered[idx]
        gained = idx[now & ~was_cov]
        lost = idx[~now & was_cov]
        changed = idx[self.dist_m[idx] != old_d]
        return WhatIfDelta(str(site_id), before_w / self.total, self.share, float(self.pop[gained].sum()),
                           float(self.pop[lost].sum()), self.demand_ids[gained], self.demand_ids[lost],
                           self.demand_ids[changed], time.perf_counter() - secs0)

    # -------------------------------------------------------------- edits
    def add(self, lon: float, lat: float, *, site_id: str | None = None) -> WhatIfDelta:
        """Open a site at WGS-84 (lon, lat); returns the change. The site's id is ``site_id`` or ``new{k}``."""
        t0 = time.perf_counter()
        x, y = self.net.to_metric([lon], [lat])
        s = snap_points(self.net, x, y, max_snap_m=self.max_snap_m)
        k = len(self._ids)
        sid = site_id if site_id is not None else f"new{k}"
        if str(sid) in self._index:
            raise InputError(f"A site with id '{sid}' already exists.", f"编号为「{sid}」的站点已存在。")
        self._f_edge.append(int(s.edge[0]))
        self._f_along.append(float(s.along_m[0]))
        self._f_dist.append(float(s.dist_m[0]))
        self._f_far.append(bool(s.too_far[0]))
        self._ids.append(sid)
        self._open.append(True)
        self._index[str(sid)] = k
        self._fxy = np.vstack([self._fxy, self._fac_xy([k])])
        before_w = self._covered_w
        if s.too_far[0]:
            return self._delta(sid, before_w, np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0), t0)
        limit = self.limit_m
        if self.minutes_exact:
            live = ~self.dem_snap.too_far
            if np.isinf(self.dist_m[live]).any():  # someone has no facility at all: one full search
                old_d = self.dist_m.copy()
                was = self.covered.copy()
                d, _, _ = nearest(self.net, self._snap_of([k]), self.dem_snap)
                return self._apply(sid, k, np.arange(len(d)), d, old_d, was, before_w, t0)
            fin = self.dist_m[live]
            limit = max(limit, float(fin.max()) if len(fin) else limit)
        # any point within `limit` on the network is within `limit` in a straight line on the ground,
        # which is at most `grid_per_ground_max` times longer in the projection's grid metres
        cand = np.asarray(self._dtree.query_ball_point(self._fxy[k], r=limit * self.net.grid_per_ground_max), dtype=np.int64)
        cand = cand[~self.dem_snap.too_far[cand]] if len(cand) else cand
        old_d = self.dist_m[cand].copy()
        was = self.covered[cand].copy()
        d = self._pairs_within([k], cand, limit)
        return self._apply(sid, k, cand, d, old_d, was, before_w, t0)

    def _apply(self, sid, k, cand, d, old_d, was, before_w, t0) -> WhatIfDelta:
        better = d < old_d
        upd = cand[better]
        self.dist_m[upd] = d[better]
        self.who[upd] = k
        self.covered[upd] = self.dist_m[upd] <= self.limit_m
        self._covered_w += float(self.pop[upd][self.covered[upd] & ~was[better]].sum())
        return self._delta(sid, before_w, was, cand, old_d, t0)

    def remove(self, site_id) -> WhatIfDelta:
        """Close an open site (existing or added) by id; returns the change (exact minutes)."""
        t0 = time.perf_counter()
        k = self._index.get(str(site_id))
        if k is None or not self._open[k]:
            raise InputError(f"No open site with id '{site_id}'.", f"没有编号为「{site_id}」的开放站点。")
        self._open[k] = False
        before_w = self._covered_w
        aff = np.flatnonzero(self.who == k)
        old_d = self.dist_m[aff].copy()
        was = self.covered[aff].copy()
        new_d = np.full(len(aff), np.inf)
        new_w = np.full(len(aff), -1, np.int64)
        open_idx = np.flatnonzero(np.asarray(self._open) & ~np.asarray(self._f_far, bool))
        todo = np.arange(len(aff))
        if len(open_idx) and len(aff):
            from scipy.spatial import cKDTree

            ftree = cKDTree(self._fxy[open_idx])
            radius = max(2.0 * self.limit_m, float(old_d.max()) * 1.5 if np.isfinite(old_d).any() else 0.0)
            while len(todo) and radius < self._span:
                near = ftree.query_ball_point(self._dxy[aff[todo]], r=radius * self.net.grid_per_ground_max)
                srcs = np.unique(np.concatenate([np.asarray(v, np.int64) for v in near])) if len(near) else np.zeros(0, np.int64)
                if len(srcs):
                    src = open_idx[srcs]
                    d, w = self._best_of(src, aff[todo], radius)
                    found = np.isfinite(d)
                    new_d[todo[found]] = d[found]
                    new_w[todo[found]] = w[found]
                    todo = todo[~found]
                radius *= 4.0
            if len(todo):  # far from every other facility: one full nearest on that subset
                d, w, _ = nearest(self.net, self._snap_of(open_idx), self.dem_snap.subset(aff[todo]))
                new_d[todo] = d
                new_w[todo] = np.where(w >= 0, open_idx[np.clip(w, 0, None)], -1)
        self.dist_m[aff] = new_d
        self.who[aff] = new_w
        self.covered[aff] = new_d <= self.limit_m
        self._covered_w -= float(self.pop[aff][was & ~self.covered[aff]].sum())
        return self._delta(site_id, before_w, was, aff, old_d, t0)

    def _best_of(self, src_idx, pts_idx, limit):
        """Nearest of ``src_idx`` for each point within ``limit``: (dist, facility index), inf/-1 beyond."""
        src = self._snap_of(src_idx)
        pts = self.dem_snap.subset(pts_idx)
        r = reach(self.net, src, limit_m=limit)
        s, p, d = reach_points(self.net, r, src, pts)
        best = np.full(len(pts_idx), np.inf)
        who = np.full(len(pts_idx), -1, np.int64)
        if len(p):
            order = np.lexsort((d, p))
            s, p, d = s[order], p[order], d[order]
            first = np.ones(len(p), bool)
            first[1:] = p[1:] != p[:-1]
            best[p[first]] = d[first]
            who[p[first]] = np.asarray(src_idx)[s[first]]
        return best, who
