"""The register's controlled vocabularies (DESIGN §3).

Values are lower-case slugs so they read the same in SQL, JSON, CSV and the
CLI. The database holds them as text with CHECK constraints generated from
these tuples, so this module is the one place a category is added.
"""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    county = "county"
    district = "district"
    unitary = "unitary"
    police = "police"
    fire = "fire"
    nhs_trust = "nhs_trust"
    nhs_icb = "nhs_icb"
    central_government = "central_government"
    education = "education"
    other = "other"


class Rag(StrEnum):
    red = "red"  # disposal unlikely
    amber = "amber"  # disposal possible
    green = "green"  # disposal opportunity


class Tenure(StrEnum):
    freehold = "freehold"
    leasehold = "leasehold"
    other = "other"


class TenureDetail(StrEnum):
    occupied = "occupied"
    ground_leasehold = "ground_leasehold"
    leasehold = "leasehold"
    sub_leasehold = "sub_leasehold"
    licence = "licence"
    vacant = "vacant"


class HoldingType(StrEnum):
    land = "land"
    building = "building"
    land_and_building = "land_and_building"


class UseCategory(StrEnum):
    office = "office"
    customer_service_centre = "customer_service_centre"
    library = "library"
    school = "school"
    police_station = "police_station"
    fire_station = "fire_station"
    health_centre = "health_centre"
    hospital = "hospital"
    depot = "depot"
    crematorium_cemetery = "crematorium_cemetery"
    leisure = "leisure"
    community_centre = "community_centre"
    court = "court"
    jobcentre = "jobcentre"
    land = "land"
    other = "other"


class ValuationBasis(StrEnum):
    euv = "euv"  # existing use value
    mv = "mv"  # market value
    drc = "drc"  # depreciated replacement cost
    fair_value = "fair_value"


class Condition(StrEnum):
    A = "A"  # good
    B = "B"  # satisfactory
    C = "C"  # poor
    D = "D"  # bad, imminent failure


class ListedGrade(StrEnum):
    I = "I"  # noqa: E741 - the grade's real name
    II_star = "II*"
    II = "II"


class DisposalStage(StrEnum):
    retained = "retained"
    under_review = "under_review"
    declared_surplus = "declared_surplus"
    marketed = "marketed"
    under_offer = "under_offer"
    sold = "sold"


class DisposalBlocker(StrEnum):
    operational_use = "operational_use"
    planning = "planning"
    contamination = "contamination"
    title = "title"  # type: ignore[assignment]  # the register's word; shadows str.title on purpose
    lease = "lease"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """Return the slugs of an enumeration in declaration order."""
    return tuple(member.value for member in enum)


# Stages at which a valuation is commercially sensitive: it is withheld from
# everyone but the owner (DESIGN §3 visibility).
COMMERCIALLY_SENSITIVE_STAGES: frozenset[str] = frozenset(
    {DisposalStage.marketed.value, DisposalStage.under_offer.value}
)
