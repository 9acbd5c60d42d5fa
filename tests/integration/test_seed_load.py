"""The Worcestershire seed as loaded into PostGIS: totals, placement, idempotence."""

from __future__ import annotations

from sqlalchemy import text

from api.services.seed import load_seed


def test_seed_totals_in_the_register(seeded) -> None:
    with seeded.connect() as conn:
        rows, value_gbp, owners = conn.execute(
            text(
                "SELECT count(*), sum(value_gbp), count(DISTINCT owner) FROM property "
                "WHERE created_by = 'seed:worcestershire'"
            )
        ).one()
    assert rows >= 1300 and value_gbp > 3_000_000_000 and owners >= 12


def test_every_seed_rating_has_a_reason_and_crematoria_are_red(seeded) -> None:
    with seeded.connect() as conn:
        missing = conn.execute(
            text(
                "SELECT count(*) FROM property WHERE (rag IS NULL OR rag_reason IS NULL) "
                "AND created_by = 'seed:worcestershire'"
            )
        ).scalar_one()
        not_red = conn.execute(
            text(
                "SELECT count(*) FROM property WHERE use_category = 'crematorium_cemetery' "
                "AND rag <> 'red' AND created_by = 'seed:worcestershire'"
            )
        ).scalar_one()
    assert missing == 0 and not_red == 0


def test_evesham_cluster_is_within_a_few_hundred_metres(seeded) -> None:
    with seeded.connect() as conn:
        owners, spread_m = conn.execute(
            text(
                """SELECT count(DISTINCT a.owner), max(ST_Distance(a.geom_bng, b.geom_bng))
               FROM property a JOIN property b USING (post_town)
               WHERE post_town = 'Evesham' AND a.name IN ('Evesham Police Station', 'Evesham Jobcentre Plus',
                 'Evesham Customer Service Centre', 'Wychavon Council Offices, Evesham')
                 AND b.name IN ('Evesham Police Station', 'Evesham Jobcentre Plus',
                 'Evesham Customer Service Centre', 'Wychavon Council Offices, Evesham')"""
            )
        ).one()
    assert owners == 4 and spread_m < 400


def test_loading_the_seed_twice_changes_nothing(seeded) -> None:
    def state():
        with seeded.connect() as conn:
            return conn.execute(
                text("SELECT count(*), sum(version), (SELECT count(*) FROM property_history) FROM property")
            ).one()

    before = state()
    result = load_seed(seeded)
    assert result.inserted == 0 and result.updated == 0 and result.unchanged >= 1300
    assert state() == before
