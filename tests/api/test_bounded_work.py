"""Expensive routes cost more, run a few at a time per caller, and callers that are not partners get ceilings."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support import auth_header

from api import auth
from api.limits import CEILINGS, COST_KEY, EXPORT, WORK, ConcurrencyLimiter


def test_concurrency_limiter_counts_per_caller_and_kind() -> None:
    limiter = ConcurrencyLimiter()
    for _ in range(EXPORT.per_caller):
        limiter.acquire("a", EXPORT)
    with pytest.raises(Exception, match="at most"):
        limiter.acquire("a", EXPORT)
    limiter.acquire("b", EXPORT)  # another caller is not held up
    limiter.release("a", EXPORT)
    limiter.acquire("a", EXPORT)
    assert limiter.running("a", EXPORT) == EXPORT.per_caller


def test_a_caller_over_its_concurrency_gets_429_others_do_not(
    client, app, seeded, make_org, make_key
) -> None:
    key = make_key(make_org(), "reader")
    key_id = auth.principal_for_key(seeded, key).key_id
    for _ in range(EXPORT.per_caller):  # as if two of its exports were still streaming
        app.state.concurrency.acquire(key_id, EXPORT)
    try:
        busy = client.get("/exports/properties.csv?owner=redditch", headers=auth_header(key))
        assert busy.status_code == 429, busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert int(busy.headers["Retry-After"]) >= 1
        other = client.get(
            "/exports/properties.csv?owner=redditch", headers=auth_header(make_key("redditch", "reader"))
        )
        assert other.status_code == 200
    finally:
        for _ in range(EXPORT.per_caller):
            app.state.concurrency.release(key_id, EXPORT)
    assert app.state.concurrency.running(key_id, EXPORT) == 0


def test_slot_is_released_after_the_download(client, app, seeded, make_org, make_key) -> None:
    key = make_key(make_org(), "reader")
    key_id = auth.principal_for_key(seeded, key).key_id
    for _ in range(EXPORT.per_caller + 1):
        assert (
            client.get("/exports/properties.csv?owner=redditch", headers=auth_header(key)).status_code == 200
        )
    assert app.state.concurrency.running(key_id, EXPORT) == 0


def test_expensive_routes_cost_more_tokens(settings, seeded) -> None:
    from api.main import create_app

    per_minute = EXPORT.cost + 5
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": per_minute}), seeded)
    with TestClient(app) as client:
        assert client.get("/exports/properties.csv?owner=redditch").status_code == 200
        second = client.get("/exports/properties.csv?owner=redditch")
        assert second.status_code == 429, second.text
        # The bucket still holds a few tokens: a cheap request passes.
        assert client.get("/organisations/redditch").status_code == 200


def test_every_expensive_route_declares_its_work(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    cost = {(p, m): op.get(COST_KEY, 1) for p, ops in paths.items() for m, op in ops.items()}
    for path, method in (
        ("/exports/properties.{extension}", "get"),
        ("/colocation/candidates", "get"),
        ("/receipts/estimate", "get"),
        ("/receipts/estimate", "post"),
        ("/receipts/chart.{fmt}", "get"),
        ("/receipts/chart.{fmt}", "post"),
        ("/imports/transparency", "post"),
        ("/collections/colocation-candidates/items", "get"),
    ):
        assert cost[(path, method)] > 1, path
    assert cost[("/organisations/{code}", "get")] == 1
    assert set(WORK) == {"export", "colocation", "receipts", "import"}


def test_anonymous_colocation_distance_has_a_ceiling(client) -> None:
    response = client.get("/colocation/candidates?distance_m=5000")
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["distance_m"]
    ogc = client.get("/collections/colocation-candidates/items?distance_m=5000")
    assert ogc.status_code == 400, ogc.text  # OGC API answers invalid parameters with 400


def test_anonymous_colocation_use_classes_have_a_ceiling(client) -> None:
    uses = "office,library,school,hospital,depot,leisure,court"
    response = client.get(f"/colocation/candidates?uses={uses}")
    assert response.status_code == 422, response.text
    assert "uses" in [e["field"] for e in response.json()["errors"]]


def test_partner_systems_run_past_the_ceilings(client, make_org, make_key) -> None:
    headers = auth_header(make_key(make_org(), "writer"))
    response = client.get(
        f"/colocation/candidates?distance_m={CEILINGS.colocation_distance_m + 500}", headers=headers
    )
    assert response.status_code == 200, response.text


def test_reader_receipts_runs_have_a_ceiling(client, make_key) -> None:
    headers = auth_header(make_key("redditch", "reader"))
    response = client.post("/receipts/estimate", json={"runs": 100_000}, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["runs"]


def test_ceilings_are_documented_in_openapi(client) -> None:
    doc = client.get("/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/colocation/candidates"]["get"]["parameters"]}
    assert f"{CEILINGS.colocation_distance_m:,.0f}" in params["distance_m"]["description"]
    assert f"at most {CEILINGS.colocation_uses}" in params["uses"]["description"]
    assert f"{CEILINGS.receipts_runs:,}" in doc["paths"]["/receipts/estimate"]["post"]["description"]
