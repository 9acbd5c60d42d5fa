"""A throwaway PostGIS for benchmarks: DATABASE_URL if set, else a private embedded cluster."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from api import migrate
from api.embedded_pg import EmbeddedCluster, ensure_installed


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yield the URL of a migrated, empty register (embedded cluster removed afterwards)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        url = os.environ["BENCH_DATABASE_URL"]
        migrate.upgrade(url)
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="estate-bench-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = EmbeddedCluster(root=root, port=port, bin_dir=ensure_installed())
    cluster.start()
    try:
        url = cluster.url()
        migrate.upgrade(url)
        yield url
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
