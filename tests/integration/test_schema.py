"""Schema by Alembic, and the database's own guarantees: history, actor, append-only audit."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from api.db import set_actor
from estate_infra import migrations


def test_migrations_go_down_to_base_and_up_again(pg_cluster) -> None:
    # A separate database so the session's seeded register is untouched.
    admin = create_engine(pg_cluster.url().rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS migrations_roundtrip"))
        conn.execute(text("CREATE DATABASE migrations_roundtrip"))
    url = pg_cluster.url().rsplit("/", 1)[0] + "/migrations_roundtrip"
    engine = create_engine(url)
    try:
        migrations.upgrade(url)
        migrations.downgrade(url, "base")
        with engine.connect() as conn:
            tables = set(
                conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars()
            )
        assert "property" not in tables and "property_history" not in tables
        migrations.upgrade(url)
        with engine.connect() as conn:
            srid = conn.execute(text("SELECT Find_SRID('public', 'property', 'geom')")).scalar_one()
            indexed = conn.execute(
                text(
                    "SELECT count(*) FROM pg_indexes WHERE tablename='property' AND indexdef ILIKE '%gist (geom)%'"
                )
            ).scalar_one()
        assert srid == 4326 and indexed == 1
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS migrations_roundtrip WITH (FORCE)"))
        admin.dispose()


def test_write_without_actor_fails(db: Connection, make_org) -> None:
    org = make_org()
    with pytest.raises(DBAPIError, match="no actor"):
        db.execute(text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'A1', 'n')"), {"o": org})


def test_one_history_row_per_change_with_actor(db: Connection, make_org) -> None:
    org = make_org()
    set_actor(db, "alice")
    pid = db.execute(
        text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'H1', 'n') RETURNING id"), {"o": org}
    ).scalar_one()
    set_actor(db, "bob")
    db.execute(text("UPDATE property SET name = 'renamed' WHERE id = :id"), {"id": pid})
    set_actor(db, "carol")
    db.execute(text("UPDATE property SET deleted_at = now() WHERE id = :id"), {"id": pid})
    rows = db.execute(
        text("SELECT action, actor, version FROM property_history WHERE property_id = :id ORDER BY id"),
        {"id": pid},
    ).all()
    assert [tuple(r) for r in rows] == [("insert", "alice", 1), ("update", "bob", 2), ("delete", "carol", 3)]


@pytest.mark.parametrize(
    "statement", ["UPDATE property_history SET actor = 'mallory'", "DELETE FROM property_history"]
)
def test_app_role_cannot_alter_or_delete_history(db: Connection, statement: str) -> None:
    set_actor(db, "mallory")
    with pytest.raises(DBAPIError, match="permission denied|append-only"):
        db.execute(text(statement))


def test_history_is_append_only_even_for_the_owner(owner_engine, make_org) -> None:
    org = make_org()
    with owner_engine.connect() as conn, conn.begin() as transaction:
        set_actor(conn, "owner")
        # A history row of this test's own, so the refusal does not depend on what earlier tests wrote.
        conn.execute(
            text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'AO1', 'n')"), {"o": org}
        )
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM property_history WHERE owner = :o"), {"o": org})
        transaction.rollback()


def test_invalid_footprint_refused_by_database_too(db: Connection, make_org) -> None:
    org = make_org()
    set_actor(db, "t")
    with pytest.raises(DBAPIError):
        db.execute(
            text(
                "INSERT INTO property (owner, asset_ref, name, footprint) VALUES (:o, 'F1', 'n', "
                "ST_GeomFromText('MULTIPOLYGON(((0 0, 1 1, 1 0, 0 1, 0 0)))', 4326))"
            ),
            {"o": org},
        )


def test_the_record_definition_matches_the_migrated_table(engine) -> None:
    from gis import schema

    with engine.connect() as conn:
        columns = dict(
            conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = 'property'"
                )
            ).all()
        )
    defined = {f.stored_as: f.sql_type for f in schema.FIELDS}
    stored = {name: kind for name, kind in columns.items() if name not in schema.DERIVED_COLUMNS}
    assert defined == stored


def test_migrations_never_import_application_code() -> None:
    import ast
    from pathlib import Path

    versions = Path(migrations.__file__).resolve().parent.parent / "migrations" / "versions"
    imported: dict[str, list[str]] = {}
    for path in versions.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        ]
        ours = [n for n in names if n.split(".")[0] in ("api", "gis", "seed", "estate_infra")]
        if ours:
            imported[path.name] = ours
    assert imported == {}


def test_alembic_env_and_infrastructure_import_no_web_or_domain_code() -> None:
    import ast
    from pathlib import Path

    root = Path(migrations.__file__).resolve().parent.parent
    found: dict[str, list[str]] = {}
    for path in [root / "migrations" / "env.py", *sorted((root / "estate_infra").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        names = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        ]
        ours = [n for n in names if n.split(".")[0] in ("api", "gis", "seed")]
        if ours:
            found[path.name] = ours
    assert found == {}
