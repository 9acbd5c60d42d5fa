"""One 10,000-record partner batch, history included: inserts, updates and tombstones side by side.

A nightly sync that touches a whole estate updates every record (or retires
many), so updates and tombstones must cost about what inserts cost. Printed
against two peers measured in the same run on the same server:
- row-by-row: the same records upserted one INSERT … ON CONFLICT at a time
  (executemany), the way many sync scripts are written;
- bare COPY: the records copied into a table with no triggers, no history and
  no validation — the floor no register can beat.

    .venv/bin/python -m bench.sync_batch [--records 10000] [--repeat 3] [--explain]

``--explain`` prints EXPLAIN ANALYZE of the history trigger's statement for an
update batch (auto_explain, nested statements), to see where the time goes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from sqlalchemy import create_engine, text

from api import auth
from api.db import get_engine, set_actor, write_transaction
from api.services.sync import sync_properties
from bench.scratch import scratch_database


def make_records(n: int, tag: str, name: str = "Bench building") -> list[dict[str, Any]]:
    return [
        {
            "asset_ref": f"{tag}-{i:06d}",
            "name": f"{name} {i}",
            "use_category": "office",
            "street": "High Street",
            "post_town": "Worcester",
            "postcode": "WR1 2AB",
            "tenure": "freehold",
            "geometry": {"type": "Point", "coordinates": [-2.3 + (i % 300) * 1e-3, 52.1 + (i // 300) * 1e-3]},
            "gia_m2": 250.0 + i % 1000,
            "value_gbp": 100_000 + i,
            "rag": "amber",
            "rag_reason": "bench",
        }
        for i in range(n)
    ]


def _summary(response: Any) -> dict[str, int]:
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    n = args.records
    with scratch_database() as url:
        owner = create_engine(url)
        with owner.begin() as conn:
            conn.execute(
                text("INSERT INTO organisation (code, name, kind) VALUES ('bench', 'Bench', 'district')")
            )
        with write_transaction(owner, "bench") as conn:
            key = auth.create_key(conn, "bench", "writer")
        engine = get_engine(url)
        principal = auth.principal_for_key(engine, key["key"])

        times: dict[str, list[float]] = {
            "inserts": [],
            "updates": [],
            "tombstones": [],
            "rowwise": [],
            "copy": [],
        }
        for run in range(args.repeat):
            tag = f"S{run}"
            records = make_records(n, tag)
            start = time.perf_counter()
            assert _summary(sync_properties(engine, principal, records))["inserted"] == n
            times["inserts"].append(time.perf_counter() - start)

            changed = make_records(n, tag, name="Renamed building")
            start = time.perf_counter()
            assert _summary(sync_properties(engine, principal, changed))["updated"] == n
            times["updates"].append(time.perf_counter() - start)

            tombstones = [{"asset_ref": r["asset_ref"], "deleted": True} for r in records]
            start = time.perf_counter()
            assert _summary(sync_properties(engine, principal, tombstones))["deleted"] == n
            times["tombstones"].append(time.perf_counter() - start)

            rows = [
                (
                    f"R{run}-{i:06d}",
                    r["name"],
                    r["geometry"]["coordinates"][0],
                    r["geometry"]["coordinates"][1],
                    r["gia_m2"],
                    r["value_gbp"],
                )
                for i, r in enumerate(records)
            ]
            start = time.perf_counter()
            with engine.begin() as conn:
                set_actor(conn, "bench")
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    cur.executemany(
                        """INSERT INTO property (owner, asset_ref, name, geom, gia_m2, value_gbp)
                           VALUES ('bench', %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s)
                           ON CONFLICT (owner, asset_ref) DO UPDATE SET name = EXCLUDED.name""",
                        rows,
                    )
            times["rowwise"].append(time.perf_counter() - start)

            with owner.begin() as conn:
                conn.execute(
                    text(
                        "DROP TABLE IF EXISTS bench_copy; CREATE UNLOGGED TABLE bench_copy "
                        "(asset_ref text, name text, lon float8, lat float8, gia_m2 float8, value_gbp bigint)"
                    )
                )
            start = time.perf_counter()
            with owner.begin() as conn:
                raw = conn.connection.driver_connection
                with raw.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            times["copy"].append(time.perf_counter() - start)

        if args.explain:
            _explain_update(owner, n)
        with owner.connect() as conn:
            history = conn.execute(text("SELECT count(*) FROM property_history")).scalar_one()
        best = {name: min(ts) for name, ts in times.items()}
        print(f"records per batch: {n}, runs: {args.repeat}, history rows written: {history}")
        print(f"{'method':<52}{'best s':>9}{'median s':>10}{'records/s':>12}")
        for label, name in (
            ("sync_properties: 10k inserts (validate+COPY+history)", "inserts"),
            ("sync_properties: 10k updates of those records", "updates"),
            ("sync_properties: 10k tombstones of those records", "tombstones"),
            ("peer: row-by-row INSERT ON CONFLICT", "rowwise"),
            ("peer: bare COPY, no triggers (floor)", "copy"),
        ):
            ts = times[name]
            print(f"{label:<52}{best[name]:>9.3f}{statistics.median(ts):>10.3f}{n / best[name]:>12,.0f}")
        print(
            f"updates / inserts: {best['updates'] / best['inserts']:.2f}x   "
            f"tombstones / inserts: {best['tombstones'] / best['inserts']:.2f}x   (target: at most 2x)"
        )
        print(
            f"row-by-row / inserts: {best['rowwise'] / best['inserts']:.2f}x   "
            f"inserts / bare COPY: {best['inserts'] / best['copy']:.1f}x"
        )
        engine.dispose()
        owner.dispose()


def _explain_update(owner: Any, n: int) -> None:
    """EXPLAIN ANALYZE of every statement an update batch runs, the trigger's included."""
    with owner.begin() as conn:
        set_actor(conn, "bench")
        conn.execute(text("LOAD 'auto_explain'"))
        conn.execute(text("SET LOCAL auto_explain.log_min_duration = 0"))
        conn.execute(text("SET LOCAL auto_explain.log_analyze = on"))
        conn.execute(text("SET LOCAL auto_explain.log_nested_statements = on"))
        conn.execute(text("SET LOCAL client_min_messages = log"))
        conn.execute(text("SET LOCAL auto_explain.log_level = notice"))
        raw = conn.connection.driver_connection
        notices: list[str] = []
        raw.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute(
            text(
                "UPDATE property SET name = name || ' (explain)' WHERE owner = 'bench' "
                "AND id IN (SELECT id FROM property WHERE owner = 'bench' LIMIT :n)"
            ),
            {"n": n},
        )
        for notice in notices:
            if "Query Text" in notice or "duration" in notice:
                print(notice[:3000])


if __name__ == "__main__":
    main()
