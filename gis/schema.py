"""The property record, defined once: every field of the register in one ordered list.

Each field says how it is stored (SQL type), how it reads in Python and JSON,
who may see it (tier), how it is exported (OGR type, Shapefile name) and what
it means. Everything else derives from this list: the API's select list, the
COPY staging types, the visibility table, the export field tables, the OGC
queryables and the ``PropertyPublic`` response model. Adding a field to the
register is one line here plus one migration (migrations copy their column
lists as literals: they are frozen history and never import this module).

The order is the order of every output: identity, place, holding, size and
use, money, condition, disposal, visibility, bookkeeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as Rule

from gis import vocab


class Tier(IntEnum):
    """Who sees a field: everyone, partner bodies, or the record's own body (and admins)."""

    public = 0
    partner = 1
    owner = 2


# ---- input rules shared by several fields (each mirrors a CHECK in the migrations)


DATE_MIN, DATE_MAX = dt.date(1800, 1, 1), dt.date(2200, 12, 31)


def _plausible_date(value: dt.date) -> dt.date:
    if not (DATE_MIN <= value <= DATE_MAX):
        raise ValueError(f"date must fall between {DATE_MIN.year} and {DATE_MAX.year}")
    return value


def _year_pattern(first: int, last: int) -> str:
    """A regular expression of the four-digit years from ``first`` (a century's start) to ``last``."""
    centuries = "|".join(str(c) for c in range(first // 100, (last + 1) // 100))
    tail = f"|{last // 100}(" + "|".join(f"{y % 100:02d}" for y in range(last // 100 * 100, last + 1)) + ")"
    return f"(({centuries})[0-9]{{2}}" + (tail if (last + 1) % 100 else "") + ")"


# What a plausible date looks like in JSON (a date's own format says the rest).
DATE_PATTERN = f"^{_year_pattern(DATE_MIN.year, DATE_MAX.year)}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _normalise_postcode(value: str) -> str:
    compact = "".join(value.split()).upper()  # any whitespace the pattern lets between the halves
    return f"{compact[:-3]} {compact[-3:]}"


# Records strip surrounding whitespace before a length is checked (pydantic's str_strip_whitespace:
# Unicode's White_Space, which is not Python's str.isspace), and PostgreSQL text cannot hold NUL:
# a required text needs one character that is neither.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE = "".join(f"\\u{ord(c):04x}" for c in _WHITE_SPACE)
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802 - reads as a type
    # The pattern is for the document; the record's validation says "contains a NUL" itself.
    pattern = NOT_BLANK if min_length else NO_NUL
    return Annotated[
        str, Rule(min_length=min_length, max_length=max_length, json_schema_extra={"pattern": pattern})
    ]


def json_integer(value: Any) -> Any:
    # JSON has one kind of number: 53056.0 is the integer 53056, as JSON Schema's "integer" says.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Money = Annotated[int, Rule(ge=0, le=10**13, strict=True), BeforeValidator(json_integer)]
NonNegative = Annotated[float, Rule(ge=0, lt=1e12, strict=True)]
Percent = Annotated[float, Rule(ge=0, le=100, strict=True)]
PlausibleDate = Annotated[
    dt.date, AfterValidator(_plausible_date), Rule(json_schema_extra={"pattern": DATE_PATTERN})
]
Postcode = Annotated[
    str,
    Rule(max_length=10, pattern=r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}$"),
    AfterValidator(_normalise_postcode),
]
Uprn = Annotated[int, Rule(ge=1, le=999_999_999_999, strict=True), BeforeValidator(json_integer)]
# A record's version is a PostgreSQL integer.
VERSION_MAX = 2**31 - 1


class PointGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["Point"]
    coordinates: list[Annotated[float, Rule(strict=True)]] = Rule(min_length=2, max_length=3)


# A height is refused with its own message (gis/register.py): the document says what is accepted.
Position = Annotated[
    list[Annotated[float, Rule(strict=True)]],
    Rule(min_length=2, max_length=3, json_schema_extra={"maxItems": 2}),
]
Ring = Annotated[list[Position], Rule(min_length=4, max_length=100_000)]


class PolygonGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["Polygon"]
    coordinates: list[Ring] = Rule(min_length=1, max_length=1_000)


class MultiPolygonGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Rule(min_length=1, max_length=1_000)]] = Rule(
        min_length=1, max_length=1_000
    )


AreaGeometry = Annotated[PolygonGeometry | MultiPolygonGeometry, Rule(discriminator="type")]


@dataclass(frozen=True)
class Field:
    name: str  # as the API, exports and history name it
    sql_type: str  # as information_schema.columns.data_type reports it (geometry: "USER-DEFINED")
    python_type: Any  # the JSON value's type in API responses
    tier: Tier
    description: str
    ogr_type: str | None = None  # exported attribute type; None = not exported as an attribute
    shapefile_name: str | None = None  # at most 10 characters (dBASE)
    column: str | None = None  # stored column when it differs from ``name``
    writable: bool = True  # settable through the API, sync and imports
    enum: type[StrEnum] | None = None
    queryable: str | None = None  # the query parameter that filters on it
    rule: Any = None  # the input type when it is more than ``enum`` or ``python_type``
    default_sql: str | None = None  # what a write that leaves the field out (or null) stores

    @property
    def input_type(self) -> Any:
        """The type a write must satisfy (validated by gis.register)."""
        if self.rule is not None:
            return self.rule
        return self.enum or self.python_type

    @property
    def stored_as(self) -> str:
        return self.column or self.name

    @property
    def is_geometry(self) -> bool:
        return self.sql_type == "USER-DEFINED"


T = Tier
FIELDS: tuple[Field, ...] = (
    # identity
    Field("id", "uuid", str, T.public, "register id (uuid)", "String", "ID", writable=False),
    Field(
        "owner",
        "text",
        str,
        T.public,
        "owning organisation code",
        "String",
        "OWNER",
        queryable="owner",
        rule=Text(63, 2),
    ),
    Field(
        "asset_ref",
        "text",
        str,
        T.public,
        "the owner's own asset reference",
        "String",
        "ASSET_REF",
        rule=Text(100, 1),
    ),
    Field(
        "uprn", "bigint", int, T.public, "Unique Property Reference Number", "Integer64", "UPRN", rule=Uprn
    ),
    # place
    Field("name", "text", str, T.public, "building or site name", "String", "NAME", rule=Text(200, 1)),
    Field("street_number", "text", str, T.public, "street number", "String", "STREET_NO", rule=Text(50)),
    Field("street", "text", str, T.public, "street name", "String", "STREET", rule=Text(200)),
    Field(
        "post_town",
        "text",
        str,
        T.public,
        "post town",
        "String",
        "POST_TOWN",
        queryable="town",
        rule=Text(100),
    ),
    Field(
        "postcode",
        "text",
        str,
        T.public,
        "postcode",
        "String",
        "POSTCODE",
        queryable="postcode",
        rule=Postcode,
    ),
    Field(
        "geometry",
        "USER-DEFINED",
        dict,
        T.public,
        "GeoJSON Point, lon/lat",
        column="geom",
        rule=PointGeometry,
    ),
    Field(
        "footprint",
        "USER-DEFINED",
        dict,
        T.partner,
        "GeoJSON MultiPolygon outline, lon/lat",
        rule=AreaGeometry,
    ),
    # holding
    Field(
        "tenure", "text", str, T.public, "freehold / leasehold / other", "String", "TENURE", enum=vocab.Tenure
    ),
    Field(
        "tenure_detail",
        "text",
        str,
        T.public,
        "occupied, ground_leasehold, leasehold, sub_leasehold, licence, vacant",
        "String",
        "TENURE_DET",
        enum=vocab.TenureDetail,
    ),
    Field(
        "holding_type",
        "text",
        str,
        T.public,
        "land / building / land_and_building",
        "String",
        "HOLDING",
        enum=vocab.HoldingType,
    ),
    Field(
        "use_category",
        "text",
        str,
        T.public,
        "use category",
        "String",
        "USE_CAT",
        enum=vocab.UseCategory,
        queryable="use",
        default_sql="'other'",
    ),
    # size and use
    Field(
        "gia_m2",
        "double precision",
        float,
        T.public,
        "gross internal area, square metres",
        "Real",
        "GIA_M2",
        rule=NonNegative,
    ),
    Field(
        "site_area_ha",
        "double precision",
        float,
        T.public,
        "site area, hectares",
        "Real",
        "SITE_HA",
        rule=NonNegative,
    ),
    Field(
        "utilisation_pct",
        "double precision",
        float,
        T.partner,
        "utilisation, per cent",
        "Real",
        "UTIL_PCT",
        rule=Percent,
    ),
    Field(
        "fte",
        "double precision",
        float,
        T.partner,
        "full-time-equivalent staff based there",
        "Real",
        "FTE",
        rule=NonNegative,
    ),
    # money
    Field(
        "value_gbp", "bigint", int, T.partner, "value, pounds sterling", "Integer64", "VALUE_GBP", rule=Money
    ),
    Field(
        "valuation_basis",
        "text",
        str,
        T.partner,
        "euv, mv, drc or fair_value",
        "String",
        "VAL_BASIS",
        enum=vocab.ValuationBasis,
    ),
    Field(
        "valuation_date",
        "date",
        dt.date,
        T.partner,
        "date of valuation",
        "Date",
        "VAL_DATE",
        rule=PlausibleDate,
    ),
    Field(
        "running_cost_gbp_pa",
        "bigint",
        int,
        T.partner,
        "running cost, pounds a year",
        "Integer64",
        "RUNCOST_PA",
        rule=Money,
    ),
    Field(
        "maintenance_backlog_gbp",
        "bigint",
        int,
        T.partner,
        "maintenance backlog, pounds",
        "Integer64",
        "BACKLOG",
        rule=Money,
    ),
    # condition
    Field(
        "condition",
        "text",
        str,
        T.partner,
        "condition A (good) to D (bad)",
        "String",
        "CONDITION",
        enum=vocab.Condition,
    ),
    Field(
        "listed_grade",
        "text",
        str,
        T.public,
        "listed building grade (I, II*, II)",
        "String",
        "LISTED",
        enum=vocab.ListedGrade,
    ),
    Field(
        "lease_expiry_date",
        "date",
        dt.date,
        T.partner,
        "lease expiry date",
        "Date",
        "LEASE_END",
        rule=PlausibleDate,
    ),
    # disposal
    Field(
        "rag",
        "text",
        str,
        T.public,  # unless the register's public_rag setting is off (see gis.visibility)
        "disposal rating: red (unlikely), amber (possible), green (opportunity)",
        "String",
        "RAG",
        enum=vocab.Rag,
        queryable="rag",
    ),
    Field(
        "rag_reason",
        "text",
        str,
        T.partner,
        "why the rating was given",
        "String",
        "RAG_REASON",
        rule=Text(1000, 1),
    ),
    Field("rag_set_by", "text", str, T.owner, "who set the rating", writable=False),
    Field(
        "rag_set_at",
        "timestamp with time zone",
        dt.datetime,
        T.partner,
        "when the rating was set",
        writable=False,
    ),
    Field(
        "disposal_stage",
        "text",
        str,
        T.partner,
        "retained ... sold",
        "String",
        "DISP_STAGE",
        enum=vocab.DisposalStage,
        default_sql="'retained'",
    ),
    Field(
        "disposal_blockers",
        "ARRAY",
        list,
        T.partner,
        "blockers, separated by ';'",
        "String",
        "BLOCKERS",
        rule=Annotated[list[vocab.DisposalBlocker], Rule(max_length=5)],
        default_sql="'{}'::text[]",
    ),
    # visibility
    Field(
        "sensitive",
        "boolean",
        bool,
        T.partner,
        "withheld from the public view",
        "Boolean",
        "SENSITIVE",
        rule=Annotated[bool, Rule(strict=True)],
        default_sql="false",
    ),
    # bookkeeping
    Field(
        "version",
        "integer",
        int,
        T.public,
        "record version (the API's ETag)",
        "Integer",
        "VERSION",
        writable=False,
    ),
    Field("created_at", "timestamp with time zone", dt.datetime, T.partner, "first recorded", writable=False),
    Field("created_by", "text", str, T.owner, "who first recorded it", writable=False),
    Field(
        "updated_at",
        "timestamp with time zone",
        dt.datetime,
        T.public,
        "last change, ISO 8601 UTC",
        "String",
        "UPDATED_AT",
        writable=False,
    ),
    Field("updated_by", "text", str, T.owner, "who made the last change", writable=False),
    Field(
        "deleted_at", "timestamp with time zone", dt.datetime, T.owner, "when it was retired", writable=False
    ),
    Field("deleted_by", "text", str, T.owner, "who retired it", writable=False),
)
del T

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
# Fields written through the record model besides the two geometries, in COPY order.
SCALAR_WRITABLE: tuple[Field, ...] = tuple(f for f in FIELDS if f.writable and not f.is_geometry)
# Columns the database maintains that are not part of the record (tile ids, projected copies).
DERIVED_COLUMNS: frozenset[str] = frozenset({"fid", "geom_bng", "geom_3857"})

# PostgreSQL type to use for a staging (COPY) column of each SQL type.
_STAGE_TYPE = {
    "text": "text",
    "uuid": "uuid",
    "bigint": "bigint",
    "integer": "integer",
    "double precision": "float8",
    "date": "date",
    "boolean": "boolean",
    "ARRAY": "text[]",
    "timestamp with time zone": "timestamptz",
}


def stage_type(f: Field) -> str:
    """The column type of ``f`` in a COPY staging table."""
    return _STAGE_TYPE[f.sql_type]


def select_expression(f: Field, alias: str = "p") -> str:
    """SQL giving the field as the API returns it (GeoJSON for geometry, ISO text for dates)."""
    column = f"{alias}.{f.stored_as}"
    if f.is_geometry:
        return f"ST_AsGeoJSON({column}, 7)::json"
    if f.sql_type == "uuid" or f.sql_type == "date":
        return f"{column}::text"
    return column


def select_list(alias: str = "p", only: Collection[str] | None = None) -> str:
    """Every field of the record as the API names it, for ``SELECT ... FROM property p``.

    With ``only``, the other fields come out as NULL without being read or
    serialised (a footprint the caller will not receive costs nothing).
    """
    return ", ".join(
        f"{select_expression(f, alias) if only is None or f.name in only else 'NULL'} AS {f.name}"
        for f in FIELDS
    )
