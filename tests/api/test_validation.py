"""Bad input: every write is refused with problem+json naming the field, and nothing changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import auth_header, new_property, register_fingerprint

BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[-2.22, 52.19], [-2.21, 52.20], [-2.21, 52.19], [-2.22, 52.20], [-2.22, 52.19]]],
}

CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (case, overrides, query, field, words in the message)
    ("nan value", {"gia_m2": float("nan")}, "", "gia_m2", "finite"),
    ("infinite value", {"gia_m2": float("inf")}, "", "gia_m2", "finite"),
    (
        "outside GB",
        {"geometry": {"type": "Point", "coordinates": [2.35, 48.85]}},
        "",
        "geometry",
        "outside Great Britain",
    ),
    (
        "BNG sent as lon/lat",
        {"geometry": {"type": "Point", "coordinates": [385000, 254800]}},
        "",
        "geometry",
        "British National Grid",
    ),
    (
        "swapped lat/lon",
        {"geometry": {"type": "Point", "coordinates": [52.19, -2.22]}},
        "",
        "geometry",
        "swapped",
    ),
    (
        "degrees sent as BNG",
        {"geometry": {"type": "Point", "coordinates": [-2.22, 52.19]}},
        "?crs=EPSG:27700",
        "geometry",
        "degrees",
    ),
    # A Highland point swapped: (800000, 300000) lies east of the grid, so the swap is detectable.
    (
        "swapped easting/northing",
        {"geometry": {"type": "Point", "coordinates": [800000, 300000]}},
        "?crs=EPSG:27700",
        "geometry",
        "swapped",
    ),
    ("negative value", {"value_gbp": -5}, "", "value_gbp", "greater than or equal"),
    ("fractional pounds", {"value_gbp": 10.5}, "", "value_gbp", "integer"),
    ("value as text", {"value_gbp": "1000"}, "", "value_gbp", "integer"),
    ("unknown owner", {"owner": "no-such-body"}, "", "owner", "unknown organisation"),
    ("unknown RAG", {"rag": "purple"}, "", "rag", "red"),
    ("oversize name", {"name": "x" * 201}, "", "name", "at most 200"),
    ("bow-tie footprint", {"footprint": BOWTIE}, "", "footprint", "Self-intersection"),
    ("utilisation over 100", {"utilisation_pct": 140.0}, "", "utilisation_pct", "less than or equal"),
    ("unknown field", {"colour": "blue"}, "", "colour", "unknown field"),
    ("bad postcode", {"postcode": "NOT A CODE"}, "", "postcode", "pattern"),
    ("uprn too long", {"uprn": 10**13}, "", "uprn", "less than or equal"),
    ("rag without reason", {"rag": "green", "rag_reason": None}, "", "rag_reason", "reason"),
    ("unsupported crs", {}, "?crs=EPSG:3857", "crs", "unsupported"),
]


@pytest.mark.parametrize(("case", "overrides", "query", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_field(
    client, seeded, make_key, case, overrides, query, field, words
) -> None:
    headers = {**auth_header(make_key("worcestershire-cc", "writer")), "Content-Type": "application/json"}
    body = {**new_property("worcestershire-cc"), **overrides}
    before = register_fingerprint(seeded)
    # json.dumps writes NaN/Infinity literals, as a careless client would.
    response = client.post(f"/properties{query}", content=json.dumps(body), headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    text = json.dumps(problem)
    if field != "crs":
        assert field in [e["field"] for e in problem["errors"]], problem
    assert words.lower() in text.lower(), problem
    assert register_fingerprint(seeded) == before


def test_bad_patch_changes_nothing(client, seeded, make_key) -> None:
    headers = auth_header(make_key("worcestershire-cc", "writer"))
    target = client.get("/properties?owner=worcestershire-cc&limit=1", headers=headers).json()["items"][0]
    before = register_fingerprint(seeded)
    response = client.patch(
        f"/properties/{target['id']}",
        content='{"gia_m2": NaN, "name": "ok"}',
        headers={**headers, "If-Match": f'"{target["version"]}"', "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert register_fingerprint(seeded) == before


def test_malformed_json_is_a_problem(client, make_key) -> None:
    headers = {**auth_header(make_key("worcestershire-cc", "writer")), "Content-Type": "application/json"}
    response = client.post("/properties", content="{not json", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
