"""The hostile-input corpus: damaged, truncated, oversized and malicious files for the fuzz test.

``python -m tests.hostile_corpus`` (from the repository root) writes the small files committed
under ``tests/data/hostile/`` (deterministic except the GeoPackages, which carry a timestamp). The
large cases (a 15 MB GraphML with three 5-million-character street names, a ZIP bomb, a
polygon of a million vertices) are written by :func:`write_large` into a temporary folder at
test time rather than committed.

Every network is a 6 x 6 street grid (100 m blocks) near People's Square, Shanghai; the
facilities and demand points sit on it. Nothing here is real data.
"""
from __future__ import annotations

import bz2
import gzip
import json
import sqlite3
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "data" / "hostile"
N = 6
LON0, LAT0, DLON, DLAT = 121.47, 31.23, 0.00105, 0.0009


def node_lonlat(i: int, j: int) -> tuple[float, float]:
    return round(LON0 + j * DLON, 7), round(LAT0 + i * DLAT, 7)


def grid_osm_text(*, name_of=lambda wid: f"路{wid}", extra_tag: str = "") -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="hostile_corpus">']
    for i in range(N):
        for j in range(N):
            lon, lat = node_lonlat(i, j)
            lines.append(f'  <node id="{i * N + j + 1}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    wid = 1000
    for i in range(N):
        for horizontal in (True, False):
            refs = [(i * N + j + 1) if horizontal else (j * N + i + 1) for j in range(N)]
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            tag = extra_tag if wid == 1000 else ""
            lines.append(f'  <way id="{wid}">{nds}<tag k="highway" v="residential"/>'
                         f'<tag k="name" v="{name_of(wid)}"/>{tag}</way>')
            wid += 1
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def grid_graph(name_of=lambda k: f"路{k}"):
    import networkx as nx

    from planner.osm import _haversine_m

    G = nx.MultiDiGraph(crs="epsg:4326")
    for i in range(N):
        for j in range(N):
            lon, lat = node_lonlat(i, j)
            G.add_node(i * N + j + 1, x=lon, y=lat)
    k = 0
    for i in range(N):
        for j in range(N):
            a = i * N + j + 1
            for b in ([a + 1] if j + 1 < N else []) + ([a + N] if i + 1 < N else []):
                (x1, y1), (x2, y2) = (G.nodes[a]["x"], G.nodes[a]["y"]), (G.nodes[b]["x"], G.nodes[b]["y"])
                length = float(_haversine_m(x1, y1, x2, y2))
                for u, v in ((a, b), (b, a)):
                    G.add_edge(u, v, length=length, name=name_of(k), highway="residential", osmid=5000 + k)
                k += 1
    return G


def facilities_rows(names=None):
    pts = [(1, 1), (4, 4), (2, 4)]
    rows = []
    for n, (i, j) in enumerate(pts):
        lon, lat = node_lonlat(i, j)
        rows.append((f"F{n + 1}", names[n] if names else f"站点{n + 1}", "aed", round(lon + 0.0003, 7), lat))
    return rows


def demand_rows(pops=None):
    rng = np.random.default_rng(5)
    rows = []
    for n in range(40):
        lon = LON0 + rng.uniform(0, (N - 1) * DLON)
        lat = LAT0 + rng.uniform(0, (N - 1) * DLAT)
        pop = pops[n] if pops is not None else int(rng.integers(5, 80))
        rows.append((f"D{n + 1}", round(lon, 7), round(lat, 7), pop))
    return rows


def _csv(rows, header) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _fac_gdf(rows=None):
    import geopandas as gpd

    rows = rows or facilities_rows()
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "name": [r[1] for r in rows], "type": [r[2] for r in rows]},
                            geometry=gpd.points_from_xy([r[3] for r in rows], [r[4] for r in rows]), crs=4326)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def build(folder: Path = HERE) -> list[Path]:
    """Write the committed corpus into ``folder``; returns the files written."""
    import geopandas as gpd
    import osmium
    import osmnx as ox
    import shapely

    from planner.network import compile_network, save_network
    from planner.osm import read_osm

    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []

    def put(name: str, data: bytes | str) -> Path:
        p = folder / name
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        out.append(p)
        return p

    # ---- networks
    osm = put("grid.osm", grid_osm_text())
    pbf = folder / "grid.osm.pbf"
    pbf.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(pbf)) as w:
        for obj in osmium.FileProcessor(str(osm)):
            w.add(obj)
    put("grid_truncated.osm.pbf", _half(pbf.read_bytes()))
    pbf.unlink()
    put("grid_truncated.osm", _half(osm.read_bytes()))
    put("grid_truncated.osm.gz", _half(gzip.compress(osm.read_bytes(), mtime=0)))
    put("grid_truncated.osm.bz2", _half(bz2.compress(osm.read_bytes())))
    put("empty.osm", b"")
    put("binary_noise.osm", np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    put("long_tag.osm", grid_osm_text(extra_tag=f'<tag k="note" v="{"长" * 1500}"/>'))
    put("long_name.osm", grid_osm_text(name_of=lambda wid: "名" * 400 if wid == 1001 else f"路{wid}"))
    put("utf16.osm", grid_osm_text().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"))
    laughs = ['<?xml version="1.0"?>', '<!DOCTYPE osm [', '<!ENTITY a "aaaaaaaaaa">']
    for k in range(1, 9):
        prev = chr(ord("a") + k - 1)
        laughs.append(f'<!ENTITY {chr(ord("a") + k)} "{("&" + prev + ";") * 10}">')
    laughs += [']>', '<osm version="0.6"><node id="1" lat="31.23" lon="121.47"><tag k="name" v="&i;"/></node></osm>']
    put("entity_expansion.osm", "\n".join(laughs))
    graphml = folder / "grid.graphml"
    ox.save_graphml(grid_graph(), graphml)
    text = graphml.read_text(encoding="utf-8")
    put("grid_truncated.graphml", _half(text.encode("utf-8")))
    put("nan_node.graphml", text.replace("<data key=\"d1\">121.47105</data>", "<data key=\"d1\">nan</data>", 1))
    put("text_node.graphml", text.replace("<data key=\"d1\">121.47105</data>", "<data key=\"d1\">东经121度</data>", 1))
    assert "nan" in (folder / "nan_node.graphml").read_text(encoding="utf-8")
    graphml.unlink()
    net = compile_network(read_osm(osm))
    npz = save_network(net, folder / "grid.npz")
    put("grid_truncated.npz", _half(npz.read_bytes()))
    npz.unlink()

    # ---- facilities
    header = ["id", "name", "type", "lon", "lat"]
    put("fac_ok.csv", _csv(facilities_rows(), header))
    hostile_names = ["=HYPERLINK(\"http://example.invalid\",\"点我\")", "+cmd|' /C calc'!A0", "@SUM(A1)" + "长" * 100_000]
    put("fac_hostile_text.csv", _csv(facilities_rows(hostile_names), header))
    put("fac_truncated.csv", _csv(facilities_rows(), header)[:-9])
    put("fac_latin1.csv", _csv(facilities_rows(["Café", "Niño", "Zoë"]), header).encode("latin-1"))
    put("fac_utf16_no_bom.csv", _csv(facilities_rows(), header).encode("utf-16-le"))
    put("fac_binary_noise.csv", np.random.default_rng(4).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    xlsx = folder / "fac.xlsx"
    import pandas as pd

    pd.DataFrame(facilities_rows(), columns=header).to_excel(xlsx, index=False)
    put("fac_truncated.xlsx", _half(xlsx.read_bytes()))
    data = bytearray(xlsx.read_bytes())
    with zipfile.ZipFile(xlsx) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 5, start + min(info.compress_size, 200) - 5):
        data[k] ^= 0x5A
    put("fac_flipped_sheet.xlsx", bytes(data))
    xlsx.unlink()
    gj = _fac_gdf().to_json()
    put("fac_truncated.geojson", gj[: len(gj) // 2])
    mixed = json.loads(gj)
    mixed["features"][1]["geometry"] = {"type": "LineString", "coordinates": [[121.47, 31.23], [121.471, 31.231]]}
    mixed["features"][2]["geometry"] = {"type": "Polygon", "coordinates": [[[121.47, 31.23], [121.471, 31.23],
                                                                             [121.471, 31.231], [121.47, 31.23]]]}
    put("fac_mixed_geometry.geojson", json.dumps(mixed))
    put("fac_empty_layer.geojson", json.dumps({"type": "FeatureCollection", "features": []}))
    nulls = json.loads(gj)
    nulls["features"][0]["geometry"] = None
    nulls["features"][1]["geometry"]["coordinates"] = ["NaN", 31.23]
    put("fac_null_geometry.geojson", json.dumps(nulls))
    gpkg = folder / "fac.gpkg"
    gpkg.unlink(missing_ok=True)
    _fac_gdf().to_file(gpkg, driver="GPKG", layer="sites")
    put("fac_truncated.gpkg", _half(gpkg.read_bytes()))
    empty_gpkg = folder / "fac_empty_layer.gpkg"
    empty_gpkg.unlink(missing_ok=True)
    _fac_gdf().iloc[:0].to_file(empty_gpkg, driver="GPKG", layer="sites")
    out.append(empty_gpkg)
    gpkg.unlink()
    shp_dir = folder / "_shp"
    shp_dir.mkdir(exist_ok=True)
    _fac_gdf().to_file(shp_dir / "sites.shp")
    buf = folder / "fac_shp.zip"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(shp_dir.iterdir()):
            zf.writestr(zipfile.ZipInfo(f.name, (2026, 1, 1, 0, 0, 0)), f.read_bytes())
    put("fac_shp_truncated.zip", _half(buf.read_bytes()))
    with zipfile.ZipFile(folder / "fac_shp_traversal.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(shp_dir.iterdir()):
            zf.writestr(zipfile.ZipInfo("../../" + f.name, (2026, 1, 1, 0, 0, 0)), f.read_bytes())
    out.append(folder / "fac_shp_traversal.zip")
    with zipfile.ZipFile(folder / "fac_shp_damaged.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(shp_dir.iterdir()):
            payload = f.read_bytes()
            if f.suffix in (".shp", ".shx"):
                payload = payload[:50] + b"\xff" * 60
            zf.writestr(zipfile.ZipInfo(f.name, (2026, 1, 1, 0, 0, 0)), payload)
    out.append(folder / "fac_shp_damaged.zip")
    buf.unlink()
    for f in shp_dir.iterdir():
        f.unlink()
    shp_dir.rmdir()
    sq = folder / "fac_not_gpkg.gpkg"
    sq.unlink(missing_ok=True)
    con = sqlite3.connect(sq)
    con.execute("create table t (a text)")
    con.execute("insert into t values ('=1+1')")
    con.commit()
    con.close()
    out.append(sq)

    # ---- demand
    dh = ["id", "lon", "lat", "population"]
    put("dem_ok.csv", _csv(demand_rows(), dh))
    pops = [int(v) for v in np.random.default_rng(6).integers(5, 80, 40)]
    pops[7] = "1e20"
    put("dem_1e20_row.csv", _csv(demand_rows(pops), dh))
    put("dem_1e308_every_row.csv", _csv(demand_rows(["1e308"] * 40), dh))
    put("dem_inf.csv", _csv(demand_rows(["inf"] + [10] * 39), dh))
    put("dem_truncated.csv", _csv(demand_rows(), dh)[:-7])
    dem_mixed = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "p1", "population": 10},
         "geometry": {"type": "Point", "coordinates": [121.472, 31.232]}},
        {"type": "Feature", "properties": {"id": "a1", "population": 20},
         "geometry": {"type": "Polygon", "coordinates": [[[121.471, 31.231], [121.474, 31.231], [121.474, 31.233],
                                                          [121.471, 31.231]]]}}]}
    put("dem_mixed_geometry.geojson", json.dumps(dem_mixed))

    # ---- areas
    west = shapely.box(LON0 - 0.001, LAT0 - 0.001, LON0 + 2.5 * DLON, LAT0 + 5.5 * DLAT)
    east = shapely.box(LON0 + 2.5 * DLON, LAT0 - 0.001, LON0 + 5 * DLON + 0.001, LAT0 + 5.5 * DLAT)
    areas = gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["=西区", "@东区"]}, geometry=[west, east], crs=4326)
    aj = areas.to_json()
    put("areas_ok.geojson", aj)
    put("areas_truncated.geojson", aj[: len(aj) // 2])
    pts = gpd.GeoDataFrame({"area_id": ["W"], "name": ["点"]}, geometry=[shapely.Point(LON0, LAT0)], crs=4326)
    put("areas_points.geojson", pts.to_json())
    return out


def write_large(folder: Path) -> dict[str, Path]:
    """The big cases, written at test time: a 15 MB GraphML with three 5M-character names, a
    ZIP bomb posing as zipped Shapefile facilities, and areas made of one 1e6-vertex polygon."""
    import geopandas as gpd
    import osmnx as ox
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    names = {0: "甲" * 5_000_000, 7: "B" * 5_000_000, 20: "=C" + "c" * 5_000_000}
    paths["huge_names.graphml"] = folder / "huge_names.graphml"
    ox.save_graphml(grid_graph(lambda k: names.get(k, f"路{k}")), paths["huge_names.graphml"])
    paths["bomb.zip"] = folder / "bomb.zip"
    with zipfile.ZipFile(paths["bomb.zip"], "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sites.shp", b"\0" * 300_000_000)
        zf.writestr("sites.dbf", b"\0" * 100)
        zf.writestr("sites.shx", b"\0" * 100)
    t = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    cx, cy = LON0 + 2.5 * DLON, LAT0 + 2.5 * DLAT
    ring = np.column_stack([cx + 0.004 * np.cos(t) * (1 + 0.01 * np.sin(50 * t)), cy + 0.004 * np.sin(t)])
    poly = shapely.Polygon(ring)
    paths["areas_1e6_vertices.geojson"] = folder / "areas_1e6_vertices.geojson"
    gpd.GeoDataFrame({"area_id": ["R"], "name": ["圆"]}, geometry=[poly], crs=4326).to_file(
        paths["areas_1e6_vertices.geojson"], driver="GeoJSON")
    return paths


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for p in build():
        print(p.relative_to(HERE.parents[2]), p.stat().st_size)


#: Runs argv[2:] and writes its peak resident memory (KB, from wait4) to argv[1]. A small
#: launcher is needed: Linux counts the forking process's resident memory into a child's
#: ``ru_maxrss`` (the address space is copied at fork and recorded at exec), so a child forked
#: straight from a 700 MB pytest process would report at least 700 MB whatever it does.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, st, ru = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


def run_measured(argv: list[str], *, env: dict, cwd: Path, timeout_s: float, stderr_path: Path,
                 address_limit_bytes: int | None = None) -> tuple[int, float, float]:
    """Run ``argv`` through the launcher; return (exit code, wall seconds, peak resident MB of ``argv`` itself).

    ``address_limit_bytes`` sets RLIMIT_AS as a safety net. On timeout the process group is
    killed and ``TimeoutError`` raised.
    """
    import os
    import resource
    import signal
    import subprocess
    import time

    def limit():
        if address_limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (address_limit_bytes, address_limit_bytes))

    peak_file = stderr_path.with_suffix(".peak")
    t0 = time.perf_counter()
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(peak_file), *argv], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"{argv[:4]} did not finish in {timeout_s:.0f} s") from None
    wall = time.perf_counter() - t0
    peak_kb = float(peak_file.read_text()) if peak_file.exists() else float("nan")
    peak_file.unlink(missing_ok=True)
    return rc, wall, peak_kb / 1024
