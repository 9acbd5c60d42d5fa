"""Per-caller request rate limit: a token bucket per caller, kept in PostgreSQL.

The buckets live in one unlogged table (migration 0003) and are taken by one
function call, so every worker of every API node draws from the same bucket:
``estate serve --workers N`` does not multiply a caller's allowance by N.
"""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gis.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(burst or per_minute)

    async def check(self, conn: AsyncConnection, caller: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens for ``caller`` or raise RateLimited with the seconds to wait.

        A request's cost reflects its work (api.limits.WORK); never more than a full bucket,
        so an expensive request is always possible for a caller who waits.
        """
        wait_s = (
            await conn.execute(
                text("SELECT rate_take(:caller, :capacity, :per_s, :cost)"),
                {
                    "caller": caller,
                    "capacity": self.capacity,
                    "per_s": self.rate_per_s,
                    "cost": min(float(cost), self.capacity),
                },
            )
        ).scalar_one()
        await conn.commit()
        if wait_s > 0:
            wait = max(1, math.ceil(wait_s))
            raise RateLimited(f"rate limit reached; retry after {wait} s", retry_after=wait)

    async def give_back(self, conn: AsyncConnection, caller: str, cost: float = 1.0) -> None:
        """Return ``cost`` tokens taken by :meth:`check` (a full bucket stays full: the next take caps it)."""
        await conn.execute(
            text("SELECT rate_take(:caller, :capacity, :per_s, :cost)"),
            {"caller": caller, "capacity": self.capacity, "per_s": self.rate_per_s, "cost": -float(cost)},
        )
        await conn.commit()
