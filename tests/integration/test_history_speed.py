"""The history trigger plans its join for the batch it sees, never with a plan kept from an empty batch.

A kept nested-loop plan made 10,000 updates in one sync batch take minutes
(bench/sync_batch.py prints the timings); here the plan itself is checked,
with auto_explain, so the test needs no clock.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from api.db import set_actor

ROWS = 300


def _history_plans(owner_engine: Engine, org: str) -> list[str]:
    with owner_engine.connect() as conn:
        trans = conn.begin()
        try:
            set_actor(conn, "test-history-speed")
            conn.execute(
                text(
                    "INSERT INTO property (owner, asset_ref, name) "
                    "SELECT :org, 'H-' || i, 'History ' || i FROM generate_series(1, :n) i"
                ),
                {"org": org, "n": ROWS},
            )
            # What a pooled connection often runs first: an upsert that updates nothing.
            conn.execute(text("UPDATE property SET name = name WHERE false"))
            conn.execute(text("LOAD 'auto_explain'"))
            for setting in (
                "auto_explain.log_min_duration = 0",
                "auto_explain.log_nested_statements = on",
                "auto_explain.log_level = notice",
                "client_min_messages = notice",
            ):
                conn.execute(text(f"SET LOCAL {setting}"))
            notices: list[str] = []
            conn.connection.driver_connection.add_notice_handler(
                lambda diag: notices.append(diag.message_primary or "")
            )
            conn.execute(text("UPDATE property SET name = name || ' (2)' WHERE owner = :org"), {"org": org})
            written = conn.execute(
                text("SELECT count(*) FROM property_history WHERE owner = :org AND action = 'update'"),
                {"org": org},
            ).scalar_one()
            assert written == ROWS
            return [n for n in notices if "INSERT INTO property_history" in n and "old_rows" in n]
        finally:
            trans.rollback()


def test_update_history_is_not_a_nested_loop_after_an_empty_batch(owner_engine, make_org) -> None:
    plans = _history_plans(owner_engine, make_org())
    assert plans, "auto_explain showed no plan for the history statement"
    assert all("Nested Loop" not in plan for plan in plans), plans[0]
