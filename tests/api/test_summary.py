"""GET /properties/summary (what is in a map's view) and /map/wayfinding.geojson (the offline map's towns)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text
from support import auth_header, new_property, point

from api.db import write_transaction
from api.services import summary as summary_svc
from api.services.filters import build_filter, parse_bbox
from gis import visibility
from gis.layers import MERCATOR_WORLD, whole_cells

EVESHAM_BBOX = "-2.00,52.05,-1.90,52.13"
NATIONAL_BBOX = "-6.5,49.9,2.2,55.9"  # whole stored cells, with a rim counted from rows


def _listing(client, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/properties", params={"limit": 10_000, **params}, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None
    return response.json()["items"]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"bbox": EVESHAM_BBOX},
        {"owner": "wychavon", "rag": "amber,green"},
        {"use": "office", "town": "Worcester"},
    ],
)
def test_totals_agree_with_the_listing(client, filters) -> None:
    listed = _listing(client, **filters)
    summary = client.get("/properties/summary", params={**filters, "limit": 1}).json()
    assert summary["count"] == len(listed) > 0
    assert summary["gia_m2"] == pytest.approx(sum(p["gia_m2"] or 0 for p in listed), abs=0.1)
    ratings = Counter(p.get("rag") or "unrated" for p in listed)
    assert summary["rag"] == {r: ratings.get(r, 0) for r in ("red", "amber", "green", "unrated")}


@pytest.mark.parametrize("bbox", [EVESHAM_BBOX, NATIONAL_BBOX])
def test_a_partner_sees_the_value_the_listing_shows_it(client, make_org, make_key, bbox) -> None:
    headers = auth_header(make_key(make_org(), "reader"))
    listed = _listing(client, headers, bbox=bbox)
    summary = client.get("/properties/summary", params={"bbox": bbox}, headers=headers).json()
    values = [p["value_gbp"] for p in listed if p.get("value_gbp") is not None]
    assert summary["value_known"] == len(values) > 0
    assert summary["value_gbp"] == sum(values)


def test_the_public_neither_sees_values_nor_gets_the_list_ordered_by_them(client) -> None:
    summary = client.get("/properties/summary", params={"sort": "-value_gbp", "limit": 40}).json()
    assert summary["value_gbp"] is None and summary["value_known"] == 0
    ids = [item["id"] for item in summary["items"]]
    assert all(item["value_gbp"] is None for item in summary["items"])
    assert ids == sorted(ids), "with every value hidden, the order is the id tiebreak, not the hidden values"


def test_pages_cover_the_view_once_in_the_asked_order(client) -> None:
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            "/properties/summary",
            params={"bbox": EVESHAM_BBOX, "sort": "-gia_m2", "limit": 30, "offset": offset},
        ).json()
        seen.extend(page["items"])
        offset = page["next_offset"]
    assert len(seen) == page["count"] == len({item["id"] for item in seen})
    areas = [item["gia_m2"] for item in seen if item["gia_m2"] is not None]
    assert areas == sorted(areas, reverse=True)
    assert all(item["gia_m2"] is None for item in seen[len(areas) :]), "unknown areas sort last"


def test_a_sensitive_building_is_counted_only_for_those_who_may_see_it(client, make_org, make_key) -> None:
    org = make_org()
    key = make_key(org, "writer")
    lon, lat = -3.4321, 51.6543  # a place with no other building
    created = client.post(
        "/properties",
        json=new_property(org, name="Witness Suite", sensitive=True, geometry=point(lon, lat)),
        headers=auth_header(key),
    )
    assert created.status_code == 201, created.text
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    public = client.get("/properties/summary", params={"bbox": bbox}).json()
    owner = client.get("/properties/summary", params={"bbox": bbox}, headers=auth_header(key)).json()
    assert (public["count"], public["items"]) == (0, [])
    assert owner["count"] == 1 and owner["items"][0]["name"] == "Witness Suite"
    assert owner["value_gbp"] == 1_250_000


def test_a_national_view_leaks_neither_sensitive_buildings_nor_withheld_values(
    client, owner_engine, make_org, make_key
) -> None:
    org = make_org()
    key = make_key(org, "writer")
    made = {}
    for name, sensitive in (("Witness Suite", True), ("Old Depot for sale", False)):
        body = new_property(
            org, name=name, sensitive=sensitive, value_gbp=7_777_777, geometry=point(-2.21, 52.19)
        )
        created = client.post("/properties", json=body, headers=auth_header(key))
        assert created.status_code == 201, created.text
        made[name] = created.json()["id"]
    with write_transaction(
        owner_engine, "test-setup"
    ) as conn:  # being marketed: its value is the owner's alone
        conn.execute(
            text("UPDATE property SET disposal_stage = 'marketed' WHERE id = :id"),
            {"id": made["Old Depot for sale"]},
        )
    partner = auth_header(make_key(make_org(), "reader"))

    def national(headers: dict[str, str]) -> dict[str, Any]:
        return client.get("/properties/summary", params={"bbox": NATIONAL_BBOX}, headers=headers).json()

    public, other, owner = national({}), national(partner), national(auth_header(key))
    public_ids = {p["id"] for p in _listing(client, bbox=NATIONAL_BBOX)}
    owner_ids = {p["id"] for p in _listing(client, auth_header(key), bbox=NATIONAL_BBOX)}
    assert made["Witness Suite"] in owner_ids - public_ids
    assert (public["count"], owner["count"]) == (len(public_ids), len(owner_ids))
    assert public["value_gbp"] is None and public["value_known"] == 0
    # The partner sees the sensitive one's value but not the marketed one's; the owner sees both.
    assert owner["value_known"] == other["value_known"] + 1
    assert owner["value_gbp"] == other["value_gbp"] + 7_777_777


VIEWERS = {
    "public": visibility.PUBLIC,
    "public, no ratings": visibility.Viewer(visibility.Tier.public, public_rag=False),
    "a body, public tier": visibility.Viewer(visibility.Tier.public, org="wychavon", public_rag=False),
    "partner": visibility.Viewer(visibility.Tier.partner),
    "a partner body": visibility.Viewer(visibility.Tier.partner, org="wychavon"),
    "admin": visibility.ADMIN,
}


@pytest.mark.parametrize("viewer", VIEWERS.values(), ids=VIEWERS.keys())
def test_stored_cells_give_the_totals_counting_every_row_gives(seeded, viewer) -> None:
    with seeded.connect() as conn, conn.begin() as tx:
        conn.execute(text("SELECT set_config('estate.actor', 'test-summary', true)"))
        conn.execute(  # some values withheld while marketed, one sensitive building, all inside the view
            text(
                "UPDATE property SET disposal_stage = 'marketed' WHERE id IN "
                "(SELECT id FROM property WHERE value_gbp IS NOT NULL ORDER BY id LIMIT 7)"
            )
        )
        conn.execute(
            text(
                "UPDATE property SET sensitive = true WHERE id = (SELECT id FROM property ORDER BY id LIMIT 1)"
            )
        )
        conn.execute(  # a record with no location yet: in the whole register, in no cell and no view
            text(
                "INSERT INTO property (owner, asset_ref, name, use_category) "
                "VALUES ('wychavon', 'TEST-UNLOCATED', 'Unlocated store', 'office')"
            )
        )
        conn.execute(text("SET CONSTRAINTS tile_fold_transaction IMMEDIATE"))  # fold into the cells now
        for bbox in (None, NATIONAL_BBOX, "-2.5,51.9,-1.7,52.4", EVESHAM_BBOX):
            assert whole_cells(parse_bbox(bbox) if bbox else MERCATOR_WORLD) is not None
            for filters in (
                {},
                {"rag": "red,unrated"},
                {"owner": "wychavon,worcestershire-cc"},
                {"use": "office"},
            ):
                flt = build_filter(bbox=bbox, **filters)
                stored = summary_svc.totals(conn, flt, viewer)
                live = summary_svc.totals(conn, flt, viewer, stored=False)
                assert stored["count"] > 0
                assert {k: v for k, v in stored.items() if k != "gia_m2"} == {
                    k: v for k, v in live.items() if k != "gia_m2"
                }, (bbox, filters)
                assert stored["gia_m2"] == pytest.approx(live["gia_m2"], rel=1e-9)
        tx.rollback()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "price"}, "sort"),
        ({"rag": "purple"}, "rag"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_a_bad_parameter_is_named(client, params, field) -> None:
    response = client.get("/properties/summary", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_summary_is_documented_with_its_response_model(client) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/properties/summary"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/PropertySummary")
    fields = spec["components"]["schemas"]["PropertySummary"]["properties"]
    assert {"count", "gia_m2", "value_gbp", "rag", "items", "next_offset"} <= set(fields)
    assert {p["name"] for p in operation["parameters"]} >= {"bbox", "owner", "rag", "use", "town", "sort"}


def test_wayfinding_puts_each_town_among_its_buildings_and_outlines_each_estate(client) -> None:
    response = client.get("/map/wayfinding.geojson")
    assert response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    features = response.json()["features"]
    towns = {f["properties"]["name"]: f for f in features if f["properties"]["kind"] == "town"}
    estates = [f for f in features if f["properties"]["kind"] == "estate"]
    worcester = _listing(client, town="Worcester")
    assert towns["Worcester"]["properties"]["buildings"] == len(worcester)
    lons = sorted(p["geometry"]["coordinates"][0] for p in worcester if p["geometry"])
    lats = sorted(p["geometry"]["coordinates"][1] for p in worcester if p["geometry"])
    lon, lat = towns["Worcester"]["geometry"]["coordinates"]
    assert lons[0] <= lon <= lons[-1] and lats[0] <= lat <= lats[-1]
    placed = client.get("/properties/summary", params={"bbox": "-180,-90,180,90", "limit": 1}).json()["count"]
    assert sum(f["properties"]["buildings"] for f in estates) == placed
    assert all(f["geometry"]["type"] == "Polygon" for f in estates)


def test_the_public_extent_is_exactly_that_of_the_buildings_it_may_see(client, owner_engine) -> None:
    # Framed by the stored cells, measured on the rows of the outermost ones: the same as a full scan.
    with owner_engine.connect() as conn:
        scanned = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e "
                "FROM property WHERE deleted_at IS NULL AND NOT sensitive) s"
            )
        ).one()
    served = client.get("/collections/properties").json()["extent"]["spatial"]["bbox"][0]
    assert served == pytest.approx(list(scanned), abs=1e-9)


WALKERS = {k: VIEWERS[k] for k in ("public, no ratings", "a partner body", "admin")}


@pytest.mark.parametrize("viewer", WALKERS.values(), ids=WALKERS.keys())
def test_walking_an_index_gives_the_pages_sorting_gives(seeded, viewer, monkeypatch) -> None:
    # At national scale the list walks indexes instead of sorting; here, made to walk the seed.
    with seeded.connect() as conn, conn.begin() as tx:
        conn.execute(text("SELECT set_config('estate.actor', 'test-summary', true)"))
        conn.execute(  # withheld values and unknown ones, inside the view
            text(
                "UPDATE property SET disposal_stage = 'marketed' WHERE id IN "
                "(SELECT id FROM property WHERE value_gbp IS NOT NULL ORDER BY id LIMIT 9)"
            )
        )
        conn.execute(
            text(
                "UPDATE property SET value_gbp = NULL, gia_m2 = NULL, post_town = NULL WHERE id IN "
                "(SELECT id FROM property ORDER BY id DESC LIMIT 9)"
            )
        )
        conn.execute(text("SET CONSTRAINTS tile_fold_transaction IMMEDIATE"))
        flt = build_filter(bbox=NATIONAL_BBOX)
        totals = summary_svc.totals(conn, flt, viewer)
        for key in summary_svc.SORT_KEYS:
            for sort in (key, "-" + key):
                pages = {}
                for walk_from in (10**9, 0):
                    monkeypatch.setattr(summary_svc, "WALK_FROM_COUNT", walk_from)
                    monkeypatch.setattr(summary_svc, "WALK_FROM_SHARE", 0 if walk_from == 0 else 1)
                    # Whole pages, and a last page that starts among the buildings with no value.
                    pages[walk_from] = [
                        item["id"]
                        for offset, limit in (
                            *((o, 700) for o in range(0, totals["count"], 700)),
                            (totals["count"] - 3, 5),
                        )
                        for item in summary_svc.page(
                            conn, flt, viewer, sort=sort, limit=limit, offset=offset, totals=totals
                        )
                    ]
                assert pages[0] == pages[10**9], sort
                assert pages[0][-3:] == pages[0][-6:-3], sort
                assert len(set(pages[0])) == totals["count"] == len(pages[0]) - 3, sort
        tx.rollback()
