"""Webhooks delivered to real HTTP receivers on loopback: signed, retried, logged, never blocking."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from support import auth_header, new_property

from api.services.webhooks import deliver_due, run_once
from gis.disposal import SIGNATURE_HEADER, verify


class Receiver:
    """A loopback HTTP server that checks signatures, answers from a script, and records what came."""

    def __init__(self, fail_first: int = 0, hold: threading.Event | None = None) -> None:
        self.secret = ""
        self.fail_first = fail_first
        self.hold = hold
        self.calls = 0
        self.arrived = 0
        self.received: list[dict] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrived += 1
                    first = receiver.arrived == 1
                if receiver.hold is not None and first:  # only the first request is held
                    receiver.hold.wait(60)
                with receiver.lock:
                    receiver.calls += 1
                    failing = receiver.calls <= receiver.fail_first
                    if not verify(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body):
                        receiver.bad_signatures += 1
                        failing = True
                    elif not failing:
                        receiver.received.append(
                            {**json.loads(body), "delivery": self.headers["X-Estate-Delivery"]}
                        )
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/estate"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, property_id: str) -> list[str]:
        with self.lock:
            return [e["type"] for e in self.received if e["property"]["id"] == property_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receivers(owner_engine) -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    # Later tests' events must not queue deliveries to receivers that are gone.
    with owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE webhook SET disabled_at = now() WHERE url = ANY(:urls) AND disabled_at IS NULL"),
            {"urls": [r.url for r in made]},
        )
    for receiver in made:
        receiver.close()


def subscribe(client, org: str, headers, receiver: Receiver) -> str:
    response = client.post(f"/organisations/{org}/webhooks", json={"url": receiver.url}, headers=headers)
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()["id"]


@pytest.fixture()
def quick(settings):
    """Settings that retry at once, so a test can drive the worker pass by pass."""
    return settings.model_copy(update={"webhook_retry_base_s": 0.0, "webhook_max_attempts": 5})


@pytest.fixture()
def bodies(make_org, make_key):
    owner, partner = make_org("county"), make_org("fire")
    return {
        "owner": owner,
        "partner": partner,
        "owner_h": auth_header(make_key(owner, "writer")),
        "partner_h": auth_header(make_key(partner, "writer")),
    }


def _pipeline_to_sale(client, bodies) -> str:
    h = bodies["owner_h"]
    pid = client.post("/properties", json=new_property(bodies["owner"]), headers=h).json()["id"]
    url = f"/properties/{pid}/disposal"
    for stage in ("under_review", "declared_surplus"):
        assert client.post(f"{url}/transitions", json={"to_stage": stage}, headers=h).status_code == 200
    interest = {"service": "community fire safety hub", "floor_area_m2": 150}
    assert client.post(f"{url}/interest", json=interest, headers=bodies["partner_h"]).status_code == 201
    early = {"to_stage": "marketed", "note": "partner's need met elsewhere"}
    assert client.post(f"{url}/transitions", json=early, headers=h).status_code == 200
    assert client.post(f"{url}/transitions", json={"to_stage": "under_offer"}, headers=h).status_code == 200
    sale = {"outcome": "sale", "completed_on": dt.date.today().isoformat(), "gross_receipt_gbp": 500_000,
            "disposal_costs_gbp": 20_000, "buyer_type": "community"}  # fmt: skip
    assert client.post(f"{url}/outcome", json=sale, headers=h).status_code == 200
    return pid


def test_each_body_hears_exactly_the_events_meant_for_it_signed(
    client, bodies, quick, seeded, receivers
) -> None:
    owner_rx, partner_rx = Receiver(), Receiver()
    receivers += [owner_rx, partner_rx]
    subscribe(client, bodies["owner"], bodies["owner_h"], owner_rx)
    subscribe(client, bodies["partner"], bodies["partner_h"], partner_rx)
    pid = _pipeline_to_sale(client, bodies)
    run_once(seeded, quick)

    # Partners hear of the surplus building; the owner hears of the interest; both hear the
    # window close (the partner had registered interest) and the sale.
    assert partner_rx.events(pid) == ["surplus_declared", "window_closed", "sold"]
    assert owner_rx.events(pid) == ["interest_registered", "window_closed", "sold"]
    assert owner_rx.bad_signatures == partner_rx.bad_signatures == 0
    surplus = next(e for e in partner_rx.received if e["type"] == "surplus_declared")
    assert surplus["data"]["interest_until"] and surplus["property"]["owner"] == bodies["owner"]
    interest = next(e for e in owner_rx.received if e["type"] == "interest_registered")
    assert interest["data"]["org"] == bodies["partner"] and interest["data"]["floor_area_m2"] == 150
    closed = next(e for e in owner_rx.received if e["type"] == "window_closed")
    assert closed["data"]["reason"] == "marketed_early"
    # Nothing left to send: a second pass delivers nothing again.
    before = len(owner_rx.received) + len(partner_rx.received)
    run_once(seeded, quick)
    assert len(owner_rx.received) + len(partner_rx.received) == before


def test_a_failing_receiver_gets_the_event_on_a_later_attempt_and_the_log_shows_each(
    client, bodies, quick, seeded, receivers
) -> None:
    flaky = Receiver(fail_first=2)
    receivers.append(flaky)
    hook = subscribe(client, bodies["partner"], bodies["partner_h"], flaky)
    h = bodies["owner_h"]
    pid = client.post("/properties", json=new_property(bodies["owner"]), headers=h).json()["id"]
    for stage in ("under_review", "declared_surplus"):
        client.post(f"/properties/{pid}/disposal/transitions", json={"to_stage": stage}, headers=h)

    # Each pass makes one attempt (other bodies' deliveries may share the pass; they are not ours).
    deliver_due(seeded, quick)  # attempt 1: 500
    assert flaky.calls == 1 and flaky.events(pid) == []
    deliver_due(seeded, quick)  # attempt 2: 500
    assert flaky.calls == 2 and flaky.events(pid) == []
    deliver_due(seeded, quick)  # attempt 3: delivered
    assert flaky.events(pid) == ["surplus_declared"]
    deliver_due(seeded, quick)
    assert flaky.calls == 3  # delivered once: never sent again

    log = client.get(
        f"/organisations/{bodies['partner']}/webhooks/{hook}/deliveries", headers=bodies["partner_h"]
    )
    (delivery,) = log.json()["items"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 204]
    # Another body's editors cannot read this body's delivery log.
    other = client.get(f"/organisations/{bodies['partner']}/webhooks/{hook}/deliveries", headers=h)
    assert other.status_code == 403


def test_retries_wait_for_their_backoff_and_give_up_after_the_last_attempt(
    client, bodies, settings, seeded, owner_engine, receivers
) -> None:
    patient = settings.model_copy(update={"webhook_retry_base_s": 3600.0, "webhook_max_attempts": 2})
    down = Receiver(fail_first=100)
    receivers.append(down)
    hook = subscribe(client, bodies["partner"], bodies["partner_h"], down)
    h = bodies["owner_h"]
    pid = client.post("/properties", json=new_property(bodies["owner"]), headers=h).json()["id"]
    for stage in ("under_review", "declared_surplus"):
        client.post(f"/properties/{pid}/disposal/transitions", json={"to_stage": stage}, headers=h)

    deliver_due(seeded, patient)
    assert down.calls == 1
    deliver_due(seeded, patient)
    assert down.calls == 1  # the next attempt is an hour away
    with owner_engine.begin() as conn:  # the hour passes
        conn.execute(
            text("UPDATE webhook_delivery SET next_attempt_at = now() WHERE webhook_id = :id"), {"id": hook}
        )
    deliver_due(seeded, patient)
    log = client.get(
        f"/organisations/{bodies['partner']}/webhooks/{hook}/deliveries", headers=bodies["partner_h"]
    )
    (delivery,) = log.json()["items"]
    assert delivery["state"] == "failed" and delivery["attempts"] == 2 and down.calls == 2


def test_the_service_worker_delivers_without_holding_up_the_request(
    settings, seeded, bodies, receivers
) -> None:
    from api.main import create_app

    hold = threading.Event()
    slow = Receiver(hold=hold)
    receivers.append(slow)
    live = settings.model_copy(update={"background_worker": True, "worker_poll_s": 0.05})
    with TestClient(create_app(live, seeded)) as client:
        subscribe(client, bodies["partner"], bodies["partner_h"], slow)
        h = bodies["owner_h"]
        pid = client.post("/properties", json=new_property(bodies["owner"]), headers=h).json()["id"]
        client.post(f"/properties/{pid}/disposal/transitions", json={"to_stage": "under_review"}, headers=h)
        # The receiver is stuck until released: if the request waited for delivery, this would hang.
        declared = client.post(
            f"/properties/{pid}/disposal/transitions", json={"to_stage": "declared_surplus"}, headers=h
        )
        assert declared.status_code == 200
        assert slow.events(pid) == []
        hold.set()
        deadline = time.monotonic() + 30
        while not slow.events(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.events(pid) == ["surplus_declared"]


def test_webhooks_are_managed_by_the_body_itself(client, bodies, receivers) -> None:
    rx = Receiver()
    receivers.append(rx)
    url = f"/organisations/{bodies['owner']}/webhooks"
    assert client.post(url, json={"url": rx.url}, headers=bodies["partner_h"]).status_code == 403
    assert client.post(url, json={"url": rx.url}).status_code == 401
    bad = client.post(url, json={"url": "ftp://example.org/x", "events": ["nope"]}, headers=bodies["owner_h"])
    assert bad.status_code == 422
    hook = subscribe(client, bodies["owner"], bodies["owner_h"], rx)
    listed = client.get(url, headers=bodies["owner_h"]).json()["items"]
    assert [w["id"] for w in listed] == [hook] and "secret" not in listed[0]
    assert client.delete(f"{url}/{hook}", headers=bodies["owner_h"]).status_code == 204
    assert client.get(url, headers=bodies["owner_h"]).json()["items"][0]["disabled_at"] is not None
    assert client.post("/organisations/no-such-body/webhooks", json={"url": rx.url},
                       headers=bodies["owner_h"]).status_code == 404  # fmt: skip


@pytest.mark.drill
def test_a_worker_killed_mid_delivery_loses_nothing(
    client, bodies, settings, seeded, db_url, receivers
) -> None:
    """kill -9 of a delivering worker: the lease runs out and another worker delivers the event."""
    import os
    import signal
    import subprocess
    import sys

    hold = threading.Event()
    rx = Receiver(hold=hold)
    receivers.append(rx)
    subscribe(client, bodies["partner"], bodies["partner_h"], rx)
    h = bodies["owner_h"]
    pid = client.post("/properties", json=new_property(bodies["owner"]), headers=h).json()["id"]
    for stage in ("under_review", "declared_surplus"):
        client.post(f"/properties/{pid}/disposal/transitions", json={"to_stage": stage}, headers=h)

    # The lease is 3 timeouts + 5 s: 11 s here.
    env = {**os.environ, "DATABASE_URL": db_url, "ESTATE_WEBHOOK_TIMEOUT_S": "2"}
    worker = subprocess.Popen([sys.executable, "-m", "api.cli", "webhooks", "deliver"], env=env)
    try:
        deadline = time.monotonic() + 60
        while rx.arrived == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rx.arrived == 1, "the worker never reached the receiver"
        worker.send_signal(signal.SIGKILL)  # mid-delivery: the receiver has not answered
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    hold.set()

    second = settings.model_copy(update={"webhook_timeout_s": 2.0})

    def state() -> str:
        with seeded.connect() as conn:
            return conn.execute(
                text("""SELECT d.state FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
                        JOIN webhook w ON w.id = d.webhook_id
                        WHERE e.property_id = :pid AND w.url = :url"""),
                {"pid": pid, "url": rx.url},
            ).scalar_one()

    deadline = time.monotonic() + 60
    while state() != "delivered":  # another worker takes it up once the dead one's lease runs out
        assert time.monotonic() < deadline, "the event was lost"
        deliver_due(seeded, second)
        time.sleep(0.2)
    ours = [e for e in rx.received if e["property"]["id"] == pid]
    # At least once: the held first attempt may have been recorded too; it is the same event.
    assert ours and {e["type"] for e in ours} == {"surplus_declared"}
    assert len({e["id"] for e in ours}) == 1 and all(e["delivery"] == e["id"] for e in ours)
