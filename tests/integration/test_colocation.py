"""Co-location candidates on a real PostGIS: hand-built scenarios, then the Worcestershire seed.

Hand-built scenarios sit near (-2.46, 52.36), west of the Wyre Forest, where
the seed has no building within 8 km (checked by
``test_scenario_spot_is_clear_of_the_seed``). Each test gives its buildings a
post town of its own and asks for that town, so tests never see each other's
buildings; the host-flag test, which reads the whole register, also has a
spot of its own 4 km away.
"""

from __future__ import annotations

import csv
import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import Point
from shapely.strtree import STRtree
from sqlalchemy import Engine, text
from support import place_building

from api.services import colocation as svc
from api.services.seed import SEED_DIR, read_csv, seed_row_to_input
from gis import colocation as domain

TO_BNG = Transformer.from_crs(4326, 27700, always_xy=True)
TO_WGS84 = Transformer.from_crs(27700, 4326, always_xy=True)
SPOT_LONLAT = (-2.46, 52.36)
SPOT_E, SPOT_N = TO_BNG.transform(*SPOT_LONLAT)
HOST_FLAGS_SPOT = (SPOT_E + 4_000.0, SPOT_N)
# Other tests add buildings of their own organisations (some in Worcester): the
# seed tests analyse the seed's bodies only.
SEED_BODIES = tuple(row["code"] for row in read_csv(SEED_DIR / "organisations.csv"))
EVESHAM_FOUR = {
    "Evesham Police Station",
    "Evesham Customer Service Centre",
    "Wychavon Council Offices, Evesham",
    "Evesham Jobcentre Plus",
}


class Scenario:
    """Buildings placed in metres from a spot, each in the scenario's own post town."""

    def __init__(
        self, engine: Engine, make_org: Callable[..., str], origin: tuple[float, float] = (SPOT_E, SPOT_N)
    ):
        self.engine = engine
        self.make_org = make_org
        self.origin = origin
        self.town = f"Testbury {uuid.uuid4().hex[:8]}"
        self.ids: dict[str, str] = {}

    def org(self) -> str:
        return self.make_org()

    def add(self, label: str, owner: str, east_m: float, north_m: float, **fields: Any) -> str:
        """Add a building ``east_m``/``north_m`` metres from the origin (EPSG:27700); return its id."""
        self.ids[label] = place_building(
            self.engine,
            owner,
            label,
            self.town,
            self.origin[0] + east_m,
            self.origin[1] + north_m,
            "test:colocation",
            **fields,
        )
        return self.ids[label]

    def candidates(self, **params: Any) -> list[domain.Candidate]:
        params.setdefault("town", self.town)
        with self.engine.connect() as conn:
            query = svc.build_query(conn, **params)
            return svc.find_colocation_candidates(conn, svc.ADMIN, query)

    def names(self, candidate: domain.Candidate) -> set[str]:
        return {m.building.name for m in candidate.members}


@pytest.fixture()
def scenario(engine: Engine, make_org: Callable[..., str]) -> Scenario:
    return Scenario(engine, make_org)


def _office(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "use_category": "office",
        "gia_m2": 1000.0,
        "fte": 40.0,
        "condition": "B",
        "tenure": "freehold",
        "value_gbp": 1_000_000,
        "running_cost_gbp_pa": 80_000,
    }
    fields.update(overrides)
    return fields


def test_scenario_spot_is_clear_of_the_seed() -> None:
    rows = read_csv(SEED_DIR / "properties.csv")
    east, north = TO_BNG.transform([float(r["lon"]) for r in rows], [float(r["lat"]) for r in rows])
    for origin in ((SPOT_E, SPOT_N), HOST_FLAGS_SPOT):
        nearest_m = float(np.min(np.hypot(np.array(east) - origin[0], np.array(north) - origin[1])))
        assert nearest_m > 3_000, f"a seed building is {nearest_m:.0f} m from a test spot"


def test_four_owners_within_300_m_form_one_candidate(scenario: Scenario) -> None:
    uses = {
        "police": "police_station",
        "county": "customer_service_centre",
        "district": "office",
        "jobcentre": "jobcentre",
    }
    for (label, use), (east, north) in zip(
        uses.items(), [(0, 0), (150, 0), (0, 200), (120, 160)], strict=True
    ):
        scenario.add(label, scenario.org(), east, north, **_office(use_category=use))

    candidates = scenario.candidates()

    assert len(candidates) == 1
    assert scenario.names(candidates[0]) == set(uses)
    assert len(candidates[0].owners) == 4
    assert candidates[0].released_count == 3


def test_buildings_of_one_owner_alone_are_never_a_candidate(scenario: Scenario) -> None:
    owner = scenario.org()
    for i in range(4):
        scenario.add(f"office {i}", owner, 60.0 * i, 0, **_office())
    scenario.add("partner far away", scenario.org(), 2_000, 0, **_office())

    assert scenario.candidates() == []


@pytest.mark.parametrize(("separation_m", "expected"), [(799.5, 1), (800.5, 0)])
def test_distance_threshold_holds_at_the_boundary(
    scenario: Scenario, separation_m: float, expected: int
) -> None:
    scenario.add("west", scenario.org(), 0, 0, **_office())
    # On a diagonal, so neither axis alone decides the distance.
    step = separation_m / math.sqrt(2)
    scenario.add("north-east", scenario.org(), step, step, **_office())

    candidates = scenario.candidates(distance_m=800)

    assert len(candidates) == expected
    if candidates:
        assert candidates[0].max_distance_m == pytest.approx(separation_m, abs=0.05)


def test_a_crematorium_next_door_is_excluded_unless_asked_for(scenario: Scenario) -> None:
    scenario.add("council office", scenario.org(), 0, 0, **_office())
    scenario.add("crematorium", scenario.org(), 50, 0, **_office(use_category="crematorium_cemetery"))

    assert scenario.candidates() == []
    asked = scenario.candidates(uses="office,crematorium_cemetery")
    assert [scenario.names(c) for c in asked] == [{"council office", "crematorium"}]


def test_members_are_all_within_walking_distance_of_the_host_not_chained(scenario: Scenario) -> None:
    # A chain 700 m apart: A-B-C-D. DBSCAN puts all four in one cluster (A to D
    # is 2,100 m), but a hub is its host and what lies within 800 m of it: B or
    # C can gather three, never four.
    for label, east in zip("ABCD", (0, 700, 1400, 2100), strict=True):
        scenario.add(label, scenario.org(), east, 0, **_office())

    candidates = scenario.candidates()

    assert [len(c.members) for c in candidates] == [3]
    assert scenario.names(candidates[0]) in ({"A", "B", "C"}, {"B", "C", "D"})
    assert all(m.distance_to_host_m <= 800 for m in candidates[0].members)


def test_host_choice_and_space_arithmetic_match_the_hand_calculation(scenario: Scenario) -> None:
    # Needs at 10 m² per FTE:
    #   A office   GIA 3,000, 60 FTE          -> need   600, spare 2,400  (B, freehold)
    #   B jobcentre GIA 800, no FTE, 50% used -> need   400, spare   400  (A, leasehold)
    #   C library  GIA 500, no FTE or use     -> need   500 (whole GIA)   (C, freehold)
    #   D office   GIA 3,200, 100 FTE         -> need 1,000, spare 2,200  (B, leasehold)
    # B is in the best condition but cannot take the others (400 < 2,100):
    # floor area comes first. A and D both fit (A: 2,400 >= 1,900; D: 2,200 >=
    # 1,500) in the same condition, and A is freehold: A hosts.
    a, b, d = scenario.org(), scenario.org(), scenario.org()
    scenario.add(
        "A",
        a,
        0,
        0,
        **_office(
            gia_m2=3000.0,
            fte=60.0,
            condition="B",
            tenure="freehold",
            value_gbp=3_000_000,
            running_cost_gbp_pa=150_000,
        ),
    )
    scenario.add(
        "B",
        b,
        100,
        0,
        **_office(
            use_category="jobcentre",
            gia_m2=800.0,
            fte=None,
            utilisation_pct=50.0,
            condition="A",
            tenure="leasehold",
            value_gbp=500_000,
            running_cost_gbp_pa=90_000,
        ),
    )
    scenario.add(
        "C",
        d,
        0,
        120,
        **_office(
            use_category="library",
            gia_m2=500.0,
            fte=None,
            condition="C",
            value_gbp=700_000,
            running_cost_gbp_pa=40_000,
        ),
    )
    scenario.add(
        "D",
        b,
        150,
        150,
        **_office(
            gia_m2=3200.0,
            fte=100.0,
            condition="B",
            tenure="leasehold",
            value_gbp=2_000_000,
            running_cost_gbp_pa=120_000,
        ),
    )

    (hub,) = scenario.candidates()

    assert hub.host.name == "A"
    assert hub.host_need_m2 == pytest.approx(600)
    assert hub.moved_m2 == pytest.approx(400 + 500 + 1000)
    assert hub.space_needed_m2 == pytest.approx(2500)
    assert hub.host_spare_m2 == pytest.approx(2400)
    assert hub.fits and hub.extra_space_m2 == 0
    assert {b.name for b in hub.released} == {"B", "C", "D"}
    assert hub.capital_value_gbp == 500_000 + 700_000 + 2_000_000
    assert hub.running_cost_saved_gbp_pa == 90_000 + 40_000 + 120_000
    assert hub.transition_cost_gbp == 250 * 1900  # £475,000
    assert hub.payback_years == pytest.approx(475_000 / 250_000)  # 1.9 years

    # At 25 m² per FTE nobody fits: A needs 1,500 and would take 400+500+2,500
    # = 3,400 into 1,500 spare (short 1,900); D needs 2,500 and would take
    # 1,500+400+500 = 2,400 into 700 spare (short 1,700). The smaller
    # shortfall wins over tenure: D hosts, and the hub is 4,900 - 3,200 =
    # 1,700 m² short.
    (tight,) = scenario.candidates(m2_per_fte=25)
    assert tight.host.name == "D"
    assert not tight.fits
    assert tight.space_needed_m2 == pytest.approx(2500 + 2400)
    assert tight.extra_space_m2 == pytest.approx(1700)
    assert tight.transition_cost_gbp == 250 * 2400


def test_candidate_ids_are_stable_across_runs(scenario: Scenario) -> None:
    for i, (east, north) in enumerate([(0, 0), (200, 0), (0, 300), (900, 0), (1100, 100)]):
        scenario.add(f"b{i}", scenario.org(), east, north, **_office())

    first = [c.id for c in scenario.candidates()]
    second = [c.id for c in scenario.candidates()]

    assert first and first == second


def test_vacant_and_departing_buildings_take_no_part(scenario: Scenario) -> None:
    scenario.add("in use", scenario.org(), 0, 0, **_office())
    scenario.add("vacant", scenario.org(), 50, 0, **_office(tenure_detail="vacant"))
    scenario.add("marketed", scenario.org(), 0, 50, **_office(disposal_stage="marketed"))

    assert scenario.candidates() == []


def test_owner_filter_keeps_the_hubs_that_body_takes_part_in(scenario: Scenario) -> None:
    mine, partner, other_a, other_b = (scenario.org() for _ in range(4))
    scenario.add("mine", mine, 0, 0, **_office())
    scenario.add("partner", partner, 100, 0, **_office())
    scenario.add("other a", other_a, 3000, 0, **_office())
    scenario.add("other b", other_b, 3100, 0, **_office())

    assert len(scenario.candidates()) == 2
    (only,) = scenario.candidates(owner=mine)
    assert scenario.names(only) == {"mine", "partner"}


def test_host_flags_say_whether_own_or_partner_buildings_nearby_can_take_the_service(
    engine: Engine, make_org: Callable[..., str]
) -> None:
    s = Scenario(engine, make_org, origin=HOST_FLAGS_SPOT)
    x, y = s.org(), s.org()
    # P (X) needs 300: its owner's Q 300 m away has 1,000 spare; Y's R has only 100.
    p = s.add("P", x, 0, 0, **_office(gia_m2=1000.0, fte=30.0, rag="amber"))
    q = s.add("Q", x, 300, 0, **_office(gia_m2=2000.0, fte=100.0, rag="red", rag_reason="the HQ"))
    # R (Y) needs 500: X's P (700 spare) and Q (1,000 spare) could take it; none of Y's.
    r = s.add(
        "R",
        y,
        0,
        400,
        **_office(use_category="jobcentre", gia_m2=600.0, fte=50.0, rag="green", rag_reason="half empty"),
    )
    # S (Y) needs 100, 1,500 m from everyone: nobody nearby.
    t = s.add("S", y, 1500, 1500, **_office(gia_m2=5000.0, fte=10.0))
    # A vacant building next to R hosts nobody and needs no host.
    v = s.add("V", x, 30, 400, **_office(gia_m2=9000.0, tenure_detail="vacant"))

    with engine.connect() as conn:
        flags = svc.host_flags(conn, distance_m=800)

    assert flags[p] == (True, False)
    assert flags[r] == (False, True)
    assert flags[t] == (False, False)
    assert q not in flags  # red: stays
    assert v not in flags  # vacant: nothing to move


# --- the Worcestershire seed -----------------------------------------------------------------------


def test_the_evesham_cluster_is_among_the_top_five_on_the_seed(seeded: Engine) -> None:
    with seeded.connect() as conn:
        query = svc.build_query(conn, partners=SEED_BODIES)
        candidates = svc.find_colocation_candidates(conn, svc.ADMIN, query)

    top = candidates[:5]
    hits = [c for c in top if EVESHAM_FOUR <= {m.building.name for m in c.members}]
    assert hits, [(c.host.name, c.score) for c in top]
    assert {"west-mercia-police", "worcestershire-cc", "wychavon", "dwp-jcp"} <= set(hits[0].owners)


def _seed_buildings_in_python(rules: domain.ColocationRules) -> list[domain.Building]:
    """The seed as the analysis sees it, built from the CSV with pyproj alone (no PostGIS)."""
    out = []
    for row in read_csv(SEED_DIR / "properties.csv"):
        data = seed_row_to_input(row)
        lon, lat = float(row["lon"]), float(row["lat"])
        east, north = TO_BNG.transform(lon, lat)
        building = domain.Building.from_mapping(
            {
                **data,
                "id": f"{data['owner']}/{data['asset_ref']}",
                "x_m": east,
                "y_m": north,
                "lon": lon,
                "lat": lat,
            }
        )
        if domain.in_analysis(building, rules):
            out.append(building)
    return out


def test_sql_groups_agree_with_a_plain_shapely_pyproj_computation_on_the_seed(seeded: Engine) -> None:
    rules = domain.ColocationRules()
    # PostGIS: filter, DBSCAN, ST_DWithin, then the peel.
    with seeded.connect() as conn:
        query = svc.build_query(conn, partners=SEED_BODIES)
        sql_candidates = svc.find_colocation_candidates(conn, svc.ADMIN, query)
        refs = dict(
            conn.execute(
                text("SELECT id::text, owner || '/' || asset_ref FROM property WHERE deleted_at IS NULL")
            ).all()
        )
    sql_groups = {frozenset(refs[i] for i in c.member_ids) for c in sql_candidates}
    sql_hosts = {refs[c.host.id] for c in sql_candidates}

    # Python alone: pyproj coordinates, shapely STRtree for the pairs within 800 m.
    buildings = _seed_buildings_in_python(rules)
    points = [Point(b.x_m, b.y_m) for b in buildings]
    tree = STRtree(points)
    left, right = tree.query(points, predicate="dwithin", distance=rules.distance_m)
    pairs = [(buildings[i].id, buildings[j].id) for i, j in zip(left, right, strict=True) if i < j]
    py_candidates = domain.find_candidates(buildings, pairs, rules)
    py_groups = {frozenset(c.member_ids) for c in py_candidates}

    assert sql_groups == py_groups
    assert sql_hosts == {c.host.id for c in py_candidates}
    assert len(sql_groups) > 10


def test_seed_file_is_the_one_the_register_holds(seeded: Engine) -> None:
    # Guards the shapely comparison above: it reads the CSV, the SQL reads the table.
    with (SEED_DIR / "properties.csv").open(encoding="utf-8") as handle:
        csv_count = sum(1 for _ in csv.DictReader(handle))
    with seeded.connect() as conn:
        db_count = conn.execute(
            text(
                "SELECT count(*) FROM property"
                " WHERE created_by = 'seed:worcestershire' AND deleted_at IS NULL"
            )
        ).scalar_one()
    assert db_count == csv_count


def test_host_flags_agree_with_a_plain_python_computation_on_the_register(seeded: Engine) -> None:
    rules = domain.ColocationRules()
    with seeded.connect() as conn:
        flags = svc.host_flags(conn)
        rows = (
            conn.execute(
                text(
                    "SELECT id::text AS id, owner, name, use_category, ST_X(geom) AS lon, ST_Y(geom) AS lat,"
                    " gia_m2, utilisation_pct, fte, tenure_detail, rag, disposal_stage"
                    " FROM property WHERE deleted_at IS NULL AND geom IS NOT NULL"
                )
            )
            .mappings()
            .all()
        )
    shareable = [r for r in rows if r["use_category"] in rules.uses]
    east, north = TO_BNG.transform([r["lon"] for r in shareable], [r["lat"] for r in shareable])
    buildings = [
        domain.Building.from_mapping({**r, "x_m": x, "y_m": y})
        for r, x, y in zip(shareable, east, north, strict=True)
    ]
    need = np.array([round(domain.space_need(b).m2 * 1000) for b in buildings])
    can_host = np.array(
        [
            domain.can_host(b)
            and b.tenure_detail != "vacant"
            and b.disposal_stage not in domain.LEAVING_STAGES
            for b in buildings
        ]
    )
    spare = np.array([round((b.gia_m2 or 0) * 1000) for b in buildings]) - need
    xy = np.array([east, north]).T
    near = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) <= rules.distance_m
    np.fill_diagonal(near, False)
    owners = np.array([b.owner for b in buildings])
    same = owners[:, None] == owners[None, :]
    fits = near & can_host[None, :] & (spare[None, :] >= need[:, None])
    expected = {
        b.id: (bool((fits[i] & same[i]).any()), bool((fits[i] & ~same[i]).any()))
        for i, b in enumerate(buildings)
        if b.tenure_detail != "vacant" and b.rag != "red"
    }

    assert flags == expected
    assert sum(own for own, _ in flags.values()) > 20
    assert sum(partner for _, partner in flags.values()) > 20
