"""Partner sync: validate a whole batch, then apply it atomically and exactly once.

Exactly once across retries: the idempotency record is written in the same
transaction as the batch, so a crash loses both and a retry applies the batch
once; a transaction-scoped advisory lock on the key turns a duplicate that
arrives while the first is still running into a 409 instead of a wait.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from api.auth import Principal
from api.db import write_transaction
from api.services.bulk import upsert_records
from api.services.properties import check_organisations
from gis import crs as crs_mod
from gis.errors import Conflict, FieldError, Forbidden, PayloadTooLarge, ValidationFailed
from gis.register import DEFAULT_FOOTPRINT_LIMITS, FootprintLimits, validate_property, validate_tombstone
from gis.schema import VERSION_MAX, json_integer

SYNC_CONTROL_FIELDS = ("expected_version", "deleted")
IDEMPOTENCY_KEY_MAX = 200


@dataclass(frozen=True)
class SyncResponse:
    status_code: int
    content: bytes  # the JSON as sent; a replay sends the same bytes
    replayed: bool = False


def request_digest(records: Any, mode: str, crs: str | None) -> str:
    canonical = json.dumps(
        {"records": records, "mode": mode, "crs": crs}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate_batch(
    records: list[Any],
    principal: Principal,
    crs: crs_mod.Crs,
    footprint_limits: FootprintLimits = DEFAULT_FOOTPRINT_LIMITS,
) -> tuple[list[dict[str, Any]], list[FieldError], list[FieldError]]:
    """Return (DB-ready records, validation errors, foreign-owner errors), each error naming its index."""
    ready: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    foreign: list[FieldError] = []
    own_org = principal.viewer.org
    for index, raw in enumerate(records):
        if not isinstance(raw, dict):
            errors.append(FieldError("record", "expected a JSON object", index))
            continue
        data = {k: v for k, v in raw.items() if k not in SYNC_CONTROL_FIELDS}
        if data.get("owner") is None:  # left out or null: the key's own body
            data["owner"] = own_org
        if not principal.viewer.admin and data.get("owner") != own_org:
            foreign.append(
                FieldError(
                    "owner", f"a key of {own_org} cannot write records of {data.get('owner')!r}", index
                )
            )
            continue
        expected = json_integer(raw.get("expected_version"))
        if expected is not None and (
            not isinstance(expected, int) or isinstance(expected, bool) or not 1 <= expected <= VERSION_MAX
        ):
            errors.append(
                FieldError("expected_version", f"must be a whole number from 1 to {VERSION_MAX:,}", index)
            )
            continue
        deleted = raw.get("deleted")
        if deleted is None:  # null, like leaving it out: a record to keep
            deleted = False
        if not isinstance(deleted, bool):
            errors.append(FieldError("deleted", "must be true or false", index))
            continue
        if deleted:
            # A tombstone's key goes through the same rules as a write: it reaches the same SQL.
            try:
                key = validate_tombstone(data, index=index)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
                continue
            ready.append({**key, "tombstone": True, "expected_version": expected})
            continue
        try:
            values = validate_property(
                data, crs, creating=True, index=index, footprint_limits=footprint_limits
            )
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        values["expected_version"] = expected
        ready.append(values)
    return ready, errors, foreign


def _lock_key(key_id: str, idempotency_key: str) -> int:
    digest = hashlib.sha256(f"{key_id}\x00{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _replay(conn: Connection, key_id: str, idempotency_key: str, digest: str) -> SyncResponse | None:
    if not conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key(key_id, idempotency_key)}
    ).scalar_one():
        raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
    row = (
        conn.execute(
            text(
                "SELECT request_sha256, status_code, response FROM idempotency_record WHERE key_id = :k AND idempotency_key = :i"
            ),
            {"k": key_id, "i": idempotency_key},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if row["request_sha256"] != digest:
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "this key was already used for a different request")]
        )
    return SyncResponse(row["status_code"], row["response"].encode(), replayed=True)


def sync_properties(
    engine: Engine,
    principal: Principal,
    records: list[Any],
    *,
    mode: str = "upsert",
    owner: str | None = None,
    crs: str | None = None,
    idempotency_key: str | None = None,
    max_records: int = 10_000,
    footprint_limits: FootprintLimits = DEFAULT_FOOTPRINT_LIMITS,
) -> SyncResponse:
    """Apply a partner's batch all-or-nothing; see the module docstring for retries."""
    principal.require_writer()
    if not isinstance(records, list):
        raise ValidationFailed([FieldError("records", "expected a list of records")])
    if len(records) > max_records:
        raise PayloadTooLarge(f"{len(records)} records in one batch; the limit is {max_records}")
    if mode not in ("upsert", "full"):
        raise ValidationFailed([FieldError("mode", "upsert or full")])
    full_owner = None
    if mode == "full":
        full_owner = owner or principal.viewer.org
        if not principal.viewer.admin and full_owner != principal.viewer.org:
            raise Forbidden("mode=full retires records of the key's own organisation only")
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX):
        raise ValidationFailed([FieldError("Idempotency-Key", f"1 to {IDEMPOTENCY_KEY_MAX} characters")])
    parsed_crs = crs_mod.parse_crs(crs)
    ready, errors, foreign = _validate_batch(records, principal, parsed_crs, footprint_limits)
    if foreign:
        raise Forbidden(
            f"{len(foreign)} record(s) belong to another organisation; nothing was written",
            errors=[e.to_dict() for e in foreign + errors],
        )
    if errors:
        raise ValidationFailed(errors, detail=f"{len(errors)} problem(s) in the batch; nothing was written")
    digest = request_digest(records, mode, crs)
    with write_transaction(engine, principal.actor) as conn:
        if idempotency_key and principal.key_id:
            replay = _replay(conn, principal.key_id, idempotency_key, digest)
            if replay is not None:
                return replay
        check_organisations(conn, sorted({r["owner"] for r in ready}) + ([full_owner] if full_owner else []))
        result = upsert_records(conn, ready, full_owner=full_owner)
        body = {"summary": {"received": len(records), **result.summary()}, "items": result.items}
        content = json.dumps(body, separators=(",", ":"))
        if idempotency_key and principal.key_id:
            conn.execute(
                text(
                    """INSERT INTO idempotency_record (key_id, idempotency_key, request_sha256, status_code, response,
                   completed_at) VALUES (:k, :i, :h, 200, :body, now())"""
                ),
                {"k": principal.key_id, "i": idempotency_key, "h": digest, "body": content},
            )
    return SyncResponse(200, content.encode())
