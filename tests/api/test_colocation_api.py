"""GET /colocation/candidates: parameters, JSON and GeoJSON, and what the public may see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine
from support import auth_header, place_building

# West of the Wyre Forest, 4 km from the integration tests' spot and over 3 km
# from any seed building; each test also has a post town of its own.
TO_BNG = Transformer.from_crs(4326, 27700, always_xy=True)
TO_WGS84 = Transformer.from_crs(27700, 4326, always_xy=True)
ORIGIN_E, ORIGIN_N = TO_BNG.transform(-2.46, 52.36)
ORIGIN_E -= 4_000.0
MONEY = ("capital_value_gbp", "running_cost_saved_gbp_pa", "transition_cost_gbp", "payback_years")


class Place:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.town = f"Apiton {uuid.uuid4().hex[:8]}"

    def add(self, name: str, owner: str, east_m: float, north_m: float, **fields: Any) -> str:
        values: dict[str, Any] = {
            "use_category": "office",
            "gia_m2": 2000.0,
            "fte": 40.0,
            "running_cost_gbp_pa": 90_000,
            **fields,
        }
        return place_building(
            self.engine,
            owner,
            name,
            self.town,
            ORIGIN_E + east_m,
            ORIGIN_N + north_m,
            "test:colocation-api",
            **values,
        )


@pytest.fixture()
def place(engine: Engine) -> Place:
    return Place(engine)


def _errors(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"distance_m": 5}, "distance_m"),
        ({"distance_m": 6000}, "distance_m"),
        ({"distance_m": "far"}, "distance_m"),
        ({"min_owners": 1}, "min_owners"),
        ({"uses": "office,spaceship"}, "uses"),
        ({"owner": "no-such-body"}, "owner"),
        ({"limit": 0}, "limit"),
        ({"m2_per_fte": 0}, "m2_per_fte"),
        ({"relocation_gbp_per_m2": -5}, "relocation_gbp_per_m2"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"f": "xml"}, "f"),
    ],
)
def test_bad_parameters_answer_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    assert field in _errors(client.get("/colocation/candidates", params=params))


def test_several_bad_parameters_are_all_named(client: TestClient) -> None:
    fields = _errors(client.get("/colocation/candidates", params={"distance_m": 1, "min_owners": 1}))
    assert {"distance_m", "min_owners"} <= set(fields)


def test_candidates_come_ranked_by_score_with_every_number(
    client: TestClient, place: Place, make_org: Callable[..., str], make_key: Callable[[str, str], str]
) -> None:
    a, b, c = make_org(), make_org(), make_org()
    place.add("A", a, 0, 0, gia_m2=5000.0)
    place.add("B", b, 100, 0)
    place.add("C", c, 2000, 0)
    place.add("D", a, 2100, 0)

    response = client.get(
        "/colocation/candidates", params={"town": place.town}, headers=auth_header(make_key(a, "reader"))
    )

    assert response.status_code == 200
    body = response.json()
    scores = [cand["score"] for cand in body["candidates"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert [cand["rank"] for cand in body["candidates"]] == [1, 2]
    first = body["candidates"][0]
    for key in (
        "id",
        "reasons",
        "owners",
        "host",
        "members",
        "released_count",
        "space_needed_m2",
        "fits",
        "extra_space_m2",
        *MONEY,
    ):
        assert key in first
    assert first["capital_value_gbp"] == 1_250_000  # one released building at new_property's value
    assert body["parameters"]["distance_m"] == 800


def test_geojson_is_a_feature_collection_of_outlines(
    client: TestClient, place: Place, make_org: Callable[..., str]
) -> None:
    place.add("A", make_org(), 0, 0)
    place.add("B", make_org(), 150, 100)

    by_param = client.get("/colocation/candidates", params={"town": place.town, "f": "geojson"})
    by_header = client.get(
        "/colocation/candidates", params={"town": place.town}, headers={"Accept": "application/geo+json"}
    )

    for response in (by_param, by_header):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/geo+json")
        collection = response.json()
        assert collection["type"] == "FeatureCollection"
        (feature,) = collection["features"]
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Polygon"
        lon, lat = feature["geometry"]["coordinates"][0][0]
        assert -2.6 < lon < -2.4 and 52.3 < lat < 52.4
        props = feature["properties"]
        for key in (
            "id",
            "score",
            "owners",
            "host_name",
            "released_count",
            "capital_value_gbp",
            "running_cost_saved_gbp_pa",
            "payback_years",
            "reasons",
        ):
            assert key in props
        assert props["id"] == feature["id"]
        assert props["host_geometry"]["type"] == "Point"


def test_public_viewers_see_no_money_and_nothing_of_sensitive_buildings(
    client: TestClient, place: Place, make_org: Callable[..., str], make_key: Callable[[str, str], str]
) -> None:
    one, two, three = make_org(), make_org(), make_org()
    place.add("Open A", one, 0, 0, gia_m2=5000.0)
    hidden = place.add("Secret B", two, 80, 0, sensitive=True, value_gbp=7_777_777)
    place.add("Open C", three, 0, 90)
    # A second group whose only partner is sensitive: not a hub at all for the public.
    lone = make_org()
    place.add("Open D", lone, 3000, 0, gia_m2=5000.0)
    place.add("Secret E", make_org(), 3050, 0, sensitive=True)

    public = client.get("/colocation/candidates", params={"town": place.town})
    public_geo = client.get("/colocation/candidates", params={"town": place.town, "f": "geojson"})
    partner = client.get(
        "/colocation/candidates", params={"town": place.town}, headers=auth_header(make_key(one, "reader"))
    )

    assert public.status_code == public_geo.status_code == partner.status_code == 200
    (seen,) = public.json()["candidates"]
    assert {m["name"] for m in seen["members"]} == {"Open A", "Open C"}
    assert hidden not in public.text and "Secret" not in public.text and "7777777" not in public.text
    assert all(seen[key] is None for key in MONEY)
    assert all(m["value_gbp"] is None and m["running_cost_gbp_pa"] is None for m in seen["members"])
    (feature,) = public_geo.json()["features"]
    assert all(feature["properties"][key] is None for key in MONEY)
    assert hidden not in public_geo.text

    partner_view = partner.json()["candidates"]
    assert len(partner_view) == 2
    names = {m["name"] for cand in partner_view for m in cand["members"]}
    assert {"Secret B", "Secret E"} <= names
    assert all(cand["capital_value_gbp"] is not None for cand in partner_view)


def test_owner_filter_keeps_only_hubs_that_body_is_in(
    client: TestClient, place: Place, make_org: Callable[..., str]
) -> None:
    mine = make_org()
    place.add("Mine", mine, 0, 0)
    place.add("Partner", make_org(), 100, 0)
    place.add("Other 1", make_org(), 3000, 0)
    place.add("Other 2", make_org(), 3100, 0)

    response = client.get("/colocation/candidates", params={"town": place.town, "owner": mine})

    (only,) = response.json()["candidates"]
    assert mine in only["owners"]


def test_the_seed_answers_with_the_evesham_hub_near_the_top(
    client: TestClient, make_key: Callable[[str, str], str]
) -> None:
    response = client.get(
        "/colocation/candidates",
        params={"limit": 10},
        headers={**auth_header(make_key("wychavon", "reader")), "Accept": "application/json"},
    )
    assert response.status_code == 200
    towns = [cand["town"] for cand in response.json()["candidates"]]
    assert "Evesham" in towns
