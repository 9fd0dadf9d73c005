"""Offline map assets: Leaflet, MarkerCluster and icon glyphs inlined from installed packages.

folium links Leaflet, jQuery, Bootstrap, Font Awesome and awesome-markers from CDNs. Offline
(and often in mainland China) those never load and the map stays blank. Here every asset a
map needs is read from an installed ``xstatic-*`` package and written *into* the HTML, so a
saved ``map.html`` is one self-contained file. jQuery, Bootstrap and awesome-markers are not
needed by our layers and are dropped instead of inlined; glyphs are inline SVG symbols taken
from Font Awesome's SVG files, so no icon font is shipped (see docs/maps.md).
"""
from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import folium
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from jinja2 import Template

__all__ = [
    "Verbatim",
    "VerbatimRender",
    "stable_ids",
    "OfflineAssetError",
    "OfflineFigure",
    "OfflineMap",
    "offline_map",
    "to_html",
    "icon_svg_path",
    "leaflet_js",
    "leaflet_css",
    "localize_assets",
]

logger = logging.getLogger(__name__)

# Links folium or its plugins may add that our layers never need: dropped, not inlined.
_DROPPABLE = ("jquery", "bootstrap", "glyphicons")


class OfflineAssetError(RuntimeError):
    """A map element wants a CDN asset that is not available offline.

    This is a programming error (a folium plugin we do not ship was added to a map), not a
    user-input problem, so it is not a ``PlannerError``.
    """


def _pkg_dir(module: str) -> Path:
    import importlib

    return Path(importlib.import_module(f"xstatic.pkg.{module}").BASE_DIR)


def _read(module: str, rel: str) -> str:
    return (_pkg_dir(module) / rel).read_text(encoding="utf-8")


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _safe_script(js: str) -> str:
    # A literal "</script" inside inlined code would close the tag early.
    return js.replace("</script", "<\\/script")


def _safe_style(css: str) -> str:
    return css.replace("</style", "<\\/style")


@functools.cache
def leaflet_js() -> str:
    """Minified Leaflet from xstatic-leaflet, plus default-marker images as data URIs."""
    img = _pkg_dir("leaflet") / "images"
    fix = (
        "\n;(function(){var D=L.Icon.Default;D.imagePath='';"
        f"D.prototype.options.iconUrl={json.dumps(_data_uri(img / 'marker-icon.png', 'image/png'))};"
        f"D.prototype.options.iconRetinaUrl={json.dumps(_data_uri(img / 'marker-icon-2x.png', 'image/png'))};"
        f"D.prototype.options.shadowUrl={json.dumps(_data_uri(img / 'marker-shadow.png', 'image/png'))};"
        "})();\n"
    )
    return _read("leaflet", "leaflet.js") + fix


@functools.cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its ``images/*.png`` references replaced by data URIs."""
    img = _pkg_dir("leaflet") / "images"

    def repl(match: re.Match) -> str:
        return f"url({_data_uri(img / match.group(1), 'image/png')})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", repl, _read("leaflet", "leaflet.css"))


@functools.cache
def _markercluster(name: str) -> str:
    return _read("leaflet_markercluster", name)


class Verbatim(Element):
    """Text placed in a figure as it is.

    branca wraps what every macro element renders in a new ``Element``, which compiles that text
    as a Jinja template: on a layer holding a multi-megabyte GeoJSON or PNG data URL, lexing it
    takes seconds on every redraw. This element returns its text unchanged.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "Verbatim"
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class VerbatimRender(MacroElement):
    """A ``MacroElement`` whose rendered header, html and script go into the figure as :class:`Verbatim` text:
    the same HTML as branca's ``MacroElement.render``, without compiling it a second time (nor evaluating
    template syntax that a user's text might carry).

    Subclass it directly, or list it after a folium class (``class X(folium.raster_layers.ImageOverlay,
    VerbatimRender)``): it then sits just before ``MacroElement`` in the method order, so folium's own
    ``render`` steps (adding the layer to its parent, include statements) still run first.
    """

    def render(self, **kwargs):
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise TypeError("You cannot render this Element if it is not in a Figure.")
        module = self._template.module.__dict__
        for part, slot in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            macro = module.get(part)
            if macro is not None:
                slot.add_child(Verbatim(macro(self, kwargs)), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


# URL file name (what folium/plugins link) -> (kind, loader)
_INLINE = {
    "leaflet.js": ("js", leaflet_js),
    "leaflet.css": ("css", leaflet_css),
    "leaflet.markercluster.js": ("js", functools.partial(_markercluster, "leaflet.markercluster.js")),
    "markercluster.css": ("css", functools.partial(_markercluster, "MarkerCluster.css")),
    "markercluster.default.css": ("css", functools.partial(_markercluster, "MarkerCluster.Default.css")),
}


def _inline_element(url: str) -> Element | None:
    """The inline ``<script>``/``<style>`` replacing a CDN link, or None to drop it."""
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        text = base64.b64decode(payload).decode("utf-8") if head.endswith(";base64") else payload
        if "css" in head:
            return Verbatim(f"<style>{_safe_style(text)}</style>")
        return Verbatim(f"<script>{_safe_script(text)}</script>")
    base = url.rsplit("/", 1)[-1].split("?", 1)[0].lower()
    if base in _INLINE:
        kind, load = _INLINE[base]
        if kind == "js":
            return Verbatim(f"<script>{_safe_script(load())}</script>")
        return Verbatim(f"<style>{_safe_style(load())}</style>")
    if any(word in url.lower() for word in _DROPPABLE):
        logger.debug("dropping unneeded asset %s", url)
        return None
    raise OfflineAssetError(
        f"No offline copy of {url}: an element on this map needs a CDN asset that "
        "maps.assets does not ship. Use the layers in maps.layers or add the asset to "
        "maps.assets._INLINE."
    )


@functools.cache
def _asset_uri(url: str) -> str | None:
    """A ``data:`` URI with the offline copy of a CDN asset; None if droppable."""
    base = url.rsplit("/", 1)[-1].split("?", 1)[0].lower()
    if base in _INLINE:
        kind, load = _INLINE[base]
        mime = "text/javascript" if kind == "js" else "text/css"
        return f"data:{mime};charset=utf-8;base64," + base64.b64encode(load().encode("utf-8")).decode("ascii")
    _inline_element(url)  # raises OfflineAssetError for unknown assets
    return None


def localize_assets(m: MacroElement) -> MacroElement:
    """Point every element's ``default_js``/``default_css`` at offline ``data:`` URIs.

    Needed where the links are loaded by someone else than :func:`to_html`: streamlit-folium
    loads each ``default_js`` URL with a ``<script src>`` and never shows the map if one
    fails (see docs/maps.md). Known CDN assets become ``data:`` URIs, jQuery/Bootstrap links
    are dropped. The lists are replaced per instance (folium's class-level lists are
    shared and must not be mutated). Modifies ``m`` in place and returns it.

    Raises
    ------
    OfflineAssetError
        If an element needs a CDN asset with no offline copy.
    """
    for el in _walk(m):
        for attr in ("default_js", "default_css"):
            links = getattr(el, attr, None)
            if not links:
                continue
            new = []
            for name, url in links:
                uri = url if url.startswith("data:") else _asset_uri(url)
                if uri is not None:
                    new.append((name, uri))
            setattr(el, attr, new)
    return m


def _walk(el):
    yield el
    for child in getattr(el, "_children", {}).values():
        yield from _walk(child)


class OfflineFigure(Figure):
    """A branca Figure that inlines known CDN assets and refuses unknown ones on render."""

    def render(self, **kwargs) -> str:
        """Render children, swap every external link in the header for inline code."""
        for child in self._children.values():
            child.render(**kwargs)
        header = self.header._children
        for name in list(header):
            child = header[name]
            if isinstance(child, (JavascriptLink, CssLink)):
                repl = _inline_element(child.url)
                if repl is None:
                    del header[name]
                else:
                    repl._parent = self.header
                    header[name] = repl
        return self._template.render(this=self, kwargs=kwargs)


class OfflineMap(folium.Map):
    """A ``folium.Map`` that asks only for Leaflet (no jQuery, Bootstrap, awesome-markers)."""

    default_js = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js")]
    default_css = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")]


def offline_map(
    location: Sequence[float],
    zoom: int = 13,
    *,
    basemap: str = "none",
    title: str | None = None,
    **kwargs,
) -> folium.Map:
    """A folium map whose HTML needs no network except for basemap tiles.

    Parameters
    ----------
    location : (lat, lon)
        Initial centre, WGS-84 degrees (shift it yourself if the basemap is GCJ-02).
    zoom : int
        Initial zoom level.
    basemap : str
        A key of :data:`maps.basemaps.BASEMAPS`; ``"none"`` draws on a plain light background.
    title : str, optional
        ``<title>`` of the page.
    **kwargs
        Passed on to ``folium.Map`` (e.g. ``control_scale=True``).

    Returns
    -------
    folium.Map
        Rendered to self-contained HTML by :func:`to_html`.
    """
    from .basemaps import add_basemap

    metric_scale = bool(kwargs.pop("control_scale", False))
    m = OfflineMap(location=list(location), zoom_start=zoom, tiles=None, **kwargs)
    if metric_scale:  # a scale bar in metres only (Leaflet's default adds miles)
        MetricScale().add_to(m)
    # MarkerCluster needs the map's maxZoom, which folium only sets on tile layers; with no
    # basemap the page would fail with "Map has no maxZoom specified".
    m.options.setdefault("max_zoom", 19)
    OfflineFigure(title=title).add_child(m)
    add_basemap(m, basemap)
    return m


class MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.scale({imperial: false, metric: true}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


def to_html(m: folium.Map) -> str:
    """Render a map to one self-contained HTML document.

    Every script and stylesheet is inlined; the only network requests left are basemap
    tiles. Maps not made by :func:`offline_map` are moved into an :class:`OfflineFigure`
    first.

    Raises
    ------
    OfflineAssetError
        If an element needs a CDN asset with no offline copy.
    """
    root = m.get_root()
    if not isinstance(root, OfflineFigure):
        OfflineFigure().add_child(m)
        root = m.get_root()
    stable_ids(m)
    return root.render()


@functools.cache
def _fa_aliases() -> dict[str, str]:
    path = _pkg_dir("font_awesome") / "metadata" / "icons.json"
    out: dict[str, str] = {}
    for name, meta in json.loads(path.read_text(encoding="utf-8")).items():
        for alias in ((meta.get("aliases") or {}).get("names") or []):
            out.setdefault(alias, name)
    return out


@functools.cache
def icon_svg_path(name: str) -> tuple[str, str]:
    """The viewBox and path data of a Font Awesome 6 solid icon.

    Parameters
    ----------
    name : str
        Font Awesome name, optionally with ``fa-`` prefix; v5 aliases are resolved
        (``clinic-medical`` -> ``house-chimney-medical``). Unknown names fall back to
        ``circle`` with a warning.

    Returns
    -------
    (viewBox, d)
    """
    solid = _pkg_dir("font_awesome") / "svgs" / "solid"
    key = name.removeprefix("fa-").strip().lower()
    path = solid / f"{key}.svg"
    if not re.fullmatch(r"[a-z0-9-]+", key) or not path.exists():
        real = _fa_aliases().get(key)
        if real is None:
            logger.warning("Font Awesome icon %r not found; using 'circle'", name)
            real = "circle"
        path = solid / f"{real}.svg"
    text = path.read_text(encoding="utf-8")
    view = re.search(r'viewBox="([^"]+)"', text).group(1)
    d = re.search(r'<path d="([^"]+)"', text).group(1)
    return view, d


def stable_ids(m) -> None:
    """Give every element of the map a deterministic id (in tree order) instead of a random one.

    folium names each element with a random hex id, so the same layers built twice give
    different HTML; streamlit-folium then sees a new map on every rerun and reloads it (a flash,
    and the planner's view is lost on each zoom). With ids from the tree order, the same inputs
    give byte-identical HTML.
    """
    root = m.get_root()
    counter = 0
    stack = [root]
    seen = set()
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        counter += 1
        el._id = f"{counter:032x}"
        children = getattr(el, "_children", None) or {}
        stack.extend(reversed(list(children.values())))
