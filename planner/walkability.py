"""Which streets people can walk on in a Chinese city: the tag rules of ``data/walk_rules.toml``
(elevated expressways, road tunnels, motor roads, their ramps), applied to OSM ways and graph edges."""
from __future__ import annotations

import hashlib
import logging
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "Condition",
    "TagRule",
    "WalkRules",
    "load_walk_rules",
    "default_walk_rules",
    "find_continuations",
    "CONTINUATION_LABELS",
    "NO_RULES",
]

#: Labels of the two continuation reasons (rule ids ``ramp`` and ``approach``).
CONTINUATION_LABELS = {
    "ramp": ("ramp leading to a dropped bridge, tunnel or motorway", "通往已排除高架、隧道或高速公路的匝道"),
    "approach": ("approach of a dropped bridge or tunnel", "已排除高架或隧道的引道"),
}


def _values(value: Any) -> tuple[str, ...]:
    """A tag value as a tuple of strings: osmnx keeps merged attributes as lists; NaN/None is no value."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set)):
        out: list[str] = []
        for v in value:
            out.extend(_values(v))
        return tuple(out)
    if isinstance(value, float) and math.isnan(value):
        return ()
    return (str(value),)


@dataclass(frozen=True)
class Condition:
    """One tag test: ``key`` (present), ``key=a|b`` (one of) or ``key!=a|b`` (present, none of)."""

    key: str
    values: tuple[str, ...] = ()
    negate: bool = False

    @classmethod
    def parse(cls, text: str, where: str) -> Condition:
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: a condition must be a non-empty string like \"bridge!=no\", not {text!r}.",
                             f"{where}：条件须为非空字符串，例如 \"bridge!=no\"，而非 {text!r}。")
        text = text.strip()
        negate = "!=" in text
        key, sep, rest = text.partition("!=" if negate else "=")
        key = key.strip()
        values = tuple(v.strip() for v in rest.split("|")) if sep else ()
        if not key or (sep and (not values or not all(values))):
            raise InputError(f"{where}: cannot read the condition {text!r}; write \"key\", \"key=a|b\" or \"key!=a|b\".",
                             f"{where}：无法解析条件 {text!r}；请写成 \"key\"、\"key=a|b\" 或 \"key!=a|b\"。")
        return cls(key, values, negate)

    def matches(self, tags: Mapping[str, Any]) -> bool:
        vals = _values(tags.get(self.key))
        if not vals:
            return False
        if not self.values:
            return True
        if self.negate:
            return any(v not in self.values for v in vals)
        return any(v in self.values for v in vals)

    def __str__(self) -> str:
        if not self.values:
            return self.key
        return f"{self.key}{'!=' if self.negate else '='}{'|'.join(self.values)}"


@dataclass(frozen=True)
class TagRule:
    """A not-walkable rule: ``highway`` in :attr:`highway` (if any) and one of :attr:`any` (if any)."""

    id: str
    en: str
    zh: str
    highway: tuple[str, ...] = ()
    any: tuple[Condition, ...] = ()

    def applies(self, tags: Mapping[str, Any]) -> bool:
        if self.highway and not any(h in self.highway for h in _values(tags.get("highway"))):
            return False
        return not self.any or any(c.matches(tags) for c in self.any)


@dataclass(frozen=True)
class WalkRules:
    """The rules from one TOML file (see ``data/walk_rules.toml`` and ``docs/osm_tags.md``).

    Attributes
    ----------
    rules : the not-walkable rules, tried in order (the first that applies names the reason).
    unless : per mode (``walk``, ``bike``), conditions that protect a way from every rule.
    ramp_highway, approach_highway, same_name, approach_max_m : the continuation settings.
    source : the file read. digest : a hash of the rules, part of the compiled-network cache key.
    """

    rules: tuple[TagRule, ...]
    unless: Mapping[str, tuple[Condition, ...]]
    ramp_highway: tuple[str, ...] = ()
    approach_highway: tuple[str, ...] = ()
    same_name: bool = False
    approach_max_m: float = 0.0
    source: str = ""
    digest: str = ""

    def protected(self, tags: Mapping[str, Any], mode: str) -> bool:
        """True when the way's tags say people may use it in ``mode`` (no rule applies then)."""
        return any(c.matches(tags) for c in self.unless.get(mode, ()))

    def rejection(self, tags: Mapping[str, Any], mode: str) -> str | None:
        """The id of the first rule that drops the way for ``mode``, or None."""
        return self.classify(tags, mode)[0]

    @cached_property
    def _quick(self) -> tuple[frozenset, tuple[str, ...]]:
        """Highway values and tag keys any rule or [unless] condition looks at (a way with none of
        them is walkable and unprotected without testing each rule)."""
        values = {h for r in self.rules for h in r.highway}
        # outside those highway values only the rules without a highway list can apply, and each
        # of them needs one of its conditions' keys
        keys = {c.key for r in self.rules if not r.highway for c in r.any}
        keys |= {c.key for conds in self.unless.values() for c in conds}
        return frozenset(values), tuple(sorted(keys))

    def classify(self, tags: Mapping[str, Any], mode: str) -> tuple[str | None, bool]:
        """``(rule id or None, protected)`` in one look at the tags (anything with ``.get``)."""
        values, keys = self._quick
        hw = tags.get("highway")
        if isinstance(hw, str) and hw not in values and not any(k in tags for k in keys):
            return None, False
        if self.protected(tags, mode):
            return None, True
        for r in self.rules:
            if r.applies(tags):
                return r.id, False
        return None, False

    def label(self, rule_id: str, lang: str = "en") -> str:
        """The rule's description in English or Chinese (its id when unknown)."""
        for r in self.rules:
            if r.id == rule_id:
                return r.en if lang == "en" else r.zh
        if rule_id in CONTINUATION_LABELS:
            return CONTINUATION_LABELS[rule_id][0 if lang == "en" else 1]
        return rule_id

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """Every tag key the rules read (osmnx must keep these on a downloaded graph)."""
        keys = ["highway", "name"]
        for r in self.rules:
            keys += [c.key for c in r.any]
        for conds in self.unless.values():
            keys += [c.key for c in conds]
        return tuple(dict.fromkeys(keys))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules) + tuple(CONTINUATION_LABELS)


def _str_list(raw: Any, what: str, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise InputError(f"{where}: {what} must be a list of strings, e.g. [\"trunk\", \"trunk_link\"].",
                         f"{where}：{what} 须为字符串列表，例如 [\"trunk\", \"trunk_link\"]。")
    return tuple(raw)


def _parse(doc: dict, name: str, digest: str) -> WalkRules:
    entries = doc.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{name}: rules must be [[rule]] tables.", f"{name}：规则须写成 [[rule]] 表。")
    rules: list[TagRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(entries, 1):
        where = f"{name} [[rule]] #{i}"
        rid = raw.get("id")
        if not isinstance(rid, str) or not rid or rid in CONTINUATION_LABELS:
            raise InputError(f"{where}: each rule needs an id (a short name such as \"elevated_trunk\"; not 'ramp' or 'approach').",
                             f"{where}：每条规则须有 id（如 \"elevated_trunk\"，不可用 ramp 或 approach）。")
        if rid in seen:
            raise InputError(f"{where}: the id '{rid}' is used twice; give each rule its own id.",
                             f"{where}：id「{rid}」重复；请为每条规则使用不同的 id。")
        seen.add(rid)
        highway = _str_list(raw.get("highway"), "highway", where)
        conds = tuple(Condition.parse(c, where) for c in _str_list(raw.get("any"), "any", where))
        if not highway and not conds:
            raise InputError(f"{where}: rule '{rid}' has neither highway nor any; it would drop every street.",
                             f"{where}：规则「{rid}」既无 highway 也无 any，将排除所有道路。")
        rules.append(TagRule(rid, str(raw.get("en", rid)), str(raw.get("zh", raw.get("en", rid))), highway, conds))
    unless_raw = doc.get("unless", {})
    if not isinstance(unless_raw, dict):
        raise InputError(f"{name}: [unless] must be a table of mode = [conditions].", f"{name}：[unless] 须为“出行方式 = [条件]”的表。")
    unless = {str(m): tuple(Condition.parse(c, f"{name} [unless] {m}") for c in _str_list(v, m, f"{name} [unless]"))
              for m, v in unless_raw.items()}
    cont = doc.get("continuation", {})
    if not isinstance(cont, dict):
        raise InputError(f"{name}: [continuation] must be a table.", f"{name}：[continuation] 须为表。")
    max_m = cont.get("approach_max_m", 0.0)
    if isinstance(max_m, bool) or not isinstance(max_m, (int, float)) or not 0 <= max_m < 1e5:
        raise InputError(f"{name}: [continuation] approach_max_m = {max_m!r} must be a number of metres >= 0.",
                         f"{name}：[continuation] approach_max_m = {max_m!r} 须为不小于 0 的米数。")
    return WalkRules(
        rules=tuple(rules),
        unless=unless,
        ramp_highway=_str_list(cont.get("ramp_highway"), "ramp_highway", f"{name} [continuation]"),
        approach_highway=_str_list(cont.get("approach_highway"), "approach_highway", f"{name} [continuation]"),
        same_name=bool(cont.get("same_name", False)),
        approach_max_m=float(max_m),
        source=name,
        digest=digest,
    )


def load_walk_rules(path: str | Path | None = None) -> WalkRules:
    """Read walkability rules from TOML: the bundled ``data/walk_rules.toml`` by default.

    A user file replaces the bundled rules (copy the bundled file and edit it). Errors name the
    file and the entry.

    Parameters
    ----------
    path : str or Path, optional
        A rules file with the layout of ``data/walk_rules.toml``.

    Returns
    -------
    WalkRules

    Raises
    ------
    InputError
        The file is missing, is not TOML, or an entry cannot be read.
    """
    from .config import DATA_DIR

    p = Path(path) if path is not None else DATA_DIR / "walk_rules.toml"
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"Walkability rules file not found: {p}", f"找不到步行规则文件：{p}") from None
    except OSError as exc:
        raise InputError(f"Cannot read the walkability rules file {p}: {exc}", f"无法读取步行规则文件 {p}：{exc}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{p}: not valid TOML ({exc}).", f"{p}：TOML 格式错误（{exc}）。") from None
    return _parse(doc, p.name if path is None else str(p), hashlib.sha256(data).hexdigest()[:16])


#: No walkability rules: only the general OSM filter (to compare with tools that do not know them).
NO_RULES = WalkRules(rules=(), unless={}, source="none", digest="none")

_DEFAULT: WalkRules | None = None


def default_walk_rules() -> WalkRules:
    """The bundled rules (read once; the object is immutable)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_walk_rules()
    return _DEFAULT


def find_continuations(
    rules: WalkRules,
    refs: np.ndarray,
    way_start: np.ndarray,
    highway: Sequence[str],
    name: Sequence[str],
    length_m: np.ndarray,
    *,
    kept: np.ndarray,
    protected: np.ndarray,
    rule_dropped: np.ndarray,
) -> dict[int, str]:
    """Ramps and approaches to drop with the ways the rules dropped: ``{way index: 'ramp'|'approach'}``.

    Parameters
    ----------
    refs, way_start : the node ids of every way, flattened, and each way's offset (``w + 1``).
        Graph edges are ways of two nodes.
    highway, name : per way (first value when several).
    length_m : per way, metres.
    kept : ways still in the network after the tag rules; protected : ways whose tags the
        [unless] conditions protect; rule_dropped : ways a tag rule dropped.
    """
    n = len(highway)
    if n == 0 or not rule_dropped.any():
        return {}
    way_start = np.asarray(way_start, np.int64)
    refs = np.asarray(refs)
    way_of = np.repeat(np.arange(n), np.diff(way_start))
    first = refs[way_start[:-1]]
    last = refs[way_start[1:] - 1]
    hw = np.asarray(highway, dtype=object)
    nm = np.asarray(name, dtype=object)
    open_ = kept & ~protected
    is_ramp = open_ & np.isin(hw, list(rules.ramp_highway))
    appr_class = np.isin(hw, list(rules.approach_highway))
    names = {x for x in nm[rule_dropped] if x} if rules.same_name else set()
    is_appr = open_ & ~is_ramp & (appr_class | (np.isin(nm, list(names)) if names else False))
    cand = is_ramp | is_appr
    if not cand.any():
        return {}
    # a node that a kept ordinary street uses is a ground junction: chains stop there
    ground = set(np.unique(refs[(kept & ~cand)[way_of]]).tolist())
    blocked = set(np.unique(refs[rule_dropped[way_of]]).tolist())
    # approach chains start at the bridges and tunnels of approach-class roads (not at ramps landing)
    start = rule_dropped & appr_class
    approach_at: dict[Any, tuple[float, set]] = {}
    for w in np.flatnonzero(start):
        for node in refs[way_start[w]:way_start[w + 1]].tolist():
            d, ns = approach_at.get(node, (0.0, set()))
            approach_at[node] = (0.0, ns | ({nm[w]} if nm[w] else set()))
    # a worklist, not repeated sweeps: each candidate is looked at when a node at its ends changes
    # (approaches in order of distance from their bridge or tunnel, as in Dijkstra)
    import heapq

    at_end: dict[Any, list[int]] = {}
    for w in np.flatnonzero(cand).tolist():
        at_end.setdefault(first[w], []).append(w)
        if last[w] != first[w]:
            at_end.setdefault(last[w], []).append(w)
    dropped: dict[int, str] = {}
    ramps: list[int] = []
    heap: list[tuple[float, int, Any, Any]] = []

    def offer(node) -> None:
        """A node became blocked or an approach point: look again at the candidates ending there."""
        for w in at_end.get(node, ()):
            if w in dropped:
                continue
            if is_ramp[w]:
                if node in blocked:
                    ramps.append(w)
            elif node in approach_at:
                d, ns = approach_at[node]
                total = d + float(length_m[w])
                if (appr_class[w] or nm[w] in ns) and total <= rules.approach_max_m:
                    there = last[w] if first[w] == node else first[w]
                    heapq.heappush(heap, (total, w, there, node))

    for node in set(blocked) | set(approach_at):
        if node in at_end:
            offer(node)
    while ramps or heap:
        while ramps:
            w = ramps.pop()
            if w in dropped:
                continue
            dropped[w] = "ramp"
            for x in (first[w], last[w]):
                if x not in ground and x not in blocked:
                    blocked.add(x)
                    offer(x)
        if heap:
            total, w, there, here = heapq.heappop(heap)
            if w in dropped:
                continue
            dropped[w] = "approach"
            if there not in ground:
                ns = approach_at[here][1] | ({nm[w]} if nm[w] else set())
                new_there = there not in approach_at or approach_at[there][0] > total
                if new_there:
                    approach_at[there] = (total, ns)
                blocked.add(there)
                offer(there)
    if dropped:
        logger.debug("continuations dropped: %d ramps, %d approaches",
                     sum(v == "ramp" for v in dropped.values()), sum(v == "approach" for v in dropped.values()))
    return dropped
