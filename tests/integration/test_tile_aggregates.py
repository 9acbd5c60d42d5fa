"""The low-zoom tile aggregates equal a fresh GROUP BY of the register after any mix of writes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from support import auth_header

from gis.layers import AGGREGATE_MAX_LEVEL

# The floor area and value sums of a cell (migration 0010), counted from scratch; values in the
# commercially sensitive stages are kept apart, as only their owner may see them.
_WITHHELD = "coalesce(disposal_stage IN ('marketed', 'under_offer'), false)"
FRESH_SUMS = f""",
             count(gia_m2) AS gia_n, coalesce(sum(gia_m2), 0) AS gia_sum_m2,
             count(value_gbp) FILTER (WHERE NOT {_WITHHELD}) AS value_n,
             coalesce(sum(value_gbp) FILTER (WHERE NOT {_WITHHELD}), 0) AS value_sum_gbp,
             count(value_gbp) FILTER (WHERE {_WITHHELD}) AS withheld_n,
             coalesce(sum(value_gbp) FILTER (WHERE {_WITHHELD}), 0) AS withheld_sum_gbp"""
SUMS_DIFFER = """
       OR (f.gia_n, f.value_n, f.value_sum_gbp, f.withheld_n, f.withheld_sum_gbp)
          IS DISTINCT FROM (s.gia_n, s.value_n, s.value_sum_gbp, s.withheld_n, s.withheld_sum_gbp)
       OR abs(f.gia_sum_m2 - s.gia_sum_m2) > 1e-6 * greatest(1, abs(f.gia_sum_m2))"""

# Each stored cell against the same cell counted from scratch; any row printed is a difference.
DIFFERENCES = text(
    f"""
    WITH fresh AS (
      SELECT l AS level, tile_cell(ST_X(geom_3857), l) AS cx, tile_cell(-ST_Y(geom_3857), l) AS cy,
             owner, use_category, rag, sensitive,
             count(*) AS n, sum(ST_X(geom_3857)) AS sum_x, sum(ST_Y(geom_3857)) AS sum_y{FRESH_SUMS}
      FROM property, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
      WHERE deleted_at IS NULL AND geom_3857 IS NOT NULL AND (CAST(:owner AS text) IS NULL OR owner = :owner)
      GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), stored AS (
      SELECT * FROM tile_aggregate WHERE n <> 0 AND (CAST(:owner AS text) IS NULL OR owner = :owner)
    )
    SELECT f.*, s.n AS stored_n FROM fresh f FULL JOIN stored s
      ON (f.level, f.cx, f.cy, f.owner, f.use_category, f.sensitive) = (s.level, s.cx, s.cy, s.owner, s.use_category, s.sensitive)
         AND f.rag IS NOT DISTINCT FROM s.rag
    WHERE f.n IS DISTINCT FROM s.n
       OR abs(f.sum_x - s.sum_x) > 1e-6 * greatest(1, abs(f.sum_x))
       OR abs(f.sum_y - s.sum_y) > 1e-6 * greatest(1, abs(f.sum_y)){SUMS_DIFFER}
    LIMIT 5
    """
)

# The owner- and use-free sums (what unfiltered views read) against the same sums from scratch.
TOTAL_DIFFERENCES = text(
    f"""
    WITH fresh AS (
      SELECT l AS level, tile_cell(ST_X(geom_3857), l) AS cx, tile_cell(-ST_Y(geom_3857), l) AS cy, rag, sensitive,
             count(*) AS n, sum(ST_X(geom_3857)) AS sum_x, sum(ST_Y(geom_3857)) AS sum_y{FRESH_SUMS}
      FROM property, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
      WHERE deleted_at IS NULL AND geom_3857 IS NOT NULL
      GROUP BY 1, 2, 3, 4, 5
    ), stored AS (SELECT * FROM tile_aggregate_total WHERE n <> 0)
    SELECT f.*, s.n AS stored_n FROM fresh f FULL JOIN stored s
      ON (f.level, f.cx, f.cy, f.sensitive) = (s.level, s.cx, s.cy, s.sensitive) AND f.rag IS NOT DISTINCT FROM s.rag
    WHERE f.n IS DISTINCT FROM s.n
       OR abs(f.sum_x - s.sum_x) > 1e-6 * greatest(1, abs(f.sum_x))
       OR abs(f.sum_y - s.sum_y) > 1e-6 * greatest(1, abs(f.sum_y)){SUMS_DIFFER}
    LIMIT 5
    """
)

lon = st.floats(-2.7, -1.8)
lat = st.floats(51.95, 52.5)  # inside the seed's extent, which other tests check
rag = st.sampled_from([None, "red", "amber", "green"])
use = st.sampled_from(["office", "library", "depot"])
pick = st.integers(0, 10_000)
op = st.one_of(
    st.tuples(st.just("insert"), lon, lat, rag, use, st.booleans()),
    st.tuples(st.just("move"), pick, lon, lat),
    st.tuples(st.just("rate"), pick, rag),
    st.tuples(
        st.just("price"),
        pick,
        st.one_of(st.none(), st.floats(0, 5000)),
        st.one_of(st.none(), st.integers(0, 10**9)),
        st.sampled_from(["retained", "under_review", "marketed", "under_offer"]),
    ),
    st.tuples(st.just("retire"), pick),
    st.tuples(st.just("erase"), pick),
    st.tuples(
        st.just("sync"), st.lists(st.tuples(st.integers(0, 6), lon, lat, rag, st.booleans()), max_size=6)
    ),
)


def _differences(engine: Engine, owner: str | None) -> list[Any]:
    with engine.connect() as conn:
        found = list(conn.execute(DIFFERENCES, {"owner": owner}).mappings())
        return found + list(conn.execute(TOTAL_DIFFERENCES).mappings())


def _apply(
    owner_engine: Engine, client: Any, org: str, key: str, ops: list[Any], one_transaction: bool
) -> None:
    """Apply writes as the register's writers do: SQL in an attributed transaction, or a sync batch."""
    conn = owner_engine.connect()
    tx = conn.begin()
    conn.execute(text("SELECT set_config('estate.actor', 'test-aggregates', true)"))
    try:
        for step in ops:
            live = conn.execute(
                text("SELECT id::text FROM property WHERE owner = :o AND deleted_at IS NULL ORDER BY id"),
                {"o": org},
            ).scalars()
            ids = list(live)
            kind = step[0]
            if kind == "insert":
                _, x, y, r, u, sensitive = step
                conn.execute(
                    text(
                        "INSERT INTO property (owner, asset_ref, name, geom, use_category, rag, rag_reason, sensitive,"
                        " created_by, updated_by) VALUES (:o, gen_random_uuid()::text, 'Generated',"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4326), :u, :r, CASE WHEN CAST(:r AS text) IS NULL THEN NULL ELSE 'why' END,"
                        " :s, 'x', 'x')"
                    ),
                    {"o": org, "x": x, "y": y, "u": u, "r": r, "s": sensitive},
                )
            elif kind == "sync":
                if one_transaction:
                    continue  # a sync batch is a transaction of its own
                tx.commit()
                records = [
                    {"asset_ref": f"SYNC-{ref}", "deleted": True}
                    if gone
                    else {
                        "asset_ref": f"SYNC-{ref}",
                        "name": f"Synced {ref}",
                        "use_category": "office",
                        "geometry": {"type": "Point", "coordinates": [x, y]},
                        **({"rag": r, "rag_reason": "synced"} if r else {}),
                    }
                    for ref, x, y, r, gone in {s[0]: s for s in step[1]}.values()
                ]
                if records:
                    response = client.post(
                        "/sync/properties", json={"records": records}, headers=auth_header(key)
                    )
                    assert response.status_code in (200, 422), response.text
                tx = conn.begin()
                conn.execute(text("SELECT set_config('estate.actor', 'test-aggregates', true)"))
            elif ids:
                target = ids[step[1] % len(ids)]
                if kind == "move":
                    conn.execute(
                        text(
                            "UPDATE property SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) WHERE id = :id"
                        ),
                        {"x": step[2], "y": step[3], "id": target},
                    )
                elif kind == "rate":
                    conn.execute(
                        text(
                            "UPDATE property SET rag = :r, rag_reason = CASE WHEN CAST(:r AS text) IS NULL THEN NULL ELSE 'why' END WHERE id = :id"
                        ),
                        {"r": step[2], "id": target},
                    )
                elif kind == "price":
                    conn.execute(
                        text(
                            "UPDATE property SET gia_m2 = :g, value_gbp = :v, disposal_stage = :d WHERE id = :id"
                        ),
                        {"g": step[2], "v": step[3], "d": step[4], "id": target},
                    )
                elif kind == "retire":
                    conn.execute(
                        text("UPDATE property SET deleted_at = now(), deleted_by = 'x' WHERE id = :id"),
                        {"id": target},
                    )
                elif kind == "erase":
                    conn.execute(text("DELETE FROM property WHERE id = :id"), {"id": target})
            if not one_transaction:
                tx.commit()
                tx = conn.begin()
                conn.execute(text("SELECT set_config('estate.actor', 'test-aggregates', true)"))
        tx.commit()
    finally:
        conn.close()


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=10), one_transaction=st.booleans())
def test_aggregates_equal_a_fresh_group_by_after_any_writes(
    owner_engine, client, make_org, make_key, ops, one_transaction
) -> None:
    org = make_org()
    _apply(owner_engine, client, org, make_key(org, "writer"), ops, one_transaction)
    assert _differences(owner_engine, org) == []
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tile_pending")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM tile_tx")).scalar_one() == 0


def test_whole_register_aggregates_match_and_rebuild_keeps_them(owner_engine, seeded) -> None:
    from api.services.tiles import rebuild_aggregates

    assert _differences(owner_engine, None) == []
    with owner_engine.begin() as conn:
        assert rebuild_aggregates(conn) > 0
    assert _differences(owner_engine, None) == []
