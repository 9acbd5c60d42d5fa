"""Import councils' asset files into the register: parse, validate, merge with what is stored, upsert.

The parsers in :mod:`gis.imports` turn a file into records and a quality
report; this service runs every record through the register's own validation
(:func:`gis.register.validate_property`), merges it with the stored record of
the same (owner, asset_ref), and writes the batch with the set-based upsert in
one transaction.

**Merge rule.** A council file is a partial view of an asset (the Transparency
Code asks for a dozen fields; the register holds thirty), so an import only
ever adds or corrects values, never blanks them: a field the file has no
column for, a blank cell, a value the importer could not read, a generated
name, a missing location and a catch-all ``other`` use all leave the stored
value as it is. To clear a value, edit the record.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from api.db import set_actor, write_transaction
from api.services.bulk import UpsertResult, upsert_records
from api.services.properties import check_organisations
from gis.errors import FieldError, ValidationFailed
from gis.imports import Action, ImportResult, ReportRow, parse_transparency_csv
from gis.imports.report import REPORT_COLUMNS
from gis.imports.transparency import ATTRIBUTE_FIELDS, UnreadableFileError
from gis.register import SCALAR_COLUMNS, validate_property
from gis.vocab import UseCategory

# Keys of a parsed record that are not register input as they stand.
_LOCATION_KEYS = ("lon", "lat", "footprint")
# Stored columns fetched for the merge; 20 decimal digits make the geometry
# text round-trip exactly (the default 15 does not), so an unchanged location
# compares equal and a re-import writes no new version.
_STORED_SELECT = ", ".join(
    [
        *(f"p.{c}" for c in SCALAR_COLUMNS),
        "ST_AsEWKT(p.geom, 20) AS geom",
        "ST_AsEWKT(p.footprint, 20) AS footprint",
    ]
)


@dataclass
class ImportOutcome:
    """What an import read, wrote (or, in a dry run, would write) and reported."""

    owner: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    kept_without_location: int
    report: list[dict[str, Any]]
    dry_run: bool
    strict: bool
    rejected_rows: list[int] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows that reached the register (or would have, in a dry run), changed or not."""
        return self.inserted + self.updated + self.unchanged

    @property
    def written(self) -> bool:
        """True when the register changed: something inserted or updated, and not a dry run."""
        return not self.dry_run and (self.inserted + self.updated) > 0

    def counts_by_action(self) -> dict[str, int]:
        """How many report lines each action has, in :class:`Action` order, zeros left out."""
        counts = Counter(line["action"] for line in self.report)
        ordered = {a.value: counts.pop(a.value) for a in Action if a.value in counts}
        return ordered | dict(counts)

    def summary(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "dry_run": self.dry_run,
            "strict": self.strict,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "kept_without_location": self.kept_without_location,
            "rejected_rows": list(self.rejected_rows),
            "report_lines_by_action": self.counts_by_action(),
        }

    def report_csv(self) -> str:
        """The full report as CSV text (row, field, raw, problem, action), for the file's sender."""
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.report)
        return out.getvalue()


class ImportRejected(ValidationFailed):
    """A strict import with rejected rows: nothing was written. ``errors[].index`` is the file row."""

    title = "Import rejected"

    def __init__(self, outcome: ImportOutcome) -> None:
        errors = [
            FieldError(line["field"] or "row", line["problem"], line["row"])
            for line in outcome.report
            if line["action"] == Action.rejected_row
        ]
        super().__init__(
            errors, detail=f"{outcome.rejected} row(s) rejected in strict mode; nothing was written"
        )
        self.outcome = outcome
        # Carried into the problem+json body, so a client can show the whole report.
        self.extra.update(summary=outcome.summary(), report=outcome.report)


@dataclass(frozen=True)
class _Candidate:
    """A record that passed validation: DB-ready values plus what the merge needs to know."""

    row: int
    values: dict[str, Any]
    generated_name: bool


# ---------------------------------------------------------------------------
# Public entry points


def import_transparency(
    engine: Engine,
    source: bytes | Path,
    owner: str,
    *,
    actor: str,
    dry_run: bool = False,
    strict: bool = False,
) -> ImportOutcome:
    """Import a Transparency Code land and building assets CSV (bytes or a Path) for ``owner``.

    Raises ValidationFailed (field ``owner`` or ``file``) when the owner is
    unknown or the file has no recognisable header, and :class:`ImportRejected`
    when ``strict`` and any row is rejected; in both cases nothing is written.
    """
    _require_organisation(engine, owner)
    try:
        result = parse_transparency_csv(source, owner)
    except UnreadableFileError as exc:
        raise ValidationFailed([FieldError("file", str(exc))]) from None
    return load_import(engine, result, owner, actor=actor, dry_run=dry_run, strict=strict)


def import_vector(
    engine: Engine,
    path: str | Path,
    owner: str,
    column_mapping: Mapping[str, str],
    *,
    actor: str,
    dry_run: bool = False,
    strict: bool = False,
) -> ImportOutcome:
    """Import the first layer of a GeoPackage, GeoJSON or Shapefile for ``owner``.

    ``column_mapping`` maps source columns to register fields, e.g.
    ``{"SITE_NAME": "name"}``. Raises ValidationFailed (field ``owner``,
    ``column_mapping`` or ``file``) before reading rows, and :class:`ImportRejected`
    when ``strict`` and any row is rejected.
    """
    _check_mapping(column_mapping)
    _require_organisation(engine, owner)
    from gis.imports import read_vector_file  # geopandas and GDAL load only when a vector file comes in

    try:
        result = read_vector_file(path, owner, column_mapping)
    except ValueError as exc:
        # The mapping was checked above, so what is left is about the file (a missing column, no geometry).
        raise ValidationFailed([FieldError("file", str(exc))]) from None
    except RuntimeError as exc:  # pyogrio's DataSourceError: not a file GDAL can read
        raise ValidationFailed([FieldError("file", f"cannot read {Path(path).name}: {exc}")]) from None
    return load_import(engine, result, owner, actor=actor, dry_run=dry_run, strict=strict)


def load_import(
    engine: Engine,
    result: ImportResult,
    owner: str,
    *,
    actor: str,
    dry_run: bool = False,
    strict: bool = False,
) -> ImportOutcome:
    """Validate a parsed file's records, then write (or rehearse) them in one transaction."""
    candidates, report, rejected_rows = validate_records(result)
    kept_without_location = sum(1 for c in candidates if c.values.get("geom") is None)

    def outcome(upserted: UpsertResult | None) -> ImportOutcome:
        return ImportOutcome(
            owner=owner,
            rows_read=len(result.records),
            inserted=upserted.inserted if upserted else 0,
            updated=upserted.updated if upserted else 0,
            unchanged=upserted.unchanged if upserted else 0,
            rejected=len(rejected_rows),
            kept_without_location=kept_without_location,
            report=[line.as_dict() for line in report],
            dry_run=dry_run,
            strict=strict,
            rejected_rows=rejected_rows,
        )

    if strict and rejected_rows:
        raise ImportRejected(outcome(None))
    if not candidates:
        return outcome(UpsertResult())
    transaction = _rehearsal(engine, actor) if dry_run else write_transaction(engine, actor)
    with transaction as conn:
        stored = fetch_stored(conn, owner, [c.values["asset_ref"] for c in candidates])
        records = [
            merge_with_stored(c.values, stored.get(c.values["asset_ref"]), c.generated_name)
            for c in candidates
        ]
        upserted = upsert_records(conn, records)
    return outcome(upserted)


# ---------------------------------------------------------------------------
# Steps (each usable on its own)


def register_input(record: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a parsed record into the JSON-shaped input the register validates.

    Empty values are left out (they mean "the file gives nothing here"), a
    missing location stays missing rather than becoming 0,0, and a footprint
    WKT becomes GeoJSON.
    """
    data = {k: v for k, v in record.items() if k not in _LOCATION_KEYS and v is not None}
    lon, lat = record.get("lon"), record.get("lat")
    if lon is not None and lat is not None:
        data["geometry"] = {"type": "Point", "coordinates": [lon, lat]}
    if record.get("footprint"):
        data["footprint"] = mapping(shapely.from_wkt(record["footprint"]))
    return data


def validate_records(result: ImportResult) -> tuple[list[_Candidate], list[ReportRow], list[int]]:
    """Return (records that pass the register's validation, the full report, rejected file rows).

    A row the register refuses gets one "rejected row" line per problem, and
    its earlier notes are dropped, as the parser does for the rows it rejects.
    """
    source_rows = result.source_rows or list(range(1, len(result.records) + 1))
    rejected = set(result.rejected_rows)
    generated_names = {
        line.row for line in result.report if line.field == "name" and line.action == Action.generated
    }
    candidates: list[_Candidate] = []
    refused: dict[int, list[ReportRow]] = {}
    for record, row in zip(result.records, source_rows, strict=True):
        if row in rejected:
            continue
        data = register_input(record)
        try:
            values = validate_property(data, creating=True, index=row)
        except ValidationFailed as exc:
            refused[row] = [
                ReportRow(row, err.field, _raw_value(data, err.field), err.message, Action.rejected_row)
                for err in exc.errors
            ]
            continue
        candidates.append(_Candidate(row, values, generated_name=row in generated_names))

    report = [line for line in result.report if line.row not in refused]
    report += [line for lines in refused.values() for line in lines]
    report.sort(key=lambda line: line.row)  # stable: lines about one row keep their order
    return candidates, report, sorted(rejected | set(refused))


def fetch_stored(conn: Connection, owner: str, asset_refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return the stored records of ``owner`` for these references, keyed by asset_ref, locked for update.

    Retired (soft-deleted) records are included: the upsert brings them back,
    so their values are the ones to merge with. The lock keeps a concurrent
    edit from being overwritten by values read before it.
    """
    rows = (
        conn.execute(
            text(f"""SELECT {_STORED_SELECT} FROM property p
                 WHERE p.owner = :owner AND p.asset_ref = ANY(:refs) FOR UPDATE"""),
            {"owner": owner, "refs": list(asset_refs)},
        )
        .mappings()
        .all()
    )
    return {row["asset_ref"]: dict(row) for row in rows}


def merge_with_stored(
    imported: Mapping[str, Any], stored: Mapping[str, Any] | None, generated_name: bool = False
) -> dict[str, Any]:
    """Return the whole state to upsert: the stored record with the file's usable values laid over it.

    The upsert treats a record as the asset's whole state, so every field the
    file does not give is filled from ``stored`` (see the module docstring).
    """
    if stored is None:
        return dict(imported)
    merged = dict(stored)
    for name, value in imported.items():
        if value is None:
            continue
        if name == "use_category" and value == UseCategory.other:
            continue  # the importer's catch-all for a blank or unrecognised use, not a fact to record
        if name == "name" and generated_name:
            continue  # the parser made it from the address because the file gave none
        merged[name] = value
    return merged


# ---------------------------------------------------------------------------
# Helpers


def _require_organisation(engine: Engine, owner: str) -> None:
    with engine.connect() as conn:
        check_organisations(conn, [owner])


def _check_mapping(column_mapping: Mapping[str, str]) -> None:
    errors: list[FieldError] = []
    if not column_mapping:
        errors.append(FieldError("column_mapping", "map at least one column, e.g. SITE_NAME=name"))
    unknown = sorted(set(column_mapping.values()) - set(ATTRIBUTE_FIELDS))
    if unknown:
        problem = f"unknown field(s) {', '.join(unknown)}; mappable: {', '.join(ATTRIBUTE_FIELDS)}"
        errors.append(FieldError("column_mapping", problem))
    targets = list(column_mapping.values())
    if doubled := sorted({t for t in targets if targets.count(t) > 1}):
        errors.append(FieldError("column_mapping", f"more than one column mapped to {', '.join(doubled)}"))
    if errors:
        raise ValidationFailed(errors)


def _raw_value(data: Mapping[str, Any], field_name: str) -> str:
    """Return the input value a validation error is about, as text for the report."""
    name = field_name.split(".")[0]
    value = data.get(name)
    if value is None:
        return ""
    if name == "geometry":
        return ", ".join(str(v) for v in value["coordinates"])
    if name == "footprint":
        return str(value.get("type", ""))
    return str(value)


@contextmanager
def _rehearsal(engine: Engine, actor: str) -> Iterator[Connection]:
    """Yield a write transaction that is always rolled back: a dry run does exactly what an import would.

    The counts (inserted, updated, unchanged) therefore come from the real
    upsert and triggers, and nothing is committed.
    """
    with engine.connect() as conn, conn.begin() as transaction:
        set_actor(conn, actor)
        yield conn
        transaction.rollback()
