"""``estate import transparency|vector``: load a council's asset file from the shell, with its quality report.

Thin wrappers over :mod:`api.services.imports`; the lead wires them as
``import_app.command("transparency")(import_transparency)`` and
``import_app.command("vector")(import_vector)``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.services.imports import ImportOutcome

console = Console()
PROBLEMS_SHOWN = 20

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the file to import")
]
OrgOpt = Annotated[str, typer.Option("--org", help="code of the organisation the file belongs to")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="report what would happen; write nothing")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="write nothing unless every row is good")]
ReportOpt = Annotated[
    Path | None,
    typer.Option("--report", dir_okay=False, help="write the full quality report to this CSV file"),
]
MappingOpt = Annotated[
    str,
    typer.Option("--mapping", help='source column=register field pairs, e.g. "SITE_NAME=name,TENURE=tenure"'),
]


def import_transparency(
    file: FileArg,
    org: OrgOpt,
    dry_run: DryRunOpt = False,
    strict: StrictOpt = False,
    report: ReportOpt = None,
) -> None:
    """Import a Transparency Code land and building assets CSV into the register."""
    from api.services import imports as svc

    _run(
        lambda engine, actor: svc.import_transparency(
            engine, file, org, actor=actor, dry_run=dry_run, strict=strict
        ),
        report,
    )


def import_vector(
    file: FileArg,
    org: OrgOpt,
    mapping: MappingOpt,
    dry_run: DryRunOpt = False,
    strict: StrictOpt = False,
    report: ReportOpt = None,
) -> None:
    """Import the first layer of a GeoPackage, GeoJSON or Shapefile into the register."""
    from api.services import imports as svc

    column_mapping = parse_mapping(mapping)
    _run(
        lambda engine, actor: svc.import_vector(
            engine, file, org, column_mapping, actor=actor, dry_run=dry_run, strict=strict
        ),
        report,
    )


def parse_mapping(text: str) -> dict[str, str]:
    """Return {source column: register field} from "SRC=field,SRC2=field2"; raise BadParameter otherwise."""
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise typer.BadParameter(f"{item!r} is not SOURCE=field", param_hint="--mapping")
        if source.strip() in pairs:
            raise typer.BadParameter(f"column {source.strip()!r} mapped twice", param_hint="--mapping")
        pairs[source.strip()] = target.strip()
    if not pairs:
        raise typer.BadParameter("map at least one column, e.g. SITE_NAME=name", param_hint="--mapping")
    return pairs


def _engine() -> Engine:
    from api.db import get_engine

    return get_engine()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(do_import: Callable[[Engine, str], ImportOutcome], report: Path | None) -> None:
    """Run an import, print its summary and first problems, write the report; exit 1 if it failed."""
    from api.services.imports import ImportRejected
    from gis.errors import ValidationFailed

    try:
        outcome = do_import(_engine(), _actor())
    except ImportRejected as exc:
        _show(exc.outcome)
        _write_report(exc.outcome, report)
        console.print(f"[red]strict:[/red] {exc.outcome.rejected} row(s) rejected; nothing was written")
        raise typer.Exit(1) from None
    except ValidationFailed as exc:
        for err in exc.errors:
            console.print(f"[red]error:[/red] {escape(err.field)}: {escape(err.message)}")
        raise typer.Exit(1) from None
    _show(outcome)
    _write_report(outcome, report)
    if outcome.dry_run:
        console.print("dry run: nothing was written")


def _show(outcome: ImportOutcome) -> None:
    verb = "would be " if outcome.dry_run else ""
    table = Table("", "rows", title=f"import into {escape(outcome.owner)}", title_justify="left")
    table.add_row("read from the file", str(outcome.rows_read))
    table.add_row(f"{verb}inserted", str(outcome.inserted))
    table.add_row(f"{verb}updated", str(outcome.updated))
    table.add_row("unchanged", str(outcome.unchanged))
    table.add_row("rejected", str(outcome.rejected))
    table.add_row("kept without location", str(outcome.kept_without_location))
    console.print(table)
    if not outcome.report:
        console.print("no problems found")
        return
    by_action = ", ".join(f"{action}: {count}" for action, count in outcome.counts_by_action().items())
    console.print(f"report: {len(outcome.report)} line(s) ({escape(by_action)})")
    # Rejections first: they are what the sender must fix; normalisations are for information.
    lines = sorted(outcome.report, key=lambda line: line["action"] != "rejected row")[:PROBLEMS_SHOWN]
    problems = Table(
        "row", "field", "value", "problem", "action", title="first problems", title_justify="left"
    )
    for line in lines:
        problems.add_row(*(escape(str(line[k])) for k in ("row", "field", "raw", "problem", "action")))
    console.print(problems)
    if len(outcome.report) > len(lines):
        console.print(f"… and {len(outcome.report) - len(lines)} more; --report FILE writes them all")


def _write_report(outcome: ImportOutcome, report: Path | None) -> None:
    if report is None:
        return
    report.write_text(outcome.report_csv(), encoding="utf-8", newline="")
    console.print(f"full report ({len(outcome.report)} line(s)) written to {escape(str(report))}")
