"""Coordinate systems used by Chinese map services: WGS-84, GCJ-02 (Amap, Tencent) and BD-09 (Baidu).

GCJ-02 is WGS-84 plus a deterministic, smooth offset of a few hundred metres inside mainland
China; BD-09 adds Baidu's own offset on top of GCJ-02. The forward formulas are the published
ones (the GCJ-02 polynomial/sine series on the Krasovsky ellipsoid, and Baidu's polar
perturbation); the inverses are solved by fixed-point iteration, so a round trip is exact to
well under a millimetre instead of the 1-2 m of the common one-step inverse.

All functions take and return longitude/latitude in decimal degrees as numpy arrays (scalars
and lists are accepted) and never modify their inputs.
"""
from __future__ import annotations

import logging

import numpy as np

from ._errors import InputError, Problem

logger = logging.getLogger(__name__)

__all__ = [
    "SYSTEMS",
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "normalise_system",
    "haversine_m",
    "coordinate_fit",
    "detect_coordinate_shift",
]

SYSTEMS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
# Baidu's perturbation constant.
_X_PI = np.pi * 3000.0 / 180.0
_EARTH_R = 6371008.8  # mean Earth radius, metres (haversine)

_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs": "wgs84", "gps": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "osm": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "gaode": "gcj02", "高德": "gcj02",
    "tencent": "gcj02", "腾讯": "gcj02", "火星": "gcj02", "mars": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09", "百度": "bd09",
}


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    if lon.shape != lat.shape:
        raise InputError(
            f"lon and lat must have the same shape, got {lon.shape} and {lat.shape}",
            f"经度与纬度数组形状须一致，实际为 {lon.shape} 与 {lat.shape}",
        )
    return lon, lat


def out_of_china(lon, lat) -> np.ndarray:
    """True where a point lies outside the rectangle in which GCJ-02 applies an offset.

    This is the conventional rectangle (lon 72.004-137.8347 E, lat 0.8293-55.8271 N) used by
    map SDKs; outside it GCJ-02 equals WGS-84.
    """
    lon, lat = _arrays(lon, lat)
    return ~((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS-84 ``lon, lat``; zero outside China."""
    x = lon - 105.0
    y = lat - 35.0
    px, py = x * np.pi, y * np.pi
    common = (20.0 * np.sin(6.0 * px) + 20.0 * np.sin(2.0 * px)) * 2.0 / 3.0
    sqrt_ax = np.sqrt(np.abs(x))
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_ax
        + common
        + (20.0 * np.sin(py) + 40.0 * np.sin(py / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(py / 12.0) + 320.0 * np.sin(py / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_ax
        + common
        + (20.0 * np.sin(px) + 40.0 * np.sin(px / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(px / 12.0) + 300.0 * np.sin(px / 30.0)) * 2.0 / 3.0
    )
    rad = np.radians(lat)
    s = np.sin(rad)
    magic = 1.0 - _EE * s * s
    sqrt_magic = np.sqrt(magic)
    # metres -> degrees on the Krasovsky ellipsoid (meridional / prime-vertical radii)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 to GCJ-02 (Amap/Tencent), degrees. Points outside China are returned unchanged.

    Parameters
    ----------
    lon, lat : array-like of float
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        GCJ-02 longitude and latitude in degrees.
    """
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 to WGS-84 by fixed-point iteration, degrees.

    Solves ``wgs84_to_gcj02(w) == g`` for ``w``. The offset varies slowly (its derivative is
    about 1e-4), so each step gains roughly four digits; 3-4 steps reach ``tol_deg``.

    Parameters
    ----------
    lon, lat : array-like of float
        GCJ-02 longitude and latitude in degrees.
    tol_deg : float
        Stop when the largest correction is below this (degrees; 1e-10 deg is ~0.01 mm).
    max_iter : int
        Safety cap on iterations.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        WGS-84 longitude and latitude in degrees.
    """
    g_lon, g_lat = _arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        err = np.nanmax(np.abs(np.concatenate([e_lon.ravel(), e_lat.ravel()])), initial=0.0)
        if err < tol_deg:
            break
    else:  # pragma: no cover - the map is a contraction; this would be a bug
        logger.warning("gcj02_to_wgs84 did not converge (residual %.2e deg)", err)
    return w_lon, w_lat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 to BD-09 (Baidu), degrees.

    Baidu's published perturbation: a small radial and angular change around the origin,
    then a fixed shift of (0.0065, 0.006) degrees.
    """
    lon, lat = _arrays(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) to GCJ-02, degrees.

    Starts from Baidu's published approximate inverse (good to a few centimetres) and
    refines it by fixed-point iteration so that ``gcj02_to_bd09`` of the result returns the
    input to ``tol_deg``.
    """
    b_lon, b_lat = _arrays(lon, lat)
    g_lon, g_lat = _bd09_to_gcj02_approx(b_lon, b_lat)
    for _ in range(max_iter):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        e_lon, e_lat = f_lon - b_lon, f_lat - b_lat
        g_lon = g_lon - e_lon
        g_lat = g_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([e_lon.ravel(), e_lat.ravel()])), initial=0.0) < tol_deg:
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 to BD-09 (Baidu), degrees (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) to WGS-84, degrees (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def normalise_system(system: str) -> str:
    """Canonical name of a coordinate system: ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``.

    Accepts common spellings (``"GCJ-02"``, ``"amap"``, ``"baidu"``, ``"epsg:32651"``).

    Raises
    ------
    InputError
        If the name is not recognised.
    """
    text = str(system).strip()
    key = text.lower().replace(" ", "").replace("_", "")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("epsg:") and key[5:].isdigit():
        return "EPSG:" + key[5:]
    raise InputError(
        f"Unknown coordinate system '{system}'. Use 'wgs84' (GPS, OpenStreetMap), 'gcj02' (Amap, Tencent), "
        "'bd09' (Baidu) or 'EPSG:nnnn' for projected x/y in metres.",
        f"未知的坐标系「{system}」。可选：'wgs84'（GPS、OpenStreetMap）、'gcj02'（高德、腾讯）、'bd09'（百度），"
        "或以米为单位的投影坐标 'EPSG:nnnn'。",
    )


def to_wgs84(lon, lat, system: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates from ``system`` to WGS-84 longitude/latitude in degrees.

    Parameters
    ----------
    lon, lat : array-like of float
        For ``wgs84``/``gcj02``/``bd09``: longitude and latitude in degrees. For ``EPSG:nnnn``:
        x (easting) and y (northing) in that CRS's units, in that order.
    system : str
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or ``"EPSG:nnnn"`` (any alias accepted by
        :func:`normalise_system`).

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        WGS-84 (EPSG:4326) longitude and latitude in degrees. Input arrays are not modified.
    """
    system = normalise_system(system)
    lon, lat = _arrays(lon, lat)
    if system == "wgs84":
        return lon.copy(), lat.copy()
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(system)
    except CRSError:
        raise InputError(
            f"Unknown CRS '{system}'. Check the EPSG code (Shanghai UTM is EPSG:32651).",
            f"无法识别的坐标参考系「{system}」，请检查 EPSG 代码（上海 UTM 为 EPSG:32651）。",
        ) from None
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out_lon, out_lat = tr.transform(lon, lat)
    return np.asarray(out_lon, dtype="float64"), np.asarray(out_lat, dtype="float64")


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres between WGS-84 points (mean Earth radius 6371.0088 km)."""
    lon1, lat1 = _arrays(lon1, lat1)
    lon2, lat2 = _arrays(lon2, lat2)
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * _EARTH_R * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone CRS of a WGS-84 point (EPSG:32651, UTM 51N, for Shanghai); the one rule for a metric CRS.

    Longitudes wrap at 180° (zone 60 and zone 1 meet there).
    """
    zone = int(np.floor((float(lon) + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def geodesic_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Ground distance in metres on the WGS-84 ellipsoid (``pyproj.Geod.inv``, vectorised)."""
    from pyproj import Geod

    a = [np.ascontiguousarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2)]
    if a[0].size == 0:
        return np.zeros(a[0].shape)
    _, _, d = Geod(ellps="WGS84").inv(*a)
    return np.asarray(d, dtype=np.float64)


_LABEL = {"wgs84": ("WGS-84 (GPS, OpenStreetMap)", "WGS-84（GPS、OpenStreetMap）"),
          "gcj02": ("GCJ-02 (Amap, Tencent)", "GCJ-02（高德、腾讯）"),
          "bd09": ("BD-09 (Baidu)", "BD-09（百度）")}


def coordinate_fit(lon, lat, net, *, max_points: int = 5000, seed: int = 0) -> dict[str, float]:
    """Median distance in metres from the points to the nearest street, read as each system.

    The same raw numbers are read as WGS-84, GCJ-02 and BD-09 in turn, converted to WGS-84 and
    snapped to ``net`` (:func:`planner.network.snap_points`). The system under which the points
    sit closest to the streets is the one the file is most likely in.

    Parameters
    ----------
    lon, lat : array-like of float
        The coordinates as written in the file, degrees (not yet converted). Non-finite pairs are
        ignored.
    net : planner.network.Network
        The study's street network.
    max_points : int
        Use a seeded random sample of at most this many points (the median settles long before).
    seed : int
        Seed of that sample.

    Returns
    -------
    dict
        ``{"wgs84": m, "gcj02": m, "bd09": m}`` median snap distances in metres (NaN when no
        point is usable).
    """
    from .network import snap_points

    lon, lat = _arrays(lon, lat)
    lon, lat = lon.ravel(), lat.ravel()
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    lon, lat = lon[ok], lat[ok]
    if len(lon) > max_points:
        pick = np.random.default_rng(seed).choice(len(lon), max_points, replace=False)
        lon, lat = lon[pick], lat[pick]
    out: dict[str, float] = {}
    for system in SYSTEMS:
        if len(lon) == 0:
            out[system] = float("nan")
            continue
        wlon, wlat = to_wgs84(lon, lat, system)
        x, y = net.to_metric(wlon, wlat)
        out[system] = float(np.median(snap_points(net, x, y).dist_m))
    return out


def detect_coordinate_shift(lon, lat, net, *, declared: str = "wgs84", file: str | None = None, converted: bool = False,
                            min_ratio: float = 3.0, min_gain_m: float = 15.0, min_points: int = 3) -> Problem | None:
    """Warn when a file's points fit the streets clearly better in another coordinate system.

    A GCJ-02 (Amap) file read as WGS-84 stays inside the study area, so range checks pass, yet
    every point sits 300-700 m off: coverage drops with no message. Here the raw coordinates are
    read as WGS-84, GCJ-02 and BD-09 in turn (:func:`coordinate_fit`); when another system than
    the declared one brings the points much closer to the streets, a warning names it.

    Parameters
    ----------
    lon, lat : array-like of float
        Coordinates as written in the file, degrees, before any conversion.
    net : planner.network.Network
        The study's street network.
    declared : str
        The system the file is being read as (``wgs84``, ``gcj02``, ``bd09`` or an alias). An
        ``EPSG:nnnn`` projected system is not checked (returns None).
    file : str, optional
        File name for the message.
    converted : bool
        True when ``lon, lat`` are already the WGS-84 result of reading the file as ``declared``
        (e.g. ``read_facilities(...).gdf`` columns): the file's own numbers are recovered first
        with the exact forward conversion.
    min_ratio : float
        The declared system's median snap distance must be at least this many times the best one.
    min_gain_m : float
        ... and larger by at least this many metres (so 3 m against 1 m never fires).
    min_points : int
        Fewer usable points than this: no verdict (None).

    Returns
    -------
    Problem or None
        ``Problem(code="coords_shift", ...)`` with an English and a Chinese message naming the
        better system, the median distances and the option to use; None when the declared system
        fits best or no system fits clearly better (e.g. outside China, where they coincide).
    """
    declared = normalise_system(declared)
    if declared not in SYSTEMS:
        return None
    lon_a, lat_a = _arrays(lon, lat)
    if converted and declared == "gcj02":
        lon_a, lat_a = wgs84_to_gcj02(lon_a, lat_a)
    elif converted and declared == "bd09":
        lon_a, lat_a = wgs84_to_bd09(lon_a, lat_a)
    usable = int((np.isfinite(lon_a) & np.isfinite(lat_a)).sum())
    if usable < min_points:
        logger.info("coordinate check skipped for %s: %d usable point(s)", file or "points", usable)
        return None
    fit = coordinate_fit(lon_a, lat_a, net)
    best = min(SYSTEMS, key=lambda s: fit[s])
    here = fit[declared]
    logger.info("coordinate fit of %s (median snap distance, m): %s", file or "points",
                {k: round(v, 1) for k, v in fit.items()})
    if best == declared or not (here >= min_ratio * fit[best] and here - fit[best] >= min_gain_m):
        return None
    en_b, zh_b = _LABEL[best]
    en_d, zh_d = _LABEL[declared]
    en = (f"the points lie a median {here:.0f} m from the nearest street when read as {en_d}, but {fit[best]:.0f} m "
          f"when read as {en_b}. The file is probably in {en_b} coordinates: load it with coords='{best}' "
          f"(command line: --coords {best}), or check where it was exported from.")
    zh = (f"按 {zh_d} 读取时，点位到最近道路的距离中位数为 {here:.0f} 米；按 {zh_b} 读取时为 {fit[best]:.0f} 米。"
          f"该文件很可能是 {zh_b} 坐标：请用 coords='{best}' 读取（命令行：--coords {best}），或核对其导出来源。")
    return Problem("coords_shift", en, zh, file=file)
