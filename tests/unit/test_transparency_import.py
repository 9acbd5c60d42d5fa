"""Transparency Code CSV import: each quirk of real council files gives the right value and report line."""

from __future__ import annotations

import csv
import io
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer

from gis.imports import Action, ImportResult, ReportRow, parse_transparency_csv
from gis.imports.patches import (
    CODE_WORDING,
    HOLDING_TYPE,
    TENURE,
    TENURE_DETAIL,
    PatchMatch,
    normalise_ref,
    use_category_for,
)
from gis.imports.reconcile import Asset, Reconciliation, reconcile
from gis.imports.transparency import (
    HEADER_SYNONYMS,
    AddressParts,
    UnreadableFileError,
    match_header,
    split_address,
)
from gis.vocab import HoldingType, Tenure, TenureDetail

FIXTURES = Path(__file__).parents[1] / "fixtures" / "transparency"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.csv"))
OWNER = "test-district"

WYCHAVON = "wychavon_2016.csv"
REDDITCH = "redditch_2019.csv"
MALVERN = "malvern_hills_2015_cp1252.csv"
BROMSGROVE = "bromsgrove_2021.csv"
WORCESTER = "worcester_2023.csv"

# The official transformation, independent of gis.crs, to check its answers against.
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
CM = 0.01


@cache
def parsed(name: str) -> ImportResult:
    return parse_transparency_csv(FIXTURES / name, OWNER)


def record(name: str, row: int) -> dict[str, Any]:
    result = parsed(name)
    return result.records[result.source_rows.index(row)]


def actions(name: str, row: int, field: str) -> list[str]:
    return [line.action for line in parsed(name).report if line.row == row and line.field == field]


def header_cells(name: str) -> list[str]:
    encoding = "cp1252" if "cp1252" in name else "utf-8-sig"
    rows = list(csv.reader(io.StringIO((FIXTURES / name).read_text(encoding), newline="")))
    return next(cells for cells in rows if len(cells) > 1)


def test_the_fixtures_are_five_councils_and_one_councils_two_years() -> None:
    assert len([n for n in FIXTURE_NAMES if not n.startswith("avon_vale_")]) == 5
    assert [n for n in FIXTURE_NAMES if n.startswith("avon_vale_")] == [
        "avon_vale_2022.csv",
        "avon_vale_2023.csv",
    ]


# --- headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "header", "field"),
    [
        (WYCHAVON, "GeoX", "easting"),
        (WYCHAVON, "GeoY", "northing"),
        (BROMSGROVE, "Easting", "easting"),
        (BROMSGROVE, "Northing", "northing"),
        (WORCESTER, "X Co-ordinate", "easting"),
        (WORCESTER, "Y Co-ordinate", "northing"),
        (MALVERN, "OSGBGridRefEast", "easting"),
        (MALVERN, "OSGBGridRefNorth", "northing"),
        (REDDITCH, "Latitude", "lat"),
        (REDDITCH, "Longitude", "lon"),
        (WORCESTER, "Lat", "lat"),
        (WORCESTER, "Long", "lon"),
        (MALVERN, "AssetCode", "asset_ref"),
        (WORCESTER, "Unique Asset ID", "asset_ref"),
        (WYCHAVON, "Unique asset identity", "asset_ref"),
        (REDDITCH, "Asset Reference", "asset_ref"),
        (BROMSGROVE, "Property Reference", "asset_ref"),
        (REDDITCH, "TenureType", "tenure"),
        (REDDITCH, "TenureDetail", "tenure_detail"),
        (WORCESTER, "Tenure Category", "tenure"),
        (BROMSGROVE, "Tenure", "tenure"),
        (REDDITCH, "HoldingType", "holding_type"),
        (BROMSGROVE, "Holding Type", "holding_type"),
        (BROMSGROVE, "Asset Name", "name"),
        (REDDITCH, "Property Name", "name"),
        (MALVERN, "Site Name", "name"),
        (BROMSGROVE, "Street Number", "street_number"),
        (REDDITCH, "Building Number", "street_number"),
        (BROMSGROVE, "Street Name", "street"),
        (REDDITCH, "Street", "street"),
        (MALVERN, "Address 1", "street"),
        (BROMSGROVE, "Post Town", "post_town"),
        (REDDITCH, "Town", "post_town"),
        (BROMSGROVE, "Postcode", "postcode"),
        (MALVERN, "Post Code", "postcode"),
        (BROMSGROVE, "UPRN", "uprn"),
        (REDDITCH, "Unique Property Reference Number", "uprn"),
        (WYCHAVON, "Asset Type", "use_category"),
        (REDDITCH, "Property Type", "use_category"),
        (MALVERN, "Use", "use_category"),
        (BROMSGROVE, "Primary Use", "use_category"),
        (MALVERN, "GIA (m2)", "gia_m2"),
        (MALVERN, "Value (£)", "value_gbp"),
    ],
)
def test_header_synonym_in_fixture_maps_to_field(fixture: str, header: str, field: str) -> None:
    assert header in header_cells(fixture)
    assert match_header(header) == field


@pytest.mark.parametrize("header", ["Tenure type", "TENURE-TYPE", " tenure_type ", "Tenure  Type."])
def test_header_matching_ignores_case_space_and_punctuation(header: str) -> None:
    assert match_header(header) == "tenure"


def test_synonym_table_is_plain_data_and_unknown_headers_are_ignored() -> None:
    assert all(isinstance(v, tuple) and v for v in HEADER_SYNONYMS.values())
    assert match_header("Ward") is None


def test_title_row_above_header_is_skipped_and_rows_keep_file_numbers() -> None:
    result = parsed(WORCESTER)
    assert result.source_rows[0] == 3
    assert record(WORCESTER, 3)["asset_ref"] == "WCC0001"


def test_file_without_recognisable_header_is_refused() -> None:
    with pytest.raises(UnreadableFileError):
        parse_transparency_csv("Ward,Councillor\nAbbey,Smith\n", OWNER)


def test_duplicated_postcode_column_takes_first_non_blank_and_is_reported_once() -> None:
    assert record(REDDITCH, 2)["postcode"] == "B98 8AH"  # first column filled
    assert record(REDDITCH, 3)["postcode"] == "B97 4AL"  # first blank, second filled
    assert actions(REDDITCH, 1, "postcode") == [Action.normalised]
    assert [line.row for line in parsed(REDDITCH).report if line.field == "postcode"] == [1]


# --- encodings, whitespace, blank rows --------------------------------------


def test_utf8_bom_does_not_hide_the_first_header() -> None:
    assert (FIXTURES / WYCHAVON).read_bytes().startswith(b"\xef\xbb\xbf")
    assert record(WYCHAVON, 2)["uprn"] == 10023456701
    assert actions(WYCHAVON, 1, "(file)") == []


def test_cp1252_file_is_detected_and_decoded() -> None:
    assert record(MALVERN, 4)["name"] == "St Ann\u2019s Well Caf\u00e9"
    assert record(MALVERN, 8)["name"] == "Land at Hanley Road \u2013 Open Space"
    assert record(MALVERN, 2)["value_gbp"] == 1_250_000
    assert parsed(MALVERN).report[0] == ReportRow(
        1, "(file)", "cp1252", "not UTF-8: decoded as cp1252", "normalised"
    )


def test_bytes_path_and_text_sources_give_the_same_records() -> None:
    data = (FIXTURES / MALVERN).read_bytes()
    from_path = parsed(MALVERN).records
    assert parse_transparency_csv(data, OWNER).records == from_path
    assert parse_transparency_csv(data.decode("cp1252"), OWNER).records == from_path


@pytest.mark.parametrize(
    ("fixture", "row", "field", "expected"),
    [
        (REDDITCH, 3, "name", "Redditch Library"),  # non-breaking space
        (REDDITCH, 4, "street", "Moons Moat Drive Moons Moat North Industrial Estate"),  # LF in quotes
        (REDDITCH, 10, "name", "Winyates Health Centre"),  # CRLF in quotes
        (REDDITCH, 6, "tenure", "leasehold"),  # trailing non-breaking space
    ],
)
def test_line_breaks_and_non_breaking_spaces_in_cells_are_normalised(
    fixture: str, row: int, field: str, expected: str
) -> None:
    assert record(fixture, row)[field] == expected
    assert actions(fixture, row, field) == [Action.normalised]


def test_rows_are_counted_as_a_spreadsheet_counts_them_despite_multi_line_cells() -> None:
    # Row 5 is physical line 6: row 4 has a line break inside a quoted cell.
    assert record(REDDITCH, 5)["name"] == "Abbey Stadium"
    assert actions(REDDITCH, 5, "location") == [Action.corrected]


@pytest.mark.parametrize(("fixture", "last_row", "count"), [(WYCHAVON, 11, 10), (BROMSGROVE, 15, 13)])
def test_trailing_empty_rows_and_columns_are_ignored(fixture: str, last_row: int, count: int) -> None:
    result = parsed(fixture)
    assert len(result.records) == count
    assert max(result.source_rows) == last_row
    assert max(line.row for line in result.report) <= last_row


def test_fully_empty_row_is_skipped_silently() -> None:
    assert 11 not in parsed(BROMSGROVE).source_rows
    assert not [line for line in parsed(BROMSGROVE).report if line.row == 11]


# --- location ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "row", "easting", "northing", "action"),
    [
        (WYCHAVON, 2, 404012.45, 243812.30, None),  # decimal eastings
        (WYCHAVON, 4, 389870.20, 262510.75, Action.normalised),  # thousands separators
        (WYCHAVON, 5, 403455, 243120, Action.normalised),  # stray spaces
        (BROMSGROVE, 2, 395870, 270580, None),
        (MALVERN, 2, 377612, 246012, None),
        (WORCESTER, 3, 385030, 254880, None),  # BNG preferred to the Lat/Long also given
    ],
)
def test_bng_point_converts_to_lonlat_that_maps_back_within_a_centimetre(
    fixture: str, row: int, easting: float, northing: float, action: str | None
) -> None:
    rec = record(fixture, row)
    back_e, back_n = TO_BNG.transform(rec["lon"], rec["lat"])
    assert math.hypot(back_e - easting, back_n - northing) < CM
    assert actions(fixture, row, "location") == ([action] if action else [])


@pytest.mark.parametrize(
    ("fixture", "row", "lon", "lat", "problem"),
    [
        (REDDITCH, 2, -1.940997, 52.306142, None),
        (REDDITCH, 5, -1.932371, 52.287887, "latitude/longitude swapped"),
        (REDDITCH, 9, -1.898056, 52.292088, "latitude/longitude swapped"),
        (WORCESTER, 4, -2.223778, 52.192576, None),  # X/Y blank, Lat/Long used
        (
            WYCHAVON,
            10,
            -2.072963,
            52.109604,
            "values are latitude/longitude degrees",
        ),  # degrees under GeoX/GeoY
    ],
)
def test_degrees_are_detected_from_values_and_swaps_corrected(
    fixture: str, row: int, lon: float, lat: float, problem: str | None
) -> None:
    rec = record(fixture, row)
    assert (rec["lon"], rec["lat"]) == pytest.approx((lon, lat), abs=1e-9)
    lines = [line for line in parsed(fixture).report if line.row == row and line.field == "location"]
    if problem is None:
        assert lines == []
    else:
        assert [(line.action, line.problem.startswith(problem)) for line in lines] == [
            (Action.corrected, True)
        ]


@pytest.mark.parametrize(
    ("fixture", "row", "problem"),
    [
        (BROMSGROVE, 7, "no location: kept, not placed"),  # blank easting and northing
        (WYCHAVON, 11, "outside Great Britain: location dropped"),  # typo easting 4095000
        (WORCESTER, 8, "outside Great Britain: location dropped"),  # 0,0 placeholder
    ],
)
def test_unplaceable_rows_are_kept_without_location(fixture: str, row: int, problem: str) -> None:
    rec = record(fixture, row)
    assert rec["lon"] is None and rec["lat"] is None
    assert row not in parsed(fixture).rejected_rows
    [line] = [line for line in parsed(fixture).report if line.row == row and line.field == "location"]
    assert (line.problem, line.action) == (problem, Action.kept_without_location)


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_no_record_is_ever_placed_at_zero_zero_or_half_placed(fixture: str) -> None:
    for rec in parsed(fixture).records:
        assert (rec["lon"] is None) == (rec["lat"] is None)
        assert (rec["lon"], rec["lat"]) != (0, 0)


# --- UPRN and references ----------------------------------------------------


@pytest.mark.parametrize(
    ("row", "uprn", "action"),
    [
        (2, 100120654321, Action.normalised),  # "000100120654321"
        (3, 100120655000, None),
        (6, None, None),  # blank
        (13, None, Action.field_left_empty),  # "TBC"
        (14, None, Action.field_left_empty),  # 16 digits
    ],
)
def test_uprn_values(row: int, uprn: int | None, action: str | None) -> None:
    assert record(BROMSGROVE, row)["uprn"] == uprn
    assert actions(BROMSGROVE, row, "uprn") == ([action] if action else [])


def test_one_uprn_with_several_assets_keeps_them_all() -> None:
    refs = [r["asset_ref"] for r in parsed(BROMSGROVE).ok_records if r["uprn"] == 100120655000]
    assert refs == ["BDC-0002", "BDC-0003", "BDC-0004"]


def test_missing_asset_ref_is_generated_stably_from_the_row() -> None:
    ref = record(BROMSGROVE, 10)["asset_ref"]
    assert ref.startswith("auto-")
    assert actions(BROMSGROVE, 10, "asset_ref") == [Action.generated]
    again = parse_transparency_csv((FIXTURES / BROMSGROVE).read_bytes(), OWNER)
    assert again.records[again.source_rows.index(10)]["asset_ref"] == ref
    assert len({r["asset_ref"] for r in again.ok_records}) == len(again.ok_records)


def test_a_reference_repeated_for_a_different_asset_keeps_both_with_distinct_references() -> None:
    result = parsed(BROMSGROVE)  # row 9 reuses BDC-0003 (row 4) for Burcot Lane Depot
    assert 9 not in result.rejected_rows
    [line] = [line for line in result.report if line.row == 9 and line.field == "asset_ref"]
    assert (line.raw, line.action) == ("BDC-0003", Action.generated)
    assert "row 4" in line.problem and "BDC-0003 #2" in line.problem
    names = {r["asset_ref"]: r["name"] for r in result.ok_records if r["asset_ref"].startswith("BDC-0003")}
    assert names == {"BDC-0003": "Market Hall - Unit 2", "BDC-0003 #2": "Burcot Lane Depot"}


def test_a_reference_repeated_for_the_same_asset_is_imported_once() -> None:
    text = (
        "UPRN,Asset ID,Asset Name,Street Name,Post Town\r\n"
        "100000000009,R-1,Old Library,High Street,Evesham\r\n"
        "100000000009,R-1,Old Library (annexe),High Street,Evesham\r\n"
    )
    result = parse_transparency_csv(text, "wychavon")
    assert result.rejected_rows == [3]
    [line] = [line for line in result.report if line.row == 3]
    assert line.action == Action.rejected_row and "same asset as row 2" in line.problem


def test_row_with_no_name_ref_or_address_is_rejected_with_one_line() -> None:
    result = parsed(BROMSGROVE)
    assert 12 in result.rejected_rows
    assert [line.action for line in result.report if line.row == 12] == [Action.rejected_row]


def test_missing_name_is_made_from_the_address() -> None:
    assert record(BROMSGROVE, 15)["name"] == "12 Hanover Street Bromsgrove"
    assert actions(BROMSGROVE, 15, "name") == [Action.generated]


def test_ok_records_leave_out_rejected_rows() -> None:
    result = parsed(BROMSGROVE)
    assert result.rejected_rows == [12]
    assert len(result.ok_records) == len(result.records) - 1


# --- categories -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "row", "field", "expected", "action"),
    [
        (WYCHAVON, 2, "tenure", "freehold", None),  # "Freehold"
        (WYCHAVON, 3, "tenure", "freehold", None),  # "FREEHOLD"
        (BROMSGROVE, 3, "tenure", "freehold", None),  # "Free hold"
        (BROMSGROVE, 5, "tenure", "freehold", None),  # "Freehold "
        (BROMSGROVE, 4, "tenure", "freehold", Action.normalised),  # "F/H"
        (BROMSGROVE, 6, "tenure", "leasehold", Action.normalised),  # "L/H"
        (WYCHAVON, 5, "tenure", "leasehold", Action.normalised),  # "Long Leasehold"
        (WORCESTER, 6, "tenure", "other", None),  # "Other"
        (BROMSGROVE, 8, "tenure", None, Action.field_left_empty),  # "Peppercorn": never guessed
        (REDDITCH, 4, "tenure_detail", "ground_leasehold", Action.normalised),  # "Ground Lease"
        (REDDITCH, 5, "tenure_detail", "sub_leasehold", Action.normalised),  # "Sub-lease"
        (REDDITCH, 6, "tenure_detail", "licence", None),  # "Licence"
        (REDDITCH, 7, "tenure_detail", "licence", Action.normalised),  # "License"
        (REDDITCH, 8, "tenure_detail", "vacant", None),  # "Vacant"
        (WYCHAVON, 3, "holding_type", "land_and_building", None),  # "Land & Building"
        (WYCHAVON, 4, "holding_type", "land_and_building", Action.normalised),  # "Land and Buildings"
        (WYCHAVON, 5, "holding_type", "building", Action.normalised),  # "Bldg"
    ],
)
def test_category_values_go_through_the_patch_tables(
    fixture: str, row: int, field: str, expected: str | None, action: str | None
) -> None:
    assert record(fixture, row)[field] == expected
    assert actions(fixture, row, field) == ([action] if action else [])


@pytest.mark.parametrize(
    ("table", "raw", "expected"),
    [
        (TENURE, "Freehold ", "freehold"),
        (TENURE, "FREEHOLD", "freehold"),
        (TENURE, "Free hold", "freehold"),
        (TENURE, "F/H", "freehold"),
        (TENURE, "Leasehold", "leasehold"),
        (TENURE, "L/H", "leasehold"),
        (TENURE, "Long Leasehold", "leasehold"),
        (TENURE, "Peppercorn", None),
        (TENURE_DETAIL, "Ground Lease", "ground_leasehold"),
        (TENURE_DETAIL, "Sub-lease", "sub_leasehold"),
        (TENURE_DETAIL, "Licence", "licence"),
        (TENURE_DETAIL, "License", "licence"),
        (TENURE_DETAIL, "Vacant", "vacant"),
        (HOLDING_TYPE, "Land & Building", "land_and_building"),
        (HOLDING_TYPE, "Land and Buildings", "land_and_building"),
        (HOLDING_TYPE, "Bldg", "building"),
        (HOLDING_TYPE, "land_and_building", "land_and_building"),
    ],
)
def test_patch_table_lookup(table: Any, raw: str, expected: str | None) -> None:
    match = table.lookup(raw)
    assert (match.value if match else None) == expected


@pytest.mark.parametrize(
    ("fixture", "row", "expected"),
    [
        (WYCHAVON, 2, "library"),
        (WYCHAVON, 3, "office"),
        (WYCHAVON, 4, "leisure"),
        (WYCHAVON, 5, "depot"),
        (WYCHAVON, 6, "crematorium_cemetery"),
        (WYCHAVON, 7, "land"),  # allotments
        (WYCHAVON, 8, "other"),  # car park
        (WYCHAVON, 10, "community_centre"),
        (REDDITCH, 2, "office"),  # town hall
        (REDDITCH, 5, "leisure"),  # swimming pool
        (REDDITCH, 6, "community_centre"),  # community hall
        (REDDITCH, 8, "police_station"),
        (REDDITCH, 10, "health_centre"),
        (MALVERN, 6, "crematorium_cemetery"),  # cemetery
        (MALVERN, 8, "land"),  # open space
        (WORCESTER, 5, "other"),  # no use column at all
    ],
)
def test_use_category_from_use_column_keywords(fixture: str, row: int, expected: str) -> None:
    assert record(fixture, row)["use_category"] == expected
    assert actions(fixture, row, "use_category") == []


def test_unmatched_use_becomes_other_and_is_reported() -> None:
    assert record(WYCHAVON, 9)["use_category"] == "other"
    assert actions(WYCHAVON, 9, "use_category") == [Action.normalised]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fire Station", "fire_station"),
        ("Jobcentre Plus", "jobcentre"),
        ("Job Centre", "jobcentre"),
        ("Magistrates Court", "court"),
        ("Primary School", "school"),
        ("Library Car Park", "other"),
        ("Community Hall", "community_centre"),
        ("Courtyard Gardens", None),
    ],
)
def test_use_keywords(text: str, expected: str | None) -> None:
    assert use_category_for(text) == expected


# --- amounts, report, determinism -------------------------------------------


def test_area_and_value_are_read_only_when_their_columns_exist() -> None:
    assert (record(MALVERN, 3)["gia_m2"], record(MALVERN, 3)["value_gbp"]) == (3100.5, 4_100_000)
    assert record(MALVERN, 9)["value_gbp"] == 210_000
    assert actions(MALVERN, 9, "value_gbp") == [Action.normalised]
    assert "gia_m2" not in record(BROMSGROVE, 2) and "value_gbp" not in record(BROMSGROVE, 2)


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_reparsing_the_same_file_gives_identical_records(fixture: str) -> None:
    first = parse_transparency_csv(FIXTURES / fixture, OWNER)
    second = parse_transparency_csv((FIXTURES / fixture).read_bytes(), OWNER)
    assert first.records == second.records
    assert first.report == second.report


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_every_kept_record_has_owner_ref_name_and_vocabulary_slugs(fixture: str) -> None:
    for rec in parsed(fixture).ok_records:
        assert rec["owner"] == OWNER and rec["asset_ref"] and rec["name"]
        assert rec["use_category"]


def test_report_renders_as_csv_dicts_and_counts() -> None:
    result = parsed(BROMSGROVE)
    rows = list(csv.DictReader(io.StringIO(result.report_csv())))
    assert rows[0] == {k: str(v) for k, v in result.report_dicts()[0].items()}
    assert list(rows[0]) == ["row", "field", "raw", "problem", "action"]
    assert result.counts_by_action()["rejected row"] == 1
    assert sum(result.counts_by_action().values()) == len(result.report)


# --- year after year (issue 14): the Code's wording, addresses, uses, references ---------------


@pytest.mark.parametrize(
    ("table", "raw", "slug"),
    [
        # The Code's own wording for each tenure sub-category, and its common variants.
        (TENURE_DETAIL, "Occupied by local authority", "occupied"),
        (TENURE_DETAIL, "Occupied by the LA", "occupied"),
        (TENURE_DETAIL, "Occupied by the Council", "occupied"),
        (TENURE_DETAIL, "LA occupied", "occupied"),
        (TENURE_DETAIL, "Ground leasehold", "ground_leasehold"),
        (TENURE_DETAIL, "Ground Lease", "ground_leasehold"),
        (TENURE_DETAIL, "Leasehold", "leasehold"),
        (TENURE_DETAIL, "Leased out", "leasehold"),
        (TENURE_DETAIL, "Sub-leasehold", "sub_leasehold"),
        (TENURE_DETAIL, "Sub leasehold", "sub_leasehold"),
        (TENURE_DETAIL, "Underlease", "sub_leasehold"),
        (TENURE_DETAIL, "Licence", "licence"),
        (TENURE_DETAIL, "License", "licence"),
        (TENURE_DETAIL, "Vacant", "vacant"),
        (TENURE_DETAIL, "Void", "vacant"),
        (TENURE, "Freehold", "freehold"),
        (TENURE, "F/H", "freehold"),
        (TENURE, "Leasehold", "leasehold"),
        (TENURE, "Leasehold (in)", "leasehold"),
        (TENURE, "Other", "other"),
        (HOLDING_TYPE, "Land and building", "land_and_building"),
        (HOLDING_TYPE, "Land & Bldg", "land_and_building"),
        (HOLDING_TYPE, "Building", "building"),
        (HOLDING_TYPE, "Land", "land"),
    ],
)
def test_tenure_and_holding_wording_of_the_code_and_its_variants(table, raw: str, slug: str) -> None:
    match = table.lookup(raw)
    assert match is not None and match.value == slug


@pytest.mark.parametrize(
    ("vocabulary", "slug"),
    [(vocabulary, slug) for vocabulary, words in CODE_WORDING.items() for slug in words],
)
def test_the_codes_wording_reads_back_as_itself_without_a_note(vocabulary, slug: str) -> None:
    table = {Tenure: TENURE, TenureDetail: TENURE_DETAIL, HoldingType: HOLDING_TYPE}[vocabulary]
    assert table.lookup(CODE_WORDING[vocabulary][slug]) == PatchMatch(slug, patched=False)


def test_every_slug_has_the_codes_wording() -> None:
    for vocabulary in (Tenure, TenureDetail, HoldingType):
        assert sorted(CODE_WORDING[vocabulary]) == sorted(m.value for m in vocabulary)


@pytest.mark.parametrize(
    ("refs", "same"),
    [
        (("WY-0123 Land and Building", "wy0123 BLDG"), True),
        (("WY 0123/bldg", "WY0123 Land & Buildings"), True),
        (("ABC-1", "abc 1"), True),
        (("ABC-1", "ABC-2"), False),
        (("X1 Land", "X1 BLDG"), False),  # land alone is not the building
        (("BLDG", "Land and Building"), False),  # a suffix needs something before it
    ],
)
def test_references_normalise_across_case_punctuation_and_suffix_spellings(
    refs: tuple[str, str], same: bool
) -> None:
    assert (normalise_ref(refs[0]) == normalise_ref(refs[1])) is same


TOWNS = {"pershore": "Pershore", "evesham": "Evesham", "stourport-on-severn": "Stourport-on-Severn"}


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (
            "Civic Centre, Queen Elizabeth Drive, Pershore, WR10 1PT",
            AddressParts("Civic Centre", None, "Queen Elizabeth Drive", "Pershore", "WR10 1PT"),
        ),
        (
            "12a High Street, Evesham WR11 4RT",
            AddressParts(None, "12a", "High Street", "Evesham", "WR11 4RT"),
        ),
        (
            "1-3 Bridge St, Stourport-on-Severn, DY13 8XB",
            AddressParts(None, "1-3", "Bridge St", "Stourport-on-Severn", "DY13 8XB"),
        ),
        ("Land at Brook Farm, Evesham", AddressParts(None, None, "Land at Brook Farm", "Evesham", None)),
        (
            "The Old School, 4 Church Lane, Wyre Piddle, Pershore, wr102hx",
            AddressParts("The Old School", "4", "Church Lane", "Pershore", "WR10 2HX", ("Wyre Piddle",)),
        ),
        ("Abbey Road, Nowhereton", AddressParts(None, None, "Abbey Road", None, None, (), "Nowhereton")),
    ],
)
def test_a_one_column_address_is_split_into_register_fields(address: str, expected: AddressParts) -> None:
    assert split_address(address, TOWNS) == expected


def test_a_site_address_column_fills_the_address_and_reports_what_it_could_not_place() -> None:
    text = (
        'Asset ID,Asset Name,Site Address\r\nA-1,Depot,"Unit 4, Station Road\nHampton, Evesham, WR11 2LP"\r\n'
    )
    result = parse_transparency_csv(text, OWNER, ["Evesham"])
    [row] = result.ok_records
    assert (row["street"], row["post_town"], row["postcode"]) == ("Station Road", "Evesham", "WR11 2LP")
    notes = [(line.field, line.action) for line in result.report if line.row == 2]
    assert ("address", Action.normalised) in notes and ("address", Action.field_left_empty) in notes


def test_a_use_in_the_holding_type_column_is_read_as_use_with_a_warning() -> None:
    text = 'Asset ID,Asset Name,Holding Type\r\nA-1,Abbey Park,"Parks, gardens and open space"\r\nA-2,Kiosk,Investment\r\n'
    result = parse_transparency_csv(text, OWNER)
    park, kiosk = result.ok_records
    assert (park["use_category"], park["holding_type"]) == ("land", None)
    assert kiosk["holding_type"] is None
    by_row = {line.row: line for line in result.report if line.field == "holding_type"}
    assert by_row[2].action == Action.normalised and "use category land" in by_row[2].problem
    assert by_row[3].action == Action.field_left_empty


def test_every_column_the_importer_does_not_read_is_listed() -> None:
    text = "Asset ID,Asset Name,Ward,Notes,\r\nA-1,Depot,Evesham South,,\r\n"
    result = parse_transparency_csv(text, OWNER)
    unused = [(line.field, line.action) for line in result.report if line.row == 1]
    assert unused == [("Ward", Action.not_imported), ("Notes", Action.not_imported)]


@pytest.mark.parametrize(
    ("cell", "uprn", "written"),
    [
        ("010090001001", 10090001001, "010090001001"),
        ("100090001002", 100090001002, None),
        ("100090001002.0", 100090001002, None),
    ],
)
def test_uprn_leading_zeros_are_kept_as_written(cell: str, uprn: int, written: str | None) -> None:
    [row] = parse_transparency_csv(f"UPRN,Asset ID,Asset Name\r\n{cell},A-1,Depot\r\n", OWNER).ok_records
    assert row["uprn"] == uprn and row.get("uprn_as_written") == written


# --- reconciliation -----------------------------------------------------------------------


def asset(
    ref: str,
    uprn: int | None = None,
    name: str = "Depot",
    x: float | None = None,
    y: float | None = None,
    *,
    row: int | None = None,
    retired: bool = False,
) -> Asset:  # noqa: PLR0913
    return Asset(ref, uprn, name, x, y, row=row, id=None if row else f"id-{ref}", retired=retired)


def kinds(result: Reconciliation) -> dict[int, tuple[str, str, bool]]:
    return {row: (m.stored.asset_ref, m.kind.name, m.certain) for row, m in result.matches.items()}


def test_exact_then_normalised_references_are_certain() -> None:
    stored = [asset("PA-1 Land and Building"), asset("pa-2"), asset("PA-3")]
    incoming = [asset("PA-3", row=2), asset("pa-1 BLDG", row=3), asset("PA-2", row=4)]
    result = reconcile(incoming, stored)
    assert kinds(result) == {
        2: ("PA-3", "exact_ref", True),
        3: ("PA-1 Land and Building", "normalised_ref", True),
        4: ("pa-2", "normalised_ref", True),
    }
    assert result.missing == [] and result.new_rows == []


def test_a_normalised_reference_with_another_uprn_is_only_probable() -> None:
    result = reconcile([asset("pa-1", 200, row=2)], [asset("PA-1", 100)])
    assert kinds(result) == {2: ("PA-1", "normalised_ref", False)}
    assert "UPRN changed" in result.matches[2].reason


def test_an_ambiguous_normalised_reference_falls_through_to_other_evidence() -> None:
    stored = [asset("AB-1", 100, "Library"), asset("ab 1", 200, "Pool")]
    result = reconcile([asset("Ab1", 200, "Swimming Pool", row=2)], stored)
    assert kinds(result) == {2: ("ab 1", "uprn", False)}
    assert [s.asset_ref for s in result.missing] == ["AB-1"]


def test_a_shared_uprn_pairs_rows_by_name() -> None:
    stored = [asset("M-1", 500, "Market Hall Unit 1"), asset("M-2", 500, "Market Hall Unit 2")]
    incoming = [
        asset("U2", 500, "Market Hall - Unit 2", row=2),
        asset("U1", 500, "Market Hall - Unit 1", row=3),
    ]
    assert kinds(reconcile(incoming, stored)) == {2: ("M-2", "uprn", False), 3: ("M-1", "uprn", False)}


@pytest.mark.parametrize(
    ("x", "name", "uprns", "matched"),
    [
        (3.0, "Brook Farm Allotment Gardens", (None, None), True),
        (30.0, "Brook Farm Allotment Gardens", (None, None), False),  # beyond a few metres
        (3.0, "Riverside Pavilion", (None, None), False),  # close, but another name
        (3.0, "Brook Farm Allotment Gardens", (100, 200), False),  # two UPRNs: two assets
    ],
)
def test_same_place_and_similar_name_is_a_probable_match(
    x: float, name: str, uprns: tuple[int | None, int | None], matched: bool
) -> None:
    stored = [asset("PA-6", uprns[0], "Brook Farm Allotments", 404500.0, 244100.0)]
    result = reconcile([asset("ALLOT-1", uprns[1], name, 404500.0 + x, 244100.0, row=2)], stored)
    assert (2 in result.matches) is matched
    if matched:
        match = result.matches[2]
        assert (match.kind.name, match.certain) == ("place", False) and "3 m apart" in match.reason
        assert 0 < match.score < 1
    else:
        assert result.new_rows == [2] and [s.asset_ref for s in result.missing] == ["PA-6"]


def test_only_an_exact_reference_brings_back_a_retired_record() -> None:
    stored = [asset("R-1", 100, retired=True), asset("R-2", 200, retired=True)]
    result = reconcile([asset("R-1", 100, row=2), asset("r2", 200, row=3)], stored)
    assert kinds(result) == {2: ("R-1", "exact_ref", True)}
    assert result.new_rows == [3] and result.missing == []


def test_reconciling_thousands_of_rows_uses_indexes_not_pairs() -> None:
    # 3,000 stored, 3,000 incoming on a 100 m grid: every row re-referenced, matched by UPRN.
    stored = [
        asset(f"S-{i}", 10_000 + i, f"Site {i}", 400_000.0 + 100 * (i % 60), 240_000.0 + 100 * (i // 60))
        for i in range(3000)
    ]
    incoming = [
        asset(f"N-{i}", 10_000 + i, f"Site {i}", s.x_m, s.y_m, row=i + 2) for i, s in enumerate(stored)
    ]
    result = reconcile(incoming, stored)
    assert len(result.matches) == 3000 and all(
        m.stored.asset_ref == f"S-{m.incoming.row - 2}" for m in result.matches.values()
    )
