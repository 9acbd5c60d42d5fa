"""Webhooks: each body's URL, an outbox written with the event, and a worker that delivers it.

An event is written (``emit``) in the same transaction as the change that
caused it, with one delivery row for each webhook that should hear of it: if
the transaction commits, the deliveries exist; if it rolls back, so do they.
The worker claims due deliveries with a lease (``FOR UPDATE SKIP LOCKED``, so
several workers never take the same one), posts them signed, and records each
attempt. A crash mid-post leaves the lease to expire and the delivery is tried
again: delivery is at least once, and receivers de-duplicate on the event id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from api.auth import Principal
from api.db import database_unreachable, write_transaction
from api.settings import Settings
from gis import disposal as domain
from gis.errors import FieldError, NotFound, OrganisationNotFound, ValidationFailed

log = logging.getLogger("shared_estate.webhooks")

WORKER_ACTOR = "system:disposal-worker"

# Which webhooks hear of an event, by audience (see gis.disposal.EVENT_AUDIENCE).
_AUDIENCE_SQL: dict[domain.Audience, str] = {
    domain.Audience.partners: "w.org <> :owner",
    domain.Audience.owner: "w.org = :owner",
    domain.Audience.owner_and_interested: (
        "(w.org = :owner OR w.org IN (SELECT org FROM interest_expression WHERE window_id = :window_id))"
    ),
    domain.Audience.everyone: "true",
}

# Fields of the building every receiver gets: public ones, so no event leaks what its reader may not see.
EVENT_PROPERTY_FIELDS = (
    "id",
    "owner",
    "asset_ref",
    "name",
    "post_town",
    "postcode",
    "use_category",
    "gia_m2",
)


def emit(
    conn: Connection,
    kind: domain.EventKind,
    record: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    window_id: int | None = None,
) -> str:
    """Write one event and its deliveries into the caller's transaction; return the event id."""
    event_id = str(uuid.uuid4())
    payload = {
        "id": event_id,
        "type": kind.value,
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "property": {name: record.get(name) for name in EVENT_PROPERTY_FIELDS},
        "data": dict(data),
    }
    conn.execute(
        text("""INSERT INTO webhook_event (id, kind, property_id, payload)
                VALUES (:id, :kind, :pid, CAST(:payload AS jsonb))"""),
        {
            "id": event_id,
            "kind": kind.value,
            "pid": record["id"],
            "payload": json.dumps(payload, default=str),
        },
    )
    audience = _AUDIENCE_SQL[domain.EVENT_AUDIENCE[kind]]
    conn.execute(
        text(f"""INSERT INTO webhook_delivery (event_id, webhook_id)
                 SELECT :event_id, w.id FROM webhook w
                 WHERE w.disabled_at IS NULL AND :kind = ANY(w.events) AND {audience}"""),
        {"event_id": event_id, "kind": kind.value, "owner": record["owner"], "window_id": window_id},
    )
    return event_id


# --- registering webhooks -------------------------------------------------------------------


def _check_org(conn: Connection, org: str) -> None:
    if conn.execute(text("SELECT 1 FROM organisation WHERE code = :c"), {"c": org}).first() is None:
        raise OrganisationNotFound(f"no organisation with code {org!r}")


def _webhook(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "disabled_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out


_WEBHOOK_COLUMNS = "id::text AS id, org, url, events, created_at, created_by, disabled_at"


def create_webhook(
    conn: Connection, org: str, url: str, events: Sequence[str] | None, principal: Principal
) -> dict[str, Any]:
    """Register a URL for ``org``; the answer holds the signing secret, the only time it is shown."""
    _check_org(conn, org)
    principal.require_editor_of(org)
    kinds = [e.value for e in domain.EventKind]
    chosen = list(dict.fromkeys(events)) if events else kinds
    unknown = [e for e in chosen if e not in kinds]
    if unknown:
        raise ValidationFailed(
            [FieldError("events", f"unknown event {unknown[0]!r}; one of {', '.join(kinds)}")]
        )
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise ValidationFailed([FieldError("url", "an http:// or https:// URL of at most 2000 characters")])
    secret = secrets.token_urlsafe(32)
    row = (
        conn.execute(
            text(f"""INSERT INTO webhook (org, url, secret, events) VALUES (:org, :url, :secret, :events)
                     RETURNING {_WEBHOOK_COLUMNS}"""),
            {"org": org, "url": url, "secret": secret, "events": chosen},
        )
        .mappings()
        .one()
    )
    return {**_webhook(row), "secret": secret}


def list_webhooks(conn: Connection, org: str, principal: Principal) -> list[dict[str, Any]]:
    _check_org(conn, org)
    principal.require_editor_of(org)
    rows = conn.execute(
        text(f"SELECT {_WEBHOOK_COLUMNS} FROM webhook WHERE org = :org ORDER BY created_at, id"), {"org": org}
    ).mappings()
    return [_webhook(r) for r in rows]


def _parse_id(webhook_id: str) -> str:
    try:
        return str(uuid.UUID(webhook_id))
    except ValueError:
        raise NotFound(f"no webhook with id {webhook_id!r}") from None


def disable_webhook(conn: Connection, org: str, webhook_id: str, principal: Principal) -> None:
    _check_org(conn, org)
    principal.require_editor_of(org)
    done = conn.execute(
        text("""UPDATE webhook SET disabled_at = now()
                WHERE id = :id AND org = :org AND disabled_at IS NULL RETURNING id"""),
        {"id": _parse_id(webhook_id), "org": org},
    ).first()
    if done is None:
        raise NotFound(f"{org} has no active webhook {webhook_id}")


def delivery_log(
    conn: Connection, org: str, webhook_id: str, principal: Principal, limit: int = 100
) -> list[dict[str, Any]]:
    """The webhook's deliveries, newest first, each with its attempts."""
    _check_org(conn, org)
    principal.require_editor_of(org)
    wid = _parse_id(webhook_id)
    if (
        conn.execute(
            text("SELECT 1 FROM webhook WHERE id = :id AND org = :org"), {"id": wid, "org": org}
        ).first()
        is None
    ):
        raise NotFound(f"{org} has no webhook {webhook_id}")
    rows = (
        conn.execute(
            text("""SELECT d.id, d.event_id::text AS event_id, e.kind AS event, e.property_id::text AS property_id,
                       d.state, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at,
                       coalesce((SELECT json_agg(json_build_object(
                                    'attempt', a.attempt, 'attempted_at', a.attempted_at,
                                    'status_code', a.status_code, 'error', a.error,
                                    'duration_ms', a.duration_ms) ORDER BY a.id)
                                 FROM webhook_attempt a WHERE a.delivery_id = d.id), '[]'::json) AS log
                FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
                WHERE d.webhook_id = :id ORDER BY d.id DESC LIMIT :limit"""),
            {"id": wid, "limit": limit},
        )
        .mappings()
        .all()
    )
    out = []
    for r in rows:
        item = dict(r)
        for key in ("next_attempt_at", "delivered_at"):
            if item[key] is not None:
                item[key] = item[key].isoformat()
        out.append(item)
    return out


# --- delivering -----------------------------------------------------------------------------


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
) -> tuple[int | None, str | None]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) only
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)[:500]


def deliver_due(engine: Engine, settings: Settings, limit: int = 50) -> int:
    """Attempt up to ``limit`` due deliveries; return how many were attempted."""
    lease_s = settings.webhook_timeout_s * 3 + 5
    with engine.begin() as conn:
        claimed = (
            conn.execute(
                text("""UPDATE webhook_delivery d SET next_attempt_at = now() + make_interval(secs => :lease)
                    FROM webhook w, webhook_event e
                    WHERE d.id IN (SELECT id FROM webhook_delivery
                                   WHERE state = 'pending' AND next_attempt_at <= now()
                                   ORDER BY next_attempt_at, id LIMIT :limit FOR UPDATE SKIP LOCKED)
                      AND w.id = d.webhook_id AND e.id = d.event_id
                    RETURNING d.id, d.attempts, d.event_id::text AS event_id, e.kind, e.payload,
                              w.url, w.secret, w.disabled_at IS NOT NULL AS disabled"""),
                {"lease": lease_s, "limit": limit},
            )
            .mappings()
            .all()
        )
    # Oldest first (RETURNING has no order); receivers still de-duplicate and order by occurred_at.
    for item in sorted(claimed, key=lambda row: row["id"]):
        _attempt(engine, settings, item)
    return len(claimed)


def _attempt(engine: Engine, settings: Settings, item: Mapping[Any, Any]) -> None:
    attempt = item["attempts"] + 1
    started = time.monotonic()
    status: int | None
    error: str | None
    if item["disabled"]:
        status, error = None, "webhook disabled"
    else:
        body = json.dumps(item["payload"], sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "shared-estate-webhooks/1",
            "X-Estate-Event": item["kind"],
            "X-Estate-Delivery": item["event_id"],
            domain.SIGNATURE_HEADER: domain.sign(item["secret"], int(time.time()), body),
        }
        status, error = _post(item["url"], body, headers, settings.webhook_timeout_s)
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300
    gave_up = not ok and (attempt >= settings.webhook_max_attempts or item["disabled"])
    state = "delivered" if ok else "failed" if gave_up else "pending"
    delay = domain.retry_delay_s(attempt, settings.webhook_retry_base_s, settings.webhook_retry_cap_s)
    with engine.begin() as conn:
        conn.execute(
            text("""UPDATE webhook_delivery SET attempts = :attempt, state = :state,
                       next_attempt_at = now() + make_interval(secs => :delay),
                       last_status_code = :status, last_error = :error,
                       delivered_at = CASE WHEN :ok THEN now() END
                    WHERE id = :id"""),
            {"attempt": attempt, "state": state, "delay": delay, "status": status, "error": error,
             "ok": ok, "id": item["id"]},
        )  # fmt: skip
        conn.execute(
            text("""INSERT INTO webhook_attempt (delivery_id, attempt, status_code, error, duration_ms)
                    VALUES (:id, :attempt, :status, :error, :ms)"""),
            {"id": item["id"], "attempt": attempt, "status": status, "error": error, "ms": duration_ms},
        )
    if not ok:
        log.info("webhook delivery %s attempt %s failed: %s", item["id"], attempt, error)


def run_once(engine: Engine, settings: Settings, today: dt.date | None = None) -> dict[str, int]:
    """One pass of the worker: close the interest windows that have ended, then deliver what is due."""
    from api.services.disposal import close_due_windows

    with write_transaction(engine, WORKER_ACTOR) as conn:
        closed = close_due_windows(conn, today or dt.date.today())
    attempted = 0
    while True:
        n = deliver_due(engine, settings)
        attempted += n
        if n == 0:
            break
    return {"windows_closed": closed, "deliveries_attempted": attempted}


class DisposalWorker:
    """A thread of the API process that runs :func:`run_once` every ``worker_poll_s`` seconds."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disposal-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        away = False  # the database could not be reached on the last pass: said once, not every pass
        while not self._stop.is_set():
            try:
                run_once(self.engine, self.settings)
                if away:
                    log.warning("disposal worker: the database answers again")
                away = False
            except DBAPIError as exc:
                if not database_unreachable(exc):
                    log.exception("disposal worker pass failed")
                elif not away:
                    log.warning(
                        "disposal worker: the database cannot be reached (%s); trying every %s s",
                        exc.orig,
                        self.settings.worker_poll_s,
                    )
                    away = True
            except Exception:  # a bad pass must not end the loop; the next one tries again
                log.exception("disposal worker pass failed")
            self._stop.wait(self.settings.worker_poll_s)
