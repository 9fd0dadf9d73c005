"""One catalogue of user-visible words (planner.i18n): complete in both languages, same placeholders, used everywhere."""
from __future__ import annotations

import re
import string
from pathlib import Path

from planner.i18n import CATALOGUE, band_label, section, text

REPO = Path(__file__).resolve().parents[1]


def fields(s: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(s) if f}


def test_every_text_has_both_languages_and_the_same_placeholders():
    assert {k.split(".")[0] for k in CATALOGUE} >= {"app", "map", "static", "report", "export", "band", "batch"}
    for key, (zh, en) in CATALOGUE.items():
        assert isinstance(zh, str) and zh.strip() and isinstance(en, str) and en.strip(), key
        assert fields(zh) == fields(en), key


def test_sections_and_lookups():
    assert section("map")["unreachable"] == CATALOGUE["map.unreachable"]
    assert text("band.minutes", "en", band="5-10") == "5-10 min"
    assert band_label("unreachable", "zh") == "不可达" and band_label("0-5", "zh") == "0-5 分钟"


def test_no_translation_table_outside_the_catalogue():
    """'不可达' (unreachable) was translated in six places; now only the catalogue spells it."""
    hits = []
    for path in [*REPO.glob("planner/*.py"), *REPO.glob("maps/*.py"), *REPO.glob("app/*.py"), REPO / "streamlit_app.py"]:
        if path.name == "i18n.py" and path.parent.name == "planner":
            continue
        if re.search("不可达", path.read_text(encoding="utf-8")):
            hits.append(path.name)
    assert hits == []
