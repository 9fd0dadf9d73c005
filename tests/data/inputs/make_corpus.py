"""Write the corpus of malformed and awkward input files used by tests/test_io.py.

Run once from the repository root (``python tests/data/inputs/make_corpus.py``); the outputs
are committed so the tests read real files. The sites are illustrative points in Changning
district, not real facilities. Deterministic: running it again gives the same files.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
from planner.coords import wgs84_to_bd09, wgs84_to_gcj02  # noqa: E402

# id, name, type label, WGS-84 lon, lat, address (illustrative only)
SITES = [
    ("CN001", "仙霞社区卫生服务中心", "社区卫生服务中心", 121.3862, 31.2105, "示例路 1 号"),
    ("CN002", "天山社区卫生服务中心", "社区卫生服务中心", 121.4050, 31.2150, "示例路 2 号"),
    ("CN003", "虹桥社区卫生服务站", "社区卫生服务站", 121.4160, 31.2005, "示例路 3 号"),
    ("CN004", "北新泾社区卫生服务中心", "社区卫生服务中心", 121.3700, 31.2180, "示例路 4 号"),
    ("CN005", "新泾镇卫生服务站", "卫生服务站", 121.3560, 31.2230, "示例路 5 号"),
    ("CN006", "中山公园 AED", "AED", 121.4190, 31.2210, "示例路 6 号"),
    ("CN007", "程家桥社区卫生服务站", "服务站", 121.3500, 31.1960, "示例路 7 号"),
    ("CN008", "江苏路除颤器", "除颤器", 121.4290, 31.2230, "示例路 8 号"),
]
HEAD_ZH = ["编号", "名称", "类型", "经度", "纬度", "地址"]
HEAD_EN = ["id", "name", "type", "lon", "lat", "address"]


def rows(lon=None, lat=None, ndig=4):
    out = []
    for i, (sid, name, typ, x, y, addr) in enumerate(SITES):
        xx = x if lon is None else lon[i]
        yy = y if lat is None else lat[i]
        out.append([sid, name, typ, f"{xx:.{ndig}f}", f"{yy:.{ndig}f}", addr])
    return out


def write_csv(name, header, body, *, sep=",", encoding="utf-8", newline="\n"):
    lines = [sep.join(header)] + [sep.join(str(c) for c in r) for r in body]
    (HERE / name).write_bytes((newline.join(lines) + newline).encode(encoding))


def write_xlsx(name, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, grid, merge in sheets:
        ws = wb.create_sheet(title)
        for r in grid:
            ws.append(r)
        if merge:
            ws.merge_cells(merge)
    wb.save(HERE / name)


def main() -> None:
    base = rows()
    # 1-5: encodings and delimiters
    write_csv("gbk_chinese_headers.csv", HEAD_ZH, base, encoding="gbk")
    write_csv("utf8_bom.csv", HEAD_EN, base, encoding="utf-8-sig")
    write_csv("semicolon.csv", HEAD_EN, base, sep=";")
    write_csv("excel_unicode_text.txt", HEAD_ZH, base, sep="\t", encoding="utf-16", newline="\r\n")
    write_csv("pipe_delimited.csv", HEAD_EN, base, sep="|")
    write_csv("gb18030_rare_chars.csv", HEAD_ZH, [[*r[:5], "𠮷䶮路 9 号"] if i == 0 else r for i, r in enumerate(base)],
              encoding="gb18030")
    # 6-8: Excel
    title = ["长宁区社区卫生设施清单（示例）", None, None, None, None, None]
    write_xlsx("merged_title.xlsx", [("设施", [title, HEAD_ZH, *[[*r[:3], float(r[3]), float(r[4]), r[5]] for r in base]], "A1:F1")])
    bad = [[*r[:3], float(r[3]), float(r[4]), r[5]] for r in base]
    bad[2][4] = None  # Excel row 5 (title 1, header 2, data from 3)
    write_xlsx("merged_title_bad_row.xlsx", [("设施", [title, HEAD_ZH, *bad], "A1:F1")])
    write_xlsx("named_sheet.xlsx", [("说明", [["本文件为示例"], ["坐标为 WGS-84"]], None),
                                    ("设施", [HEAD_ZH, *[[*r[:3], float(r[3]), float(r[4]), r[5]] for r in base]], None)])
    # 9-12: coordinates
    write_csv("swapped_lonlat.csv", HEAD_EN, [[r[0], r[1], r[2], r[4], r[3], r[5]] for r in base])
    r = [list(x) for x in base]
    r[1][4] = "131.2150"
    write_csv("lat_out_of_range.csv", HEAD_ZH, r)
    r = [list(x) for x in base]
    r[2][3] = ""
    write_csv("empty_coords.csv", HEAD_ZH, r)
    r = [list(x) for x in base]
    r[3][3] = "121.4.3"
    write_csv("non_numeric_coords.csv", HEAD_ZH, r)
    r = [list(x) for x in base]
    r[0][3], r[0][4] = "１２１.３８６２", "３１．２１０５"
    write_csv("fullwidth_digits.csv", HEAD_ZH, r)
    # 13-15: empty and wrong files
    (HERE / "empty.csv").write_bytes(b"")
    write_csv("header_only.csv", HEAD_ZH, [])
    (HERE / "really_png.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (HERE / "old_excel.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    (HERE / "unreadable_encoding.csv").write_bytes(
        ",".join(HEAD_EN).encode() + b"\nCN001,\xff\xfe bad,aed,121.38,31.21,x\n")
    # 16-18: values
    r = [list(x) for x in base]
    r[4][2] = "诊所X"
    write_csv("unknown_type.csv", HEAD_ZH, r)
    r = [list(x) for x in base]
    r[3][0] = "CN003"
    write_csv("duplicate_ids.csv", HEAD_ZH, r)
    write_csv("exact_duplicate_rows.csv", HEAD_ZH, [*base[:3], base[1], *base[3:]])
    mixed = [list(x) for x in base]
    for row, label in zip(mixed, ["Community Health Center", "社区卫生服务中心", "service station", "社区医院",
                                  "卫生站", "aed", "Health Station", "自动体外除颤器"]):
        row[2] = label
    write_csv("mixed_type_values.csv", HEAD_ZH, mixed)
    # 19-22: coordinate systems of the same sites
    lon = np.array([s[3] for s in SITES])
    lat = np.array([s[4] for s in SITES])
    glon, glat = wgs84_to_gcj02(lon, lat)
    write_csv("gcj02_sites.csv", HEAD_ZH, rows(glon, glat, 7), encoding="gbk")
    blon, blat = wgs84_to_bd09(lon, lat)
    write_csv("bd09_sites.csv", HEAD_ZH, rows(blon, blat, 7), encoding="gbk")
    from pyproj import Transformer

    ux, uy = Transformer.from_crs(4326, 32651, always_xy=True).transform(lon, lat)
    write_csv("projected_utm51n.csv", ["id", "name", "type", "X", "Y"],
              [[s[0], s[1], s[2], f"{x:.2f}", f"{y:.2f}"] for s, x, y in zip(SITES, ux, uy)])
    write_csv("location_column.csv", ["id", "name", "type", "location"],
              [[s[0], s[1], s[2], f'"{x:.6f},{y:.6f}"'] for s, x, y in zip(SITES, glon, glat)])
    # 23-26: headers and layout
    write_csv("stray_spaces_headers.csv", [" 编号 ", "名称 ", "　类型", " 经度 ", "纬度　", "地址"], base)
    (HERE / "trailing_empty_rows.csv").write_bytes(
        ("\n".join([",".join(HEAD_ZH), *[",".join(x) for x in base[:3]], ",,,,,", ",,,,,", "", ""]) + "\n").encode("gbk"))
    write_csv("missing_lat_column.csv", ["名称", "类型", "经度", "地址"], [[r[1], r[2], r[3], r[5]] for r in base])
    write_csv("no_type_column.csv", ["名称", "经度", "纬度"], [[r[1], r[3], r[4]] for r in base])
    write_csv("english_headers_mixed_case.csv", ["ID", "Name", "Facility Type", "Longitude", "LATITUDE", "Address"], base)
    many = [list(x) for x in base]
    many[0][3] = ""           # row 2: empty longitude
    many[1][2] = "牙科诊所"    # row 3: unknown type
    many[3][4] = "95.5"       # row 5: latitude out of range
    write_csv("multiple_problems.csv", HEAD_ZH, many)
    spill = [list(x) for x in base]
    spill[5][5] = "示例路 6 号,近地铁站"  # unquoted comma in the address: one cell too many
    write_csv("unquoted_comma.csv", HEAD_ZH, spill)
    write_csv("outside_study_area.csv", HEAD_ZH, [*base[:3], ["PD001", "浦东某站", "服务站", "121.5500", "31.2200", "示例"]])
    # xlsx content saved with a .csv name
    write_xlsx("xlsx_renamed.xlsx", [("Sheet1", [HEAD_EN, *[[*r[:3], float(r[3]), float(r[4]), r[5]] for r in base]], None)])
    (HERE / "xlsx_renamed.csv").write_bytes((HERE / "xlsx_renamed.xlsx").read_bytes())
    (HERE / "xlsx_renamed.xlsx").unlink()
    # 27-30: GIS formats
    pts = gpd.GeoDataFrame(
        {"id": [s[0] for s in SITES], "name": [s[1] for s in SITES], "type": [s[2] for s in SITES]},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)
    pts.to_file(HERE / "facilities.geojson", driver="GeoJSON")
    gpkg = HERE / "two_layers.gpkg"
    gpkg.unlink(missing_ok=True)
    pts.iloc[:5].to_file(gpkg, layer="health_centres", driver="GPKG")
    pts.iloc[5:].to_file(gpkg, layer="aed", driver="GPKG")
    shp_dir = HERE / "_shp"
    shp_dir.mkdir(exist_ok=True)
    pts.to_crs(32651).to_file(shp_dir / "facilities.shp", driver="ESRI Shapefile", encoding="utf-8")
    with zipfile.ZipFile(HERE / "facilities_shapefile.zip", "w") as zf:
        for p in sorted(shp_dir.iterdir()):
            zf.write(p, p.name)
            p.unlink()
    shp_dir.rmdir()
    # demand
    write_csv("demand_points.csv", ["编号", "常住人口", "经度", "纬度"],
              [["D1", '"12,345"', "121.3900", "31.2100"], ["D2", "800.5", "121.4000", "31.2150"],
               ["D3", "0", "121.4100", "31.2050"]])
    write_csv("negative_population.csv", ["id", "population", "lon", "lat"],
              [["D1", "100", "121.39", "31.21"], ["D2", "-50", "121.40", "31.215"]])
    write_csv("non_numeric_population.csv", ["id", "人口", "lon", "lat"],
              [["D1", "约3000", "121.39", "31.21"], ["D2", "", "121.40", "31.215"]])
    cells = gpd.GeoDataFrame({"cell": ["A", "B"], "population": [1200.0, 300.0]},
                             geometry=[shapely.box(121.38, 31.20, 121.39, 31.21), shapely.box(121.39, 31.20, 121.40, 31.21)],
                             crs=4326)
    cells.to_file(HERE / "demand_cells.geojson", driver="GeoJSON")


if __name__ == "__main__":
    main()
