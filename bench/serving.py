"""The national map, served: ours against tipg and pygeoapi on the same table, in one run.

    .venv/bin/python -m bench.serving [--n 1000000] [--rounds 3] [--concurrency 8]

Loads N properties clustered around English towns (not uniform) into a
benchmark cluster kept in ``bench/.data`` (reused while it holds N rows),
starts one worker each of ours, tipg and pygeoapi (the peers installed into
``bench/.peers/<name>`` on first use, git-ignored) and drives them with one
bounded client, the same URL lists, in interleaved rounds. The floor is our
own SQL with no HTTP. Prints req/s, p50, p95, bytes, ours/peer ratios and
features per tile against the database; then times the national ``/map``
view in headless Chromium. Figures go in docs/performance.md.
"""

# ruff: noqa: B023 - each callback is used within its own loop iteration
from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mercantile
from sqlalchemy import create_engine, text

from estate_infra.cluster import free_port

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".peers"
DATA = ROOT / "bench" / ".data"
PEER_PACKAGES = {
    "tipg": ["tipg", "uvicorn"],
    "pygeoapi": [
        "pygeoapi",
        "uvicorn",
        "starlette",
        "psycopg2-binary",
        "SQLAlchemy",
        "GeoAlchemy2",
        "mapbox-vector-tile",
    ],
}
# (lon, lat, weight, spread km): where public buildings are, roughly as people are.
TOWNS = [
    (-0.12, 51.51, 90, 18),
    (-1.89, 52.48, 12, 10),
    (-2.24, 53.48, 12, 10),
    (-1.55, 53.80, 8, 8),
    (-2.98, 53.41, 6, 7),
    (-1.47, 53.38, 6, 7),
    (-2.59, 51.45, 6, 7),
    (-1.61, 54.97, 5, 7),
    (-1.15, 52.95, 4, 6),
    (-1.13, 52.64, 4, 6),
    (-1.40, 50.91, 3, 5),
    (-1.09, 50.80, 3, 4),
    (-4.14, 50.37, 3, 5),
    (1.30, 52.63, 2, 4),
    (0.12, 52.21, 2, 4),
    (-1.26, 51.75, 2, 4),
    (-1.08, 53.96, 2, 4),
    (-3.53, 50.72, 2, 4),
    (-0.33, 53.74, 3, 5),
    (-2.18, 53.00, 3, 5),
    (-1.51, 52.41, 4, 5),
    (-0.14, 50.82, 3, 4),
    (-0.97, 51.45, 2, 4),
    (-1.48, 52.92, 3, 4),
    (-2.22, 52.19, 1, 3),
    (-2.93, 54.89, 1, 3),
    (1.16, 52.06, 1.5, 3),
    (-0.54, 53.23, 1, 3),
    (-5.05, 50.26, 0.7, 3),
    (1.08, 51.28, 1, 3),
    (-2.70, 53.76, 2, 4),
    (-1.75, 53.79, 4, 5),
    (-1.23, 54.57, 2, 4),
    (-1.38, 54.91, 2, 4),
    (-0.24, 52.57, 1.5, 3),
    (-1.78, 51.56, 1.5, 3),
    (-0.90, 52.24, 2, 4),
    (-0.76, 52.04, 2, 4),
    (-0.42, 51.88, 2, 4),
    (-1.88, 50.72, 2, 4),
    (-2.24, 51.86, 1, 3),
    (-2.75, 52.71, 0.8, 3),
    (-2.72, 52.06, 0.6, 3),
    (-2.75, 54.33, 0.4, 2),
    (-0.40, 54.28, 0.6, 2),
]
USES = ["office", "library", "school", "depot", "health_centre", "police_station", "fire_station", "leisure"]
OWNERS = 40


# -- the data ---------------------------------------------------------------------------------------
@contextmanager
def bench_database(port: int) -> Iterator[str]:
    """A cluster in bench/.data (kept between runs, so a million rows load once)."""
    from api.embedded_pg import EmbeddedCluster, ensure_installed

    if os.environ.get("BENCH_DATABASE_URL"):
        yield os.environ["BENCH_DATABASE_URL"]
        return
    cluster = EmbeddedCluster(root=DATA, port=port, bin_dir=ensure_installed())
    cluster.start()
    try:
        yield cluster.url()
    finally:
        cluster.stop("fast")


def load(url: str, n: int) -> None:
    """Migrate and load n clustered properties, unless the register already holds exactly n."""
    from api import migrate

    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        # Every server's statements end when the client gives up (pygeoapi sets its own connection
        # options, so PGOPTIONS alone does not reach it): the database's own default, for all.
        conn.execute(
            text(f"ALTER DATABASE {engine.url.database} SET statement_timeout = '{CLIENT_TIMEOUT_S}s'")
        )
        conn.commit()
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM property")).scalar_one()
    if have == n:
        print(f"register holds {n:,} properties (reused)")
        engine.dispose()
        return
    started = time.perf_counter()
    towns = ", ".join(f"({lon}, {lat}, {w}, {k})" for lon, lat, w, k in TOWNS)
    uses = ", ".join(f"'{u}'" for u in USES)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SET session_replication_role = replica"))  # bulk load: triggers off
        conn.execute(text("DELETE FROM property"))
        conn.execute(
            text(
                "INSERT INTO organisation (code, name, kind) SELECT 'org-' || lpad(i::text, 2, '0'), "
                "'Body ' || i, 'district' FROM generate_series(0, :k - 1) i ON CONFLICT DO NOTHING"
            ),
            {"k": OWNERS},
        )
        conn.execute(
            text(
                f"""
                WITH towns(lon, lat, w, km) AS (VALUES {towns}),
                cum AS (SELECT lon, lat, km, sum(w) OVER (ORDER BY lon, lat) / sum(w) OVER () AS upto FROM towns)
                INSERT INTO property (owner, asset_ref, name, geom, use_category, gia_m2, value_gbp, rag,
                                      rag_reason, sensitive, created_by, updated_by)
                SELECT 'org-' || lpad((g.i % {OWNERS})::text, 2, '0'), 'N' || g.i, 'Building ' || g.i,
                       ST_SetSRID(CASE WHEN g.rural < 0.08
                         THEN ST_MakePoint(-5.5 + 7.2 * g.u1, 50.2 + 4.8 * g.u2)
                         ELSE ST_MakePoint(
                           t.lon + sqrt(-2 * ln(g.u1)) * cos(2 * pi() * g.u2) * t.km / 111.0 / cos(radians(t.lat)),
                           t.lat + sqrt(-2 * ln(g.u1)) * sin(2 * pi() * g.u2) * t.km / 111.0) END, 4326),
                       (ARRAY[{uses}])[1 + g.i % {len(USES)}],
                       100 + (g.i % 5000), 50000 + (g.i % 997) * 10000,
                       (ARRAY['red', 'amber', 'green', NULL])[1 + g.i % 4],
                       CASE WHEN g.i % 4 = 3 THEN NULL ELSE 'bench' END, g.i % 50 = 0, 'bench', 'bench'
                FROM (SELECT i, random() AS r, greatest(random(), 1e-12) AS u1, random() AS u2, random() AS rural
                      FROM generate_series(1, :n) i) g
                CROSS JOIN LATERAL (SELECT lon, lat, km FROM cum WHERE cum.upto >= g.r ORDER BY upto LIMIT 1) t
                """
            ),
            {"n": n},
        )
        conn.execute(text("SET session_replication_role = origin"))
        cells = conn.execute(
            text("SELECT tile_aggregate_rebuild()")
        ).scalar_one()  # what `estate tiles rebuild` runs
        # The peers filter no soft-deleted rows, so our partial indexes are of no use to them: a plain one.
        conn.execute(text("CREATE INDEX IF NOT EXISTS property_geom_plain_idx ON property USING gist (geom)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print(f"loaded {n:,} properties, {cells:,} aggregate cells, in {time.perf_counter() - started:.0f} s")


# -- the servers ------------------------------------------------------------------------------------
def ensure_peer(name: str) -> Path:
    """The peer's virtual environment under bench/.peers, made and filled on first use."""
    venv = PEERS / name
    if not (venv / "bin" / "uvicorn").exists():
        print(f"installing {name} into {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEER_PACKAGES[name]], check=True)
    return venv


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    tile: Callable[[int, int, int], str]
    item: Callable[[str, int], str]
    items: Callable[[tuple[float, float, float, float] | None, int], str]

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _log_path(cmd: list[str]) -> Path:
    folder = DATA.parent / ".data-logs"
    folder.mkdir(exist_ok=True)
    return folder / f"{Path(cmd[0]).parent.parent.name}-{Path(cmd[0]).name}.log"


# The client gives up after CLIENT_TIMEOUT_S; every server's statements end then too (libpq reads
# PGOPTIONS), or a peer's abandoned queries would run on and load the machine for the others.
CLIENT_TIMEOUT_S = 60
PGOPTIONS = f"-c statement_timeout={CLIENT_TIMEOUT_S * 1000}"


def _start(cmd: list[str], env: dict[str, str], cwd: Path, ready_url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        cmd, env={**os.environ, "PGOPTIONS": PGOPTIONS, **env}, cwd=cwd, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(_log_path(cmd), "wb"),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx2.get(ready_url, timeout=2).status_code < 500:
                return process
        except httpx2.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"{cmd} did not start")


def start_ours(url: str) -> Server:
    port = free_port()
    env = {"DATABASE_URL": url, "ESTATE_RATE_LIMIT_PER_MINUTE": "1000000000", "ESTATE_PORT": str(port)}
    cmd = [sys.executable, "-m", "api.cli", "serve", "--workers", "1", "--no-access-log"]
    base = f"http://127.0.0.1:{port}"
    process = _start(cmd, env, ROOT, f"{base}/conformance")
    return Server(
        "ours", base, process,
        tile=lambda z, x, y: f"{base}/collections/properties/tiles/WebMercatorQuad/{z}/{y}/{x}",
        item=lambda uuid, fid: f"{base}/collections/properties/items/{uuid}",
        items=lambda bbox, limit: f"{base}/collections/properties/items?limit={limit}"
        + (f"&bbox={','.join(f'{v:.6f}' for v in bbox)}" if bbox else ""),
    )  # fmt: skip


def start_tipg(url: str) -> Server:
    venv = ensure_peer("tipg")
    port = free_port()
    env = {
        # asyncpg ignores PGOPTIONS but takes unknown URL parameters as server settings
        "DATABASE_URL": url.replace("+psycopg", "") + f"?statement_timeout={CLIENT_TIMEOUT_S * 1000}",
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    }
    cmd = [
        str(venv / "bin" / "uvicorn"),
        "tipg.main:app",
        "--port",
        str(port),
        "--no-access-log",
        "--workers",
        "1",
    ]
    base = f"http://127.0.0.1:{port}"
    process = _start(cmd, env, venv, f"{base}/conformance")
    col = f"{base}/collections/public.property"
    return Server(
        "tipg", base, process,
        tile=lambda z, x, y: f"{col}/tiles/WebMercatorQuad/{z}/{x}/{y}?geom-column=geom",
        item=lambda uuid, fid: f"{col}/items/{uuid}?geom-column=geom",
        items=lambda bbox, limit: f"{col}/items?geom-column=geom&limit={limit}"
        + (f"&bbox={','.join(f'{v:.6f}' for v in bbox)}" if bbox else ""),
    )  # fmt: skip


PYGEOAPI_CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 100, max_items: 10000}}
  map: {{url: "https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png", attribution: OSM}}
logging: {{level: ERROR}}
metadata:
  identification: {{title: bench, description: bench, keywords: [bench], keywords_type: theme, terms_of_service: none, url: "http://example.org"}}
  license: {{name: none, url: "http://example.org"}}
  provider: {{name: bench, url: "http://example.org"}}
  contact: {{name: bench, email: bench@example.org, url: "http://example.org", role: pointOfContact}}
resources:
  properties:
    type: collection
    title: properties
    description: properties
    keywords: [bench]
    extents: {{spatial: {{bbox: [-6, 49, 2, 56], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}}}
    providers:
      - type: feature
        name: PostgreSQL
        data: {data}
        id_field: id
        table: property
        geom_field: geom
        properties: [fid, name, owner, rag, use_category, value_gbp]
      - type: tile
        name: MVT-postgresql
        data: {data}
        id_field: fid
        table: property
        geom_field: geom
        properties: [fid, name, owner, rag, use_category]
        options: {{zoom: {{min: 0, max: 22}}}}
        format: {{name: pbf, mimetype: application/vnd.mapbox-vector-tile}}
"""


def start_pygeoapi(url: str) -> Server:
    from sqlalchemy.engine import make_url

    venv = ensure_peer("pygeoapi")
    port = free_port()
    u = make_url(url)
    data = (
        f"{{host: {u.host}, port: {u.port}, dbname: {u.database}, user: {u.username}, "
        f"password: {u.password}}}"
    )
    config, openapi = venv / "bench-config.yml", venv / "bench-openapi.yml"
    config.write_text(PYGEOAPI_CONFIG.format(port=port, data=data))
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(config), "--output-file", str(openapi)],
        check=True, env={**os.environ, **env}, capture_output=True,
    )  # fmt: skip
    cmd = [
        str(venv / "bin" / "uvicorn"),
        "pygeoapi.starlette_app:APP",
        "--port",
        str(port),
        "--no-access-log",
    ]
    base = f"http://127.0.0.1:{port}"
    process = _start(cmd, env, venv, f"{base}/conformance")
    col = f"{base}/collections/properties"
    return Server(
        "pygeoapi", base, process,
        tile=lambda z, x, y: f"{col}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt",
        item=lambda uuid, fid: f"{col}/items/{uuid}?f=json",
        items=lambda bbox, limit: f"{col}/items?f=json&limit={limit}"
        + (f"&bbox={','.join(f'{v:.6f}' for v in bbox)}" if bbox else ""),
    )  # fmt: skip


# -- the load ---------------------------------------------------------------------------------------
@dataclass
class Sample:
    latencies_s: list[float] = field(default_factory=list)
    nbytes: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    errors: int = 0

    def add(self, other: Sample) -> None:
        self.latencies_s += other.latencies_s
        self.nbytes += other.nbytes
        self.wall_s += other.wall_s
        self.errors += other.errors

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s else 0.0

    def pct_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(urls: list[str], concurrency: int) -> tuple[Sample, list[bytes]]:
    """Fetch every URL with at most ``concurrency`` in flight; the same client for every server."""
    sample, bodies = Sample(), [b""] * len(urls)
    queue = list(enumerate(urls))
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(limits=limits, timeout=CLIENT_TIMEOUT_S) as client:

        async def worker() -> None:
            while queue:
                index, url = queue.pop()
                start = time.perf_counter()
                try:
                    response = await client.get(url)
                except httpx2.HTTPError:
                    sample.errors += 1  # counted, and its time too: a timeout is a very slow answer
                    sample.latencies_s.append(time.perf_counter() - start)
                    continue
                sample.latencies_s.append(time.perf_counter() - start)
                sample.nbytes.append(len(response.content))
                if response.status_code != 200:
                    sample.errors += 1
                bodies[index] = response.content

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.wall_s = time.perf_counter() - start
    return sample, bodies


async def floor(calls: list[Callable[[Any], Awaitable[Any]]], pool: Any, concurrency: int) -> Sample:
    """Our own SQL for the same requests, no HTTP: the most our server could reach."""
    sample = Sample()
    queue = list(calls)

    async def worker() -> None:
        while queue:
            call = queue.pop()
            start = time.perf_counter()
            async with pool.connect() as conn:
                await call(conn)
            sample.latencies_s.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.wall_s = time.perf_counter() - start
    return sample


def mvt_features(data: bytes) -> int:
    """Buildings a tile represents: points, plus the counts of clusters."""
    import mapbox_vector_tile

    if not data:
        return 0
    try:
        layers = mapbox_vector_tile.decode(data)
    except Exception:  # noqa: BLE001 - an error body instead of a tile represents nothing
        return 0
    total = 0
    for name, layer in layers.items():
        for feature in layer["features"]:
            total += int(feature["properties"].get("count", 1)) if "clusters" in name else 1
    return total


def tiles_by_density(conn: Any, zoom: int, k: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """k tiles at ``zoom``, each the tile of a random building: tiles drawn in proportion to density."""
    rows = conn.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM property ORDER BY random() LIMIT :k"), {"k": k}
    ).all()
    out = []
    for lon, lat in rows:
        t = mercantile.tile(lon, lat, zoom)
        out.append((zoom, t.x, t.y))
    rng.shuffle(out)
    return out


def db_count(conn: Any, z: int, x: int, y: int) -> int:
    b = mercantile.xy_bounds(x, y, z)
    return conn.execute(
        text(
            "SELECT count(*) FROM property WHERE geom_3857 && ST_MakeEnvelope(:a, :b, :c, :d, 3857) "
            "AND deleted_at IS NULL AND NOT sensitive"
        ),
        {"a": b.left, "b": b.bottom, "c": b.right, "d": b.top},
    ).scalar_one()


# -- the run ----------------------------------------------------------------------------------------
def main() -> None:  # noqa: C901 - one script, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tiles", type=int, default=40, help="tiles per zoom per round")
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("ESTATE_PG_PORT", "54310")))
    parser.add_argument("--peers", default="tipg,pygeoapi")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    rng = random.Random(20261130)

    with bench_database(args.pg_port) as url:
        load(url, args.n)
        engine = create_engine(url)
        with engine.connect() as conn:
            tile_lists = {
                z: [tiles_by_density(conn, z, args.tiles, rng) for _ in range(args.rounds)]
                for z in (6, 10, 12, 14)
            }
            picks = conn.execute(
                text(
                    "SELECT id::text, fid, ST_X(geom), ST_Y(geom) FROM property WHERE NOT sensitive ORDER BY random() LIMIT :k"
                ),
                {"k": 60 * args.rounds},
            ).all()
        boxes = []
        for _, _, lon, lat in picks:
            dlat, dlon = 2.5 / 111.0, 2.5 / (111.0 * math.cos(math.radians(lat)))
            boxes.append((lon - dlon, lat - dlat, lon + dlon, lat + dlat))

        servers = [start_ours(url)]
        for name in [p for p in args.peers.split(",") if p]:
            try:
                servers.append({"tipg": start_tipg, "pygeoapi": start_pygeoapi}[name](url))
            except Exception as exc:  # noqa: BLE001 - a peer that will not start is reported, not fatal
                print(f"{name} did not start: {exc}")
        time.sleep(2)
        idle = {s.name: s.rss_mib() for s in servers}
        results: dict[tuple[str, str], Sample] = {}
        features: dict[tuple[str, int], list[tuple[int, int]]] = {}

        def record(server: str, scenario: str, sample: Sample) -> None:
            results.setdefault((server, scenario), Sample()).add(sample)

        def clear_cache() -> None:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM tile_cache"))

        from api.db import AsyncPool
        from api.services import properties as props
        from api.services import tiles as tile_svc
        from api.services.filters import PropertyFilter
        from gis import layers, visibility

        rules, everyone = layers.TileRules(), PropertyFilter()
        try:
            for r in range(args.rounds):
                order = servers[r % len(servers) :] + servers[: r % len(servers)]
                per_round = [picks[i] for i in range(r * 60, (r + 1) * 60)]
                for server in order:
                    for z in (6, 10, 12, 14):
                        tiles = tile_lists[z][r]
                        urls = [server.tile(*t) for t in tiles]
                        if server.name == "ours":
                            clear_cache()
                            cold, bodies = asyncio.run(drive(urls, args.concurrency))
                            record("ours", f"tile z{z} cold", cold)
                            warm, _ = asyncio.run(drive(urls, args.concurrency))
                            record("ours", f"tile z{z} warm", warm)
                        else:
                            sample, bodies = asyncio.run(drive(urls, args.concurrency))
                            record(server.name, f"tile z{z} cold", sample)
                            record(server.name, f"tile z{z} warm", sample)
                        if r == 0:
                            with engine.connect() as conn:
                                features[(server.name, z)] = [
                                    (mvt_features(b), db_count(conn, *t))
                                    for b, t in zip(bodies[:15], tiles[:15], strict=True)
                                ]
                    for limit in (100, 1000):
                        urls = [server.items(boxes[r * 60 + i], limit) for i in range(30)]
                        record(
                            server.name,
                            f"items bbox 5 km limit {limit}",
                            asyncio.run(drive(urls, args.concurrency))[0],
                        )
                    urls = [server.item(uuid, fid) for uuid, fid, _, _ in per_round]
                    record(server.name, "one feature by id", asyncio.run(drive(urls, args.concurrency))[0])
                    urls = [server.items(None, 10_000) for _ in range(3)]
                    record(server.name, "10,000-feature page", asyncio.run(drive(urls, 1))[0])
                loaded = {s.name: s.rss_mib() for s in servers}

                async def floor_round(round_index: int = r) -> None:
                    pool = AsyncPool(url.replace("postgresql://", "postgresql+psycopg://"), args.concurrency)
                    engine_async = pool.engine()
                    for z in (6, 10, 12, 14):
                        calls = [
                            (
                                lambda conn, t=t: tile_svc.render_tile(
                                    conn, t[0], t[2], t[1], everyone, visibility.PUBLIC, rules
                                )
                            )
                            for t in tile_lists[z][round_index]
                        ]
                        record("floor", f"tile z{z} cold", await floor(calls, engine_async, args.concurrency))
                    for limit in (100, 1000):
                        calls = []
                        for i in range(30):
                            b = boxes[round_index * 60 + i]
                            flt = PropertyFilter(bbox=b)

                            async def items_call(
                                conn: Any, flt: PropertyFilter = flt, limit: int = limit
                            ) -> None:
                                await props.list_records_async(conn, flt, visibility.PUBLIC, limit=limit)
                                await props.count_records_async(conn, flt, visibility.PUBLIC, 100_000)

                            calls.append(items_call)
                        record(
                            "floor",
                            f"items bbox 5 km limit {limit}",
                            await floor(calls, engine_async, args.concurrency),
                        )
                    calls = [
                        (lambda conn, u=uuid: props.get_visible_async(conn, u, visibility.PUBLIC))
                        for uuid, _, _, _ in picks[round_index * 60 : (round_index + 1) * 60]
                    ]
                    record("floor", "one feature by id", await floor(calls, engine_async, args.concurrency))
                    await pool.dispose()

                asyncio.run(floor_round())
                print(f"round {r + 1} of {args.rounds} done")
        finally:
            for s in servers:
                s.stop()

        names = [s.name for s in servers]
        print(
            f"\n{args.n:,} properties, {args.rounds} interleaved rounds, concurrency {args.concurrency}, one worker each"
        )
        header = f"{'scenario':<30}{'server':<10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'KiB':>8}{'err':>5}"
        for peer in names[1:]:
            header += f"{'÷' + peer:>11}"
        print(header)
        scenarios = sorted({s for _, s in results}, key=lambda s: (s.split()[0], s))
        for scenario in scenarios:
            ours = results.get(("ours", scenario))
            for name in [*names, "floor"]:
                sample = results.get((name, scenario))
                if sample is None:
                    continue
                line = (
                    f"{scenario:<30}{name:<10}{sample.rps:>8.1f}{sample.pct_ms(0.5):>9.1f}{sample.pct_ms(0.95):>9.1f}"
                    f"{(statistics.mean(sample.nbytes) / 1024 if sample.nbytes else 0):>8.1f}{sample.errors:>5}"
                )
                if name == "ours" and ours:
                    for peer in names[1:]:
                        other = results.get((peer, scenario))
                        line += f"{(ours.rps / other.rps if other and other.rps else float('nan')):>10.2f}x"
                print(line)
        print(f"\n{'features per tile (15 tiles, round 1)':<40}" + "".join(f"{n:>22}" for n in names))
        for z in (6, 10, 12, 14):
            cells = []
            for name in names:
                pairs = features.get((name, z), [])
                served, held = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
                cells.append(f"{served:>10,} of {held:>9,}")
            print(f"{'z' + str(z) + ' (served of in the database)':<40}" + "".join(f"{c:>22}" for c in cells))
        print("\nRSS MiB idle / loaded: " + ", ".join(f"{n} {idle[n]:.0f} / {loaded[n]:.0f}" for n in names))

        if not args.no_browser and shutil.which("chromium"):
            map_timing(url, engine)
        engine.dispose()


def map_timing(url: str, engine: Any) -> None:
    """Open /map at its national view in headless Chromium: time to settle and tile requests."""
    from playwright.sync_api import sync_playwright

    server = start_ours(url)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for label in ("cold cache", "warm cache"):
                if label == "cold cache":
                    with engine.begin() as conn:
                        conn.execute(text("DELETE FROM tile_cache"))
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                pending: set[str] = set()
                done: list[float] = []
                seen: list[str] = []
                page.on(
                    "request",
                    lambda r: (pending.add(r.url), seen.append(r.url)) if "/tiles/" in r.url else None,
                )
                page.on(
                    "requestfinished",
                    lambda r: (
                        (pending.discard(r.url), done.append(time.perf_counter()))
                        if "/tiles/" in r.url
                        else None
                    ),
                )
                page.on("requestfailed", lambda r: pending.discard(r.url))
                start = time.perf_counter()
                page.goto(f"{server.base}/map", wait_until="load")
                quiet_since = time.perf_counter()
                while time.perf_counter() - start < 180:
                    page.wait_for_timeout(100)
                    if pending or not seen:
                        quiet_since = time.perf_counter()
                    elif time.perf_counter() - quiet_since > 1.5:
                        break
                settled = (max(done) - start) if done else float("nan")
                print(f"/map national view ({label}): settled in {settled:.2f} s, {len(seen)} tile requests")
                page.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
