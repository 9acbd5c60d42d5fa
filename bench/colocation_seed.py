"""Co-location analysis of the Worcestershire seed (~1,300 buildings): the interactive case.

Was a timed assertion in the tests (``elapsed_s < 1.0``); speed belongs here, as a
ratio against a peer measured in the same run on the same data. Peer: the pair
search done the usual way in Python — shapely's STRtree ``dwithin`` over the
seed's shareable buildings in EPSG:27700 — which finds only the pairs, not the
hubs, their hosts and costs.

    .venv/bin/python -m bench.colocation_seed [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import shapely
from sqlalchemy import text

from api.db import get_engine
from api.services import colocation as svc
from api.services.seed import load_seed
from bench.scratch import scratch_database
from gis import colocation as domain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rules = domain.ColocationRules()
    with scratch_database() as url:
        engine = get_engine(url)
        load_seed(engine)
        ours, peer = [], []
        with engine.connect() as conn:
            query = svc.build_query(conn)
            candidates = svc.find_colocation_candidates(conn, svc.ADMIN, query)  # warm caches and plans
            for _ in range(args.runs):
                started = time.perf_counter()
                svc.find_colocation_candidates(conn, svc.ADMIN, query)
                ours.append(time.perf_counter() - started)
            xy = np.array(
                conn.execute(
                    text(
                        "SELECT ST_X(geom_bng), ST_Y(geom_bng) FROM property "
                        "WHERE use_category = ANY(:u) AND deleted_at IS NULL AND geom IS NOT NULL"
                    ),
                    {"u": list(domain.SHAREABLE_USES)},
                ).all()
            )
        for _ in range(args.runs):
            started = time.perf_counter()
            points = shapely.points(xy)
            pairs = shapely.STRtree(points).query(points, predicate="dwithin", distance=rules.distance_m)
            peer.append(time.perf_counter() - started)
        engine.dispose()
    ours_s, peer_s = statistics.median(ours), statistics.median(peer)
    print(f"seed: {len(xy):,} shareable buildings, {pairs.shape[1]:,} pairs within {rules.distance_m:.0f} m")
    print(f"{'step (median of ' + str(args.runs) + ' runs)':<56}{'ms':>9}")
    print(
        f"{'ours: hubs found, hosted, costed and ranked (SQL+Python)':<56}{ours_s * 1e3:>9.1f}   {len(candidates)} hubs"
    )
    print(f"{'peer: shapely STRtree dwithin pairs only':<56}{peer_s * 1e3:>9.1f}")
    print(f"ratio ours (whole analysis) / peer (pairs only): {ours_s / peer_s:.1f}x")


if __name__ == "__main__":
    main()
