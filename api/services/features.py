"""OGC API – Features documents for the properties collection (Part 1 core + Part 2 CRS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gis import crs as crs_mod
from gis import schema

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
]
GEOJSON = "application/geo+json"
PROPERTIES_TITLE = "Public buildings"
PROPERTIES_DESCRIPTION = (
    "Every public building in the register, whoever owns it, with its RAG disposal rating."
)
_NOT_ATTRIBUTES = ("geometry", "footprint")


def to_feature(record: dict[str, Any], crs: crs_mod.Crs, base: str) -> dict[str, Any]:
    """A register record as a GeoJSON Feature with its point in ``crs`` (numbers stay numbers)."""
    geometry = record.get("geometry")
    if geometry:
        lon, lat = geometry["coordinates"][:2]
        x, y = crs_mod.from_lonlat(lon, lat, crs)
        # 1 mm for metres, ~1 cm in degrees: a precision no survey in the register beats.
        digits = 3 if crs.srid == crs_mod.BNG_SRID else 7
        geometry = {"type": "Point", "coordinates": [round(x, digits), round(y, digits)]}
    properties = {k: v for k, v in record.items() if k not in _NOT_ATTRIBUTES and k != "id"}
    return {
        "type": "Feature",
        "id": record["id"],
        "geometry": geometry,
        "properties": properties,
        "links": [
            {"href": f"{base}/collections/properties/items/{record['id']}", "rel": "self", "type": GEOJSON}
        ],
    }


def collection_document(
    base: str,
    bounds: tuple[float, float, float, float],
    *,
    cid: str = "properties",
    title: str = PROPERTIES_TITLE,
    description: str = PROPERTIES_DESCRIPTION,
    tiles: bool = True,
) -> dict[str, Any]:
    links = [
        {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json", "title": title},
        {"href": f"{base}/collections/{cid}?f=html", "rel": "alternate", "type": "text/html", "title": title},
        {
            "href": f"{base}/collections/{cid}/items",
            "rel": "items",
            "type": GEOJSON,
            "title": f"{title} (GeoJSON)",
        },
        {
            "href": f"{base}/collections/{cid}/items?f=html",
            "rel": "items",
            "type": "text/html",
            "title": f"{title} (HTML)",
        },
        {
            "href": f"{base}/collections/{cid}/queryables",
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
            "type": "application/schema+json",
            "title": "Queryables",
        },
    ]
    if tiles:
        links.append(
            {
                "href": f"{base}/collections/{cid}/tiles/WebMercatorQuad/tilejson.json",
                "rel": "describedby",
                "type": "application/json",
                "title": "TileJSON (vector tiles)",
            }
        )
    return {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [list(bounds)], "crs": crs_mod.CRS84.uri}},
        "crs": [c.uri for c in crs_mod.SUPPORTED_CRS],
        "storageCrs": crs_mod.CRS84.uri,
        "links": links,
    }


def landing_document(base: str) -> dict[str, Any]:
    return {
        "title": "Shared Estate",
        "description": "One register of every public building in a place, whoever owns it.",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "This document"},
            {
                "href": f"{base}/?f=html",
                "rel": "alternate",
                "type": "text/html",
                "title": "This document (HTML)",
            },
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "OpenAPI definition",
            },
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "API documentation"},
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
                "title": "Conformance",
            },
            {
                "href": f"{base}/collections",
                "rel": "data",
                "type": "application/json",
                "title": "Collections",
            },
            {"href": f"{base}/map", "rel": "alternate", "type": "text/html", "title": "Estate map"},
        ],
    }


def items_document(
    features: list[dict[str, Any]], *, number_matched: int | None, exact: bool, links: list[dict[str, Any]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    if number_matched is not None:
        doc["numberMatched"] = number_matched
        if not exact:
            # Documented in the API description: past the exact-count limit this is the planner's estimate.
            doc["numberMatchedEstimated"] = True
    return doc


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _queryable(f: schema.Field) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _JSON_TYPES[f.python_type], "description": f.description}
    if f.enum is not None:
        out["enum"] = [member.value for member in f.enum]
    return out


# The filters the collection answers, named as their query parameters, from the record's definition.
QUERYABLES: dict[str, dict[str, Any]] = {
    **{f.queryable: _queryable(f) for f in schema.FIELDS if f.queryable},
    "min_value_gbp": {"type": "integer", "description": "value at least, pounds"},
    "max_value_gbp": {"type": "integer", "description": "value at most, pounds"},
}


def queryables_document(base: str, cid: str = "properties") -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{cid}/queryables",
        "type": "object",
        "title": PROPERTIES_TITLE,
        "properties": {"geometry": {"$ref": "https://geojson.org/schema/Point.json"}, **QUERYABLES},
    }
