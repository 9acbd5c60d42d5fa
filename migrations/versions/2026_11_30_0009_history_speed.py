"""History of large updates at insert speed: the trigger's join is planned for the batch it sees.

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-30

Where the time went: the statement-level history trigger pairs the old and new
transition tables on ``id``. PL/pgSQL plans that join once per connection and
keeps the plan; the first time a pooled connection runs it is often with empty
transition tables (every INSERT … ON CONFLICT DO UPDATE fires the UPDATE
trigger, even when it updated nothing), so the kept plan is a nested loop, and
the next 10,000-record update ran it as 10⁸ row pairs: 177 s against 6 s for
10,000 inserts, measured with ``bench/sync_batch.py``'s records (tombstones, which
are updates, the same). Run through EXECUTE, the statement is planned on each
call with the transition tables' real sizes (a hash or merge join at any size
that matters). JIT is off for the history functions: the planner's cost of a
10,000-row join crossed jit_above_cost and compiling took ~0.4 s a batch, more
than the work it sped up.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None

HISTORY_FUNCTIONS = ("property_history_insert()", "property_history_update()", "property_history_delete()")


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION property_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          actor text := estate_actor();
          written bigint;
        BEGIN
          -- EXECUTE: planned for this call's transition tables, never a plan kept from an empty one.
          EXECUTE $sql$
            INSERT INTO property_history (property_id, owner, action, actor, version, before, after)
            SELECT n.id, n.owner,
                   CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'delete' ELSE 'update' END,
                   $1, n.version, property_state(o), property_state(n)
            FROM new_rows n JOIN old_rows o ON o.id = n.id
          $sql$ USING actor;
          GET DIAGNOSTICS written = ROW_COUNT;
          IF written > 0 THEN PERFORM feed_mark_transaction(); END IF;
          RETURN NULL;
        END $$;
        """
    )
    for function in HISTORY_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} SET jit = off")


def downgrade() -> None:
    for function in HISTORY_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} RESET jit")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION property_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE actor text := estate_actor();
        BEGIN
          INSERT INTO property_history (property_id, owner, action, actor, version, before, after)
          SELECT n.id, n.owner,
                 CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'delete' ELSE 'update' END,
                 actor, n.version,
                 property_state(o),
                 property_state(n)
          FROM new_rows n JOIN old_rows o ON o.id = n.id;
          IF FOUND THEN PERFORM feed_mark_transaction(); END IF;
          RETURN NULL;
        END $$;
        """
    )
