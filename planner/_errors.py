"""Error types: one base class, bilingual messages, and per-row problems that say how to fix the input."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Problem",
    "PlannerError",
    "InputError",
    "NetworkError",
    "OfflineError",
    "InfeasibleError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as the user sees it.

    ``row`` is the spreadsheet row number (header = row 1), ``column`` the column name as it
    appears in the file. ``en``/``zh`` say what is wrong and how to fix it.
    """

    code: str
    en: str
    zh: str
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def location(self, lang: str = "en") -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}" if lang == "en" else f"第 {self.row} 行")
        if self.column:
            parts.append(f"column '{self.column}'" if lang == "en" else f"列「{self.column}」")
        return ", ".join(parts) if lang == "en" else "，".join(parts)

    def message(self, lang: str = "en") -> str:
        text = self.en if lang == "en" else self.zh
        where = self.location(lang)
        return f"{where}: {text}" if where else text


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose (bad input, offline, infeasible).

    Carries an English and a Chinese message and, for input files, the list of problems.
    ``str(err)`` gives both languages; ``err.message(lang)`` one of them.
    """

    max_listed = 50

    def __init__(self, en: str, zh: str | None = None, *, problems: Iterable[Problem] = ()):
        self.en = en
        self.zh = zh if zh is not None else en
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.message("zh") + "\n" + self.message("en"))

    def message(self, lang: str = "en") -> str:
        head = self.en if lang == "en" else self.zh
        if not self.problems:
            return head
        lines = [head]
        for p in self.problems[: self.max_listed]:
            lines.append("  - " + p.message(lang))
        extra = len(self.problems) - self.max_listed
        if extra > 0:
            lines.append(f"  ... and {extra} more" if lang == "en" else f"  …… 另有 {extra} 处")
        return "\n".join(lines)


class InputError(PlannerError, ValueError):
    """An input file or argument is unusable as given."""


class NetworkError(PlannerError):
    """The street network cannot be loaded or built."""


class OfflineError(NetworkError):
    """A download was needed but there is no internet connection."""


class InfeasibleError(PlannerError, ValueError):
    """A siting request cannot be met (target unreachable, more sites than candidates, no demand)."""
