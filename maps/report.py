"""The one-page summary of a coverage result: headline figures, time bands, per-area table, proposals and a static map, as self-contained HTML (and PDF through Chromium).

The page loads nothing from anywhere (no scripts, fonts, images or stylesheets outside it) and
prints on one A4 sheet. Every string from user files (study, area and facility names, type
labels, scenario names, titles) is escaped with :func:`html.escape`.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import tempfile
from datetime import date as _date
from pathlib import Path

import numpy as np
import pandas as pd

from planner._errors import PlannerError
from planner.i18n import section

from .layers import _esc
from .static import focus_type, map_legend_html, proposals_frame, static_map_svg

logger = logging.getLogger(__name__)

__all__ = ["summary_html", "summary_pdf", "summary_pdf_bytes", "find_chromium", "ReportError", "MAX_AREA_ROWS", "MAX_PROPOSAL_ROWS"]

#: The per-area table lists at most this many areas (lowest coverage first) to stay on one page.
MAX_AREA_ROWS = 25
MAX_PROPOSAL_ROWS = 20


class ReportError(PlannerError):
    """A report cannot be produced (e.g. no Chromium for the PDF)."""


_L = section("report")  # the one catalogue: planner/i18n.py


def _l(key: str, lang: str, **kw) -> str:
    zh, en = _L[key]
    text = en if lang == "en" else zh
    return text.format(**kw) if kw else text


def _e(value) -> str:
    """Escaped and cut to the map's label length (one rule for every page of ours)."""
    return _esc(value)


def _pct(x, digits: int = 1) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{x:.{digits}%}" if math.isfinite(x) else "–"


def _num(x, digits: int = 0) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(x):
        return "∞" if x > 0 else "–"
    return f"{x:,.{digits}f}"


def _minutes(x) -> str:
    return f"{float(x):g}"


# ------------------------------------------------------------------------------------ pieces


def _headline_rows(result, lang: str, coverage_goal: float) -> str:
    rows = []
    for key, cov in result.coverage.items():
        s = cov.stats
        label = s.get("label_en") if lang == "en" else s.get("label_zh")
        share = s.get("coverage_share")
        w = max(0.0, min(1.0, float(share))) * 100 if share is not None and np.isfinite(share) else 0.0
        line = _l("cov_line", lang, m=_e(_minutes(s["target_minutes"])), share=f"<b>{_pct(share)}</b>",
                  goal=_pct(coverage_goal, 0 if round(coverage_goal * 100, 6).is_integer() else 1))
        rows.append(
            f'<tr data-type="{_e(key)}"><td class="tlabel">{_e(label)}</td>'
            f'<td class="headline">{line}<span class="bar"><span style="width:{w:.1f}%"></span></span></td>'
            f'<td class="n">{_num(s.get("facilities"))}</td>'
            f'<td class="n">{_num(s.get("demand_covered"))} / {_num(s.get("demand_total"))}</td>'
            f'<td class="n">{_num(s.get("mean_minutes"), 1)}</td><td class="n">{_num(s.get("p90_minutes"), 1)}</td></tr>'
        )
    head = "".join(f"<th>{_e(_l(k, lang))}</th>" for k in ("type", "coverage", "facilities", "covered", "mean", "p90"))
    return f'<table class="headline-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _band_colour(band: dict, target: float) -> str:
    from .style import BAND_BEYOND_COLOUR, BAND_WITHIN_COLOURS, UNREACHABLE_COLOUR

    if band["band"] == "unreachable":
        return UNREACHABLE_COLOUR
    hi = band.get("to_min")
    if hi is None:
        return BAND_BEYOND_COLOUR
    if not target:
        return BAND_WITHIN_COLOURS[1]
    return BAND_WITHIN_COLOURS[min(2, max(0, round(3 * float(hi) / target) - 1))]


def band_chart_svg(stats: dict, *, lang: str = "zh", width: int = 330, height: int = 170) -> str:
    """Population by time band of one type as an inline SVG bar chart.

    Parameters
    ----------
    stats : dict
        ``TypeCoverage.stats`` (``bands`` with ``band``, ``to_min``, ``demand``, ``share``;
        ``target_minutes``).
    """
    bands = [b for b in stats.get("bands", []) if not (b["band"] == "unreachable" and not b.get("demand"))]
    if not bands:
        return ""
    top = max(float(b.get("demand") or 0.0) for b in bands) or 1.0
    left, bottom, top_pad = 8, 34, 26
    bw = (width - 2 * left) / len(bands)
    ph = height - bottom - top_pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="band-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" font-size="10" '
             f'font-family="Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, sans-serif">']
    for i, b in enumerate(bands):
        d = float(b.get("demand") or 0.0)
        h = ph * d / top
        x = left + i * bw + bw * 0.15
        y = top_pad + ph - h
        name = _l("unreachable", lang) if b["band"] == "unreachable" else f'{b["band"]} {_l("minutes", lang)}'
        parts.append(
            f'<rect class="band" x="{x:.1f}" y="{y:.1f}" width="{bw * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{_band_colour(b, float(stats.get("target_minutes") or 0))}"><title>{_e(name)}: {_num(d)}</title></rect>'
            f'<text x="{x + bw * 0.35:.1f}" y="{y - 13:.1f}" text-anchor="middle">{_num(d)}</text>'
            f'<text x="{x + bw * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#555">{_pct(b.get("share"))}</text>'
            f'<text x="{x + bw * 0.35:.1f}" y="{height - bottom + 14:.1f}" text-anchor="middle">{_e(name)}</text>'
        )
    parts.append(f'<line x1="{left}" x2="{width - left}" y1="{top_pad + ph}" y2="{top_pad + ph}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _areas_table(result, key: str, lang: str) -> str:
    if result.areas is None or not len(result.areas):
        return f'<p class="note">{_e(_l("no_areas", lang))}</p>'
    a = result.areas[result.areas["type"] == key].copy()
    a["_s"] = pd.to_numeric(a["coverage_share"], errors="coerce")
    a = a.sort_values(["_s", "name"], ascending=[True, True], na_position="first", kind="stable")
    total = len(a)
    shown = a.head(MAX_AREA_ROWS)
    head = "".join(f"<th>{_e(_l(k, lang))}</th>" for k in ("area", "population", "coverage", "mean", "p90", "facilities"))
    rows = []
    for _, r in shown.iterrows():
        rows.append(
            f'<tr><td>{_e(r["name"])}</td><td class="n">{_num(r.get("demand_total"))}</td>'
            f'<td class="n">{_pct(r["_s"])}</td><td class="n">{_num(r.get("mean_minutes"), 1)}</td>'
            f'<td class="n">{_num(r.get("p90_minutes"), 1)}</td><td class="n">{_num(r.get("facilities"))}</td></tr>'
        )
    note = ""
    if total > len(shown):
        note = f'<p class="note">{_e(_l("areas_capped", lang, n=len(shown), total=total))}</p>'
    return f'<table class="areas-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'


def _proposals_table(result, prop: pd.DataFrame, lang: str) -> str:
    types = result.study.types
    cols = ["rank", "id", "type", "lonlat"]
    has_marginal = "marginal_demand" in prop.columns
    has_origin = "origin" in prop.columns
    if has_marginal:
        cols.append("marginal")
    if has_origin:
        cols.append("origin")
    head = "".join(f"<th>{_e(_l(k, lang))}</th>" for k in cols)
    rows = []
    for i, (_, r) in enumerate(prop.head(MAX_PROPOSAL_ROWS).iterrows()):
        rank = r["rank"] if "rank" in prop.columns and pd.notna(r["rank"]) else i + 1
        key = types.resolve(r["type"]) if hasattr(types, "resolve") and r["type"] else None
        tlabel = types[key].label(lang) if key else r["type"]
        cells = [f'<td class="n">{_e(rank)}</td>', f"<td>{_e(r['id'])}</td>", f"<td>{_e(tlabel)}</td>",
                 f'<td class="n">{_num(r["lon"], 5)}, {_num(r["lat"], 5)}</td>']
        if has_marginal:
            cells.append(f'<td class="n">{_num(r["marginal_demand"])}</td>')
        if has_origin:
            o = str(r["origin"])
            cells.append(f"<td>{_e(_l('origin_' + o, lang) if ('origin_' + o) in _L else o)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if len(prop) > MAX_PROPOSAL_ROWS:
        note = f'<p class="note">{_e(_l("props_capped", lang, n=len(prop) - MAX_PROPOSAL_ROWS))}</p>'
    return f'<table class="proposals-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'


_CSS = """
@page { size: A4 portrait; margin: 8mm 10mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "Helvetica Neue", Arial, sans-serif; font-size: 9pt; color: #1a1a1a; margin: 0 auto; max-width: 190mm;
       line-height: 1.35; background: #fff; }
header { border-bottom: 2px solid #1a1a1a; margin-bottom: 3mm; padding-bottom: 1.5mm; }
h1 { font-size: 15pt; margin: 0 0 1mm 0; }
h2 { font-size: 10.5pt; margin: 2.5mm 0 1.2mm 0; }
.meta { color: #444; font-size: 8.5pt; }
.meta span + span::before { content: " · "; }
.flag { border: 1.5px solid #b35806; background: #fff3e0; color: #7f3b08; padding: 1.2mm 2mm; margin: 1.5mm 0;
        font-weight: bold; border-radius: 1mm; }
.flag.proxy { border-color: #5e3c99; background: #f2f0f7; color: #3f007d; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; }
th, td { padding: 0.6mm 1.4mm; border-bottom: 0.5px solid #ccc; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.headline, td.tlabel { white-space: nowrap; }
td.headline { width: 45%; }
.bar { display: block; height: 3px; background: #e5e5e5; margin-top: 0.6mm; }
.bar > span { display: block; height: 3px; background: #2166ac; }
.row { display: flex; gap: 4mm; align-items: flex-start; }
.row > .grow { flex: 1 1 0; min-width: 0; }
.row > .side { flex: 0 0 78mm; }
.map-box svg.static-map { width: 100%; height: auto; border: 0.5px solid #999; display: block; }
.map-legend { font-size: 7.5pt; display: flex; flex-wrap: wrap; gap: 1mm 5mm; margin-top: 1mm; }
.lg-types { display: flex; flex-wrap: wrap; gap: 0.6mm 3mm; width: 100%; }
.lg-item { white-space: nowrap; }
.lg-dot { display: inline-block; width: 2.6mm; height: 2.6mm; border-radius: 50%; margin-right: 1mm;
          vertical-align: -0.3mm; border: 0.3px solid #fff; }
.lg-dot.sq { border-radius: 0; }
.lg-star { color: #ffd700; -webkit-text-stroke: 0.4px #111; margin-right: 1mm; }
.lg-scale { display: inline-flex; flex-direction: column; min-width: 55mm; }
.lg-bar { display: block; height: 2.5mm; border: 0.3px solid #999; }
.lg-ticks { display: flex; justify-content: space-between; color: #444; }
.note { color: #555; font-size: 7.5pt; margin: 0.8mm 0; }
svg.band-chart { width: 100%; height: auto; }
footer { border-top: 0.5px solid #999; margin-top: 2mm; padding-top: 1mm; color: #555; font-size: 7.5pt; }
@media screen { body { padding: 8mm; } }
@media print { body { max-width: none; zoom: 0.9; } section { break-inside: avoid; }
  .map-box svg.static-map { width: auto; max-width: 100%; max-height: 74mm; margin: 0 auto; } }
"""


# ------------------------------------------------------------------------------------ API


def summary_html(
    result,
    *,
    lang: str = "zh",
    title: str | None = None,
    proposals=None,
    scenario_name: str | None = None,
    type_key: str | None = None,
    coverage_goal: float = 1.0,
    share_goal: float | None = None,
    date: str | None = None,
) -> str:
    """A self-contained one-page HTML summary of a coverage result.

    Parameters
    ----------
    result : planner.scenario.CoverageResult
    lang : {"zh", "en"}
    title : str, optional
        Page heading; default built from the study label.
    proposals : DataFrame or iterable of planner.store.Site / dict, optional
        Proposed sites (``id``, ``type``, ``lon``, ``lat``; optional ``rank``,
        ``marginal_demand``, ``origin``), listed and drawn as stars.
    scenario_name : str, optional
    type_key : str, optional
        The type whose time bands, gap cells and per-area figures are shown; default the
        first evaluated. Every evaluated type is in the headline table.
    coverage_goal : float
        The share of residents the plan wants within each type's time goal (1.0 = everyone).
    share_goal : float
        Neutral colour of the subdistrict shares on the map.
    date : str, optional
        Date printed in the header (default today).

    Returns
    -------
    str
        A complete HTML document with inline CSS and SVG, no external resources or scripts.
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}.")
    key = focus_type(result, type_key)
    stats = result.coverage[key].stats
    type_label = stats.get("label_en") if lang == "en" else stats.get("label_zh")
    summary = result.summary or {}
    meta = getattr(result.study, "meta", None) or {}
    study_label = summary.get("study") or getattr(result.study, "label", "") or ""
    if title is None:
        title = _l("title", lang, label=study_label) if study_label else _l("title_plain", lang)
    prop = proposals_frame(proposals)

    flags = []
    if meta.get("synthetic") or summary.get("synthetic"):
        flags.append(f'<div class="flag synthetic">{_e(_l("synthetic", lang))}</div>')
    dem = summary.get("demand") or {}
    if dem.get("is_proxy"):
        note = dem.get("note_en") if lang == "en" else dem.get("note_zh")
        flags.append(f'<div class="flag proxy">{_e(_l("proxy", lang))}'
                     + (f' {_e(note)}' if note else "") + "</div>")

    meta_bits = []
    if scenario_name:
        meta_bits.append(f'<span class="scenario">{_e(_l("scenario", lang))}：{_e(scenario_name)}</span>'
                         if lang == "zh" else f'<span class="scenario">{_e(_l("scenario", lang))}: {_e(scenario_name)}</span>')
    sep = "：" if lang == "zh" else ": "
    meta_bits.append(f'<span class="date">{_e(_l("date", lang))}{sep}{_e(date or _date.today().isoformat())}</span>')
    if study_label and title != study_label:
        meta_bits.append(f'<span class="study">{_e(study_label)}</span>')

    if share_goal is None:  # the map's colour scale centres on the same goal as the headline
        share_goal = coverage_goal
    svg = static_map_svg(result, type_key=key, proposals=prop, lang=lang, share_goal=share_goal)
    legend = map_legend_html(result, type_key=key, proposals=prop, lang=lang, share_goal=share_goal)

    net = (summary.get("network") or {}).get("walk") or {}
    footer = _l("footer", lang, speed=_e(_minutes(stats.get("speed_kmh", 0))), nodes=_num(net.get("nodes")),
                points=_num(dem.get("points")), total=_num(dem.get("total")))

    body = [
        f'<header><h1>{_e(title)}</h1><div class="meta">{"".join(meta_bits)}</div>{"".join(flags)}</header>',
        f'<section><h2>{_e(_l("headline", lang))}</h2>{_headline_rows(result, lang, coverage_goal)}</section>',
        '<section class="row">',
        f'<div class="side"><h2>{_e(_l("bands", lang, label=type_label))}</h2>{band_chart_svg(stats, lang=lang)}</div>',
        f'<div class="grow"><h2>{_e(_l("areas", lang, label=type_label))}</h2>{_areas_table(result, key, lang)}</div>',
        "</section>",
        f'<section class="map-box"><h2>{_e(_l("map", lang, label=type_label))}</h2>{svg}{legend}'
        f'<p class="note">{_e(_l("map_note", lang))}</p></section>',
    ]
    if len(prop):
        body.append(f'<section><h2>{_e(_l("proposals", lang))} ({len(prop)})</h2>'
                    f"{_proposals_table(result, prop, lang)}</section>")
    body.append(f"<footer>{_e(footer)}</footer>")
    return (
        f'<!DOCTYPE html>\n<html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None (``$CHROMIUM`` first)."""
    for cand in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"):
        if cand:
            found = shutil.which(cand)
            if found:
                return found
    return None


def summary_pdf(html_text: str, path: str | os.PathLike, *, chromium: str | None = None, timeout_s: float = 90.0) -> Path:
    """Print the summary HTML to a PDF with headless Chromium, atomically.

    Parameters
    ----------
    html_text : str
        Output of :func:`summary_html`.
    path : path of the PDF to write.
    chromium : str, optional
        The browser executable; default :func:`find_chromium`.

    Raises
    ------
    ReportError
        No Chromium is installed, or it failed; the HTML summary works without it.
    """
    exe = chromium or find_chromium()
    if not exe:
        raise ReportError(
            "PDF export needs Chromium (or Chrome), which is not installed; download the HTML summary and "
            "print it to PDF from a browser, or install chromium.",
            "导出 PDF 需要 Chromium（或 Chrome），但未安装；请下载 HTML 摘要后在浏览器中打印为 PDF，或安装 chromium。",
        )
    from planner.export import atomic_path

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="summary-") as tmpdir:
        src = Path(tmpdir) / "summary.html"
        src.write_text(html_text, encoding="utf-8")
        out = Path(tmpdir) / "summary.pdf"
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--no-pdf-header-footer", "--print-to-pdf-no-header",
               f"--user-data-dir={Path(tmpdir) / 'profile'}", f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"Chromium could not print the PDF: {exc}.", f"Chromium 无法生成 PDF：{exc}。") from exc
        if not out.exists() or out.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ReportError(f"Chromium did not write a PDF (exit {proc.returncode}): {' '.join(tail)}",
                              f"Chromium 未生成 PDF（退出码 {proc.returncode}）：{' '.join(tail)}")
        with atomic_path(path) as tmp:
            shutil.copyfile(out, tmp)
            umask = os.umask(0)  # mkstemp made it 0600; give the usual permissions
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
    logger.info("wrote %s", path)
    return path


def summary_pdf_bytes(html_text: str, *, chromium: str | None = None, timeout_s: float = 90.0) -> bytes:
    """The summary printed to PDF (A4) as bytes, for a download; raises :class:`ReportError` as :func:`summary_pdf`."""
    with tempfile.TemporaryDirectory(prefix="summary-pdf-") as tmpdir:
        return summary_pdf(html_text, Path(tmpdir) / "summary.pdf", chromium=chromium, timeout_s=timeout_s).read_bytes()
