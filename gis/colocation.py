"""Co-location candidates: where partners could share one building (DESIGN §4).

The Total Place insight: buildings of different public bodies, a few hundred
metres apart, each half used. This module is the pure part of the analysis:
given the buildings in shareable uses (with metric coordinates) and the pairs
within walking distance (found by PostGIS), it forms the hubs, chooses each
hub's host, does the space and money arithmetic and scores the result.
No web framework, no database: the API, the CLI and the tests call the same
functions.

Rules, in words (the service and the docs repeat them):

* **Who can share.** Buildings in the shareable uses (:data:`SHAREABLE_USES`
  unless the caller names others) that still hold a service: not vacant and
  not already on their way out (declared surplus, marketed, under offer, sold
  - the receipts model counts those already).
* **Walking distance, no chaining.** Every member of a candidate is within
  ``distance_m`` (straight line, EPSG:27700 metres) *of the host*: a chain of
  buildings 700 m apart does not make one hub. PostGIS's ``ST_ClusterDBSCAN``
  only prunes the buildings that cannot be in any hub (no neighbour, or only
  one owner in their cluster); groups are "a building and everything still
  unassigned within ``distance_m`` of it". Straight-line distance understates
  the walk by a fifth or so; lower ``distance_m`` to allow for it.
* **Forming the groups (greedy peel).** Hubs form first where the most bodies
  meet: among unassigned buildings with a known floor area, the one whose
  group (itself plus every unassigned shareable building within
  ``distance_m``) holds the most distinct owners - then the most buildings,
  then the host rule below - forms a candidate if it has at least
  ``min_owners`` owners. Its group is taken out and the rest ranked again. A
  building belongs to at most one candidate, so no saving is counted twice,
  and the result does not depend on row order.
* **The host.** Among the group's members within ``distance_m`` of every
  other member (so nobody is further than that from the hub; the building
  that formed the group always qualifies), the first by:
  1. *floor area* - spare space (GIA less its own need) that takes everyone
     else's need, or failing that the smallest shortfall: a hub that needs
     new building is a slower, costlier and less certain project;
  2. *condition* (A before D; unknown counts as C): the hub is a long
     commitment and its maintenance backlog becomes every partner's problem;
  3. *freehold* before leasehold: a freeholder can adapt the building and
     grant partners leases, and cannot lose the hub when a lease ends;
  4. then more spare room, then the lowest id.
* **Space.** A service needs ``fte x m2_per_fte`` (default 10 m² per FTE);
  with no FTE, its occupied floor area ``gia_m2 x utilisation_pct / 100``; with
  neither, its whole ``gia_m2``; with no floor area either, 0 (and a reason
  says so). The hub needs the moved services plus the host's own need; the
  host fits when its GIA covers that.
* **Money.** Released buildings are the members other than the host: their
  value (capital released) and running costs (saved each year). Moving costs
  ``relocation_gbp_per_m2`` (default £250) per m² of need moved; payback is
  that one-off cost over the annual saving.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, Polygon, mapping
from shapely.ops import transform as shapely_transform

from gis.errors import FieldError, ValidationFailed
from gis.vocab import DisposalStage, TenureDetail, UseCategory, values

__all__ = [
    "DEFAULT_DISTANCE_M",
    "DEFAULT_M2_PER_FTE",
    "DEFAULT_MIN_OWNERS",
    "DEFAULT_RELOCATION_GBP_PER_M2",
    "LEAVING_STAGES",
    "SHAREABLE_USES",
    "Building",
    "Candidate",
    "ColocationRules",
    "Member",
    "NeedBasis",
    "SpaceNeed",
    "candidate_id",
    "candidate_outline",
    "evaluate_candidate",
    "explain",
    "find_candidates",
    "find_candidates_indexed",
    "choose_host",
    "host_rank",
    "in_analysis",
    "score_candidate",
    "score_parts",
    "space_need",
]

# Front-office and office uses whose services can share one building. Left out
# on purpose (ask for them with ``uses``): schools, hospitals, depots, fire
# stations, crematoria/cemeteries and land (operational sites tied to their
# place); leisure and "other" (too mixed to call shareable); and courts -
# HMCTS needs secure docks, cells and separate routes for defendants, victims
# and the public, so a court rarely moves into a hub or takes partners in.
# Police stations are counted in full; in practice only the front counter and
# neighbourhood team join a hub, which the score's reasons say.
SHAREABLE_USES: tuple[str, ...] = (
    UseCategory.office.value,
    UseCategory.customer_service_centre.value,
    UseCategory.library.value,
    UseCategory.police_station.value,
    UseCategory.jobcentre.value,
    UseCategory.health_centre.value,
    UseCategory.community_centre.value,
)

# Buildings already on their way out: counting them here would count their
# receipt twice (the receipts model has them already).
LEAVING_STAGES: frozenset[str] = frozenset(
    {
        DisposalStage.declared_surplus.value,
        DisposalStage.marketed.value,
        DisposalStage.under_offer.value,
        DisposalStage.sold.value,
    }
)

DEFAULT_DISTANCE_M = 800.0  # ten minutes' walk
DEFAULT_MIN_OWNERS = 2
DEFAULT_M2_PER_FTE = 10.0  # a typical public-sector office workplace standard
DEFAULT_RELOCATION_GBP_PER_M2 = 250.0  # decant, fit-out of the moved space, IT, removals

DISTANCE_M_MIN, DISTANCE_M_MAX = 10.0, 5_000.0
M2_PER_FTE_MIN, M2_PER_FTE_MAX = 1.0, 100.0
RELOCATION_GBP_PER_M2_MAX = 100_000.0
MIN_OWNERS_MAX = 50

# Host rule: condition rank (lower is better). Unknown is treated as poor (C)
# rather than average: a survey that has not been done is a risk.
_CONDITION_RANK: dict[str | None, int] = {"A": 0, "B": 1, "C": 2, None: 2, "D": 3}
_TENURE_RANK: dict[str | None, int] = {"freehold": 0, "leasehold": 1, "other": 2, None: 2}

# Needs are summed as integer thousandths of a m², so the greedy peel's running
# totals are exact and the "fits" test at a boundary does not depend on the
# order in which members were added or removed.
_MILLI = 1000


class NeedBasis(StrEnum):
    fte = "fte"  # FTE x m² per FTE
    occupied_area = "occupied_area"  # GIA x utilisation
    floor_area = "floor_area"  # the whole GIA (no FTE, no utilisation)
    unknown = "unknown"  # no FTE and no floor area: counted as 0 m²


class SpaceNeed(NamedTuple):
    """Floor area a building's service needs, and what the figure rests on."""

    m2: float
    basis: NeedBasis


@dataclass(frozen=True)
class ColocationRules:
    """Every assumption of the analysis, each with its default."""

    distance_m: float = DEFAULT_DISTANCE_M
    min_owners: int = DEFAULT_MIN_OWNERS
    uses: tuple[str, ...] = SHAREABLE_USES
    m2_per_fte: float = DEFAULT_M2_PER_FTE
    relocation_gbp_per_m2: float = DEFAULT_RELOCATION_GBP_PER_M2

    def validate(self) -> ColocationRules:
        """Return self, or raise ValidationFailed naming every bad parameter."""
        errors: list[FieldError] = []
        if not _finite(self.distance_m) or not DISTANCE_M_MIN <= self.distance_m <= DISTANCE_M_MAX:
            errors.append(
                FieldError(
                    "distance_m", f"must be between {DISTANCE_M_MIN:g} and {DISTANCE_M_MAX:,.0f} metres"
                )
            )
        if (
            isinstance(self.min_owners, bool)
            or not isinstance(self.min_owners, int)
            or not 2 <= self.min_owners <= MIN_OWNERS_MAX
        ):
            errors.append(
                FieldError(
                    "min_owners", f"must be a whole number from 2 to {MIN_OWNERS_MAX}: a hub needs partners"
                )
            )
        known = values(UseCategory)
        bad = [u for u in self.uses if u not in known]
        if bad:
            errors.append(FieldError("uses", f"unknown use {bad[0]!r}; one of {', '.join(known)}"))
        elif not self.uses:
            errors.append(FieldError("uses", "name at least one use"))
        if not _finite(self.m2_per_fte) or not M2_PER_FTE_MIN <= self.m2_per_fte <= M2_PER_FTE_MAX:
            errors.append(
                FieldError(
                    "m2_per_fte", f"must be between {M2_PER_FTE_MIN:g} and {M2_PER_FTE_MAX:g} m² per FTE"
                )
            )
        if (
            not _finite(self.relocation_gbp_per_m2)
            or not 0 <= self.relocation_gbp_per_m2 <= RELOCATION_GBP_PER_M2_MAX
        ):
            errors.append(
                FieldError(
                    "relocation_gbp_per_m2",
                    f"must be between 0 and {RELOCATION_GBP_PER_M2_MAX:,.0f} £ per m²",
                )
            )
        if errors:
            raise ValidationFailed(errors)
        return self


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Building:
    """One building as the analysis sees it; ``x_m``/``y_m`` are EPSG:27700 metres.

    Fields the viewer may not see arrive as None and are treated as unknown.
    The SQL in api/services/colocation.py selects columns in this field order.
    """

    id: str
    owner: str
    name: str
    use_category: str
    x_m: float
    y_m: float
    lon: float
    lat: float
    post_town: str | None = None
    gia_m2: float | None = None
    utilisation_pct: float | None = None
    fte: float | None = None
    value_gbp: int | None = None
    running_cost_gbp_pa: int | None = None
    condition: str | None = None
    tenure: str | None = None
    tenure_detail: str | None = None
    rag: str | None = None
    disposal_stage: str | None = None
    lease_expiry_date: str | None = None

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> Building:
        """Build from a mapping with these field names (extra keys are ignored)."""
        names = cls.__dataclass_fields__
        data = {k: row[k] for k in names if k in row}
        data["id"] = str(data["id"])
        return cls(**data)


def in_analysis(building: Building, rules: ColocationRules) -> bool:
    """Whether a building takes part: a shareable use, a service in it, not on its way out."""
    return (
        building.use_category in rules.uses
        and building.tenure_detail != TenureDetail.vacant.value
        and building.disposal_stage not in LEAVING_STAGES
    )


def space_need(building: Building, m2_per_fte: float = DEFAULT_M2_PER_FTE) -> SpaceNeed:
    """Return the floor area the building's service needs (see the module docstring)."""
    if building.fte is not None:
        return SpaceNeed(building.fte * m2_per_fte, NeedBasis.fte)
    if building.gia_m2 is not None and building.utilisation_pct is not None:
        return SpaceNeed(building.gia_m2 * building.utilisation_pct / 100.0, NeedBasis.occupied_area)
    if building.gia_m2 is not None:
        return SpaceNeed(building.gia_m2, NeedBasis.floor_area)
    return SpaceNeed(0.0, NeedBasis.unknown)


def can_host(building: Building) -> bool:
    """A host must have a known floor area to take anyone in."""
    return building.gia_m2 is not None and building.gia_m2 > 0


def host_rank(host: Building, moved_m2: float, m2_per_fte: float = DEFAULT_M2_PER_FTE) -> tuple[Any, ...]:
    """Sort key of a would-be host taking ``moved_m2`` (lower is better).

    Floor area (fits, else the smallest shortfall), then condition, then
    tenure, then more spare room, then id: the host rule of the module docstring.
    """
    assert host.gia_m2 is not None
    spare_milli = _milli(host.gia_m2) - _milli(space_need(host, m2_per_fte).m2)
    shortfall_milli = max(0, _milli(moved_m2) - spare_milli)
    return (
        shortfall_milli > 0,
        shortfall_milli,
        _CONDITION_RANK.get(host.condition, 2),
        _TENURE_RANK.get(host.tenure, 2),
        -spare_milli,
        host.id,
    )


def choose_host(group: Sequence[Building], rules: ColocationRules = ColocationRules()) -> Building:
    """Return the group's host by the host rule: each member judged on taking all the others."""
    needs = {b.id: _milli(space_need(b, rules.m2_per_fte).m2) for b in group}
    return _best_host([b for b in group if can_host(b)], sum(needs.values()), needs, rules)


def _best_host(
    eligible: Iterable[Building], total_milli: int, needs_milli: Mapping[str, int], rules: ColocationRules
) -> Building:
    ranked = sorted(
        eligible,
        key=lambda b: host_rank(b, (total_milli - needs_milli[b.id]) / _MILLI, rules.m2_per_fte),
    )
    if not ranked:
        raise ValueError("no member of the group has a floor area, so none can host it")
    return ranked[0]


class Member(NamedTuple):
    """A building in a candidate: its need, its distance from the host, and whether it is released."""

    building: Building
    need: SpaceNeed
    distance_to_host_m: float
    released: bool


@dataclass(frozen=True)
class Candidate:
    """One candidate hub with its arithmetic, score and reasons."""

    id: str
    host: Building
    members: tuple[Member, ...]  # the host first, then the others by distance from it
    owners: tuple[str, ...]  # distinct owners, sorted
    host_need_m2: float
    moved_m2: float  # the need of the services that move in
    space_needed_m2: float  # moved + the host's own need
    host_spare_m2: float  # host GIA less its own need (may be negative)
    fits: bool
    extra_space_m2: float  # what a hub would need beyond the host's GIA (0 if it fits)
    released_count: int
    capital_value_gbp: int | None  # sum of released values (known ones); None if none known
    running_cost_saved_gbp_pa: int | None  # sum of released running costs; None if none known
    transition_cost_gbp: int
    payback_years: float | None  # None when nothing is saved
    max_distance_m: float
    distance_m: float  # the walking distance the candidate was formed with
    score: float
    unknown_value_count: int = 0
    unknown_running_cost_count: int = 0
    owner_names: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def reasons(self) -> tuple[str, ...]:
        """The short reasons behind the score, written when first asked for.

        A national run scores tens of thousands of candidates and shows a few.
        """
        return tuple(explain(self, self.owner_names))

    @property
    def released(self) -> tuple[Building, ...]:
        return tuple(m.building for m in self.members if m.released)

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.building.id for m in self.members)


def candidate_id(member_ids: Iterable[str]) -> str:
    """A stable id for a group: the same buildings give the same id on every run."""
    digest = hashlib.sha1("|".join(sorted(member_ids)).encode()).hexdigest()
    return f"hub-{digest[:16]}"


def evaluate_candidate(
    host: Building,
    others: Sequence[Building],
    rules: ColocationRules = ColocationRules(),
    owner_names: Mapping[str, str] | None = None,
) -> Candidate:
    """Return the candidate in which ``host`` takes ``others``: space, money, score and reasons."""
    if not can_host(host):
        raise ValueError(f"building {host.id} has no floor area and cannot host")
    assert host.gia_m2 is not None
    host_need = space_need(host, rules.m2_per_fte)
    others_sorted = sorted(others, key=lambda b: (_distance(host, b), b.id))
    members = [Member(host, host_need, 0.0, released=False)] + [
        Member(b, space_need(b, rules.m2_per_fte), _distance(host, b), released=True) for b in others_sorted
    ]
    moved_m2 = sum(m.need.m2 for m in members[1:])
    space_needed_m2 = host_need.m2 + moved_m2
    spare_m2 = host.gia_m2 - host_need.m2
    # Compared in thousandths of a m², exactly as the peel and the SQL compare.
    fits = _milli(host.gia_m2) - _milli(host_need.m2) >= sum(_milli(m.need.m2) for m in members[1:])
    extra_m2 = 0.0 if fits else space_needed_m2 - host.gia_m2

    released = [m.building for m in members[1:]]
    values_known = [b.value_gbp for b in released if b.value_gbp is not None]
    costs_known = [b.running_cost_gbp_pa for b in released if b.running_cost_gbp_pa is not None]
    capital = sum(values_known) if values_known else None
    saving = sum(costs_known) if costs_known else None
    transition = int(round(rules.relocation_gbp_per_m2 * moved_m2))
    payback = None if not saving else transition / saving

    owners = tuple(sorted({m.building.owner for m in members}))
    candidate = Candidate(
        id=candidate_id(m.building.id for m in members),
        host=host,
        members=tuple(members),
        owners=owners,
        host_need_m2=host_need.m2,
        moved_m2=moved_m2,
        space_needed_m2=space_needed_m2,
        host_spare_m2=spare_m2,
        fits=fits,
        extra_space_m2=extra_m2,
        released_count=len(released),
        capital_value_gbp=capital,
        running_cost_saved_gbp_pa=saving,
        transition_cost_gbp=transition,
        payback_years=payback,
        max_distance_m=max((m.distance_to_host_m for m in members), default=0.0),
        distance_m=rules.distance_m,
        score=0.0,
        unknown_value_count=len(released) - len(values_known),
        unknown_running_cost_count=len(released) - len(costs_known),
        owner_names=owner_names or {},
    )
    return replace(candidate, score=score_candidate(candidate))


def _distance(a: Building, b: Building) -> float:
    return math.hypot(a.x_m - b.x_m, a.y_m - b.y_m)


def _milli(m2: float) -> int:
    return int(round(m2 * _MILLI))


# --- the score ---------------------------------------------------------------------------------
#
# 100 points in seven parts. Money parts saturate (1 - e^(-x/scale)) so one
# huge group cannot swamp the ranking; the scales are a county estate's: a
# front-office building costs £50-150k a year to run and is worth £0.5-2.5m.
SCORE_SAVING_POINTS, SCORE_SAVING_SCALE_GBP = 25.0, 200_000.0
SCORE_CAPITAL_POINTS, SCORE_CAPITAL_SCALE_GBP = 15.0, 3_000_000.0
SCORE_PAYBACK_POINTS, SCORE_PAYBACK_HORIZON_YEARS = 15.0, 10.0
SCORE_FIT_POINTS = 15.0
SCORE_PARTNER_POINTS, SCORE_PARTNERS_FULL = 15.0, 5  # full marks at five bodies
SCORE_PROXIMITY_POINTS = 10.0
_HOST_CONDITION_POINTS: dict[str | None, float] = {"A": 3.0, "B": 2.0, "C": 1.0, None: 1.0, "D": 0.0}
_HOST_FREEHOLD_POINTS = 2.0


def score_parts(candidate: Candidate) -> dict[str, float]:
    """Return the score's parts (points); their sum, rounded to 0.1, is the score.

    * saving: 25 x (1 - e^(-saving a year / £200k))
    * capital: 15 x (1 - e^(-capital released / £3m))
    * payback: 15 x (1 - years / 10); 0 at ten years or more, or with no saving
    * fit: 15 if the host takes everyone, else 15 x host GIA / space needed
    * partners: 15 x (bodies - 1) / 4, full at five bodies: the Total Place point
    * proximity: 10 x (1 - mean distance of the others from the host / distance_m):
      a compact hub disrupts staff and the public least
    * host: condition A 3, B 2, C or unknown 1, D 0; freehold 2
    """
    c = candidate
    assert c.host.gia_m2 is not None
    saving = c.running_cost_saved_gbp_pa or 0
    capital = c.capital_value_gbp or 0
    payback = (
        0.0 if c.payback_years is None else max(0.0, 1.0 - c.payback_years / SCORE_PAYBACK_HORIZON_YEARS)
    )
    if c.fits:
        fit = 1.0
    else:
        fit = min(1.0, c.host.gia_m2 / c.space_needed_m2) if c.space_needed_m2 else 0.0
    others = [m.distance_to_host_m for m in c.members if m.released]
    proximity = max(0.0, 1.0 - (sum(others) / len(others)) / c.distance_m) if others else 0.0
    return {
        "saving": SCORE_SAVING_POINTS * (1.0 - math.exp(-saving / SCORE_SAVING_SCALE_GBP)),
        "capital": SCORE_CAPITAL_POINTS * (1.0 - math.exp(-capital / SCORE_CAPITAL_SCALE_GBP)),
        "payback": SCORE_PAYBACK_POINTS * payback,
        "fit": SCORE_FIT_POINTS * fit,
        "partners": SCORE_PARTNER_POINTS * min(1.0, (len(c.owners) - 1) / (SCORE_PARTNERS_FULL - 1)),
        "proximity": SCORE_PROXIMITY_POINTS * proximity,
        "host": _HOST_CONDITION_POINTS.get(c.host.condition, 1.0)
        + (_HOST_FREEHOLD_POINTS if c.host.tenure == "freehold" else 0.0),
    }


def score_candidate(candidate: Candidate) -> float:
    """Return the 0-100 score: the sum of :func:`score_parts`, to 0.1."""
    return round(sum(score_parts(candidate).values()), 1)


def explain(candidate: Candidate, owner_names: Mapping[str, str] | None = None) -> list[str]:
    """Return the short reasons behind a candidate's score, in words."""
    names = owner_names or {}
    c = candidate
    host = c.host
    reasons: list[str] = []
    bodies = [names.get(o, o) for o in c.owners]
    reasons.append(
        f"{len(c.owners)} bodies within {c.max_distance_m:,.0f} m of the host: {', '.join(bodies)}"
    )
    if c.fits:
        reasons.append(
            f"host {host.name} takes everyone: "
            f"{c.host_spare_m2:,.0f} m² spare for {c.moved_m2:,.0f} m² moving in"
        )
    else:
        reasons.append(
            f"host {host.name} is {c.extra_space_m2:,.0f} m² short: "
            f"a hub of {c.space_needed_m2:,.0f} m² is needed"
        )
    tenure = host.tenure or "tenure unknown"
    condition = f"condition {host.condition}" if host.condition else "condition unknown"
    host_line = f"host is {tenure}, {condition}"
    if host.tenure != "freehold" and host.lease_expiry_date:
        host_line += f", lease ends {host.lease_expiry_date}"
    reasons.append(host_line)
    if c.capital_value_gbp is not None:
        reasons.append(
            f"releases {c.released_count} building{_s(c.released_count)} worth {_gbp(c.capital_value_gbp)}"
        )
    else:
        reasons.append(f"releases {c.released_count} building{_s(c.released_count)}")
    if c.running_cost_saved_gbp_pa is not None:
        line = f"saves {_gbp(c.running_cost_saved_gbp_pa)} a year in running costs"
        if c.payback_years is not None:
            line += f"; moving ({_gbp(c.transition_cost_gbp)}) pays back in {c.payback_years:.1f} years"
        reasons.append(line)
    if c.unknown_value_count:
        reasons.append(
            f"value not known for {c.unknown_value_count} released building{_s(c.unknown_value_count)}"
        )
    if c.unknown_running_cost_count:
        n = c.unknown_running_cost_count
        reasons.append(f"running cost not known for {n} released building{_s(n)}")
    red = sum(1 for m in c.members if m.released and m.building.rag == "red")
    if red:
        reasons.append(f"{red} released building{_s(red)} rated red (disposal unlikely today)")
    police = sum(1 for m in c.members if m.released and m.building.use_category == "police_station")
    if police:
        reasons.append("a police station moves in full; in practice its front counter joins the hub")
    estimated = sum(1 for m in c.members if m.need.basis in (NeedBasis.floor_area, NeedBasis.unknown))
    if estimated:
        reasons.append(
            f"space need is the whole floor area for {estimated} building{_s(estimated)} "
            "(no FTE or utilisation)"
        )
    return reasons


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _gbp(amount: float) -> str:
    if abs(amount) >= 1_000_000:
        return f"£{amount / 1_000_000:,.1f}m"
    if abs(amount) >= 1_000:
        return f"£{amount / 1_000:,.0f}k"
    return f"£{amount:,.0f}"


# --- forming the groups -----------------------------------------------------------------------


def find_candidates(
    buildings: Iterable[Building],
    pairs: Iterable[tuple[str, str]],
    rules: ColocationRules = ColocationRules(),
    owner_names: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """Form the candidate hubs by the greedy peel and return them best score first.

    ``pairs`` are the (id, id) pairs within ``rules.distance_m`` of each other
    (either order; duplicates and pairs naming other buildings are ignored);
    buildings not in the analysis (:func:`in_analysis`) are left out.
    """
    kept: dict[str, Building] = {}
    for b in buildings:
        if b.id not in kept and in_analysis(b, rules):
            kept[b.id] = b
    ordered = sorted(kept.values(), key=lambda b: b.id)
    index = {b.id: i for i, b in enumerate(ordered)}
    a_ix: list[int] = []
    b_ix: list[int] = []
    for a_id, b_id in pairs:
        a_at, b_at = index.get(str(a_id)), index.get(str(b_id))
        if a_at is not None and b_at is not None:
            a_ix.append(a_at)
            b_ix.append(b_at)
    return find_candidates_indexed(
        ordered, np.array(a_ix, dtype=np.int64), np.array(b_ix, dtype=np.int64), rules, owner_names
    )


def find_candidates_indexed(
    buildings: Sequence[Building],
    a_ix: np.ndarray,
    b_ix: np.ndarray,
    rules: ColocationRules = ColocationRules(),
    owner_names: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """:func:`find_candidates` for buildings already in the analysis, pairs given as positions.

    ``a_ix[k]``, ``b_ix[k]`` are positions in ``buildings`` of a pair within
    ``rules.distance_m`` (either order, duplicates allowed).
    """
    if not buildings:
        return []
    peel = _Peel(buildings, a_ix, b_ix, rules)
    candidates = [
        evaluate_candidate(buildings[host], [buildings[j] for j in group if j != host], rules, owner_names)
        for host, group in peel.groups()
    ]
    candidates.sort(key=lambda c: (-c.score, c.id))
    return candidates


class _Peel:
    """The greedy peel over an adjacency in numpy arrays, with a lazy heap.

    A place's rank only worsens as its neighbours are taken (every part of it
    counts what is left), so a stale heap entry is re-ranked when it reaches
    the top and pushed back if it fell. The first ranks are computed for all
    buildings at once in numpy; the work after that is O(pops x degree).
    """

    def __init__(
        self, buildings: Sequence[Building], a_ix: np.ndarray, b_ix: np.ndarray, rules: ColocationRules
    ) -> None:
        n = len(buildings)
        self.n = n
        self.min_owners = rules.min_owners
        self.ptr, self.nbr, self.near = _adjacency(buildings, a_ix, b_ix, rules.distance_m / 2)
        codes: dict[str, int] = {}
        self.owner = [codes.setdefault(b.owner, len(codes)) for b in buildings]
        self.owner_count = len(codes)
        self.need = [_milli(space_need(b, rules.m2_per_fte).m2) for b in buildings]
        self.hostable = [can_host(b) for b in buildings]
        self.spare = [
            _milli(b.gia_m2) - self.need[i] if self.hostable[i] and b.gia_m2 is not None else 0
            for i, b in enumerate(buildings)
        ]
        # The unchanging tail of the host rule (condition, tenure, spare room,
        # id) as one integer, its position in that order, so ranks compare cheaply.
        order = sorted(
            range(n),
            key=lambda i: (
                _CONDITION_RANK.get(buildings[i].condition, 2),
                _TENURE_RANK.get(buildings[i].tenure, 2),
                -self.spare[i],
                buildings[i].id,
            ),
        )
        self.static = [0] * n
        for position, i in enumerate(order):
            self.static[i] = position
        self.assigned = bytearray(n)

    def neighbours(self, i: int) -> list[int]:
        """Unassigned neighbours of ``i``."""
        assigned = self.assigned
        return [j for j in self.nbr[self.ptr[i] : self.ptr[i + 1]].tolist() if not assigned[j]]

    def core(self, i: int) -> list[int]:
        """Neighbours of ``i`` within half the distance, assigned or not."""
        start, stop = self.ptr[i], self.ptr[i + 1]
        return self.nbr[start:stop][self.near[start:stop]].tolist()

    def rank(self, i: int) -> int | None:
        """The place rank of ``i`` now (smaller first), or None if it can no longer be a place.

        Most bodies within half the distance, most buildings there, then
        within the whole distance, then the host rule. None if the building
        cannot host or has too few bodies round it (for good: neighbours are
        only ever taken away).
        """
        if not self.hostable[i]:
            return None
        owner, assigned = self.owner, self.assigned
        live = self.neighbours(i)
        owners = {owner[j] for j in live}
        owners.add(owner[i])
        if len(owners) < self.min_owners:
            return None
        core = [j for j in self.core(i) if not assigned[j]]
        core_owners = {owner[j] for j in core}
        core_owners.add(owner[i])
        shortfall = max(0, sum(self.need[j] for j in live) - self.spare[i])
        return _pack(len(core_owners), 1 + len(core), len(owners), 1 + len(live), shortfall, self.static[i])

    def initial_ranks(self) -> list[tuple[int, int]]:
        """(rank, position) of every building that can be a place, all at once: :meth:`rank` in numpy."""
        n, ptr, nbr, near = self.n, self.ptr, self.nbr, self.near
        src = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
        owner = np.array(self.owner, dtype=np.int64)
        need = np.array(self.need, dtype=np.int64)
        spare = np.array(self.spare, dtype=np.int64)

        def distinct_owners(mask: np.ndarray) -> np.ndarray:
            keys = np.concatenate(
                [
                    src[mask] * self.owner_count + owner[nbr[mask]],
                    np.arange(n, dtype=np.int64) * self.owner_count + owner,
                ]
            )
            keys = np.sort(keys)
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
            return np.bincount(keys // self.owner_count, minlength=n)

        owners = distinct_owners(np.ones(len(nbr), dtype=bool))
        core_owners = distinct_owners(near)
        size = 1 + np.diff(ptr)
        core_size = 1 + np.bincount(src[near], minlength=n)
        cumulative = np.concatenate(([0], np.cumsum(need[nbr])))
        shortfall = np.maximum(0, cumulative[ptr[1:]] - cumulative[ptr[:-1]] - spare)
        valid = np.array(self.hostable, dtype=bool) & (owners >= self.min_owners)
        positions = np.flatnonzero(valid)
        ranks = _pack_many(
            core_owners[valid],
            core_size[valid],
            owners[valid],
            size[valid],
            shortfall[valid],
            np.array(self.static, dtype=np.int64)[valid],
        )
        return list(zip(ranks, positions.tolist(), strict=True))

    def groups(self) -> Iterator[tuple[int, list[int]]]:
        """Yield (host, group) in the order the peel takes them; the group includes the host."""
        heap = self.initial_ranks()
        heapq.heapify(heap)
        need, spare, static, owner, hostable = self.need, self.spare, self.static, self.owner, self.hostable
        while heap:
            rank, place = heapq.heappop(heap)
            if self.assigned[place]:
                continue
            current = self.rank(place)
            if current is None:
                continue
            if current != rank:
                heapq.heappush(heap, (current, place))
                continue
            # The place is found; now the building. Hosts are sought within half
            # the walking distance of the place, so everything within that
            # half-distance of the place is within walking distance of whichever
            # host is chosen (a tight core is never split). Every would-be host is
            # judged on taking the same services, the place's whole group, so a
            # host is not favoured for having fewer neighbours.
            around = [place, *self.neighbours(place)]
            total = sum(need[j] for j in around)
            core = set(self.core(place))
            host = min(
                (j for j in around if (j == place or j in core) and hostable[j]),
                key=lambda j: _host_key(total - need[j], spare[j], static[j]),
            )
            group = [host, *self.neighbours(host)]
            if len({owner[j] for j in group}) < self.min_owners:
                # The host's reach differs from the place's: fall back on the
                # place, whose own group has the bodies (that is why it was chosen).
                host, group = place, around
            for j in group:
                self.assigned[j] = 1
            yield host, group


def _host_key(moved_milli: int, spare_milli: int, static: int) -> tuple[int, int]:
    """host_rank from precomputed parts: space (fits, else the smallest shortfall), then the rest."""
    return max(0, moved_milli - spare_milli), static


_FIELD = 1 << 24  # counts and positions below 16.7 million
_SHORTFALL = 1 << 48  # thousandths of a m², below 2.8 x 10^11 m²


def _pack(core_owners: int, core_size: int, owners: int, size: int, shortfall: int, static: int) -> int:
    """The place rank as one integer, smaller first, in the order of the arguments.

    Most bodies and buildings first (so counts are subtracted from the field
    size), then the smallest shortfall, then the host rule's unchanging tail.
    One integer compares far faster than a tuple, and the heap compares often.
    """
    key = 0
    for count in (core_owners, core_size, owners, size):
        key = key * _FIELD + (_FIELD - 1 - count)
    return (key * _SHORTFALL + min(shortfall, _SHORTFALL - 1)) * _FIELD + static


def _pack_many(*parts: np.ndarray) -> list[int]:
    """:func:`_pack` over arrays (Python integers: the packed rank needs over 64 bits)."""
    core_owners, core_size, owners, size, shortfall, static = (p.astype(object) for p in parts)
    key = np.zeros(len(static), dtype=object)
    for count in (core_owners, core_size, owners, size):
        key = key * _FIELD + (_FIELD - 1 - count)
    shortfall = np.minimum(shortfall, _SHORTFALL - 1)
    return ((key * _SHORTFALL + shortfall) * _FIELD + static).tolist()


def _adjacency(
    buildings: Sequence[Building], a_ix: np.ndarray, b_ix: np.ndarray, half_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric adjacency in CSR form: (row pointers, neighbours, neighbour within ``half_m``)."""
    n = len(buildings)
    a = np.asarray(a_ix, dtype=np.int64)
    b = np.asarray(b_ix, dtype=np.int64)
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    keys = np.sort(lo * n + hi)
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # each pair once
    lo, hi = keys // n, keys % n
    src = np.concatenate([lo, hi])
    dst = np.concatenate([hi, lo])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    x = np.fromiter((bl.x_m for bl in buildings), dtype=np.float64, count=n)
    y = np.fromiter((bl.y_m for bl in buildings), dtype=np.float64, count=n)
    near = np.hypot(x[src] - x[dst], y[src] - y[dst]) <= half_m
    return ptr, dst, near


# --- geometry for the map ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _bng_to_wgs84() -> Transformer:
    return Transformer.from_crs(27700, 4326, always_xy=True)


def candidate_outline(candidate: Candidate, buffer_m: float = 25.0) -> Polygon:
    """The group's outline for the map: convex hull of its members, 25 m round, in lon/lat.

    Buffered in metres (EPSG:27700) and then transformed, so the margin is the
    same on the ground in every direction.
    """
    points = MultiPoint([(m.building.x_m, m.building.y_m) for m in candidate.members])
    hull = points.convex_hull.buffer(buffer_m, quad_segs=4)
    transformer = _bng_to_wgs84()
    return shapely_transform(lambda x, y, z=None: transformer.transform(x, y), hull)


def host_point(candidate: Candidate) -> Point:
    return Point(candidate.host.lon, candidate.host.lat)


def geojson(geometry: Polygon | Point, precision: int = 7) -> dict[str, Any]:
    """GeoJSON of a shapely geometry with coordinates rounded to ``precision`` places (~1 cm)."""
    return _round_coordinates(mapping(geometry), precision)


def _round_coordinates(obj: Any, precision: int) -> Any:
    if isinstance(obj, float):
        return round(obj, precision)
    if isinstance(obj, list | tuple):
        return [_round_coordinates(o, precision) for o in obj]
    if isinstance(obj, dict):
        return {k: _round_coordinates(v, precision) for k, v in obj.items()}
    return obj
