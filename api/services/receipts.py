"""Single-estate capital receipts over the register: load buildings, add co-location host flags, simulate."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from api.services.colocation import host_flags
from gis import visibility
from gis.errors import Forbidden
from gis.receipts import (
    EstateBuildings,
    ReceiptsScenario,
    RecordedOutcome,
    calibrate_scenario,
    compare_single_estate_with_silo,
    comparison_to_dict,
)


def require_partner(viewer: visibility.Viewer) -> None:
    """Receipts add up valuations, which the public may not see one by one."""
    if viewer.tier < visibility.Tier.partner:
        raise Forbidden("capital receipts need a partner key: they are built from valuations")


def load_estate(
    conn: Connection, viewer: visibility.Viewer, *, owner: str | None = None, town: str | None = None
) -> EstateBuildings:
    """Every live building the viewer may see, with the flags the receipts model needs."""
    value = visibility.sql_column("value_gbp", viewer, "p")
    params: dict[str, Any] = {**visibility.sql_params(viewer), "owner": owner, "town": town}
    rows = (
        conn.execute(
            text(
                f"""SELECT p.id::text AS id, p.owner, coalesce(p.post_town, '(no town)') AS town, p.use_category,
                   p.rag, p.disposal_stage, {value} AS value_gbp, p.gia_m2,
                   p.tenure_detail IS NOT DISTINCT FROM 'vacant' AS vacant
            FROM property p
            WHERE p.deleted_at IS NULL AND p.rag IS NOT NULL AND {visibility.sql_filter(viewer, "p")}
              AND (CAST(:owner AS text) IS NULL OR p.owner = :owner)
              AND (CAST(:town AS text) IS NULL OR lower(p.post_town) = lower(:town))
            ORDER BY p.id"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    flags = host_flags(conn, viewer=viewer)
    records = []
    for row in rows:
        own, partner = flags.get(row["id"], (False, False))
        records.append({**row, "own_host_nearby": own, "partner_host_nearby": partner})
    return EstateBuildings.from_records(records)


def estimate(
    conn: Connection,
    viewer: visibility.Viewer,
    scenario: ReceiptsScenario,
    *,
    owner: str | None = None,
    town: str | None = None,
    calibrate: bool = False,
) -> dict[str, Any]:
    """Single estate vs silo on the same random numbers, with every assumption echoed.

    Beside the forecast: the receipts actually recorded to date, by year and owner; with
    ``calibrate``, the sale probabilities are first calibrated from recorded outcomes.
    """
    require_partner(viewer)
    calibration = None
    if calibrate:
        scenario, calibration = calibrate_scenario(scenario, recorded_outcomes(conn))
    result = compare_single_estate_with_silo(load_estate(conn, viewer, owner=owner, town=town), scenario)
    result["actual"] = actual_receipts(conn, viewer, owner=owner, town=town)
    result["calibration"] = calibration
    # The model needs a rating to judge a sale; unrated buildings are left out and counted.
    result["excluded_unrated"] = conn.execute(
        text(
            f"""SELECT count(*) FROM property p WHERE p.deleted_at IS NULL AND p.rag IS NULL
              AND {visibility.sql_filter(viewer, "p")}
              AND (CAST(:owner AS text) IS NULL OR p.owner = :owner)
              AND (CAST(:town AS text) IS NULL OR lower(p.post_town) = lower(:town))"""
        ),
        {**visibility.sql_params(viewer), "owner": owner, "town": town},
    ).scalar_one()
    return result


def estimate_answer(
    engine: Engine,
    viewer: visibility.Viewer,
    scenario: ReceiptsScenario,
    *,
    owner: str | None = None,
    town: str | None = None,
    calibrate: bool = False,
) -> dict[str, Any]:
    """The estimate as the API answers it (a task for api/offload.py's worker processes)."""
    with engine.connect() as conn:
        result = estimate(conn, viewer, scenario, owner=owner, town=town, calibrate=calibrate)
    return {
        **comparison_to_dict(result),
        "excluded_unrated": result["excluded_unrated"],
        "actual": result["actual"],
        "calibration": result["calibration"],
    }


def estimate_chart(
    engine: Engine,
    viewer: visibility.Viewer,
    scenario: ReceiptsScenario,
    fmt: Literal["svg", "png"],
    *,
    owner: str | None = None,
    town: str | None = None,
) -> bytes:
    """Yearly net receipts with the P10-P90 band, as SVG or PNG (a task for the worker processes)."""
    from gis.charts import render_receipts_chart  # matplotlib loads on the first chart, not at start-up

    with engine.connect() as conn:
        result = estimate(conn, viewer, scenario, owner=owner, town=town)
    return render_receipts_chart(result["single_estate"], fmt, silo=result["silo"])


def actual_receipts(
    conn: Connection, viewer: visibility.Viewer, *, owner: str | None = None, town: str | None = None
) -> dict[str, Any]:
    """Sales recorded to date: totals, and by completion year and owner."""
    params: dict[str, Any] = {**visibility.sql_params(viewer), "owner": owner, "town": town}
    rows = (
        conn.execute(
            text(
                f"""SELECT extract(year FROM o.completed_on)::int AS year, o.owner, count(*) AS sales,
                       sum(o.gross_receipt_gbp)::bigint AS gross_gbp, sum(o.disposal_costs_gbp)::bigint AS costs_gbp,
                       sum(o.gross_receipt_gbp - o.disposal_costs_gbp)::bigint AS net_gbp
                FROM disposal_outcome o JOIN property p ON p.id = o.property_id
                WHERE o.kind = 'sale' AND {visibility.sql_filter(viewer, "p")}
                  AND (CAST(:owner AS text) IS NULL OR o.owner = :owner)
                  AND (CAST(:town AS text) IS NULL OR lower(p.post_town) = lower(:town))
                GROUP BY 1, 2 ORDER BY 1, 2"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    by_year_owner = [dict(r) for r in rows]
    years: dict[int, dict[str, int]] = {}
    for r in by_year_owner:
        total = years.setdefault(
            r["year"], {"year": r["year"], "sales": 0, "gross_gbp": 0, "costs_gbp": 0, "net_gbp": 0}
        )
        for key in ("sales", "gross_gbp", "costs_gbp", "net_gbp"):
            total[key] += int(r[key])
    return {
        "sales": sum(int(r["sales"]) for r in by_year_owner),
        "gross_gbp": sum(int(r["gross_gbp"]) for r in by_year_owner),
        "costs_gbp": sum(int(r["costs_gbp"]) for r in by_year_owner),
        "net_gbp": sum(int(r["net_gbp"]) for r in by_year_owner),
        "by_year": [years[y] for y in sorted(years)],
        "by_year_and_owner": by_year_owner,
    }


def recorded_outcomes(conn: Connection) -> list[RecordedOutcome]:
    """Every recorded outcome across the estate, the evidence calibration reads."""
    rows = conn.execute(
        text("SELECT rag_at_outcome, stages_reached, kind = 'sale' AS sold FROM disposal_outcome ORDER BY id")
    )
    return [RecordedOutcome(r.rag_at_outcome, tuple(r.stages_reached), bool(r.sold)) for r in rows]
