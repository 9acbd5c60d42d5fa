"""The estate command against the test cluster: keys, seed, db status, feed pruning."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import Result
from sqlalchemy import Engine, text
from support import auth_header, words
from typer.testing import CliRunner

from estate_infra.cluster import EmbeddedCluster


def test_keys_create_list_revoke(cli, client, make_org) -> None:
    org = make_org()
    created = cli("keys", "create", "--org", org, "--role", "writer")
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("se_")
    assert client.get("/properties?limit=1", headers=auth_header(key)).status_code == 200
    prefix = key.split("_")[1]
    listed = cli("keys", "list")
    assert prefix in listed.output and key not in listed.output
    assert cli("keys", "revoke", prefix).exit_code == 0
    assert client.get("/properties?limit=1", headers=auth_header(key)).status_code == 401


def test_keys_create_for_unknown_org_fails_clearly(cli) -> None:
    result = cli("keys", "create", "--org", "nobody-here", "--role", "reader")
    assert result.exit_code == 1 and "unknown organisation" in result.output


def test_seed_command_is_idempotent(cli, seeded) -> None:
    with seeded.connect() as conn:
        before = conn.execute(text("SELECT count(*), sum(version) FROM property")).one()
    result = cli("seed")
    assert result.exit_code == 0 and "'inserted': 0" in result.output
    with seeded.connect() as conn:
        assert conn.execute(text("SELECT count(*), sum(version) FROM property")).one() == before


def test_db_status_with_database_url(cli) -> None:
    result = cli("db", "status")
    assert result.exit_code == 0 and "DATABASE_URL" in result.output


def test_feed_prune_makes_old_cursors_gone(cli, client, owner_engine) -> None:
    from api.services.feed import encode_feed_cursor

    with owner_engine.connect() as conn:
        pruned_before = conn.execute(text("SELECT pruned_through FROM feed_state")).scalar_one()
    # Nothing is older than 3650 days: pruning removes nothing and old cursors stay valid.
    assert cli("feed", "prune", "--older-than-days", "3650").exit_code == 0
    assert client.get(f"/changes?since={encode_feed_cursor(pruned_before, 0)}&limit=1").status_code == 200


def test_embedded_cluster_start_status_stop(monkeypatch, tmp_path_factory) -> None:
    import socket
    import tempfile
    from pathlib import Path

    from api import db, settings
    from api.cli import app
    from estate_infra.cluster import free_port

    data_dir = Path(tempfile.mkdtemp(prefix="estate-cli-pg-"))
    port = free_port()
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ESTATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ESTATE_PG_PORT", str(port))
    settings.get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "status"]).exit_code == 3  # not created yet
        started = runner.invoke(app, ["db", "start"])
        assert started.exit_code == 0 and f"127.0.0.1:{port}" in started.output
        status = runner.invoke(app, ["db", "status"])
        assert status.exit_code == 0 and "running" in status.output
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening on loopback
        assert (data_dir / "password").stat().st_mode & 0o077 == 0  # private
    finally:
        runner.invoke(app, ["db", "stop"])
        settings.get_settings.cache_clear()
        db.get_engine.cache_clear()
    assert runner.invoke(app, ["db", "status"]).exit_code == 3
    import shutil

    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture()
def scratch_register(pg_cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The estate command pointed at a database of its own on the test cluster (dropped afterwards)."""
    from sqlalchemy import create_engine

    from api import settings

    server = pg_cluster.url().rsplit("/", 1)[0]
    admin = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS cli_migrate WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE cli_migrate"))
    url = server + "/cli_migrate"
    monkeypatch.setenv("DATABASE_URL", url)
    settings.get_settings.cache_clear()
    engine = create_engine(url)
    yield engine
    engine.dispose()
    settings.get_settings.cache_clear()
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS cli_migrate WITH (FORCE)"))
    admin.dispose()


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )


def test_serve_refuses_a_database_behind_the_code_and_says_how_to_fix_it(scratch_register: Engine) -> None:
    from api.cli import app

    runner = CliRunner()
    never = runner.invoke(app, ["serve", "--port", "9"])
    assert never.exit_code == 1
    assert "never migrated" in words(never.output) and "estate migrate" in never.output
    assert runner.invoke(app, ["migrate", "0001"]).exit_code == 0
    behind = runner.invoke(app, ["serve", "--port", "9"])
    assert behind.exit_code == 1 and "schema is at 0001" in words(behind.output)
    # Migrated by a newer release: migrating is not the cure, and the message does not say it is.
    with scratch_register.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    ahead = runner.invoke(app, ["serve", "--port", "9"])
    assert ahead.exit_code == 1 and "newer than this code knows" in words(ahead.output)
    assert "Run `estate migrate`" not in ahead.output


def test_serve_starts_while_the_database_does_not_answer_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a container started before its database: served, requests get 503 until it answers."""
    import uvicorn
    from support import free_port

    from api import settings
    from api.cli import app

    served: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))  # not a real server
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://estate:x@127.0.0.1:{free_port()}/estate")
    monkeypatch.delenv("ESTATE_HOST", raising=False)  # serve sets it for its workers: restored after
    settings.get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "9"])
    finally:
        settings.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "does not answer now" in words(result.output) and "503" in result.output
    assert len(served) == 1 and served[0]["port"] == 9


def test_migrate_down_needs_a_revision_and_refuses_to_drop_data(scratch_register: Engine) -> None:
    from api.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert "property" in _tables(scratch_register)

    # No revision: refused before anything is touched (it used to drop every table).
    bare = runner.invoke(app, ["migrate", "--down"])
    assert bare.exit_code == 2 and "requires an argument" in bare.output
    assert "property" in _tables(scratch_register)

    with scratch_register.begin() as conn:
        conn.execute(
            text("INSERT INTO organisation (code, name, kind) VALUES ('cli-co', 'Cli Co', 'district')")
        )
        conn.execute(text("SELECT set_config('estate.actor', 'test', true)"))
        conn.execute(text("INSERT INTO property (owner, asset_ref, name) VALUES ('cli-co', 'A1', 'Kept')"))

    refused = runner.invoke(app, ["migrate", "--down", "base"])
    assert refused.exit_code == 1 and "holds 1 properties" in refused.output
    assert "--yes-destroy-data" in refused.output
    with scratch_register.connect() as conn:
        assert conn.execute(text("SELECT name FROM property")).scalar_one() == "Kept"

    destroyed = runner.invoke(app, ["migrate", "--down", "base", "--yes-destroy-data"])
    assert destroyed.exit_code == 0, destroyed.output
    assert "property" not in _tables(scratch_register)
    # An empty register goes down and up without the flag.
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["migrate", "--down", "base"]).exit_code == 0
    assert "property" not in _tables(scratch_register)


def test_feed_prune_defaults_to_the_retention_setting(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import settings

    monkeypatch.setenv("ESTATE_FEED_RETENTION_DAYS", "3650")
    settings.get_settings.cache_clear()
    result = cli("feed", "prune")
    assert result.exit_code == 0 and "older than 3650 days" in result.output
