"""The one ASGI layer in front of every route (pure ASGI: no per-request Request objects or tasks
beyond the disconnect watch).

- Bodies are bounded by the bytes actually received, with or without
  Content-Length, before authentication or parsing (413, problem+json).
- A NUL in the query string is refused (PostgreSQL text cannot hold it).
- Each request's statements run under a timeout chosen by route, and a client
  that disconnects has its queries cancelled in PostgreSQL and its handler
  cancelled, whether the handler runs on the event loop or in the threadpool.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from api.db import CURRENT_WORK, RequestWork
from api.errors import error_response
from api.limits import (
    BEFORE_LAST_BYTE,
    Admissions,
    Work,
    credential_of,
    expensive_operations,
    running_before_last_byte,
)
from api.settings import Settings
from gis.errors import PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Statement timeout by path prefix, in seconds; the first match wins, others get
# Settings.statement_timeout_s. Long only where the work is long by nature.
ROUTE_STATEMENT_TIMEOUT_S: tuple[tuple[str, float], ...] = (
    ("/exports", 600.0),
    ("/sync", 300.0),
    ("/imports", 300.0),
    ("/receipts", 120.0),
    ("/colocation", 120.0),
    ("/collections/colocation-candidates", 120.0),
)


def statement_timeout_ms(path: str, default_s: float) -> int:
    for prefix, seconds in ROUTE_STATEMENT_TIMEOUT_S:
        if path == prefix or path.startswith(prefix + "/"):
            return int(seconds * 1000)
    return int(default_s * 1000)


class RequestGuard:
    """Bounded body, clean query string, per-route statement timeout, cancel on disconnect."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.default_timeout_s = settings.statement_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"request body over {self.max_body_bytes} bytes")
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await error_response(Request(scope), too_large)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await error_response(Request(scope), too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self._run(scope, b"".join(chunks), receive, send)

    async def _run(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        finished = False
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def tracked_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        work = RequestWork(statement_timeout_ms(scope.get("path", ""), self.default_timeout_s))
        token = CURRENT_WORK.set(work)
        try:
            handler = asyncio.ensure_future(self.app(scope, replay, tracked_send))
        finally:
            CURRENT_WORK.reset(token)
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not handler.done() and not finished:
                # The client went away before its answer: stop the database, then the handler.
                work.cancel()
                handler.cancel()
                try:
                    await handler
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - nobody is left to answer
                    pass
                return
            await handler
        finally:
            watcher.cancel()


class QuickRefusal:
    """An expensive request from a credential already at its limit in this process: 429 before anything else.

    Measured: a caller retrying refused exports every 50 ms from 14 threads took
    other callers' p95 from ~20 ms to ~400 ms when each retry went through
    identification, the rate limiter and the slot locks. Counted here
    (api.limits.Admissions), a request over its limit waits a moment for the
    caller's own request to finish, then costs the serving loop a header scan
    and a small problem+json. The shared slots still decide every request admitted.
    """

    def __init__(self, app: ASGIApp, routes_app: Any, wait_s: float = 0.0) -> None:
        self.app = app
        self.routes_app = routes_app
        self.admissions = Admissions(wait_s)
        self._operations: list[tuple[re.Pattern[str], str, Work]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        work = self._work_for(scope) if scope["type"] == "http" else None
        if work is None:
            await self.app(scope, receive, send)
            return
        # The slot a request holds is let go before its last byte (api.limits.expensive).
        send = running_before_last_byte(scope, send)
        credential = credential_of(scope.get("headers", ()))
        if credential is None:
            await self.app(scope, receive, send)
            return
        refusal = await self.admissions.enter(credential, work)
        if refusal is not None:
            await error_response(Request(scope), refusal)(scope, receive, send)
            return
        counted = True

        async def leave() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.admissions.leave(credential, work)

        scope[BEFORE_LAST_BYTE].append(leave)  # runs after the slot's release: hooks run last in, first out
        try:
            await self.app(scope, receive, send)
        finally:
            await leave()

    def _work_for(self, scope: Scope) -> Work | None:
        if self._operations is None:
            self._operations = expensive_operations(self.routes_app)
        method, path = scope.get("method", ""), scope.get("path", "")
        for regex, operation_method, work in self._operations:
            if operation_method == method and regex.match(path):
                return work
        return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
