"""Population as planners hold it: gridded rasters (WorldPop, GHS-POP, LandScan) and census tables per 街道/镇, turned into demand."""
from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import numpy as np

from ._errors import InputError, Problem
from .demand import Demand, street_samples
from .network import Network

logger = logging.getLogger(__name__)

__all__ = ["demand_from_raster", "demand_from_census", "demand_file_kind", "RASTER_SUFFIXES", "PLACEMENTS"]

#: File suffixes read as population rasters.
RASTER_SUFFIXES = (".tif", ".tiff", ".gtiff")
#: Where a raster cell's population goes: its centre, or the streets inside it.
PLACEMENTS = ("centre", "streets")
_RASTER_METHODS = ("cell_centre", "streets")


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------
def _refuse(file: str, code: str, en: str, zh: str, *, row: int | None = None, column: str | None = None) -> InputError:
    return InputError(f"{file}: the file cannot be used.", f"{file}：文件无法使用。",
                      problems=[Problem(code, en, zh, file=file, row=row, column=column)])


def _study_area_lonlat(study_area, net: Network):
    """The study area as one WGS-84 shapely geometry (the network's extent when None)."""
    import geopandas as gpd
    import shapely

    if study_area is None:
        return net.extent_lonlat
    area = study_area
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        area = area.to_crs(4326).union_all() if area.crs is not None else area.union_all()
    if not isinstance(area, shapely.Geometry) or area.is_empty:
        raise InputError("study_area must be a non-empty shapely polygon in WGS-84 (EPSG:4326) or a GeoDataFrame.",
                         "study_area 须为非空的 shapely 多边形（WGS-84，EPSG:4326）或 GeoDataFrame。")
    return area


def _to_metric(geom, net: Network):
    import shapely

    return shapely.transform(geom, lambda a: np.column_stack(net.to_metric(a[:, 0], a[:, 1])))


# --------------------------------------------------------------------------------------------
# rasters
# --------------------------------------------------------------------------------------------
def _open_raster(path: Path, name: str):
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.exists():
        raise _refuse(name, "not_found", f"file not found: {path}", f"找不到文件：{path}")
    if path.is_dir():
        raise _refuse(name, "wrong_file_type", "this is a folder, not a raster file.", "这是文件夹，不是栅格文件。")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise _refuse(
            name, "not_a_raster",
            f"this is not a raster file GDAL can read ({exc}). Population grids (WorldPop, GHS-POP, LandScan) "
            "come as GeoTIFF (.tif); unzip the download and give the .tif inside.",
            f"该文件不是 GDAL 能读取的栅格（{exc}）。人口格网（WorldPop、GHS-POP、LandScan）为 GeoTIFF（.tif）格式；"
            "请先解压下载的文件，再指定其中的 .tif。",
        ) from None


def _check_raster(src, name: str, band: int | None) -> int:
    """Validate band count, CRS and georeferencing; return the band to read (1-based)."""
    if src.count == 0:
        raise _refuse(name, "raster_no_band", "the raster has no band.", "该栅格没有波段。")
    if band is None:
        if src.count != 1:
            raise _refuse(
                name, "raster_band_count",
                f"the raster has {src.count} bands; a population grid has one (persons per cell). An RGB image or a "
                "multi-year stack cannot be used as it is: pass band=k (1-based) to choose the population band.",
                f"该栅格有 {src.count} 个波段；人口格网只有一个波段（每格人数）。RGB 图像或多年份叠加文件不能直接使用："
                "请用 band=k（从 1 起）指定人口波段。",
            )
        band = 1
    if not isinstance(band, int | np.integer) or not 1 <= int(band) <= src.count:
        raise _refuse(name, "raster_band_count", f"band={band} does not exist: the raster has {src.count} band(s), numbered from 1.",
                      f"band={band} 不存在：该栅格共有 {src.count} 个波段，编号从 1 开始。")
    if src.crs is None:
        raise _refuse(
            name, "raster_no_crs",
            "the raster has no coordinate reference system, so its cells cannot be placed. WorldPop and LandScan "
            "grids are EPSG:4326, GHS-POP is ESRI:54009 (Mollweide); download the original file again, or, if you "
            "know the system, set it with `gdal_edit.py -a_srs EPSG:4326 file.tif`.",
            "该栅格没有坐标参考系，无法确定各格网的位置。WorldPop 与 LandScan 为 EPSG:4326，GHS-POP 为 ESRI:54009（Mollweide）；"
            "请重新下载原始文件，或在确知坐标系时用 `gdal_edit.py -a_srs EPSG:4326 file.tif` 设置。",
        )
    t = src.transform
    if t.is_identity:
        raise _refuse(name, "raster_no_transform",
                      "the raster has a coordinate system but no georeferencing (cell size and origin); it is an image, "
                      "not a population grid. Download the original GeoTIFF.",
                      "该栅格有坐标系但没有地理配准（格网大小与原点），只是一张图片，不是人口格网。请下载原始 GeoTIFF。")
    if t.b != 0 or t.d != 0:
        raise _refuse(name, "raster_rotated", "the raster grid is rotated; warp it to a north-up grid first "
                      "(`gdalwarp in.tif out.tif`).", "该栅格网格是旋转的；请先重采样为正北朝上的网格（`gdalwarp in.tif out.tif`）。")
    return int(band)


def demand_from_raster(path: str | Path, *, net: Network, study_area=None, outside_tolerance_m: float = 1000.0,
                       band: int | None = None, placement: str = "centre", step_m: float = 50.0,
                       strip_rows: int = 1024) -> tuple[Demand, dict]:
    """Demand from a gridded population raster (GeoTIFF): each populated cell becomes demand.

    Only the window of the raster that covers the study area (plus ``outside_tolerance_m``) is
    read, in strips of ``strip_rows`` rows, so a country-sized WorldPop or LandScan file never
    loads whole. Cells are tested by their centre: a populated cell whose centre lies farther
    than ``outside_tolerance_m`` from the study area leaves the statistics and is counted in the
    report (cells and population), as points outside the study area are. Cells marked nodata
    (the file's nodata value or mask), undeclared NaN cells and negative cells carry no
    population; each kind is counted and NaN/negative cells are warned about.

    Parameters
    ----------
    path : str or Path
        A raster GDAL reads (GeoTIFF), in any CRS, whose cell values are **persons per cell**
        (WorldPop "ppp"/"constrained" counts, GHS-POP, LandScan), not persons per km².
    net : Network
        The study's walking network (metric CRS; its extent is the default study area).
    study_area : shapely geometry (WGS-84) or GeoDataFrame, optional
        The area served, e.g. the union of the subdistrict boundaries; default ``net.extent_lonlat``.
    outside_tolerance_m : float
        Cells whose centre lies within this distance (metres) outside the study area are kept,
        the same tolerance as for points (CLI ``--outside-tolerance-m``).
    band : int, optional
        1-based band to read. Required when the file has more than one band.
    placement : {"centre", "streets"}
        ``"centre"``: one demand point per cell at its centre. ``"streets"``: the cell's
        population is spread over points every ``step_m`` along the streets inside the cell,
        by street length (cells with no street keep their centre). Totals are the same.
    step_m : float
        Spacing of street points for ``placement="streets"``, metres.
    strip_rows : int
        Rows read at a time; fewer when the window is wider than 15,625 cells, so a strip never
        holds more than about 16 million cells.

    Returns
    -------
    (Demand, dict)
        Demand of kind ``"raster"`` (``is_proxy=False``): EPSG:4326 points with ``id``
        (``"r{row}_c{col}"``, the cell in the file), ``population`` (persons, float),
        ``area_id`` (None), ``cell_row``, ``cell_col`` and ``method`` (``"cell_centre"`` or
        ``"streets"``). The sum of ``population`` equals the sum of the kept cells.
        The report holds ``file``, ``crs``, ``band``, ``raster_shape``, ``window``
        (col_off, row_off, width, height), ``cell_size`` (CRS units), ``cell_m`` (metres), ``placement``, ``cells_read``,
        ``cells_kept``, ``population_kept``, ``cells_outside``, ``population_outside``,
        ``cells_nodata``, ``cells_nan``, ``cells_negative``, ``population_negative``,
        ``covers_study_area`` (bool) and ``warnings`` (tuple of Problem).

    Raises
    ------
    InputError
        Missing or unreadable file, more than one band and no ``band=``, no CRS, no
        georeferencing, a rotated grid, no overlap with the study area, or no populated cell in it.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely
    from pyproj import CRS, Transformer
    from rasterio.enums import MaskFlags
    from rasterio.features import rasterize
    from rasterio.windows import Window, from_bounds
    from rasterio.windows import bounds as window_bounds

    if placement not in PLACEMENTS:
        raise InputError(f"placement must be one of {PLACEMENTS}, not {placement!r}.", f"placement 须为 {PLACEMENTS} 之一，而不是 {placement!r}。")
    if not outside_tolerance_m >= 0:
        raise InputError(f"outside_tolerance_m must be >= 0 metres, got {outside_tolerance_m}.",
                         f"outside_tolerance_m 须不小于 0 米，实际为 {outside_tolerance_m}。")
    path = Path(path)
    name = path.name
    area = _study_area_lonlat(study_area, net)
    area_m = _to_metric(area, net)
    keep_m = area_m.buffer(outside_tolerance_m) if outside_tolerance_m > 0 else area_m
    with _open_raster(path, name) as src:
        band = _check_raster(src, name, band)
        rcrs = CRS.from_wkt(src.crs.to_wkt())
        to_r = Transformer.from_crs(net.crs, rcrs, always_xy=True)
        cell = max(abs(src.transform.a), abs(src.transform.e))
        # the kept area in the raster's CRS, densified so curved edges stay right after reprojection
        seg = max(10.0, min(250.0, np.sqrt(keep_m.area) / 50.0))
        keep_r = shapely.transform(shapely.segmentize(keep_m, seg), lambda a: np.column_stack(to_r.transform(a[:, 0], a[:, 1])))
        area_r = shapely.transform(shapely.segmentize(area_m, seg), lambda a: np.column_stack(to_r.transform(a[:, 0], a[:, 1])))
        if not (keep_r.is_valid and np.isfinite(keep_r.bounds).all()):
            keep_r = shapely.make_valid(keep_r)
        full = Window(0, 0, src.width, src.height)
        rb = src.bounds
        raster_box = shapely.box(min(rb.left, rb.right), min(rb.bottom, rb.top), max(rb.left, rb.right), max(rb.bottom, rb.top))
        if not raster_box.intersects(keep_r):
            lo, la = Transformer.from_crs(rcrs, 4326, always_xy=True).transform(
                [raster_box.bounds[0], raster_box.bounds[2]], [raster_box.bounds[1], raster_box.bounds[3]])
            ab = area.bounds
            raise _refuse(
                name, "raster_outside_study_area",
                f"the raster does not cover the study area: it spans lon {lo[0]:.3f} to {lo[1]:.3f}, lat {la[0]:.3f} to "
                f"{la[1]:.3f}; the study area spans lon {ab[0]:.3f} to {ab[2]:.3f}, lat {ab[1]:.3f} to {ab[3]:.3f}. "
                "Download the tile or country that holds the study area.",
                f"该栅格未覆盖研究范围：栅格范围为经度 {lo[0]:.3f}–{lo[1]:.3f}、纬度 {la[0]:.3f}–{la[1]:.3f}；研究范围为经度 "
                f"{ab[0]:.3f}–{ab[2]:.3f}、纬度 {ab[1]:.3f}–{ab[3]:.3f}。请下载覆盖研究范围的分幅或国家文件。",
            )
        covers = bool(raster_box.buffer(cell * 1e-6).contains(area_r))
        win = from_bounds(*keep_r.bounds, transform=src.transform)
        ca, ra = int(np.floor(win.col_off)), int(np.floor(win.row_off))
        cb, rb_ = int(np.ceil(win.col_off + win.width)), int(np.ceil(win.row_off + win.height))
        win = Window(ca - 1, ra - 1, cb - ca + 2, rb_ - ra + 2).intersection(full)
        c0, r0, width, height = int(win.col_off), int(win.row_off), int(win.width), int(win.height)
        flags = src.mask_flag_enums[band - 1]
        use_mask = not ({MaskFlags.all_valid} == set(flags) or (MaskFlags.nodata in flags and len(flags) == 1))
        nodata = src.nodata
        is_float = np.issubdtype(np.dtype(src.dtypes[band - 1]), np.floating)
        rows_l: list[np.ndarray] = []
        cols_l: list[np.ndarray] = []
        vals_l: list[np.ndarray] = []
        n = {"nodata": 0, "nan": 0, "negative": 0, "outside": 0}
        pop_out = 0.0
        pop_neg = 0.0
        shapely.prepare(keep_r)
        step = max(1, min(int(strip_rows), 16_000_000 // max(width, 1)))  # at most ~16M cells (64 MB float32) a strip
        for s in range(0, height, step):
            h = min(step, height - s)
            w_strip = Window(c0, r0 + s, width, h)
            arr = src.read(band, window=w_strip)
            missing = None  # masks stay None when nothing can be set, to skip whole-strip passes
            if use_mask:
                missing = src.read_masks(band, window=w_strip) == 0
            elif nodata is not None:
                missing = np.isnan(arr) if (is_float and np.isnan(nodata)) else arr == nodata
            # a strip wholly inside the kept area needs no per-cell test
            if keep_r.contains(shapely.box(*window_bounds(w_strip, src.transform))):
                inside = None
            else:
                inside = rasterize([(keep_r, 1)], out_shape=(h, width), transform=src.window_transform(w_strip),
                                   fill=0, dtype="uint8", all_touched=False).view(bool)
            nan = None
            if is_float:
                nan = np.isnan(arr)
                if missing is not None:
                    nan &= ~missing
            neg = arr < 0
            pos = arr > 0  # NaN compares False
            if missing is not None:
                neg &= ~missing
                pos &= ~missing

            def within(m, inside=inside):
                return m if inside is None else m & inside

            if missing is not None:
                n["nodata"] += int(np.count_nonzero(within(missing)))
            if nan is not None:
                n["nan"] += int(np.count_nonzero(within(nan)))
            neg_in = within(neg)
            n["negative"] += int(np.count_nonzero(neg_in))
            pop_neg += float(arr[neg_in].sum(dtype=np.float64))
            if inside is not None:
                out = pos & ~inside
                n["outside"] += int(np.count_nonzero(out))
                pop_out += float(arr[out].sum(dtype=np.float64))
            rr, cc = np.nonzero(within(pos))
            rows_l.append((rr + r0 + s).astype(np.int64))
            cols_l.append((cc + c0).astype(np.int64))
            vals_l.append(arr[rr, cc].astype(np.float64))
        rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
        cols = np.concatenate(cols_l) if cols_l else np.zeros(0, np.int64)
        vals = np.concatenate(vals_l) if vals_l else np.zeros(0)
        transform = src.transform
        shape = (src.height, src.width)
        crs_text = src.crs.to_string()
    if len(vals) == 0:
        raise _refuse(
            name, "raster_no_population",
            f"no cell inside the study area (with {outside_tolerance_m:.0f} m tolerance) holds population: of "
            f"{width * height:,} cells read, {n['nodata']:,} are nodata, {n['nan']:,} NaN, {n['negative']:,} negative "
            "and the rest 0. Check that the file is a population grid for this place and that its coordinate "
            "system is right.",
            f"研究范围（含 {outside_tolerance_m:.0f} 米容差）内没有任何格网有人口：读取的 {width * height:,} 个格网中，"
            f"{n['nodata']:,} 个为无数据，{n['nan']:,} 个为 NaN，{n['negative']:,} 个为负数，其余为 0。"
            "请确认该文件是此地的人口格网且坐标系正确。",
        )
    xs = transform.c + (cols + 0.5) * transform.a
    ys = transform.f + (rows + 0.5) * transform.e
    if rcrs.to_epsg() == 4326:
        lon, lat = xs, ys
    else:
        lon, lat = Transformer.from_crs(rcrs, 4326, always_xy=True).transform(xs, ys)
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    method = np.zeros(len(vals), np.int8)  # codes into _RASTER_METHODS
    pop, prow, pcol = vals, rows, cols
    if placement == "streets":
        lon, lat, pop, prow, pcol, method = _spread_cells_on_streets(net, to_r, transform, shape, rows, cols, vals,
                                                                     lon, lat, step_m)
    sub = None
    if placement == "streets":  # several points per cell: number them within the cell
        sub = pd.Series(prow * shape[1] + pcol).groupby(prow * shape[1] + pcol).cumcount().to_numpy()
    gdf = gpd.GeoDataFrame(
        {"id": _cell_ids(prow, pcol, sub), "population": pop, "area_id": None, "cell_row": prow, "cell_col": pcol,
         "method": pd.Categorical.from_codes(method, categories=list(_RASTER_METHODS))},
        geometry=gpd.points_from_xy(lon, lat), crs=4326,
    )
    warnings: list[Problem] = []
    if n["outside"]:
        warnings.append(Problem(
            "raster_outside", f"{n['outside']:,} populated cells ({pop_out:,.0f} persons) lie more than "
            f"{outside_tolerance_m:.0f} m outside the study area and are left out of the statistics.",
            f"{n['outside']:,} 个有人口的格网（{pop_out:,.0f} 人）位于研究范围外 {outside_tolerance_m:.0f} 米以上，不计入统计。",
            file=name))
    if n["nan"]:
        warnings.append(Problem(
            "raster_nan", f"{n['nan']:,} cells inside the study area are NaN but the file declares no such nodata; "
            "they are counted as no data (0 persons). Check the download or set the nodata value.",
            f"研究范围内有 {n['nan']:,} 个格网为 NaN，而文件未声明该无数据值；按无数据（0 人）处理。请检查下载文件或设置无数据值。",
            file=name))
    if n["negative"]:
        warnings.append(Problem(
            "raster_negative", f"{n['negative']:,} cells inside the study area hold negative values (sum "
            f"{pop_neg:,.0f}); they are counted as no data (0 persons). An undeclared nodata value such as -99999 is "
            "the usual cause: set it with `gdal_edit.py -a_nodata -99999 file.tif`.",
            f"研究范围内有 {n['negative']:,} 个格网为负值（合计 {pop_neg:,.0f}），按无数据（0 人）处理。常见原因是未声明的无数据值"
            "（如 -99999）：可用 `gdal_edit.py -a_nodata -99999 file.tif` 设置。", file=name))
    if not covers:
        warnings.append(Problem(
            "raster_partial", "the raster covers only part of the study area: residents beyond its edge are missing "
            "from the demand. Use a tile that covers the whole area, or merge tiles first.",
            "该栅格只覆盖研究范围的一部分：其边界以外的居民不在需求中。请使用覆盖整个范围的分幅，或先合并分幅。", file=name))
    # cell size on the ground, at the window's centre
    from_r = Transformer.from_crs(rcrs, net.crs, always_xy=True)
    xc = transform.c + (c0 + width / 2) * transform.a
    yc = transform.f + (r0 + height / 2) * transform.e
    (ax, bx), (ay, by) = from_r.transform([xc, xc + transform.a], [yc, yc + transform.e])
    cell_m = float(max(abs(bx - ax), abs(by - ay)))
    if placement == "centre" and cell_m > 300.0:
        warnings.append(Problem(
            "raster_coarse", f"the cells are about {cell_m:.0f} m wide, a large part of a 15-minute walk: each cell's "
            "residents sit on its centre. placement='streets' spreads them over the streets inside each cell.",
            f"格网边长约 {cell_m:.0f} 米，占 15 分钟步行范围的很大一部分：每格人口都放在格网中心。"
            "使用 placement='streets' 可将其分布到格网内的道路上。", file=name))
    for w in warnings:
        logger.warning(w.message())
    total = float(vals.sum())
    report = {
        "file": name, "crs": crs_text, "band": band, "raster_shape": shape, "window": (c0, r0, width, height),
        "cell_size": (abs(transform.a), abs(transform.e)), "cell_m": cell_m, "placement": placement, "cells_read": width * height,
        "cells_kept": int(len(vals)), "population_kept": total, "cells_outside": n["outside"],
        "population_outside": pop_out, "cells_nodata": n["nodata"], "cells_nan": n["nan"],
        "cells_negative": n["negative"], "population_negative": pop_neg, "covers_study_area": covers,
        "outside_tolerance_m": float(outside_tolerance_m), "warnings": tuple(warnings),
    }
    how_en = "at each cell's centre" if placement == "centre" else f"spread over the streets inside each cell ({step_m:g} m steps)"
    how_zh = "置于各格网中心" if placement == "centre" else f"按各格网内道路长度分布（每 {step_m:g} 米一点）"
    note_en = f"Demand from the population raster {name}: {len(vals):,} populated cells, {total:,.0f} persons, {how_en}."
    note_zh = f"需求来自人口栅格 {name}：{len(vals):,} 个有人口格网，共 {total:,.0f} 人，{how_zh}。"
    logger.info("%s: %d cells kept (%.0f persons), %d outside, window %s of %s", name, len(vals), total, n["outside"],
                report["window"], shape)
    return Demand(gdf, "raster", False, note_en, note_zh), report


def _cell_ids(rows: np.ndarray, cols: np.ndarray, sub: np.ndarray | None = None):
    """``r{row}_c{col}`` (``_{k}`` for the k-th street point of a cell) as a string Series; vectorised."""
    import pandas as pd

    parts = ["r", rows, "_c", cols] + (["_", sub] if sub is not None else [])
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arrs = [p if isinstance(p, str) else pc.cast(pa.array(p), pa.string()) for p in parts]
        return pd.Series(pd.arrays.ArrowStringArray(pc.binary_join_element_wise(*arrs, "")))
    except ImportError:  # pragma: no cover - pyarrow ships with the app's requirements
        out = pd.Series(parts[0] + pd.Series(parts[1]).astype(str))
        for p in parts[2:]:
            out = out + (p if isinstance(p, str) else pd.Series(p).astype(str))
        return out


def _spread_cells_on_streets(net: Network, to_r, transform, shape, rows, cols, vals, lon, lat, step_m):
    """Spread each kept cell's population over the street points inside it (by length); centre otherwise."""
    px, py, pw = street_samples(net, step_m)
    rx, ry = to_r.transform(px, py)
    # north-up grid (checked on open): column and row from the origin and cell size
    fc = (np.asarray(rx) - transform.c) / transform.a
    fr = (np.asarray(ry) - transform.f) / transform.e
    pr = np.floor(fr).astype(np.int64)
    pc = np.floor(fc).astype(np.int64)
    ok = (pr >= 0) & (pr < shape[0]) & (pc >= 0) & (pc < shape[1])
    key_cells = rows * shape[1] + cols
    order = np.argsort(key_cells)
    sorted_keys = key_cells[order]
    key_pts = pr[ok] * shape[1] + pc[ok]
    pos = np.searchsorted(sorted_keys, key_pts)
    pos = np.clip(pos, 0, max(len(sorted_keys) - 1, 0))
    hit = sorted_keys[pos] == key_pts
    cell_of = order[pos[hit]]  # index into the kept cells
    sx, sy, sw = px[ok][hit], py[ok][hit], pw[ok][hit]
    wsum = np.bincount(cell_of, weights=sw, minlength=len(vals))
    share = sw / wsum[cell_of]
    spop = vals[cell_of] * share
    slon, slat = net.to_lonlat(sx, sy)
    bare = wsum <= 0
    lon_o = np.concatenate([np.asarray(slon), lon[bare]])
    lat_o = np.concatenate([np.asarray(slat), lat[bare]])
    pop_o = np.concatenate([spop, vals[bare]])
    row_o = np.concatenate([rows[cell_of], rows[bare]])
    col_o = np.concatenate([cols[cell_of], cols[bare]])
    method = np.concatenate([np.ones(len(spop), np.int8), np.zeros(int(bare.sum()), np.int8)])
    return lon_o, lat_o, pop_o, row_o, col_o, method


# --------------------------------------------------------------------------------------------
# census tables
# --------------------------------------------------------------------------------------------
_TOTAL_ROWS = {"合计", "总计", "小计", "全区", "全市", "全县", "总数", "总人口", "total", "sum", "all", "subtotal"}
# longest first: "街道办事处" before "街道"
_AREA_SUFFIXES = ("街道办事处", "地区办事处", "镇人民政府", "乡人民政府", "办事处", "街道", "地区", "新镇", "镇", "乡", "街")
_SUFFIX_RE = re.compile("(" + "|".join(_AREA_SUFFIXES) + ")$")
_DISTRICT_PREFIX_RE = re.compile(r"^(上海市|上海)?[^区县市]{1,4}?(新区|区|县)")
_DISTRICT_HINTS = ("district", "区", "区县", "所属区", "区名")


def _nfkc(s) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(s))).strip()


def _code_key(s) -> str:
    """Area code as comparable text: NFKC, no '.0', and the 12-digit NBS form reduced to its 9-digit town code."""
    t = _nfkc(s)
    t = re.sub(r"\.0+$", "", t)
    if re.fullmatch(r"\d{12}", t) and t.endswith("000"):
        t = t[:9]
    return t


def _name_keys(s) -> tuple[str, str, str]:
    """(full, without the 街道/镇/乡 suffix, without the district prefix and suffix) for name matching."""
    full = _nfkc(s)
    bare = _strip_suffixes(full)
    nodist = _DISTRICT_PREFIX_RE.sub("", full)
    nodist = _strip_suffixes(nodist) if nodist else bare
    return full, bare, nodist


def _strip_suffixes(name: str) -> str:
    """Drop 街道/镇/乡-like suffixes, repeatedly (真如镇街道 -> 真如), never down to nothing."""
    while True:
        shorter = _SUFFIX_RE.sub("", name)
        if shorter == name or not shorter:
            return name
        name = shorter


def _district_key(s) -> str:
    t = _nfkc(s)
    t = re.sub(r"^(上海市|上海)", "", t)
    return re.sub(r"(新区|区|县)$", "", t) or t


def _read_census(path, sheet):
    import pandas as pd

    from .io import read_table

    if isinstance(path, pd.DataFrame):
        table = path.copy()
        name = table.attrs.get("source_file", "population table")
        rows = table.attrs.get("source_row")
        rows = np.asarray(rows if rows is not None and len(rows) == len(table) else np.arange(2, len(table) + 2))
        return table.astype(str).replace({"nan": "", "None": ""}), name, rows
    table = read_table(path, sheet=sheet)
    if len(table) == 0:
        name = Path(path).name
        raise _refuse(name, "empty_file", "the table has a header but no rows.", "该表只有表头，没有数据行。")
    rows = np.asarray(table.attrs["source_row"])
    name = table.attrs["source_file"]
    if "geometry" in table.columns:
        table = table.drop(columns="geometry")
    return table.astype(str), name, rows


def _pick_column(cols, explicit, what_en, what_zh, file):
    if explicit is not None:
        if explicit not in cols:
            raise _refuse(file, "missing_column", f"there is no {what_en} column '{explicit}'. Columns found: {list(cols)}.",
                          f"没有{what_zh}列「{explicit}」。现有列：{list(cols)}。", column=explicit)
        return explicit
    return None


def _match_codes(values, areas, area_code_col):
    keys = areas[area_code_col].map(_code_key)
    lookup: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        lookup.setdefault(k, []).append(i)
    return [lookup.get(_code_key(v), []) for v in values]


def _match_names(values, districts, areas):
    """Per row, the candidate area positions by name (tiers: exact, no suffix, no district prefix)."""
    tiers: list[dict[str, list[int]]] = [{}, {}, {}]
    for i, nm in enumerate(areas["name"]):
        for t, k in enumerate(_name_keys(nm)):
            tiers[t].setdefault(k, []).append(i)
    area_d = areas["district"].map(_district_key).tolist() if "district" in areas.columns else None
    out = []
    for j, v in enumerate(values):
        keys = _name_keys(v)
        cand: list[int] = []
        for t in range(3):
            cand = tiers[t].get(keys[t], [])
            if cand and districts is not None and area_d is not None:
                d = _district_key(districts[j])
                narrowed = [i for i in cand if area_d[i] == d]
                cand = narrowed if d else cand
            if cand:
                break
        out.append(cand)
    return out


def _building_weights(buildings, net: Network):
    """Residential floor area (m², footprint x levels, 3 levels when unknown) at building centroids, metric."""
    import shapely

    if buildings is None or not len(buildings):
        return None
    b = buildings.to_crs(net.crs)
    if "residential" in b.columns:
        b = b[b["residential"].astype(bool)]
    if not len(b):
        return None
    levels = b["levels"].astype(float).fillna(3.0).clip(lower=1.0).to_numpy() if "levels" in b.columns else 3.0
    geoms = b.geometry.values
    w = shapely.area(geoms) * levels
    c = shapely.centroid(geoms)
    ok = w > 0
    return shapely.get_x(c)[ok], shapely.get_y(c)[ok], w[ok]


def _points_in_areas(x, y, area_geoms_m):
    """(point index, area position) for every point inside an area (overlapping areas give several rows)."""
    import shapely

    if len(x) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # one prepared polygon at a time over the points of its bounding box (x-sorted, so the box is a slice):
    # contains_xy needs no point objects and is several times faster than an STRtree 'within' query
    order = np.argsort(x, kind="stable")
    xs = x[order]
    p_l, a_l = [], []
    for i, g in enumerate(area_geoms_m):
        if g is None or g.is_empty:
            continue
        minx, miny, maxx, maxy = g.bounds
        lo, hi = np.searchsorted(xs, minx, side="left"), np.searchsorted(xs, maxx, side="right")
        cand = order[lo:hi]
        cand = cand[(y[cand] >= miny) & (y[cand] <= maxy)]
        if not len(cand):
            continue
        shapely.prepare(g)
        hit = cand[shapely.contains_xy(g, x[cand], y[cand])]
        p_l.append(hit)
        a_l.append(np.full(len(hit), i, np.int64))
    if not p_l:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(p_l).astype(np.int64), np.concatenate(a_l)


def demand_from_census(path, areas, *, net: Network, code_column: str | None = None, name_column: str | None = None,
                       population_column: str | None = None, district_column: str | None = None, buildings=None,
                       sheet: str | int | None = None, step_m: float = 50.0,
                       min_cover_share: float = 0.9) -> tuple[Demand, dict]:
    """Demand from a census table of residents per area (街道/镇), spread inside each area.

    The table has a population column and an area code or name column, and no coordinates (as
    in the 第七次全国人口普查 bulletins by 街道/镇). Rows are joined to the boundaries by code
    when the table has a code column (12-digit NBS codes also match their 9-digit town form),
    else by name: exact, then without the 街道/镇/乡 suffix, then without a district prefix
    (长宁区华阳路街道), full-width characters and spaces ignored; a district column narrows
    names that occur in several districts. Rows that match no area, match several, repeat an
    area, look like a total row, or hold a bad number are refused together, each with its row.

    Each area's residents are spread inside it: over residential buildings (floor area) when
    ``buildings`` holds residential footprints in that area, else over the streets (length,
    points every ``step_m``), else on the area's representative point. The method is named per
    point (``method``) and in ``Demand.kind``. Each area's total is kept exactly (the rounding
    residual goes to its heaviest point). Areas that do not reach the street network leave the
    statistics and are reported with their residents.

    Parameters
    ----------
    path : str, Path or pandas.DataFrame
        CSV or XLSX (``sheet=``), or a table already read with :func:`planner.io.read_table`.
    areas : geopandas.GeoDataFrame or str or Path
        Boundaries from :func:`planner.io.read_boundaries` (``area_id``: the code, or the name
        when the file has no code; ``name``; optional ``district``), or their file.
    net : Network
        The study's walking network.
    code_column, name_column, population_column, district_column : str, optional
        Table columns; detected when omitted (population: 常住人口, 人口, population...; a
        header with 万 such as 常住人口（万人） is read in units of 10,000 persons).
    buildings : geopandas.GeoDataFrame, optional
        Footprints from :func:`planner.osm.osm_buildings` (``residential``, ``levels``).
    sheet : str or int, optional
        XLSX sheet.
    step_m : float
        Spacing of street points, metres.
    min_cover_share : float
        Warn when less than this share of an area lies inside the street network's extent.

    Returns
    -------
    (Demand, dict)
        Demand of kind ``census:buildings``, ``census:streets`` or ``census:mixed``: EPSG:4326
        points with ``id``, ``population`` (persons), ``area_id``, ``area_name`` and ``method``
        (``buildings``, ``streets`` or ``representative_point``). The report holds ``file``,
        ``join`` (``code`` or ``name``), ``key_column``, ``population_column``, ``unit``
        (persons per table unit), ``rows``, ``population_table`` (table total, persons),
        ``population_kept``, ``areas_outside`` and ``population_outside`` (areas beyond the
        network), ``areas_without_row``, ``methods`` ({area_id: method}), ``per_area`` (a
        pandas Series of persons kept per area_id) and ``warnings`` (tuple of Problem).

    Raises
    ------
    InputError
        No population column, no column that matches the areas, or bad rows (all listed).
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    from .io import _to_number, detect_columns, read_boundaries

    if isinstance(areas, str | Path):
        areas = read_boundaries(areas)
    if "area_id" not in areas.columns or "name" not in areas.columns:
        raise InputError("areas needs 'area_id' and 'name' columns: read the boundaries with planner.io.read_boundaries.",
                         "areas 须含 'area_id' 与 'name' 列：请用 planner.io.read_boundaries 读取边界。")
    if areas.crs is None:
        raise InputError("areas has no CRS; read the boundaries with planner.io.read_boundaries.",
                         "areas 没有坐标参考系；请用 planner.io.read_boundaries 读取边界。")
    areas = areas.to_crs(4326).reset_index(drop=True)
    table, fname, rows = _read_census(path, sheet)
    cols = list(table.columns)

    # ---- columns
    pcol = _pick_column(cols, population_column, "population", "人口", fname)
    if pcol is None:
        pcol = detect_columns(cols, ("population",)).get("population")
    if pcol is None:
        raise _refuse(fname, "missing_column",
                      f"no population column found. Columns found: {cols}. Name it 常住人口 / 人口 / population, or pass "
                      "population_column=...", f"找不到人口列。现有列：{cols}。请将其命名为 常住人口 / 人口 / population，"
                      "或用 population_column=... 指定。")
    unit = 10000.0 if "万" in str(pcol) else 1.0
    dcol = _pick_column(cols, district_column, "district", "区", fname)
    if dcol is None and district_column is None:
        dcol = next((c for c in cols if c != pcol and _nfkc(c).lower() in _DISTRICT_HINTS), None)
    ccol = _pick_column(cols, code_column, "code", "代码", fname)
    ncol = _pick_column(cols, name_column, "name", "名称", fname)
    others = [c for c in cols if c not in (pcol, dcol)]
    has_codes = not (areas["area_id"].astype(str) == areas["name"].astype(str)).all()  # read_boundaries without a code column
    if ccol is not None and not has_codes:
        raise _refuse(fname, "no_area_codes", f"code_column='{ccol}' was given but the boundaries have no code column "
                      "(their area_id is the name); join by name_column=... or read the boundaries with code_column=...",
                      f"指定了 code_column='{ccol}'，但边界没有代码列（area_id 即名称）；请改用 name_column=...，"
                      "或在读取边界时指定 code_column=...。", column=ccol)
    if ccol is None and ncol is None:
        # the column whose values match most area codes, else most area names
        best_code = max(((sum(bool(m) for m in _match_codes(table[c], areas, "area_id")), c) for c in others),
                        default=(0, None)) if has_codes else (0, None)
        best_name = max(((sum(bool(m) for m in _match_names(table[c], None, areas)), c) for c in others),
                        default=(0, None))
        if best_code[0] and best_code[0] >= best_name[0] * 0.5:
            ccol = best_code[1]
        elif best_name[0]:
            ncol = best_name[1]
    if ccol is None and ncol is None:
        sample = "、".join(areas["name"].head(5).astype(str))
        raise _refuse(fname, "no_area_column",
                      f"no column matches the area codes or names of the boundaries (e.g. {sample}). Columns found: "
                      f"{cols}. Pass code_column=... or name_column=..., and check that the boundaries are the right ones.",
                      f"没有任何列能与边界的区域代码或名称对应（例如：{sample}）。现有列：{cols}。请用 code_column=... 或 "
                      "name_column=... 指定，并确认边界文件无误。")
    join = "code" if ccol is not None else "name"
    key_col = ccol if ccol is not None else ncol
    keys = table[key_col]
    cands = (_match_codes(keys, areas, "area_id") if join == "code"
             else _match_names(keys, table[dcol] if dcol else None, areas))

    # ---- rows
    pop, p_empty, p_bad = _to_number(table[pcol], thousands=True)
    pop = pop * unit
    problems: list[Problem] = []
    examples = "、".join(areas["area_id" if join == "code" else "name"].head(6).astype(str))
    matched = np.full(len(table), -1, np.int64)
    for pos in range(len(table)):
        r = int(rows[pos])
        v = str(keys.iat[pos])
        c = cands[pos]
        if _nfkc(v).lower() in _TOTAL_ROWS or (join == "name" and not c and re.fullmatch(r".{1,6}(区|县|市)", _nfkc(v))):
            problems.append(Problem("total_row", f"'{v}' looks like a total row, not an area; delete the row (the planner "
                                    "adds the areas up itself).", f"「{v}」像是合计行而非区域；请删除该行（程序会自行汇总各区域）。",
                                    file=fname, row=r, column=key_col))
        elif not c:
            how_en = "code" if join == "code" else "name (also tried without 街道/镇/乡 and the district prefix)"
            how_zh = "代码" if join == "code" else "名称（已尝试去掉“街道/镇/乡”后缀及区名前缀）"
            problems.append(Problem("unmatched_area", f"the {how_en} '{v}' matches no area in the boundaries (e.g. "
                                    f"{examples}). Fix the spelling or code, or use boundaries that hold this area.",
                                    f"{how_zh}「{v}」与边界中的任何区域都不对应（例如：{examples}）。请修正拼写或代码，或使用包含该区域的边界。",
                                    file=fname, row=r, column=key_col))
        elif len(c) > 1:
            opts = "; ".join(f"{areas['area_id'].iat[i]} {areas['name'].iat[i]}"
                             + (f" ({areas['district'].iat[i]})" if "district" in areas.columns else "") for i in c)
            problems.append(Problem("ambiguous_area", f"'{v}' matches {len(c)} areas ({opts}); add a district column "
                                    "(区) or use area codes.", f"「{v}」对应 {len(c)} 个区域（{opts}）；请增加“区”列或改用区划代码。",
                                    file=fname, row=r, column=key_col))
        else:
            matched[pos] = c[0]
        if p_empty[pos] or p_bad[pos] or (np.isfinite(pop[pos]) and pop[pos] < 0):
            problems.append(Problem("bad_population", f"population '{table[pcol].iat[pos]}' must be a number >= 0.",
                                    f"人口「{table[pcol].iat[pos]}」须为不小于 0 的数字。", file=fname, row=r, column=pcol))
    seen: dict[int, int] = {}
    for pos in np.flatnonzero(matched >= 0):
        i = int(matched[pos])
        if i in seen:
            problems.append(Problem("duplicate_area", f"area {areas['area_id'].iat[i]} {areas['name'].iat[i]} already "
                                    f"appears in row {seen[i]}; keep one row per area.",
                                    f"区域 {areas['area_id'].iat[i]} {areas['name'].iat[i]} 已在第 {seen[i]} 行出现；每个区域只保留一行。",
                                    file=fname, row=int(rows[pos]), column=key_col))
        else:
            seen[i] = int(rows[pos])
    if problems:
        raise InputError(f"{fname}: the population table does not fit the boundaries ({len(problems)} problem(s)).",
                         f"{fname}：人口表与边界不匹配（共 {len(problems)} 处问题）。", problems=problems)
    area_pop = np.zeros(len(areas))
    has_row = np.zeros(len(areas), bool)
    area_pop[matched] = pop
    has_row[matched] = True

    # ---- areas against the network
    extent_m = _to_metric(net.extent_lonlat, net)
    geoms_m = np.array([_to_metric(g, net) for g in areas.geometry.values], dtype=object)
    area_m2 = shapely.area(geoms_m)
    cover = np.where(area_m2 > 0, shapely.area(shapely.intersection(geoms_m, extent_m)) / np.where(area_m2 > 0, area_m2, 1), 0.0)
    reach = shapely.intersects(geoms_m, extent_m)
    inside = has_row & reach
    outside = has_row & ~reach
    warnings: list[Problem] = []
    if outside.any():
        ids = areas["name"][outside].astype(str).tolist()
        warnings.append(Problem("areas_outside_network",
                                f"{int(outside.sum())} area(s) with {area_pop[outside].sum():,.0f} residents lie outside the "
                                f"street network and are left out: {'、'.join(ids[:10])}{' …' if len(ids) > 10 else ''}.",
                                f"{int(outside.sum())} 个区域（共 {area_pop[outside].sum():,.0f} 人）位于路网之外，不计入统计："
                                f"{'、'.join(ids[:10])}{' …' if len(ids) > 10 else ''}。", file=fname))
    partial = inside & (cover < min_cover_share)
    for i in np.flatnonzero(partial):
        warnings.append(Problem("area_partly_covered",
                                f"only {cover[i]:.0%} of {areas['name'].iat[i]} lies inside the street network; its "
                                f"{area_pop[i]:,.0f} residents are placed on the streets that are there. Load a network "
                                "that covers the whole area for a fair picture.",
                                f"{areas['name'].iat[i]} 只有 {cover[i]:.0%} 位于路网范围内；其 {area_pop[i]:,.0f} 名居民被放在现有道路上。"
                                "请载入覆盖整个区域的路网以获得准确结果。", file=fname))
    without = ~has_row & reach
    if without.any():
        ids = areas["name"][without].astype(str).tolist()
        warnings.append(Problem("areas_without_row",
                                f"{int(without.sum())} area(s) inside the street network have no row in the table, so "
                                f"nobody is counted there: {'、'.join(ids[:10])}{' …' if len(ids) > 10 else ''}.",
                                f"路网范围内有 {int(without.sum())} 个区域在表中没有对应行，因此不计人口：{'、'.join(ids[:10])}"
                                f"{' …' if len(ids) > 10 else ''}。", file=fname))

    # ---- weights: buildings where an area has residential ones, else streets
    sel = np.flatnonzero(inside)
    bx = _building_weights(buildings, net)
    method = np.full(len(areas), "", dtype=object)
    px_l, py_l, w_l, a_l = [], [], [], []
    with_b = np.zeros(len(areas), bool)
    if bx is not None:
        p, a = _points_in_areas(bx[0], bx[1], geoms_m[sel])
        a = sel[a]
        with_b[np.unique(a)] = True
        px_l.append(bx[0][p])
        py_l.append(bx[1][p])
        w_l.append(bx[2][p])
        a_l.append(a)
    need = sel[~with_b[sel]]
    if len(need):
        sx, sy, sw = street_samples(net, step_m)
        p, a = _points_in_areas(sx, sy, geoms_m[need])
        a = need[a]
        px_l.append(sx[p])
        py_l.append(sy[p])
        w_l.append(sw[p])
        a_l.append(a)
    px = np.concatenate(px_l) if px_l else np.zeros(0)
    py = np.concatenate(py_l) if py_l else np.zeros(0)
    pw = np.concatenate(w_l) if w_l else np.zeros(0)
    pa = np.concatenate(a_l) if a_l else np.zeros(0, np.int64)
    wsum = np.bincount(pa, weights=pw, minlength=len(areas))
    has_w = wsum > 0
    method[sel] = np.where(with_b[sel], "buildings", np.where(has_w[sel], "streets", "representative_point"))
    ppop = pw / np.where(wsum[pa] > 0, wsum[pa], 1.0) * area_pop[pa]
    # the rounding residual of each area goes to its heaviest point, so each area's sum is its figure
    if len(pa):
        order = np.lexsort((-pw, pa))
        first = order[np.r_[True, pa[order][1:] != pa[order][:-1]]]
        resid = area_pop - np.bincount(pa, weights=ppop, minlength=len(areas))
        ppop[first] += resid[pa[first]]
    pt_method = method[pa]
    bare = sel[~has_w[sel]]
    if len(bare):
        rp = shapely.point_on_surface(geoms_m[bare])
        px = np.concatenate([px, shapely.get_x(rp)])
        py = np.concatenate([py, shapely.get_y(rp)])
        ppop = np.concatenate([ppop, area_pop[bare]])
        pa = np.concatenate([pa, bare])
        pt_method = np.concatenate([pt_method, np.full(len(bare), "representative_point", dtype=object)])
        for i in bare:
            warnings.append(Problem("no_streets_in_area", f"{areas['name'].iat[i]} holds no street of the network; its "
                                    f"{area_pop[i]:,.0f} residents sit on one point inside it.",
                                    f"{areas['name'].iat[i]} 内没有路网道路；其 {area_pop[i]:,.0f} 名居民放在区域内的一个点上。",
                                    file=fname))
    lon, lat = net.to_lonlat(px, py)
    aid = areas["area_id"].astype(str).to_numpy()[pa]
    sub = pd.Series(pa).groupby(pa).cumcount().to_numpy()
    gdf = gpd.GeoDataFrame(
        {"id": pd.Series(aid, dtype=object) + "_" + sub.astype(str).astype(object), "population": ppop,
         "area_id": aid, "area_name": areas["name"].astype(str).to_numpy()[pa], "method": pt_method},
        geometry=gpd.points_from_xy(lon, lat), crs=4326,
    )
    used = set(method[sel])
    kind = "census:buildings" if used == {"buildings"} else "census:streets" if used <= {"streets", "representative_point"} else "census:mixed"
    n_b, n_s = int((method[sel] == "buildings").sum()), int((method[sel] == "streets").sum())
    n_r = int((method[sel] == "representative_point").sum())
    kept = float(area_pop[sel].sum())
    note_en = (f"Demand from the census table {fname}: {kept:,.0f} residents of {len(sel)} areas, spread over residential "
               f"buildings in {n_b}, street length in {n_s}" + (f", a single point in {n_r}" if n_r else "") + " of them.")
    note_zh = (f"需求来自人口普查表 {fname}：{len(sel)} 个区域共 {kept:,.0f} 人；其中 {n_b} 个区域按住宅建筑面积分布，"
               f"{n_s} 个按道路长度分布" + (f"，{n_r} 个置于单点" if n_r else "") + "。")
    for w in warnings:
        logger.warning(w.message())
    report = {
        "file": fname, "join": join, "key_column": key_col, "population_column": pcol, "district_column": dcol,
        "unit": unit, "rows": len(table), "population_table": float(np.nansum(pop)), "population_kept": kept,
        "areas_matched": int(has_row.sum()), "areas_outside": areas["area_id"][outside].astype(str).tolist(),
        "population_outside": float(area_pop[outside].sum()),
        "areas_without_row": areas["area_id"][without].astype(str).tolist(),
        "methods": dict(zip(areas["area_id"].astype(str).to_numpy()[sel], method[sel], strict=True)),
        "per_area": gdf.groupby("area_id")["population"].sum(), "warnings": tuple(warnings),
    }
    logger.info("%s: %d rows joined by %s (%s), %.0f persons kept in %d areas", fname, len(table), join, key_col, kept, len(sel))
    return Demand(gdf, kind, False, note_en, note_zh), report


# --------------------------------------------------------------------------------------------
# which reader
# --------------------------------------------------------------------------------------------
def demand_file_kind(path: str | Path, *, sheet: str | int | None = None, layer: str | int | None = None) -> str:
    """Which reader a demand file needs: ``"raster"``, ``"census"`` or ``"table"``.

    ``"raster"``: the suffix is ``.tif``/``.tiff`` (read with :func:`demand_from_raster`).
    ``"census"``: a CSV/XLSX with a population column, no coordinates (no lon/lat or location
    column) and at least one other column to name the area (read with
    :func:`demand_from_census`, which needs boundaries). ``"table"``: everything else, i.e.
    points or polygons with a population (read with :func:`planner.io.read_demand`, whose
    errors then say what is missing).
    """
    from .io import detect_columns, read_table

    p = Path(path)
    if p.suffix.lower() in RASTER_SUFFIXES:
        return "raster"
    table = read_table(p, sheet=sheet, layer=layer)
    if "geometry" in table.columns:
        return "table"
    found = detect_columns(list(table.columns), ("lon", "lat", "location", "population"))
    has_coords = "location" in found or {"lon", "lat"} <= set(found)
    others = [c for c in table.columns if c != found.get("population")]
    return "census" if "population" in found and not has_coords and others else "table"
