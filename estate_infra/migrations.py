"""Run Alembic migrations from code: the CLI, the tests' and benchmarks' fixtures, the prestart step.

Every call names its database URL; nothing here chooses one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, pool, text

ROOT = Path(__file__).resolve().parent.parent


class RegisterHoldsData(RuntimeError):
    """A downgrade would drop tables or columns of a register that holds properties."""


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def schema_behind(url: str) -> str | None:
    """Why the database at ``url`` cannot serve this code (its schema is not at this code's head),
    with what to do about it; None if it can. Raises sqlalchemy's OperationalError if unreachable."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    heads = set(script.get_heads())
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    if current == heads:
        return None
    at, needs = ", ".join(sorted(current)) or "no revision (never migrated)", ", ".join(sorted(heads))
    unknown = [revision for revision in current if not _known(script, revision)]
    if unknown:
        return (
            f"the database schema is at {at}, newer than this code knows (it needs {needs}): serve it with "
            "the release that migrated it, or take it down with that release's `estate migrate --down`"
        )
    return f"the database schema is at {at}; this code needs {needs}. Run `estate migrate` first"


def _known(script: Any, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises its resolution errors for a revision it has no file of
        return False


def property_count(url: str) -> int:
    """How many property rows (retired ones included) the database holds; 0 before the first migration."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("property"):
                return 0
            count: int = conn.execute(text("SELECT count(*) FROM property")).scalar_one()
            return count
    finally:
        engine.dispose()


def downgrade(url: str, revision: str, *, destroy_data: bool = False) -> None:
    """Revert the schema to ``revision`` ("base" = nothing).

    Every downgrade drops tables or columns, so one over a register that holds
    properties is refused unless ``destroy_data`` says the loss is intended.
    """
    if not destroy_data:
        held = property_count(url)
        if held:
            raise RegisterHoldsData(
                f"the register holds {held:,} properties; downgrading to {revision} would destroy "
                "data (pass --yes-destroy-data if that is intended)"
            )
    command.downgrade(alembic_config(url), revision)
