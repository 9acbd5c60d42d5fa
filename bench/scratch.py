"""A throwaway PostGIS for benchmarks: BENCH_DATABASE_URL if set, else a private embedded cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from estate_infra import migrations
from estate_infra.cluster import throwaway_cluster


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yield the URL of a migrated, empty register (embedded cluster removed afterwards)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        url = os.environ["BENCH_DATABASE_URL"]
        migrations.upgrade(url)
        yield url
        return
    with throwaway_cluster("estate-bench-pg-", fast_unsafe=False) as cluster:  # fsync on, as served
        url = cluster.url()
        migrations.upgrade(url)
        yield url
