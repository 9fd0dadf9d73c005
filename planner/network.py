"""Street networks: build from OSM / GraphML / osmnx, compile to arrays, cache, and snap points to edges."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["RawGraph", "Network"]


@dataclass(frozen=True, eq=False)
class RawGraph:
    """A street graph as parsed, before compiling: WGS-84 nodes and edges with geometry.

    Every parser (OSM XML/PBF, GraphML, osmnx, the synthetic demo) produces this; ``compile``
    turns it into a :class:`Network`.

    Attributes
    ----------
    node_id : int64[n]  source identifiers (OSM node ids, or synthetic).
    lon, lat : float64[n]  WGS-84 degrees.
    edge_u, edge_v : int64[m]  indices into the node arrays (not ids).
    geom_lon, geom_lat : float64[k]  edge geometries, flattened; edge i runs over
        ``geom_offsets[i]:geom_offsets[i+1]``, first point at u, last at v (>= 2 points).
    geom_offsets : int64[m+1]
    oneway : bool[m]  True when the edge may only be travelled u -> v (bike mode; walk: all False).
    highway : object[m]  OSM highway class (str), '' if unknown.
    name : object[m]  street name or ''.
    way_id : int64[m]  source way id (or -1).
    source : str  where it came from (file path, place name).
    mode : str  'walk' or 'bike': which filter built it.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    geom_lon: np.ndarray
    geom_lat: np.ndarray
    geom_offsets: np.ndarray
    oneway: np.ndarray
    highway: np.ndarray
    name: np.ndarray
    way_id: np.ndarray
    source: str = ""
    mode: str = "walk"

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)


@dataclass(frozen=True, eq=False)
class Network:
    """A compiled street network in a metric CRS, ready for shortest-path queries.

    Edges are stored once each; walking edges are two-way, bike edges may be one-way.
    Node and edge arrays are read-only numpy arrays; derived structures (CSR matrices,
    shapely geometries, spatial index) are built lazily and cached on the object.

    Attributes
    ----------
    crs : str  the metric CRS, e.g. ``"EPSG:32651"`` (UTM 51N, Shanghai).
    node_id : int64[n]; x, y : float64[n] metres in ``crs``; lon, lat : float64[n] WGS-84.
    edge_u, edge_v : int64[m] node indices; length_m : float64[m] along the geometry.
    geom_xy : float64[k, 2] edge geometries in ``crs``, flattened; geom_offsets : int64[m+1].
    oneway : bool[m]; highway : object[m]; name : object[m].
    mode : 'walk' or 'bike'; source : description.
    dropped_nodes, dropped_edges : parts removed because they were not in the largest
        connected component (reported, never silent).
    """

    crs: str
    node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    length_m: np.ndarray
    geom_xy: np.ndarray
    geom_offsets: np.ndarray
    oneway: np.ndarray
    highway: np.ndarray
    name: np.ndarray
    mode: str = "walk"
    source: str = ""
    dropped_nodes: int = 0
    dropped_edges: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)
