"""Suggested ratings over the register: one building's, and the review list of those that differ.

The rules are ``gis.rag``'s; this module only reads the facts they need in
bulk, including the co-location input (a partner's building nearby with room),
which is computed for the whole set in one statement rather than per record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from api.services.colocation import host_flags
from api.services.properties import get_record
from gis import rag as rules
from gis import visibility
from gis.errors import Forbidden, PropertyNotFound

# The fields the rules read, plus those the review list shows.
_FACT_FIELDS = (
    "use_category",
    "tenure_detail",
    "utilisation_pct",
    "condition",
    "lease_expiry_date",
    "maintenance_backlog_gbp",
    "gia_m2",
    "listed_grade",
    "disposal_blockers",
)
_SHOWN_FIELDS = (
    "owner",
    "asset_ref",
    "name",
    "post_town",
    "rag",
    "rag_reason",
    "disposal_stage",
    "value_gbp",
)


def _require(viewer: visibility.Viewer, owner: str | None) -> None:
    if not visibility.sees_disposal(viewer, owner):
        raise Forbidden("suggested ratings are built from partner fields: send a partner key")


def suggestion_to_dict(suggestion: rules.Suggestion, human_rag: str | None) -> dict[str, Any]:
    return {
        "suggested_rag": suggestion.rag.value,
        "human_rag": human_rag,
        "differs": human_rag != suggestion.rag.value,
        "score": suggestion.score,
        "decided_by": suggestion.decided_by,
        "reasons": [
            {"rule": r.rule, "reason": r.reason, "leaning": r.leaning, "points": r.points}
            for r in suggestion.reasons
        ],
    }


def suggest_for_record(
    record: Mapping[Any, Any], partner_host_nearby: bool, as_of: dt.date
) -> rules.Suggestion:
    return rules.suggest_rag(rules.facts_from_record(record, partner_host_nearby=partner_host_nearby), as_of)


def suggestion(
    conn: Connection, property_id: str, viewer: visibility.Viewer, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The suggested rating of one building, beside its human one, with the reasons."""
    record = get_record(conn, property_id)
    projected = visibility.project(record, viewer)
    if projected is None:
        raise PropertyNotFound(f"no property with id {record['id']}")
    _require(viewer, record["owner"])
    flags = host_flags(conn, viewer=viewer, include_red=True, subject_ids=[record["id"]])
    partner = flags.get(record["id"], (False, False))[1]
    result = suggest_for_record(projected, partner, as_of or dt.date.today())
    return {"property_id": record["id"], **suggestion_to_dict(result, projected.get("rag"))}


def review(
    conn: Connection,
    viewer: visibility.Viewer,
    *,
    owner: str | None = None,
    limit: int = 100,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Rated buildings whose suggestion disputes the human rating, largest value first.

    A suggestion disputes a rating when it differs and a rule leans its way; those that differ
    only for want of a rule (amber with no reasons, say) are counted, not listed.
    """
    if viewer.tier < visibility.Tier.partner and not viewer.admin:
        raise Forbidden("the rating review is built from partner fields: send a partner key")
    as_of = as_of or dt.date.today()
    columns = ", ".join(
        f"{visibility.sql_column(name, viewer, 'p')} AS {name}" for name in (*_FACT_FIELDS, *_SHOWN_FIELDS)
    )
    params: dict[str, Any] = {**visibility.sql_params(viewer), "owner": owner}
    rows = conn.execute(
        text(
            f"""SELECT p.id::text AS id, {columns}, p.sensitive FROM property p
                WHERE p.deleted_at IS NULL AND p.rag IS NOT NULL AND {visibility.sql_filter(viewer, "p")}
                  AND (CAST(:owner AS text) IS NULL OR p.owner = :owner)"""
        ),
        params,
    ).mappings()
    flags = host_flags(conn, viewer=viewer, include_red=True)
    differing: list[dict[str, Any]] = []
    rated = unexplained = 0
    for row in rows:
        rated += 1
        result = suggest_for_record(row, flags.get(row["id"], (False, False))[1], as_of)
        if result.rag.value == row["rag"]:
            continue
        if not result.disputes(row["rag"]):
            # No rule leans the suggestion's way (often none applies at all): nothing to review.
            unexplained += 1
            continue
        differing.append(
            {
                "id": row["id"],
                **{name: row[name] for name in _SHOWN_FIELDS},
                **suggestion_to_dict(result, row["rag"]),
            }
        )
    # Largest value first; values this viewer may not see (marketed, not theirs) go last.
    differing.sort(key=lambda item: (item["value_gbp"] is None, -(item["value_gbp"] or 0), item["id"]))
    return {
        "as_of": as_of.isoformat(),
        "rated": rated,
        "differing": len(differing),
        "differing_without_reason": unexplained,
        "items": differing[:limit],
    }
