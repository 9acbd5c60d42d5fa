"""Exports: the register's rows for a viewer, in batches, handed to the pure writers in gis.exports.

One read-only REPEATABLE READ transaction holds the count and the rows, so a
file says exactly what the register said at one instant, even while partners
write. Rows come through a server-side cursor ``EXPORT_BATCH_ROWS`` at a time:
memory stays bounded by one batch whatever the register's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from api.services.filters import PropertyFilter
from api.services.properties import check_organisations
from gis import crs as crs_mod
from gis import exports as writer
from gis import visibility
from gis.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    import pandas as pd


EXPORT_BATCH_ROWS = 10_000

# Fields that need an SQL expression rather than the bare column.
_EXPRESSIONS: dict[str, str] = {
    "id": "{col}::text",
    "disposal_blockers": "array_to_string({col}, ';')",
    "updated_at": "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
}


def geometry_sql(srid: int, alias: str = "p") -> str:
    """The point in ``srid``: the stored BNG copy for 27700 (no per-row transform), else ST_Transform."""
    if srid == crs_mod.BNG_SRID:
        return f"{alias}.geom_bng"
    return f"ST_Transform({alias}.geom, {int(srid)})"


def select_sql(
    fields: Sequence[str],
    viewer: visibility.Viewer,
    where: str,
    srid: int,
    *,
    wkb: bool = True,
    uprn_as_written: bool = False,
) -> str:
    """The export query: visible columns (NULL where the viewer may not see a value) and the point.

    With ``wkb`` the point comes as WKB (for pyogrio); without, as a geometry
    column (what ``ogr2ogr`` reads, used by the benchmark's peer). With
    ``uprn_as_written`` the UPRN's zero-padded form from the owner's file is
    added (migration 0007), only while it still spells the UPRN the viewer sees.
    """
    columns = []
    for name in fields:
        expr = visibility.sql_column(name, viewer, "p")
        if name in _EXPRESSIONS and expr != "NULL":
            expr = _EXPRESSIONS[name].format(col=f"({expr})")
        columns.append(f"{expr} AS {name}")
    source = "property p"
    if uprn_as_written and "uprn" in fields:
        uprn = visibility.sql_column("uprn", viewer, "p")
        columns.append(
            f"CASE WHEN ltrim(w.uprn_text, '0') = ({uprn})::text THEN w.uprn_text END AS {writer.UPRN_AS_WRITTEN}"
        )
        source += " LEFT JOIN property_uprn_written w ON w.property_id = p.id"
    geom = geometry_sql(srid)
    columns.append(f"ST_AsBinary({geom}) AS {writer.GEOMETRY}" if wkb else f"{geom} AS geom")
    # fid order: a unique index, so output is deterministic and the scan needs no sort.
    return f"SELECT {', '.join(columns)} FROM {source} WHERE {where} ORDER BY p.fid"


def count_matching(conn: Connection, flt: PropertyFilter, viewer: visibility.Viewer) -> int:
    where, params = flt.where(viewer)
    return conn.execute(text(f"SELECT count(*) FROM property p WHERE {where}"), params).scalar_one()


def iter_batches(
    conn: Connection,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    srid: int,
    fields: Sequence[str],
    *,
    batch_rows: int = EXPORT_BATCH_ROWS,
    uprn_as_written: bool = False,
) -> Iterator[pd.DataFrame]:
    """Yield the matching rows as DataFrames of at most ``batch_rows`` (WKB ``geometry`` column)."""
    import pandas as pd

    where, params = flt.where(viewer)
    sql = select_sql(fields, viewer, where, srid, uprn_as_written=uprn_as_written)
    # A server-side cursor; partitions() needs the size spelled out, or it fetches everything at once.
    result = conn.execution_options(yield_per=batch_rows).execute(text(sql), params)
    columns = list(result.keys())
    for rows in result.partitions(batch_rows):
        # Column-wise: from_records probes every Row for namedtuple attributes, several times slower.
        yield pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))


def export_properties(
    conn: Connection,
    path: Path,
    fmt: writer.ExportFormat,
    crs: crs_mod.Crs,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    *,
    batch_rows: int = EXPORT_BATCH_ROWS,
) -> writer.ExportResult:
    """Write every property the viewer may see and the filter selects to ``path``.

    Raises ValidationFailed for an unknown owner or a selection too large for
    the format (KML), before any file is written.
    """
    if not conn.in_transaction():
        # One snapshot for the count and every batch.
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    check_organisations(conn, flt.owner)
    if fmt.max_features is not None:
        matching = count_matching(conn, flt, viewer)
        if matching > fmt.max_features:
            raise ValidationFailed(
                [
                    FieldError(
                        "format",
                        f"{fmt.label} holds at most {fmt.max_features:,} properties and this selection has "
                        f"{matching:,}; narrow it (owner, town, rag, bbox) "
                        "or download GeoPackage or FlatGeobuf",
                    )
                ]
            )
    fields = writer.fields_for_viewer(viewer)
    transparency = fmt.key == "csv"
    batches = iter_batches(
        conn,
        flt,
        viewer,
        crs.srid,
        fields,
        batch_rows=batch_rows,
        uprn_as_written=transparency,
    )
    organisations = organisations_for_export(conn) if transparency else None
    return writer.write_batches(batches, path, fmt, crs, fields=fields, organisations=organisations)


def export_to_path(
    engine: Engine,
    path: Path,
    fmt: writer.ExportFormat,
    crs: crs_mod.Crs,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
) -> writer.ExportResult:
    """:func:`export_properties` on a connection of its own (a task for api/offload.py's worker processes)."""
    with engine.connect() as conn:
        return export_properties(conn, path, fmt, crs, flt, viewer)


def organisations_for_export(conn: Connection) -> dict[str, writer.Organisation]:
    """Every organisation's label and authority code, for the Transparency CSV's publisher columns."""
    rows = conn.execute(text("SELECT code, name, gss_code FROM organisation")).all()
    return {code: writer.Organisation(name, gss) for code, name, gss in rows}


def export_summary(result: writer.ExportResult) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "format": result.format.key,
        "crs": result.crs.label,
        "count": result.count,
        "fields": list(result.fields),
    }
