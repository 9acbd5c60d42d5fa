"""The disposal pipeline's rules: stage transitions, the partners' interest window, outcomes, events.

DESIGN §4: retained → under review → declared surplus → marketed → under
offer → sold, and withdrawn back to retained or under review from any open
stage. Declaring a building surplus opens a window in which other public
bodies may register interest before it goes to market (central government's
surplus-land rule gives them 40 working days); marketing before it ends needs a
stated reason. Events are delivered to the bodies that should hear of them,
signed with HMAC-SHA256 so a receiver can check they came from the register.

Plain Python: no web framework, no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Container
from enum import StrEnum
from functools import lru_cache

import holidays as holiday_calendars

from gis.errors import FieldError, ValidationFailed
from gis.vocab import DisposalStage

S = DisposalStage

# Stages a building can be withdrawn from, and the stages it can be withdrawn to.
OPEN_STAGES: tuple[str, ...] = (S.under_review, S.declared_surplus, S.marketed, S.under_offer)
WITHDRAWN_TO: tuple[str, ...] = (S.retained, S.under_review)
# Leaving one of these backwards is a withdrawal outcome: the building was on its way out.
PIPELINE_STAGES: tuple[str, ...] = (S.declared_surplus, S.marketed, S.under_offer)

# The one forward step from each stage.
FORWARD: dict[str, str] = {
    S.retained: S.under_review,
    S.under_review: S.declared_surplus,
    S.declared_surplus: S.marketed,
    S.marketed: S.under_offer,
    S.under_offer: S.sold,
}


def allowed_transitions(stage: str) -> tuple[str, ...]:
    """The stages a building at ``stage`` may move to (forward first, then withdrawals)."""
    out: list[str] = []
    if stage in FORWARD:
        out.append(FORWARD[stage])
    if stage in OPEN_STAGES:
        out.extend(s for s in WITHDRAWN_TO if s != stage)
    return tuple(out)


class InvalidTransition(ValidationFailed):
    title = "Invalid stage transition"

    def __init__(self, from_stage: str, to_stage: str) -> None:
        allowed = allowed_transitions(from_stage)
        listed = ", ".join(allowed) if allowed else "none (the stage is final)"
        super().__init__(
            [FieldError("to_stage", f"cannot move from {from_stage} to {to_stage}; allowed: {listed}")]
        )
        self.extra["allowed"] = list(allowed)
        self.extra["from_stage"] = from_stage


def check_transition(from_stage: str, to_stage: str) -> bool:
    """Raise InvalidTransition unless allowed; return True if the move is a withdrawal."""
    if to_stage not in allowed_transitions(from_stage):
        raise InvalidTransition(from_stage, to_stage)
    return FORWARD.get(from_stage) != to_stage


def is_withdrawal_outcome(from_stage: str, to_stage: str) -> bool:
    """Leaving declared surplus, marketed or under offer backwards is recorded as a withdrawal."""
    return from_stage in PIPELINE_STAGES and to_stage in WITHDRAWN_TO


# --- the interest window: working days in England and Wales ---------------------------------


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[dt.date]:
    # England and Wales share one list of bank holidays; the package files them under ENG.
    return frozenset(holiday_calendars.country_holidays("GB", subdiv="ENG", years=year).keys())


class EnglandAndWalesBankHolidays(Container[dt.date]):
    """Bank holidays in England and Wales (the ``holidays`` package), looked up year by year."""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and day in _bank_holidays(day.year)


BANK_HOLIDAYS = EnglandAndWalesBankHolidays()


def is_working_day(day: dt.date, holidays: Container[dt.date] = BANK_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: dt.date, days: int, holidays: Container[dt.date] = BANK_HOLIDAYS) -> dt.date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    return day


def interest_window_end(
    declared_on: dt.date, working_days: int, holidays: Container[dt.date] = BANK_HOLIDAYS
) -> dt.date:
    """Last day on which partners may register interest: the window's ``working_days``-th working day."""
    return add_working_days(declared_on, working_days, holidays)


class WindowCloseReason(StrEnum):
    ended = "ended"  # its last day passed
    marketed_early = "marketed_early"  # the owner went to market before the end, with a reason
    withdrawn = "withdrawn"  # the building was taken back into use


# --- outcomes -------------------------------------------------------------------------------


class OutcomeKind(StrEnum):
    sale = "sale"
    withdrawal = "withdrawal"


class BuyerType(StrEnum):
    public_body = "public_body"
    registered_provider = "registered_provider"
    private = "private"
    community = "community"


def check_sale(
    completed_on: dt.date, gross_receipt_gbp: int, disposal_costs_gbp: int, today: dt.date
) -> None:
    """Raise ValidationFailed naming each field a recorded sale gets wrong."""
    errors: list[FieldError] = []
    if completed_on > today:
        errors.append(FieldError("completed_on", "a completion cannot be recorded before it happens"))
    if gross_receipt_gbp < 0:
        errors.append(FieldError("gross_receipt_gbp", "must not be negative"))
    if disposal_costs_gbp < 0:
        errors.append(FieldError("disposal_costs_gbp", "must not be negative"))
    if errors:
        raise ValidationFailed(errors)


# --- events and their delivery --------------------------------------------------------------


class EventKind(StrEnum):
    surplus_declared = "surplus_declared"
    interest_registered = "interest_registered"
    window_closed = "window_closed"
    sold = "sold"


class Audience(StrEnum):
    partners = "partners"  # every body but the owner: they get the first look
    owner = "owner"
    owner_and_interested = "owner_and_interested"  # the owner and bodies that registered interest
    everyone = "everyone"


# Who hears of each event.
EVENT_AUDIENCE: dict[EventKind, Audience] = {
    EventKind.surplus_declared: Audience.partners,
    EventKind.interest_registered: Audience.owner,
    EventKind.window_closed: Audience.owner_and_interested,
    EventKind.sold: Audience.everyone,
}

SIGNATURE_HEADER = "X-Estate-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``.

    The timestamp is signed with the body so a receiver can refuse replays of old deliveries.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """True if ``header`` is a valid signature of ``body`` under ``secret``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def retry_delay_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: doubling from ``base_s``, at most ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))
