"""``estate colocation``: the ranked hub candidates in a table, optionally written to CSV / GeoJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional  # noqa: UP035 - typer reads Optional in signatures

import typer
from rich.console import Console
from rich.table import Table

from gis import csvcell

console = Console()

CSV_COLUMNS = (
    "rank",
    "id",
    "score",
    "town",
    "owners",
    "host_id",
    "host_name",
    "fits",
    "space_needed_m2",
    "extra_space_m2",
    "released_count",
    "released_names",
    "capital_value_gbp",
    "running_cost_saved_gbp_pa",
    "transition_cost_gbp",
    "payback_years",
    "reasons",
)


def _gbp(amount: float | None) -> str:
    return "-" if amount is None else f"{amount:,.0f}"


def colocation(
    distance_m: Annotated[int, typer.Option(help="walking distance from the host, metres")] = 800,
    min_owners: Annotated[int, typer.Option(help="distinct bodies a hub needs")] = 2,
    uses: Annotated[Optional[str], typer.Option(help="comma-separated uses that may share")] = None,  # noqa: UP045
    town: Annotated[Optional[str], typer.Option(help="only buildings in this post town")] = None,  # noqa: UP045
    owner: Annotated[Optional[str], typer.Option(help="only hubs this body (code) takes part in")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option(help="how many candidates")] = 20,
    csv: Annotated[Optional[Path], typer.Option(help="also write the candidates to this CSV file")] = None,  # noqa: UP045
    geojson: Annotated[Optional[Path], typer.Option(help="also write a GeoJSON FeatureCollection")] = None,  # noqa: UP045
) -> None:
    """Rank co-location candidates: where two or more bodies could share one building."""
    from api.commands import cli_engine
    from api.services import colocation as svc
    from gis.errors import ValidationFailed

    engine = cli_engine()
    try:
        with engine.connect() as conn:
            query = svc.build_query(
                conn,
                distance_m=distance_m,
                min_owners=min_owners,
                uses=uses,
                town=town,
                owner=owner,
                limit=limit,
            )
            candidates = svc.find_colocation_candidates(conn, svc.ADMIN, query)
            names = svc.owner_names(conn, (o for c in candidates for o in c.owners))
    except ValidationFailed as exc:
        for error in exc.errors:
            console.print(f"[red]error:[/red] --{error.field.replace('_', '-')}: {error.message}")
        raise typer.Exit(2) from None

    table = Table(title=f"Co-location candidates ({distance_m} m, {min_owners}+ bodies)")
    for column, justify in (
        ("rank", "right"),
        ("town", "left"),
        ("owners", "left"),
        ("host", "left"),
        ("released", "right"),
        ("capital £", "right"),
        ("savings £/yr", "right"),
        ("payback yrs", "right"),
        ("score", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for rank, c in enumerate(candidates, 1):
        table.add_row(
            str(rank),
            c.host.post_town or "",
            ", ".join(c.owners),
            c.host.name,
            str(c.released_count),
            _gbp(c.capital_value_gbp),
            _gbp(c.running_cost_saved_gbp_pa),
            "-" if c.payback_years is None else f"{c.payback_years:.1f}",
            f"{c.score:.1f}",
        )
    console.print(table)
    if not candidates:
        console.print("no candidates: no buildings of two or more bodies within that distance")

    if csv is not None:
        with csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csvcell.dict_writer(handle, list(CSV_COLUMNS))
            writer.writeheader()
            for rank, c in enumerate(candidates, 1):
                writer.writerow(
                    {
                        "rank": rank,
                        "id": c.id,
                        "score": c.score,
                        "town": c.host.post_town or "",
                        "owners": ";".join(c.owners),
                        "host_id": c.host.id,
                        "host_name": c.host.name,
                        "fits": c.fits,
                        "space_needed_m2": round(c.space_needed_m2, 1),
                        "extra_space_m2": round(c.extra_space_m2, 1),
                        "released_count": c.released_count,
                        "released_names": ";".join(b.name for b in c.released),
                        "capital_value_gbp": c.capital_value_gbp,
                        "running_cost_saved_gbp_pa": c.running_cost_saved_gbp_pa,
                        "transition_cost_gbp": c.transition_cost_gbp,
                        "payback_years": None if c.payback_years is None else round(c.payback_years, 2),
                        "reasons": " | ".join(c.reasons),
                    }
                )
        console.print(f"wrote {len(candidates)} candidates to {csv}")
    if geojson is not None:
        collection = {
            "type": "FeatureCollection",
            "features": [
                svc.candidate_feature(c, svc.ADMIN, rank, names) for rank, c in enumerate(candidates, 1)
            ],
        }
        geojson.write_text(json.dumps(collection, indent=1), encoding="utf-8")
        console.print(f"wrote {len(candidates)} features to {geojson}")
