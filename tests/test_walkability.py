"""Walkability rules: elevated expressways, road tunnels, motor roads and their ramps are not walkable
and never a snap target; the streets under them are."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planner._errors import InputError
from planner.network import compile_network, load_network, snap_points, snapped_by_class
from planner.osm import raw_from_networkx, read_osm
from planner.travel import nearest
from planner.walkability import NO_RULES, Condition, default_walk_rules, load_walk_rules
from tests.conftest import shared_file

LON0, LAT0 = 121.45, 31.22
M_LON = 111_320.0 * np.cos(np.radians(LAT0))
M_LAT = 110_574.0


def ll(x: float, y: float) -> tuple[float, float]:
    """Local metres east/north of (LON0, LAT0) -> lon, lat."""
    return LON0 + x / M_LON, LAT0 + y / M_LAT


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[int, list[int], dict]]) -> Path:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (x, y) in nodes.items():
        lon, lat = ll(x, y)
        parts.append(f'<node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
    for wid, refs, tags in ways:
        body = "".join(f'<nd ref="{r}"/>' for r in refs) + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        parts.append(f'<way id="{wid}">{body}</way>')
    parts.append("</osm>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def grid_city(tmp_path: Path, *, with_roads: bool = True) -> Path:
    """A 5 x 5 ground grid (200 m blocks) with, above and through it, the roads nobody walks on:
    - 延安高架路: trunk, bridge=yes, 5 m north of the ground street y = 400, with trunk_link ramps
      whose feet (no bridge tag) reach the ground at (0, 600) and (800, 200);
    - 延安东路隧道: trunk, tunnel=yes, diagonally under the blocks, with untagged trunk approaches
      from the corners (0, 800) and (800, 0);
    - a motorroad=yes primary, diagonally from (0, 0) to (800, 800).
    Without the rules each of them is a shortcut or a snap target."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], dict]] = []
    grid = np.arange(25).reshape(5, 5) + 1  # node id at (i, j) -> (200 i, 200 j)
    for i in range(5):
        for j in range(5):
            nodes[int(grid[i, j])] = (200.0 * i, 200.0 * j)
    for j in range(5):  # rows
        ways.append((100 + j, [int(grid[i, j]) for i in range(5)], {"highway": "residential", "name": f"横{j}路"}))
    for i in range(5):  # columns
        ways.append((200 + i, [int(grid[i, j]) for j in range(5)], {"highway": "residential", "name": f"纵{i}路"}))
    if with_roads:
        via = list(range(300, 307))  # (100..700, 405)
        for k, nid in enumerate(via):
            nodes[nid] = (100.0 + 100 * k, 405.0)
        ways.append((400, via, {"highway": "trunk", "bridge": "yes", "name": "延安高架路", "oneway": "yes"}))
        nodes[310], nodes[311] = (50.0, 440.0), (750.0, 370.0)
        ways.append((401, [310, 300], {"highway": "trunk_link", "bridge": "yes", "oneway": "yes"}))
        ways.append((402, [int(grid[0, 3]), 310], {"highway": "trunk_link", "oneway": "yes"}))  # ramp foot
        ways.append((403, [306, 311], {"highway": "trunk_link", "bridge": "yes", "oneway": "yes"}))
        ways.append((404, [311, int(grid[4, 1])], {"highway": "trunk_link", "oneway": "yes"}))  # ramp foot
        nodes[320], nodes[321] = (50.0, 750.0), (750.0, 50.0)
        ways.append((410, [int(grid[0, 4]), 320], {"highway": "trunk", "name": "延安东路隧道"}))  # approach
        ways.append((411, [320, 321], {"highway": "trunk", "tunnel": "yes", "name": "延安东路隧道"}))
        ways.append((412, [321, int(grid[4, 0])], {"highway": "trunk", "name": "延安东路隧道"}))  # approach
        nodes[330] = (400.0, 400.0 - 30.0)  # a bend so it shares no node with the grid
        ways.append((420, [int(grid[0, 0]), 330, int(grid[4, 4])], {"highway": "primary", "motorroad": "yes", "name": "快速路"}))
    return write_osm(tmp_path / ("city.osm" if with_roads else "ground.osm"), nodes, ways)


def minutes(net, fx, fy, px, py, *, with_oracle: bool = False):
    src = snap_points(net, *net.to_metric(*ll_arrays(fx, fy)), max_snap_m=500)
    pts = snap_points(net, *net.to_metric(*ll_arrays(px, py)), max_snap_m=500)
    d, _, _ = nearest(net, src, pts)
    if with_oracle:  # networkx Dijkstra on the same edges and legs
        from tests.test_travel import oracle

        np.testing.assert_allclose(d, oracle(net, src, pts), rtol=1e-12, atol=1e-9)
    return d / (4.5 * 1000 / 60), pts


def ll_arrays(x, y):
    lon, lat = zip(*(ll(a, b) for a, b in zip(x, y)))
    return np.asarray(lon), np.asarray(lat)


def test_grid_city_minutes_equal_the_ground_only_network(tmp_path):
    city = compile_network(read_osm(grid_city(tmp_path)))
    ground = compile_network(read_osm(grid_city(tmp_path, with_roads=False)))
    assert set(city.name) == set(ground.name)  # not one edge of the viaduct, tunnel or motor road
    assert city.n_edges == ground.n_edges
    np.testing.assert_allclose(np.sort(city.length_m), np.sort(ground.length_m), rtol=1e-12)

    rng = np.random.default_rng(3)
    fx, fy = np.array([100.0, 700.0]), np.array([0.0, 800.0])
    # residents anywhere, and a row of them under the viaduct (1-4 m from it, 6-9 m from the street)
    under_x = np.concatenate([np.linspace(125, 175, 10) + 200 * k for k in range(3)])  # between the cross streets
    px = np.concatenate([rng.uniform(0, 800, 150), under_x])
    py = np.concatenate([rng.uniform(0, 800, 150), 400.0 + rng.uniform(6, 9, 30)])
    m_city, snap = minutes(city, fx, fy, px, py)
    m_ground, _ = minutes(ground, fx, fy, px, py, with_oracle=True)
    np.testing.assert_allclose(m_city, m_ground, rtol=1e-12)
    under = snap.edge[150:]
    assert set(city.name[under]) == {"横2路"}  # the ground street y = 400
    assert snapped_by_class(city, snap) == {"residential": 180}

    # the test can fail: without the rules the viaduct takes the residents under it
    raw = read_osm(tmp_path / "city.osm", rules=NO_RULES)
    loose = compile_network(raw)
    m_loose, snap_loose = minutes(loose, fx, fy, px, py)
    assert set(loose.name[snap_loose.edge[150:]]) == {"延安高架路"}
    assert not np.allclose(m_loose, m_ground)


def test_grid_city_audit_counts_every_rule(tmp_path):
    raw = read_osm(grid_city(tmp_path))
    a = raw.audit["dropped_km"]
    assert set(a) == {"elevated_trunk", "trunk_tunnel", "motorroad", "ramp", "approach"}
    assert a["elevated_trunk"] == pytest.approx({"trunk": 0.6, "trunk_link": 2 * np.hypot(50, 35) / 1000}, abs=0.002)
    assert set(a["ramp"]) == {"trunk_link"} and set(a["approach"]) == {"trunk"}
    assert a["approach"]["trunk"] == pytest.approx(2 * np.hypot(50, 50) / 1000, abs=0.001)
    assert a["motorroad"]["primary"] == pytest.approx(1.131, abs=0.01)
    net = compile_network(raw)
    audit = net.audit
    assert audit.kept_km == pytest.approx({"residential": 8.0}, rel=3e-3)  # 8 km of grid, placed by a flat approximation
    # a grid of streets with no footway: flagged as a network for cars, in both languages
    assert audit.driving_network
    (w,) = audit.warnings
    assert w.code == "driving_network" and "no footway, path, pedestrian or steps" in w.en and "步行时间偏乐观" in w.zh


def test_audit_survives_the_compiled_cache(tmp_path):
    path = grid_city(tmp_path)
    first = load_network(path, cache_dir=tmp_path / "cache")
    again = load_network(path, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    assert again.audit == first.audit and again.audit.dropped_total_km("elevated_trunk") > 0.6
    np.testing.assert_array_equal(again.highway_code, first.highway_code)
    # other rules, another cache entry
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "none"\nany = ["nothing=at_all"]\n', encoding="utf-8")
    other = load_network(path, cache_dir=tmp_path / "cache", rules=load_walk_rules(rules))
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    assert "延安高架路" in set(other.name)


def test_sidewalk_or_foot_tags_keep_a_way():
    rules = default_walk_rules()
    bridge = {"highway": "trunk", "bridge": "yes"}
    assert rules.rejection(bridge, "walk") == "elevated_trunk"
    assert rules.rejection({**bridge, "bridge": "no"}, "walk") is None
    assert rules.rejection({**bridge, "bridge": "viaduct"}, "walk") == "elevated_trunk"
    assert rules.rejection({**bridge, "sidewalk": "both"}, "walk") is None
    assert rules.rejection({**bridge, "sidewalk": "no"}, "walk") == "elevated_trunk"
    assert rules.rejection({**bridge, "foot": "designated"}, "walk") is None
    assert rules.rejection({**bridge, "foot": "designated"}, "bike") == "elevated_trunk"
    assert rules.rejection({"highway": "trunk", "tunnel": "building_passage"}, "walk") == "trunk_tunnel"
    assert rules.rejection({"highway": "trunk"}, "walk") is None  # a ground-level trunk road stays
    assert rules.rejection({"highway": "primary", "tunnel": "yes"}, "walk") is None
    assert rules.rejection({"highway": "motorway_link"}, "walk") == "motorway"
    assert rules.rejection({"highway": "residential", "motorroad": "yes"}, "walk") == "motorroad"
    assert rules.rejection({"highway": "primary", "expressway": "yes"}, "walk") == "expressway"
    # osmnx keeps merged attributes as lists: any element counts
    assert rules.rejection({"highway": ["trunk", "trunk_link"], "bridge": ["yes", float("nan")]}, "walk") == "elevated_trunk"


def test_motorway_with_foot_yes_is_walkable(tmp_path):
    nodes = {1: (0.0, 0.0), 2: (300.0, 0.0), 3: (600.0, 0.0)}
    ways = [(1, [1, 2], {"highway": "motorway", "foot": "yes"}), (2, [2, 3], {"highway": "motorway"})]
    raw = read_osm(write_osm(tmp_path / "m.osm", nodes, ways))
    assert raw.n_edges == 1 and raw.audit["dropped_km"] == {"motorway": {"motorway": pytest.approx(0.3, abs=1e-3)}}


def test_rules_from_networkx_graph_match_the_osm_parser(tmp_path):
    nx = pytest.importorskip("networkx")
    raw = read_osm(grid_city(tmp_path), rules=NO_RULES)
    G = nx.MultiDiGraph()
    for i in range(raw.n_nodes):
        G.add_node(int(raw.node_id[i]), x=float(raw.lon[i]), y=float(raw.lat[i]))
    # the tags again, by way id
    tags = {400: {"highway": "trunk", "bridge": "yes", "name": "延安高架路"}, 401: {"highway": "trunk_link", "bridge": "yes"},
            402: {"highway": "trunk_link"}, 403: {"highway": "trunk_link", "bridge": "yes"}, 404: {"highway": "trunk_link"},
            410: {"highway": "trunk", "name": "延安东路隧道"}, 411: {"highway": "trunk", "tunnel": "yes", "name": "延安东路隧道"},
            412: {"highway": "trunk", "name": "延安东路隧道"}, 420: {"highway": "primary", "motorroad": "yes"}}
    for e in range(raw.n_edges):
        w = int(raw.way_id[e])
        G.add_edge(int(raw.node_id[raw.edge_u[e]]), int(raw.node_id[raw.edge_v[e]]),
                   **tags.get(w, {"highway": "residential", "name": raw.name[e]}), osmid=w)
    from_graph = compile_network(raw_from_networkx(G, source="graph"))
    direct = compile_network(read_osm(tmp_path / "city.osm"))
    assert sorted(from_graph.name) == sorted(direct.name)
    assert set(from_graph.audit.dropped_km) == set(direct.audit.dropped_km)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nen = "x"\nhighway = ["trunk"]\n', "each rule needs an id"),
        ('[[rule]]\nid = "a"\n', "neither highway nor any"),
        ('[[rule]]\nid = "a"\nany = ["=yes"]\n', "cannot read the condition '=yes'"),
        ('[[rule]]\nid = "a"\nhighway = "trunk"\n', "highway must be a list of strings"),
        ('[[rule]]\nid = "a"\nhighway = ["trunk"]\n[[rule]]\nid = "a"\nhighway = ["x"]\n', "the id 'a' is used twice"),
        ('[continuation]\napproach_max_m = -1\n', "approach_max_m = -1 must be a number of metres"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_rules_file_errors_name_the_file_and_say_how_to_fix(tmp_path, text, message):
    p = tmp_path / "my_rules.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as ei:
        load_walk_rules(p)
    assert message in ei.value.message("en") and "my_rules.toml" in ei.value.message("en")
    assert "my_rules.toml" in ei.value.message("zh")
    with pytest.raises(InputError, match="not found"):
        load_walk_rules(tmp_path / "none.toml")


def test_condition_syntax():
    assert Condition.parse("bridge!=no", "x").matches({"bridge": "yes"})
    assert not Condition.parse("bridge!=no", "x").matches({})
    assert Condition.parse("foot=yes|designated", "x").matches({"foot": "designated"})
    assert Condition.parse("layer", "x").matches({"layer": "1"})
    assert str(Condition.parse(" sidewalk = both|left ", "x")) == "sidewalk=both|left"


def test_bundled_rules_are_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "osm_tags.md").read_text(encoding="utf-8")
    for r in default_walk_rules().rules:
        assert f"`{r.id}`" in doc


# ------------------------------------------------------------------ the real Huangpu extract
def test_huangpu_nothing_snaps_to_viaducts_or_the_tunnel(tmp_path):
    path = shared_file("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm")
    net = load_network(path, cache_dir=tmp_path)
    banned = {"延安高架路", "南北高架路", "延安东路隧道"}
    assert not banned & set(net.name)
    assert not np.isin(net.highway, ["trunk"]).any()
    # 600 residents across the extract, and 200 right under the viaducts' old centre lines
    loose = load_network(path, cache_dir=tmp_path, rules=NO_RULES)
    rng = np.random.default_rng(0)
    x = rng.uniform(net.x.min(), net.x.max(), 600)
    y = rng.uniform(net.y.min(), net.y.max(), 600)
    on_viaduct = np.flatnonzero(np.isin(loose.name, list(banned)))
    e = rng.choice(on_viaduct, 200)
    ux = (loose.x[loose.edge_u[e]] + loose.x[loose.edge_v[e]]) / 2
    uy = (loose.y[loose.edge_u[e]] + loose.y[loose.edge_v[e]]) / 2
    s = snap_points(net, np.concatenate([x, ux]), np.concatenate([y, uy]))
    assert not banned & set(net.name[s.edge])
    assert "trunk" not in snapped_by_class(net, s)
    # without the rules many of them did snap onto the viaducts
    s_loose = snap_points(loose, np.concatenate([x, ux]), np.concatenate([y, uy]))
    assert np.isin(loose.name[s_loose.edge], list(banned)).sum() > 80


def test_coverage_summary_carries_the_network_audit(tmp_path):
    import json

    import geopandas as gpd

    from planner.demand import demand_from_points
    from planner.scenario import Study, run

    net = load_network(grid_city(tmp_path), cache_dir=tmp_path / "cache")
    rng = np.random.default_rng(1)
    lon, lat = ll_arrays(rng.uniform(0, 800, 60), rng.uniform(0, 800, 60))
    dem = demand_from_points(gpd.GeoDataFrame({"id": [f"d{i}" for i in range(60)], "population": np.full(60, 10.0)},
                                              geometry=gpd.points_from_xy(lon, lat), crs=4326))
    flon, flat = ll_arrays([100.0, 700.0], [0.0, 800.0])
    fac = gpd.GeoDataFrame({"id": ["f0", "f1"], "name": ["甲", "乙"], "type": ["health_centre"] * 2, "lon": flon, "lat": flat},
                           geometry=gpd.points_from_xy(flon, flat), crs=4326)
    res = run(Study({"walk": net}, fac, dem, None, label="grid city"), isochrones="none")
    audit = res.summary["network_audit"]["walk"]
    assert audit["demand_snapped_by_class"] == {"residential": 60}
    assert audit["facilities_snapped_by_class"] == {"residential": 2}
    assert audit["dropped_km"]["elevated_trunk"]["trunk"] == pytest.approx(0.6, abs=0.002)
    assert audit["driving_network"] is True
    assert res.summary["network"]["walk"]["warnings"][0]["code"] == "driving_network"
    assert res.summary["network"]["walk"]["lengths"] == "wgs84"
    json.dumps(res.summary, ensure_ascii=False)


def test_continuations_follow_ramps_and_approaches_and_stop_at_the_ground():
    """Ways as node chains: 0 a viaduct (bridge), 1-2 its ramp foot in two pieces down to ground node 30,
    3 a slip lane (trunk_link) at that ground junction, 4 a ground street through 30; 5 a tunnel,
    6 its trunk approach (200 m), 7 a same-named primary beyond it (350 m from the tunnel: dropped),
    8 100 m more of it (450 m: beyond the 400 m limit, kept), 9 a 500 m trunk from the tunnel's other end
    (kept), 10 an ordinary street."""
    from planner.walkability import find_continuations

    rules = default_walk_rules()
    ways = [
        ([1, 2, 3], "trunk", "高架", 300.0, "elevated_trunk"),
        ([3, 20], "trunk_link", "", 50.0, ""),
        ([20, 30], "trunk_link", "", 60.0, ""),
        ([30, 31], "trunk_link", "", 40.0, ""),
        ([29, 30, 32], "primary", "地面路", 200.0, ""),
        ([40, 41], "trunk", "隧道", 800.0, "trunk_tunnel"),
        ([41, 42], "trunk", "隧道", 200.0, ""),
        ([42, 43], "primary", "隧道", 150.0, ""),
        ([43, 44], "primary", "隧道", 100.0, ""),
        ([40, 50], "trunk", "", 500.0, ""),
        ([44, 45], "residential", "某路", 80.0, ""),
    ]
    refs = np.concatenate([w[0] for w in ways])
    start = np.concatenate([[0], np.cumsum([len(w[0]) for w in ways])])
    hit = np.array([bool(w[4]) for w in ways])
    out = find_continuations(
        rules, refs, start, [w[1] for w in ways], [w[2] for w in ways], np.array([w[3] for w in ways]),
        kept=~hit, protected=np.zeros(len(ways), bool), rule_dropped=hit,
    )
    assert out == {1: "ramp", 2: "ramp", 6: "approach", 7: "approach"}
    # a sidewalk protects a ramp foot, and the chain stops there
    prot = np.zeros(len(ways), bool)
    prot[1] = True
    out = find_continuations(
        rules, refs, start, [w[1] for w in ways], [w[2] for w in ways], np.array([w[3] for w in ways]),
        kept=~hit, protected=prot, rule_dropped=hit,
    )
    assert 1 not in out and 2 not in out
