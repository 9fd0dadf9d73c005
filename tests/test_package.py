"""The installable package: a built wheel carries the bundled data and works away from the checkout."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tracked_copy(dst: Path) -> Path:
    """The repository's tracked files only (no .venv, caches or build folders), as a clean checkout has them."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


@pytest.mark.slow
def test_wheel_runs_outside_the_checkout(tmp_path):
    src = _tracked_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(wheels.glob("coverage_planner-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry = next(n for n in names if n.endswith("entry_points.txt"))
        assert "planner = planner.cli:main" in z.read(entry).decode()
    assert {"planner/data/facility_types.toml", "planner/data/samples/facilities_wgs84.csv", "maps/build.py"} <= names

    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "PLANNER_CACHE": str(tmp_path / "cache")}
    code = "import planner.config as c, planner; print(planner.__file__); print(c.DATA_DIR)"
    r = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    where, data = r.stdout.split()
    assert Path(where).is_relative_to(target) and Path(data) == target / "planner" / "data"
    r = subprocess.run([sys.executable, "-m", "planner", "coverage", "--demo", "--demo-scale", "0.2", "--type", "aed",
                        "--no-map", "--out", "out"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((elsewhere / "out" / "summary.json").read_text(encoding="utf-8"))
    assert 0 <= summary["types"]["aed"]["coverage_share"] <= 1
