"""The committed seed files: big enough, true to the vocabularies, inside the county, reproducible.

Reads seed/*.csv and the boundary GeoJSON as committed; needs no database.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape

from gis.vocab import (
    Condition,
    DisposalBlocker,
    DisposalStage,
    HoldingType,
    ListedGrade,
    OrganisationKind,
    Rag,
    Tenure,
    TenureDetail,
    UseCategory,
    ValuationBasis,
    values,
)
from seed import generate

SEED_DIR = Path(generate.__file__).resolve().parent
TO_BNG = Transformer.from_crs(4326, 27700, always_xy=True)
HUB_OWNERS = ("west-mercia-police", "worcestershire-cc", "wychavon", "dwp-jcp")
OFFICE_LIKE = {"office", "customer_service_centre", "jobcentre", "police_station"}
EMERGENCY = {"police_station", "fire_station", "hospital", "court"}
REQUIRED_BODIES = {
    "worcestershire-cc": "E10000034",
    "worcester-city": "E07000237",
    "wychavon": "E07000238",
    "malvern-hills": "E07000235",
    "bromsgrove": "E07000234",
    "redditch": "E07000236",
    "wyre-forest": "E07000239",
    "west-mercia-police": "",
    "hw-fire": "",
    "worcs-acute": "",
    "hw-health-care": "",
    "hw-icb": "",
    "dwp-jcp": "",
    "hmcts": "",
    "central-gov-other": "",
}


def read_csv(name: str) -> list[dict[str, str]]:
    with (SEED_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def properties() -> list[dict[str, str]]:
    return read_csv("properties.csv")


@pytest.fixture(scope="module")
def organisations() -> list[dict[str, str]]:
    return read_csv("organisations.csv")


@pytest.fixture(scope="module")
def county() -> shapely.Polygon:
    with (SEED_DIR / "worcestershire_boundary.geojson").open(encoding="utf-8") as handle:
        return shape(json.load(handle)["features"][0]["geometry"])


def bng(row: dict[str, str]) -> tuple[float, float]:
    return TO_BNG.transform(float(row["lon"]), float(row["lat"]))


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def project(geometry: shapely.Geometry) -> shapely.Geometry:
    def to_bng(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(TO_BNG.transform(coords[:, 0], coords[:, 1]))

    return shapely.transform(geometry, to_bng)


def test_headers_are_exactly_the_documented_columns(properties, organisations):
    assert tuple(properties[0]) == generate.PROPERTY_COLUMNS
    assert tuple(organisations[0]) == ("code", "name", "kind", "gss_code")


def test_at_least_1300_buildings(properties):
    assert len(properties) >= 1300


def test_estate_is_worth_more_than_three_billion(properties):
    assert all(row["value_gbp"].isdigit() and int(row["value_gbp"]) > 0 for row in properties)
    assert sum(int(row["value_gbp"]) for row in properties) > 3_000_000_000


def test_owners_are_known_organisations(properties, organisations):
    codes = {org["code"] for org in organisations}
    owners = {row["owner"] for row in properties}
    assert len(owners) >= 12
    assert owners <= codes


def test_the_fifteen_bodies_with_their_gss_codes(organisations):
    by_code = {org["code"]: org for org in organisations}
    assert set(REQUIRED_BODIES) <= set(by_code)
    for code, gss in REQUIRED_BODIES.items():
        assert by_code[code]["gss_code"] == gss, code
    assert all(org["kind"] in values(OrganisationKind) for org in organisations)


def test_asset_refs_are_unique_per_owner(properties):
    pairs = Counter((row["owner"], row["asset_ref"]) for row in properties)
    assert all(row["asset_ref"] for row in properties)
    assert max(pairs.values()) == 1


def test_every_row_has_a_rag_and_a_reason(properties):
    for row in properties:
        assert row["rag"] in values(Rag), row["asset_ref"]
        assert row["rag_reason"].strip(), row["asset_ref"]


def test_crematoria_and_cemeteries_are_red(properties):
    rows = [row for row in properties if row["use_category"] == UseCategory.crematorium_cemetery]
    assert rows
    assert {row["rag"] for row in rows} == {Rag.red}


def test_emergency_buildings_in_use_are_red_and_operational(properties):
    rows = [r for r in properties if r["use_category"] in EMERGENCY and r["tenure_detail"] != "vacant"]
    assert rows
    for row in rows:
        assert row["rag"] == Rag.red, row["name"]
        assert DisposalBlocker.operational_use in row["disposal_blockers"].split(";"), row["name"]


def test_vacant_and_under_used_buildings_are_green(properties):
    for row in properties:
        if row["use_category"] in EMERGENCY or row["use_category"] == UseCategory.crematorium_cemetery:
            continue
        util = row["utilisation_pct"]
        if row["tenure_detail"] == TenureDetail.vacant or (util and int(util) < 50):
            assert row["rag"] == Rag.green, row["name"]


def test_rag_mix_is_roughly_45_30_25(properties):
    share = {rag: n / len(properties) for rag, n in Counter(row["rag"] for row in properties).items()}
    assert share[Rag.red] == pytest.approx(0.45, abs=0.05)
    assert share[Rag.amber] == pytest.approx(0.30, abs=0.05)
    assert share[Rag.green] == pytest.approx(0.25, abs=0.05)


def test_disposal_stage_follows_the_rating(properties):
    for row in properties:
        assert row["disposal_stage"] != DisposalStage.sold
        if row["rag"] == Rag.green:
            assert row["disposal_stage"] != DisposalStage.retained, row["name"]


def test_every_enumerated_value_is_in_the_vocabulary(properties):
    enums = {
        "tenure": Tenure,
        "tenure_detail": TenureDetail,
        "holding_type": HoldingType,
        "use_category": UseCategory,
        "valuation_basis": ValuationBasis,
        "condition": Condition,
        "rag": Rag,
        "disposal_stage": DisposalStage,
    }
    for row in properties:
        for column, enum in enums.items():
            assert row[column] in values(enum), (row["asset_ref"], column, row[column])
        assert row["listed_grade"] in ("", *values(ListedGrade))
        blockers = row["disposal_blockers"]
        assert not blockers or set(blockers.split(";")) <= set(values(DisposalBlocker))
        assert row["sensitive"] in ("true", "false")


def test_field_shapes(properties):
    for row in properties:
        assert len(row["lon"].split(".")[1]) == 6 and len(row["lat"].split(".")[1]) == 6
        assert not row["uprn"] or (row["uprn"].isdigit() and len(row["uprn"]) <= 12)
        assert date(2008, 4, 1) <= date.fromisoformat(row["valuation_date"]) <= date(2010, 3, 31)
        assert bool(row["lease_expiry_date"]) == (row["tenure"] == Tenure.leasehold), row["name"]
        if row["use_category"] == UseCategory.land:
            assert row["utilisation_pct"] == "" and row["gia_m2"] == ""
        elif row["utilisation_pct"]:
            assert 0 <= int(row["utilisation_pct"]) <= 100


def test_some_uprns_blank_and_a_few_shared(properties):
    uprns = Counter(row["uprn"] for row in properties if row["uprn"])
    blank = sum(1 for row in properties if not row["uprn"]) / len(properties)
    assert 0.08 <= blank <= 0.22
    assert 1 <= sum(1 for n in uprns.values() if n == 2) <= 12
    assert max(uprns.values()) == 2


def test_boundary_is_a_simplified_polygon(county):
    assert county.geom_type == "Polygon" and county.is_valid
    assert 30 <= len(county.exterior.coords) - 1 <= 80
    assert 1600 <= project(county).area / 1e6 <= 1900  # Worcestershire is 1,741 km²


def test_every_point_is_inside_the_county_with_a_300m_margin(properties, county):
    inner = project(county).buffer(-300)
    outside = [row["name"] for row in properties if not inner.contains(Point(bng(row)))]
    assert outside == []


def hub_rows(properties: list[dict[str, str]]) -> list[dict[str, str]]:
    """Office-like holdings of the four hub bodies around High Street / Abbey Road, Evesham."""
    hub = TO_BNG.transform(*generate.EVESHAM_HUB)
    return [
        row
        for row in properties
        if row["owner"] in HUB_OWNERS and row["use_category"] in OFFICE_LIKE and metres(bng(row), hub) < 600
    ]


def test_evesham_cluster_is_four_offices_within_400m(properties):
    rows = hub_rows(properties)
    assert sorted(row["owner"] for row in rows) == sorted(HUB_OWNERS)
    for a, b in itertools.combinations(rows, 2):
        assert metres(bng(a), bng(b)) < 400, (a["name"], b["name"])
    for row in rows:
        assert row["fte"], row["name"]
        assert int(row["utilisation_pct"]) < 70, row["name"]


def test_evesham_cluster_is_unambiguous(properties):
    cluster = hub_rows(properties)
    centre = tuple(np.mean([bng(row) for row in cluster], axis=0))
    names = {row["name"] for row in cluster}
    near = [
        row["name"]
        for row in properties
        if row["use_category"] in OFFICE_LIKE and row["name"] not in names and metres(bng(row), centre) < 800
    ]
    assert near == []


def test_regeneration_is_byte_identical(tmp_path):
    generate.main(tmp_path)
    for name in (generate.ORGANISATIONS_FILE, generate.PROPERTIES_FILE, generate.BOUNDARY_FILE):
        assert (tmp_path / name).read_bytes() == (SEED_DIR / name).read_bytes(), name
