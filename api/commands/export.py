"""``estate export PATH``: the register as a GIS file, with the admin's view (every field, every record)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def export(
    path: Annotated[
        Path,
        typer.Argument(
            help="output file; its extension picks the format: "
            ".gpkg, .zip (Shapefile), .geojson, .fgb, .kml, .csv",
            dir_okay=False,
            writable=True,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="gpkg | zip (shp) | geojson | fgb | kml | csv; default: from PATH's extension",
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="EPSG:27700 (default for gpkg, zip, fgb, csv) or EPSG:4326; GeoJSON and KML are always WGS84"
        ),
    ] = None,
    owner: Annotated[list[str] | None, typer.Option(help="organisation code (repeatable)")] = None,
    rag: Annotated[list[str] | None, typer.Option(help="red, amber, green (repeatable)")] = None,
    use: Annotated[list[str] | None, typer.Option(help="use category (repeatable)")] = None,
    town: Annotated[str | None, typer.Option(help="post town")] = None,
    postcode: Annotated[str | None, typer.Option(help="postcode prefix")] = None,
    bbox: Annotated[str | None, typer.Option(help="minx,miny,maxx,maxy (lon/lat unless --bbox-crs)")] = None,
    bbox_crs: Annotated[str | None, typer.Option("--bbox-crs", help="CRS of --bbox, e.g. EPSG:27700")] = None,
) -> None:
    """Export the register (admin view: every field of every record, sensitive ones included)."""
    from api.commands import cli_engine
    from api.services import exports as svc
    from api.services.filters import build_filter
    from gis import exports as writer
    from gis.errors import ValidationFailed
    from gis.visibility import ADMIN

    try:
        out_fmt = writer.get_format(fmt) if fmt else writer.format_for_path(path)
        out_crs = writer.resolve_crs(out_fmt, crs)
        flt = build_filter(
            owner=owner, rag=rag, use=use, town=town, postcode=postcode, bbox=bbox, bbox_crs=bbox_crs
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with cli_engine().connect() as conn:
            result = svc.export_properties(conn, path, out_fmt, out_crs, flt, ADMIN)
    except ValidationFailed as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    console.print(f"wrote {result.count:,} properties to {result.path} ({out_fmt.label}, {out_crs.label})")
