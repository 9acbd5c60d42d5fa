"""Hostile and careless input: each answers 4xx problem+json naming the field, and nothing changes."""

from __future__ import annotations

import pytest
from support import auth_header, new_property, point, register_fingerprint

PROBLEM = "application/problem+json"


def _fields(response) -> list[str]:
    body = response.json()
    return [e["field"] for e in body.get("errors", [])] + [body.get("parameter", "")]


def _square(lon: float = -2.2200, lat: float = 52.1920, side: float = 0.0002, z: float | None = None):
    corners = [(lon, lat), (lon + side, lat), (lon + side, lat + side), (lon, lat + side), (lon, lat)]
    ring = [[x, y, z] if z is not None else [x, y] for x, y in corners]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture()
def writer(make_org, make_key):
    org = make_org()
    return org, auth_header(make_key(org, "writer"))


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/organisations/%00", "code"),
        ("/properties/%00", "property_id"),
        ("/collections/properties/items/ab%00cd", "feature_id"),
    ],
)
def test_nul_in_a_path_parameter_is_a_problem_naming_it(client, path, field) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in _fields(response)


def test_three_dimensional_footprint_is_refused(client, seeded, writer) -> None:
    org, headers = writer
    before = register_fingerprint(seeded)
    response = client.post("/properties", json=new_property(org, footprint=_square(z=12.0)), headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "footprint" in _fields(response)
    assert "2-D" in response.text
    assert register_fingerprint(seeded) == before


def test_expected_version_beyond_32_bits_is_refused(client, seeded, writer) -> None:
    org, headers = writer
    record = {**new_property(org), "expected_version": 2**31}
    before = register_fingerprint(seeded)
    response = client.post("/sync/properties", json={"records": [record]}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "expected_version" in _fields(response)
    assert register_fingerprint(seeded) == before


@pytest.mark.parametrize("asset_ref_json", ["A\\u0000B", "A\\ud800B"], ids=["nul", "lone-surrogate"])
def test_tombstone_asset_ref_is_validated(client, seeded, writer, asset_ref_json) -> None:
    org, headers = writer
    # Sent as JSON text: the escape is what a careless client writes; Python strings cannot carry it safely.
    body = '{"records": [{"asset_ref": "' + asset_ref_json + '", "deleted": true}]}'
    before = register_fingerprint(seeded)
    response = client.post(
        "/sync/properties", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "asset_ref" in _fields(response)
    assert register_fingerprint(seeded) == before


def test_lone_surrogate_in_a_record_field_is_refused(client, seeded, writer) -> None:
    org, headers = writer
    body = (
        '{"owner": "' + org + '", "asset_ref": "S-1", "name": "Bad \\ud800 name", "geometry": '
        '{"type": "Point", "coordinates": [-2.22, 52.19]}}'
    )
    response = client.post(
        "/properties", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "name" in _fields(response)


def test_csv_cell_over_the_csv_module_limit_is_a_problem(client, seeded, writer) -> None:
    org, headers = writer
    big = "x" * 131_073
    csv_text = f"Asset Reference,Property Name,Post Code\r\nR1,{big},WR1 2AB\r\n"
    before = register_fingerprint(seeded)
    response = client.post(
        f"/imports/transparency?owner={org}",
        content=csv_text.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "file" in _fields(response)
    assert register_fingerprint(seeded) == before


# ---- standards: If-Match, OGC parameters, URL length, constraint names


def test_weak_etag_does_not_satisfy_if_match(client, writer) -> None:
    org, headers = writer
    created = client.post("/properties", json=new_property(org), headers=headers).json()
    response = client.patch(
        f"/properties/{created['id']}", json={"name": "Weak"}, headers={**headers, "If-Match": 'W/"1"'}
    )
    assert response.status_code == 412, response.text
    assert client.get(f"/properties/{created['id']}", headers=headers).json()["name"] == "Test Building"


def test_if_match_star_and_lists_follow_rfc_9110(client, writer) -> None:
    org, headers = writer
    created = client.post("/properties", json=new_property(org), headers=headers).json()
    url = f"/properties/{created['id']}"
    listed = client.patch(url, json={"name": "Listed"}, headers={**headers, "If-Match": '"7", "1"'})
    assert listed.status_code == 200, listed.text
    star = client.patch(url, json={"name": "Star"}, headers={**headers, "If-Match": "*"})
    assert star.status_code == 200, star.text
    assert star.json()["version"] == 3


@pytest.mark.parametrize("parameter", ["filter", "sortby", "datetime", "propertyName"])
def test_unknown_ogc_items_parameter_is_a_400(client, parameter) -> None:
    response = client.get(f"/collections/properties/items?{parameter}=x")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert parameter in _fields(response)


def test_known_ogc_items_parameters_still_work(client) -> None:
    response = client.get("/collections/properties/items?limit=2&bbox-crs=EPSG:4326&crs=EPSG:27700&rag=red")
    assert response.status_code == 200, response.text


def test_over_long_url_is_a_414_problem(client) -> None:
    response = client.get("/collections/properties/items?q=" + "x" * 20_000)
    assert response.status_code == 414
    assert response.headers["content-type"] == PROBLEM


def test_over_long_url_is_a_414_on_a_real_server(live_server) -> None:
    import httpx2

    for size in (12_000, 60_000):
        response = httpx2.get(f"{live_server}/collections/properties/items?q=" + "x" * size, timeout=30)
        assert response.status_code == 414, size
        assert response.headers["content-type"] == PROBLEM


def test_rag_without_reason_on_update_names_rag_reason(client, writer) -> None:
    org, headers = writer
    created = client.post(
        "/properties", json=new_property(org, rag=None, rag_reason=None), headers=headers
    ).json()
    response = client.patch(
        f"/properties/{created['id']}", json={"rag": "green"}, headers={**headers, "If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text
    assert _fields(response)[0] == "rag_reason"
    assert "property_rag_has_reason" not in response.text


def test_point_stays_usable_after_these_fixes(client, writer) -> None:
    org, headers = writer
    response = client.post("/properties", json=new_property(org, geometry=point()), headers=headers)
    assert response.status_code == 201, response.text
