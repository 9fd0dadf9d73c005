"""The Streamlit app driven through ``streamlit.testing.v1.AppTest``, plus the UI-free session logic under it.

Every flow of issue 5: open on the demo, switch language, upload facilities (good, malformed,
too large), add and remove a proposed site by a simulated map click, optimise, save/load/
duplicate/compare scenarios, and every export parsed back.
"""
from __future__ import annotations

import io
import re
import string
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from app import state as ss
from app import uploads
from maps.i18n import TEXT, t
from planner import InputError, export

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
TIMEOUT = 120

# A click inside the demo district, on the under-served side (WGS-84; the default basemap is "none").
CLICK = {"lat": 31.215, "lng": 121.395}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Scenario store, uploads and network cache in a temporary folder."""
    monkeypatch.setenv("PLANNER_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PLANNER_MAX_UPLOAD_MB", raising=False)
    return tmp_path


def open_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def headline(at: AppTest):
    return at.metric[0]


def shown(value: str) -> str:
    """What the browser shows for a markdown value: backslash escapes, word joiners and hard breaks of user text
    (:func:`app.text.md_escape`) rendered away."""
    value = value.replace("\u2060", "").replace("\u00a0", " ").replace("  \n", "\n")
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", value)


def pct_text(share: float) -> str:
    """A share as the app prints it (``40.1%``)."""
    return f"{share * 100:.1f}%"


def texts(at: AppTest, kind: str) -> list[str]:
    return [shown(e.value) for e in getattr(at, kind)]


def toasts(at: AppTest) -> list[str]:
    """Confirmations are toasts (they take no room on the page, so nothing above the tabs moves)."""
    return [shown(e.value) for e in at.toast]


def share_of(value: str) -> float:
    return float(value.rstrip("%"))


# ---------------------------------------------------------------------------------------- open and language
def test_opens_on_demo_with_headline(env):
    at = open_app()
    m = headline(at)
    assert m.label == "15 分钟覆盖率"
    assert re.fullmatch(r"\d+\.\d%", m.value)
    assert any("目标 100.0%" in c.value for c in at.caption)
    assert at.selectbox(key="type_key__zh").value == "health_centre"
    # statistics panel: mean and p90, per-area table, the all-types table
    labels = [x.label for x in at.metric]
    assert "人口加权平均时间" in labels and "90% 分位时间" in labels
    frames = [d.value for d in at.dataframe]
    assert any("名称" in f.columns and len(f) == 5 for f in frames)  # five demo subdistricts
    assert any("设施类型" in f.columns and len(f) >= 10 for f in frames)


def test_language_switch_changes_labels(env):
    at = open_app()
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert headline(at).label == "15-min coverage"
    assert at.selectbox(key="type_key__en").label == "Facility type"
    assert any("goal 100.0%" in c.value for c in at.caption)
    frames = [d.value for d in at.dataframe]
    assert any("Name" in f.columns for f in frames)
    assert any("Coverage (%)" in f.columns for f in frames)
    assert not any(re.search(r"[\u4e00-\u9fff]", x.label) for x in at.metric)
    at.radio(key="lang").set_value("zh").run()
    assert headline(at).label == "15 分钟覆盖率"


def test_every_text_has_both_languages_with_the_same_placeholders():
    fields = string.Formatter()
    for key, (zh, en) in TEXT.items():
        assert zh.strip() and en.strip(), key
        assert {f[1] for f in fields.parse(zh) if f[1]} == {f[1] for f in fields.parse(en) if f[1]}, key
    assert t("headline", "en", minutes=15) == "15-min coverage"


# ---------------------------------------------------------------------------------------- uploads
def facility_csv(rows: list[tuple]) -> bytes:
    lines = ["id,name,type,lon,lat"] + [",".join(map(str, r)) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_upload_facility_file_replaces_that_type(env):
    at = open_app()
    before = share_of(headline(at).value)
    data = facility_csv([("S1", "站一", "health_centre", 121.395, 31.215), ("S2", "站二", "health_centre", 121.41, 31.23),
                         ("S3", "站三", "health_centre", 121.38, 31.20), ("S4", "站四", "health_centre", 121.42, 31.21)])
    at.file_uploader(key="up_facilities").upload("my stations.csv", data, "text/csv").run()
    assert not at.exception
    assert any("已载入 my_stations.csv：4 条记录" in s for s in toasts(at))
    assert at.metric[1].value == "4"  # the demo's five health centres were replaced by the four uploaded
    assert share_of(headline(at).value) != before
    stored = [p for p in (env / "data" / "uploads").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].name == "my_stations.csv"


def test_malformed_upload_shows_every_problem_and_app_stays_alive(env):
    at = open_app()
    data = facility_csv([("S1", "站一", "health_centre", 121.395, 31.215), ("S2", "站二", "health_centre", 121.41, 131.23),
                         ("S3", "站三", "nonsense", 121.38, 31.20)])
    at.file_uploader(key="up_facilities").upload("bad.csv", data, "text/csv").run()
    assert not at.exception
    err = "\n".join(texts(at, "error"))
    assert "未载入 bad.csv" in err
    assert "第 3 行" in err and "第 4 行" in err  # header = row 1
    assert "nonsense" in err
    assert headline(at).value.endswith("%")  # still computing on the demo
    assert at.metric[1].value == "5"
    # the same message in English after the switch (errors are rendered in the chosen language)
    at.file_uploader(key="up_facilities").upload("bad2.csv", data + b"\n", "text/csv")
    at.radio(key="lang").set_value("en").run()
    err = "\n".join(texts(at, "error"))
    assert "bad2.csv was not loaded" in err and "row 3" in err


def test_boundary_upload_is_cut_to_the_study_area(env):
    import geopandas as gpd
    from shapely.geometry import box

    study = ss.demo_study()
    areas = study.areas[["area_id", "name", "geometry"]].copy()
    far = gpd.GeoDataFrame({"area_id": ["far"], "name": ["远处"]}, geometry=[box(120.0, 30.0, 120.1, 30.1)], crs=4326)
    both = gpd.GeoDataFrame(pd_concat([areas.to_crs(4326), far]), crs=4326)
    at = open_app()
    at.file_uploader(key="up_areas").upload("city.geojson", both.to_json().encode(), "application/geo+json").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"已载入 city.geojson：{len(areas)} 条记录" in s for s in toasts(at))
    assert any("有 1 个位于路网范围之外" in w for w in texts(at, "warning"))
    # a file none of whose areas overlaps the district: a clear message, no traceback
    at.file_uploader(key="up_areas").upload("elsewhere.geojson", far.to_json().encode(), "application/geo+json").run()
    assert not at.exception
    err = "\n".join(texts(at, "error"))
    assert "未载入 elsewhere.geojson" in err and "均不与研究范围" in err and "合成数据" in err
    assert uploads.save_upload("b.geojson", b"{}", kind="areas", data_dir=env).suffix == ".geojson"


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_unexpected_reading_error_is_a_message(env, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("driver exploded")

    import planner.io

    monkeypatch.setattr(planner.io, "read_facilities", boom)
    at = open_app()
    at.file_uploader(key="up_facilities").upload("x.csv", facility_csv([("S1", "a", "aed", 121.4, 31.2)]), "text/csv").run()
    assert not at.exception
    assert any("x.csv" in e and "driver exploded" in e for e in texts(at, "error"))


def test_outside_points_say_so_and_skipping_rereads_the_file(env):
    at = open_app()
    data = facility_csv([("S1", "站一", "health_centre", 121.395, 31.215), ("S2", "站二", "health_centre", 121.60, 31.215)])
    at.file_uploader(key="up_facilities").upload("far.csv", data, "text/csv").run()
    err = "\n".join(texts(at, "error"))
    assert "位于研究范围之外" in err and "跳过有误的行" in err
    at.checkbox(key="skip_invalid").check().run()  # the same upload is read again with the new option
    assert not at.exception
    assert any("已载入 far.csv：1 条记录" in s for s in toasts(at))
    assert at.metric[1].value == "1"


def test_upload_above_the_limit_is_refused(env, monkeypatch):
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "0.0001")
    at = open_app()
    at.file_uploader(key="up_facilities").upload("big.csv", facility_csv([("S1", "a", "aed", 121.4, 31.2)] * 20),
                                                 "text/csv").run()
    assert not at.exception
    assert any("超过上传上限" in e for e in texts(at, "error"))
    assert not (env / "data" / "uploads").exists() or not any(p.is_file() for p in (env / "data" / "uploads").rglob("*"))


def test_save_upload_never_leaves_the_data_folder(tmp_path):
    for name in ("../../etc/passwd.csv", "..\\..\\evil.csv", "/abs/path/x.csv", "C:\\Windows\\x.csv", ".hidden.csv"):
        p = uploads.save_upload(name, b"id,lon,lat\n", kind="facilities", data_dir=tmp_path)
        assert p.parent.parent == (tmp_path / "uploads").resolve()
        assert ".." not in p.name and p.name.endswith(".csv")
    assert uploads.safe_filename("长宁 区 设施.csv") == "长宁_区_设施.csv"
    with pytest.raises(InputError) as e:
        uploads.save_upload("run.py", b"print(1)", kind="facilities", data_dir=tmp_path)
    assert "run.py" in e.value.message("en") and "not accepted" in e.value.message("en")
    with pytest.raises(InputError) as e:
        uploads.save_upload("x.csv", b"x" * 2000, kind="facilities", data_dir=tmp_path, max_mb=0.001)
    assert "超过上传上限" in e.value.message("zh")


# ---------------------------------------------------------------------------------------- propose
def test_click_adds_and_remove_button_removes_a_site(env):
    at = open_app()
    base = headline(at).value
    at.session_state["map"] = {"last_clicked": CLICK}  # what st_folium writes on a click
    at.run()
    assert not at.exception
    m = headline(at)
    assert share_of(m.value) > share_of(base) and m.delta.startswith("+") and m.delta.endswith("个百分点")
    assert any(s.startswith("已新增 P1") for s in toasts(at))
    props = at.session_state["proposals"]
    assert [p.id for p in props] == ["P1"] and props[0].type == "health_centre"

    # the incremental what-if agrees with a full run on the scenario
    from planner.scenario import run

    study = ss.demo_study()
    full = run(ss.with_proposals(study, props), type_keys=["health_centre"], isochrones="none")
    assert share_of(m.value) == pytest.approx(full.summary["types"]["health_centre"]["coverage_share"] * 100, abs=0.051)

    at.run()  # a rerun with the same click value does not add it again, nor repeats its message
    assert len(at.session_state["proposals"]) == 1
    assert not any("已新增" in s for s in toasts(at) + texts(at, "success"))
    at.button(key="rm_P1").click().run()
    assert not at.exception
    assert at.session_state["proposals"] == []
    assert headline(at).value == base


def test_click_outside_warns_and_remove_all_allows_the_same_click_again(env):
    at = open_app()
    at.session_state["map"] = {"last_clicked": {"lat": 31.0, "lng": 121.0}}
    at.run()
    assert at.session_state["proposals"] == []
    assert any("研究范围之外" in s for s in toasts(at))
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert len(at.session_state["proposals"]) == 1
    at.button(key="rm_all").click().run()
    assert at.session_state["proposals"] == []
    at.session_state["map"] = {"last_clicked": CLICK}  # the very same spot
    at.run()
    assert len(at.session_state["proposals"]) == 1


def test_layout_above_the_tabs_is_stable(env):
    """The tabs keep their place (and the chosen tab) whatever messages come and go."""
    at = open_app()
    before = list(at.main.children)
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    at.text_input(key="scen_name").set_value("甲")
    at.button(key="scen_save").click().run()
    assert list(at.main.children) == before
    at.file_uploader(key="up_facilities").upload("bad.csv", b"nonsense", "text/csv").run()
    assert list(at.main.children) == before


def test_study_label_and_bands_follow_the_language_and_order(env):
    at = open_app()
    assert any(shown(c.value) == "示范区（合成数据）" for c in at.caption)
    at.radio(key="lang").set_value("en").run()
    assert any(shown(c.value) == "Demo district (synthetic)" for c in at.caption)
    from planner.scenario import run

    res = run(ss.demo_study(), isochrones="none")
    for k in res.summary["types"]:
        bands = list(ss.bands_frame(res, k, "en")["band"])
        assert bands[-1] == "unreachable" and bands[-2].startswith(">"), (k, bands)


def test_optimise_and_accept(env):
    at = open_app()
    at.number_input(key="opt_n").set_value(5)
    at.button(key="opt_run").click().run()
    assert not at.exception
    # the default method is auto (as on the command line): its name in Chinese, its proven gap, and greedy's answer
    assert any("5 个新点位" in s and "自动" in s and "auto" not in s for s in texts(at, "success"))
    assert any("已证明与最优解的差距不超过" in c for c in texts(at, "caption"))
    result, greedy = at.session_state["siting"][2], at.session_state["siting"][4]
    assert result.objective >= greedy.objective - 1e-9  # never below the quick answer
    assert any(f"本方案 {pct_text(result.share_after)}" in s for s in texts(at, "info"))
    ranked = [d.value for d in at.dataframe if "排名" in d.value.columns]
    assert ranked and len(ranked[0]) == 5
    at.button(key="opt_accept_all").click().run()
    assert not at.exception
    props = at.session_state["proposals"]
    assert len(props) == 5 and {p.origin for p in props} == {"optimised"}
    assert headline(at).delta.startswith("+")
    assert any("已采纳 5 个点位" in s for s in toasts(at))
    assert not any("已新增" in s for s in toasts(at) + texts(at, "success"))  # added-site message: clicks only


def test_optimised_sites_are_on_the_map_before_accepting_and_greedy_is_checked_against_exact(env):
    at = open_app()
    at.radio(key="opt_mode__zh").set_value("target").run()
    at.radio(key="opt_method__zh").set_value("greedy").run()
    assert at.number_input(key="opt_x").value == at.number_input(key="goal_share").value == 100.0  # one goal
    at.number_input(key="opt_x").set_value(80.0)
    at.button(key="opt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    result, exact = at.session_state["siting"][2], at.session_state["siting"][3]
    assert exact is not None and exact.gap <= 1e-6 and len(exact.sites) <= len(result.sites)
    assert any(f"贪心法：{len(result.sites)} 个点位；精确最优：{len(exact.sites)} 个点位" in s for s in texts(at, "info"))
    ranked = [d.value for d in at.dataframe if "排名" in d.value.columns][0]
    assert not any(str(v).startswith("n") for v in ranked.iloc[:, 1:].to_numpy().ravel())  # no internal node ids
    html = {i.key: i for i in at.session_state["exports"]}["map_html"].make().decode("utf-8")
    import json

    assert ("优化结果（未采纳）" in html or json.dumps("优化结果（未采纳）")[1:-1] in html)
    assert html.count("pm-prop") >= len(result.sites)
    assert at.session_state["proposals"] == []  # nothing accepted yet


# ---------------------------------------------------------------------------------------- scenarios
def test_save_load_duplicate_compare_scenarios(env):
    at = open_app()
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    at.text_input(key="scen_name").set_value("方案甲")
    at.button(key="scen_save").click().run()
    assert any("已保存方案「方案甲」" in s for s in toasts(at))
    assert at.text_input(key="scen_name").value == "方案 1"  # a fresh name is proposed after a save
    at.button(key="rm_P1").click().run()
    assert at.session_state["proposals"] == []
    at.button(key="scen_load").click().run()
    assert not at.exception
    assert [p.id for p in at.session_state["proposals"]] == ["P1"]
    # a second save under an existing name asks first
    proposals = list(at.session_state["proposals"])
    at.text_input(key="scen_name").set_value("方案甲")
    at.button(key="rm_P1").click().run()
    at.button(key="scen_save").click().run()
    assert any("已有名为「方案甲」的方案" in w for w in texts(at, "warning"))
    at.button(key="scen_load").click().run()
    assert at.session_state["proposals"] == proposals  # the saved one is untouched
    at.button(key="scen_dup").click().run()
    assert set(at.selectbox(key="scen_pick__zh").options) >= {"方案甲 副本 · 建议点位数 1", "方案甲 · 建议点位数 1"}
    at.selectbox(key="cmp_a__zh").set_value("__existing__")
    at.selectbox(key="cmp_b__zh").set_value("方案甲")
    at.run()
    assert not at.exception
    cmp = [d.value for d in at.dataframe if "Δ" in d.value.columns]
    assert cmp, "comparison table"
    share_row = cmp[0][cmp[0]["指标"] == "覆盖率（%）"].iloc[0]
    assert share_row["Δ"] > 0
    # the store file is where PLANNER_DATA says
    assert (env / "data" / "scenarios.sqlite").exists()


# ---------------------------------------------------------------------------------------- exports
def test_every_export_parses_back(env):
    import geopandas as gpd
    import openpyxl
    import pandas as pd

    at = open_app()
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    items = {i.key: i for i in at.session_state["exports"]}
    assert {"statistics_csv", "statistics_xlsx", "areas_csv", "layers_geojson", "layers_gpkg", "map_html"} <= set(items)
    assert {b.key for b in at.get("download_button")} >= {f"dl_{k}" for k in items}

    csv = pd.read_csv(io.BytesIO(items["statistics_csv"].make()), encoding="utf-8-sig")
    assert any("覆盖率" in c for c in csv.columns) and len(csv) >= 10  # every type, not only the one on the map
    areas = pd.read_csv(io.BytesIO(items["areas_csv"].make()), encoding="utf-8-sig")
    assert len(areas) == 5 and "名称" in areas.columns
    wb = openpyxl.load_workbook(io.BytesIO(items["statistics_xlsx"].make()))
    assert "分类型统计" in wb.sheetnames
    assert any("覆盖率" in str(c.value) for c in wb["分类型统计"][1])
    gj = gpd.read_file(io.BytesIO(items["layers_geojson"].make()))
    assert {"facilities", "proposals", "isochrones", "gaps", "areas"} <= set(gj["layer"])
    path = env / "layers.gpkg"
    path.write_bytes(items["layers_gpkg"].make())
    import pyogrio

    assert {"facilities", "proposals", "areas"} <= {name for name, _ in pyogrio.list_layers(path)}
    assert len(gpd.read_file(path, layer="proposals")) == 1
    assert "P1" not in set(gpd.read_file(path, layer="facilities")["id"])  # proposals in their own layer only
    assert "P1" not in set(gj.loc[gj["layer"] == "facilities", "id"])
    html = items["map_html"].make().decode("utf-8")
    assert "L.map(" in html or "L.map" in html
    assert html.count("L.map(") == 1  # the map once, even after st_folium rendered it
    assert "cdn.jsdelivr" not in html and "<script src=\"http" not in html
    if "summary_html" in items:
        summary = items["summary_html"].make().decode("utf-8")
        assert "<svg" in summary and "P1" in summary
        # the proposal's row gives the residents it newly covers, as the app showed them (it was empty)
        added = at.session_state["whatif"].marginal["P1"]
        row = re.search(r"<tr><td class=\"n\">1</td><td>P1</td>.*?</tr>", summary).group(0)
        assert f"{added:,.0f}" in row and "–" not in row

    # English headers after the switch
    at.radio(key="lang").set_value("en").run()
    csv = pd.read_csv(io.BytesIO({i.key: i for i in at.session_state["exports"]}["statistics_csv"].make()))
    assert {"coverage_share", "coverage_pct"} & set(csv.columns)


# ---------------------------------------------------------------------------------------- work is never lost
def test_proposals_survive_a_facility_upload_and_a_switch_of_area_keeps_them_as_a_draft(env):
    from planner.store import ScenarioStore

    at = open_app()
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert len(at.session_state["proposals"]) == 1
    data = facility_csv([("A1", "除颤器一", "aed", 121.40, 31.22)])
    at.file_uploader(key="up_facilities").upload("aed.csv", data, "text/csv").run()
    assert not at.exception
    assert len(at.session_state["proposals"]) == 1  # the upload did not delete the proposal
    drafts = [i for i in ScenarioStore().list() if i.name.startswith("草稿")]
    assert len(drafts) == 1 and drafts[0].n_sites == 1  # and it is already in the store
    # switching the area keeps them as the old area's draft, and says so
    from planner.demo import write_demo

    paths = write_demo(env / "small", scale=0.2)
    osm = Path(paths["osm"])
    at.radio(key="area_kind__zh").set_value("upload").run()
    at.file_uploader(key="up_network").upload(osm.name, osm.read_bytes(), "application/xml").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["proposals"] == []
    assert any("存为方案" in t and "草稿" in t for t in toasts(at))
    kept = ScenarioStore().load(drafts[0].name)
    assert len(kept.sites) == 1 and kept.area_key == "demo"


def test_cleared_uploaders_let_go_and_the_same_file_loads_again(env):
    at = open_app()
    data = facility_csv([("S1", "站一", "health_centre", 121.395, 31.215)])
    at.file_uploader(key="up_facilities").upload("st.csv", data, "text/csv").run()
    assert at.metric[1].value == "1"
    assert any("合成数据" in w for w in texts(at, "warning"))  # files over synthetic residents: said
    at.button(key="reset_layers").click().run()
    assert at.metric[1].value == "5" and at.session_state["layers"] == []
    assert "up_facilities" not in {u.key for u in at.file_uploader}  # a fresh, empty uploader
    at.file_uploader(key="up_facilities_1").upload("st.csv", data, "text/csv").run()
    assert not at.exception and at.metric[1].value == "1"  # the same file again is read again


def test_skipped_rows_can_be_downloaded(env):
    at = open_app()
    data = facility_csv([("S1", "站一", "health_centre", 121.395, 31.215), ("S2", "站二", "health_centre", 121.60, 31.215)])
    at.checkbox(key="skip_invalid").check().run()
    at.file_uploader(key="up_facilities").upload("far.csv", data, "text/csv").run()
    assert not at.exception
    keys = {b.key for b in at.get("download_button")}
    assert "rejected_download" in keys
    rejected = at.session_state["rejected"]
    assert list(rejected["row"]) == [3] and set(rejected["file"]) == {"far.csv"}


def test_walking_speed_choice_changes_the_goal_distance(env):
    at = open_app()
    before = share_of(headline(at).value)
    at.radio(key="speed_kind__zh").set_value("elderly").run()
    assert not at.exception
    summary = at.session_state["summary"]
    assert summary["types"]["health_centre"]["speed_kmh"] == pytest.approx(3.6)
    assert share_of(headline(at).value) < before  # slower walkers reach less within the same minutes
    at.radio(key="speed_kind__zh").set_value("custom").run()
    at.number_input(key="speed_custom").set_value(6.0).run()
    assert at.session_state["summary"]["types"]["health_centre"]["speed_kmh"] == pytest.approx(6.0)
    assert share_of(headline(at).value) > before


def test_move_one_facility_by_clicking_and_compare_per_subdistrict(env):
    at = open_app()
    n_before = len(at.session_state["proposals"])
    at.toggle(key="reloc_click").set_value(True).run()
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert len(at.session_state["proposals"]) == n_before  # in move mode a click adds no site
    assert at.session_state["reloc_target"] == pytest.approx((CLICK["lng"], CLICK["lat"]))
    at.button(key="reloc_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sb, sa = at.session_state["reloc_table"]
    # the same move through the library gives the same figures
    study = ss.demo_study()
    fid = at.selectbox(key="reloc_fac").value
    from planner.scenario import coverage

    direct = coverage(study.with_facility_moved(fid, CLICK["lng"], CLICK["lat"]), types=["health_centre"], isochrones="none")
    assert sa["coverage_share"] == direct.summary["types"]["health_centre"]["coverage_share"]
    assert sb["coverage_share"] != sa["coverage_share"]
    side = [d.value for d in at.dataframe if "搬迁前覆盖率 %" in d.value.columns]
    assert side and len(side[0]) == 5  # every subdistrict, before and after
    assert any("各设施服务人口" in e.label for e in at.expander)


def test_a_large_study_computes_the_type_in_view_and_every_type_on_request(env, monkeypatch):
    """On a Pudong-sized study the page computes the type on screen only; the table of all eleven types waits
    for the planner's click (the threshold is lowered here so the demo counts as large)."""
    monkeypatch.setenv("PLANNER_ALL_TYPES_AUTO", "1")
    at = open_app()
    assert set(at.session_state["summary"]["types"]) == {"health_centre"}
    assert [b for b in at.button if b.key == "all_types_btn"]
    frames = len(at.dataframe)
    at.button(key="all_types_btn").click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "all_types_btn"]
    assert len(at.dataframe) == frames + 1
    monkeypatch.delenv("PLANNER_ALL_TYPES_AUTO")


# ---------------------------------------------------------------------------------------- planner's tools
def _map_html(at: AppTest) -> str:
    return {i.key: i for i in at.session_state["exports"]}["map_html"].make().decode("utf-8")


def _in_html(text: str, html: str) -> bool:
    """Whether ``text`` is in the map's HTML as written, or as the map's scripts hold it (JSON, HTML-safe)."""
    import json

    js = json.dumps(text)[1:-1]
    safe = js.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("'", "\\u0027")
    return text in html or js in html or safe in html


def test_candidate_sites_and_exclusion_zones_in_the_optimise_tab(env):

    import geopandas as gpd
    from shapely.geometry import box

    study = ss.demo_study()
    pts = study.demand.gdf.iloc[::25].head(12)
    rooms = "id,name,lon,lat\n" + "\n".join(f"R{i},活动室{i},{x},{y}" for i, (x, y) in enumerate(zip(pts.geometry.x, pts.geometry.y)))
    x0, y0 = pts.geometry.x.iloc[0], pts.geometry.y.iloc[0]
    park = box(x0 - 2e-5, y0 - 2e-5, x0 + 2e-5, y0 + 2e-5)  # around room R0 only
    zones = gpd.GeoDataFrame({"name": ["<b>湖</b>"]}, geometry=[park], crs=4326).to_json().encode("utf-8")
    at = open_app()
    at.file_uploader(key="up_candidates").upload("rooms.csv", rooms.encode("utf-8"), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("已载入 rooms.csv：12 条记录" in s for s in toasts(at))
    at.file_uploader(key="up_exclusions").upload("lakes.geojson", zones, "application/geo+json").run()
    assert not at.exception, [e.value for e in at.exception]
    caps = [c.value for c in at.caption]
    assert any("候选点位 11 个" in c for c in caps) and any("其中 1 个位于禁建区内" in c for c in caps)
    assert any("12 个候选点中有 1 个位于禁建区" in w for w in texts(at, "warning"))  # the builder's note
    html = _map_html(at)
    assert html.count("pm-cand") >= 2
    assert _in_html("&lt;b&gt;湖", html) and not _in_html("<b>湖</b>", html)  # the zone's name is escaped
    for word in ("候选点位（仅可在此新增）", "禁建区（不可新增点位）"):  # legend entries
        assert _in_html(word, html)
    # the optimiser chooses among the candidates outside the zone only
    at.number_input(key="opt_n").set_value(3)
    at.button(key="opt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sites = at.session_state["siting"][2].sites
    assert len(sites) == 3 and set(sites["id"]) <= {f"R{i}" for i in range(1, 12)}
    # a click inside the zone proposes nothing and says why
    at.session_state["map"] = {"last_clicked": {"lat": y0, "lng": x0}}
    at.run()
    assert at.session_state["proposals"] == []
    assert any("禁建区「<b>湖</b>」" in s for s in toasts(at))
    assert_inert(at, "<b>湖</b>")  # the zone's name as written, escaped for markdown
    # the study file the app offers carries both layers
    spec = ss.app_spec(ss.app_source(demo=True), at.session_state["layers"])
    assert spec.candidates is not None and spec.exclusions is not None


def test_route_mode_draws_the_walk_to_the_nearest_facility(env):

    from planner.scenario import coverage

    res = coverage(ss.demo_study(), types=["health_centre"], isochrones="none")
    row = res.demand_table.iloc[7]
    at = open_app()
    assert at.toggle(key="route_mode").value is False  # a click proposes a site by default
    at.toggle(key="route_mode").set_value(True).run()
    assert any("步行路线" in c.value for c in at.caption)
    at.session_state["map"] = {"last_clicked": {"lat": float(row["lat"]), "lng": float(row["lon"])}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["proposals"] == []  # route mode adds no site
    type_key, _, route = at.session_state["route"]
    assert type_key == "health_centre"
    # the engine's minutes for the clicked place (the click is kept to 7 decimals), and the resident's there
    from planner.network import snap_points
    from planner.travel import nearest

    net, cov = res.study.networks["walk"], res.coverage["health_centre"]
    lon, lat = round(float(row["lon"]), 7), round(float(row["lat"]), 7)
    pts = snap_points(net, *net.to_metric([lon], [lat]), max_snap_m=res.dem_snaps["walk"].max_snap_m)
    d, _, _ = nearest(net, cov.fac_snap, pts)
    assert route["minutes"] == pytest.approx(d[0] / res.goals["health_centre"].metres_per_minute, rel=1e-9)
    assert route["minutes"] == pytest.approx(float(row["health_centre_minutes"]), abs=1e-3)
    assert route["facility_id"] == str(row["health_centre_facility_id"])
    assert any(f"步行 {route['minutes']:.1f} 分钟" in c.value and route["facility_name"] in shown(c.value) for c in at.caption)
    assert _in_html("步行路线", _map_html(at))
    at.toggle(key="route_mode").set_value(False).run()
    assert at.session_state["route"] is None
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert len(at.session_state["proposals"]) == 1  # back to proposing


def test_unrecognised_columns_are_mapped_in_a_dialog(env):
    data = ("单位,X坐标值,Y坐标值,性质\n" + "\n".join(
        f"站{i},{x},{y},health_centre" for i, (x, y) in enumerate([(121.395, 31.215), (121.41, 31.23), (121.38, 31.20),
                                                                    (121.42, 31.21)]))).encode("utf-8")
    at = open_app()
    at.file_uploader(key="up_facilities").upload("机构.csv", data, "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("未能识别" in w and "机构.csv" in w for w in texts(at, "warning"))
    assert not any("columns=" in e for e in texts(at, "error"))  # no programmer's hint
    assert at.selectbox(key="colmap_lon").options[0] == "（无）"
    at.selectbox(key="colmap_lon").set_value("X坐标值")
    at.selectbox(key="colmap_lat").set_value("Y坐标值")
    at.selectbox(key="colmap_name").set_value("单位")
    at.selectbox(key="colmap_type").set_value("性质")
    at.button(key="colmap_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("已载入 机构.csv：4 条记录" in s for s in toasts(at))
    assert at.metric[1].value == "4"
    (role, layer), = [x for x in at.session_state["layers"] if x[0] == "facilities"]
    assert dict(layer.columns) == {"lon": "X坐标值", "lat": "Y坐标值", "name": "单位", "type": "性质"}
    assert not [k for k in at.session_state if str(k) == "colmap_pending" and at.session_state[k]]


# ---------------------------------------------------------------------------------------- access (issue 13)
def metric_of(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def test_access_view_headline_equals_the_library_and_follows_a_proposal(env):
    import numpy as np

    import planner

    at = open_app()
    at.toggle(key="acc_on").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    study = ss.demo_study()
    lib = planner.access(study, "health_centre")  # defaults: the type's goal, step decay, 1 per site
    m = metric_of(at, "平均可达性（每千人）")
    assert m.value == f"{lib.summary['access']['mean_per_1000']:.4g}" and not m.delta
    assert metric_of(at, "基尼系数").value == f"{lib.summary['access']['gini']:.4g}"
    view = at.session_state["access_view"]
    assert view["current"]["mean"] == pytest.approx(lib.summary["access"]["mean_per_1000"], rel=1e-12)
    # the threshold the planner gives (default: the district's mean) and the share below it
    below = at.number_input(key="acc_below_health_centre___one__").value
    pop, acc = lib.demand["population"].to_numpy(), lib.demand["access_per_1000"].to_numpy()
    assert view["current"]["share_below"] == pytest.approx(pop[acc < below].sum() / pop.sum())
    areas = [d.value for d in at.dataframe if "现状（每千人）" in d.value.columns]
    assert areas and len(areas[0]) == 5
    np.testing.assert_allclose(areas[0]["现状（每千人）"], lib.areas["access_mean_per_1000"].round(4))

    # a proposal by clicking: access rises where it is, equal to a full recomputation with the site
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    props = at.session_state["proposals"]
    full = planner.access(ss.with_proposals(study, props), "health_centre")
    m = metric_of(at, "平均可达性（每千人）")
    assert m.value == f"{full.summary['access']['mean_per_1000']:.4g}" and m.delta.startswith("+")
    assert at.session_state["access_view"]["current"]["mean"] == pytest.approx(full.summary["access"]["mean_per_1000"],
                                                                               rel=1e-9)
    assert any("已计入 1 个建议点位" in c.value for c in at.caption)
    areas = [d.value for d in at.dataframe if "含建议点位（每千人）" in d.value.columns][0]
    assert (areas["变化"] > 0).any() and (areas["变化"] >= 0).all()

    # more supply at the proposed site, then removing it: back to the existing facilities
    at.number_input(key="acc_new_supply_health_centre___one__").set_value(3.0).run()
    scen = ss.with_proposals(study, props)
    scen = scen.with_facilities(scen.facilities.assign(supply=np.where(scen.facilities["proposed"], 3.0, 1.0)))
    three = planner.access(scen, "health_centre", supply_column="supply")
    assert at.session_state["access_view"]["current"]["mean"] == pytest.approx(three.summary["access"]["mean_per_1000"],
                                                                               rel=1e-9)
    assert three.summary["access"]["mean_per_1000"] > full.summary["access"]["mean_per_1000"]
    at.button(key="rm_P1").click().run()
    assert not at.exception
    assert metric_of(at, "平均可达性（每千人）").value == f"{lib.summary['access']['mean_per_1000']:.4g}"
    assert at.session_state["access_view"]["current"]["mean"] == pytest.approx(lib.summary["access"]["mean_per_1000"],
                                                                               rel=1e-9)


def test_access_on_the_map_and_in_english(env):
    at = open_app()
    at.toggle(key="acc_on").set_value(True).run()
    at.checkbox(key="acc_on_map").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    html = {i.key: i for i in at.session_state["exports"]}["map_html"].make().decode("utf-8")
    assert "可达性：服务范围内每千名居民的供给量" in html or "\\u53ef\\u8fbe\\u6027" in html
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert any(m.label == "Mean access (per 1,000)" for m in at.metric)
    html = {i.key: i for i in at.session_state["exports"]}["map_html"].make().decode("utf-8")
    assert "Access: supply per 1,000 residents within reach" in html and "Subdistrict access" in html
    assert "Coverage (goal 100%)" not in html  # the hidden coverage-share areas leave the legend to access
    at.checkbox(key="acc_on_map").set_value(False).run()
    html = {i.key: i for i in at.session_state["exports"]}["map_html"].make().decode("utf-8")
    assert "Coverage (goal 100%)" in html and "Subdistrict access" not in html


def test_relocate_one_facility_under_each_objective_with_access_per_subdistrict(env):
    import planner
    from planner.relocate import relocate_one

    at = open_app()
    fid = at.selectbox(key="reloc_fac").value
    study = ss.demo_study()
    seen = {}
    for objective in ("median", "coverage"):
        at.radio(key="reloc_objective__zh").set_value(objective).run()
        at.button(key="reloc_best_run").click().run()
        assert not at.exception, [e.value for e in at.exception]
        key, rel, acc_b, acc_a = at.session_state["reloc_best"]
        direct = relocate_one(study, "health_centre", fid, objective=objective)
        assert key[3] == objective and rel.best == direct.best and rel.summary["share_after"] == direct.summary["share_after"]
        seen[objective] = rel.best["id"]
        moved = planner.access(study.with_facility_moved(fid, rel.best["lon"], rel.best["lat"]), "health_centre")
        assert acc_a.summary["access"]["mean_per_1000"] == pytest.approx(moved.summary["access"]["mean_per_1000"])
        table = [d.value for d in at.dataframe if "可达性后（每千人）" in d.value.columns]
        assert table and len(table[0]) == 5  # every subdistrict: coverage, mean time and access before and after
        assert {"覆盖率前（%）", "平均时间后（分钟）", "可达性前（每千人）"} <= set(table[0].columns)
        assert any(m.label == "平均可达性（每千人）" for m in at.metric)
    # the objective matters: the most residents covered and the shortest mean walk are different places here
    assert seen["median"] != seen["coverage"]


def test_access_with_a_supply_column_from_an_uploaded_file_equals_the_library(env, tmp_path):
    import planner

    hostile = "<script>x</script>"
    rows = [("S1", "站一", "health_centre", 121.395, 31.215, 4, 1), ("S2", "站二", "health_centre", 121.41, 31.23, 2, 2),
            ("S3", "站三", "health_centre", 121.38, 31.20, 6, 0), ("S4", "站四", "health_centre", 121.42, 31.21, 1, 3)]
    lines = ["id,name,type,lon,lat,doctors," + hostile] + [",".join(map(str, r)) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (tmp_path / "centres.csv").write_bytes(data)
    at = open_app()
    at.file_uploader(key="up_facilities").upload("centres.csv", data, "text/csv").run()
    at.toggle(key="acc_on").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="acc_supply__zh").options == ["每个设施计 1", "doctors", hostile]
    at.selectbox(key="acc_supply__zh").set_value("doctors").run()
    assert not at.exception, [e.value for e in at.exception]
    study = planner.load_study(demo=True, facilities=[tmp_path / "centres.csv"])
    lib = planner.access(study, "health_centre", supply_column="doctors")
    assert metric_of(at, "平均可达性（每千人）").value == f"{lib.summary['access']['mean_per_1000']:.4g}"
    assert at.session_state["access_view"]["current"]["mean"] == pytest.approx(lib.summary["access"]["mean_per_1000"],
                                                                               rel=1e-12)
    assert any("每千名居民的doctors" in c.value for c in at.caption)
    at.selectbox(key="acc_supply__zh").set_value(hostile).run()
    assert not at.exception
    unit = [c.value for c in at.caption if c.value.startswith("单位：")]
    # shown as written: every < and > backslash-escaped (never a tag), nothing left to read as an entity
    assert unit and "<script>" not in unit[0] and not re.search(r"(?<!\\)[<>]", unit[0]) and hostile in shown(unit[0])


# ---------------------------------------------------------------------------------------- presentation
def test_uploaders_speak_chinese_in_chinese_mode_and_the_limit_is_the_apps(env):
    import tomllib

    at = open_app()
    css = [e.proto.body for e in at.get("html") if "stFileUploaderDropzone" in e.proto.body]
    assert len(css) == 1
    assert '"选择文件"' in css[0] and f'"每个文件不超过 {uploads.max_upload_mb():g} MB"' in css[0]
    assert "::after" in css[0] and "<script" not in css[0]
    at.radio(key="lang").set_value("en").run()
    assert not any("stFileUploaderDropzone" in e.proto.body for e in at.get("html"))  # Streamlit's own English
    # Streamlit refuses uploads above what the app accepts, and no sooner
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == uploads.DEFAULT_MAX_UPLOAD_MB


def test_exports_are_named_after_the_study_the_scenario_and_the_day(env):
    import datetime

    at = open_app()
    items = {i.key: i.filename for i in at.session_state["exports"]}
    day = datetime.date.today().strftime("%Y%m%d")
    assert items["statistics_xlsx"] == f"coverage_示范区_合成数据_现状_{day}.xlsx", items
    assert items["summary_html"].endswith(f"_现状_{day}_summary.html")
    from maps.report import find_chromium

    assert ("summary_pdf" in items) == bool(find_chromium())
    if "summary_pdf" in items:  # the button's bytes: a PDF of one A4 page
        pdf = {i.key: i for i in at.session_state["exports"]}["summary_pdf"].make()
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    assert {b.key for b in at.get("download_button")} >= {f"dl_{k}" for k in items}
    # with a proposed site the scenario is the one the save box names
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    name = at.session_state["scen_name"]
    items = {i.key: i.filename for i in at.session_state["exports"]}
    assert items["statistics_xlsx"] == f"coverage_示范区_合成数据_{export.slug(name)}_{day}.xlsx"


def test_without_chromium_the_export_tab_says_how_to_get_a_pdf(env, monkeypatch):
    import maps.report

    monkeypatch.setattr(maps.report, "find_chromium", lambda: None)
    at = open_app()
    assert "summary_pdf" not in {i.key for i in at.session_state["exports"]}
    assert any("未安装 Chromium" in c and "打印为 PDF" in c for c in texts(at, "caption"))


# ---------------------------------------------------------------------------------------- user text in markdown
#: Names a user's file may carry: an external image (the app must never call out), links, markup, LaTeX, a directive.
HOSTILE = ("![x](http://evil.example/t.png)", "[y](javascript:alert(1))", "**bold** $x$ :red[z]")
MARKDOWN_KINDS = ("markdown", "caption", "toast", "error", "warning", "info", "success")


def assert_inert(at: AppTest, *hostile: str) -> None:
    """No markdown-rendered element carries user text as live markdown: no raw hostile string, no unescaped
    ``](`` (a link or an image), ``$`` (LaTeX), ``:red[`` (a directive) or ``http://`` (a bare-URL autolink)."""
    for kind in MARKDOWN_KINDS:
        for e in getattr(at, kind):
            v = e.value
            for h in hostile:
                assert h not in v, (kind, v)
            assert "](http" not in v and "](javascript" not in v and not re.search(r"(?<!\\)\]\(", v), (kind, v)
            assert not re.search(r"(?<!\\)\$", v) and ":red[" not in v and "http://" not in v, (kind, v)


def test_md_escape_shows_any_text_as_written():
    from app.text import md_error, md_escape, md_values

    for text in (*HOSTILE, "a_b_c.csv", "1. first", "# head", "> quote", "- item\n  - sub\n===", "<b>x</b> &amp;",
                 "`code`", "~~s~~", "www.evil.example", "a@b.example", ":smile: :streamlit: :material/home:",
                 "x | y", "{{ 7*7 }}", "站一（一）", "C:\\data\\f.csv", "    indented"):
        out = md_escape(text)
        assert shown(out) == text, (text, out)
        assert not re.search(r"(?<!\\)[\[\]()*_`$<>#|~&:!]", out), out  # every special is escaped
        assert "http://" not in out and "www." not in out and ":smile:" not in out and ":material/" not in out
        assert not re.search(r"^ ", out, re.M) and not re.search(r"^\d+\.", out, re.M)  # no code block, no list
    assert md_values({"name": "**x**", "n": 3, "share": 0.5}) == {"name": "\\*\\*x\\*\\*", "n": 3, "share": 0.5}
    err = InputError("[a](http://x) failed", "[a](http://x) 失败")
    assert shown(md_error(err, "zh")) == "[a](http://x) 失败" and "](" not in md_error(err, "zh")


def test_names_from_user_files_show_literally_and_never_become_markdown(env):
    at = open_app()
    rows = [(f"H{i}", name, "health_centre", lon, lat) for i, (name, (lon, lat)) in
            enumerate(zip(HOSTILE, [(121.395, 31.215), (121.41, 31.23), (121.38, 31.20)]), start=1)]
    fname = "![f](http://evil.example/f.png).csv"
    at.file_uploader(key="up_facilities").upload(fname, facility_csv(rows), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[1].value == "3"
    safe = uploads.safe_filename(fname)
    assert any(f"已载入 {safe}：3 条记录" in s for s in toasts(at))
    assert any(safe in c for c in texts(at, "caption"))  # the loaded files
    assert_inert(at, *HOSTILE, fname)

    # the relocation message names the facility moved
    at.selectbox(key="reloc_fac").set_value("H1")
    at.button(key="reloc_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(HOSTILE[0] in m for m in texts(at, "markdown"))
    assert_inert(at, *HOSTILE)

    # the route's caption names the nearest facility
    at.toggle(key="route_mode").set_value(True).run()
    at.session_state["map"] = {"last_clicked": CLICK}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    route = at.session_state["route"][2]
    assert route["facility_name"] in HOSTILE
    assert any(route["facility_name"] in c for c in texts(at, "caption"))
    assert_inert(at, *HOSTILE)

    # a scenario name typed by the user, in the saved toast and the "already exists" warning
    at.toggle(key="route_mode").set_value(False).run()
    at.session_state["map"] = {"last_clicked": {"lat": 31.22, "lng": 121.40}}
    at.run()
    scen = "[s](http://phish.example) **n** $y$"
    at.text_input(key="scen_name").set_value(scen)
    at.button(key="scen_save").click().run()
    assert any(f"已保存方案「{scen}」" in s for s in toasts(at))
    assert_inert(at, scen)
    at.text_input(key="scen_name").set_value(scen)
    at.button(key="scen_save").click().run()
    assert any(scen in w for w in texts(at, "warning"))
    assert_inert(at, scen, *HOSTILE)

    # an error quoting a file's content (an unknown type) and its name
    bad_type = "![e](http://evil.example/e.png)"
    bad = facility_csv([("B1", "b", bad_type, 121.395, 31.215)])
    at.file_uploader(key="up_facilities").upload("[b](http://evil.example).csv", bad, "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    err = "\n".join(texts(at, "error"))
    assert bad_type in err and uploads.safe_filename("[b](http://evil.example).csv") in err
    assert_inert(at, bad_type, *HOSTILE)

    # in English too
    at.radio(key="lang").set_value("en").run()
    assert not at.exception, [e.value for e in at.exception]
    assert_inert(at, scen, *HOSTILE)


def test_a_hostile_study_label_and_file_name_show_literally_and_name_no_export(env):
    at = open_app()
    label = "![l](http://evil.example/l.png) [c](javascript:x) **b** $x$ :red[z] :material/home:"
    toml = f'label = "{label}"\n[network]\ndemo = true\n'.encode()
    name = "[a](http://evil.example) $z$.toml"
    at.file_uploader(key="up_study").upload(name, toml, "application/toml").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c == label for c in texts(at, "caption"))  # the study's label, as written
    assert any(uploads.safe_filename(name) in s for s in toasts(at))
    assert_inert(at, label, name)
    assert not any(":material/" in e.value or ":material_" in e.value for e in at.caption)
    # the exports are named from the label and the scenario, as file names: no markup, no path
    items = at.session_state["exports"]
    assert items
    for item in items:
        assert re.fullmatch(r"[\w.\-]+", item.filename), item.filename
    labels = {b.label for b in at.get("download_button")}
    assert {t("exp_" + i.key, "zh") for i in items} <= labels
    assert not any("evil" in lb or "](" in lb for lb in labels)
    # a study file that cannot be read: its name in the error is inert too (a fresh page: opening a study
    # resets the area selector, whose old widget state AppTest would send back)
    at = open_app()
    at.file_uploader(key="up_study").upload("![r](http://evil.example/r.png).toml", b"label = [", "application/toml").run()
    assert not at.exception, [e.value for e in at.exception]
    assert texts(at, "error")
    assert_inert(at, "![r](http://evil.example/r.png)")


def test_isochrones_are_on_request_on_a_large_network(env, monkeypatch):
    """The minutes surface shows every place at any size; isochrone bands cost seconds per type switch on a
    Pudong-sized network, so there they wait for the planner's tick (the threshold is lowered here)."""
    at = open_app()
    assert at.checkbox(key="show_iso").value is True  # district-sized: drawn with the page
    monkeypatch.setenv("PLANNER_ISO_AUTO_NODES", "1")
    big = open_app()
    box = big.checkbox(key="show_iso")
    assert box.value is False and "大型路网" in box.label
    box.check().run()
    assert not big.exception and big.checkbox(key="show_iso").value is True
