"""Hostile and damaged inputs: numeric options, population bounds, the compiled-network cache, long text."""
from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from planner import InputError, NetworkError
from planner import _validate as V
from planner.cli import main
from planner.coverage_stats import weighted_quantile
from planner.demand import HARD_MAX_POPULATION, MAX_ROW_POPULATION, demand_from_points
from planner.io import read_demand, read_facilities
from planner.network import (
    MAX_TEXT_CHARS,
    RawGraph,
    compile_network,
    load_network,
    read_compiled,
    save_network,
)
from planner.scenario import run
from tests.helpers import grid_network, grid_study


# ------------------------------------------------------------------ numeric options
@pytest.mark.parametrize("value", [-1, 0, float("nan"), float("inf"), "300", True, 1e9])
def test_number_refuses_nonsense_and_names_the_flag(value):
    with pytest.raises(InputError) as e:
        V.number(value, name="max_snap_m", flag="--max-snap-m", unit_en="(metres)", unit_zh="米", minimum=0.0,
                 allow_min=False, maximum=V.MAX_DISTANCE_M)
    assert "--max-snap-m (max_snap_m) must be a positive number (metres), at most 100000" in e.value.message("en")
    assert "须为正数（米）" in e.value.message("zh")


def test_number_accepts_and_converts():
    assert V.number(5, name="x", minimum=0.0) == 5.0
    assert V.number(None, name="x", allow_none=True) is None
    assert V.number(0, name="x", minimum=0.0) == 0.0


@pytest.mark.parametrize("given, dup", [([5, 5], "5"), ([10, 5, 5], "5"), ([5, 10, 5, 10], "5, 10")])
def test_duplicate_breaks_refused(given, dup):
    with pytest.raises(InputError) as e:
        V.breaks(given)
    msg = e.value.message("en")
    assert f"gives the same minutes more than once ({dup})" in msg and "--breaks" in msg
    assert "重复" in e.value.message("zh")


def test_breaks_sorted_and_checked():
    assert V.breaks([10, 5, 15]) == [5.0, 10.0, 15.0]
    with pytest.raises(InputError, match=r"must be a number \(minutes\) >= 0.1"):
        V.breaks([5, float("nan")])
    with pytest.raises(InputError, match="empty"):
        V.breaks([])


@pytest.mark.parametrize("kw, flag", [
    ({"max_snap_m": -1}, "--max-snap-m"), ({"max_snap_m": float("nan")}, "--max-snap-m"),
    ({"breaks": [5, 5]}, "--breaks"), ({"breaks": [10, 5, 5]}, "--breaks"), ({"minutes": float("inf")}, "--minutes"),
    ({"speed_kmh": 1e5}, "--speed-kmh"), ({"gap_cell_m": 0}, "gap_cell_m"), ({"isochrones": "some"}, "isochrones"),
])
def test_run_refuses_nonsense_options(kw, flag):
    with pytest.raises(InputError) as e:
        run(grid_study(0, n=8, n_dem=50), **kw)
    assert flag in e.value.message("en")


def test_cli_numeric_options_exit_2_with_message(tmp_path, capsys):
    base = ["coverage", "--demo", "--demo-scale", "0.2", "--no-map", "--lang", "en", "--out", str(tmp_path / "o")]
    for extra, text in ((["--max-snap-m", "-1"], "--max-snap-m"), (["--breaks", "5,5"], "same minutes more than once"),
                        (["--breaks", "10,5,5"], "same minutes more than once"),
                        (["--outside-tolerance-m", "nan"], "--outside-tolerance-m")):
        args = base + extra
        if "--outside-tolerance-m" in extra:  # the tolerance applies to files read
            fac = tmp_path / "f.csv"
            pd.DataFrame({"id": ["a"], "type": ["aed"], "lon": [121.40], "lat": [31.21]}).to_csv(fac, index=False)
            args += ["--facilities", str(fac)]
        assert main(args) == 2, extra
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_reader_buffer_checked(tmp_path):
    f = tmp_path / "f.csv"
    pd.DataFrame({"id": ["a"], "type": ["aed"], "lon": [121.40], "lat": [31.21]}).to_csv(f, index=False)
    for bad in (float("nan"), -5.0, 1e12):
        with pytest.raises(InputError, match="--outside-tolerance-m"):
            read_facilities(f, study_area_buffer_m=bad)


# ------------------------------------------------------------------ population
def _demand_csv(tmp_path, pops, name="d.csv"):
    n = len(pops)
    p = tmp_path / name
    pd.DataFrame({"id": [f"d{i}" for i in range(n)], "lon": np.linspace(121.40, 121.41, n), "lat": 31.21,
                  "population": pops}).to_csv(p, index=False)
    return p


def test_population_row_bound_with_row_and_switch(tmp_path):
    p = _demand_csv(tmp_path, [10, 1e20, 30])
    with pytest.raises(InputError) as e:
        read_demand(p)
    msg = e.value.message("en")
    assert "row 3" in msg and "column 'population'" in msg and "1e+20" in msg and "--allow-large-population" in msg
    assert "人口" in e.value.message("zh")
    big = _demand_csv(tmp_path, [10, 5e7, 30], "big.csv")
    with pytest.raises(InputError, match="more than 1e\\+07 residents in one row"):
        read_demand(big)
    t = read_demand(big, allow_large_population=True)
    assert t.gdf["population"].tolist() == [10.0, 5e7, 30.0]
    # 1e20 stays refused with the switch: beyond what a float sum holds exactly
    with pytest.raises(InputError, match="more than 1e\\+15"):
        read_demand(p, allow_large_population=True)


def test_population_total_bound_and_1e308(tmp_path):
    p = _demand_csv(tmp_path, [9e6] * 120)  # each row plausible, 1.08e9 in total
    with pytest.raises(InputError, match="adds up to 1.08e\\+09"):
        read_demand(p)
    with pytest.raises(InputError, match="adds up to"):
        read_demand(p, skip_invalid=True)  # a file-level problem: skipping rows cannot fix it
    assert len(read_demand(p, allow_large_population=True).gdf) == 120
    every = _demand_csv(tmp_path, [1e308] * 5, "e308.csv")
    with pytest.raises(InputError) as e:
        read_demand(every, allow_large_population=True)
    assert "row 2" in e.value.message("en")


def test_weighted_quantile_survives_huge_weights():
    v = np.array([3.0, 1.0, 2.0, 4.0])
    assert weighted_quantile(v, np.full(4, 1e308), 0.5) == weighted_quantile(v, np.ones(4), 0.5) == 2.0
    assert weighted_quantile(v, np.array([1e308, 1e308, 0, 1e308]), 0.9) == 4.0


def test_demand_constructors_refuse_non_finite():
    study = grid_study(0, n=8, n_dem=20)
    g = study.demand.gdf.copy()
    g.loc[g.index[2], "population"] = np.inf
    with pytest.raises(InputError, match="missing, negative or above"):
        demand_from_points(g)
    g["population"] = HARD_MAX_POPULATION / 10
    with pytest.raises(InputError, match="adds up to more than"):
        demand_from_points(g)
    assert MAX_ROW_POPULATION == 1e7


# ------------------------------------------------------------------ compiled-network cache
GRID_OSM_NODES = 6


def grid_osm(path, n=GRID_OSM_NODES, name="路"):
    """A small OSM XML street grid near Shanghai (n x n nodes, 100 m apart)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i in range(n):
        for j in range(n):
            lines.append(f'<node id="{i * n + j + 1}" lat="{31.2 + i * 0.0009:.7f}" lon="{121.4 + j * 0.00105:.7f}"/>')
    wid = 1000
    for i in range(n):
        for horizontal in (True, False):
            refs = [(i * n + j + 1) if horizontal else (j * n + i + 1) for j in range(n)]
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            lines.append(f'<way id="{wid}">{nds}<tag k="highway" v="residential"/><tag k="name" v="{name}{wid}"/></way>')
            wid += 1
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _damage(p, how):
    data = bytearray(p.read_bytes())
    if how == "empty":
        p.write_bytes(b"")
    elif how == "half":
        p.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "flipped":
        for k in range(200, len(data) - 200, max(1, len(data) // 50)):
            data[k] ^= 0xFF
        p.write_bytes(bytes(data))
    elif how == "garbage":
        p.write_bytes(b"PK\x03\x04" + b"\x00" * 500)
    elif how in ("lengths", "header"):
        # a well-formed archive whose arrays (or header) were edited but the checksum not
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if how == "lengths":
            arrays["length_m"] = arrays["length_m"] * 0.5
        else:
            h = json.loads(arrays["header"].tobytes())
            h["crs"] = "EPSG:32650"
            arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)
    elif how == "old_format":
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        h = json.loads(arrays["header"].tobytes())
        h["format"] = 2
        arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)


DAMAGE = ["empty", "half", "flipped", "garbage", "lengths", "header", "old_format"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_cache_rebuilt_once_with_the_clean_numbers(tmp_path, how, caplog):
    osm = grid_osm(tmp_path / "g.osm")
    cache = tmp_path / "cache"
    clean = load_network(osm, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    good_bytes = cached.read_bytes()
    _damage(cached, how)
    assert cached.read_bytes() != good_bytes
    with caplog.at_level(logging.WARNING, logger="planner.network"):
        again = load_network(osm, cache_dir=cache)
    warnings = [r for r in caplog.records if "is unusable and is rebuilt" in r.getMessage()]
    assert len(warnings) == 1
    for k in ("node_id", "x", "y", "edge_u", "edge_v", "length_m", "geom_xy", "geom_offsets"):
        np.testing.assert_array_equal(getattr(again, k), getattr(clean, k))
    assert list(again.name) == list(clean.name) and again.crs == clean.crs
    # the rebuilt cache is good again: the next run is silent
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="planner.network"):
        third = load_network(osm, cache_dir=cache)
    assert not [r for r in caplog.records if "rebuilt" in r.getMessage()]
    np.testing.assert_array_equal(third.length_m, clean.length_m)
    # read directly (a .npz given as --network), the damage is a clear NetworkError
    _damage(cached, how)
    with pytest.raises(NetworkError) as e:
        read_compiled(cached)
    assert "not a compiled network file, or a damaged one" in e.value.message("en")
    assert "已损坏" in e.value.message("zh")


def test_same_coverage_after_rebuild(tmp_path):
    osm = grid_osm(tmp_path / "g.osm")
    cache = tmp_path / "cache"
    f = tmp_path / "f.csv"
    pd.DataFrame({"id": ["a", "b"], "type": ["aed", "aed"], "lon": [121.401, 121.404], "lat": [31.2005, 31.203]}).to_csv(f, index=False)
    d = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": [f"d{i}" for i in range(40)], "lon": rng.uniform(121.4, 121.405, 40),
                  "lat": rng.uniform(31.2, 31.204, 40), "population": rng.integers(1, 30, 40)}).to_csv(d, index=False)
    args = ["coverage", "--network", str(osm), "--facilities", str(f), "--demand", str(d), "--cache-dir", str(cache),
            "--no-map", "--isochrones", "none", "--lang", "en"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    _damage(next(cache.glob("*.npz")), "lengths")
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    sa = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))["types"]
    sb = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))["types"]
    assert sa == sb


def test_cache_of_another_source_version_is_rebuilt(tmp_path, caplog):
    import os

    osm = grid_osm(tmp_path / "g.osm")
    cache = tmp_path / "cache"
    load_network(osm, cache_dir=cache)
    st = osm.stat()
    grid_osm(osm, name="街")  # same size, same mtime, other content
    os.utime(osm, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert osm.stat().st_size == st.st_size
    with caplog.at_level(logging.WARNING, logger="planner.network"):
        net = load_network(osm, cache_dir=cache)
    assert any("another version of the source file" in r.getMessage() for r in caplog.records)
    assert net.name[0].startswith("街")


# ------------------------------------------------------------------ long text
def _raw_with_names(names):
    lon = np.array([121.40, 121.401, 121.402, 121.403])
    lat = np.full(4, 31.2)
    u, v = np.array([0, 1, 2]), np.array([1, 2, 3])
    return RawGraph(node_id=np.arange(4), lon=lon, lat=lat, edge_u=u, edge_v=v,
                    geom_lon=np.repeat(lon, 2)[1:-1], geom_lat=np.full(6, 31.2), geom_offsets=np.arange(0, 7, 2),
                    oneway=np.zeros(3, bool), highway=np.array(["footway"] * 3, dtype=object),
                    name=np.array(names, dtype=object), way_id=np.arange(3), source="long")


def test_long_names_capped_and_cache_sized_by_the_network(tmp_path, caplog):
    huge = ["x" * 2_000_000, "y" * 10, "z" * 2_000_000]
    with caplog.at_level(logging.WARNING, logger="planner.network"):
        net = compile_network(_raw_with_names(huge))
    assert [len(n) for n in net.name] == [MAX_TEXT_CHARS, 10, MAX_TEXT_CHARS]
    assert any("2 edge name value(s) longer than 255" in r.getMessage() for r in caplog.records)
    p = save_network(net, tmp_path / "n.npz")
    assert p.stat().st_size < 20_000
    # variable width: a Network built by hand with long names still saves small (no fixed-width array)
    big = replace(net, name=np.array(huge, dtype=object))
    p2 = save_network(big, tmp_path / "n2.npz")
    assert p2.stat().st_size < 20_000
    back = read_compiled(p2)
    assert [len(n) for n in back.name] == [MAX_TEXT_CHARS, 10, MAX_TEXT_CHARS]


def test_nan_node_coordinates_named(tmp_path):
    raw = _raw_with_names(["a", "b", "c"])
    lon = raw.lon.copy()
    lon[2] = np.nan
    with pytest.raises(NetworkError) as e:
        compile_network(replace(raw, lon=lon))
    assert "node ids [2]" in e.value.message("en") and "NaN" in e.value.message("en")


def test_grid_network_round_trip(tmp_path):
    net = grid_network(5)
    back = read_compiled(save_network(net, tmp_path / "g.npz"))
    np.testing.assert_array_equal(back.length_m, net.length_m)
    with zipfile.ZipFile(tmp_path / "g.npz") as zf:
        assert "name_bytes.npy" in zf.namelist()


# ------------------------------------------------------------------ zips
def _zip(path, entries, *, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("entry", ["../../evil.shp", "/etc/evil.shp", "C:/evil.shp", "a/../../evil.shp", "..\\evil.shp"])
def test_zip_with_traversal_entries_refused(tmp_path, entry):
    from planner.io import inspect_zip

    p = _zip(tmp_path / "fac.zip", [(entry, b"x"), ("ok.dbf", b"y")])
    with pytest.raises(InputError) as e:
        inspect_zip(p)
    assert "points outside the archive's folder" in e.value.message("en") and entry[:10] in e.value.message("en")
    with pytest.raises(InputError, match="points outside"):
        read_facilities(p)


def test_zip_bomb_refused_before_reading(tmp_path):
    p = _zip(tmp_path / "bomb.zip", [("a.shp", b"\0" * 50_000_000), ("a.dbf", b"\0" * 1000)])
    assert p.stat().st_size < 200_000
    with pytest.raises(InputError) as e:
        read_facilities(p)
    assert "ZIP bomb" in e.value.message("en") and "压缩炸弹" in e.value.message("zh")
    many = _zip(tmp_path / "many.zip", [(f"f{i}.txt", b"") for i in range(10_001)], compression=zipfile.ZIP_STORED)
    with pytest.raises(InputError, match="more than 10000"):
        read_facilities(many)


def test_zip_with_damaged_shapefile_is_a_message(tmp_path):
    p = _zip(tmp_path / "shp.zip", [("a.shp", b"\0" * 100), ("a.shx", b"\0" * 100), ("a.dbf", b"garbage")])
    with pytest.raises(InputError) as e:
        read_facilities(p)
    assert "shp.zip" in e.value.message("en") and "cannot read" in e.value.message("en")


# ------------------------------------------------------------------ uploads
def test_prune_uploads_by_age_keep_and_logs(tmp_path, caplog):
    import os
    import time

    from app.uploads import prune_uploads, save_upload

    old = save_upload("old.csv", b"a,b\n1,2\n", kind="facilities", data_dir=tmp_path)
    live = save_upload("live.csv", b"a,b\n3,4\n", kind="facilities", data_dir=tmp_path)
    fresh = save_upload("fresh.csv", b"a,b\n5,6\n", kind="facilities", data_dir=tmp_path)
    t = time.time()
    for f in (old, live):
        os.utime(f, (t - 2 * 86400, t - 2 * 86400))
    stray = old.parent / ".upload.abc.tmp"
    stray.write_bytes(b"half")
    os.utime(stray, (t - 2 * 86400, t - 2 * 86400))
    outside = tmp_path / "scenarios.sqlite"
    outside.write_bytes(b"keep me")
    os.utime(outside, (t - 9 * 86400, t - 9 * 86400))
    with caplog.at_level(logging.INFO, logger="app.uploads"):
        removed = prune_uploads(tmp_path, keep=[live], now=t)
    assert sorted(removed) == sorted([old, stray])
    assert not old.parent.exists() and live.exists() and fresh.exists() and outside.exists()
    assert any("removed upload" in r.getMessage() and "bytes" in r.getMessage() for r in caplog.records)
    # uploading the same content again refreshes its age
    os.utime(fresh, (t - 2 * 86400, t - 2 * 86400))
    again = save_upload("fresh.csv", b"a,b\n5,6\n", kind="facilities", data_dir=tmp_path)
    assert again == fresh and prune_uploads(tmp_path, keep=[live]) == []
    assert sorted(prune_uploads(tmp_path, max_age_s=0)) == sorted([live, fresh])
    assert prune_uploads(tmp_path / "nothing") == []
    with pytest.raises(InputError, match="max_age_s"):
        prune_uploads(tmp_path, max_age_s=float("nan"))


def test_upload_size_checked_in_code_and_logged(tmp_path, caplog):
    from app.uploads import save_upload

    with pytest.raises(InputError, match="larger than the upload limit"):
        save_upload("big.csv", b"x" * 2_000_001, kind="facilities", data_dir=tmp_path, max_mb=2)
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").rglob("*.csv"))
    with caplog.at_level(logging.INFO, logger="app.uploads"):
        save_upload("../../我的 站点.csv", b"a\n1\n", kind="facilities", data_dir=tmp_path)
    assert any("upload '我的_站点.csv' (facilities, 4 bytes)" in r.getMessage() for r in caplog.records)


def test_streamlit_server_upload_limit_configured():
    import tomllib
    from pathlib import Path

    conf = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    from app.uploads import DEFAULT_MAX_UPLOAD_MB

    assert conf["server"]["maxUploadSize"] == DEFAULT_MAX_UPLOAD_MB


# ------------------------------------------------------------------ map labels
def test_map_labels_cut_to_a_bounded_length():
    from maps.assets import to_html
    from maps.build import coverage_map
    from maps.layers import MAX_LABEL_CHARS
    from planner.config import default_types

    long = "长" * 100_000
    fac = pd.DataFrame({"id": ["=x" + "i" * 5000], "name": [long], "type": ["aed"], "lon": [121.47], "lat": [31.23]})
    html = to_html(coverage_map(facilities=fac, types=default_types(), lang="en", basemap="none", title=long))
    assert "长" * MAX_LABEL_CHARS not in html and "长" * (MAX_LABEL_CHARS - 1) in html
    assert "i" * 5000 not in html
    assert len(html) < 2_000_000


# ------------------------------------------------------------------ special files
def test_devices_and_pipes_refused_not_read(tmp_path):
    import os

    for dev in ("/dev/zero", "/dev/urandom"):
        if os.path.exists(dev):
            with pytest.raises(InputError, match="not a regular file"):
                read_facilities(dev)  # reading it would never end (or fill the memory)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_demand(fifo)  # opening it would block for ever


@pytest.mark.parametrize("kw, text", [({"speed_kmh": 1e-300}, "--speed-kmh"), ({"minutes": 1e-300}, "--minutes"),
                                      ({"breaks": [1e-9, 5]}, "--breaks")])
def test_tiny_goals_refused(kw, text):
    with pytest.raises(InputError) as e:
        run(grid_study(0, n=8, n_dem=50), **kw)
    assert text in e.value.message("en")


def test_siting_refuses_weights_that_overflow():
    from planner.siting import propose_study

    study = grid_study(0, n=8, n_dem=30)
    g = study.demand.gdf.copy()
    g["population"] = 1e308
    huge = replace(study, demand=replace(study.demand, gdf=g))
    with pytest.raises(InputError, match="missing, negative or above 1e\\+15"):
        propose_study(huge, "aed", count=1)
