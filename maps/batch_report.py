"""The one-page report of a batch: one row per study (or area) and type, worst coverage first, as self-contained HTML."""
from __future__ import annotations

import html
import math
from datetime import date as _date

import pandas as pd

from planner.i18n import section

__all__ = ["batch_report_html"]

_L = section("batch")  # the one catalogue: planner/i18n.py


def _l(key: str, lang: str, **kw) -> str:
    zh, en = _L[key]
    return (zh if lang == "zh" else en).format(**kw)


def _num(x, digits: int = 1) -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(f) else f"{f:,.{digits}f}"


def batch_report_html(table: pd.DataFrame, *, lang: str = "zh", label: str = "", types=None, dask: dict | None = None,
                      failures=(), max_rows: int = 60, date: str | None = None) -> str:
    """A self-contained HTML page for batch.csv (no scripts or outside resources; names escaped).

    Parameters
    ----------
    table : DataFrame
        :func:`planner.batch.batch_table` (study, type, target_minutes, demand, covered, share, mean/p90 minutes).
    types : planner.config.FacilityTypes, optional
        For type labels.
    dask : dict, optional
        ``summary['dask']``: scheduler address and worker count.
    failures : list of dict
        ``{"study", "part", "error"}``.
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}.")
    e = html.escape
    t = table.sort_values("share", kind="stable").head(max_rows)

    def type_label(k):
        if types is not None and k in types:
            ft = types[k]
            return ft.label_zh if lang == "zh" else ft.label_en
        return str(k)

    head = "".join(f"<th>{e(_l(k, lang))}</th>" for k in ("study", "type", "goal", "demand", "covered", "share", "mean", "p90"))
    rows = []
    for r in t.itertuples(index=False):
        share = float(r.share) if r.share is not None else float("nan")
        bar = f'<span class="bar" style="width:{max(0.0, min(1.0, share)) * 60 if math.isfinite(share) else 0:.0f}px"></span>'
        rows.append(
            f"<tr><td>{e(str(r.study))}</td><td>{e(type_label(r.type))}</td><td>{_num(r.target_minutes, 1)}</td>"
            f"<td>{_num(r.demand, 0)}</td><td>{_num(r.covered, 0)}</td>"
            f"<td>{_num(share * 100, 1) + '%' if math.isfinite(share) else '–'} {bar}</td>"
            f"<td>{_num(r.mean_minutes, 1)}</td><td>{_num(r.p90_minutes, 1)}</td></tr>")
    d = dask or {}
    notes = [e(_l("runs", lang, n=table["study"].nunique(), t=table["type"].nunique(),
                  workers=d.get("workers", "?"), scheduler=d.get("scheduler", "?")))]
    if len(table) > len(t):
        notes.append(e(_l("capped", lang, n=len(t), total=len(table))))
    fail = ""
    if failures:
        items = "".join(f"<li>{e(str(f.get('study', '')))} {e(str(f.get('part', '')))}: {e(str(f.get('error', '')))}</li>" for f in failures)
        fail = f"<p class=warn>{e(_l('failed', lang, n=len(failures)))}</p><ul>{items}</ul>"
    title = e(_l("title", lang, label=label))
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:18mm;font-size:11px;color:#222}}
h1{{font-size:18px;margin:0 0 4px}} table{{border-collapse:collapse;width:100%}}
th,td{{border-bottom:1px solid #ddd;padding:3px 5px;text-align:right}} th:nth-child(-n+2),td:nth-child(-n+2){{text-align:left}}
.bar{{display:inline-block;height:8px;background:#2b8cbe;vertical-align:middle}} .warn{{color:#b30000}}
@page{{size:A4;margin:12mm}}
</style></head><body>
<h1>{title}</h1><p>{e(_l('date', lang))}: {e(date or _date.today().isoformat())}</p>
<p>{'<br>'.join(notes)}</p>{fail}
<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
</body></html>
"""
