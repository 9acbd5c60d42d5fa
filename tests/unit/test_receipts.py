"""The single-estate capital receipts model (gis.receipts)."""

from __future__ import annotations

import json
import math
import tracemalloc
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import gis.receipts as receipts
from gis.receipts import (
    EstateBuildings,
    ReceiptsScenario,
    compare_single_estate_with_silo,
    comparison_to_dict,
    estimate_receipts,
    green_book_discount_factors,
)

# Every sale certain, in year 1, at today's values: the arithmetic is exact.
CERTAIN_YEAR_ONE: dict[str, Any] = {
    "green_probability": 1.0,
    "green_first_year": 1,
    "green_last_year": 1,
    "market_volatility_pa": 0.0,
    "market_drift_pa": 0.0,
}


def building(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "b",
        "owner": "Worcestershire County Council",
        "town": "Worcester",
        "use_category": "office",
        "rag": "green",
        "disposal_stage": "retained",
        "value_gbp": 1_000_000.0,
        "gia_m2": 100.0,
        "vacant": False,
        "own_host_nearby": True,
        "partner_host_nearby": False,
    }
    record.update(overrides)
    return record


def estate(*records: Mapping[str, Any]) -> EstateBuildings:
    """The records as an estate, numbering the ids left at the default "b"."""
    return EstateBuildings.from_records(
        {**record, "id": f"b{number}" if record["id"] == "b" else record["id"]}
        for number, record in enumerate(records)
    )


def random_estate(n: int, seed: int = 7) -> EstateBuildings:
    """A plausible estate whose every sale nets a positive receipt."""
    rng = np.random.default_rng(seed)
    return EstateBuildings(
        id=np.array([f"b{i}" for i in range(n)]),
        owner=rng.choice(["County", "Wychavon", "Malvern Hills", "Police", "Fire", "NHS"], n),
        town=rng.choice(["Worcester", "Redditch", "Kidderminster", "Evesham", "Malvern"], n),
        use_category=rng.choice(["office", "library", "depot", "school", "other"], n),
        rag=rng.choice(["red", "amber", "green"], n, p=[0.4, 0.35, 0.25]),
        disposal_stage=rng.choice(
            ["retained", "under_review", "declared_surplus", "marketed", "under_offer", "sold"],
            n,
            p=[0.55, 0.15, 0.1, 0.1, 0.05, 0.05],
        ),
        value_gbp=rng.uniform(1e6, 5e6, n),
        gia_m2=np.where(rng.random(n) < 0.05, np.nan, rng.uniform(0, 1_000, n)),
        vacant=rng.random(n) < 0.1,
        own_host_nearby=rng.random(n) < 0.3,
        partner_host_nearby=rng.random(n) < 0.5,
    )


def three_buildings() -> EstateBuildings:
    return estate(
        building(value_gbp=1_000_000, gia_m2=100),
        building(value_gbp=2_000_000, gia_m2=200),
        building(value_gbp=500_000, gia_m2=0),
    )


# --- exclusions ------------------------------------------------------------


@pytest.mark.parametrize("stage", ["retained", "under_review", "declared_surplus", "marketed", "under_offer"])
def test_red_buildings_contribute_nothing(stage: str) -> None:
    greens = [building(id=f"g{i}", value_gbp=1e6 * (i + 1)) for i in range(5)]
    reds = [
        building(id=f"r{i}", rag="red", disposal_stage=stage, vacant=True, value_gbp=9e6) for i in range(5)
    ]
    scenario = ReceiptsScenario(runs=500)

    alone = estimate_receipts(estate(*greens), scenario)
    with_red = estimate_receipts(estate(*greens, *reds), scenario)

    assert with_red.net == alone.net
    assert with_red.pv == alone.pv
    assert with_red.counts.excluded_red == 5
    assert not any(c.id.startswith("r") for c in with_red.top_contributors)


def test_sold_buildings_contribute_nothing() -> None:
    result = estimate_receipts(
        estate(building(disposal_stage="sold", vacant=True)), ReceiptsScenario(**CERTAIN_YEAR_ONE)
    )

    assert result.gross.expected == 0
    assert result.counts.excluded_sold == 1
    assert result.counts.buildings_considered == 0


def test_unvalued_building_is_excluded() -> None:
    result = estimate_receipts(
        estate(building(value_gbp=None), building(value_gbp=1_000_000, gia_m2=0)),
        ReceiptsScenario(**CERTAIN_YEAR_ONE),
    )

    assert round(result.net.expected) == 960_000
    assert result.counts.excluded_unvalued == 1


@pytest.mark.parametrize(
    ("vacant", "own_host", "partner_host", "mode", "sells"),
    [
        (True, False, False, "silo", True),
        (True, False, False, "single_estate", True),
        (False, True, False, "silo", True),
        (False, True, False, "single_estate", True),
        (False, False, True, "silo", False),
        (False, False, True, "single_estate", True),
        (False, False, False, "silo", False),
        (False, False, False, "single_estate", False),
    ],
)
def test_releasability(vacant: bool, own_host: bool, partner_host: bool, mode: str, sells: bool) -> None:
    record = building(vacant=vacant, own_host_nearby=own_host, partner_host_nearby=partner_host)
    scenario = ReceiptsScenario(**CERTAIN_YEAR_ONE, mode=mode)

    result = estimate_receipts(estate(record), scenario)

    assert (result.gross.expected > 0) is sells
    assert result.counts.releasable == int(sells)


def test_building_needing_a_partner_host_is_sold_only_in_the_single_estate() -> None:
    needs_partner = building(id="needs-partner", own_host_nearby=False, partner_host_nearby=True)

    comparison = compare_single_estate_with_silo(estate(needs_partner), ReceiptsScenario(**CERTAIN_YEAR_ONE))

    assert comparison["silo"].gross.expected == 0
    assert round(comparison["single_estate"].net.expected) == 1_000_000 * 0.96 - 150 * 100
    assert [c.id for c in comparison["single_estate_only"]] == ["needs-partner"]
    assert comparison["difference"]["additional_releasable"] == 1


# --- arithmetic --------------------------------------------------------------


def test_three_building_estate_by_hand() -> None:
    result = estimate_receipts(three_buildings(), ReceiptsScenario(runs=10, **CERTAIN_YEAR_ONE))

    expected_net = 3_500_000 * 0.96 - 150 * 300
    assert expected_net == 3_315_000
    assert round(result.gross.expected) == 3_500_000
    assert round(result.net.expected) == 3_315_000
    assert round(result.pv.expected) == round(3_315_000 / 1.035)
    assert round(result.years[0].expected_net) == 3_315_000
    assert all(round(year.expected_net) == 0 for year in result.years[1:])


@pytest.mark.parametrize("block_elements", [1, 7, 1 << 21])
def test_chunking_does_not_change_the_arithmetic(
    monkeypatch: pytest.MonkeyPatch, block_elements: int
) -> None:
    monkeypatch.setattr(receipts, "_BLOCK_ELEMENTS", block_elements)

    result = estimate_receipts(three_buildings(), ReceiptsScenario(runs=25, **CERTAIN_YEAR_ONE))

    assert round(result.net.expected) == 3_315_000
    assert round(result.net.p10) == round(result.net.p90) == 3_315_000


def test_vacant_building_has_no_transition_cost() -> None:
    result = estimate_receipts(
        estate(building(vacant=True, own_host_nearby=False, gia_m2=1_000)),
        ReceiptsScenario(**CERTAIN_YEAR_ONE),
    )

    assert round(result.net.expected) == 960_000


def test_unknown_floor_area_costs_nothing_to_vacate() -> None:
    result = estimate_receipts(estate(building(gia_m2=None)), ReceiptsScenario(**CERTAIN_YEAR_ONE))

    assert round(result.net.expected) == 960_000


@pytest.mark.parametrize(
    ("year", "factor"),
    [
        (1, 1 / 1.035),
        (30, 1.035**-30),
        (31, 1.035**-30 / 1.03),
        (45, 1.035**-30 * 1.03**-15),
    ],
)
def test_green_book_discount_factor(year: int, factor: float) -> None:
    assert green_book_discount_factors(60)[year - 1] == pytest.approx(factor, rel=1e-12)


def test_sale_in_year_31_is_discounted_at_the_long_rate() -> None:
    scenario = ReceiptsScenario(
        **{**CERTAIN_YEAR_ONE, "green_first_year": 31, "green_last_year": 31},
        horizon_years=31,
    )

    result = estimate_receipts(estate(building(gia_m2=0)), scenario)

    assert result.pv.expected == pytest.approx(960_000 / (1.035**30 * 1.03), abs=0.5)


def test_sale_after_the_horizon_is_not_counted() -> None:
    scenario = ReceiptsScenario(
        **{**CERTAIN_YEAR_ONE, "green_first_year": 6, "green_last_year": 6}, horizon_years=5
    )

    assert estimate_receipts(estate(building()), scenario).gross.expected == 0


@pytest.mark.parametrize("rate", [0.01, 0.035, 0.1])
def test_present_value_does_not_exceed_nominal_net(rate: float) -> None:
    scenario = ReceiptsScenario(runs=2_000, discount_rate=rate, discount_rate_long=rate)

    result = estimate_receipts(random_estate(300), scenario)

    assert result.pv.expected < result.net.expected
    assert np.all(result.runs_pv <= result.runs_net)


def test_no_volatility_and_certain_sales_give_no_spread() -> None:
    result = estimate_receipts(
        estate(*(building(value_gbp=v) for v in (1e6, 2.5e6, 4e5))),
        ReceiptsScenario(runs=1_000, **CERTAIN_YEAR_ONE),
    )

    gross = result.gross
    assert gross.p10 == gross.p50 == gross.p90
    assert round(gross.p50) == 3_900_000


def test_doubling_values_doubles_gross_receipts() -> None:
    buildings = random_estate(200)
    doubled = EstateBuildings(
        **{
            name: getattr(buildings, name) * 2 if name == "value_gbp" else getattr(buildings, name)
            for name in EstateBuildings.__dataclass_fields__
        }
    )
    scenario = ReceiptsScenario(runs=1_000)

    base = estimate_receipts(buildings, scenario).gross
    twice = estimate_receipts(doubled, scenario).gross

    for statistic in ("expected", "p10", "p50", "p90"):
        assert getattr(twice, statistic) == pytest.approx(2 * getattr(base, statistic), rel=1e-12)


# --- stages and windows ------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "probability", "years"),
    [
        ("under_offer", 0.95, {1}),
        ("marketed", 0.9, {1, 2}),
        ("declared_surplus", 0.9, {1, 2, 3}),
        ("retained", 0.5, {3, 4, 5, 6, 7}),
        ("under_review", 0.5, {3, 4, 5, 6, 7}),
    ],
)
def test_stage_sets_the_sale_window_of_an_amber_building(
    stage: str, probability: float, years: set[int]
) -> None:
    result = estimate_receipts(
        estate(building(rag="amber", disposal_stage=stage)), ReceiptsScenario(runs=20_000)
    )

    sold_in = {year.year for year in result.years if year.expected_sold > 0}
    assert sold_in == years
    assert result.counts.expected_sold == pytest.approx(probability, abs=0.015)


# --- reproducibility and comparison ------------------------------------------


def test_same_seed_gives_identical_results() -> None:
    buildings = random_estate(300)
    scenario = ReceiptsScenario(runs=1_000, seed=42)

    first = estimate_receipts(buildings, scenario)
    second = estimate_receipts(buildings, scenario)

    assert first == second
    assert first.to_dict() == second.to_dict()
    assert np.array_equal(first.runs_net, second.runs_net)


def test_different_seed_gives_different_results() -> None:
    buildings = random_estate(300)

    first = estimate_receipts(buildings, ReceiptsScenario(runs=1_000, seed=1))
    second = estimate_receipts(buildings, ReceiptsScenario(runs=1_000, seed=2))

    assert first.net != second.net


def test_single_estate_at_least_matches_silo() -> None:
    comparison = compare_single_estate_with_silo(random_estate(500), ReceiptsScenario(runs=2_000))

    single, silo = comparison["single_estate"], comparison["silo"]
    assert single.net.expected > silo.net.expected
    # Common random numbers: the single estate wins in every run, not just on average.
    assert np.all(single.runs_net >= silo.runs_net)
    assert comparison["difference"]["net"].p10 >= 0
    assert comparison["difference"]["net"].expected == pytest.approx(single.net.expected - silo.net.expected)


def test_comparison_ignores_the_scenario_mode() -> None:
    buildings = random_estate(100)

    a = compare_single_estate_with_silo(buildings, ReceiptsScenario(runs=200, mode="silo"))
    b = compare_single_estate_with_silo(buildings, ReceiptsScenario(runs=200))

    assert a["single_estate"].assumptions.mode == "single_estate"
    assert a["difference"]["net"] == b["difference"]["net"]


# --- reporting ---------------------------------------------------------------


def test_breakdowns_add_up_to_the_total() -> None:
    result = estimate_receipts(random_estate(400), ReceiptsScenario(runs=500))

    for breakdown in (result.by_owner, result.by_town, result.by_use):
        assert sum(row.expected_net for row in breakdown) == pytest.approx(result.net.expected)
        assert sum(row.buildings for row in breakdown) == 400
    assert sum(year.expected_net for year in result.years) == pytest.approx(result.net.expected)


def test_top_contributors_are_the_twenty_largest_in_order() -> None:
    result = estimate_receipts(random_estate(400), ReceiptsScenario(runs=500))

    nets = [c.expected_net for c in result.top_contributors]
    assert len(nets) == 20
    assert nets == sorted(nets, reverse=True)


def test_to_dict_is_json_ready_with_whole_pounds() -> None:
    result = estimate_receipts(random_estate(100), ReceiptsScenario(runs=200))

    data = json.loads(json.dumps(result.to_dict()))
    assert isinstance(data["net"]["expected"], int)
    assert data["assumptions"]["runs"] == 200
    assert data["counts"]["buildings_total"] == 100


def test_comparison_to_dict_is_json_ready() -> None:
    comparison = compare_single_estate_with_silo(random_estate(100), ReceiptsScenario(runs=200))

    data = json.loads(json.dumps(comparison_to_dict(comparison)))
    assert set(data) == {"single_estate", "silo", "difference", "single_estate_only"}


# --- validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("discount_rate", -0.01),
        ("disposal_cost_rate", -0.04),
        ("transition_cost_gbp_per_m2", -1.0),
        ("green_probability", 1.5),
        ("amber_probability", -0.1),
        ("runs", 0),
        ("runs", 100_001),
        ("horizon_years", 0),
        ("seed", -1),
        ("market_volatility_pa", math.nan),
        ("market_drift_pa", math.inf),
        ("discount_rate_long", math.nan),
        ("mode", "merged"),
        ("green_first_year", 4),
        ("colour", "blue"),
    ],
)
def test_invalid_scenario_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        ReceiptsScenario(**{field: value})

    assert field in str(error.value)


def test_scenario_is_frozen() -> None:
    with pytest.raises(ValidationError):
        ReceiptsScenario().runs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "record",
    [
        building(rag="purple"),
        building(disposal_stage="gifted"),
        building(value_gbp=-1),
        building(gia_m2=math.inf),
    ],
)
def test_invalid_building_is_refused(record: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        estate(record)


def test_record_without_a_value_field_is_refused() -> None:
    record = building()
    del record["value_gbp"]

    with pytest.raises(ValueError, match="value_gbp"):
        EstateBuildings.from_records([record])


def test_empty_estate_gives_zero() -> None:
    result = estimate_receipts(EstateBuildings.from_records([]), ReceiptsScenario(runs=10))

    assert result.net == receipts.Distribution(0.0, 0.0, 0.0, 0.0)
    assert result.counts.buildings_total == 0
    assert result.top_contributors == ()


@pytest.mark.drill
def test_a_million_buildings_stay_under_a_gigabyte() -> None:
    buildings = random_estate(1_000_000)

    tracemalloc.start()
    try:
        result = estimate_receipts(buildings, ReceiptsScenario(runs=200))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.counts.buildings_total == 1_000_000
    assert peak < 1 << 30
