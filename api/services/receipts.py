"""Single-estate capital receipts over the register: load buildings, add co-location host flags, simulate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from api.services.colocation import host_flags
from gis import visibility
from gis.errors import Forbidden
from gis.receipts import EstateBuildings, ReceiptsScenario, compare_single_estate_with_silo


def require_partner(viewer: visibility.Viewer) -> None:
    """Receipts add up valuations, which the public may not see one by one."""
    if viewer.tier < visibility.Tier.partner:
        raise Forbidden("capital receipts need a partner key: they are built from valuations")


def load_estate(
    conn: Connection, viewer: visibility.Viewer, *, owner: str | None = None, town: str | None = None
) -> EstateBuildings:
    """Every live building the viewer may see, with the flags the receipts model needs."""
    value = visibility.sql_column("value_gbp", viewer, "p")
    params: dict[str, Any] = {**visibility.sql_params(viewer), "owner": owner, "town": town}
    rows = (
        conn.execute(
            text(
                f"""SELECT p.id::text AS id, p.owner, coalesce(p.post_town, '(no town)') AS town, p.use_category,
                   p.rag, p.disposal_stage, {value} AS value_gbp, p.gia_m2,
                   p.tenure_detail IS NOT DISTINCT FROM 'vacant' AS vacant
            FROM property p
            WHERE p.deleted_at IS NULL AND p.rag IS NOT NULL AND {visibility.sql_filter(viewer, "p")}
              AND (CAST(:owner AS text) IS NULL OR p.owner = :owner)
              AND (CAST(:town AS text) IS NULL OR lower(p.post_town) = lower(:town))
            ORDER BY p.id"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    flags = host_flags(conn, viewer=viewer)
    records = []
    for row in rows:
        own, partner = flags.get(row["id"], (False, False))
        records.append({**row, "own_host_nearby": own, "partner_host_nearby": partner})
    return EstateBuildings.from_records(records)


def estimate(
    conn: Connection,
    viewer: visibility.Viewer,
    scenario: ReceiptsScenario,
    *,
    owner: str | None = None,
    town: str | None = None,
) -> dict[str, Any]:
    """Single estate vs silo on the same random numbers, with every assumption echoed."""
    require_partner(viewer)
    result = compare_single_estate_with_silo(load_estate(conn, viewer, owner=owner, town=town), scenario)
    # The model needs a rating to judge a sale; unrated buildings are left out and counted.
    result["excluded_unrated"] = conn.execute(
        text(
            f"""SELECT count(*) FROM property p WHERE p.deleted_at IS NULL AND p.rag IS NULL
              AND {visibility.sql_filter(viewer, "p")}
              AND (CAST(:owner AS text) IS NULL OR p.owner = :owner)
              AND (CAST(:town AS text) IS NULL OR lower(p.post_town) = lower(:town))"""
        ),
        {**visibility.sql_params(viewer), "owner": owner, "town": town},
    ).scalar_one()
    return result
