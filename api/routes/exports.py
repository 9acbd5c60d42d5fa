"""GIS exports: GET /exports/properties.{gpkg,zip,geojson,fgb,kml,csv}.

Parse, call the service, stream the file.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from api.deps import FilterDep, PrincipalDep
from api.limits import EXPORT, expensive
from api.offload import WorkPoolDep
from api.services import exports as svc
from gis import exports as writer
from gis.errors import FieldError, NotFound, ValidationFailed

router = APIRouter(prefix="/exports", tags=["exports"])

CrsQ = Annotated[
    str | None,
    Query(
        description="EPSG:27700 (British National Grid; default for gpkg, zip, fgb, csv) or EPSG:4326. "
        "GeoJSON and KML are always WGS84 longitude/latitude."
    ),
]


class TemporaryFileResponse(FileResponse):
    """A FileResponse that deletes its folder once sent, or when the client goes away mid-download."""

    def __init__(self, path: Path, folder: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@router.get(
    "/properties.{extension}",
    summary="Download the register as a GIS file "
    "(GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML, CSV)",
    response_class=FileResponse,
    **expensive(EXPORT),
    responses={
        200: {
            "content": {f.media_type: {} for f in writer.FORMATS.values()},
            "description": "the file, as an attachment",
        }
    },
)
async def export_properties(
    extension: str,
    pool: WorkPoolDep,
    principal: PrincipalDep,
    filters: FilterDep,
    crs: CrsQ = None,
) -> FileResponse:
    fmt = writer.FORMATS.get(extension.lower())
    if fmt is None:
        raise NotFound(
            f"no export /exports/properties.{extension}; formats: "
            + ", ".join(f"properties.{key}" for key in writer.FORMATS)
        )
    errors: list[FieldError] = []  # report every bad parameter at once, not the first
    try:
        out_crs = writer.resolve_crs(fmt, crs)
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        flt = filters.build()
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    folder = Path(tempfile.mkdtemp(prefix="estate-export-"))
    try:
        # Written in a worker process (api/offload.py); this process only streams the file.
        result = await pool.run(
            svc.export_to_path, folder / fmt.filename, fmt, out_crs, flt, principal.viewer
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    stamp = dt.date.today().strftime("%Y%m%d")
    filename = f"shared-estate-properties-{stamp}-epsg{out_crs.srid}.{fmt.extension}"
    return TemporaryFileResponse(
        result.path,
        folder,
        media_type=fmt.media_type,
        filename=filename,
        headers={
            # What a viewer may download depends on their key: never from a shared cache.
            "Cache-Control": "private, no-store",
            "Content-Crs": f"<{out_crs.uri}>",
            "X-Feature-Count": str(result.count),
        },
    )
