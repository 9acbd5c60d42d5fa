"""The rating review over N synthetic properties (default 200,000): set-based against per record.

Peers, measured in the same run on the same data:
- per record: GET /properties/{id}/rag-suggestion's service called once per building (the
  co-location query restricted to that building), timed on a sample and scaled per building;
- the floor: reading the same columns with no rules at all.

    .venv/bin/python -m bench.rag_review [--n 200000]
"""

# ruff: noqa: B023 - each lambda is timed within its own loop iteration
from __future__ import annotations

import argparse
import time

from sqlalchemy import create_engine, text

from api.services.rag import review, suggestion
from bench.scratch import scratch_database
from gis.visibility import Tier, Viewer

PARTNER = Viewer(Tier.partner, org="bench-a")
SAMPLE = 50


def load(url: str, n: int) -> float:
    """Bulk-load n rated buildings of two bodies over the West Midlands (history triggers off)."""
    engine = create_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO organisation (code, name, kind)
                    VALUES ('bench-a', 'Bench A', 'district'), ('bench-b', 'Bench B', 'county')""")
        )
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(
            text(
                """INSERT INTO property (owner, asset_ref, name, geom, use_category, tenure_detail, gia_m2, fte,
                                        utilisation_pct, condition, listed_grade, maintenance_backlog_gbp,
                                        value_gbp, rag, rag_reason, created_by, updated_by)
                   SELECT (ARRAY['bench-a','bench-b'])[1 + i % 2], 'N' || i, 'Building ' || i,
                          ST_SetSRID(ST_MakePoint(-2.6 + 1.2 * random(), 52.0 + 0.8 * random()), 4326),
                          (ARRAY['office','library','school','depot','police_station','crematorium_cemetery',
                                 'customer_service_centre'])[1 + i % 7],
                          CASE WHEN i % 23 = 0 THEN 'vacant' ELSE 'occupied' END,
                          100 + (i % 5000), 5 + i % 80, 20 + (i * 7) % 80,
                          (ARRAY['A','B','C','D'])[1 + i % 4], CASE WHEN i % 31 = 0 THEN 'II' END,
                          (i % 400) * 1000, 50000 + (i % 997) * 10000,
                          (ARRAY['red','amber','green'])[1 + i % 3], 'bench', 'bench', 'bench'
                   FROM generate_series(1, :n) i"""
            ),
            {"n": n},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE property"))
    engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    with scratch_database() as url:
        print(f"loading {args.n:,} properties ... {load(url, args.n):.1f} s")
        engine = create_engine(url)
        with engine.connect() as conn:
            start = time.perf_counter()
            result = review(conn, PARTNER, limit=100)
            review_s = time.perf_counter() - start
            start = time.perf_counter()
            conn.execute(
                text("""SELECT id, use_category, tenure_detail, utilisation_pct, condition, lease_expiry_date,
                               maintenance_backlog_gbp, gia_m2, listed_grade, disposal_blockers, rag, value_gbp
                        FROM property WHERE deleted_at IS NULL AND rag IS NOT NULL""")
            ).all()
            floor_s = time.perf_counter() - start
            ids = conn.execute(
                text("SELECT id::text FROM property ORDER BY random() LIMIT :k"), {"k": SAMPLE}
            ).scalars()
            start = time.perf_counter()
            for pid in list(ids):
                suggestion(conn, pid, PARTNER)
            per_record_s = (time.perf_counter() - start) / SAMPLE
        engine.dispose()
    per_building_review_us = review_s / result["rated"] * 1e6
    print(f"rated {result['rated']:,}; disputed {result['differing']:,}")
    print(f"{'':<34}{'total s':>9}{'µs/building':>13}")
    print(f"{'review (set-based)':<34}{review_s:>9.2f}{per_building_review_us:>13.1f}")
    print(f"{'floor: read the columns only':<34}{floor_s:>9.2f}{floor_s / result['rated'] * 1e6:>13.1f}")
    print(
        f"{'per record (sampled, scaled)':<34}{per_record_s * result['rated']:>9.1f}{per_record_s * 1e6:>13.0f}"
    )
    print(f"set-based review is {per_record_s * 1e6 / per_building_review_us:.0f}x faster than per record")


if __name__ == "__main__":
    main()
