"""The estate manager's workspace page: one MapLibre map and the panels that run the estate.

The page is plain HTML and one script (``api/static/estate-map.js``); every
script and style sheet is served by the app itself from installed packages
(npm's maplibre-gl), because council networks and our tests have no internet.
What the page must know (field groups and labels, which fields a manager may
edit and their types, the register's vocabularies, the receipts assumptions
with their ranges) is derived here from the models that define it, and handed
to the script as one JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from gis.layers import RAG_COLOURS, TileRules
from gis.receipts import ReceiptsScenario
from gis.register import PropertyFields

# The record panel's groups, in the order a manager reads a building.
RECORD_GROUPS: dict[str, tuple[str, ...]] = {
    "Place": ("name", "street_number", "street", "post_town", "postcode", "uprn", "geometry", "footprint"),
    "Holding": (
        "owner",
        "asset_ref",
        "tenure",
        "tenure_detail",
        "holding_type",
        "listed_grade",
        "lease_expiry_date",
    ),
    "Size and use": ("use_category", "gia_m2", "site_area_ha", "utilisation_pct", "fte", "condition"),
    "Money": (
        "value_gbp",
        "valuation_basis",
        "valuation_date",
        "running_cost_gbp_pa",
        "maintenance_backlog_gbp",
    ),
    "Disposal": (
        "rag",
        "rag_reason",
        "rag_set_by",
        "rag_set_at",
        "disposal_stage",
        "disposal_blockers",
        "sensitive",
    ),
    "Record": ("id", "version", "created_at", "created_by", "updated_at", "updated_by"),
}
# Fields the panel never shows: a retired record is not opened from the map.
HIDDEN_FIELDS = frozenset({"deleted_at", "deleted_by"})
# Labels where the field name alone does not read well; others are derived from the name.
FIELD_LABELS: dict[str, str] = {
    "uprn": "UPRN",
    "geometry": "Location",
    "footprint": "Footprint outline",
    "asset_ref": "Owner's reference",
    "gia_m2": "Floor area (GIA, m²)",
    "site_area_ha": "Site area (ha)",
    "utilisation_pct": "Utilisation (%)",
    "fte": "Staff based here (FTE)",
    "value_gbp": "Value (£)",
    "running_cost_gbp_pa": "Running cost (£ a year)",
    "maintenance_backlog_gbp": "Maintenance backlog (£)",
    "rag": "RAG rating",
    "rag_reason": "Why this rating",
    "rag_set_by": "Rated by",
    "rag_set_at": "Rated on",
    "use_category": "Use",
    "sensitive": "Sensitive (withheld from the public)",
}
# Editable in the panel: every writable field. The location is typed (lon/lat or easting/northing)
# or dragged on the map, the footprint pasted as GeoJSON; the page builds both from their own inputs.
EDITABLE_FIELDS: tuple[str, ...] = tuple(PropertyFields.model_fields)
# The receipts assumptions that move the answer most, offered as controls.
RECEIPTS_CONTROLS: tuple[str, ...] = (
    "market_volatility_pa",
    "disposal_cost_rate",
    "transition_cost_gbp_per_m2",
    "discount_rate",
    "amber_first_year",
    "amber_last_year",
)


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def record_groups() -> list[dict[str, Any]]:
    """The panel's groups with labels; every field the register can show appears in exactly one."""
    return [
        {"title": title, "fields": [{"name": n, "label": field_label(n)} for n in names]}
        for title, names in RECORD_GROUPS.items()
    ]


def _field_schemas() -> dict[str, Any]:
    """JSON Schema of each editable field (type, enum, bounds), resolved so the page needs no $ref."""
    schema = PropertyFields.model_json_schema()
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    props = schema["properties"]
    return {name: resolve(props[name]) for name in EDITABLE_FIELDS}


def receipts_controls() -> list[dict[str, Any]]:
    """The receipts controls with their defaults, bounds and descriptions from the scenario model."""
    schema = ReceiptsScenario.model_json_schema()["properties"]
    return [
        {
            "name": name,
            "default": schema[name]["default"],
            "minimum": schema[name].get("minimum"),
            "maximum": schema[name].get("maximum"),
            "type": schema[name]["type"],
            "description": schema[name].get("description", ""),
        }
        for name in RECEIPTS_CONTROLS
    ]


@dataclass
class MapConfig:
    """What the page needs to know: where the API is and what to offer in its controls."""

    static_base: str  # e.g. "/static"
    tiles_url: str  # .../tiles/WebMercatorQuad/{z}/{y}/{x}
    api_base: str
    bounds: tuple[float, float, float, float]  # lon/lat
    owners: list[dict[str, str]] = field(default_factory=list)  # code, name
    uses: list[str] = field(default_factory=list)
    online_basemap: bool = True
    basemap_url: str = ""
    basemap_attribution: str = ""
    tile_rules: TileRules = field(default_factory=TileRules)


def page_config(config: MapConfig) -> dict[str, Any]:
    minx, miny, maxx, maxy = config.bounds
    return {
        "tilesUrl": config.tiles_url,
        "apiBase": config.api_base,
        "bounds": [[minx, miny], [maxx, maxy]],
        "owners": config.owners,
        "uses": config.uses,
        "ragColours": RAG_COLOURS,
        "pointsMinZoom": config.tile_rules.points_min_zoom,
        "basemap": (
            {"url": config.basemap_url, "attribution": config.basemap_attribution}
            if config.online_basemap
            else None
        ),
        "wayfindingUrl": f"{config.api_base}/map/wayfinding.geojson",
        "recordGroups": record_groups(),
        "editable": list(EDITABLE_FIELDS),
        "fieldSchemas": _field_schemas(),
        "receiptsControls": receipts_controls(),
    }


def _options(values: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{escape(v)}">{escape(label)}</option>' for v, label in values)


def build_map_html(config: MapConfig) -> str:
    """Return the complete HTML of the workspace page."""
    vendor = f"{config.static_base}/vendor/maplibre-gl"
    owners = _options([(o["code"], o["name"]) for o in config.owners])
    uses = _options([(u, u.replace("_", " ")) for u in config.uses])
    rag_boxes = "".join(
        f'<label class="rag-check"><input type="checkbox" name="rag" value="{v}" checked>'
        f'<span class="shape shape-{v}" aria-hidden="true"></span>{v}</label>'
        for v in ("red", "amber", "green", "unrated")
    )
    cfg = json.dumps(page_config(config)).replace("</", "<\\/")
    # Never trust a settings string inside a <script>: json.dumps escapes quotes, "</" is escaped above.
    return f"""<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shared Estate — workspace</title>
<link rel="stylesheet" href="{vendor}/maplibre-gl.css">
<link rel="stylesheet" href="{config.static_base}/estate-map.css">
</head>
<body>
<a class="skip" href="#panel">Skip to the workspace panel</a>
<header class="bar">
  <h1>Shared Estate</h1>
  <form id="estate-search" role="search" class="search">
    <label for="estate-search-input" class="visually-hidden">Find a building or town</label>
    <input id="estate-search-input" type="search" placeholder="Building, postcode or town" autocomplete="off">
    <button type="submit">Find</button>
    <ul id="estate-search-results" class="search-results" aria-live="polite"></ul>
  </form>
  <div id="estate-who" class="who" aria-live="polite"></div>
  <fieldset class="filters" aria-label="Filters">
    <label>Owner <select id="estate-filter-owner"><option value="">all bodies</option>{owners}</select></label>
    <label>Use <select id="estate-filter-use"><option value="">all uses</option>{uses}</select></label>
    <label>Town <input id="estate-filter-town" type="text" size="10" list="estate-towns"></label>
    <datalist id="estate-towns"></datalist>
    <span class="rag-filter" role="group" aria-label="RAG rating">{rag_boxes}</span>
  </fieldset>
  <button id="estate-panel-toggle" type="button" aria-controls="panel" aria-expanded="true">Hide panel</button>
</header>
<main>
  <div id="map" role="region" aria-label="Map of the estate (arrow keys pan, + and − zoom)"></div>
  <details id="estate-legend" class="legend" open>
    <summary><b>Legend</b></summary>
    <div><span class="shape shape-red"></span>Red: disposal unlikely</div>
    <div><span class="shape shape-amber"></span>Amber: disposal possible</div>
    <div><span class="shape shape-green"></span>Green: disposal opportunity</div>
    <div><span class="shape shape-unrated"></span>Not rated / not shown</div>
    <div><span class="shape shape-cluster"></span>Group: count, ring split by rating</div>
    <div id="estate-offline-note" hidden>Basemap offline: towns and each body's estate drawn from the register.</div>
  </details>
  <aside id="panel" class="panel" aria-label="Workspace" tabindex="-1">
    <div class="tabs" role="tablist">
      <button role="tab" id="tab-view" aria-controls="pane-view" aria-selected="true">In view</button>
      <button role="tab" id="tab-record" aria-controls="pane-record" aria-selected="false">Record</button>
      <button role="tab" id="tab-hubs" aria-controls="pane-hubs" aria-selected="false">Hubs</button>
      <button role="tab" id="tab-receipts" aria-controls="pane-receipts" aria-selected="false">Receipts</button>
    </div>
    <section id="pane-view" role="tabpanel" aria-labelledby="tab-view"></section>
    <section id="pane-record" role="tabpanel" aria-labelledby="tab-record" hidden>
      <p class="empty">Choose a building on the map or in the list to open its record.</p>
    </section>
    <section id="pane-hubs" role="tabpanel" aria-labelledby="tab-hubs" hidden></section>
    <section id="pane-receipts" role="tabpanel" aria-labelledby="tab-receipts" hidden></section>
    <div id="estate-status" role="status" aria-live="polite"></div>
  </aside>
</main>
<script src="{vendor}/maplibre-gl.js"></script>
<script>window.ESTATE_MAP_CONFIG = {cfg};</script>
<script src="{config.static_base}/estate-map.js"></script>
</body>
</html>
"""
