"""Read facility, demand and boundary files as planners really have them, and say how to fix bad rows.

Tables come from Excel or CSV exports of Amap, Baidu or internal systems (Chinese headers, GBK
encoding, title rows, GCJ-02/BD-09 coordinates) or from GIS formats (GeoJSON, GeoPackage,
zipped Shapefile). Every problem is collected with the file, the row number as the user sees
it in Excel (header = row 1) and the column, before anything is refused; nothing is dropped
silently. All validation and conversion is vectorised.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import coords as _coords
from ._errors import InputError, Problem
from .config import FacilityTypes, default_types

logger = logging.getLogger(__name__)

__all__ = [
    "FacilityTable",
    "DemandTable",
    "read_table",
    "read_facilities",
    "read_demand",
    "read_boundaries",
    "spread_population",
    "detect_columns",
    "inspect_zip",
]

TEXT_EXT = {".csv", ".txt", ".tsv", ".tab"}
EXCEL_EXT = {".xlsx", ".xlsm"}
GEO_EXT = {".geojson", ".json", ".gpkg", ".zip", ".shp", ".fgb"}
DELIMITERS = (",", "\t", ";", "|")
_EMPTY_TOKENS = {"", "nan", "none", "null", "na", "n/a", "#n/a", "-", "--", "—"}

# Header aliases, compared after normalisation (NFKC, lower case, no spaces/underscores,
# bracketed units removed). Order matters: the first matching column wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "lng", "long", "longitude", "经度", "x", "x坐标", "横坐标", "pointx", "东经"),
    "lat": ("lat", "latitude", "纬度", "y", "y坐标", "纵坐标", "pointy", "北纬"),
    "location": ("location", "经纬度", "坐标", "lnglat", "lonlat", "lnglats", "位置坐标"),
    "name": ("name", "名称", "机构名称", "单位名称", "设施名称", "站点名称", "医疗机构名称", "poi名称", "namezh", "title"),
    "type": ("type", "类型", "设施类型", "类别", "机构类型", "机构类别", "设施类别", "category", "kind", "分类",
             "facilitytype", "typename", "类型名称"),
    "id": ("id", "编号", "序号", "code", "编码", "代码", "机构编码", "poiid", "uid"),
    "population": ("population", "pop", "人口", "常住人口", "人口数", "居民人数", "人数", "户籍人口"),
    "address": ("address", "地址", "详细地址", "addr", "所在地址"),
}
# Prefix matches for headers with extra words, e.g. "经度gcj02" or "常住人口万人" (Chinese only).
_PREFIX = {"lon": ("经度",), "lat": ("纬度",), "name": ("名称", "机构名称"), "population": ("常住人口", "人口"),
           "address": ("地址",), "type": ("类型", "类别")}
_FIELD_LABEL = {
    "lon": ("longitude", "经度"), "lat": ("latitude", "纬度"), "name": ("name", "名称"), "type": ("type", "类型"),
    "id": ("id", "编号"), "population": ("population", "人口"), "address": ("address", "地址"),
    "location": ("location", "经纬度"),
}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({
        "row": pd.Series(dtype="Int64"), "column": pd.Series(dtype="object"), "code": pd.Series(dtype="object"),
        "problem_en": pd.Series(dtype="object"), "problem_zh": pd.Series(dtype="object"),
    })


@dataclass(frozen=True, eq=False)
class FacilityTable:
    """Facilities loaded from a file.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        EPSG:4326 points; index = the row's position in the file (0-based, gaps where rows were
        rejected). Columns: ``id`` (str), ``name`` (str), ``type`` (facility-type key), ``lon``,
        ``lat`` (WGS-84 degrees after conversion), ``source_file``, ``source_row`` (row number as
        seen in Excel), ``coords`` (the system the file was in), plus extra columns kept from
        the file (e.g. ``address``).
    rejected : pandas.DataFrame
        One line per problem of a rejected row: ``row``, ``column``, ``code``, ``problem_en``,
        ``problem_zh``. Empty unless ``skip_invalid=True`` was used.
    warnings : tuple of Problem
        Things worth a look that did not stop the load (e.g. the GCJ-02 hint).
    """

    gdf: gpd.GeoDataFrame
    rejected: pd.DataFrame = field(default_factory=_empty_rejected)
    warnings: tuple[Problem, ...] = ()

    def __len__(self) -> int:
        return len(self.gdf)


@dataclass(frozen=True, eq=False)
class DemandTable:
    """Demand (population) loaded from a file.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        EPSG:4326 points or polygons; columns ``id`` (str), ``population`` (float >= 0, persons),
        ``source_file``, ``source_row``, ``coords``, ``geometry`` (+ ``lon``/``lat`` for point
        files, and extra columns kept from the file).
    rejected, warnings : as in :class:`FacilityTable`.
    """

    gdf: gpd.GeoDataFrame
    rejected: pd.DataFrame = field(default_factory=_empty_rejected)
    warnings: tuple[Problem, ...] = ()

    def __len__(self) -> int:
        return len(self.gdf)


# --------------------------------------------------------------------------------------------
# Raw reading
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Raw:
    frame: pd.DataFrame  # str cells ('' for empty) for tables; attribute columns for geo files
    rows: np.ndarray  # row number as the user sees it, per frame row
    file: str
    kind: str  # 'csv' | 'excel' | 'geo'
    geometry: gpd.GeoSeries | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 1
    stray: np.ndarray | None = None  # rows with values under no header (more cells than the header)


def _fail(code: str, en: str, zh: str, file: str, *, row: int | None = None, column: str | None = None) -> InputError:
    """A file-level refusal: a short head plus one located Problem with the details and the fix."""
    p = Problem(code, en, zh, file=file, row=row, column=column)
    return InputError(f"{file}: the file cannot be used.", f"{file}：文件无法使用。", problems=[p])


_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "PNG 图片"),
    (b"\xff\xd8\xff", "a JPEG image", "JPEG 图片"),
    (b"GIF8", "a GIF image", "GIF 图片"),
    (b"%PDF", "a PDF document", "PDF 文档"),
    (b"\xd0\xcf\x11\xe0", "an old-format Excel/Word file (.xls/.doc)", "旧版 Excel/Word 文件（.xls/.doc）"),
    (b"Rar!", "a RAR archive", "RAR 压缩包"),
    (b"7z\xbc\xaf", "a 7-Zip archive", "7z 压缩包"),
]


#: Largest facility, demand or boundary file read, bytes (100,000 facility rows take about 5 MB).
MAX_INPUT_BYTES = 2 * 1024**3
#: Most bytes the entries of a ZIP (zipped Shapefile, XLSX) may add up to once decompressed.
MAX_ZIP_UNCOMPRESSED_BYTES = 2 * 1024**3
#: Most entries a ZIP may hold (a Shapefile has 3-8 files, a workbook a few dozen).
MAX_ZIP_ENTRIES = 10_000
#: Largest decompressed/compressed ratio accepted for an entry above 1 MB: text tables compress
#: 5-20x, a ZIP bomb of zeros about 1000x.
MAX_ZIP_RATIO = 200


def inspect_zip(path: str | Path) -> list[str]:
    """Check a ZIP archive before anything reads inside it; return its entry names.

    Refused, with the entry named: entry names that are absolute or climb out of the folder
    (``../``, ``C:\\``, ``/etc``), more than :data:`MAX_ZIP_ENTRIES` entries, a total above
    :data:`MAX_ZIP_UNCOMPRESSED_BYTES` once decompressed, or an entry that decompresses more
    than :data:`MAX_ZIP_RATIO` times its stored size (a ZIP bomb). Nothing is extracted here or
    later: GIS files are read inside the archive.

    Raises
    ------
    InputError
    """
    path = Path(path)
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _fail("unreadable", f"the file looks like a damaged ZIP/XLSX archive ({exc}).",
                    f"文件像是损坏的 ZIP/XLSX 压缩包（{exc}）。", name) from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _fail("zip_refused", f"the archive holds {len(infos)} entries, more than {MAX_ZIP_ENTRIES}; "
                    "zip only the files of one layer.", f"压缩包中有 {len(infos)} 个条目，超过 {MAX_ZIP_ENTRIES} 个；"
                    "请只压缩一个图层的文件。", name)
    for info in infos:
        n = info.filename
        parts = n.replace("\\", "/").split("/")
        if n.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", n) or "\x00" in n:
            raise _fail("zip_refused", f"the archive entry '{n[:200]}' points outside the archive's folder "
                        "(absolute path or '..'); such archives are refused. Zip the files themselves again.",
                        f"压缩包条目「{n[:200]}」指向压缩包目录之外（绝对路径或“..”），此类压缩包不予接受。"
                        "请重新压缩文件本身。", name)
        if info.file_size > 1_000_000 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise _fail("zip_refused", f"the archive entry '{n[:200]}' expands {info.file_size / max(info.compress_size, 1):.0f} "
                        f"times ({info.file_size:,} bytes from {info.compress_size:,}): a ZIP bomb, refused.",
                        f"压缩包条目「{n[:200]}」解压后膨胀 {info.file_size / max(info.compress_size, 1):.0f} 倍"
                        f"（{info.compress_size:,} 字节解压为 {info.file_size:,} 字节），疑为压缩炸弹，不予接受。", name)
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_UNCOMPRESSED_BYTES:
        raise _fail("zip_refused", f"the archive expands to {total / 1e9:.1f} GB, more than "
                    f"{MAX_ZIP_UNCOMPRESSED_BYTES / 1e9:.1f} GB; cut the data to the study area.",
                    f"压缩包解压后为 {total / 1e9:.1f} GB，超过 {MAX_ZIP_UNCOMPRESSED_BYTES / 1e9:.1f} GB；请裁剪到研究范围。", name)
    return [i.filename for i in infos]


def _sniff_kind(path: Path, head: bytes) -> str:
    """'text', 'excel', 'geo' or 'zip-shp' from the extension, corrected by the content."""
    ext = path.suffix.lower()
    name = path.name
    for magic, en, zh in _MAGIC:
        if head.startswith(magic):
            hint_en = " Open it in Excel and save as .xlsx or CSV (UTF-8)." if "Excel" in en else ""
            hint_zh = "请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）。" if "Excel" in en else ""
            raise _fail(
                "wrong_file_type",
                f"this file is {en}, not a table. Accepted: CSV, XLSX, GeoJSON, GeoPackage, zipped Shapefile.{hint_en}",
                f"该文件是{zh}，不是表格。支持的格式：CSV、XLSX、GeoJSON、GeoPackage、Shapefile（zip）。{hint_zh}",
                name,
            )
    if head.startswith(b"PK\x03\x04"):
        names = inspect_zip(path)
        if any(n.startswith("xl/") for n in names):
            if ext not in EXCEL_EXT:
                logger.warning("%s is an Excel workbook despite its extension; reading it as XLSX", name)
            return "excel"
        if any(n.lower().endswith(".shp") for n in names):
            return "geo"
        raise _fail("wrong_file_type", "this ZIP archive holds neither an Excel workbook nor a Shapefile (.shp).",
                    "该 ZIP 压缩包中既没有 Excel 工作簿，也没有 Shapefile（.shp）。", name)
    if head.startswith(b"SQLite format 3\x00"):
        return "geo"
    if ext in GEO_EXT or ext == ".shp":
        return "geo"
    if ext in EXCEL_EXT:
        raise _fail("unreadable", "this .xlsx file is not a valid Excel workbook (damaged or renamed).",
                    "该 .xlsx 文件不是有效的 Excel 工作簿（已损坏或被改名）。", name)
    if ext in TEXT_EXT or ext == "" or ext == ".xls":
        if ext == ".xls" and b"\x00" not in head[:2048]:
            logger.warning("%s has an .xls extension but is plain text; reading it as CSV", name)
        return "text"
    raise _fail(
        "wrong_file_type",
        f"unsupported file type '{ext}'. Accepted: .csv, .txt, .xlsx, .geojson, .json, .gpkg, .zip (Shapefile).",
        f"不支持的文件类型「{ext}」。支持：.csv、.txt、.xlsx、.geojson、.json、.gpkg、.zip（Shapefile）。",
        name,
    )


def _decode(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """Decode bytes: explicit encoding, else BOMs, UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if encoding is not None:
        tries = [encoding]
    elif data.startswith(b"\xef\xbb\xbf"):
        tries = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        tries = ["utf-16"]
    else:
        tries = ["utf-8", "gb18030"]
    err: UnicodeDecodeError | None = None
    for enc in tries:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as exc:
            err = exc
        except LookupError:
            raise _fail("encoding", f"unknown encoding '{enc}'.", f"未知的编码「{enc}」。", name) from None
    assert err is not None
    line = data[: err.start].count(b"\n") + 1
    tried = " or ".join(tries)
    raise _fail(
        "encoding",
        f"cannot read the text: byte 0x{data[err.start]:02x} at line {line} is not valid {tried}. "
        "In Excel use 'Save As > CSV UTF-8', or pass encoding='...' if you know it.",
        f"无法读取文本：第 {line} 行的字节 0x{data[err.start]:02x} 不是有效的 {tried} 编码。"
        "请在 Excel 中“另存为 > CSV UTF-8”，或用 encoding='...' 指定编码。",
        name,
        row=line,
    )


def _sniff_delimiter(lines: list[str]) -> str:
    sample = [ln for ln in lines[:50] if ln.strip()][:20]
    best, best_score = ",", 0.0
    for d in DELIMITERS:
        counts = [ln.count(d) for ln in sample]
        if not counts:
            continue
        score = float(np.median(counts))
        # a title line has no delimiter; rows that agree with each other win
        if score > best_score:
            best, best_score = d, score
    return best


def _clean_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """All cells as stripped strings, '' for empty (NaN, None, whitespace)."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            s = s.astype("object")
        s = s.where(s.notna(), "")
        out[c] = s.astype(str).str.strip()
    return pd.DataFrame(out, index=frame.index)


def _locate_header(grid: pd.DataFrame) -> int:
    """Index of the header row in a header-less grid: skips blank rows and merged title rows."""
    nonempty = (grid != "").sum(axis=1).to_numpy()
    i = 0
    n = len(grid)
    while i < n and nonempty[i] == 0:
        i += 1
    # A merged title ("长宁区 AED 点位清单") fills one cell; the real header follows.
    for _ in range(5):
        if i + 1 < n and nonempty[i] == 1 and nonempty[i + 1] >= 2:
            nxt = grid.iloc[i + 1]
            numeric = pd.to_numeric(nxt[nxt != ""], errors="coerce").notna().mean()
            if numeric < 0.5:
                i += 1
                while i < n and nonempty[i] == 0:
                    i += 1
                continue
        break
    return i


def _grid_to_table(grid: pd.DataFrame, name: str, kind: str, **extra: Any) -> _Raw:
    """Header-less grid of strings -> table with named columns and Excel row numbers."""
    grid = grid.reset_index(drop=True)
    if len(grid) == 0 or not (grid != "").to_numpy().any():
        raise _fail("empty_file", "the file is empty: there is no header and no data.",
                    "文件为空：既没有表头也没有数据。", name)
    h = _locate_header(grid)
    header = [unicodedata.normalize("NFKC", str(v)).replace("\u3000", " ").strip() for v in grid.iloc[h]]
    body = grid.iloc[h + 1:]
    rows = np.arange(h + 2, h + 2 + len(body), dtype="int64")  # grid position p is Excel row p + 1
    # name blank headers; keep them only if they hold data
    names: list[str] = []
    keep: list[int] = []
    seen: dict[str, int] = {}
    stray = np.zeros(len(body), bool)
    for j, col in enumerate(header):
        filled = (body.iloc[:, j] != "").to_numpy()
        if not col:
            if not filled.any():
                continue
            if filled.mean() < 0.5:
                # a few rows spill past the header: an unquoted delimiter inside a value, most likely
                stray |= filled
                continue
            col = f"column_{j + 1}"
        if col in seen:
            seen[col] += 1
            col = f"{col}.{seen[col]}"
        else:
            seen[col] = 0
        names.append(col)
        keep.append(j)
    body = body.iloc[:, keep]
    body.columns = names
    blank = (body == "").all(axis=1).to_numpy() & ~stray
    if blank.any():
        logger.info("%s: ignored %d blank row(s)", name, int(blank.sum()))
        body = body.loc[~blank]
        rows = rows[~blank]
        stray = stray[~blank]
    return _Raw(body.reset_index(drop=True), rows, name, kind, header_row=h + 1,
                stray=stray if stray.any() else None, **extra)


def _read_text(path: Path, data: bytes, encoding: str | None) -> _Raw:
    name = path.name
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _fail("empty_file", "the file is empty: there is no header and no data.",
                    "文件为空：既没有表头也没有数据。", name)
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail("wrong_file_type", "this is a binary file, not a text table (CSV).",
                    "这是二进制文件，不是文本表格（CSV）。", name)
    text, enc = _decode(data, name, encoding)
    lines = text.splitlines()
    delim = _sniff_delimiter(lines)
    ncols = max((ln.count(delim) for ln in lines), default=0) + 1
    try:
        grid = pd.read_csv(
            io.StringIO(text), sep=delim, header=None, names=list(range(ncols)), dtype=str,
            keep_default_na=False, na_filter=False, skip_blank_lines=False, engine="c",
            quoting=csv.QUOTE_MINIMAL, index_col=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise _fail("unreadable", f"cannot parse the CSV ({exc}). Check quotes and delimiters.",
                    f"无法解析 CSV（{exc}），请检查引号和分隔符。", name) from None
    grid = grid.apply(lambda s: s.str.strip())
    return _grid_to_table(grid, name, "csv", encoding=enc, delimiter=delim)


def _read_excel(path: Path, sheet: str | int | None) -> _Raw:
    name = path.name
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise _fail("unreadable", f"cannot open the workbook ({type(exc).__name__}: {exc}).",
                    f"无法打开工作簿（{type(exc).__name__}：{exc}）。", name) from None
    with book:
        sheets = book.sheet_names
        if sheet is None:
            chosen: str | int = 0
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise _fail("sheet", f"there is no sheet number {sheet}; the sheets are: {', '.join(sheets)}.",
                            f"没有第 {sheet} 个工作表；现有工作表：{'、'.join(sheets)}。", name)
            chosen = sheet
        else:
            match = [s for s in sheets if s.strip() == str(sheet).strip()]
            if not match:
                raise _fail("sheet", f"there is no sheet named '{sheet}'; the sheets are: {', '.join(sheets)}.",
                            f"没有名为「{sheet}」的工作表；现有工作表：{'、'.join(sheets)}。", name)
            chosen = match[0]
        try:
            grid = pd.read_excel(book, sheet_name=chosen, header=None, dtype=object)
        except Exception as exc:  # a damaged sheet inside a readable workbook (zlib, XML, KeyError ...)
            raise _fail("unreadable", f"cannot read the sheet; the workbook may be damaged ({type(exc).__name__}: {exc}).",
                        f"无法读取工作表，工作簿可能已损坏（{type(exc).__name__}：{exc}）。", name) from None
    label = sheets[chosen] if isinstance(chosen, int) else chosen
    grid = _clean_cells(grid.astype(object))
    grid.columns = range(grid.shape[1])
    raw = _grid_to_table(grid, f"{name} [{label}]" if len(sheets) > 1 else name, "excel")
    return raw


def _layers(path: Path) -> list[str]:
    import pyogrio

    try:
        return [str(x) for x in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return []


def _read_geo(path: Path, layer: str | int | None) -> _Raw:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = _read_geo_file(path, layer)
    for w in caught:  # GDAL's remarks on odd files ("GPKG: bad application_id"): logged, not printed raw
        logger.warning("%s: %s", path.name, w.message)
    return raw


def _read_geo_file(path: Path, layer: str | int | None) -> _Raw:
    import pyogrio

    name = path.name
    layers = _layers(path)
    if layer is None and len(layers) > 1:
        raise _fail("layer", f"the file has {len(layers)} layers; choose one with layer=... (--layer on the command line): {', '.join(layers)}.",
                    f"文件中有 {len(layers)} 个图层，请用 layer=...（命令行 --layer）指定其一：{'、'.join(layers)}。", name)
    if layer is not None and isinstance(layer, str) and layers and layer not in layers:
        raise _fail("layer", f"there is no layer '{layer}'; the layers are: {', '.join(layers)}.",
                    f"没有名为「{layer}」的图层；现有图层：{'、'.join(layers)}。", name)
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise _fail("unreadable", f"cannot read this GIS file ({exc}).", f"无法读取该 GIS 文件（{exc}）。", name) from None
    except MemoryError:
        raise _fail("unreadable", "the GIS file is too large to read into memory; cut it to the study area.",
                    "该 GIS 文件过大，无法读入内存；请裁剪到研究范围。", name) from None
    except Exception as exc:  # pyogrio/GDAL raise other kinds on damaged files (IndexError, RuntimeError, ...)
        raise _fail("unreadable", f"cannot read this GIS file; it may be damaged or truncated ({type(exc).__name__}: {exc}).",
                    f"无法读取该 GIS 文件，可能已损坏或不完整（{type(exc).__name__}：{exc}）。", name) from None
    if len(gdf) == 0:
        raise _fail("no_rows", "the file has no features.", "文件中没有任何要素。", name)
    geom = gdf.geometry if "geometry" in gdf else None
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name) if geom is not None else gdf)
    attrs.columns = [unicodedata.normalize("NFKC", str(c)).strip() for c in attrs.columns]
    rows = np.arange(1, len(gdf) + 1, dtype="int64")  # feature number, 1-based
    label = f"{name} [{layer}]" if layer is not None and len(layers) > 1 else name
    return _Raw(_clean_cells(attrs).reset_index(drop=True), rows, label, "geo",
                geometry=geom.reset_index(drop=True) if geom is not None else None)


def _read_raw(path: str | Path, *, sheet=None, layer=None, encoding=None) -> _Raw:
    path = Path(path)
    name = path.name
    if not path.exists():
        raise _fail("not_found", f"file not found: {path}", f"找不到文件：{path}", name)
    if path.is_dir():
        raise _fail("wrong_file_type", "this is a folder, not a file.", "这是文件夹，不是文件。", name)
    if not path.is_file():  # a device (/dev/zero never ends), a pipe (never returns) or a socket
        raise _fail("wrong_file_type", "this is not a regular file (a device, pipe or socket); give a saved file.",
                    "这不是普通文件（设备、管道或套接字）；请提供已保存的文件。", name)
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise _fail("too_large", f"the file is {size / 1e9:.1f} GB, more than the {MAX_INPUT_BYTES / 1e9:.1f} GB a "
                    "table may have; cut it to the study area.",
                    f"文件大小 {size / 1e9:.1f} GB，超过表格上限 {MAX_INPUT_BYTES / 1e9:.1f} GB；请裁剪到研究范围。", name)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise _fail("unreadable", f"cannot open the file ({exc}).", f"无法打开文件（{exc}）。", name) from None
    if not head:
        raise _fail("empty_file", "the file is empty (0 bytes).", "文件为空（0 字节）。", name)
    kind = _sniff_kind(path, head)
    if kind == "excel":
        return _read_excel(path, sheet)
    if kind == "geo":
        return _read_geo(path, layer)
    return _read_text(path, path.read_bytes(), encoding)


def read_table(path: str | Path, *, sheet: str | int | None = None, layer: str | int | None = None,
               encoding: str | None = None) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile into a (Geo)DataFrame.

    Parameters
    ----------
    path : str or Path
        The file. The format is chosen by extension and checked against the content (a PNG
        renamed ``.csv`` is refused with a clear message).
    sheet : str or int, optional
        XLSX sheet name or 0-based number (default: the first sheet).
    layer : str or int, optional
        GeoPackage / multi-layer layer (required when there are several; the error lists them).
    encoding : str, optional
        CSV encoding; detected when omitted (UTF-8, UTF-8 with BOM, UTF-16, GBK/GB18030).

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Tables have every cell as a stripped string (``''`` when empty); blank rows are left
        out. GIS files keep their geometry and CRS. ``attrs['source_row']`` holds, per row,
        the row number as the user sees it in Excel (header = row 1, after any merged title
        rows) or the 1-based feature number; ``attrs['source_file']`` the file name.

    Raises
    ------
    InputError
        Empty file, wrong file type, unreadable encoding, unknown sheet/layer.
    """
    raw = _read_raw(path, sheet=sheet, layer=layer, encoding=encoding)
    out: pd.DataFrame
    if raw.geometry is not None:
        out = gpd.GeoDataFrame(raw.frame.copy(), geometry=raw.geometry.values, crs=raw.geometry.crs)
    else:
        out = raw.frame.copy()
    out.attrs = {"source_file": raw.file, "source_row": raw.rows.tolist(), "header_row": raw.header_row,
                 "encoding": raw.encoding, "delimiter": raw.delimiter}
    return out


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------
def _norm_header(text: str) -> str:
    s = unicodedata.normalize("NFKC", str(text)).lower().strip()
    s = re.sub(r"[(\[【{].*?[)\]】}]", "", s)
    return re.sub(r"[\s_\-.:：/]+", "", s)


def detect_columns(columns, fields=tuple(FIELD_ALIASES)) -> dict[str, str]:
    """Map field names (``lon``, ``lat``, ``name``, ``type``, ``id``, ``population``, ...) to columns.

    Matching ignores case, spaces, underscores, full-width characters and bracketed units, so
    ``" 经度(GCJ-02) "`` and ``Longitude`` both match ``lon``.

    Returns
    -------
    dict
        ``field -> column`` for the fields found (each column used once).
    """
    normed = [(c, _norm_header(c)) for c in columns]
    found: dict[str, str] = {}
    used: set[str] = set()
    for f in fields:
        for alias in FIELD_ALIASES.get(f, ()):
            hit = next((c for c, n in normed if n == alias and c not in used), None)
            if hit is not None:
                found[f] = hit
                used.add(hit)
                break
    for f in fields:
        if f in found:
            continue
        for pre in _PREFIX.get(f, ()):
            hit = next((c for c, n in normed if n.startswith(pre) and c not in used), None)
            if hit is not None:
                found[f] = hit
                used.add(hit)
                break
    return found


def _resolve_columns(raw: _Raw, columns: Mapping[str, str] | None, required: list[str],
                     optional: list[str], *, need_coords: bool) -> dict[str, str]:
    """Detected + explicit column mapping; raises InputError listing found columns if incomplete."""
    cols = list(raw.frame.columns)
    found = detect_columns(cols, tuple(required + optional + ["lon", "lat", "location"]))
    problems: list[Problem] = []
    listing = ", ".join(f"'{c}'" for c in cols) or "(none)"
    if columns:
        unknown_fields = set(columns) - set(FIELD_ALIASES)
        if unknown_fields:
            raise InputError(
                f"columns=: unknown field(s) {sorted(unknown_fields)}; use {sorted(FIELD_ALIASES)}.",
                f"columns=：未知字段 {sorted(unknown_fields)}；可用字段 {sorted(FIELD_ALIASES)}。",
            )
        by_norm = {_norm_header(c): c for c in cols}
        for f, col in columns.items():
            hit = col if col in cols else by_norm.get(_norm_header(col))
            if hit is None:
                problems.append(Problem(
                    "missing_column",
                    f"columns= names '{col}' for {f}, but the file has no such column. Columns found: {listing}.",
                    f"columns= 指定「{col}」作为{_FIELD_LABEL[f][1]}列，但文件中没有该列。现有列：{listing}。",
                    file=raw.file, column=col))
                continue
            for other in [k for k, v in found.items() if v == hit and k != f]:
                del found[other]
            found[f] = hit
    missing = [f for f in required if f not in found]
    if need_coords and raw.geometry is None and not ({"lon", "lat"} <= set(found) or "location" in found):
        missing += [f for f in ("lon", "lat") if f not in found]
    for f in missing:
        en, zh = _FIELD_LABEL[f]
        aliases = "/".join(FIELD_ALIASES[f][:5])
        problems.append(Problem(
            "missing_column",
            f"required {en} column not found. Columns found: {listing}. Name it e.g. {aliases}, "
            f"or pass columns={{'{f}': '<your column>'}} (--columns {f}=<your column> on the command line).",
            f"找不到必需的{zh}列。现有列：{listing}。请将列名改为 {aliases} 之一，"
            f"或用 columns={{'{f}': '<列名>'}}（命令行 --columns {f}=<列名>）指定。",
            file=raw.file, column=None))
    if problems:
        raise InputError(f"{raw.file}: required columns are missing or misnamed.",
                         f"{raw.file}：缺少必需的列或列名无法识别。", problems=problems)
    return found


# --------------------------------------------------------------------------------------------
# Vectorised cell parsing
# --------------------------------------------------------------------------------------------
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def _to_number(s: pd.Series, *, thousands: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse strings to float. Returns (values, empty_mask, bad_mask); values NaN where not valid."""
    s = s.astype(str)
    low = s.str.lower()
    empty = low.isin(_EMPTY_TOKENS).to_numpy()
    num = pd.to_numeric(s, errors="coerce")
    retry = num.isna().to_numpy() & ~empty
    if retry.any():
        t = s[retry].str.normalize("NFKC").str.replace(r"[\s°度]", "", regex=True)
        t = t.str.replace("。", ".", regex=False).str.replace("．", ".", regex=False)
        if thousands:
            t = t.where(~t.str.match(_THOUSANDS), t.str.replace(",", "", regex=False))
        t = t.where(~t.str.match(_DECIMAL_COMMA), t.str.replace(",", ".", regex=False))
        num = num.copy()
        num[retry] = pd.to_numeric(t, errors="coerce").to_numpy()
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(values) & ~empty
    values = np.where(np.isfinite(values), values, np.nan)
    return values, empty, bad


class _Issues:
    """Row problems collected as positions into the frame, turned into Problems at the end."""

    def __init__(self, raw: _Raw):
        self.raw = raw
        self.items: list[tuple[int, str | None, str, str, str]] = []  # pos, column, code, en, zh
        self.file_level: list[Problem] = []

    def add(self, mask: np.ndarray, column: str | None, code: str, en, zh) -> None:
        """Add one problem per True in ``mask``; ``en``/``zh`` are str or callables of position."""
        for pos in np.flatnonzero(mask):
            self.items.append((int(pos), column, code, en(pos) if callable(en) else en,
                               zh(pos) if callable(zh) else zh))

    def bad_positions(self) -> np.ndarray:
        return np.unique(np.array([i[0] for i in self.items], dtype="int64"))

    def problems(self) -> list[Problem]:
        rows = self.raw.rows
        items = sorted(self.items, key=lambda t: (t[0], t[2]))
        return [Problem(code, en, zh, file=self.raw.file, row=int(rows[pos]), column=col)
                for pos, col, code, en, zh in items]

    def rejected(self) -> pd.DataFrame:
        if not self.items:
            return _empty_rejected()
        items = sorted(self.items, key=lambda t: (t[0], t[2]))
        rows = self.raw.rows
        return pd.DataFrame({
            "row": pd.array([int(rows[i[0]]) for i in items], dtype="Int64"),
            "column": [i[1] for i in items], "code": [i[2] for i in items],
            "problem_en": [i[3] for i in items], "problem_zh": [i[4] for i in items],
        })


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _coordinates(raw: _Raw, found: dict[str, str], system: str, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    """Parse, range-check and convert coordinates to WGS-84; invalid rows get NaN and a problem."""
    f = raw.frame
    n = len(f)
    geographic = not system.startswith("EPSG:")
    if "lon" in found and "lat" in found:
        lon_col, lat_col = found["lon"], found["lat"]
        x, x_empty, x_bad = _to_number(f[lon_col])
        y, y_empty, y_bad = _to_number(f[lat_col])
    elif "location" in found:  # one "lng,lat" column, as in Amap API exports
        lon_col = lat_col = found["location"]
        parts = f[lon_col].str.normalize("NFKC").str.split(r"\s*[,;，\s]\s*", n=1, expand=True, regex=True)
        parts = parts.reindex(columns=[0, 1]).fillna("")
        x, x_empty, x_bad = _to_number(parts[0])
        y, y_empty, y_bad = _to_number(parts[1])
    else:  # geometry of a GIS file
        lon_col = lat_col = "geometry"
        g = raw.geometry
        arr = np.asarray(g.array, dtype=object)
        missing = shapely.is_missing(arr) | shapely.is_empty(arr)
        pts = np.where(missing, None, arr)
        notpoint = ~missing & (shapely.get_type_id(pts) != 0)
        if notpoint.any():
            pts[notpoint] = shapely.point_on_surface(pts[notpoint])
        x = np.where(missing, np.nan, shapely.get_x(pts))
        y = np.where(missing, np.nan, shapely.get_y(pts))
        x_empty = y_empty = missing
        x_bad = y_bad = np.zeros(n, bool)
        crs = g.crs
        if crs is not None and not crs.is_geographic and geographic:
            if system != "wgs84":
                raise _fail("coords", f"coords='{system}' was given but the file is in a projected CRS ({crs.to_string()}).",
                            f"指定了 coords='{system}'，但文件是投影坐标系（{crs.to_string()}）。", raw.file)
            system = crs.to_string()
            geographic = False
    issues.add(x_empty & (lon_col != "geometry"), lon_col, "empty_coordinate",
               "longitude is empty; fill it in or remove the row.", "经度为空；请填写或删除该行。")
    issues.add(y_empty & ~x_empty & (lat_col != "geometry"), lat_col, "empty_coordinate",
               "latitude is empty; fill it in or remove the row.", "纬度为空；请填写或删除该行。")
    issues.add(x_empty & (lon_col == "geometry"), "geometry", "empty_geometry",
               "the feature has no geometry.", "该要素没有几何图形。")
    text_x, text_y = f[lon_col] if lon_col in f else None, f[lat_col] if lat_col in f else None
    issues.add(x_bad, lon_col, "non_numeric_coordinate",
               lambda p: f"longitude '{text_x.iat[p]}' is not a number; write decimal degrees like 121.4312.",
               lambda p: f"经度「{text_x.iat[p]}」不是数字；请写成十进制度数，如 121.4312。")
    issues.add(y_bad, lat_col, "non_numeric_coordinate",
               lambda p: f"latitude '{text_y.iat[p]}' is not a number; write decimal degrees like 31.2204.",
               lambda p: f"纬度「{text_y.iat[p]}」不是数字；请写成十进制度数，如 31.2204。")
    ok = np.isfinite(x) & np.isfinite(y)
    if geographic:
        bad_lon = ok & (np.abs(x) > 180)
        bad_lat = ok & (np.abs(y) > 90)
        swapped_row = ok & (np.abs(y) > 90) & (np.abs(x) <= 90) & (np.abs(y) <= 180)
        n_ok = max(int(ok.sum()), 1)
        swapped_file = swapped_row.sum() >= 0.5 * n_ok and lon_col != lat_col
        if swapped_file:
            issues.file_level.append(Problem(
                "swapped_columns",
                f"the longitude and latitude columns look swapped ('{lon_col}' holds values like "
                f"{_fmt(float(np.nanmedian(x[ok])))}, '{lat_col}' like {_fmt(float(np.nanmedian(y[ok])))}). "
                f"Swap the headers, or pass columns={{'lon': '{lat_col}', 'lat': '{lon_col}'}} "
                f"(--columns lon={lat_col},lat={lon_col} on the command line).",
                f"经度列与纬度列似乎互换了（「{lon_col}」中是 {_fmt(float(np.nanmedian(x[ok])))} 这类值，"
                f"「{lat_col}」中是 {_fmt(float(np.nanmedian(y[ok])))}）。请交换表头，"
                f"或传入 columns={{'lon': '{lat_col}', 'lat': '{lon_col}'}}（命令行 --columns lon={lat_col},lat={lon_col}）。",
                file=raw.file, column=f"{lon_col}/{lat_col}"))
        hint_en = " The lon/lat columns look swapped." if swapped_file else ""
        hint_zh = "经纬度两列似乎互换了。" if swapped_file else ""
        if not swapped_file and (bad_lon | bad_lat).sum() >= 0.5 * n_ok and np.nanmedian(np.abs(x[ok])) > 1000:
            hint_en = (" These look like projected x/y in metres; pass the CRS, e.g. coords='EPSG:32651' "
                       "(UTM 51N, Shanghai).")
            hint_zh = "这些值像是以米为单位的投影坐标；请指定坐标系，如 coords='EPSG:32651'（UTM 51N，上海）。"
        row_en = " The longitude and latitude look swapped in this row."
        row_zh = "该行的经度与纬度似乎填反了。"

        def h_en(p):
            return hint_en or (row_en if swapped_row[p] else "")

        def h_zh(p):
            return hint_zh or (row_zh if swapped_row[p] else "")

        issues.add(bad_lon, lon_col, "out_of_range",
                   lambda p: f"longitude {_fmt(x[p])} is out of range (-180 to 180).{h_en(p)}",
                   lambda p: f"经度 {_fmt(x[p])} 超出范围（-180 至 180）。{h_zh(p)}")
        issues.add(bad_lat, lat_col, "out_of_range",
                   lambda p: f"latitude {_fmt(y[p])} is out of range (-90 to 90).{h_en(p)}",
                   lambda p: f"纬度 {_fmt(y[p])} 超出范围（-90 至 90）。{h_zh(p)}")
        ok &= ~bad_lon & ~bad_lat
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if ok.any():
        lon[ok], lat[ok] = _coords.to_wgs84(x[ok], y[ok], system)
        if not geographic:
            bad = ok & ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
            issues.add(bad, lon_col, "out_of_range",
                       lambda p: f"x={_fmt(x[p])}, y={_fmt(y[p])} is not a valid position in {system}.",
                       lambda p: f"x={_fmt(x[p])}，y={_fmt(y[p])} 在 {system} 中不是有效位置。")
            lon[bad] = lat[bad] = np.nan
    return lon, lat


def _study_area_check(raw: _Raw, lon: np.ndarray, lat: np.ndarray, study_area, buffer_m: float,
                      system: str, issues: _Issues, x_src=None, y_src=None) -> list[Problem]:
    """Report points outside ``study_area`` with their distance; return the GCJ-02/BD-09 hint, if any."""
    from pyproj import Transformer

    if study_area is None:
        return []
    area = study_area
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        area = area.to_crs(4326).union_all() if area.crs is not None else area.union_all()
    if not isinstance(area, shapely.Geometry) or area.is_empty:
        raise InputError("study_area must be a non-empty shapely polygon in WGS-84 (EPSG:4326).",
                         "study_area 须为非空的 shapely 多边形（WGS-84，EPSG:4326）。")
    c = area.representative_point()
    tr = Transformer.from_crs("EPSG:4326", _coords.utm_crs(c.x, c.y), always_xy=True)
    area_m = shapely.transform(area, lambda a: np.column_stack(tr.transform(a[:, 0], a[:, 1])))
    area_0 = area_m
    if buffer_m:
        area_m = area_m.buffer(buffer_m)
    shapely.prepare(area_m)

    def outside(lo, la):
        ok = np.isfinite(lo) & np.isfinite(la)
        out = np.zeros(len(lo), bool)
        if ok.any():
            xm, ym = tr.transform(lo[ok], la[ok])
            out[ok] = ~shapely.contains_xy(area_m, xm, ym)
        return out, ok

    out, ok = outside(lon, lat)
    dist = np.full(len(lon), np.nan)
    if out.any():
        xm, ym = tr.transform(lon[out], lat[out])
        dist[out] = shapely.distance(area_m, shapely.points(xm, ym))
        # the message gives the distance from the study area itself, not from its tolerance margin
        dist0 = np.full(len(lon), np.nan)
        dist0[out] = shapely.distance(area_0, shapely.points(xm, ym))
        margin_en = f" (points up to {buffer_m:.0f} m outside are accepted)" if buffer_m else ""
        margin_zh = f"（允许超出 {buffer_m:.0f} 米以内）" if buffer_m else ""
        issues.add(out, None, "outside_study_area",
                   lambda p: f"the point ({_fmt(lon[p])}, {_fmt(lat[p])}) is {dist0[p]:.0f} m outside the study area{margin_en}; "
                             "check its coordinates (and the coordinate system) or remove the row.",
                   lambda p: f"该点（{_fmt(lon[p])}, {_fmt(lat[p])}）位于研究范围之外 {dist0[p]:.0f} 米{margin_zh}；请核对坐标（及坐标系）或删除该行。")
    hints: list[Problem] = []
    n_out = int(out.sum())
    n_ok = int(ok.sum())
    if system == "wgs84" and n_out:
        # Many points outside: strong evidence. A few just outside (within the offset): a softer hint,
        # because a district-sized study area leaves most shifted points inside.
        strong = n_out >= max(1, 0.2 * n_ok)
        best = None
        # typical offsets in China: GCJ-02 100-900 m from WGS-84, BD-09 a further ~0.5-1 km
        for alt, conv, label, lo_m, hi_m in (("gcj02", _coords.gcj02_to_wgs84, "GCJ-02 (Amap/Tencent)", 100, 900),
                                             ("bd09", _coords.bd09_to_wgs84, "BD-09 (Baidu)", 300, 2000)):
            if not strong and np.nanmax(dist[out]) > hi_m:
                continue
            alo, ala = conv(lon[ok], lat[ok])
            shift = float(np.median(_coords.haversine_m(lon[ok], lat[ok], alo, ala)))
            full_lo, full_la = lon.copy(), lat.copy()
            full_lo[ok], full_la[ok] = alo, ala
            alt_out, _ = outside(full_lo, full_la)
            new_out = int((alt_out & ~out).sum())
            gain = n_out - int(alt_out.sum())
            if gain >= max(1, 0.5 * n_out) and new_out <= 0.1 * n_out and lo_m <= shift <= hi_m:
                if best is None or gain > best[0]:
                    best = (gain, alt, label, shift, int(alt_out.sum()))
        if best is not None:
            gain, alt, label, shift_m, left = best
            head_en = (f"{n_out} of {n_ok} points fall outside the study area; read as {label} coordinates "
                       f"(a shift of about {shift_m:.0f} m) {n_out - left} of them move inside.")
            head_zh = (f"{n_ok} 个点中有 {n_out} 个位于研究范围之外；若按 {label} 坐标读取（偏移约 {shift_m:.0f} 米），"
                       f"其中 {n_out - left} 个会回到范围内。")
            if strong:
                tail_en = f" These look like {label} coordinates; load with coords='{alt}'."
                tail_zh = f"这些坐标像是 {label} 坐标，请用 coords='{alt}' 读取。"
            else:
                tail_en = f" If the file comes from {label.split('(')[1][:-1]}, load it with coords='{alt}'."
                tail_zh = f"如果文件来自{'高德/腾讯' if alt == 'gcj02' else '百度'}地图，请用 coords='{alt}' 读取。"
            hints.append(Problem("coords_hint", head_en + tail_en, head_zh + tail_zh, file=raw.file))
    return hints


def _duplicates(raw: _Raw, ids: pd.Series | None, id_col: str | None, issues: _Issues) -> None:
    f = raw.frame
    rows = raw.rows
    if len(f) == 0:
        return
    h = pd.util.hash_pandas_object(f, index=False)
    dup = h.duplicated(keep="first").to_numpy()
    if dup.any():
        first = h.groupby(h, sort=False).transform(lambda s: s.index[0]).to_numpy()
        issues.add(dup, None, "duplicate_row",
                   lambda p: f"this row repeats row {rows[first[p]]} exactly; delete one of them.",
                   lambda p: f"该行与第 {rows[first[p]]} 行完全相同；请删除其中一行。")
    if ids is not None and id_col is not None:
        present = ids != ""
        dup_id = (ids.duplicated(keep="first") & present).to_numpy() & ~dup
        if dup_id.any():
            first_pos = pd.Series(np.arange(len(ids)), index=ids.index).groupby(ids.to_numpy(), sort=False).transform("first").to_numpy()
            issues.add(dup_id, id_col, "duplicate_id",
                       lambda p: f"id '{ids.iat[p]}' is also used by row {rows[first_pos[p]]}; ids must be unique.",
                       lambda p: f"编号「{ids.iat[p]}」与第 {rows[first_pos[p]]} 行重复；编号必须唯一。")


def _report_stray(raw: _Raw, issues: _Issues) -> None:
    if raw.stray is not None:
        issues.add(raw.stray, None, "extra_cells",
                   "this row has more cells than the header, so its values may have shifted (a comma or delimiter "
                   "inside a value?). Put such values in quotes or remove the extra cells.",
                   "该行的单元格比表头多，数值可能错位（值中含有逗号或分隔符？）。请给该值加引号，或删除多余的单元格。")


def _finish(raw: _Raw, issues: _Issues, hints: list[Problem], skip_invalid: bool, what: tuple[str, str]) -> np.ndarray:
    """Raise with every problem, or (skip_invalid) return the mask of rows to keep."""
    n = len(raw.frame)
    if issues.file_level:  # e.g. swapped columns: every row is affected, so skipping rows cannot help
        problems = hints + issues.file_level + issues.problems()
        raise InputError(
            f"{raw.file}: the {what[0]} file cannot be used as it is ({len(problems)} problem(s)); nothing was loaded.",
            f"{raw.file}：{what[1]}文件无法直接使用（{len(problems)} 处问题），未载入任何数据。",
            problems=problems,
        )
    bad = issues.bad_positions()
    keep = np.ones(n, bool)
    keep[bad] = False
    if len(bad) and not skip_invalid:
        problems = hints + issues.problems()
        raise InputError(
            f"{raw.file}: {len(bad)} of {n} row(s) have problems; nothing was loaded. Fix them, or load only the "
            "valid rows and get the others back as a report: tick 'Skip invalid rows' in the app, "
            "--skip-invalid on the command line.",
            f"{raw.file}：{n} 行中有 {len(bad)} 行存在问题，未载入任何数据。请修正后重试，"
            "或只载入有效行并取回被拒绝行的报告：应用中勾选“跳过有误的行”，命令行使用 --skip-invalid。",
            problems=problems,
        )
    if len(bad):
        logger.warning("%s: skipped %d invalid row(s) of %d; see the rejected table", raw.file, len(bad), n)
    if not keep.any():
        problems = hints + issues.problems()
        raise InputError(f"{raw.file}: no valid rows left to load.", f"{raw.file}：没有可载入的有效行。",
                         problems=problems)
    return keep


def _no_rows(raw: _Raw) -> None:
    if len(raw.frame) == 0:
        raise _fail("no_rows", "the file has a header but no data rows.", "文件只有表头，没有数据行。", raw.file)


def _ids(raw: _Raw, found: dict[str, str], issues: _Issues) -> pd.Series:
    if "id" in found:
        ids = raw.frame[found["id"]].astype(str)
        ids = ids.str.replace(r"\.0$", "", regex=True)  # Excel integers read as floats
        issues.add((ids == "").to_numpy(), found["id"], "empty_id",
                   "id is empty; fill it in (or remove the id column to number rows automatically).",
                   "编号为空；请填写（或删除编号列以自动编号）。")
        return ids
    return pd.Series([f"row{r}" for r in raw.rows], index=raw.frame.index, dtype=object)


def _extras(raw: _Raw, found: dict[str, str], reserved: set[str]) -> pd.DataFrame:
    used = set(found.values())
    keep = {}
    for c in raw.frame.columns:
        if c in used:
            continue
        target = "address" if found.get("address") == c else c
        if target in reserved:
            continue
        keep[target] = raw.frame[c]
    if "address" in found:
        keep["address"] = raw.frame[found["address"]]
    return pd.DataFrame(keep, index=raw.frame.index)


def _system(coords: str) -> str:
    return _coords.normalise_system(coords)


# --------------------------------------------------------------------------------------------
# Facilities
# --------------------------------------------------------------------------------------------
def _buffer_m(value) -> float:
    from . import _validate as V

    return V.number(value, name="study_area_buffer_m", flag="--outside-tolerance-m", unit_en="(metres)", unit_zh="米",
                    minimum=0.0, maximum=V.MAX_DISTANCE_M)


def read_facilities(
    path: str | Path,
    *,
    types: FacilityTypes | None = None,
    coords: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    default_type: str | None = None,
    skip_invalid: bool = False,
    study_area=None,
    study_area_buffer_m: float = 0.0,
    sheet: str | int | None = None,
    layer: str | int | None = None,
    encoding: str | None = None,
) -> FacilityTable:
    """Read and validate a facility list (CSV, XLSX, GeoJSON, GeoPackage, zipped Shapefile).

    Parameters
    ----------
    path : str or Path
        The file.
    types : FacilityTypes, optional
        Facility types whose keys, labels and aliases the ``type`` column may use (default:
        :func:`planner.config.default_types`).
    coords : str
        The coordinate system of the file: ``"wgs84"`` (GPS, OpenStreetMap), ``"gcj02"`` (Amap,
        Tencent), ``"bd09"`` (Baidu) or ``"EPSG:nnnn"`` (x/y columns in that CRS). For GIS files
        with a projected CRS the file's CRS is used.
    columns : mapping, optional
        Explicit ``field -> column`` mapping (fields: lon, lat, location, name, type, id,
        address) that overrides detection, e.g. ``{"lon": "经度", "lat": "纬度"}``.
    default_type : str, optional
        Type for a file without a type column (or for empty type cells), e.g. ``"aed"``.
    skip_invalid : bool
        False (default): refuse the file with every problem listed. True: load the valid rows
        and return the others in ``rejected`` (logged as a count).
    study_area : shapely geometry or GeoDataFrame, optional
        WGS-84 polygon(s); points outside are problems (with their distance in metres), and a
        hint is added when the points look like GCJ-02/BD-09 read as WGS-84.
    study_area_buffer_m : float
        Tolerance around the study area in metres (e.g. to accept facilities just across the
        boundary that still serve residents inside).
    sheet, layer, encoding :
        See :func:`read_table`.

    Returns
    -------
    FacilityTable

    Raises
    ------
    InputError
        With every problem (file, row as seen in Excel, column, English and Chinese text).
    """
    system = _system(coords)
    study_area_buffer_m = _buffer_m(study_area_buffer_m)
    types = types if types is not None else default_types()
    if default_type is not None and types.resolve(default_type) is None:
        types.get_type(default_type)  # raises with the list of known types
    raw = _read_raw(path, sheet=sheet, layer=layer, encoding=encoding)
    _no_rows(raw)
    # with default_type the type column is optional, but still read when present (it fills only empty cells)
    found = _resolve_columns(raw, columns, [] if default_type else ["type"],
                             ["name", "id", "address"] + (["type"] if default_type else []), need_coords=True)
    issues = _Issues(raw)
    _report_stray(raw, issues)
    f = raw.frame
    lon, lat = _coordinates(raw, found, system, issues)
    # types: resolve the few distinct labels, not every row
    if "type" in found:
        col = found["type"]
        labels = f[col]
        uniq = pd.unique(labels)
        lookup = {u: (types.resolve(u) if u != "" else None) for u in uniq}
        tkeys = labels.map(lookup)
        empty = (labels == "").to_numpy()
        if default_type is not None:
            tkeys = tkeys.where(~empty, types.resolve(default_type))
        else:
            issues.add(empty, col, "empty_type", "type is empty; fill it in or pass default_type=...",
                       "类型为空；请填写，或使用 default_type=... 指定默认类型。")
        unknown = tkeys.isna().to_numpy() & ~empty
        if unknown.any():
            known = ", ".join(f"{t.key} ({t.label_zh})" for t in types.values())
            issues.add(unknown, col, "unknown_type",
                       lambda p: f"unknown facility type '{labels.iat[p]}'. Known types: {known}. "
                                 "Use one of them or add the label as an alias in facility_types.toml.",
                       lambda p: f"未知的设施类型「{labels.iat[p]}」。已知类型：{known}。"
                                 "请改用其中之一，或在 facility_types.toml 中添加别名。")
    else:
        tkeys = pd.Series(types.resolve(default_type), index=f.index, dtype=object)
    ids = _ids(raw, found, issues)
    _duplicates(raw, ids if "id" in found else None, found.get("id"), issues)
    hints = _study_area_check(raw, lon, lat, study_area, study_area_buffer_m, system, issues)
    if raw.geometry is not None:
        gt = raw.geometry.geom_type
        not_point = gt.notna() & ~gt.isin(["Point"])
        if not_point.any():
            hints.append(Problem(
                "not_points",
                f"{int(not_point.sum())} features are {', '.join(sorted(set(gt[not_point])))}, not points: each facility "
                "is placed at a point inside its shape. If the file is an area layer (demand, boundaries), load it as that instead.",
                f"{int(not_point.sum())} 个要素为面/线（{', '.join(sorted(set(gt[not_point])))}）而非点：每个设施取其图形内的一点。"
                "若该文件是区域图层（需求、边界），请按相应类型载入。",
                file=raw.file,
            ))
    keep = _finish(raw, issues, hints, skip_invalid, ("facility", "设施"))
    names = f[found["name"]] if "name" in found else ids
    names = names.where(names != "", ids)
    out = pd.DataFrame({
        "id": ids.astype(str), "name": names.astype(str), "type": tkeys.astype(object),
        "lon": lon, "lat": lat, "source_file": raw.file, "source_row": raw.rows, "coords": system,
    }, index=f.index)
    extra = _extras(raw, found, set(out.columns) | {"geometry"})
    out = pd.concat([out, extra], axis=1).loc[keep]
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs="EPSG:4326")
    gdf.index.name = None
    logger.info("%s: loaded %d facilities (%s coordinates)", raw.file, len(gdf), system)
    return FacilityTable(gdf, issues.rejected() if skip_invalid else _empty_rejected(), tuple(hints))


# --------------------------------------------------------------------------------------------
# Demand
# --------------------------------------------------------------------------------------------
def _convert_geometry(geom: gpd.GeoSeries, system: str) -> gpd.GeoSeries:
    """Polygons/points from a GIS file to EPSG:4326, applying GCJ-02/BD-09 conversion to vertices."""
    if system.startswith("EPSG:") or (geom.crs is not None and not geom.crs.is_geographic):
        src = geom if geom.crs is not None else geom.set_crs(system)
        return src.to_crs(4326)
    src = geom.set_crs(4326, allow_override=True) if geom.crs is None else geom.to_crs(4326)
    if system == "wgs84":
        return src

    def conv(a: np.ndarray) -> np.ndarray:
        return np.column_stack(_coords.to_wgs84(a[:, 0], a[:, 1], system))

    return gpd.GeoSeries(shapely.transform(src.values, conv), index=src.index, crs=4326)


def read_demand(
    path: str | Path,
    *,
    coords: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
    study_area=None,
    study_area_buffer_m: float = 0.0,
    sheet: str | int | None = None,
    layer: str | int | None = None,
    encoding: str | None = None,
    allow_large_population: bool = False,
) -> DemandTable:
    """Read and validate demand: points (lon/lat columns) or polygons (GIS file) with a population.

    Parameters
    ----------
    path : str or Path
        CSV/XLSX with lon/lat and population columns, or a GIS file of points or polygons with
        a population attribute.
    coords, columns, skip_invalid, study_area, study_area_buffer_m, sheet, layer, encoding :
        As in :func:`read_facilities` (``columns`` fields: lon, lat, location, id, population, name).
    allow_large_population : bool
        Accept rows above :data:`planner.demand.MAX_ROW_POPULATION` residents and totals above
        :data:`planner.demand.MAX_TOTAL_POPULATION` (the ``--allow-large-population`` switch).
        Values a float sum cannot hold exactly (above 1e15) are refused either way.

    Returns
    -------
    DemandTable
        ``population`` is float >= 0 (persons). Polygon rows keep their polygon (EPSG:4326);
        the study-area check uses their representative point.
    """
    from .demand import population_limits

    system = _system(coords)
    study_area_buffer_m = _buffer_m(study_area_buffer_m)
    raw = _read_raw(path, sheet=sheet, layer=layer, encoding=encoding)
    _no_rows(raw)
    found = _resolve_columns(raw, columns, ["population"], ["id", "name", "address"], need_coords=True)
    issues = _Issues(raw)
    _report_stray(raw, issues)
    f = raw.frame
    polygons = None
    if raw.geometry is not None and not ({"lon", "lat"} <= set(found) or "location" in found):
        gt = raw.geometry.geom_type
        if gt.isin(["Polygon", "MultiPolygon"]).any():
            missing = (raw.geometry.isna() | raw.geometry.is_empty).to_numpy()
            issues.add(missing, "geometry", "empty_geometry", "the feature has no geometry.", "该要素没有几何图形。")
            polygons = _convert_geometry(raw.geometry, system)
            invalid = ~missing & ~polygons.is_valid.to_numpy()
            if invalid.any():
                logger.warning("%s: repaired %d invalid polygon(s) with make_valid", raw.file, int(invalid.sum()))
                polygons = polygons.copy()
                polygons[invalid] = shapely.make_valid(polygons[invalid].values)
            rep = polygons.where(~missing, None)
            pts = rep[~missing].representative_point()
            lon = np.full(len(f), np.nan)
            lat = np.full(len(f), np.nan)
            lon[~missing], lat[~missing] = pts.x.to_numpy(), pts.y.to_numpy()
    if polygons is None:
        lon, lat = _coordinates(raw, found, system, issues)
    pcol = found["population"]
    pop, p_empty, p_bad = _to_number(f[pcol], thousands=True)
    ptext = f[pcol]
    issues.add(p_empty, pcol, "empty_population", "population is empty; write 0 if nobody lives there.",
               "人口为空；如无人居住请填 0。")
    issues.add(p_bad, pcol, "non_numeric_population",
               lambda p: f"population '{ptext.iat[p]}' is not a number.", lambda p: f"人口「{ptext.iat[p]}」不是数字。")
    neg = np.isfinite(pop) & (pop < 0)
    issues.add(neg, pcol, "negative_population", lambda p: f"population {_fmt(pop[p])} is negative.",
               lambda p: f"人口 {_fmt(pop[p])} 为负数。")
    row_max, total_max = population_limits(allow_large_population)
    huge = np.isfinite(pop) & (pop > row_max)
    how_en, how_zh = (("", "") if allow_large_population else
                      (" If the file really counts this many people in one row, use --allow-large-population "
                       "(allow_large_population=True).",
                       "如确为单行的真实人口，请使用 --allow-large-population（allow_large_population=True）。"))
    issues.add(huge, pcol, "implausible_population",
               lambda p: f"population {pop[p]:.4g} is more than {row_max:.0e} residents in one row; "
                         f"check the column and the units.{how_en}",
               lambda p: f"人口 {pop[p]:.4g} 在一行中超过 {row_max:.0e} 人；请检查该列及单位。{how_zh}")
    ok_pop = np.isfinite(pop) & ~neg & ~huge
    total = float(np.sum(pop[ok_pop] / total_max)) * total_max if ok_pop.any() else 0.0
    if total > total_max:
        issues.file_level.append(Problem(
            "implausible_population",
            f"the population adds up to {total:.4g}, more than {total_max:.0e}; check the column and the units.{how_en}",
            f"人口合计 {total:.4g}，超过 {total_max:.0e}；请检查该列及单位。{how_zh}",
            file=raw.file, column=pcol))
    ids = _ids(raw, found, issues)
    _duplicates(raw, ids if "id" in found else None, found.get("id"), issues)
    hints = _study_area_check(raw, lon, lat, study_area, study_area_buffer_m, system, issues)
    keep = _finish(raw, issues, hints, skip_invalid, ("demand", "需求"))
    out = pd.DataFrame({
        "id": ids.astype(str), "population": pop, "lon": lon, "lat": lat,
        "source_file": raw.file, "source_row": raw.rows, "coords": system,
    }, index=f.index)
    if "name" in found:
        out.insert(1, "name", f[found["name"]])
    extra = _extras(raw, found, set(out.columns) | {"geometry"})
    out = pd.concat([out, extra], axis=1).loc[keep]
    geometry = polygons.loc[keep].values if polygons is not None else gpd.points_from_xy(out["lon"], out["lat"])
    gdf = gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")
    logger.info("%s: loaded %d demand rows, %.0f persons", raw.file, len(gdf), float(gdf["population"].sum()))
    return DemandTable(gdf, issues.rejected() if skip_invalid else _empty_rejected(), tuple(hints))


# --------------------------------------------------------------------------------------------
# Boundaries and dasymetric spread
# --------------------------------------------------------------------------------------------
_NAME_COLUMNS = ("name", "名称", "official_control_name_2023", "osm_name", "name_zh", "name:zh", "街道", "乡镇",
                 "subdistrict", "district", "区", "区县", "NAME", "shapeName")
_CODE_COLUMNS = ("official_control_code_2023", "area_id", "code", "编码", "代码", "区划代码", "adcode", "area_code",
                 "source_shape_id", "id", "shapeID")


def read_boundaries(path: str | Path, *, name_column: str | None = None, code_column: str | None = None,
                    layer: str | int | None = None, coords: str = "wgs84", zones: bool = False) -> gpd.GeoDataFrame:
    """Read district/subdistrict polygons.

    Parameters
    ----------
    path : str or Path
        GeoJSON, GeoPackage or zipped Shapefile of polygons.
    name_column, code_column : str, optional
        Columns holding the area name and code; detected when omitted (name: ``name``,
        ``名称``, ``official_control_name_2023``, ``osm_name``, ``district``...; code:
        ``official_control_code_2023``, ``code``, ``adcode``...).
    layer : str or int, optional
        Layer of a multi-layer file.
    coords : str
        The coordinate system of a file in geographic coordinates (``wgs84``, ``gcj02``, ``bd09``);
        a file with a projected CRS uses its own.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, columns ``area_id`` (str; the code, or the name when there is no code
        column), ``name`` (str), ``geometry``, plus the file's other attributes. Invalid
        geometries are repaired with ``shapely.make_valid`` and listed in
        ``attrs['warnings']`` (tuple of Problem) and the log.

    ``zones=True`` reads polygons that need no name (exclusion zones: water, parks, military land):
    without a name or code column each polygon is named by its feature number, and names may repeat.
    """
    raw = _read_raw(path, layer=layer)
    if raw.geometry is None:
        raise _fail("wrong_file_type", "boundaries need polygons: use GeoJSON, GeoPackage or a zipped Shapefile.",
                    "边界须为多边形：请使用 GeoJSON、GeoPackage 或 Shapefile（zip）。", raw.file)
    f = raw.frame
    cols = list(f.columns)
    problems: list[Problem] = []

    def pick(explicit, candidates, what_en, what_zh):
        if explicit is not None:
            if explicit not in cols:
                problems.append(Problem("missing_column", f"there is no {what_en} column '{explicit}'. Columns found: {cols}.",
                                        f"没有{what_zh}列「{explicit}」。现有列：{cols}。", file=raw.file, column=explicit))
            return explicit
        lower = {c.lower(): c for c in cols}
        return next((lower[c.lower()] for c in candidates if c.lower() in lower), None)

    name_col = pick(name_column, _NAME_COLUMNS, "name", "名称")
    code_col = pick(code_column, _CODE_COLUMNS, "code", "代码")
    if name_col is None and code_col is None and not zones:
        problems.append(Problem("missing_column", f"no name or code column found. Columns found: {cols}. "
                                "Pass name_column=... or code_column=...",
                                f"找不到名称或代码列。现有列：{cols}。请用 name_column=... 或 code_column=... 指定。",
                                file=raw.file))
    geom = raw.geometry
    if geom.crs is None:
        logger.warning("%s has no CRS; assuming WGS-84 (EPSG:4326)", raw.file)
        geom = geom.set_crs(4326)
    geom = _convert_geometry(geom, _system(coords))
    missing = (geom.isna() | geom.is_empty).to_numpy()
    for pos in np.flatnonzero(missing):
        problems.append(Problem("empty_geometry", "the feature has no geometry.", "该要素没有几何图形。",
                                file=raw.file, row=int(raw.rows[pos]), column="geometry"))
    polygonal = geom.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    for pos in np.flatnonzero(~missing & ~polygonal):
        problems.append(Problem("not_polygon", f"the geometry is a {geom.iat[pos].geom_type}, not a polygon.",
                                f"几何类型为 {geom.iat[pos].geom_type}，不是多边形。",
                                file=raw.file, row=int(raw.rows[pos]), column="geometry"))
    names = f[name_col].astype(str) if name_col in f else None
    codes = f[code_col].astype(str).str.replace(r"\.0$", "", regex=True) if code_col in f else None
    area_id = codes if codes is not None else names
    if zones:
        numbers = pd.Series([str(r) for r in raw.rows], index=f.index)
        area_id = numbers if area_id is None else area_id.where(area_id != "", numbers)
        names = area_id if names is None else names
    if area_id is not None and not problems and not zones:
        empty = (area_id == "").to_numpy()
        dup = area_id.duplicated(keep=False).to_numpy() & ~empty
        col = code_col if codes is not None else name_col
        for pos in np.flatnonzero(empty | dup):
            what = "is empty" if empty[pos] else f"'{area_id.iat[pos]}' is not unique"
            what_zh = "为空" if empty[pos] else f"「{area_id.iat[pos]}」不唯一"
            problems.append(Problem("area_id", f"area id {what}; pass another code_column= or fix the file.",
                                    f"区域编号{what_zh}；请改用其他 code_column=，或修正文件。",
                                    file=raw.file, row=int(raw.rows[pos]), column=col))
    if problems:
        raise InputError(f"{raw.file}: the boundary file cannot be used as it is.", f"{raw.file}：边界文件无法直接使用。",
                         problems=problems)
    warnings: list[Problem] = []
    invalid = ~geom.is_valid.to_numpy()
    if invalid.any():
        geom = geom.copy()
        fixed = shapely.make_valid(geom[invalid].values)
        # make_valid may return a collection; keep its polygonal parts
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        geom[invalid] = fixed
        for pos in np.flatnonzero(invalid):
            warnings.append(Problem("repaired_geometry", "invalid polygon (e.g. self-intersection) was repaired.",
                                    "无效多边形（如自相交）已自动修复。", file=raw.file, row=int(raw.rows[pos]),
                                    column="geometry"))
        logger.warning("%s: repaired %d invalid polygon(s)", raw.file, int(invalid.sum()))
    out = pd.DataFrame({"area_id": area_id.to_numpy(), "name": (names if names is not None else area_id).to_numpy()})
    rest = f.drop(columns=[c for c in (name_col, code_col) if c is not None and c in f]).reset_index(drop=True)
    rest = rest.drop(columns=[c for c in rest.columns if c in ("area_id", "name", "geometry")])
    gdf = gpd.GeoDataFrame(pd.concat([out, rest], axis=1), geometry=geom.values, crs="EPSG:4326")
    gdf.attrs["warnings"] = tuple(warnings)
    return gdf


def _polygonal(g):
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else g


def spread_population(areas: gpd.GeoDataFrame, population: pd.DataFrame, weights: gpd.GeoDataFrame, *,
                      area_key: str = "area_id", pop_column: str = "population") -> gpd.GeoDataFrame:
    """Spread per-area population over weighted points (dasymetric), preserving each area's total.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Area polygons, e.g. from :func:`read_boundaries` (any CRS; ``area_key`` and ``name``
        columns).
    population : pandas.DataFrame
        One row per area: a key column (area code or name, matched to ``areas[area_key]`` or
        ``areas['name']``; the column with most matches is used) and ``pop_column`` (persons).
    weights : geopandas.GeoDataFrame
        Points (or polygons, used through their representative point) with a ``weight``
        column, e.g. residential floor area in m² or street length in m; any CRS.
    area_key, pop_column : str
        Column names.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``area_id``, ``weight``, ``population`` (persons) and ``method``
        (``"weight"`` or ``"representative_point"``). For every area the sum of ``population``
        equals the table's figure (to floating-point rounding). An area with population but no
        weight inside gets one point at its representative point (listed in
        ``attrs['warnings']``). Inputs are not modified.

    Raises
    ------
    InputError
        Rows of the population table that match no area, duplicated areas, or bad numbers
        (each named by row as seen in Excel).
    """
    if area_key not in areas.columns:
        raise InputError(f"areas has no '{area_key}' column (columns: {list(areas.columns)}).",
                         f"areas 中没有「{area_key}」列（现有列：{list(areas.columns)}）。")
    if pop_column not in population.columns:
        raise InputError(f"the population table has no '{pop_column}' column (columns: {list(population.columns)}).",
                         f"人口表中没有「{pop_column}」列（现有列：{list(population.columns)}）。")
    if "weight" not in weights.columns:
        raise InputError("weights needs a 'weight' column (e.g. residential floor area in m²).",
                         "weights 须含 'weight' 列（如住宅建筑面积，平方米）。")
    if weights.crs is None or areas.crs is None:
        raise InputError("areas and weights must have a CRS; set it with .set_crs(...) if you know it.",
                         "areas 与 weights 须有坐标参考系；如已知请用 .set_crs(...) 设置。")
    fname = population.attrs.get("source_file", "population table")
    src_rows = population.attrs.get("source_row")
    rows = np.asarray(src_rows if src_rows is not None and len(src_rows) == len(population)
                      else np.arange(2, len(population) + 2))

    def norm(s: pd.Series) -> pd.Series:
        return s.astype(str).str.normalize("NFKC").str.strip().str.replace(r"\.0$", "", regex=True)

    keys = {"id": norm(areas[area_key])}
    if "name" in areas.columns:
        keys["name"] = norm(areas["name"])
    best = None
    for col in [c for c in population.columns if c != pop_column]:
        vals = norm(population[col])
        for kind, k in keys.items():
            hits = int(vals.isin(set(k)).sum())
            if best is None or hits > best[0]:
                best = (hits, col, kind)
    if best is None or best[0] == 0:
        raise InputError(f"{fname}: no column matches the area codes or names of the boundaries.",
                         f"{fname}：没有任何列能与边界的区域代码或名称对应。")
    _, key_col, kind = best
    key_vals = norm(population[key_col])
    lookup = pd.Series(areas[area_key].astype(str).to_numpy(), index=keys[kind].to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    matched = key_vals.map(lookup)
    pop, p_empty, p_bad = _to_number(population[pop_column].astype(str), thousands=True)
    problems: list[Problem] = []
    known = "、".join(keys[kind].head(12).tolist())
    for pos in range(len(population)):
        r = int(rows[pos])
        if pd.isna(matched.iat[pos]):
            problems.append(Problem("unmatched_area", f"'{key_vals.iat[pos]}' matches no area in the boundaries "
                                    f"(e.g. {known}).", f"「{key_vals.iat[pos]}」与边界中的任何区域都不对应（例如：{known}）。",
                                    file=fname, row=r, column=key_col))
        if p_empty[pos] or p_bad[pos] or (np.isfinite(pop[pos]) and pop[pos] < 0):
            problems.append(Problem("bad_population", f"population '{population[pop_column].iat[pos]}' must be a number >= 0.",
                                    f"人口「{population[pop_column].iat[pos]}」须为不小于 0 的数字。",
                                    file=fname, row=r, column=pop_column))
    dup = matched.duplicated(keep="first") & matched.notna()
    for pos in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem("duplicate_area", f"area '{matched.iat[pos]}' appears more than once.",
                                f"区域「{matched.iat[pos]}」出现了不止一次。", file=fname, row=int(rows[pos]), column=key_col))
    if problems:
        raise InputError(f"{fname}: the population table does not fit the boundaries.",
                         f"{fname}：人口表与边界不匹配。", problems=problems)
    area_pop = pd.Series(pop, index=matched.to_numpy())
    a = areas[[area_key, areas.geometry.name]].to_crs(4326)
    a = a.assign(**{area_key: a[area_key].astype(str)})
    w = weights[["weight", weights.geometry.name]].to_crs(4326).reset_index(drop=True)
    wgeom = w.geometry
    if not (wgeom.geom_type == "Point").all():
        wgeom = wgeom.representative_point()
    w = gpd.GeoDataFrame({"weight": pd.to_numeric(w["weight"], errors="coerce").fillna(0.0).clip(lower=0.0)},
                         geometry=wgeom.values, crs=4326)
    w = w[w["weight"] > 0]
    # overlapping areas (e.g. Pudong's functional zones) may share a point: one row per (point, area)
    joined = gpd.sjoin(w, a, how="inner", predicate="within")
    n_unused = len(weights) - joined.index.nunique()
    joined = joined.reset_index(drop=True)
    if n_unused:
        logger.info("spread_population: %d weight point(s) have weight <= 0 or lie in no area; not used", n_unused)
    joined = joined[joined[area_key].isin(area_pop.index)].reset_index(drop=True)
    total_w = joined.groupby(area_key)["weight"].transform("sum")
    share = joined["weight"] / total_w
    joined = joined.assign(population=share.to_numpy() * joined[area_key].map(area_pop).to_numpy(), method="weight")
    # put the rounding residual on the heaviest point so each area's sum is exact
    if len(joined):
        sums = joined.groupby(area_key)["population"].sum()
        resid = area_pop.reindex(sums.index) - sums
        heavy = joined.groupby(area_key)["weight"].idxmax()
        joined.loc[heavy.to_numpy(), "population"] += resid.reindex(heavy.index).to_numpy()
    out = joined[[area_key, "weight", "population", "method", "geometry"]].rename(columns={area_key: "area_id"})
    lost = [k for k, v in area_pop.items() if v > 0 and k not in set(joined[area_key])]
    warnings: list[Problem] = []
    if lost:
        sub = a.set_index(area_key).loc[lost]
        extra = gpd.GeoDataFrame({"area_id": lost, "weight": 0.0, "population": area_pop.loc[lost].to_numpy(),
                                  "method": "representative_point"}, geometry=sub.representative_point().values, crs=4326)
        out = pd.concat([out, extra], ignore_index=True)
        for k in lost:
            warnings.append(Problem("no_weights", f"area '{k}' has population but no weight points; its "
                                    f"{area_pop[k]:.0f} persons were placed at its representative point.",
                                    f"区域「{k}」有人口但没有权重点；其 {area_pop[k]:.0f} 人被放在区域代表点上。", file=fname))
        logger.warning("%d area(s) had no weight points; population put on representative points", len(lost))
    out = gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=4326)
    out.attrs["warnings"] = tuple(warnings)
    return out
