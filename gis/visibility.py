"""Who sees which fields (DESIGN §3): public, partner, owner.

One table decides it, and it is applied by :func:`project` for records already
in Python (items, history, the change feed, error messages), by
:func:`sql_column` for outputs built in the database (tiles, exports), and by
:func:`sql_cell_sum` for sums read from the stored map cells (the In view
totals), so no output can apply a different rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gis import schema
from gis.schema import Tier
from gis.vocab import COMMERCIALLY_SENSITIVE_STAGES

__all__ = ["ADMIN", "FIELD_TIERS", "PUBLIC", "Tier", "Viewer"]


@dataclass(frozen=True)
class Viewer:
    """Everything that decides what one caller sees, built once per request (or once for the CLI).

    ``tier`` is what the caller sees of other bodies' records; its own body's
    records (``org``) and an admin's are seen whole. ``public_rag`` says
    whether the public tier sees ratings (the register's setting, carried here
    so no output can forget it).
    """

    tier: Tier
    org: str | None = None
    admin: bool = False
    public_rag: bool = True

    def tier_for(self, record_owner: str | None) -> Tier:
        if self.admin or (self.org is not None and self.org == record_owner):
            return Tier.owner
        return self.tier

    @property
    def sees_money(self) -> bool:
        """Whether money figures derived from many records (hub savings, receipts) are shown.

        Values are partner fields (FIELD_TIERS), so the public sees no aggregate of them either.
        """
        return self.admin or self.tier >= FIELD_TIERS["value_gbp"]


PUBLIC = Viewer(Tier.public)
# The register's own view, for the CLI and analyses run by an operator.
ADMIN = Viewer(Tier.owner, admin=True)

# Field -> the lowest tier that sees it, from the one definition of the record. The
# Transparency Code publishes location, tenure and use; values and ratings are for
# partners; valuations of assets being marketed are commercially sensitive (owner
# only, see VALUE_FIELDS); RAG is public unless the register's public_rag is off.
FIELD_TIERS: dict[str, Tier] = {f.name: f.tier for f in schema.FIELDS}
VALUE_FIELDS: frozenset[str] = frozenset({"value_gbp", "valuation_basis", "valuation_date"})


def needed_tier(name: str, viewer: Viewer) -> Tier:
    """The lowest tier that sees field ``name`` for this viewer."""
    if name == "rag" and not viewer.public_rag:
        return Tier.partner
    return FIELD_TIERS[name]


def fields_for(tier: Tier, viewer: Viewer) -> list[str]:
    """Return the fields a caller at ``tier`` may see, in table order."""
    return [name for name in FIELD_TIERS if needed_tier(name, viewer) <= tier]


def fields_seen_by(viewer: Viewer) -> list[str]:
    """The fields this viewer may see on at least one record, in table order.

    A key holder sees its own organisation's records at owner tier, so these are
    the fields of the highest tier the viewer reaches.
    """
    top = Tier.owner if (viewer.admin or viewer.org) else viewer.tier
    return fields_for(top, viewer)


# Fields that decide what a viewer sees of a row: read for every viewer, shown only where allowed.
DECIDING_FIELDS: frozenset[str] = frozenset({"owner", "sensitive", "disposal_stage"})


def fields_to_read(viewer: Viewer) -> frozenset[str]:
    """The fields a read on behalf of this viewer selects: nothing it will never receive is serialised."""
    return frozenset(fields_seen_by(viewer)) | DECIDING_FIELDS


def record_visible(record: Mapping[str, Any], viewer: Viewer) -> bool:
    """Sensitive records do not exist for the public."""
    return not (record.get("sensitive") and viewer.tier_for(record.get("owner")) == Tier.public)


def project(
    record: Mapping[str, Any], viewer: Viewer, current: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Return the part of ``record`` the viewer may see, or None if it must stay hidden.

    ``current`` is the record as it stands now, when ``record`` is a past state
    (history, the change feed): what a caller sees of the past follows what it
    may see now, so a record flagged sensitive vanishes from its own history
    and a valuation taken before marketing is hidden once the asset is marketed.
    """
    if not record_visible(record, viewer):
        return None
    if current is not None and not record_visible(current, viewer):
        return None
    tier = viewer.tier_for(record.get("owner"))
    out = {name: record[name] for name in fields_for(tier, viewer) if name in record}
    stages = {record.get("disposal_stage"), (current or {}).get("disposal_stage")}
    if tier < Tier.owner and stages & COMMERCIALLY_SENSITIVE_STAGES:
        for name in VALUE_FIELDS:
            if name in out:
                out[name] = None
    return out


def project_many(records: Iterable[Mapping[str, Any]], viewer: Viewer) -> list[dict[str, Any]]:
    return [p for r in records if (p := project(r, viewer)) is not None]


def sees_disposal(viewer: Viewer, record_owner: str | None) -> bool:
    """The disposal pipeline (stages, blockers, windows, outcomes) and suggested ratings are for
    partners and owners: they are built from partner fields, and the public sees none of it."""
    return viewer.tier_for(record_owner) >= Tier.partner


def sees_interest(viewer: Viewer, record_owner: str | None, interested_org: str) -> bool:
    """An expression of interest is seen by the building's owner and by the body that made it."""
    return viewer.tier_for(record_owner) == Tier.owner or (
        viewer.org is not None and viewer.org == interested_org
    )


def sql_filter(viewer: Viewer, alias: str = "p") -> str:
    """SQL predicate hiding records this viewer may not see at all."""
    if viewer.admin or viewer.tier >= Tier.partner:
        return "true"
    if viewer.org:
        return f"(NOT {alias}.sensitive OR {alias}.owner = :viewer_org)"
    return f"NOT {alias}.sensitive"


# How one field reaches a viewer in SQL, decided once for rows (sql_column) and stored cells (sql_cell_sum).
SHOWN_ALL = "all"  # every row's value
SHOWN_UNLESS_WITHHELD = "unless-withheld"  # all, but a marketed value only to its owner
SHOWN_TO_OWNER = "owner"  # only on the viewer's own body's rows
SHOWN_NONE = "none"


def _shown(name: str, viewer: Viewer) -> str:
    if viewer.admin:
        return SHOWN_ALL
    needed = needed_tier(name, viewer)
    if needed <= viewer.tier:
        return SHOWN_UNLESS_WITHHELD if name in VALUE_FIELDS else SHOWN_ALL
    if needed == Tier.owner or viewer.org:
        return SHOWN_TO_OWNER
    return SHOWN_NONE


def sql_column(name: str, viewer: Viewer, alias: str = "p") -> str:
    """SQL expression for one output field: the column, or NULL where this viewer may not see it.

    Owner rights depend on the row, so tiers compare against ``:viewer_org``.
    """
    column = f"{alias}.{name}"
    is_owner = f"{alias}.owner = :viewer_org" if viewer.org else "false"
    shown = _shown(name, viewer)
    if shown == SHOWN_ALL:
        return column
    if shown == SHOWN_UNLESS_WITHHELD:
        stages = ", ".join(f"'{s}'" for s in sorted(COMMERCIALLY_SENSITIVE_STAGES))
        return (
            f"CASE WHEN {alias}.disposal_stage IN ({stages}) AND NOT ({is_owner}) THEN NULL ELSE {column} END"
        )
    if shown == SHOWN_TO_OWNER:
        return f"CASE WHEN {is_owner} THEN {column} ELSE NULL END"
    return "NULL"


def sql_cell_sum(
    name: str, viewer: Viewer, columns: tuple[str, str, str, str] | tuple[str, str], alias: str = "a"
) -> tuple[str, str]:
    """SQL (known count, sum) over stored aggregate cells for field ``name``, as :func:`sql_column`
    would show it row by row.

    ``columns`` name the cell's count and sum of the field, and for a value field also the count and
    sum kept apart for records in commercially sensitive stages (seen by their owner only). A cell
    row carries ``owner`` wherever owner rights change the answer (the caller picks such a table).
    """
    known, total = f"{alias}.{columns[0]}", f"{alias}.{columns[1]}"
    if name in VALUE_FIELDS:
        if len(columns) != 4:
            raise ValueError(f"{name} needs its withheld count and sum")
        known_all, total_all = f"({known} + {alias}.{columns[2]})", f"({total} + {alias}.{columns[3]})"
    else:
        known_all, total_all = known, total
    is_owner = f"{alias}.owner = :viewer_org" if viewer.org else "false"
    shown = _shown(name, viewer)
    if shown == SHOWN_ALL:
        return known_all, total_all
    if shown == SHOWN_UNLESS_WITHHELD:
        return (
            f"CASE WHEN {is_owner} THEN {known_all} ELSE {known} END",
            f"CASE WHEN {is_owner} THEN {total_all} ELSE {total} END",
        )
    if shown == SHOWN_TO_OWNER:
        return (
            f"CASE WHEN {is_owner} THEN {known_all} ELSE 0 END",
            f"CASE WHEN {is_owner} THEN {total_all} END",
        )
    return "0", "CAST(NULL AS numeric)"


def sql_params(viewer: Viewer) -> dict[str, Any]:
    return {"viewer_org": viewer.org}
