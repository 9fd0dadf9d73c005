"""Access (2SFCA / E2SFCA): the array core against brute force and PySAL access, catchment times against
full Dijkstra, the study-level function on grids and the demo, statistics, messages and the CLI command."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from planner import fca as A
from planner._errors import InputError
from planner.demand import demand_from_points
from planner.network import network_from_xy, snap_points
from planner.scenario import Study
from planner.travel import nearest
from tests.helpers import X0, Y0, grid_study


# ------------------------------------------------------------------------- oracles
def brute_access(t, supply, pop, minutes, weight):
    """Dense double loop straight from the formula: t[f, p] minutes (inf: unreachable)."""
    n_f, n_p = t.shape
    ratio = np.zeros(n_f)
    for j in range(n_f):
        d = sum(weight(t[j, k]) * pop[k] for k in range(n_p) if t[j, k] <= minutes)
        ratio[j] = supply[j] / d if d > 0 else 0.0
    out = np.zeros(n_p)
    for i in range(n_p):
        out[i] = 1000.0 * sum(weight(t[j, i]) * ratio[j] for j in range(n_f) if t[j, i] <= minutes)
    return out


def step_weight(minutes):
    def w(x):
        if x <= minutes / 3:
            return 1.0
        if x <= 2 * minutes / 3:
            return 0.68
        return 0.22
    return w


def random_pairs(seed, n_f=7, n_p=40, minutes=15.0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1.6 * minutes, (n_f, n_p))
    t[rng.random((n_f, n_p)) < 0.2] = np.inf
    supply = rng.integers(0, 12, n_f).astype(float)
    pop = rng.integers(0, 300, n_p).astype(float)
    f, p = np.nonzero(np.isfinite(t))
    return t, f, p, t[f, p], supply, pop


# ------------------------------------------------------------------------- array core
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_fca_equals_brute_force(seed, decay):
    m = 15.0
    t, f, p, tt, supply, pop = random_pairs(seed, minutes=m)
    weight = {"none": lambda x: 1.0, "step": step_weight(m), "gaussian": lambda x: np.exp(-x * x / (2 * 4.0 ** 2))}[decay]
    res = A.fca(f, p, tt, supply, pop, minutes=m, decay=decay, gaussian_sigma=4.0 if decay == "gaussian" else None)
    want = brute_access(t, supply, pop, m, weight)
    np.testing.assert_allclose(res.access, want, rtol=1e-12, atol=1e-12)
    assert (res.access >= 0).all()
    assert np.array_equal(res.reach_count, (t <= m).sum(axis=0))


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_fca_conserves_supply(decay):
    """sum_i P_i A_i / 1000 = total supply of facilities that reach a resident, whatever the decay."""
    t, f, p, tt, supply, pop = random_pairs(5)
    res = A.fca(f, p, tt, supply, pop, minutes=15.0, decay=decay)
    served = supply[res.catchment_demand > 0].sum()
    assert np.isclose((pop * res.access).sum() / 1000.0, served, rtol=1e-12)


def test_step_weights_boundaries_inclusive():
    w = A.decay_weights(np.array([0.0, 5.0, 5.0 + 1e-6, 10.0, 10.1, 15.0, 15.0 + 1e-6, np.inf]), minutes=15.0, decay="step")
    assert w.tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0, 0.0]
    g = A.decay_weights(np.array([0.0, 7.5, 15.0, 15.01]), minutes=15.0, decay="gaussian")
    np.testing.assert_allclose(g, [1.0, np.exp(-0.5), np.exp(-2.0), 0.0])  # default sigma = M/2
    assert A.decay_weights(np.array([15.0, 15.5]), minutes=15.0, decay="none").tolist() == [1.0, 0.0]


def test_unreached_point_has_zero_access_and_idle_facility_flagged():
    # facility 0 reaches demand 0 only; facility 1 reaches only demand 1, which has no residents
    res = A.fca([0, 1], [0, 1], [3.0, 4.0], [5.0, 7.0], [100.0, 0.0, 50.0], minutes=15.0, decay="none")
    assert res.access.tolist() == [50.0, 0.0, 0.0]
    assert res.idle.tolist() == [False, True]
    assert res.reach_count.tolist() == [1, 1, 0]


def pysal_access(t_pairs, f, p, supply, pop, minutes, decay, sigma=None):
    access = pytest.importorskip("access")
    from access import weights

    dem = pd.DataFrame({"geoid": [f"d{i}" for i in range(len(pop))], "pop": pop}).set_index("geoid")
    sup = pd.DataFrame({"geoid": [f"f{j}" for j in range(len(supply))], "s": supply}).set_index("geoid")
    cost = pd.DataFrame({"origin": [f"d{i}" for i in p], "dest": [f"f{j}" for j in f], "cost": t_pairs})
    acc = access.Access(demand_df=dem, demand_index=True, demand_value="pop", supply_df=sup, supply_index=True,
                        supply_value="s", cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    if decay == "none":
        out = acc.two_stage_fca(name="a", max_cost=minutes)
    elif decay == "step":
        fn = weights.step_fn({minutes / 3: 1.0, 2 * minutes / 3: 0.68, minutes: 0.22})
        out = acc.enhanced_two_stage_fca(name="a", max_cost=minutes, weight_fn=fn)
    else:
        out = acc.two_stage_fca(name="a", max_cost=minutes, weight_fn=weights.gaussian(sigma))
    s = out["a_s"].reindex([f"d{i}" for i in range(len(pop))]).fillna(0.0)
    return 1000.0 * s.to_numpy()


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_fca_equals_pysal_access(decay):
    t, f, p, tt, supply, pop = random_pairs(11, n_f=9, n_p=60)
    pop[pop == 0] = 1.0  # PySAL divides by zero for a facility whose catchment has no residents
    res = A.fca(f, p, tt, supply, pop, minutes=15.0, decay=decay, gaussian_sigma=6.0 if decay == "gaussian" else None)
    want = pysal_access(tt, f, p, supply, pop, 15.0, decay, sigma=6.0)
    np.testing.assert_allclose(res.access, want, rtol=1e-9, atol=1e-12)


def test_weighted_gini_equals_double_sum():
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 1.0, 50)
    x[:5] = 0.0
    w = rng.integers(0, 20, 50).astype(float)
    pairs = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
    want = pairs / (2 * w.sum() ** 2 * np.average(x, weights=w))
    assert np.isclose(A.weighted_gini(x, w), want, rtol=1e-12)
    assert A.weighted_gini(np.full(5, 3.0), np.ones(5)) == pytest.approx(0.0, abs=1e-15)
    assert np.isnan(A.weighted_gini(np.zeros(4), np.ones(4)))
    # one resident holds everything among n equal weights: (n - 1) / n
    assert A.weighted_gini([0, 0, 0, 8.0], [1, 1, 1, 1]) == pytest.approx(0.75)


def test_worked_example_in_docs():
    """docs/access.md: two centres, three compounds, 15 minutes."""
    args = ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [4, 8, 14, 12, 3], [4, 2], [2000, 1000, 3000])
    pop = np.array([2000, 1000, 3000.0])
    e2 = A.fca(*args, minutes=15, decay="step")
    np.testing.assert_allclose(e2.catchment_demand, [3340, 1440])
    np.testing.assert_allclose(e2.access, [1.50316, 2.20326, 0.26347], atol=5e-6)
    assert np.average(e2.access, weights=pop) == pytest.approx(1.0)
    assert A.weighted_gini(e2.access, pop) == pytest.approx(0.407, abs=5e-4)
    two = A.fca(*args, minutes=15, decay="none")
    np.testing.assert_allclose(two.access, [4 / 3 * 1, 4 / 3, 2 / 3])
    assert A.weighted_gini(two.access, pop) == pytest.approx(1 / 6)


# ------------------------------------------------------------------------- catchment times
def jittered_grid(seed=0, n=14, step=70.0):
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(n) * step, np.arange(n) * step, indexing="ij")
    x = xx.ravel() + X0 + rng.uniform(-9, 9, n * n)
    y = yy.ravel() + Y0 + rng.uniform(-9, 9, n * n)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    return network_from_xy(x, y, u, v)


@pytest.mark.parametrize("seed", [0, 1])
def test_catchment_pairs_equal_full_dijkstra(seed):
    net = jittered_grid(seed)
    rng = np.random.default_rng(seed + 7)
    lo, hi = net.x.min(), net.x.max()
    fac = snap_points(net, rng.uniform(lo, hi, 6), rng.uniform(net.y.min(), net.y.max(), 6))
    dem = snap_points(net, rng.uniform(lo, hi, 150), rng.uniform(net.y.min(), net.y.max(), 150))
    limit = 420.0
    f, p, d = A.catchment_pairs(net, fac, dem, limit_m=limit)
    full = np.column_stack([nearest(net, fac.subset([j]), dem)[0] for j in range(len(fac))]).T  # [f, p]
    want_f, want_p = np.nonzero(full <= limit)
    got = dict(zip(zip(f.tolist(), p.tolist()), d.tolist()))
    assert set(got) == set(zip(want_f.tolist(), want_p.tolist()))
    np.testing.assert_allclose([got[k] for k in zip(want_f.tolist(), want_p.tolist())], full[want_f, want_p], rtol=1e-12)


# ------------------------------------------------------------------------- study level
def line_study(pop, supply=(10.0,), fac_nodes=(0,), n=25, speed_kmh=6.0):
    """A straight street of 100 m blocks (1 minute each at 6 km/h); demand on the nodes 1..len(pop)."""
    x = X0 + 100.0 * np.arange(n)
    y = np.full(n, Y0)
    net = network_from_xy(x, y, np.arange(n - 1), np.arange(1, n))
    flon, flat = net.to_lonlat(x[list(fac_nodes)], y[list(fac_nodes)])
    fac = gpd.GeoDataFrame({"id": [f"f{i}" for i in range(len(fac_nodes))], "name": "x", "type": "health_centre",
                            "lon": flon, "lat": flat, "doctors": list(supply)},
                           geometry=gpd.points_from_xy(flon, flat), crs=4326)
    k = np.arange(1, len(pop) + 1)
    dlon, dlat = net.to_lonlat(x[k], y[k])
    dem = demand_from_points(gpd.GeoDataFrame({"id": [f"d{i}" for i in k], "population": np.asarray(pop, float)},
                                              geometry=gpd.points_from_xy(dlon, dlat), crs=4326))
    return Study({"walk": net}, fac, dem, None, label="line"), speed_kmh


def test_hand_checked_line_e2sfca():
    """Residents at 5, 10, 15 and 16 minutes from one facility with 10 doctors, 15-minute catchment:
    weights 1.0, 0.68, 0.22 (both boundaries inclusive) and 0 (outside)."""
    pop = np.zeros(16)
    pop[[4, 9, 14, 15]] = [1000.0, 500.0, 2000.0, 700.0]  # nodes 5, 10, 15, 16
    study, speed = line_study(pop)
    res = A.access(study, "health_centre", supply_column="doctors", minutes=15, speed_kmh=speed)
    d = 1.0 * 1000 + 0.68 * 500 + 0.22 * 2000  # = 1780 weighted residents
    acc = res.demand.set_index("id")["access_per_1000"]
    assert acc["d5"] == pytest.approx(1000 * 1.0 * 10 / d, rel=1e-12)
    assert acc["d10"] == pytest.approx(1000 * 0.68 * 10 / d, rel=1e-12)
    assert acc["d15"] == pytest.approx(1000 * 0.22 * 10 / d, rel=1e-12)
    assert acc["d16"] == 0.0
    near = res.demand.set_index("id")["nearest_minutes"]
    assert near["d16"] == pytest.approx(16.0) and near["d5"] == pytest.approx(5.0)
    assert res.facilities["catchment_demand"].iloc[0] == pytest.approx(d)
    # 2SFCA: everyone within 15 minutes shares the 10 doctors equally
    res0 = A.access(study, "health_centre", supply_column="doctors", minutes=15, speed_kmh=speed, decay="none")
    acc0 = res0.demand.set_index("id")["access_per_1000"]
    assert acc0["d5"] == pytest.approx(10 / 3500 * 1000) and acc0["d15"] == pytest.approx(10 / 3500 * 1000)


def doctors_study(seed=0, n_fac=8):
    s = grid_study(seed=seed, n_fac=n_fac)
    fac = s.facilities.copy()
    fac["doctors"] = np.random.default_rng(seed).integers(1, 9, len(fac)).astype(float)
    return s.with_facilities(fac)


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_study_access_equals_brute_force_and_pysal(decay):
    study = doctors_study()
    fac0 = study.facilities.copy()
    dem0 = study.demand.gdf.copy()
    res = A.access(study, "health_centre", supply_column="doctors", minutes=10, decay=decay, below=0.1)
    # inputs unchanged
    pd.testing.assert_frame_equal(pd.DataFrame(study.facilities), pd.DataFrame(fac0))
    pd.testing.assert_frame_equal(pd.DataFrame(study.demand.gdf), pd.DataFrame(dem0))
    # brute force: full Dijkstra from each facility to every demand point
    net = study.networks["walk"]
    fac = study.facilities[study.facilities["type"] == "health_centre"]
    fs = snap_points(net, *net.to_metric(fac["lon"].to_numpy(), fac["lat"].to_numpy()))
    g = study.demand.gdf
    ds = snap_points(net, *net.to_metric(g.geometry.x.to_numpy(), g.geometry.y.to_numpy()))
    mpm = 4.5 * 1000 / 60
    t = np.column_stack([nearest(net, fs.subset([j]), ds)[0] for j in range(len(fs))]).T / mpm
    sigma = 5.0
    weight = {"none": lambda x: 1.0, "step": step_weight(10.0), "gaussian": lambda x: np.exp(-x * x / (2 * sigma ** 2))}[decay]
    pop = g["population"].to_numpy(float)
    supply = fac["doctors"].to_numpy(float)
    want = brute_access(t, supply, pop, 10.0, weight)
    got = res.demand["access_per_1000"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert (got > 0).any() and (got == 0).any()
    # PySAL access on the same network times
    f, p, tt = res.pairs
    keep = pop[p] >= 0
    py = pysal_access(tt[keep], f[keep], p[keep], supply, np.where(pop > 0, pop, 1e-300), 10.0, decay, sigma=sigma)
    np.testing.assert_allclose(got[pop > 0], py[pop > 0], rtol=1e-9, atol=1e-12)


def test_study_areas_and_summary_statistics():
    study = doctors_study(seed=2)
    res = A.access(study, "health_centre", supply_column="doctors", minutes=12, below=0.2)
    d = res.demand
    assert len(d) == len(study.demand) and (d.index == study.demand.gdf.index).all()
    for _, row in res.areas.iterrows():
        sub = d[d["area_id"] == row["area_id"]]
        w = sub["population"].to_numpy()
        x = sub["access_per_1000"].to_numpy()
        assert row["demand_total"] == pytest.approx(w.sum())
        assert row["access_mean_per_1000"] == pytest.approx(np.average(x, weights=w))
        assert row["share_below"] == pytest.approx(w[x < 0.2].sum() / w.sum())
        assert row["share_no_access"] == pytest.approx(w[x == 0].sum() / w.sum())
        pairs = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
        assert row["access_gini"] == pytest.approx(pairs / (2 * w.sum() ** 2 * np.average(x, weights=w)))
        assert 0 <= row["share_below"] <= 1 and 0 <= row["access_gini"] <= 1
    assert res.areas["facilities"].sum() == len(res.facilities)
    s = res.summary
    assert s["measure"] == "E2SFCA" and s["parameters"]["catchment_minutes"] == 12
    assert s["access"]["mean_per_1000"] == pytest.approx(np.average(d["access_per_1000"], weights=d["population"]))
    # supply is conserved over residents
    served = res.facilities.loc[res.facilities["catchment_demand"] > 0, "supply"].sum()
    assert (d["population"] * d["access_per_1000"]).sum() / 1000 == pytest.approx(served)
    # nearest minutes agree with coverage's nearest facility
    from planner.scenario import run

    cov = run(study, type_keys=["health_centre"], isochrones="none")
    np.testing.assert_allclose(d["nearest_minutes"], cov.demand_table["health_centre_minutes"])
    assert (d["nearest_facility_id"] == cov.demand_table["health_centre_facility_id"]).all()


def test_more_supply_never_lowers_access_and_default_supply_counts_facilities():
    study = doctors_study(seed=4)
    base = A.access(study, "health_centre", supply_column="doctors", minutes=10)
    fac = study.facilities.copy()
    fac.loc[fac.index[0], "doctors"] += 5
    more = A.access(study.with_facilities(fac), "health_centre", supply_column="doctors", minutes=10)
    assert (more.demand["access_per_1000"].to_numpy() >= base.demand["access_per_1000"].to_numpy() - 1e-12).all()
    assert (more.demand["access_per_1000"] > base.demand["access_per_1000"] + 1e-12).any()
    ones = A.access(study, "health_centre", minutes=10)
    fac1 = study.facilities.copy()
    fac1["doctors"] = 1.0
    same = A.access(study.with_facilities(fac1), "health_centre", supply_column="doctors", minutes=10)
    np.testing.assert_allclose(ones.demand["access_per_1000"], same.demand["access_per_1000"])


def test_demo_district_access_equals_pysal():
    pytest.importorskip("access")
    from planner.demo import make_district
    from planner.network import compile_network

    d = make_district(scale=0.3)
    net = compile_network(d.raw)
    fac = d.facilities[d.facilities["type"] == "health_centre"].copy()
    fac["doctors"] = np.arange(len(fac)) % 7 + 2.0
    study = Study({"walk": net}, fac, demand_from_points(d.demand), d.areas, label="demo")
    res = A.access(study, "health_centre", supply_column="doctors", minutes=15, below=0.5)
    f, p, tt = res.pairs
    pop = res.demand["population"].to_numpy()
    py = pysal_access(tt, f, p, fac["doctors"].to_numpy(), np.where(pop > 0, pop, 1e-300), 15.0, "step")
    got = res.demand["access_per_1000"].to_numpy()
    assert (got > 0).sum() > 100
    np.testing.assert_allclose(got[pop > 0], py[pop > 0], rtol=1e-9)
    assert len(res.areas) == len(d.areas)


# ------------------------------------------------------------------------- messages
def test_missing_supply_column_lists_columns():
    study = doctors_study()
    with pytest.raises(InputError) as e:
        A.access(study, "health_centre", supply_column="beds")
    assert "no column 'beds'" in e.value.en and "doctors" in e.value.en
    assert "「beds」" in e.value.zh


def test_bad_supply_values_name_file_row_and_column():
    study = doctors_study()
    fac = study.facilities.copy()
    fac["doctors"] = fac["doctors"].astype(object)
    fac["source_file"] = "stations.csv"
    fac["source_row"] = np.arange(len(fac)) + 2
    hc = np.flatnonzero(fac["type"].to_numpy() == "health_centre")
    fac.iloc[hc[0], fac.columns.get_loc("doctors")] = "3人"
    fac.iloc[hc[1], fac.columns.get_loc("doctors")] = -2
    fac.iloc[hc[2], fac.columns.get_loc("doctors")] = None
    with pytest.raises(InputError) as e:
        A.access(study.with_facilities(fac), "health_centre", supply_column="doctors")
    msg = e.value.message("en")
    assert "3 facilities have no usable supply in column 'doctors'" in msg
    assert f"stations.csv, row {hc[0] + 2}, column 'doctors'" in msg and "'3人' is not a number" in msg
    assert f"row {hc[1] + 2}" in msg and "is negative" in msg
    assert f"row {hc[2] + 2}" in msg and "missing" in msg
    assert "不是数字" in e.value.message("zh")
    # rows of other types are not checked
    other = fac.copy()
    other.loc[other["type"] == "health_centre", "doctors"] = 1
    A.access(study.with_facilities(other), "health_centre", supply_column="doctors")


@pytest.mark.parametrize("kwargs, en", [
    ({"decay": "linear"}, "Unknown decay 'linear'"),
    ({"decay": "gaussian", "gaussian_sigma": 0}, "Gaussian width must be a positive"),
    ({"decay": "step", "gaussian_sigma": 3}, "gaussian_sigma only applies"),
    ({"minutes": -5}, "must be a positive"),
    ({"below": -1}, "threshold must be a number >= 0"),
])
def test_bad_options_are_explained(kwargs, en):
    with pytest.raises(InputError) as e:
        A.access(doctors_study(), "health_centre", **kwargs)
    assert en in e.value.en and e.value.zh != e.value.en


def test_no_facilities_of_type():
    study = doctors_study()
    with pytest.raises(InputError) as e:
        A.access(study, "village_clinic")
    assert "no facilities of type 'village_clinic'" in e.value.en


def test_demand_far_from_streets_is_flagged_not_dropped():
    study = doctors_study()
    g = study.demand.gdf.copy()
    lon, lat = g.geometry.x.to_numpy().copy(), g.geometry.y.to_numpy().copy()
    lon[0] += 0.05  # kilometres away from the grid
    g = g.set_geometry(gpd.points_from_xy(lon, lat, crs=4326))
    study2 = Study(study.networks, study.facilities, demand_from_points(g), study.areas)
    res = A.access(study2, "health_centre", supply_column="doctors", minutes=10)
    assert len(res.demand) == len(g)
    row = res.demand.iloc[0]
    assert bool(row["snapped_too_far"]) and row["access_per_1000"] == 0 and np.isinf(row["nearest_minutes"])
    assert res.summary["demand"]["snapped_too_far"] == 1


def test_write_access_files(tmp_path):
    res = A.access(doctors_study(), "health_centre", supply_column="doctors", minutes=10, below=0.2)
    (tmp_path / "map.html").write_text("old")
    written = A.write_access(res, tmp_path)
    assert set(written) == {"access.csv", "areas.csv", "facilities.csv", "summary.json"}
    assert not (tmp_path / "map.html").exists()  # a stale map of an earlier run is not left behind
    acc = pd.read_csv(tmp_path / "access.csv", encoding="utf-8-sig")
    assert list(acc.columns[:6]) == ["id", "lon", "lat", "population", "area_id", "access_per_1000"]
    assert len(acc) == len(res.demand)
    np.testing.assert_allclose(acc["access_per_1000"], res.demand["access_per_1000"])
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["measure"] == "E2SFCA" and summary["parameters"]["below_per_1000"] == 0.2
    assert not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------------- CLI command
def access_parser():
    from planner.cli import build_parser  # access is a command of the one CLI

    return build_parser()


def demo_facilities_csv(path, *, doctors=None):
    from planner.demo import make_district

    fac = make_district(scale=0.3).facilities
    fac = fac[fac["type"] == "health_centre"]
    table = pd.DataFrame(fac[["id", "name", "type", "lon", "lat"]])
    table["doctors"] = doctors if doctors is not None else np.arange(len(table)) % 5 + 1
    table.to_csv(path, index=False)
    return path


def test_cli_access_writes_files(tmp_path):
    fac = demo_facilities_csv(tmp_path / "centres.csv")
    out = tmp_path / "out"
    args = access_parser().parse_args(["access", "--demo", "--demo-scale", "0.3", "--facilities", str(fac), "--type", "health_centre",
                                       "--supply-column", "doctors", "--below", "0.3", "--lang", "en", "--out", str(out)])
    assert args.func(args) == 0
    acc = pd.read_csv(out / "access.csv", encoding="utf-8-sig")
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["measure"] == "E2SFCA" and summary["parameters"]["supply_column"] == "doctors"
    assert summary["facilities"]["supply_total"] == pd.read_csv(fac)["doctors"].sum()
    assert (acc["access_per_1000"] > 0).any() and acc["nearest_minutes"].notna().all()
    assert {"access_mean_per_1000", "access_gini", "share_below"} <= set(areas.columns) and len(areas) >= 4
    html = (out / "map.html").read_text(encoding="utf-8")  # the access map: residents as an image, areas, legend
    assert "Access: supply per 1,000 residents within reach" in html and "data:image/png;base64," in html
    assert "Subdistrict access" in html and "<script>alert" not in html
    # the same numbers as the library call on the same study
    import planner

    study = planner.load_study(demo=True, demo_scale=0.3, facilities=[fac])  # the same study, through the API
    lib = A.access(study, "health_centre", supply_column="doctors", below=0.3)
    np.testing.assert_allclose(acc["access_per_1000"], lib.demand["access_per_1000"].to_numpy(), rtol=1e-12)


def test_cli_access_bad_supply_names_the_row(tmp_path):
    n = len(pd.read_csv(demo_facilities_csv(tmp_path / "probe.csv")))
    doctors = [str(i % 5 + 1) for i in range(n)]
    doctors[2] = "five"
    fac = demo_facilities_csv(tmp_path / "centres.csv", doctors=doctors)
    out = tmp_path / "out"
    args = access_parser().parse_args(["access", "--demo", "--demo-scale", "0.3", "--facilities", str(fac), "--type", "health_centre",
                                       "--supply-column", "doctors", "--out", str(out)])
    with pytest.raises(InputError) as e:
        args.func(args)
    msg = e.value.message("en")
    assert "centres.csv, row 4, column 'doctors'" in msg and "'five' is not a number" in msg
    assert not (out / "access.csv").exists()  # nothing written on failure
    args2 = access_parser().parse_args(["access", "--demo", "--demo-scale", "0.3", "--facilities", str(fac), "--out", str(out)])
    with pytest.raises(InputError, match="exactly one --type"):
        args2.func(args2)


# ------------------------------------------------------------------------- what-if
def whatif_for(study, minutes=10.0, decay="step"):
    net = study.networks["walk"]
    fac = study.facilities[study.facilities["type"] == "health_centre"]
    g = study.demand.gdf
    fs = snap_points(net, *net.to_metric(fac["lon"].to_numpy(), fac["lat"].to_numpy()))
    ds = snap_points(net, *net.to_metric(g.geometry.x.to_numpy(), g.geometry.y.to_numpy()))
    return A.AccessWhatIf(net, fs, fac["doctors"].to_numpy(float), ds, g["population"].to_numpy(float), minutes=minutes,
                          speed_kmh=4.5, decay=decay, facility_ids=fac["id"].to_numpy(), demand_ids=g["id"].to_numpy())


def full(study, minutes=10.0, decay="step"):
    return A.access(study, "health_centre", supply_column="doctors", minutes=minutes, decay=decay).demand["access_per_1000"].to_numpy()


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_whatif_add_remove_resupply_equal_full_recomputation(decay):
    study = doctors_study(seed=1)
    wi = whatif_for(study, decay=decay)
    np.testing.assert_allclose(wi.access, full(study, decay=decay), rtol=1e-12, atol=1e-12)
    net = study.networks["walk"]
    lon, lat = net.to_lonlat([X0 + 700.0], [Y0 + 1300.0])
    before = wi.access.copy()
    delta = wi.add(float(lon[0]), float(lat[0]), 6.0, site_id="new1")
    fac = study.facilities.copy()
    row = fac.iloc[[0]].copy()
    row[["id", "type", "lon", "lat", "doctors"]] = ["new1", "health_centre", float(lon[0]), float(lat[0]), 6.0]
    fac = pd.concat([fac, row], ignore_index=True)
    s2 = study.with_facilities(fac)
    np.testing.assert_allclose(wi.access, full(s2, decay=decay), rtol=1e-9, atol=1e-12)
    changed = np.flatnonzero(wi.access != before)
    assert set(changed) == set(delta.changed_index) and 0 < len(changed) < len(before)
    assert delta.mean_after > delta.mean_before
    # remove an existing centre
    gone = study.facilities.loc[study.facilities["type"] == "health_centre", "id"].iloc[0]
    wi.remove(gone)
    s3 = s2.with_facilities(fac[fac["id"] != gone])
    np.testing.assert_allclose(wi.access, full(s3, decay=decay), rtol=1e-9, atol=1e-12)
    # more doctors at the new site
    wi.set_supply("new1", 10.0)
    fac4 = fac[fac["id"] != gone].copy()
    fac4.loc[fac4["id"] == "new1", "doctors"] = 10.0
    np.testing.assert_allclose(wi.access, full(study.with_facilities(fac4), decay=decay), rtol=1e-9, atol=1e-12)
    assert "new1" in wi.site_ids and gone not in wi.site_ids


def test_whatif_messages():
    study = doctors_study(seed=1)
    wi = whatif_for(study)
    with pytest.raises(InputError, match="No open site with id 'zz'"):
        wi.remove("zz")
    net = study.networks["walk"]
    lon, lat = net.to_lonlat([X0 + 5000.0], [Y0 + 5000.0])
    with pytest.raises(InputError, match="from the nearest street") as e:
        wi.add(float(lon[0]), float(lat[0]), 3.0)
    assert "路网" in e.value.zh
    first = wi.site_ids[0]
    lon, lat = net.to_lonlat([X0 + 500.0], [Y0 + 500.0])
    with pytest.raises(InputError, match="already exists"):
        wi.add(float(lon[0]), float(lat[0]), 3.0, site_id=first)
    with pytest.raises(InputError, match="must be a number >= 0"):
        wi.add(float(lon[0]), float(lat[0]), -1.0)


def _same_whatif(a, b):
    np.testing.assert_array_equal(a.access, b.access)
    assert a.site_ids == b.site_ids
    for sid in a.site_ids:
        x, y = a._sites[sid], b._sites[sid]
        np.testing.assert_array_equal(x["rows"], y["rows"])
        np.testing.assert_array_equal(x["w"], y["w"])
        assert x["ratio"] == y["ratio"] and x["supply"] == y["supply"]


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_whatif_from_result_equals_the_constructor_through_edits(decay):
    study = doctors_study(seed=1)
    res = A.access(study, "health_centre", supply_column="doctors", minutes=10.0, decay=decay, speed_kmh=4.5)
    kept = res.demand["access_per_1000"].to_numpy().copy()
    net = study.networks["walk"]
    fac = study.facilities[study.facilities["type"] == "health_centre"]
    g = study.demand.gdf
    snap = res.summary["parameters"]["max_snap_m"]
    fs = snap_points(net, *net.to_metric(fac["lon"].to_numpy(), fac["lat"].to_numpy()), max_snap_m=snap)
    ds = snap_points(net, *net.to_metric(g.geometry.x.to_numpy(), g.geometry.y.to_numpy()), max_snap_m=snap)
    ids = [f"existing:{i}" for i in fac["id"]]
    built = A.AccessWhatIf(net, fs, fac["doctors"].to_numpy(float), ds, g["population"].to_numpy(float), minutes=10.0,
                           speed_kmh=4.5, decay=decay, facility_ids=ids, demand_ids=g["id"].to_numpy(), max_snap_m=snap)
    reused = A.AccessWhatIf.from_result(res, net, facility_ids=ids)
    _same_whatif(built, reused)
    np.testing.assert_array_equal(reused.access, kept)
    assert reused.max_snap_m == built.max_snap_m and reused.limit_m == built.limit_m and reused.sigma == built.sigma
    np.testing.assert_array_equal(reused.demand_ids, built.demand_ids)
    # the same sequence of edits on both: equal arrays (and deltas) after every step
    lon, lat = net.to_lonlat([X0 + 700.0, X0 + 1500.0, X0 + 300.0], [Y0 + 1300.0, Y0 + 400.0, Y0 + 900.0])
    edits = [("add", 0, 6.0, "new1"), ("add", 1, 2.0, "new2"), ("remove", ids[0]), ("supply", "new1", 10.0),
             ("remove", "new2"), ("add", 2, 3.0, "new3"), ("remove", "new1"), ("supply", ids[1], 0.0)]
    for e in edits:
        deltas = []
        for wi in (built, reused):
            if e[0] == "add":
                deltas.append(wi.add(float(lon[e[1]]), float(lat[e[1]]), e[2], site_id=e[3]))
            elif e[0] == "remove":
                deltas.append(wi.remove(e[1]))
            else:
                deltas.append(wi.set_supply(e[1], e[2]))
        _same_whatif(built, reused)
        d0, d1 = deltas
        np.testing.assert_array_equal(d0.changed_index, d1.changed_index)
        np.testing.assert_array_equal(d0.access_after, d1.access_after)
        assert d0.mean_before == d1.mean_before and d0.mean_after == d1.mean_after
    assert reused.site_ids == ids[1:] + ["new3"]
    # the result itself is left as computed
    np.testing.assert_array_equal(res.demand["access_per_1000"].to_numpy(), kept)
    # default ids are the result's
    plain = A.AccessWhatIf.from_result(res, net)
    assert plain.site_ids == fac["id"].astype(str).tolist()
    np.testing.assert_array_equal(plain.demand_ids, res.demand["id"].to_numpy())


def test_access_shares_the_coverage_runs_demand_snap():
    from planner.scenario import demand_snap, run

    study = doctors_study(seed=1)
    net = study.networks["walk"]
    run(study, type_keys=["health_centre"], isochrones="none")
    shared = demand_snap(study, net, 300.0)
    res = A.access(study, "health_centre", supply_column="doctors", minutes=10.0)
    assert res.summary["parameters"]["max_snap_m"] == 300.0
    assert res.snaps[1] is shared  # one snap of the residents for coverage and access
    # a study derived with other facilities shares it too, and its values equal a fresh study's
    moved = study.with_facilities(study.facilities.iloc[1:])
    again = A.access(moved, "health_centre", supply_column="doctors", minutes=10.0)
    assert again.snaps[1] is shared
    fresh = A.access(doctors_study(seed=1).with_facilities(study.facilities.iloc[1:]), "health_centre",
                     supply_column="doctors", minutes=10.0)
    pd.testing.assert_frame_equal(again.demand, fresh.demand)
