"""Coverage siting beyond greedy (issue 13, item 3): random instances, 5,000 clients x 500 sites, ~21 sites per client.

Clients and sites are uniform in a square with wrap-around distances (no edge effects); a site
covers the clients within a radius chosen so that each client has about 21 sites in reach. Compared in the same run, on the same reduced
problem (:func:`planner.siting.reduce_problem`):

* greedy (lazy greedy, the previous default);
* ours, fast: ``improved_max_coverage`` / ``improved_min_sites`` (greedy + swap search, Lagrangian
  bound for coverage), the ``heuristic`` method of ``propose``;
* ours, default candidate: the ``auto`` method: the same, then HiGHS within a 10 s budget, warm-started;
* best known (the reference the percentages are measured against): the best answer known from any
  method: HiGHS cold-started with ``--reference`` seconds, the methods above in this run, and the
  answers recorded in ``BEST_KNOWN`` (from the 120 s ``--exact-vs-spopt`` run), whichever is best.

With ``--exact-vs-spopt``: ours, ``method='exact'`` (:func:`planner.siting.exact_max_coverage` /
:func:`planner.siting.exact_min_sites`, heuristic then HiGHS warm-started, the limit covering both)
against spopt ``MCLP`` / ``LSCP`` solved by PuLP's CBC, both at the same time limit (default 120 s), on
the same instances (spopt gets the unreduced 0/1 matrix as a cost matrix; both objectives are
recomputed from the chosen sites on the unreduced matrix). Skipped, with a message, when spopt or
PuLP is not installed (neither is a dependency of the planner).

Usage: python benchmarks/bench_improve.py [--seeds 3] [--p 20] [--budget 10] [--reference 120] [--write]
       python benchmarks/bench_improve.py --exact-vs-spopt [--seeds 3] [--limit 120] [--write]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from _report import machine, write_section
from scipy.spatial import cKDTree

from planner.siting import (
    exact_max_coverage,
    exact_min_sites,
    greedy_max_coverage,
    greedy_min_sites,
    improved_max_coverage,
    improved_min_sites,
    milp_max_coverage,
    milp_min_sites,
    reduce_problem,
)

#: Best answers known from longer runs, for the default instances (seed, p): maximal coverage (covered
#: weight on the reduced problem, which equals the unreduced one) and fewest sites for every coverable
#: client. Source: ``--exact-vs-spopt`` (``method='exact'``, 120 s, heuristic + HiGHS + iterated local
#: search), docs/benchmarks.md section improve-spopt, 2026-11; spopt + CBC at 120 s found nothing
#: better (213,072 / 207,601 / 210,109; 35 / 36 / 34 sites); except fewest sites on seed 0: 33, found by
#: HiGHS cold-started with 60 s in this script's run of 2026-11-29 (the 120 s exact run ended at 34).
#: Update when a run finds better.
BEST_KNOWN_COVERAGE = {(0, 20): 213_103.0, (1, 20): 211_100.0, (2, 20): 212_610.0}
BEST_KNOWN_SITES = {0: 33, 1: 34, 2: 33}
BEST_KNOWN_SOURCE = ("120 s `--exact-vs-spopt` run (ours, `method='exact'`; section improve-spopt), fewest sites on "
                     "seed 0 from HiGHS 60 s in this benchmark's run of 2026-11-29")


def instance(seed, n_clients=5000, n_sites=500, per_client=21.0, side=10_000.0):
    rng = np.random.default_rng(seed)
    cl = rng.uniform(0, side, (n_clients, 2))
    st = rng.uniform(0, side, (n_sites, 2))
    r = np.sqrt(per_client * side * side / (n_sites * np.pi))
    # distances wrap around the square (a torus), so clients near the edge have as many sites as the rest
    pairs = cKDTree(st, boxsize=side).query_ball_point(cl, r=r)
    rows = np.repeat(np.arange(n_clients), [len(x) for x in pairs])
    cols = np.concatenate([np.asarray(x, np.int64) for x in pairs])
    a = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n_clients, n_sites))
    w = rng.integers(1, 100, n_clients).astype(float)
    return a, w


def _spopt_solve(model, limit):
    """Solve a spopt model with CBC at ``limit`` seconds; (chosen columns, status text, seconds)."""
    import pulp

    t = time.perf_counter()
    try:
        model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit), results=False)
    except RuntimeError:  # spopt raises unless PuLP reports 'Optimal'; read what CBC left anyway
        pass
    secs = time.perf_counter() - t
    prob = model.problem
    status = f"{pulp.LpStatus[prob.status]}, {pulp.LpSolution.get(prob.sol_status, prob.sol_status)}"
    chosen = np.array([j for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5], np.int64)
    return chosen, status, secs


def exact_vs_spopt(args):
    try:
        import pulp  # noqa: F401
        from spopt.locate import LSCP, MCLP
    except ImportError as e:
        print(f"exact vs spopt: skipped, spopt/PuLP not installed ({e}); `pip install spopt pulp` to run it")
        return
    import spopt

    rows = []
    for seed in range(args.seeds):
        a, w = instance(seed)
        csc = a.tocsc()
        red = reduce_problem(a, w)
        cov_of = lambda cols: float(w[np.asarray(csc[:, cols].sum(axis=1)).ravel() > 0].sum())  # noqa: E731
        ours = exact_max_coverage(red, args.p, time_limit_s=args.limit)
        ours_cov = cov_of(red.cols[ours.chosen])
        cost = np.where(a.toarray() > 0, 0.0, 1.0)
        t = time.perf_counter()
        m = MCLP.from_cost_matrix(cost, w, service_radius=0.5, p_facilities=args.p)
        t_build = time.perf_counter() - t
        ch, st, secs = _spopt_solve(m, args.limit)
        sp_cov = cov_of(ch) if len(ch) == args.p else float("nan")
        r = dict(seed=seed, problem="cov", ours=ours_cov, ours_s=ours.seconds, ours_status=ours.status,
                 ours_bound=ours.bound + (ours_cov - ours.objective), spopt=sp_cov, spopt_s=secs, spopt_build=t_build,
                 spopt_status=st, spopt_n=len(ch))
        rows.append(r)
        print(f"seed {seed} coverage p={args.p}: ours exact {ours_cov:,.0f} ({ours.seconds:.1f} s, {ours.status}, bound "
              f"{r['ours_bound']:,.0f}); spopt MCLP + CBC {sp_cov:,.0f} ({secs:.1f} s solve + {t_build:.1f} s build, {st}, "
              f"{len(ch)} sites)", flush=True)
        # fewest sites covering every coverable client
        need = float(red.weight.sum())
        ours_m = exact_min_sites(red, need, time_limit_s=args.limit)
        sites = red.cols[ours_m.chosen]
        full = cov_of(sites) >= float(w[a.getnnz(axis=1) > 0].sum()) - 1e-6
        keep = a.getnnz(axis=1) > 0  # LSCP needs every client coverable
        t = time.perf_counter()
        ml = LSCP.from_cost_matrix(cost[keep], service_radius=0.5)
        t_build = time.perf_counter() - t
        ch, st, secs = _spopt_solve(ml, args.limit)
        sp_full = cov_of(ch) >= float(w[keep].sum()) - 1e-6 if len(ch) else False
        r = dict(seed=seed, problem="min", ours=float(len(sites)), ours_s=ours_m.seconds, ours_status=ours_m.status,
                 ours_bound=float(np.ceil(ours_m.bound - 1e-6)), ours_ok=full, spopt=float(len(ch)) if sp_full else float("nan"),
                 spopt_s=secs, spopt_build=t_build, spopt_status=st, spopt_n=len(ch))
        rows.append(r)
        print(f"seed {seed} fewest sites: ours exact {len(sites)} (covers all: {full}; {ours_m.seconds:.1f} s, {ours_m.status}, "
              f"bound {r['ours_bound']:.0f}); spopt LSCP + CBC {len(ch)} (covers all: {sp_full}; {secs:.1f} s solve + "
              f"{t_build:.1f} s build, {st})", flush=True)
    import pulp as _pulp

    lines = [
        "### Exact at the same time limit: ours vs spopt + CBC (`--exact-vs-spopt`)",
        "",
        f"Same instances, {args.seeds} seeds, {args.limit:g} s limit for both. Ours: `method='exact'` (maximal coverage: "
        f"heuristic, HiGHS for a tenth of the limit, iterated local search to 40 % of it, HiGHS warm-started for the rest; "
        f"fewest sites: heuristic, then HiGHS warm-started; the limit covers all of it). Peer: spopt {spopt.__version__} `MCLP` / `LSCP` "
        f"`from_cost_matrix` on the unreduced 0/1 matrix, PuLP {_pulp.__version__} `PULP_CBC_CMD(timeLimit={args.limit:g})`; "
        "its model-building time is not counted. Objectives recomputed from the chosen sites on the unreduced matrix.",
        "",
        "| seed | problem | ours | ours: time, HiGHS status, proven bound | spopt + CBC | spopt: solve time, status | ours ahead by |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["problem"] == "cov":
            lines.append(f"| {r['seed']} | coverage, p = {args.p} | {r['ours']:,.0f} | {r['ours_s']:.1f} s, {r['ours_status']}, "
                         f"{r['ours_bound']:,.0f} | {r['spopt']:,.0f} | {r['spopt_s']:.1f} s, {r['spopt_status']} | "
                         f"{r['ours'] - r['spopt']:+,.0f} ({(r['ours'] - r['spopt']) / r['spopt']:+.2%}) |")
        else:
            lines.append(f"| {r['seed']} | fewest sites | {r['ours']:.0f} | {r['ours_s']:.1f} s, {r['ours_status']}, "
                         f"{r['ours_bound']:.0f} | {r['spopt']:.0f} | {r['spopt_s']:.1f} s, {r['spopt_status']} | "
                         f"{r['spopt'] - r['ours']:+.0f} sites |")
    md = "\n".join(lines)
    print(md)
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--reference", type=float, default=120.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--exact-vs-spopt", action="store_true", help="ours method='exact' against spopt + CBC at --limit s")
    ap.add_argument("--limit", type=float, default=120.0)
    args = ap.parse_args()
    if args.exact_vs_spopt:
        md = exact_vs_spopt(args)
        if md and args.write:
            write_section("improve-spopt", md)
        return
    rows_cov, rows_min = [], []
    for seed in range(args.seeds):
        a, w = instance(seed)
        per = a.getnnz(axis=1).mean()
        red = reduce_problem(a, w)
        t = time.perf_counter()
        g = greedy_max_coverage(red, args.p)
        t_g = time.perf_counter() - t
        h = improved_max_coverage(red, args.p)
        au = improved_max_coverage(red, args.p, exact_time_s=args.budget)
        ref = milp_max_coverage(red, args.p, time_limit_s=args.reference, warm=None)
        recorded = BEST_KNOWN_COVERAGE.get((seed, args.p), -np.inf)
        best = max(ref.objective, au.objective, h.objective, recorded)
        src = ", ".join(k for k, v in (("recorded", recorded), ("auto", au.objective), ("heuristic", h.objective),
                                       (f"HiGHS {args.reference:g} s", ref.objective)) if v >= best)
        rows_cov.append(dict(seed=seed, per=per, greedy=float(g.gains.sum()), t_g=t_g, heur=h.objective, t_h=h.seconds,
                             heur_ub=h.bound, auto=au.objective, t_a=au.seconds, auto_ub=au.bound, auto_status=au.status,
                             best=best, src=src, ref=ref.objective, ref_status=ref.status, ref_s=ref.seconds, ref_ub=ref.bound))
        r = rows_cov[-1]
        print(f"seed {seed} coverage p={args.p} ({per:.1f} sites/client): greedy {r['greedy']:.0f} ({1 - r['greedy'] / best:.2%} short, "
              f"{t_g:.2f} s); heuristic {r['heur']:.0f} ({1 - r['heur'] / best:.2%} short, {r['t_h']:.2f} s, proven gap "
              f"{(r['heur_ub'] - r['heur']) / r['heur_ub']:.2%}); auto {r['auto']:.0f} ({1 - r['auto'] / best:.2%}, {r['t_a']:.2f} s, "
              f"{au.status}); best known {best:.0f} ({src}; HiGHS cold {ref.objective:.0f}, {ref.status}, {ref.seconds:.1f} s)", flush=True)
        need = float(red.weight.sum())  # every coverable client
        t = time.perf_counter()
        gm = greedy_min_sites(red, need)
        t_gm = time.perf_counter() - t
        hm = improved_min_sites(red, need)
        am = improved_min_sites(red, need, exact_time_s=args.budget)
        refm = milp_min_sites(red, need, time_limit_s=args.reference)
        recm = BEST_KNOWN_SITES.get(seed, np.inf)
        bestm = min(len(refm.chosen), am.objective, hm.objective, recm)
        srcm = ", ".join(k for k, v in (("recorded", recm), ("auto", am.objective), ("heuristic", hm.objective),
                                        (f"HiGHS {args.reference:g} s", len(refm.chosen))) if v <= bestm)
        rows_min.append(dict(seed=seed, greedy=len(gm.order), t_g=t_gm, heur=hm.objective, t_h=hm.seconds, auto=am.objective,
                             t_a=am.seconds, auto_lb=am.bound, auto_status=am.status, best=bestm, src=srcm, ref=len(refm.chosen),
                             ref_status=refm.status,
                             ref_s=refm.seconds))
        r = rows_min[-1]
        print(f"seed {seed} fewest sites for all coverable clients: greedy {r['greedy']} (+{r['greedy'] / bestm - 1:.0%}, "
              f"{t_gm:.2f} s); heuristic {r['heur']:.0f} (+{r['heur'] / bestm - 1:.0%}, {r['t_h']:.2f} s); auto {r['auto']:.0f} "
              f"(+{r['auto'] / bestm - 1:.0%}, {r['t_a']:.2f} s, lower bound {r['auto_lb']:.0f}); best known {bestm:.0f} "
              f"({srcm}; HiGHS cold {len(refm.chosen)}, {refm.status}, {refm.seconds:.1f} s)", flush=True)

    lines = [
        "## Coverage siting beyond greedy (`benchmarks/bench_improve.py`)",
        "",
        f"Machine: {machine()}. Random instances: 5,000 clients × 500 sites uniform in a 10 km square (distances wrap "
        f"around), a site covers the clients within the radius that gives ~21 sites per client (measured: "
        f"{np.mean([r['per'] for r in rows_cov]):.1f}), weights 1-99; {args.seeds} seeds. Shortfall against the "
        f"best known answer from any method: HiGHS cold-started with {args.reference:g} s in this run, the methods of this "
        f"run, or the best recorded ({BEST_KNOWN_SOURCE}), whichever is best (its source in the column). Ours and greedy in "
        f"the same run. `heuristic`: greedy + swap search + iterated local search (+ Lagrangian bound for coverage); "
        f"`auto` (the default, {args.budget:g} s in all): the same, then HiGHS warm-started for a tenth of the budget "
        f"(small instances end there, proven optimal), more local search (maximal coverage: iterated local search, kicks "
        f"of 3 and 5 sites, to 70 % of the budget; fewest sites: drop a site and repair by iterated local search, rows "
        f"weighted 1 / (their number of sites)², to 80 %), then HiGHS warm-started for the rest. Targets (issue 13): the fast "
        f"answer within 1 % of the best known for coverage, within 5 % for fewest sites, in ≤ 10 s.",
        "",
        f"### Maximal coverage, p = {args.p}",
        "",
        "| seed | greedy | heuristic | proven gap (Lagrangian) | auto | auto proven gap | best known | HiGHS alone, cold start |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows_cov:
        lines.append(f"| {r['seed']} | {1 - r['greedy'] / r['best']:.2%} short, {r['t_g']:.2f} s | {1 - r['heur'] / r['best']:.2%} short, "
                     f"{r['t_h']:.2f} s | {(r['heur_ub'] - r['heur']) / r['heur_ub']:.2%} | {1 - r['auto'] / r['best']:.2%} short, "
                     f"{r['t_a']:.2f} s | {(r['auto_ub'] - r['auto']) / r['auto_ub']:.2%} | {r['best']:,.0f} ({r['src']}) | {r['ref']:,.0f} "
                     f"({1 - r['ref'] / r['best']:.2%} short; {r['ref_status']}, {r['ref_s']:.1f} s) |")
    lines += [
        "",
        "### Fewest sites covering every coverable client",
        "",
        "| seed | greedy | heuristic | auto (lower bound) | best known | HiGHS alone, cold start |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows_min:
        lines.append(f"| {r['seed']} | {r['greedy']} (+{r['greedy'] / r['best'] - 1:.1%}), {r['t_g']:.2f} s | {r['heur']:.0f} "
                     f"(+{r['heur'] / r['best'] - 1:.1%}), {r['t_h']:.2f} s | {r['auto']:.0f} (+{r['auto'] / r['best'] - 1:.1%}; "
                     f"bound {r['auto_lb']:.0f}), {r['t_a']:.2f} s | {r['best']:.0f} ({r['src']}) | {r['ref']} ({r['ref_status']}, {r['ref_s']:.1f} s) |")
    md = "\n".join(lines)
    print(md)
    if args.write:
        write_section("improve", md)


if __name__ == "__main__":
    main()
