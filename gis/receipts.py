"""The single-estate capital receipts model.

Worcestershire's Total Place pilot (2010) judged that "in excess of £0.8bn of
capital receipts could be achieved" by treating all public property as one
estate, while calling the figure "cautious as market volatility, transitional
costs and long lead times make such savings problematic". This module puts
numbers on those three caveats with a Monte Carlo simulation:

* market volatility - each run draws a geometric random walk of a real
  property-price index, shared by every building sold in that run;
* transitional costs - disposal costs (fees) as a share of each receipt, and a
  decant/relocation cost per m² of every occupied building released;
* long lead times - each building sells (or not) in a year drawn from a sale
  window that depends on its RAG rating and disposal stage, and the receipts
  are discounted at HM Treasury Green Book rates.

A building can only be released if it is vacant or its service can move into a
nearby building: its owner's own in ``silo`` mode, a partner's as well in
``single_estate`` mode. :func:`compare_single_estate_with_silo` runs both modes
on the same random numbers, so their difference is the value of the single
estate rather than simulation noise.

Plain Python and numpy only: no web framework, no database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gis.vocab import DisposalStage, Rag, values

# Each has a first and a last year in which a building so rated, or at that stage, may sell.
SALE_WINDOWS = ("green", "amber", "red", "under_offer", "marketed", "declared_surplus")

__all__ = [
    "GREEN_BOOK_LONG_RATE_FROM_YEAR",
    "Contributor",
    "Counts",
    "Distribution",
    "EstateBuildings",
    "EstateMode",
    "GroupBreakdown",
    "ReceiptsEstimate",
    "ReceiptsScenario",
    "YearProfile",
    "compare_single_estate_with_silo",
    "comparison_to_dict",
    "estimate_receipts",
    "green_book_discount_factors",
]

EstateMode = Literal["single_estate", "silo"]

# The Green Book's schedule: the standard rate applies to years 0-30, the
# lower long-term rate from year 31.
GREEN_BOOK_LONG_RATE_FROM_YEAR = 31

# Elements (building x run pairs) simulated at once. About 70 bytes of
# temporaries each, so a block peaks near 150 MB whatever the estate's size.
_BLOCK_ELEMENTS = 1 << 21

_TOP_CONTRIBUTORS = 20

_YEAR: dict[str, Any] = {"ge": 1, "le": 60}
_PROBABILITY: dict[str, Any] = {"ge": 0.0, "le": 1.0}


class ReceiptsScenario(BaseModel):
    """Every assumption of the receipts model, each with a default and a range."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    runs: int = Field(10_000, ge=1, le=100_000, description="Monte Carlo runs (simulated futures)")
    seed: int = Field(2010, ge=0, description="random seed; the same seed gives the same answer to the pound")
    horizon_years: int = Field(
        10, ge=1, le=60, description="years simulated; sales falling later are not counted"
    )
    start_year: int = Field(
        2026, ge=1900, le=2200, description="calendar year of model year 1 (for reporting only)"
    )

    green_probability: float = Field(
        0.9, **_PROBABILITY, description="probability that a green (opportunity) building sells"
    )
    green_first_year: int = Field(1, **_YEAR, description="first year a green building may sell")
    green_last_year: int = Field(3, **_YEAR, description="last year a green building may sell")
    amber_probability: float = Field(
        0.5, **_PROBABILITY, description="probability that an amber (possible) building sells"
    )
    amber_first_year: int = Field(3, **_YEAR, description="first year an amber building may sell")
    amber_last_year: int = Field(7, **_YEAR, description="last year an amber building may sell")
    red_probability: float = Field(
        0.0,
        **_PROBABILITY,
        description=(
            "probability that a red (disposal unlikely) building sells; 0 excludes red "
            "buildings whatever their disposal stage, raise it only as a sensitivity test"
        ),
    )
    red_first_year: int = Field(5, **_YEAR, description="first year a red building may sell")
    red_last_year: int = Field(10, **_YEAR, description="last year a red building may sell")

    under_offer_probability: float = Field(
        0.95,
        **_PROBABILITY,
        description="probability that a non-red building under offer completes (replaces its RAG's)",
    )
    under_offer_first_year: int = Field(
        1, **_YEAR, description="first year a building under offer may complete"
    )
    under_offer_last_year: int = Field(
        1, **_YEAR, description="last year a building under offer may complete"
    )
    marketed_probability: float = Field(
        0.9,
        **_PROBABILITY,
        description="probability that a non-red building on the market sells (replaces its RAG's)",
    )
    marketed_first_year: int = Field(1, **_YEAR, description="first year a marketed building may sell")
    marketed_last_year: int = Field(2, **_YEAR, description="last year a marketed building may sell")
    declared_surplus_probability: float = Field(
        0.9,
        **_PROBABILITY,
        description=(
            "probability that a non-red building declared surplus sells (replaces its RAG's; "
            "defaults to the green assumption)"
        ),
    )
    declared_surplus_first_year: int = Field(
        1, **_YEAR, description="first year a declared-surplus building may sell"
    )
    declared_surplus_last_year: int = Field(
        3, **_YEAR, description="last year a declared-surplus building may sell"
    )

    market_drift_pa: float = Field(
        0.0, ge=-0.5, le=0.5, description="expected real growth of property values a year (log)"
    )
    market_volatility_pa: float = Field(
        0.08, ge=0.0, le=1.0, description="annual volatility of the real property-price index"
    )
    disposal_cost_rate: float = Field(
        0.04,
        ge=0.0,
        le=1.0,
        description=(
            "disposal costs as a share of the gross receipt (4% is the most English councils "
            "may fund from the receipt itself)"
        ),
    )
    transition_cost_gbp_per_m2: float = Field(
        150.0,
        ge=0.0,
        le=100_000.0,
        description=(
            "decant and relocation cost per m² GIA of an occupied building released, paid in "
            "its sale year; vacant buildings have no service to move and cost nothing"
        ),
    )
    discount_rate: float = Field(
        0.035, ge=0.0, le=1.0, description="Green Book real discount rate for years 1-30"
    )
    discount_rate_long: float = Field(
        0.030, ge=0.0, le=1.0, description="Green Book real discount rate from year 31"
    )
    require_host: bool = Field(
        True,
        description=(
            "an occupied building is released only if its service can move into a nearby building; "
            "false reproduces a face-value count that assumes every service finds a home"
        ),
    )
    mode: EstateMode = Field(
        "single_estate",
        description=(
            "single_estate: a service may move into any partner's building nearby; "
            "silo: only into its owner's own"
        ),
    )

    @model_validator(mode="after")
    def _windows_in_order(self) -> ReceiptsScenario:
        for name in SALE_WINDOWS:
            first = getattr(self, f"{name}_first_year")
            last = getattr(self, f"{name}_last_year")
            if first > last:
                raise ValueError(f"{name}_first_year ({first}) must not be after {name}_last_year ({last})")
        return self


def green_book_discount_factors(
    years: int,
    rate: float = 0.035,
    rate_long: float = 0.030,
    long_from_year: int = GREEN_BOOK_LONG_RATE_FROM_YEAR,
) -> np.ndarray:
    """Discount factors for years 1..``years``, element ``t - 1`` being year ``t``.

    Years before ``long_from_year`` discount at ``rate``; later years carry on
    from the factor reached by then at ``rate_long``, as the Green Book tables do.
    """
    t = np.arange(1, years + 1, dtype=np.float64)
    short_years = np.minimum(t, long_from_year - 1)
    long_years = np.maximum(t - (long_from_year - 1), 0.0)
    return (1.0 + rate) ** -short_years * (1.0 + rate_long) ** -long_years


def _as_bool(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"true", "t", "yes", "y", "1"}
    return bool(value)


def _as_float(value: object) -> float:
    if value is None or value == "":
        return math.nan
    return float(value)  # type: ignore[arg-type]


def _text(value: object, default: str) -> str:
    return default if value is None else str(value)


@dataclass(frozen=True, eq=False)
class EstateBuildings:
    """The buildings of the estate as parallel numpy arrays (one element per building).

    ``value_gbp`` may be NaN (no valuation: the building cannot be modelled and
    is excluded); ``gia_m2`` may be NaN (counted as 0 m² for transition costs).
    ``vacant`` means there is no service to move out; ``own_host_nearby`` that
    the owner has another building nearby able to take the service;
    ``partner_host_nearby`` that a partner's building nearby can take it.
    """

    id: np.ndarray
    owner: np.ndarray
    town: np.ndarray
    use_category: np.ndarray
    rag: np.ndarray
    disposal_stage: np.ndarray
    value_gbp: np.ndarray
    gia_m2: np.ndarray
    vacant: np.ndarray
    own_host_nearby: np.ndarray
    partner_host_nearby: np.ndarray

    def __post_init__(self) -> None:
        coerced: dict[str, np.ndarray] = {}
        for name in ("id", "owner", "town", "use_category", "rag", "disposal_stage"):
            coerced[name] = np.asarray(getattr(self, name)).astype(str, copy=False).reshape(-1)
        for name in ("value_gbp", "gia_m2"):
            coerced[name] = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
        for name in ("vacant", "own_host_nearby", "partner_host_nearby"):
            coerced[name] = np.asarray(getattr(self, name), dtype=bool).reshape(-1)

        lengths = {name: len(array) for name, array in coerced.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"EstateBuildings columns differ in length: {lengths}")
        for name, vocabulary in (("rag", Rag), ("disposal_stage", DisposalStage)):
            unknown = set(np.unique(coerced[name]).tolist()) - set(values(vocabulary))
            if unknown:
                raise ValueError(f"unknown {name} values: {sorted(unknown)}")
        for name in ("value_gbp", "gia_m2"):
            array = coerced[name]
            if np.any(np.isinf(array)) or np.any(array < 0):
                raise ValueError(f"{name} must be finite and not negative (NaN means unknown)")
        for name, array in coerced.items():
            object.__setattr__(self, name, array)
        object.__setattr__(self, "_groups", {})

    def __len__(self) -> int:
        return len(self.id)

    def groups(self, column: Literal["owner", "town", "use_category"]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values of a column (sorted) and each building's position among them."""
        cache: dict[str, tuple[np.ndarray, np.ndarray]] = self._groups  # type: ignore[attr-defined]
        if column not in cache:
            labels, inverse = np.unique(getattr(self, column), return_inverse=True)
            cache[column] = (labels, inverse.reshape(-1))
        return cache[column]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> EstateBuildings:
        """Build from mappings with the field names of this class.

        ``id``, ``rag`` and ``value_gbp`` are required. Missing or null
        optional fields default to: owner/town "", use_category "other",
        disposal_stage "retained", gia_m2 unknown, and the three flags false.
        """
        columns: dict[str, list[Any]] = {f.name: [] for f in fields(cls)}
        for number, record in enumerate(records):
            try:
                columns["id"].append(str(record["id"]))
                columns["rag"].append(str(record["rag"]))
                columns["value_gbp"].append(_as_float(record["value_gbp"]))
            except KeyError as missing:
                raise ValueError(f"record {number} has no {missing.args[0]!r}") from None
            columns["owner"].append(_text(record.get("owner"), ""))
            columns["town"].append(_text(record.get("town"), ""))
            columns["use_category"].append(_text(record.get("use_category"), "other"))
            columns["disposal_stage"].append(
                _text(record.get("disposal_stage"), DisposalStage.retained.value)
            )
            columns["gia_m2"].append(_as_float(record.get("gia_m2")))
            for flag in ("vacant", "own_host_nearby", "partner_host_nearby"):
                columns[flag].append(_as_bool(record.get(flag)))
        text_columns = ("id", "owner", "town", "use_category", "rag", "disposal_stage")
        arrays = {
            name: np.array(column, dtype=str if name in text_columns else None)
            for name, column in columns.items()
        }
        arrays["value_gbp"] = arrays["value_gbp"].astype(np.float64)
        arrays["gia_m2"] = arrays["gia_m2"].astype(np.float64)
        for flag in ("vacant", "own_host_nearby", "partner_host_nearby"):
            arrays[flag] = arrays[flag].astype(bool)
        return cls(**arrays)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A quantity's mean and 10th/50th/90th percentiles across runs (£)."""

    expected: float
    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, samples: np.ndarray) -> Distribution:
        if samples.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0)
        p10, p50, p90 = np.percentile(samples, [10, 50, 90])
        return cls(float(samples.mean()), float(p10), float(p50), float(p90))

    def to_dict(self) -> dict[str, int]:
        return {
            "expected": _pounds(self.expected),
            "p10": _pounds(self.p10),
            "p50": _pounds(self.p50),
            "p90": _pounds(self.p90),
        }


@dataclass(frozen=True, slots=True)
class YearProfile:
    """One model year: expected sales and receipts, and the spread of its net receipts."""

    year: int
    calendar_year: int
    expected_sold: float
    expected_gross: float
    expected_net: float
    expected_pv: float
    net_p10: float
    net_p90: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "calendar_year": self.calendar_year,
            "expected_sold": round(self.expected_sold, 3),
            "expected_gross": _pounds(self.expected_gross),
            "expected_net": _pounds(self.expected_net),
            "expected_pv": _pounds(self.expected_pv),
            "net_p10": _pounds(self.net_p10),
            "net_p90": _pounds(self.net_p90),
        }


@dataclass(frozen=True, slots=True)
class GroupBreakdown:
    """Expected receipts of the buildings sharing one owner, town or use."""

    key: str
    buildings: int
    releasable: int
    expected_sold: float
    expected_gross: float
    expected_net: float
    expected_pv: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "buildings": self.buildings,
            "releasable": self.releasable,
            "expected_sold": round(self.expected_sold, 3),
            "expected_gross": _pounds(self.expected_gross),
            "expected_net": _pounds(self.expected_net),
            "expected_pv": _pounds(self.expected_pv),
        }


@dataclass(frozen=True, slots=True)
class Contributor:
    """One building's expected contribution."""

    id: str
    owner: str
    town: str
    use_category: str
    rag: str
    disposal_stage: str
    probability_sold: float
    expected_gross: float
    expected_net: float
    expected_pv: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "town": self.town,
            "use_category": self.use_category,
            "rag": self.rag,
            "disposal_stage": self.disposal_stage,
            "probability_sold": round(self.probability_sold, 4),
            "expected_gross": _pounds(self.expected_gross),
            "expected_net": _pounds(self.expected_net),
            "expected_pv": _pounds(self.expected_pv),
        }


@dataclass(frozen=True, slots=True)
class Counts:
    """How the estate's buildings were treated.

    ``buildings_considered`` excludes those already sold; of those,
    ``excluded_red`` can never sell (red with ``red_probability`` 0),
    ``excluded_unvalued`` have no valuation, ``not_releasable`` have a service
    with nowhere to go, and ``releasable`` are the rest.
    """

    buildings_total: int
    excluded_sold: int
    buildings_considered: int
    excluded_red: int
    excluded_unvalued: int
    not_releasable: int
    releasable: int
    expected_sold: float

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        result["expected_sold"] = round(self.expected_sold, 3)
        return result


@dataclass(frozen=True)
class ReceiptsEstimate:
    """The outcome of :func:`estimate_receipts` (money in £, unrounded)."""

    assumptions: ReceiptsScenario
    gross: Distribution
    net: Distribution
    pv: Distribution
    years: tuple[YearProfile, ...]
    by_owner: tuple[GroupBreakdown, ...]
    by_town: tuple[GroupBreakdown, ...]
    by_use: tuple[GroupBreakdown, ...]
    top_contributors: tuple[Contributor, ...]
    counts: Counts
    # Per-run totals, kept for comparisons and charts; not part of to_dict().
    runs_gross: np.ndarray = field(repr=False, compare=False)
    runs_net: np.ndarray = field(repr=False, compare=False)
    runs_pv: np.ndarray = field(repr=False, compare=False)

    @property
    def headline(self) -> str:
        return (
            f"expected net receipts £{self.net.expected / 1e6:,.1f}m "
            f"(P10–P90 £{self.net.p10 / 1e6:,.1f}m–£{self.net.p90 / 1e6:,.1f}m) "
            f"over {self.assumptions.horizon_years} years"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types, money rounded to whole pounds."""
        return {
            "headline": self.headline,
            "gross": self.gross.to_dict(),
            "net": self.net.to_dict(),
            "present_value": self.pv.to_dict(),
            "years": [year.to_dict() for year in self.years],
            "by_owner": [row.to_dict() for row in self.by_owner],
            "by_town": [row.to_dict() for row in self.by_town],
            "by_use": [row.to_dict() for row in self.by_use],
            "top_contributors": [row.to_dict() for row in self.top_contributors],
            "counts": self.counts.to_dict(),
            "assumptions": self.assumptions.model_dump(mode="json"),
        }


def _pounds(amount: float) -> int:
    return int(round(amount))


@dataclass(frozen=True, slots=True)
class _SaleRules:
    """Per-building sale assumptions derived from the scenario."""

    probability: np.ndarray  # 0 for anything that cannot sell in this mode
    first_year: np.ndarray  # 1-based
    last_year: np.ndarray
    candidate: np.ndarray  # may sell in the single estate: the common random-number set
    releasable: np.ndarray  # counted as releasable in this mode
    counts: dict[str, int]


def _sale_rules(buildings: EstateBuildings, scenario: ReceiptsScenario) -> _SaleRules:
    n = len(buildings)
    probability = np.zeros(n)
    first_year = np.ones(n, dtype=np.int64)
    last_year = np.ones(n, dtype=np.int64)

    def assign(mask: np.ndarray, name: str) -> None:
        probability[mask] = getattr(scenario, f"{name}_probability")
        first_year[mask] = getattr(scenario, f"{name}_first_year")
        last_year[mask] = getattr(scenario, f"{name}_last_year")

    rag, stage = buildings.rag, buildings.disposal_stage
    for level in Rag:
        assign(rag == level.value, level.value)
    # A later disposal stage is firmer evidence than the RAG rating, except that
    # red is the register's judgement that disposal is unlikely: it stands.
    not_red = rag != Rag.red.value
    for firmer in (DisposalStage.under_offer, DisposalStage.marketed, DisposalStage.declared_surplus):
        assign(not_red & (stage == firmer.value), firmer.value)

    sold = stage == DisposalStage.sold.value
    considered = ~sold
    red_excluded = considered & ~not_red & (scenario.red_probability == 0.0)
    unvalued = considered & ~red_excluded & np.isnan(buildings.value_gbp)
    in_scope = considered & ~red_excluded & ~unvalued
    own_move = buildings.vacant | buildings.own_host_nearby
    if not scenario.require_host:
        own_move = np.ones(n, dtype=bool)
    any_move = own_move | buildings.partner_host_nearby
    can_move = any_move if scenario.mode == "single_estate" else own_move
    releasable = in_scope & can_move
    candidate = in_scope & any_move & (probability > 0.0)
    probability = np.where(releasable, probability, 0.0)

    counts = {
        "buildings_total": n,
        "excluded_sold": int(sold.sum()),
        "buildings_considered": int(considered.sum()),
        "excluded_red": int(red_excluded.sum()),
        "excluded_unvalued": int(unvalued.sum()),
        "not_releasable": int((in_scope & ~can_move).sum()),
        "releasable": int(releasable.sum()),
    }
    return _SaleRules(probability, first_year, last_year, candidate, releasable, counts)


@dataclass(frozen=True, slots=True)
class _Simulation:
    runs_gross: np.ndarray  # (runs,)
    runs_pv: np.ndarray  # (runs,)
    runs_year_net: np.ndarray  # (runs, horizon)
    year_gross: np.ndarray  # (horizon,) summed over runs
    year_pv: np.ndarray
    year_sold: np.ndarray
    building_sold: np.ndarray  # (buildings,) summed over runs
    building_gross: np.ndarray
    building_net: np.ndarray
    building_pv: np.ndarray


def _simulate(buildings: EstateBuildings, scenario: ReceiptsScenario, rules: _SaleRules) -> _Simulation:
    runs, horizon = scenario.runs, scenario.horizon_years
    rng = np.random.default_rng(scenario.seed)

    # Column ``horizon`` is a bucket for "not sold within the horizon": its
    # index and discount factor are 0, so such draws add nothing anywhere.
    width = horizon + 1
    drift, vol = scenario.market_drift_pa, scenario.market_volatility_pa
    shocks = rng.standard_normal((runs, horizon))
    index = np.zeros((runs, width))
    # index[:, t - 1] is the market index applying to a sale in year t.
    index[:, :horizon] = np.exp(np.cumsum(drift - 0.5 * vol * vol + vol * shocks, axis=1))
    del shocks
    discount = np.zeros(width)
    discount[:horizon] = green_book_discount_factors(
        horizon, scenario.discount_rate, scenario.discount_rate_long
    )
    discounted_index = index * discount

    # Random numbers are drawn for every single-estate candidate in both modes,
    # and a building not releasable in this mode simply never sells: the two
    # modes then share their random numbers exactly.
    members = np.flatnonzero(rules.candidate)
    m = len(members)
    probability = rules.probability[members].astype(np.float32)
    first = rules.first_year[members] - 1
    span = rules.last_year[members] - rules.first_year[members] + 1
    span_f = span.astype(np.float32)
    keep = 1.0 - scenario.disposal_cost_rate
    value = buildings.value_gbp[members]
    occupied_m2 = np.where(buildings.vacant[members], 0.0, np.nan_to_num(buildings.gia_m2[members], nan=0.0))
    transition = scenario.transition_cost_gbp_per_m2 * occupied_m2

    # Sums over buildings per run and year: values and transition costs of the
    # buildings sold, and how many were sold. Receipts follow by multiplying by
    # the run's market index, so the block loop needs no per-sale arithmetic.
    sold_value = np.zeros((runs, width))
    sold_transition = np.zeros((runs, width))
    sold_count = np.zeros((runs, width))
    # Sums over runs per building, of: sold, index at sale, discounted index at
    # sale, discount factor at sale.
    member_sold = np.zeros(m)
    member_index = np.zeros(m)
    member_discounted_index = np.zeros(m)
    member_discount = np.zeros(m)

    if m:
        building_block = min(m, _BLOCK_ELEMENTS)
        run_block = max(1, _BLOCK_ELEMENTS // building_block)
        for r0 in range(0, runs, run_block):
            r1 = min(runs, r0 + run_block)
            rows = r1 - r0
            cells = rows * width
            row_base = (np.arange(rows, dtype=np.intp) * width)[:, None]
            run_index = index[r0:r1].ravel()
            run_discounted_index = discounted_index[r0:r1].ravel()
            run_discount = np.tile(discount, rows)
            for b0 in range(0, m, building_block):
                b1 = min(m, b0 + building_block)
                sells = rng.random((rows, b1 - b0), dtype=np.float32) < probability[b0:b1]
                year = (rng.random((rows, b1 - b0), dtype=np.float32) * span_f[b0:b1]).astype(np.intp)
                # float32 rounding can turn u * span into span itself.
                np.minimum(year, span[b0:b1] - 1, out=year)
                year += first[b0:b1]
                np.minimum(year, horizon, out=year)
                cell = np.where(sells, year, horizon)
                del sells, year
                member_sold[b0:b1] += (cell < horizon).sum(axis=0)
                cell += row_base

                flat = cell.ravel()
                shape = cell.shape
                sold_count[r0:r1] += np.bincount(flat, minlength=cells).reshape(rows, width)
                sold_value[r0:r1] += np.bincount(
                    flat, weights=np.broadcast_to(value[b0:b1], shape).ravel(), minlength=cells
                ).reshape(rows, width)
                sold_transition[r0:r1] += np.bincount(
                    flat,
                    weights=np.broadcast_to(transition[b0:b1], shape).ravel(),
                    minlength=cells,
                ).reshape(rows, width)
                member_index[b0:b1] += run_index[cell].sum(axis=0)
                member_discounted_index[b0:b1] += run_discounted_index[cell].sum(axis=0)
                member_discount[b0:b1] += run_discount[cell].sum(axis=0)

    runs_year_gross = (index * sold_value)[:, :horizon]
    runs_year_net = keep * runs_year_gross - sold_transition[:, :horizon]
    runs_year_pv = runs_year_net * discount[:horizon]

    def spread(member_values: np.ndarray) -> np.ndarray:
        full = np.zeros(len(buildings))
        full[members] = member_values
        return full

    member_net = keep * value * member_index - transition * member_sold
    member_pv = keep * value * member_discounted_index - transition * member_discount
    return _Simulation(
        runs_gross=runs_year_gross.sum(axis=1),
        runs_pv=runs_year_pv.sum(axis=1),
        runs_year_net=runs_year_net,
        year_gross=runs_year_gross.sum(axis=0),
        year_pv=runs_year_pv.sum(axis=0),
        year_sold=sold_count[:, :horizon].sum(axis=0),
        building_sold=spread(member_sold),
        building_gross=spread(value * member_index),
        building_net=spread(member_net),
        building_pv=spread(member_pv),
    )


@dataclass(frozen=True, slots=True)
class _BuildingMeans:
    """Per-building expectations (full estate length), for comparisons."""

    sold: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    pv: np.ndarray


def _breakdown(
    buildings: EstateBuildings,
    column: Literal["owner", "town", "use_category"],
    releasable: np.ndarray,
    means: _BuildingMeans,
) -> tuple[GroupBreakdown, ...]:
    if len(buildings) == 0:
        return ()
    labels, inverse = buildings.groups(column)
    size = len(labels)

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=weights, minlength=size)

    counts = np.bincount(inverse, minlength=size)
    released = np.bincount(inverse, weights=releasable.astype(np.float64), minlength=size)
    sold, gross, net, pv = (total(w) for w in (means.sold, means.gross, means.net, means.pv))
    order = np.lexsort((labels, -net))
    return tuple(
        GroupBreakdown(
            key=str(labels[i]),
            buildings=int(counts[i]),
            releasable=int(released[i]),
            expected_sold=float(sold[i]),
            expected_gross=float(gross[i]),
            expected_net=float(net[i]),
            expected_pv=float(pv[i]),
        )
        for i in order
    )


def _contributors(
    buildings: EstateBuildings, means: _BuildingMeans, chosen: np.ndarray
) -> tuple[Contributor, ...]:
    return tuple(
        Contributor(
            id=str(buildings.id[i]),
            owner=str(buildings.owner[i]),
            town=str(buildings.town[i]),
            use_category=str(buildings.use_category[i]),
            rag=str(buildings.rag[i]),
            disposal_stage=str(buildings.disposal_stage[i]),
            probability_sold=float(means.sold[i]),
            expected_gross=float(means.gross[i]),
            expected_net=float(means.net[i]),
            expected_pv=float(means.pv[i]),
        )
        for i in chosen
    )


def _by_expected_net(means: _BuildingMeans, pool: np.ndarray, limit: int | None) -> np.ndarray:
    pool = pool[means.sold[pool] > 0]
    if limit is not None and len(pool) > limit:
        pool = pool[np.argpartition(-means.net[pool], limit - 1)[:limit]]
    return pool[np.argsort(-means.net[pool], kind="stable")]


def _estimate(
    buildings: EstateBuildings, scenario: ReceiptsScenario
) -> tuple[ReceiptsEstimate, _BuildingMeans, _SaleRules]:
    rules = _sale_rules(buildings, scenario)
    sim = _simulate(buildings, scenario, rules)
    runs = scenario.runs
    means = _BuildingMeans(
        sold=sim.building_sold / runs,
        gross=sim.building_gross / runs,
        net=sim.building_net / runs,
        pv=sim.building_pv / runs,
    )
    runs_net = sim.runs_year_net.sum(axis=1)
    year_net_p10, year_net_p90 = np.percentile(sim.runs_year_net, [10, 90], axis=0)
    year_net_mean = sim.runs_year_net.mean(axis=0)
    years = tuple(
        YearProfile(
            year=t + 1,
            calendar_year=scenario.start_year + t,
            expected_sold=float(sim.year_sold[t] / runs),
            expected_gross=float(sim.year_gross[t] / runs),
            expected_net=float(year_net_mean[t]),
            expected_pv=float(sim.year_pv[t] / runs),
            net_p10=float(year_net_p10[t]),
            net_p90=float(year_net_p90[t]),
        )
        for t in range(scenario.horizon_years)
    )
    top = _by_expected_net(means, np.arange(len(buildings)), _TOP_CONTRIBUTORS)
    estimate = ReceiptsEstimate(
        assumptions=scenario,
        gross=Distribution.of(sim.runs_gross),
        net=Distribution.of(runs_net),
        pv=Distribution.of(sim.runs_pv),
        years=years,
        by_owner=_breakdown(buildings, "owner", rules.releasable, means),
        by_town=_breakdown(buildings, "town", rules.releasable, means),
        by_use=_breakdown(buildings, "use_category", rules.releasable, means),
        top_contributors=_contributors(buildings, means, top),
        counts=Counts(**rules.counts, expected_sold=float(means.sold.sum())),
        runs_gross=sim.runs_gross,
        runs_net=runs_net,
        runs_pv=sim.runs_pv,
    )
    return estimate, means, rules


def estimate_receipts(
    buildings: EstateBuildings, scenario: ReceiptsScenario | None = None
) -> ReceiptsEstimate:
    """Simulate the estate's capital receipts under ``scenario`` (defaults if None)."""
    return _estimate(buildings, scenario or ReceiptsScenario())[0]


def compare_single_estate_with_silo(
    buildings: EstateBuildings, scenario: ReceiptsScenario | None = None
) -> dict[str, Any]:
    """Run both modes on the same random numbers and report what the single estate adds.

    ``scenario.mode`` is ignored. Returns ``single_estate`` and ``silo``
    (:class:`ReceiptsEstimate`), ``difference`` (``gross``, ``net`` and ``pv``
    as :class:`Distribution` of the per-run difference, single estate minus
    silo, and ``additional_releasable``), and ``single_estate_only``: the
    buildings releasable only through a partner's host building
    (:class:`Contributor`, largest expected net first). See
    :func:`comparison_to_dict` for JSON.
    """
    base = scenario or ReceiptsScenario()
    single, single_means, single_rules = _estimate(
        buildings, base.model_copy(update={"mode": "single_estate"})
    )
    silo, _, silo_rules = _estimate(buildings, base.model_copy(update={"mode": "silo"}))
    only = np.flatnonzero(single_rules.releasable & ~silo_rules.releasable)
    order = np.lexsort((buildings.id[only], -single_means.net[only]))
    return {
        "single_estate": single,
        "silo": silo,
        "difference": {
            "gross": Distribution.of(single.runs_gross - silo.runs_gross),
            "net": Distribution.of(single.runs_net - silo.runs_net),
            "pv": Distribution.of(single.runs_pv - silo.runs_pv),
            "additional_releasable": int(len(only)),
        },
        "single_estate_only": list(_contributors(buildings, single_means, only[order])),
    }


def comparison_to_dict(comparison: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready form of :func:`compare_single_estate_with_silo`'s result."""
    difference = comparison["difference"]
    return {
        "single_estate": comparison["single_estate"].to_dict(),
        "silo": comparison["silo"].to_dict(),
        "difference": {
            "gross": difference["gross"].to_dict(),
            "net": difference["net"].to_dict(),
            "present_value": difference["pv"].to_dict(),
            "additional_releasable": difference["additional_releasable"],
        },
        "single_estate_only": [row.to_dict() for row in comparison["single_estate_only"]],
    }


# --- calibration from recorded outcomes ------------------------------------------------------

# A group's probability is calibrated only once this many outcomes are recorded for it:
# fewer say more about luck than about the estate.
CALIBRATION_MIN_OUTCOMES = 20
# Weight of the default, in outcomes, when it is blended with the evidence.
CALIBRATION_PRIOR_WEIGHT = 10

CALIBRATION_RULE = (
    "For each RAG rating (the rating when the outcome was recorded) and each disposal stage "
    "(declared surplus, marketed, under offer: every stage the building had reached), count the "
    "recorded outcomes (sales and withdrawals). With at least {min_outcomes} outcomes the sale "
    "probability is (sales + {prior_weight} × default) / (outcomes + {prior_weight}): the evidence "
    "blended with the default as if the default were {prior_weight} earlier outcomes. With fewer, "
    "the default stands."
)

_CALIBRATED_GROUPS: tuple[tuple[str, str], ...] = (
    *(("rag", level.value) for level in Rag),
    *(
        ("stage", stage.value)
        for stage in (DisposalStage.declared_surplus, DisposalStage.marketed, DisposalStage.under_offer)
    ),
)


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """One recorded outcome: the rating then, the pipeline stages reached, and whether it sold."""

    rag: str | None
    stages_reached: tuple[str, ...]
    sold: bool


def calibrate_scenario(
    scenario: ReceiptsScenario,
    outcomes: Iterable[RecordedOutcome],
    *,
    min_outcomes: int = CALIBRATION_MIN_OUTCOMES,
    prior_weight: float = CALIBRATION_PRIOR_WEIGHT,
) -> tuple[ReceiptsScenario, dict[str, Any]]:
    """The scenario with sale probabilities calibrated where outcomes suffice, and a report of each group."""
    evidence = list(outcomes)
    update: dict[str, float] = {}
    groups = []
    for dimension, name in _CALIBRATED_GROUPS:
        members = [o for o in evidence if (o.rag == name if dimension == "rag" else name in o.stages_reached)]
        n, sold = len(members), sum(o.sold for o in members)
        default = float(getattr(scenario, f"{name}_probability"))
        calibrated = n >= min_outcomes
        used = (sold + prior_weight * default) / (n + prior_weight) if calibrated else default
        if calibrated:
            update[f"{name}_probability"] = used
        groups.append(
            {
                "group": dimension,
                "key": name,
                "outcomes": n,
                "sold": sold,
                "default_probability": default,
                "probability": round(used, 4),
                "source": "calibrated" if calibrated else "default",
            }
        )
    report = {
        "rule": CALIBRATION_RULE.format(min_outcomes=min_outcomes, prior_weight=prior_weight),
        "min_outcomes": min_outcomes,
        "prior_weight": prior_weight,
        "outcomes_recorded": len(evidence),
        "groups": groups,
    }
    return scenario.model_copy(update=update), report
