"""Write a coverage result to files (summary.json, areas.csv, demand.csv, facilities.csv, GeoJSON layers, XLSX),
or to bytes for downloads (the app's exports).

Every file is written to a temporary name in the same folder and moved into place, so a crash
never leaves a half-written output next to complete ones.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .i18n import band_label, section

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_path",
    "write_text",
    "write_csv",
    "csv_bytes",
    "csv_safe",
    "csv_text",
    "neutralise_cell",
    "write_outputs",
    "tables_for_export",
    "write_xlsx",
    "jsonable",
    "ExportItem",
    "sites_frame",
    "export_items",
    "geojson_bytes",
    "gpkg_bytes",
    "xlsx_bytes",
    "statistics_csv_bytes",
    "areas_csv_bytes",
    "slug",
    "export_name",
]


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success move it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: done once, at import, before any thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# ---------------------------------------------------------------------- names of what is saved (the one rule)
#: Characters kept in a name part: letters and digits of any script (Chinese included), ``_`` and ``-``.
_UNSAFE_NAME = r"[^\w\-]+"


def slug(text, *, max_len: int = 40, keep_dots: bool = False) -> str:
    """``text`` as one file-name part: path separators, control characters, spaces and punctuation become
    ``_`` (dots too unless ``keep_dots``), letters and digits of every script (Chinese) stay; cut to ``max_len``.

    The result never holds ``/``, ``\\``, ``..`` or a leading dot, so it cannot leave the folder it is joined to;
    it may be empty (nothing usable in ``text``).
    """
    import unicodedata

    text = unicodedata.normalize("NFKC", "" if text is None else str(text))
    pattern = r"[^\w.\-]+" if keep_dots else _UNSAFE_NAME
    out = re.sub(pattern, "_", text, flags=re.UNICODE)
    out = re.sub(r"\.{2,}", ".", out).strip("._-")
    return out[:max_len].strip("._-")


def export_name(label, scenario, ext: str, *, part: str | None = None, day=None) -> str:
    """The name a download or report is saved under: ``coverage_<study>_<scenario>_<YYYYMMDD>[_<part>].<ext>``.

    Parameters
    ----------
    label : the study's label (e.g. 长宁区); scenario : the scenario's name (e.g. 现状 / baseline).
        Both are made safe by :func:`slug`; an empty one is left out.
    ext : the extension without a dot (``xlsx``, ``pdf``).
    part : what the file holds when a scenario has several of one kind (``statistics``, ``areas``).
    day : datetime.date, optional
        Default today.
    """
    from datetime import date

    day = day or date.today()
    bits = ["coverage", slug(label), slug(scenario), day.strftime("%Y%m%d"), slug(part or "")]
    return "_".join(b for b in bits if b) + "." + (slug(ext) or "dat")


# ---------------------------------------------------------------------- CSV (the one writer)
#: A spreadsheet reads a cell that starts with one of these as a formula (or, for tab and
#: carriage return, strips them and reads what follows): CSV formula injection.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value):
    """A text cell made inert for spreadsheets, as OWASP recommends: a leading apostrophe.

    Text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a ``'``
    in front (``=HYPERLINK(...)`` -> ``'=HYPERLINK(...)``). Numbers, and text that is a plain
    number such as ``-12.5``, are returned unchanged: a spreadsheet reads those as numbers, not
    formulas (``-2+3`` is not a plain number and is neutralised).
    """
    if isinstance(value, str) and value and value[0] in FORMULA_START and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are neutralised (see :func:`neutralise_cell`).

    Numeric, boolean and datetime columns are untouched; in object columns only ``str`` cells
    change. The input is not modified.
    """
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            # only cells whose first character can start a formula are looked at (usually none of 300,000)
            try:
                first = s.str[:1]
            except AttributeError:  # an object column with no text at all
                continue
            risky = first.isin(FORMULA_START).to_numpy(bool)
            if risky.any():
                fixed = s[risky].map(neutralise_cell, na_action="ignore")
                col = s.astype(object).copy()
                col[risky] = fixed
                out[c] = col.astype(object if s.dtype == object else s.dtype)
    out.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as CSV bytes, UTF-8 with a BOM (Excel then reads Chinese), text cells neutralised.

    Every CSV the project hands out (CLI files and app downloads) goes through here or
    :func:`write_csv`, so a facility named ``=HYPERLINK(...)`` never becomes a live formula.
    """
    return csv_text(csv_safe(df)).encode("utf-8-sig")


def jsonable(obj):
    """Make numpy scalars, NaN and inf JSON-safe (NaN -> null, inf -> "inf")."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def demand_export(result) -> pd.DataFrame:
    """demand.csv: id, population, area_id, snap figures, and per type minutes / facility_id / covered."""
    dt = result.demand_table
    out = dt[["id", "lon", "lat", "population", "area_id", "snap_dist_m", "snapped_too_far"]].copy()
    keys = list(result.coverage)
    if len(keys) == 1:
        k = keys[0]
        out["minutes"] = dt[f"{k}_minutes"]
        out["facility_id"] = dt[f"{k}_facility_id"]
        out["covered"] = dt[f"{k}_covered"]
    for k in keys:
        out[f"minutes_{k}"] = dt[f"{k}_minutes"]
        out[f"facility_id_{k}"] = dt[f"{k}_facility_id"]
        out[f"covered_{k}"] = dt[f"{k}_covered"]
    return out


def types_table(result, lang: str = "en") -> pd.DataFrame:
    """One row per type: goal, demand, covered, share, mean and p90 minutes, unreachable, snap counts."""
    rows = []
    for k, cov in result.coverage.items():
        s = cov.stats
        row = {
            "type": k,
            "label": s["label_en"] if lang == "en" else s["label_zh"],
            "target_minutes": s["target_minutes"],
            "facilities": s["facilities"],
            "demand_total": s["demand_total"],
            "demand_covered": s["demand_covered"],
            "coverage_share": s["coverage_share"],
            "mean_minutes": s["mean_minutes"],
            "p90_minutes": s["p90_minutes"],
            "unreachable_demand": s["unreachable_demand"],
            "facilities_snapped_too_far": s["facilities_snapped_too_far"],
            "demand_snapped_too_far": s["demand_snapped_too_far"],
        }
        for b in s["bands"]:
            row[f"band_{b['band']}"] = b["demand"]
        rows.append(row)
    return pd.DataFrame(rows)


def bands_table(result, lang: str = "en") -> pd.DataFrame:
    """Demand by time band, one row per (type, band)."""
    rows = []
    for k, cov in result.coverage.items():
        for b in cov.stats["bands"]:
            band = b["band"]
            if lang == "zh":
                band = band_label(band, "zh")
            rows.append({"type": k, "band": band, "demand": b["demand"], "share": b["share"]})
    return pd.DataFrame(rows)


HEADERS_ZH = {k: zh for k, (zh, _en) in section("export").items()}  # the one catalogue: planner/i18n.py


def tables_for_export(result, lang: str = "en") -> dict[str, pd.DataFrame]:
    """The statistics tables, with Chinese headers when ``lang == 'zh'``.

    Per-point demand rows are not statistics and can run to hundreds of thousands of rows:
    they go to demand.csv, not into the workbook.
    """
    tables = {
        "types": types_table(result, lang),
        "bands": bands_table(result, lang),
        "areas": result.areas if len(result.areas) else pd.DataFrame(),
        "facilities": result.facilities_table,
    }
    # the time bands are in their own long table (their edges differ by type); the label replaces the key
    tables["types"] = tables["types"].drop(columns=[c for c in tables["types"].columns if c.startswith("band_")] + ["label"])
    tables = {k: _for_people(v, result, lang) for k, v in tables.items()}
    if lang == "zh":
        tables = {k: v.rename(columns=_header_zh) for k, v in tables.items()}
    return tables


def _header_zh(col: str) -> str:
    if col.startswith("band_"):
        band = col[5:]
        return band_label(band, "zh") + "人口"
    return HEADERS_ZH.get(col, col)


def _for_people(df: pd.DataFrame, result, lang: str) -> pd.DataFrame:
    """Tables for reading: shares as percentages, people rounded to 0.1, minutes to 0.01, yes/no
    in words, type keys as labels. The CSV/GeoJSON data files keep full precision."""
    out = df.copy()
    for c in out.columns:
        if c.endswith("share"):
            out[c] = (pd.to_numeric(out[c], errors="coerce") * 100).round(2)
        elif c.startswith("demand") or c.startswith("band_") or c in ("population", "unreachable_demand"):
            out[c] = pd.to_numeric(out[c], errors="coerce").round(1)
        elif c.endswith("minutes") and c != "target_minutes":
            out[c] = pd.to_numeric(out[c], errors="coerce").round(2)
        elif out[c].dtype == bool and lang == "zh":
            out[c] = out[c].map({True: "是", False: "否"})
    if "type" in out.columns:
        labels = {k: (t.label_zh if lang == "zh" else t.label_en) for k, t in result.study.types.items()}
        out["type"] = out["type"].map(lambda k: labels.get(k, k))
    return out.rename(columns=lambda c: c[:-5] + "pct" if c.endswith("share") else c)


def write_xlsx(result, path: str | Path, *, lang: str = "en") -> Path:
    """One workbook, one sheet per table (Chinese sheet names and headers when ``lang == 'zh'``)."""
    names_zh = {"types": "分类型统计", "bands": "时间段分布", "areas": "分区域统计", "facilities": "设施"}
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for key, df in tables_for_export(result, lang).items():
                sheet = names_zh[key] if lang == "zh" else key
                _fit_cells(df, sheet).to_excel(xw, sheet_name=sheet, index=False)
                _no_formulas(xw.sheets[sheet])
    return Path(path)


#: The most characters an Excel cell holds.
XLSX_CELL_CHARS = 32767


def _fit_cells(df: pd.DataFrame, sheet: str) -> pd.DataFrame:
    """Text longer than an Excel cell holds, cut to fit with a warning (openpyxl would cut it with
    a bare UserWarning); the CSV files keep the full text."""
    out = df
    cut = 0
    for c in df.columns:
        s = df[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            long = s.map(lambda v: isinstance(v, str) and len(v) > XLSX_CELL_CHARS, na_action="ignore").fillna(False).astype(bool)
            if long.any():
                if out is df:
                    out = df.copy()
                out[c] = s.where(~long, s[long].str.slice(0, XLSX_CELL_CHARS - 1) + "…")
                cut += int(long.sum())
    if cut:
        logger.warning("sheet %s: %d cell(s) longer than Excel's %d characters were cut; the CSV files keep the full text",
                       sheet, cut, XLSX_CELL_CHARS)
    return out


def _no_formulas(ws) -> None:
    """Text from user files that starts with '=' would become a live Excel formula (formula
    injection, e.g. a facility named '=HYPERLINK(...)'): we write no formulas, so every such cell
    is stored as the text it is."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"


_CSV_SPECIAL = r'[,"\n]'  # what makes the csv module quote a field (QUOTE_MINIMAL, "\n" line ends)


def _csv_quote(values: list) -> list:
    return ['"' + v.replace('"', '""') + '"' for v in values]


def _csv_column(col: pd.Series) -> list | None:
    """A column as the strings ``DataFrame.to_csv`` writes for it, or None for a dtype not handled here."""
    kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else None
    if kind == "f" and col.dtype.itemsize == 8:  # float32 prints shorter in numpy than as a Python float
        v = col.to_numpy()
        out = list(map(repr, v.tolist()))  # Python's repr is the shortest round-trip form, like numpy's
        for i in np.flatnonzero(np.isnan(v)).tolist():
            out[i] = ""
        return out
    if kind == "b":
        return np.where(col.to_numpy(), "True", "False").tolist()
    if kind is not None and kind in "iu":
        return list(map(str, col.to_numpy().tolist()))
    if pd.api.types.is_string_dtype(col.dtype):
        na = col.isna().to_numpy()
        vals = col.to_numpy(dtype=object)
        if col.dtype == object and not all(isinstance(x, str) for x in vals[~na].tolist()):
            return None
        out = vals.tolist()
        for i in np.flatnonzero(na).tolist():
            out[i] = ""
        special = col.str.contains(_CSV_SPECIAL, regex=True, na=False).to_numpy(dtype=bool)
        idx = np.flatnonzero(special).tolist()
        for i, q in zip(idx, _csv_quote([out[i] for i in idx])):
            out[i] = q
        return out
    return None


def _csv_chunks(df: pd.DataFrame, rows: int = 50_000):
    """The CSV text of ``df`` in pieces of ``rows`` rows (header first), or None if a column's dtype is not handled."""
    if not df.columns.is_unique:
        return None
    names = [str(c) for c in df.columns]
    head = ",".join(_csv_quote([n])[0] if any(ch in n for ch in ',"\n') else n for n in names) + "\n"
    if not all(_csv_column(df[c].iloc[:1]) is not None for c in df.columns):
        return None

    def pieces():
        yield head
        for start in range(0, len(df), rows):
            part = df.iloc[start:start + rows]
            cols = [_csv_column(part[c]) for c in part.columns]
            if any(c is None for c in cols):  # e.g. an object column holding a number further down
                raise _NotHandled
            yield "\n".join(map(",".join, zip(*cols))) + "\n"

    return pieces()


class _NotHandled(Exception):
    pass


def csv_text(df: pd.DataFrame) -> str:
    """``df.to_csv(index=False)`` for float, int, bool and text columns, faster.

    pandas formats each float through numpy's repr (about 7 s for demand.csv at Pudong's size,
    280k rows by 40 columns); Python's float repr gives the same text. Any other dtype falls
    back to pandas. Tested byte for byte against ``to_csv``.
    """
    chunks = _csv_chunks(df)
    if chunks is not None:
        try:
            return "".join(chunks)
        except _NotHandled:
            pass
    return df.to_csv(index=False)


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """``df`` as UTF-8 CSV with a byte-order mark (Excel opens it), text cells neutralised as in :func:`csv_bytes`,
    written atomically (a crash leaves no half file), 50k rows at a time."""
    df = csv_safe(df)
    with atomic_path(path) as tmp:
        chunks = _csv_chunks(df)
        done = False
        if chunks is not None:
            try:
                with open(tmp, "w", encoding="utf-8-sig") as fh:  # line ends as pandas writes them (os.linesep)
                    for piece in chunks:
                        fh.write(piece)
                done = True
            except _NotHandled:
                pass
        if not done:
            df.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(path)


def geojson_text(gdf) -> str:
    """The FeatureCollection text of ``gdf`` (EPSG:4326), as ``GeoDataFrame.to_json(na="null", drop_id=True)`` writes it.

    Geometries go through shapely's vectorised GeoJSON writer and the properties through one
    JSON encoder call for the whole collection: at Pudong's size (260k gap cells) this takes a few
    seconds where ``to_json``, which builds Python objects per coordinate, took half a minute.
    Same content (NaN as null, inf as ``Infinity`` like ``json.dumps``); the geometry text is compact.
    """
    import shapely

    gdf = gdf.to_crs(4326)
    props = gdf.drop(columns=gdf.geometry.name)
    props = props.astype(object).where(props.notna(), None)
    cols = [str(c) for c in props.columns]
    arr = np.asarray(gdf.geometry.values, dtype=object)
    arr = np.where(shapely.is_empty(arr), None, arr)  # geopandas writes empty geometries as null
    geoms = ["null" if g is None else g for g in shapely.to_geojson(arr).tolist()]
    # one encoder call for the whole collection, with a marker where each geometry goes
    marker = "\x00geometry\x00"
    text = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": dict(zip(cols, row)), "geometry": marker} for row in props.to_numpy().tolist()]})
    parts = text.split(json.dumps(marker))
    if len(parts) != len(geoms) + 1:  # the marker also occurs in a property: encode feature by feature
        return _interleave_fallback(props, cols, geoms)
    out = [parts[0]]
    for g, tail in zip(geoms, parts[1:]):
        out.append(g)
        out.append(tail)
    return "".join(out)


def _interleave_fallback(props, cols, geoms) -> str:
    features = [
        '{"type": "Feature", "properties": ' + json.dumps(dict(zip(cols, row))) + ', "geometry": ' + g + "}"
        for row, g in zip(props.to_numpy().tolist(), geoms)
    ]
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


def write_geojson(gdf, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(geojson_text(gdf), encoding="utf-8")
    return Path(path)


def write_outputs(result, out_dir: str | Path, *, map_html: str | None = None, lang: str = "en",
                  study_file: str | None = None) -> dict[str, Path]:
    """Write every output of a coverage run into ``out_dir``; returns name -> path.

    ``map_html`` is the standalone map (built by the ``maps`` package) to save as ``map.html``;
    ``study_file`` the text of the study file the run used (``study.toml``, to reproduce it).
    Rows the study refused (``skip_invalid``) go to ``rejected_rows.csv``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["summary.json"] = write_text(out / "summary.json", json.dumps(jsonable(result.summary), ensure_ascii=False, indent=2))
    if len(result.areas):
        written["areas.csv"] = write_csv(result.areas, out / "areas.csv")
    written["demand.csv"] = write_csv(demand_export(result), out / "demand.csv")
    written["facilities.csv"] = write_csv(result.facilities_table, out / "facilities.csv")
    if result.isochrones is not None:
        written["isochrones.geojson"] = write_geojson(result.isochrones, out / "isochrones.geojson")
    written["gaps.geojson"] = write_geojson(result.gaps, out / "gaps.geojson")
    written["coverage.xlsx"] = write_xlsx(result, out / "coverage.xlsx", lang=lang)
    if map_html is not None:
        written["map.html"] = write_text(out / "map.html", map_html)
    written.update(write_study_extras(out, result.study, study_file))
    remove_stale(out, COVERAGE_OUTPUTS, written)
    return written


def write_study_extras(out: Path, study, study_file: str | None) -> dict[str, Path]:
    """``study.toml`` (the study a run used) and ``rejected_rows.csv`` (rows refused with skip_invalid)."""
    written: dict[str, Path] = {}
    if study_file is not None:
        written["study.toml"] = write_text(out / "study.toml", study_file)
    rejected = getattr(study, "rejected", None)
    if rejected is not None and len(rejected):
        written["rejected_rows.csv"] = write_csv(rejected, out / "rejected_rows.csv")
    return written


COVERAGE_OUTPUTS = ("summary.json", "areas.csv", "demand.csv", "facilities.csv", "isochrones.geojson", "gaps.geojson",
                    "coverage.xlsx", "map.html", "rejected_rows.csv", "study.toml")


def remove_stale(out: Path, ours, written) -> None:
    """Remove outputs of an earlier run that this run did not write (e.g. map.html after --no-map),
    so the folder describes one run. Only our own file names are touched."""
    for name in ours:
        if name not in written and (out / name).is_file():
            (out / name).unlink()
            logger.info("removed %s left by an earlier run", out / name)


# ============================================================================ downloads (the app's exports as bytes)
@dataclass(frozen=True)
class ExportItem:
    """One download: ``make()`` builds the bytes only when asked (deferred downloads)."""

    key: str
    filename: str
    mime: str
    make: Callable[[], bytes] = field(repr=False)


def sites_frame(sites: Iterable, marginal: dict | None = None) -> pd.DataFrame:
    """``id, rank, type, lon, lat, marginal_demand, source`` of proposed sites (:class:`planner.store.Site`) for map
    layers, tables and exports; ``marginal`` maps a site id to the demand it newly covers."""
    sites = list(sites)
    marginal = marginal or {}
    return pd.DataFrame({
        "id": [s.id for s in sites],
        "rank": list(range(1, len(sites) + 1)),
        "type": [s.type for s in sites],
        "lon": [float(s.lon) for s in sites],
        "lat": [float(s.lat) for s in sites],
        "marginal_demand": [float(marginal.get(s.id, float("nan"))) for s in sites],
        "source": [s.origin for s in sites],
    })


def _layers(result, proposals: Iterable, type_key: str | None) -> dict:
    """Named GeoDataFrames (EPSG:4326) of what the map shows: facilities, proposals, isochrones, gaps, areas."""
    import geopandas as gpd

    ft = result.facilities_table
    pf = sites_frame(proposals)
    if len(pf) and len(ft):  # a proposed site belongs to the proposals layer only
        ft = ft[~ft["id"].astype(str).isin(set(pf["id"].astype(str)))]
    layers = {"facilities": gpd.GeoDataFrame(ft.drop(columns=[c for c in ("geometry",) if c in ft.columns]),
                                             geometry=gpd.points_from_xy(ft["lon"], ft["lat"]), crs=4326)}
    if len(pf):
        layers["proposals"] = gpd.GeoDataFrame(pf, geometry=gpd.points_from_xy(pf["lon"], pf["lat"]), crs=4326)
    if result.isochrones is not None and len(result.isochrones):
        layers["isochrones"] = result.isochrones
    if result.gaps is not None and len(result.gaps):
        layers["gaps"] = result.gaps
    a = result.area_layer(type_key) if type_key else None
    if a is not None:
        layers["areas"] = a
    return layers


def _clean_for_gis(gdf):
    g = gdf.copy()
    for c in g.columns:
        if c == "geometry":
            continue
        if g[c].dtype == object:
            g[c] = g[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
        elif pd.api.types.is_float_dtype(g[c]):
            g[c] = g[c].replace([np.inf, -np.inf], np.nan)
    return g


def geojson_bytes(layers: dict) -> bytes:
    """All layers in one FeatureCollection; each feature's ``layer`` property names its layer."""
    import geopandas as gpd

    parts = [_clean_for_gis(g.to_crs(4326)).assign(layer=name) for name, g in layers.items() if len(g)]
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    return merged.to_json(na="null", drop_id=True, ensure_ascii=False).encode("utf-8")


def gpkg_bytes(layers: dict) -> bytes:
    """One GeoPackage with a layer per map layer (written in a private temporary folder, then read back)."""
    with tempfile.TemporaryDirectory(prefix="planner-") as tmpdir:
        tmp = Path(tmpdir) / "layers.gpkg"
        for name, g in layers.items():
            if len(g):
                _clean_for_gis(g.to_crs(4326)).to_file(tmp, layer=name, driver="GPKG")
        return tmp.read_bytes()


def xlsx_bytes(result, lang: str) -> bytes:
    """The statistics workbook of :func:`planner.export.write_xlsx` as bytes."""
    with tempfile.TemporaryDirectory(prefix="planner-") as tmpdir:
        tmp = Path(tmpdir) / "statistics.xlsx"
        write_xlsx(result, tmp, lang=lang)
        return tmp.read_bytes()


def statistics_csv_bytes(result, lang: str) -> bytes:
    """Per-type statistics as CSV (UTF-8 with BOM so Excel reads Chinese; user text neutralised)."""
    return csv_bytes(tables_for_export(result, lang)["types"])


def areas_csv_bytes(result, lang: str) -> bytes:
    """Per-area statistics as CSV (UTF-8 with BOM; user text neutralised)."""
    return csv_bytes(tables_for_export(result, lang)["areas"])


def export_items(result, *, lang: str, proposals: Iterable = (), type_key: str | None = None,
                 map_html: Callable[[], str] | None = None, summary_html: Callable[[], str] | None = None,
                 summary_pdf: Callable[[], bytes] | None = None, all_types: Callable[[], object] | None = None,
                 label: str | None = None, scenario: str | None = None, day=None) -> list[ExportItem]:
    """Every download of the current scenario; each item builds its bytes lazily.

    ``result`` is the scenario's run (proposals included as facilities) of the chosen type, with
    its isochrones and gaps (the layers); ``all_types`` returns the same scenario's run of every
    type, for the statistics (default: ``result``). ``map_html`` and ``summary_html`` are
    callables returning the standalone map / one-page report, ``summary_pdf`` the report as PDF bytes.
    Every file is named by :func:`export_name` from ``label`` (default the study's label in ``lang``),
    ``scenario`` and ``day`` (default today).
    """
    props = list(proposals)
    stats = all_types or (lambda: result)
    if label is None:
        study = getattr(result, "study", None)
        label = study.label_in(lang) if hasattr(study, "label_in") else getattr(study, "label", "")

    def name(ext: str, part: str | None = None) -> str:
        return export_name(label, scenario, ext, part=part, day=day)

    items = [
        ExportItem("statistics_csv", name("csv", "statistics"), "text/csv", lambda: statistics_csv_bytes(stats(), lang)),
        ExportItem("statistics_xlsx", name("xlsx"),
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", lambda: xlsx_bytes(stats(), lang)),
    ]
    if len(result.areas):
        items.append(ExportItem("areas_csv", name("csv", "areas"), "text/csv", lambda: areas_csv_bytes(result, lang)))
    items += [
        ExportItem("layers_geojson", name("geojson", "layers"), "application/geo+json",
                   lambda: geojson_bytes(_layers(result, props, type_key))),
        ExportItem("layers_gpkg", name("gpkg", "layers"), "application/geopackage+sqlite3",
                   lambda: gpkg_bytes(_layers(result, props, type_key))),
    ]
    if map_html is not None:
        items.append(ExportItem("map_html", name("html", "map"), "text/html", lambda: map_html().encode("utf-8")))
    if summary_html is not None:
        items.append(ExportItem("summary_html", name("html", "summary"), "text/html",
                                lambda: summary_html().encode("utf-8")))
    if summary_pdf is not None:
        items.append(ExportItem("summary_pdf", name("pdf", "summary"), "application/pdf", summary_pdf))
    return items
