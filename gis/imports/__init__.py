"""Importers that turn councils' published asset files into register records plus a quality report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gis.imports.report import Action, ImportResult, ReportRow
from gis.imports.transparency import parse_transparency_csv

if TYPE_CHECKING:
    from gis.imports.vector import read_vector_file

__all__ = ["Action", "ImportResult", "ReportRow", "parse_transparency_csv", "read_vector_file"]


def __getattr__(name: str) -> Any:
    # The vector reader pulls in geopandas, pandas and GDAL; a CSV import should not pay for them.
    if name == "read_vector_file":
        from gis.imports.vector import read_vector_file

        return read_vector_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
