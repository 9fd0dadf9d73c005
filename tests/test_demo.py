"""The synthetic demo district: determinism, graph invariants, gated compounds, the river, and the written files."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from planner import InputError
from planner.config import default_types
from planner.demo import DemoDistrict, make_district, nodes_for_scale, write_demo

UTM = "EPSG:32651"


@pytest.fixture(scope="module")
def small() -> DemoDistrict:
    return make_district(seed=7, scale=0.3)


@pytest.fixture(scope="module")
def full() -> DemoDistrict:
    return make_district(seed=7, scale=1.0)


def _edge_lines(raw) -> np.ndarray:
    counts = np.diff(raw.geom_offsets)
    coords = np.column_stack([raw.geom_lon, raw.geom_lat])
    return shapely.linestrings(coords, indices=np.repeat(np.arange(raw.n_edges), counts))


def _components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    adj = sp.coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def _utm_area(geom) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(UTM).area.iloc[0])


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_arrays():
    a, b = make_district(seed=3, scale=0.2), make_district(seed=3, scale=0.2)
    for field in ("node_id", "lon", "lat", "edge_u", "edge_v", "geom_lon", "geom_lat", "geom_offsets", "highway", "name"):
        np.testing.assert_array_equal(getattr(a.raw, field), getattr(b.raw, field), err_msg=field)
    pd.testing.assert_frame_equal(a.facilities, b.facilities)
    pd.testing.assert_frame_equal(a.demand, b.demand)
    pd.testing.assert_frame_equal(a.areas, b.areas)
    assert a.boundary.equals(b.boundary)


def test_other_seed_gives_another_district():
    a, b = make_district(seed=3, scale=0.2), make_district(seed=4, scale=0.2)
    assert a.raw.n_nodes != b.raw.n_nodes or not np.array_equal(a.raw.lon, b.raw.lon)


# --------------------------------------------------------------------------- graph invariants


@pytest.mark.parametrize("which", ["small", "full"])
def test_rawgraph_invariants(which, request):
    d = request.getfixturevalue(which)
    raw = d.raw
    n, m = raw.n_nodes, raw.n_edges
    assert raw.mode == "walk" and "synthetic" in raw.source and "seed=7" in raw.source
    assert len(raw.lon) == len(raw.lat) == n and len(np.unique(raw.node_id)) == n
    assert len(raw.edge_v) == len(raw.oneway) == len(raw.highway) == len(raw.name) == len(raw.way_id) == m
    assert raw.edge_u.min() >= 0 and raw.edge_v.min() >= 0 and max(raw.edge_u.max(), raw.edge_v.max()) < n
    # WGS-84 around Changning
    assert 121.2 < raw.lon.min() and raw.lon.max() < 121.6 and 31.0 < raw.lat.min() and raw.lat.max() < 31.4
    off = raw.geom_offsets
    assert off[0] == 0 and off[-1] == len(raw.geom_lon) == len(raw.geom_lat) and (np.diff(off) >= 2).all()
    np.testing.assert_array_equal(raw.geom_lon[off[:-1]], raw.lon[raw.edge_u])
    np.testing.assert_array_equal(raw.geom_lat[off[:-1]], raw.lat[raw.edge_u])
    np.testing.assert_array_equal(raw.geom_lon[off[1:] - 1], raw.lon[raw.edge_v])
    np.testing.assert_array_equal(raw.geom_lat[off[1:] - 1], raw.lat[raw.edge_v])
    # no zero-length edges, no self loops, no duplicate edges, no two nodes at one place
    assert (raw.edge_u != raw.edge_v).all()
    length_m = gpd.GeoSeries(_edge_lines(raw), crs="EPSG:4326").to_crs(UTM).length.to_numpy()
    assert length_m.min() > 1.0
    lo, hi = np.minimum(raw.edge_u, raw.edge_v), np.maximum(raw.edge_u, raw.edge_v)
    assert np.unique(lo * n + hi).size == m
    assert np.unique(np.column_stack([raw.lon, raw.lat]), axis=0).shape[0] == n
    assert not raw.oneway.any()
    assert all(isinstance(h, str) and h for h in raw.highway)
    assert all(isinstance(s, str) for s in raw.name)
    assert {"primary", "secondary", "residential", "service", "footway"} <= set(raw.highway)
    # one connected component
    assert np.unique(_components(n, raw.edge_u, raw.edge_v)).size == 1


def test_node_count_for_scale_is_close(small, full):
    for d in (small, full):
        predicted = nodes_for_scale(d.scale)
        assert abs(d.raw.n_nodes - predicted) <= 0.25 * predicted, (d.scale, d.raw.n_nodes, predicted)
    assert 20_000 <= full.raw.n_nodes <= 30_000


# --------------------------------------------------------------------------- compounds and the river


def test_compounds_are_reached_only_through_their_gates(full):
    raw = full.raw
    lines = _edge_lines(raw)
    compounds = full.compounds
    assert len(compounds) > 100 and compounds["n_gates"].between(1, 3).all()
    rng = np.random.default_rng(0)
    for idx in rng.choice(len(compounds), size=25, replace=False):
        row = compounds.iloc[idx]
        inside = shapely.contains_xy(row.geometry, raw.lon, raw.lat)
        assert inside.sum() >= 4
        crossing = inside[raw.edge_u] != inside[raw.edge_v]
        assert crossing.sum() == row["n_gates"], row["compound_id"]
        # no street runs through the compound: only internal lanes and gate links touch it
        touching = shapely.intersects(lines, row.geometry)
        assert not (touching & ~inside[raw.edge_u] & ~inside[raw.edge_v]).any()
        # without its gate links the compound's lanes are cut off from the rest
        keep = ~crossing
        labels = _components(raw.n_nodes, raw.edge_u[keep], raw.edge_v[keep])
        assert not np.isin(labels[inside], labels[~inside]).any()


def test_river_is_crossed_only_at_bridges(full):
    raw = full.raw
    crosses = shapely.intersects(_edge_lines(raw), full.river)
    assert crosses.sum() == full.n_bridges
    assert 3 <= full.n_bridges <= 7  # about one per 1-1.5 km across a 6 km district
    # the bridges are the only links between the banks
    keep = ~crosses
    labels = _components(raw.n_nodes, raw.edge_u[keep], raw.edge_v[keep])
    assert np.unique(labels).size == 2


# --------------------------------------------------------------------------- residents, areas, facilities


def test_demand_total_and_columns(full, small):
    dem = full.demand
    assert list(dem.columns[:4]) == ["id", "population", "compound_id", "area_id"] and dem.crs.to_epsg() == 4326
    assert 300_000 <= dem["population"].sum() <= 500_000
    assert dem["population"].dtype == float and (dem["population"] > 0).all() and dem["id"].is_unique
    per_compound = dem.groupby("compound_id")["population"].sum()
    assert per_compound.between(799.0, 6001.0).all()
    # scale is an area multiplier: population grows about linearly
    assert 0.2 < small.demand["population"].sum() / dem["population"].sum() < 0.4
    assert set(dem["area_id"]) <= set(full.areas["area_id"])
    assert shapely.contains(full.boundary, dem.geometry.values).all()
    b = full.buildings
    assert len(b) == len(dem) and b["residential"].all() and set(b["levels"]) <= {6, 11, 14, 18, 24, 30}


def test_areas_cover_the_boundary_without_overlap(full):
    areas = full.areas
    assert 4 <= len(areas) <= 6 and areas["area_id"].is_unique
    assert areas["name"].str.match(r"^示范.+街道（合成）$").all()
    assert areas["name_en"].str.contains("(synthetic)", regex=False).all()
    a = areas.to_crs(UTM)
    union = a.union_all().area
    boundary = _utm_area(full.boundary)
    assert union == pytest.approx(boundary, rel=1e-4)
    assert a.area.sum() == pytest.approx(union, rel=1e-6)  # no overlap
    assert 30e6 < boundary < 42e6


def test_every_facility_type_is_present_and_placed_beside_streets(full):
    fac = full.facilities
    # hospitals are a district-level reference type (--type hospital), not placed in the synthetic district
    assert set(fac["type"]) == set(default_types()) - {"hospital"}
    assert fac["id"].is_unique and fac["name"].str.contains("合成").all()
    np.testing.assert_allclose(fac["lon"], fac.geometry.x)
    assert (fac.groupby("area_id")["type"].apply(lambda t: (t == "health_centre").sum()) == 1).all()
    # beside a street or path (5-40 m), never on a graph node
    raw = full.raw
    pts = fac.to_crs(UTM).geometry.values
    lines = gpd.GeoSeries(_edge_lines(raw), crs="EPSG:4326").to_crs(UTM).values
    nodes = gpd.GeoSeries(shapely.points(raw.lon, raw.lat), crs="EPSG:4326").to_crs(UTM).values
    d_edge = shapely.distance(pts, lines[shapely.STRtree(lines).query_nearest(pts, return_distance=False, all_matches=False)[1]])
    d_node = shapely.distance(pts, nodes[shapely.STRtree(nodes).query_nearest(pts, return_distance=False, all_matches=False)[1]])
    assert d_edge.max() < 45.0 and d_node.min() > 1.0
    assert shapely.contains(full.boundary, fac.geometry.values).all()


def test_one_subdistrict_is_under_served(full):
    fac = full.facilities
    under = fac[fac["area_id"] == full.underserved_area_id]
    others = fac[fac["area_id"] != full.underserved_area_id]
    assert (under["type"] == "service_station").sum() == 1
    assert not {"rehab_centre", "nursing_centre", "fever_sentinel"} & set(under["type"])
    pop = full.demand.groupby("area_id")["population"].sum()
    aed_per_10k = fac[fac["type"] == "aed"].groupby("area_id").size() / pop * 1e4
    assert aed_per_10k[full.underserved_area_id] < 0.5 * aed_per_10k.drop(full.underserved_area_id).min()
    assert len(others) > len(under)


def test_labels_say_synthetic(small):
    assert small.label_zh == "示范区（合成数据）" and small.label_en == "Demo district (synthetic)"
    assert all("合成" in n for n in small.raw.name if n)
    assert small.compounds["name"].str.contains("合成").all()


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"scale": 0}, "scale"), ({"scale": "big"}, "scale"), ({"scale": float("nan")}, "scale"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed")],
)
def test_bad_arguments_are_refused_with_a_message(kwargs, word):
    with pytest.raises(InputError) as err:
        make_district(**kwargs)
    assert word in err.value.message("en") and word in err.value.message("zh")
    with pytest.raises(InputError, match="between"):
        nodes_for_scale(-1)


# --------------------------------------------------------------------------- files


def test_write_demo_files_read_back(tmp_path):
    osmium = pytest.importorskip("osmium")
    d = make_district(seed=7, scale=0.3)
    paths = write_demo(tmp_path / "demo", seed=7, scale=0.3)
    assert set(paths) == {"facilities", "demand", "areas", "osm"} and all(p.parent == tmp_path / "demo" for p in paths.values())

    fac = pd.read_csv(paths["facilities"])
    assert list(fac.columns) == ["id", "name", "type", "lon", "lat"] and len(fac) == len(d.facilities)
    assert list(fac["name"]) == list(d.facilities["name"])
    dem = pd.read_csv(paths["demand"])
    assert list(dem.columns) == ["id", "lon", "lat", "population"] and len(dem) == len(d.demand)
    assert dem["population"].sum() == pytest.approx(d.demand["population"].sum())
    areas = gpd.read_file(paths["areas"])
    assert len(areas) == len(d.areas) and list(areas["name"]) == list(d.areas["name"])

    root = ET.parse(paths["osm"]).getroot()
    n_interior = int((np.diff(d.raw.geom_offsets) - 2).sum())
    assert len(root.findall("node")) == d.raw.n_nodes + n_interior
    assert len(root.findall("way")) == d.raw.n_edges

    class Count(osmium.SimpleHandler):
        def __init__(self):
            super().__init__()
            self.nodes = self.ways = 0
            self.highway: set[str] = set()

        def node(self, n):
            self.nodes += 1

        def way(self, w):
            self.ways += 1
            self.highway.add(w.tags.get("highway"))

    counter = Count()
    counter.apply_file(str(paths["osm"]))
    assert counter.nodes == d.raw.n_nodes + n_interior and counter.ways == d.raw.n_edges
    assert counter.highway == set(d.raw.highway)
