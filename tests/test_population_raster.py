"""Demand from population rasters: windowed reads, exact totals, outside cells counted, bad rasters refused."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from planner import InputError
from planner.network import snap_points
from planner.population import demand_from_raster
from tests.helpers import X0, Y0, grid_network

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:rasterio.*")


def write_tif(path, data, *, crs="EPSG:32651", transform=None, nodata=None, **extra):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype,
                   transform=transform, compress="deflate", **extra)
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def net():
    return grid_network(30)  # 2.9 km square of 100 m blocks in UTM 51N


def _oracle(net, data, transform, tol, *, nodata=None):
    """Population of the cells whose centre lies within ``tol`` of the study area, by plain shapely."""
    area = shapely.transform(net.extent_lonlat, lambda a: np.column_stack(net.to_metric(a[:, 0], a[:, 1])))
    rr, cc = np.nonzero(np.ones(data.shape, bool))
    x = transform.c + (cc + 0.5) * transform.a
    y = transform.f + (rr + 0.5) * transform.e
    keep = shapely.dwithin(shapely.points(x, y), area, tol)
    v = data[rr, cc].astype(float)
    good = np.isfinite(v) & (v > 0)
    if nodata is not None:
        good &= v != nodata
    return float(v[keep & good].sum()), int((keep & good).sum()), float(v[~keep & good].sum()), int((~keep & good).sum())


def test_totals_exact_and_outside_cells_counted(tmp_path, net):
    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, 30.0, (90, 90)).astype("float32")  # 9 km square of 100 m cells around the 2.9 km network
    data[rng.random(data.shape) < 0.3] = 0
    t = from_origin(X0 - 3000, Y0 + 5900, 100, 100)
    path = write_tif(tmp_path / "pop.tif", data, transform=t)
    dem, rep = demand_from_raster(path, net=net)
    kept, n_kept, out, n_out = _oracle(net, data, t, 1000.0)
    assert rep["cells_kept"] == n_kept == len(dem)
    assert dem.population.sum() == pytest.approx(kept, rel=1e-9)
    assert rep["population_kept"] == pytest.approx(dem.population.sum(), rel=1e-12)
    # nothing silent: the window read covers every kept cell, and the populated cells read but left out are counted
    assert rep["cells_outside"] > 0 and rep["population_outside"] > 0
    assert rep["cells_outside"] <= n_out and rep["population_outside"] <= out + 1e-6
    assert any(w.code == "raster_outside" for w in rep["warnings"])
    assert dem.kind == "raster" and not dem.is_proxy and "pop.tif" in dem.note_en and "pop.tif" in dem.note_zh
    assert dem.gdf.crs.to_epsg() == 4326 and dem.gdf["id"].is_unique
    # a cell comes back at its centre
    r, c = int(dem.gdf["cell_row"].iat[0]), int(dem.gdf["cell_col"].iat[0])
    x, y = net.to_metric(dem.gdf.geometry.x.iat[0], dem.gdf.geometry.y.iat[0])
    assert x == pytest.approx(t.c + (c + 0.5) * 100, abs=1e-3) and y == pytest.approx(t.f - (r + 0.5) * 100, abs=1e-3)
    assert dem.gdf["population"].iat[0] == pytest.approx(float(data[r, c]))


def test_tolerance_changes_what_is_kept(tmp_path, net):
    data = np.ones((90, 90), "float32")
    t = from_origin(X0 - 3000, Y0 + 5900, 100, 100)
    path = write_tif(tmp_path / "ones.tif", data, transform=t)
    for tol in (0.0, 400.0, 1000.0):
        dem, rep = demand_from_raster(path, net=net, outside_tolerance_m=tol)
        kept, n_kept, _, _ = _oracle(net, data, t, tol)
        assert rep["cells_kept"] == n_kept
        assert dem.population.sum() == pytest.approx(kept, rel=1e-9)


def test_only_the_study_window_is_read(tmp_path, net):
    # a 40 km wide raster: the study area (2.9 km + 1 km) needs a small window of it
    data = np.zeros((400, 400), "uint16")
    data[::7, ::5] = 12
    t = from_origin(X0 - 20000, Y0 + 20000, 100, 100)
    path = write_tif(tmp_path / "big.tif", data, transform=t, tiled=True, blockxsize=64, blockysize=64)
    dem, rep = demand_from_raster(path, net=net, strip_rows=7)
    c0, r0, w, h = rep["window"]
    assert w < 60 and h < 60 and rep["raster_shape"] == (400, 400)
    kept, n_kept, _, _ = _oracle(net, data, t, 1000.0)
    assert rep["cells_kept"] == n_kept and dem.population.sum() == pytest.approx(kept, rel=1e-9)


def test_wgs84_raster_with_nodata_nan_and_negative_cells(tmp_path, net):
    lon0, lat0, lon1, lat1 = net.bounds_lonlat
    res = 0.001  # ~100 m
    t = from_origin(lon0 - 0.02, lat1 + 0.02, res, res)
    h, w = int((lat1 - lat0 + 0.04) / res), int((lon1 - lon0 + 0.04) / res)
    rng = np.random.default_rng(1)
    data = rng.uniform(1, 50, (h, w)).astype("float32")
    ctr = (h // 2, w // 2)
    data[ctr[0], ctr[1]] = -99999.0  # declared nodata
    data[ctr[0] + 1, ctr[1]] = np.nan  # undeclared NaN
    data[ctr[0] + 2, ctr[1]] = -5.0  # a negative value
    data[ctr[0] + 3, ctr[1]] = -7.0
    path = write_tif(tmp_path / "worldpop_like.tif", data, crs="EPSG:4326", transform=t, nodata=-99999.0)
    dem, rep = demand_from_raster(path, net=net, outside_tolerance_m=0.0)
    assert rep["cells_nodata"] == 1 and rep["cells_nan"] == 1 and rep["cells_negative"] == 2
    assert rep["population_negative"] == pytest.approx(-12.0)
    codes = {w.code for w in rep["warnings"]}
    assert {"raster_nan", "raster_negative"} <= codes
    msg = next(w for w in rep["warnings"] if w.code == "raster_negative")
    assert "-99999" in msg.en and "负值" in msg.zh
    assert np.isfinite(dem.population).all() and (dem.population > 0).all()
    # the oracle in lon/lat: cell centres inside the network hull
    rr, cc = np.nonzero(np.isfinite(data) & (data > 0))
    x = t.c + (cc + 0.5) * res
    y = t.f - (rr + 0.5) * res
    inside = shapely.contains_xy(net.extent_lonlat, x, y)
    assert dem.population.sum() == pytest.approx(float(data[rr, cc][inside].astype(float).sum()), rel=1e-6)


def test_projected_mollweide_raster(tmp_path, net):
    # GHS-POP comes in Mollweide (ESRI:54009); cells are reprojected by their centres
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, "ESRI:54009", always_xy=True)
    lon0, lat0, lon1, lat1 = net.bounds_lonlat
    (x0, x1), (y0, y1) = tr.transform([lon0, lon1], [lat0, lat1])
    t = from_origin(np.floor(x0 / 100) * 100 - 2000, np.ceil(y1 / 100) * 100 + 2000, 100, 100)
    h, w = int((y1 - y0 + 4000) / 100) + 2, int((x1 - x0 + 4000) / 100) + 2
    data = np.full((h, w), 3.0, "float32")
    path = write_tif(tmp_path / "ghs.tif", data, crs="ESRI:54009", transform=t)
    dem, rep = demand_from_raster(path, net=net)
    assert "54009" in rep["crs"] or "Mollweide" in rep["crs"]
    assert rep["cells_kept"] > 0 and dem.population.sum() == pytest.approx(3.0 * rep["cells_kept"], rel=1e-12)
    assert rep["cells_outside"] > 0
    # every kept cell centre is within the tolerance of the study area
    area = shapely.transform(net.extent_lonlat, lambda a: np.column_stack(net.to_metric(a[:, 0], a[:, 1])))
    x, y = net.to_metric(dem.gdf.geometry.x.to_numpy(), dem.gdf.geometry.y.to_numpy())
    assert shapely.distance(shapely.points(x, y), area).max() <= 1000.0 + 5.0


def test_streets_placement_keeps_each_cell_total(tmp_path, net):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 40, (50, 50)).astype("int32")
    t = from_origin(X0 - 1000, Y0 + 3900, 100, 100)
    path = write_tif(tmp_path / "pop.tif", data, transform=t)
    centre, rep_c = demand_from_raster(path, net=net, outside_tolerance_m=0.0)
    streets, rep_s = demand_from_raster(path, net=net, outside_tolerance_m=0.0, placement="streets", step_m=25.0)
    assert streets.population.sum() == pytest.approx(centre.population.sum(), rel=1e-12)
    per_c = centre.gdf.groupby(["cell_row", "cell_col"])["population"].sum()
    per_s = streets.gdf.groupby(["cell_row", "cell_col"])["population"].sum()
    assert np.allclose(per_s.reindex(per_c.index).to_numpy(), per_c.to_numpy(), rtol=1e-12)
    on = streets.gdf["method"] == "streets"
    assert on.mean() > 0.9 and streets.gdf["id"].is_unique
    x, y = net.to_metric(streets.gdf.geometry.x[on].to_numpy(), streets.gdf.geometry.y[on].to_numpy())
    assert snap_points(net, x, y).dist_m.max() < 1e-3  # the points lie on the streets


# --------------------------------------------------------------------------------------------- refusals
def _msg(exc) -> str:
    return exc.value.message("en") + "\n" + exc.value.message("zh")


def test_no_crs_refused(tmp_path, net):
    path = write_tif(tmp_path / "nocrs.tif", np.ones((10, 10), "float32"), crs=None, transform=from_origin(X0, Y0 + 1000, 100, 100))
    with pytest.raises(InputError) as e:
        demand_from_raster(path, net=net)
    m = _msg(e)
    assert "nocrs.tif" in m and "no coordinate reference system" in m and "没有坐标参考系" in m and "gdal_edit" in m


def test_band_count_refused(tmp_path, net):
    rgb = np.ones((3, 40, 40), "uint8")
    path = write_tif(tmp_path / "photo.tif", rgb, transform=from_origin(X0, Y0 + 2900, 100, 100))
    with pytest.raises(InputError) as e:
        demand_from_raster(path, net=net)
    m = _msg(e)
    assert "3 bands" in m and "band=" in m and "3 个波段" in m
    with pytest.raises(InputError) as e:
        demand_from_raster(path, net=net, band=4)
    assert "band=4" in _msg(e) and "3 band(s)" in _msg(e)
    dem, rep = demand_from_raster(path, net=net, band=2)  # an explicit band is read
    assert rep["band"] == 2 and len(dem)


def test_no_population_refused(tmp_path, net):
    data = np.zeros((40, 40), "float32")
    data[:5] = -1.0
    path = write_tif(tmp_path / "zeros.tif", data, transform=from_origin(X0, Y0 + 2900, 100, 100))
    with pytest.raises(InputError) as e:
        demand_from_raster(path, net=net)
    m = _msg(e)
    assert "no cell inside the study area" in m and "negative" in m and "没有任何格网有人口" in m


def test_no_overlap_and_not_a_raster_refused(tmp_path, net):
    path = write_tif(tmp_path / "far.tif", np.ones((10, 10), "float32"), transform=from_origin(X0 + 90000, Y0, 100, 100))
    with pytest.raises(InputError) as e:
        demand_from_raster(path, net=net)
    assert "does not cover the study area" in _msg(e) and "未覆盖研究范围" in _msg(e)
    fake = tmp_path / "pop.tif"
    fake.write_text("id,population\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        demand_from_raster(fake, net=net)
    assert "GeoTIFF" in _msg(e) and "pop.tif" in _msg(e)
    with pytest.raises(InputError) as e:
        demand_from_raster(tmp_path / "missing.tif", net=net)
    assert "not found" in _msg(e) and "找不到文件" in _msg(e)
    with pytest.raises(InputError):
        demand_from_raster(path, net=net, placement="nowhere")


def test_partial_cover_warned(tmp_path, net):
    # a tile that ends in the middle of the district
    path = write_tif(tmp_path / "half.tif", np.ones((60, 25), "float32"), transform=from_origin(X0 - 1000, Y0 + 3900, 100, 100))
    dem, rep = demand_from_raster(path, net=net)
    assert not rep["covers_study_area"] and any(w.code == "raster_partial" for w in rep["warnings"])


def test_coarse_cells_warned_and_sized_in_metres(tmp_path, net):
    lon0, lat0, lon1, lat1 = net.bounds_lonlat
    res = 30 / 3600  # LandScan's 30 arc-seconds, ~0.8 km east-west at Shanghai's latitude
    t = from_origin(lon0 - 0.05, lat1 + 0.05, res, res)
    path = write_tif(tmp_path / "landscan_like.tif", np.full((40, 40), 800, "int32"), crs="EPSG:4326", transform=t,
                     nodata=-2147483647)
    dem, rep = demand_from_raster(path, net=net)
    assert 700 < rep["cell_m"] < 1000
    w = next(w for w in rep["warnings"] if w.code == "raster_coarse")
    assert "placement='streets'" in w.en and "格网中心" in w.zh
    _, rep2 = demand_from_raster(path, net=net, placement="streets")
    assert not any(w.code == "raster_coarse" for w in rep2["warnings"])
    _, rep3 = demand_from_raster(tmp_path / "landscan_like.tif", net=net, outside_tolerance_m=0)
    assert rep3["cells_kept"] <= rep["cells_kept"]
