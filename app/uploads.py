"""Uploads kept safe: size and type limits, sanitised names, content-addressed storage in the app's data folder."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from planner import InputError
from planner.export import slug

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "UPLOAD_SUFFIXES", "max_upload_mb", "app_data_dir", "safe_filename", "save_upload",
           "prune_uploads", "compiled_networks", "uploader_css"]

#: Default upload limit, megabytes (``PLANNER_MAX_UPLOAD_MB`` overrides it).
DEFAULT_MAX_UPLOAD_MB = 200.0

#: Accepted file endings per upload kind (lower case). Anything else is refused before it is written.
UPLOAD_SUFFIXES: dict[str, tuple[str, ...]] = {
    "network": (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".graphml"),
    "facilities": (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".geojson", ".json", ".gpkg", ".zip"),
    "demand": (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".geojson", ".json", ".gpkg", ".zip", ".tif", ".tiff"),
    "areas": (".geojson", ".json", ".gpkg", ".zip"),
}
UPLOAD_SUFFIXES["boundaries"] = UPLOAD_SUFFIXES["areas"]  # the older name of the same kind
UPLOAD_SUFFIXES["candidates"] = UPLOAD_SUFFIXES["facilities"]  # candidate sites: points, like facilities
UPLOAD_SUFFIXES["exclusions"] = UPLOAD_SUFFIXES["areas"]  # exclusion zones: polygons


# ============================================================================ limits and uploads
def max_upload_mb() -> float:
    """The upload size limit in MB: ``$PLANNER_MAX_UPLOAD_MB`` or :data:`DEFAULT_MAX_UPLOAD_MB`."""
    raw = os.environ.get("PLANNER_MAX_UPLOAD_MB", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        logger.warning("PLANNER_MAX_UPLOAD_MB=%r is not a number; using %g", raw, DEFAULT_MAX_UPLOAD_MB)
        value = DEFAULT_MAX_UPLOAD_MB
    return value if value > 0 else DEFAULT_MAX_UPLOAD_MB


def app_data_dir() -> Path:
    """The app's data folder (created): ``$PLANNER_DATA`` or ``~/.local/share/coverage-planner``.

    The same folder holds the scenario store (:func:`planner.store.default_store_path`).
    """
    raw = os.environ.get("PLANNER_DATA")
    path = Path(raw).expanduser() if raw else Path.home() / ".local" / "share" / "coverage-planner"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _suffix_of(name: str, allowed: Iterable[str]) -> str | None:
    low = name.lower()
    for s in sorted(allowed, key=len, reverse=True):  # ".osm.pbf" before ".pbf"
        if low.endswith(s):
            return s
    return None


def safe_filename(name: str, *, max_len: int = 80) -> str:
    """A file name safe to write: the last path component, letters/digits/CJK, ``-``, ``_`` and ``.`` only.

    Directory parts (``../``, ``C:\\``), control characters, spaces and leading dots are removed,
    so the result can never point outside the folder it is joined to.
    """
    base = PureWindowsPath(PurePosixPath(str(name)).name).name
    base = slug(base, max_len=4 * len(base) + 8, keep_dots=True)  # the one rule (planner.export.slug), not cut yet
    if len(base) > max_len:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: max_len - len(ext) - 1] + "." + ext) if dot and len(ext) < 12 else base[:max_len]
    return base or "upload"


def save_upload(name: str, data: bytes, *, kind: str, data_dir: str | Path | None = None,
                max_mb: float | None = None) -> Path:
    """Write an uploaded file under ``<data_dir>/uploads`` and return its path.

    The file is refused (``InputError``, nothing written) when it is larger than ``max_mb``
    (default :func:`max_upload_mb`) or its ending is not one of ``UPLOAD_SUFFIXES[kind]``. The
    stored path is ``uploads/<sha256 prefix>/<sanitised name>``: a user-supplied name never becomes
    a path, messages name the file as the user knows it, and the same content maps to the same
    file (so results cached on the path stay valid).
    Uploads are only ever read as data, never executed or imported.

    Parameters
    ----------
    name : str
        The name the browser sent (only used, sanitised, as a label).
    data : bytes
    kind : {'network', 'facilities', 'demand', 'areas', 'candidates', 'exclusions'} (``'boundaries'`` is accepted as
        ``'areas'``)
    """
    if kind not in UPLOAD_SUFFIXES:
        raise ValueError(f"unknown upload kind {kind!r}")
    limit = float(max_mb if max_mb is not None else max_upload_mb())
    size_mb = len(data) / 1e6
    if size_mb > limit:
        raise InputError(
            f"{safe_filename(name)}: {size_mb:.1f} MB is larger than the upload limit of {limit:g} MB "
            "(PLANNER_MAX_UPLOAD_MB). Cut the file to the study area or raise the limit.",
            f"{safe_filename(name)}：文件 {size_mb:.1f} MB，超过上传上限 {limit:g} MB（PLANNER_MAX_UPLOAD_MB）。"
            "请裁剪到研究范围或调高上限。",
        )
    allowed = UPLOAD_SUFFIXES[kind]
    safe = safe_filename(name)
    if _suffix_of(safe, allowed) is None:
        raise InputError(
            f"{safe}: this file type is not accepted here; use one of {', '.join(allowed)}.",
            f"{safe}：此处不接受该文件类型；请使用 {'、'.join(allowed)}。",
        )
    folder = Path(data_dir) if data_dir is not None else app_data_dir()
    folder = (folder / "uploads").resolve()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = (folder / digest / safe).resolve()
    if target.parent.parent != folder:  # cannot happen after safe_filename; a cheap belt and braces
        raise InputError("Refused an upload name that points outside the data folder.", "拒绝了指向数据目录之外的上传文件名。")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        fd, tmp = tempfile.mkstemp(prefix=".upload.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o600)  # data, never executable
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        os.utime(target)  # in use again: prune_uploads counts a day from the last upload, not the first
    logger.info("upload %r (%s, %d bytes) stored as %s", safe_filename(name), kind, len(data), target)
    return target


def prune_uploads(data_dir: str | Path | None = None, *, max_age_s: float = 86400.0, keep: Iterable = (),
                  now: float | None = None) -> list[Path]:
    """Remove stored uploads not uploaded again for ``max_age_s`` seconds (default a day).

    Looks only under ``<data_dir>/uploads`` (default :func:`app_data_dir`), at the
    ``<sha256 prefix>/<name>`` files :func:`save_upload` writes and at temporary files a crash
    left; folders emptied are removed too. Paths in ``keep`` (the uploads the live sessions
    use) stay whatever their age. Each removal is logged with its size.

    Parameters
    ----------
    data_dir : path, optional
    max_age_s : float
        Age in seconds, from the file's last upload (its modification time). ``0`` removes
        every upload not in ``keep``: what an app does when its last session ends.
    keep : iterable of paths
    now : float, optional
        The current time (``time.time()``), for tests.

    Returns
    -------
    list of Path
        The files removed.
    """
    import time

    from planner import _validate as V

    max_age_s = V.number(max_age_s, name="max_age_s", unit_en="(seconds)", unit_zh="秒", minimum=0.0)
    folder = (Path(data_dir) if data_dir is not None else app_data_dir()) / "uploads"
    if not folder.is_dir():
        return []
    now = time.time() if now is None else float(now)
    keep_set = {Path(k).resolve() for k in keep}
    removed: list[Path] = []
    for sub in sorted(folder.iterdir()):
        if not sub.is_dir() or sub.is_symlink():
            continue
        for f in sorted(sub.iterdir()):
            try:
                st = f.lstat()
            except FileNotFoundError:
                continue
            if f.is_dir() or f.resolve() in keep_set or now - st.st_mtime < max_age_s:
                continue
            try:
                f.unlink()
            except FileNotFoundError:  # another session removed it first
                continue
            logger.info("removed upload %s (%d bytes, last uploaded %.0f s ago)", f, st.st_size, now - st.st_mtime)
            removed.append(f)
        try:
            sub.rmdir()  # only when empty
        except OSError:
            pass
    return removed


def compiled_networks(cache_dir: str | Path | None = None) -> list[Path]:
    """Compiled networks (``*.npz``) already in the cache folder, newest first."""
    from planner.network import default_cache_dir

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)


def uploader_css(lang: str, max_mb: float | None = None) -> str:
    """A ``<style>`` putting the file uploaders' own words (Streamlit writes them in English) into Chinese.

    Streamlit has no setting for them: the dropzone's button label, its size note and the drag-over text are
    shrunk to nothing and the catalogue's words drawn in their place with CSS ``::after``. Only the uploaders'
    dropzones are touched; in English the style is empty.
    """
    if lang != "zh":
        return "<style></style>"
    from planner.i18n import section

    text = section("app")
    limit = max_mb if max_mb is not None else max_upload_mb()

    def q(key: str, **kw) -> str:  # the catalogue's words as a CSS string (quotes, backslashes and newlines escaped)
        value = text[key][0].format(**kw)
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'

    dz = '[data-testid="stFileUploaderDropzone"]'
    return (
        "<style>"
        f'{dz} button [data-testid="stMarkdownContainer"] p{{font-size:0}}'
        f'{dz} button [data-testid="stMarkdownContainer"] p::after{{content:{q("upl_browse")};font-size:.875rem}}'
        f'[data-testid="stFileUploaderDropzoneInstructions"] span{{font-size:0}}'
        f'[data-testid="stFileUploaderDropzoneInstructions"] span::after{{content:{q("upl_limit", mb=f"{limit:g}")};'
        "font-size:.875rem}"
        f"{dz} > input + div:not([data-testid]) *{{font-size:0}}"
        f"{dz} > input + div:not([data-testid]) *::after{{content:{q('upl_drop')};font-size:1rem}}"
        "</style>"
    )
