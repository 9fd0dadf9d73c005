"""Facility types and travel speeds, read from TOML into frozen dataclasses."""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ._errors import InputError

__all__ = [
    "DATA_DIR",
    "metres_per_minute",
    "data_path",
    "FacilityType",
    "FacilityTypes",
    "load_facility_types",
    "default_types",
    "MODES",
]



def _data_dir() -> Path:
    """The bundled data folder: the installed package's ``planner/data`` (``importlib.resources``).

    ``pyproject.toml`` ships the repository's top-level ``data/`` as the package ``planner.data``;
    only a source checkout that was not installed falls back to that folder itself.
    """
    import importlib.resources

    try:
        return Path(str(importlib.resources.files("planner.data")))
    except ModuleNotFoundError:  # a source checkout used in place (python -m planner from the repository)
        return Path(__file__).resolve().parent.parent / "data"


DATA_DIR = _data_dir()
DEFAULT_TYPES_FILE = DATA_DIR / "facility_types.toml"


def data_path(name: str) -> Path:
    """A bundled data file (e.g. ``facility_types.toml``, ``samples/facilities_wgs84.csv``)."""
    return DATA_DIR / name
MODES = ("walk", "elderly", "bike")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def _norm(text: str) -> str:
    """Normalise a type label for alias matching: case-, space- and width-insensitive."""
    import unicodedata

    return re.sub(r"[\s_\-（）()]+", "", unicodedata.normalize("NFKC", str(text)).lower())


def metres_per_minute(speed_kmh: float) -> float:
    """A speed in km/h as metres per minute (the one place this conversion is written)."""
    return float(speed_kmh) * 1000.0 / 60.0


@dataclass(frozen=True)
class FacilityType:
    """One kind of facility and its access goal.

    Attributes
    ----------
    key : stable identifier (snake_case).
    label_zh, label_en : display names.
    target_minutes : travel-time goal, one way, in minutes.
    mode : ``walk``, ``elderly`` or ``bike``; picks the speed and the street network.
    speed_kmh : travel speed for ``mode`` in km/h.
    colour : ``#rrggbb`` used on maps.
    icon : Font Awesome icon name.
    per_area_goal : the plan asks for at least one per subdistrict.
    aliases : labels that map to this type in input files.
    """

    key: str
    label_zh: str
    label_en: str
    target_minutes: float
    mode: str = "walk"
    speed_kmh: float = 4.5
    colour: str = "#3182bd"
    icon: str = "circle"
    per_area_goal: bool = False
    aliases: tuple[str, ...] = field(default=())

    def label(self, lang: str = "en") -> str:
        return self.label_en if lang == "en" else self.label_zh

    @property
    def metres_per_minute(self) -> float:
        """This type's travel speed in metres per minute."""
        return metres_per_minute(self.speed_kmh)

    @property
    def target_m(self) -> float:
        """Distance reachable within the goal at this type's speed, in metres."""
        return self.target_minutes * self.metres_per_minute

    def with_goal(self, *, minutes: float | None = None, speed_kmh: float | None = None) -> FacilityType:
        """A copy with another time goal and/or speed (e.g. the elderly walking profile)."""
        for value, en, zh in ((minutes, "time goal (minutes)", "时间目标（分钟）"), (speed_kmh, "speed (km/h)", "速度（公里/小时）")):
            if value is not None and not (isinstance(value, (int, float)) and 0 < float(value) < 1e6):
                raise InputError(f"The {en} must be a positive number, not {value!r}.", f"{zh}须为正数，而非 {value!r}。")
        return replace(
            self,
            target_minutes=self.target_minutes if minutes is None else float(minutes),
            speed_kmh=self.speed_kmh if speed_kmh is None else float(speed_kmh),
        )


class FacilityTypes(Mapping[str, FacilityType]):
    """Read-only mapping ``key -> FacilityType`` with alias resolution."""

    def __init__(self, types: Mapping[str, FacilityType] | list[FacilityType], speeds: Mapping[str, float]):
        items = list(types.values()) if isinstance(types, Mapping) else list(types)
        self._types = {t.key: t for t in items}
        self.speeds = dict(speeds)
        self._alias: dict[str, str] = {}
        for t in items:
            for label in (t.key, t.label_zh, t.label_en, *t.aliases):
                self._alias.setdefault(_norm(label), t.key)

    def __getitem__(self, key: str) -> FacilityType:
        return self._types[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def resolve(self, value: object) -> str | None:
        """Map a label from a file (key, Chinese or English name, alias) to a type key, or None."""
        if value is None:
            return None
        return self._alias.get(_norm(str(value)))

    def get_type(self, key_or_label: str) -> FacilityType:
        """Look up by key or alias; raise InputError listing the known types."""
        key = self.resolve(key_or_label)
        if key is None:
            known = ", ".join(f"{t.key} ({t.label_zh})" for t in self._types.values())
            raise InputError(
                f"Unknown facility type '{key_or_label}'. Known types: {known}.",
                f"未知的设施类型「{key_or_label}」。已知类型：{known}。",
            )
        return self._types[key]

    def with_type(self, ftype: FacilityType) -> FacilityTypes:
        """A copy with one type added or replaced (user-defined types)."""
        merged = dict(self._types)
        merged[ftype.key] = ftype
        return FacilityTypes(merged, self.speeds)


def _parse_type(raw: dict, speeds: Mapping[str, float], where: str) -> FacilityType:
    def bad(en: str, zh: str) -> InputError:
        return InputError(f"{where}: {en}", f"{where}：{zh}")

    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise bad(f"type key {key!r} must be snake_case letters/digits", f"类型键 {key!r} 须为小写字母、数字和下划线")
    mode = raw.get("mode", "walk")
    if mode not in speeds:
        raise bad(f"type '{key}': mode {mode!r} is not one of {sorted(speeds)}", f"类型「{key}」：出行方式 {mode!r} 无效，可选 {sorted(speeds)}")
    try:
        minutes = float(raw["target_minutes"])
    except (KeyError, TypeError, ValueError):
        raise bad(f"type '{key}': target_minutes must be a number", f"类型「{key}」：target_minutes 须为数字") from None
    if not 0 < minutes < 1e6:
        raise bad(f"type '{key}': target_minutes must be positive", f"类型「{key}」：target_minutes 须大于 0")
    speed = raw.get("speed_kmh", speeds[mode])
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0 < speed < 1e3:
        raise bad(f"type '{key}': speed_kmh {speed!r} must be a positive number", f"类型「{key}」：speed_kmh {speed!r} 须为正数")
    colour = raw.get("colour", "#3182bd")
    if not _HEX.match(str(colour)):
        raise bad(f"type '{key}': colour {colour!r} must look like #1a2b3c", f"类型「{key}」：颜色 {colour!r} 须形如 #1a2b3c")
    return FacilityType(
        key=key,
        label_zh=str(raw.get("label_zh", key)),
        label_en=str(raw.get("label_en", key)),
        target_minutes=minutes,
        mode=mode,
        speed_kmh=float(speed),
        colour=str(colour),
        icon=str(raw.get("icon", "circle")),
        per_area_goal=bool(raw.get("per_area_goal", False)),
        aliases=tuple(str(a) for a in raw.get("aliases", ())),
    )


def load_facility_types(path: str | Path | None = None, *, extra: str | Path | None = None) -> FacilityTypes:
    """Read facility types from TOML (the bundled file by default).

    ``extra`` is an optional user TOML whose ``[[type]]`` entries are added to (or replace)
    the bundled ones: that is how user-defined types are declared. Errors name the file and
    the entry they are in.
    """
    path = Path(path) if path is not None else DEFAULT_TYPES_FILE
    speeds = {"walk": 4.5, "elderly": 3.6, "bike": 13.0}
    sources = [(path, _read_toml(path))]
    if extra is not None:
        sources.append((Path(extra), _read_toml(Path(extra))))
    for src, doc in sources:
        raw_speeds = doc.get("speeds", {})
        if not isinstance(raw_speeds, dict):
            raise InputError(f"{src.name}: [speeds] must be a table of mode = km/h.", f"{src.name}：[speeds] 须为“出行方式 = 公里/小时”的表。")
        for mode, v in raw_speeds.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e3:
                raise InputError(f"{src.name}: [speeds] {mode} = {v!r} must be a positive number (km/h).",
                                 f"{src.name}：[speeds] {mode} = {v!r} 须为正数（公里/小时）。")
            speeds[str(mode)] = float(v)
    types: dict[str, FacilityType] = {}
    for src, doc in sources:
        entries = doc.get("type", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InputError(f"{src.name}: facility types must be [[type]] tables.", f"{src.name}：设施类型须写成 [[type]] 表。")
        for i, raw in enumerate(entries):
            t = _parse_type(raw, speeds, f"{src.name} [[type]] #{i + 1}")
            types[t.key] = t
    if not types:
        raise InputError(f"{path}: no [[type]] entries", f"{path}：没有任何 [[type]] 条目")
    return FacilityTypes(types, speeds)


#: Largest facility-type file read, bytes (the bundled one is a few kB).
MAX_TYPES_FILE_BYTES = 10 * 1024**2


def _read_toml(path: Path) -> dict:
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, device (/dev/zero never ends) or pipe (never returns)
        raise InputError(f"{path}: not a regular file; give a saved .toml file.", f"{path}：不是普通文件；请提供已保存的 .toml 文件。")
    try:
        if path.stat().st_size > MAX_TYPES_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_TYPES_FILE_BYTES // 1024**2} MB; a facility type file is a few kB of TOML.",
                             f"{path}：超过 {MAX_TYPES_FILE_BYTES // 1024**2} MB；设施类型文件应为几 KB 的 TOML。")
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"Facility type file not found: {path}", f"找不到设施类型文件：{path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML (UTF-8 text) ({exc})", f"{path}：TOML 格式错误（须为 UTF-8 文本）（{exc}）") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc})", f"{path}：无法读取（{exc}）") from None


_DEFAULT: FacilityTypes | None = None


def default_types() -> FacilityTypes:
    """The bundled facility types (read once; the object is immutable)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_facility_types()
    return _DEFAULT
