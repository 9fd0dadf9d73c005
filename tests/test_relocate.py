"""Relocating one facility: every candidate's score against a full coverage run with the facility moved there."""
from __future__ import annotations

import numpy as np
import pytest

from planner._errors import InputError
from planner.relocate import relocate_one
from planner.scenario import run
from planner.siting import candidates_from_points
from tests.helpers import X0, Y0, grid_study


def setup(seed=0, n_cand=6):
    study = grid_study(seed=seed, n=18, n_fac=8, n_dem=400)
    fac = study.facilities.copy()
    fac["doctors"] = np.arange(len(fac)) % 4 + 1.0
    study = study.with_facilities(fac)
    net = study.networks["walk"]
    rng = np.random.default_rng(seed + 9)
    lon, lat = net.to_lonlat(rng.uniform(X0, X0 + 1700, n_cand), rng.uniform(Y0, Y0 + 1700, n_cand))
    return study, candidates_from_points(net, np.column_stack([lon, lat]))


def brute(study, fid, lon, lat, cutoff):
    fac = study.facilities.copy()
    i = np.flatnonzero(fac["id"].to_numpy() == fid)[0]
    fac.iloc[i, fac.columns.get_loc("lon")] = lon
    fac.iloc[i, fac.columns.get_loc("lat")] = lat
    res = run(study.with_facilities(fac), type_keys=["health_centre"], isochrones="none")
    m = np.minimum(res.demand_table["health_centre_minutes"].to_numpy(), cutoff)
    w = res.demand_table["population"].to_numpy()
    return res.coverage["health_centre"].stats["coverage_share"], float(w @ m / w.sum()), float(m[w > 0].max())


@pytest.mark.parametrize("objective", ["coverage", "median", "center"])
def test_every_candidate_scored_like_a_full_run(objective):
    study, cands = setup()
    fid = study.facilities.loc[study.facilities["type"] == "health_centre", "id"].iloc[1]
    res = relocate_one(study, "health_centre", fid, objective=objective, candidates=cands, cutoff_minutes=20,
                       supply_column="doctors")
    tab = res.candidates
    assert tab["id"].iloc[0] == "current" and len(tab) == len(cands) + 1
    for _, row in tab.iterrows():
        share, mean, worst = brute(study, fid, row["lon"], row["lat"], 20.0)
        assert row["share"] == pytest.approx(share, abs=1e-12)
        assert row["mean_minutes"] == pytest.approx(mean, rel=1e-9)
        assert row["max_minutes"] == pytest.approx(worst, rel=1e-9)
    col, better = {"coverage": ("share", max), "median": ("mean_minutes", min), "center": ("max_minutes", min)}[objective]
    best_row = tab[tab["rank"] == 1].iloc[0]
    assert best_row[col] == better(tab[col]) and res.best["id"] == best_row["id"]
    # never worse than staying
    cur = tab.iloc[0]
    assert (best_row[col] >= cur[col]) if objective == "coverage" else (best_row[col] <= cur[col])
    s = res.summary
    assert s["share_after"] == pytest.approx(best_row["share"]) and "access_mean_after" in s
    assert set(["share_before", "share_after", "access_before", "access_after"]) <= set(res.areas.columns)
    assert len(res.areas) == 2


def test_default_candidates_near_the_facility_and_staying_when_best():
    study, _ = setup(seed=2)
    fid = study.facilities.loc[study.facilities["type"] == "health_centre", "id"].iloc[0]
    res = relocate_one(study, "health_centre", fid, objective="median", near_m=300)
    assert len(res.candidates) > 3 and (res.candidates["source"].iloc[1:] == "node").all()
    # the best is at least as good as the current place
    assert res.candidates["mean_minutes"].min() == pytest.approx(res.candidates.loc[res.candidates["rank"] == 1, "mean_minutes"].iloc[0])
    assert res.summary["mean_minutes_after"] <= res.summary["mean_minutes_before"] + 1e-9


def test_messages():
    study, cands = setup()
    with pytest.raises(InputError) as e:
        relocate_one(study, "health_centre", "nope", candidates=cands)
    assert "has the id 'nope'" in e.value.en and "「nope」" in e.value.zh
    fid = study.facilities.loc[study.facilities["type"] == "health_centre", "id"].iloc[0]
    with pytest.raises(InputError, match="Unknown objective"):
        relocate_one(study, "health_centre", fid, objective="fast", candidates=cands)
    with pytest.raises(InputError, match="at least the goal"):
        relocate_one(study, "health_centre", fid, candidates=cands, cutoff_minutes=5)


def test_write_relocation(tmp_path):
    import json

    import pandas as pd

    from planner.relocate import write_relocation

    study, cands = setup()
    fid = study.facilities.loc[study.facilities["type"] == "health_centre", "id"].iloc[1]
    res = relocate_one(study, "health_centre", fid, objective="median", candidates=cands)
    written = write_relocation(res, tmp_path)
    assert set(written) == {"candidates.csv", "areas.csv", "summary.json"}
    tab = pd.read_csv(tmp_path / "candidates.csv", encoding="utf-8-sig")
    assert tab["rank"].tolist() == sorted(tab["rank"]) and tab["id"].iloc[0] == res.best["id"]
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["facility_id"] == fid
