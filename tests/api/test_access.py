"""Who may do what: a role × endpoint matrix, key lifecycle, limits, and a canary that must never leak."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from support import auth_header, new_property, register_fingerprint

from api import auth
from api.db import write_transaction

# Keys and people (session cookie + CSRF header) side by side: one principal, one check.
ROLES = [
    "anonymous",
    "reader",
    "writer",
    "foreign_writer",
    "admin",
    "viewer_person",
    "editor_person",
    "foreign_editor_person",
    "org_admin_person",
    "admin_person",
]
CANARY_GBP = 987_654_321


@pytest.fixture(scope="module")
def estate(make_org, make_key, make_person, sign_in) -> dict[str, Any]:
    org, other = make_org(), make_org()
    return {
        "org": org,
        "headers": {
            "anonymous": {},
            "reader": auth_header(make_key(org, "reader")),
            "writer": auth_header(make_key(org, "writer")),
            "foreign_writer": auth_header(make_key(other, "writer")),
            "admin": auth_header(make_key(other, "admin")),
            "viewer_person": sign_in(*make_person(org, "viewer")),
            "editor_person": sign_in(*make_person(org, "editor")),
            "foreign_editor_person": sign_in(*make_person(other, "editor")),
            "org_admin_person": sign_in(*make_person(org, "org-admin")),
            "admin_person": sign_in(*make_person(other, "admin")),
        },
    }


def _existing(client, estate) -> dict[str, Any]:
    response = client.post(
        "/properties", json=new_property(estate["org"]), headers=estate["headers"]["writer"]
    )
    assert response.status_code == 201
    return response.json()


def _call(client, estate, role: str, action: str, record: dict[str, Any] | None):
    headers = estate["headers"][role]
    org = estate["org"]
    url = f"/properties/{record['id']}" if record else ""
    calls = {
        "list": lambda: client.get("/properties?limit=5", headers=headers),
        "changes": lambda: client.get("/changes?limit=5", headers=headers),
        "create": lambda: client.post("/properties", json=new_property(org), headers=headers),
        "sync": lambda: client.post(
            "/sync/properties", json={"records": [new_property(org)]}, headers=headers
        ),
        "read": lambda: client.get(url, headers=headers),
        "history": lambda: client.get(f"{url}/history", headers=headers),
        "update": lambda: client.patch(url, json={"name": "renamed"}, headers={**headers, "If-Match": '"1"'}),
        "delete": lambda: client.delete(url, headers={**headers, "If-Match": '"1"'}),
        "add_user": lambda: client.post(
            "/users",
            json={"email": f"new-{uuid.uuid4().hex[:8]}@example.gov.uk", "org": org},
            headers=headers,
        ),
        "add_key": lambda: client.post("/keys", json={"org": org, "label": "matrix"}, headers=headers),
        "add_org": lambda: client.post(
            "/organisations",
            json={"code": f"test-{uuid.uuid4().hex[:10]}", "name": "New Council", "kind": "district"},
            headers=headers,
        ),
    }
    return calls[action]()


EXPECTED = {
    #            ---------------- keys ----------------  ------------------ people ------------------
    #            anonymous reader writer foreign admin   viewer editor foreign org-admin admin
    "list": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "read": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "history": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "changes": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "create": (401, 403, 201, 403, 201, 403, 201, 403, 201, 201),
    "update": (401, 403, 200, 403, 200, 403, 200, 403, 200, 200),
    "delete": (401, 403, 204, 403, 204, 403, 204, 403, 204, 204),
    "sync": (401, 403, 200, 403, 200, 403, 200, 403, 200, 200),
    "add_user": (401, 403, 403, 403, 201, 403, 403, 403, 201, 201),
    "add_key": (401, 403, 403, 403, 201, 403, 403, 403, 201, 201),
    "add_org": (401, 403, 403, 403, 201, 403, 403, 403, 403, 201),
}
MATRIX = [(action, role, codes[i]) for action, codes in EXPECTED.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("action", "role", "status"), MATRIX, ids=[f"{a}-{r}" for a, r, _ in MATRIX])
def test_role_endpoint_matrix(client, seeded, estate, action, role, status) -> None:
    record = _existing(client, estate) if action in ("read", "history", "update", "delete") else None
    before = register_fingerprint(seeded)
    response = _call(client, estate, role, action, record)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert register_fingerprint(seeded) == before
    if action == "create" and status == 201:  # history names the person (email) or the key's label
        history = client.get(
            f"/properties/{response.json()['id']}/history", headers=estate["headers"]["admin"]
        )
        actor = history.json()["changes"][0]["actor"]
        assert ("@" in actor) if role.endswith("_person") else "/key:" in actor


def test_revoked_and_expired_keys_are_refused(client, owner_engine, make_org) -> None:
    org = make_org()
    with write_transaction(owner_engine, "test") as conn:
        revoked = auth.create_key(conn, org, "reader")
        expired = auth.create_key(
            conn, org, "reader", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        )
        auth.revoke_key(conn, revoked["prefix"])
    for key, words in ((revoked["key"], "revoked"), (expired["key"], "expired"), ("se_nope_nope", "unknown")):
        response = client.get("/properties?limit=1", headers=auth_header(key))
        assert response.status_code == 401 and words in response.json()["detail"]


def test_only_the_hash_of_a_key_is_stored(owner_engine, make_org) -> None:
    org = make_org()
    with write_transaction(owner_engine, "test") as conn:
        key = auth.create_key(conn, org, "writer")
    with owner_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT row_to_json(k)::text FROM api_key k WHERE prefix = :p"), {"p": key["prefix"]}
        ).scalar_one()
    secret = key["key"].split("_", 2)[2]
    assert secret not in stored and key["key"] not in stored
    assert len(secret) >= 40  # 32 random bytes


def test_rate_limit_answers_429_with_retry_after(settings, seeded) -> None:
    from api.main import create_app

    limited = create_app(settings.model_copy(update={"rate_limit_per_minute": 5}), seeded)
    with TestClient(limited) as tight:
        codes = [tight.get("/properties?limit=1").status_code for _ in range(8)]
        last = tight.get("/properties?limit=1")
    assert codes[:5] == [200] * 5 and 429 in codes
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


def test_oversized_body_is_413(client, estate) -> None:
    from api.settings import Settings

    too_big = b"x" * (Settings().max_body_bytes + 1)
    response = client.post(
        "/sync/properties",
        content=too_big,
        headers={**estate["headers"]["writer"], "Content-Type": "application/json"},
    )
    assert response.status_code == 413


@pytest.fixture(scope="module")
def canary(client_module, estate) -> dict[str, Any]:
    body = new_property(
        estate["org"],
        sensitive=True,
        value_gbp=CANARY_GBP,
        name="Refuge (canary)",
        geometry={"type": "Point", "coordinates": [-2.5950, 52.3100]},
    )
    response = client_module.post("/properties", json=body, headers=estate["headers"]["writer"])
    assert response.status_code == 201
    record = response.json()
    client_module.patch(
        f"/properties/{record['id']}",
        json={"rag": "green", "rag_reason": "canary moved"},
        headers={**estate["headers"]["writer"], "If-Match": '"1"'},
    )
    return record


@pytest.fixture(scope="module")
def client_module(app):
    with TestClient(app) as test_client:
        yield test_client


def _public_bodies(client, record) -> dict[str, bytes]:
    import mercantile

    pid = record["id"]
    tile = mercantile.tile(-2.5950, 52.3100, 15)
    urls = {
        "list": "/properties?limit=10000",
        "town": "/properties?town=Worcester&limit=10000",
        "item": f"/properties/{pid}",
        "history": f"/properties/{pid}/history",
        "features": "/collections/properties/items?limit=10000",
        "feature": f"/collections/properties/items/{pid}",
        "tile": f"/collections/properties/tiles/WebMercatorQuad/15/{tile.y}/{tile.x}",
        "cluster-tile": "/collections/properties/tiles/WebMercatorQuad/6/21/31",
        "changes": "/changes?limit=10000",
        "value-filter": f"/properties?min_value_gbp={CANARY_GBP}&max_value_gbp={CANARY_GBP}",
        "patch-error": None,
    }
    bodies = {}
    for name, url in urls.items():
        if url is None:
            continue
        bodies[name] = client.get(url).content
    bodies["patch-error"] = client.patch(f"/properties/{pid}", json={"value_gbp": -1}).content
    for path in (
        "/exports/properties.csv",
        "/exports/properties.geojson",
        "/colocation/candidates?f=geojson",
    ):
        response = client.get(path)
        if response.status_code != 404 or b"Not found" not in response.content:
            bodies[path] = response.content
    return bodies


def test_sensitive_canary_never_reaches_the_public(client_module, canary) -> None:
    bodies = _public_bodies(client_module, canary)
    leaks = [name for name, body in bodies.items() if str(CANARY_GBP).encode() in body or b"canary" in body]
    assert leaks == []
    assert len(bodies) >= 10


def test_canary_is_visible_to_its_owner(client_module, canary, estate) -> None:
    body = client_module.get(f"/properties/{canary['id']}", headers=estate["headers"]["writer"]).json()
    assert body["value_gbp"] == CANARY_GBP
