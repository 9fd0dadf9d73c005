"""The street graph as parsed, before compiling: what every parser (OSM, GraphML, osmnx, the demo) produces."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RawGraph"]


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
    audit : dict  what the parser dropped and why: ``dropped_km`` ``{reason: {highway class: km}}``,
        ``generator`` (the file's writer, e.g. "OSMnx 2.0.7"), ``rules`` (which walkability rules
        were applied).
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
    audit: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)
