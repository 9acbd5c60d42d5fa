"""The pipeline's plain rules: transitions, working days, signatures, backoff, calibration."""

from __future__ import annotations

import datetime as dt

import pytest

from gis import disposal
from gis.errors import ValidationFailed
from gis.receipts import ReceiptsScenario, RecordedOutcome, calibrate_scenario
from gis.vocab import DisposalStage

S = DisposalStage

ALLOWED = [
    (S.retained, S.under_review),
    (S.under_review, S.declared_surplus),
    (S.under_review, S.retained),
    (S.declared_surplus, S.marketed),
    (S.declared_surplus, S.retained),
    (S.declared_surplus, S.under_review),
    (S.marketed, S.under_offer),
    (S.marketed, S.retained),
    (S.marketed, S.under_review),
    (S.under_offer, S.sold),
    (S.under_offer, S.retained),
    (S.under_offer, S.under_review),
]


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED)
def test_allowed_transitions(from_stage, to_stage):
    disposal.check_transition(from_stage, to_stage)


def test_the_allowed_table_is_exactly_these():
    every = {(a, b) for a in S for b in S if b in disposal.allowed_transitions(a)}
    assert every == set(ALLOWED)


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        (S.retained, S.declared_surplus),  # skips review
        (S.retained, S.sold),
        (S.under_review, S.marketed),
        (S.declared_surplus, S.under_offer),
        (S.marketed, S.declared_surplus),  # no step back except withdrawal
        (S.sold, S.retained),  # sold is final
        (S.sold, S.under_review),
        (S.retained, S.retained),
    ],
)
def test_forbidden_transitions_name_the_allowed_ones(from_stage, to_stage):
    with pytest.raises(disposal.InvalidTransition) as caught:
        disposal.check_transition(from_stage, to_stage)
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.errors[0].field == "to_stage"
    assert caught.value.extra["allowed"] == list(disposal.allowed_transitions(from_stage))
    for stage in disposal.allowed_transitions(from_stage):
        assert stage in caught.value.errors[0].message


def test_withdrawal_outcomes_only_from_the_pipeline():
    assert disposal.is_withdrawal_outcome(S.marketed, S.retained)
    assert not disposal.is_withdrawal_outcome(S.under_review, S.retained)


def test_window_end_crosses_a_weekend_and_the_christmas_bank_holidays():
    # Declared on Tuesday 22 December 2026. Working days: Wed 23, Thu 24, then Friday 25
    # (Christmas), the weekend and Monday 28 (Boxing Day observed, as 26th is a Saturday) are
    # not working days, so the 3rd is Tuesday 29.
    assert disposal.interest_window_end(dt.date(2026, 12, 22), 3) == dt.date(2026, 12, 29)


def test_window_end_across_easter():
    # Thursday 2 April 2026; Good Friday 3rd, the weekend and Easter Monday 6th do not count.
    assert disposal.interest_window_end(dt.date(2026, 4, 2), 1) == dt.date(2026, 4, 7)


def test_forty_working_days_from_a_plain_monday():
    # 2 February 2026: no bank holidays until Good Friday, so 40 working days are 8 weeks.
    assert disposal.interest_window_end(dt.date(2026, 2, 2), 40) == dt.date(2026, 3, 30)


def test_the_declaration_day_itself_never_counts():
    assert disposal.add_working_days(dt.date(2026, 11, 30), 1) == dt.date(2026, 12, 1)


def test_signature_verifies_and_detects_tampering():
    body = b'{"type":"surplus_declared"}'
    header = disposal.sign("s3cret", 1_700_000_000, body)
    assert disposal.verify("s3cret", header, body)
    assert not disposal.verify("s3cret", header, body + b" ")
    assert not disposal.verify("other", header, body)
    assert not disposal.verify("s3cret", "garbage", body)


def test_backoff_doubles_up_to_the_cap():
    delays = [disposal.retry_delay_s(n, 30, 600) for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 480, 600]


def _outcomes(rag: str, sold: int, withdrawn: int) -> list[RecordedOutcome]:
    stages = ("declared_surplus", "marketed")
    return [RecordedOutcome(rag, stages, True)] * sold + [RecordedOutcome(rag, stages, False)] * withdrawn


def test_calibration_keeps_defaults_below_the_minimum_sample():
    scenario = ReceiptsScenario()
    calibrated, report = calibrate_scenario(scenario, _outcomes("green", 0, 19))
    assert calibrated.green_probability == scenario.green_probability
    green = next(g for g in report["groups"] if g["key"] == "green")
    assert green["outcomes"] == 19 and green["source"] == "default"
    assert "20" in report["rule"]


def test_calibration_moves_probabilities_towards_the_evidence():
    scenario = ReceiptsScenario()
    # Green buildings sold far less often than the 90% default assumes...
    low, report = calibrate_scenario(scenario, _outcomes("green", 6, 24))
    assert low.green_probability < scenario.green_probability
    assert low.green_probability == pytest.approx((6 + 10 * 0.9) / (30 + 10))
    # ...and amber ones more often than 50%.
    high, _ = calibrate_scenario(scenario, _outcomes("amber", 25, 5))
    assert high.amber_probability > scenario.amber_probability
    # Stage groups count every stage reached: 30 outcomes reached marketing, so it calibrates.
    marketed = next(g for g in report["groups"] if g["key"] == "marketed")
    assert marketed == {**marketed, "outcomes": 30, "sold": 6, "source": "calibrated"}
    assert low.marketed_probability < scenario.marketed_probability
    under_offer = next(g for g in report["groups"] if g["key"] == "under_offer")
    assert under_offer["outcomes"] == 0 and low.under_offer_probability == scenario.under_offer_probability
