"""Run Alembic migrations from code: the CLI, the tests' and benchmarks' fixtures, the prestart step.

Every call names its database URL; nothing here chooses one.
"""

from __future__ import annotations

from pathlib import Path

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
    """Why the database at ``url`` cannot serve this code (its schema is not at head), or None if it can."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    if current == heads:
        return None
    at = ", ".join(sorted(current)) or "no revision (never migrated)"
    return f"the database schema is at {at}; this code needs {', '.join(sorted(heads))}"


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
