"""CSV formula injection: every CSV the project writes (CLI files and app downloads) neutralises user text."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.cli import main
from planner.export import csv_bytes, csv_safe, neutralise_cell, write_csv
from planner.network import save_network
from tests.helpers import X0, Y0, grid_network, grid_study

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tTAB", "\rCR", "=1+1"]
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def dangerous_cells(data: bytes) -> list[str]:
    """Cells a spreadsheet would read as a formula: start with = + - @ tab CR and are not a plain number."""
    text = data.decode("utf-8-sig")
    bad = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell and cell[0] in "=+-@\t\r" and not _NUMBER.fullmatch(cell):
                bad.append(cell)
    return bad


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("+cmd", "'+cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("-2+3", "'-2+3"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-12.5", "-12.5"), ("+3", "+3"), ("1e5", "1e5"), ("-", "'-"),
    ("站点=1", "站点=1"), ("", ""), (-5, -5), (3.5, 3.5), (None, None),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_csv_bytes_numbers_untouched_headers_and_input_unchanged():
    df = pd.DataFrame({"id": ["=A1", "b"], "n": [-1.5, 2.0], "k": [-3, 4], "ok": [True, False], "=h": ["@x", None]})
    before = df.copy()
    data = csv_bytes(df)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert list(back.columns) == ["id", "n", "k", "ok", "'=h"]
    assert back["id"].tolist() == ["'=A1", "b"]
    assert back["n"].tolist() == [-1.5, 2.0] and back["k"].tolist() == [-3, 4]
    assert back["ok"].tolist() == [True, False]
    assert back["'=h"].iloc[0] == "'@x" and pd.isna(back["'=h"].iloc[1])
    pd.testing.assert_frame_equal(df, before)
    assert dangerous_cells(data) == []
    assert dangerous_cells(df.to_csv(index=False).encode()) != []  # the check itself can fail
    # string dtype columns too
    s = pd.DataFrame({"x": pd.array(["=1", "a"], dtype="string")})
    assert csv_safe(s)["x"].tolist() == ["'=1", "a"]


def test_write_csv_atomic_and_same_bytes(tmp_path):
    df = pd.DataFrame({"name": HOSTILE})
    p = write_csv(df, tmp_path / "x.csv")
    assert p.read_bytes() == csv_bytes(df)
    assert [f.name for f in tmp_path.iterdir()] == ["x.csv"]


def _hostile_inputs(tmp_path: Path):
    net = grid_network(12)
    save_network(net, tmp_path / "net.npz")
    rng = np.random.default_rng(1)
    n = len(HOSTILE)
    fx, fy = rng.uniform(X0, X0 + 1100, n), rng.uniform(Y0, Y0 + 1100, n)
    flon, flat = net.to_lonlat(fx, fy)
    fac = pd.DataFrame({"id": HOSTILE, "name": [h + "名" for h in HOSTILE], "type": "aed", "lon": flon, "lat": flat,
                        "=extra": HOSTILE})
    fac.to_csv(tmp_path / "fac.csv", index=False)
    m = 60
    dx, dy = rng.uniform(X0, X0 + 1100, m), rng.uniform(Y0, Y0 + 1100, m)
    dlon, dlat = net.to_lonlat(dx, dy)
    ids = [HOSTILE[i % n] + str(i) for i in range(m)]
    pops = [str(v) for v in rng.integers(1, 50, m)]
    pops[3] = "=1+1"  # a bad row: rejected_rows.csv must be safe too
    pd.DataFrame({"id": ids, "lon": dlon, "lat": dlat, "population": pops}).to_csv(tmp_path / "dem.csv", index=False)
    half = X0 + 550
    boxes = [shapely.box(X0 - 50, Y0 - 50, half, Y0 + 1150), shapely.box(half, Y0 - 50, X0 + 1150, Y0 + 1150)]
    gpd.GeoDataFrame({"area_id": ["@A", "-B"], "name": ["=西区", "+东区"]}, geometry=boxes, crs=net.crs).to_crs(4326).to_file(
        tmp_path / "areas.geojson", driver="GeoJSON")
    return tmp_path / "net.npz", tmp_path / "fac.csv", tmp_path / "dem.csv", tmp_path / "areas.geojson"


def test_every_cli_csv_is_safe(tmp_path):
    net, fac, dem, areas = _hostile_inputs(tmp_path)
    out = tmp_path / "out"
    rc = main(["coverage", "--network", str(net), "--facilities", str(fac), "--demand", str(dem), "--areas", str(areas),
               "--skip-invalid", "--no-map", "--isochrones", "none", "--minutes", "5", "--lang", "en", "--out", str(out)])
    assert rc == 0
    written = sorted(p.name for p in out.glob("*.csv"))
    assert written == ["areas.csv", "demand.csv", "facilities.csv", "rejected_rows.csv"]
    for p in out.glob("*.csv"):
        assert dangerous_cells(p.read_bytes()) == [], p.name
    # the hostile text is still there, only inert
    fac_out = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig")
    assert "'=HYPERLINK(\"http://x\",\"y\")" in set(fac_out["id"])
    assert "'@SUM(A1)名" in set(fac_out["name"])

    out2 = tmp_path / "out2"
    rc = main(["propose", "--network", str(net), "--facilities", str(fac), "--demand", str(dem), "--candidates", str(fac),
               "--skip-invalid", "--type", "aed", "--count", "2", "--minutes", "3", "--no-map", "--lang", "en",
               "--out", str(out2)])
    assert rc == 0
    assert {"proposals.csv", "rejected_rows.csv"} <= {p.name for p in out2.glob("*.csv")}
    for p in out2.glob("*.csv"):
        assert dangerous_cells(p.read_bytes()) == [], p.name


def test_app_csv_downloads_are_safe():
    from planner.export import areas_csv_bytes, export_items, statistics_csv_bytes
    from planner.scenario import run

    study = grid_study(seed=2, n=12, n_fac=4, n_dem=100)
    fac = study.facilities.copy()
    fac["id"] = HOSTILE[:4]
    fac["name"] = HOSTILE[3:7]
    areas = study.areas.copy()
    areas["name"] = ["=HYPERLINK(\"x\")", "@SUM(A1)"]
    study = study.with_facilities(fac)
    from dataclasses import replace

    study = replace(study, areas=areas)
    result = run(study, minutes=5, isochrones="none")
    for lang in ("en", "zh"):
        for data in (statistics_csv_bytes(result, lang), areas_csv_bytes(result, lang)):
            assert dangerous_cells(data) == []
        items = [i for i in export_items(result, lang=lang) if i.filename.endswith(".csv")]
        assert items
        for i in items:
            assert dangerous_cells(i.make()) == [], i.filename
