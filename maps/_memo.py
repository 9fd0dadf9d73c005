"""Results of slow drawing steps remembered by the identity of what they were drawn from.

The app redraws its map on every rerun (a pan, a click, a widget) from the same cached results:
the same minutes surface, the same isochrone polygons, the same streets. Colouring and encoding a
2,048-pixel surface or simplifying a district's isochrones takes a second each on a Pudong-sized
study, so those steps are kept here, keyed by the input object's ``id`` (the object is held with
its result, so the id cannot be reused by another object) and the other arguments.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["by_identity"]

_MAX_ENTRIES = 8
_entries: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_lock = threading.Lock()


def by_identity(step: str, obj: Any, extra: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` the first time for ``(step, obj, extra)``, the remembered result afterwards.

    ``obj`` must not be mutated after it is drawn (the app's cached results never are).
    """
    key = (step, id(obj), extra)
    with _lock:
        hit = _entries.get(key)
        if hit is not None and hit[0] is obj:
            _entries.move_to_end(key)
            return hit[1]
    value = compute()
    with _lock:
        _entries[key] = (obj, value)
        _entries.move_to_end(key)
        while len(_entries) > _MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _entries.clear()
