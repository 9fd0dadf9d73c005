"""Text from user files and user input made safe for the places Streamlit renders as markdown.

``st.markdown``, ``st.write``, ``st.caption``, ``st.info/warning/error/success``, ``st.toast`` and widget labels
render markdown: a facility name like ``![x](http://evil.example/t.png)`` would make the browser fetch an
external image, ``[x](javascript:...)`` a link, ``**``/``_``/``$...$``/``:red[...]`` markup, LaTeX or a
directive. :func:`md_escape` turns any such text into markdown that shows it exactly as written (backslash
escapes are not displayed: ``\\*`` renders as ``*``). Escape the *values* put into the catalogue's templates
(:func:`md_values`), never the templates: they carry the page's own ``**bold**``.
"""
from __future__ import annotations

import re

__all__ = ["md_escape", "md_values", "md_error"]

#: Markdown punctuation escaped with a backslash (CommonMark renders ``\\x`` as ``x`` for ASCII punctuation).
_SPECIAL = re.compile(r"([\\`*_\[\](){}#+\-!|<>$~:&=@])")
#: Invisible (U+2060 WORD JOINER): breaks what Streamlit's markdown matches in the *rendered* text, after the
#: backslash escapes are gone (GFM's bare-URL and e-mail autolinks, ``:emoji:``/``:streamlit:`` shortcodes).
_WJ = "\u2060"


def _line(text: str) -> str:
    stripped = text.lstrip(" \t")
    indent = "\u00a0" * (len(text) - len(stripped))  # no-break spaces: shown, but never an indented code block
    out = re.sub(r"(?i)(www)(?=\.)", "\\1" + _WJ, stripped)  # www.x.y: no autolink
    out = _SPECIAL.sub(r"\\\1", out)
    out = out.replace(":", ":" + _WJ).replace("@", "@" + _WJ)  # http://, :smile:, a@b.c: no link, emoji or logo
    out = re.sub(r"^(\d+)([.)])", r"\1\\\2", out)  # "1. " / "1) " would start a list
    return indent + out


def md_escape(text) -> str:
    """``text`` (any value, ``str()``-ed) as markdown that shows it literally: no link, image, markup, LaTeX,
    directive, icon or list; its line breaks are kept (as hard breaks) and leading spaces shown."""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return "  \n".join(_line(part) for part in s.split("\n"))


def md_values(values: dict) -> dict:
    """``values`` for a catalogue template with every string escaped (numbers are left to the template's
    format specs, e.g. ``{ms:.0f}``)."""
    return {k: md_escape(v) if isinstance(v, str) else v for k, v in values.items()}


def md_error(exc, lang: str) -> str:
    """A :class:`planner.PlannerError`'s message (it quotes file names, row values and column names) escaped."""
    return md_escape(exc.message(lang))
