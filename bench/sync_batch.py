"""Records per second for one 10,000-record partner batch, history included, against two peers.

Peers, measured in the same run on the same server:
- row-by-row: the same records upserted one INSERT … ON CONFLICT at a time
  (executemany), the way many sync scripts are written;
- bare COPY: the records copied into a table with no triggers, no history and
  no validation — the floor no register can beat.

    .venv/bin/python -m bench.sync_batch [--records 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import create_engine, text

from api import auth
from api.db import get_engine, set_actor, write_transaction
from api.services.sync import sync_properties
from bench.scratch import scratch_database


def make_records(n: int, tag: str) -> list[dict]:  # type: ignore[type-arg]
    return [
        {
            "asset_ref": f"{tag}-{i:06d}",
            "name": f"Bench building {i}",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
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

        ours, rowwise, floor = [], [], []
        for run in range(args.repeat):
            records = make_records(args.records, f"S{run}")
            start = time.perf_counter()
            result = sync_properties(engine, principal, records)
            ours.append(time.perf_counter() - start)
            assert result.body["summary"]["inserted"] == args.records

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
            rowwise.append(time.perf_counter() - start)

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
            floor.append(time.perf_counter() - start)

        with owner.connect() as conn:
            history = conn.execute(text("SELECT count(*) FROM property_history")).scalar_one()
        n = args.records
        best = {name: min(times) for name, times in (("ours", ours), ("rowwise", rowwise), ("copy", floor))}
        print(f"records per batch: {n}, runs: {args.repeat}, history rows written: {history}")
        print(f"{'method':<44}{'best s':>9}{'median s':>10}{'records/s':>12}")
        for label, name, times in (
            ("sync_properties (validate+COPY+upsert+history)", "ours", ours),
            ("peer: row-by-row INSERT ON CONFLICT", "rowwise", rowwise),
            ("peer: bare COPY, no triggers (floor)", "copy", floor),
        ):
            print(f"{label:<44}{best[name]:>9.3f}{statistics.median(times):>10.3f}{n / best[name]:>12,.0f}")
        print(
            f"ratio row-by-row / ours: {best['rowwise'] / best['ours']:.2f}x  "
            f"(ours / bare COPY: {best['ours'] / best['copy']:.1f}x)"
        )
        engine.dispose()
        owner.dispose()


if __name__ == "__main__":
    main()
