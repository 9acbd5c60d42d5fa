"""Expensive work in worker processes: a departed client frees its slot and has its query cancelled;
a caller's slots hold across `estate serve --workers 2`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from sqlalchemy import Engine, text
from support import auth_header, estate_serve, free_port, slots_free, wait_until_serving

from api import auth
from api.limits import EXPORT, RECEIPTS, caller_slots
from api.offload import TAG_PREFIX

ROOT = Path(__file__).resolve().parents[2]


def _waiting_in_workers(owner_engine: Engine) -> int:
    """Statements of the work processes that wait for a lock."""
    with owner_engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name LIKE :tag AND wait_event_type = 'Lock' AND state = 'active'"
            ),
            {"tag": TAG_PREFIX + "%"},
        ).scalar_one()


def _until(condition: Callable[[], bool], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture()
def property_locked(owner_engine: Engine) -> Iterator[Callable[[], None]]:
    """The property table locked by another session: any read of it waits. Yields a function that unlocks."""
    conn = owner_engine.connect()
    transaction = conn.begin()
    conn.execute(text("LOCK TABLE property IN ACCESS EXCLUSIVE MODE"))
    unlocked = False

    def unlock() -> None:
        nonlocal unlocked
        if not unlocked:
            transaction.rollback()
            conn.close()
            unlocked = True

    try:
        yield unlock
    finally:
        unlock()


def test_a_client_that_goes_away_frees_its_slot_and_its_query_is_cancelled(
    live_server: str, owner_engine: Engine, seeded: Engine, make_org, make_key, property_locked
) -> None:
    key = make_key(make_org(), "reader")
    key_id = auth.principal_for_key(seeded, key).key_id
    gave_up: list[BaseException] = []

    def give_up() -> None:
        try:
            httpx2.get(
                f"{live_server}/exports/properties.csv",
                headers=auth_header(key),
                timeout=httpx2.Timeout(30.0, read=3.0),
            )
        except httpx2.ReadTimeout as exc:
            gave_up.append(exc)

    client = threading.Thread(target=give_up)
    client.start()
    # The export runs in a work process, its query waiting on the lock this test holds.
    assert _until(lambda: _waiting_in_workers(owner_engine) == 1)
    assert not slots_free(owner_engine, caller_slots(key_id, EXPORT)[1])
    client.join()
    assert gave_up
    # Cancelled while the lock is still held: nothing else could have ended it.
    assert _until(lambda: _waiting_in_workers(owner_engine) == 0)
    own_kind, own_all = caller_slots(key_id, EXPORT)
    assert _until(lambda: slots_free(owner_engine, own_kind + own_all))
    property_locked()
    response = httpx2.get(f"{live_server}/exports/properties.csv", headers=auth_header(key), timeout=60)
    assert response.status_code == 200  # the work process is free for the next request


def test_a_callers_slot_is_free_before_the_last_byte_of_its_answer(
    client, owner_engine: Engine, seeded: Engine, make_org, make_key
) -> None:
    """A caller that reads its export and asks again at once, maybe of another worker, finds its slot free."""
    key = make_key(make_org(), "reader")
    own_kind, own_all = caller_slots(auth.principal_for_key(seeded, key).key_id, EXPORT)
    statuses: list[int] = []
    free_at_last_byte: list[bool] = []
    path = "/exports/properties.csv"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    answered = anyio.Event()
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            free_at_last_byte.append(slots_free(owner_engine, own_kind + own_all))
            answered.set()

    async def ask() -> None:
        await client.app(scope, receive, send)

    client.portal.call(ask)
    assert statuses == [200]
    assert free_at_last_byte == [True]


@pytest.fixture(scope="module")
def two_workers(db_url: str, seeded) -> Iterator[str]:
    # No wait at the edge for the caller's own running request: the slots across workers are under test.
    with estate_serve(db_url, 2, ESTATE_RATE_LIMIT_PER_MINUTE="100000", ESTATE_EXPENSIVE_WAIT_S="0") as base:
        yield base


def test_a_callers_running_analysis_holds_its_slot_in_every_worker(
    two_workers: str, owner_engine: Engine, make_org, make_key, property_locked
) -> None:
    headers = auth_header(make_key(make_org(), "writer"))
    url = f"{two_workers}/receipts/estimate"
    first: list[httpx2.Response] = []
    running = threading.Thread(target=lambda: first.append(httpx2.get(url, headers=headers, timeout=120)))
    running.start()
    assert _until(lambda: _waiting_in_workers(owner_engine) == 1)
    # A new connection each time, so the kernel hands requests to either worker; every one is refused.
    statuses = [
        httpx2.get(url, headers=headers, timeout=30).status_code for _ in range(3 * RECEIPTS.per_caller + 5)
    ]
    assert set(statuses) == {429}, statuses
    property_locked()
    running.join()
    assert first[0].status_code == 200, first[0].text
    assert httpx2.get(url, headers=headers, timeout=120).status_code == 200


def test_the_routes_statement_timeout_holds_in_the_work_process(
    client, monkeypatch, make_org, make_key, property_locked
) -> None:
    import api.middleware

    monkeypatch.setattr(api.middleware, "ROUTE_STATEMENT_TIMEOUT_S", (("/exports", 0.5),))
    response = client.get("/exports/properties.csv", headers=auth_header(make_key(make_org(), "reader")))
    assert response.status_code == 503, response.text  # the read waited on the lock past its 0.5 s
    assert response.headers["content-type"] == "application/problem+json"
    assert "time limit" in response.json()["detail"]


SLOT_HOLDER = """
import asyncio, sys
from api.limits import EXPORT, SlotLimiter

async def main():
    slots = SlotLimiter(sys.argv[1], 2)
    held = await slots.acquire(sys.argv[2], EXPORT)  # kept: a dropped connection would be closed
    print("held", flush=True)
    await asyncio.sleep(600)
    await slots.release(held)

asyncio.run(main())
"""


def test_a_killed_worker_leaks_no_slot(db_url: str, owner_engine: Engine) -> None:
    caller = f"test-killed-{os.getpid()}"
    holder = subprocess.Popen(
        [sys.executable, "-c", SLOT_HOLDER, db_url, caller], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        own_kind, own_all = caller_slots(caller, EXPORT)
        assert not slots_free(owner_engine, own_all)
    finally:
        holder.kill()  # SIGKILL: no finally, no release
        holder.wait(timeout=30)
    # PostgreSQL ends the dead process's session, and its locks with it.
    assert _until(lambda: slots_free(owner_engine, own_kind + own_all))


def test_a_work_process_killed_mid_request_answers_503_and_the_next_request_gets_a_fresh_one(
    app, live_server: str, owner_engine: Engine, make_org, make_key, property_locked
) -> None:
    headers = auth_header(make_key(make_org(), "reader"))
    answers: list[httpx2.Response] = []
    running = threading.Thread(
        target=lambda: answers.append(
            httpx2.get(f"{live_server}/exports/properties.csv", headers=headers, timeout=60)
        )
    )
    running.start()
    assert _until(lambda: _waiting_in_workers(owner_engine) == 1)
    for pid in list(app.state.work_pool._executor._processes):  # the pool's own record of its processes
        os.kill(pid, signal.SIGKILL)
    running.join()
    assert answers[0].status_code == 503, answers[0].text
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert "Retry-After" in answers[0].headers
    property_locked()
    again = httpx2.get(f"{live_server}/exports/properties.csv", headers=headers, timeout=60)
    assert again.status_code == 200


def test_ctrl_c_stops_the_server_and_its_work_processes_cleanly(db_url: str, seeded: Engine) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2"],
        cwd=ROOT,
        # Work processes started with the server, as in production (the suite's start lazily).
        env={**os.environ, "DATABASE_URL": db_url, "ESTATE_PORT": str(port), "ESTATE_WORK_PRESTART": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}")
        os.killpg(server.pid, signal.SIGINT)  # a terminal's Ctrl+C: the whole process group
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "leaked" not in stderr, stderr
    assert _until(lambda: not _group_alive(server.pid), timeout_s=10)  # no work process left behind


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
