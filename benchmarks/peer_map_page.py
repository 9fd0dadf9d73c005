"""Peer page for bench_app.py: the demo's facilities on a plain folium map in st_folium, nothing computed.

This is what a notebook recipe puts on screen (markers on a map); the app's cold start is
measured against it, so the ratio is the cost of the coverage computation and its layers.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import folium
import streamlit as st
from streamlit_folium import st_folium

from maps.assets import localize_assets, offline_map
from planner.demo import make_district

st.title("peer")
d = make_district()
# the same offline Leaflet as the app (a plain folium.Map would fetch its assets from CDNs)
m = offline_map([float(d.facilities["lat"].mean()), float(d.facilities["lon"].mean())], 13)
for row in d.facilities.itertuples():
    folium.CircleMarker([row.lat, row.lon], radius=5, tooltip=str(row.type), class_name="pm-icon").add_to(m)
localize_assets(m)
st_folium(m, height=560, use_container_width=True, returned_objects=["last_clicked"], key="map")
