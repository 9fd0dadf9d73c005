"""Scenarios a planner tries (proposed sites, closed facilities, parameters), stored locally in one SQLite file, atomically.

Every write is one SQLite transaction in WAL mode with ``synchronous=FULL``: a crash, a
``kill -9`` or a power cut during a save leaves every scenario saved before it intact (the
interrupted save is rolled back the next time the file is opened). A scenario is kept as JSON
text in one row, beside a few indexed columns for listing.

The store lives in ``$PLANNER_DATA/scenarios.sqlite`` or, by default,
``~/.local/share/coverage-planner/scenarios.sqlite``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import InputError, PlannerError
from .export import atomic_path, jsonable

logger = logging.getLogger(__name__)

__all__ = [
    "Site",
    "Scenario",
    "ScenarioInfo",
    "ScenarioStore",
    "StoreError",
    "default_store_path",
    "next_site_id",
    "ORIGINS",
    "MAX_NAME_CHARS",
]

#: Where a proposed site came from.
ORIGINS = ("click", "optimised", "file")
MAX_NAME_CHARS = 100
FILE_NAME = "scenarios.sqlite"
#: Written in the SQLite header (``PRAGMA application_id``) so a foreign database is recognised.
APPLICATION_ID = 0x43505331  # "CPS1"
SCHEMA_VERSION = 1
EXPORT_FORMAT = "coverage-planner-scenarios"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(PlannerError):
    """The scenario file cannot be used (not a scenario store, damaged, locked, unwritable)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Site:
    """A proposed facility site.

    Attributes
    ----------
    id : str
        Identifier, unique within the scenario.
    lon, lat : float
        WGS-84 degrees.
    type : str
        Facility-type key (``planner.config``).
    origin : {"click", "optimised", "file"}
        How the planner added it.
    """

    id: str
    lon: float
    lat: float
    type: str
    origin: str = "click"

    def to_dict(self) -> dict:
        return {"id": self.id, "lon": self.lon, "lat": self.lat, "type": self.type, "origin": self.origin}


def next_site_id(sites: Iterable[Site], prefix: str = "P") -> str:
    """The next free id ``P<n>``."""
    used = {s.id for s in sites}
    n = len(used) + 1
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"


@dataclass(frozen=True)
class Scenario:
    """What a planner tries: proposed sites, facilities closed, parameters, notes.

    Attributes
    ----------
    name : str
        Unique name in the store (may be Chinese), 1-100 characters.
    area_key : str
        The study area: ``"demo"`` or a compiled network's file name.
    type_key : str
        The facility type the scenario is about.
    sites : tuple of Site
    removed : tuple of str
        Ids of existing facilities closed in this scenario.
    params : dict
        Run parameters (``minutes``, ``speed_kmh``, ...), JSON-ready.
    notes : str
    created, updated : str
        ISO-8601 timestamps (UTC); filled in by :meth:`ScenarioStore.save` when empty.
    results : dict, optional
        Headline figures (see :func:`headline`), so scenarios compare without recomputing.
    """

    name: str
    area_key: str = "demo"
    type_key: str = ""
    sites: tuple[Site, ...] = ()
    removed: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    notes: str = ""
    created: str = ""
    updated: str = ""
    results: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN -> null, numpy scalars -> Python)."""
        return {
            "name": self.name,
            "area_key": self.area_key,
            "type_key": self.type_key,
            "sites": [s.to_dict() for s in self.sites],
            "removed": list(self.removed),
            "params": jsonable(dict(self.params)),
            "notes": self.notes,
            "created": self.created,
            "updated": self.updated,
            "results": jsonable(self.results) if self.results is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "scenario") -> Scenario:
        """Build and validate a scenario from :meth:`to_dict` output (e.g. an imported file)."""
        if not isinstance(data, Mapping):
            raise InputError(f"{source}: expected an object, got {type(data).__name__}.",
                             f"{source}：应为对象，实际为 {type(data).__name__}。")
        problems_en: list[str] = []
        problems_zh: list[str] = []
        sites = []
        for i, s in enumerate(data.get("sites") or []):
            try:
                sites.append(Site(str(s["id"]), float(s["lon"]), float(s["lat"]), str(s["type"]),
                                  str(s.get("origin", "click"))))
            except (KeyError, TypeError, ValueError) as exc:
                problems_en.append(f"site {i + 1}: {exc!r} (needs id, lon, lat, type)")
                problems_zh.append(f"第 {i + 1} 个点位：{exc!r}（需要 id、lon、lat、type）")
        params = data.get("params") or {}
        results = data.get("results")
        if not isinstance(params, Mapping):
            problems_en.append("params must be an object")
            problems_zh.append("params 必须是对象")
        if results is not None and not isinstance(results, Mapping):
            problems_en.append("results must be an object or null")
            problems_zh.append("results 必须是对象或 null")
        if problems_en:
            name = data.get("name", "?")
            raise InputError(f"{source} '{name}' is not valid: " + "; ".join(problems_en),
                             f"{source}「{name}」无效：" + "；".join(problems_zh))
        sc = cls(
            name=str(data.get("name", "")),
            area_key=str(data.get("area_key", "")),
            type_key=str(data.get("type_key", "")),
            sites=tuple(sites),
            removed=tuple(str(r) for r in (data.get("removed") or ())),
            params=dict(params),
            notes=str(data.get("notes") or ""),
            created=str(data.get("created") or ""),
            updated=str(data.get("updated") or ""),
            results=dict(results) if results is not None else None,
        )
        sc.validate()
        return sc

    def validate(self) -> None:
        """Raise InputError naming every problem (name, site coordinates, origins, duplicate ids)."""
        en: list[str] = []
        zh: list[str] = []
        try:
            check_name(self.name)
        except InputError as exc:
            en.append(exc.en)
            zh.append(exc.zh)
        seen: set[str] = set()
        for i, s in enumerate(self.sites):
            where_en, where_zh = f"site {i + 1} ('{s.id}')", f"第 {i + 1} 个点位（{s.id}）"
            if s.origin not in ORIGINS:
                en.append(f"{where_en}: origin '{s.origin}' is not one of {', '.join(ORIGINS)}")
                zh.append(f"{where_zh}：来源「{s.origin}」应为 {'、'.join(ORIGINS)} 之一")
            if not (math.isfinite(s.lon) and math.isfinite(s.lat) and -180 <= s.lon <= 180 and -90 <= s.lat <= 90):
                en.append(f"{where_en}: lon/lat ({s.lon}, {s.lat}) are not WGS-84 degrees")
                zh.append(f"{where_zh}：经纬度（{s.lon}, {s.lat}）不是有效的 WGS-84 坐标")
            if s.id in seen:
                en.append(f"{where_en}: the id is used by another site; give each site its own id")
                zh.append(f"{where_zh}：编号与其他点位重复；请为每个点位设置唯一编号")
            seen.add(s.id)
        if en:
            raise InputError("Scenario is not valid: " + "; ".join(en), "方案无效：" + "；".join(zh))


@dataclass(frozen=True)
class ScenarioInfo:
    """One line of :meth:`ScenarioStore.list`."""

    name: str
    area_key: str
    type_key: str
    updated: str
    n_sites: int


def check_name(name: object) -> str:
    """Return a valid scenario name (NFC-normalised, stripped) or raise InputError saying why."""
    if not isinstance(name, str):
        raise InputError(f"Scenario name must be text, not {type(name).__name__}.",
                         f"方案名称必须是文本，而不是 {type(name).__name__}。")
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise InputError("Scenario name is empty; give the scenario a name.", "方案名称为空；请输入方案名称。")
    if len(clean) > MAX_NAME_CHARS:
        raise InputError(
            f"Scenario name is {len(clean)} characters long; use at most {MAX_NAME_CHARS}.",
            f"方案名称长 {len(clean)} 个字符；最多 {MAX_NAME_CHARS} 个字符。",
        )
    if any(unicodedata.category(c) == "Cc" for c in clean):
        raise InputError("Scenario name contains control characters (line breaks, tabs); remove them.",
                         "方案名称含有控制字符（换行、制表符等）；请删除。")
    return clean


def default_store_path() -> Path:
    """``$PLANNER_DATA/scenarios.sqlite``, else ``~/.local/share/coverage-planner/scenarios.sqlite``."""
    base = os.environ.get("PLANNER_DATA")
    folder = Path(base).expanduser() if base else Path.home() / ".local" / "share" / "coverage-planner"
    return folder / FILE_NAME


# ---------------------------------------------------------------------------------------- store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scenarios (
    name TEXT PRIMARY KEY NOT NULL,
    area_key TEXT NOT NULL,
    type_key TEXT NOT NULL,
    n_sites INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scenarios_area ON scenarios(area_key, type_key);
CREATE INDEX IF NOT EXISTS scenarios_updated ON scenarios(updated);
"""


class ScenarioStore:
    """Scenarios in one local SQLite file; every method opens, works in one transaction and closes.

    Opening per call keeps the store safe to share between threads (Streamlit sessions) and
    processes; SQLite's locking serialises writers.

    Parameters
    ----------
    path : str or Path, optional
        The SQLite file; default :func:`default_store_path`. Its folder is created.
    timeout_s : float
        How long a write waits for another writer before failing.

    Raises
    ------
    StoreError
        When the file exists but is not a scenario store (not SQLite, or another program's
        database) or is damaged. The file is never overwritten.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout_s: float = 10.0):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.timeout_s = float(timeout_s)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder for scenarios {self.path.parent}: {exc}. Set PLANNER_DATA to a writable folder.",
                f"无法创建方案文件夹 {self.path.parent}：{exc}。请将 PLANNER_DATA 设为可写的文件夹。",
            ) from exc
        self._check_header()
        with self._connect() as conn:
            self._init_schema(conn)

    def __repr__(self) -> str:
        return f"ScenarioStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connection
    def _not_a_store(self, why_en: str, why_zh: str) -> StoreError:
        return StoreError(
            f"The scenario file {self.path} {why_en}. It was left unchanged. Move or rename it "
            f"(or restore a backup), or set PLANNER_DATA to another folder, then try again.",
            f"方案文件 {self.path} {why_zh}。该文件未被修改。请移动或重命名该文件（或恢复备份），"
            f"或将 PLANNER_DATA 设为其他文件夹后重试。",
        )

    def _check_header(self) -> None:
        if not self.path.exists():
            return
        if self.path.is_dir():
            raise self._not_a_store("is a folder, not a file", "是文件夹而不是文件")
        with open(self.path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head and head != _SQLITE_MAGIC:
            raise self._not_a_store("is not an SQLite database (it may be damaged or another kind of file)",
                                    "不是 SQLite 数据库（可能已损坏，或是其他类型的文件）")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the scenario file {self.path}: {exc}.",
                             f"无法打开方案文件 {self.path}：{exc}。") from exc
        try:
            # WAL + FULL: a committed transaction survives a process kill and a power cut; an
            # interrupted one is rolled back when the file is next opened.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"The scenario file {self.path} is busy (another window is saving); try again.",
                    f"方案文件 {self.path} 正被占用（另一窗口正在保存）；请重试。",
                ) from exc
            raise self._wrap(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._wrap(exc) from exc
        finally:
            conn.close()

    def _wrap(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return self._not_a_store(f"is damaged ({text})", f"已损坏（{text}）")
        return StoreError(f"Scenario file {self.path}: {text}.", f"方案文件 {self.path}：{text}。")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed as a whole or not at all."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id == APPLICATION_ID:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The scenario file {self.path} was written by a newer version of the planner "
                    f"(format {version}, this one reads {SCHEMA_VERSION}); update the planner.",
                    f"方案文件 {self.path} 由较新版本的规划工具写入（格式 {version}，本版本支持 {SCHEMA_VERSION}）；请更新。",
                )
            if "scenarios" in tables:
                return
        elif tables:
            raise self._not_a_store(
                f"is an SQLite database of another program (tables: {', '.join(sorted(tables)[:5])})",
                f"是其他程序的 SQLite 数据库（表：{'、'.join(sorted(tables)[:5])}）",
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        logger.info("created scenario store %s", self.path)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _row(sc: Scenario) -> tuple:
        body = json.dumps(sc.to_dict(), ensure_ascii=False, allow_nan=False)
        return (sc.name, sc.area_key, sc.type_key, len(sc.sites), sc.created, sc.updated, body)

    @staticmethod
    def _exists(conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM scenarios WHERE name=?", (name,)).fetchone() is not None

    @staticmethod
    def _exists_error(name: str) -> InputError:
        return InputError(
            f"A scenario named '{name}' already exists; choose another name or overwrite it.",
            f"已存在名为「{name}」的方案；请换一个名称，或选择覆盖。",
        )

    def _missing_error(self, conn: sqlite3.Connection, name: str) -> InputError:
        names = [r[0] for r in conn.execute("SELECT name FROM scenarios ORDER BY updated DESC LIMIT 10")]
        known_en = ", ".join(f"'{n}'" for n in names) or "none saved yet"
        known_zh = "、".join(f"「{n}」" for n in names) or "尚未保存任何方案"
        return InputError(f"No scenario named '{name}'. Saved scenarios: {known_en}.",
                          f"没有名为「{name}」的方案。已保存的方案：{known_zh}。")

    @staticmethod
    def _decode(body: str, name: str) -> Scenario:
        return Scenario.from_dict(json.loads(body), source=f"stored scenario '{name}'")

    # ------------------------------------------------------------------ API
    def save(self, scenario: Scenario, *, overwrite: bool = False) -> Scenario:
        """Store a scenario in one transaction; return it as stored (timestamps filled in).

        ``created`` is kept when given (or, on overwrite, taken from the stored one);
        ``updated`` is set to now.

        Raises
        ------
        InputError
            Invalid scenario, or the name exists and ``overwrite`` is False.
        """
        name = check_name(scenario.name)
        sc = replace(scenario, name=name)
        sc.validate()
        now = _now()
        with self._write() as conn:
            old = conn.execute("SELECT created FROM scenarios WHERE name=?", (name,)).fetchone()
            if old is not None and not overwrite:
                raise self._exists_error(name)
            created = sc.created or (old[0] if old else now)
            sc = replace(sc, created=created, updated=now)
            conn.execute("INSERT OR REPLACE INTO scenarios VALUES (?,?,?,?,?,?,?)", self._row(sc))
        logger.info("saved scenario %r (%d sites) to %s", name, len(sc.sites), self.path)
        return sc

    def load(self, name: str) -> Scenario:
        """The scenario called ``name``; InputError listing saved names when there is none."""
        name = check_name(name)
        with self._connect() as conn:
            row = conn.execute("SELECT body FROM scenarios WHERE name=?", (name,)).fetchone()
            if row is None:
                raise self._missing_error(conn, name)
        return self._decode(row[0], name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name.strip():
            return False
        with self._connect() as conn:
            return self._exists(conn, unicodedata.normalize("NFC", name).strip())

    def list(self, *, area_key: str | None = None) -> list[ScenarioInfo]:
        """Saved scenarios, most recently updated first (optionally of one study area)."""
        sql = "SELECT name, area_key, type_key, updated, n_sites FROM scenarios"
        args: tuple = ()
        if area_key is not None:
            sql += " WHERE area_key=?"
            args = (area_key,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY updated DESC, name", args).fetchall()
        return [ScenarioInfo(*r) for r in rows]

    def delete(self, name: str) -> None:
        """Remove a scenario; InputError when there is none of that name."""
        name = check_name(name)
        with self._write() as conn:
            if conn.execute("DELETE FROM scenarios WHERE name=?", (name,)).rowcount == 0:
                raise self._missing_error(conn, name)
        logger.info("deleted scenario %r", name)

    def duplicate(self, name: str, new_name: str) -> Scenario:
        """Copy a scenario under a new name (new timestamps); return the copy."""
        name, new_name = check_name(name), check_name(new_name)
        now = _now()
        with self._write() as conn:
            row = conn.execute("SELECT body FROM scenarios WHERE name=?", (name,)).fetchone()
            if row is None:
                raise self._missing_error(conn, name)
            if self._exists(conn, new_name):
                raise self._exists_error(new_name)
            sc = replace(self._decode(row[0], name), name=new_name, created=now, updated=now)
            conn.execute("INSERT INTO scenarios VALUES (?,?,?,?,?,?,?)", self._row(sc))
        return sc

    def rename(self, name: str, new_name: str) -> Scenario:
        """Give a scenario another name (``created`` kept); return it."""
        name, new_name = check_name(name), check_name(new_name)
        with self._write() as conn:
            row = conn.execute("SELECT body FROM scenarios WHERE name=?", (name,)).fetchone()
            if row is None:
                raise self._missing_error(conn, name)
            if new_name == name:
                return self._decode(row[0], name)
            if self._exists(conn, new_name):
                raise self._exists_error(new_name)
            sc = replace(self._decode(row[0], name), name=new_name, updated=_now())
            conn.execute("DELETE FROM scenarios WHERE name=?", (name,))
            conn.execute("INSERT INTO scenarios VALUES (?,?,?,?,?,?,?)", self._row(sc))
        return sc

    def check(self) -> list[str]:
        """``PRAGMA integrity_check`` problems (empty when the file is sound)."""
        with self._connect() as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def export_file(self, path: str | os.PathLike, *, names: list[str] | None = None) -> Path:
        """Write scenarios (all, or ``names``) to one JSON file, atomically, for another machine."""
        with self._connect() as conn:
            if names is None:
                rows = conn.execute("SELECT name, body FROM scenarios ORDER BY name").fetchall()
            else:
                rows = []
                for n in names:
                    n = check_name(n)
                    r = conn.execute("SELECT name, body FROM scenarios WHERE name=?", (n,)).fetchone()
                    if r is None:
                        raise self._missing_error(conn, n)
                    rows.append(r)
        doc = {"format": EXPORT_FORMAT, "version": SCHEMA_VERSION, "exported": _now(),
               "scenarios": [json.loads(body) for _, body in rows]}
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        logger.info("exported %d scenario(s) to %s", len(rows), path)
        return path

    def import_file(self, path: str | os.PathLike, *, overwrite: bool = False) -> list[str]:
        """Read a file written by :meth:`export_file` and store its scenarios in one transaction.

        Every scenario is checked before anything is written; with ``overwrite=False`` a name
        that already exists stops the import (nothing imported) with the list of clashes.

        Returns
        -------
        list of str
            The names imported.
        """
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path.name} cannot be read as a scenario file: {exc}.",
                             f"{path.name} 无法作为方案文件读取：{exc}。") from exc
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT or not isinstance(doc.get("scenarios"), list):
            raise InputError(f"{path.name} is not a scenario file exported by the planner (no '{EXPORT_FORMAT}' format tag).",
                             f"{path.name} 不是本工具导出的方案文件（缺少「{EXPORT_FORMAT}」格式标记）。")
        if int(doc.get("version", 0)) > SCHEMA_VERSION:
            raise InputError(f"{path.name} was written by a newer version of the planner; update the planner.",
                             f"{path.name} 由较新版本的规划工具写入；请更新。")
        scenarios = [Scenario.from_dict(d, source=f"{path.name} #{i + 1}") for i, d in enumerate(doc["scenarios"])]
        names = [check_name(s.name) for s in scenarios]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise InputError(f"{path.name} holds more than one scenario named {dups}.",
                             f"{path.name} 中有多个同名方案：{dups}。")
        now = _now()
        with self._write() as conn:
            clash = [n for n in names if self._exists(conn, n)]
            if clash and not overwrite:
                raise InputError(
                    f"Not imported: scenarios named {clash} already exist; rename them first or choose overwrite.",
                    f"未导入：已存在名为 {clash} 的方案；请先重命名，或选择覆盖。",
                )
            for sc, n in zip(scenarios, names):
                sc = replace(sc, name=n, created=sc.created or now, updated=sc.updated or now)
                conn.execute("INSERT OR REPLACE INTO scenarios VALUES (?,?,?,?,?,?,?)", self._row(sc))
        logger.info("imported %d scenario(s) from %s", len(names), path)
        return names
