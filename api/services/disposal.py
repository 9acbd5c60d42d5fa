"""The disposal pipeline over the register: transitions, blockers, interest windows, outcomes.

Every change here runs in the caller's write transaction: the property's own
``disposal_stage`` / ``disposal_blockers`` (so its history and the change feed
record it), the dated row that says why, and any webhook event, commit or roll
back together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from api.auth import Principal
from api.services import webhooks
from api.services.properties import get_record
from gis import disposal as domain
from gis import visibility
from gis.errors import Conflict, FieldError, Forbidden, PropertyNotFound, ValidationFailed
from gis.vocab import DisposalBlocker, DisposalStage

_STAGE_ORDER = {stage.value: i for i, stage in enumerate(DisposalStage)}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _rows(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in r.items()} for r in conn.execute(text(sql), params).mappings()]


def _open_window(conn: Connection, property_id: str, lock: bool = False) -> dict[str, Any] | None:
    row = (
        conn.execute(
            text(
                "SELECT id, opened_on, ends_on, working_days FROM interest_window "
                "WHERE property_id = :id AND closed_on IS NULL" + (" FOR UPDATE" if lock else "")
            ),
            {"id": property_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _last_effective_on(conn: Connection, property_id: str) -> dt.date | None:
    return conn.execute(
        text("SELECT max(effective_on) FROM disposal_transition WHERE property_id = :id"), {"id": property_id}
    ).scalar_one()


def _check_date(field: str, day: dt.date, today: dt.date, not_before: dt.date | None) -> None:
    if day > today:
        raise ValidationFailed(
            [FieldError(field, f"{day} is in the future; record a move once it has happened")]
        )
    if not_before is not None and day < not_before:
        raise ValidationFailed(
            [FieldError(field, f"{day} is before the building's last recorded move ({not_before})")]
        )


def _stages_reached(conn: Connection, property_id: str, current: str) -> list[str]:
    """The pipeline stages the building has been through: every stage up to the furthest it reached."""
    seen = set(
        conn.execute(
            text("""SELECT to_stage FROM disposal_transition WHERE property_id = :id
                    UNION SELECT from_stage FROM disposal_transition WHERE property_id = :id"""),
            {"id": property_id},
        ).scalars()
    )
    seen.add(current)
    furthest = max(_STAGE_ORDER[s] for s in seen)
    return [s for s in domain.PIPELINE_STAGES if _STAGE_ORDER[s] <= furthest]


def _close_window(
    conn: Connection,
    record: Mapping[str, Any],
    window: Mapping[Any, Any],
    closed_on: dt.date,
    reason: domain.WindowCloseReason,
    note: str | None,
) -> None:
    conn.execute(
        text("""UPDATE interest_window SET closed_on = :on, close_reason = :reason, close_note = :note
                WHERE id = :id"""),
        {"on": closed_on, "reason": reason.value, "note": note, "id": window["id"]},
    )
    webhooks.emit(
        conn,
        domain.EventKind.window_closed,
        record,
        {
            "window_id": window["id"],
            "opened_on": _iso(window["opened_on"]),
            "ends_on": _iso(window["ends_on"]),
            "closed_on": closed_on.isoformat(),
            "reason": reason.value,
        },
        window_id=window["id"],
    )


def _move(
    conn: Connection, record: Mapping[str, Any], to_stage: str, effective_on: dt.date, note: str | None
) -> int:
    """Change the stage on the record (history, feed) and write the dated transition; return its id."""
    conn.execute(
        text("UPDATE property SET disposal_stage = :stage WHERE id = :id"),
        {"stage": to_stage, "id": record["id"]},
    )
    return conn.execute(
        text("""INSERT INTO disposal_transition (property_id, owner, from_stage, to_stage, effective_on, note)
                VALUES (:id, :owner, :from_stage, :to_stage, :on, :note) RETURNING id"""),
        {
            "id": record["id"],
            "owner": record["owner"],
            "from_stage": record["disposal_stage"],
            "to_stage": to_stage,
            "on": effective_on,
            "note": note,
        },
    ).scalar_one()


def transition(
    conn: Connection,
    property_id: str,
    to_stage: str,
    principal: Principal,
    *,
    effective_on: dt.date | None = None,
    note: str | None = None,
    today: dt.date | None = None,
    window_working_days: int = 40,
) -> dict[str, Any]:
    """Move a building to ``to_stage`` (an editor of its owner, or an admin); return its disposal record."""
    today = today or dt.date.today()
    record = get_record(conn, property_id, for_update=True)
    principal.require_editor_of(record["owner"])
    from_stage = record["disposal_stage"]
    withdrawal = domain.check_transition(from_stage, to_stage)
    if to_stage == DisposalStage.sold:
        raise ValidationFailed(
            [
                FieldError(
                    "to_stage", "a sale is recorded with its price: POST /properties/{id}/disposal/outcome"
                )
            ]
        )
    on = effective_on or today
    _check_date("effective_on", on, today, _last_effective_on(conn, record["id"]))
    window = _open_window(conn, record["id"], lock=True)
    close: tuple[dt.date, domain.WindowCloseReason] | None = None
    if window is not None and to_stage == DisposalStage.marketed:
        if on <= window["ends_on"]:
            if not (note and note.strip()):
                raise ValidationFailed(
                    [
                        FieldError(
                            "note",
                            f"partners may register interest until {window['ends_on']}; "
                            "marketing before then needs a note giving the reason",
                        )
                    ]
                )
            close = (on, domain.WindowCloseReason.marketed_early)
        else:
            close = (window["ends_on"], domain.WindowCloseReason.ended)  # the worker had not closed it yet
    elif window is not None and withdrawal:
        close = (on, domain.WindowCloseReason.withdrawn)

    transition_id = _move(conn, record, to_stage, on, note)
    if window is not None and close is not None:
        _close_window(conn, record, window, close[0], close[1], note)
    if to_stage == DisposalStage.declared_surplus:
        _open_interest_window(conn, record, transition_id, on, window_working_days)
    if domain.is_withdrawal_outcome(from_stage, to_stage):
        _insert_outcome(
            conn, record, transition_id, kind=domain.OutcomeKind.withdrawal, completed_on=on, note=note
        )
    return disposal_record(conn, record["id"], principal.viewer)


def _open_interest_window(
    conn: Connection, record: Mapping[str, Any], transition_id: int, opened_on: dt.date, working_days: int
) -> None:
    ends_on = domain.interest_window_end(opened_on, working_days)
    window_id = conn.execute(
        text("""INSERT INTO interest_window (property_id, owner, opened_on, working_days, ends_on, opened_by)
                VALUES (:id, :owner, :opened_on, :days, :ends_on, :tid) RETURNING id"""),
        {
            "id": record["id"],
            "owner": record["owner"],
            "opened_on": opened_on,
            "days": working_days,
            "ends_on": ends_on,
            "tid": transition_id,
        },
    ).scalar_one()
    webhooks.emit(
        conn,
        domain.EventKind.surplus_declared,
        record,
        {
            "window_id": window_id,
            "declared_on": opened_on.isoformat(),
            "interest_until": ends_on.isoformat(),
            "working_days": working_days,
            "register_interest": f"/properties/{record['id']}/disposal/interest",
        },
        window_id=window_id,
    )


def _insert_outcome(
    conn: Connection,
    record: Mapping[str, Any],
    transition_id: int,
    *,
    kind: domain.OutcomeKind,
    completed_on: dt.date,
    note: str | None,
    gross_receipt_gbp: int | None = None,
    disposal_costs_gbp: int | None = None,
    buyer_type: str | None = None,
) -> int:
    return conn.execute(
        text("""INSERT INTO disposal_outcome (property_id, owner, kind, completed_on, gross_receipt_gbp,
                    disposal_costs_gbp, buyer_type, rag_at_outcome, stages_reached, note, transition_id)
                VALUES (:id, :owner, :kind, :on, :gross, :costs, :buyer, :rag, :stages, :note, :tid)
                RETURNING id"""),
        {
            "id": record["id"],
            "owner": record["owner"],
            "kind": kind.value,
            "on": completed_on,
            "gross": gross_receipt_gbp,
            "costs": disposal_costs_gbp,
            "buyer": buyer_type,
            "rag": record.get("rag"),
            "stages": _stages_reached(conn, record["id"], record["disposal_stage"]),
            "note": note,
            "tid": transition_id,
        },
    ).scalar_one()


def record_sale(
    conn: Connection,
    property_id: str,
    principal: Principal,
    *,
    completed_on: dt.date,
    gross_receipt_gbp: int,
    disposal_costs_gbp: int,
    buyer_type: str,
    note: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Record a completed sale: the move to sold and the outcome, in one transaction."""
    today = today or dt.date.today()
    record = get_record(conn, property_id, for_update=True)
    principal.require_editor_of(record["owner"])
    domain.check_transition(record["disposal_stage"], DisposalStage.sold)
    domain.check_sale(completed_on, gross_receipt_gbp, disposal_costs_gbp, today)
    _check_date("completed_on", completed_on, today, _last_effective_on(conn, record["id"]))
    transition_id = _move(conn, record, DisposalStage.sold, completed_on, note)
    _insert_outcome(
        conn,
        record,
        transition_id,
        kind=domain.OutcomeKind.sale,
        completed_on=completed_on,
        note=note,
        gross_receipt_gbp=gross_receipt_gbp,
        disposal_costs_gbp=disposal_costs_gbp,
        buyer_type=buyer_type,
    )
    webhooks.emit(
        conn,
        domain.EventKind.sold,
        record,
        {"completed_on": completed_on.isoformat(), "buyer_type": buyer_type},
    )
    return disposal_record(conn, record["id"], principal.viewer)


def record_withdrawal(
    conn: Connection,
    property_id: str,
    principal: Principal,
    *,
    to_stage: str,
    effective_on: dt.date | None,
    note: str | None,
    today: dt.date | None = None,
    window_working_days: int = 40,
) -> dict[str, Any]:
    """Withdraw a building on its way out (declared surplus, marketed, under offer) back into the estate."""
    record = get_record(conn, property_id, for_update=True)
    principal.require_editor_of(record["owner"])
    if record["disposal_stage"] not in domain.PIPELINE_STAGES:
        raise ValidationFailed(
            [
                FieldError(
                    "outcome",
                    f"the building is {record['disposal_stage']}: only a building declared surplus, "
                    "marketed or under offer can be withdrawn as an outcome",
                )
            ]
        )
    return transition(
        conn,
        property_id,
        to_stage,
        principal,
        effective_on=effective_on,
        note=note,
        today=today,
        window_working_days=window_working_days,
    )


def change_blockers(
    conn: Connection,
    property_id: str,
    principal: Principal,
    *,
    add: Sequence[str] = (),
    clear: Sequence[str] = (),
    effective_on: dt.date | None = None,
    note: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Add and clear blockers, each dated; the record's ``disposal_blockers`` follows."""
    today = today or dt.date.today()
    on = effective_on or today
    record = get_record(conn, property_id, for_update=True)
    principal.require_editor_of(record["owner"])
    known = {b.value for b in DisposalBlocker}
    errors = [
        FieldError(field, f"unknown blocker {b!r}; one of {', '.join(sorted(known))}")
        for field, names in (("add", add), ("clear", clear))
        for b in names
        if b not in known
    ]
    both = sorted(set(add) & set(clear))
    if both:
        errors.append(FieldError("clear", f"{both[0]} is both added and cleared"))
    current = set(record["disposal_blockers"])
    errors += [FieldError("add", f"{b} is already a blocker") for b in add if b in current]
    errors += [FieldError("clear", f"{b} is not a blocker") for b in clear if b not in current]
    if not add and not clear:
        errors.append(FieldError("add", "name at least one blocker to add or clear"))
    if on > today:
        errors.append(FieldError("effective_on", f"{on} is in the future"))
    if errors:
        raise ValidationFailed(errors)
    for blocker in clear:
        cleared = conn.execute(
            text("""UPDATE disposal_blocker SET cleared_on = :on, cleared_by = current_setting('estate.actor'),
                        cleared_note = :note
                    WHERE property_id = :id AND blocker = :b AND cleared_on IS NULL RETURNING added_on"""),
            {"on": on, "note": note, "id": record["id"], "b": blocker},
        ).first()
        if cleared is not None and cleared.added_on > on:
            raise ValidationFailed(
                [FieldError("effective_on", f"{blocker} was only added on {cleared.added_on}")]
            )
    for blocker in add:
        conn.execute(
            text("""INSERT INTO disposal_blocker (property_id, blocker, added_on, added_note)
                    VALUES (:id, :b, :on, :note)"""),
            {"id": record["id"], "b": blocker, "on": on, "note": note},
        )
    remaining = [
        b.value for b in DisposalBlocker if (b.value in current or b.value in add) and b.value not in clear
    ]
    conn.execute(
        text("UPDATE property SET disposal_blockers = :blockers WHERE id = :id"),
        {"blockers": remaining, "id": record["id"]},
    )
    return disposal_record(conn, record["id"], principal.viewer)


def register_interest(
    conn: Connection,
    property_id: str,
    principal: Principal,
    *,
    service: str,
    floor_area_m2: float,
    note: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A partner registers interest while the window is open; the owner hears of it."""
    today = today or dt.date.today()
    record = get_record(conn, property_id)
    if visibility.project(record, principal.viewer) is None:
        raise PropertyNotFound(f"no property with id {record['id']}")
    principal.require_partner_of(record["owner"])
    window = _open_window(conn, record["id"], lock=True)
    if window is None:
        raise Conflict(
            f"{record['name']} has no open interest window: partners register interest after it is "
            "declared surplus and before its window ends"
        )
    if today > window["ends_on"]:
        raise Conflict(f"the interest window ended on {window['ends_on']}")
    org = principal.viewer.org
    assert org is not None  # require_partner_of checked it
    try:
        with conn.begin_nested():
            row = (
                conn.execute(
                    text("""INSERT INTO interest_expression (window_id, property_id, org, service, floor_area_m2, note)
                            VALUES (:w, :id, :org, :service, :m2, :note)
                            RETURNING id, registered_at"""),
                    {
                        "w": window["id"],
                        "id": record["id"],
                        "org": org,
                        "service": service,
                        "m2": floor_area_m2,
                        "note": note,
                    },
                )  # fmt: skip
                .mappings()
                .one()
            )
    except IntegrityError:
        raise Conflict(f"{org} has already registered interest in this window", field="org") from None
    webhooks.emit(
        conn,
        domain.EventKind.interest_registered,
        record,
        {
            "window_id": window["id"],
            "org": org,
            "service": service,
            "floor_area_m2": floor_area_m2,
            "note": note,
        },
        window_id=window["id"],
    )
    return {
        "id": row["id"],
        "property_id": record["id"],
        "window_id": window["id"],
        "org": org,
        "service": service,
        "floor_area_m2": floor_area_m2,
        "note": note,
        "registered_at": row["registered_at"].isoformat(),
        "window_ends_on": window["ends_on"].isoformat(),
    }


def close_due_windows(conn: Connection, today: dt.date) -> int:
    """Close every open window whose last day is before ``today``, telling the owner and the interested."""
    due = (
        conn.execute(
            text("""SELECT w.id, w.property_id::text AS property_id, w.opened_on, w.ends_on
                    FROM interest_window w WHERE w.closed_on IS NULL AND w.ends_on < :today
                    ORDER BY w.ends_on, w.id FOR UPDATE SKIP LOCKED"""),
            {"today": today},
        )
        .mappings()
        .all()
    )
    for window in due:
        record = get_record(conn, window["property_id"], include_deleted=True)
        _close_window(conn, record, window, window["ends_on"], domain.WindowCloseReason.ended, None)
    return len(due)


def disposal_record(conn: Connection, property_id: str, viewer: visibility.Viewer) -> dict[str, Any]:
    """The building's pipeline as this viewer may see it: stage, blockers, moves, windows, interest, outcomes."""
    record = get_record(conn, property_id)
    if visibility.project(record, viewer) is None:
        raise PropertyNotFound(f"no property with id {record['id']}")
    if not visibility.sees_disposal(viewer, record["owner"]):
        raise Forbidden("the disposal pipeline is for partners and owners: send a partner key")
    pid = record["id"]
    params = {"id": pid}
    blockers = _rows(
        conn,
        """SELECT blocker, added_on, added_by, added_note, cleared_on, cleared_by, cleared_note
           FROM disposal_blocker WHERE property_id = :id ORDER BY added_on, id""",
        params,
    )
    dated_open = {b["blocker"] for b in blockers if b["cleared_on"] is None}
    # Blockers set before the pipeline kept dates (imports, the seed) show with no date.
    blockers += [
        {"blocker": b, "added_on": None, "added_by": None, "added_note": None, "cleared_on": None,
         "cleared_by": None, "cleared_note": None}
        for b in record["disposal_blockers"] if b not in dated_open
    ]  # fmt: skip
    transitions = _rows(
        conn,
        """SELECT id, from_stage, to_stage, effective_on, note, actor, recorded_at
           FROM disposal_transition WHERE property_id = :id ORDER BY id""",
        params,
    )
    windows = _rows(
        conn,
        """SELECT id, opened_on, working_days, ends_on, closed_on, close_reason, close_note
           FROM interest_window WHERE property_id = :id ORDER BY id""",
        params,
    )
    interest = [
        row
        for row in _rows(
            conn,
            """SELECT id, window_id, org, service, floor_area_m2, note, actor, registered_at
               FROM interest_expression WHERE property_id = :id ORDER BY id""",
            params,
        )
        if visibility.sees_interest(viewer, record["owner"], row["org"])
    ]
    outcomes = _rows(
        conn,
        """SELECT id, kind, completed_on, gross_receipt_gbp, disposal_costs_gbp,
                  gross_receipt_gbp - disposal_costs_gbp AS net_receipt_gbp, buyer_type,
                  rag_at_outcome, stages_reached, note, actor, recorded_at
           FROM disposal_outcome WHERE property_id = :id ORDER BY id""",
        params,
    )
    today = dt.date.today()
    open_window = next((w for w in windows if w["closed_on"] is None), None)
    if open_window is not None:
        open_window["open_for_interest"] = today.isoformat() <= open_window["ends_on"]
    return {
        "property_id": pid,
        "owner": record["owner"],
        "name": record["name"],
        "stage": record["disposal_stage"],
        "allowed_transitions": list(domain.allowed_transitions(record["disposal_stage"])),
        "blockers": blockers,
        "current_blockers": record["disposal_blockers"],
        "transitions": transitions,
        "interest_window": open_window,
        "windows": windows,
        "interest": interest,
        "outcomes": outcomes,
    }
