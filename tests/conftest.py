"""Shared fixtures: paths to the real data kept beside the repository (skipped when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PLANNER_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """Path to a file under ../shared/data; the calling test is skipped if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def huangpu_osm() -> Path:
    return shared_file("shanghai", "osm", "huangpu_people_square_drive_osmnx.osm")


@pytest.fixture
def subdistricts_geojson() -> Path:
    return shared_file("shanghai", "boundaries", "shanghai_subdistricts_8central_osm_20260819.geojson")
