"""Scenario store: round trips, name rules, messages, foreign files, import/export, compare, and kill -9 during saves."""
from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from planner._errors import InputError, PlannerError
from planner.compare import compare, headline
from planner.store import (
    MAX_NAME_CHARS,
    Scenario,
    ScenarioStore,
    Site,
    StoreError,
    default_store_path,
)

REPO = Path(__file__).resolve().parents[1]


def make_scenario(name: str, n_sites: int = 5, seed: int = 0, **kw) -> Scenario:
    rng = np.random.default_rng(seed)
    sites = tuple(
        Site(f"s{i}", float(121.3 + rng.random() * 0.2), float(31.1 + rng.random() * 0.2), "aed",
             ("click", "optimised", "file")[i % 3])
        for i in range(n_sites)
    )
    fields = {
        "name": name, "area_key": "demo", "type_key": "aed", "sites": sites, "removed": ("F001", "F007"),
        "params": {"minutes": 15, "speed_kmh": 4.5, "breaks": [5, 10, 15]}, "notes": "备注：试验 <b>1</b>",
        "results": {"types": {"aed": {"coverage_share": 0.5, "mean_minutes": 3.2}}, "areas": []},
    }
    return Scenario(**{**fields, **kw})


@pytest.fixture
def store(tmp_path) -> ScenarioStore:
    return ScenarioStore(tmp_path / "s.sqlite")


# ------------------------------------------------------------------------------ round trips


def test_round_trip_chinese_name_and_many_sites(store):
    sc = make_scenario("长宁区 AED 方案（第二版）", n_sites=3000)
    saved = store.save(sc)
    assert saved.created and saved.updated
    back = store.load("长宁区 AED 方案（第二版）")
    assert back == saved
    assert back.sites == sc.sites  # floats survive JSON exactly
    assert back.params == sc.params and back.results == sc.results and back.removed == sc.removed
    [info] = store.list()
    assert (info.name, info.area_key, info.type_key, info.n_sites) == (sc.name, "demo", "aed", 3000)
    assert store.check() == []


def test_name_is_normalised_and_results_made_json_safe(store):
    sc = make_scenario("  方案A  ", results={"types": {"aed": {"p90_minutes": float("nan"), "n": np.int64(3)}}})
    saved = store.save(sc)
    assert saved.name == "方案A"
    back = store.load("方案A ")
    assert back.results == {"types": {"aed": {"p90_minutes": None, "n": 3}}}
    assert "方案A" in store and "nothing" not in store


def test_overwrite_keeps_created_and_updates(store):
    first = store.save(make_scenario("a", n_sites=2))
    with pytest.raises(InputError) as e:
        store.save(make_scenario("a", n_sites=4))
    assert "A scenario named 'a' already exists" in e.value.message("en")
    assert "已存在名为「a」的方案" in e.value.message("zh")
    assert len(store.load("a").sites) == 2  # the refused save changed nothing
    time.sleep(0.01)
    second = store.save(make_scenario("a", n_sites=4), overwrite=True)
    assert second.created == first.created and second.updated > first.updated
    assert len(store.load("a").sites) == 4
    assert [i.name for i in store.list()] == ["a"]


def test_duplicate_rename_delete(store):
    store.save(make_scenario("基线"))
    copy = store.duplicate("基线", "方案 1")
    assert copy.name == "方案 1" and copy.sites == store.load("基线").sites
    assert sorted(i.name for i in store.list()) == sorted(["基线", "方案 1"])
    renamed = store.rename("方案 1", "方案 2")
    assert renamed.name == "方案 2" and "方案 1" not in store
    assert store.load("方案 2").sites == copy.sites
    with pytest.raises(InputError, match="already exists"):
        store.duplicate("基线", "方案 2")
    with pytest.raises(InputError, match="already exists"):
        store.rename("基线", "方案 2")
    store.delete("方案 2")
    assert [i.name for i in store.list()] == ["基线"]
    with pytest.raises(InputError) as e:
        store.delete("方案 2")
    assert "No scenario named '方案 2'. Saved scenarios: '基线'." in e.value.message("en")
    assert "没有名为「方案 2」的方案" in e.value.message("zh")


def test_list_filters_by_area_and_orders_by_update(store):
    store.save(make_scenario("x"))
    time.sleep(0.005)
    store.save(Scenario("y", area_key="changning.npz", type_key="health_centre"))
    assert [i.name for i in store.list()] == ["y", "x"]
    assert [i.name for i in store.list(area_key="changning.npz")] == ["y"]
    assert store.list(area_key="other") == []


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "name, en, zh",
    [
        ("", "Scenario name is empty", "方案名称为空"),
        ("   ", "Scenario name is empty", "方案名称为空"),
        ("名" * (MAX_NAME_CHARS + 1), f"is {MAX_NAME_CHARS + 1} characters long; use at most {MAX_NAME_CHARS}", "最多 100 个字符"),
        ("a\nb", "control characters", "控制字符"),
        (42, "must be text", "必须是文本"),
    ],
)
def test_bad_names(store, name, en, zh):
    with pytest.raises(InputError) as e:
        store.save(Scenario(name))
    assert en in e.value.message("en") and zh in e.value.message("zh")
    assert store.list() == []


def test_name_of_max_length_is_fine(store):
    store.save(Scenario("名" * MAX_NAME_CHARS))
    assert store.list()[0].name == "名" * MAX_NAME_CHARS


def test_bad_sites_are_all_named(store):
    sc = Scenario("bad", sites=(Site("p", 121.4, 31.2, "aed", "guess"), Site("p", 500.0, 31.2, "aed"),
                                Site("q", float("nan"), 31.0, "aed")))
    with pytest.raises(InputError) as e:
        store.save(sc)
    msg = e.value.message("en")
    assert "site 1 ('p'): origin 'guess' is not one of click, optimised, file" in msg
    assert "site 2 ('p'): lon/lat (500.0, 31.2) are not WGS-84 degrees" in msg
    assert "site 2 ('p'): the id is used by another site" in msg
    assert "site 3 ('q')" in msg
    assert "来源「guess」" in e.value.message("zh")


def test_load_missing_lists_saved(store):
    with pytest.raises(InputError) as e:
        store.load("nope")
    assert "No scenario named 'nope'. Saved scenarios: none saved yet." in e.value.message("en")
    assert "尚未保存任何方案" in e.value.message("zh")


# ------------------------------------------------------------------------------ files


def test_default_path_uses_planner_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_DATA", str(tmp_path / "data" / "here"))
    assert default_store_path() == tmp_path / "data" / "here" / "scenarios.sqlite"
    s = ScenarioStore()
    assert s.path.parent.is_dir() and s.path.exists()
    monkeypatch.delenv("PLANNER_DATA")
    assert default_store_path() == Path.home() / ".local/share/coverage-planner/scenarios.sqlite"


def test_non_sqlite_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "scenarios.sqlite"
    path.write_bytes(b"this is my thesis, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError) as e:
        ScenarioStore(path)
    assert isinstance(e.value, PlannerError)
    en, zh = e.value.message("en"), e.value.message("zh")
    assert "is not an SQLite database" in en and "It was left unchanged" in en
    assert "Move or rename it" in en and "PLANNER_DATA" in en
    assert "不是 SQLite 数据库" in zh and "未被修改" in zh
    assert path.read_bytes() == before


def test_other_programs_database_is_refused(tmp_path):
    path = tmp_path / "scenarios.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.close()
    with pytest.raises(StoreError, match="another program.*photos"):
        ScenarioStore(path)


def test_damaged_database_gives_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    s = ScenarioStore(path)
    for i in range(30):
        s.save(make_scenario(f"n{i}", n_sites=200))
    data = bytearray(path.read_bytes())
    # keep the header (so it looks like SQLite) and scribble over the b-tree pages
    data[4096:] = b"\xff" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    for p in path.parent.glob("s.sqlite-*"):
        p.unlink()
    with pytest.raises(StoreError) as e:
        s2 = ScenarioStore(path)
        s2.load("n3")
        s2.list()
    assert "damaged" in e.value.message("en") and "已损坏" in e.value.message("zh")


def test_export_import_between_machines(tmp_path):
    a = ScenarioStore(tmp_path / "a.sqlite")
    a.save(make_scenario("方案甲", n_sites=20))
    a.save(make_scenario("方案乙", n_sites=3, seed=1))
    out = a.export_file(tmp_path / "out" / "scenarios.json")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "coverage-planner-scenarios" and len(doc["scenarios"]) == 2
    assert not list(out.parent.glob(".*.tmp"))
    b = ScenarioStore(tmp_path / "b.sqlite")
    b.save(Scenario("本地"))
    assert sorted(b.import_file(out)) == ["方案乙", "方案甲"]
    assert b.load("方案甲") == a.load("方案甲")
    with pytest.raises(InputError) as e:
        b.import_file(out)
    assert "already exist" in e.value.message("en") and "未导入" in e.value.message("zh")
    assert b.import_file(out, overwrite=True)
    assert len(b.list()) == 3
    only = a.export_file(tmp_path / "one.json", names=["方案乙"])
    assert [d["name"] for d in json.loads(only.read_text(encoding="utf-8"))["scenarios"]] == ["方案乙"]


def test_import_rejects_foreign_json(tmp_path, store):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="not a scenario file exported by the planner"):
        store.import_file(p)
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot be read as a scenario file"):
        store.import_file(p)
    p.write_text(json.dumps({"format": "coverage-planner-scenarios", "version": 1,
                             "scenarios": [{"name": "ok"}, {"name": "bad", "sites": [{"id": "x"}]}]}), encoding="utf-8")
    with pytest.raises(InputError, match="site 1"):
        store.import_file(p)
    assert store.list() == []  # nothing half-imported


# ------------------------------------------------------------------------------ compare


def test_compare_headline_figures():
    base = {"types": {"aed": {"label_zh": "AED", "coverage_share": 0.5, "demand_covered": 100.0, "demand_total": 200.0,
                              "mean_minutes": 4.0, "p90_minutes": 9.0}},
            "areas": [{"area_id": "A", "name": "甲", "type": "aed", "coverage_share": 0.4, "demand_covered": 40.0,
                       "demand_total": 100.0, "mean_minutes": 5.0, "p90_minutes": None}]}
    prop = json.loads(json.dumps(base))
    prop["types"]["aed"]["coverage_share"] = 0.75
    prop["areas"][0]["coverage_share"] = 0.9
    prop["areas"].append({"area_id": "B", "name": "乙", "type": "aed", "coverage_share": 1.0})
    df = compare(base, prop)
    assert list(df.columns) == ["scope", "type", "area_id", "name", "metric", "baseline", "proposal", "delta"]
    row = df[(df.scope == "type") & (df.metric == "coverage_share")].iloc[0]
    assert (row.baseline, row.proposal, row.delta) == (0.5, 0.75, 0.25)
    a = df[(df.area_id == "A") & (df.metric == "coverage_share")].iloc[0]
    assert math.isclose(a.delta, 0.5)
    assert math.isnan(df[(df.area_id == "A") & (df.metric == "p90_minutes")].iloc[0].delta)
    b = df[(df.area_id == "B") & (df.metric == "coverage_share")].iloc[0]
    assert math.isnan(b.baseline) and b.proposal == 1.0
    assert compare({}, {}).empty


def test_headline_from_a_run_compares_with_itself():
    from planner.scenario import run
    from tests.helpers import grid_study

    res = run(grid_study(), isochrones="none")
    h = headline(res)
    json.dumps(h, allow_nan=False)
    assert set(h["types"]) == set(res.coverage)
    assert len(h["areas"]) == len(res.areas)
    df = compare(h, h)
    assert (df["delta"].dropna() == 0).all()
    assert set(df.scope) == {"type", "area"}


# ------------------------------------------------------------------------------ kill -9

_WRITER = r"""
import sys
sys.path.insert(0, {repo!r})
from planner.store import Scenario, ScenarioStore, Site
store = ScenarioStore({path!r})
sites = tuple(Site(f"k{{i}}", 121.3 + i * 1e-5, 31.2 - i * 1e-5, "aed", "optimised") for i in range(4000))
i = 0
while True:
    sc = Scenario(f"bulk-{{i % 7}}", area_key="demo", type_key="aed", sites=sites[: 3000 + i % 1000],
                  notes="大" * 20000, results={{"i": i}})
    store.save(sc, overwrite=True)
    if i % 5 == 0:
        # a kill between these two leaves the renamed copy behind: names are unique per run
        store.rename(f"bulk-{{i % 7}}", f"renamed-{run}-{{i}}")
        store.delete(f"renamed-{run}-{{i}}")
    if i == 0:
        sys.stdout.write("saving\n")
        sys.stdout.flush()
    i += 1
"""


def test_kill_9_during_saves_never_loses_earlier_scenarios(tmp_path):
    path = tmp_path / "scenarios.sqlite"
    store = ScenarioStore(path)
    earlier = [store.save(make_scenario(f"已保存 {k}", n_sites=500 + k, seed=k)) for k in range(4)]
    rng = random.Random(20240605)
    for _run in range(5):
        code = _WRITER.format(repo=str(REPO), path=str(path), run=_run)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = proc.stdout.readline()  # the writer is inside its save loop
            assert line == b"saving\n", proc.stderr.read().decode()
            delay = rng.uniform(0.05, 0.5)
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        where = f"run {_run}, killed after {delay:.3f} s"
        assert proc.returncode == -signal.SIGKILL, f"{where}: writer ended by itself: {proc.stderr.read().decode()[-2000:]}"
        reopened = ScenarioStore(path)
        assert reopened.check() == [], where
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
        for sc in earlier:
            assert reopened.load(sc.name) == sc, where
        # whatever the writer committed is whole too
        for info in reopened.list():
            loaded = reopened.load(info.name)
            assert len(loaded.sites) == info.n_sites
