"""Per-key request rate limit: a token bucket per caller, in process memory.

In-process is enough for one API node; behind a load balancer each node
limits its share (DESIGN §6), which bounds the total without shared state.
"""

from __future__ import annotations

import math
import threading
import time

from gis.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, caller: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens for ``caller`` or raise RateLimited with the seconds to wait.

        A request's cost reflects its work (api.limits.WORK); never more than a full bucket,
        so an expensive request is always possible for a caller who waits.
        """
        cost = min(float(cost), self.capacity)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            if tokens < cost:
                self._buckets[caller] = (tokens, now)
                wait_s = max(1, math.ceil((cost - tokens) / self.rate_per_s))
                raise RateLimited(f"rate limit reached; retry after {wait_s} s", retry_after=wait_s)
            self._buckets[caller] = (tokens - cost, now)
