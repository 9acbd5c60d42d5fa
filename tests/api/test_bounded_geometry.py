"""Footprints are bounded, closed, 2-D and near their point; reads never serialise what the caller won't get."""

from __future__ import annotations

import math

import pytest
from support import auth_header, new_property, register_fingerprint

from api.services import properties as svc
from gis import visibility
from gis.register import FootprintLimits, validate_property

LON, LAT = -2.2200, 52.1920  # new_property's point


def square(lon: float = LON, lat: float = LAT, side: float = 0.0002) -> dict:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def circle(vertices: int, radius_deg: float = 0.0003) -> dict:
    ring = [
        [
            LON + radius_deg * math.cos(2 * math.pi * i / vertices),
            LAT + radius_deg * math.sin(2 * math.pi * i / vertices),
        ]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.fixture()
def writer(make_org, make_key):
    org = make_org()
    return org, auth_header(make_key(org, "writer"))


def _refused(client, seeded, headers, body, words):
    before = register_fingerprint(seeded)
    response = client.post("/properties", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == "footprint" and words in e["message"] for e in errors), errors
    assert register_fingerprint(seeded) == before


def test_unclosed_ring_is_refused_not_closed(client, seeded, writer) -> None:
    org, headers = writer
    open_ring = square()
    open_ring["coordinates"][0] = open_ring["coordinates"][0][:-1] + [[LON, LAT + 0.0001]]
    _refused(client, seeded, headers, new_property(org, footprint=open_ring), "not closed")


def test_footprint_far_from_its_point_is_refused(client, seeded, writer) -> None:
    org, headers = writer
    # An outline in Scotland for a point in Worcestershire.
    _refused(
        client, seeded, headers, new_property(org, footprint=square(-4.25, 55.86)), "from the record's point"
    )


def test_footprint_with_too_many_vertices_is_refused(client, seeded, writer, settings) -> None:
    org, headers = writer
    body = new_property(org, footprint=circle(settings.footprint_max_vertices + 10))
    _refused(client, seeded, headers, body, "vertices")


def test_footprint_byte_ceiling() -> None:
    limits = FootprintLimits(max_vertices=10_000, max_bytes=2_000)
    with pytest.raises(Exception, match="bytes as WKB"):
        validate_property(new_property("xx", footprint=circle(500)), creating=True, footprint_limits=limits)


def test_a_real_outline_is_accepted_and_kept(client, writer) -> None:
    org, headers = writer
    response = client.post("/properties", json=new_property(org, footprint=circle(400)), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["footprint"]["type"] == "MultiPolygon"


def test_patch_moving_the_point_away_from_its_footprint_is_refused(client, writer) -> None:
    org, headers = writer
    created = client.post("/properties", json=new_property(org, footprint=square()), headers=headers).json()
    moved = {"type": "Point", "coordinates": [-2.0, 52.3]}
    response = client.patch(
        f"/properties/{created['id']}", json={"geometry": moved}, headers={**headers, "If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "footprint"
    assert client.get(f"/properties/{created['id']}", headers=headers).json()["version"] == 1


def test_public_reads_do_not_select_the_footprint() -> None:
    public_sql = svc.record_select(visibility.PUBLIC)
    partner_sql = svc.record_select(visibility.Viewer(visibility.Tier.partner, org="x"))
    assert "p.footprint" not in public_sql
    assert "ST_AsGeoJSON(p.footprint" in partner_sql
    # What decides visibility is still read for everyone.
    assert "p.sensitive AS sensitive" in public_sql and "p.owner AS owner" in public_sql


def test_public_sees_no_footprint_partner_does(client, writer) -> None:
    org, headers = writer
    created = client.post("/properties", json=new_property(org, footprint=square()), headers=headers).json()
    public = client.get(f"/properties/{created['id']}").json()
    assert "footprint" not in public and public["name"] == "Test Building"
    assert client.get(f"/properties/{created['id']}", headers=headers).json()["footprint"] is not None
    items = client.get(f"/collections/properties/items?owner={org}").json()["features"]
    assert items and all("footprint" not in f["properties"] for f in items)
