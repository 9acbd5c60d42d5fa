"""National scale on one machine: tiles and feature pages over N synthetic properties (default 1,000,000).

Peers, measured in the same run on the same data:
- tiles: a GeoJSON FeatureCollection of the same tile's buildings built by PostGIS
  (what a map without vector tiles would fetch);
- pages: OFFSET paging (the usual LIMIT/OFFSET) against our keyset cursor, deep in the set.

    .venv/bin/python -m bench.national_scale [--n 1000000]
"""

# ruff: noqa: B023 - each lambda is timed within its own loop iteration
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import mercantile
from sqlalchemy import create_engine, text

from api.services import tiles as tile_svc
from api.services.filters import PropertyFilter
from api.services.properties import list_records
from bench.scratch import scratch_database
from gis.layers import TileRules
from gis.visibility import Tier, Viewer

PARTNER = Viewer(Tier.partner, org="bench")


def load(url: str, n: int) -> float:
    """Bulk-load n properties spread over England (triggers off: this measures reads, not the load)."""
    engine = create_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organisation (code, name, kind) VALUES ('bench', 'Bench', 'district')")
        )
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(
            text(
                """INSERT INTO property (owner, asset_ref, name, geom, use_category, gia_m2, value_gbp, rag, rag_reason,
                                    created_by, updated_by)
               SELECT 'bench', 'N' || i, 'Building ' || i,
                      ST_SetSRID(ST_MakePoint(-5.5 + 7.2 * random(), 50.2 + 5.4 * random()), 4326),
                      (ARRAY['office','library','school','depot','health_centre'])[1 + i % 5],
                      100 + (i % 5000), 50000 + (i % 997) * 10000,
                      (ARRAY['red','amber','green'])[1 + i % 3], 'bench', 'bench', 'bench'
               FROM generate_series(1, :n) i"""
            ),
            {"n": n},
        )
    with engine.begin() as conn:
        tile_svc.rebuild_aggregates(
            conn
        )  # triggers were off: recount the low-zoom cells (estate tiles rebuild)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE property"))
    engine.dispose()
    return time.perf_counter() - start


def render(
    url: str, zoom: int, row: int, col: int, flt: PropertyFilter, rules: TileRules, repeat: int = 5
) -> tuple[tile_svc.Tile, float]:
    """One tile through the serving path's own (async) renderer, no cache; and its median time."""

    async def run() -> tuple[tile_svc.Tile, float]:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url)
        runs = []
        async with engine.connect() as conn:
            tile = await tile_svc.render_tile(conn, zoom, row, col, flt, PARTNER, rules)
            for _ in range(repeat):
                start = time.perf_counter()
                await tile_svc.render_tile(conn, zoom, row, col, flt, PARTNER, rules)
                runs.append(time.perf_counter() - start)
        await engine.dispose()
        return tile, statistics.median(runs)

    return asyncio.run(run())


def timed(fn, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with scratch_database() as url:
        print(f"loading {args.n:,} properties ... {load(url, args.n):.1f} s")
        engine = create_engine(url)
        rules, flt = TileRules(), PropertyFilter()
        print(
            f"\n{'tile (Birmingham)':<22}{'mode':<10}{'MVT ms':>8}{'bytes':>10}{'GeoJSON ms':>12}{'bytes':>11}{'ratio':>7}"
        )
        with engine.connect() as conn:
            for zoom in (5, 8, 11, 14):
                t = mercantile.tile(-1.89, 52.48, zoom)
                tile, mvt_s = render(url, zoom, t.y, t.x, flt, rules)
                w, s, e, nn = mercantile.bounds(t)
                geojson_sql = text(
                    """SELECT json_build_object('type','FeatureCollection','features', coalesce(json_agg(
                         json_build_object('type','Feature','geometry', ST_AsGeoJSON(geom)::json,
                           'properties', json_build_object('id', id, 'owner', owner, 'rag', rag, 'use', use_category)))
                       , '[]'))::text FROM property WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
                       AND deleted_at IS NULL"""
                )
                params = {"w": w, "s": s, "e": e, "n": nn}
                size = len(conn.execute(geojson_sql, params).scalar_one())
                geo_s = timed(lambda: conn.execute(geojson_sql, params).scalar_one(), repeat=3)
                print(
                    f"z{zoom:<21}{tile.mode:<10}{mvt_s * 1000:>8.0f}{len(tile.data):>10,}{geo_s * 1000:>12.0f}"
                    f"{size:>11,}{geo_s / mvt_s:>6.1f}x"
                )

            print(f"\n{'page of 100, position':<28}{'keyset ms':>10}{'OFFSET ms':>11}{'ratio':>8}")
            for position in (1_000, 100_000, min(args.n - 200, 900_000)):
                after = conn.execute(
                    text("SELECT id::text FROM property ORDER BY id OFFSET :o LIMIT 1"), {"o": position}
                ).scalar_one()
                keyset_s = timed(lambda: list_records(conn, flt, PARTNER, limit=100, after_id=after))
                offset_s = timed(
                    lambda: conn.execute(
                        text(
                            "SELECT id FROM property WHERE deleted_at IS NULL ORDER BY id OFFSET :o LIMIT 100"
                        ),
                        {"o": position},
                    ).all(),
                    repeat=3,
                )
                print(
                    f"{position:<28,}{keyset_s * 1000:>10.1f}{offset_s * 1000:>11.1f}{offset_s / keyset_s:>7.1f}x"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
