"""The change feed misses nothing when transactions commit in the opposite order to their start."""

from __future__ import annotations

from sqlalchemy import text

from api.db import set_actor
from api.services.feed import read_changes
from gis.visibility import Tier, Viewer

ADMIN = Viewer(Tier.owner, admin=True)


def _drain(engine, cursor: str | None, owner: str) -> tuple[list[dict], str]:
    seen = []
    with engine.connect() as conn:
        while True:
            page = read_changes(conn, cursor, ADMIN, limit=500, owner=owner)
            seen += page["changes"]
            cursor = page["next"]
            if not page["has_more"]:
                return seen, cursor


def test_feed_misses_no_version_when_commits_are_out_of_order(engine, make_org) -> None:
    org = make_org()
    _, cursor = _drain(engine, None, org)
    first = engine.connect()
    second = engine.connect()
    try:
        t1 = first.begin()
        set_actor(first, "first")
        first.execute(
            text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'A', 'started first')"),
            {"o": org},
        )
        t2 = second.begin()
        set_actor(second, "second")
        second.execute(
            text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'B', 'started second')"),
            {"o": org},
        )
        t2.commit()  # the later transaction commits first
        seen_early, cursor = _drain(engine, cursor, org)
        assert [c["asset_ref"] for c in seen_early] == ["B"]
        t1.commit()
        seen_late, cursor = _drain(engine, cursor, org)
        assert [c["asset_ref"] for c in seen_late] == ["A"]  # not skipped by the cursor
    finally:
        first.close()
        second.close()


def test_feed_entries_carry_every_version_once(engine, make_org) -> None:
    org = make_org()
    _, cursor = _drain(engine, None, org)
    with engine.begin() as conn:
        set_actor(conn, "t")
        pid = conn.execute(
            text("INSERT INTO property (owner, asset_ref, name) VALUES (:o, 'V', 'v1') RETURNING id"),
            {"o": org},
        ).scalar_one()
    for i in range(2, 6):
        with engine.begin() as conn:
            set_actor(conn, "t")
            conn.execute(text("UPDATE property SET name = :n WHERE id = :id"), {"n": f"v{i}", "id": pid})
    seen, _ = _drain(engine, cursor, org)
    assert [c["version"] for c in seen] == [1, 2, 3, 4, 5]
    assert [c["record"]["name"] for c in seen] == ["v1", "v2", "v3", "v4", "v5"]
