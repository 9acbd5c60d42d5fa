"""Read Local Government Transparency Code "land and building assets" files as councils publish them.

The Code fixes the content (UPRN, asset identity, name, address, map
reference, tenure, holding type) but not the spelling, so headers are matched
through :data:`HEADER_SYNONYMS` and values through the patch tables in
:mod:`gis.imports.patches`. Everything that changes, drops or rejects a value
is written to the quality report.

:class:`RecordBuilder` holds the row rules shared by every importer (the
vector reader uses it too): cell clean-up, UPRN, postcode, categories,
location detection, generated references and duplicate references.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.crs import bng_to_lonlat, in_gb_bng, in_gb_lonlat, looks_like_degrees
from gis.imports.patches import HOLDING_TYPE, TENURE, TENURE_DETAIL, PatchTable, compact, use_category_for
from gis.imports.report import Action, ImportResult, ReportRow
from gis.vocab import UseCategory

# Register field (or coordinate) -> the header spellings councils use for it.
# Matching ignores case, spaces and punctuation, so "TenureType" also matches
# "Tenure type" and "X Co-ordinate" matches "X coordinate".
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "uprn": ("UPRN", "Unique Property Reference Number", "UPRN Number"),
    "asset_ref": (
        "Unique asset identity",
        "Unique Asset ID",
        "Unique Asset Identifier",
        "AssetCode",
        "Asset ID",
        "Asset Reference",
        "Asset Ref",
        "Asset Number",
        "Property Reference",
        "Property Ref",
        "Property ID",
    ),
    "name": ("Asset Name", "Property Name", "Site Name", "Building Name", "Name"),
    "street_number": ("Street Number", "Building Number", "House Number", "Street No"),
    "street": ("Street Name", "Street", "Address 1", "Address Line 1", "Road"),
    # One column for the whole address, split into the fields above (see split_address).
    "address": ("Site Address", "Address", "Full Address", "Property Address", "Asset Address"),
    "post_town": ("Post Town", "Town", "Town/City"),
    "postcode": ("Postcode", "Post Code"),
    "easting": (
        "GeoX",
        "Map Reference GeoX",
        "Easting",
        "Eastings",
        "X Co-ordinate",
        "X",
        "OSGBGridRefEast",
        "Map reference (GeoX) easting",  # our own export's heading
    ),
    "northing": (
        "GeoY",
        "Map Reference GeoY",
        "Northing",
        "Northings",
        "Y Co-ordinate",
        "Y",
        "OSGBGridRefNorth",
        "Map reference (GeoY) northing",
    ),
    "lat": ("Latitude", "Lat", "Map reference (GeoY) latitude"),
    "lon": ("Longitude", "Long", "Lon", "Lng", "Map reference (GeoX) longitude"),
    "tenure": ("TenureType", "Tenure Type", "Tenure Category", "Tenure"),
    "tenure_detail": (
        "TenureDetail",
        "Tenure Detail",
        "Tenure sub-category",  # the Code's wording, and our export's heading
        "Tenure sub category",
        "Tenure subcategory",
        "Sub-category",
    ),
    "holding_type": ("HoldingType", "Holding Type", "Holding"),
    "use_category": (
        "Asset Type",
        "Property Type",
        "Use",
        "Primary Use",
        "Current Use",
        "Asset Use",
        "Use Category",
    ),
    "gia_m2": ("GIA", "GIA m2", "GIA (m²)", "GIA sq m", "Gross Internal Area", "Gross Internal Area m2"),
    "value_gbp": (
        "value_gbp",
        "Value (£)",
        "Value",
        "Asset Value",
        "Valuation",
        "Current Value",
        "Net Book Value",
    ),
}

COORDINATE_FIELDS: tuple[str, ...] = ("easting", "northing", "lat", "lon")
# Keys a parsed record carries for the import itself, not for the register:
# the UPRN as the file wrote it (leading zeros), kept so the export writes it back.
SOURCE_ONLY_KEYS: tuple[str, ...] = ("uprn_as_written",)
# Fields a source column can be mapped to (the vector reader's column_mapping targets).
ATTRIBUTE_FIELDS: tuple[str, ...] = tuple(f for f in HEADER_SYNONYMS if f not in COORDINATE_FIELDS)
OPTIONAL_FIELDS: tuple[str, ...] = ("gia_m2", "value_gbp")

# The register's column limits (migration 0001): longer text would be refused by the database.
MAX_LENGTH: dict[str, int] = {
    "asset_ref": 100,
    "name": 200,
    "street_number": 50,
    "street": 200,
    "post_town": 100,
}

ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252")
HEADER_SEARCH_ROWS = 10
AUTO_REF_PREFIX = "auto-"


class UnreadableFileError(ValueError):
    """A file with no recognisable header row."""


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for target, spellings in HEADER_SYNONYMS.items():
        for spelling in spellings:
            key = compact(spelling)
            if index.setdefault(key, target) != target:
                raise ValueError(f"header {spelling!r} is listed for both {index[key]} and {target}")
    return index


_HEADER_INDEX = _build_header_index()


def match_header(text: str) -> str | None:
    """Return the register field (or coordinate) a column header names, or None."""
    return _HEADER_INDEX.get(compact(text))


# ---------------------------------------------------------------------------
# Row rules shared by every importer


@dataclass(frozen=True)
class Point:
    """An unplaced coordinate pair: x is easting or longitude, y northing or latitude."""

    x: float
    y: float
    raw: str
    claimed: str | None = None  # "bng" or "degrees": what the header or file CRS says


Note = Callable[[str, str, str, str], None]

_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]")
_ODD_SPACE = re.compile(r"[\t\u00a0\u2007\u2009\u202f]")
_INVISIBLE = re.compile(r"[\u200b\ufeff]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# The outward and inward code forms of the UK Government Data Standards postcode pattern, on upper-case text
# without spaces; the outward code is group 1, the inward code group 2.
_POSTCODE_OUTWARD = (
    r"(?:GIR|[A-Z][0-9]{1,2}|[A-Z][A-HJ-Y][0-9]{1,2}|[A-Z][0-9][A-Z]|[A-Z][A-HJ-Y][0-9][A-Z]?)"
)
_POSTCODE_INWARD = r"(?:0AA|[0-9][A-Z]{2})"
_POSTCODE = re.compile(rf"({_POSTCODE_OUTWARD})({_POSTCODE_INWARD})")
_POSTCODE_IN_TEXT = re.compile(rf"(?<![A-Z0-9])({_POSTCODE_OUTWARD}) ?({_POSTCODE_INWARD})(?![A-Z0-9])")
_STREET_NUMBER = re.compile(r"^(\d+[A-Z]?(?:\s*[-/]\s*\d+[A-Z]?)?),?\s+(.+)$", re.IGNORECASE)
# Last words that make an address part a street rather than a building name.
STREET_WORDS: frozenset[str] = frozenset(
    "road rd street st lane ln avenue ave drive dr way close place crescent hill row walk square "
    "terrace green gardens grove parade mews rise vale park quay wharf approach boulevard bank "
    "gate end yard court".split()
)
_UPRN_DIGITS = 12
_UPRN_WRITTEN_DIGITS = 15  # the longest zero-padded form kept (migration 0007 checks it)


def _report_field(name: str) -> str:
    return "location" if name in COORDINATE_FIELDS else name


def clean_cell(name: str, value: str, note: Note) -> str:
    """Return ``value`` with whitespace collapsed, noting line breaks and non-breaking spaces."""
    problems: list[str] = []
    if _LINE_BREAK.search(value):
        problems.append("line break")
    if _ODD_SPACE.search(value):
        problems.append("non-breaking space or tab")
    cleaned = " ".join(_INVISIBLE.sub("", value).split())
    if problems:
        note(_report_field(name), value, f"{' and '.join(problems)} in cell", Action.normalised)
    return cleaned


def parse_number(text: str) -> tuple[float | None, bool]:
    """Return (number, reformatted) for text such as "385,123.45", "£1 200" or " 385 123 ".

    ``reformatted`` says whether spaces, "£" or thousands separators had to be
    removed. Commas count only as thousands separators, so "52,19" is not a number.
    """
    squeezed = re.sub(r"[\s£]", "", text)
    if _GROUPED_NUMBER.fullmatch(squeezed):
        squeezed = squeezed.replace(",", "")
    if not _NUMBER.fullmatch(squeezed):
        return None, False
    return float(squeezed), squeezed != text


def _uprn(text: str, note: Note) -> int | None:
    """Return the UPRN a cell holds; a leading zero is formatting (see :func:`uprn_as_written`)."""
    if not text:
        return None
    # Spreadsheets write whole numbers as "100120654321.0" and drop spaces people type in.
    digits = re.sub(r"\.0+$", "", re.sub(r"\s", "", text))
    if not re.fullmatch(r"[0-9]+", digits):
        note("uprn", text, "not a number", Action.field_left_empty)
        return None
    value = int(digits)
    if value == 0:
        note("uprn", text, "zero is not a UPRN", Action.field_left_empty)
        return None
    if len(str(value)) > _UPRN_DIGITS:
        note("uprn", text, f"more than {_UPRN_DIGITS} digits: not a UPRN", Action.field_left_empty)
        return None
    if digits != text:
        note("uprn", text, f"read as {value}", Action.normalised)
    elif digits != str(value):
        note("uprn", text, f"read as {value}; the leading zeros are kept for the export", Action.normalised)
    return value


def uprn_as_written(text: str, uprn: int | None) -> str | None:
    """Return the file's digits for a UPRN written with leading zeros ("010001234567"), else None.

    UPRNs are integers and the register stores them so; the written form is
    kept beside the record only so the Transparency export gives the council
    back its UPRNs as it wrote them.
    """
    digits = re.sub(r"\.0+$", "", re.sub(r"\s", "", text))
    if uprn is None or digits == str(uprn) or not digits.isdigit() or len(digits) > _UPRN_WRITTEN_DIGITS:
        return None
    return digits


@dataclass(frozen=True)
class AddressParts:
    """A one-column address split into register fields; ``left_over`` are parts with no field."""

    name: str | None = None
    street_number: str | None = None
    street: str | None = None
    post_town: str | None = None
    postcode: str | None = None
    left_over: tuple[str, ...] = ()
    unknown_town: str | None = None

    def describe(self) -> str:
        shown = {
            "name": self.name,
            "number": self.street_number,
            "street": self.street,
            "town": self.post_town,
            "postcode": self.postcode,
        }
        return ", ".join(f"{k} {v}" for k, v in shown.items() if v) or "nothing"


def _is_street(part: str) -> bool:
    words = re.sub(r"[^a-z ]", " ", part.casefold()).split()
    return bool(words) and words[-1] in STREET_WORDS


def split_address(text: str, known_towns: Mapping[str, str]) -> AddressParts:
    """Split "Civic Centre, 12 High Street, Pershore, WR10 1PT" into name, number, street, town, postcode.

    The postcode is found by the official pattern anywhere in the text; the
    post town is the last part that is one of ``known_towns`` (casefolded
    name → the register's spelling). A part ending in a street word, or
    starting with a house number, is the street; a part before it is the
    building's name; anything else is returned in ``left_over``.
    """
    postcode = None
    upper = text.upper()
    if (found := _POSTCODE_IN_TEXT.search(upper)) is not None:
        postcode = f"{found[1]} {found[2]}"
        text = text[: found.start()] + text[found.end() :]
    parts = [" ".join(p.split()) for p in re.split(r"[,;\n]", text)]
    parts = [p.strip(" .") for p in parts if p.strip(" .")]
    town = None
    unknown_town = None
    for index in range(len(parts) - 1, -1, -1):
        if (known := known_towns.get(parts[index].casefold())) is not None:
            town = known
            after = parts[index + 1 :]
            parts = parts[:index]
            break
    else:
        after = []
        if len(parts) > 1 and not _is_street(parts[-1]) and not _STREET_NUMBER.match(parts[-1]):
            unknown_town = parts.pop()
    street_at = next((i for i, p in enumerate(parts) if _STREET_NUMBER.match(p)), None)
    if street_at is None:
        street_at = next((i for i in range(len(parts) - 1, -1, -1) if _is_street(parts[i])), None)
    if street_at is None and len(parts) == 1:
        street_at = 0  # a lone part is where the asset is: "Abbey Road" or "Land at Brook Farm"
    number = street = name = None
    left: list[str] = []
    if street_at is not None:
        street = parts[street_at]
        if (numbered := _STREET_NUMBER.match(street)) is not None:
            number, street = numbered[1], numbered[2]
        before = parts[:street_at]
        if before:
            name, left = before[0], before[1:]
        left += parts[street_at + 1 :]
    elif parts:
        name, left = parts[0], parts[1:]
    return AddressParts(name, number, street, town, postcode, tuple(left + after), unknown_town)


def _postcode(text: str, note: Note) -> str | None:
    if not text:
        return None
    match = _POSTCODE.fullmatch(re.sub(r"\s", "", text.upper()))
    if match is None:
        note("postcode", text, "not a UK postcode", Action.field_left_empty)
        return None
    return f"{match[1]} {match[2]}"


def _text(name: str, text: str, note: Note) -> str | None:
    if not text:
        return None
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(text) > limit:
        note(name, text, f"longer than {limit} characters", Action.field_left_empty)
        return None
    return text


def _category(name: str, table: PatchTable, text: str, note: Note) -> str | None:
    if not text:
        return None
    match = table.lookup(text)
    if match is None:
        note(name, text, f"unknown {name.replace('_', ' ')}", Action.field_left_empty)
        return None
    if match.patched:
        note(name, text, f"variant read as {match.value}", Action.normalised)
    return match.value


def _holding_type(text: str, note: Note) -> tuple[str | None, str | None]:
    """Return (holding type, use category) from a holding-type cell.

    Some councils put the asset's use ("Parks, gardens and open space") in
    this column; a known use is read as the use category, with a warning.
    """
    if not text:
        return None, None
    if (match := HOLDING_TYPE.lookup(text)) is not None:
        if match.patched:
            note("holding_type", text, f"variant read as {match.value}", Action.normalised)
        return match.value, None
    use = use_category_for(text)
    if use is None:
        note("holding_type", text, "neither land, building nor a known use", Action.field_left_empty)
        return None, None
    problem = f"a use, not a holding type: read as use category {use.value}; holding type left empty"
    note("holding_type", text, problem, Action.normalised)
    return None, use.value


def _use_category(text: str, note: Note) -> str:
    if not text:
        return UseCategory.other.value
    category = use_category_for(text)
    if category is None:
        note("use_category", text, "no known use named: recorded as other", Action.normalised)
        return UseCategory.other.value
    return category.value


def _amount(name: str, text: str, note: Note) -> float | None:
    if not text:
        return None
    value, _ = parse_number(text)
    if value is None or value < 0:
        note(name, text, "not a number" if value is None else "negative", Action.field_left_empty)
        return None
    return value


def _value_gbp(text: str, note: Note) -> int | None:
    value = _amount("value_gbp", text, note)
    if value is None:
        return None
    pounds = round(value)
    if pounds != value:
        note("value_gbp", text, f"rounded to £{pounds}", Action.normalised)
    return pounds


def _coordinates_text(cells: Mapping[str, str], x_name: str, y_name: str) -> str:
    return f"{x_name} {cells.get(x_name, '')}, {y_name} {cells.get(y_name, '')}"


def _point_from_cells(cells: Mapping[str, str], note: Note) -> Point | None:
    """Return the coordinate pair in a row's cells, noting why there is none.

    Easting/northing columns win over latitude/longitude when a file has both
    and the row fills both.
    """
    pairs = (("easting", "northing", "bng"), ("lon", "lat", "degrees"))
    filled = [p for p in pairs if cells.get(p[0]) or cells.get(p[1])]
    complete = [p for p in filled if cells.get(p[0]) and cells.get(p[1])]
    if not complete:
        if filled:
            raw = _coordinates_text(cells, *filled[0][:2])
            note("location", raw, "only one coordinate given", Action.kept_without_location)
        else:
            note("location", "", "no location: kept, not placed", Action.kept_without_location)
        return None
    x_name, y_name, claimed = complete[0]
    x_text, y_text = cells[x_name], cells[y_name]
    raw = _coordinates_text(cells, x_name, y_name)
    (x, x_reformatted), (y, y_reformatted) = parse_number(x_text), parse_number(y_text)
    if x is None or y is None:
        note("location", raw, "coordinate is not a number", Action.kept_without_location)
        return None
    if x_reformatted or y_reformatted:
        note("location", raw, "spaces or thousands separators removed", Action.normalised)
    return Point(x, y, raw, claimed)


def locate(point: Point, note: Note) -> tuple[float, float] | None:
    """Return WGS84 (lon, lat) for a point, telling BNG from degrees by the values, not the header.

    Swapped axes are put right when only the swapped order lands in Great
    Britain; a point that lands nowhere in Great Britain is dropped.
    """
    x, y = point.x, point.y
    if not (math.isfinite(x) and math.isfinite(y)):
        note("location", point.raw, "not a place", Action.kept_without_location)
        return None
    convert: Callable[[float, float], tuple[float, float]]
    inside: Callable[[float, float], bool]
    if looks_like_degrees(x, y):
        system, inside, convert, axes = "degrees", in_gb_lonlat, lambda a, b: (a, b), "latitude/longitude"
    else:
        system, inside, convert, axes = "bng", in_gb_bng, bng_to_lonlat, "easting/northing"
    if inside(x, y):
        lonlat = convert(x, y)
    elif inside(y, x):
        note("location", point.raw, f"{axes} swapped", Action.corrected)
        lonlat = convert(y, x)
    else:
        note("location", point.raw, "outside Great Britain: location dropped", Action.kept_without_location)
        return None
    if point.claimed is not None and point.claimed != system:
        described = {"bng": "British National Grid metres", "degrees": "latitude/longitude degrees"}
        problem = f"values are {described[system]}, not {described[point.claimed]} as the header says"
        note("location", point.raw, problem, Action.corrected)
    return lonlat


def _same_asset(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """True when two rows with one reference describe one asset: the same UPRN, or the same name and place."""
    if first["uprn"] is not None and second["uprn"] is not None:
        return bool(first["uprn"] == second["uprn"])
    keys = ("name", "street_number", "street", "postcode")
    same_text = all(str(first[k] or "").casefold() == str(second[k] or "").casefold() for k in keys)
    return same_text and (first["lon"], first["lat"]) == (second["lon"], second["lat"])


def _auto_ref(record: Mapping[str, Any]) -> str:
    identity = "|".join(
        str(record[k] or "").casefold() for k in ("name", "street_number", "street", "postcode", "uprn")
    )
    return AUTO_REF_PREFIX + hashlib.sha1(identity.encode("utf-8")).hexdigest()[:12]


@dataclass
class _RowNotes:
    row: int
    lines: list[ReportRow] = field(default_factory=list)

    def __call__(self, name: str, raw: str, problem: str, action: str) -> None:
        self.lines.append(ReportRow(self.row, name, raw, problem, action))


class RecordBuilder:
    """Turns raw rows from any source into register records and a quality report.

    A rejected row gets exactly one report line, the rejection; the other
    notes about it are dropped as they no longer matter. ``known_towns`` are
    the register's post towns, used to find the town in a one-column address.
    """

    def __init__(self, owner: str, known_towns: Iterable[str] = ()) -> None:
        self.owner = owner
        self._towns = {town.casefold(): town for town in known_towns}
        self._records: list[dict[str, Any]] = []
        self._rows: list[int] = []
        self._rejected: list[int] = []
        self._report: list[ReportRow] = []
        self._refs: dict[str, tuple[int, dict[str, Any]]] = {}

    def note(self, row: int, name: str, raw: str, problem: str, action: str) -> None:
        """Add a report line that is not about one row's values (encoding, headers, CRS)."""
        self._report.append(ReportRow(row, name, raw, problem, action))

    def add(
        self,
        row: int,
        raw: Mapping[str, str],
        *,
        point: Point | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Normalise one row: ``raw`` maps register fields (and, from tables, coordinates) to cell text.

        ``point`` is the row's location when the source has geometry; without
        it the coordinate cells in ``raw`` are read. Returns False when the row is rejected.
        """
        note = _RowNotes(row)
        raw = dict(raw)
        if "address" in raw:
            raw["address"] = _LINE_BREAK.sub(", ", raw["address"])  # a line of the address is a part
        cells = {name: clean_cell(name, value, note) for name, value in raw.items()}
        holding_type, use_in_holding = _holding_type(cells.get("holding_type", ""), note)
        use_text = cells.get("use_category", "")
        record: dict[str, Any] = {
            "owner": self.owner,
            "asset_ref": _text("asset_ref", cells.get("asset_ref", ""), note),
            "uprn": _uprn(cells.get("uprn", ""), note),
            "name": _text("name", cells.get("name", ""), note),
            "street_number": _text("street_number", cells.get("street_number", ""), note),
            "street": _text("street", cells.get("street", ""), note),
            "post_town": _text("post_town", cells.get("post_town", ""), note),
            "postcode": _postcode(cells.get("postcode", ""), note),
            "lon": None,
            "lat": None,
            "tenure": _category("tenure", TENURE, cells.get("tenure", ""), note),
            "tenure_detail": _category("tenure_detail", TENURE_DETAIL, cells.get("tenure_detail", ""), note),
            "holding_type": holding_type,
            "use_category": use_in_holding
            if use_in_holding and not use_text
            else _use_category(use_text, note),
        }
        if written := uprn_as_written(cells.get("uprn", ""), record["uprn"]):
            record["uprn_as_written"] = written
        if cells.get("address"):
            self._read_address(cells["address"], record, note)
        if "gia_m2" in cells:
            record["gia_m2"] = _amount("gia_m2", cells["gia_m2"], note)
        if "value_gbp" in cells:
            record["value_gbp"] = _value_gbp(cells["value_gbp"], note)
        record.update(extra or {})
        self._records.append(record)
        self._rows.append(row)

        address = ("uprn", "street_number", "street", "post_town", "postcode")
        if not (record["name"] or record["asset_ref"] or any(record[k] for k in address)):
            shown = " | ".join(v for v in cells.values() if v)
            self._reject(row, "", shown, "no name, asset reference or address")
            return False

        location = point if point is not None else _point_from_cells(cells, note)
        if location is not None and (lonlat := locate(location, note)) is not None:
            record["lon"], record["lat"] = lonlat
        if record["name"] is None:
            # The register requires a name; the address is the least surprising label.
            label = " ".join(str(record[k]) for k in ("street_number", "street", "post_town") if record[k])
            record["name"] = label or record["postcode"] or record["asset_ref"] or f"UPRN {record['uprn']}"
            note("name", "", "no asset name: address used", Action.generated)
        if record["asset_ref"] is None:
            record["asset_ref"] = _auto_ref(record)
            note(
                "asset_ref",
                "",
                f"no asset reference: {record['asset_ref']} made from the row",
                Action.generated,
            )

        ref = record["asset_ref"]
        if ref in self._refs:
            first, earlier = self._refs[ref]
            if _same_asset(earlier, record):
                self._reject(row, "asset_ref", ref, f"the same asset as row {first}: imported once")
                return False
            record["asset_ref"] = self._distinct_ref(ref)
            problem = (
                f"reference also used by row {first} for a different asset: kept as {record['asset_ref']}"
            )
            note("asset_ref", ref, problem, Action.generated)
        self._refs[record["asset_ref"]] = (row, record)
        self._report.extend(note.lines)
        return True

    def _distinct_ref(self, ref: str) -> str:
        # Numbered in file order, so next year's file with the same repeat gives the same reference.
        for n in itertools.count(2):
            candidate = f"{ref[: MAX_LENGTH['asset_ref'] - 6]} #{n}"
            if candidate not in self._refs:
                return candidate
        raise AssertionError("unreachable")

    def _read_address(self, text: str, record: dict[str, Any], note: Note) -> None:
        """Fill the address fields the row left blank from its one-column address, and report how."""
        parts = split_address(text, self._towns)
        filled = []
        for name, value in (
            ("street_number", parts.street_number),
            ("street", parts.street),
            ("post_town", parts.post_town),
            ("postcode", parts.postcode),
            ("name", parts.name),
        ):
            if value and record[name] is None and _text(name, value, note) is not None:
                record[name] = value
                filled.append(name)
        note("address", text, f"one-column address read as {parts.describe()}", Action.normalised)
        if parts.unknown_town:
            problem = f"{parts.unknown_town!r} is not a post town the register knows: town left empty"
            note("post_town", text, problem, Action.field_left_empty)
        if parts.left_over:
            problem = f"part(s) with no register field: {'; '.join(parts.left_over)}"
            note("address", text, problem, Action.field_left_empty)

    def _reject(self, row: int, name: str, raw: str, problem: str) -> None:
        self._rejected.append(row)
        self._report.append(ReportRow(row, name, raw, problem, Action.rejected_row))

    def result(self) -> ImportResult:
        return ImportResult(list(self._records), list(self._rejected), list(self._report), list(self._rows))


# ---------------------------------------------------------------------------
# CSV files


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    # cp1252 leaves five bytes undefined; latin-1 maps every byte, so the file still reads.
    return data.decode("latin-1"), "latin-1"


def _find_header(rows: list[list[str]]) -> int:
    """Return the index of the first row naming at least two known columns (councils add title rows)."""
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if len({f for cell in cells if (f := match_header(cell))}) >= 2:
            return index
    raise UnreadableFileError(
        f"no header row naming Transparency Code columns in the first {HEADER_SEARCH_ROWS} rows "
        "(a str source is read as CSV text; pass a Path to read a file)"
    )


def parse_transparency_csv(
    source: bytes | str | Path, owner: str, known_towns: Iterable[str] = ()
) -> ImportResult:
    """Read a Transparency Code land and building assets CSV into register records for ``owner``.

    ``source`` is the file's bytes, its already-decoded text, or a Path.
    Bytes are decoded as UTF-8 (with or without BOM), falling back to cp1252.
    ``known_towns`` are the post towns a one-column address is split on.
    Every column the importer does not read is listed in the report.
    """
    builder = RecordBuilder(owner, known_towns)
    if isinstance(source, str):
        text = source.removeprefix("\ufeff")
    else:
        data = source.read_bytes() if isinstance(source, Path) else source
        text, encoding = _decode(data)
        if encoding != "utf-8-sig":
            builder.note(1, "(file)", encoding, f"not UTF-8: decoded as {encoding}", Action.normalised)

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        # e.g. a cell over the csv module's 131,072-character limit: no asset register has one.
        raise UnreadableFileError(f"line {reader.line_num}: {exc}") from None
    header_index = _find_header(rows)
    header_row = header_index + 1
    header = rows[header_index]
    columns: dict[str, list[int]] = {}
    unused: list[int] = []
    for position, cell in enumerate(header):
        if (target := match_header(cell)) is not None:
            columns.setdefault(target, []).append(position)
        else:
            unused.append(position)
    data_rows = rows[header_index + 1 :]
    for position in unused:
        heading = " ".join(header[position].split())
        filled = sum(1 for cells in data_rows if position < len(cells) and cells[position].strip())
        if not heading and not filled:
            continue  # a trailing empty column spreadsheets add
        problem = f"column not read by the importer ({filled} non-blank cell(s)); its values are not stored"
        builder.note(
            header_row,
            heading or f"(column {position + 1}, no heading)",
            heading,
            problem,
            Action.not_imported,
        )
    for target, positions in columns.items():
        if len(positions) > 1:
            names = " | ".join(" ".join(header[p].split()) for p in positions)
            problem = f"{len(positions)} columns for {target}: first non-blank value in each row used"
            builder.note(header_row, target, names, problem, Action.normalised)

    for offset, cells in enumerate(data_rows):
        if not any(cell.strip() for cell in cells):
            continue  # blank rows, including the trailing ones spreadsheets export
        raw = {
            target: next((cells[p] for p in positions if p < len(cells) and cells[p].strip()), "")
            for target, positions in columns.items()
        }
        builder.add(header_row + 1 + offset, raw)
    return builder.result()
