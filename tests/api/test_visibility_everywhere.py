"""One viewer decides every output: the past follows the present, extents follow visibility,
and a hidden rating is never a filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import auth_header, new_property


@pytest.fixture(scope="module")
def bodies(make_org, make_key) -> dict[str, Any]:
    owner, other = make_org(), make_org()
    return {
        "owner": owner,
        "writer": auth_header(make_key(owner, "writer")),
        "other_reader": auth_header(make_key(other, "reader")),
    }


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/properties", json=new_property(**fields), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _patch(
    client: TestClient, headers: dict[str, str], record: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    response = client.patch(
        f"/properties/{record['id']}", json=fields, headers={**headers, "If-Match": f'"{record["version"]}"'}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_record_made_sensitive_later_vanishes_from_public_history_and_feed(client, bodies) -> None:
    name = "Safe house (later canary)"
    record = _create(
        client,
        bodies["writer"],
        owner=bodies["owner"],
        name=name,
        geometry={"type": "Point", "coordinates": [-2.4321987, 52.2345678]},
    )
    assert client.get(f"/properties/{record['id']}/history").status_code == 200  # public while it was
    _patch(client, bodies["writer"], record, sensitive=True)

    assert client.get(f"/properties/{record['id']}").status_code == 404
    assert client.get(f"/properties/{record['id']}/history").status_code == 404
    feed = client.get("/changes?limit=10000")
    assert feed.status_code == 200
    assert name.encode() not in feed.content
    assert b"-2.4321987" not in feed.content and b"52.2345678" not in feed.content
    # A mirror that copied it while public is told to drop it.
    mine = [c for c in feed.json()["changes"] if c["property_id"] == record["id"]]
    assert [c["action"] for c in mine] == ["delete"]
    assert mine[0]["record"] is None
    # Its owner still sees the whole past.
    owned = client.get(f"/properties/{record['id']}/history", headers=bodies["writer"])
    assert name in owned.text


def test_valuation_from_before_marketing_is_hidden_from_other_bodies(client, bodies) -> None:
    value_gbp = 4_271_828_183  # a figure no other test uses
    record = _create(client, bodies["writer"], owner=bodies["owner"], value_gbp=value_gbp)
    before = client.get(f"/properties/{record['id']}/history", headers=bodies["other_reader"])
    assert str(value_gbp) in before.text  # a partner field while retained
    _patch(client, bodies["writer"], record, disposal_stage="marketed")

    for url in (f"/properties/{record['id']}", f"/properties/{record['id']}/history", "/changes?limit=10000"):
        response = client.get(url, headers=bodies["other_reader"])
        assert response.status_code == 200
        assert str(value_gbp) not in response.text, url
    owned = client.get(f"/properties/{record['id']}/history", headers=bodies["writer"])
    assert str(value_gbp) in owned.text


def test_sensitive_record_does_not_widen_the_public_extent(client, bodies) -> None:
    far_lon = -6.3123  # the Isles of Scilly, far west of every seed building
    record = _create(
        client,
        bodies["writer"],
        owner=bodies["owner"],
        sensitive=True,
        geometry={"type": "Point", "coordinates": [far_lon, 49.9150]},
    )
    try:
        collection = client.get("/collections/properties").json()
        public_bbox = collection["extent"]["spatial"]["bbox"][0]
        assert public_bbox[0] > -3.5, public_bbox
        tilejson = client.get("/collections/properties/tiles/WebMercatorQuad/tilejson.json").json()
        assert tilejson["bounds"][0] > -3.5
        assert f"{far_lon}".encode() not in client.get("/map").content
    finally:
        client.delete(f"/properties/{record['id']}", headers={**bodies["writer"], "If-Match": '"1"'})


@pytest.fixture(scope="module")
def hidden_rag_client(db_url, seeded) -> Iterator[TestClient]:
    from api.main import create_app
    from api.settings import Settings

    settings = Settings(database_url=db_url, rate_limit_per_minute=1_000_000, public_rag=False)
    with TestClient(create_app(settings, seeded)) as test_client:
        yield test_client


def test_hidden_rating_is_not_a_filter_for_the_public(hidden_rag_client) -> None:
    client = hidden_rag_client
    listed = client.get("/properties?rag=red&limit=10000").json()
    assert listed["count"] == 0
    items = client.get("/collections/properties/items?rag=red&limit=10").json()
    assert items["numberMatched"] == 0
    export = client.get("/exports/properties.csv?rag=red")
    assert export.status_code == 200
    assert len(export.text.strip().splitlines()) == 1  # the heading only
    everything = client.get("/collections/properties/items?limit=1").json()["numberMatched"]
    unrated = client.get("/collections/properties/items?rag=unrated&limit=1").json()["numberMatched"]
    assert unrated == everything > 0
    one = client.get("/properties?limit=1").json()["items"][0]
    assert "rag" not in one


def test_hidden_rating_still_reaches_partners(hidden_rag_client, bodies) -> None:
    red = hidden_rag_client.get("/properties?rag=red&limit=5", headers=bodies["other_reader"]).json()
    assert red["count"] > 0
    assert {item["rag"] for item in red["items"]} == {"red"}
