"""Set-based upsert of many validated records through a COPY-filled staging table.

Used by partner sync, the seed and imports. One statement per step, never a
row-at-a-time loop: 10,000 records are a COPY and three SQL statements. The
caller's transaction makes the whole batch atomic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from gis import schema
from gis.errors import FieldError, ValidationFailed

# Staging column types; the order is the COPY order.
_STAGE_TYPES: dict[str, str] = {f.name: schema.stage_type(f) for f in schema.SCALAR_WRITABLE}
_DEFAULTS = {f.name: f.default_sql for f in schema.SCALAR_WRITABLE if f.default_sql is not None}
_DATA_COLUMNS = [c for c in _STAGE_TYPES if c not in ("owner", "asset_ref")]


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    retired: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "retired": self.retired,
        }


def _stage(conn: Connection, records: Sequence[Mapping[str, Any]]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_TYPES.items())
    conn.execute(
        text(
            f"""CREATE TEMP TABLE sync_stage (idx integer PRIMARY KEY, {columns}, geom_ewkt text,
            footprint_ewkt text, expected_version integer,
            tombstone boolean NOT NULL DEFAULT false) ON COMMIT DROP"""
        )
    )
    names = ["idx", *_STAGE_TYPES, "geom_ewkt", "footprint_ewkt", "expected_version", "tombstone"]
    raw = conn.connection.driver_connection
    assert raw is not None  # an open psycopg connection: COPY needs the driver's own
    with raw.cursor() as cursor, cursor.copy(f"COPY sync_stage ({', '.join(names)}) FROM STDIN") as copy:
        for idx, record in enumerate(records):
            copy.write_row(
                (
                    idx,
                    *(record.get(name) for name in _STAGE_TYPES),
                    record.get("geom"),
                    record.get("footprint"),
                    record.get("expected_version"),
                    bool(record.get("tombstone")),
                )
            )
    conn.execute(text("ANALYZE sync_stage"))


def upsert_records(
    conn: Connection, records: Sequence[Mapping[str, Any]], *, full_owner: str | None = None
) -> UpsertResult:
    """Insert or update records keyed on (owner, asset_ref); tombstones soft-delete.

    Each record is the whole state of the asset, so a field it leaves out is
    cleared (or reset to its default). With ``full_owner`` the batch is that
    owner's whole estate and its records missing from the batch are retired.
    Raises ValidationFailed (nothing written by this call) on duplicate keys
    or a stale expected version.
    """
    _stage(conn, records)
    dupes = (
        conn.execute(
            text(
                """SELECT min(idx) AS first, max(idx) AS idx, owner, asset_ref FROM sync_stage
           GROUP BY owner, asset_ref HAVING count(*) > 1 ORDER BY 2"""
            )
        )
        .mappings()
        .all()
    )
    errors = [
        FieldError("asset_ref", f"duplicate of record {d['first']} ({d['owner']}/{d['asset_ref']})", d["idx"])
        for d in dupes
    ]
    stale = (
        conn.execute(
            text(
                """SELECT s.idx, p.version FROM sync_stage s
           LEFT JOIN property p ON p.owner = s.owner AND p.asset_ref = s.asset_ref
           WHERE s.expected_version IS NOT NULL AND p.version IS DISTINCT FROM s.expected_version
           ORDER BY s.idx"""
            )
        )
        .mappings()
        .all()
    )
    errors += [
        FieldError(
            "expected_version",
            f"record is at version {r['version']}" if r["version"] else "no such record to match a version",
            r["idx"],
        )
        for r in stale
    ]
    if errors:
        raise ValidationFailed(errors, detail=f"{len(errors)} record(s) rejected; nothing was written")

    select_cols = ", ".join(
        f"coalesce(s.{c}, {_DEFAULTS[c]})" if c in _DEFAULTS else f"s.{c}" for c in _STAGE_TYPES
    )
    insert_cols = ", ".join(_STAGE_TYPES)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _DATA_COLUMNS)
    changed = " OR ".join(f"property.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in _DATA_COLUMNS)
    rows = (
        conn.execute(
            text(
                f"""INSERT INTO property ({insert_cols}, geom, footprint)
            SELECT {select_cols}, ST_GeomFromEWKT(s.geom_ewkt), ST_GeomFromEWKT(s.footprint_ewkt)
            FROM sync_stage s WHERE NOT s.tombstone ORDER BY s.idx
            ON CONFLICT (owner, asset_ref) DO UPDATE SET {updates},
                geom = EXCLUDED.geom, footprint = EXCLUDED.footprint,
                deleted_at = NULL, deleted_by = NULL
            WHERE {changed} OR property.geom IS DISTINCT FROM EXCLUDED.geom
               OR property.footprint IS DISTINCT FROM EXCLUDED.footprint
               OR property.deleted_at IS NOT NULL
            RETURNING id::text AS id, owner, asset_ref, version, (xmax = 0) AS inserted"""
            )
        )
        .mappings()
        .all()
    )
    result = UpsertResult()
    for row in rows:
        if row["inserted"]:
            result.inserted += 1
        else:
            result.updated += 1
        result.items.append(
            {
                "id": row["id"],
                "owner": row["owner"],
                "asset_ref": row["asset_ref"],
                "version": row["version"],
                "action": "inserted" if row["inserted"] else "updated",
            }
        )
    live = conn.execute(text("SELECT count(*) FROM sync_stage WHERE NOT tombstone")).scalar_one()
    result.unchanged = live - len(rows)
    deleted = (
        conn.execute(
            text(
                """UPDATE property p SET deleted_at = now(), deleted_by = current_setting('estate.actor')
           FROM sync_stage s WHERE s.tombstone AND p.owner = s.owner AND p.asset_ref = s.asset_ref
             AND p.deleted_at IS NULL RETURNING p.id::text AS id, p.owner, p.asset_ref, p.version"""
            )
        )
        .mappings()
        .all()
    )
    result.deleted = len(deleted)
    result.items += [{**dict(r), "action": "deleted"} for r in deleted]
    if full_owner is not None:
        retired = (
            conn.execute(
                text(
                    """UPDATE property p SET deleted_at = now(), deleted_by = current_setting('estate.actor')
               WHERE p.owner = :owner AND p.deleted_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM sync_stage s WHERE s.owner = p.owner AND s.asset_ref = p.asset_ref)
               RETURNING p.id::text AS id, p.owner, p.asset_ref, p.version"""
                ),
                {"owner": full_owner},
            )
            .mappings()
            .all()
        )
        result.retired = len(retired)
        result.items += [{**dict(r), "action": "retired"} for r in retired]
    return result
