"""Reading and writing properties: the register's own SQL, called by routes, CLI and sync."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.services.filters import PropertyFilter
from gis import register, schema, visibility
from gis.errors import (
    Conflict,
    FieldError,
    Forbidden,
    PreconditionRequired,
    PropertyNotFound,
    ValidationFailed,
    VersionMismatch,
)

# Every stored field as the API names it; geometry comes out as GeoJSON.
RECORD_SELECT = schema.select_list("p")


def record_select(viewer: visibility.Viewer | None) -> str:
    """The select list of a read for ``viewer`` (None: the whole record, for writes and the CLI)."""
    if viewer is None:
        return RECORD_SELECT
    return schema.select_list("p", visibility.fields_to_read(viewer))


_TIMESTAMPS = tuple(f.name for f in schema.FIELDS if f.python_type is dt.datetime)


# A history row written by a disposal transition carries it (same transaction, same building):
# the change feed and the history show when, why and from which stage the building moved.
TRANSITION_JOIN = """LEFT JOIN disposal_transition t ON t.txid = h.txid AND t.property_id = h.property_id"""
TRANSITION_COLUMNS = """CASE WHEN t.id IS NULL THEN NULL ELSE json_build_object(
        'id', t.id, 'from_stage', t.from_stage, 'to_stage', t.to_stage,
        'effective_on', t.effective_on, 'note', t.note) END AS transition"""


def _record(row: Mapping[Any, Any]) -> dict[str, Any]:
    record = dict(row)
    for key in _TIMESTAMPS:
        if record.get(key) is not None:
            record[key] = record[key].isoformat()
    if record.get("disposal_blockers") is None:
        record["disposal_blockers"] = []
    return record


def _parse_uuid(property_id: str) -> str:
    try:
        return str(uuid.UUID(str(property_id)))
    except ValueError:
        raise PropertyNotFound(f"no property with id {property_id!r}") from None


def get_record(
    conn: Connection,
    property_id: str,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
    viewer: visibility.Viewer | None = None,
) -> dict[str, Any]:
    """Return the stored record (all tiers, or what ``viewer`` may receive); callers project it."""
    sql, params = _get_sql(property_id, for_update, include_deleted, viewer)
    row = conn.execute(sql, params).mappings().first()
    if row is None:
        raise PropertyNotFound(f"no property with id {params['id']}")
    return _record(row)


def _get_sql(
    property_id: str, for_update: bool, include_deleted: bool, viewer: visibility.Viewer | None
) -> tuple[Any, dict[str, Any]]:
    pid = _parse_uuid(property_id)
    lock = " FOR UPDATE OF p" if for_update else ""
    deleted = "" if include_deleted else " AND p.deleted_at IS NULL"
    return text(f"SELECT {record_select(viewer)} FROM property p WHERE p.id = :id{deleted}{lock}"), {
        "id": pid
    }


async def get_visible_async(
    conn: AsyncConnection, property_id: str, viewer: visibility.Viewer
) -> dict[str, Any]:
    """As get_visible, on the async pool of the serving path."""
    sql, params = _get_sql(property_id, False, False, viewer)
    row = (await conn.execute(sql, params)).mappings().first()
    projected = visibility.project(_record(row), viewer) if row is not None else None
    if projected is None:
        # The same answer as for an id that does not exist: hidden means absent.
        raise PropertyNotFound(f"no property with id {params['id']}")
    return projected


def get_visible(conn: Connection, property_id: str, viewer: visibility.Viewer) -> dict[str, Any]:
    record = get_record(conn, property_id, viewer=viewer)
    projected = visibility.project(record, viewer)
    if projected is None:
        # The same answer as for an id that does not exist: hidden means absent.
        raise PropertyNotFound(f"no property with id {record['id']}")
    return projected


def encode_cursor(property_id: str, direction: str = "after") -> str:
    """An opaque page token: continue after (or before) a record id."""
    payload = json.dumps({direction: property_id}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(token: str | None) -> tuple[str, str] | None:
    """Return (direction, id) from a token this service issued; raise ValidationFailed otherwise."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        ((direction, value),) = payload.items()
        if direction not in ("after", "before"):
            raise ValueError(direction)
        return direction, str(uuid.UUID(value))
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        raise ValidationFailed([FieldError("cursor", "not a cursor this service issued")]) from None


def list_records(
    conn: Connection,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    *,
    limit: int,
    after_id: str | None = None,
    before_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Return one keyset page in id order and the id to continue after, if more remain.

    Keyset paging on the primary key: each page is an index range scan, and a
    row inserted behind the cursor neither repeats nor shifts later pages.
    With ``before_id`` the page is the one ending just before that id (for
    ``prev`` links); the second value is then the id to go back from, if any.
    """
    sql, params = _list_sql(flt, viewer, limit, after_id, before_id)
    return _page(conn.execute(sql, params).mappings().all(), limit, before_id)


def _list_sql(
    flt: PropertyFilter, viewer: visibility.Viewer, limit: int, after_id: str | None, before_id: str | None
) -> tuple[Any, dict[str, Any]]:
    where, params = flt.where(viewer)
    order = "ASC"
    if after_id:
        where += " AND p.id > :after_id"
        params["after_id"] = after_id
    if before_id:
        where += " AND p.id < :before_id"
        params["before_id"] = before_id
        order = "DESC"
    params["limit"] = limit + 1
    sql = text(
        f"SELECT {record_select(viewer)} FROM property p WHERE {where} ORDER BY p.id {order} LIMIT :limit"
    )
    return sql, params


async def list_records_async(
    conn: AsyncConnection,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    *,
    limit: int,
    after_id: str | None = None,
    before_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """As list_records, on the async pool of the serving path."""
    sql, params = _list_sql(flt, viewer, limit, after_id, before_id)
    return _page((await conn.execute(sql, params)).mappings().all(), limit, before_id)


def _page(rows: Any, limit: int, before_id: str | None) -> tuple[list[dict[str, Any]], str | None]:
    records = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    if before_id:
        records.reverse()
        return records, (records[0]["id"] if more and records else None)
    return records, (records[-1]["id"] if more and records else None)


def count_records(
    conn: Connection, flt: PropertyFilter, viewer: visibility.Viewer, exact_up_to: int
) -> tuple[int, bool]:
    """Return (count, exact). Counts exactly up to ``exact_up_to``, then uses the planner's estimate."""
    count_sql, plan_sql, params = _count_sql(flt, viewer, exact_up_to)
    capped = conn.execute(count_sql, params).scalar_one()
    if capped <= exact_up_to:
        return capped, True
    plan = conn.execute(plan_sql, params).scalar_one()
    # The capped count proves at least exact_up_to + 1 rows; stale statistics must not say fewer.
    return max(int(plan[0]["Plan"]["Plan Rows"]), capped), False


def _count_sql(
    flt: PropertyFilter, viewer: visibility.Viewer, exact_up_to: int
) -> tuple[Any, Any, dict[str, Any]]:
    where, params = flt.where(viewer)
    params["cap"] = exact_up_to + 1
    count_sql = text(f"SELECT count(*) FROM (SELECT 1 FROM property p WHERE {where} LIMIT :cap) s")
    plan_sql = text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM property p WHERE {where}")
    return count_sql, plan_sql, params


async def count_records_async(
    conn: AsyncConnection, flt: PropertyFilter, viewer: visibility.Viewer, exact_up_to: int
) -> tuple[int, bool]:
    """As count_records, on the async pool of the serving path."""
    count_sql, plan_sql, params = _count_sql(flt, viewer, exact_up_to)
    capped = (await conn.execute(count_sql, params)).scalar_one()
    if capped <= exact_up_to:
        return capped, True
    plan = (await conn.execute(plan_sql, params)).scalar_one()
    return max(int(plan[0]["Plan"]["Plan Rows"]), capped), False


async def check_organisations_async(
    conn: AsyncConnection, codes: list[str], field_name: str = "owner"
) -> None:
    """As check_organisations, on the async pool of the serving path."""
    if not codes:
        return
    sql = text("SELECT code FROM organisation WHERE code = ANY(:codes)")
    known = set((await conn.execute(sql, {"codes": list(set(codes))})).scalars())
    unknown = sorted(set(codes) - known)
    if unknown:
        raise ValidationFailed([FieldError(field_name, f"unknown organisation {unknown[0]!r}")])


def check_organisations(conn: Connection, codes: list[str], field_name: str = "owner") -> None:
    """Raise ValidationFailed naming ``field_name`` if any organisation code is unknown."""
    if not codes:
        return
    known = set(
        conn.execute(
            text("SELECT code FROM organisation WHERE code = ANY(:codes)"), {"codes": list(set(codes))}
        ).scalars()
    )
    unknown = sorted(set(codes) - known)
    if unknown:
        raise ValidationFailed([FieldError(field_name, f"unknown organisation {unknown[0]!r}")])


def _assignments(values: Mapping[str, Any]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return (column, SQL expression) pairs and bound parameters for validated values."""
    pairs: list[tuple[str, str]] = []
    params: dict[str, Any] = {}
    for name, value in values.items():
        param = f"v_{name}"
        if name in ("geom", "footprint"):
            pairs.append((name, f"ST_GeomFromEWKT(:{param})" if value is not None else "NULL"))
        else:
            pairs.append((name, f":{param}"))
        params[param] = value
    return pairs, params


def create_record(conn: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    """Insert one validated record and return it as stored."""
    check_organisations(conn, [values["owner"]])
    pairs, params = _assignments(values)
    columns = ", ".join(name for name, _ in pairs)
    exprs = ", ".join(expr for _, expr in pairs)
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                text(f"INSERT INTO property ({columns}) VALUES ({exprs}) RETURNING id::text"), params
            ).scalar_one()
    except IntegrityError as exc:
        if "property_owner_asset_ref_key" in str(exc.orig):
            raise Conflict(
                f"{values['owner']} already has a property with asset_ref {values['asset_ref']!r}",
                field="asset_ref",
            ) from None
        raise constraint_error(exc) from None
    return get_record(conn, new_id)


# Constraints whose field is not in their name, with what the field needs (migration 0001).
CONSTRAINT_FIELDS: dict[str, tuple[str, str]] = {
    "property_rag_has_reason": ("rag_reason", "a RAG rating needs a reason"),
    "property_footprint_check": ("footprint", "must be a valid outline"),
    "property_owner_fkey": ("owner", "unknown organisation"),
}
_COLUMN_FIELDS = {f.stored_as: f.name for f in schema.FIELDS}


def constraint_error(exc: IntegrityError) -> ValidationFailed:
    """The database's refusal as a problem naming the field it concerns (never the constraint's name)."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    column = getattr(diag, "column_name", None)
    if constraint in CONSTRAINT_FIELDS:
        field_name, message = CONSTRAINT_FIELDS[constraint]
        return ValidationFailed([FieldError(field_name, message)])
    # PostgreSQL names a column's CHECK property_<column>_check; NOT NULL reports the column.
    stem = column or constraint.removeprefix("property_").removesuffix("_check")
    field_name = _COLUMN_FIELDS.get(stem, "body")
    return ValidationFailed([FieldError(field_name, "is outside what the register accepts")])


def check_footprint_distance(conn: Connection, property_id: str, max_distance_m: float) -> None:
    """Raise ValidationFailed naming footprint if the stored outline lies too far from the stored point."""
    row = conn.execute(
        text(
            "SELECT ST_AsEWKT(geom) AS geom, ST_AsEWKT(footprint) AS footprint FROM property WHERE id = :id"
        ),
        {"id": property_id},
    ).one()
    problem = register.footprint_too_far(row.geom, row.footprint, max_distance_m)
    if problem:
        raise ValidationFailed([FieldError("footprint", problem)])


@dataclass(frozen=True)
class ExpectedVersion:
    """The versions a conditional write accepts (from If-Match): some listed, or any at all."""

    versions: frozenset[int] = frozenset()
    any_version: bool = False

    def matches(self, version: int) -> bool:
        return self.any_version or version in self.versions


def require_version(expected: ExpectedVersion | int | None, current: int, property_id: str) -> None:
    if expected is None:
        raise PreconditionRequired("send If-Match with the record's ETag (its version) to change it")
    if isinstance(expected, int):
        expected = ExpectedVersion(frozenset({expected}))
    if not expected.matches(current):
        raise VersionMismatch(
            f"property {property_id} is at version {current}, not the one If-Match names; reload and reapply",
            current_version=current,
        )


def require_owner(viewer: visibility.Viewer, record_owner: str) -> None:
    if viewer.admin:
        return
    if viewer.org != record_owner:
        raise Forbidden("a key can change only its own organisation's records")


def update_record(
    conn: Connection,
    property_id: str,
    values: Mapping[str, Any],
    expected_version: ExpectedVersion | int | None,
    viewer: visibility.Viewer,
    *,
    footprint_max_distance_m: float = register.DEFAULT_FOOTPRINT_LIMITS.max_distance_m,
) -> dict[str, Any]:
    """Apply a validated partial update under If-Match and return the stored record."""
    current = get_record(conn, property_id, for_update=True)
    require_owner(viewer, current["owner"])
    require_version(expected_version, current["version"], current["id"])
    if values:
        pairs, params = _assignments(values)
        sets = ", ".join(f"{name} = {expr}" for name, expr in pairs)
        params["id"] = current["id"]
        try:
            with conn.begin_nested():
                conn.execute(text(f"UPDATE property SET {sets} WHERE id = :id"), params)
                if "geom" in values or "footprint" in values:
                    # A partial update may move one geometry away from the other it leaves in place.
                    check_footprint_distance(conn, current["id"], footprint_max_distance_m)
        except IntegrityError as exc:
            if "property_owner_asset_ref_key" in str(exc.orig):
                raise Conflict(
                    f"asset_ref {values.get('asset_ref')!r} is already used", field="asset_ref"
                ) from None
            raise constraint_error(exc) from None
    return get_record(conn, current["id"])


def delete_record(
    conn: Connection,
    property_id: str,
    expected_version: ExpectedVersion | int | None,
    viewer: visibility.Viewer,
) -> None:
    """Soft-delete: the record leaves every listing but its history stays."""
    current = get_record(conn, property_id, for_update=True)
    require_owner(viewer, current["owner"])
    require_version(expected_version, current["version"], current["id"])
    conn.execute(
        text(
            "UPDATE property SET deleted_at = now(), deleted_by = current_setting('estate.actor') WHERE id = :id"
        ),
        {"id": current["id"]},
    )


def history(conn: Connection, property_id: str, viewer: visibility.Viewer) -> list[dict[str, Any]]:
    """Return every change to a property, oldest first, each side projected for the viewer."""
    pid = _parse_uuid(property_id)
    rows = (
        conn.execute(
            text(f"""SELECT h.id, h.action, h.actor, h.changed_at, h.version, h.owner, h.before, h.after,
                       {TRANSITION_COLUMNS}
                FROM property_history h {TRANSITION_JOIN} WHERE h.property_id = :id ORDER BY h.id"""),
            {"id": pid},
        )
        .mappings()
        .all()
    )
    if not rows:
        raise PropertyNotFound(f"no property with id {pid}")
    current = _current_state(conn, pid)
    if current is not None and not visibility.record_visible(current, viewer):
        # What a caller may see of the past follows what it may see now.
        raise PropertyNotFound(f"no property with id {pid}")
    out = []
    for row in rows:
        before = _history_side(row["before"], viewer, current)
        after = _history_side(row["after"], viewer, current)
        if before is None and after is None:
            continue
        tier = viewer.tier_for(row["owner"])
        change = {
            "id": row["id"],
            "action": row["action"],
            "version": row["version"],
            "actor": row["actor"] if tier >= visibility.Tier.partner else None,
            "changed_at": row["changed_at"].isoformat(),
            "before": before,
            "after": after,
        }
        if row["transition"] is not None and visibility.sees_disposal(viewer, row["owner"]):
            change["transition"] = row["transition"]
        out.append(change)
    if not out:
        raise PropertyNotFound(f"no property with id {pid}")
    return out


def state_to_record(state: Mapping[str, Any]) -> dict[str, Any]:
    """A history/feed state (as the database's property_state() writes it) in the API's record shape."""
    record = dict(state)
    lon, lat = record.pop("lon", None), record.pop("lat", None)
    record["geometry"] = {"type": "Point", "coordinates": [lon, lat]} if lon is not None else None
    return record


def _current_state(conn: Connection, pid: str) -> dict[str, Any] | None:
    """The fields that decide visibility, as the record stands now (None if hard-deleted)."""
    row = (
        conn.execute(
            text("SELECT owner, sensitive, disposal_stage FROM property WHERE id = :id"), {"id": pid}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _history_side(
    side: Mapping[str, Any] | None, viewer: visibility.Viewer, current: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if side is None:
        return None
    return visibility.project(state_to_record(side), viewer, current=current)


def iter_records(
    conn: Connection, flt: PropertyFilter, viewer: visibility.Viewer, batch: int = 5000
) -> Iterator[dict[str, Any]]:
    """Yield every matching record in id order, one keyset page at a time (bounded memory)."""
    after: str | None = None
    while True:
        records, after = list_records(conn, flt, viewer, limit=batch, after_id=after)
        yield from records
        if after is None:
            return
