"""Nonsense arguments and awkward inputs get a clear message, never a traceback or a silent junk result."""
from __future__ import annotations

import json
import os
import stat

import pytest

from planner import InputError
from planner.cli import main
from planner.config import default_types, load_facility_types
from planner.scenario import run
from tests.helpers import grid_study


@pytest.mark.parametrize("kw", [{"minutes": 0}, {"minutes": -5}, {"speed_kmh": 0}, {"speed_kmh": float("nan")}])
def test_nonsense_goals_are_refused(kw):
    with pytest.raises(InputError, match="must be a positive number"):
        default_types()["aed"].with_goal(**kw)


def test_nonsense_breaks_and_zero_demand():
    study = grid_study(0)
    with pytest.raises(InputError, match=r"breaks\) must be a number \(minutes\) >= 0.1"):
        run(study, breaks=[0, 5])
    g = study.demand.gdf.copy()
    g["population"] = 0.0
    from dataclasses import replace

    with pytest.raises(InputError, match="no demand to measure"):
        run(replace(study, demand=replace(study.demand, gdf=g)))


def test_user_types_file_errors_name_that_file_and_entry(tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('[[type]]\nkey = "pharmacy"\nlabel_zh = "药店"\ntarget_minutes = "ten"\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_facility_types(extra=bad)
    assert "mine.toml [[type]] #1" in e.value.message("en")
    speeds = tmp_path / "speeds.toml"
    speeds.write_text('[speeds]\nwalk = "fast"\n', encoding="utf-8")
    with pytest.raises(InputError, match="must be a positive number"):
        load_facility_types(extra=speeds)
    notables = tmp_path / "t.toml"
    notables.write_text("type = 5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"\[\[type\]\] tables"):
        load_facility_types(extra=notables)
    good = tmp_path / "ok.toml"
    good.write_text('[[type]]\nkey = "pharmacy"\nlabel_zh = "药店"\nlabel_en = "Pharmacy"\ntarget_minutes = 10\naliases = ["药房"]\n',
                    encoding="utf-8")
    t = load_facility_types(extra=good)
    assert t.resolve("药房") == "pharmacy" and t["pharmacy"].target_minutes == 10 and "aed" in t


def test_cli_refuses_bad_breaks_and_mixed_demand(tmp_path, capsys):
    assert main(["coverage", "--demo", "--demo-scale", "0.3", "--breaks", "abc", "--out", str(tmp_path), "--lang", "en"]) == 2
    assert "--breaks expects positive minutes" in capsys.readouterr().err
    mixed = tmp_path / "mixed.geojson"
    mixed.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"population": 10}, "geometry": {"type": "Point", "coordinates": [121.40, 31.22]}},
        {"type": "Feature", "properties": {"population": 20},
         "geometry": {"type": "Polygon", "coordinates": [[[121.40, 31.22], [121.41, 31.22], [121.41, 31.23], [121.40, 31.22]]]}},
    ]}), encoding="utf-8")
    assert main(["coverage", "--demo", "--demo-scale", "0.3", "--demand", str(mixed), "--out", str(tmp_path / "m"), "--lang", "en"]) == 2
    assert "mixes points (1) and polygons (1)" in capsys.readouterr().err


def test_polygon_facilities_are_placed_with_a_warning(tmp_path):
    from planner.io import read_facilities

    f = tmp_path / "f.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "甲", "type": "aed"},
         "geometry": {"type": "Polygon", "coordinates": [[[121.40, 31.22], [121.401, 31.22], [121.401, 31.221], [121.40, 31.22]]]}},
    ]}), encoding="utf-8")
    t = read_facilities(f)
    assert len(t.gdf) == 1
    assert any(w.code == "not_points" and "Polygon" in w.en for w in t.warnings)


def test_outputs_are_ordinary_readable_files(tmp_path):
    from planner.export import _UMASK, write_text

    p = write_text(tmp_path / "x.txt", "hi")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~_UMASK  # not mkstemp's private 0600


def test_time_limit_must_be_positive():
    from planner.siting import propose_study

    with pytest.raises(InputError, match="time limit must be positive"):
        propose_study(grid_study(0), "aed", count=2, method="exact", time_limit_s=0)
