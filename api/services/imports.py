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

**Reconciliation.** Before writing, every row is matched to the
organisation's stored records by :func:`gis.imports.reconcile.reconcile`
(same reference, then normalised reference, UPRN, place and name). A certain
match updates its record in place, taking the file's reference; a probable
match is applied only with ``accept_probable`` and is otherwise held back
(neither inserted nor applied), so a re-publication never puts an asset in
twice. Records the file no longer holds are listed, and retired only with
``retire_missing``.
"""

from __future__ import annotations

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
from gis import crs as crs_mod
from gis import csvcell
from gis.errors import FieldError, ValidationFailed
from gis.imports import Action, ImportResult, ReportRow, parse_transparency_csv
from gis.imports.reconcile import Asset, Match, MatchKind, Reconciliation, reconcile
from gis.imports.report import REPORT_COLUMNS
from gis.imports.transparency import ATTRIBUTE_FIELDS, SOURCE_ONLY_KEYS, UnreadableFileError
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
    matched: int = 0  # rows matched to a record with another reference (certain)
    probable_applied: int = 0
    probable_held: int = 0
    not_in_file: int = 0  # live records the file no longer holds
    retired: int = 0
    plan: list[dict[str, Any]] = field(default_factory=list)
    accept_probable: bool = False
    retire_missing: bool = False

    @property
    def imported(self) -> int:
        """Rows that reached the register (or would have, in a dry run), changed or not."""
        return self.inserted + self.updated + self.unchanged

    @property
    def written(self) -> bool:
        """True when the register changed: something inserted, updated or retired, and not a dry run."""
        return not self.dry_run and (self.inserted + self.updated + self.retired) > 0

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
            "matched_by_other_means": self.matched,
            "probable_applied": self.probable_applied,
            "probable_held_back": self.probable_held,
            "not_in_file": self.not_in_file,
            "retired": self.retired,
            "accept_probable": self.accept_probable,
            "retire_missing": self.retire_missing,
            "rejected_rows": list(self.rejected_rows),
            "report_lines_by_action": self.counts_by_action(),
        }

    def report_csv(self) -> str:
        """The full report as CSV text (row, field, raw, problem, action), for the file's sender."""
        out = io.StringIO(newline="")
        writer = csvcell.dict_writer(out, list(REPORT_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({**line, "row": "" if line["row"] is None else line["row"]} for line in self.report)
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
    lonlat: tuple[float, float] | None = None
    uprn_as_written: str | None = None


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
    accept_probable: bool = False,
    retire_missing: bool = False,
) -> ImportOutcome:
    """Import a Transparency Code land and building assets CSV (bytes or a Path) for ``owner``.

    Raises ValidationFailed (field ``owner`` or ``file``) when the owner is
    unknown or the file has no recognisable header, and :class:`ImportRejected`
    when ``strict`` and any row is rejected; in both cases nothing is written.
    """
    _require_organisation(engine, owner)
    try:
        result = parse_transparency_csv(source, owner, known_towns(engine))
    except UnreadableFileError as exc:
        raise ValidationFailed([FieldError("file", str(exc))]) from None
    return load_import(
        engine,
        result,
        owner,
        actor=actor,
        dry_run=dry_run,
        strict=strict,
        accept_probable=accept_probable,
        retire_missing=retire_missing,
    )


def import_vector(
    engine: Engine,
    path: str | Path,
    owner: str,
    column_mapping: Mapping[str, str],
    *,
    actor: str,
    dry_run: bool = False,
    strict: bool = False,
    accept_probable: bool = False,
    retire_missing: bool = False,
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
        result = read_vector_file(path, owner, column_mapping, known_towns(engine))
    except ValueError as exc:
        # The mapping was checked above, so what is left is about the file (a missing column, no geometry).
        raise ValidationFailed([FieldError("file", str(exc))]) from None
    except RuntimeError as exc:  # pyogrio's DataSourceError: not a file GDAL can read
        raise ValidationFailed([FieldError("file", f"cannot read {Path(path).name}: {exc}")]) from None
    return load_import(
        engine,
        result,
        owner,
        actor=actor,
        dry_run=dry_run,
        strict=strict,
        accept_probable=accept_probable,
        retire_missing=retire_missing,
    )


def load_import(
    engine: Engine,
    result: ImportResult,
    owner: str,
    *,
    actor: str,
    dry_run: bool = False,
    strict: bool = False,
    accept_probable: bool = False,
    retire_missing: bool = False,
) -> ImportOutcome:
    """Validate a parsed file's records, reconcile them with the stored ones, then write (or rehearse)."""
    candidates, report, rejected_rows = validate_records(result)
    kept_without_location = sum(1 for c in candidates if c.values.get("geom") is None)
    outcome = ImportOutcome(
        owner=owner,
        rows_read=len(result.records),
        inserted=0,
        updated=0,
        unchanged=0,
        rejected=len(rejected_rows),
        kept_without_location=kept_without_location,
        report=[line.as_dict() for line in report],
        dry_run=dry_run,
        strict=strict,
        rejected_rows=rejected_rows,
        accept_probable=accept_probable,
        retire_missing=retire_missing,
    )
    if strict and rejected_rows:
        raise ImportRejected(outcome)
    if not candidates:
        return outcome
    transaction = _rehearsal(engine, actor) if dry_run else write_transaction(engine, actor)
    with transaction as conn:
        stored = fetch_owner_records(conn, owner)
        matching = reconcile(
            [_incoming_asset(c) for c in candidates], [_stored_asset(r) for r in stored.values()]
        )
        _write(conn, candidates, stored, matching, outcome)
    return outcome


def known_towns(engine: Engine) -> list[str]:
    """The post towns the register holds, the ones a one-column address is split on."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT DISTINCT post_town FROM property WHERE post_town IS NOT NULL AND deleted_at IS NULL"
                )
            ).scalars()
        )


def fetch_owner_records(conn: Connection, owner: str) -> dict[str, dict[str, Any]]:
    """Return every record of ``owner``, retired ones included, keyed by id, locked for update.

    One query for the whole organisation: the reconciliation needs all of
    them (a record whose reference changed is found by UPRN or place). The
    lock keeps a concurrent edit from being overwritten by values read before it.
    """
    rows = (
        conn.execute(
            text(f"""SELECT p.id::text AS id, {_STORED_SELECT}, ST_X(p.geom_bng) AS x_m,
                   ST_Y(p.geom_bng) AS y_m, p.deleted_at IS NOT NULL AS retired
                 FROM property p WHERE p.owner = :owner FOR UPDATE"""),
            {"owner": owner},
        )
        .mappings()
        .all()
    )
    return {row["id"]: dict(row) for row in rows}


def _incoming_asset(candidate: _Candidate) -> Asset:
    x_m = y_m = None
    if candidate.lonlat is not None:
        x_m, y_m = crs_mod.lonlat_to_bng(*candidate.lonlat)
    values = candidate.values
    return Asset(values["asset_ref"], values.get("uprn"), values["name"], x_m, y_m, row=candidate.row)


def _stored_asset(row: Mapping[str, Any]) -> Asset:
    return Asset(
        row["asset_ref"],
        row["uprn"],
        row["name"],
        row["x_m"],
        row["y_m"],
        id=row["id"],
        retired=row["retired"],
    )


_STORED_ONLY_KEYS = ("id", "x_m", "y_m", "retired")


def _write(
    conn: Connection,
    candidates: Sequence[_Candidate],
    stored: Mapping[str, Mapping[str, Any]],
    matching: Reconciliation,
    outcome: ImportOutcome,
) -> None:
    """Apply the reconciliation in set-based statements and record the plan in ``outcome``.

    Statements: one UPDATE for records whose reference changed, the upsert,
    one UPDATE retiring missing records (when asked), and two for the UPRNs'
    written forms. Never one statement per row.
    """
    plan: list[dict[str, Any]] = []
    lines: list[ReportRow] = []
    records: list[dict[str, Any]] = []
    renames: dict[str, str] = {}  # record id -> the file's reference
    written_forms: dict[str, str | None] = {}  # asset_ref as it will be stored -> UPRN as written
    for c in candidates:
        ref = c.values["asset_ref"]
        match = matching.matches.get(c.row)
        applied = match is not None and (match.certain or outcome.accept_probable)
        if match is not None and not applied:
            outcome.probable_held += 1
            lines.append(_match_line(match, Action.probable_held))
            plan.append(_plan_line(c.row, ref, "held back", match))
            continue
        previous = stored[match.stored.id] if match is not None and match.stored.id else None
        if match is not None and match.kind is not MatchKind.exact_ref:
            if match.certain:
                outcome.matched += 1
                lines.append(_match_line(match, Action.matched))
            else:
                outcome.probable_applied += 1
                lines.append(_match_line(match, Action.probable_applied))
            if previous is not None and previous["asset_ref"] != ref:
                renames[previous["id"]] = ref
        base = None
        if previous is not None:
            base = {k: v for k, v in previous.items() if k not in _STORED_ONLY_KEYS}
            base["asset_ref"] = ref
        records.append(merge_with_stored(c.values, base, c.generated_name))
        written_forms[ref] = c.uprn_as_written
        plan.append(_plan_line(c.row, ref, "", match))

    if renames:
        # Safe in one statement: a stored record holding a file's reference is that row's exact
        # match, so no renamed record takes a reference another record still holds.
        conn.execute(
            text("""UPDATE property p SET asset_ref = v.ref
                 FROM unnest(CAST(:ids AS uuid[]), CAST(:refs AS text[])) AS v(id, ref) WHERE p.id = v.id"""),
            {"ids": list(renames), "refs": list(renames.values())},
        )
    upserted = upsert_records(conn, records) if records else UpsertResult()
    changed = {item["asset_ref"]: item["action"] for item in upserted.items}
    renamed_refs = set(renames.values())
    for line in plan:
        if line["action"]:
            continue
        action = changed.get(line["asset_ref"])
        line["action"] = (
            "insert"
            if action == "inserted"
            else "update"
            if action or line["asset_ref"] in renamed_refs
            else "unchanged"
        )
    outcome.inserted = sum(1 for line in plan if line["action"] == "insert")
    outcome.updated = sum(1 for line in plan if line["action"] == "update")
    outcome.unchanged = sum(1 for line in plan if line["action"] == "unchanged")
    _store_written_uprns(conn, outcome.owner, written_forms)

    missing = matching.missing
    outcome.not_in_file = len(missing)
    if missing and outcome.retire_missing:
        retired = conn.execute(
            text("""UPDATE property SET deleted_at = now(), deleted_by = current_setting('estate.actor')
                 WHERE id = ANY(CAST(:ids AS uuid[])) AND deleted_at IS NULL"""),
            {"ids": [m.id for m in missing]},
        ).rowcount
        outcome.retired = retired
    for m in missing:
        action = Action.retired if outcome.retire_missing else Action.not_in_file
        problem = f"{m.name!r} is in the register but not in this file: " + (
            "retired (soft-deleted)" if outcome.retire_missing else "kept; --retire-missing retires it"
        )
        lines.append(ReportRow(None, "asset_ref", m.asset_ref, problem, action))
        plan.append(
            {
                "row": None,
                "asset_ref": m.asset_ref,
                "action": "retire" if outcome.retire_missing else "keep (not in file)",
                "stored_ref": m.asset_ref,
                "match": "",
                "score": None,
                "reason": "not in the file",
            }
        )
    outcome.report = _merge_report(outcome.report, lines)
    outcome.plan = plan


def _match_line(match: Match, action: Action) -> ReportRow:
    problem = match.describe()
    if action is Action.probable_held:
        problem += "; not applied: --accept-probable applies it"
    return ReportRow(match.incoming.row, "asset_ref", match.incoming.asset_ref, problem, action)


def _plan_line(row: int, ref: str, action: str, match: Match | None) -> dict[str, Any]:
    return {
        "row": row,
        "asset_ref": ref,
        "action": action,
        "stored_ref": match.stored.asset_ref if match else None,
        "match": match.kind.value if match else "new",
        "score": match.score if match else None,
        "reason": match.reason if match else "",
    }


def _merge_report(report: list[dict[str, Any]], lines: Sequence[ReportRow]) -> list[dict[str, Any]]:
    """The file's report with the reconciliation's lines, in row order; lines about no row last."""
    merged = [*report, *(line.as_dict() for line in lines)]
    # Stable: the lines about one row keep their order.
    return sorted(merged, key=lambda line: (line["row"] is None, line["row"] or 0))


def _store_written_uprns(conn: Connection, owner: str, forms: Mapping[str, str | None]) -> None:
    """Keep each row's zero-padded UPRN beside its record; forget it where the file now writes none."""
    padded = {ref: form for ref, form in forms.items() if form}
    conn.execute(
        text("""DELETE FROM property_uprn_written w USING property p
             WHERE w.property_id = p.id AND p.owner = :owner AND p.asset_ref = ANY(:refs)
               AND NOT (p.asset_ref = ANY(:padded))"""),
        {"owner": owner, "refs": list(forms), "padded": list(padded)},
    )
    if padded:
        conn.execute(
            text("""INSERT INTO property_uprn_written (property_id, uprn_text)
                 SELECT p.id, v.form FROM unnest(CAST(:refs AS text[]), CAST(:forms AS text[])) AS v(ref, form)
                 JOIN property p ON p.owner = :owner AND p.asset_ref = v.ref
                 ON CONFLICT (property_id) DO UPDATE SET uprn_text = EXCLUDED.uprn_text
                 WHERE property_uprn_written.uprn_text IS DISTINCT FROM EXCLUDED.uprn_text"""),
            {"owner": owner, "refs": list(padded), "forms": list(padded.values())},
        )


# ---------------------------------------------------------------------------
# Steps (each usable on its own)


def register_input(record: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a parsed record into the JSON-shaped input the register validates.

    Empty values are left out (they mean "the file gives nothing here"), a
    missing location stays missing rather than becoming 0,0, and a footprint
    WKT becomes GeoJSON.
    """
    data = {
        k: v
        for k, v in record.items()
        if k not in _LOCATION_KEYS and k not in SOURCE_ONLY_KEYS and v is not None
    }
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
        lon, lat = record.get("lon"), record.get("lat")
        candidates.append(
            _Candidate(
                row,
                values,
                generated_name=row in generated_names,
                lonlat=(lon, lat) if lon is not None and lat is not None else None,
                uprn_as_written=record.get("uprn_as_written"),
            )
        )

    report = [line for line in result.report if line.row not in refused]
    report += [line for lines in refused.values() for line in lines]
    report.sort(
        key=lambda line: (line.row is None, line.row or 0)
    )  # stable: lines about one row keep their order
    return candidates, report, sorted(rejected | set(refused))


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
