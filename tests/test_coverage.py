"""Coverage statistics against a direct pandas computation, and the invariants planners rely on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from planner.scenario import run
from tests.helpers import grid_study


@pytest.mark.parametrize("seed", range(3))
def test_shares_match_pandas(seed):
    study = grid_study(seed)
    res = run(study, isochrones="none")
    dt = res.demand_table
    for k, cov in res.coverage.items():
        goal = res.goals[k].target_minutes
        df = pd.DataFrame({"pop": dt["population"], "min": dt[f"{k}_minutes"], "area": dt["area_id"]})
        covered = df.loc[df["min"] <= goal, "pop"].sum()
        s = cov.stats
        assert s["demand_total"] == pytest.approx(df["pop"].sum())
        assert s["demand_covered"] == pytest.approx(covered)
        assert s["coverage_share"] == pytest.approx(covered / df["pop"].sum())
        # bands add up to the total; the bands up to the goal add up to the covered demand
        assert sum(b["demand"] for b in s["bands"]) == pytest.approx(s["demand_total"])
        assert sum(b["demand"] for b in s["bands"][:3]) == pytest.approx(covered)
        # per area
        by_area = df.assign(c=df["pop"].where(df["min"] <= goal, 0)).groupby("area")[["pop", "c"]].sum()
        a = res.areas[res.areas["type"] == k].set_index("area_id")
        for aid, row in by_area.iterrows():
            assert a.loc[aid, "demand_total"] == pytest.approx(row["pop"])
            assert a.loc[aid, "demand_covered"] == pytest.approx(row["c"])
        # population-weighted mean over reachable demand
        fin = np.isfinite(df["min"])
        assert s["mean_minutes"] == pytest.approx(np.average(df["min"][fin], weights=df["pop"][fin]))
        assert s["p90_minutes"] >= s["mean_minutes"] * 0.5


def test_coverage_monotone_in_minutes_and_facilities():
    study = grid_study(1, n_fac=6)
    shares = [run(study, type_keys=["health_centre"], minutes=m, isochrones="none").summary["types"]["health_centre"]["coverage_share"] for m in (3, 6, 9, 12)]
    assert shares == sorted(shares)
    fac = study.facilities
    fewer = study.with_facilities(fac[fac["id"] != "f0"])
    a = run(study, type_keys=["health_centre"], isochrones="none").coverage["health_centre"]
    b = run(fewer, type_keys=["health_centre"], isochrones="none").coverage["health_centre"]
    assert a.stats["coverage_share"] >= b.stats["coverage_share"]
    assert np.all(a.minutes <= b.minutes + 1e-9)


def test_isochrones_nested_and_follow_streets():
    study = grid_study(2)
    res = run(study, type_keys=["health_centre"], isochrones="all", breaks=[5, 10, 15])
    iso = res.isochrones.to_crs(32651)
    d = iso[iso["kind"] == "dissolved"].sort_values("minutes")
    polys = list(d.geometry)
    for small, big in zip(polys, polys[1:]):
        assert shapely.difference(small, big).area < 1e-3 * small.area + 1.0
        assert big.area > small.area
    # every covered demand point lies within the goal polygon (buffered streets) — and a point far
    # from any reached street is outside it
    goal_poly = polys[-1]
    dt = res.demand_table
    pts = shapely.points(*study.networks["walk"].to_metric(dt["lon"], dt["lat"]))
    # covered points whose off-street leg is shorter than the 40 m drawing buffer must be inside
    cov = dt["health_centre_covered"].to_numpy() & (dt["snap_dist_m"].to_numpy() < 39.0)
    inside = shapely.contains(shapely.buffer(goal_poly, 1.0), pts)
    assert cov.sum() > 50 and inside[cov].all()
    # a point inside the drawn polygon is within 40 m of a reached street; on a 100 m grid the
    # network detour to that street is at most 40 + 113 m, i.e. 2.04 min at 4.5 km/h
    far = (dt["health_centre_minutes"].to_numpy() > 17.1) & (dt["snap_dist_m"].to_numpy() < 39.0)
    assert far.sum() > 10 and not inside[far].any()
    # per-facility polygons lie inside the dissolved polygon of the same break
    f15 = iso[(iso["kind"] == "facility") & (iso["minutes"] == 15)]
    for g in f15.geometry:
        assert shapely.difference(g, shapely.buffer(goal_poly, 1.0)).area < 1.0
    # split catchments do not overlap beyond their buffers' touching strips
    split = iso[iso["kind"] == "split"]
    assert len(split) >= 1


def test_isochrone_cut_exact_on_a_line():
    from planner.isochrones import edge_pieces, substrings
    from planner.network import network_from_xy, snap_points
    from planner.travel import nearest_field

    net = network_from_xy([0, 1000], [0, 0], [0], [1])
    src = snap_points(net, [0.0], [0.0])
    field = nearest_field(net, src)
    e, s0, s1 = edge_pieces(net, field.dist_m[net.edge_u], field.dist_m[net.edge_v], 375.0)
    lines = substrings(net, e, s0, s1)
    assert sum(shapely.length(lines)) == pytest.approx(375.0)


def test_inputs_unchanged_and_gaps_hold_uncovered_demand():
    study = grid_study(3)
    before_fac = study.facilities.copy()
    before_dem = study.demand.gdf.copy()
    res = run(study, isochrones="none")
    pd.testing.assert_frame_equal(study.facilities, before_fac)
    pd.testing.assert_frame_equal(study.demand.gdf, before_dem)
    for k, cov in res.coverage.items():
        g = res.gaps[res.gaps["type"] == k]
        uncovered = study.demand.population[~cov.covered].sum()
        assert g["population"].sum() == pytest.approx(uncovered)


def test_unknown_type_message():
    from planner import InputError

    study = grid_study(0)
    with pytest.raises(InputError, match="Unknown facility type 'clinicX'"):
        run(study, type_keys=["clinicX"])


@pytest.mark.parametrize("seed", range(4))
def test_split_catchments_are_exact_on_streets_and_do_not_overlap(seed):
    from planner.isochrones import split_isochrones, split_pieces
    from planner.network import Snap, snap_points
    from planner.travel import nearest, nearest_field
    from tests.test_travel import chainy_network

    net = chainy_network(seed)
    rng = np.random.default_rng(seed)
    src = snap_points(net, rng.uniform(0, 2000, 8), rng.uniform(0, 2000, 8), max_snap_m=300)
    # two facilities on one edge, to exercise the envelope on edges that hold sources
    e0 = int(src.edge[0])
    src = Snap(np.append(src.edge, e0), np.append(src.along_m, net.length_m[e0] * 0.9), np.append(src.dist_m, 3.0),
               np.append(src.too_far, False), src.max_snap_m)
    field = nearest_field(net, src)
    budget = 700.0
    e, s0, s1, owner = split_pieces(net, field, src, budget)
    # sample every piece: the owner is a nearest source, within the budget
    t = rng.uniform(0, 1, len(e))
    pos = s0 + t * (s1 - s0)
    pts = Snap(e, pos, np.zeros(len(e)), np.zeros(len(e), bool), 300.0)
    best, _, _ = nearest(net, src, pts)
    own = np.array([nearest(net, src.subset(np.array([o])), pts.subset(np.array([i])))[0][0] for i, o in enumerate(owner)])
    np.testing.assert_allclose(own, best, atol=1e-6)
    assert np.all(best <= budget + 1e-6)
    # and the pieces cover every reached street: their length equals the dissolved pieces' length
    from planner.isochrones import edge_pieces

    ed, a0, a1 = edge_pieces(net, field.dist_m[net.edge_u], field.dist_m[net.edge_v], budget)
    polys = dict(split_isochrones(net, field, src, minutes=budget / 75.0, speed_kmh=4.5))
    areas = sum(p.area for p in polys.values())
    union = shapely.union_all(list(polys.values()))
    assert areas == pytest.approx(union.area, rel=1e-6)  # no overlap
    assert (s1 - s0).sum() >= (a1 - a0).sum() - 1e-6  # at least the via-node reach (plus same-edge parts)


def test_workbook_stores_formula_like_names_as_text(tmp_path):
    import openpyxl

    from planner.export import write_xlsx

    study = grid_study(0)
    fac = study.facilities.copy()
    fac.loc[fac.index[0], "name"] = '=HYPERLINK("http://evil.example","click")'
    fac.loc[fac.index[1], "id"] = "=1+2"
    res = run(study.with_facilities(fac), isochrones="none")
    write_xlsx(res, tmp_path / "c.xlsx", lang="en")
    ws = openpyxl.load_workbook(tmp_path / "c.xlsx")["facilities"]
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert '=HYPERLINK("http://evil.example","click")' in [c.value for c in cells]


def test_geojson_writer_matches_geopandas():
    import json

    import geopandas as gpd

    from planner.export import geojson_text

    polys = [shapely.box(0, 0, 100, 100), shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
             shapely.Polygon(), None]
    gdf = gpd.GeoDataFrame(
        {"type": ["社区卫生服务中心", "aed", "a\x00geometry\x00b", "x"], "population": [1.5, np.nan, 3.0, 0.0],
         "minutes": [np.inf, 2.0, np.nan, 1e-300], "n": [1, 2, 3, 4], "flag": [True, False, True, False],
         "facility_id": ["F1", None, "", "=1+2"]},
        geometry=polys, crs=32651,
    )
    expected = json.loads(gdf.to_crs(4326).to_json(na="null", drop_id=True))
    assert json.loads(geojson_text(gdf)) == expected
    # without the marker in a property, the one-call path
    assert json.loads(geojson_text(gdf.iloc[[0, 1, 3]])) == json.loads(gdf.iloc[[0, 1, 3]].to_crs(4326).to_json(na="null", drop_id=True))
    assert json.loads(geojson_text(gdf.iloc[:0])) == {"type": "FeatureCollection", "features": []}


def test_area_table_groups_rows_like_a_mask_per_area():
    from planner.coverage_stats import area_table, weighted_quantile

    study = grid_study(1)
    res = run(study, type_keys=["health_centre"], isochrones="none")
    cov = res.coverage["health_centre"]
    pop = res.demand_table["population"].to_numpy()
    rng = np.random.default_rng(0)
    demand_area = rng.choice(np.array(["A", "B", "C", None], dtype=object), len(pop))
    fac_area = np.array(["A"] * len(cov.facility_ids), dtype=object)
    for areas in (pd.DataFrame({"area_id": ["A", "B", "C"], "name": ["a", "b", "c"]}),
                  pd.DataFrame({"area_id": ["A", "B", "A"], "name": ["a", "b", "a again"]})):  # duplicate ids: the slow path
        t = area_table(cov, pop, demand_area, fac_area, areas)
        for row in t.itertuples():
            m = demand_area == row.area_id
            assert row.demand_total == pytest.approx(pop[m].sum())
            assert row.demand_covered == pytest.approx(pop[m & cov.covered].sum())
            assert row.p90_minutes == pytest.approx(weighted_quantile(cov.minutes[m], pop[m], 0.9), nan_ok=True)
        assert t["facilities"].tolist() == [len(fac_area) if a == "A" else 0 for a in areas["area_id"]]


def test_csv_writer_matches_pandas_byte_for_byte(tmp_path):
    from planner.export import csv_text, demand_export, write_csv

    rng = np.random.default_rng(0)
    n = 500
    tricky = np.array(["a,b", 'q"x', "line\nbreak", "", "中文", " sp", "r\rx", "=1+2", "plain"], dtype=object)
    df = pd.DataFrame({
        "id": pd.array(rng.choice(tricky, n), dtype="str"),
        "area_id": np.where(rng.uniform(size=n) < 0.2, None, rng.choice(tricky, n)).astype(object),
        "covered": rng.uniform(size=n) < 0.5,
        "count": rng.integers(-5, 10**12, n),
        "minutes": np.where(rng.uniform(size=n) < 0.1, np.inf, rng.uniform(0, 60, n) ** rng.uniform(-3, 3, n)),
        "snap_dist_m": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.normal(0, 1e6, n)),
        "odd,name": -0.0,
    })
    df.loc[3, "minutes"] = 1e17
    df.loc[4, "minutes"] = 1e-7
    assert csv_text(df) == df.to_csv(index=False)
    assert csv_text(df.iloc[:0]) == df.iloc[:0].to_csv(index=False)
    # a dtype it does not handle goes through pandas
    other = df.assign(when=pd.Timestamp("2026-11-29"), small=np.float32(0.1))
    assert csv_text(other) == other.to_csv(index=False)
    # a whole demand table, as written
    res = run(grid_study(0), isochrones="none")
    d = demand_export(res)
    write_csv(d, tmp_path / "d.csv")
    d.to_csv(tmp_path / "ref.csv", index=False, encoding="utf-8-sig")
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_csv_writer_in_chunks_and_mixed_object_columns(tmp_path, monkeypatch):
    from planner import export

    df = pd.DataFrame({"id": [f"d{i}" for i in range(120)], "x": np.arange(120) / 7.0,
                       "area_id": np.array(["A"] * 119 + [5], dtype=object)})  # a number late in a text column
    orig = export._csv_chunks
    monkeypatch.setattr(export, "_csv_chunks", lambda d, rows=50_000: orig(d, rows=25))
    export.write_csv(df, tmp_path / "a.csv")
    df.to_csv(tmp_path / "b.csv", index=False, encoding="utf-8-sig")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert export.csv_text(df) == df.to_csv(index=False)
    ok = df.assign(area_id="A")
    export.write_csv(ok, tmp_path / "c.csv")
    ok.to_csv(tmp_path / "d.csv", index=False, encoding="utf-8-sig")
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "d.csv").read_bytes()


def test_a_scenario_reuses_its_baselines_snapped_demand(monkeypatch):
    """A scenario with one more site shares the baseline's residents and network: they are snapped once
    (300,000 residents of a Pudong-sized study take seconds), and the figures are those of a fresh study."""
    import planner.scenario as sc
    from planner.study import Study

    study = grid_study(n=12, seed=3, n_fac=4, n_dem=300)
    sizes = []
    real = sc._snap_lonlat
    monkeypatch.setattr(sc, "_snap_lonlat", lambda net, lon, lat, m: sizes.append(len(lon)) or real(net, lon, lat, m))
    run(study, isochrones="none")
    extra = study.facilities.iloc[:1].copy()
    extra["id"] = "new"
    extra["lon"] += 0.002
    more = study.with_facilities(pd.concat([study.facilities, extra], ignore_index=True))
    res = run(more, isochrones="none")
    assert sizes.count(len(study.demand)) == 1  # the demand once, the facilities per run
    fresh = Study(networks=more.networks, facilities=more.facilities, demand=more.demand, areas=more.areas, types=more.types)
    again = run(fresh, isochrones="none")
    for k, s in res.summary["types"].items():
        assert s["coverage_share"] == again.summary["types"][k]["coverage_share"]
    np.testing.assert_array_equal(res.demand_table.filter(like="minutes").to_numpy(),
                                  again.demand_table.filter(like="minutes").to_numpy())
