"""App session logic without a UI: the demo study, uploads kept safe, proposed sites, what-if tracking and exports.

Everything the Streamlit app needs beyond :func:`planner.scenario.run` and the siting engine
lives here, so a notebook or a test can drive the same steps. Nothing here imports streamlit
or folium. Functions return new objects; a cached :class:`~planner.scenario.Study` (and its
compiled network, shared between sessions) is never mutated.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from ._errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_UPLOAD_MB",
    "UPLOAD_SUFFIXES",
    "max_upload_mb",
    "app_data_dir",
    "safe_filename",
    "save_upload",
    "prune_uploads",
    "compiled_networks",
    "demo_study",
    "network_study",
    "place_study",
    "replace_facilities",
    "replace_demand",
    "replace_areas",
    "LayerFile",
    "apply_layers",
    "study_area",
    "study_label",
    "OUTSIDE_TOLERANCE_M",
    "Proposal",
    "with_proposals",
    "proposals_frame",
    "next_site_id",
    "WhatIfTracker",
    "area_frame",
    "type_stats",
    "bands_frame",
    "areas_display",
    "ExportItem",
    "export_items",
    "study_key",
    "area_key",
    "to_sites",
    "from_sites",
    "newly_covered_cells",
]

#: Default upload limit, megabytes (``PLANNER_MAX_UPLOAD_MB`` overrides it).
DEFAULT_MAX_UPLOAD_MB = 200.0

#: Accepted file endings per upload kind (lower case). Anything else is refused before it is written.
UPLOAD_SUFFIXES: dict[str, tuple[str, ...]] = {
    "network": (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".graphml"),
    "facilities": (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".geojson", ".json", ".gpkg", ".zip"),
    "demand": (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".geojson", ".json", ".gpkg", ".zip"),
    "areas": (".geojson", ".json", ".gpkg", ".zip"),
}
UPLOAD_SUFFIXES["boundaries"] = UPLOAD_SUFFIXES["areas"]  # the older name of the same kind


# ============================================================================ limits and uploads
def max_upload_mb() -> float:
    """The upload size limit in MB: ``$PLANNER_MAX_UPLOAD_MB`` or :data:`DEFAULT_MAX_UPLOAD_MB`."""
    raw = os.environ.get("PLANNER_MAX_UPLOAD_MB", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        logger.warning("PLANNER_MAX_UPLOAD_MB=%r is not a number; using %g", raw, DEFAULT_MAX_UPLOAD_MB)
        value = DEFAULT_MAX_UPLOAD_MB
    return value if value > 0 else DEFAULT_MAX_UPLOAD_MB


def app_data_dir() -> Path:
    """The app's data folder (created): ``$PLANNER_DATA`` or ``~/.local/share/coverage-planner``.

    The same folder holds the scenario store (:func:`planner.store.default_store_path`).
    """
    raw = os.environ.get("PLANNER_DATA")
    path = Path(raw).expanduser() if raw else Path.home() / ".local" / "share" / "coverage-planner"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _suffix_of(name: str, allowed: Iterable[str]) -> str | None:
    low = name.lower()
    for s in sorted(allowed, key=len, reverse=True):  # ".osm.pbf" before ".pbf"
        if low.endswith(s):
            return s
    return None


def safe_filename(name: str, *, max_len: int = 80) -> str:
    """A file name safe to write: the last path component, letters/digits/CJK, ``-``, ``_`` and ``.`` only.

    Directory parts (``../``, ``C:\\``), control characters, spaces and leading dots are removed,
    so the result can never point outside the folder it is joined to.
    """
    base = PureWindowsPath(PurePosixPath(str(name)).name).name
    base = unicodedata.normalize("NFKC", base)
    base = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._")
    base = re.sub(r"\.{2,}", ".", base)
    if len(base) > max_len:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: max_len - len(ext) - 1] + "." + ext) if dot and len(ext) < 12 else base[:max_len]
    return base or "upload"


def save_upload(name: str, data: bytes, *, kind: str, data_dir: str | Path | None = None,
                max_mb: float | None = None) -> Path:
    """Write an uploaded file under ``<data_dir>/uploads`` and return its path.

    The file is refused (``InputError``, nothing written) when it is larger than ``max_mb``
    (default :func:`max_upload_mb`) or its ending is not one of ``UPLOAD_SUFFIXES[kind]``. The
    stored path is ``uploads/<sha256 prefix>/<sanitised name>``: a user-supplied name never becomes
    a path, messages name the file as the user knows it, and the same content maps to the same
    file (so results cached on the path stay valid).
    Uploads are only ever read as data, never executed or imported.

    Parameters
    ----------
    name : str
        The name the browser sent (only used, sanitised, as a label).
    data : bytes
    kind : {'network', 'facilities', 'demand', 'areas'} (``'boundaries'`` is accepted as ``'areas'``)
    """
    if kind not in UPLOAD_SUFFIXES:
        raise ValueError(f"unknown upload kind {kind!r}")
    limit = float(max_mb if max_mb is not None else max_upload_mb())
    size_mb = len(data) / 1e6
    if size_mb > limit:
        raise InputError(
            f"{safe_filename(name)}: {size_mb:.1f} MB is larger than the upload limit of {limit:g} MB "
            "(PLANNER_MAX_UPLOAD_MB). Cut the file to the study area or raise the limit.",
            f"{safe_filename(name)}：文件 {size_mb:.1f} MB，超过上传上限 {limit:g} MB（PLANNER_MAX_UPLOAD_MB）。"
            "请裁剪到研究范围或调高上限。",
        )
    allowed = UPLOAD_SUFFIXES[kind]
    safe = safe_filename(name)
    if _suffix_of(safe, allowed) is None:
        raise InputError(
            f"{safe}: this file type is not accepted here; use one of {', '.join(allowed)}.",
            f"{safe}：此处不接受该文件类型；请使用 {'、'.join(allowed)}。",
        )
    folder = Path(data_dir) if data_dir is not None else app_data_dir()
    folder = (folder / "uploads").resolve()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = (folder / digest / safe).resolve()
    if target.parent.parent != folder:  # cannot happen after safe_filename; a cheap belt and braces
        raise InputError("Refused an upload name that points outside the data folder.", "拒绝了指向数据目录之外的上传文件名。")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        fd, tmp = tempfile.mkstemp(prefix=".upload.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o600)  # data, never executable
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        os.utime(target)  # in use again: prune_uploads counts a day from the last upload, not the first
    logger.info("upload %r (%s, %d bytes) stored as %s", safe_filename(name), kind, len(data), target)
    return target


def prune_uploads(data_dir: str | Path | None = None, *, max_age_s: float = 86400.0, keep: Iterable = (),
                  now: float | None = None) -> list[Path]:
    """Remove stored uploads not uploaded again for ``max_age_s`` seconds (default a day).

    Looks only under ``<data_dir>/uploads`` (default :func:`app_data_dir`), at the
    ``<sha256 prefix>/<name>`` files :func:`save_upload` writes and at temporary files a crash
    left; folders emptied are removed too. Paths in ``keep`` (the uploads the live sessions
    use) stay whatever their age. Each removal is logged with its size.

    Parameters
    ----------
    data_dir : path, optional
    max_age_s : float
        Age in seconds, from the file's last upload (its modification time). ``0`` removes
        every upload not in ``keep``: what an app does when its last session ends.
    keep : iterable of paths
    now : float, optional
        The current time (``time.time()``), for tests.

    Returns
    -------
    list of Path
        The files removed.
    """
    import time

    from . import _validate as V

    max_age_s = V.number(max_age_s, name="max_age_s", unit_en="(seconds)", unit_zh="秒", minimum=0.0)
    folder = (Path(data_dir) if data_dir is not None else app_data_dir()) / "uploads"
    if not folder.is_dir():
        return []
    now = time.time() if now is None else float(now)
    keep_set = {Path(k).resolve() for k in keep}
    removed: list[Path] = []
    for sub in sorted(folder.iterdir()):
        if not sub.is_dir() or sub.is_symlink():
            continue
        for f in sorted(sub.iterdir()):
            try:
                st = f.lstat()
            except FileNotFoundError:
                continue
            if f.is_dir() or f.resolve() in keep_set or now - st.st_mtime < max_age_s:
                continue
            try:
                f.unlink()
            except FileNotFoundError:  # another session removed it first
                continue
            logger.info("removed upload %s (%d bytes, last uploaded %.0f s ago)", f, st.st_size, now - st.st_mtime)
            removed.append(f)
        try:
            sub.rmdir()  # only when empty
        except OSError:
            pass
    return removed


def compiled_networks(cache_dir: str | Path | None = None) -> list[Path]:
    """Compiled networks (``*.npz``) already in the cache folder, newest first."""
    from .network import default_cache_dir

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)


# ============================================================================ studies
def demo_study(*, seed: int = 7, scale: float = 1.0):
    """The bundled synthetic district as a Study (what ``python -m planner coverage --demo`` builds)."""
    from .demand import demand_from_points
    from .demo import make_district
    from .network import compile_network
    from .scenario import Study

    d = make_district(seed=seed, scale=scale)
    net = compile_network(d.raw)
    return Study(networks={"walk": net}, facilities=d.facilities, demand=demand_from_points(d.demand),
                 areas=d.areas, label=f"{d.label_zh} / {d.label_en}",
                 meta={"synthetic": True, "source": "demo", "label_zh": d.label_zh, "label_en": d.label_en})


def study_label(study, lang: str = "zh") -> str:
    """The study's label in one language (``meta['label_zh'/'label_en']`` when given, else ``label``)."""
    meta = getattr(study, "meta", None) or {}
    return str(meta.get(f"label_{lang}") or study.label)


def _empty_facilities():
    import geopandas as gpd

    return gpd.GeoDataFrame({"id": pd.Series(dtype=str), "name": pd.Series(dtype=str), "type": pd.Series(dtype=object),
                             "lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float)}, geometry=[], crs=4326)


def network_study(path: str | Path, *, label: str | None = None, cache_dir: str | Path | None = None):
    """A Study on a network file (OSM, GraphML or compiled .npz).

    Facilities are the health facilities mapped in an OSM file (none for GraphML/.npz: upload
    them); demand is the labelled proxy weighted by the file's residential buildings when it has
    any.
    """
    from ._errors import PlannerError
    from .cli import io_is_osm
    from .demand import proxy_demand
    from .network import load_network
    from .scenario import Study

    path = Path(path)
    net = load_network(path, mode="walk", cache_dir=cache_dir)
    facilities, buildings = _empty_facilities(), None
    if io_is_osm(path):
        from .osm import osm_buildings, osm_facilities

        try:
            found = osm_facilities(path)
            if len(found):
                facilities = found
        except PlannerError as exc:
            logger.warning("no facilities read from %s: %s", path.name, exc.message("en"))
        try:
            buildings = osm_buildings(path)
        except PlannerError:
            buildings = None
    shown = label or path.name
    return Study(networks={"walk": net}, facilities=facilities, demand=proxy_demand(net, buildings=buildings),
                 areas=None, label=shown, meta={"source": "file"})


def place_study(place: str, *, progress=None, cache_dir: str | Path | None = None):
    """A Study on a network downloaded by place name (raises ``OfflineError`` with no internet)."""
    from .demand import proxy_demand
    from .network import download_network
    from .scenario import Study

    net = download_network(place, mode="walk", cache_dir=cache_dir, progress=progress)
    return Study(networks={"walk": net}, facilities=_empty_facilities(), demand=proxy_demand(net), areas=None,
                 label=place, meta={"source": "place"})


#: How far outside the study area an uploaded point may lie, metres (the CLI's ``--outside-tolerance-m``).
OUTSIDE_TOLERANCE_M = 1000.0


def study_area(study):
    """The network's extent (WGS-84 polygon), as the CLI uses it: uploaded points are checked
    against it with :data:`OUTSIDE_TOLERANCE_M`; boundary files are cut to the areas that intersect it."""
    return study.networks["walk"].extent_lonlat


def replace_facilities(study, gdf):
    """The study with its facilities of the types in ``gdf`` replaced by ``gdf``'s rows.

    Types absent from ``gdf`` keep their facilities. Ids repeated across the kept and new rows
    raise ``InputError`` naming them.
    """
    import geopandas as gpd

    new_types = set(gdf["type"].dropna().astype(str))
    old = study.facilities
    kept = old[~old["type"].astype(str).isin(new_types)] if len(old) else old
    cols = ["id", "name", "type", "lon", "lat", "geometry"]
    parts = [f[[c for c in cols if c in f.columns]] for f in (kept, gdf) if len(f)]
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326) if parts else _empty_facilities()
    dup = merged["id"].astype(str).duplicated(keep=False)
    if dup.any():
        ids = sorted(set(merged.loc[dup, "id"].astype(str)))[:10]
        raise InputError(f"Facility ids appear twice after loading: {ids}. Give each facility a unique id.",
                         f"载入后设施编号重复：{ids}。请为每个设施设置唯一编号。")
    return replace(study, facilities=merged)


def replace_demand(study, demand):
    """The study with another :class:`~planner.demand.Demand`."""
    return replace(study, demand=demand)


def replace_areas(study, areas):
    """The study with other area polygons (``area_id``, ``name``, geometry) and demand re-assigned to them."""
    from .demand import assign_areas

    g = study.demand.gdf.copy()
    g["area_id"] = None
    demand = replace(study.demand, gdf=g)
    return replace(study, areas=areas, demand=assign_areas(demand, areas) if areas is not None else demand)


@dataclass(frozen=True)
class LayerFile:
    """An uploaded layer as the app remembers it (all fields hashable, so it can key a cache).

    Attributes
    ----------
    kind : ``facilities``, ``demand`` or ``areas``.
    path : the stored upload (under the app data folder).
    name : the name shown to the user (sanitised).
    coords : coordinate system of the file (``wgs84``, ``gcj02``, ``bd09``).
    default_type : facility type for files without a type column.
    skip_invalid : load the valid rows and report the others.
    """

    kind: str
    path: str
    name: str
    coords: str = "wgs84"
    default_type: str | None = None
    skip_invalid: bool = False


def apply_layers(study, layers: Iterable[LayerFile]):
    """Read the uploaded layers into the study, in order; returns ``(study, notes)``.

    Facilities replace the study's facilities of the same types; a demand file replaces the
    demand (polygons are spread to points along the streets); boundaries replace the areas.
    ``notes`` are :class:`planner.Problem` items (warnings, skipped-row counts) to show in either
    language. Any unusable file raises :class:`planner.PlannerError` with every problem located.
    """
    from . import io
    from ._errors import Problem
    from .demand import areas_in_extent, demand_from_points, demand_from_polygons

    notes: list = []
    area = study_area(study)
    areas_given = False
    rows: dict[str, int] = {}
    for lf in layers:
        if lf.kind == "facilities":
            table = io.read_facilities(lf.path, types=study.types, coords=lf.coords, default_type=lf.default_type,
                                       skip_invalid=lf.skip_invalid, study_area=area,
                                       study_area_buffer_m=OUTSIDE_TOLERANCE_M)
            study = replace_facilities(study, table.gdf)
        elif lf.kind == "demand":
            table = io.read_demand(lf.path, coords=lf.coords, skip_invalid=lf.skip_invalid, study_area=area,
                                   study_area_buffer_m=OUTSIDE_TOLERANCE_M)
            g = table.gdf
            if len(g) and g.geom_type.isin(["Polygon", "MultiPolygon"]).all():
                demand = demand_from_polygons(study.networks["walk"], g)
            else:
                demand = demand_from_points(g)
            study = replace_demand(study, demand)
        elif lf.kind in ("areas", "boundaries"):
            areas = io.read_boundaries(lf.path)
            notes.extend(areas.attrs.get("warnings", ()))
            areas, left_out = areas_in_extent(areas, area, lf.name)
            if left_out:
                notes.append(Problem(
                    "areas_outside_study",
                    f"{left_out} of {left_out + len(areas)} areas lie outside the street network and are left out",
                    f"{left_out + len(areas)} 个区域中有 {left_out} 个位于路网范围之外，未计入", file=lf.name))
            study = replace_areas(study, areas)
            rows[lf.path] = len(areas)
            areas_given = True
            continue
        else:
            raise ValueError(f"unknown layer kind {lf.kind!r}")
        rows[lf.path] = len(table.gdf)
        notes.extend(table.warnings)
        if len(table.rejected):
            n = int(table.rejected["row"].nunique())
            notes.append(Problem("rows_skipped", f"skipped {n} invalid rows", f"跳过 {n} 行有误的数据", file=lf.name))
    if rows:
        study = replace(study, meta={**(study.meta or {}), "layer_rows": rows})
    if areas_given:  # the boundaries are the study area: residents beyond them leave the statistics
        from .demand import clip_to_areas

        demand, out = clip_to_areas(study.demand, study.areas)
        if out["points"]:
            study = replace_demand(study, demand)
            notes.append(Problem(
                "demand_outside_areas",
                f"{out['points']} demand points (population {out['population']:,.0f}) lie outside the boundaries and are left out",
                f"{out['points']} 个需求点（人口 {out['population']:,.0f}）位于边界之外，未计入统计",
            ))
    return study, notes


def study_key(study, *parts) -> str:
    """A short stable key of a study's inputs (label, facility ids/types/coordinates, demand size) plus ``parts``."""
    h = hashlib.sha256()
    h.update(str(study.label).encode())
    fac = study.facilities
    if len(fac):
        h.update(pd.util.hash_pandas_object(fac[["id", "type", "lon", "lat"]].astype(str), index=False).values.tobytes())
    d = study.demand.gdf
    h.update(f"{len(d)}:{float(d['population'].sum()):.6f}".encode())
    h.update(f"areas:{0 if study.areas is None else len(study.areas)}".encode())
    h.update(str(id(study.networks["walk"])).encode())
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:20]


# ============================================================================ proposals
@dataclass(frozen=True)
class Proposal:
    """A proposed new site.

    Attributes
    ----------
    site_id : unique id (``P1``, ``P2`` ...).
    type : facility type key.
    lon, lat : WGS-84 degrees.
    source : ``click``, ``optimised`` or ``file`` (the origins of :class:`planner.store.Site`).
    """

    site_id: str
    type: str
    lon: float
    lat: float
    source: str = "click"


def next_site_id(proposals: Iterable[Proposal], prefix: str = "P") -> str:
    """The next free id ``P<n>``."""
    used = {p.site_id for p in proposals}
    n = len(used) + 1
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"


def with_proposals(study, proposals: Iterable[Proposal]):
    """The study with the proposed sites added as facilities (``proposed`` = True, name = the site id)."""
    import geopandas as gpd

    props = list(proposals)
    if not props:
        return study
    add = pd.DataFrame({
        "id": [p.site_id for p in props], "name": [p.site_id for p in props], "type": [p.type for p in props],
        "lon": [float(p.lon) for p in props], "lat": [float(p.lat) for p in props],
    })
    fac = study.facilities
    base = fac.assign(proposed=False) if len(fac) else fac
    add_g = gpd.GeoDataFrame(add.assign(proposed=True), geometry=gpd.points_from_xy(add["lon"], add["lat"]), crs=4326)
    merged = gpd.GeoDataFrame(pd.concat([base, add_g], ignore_index=True), geometry="geometry", crs=4326)
    return replace(study, facilities=merged)


def proposals_frame(proposals: Iterable[Proposal], marginal: dict | None = None) -> pd.DataFrame:
    """``id, rank, type, lon, lat, marginal_demand, source`` for the map's proposals layer and tables."""
    props = list(proposals)
    marginal = marginal or {}
    return pd.DataFrame({
        "id": [p.site_id for p in props],
        "rank": list(range(1, len(props) + 1)),
        "type": [p.type for p in props],
        "lon": [p.lon for p in props],
        "lat": [p.lat for p in props],
        "marginal_demand": [float(marginal.get(p.site_id, float("nan"))) for p in props],
        "source": [p.source for p in props],
    })


class WhatIfTracker:
    """Keeps a :class:`planner.siting.WhatIf` in step with a list of proposed sites of one type.

    Built once from a baseline :class:`~planner.scenario.CoverageResult` (existing facilities of
    the type are open); :meth:`sync` then adds the sites that are new in the list and removes the
    ones that left it, each in milliseconds. The shared network is only read.

    Attributes
    ----------
    type_key : the facility type.
    baseline_share : coverage share of the existing facilities.
    marginal : {site id: demand newly covered when it was added}.
    last : the :class:`planner.siting.WhatIfDelta` of the latest edit, or None.
    """

    def __init__(self, result, type_key: str):
        from .siting import WhatIf

        cov = result.coverage[type_key]
        ftype = result.goals[type_key]
        net = result.study.network_for(ftype)
        pop = result.demand_table["population"].to_numpy(float)
        self.type_key = type_key
        self.whatif = WhatIf(net, cov.fac_snap, result.dem_snaps[net.mode], pop, ftype,
                             facility_ids=cov.facility_ids, demand_ids=result.demand_table["id"].to_numpy())
        self.baseline_share = float(self.whatif.share)
        self.marginal: dict[str, float] = {}
        self.last = None
        self._sites: dict[str, tuple[float, float]] = {}
        self._internal: dict[str, str] = {}  # site id -> id inside the WhatIf
        self._serial = 0

    @property
    def share(self) -> float:
        """Current coverage share with the synced proposals."""
        return float(self.whatif.share)

    def sync(self, proposals: Iterable[Proposal]) -> list:
        """Apply the difference between the tracked sites and ``proposals`` (of this type); returns the deltas.

        A site removed and later proposed again (undo, a loaded scenario) is opened under a fresh
        internal id, since :class:`~planner.siting.WhatIf` never reuses one.
        """
        want = {p.site_id: (p.lon, p.lat) for p in proposals if p.type == self.type_key}
        deltas = []
        for sid in [s for s in self._sites if s not in want or want[s] != self._sites[s]]:
            deltas.append(self.whatif.remove(self._internal.pop(sid)))
            del self._sites[sid]
            self.marginal.pop(sid, None)
        for sid, (lon, lat) in want.items():
            if sid not in self._sites:
                self._serial += 1
                internal = f"{sid}#{self._serial}"
                d = self.whatif.add(lon, lat, site_id=internal)
                self._internal[sid] = internal
                self._sites[sid] = (lon, lat)
                self.marginal[sid] = d.newly_covered
                deltas.append(replace(d, site_id=sid))
        if deltas:
            self.last = deltas[-1]
        return deltas


def area_key(base_key: str) -> str:
    """The store's ``area_key`` of a study source: ``demo``, a network file's name, or ``place:<name>``."""
    if base_key == "demo":
        return "demo"
    if base_key.startswith("file:"):
        return Path(base_key[5:]).name
    return base_key


def to_sites(proposals: Iterable[Proposal]) -> tuple:
    """Proposals as :class:`planner.store.Site` tuples."""
    from .store import Site

    return tuple(Site(p.site_id, float(p.lon), float(p.lat), p.type, p.source) for p in proposals)


def from_sites(sites: Iterable) -> list[Proposal]:
    """:class:`planner.store.Site` items back as proposals."""
    return [Proposal(s.id, s.type, float(s.lon), float(s.lat), s.origin) for s in sites]


def newly_covered_cells(baseline, proposal, type_key: str, *, cell_m: float = 200.0):
    """Grid cells of the demand one type covers in ``proposal`` but not in ``baseline`` (the difference map).

    Both are :class:`~planner.scenario.CoverageResult` of the same study's demand. Returns a
    GeoDataFrame (EPSG:4326) with ``population`` (newly covered), ``minutes`` (their mean minutes
    in the proposal), ``max_minutes`` and the cell polygon.
    """
    import geopandas as gpd

    from .isochrones import gap_cells

    a, b = baseline.demand_table, proposal.demand_table
    newly = b[f"{type_key}_covered"].to_numpy(bool) & ~a[f"{type_key}_covered"].to_numpy(bool)
    net = proposal.study.network_for(proposal.goals[type_key])
    x, y = net.to_metric(b["lon"].to_numpy(float), b["lat"].to_numpy(float))
    polys, pop, mean, mx = gap_cells(np.asarray(x), np.asarray(y), b["population"].to_numpy(float),
                                     b[f"{type_key}_minutes"].to_numpy(float), ~newly, cell_m=cell_m)
    g = gpd.GeoDataFrame({"population": pop, "minutes": mean, "max_minutes": mx}, geometry=list(polys), crs=net.crs)
    return g.to_crs(4326)


# ============================================================================ statistics for display
def area_frame(result, type_key: str):
    """Areas (GeoDataFrame) with ``coverage_share``, ``demand_total``, ``facilities`` of one type, or None."""
    study = result.study
    if study.areas is None or not len(result.areas) or type_key not in set(result.areas["type"]):
        return None
    sub = result.areas[result.areas["type"] == type_key][["area_id", "coverage_share", "demand_total", "facilities"]]
    return study.areas.merge(sub, on="area_id", how="left")


def type_stats(result, type_key: str) -> dict:
    """The headline statistics of one type from a run's summary (share, goal minutes, mean, p90, bands)."""
    return result.summary["types"][type_key]


def _band_label(band: str, lang: str) -> str:
    if band == "unreachable":
        return "不可达" if lang == "zh" else "unreachable"
    return f"{band} 分钟" if lang == "zh" else f"{band} min"


def _band_rank(band: dict) -> tuple:
    """Sort key of a time band: ``0-5``, ``5-10`` ... by their start, then ``>goal``, then ``unreachable``."""
    name = str(band.get("band", ""))
    if name == "unreachable":
        return (2, 0.0)
    if name.startswith(">"):
        return (1, 0.0)
    start = band.get("from_min")
    try:
        start = float(start if start is not None else name.split("-")[0])
    except ValueError:
        start = math.inf
    return (0, start)


def bands_frame(result, type_key: str, lang: str = "zh") -> pd.DataFrame:
    """Demand per time band of one type: ``band`` (label in ``lang``), ``demand``, ``share``, ``order``.

    Always in band order: ``0-…``, …, ``>goal``, then unreachable (``order`` counts from 0).
    """
    bands = sorted(type_stats(result, type_key)["bands"], key=_band_rank)
    rows = [{"band": _band_label(b["band"], lang), "demand": b["demand"], "share": b.get("share"), "order": i}
            for i, b in enumerate(bands)]
    return pd.DataFrame(rows, columns=["band", "demand", "share", "order"])


def areas_display(result, type_key: str, headers: dict[str, str]) -> pd.DataFrame:
    """The per-area table of one type with display headers (shares in %, minutes rounded)."""
    if not len(result.areas):
        return pd.DataFrame()
    a = result.areas[result.areas["type"] == type_key]
    out = pd.DataFrame({
        "name": a["name"].astype(str),
        "demand_total": a["demand_total"].round(0),
        "demand_covered": a["demand_covered"].round(0),
        "coverage_share": (a["coverage_share"] * 100).round(1),
        "mean_minutes": a["mean_minutes"].round(1),
        "p90_minutes": a["p90_minutes"].round(1),
        "facilities": a["facilities"].astype(int),
    })
    return out.rename(columns=headers).reset_index(drop=True)


# ============================================================================ exports
@dataclass(frozen=True)
class ExportItem:
    """One download: ``make()`` builds the bytes only when asked (deferred downloads)."""

    key: str
    filename: str
    mime: str
    make: Callable[[], bytes] = field(repr=False)


def _layers(result, proposals: Iterable[Proposal], type_key: str | None) -> dict:
    """Named GeoDataFrames (EPSG:4326) of what the map shows: facilities, proposals, isochrones, gaps, areas."""
    import geopandas as gpd

    ft = result.facilities_table
    pf = proposals_frame(proposals)
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
    a = area_frame(result, type_key) if type_key else None
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
    """One GeoPackage with a layer per map layer (written to a temporary file in the app data folder)."""
    tmpdir = app_data_dir() / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gpkg", dir=tmpdir)
    os.close(fd)
    Path(tmp).unlink()
    try:
        for name, g in layers.items():
            if len(g):
                _clean_for_gis(g.to_crs(4326)).to_file(tmp, layer=name, driver="GPKG")
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def xlsx_bytes(result, lang: str) -> bytes:
    """The statistics workbook of :func:`planner.export.write_xlsx` as bytes."""
    from .export import write_xlsx

    tmpdir = app_data_dir() / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=tmpdir)
    os.close(fd)
    try:
        write_xlsx(result, tmp, lang=lang)
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def statistics_csv_bytes(result, lang: str) -> bytes:
    """Per-type statistics then per-area statistics, as one CSV (UTF-8 with BOM so Excel reads Chinese)."""
    from .export import csv_bytes, tables_for_export

    return csv_bytes(tables_for_export(result, lang)["types"])


def areas_csv_bytes(result, lang: str) -> bytes:
    """Per-area statistics as CSV (UTF-8 with BOM)."""
    from .export import csv_bytes, tables_for_export

    return csv_bytes(tables_for_export(result, lang)["areas"])


def export_items(result, *, lang: str, proposals: Iterable[Proposal] = (), type_key: str | None = None,
                 map_html: Callable[[], str] | None = None, summary_html: Callable[[], str] | None = None,
                 all_types: Callable[[], object] | None = None) -> list[ExportItem]:
    """Every download of the current scenario; each item builds its bytes lazily.

    ``result`` is the scenario's run (proposals included as facilities) of the chosen type, with
    its isochrones and gaps (the layers); ``all_types`` returns the same scenario's run of every
    type, for the statistics (default: ``result``). ``map_html`` and ``summary_html`` are
    callables returning the standalone map / one-page report.
    """
    props = list(proposals)
    stats = all_types or (lambda: result)
    items = [
        ExportItem("statistics_csv", "statistics.csv", "text/csv", lambda: statistics_csv_bytes(stats(), lang)),
        ExportItem("statistics_xlsx", "statistics.xlsx",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", lambda: xlsx_bytes(stats(), lang)),
    ]
    if len(result.areas):
        items.append(ExportItem("areas_csv", "areas.csv", "text/csv", lambda: areas_csv_bytes(result, lang)))
    items += [
        ExportItem("layers_geojson", "layers.geojson", "application/geo+json",
                   lambda: geojson_bytes(_layers(result, props, type_key))),
        ExportItem("layers_gpkg", "layers.gpkg", "application/geopackage+sqlite3",
                   lambda: gpkg_bytes(_layers(result, props, type_key))),
    ]
    if map_html is not None:
        items.append(ExportItem("map_html", "map.html", "text/html", lambda: map_html().encode("utf-8")))
    if summary_html is not None:
        items.append(ExportItem("summary_html", "summary.html", "text/html", lambda: summary_html().encode("utf-8")))
    return items
