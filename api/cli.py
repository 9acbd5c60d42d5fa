"""The ``estate`` command: everything a user does from a shell, as thin wrappers over services."""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from estate_infra.cluster import EmbeddedCluster

app = typer.Typer(
    help="Shared Estate: one register of every public building in a place.", no_args_is_help=True
)
db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster (when DATABASE_URL is unset).")
keys_app = typer.Typer(help="Partner API keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
import_app = typer.Typer(help="Import councils' asset files (Transparency Code CSV, vector layers).")
app.add_typer(import_app, name="import")
console = Console()


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _engine(owner: bool = False) -> Engine:
    from api.commands import cli_engine

    return cli_engine(owner)


def _cluster() -> EmbeddedCluster:
    from api.settings import get_settings
    from estate_infra.database import default_cluster

    return default_cluster(get_settings())


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded cluster."""
    from api.settings import get_settings
    from estate_infra.cluster import EmbeddedPostgresError

    if get_settings().database_url:
        console.print("DATABASE_URL is set: the embedded cluster is not used.")
        return
    try:
        cluster = _cluster()
        cluster.start()
    except EmbeddedPostgresError as exc:
        _fail(str(exc))
    console.print(f"embedded PostgreSQL running on 127.0.0.1:{cluster.port} (data in {cluster.root})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    _cluster().stop()
    console.print("embedded PostgreSQL stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded cluster (or DATABASE_URL) is in use and running."""
    from api.settings import get_settings
    from estate_infra.cluster import find_bin_dir

    settings = get_settings()
    if settings.database_url:
        console.print("using DATABASE_URL")
        return
    if find_bin_dir(settings.pg_bin_dir) is None:
        console.print("PostgreSQL/PostGIS not installed")
        raise typer.Exit(3)
    cluster = _cluster()
    state = "running" if cluster.running() else ("stopped" if cluster.initialised() else "not created")
    console.print(f"embedded PostgreSQL {state} (127.0.0.1:{cluster.port}, {cluster.root})")
    if state != "running":
        raise typer.Exit(3)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="upgrade to this revision")] = "head",
    down: Annotated[
        str | None,
        typer.Option(
            "--down",
            metavar="REV",
            help="downgrade to REV instead (a revision id, or 'base' for an empty database)",
        ),
    ] = None,
    yes_destroy_data: Annotated[
        bool,
        typer.Option("--yes-destroy-data", help="allow a downgrade that drops a register holding data"),
    ] = False,
) -> None:
    """Upgrade the schema (to head, or REVISION); with --down REV, revert it to REV."""
    from api.commands import database_url
    from estate_infra import migrations

    url = database_url()
    if down is None:
        migrations.upgrade(url, revision)
        console.print(f"schema upgraded to {revision}")
        return
    try:
        migrations.downgrade(url, down, destroy_data=yes_destroy_data)
    except migrations.RegisterHoldsData as exc:
        _fail(str(exc))
    console.print(f"schema downgraded to {down}")


@app.command()
def seed() -> None:
    """Load the Worcestershire seed (idempotent: twice gives the same rows)."""
    from api.commands import database_url
    from api.services.seed import load_seed
    from estate_infra import migrations

    migrations.upgrade(database_url())
    with Progress(console=console) as progress:
        task = progress.add_task("validating seed", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = load_seed(_engine(), progress=report)
    from sqlalchemy import text

    with _engine(owner=True).begin() as conn:
        conn.execute(text("ANALYZE property"))  # fresh planner statistics for counts and tiles
    console.print(f"seed loaded: {result.summary()}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes (cache and rate limit are shared)")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Run the API (uvicorn)."""
    import os

    import uvicorn
    from sqlalchemy.exc import OperationalError

    from api.commands import database_url
    from api.settings import get_settings
    from estate_infra.migrations import schema_behind

    # The command decides the database; the app is handed its URL and never starts one.
    settings = get_settings().model_copy(update={"database_url": database_url()})
    host, port = host or settings.host, port or settings.port
    # Workers read settings from the environment: hand them the URL (starting the embedded cluster once),
    # and the host served, which a request's Host header may name (ESTATE_ALLOWED_HOSTS).
    # A schema that is not this code's answers every request with a 500: say so once, here, instead.
    # A database that does not answer yet is served anyway: requests get 503 until it does.
    try:
        mismatch = schema_behind(settings.database_url or "")
    except OperationalError as exc:
        console.print(
            f"[yellow]The database does not answer now ({exc.orig}); serving anyway: "
            "requests get 503 until it does.[/yellow]"
        )
        mismatch = None
    if mismatch:
        console.print(f"[red]{mismatch}.[/red]")
        raise typer.Exit(1)
    os.environ["DATABASE_URL"] = settings.database_url or ""
    os.environ["ESTATE_HOST"] = host
    get_settings.cache_clear()
    console.print(f"Shared Estate on http://{host}:{port}/  (map: http://{host}:{port}/map, API docs: /docs)")
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
        # Client addresses are the rate limiter's key: never take them from a header by default.
        proxy_headers=False,
    )


@app.command()
def up(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Start the database, migrate, load the seed and serve: the first README command."""
    db_start()
    seed()
    serve(host=host, port=port)


feed_app = typer.Typer(help="The change feed.")
app.add_typer(feed_app, name="feed")
tiles_app = typer.Typer(help="Map tiles: the aggregates low zooms draw from, and their cache.")
app.add_typer(tiles_app, name="tiles")


@tiles_app.command("rebuild")
def tiles_rebuild() -> None:
    """Recount the low-zoom tile aggregates and empty the tile cache (after a bulk load)."""
    from api.services.tiles import rebuild_aggregates

    with _engine(owner=True).begin() as conn:
        cells = rebuild_aggregates(conn)
    console.print(f"tile aggregates rebuilt: {cells:,} cells")


@feed_app.command("prune")
def feed_prune(
    older_than_days: Annotated[
        int | None, typer.Option(min=0, help="default: ESTATE_FEED_RETENTION_DAYS (90)")
    ] = None,
) -> None:
    """Forget feed positions older than N days (history stays); older cursors then get 410 Gone."""
    from api.db import write_transaction
    from api.services.feed import prune_feed
    from api.settings import get_settings

    if older_than_days is None:
        older_than_days = get_settings().feed_retention_days
    with write_transaction(_engine(owner=True), cli_actor()) as conn:
        removed = prune_feed(conn, older_than_days)
    console.print(f"pruned {removed} feed positions older than {older_than_days} days")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="organisation code")],
    role: Annotated[
        str, typer.Option(help="viewer | editor | org-admin | admin (reader/writer still read)")
    ] = "viewer",
    label: Annotated[str | None, typer.Option()] = None,
    expires_days: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is kept."""
    from api import auth
    from api.db import write_transaction
    from gis.errors import ValidationFailed

    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days) if expires_days else None
    try:
        with write_transaction(_engine(owner=True), cli_actor()) as conn:
            key = auth.create_key(conn, org, role, label=label, expires_at=expires)
    except ValidationFailed as exc:
        _fail(exc.detail)
    console.print(f"key for {org} ({role}); store it now, it is not shown again:")
    print(key["key"])


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, organisation, role, state); never the keys themselves."""
    from api import auth

    with _engine(owner=True).connect() as conn:
        rows = auth.list_keys(conn)
    table = Table("prefix", "org", "role", "label", "created", "expires", "state")
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        table.add_row(
            r["prefix"],
            r["org"],
            r["role"],
            r["label"] or "",
            str(r["created_at"])[:19],
            str(r["expires_at"] or "")[:19],
            state,
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (the 8 characters after se_)."""
    from api import auth
    from api.db import write_transaction

    with write_transaction(_engine(owner=True), cli_actor()) as conn:
        if not auth.revoke_key(conn, prefix.removeprefix("se_").split("_")[0]):
            _fail(f"no active key with prefix {prefix}")
    console.print(f"revoked {prefix}")


def _wire_commands() -> None:
    """Commands that live in api/commands/, one module per capability."""
    from api.commands.colocation import colocation
    from api.commands.disposal import disposal_app, rag_app, webhooks_app
    from api.commands.export import export
    from api.commands.imports import import_transparency, import_vector
    from api.commands.people import orgs_app, users_app
    from api.commands.receipts import receipts

    app.add_typer(orgs_app, name="orgs")
    app.add_typer(users_app, name="users")

    import_app.command("transparency")(import_transparency)
    import_app.command("vector")(import_vector)
    app.command("receipts")(receipts)
    app.command("export")(export)
    app.command("colocation")(colocation)
    app.add_typer(rag_app, name="rag")
    app.add_typer(disposal_app, name="disposal")
    app.add_typer(webhooks_app, name="webhooks")


_wire_commands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
