"""The workspace page's description of a record, derived from the models that define it."""

from __future__ import annotations

from collections import Counter

from gis.layers import TileRules
from gis.maps import HIDDEN_FIELDS, RECORD_GROUPS, MapConfig, build_map_html, page_config
from gis.register import PropertyFields
from gis.visibility import FIELD_TIERS


def test_every_field_the_register_can_show_has_one_place_in_the_record_panel() -> None:
    placed = Counter(name for names in RECORD_GROUPS.values() for name in names)
    assert max(placed.values()) == 1
    assert set(placed) == set(FIELD_TIERS) - HIDDEN_FIELDS


def test_every_editable_field_has_a_schema_the_page_can_build_an_input_from() -> None:
    config = page_config(MapConfig(static_base="/static", tiles_url="/t", api_base="", bounds=(0, 0, 1, 1)))
    assert set(config["editable"]) == set(PropertyFields.model_fields)  # location and footprint included
    for name, schema in config["fieldSchemas"].items():
        variants = [v for v in schema.get("anyOf", [schema]) if v.get("type") != "null"]
        assert variants and "$ref" not in str(schema), name
    assert config["fieldSchemas"]["rag"]["anyOf"][0]["enum"] == ["red", "amber", "green"]
    assert config["pointsMinZoom"] == TileRules().points_min_zoom


def test_a_setting_cannot_break_out_of_the_page_script() -> None:
    html = build_map_html(
        MapConfig(
            static_base="/static",
            tiles_url="/t",
            api_base="",
            bounds=(0, 0, 1, 1),
            owners=[{"code": "x", "name": "</script><script>alert(1)</script>"}],
            basemap_url="https://tiles.example/{z}/{x}/{y}.png",
        )
    )
    assert "</script><script>alert(1)" not in html  # inside the config JSON "</" is escaped
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # the owner filter's option, escaped


def test_without_an_online_basemap_the_page_asks_for_none() -> None:
    config = MapConfig(
        static_base="/s", tiles_url="/t", api_base="", bounds=(0, 0, 1, 1), online_basemap=False
    )
    assert page_config(config)["basemap"] is None
