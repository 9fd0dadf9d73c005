"""maps/: self-contained offline HTML, escaping, GCJ-02 shift, capping, legend, atomic save."""
from __future__ import annotations

import math
import re
from html import escape as html_escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from maps import assets, build, layers, style
from maps.assets import OfflineAssetError, localize_assets, offline_map, to_html
from maps.build import coverage_map, save_map
from planner.config import default_types

HOSTILE = "<script>alert(1)</script>&\"'"


@pytest.fixture(scope="module")
def types():
    return default_types()


def _facilities(n: int = 4) -> pd.DataFrame:
    keys = ["health_centre", "aed", "service_station", "tcm_hall"]
    df = pd.DataFrame({
        "id": [f"F{i}" for i in range(n)],
        "name": [f"站{i}" for i in range(n)],
        "type": [keys[i % 4] for i in range(n)],
        "lon": 121.47 + 0.001 * np.arange(n),
        "lat": 31.23 + 0.0005 * np.arange(n),
    })
    df.loc[0, "name"] = HOSTILE
    return df


def _gaps(n: int = 6) -> gpd.GeoDataFrame:
    cells = [box(121.46 + 0.002 * i, 31.22, 121.462 + 0.002 * i, 31.222) for i in range(n)]
    return gpd.GeoDataFrame(
        {"minutes": [3.0, 8.0, 12.5, np.inf, 20.0, 1.0][:n] + [5.0] * max(0, n - 6),
         "population": np.arange(n) * 10 + 5},
        geometry=cells, crs="EPSG:4326",
    )


def _areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [HOSTILE, "外滩街道"], "coverage_share": [0.42, 0.95]},
                            geometry=[box(121.46, 31.22, 121.47, 31.24), box(121.47, 31.22, 121.48, 31.24)],
                            crs="EPSG:4326")


def _isochrones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"type": ["health_centre"] * 2, "minutes": [5, 15], "facility_id": ["F0", "F0"]},
                            geometry=[Point(121.47, 31.23).buffer(0.004), Point(121.47, 31.23).buffer(0.01)],
                            crs="EPSG:4326")


def _proposals() -> pd.DataFrame:
    return pd.DataFrame({"id": ["P1"], "rank": [1], "lon": [121.465], "lat": [31.235], "marginal_demand": [1234.0]})


def _layer_element(group):
    """The _GeoJsonLayer inside a FeatureGroup (possibly under a MarkerCluster)."""
    for child in group._children.values():
        if isinstance(child, layers._GeoJsonLayer):
            return child
        found = _layer_element(child) if getattr(child, "_children", None) else None
        if found is not None:
            return found
    return None


def _external_srcs(html: str) -> list[str]:
    srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", html, flags=re.I)
    hrefs = re.findall(r"<link[^>]*\bhref\s*=\s*[\"']?([^\"' >]+)", html, flags=re.I)
    return [u for u in srcs + hrefs if u.lower().startswith(("http://", "https://", "//"))]


# ------------------------------------------------------------------ self-contained HTML


def test_full_map_html_is_self_contained(types):
    m = coverage_map(facilities=_facilities(), isochrones=_isochrones(), gaps=_gaps(), areas=_areas(),
                     proposals=_proposals(), types=types, lang="zh", basemap="osm", title="测试")
    html = to_html(m)
    assert _external_srcs(html) == []
    assert "Leaflet 1.9" in html  # the library itself is inlined
    assert "L.map(" in html
    assert "jquery" not in html.lower()
    assert "bootstrap" not in html.lower()
    assert "images/marker-icon.png" not in html  # CSS images are data URIs
    assert "tile.openstreetmap.org" in html  # tiles are the one allowed network use


def test_clustered_map_inlines_markercluster(types):
    m = offline_map((31.23, 121.47), 13)
    layers.facilities_layer(_facilities(600), types, lang="en").add_to(m)
    html = to_html(m)
    assert _external_srcs(html) == []
    assert "markerClusterGroup" in html and "MarkerClusterGroup" in html  # call + inlined library
    assert '"maxZoom": 19' in html  # MarkerCluster needs it when there are no tiles


def test_cluster_only_above_threshold(types):
    small = layers.facilities_layer(_facilities(10), types)
    large = layers.facilities_layer(_facilities(layers.CLUSTER_ABOVE + 1), types)
    names = lambda g: [type(c).__name__ for c in g._children.values()]  # noqa: E731
    assert "MarkerCluster" not in names(small)
    assert "MarkerCluster" in names(large)


def test_unknown_cdn_asset_is_refused_and_known_ones_localised():
    from folium.plugins import Fullscreen

    m = offline_map((31.23, 121.47), 13)
    Fullscreen().add_to(m)  # a plugin whose JS we do not ship
    with pytest.raises(OfflineAssetError, match="Control.FullScreen|fullscreen"):
        to_html(m)
    m2 = localize_assets(offline_map((31.23, 121.47), 13))
    urls = [u for _, u in m2.default_js + m2.default_css]
    assert urls and all(u.startswith("data:") for u in urls)
    assert _external_srcs(to_html(m2)) == []


# ------------------------------------------------------------------ escaping


def test_hostile_strings_are_escaped_in_popups_tooltips_and_legend(types):
    fac = layers.facilities_layer(_facilities(), types, lang="en")
    props = _layer_element(fac).data["features"][0]["properties"]
    for text in (props["_pop"], props["_tip"]):
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;" in text
    area = layers.areas_layer(_areas(), lang="en")
    tips = [f["properties"]["_tip"] for f in _layer_element(area).data["features"]]
    assert any("&lt;script&gt;" in t for t in tips) and not any("<script>" in t for t in tips)
    leg = layers.legend(list(types.values())[:2], lang="en", title=HOSTILE)
    assert "<script>" not in leg.body and "&lt;script&gt;" in leg.body

    m = coverage_map(facilities=_facilities(), areas=_areas(), types=types, title=HOSTILE)
    html = to_html(m)
    assert "<script>alert(1)" not in html
    assert "<title>&lt;script&gt;" in html


def test_template_syntax_in_user_text_reaches_the_page_as_text(types):
    """Names are data: a facility or area called ``{{ 7 * 7 }}`` shows those characters. (branca compiles what
    every layer renders as a Jinja template, so a name was evaluated: 49, or worse; layers now add their text
    verbatim, which also spares seconds of template lexing on a multi-megabyte layer.)"""
    fac = _facilities()
    fac.loc[1, "name"] = "{{ 7 * 7 }}{% if true %}X{% endif %}"
    areas = _areas()
    areas.loc[0, "name"] = "{{ 6 * 7 }}"
    html = to_html(coverage_map(facilities=fac, areas=areas, types=types))
    assert "{{ 7 * 7 }}{% if true %}X{% endif %}" in html and "{{ 6 * 7 }}" in html
    assert "49X" not in html and ">42<" not in html


def test_hostile_type_label_is_escaped(types):
    from planner.config import FacilityType

    bad = types.with_type(FacilityType(key="evil", label_zh=HOSTILE, label_en=HOSTILE, target_minutes=5))
    df = _facilities().assign(type="evil")
    props = _layer_element(layers.facilities_layer(df, bad)).data["features"][1]["properties"]
    assert "<script>" not in props["_pop"] and "&lt;script&gt;" in props["_pop"]


# ------------------------------------------------------------------ GCJ-02


def _metres(lon1, lat1, lon2, lat2) -> float:
    dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    dy = (lat2 - lat1) * 110_574
    return math.hypot(dx, dy)


def test_gcj02_shift_moves_points_a_few_hundred_metres(types):
    df = _facilities(1)
    plain = _layer_element(layers.facilities_layer(df, types)).data["features"][0]["geometry"]["coordinates"]
    shifted = _layer_element(layers.facilities_layer(df, types, shift_gcj02=True)).data["features"][0]
    lon, lat = shifted["geometry"]["coordinates"]
    assert plain == [pytest.approx(121.47), pytest.approx(31.23)]
    assert 300 < _metres(plain[0], plain[1], lon, lat) < 800


def test_amap_basemap_shifts_every_layer(types):
    kwargs = dict(facilities=_facilities(1), gaps=_gaps(1), proposals=_proposals(), types=types)
    osm = coverage_map(basemap="osm", **kwargs)
    amap = coverage_map(basemap="amap", **kwargs)
    assert "autonavi.com" in to_html(amap)

    def firsts(m):
        out = []
        for child in m._children.values():
            el = _layer_element(child) if hasattr(child, "_children") and child._children else None
            if el is not None:
                g = el.data["features"][0]["geometry"]
                xy = g["coordinates"] if g["type"] == "Point" else g["coordinates"][0][0]
                out.append(tuple(xy))
        return out

    pairs = list(zip(firsts(osm), firsts(amap)))
    assert len(pairs) == 3
    for (x0, y0), (x1, y1) in pairs:
        assert 300 < _metres(x0, y0, x1, y1) < 800


# ------------------------------------------------------------------ capping and simplification


def test_gaps_capped_keep_most_populous_and_say_so():
    g = layers.gaps_layer(_gaps(40), lang="en", max_features=10)
    feats = _layer_element(g).data["features"]
    assert len(feats) == 10
    assert "showing 10 of 40" in g.layer_name
    pops = [int(re.search(r"Population: ([\d,]+)", f["properties"]["_tip"]).group(1).replace(",", "")) for f in feats]
    assert min(pops) == 305  # populations 5..395: the top ten are 305..395


def test_polygons_simplified_in_metres_and_rounded():
    circle = Point(121.47, 31.23).buffer(0.01, quad_segs=64)
    gdf = gpd.GeoDataFrame({"type": ["aed"], "minutes": [5]}, geometry=[circle], crs="EPSG:4326")
    fine = _layer_element(layers.isochrones_layer(gdf, default_types(), simplify_m=0)).data["features"][0]
    coarse = _layer_element(layers.isochrones_layer(gdf, default_types(), simplify_m=50)).data["features"][0]
    n_fine = len(fine["geometry"]["coordinates"][0])
    n_coarse = len(coarse["geometry"]["coordinates"][0])
    assert n_coarse < n_fine / 2
    for x, y in coarse["geometry"]["coordinates"][0]:
        assert round(x, 6) == x and round(y, 6) == y


def test_unreachable_cells_get_their_own_colour():
    g = layers.gaps_layer(_gaps(), lang="en")
    el = _layer_element(g)
    fills = [el.styles[f["properties"]["_s"]]["fillColor"] for f in el.data["features"]]
    assert fills[3] == layers.UNREACHABLE_COLOUR
    assert fills.count(layers.UNREACHABLE_COLOUR) == 1
    assert "Unreachable" in el.data["features"][3]["properties"]["_tip"]


def test_projected_input_is_reprojected_and_missing_columns_named():
    g = _gaps().to_crs("EPSG:32651")
    x, y = _layer_element(layers.gaps_layer(g)).data["features"][0]["geometry"]["coordinates"][0][0]
    assert 121 < x < 122 and 31 < y < 32
    with pytest.raises(ValueError, match=r"gaps: missing column\(s\) \['population'\]"):
        layers.gaps_layer(_gaps().drop(columns="population"))


# ------------------------------------------------------------------ legend


def test_legend_is_bilingual(types):
    shown = [types["health_centre"], types["aed"]]
    zh = layers.legend(shown, lang="zh", gap_scale=layers.gap_colormap(30, lang="zh")).body
    en = layers.legend(shown, lang="en", gap_scale=layers.gap_colormap(30, lang="en")).body
    assert "图例" in zh and "社区卫生服务中心" in zh and "不可达" in zh and "步行时间" in zh
    assert "Legend" in en and "Community health service centre" in en and "Unreachable" in en
    assert "社区卫生服务中心" not in en
    assert "村卫生室" not in zh  # only the types shown


# ------------------------------------------------------------------ save


def test_save_map_writes_self_contained_file(tmp_path, types):
    path = save_map(coverage_map(facilities=_facilities(), types=types), tmp_path / "out" / "map.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and _external_srcs(text) == []
    assert [p.name for p in path.parent.iterdir()] == ["map.html"]


def test_save_map_is_atomic(tmp_path, types, monkeypatch):
    target = tmp_path / "map.html"
    target.write_text("old", encoding="utf-8")
    m = coverage_map(facilities=_facilities(), types=types)

    def boom(_m):
        raise RuntimeError("render failed")

    monkeypatch.setattr(build, "to_html", boom)
    with pytest.raises(RuntimeError, match="render failed"):
        save_map(m, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]

    monkeypatch.setattr(build, "to_html", assets.to_html)

    def fail_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(build.os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        save_map(m, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]  # temp file removed


def test_same_layers_give_identical_html():
    """Deterministic element ids: a rerun that rebuilds the same map must not look like a new map
    to streamlit-folium (it would reload it and lose the planner's view)."""
    import geopandas as gpd

    from maps.assets import to_html
    from maps.build import coverage_map
    from planner.config import default_types

    fac = gpd.GeoDataFrame({"id": ["a", "b"], "name": ["甲", "乙"], "type": ["aed", "health_centre"],
                            "lon": [121.40, 121.41], "lat": [31.22, 31.23]},
                           geometry=gpd.points_from_xy([121.40, 121.41], [31.22, 31.23]), crs=4326)
    a = to_html(coverage_map(facilities=fac, types=default_types(), lang="zh"))
    b = to_html(coverage_map(facilities=fac, types=default_types(), lang="zh"))
    assert a == b
    c = to_html(coverage_map(facilities=fac.iloc[:1], types=default_types(), lang="zh"))
    assert c != a


# ------------------------------------------------------------------ minutes surface (image)


def _surface(goal=15.0):
    from planner.surface import MinutesSurface

    m = np.full((40, 60), np.nan, dtype=np.float32)
    m[5:35, 5:55] = np.linspace(0, 30, 50, dtype=np.float32)[None, :]  # 0 .. 30 min, left to right
    m[20:25, 50:55] = np.inf
    return MinutesSurface(m, (121.46, 31.22, 121.49, 31.24), 20.0, goal, "health_centre")


def _decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader for our own files: 8-bit RGBA, filters 0 (None) and 2 (Up)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    cols, rows, depth, colour = size[:4]
    assert (depth, colour) == (8, 6)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(rows, cols * 4 + 1)
    out = np.zeros((rows, cols * 4), np.uint8)
    prev = np.zeros(cols * 4, np.uint8)
    for r in range(rows):
        f, line = raw[r, 0], raw[r, 1:]
        assert f in (0, 2)
        out[r] = line if f == 0 else line + prev
        prev = out[r]
    return out.reshape(rows, cols, 4)


def test_png_round_trips_and_pillow_reads_it():
    from maps.raster import png_bytes

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    data = png_bytes(rgba)
    np.testing.assert_array_equal(_decode_png(data), rgba)
    PIL = pytest.importorskip("PIL.Image")
    import io

    np.testing.assert_array_equal(np.asarray(PIL.open(io.BytesIO(data)).convert("RGBA")), rgba)
    with pytest.raises(ValueError, match="uint8 array of shape"):
        png_bytes(rgba[..., :3])


def test_surface_colours_goal_beyond_unreachable_and_transparent():
    from maps.raster import SURFACE_BEYOND, SURFACE_COLOURS, SURFACE_UNREACHABLE, surface_rgba

    def rgb(c):
        return [int(c[i:i + 2], 16) for i in (1, 3, 5)]

    from maps.raster import SURFACE_BEYOND_COLOURS

    m = np.array([[0.0, 15.0, 15.5, np.inf, np.nan, 7.5, 37.5, 60.0, 500.0]], dtype=np.float32)
    out = surface_rgba(m, goal_minutes=15.0)
    assert list(out[0, 0, :3]) == rgb(SURFACE_COLOURS[0])
    assert list(out[0, 1, :3]) == rgb(SURFACE_COLOURS[-1])  # the goal itself is within it
    # beyond the goal: a ramp from the goal to the gap scale's top (4x the goal), darkest further
    assert np.abs(out[0, 2, :3].astype(int) - rgb(SURFACE_BEYOND_COLOURS[0])).max() <= 5
    assert np.abs(out[0, 6, :3].astype(int) - rgb(SURFACE_BEYOND)).max() <= 3  # halfway: the vermillion
    assert list(out[0, 7, :3]) == list(out[0, 8, :3]) == rgb(SURFACE_BEYOND_COLOURS[-1])
    # a short goal (the AED's 1.5 minutes) is no single-colour blanket: 3 and 12 minutes differ
    aed = surface_rgba(np.array([[3.0, 12.0]], dtype=np.float32), goal_minutes=1.5)
    assert np.abs(aed[0, 0, :3].astype(int) - aed[0, 1, :3].astype(int)).max() > 40
    assert list(out[0, 3, :3]) == rgb(SURFACE_UNREACHABLE)
    assert out[0, 4, 3] == 0 and (out[0, :4, 3] == 255).all()
    assert np.abs(out[0, 5, :3].astype(int) - rgb(SURFACE_COLOURS[4])).max() <= 3  # the middle stop
    with pytest.raises(ValueError, match="goal_minutes"):
        surface_rgba(m, goal_minutes=0)


def test_surface_layer_embeds_the_whole_grid_as_one_image(types):
    srf = _surface()
    m = coverage_map(facilities=_facilities(), gaps=_gaps(), isochrones=_isochrones(), surfaces=[srf], types=types, lang="en")
    html = to_html(m)
    assert '"fillOpacity": 0.0' in html  # isochrones as outlines over the surface
    assert f'"fillOpacity": {style.ISO_FILL_OPACITY}' in to_html(coverage_map(facilities=_facilities(), isochrones=_isochrones(), types=types))
    assert _external_srcs(html) == []
    urls = re.findall(r'L\.imageOverlay\(\s*"(data:image/png;base64,[A-Za-z0-9+/=]+)"', html)
    assert len(urls) == 1
    import base64

    img = _decode_png(base64.b64decode(urls[0].split(",", 1)[1]))
    assert img.shape == (40, 60, 4)
    assert (img[..., 3] > 0).sum() == 30 * 50  # every street pixel drawn, nothing capped
    # bounds, legend and name
    assert "[[31.22, 121.46], [31.24, 121.49]]" in html
    assert "Beyond the goal" in html and "Walk time to nearest facility: Community health service centre" in html
    # the surface replaces the gap cells on the map (they stay in gaps.geojson)
    assert "Coverage gaps" not in html


def test_surface_layer_follows_the_amap_shift_and_language(types):
    srf = _surface()
    plain = layers.surface_layer(srf, types)
    shifted = layers.surface_layer(srf, types, shift_gcj02=True)
    (s0, w0), _ = plain.bounds
    (s1, w1), _ = shifted.bounds
    assert 200 < _metres(w0, s0, w1, s1) < 900
    zh = layers.legend([], lang="zh", surface_goal=15).body
    en = layers.legend([], lang="en", surface_goal=15).body
    assert "超出目标（&gt; 15 分钟）" in zh and "Beyond the goal (&gt; 15 min)" in en and "无设施可达的街道" in zh


# ------------------------------------------------------------------ candidate sites, exclusion zones, routes


def test_candidates_exclusions_and_route_are_drawn_escaped_with_legend_entries(types):
    from maps import style

    cand = pd.DataFrame({"id": ["C1", "C2"], "name": [HOSTILE, "活动室"], "lon": [121.47, 121.471], "lat": [31.23, 31.231]})
    zones = gpd.GeoDataFrame({"name": [HOSTILE]}, geometry=[box(121.465, 31.225, 121.468, 31.228)], crs=4326)
    route = {"lonlat": np.array([[121.47, 31.23], [121.472, 31.232]]), "minutes": 3.25, "metres": 243.7,
             "facility_name": HOSTILE}
    c = _layer_element(layers.candidates_layer(cand, lang="en"))
    assert len(c.data["features"]) == 2 and c.icons[0]["cls"] == "pm-cand"
    tip = c.data["features"][0]["properties"]["_tip"]
    assert "<script>" not in tip and "&lt;script&gt;" in tip
    z = _layer_element(layers.exclusions_layer(zones, lang="en"))
    assert z.styles[0]["fillColor"] == f"url(#pm-hatch) {style.EXCLUSION_FILL}" and z.styles[0]["dashArray"]
    assert "<script>" not in z.data["features"][0]["properties"]["_tip"]
    r = layers.route_layer(route, lang="en")
    line = _layer_element(r).data["features"][0]
    assert line["geometry"]["type"] == "LineString" and len(line["geometry"]["coordinates"]) == 2
    assert "3.2 min walk (244 m) to &lt;script&gt;" in line["properties"]["_pop"]
    html = to_html(coverage_map(facilities=_facilities(), types=types, lang="en", candidates=cand, exclusions=zones,
                                route=route))
    assert _external_srcs(html) == [] and "<script>alert(1)" not in html
    assert html.count('<pattern id="pm-hatch"') == 1  # the hatch the zones are filled with, once
    assert "$(" not in html  # no folium popup: it needs jQuery, which the offline page does not ship (a script error)
    for word in ("Candidate sites (the only places for new sites)", "Exclusion zones (no new sites)", "Walking route"):
        assert html.count(word) >= 2  # the layer and its legend entry


# ------------------------------------------------------------------ access


def _access_areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [HOSTILE, "外滩街道"], "access_mean_per_1000": [0.0, 0.4],
                             "access_gini": [np.nan, 0.25], "share_below": [1.0, 0.3]},
                            geometry=[box(121.46, 31.22, 121.47, 31.24), box(121.47, 31.22, 121.48, 31.24)],
                            crs="EPSG:4326")


def test_access_layer_escapes_area_names_and_has_a_legend_entry():
    from maps.access import access_areas_layer
    from maps.style import ACCESS_COLOURS, ACCESS_NONE_COLOUR

    layer = access_areas_layer(_access_areas(), max_access=0.5, below=0.2, lang="en")
    feats = _layer_element(layer).data["features"]
    tips = [f["properties"]["_tip"] for f in feats]
    assert not any("<script>" in t for t in tips)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;" in tips[0]
    assert "Access (per 1,000): 0.400" in tips[1] and "Gini: 0.250" in tips[1] and "Residents below 0.2: 30.0%" in tips[1]
    styles = _layer_element(layer).styles
    assert styles[feats[0]["properties"]["_s"]]["fillColor"] == ACCESS_NONE_COLOUR  # no access: its own colour
    assert styles[feats[1]["properties"]["_s"]]["fillColor"] not in (ACCESS_NONE_COLOUR, ACCESS_COLOURS[0])
    leg = layers.legend([], lang="en", access_max=0.5)
    assert "Access: supply per 1,000 residents within reach" in leg.body and ACCESS_NONE_COLOUR in leg.body
    assert ACCESS_COLOURS[0] in leg.body and "0.50" in leg.body
    assert "可达性" in layers.legend([], lang="zh", access_max=0.5).body


def test_access_points_image_colours_pixels_by_weighted_mean_and_leaves_empty_ones_clear():
    from maps.access import access_points_rgba, access_scale_max
    from maps.style import ACCESS_COLOURS, ACCESS_NONE_COLOUR

    def rgb(c):
        return [int(c[i:i + 2], 16) for i in (1, 3, 5)]

    lon = np.array([121.40, 121.40, 121.45, 121.50])
    lat = np.array([31.20, 31.20, 31.22, 31.25])
    acc = np.array([0.0, 1.0, 0.0, 5.0])
    pop = np.array([300.0, 100.0, 50.0, 10.0])
    out, (w, s, e, n) = access_points_rgba(lon, lat, acc, pop, max_access=1.0, max_px=50)
    assert w < 121.40 < 121.50 < e and s < 31.20 < 31.25 < n
    filled = out[..., 3] == 255
    assert filled.sum() == 3 and (out[~filled, 3] == 0).all()  # three places hold residents, the rest is clear
    colours = {tuple(out[r, c, :3]) for r, c in zip(*np.nonzero(filled))}
    assert tuple(rgb(ACCESS_NONE_COLOUR)) in colours and tuple(rgb(ACCESS_COLOURS[-1])) in colours  # 0, and above the top
    # the shared pixel: (300 * 0 + 100 * 1) / 400 = 0.25 of the scale, between the first stops
    assert len(colours) == 3
    assert access_scale_max([0.0, 0.013, 0.2, 0.17], [1, 1, 1, 1]) == 0.2
    assert access_scale_max([0, 0]) == 1.0


# ------------------------------------------------------------------ presentation: legend, labels, scales


def test_legend_folds_on_a_click_and_opens_folded_on_narrow_maps(types):
    leg = layers.legend([types["health_centre"]], lang="zh")
    assert '<button type="button" class="pm-lg-head" aria-expanded="true">图例</button>' in leg.body
    assert '<div class="pm-lg-body">' in leg.body and "社区卫生服务中心" in leg.body
    html = to_html(coverage_map(facilities=_facilities(), types=types, lang="en"))
    assert ".pm-legend.pm-folded .pm-lg-body{display:none}" in html  # folded: only the heading button shows
    assert "map.getSize().x < 700" in html  # starts folded below 700 px of map width
    assert "classList.contains('pm-folded')" in html and '"Fold the legend"' in html
    assert layers.LEGEND_FOLD_BELOW_PX == 700
    # the scale bar is metric only
    assert "L.control.scale({imperial: false, metric: true})" in html and "L.control.scale()" not in html


def test_isochrone_bands_have_a_legend_entry_in_their_look(types):
    html_iso = to_html(coverage_map(facilities=_facilities(), isochrones=_isochrones(), types=types, lang="zh"))
    html_none = to_html(coverage_map(facilities=_facilities(), types=types, lang="zh"))
    assert "步行等时圈（分钟内可达）" in _unjson(html_iso) and "≤ 5 分钟" in _unjson(html_iso)
    assert "≤ 15 分钟" in _unjson(html_iso)
    assert "pm-iso" not in html_none
    leg = layers.legend([], lang="en", iso_minutes=[5, 10, 15]).body
    near, mid, far = style.iso_band_colours(3)
    assert leg.index("≤ 5 min") < leg.index("≤ 10 min") < leg.index("≤ 15 min")
    assert leg.count('class="pm-row pm-iso"') == 3
    outline = layers.legend([], lang="en", iso_minutes=[5, 15], iso_outline=True).body
    assert f"background:{style.ISO_SWATCH_BACKDROP};border:2px solid {near}" in outline


def test_isochrone_bands_are_blue_by_minutes_not_the_type_colour(types):
    el = _layer_element(layers.isochrones_layer(_isochrones(), types))
    by_minutes = {}
    for f in el.data["features"]:
        by_minutes[f["properties"]["_tip"].split("≤ ")[1].split(" ")[0]] = el.styles[f["properties"]["_s"]]["fillColor"]
    assert by_minutes == dict(zip(["5", "15"], style.iso_band_colours(2)))
    assert types["health_centre"].colour not in {s["fillColor"] for s in el.styles}


def test_the_scales_are_colour_blind_safe_and_apart_from_each_other():
    gap, share, iso = set(style.GAP_COLOURS), set(style.SHARE_COLOURS), set(style.ISO_BAND_COLOURS)
    assert not (gap & share) and not (gap & iso) and not (share & iso)

    def hue(c):
        import colorsys

        r, g, b = (int(c[i:i + 2], 16) / 255 for i in (1, 3, 5))
        h, lum, sat = colorsys.rgb_to_hls(r, g, b)
        return h * 360, lum, sat

    def warm(c):  # red, orange or yellow with some colour in it
        h, lum, sat = hue(c)
        return sat > 0.25 and 0.05 < lum < 0.95 and (h < 60 or h > 340)

    assert all(warm(c) for c in style.GAP_COLOURS[1:])  # the gap cells are the only warm scale
    assert not any(warm(c) for c in style.SHARE_COLOURS + list(style.ISO_BAND_COLOURS))
    assert all(180 <= hue(c)[0] <= 240 for c in style.ISO_BAND_COLOURS)  # bands: blues
    # sequential scales get darker (or lighter) steadily, so they read without hue
    lums = [hue(c)[1] for c in style.ISO_BAND_COLOURS]
    assert lums == sorted(lums)
    lums = [hue(c)[1] for c in style.GAP_COLOURS]
    assert lums == sorted(lums, reverse=True)
    # the report's band bars: the isochrone blues within the goal, the surface's vermillion beyond it
    assert set(style.BAND_WITHIN_COLOURS) <= iso and style.BAND_BEYOND_COLOUR == style.SURFACE_BEYOND


def test_subdistrict_names_are_escaped_permanent_labels_inside_each_area(types):
    group = layers.areas_layer(_areas(), lang="zh")
    lab = next(c for c in group._children.values() if isinstance(c, layers._AreaLabels))
    names = [f["properties"]["_lbl"] for f in lab.data["features"]]
    assert names == [html_escape(HOSTILE), "外滩街道"]
    for f, geom in zip(lab.data["features"], _areas().geometry):
        assert geom.contains(Point(*f["geometry"]["coordinates"]))
    assert lab.min_zoom == 0  # two areas: never crowded
    html = to_html(coverage_map(facilities=_facilities(), areas=_areas(), types=types))
    assert HOSTILE not in html and html_escape(HOSTILE) in _unjson(html)
    assert "pm-area-label" in html and ".pm-labels-off .pm-area-label{display:none}" in html
    # many areas: the labels wait for a closer zoom
    many = gpd.GeoDataFrame({"name": [f"街道{i}" for i in range(20)], "coverage_share": [0.5] * 20},
                            geometry=[box(121.4 + 0.01 * i, 31.2, 121.409 + 0.01 * i, 31.21) for i in range(20)],
                            crs="EPSG:4326")
    lab = next(c for c in layers.areas_layer(many)._children.values() if isinstance(c, layers._AreaLabels))
    assert lab.min_zoom == style.AREA_LABEL_MIN_ZOOM
    assert not any(isinstance(c, layers._AreaLabels)
                   for c in layers.areas_layer(_areas(), labels=False)._children.values())


def _unjson(html: str) -> str:
    """The page with JSON's \\uXXXX escapes decoded (tojson writes <, >, & and non-ASCII that way)."""
    import re

    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)


def test_surface_legend_keys_the_beyond_ramp_with_readable_ticks():
    leg = layers.legend([], lang="en", surface_goal=1.5).body
    assert "<span>0</span><span>0.5</span><span>1</span><span>1.5</span>" in leg  # it read 0, 0, 1, 2
    assert "Beyond the goal (&gt; 1.5 min)" in leg and "<span>≥15</span>" in leg
    assert all(c in leg for c in style.SURFACE_BEYOND_COLOURS[::2])
    assert style.SURFACE_UNREACHABLE in leg
