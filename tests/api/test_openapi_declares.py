"""The OpenAPI document says what the server accepts (issue 16, item 9): each declaration is derived
from the rule the server applies, and the two agree at their edges."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError
from support import auth_header, new_property

from api.openapi import RULES_KEY
from gis import crs as crs_mod
from gis.register import PropertyCreate, PropertyFields


@pytest.fixture(scope="module")
def doc(app) -> dict[str, Any]:
    return app.openapi()


def _parameter(doc: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    (found,) = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
    return found["schema"]


def test_every_crs_name_the_document_lists_is_accepted(doc, client) -> None:
    names = _parameter(doc, "/collections/properties/items", "crs")["enum"]
    assert set(names) == {"", *crs_mod.CRS_NAMES}
    for name in names:
        response = client.get("/collections/properties/items", params={"crs": name, "limit": 1})
        assert response.status_code == 200, (name, response.text[:200])
        assert response.headers["Content-Crs"] == f"<{crs_mod.CRS_NAMES.get(name, crs_mod.CRS84).uri}>"


@pytest.mark.parametrize(
    ("path", "name", "value", "accepted"),
    [
        ("/properties", "rag", "red, amber", True),
        ("/properties", "rag", ",unrated,", True),
        ("/properties", "rag", "purple", False),
        ("/properties", "use", "office,library", True),
        ("/properties", "use", "office;library", False),
        ("/properties", "bbox", "-2.3, 52.1, -2.1, 52.3", True),
        ("/properties", "bbox", "-2.3,52.1,-2.1", False),
        ("/properties", "bbox", "", True),
        ("/properties", "bbox-crs", "", True),
        ("/properties", "bbox-crs", "EPSG:3857", False),
        ("/properties/summary", "sort", "-value_gbp", True),
        ("/properties/summary", "sort", "value", False),
    ],
)
def test_declared_patterns_and_enums_agree_with_the_server(doc, client, path, name, value, accepted) -> None:
    schema = _parameter(doc, path, name)
    declared = schema.get("items", schema)
    enum = schema.get("enum")
    pattern = declared.get("pattern") or (schema.get("anyOf") or [{}])[0].get("pattern")
    says = value in enum if enum else re.search(pattern, value) is not None
    answer = client.get(path, params={name: value, "limit": 1})
    assert says is accepted and (answer.status_code == 200) is accepted, answer.text[:200]


def _accepts(model: Any, field: str, value: Any) -> bool:
    try:
        model.model_validate({field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("1800-01-01", True),
        ("1799-12-31", False),
        ("2200-12-31", True),
        ("2201-01-01", False),
        ("2026-02-28", True),
    ],
)
def test_the_date_pattern_is_the_plausible_date_rule(value: str, valid: bool) -> None:
    pattern = PropertyFields.model_json_schema()["properties"]["valuation_date"]["anyOf"][0]["pattern"]
    assert (re.search(pattern, value) is not None) is valid
    assert _accepts(PropertyFields, "valuation_date", value) is valid


def test_a_required_texts_pattern_is_what_survives_stripping() -> None:
    # Records strip whitespace as pydantic does (Unicode White_Space: not str.isspace, not a regex's \\s).
    pattern = re.compile(PropertyCreate.model_json_schema()["properties"]["name"]["pattern"])
    for value in ["Hall", " Hall ", "a\x00", *(chr(c) for c in range(1, 0x3001))]:
        survives = _accepts(PropertyCreate, "name", value) and "\x00" not in value
        assert (pattern.search(value) is not None) is survives, repr(value)


def test_a_whole_number_written_with_a_decimal_point_is_an_integer(client, make_org, make_key) -> None:
    # JSON has one kind of number, and JSON Schema's "integer" admits 1250000.0.
    org = make_org()
    key = make_key(org, "writer")
    body = new_property(org, value_gbp=1_250_000.0, uprn=100120001.0)
    created = client.post("/properties", json=body, headers=auth_header(key))
    assert created.status_code == 201, created.text
    assert created.json()["value_gbp"] == 1_250_000 and created.json()["uprn"] == 100120001
    assert (
        client.post("/properties", json={**body, "value_gbp": 1.5}, headers=auth_header(key)).status_code
        == 422
    )


def test_a_sync_record_with_deleted_null_is_kept(client, make_org, make_key) -> None:
    org = make_org()
    record = {k: v for k, v in new_property(org).items() if k != "owner"}
    response = client.post(
        "/sync/properties",
        json={"records": [{**record, "deleted": None}]},
        headers=auth_header(make_key(org)),
    )
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["inserted"] == 1


def test_rules_a_schema_cannot_state_are_listed_beside_it(doc) -> None:
    assert {"bbox", "cursor", "owner", "min_value_gbp"} <= set(doc["paths"]["/properties"]["get"][RULES_KEY])
    assert {"geometry", "footprint", "rag_reason", "owner"} <= set(
        doc["paths"]["/properties"]["post"][RULES_KEY]
    )
    assert "body" in doc["paths"]["/receipts/estimate"]["post"][RULES_KEY]
    assert "to_stage" in doc["paths"]["/properties/{property_id}/disposal/outcome"]["post"][RULES_KEY]
    # An operation without such rules lists none.
    assert RULES_KEY not in doc["paths"]["/healthz"]["get"]


@pytest.mark.parametrize("written", ["WR1 2AB", "wr12ab", "WR1\t\t2AB", "WR1\u00a0 2AB"])
def test_a_postcode_is_stored_with_one_space_whatever_whitespace_it_was_written_with(written: str) -> None:
    # The postcode pattern lets any whitespace between the halves; all of it goes (the fuzz found a tab
    # kept, making an 11-character postcode that a later check refused).
    assert PropertyFields.model_validate({"postcode": written}).postcode == "WR1 2AB"
