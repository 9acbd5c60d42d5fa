"""Co-location analysis at national scale: N synthetic properties (default 1,000,000) on this machine.

Peer, measured in the same run on the same data: the pair search done the usual
way in Python — shapely's STRtree ``dwithin`` query over the shareable
buildings in EPSG:27700 — which finds only the pairs, not the hubs.

    .venv/bin/python -m bench.colocation_national [--n 1000000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import shapely
from sqlalchemy import create_engine, text

from api.services import colocation as svc
from bench.scratch import scratch_database
from gis import colocation as domain


def load(url: str, n: int) -> float:
    """Towns of clustered public buildings across England, with many owners (triggers off: reads are measured)."""
    engine = create_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisation (code, name, kind) SELECT 'org-' || i, 'Body ' || i, 'district' "
                "FROM generate_series(0, 1999) i"
            )
        )
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(
            text(
                """INSERT INTO property (owner, asset_ref, name, post_town, geom, use_category, gia_m2, utilisation_pct,
                                    fte, value_gbp, running_cost_gbp_pa, condition, tenure, rag, rag_reason,
                                    created_by, updated_by)
               SELECT 'org-' || ((t * 7 + floor(random() * 15)::int) % 2000), 'B' || g, 'Building ' || g, 'Town ' || t,
                      ST_Transform(ST_SetSRID(ST_MakePoint(
                          150000 + (t::bigint * 7919 % 500) * 1000 + 900 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()),
                          80000 + (t::bigint * 104729 % 550) * 1000 + 900 * sqrt(-2 * ln(1 - random())) * sin(2 * pi() * random())),
                          27700), 4326),
                      (ARRAY['office','customer_service_centre','library','police_station','jobcentre','health_centre',
                             'community_centre','school','land','other','depot','leisure'])[1 + floor(random() * 12)::int],
                      100 + floor(random() * 4900), floor(random() * 100), floor(random() * 150),
                      floor(random() * 5e6), floor(random() * 3e5), (ARRAY['A','B','C','D'])[1 + floor(random() * 4)::int],
                      'freehold', (ARRAY['red','amber','green'])[1 + floor(random() * 3)::int], 'bench', 'bench', 'bench'
               FROM generate_series(1, :n) g, LATERAL (SELECT (g % greatest(:n / 40, 1)) AS t) town"""
            ),
            {"n": n},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE property"))
    engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--distance-m", type=float, default=800)
    args = parser.parse_args()
    with scratch_database() as url:
        print(f"loading {args.n:,} properties ... {load(url, args.n):.1f} s")
        engine = create_engine(url)
        with engine.connect() as conn:
            query = svc.build_query(conn, distance_m=args.distance_m, limit=1000)
            start = time.perf_counter()
            candidates = svc.find_colocation_candidates(conn, svc.ADMIN, query)
            ours_s = time.perf_counter() - start
            start = time.perf_counter()
            flags = svc.host_flags(conn, args.distance_m)
            flags_s = time.perf_counter() - start
            xy = np.array(
                conn.execute(
                    text(
                        "SELECT ST_X(geom_bng), ST_Y(geom_bng) FROM property WHERE use_category = ANY(:u) AND deleted_at IS NULL"
                    ),
                    {"u": list(domain.SHAREABLE_USES)},
                ).all()
            )
        start = time.perf_counter()
        points = shapely.points(xy)
        tree = shapely.STRtree(points)
        pairs = tree.query(points, predicate="dwithin", distance=args.distance_m)
        peer_s = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"shareable buildings: {len(xy):,}; pairs within {args.distance_m:.0f} m: {pairs.shape[1]:,}")
        print(f"{'step':<52}{'seconds':>9}")
        print(
            f"{'ours: hubs found, hosted, costed and ranked (SQL+Python)':<52}{ours_s:>9.1f}   {len(candidates):,} hubs (top 1,000 returned)"
        )
        print(f"{'ours: host flags for the receipts model':<52}{flags_s:>9.1f}   {len(flags):,} buildings")
        print(f"{'peer: shapely STRtree dwithin pairs only':<52}{peer_s:>9.1f}")
        print(
            f"ratio ours (whole analysis) / peer (pairs only): {ours_s / peer_s:.1f}x; peak RSS {peak_mib:,.0f} MiB"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
