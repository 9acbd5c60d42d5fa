"""The suggested-rating rules: each fires with its reason, decisive rules settle, thresholds hold."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gis import rag
from gis.vocab import Rag, UseCategory

AS_OF = dt.date(2026, 11, 30)
# A plain office: no rule fires, the suggestion is amber on a score of 0.
PLAIN = rag.RagFacts(use_category=UseCategory.office, utilisation_pct=70, condition="B")


@pytest.mark.parametrize(
    ("rule", "changes", "text"),
    [
        ("crematorium", {"use_category": UseCategory.crematorium_cemetery}, "Crematoria"),
        (
            "operational_service",
            {"use_category": UseCategory.police_station, "operational": True},
            "police station",
        ),
        ("school_in_use", {"use_category": UseCategory.school}, "pupils"),
        ("vacant", {"vacant": True}, "Vacant"),
        ("low_utilisation", {"utilisation_pct": 35}, "35% is under 50%"),
        ("high_utilisation", {"utilisation_pct": 92}, "92% is 85% or more"),
        ("condition_poor", {"condition": "C"}, "Condition C"),
        ("condition_bad", {"condition": "D"}, "Condition D"),
        ("lease_expiry", {"lease_expiry_date": dt.date(2027, 6, 30)}, "2027-06-30, within 24 months"),
        ("maintenance_backlog", {"maintenance_backlog_gbp": 250_000, "gia_m2": 1000}, "£250/m²"),
        ("listed_high_grade", {"listed_grade": "II*"}, "grade II*"),
        ("listed", {"listed_grade": "II"}, "grade II"),
        ("blockers", {"disposal_blockers": ("planning", "title")}, "planning, title"),
        ("partner_host_nearby", {"partner_host_nearby": True}, "partner's building"),
    ],
)
def test_each_rule_fires_with_its_reason(rule, changes, text):
    suggestion = rag.suggest_rag(replace(PLAIN, **changes), AS_OF)
    fired = {r.rule: r for r in suggestion.reasons}
    assert list(fired) == [rule]
    assert text in fired[rule].reason
    table = {r.name: r for r in rag.RULES}
    assert fired[rule].leaning == table[rule].leaning


def test_nothing_fires_on_a_plain_office():
    suggestion = rag.suggest_rag(PLAIN, AS_OF)
    assert suggestion.reasons == () and suggestion.rag == Rag.amber and suggestion.score == 0


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        ({"utilisation_pct": 50}, False),  # the threshold is "under 50%"
        ({"utilisation_pct": 49.9}, True),
        ({"lease_expiry_date": dt.date(2028, 11, 30)}, True),  # exactly 24 months on
        ({"lease_expiry_date": dt.date(2028, 12, 1)}, False),
        ({"maintenance_backlog_gbp": 199_999, "gia_m2": 1000}, False),
        ({"maintenance_backlog_gbp": 200_000, "gia_m2": 1000}, True),
    ],
)
def test_thresholds_are_where_the_table_says(changes, fires):
    names = {r.rule for r in rag.suggest_rag(replace(PLAIN, **changes), AS_OF).reasons}
    assert bool(names - {"high_utilisation"}) is fires


def test_a_crematorium_never_suggests_green_whatever_else_is_true():
    everything_green = replace(
        PLAIN,
        use_category=UseCategory.crematorium_cemetery,
        vacant=True,
        utilisation_pct=0,
        condition="D",
        lease_expiry_date=AS_OF,
        maintenance_backlog_gbp=10_000_000,
        gia_m2=100,
        partner_host_nearby=True,
    )
    suggestion = rag.suggest_rag(everything_green, AS_OF)
    assert suggestion.rag == Rag.red
    assert suggestion.decided_by == "crematorium"
    # Without the crematorium rule the other points alone would have said green.
    assert sum(r.points for r in suggestion.reasons if r.leaning == "green") >= rag.GREEN_AT


def test_an_operational_station_in_use_is_red_even_when_half_empty():
    facts = replace(PLAIN, use_category=UseCategory.fire_station, operational=True, utilisation_pct=30)
    suggestion = rag.suggest_rag(facts, AS_OF)
    assert suggestion.rag == Rag.red and suggestion.decided_by == "operational_service"


def test_a_vacant_police_station_is_no_longer_operational():
    facts = replace(PLAIN, use_category=UseCategory.police_station, operational=True, vacant=True)
    assert rag.suggest_rag(facts, AS_OF).rag == Rag.green


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"condition": "D", "lease_expiry_date": dt.date(2027, 1, 1)}, Rag.green),  # 2 + 2 = 4
        ({"condition": "C", "partner_host_nearby": True}, Rag.green),  # 1 + 2 = 3, on the line
        ({"condition": "C"}, Rag.amber),
        ({"listed_grade": "I", "disposal_blockers": ("planning",)}, Rag.red),  # -2 - 1 = -3
        ({"listed_grade": "II", "utilisation_pct": 90}, Rag.amber),  # -1 - 1 = -2
    ],
)
def test_points_add_up_against_the_thresholds(changes, expected):
    assert rag.suggest_rag(replace(PLAIN, **changes), AS_OF).rag == expected


def test_facts_from_a_register_record():
    record = {
        "use_category": "court",
        "tenure_detail": "occupied",
        "utilisation_pct": 80.0,
        "condition": "C",
        "lease_expiry_date": "2027-03-31",
        "maintenance_backlog_gbp": 100_000,
        "gia_m2": 1200.0,
        "listed_grade": None,
        "disposal_blockers": ["planning"],
    }
    facts = rag.facts_from_record(record, partner_host_nearby=True)
    assert facts.operational and not facts.vacant
    assert facts.lease_expiry_date == dt.date(2027, 3, 31)
    assert facts.disposal_blockers == ("planning",)
    assert rag.suggest_rag(facts, AS_OF).rag == Rag.red


def test_every_rule_has_a_reason_and_a_positive_weight():
    names = [r.name for r in rag.RULES]
    assert len(names) == len(set(names))
    for rule in rag.RULES:
        assert rule.weight > 0 and rule.reason and rule.leaning in ("red", "green")


@pytest.mark.parametrize(
    ("changes", "human", "disputes"),
    [
        ({"disposal_blockers": ("planning",)}, "red", False),  # a red reason, short of red: no case
        ({"condition": "C"}, "red", True),  # a green reason against a red rating
        ({}, "red", False),  # no rule at all
        ({"vacant": True}, "amber", True),
        ({"vacant": True}, "green", False),  # agrees
        ({"listed_grade": "I", "disposal_blockers": ("title",)}, "green", True),
    ],
)
def test_a_suggestion_disputes_a_rating_only_with_a_reason_leaning_its_way(changes, human, disputes):
    assert rag.suggest_rag(replace(PLAIN, **changes), AS_OF).disputes(human) is disputes
