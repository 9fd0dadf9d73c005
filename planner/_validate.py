"""Reusable checks of numeric options (finite, positive, in range, time breaks) with bilingual messages.

Each check names the option as the user typed it: the command-line flag when one is given
(``--max-snap-m``), else the keyword (``max_snap_m``). The CLI and the app pass values straight
to the library; the library functions that receive them call these checks, so every front end
refuses the same nonsense with the same words.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from ._errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["number", "breaks", "MAX_DISTANCE_M", "MAX_MINUTES", "MIN_MINUTES", "MAX_SPEED_KMH", "MIN_SPEED_KMH"]

#: Largest distance option accepted, metres (a snap or tolerance beyond 100 km is a typo, not a study).
MAX_DISTANCE_M = 100_000.0
#: Largest time in minutes accepted for goals and breaks (one day).
MAX_MINUTES = 1440.0
#: Largest travel speed accepted, km/h (walking 4.5, cycling 15; 100 is a typo).
MAX_SPEED_KMH = 100.0
#: Smallest travel speed accepted, km/h (a slow walk with a frame is about 2; 1e-300 gives
#: astronomically long times rather than an answer).
MIN_SPEED_KMH = 0.5
#: Smallest time goal or break accepted, minutes (6 seconds; the AED goal is 1.5 minutes).
MIN_MINUTES = 0.1


def _label(name: str, flag: str | None) -> str:
    return f"{flag} ({name})" if flag else name


def number(
    value,
    *,
    name: str,
    flag: str | None = None,
    unit_en: str = "",
    unit_zh: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    allow_min: bool = True,
    allow_none: bool = False,
) -> float | None:
    """``value`` as a finite float within ``[minimum, maximum]`` (``(minimum, ...`` when not ``allow_min``).

    Parameters
    ----------
    value : number
        What the user gave (NaN, inf, strings and booleans are refused).
    name, flag : str
        The keyword and, when the value comes from the command line, its flag; both are named
        in the message.
    unit_en, unit_zh : str
        Unit words for the message ("metres", "米").
    minimum, maximum : float, optional
        Bounds; ``allow_min=False`` makes the lower bound exclusive (a positive number).
    allow_none : bool
        Return None for None instead of refusing it.

    Raises
    ------
    InputError
        With a bilingual message naming the option, the value received and the accepted range.
    """
    if value is None and allow_none:
        return None
    label = _label(name, flag)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if ok and math.isfinite(v):
        ok = (minimum is None or (v >= minimum if allow_min else v > minimum)) and (maximum is None or v <= maximum)
    else:
        ok = False
    if not ok:
        unit_en = f" {unit_en}" if unit_en else ""
        unit_zh = f"（{unit_zh}）" if unit_zh else ""
        if minimum == 0 and not allow_min:
            what_en, what_zh = f"a positive number{unit_en}", f"正数{unit_zh}"
        elif minimum == 0:
            what_en, what_zh = f"a number{unit_en} >= 0", f"非负数{unit_zh}"
        elif minimum is not None:
            op = ">=" if allow_min else ">"
            what_en, what_zh = f"a number{unit_en} {op} {minimum:g}", f"{'不小于' if allow_min else '大于'} {minimum:g} 的数{unit_zh}"
        else:
            what_en, what_zh = f"a finite number{unit_en}", f"有限数值{unit_zh}"
        if maximum is not None:
            what_en += f", at most {maximum:g}"
            what_zh += f"，且不超过 {maximum:g}"
        raise InputError(f"{label} must be {what_en}; got {value!r}.", f"{label} 须为{what_zh}；收到 {value!r}。")
    return v


def breaks(values: Iterable | None, *, name: str = "breaks", flag: str | None = "--breaks",
           maximum: float = MAX_MINUTES) -> list[float] | None:
    """Isochrone band edges in minutes: finite, positive, at most ``maximum``, no value twice; sorted.

    Duplicates (``5,5`` or ``10,5,5``) are refused: two bands with the same edge would draw an
    empty band and count nobody in it.
    """
    if values is None:
        return None
    vals = list(values)
    label = _label(name, flag)
    if not vals:
        raise InputError(f"{label} is empty: give minutes such as 5,10,15.", f"{label} 为空：请给出分钟数，如 5,10,15。")
    out = [number(v, name=name, flag=flag, unit_en="(minutes)", unit_zh="分钟", minimum=MIN_MINUTES,
                  maximum=maximum) for v in vals]
    seen: set[float] = set()
    dup = sorted({v for v in out if v in seen or seen.add(v)})
    if dup:
        shown = ", ".join(f"{v:g}" for v in dup)
        given = ",".join(f"{v:g}" for v in out)
        fixed = ",".join(f"{v:g}" for v in sorted(set(out)))
        raise InputError(
            f"{label} {given} gives the same minutes more than once ({shown}); each band edge must differ, e.g. {fixed}.",
            f"{label} {given} 中有重复的分钟数（{shown}）；各分段须互不相同，例如 {fixed}。",
        )
    return sorted(out)
