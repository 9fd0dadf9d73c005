"""The offline demo district: a seeded synthetic street network, residents and facilities shaped like central Shanghai.

Everything here is invented and is labelled so ("示范区（合成数据）/ Demo district (synthetic)").
The district is built in a local metric frame (x east, y north, metres, origin at the south-west
corner), bent by a gentle smooth warp and a rotation so the street grid is not a perfect lattice,
placed in UTM 51N (EPSG:32651) around lon 121.40, lat 31.22 and returned in WGS-84.

What it contains, and why (each part is something that makes straight-line buffers wrong):

- an arterial grid (600-900 m) and local streets (120-200 m), some local segments missing;
- gated residential compounds (小区) whose internal lanes reach the streets only through 1-3
  gates; gated campuses (schools, offices) and open parks with an entrance on every side;
- a river (like Suzhou Creek) that cuts every street except at bridges about every 1-1.5 km,
  with a riverside footway on each bank;
- subdistricts (Voronoi cells of seeds), residents per building, and facilities of every
  type in ``data/facility_types.toml`` with deliberate gaps (one subdistrict is under-served).

Construction is vectorised (grid index arithmetic), so ``scale=40`` (about a million graph
nodes) builds in seconds rather than minutes.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from ._errors import InputError
from .rawgraph import RawGraph

logger = logging.getLogger(__name__)

__all__ = ["DemoDistrict", "make_district", "nodes_for_scale", "write_demo", "LABEL_ZH", "LABEL_EN"]

LABEL_ZH = "示范区（合成数据）"
LABEL_EN = "Demo district (synthetic)"

CENTRE_LON, CENTRE_LAT = 121.40, 31.22
UTM_CRS = "EPSG:32651"
WGS84 = "EPSG:4326"

SIDE_M = 6000.0  # side of the square district at scale 1 (36 km²)
MIN_SCALE, MAX_SCALE = 0.05, 100.0
ARTERIAL_GAP_M = (600.0, 900.0)
LOCAL_GAP_M = 165.0  # target local-street spacing; actual 120-200 m
LATTICE_JITTER_M = 5.0  # intersection jitter along local streets
RIVER_HALF_WIDTH_M = 30.0
RIVER_WET_M = 55.0  # street nodes and edges closer than this (vertically) to the river centre are removed
BANK_OFFSET_M = 38.0  # riverside footway, measured from the river centre line
BRIDGE_MIN_GAP_M = 1000.0
INSET_M = 18.0  # compound internal lanes keep this far from the surrounding street
BOUNDARY_MARGIN_M = 25.0
GATE_MERGE_M = 6.0  # gates closer than this on one street edge share a node
GATE_CORNER_M = 8.0  # gates keep at least this far from an intersection
WARP_AMP_M, WARP_WAVELENGTH_M = 35.0, 3500.0

# block kinds: residential compound (gated), campus (gated, no residents), park (open)
COMPOUND, CAMPUS, PARK = 0, 1, 2
KIND_P = (0.40, 0.38, 0.22)
ROW_SPACING_M = (30.0, 45.0, 55.0)
COL_SPACING_M = (42.0, 50.0, 55.0)
LEVELS = np.array([6, 11, 14, 18, 24, 30])
LEVELS_P = np.array([0.40, 0.15, 0.10, 0.15, 0.12, 0.08])
POP_PER_CELL = 560.0  # median residents of a 165 m x 165 m compound of six-storey walk-ups
POP_MIN, POP_MAX = 800.0, 6000.0

_NAME_CHARS = "安和平康宁兴华荣昌盛嘉德福瑞祥泰丰乐永长定延天仙虹茅娄凯遵协"
_CN_DIGITS = "零一二三四五六七八九"

# measured: about 665 nodes/km² at scale 1 and 695 at scale 12-40 (fewer riverside and edge losses)
_NODES_PER_KM2 = 680.0


@dataclass(frozen=True, eq=False)
class DemoDistrict:
    """A synthetic district: walking network, residents, subdistricts and facilities.

    All geometries are WGS-84 (EPSG:4326); all names carry the synthetic label.

    Attributes
    ----------
    raw : RawGraph
        The walking network (``mode="walk"``), nodes = intersections, gate nodes and
        compound-internal nodes; ``way_id`` is the edge's way id in ``demo.osm``.
    facilities : GeoDataFrame
        Points: ``id``, ``name`` (Chinese, synthetic), ``type`` (facility-type key),
        ``lon``, ``lat`` (degrees), ``area_id``.
    demand : GeoDataFrame
        One point per residential building: ``id``, ``population`` (residents, float),
        ``compound_id``, ``area_id``.
    areas : GeoDataFrame
        Subdistrict polygons covering ``boundary`` without overlap: ``area_id``, ``name``
        (e.g. "示范一街道（合成）"), ``name_en``.
    buildings : GeoDataFrame
        Residential building footprints: ``levels``, ``residential`` (True), ``compound_id``.
    compounds : GeoDataFrame
        Residential compounds (小区): ``compound_id``, ``name``, ``area_id``, ``n_gates``,
        ``population``, ``levels``; the polygon lies between the surrounding streets and the
        internal lanes, so internal nodes are inside it and gate nodes outside.
    boundary : shapely Polygon
        The study area.
    river : shapely LineString
        The river centre line; street edges cross it only at the ``n_bridges`` bridges.
    n_bridges : int
    underserved_area_id : str
        The subdistrict left deliberately short of facilities.
    seed, scale : the arguments of :func:`make_district`.
    label_zh, label_en : "示范区（合成数据）" / "Demo district (synthetic)".
    """

    raw: RawGraph
    facilities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    boundary: shapely.Polygon
    river: shapely.LineString
    n_bridges: int
    underserved_area_id: str
    seed: int
    scale: float
    label_zh: str = LABEL_ZH
    label_en: str = LABEL_EN


# --------------------------------------------------------------------------- public API


def nodes_for_scale(scale: float) -> int:
    """Approximate number of graph nodes :func:`make_district` builds at ``scale``.

    The district's area is ``36 km² * scale`` and node density is about constant, so the
    count is linear in ``scale`` (within a few per cent across seeds): about 25k at 1,
    300k at 12 and 1M at 40.

    Parameters
    ----------
    scale : float
        Area multiplier, as passed to :func:`make_district`.

    Returns
    -------
    int
    """
    _check_scale(scale)
    return int(round(_NODES_PER_KM2 * SIDE_M**2 * float(scale) / 1e6))


def make_district(*, seed: int = 7, scale: float = 1.0) -> DemoDistrict:
    """Build the synthetic demo district.

    Parameters
    ----------
    seed : int
        Seed of the numpy random generator; the same seed and scale give identical arrays.
    scale : float
        Area multiplier (the side grows with ``sqrt(scale)``); 1 gives about 36 km²,
        25k graph nodes and 400k residents. Between 0.05 and 100.

    Returns
    -------
    DemoDistrict
    """
    seed = _check_seed(seed)
    scale = _check_scale(scale)
    rng = np.random.default_rng(seed)
    side = SIDE_M * math.sqrt(scale)
    frame = _Frame.random(rng, side)
    river = _River.random(rng, side)

    lat = _build_lattice(rng, side, river)
    blocks = _build_blocks(rng, lat)
    inner = _build_internal(rng, blocks)
    gates = _build_gates(rng, lat, blocks, inner)
    seeds = _area_seeds(rng, side, max(4, int(round(5 * scale))))

    graph_parts = _assemble_edges(rng, lat, river, inner, gates)
    raw = _to_rawgraph(graph_parts, frame, source=f"synthetic demo district (seed={seed}, scale={scale:g})")

    boundary_local = shapely.box(-BOUNDARY_MARGIN_M, -BOUNDARY_MARGIN_M, side + BOUNDARY_MARGIN_M, side + BOUNDARY_MARGIN_M)
    areas = _areas_frame(seeds, boundary_local, frame)
    boundary = frame.geometry_to_wgs(shapely.segmentize(boundary_local, 100.0))
    buildings, demand, compounds = _residents(rng, blocks, inner, gates, seeds, frame)
    under = _pick_underserved(rng, demand, len(seeds))
    facilities = _facilities(rng, lat, river, blocks, gates, inner, seeds, demand, under, frame)
    xs = np.linspace(-100.0, side + 100.0, max(50, int(side / 20)))
    river_line = frame.geometry_to_wgs(shapely.linestrings(xs, river.y(xs)))

    logger.info(
        "demo district seed=%d scale=%g: %d nodes, %d edges, %d residents, %d facilities",
        seed, scale, raw.n_nodes, raw.n_edges, int(demand["population"].sum()), len(facilities),
    )
    return DemoDistrict(
        raw=raw,
        facilities=facilities,
        demand=demand,
        areas=areas,
        buildings=buildings,
        compounds=compounds,
        boundary=boundary,
        river=river_line,
        n_bridges=int(lat.bridge_cols.size),
        underserved_area_id=_area_id(under),
        seed=seed,
        scale=scale,
    )


def write_demo(directory: str | Path, *, seed: int = 7, scale: float = 1.0) -> dict[str, Path]:
    """Write the demo district as the files a user would bring.

    Parameters
    ----------
    directory : str or Path
        Output folder (created if missing). Nothing is written elsewhere.
    seed, scale
        As for :func:`make_district`.

    Returns
    -------
    dict
        ``{"facilities": facilities.csv (id,name,type,lon,lat), "demand": demand.csv
        (id,lon,lat,population), "areas": areas.geojson, "osm": demo.osm}``; coordinates are
        WGS-84 degrees. ``demo.osm`` is OSM XML: one way per graph edge with its ``highway``
        and ``name`` tags, and one node per graph node or geometry vertex.
    """
    district = make_district(seed=seed, scale=scale)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "facilities": out / "facilities.csv",
        "demand": out / "demand.csv",
        "areas": out / "areas.geojson",
        "osm": out / "demo.osm",
    }
    from .export import write_csv

    write_csv(pd.DataFrame(district.facilities[["id", "name", "type", "lon", "lat"]]), paths["facilities"])
    dem = district.demand
    write_csv(pd.DataFrame(
        {"id": dem["id"], "lon": dem.geometry.x.round(7), "lat": dem.geometry.y.round(7), "population": dem["population"]}
    ), paths["demand"])
    district.areas.to_file(paths["areas"], driver="GeoJSON")
    _write_osm(district, paths["osm"])
    logger.info("wrote demo district (seed=%d, scale=%g) to %s", seed, scale, out)
    return paths


# --------------------------------------------------------------------------- validation


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(
            f"seed must be a non-negative integer, got {seed!r}",
            f"seed 须为非负整数，收到 {seed!r}",
        )
    return int(seed)


def _check_scale(scale: object) -> float:
    try:
        value = float(scale)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not (MIN_SCALE <= value <= MAX_SCALE):
        raise InputError(
            f"scale must be a number between {MIN_SCALE} and {MAX_SCALE} (area multiplier; 1 = 36 km²), got {scale!r}",
            f"scale 须为 {MIN_SCALE} 到 {MAX_SCALE} 之间的数（面积倍数，1 = 36 平方公里），收到 {scale!r}",
        )
    return value


# --------------------------------------------------------------------------- frame and river


@lru_cache(maxsize=4)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


@dataclass(frozen=True)
class _Frame:
    """Local metric frame -> UTM 51N -> WGS-84: a smooth warp, a rotation and a shift."""

    side: float
    theta: float
    ph1: float
    ph2: float
    e0: float
    n0: float

    @classmethod
    def random(cls, rng: np.random.Generator, side: float) -> _Frame:
        theta = math.radians(rng.uniform(8.0, 22.0))
        ph1, ph2 = rng.uniform(0.0, 2 * math.pi, 2)
        e0, n0 = _transformer(WGS84, UTM_CRS).transform(CENTRE_LON, CENTRE_LAT)
        return cls(side, theta, float(ph1), float(ph2), float(e0), float(n0))

    def to_utm(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = 2 * math.pi / WARP_WAVELENGTH_M
        xw = x + WARP_AMP_M * np.sin(k * y + self.ph1) - self.side / 2
        yw = y + WARP_AMP_M * np.sin(k * x + self.ph2) - self.side / 2
        c, s = math.cos(self.theta), math.sin(self.theta)
        return self.e0 + c * xw - s * yw, self.n0 + s * xw + c * yw

    def to_wgs(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, n = self.to_utm(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        lon, lat = _transformer(UTM_CRS, WGS84).transform(e, n)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def geometry_to_wgs(self, geom):
        """Transform shapely geometries (scalar or array) from the local frame to WGS-84."""
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_wgs(xy[:, 0], xy[:, 1])))


@dataclass(frozen=True)
class _River:
    """Centre line ``y = f(x)`` in the local frame: a gentle meander across the district."""

    y0: float
    amp: tuple[float, float]
    k: tuple[float, float]
    ph: tuple[float, float]

    @classmethod
    def random(cls, rng: np.random.Generator, side: float) -> _River:
        y0 = side * rng.uniform(0.4, 0.6)
        a1 = min(rng.uniform(120.0, 220.0), 0.08 * side)
        a2 = min(rng.uniform(30.0, 60.0), 0.03 * side)
        k1 = 2 * math.pi / rng.uniform(3500.0, 5500.0)
        k2 = 2 * math.pi / rng.uniform(1400.0, 2000.0)
        ph = rng.uniform(0.0, 2 * math.pi, 2)
        return cls(float(y0), (float(a1), float(a2)), (k1, k2), (float(ph[0]), float(ph[1])))

    def y(self, x: np.ndarray) -> np.ndarray:
        return (
            self.y0
            + self.amp[0] * np.sin(self.k[0] * x + self.ph[0])
            + self.amp[1] * np.sin(self.k[1] * x + self.ph[1])
        )


# --------------------------------------------------------------------------- street lattice


@dataclass(frozen=True)
class _Lattice:
    """The street grid: lines, jittered intersections, lattice edges and what the river removed."""

    xs: np.ndarray  # x of the north-south lines (unjittered), sorted
    ys: np.ndarray
    x_art: np.ndarray  # bool: line is an arterial
    y_art: np.ndarray
    x_hw: np.ndarray  # highway class per line
    y_hw: np.ndarray
    x_name: np.ndarray
    y_name: np.ndarray
    X: np.ndarray  # jittered node coordinates, node k = j * nx + i
    Y: np.ndarray
    eu: np.ndarray  # lattice edges: horizontal first (j * (nx-1) + i), then vertical (nh + j * nx + i)
    ev: np.ndarray
    e_hw: np.ndarray
    e_name: np.ndarray
    keep: np.ndarray  # bool per lattice edge: still a street (river and merges remove some)
    cell_riverside: np.ndarray  # bool [ncy, ncx]
    bridge_cols: np.ndarray  # columns i with a bridge
    cut_cols: np.ndarray  # columns i cut by the river (stubs to the bank)
    j_lo: np.ndarray  # per column: last dry row south of the river
    j_hi: np.ndarray  # per column: first dry row north of the river
    h_merge: np.ndarray  # bool [ncy, ncx]: cell merged with its east neighbour
    v_merge: np.ndarray  # bool [ncy, ncx]: cell merged with its north neighbour

    @property
    def nx(self) -> int:
        return len(self.xs)

    @property
    def ny(self) -> int:
        return len(self.ys)

    @property
    def nh(self) -> int:
        return (self.nx - 1) * self.ny

    def h_edge(self, i, j):
        return j * (self.nx - 1) + i

    def v_edge(self, i, j):
        return self.nh + j * self.nx + i


def _axis_lines(rng: np.random.Generator, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of arterial and local lines along one axis, sorted, and which are arterial."""
    n_gaps = max(1, int(round(side / np.mean(ARTERIAL_GAP_M))))
    gaps = rng.uniform(*ARTERIAL_GAP_M, n_gaps)
    gaps *= side / gaps.sum()
    art = np.concatenate([[0.0], np.cumsum(gaps)])
    art[-1] = side
    k = np.maximum(2, np.rint(gaps / LOCAL_GAP_M).astype(np.int64))
    gap_of = np.repeat(np.arange(n_gaps), k - 1)
    m = np.arange(gap_of.size) - np.repeat(np.cumsum(k - 1) - (k - 1), k - 1) + 1
    local = art[gap_of] + gaps[gap_of] * m / k[gap_of] + rng.uniform(-12.0, 12.0, gap_of.size)
    pos = np.concatenate([art, local])
    is_art = np.concatenate([np.ones(art.size, bool), np.zeros(local.size, bool)])
    order = np.argsort(pos, kind="stable")
    return pos[order], is_art[order]


def _line_classes(rng: np.random.Generator, is_art: np.ndarray) -> np.ndarray:
    art_cls = np.where(rng.random(is_art.size) < 0.5, "primary", "secondary")
    loc_cls = np.where(rng.random(is_art.size) < 0.25, "tertiary", "residential")
    return np.where(is_art, art_cls, loc_cls).astype(object)


def _street_names(rng: np.random.Generator, n: int) -> np.ndarray:
    chars = np.array(list(_NAME_CHARS))
    a, b = np.meshgrid(np.arange(chars.size), np.arange(chars.size), indexing="ij")
    ok = a != b
    pairs = np.column_stack([a[ok], b[ok]])[rng.permutation(int(ok.sum()))]
    reps = -(-n // len(pairs))
    pairs = np.tile(pairs, (reps, 1))[:n]
    names = np.char.add(np.char.add(chars[pairs[:, 0]], chars[pairs[:, 1]]), "路（合成）")
    return names.astype(object)


def _build_lattice(rng: np.random.Generator, side: float, river: _River) -> _Lattice:
    xs, x_art = _axis_lines(rng, side)
    ys, y_art = _axis_lines(rng, side)
    nx, ny = xs.size, ys.size
    x_hw, y_hw = _line_classes(rng, x_art), _line_classes(rng, y_art)
    names = _street_names(rng, nx + ny)
    x_name, y_name = names[:nx], names[nx:]

    # jitter intersections along local streets only, so arterials stay straight before the warp
    jx = np.where(x_art, 0.0, rng.uniform(-LATTICE_JITTER_M, LATTICE_JITTER_M, (ny, nx)))
    jy = np.where(y_art[:, None], 0.0, rng.uniform(-LATTICE_JITTER_M, LATTICE_JITTER_M, (ny, nx)))
    X = (xs[None, :] + jx).ravel()
    Y = (ys[:, None] + jy).ravel()

    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny), indexing="xy")
    hu = (jj * nx + ii).ravel()
    hv = hu + 1
    h_line = jj.ravel()
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny - 1), indexing="xy")
    vu = (jj * nx + ii).ravel()
    vv = vu + nx
    v_line = ii.ravel()
    eu = np.concatenate([hu, vu])
    ev = np.concatenate([hv, vv])
    e_hw = np.concatenate([y_hw[h_line], x_hw[v_line]])
    e_name = np.concatenate([y_name[h_line], x_name[v_line]])
    nh = hu.size

    # the river: remove nodes and edges within RIVER_WET_M (vertical distance) of the centre line
    d = Y - river.y(X)
    wet_node = np.abs(d) < RIVER_WET_M
    t = np.linspace(0.0, 1.0, 9)
    sx = X[hu][:, None] + t * (X[hv] - X[hu])[:, None]
    sy = Y[hu][:, None] + t * (Y[hv] - Y[hu])[:, None]
    sd = sy - river.y(sx)
    wet_h = (np.abs(sd).min(axis=1) < RIVER_WET_M) | ((sd > 0).any(axis=1) & (sd < 0).any(axis=1))
    wet_v = wet_node[vu] | wet_node[vv] | (np.sign(d[vu]) != np.sign(d[vv]))
    river_cut = np.concatenate([wet_h, wet_v])

    dgrid = d.reshape(ny, nx)
    j_lo = (dgrid <= -RIVER_WET_M).sum(axis=0) - 1
    j_hi = ny - (dgrid >= RIVER_WET_M).sum(axis=0)
    if (j_lo < 0).any() or (j_hi > ny - 1).any():  # pragma: no cover - river placement keeps clear of the edges
        raise RuntimeError("demo river reaches the district edge")

    # bridges on arterials, at least BRIDGE_MIN_GAP_M apart
    bridges = []
    last = -rng.uniform(0.0, BRIDGE_MIN_GAP_M)
    for i in np.flatnonzero(x_art):
        if xs[i] - last >= BRIDGE_MIN_GAP_M:
            bridges.append(i)
            last = xs[i]
    bridge_cols = np.array(bridges, dtype=np.int64)
    cut_cols = np.setdiff1d(np.arange(nx), bridge_cols)

    # cells touching a river-removed edge are riverside green: no blocks, no merges
    ncx, ncy = nx - 1, ny - 1
    ci, cj = np.meshgrid(np.arange(ncx), np.arange(ncy), indexing="xy")
    bottom, top = cj * (nx - 1) + ci, (cj + 1) * (nx - 1) + ci
    left, right = nh + cj * nx + ci, nh + cj * nx + ci + 1
    riverside = river_cut[bottom] | river_cut[top] | river_cut[left] | river_cut[right]

    # missing local streets: merge some pairs of cells across a local line (each cell at most once)
    merge_cut = np.zeros(eu.size, bool)
    h_merge = (
        (ci % 2 == 0)
        & (ci + 1 < ncx)
        & ~x_art[np.minimum(ci + 1, nx - 1)]
        & ~riverside
        & ~np.roll(riverside, -1, axis=1)
        & (rng.random((ncy, ncx)) < 0.18)
    )
    in_h = h_merge | np.roll(h_merge, 1, axis=1)
    v_merge = (
        (cj % 2 == 0)
        & (cj + 1 < ncy)
        & ~y_art[np.minimum(cj + 1, ny - 1)]
        & ~riverside
        & ~np.roll(riverside, -1, axis=0)
        & ~in_h
        & ~np.roll(in_h, -1, axis=0)
        & (rng.random((ncy, ncx)) < 0.15)
    )
    merge_cut[right[h_merge]] = True
    merge_cut[top[v_merge]] = True
    keep = ~river_cut & ~merge_cut

    return _Lattice(
        xs=xs, ys=ys, x_art=x_art, y_art=y_art, x_hw=x_hw, y_hw=y_hw, x_name=x_name, y_name=y_name,
        X=X, Y=Y, eu=eu, ev=ev, e_hw=e_hw, e_name=e_name, keep=keep, cell_riverside=riverside,
        bridge_cols=bridge_cols, cut_cols=cut_cols, j_lo=j_lo, j_hi=j_hi, h_merge=h_merge, v_merge=v_merge,
    )


# --------------------------------------------------------------------------- blocks, lanes, gates


@dataclass(frozen=True)
class _Blocks:
    i0: np.ndarray
    i1: np.ndarray
    j0: np.ndarray
    j1: np.ndarray
    x0: np.ndarray  # unjittered extent, metres
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return self.i0.size


def _build_blocks(rng: np.random.Generator, lat: _Lattice) -> _Blocks:
    h_merge, v_merge = lat.h_merge, lat.v_merge
    riverside = lat.cell_riverside
    ncy, ncx = riverside.shape
    cj, ci = np.nonzero(np.ones((ncy, ncx), bool))
    cj, ci = cj.reshape(ncy, ncx), ci.reshape(ncy, ncx)
    absorbed = np.roll(h_merge, 1, axis=1) | np.roll(v_merge, 1, axis=0)
    is_block = ~riverside & ~absorbed
    i0, j0 = ci[is_block], cj[is_block]
    i1 = i0 + 1 + h_merge[is_block]
    j1 = j0 + 1 + v_merge[is_block]
    kind = rng.choice(3, size=i0.size, p=KIND_P)
    return _Blocks(i0, i1, j0, j1, lat.xs[i0], lat.xs[i1], lat.ys[j0], lat.ys[j1], kind)


@dataclass(frozen=True)
class _Internal:
    """Internal lane nodes of every block (a ladder: a loop of lanes with east-west rungs)."""

    nxb: np.ndarray  # per block: columns and rows of lane nodes
    nyb: np.ndarray
    off: np.ndarray  # per block: first node (int64[B+1])
    x: np.ndarray  # per node, local frame
    y: np.ndarray
    block: np.ndarray  # per node
    eu: np.ndarray  # internal edges, indices into these nodes
    ev: np.ndarray
    e_hw: np.ndarray


def _build_internal(rng: np.random.Generator, b: _Blocks) -> _Internal:
    row_sp = np.array(ROW_SPACING_M)[b.kind]
    col_sp = np.array(COL_SPACING_M)[b.kind]
    W = b.x1 - b.x0 - 2 * INSET_M
    H = b.y1 - b.y0 - 2 * INSET_M
    nxb = np.maximum(2, np.rint(W / col_sp).astype(np.int64) + 1)
    nyb = np.maximum(2, np.rint(H / row_sp).astype(np.int64) + 1)
    count = nxb * nyb
    off = np.concatenate([[0], np.cumsum(count)])
    blk = np.repeat(np.arange(len(b)), count)
    k = np.arange(off[-1]) - off[blk]
    a, r = k % nxb[blk], k // nxb[blk]
    x = b.x0[blk] + INSET_M + a * (W / (nxb - 1))[blk]
    y = b.y0[blk] + INSET_M + r * (H / (nyb - 1))[blk]
    node = np.arange(off[-1])

    # rungs (east-west) everywhere; in compounds some end short of the east side (dead-end lanes)
    rung = a < nxb[blk] - 1
    dead_end = (b.kind[blk] == COMPOUND) & (a == nxb[blk] - 2) & (r > 0) & (r < nyb[blk] - 1) & (rng.random(node.size) < 0.25)
    rung &= ~dead_end
    full_cols = (b.kind == PARK) | ((b.kind == CAMPUS) & (rng.random(len(b)) < 0.5))
    side_col = (a == 0) | (a == nxb[blk] - 1) | full_cols[blk]
    upright = side_col & (r < nyb[blk] - 1)

    lane_hw = np.array(["service", "service", "footway"], dtype=object)
    rung_hw = np.array(["footway", "service", "footway"], dtype=object)
    eu = np.concatenate([node[rung], node[upright]])
    ev = np.concatenate([node[rung] + 1, node[upright] + nxb[blk][upright]])
    e_hw = np.concatenate([rung_hw[b.kind[blk][rung]], lane_hw[b.kind[blk][upright]]])
    return _Internal(nxb, nyb, off, x, y, blk, eu, ev, e_hw)


@dataclass(frozen=True)
class _Gates:
    """Gate nodes on street edges, and gate edges from gate nodes to internal lane nodes."""

    edge: np.ndarray  # per gate node: lattice edge it sits on
    t: np.ndarray  # position along that edge, 0..1
    x: np.ndarray
    y: np.ndarray
    link_gate: np.ndarray  # per gate edge: gate node
    link_inner: np.ndarray  # per gate edge: internal node
    link_block: np.ndarray
    link_hw: np.ndarray


def _build_gates(rng: np.random.Generator, lat: _Lattice, b: _Blocks, inner: _Internal) -> _Gates:
    n_b = len(b)
    n_gates = np.where(
        b.kind == COMPOUND,
        rng.choice([1, 2, 3], size=n_b, p=[0.35, 0.45, 0.20]),
        np.where(b.kind == CAMPUS, rng.choice([1, 2], size=n_b), 4),
    )
    sides = np.argsort(rng.random((n_b, 4)), axis=1)  # 0 south, 1 north, 2 west, 3 east
    blk = np.repeat(np.arange(n_b), n_gates)
    g_rank = np.arange(blk.size) - np.repeat(np.cumsum(n_gates) - n_gates, n_gates)
    side = sides[blk, g_rank]
    nxb, nyb = inner.nxb[blk], inner.nyb[blk]
    u = rng.random(blk.size)
    a = np.where(side == 2, 0, np.where(side == 3, nxb - 1, np.minimum((u * nxb).astype(np.int64), nxb - 1)))
    r = np.where(side == 0, 0, np.where(side == 1, nyb - 1, np.minimum((u * nyb).astype(np.int64), nyb - 1)))
    inode = inner.off[blk] + r * nxb + a
    gx, gy = inner.x[inode], inner.y[inode]

    horizontal = side < 2
    i_h = np.clip(np.searchsorted(lat.xs, gx, side="right") - 1, b.i0[blk], b.i1[blk] - 1)
    j_v = np.clip(np.searchsorted(lat.ys, gy, side="right") - 1, b.j0[blk], b.j1[blk] - 1)
    line_j = np.where(side == 0, b.j0[blk], b.j1[blk])
    line_i = np.where(side == 2, b.i0[blk], b.i1[blk])
    eid = np.where(horizontal, lat.h_edge(i_h, line_j), lat.v_edge(line_i, j_v))
    pu_x, pu_y = lat.X[lat.eu[eid]], lat.Y[lat.eu[eid]]
    pv_x, pv_y = lat.X[lat.ev[eid]], lat.Y[lat.ev[eid]]
    with np.errstate(divide="ignore", invalid="ignore"):  # np.where evaluates both branches
        t = np.where(horizontal, (gx - pu_x) / (pv_x - pu_x), (gy - pu_y) / (pv_y - pu_y))
    length = np.hypot(pv_x - pu_x, pv_y - pu_y)
    # a lane may line up with a street corner (merged blocks): keep the gate off the intersection
    s = np.clip(t * length, GATE_CORNER_M, length - GATE_CORNER_M)
    t = s / length

    # gates facing each other across a street, or nearly so, share one node
    order = np.lexsort((s, eid))
    new = np.ones(order.size, bool)
    new[1:] = (eid[order][1:] != eid[order][:-1]) | (np.diff(s[order]) >= GATE_MERGE_M)
    group_sorted = np.cumsum(new) - 1
    group = np.empty(order.size, np.int64)
    group[order] = group_sorted
    first = order[new]
    g_eid, g_t = eid[first], t[first]
    g_x = lat.X[lat.eu[g_eid]] + g_t * (lat.X[lat.ev[g_eid]] - lat.X[lat.eu[g_eid]])
    g_y = lat.Y[lat.eu[g_eid]] + g_t * (lat.Y[lat.ev[g_eid]] - lat.Y[lat.eu[g_eid]])
    link_hw = np.where(b.kind[blk] == PARK, "footway", "service").astype(object)
    return _Gates(g_eid, g_t, g_x, g_y, group, inode, blk, link_hw)


# --------------------------------------------------------------------------- graph assembly


def _assemble_edges(rng: np.random.Generator, lat: _Lattice, river: _River, inner: _Internal, gates: _Gates) -> dict:
    """All nodes (local frame) and edges (node indices, class, name, interior geometry points)."""
    n_lat = lat.X.size
    cut = lat.cut_cols
    n_bank = cut.size
    bank_x = np.concatenate([lat.xs[cut], lat.xs[cut]])
    bank_y = np.concatenate([river.y(lat.xs[cut]) - BANK_OFFSET_M, river.y(lat.xs[cut]) + BANK_OFFSET_M])
    o_bank = n_lat
    o_gate = o_bank + 2 * n_bank
    o_inner = o_gate + gates.x.size
    node_x = np.concatenate([lat.X, bank_x, gates.x, inner.x])
    node_y = np.concatenate([lat.Y, bank_y, gates.y, inner.y])

    # street pieces: kept lattice edges split at their gates
    kept = np.flatnonzero(lat.keep)
    p_eid = np.concatenate([kept, kept, gates.edge])
    p_t = np.concatenate([np.zeros(kept.size), np.ones(kept.size), gates.t])
    p_node = np.concatenate([lat.eu[kept], lat.ev[kept], o_gate + np.arange(gates.x.size)])
    order = np.lexsort((p_t, p_eid))
    p_eid, p_node = p_eid[order], p_node[order]
    same = p_eid[1:] == p_eid[:-1]
    s_u, s_v, s_eid = p_node[:-1][same], p_node[1:][same], p_eid[:-1][same]

    nx = lat.nx
    # bridges: one edge over the river per bridge column; elsewhere stubs end at the bank
    br = lat.bridge_cols
    b_u, b_v = lat.j_lo[br] * nx + br, lat.j_hi[br] * nx + br
    st_u = np.concatenate([lat.j_lo[cut] * nx + cut, lat.j_hi[cut] * nx + cut])
    st_v = o_bank + np.arange(2 * n_bank)
    col_v = np.concatenate([cut, cut])

    # riverside footways between consecutive bank nodes, following the bank
    f_u = np.concatenate([o_bank + np.arange(n_bank - 1), o_bank + n_bank + np.arange(n_bank - 1)])
    f_v = f_u + 1
    f_sign = np.repeat([-1.0, 1.0], max(n_bank - 1, 0))
    fx0, fx1 = node_x[f_u], node_x[f_v]
    f_nint = np.maximum(1, np.ceil((fx1 - fx0) / 25.0).astype(np.int64)) - 1
    f_e = np.repeat(np.arange(f_u.size), f_nint)
    f_k = np.arange(f_e.size) - np.repeat(np.cumsum(f_nint) - f_nint, f_nint) + 1
    f_ix = fx0[f_e] + (fx1 - fx0)[f_e] * f_k / (f_nint + 1)[f_e]
    f_iy = river.y(f_ix) + f_sign[f_e] * BANK_OFFSET_M

    # gate links and internal lanes
    g_u = o_gate + gates.link_gate
    g_v = o_inner + gates.link_inner
    i_u, i_v = o_inner + inner.eu, o_inner + inner.ev

    u = np.concatenate([s_u, b_u, st_u, f_u, g_u, i_u])
    v = np.concatenate([s_v, b_v, st_v, f_v, g_v, i_v])
    hw = np.concatenate([
        lat.e_hw[s_eid], lat.x_hw[br], lat.x_hw[col_v], np.full(f_u.size, "footway", object),
        gates.link_hw, inner.e_hw,
    ])
    name = np.concatenate([
        lat.e_name[s_eid], lat.x_name[br], lat.x_name[col_v], np.full(f_u.size, "滨河步道（合成）", object),
        np.full(g_u.size, "", object), np.full(i_u.size, "", object),
    ])
    group = np.concatenate([
        np.full(s_u.size, 0), np.full(br.size, 1), np.full(st_u.size, 2), np.full(f_u.size, 3),
        np.full(g_u.size, 4), np.full(i_u.size, 5),
    ])

    # interior points: the riverside footways follow the bank; some streets and lanes bend slightly
    n_int = np.zeros(u.size, np.int64)
    f_first = s_u.size + br.size + st_u.size
    n_int[f_first:f_first + f_u.size] = f_nint
    dx, dy = node_x[v] - node_x[u], node_y[v] - node_y[u]
    length = np.hypot(dx, dy)
    p_bend = np.select([group == 0, group == 5], [0.35, 0.15], 0.0)
    bend = (rng.random(u.size) < p_bend) & (length > 20.0)
    n_int[bend] = 1
    amp = rng.uniform(-1.0, 1.0, u.size) * np.minimum(np.where(group == 0, 3.0, 1.5), 0.03 * length)
    with np.errstate(invalid="ignore", divide="ignore"):
        bx = (node_x[u] + node_x[v]) / 2 - dy / length * amp
        by = (node_y[u] + node_y[v]) / 2 + dx / length * amp
    # interior points in edge order: bank footways and bends never overlap
    int_x = np.empty(int(n_int.sum()))
    int_y = np.empty_like(int_x)
    start = np.concatenate([[0], np.cumsum(n_int)[:-1]])
    fs = start[f_first:f_first + f_u.size]
    pos = np.repeat(fs, f_nint) + f_k - 1
    int_x[pos], int_y[pos] = f_ix, f_iy
    int_x[start[bend]], int_y[start[bend]] = bx[bend], by[bend]
    return {
        "node_x": node_x, "node_y": node_y, "u": u, "v": v, "highway": hw, "name": name,
        "n_int": n_int, "int_x": int_x, "int_y": int_y, "group": group,
    }


def _to_rawgraph(parts: dict, frame: _Frame, *, source: str) -> RawGraph:
    u, v = parts["u"], parts["v"]
    used = np.zeros(parts["node_x"].size, bool)
    used[u] = True
    used[v] = True
    remap = np.cumsum(used) - 1
    u, v = remap[u], remap[v]
    lon, lat = frame.to_wgs(parts["node_x"][used], parts["node_y"][used])
    ilon, ilat = frame.to_wgs(parts["int_x"], parts["int_y"])

    n_int = parts["n_int"]
    npts = n_int + 2
    offsets = np.concatenate([[0], np.cumsum(npts)]).astype(np.int64)
    glon = np.empty(offsets[-1])
    glat = np.empty(offsets[-1])
    glon[offsets[:-1]], glat[offsets[:-1]] = lon[u], lat[u]
    glon[offsets[1:] - 1], glat[offsets[1:] - 1] = lon[v], lat[v]
    e_of = np.repeat(np.arange(u.size), n_int)
    k = np.arange(e_of.size) - np.repeat(np.cumsum(n_int) - n_int, n_int)
    pos = offsets[:-1][e_of] + 1 + k
    glon[pos], glat[pos] = ilon, ilat
    m = u.size
    return RawGraph(
        node_id=np.arange(1, lon.size + 1, dtype=np.int64),
        lon=lon,
        lat=lat,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        geom_lon=glon,
        geom_lat=glat,
        geom_offsets=offsets,
        oneway=np.zeros(m, bool),
        highway=np.asarray(parts["highway"], dtype=object),
        name=np.asarray(parts["name"], dtype=object),
        way_id=np.arange(1, m + 1, dtype=np.int64),
        source=source,
        mode="walk",
    )


# --------------------------------------------------------------------------- areas


def _cn_number(n: int) -> str:
    """1 -> 一, 12 -> 十二, 40 -> 四十, 105 -> 一百零五 (up to 9999)."""
    if n < 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + (_CN_DIGITS[n - 10] if n > 10 else "")
    if n < 100:
        return _CN_DIGITS[n // 10] + "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        tail = "" if rest == 0 else ("零" + _CN_DIGITS[rest] if rest < 10 else ("一" + _cn_number(rest) if rest < 20 else _cn_number(rest)))
        return _CN_DIGITS[n // 100] + "百" + tail
    rest = n % 1000
    tail = "" if rest == 0 else ("零" + _cn_number(rest) if rest < 100 else _cn_number(rest))
    return _CN_DIGITS[n // 1000] + "千" + tail


def _area_id(k: int) -> str:
    return f"A{k + 1:02d}"


def _area_name_zh(k: int) -> str:
    return f"示范{_cn_number(k + 1)}街道"


def _area_seeds(rng: np.random.Generator, side: float, n: int) -> np.ndarray:
    """Well-spread subdistrict seeds (Mitchell's best candidate), local frame, metres."""
    lo, hi = 0.08 * side, 0.92 * side
    pts = [rng.uniform(lo, hi, 2)]
    for _ in range(n - 1):
        cand = rng.uniform(lo, hi, (24, 2))
        dist = np.min(np.linalg.norm(cand[:, None, :] - np.array(pts)[None, :, :], axis=2), axis=1)
        pts.append(cand[np.argmax(dist)])
    return np.array(pts)


def _areas_frame(seeds: np.ndarray, boundary_local, frame: _Frame) -> gpd.GeoDataFrame:
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=boundary_local, ordered=True)
    polys = shapely.intersection(shapely.get_parts(cells), boundary_local)
    polys = frame.geometry_to_wgs(shapely.segmentize(polys, 100.0))
    n = len(seeds)
    return gpd.GeoDataFrame(
        {
            "area_id": [_area_id(k) for k in range(n)],
            "name": [f"{_area_name_zh(k)}（合成）" for k in range(n)],
            "name_en": [f"Demo {k + 1} subdistrict (synthetic)" for k in range(n)],
        },
        geometry=list(polys),
        crs=WGS84,
    )


# --------------------------------------------------------------------------- residents


def _rect_polygons(cx, cy, hw, hh, frame: _Frame):
    corners_x = np.stack([cx - hw, cx + hw, cx + hw, cx - hw, cx - hw], axis=1)
    corners_y = np.stack([cy - hh, cy - hh, cy + hh, cy + hh, cy - hh], axis=1)
    lon, lat = frame.to_wgs(corners_x.ravel(), corners_y.ravel())
    return shapely.polygons(np.stack([lon, lat], axis=1).reshape(-1, 5, 2))


def _residents(rng, b: _Blocks, inner: _Internal, gates: _Gates, seeds: np.ndarray, frame: _Frame):
    """Buildings between the lanes of every compound, one demand point per building."""
    comp = np.flatnonzero(b.kind == COMPOUND)
    nc = comp.size
    levels_c = rng.choice(LEVELS, size=nc, p=LEVELS_P)
    density = np.select([levels_c <= 6, levels_c <= 14, levels_c <= 18], [1.0, 1.15, 1.4], 1.7)
    cells = (b.x1 - b.x0)[comp] * (b.y1 - b.y0)[comp] / LOCAL_GAP_M**2
    pop_c = np.clip(rng.lognormal(np.log(POP_PER_CELL * cells * density), 0.3), POP_MIN, POP_MAX).round()

    # one building per ladder cell: slabs for walk-ups, point towers for high-rises
    nxb, nyb = inner.nxb[comp], inner.nyb[comp]
    nbld = (nxb - 1) * (nyb - 1)
    c_of = np.repeat(np.arange(nc), nbld)
    k = np.arange(c_of.size) - np.repeat(np.cumsum(nbld) - nbld, nbld)
    a, r = k % (nxb - 1)[c_of], k // (nxb - 1)[c_of]
    base = inner.off[comp][c_of] + r * nxb[c_of] + a
    x0, y0 = inner.x[base], inner.y[base]
    x1, y1 = inner.x[base + 1], inner.y[base + nxb[c_of]]
    cw, ch = x1 - x0, y1 - y0
    tower = levels_c[c_of] >= 18
    width = np.where(tower, np.minimum(26.0, 0.6 * cw), 0.8 * cw) * rng.uniform(0.85, 1.0, c_of.size)
    depth = np.where(tower, np.minimum(18.0, 0.55 * ch), np.minimum(12.0, 0.45 * ch))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    floor = width * depth * levels_c[c_of]
    share = floor / np.bincount(c_of, weights=floor, minlength=nc)[c_of]
    pop_b = pop_c[c_of] * share

    tree = cKDTree(seeds)
    area_b = tree.query(np.column_stack([cx, cy]))[1]
    bx_c = (b.x0 + b.x1)[comp] / 2
    by_c = (b.y0 + b.y1)[comp] / 2
    area_c = tree.query(np.column_stack([bx_c, by_c]))[1]
    comp_id = np.array([f"C{i + 1:05d}" for i in range(nc)], dtype=object)
    area_ids = np.array([_area_id(k) for k in range(len(seeds))], dtype=object)

    buildings = gpd.GeoDataFrame(
        {"levels": levels_c[c_of].astype(np.int64), "residential": np.ones(c_of.size, bool), "compound_id": comp_id[c_of]},
        geometry=_rect_polygons(cx, cy, width / 2, depth / 2, frame),
        crs=WGS84,
    )
    lon, lat = frame.to_wgs(cx, cy)
    demand = gpd.GeoDataFrame(
        {
            "id": np.char.add("D", np.char.zfill(np.arange(1, c_of.size + 1).astype(str), 6)).astype(object),
            "population": pop_b.astype(float),
            "compound_id": comp_id[c_of],
            "area_id": area_ids[area_b],
        },
        geometry=shapely.points(lon, lat),
        crs=WGS84,
    )
    # the compound outline sits halfway between the street and the internal lanes
    half = INSET_M / 2
    ccx, ccy = bx_c, by_c
    poly = _rect_polygons(ccx, ccy, (b.x1 - b.x0)[comp] / 2 - half, (b.y1 - b.y0)[comp] / 2 - half, frame)
    gate_counts = np.bincount(gates.link_block, minlength=len(b))[comp].astype(np.int64)
    compounds = gpd.GeoDataFrame(
        {
            "compound_id": comp_id,
            "name": [f"{_area_name_zh(ac)}第{i + 1}小区（合成）" for i, ac in enumerate(area_c)],
            "area_id": area_ids[area_c],
            "n_gates": gate_counts,
            "population": pop_c.astype(float),
            "levels": levels_c.astype(np.int64),
        },
        geometry=poly,
        crs=WGS84,
    )
    return buildings, demand, compounds


def _pick_underserved(rng: np.random.Generator, demand: gpd.GeoDataFrame, n_areas: int) -> int:
    """One of the more populous subdistricts (not the first) is left short of facilities."""
    pop = demand.groupby("area_id")["population"].sum()
    ranked = [int(a[1:]) - 1 for a in pop.sort_values(ascending=False).index]
    ranked = [k for k in ranked if k != 0] or [n_areas - 1]
    return int(rng.choice(ranked[: max(1, min(3, len(ranked)))]))


# --------------------------------------------------------------------------- facilities

_FAC_NAMES = {
    "health_centre": "社区卫生服务中心",
    "service_station": "社区卫生服务站",
    "village_clinic": "村卫生室",
    "aed": "AED",
    "rehab_centre": "社区康复中心",
    "nursing_centre": "社区护理中心",
    "health_mgmt_centre": "社区健康管理中心",
    "oral_clinic": "社区口腔诊室",
    "outpatient_surgery": "门诊手术室",
    "fever_sentinel": "发热哨点诊室",
    "tcm_hall": "中医馆",
}
# chance that a subdistrict has the service at its health centre (the under-served one has none)
_AT_CENTRE_P = {
    "rehab_centre": 0.75,
    "nursing_centre": 0.65,
    "health_mgmt_centre": 0.85,
    "fever_sentinel": 0.85,
    "outpatient_surgery": 0.45,
    "oral_clinic": 0.5,
    "tcm_hall": 0.85,
}
_AED_PLACES = {PARK: ("公园入口", "广场", "绿地"), CAMPUS: ("学校", "商场", "办公楼", "体育馆", "地铁站")}


def _facilities(rng, lat: _Lattice, river: _River, b: _Blocks, gates: _Gates, inner: _Internal,
                seeds: np.ndarray, demand: gpd.GeoDataFrame, under: int, frame: _Frame) -> gpd.GeoDataFrame:
    side = lat.xs[-1]
    kept = np.flatnonzero(lat.keep)
    ux, uy = lat.X[lat.eu[kept]], lat.Y[lat.eu[kept]]
    vx, vy = lat.X[lat.ev[kept]], lat.Y[lat.ev[kept]]
    mx, my = (ux + vx) / 2, (uy + vy) / 2
    tree = cKDTree(seeds)
    e_dist, e_area = tree.query(np.column_stack([mx, my]))
    centre_dist = np.hypot(mx - side / 2, my - side / 2)
    pop_area = demand.groupby("area_id")["population"].sum()

    rows: list[tuple[str, str, float, float, int]] = []  # type, name, x, y, area

    def near_street(e: int, t: float, off: float) -> tuple[float, float]:
        """A point beside street edge ``kept[e]``: ``t`` along it, ``off`` metres to one side."""
        px, py = ux[e] + t * (vx[e] - ux[e]), uy[e] + t * (vy[e] - uy[e])
        length = math.hypot(vx[e] - ux[e], vy[e] - uy[e])
        nxv, nyv = -(vy[e] - uy[e]) / length, (vx[e] - ux[e]) / length
        qx, qy = px + off * nxv, py + off * nyv
        if abs(qy - river.y(np.array([qx]))[0]) < RIVER_WET_M - 10 or not (5 <= qx <= side - 5 and 5 <= qy <= side - 5):
            qx, qy = px - off * nxv, py - off * nyv
        return float(qx), float(qy)

    def add(ftype: str, label: str, xy: tuple[float, float], area: int) -> None:
        rows.append((ftype, label, xy[0], xy[1], area))

    pub_gate_link = np.flatnonzero(b.kind[gates.link_block] != COMPOUND)
    pub_area = tree.query(np.column_stack([gates.x[gates.link_gate[pub_gate_link]], gates.y[gates.link_gate[pub_gate_link]]]))[1]
    n_areas = len(seeds)
    hc_anchor: dict[int, tuple[int, float, float]] = {}
    for k in range(n_areas):
        zh = _area_name_zh(k)
        cand = np.flatnonzero(e_area == k)
        if cand.size == 0:  # pragma: no cover - every Voronoi cell of a spread seed holds streets
            continue
        is_under = k == under
        # the health centre is off-centre: in the outer half of the subdistrict (the under-served one at its edge)
        q = np.quantile(e_dist[cand], [0.9, 1.0] if is_under else [0.45, 0.85])
        ring = cand[(e_dist[cand] >= q[0]) & (e_dist[cand] <= q[1])]
        e = int(rng.choice(ring if ring.size else cand))
        side_sign = 1.0 if rng.random() < 0.5 else -1.0
        t0 = float(rng.uniform(0.3, 0.7))
        hc_anchor[k] = (e, t0, side_sign)
        add("health_centre", f"{zh}{_FAC_NAMES['health_centre']}（合成）", near_street(e, t0, side_sign * rng.uniform(15, 30)), k)
        add("aed", f"{zh}社区卫生服务中心AED（合成）", near_street(e, t0, side_sign * rng.uniform(8, 14)), k)
        if not is_under:
            for ftype, p in _AT_CENTRE_P.items():
                if rng.random() < p:
                    t = float(np.clip(t0 + rng.uniform(-0.25, 0.25), 0.05, 0.95))
                    add(ftype, f"{zh}{_FAC_NAMES[ftype]}（合成）", near_street(e, t, side_sign * rng.uniform(10, 40)), k)
        elif rng.random() < 0.85:
            add("tcm_hall", f"{zh}{_FAC_NAMES['tcm_hall']}（合成）", near_street(e, t0, side_sign * rng.uniform(10, 40)), k)

        n_ss = 1 if is_under else int(rng.integers(2, 5))
        for j, e2 in enumerate(rng.choice(cand, size=min(n_ss, cand.size), replace=False)):
            xy = near_street(int(e2), float(rng.uniform(0.2, 0.8)), float(rng.choice([-1, 1]) * rng.uniform(5, 40)))
            add("service_station", f"{zh}第{_cn_number(j + 1)}{_FAC_NAMES['service_station']}（合成）", xy, k)
        if not is_under and rng.random() < 0.3:
            e2 = int(rng.choice(cand))
            add("oral_clinic", f"{zh}第二{_FAC_NAMES['oral_clinic']}（合成）",
                near_street(e2, float(rng.uniform(0.2, 0.8)), float(rng.choice([-1, 1]) * rng.uniform(5, 40))), k)

        # AEDs at public places: inside park and campus entrances, then beside streets
        pop = float(pop_area.get(_area_id(k), 0.0))
        n_aed = max(1, int(round(pop / (15000.0 if is_under else rng.uniform(3000.0, 5000.0))))) - 1
        mine = pub_gate_link[pub_area == k]
        pick = rng.choice(mine, size=min(n_aed, mine.size), replace=False) if mine.size else np.array([], np.int64)
        for j, link in enumerate(pick):
            gx, gy = gates.x[gates.link_gate[link]], gates.y[gates.link_gate[link]]
            ix, iy = inner.x[gates.link_inner[link]], inner.y[gates.link_inner[link]]
            # just inside the entrance, a few metres beside the path
            f = rng.uniform(0.3, 0.7)
            dl = max(math.hypot(ix - gx, iy - gy), 1e-9)
            lateral = rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 6.0)
            ax = gx + f * (ix - gx) - lateral * (iy - gy) / dl
            ay = gy + f * (iy - gy) + lateral * (ix - gx) / dl
            place = rng.choice(_AED_PLACES[int(b.kind[gates.link_block[link]])])
            add("aed", f"{zh}{place}AED{j + 1}号（合成）", (float(ax), float(ay)), k)
        for j in range(n_aed - pick.size):
            e2 = int(rng.choice(cand))
            xy = near_street(e2, float(rng.uniform(0.2, 0.8)), float(rng.choice([-1, 1]) * rng.uniform(5, 20)))
            add("aed", f"{zh}街头AED{j + 1}号（合成）", xy, k)

    # village clinics survive only at the district's fringe
    fringe = np.argsort(-np.hypot(seeds[:, 0] - side / 2, seeds[:, 1] - side / 2))
    fringe = [int(k) for k in fringe if k != under][: max(1, int(round(0.3 * n_areas)))]
    for j, k in enumerate(fringe):
        cand = np.flatnonzero(e_area == k)
        far = cand[centre_dist[cand] >= np.quantile(centre_dist[cand], 0.85)]
        e = int(rng.choice(far))
        xy = near_street(e, float(rng.uniform(0.2, 0.8)), float(rng.choice([-1, 1]) * rng.uniform(5, 40)))
        add("village_clinic", f"{_area_name_zh(k)}{_cn_number(j + 1)}村{_FAC_NAMES['village_clinic']}（合成）", xy, k)

    # every type appears somewhere: add what chance left out at the most populous subdistrict's centre
    present = {r[0] for r in rows}
    top = next(int(a[1:]) - 1 for a in pop_area.sort_values(ascending=False).index if int(a[1:]) - 1 != under)
    for ftype in _FAC_NAMES:
        if ftype not in present:
            e, t0, s = hc_anchor[top]
            add(ftype, f"{_area_name_zh(top)}{_FAC_NAMES[ftype]}（合成）", near_street(e, t0, s * 25.0), top)

    ftype, label, fx, fy, farea = (list(c) for c in zip(*rows))
    lon, lat = frame.to_wgs(np.array(fx), np.array(fy))
    return gpd.GeoDataFrame(
        {
            "id": [f"F{i + 1:05d}" for i in range(len(rows))],
            "name": label,
            "type": ftype,
            "lon": lon,
            "lat": lat,
            "area_id": [_area_id(k) for k in farea],
        },
        geometry=shapely.points(lon, lat),
        crs=WGS84,
    )


# --------------------------------------------------------------------------- OSM XML


def _write_osm(district: DemoDistrict, path: Path) -> None:
    """OSM XML: every graph node and geometry vertex as a node, every edge as a way."""
    raw = district.raw
    off = raw.geom_offsets
    k = off[-1]
    ids = np.empty(k, np.int64)
    interior = np.ones(k, bool)
    interior[off[:-1]] = False
    interior[off[1:] - 1] = False
    ids[off[:-1]] = raw.node_id[raw.edge_u]
    ids[off[1:] - 1] = raw.node_id[raw.edge_v]
    n_int = int(interior.sum())
    first_extra = int(raw.node_id.max()) + 1
    ids[interior] = np.arange(first_extra, first_extra + n_int)

    all_lon = np.concatenate([raw.lon, raw.geom_lon[interior]])
    all_lat = np.concatenate([raw.lat, raw.geom_lat[interior]])
    all_id = np.concatenate([raw.node_id, ids[interior]])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write('<osm version="0.6" generator="planner.demo">\n')
        fh.write(f"<!-- {district.label_zh} / {district.label_en}: {raw.source}. Not real data. -->\n")
        fh.write(
            f'<bounds minlat="{all_lat.min():.7f}" minlon="{all_lon.min():.7f}" '
            f'maxlat="{all_lat.max():.7f}" maxlon="{all_lon.max():.7f}"/>\n'
        )
        fh.writelines(
            f'<node id="{i}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>\n'
            for i, la, lo in zip(all_id.tolist(), all_lat.tolist(), all_lon.tolist())
        )
        id_list = ids.tolist()
        off_list = off.tolist()
        for e, (wid, hw, nm) in enumerate(zip(raw.way_id.tolist(), raw.highway, raw.name)):
            refs = "".join(f'<nd ref="{r}"/>' for r in id_list[off_list[e]:off_list[e + 1]])
            tags = f'<tag k="highway" v={quoteattr(str(hw))}/>'
            if nm:
                tags += f'<tag k="name" v={quoteattr(str(nm))}/>'
            fh.write(f'<way id="{wid}" version="1">{refs}{tags}</way>\n')
        fh.write("</osm>\n")
