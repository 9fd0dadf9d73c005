"""planner.osm: OSM parsing into RawGraph, facilities and buildings (tiny hand-made file + real extracts)."""
from __future__ import annotations

import bz2
import gzip
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from planner._errors import InputError, NetworkError
from planner.config import default_types
from planner.network import RawGraph
from planner.osm import (
    FACILITY_RULES,
    HOSPITAL_TYPE,
    facility_rules_markdown,
    facility_type_of,
    osm_buildings,
    osm_facilities,
    raw_from_networkx,
    read_graphml,
    read_osm,
)
from planner.walkability import NO_RULES
from tests.conftest import REPO, shared_file

NANJING_BBOX = (118.763, 32.036, 118.796, 32.052)
SHENZHEN_BBOX = (113.923, 22.541, 113.968, 22.559)

# ------------------------------------------------------------------ the tiny hand-made file
# Layout (lon 121.39x-121.41x, lat 31.19x-31.21x; ids are the numbers):
#   way 100 residential 1-2-3          way 101 footway 4-2-5 (crosses 100 at 2)
#   way 102 motorway 3-6 (never kept)  way 103 residential foot=no 5-7 (bike only)
#   way 104 tertiary oneway=yes 3-8-9  way 105 pedestrian area=yes ring 10..13 (never kept)
#   way 106 residential 1-14-99-15-16, node 99 is missing from the file
#   way 111 footway bicycle=designated 9-17     way 112 residential oneway=-1 18-9
#   way 113 service access=private foot=yes 16-19 (walk only)
#   way 121 residential 15-50-15 (an osmnx-style A-B-A stub)
#   way 122 footway ring 60-61-62-60 (isolated loop)     way 123 service 70-70 (zero length)
NODES = {
    1: (121.400, 31.200), 2: (121.401, 31.200), 3: (121.402, 31.200), 4: (121.401, 31.201),
    5: (121.401, 31.199), 6: (121.403, 31.200), 7: (121.401, 31.198), 8: (121.4025, 31.201),
    9: (121.402, 31.202), 10: (121.3995, 31.2015), 11: (121.4005, 31.2015), 12: (121.4005, 31.2025),
    13: (121.3995, 31.2025), 14: (121.399, 31.200), 15: (121.399, 31.199), 16: (121.398, 31.199),
    17: (121.402, 31.203), 18: (121.403, 31.202), 19: (121.398, 31.198), 50: (121.3985, 31.1985),
    60: (121.405, 31.205), 61: (121.406, 31.205), 62: (121.406, 31.206), 70: (121.407, 31.207),
    # buildings and landuse
    30: (121.395, 31.195), 31: (121.3955, 31.195), 32: (121.3955, 31.1955), 33: (121.395, 31.1955),
    34: (121.390, 31.190), 35: (121.3905, 31.190), 36: (121.3905, 31.1905), 37: (121.390, 31.1905),
    40: (121.3921, 31.1921), 41: (121.3923, 31.1921), 42: (121.3923, 31.1923), 43: (121.3921, 31.1923),
    44: (121.392, 31.192), 45: (121.393, 31.192), 46: (121.393, 31.193), 47: (121.392, 31.193),
    80: (121.410, 31.210), 81: (121.411, 31.210), 82: (121.411, 31.211), 83: (121.410, 31.211),
}
POI = {
    20: ((121.4012, 31.2002), {"emergency": "defibrillator"}),
    21: ((121.4013, 31.2003), {"amenity": "clinic", "name": "某某社区卫生服务站"}),
    22: ((121.4014, 31.2004), {"amenity": "pharmacy", "name": "某某中医大药房"}),
    23: ((121.4015, 31.2005), {"amenity": "doctors", "name": "某某村卫生室"}),
    24: ((121.4016, 31.2006), {"name": "某某社区服务站"}),
    25: ((121.4017, 31.2007), {"highway": "crossing"}),
}
WAYS = [
    (100, [1, 2, 3], {"highway": "residential", "name": "甲路"}),
    (101, [4, 2, 5], {"highway": "footway"}),
    (102, [3, 6], {"highway": "motorway"}),
    (103, [5, 7], {"highway": "residential", "foot": "no"}),
    (104, [3, 8, 9], {"highway": "tertiary", "oneway": "yes", "name": "乙路"}),
    (105, [10, 11, 12, 13, 10], {"highway": "pedestrian", "area": "yes"}),
    (106, [1, 14, 99, 15, 16], {"highway": "residential"}),
    (111, [9, 17], {"highway": "footway", "bicycle": "designated"}),
    (112, [18, 9], {"highway": "residential", "oneway": "-1"}),
    (113, [16, 19], {"highway": "service", "access": "private", "foot": "yes"}),
    (121, [15, 50, 15], {"highway": "residential"}),
    (122, [60, 61, 62, 60], {"highway": "footway"}),
    (123, [70, 70], {"highway": "service"}),
    (107, [30, 31, 32, 33, 30], {"building": "apartments", "building:levels": "6"}),
    (108, [40, 41, 42, 43, 40], {"building": "yes"}),
    (109, [44, 45, 46, 47, 44], {"landuse": "residential"}),
    (110, [34, 35, 36, 37, 34], {"building": "retail", "building:levels": "2"}),
    (130, [80, 81, 82, 83, 80], {"amenity": "hospital", "name": "某某医院"}),
]

WALK_EDGES = {(1, 2), (2, 3), (2, 4), (2, 5), (3, 9), (1, 14), (15, 16), (9, 17), (9, 18), (16, 19), (15, 50), (60, 60)}
BIKE_EDGES = {(1, 3), (5, 7), (3, 9), (1, 14), (15, 16), (9, 17), (9, 18), (15, 50)}  # directed where one-way


def _tags_xml(tags: dict) -> str:
    return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())


def tiny_osm_xml() -> str:
    parts = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in NODES.items():
        parts.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for nid, ((lon, lat), tags) in POI.items():
        parts.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}">{_tags_xml(tags)}</node>')
    for wid, refs, tags in WAYS:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        parts.append(f'<way id="{wid}" version="1">{nds}{_tags_xml(tags)}</way>')
    parts.append("</osm>")
    return "\n".join(parts)


@pytest.fixture
def tiny_osm(tmp_path) -> Path:
    p = tmp_path / "tiny.osm"
    p.write_text(tiny_osm_xml(), encoding="utf-8")
    return p


def edge_ids(raw: RawGraph, directed: np.ndarray | None = None) -> set[tuple[int, int]]:
    """Edges as OSM node-id pairs; two-way ones sorted, one-way ones as (u, v)."""
    out = set()
    for u, v, one in zip(raw.node_id[raw.edge_u], raw.node_id[raw.edge_v], raw.oneway):
        out.add((int(u), int(v)) if one else (int(min(u, v)), int(max(u, v))))
    return out


def check_contract(raw: RawGraph, *, all_nodes_used: bool = True) -> None:
    """Invariants every RawGraph must hold (isolated nodes only come from networkx input)."""
    m, n = raw.n_edges, raw.n_nodes
    assert len(raw.lon) == len(raw.lat) == n and len(np.unique(raw.node_id)) == n
    for arr in (raw.edge_v, raw.oneway, raw.highway, raw.name, raw.way_id):
        assert len(arr) == m
    assert raw.geom_offsets[0] == 0 and raw.geom_offsets[-1] == len(raw.geom_lon) == len(raw.geom_lat)
    assert np.all(np.diff(raw.geom_offsets) >= 2)
    assert raw.edge_u.min() >= 0 and max(raw.edge_u.max(), raw.edge_v.max()) < n
    for arr in (raw.lon, raw.lat, raw.geom_lon, raw.geom_lat):
        assert np.isfinite(arr).all()
    start, end = raw.geom_offsets[:-1], raw.geom_offsets[1:] - 1
    np.testing.assert_array_equal(raw.geom_lon[start], raw.lon[raw.edge_u])
    np.testing.assert_array_equal(raw.geom_lat[start], raw.lat[raw.edge_u])
    np.testing.assert_array_equal(raw.geom_lon[end], raw.lon[raw.edge_v])
    np.testing.assert_array_equal(raw.geom_lat[end], raw.lat[raw.edge_v])
    used = np.zeros(n, dtype=bool)
    used[raw.edge_u] = used[raw.edge_v] = True
    assert used.all() or not all_nodes_used, "every node is used by an edge"


def edge_lengths_m(raw: RawGraph) -> np.ndarray:
    from planner.osm import _haversine_m

    seg = _haversine_m(raw.geom_lon[:-1], raw.geom_lat[:-1], raw.geom_lon[1:], raw.geom_lat[1:])
    seg = np.append(seg, 0.0)
    seg[raw.geom_offsets[1:] - 1] = 0.0  # no segment joins one edge to the next
    c = np.concatenate([[0.0], np.cumsum(seg)])
    return c[raw.geom_offsets[1:] - 1] - c[raw.geom_offsets[:-1]]


def in_box(lon, lat, bbox, pad=0.0) -> np.ndarray:
    return (lon >= bbox[0] - pad) & (lon <= bbox[2] + pad) & (lat >= bbox[1] - pad) & (lat <= bbox[3] + pad)


# ------------------------------------------------------------------ tiny file: street graph
def test_walk_graph_exact(tiny_osm, caplog):
    with caplog.at_level(logging.WARNING, logger="planner.osm"):
        raw = read_osm(tiny_osm, mode="walk")
    check_contract(raw)
    assert raw.mode == "walk" and raw.source == str(tiny_osm)
    assert sorted(raw.node_id.tolist()) == [1, 2, 3, 4, 5, 9, 14, 15, 16, 17, 18, 19, 50, 60]
    assert raw.n_edges == len(WALK_EDGES) == 12
    assert edge_ids(raw) == WALK_EDGES
    assert not raw.oneway.any()
    # the missing node 99 is reported, not fatal
    assert "1 way-node references (1 distinct nodes)" in caplog.text
    # excluded: motorway 102, foot=no 103, area=yes 105; kept: access=private + foot=yes 113
    assert set(raw.way_id.tolist()) == {100, 101, 104, 106, 111, 112, 113, 121, 122}


def test_walk_geometry_and_attributes(tiny_osm):
    raw = read_osm(tiny_osm)
    ids = raw.node_id
    by_way = {}
    for i in range(raw.n_edges):
        seg = slice(raw.geom_offsets[i], raw.geom_offsets[i + 1])
        by_way.setdefault(int(raw.way_id[i]), []).append(
            (int(ids[raw.edge_u[i]]), int(ids[raw.edge_v[i]]), list(zip(raw.geom_lon[seg], raw.geom_lat[seg]))))
    # 3-8-9: node 8 is geometry, not a graph node
    [(u, v, pts)] = by_way[104]
    assert (u, v) == (3, 9) and pts == [NODES[3], NODES[8], NODES[9]]
    # way 106 is cut at the missing node 99 into 1-14 and 15-16
    assert sorted((u, v) for u, v, _ in by_way[106]) == [(1, 14), (15, 16)]
    # the A-B-A stub becomes one edge 15-50 with two points
    [(u, v, pts)] = by_way[121]
    assert {u, v} == {15, 50} and len(pts) == 2
    # the isolated ring stays as a self-loop with its four points
    [(u, v, pts)] = by_way[122]
    assert u == v == 60 and len(pts) == 4 and pts[0] == pts[-1]
    i = int(np.flatnonzero(raw.way_id == 104)[0])
    assert raw.highway[i] == "tertiary" and raw.name[i] == "乙路"
    assert raw.highway.dtype == object and raw.way_id.dtype == np.int64


def test_bike_graph_exact(tiny_osm):
    raw = read_osm(tiny_osm, mode="bike")
    check_contract(raw)
    assert raw.mode == "bike"
    assert sorted(raw.node_id.tolist()) == [1, 3, 5, 7, 9, 14, 15, 16, 17, 18, 50]
    assert edge_ids(raw) == BIKE_EDGES and raw.n_edges == 8
    oneway_ways = set(raw.way_id[raw.oneway].tolist())
    assert oneway_ways == {104, 112}
    # oneway=-1 is reversed so that u -> v is the allowed direction: 18-9 becomes 9 -> 18
    i = int(np.flatnonzero(raw.way_id == 112)[0])
    assert (raw.node_id[raw.edge_u[i]], raw.node_id[raw.edge_v[i]]) == (9, 18)
    # without the footway 4-2-5, node 2 is only geometry on 1-3
    i = int(np.flatnonzero(raw.way_id == 100)[0])
    assert raw.geom_offsets[i + 1] - raw.geom_offsets[i] == 3


def test_bike_oneway_tag_variants(tmp_path):
    def one(tags):
        p = tmp_path / "o.osm"
        body = (f'<node id="1" lat="31.2" lon="121.4"/><node id="2" lat="31.2" lon="121.401"/>'
                f'<way id="7"><nd ref="1"/><nd ref="2"/>{_tags_xml({"highway": "residential", **tags})}</way>')
        p.write_text(f'<?xml version="1.0"?><osm version="0.6">{body}</osm>', encoding="utf-8")
        raw = read_osm(p, mode="bike")
        return bool(raw.oneway[0]), int(raw.node_id[raw.edge_u[0]])

    assert one({"oneway": "yes"}) == (True, 1)
    assert one({"oneway": "true"}) == (True, 1)
    assert one({"oneway": "1"}) == (True, 1)
    assert one({"oneway": "-1"}) == (True, 2)
    assert one({"oneway": "yes", "oneway:bicycle": "no"})[0] is False
    assert one({"junction": "roundabout"}) == (True, 1)
    assert one({"oneway": "no"})[0] is False


def test_compressed_and_unsuffixed_files_give_identical_graphs(tiny_osm, tmp_path):
    data = tiny_osm.read_bytes()
    gz = tmp_path / "tiny.osm.gz"
    gz.write_bytes(gzip.compress(data))
    bz = tmp_path / "tiny.osm.bz2"
    bz.write_bytes(bz2.compress(data))
    bare = tmp_path / "download"  # no suffix: the format is sniffed from the bytes
    bare.write_bytes(data)
    ref = read_osm(tiny_osm, mode="bike")
    for p in (gz, bz, bare):
        raw = read_osm(p, mode="bike")
        for f in ("node_id", "lon", "lat", "edge_u", "edge_v", "geom_lon", "geom_lat", "geom_offsets", "oneway", "way_id"):
            np.testing.assert_array_equal(getattr(raw, f), getattr(ref, f), err_msg=f"{p.name}: {f}")
        assert list(raw.highway) == list(ref.highway)
    fac = osm_facilities(gz)
    assert fac[["id", "type"]].values.tolist() == osm_facilities(tiny_osm)[["id", "type"]].values.tolist()
    assert len(osm_buildings(bz)) == 3


def test_bbox_keeps_edges_with_one_end_inside(tiny_osm):
    # only node 3 (121.402, 31.200) is inside
    raw = read_osm(tiny_osm, bbox=(121.4015, 31.1995, 121.4025, 31.2005))
    check_contract(raw)
    assert edge_ids(raw) == {(2, 3), (3, 9)}


# ------------------------------------------------------------------ errors (messages checked)
def test_missing_file(tmp_path):
    with pytest.raises(NetworkError) as ei:
        read_osm(tmp_path / "nope.osm")
    assert "OSM file not found" in ei.value.message("en") and "找不到 OSM 文件" in ei.value.message("zh")


def test_not_osm(tmp_path):
    p = tmp_path / "notes.osm"
    p.write_text("hello, this is not XML", encoding="utf-8")
    with pytest.raises(NetworkError) as ei:
        read_osm(p)
    assert "is not a readable OSM file" in ei.value.message("en") and "不是可读取的 OSM 文件" in ei.value.message("zh")
    empty = tmp_path / "empty.osm"
    empty.write_bytes(b"")
    with pytest.raises(NetworkError, match="is empty"):
        read_osm(empty)


def test_no_highways_at_all(tmp_path):
    p = tmp_path / "poi.osm"
    p.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="31.2" lon="121.4"/></osm>', encoding="utf-8")
    with pytest.raises(NetworkError) as ei:
        read_osm(p)
    assert "no highway=* ways at all" in ei.value.message("en") and "没有任何 highway" in ei.value.message("zh")


def test_no_highways_for_mode(tmp_path):
    p = tmp_path / "mw.osm"
    p.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="31.2" lon="121.4"/>'
                 '<node id="2" lat="31.2" lon="121.41"/><way id="5"><nd ref="1"/><nd ref="2"/>'
                 '<tag k="highway" v="motorway"/></way></osm>', encoding="utf-8")
    with pytest.raises(NetworkError) as ei:
        read_osm(p, mode="walk")
    en, zh = ei.value.message("en"), ei.value.message("zh")
    assert "none of the 1 highway ways is usable for mode 'walk'" in en and "highway=motorway (1)" in en
    assert "出行方式「walk」" in zh


def test_bad_arguments(tiny_osm):
    with pytest.raises(InputError, match="mode must be one of"):
        read_osm(tiny_osm, mode="drive")
    with pytest.raises(InputError, match="min_lon, min_lat, max_lon, max_lat"):
        read_osm(tiny_osm, bbox=(31.2, 121.4, 31.1, 121.5))
    with pytest.raises(NetworkError, match="no 'walk' edge has an end inside bbox"):
        read_osm(tiny_osm, bbox=(0.0, 0.0, 1.0, 1.0))
    with pytest.raises(InputError, match="Unknown facility type keys"):
        osm_facilities(tiny_osm, types=["aed", "pharmacy"])
    with pytest.raises(InputError, match="OSM file not found"):
        osm_buildings(tiny_osm.with_name("missing.osm"))


# ------------------------------------------------------------------ facilities and buildings
def test_facilities_tiny(tiny_osm, caplog):
    with caplog.at_level(logging.INFO, logger="planner.osm"):
        fac = osm_facilities(tiny_osm)
    assert fac.crs.to_epsg() == 4326
    assert list(fac.columns) == ["id", "name", "type", "osm_tags", "lon", "lat", "source_file", "geometry"]
    assert dict(zip(fac["id"], fac["type"])) == {"n20": "aed", "n21": "service_station", "n23": "village_clinic"}
    assert "type hospital not requested': 1" in caplog.text and "excluded (amenity=pharmacy)': 1" in caplog.text
    row = fac.set_index("id").loc["n21"]
    assert row["name"] == "某某社区卫生服务站" and row["osm_tags"] == "amenity=clinic;name=某某社区卫生服务站"
    assert (row["lon"], row["lat"]) == POI[21][0] and row["source_file"] == str(tiny_osm)
    assert fac.geometry.x.tolist() == fac["lon"].tolist()

    hosp = osm_facilities(tiny_osm, types=[HOSPITAL_TYPE])
    assert hosp["id"].tolist() == ["w130"] and hosp["type"].tolist() == ["hospital"]
    assert hosp["lon"].iloc[0] == pytest.approx(121.4105) and hosp["lat"].iloc[0] == pytest.approx(31.2105)

    only_aed = osm_facilities(tiny_osm, "aed")
    assert only_aed["id"].tolist() == ["n20"]
    none = osm_facilities(tiny_osm, bbox=(0.0, 0.0, 1.0, 1.0))
    assert len(none) == 0 and "type" in none.columns and none.crs.to_epsg() == 4326


def test_skipped_features_come_back_as_a_bilingual_warning(tiny_osm):
    fac = osm_facilities(tiny_osm)
    assert fac.attrs["skipped"] == {"type hospital not requested": 1, "excluded (amenity=pharmacy)": 1}
    (w,) = fac.attrs["warnings"]
    assert w.code == "osm_facilities_skipped" and w.file == str(tiny_osm)
    assert "2 OSM feature(s) were not taken as facilities (3 kept)" in w.en and "--type hospital" in w.en
    assert "未作为设施载入" in w.zh and "--type hospital" in w.zh
    # the reasons too are in Chinese (the app showed "type hospital not requested" in its Chinese page)
    assert "未请求的类型 hospital (1)" in w.zh and "已排除 (amenity=pharmacy) (1)" in w.zh
    assert "not requested" not in w.zh and "excluded" not in w.zh
    # a file whose only facilities are skipped says so without -v
    only_hosp = osm_facilities(tiny_osm, "aed", bbox=(121.4104, 31.2104, 121.4106, 31.2106))
    assert len(only_hosp) == 0 and only_hosp.attrs["warnings"][0].code == "osm_facilities_skipped"


def test_building_hospital_areas_and_node_way_merging(tmp_path):
    """building=hospital and healthcare=* on ways and multipolygon areas; a node and the area of one
    hospital are one facility, a second hospital nearby with another name is not."""
    d = 0.0005  # ~50 m
    nodes = {1: (121.40, 31.20), 2: (121.40 + d, 31.20), 3: (121.40 + d, 31.20 + d), 4: (121.40, 31.20 + d),
             5: (121.41, 31.20), 6: (121.41 + d, 31.20), 7: (121.41 + d, 31.20 + d), 8: (121.41, 31.20 + d),
             9: (121.42, 31.20), 10: (121.42 + d, 31.20), 11: (121.42 + d, 31.20 + d), 12: (121.42, 31.20 + d)}
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in nodes.items():
        xml.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    # the POI node of 甲医院, 20 m from its area; a second, differently named hospital beside it
    xml.append('<node id="50" version="1" lat="31.20027" lon="121.40020"><tag k="amenity" v="hospital"/><tag k="name" v="甲医院"/></node>')
    xml.append('<node id="51" version="1" lat="31.20030" lon="121.40010"><tag k="amenity" v="hospital"/><tag k="name" v="乙医院"/></node>')
    ring = lambda a: "".join(f'<nd ref="{r}"/>' for r in (a, a + 1, a + 2, a + 3, a))  # noqa: E731
    xml.append(f'<way id="60" version="1">{ring(1)}<tag k="building" v="hospital"/><tag k="name" v="甲医院（住院部）"/></way>')
    xml.append(f'<way id="61" version="1">{ring(5)}<tag k="healthcare" v="clinic"/><tag k="name" v="丙诊所"/></way>')
    xml.append(f'<way id="62" version="1">{ring(9)}</way>')
    xml.append('<relation id="70" version="1"><member type="way" ref="62" role="outer"/>'
               '<tag k="type" v="multipolygon"/><tag k="healthcare" v="hospital"/><tag k="name" v="丁医院"/></relation>')
    xml.append("</osm>")
    p = tmp_path / "h.osm"
    p.write_text("\n".join(xml), encoding="utf-8")
    fac = osm_facilities(p, types=["hospital", "service_station"])
    assert dict(zip(fac["id"], fac["name"])) == {"n50": "甲医院", "n51": "乙医院", "w61": "丙诊所", "r70": "丁医院"}
    assert [(a, b) for a, b, _ in fac.attrs["merged"]] == [("n50", "w60")]
    r = fac.set_index("id").loc["r70"]
    assert r["type"] == "hospital" and r["lon"] == pytest.approx(121.42 + d / 2) and r["lat"] == pytest.approx(31.20 + d / 2)
    apart = osm_facilities(p, types=["hospital"], merge_m=0)
    assert len(apart) == 4 and apart.attrs["merged"] == ()
    with pytest.raises(InputError, match="merge_m must be a distance"):
        osm_facilities(p, merge_m=-1)


def test_hospital_is_a_facility_type():
    t = default_types().get_type("hospital")
    assert (t.label_zh, t.label_en) == ("医院", "Hospital") and t.target_minutes > 0 and t.colour.startswith("#")
    assert default_types().resolve("医院") == "hospital" and default_types().resolve("社区医院") == "health_centre"
    # every type a facility rule can give is a planner type
    assert {r.type for r in FACILITY_RULES} <= set(default_types())


@pytest.mark.parametrize(
    "tags, expected",
    [
        ({"building": "hospital"}, "hospital"),
        ({"building": "hospital", "name": "某某社区卫生服务中心"}, "health_centre"),
        ({"emergency": "defibrillator"}, "aed"),
        ({"amenity": "hospital", "name": "长宁区新泾社区卫生服务中心"}, "health_centre"),
        ({"amenity": "hospital", "name": "上海市中医医院"}, "hospital"),
        ({"healthcare": "hospital", "name": "康复医院"}, "hospital"),
        ({"amenity": "clinic", "name": "发热哨点诊室"}, "fever_sentinel"),
        ({"amenity": "clinic", "name": "新华社区卫生服务站"}, "service_station"),
        ({"name": "新华卫生服务站"}, "service_station"),
        ({"name": "社区服务站"}, None),  # a community office, not health
        ({"amenity": "doctors", "name": "张村卫生所"}, "village_clinic"),
        ({"name": "某村卫生室"}, "village_clinic"),
        ({"amenity": "clinic", "name": "社区康复中心"}, "rehab_centre"),
        ({"healthcare": "physiotherapist"}, "rehab_centre"),
        ({"name": "社区护理中心"}, "nursing_centre"),
        ({"amenity": "clinic", "name": "社区健康管理中心"}, "health_mgmt_centre"),
        ({"amenity": "clinic", "name": "中医馆"}, "tcm_hall"),
        ({"amenity": "dentist", "name": "微笑齿科"}, "oral_clinic"),
        ({"amenity": "clinic", "name": "社区口腔诊室"}, "oral_clinic"),
        ({"amenity": "clinic"}, "service_station"),
        ({"amenity": "doctors", "name": "李医生诊所"}, "service_station"),
        ({"amenity": "pharmacy", "name": "中医大药房"}, None),
        ({"healthcare": "pharmacy"}, None),
        ({"shop": "massage", "name": "中医推拿"}, None),
        ({"amenity": "college", "name": "护理学院"}, None),
        ({"healthcare": "laboratory"}, None),
        ({"highway": "crossing"}, None),
    ],
)
def test_facility_type_mapping(tags, expected):
    assert facility_type_of(tags)[0] == expected


def test_rule_types_exist_and_docs_match():
    keys = set(default_types()) | {HOSPITAL_TYPE}
    assert {r.type for r in FACILITY_RULES} <= keys
    doc = (REPO / "docs" / "osm_tags.md").read_text(encoding="utf-8")
    assert facility_rules_markdown() in doc, "docs/osm_tags.md is out of date with FACILITY_RULES"


def test_buildings_tiny(tiny_osm):
    b = osm_buildings(tiny_osm)
    assert b.crs.to_epsg() == 4326 and list(b.columns) == ["id", "building", "levels", "residential", "geometry"]
    b = b.set_index("id")
    assert set(b.index) == {"w107", "w108", "w110"}
    assert b.loc["w107", "levels"] == 6.0 and bool(b.loc["w107", "residential"])  # apartments
    assert np.isnan(b.loc["w108", "levels"]) and bool(b.loc["w108", "residential"])  # inside landuse=residential
    assert b.loc["w110", "levels"] == 2.0 and not bool(b.loc["w110", "residential"])  # retail
    assert b.geometry.geom_type.eq("Polygon").all() and b.is_valid.all()
    assert len(osm_buildings(tiny_osm, bbox=(121.389, 31.189, 121.391, 31.191))) == 1


# ------------------------------------------------------------------ real files
@pytest.fixture
def nanjing_osm() -> Path:
    return shared_file("osm", "nanjing_xuanwu_overpass_20210612.osm.xml")


@pytest.fixture
def shenzhen_osm() -> Path:
    return shared_file("osm", "shenzhen_nanshan_overpass_20210317.osm.xml")


@pytest.fixture
def andorra_pbf() -> Path:
    return shared_file("osm", "andorra_graphhopper_testdata.osm.pbf")


def test_huangpu_walk_and_bike(huangpu_osm, caplog):
    with caplog.at_level(logging.INFO, logger="planner.osm"):
        raw = read_osm(huangpu_osm)
    check_contract(raw)
    assert 700 < raw.n_nodes < 1100 and 800 < raw.n_edges < 1200
    assert in_box(raw.lon, raw.lat, (121.4611, 31.2196, 121.4863, 31.2412), pad=1e-4).all()
    # osmnx's save_graph_xml writes two-way streets as A-B-A: both halves collapse to one edge
    assert "duplicate edges" in caplog.text
    bike = read_osm(huangpu_osm, mode="bike")
    check_contract(bike)
    assert 0 < bike.oneway.sum() < bike.n_edges


def test_huangpu_length_matches_osmnx(huangpu_osm):
    ox = pytest.importorskip("osmnx")
    # osmnx knows nothing of the walkability rules (viaducts, tunnels): compare the general filter
    raw = read_osm(huangpu_osm, rules=NO_RULES)
    ours = edge_lengths_m(raw).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "appears to have been generated by OSMnx"
        G = ox.graph_from_xml(huangpu_osm, simplify=False, retain_all=True)
    shortest: dict[tuple, float] = {}
    for u, v, d in G.edges(data=True):
        k = (min(u, v), max(u, v))
        shortest[k] = min(shortest.get(k, np.inf), d["length"])
    theirs = sum(shortest.values())
    # They differ by a few tenths of a percent because osmnx's graph_from_xml applies no
    # network filter (the 3 access=no ways are in its graph, not in our walk graph), and
    # collapsing osmnx's edges to one per node pair merges the rare parallel ways that we keep.
    assert ours == pytest.approx(theirs, rel=0.03)


def test_nanjing_core_bbox(nanjing_osm):
    raw = read_osm(nanjing_osm, bbox=NANJING_BBOX)
    check_contract(raw)
    assert 400 < raw.n_nodes < 900 and 500 < raw.n_edges < 1100
    inside = in_box(raw.lon, raw.lat, NANJING_BBOX)
    assert (inside[raw.edge_u] | inside[raw.edge_v]).all()
    # edges crossing the box edge are kept whole, but nothing reaches the far relation members
    assert in_box(raw.lon, raw.lat, (118.756, 32.029, 118.800, 32.059), pad=1e-3).all()
    assert 60_000 < edge_lengths_m(raw).sum() < 120_000
    full = read_osm(nanjing_osm)
    assert full.n_edges > raw.n_edges


def test_nanjing_facilities_and_buildings(nanjing_osm):
    # without merging: the 5 amenity=hospital features of SOURCES.md (3 nodes + 2 ways), plus the
    # building=hospital footprints now read
    every = osm_facilities(nanjing_osm, types=[*default_types(), HOSPITAL_TYPE], bbox=NANJING_BBOX, merge_m=0)
    hosp = every[every["type"] == "hospital"]
    assert hosp["osm_tags"].str.contains("amenity=hospital").sum() == 5
    assert set(hosp.loc[~hosp["osm_tags"].str.contains("amenity=hospital"), "id"]) == {"w192941842", "w192941848", "w318197091", "w384477823"}
    fac = osm_facilities(nanjing_osm, types=[*default_types(), HOSPITAL_TYPE], bbox=NANJING_BBOX)
    assert fac["id"].str.match(r"^[nwr]\d+$").all() and not fac["lon"].isna().any()
    # one facility per real place: 八一医院 is a node and an area with a tower on it; 江苏省口腔医院 a node
    # with two unnamed hospital buildings beside it; differently named hospitals are never merged
    named = fac.loc[fac["type"] == "hospital", "name"].tolist()
    assert sorted(n for n in named if n) == ["八一医院", "南京医科大学眼科医院", "江苏省中医院", "江苏省口腔医院"]
    assert {(a, b) for a, b, _ in fac.attrs["merged"]} >= {("n2153973734", "w318197090"), ("n2153973734", "w318197091"),
                                                             ("n772575588", "w192941842"), ("n772575588", "w192941848")}
    assert all(d <= 150 for _, _, d in fac.attrs["merged"])
    (w,) = [w for w in fac.attrs["warnings"] if w.code == "osm_facilities_merged"]
    assert "w318197090 -> n2153973734" in w.en and "已合并" in w.zh
    assert "hospital" not in set(osm_facilities(nanjing_osm)["type"])
    b = osm_buildings(nanjing_osm, bbox=NANJING_BBOX)
    assert 1000 < len(b) <= 1278 and b.is_valid.all()
    from planner.osm import RESIDENTIAL_BUILDINGS

    tagged = b["building"].isin(RESIDENTIAL_BUILDINGS)
    assert tagged.sum() >= 80 and b["residential"].sum() > tagged.sum()  # landuse adds the building=yes ones
    assert (b["levels"].dropna() > 0).all()


def test_shenzhen_core_bbox(shenzhen_osm):
    raw = read_osm(shenzhen_osm, bbox=SHENZHEN_BBOX)
    check_contract(raw)
    assert 1500 < raw.n_nodes < 2600 and 2000 < raw.n_edges < 3500
    inside = in_box(raw.lon, raw.lat, SHENZHEN_BBOX)
    assert (inside[raw.edge_u] | inside[raw.edge_v]).all()
    assert {"footway", "steps"} <= set(raw.highway)
    bike = read_osm(shenzhen_osm, mode="bike", bbox=SHENZHEN_BBOX)
    check_contract(bike)
    assert "steps" not in set(bike.highway) and "footway" in set(raw.highway)
    assert len(osm_facilities(shenzhen_osm, bbox=SHENZHEN_BBOX)) == 0  # only a healthcare=laboratory
    assert len(osm_buildings(shenzhen_osm)) > 400


def test_andorra_pbf_speed_and_size(andorra_pbf):
    t0 = time.perf_counter()
    raw = read_osm(andorra_pbf)
    elapsed = time.perf_counter() - t0
    check_contract(raw)
    # pyrosm's unsimplified walk network has 37,846 edges, one per segment: ours has as many segments
    segments = int(raw.geom_offsets[-1] - raw.n_edges)
    assert segments == pytest.approx(37_846, rel=0.01)
    assert 1500 < raw.n_nodes < 4000
    assert in_box(raw.lon, raw.lat, (1.4089, 42.4171, 1.8165, 42.6943), pad=1e-4).all()
    assert elapsed < 10.0, f"Andorra PBF took {elapsed:.1f} s"
    assert len(osm_facilities(andorra_pbf, types=[HOSPITAL_TYPE])) == 7


# ------------------------------------------------------------------ networkx / GraphML
def test_raw_from_networkx_collapses_two_way_pairs():
    nx = pytest.importorskip("networkx")
    from shapely.geometry import LineString

    G = nx.MultiDiGraph()
    G.add_node(10, x=121.40, y=31.20)
    G.add_node(20, x=121.41, y=31.20)
    G.add_node(30, x=121.41, y=31.21)
    bend = LineString([(121.40, 31.20), (121.405, 31.205), (121.41, 31.20)])
    G.add_edge(10, 20, length=1000.0, highway="primary", name="甲路", osmid=5, oneway=False)
    # the same street stored back (osmnx merges ways into lists): collapses with the one above, and is shorter
    G.add_edge(20, 10, length=999.0, highway=["primary", "secondary"], name=["甲路", "乙路"], osmid=[5, 6], oneway=False)
    G.add_edge(10, 20, length=1500.0, geometry=bend, highway="footway", osmid=7, oneway=False)  # parallel, different
    G.add_edge(20, 30, length=1100.0, geometry=LineString([(121.41, 31.21), (121.41, 31.20)]), highway="residential",
               osmid=8, oneway=True)  # geometry stored v -> u: must be turned around
    before = G.number_of_edges()
    raw = raw_from_networkx(G, source="hand", mode="walk")
    assert G.number_of_edges() == before  # input untouched
    check_contract(raw)
    assert raw.n_edges == 3 and not raw.oneway.any() and raw.source == "hand"
    got = sorted((int(raw.node_id[u]), int(raw.node_id[v]), h) for u, v, h in zip(raw.edge_u, raw.edge_v, raw.highway))
    assert got == [(10, 20, "footway"), (20, 10, "primary"), (20, 30, "residential")]
    i = int(np.flatnonzero(raw.highway == "primary")[0])
    assert raw.way_id[i] == 5 and raw.name[i] == "甲路"  # the shorter copy, first list element
    i = int(np.flatnonzero(raw.highway == "footway")[0])
    assert raw.geom_offsets[i + 1] - raw.geom_offsets[i] == 3
    bike = raw_from_networkx(G, mode="bike")
    check_contract(bike)
    assert bike.oneway.sum() == 1 and bike.n_edges == 3


def test_raw_from_networkx_errors():
    nx = pytest.importorskip("networkx")
    with pytest.raises(NetworkError, match="has no nodes"):
        raw_from_networkx(nx.MultiDiGraph(), source="g")
    G = nx.MultiDiGraph()
    G.add_node(1, x=1.0)
    with pytest.raises(NetworkError) as ei:
        raw_from_networkx(G, source="g")
    assert "1 nodes of graph 'g' lack x/y" in ei.value.message("en") and "缺少 x/y" in ei.value.message("zh")


@pytest.fixture
def huangpu_graph(huangpu_osm):
    ox = pytest.importorskip("osmnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ox.graph_from_xml(huangpu_osm, simplify=True, retain_all=True)


def test_raw_from_osmnx_graph(huangpu_graph):
    G = huangpu_graph
    # without walkability rules every edge of the graph is there
    raw = raw_from_networkx(G, source="huangpu", rules=NO_RULES)
    check_contract(raw, all_nodes_used=False)  # this osmnx graph has isolated nodes; they are kept
    assert raw.n_nodes == len(G)
    assert raw.n_edges < G.number_of_edges()  # two directions collapsed
    pairs = {frozenset((int(raw.node_id[u]), int(raw.node_id[v]))) for u, v in zip(raw.edge_u, raw.edge_v)}
    assert pairs == {frozenset((u, v)) for u, v in G.edges()}
    # same network as the direct parser, within a few percent (osmnx simplification keeps length),
    # with the rules on both sides and without them on both sides
    path = shared_file("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm")
    direct = edge_lengths_m(read_osm(path, rules=NO_RULES))
    assert edge_lengths_m(raw).sum() == pytest.approx(direct.sum(), rel=0.05)
    ruled = raw_from_networkx(G, source="huangpu")
    assert edge_lengths_m(ruled).sum() == pytest.approx(edge_lengths_m(read_osm(path)).sum(), rel=0.05)


def test_graphml_round_trip(huangpu_graph, tmp_path):
    ox = pytest.importorskip("osmnx")
    path = tmp_path / "huangpu.graphml"
    ox.save_graphml(huangpu_graph, path)
    raw = read_graphml(path)
    ref = raw_from_networkx(huangpu_graph)
    check_contract(raw, all_nodes_used=False)
    assert (raw.n_nodes, raw.n_edges) == (ref.n_nodes, ref.n_edges)
    np.testing.assert_allclose(np.sort(edge_lengths_m(raw)), np.sort(edge_lengths_m(ref)), rtol=1e-6)
    assert raw.source == str(path)


def test_read_graphml_errors(tmp_path):
    with pytest.raises(NetworkError, match="GraphML file not found"):
        read_graphml(tmp_path / "none.graphml")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><broken>", encoding="utf-8")
    with pytest.raises(NetworkError) as ei:
        read_graphml(bad)
    assert "could not be read as an osmnx GraphML file" in ei.value.message("en")
    assert "无法作为 osmnx GraphML 文件读取" in ei.value.message("zh")
