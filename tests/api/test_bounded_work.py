"""Expensive routes cost more, run a few at a time per caller, and callers that are not partners get ceilings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import auth_header, slots_free

from api import auth
from api.limits import (
    CEILINGS,
    COST_KEY,
    EXPENSIVE_PER_CALLER,
    EXPORT,
    RECEIPTS,
    WORK,
    Admissions,
    caller_slots,
    credential_of,
    everyone_slots,
)


@contextmanager
def holding(engine: Engine, keys: list[int]) -> Iterator[None]:
    """Hold slots from a database session of the test's own, as another worker process would."""
    with engine.connect() as conn:
        for key in keys:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.commit()


def test_a_caller_whose_slots_another_worker_holds_gets_429_others_do_not(
    client, owner_engine, seeded, make_org, make_key
) -> None:
    key = make_key(make_org(), "reader")
    key_id = auth.principal_for_key(seeded, key).key_id
    own_kind, _ = caller_slots(key_id, EXPORT)
    with holding(owner_engine, own_kind):  # as if two of its exports were streaming from another worker
        busy = client.get("/exports/properties.csv?owner=redditch", headers=auth_header(key))
        assert busy.status_code == 429, busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert int(busy.headers["Retry-After"]) >= 1
        other = client.get(
            "/exports/properties.csv?owner=redditch", headers=auth_header(make_key("redditch", "reader"))
        )
        assert other.status_code == 200
        # Its limit is for expensive work: everything else still answers.
        assert client.get("/organisations/redditch", headers=auth_header(key)).status_code == 200
    assert client.get("/exports/properties.csv?owner=redditch", headers=auth_header(key)).status_code == 200


def test_a_caller_at_its_limit_of_all_kinds_gets_429_for_another_kind(
    client, owner_engine, seeded, make_org, make_key
) -> None:
    key = make_key(make_org(), "writer")
    key_id = auth.principal_for_key(seeded, key).key_id
    _, own_all = caller_slots(key_id, EXPORT)
    with holding(owner_engine, own_all):
        busy = client.get("/colocation/candidates?limit=1", headers=auth_header(key))
        assert busy.status_code == 429, busy.text


def test_over_the_shared_bound_every_caller_gets_503_with_retry_after(
    settings, seeded, owner_engine, make_key
) -> None:
    from api.main import create_app

    app = create_app(settings.model_copy(update={"expensive_at_once": 1}), seeded)
    with TestClient(app) as client, holding(owner_engine, everyone_slots(1)):
        for headers in ({}, auth_header(make_key("redditch", "reader"))):
            busy = client.get("/exports/properties.csv?owner=redditch", headers=headers)
            assert busy.status_code == 503, busy.text
            assert busy.headers["content-type"] == "application/problem+json"
            assert int(busy.headers["Retry-After"]) >= 1
            assert "all callers" in busy.json()["detail"]
        assert client.get("/organisations/redditch").status_code == 200  # cheap routes are not bounded
    with TestClient(app) as client:
        assert client.get("/exports/properties.csv?owner=redditch").status_code == 200


def test_slots_are_released_after_the_download(client, owner_engine, seeded, make_org, make_key) -> None:
    key = make_key(make_org(), "reader")
    key_id = auth.principal_for_key(seeded, key).key_id
    for _ in range(EXPORT.per_caller + 1):
        assert (
            client.get("/exports/properties.csv?owner=redditch", headers=auth_header(key)).status_code == 200
        )
    own_kind, own_all = caller_slots(key_id, EXPORT)
    assert slots_free(owner_engine, own_kind + own_all + everyone_slots(client.app.state.slots.everyone))


def test_the_credential_digest_is_the_same_for_either_header_and_none_without_one() -> None:
    key = b"se_abc_secret"
    assert credential_of([(b"authorization", b"Bearer " + key)]) == credential_of([(b"x-api-key", key)])
    assert credential_of([(b"cookie", b"estate_session=t1; other=x")]) != credential_of(
        [(b"cookie", b"estate_session=t2")]
    )
    assert credential_of([(b"accept", b"*/*")]) is None


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


def test_a_request_over_its_callers_limit_waits_for_the_callers_own_to_finish() -> None:
    async def scenario() -> None:
        admissions = Admissions(wait_s=60)
        for _ in range(RECEIPTS.per_caller):
            assert await admissions.enter("caller", RECEIPTS) is None
        waiting = asyncio.ensure_future(admissions.enter("caller", RECEIPTS))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert await admissions.enter("someone else", RECEIPTS) is None  # not held up
        admissions.leave("caller", RECEIPTS)
        assert await waiting is None  # entered as soon as the caller's own request left

    asyncio.run(scenario())


def test_without_a_wait_a_request_over_its_callers_limit_is_refused_at_once() -> None:
    async def scenario() -> None:
        admissions = Admissions(wait_s=0)
        for _ in range(EXPENSIVE_PER_CALLER):
            assert await admissions.enter("caller", EXPORT) is None
        refusal = await admissions.enter("caller", RECEIPTS)  # another kind: over the limit of all kinds
        assert refusal is not None and refusal.extra["retry_after"] >= 1

    asyncio.run(scenario())
