"""The shape every importer returns: normalised records plus a row-by-row quality report.

The report is written for the person who sent the file: each line names the
row as their spreadsheet numbers it, the field, what they wrote, what was
wrong and what the importer did about it.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gis import csvcell

REPORT_COLUMNS: tuple[str, ...] = ("row", "field", "raw", "problem", "action")


class Action(StrEnum):
    """What the importer did about a problem: a short verb phrase, the same in every report."""

    normalised = "normalised"
    corrected = "corrected"
    kept_without_location = "kept without location"
    field_left_empty = "field left empty"
    rejected_row = "rejected row"
    generated = "generated"
    not_imported = "not imported"  # a column the importer does not read
    # Reconciliation with the organisation's stored records (see gis.imports.reconcile).
    matched = "matched"
    probable_applied = "probable match applied"
    probable_held = "probable match held back"
    not_in_file = "not in file"
    retired = "retired"


@dataclass(frozen=True)
class ReportRow:
    """One line of the quality report.

    ``row`` is the 1-based row as a spreadsheet user counts it: the header is
    row 1, a cell with a line break in it is still one row. None for a line
    about no row of the file (a stored record the file no longer holds).
    """

    row: int | None
    field: str
    raw: str
    problem: str
    action: str

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value, a tenth of a 5,000-row import's time.
        return {
            "row": self.row,
            "field": self.field,
            "raw": self.raw,
            "problem": self.problem,
            "action": self.action,
        }


@dataclass
class ImportResult:
    """Records read from one file, the rows rejected, and the quality report.

    ``records`` holds one record per non-blank data row, rejected rows
    included so a reviewer can see what was refused; ``source_rows[i]`` is
    the file row ``records[i]`` came from. Load ``ok_records``.
    """

    records: list[dict[str, Any]]
    rejected_rows: list[int]
    report: list[ReportRow]
    source_rows: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.source_rows and len(self.source_rows) != len(self.records):
            raise ValueError("source_rows must give one row number per record")

    @property
    def ok_records(self) -> list[dict[str, Any]]:
        """The records from rows that were not rejected."""
        if not self.source_rows:
            return list(self.records)
        rejected = set(self.rejected_rows)
        return [r for r, row in zip(self.records, self.source_rows, strict=True) if row not in rejected]

    def report_dicts(self) -> list[dict[str, Any]]:
        return [line.as_dict() for line in self.report]

    def report_csv(self) -> str:
        """The report as CSV text with a header row, ready to hand back to the file's sender."""
        out = io.StringIO(newline="")
        writer = csvcell.dict_writer(out, list(REPORT_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.report_dicts())
        return out.getvalue()

    def counts_by_action(self) -> dict[str, int]:
        """How many report lines each action has, in :class:`Action` order, zeros left out."""
        counts = Counter(line.action for line in self.report)
        ordered = {a.value: counts.pop(a.value) for a in Action if a.value in counts}
        return ordered | dict(counts)
