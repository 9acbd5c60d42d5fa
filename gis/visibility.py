"""Who sees which fields (DESIGN §3): public, partner, owner.

One table decides it, and two functions apply it: :func:`project` for records
already in Python (items, history, the change feed, error messages) and
:func:`sql_columns` for outputs built in the database (tiles, exports), so no
output can apply a different rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from gis.vocab import COMMERCIALLY_SENSITIVE_STAGES


class Tier(IntEnum):
    public = 0
    partner = 1
    owner = 2  # the record's own organisation, and admins


@dataclass(frozen=True)
class Viewer:
    """Who is asking: their tier towards other bodies' records and their organisation."""

    tier: Tier
    org: str | None = None
    admin: bool = False

    def tier_for(self, record_owner: str | None) -> Tier:
        if self.admin or (self.org is not None and self.org == record_owner):
            return Tier.owner
        return self.tier


PUBLIC = Viewer(Tier.public)

# Field -> the lowest tier that sees it. The Transparency Code publishes
# location, tenure and use; values and ratings are for partners; valuations
# of assets being marketed are commercially sensitive (owner only, see
# VALUE_FIELDS).
FIELD_TIERS: dict[str, Tier] = {
    "id": Tier.public,
    "owner": Tier.public,
    "asset_ref": Tier.public,
    "uprn": Tier.public,
    "name": Tier.public,
    "street_number": Tier.public,
    "street": Tier.public,
    "post_town": Tier.public,
    "postcode": Tier.public,
    "geometry": Tier.public,
    "tenure": Tier.public,
    "tenure_detail": Tier.public,
    "holding_type": Tier.public,
    "use_category": Tier.public,
    "gia_m2": Tier.public,
    "site_area_ha": Tier.public,
    "listed_grade": Tier.public,
    "rag": Tier.public,  # only with public_rag; see fields_for
    "version": Tier.public,
    "updated_at": Tier.public,
    "footprint": Tier.partner,
    "rag_reason": Tier.partner,
    "rag_set_at": Tier.partner,
    "condition": Tier.partner,
    "utilisation_pct": Tier.partner,
    "fte": Tier.partner,
    "value_gbp": Tier.partner,
    "valuation_basis": Tier.partner,
    "valuation_date": Tier.partner,
    "running_cost_gbp_pa": Tier.partner,
    "maintenance_backlog_gbp": Tier.partner,
    "lease_expiry_date": Tier.partner,
    "disposal_stage": Tier.partner,
    "disposal_blockers": Tier.partner,
    "sensitive": Tier.partner,
    "created_at": Tier.partner,
    "rag_set_by": Tier.owner,
    "created_by": Tier.owner,
    "updated_by": Tier.owner,
    "deleted_at": Tier.owner,
    "deleted_by": Tier.owner,
}
VALUE_FIELDS: frozenset[str] = frozenset({"value_gbp", "valuation_basis", "valuation_date"})


def fields_for(tier: Tier, public_rag: bool = True) -> list[str]:
    """Return the fields a caller of ``tier`` may see, in table order."""
    fields = [name for name, needed in FIELD_TIERS.items() if needed <= tier]
    if tier == Tier.public and not public_rag:
        fields.remove("rag")
    return fields


def record_visible(record: Mapping[str, Any], viewer: Viewer) -> bool:
    """Sensitive records do not exist for the public."""
    return not (record.get("sensitive") and viewer.tier_for(record.get("owner")) == Tier.public)


def project(record: Mapping[str, Any], viewer: Viewer, public_rag: bool = True) -> dict[str, Any] | None:
    """Return the part of ``record`` the viewer may see, or None if it must stay hidden."""
    if not record_visible(record, viewer):
        return None
    tier = viewer.tier_for(record.get("owner"))
    out = {name: record[name] for name in fields_for(tier, public_rag) if name in record}
    if tier < Tier.owner and record.get("disposal_stage") in COMMERCIALLY_SENSITIVE_STAGES:
        for name in VALUE_FIELDS:
            if name in out:
                out[name] = None
    return out


def project_many(
    records: Iterable[Mapping[str, Any]], viewer: Viewer, public_rag: bool = True
) -> list[dict[str, Any]]:
    return [p for r in records if (p := project(r, viewer, public_rag)) is not None]


def sql_filter(viewer: Viewer, alias: str = "p") -> str:
    """SQL predicate hiding records this viewer may not see at all."""
    if viewer.admin or viewer.tier >= Tier.partner:
        return "true"
    if viewer.org:
        return f"(NOT {alias}.sensitive OR {alias}.owner = :viewer_org)"
    return f"NOT {alias}.sensitive"


def sql_column(name: str, viewer: Viewer, alias: str = "p", public_rag: bool = True) -> str:
    """SQL expression for one output field: the column, or NULL where this viewer may not see it.

    Owner rights depend on the row, so tiers compare against ``:viewer_org``.
    """
    column = f"{alias}.{name}"
    is_owner = f"{alias}.owner = :viewer_org" if viewer.org else "false"
    if viewer.admin:
        return column
    needed = FIELD_TIERS[name]
    if name == "rag" and not public_rag and viewer.tier == Tier.public:
        needed = Tier.partner
    if needed <= viewer.tier:
        if name in VALUE_FIELDS:
            stages = ", ".join(f"'{s}'" for s in sorted(COMMERCIALLY_SENSITIVE_STAGES))
            return f"CASE WHEN {alias}.disposal_stage IN ({stages}) AND NOT ({is_owner}) THEN NULL ELSE {column} END"
        return column
    if needed == Tier.owner or viewer.org:
        return f"CASE WHEN {is_owner} THEN {column} ELSE NULL END"
    return "NULL"


def sql_params(viewer: Viewer) -> dict[str, Any]:
    return {"viewer_org": viewer.org}
