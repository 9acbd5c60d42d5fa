"""Bounded work: what an expensive request costs, how many one caller may run at once, and ceilings.

One table (:data:`WORK`) says, for each kind of expensive request, its cost in
the rate limiter (a cheap request costs 1 token) and how many of them one
caller may have running at once. A route opts in with one dependency,
``@router.get(path, **expensive(EXPORT))``; the caller's identification
(:func:`api.deps.get_principal`) reads the cost back from the route, so a
route's cost is declared once, where the route is, and OpenAPI shows it.

Callers that are not partner systems (anonymous callers and viewers: read-only keys and people) also
get ceilings on the knobs that multiply work: co-location distance and use
classes, receipts runs (:data:`CEILINGS`). They are documented on each
operation in OpenAPI from this module.
"""

import math
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth import Principal
from gis.errors import FieldError, RateLimited, ValidationFailed


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


class ConcurrencyLimiter:
    """How many requests of each kind of work each caller has running, in this process."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def acquire(self, caller: str, work: Work) -> None:
        key = (caller, work.name)
        with self._lock:
            running = self._running.get(key, 0)
            total = sum(n for (who, _), n in self._running.items() if who == caller)
            if running >= work.per_caller or total >= EXPENSIVE_PER_CALLER:
                wait_s = max(1, math.ceil(work.typical_s))
                raise RateLimited(
                    f"{total} expensive request(s) of yours ({running} {work.name}) are still running; "
                    f"at most {work.per_caller} {work.name} and {EXPENSIVE_PER_CALLER} in all at once. "
                    f"Retry after {wait_s} s",
                    retry_after=wait_s,
                )
            self._running[key] = running + 1

    def release(self, caller: str, work: Work) -> None:
        key = (caller, work.name)
        with self._lock:
            left = self._running.get(key, 1) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)

    def running(self, caller: str, work: Work) -> int:
        with self._lock:
            return self._running.get((caller, work.name), 0)


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
        limiter: ConcurrencyLimiter = request.app.state.concurrency
        caller = caller_id(request, principal)
        limiter.acquire(caller, work)
        try:
            yield
        finally:
            limiter.release(caller, work)

    extra = {
        **(openapi_extra or {}),
        COST_KEY: work.cost,
        "x-concurrent-per-caller": work.per_caller,
    }
    # scope="request": the slot is held until the response has been sent, not only computed.
    return {"dependencies": [Depends(hold_slot, scope="request")], "openapi_extra": extra}


COST_KEY = "x-rate-limit-cost"


def route_cost(route: Any) -> int:
    """Tokens one request to ``route`` takes from its caller's rate-limit bucket (declared by :func:`expensive`)."""
    extra = getattr(route, "openapi_extra", None) or {}
    return int(extra.get(COST_KEY, CHEAP_COST))
