"""Minutes surfaces as images: minutes -> RGBA in the map's colour scale, and a small PNG encoder.

The encoder is numpy + zlib (every row uses PNG's "Up" filter, which suits smooth surfaces), so
the map needs no imaging library.
"""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from .style import (  # colours live in maps/style.py
    SURFACE_BEYOND,
    SURFACE_BEYOND_COLOURS,
    SURFACE_COLOURS,
    SURFACE_UNREACHABLE,
    gap_scale_top,
)

__all__ = ["SURFACE_COLOURS", "SURFACE_BEYOND", "SURFACE_BEYOND_COLOURS", "SURFACE_UNREACHABLE", "surface_rgba", "png_bytes", "png_data_url"]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _lut(colours, n: int = 1024) -> np.ndarray:
    """``uint8[n, 3]`` linear between the stops: indexing it is several times faster than interpolating per pixel."""
    stops = np.array([_rgb(c) for c in colours], dtype=np.float64)
    x = np.linspace(0.0, len(stops) - 1, n)
    i = np.minimum(np.floor(x).astype(np.int64), len(stops) - 2)
    return np.rint(stops[i] * (1 - (x - i))[:, None] + stops[i + 1] * (x - i)[:, None]).astype(np.uint8)


def _index(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        idx = np.clip((values - np.float32(lo)) * np.float32((n - 1) / (hi - lo)), 0, n - 1)
    return np.rint(np.nan_to_num(idx, nan=0.0, posinf=n - 1)).astype(np.int32)


def surface_rgba(minutes: np.ndarray, *, goal_minutes: float, top_minutes: float | None = None) -> np.ndarray:
    """Colour a minutes grid: ``uint8[rows, cols, 4]``.

    0 .. ``goal_minutes`` runs along :data:`SURFACE_COLOURS` (linear between stops); above the
    goal, :data:`SURFACE_BEYOND_COLOURS` from the goal to ``top_minutes`` (default
    :func:`maps.style.gap_scale_top`, the gap cells' top) and its darkest colour further; ``inf`` is
    :data:`SURFACE_UNREACHABLE`, and ``nan`` (no street nearby) is transparent.
    """
    if not goal_minutes > 0:
        raise ValueError(f"goal_minutes must be positive, not {goal_minutes!r}")
    top = float(top_minutes) if top_minutes is not None else gap_scale_top(goal_minutes)
    top = max(top, float(goal_minutes) * 1.01)
    m = np.asarray(minutes, dtype=np.float32)
    n = 1024
    out = np.empty(m.shape + (4,), dtype=np.uint8)
    out[..., :3] = _lut(SURFACE_COLOURS, n)[_index(m, 0.0, float(goal_minutes), n)]
    out[..., 3] = 255
    with np.errstate(invalid="ignore"):
        beyond = np.isfinite(m) & (m > np.float32(goal_minutes) * np.float32(1 + 1e-6))
    out[beyond, :3] = _lut(SURFACE_BEYOND_COLOURS, n)[_index(m[beyond], float(goal_minutes), top, n)]
    out[np.isposinf(m), :3] = _rgb(SURFACE_UNREACHABLE)
    out[np.isnan(m)] = 0
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgba: np.ndarray, *, level: int = 6) -> bytes:
    """Encode ``uint8[rows, cols, 4]`` as an 8-bit RGBA PNG (row 0 at the top)."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] != 4 or a.dtype != np.uint8 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"png_bytes expects a non-empty uint8 array of shape (rows, cols, 4), not {a.dtype} {a.shape}")
    rows, cols = a.shape[:2]
    flat = a.reshape(rows, cols * 4)
    up = flat.copy()
    up[1:] -= flat[:-1]  # the "Up" filter: bytes minus the row above, modulo 256
    raw = np.empty((rows, cols * 4 + 1), dtype=np.uint8)
    raw[:, 0] = 2
    raw[:, 1:] = up
    head = struct.pack(">IIBBBBB", cols, rows, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", head) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + _chunk(b"IEND", b"")


def png_data_url(rgba: np.ndarray, *, level: int = 1) -> str:
    """``data:image/png;base64,...`` of :func:`png_bytes`.

    The map redraws its images whenever a type or scenario changes: zlib level 1 encodes a 2,048-pixel
    surface about five times faster than level 6 for a file about a quarter larger (measured on the demo:
    0.06 s and 1.9 MB against 0.33 s and 1.5 MB), and the page is read from localhost or a file.
    """
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgba, level=level)).decode("ascii")
