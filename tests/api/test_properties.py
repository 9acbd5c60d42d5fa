"""The register API: CRUD, filters, cursor paging, ETag / If-Match."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from support import auth_header, new_property, point


@pytest.fixture()
def writer(make_org, make_key) -> tuple[str, dict[str, str]]:
    org = make_org()
    return org, auth_header(make_key(org, "writer"))


def _create(client, headers, owner: str, **overrides: Any) -> dict[str, Any]:
    response = client.post("/properties", json=new_property(owner, **overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_then_read_back_with_etag(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org, name="Pershore Civic Centre")
    response = client.get(f"/properties/{created['id']}", headers=headers)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    body = response.json()
    assert body["name"] == "Pershore Civic Centre"
    assert body["value_gbp"] == 1_250_000 and isinstance(body["value_gbp"], int)
    assert body["geometry"]["coordinates"] == pytest.approx([-2.22, 52.192])


def test_patch_needs_if_match(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org)
    response = client.patch(f"/properties/{created['id']}", json={"gia_m2": 900.0}, headers=headers)
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"


def test_patch_with_stale_etag_is_412_and_changes_nothing(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org)
    ok = client.patch(
        f"/properties/{created['id']}", json={"gia_m2": 900.0}, headers={**headers, "If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    stale = client.patch(
        f"/properties/{created['id']}", json={"gia_m2": 1.0}, headers={**headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert client.get(f"/properties/{created['id']}", headers=headers).json()["gia_m2"] == 900.0


def test_patch_changes_only_named_fields(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org, name="Old name")
    client.patch(
        f"/properties/{created['id']}", json={"name": "New name"}, headers={**headers, "If-Match": '"1"'}
    )
    body = client.get(f"/properties/{created['id']}", headers=headers).json()
    assert body["name"] == "New name" and body["value_gbp"] == 1_250_000 and body["version"] == 2


def test_delete_is_soft_and_hides_the_record(client, writer, owner_engine) -> None:
    org, headers = writer
    created = _create(client, headers, org)
    assert (
        client.delete(f"/properties/{created['id']}", headers={**headers, "If-Match": '"1"'}).status_code
        == 204
    )
    assert client.get(f"/properties/{created['id']}", headers=headers).status_code == 404
    with owner_engine.connect() as conn:
        deleted_at = conn.execute(
            text("SELECT deleted_at FROM property WHERE id = :id"), {"id": created["id"]}
        ).scalar()
    assert deleted_at is not None


def test_writer_cannot_touch_another_owners_record(client, writer, make_org, make_key) -> None:
    org, headers = writer
    created = _create(client, headers, org)
    other = auth_header(make_key(make_org(), "writer"))
    response = client.patch(
        f"/properties/{created['id']}", json={"name": "x"}, headers={**other, "If-Match": '"1"'}
    )
    assert response.status_code == 403


def test_unknown_id_is_404_problem(client) -> None:
    response = client.get("/properties/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("owner=west-mercia-police", lambda p: p["owner"] == "west-mercia-police"),
        ("rag=green", lambda p: p["rag"] == "green"),
        ("use=library", lambda p: p["use_category"] == "library"),
        ("town=Evesham", lambda p: p["post_town"] == "Evesham"),
        ("postcode=WR11", lambda p: p["postcode"].replace(" ", "").startswith("WR11")),
        ("bbox=-1.96,52.08,-1.93,52.10", lambda p: -1.96 <= p["geometry"]["coordinates"][0] <= -1.93),
        ("min_value_gbp=5000000", lambda p: p["value_gbp"] >= 5_000_000),
        ("max_value_gbp=100000", lambda p: p["value_gbp"] is None or p["value_gbp"] <= 100_000),
    ],
)
def test_filters_return_only_matching_records(client, make_key, query, check) -> None:
    headers = auth_header(make_key("worcestershire-cc", "reader"))
    response = client.get(f"/properties?{query}&limit=500", headers=headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items, f"seed should have matches for {query}"
    assert all(check(p) for p in items)


def test_bbox_in_british_national_grid(client) -> None:
    from gis.crs import lonlat_to_bng

    box = (403000.0, 242500.0, 405500.0, 244800.0)
    items = client.get("/properties?bbox=403000,242500,405500,244800&bbox-crs=EPSG:27700&limit=1000").json()[
        "items"
    ]
    assert items
    for p in items:
        e, n = lonlat_to_bng(*p["geometry"]["coordinates"])
        assert box[0] - 1 <= e <= box[2] + 1 and box[1] - 1 <= n <= box[3] + 1


def test_unknown_filter_value_is_named(client) -> None:
    response = client.get("/properties?rag=purple")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rag"
    response = client.get("/properties?owner=nobody-at-all")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "owner"


def test_cursor_paging_visits_every_record_once_even_with_inserts(client, writer) -> None:
    org, headers = writer
    for i in range(5):
        _create(client, headers, org, name=f"Paged {i}")
    seen: list[str] = []
    url = f"/properties?owner={org}&limit=2"
    inserted = False
    while url:
        page = client.get(url, headers=headers).json()
        seen += [p["id"] for p in page["items"]]
        if not inserted:
            _create(client, headers, org, name="Inserted mid-walk")
            inserted = True
        url = page["next"]
    assert len(seen) == len(set(seen))
    assert len(seen) >= 5
    everything = client.get(f"/properties?owner={org}&limit=100", headers=headers).json()["items"]
    before_walk = {p["id"] for p in everything if p["name"] != "Inserted mid-walk"}
    assert before_walk <= set(seen)


def test_organisations_listed_with_counts(client) -> None:
    items = client.get("/organisations").json()["items"]
    codes = {o["code"] for o in items}
    assert {"worcestershire-cc", "west-mercia-police", "dwp-jcp"} <= codes
    one = client.get("/organisations/wychavon").json()
    assert one["kind"] == "district" and one["property_count"] > 0
    assert client.get("/organisations/nope").status_code == 404


def test_healthz_reports_postgis(client) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["postgis"].startswith("3")


def test_history_records_each_change_with_actor(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org)
    client.patch(
        f"/properties/{created['id']}",
        json={"rag": "green", "rag_reason": "vacant"},
        headers={**headers, "If-Match": '"1"'},
    )
    client.delete(f"/properties/{created['id']}", headers={**headers, "If-Match": '"2"'})
    changes = client.get(f"/properties/{created['id']}/history", headers=headers).json()["changes"]
    assert [c["action"] for c in changes] == ["insert", "update", "delete"]
    assert all(c["actor"].startswith(f"{org}/key:") for c in changes)
    assert changes[1]["before"]["rag"] == "amber" and changes[1]["after"]["rag"] == "green"


def test_noop_patch_makes_no_new_version(client, writer) -> None:
    org, headers = writer
    created = _create(client, headers, org, name="Same")
    response = client.patch(
        f"/properties/{created['id']}", json={"name": "Same"}, headers={**headers, "If-Match": '"1"'}
    )
    assert response.headers["ETag"] == '"1"'
    assert len(client.get(f"/properties/{created['id']}/history", headers=headers).json()["changes"]) == 1


def test_create_in_british_national_grid(client, writer) -> None:
    org, headers = writer
    body = new_property(org, geometry={"type": "Point", "coordinates": [385000.0, 254800.0]})
    response = client.post("/properties?crs=EPSG:27700", json=body, headers=headers)
    assert response.status_code == 201, response.text
    from gis.crs import bng_to_lonlat

    lon, lat = bng_to_lonlat(385000.0, 254800.0)
    assert response.json()["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-7)


def test_anonymous_cannot_write(client) -> None:
    response = client.post("/properties", json=new_property("worcestershire-cc", geometry=point()))
    assert response.status_code == 401
