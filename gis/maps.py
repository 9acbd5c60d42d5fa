"""The estate managers' map page, built with folium and served without any CDN.

folium lays out the Leaflet map, the basemap, the legend and the script
includes; the register's layers are vector tiles (so a million buildings stay
fluid) drawn by Leaflet.VectorGrid in ``estate-map.js``. Every script and
style sheet is served by the app itself from installed packages (npm's
leaflet and leaflet.vectorgrid), because council networks and our tests have
no internet; the OpenStreetMap basemap is used when reachable and replaced by
a plain background when not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from gis.layers import RAG_COLOURS

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


@dataclass
class MapConfig:
    """What the page needs to know: where the API is and what to offer in its controls."""

    static_base: str  # e.g. "/static"
    tiles_url: str  # .../tiles/WebMercatorQuad/{z}/{y}/{x}
    api_base: str
    bounds: tuple[float, float, float, float]  # lon/lat
    owners: list[dict[str, str]] = field(default_factory=list)  # code, name
    uses: list[str] = field(default_factory=list)
    hubs_url: str | None = None
    online_basemap: bool = True


class _Legend(MacroElement):
    _template = Template(
        """{% macro html(this, kwargs) %}
        <div id="estate-legend" class="estate-panel estate-legend" aria-label="Legend">
          <b>Disposal rating (RAG)</b>
          {% for label, colour in this.items %}
          <div><span class="swatch" style="background:{{ colour }}"></span>{{ label }}</div>
          {% endfor %}
          <div><span class="swatch ring"></span>owner layer</div>
          <div><span class="swatch hub"></span>co-location hub</div>
          <small>Numbers at low zoom: buildings aggregated per area.</small>
        </div>
        {% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self.items = [
            ("Red: disposal unlikely", RAG_COLOURS["red"]),
            ("Amber: disposal possible", RAG_COLOURS["amber"]),
            ("Green: disposal opportunity", RAG_COLOURS["green"]),
            ("Not rated / not shown", RAG_COLOURS["none"]),
        ]


def _controls_html(config: MapConfig) -> str:
    owners = "".join(
        f'<option value="{escape(o["code"])}">{escape(o["name"])}</option>' for o in config.owners
    )
    uses = "".join(f'<option value="{escape(u)}">{escape(u.replace("_", " "))}</option>' for u in config.uses)
    return f"""
    <div id="estate-controls" class="estate-panel estate-controls">
      <form id="estate-search" role="search">
        <input id="estate-search-input" type="search" placeholder="Search name or postcode" aria-label="Search">
        <button type="submit">Search</button>
      </form>
      <ul id="estate-search-results"></ul>
      <details><summary>Filter</summary>
        <label>Owner <select id="estate-filter-owner"><option value="">all</option>{owners}</select></label>
        <label>Use <select id="estate-filter-use"><option value="">all</option>{uses}</select></label>
        <label>Town <input id="estate-filter-town" type="text" size="12"></label>
        <button id="estate-filter-apply" type="button">Apply</button>
      </details>
      <details><summary>Partner key</summary>
        <form id="estate-key-form" onsubmit="return false">
          <input id="estate-key" type="password" placeholder="se_..." aria-label="API key" size="14"
                 autocomplete="off">
          <button id="estate-key-apply" type="button">Use</button>
        </form>
      </details>
      <div id="estate-status" role="status"></div>
    </div>"""


def build_map_html(config: MapConfig) -> str:
    """Return the complete HTML of the map page."""
    minx, miny, maxx, maxy = config.bounds
    fmap = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=10,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
    )
    vendor = f"{config.static_base}/vendor"
    # Replace folium's CDN includes (Leaflet, jQuery, Bootstrap, …) with our own copies.
    fmap.default_js = [("leaflet", f"{vendor}/leaflet/leaflet.js")]
    fmap.default_css = [
        ("leaflet_css", f"{vendor}/leaflet/leaflet.css"),
        ("estate_css", f"{config.static_base}/estate-map.css"),
    ]
    if config.online_basemap:
        folium.TileLayer(
            OSM_TILES, attr=OSM_ATTRIBUTION, name="OpenStreetMap", max_zoom=19, control=False
        ).add_to(fmap)
    _Legend().add_to(fmap)
    root = fmap.get_root()
    root.html.add_child(Element(_controls_html(config)))
    page_config = {
        "mapName": fmap.get_name(),
        "tilesUrl": config.tiles_url,
        "apiBase": config.api_base,
        "bounds": [[miny, minx], [maxy, maxx]],
        "owners": config.owners,
        "ragColours": RAG_COLOURS,
        "hubsUrl": config.hubs_url,
    }
    root.html.add_child(
        Element(
            f'<script src="{vendor}/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"></script>'
            f"<script>window.ESTATE_MAP_CONFIG = {json.dumps(page_config)};</script>"
            f'<script src="{config.static_base}/estate-map.js"></script>'
        ),
        name="estate_scripts",
    )
    html = root.render()
    return html.replace("<head>", "<head><title>Shared Estate — map</title>", 1)
