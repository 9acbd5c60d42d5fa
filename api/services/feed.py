"""The change feed: every insert, update and delete in commit order, resumable and gap-free.

Each writing transaction gets one sequence number at COMMIT, taken under a
lock held until the commit is visible (see migration 0001), so numbers become
visible in increasing order: a reader that has seen number n can never later
find a smaller one. The cursor is (transaction sequence, history row id).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Connection, text

from api.services.properties import TRANSITION_COLUMNS, TRANSITION_JOIN, state_to_record
from gis import visibility
from gis.errors import FieldError, Gone, ValidationFailed


def encode_feed_cursor(seq: int, history_id: int) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{history_id}".encode()).decode().rstrip("=")


def decode_feed_cursor(token: str | None) -> tuple[int, int]:
    if not token:
        return 0, 0
    try:
        seq, hid = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
        return int(seq), int(hid)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed([FieldError("since", "not a cursor this feed issued")]) from None


def _entry(row: Any, viewer: visibility.Viewer) -> dict[str, Any] | None:
    current = None
    if row["current_owner"] is not None:
        current = {
            "owner": row["current_owner"],
            "sensitive": row["current_sensitive"],
            "disposal_stage": row["current_stage"],
        }

    def side(state: dict[str, Any] | None, now: dict[str, Any] | None) -> dict[str, Any] | None:
        if state is None:
            return None
        return visibility.project(state_to_record(state), viewer, current=now)

    if current is not None and not visibility.record_visible(current, viewer):
        # Hidden now (flagged sensitive): its past is hidden too. The one entry where
        # it left this viewer's sight becomes a bare tombstone, so a mirror drops it.
        if side(row["before"], None) is None or side(row["after"], None) is not None:
            return None
        return {
            "cursor": encode_feed_cursor(row["seq"], row["id"]),
            "seq": row["seq"],
            "action": "delete",
            "property_id": str(row["property_id"]),
            "owner": row["owner"],
            "asset_ref": None,
            "version": row["version"],
            "changed_at": row["changed_at"].isoformat(),
            "actor": None,
            "record": None,
        }
    before, after = side(row["before"], current), side(row["after"], current)
    if before is None and after is None:
        return None  # never visible to this viewer
    action = row["action"]
    deleted_state = row["after"] is not None and row["after"].get("deleted_at") is not None
    if after is None or action == "delete" or deleted_state:
        # Deleted, or no longer visible to this viewer (e.g. flagged sensitive): a tombstone.
        action, after = "delete", None
    elif before is None and action == "update":
        action = "insert"  # newly visible to this viewer
    tier = viewer.tier_for(row["owner"])
    ref = (row["after"] or row["before"] or {}).get("asset_ref")
    entry = {
        "cursor": encode_feed_cursor(row["seq"], row["id"]),
        "seq": row["seq"],
        "action": action,
        "property_id": str(row["property_id"]),
        "owner": row["owner"],
        "asset_ref": ref,
        "version": row["version"],
        "changed_at": row["changed_at"].isoformat(),
        "actor": row["actor"] if tier >= visibility.Tier.partner else None,
        "record": after,
    }
    if row["transition"] is not None and visibility.sees_disposal(viewer, row["owner"]):
        entry["transition"] = row["transition"]
    return entry


def read_changes(
    conn: Connection,
    since: str | None,
    viewer: visibility.Viewer,
    *,
    limit: int = 1000,
    owner: str | None = None,
) -> dict[str, Any]:
    """Return the changes after ``since`` (oldest first) and the cursor to continue from."""
    seq, hid = decode_feed_cursor(since)
    pruned_through = conn.execute(text("SELECT pruned_through FROM feed_state")).scalar_one()
    if since and seq < pruned_through:
        raise Gone(
            "this cursor is older than the feed keeps; resync with a full read of /properties, "
            "then follow the feed from the cursor /changes returns with no 'since'"
        )
    params: dict[str, Any] = {"seq": seq, "hid": hid, "limit": limit + 1}
    owner_clause = ""
    if owner:
        owner_clause = " AND h.owner = :owner"
        params["owner"] = owner
    rows = (
        conn.execute(
            text(
                f"""SELECT f.seq, h.id, h.property_id, h.owner, h.action, h.actor, h.changed_at, h.version, h.before, h.after,
                   p.owner AS current_owner, p.sensitive AS current_sensitive, p.disposal_stage AS current_stage,
                   {TRANSITION_COLUMNS}
            FROM feed_tx f JOIN property_history h ON h.txid = f.txid
            LEFT JOIN property p ON p.id = h.property_id
            {TRANSITION_JOIN}
            WHERE f.seq IS NOT NULL AND (f.seq, h.id) > (:seq, :hid){owner_clause}
            ORDER BY f.seq, h.id LIMIT :limit"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = [e for r in rows if (e := _entry(r, viewer)) is not None]
    # The cursor moves past rows this viewer may not see too, so paging never stalls.
    next_cursor = (
        encode_feed_cursor(rows[-1]["seq"], rows[-1]["id"])
        if rows
        else (since or encode_feed_cursor(*_head(conn)))
    )
    return {"changes": changes, "next": next_cursor, "has_more": has_more}


def _head(conn: Connection) -> tuple[int, int]:
    """The position just before everything: (pruned_through, 0)."""
    return conn.execute(text("SELECT pruned_through FROM feed_state")).scalar_one(), 0


def prune_feed(conn: Connection, older_than_days: int) -> int:
    """Forget feed positions older than N days (history stays); older cursors then get 410."""
    row = conn.execute(
        text(
            """WITH gone AS (DELETE FROM feed_tx WHERE committed_at < now() - make_interval(days => :days)
                         RETURNING seq)
           UPDATE feed_state SET pruned_through = greatest(pruned_through, (SELECT coalesce(max(seq), 0) FROM gone))
           RETURNING pruned_through, (SELECT count(*) FROM gone)"""
        ),
        {"days": older_than_days},
    ).one()
    return int(row[1])
