"""Siting for walking time: p-median (least population-weighted walking time) and p-center (least worst walking time).

Coverage siting (:mod:`planner.siting`) counts residents within the goal; these objectives use the
time itself: ``median`` places ``p`` sites so the average resident walks least (ArcGIS *Minimize
Impedance*, spopt ``PMedian``), ``center`` so the worst-served resident walks least (spopt ``PCenter``).

Array-first, sparse: a :class:`TimeProblem` holds the (demand, candidate, distance) pairs within a
cut-off and, per demand point, a ``fallback`` distance: the nearest kept (existing) facility, or the
cut-off where that is farther. Every cost is ``min(fallback_i, d_ij over open j)``. With every
fallback a true distance (each resident has a kept facility within the cut-off) this *is* the exact
problem, since a candidate farther than the fallback never serves that resident; otherwise it is a
relaxation (distances beyond the cut-off count as the cut-off), so its optimum is a proven lower
bound and the true cost of its answer an upper bound (see :func:`propose_time`).

Solvers: greedy + best-improvement vertex substitution (Teitz & Bart 1968, with Whitaker's
fast-interchange bookkeeping, vectorised over all (in, out) pairs at once) as the fast answer; an
exact MILP with HiGHS, warm-started from it, reporting the objective, the dual bound and the gap;
p-center exactly by bisection over the distinct distances with a set-cover MILP per radius.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._errors import InfeasibleError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "TimeProblem",
    "time_problem",
    "TimeRun",
    "assigned_cost",
    "greedy_median",
    "swap_median",
    "lagrangian_median",
    "heuristic_median",
    "milp_median",
    "lp_bound_median",
    "center_radius",
    "exact_center",
    "heuristic_center",
    "OBJECTIVES",
    "TimeSitingResult",
    "propose_time",
    "write_time_siting",
]


@dataclass(frozen=True, eq=False)
class TimeProblem:
    """Demand x candidate distances within a cut-off, as sorted pairs, plus a fallback per demand point.

    Attributes
    ----------
    rows, cols : int64[e]  demand and candidate index of each pair, sorted by row then distance.
    dist : float64[e]  distance (any unit: metres or minutes) of each pair, ``< fallback[row]``.
    weight : float64[m]  residents per demand point.
    fallback : float64[m]  cost when no open candidate is closer (kept facility or cut-off).
    n_cand : int
    """

    rows: np.ndarray
    cols: np.ndarray
    dist: np.ndarray
    weight: np.ndarray
    fallback: np.ndarray
    n_cand: int

    @property
    def n_dem(self) -> int:
        return len(self.weight)


def time_problem(rows, cols, dist, weight, fallback, n_cand: int) -> TimeProblem:
    """Build a :class:`TimeProblem`; pairs not closer than their row's fallback are dropped (they never serve).

    Parameters
    ----------
    rows, cols, dist : arrays, one entry per (demand, candidate) pair; each pair at most once.
    weight : float[m]  residents (>= 0).
    fallback : float[m]  distance to the nearest kept facility, capped at the cut-off (finite).
    n_cand : int  number of candidates (columns).
    """
    rows = np.asarray(rows, np.int64)
    cols = np.asarray(cols, np.int64)
    dist = np.asarray(dist, float)
    w = np.asarray(weight, float)
    fb = np.asarray(fallback, float)
    if not np.isfinite(fb).all():
        raise InputError("Every demand point needs a finite fallback distance (the cut-off at most).",
                         "每个需求点都须有有限的兜底距离（最多为截断距离）。")
    if (w < 0).any() or (dist < 0).any():
        raise InputError("Weights and distances must be >= 0.", "权重和距离须不小于 0。")
    key = rows * max(int(n_cand), 1) + cols
    if len(np.unique(key)) != len(key):
        raise InputError("Each (demand, candidate) pair may appear only once.", "每个（需求点，候选点）组合只能出现一次。")
    keep = dist < fb[rows]
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    o = np.lexsort((cols, dist, rows))
    return TimeProblem(rows[o], cols[o], dist[o], w, fb, int(n_cand))


@dataclass(frozen=True)
class TimeRun:
    """A solve: chosen candidate indices, objective (total weighted cost or worst cost), bound, gap, status."""

    chosen: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    method: str
    iterations: int = 0


def assigned_cost(prob: TimeProblem, chosen) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point: cost ``min(fallback, d_ij over chosen j)`` and the serving candidate (-1: fallback)."""
    is_open = np.zeros(prob.n_cand, bool)
    is_open[np.asarray(chosen, np.int64)] = True
    cost = prob.fallback.copy()
    who = np.full(prob.n_dem, -1, np.int64)
    sel = is_open[prob.cols]
    r, c, d = prob.rows[sel], prob.cols[sel], prob.dist[sel]
    first = np.ones(len(r), bool)
    first[1:] = r[1:] != r[:-1]  # sorted by row then distance: the first per row is the nearest
    cost[r[first]] = d[first]
    who[r[first]] = c[first]
    return cost, who


def _obj(prob: TimeProblem, chosen) -> float:
    return float(prob.weight @ assigned_cost(prob, chosen)[0])


def greedy_median(prob: TimeProblem, p: int, *, start=None) -> np.ndarray:
    """Add, ``p`` times, the candidate that lowers the total weighted cost most (ties: lowest index)."""
    chosen = list(np.asarray(start if start is not None else [], np.int64))
    cost = assigned_cost(prob, chosen)[0]
    w = prob.weight
    taken = np.zeros(prob.n_cand, bool)
    taken[chosen] = True
    while len(chosen) < min(p, prob.n_cand):
        gain = np.bincount(prob.cols, weights=w[prob.rows] * np.maximum(cost[prob.rows] - prob.dist, 0.0),
                           minlength=prob.n_cand)
        gain[taken] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        taken[j] = True
        sel = prob.cols == j
        np.minimum.at(cost, prob.rows[sel], prob.dist[sel])
    return np.asarray(chosen, np.int64)


def _first_two(prob: TimeProblem, chosen):
    """Nearest open candidate (position in ``chosen``, -1: fallback) with its cost, and the cost without it."""
    chosen = np.asarray(chosen, np.int64)
    pos = np.full(prob.n_cand, -1, np.int64)
    pos[chosen] = np.arange(len(chosen))
    sel = pos[prob.cols] >= 0
    r, c, d = prob.rows[sel], pos[prob.cols[sel]], prob.dist[sel]
    m = prob.n_dem
    b1 = prob.fallback.copy()
    b2 = prob.fallback.copy()
    k1 = np.full(m, -1, np.int64)
    if len(r):
        start = np.ones(len(r), bool)
        start[1:] = r[1:] != r[:-1]
        idx = np.flatnonzero(start)
        b1[r[idx]] = d[idx]
        k1[r[idx]] = c[idx]
        nxt = idx + 1
        has2 = nxt < len(r)
        has2[has2] = r[nxt[has2]] == r[idx[has2]]
        b2[r[idx[has2]]] = d[nxt[has2]]  # second-nearest open candidate (fallback stays if closer: d < fallback)
    return b1, k1, b2


def swap_median(prob: TimeProblem, chosen, *, max_iter: int = 1000, tol: float = 1e-12) -> tuple[np.ndarray, int]:
    """Best-improvement vertex substitution: swap one chosen site for one other while the total cost falls.

    For every (in ``j``, out ``k``) pair at once: ``delta = G_j + L_k + C_jk`` where ``G_j`` is the
    saving of adding ``j``, ``L_k`` the loss of closing ``k`` (its residents fall back to their
    second-nearest site) and ``C_jk`` corrects for residents of ``k`` that ``j`` serves (Whitaker's
    fast interchange). Stops at a local optimum: no single swap lowers the cost.
    """
    chosen = np.array(chosen, np.int64)
    p = len(chosen)
    w = prob.weight
    it = 0
    if p == 0 or p >= prob.n_cand:
        return chosen, 0
    while it < max_iter:
        b1, k1, b2 = _first_two(prob, chosen)
        total = float(w @ b1)
        loss = np.bincount(k1[k1 >= 0], weights=(w * (b2 - b1))[k1 >= 0], minlength=p)
        out = np.ones(prob.n_cand, bool)
        out[chosen] = False
        sel = out[prob.cols]
        r, c, d = prob.rows[sel], prob.cols[sel], prob.dist[sel]
        gain = np.bincount(c, weights=w[r] * np.minimum(d - b1[r], 0.0), minlength=prob.n_cand)
        kk = k1[r]
        hit = kk >= 0
        r2, c2, d2, k2 = r[hit], c[hit], d[hit], kk[hit]
        corr = w[r2] * ((np.minimum(d2, b2[r2]) - np.minimum(d2, b1[r2])) - (b2[r2] - b1[r2]))
        cmat = sp.coo_matrix((corr, (c2, k2)), shape=(prob.n_cand, p)).toarray()
        delta = gain[:, None] + loss[None, :] + cmat
        delta[~out, :] = np.inf
        j, k = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if not delta[j, k] < -tol * max(abs(total), 1.0):
            break
        chosen[k] = j
        it += 1
    return chosen, it


def lagrangian_median(prob: TimeProblem, p: int, *, upper: float | None = None, max_iter: int = 600,
                      tol: float = 1e-4, return_multipliers: bool = False):
    """Lagrangian lower bound of the p-median (assignment constraints relaxed), by subgradient optimisation.

    With multipliers ``lam_i`` on ``sum_j x_ij + z_i = 1``::

        L(lam) = sum_i lam_i + sum_i min(0, w_i f_i - lam_i) + (sum of the p smallest rho_j),
        rho_j  = sum_i min(0, w_i d_ij - lam_i)

    Every ``L(lam)`` is a proven lower bound on the optimum. Polyak steps towards ``upper`` (the
    best known objective), halving the step after 20 iterations without progress. Returns the best
    bound and the sites of the best Lagrangian solution (a good start for the local search).
    """
    w = prob.weight
    rows, cols, d = prob.rows, prob.cols, prob.dist
    wf = w * prob.fallback
    wd = w[rows] * d
    lam = wf.copy()  # everyone at their fallback: L(lam) = current cost with no site
    if upper is None:
        upper = float(wf.sum())
    best, best_set, best_lam = -np.inf, np.zeros(0, np.int64), lam
    theta, stall = 1.0, 0
    p_eff = min(int(p), prob.n_cand)
    for _ in range(max_iter):
        red = np.minimum(wd - lam[rows], 0.0)
        rho = np.bincount(cols, weights=red, minlength=prob.n_cand)
        pick = np.argpartition(rho, p_eff - 1)[:p_eff] if p_eff > 0 else np.zeros(0, np.int64)
        val = float(lam.sum() + np.minimum(wf - lam, 0.0).sum() + rho[pick].sum())
        if not np.isfinite(best) or val > best + 1e-12 * max(abs(best), 1.0):
            best, best_set, best_lam, stall = val, pick, lam, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2.0, 0
        if upper - best <= tol * max(abs(upper), 1e-300) or theta < 1e-4:
            break
        # subgradient: 1 - (assignments of i) - z_i
        is_pick = np.zeros(prob.n_cand, bool)
        is_pick[pick] = True
        used = (red < 0) & is_pick[cols]
        g = 1.0 - np.bincount(rows[used], minlength=prob.n_dem) - (wf - lam < 0)
        nrm = float(g @ g)
        if nrm == 0:
            break
        lam = lam + theta * (upper - val) / nrm * g
    if return_multipliers:  # (bound, sites, the multipliers that gave the bound)
        return best, np.asarray(best_set, np.int64), best_lam
    return best, np.asarray(best_set, np.int64)


def heuristic_median(prob: TimeProblem, p: int, *, bound: bool = True) -> TimeRun:
    """Greedy + vertex substitution, then (``bound``) a Lagrangian lower bound and a second local search
    from the Lagrangian solution; the better answer is kept and the proven gap to the bound reported."""
    t0 = time.perf_counter()
    g = greedy_median(prob, p)
    s, it = swap_median(prob, g)
    obj = _obj(prob, s)
    lb = float("nan")
    if bound and p > 0:
        lb, lag = lagrangian_median(prob, p, upper=obj)
        if len(lag) == min(p, prob.n_cand) and not set(lag.tolist()) == set(s.tolist()):
            s2, it2 = swap_median(prob, lag)
            o2 = _obj(prob, s2)
            if o2 < obj - 1e-9 * max(abs(obj), 1.0):
                s, obj, it = s2, o2, it + it2
        lb = min(lb, obj)
    gap = (obj - lb) / obj if np.isfinite(lb) and obj > 0 else (0.0 if obj == 0 else float("nan"))
    return TimeRun(np.sort(s), obj, lb, gap, "heuristic", time.perf_counter() - t0, "heuristic", it)


def milp_median(prob: TimeProblem, p: int, *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6,
                warm=None) -> TimeRun:
    """Exact p-median with HiGHS on the sparse pairs: ``min sum w_i (sum_j d_ij x_ij + f_i z_i)``.

    ``sum_j x_ij + z_i = 1`` per demand point, ``x_ij <= y_j`` per pair, ``sum y = p``, ``y`` binary
    (``x``, ``z`` continuous: for fixed ``y`` the best assignment is integral). Warm-started from
    ``warm`` (chosen candidate indices, e.g. the heuristic's), so a time-out still returns at least
    that answer with HiGHS's dual bound and gap.
    """
    from .siting import _highs

    m, n, e = prob.n_dem, prob.n_cand, len(prob.rows)
    p_eff = min(int(p), n)
    z = np.arange(e)
    # columns: y (n), x (e), z (m)
    r1 = sp.csr_matrix((np.concatenate([np.ones(e), np.ones(m)]),
                        (np.concatenate([prob.rows, np.arange(m)]), np.concatenate([n + z, n + e + np.arange(m)]))),
                       shape=(m, n + e + m))
    r2 = sp.csr_matrix((np.concatenate([np.ones(e), -np.ones(e)]), (np.concatenate([z, z]), np.concatenate([n + z, prob.cols]))),
                       shape=(e, n + e + m))
    r3 = sp.csr_matrix((np.ones(n), (np.zeros(n, np.int64), np.arange(n))), shape=(1, n + e + m))
    cons = sp.vstack([r1, r2, r3]).tocsr()
    lo = np.concatenate([np.ones(m), np.full(e, -np.inf), [p_eff]])
    hi = np.concatenate([np.ones(m), np.zeros(e), [p_eff]])
    w = prob.weight
    cost = np.concatenate([np.zeros(n), w[prob.rows] * prob.dist, w * prob.fallback])
    start = None
    if warm is not None:
        ch = np.asarray(warm, np.int64)
        y = np.zeros(n)
        y[ch] = 1
        _, who = assigned_cost(prob, ch)
        x = ((who[prob.rows] == prob.cols) & (who[prob.rows] >= 0)).astype(float)
        zz = (who < 0).astype(float)
        start = np.concatenate([y, x, zz])
    x, obj, bound, gap, status, secs, _ = _highs(cost, np.zeros(n + e + m), np.ones(n + e + m),
                                                 [True] * n + [False] * (e + m), cons, lo, hi, maximize=False,
                                                 time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=start)
    if x is None:
        raise InfeasibleError(f"HiGHS found no solution ({status}).", f"HiGHS 未找到可行解（{status}）。")
    chosen = np.sort(np.flatnonzero(x[:n] > 0.5))
    true_obj = _obj(prob, chosen)
    bound = min(bound, true_obj)
    gap = (true_obj - bound) / true_obj if true_obj > 0 else 0.0
    return TimeRun(chosen, true_obj, bound, gap, status, secs, "exact")


def _lagrangian_value(prob: TimeProblem, p: int, lam: np.ndarray) -> float:
    """``L(lam)`` of :func:`lagrangian_median` for given multipliers (a proven lower bound for any ``lam``)."""
    wf = prob.weight * prob.fallback
    red = np.minimum(prob.weight[prob.rows] * prob.dist - lam[prob.rows], 0.0)
    rho = np.bincount(prob.cols, weights=red, minlength=prob.n_cand)
    p_eff = min(int(p), prob.n_cand)
    pick = np.argpartition(rho, p_eff - 1)[:p_eff] if p_eff > 0 else np.zeros(0, np.int64)
    return float(lam.sum() + np.minimum(wf - lam, 0.0).sum() + rho[pick].sum())


@dataclass(frozen=True)
class LpBound:
    """A lower bound on the p-median from HiGHS's LP relaxation (see :func:`lp_bound_median`)."""

    bound: float
    lp_objective: float
    complete: bool
    rounds: int
    pairs: int
    status: str
    seconds: float


def lp_bound_median(prob: TimeProblem, p: int, *, time_limit_s: float = 120.0, k0: int = 8,
                    max_rounds: int = 50, upper: float | None = None, solver: str = "choose") -> LpBound:
    """Proven lower bound from the LP relaxation of :func:`milp_median`'s formulation, solved by HiGHS
    with pair generation.

    HiGHS solves the LP on a subset of the pairs (to start with, each demand point's ``k0`` nearest
    candidates and the pairs with a negative reduced cost at the subgradient multipliers of
    :func:`lagrangian_median`, run towards ``upper``; the fallback keeps it feasible). Its duals on the assignment rows are multipliers
    ``lam`` of the Lagrangian of :func:`lagrangian_median`, evaluated on **all** pairs: ``L(lam)``
    is a proven lower bound whatever the subset and however accurate the duals. Pairs with a
    negative reduced cost ``w_i d_ij - lam_i`` are added and the LP solved again, until there are
    none (``complete``: then ``L(lam)`` is the full LP relaxation's value, up to HiGHS's
    tolerances) or ``time_limit_s`` runs out. The LP relaxation of this (strong) formulation equals
    the best Lagrangian bound, which the subgradient method only approaches.
    """
    import highspy

    t0 = time.perf_counter()
    m, n = prob.n_dem, prob.n_cand
    p_eff = min(int(p), n)
    rows, cols, d = prob.rows, prob.cols, prob.dist
    w = prob.weight
    wd = w[rows] * d
    wf = w * prob.fallback
    # pairs are sorted by row then distance: the rank of each pair within its row
    start = np.searchsorted(rows, np.arange(m))
    rank = np.arange(len(rows)) - start[rows]
    best, _, lam0 = lagrangian_median(prob, p_eff, upper=upper, return_multipliers=True)
    inset = (rank < int(k0)) | (wd - lam0[rows] < 0)
    lp_obj, status, complete, rounds = float("nan"), "not run", False, 0
    while rounds < max_rounds:
        left = time_limit_s - (time.perf_counter() - t0)
        if left <= 0:
            status = "time limit"
            break
        rounds += 1
        sel = np.flatnonzero(inset)
        e = len(sel)
        r_, c_ = rows[sel], cols[sel]
        z = np.arange(e)
        # columns: y (n), x (e), z (m); rows: assignment (m), x <= y (e), sum y = p
        a = sp.vstack([
            sp.csr_matrix((np.ones(e + m), (np.concatenate([r_, np.arange(m)]), np.concatenate([n + z, n + e + np.arange(m)]))),
                          shape=(m, n + e + m)),
            sp.csr_matrix((np.concatenate([np.ones(e), -np.ones(e)]), (np.concatenate([z, z]), np.concatenate([n + z, c_]))),
                          shape=(e, n + e + m)),
            sp.csr_matrix((np.ones(n), (np.zeros(n, np.int64), np.arange(n))), shape=(1, n + e + m)),
        ]).tocsc()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(left))
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("solver", solver)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n + e + m, m + e + 1
        lp.col_cost_ = np.concatenate([np.zeros(n), wd[sel], wf])
        lp.col_lower_ = np.zeros(n + e + m)
        lp.col_upper_ = np.ones(n + e + m)
        lp.row_lower_ = np.concatenate([np.ones(m), np.full(e, -np.inf), [p_eff]])
        lp.row_upper_ = np.concatenate([np.ones(m), np.zeros(e), [p_eff]])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        lp.sense_ = highspy.ObjSense.kMinimize
        h.passModel(lp)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if info.dual_solution_status < 1:
            break
        lp_obj = float(info.objective_function_value)
        dual = np.asarray(h.getSolution().row_dual, float)[:m]
        # any multipliers give a valid bound: take the better of the two sign conventions
        lam = max((dual, -dual), key=lambda v: _lagrangian_value(prob, p_eff, v))
        best = max(best, _lagrangian_value(prob, p_eff, lam))
        add = ~inset & (wd - lam[rows] < -1e-9 * np.maximum(np.abs(lam[rows]), 1.0))
        if not add.any():
            complete = status == "Optimal"
            break
        inset |= add
    return LpBound(best, lp_obj, complete, rounds, int(inset.sum()), status, time.perf_counter() - t0)


# ------------------------------------------------------------------------- p-center
def center_radius(prob: TimeProblem, chosen) -> float:
    """Worst cost over demand points with residents: ``max_i min(fallback_i, d_ij over chosen j)``."""
    cost, _ = assigned_cost(prob, chosen)
    live = prob.weight > 0
    return float(cost[live].max()) if live.any() else 0.0


def _cover_at(prob: TimeProblem, r: float):
    """Rows that still need a site at radius ``r`` and the cover matrix (rows x candidates) of pairs within ``r``."""
    live = (prob.weight > 0) & (prob.fallback > r)
    need = np.flatnonzero(live)
    sel = live[prob.rows] & (prob.dist <= r)
    pos = np.full(prob.n_dem, -1, np.int64)
    pos[need] = np.arange(len(need))
    a = sp.csr_matrix((np.ones(int(sel.sum())), (pos[prob.rows[sel]], prob.cols[sel])), shape=(len(need), prob.n_cand))
    return need, a


def _greedy_cover(a: sp.csr_matrix, p: int) -> np.ndarray | None:
    """Greedy set cover of every row with at most ``p`` columns (None if it needs more)."""
    csc = a.tocsc()
    covered = np.zeros(a.shape[0], bool)
    chosen = []
    while not covered.all():
        if len(chosen) >= p:
            return None
        gain = np.asarray(csc[~covered].sum(axis=0)).ravel()
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            return None
        chosen.append(j)
        covered[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = True
    return np.asarray(chosen, np.int64)


def _exact_cover(a: sp.csr_matrix, p: int, time_limit_s: float):
    """Fewest columns covering every row (HiGHS), if that is <= p: (chosen or None, proven)."""
    from .siting import _highs

    m, n = a.shape
    if m == 0:
        return np.zeros(0, np.int64), True
    if (np.diff(a.indptr) == 0).any():
        return None, True
    x, obj, bound, gap, status, secs, _ = _highs(np.ones(n), np.zeros(n), np.ones(n), [True] * n, a, np.ones(m),
                                                 np.full(m, np.inf), maximize=False, time_limit_s=time_limit_s,
                                                 mip_rel_gap=0.0)
    proven = status == "Optimal"
    if x is None:
        return None, proven
    chosen = np.flatnonzero(x > 0.5)
    if len(chosen) <= p:
        return chosen, True
    return None, proven and np.ceil(bound - 1e-9) > p


def _radii(prob: TimeProblem) -> np.ndarray:
    live = prob.weight > 0
    return np.unique(np.concatenate([prob.dist[live[prob.rows]], prob.fallback[live]]))


def _bisect_center(prob: TimeProblem, p: int, feasible) -> tuple[np.ndarray, float, bool]:
    radii = _radii(prob)
    lo, hi = 0, len(radii) - 1  # the largest radius (the max fallback) is always feasible with no site
    best = np.zeros(0, np.int64)
    proven = True
    while lo < hi:
        mid = (lo + hi) // 2
        ch, ok = feasible(radii[mid])
        proven &= ok
        if ch is not None:
            hi, best = mid, ch
        else:
            lo = mid + 1
    if len(best) == 0 and hi < len(radii) - 1:
        best, ok = feasible(radii[hi])
        proven &= ok
        best = best if best is not None else np.zeros(0, np.int64)
    return best, float(radii[hi]), proven


def _fill(prob: TimeProblem, chosen: np.ndarray, p: int) -> np.ndarray:
    """Use the sites a p-center answer leaves unused: greedy on the median cost (never raises the radius)."""
    return np.sort(greedy_median(prob, p, start=chosen))


def exact_center(prob: TimeProblem, p: int, *, time_limit_s: float = 60.0) -> TimeRun:
    """Exact p-center: the least radius ``r`` (a distinct distance) such that ``p`` sites reach every resident within ``r``.

    Bisection over the distinct distances; each radius is a set-cover MILP (HiGHS) over the demand
    points whose fallback exceeds ``r``. ``status`` is ``Optimal`` when every cover solve was proven.
    Unused sites are then placed to lower the median cost (the radius cannot rise).
    """
    t0 = time.perf_counter()
    best, r, proven = _bisect_center(prob, p, lambda rr: _exact_cover(_cover_at(prob, rr)[1], p, time_limit_s))
    chosen = _fill(prob, best, p)
    obj = center_radius(prob, chosen)
    return TimeRun(chosen, obj, r if proven else float("nan"), 0.0 if proven else float("nan"),
                   "Optimal" if proven else "time limit", time.perf_counter() - t0, "exact")


def heuristic_center(prob: TimeProblem, p: int) -> TimeRun:
    """p-center by bisection with greedy set cover (an upper bound; no proof)."""
    t0 = time.perf_counter()
    best, r, _ = _bisect_center(prob, p, lambda rr: (_greedy_cover(_cover_at(prob, rr)[1], p), False))
    chosen = _fill(prob, best, p)
    return TimeRun(chosen, center_radius(prob, chosen), float("nan"), float("nan"), "heuristic",
                   time.perf_counter() - t0, "heuristic")


# ------------------------------------------------------------------------- study level
OBJECTIVES = ("median", "center")


@dataclass(frozen=True, eq=False)
class TimeSitingResult:
    """New sites for one facility type chosen by walking time (p-median or p-center).

    Times are minutes, each capped at ``cutoff_minutes`` (a resident farther than the cut-off from
    every open site counts as the cut-off, as with ArcGIS's impedance cut-off; how many remain
    beyond it is in ``summary``).

    Attributes
    ----------
    objective : 'median' (population-weighted mean minutes) or 'center' (worst minutes).
    method : 'heuristic' or 'exact'.
    value, bound, gap : the objective (mean or worst capped minutes) of the answer, a proven lower
        bound (NaN for the heuristic) and the relative gap ``(value - bound) / value``.
    status : HiGHS model status, or 'heuristic'.
    sites : DataFrame ``id, lon, lat, source, residents, mean_minutes`` (residents served and their
        mean capped minutes); with ``relocate``, chosen existing sites have ``source == 'existing'``.
    demand : DataFrame aligned to the study's demand: ``id, population, area_id, minutes_before,
        minutes_after`` (capped; NaN where the point lies farther than the snap limit from a street).
    areas : DataFrame per area: ``area_id, name, demand_total, mean_minutes_before, mean_minutes_after,
        max_minutes_before, max_minutes_after, new_sites`` (empty without areas).
    summary : JSON-ready dict.
    """

    objective: str
    method: str
    value: float
    bound: float
    gap: float
    status: str
    sites: object
    demand: object
    areas: object
    summary: dict


def _solve(prob: TimeProblem, p: int, objective: str, method: str, time_limit_s: float, exact_max_pairs: int) -> TimeRun:
    exact = method == "exact" or (method == "auto" and len(prob.rows) <= exact_max_pairs)
    if objective == "median":
        heur = heuristic_median(prob, p)
        if not exact or (method == "auto" and heur.gap <= 1e-6):  # the Lagrangian bound already proves it
            return heur
        ex = milp_median(prob, p, warm=heur.chosen, time_limit_s=time_limit_s)
        best = ex if ex.objective <= heur.objective + 1e-9 else heur
        bound = max(ex.bound, heur.bound) if np.isfinite(heur.bound) else ex.bound
        bound = min(bound, best.objective)
        gap = (best.objective - bound) / best.objective if best.objective > 0 else 0.0
        return TimeRun(best.chosen, best.objective, bound, gap, ex.status, ex.seconds + heur.seconds, "exact", heur.iterations)
    return exact_center(prob, p, time_limit_s=time_limit_s) if exact else heuristic_center(prob, p)


def propose_time(
    study,
    type_key: str,
    *,
    count: int,
    objective: str = "median",
    candidates=None,
    candidate_spacing_m: float | None = None,
    cutoff_minutes: float | None = None,
    relocate: bool = False,
    method: str = "auto",
    time_limit_s: float = 60.0,
    exact_max_pairs: int = 300_000,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float = 300.0,
) -> TimeSitingResult:
    """Place ``count`` new sites of a type so residents walk least: on average (``median``) or at worst (``center``).

    Parameters
    ----------
    study : planner.scenario.Study
    type_key : str  facility type key or label.
    count : int
        New sites; existing facilities of the type stay open. With ``relocate`` the existing sites
        become candidates too and ``count`` is the number *added* to them (0: the best placement of
        the same number of sites).
    objective : {'median', 'center'}
    candidates : planner.siting.Candidates, optional
        Default: network nodes, one per ``candidate_spacing_m`` cell (default a third of the goal
        distance, at least 25 m), within the cut-off of some resident.
    cutoff_minutes : float, optional
        Times are capped here (default three times the type's goal). Only pairs within it are built.
    method : {'auto', 'heuristic', 'exact'}
        ``heuristic``: greedy + vertex substitution with a Lagrangian lower bound (median) or
        bisection with greedy cover (center).
        ``exact``: HiGHS, warm-started from the heuristic, with ``time_limit_s``; the result reports
        the proven bound and gap. ``auto``: exact when the instance has at most ``exact_max_pairs``
        (resident, candidate) pairs, else the heuristic.
    minutes, speed_kmh : overrides of the type's goal and speed.
    max_snap_m : float  demand farther than this from any street is left out of the objective (counted).

    Returns
    -------
    TimeSitingResult
    """
    import pandas as pd

    from .fca import catchment_pairs
    from .network import snap_points
    from .scenario import goal_for
    from .siting import Candidates, _make, candidates_from_nodes, outside_exclusions
    from .travel import nearest

    if objective not in OBJECTIVES:
        raise InputError(f"Unknown objective '{objective}'; use median or center (or the coverage objectives of propose).",
                         f"未知的目标「{objective}」；可选 median 或 center（覆盖类目标见 propose）。")
    if method not in ("auto", "heuristic", "exact"):
        raise InputError(f"Unknown method '{method}'; use auto, heuristic or exact.", f"未知的求解方法「{method}」；可选 auto、heuristic 或 exact。")
    if count is None or int(count) != count or count < 0:
        raise InputError(f"The number of new sites must be a whole number >= 0, not {count}.", f"新增站点数须为不小于 0 的整数，而非 {count}。")
    ftype = goal_for(study.types, type_key, minutes=minutes, speed_kmh=speed_kmh)
    cutoff = float(cutoff_minutes) if cutoff_minutes is not None else 3.0 * ftype.target_minutes
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"The cut-off must be a positive number of minutes, not {cutoff_minutes}.", f"截断时间须为正的分钟数，而非 {cutoff_minutes}。")
    net = study.network_for(ftype)
    mpm = ftype.metres_per_minute
    fac = study.facilities
    sel = np.flatnonzero(fac["type"].to_numpy() == ftype.key) if len(fac) else np.zeros(0, np.int64)
    flon, flat = fac["lon"].to_numpy(float)[sel], fac["lat"].to_numpy(float)[sel]
    fx, fy = net.to_metric(flon, flat)
    demand = study.demand
    if study.areas is not None and len(study.areas) and demand.gdf["area_id"].isna().any():
        from .demand import assign_areas

        demand = assign_areas(demand, study.areas)
    g = demand.gdf
    pop = g["population"].to_numpy(float)
    dx, dy = net.to_metric(g.geometry.x.to_numpy(float), g.geometry.y.to_numpy(float))
    dem_snap = snap_points(net, dx, dy, max_snap_m=max_snap_m)
    fac_snap = snap_points(net, fx, fy, max_snap_m=max_snap_m)
    limit_m = (cutoff + 1e-9) * mpm
    if candidates is None:
        spacing = candidate_spacing_m or max(25.0, ftype.target_m / 3.0)
        live = ~dem_snap.too_far
        candidates = candidates_from_nodes(net, spacing_m=spacing, near_x=np.asarray(dx)[live], near_y=np.asarray(dy)[live], near_m=limit_m)
        candidates = outside_exclusions(study, candidates)
    n_exist = len(sel)
    if relocate:
        existing = _make(fac["id"].astype(str).to_numpy()[sel], flon, flat, fx, fy, "existing")
        taken = set(existing.ids)
        candidates = Candidates.concat([existing, candidates.subset(np.array([i not in taken for i in candidates.ids], bool))])
        kept = fac_snap.subset(np.zeros(0, np.int64))
        p = int(count) + n_exist
    else:
        kept = fac_snap
        p = int(count)
    if p > len(candidates):
        raise InfeasibleError(f"{p} sites were asked for but there are only {len(candidates)} candidates.",
                              f"需要 {p} 个站点，但只有 {len(candidates)} 个候选点。")
    cand_snap = snap_points(net, candidates.x, candidates.y, max_snap_m=max_snap_m)
    d0, _, _ = nearest(net, kept, dem_snap)
    before = np.minimum(d0 / mpm, cutoff)
    w = np.where(dem_snap.too_far, 0.0, pop)
    c, r, dist = catchment_pairs(net, cand_snap, dem_snap, limit_m=limit_m)
    t = np.minimum(dist / mpm, cutoff)
    prob = time_problem(r, c, t, w, before, len(candidates))
    run = _solve(prob, p, objective, method, time_limit_s, exact_max_pairs)
    after, who = assigned_cost(prob, run.chosen)
    total_w = float(w.sum())

    def summarise(x):
        if objective == "median":
            return float(w @ x / total_w) if total_w > 0 else float("nan")
        return float(x[w > 0].max()) if (w > 0).any() else float("nan")

    value = summarise(after)
    bound = run.bound / total_w if objective == "median" and np.isfinite(run.bound) and total_w > 0 else run.bound
    if relocate:
        before_rep = np.minimum(nearest(net, fac_snap, dem_snap)[0] / mpm, cutoff)
    else:
        before_rep = before
    ch = run.chosen
    served_w = np.bincount(who[who >= 0], weights=w[who >= 0], minlength=len(candidates))
    served_t = np.bincount(who[who >= 0], weights=(w * after)[who >= 0], minlength=len(candidates))
    sites = pd.DataFrame({
        "id": candidates.ids[ch], "lon": candidates.lon[ch], "lat": candidates.lat[ch], "source": candidates.source[ch],
        "residents": served_w[ch],
        "mean_minutes": np.where(served_w[ch] > 0, served_t[ch] / np.maximum(served_w[ch], 1e-300), np.nan),
    })
    nan_far = np.where(dem_snap.too_far, np.nan, 1.0)
    dt = pd.DataFrame({"id": g["id"].astype(str).to_numpy(), "population": pop, "area_id": g["area_id"].to_numpy(dtype=object),
                       "minutes_before": before_rep * nan_far, "minutes_after": after * nan_far}, index=g.index)
    rows = []
    if study.areas is not None and len(study.areas):
        import geopandas as gpd

        a = study.areas[["area_id", "geometry"]].to_crs(4326)
        j = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326), a, how="left",
                      predicate="within")
        site_area = j[~j.index.duplicated(keep="first")]["area_id"].to_numpy(dtype=object)
        da = dt["area_id"].to_numpy(dtype=object)
        for aid, name in zip(study.areas["area_id"], study.areas["name"]):
            mk = (da == aid) & (w > 0)
            ww = w[mk]
            rows.append({
                "area_id": aid, "name": name, "demand_total": float(ww.sum()),
                "mean_minutes_before": float(ww @ before_rep[mk] / ww.sum()) if ww.sum() > 0 else float("nan"),
                "mean_minutes_after": float(ww @ after[mk] / ww.sum()) if ww.sum() > 0 else float("nan"),
                "max_minutes_before": float(before_rep[mk].max()) if mk.any() else float("nan"),
                "max_minutes_after": float(after[mk].max()) if mk.any() else float("nan"),
                "new_sites": int(((site_area == aid) & (sites["source"].to_numpy() != "existing")).sum()),
            })
    beyond = (after >= cutoff - 1e-12) & (w > 0)
    summary = {
        "objective": objective,
        "method": run.method,
        "status": run.status,
        "value_minutes": value,
        "bound_minutes": bound,
        "gap": run.gap,
        "value_before_minutes": summarise(before_rep),
        "sites": int(len(ch)),
        "existing_sites": int(n_exist),
        "relocate": bool(relocate),
        "existing_kept": int((sites["source"] == "existing").sum()) if relocate else int(n_exist),
        "candidates": int(len(candidates)),
        "pairs": int(len(prob.rows)),
        "cutoff_minutes": cutoff,
        "residents_at_cutoff_after": float(w[beyond].sum()),
        "demand_snapped_too_far": int(dem_snap.too_far.sum()),
        "swap_iterations": int(run.iterations),
        "seconds": round(run.seconds, 4),
    }
    return TimeSitingResult(objective, run.method, value, bound, run.gap, run.status, sites, dt, pd.DataFrame(rows), summary)


def write_time_siting(result: TimeSitingResult, out_dir, *, extra_summary: dict | None = None) -> dict:
    """Write ``proposals.csv`` (sites), ``demand.csv`` (minutes before/after), ``areas.csv`` and ``summary.json``, atomically."""
    import json
    from pathlib import Path

    from .export import jsonable, remove_stale, write_csv, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, df in (("proposals.csv", result.sites), ("demand.csv", result.demand), ("areas.csv", result.areas)):
        if name == "areas.csv" and not len(df):
            continue
        write_csv(df, out / name)
        written[name] = out / name
    summary = dict(result.summary)
    if extra_summary:
        summary.update(extra_summary)
    written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
    remove_stale(out, ("proposals.csv", "demand.csv", "areas.csv", "summary.json", "proposals.geojson", "map.html"), written)
    return written
