"""OpenStreetMap files (XML, .gz, .bz2, PBF) and osmnx graphs -> street graphs, facilities and buildings."""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError, NetworkError, Problem
from .rawgraph import RawGraph
from .walkability import WalkRules, default_walk_rules, find_continuations

logger = logging.getLogger(__name__)

__all__ = [
    "read_osm",
    "raw_from_networkx",
    "read_graphml",
    "osm_facilities",
    "osm_buildings",
    "FacilityRule",
    "FACILITY_RULES",
    "HOSPITAL_TYPE",
    "RESIDENTIAL_BUILDINGS",
    "facility_type_of",
    "facility_rules_markdown",
]

Bbox = tuple[float, float, float, float]

# --------------------------------------------------------------------------------------
# Street filters (after osmnx's network_type="walk"/"bike" Overpass filters)
# --------------------------------------------------------------------------------------
#: highway values never walkable; any value starting with "motor" (motorway, motorway_link) too.
WALK_EXCLUDED_HIGHWAY = frozenset(
    "abandoned bus_guideway construction cycleway no planned platform proposed raceway razed busway".split()
)
#: highway values never cyclable (footway comes back with bicycle=yes|designated).
BIKE_EXCLUDED_HIGHWAY = frozenset(
    "abandoned bus_guideway construction corridor elevator escalator footway no planned platform "
    "proposed raceway razed steps busway".split()
)
_PRIVATE_ACCESS = frozenset(("private", "no"))
_ACCESS_OVERRIDE = frozenset(("yes", "designated", "permissive"))
_ONEWAY_FORWARD = frozenset(("yes", "1", "true"))
_ONEWAY_REVERSE = frozenset(("-1", "reverse"))
_ROUNDABOUT = frozenset(("roundabout", "circular"))

MODES = ("walk", "bike")


def _way_rejection(tags: Mapping[str, str], mode: str) -> str | None:
    """Why a highway way is not part of the ``mode`` network, or None when it is kept."""
    hw = tags.get("highway")
    if not hw:
        return "no highway tag"
    if tags.get("area") == "yes":
        return "area=yes"
    if tags.get("service") == "private":
        return "service=private"
    if mode == "walk":
        # motorways are dropped by the walkability rules (data/walk_rules.toml), which foot=yes or
        # a sidewalk tag can lift
        if hw in WALK_EXCLUDED_HIGHWAY:
            return f"highway={hw}"
        if tags.get("foot") == "no":
            return "foot=no"
        override = tags.get("foot") in _ACCESS_OVERRIDE
    else:
        bicycle = tags.get("bicycle")
        if hw.startswith("motor") or (hw in BIKE_EXCLUDED_HIGHWAY and not (hw == "footway" and bicycle in ("yes", "designated"))):
            return f"highway={hw}"
        if bicycle == "no":
            return "bicycle=no"
        override = bicycle in _ACCESS_OVERRIDE
    if tags.get("access") in _PRIVATE_ACCESS and not override:
        return f"access={tags.get('access')}"
    return None


def _bike_oneway(tags: Mapping[str, str]) -> int:
    """0 two-way, 1 one-way along the way, -1 one-way against the way (for cyclists)."""
    if tags.get("oneway:bicycle") == "no":
        return 0
    ow = tags.get("oneway", "")
    if ow in _ONEWAY_FORWARD:
        return 1
    if ow in _ONEWAY_REVERSE:
        return -1
    if tags.get("junction") in _ROUNDABOUT and ow != "no":
        return 1
    return 0


# --------------------------------------------------------------------------------------
# File access
# --------------------------------------------------------------------------------------
def _osm_file(path: str | Path, error: type[InputError] | type[NetworkError]) -> tuple[Path, Any]:
    """Check ``path`` and return it with an ``osmium.io.File`` whose format is sniffed from its bytes.

    Sniffing (gzip, bzip2, PBF, else XML) makes the file name irrelevant: ``.osm.xml``, ``.xml``
    or a download without suffix all open.
    """
    import osmium

    p = Path(path)
    if not p.exists():
        raise error(f"OSM file not found: {p}", f"找不到 OSM 文件：{p}")
    if not p.is_file():
        raise error(f"Not a file: {p}", f"不是文件：{p}")
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise error(f"Cannot read OSM file {p}: {exc}", f"无法读取 OSM 文件 {p}：{exc}") from None
    if not head:
        raise error(f"OSM file {p} is empty.", f"OSM 文件 {p} 是空的。")
    if head[:2] == b"\x1f\x8b":
        fmt = "osm.gz"
    elif head[:3] == b"BZh":
        fmt = "osm.bz2"
    elif b"OSMHeader" in head[:32]:
        fmt = "pbf"
    else:
        fmt = "osm"
    return p, osmium.io.File(str(p), fmt)


def _unreadable(p: Path, exc: BaseException, error: type[InputError] | type[NetworkError]) -> Exception:
    if "too long" in str(exc):
        # libosmium refuses keys, values, roles and user names over OSM's limit (255 characters)
        return error(
            f"{p}: an OSM tag key or value is longer than OSM allows (255 characters; the reader stops at "
            f"1024 bytes): {exc}. Shorten or remove that tag (e.g. with `osmium tags-filter`) and load the file again.",
            f"{p}：某个 OSM 标签的键或值超过 OSM 允许的长度（255 个字符；读取器上限为 1024 字节）：{exc}。"
            "请缩短或删除该标签（例如用 `osmium tags-filter`）后重新加载。",
        )
    return error(
        f"{p} is not a readable OSM file (XML, .osm.gz, .osm.bz2 or .pbf); it may be truncated or damaged: {exc}",
        f"{p} 不是可读取的 OSM 文件（XML、.osm.gz、.osm.bz2 或 .pbf），可能已截断或损坏：{exc}",
    )


def _check_bbox(bbox: Bbox | None) -> Bbox | None:
    if bbox is None:
        return None
    try:
        b = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        b = ()
    if len(b) != 4 or not all(math.isfinite(v) for v in b) or b[0] > b[2] or b[1] > b[3]:
        raise InputError(
            f"bbox must be (min_lon, min_lat, max_lon, max_lat) in WGS-84 degrees, got {bbox!r}",
            f"bbox 须为 (最小经度, 最小纬度, 最大经度, 最大纬度)（WGS-84 度），实际为 {bbox!r}",
        )
    return b  # type: ignore[return-value]


def _in_bbox(lon: np.ndarray, lat: np.ndarray, bbox: Bbox) -> np.ndarray:
    return (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])


# --------------------------------------------------------------------------------------
# read_osm
# --------------------------------------------------------------------------------------
def read_osm(path: str | Path, *, mode: str = "walk", bbox: Bbox | None = None, rules: WalkRules | None = None) -> RawGraph:
    """Parse the highway ways of an OSM file into a street graph for walking or cycling.

    One pass with pyosmium: node locations are cached in C++ and only ways tagged ``highway``
    reach Python; everything after that is numpy. Ways are split at every node that is shared
    by two or more kept ways (or used twice by one way), at way ends, and where a way turns
    back on itself (``A-B-A``, as osmnx's ``save_graph_xml`` writes two-way streets), so
    graph nodes are intersections and dead ends and intermediate nodes become edge geometry.

    Parameters
    ----------
    path : str or Path
        OSM XML (``.osm``, ``.osm.xml``), gzip/bzip2-compressed XML or PBF. The format is
        detected from the file's first bytes, not its name.
    mode : {"walk", "bike"}
        Which filter to apply (after osmnx's ``network_type`` filters; see ``docs/osm_tags.md``).
        ``walk``: every edge is two-way. ``bike``: ``oneway=yes|1|true|-1`` and roundabouts
        are one-way unless ``oneway:bicycle=no``; ``-1`` ways are reversed so the allowed
        direction is always u -> v.
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        WGS-84 degrees. Keep only edges with at least one end node inside (edges crossing the
        box are kept whole). Useful for Overpass extracts whose relation members run far out.
    rules : WalkRules, optional
        Walkability rules (elevated expressways, road tunnels, motor roads and their ramps);
        default the bundled ``data/walk_rules.toml`` (:func:`planner.walkability.default_walk_rules`).

    Returns
    -------
    RawGraph
        WGS-84 (EPSG:4326) nodes and edges. Edge geometries start exactly at u and end at v.
        ``audit`` holds the kilometres of highway ways dropped, by reason and highway class,
        and the file's generator.

    Raises
    ------
    NetworkError
        The file is missing or unreadable, or no highway way matches ``mode``.

    Notes
    -----
    - A way that refers to a node absent from the file is cut there: the missing node is
      skipped and the parts on either side become separate edges (their ends become graph
      nodes). The number of missing references is logged as a warning.
    - Zero-length self-loops (``A-A``) are dropped. A closed way touching nothing else is kept
      as one self-loop edge (u == v) with its ring as geometry.
    - Duplicate edges (the same node sequence, in either direction for two-way edges) are
      kept once; the count is logged.
    - Ways are not merged across degree-2 nodes of different ways (no topological simplification).
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}", f"mode 须为 {MODES} 之一，实际为 {mode!r}")
    bbox = _check_bbox(bbox)
    rules = rules if rules is not None else default_walk_rules()
    p, src = _osm_file(path, NetworkError)
    parsed = _parse_highways(p, src, mode, rules)
    raw = _build_raw(parsed, mode=mode, bbox=bbox, source=str(p))
    return replace(raw, audit=parsed.audit)


@dataclass
class _Parsed:
    refs: np.ndarray  # int64, all way-node refs of kept ways, flattened
    lon: np.ndarray  # float64, NaN where the node is missing from the file
    lat: np.ndarray
    way_start: np.ndarray  # int64[w+1] offsets of each kept way in the flat arrays
    way_id: np.ndarray  # int64[w]
    oneway: np.ndarray  # bool[w]
    highway: list
    name: list
    audit: dict = field(default_factory=dict)


def _way_lengths_m(lon: np.ndarray, lat: np.ndarray, way_start: np.ndarray) -> np.ndarray:
    """Ground length of every way (WGS-84 ellipsoid), skipping pieces next to missing nodes."""
    from .coords import geodesic_m

    if len(lon) < 2:
        return np.zeros(len(way_start) - 1)
    seg = geodesic_m(np.nan_to_num(lon[:-1]), np.nan_to_num(lat[:-1]), np.nan_to_num(lon[1:]), np.nan_to_num(lat[1:]))
    ok = np.isfinite(lon[:-1]) & np.isfinite(lon[1:])
    way_of = np.repeat(np.arange(len(way_start) - 1), np.diff(way_start))
    ok &= way_of[:-1] == way_of[1:]
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, seg, 0.0))])
    return csum[way_start[1:] - 1] - csum[way_start[:-1]]


def km_by(keys: Sequence[str], classes: Sequence[str], length_m: np.ndarray) -> dict[str, dict[str, float]]:
    """Kilometres summed by (key, highway class): ``{key: {class: km}}``, rounded to metres."""
    out: dict[str, dict[str, float]] = {}
    for k, c, L in zip(keys, classes, np.asarray(length_m, float).tolist()):
        d = out.setdefault(str(k), {})
        d[str(c)] = d.get(str(c), 0.0) + L / 1000.0
    return {k: {c: round(v, 3) for c, v in sorted(d.items())} for k, d in sorted(out.items())}


_GENERATOR = re.compile(rb"""<osm\b[^>]*?\bgenerator\s*=\s*["']([^"']*)["']""", re.S)


def _generator(p: Path, src: Any, fp: Any) -> str:
    """The program that wrote the file (XML: read from the first bytes; else the osmium header)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        head = b""
    if head[:2] != b"\x1f\x8b" and head[:3] != b"BZh" and b"OSMHeader" not in head[:32]:
        m = _GENERATOR.search(head)
        return m.group(1).decode("utf-8", "replace") if m else ""
    return fp.header.get("generator", "") or ""


def _parse_highways(p: Path, src: Any, mode: str, rules: WalkRules) -> _Parsed:
    import osmium

    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    starts = [0]
    way_ids: list[int] = []
    directions: list[int] = []
    highways: list[str] = []
    names: list[str] = []
    reasons: list[str] = []  # "" kept, else why it was dropped
    protected: list[bool] = []
    rule_hit: list[bool] = []
    nan = math.nan
    fp = (
        osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        generator = _generator(p, src, fp)
        for w in fp:
            tags = w.tags
            reason = _way_rejection(tags, mode)
            hit = False
            prot = False
            if reason is None:
                rid, prot = rules.classify(tags, mode)
                if rid is not None:
                    reason, hit = rid, True
            direction = _bike_oneway(tags) if mode == "bike" and reason is None else 0
            wr: list[int] = []
            wx: list[float] = []
            wy: list[float] = []
            for n in w.nodes:
                wr.append(n.ref)
                loc = n.location
                if loc.valid():
                    wx.append(loc.lon)
                    wy.append(loc.lat)
                else:
                    wx.append(nan)
                    wy.append(nan)
            if direction < 0:
                wr.reverse()
                wx.reverse()
                wy.reverse()
            refs.extend(wr)
            lons.extend(wx)
            lats.extend(wy)
            starts.append(len(refs))
            way_ids.append(w.id)
            directions.append(direction)
            highways.append(tags.get("highway", ""))
            names.append(tags.get("name", ""))
            reasons.append(reason or "")
            protected.append(prot)
            rule_hit.append(hit)
    except (RuntimeError, ValueError, OSError, UnicodeError) as exc:  # osmium's C++ errors (length_error -> ValueError)
        raise _unreadable(p, exc, NetworkError) from None

    seen = len(way_ids)
    refs_a = np.asarray(refs, dtype=np.int64)
    lon_a = np.asarray(lons, dtype=np.float64)
    lat_a = np.asarray(lats, dtype=np.float64)
    start_a = np.asarray(starts, dtype=np.int64)
    reason_a = np.asarray(reasons, dtype=object)
    kept = reason_a == ""
    # ground lengths of the ways the audit or the ramp/approach rules need (the kept ones are measured
    # again, as edges, when the network is compiled)
    hw_all = np.asarray(highways, dtype=object)
    nm_all = np.asarray(names, dtype=object)
    rule_hit = np.asarray(rule_hit, bool)
    need = ~kept | np.isin(hw_all, list(rules.ramp_highway) + list(rules.approach_highway))
    if rules.same_name and rule_hit.any():
        need |= np.isin(nm_all, [x for x in set(nm_all[rule_hit].tolist()) if x])
    length = np.zeros(seen)
    if need.any():
        way_of_pt = np.repeat(np.arange(seen), np.diff(start_a))
        sel_pt = need[way_of_pt]
        sub_start = np.concatenate([[0], np.cumsum(np.diff(start_a)[need])]).astype(np.int64)
        length[need] = _way_lengths_m(lon_a[sel_pt], lat_a[sel_pt], sub_start)
    cont = find_continuations(
        rules, refs_a, start_a, highways, names, length,
        kept=kept, protected=np.asarray(protected, bool), rule_dropped=rule_hit,
    )
    for w, why in cont.items():
        reason_a[w] = why
    kept = reason_a == ""
    audit = {
        "generator": generator,
        "dropped_km": km_by(reason_a[~kept], hw_all[~kept], length[~kept]),
        "rules": {"source": rules.source, "digest": rules.digest, "mode": mode},
    }
    rule_ids = set(rules.ids)
    rejected = Counter(
        f"{r} rule: highway={h}" if r in rule_ids else r for r, h in zip(reason_a[~kept].tolist(), hw_all[~kept].tolist())
    )
    logger.debug("%s: %d highway ways seen, %d kept for %s; rejected: %s", p, seen, int(kept.sum()), mode, dict(rejected))
    if not kept.any():
        if seen == 0:
            en = f"{p}: no highway=* ways at all, so no street network can be built for mode '{mode}'."
            zh = f"{p}：文件中没有任何 highway=* 道路，无法为出行方式「{mode}」构建路网。"
        else:
            top = ", ".join(f"{k} ({v})" for k, v in rejected.most_common(5))
            en = f"{p}: none of the {seen} highway ways is usable for mode '{mode}' (rejected: {top})."
            zh = f"{p}：{seen} 条 highway 道路均不适用于出行方式「{mode}」（排除原因：{top}）。"
        raise NetworkError(en, zh)
    # keep the flat arrays of the kept ways only
    way_of = np.repeat(np.arange(seen), np.diff(start_a))
    sel = kept[way_of]
    counts = np.diff(start_a)[kept]
    return _Parsed(
        refs=refs_a[sel],
        lon=lon_a[sel],
        lat=lat_a[sel],
        way_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        way_id=np.asarray(way_ids, dtype=np.int64)[kept],
        oneway=(np.asarray(directions) != 0)[kept],
        highway=[h for h, k in zip(highways, kept) if k],
        name=[nm for nm, k in zip(names, kept) if k],
        audit=audit,
    )


def _haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (spherical Earth, R = 6,371,009 m, as osmnx)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_009.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _build_raw(pp: _Parsed, *, mode: str, bbox: Bbox | None, source: str) -> RawGraph:
    refs, lon, lat = pp.refs, pp.lon, pp.lat
    n_ways = len(pp.way_id)
    way_of = np.repeat(np.arange(n_ways), np.diff(pp.way_start))
    is_way_start = np.zeros(len(refs), dtype=bool)
    is_way_start[pp.way_start[:-1]] = True

    # Missing nodes: drop them and start a new piece after each gap.
    valid = ~np.isnan(lon)
    n_missing = int((~valid).sum())
    if n_missing:
        logger.warning(
            "%s: %d way-node references (%d distinct nodes) point to nodes missing from the file; "
            "the ways were cut there.",
            source, n_missing, len(np.unique(refs[~valid])),
        )
    prev_invalid = np.concatenate([[False], ~valid[:-1]])
    piece_start = (is_way_start | prev_invalid)[valid]
    refs, lon, lat, way_of = refs[valid], lon[valid], lat[valid], way_of[valid]

    # Consecutive repeats of one node inside a piece (A-A) are zero-length: drop the repeat.
    rep = np.zeros(len(refs), dtype=bool)
    rep[1:] = (refs[1:] == refs[:-1]) & ~piece_start[1:]
    refs, lon, lat, way_of, piece_start = refs[~rep], lon[~rep], lat[~rep], way_of[~rep], piece_start[~rep]
    piece = np.cumsum(piece_start) - 1

    # Pieces of a single node carry no edge.
    plen = np.bincount(piece)
    keep = plen[piece] >= 2
    n_short = int((plen < 2).sum())
    refs, lon, lat, way_of, piece = refs[keep], lon[keep], lat[keep], way_of[keep], piece[keep]
    if len(refs) == 0:
        raise NetworkError(
            f"{source}: the {n_ways} usable highway ways have fewer than two known nodes each.",
            f"{source}：{n_ways} 条可用道路均少于两个已知节点。",
        )
    if n_short:
        logger.debug("%s: %d way pieces with a single node dropped", source, n_short)

    n = len(refs)
    first = np.ones(n, dtype=bool)
    first[1:] = piece[1:] != piece[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = piece[:-1] != piece[1:]
    # Use counts across all kept ways (a node used twice by one way also counts twice).
    uniq, inv, counts = np.unique(refs, return_inverse=True, return_counts=True)
    is_node = (counts[inv] >= 2) | first | last
    # Turn-back points (A-B-A): B is a dead end.
    turn = np.zeros(n, dtype=bool)
    turn[1:-1] = (refs[:-2] == refs[2:]) & (piece[:-2] == piece[1:-1]) & (piece[1:-1] == piece[2:])
    is_node |= turn

    pos = np.flatnonzero(is_node)
    a, b = pos[:-1], pos[1:]
    same = piece[a] == piece[b]
    a, b = a[same], b[same]

    # Node table: every ref at a split position.
    node_uid = np.unique(refs[pos])
    u = np.searchsorted(node_uid, refs[a])
    v = np.searchsorted(node_uid, refs[b])
    # Location of each graph node.
    first_pos = np.full(len(node_uid), -1, dtype=np.int64)
    sel = np.searchsorted(node_uid, refs[pos])
    first_pos[sel] = pos  # the same id has the same location everywhere
    node_lon, node_lat = lon[first_pos], lat[first_pos]

    seg_len = np.concatenate([_haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]), [0.0]])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    length = cum[b] - cum[a]
    edge_way = way_of[a]
    oneway = pp.oneway[edge_way] if mode == "bike" else np.zeros(len(a), dtype=bool)

    keep_e = ~((u == v) & (length <= 0.0))
    n_loops0 = int((~keep_e).sum())
    if n_loops0:
        logger.debug("%s: %d zero-length self-loops dropped", source, n_loops0)

    # Duplicates: same node sequence (either direction for two-way edges).
    dup = _duplicate_edges(refs, a, b, oneway, keep_e)
    if dup.any():
        logger.info("%s: %d duplicate edges (same nodes as another edge) dropped", source, int(dup.sum()))
    keep_e &= ~dup

    if bbox is not None:
        inside = _in_bbox(node_lon, node_lat, bbox)
        in_e = inside[u] | inside[v]
        logger.info("%s: bbox keeps %d of %d edges", source, int((in_e & keep_e).sum()), int(keep_e.sum()))
        keep_e &= in_e
        if not keep_e.any():
            raise NetworkError(
                f"{source}: no '{mode}' edge has an end inside bbox {bbox} (lon/lat order?).",
                f"{source}：没有任何「{mode}」路段的端点落在范围 {bbox} 内（经纬度顺序是否颠倒？）。",
            )

    a, b, u, v, edge_way, oneway = a[keep_e], b[keep_e], u[keep_e], v[keep_e], edge_way[keep_e], oneway[keep_e]
    used = np.zeros(len(node_uid), dtype=bool)
    used[u] = True
    used[v] = True
    remap = np.cumsum(used) - 1
    u, v = remap[u], remap[v]

    npts = b - a + 1
    offsets = np.concatenate([[0], np.cumsum(npts)]).astype(np.int64)
    idx = np.repeat(a - offsets[:-1], npts) + np.arange(offsets[-1])
    highway = np.asarray(pp.highway, dtype=object)[edge_way]
    name = np.asarray(pp.name, dtype=object)[edge_way]
    raw = RawGraph(
        node_id=node_uid[used].astype(np.int64),
        lon=node_lon[used],
        lat=node_lat[used],
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        geom_lon=lon[idx],
        geom_lat=lat[idx],
        geom_offsets=offsets,
        oneway=oneway.astype(bool),
        highway=highway,
        name=name,
        way_id=pp.way_id[edge_way].astype(np.int64),
        source=source,
        mode=mode,
    )
    logger.info("%s: %s graph with %d nodes and %d edges", source, mode, raw.n_nodes, raw.n_edges)
    return raw


def _duplicate_edges(refs: np.ndarray, a: np.ndarray, b: np.ndarray, oneway: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Flag edges whose node sequence repeats an earlier edge's (reversed too, unless one-way).

    Numpy narrows candidates to edges sharing end nodes and length; only those few are compared
    element by element.
    """
    m = len(a)
    dup = np.zeros(m, dtype=bool)
    ra, rb = refs[a], refs[b]
    lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
    # one-way edges keep their direction in the key
    k1 = np.where(oneway, ra, lo)
    k2 = np.where(oneway, rb, hi)
    npts = b - a
    key = np.stack([k1, k2, npts, oneway.astype(np.int64)], axis=1)
    idx = np.flatnonzero(candidates)
    if len(idx) < 2:
        return dup
    _, grp, cnt = np.unique(key[idx], axis=0, return_inverse=True, return_counts=True)
    grp = grp.ravel()
    multi = idx[cnt[grp] > 1]
    seen: set[tuple] = set()
    for e in multi:  # few; typically the A-B-A pairs of osmnx-written files
        seq = tuple(refs[a[e] : b[e] + 1].tolist())
        if not oneway[e]:
            seq = min(seq, seq[::-1])
        sig = (bool(oneway[e]), seq)
        if sig in seen:
            dup[e] = True
        else:
            seen.add(sig)
    return dup


# --------------------------------------------------------------------------------------
# osmnx / GraphML
# --------------------------------------------------------------------------------------
def _first(value: Any, default: Any = "") -> Any:
    """osmnx stores merged attributes as lists; take the first element (NaN/None -> default)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else default
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return value


def _as_bool(value: Any) -> bool:
    value = _first(value, False)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def raw_from_networkx(G: Any, *, source: str = "", mode: str = "walk", rules: WalkRules | None = None) -> RawGraph:
    """Convert an osmnx-style networkx graph into a :class:`RawGraph`.

    Parameters
    ----------
    G : networkx.MultiDiGraph (or any networkx graph)
        Node attributes ``x`` / ``y`` (WGS-84 lon / lat degrees); edge attributes ``length``
        (metres, optional), ``geometry`` (shapely LineString in lon/lat, optional: a straight
        line u -> v otherwise), ``highway`` and ``name`` (str or list: the first element is
        used), ``osmid`` (int or list: the first), ``oneway`` (bool).
        The graph is not modified.
    source : str
        Description stored on the result.
    mode : {"walk", "bike"}
        ``walk``: u -> v and v -> u copies of a street collapse to one two-way edge (the shortest
        of those with the same geometry up to direction, to 1e-7 degrees); parallel edges with
        different geometry are kept. ``bike``: edges with ``oneway`` True stay one-way; the two
        directions of a two-way street collapse to one edge as in walk mode.
    rules : WalkRules, optional
        Walkability rules applied to the edges' tags (``highway``, ``bridge``, ``tunnel``,
        ``foot``, ``sidewalk``, ``motorroad``... whatever the graph kept; list values of merged
        edges match when any element does); default the bundled ``data/walk_rules.toml``.
        The graph's own network filter is not repeated.

    Returns
    -------
    RawGraph
        WGS-84 (EPSG:4326). Geometries are oriented from u to v and their end points set to
        the node coordinates. Isolated nodes of ``G`` are kept (and counted in the log).
        ``audit`` holds the kilometres the rules dropped, by rule and highway class.

    Raises
    ------
    NetworkError
        The graph is empty or nodes lack ``x`` / ``y``.
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}", f"mode 须为 {MODES} 之一，实际为 {mode!r}")
    nodes = list(G.nodes)
    if not nodes:
        raise NetworkError(f"The graph {source!r} has no nodes.", f"路网 {source!r} 没有节点。")
    missing = [n for n, d in G.nodes(data=True) if "x" not in d or "y" not in d]
    if missing:
        raise NetworkError(
            f"{len(missing)} nodes of graph {source!r} lack x/y coordinates (e.g. node {missing[0]!r}).",
            f"路网 {source!r} 中有 {len(missing)} 个节点缺少 x/y 坐标（例如节点 {missing[0]!r}）。",
        )
    try:
        node_id = np.asarray([int(n) for n in nodes], dtype=np.int64)
    except (TypeError, ValueError):
        logger.warning("%s: node keys are not integers; numbering nodes 0..n-1", source)
        node_id = np.arange(len(nodes), dtype=np.int64)
    index = {n: i for i, n in enumerate(nodes)}
    xs = np.asarray([float(G.nodes[n]["x"]) for n in nodes])
    ys = np.asarray([float(G.nodes[n]["y"]) for n in nodes])

    rules = rules if rules is not None else default_walk_rules()
    edges = G.edges(keys=True, data=True) if G.is_multigraph() else ((u, v, 0, d) for u, v, d in G.edges(data=True))
    best: dict[tuple, tuple[float, int]] = {}
    rows: list[tuple] = []
    for un, vn, _k, d in edges:
        i, j = index[un], index[vn]
        geom = d.get("geometry")
        if geom is not None:
            coords = np.asarray(geom.coords, dtype=np.float64)[:, :2]
            # orient u -> v (GraphML round trips and hand-made graphs may not)
            d_fwd = abs(coords[0, 0] - xs[i]) + abs(coords[0, 1] - ys[i]) + abs(coords[-1, 0] - xs[j]) + abs(coords[-1, 1] - ys[j])
            d_rev = abs(coords[-1, 0] - xs[i]) + abs(coords[-1, 1] - ys[i]) + abs(coords[0, 0] - xs[j]) + abs(coords[0, 1] - ys[j])
            if d_rev < d_fwd:
                coords = coords[::-1].copy()
            coords[0] = (xs[i], ys[i])
            coords[-1] = (xs[j], ys[j])
        else:
            coords = np.array([[xs[i], ys[i]], [xs[j], ys[j]]])
        length = d.get("length")
        length = float(_first(length, math.nan))
        if not math.isfinite(length):
            length = float(_haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1]).sum())
        one = mode == "bike" and _as_bool(d.get("oneway", False))
        if i == j and length <= 0:
            continue
        rounded = tuple(np.round(coords, 7).ravel().tolist())
        if one:
            key = (True, rounded)
        else:
            back = tuple(np.round(coords[::-1], 7).ravel().tolist())
            key = (False, min(rounded, back))
        rid, prot = rules.classify(d, mode)
        row = (i, j, coords, one, str(_first(d.get("highway"), "")), str(_first(d.get("name"), "")), _first(d.get("osmid"), -1),
               rid or "", prot, length)
        if key in best:
            if length < best[key][0]:
                rows[best[key][1]] = row
                best[key] = (length, best[key][1])
            continue
        best[key] = (length, len(rows))
        rows.append(row)
    if not rows:
        raise NetworkError(f"The graph {source!r} has no edges.", f"路网 {source!r} 没有路段。")
    # the walkability rules, then the ramps and approaches of what they dropped
    reason = np.asarray([r[7] for r in rows], dtype=object)
    hw_all = [r[4] for r in rows]
    name_all = [r[5] for r in rows]
    len_all = np.asarray([r[9] for r in rows], dtype=float)
    hit = reason != ""
    ends = np.asarray([(node_id[r[0]], node_id[r[1]]) for r in rows], dtype=np.int64).ravel()
    cont = find_continuations(
        rules, ends, np.arange(0, 2 * len(rows) + 1, 2), hw_all, name_all, len_all,
        kept=~hit, protected=np.asarray([r[8] for r in rows], bool), rule_dropped=hit,
    )
    for w, why in cont.items():
        reason[w] = why
    kept = reason == ""
    audit = {
        "generator": str(G.graph.get("created_with", "")) if hasattr(G, "graph") else "",
        "dropped_km": km_by(reason[~kept], np.asarray(hw_all, dtype=object)[~kept], len_all[~kept]),
        "rules": {"source": rules.source, "digest": rules.digest, "mode": mode},
    }
    if not kept.any():
        top = ", ".join(f"{k} ({v})" for k, v in Counter(reason.tolist()).most_common(5))
        raise NetworkError(f"None of the {len(rows)} edges of graph {source!r} is usable for mode '{mode}' (dropped: {top}).",
                           f"路网 {source!r} 的 {len(rows)} 条路段均不适用于出行方式「{mode}」（排除原因：{top}）。")
    if not kept.all():
        logger.info("%s: the walkability rules dropped %d of %d edges", source, int((~kept).sum()), len(rows))
    rows = [r for r, k in zip(rows, kept) if k]
    n_iso = sum(1 for n in nodes if G.degree(n) == 0)
    if n_iso:
        logger.info("%s: %d isolated nodes (no edge) kept as they are", source, n_iso)
    npts = np.asarray([len(r[2]) for r in rows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(npts)]).astype(np.int64)
    geom = np.concatenate([r[2] for r in rows])
    try:
        way_id = np.asarray([int(r[6]) for r in rows], dtype=np.int64)
    except (TypeError, ValueError):
        way_id = np.full(len(rows), -1, dtype=np.int64)
    return RawGraph(
        node_id=node_id,
        lon=xs,
        lat=ys,
        edge_u=np.asarray([r[0] for r in rows], dtype=np.int64),
        edge_v=np.asarray([r[1] for r in rows], dtype=np.int64),
        geom_lon=geom[:, 0].copy(),
        geom_lat=geom[:, 1].copy(),
        geom_offsets=offsets,
        oneway=np.asarray([r[3] for r in rows], dtype=bool),
        highway=np.asarray([r[4] for r in rows], dtype=object),
        name=np.asarray([r[5] for r in rows], dtype=object),
        way_id=way_id,
        source=source,
        mode=mode,
        audit=audit,
    )


def read_graphml(path: str | Path, *, mode: str = "walk", rules: WalkRules | None = None) -> RawGraph:
    """Read an osmnx GraphML file (``osmnx.save_graphml``) into a :class:`RawGraph`.

    Parameters
    ----------
    path : str or Path
        GraphML written by osmnx; coordinates WGS-84 lon/lat.
    mode : {"walk", "bike"}
        See :func:`raw_from_networkx`. The graph's own filter is not repeated.
    rules : WalkRules, optional
        See :func:`raw_from_networkx` (default the bundled walkability rules).

    Raises
    ------
    NetworkError
        The file is missing or osmnx cannot read it.
    """
    p = Path(path)
    if not p.is_file():
        raise NetworkError(f"GraphML file not found: {p}", f"找不到 GraphML 文件：{p}")
    import osmnx

    try:
        G = osmnx.load_graphml(p)
    except Exception as exc:  # osmnx/networkx raise many kinds (ParseError, KeyError, ValueError...)
        raise NetworkError(
            f"{p} could not be read as an osmnx GraphML file: {type(exc).__name__}: {exc}",
            f"{p} 无法作为 osmnx GraphML 文件读取：{type(exc).__name__}：{exc}",
        ) from exc
    return raw_from_networkx(G, source=str(p), mode=mode, rules=rules)


# --------------------------------------------------------------------------------------
# Facilities
# --------------------------------------------------------------------------------------
#: Type key given to hospitals; not a planner goal type, returned only when asked for.
HOSPITAL_TYPE = "hospital"


@dataclass(frozen=True)
class FacilityRule:
    """One row of the OSM tag -> facility type table.

    A feature matches when its name contains one of ``names`` and/or it carries one of
    ``tags`` (``(key, values)``; ``values == ("*",)`` means any value). With
    ``require_both`` both must hold; otherwise either suffices. Rules are tried in order and
    the first match wins.
    """

    type: str
    names: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    require_both: bool = False
    note: str = ""

    def matches(self, name: str, tags: Mapping[str, str]) -> bool:
        by_name = any(s in name for s in self.names)
        by_tag = any(k in tags and ("*" in vals or tags[k] in vals) for k, vals in self.tags)
        if self.require_both:
            return by_name and by_tag
        return by_name or by_tag


#: The ordered tag -> type table (first match wins); rendered into docs/osm_tags.md.
FACILITY_RULES: tuple[FacilityRule, ...] = (
    FacilityRule("aed", tags=(("emergency", ("defibrillator",)),)),
    FacilityRule("health_centre", names=("社区卫生服务中心",), note="even when tagged amenity=hospital"),
    FacilityRule(HOSPITAL_TYPE, tags=(("amenity", ("hospital",)), ("healthcare", ("hospital",)), ("building", ("hospital",))),
                 note="returned only if `types` contains 'hospital' (`--type hospital`); otherwise skipped and counted"),
    FacilityRule("fever_sentinel", names=("发热",)),
    FacilityRule("service_station", names=("服务站", "卫生站")),
    FacilityRule("village_clinic", names=("卫生室",)),
    FacilityRule("village_clinic", names=("村",), tags=(("amenity", ("clinic", "doctors")),), require_both=True),
    FacilityRule("rehab_centre", names=("康复",), tags=(("healthcare", ("rehabilitation", "physiotherapist")),)),
    FacilityRule("nursing_centre", names=("护理",), tags=(("healthcare", ("nurse",)),)),
    FacilityRule("health_mgmt_centre", names=("健康管理中心",)),
    FacilityRule("tcm_hall", names=("中医", "国医")),
    FacilityRule("oral_clinic", names=("口腔", "牙科"), tags=(("amenity", ("dentist",)), ("healthcare", ("dentist",)))),
    FacilityRule("service_station", tags=(("amenity", ("clinic", "doctors")), ("healthcare", ("clinic", "doctor", "centre"))),
                 note="a clinic whose name says nothing more specific"),
)

#: A feature is a candidate when it has one of these tags ...
FACILITY_SELECT_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amenity", ("clinic", "hospital", "doctors", "dentist")),
    ("building", ("hospital",)),
    ("healthcare", ("*",)),
    ("emergency", ("defibrillator",)),
)
_NOT_BUILDING_TAGS = tuple(t for t in FACILITY_SELECT_TAGS if t[0] != "building")
#: ... or its name contains one of these. Bare "服务站" is not enough: 社区服务站 (community
#: service office) and 志愿者服务站 are not health facilities.
FACILITY_SELECT_NAMES: tuple[str, ...] = (
    "社区卫生服务中心", "卫生服务站", "卫生站", "卫生室", "康复", "护理", "中医", "口腔", "发热",
)
#: Candidates with these tags are not facilities (pharmacies, shops, schools), unless they are AEDs.
FACILITY_EXCLUDE_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amenity", ("pharmacy", "school", "college", "university", "kindergarten")),
    ("healthcare", ("pharmacy",)),
    ("shop", ("*",)),
)


def _has_any(tags: Mapping[str, str], spec: Iterable[tuple[str, tuple[str, ...]]]) -> str | None:
    for k, vals in spec:
        if k in tags and ("*" in vals or tags[k] in vals):
            return f"{k}={tags[k]}"
    return None


def _feature_name(tags: Mapping[str, str]) -> str:
    return tags.get("name") or tags.get("name:zh") or tags.get("official_name") or ""


def _is_candidate(tags: Mapping[str, str]) -> bool:
    if _has_any(tags, FACILITY_SELECT_TAGS):
        return True
    name = _feature_name(tags)
    return bool(name) and any(s in name for s in FACILITY_SELECT_NAMES)


def facility_type_of(tags: Mapping[str, str]) -> tuple[str | None, str]:
    """Facility type key for one OSM feature's tags, and why.

    Returns
    -------
    (type, reason)
        ``type`` is a key of the planner's facility types, :data:`HOSPITAL_TYPE`, or None when
        the feature is not a facility here; ``reason`` says which rule or exclusion decided.
    """
    if not _is_candidate(tags):
        return None, "no health tag or name"
    name = _feature_name(tags)
    if tags.get("emergency") != "defibrillator":
        excl = _has_any(tags, FACILITY_EXCLUDE_TAGS)
        if excl:
            return None, f"excluded ({excl})"
    for i, rule in enumerate(FACILITY_RULES):
        if rule.matches(name, tags):
            return rule.type, f"rule {i + 1}"
    what = _has_any(tags, FACILITY_SELECT_TAGS) or "name only"
    return None, f"no rule for {what}"


def facility_rules_markdown() -> str:
    """The tag -> type table as Markdown (the table in docs/osm_tags.md)."""
    lines = ["| # | name contains | tags | combine | type | note |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(FACILITY_RULES, 1):
        names = " / ".join(r.names) or "–"
        tags = " or ".join(f"{k}={', '.join(v)}" for k, v in r.tags) or "–"
        combine = "name **and** tag" if r.require_both else ("name **or** tag" if r.names and r.tags else "–")
        lines.append(f"| {i} | {names} | {tags} | {combine} | `{r.type}` | {r.note} |")
    return "\n".join(lines) + "\n"


def _compact_tags(tags: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _norm_name(name: str) -> str:
    """Names compared for merging: width-, case- and space-insensitive, without bracketed notes."""
    import unicodedata

    t = unicodedata.normalize("NFKC", str(name)).lower()
    t = re.sub(r"[(（][^)）]*[)）]", "", t)
    return re.sub(r"[\s·・\-_]+", "", t)


def _merge_places(rows: list[dict], merge_m: float) -> tuple[list[dict], list[tuple[str, str, float]]]:
    """One facility per real place: features of one type within ``merge_m`` metres whose names agree
    (equal after normalising, or one of them unnamed) are one place, and an unnamed
    ``building=hospital`` footprint within ``merge_m`` of any facility is that facility's building.

    The kept feature is the first of: named before unnamed, node (the mapped point of interest)
    before way or area, file order. Returns the kept rows (file order) and ``(kept id, merged id,
    metres)`` for every merged feature.
    """
    from scipy.spatial import cKDTree

    from .coords import geodesic_m

    n = len(rows)
    if n < 2 or merge_m <= 0:
        return rows, []
    lon = np.asarray([r["lon"] for r in rows])
    lat = np.asarray([r["lat"] for r in rows])
    # local metres are enough to find neighbours; the reported distance is geodesic
    x = (lon - lon.mean()) * 111_320.0 * np.cos(np.radians(lat.mean()))
    y = (lat - lat.mean()) * 110_574.0
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(merge_m * 1.01, output_type="ndarray")
    names = [_norm_name(r["name"]) for r in rows]
    building_only = [r.pop("_building_only", False) and not names[i] for i, r in enumerate(rows)]
    parent = list(range(n))
    group_names = [{names[i]} - {""} for i in range(n)]  # at most one real name per place

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dist = geodesic_m(lon[pairs[:, 0]], lat[pairs[:, 0]], lon[pairs[:, 1]], lat[pairs[:, 1]]) if len(pairs) else np.zeros(0)
    for (i, j), d in zip(pairs.tolist(), dist.tolist()):
        if d > merge_m:
            continue
        same_type = rows[i]["type"] == rows[j]["type"]
        names_agree = not names[i] or not names[j] or names[i] == names[j]
        if (same_type and names_agree) or building_only[i] or building_only[j]:
            a, b = find(i), find(j)
            # unnamed features must not chain two differently named places into one
            if a != b and len(group_names[a] | group_names[b]) <= 1:
                lo, hi = min(a, b), max(a, b)
                parent[hi] = lo
                group_names[lo] = group_names[a] | group_names[b]
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    keep: list[int] = []
    merged: list[tuple[str, str, float]] = []
    for members in groups.values():
        # an unnamed building footprint never stands for a group that has a real facility
        best = min(members, key=lambda i: (building_only[i], not names[i], not rows[i]["id"].startswith("n"), i))
        keep.append(best)
        for i in members:
            if i != best:
                d = float(geodesic_m(lon[[best]], lat[[best]], lon[[i]], lat[[i]])[0])
                merged.append((rows[best]["id"], rows[i]["id"], round(d, 1)))
    keep.sort()
    return [rows[i] for i in keep], merged


_SKIPPED_ZH = {"multipolygon not read (file not sorted by id)": "多边形关系未读取（文件未按编号排序）", "node without location": "节点无坐标",
               "area without node locations": "面缺少节点坐标", "way without node locations": "线缺少节点坐标",
               "outside bbox": "在范围框外", "not closed": "未闭合", "missing nodes": "缺少节点"}


def _skipped_reason_zh(reason: str) -> str:
    """A reason of ``osm_facilities``' skipped counter in Chinese (tag values stay as they are)."""
    if reason.startswith("type ") and reason.endswith(" not requested"):
        return f"未请求的类型 {reason.split()[1]}"
    if reason.startswith("excluded ("):
        return "已排除 " + reason[len("excluded "):]
    if reason.startswith("no rule for "):
        return "无匹配规则：" + reason[len("no rule for "):]
    return _SKIPPED_ZH.get(reason, reason)


def _skipped_problem(p: Path, skipped: Counter, kept: int) -> Problem:
    """The bilingual summary of the OSM features that were not taken as facilities, and how to get them."""
    items = ", ".join(f"{k} ({v})" for k, v in skipped.most_common())
    items_zh = "，".join(f"{_skipped_reason_zh(k)} ({v})" for k, v in skipped.most_common())
    hint_en = hint_zh = ""
    not_req = sorted(k.split()[1] for k in skipped if k.startswith("type ") and k.endswith(" not requested"))
    if not_req:
        hint_en = f" To include them, ask for the type(s) {', '.join(not_req)} (e.g. --type {not_req[0]})."
        hint_zh = f"如需包含，请指定类型 {', '.join(not_req)}（例如 --type {not_req[0]}）。"
    total = sum(skipped.values())
    return Problem(
        "osm_facilities_skipped",
        f"{total} OSM feature(s) were not taken as facilities ({kept} kept): {items}.{hint_en}",
        f"{total} 个 OSM 要素未作为设施载入（已载入 {kept} 个）：{items_zh}。{hint_zh}",
        file=str(p),
    )


def osm_facilities(path: str | Path, types: Iterable[str] | None = None, *, bbox: Bbox | None = None,
                   merge_m: float = 150.0):
    """Health facilities and AEDs mapped in an OSM file, as points, one per real place.

    Nodes, ways and multipolygon areas (relations) are candidates when tagged
    ``amenity=clinic|hospital|doctors|dentist``, ``healthcare=*``, ``building=hospital`` or
    ``emergency=defibrillator``, or when their name contains 社区卫生服务中心, 卫生服务站,
    卫生站, 卫生室, 康复, 护理, 中医, 口腔 or 发热. Pharmacies, shops and schools are not
    facilities. Each candidate gets a type from :data:`FACILITY_RULES` (first match wins; see
    ``docs/osm_tags.md``). Hospitals get the type ``"hospital"`` and are returned only when
    ``types`` contains it.

    A hospital mapped both as a node and as an area (or as an area plus its buildings) is one
    place: see ``merge_m``. What was skipped or merged is returned with the result, not only logged.

    Parameters
    ----------
    path : str or Path
        OSM XML / .gz / .bz2 / PBF file.
    types : iterable of str, optional
        Type keys to return; default every planner facility type except ``hospital``.
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        WGS-84 degrees; keep only points inside.
    merge_m : float
        Features of one type within this many metres (geodesic) whose names agree (equal after
        normalising width, case, spaces and bracketed notes, or one unnamed) are one facility; an
        unnamed ``building=hospital`` footprint within it of any facility is that facility's
        building. 0 turns merging off.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with columns ``id`` ("n123" node, "w456" way, "r789" multipolygon),
        ``name``, ``type``, ``osm_tags`` (all tags, ``k=v`` joined by ``;``, keys sorted),
        ``lon``, ``lat`` (degrees), ``source_file``. A way's point is the mean of its distinct
        node locations; an area's, the mean of its outer rings' distinct points. Rows are in file
        order (nodes, then ways, then areas). ``attrs["skipped"]``: ``{reason: count}``;
        ``attrs["merged"]``: ``(kept id, merged id, metres)`` tuples; ``attrs["warnings"]``: a
        tuple of bilingual :class:`~planner._errors.Problem` (code ``osm_facilities_skipped``,
        ``osm_facilities_merged``) for the caller to show.

    Raises
    ------
    InputError
        File missing or unreadable, unknown type keys, or a bad bbox.
    """

    from .config import default_types

    known = set(default_types()) | {HOSPITAL_TYPE}
    if types is None:
        wanted = known - {HOSPITAL_TYPE}
    else:
        wanted = {str(t) for t in ([types] if isinstance(types, str) else types)}
    unknown = sorted(wanted - known)
    if unknown:
        raise InputError(
            f"Unknown facility type keys {unknown}; known: {sorted(known)}",
            f"未知的设施类型键 {unknown}；可用：{sorted(known)}",
        )
    if isinstance(merge_m, bool) or not isinstance(merge_m, (int, float)) or not 0 <= merge_m < 1e5:
        raise InputError(f"merge_m must be a distance in metres >= 0, not {merge_m!r}.",
                         f"merge_m 须为不小于 0 的米数，而非 {merge_m!r}。")
    bbox = _check_bbox(bbox)
    p, src = _osm_file(path, InputError)
    keys = ("amenity", "healthcare", "emergency", "building", "name", "name:zh", "official_name")
    try:
        rows, skipped = _read_facility_features(p, src, keys, wanted, areas=True)
    except (RuntimeError, ValueError, OSError, UnicodeError) as exc:  # osmium's C++ errors (length_error -> ValueError)
        if "out of order" not in str(exc):
            raise _unreadable(p, exc, InputError) from None
        # multipolygon assembly needs a sorted file (hand-made and osmnx-written files often are not)
        logger.info("%s: not sorted by id (%s); multipolygon areas are not read", p, exc)
        try:
            rows, skipped = _read_facility_features(p, _osm_file(path, InputError)[1], keys, wanted, areas=False)
        except (RuntimeError, ValueError, OSError, UnicodeError) as exc2:
            raise _unreadable(p, exc2, InputError) from None
        return _finish_facilities(p, rows, skipped, bbox, merge_m, areas_read=False)
    return _finish_facilities(p, rows, skipped, bbox, merge_m)


_UNSORTED = "multipolygon not read (file not sorted by id)"


def _read_facility_features(p: Path, src: Any, keys: tuple[str, ...], wanted: set[str], *, areas: bool):
    import osmium

    rows: list[dict] = []
    skipped: Counter[str] = Counter()
    if areas:
        fp = (
            osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION)
            .with_locations()
            .with_areas(osmium.filter.KeyFilter(*keys))
            .with_filter(osmium.filter.KeyFilter(*keys))
        )
    else:
        fp = (
            osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter(*keys))
        )
    for obj in fp:
        if obj.is_relation():
            # with areas, multipolygons come back as areas; without, they are counted as not read
            if not areas and obj.tags.get("type") == "multipolygon" and facility_type_of(dict(obj.tags))[0] in wanted:
                skipped[_UNSORTED] += 1
            continue
        if obj.is_area() and obj.from_way():
            continue  # closed ways are read as ways
        tags = dict(obj.tags)
        ftype, reason = facility_type_of(tags)
        if ftype is None:
            if reason != "no health tag or name":
                skipped[reason] += 1
            continue
        if ftype not in wanted:
            skipped[f"type {ftype} not requested"] += 1
            continue
        if obj.is_node():
            if not obj.location.valid():
                skipped["node without location"] += 1
                continue
            fid, lon, lat = f"n{obj.id}", obj.location.lon, obj.location.lat
        elif obj.is_area():
            pts = {(n.location.lon, n.location.lat) for ring in obj.outer_rings() for n in ring if n.location.valid()}
            if not pts:
                skipped["area without node locations"] += 1
                continue
            xy = np.asarray(sorted(pts))
            fid, lon, lat = f"r{obj.orig_id()}", float(xy[:, 0].mean()), float(xy[:, 1].mean())
        else:
            pts = {n.ref: (n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()}
            if not pts:
                skipped["way without node locations"] += 1
                continue
            xy = np.asarray(list(pts.values()))
            fid, lon, lat = f"w{obj.id}", float(xy[:, 0].mean()), float(xy[:, 1].mean())
        building_only = tags.get("building") == "hospital" and not _has_any(tags, _NOT_BUILDING_TAGS)
        rows.append({"id": fid, "name": _feature_name(tags), "type": ftype, "osm_tags": _compact_tags(tags),
                     "lon": lon, "lat": lat, "source_file": str(p), "_building_only": building_only})
    return rows, skipped


def _finish_facilities(p: Path, rows: list[dict], skipped: Counter, bbox: Bbox | None, merge_m: float, *,
                       areas_read: bool = True):
    import geopandas as gpd

    if bbox is not None and rows:
        n0 = len(rows)
        rows = [r for r in rows if bbox[0] <= r["lon"] <= bbox[2] and bbox[1] <= r["lat"] <= bbox[3]]
        if n0 - len(rows):
            skipped["outside bbox"] += n0 - len(rows)
    rows, merged = _merge_places(rows, float(merge_m))
    for r in rows:
        r.pop("_building_only", None)
    warnings_: list[Problem] = []
    if skipped:
        # nothing kept but something skipped is what a user must see; otherwise it is detail
        (logger.warning if not rows else logger.info)("%s: %d facilities kept; skipped: %s", p, len(rows), dict(skipped))
        warnings_.append(_skipped_problem(p, skipped, len(rows)))
    if merged:
        logger.info("%s: %d features merged into the facility they map twice: %s", p, len(merged), merged[:10])
        listed = "; ".join(f"{b} -> {a} ({d:g} m)" for a, b, d in merged[:10]) + (" ..." if len(merged) > 10 else "")
        warnings_.append(Problem(
            "osm_facilities_merged",
            f"{len(merged)} OSM feature(s) map a facility that is already there (a node and an area of one hospital, or "
            f"its buildings) and were merged into it: {listed}.",
            f"{len(merged)} 个 OSM 要素与已有设施为同一处（同一医院的点和面，或其楼宇），已合并：{listed}。",
            file=str(p),
        ))
    if not areas_read and skipped.get(_UNSORTED):
        warnings_.append(Problem(
            "osm_areas_not_read",
            "The file is not sorted by element id, so facilities mapped as multipolygon relations were not read; "
            "sort it first (osmium sort in.osm -o sorted.osm) to include them.",
            "文件未按要素编号排序，因此未读取以多边形关系（multipolygon）绘制的设施；如需包含，请先排序（osmium sort in.osm -o sorted.osm）。",
            file=str(p),
        ))
    cols = ["id", "name", "type", "osm_tags", "lon", "lat", "source_file"]
    df = gpd.GeoDataFrame(rows, columns=cols) if rows else gpd.GeoDataFrame({c: [] for c in cols})
    df["lon"] = df["lon"].astype(float)
    df["lat"] = df["lat"].astype(float)
    out = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    out.attrs["skipped"] = dict(skipped)
    out.attrs["merged"] = tuple(merged)
    out.attrs["warnings"] = tuple(warnings_)
    return out


# --------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------
#: building=* values counted as residential on their own.
RESIDENTIAL_BUILDINGS = frozenset(
    ("residential", "apartments", "house", "dormitory", "detached", "terrace", "semidetached_house")
)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _levels(value: str | None) -> float:
    """First number in a building:levels value ("6", "5.5", "3;4", "12 floors"), NaN if none."""
    if not value:
        return math.nan
    m = _NUMBER.search(value.replace(",", "."))
    return float(m.group()) if m else math.nan


def _polygons(rings: list[np.ndarray]) -> np.ndarray:
    """Polygons from closed lon/lat rings, built in one vectorised shapely call."""
    import shapely

    if not rings:
        return np.asarray([], dtype=object)
    flat = np.concatenate(rings)
    which = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    return shapely.polygons(shapely.linearrings(flat, indices=which))


def osm_buildings(path: str | Path, *, bbox: Bbox | None = None):
    """Building footprints from closed OSM ways, flagged residential, for a floor-area demand proxy.

    Only closed ways tagged ``building=*`` (not ``building=no``) are read; multipolygon
    relations (buildings with courtyards, large complexes) are skipped, as are unclosed
    ways and ways with nodes missing from the file (both counted in the log).

    Parameters
    ----------
    path : str or Path
        OSM XML / .gz / .bz2 / PBF file.
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        WGS-84 degrees; keep buildings whose centroid lies inside.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 polygons with columns ``id`` ("w123"), ``building`` (tag value), ``levels``
        (float from ``building:levels``, NaN when absent or unreadable) and ``residential``
        (bool: the building value is one of :data:`RESIDENTIAL_BUILDINGS`, or its centroid lies
        in a closed ``landuse=residential`` way).

    Raises
    ------
    InputError
        File missing or unreadable, or a bad bbox.
    """
    import geopandas as gpd
    import osmium
    import shapely

    bbox = _check_bbox(bbox)
    p, src = _osm_file(path, InputError)
    ids: list[str] = []
    values: list[str] = []
    levels: list[float] = []
    rings: list[np.ndarray] = []
    landuse: list[np.ndarray] = []
    skipped: Counter[str] = Counter()
    fp = (
        osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("building", "landuse"))
    )
    try:
        for w in fp:
            tags = w.tags
            bval = tags.get("building")
            is_res_landuse = tags.get("landuse") == "residential"
            if (not bval or bval == "no") and not is_res_landuse:
                continue
            nodes = w.nodes
            if len(nodes) < 4 or nodes[0].ref != nodes[len(nodes) - 1].ref:
                skipped["not closed"] += 1
                continue
            if not all(n.location.valid() for n in nodes):
                skipped["missing nodes"] += 1
                continue
            ring = np.asarray([(n.location.lon, n.location.lat) for n in nodes])
            if is_res_landuse:
                landuse.append(ring)
            if bval and bval != "no":
                ids.append(f"w{w.id}")
                values.append(bval)
                levels.append(_levels(tags.get("building:levels")))
                rings.append(ring)
    except (RuntimeError, ValueError, OSError, UnicodeError) as exc:  # osmium's C++ errors (length_error -> ValueError)
        raise _unreadable(p, exc, InputError) from None
    if skipped:
        logger.info("%s: building/landuse ways skipped: %s", p, dict(skipped))
    geoms = _polygons(rings)
    res = np.isin(np.asarray(values, dtype=object), list(RESIDENTIAL_BUILDINGS)) if values else np.zeros(0, dtype=bool)
    if len(geoms):
        cent = shapely.centroid(geoms)
        if landuse:
            lu = shapely.make_valid(_polygons(landuse))
            tree = shapely.STRtree(lu)
            hit, _ = tree.query(cent, predicate="within")
            res[np.unique(hit)] = True
        keep = np.ones(len(geoms), dtype=bool)
        if bbox is not None:
            keep = _in_bbox(shapely.get_x(cent), shapely.get_y(cent), bbox)
    else:
        keep = np.zeros(0, dtype=bool)
    df = gpd.GeoDataFrame(
        {
            "id": np.asarray(ids, dtype=object)[keep],
            "building": np.asarray(values, dtype=object)[keep],
            "levels": np.asarray(levels, dtype=np.float64)[keep],
            "residential": res[keep].astype(bool),
        },
        geometry=np.asarray(geoms, dtype=object)[keep] if len(geoms) else [],
        crs="EPSG:4326",
    )
    logger.info("%s: %d buildings (%d residential)", p, len(df), int(df["residential"].sum()))
    return df.reset_index(drop=True)
