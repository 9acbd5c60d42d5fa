"""Benchmark: GeoPackage export of N synthetic properties: time, rows/s, peak memory, ogr2ogr as peer.

    .venv/bin/python bench/export_gpkg.py              # N = 1,000,000
    .venv/bin/python bench/export_gpkg.py --n 200000

Uses a scratch database: in the server of DATABASE_URL when set (created and
dropped here; needs CREATEDB), otherwise a throwaway embedded cluster like the
tests' (started and removed here). Each export runs in its own child process
so its peak resident memory (``ru_maxrss`` from ``wait4``) is its own. The peer
is ``ogr2ogr -f GPKG out.gpkg PG:... -sql <the same SELECT>``: the same rows,
columns and British National Grid points, written by GDAL in C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYNTHETIC_INSERT = """
INSERT INTO property (owner, asset_ref, uprn, name, street_number, street, post_town, postcode, geom,
                      tenure, tenure_detail, holding_type, use_category, gia_m2, site_area_ha,
                      utilisation_pct, fte, value_gbp, valuation_basis, valuation_date, running_cost_gbp_pa,
                      maintenance_backlog_gbp, condition, rag, rag_reason, disposal_stage, disposal_blockers,
                      sensitive, created_by, updated_by)
SELECT (ARRAY['bench-county','bench-district','bench-police','bench-fire','bench-nhs'])[1 + g % 5],
       'B-' || g, 100000000000 + g, 'Bench building ' || g, (g % 200)::text, 'High Street',
       (ARRAY['Worcester','Evesham','Malvern','Redditch','Kidderminster','Bromsgrove'])[1 + g % 6],
       'WR' || (1 + g % 15) || ' ' || (g % 10) || 'AB',
       ST_SetSRID(ST_MakePoint(-2.6 + random() * 1.0, 51.95 + random() * 0.5), 4326),
       (ARRAY['freehold','leasehold','other'])[1 + g % 3], 'occupied',
       (ARRAY['land','building','land_and_building'])[1 + g % 3],
       (ARRAY['office','library','school','depot','leisure','community_centre'])[1 + g % 6],
       round((50 + random() * 5000)::numeric, 2), round((random() * 5)::numeric, 3),
       round((random() * 100)::numeric, 1), round((random() * 200)::numeric, 1),
       (random() * 20000000)::bigint, 'euv', date '2015-04-01' + (g % 3000)::int,
       (random() * 500000)::bigint, (random() * 2000000)::bigint, (ARRAY['A','B','C','D'])[1 + g % 4],
       (ARRAY['red','amber','green',NULL])[1 + g % 4],
       CASE WHEN g % 4 < 3 THEN 'synthetic rating ' || (g % 97) END,
       'retained', CASE WHEN g % 7 = 0 THEN ARRAY['planning'] ELSE '{}'::text[] END,
       g % 50 = 0, 'bench', 'bench'
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g
"""


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yield the SQLAlchemy URL of an empty scratch database, removed afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from estate_infra.settings import DatabaseSettings

    url = DatabaseSettings().database_url
    if url:
        name = f"estate_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    from estate_infra.cluster import throwaway_cluster

    with throwaway_cluster("estate-bench-pg-") as cluster:
        yield cluster.url()


def load(url: str, n: int) -> float:
    """Migrate and insert ``n`` synthetic properties set-wise; return seconds taken."""
    from sqlalchemy import create_engine, text

    from estate_infra import migrations

    started = time.perf_counter()
    migrations.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        for code in ("bench-county", "bench-district", "bench-police", "bench-fire", "bench-nhs"):
            conn.execute(
                text("INSERT INTO organisation (code, name, kind) VALUES (:c, :c, 'other')"), {"c": code}
            )
    # Synthetic rows need no history: skip the audit triggers for the load when allowed (scratch database).
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(text("SET LOCAL session_replication_role = replica"))
        except Exception:  # not a superuser: load through the triggers, slower but the same rows
            conn.execute(text("SELECT set_config('estate.actor', 'bench', true)"))
        step = 250_000
        for start in range(1, n + 1, step):
            conn.execute(text(SYNTHETIC_INSERT), {"start": start, "stop": min(n, start + step - 1)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE property"))
    engine.dispose()
    return time.perf_counter() - started


def run_child(args: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run a command, return (its JSON stdout or {}, wall seconds, peak RSS MiB of that process alone)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    # wait4 gives this child's own rusage, not the sum over every child so far.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({process.returncode}):\n{err[-3000:]}")
    try:
        report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except json.JSONDecodeError:
        report = {}
    return report, seconds, usage.ru_maxrss / 1024  # Linux: KiB


def child_export(url: str, out: Path, batch_rows: int) -> None:
    """In the child: export the whole register (admin view) to a GeoPackage in EPSG:27700."""
    from api.db import get_engine
    from api.services import exports as svc
    from api.services.filters import PropertyFilter
    from gis import crs as crs_mod
    from gis import exports as writer
    from gis.visibility import Tier, Viewer

    started = time.perf_counter()
    with get_engine(url).connect() as conn:
        result = svc.export_properties(
            conn,
            out,
            writer.FORMATS["gpkg"],
            crs_mod.EPSG27700,
            PropertyFilter(),
            Viewer(Tier.owner, admin=True),
            batch_rows=batch_rows,
        )
    print(json.dumps({"count": result.count, "seconds": time.perf_counter() - started}))


def child_baseline() -> None:
    """In the child: import what the export imports, do nothing (the floor of the peak RSS)."""
    from api.services import exports  # noqa: F401

    print(json.dumps({}))


def peer_sql() -> str:
    from api.services import exports as svc
    from api.services.filters import PropertyFilter
    from gis import crs as crs_mod
    from gis import exports as writer
    from gis.visibility import Tier, Viewer

    admin = Viewer(Tier.owner, admin=True)
    where, _ = PropertyFilter().where(admin)  # admin: no bound parameter is used
    return svc.select_sql(writer.fields_for_viewer(admin), admin, where, crs_mod.BNG_SRID, wkb=False)


def pg_connection_string(url: str) -> tuple[str, dict[str, str]]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = f"PG:host={u.host or '127.0.0.1'} port={u.port or 5432} dbname={u.database} user={u.username}"
    return conn, {"PGPASSWORD": u.password or ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic properties (default 1,000,000)")
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--child", choices=["export", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "export":
        child_export(args.url, args.out, args.batch_rows)
        return
    if args.child == "baseline":
        child_baseline()
        return

    import pyogrio

    me = [sys.executable, str(Path(__file__).resolve())]
    work = Path(tempfile.mkdtemp(prefix="estate-bench-"))
    try:
        with scratch_database() as url:
            print(f"loading {args.n:,} synthetic properties ...", flush=True)
            load_s = load(url, args.n)
            print(f"  loaded in {load_s:.1f} s", flush=True)

            _, _, baseline_mib = run_child([*me, "--child", "baseline"])
            ours_path = work / "ours.gpkg"
            report, ours_wall, ours_mib = run_child(
                [
                    *me,
                    "--child",
                    "export",
                    "--url",
                    url,
                    "--out",
                    str(ours_path),
                    "--batch-rows",
                    str(args.batch_rows),
                ]
            )
            ours_s = report["seconds"]

            peer_path = work / "peer.gpkg"
            conn, env = pg_connection_string(url)
            os.environ.update(env)
            ogr2ogr = shutil.which("ogr2ogr")
            peer: dict[str, float] | None = None
            if ogr2ogr:
                _, peer_s, peer_mib = run_child(
                    [ogr2ogr, "-f", "GPKG", str(peer_path), conn, "-sql", peer_sql(), "-nln", "properties"]
                )
                peer = {"seconds": peer_s, "mib": peer_mib}
                gdal_version = subprocess.run(
                    [ogr2ogr, "--version"], capture_output=True, text=True
                ).stdout.strip()

            ours_count = pyogrio.read_info(ours_path, layer="properties")["features"]
            assert ours_count == report["count"] == args.n, (ours_count, report["count"], args.n)
            if peer:
                peer_count = pyogrio.read_info(peer_path, layer="properties")["features"]
                assert peer_count == args.n, peer_count

            mib = 1024 * 1024
            print()
            print(
                f"GeoPackage export of {args.n:,} properties (EPSG:27700, admin view, "
                f"batches of {args.batch_rows:,})"
            )
            print(
                f"  ours     {ours_s:8.1f} s  {args.n / ours_s:10,.0f} rows/s  peak {ours_mib:7.0f} MiB "
                f"(imports alone {baseline_mib:.0f} MiB)  file {ours_path.stat().st_size / mib:7.1f} MiB  "
                f"(process wall {ours_wall:.1f} s)"
            )
            if peer:
                print(
                    f"  ogr2ogr  {peer['seconds']:8.1f} s  {args.n / peer['seconds']:10,.0f} rows/s  "
                    f"peak {peer['mib']:7.0f} MiB  file {peer_path.stat().st_size / mib:7.1f} MiB  "
                    f"({gdal_version})"
                )
                print(
                    f"  ratio    time ours/ogr2ogr = {ours_wall / peer['seconds']:.2f} "
                    "(process wall, imports "
                    f"included) / {ours_s / peer['seconds']:.2f} (export alone)  "
                    f"memory ours/ogr2ogr = {ours_mib / peer['mib']:.2f}"
                )
            else:
                print("  ogr2ogr not found (install gdal-bin): no peer figure")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
