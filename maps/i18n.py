"""The app's user-interface text in Chinese and English: the ``app`` section of the one catalogue (:mod:`planner.i18n`).

:func:`t` looks a key up and fills ``{placeholders}``. A missing key raises ``KeyError`` (tests
check that both languages have every key), so no label silently stays in the other language.
"""
from __future__ import annotations

from planner.i18n import LANGS, section

__all__ = ["TEXT", "LANGS", "t", "table_headers"]

#: key -> (中文, English)
TEXT: dict[str, tuple[str, str]] = section("app")  # the one catalogue: planner/i18n.py


def t(key: str, lang: str = "zh", **values) -> str:
    """The text for ``key`` in ``lang`` (``zh`` or ``en``) with ``{placeholders}`` filled from ``values``."""
    zh, en = TEXT[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def table_headers(lang: str = "zh") -> dict[str, str]:
    """Column name -> display header for the app's tables."""
    names = {
        "type": "h_type", "target_minutes": "h_goal_min", "coverage_share": "h_share", "facilities": "h_facilities",
        "mean_minutes": "h_mean", "p90_minutes": "h_p90", "name": "h_name", "demand_total": "h_demand_total",
        "demand_covered": "h_demand_covered", "band": "h_band", "demand": "h_population", "id": "h_id",
        "rank": "h_rank", "lon": "h_lon", "lat": "h_lat", "marginal_demand": "h_marginal",
        "cumulative_share": "h_cum_share", "source": "h_source", "share_before": "h_share_before",
        "share_after": "h_share_after", "new_sites": "h_new_sites",
    }
    return {col: t(key, lang) for col, key in names.items()}
