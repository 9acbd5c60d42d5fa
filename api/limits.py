"""Bounded work: what an expensive request costs, how many one caller may run at once, and ceilings.

One table (:data:`WORK`) says, for each kind of expensive request, its cost in
the rate limiter (a cheap request costs 1 token) and how many of them one
caller may have running at once. A route opts in with one dependency,
``@router.get(path, **expensive(EXPORT))``; the caller's identification
(:func:`api.deps.identify_caller`, a dependency of every route) reads the cost back from the route, so a
route's cost is declared once, where the route is, and OpenAPI shows it.

The slots (:class:`SlotLimiter`) are PostgreSQL advisory locks, so they hold
across every worker process: per caller (:data:`EXPENSIVE_PER_CALLER` in all,
``Work.per_caller`` of a kind; 429 over it) and for all callers together
(``Settings.expensive_at_once``; 503 over it, since the caller did nothing
wrong). The work itself runs in worker processes (api/offload.py).

Callers that are not partner systems (anonymous callers and viewers: read-only keys and people) also
get ceilings on the knobs that multiply work: co-location distance and use
classes, receipts runs (:data:`CEILINGS`). They are documented on each
operation in OpenAPI from this module.
"""

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Message, Send

from api.auth import SESSION_COOKIE, Principal, presented_key
from gis.errors import FieldError, Overloaded, RateLimited, ValidationFailed


@dataclass(frozen=True)
class Work:
    """An expensive kind of request: its rate-limit cost and how many one caller may run at once."""

    name: str
    cost: int
    per_caller: int
    typical_s: float  # a rough duration, for Retry-After when a caller is over its concurrency


EXPORT = Work("export", cost=20, per_caller=2, typical_s=10)
COLOCATION = Work("colocation", cost=10, per_caller=2, typical_s=5)
RECEIPTS = Work("receipts", cost=20, per_caller=1, typical_s=10)
IMPORT = Work("import", cost=20, per_caller=1, typical_s=10)
WORK: dict[str, Work] = {w.name: w for w in (EXPORT, COLOCATION, RECEIPTS, IMPORT)}
# Expensive requests of all kinds one caller may have running at once.
EXPENSIVE_PER_CALLER = 2
CHEAP_COST = 1


@dataclass(frozen=True)
class Ceilings:
    """Caps on the knobs that multiply an analysis's work, for callers that are not partner systems."""

    colocation_distance_m: float = 1_000.0
    colocation_uses: int = 6
    receipts_runs: int = 10_000


CEILINGS = Ceilings()
CEILINGED_ROLES = frozenset({"anonymous", "viewer"})  # viewer: what reader keys became with people
CEILING_NOTE = "anonymous callers and viewers (read-only keys and people)"


def ceilinged(principal: Principal) -> bool:
    """Partner systems (writer keys) and admins run analyses at full size; everyone else within CEILINGS."""
    return principal.role in CEILINGED_ROLES


def check_colocation(principal: Principal, distance_m: float, uses: list[str] | None) -> None:
    """Raise ValidationFailed naming each knob over its ceiling for this caller."""
    if not ceilinged(principal):
        return
    errors = []
    if distance_m > CEILINGS.colocation_distance_m:
        errors.append(
            FieldError(
                "distance_m",
                f"at most {CEILINGS.colocation_distance_m:,.0f} m for {CEILING_NOTE}; "
                "a partner's writer key may ask for more",
            )
        )
    if uses is not None:
        named = {u.strip() for value in uses for u in value.split(",") if u.strip()}
        if len(named) > CEILINGS.colocation_uses:
            errors.append(
                FieldError("uses", f"at most {CEILINGS.colocation_uses} use categories for {CEILING_NOTE}")
            )
    if errors:
        raise ValidationFailed(errors)


def check_receipts(principal: Principal, runs: int) -> None:
    if ceilinged(principal) and runs > CEILINGS.receipts_runs:
        raise ValidationFailed(
            [FieldError("runs", f"at most {CEILINGS.receipts_runs:,} runs for {CEILING_NOTE}")]
        )


def slot_key(*parts: str) -> int:
    """The advisory-lock key (bigint) of one slot; a namespace keeps it apart from the register's other locks."""
    digest = hashlib.blake2b("\x1f".join(("estate-slot", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def caller_slots(caller: str, work: Work) -> tuple[list[int], list[int]]:
    """The caller's slots for ``work``, and its slots for expensive work of every kind."""
    return (
        [slot_key("caller", caller, work.name, str(i)) for i in range(work.per_caller)],
        [slot_key("caller", caller, str(i)) for i in range(EXPENSIVE_PER_CALLER)],
    )


def everyone_slots(count: int) -> list[int]:
    """The slots all callers share (Settings.expensive_at_once)."""
    return [slot_key("everyone", str(i)) for i in range(count)]


class SlotLimiter:
    """Slots for expensive work, held as PostgreSQL session advisory locks on a connection of their own.

    Every worker of every API node takes from the same slots, so ``estate serve
    --workers N`` does not multiply a caller's concurrency by N. A slot is held
    for the request's life and let go when it ends, answered or abandoned; if
    a worker dies, PostgreSQL ends its sessions and their locks with them, so
    no slot outlives its holder. Connections come from a pool of their own:
    holding slots never takes a connection from the serving path.
    """

    def __init__(self, url: str, everyone: int) -> None:
        from api.db import AsyncPool

        self.everyone = everyone
        self._pool = AsyncPool(url, pool_size=everyone + 2, max_overflow=2 * everyone + 8)

    async def acquire(self, caller: str, work: Work) -> AsyncConnection:
        """Take one of ``caller``'s slots for ``work`` and one of everyone's, or raise.

        RateLimited (429) when the caller has its fill running; Overloaded (503)
        when all callers together have every shared slot.
        """
        conn = await self._pool.engine().connect()
        try:
            own_kind, own_all = caller_slots(caller, work)
            if not (await _take_one(conn, own_kind) and await _take_one(conn, own_all)):
                raise _over_own_limit(work)
            if not await _take_one(conn, everyone_slots(self.everyone)):
                raise Overloaded(
                    f"the service is running as many exports and analyses as it can "
                    f"({self.everyone} at once, for all callers). Retry after {_wait_s(work)} s",
                    retry_after=_wait_s(work),
                )
            await conn.commit()  # the locks are the session's; no transaction stays open
        except BaseException:
            await self.release(conn)
            raise
        return conn

    async def release(self, conn: AsyncConnection) -> None:
        """Let go of every slot ``conn`` holds; a broken connection is closed (PostgreSQL frees its locks)."""
        try:
            await conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await conn.commit()
        except Exception:  # noqa: BLE001 - closing the session is what frees its locks, whatever went wrong
            await conn.invalidate()
        finally:
            await conn.close()

    async def dispose(self) -> None:
        await self._pool.dispose()


def _wait_s(work: Work) -> int:
    return max(1, math.ceil(work.typical_s))


def _over_own_limit(work: Work) -> RateLimited:
    return RateLimited(
        f"expensive requests of yours are still running: at most {work.per_caller} "
        f"{work.name} and {EXPENSIVE_PER_CALLER} in all at once. Retry after {_wait_s(work)} s",
        retry_after=_wait_s(work),
    )


class Admissions:
    """Expensive requests inside this process, counted by the credential they carry.

    Checked at the ASGI edge (api.middleware.QuickRefusal), before a body is
    read, a key looked up or a slot tried. A request over its caller's limit
    waits up to ``wait_s`` for one of that caller's requests here to finish,
    then gets 429: a second export starts as soon as the first is done, and a
    caller retrying refused exports in a tight loop is slowed to one refusal
    per ``wait_s`` per connection instead of costing the serving loop a key
    lookup, a rate-limit update and a round of slot locks at every retry.
    What it refuses, the shared slots would refuse too (every request it
    admits takes the same caller's slots); the slots remain the limit across
    processes.
    """

    def __init__(self, wait_s: float = 0.0) -> None:
        self.wait_s = wait_s
        self._inside: dict[str, dict[str, int]] = {}  # credential -> kind of work -> requests
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}

    def _full(self, credential: str, work: Work) -> bool:
        inside = self._inside.get(credential, {})
        return inside.get(work.name, 0) >= work.per_caller or sum(inside.values()) >= EXPENSIVE_PER_CALLER

    async def enter(self, credential: str, work: Work) -> RateLimited | None:
        """Count the request in, or return the 429 for a credential still at its limit after ``wait_s``."""
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while self._full(credential, work):
            left_s = deadline - asyncio.get_running_loop().time()
            if left_s <= 0:
                return _over_own_limit(work)
            woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(credential, set()).add(woken)
            try:
                await asyncio.wait_for(woken, left_s)
            except TimeoutError:
                pass
            finally:
                waiters = self._waiting.get(credential, set())
                waiters.discard(woken)
                if not waiters:
                    self._waiting.pop(credential, None)
        inside = self._inside.setdefault(credential, {})
        inside[work.name] = inside.get(work.name, 0) + 1
        return None

    def leave(self, credential: str, work: Work) -> None:
        inside = self._inside.get(credential, {})
        left = inside.get(work.name, 1) - 1
        if left > 0:
            inside[work.name] = left
        else:
            inside.pop(work.name, None)
        if not inside:
            self._inside.pop(credential, None)
        for woken in self._waiting.get(credential, set()):
            if not woken.done():
                woken.get_loop().call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def credential_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """A digest of the key or session cookie a request carries (None without one), read from raw headers.

    The same credential is always the same caller, so the quick refusal can
    count by it before the caller is looked up. Callers without one are
    known by address, which a proxy may rewrite: they always take the full path.
    """
    read = Headers(raw=list(headers))
    key = presented_key(read)
    cookie = cookie_parser(read.get("cookie", "")).get(SESSION_COOKIE)
    if key:
        return "key:" + hashlib.blake2b(key.encode("latin-1"), digest_size=16).hexdigest()
    if cookie:
        return "session:" + hashlib.blake2b(cookie.encode(), digest_size=16).hexdigest()
    return None


async def _take_one(conn: AsyncConnection, keys: list[int]) -> bool:
    for key in keys:
        if (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar_one():
            return True
    return False


def expensive(work: Work, *, openapi_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route decorator arguments for ``work``: ``@router.get(path, **expensive(EXPORT))``.

    The dependency charges nothing itself (the caller's identification charges
    ``work.cost``, read back from the route) and holds one of the caller's
    slots until the answer, a streamed file included, has been sent. The cost
    and the concurrency are documented on the operation from the same values.
    """
    from api.deps import caller_id, get_principal

    async def hold_slot(
        request: Request, principal: Annotated[Principal, Depends(get_principal)]
    ) -> AsyncIterator[None]:
        slots: SlotLimiter = request.app.state.slots
        held = await slots.acquire(caller_id(request, principal), work)
        releasing: asyncio.Future[None] | None = None

        async def release() -> None:
            # One release, shielded wherever it is awaited from: a client that goes away while the
            # last byte is sent cancels the sender, and the slot must still be let go.
            nonlocal releasing
            if releasing is None:
                releasing = asyncio.ensure_future(slots.release(held))
            await asyncio.shield(releasing)

        # Let go as the last byte leaves (QuickRefusal sends it): a caller who has its
        # answer and asks again at once must find its slot free, in any worker.
        request.scope.get(BEFORE_LAST_BYTE, []).append(release)
        try:
            yield
        finally:
            await release()

    extra = {
        **(openapi_extra or {}),
        COST_KEY: work.cost,
        WORK_KEY: work.name,
        "x-concurrent-per-caller": work.per_caller,
        "x-concurrent-per-caller-all-kinds": EXPENSIVE_PER_CALLER,
    }
    # scope="request": the slot is held until the response has been sent, not only computed.
    return {"dependencies": [Depends(hold_slot, scope="request")], "openapi_extra": extra}


BEFORE_LAST_BYTE = "estate.before_last_byte"  # scope key: what must be done before a response's last byte


def running_before_last_byte(scope: MutableMapping[str, Any], send: Send) -> Send:
    """``send`` that first runs (and forgets) what was registered under BEFORE_LAST_BYTE in ``scope``.

    A request-scoped dependency's teardown runs after the response has gone, so
    a client can read its answer and be back before the teardown has run.
    """
    hooks: list[Callable[[], Awaitable[None]]] = []
    scope[BEFORE_LAST_BYTE] = hooks

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            while hooks:
                await hooks.pop()()
        await send(message)

    return sending


COST_KEY = "x-rate-limit-cost"
WORK_KEY = "x-expensive-work"  # the kind (WORK), so the quick refusal knows a route's limits


def expensive_operations(app: Any) -> list[tuple[re.Pattern[str], str, Work]]:
    """(path regex, method, kind of work) of every operation declared with :func:`expensive`, from OpenAPI."""
    from starlette.routing import compile_path

    found = []
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            work = WORK.get(operation.get(WORK_KEY, "") if isinstance(operation, dict) else "")
            if work is not None:
                found.append((compile_path(path)[0], method.upper(), work))
    return found


def route_cost(route: Any) -> int:
    """Tokens one request to ``route`` takes from its caller's rate-limit bucket (declared by :func:`expensive`)."""
    extra = getattr(route, "openapi_extra", None) or {}
    return int(extra.get(COST_KEY, CHEAP_COST))
