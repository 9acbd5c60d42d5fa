"""estate rag review · estate disposal … · estate webhooks deliver: the pipeline from a shell."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
rag_app = typer.Typer(help="Suggested RAG ratings beside the human ones.")
disposal_app = typer.Typer(help="The disposal pipeline: move buildings on, record sales.")
webhooks_app = typer.Typer(help="Webhook deliveries and interest windows.")


def _admin():  # type: ignore[no-untyped-def]
    """The shell user acts as a register admin, named in history as cli:<user>."""
    from api.auth import Principal
    from api.cli import cli_actor
    from gis.visibility import Tier, Viewer

    return Principal(Viewer(Tier.owner, admin=True), "admin", cli_actor())


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _show(record: dict[str, Any]) -> None:
    console.print(f"{record['name']} ({record['owner']}): [b]{record['stage']}[/b]")
    window = record.get("interest_window")
    if window:
        console.print(
            f"partners may register interest until {window['ends_on']} ({window['working_days']} working days)"
        )
    if record["allowed_transitions"]:
        console.print("next: " + ", ".join(record["allowed_transitions"]))


def _write(action):  # type: ignore[no-untyped-def]
    from api.commands import cli_engine
    from api.db import write_transaction
    from gis.errors import RegisterError

    principal = _admin()
    try:
        with write_transaction(cli_engine(), principal.actor) as conn:
            return action(conn, principal)
    except RegisterError as exc:
        _fail(exc.detail)


@rag_app.command("review")
def rag_review(
    owner: Annotated[str | None, typer.Option(help="only this organisation")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Rated buildings whose suggested rating differs from the human one, largest value first."""
    from api.commands import cli_engine
    from api.services.rag import review

    with cli_engine().connect() as conn:
        result = review(conn, _admin().viewer, owner=owner, limit=limit)
    if json_out:
        print(json.dumps(result, indent=2))
        return
    table = Table(
        title=f"{result['differing']:,} of {result['rated']:,} rated buildings differ from the suggestion"
    )
    for column in ("value", "owner", "name", "human", "suggested", "why"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for item in result["items"]:
        value = f"£{item['value_gbp'] / 1e6:,.2f}m" if item["value_gbp"] is not None else "—"
        why = "; ".join(r["reason"] for r in item["reasons"]) or "no rule fired: the score is 0"
        table.add_row(value, item["owner"], item["name"], item["human_rag"] or "", item["suggested_rag"], why)
    console.print(table)


@disposal_app.command("transition")
def transition(
    property_id: str,
    to_stage: Annotated[
        str, typer.Argument(help="retained, under_review, declared_surplus, marketed, under_offer")
    ],
    on: Annotated[str | None, typer.Option(help="date it happened, YYYY-MM-DD (default today)")] = None,
    note: Annotated[str | None, typer.Option(help="why")] = None,
) -> None:
    """Move a building to another stage."""
    from api.services import disposal
    from api.settings import get_settings

    effective_on = dt.date.fromisoformat(on) if on else None
    record = _write(
        lambda conn, p: disposal.transition(
            conn, property_id, to_stage, p, effective_on=effective_on, note=note,
            window_working_days=get_settings().interest_window_working_days,
        )
    )  # fmt: skip
    _show(record)


@disposal_app.command("declare-surplus")
def declare_surplus(
    property_id: str,
    on: Annotated[str | None, typer.Option(help="date, YYYY-MM-DD (default today)")] = None,
    note: Annotated[str | None, typer.Option(help="why")] = None,
) -> None:
    """Declare a building surplus: partners' interest window opens and they are told."""
    transition(property_id, "declared_surplus", on=on, note=note)


@disposal_app.command("record-sale")
def record_sale(
    property_id: str,
    completed_on: Annotated[str, typer.Option(help="completion date, YYYY-MM-DD")],
    gross_receipt_gbp: Annotated[int, typer.Option(min=0, help="price received, £")],
    disposal_costs_gbp: Annotated[int, typer.Option(min=0, help="costs of selling, £")],
    buyer_type: Annotated[str, typer.Option(help="public_body, registered_provider, private or community")],
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record a completed sale (the building must be under offer)."""
    from api.services import disposal
    from gis.disposal import BuyerType

    if buyer_type not in {b.value for b in BuyerType}:
        _fail(f"buyer type must be one of {', '.join(b.value for b in BuyerType)}")
    record = _write(
        lambda conn, p: disposal.record_sale(
            conn, property_id, p, completed_on=dt.date.fromisoformat(completed_on),
            gross_receipt_gbp=gross_receipt_gbp, disposal_costs_gbp=disposal_costs_gbp,
            buyer_type=buyer_type, note=note,
        )
    )  # fmt: skip
    _show(record)


@disposal_app.command("show")
def show(property_id: str) -> None:
    """The building's pipeline as JSON: moves, blockers, windows, interest, outcomes."""
    from api.commands import cli_engine
    from api.services import disposal
    from gis.errors import RegisterError

    try:
        with cli_engine().connect() as conn:
            record = disposal.disposal_record(conn, property_id, _admin().viewer)
    except RegisterError as exc:
        _fail(exc.detail)
    print(json.dumps(record, indent=2, default=str))


@webhooks_app.command("deliver")
def deliver(
    loop: Annotated[
        bool, typer.Option(help="keep going (a worker beside the API) instead of one pass")
    ] = False,
) -> None:
    """Close interest windows that have ended and deliver due webhooks (what the API's worker does)."""
    import time

    from api.commands import cli_engine
    from api.services.webhooks import run_once
    from api.settings import get_settings

    settings = get_settings()
    while True:
        done = run_once(cli_engine(), settings)
        console.print(
            f"{done['windows_closed']} windows closed, {done['deliveries_attempted']} deliveries attempted"
        )
        if not loop:
            return
        time.sleep(settings.worker_poll_s)
