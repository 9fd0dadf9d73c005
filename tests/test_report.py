"""One-page summary and static SVG map: escaping, both languages, facility dots, flags, valid HTML, no external resources."""
from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from maps.report import ReportError, band_chart_svg, summary_html, summary_pdf
from maps.static import static_map_svg
from planner.scenario import run
from planner.store import Site
from tests.helpers import grid_study

HOSTILE = '<script>alert("x")</script>'
HOSTILE_IMG = '<img src=x onerror="alert(1)">'
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr",
        # SVG elements written self-closing
        "rect", "line", "path", "circle", "polygon"}


class _Checker(HTMLParser):
    """Records tags, attributes and text; checks that every non-void element is closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> _Checker:
    p = _Checker()
    p.feed(doc)
    p.close()
    assert not p.errors, p.errors[:5]
    assert p.stack == [], p.stack
    return p


@pytest.fixture(scope="module")
def hostile_result():
    study = grid_study()
    fac = study.facilities.copy()
    fac["name"] = [f"{HOSTILE}{i}" for i in range(len(fac))]
    areas = study.areas.copy()
    areas["name"] = [HOSTILE_IMG, "东区 & <b>"]
    study = dataclasses.replace(study, facilities=fac, areas=areas, label=f"研究区 {HOSTILE}")
    return run(study, isochrones="none")


@pytest.fixture(scope="module")
def proposals():
    return pd.DataFrame({"id": [HOSTILE, "P2"], "type": ["health_centre", "health_centre"],
                         "lon": [None, None], "lat": [None, None], "rank": [1, 2], "marginal_demand": [100.0, 50.0]})


def _with_coords(result, df):
    ft = result.facilities_table
    out = df.copy()
    out["lon"] = [ft["lon"].mean() + 0.001 * i for i in range(len(df))]
    out["lat"] = [ft["lat"].mean() - 0.001 * i for i in range(len(df))]
    return out


def _all_text_and_attrs(p: _Checker) -> str:
    return "".join(p.text) + " ".join(str(v) for _, a in p.tags for v in a.values())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_hostile_names_are_escaped(hostile_result, proposals, lang):
    props = _with_coords(hostile_result, proposals)
    doc = summary_html(hostile_result, lang=lang, title=f"标题 {HOSTILE}", proposals=props, scenario_name=HOSTILE_IMG)
    assert HOSTILE not in doc and HOSTILE_IMG not in doc and "东区 & <b>" not in doc
    assert "&lt;script&gt;" in doc and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in doc
    p = parse(doc)
    tags = {t for t, _ in p.tags}
    assert not tags & {"script", "img", "iframe", "object", "embed", "link"}
    assert not [a for _, attrs in p.tags for a in attrs if a.startswith("on")]
    # the hostile strings survive as text for the reader
    text = _all_text_and_attrs(p)
    assert HOSTILE in text and HOSTILE_IMG in text and "东区 & <b>" in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_self_contained_no_external_resources(hostile_result, lang):
    doc = summary_html(hostile_result, lang=lang)
    p = parse(doc)
    for tag, attrs in p.tags:
        for name in ("src", "href"):
            assert name not in attrs, (tag, attrs)
    assert "url(" not in doc and "@import" not in doc
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", doc)
    assert "@page" in doc and "A4" in doc


def test_labels_in_both_languages(hostile_result):
    zh = summary_html(hostile_result, lang="zh")
    en = summary_html(hostile_result, lang="en")
    share = hostile_result.coverage["health_centre"].stats["coverage_share"]
    assert f"15 分钟覆盖率 <b>{share:.1%}</b> / 目标 100%" in zh
    assert f"15-min coverage <b>{share:.1%}</b> / goal 100%" in en
    for word in ("分类型覆盖情况", "按步行时间分段的人口", "覆盖地图", "分街道/镇覆盖率", "北", "日期"):
        assert word in zh
    for word in ("Coverage by facility type", "Population by walking time", "Coverage map", "Coverage by subdistrict",
                 ">N<", "Date"):
        assert word in en
    assert "分钟覆盖率" not in en and "覆盖地图" not in en and "min coverage" not in zh
    assert 'lang="zh-CN"' in zh and 'lang="en"' in en
    # per-type labels come from the facility types, in the chosen language
    assert "社区卫生服务中心" in zh and "Community health service centre" in en
    with pytest.raises(ValueError, match="lang must be"):
        summary_html(hostile_result, lang="fr")


def test_map_svg_has_one_dot_per_facility_and_a_star_per_proposal(hostile_result, proposals):
    props = _with_coords(hostile_result, proposals)
    doc = summary_html(hostile_result, proposals=props)
    svgs = re.findall(r'<svg[^>]*class="static-map".*?</svg>', doc, flags=re.S)
    assert len(svgs) == 1
    svg = svgs[0]
    ft = hostile_result.facilities_table
    assert svg.count('<circle class="fac"') == len(ft)
    for key in hostile_result.coverage:
        assert svg.count(f'class="fac" data-type="{key}"') == int((ft["type"] == key).sum())
    assert svg.count('<polygon class="prop"') == 2
    assert 'class="scale-bar"' in svg and 'class="north-arrow"' in svg
    assert svg.count('class="gap"') == int((hostile_result.gaps["type"] == "health_centre").sum())
    only = static_map_svg(hostile_result, type_key="aed", all_types=False)
    assert only.count('<circle class="fac"') == int((ft["type"] == "aed").sum())


def test_sites_from_a_scenario_are_drawn(hostile_result):
    ft = hostile_result.facilities_table
    sites = [Site("s1", float(ft["lon"].mean()), float(ft["lat"].mean()), "aed", "click"),
             Site("s2", float(ft["lon"].min()), float(ft["lat"].max()), "aed", "optimised")]
    doc = summary_html(hostile_result, proposals=sites, lang="en", type_key="aed")
    assert doc.count('<polygon class="prop"') == 2
    assert "clicked" in doc and "optimised" in doc and "Proposed sites (2)" in doc


def test_facilities_without_coordinates_are_skipped(hostile_result):
    ft = hostile_result.facilities_table.copy()
    ft.loc[ft.index[0], "lon"] = float("nan")
    res = dataclasses.replace(hostile_result, facilities_table=ft)
    assert static_map_svg(res).count('<circle class="fac"') == len(ft) - 1


def test_area_table_sorted_by_share(hostile_result):
    doc = summary_html(hostile_result, lang="en")
    section = doc.split('class="areas-table"')[1].split("</table>")[0]
    a = hostile_result.areas[hostile_result.areas["type"] == "health_centre"].sort_values("coverage_share")
    shown = [f"{s:.1%}" for s in a["coverage_share"]]
    found = re.findall(r'<td class="n">(\d+\.\d%)</td>', section)
    assert found == shown


def test_synthetic_and_proxy_flags(hostile_result):
    plain = summary_html(hostile_result, lang="en")
    assert "Synthetic data" not in plain and "proxy estimate" not in plain
    study = dataclasses.replace(hostile_result.study, meta={"synthetic": True})
    summary = dict(hostile_result.summary)
    summary["demand"] = {**summary["demand"], "is_proxy": True, "note_zh": "按建筑面积估算 <i>", "note_en": "from floor area <i>"}
    res = dataclasses.replace(hostile_result, study=study, summary=summary)
    en, zh = summary_html(res, lang="en"), summary_html(res, lang="zh")
    assert "Synthetic data: this report is built on invented demo data" in en
    assert "Demand is a proxy estimate" in en and "from floor area &lt;i&gt;" in en
    assert "合成数据" in zh and "需求为代理估算值" in zh and "按建筑面积估算 &lt;i&gt;" in zh


def test_band_chart_has_a_bar_per_band(hostile_result):
    stats = hostile_result.coverage["health_centre"].stats
    svg = band_chart_svg(stats, lang="zh")
    expected = [b for b in stats["bands"] if not (b["band"] == "unreachable" and not b["demand"])]
    assert svg.count('<rect class="band"') == len(expected)
    assert "0-5 分钟" in svg
    parse(svg)


def test_pdf_without_chromium_says_what_to_do(tmp_path, monkeypatch):
    import maps.report as report

    monkeypatch.setattr(report, "find_chromium", lambda: None)
    with pytest.raises(ReportError) as e:
        summary_pdf("<html></html>", tmp_path / "s.pdf")
    assert "needs Chromium" in e.value.message("en") and "print it to PDF from a browser" in e.value.message("en")
    assert "需要 Chromium" in e.value.message("zh")
    assert not (tmp_path / "s.pdf").exists()


@pytest.mark.browser
def test_pdf_with_chromium(tmp_path, hostile_result):
    from maps.report import find_chromium

    if not find_chromium():
        pytest.skip("chromium not installed")
    out = summary_pdf(summary_html(hostile_result), tmp_path / "out" / "summary.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages == 1  # one A4 sheet
    # the app's download: the same printing, as bytes
    from maps.report import summary_pdf_bytes

    again = summary_pdf_bytes(summary_html(hostile_result, lang="en"))
    assert again.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?!s)", again)) >= 1


# ---------------------------------------------------------------------------------------- names of what is saved
def test_export_name_carries_study_scenario_and_date():
    import datetime

    from planner.export import export_name, slug

    day = datetime.date(2026, 3, 9)
    assert export_name("长宁区", "方案 A", "xlsx", day=day) == "coverage_长宁区_方案_A_20260309.xlsx"
    assert export_name("长宁区", "现状", "csv", part="areas", day=day) == "coverage_长宁区_现状_20260309_areas.csv"
    # path separators, dots, control characters and spaces never reach the name
    hostile = export_name("../../etc/passwd", "a\\b/c\x00\n..d", "pdf", day=day)
    assert hostile == "coverage_etc_passwd_a_b_c_d_20260309.pdf"
    assert "/" not in hostile and "\\" not in hostile and ".." not in hostile
    assert export_name("", None, "html", day=day) == "coverage_20260309.html"  # empty parts are left out
    assert len(slug("区" * 500)) == 40
    assert slug("<script>") == "script"


def test_every_export_item_is_named_by_the_one_rule(hostile_result):
    import datetime

    from planner.export import export_items

    day = datetime.date(2026, 3, 9)
    items = export_items(hostile_result, lang="zh", label="长宁区", scenario="方案1", day=day,
                         map_html=lambda: "<html></html>", summary_html=lambda: "<html></html>",
                         summary_pdf=lambda: b"%PDF")
    names = {i.key: i.filename for i in items}
    assert names["statistics_xlsx"] == "coverage_长宁区_方案1_20260309.xlsx"
    assert names["summary_pdf"] == "coverage_长宁区_方案1_20260309_summary.pdf"
    assert len(set(names.values())) == len(names)  # no two downloads share a name
    assert all(n.startswith("coverage_长宁区_方案1_20260309") for n in names.values())
    # the default label is the study's own (escaped nowhere, made safe for a file name)
    default = export_items(hostile_result, lang="zh", day=day)[0].filename
    assert default.startswith("coverage_研究区_") and "<" not in default and "/" not in default


def test_each_proposal_row_gives_the_residents_the_what_if_adds_in_the_order_added():
    """新增覆盖人口 per proposed site: the what-if's marginal gain of each site when it was added (it was empty)."""
    from app.state import WhatIfTracker, sites_frame
    from planner.siting import WhatIf

    study = grid_study(seed=3, n_fac=2)
    result = run(study, isochrones="none")
    key = "health_centre"
    demand = result.demand_table
    # sites on demand points far apart, so each covers people and the later ones overlap the earlier less
    picks = demand.sort_values("population", ascending=False).iloc[[0, 40, 80, 120]]
    sites = [Site(f"P{i + 1}", float(r.lon), float(r.lat), key, "click") for i, (_, r) in enumerate(picks.iterrows())]
    tracker = WhatIfTracker(result, key)
    tracker.sync(sites)

    cov, ftype = result.coverage[key], result.goals[key]
    net = result.study.network_for(ftype)
    ref = WhatIf(net, cov.fac_snap, result.dem_snaps[net.mode], demand["population"].to_numpy(float), ftype,
                 facility_ids=cov.facility_ids, demand_ids=demand["id"].to_numpy())
    expected = [ref.add(s.lon, s.lat, site_id=s.id).newly_covered for s in sites]
    assert sum(expected) > 0

    doc = summary_html(result, lang="zh", proposals=sites_frame(sites, tracker.marginal), type_key=key)
    assert "新增覆盖人口" in doc
    for i, (site, gain) in enumerate(zip(sites, expected)):
        row = re.search(rf'<tr><td class="n">{i + 1}</td><td>{site.id}</td>.*?</tr>', doc).group(0)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[4] == f"{gain:,.0f}", (site.id, cells, gain)


def test_header_separates_scenario_date_and_study_once(hostile_result):
    doc = summary_html(hostile_result, lang="zh", scenario_name="方案 1", date="2026-03-09")
    meta = re.search(r'<div class="meta">(.*?)</div>', doc).group(1)
    assert "·" not in meta  # the stylesheet puts one " · " between the parts (it was doubled)
    assert ".meta span + span::before" in doc and meta.count("<span") == 3


def test_gap_scale_is_the_same_on_the_live_map_the_static_map_and_the_report():
    """One rule for the top of the gap scale, tied to the goal and never below 15 minutes: a 1.5-minute AED goal
    made the live map's top 6 minutes, so every AED gap cell was the darkest red (a dark-red blanket), while the
    static map used the data's largest minutes."""
    from maps import style
    from maps.build import coverage_map
    from maps.static import map_legend_html

    study = grid_study(seed=1, n_fac=4)
    result = run(study, isochrones="none")
    for key in ("aed", "health_centre"):
        goal = result.goals[key].target_minutes
        top = style.gap_scale_top(goal)
        assert top == max(4 * goal, 15)
        legend = map_legend_html(result, type_key=key, lang="en")
        assert f"≥{top:g}" in legend
        fac = result.facilities_table
        gaps = result.gaps[result.gaps["type"] == key]
        m = coverage_map(facilities=fac[fac["type"] == key], gaps=gaps, types=study.types, lang="en")
        leg = next(c for c in m._children.values() if type(c).__name__ == "_Legend")
        ticks = re.findall(r"<span>([\d.]+)</span>", leg.body)
        assert float(ticks[-1]) == top
    assert style.gap_scale_top(1.5) == 15  # the AED: a gradient over 0-15 minutes, not one dark colour
