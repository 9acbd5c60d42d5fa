"""The pure co-location rules (gis/colocation.py): space, host, money, score, groups. No database."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pytest

from gis import colocation as c
from gis.errors import ValidationFailed


def building(id: str, owner: str, x_m: float = 0.0, y_m: float = 0.0, **fields: Any) -> c.Building:
    values: dict[str, Any] = {
        "name": id,
        "use_category": "office",
        "gia_m2": 1000.0,
        "fte": 40.0,
        "condition": "B",
        "tenure": "freehold",
        "value_gbp": 1_000_000,
        "running_cost_gbp_pa": 100_000,
    }
    values.update(fields)
    return c.Building(id=id, owner=owner, x_m=x_m, y_m=y_m, lon=-2.2, lat=52.2, **values)


def pairs_within(buildings: list[c.Building], distance_m: float) -> list[tuple[str, str]]:
    return [
        (a.id, b.id)
        for a, b in combinations(buildings, 2)
        if math.hypot(a.x_m - b.x_m, a.y_m - b.y_m) <= distance_m
    ]


def find(buildings: list[c.Building], **rules: Any) -> list[c.Candidate]:
    r = c.ColocationRules(**rules)
    return c.find_candidates(buildings, pairs_within(buildings, r.distance_m), r)


# --- space need -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "m2", "basis"),
    [
        ({"fte": 42.0, "gia_m2": 760.0, "utilisation_pct": 55.0}, 420.0, c.NeedBasis.fte),  # FTE wins
        ({"fte": None, "gia_m2": 760.0, "utilisation_pct": 55.0}, 418.0, c.NeedBasis.occupied_area),
        ({"fte": None, "gia_m2": 760.0, "utilisation_pct": None}, 760.0, c.NeedBasis.floor_area),
        ({"fte": None, "gia_m2": None, "utilisation_pct": None}, 0.0, c.NeedBasis.unknown),
        ({"fte": 0.0, "gia_m2": 760.0, "utilisation_pct": 55.0}, 0.0, c.NeedBasis.fte),  # nobody based there
    ],
)
def test_space_need_uses_fte_then_occupied_area_then_floor_area(
    fields: dict[str, Any], m2: float, basis: c.NeedBasis
) -> None:
    need = c.space_need(building("x", "a", **fields), m2_per_fte=10.0)
    assert need.m2 == pytest.approx(m2)
    assert need.basis == basis


def test_space_need_scales_with_m2_per_fte() -> None:
    assert c.space_need(building("x", "a", fte=42.0), m2_per_fte=8.0).m2 == pytest.approx(336.0)


# --- the host rule --------------------------------------------------------------------------------


def test_a_host_that_fits_beats_a_better_one_that_does_not() -> None:
    small_good = building("small", "a", gia_m2=500.0, fte=10.0, condition="A")  # spare 400
    big_poor = building("big", "b", gia_m2=3000.0, fte=50.0, condition="C")  # spare 2,500
    other = building("other", "c", gia_m2=800.0, fte=60.0)  # need 600
    assert c.choose_host([small_good, big_poor, other]).id == "big"


@pytest.mark.parametrize(
    ("a_fields", "b_fields", "host"),
    [
        ({"condition": "A"}, {"condition": "B"}, "a"),  # both fit: condition decides
        ({"condition": "B", "tenure": "leasehold"}, {"condition": "B"}, "b"),  # then freehold
        ({"condition": None}, {"condition": "C", "gia_m2": 3001.0}, "b"),  # unknown ranks as C: spare decides
        ({"condition": "D"}, {"condition": "C", "tenure": "leasehold"}, "b"),  # condition before tenure
        ({"gia_m2": 4000.0}, {"gia_m2": 3000.0}, "a"),  # all else equal: more spare room
    ],
)
def test_host_rule_order_is_space_condition_tenure_spare(
    a_fields: dict[str, Any], b_fields: dict[str, Any], host: str
) -> None:
    base = {"gia_m2": 3000.0, "fte": 50.0}
    a = building("a", "x", **{**base, **a_fields})
    b = building("b", "y", **{**base, **b_fields})
    other = building("z", "z", fte=30.0)
    assert c.choose_host([a, b, other]).id == host


def test_when_nobody_fits_the_smallest_shortfall_hosts() -> None:
    a = building("a", "x", gia_m2=1000.0, fte=80.0, condition="A")  # spare 200
    b = building("b", "y", gia_m2=1500.0, fte=100.0, condition="D")  # spare 500
    other = building("z", "z", gia_m2=400.0, fte=150.0)  # need 1,500 (crowded)
    # Shortfalls: a 2,500 - 200 = 2,300; b 2,300 - 500 = 1,800; z 1,800 + 1,100 = 2,900.
    assert c.choose_host([a, b, other]).id == "b"


def test_a_building_without_floor_area_cannot_host() -> None:
    with pytest.raises(ValueError):
        c.choose_host([building("a", "x", gia_m2=None), building("b", "y", gia_m2=0.0)])


# --- arithmetic of one candidate ------------------------------------------------------------------


def test_evaluate_candidate_arithmetic_by_hand() -> None:
    # Host: GIA 2,000, 80 FTE -> need 800, spare 1,200.
    # Others: 30 FTE -> 300; no FTE, 600 m² at 50% -> 300; no FTE or use, 250 m² -> 250. Moved 850.
    host = building("host", "a", 0, 0, gia_m2=2000.0, fte=80.0)
    others = [
        building("b", "b", 300, 0, fte=30.0, value_gbp=900_000, running_cost_gbp_pa=60_000),
        building(
            "c",
            "c",
            0,
            400,
            fte=None,
            gia_m2=600.0,
            utilisation_pct=50.0,
            value_gbp=None,
            running_cost_gbp_pa=30_000,
        ),
        building("d", "b", 300, 400, fte=None, gia_m2=250.0, value_gbp=400_000, running_cost_gbp_pa=None),
    ]
    cand = c.evaluate_candidate(host, others, c.ColocationRules(relocation_gbp_per_m2=200.0))

    assert cand.host_need_m2 == pytest.approx(800)
    assert cand.moved_m2 == pytest.approx(850)
    assert cand.space_needed_m2 == pytest.approx(1650)
    assert cand.host_spare_m2 == pytest.approx(1200)
    assert cand.fits and cand.extra_space_m2 == 0
    assert cand.released_count == 3
    assert cand.capital_value_gbp == 1_300_000  # the unknown value is not guessed
    assert cand.unknown_value_count == 1
    assert cand.running_cost_saved_gbp_pa == 90_000
    assert cand.unknown_running_cost_count == 1
    assert cand.transition_cost_gbp == 170_000  # 850 m² x £200
    assert cand.payback_years == pytest.approx(170_000 / 90_000)
    assert cand.max_distance_m == pytest.approx(500)  # the 3-4-5 triangle
    assert [m.building.id for m in cand.members] == ["host", "b", "c", "d"]  # host, then by distance
    assert cand.owners == ("a", "b", "c")


def test_a_host_short_of_space_reports_the_extra_a_hub_needs() -> None:
    host = building("host", "a", gia_m2=1000.0, fte=60.0)  # need 600, spare 400
    cand = c.evaluate_candidate(host, [building("b", "b", fte=90.0)])  # need 900
    assert not cand.fits
    assert cand.space_needed_m2 == pytest.approx(1500)
    assert cand.extra_space_m2 == pytest.approx(500)
    assert any("500 m² short" in reason for reason in cand.reasons)


def test_fits_exactly_at_the_boundary() -> None:
    host = building("host", "a", gia_m2=1000.0, fte=60.0)  # spare 400
    assert c.evaluate_candidate(host, [building("b", "b", fte=40.0)]).fits  # need 400
    assert not c.evaluate_candidate(host, [building("b", "b", fte=40.01)]).fits


def test_payback_is_none_when_nothing_is_saved() -> None:
    host = building("host", "a")
    cand = c.evaluate_candidate(host, [building("b", "b", running_cost_gbp_pa=None)])
    assert cand.running_cost_saved_gbp_pa is None
    assert cand.payback_years is None


def test_candidate_id_depends_only_on_the_members() -> None:
    assert c.candidate_id(["b", "a", "c"]) == c.candidate_id(["c", "b", "a"])
    assert c.candidate_id(["a", "b"]) != c.candidate_id(["a", "c"])


# --- the score ------------------------------------------------------------------------------------


def test_score_parts_by_hand() -> None:
    # Saving £200k: 25(1 - 1/e); capital £3m: 15(1 - 1/e); transition 800 m² x £250
    # = £200k, payback 1 year: 15 x 0.9; fits: 15; 3 bodies: 15 x 2/4; others
    # 400 m from the host at 800 m walking distance: 10 x 0.5; host B freehold: 4.
    host = building("host", "a", 0, 0, gia_m2=3000.0, fte=50.0)
    others = [
        building("b", "b", 400, 0, fte=40.0, value_gbp=1_000_000, running_cost_gbp_pa=100_000),
        building("c", "c", 0, 400, fte=40.0, value_gbp=2_000_000, running_cost_gbp_pa=100_000),
    ]
    cand = c.evaluate_candidate(host, others)
    parts = c.score_parts(cand)

    assert parts["saving"] == pytest.approx(25 * (1 - math.exp(-1)))
    assert parts["capital"] == pytest.approx(15 * (1 - math.exp(-1)))
    assert parts["payback"] == pytest.approx(13.5)
    assert parts["fit"] == pytest.approx(15)
    assert parts["partners"] == pytest.approx(7.5)
    assert parts["proximity"] == pytest.approx(5)
    assert parts["host"] == pytest.approx(4)
    assert cand.score == pytest.approx(round(sum(parts.values()), 1))


def test_score_stays_within_0_and_100() -> None:
    host = building("host", "a", gia_m2=1e6, fte=1.0, condition="A")
    rich = [building(f"b{i}", f"o{i}", 1, 0, value_gbp=10**10, running_cost_gbp_pa=10**9) for i in range(8)]
    best = c.evaluate_candidate(host, rich, c.ColocationRules(relocation_gbp_per_m2=0.0))
    poor_host = building("host", "a", gia_m2=10.0, fte=100.0, condition="D", tenure="leasehold")
    worst = c.evaluate_candidate(
        poor_host, [building("b", "b", 799, 0, value_gbp=None, running_cost_gbp_pa=None)]
    )
    assert 99 < best.score <= 100
    assert 0 <= worst.score < 10


def test_more_partners_and_bigger_savings_score_higher() -> None:
    host = building("host", "a", gia_m2=5000.0)
    two = c.evaluate_candidate(host, [building("b", "b", 100, 0)])
    four = c.evaluate_candidate(
        host, [building("b", "b", 100, 0), building("c", "c", 0, 100), building("d", "d", 100, 100)]
    )
    assert four.score > two.score
    assert any("4 bodies" in reason for reason in four.reasons)


def test_reasons_name_the_bodies_the_host_and_the_money() -> None:
    cand = c.evaluate_candidate(
        building("host", "a", gia_m2=5000.0),
        [building("b", "b", 300, 0)],
        owner_names={"a": "County", "b": "Police"},
    )
    text = " | ".join(cand.reasons)
    assert "County" in text and "Police" in text
    assert "host host takes everyone" in text
    assert "£1.0m" in text and "£100k a year" in text


# --- forming the groups ---------------------------------------------------------------------------


def test_one_owner_never_forms_a_candidate() -> None:
    assert find([building(f"b{i}", "same", 50.0 * i, 0) for i in range(5)]) == []


def test_min_owners_is_respected() -> None:
    three = [building("a", "x", 0, 0), building("b", "y", 100, 0), building("c", "z", 0, 100)]
    assert len(find(three, min_owners=3)) == 1
    assert find(three, min_owners=4) == []


def test_a_chain_is_cut_at_the_host_distance() -> None:
    chain = [building(f"b{i}", f"o{i}", 700.0 * i, 0) for i in range(5)]  # 0..2,800 m
    candidates = find(chain)
    for cand in candidates:
        assert all(m.distance_to_host_m <= 800 for m in cand.members)
    assert sum(len(cand.members) for cand in candidates) <= 5
    assert all(len(cand.members) <= 3 for cand in candidates)


def test_every_building_is_in_at_most_one_candidate() -> None:
    grid = [
        building(f"b{i}-{j}", f"o{(i + j) % 3}", 250.0 * i, 250.0 * j) for i in range(6) for j in range(6)
    ]
    candidates = find(grid)
    ids = [m for cand in candidates for m in cand.member_ids]
    assert len(ids) == len(set(ids))
    assert candidates


def test_a_tight_core_is_never_split() -> None:
    # Four bodies within 60 m of each other, plus buildings strung out to the
    # west; whatever hosts, the core stays together.
    core = [building(f"core{i}", f"body{i}", 40.0 * (i % 2), 40.0 * (i // 2)) for i in range(4)]
    west = [building(f"w{i}", f"body{i % 2}", -350.0 * (i + 1), 0, gia_m2=5000.0 + i) for i in range(4)]
    candidates = find(core + west)
    holding = [cand for cand in candidates if {"core0", "core1", "core2", "core3"} & set(cand.member_ids)]
    assert len(holding) == 1
    assert {"core0", "core1", "core2", "core3"} <= set(holding[0].member_ids)


def test_results_do_not_depend_on_input_order() -> None:
    grid = [
        building(f"b{i}-{j}", f"o{(i * 7 + j) % 4}", 300.0 * i, 200.0 * j, gia_m2=900.0 + 37 * i + 11 * j)
        for i in range(5)
        for j in range(5)
    ]
    forward = [(cand.id, cand.host.id) for cand in find(grid)]
    backward = [(cand.id, cand.host.id) for cand in find(list(reversed(grid)))]
    assert forward == backward


@pytest.mark.parametrize(
    ("fields", "included"),
    [
        ({}, True),
        ({"use_category": "crematorium_cemetery"}, False),
        ({"use_category": "school"}, False),
        ({"use_category": "court"}, False),
        ({"tenure_detail": "vacant"}, False),
        ({"disposal_stage": "declared_surplus"}, False),
        ({"disposal_stage": "under_review"}, True),
        ({"rag": "red"}, True),  # red stays in: it may host, and a reason flags it if released
    ],
)
def test_who_takes_part(fields: dict[str, Any], included: bool) -> None:
    assert c.in_analysis(building("x", "a", **fields), c.ColocationRules()) is included


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"distance_m": 9.9}, "distance_m"),
        ({"distance_m": 5000.1}, "distance_m"),
        ({"distance_m": math.nan}, "distance_m"),
        ({"min_owners": 1}, "min_owners"),
        ({"uses": ("office", "spaceship")}, "uses"),
        ({"uses": ()}, "uses"),
        ({"m2_per_fte": 0.0}, "m2_per_fte"),
        ({"relocation_gbp_per_m2": -1.0}, "relocation_gbp_per_m2"),
    ],
)
def test_bad_rules_name_the_parameter(rules: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        c.ColocationRules(**rules).validate()
    assert [e.field for e in caught.value.errors] == [field]


def test_outline_is_a_polygon_round_every_member() -> None:
    from shapely.geometry import Point

    cand = c.evaluate_candidate(building("h", "a", 380000, 250000), [building("b", "b", 380300, 250000)])
    outline = c.candidate_outline(cand)
    assert outline.geom_type == "Polygon"
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(27700, 4326, always_xy=True)
    for m in cand.members:
        assert outline.contains(Point(*to_wgs.transform(m.building.x_m, m.building.y_m)))


def test_the_first_ranks_computed_at_once_equal_ranks_computed_one_by_one() -> None:
    # The lazy heap is only right if its first ranks are the true ones.
    grid = [
        building(
            f"b{i}-{j}",
            f"o{(i * 3 + j) % 5}",
            170.0 * i,
            130.0 * j,
            gia_m2=700.0 + 53 * ((i * j) % 7),
            fte=None if (i + j) % 4 == 0 else 10.0 + i,
            utilisation_pct=60.0,
        )
        for i in range(8)
        for j in range(8)
    ]
    rules = c.ColocationRules(distance_m=400)
    pairs = pairs_within(grid, rules.distance_m)
    index = {b.id: k for k, b in enumerate(grid)}
    peel = c._Peel(
        grid, np.array([index[a] for a, _ in pairs]), np.array([index[b] for _, b in pairs]), rules
    )

    at_once = dict((position, rank) for rank, position in peel.initial_ranks())
    one_by_one = {i: rank for i in range(len(grid)) if (rank := peel.rank(i)) is not None}

    assert at_once == one_by_one
    assert len(at_once) > 10
