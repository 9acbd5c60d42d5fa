"""``estate import transparency|vector``: load a council's asset file from the shell, with its quality report.

Thin wrappers over :mod:`api.services.imports`; the lead wires them as
``import_app.command("transparency")(import_transparency)`` and
``import_app.command("vector")(import_vector)``.

Exit status: 0 the import ran (written, or nothing to change, or a dry run);
1 nothing was written because of errors (unknown organisation, unreadable
file, strict mode with rejected rows, or every row rejected); 2 the command
line was wrong. The ``--report`` file is written before anything is printed,
and a closed standard output (``estate import ... | head -1``) changes neither.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.services.imports import ImportOutcome
    from gis.errors import ValidationFailed


class _Console(Console):
    """A console whose reader may go away (``| head -1``): printing stops, the exit status stays."""

    def on_broken_pipe(self) -> None:
        # Rich's own handler exits 1, which would say "nothing written" after a write.
        _silence_stdout()
        self.quiet = True


def _silence_stdout() -> None:
    """Point standard output at /dev/null so later writes, and the final flush, cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


console = _Console()
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
AcceptProbableOpt = Annotated[
    bool,
    typer.Option(
        "--accept-probable", help="apply probable matches (same UPRN, same place) as well as certain ones"
    ),
]
RetireMissingOpt = Annotated[
    bool,
    typer.Option("--retire-missing", help="retire (soft-delete) the org's records the file no longer holds"),
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
    accept_probable: AcceptProbableOpt = False,
    retire_missing: RetireMissingOpt = False,
) -> None:
    """Import a Transparency Code land and building assets CSV into the register."""
    from api.services import imports as svc

    _run(
        lambda engine, actor: svc.import_transparency(
            engine,
            file,
            org,
            actor=actor,
            dry_run=dry_run,
            strict=strict,
            accept_probable=accept_probable,
            retire_missing=retire_missing,
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
    accept_probable: AcceptProbableOpt = False,
    retire_missing: RetireMissingOpt = False,
) -> None:
    """Import the first layer of a GeoPackage, GeoJSON or Shapefile into the register."""
    from api.services import imports as svc

    column_mapping = parse_mapping(mapping)
    _run(
        lambda engine, actor: svc.import_vector(
            engine,
            file,
            org,
            column_mapping,
            actor=actor,
            dry_run=dry_run,
            strict=strict,
            accept_probable=accept_probable,
            retire_missing=retire_missing,
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
    from api.commands import cli_engine

    return cli_engine()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(do_import: Callable[[Engine, str], ImportOutcome], report: Path | None) -> None:
    """Run an import, write the report, then print; exit 1 when errors meant nothing was written."""
    from api.services.imports import ImportRejected
    from gis.errors import ValidationFailed

    try:
        outcome = do_import(_engine(), _actor())
    except ImportRejected as exc:
        _write_report(exc.outcome.report_csv(), report)
        with _stdout_may_close():
            _show(exc.outcome, report)
            console.print(f"[red]strict:[/red] {exc.outcome.rejected} row(s) rejected; nothing was written")
        raise typer.Exit(1) from None
    except ValidationFailed as exc:
        _write_report(_errors_csv(exc), report)
        with _stdout_may_close():
            for err in exc.errors:
                console.print(f"[red]error:[/red] {escape(err.field)}: {escape(err.message)}")
        raise typer.Exit(1) from None
    _write_report(outcome.report_csv(), report)
    with _stdout_may_close():
        _show(outcome, report)
        if outcome.dry_run:
            console.print("dry run: nothing was written")
    if outcome.rejected and not outcome.imported:
        raise typer.Exit(1)  # every row rejected: nothing written, because of errors


@contextmanager
def _stdout_may_close() -> Iterator[None]:
    """Let a reader that stops early (``| head -1``) end the printing, not the command's exit status.

    The import is done and its report written by the time anything is
    printed; a broken pipe only means nobody reads the rest. Standard output
    is pointed at /dev/null so the interpreter's final flush does not fail too.
    """
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        console.quiet = True


def _errors_csv(exc: ValidationFailed) -> str:
    """A report for an import refused before reading rows: one line per error."""
    from gis.imports import Action, ImportResult, ReportRow

    lines = [ReportRow(err.index, err.field, "", err.message, Action.rejected_row) for err in exc.errors]
    return ImportResult([], [], lines).report_csv()


def _show(outcome: ImportOutcome, report: Path | None) -> None:
    verb = "would be " if outcome.dry_run else ""
    table = Table("", "rows", title=f"import into {escape(outcome.owner)}", title_justify="left")
    table.add_row("read from the file", str(outcome.rows_read))
    table.add_row(f"{verb}inserted", str(outcome.inserted))
    table.add_row(f"{verb}updated", str(outcome.updated))
    table.add_row("unchanged", str(outcome.unchanged))
    table.add_row("rejected", str(outcome.rejected))
    table.add_row("kept without location", str(outcome.kept_without_location))
    table.add_row("matched by a changed reference", str(outcome.matched))
    table.add_row(f"probable matches {verb}applied", str(outcome.probable_applied))
    table.add_row("probable matches held back", str(outcome.probable_held))
    table.add_row("in the register, not in the file", str(outcome.not_in_file))
    table.add_row(f"{verb}retired", str(outcome.retired))
    console.print(table)
    if report is not None:
        console.print(f"full report ({len(outcome.report)} line(s)) written to {escape(str(report))}")
    if outcome.dry_run:
        _show_plan(outcome)
    if not outcome.report:
        console.print("no problems found")
        return
    by_action = ", ".join(f"{action}: {count}" for action, count in outcome.counts_by_action().items())
    console.print(f"report: {len(outcome.report)} line(s) ({escape(by_action)})")
    # Rejections and held-back matches first: they are what the sender must act on.
    first = ("rejected row", "probable match held back")
    lines = sorted(outcome.report, key=lambda line: line["action"] not in first)[:PROBLEMS_SHOWN]
    problems = Table(
        "row", "field", "value", "problem", "action", title="first problems", title_justify="left"
    )
    for line in lines:
        problems.add_row(
            *(
                escape("" if line[k] is None else str(line[k]))
                for k in ("row", "field", "raw", "problem", "action")
            )
        )
    console.print(problems)
    if len(outcome.report) > len(lines):
        console.print(f"… and {len(outcome.report) - len(lines)} more; --report FILE writes them all")


def _show_plan(outcome: ImportOutcome) -> None:
    """Every row's fate and every record the file no longer holds: the whole plan of a dry run."""
    plan = Table(
        "row",
        "asset_ref",
        "would",
        "match",
        "stored as",
        "score",
        "reason",
        title="plan",
        title_justify="left",
    )
    for line in outcome.plan:
        cells = [
            line["row"],
            line["asset_ref"],
            line["action"],
            line["match"],
            line["stored_ref"],
            line["score"],
            line["reason"],
        ]
        plan.add_row(*(escape("" if c is None else str(c)) for c in cells))
    console.print(plan)


def _write_report(report_csv: str, report: Path | None) -> None:
    if report is not None:
        report.write_text(report_csv, encoding="utf-8", newline="")
