"""Partner sync: atomic batches keyed on (owner, asset_ref), idempotency, tombstones, full mode."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from support import auth_header, register_fingerprint


def _record(ref: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "asset_ref": ref,
        "name": f"Building {ref}",
        "use_category": "office",
        "geometry": {"type": "Point", "coordinates": [-2.05, 52.33]},
        "gia_m2": 500.0,
        "value_gbp": 750_000,
        "rag": "amber",
        "rag_reason": "under review",
    }
    body.update(overrides)
    return body


@pytest.fixture()
def partner(make_org, make_key) -> tuple[str, dict[str, str]]:
    org = make_org()
    return org, auth_header(make_key(org, "writer"))


def _count(engine, org: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM property WHERE owner = :o AND deleted_at IS NULL"), {"o": org}
        ).scalar_one()


def test_batch_inserts_then_replays_as_unchanged(client, partner, seeded) -> None:
    org, headers = partner
    batch = {"records": [_record(f"S{i}") for i in range(20)]}
    first = client.post("/sync/properties", json=batch, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["summary"]["inserted"] == 20
    second = client.post("/sync/properties", json=batch, headers=headers).json()["summary"]
    assert second["inserted"] == 0 and second["updated"] == 0 and second["unchanged"] == 20
    assert _count(seeded, org) == 20


def test_foreign_record_inside_a_valid_batch_rejects_the_batch(client, partner, seeded) -> None:
    org, headers = partner
    records = [_record(f"F{i}") for i in range(10)]
    records[6]["owner"] = "west-mercia-police"
    before = register_fingerprint(seeded)
    response = client.post("/sync/properties", json={"records": records}, headers=headers)
    assert response.status_code == 403
    assert response.json()["errors"][0]["index"] == 6
    assert register_fingerprint(seeded) == before


def test_one_invalid_record_rejects_the_batch_naming_its_index(client, partner, seeded) -> None:
    org, headers = partner
    records = [_record(f"V{i}") for i in range(10)]
    records[7]["geometry"] = {"type": "Point", "coordinates": [385000, 254800]}
    records[3]["value_gbp"] = -1
    before = register_fingerprint(seeded)
    response = client.post("/sync/properties", json={"records": records}, headers=headers)
    assert response.status_code == 422
    named = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert named == {(3, "value_gbp"), (7, "geometry")}
    assert register_fingerprint(seeded) == before


def test_idempotent_replay_applies_exactly_once(client, partner, seeded) -> None:
    org, headers = partner
    batch = {"records": [_record("I1", value_gbp=1), _record("I2")]}
    key = {**headers, "Idempotency-Key": "nightly-2026-11-21"}
    first = client.post("/sync/properties", json=batch, headers=key)
    with seeded.connect() as conn:
        history = conn.execute(
            text("SELECT count(*) FROM property_history WHERE owner = :o"), {"o": org}
        ).scalar_one()
    # Someone edits in between; a replay must not re-apply the old batch over it.
    target = first.json()["items"][0]["id"]
    client.patch(f"/properties/{target}", json={"value_gbp": 2}, headers={**headers, "If-Match": '"1"'})
    replay = client.post("/sync/properties", json=batch, headers=key)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.content == first.content  # byte for byte, not merely equal JSON
    assert client.get(f"/properties/{target}", headers=headers).json()["value_gbp"] == 2
    with seeded.connect() as conn:
        after = conn.execute(
            text("SELECT count(*) FROM property_history WHERE owner = :o"), {"o": org}
        ).scalar_one()
    assert after == history + 1  # only the PATCH


def test_same_idempotency_key_with_another_body_is_refused(client, partner) -> None:
    org, headers = partner
    key = {**headers, "Idempotency-Key": "k-1"}
    assert client.post("/sync/properties", json={"records": [_record("K1")]}, headers=key).status_code == 200
    response = client.post("/sync/properties", json={"records": [_record("K2")]}, headers=key)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_stale_expected_version_rejects_the_batch(client, partner, seeded) -> None:
    org, headers = partner
    client.post("/sync/properties", json={"records": [_record("E1")]}, headers=headers)
    before = register_fingerprint(seeded)
    response = client.post(
        "/sync/properties",
        headers=headers,
        json={"records": [_record("E2"), _record("E1", name="changed", expected_version=5)]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["index"] == 1
    assert register_fingerprint(seeded) == before


def test_tombstones_delete_and_full_mode_retires_the_missing(client, partner, seeded) -> None:
    org, headers = partner
    client.post("/sync/properties", json={"records": [_record(f"T{i}") for i in range(5)]}, headers=headers)
    tomb = client.post(
        "/sync/properties", json={"records": [{"asset_ref": "T0", "deleted": True}]}, headers=headers
    )
    assert tomb.json()["summary"]["deleted"] == 1 and _count(seeded, org) == 4
    full = client.post(
        "/sync/properties?mode=full", json={"records": [_record("T1"), _record("T2")]}, headers=headers
    )
    assert full.json()["summary"]["retired"] == 2
    assert _count(seeded, org) == 2


def test_batch_over_the_limit_is_413(client, partner, seeded) -> None:
    org, headers = partner
    before = register_fingerprint(seeded)
    response = client.post(
        "/sync/properties", json={"records": [{"asset_ref": "x"}] * 10_001}, headers=headers
    )
    assert response.status_code == 413
    assert register_fingerprint(seeded) == before


def test_change_feed_lists_every_change_and_resumes(client, partner) -> None:
    org, headers = partner
    head = client.get("/changes?limit=10000", headers=headers).json()
    cursor = head["next"]
    while head["has_more"]:
        head = client.get(f"/changes?since={cursor}&limit=10000", headers=headers).json()
        cursor = head["next"]
    client.post("/sync/properties", json={"records": [_record("C1"), _record("C2")]}, headers=headers)
    client.post(
        "/sync/properties",
        json={"records": [_record("C1", name="renamed"), {"asset_ref": "C2", "deleted": True}]},
        headers=headers,
    )
    page = client.get(f"/changes?since={cursor}&owner={org}", headers=headers).json()
    actions = [(c["asset_ref"], c["action"], c["version"]) for c in page["changes"]]
    assert actions == [("C1", "insert", 1), ("C2", "insert", 1), ("C1", "update", 2), ("C2", "delete", 2)]
    again = client.get(f"/changes?since={page['next']}&owner={org}", headers=headers).json()
    assert again["changes"] == []


def test_too_old_cursor_is_410(client, partner, owner_engine) -> None:
    from api.services.feed import encode_feed_cursor

    with owner_engine.begin() as conn:
        pruned = conn.execute(text("SELECT pruned_through FROM feed_state")).scalar_one()
        conn.execute(text("UPDATE feed_state SET pruned_through = :p"), {"p": max(pruned, 5)})
    try:
        response = client.get(f"/changes?since={encode_feed_cursor(1, 1)}")
        assert response.status_code == 410 and "resync" in response.json()["detail"]
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("UPDATE feed_state SET pruned_through = :p"), {"p": pruned})


def test_duplicate_arriving_while_the_first_runs_is_409(client, partner, seeded, engine) -> None:
    from api.services.sync import _lock_key

    org, headers = partner
    with seeded.connect() as conn:
        key_row = conn.execute(text("SELECT id::text FROM api_key WHERE org = :o"), {"o": org}).scalar_one()
    before = register_fingerprint(seeded)
    # Another request with this key is mid-flight: it holds the key's transaction lock.
    with engine.connect() as holder:
        holder.begin()
        holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(key_row, "busy-1")})
        response = client.post(
            "/sync/properties",
            json={"records": [_record("B1")]},
            headers={**headers, "Idempotency-Key": "busy-1"},
        )
        holder.rollback()
    assert response.status_code == 409
    assert register_fingerprint(seeded) == before
    retry = client.post(
        "/sync/properties",
        json={"records": [_record("B1")]},
        headers={**headers, "Idempotency-Key": "busy-1"},
    )
    assert retry.status_code == 200


def test_two_partners_sync_concurrently_and_see_each_other_in_the_feed(
    live_server, make_org, make_key
) -> None:
    import threading

    import httpx2

    orgs = [make_org(), make_org()]
    keys = {org: auth_header(make_key(org, "writer")) for org in orgs}
    with httpx2.Client(base_url=live_server, timeout=60) as http:
        start = http.get("/changes?limit=1", headers=keys[orgs[0]]).json()
        cursor = start["next"]
        while start["has_more"]:
            start = http.get(f"/changes?since={cursor}&limit=10000", headers=keys[orgs[0]]).json()
            cursor = start["next"]

    def push(org: str) -> None:
        with httpx2.Client(base_url=live_server, timeout=60) as http:
            for night in range(3):
                batch = {"records": [_record(f"{org[-4:]}-{i}", name=f"night {night}") for i in range(50)]}
                response = http.post(
                    "/sync/properties", json=batch, headers={**keys[org], "Idempotency-Key": f"{org}-{night}"}
                )
                assert response.status_code == 200, response.text

    threads = [threading.Thread(target=push, args=(org,)) for org in orgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Each partner reads the other's changes through the feed, every version once.
    with httpx2.Client(base_url=live_server, timeout=60) as http:
        page = http.get(f"/changes?since={cursor}&owner={orgs[1]}&limit=10000", headers=keys[orgs[0]]).json()
    versions = sorted((c["asset_ref"], c["version"]) for c in page["changes"])
    assert versions == sorted((f"{orgs[1][-4:]}-{i}", v) for i in range(50) for v in (1, 2, 3))
    assert all(c["record"]["value_gbp"] == 750_000 for c in page["changes"])  # partners see partner fields
