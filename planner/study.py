"""A study as data (network source, layers each with its own coordinate system, goals) and the one builder that reads it.

The command line, the app and notebooks describe a study with a :class:`StudySpec` (flags,
widgets or a TOML study file) and call :func:`build_study`; none of them reads a layer or
applies a rule of its own, so they cannot drift apart. A study file looks like::

    [network]                  # one of: path = "x.osm.pbf" | place = "长宁区, 上海市, 中国" | demo = true
    path = "changning.osm.pbf"
    [[facilities]]             # repeatable; each file has its own coordinate system and options
    path = "aed_amap.xlsx"
    coords = "gcj02"
    type = "aed"
    columns = { lon = "经度", lat = "纬度" }
    [demand]
    path = "residents.csv"
    [areas]
    path = "subdistricts.geojson"
    name_column = "name"
    [candidates]               # the only places a new site may go (siting)
    path = "vacant_rooms.csv"
    [exclusions]               # polygons where no new site may go (water, parks, military land)
    path = "no_build.geojson"
    [goals]
    minutes = 15
    speed_kmh = 4.5

Paths are relative to the study file's folder.
"""
from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import InputError, PlannerError, Problem
from .config import FacilityType, FacilityTypes, default_types, load_facility_types
from .demand import Demand

logger = logging.getLogger(__name__)

__all__ = [
    "Layer",
    "NetworkSource",
    "Goals",
    "StudySpec",
    "Study",
    "Base",
    "open_base",
    "build_study",
    "load_study",
    "read_study_file",
    "read_study_text",
    "write_study_file",
    "study_toml",
    "is_osm_file",
    "OUTSIDE_TOLERANCE_M",
    "MAX_SNAP_M",
]

#: How far outside the network's extent a point may lie and still be read, metres (``--outside-tolerance-m``).
OUTSIDE_TOLERANCE_M = 1000.0
#: Points farther than this from any street are flagged, metres (``--max-snap-m``).
MAX_SNAP_M = 300.0

_OSM_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")


def is_osm_file(path) -> bool:
    """True for OSM XML/PBF files (the network files that also carry facilities and buildings)."""
    name = str(path).lower()
    return any(name.endswith(s) for s in _OSM_SUFFIXES)


# ============================================================================ the description
def _frozen_columns(columns) -> tuple[tuple[str, str], ...] | None:
    if columns is None:
        return None
    if isinstance(columns, Mapping):
        items = columns.items()
    else:
        items = columns
    out = []
    for k, v in items:
        if not isinstance(k, str) or not isinstance(v, str) or not k.strip() or not v.strip():
            raise InputError(f"columns: expected field = \"column name\" pairs, got {k!r} = {v!r}.",
                             f"columns：应为 字段 = \"列名\"，收到 {k!r} = {v!r}。")
        out.append((k.strip(), v.strip()))
    return tuple(sorted(out))


@dataclass(frozen=True)
class Layer:
    """One input file and how to read it (hashable, so it can key a cache).

    Parameters
    ----------
    path : str or Path
        The file (CSV/TXT, XLSX/XLS, GeoJSON, GeoPackage, zipped Shapefile).
    coords : str, optional
        Its coordinate system: ``wgs84`` (GPS, OpenStreetMap), ``gcj02`` (Amap, Tencent), ``bd09``
        (Baidu) or ``EPSG:nnnn``. ``None``: the study's default (:attr:`StudySpec.coords`); a GIS file
        with a projected CRS always uses its own.
    type : str, optional
        Facility layers: the type of rows without one (e.g. ``"aed"``).
    columns : mapping, optional
        ``field -> column`` overriding detection, e.g. ``{"lon": "经度", "lat": "纬度"}``.
    sheet, layer : optional
        XLSX sheet / GeoPackage layer.
    name_column, code_column : optional
        Area layers: the column with the area names / codes (detected by default).
    skip_invalid : bool
        Load the valid rows and report the others instead of refusing the file.
    name : str, optional
        The name shown in messages (an upload's original name); default the file name.
    band, placement : optional
        Population rasters: the band to read (default the only one) and where each cell's residents
        go: ``centre`` (default) or ``streets`` (spread over the streets inside the cell).
    """

    path: str
    coords: str | None = None
    type: str | None = None
    columns: tuple[tuple[str, str], ...] | None = None
    sheet: str | None = None
    layer: str | None = None
    name_column: str | None = None
    code_column: str | None = None
    skip_invalid: bool = False
    name: str | None = None
    band: int | None = None
    placement: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", str(self.path))
        if self.band is not None and (isinstance(self.band, bool) or not isinstance(self.band, int) or self.band < 1):
            raise InputError(f"band must be a raster band number (1, 2, ...), not {self.band!r}.",
                             f"band 须为栅格波段号（1、2……），而非 {self.band!r}。")
        if self.placement not in (None, "centre", "streets"):
            raise InputError(f"placement must be centre or streets, not {self.placement!r}.",
                             f"placement 须为 centre 或 streets，而非 {self.placement!r}。")
        object.__setattr__(self, "columns", _frozen_columns(self.columns))

    @property
    def label(self) -> str:
        """The file name as the user knows it."""
        return self.name or Path(self.path).name

    def coords_or(self, default: str) -> str:
        return self.coords or default


@dataclass(frozen=True)
class NetworkSource:
    """Where the street network comes from: a file, a place name (osmnx download) or the demo district.

    ``facilities``: also take the facilities the source carries (the demo district's sites, or the
    health facilities tagged in an OSM file); facility files then replace these for the types they
    contain. Default (``None``): the demo's sites when no facility file is given, else none.

    ``walk_rules``: a TOML file of walkability rules replacing the bundled ``data/walk_rules.toml``
    (which streets people can walk on; see docs/osm_tags.md).
    """

    path: str | None = None
    place: str | None = None
    demo: bool = False
    demo_scale: float = 1.0
    demo_seed: int = 7
    facilities: bool | None = None
    walk_rules: str | None = None

    def __post_init__(self):
        given = [self.path is not None, self.place is not None, bool(self.demo)]
        if sum(given) != 1:
            raise InputError("The network needs exactly one of: path, place, demo.",
                             "路网须且只能指定以下之一：path（文件）、place（地名）、demo（示范区）。")
        if self.path is not None:
            object.__setattr__(self, "path", str(self.path))
        if not (isinstance(self.demo_scale, (int, float)) and 0 < float(self.demo_scale) <= 200):
            raise InputError(f"demo scale must be a number in (0, 200], not {self.demo_scale!r}.",
                             f"示范区规模须为 (0, 200] 之间的数，而非 {self.demo_scale!r}。")

    def takes_facilities(self, files_given: bool) -> bool:
        """Whether the source's own facilities are part of the study (see the class docstring)."""
        return bool(self.demo) and not files_given if self.facilities is None else bool(self.facilities)

    @property
    def key(self) -> str:
        """A short key naming the source (also the scenario store's area key)."""
        if self.demo:
            return "demo" if (self.demo_scale, self.demo_seed) == (1.0, 7) else f"demo:{self.demo_scale:g}:{self.demo_seed}"
        if self.path is not None:
            return Path(self.path).name
        return f"place:{self.place}"


@dataclass(frozen=True)
class Goals:
    """The goals a study is measured against (each ``None`` keeps the facility type's own).

    ``types``: the facility types to evaluate (keys or labels; default every type present).
    ``profile``: ``walk`` or ``elderly``: the speed of that mode in the types file, unless
    ``speed_kmh`` is given.
    """

    minutes: float | None = None
    speed_kmh: float | None = None
    profile: str | None = None
    types: tuple[str, ...] | None = None
    max_snap_m: float = MAX_SNAP_M

    def __post_init__(self):
        if self.types is not None:
            object.__setattr__(self, "types", tuple(str(t) for t in self.types) or None)
        for name, flag in (("minutes", "--minutes"), ("speed_kmh", "--speed-kmh"), ("max_snap_m", "--max-snap-m")):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
                raise InputError(f"{name} ({flag}) must be a positive number, not {v!r}.",
                                 f"{name}（{flag}）须为正数，而非 {v!r}。")
        if self.profile not in (None, "walk", "elderly"):
            raise InputError(f"profile must be walk or elderly, not {self.profile!r}.",
                             f"profile 须为 walk 或 elderly，而非 {self.profile!r}。")

    def speed(self, types: FacilityTypes) -> float | None:
        """The speed override in km/h: ``speed_kmh``, else the profile's speed from the types file, else None."""
        if self.speed_kmh is not None:
            return float(self.speed_kmh)
        if self.profile == "elderly":
            return float(types.speeds["elderly"])
        return None

    def goal_for(self, types: FacilityTypes, key: str) -> FacilityType:
        """The facility type with these goals applied."""
        return types.get_type(key).with_goal(minutes=self.minutes, speed_kmh=self.speed(types))


@dataclass(frozen=True)
class StudySpec:
    """Everything that defines a study, as data: what :func:`build_study` reads and a study file stores.

    Attributes
    ----------
    network : NetworkSource
    facilities : tuple of Layer
        Facility files, read in order and merged (ids must be unique across them).
    demand : Layer, optional
        Residents: points or polygons with a population column. Default: the source's own (the
        demo's synthetic residents) or a labelled proxy from street length and buildings.
    areas : Layer, optional
        Subdistrict boundaries for per-area statistics; when given they are the study area
        (demand outside them leaves the statistics, unless ``keep_outside_demand``).
    candidates : Layer, optional
        The only places where new sites may go (siting).
    exclusions : Layer, optional
        Polygons where no new site may go (water, parks, military land): candidates inside them are
        removed (and counted in the notes), generated candidates and clicked sites there are refused.
    coords : str
        The coordinate system of every layer that does not name its own.
    goals : Goals
    types_file : str, optional
        A TOML file of extra (user-defined) facility types.
    outside_tolerance_m : float
        Points up to this far outside the network's extent are accepted.
    keep_outside_demand : bool
    allow_large_population : bool
        Accept demand rows above the plausibility bound (see ``planner.demand.population_limits``).
    label : str, optional
        The title of reports (default: the network source).
    """

    network: NetworkSource
    facilities: tuple[Layer, ...] = ()
    demand: Layer | None = None
    areas: Layer | None = None
    candidates: Layer | None = None
    exclusions: Layer | None = None
    coords: str = "wgs84"
    goals: Goals = field(default_factory=Goals)
    types_file: str | None = None
    outside_tolerance_m: float = OUTSIDE_TOLERANCE_M
    keep_outside_demand: bool = False
    allow_large_population: bool = False
    label: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "facilities", tuple(self.facilities))
        v = self.outside_tolerance_m
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InputError(f"outside_tolerance_m (--outside-tolerance-m) must be a number of metres >= 0, not {v!r}.",
                             f"outside_tolerance_m（--outside-tolerance-m）须为不小于 0 的米数，而非 {v!r}。")
        from .coords import normalise_system

        normalise_system(self.coords)  # raises on an unknown system
        for lf in self.layers():
            if lf.coords is not None:
                normalise_system(lf.coords)

    def layers(self) -> list[Layer]:
        """Every file layer, in reading order."""
        out = list(self.facilities)
        out += [lf for lf in (self.demand, self.areas, self.candidates, self.exclusions) if lf is not None]
        return out

    def with_layers(self, *, facilities: Iterable[Layer] | None = None, demand: Layer | None | bool = False,
                    areas: Layer | None | bool = False) -> StudySpec:
        """A copy with other layers (``False`` keeps the current one)."""
        kw: dict[str, Any] = {}
        if facilities is not None:
            kw["facilities"] = tuple(facilities)
        if demand is not False:
            kw["demand"] = demand
        if areas is not False:
            kw["areas"] = areas
        return replace(self, **kw)


# ============================================================================ the built study
@dataclass(frozen=True, eq=False)
class Study:
    """Everything a coverage run needs, built by :func:`build_study` (or assembled by hand in tests).

    Attributes
    ----------
    networks : {'walk': Network, 'bike': Network (optional)}; a bike type without a bike network
        uses the walking network at bicycle speed (said in the summary).
    facilities : GeoDataFrame, EPSG:4326, columns id, name, type, lon, lat (+ anything else).
    demand : Demand
    areas : GeoDataFrame with area_id, name, geometry (EPSG:4326), or None.
    types : FacilityTypes
    label : a title for reports (e.g. "长宁区" or "Demo district (synthetic)").
    meta : what the summary records about the inputs (files, coordinate systems, rows).
    spec : the StudySpec it was built from (None when assembled by hand).
    candidates : GeoDataFrame of candidate sites (the spec's candidates layer, less those in exclusion zones), or None.
    exclusions : GeoDataFrame of exclusion zones (area_id, name, geometry; EPSG:4326), or None.
    rejected : rows refused with ``skip_invalid`` (file, row, column, reason), or None.
    notes : warnings to show the planner (:class:`planner.Problem`).
    memo : values computed once and shared by every study derived from this one with
        :meth:`with_facilities` (the demand snapped to each network: a scenario with one more site
        does not snap 300,000 residents again). Keyed by what they were computed from.
    """

    networks: dict
    facilities: object
    demand: Demand
    areas: object = None
    types: FacilityTypes = field(default_factory=default_types)
    label: str = ""
    meta: dict = field(default_factory=dict)
    spec: StudySpec | None = None
    candidates: object = None
    exclusions: object = None
    rejected: pd.DataFrame | None = None
    notes: tuple = ()
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def network_for(self, ftype: FacilityType):
        if ftype.mode == "bike" and "bike" in self.networks:
            return self.networks["bike"]
        return self.networks["walk"]

    def with_facilities(self, facilities) -> Study:
        return replace(self, facilities=facilities)

    def with_facility_moved(self, facility_id: str, lon: float, lat: float) -> Study:
        """The study with one facility at another place (WGS-84 degrees), e.g. a centre's planned new address.

        Raises ``InputError`` naming the known ids when ``facility_id`` is not one of them, or when the
        new place lies outside the network's extent (beyond :data:`OUTSIDE_TOLERANCE_M`).
        """
        import geopandas as gpd
        import shapely

        fac = self.facilities
        ids = fac["id"].astype(str) if len(fac) else pd.Series(dtype=str)
        hit = (ids == str(facility_id)).to_numpy()
        if not hit.any():
            raise InputError(f"No facility with id {facility_id!r}; known ids include {sorted(ids)[:10]}.",
                             f"没有编号为 {facility_id!r} 的设施；已有编号如 {sorted(ids)[:10]}。")
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"The new place ({lon}, {lat}) is not a WGS-84 longitude/latitude.",
                             f"新位置（{lon}，{lat}）不是有效的 WGS-84 经纬度。")
        net = self.networks["walk"]
        x, y = net.to_metric(np.array([lon]), np.array([lat]))
        area = shapely.transform(net.extent_lonlat, lambda a: np.column_stack(net.to_metric(a[:, 0], a[:, 1])))
        far = area.distance(shapely.Point(float(x[0]), float(y[0])))
        if far > OUTSIDE_TOLERANCE_M:
            raise InputError(f"The new place ({lon:.5f}, {lat:.5f}) is {far:,.0f} m outside the street network.",
                                 f"新位置（{lon:.5f}，{lat:.5f}）位于路网范围之外 {far:,.0f} 米。")
        moved = fac.copy()
        moved.loc[hit, "lon"] = float(lon)
        moved.loc[hit, "lat"] = float(lat)
        moved = gpd.GeoDataFrame(moved.drop(columns="geometry"), geometry=gpd.points_from_xy(moved["lon"], moved["lat"]),
                                 crs=4326)
        return replace(self, facilities=moved)

    def excluded(self, lon, lat) -> np.ndarray:
        """Which places (WGS-84 degrees) lie in an exclusion zone (the spec's ``exclusions`` layer)."""
        lon = np.atleast_1d(np.asarray(lon, float))
        lat = np.atleast_1d(np.asarray(lat, float))
        if self.exclusions is None or not len(self.exclusions):
            return np.zeros(len(lon), bool)
        return in_zones(self.exclusions, lon, lat)

    def exclusion_at(self, lon: float, lat: float) -> str | None:
        """The name of the exclusion zone a place lies in, or None (a clicked site there is refused)."""
        import shapely

        if self.exclusions is None or not len(self.exclusions):
            return None
        hit = np.asarray(shapely.intersects_xy(self.exclusions.geometry.values, float(lon), float(lat)), bool)
        return str(self.exclusions["name"].iloc[int(np.flatnonzero(hit)[0])]) if hit.any() else None

    @property
    def goals(self) -> Goals:
        return self.spec.goals if self.spec is not None else Goals()

    def label_in(self, lang: str = "zh") -> str:
        """The label in one language (``meta['label_zh'/'label_en']`` when given, else ``label``)."""
        return str((self.meta or {}).get(f"label_{lang}") or self.label)


# ============================================================================ stage 1: the network source
@dataclass(frozen=True, eq=False)
class Base:
    """What a network source gives before any file layer: networks and the source's own layers.

    Built by :func:`open_base`; the app caches it per source (the compiled network is shared
    between sessions and never mutated).
    """

    source: NetworkSource
    networks: dict
    label: str
    facilities: object  # GeoDataFrame (possibly empty)
    demand: Demand | None
    areas: object
    buildings_source: object  # the OSM file to read building footprints from, or None
    meta: dict
    notes: tuple = ()

    @cached_property
    def buildings(self):
        """Building footprints of the OSM network file (``None`` without one), read on first use.

        Only a demand proxy or a census spread needs them; reading them from a district's OSM file
        takes seconds, so a study with its own residents never pays for it.
        """
        if self.buildings_source is None:
            return None
        from .osm import osm_buildings

        try:
            return osm_buildings(self.buildings_source)
        except PlannerError as exc:
            logger.info("no buildings read from %s: %s", Path(self.buildings_source).name, exc.message("en"))
            return None


def empty_facilities():
    """An empty facility table with the standard columns."""
    import geopandas as gpd

    return gpd.GeoDataFrame({"id": pd.Series(dtype=str), "name": pd.Series(dtype=str), "type": pd.Series(dtype=object),
                             "lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float)}, geometry=[], crs=4326)


def open_base(source: NetworkSource, *, facilities: bool = True, bike: bool = False, types: FacilityTypes | None = None,
              facility_types: Iterable[str] | None = None, cache_dir: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> Base:
    """Load (or build) the street network of a source, with the layers the source itself carries.

    Parameters
    ----------
    source : NetworkSource
    facilities : bool
        Read the facilities an OSM file carries (the demo's always come with it).
    bike : bool
        Also load the cycling network (for bike-mode types); the demo has one network for both.
    types : FacilityTypes, optional
        The study's facility types.
    facility_types : iterable of str, optional
        The type keys to take from an OSM file (default every type but ``hospital``).
    cache_dir : path, optional
        Where compiled networks are cached.
    progress : callable(str), optional
    """
    from .demand import demand_from_points
    from .network import compile_network, download_network, load_network

    say = progress or (lambda text: None)
    types = types or default_types()
    notes: list[Problem] = []
    rules = None
    if source.walk_rules is not None:
        from .walkability import load_walk_rules

        rules = load_walk_rules(source.walk_rules)
    if source.demo:
        from .demo import make_district

        say("building the demo district")
        d = make_district(seed=source.demo_seed, scale=source.demo_scale)
        net = compile_network(d.raw)
        return Base(source, {"walk": net}, f"{d.label_zh} / {d.label_en}", d.facilities,
                    demand_from_points(d.demand), d.areas, None,
                    {"synthetic": True, "source": "demo", "label_zh": d.label_zh, "label_en": d.label_en})
    if source.place is not None:
        say(f"downloading the network for {source.place}")
        networks = {"walk": download_network(source.place, mode="walk", cache_dir=cache_dir, rules=rules)}
        if bike:
            networks["bike"] = download_network(source.place, mode="bike", cache_dir=cache_dir, rules=rules)
        return Base(source, networks, source.place, empty_facilities(), None, None, None, {"source": "place"})
    path = Path(source.path)
    say(f"loading network {path.name}")
    networks = {"walk": load_network(path, mode="walk", cache_dir=cache_dir, rules=rules)}
    if bike:
        networks["bike"] = load_network(path, mode="bike", cache_dir=cache_dir, rules=rules)
    own, buildings = empty_facilities(), None
    if is_osm_file(path):
        from .osm import osm_facilities

        if facilities:
            found = osm_facilities(path, list(facility_types) if facility_types is not None else None)
            say(f"{len(found)} facilities found in {path.name}")
            notes.extend(found.attrs.get("warnings", ()))  # what was skipped or merged, said without -v
            if len(found):
                own = found
        buildings = path  # read on first use (Base.buildings)
    elif facilities and source.facilities:
        raise InputError(f"{path.name}: facilities from the network need an OSM file (.osm, .osm.pbf), not this file.",
                         f"{path.name}：从路网读取设施需要 OSM 文件（.osm、.osm.pbf），此文件不行。")
    return Base(source, networks, path.name, own, None, None, buildings, {"source": "file"}, tuple(notes))


# ============================================================================ stage 2: the layers
def _resolve(path: str, base_dir: Path | None) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return str(p)


def _types_of(spec: StudySpec, base_dir: Path | None) -> FacilityTypes:
    if spec.types_file:
        return load_facility_types(extra=_resolve(spec.types_file, base_dir))
    return default_types()


def _needs_bike(spec: StudySpec, types: FacilityTypes) -> bool:
    return any(types.get_type(t).mode == "bike" for t in (spec.goals.types or ()))


def merge_facilities(kept, new):
    """``kept`` with its facilities of the types in ``new`` replaced by ``new``'s rows (ids must stay unique)."""
    import geopandas as gpd

    if not len(new):
        return kept
    new_types = set(new["type"].dropna().astype(str))
    old = kept[~kept["type"].astype(str).isin(new_types)] if len(kept) else kept
    parts = [f for f in (old, new) if len(f)]
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    _check_unique_ids(merged)
    return merged


def _check_unique_ids(fac) -> None:
    dup = fac["id"].astype(str).duplicated(keep=False)
    if dup.any():
        rows = fac.loc[dup]
        where = []
        for fid, grp in rows.groupby(rows["id"].astype(str), sort=True):
            files = sorted(set(grp["source_file"].astype(str))) if "source_file" in grp else []
            where.append(f"{fid} ({', '.join(files)})" if files else fid)
        ids = "; ".join(where[:10])
        raise InputError(f"The same facility id appears more than once: {ids}. Give each facility a unique id.",
                         f"设施编号重复：{ids}。请为每个设施设置唯一编号。")


def _read_facilities(spec: StudySpec, base: Base, types: FacilityTypes, area, base_dir, state) -> object:
    import geopandas as gpd

    from . import io

    own = base.facilities if spec.network.takes_facilities(bool(spec.facilities)) else empty_facilities()
    parts = []
    for lf in spec.facilities:
        system = lf.coords_or(spec.coords)
        t = io.read_facilities(_resolve(lf.path, base_dir), types=types, coords=system, columns=dict(lf.columns or ()),
                               default_type=lf.type, skip_invalid=lf.skip_invalid, study_area=area,
                               study_area_buffer_m=spec.outside_tolerance_m, sheet=lf.sheet, layer=lf.layer)
        g = t.gdf.assign(source_file=lf.label)
        parts.append(g)
        state.layer(lf, "facilities", system, t)
    if not parts:
        return own
    files = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    _check_unique_ids(files)
    if len(own):  # the source's own facilities of the files' types give way to the files: said, never silent
        gone = own["type"].astype(str).value_counts()
        gone = gone[gone.index.isin(set(files["type"].dropna().astype(str)))]
        if len(gone):
            def names(lang):
                return ", ".join(f"{types[k].label(lang) if k in types else k} ×{n}" for k, n in gone.items())

            labels = ", ".join(lf.label for lf in spec.facilities)
            state.notes.append(Problem(
                "facilities_replaced",
                f"{labels} replace the facilities of the same types taken from the network file ({names('en')}); "
                "put them in the file too to keep them.",
                f"{labels} 替换了从路网文件读取的同类设施（{names('zh')}）；如需保留，请把它们也写进该文件。",
                file=labels))
    return merge_facilities(own, files)


def _read_demand(spec: StudySpec, base: Base, area, areas_raw, base_dir, state) -> Demand:
    from . import io
    from .demand import demand_from_points, demand_from_polygons, proxy_demand
    from .population import demand_file_kind, demand_from_census, demand_from_raster

    lf = spec.demand
    net = base.networks["walk"]
    if lf is None:
        return base.demand if base.demand is not None else proxy_demand(net, buildings=base.buildings)
    system = lf.coords_or(spec.coords)
    path = _resolve(lf.path, base_dir)
    kind = demand_file_kind(path, sheet=lf.sheet, layer=lf.layer)
    if kind == "raster":  # gridded population (WorldPop, GHS-POP, LandScan): the file's own CRS
        demand, report = demand_from_raster(path, net=net, study_area=areas_raw if areas_raw is not None else area,
                                            outside_tolerance_m=spec.outside_tolerance_m, band=lf.band,
                                            placement=lf.placement or "centre")
        state.report(lf, "demand", "raster", report, ("population_kept", "cells_kept", "cells_outside",
                                                      "population_outside", "cell_m", "placement"))
        return demand
    if kind == "census":  # residents per 街道/镇, no coordinates: spread inside each area
        if areas_raw is None:
            raise InputError(f"{lf.label} is a table of residents per area with no coordinates: give the areas' "
                             "boundaries too (--areas, or [areas] in the study file).",
                             f"{lf.label} 是按区域统计、没有坐标的人口表：请同时提供区域边界（--areas，或研究文件中的 [areas]）。")
        cols = dict(lf.columns or ())
        demand, report = demand_from_census(path, areas_raw, net=net, code_column=lf.code_column, name_column=lf.name_column,
                                            population_column=cols.get("population"), buildings=base.buildings,
                                            sheet=lf.sheet)
        state.report(lf, "demand", "census", report, ("population_kept", "rows", "join", "areas_matched",
                                                      "population_outside"))
        return demand
    t = io.read_demand(_resolve(lf.path, base_dir), coords=system, columns=dict(lf.columns or ()),
                       skip_invalid=lf.skip_invalid, study_area=area, study_area_buffer_m=spec.outside_tolerance_m,
                       sheet=lf.sheet, layer=lf.layer, allow_large_population=spec.allow_large_population)
    g = t.gdf
    is_poly = g.geom_type.isin(["Polygon", "MultiPolygon"])
    state.layer(lf, "demand", system, t, net=None if is_poly.any() else net)
    if is_poly.any() and not is_poly.all():
        raise InputError(
            f"{lf.label} mixes points ({int((~is_poly).sum())}) and polygons ({int(is_poly.sum())}); "
            "give demand as all points or all polygons (split the file).",
            f"{lf.label} 同时包含点（{int((~is_poly).sum())} 个）和面（{int(is_poly.sum())} 个）；"
            "需求须全部为点或全部为面（请拆分文件）。",
        )
    if len(g) and is_poly.all():
        return demand_from_polygons(net, g)
    return demand_from_points(g)


def _read_areas(spec: StudySpec, base: Base, area, base_dir, state):
    from . import io
    from .demand import areas_in_extent

    lf = spec.areas
    if lf is None:
        return base.areas, base.areas
    system = lf.coords_or(spec.coords)
    areas = io.read_boundaries(_resolve(lf.path, base_dir), name_column=lf.name_column, code_column=lf.code_column,
                               layer=lf.layer, coords=system)
    state.notes.extend(areas.attrs.get("warnings", ()))
    n_all = len(areas)
    uncut = areas
    areas, left_out = areas_in_extent(areas, area, lf.label)
    if left_out:
        state.notes.append(Problem(
            "areas_outside_study",
            f"{left_out} of {n_all} areas lie outside the street network and are left out",
            f"{n_all} 个区域中有 {left_out} 个位于路网范围之外，未计入", file=lf.label))
    state.inputs["areas"] = {"file": lf.label, "coords": system, "rows": int(len(areas)), "left_out": int(left_out)}
    return areas, uncut


def _read_candidates(spec: StudySpec, types: FacilityTypes, area, base_dir, state):
    from . import io

    lf = spec.candidates
    if lf is None:
        return None
    system = lf.coords_or(spec.coords)
    default_type = lf.type or (spec.goals.types[0] if spec.goals.types else next(iter(types)))
    t = io.read_facilities(_resolve(lf.path, base_dir), types=types, coords=system, columns=dict(lf.columns or ()),
                           default_type=default_type, skip_invalid=lf.skip_invalid, study_area=area,
                           study_area_buffer_m=spec.outside_tolerance_m, sheet=lf.sheet, layer=lf.layer)
    state.layer(lf, "candidates", system, t)
    return t.gdf


def in_zones(zones, lon, lat) -> np.ndarray:
    """Which points lie in (or on the edge of) any of the polygons ``zones`` (GeoDataFrame, EPSG:4326)."""
    import shapely

    union = shapely.union_all(zones.geometry.values)
    shapely.prepare(union)
    return np.asarray(shapely.intersects_xy(union, np.asarray(lon, float), np.asarray(lat, float)), bool)


def _read_exclusions(spec: StudySpec, area, base_dir, state):
    from . import io

    lf = spec.exclusions
    if lf is None:
        return None
    system = lf.coords_or(spec.coords)
    zones = io.read_boundaries(_resolve(lf.path, base_dir), name_column=lf.name_column, code_column=lf.code_column,
                               layer=lf.layer, coords=system, zones=True)
    state.notes.extend(zones.attrs.get("warnings", ()))
    state.inputs["exclusions"] = {"file": lf.label, "coords": system, "rows": int(len(zones))}
    return zones


def _drop_excluded(spec: StudySpec, candidates, zones, state):
    """Candidates inside an exclusion zone are removed, and counted in the notes (never silently)."""
    if candidates is None or zones is None or not len(candidates):
        return candidates
    inside = in_zones(zones, candidates["lon"].to_numpy(float), candidates["lat"].to_numpy(float))
    n = int(inside.sum())
    if n:
        state.notes.append(Problem(
            "candidates_excluded",
            f"{n} of {len(candidates)} candidate sites lie in an exclusion zone ({spec.exclusions.label}) and are not used",
            f"{len(candidates)} 个候选点中有 {n} 个位于禁建区（{spec.exclusions.label}）内，不予采用",
            file=spec.candidates.label))
        state.inputs.setdefault("candidates", {})["excluded"] = n
    return candidates[~inside].reset_index(drop=True)


class _State:
    """What the layer readers report back: inputs (for the summary), rejected rows, notes."""

    def __init__(self):
        self.inputs: dict[str, Any] = {}
        self.rejected: list[pd.DataFrame] = []
        self.notes: list[Problem] = []
        self.net = None

    def layer(self, lf: Layer, role: str, system: str, table, *, net=False) -> None:
        """A point layer read: its summary entry, rejected rows and warnings, and whether its points fit the streets
        better in another coordinate system (a GCJ-02 file read as WGS-84 stays inside the study area)."""
        from .coords import detect_coordinate_shift

        net = self.net if net is False else net
        entry = {"file": lf.label, "coords": system, "rows": int(len(table.gdf))}
        if net is not None and len(table.gdf) and system in ("wgs84", "gcj02", "bd09"):
            shift = detect_coordinate_shift(table.gdf["lon"], table.gdf["lat"], net, declared=system, converted=True,
                                            file=lf.label)
            if shift is not None:
                self.notes.append(shift)
                entry["coords_hint"] = shift.code
        if len(table.rejected):
            n = int(table.rejected["row"].nunique())
            entry["rejected_rows"] = n
            self.rejected.append(table.rejected.assign(file=lf.label))
            self.notes.append(Problem("rows_skipped", f"skipped {n} invalid rows", f"跳过 {n} 行有误的数据", file=lf.label))
        self.notes.extend(table.warnings)
        if role == "facilities":
            self.inputs.setdefault("facilities", []).append(entry)
        else:
            self.inputs[role] = entry

    def report(self, lf: Layer, role: str, kind: str, report: dict, keys: tuple[str, ...]) -> None:
        """A population raster or census table read: what the summary records, and its warnings."""
        entry = {"file": lf.label, "kind": kind, **{k: report[k] for k in keys if k in report}}
        if kind == "raster":
            entry["crs"] = report.get("crs")
        self.inputs[role] = entry
        self.notes.extend(report.get("warnings", ()))


def build_study(spec: StudySpec, *, base: Base | None = None, base_dir: str | Path | None = None,
                cache_dir: str | Path | None = None, progress: Callable[[str], None] | None = None) -> Study:
    """Turn a study description into a :class:`Study`: the one place that reads layers and applies their rules.

    Parameters
    ----------
    spec : StudySpec
    base : Base, optional
        The network source already opened (:func:`open_base`); the app passes its cached one.
    base_dir : path, optional
        Relative paths in ``spec`` are relative to this folder (a study file's folder).
    cache_dir : path, optional
        Where compiled networks are cached.
    progress : callable(str), optional
        Receives progress lines.

    Returns
    -------
    Study
        With ``rejected`` rows (``skip_invalid`` layers), ``notes`` (warnings for the planner, each
        bilingual: the caller shows them in its language) and ``meta['inputs']``
        (each file with the coordinate system it was read in and its row count).

    Raises
    ------
    PlannerError
        For any unusable input, with every problem located (file, row, column).
    """
    say = progress or (lambda text: None)
    bdir = Path(base_dir) if base_dir is not None else None
    types = _types_of(spec, bdir)
    for t in spec.goals.types or ():
        types.get_type(t)  # an unknown type fails now, with the list of known ones
    if base is None:
        src = spec.network
        if src.path is not None:
            src = replace(src, path=_resolve(src.path, bdir))
        if src.walk_rules is not None:
            src = replace(src, walk_rules=_resolve(src.walk_rules, bdir))
        wanted = [types.get_type(t).key for t in spec.goals.types] if spec.goals.types else None
        base = open_base(src, facilities=src.takes_facilities(bool(spec.facilities)), bike=_needs_bike(spec, types),
                         types=types, facility_types=wanted, cache_dir=cache_dir, progress=say)
    state = _State()
    for net in base.networks.values():  # e.g. "this is a driving network": said wherever the study is shown
        state.notes.extend(w for w in net.audit.warnings if w.code not in {n.code for n in state.notes})
    state.notes.extend(base.notes)
    net = base.networks["walk"]
    area = net.extent_lonlat
    state.net = net
    facilities = _read_facilities(spec, base, types, area, bdir, state)
    areas, areas_raw = _read_areas(spec, base, area, bdir, state)
    demand = _read_demand(spec, base, area, areas_raw, bdir, state)
    candidates = _read_candidates(spec, types, area, bdir, state)
    exclusions = _read_exclusions(spec, area, bdir, state)
    candidates = _drop_excluded(spec, candidates, exclusions, state)
    meta: dict[str, Any] = dict(base.meta)
    if meta.get("synthetic") and (spec.areas is not None or spec.facilities) and spec.demand is None:
        state.notes.append(Problem(
            "synthetic_residents",
            "The residents are the demo district's synthetic ones: your files are measured against made-up people. "
            "Load your own network and demand for real figures.",
            "居民为示范区的合成数据：您的文件是在虚构的人口上计算的。请载入自己的路网和需求数据以得到真实结果。"))
    if spec.label:  # the study's own title wins over the source's bilingual one
        meta.pop("label_zh", None)
        meta.pop("label_en", None)
    if spec.areas is not None:
        from .demand import assign_areas, clip_to_areas

        g = demand.gdf.copy()
        g["area_id"] = None
        demand = replace(demand, gdf=g)
        if not spec.keep_outside_demand:
            demand, left_out = clip_to_areas(demand, areas)
            meta["demand_outside_areas_left_out"] = left_out
            if left_out["points"]:
                state.notes.append(Problem(
                    "demand_outside_areas",
                    f"{left_out['points']} demand points (population {left_out['population']:,.0f}) lie outside the areas and are left out",
                    f"{left_out['points']} 个需求点（人口 {left_out['population']:,.0f}）位于边界之外，未计入统计"))
        demand = assign_areas(demand, areas)
    meta["inputs"] = {"default_coords": spec.coords, "network": spec.network.key, **state.inputs}
    return Study(networks=base.networks, facilities=facilities, demand=demand, areas=areas, types=types,
                 label=spec.label or base.label, meta=meta, spec=spec, candidates=candidates, exclusions=exclusions,
                 rejected=pd.concat(state.rejected, ignore_index=True) if state.rejected else None,
                 notes=tuple(state.notes))


# ============================================================================ study files
_TOP_KEYS = {"network", "facilities", "demand", "areas", "candidates", "exclusions", "goals", "options", "label", "coords", "types_file"}
_LAYER_KEYS = {f.name for f in fields(Layer)}
_NETWORK_KEYS = {"path", "place", "demo", "demo_scale", "demo_seed", "facilities", "walk_rules"}
_GOAL_KEYS = {f.name for f in fields(Goals)}
_OPTION_KEYS = {"outside_tolerance_m", "keep_outside_demand", "allow_large_population"}


def _bad(file: str, en: str, zh: str) -> InputError:
    return InputError(f"{file}: {en}", f"{file}：{zh}")


def _check_keys(file: str, where: str, table: Mapping, allowed: set[str]) -> None:
    if not isinstance(table, Mapping):
        raise _bad(file, f"[{where}] must be a table.", f"[{where}] 须为表。")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _bad(file, f"[{where}] has unknown keys {unknown}; known: {sorted(allowed)}.",
                   f"[{where}] 含未知的键 {unknown}；可用的键：{sorted(allowed)}。")


def _layer_from(file: str, where: str, raw: Mapping) -> Layer:
    _check_keys(file, where, raw, _LAYER_KEYS)
    if "path" not in raw or not isinstance(raw["path"], str) or not raw["path"].strip():
        raise _bad(file, f"[{where}] needs path = \"file name\".", f"[{where}] 需要 path = \"文件名\"。")
    for k, v in raw.items():
        if k == "columns":
            if not isinstance(v, Mapping):
                raise _bad(file, f"[{where}] columns must be a table, e.g. columns = {{ lon = \"经度\", lat = \"纬度\" }}.",
                           f"[{where}] columns 须为表，如 columns = {{ lon = \"经度\", lat = \"纬度\" }}。")
        elif k == "skip_invalid":
            if not isinstance(v, bool):
                raise _bad(file, f"[{where}] skip_invalid must be true or false.", f"[{where}] skip_invalid 须为 true 或 false。")
        elif k == "band":
            if isinstance(v, bool) or not isinstance(v, int):
                raise _bad(file, f"[{where}] band must be a whole number.", f"[{where}] band 须为整数。")
        elif not isinstance(v, str):
            raise _bad(file, f"[{where}] {k} must be text in quotes, not {v!r}.", f"[{where}] {k} 须为带引号的文本，而非 {v!r}。")
    try:
        return Layer(**dict(raw))
    except InputError as exc:
        raise _bad(file, f"[{where}] {exc.message('en')}", f"[{where}] {exc.message('zh')}") from None


def _number(file: str, where: str, key: str, v, *, allow_none=True):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(file, f"[{where}] {key} must be a number, not {v!r}.", f"[{where}] {key} 须为数字，而非 {v!r}。")
    return float(v)


def spec_from_dict(doc: Mapping, *, file: str = "study") -> StudySpec:
    """A :class:`StudySpec` from a parsed study file (see the module docstring for its form)."""
    _check_keys(file, "top level", doc, _TOP_KEYS)
    if "network" not in doc:
        raise _bad(file, "a [network] table is needed (path, place or demo = true).",
                   "需要 [network] 表（path、place 或 demo = true）。")
    raw_net = doc["network"]
    _check_keys(file, "network", raw_net, _NETWORK_KEYS)
    try:
        net = NetworkSource(
            path=raw_net.get("path"), place=raw_net.get("place"), demo=bool(raw_net.get("demo", False)),
            demo_scale=_number(file, "network", "demo_scale", raw_net.get("demo_scale", 1.0), allow_none=False),
            demo_seed=int(_number(file, "network", "demo_seed", raw_net.get("demo_seed", 7), allow_none=False)),
            facilities=raw_net.get("facilities"), walk_rules=raw_net.get("walk_rules"),
        )
    except InputError as exc:
        raise _bad(file, f"[network] {exc.message('en')}", f"[network] {exc.message('zh')}") from None
    fac = doc.get("facilities", [])
    if isinstance(fac, Mapping):
        fac = [fac]
    if not isinstance(fac, list):
        raise _bad(file, "facilities must be [[facilities]] tables.", "facilities 须写成 [[facilities]] 表。")
    layers = tuple(_layer_from(file, f"facilities #{i + 1}", f) for i, f in enumerate(fac))
    one = {k: _layer_from(file, k, doc[k]) if k in doc else None for k in ("demand", "areas", "candidates", "exclusions")}
    raw_goals = doc.get("goals", {})
    _check_keys(file, "goals", raw_goals, _GOAL_KEYS)
    gtypes = raw_goals.get("types")
    if isinstance(gtypes, str):
        gtypes = [gtypes]
    if gtypes is not None and not (isinstance(gtypes, list) and all(isinstance(t, str) for t in gtypes)):
        raise _bad(file, "[goals] types must be a list of type keys, e.g. types = [\"aed\"].",
                   "[goals] types 须为类型键的列表，如 types = [\"aed\"]。")
    try:
        goals = Goals(minutes=_number(file, "goals", "minutes", raw_goals.get("minutes")),
                      speed_kmh=_number(file, "goals", "speed_kmh", raw_goals.get("speed_kmh")),
                      profile=raw_goals.get("profile"), types=tuple(gtypes) if gtypes else None,
                      max_snap_m=_number(file, "goals", "max_snap_m", raw_goals.get("max_snap_m", MAX_SNAP_M), allow_none=False))
    except InputError as exc:
        raise _bad(file, f"[goals] {exc.message('en')}", f"[goals] {exc.message('zh')}") from None
    opts = doc.get("options", {})
    _check_keys(file, "options", opts, _OPTION_KEYS)
    try:
        return StudySpec(
            network=net, facilities=layers, coords=str(doc.get("coords", "wgs84")), goals=goals,
            types_file=doc.get("types_file"), label=doc.get("label"),
            outside_tolerance_m=_number(file, "options", "outside_tolerance_m",
                                        opts.get("outside_tolerance_m", OUTSIDE_TOLERANCE_M), allow_none=False),
            keep_outside_demand=bool(opts.get("keep_outside_demand", False)),
            allow_large_population=bool(opts.get("allow_large_population", False)), **one,
        )
    except InputError as exc:
        raise _bad(file, exc.message("en"), exc.message("zh")) from None


def read_study_text(data: bytes | str, *, name: str = "study.toml", base_dir: str | Path | None = None) -> StudySpec:
    """A study file's text (an upload) as a spec with its relative paths made absolute against ``base_dir``
    (default: the current folder)."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not a valid TOML study file ({exc}).", f"{name}：不是有效的 TOML 研究文件（{exc}）。") from None
    return resolved(spec_from_dict(doc, file=name), Path(base_dir) if base_dir is not None else Path.cwd())


def read_study_file(path: str | Path) -> tuple[StudySpec, Path]:
    """Read a TOML study file; returns the spec and the folder its relative paths start from."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"Study file not found: {p}", f"找不到研究文件：{p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p.name}: not a valid TOML study file ({exc}).", f"{p.name}：不是有效的 TOML 研究文件（{exc}）。") from None
    return spec_from_dict(doc, file=p.name), p.resolve().parent


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to a study file")
        return repr(v)
    if isinstance(v, str):
        out = v.replace("\\", "\\\\").replace('"', '\\"')
        out = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in out)
        return f'"{out}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").isalnum() and k.isascii() else _toml_value(k)


def _table(name: str, items: Mapping, *, array: bool = False) -> list[str]:
    lines = [f"[[{name}]]" if array else f"[{name}]"]
    for k, v in items.items():
        if v is None:
            continue
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return lines


def _layer_dict(lf: Layer, base_dir: Path | None) -> dict:
    d = {f.name: getattr(lf, f.name) for f in fields(Layer)}
    d["path"] = _relative(d["path"], base_dir)
    d["columns"] = dict(lf.columns) if lf.columns else None
    if not d["skip_invalid"]:
        d["skip_invalid"] = None
    return d


def _relative(path: str, base_dir: Path | None) -> str:
    p = Path(path)
    if base_dir is not None and p.is_absolute():
        try:
            return str(p.relative_to(base_dir.resolve()))
        except ValueError:
            return str(p)
    return str(p)


def study_toml(spec: StudySpec, *, base_dir: str | Path | None = None, comment: str | None = None) -> str:
    """The study file text of ``spec`` (:func:`read_study_file` reads it back to an equal spec).

    Absolute paths under ``base_dir`` are written relative to it.
    """
    bdir = Path(base_dir) if base_dir is not None else None
    lines: list[str] = []
    if comment:
        lines += [f"# {line}" for line in comment.splitlines()]
    top = {"label": spec.label, "coords": spec.coords, "types_file": _relative(spec.types_file, bdir) if spec.types_file else None}
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items() if v is not None]
    n = spec.network
    lines += [""] + _table("network", {
        "path": _relative(n.path, bdir) if n.path else None, "place": n.place, "demo": True if n.demo else None,
        "demo_scale": n.demo_scale if n.demo and n.demo_scale != 1.0 else None,
        "demo_seed": n.demo_seed if n.demo and n.demo_seed != 7 else None, "facilities": n.facilities,
        "walk_rules": _relative(n.walk_rules, bdir) if n.walk_rules else None})
    for lf in spec.facilities:
        lines += [""] + _table("facilities", _layer_dict(lf, bdir), array=True)
    for role in ("demand", "areas", "candidates", "exclusions"):
        lf = getattr(spec, role)
        if lf is not None:
            lines += [""] + _table(role, _layer_dict(lf, bdir))
    g = spec.goals
    goals = {"minutes": g.minutes, "speed_kmh": g.speed_kmh, "profile": g.profile,
             "types": list(g.types) if g.types else None, "max_snap_m": g.max_snap_m if g.max_snap_m != MAX_SNAP_M else None}
    if any(v is not None for v in goals.values()):
        lines += [""] + _table("goals", goals)
    opts = {"outside_tolerance_m": spec.outside_tolerance_m if spec.outside_tolerance_m != OUTSIDE_TOLERANCE_M else None,
            "keep_outside_demand": True if spec.keep_outside_demand else None,
            "allow_large_population": True if spec.allow_large_population else None}
    if any(v is not None for v in opts.values()):
        lines += [""] + _table("options", opts)
    return "\n".join(lines) + "\n"


def write_study_file(spec: StudySpec, path: str | Path, *, comment: str | None = None) -> Path:
    """Write ``spec`` as a TOML study file (atomically); relative to the file's folder where possible."""
    from .export import write_text

    p = Path(path)
    return write_text(p, study_toml(spec, base_dir=p.resolve().parent, comment=comment))


def resolved(spec: StudySpec, base_dir: str | Path | None) -> StudySpec:
    """The spec with every relative path made absolute against ``base_dir`` (for writing it elsewhere)."""
    if base_dir is None:
        return spec
    bdir = Path(base_dir)

    def fix(lf: Layer | None) -> Layer | None:
        return None if lf is None else replace(lf, path=str(Path(_resolve(lf.path, bdir)).resolve()))

    net = spec.network
    if net.path is not None:
        net = replace(net, path=str(Path(_resolve(net.path, bdir)).resolve()))
    if net.walk_rules is not None:
        net = replace(net, walk_rules=str(Path(_resolve(net.walk_rules, bdir)).resolve()))
    types_file = str(Path(_resolve(spec.types_file, bdir)).resolve()) if spec.types_file else None
    return replace(spec, network=net, facilities=tuple(fix(lf) for lf in spec.facilities), demand=fix(spec.demand),
                   areas=fix(spec.areas), candidates=fix(spec.candidates), exclusions=fix(spec.exclusions),
                   types_file=types_file)


# ============================================================================ the public entry point
def load_study(study_file: str | Path | StudySpec | None = None, *, network: str | Path | None = None,
               place: str | None = None, demo: bool = False, demo_scale: float = 1.0,
               facilities: Iterable[Layer | str | Path] = (), demand: Layer | str | Path | None = None,
               areas: Layer | str | Path | None = None, candidates: Layer | str | Path | None = None,
               exclusions: Layer | str | Path | None = None,
               coords: str = "wgs84", goals: Goals | None = None, facilities_from_network: bool | None = None,
               types_file: str | Path | None = None, outside_tolerance_m: float = OUTSIDE_TOLERANCE_M,
               keep_outside_demand: bool = False, allow_large_population: bool = False, label: str | None = None,
               cache_dir: str | Path | None = None, progress: Callable[[str], None] | None = None) -> Study:
    """Build a study from a study file, a :class:`StudySpec`, or keyword arguments.

    Parameters
    ----------
    study_file : path or StudySpec, optional
        A TOML study file (paths in it relative to its folder) or a ready spec. Without it, the
        keywords describe the study.
    network, place, demo :
        The street network: a file (.osm, .osm.pbf, .graphml, compiled .npz), a place name to
        download through osmnx (needs internet), or the bundled synthetic demo district.
    facilities : iterable of Layer or path
        Facility files; a plain path is read in ``coords``.
    demand, areas, candidates, exclusions : Layer or path, optional
    coords : str
        The coordinate system of layers that do not name their own (``wgs84``, ``gcj02``, ``bd09``, ``EPSG:nnnn``).
    goals : Goals, optional
    facilities_from_network : bool, optional
        Also take the facilities the network source carries (demo sites; OSM-tagged facilities).

    Returns
    -------
    Study

    Examples
    --------
    >>> import planner
    >>> study = planner.load_study(demo=True)
    >>> len(study.facilities) > 0
    True
    """
    base_dir = None
    if isinstance(study_file, StudySpec):
        spec = study_file
    elif study_file is not None:
        spec, base_dir = read_study_file(study_file)
    else:
        def as_layer(x):
            return None if x is None else (x if isinstance(x, Layer) else Layer(str(x)))

        spec = StudySpec(
            network=NetworkSource(path=str(network) if network is not None else None, place=place, demo=demo,
                                  demo_scale=demo_scale, facilities=facilities_from_network),
            facilities=tuple(as_layer(f) for f in facilities), demand=as_layer(demand), areas=as_layer(areas),
            candidates=as_layer(candidates), exclusions=as_layer(exclusions), coords=coords, goals=goals or Goals(),
            types_file=str(types_file) if types_file is not None else None, outside_tolerance_m=outside_tolerance_m,
            keep_outside_demand=keep_outside_demand, allow_large_population=allow_large_population, label=label,
        )
    return build_study(spec, base_dir=base_dir, cache_dir=cache_dir, progress=progress)
