"""Property-based tests (hypothesis) of the readers' column detection and coordinate parsing."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner import InputError
from planner.io import FIELD_ALIASES, _to_number, detect_columns, read_facilities

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


@st.composite
def decorated(draw, alias: str) -> str:
    """An alias as people write it: any case, full-width letters, spaces, a bracketed unit."""
    text = "".join(ch.upper() if draw(st.booleans()) else ch for ch in alias)
    if draw(st.booleans()):
        text = text.translate(FULLWIDTH)
    unit = draw(st.sampled_from(["", "(GCJ-02)", "（度）", "[WGS84]", "【°】"]))
    pad = draw(st.sampled_from(["", " ", "  ", "\u3000"]))
    return pad + text + unit + pad


@given(data=st.data(), fields=st.lists(st.sampled_from(["lon", "lat", "name", "type", "id", "population"]),
                                       min_size=1, max_size=6, unique=True),
       noise=st.lists(st.text(alphabet="备注说明qwz_ 0123", min_size=1, max_size=8), max_size=4))
@FAST
def test_detect_columns_finds_decorated_aliases(data, fields, noise):
    headers = {f: data.draw(decorated(data.draw(st.sampled_from(FIELD_ALIASES[f])))) for f in fields}
    columns = list(headers.values()) + [n for n in noise if n not in headers.values()]
    assume(len(set(columns)) == len(columns))
    order = data.draw(st.permutations(columns))
    found = detect_columns(order)
    for f, col in headers.items():
        assert found.get(f) == col, (f, col, found)
    assert len(set(found.values())) == len(found)  # a column serves one field
    assert set(found.values()) <= set(order)


@given(st.lists(st.text(max_size=30), max_size=12))
@FAST
def test_detect_columns_never_fails_on_any_text(columns):
    found = detect_columns(columns)
    assert set(found) <= set(FIELD_ALIASES) and set(found.values()) <= set(columns)
    assert len(set(found.values())) == len(found)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=20), st.data())
@FAST
def test_number_parsing_round_trips_with_decorations(values, data):
    texts = []
    for v in values:
        t = repr(v)
        style = data.draw(st.sampled_from(["plain", "fullwidth", "degree", "spaces", "ideographic_point"]))
        if style == "fullwidth":
            t = t.translate(FULLWIDTH)
        elif style == "degree":
            t = t + data.draw(st.sampled_from(["°", "度"]))
        elif style == "spaces":
            t = f"  {t} "
        elif style == "ideographic_point" and "." in t and "e" not in t:
            t = t.replace(".", "。")
        texts.append(t)
    got, empty, bad = _to_number(pd.Series(texts, dtype=object))
    assert not empty.any() and not bad.any(), texts
    np.testing.assert_array_equal(got, np.asarray(values, dtype=float))


@given(st.lists(st.text(max_size=25), min_size=1, max_size=20))
@FAST
def test_number_parsing_total_on_any_text(texts):
    got, empty, bad = _to_number(pd.Series(texts, dtype=object))
    assert len(got) == len(texts) == len(empty) == len(bad)
    ok = np.isfinite(got)
    # every cell is exactly one of: a finite number, empty, or bad (never NaN passed on as a number)
    assert np.array_equal(ok.astype(int) + empty.astype(int) + bad.astype(int), np.ones(len(texts), int))


lon_st = st.floats(min_value=120.85, max_value=122.0, allow_nan=False)
lat_st = st.floats(min_value=30.7, max_value=31.85, allow_nan=False)


@given(st.lists(st.tuples(lon_st, lat_st), min_size=1, max_size=8), st.data())
@SLOW
def test_read_facilities_coordinates_round_trip(tmp_path_factory, points, data):
    lon_h = data.draw(decorated(data.draw(st.sampled_from(["lon", "lng", "longitude", "经度"]))))
    lat_h = data.draw(decorated(data.draw(st.sampled_from(["lat", "latitude", "纬度"]))))
    assume(lon_h.strip() != lat_h.strip())
    sep = data.draw(st.sampled_from([",", ";", "\t"]))
    enc = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    rows = [sep.join([f"S{i}", "aed", repr(lo), repr(la)]) for i, (lo, la) in enumerate(points)]
    text = "\n".join([sep.join(["id", "type", lon_h.strip(), lat_h.strip()]), *rows]) + "\n"
    path = tmp_path_factory.mktemp("p") / "f.csv"
    path.write_bytes(text.encode(enc))
    t = read_facilities(path)
    np.testing.assert_array_equal(t.gdf["lon"].to_numpy(), [p[0] for p in points])
    np.testing.assert_array_equal(t.gdf["lat"].to_numpy(), [p[1] for p in points])
    assert t.gdf["source_row"].tolist() == list(range(2, len(points) + 2))


@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.floats(allow_nan=True, allow_infinity=True, width=32)), min_size=1, max_size=6))
@SLOW
def test_read_facilities_any_numbers_message_or_valid_rows(tmp_path_factory, points):
    path = tmp_path_factory.mktemp("q") / "f.csv"
    pd.DataFrame({"id": [f"S{i}" for i in range(len(points))], "type": "aed",
                  "lon": [p[0] for p in points], "lat": [p[1] for p in points]}).to_csv(path, index=False)
    try:
        t = read_facilities(path)
    except InputError as e:
        assert e.problems and all(p.file == "f.csv" for p in e.problems)
        assert e.message("en") and e.message("zh")
        return
    assert len(t.gdf) == len(points)
    for lo, la in zip(t.gdf["lon"], t.gdf["lat"]):
        assert math.isfinite(lo) and math.isfinite(la) and abs(lo) <= 180 and abs(la) <= 90


def test_location_column_parsed(tmp_path):
    p = tmp_path / "loc.csv"
    p.write_text("id,type,location\nA,aed,\"121.47,31.23\"\nB,aed,121.48 31.24\n", encoding="utf-8")
    t = read_facilities(p)
    assert t.gdf["lon"].tolist() == [121.47, 121.48] and t.gdf["lat"].tolist() == [31.23, 31.24]


@pytest.mark.parametrize("text", ["1,234.5", "1234,5", "+5", "-0", "1e3"])
def test_number_parsing_examples(text):
    got, empty, bad = _to_number(pd.Series([text], dtype=object), thousands=True)
    assert np.isfinite(got[0]) and not bad[0]
