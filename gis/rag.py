"""Suggested RAG ratings: explainable rules beside the human rating (DESIGN §4).

The rating stays a human decision; the register only *suggests* one, with the
reasons that produced it, so a manager can see why the two differ. Every rule
is one row of :data:`RULES`: its leaning (red: disposal unlikely, green:
disposal opportunity), its weight in points, its threshold in the unit its name
says, and the reason text shown to people. A rule marked ``decisive`` settles
the suggestion by itself (red before green): an operational emergency service
or a crematorium is never suggested for disposal, whatever else is true.
Otherwise the points add up (green positive, red negative) and the sum is read
against :data:`GREEN_AT` and :data:`RED_AT`.

Plain Python: no web framework, no database. The seed generator rates its
buildings with these same rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gis.vocab import Condition, DisposalBlocker, ListedGrade, Rag, TenureDetail, UseCategory

__all__ = [
    "GREEN_AT",
    "OPERATIONAL_USES",
    "RED_AT",
    "RULES",
    "RagFacts",
    "Reason",
    "Rule",
    "Suggestion",
    "facts_from_record",
    "suggest_rag",
]

Leaning = Literal["red", "green"]

# A score at or above GREEN_AT suggests green, at or below RED_AT red, between them amber.
GREEN_AT = 3.0
RED_AT = -3.0

# Emergency and statutory services that cannot move without a replacement built first.
# Custody suites are police stations in the register's vocabulary.
OPERATIONAL_USES: frozenset[str] = frozenset(
    {UseCategory.police_station, UseCategory.fire_station, UseCategory.hospital, UseCategory.court}
)


@dataclass(frozen=True)
class RagFacts:
    """What the rules read about one building (None: not known, the rule stays silent)."""

    use_category: str
    vacant: bool = False
    operational: bool = False
    utilisation_pct: float | None = None
    condition: str | None = None
    lease_expiry_date: dt.date | None = None
    maintenance_backlog_gbp: float | None = None
    gia_m2: float | None = None
    listed_grade: str | None = None
    disposal_blockers: tuple[str, ...] = ()
    partner_host_nearby: bool = False


@dataclass(frozen=True)
class Rule:
    """One row of the rules table; ``fires`` returns the values its reason text needs, or None."""

    name: str
    leaning: Leaning
    weight: float
    reason: str
    fires: Callable[[RagFacts, Rule, dt.date], Mapping[str, Any] | None] = field(repr=False)
    threshold: float | None = None
    decisive: bool = False

    def points(self, values: Mapping[str, Any]) -> float:
        """Signed points: green positive, red negative (times ``count`` where a rule counts things)."""
        sign = 1.0 if self.leaning == "green" else -1.0
        return sign * self.weight * float(values.get("count", 1))


def _crematorium(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    return {} if f.use_category == UseCategory.crematorium_cemetery else None


def _operational(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    if f.operational and not f.vacant:
        return {"use": f.use_category.replace("_", " ")}
    return None


def _school(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    return {} if f.use_category == UseCategory.school and not f.vacant else None


def _vacant(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    return {} if f.vacant else None


def _low_use(f: RagFacts, r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    assert r.threshold is not None
    if f.vacant or f.utilisation_pct is None or f.utilisation_pct >= r.threshold:
        return None
    return {"utilisation_pct": f.utilisation_pct, "threshold": r.threshold}


def _busy(f: RagFacts, r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    assert r.threshold is not None
    if f.utilisation_pct is None or f.utilisation_pct < r.threshold:
        return None
    return {"utilisation_pct": f.utilisation_pct, "threshold": r.threshold}


def _condition(grade: str) -> Callable[[RagFacts, Rule, dt.date], Mapping[str, Any] | None]:
    def fires(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
        return {"condition": grade} if f.condition == grade else None

    return fires


def _months_later(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _lease(f: RagFacts, r: Rule, as_of: dt.date) -> Mapping[str, Any] | None:
    assert r.threshold is not None
    if f.lease_expiry_date is None or f.lease_expiry_date > _months_later(as_of, int(r.threshold)):
        return None
    return {"lease_expiry_date": f.lease_expiry_date.isoformat(), "threshold": r.threshold}


def _backlog(f: RagFacts, r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    assert r.threshold is not None
    if not f.maintenance_backlog_gbp or not f.gia_m2:
        return None
    per_m2 = f.maintenance_backlog_gbp / f.gia_m2
    return {"backlog_gbp_per_m2": per_m2, "threshold": r.threshold} if per_m2 >= r.threshold else None


def _listed(grades: tuple[str, ...]) -> Callable[[RagFacts, Rule, dt.date], Mapping[str, Any] | None]:
    def fires(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
        return {"grade": f.listed_grade} if f.listed_grade in grades else None

    return fires


def _blocked(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    if not f.disposal_blockers:
        return None
    names = ", ".join(b.replace("_", " ") for b in f.disposal_blockers)
    return {"blockers": names, "count": len(f.disposal_blockers)}


def _partner_host(f: RagFacts, _r: Rule, _d: dt.date) -> Mapping[str, Any] | None:
    return {} if f.partner_host_nearby and not f.vacant else None


# The rules table: weights in points, thresholds in the unit the rule names.
RULES: tuple[Rule, ...] = (
    Rule(
        "crematorium",
        "red",
        10,
        "Crematoria and cemeteries are permanent public services: the land cannot be released.",
        _crematorium,
        decisive=True,
    ),
    Rule(
        "operational_service",
        "red",
        10,
        "An operational {use} (an emergency or statutory service) cannot move until a replacement exists.",
        _operational,
        decisive=True,
    ),
    Rule(
        "school_in_use",
        "red",
        3,
        "A school in use: its pupils need places elsewhere first, and selling school land needs "
        "the Secretary of State's consent.",
        _school,
    ),
    Rule("vacant", "green", 4, "Vacant: there is no service to move out.", _vacant, decisive=True),
    Rule(
        "low_utilisation",
        "green",
        3,
        "Utilisation {utilisation_pct:.0f}% is under {threshold:.0f}%: the service fits in less space.",
        _low_use,
        threshold=50,
        decisive=True,
    ),
    Rule(
        "high_utilisation",
        "red",
        1,
        "Busy: utilisation {utilisation_pct:.0f}% is {threshold:.0f}% or more.",
        _busy,
        threshold=85,
    ),
    Rule(
        "condition_poor",
        "green",
        1,
        "Condition {condition} (poor): repairs are due that a move would avoid.",
        _condition(Condition.C),
    ),
    Rule(
        "condition_bad",
        "green",
        2,
        "Condition {condition} (bad, failure imminent): keeping it means major works.",
        _condition(Condition.D),
    ),
    Rule(
        "lease_expiry",
        "green",
        2,
        "The lease ends on {lease_expiry_date}, within {threshold:.0f} months: a natural point to leave.",
        _lease,
        threshold=24,
    ),
    Rule(
        "maintenance_backlog",
        "green",
        1,
        "Maintenance backlog of £{backlog_gbp_per_m2:,.0f}/m² is £{threshold:,.0f}/m² or more.",
        _backlog,
        threshold=200,
    ),
    Rule(
        "listed_high_grade",
        "red",
        2,
        "Listed grade {grade}: change of use and sale are tightly constrained.",
        _listed((ListedGrade.I, ListedGrade.II_star)),
    ),
    Rule(
        "listed",
        "red",
        1,
        "Listed grade {grade}: change of use and sale need consent.",
        _listed((ListedGrade.II,)),
    ),
    Rule("blockers", "red", 1, "Blocked by {blockers} (each counts).", _blocked),
    Rule(
        "partner_host_nearby",
        "green",
        2,
        "A partner's building within walking distance has room to take the service.",
        _partner_host,
    ),
)


@dataclass(frozen=True)
class Reason:
    """One rule that fired: its name, the text shown to people, its leaning and signed points."""

    rule: str
    reason: str
    leaning: Leaning
    points: float


@dataclass(frozen=True)
class Suggestion:
    """The suggested rating, the score behind it and the rule that settled it (if one did)."""

    rag: Rag
    score: float
    reasons: tuple[Reason, ...]
    decided_by: str | None = None

    def disputes(self, human_rag: str | None) -> bool:
        """True if the suggestion differs from a human rating and some rule leans its way.

        A red building suggested amber only because one red rule fell short of the threshold is
        no case against its rating; one with a green reason is.
        """
        if human_rag is None or human_rag == self.rag.value:
            return False
        toward: Leaning = "green" if _RANK[self.rag] > _RANK[Rag(human_rag)] else "red"
        return any(reason.leaning == toward for reason in self.reasons)


_RANK = {Rag.red: 0, Rag.amber: 1, Rag.green: 2}


def suggest_rag(facts: RagFacts, as_of: dt.date, rules: Iterable[Rule] = RULES) -> Suggestion:
    """Apply the rules to one building; the reasons are listed in table order."""
    reasons: list[Reason] = []
    score = 0.0
    decisive: dict[str, str] = {}
    for rule in rules:
        values = rule.fires(facts, rule, as_of)
        if values is None:
            continue
        points = rule.points(values)
        score += points
        reasons.append(Reason(rule.name, rule.reason.format(**values), rule.leaning, points))
        if rule.decisive:
            decisive.setdefault(rule.leaning, rule.name)
    for leaning in ("red", "green"):  # red first: a decisive red outweighs any green
        if leaning in decisive:
            return Suggestion(Rag(leaning), score, tuple(reasons), decisive[leaning])
    rag = Rag.green if score >= GREEN_AT else Rag.red if score <= RED_AT else Rag.amber
    return Suggestion(rag, score, tuple(reasons))


def _date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    return float(value)  # type: ignore[arg-type]


def facts_from_record(record: Mapping[str, Any], *, partner_host_nearby: bool = False) -> RagFacts:
    """The rules' facts from a register record (API field names)."""
    use = str(record.get("use_category") or UseCategory.other)
    blockers = record.get("disposal_blockers") or ()
    known = {b.value for b in DisposalBlocker}
    return RagFacts(
        use_category=use,
        vacant=record.get("tenure_detail") == TenureDetail.vacant,
        operational=use in OPERATIONAL_USES,
        utilisation_pct=_number(record.get("utilisation_pct")),
        condition=record.get("condition") or None,
        lease_expiry_date=_date(record.get("lease_expiry_date")),
        maintenance_backlog_gbp=_number(record.get("maintenance_backlog_gbp")),
        gia_m2=_number(record.get("gia_m2")),
        listed_grade=record.get("listed_grade") or None,
        disposal_blockers=tuple(b for b in blockers if b in known),
        partner_host_nearby=partner_host_nearby,
    )
