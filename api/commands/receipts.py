"""estate receipts: the single-estate capital receipts estimate as tables, a chart and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

console = Console()


def _m(value: float) -> str:
    return f"£{value / 1e6:,.1f}m"


def receipts(
    runs: Annotated[int, typer.Option(help="Monte Carlo runs")] = 10_000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same answer)")] = 2010,
    horizon_years: Annotated[int, typer.Option(help="years simulated")] = 10,
    volatility: Annotated[float, typer.Option(help="market volatility per year")] = 0.08,
    drift: Annotated[float, typer.Option(help="real market drift per year")] = 0.0,
    disposal_cost_rate: Annotated[
        float, typer.Option(help="disposal costs as a share of the receipt")
    ] = 0.04,
    transition_cost_gbp_per_m2: Annotated[
        float, typer.Option(help="decant/relocation £ per m² released")
    ] = 150.0,
    discount_rate: Annotated[float, typer.Option(help="Green Book real rate, years 1–30")] = 0.035,
    green_probability: Annotated[float, typer.Option(help="chance a green building sells")] = 0.9,
    amber_probability: Annotated[float, typer.Option(help="chance an amber building sells")] = 0.5,
    require_host: Annotated[
        bool, typer.Option(help="release occupied buildings only if their service has a host nearby")
    ] = True,
    owner: Annotated[str | None, typer.Option(help="only this organisation")] = None,
    town: Annotated[str | None, typer.Option(help="only this post town")] = None,
    chart: Annotated[Path | None, typer.Option(help="write the chart (.svg or .png)")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the full result as JSON")] = None,
    calibrate: Annotated[
        bool, typer.Option(help="calibrate sale probabilities from recorded outcomes where there are enough")
    ] = False,
) -> None:
    """Estimate capital receipts for the whole estate, single estate against silo."""
    from api.commands import cli_engine
    from api.services.receipts import estimate
    from gis.charts import render_receipts_chart
    from gis.receipts import ReceiptsScenario, comparison_to_dict
    from gis.visibility import ADMIN

    try:
        scenario = ReceiptsScenario(
            runs=runs,
            seed=seed,
            horizon_years=horizon_years,
            market_volatility_pa=volatility,
            market_drift_pa=drift,
            disposal_cost_rate=disposal_cost_rate,
            transition_cost_gbp_per_m2=transition_cost_gbp_per_m2,
            discount_rate=discount_rate,
            green_probability=green_probability,
            amber_probability=amber_probability,
            require_host=require_host,
        )
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]error:[/red] {'.'.join(map(str, err['loc']))}: {err['msg']}")
        raise typer.Exit(1) from None
    with cli_engine().connect() as conn:
        result = estimate(conn, ADMIN, scenario, owner=owner, town=town, calibrate=calibrate)
    single, silo, diff = result["single_estate"], result["silo"], result["difference"]

    table = Table(title=f"Capital receipts over {scenario.horizon_years} years ({scenario.runs:,} runs)")
    for column in ("", "expected gross", "expected net", "present value", "net P10", "net P50", "net P90"):
        table.add_column(column, justify="right" if column else "left")
    for label, est in (("single estate", single), ("silo (each body alone)", silo)):
        table.add_row(
            label,
            _m(est.gross.expected),
            _m(est.net.expected),
            _m(est.pv.expected),
            _m(est.net.p10),
            _m(est.net.p50),
            _m(est.net.p90),
        )
    table.add_row(
        "[b]single estate adds[/b]",
        _m(diff["gross"].expected),
        _m(diff["net"].expected),
        _m(diff["pv"].expected),
        _m(diff["net"].p10),
        _m(diff["net"].p50),
        _m(diff["net"].p90),
    )
    console.print(table)
    counts = single.counts
    console.print(
        f"{counts.buildings_considered:,} buildings considered; {counts.excluded_red:,} red excluded; "
        f"{counts.releasable:,} releasable in the single estate vs {silo.counts.releasable:,} alone "
        f"({diff['additional_releasable']:,} more only with a partner's building as host)."
    )

    years = Table(title="Year by year (single estate)")
    for column in ("year", "buildings sold", "expected net", "net P10", "net P90"):
        years.add_column(column, justify="right")
    for y in single.years:
        years.add_row(
            str(y.calendar_year), f"{y.expected_sold:,.1f}", _m(y.expected_net), _m(y.net_p10), _m(y.net_p90)
        )
    console.print(years)

    owners = Table(title="By owner (single estate, expected net)")
    owners.add_column("owner")
    owners.add_column("releasable", justify="right")
    owners.add_column("expected net", justify="right")
    for g in sorted(single.by_owner, key=lambda g: -g.expected_net)[:15]:
        owners.add_row(g.key, f"{g.releasable:,}", _m(g.expected_net))
    console.print(owners)
    actual = result["actual"]
    recorded = Table(title="Recorded to date (actual sales)")
    for column in ("year", "owner", "sales", "gross", "costs", "net"):
        recorded.add_column(column, justify="left" if column == "owner" else "right")
    for r in actual["by_year_and_owner"]:
        recorded.add_row(
            str(r["year"]),
            r["owner"],
            str(r["sales"]),
            _m(r["gross_gbp"]),
            _m(r["costs_gbp"]),
            _m(r["net_gbp"]),
        )
    recorded.add_row("[b]total[/b]", "", str(actual["sales"]), _m(actual["gross_gbp"]), _m(actual["costs_gbp"]),
                     _m(actual["net_gbp"]))  # fmt: skip
    console.print(recorded)
    if result["calibration"]:
        report = result["calibration"]
        calibration = Table(title="Sale probabilities calibrated from recorded outcomes")
        for column in ("group", "outcomes", "sold", "default", "used", "source"):
            calibration.add_column(column, justify="left" if column in ("group", "source") else "right")
        for g in report["groups"]:
            calibration.add_row(
                f"{g['group']} {g['key']}", str(g["outcomes"]), str(g["sold"]),
                f"{g['default_probability']:.2f}", f"{g['probability']:.2f}", g["source"],
            )  # fmt: skip
        console.print(calibration)
        console.print(report["rule"])
    console.print("Assumptions: " + ", ".join(f"{k}={v}" for k, v in scenario.model_dump().items()))

    if chart:
        fmt: Literal["svg", "png"] = "png" if chart.suffix.lower() == ".png" else "svg"
        chart.write_bytes(render_receipts_chart(single, fmt, silo=silo))
        console.print(f"chart written to {chart}")
    if json_path:
        full = {**comparison_to_dict(result), "actual": actual, "calibration": result["calibration"]}
        json_path.write_text(json.dumps(full, indent=2))
        console.print(f"result written to {json_path}")
