"""Transparency Code and vector imports into the real register: reports, dry runs, strict mode, merges.

Every test imports into its own ``make_org()`` organisation, so the seed stays as loaded.
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import typer
from shapely.geometry import Point, Polygon
from sqlalchemy import Engine, text
from support import auth_header, register_fingerprint
from typer.testing import CliRunner

from api.commands import imports as cli_imports
from api.db import write_transaction
from api.services.imports import ImportOutcome, ImportRejected, import_transparency, import_vector
from gis.errors import ValidationFailed

FIXTURES = Path(__file__).parents[1] / "fixtures" / "transparency"
ACTOR = "test:imports"
CM = 0.01

BROMSGROVE = "bromsgrove_2021.csv"
MALVERN = "malvern_hills_2015_cp1252.csv"
REDDITCH = "redditch_2019.csv"
WORCESTER = "worcester_2023.csv"
WYCHAVON = "wychavon_2016.csv"

# A small file in the Code's own headings: three good rows, the third without a location.
GOOD_ROWS = (
    "UPRN,Unique asset identity,Asset name,Street name,Post town,Postcode,GeoX,GeoY,Tenure type,Value (£)\r\n"
    "100000000001,T-1,Alpha House,High Street,Worcester,WR1 2EY,385030,254880,Freehold,250000\r\n"
    "100000000002,T-2,Beta Depot,Bilford Road,Worcester,WR3 8DX,385700,257900,Leasehold,\r\n"
    ",T-3,Gamma Hall,College Street,Worcester,WR1 2LU,,,Freehold,\r\n"
)
# T-2 again with T-2's UPRN: the same asset twice, so the later row is rejected.
DUPLICATE_REF_ROW = (
    "100000000002,T-2,Beta Depot (yard),Bilford Road,Worcester,WR3 8DX,385700,257900,Leasehold,\r\n"
)
# The parser reads the value; the register refuses it (over £10 trillion).
HUGE_VALUE_ROW = (
    '100000000005,T-5,Epsilon Tower,Sidbury,Worcester,WR1 2HU,385300,254400,Freehold,"99,999,999,999,999"\r\n'
)


# --------------------------------------------------------------------------------------
# helpers


def run(engine: Engine, org: str, source: str | bytes, **options: Any) -> ImportOutcome:
    """Import a fixture (by file name) or CSV bytes/text for ``org``."""
    if isinstance(source, str) and source.endswith(".csv"):
        data: bytes | Path = FIXTURES / source
    else:
        data = source.encode("utf-8") if isinstance(source, str) else source
    return import_transparency(engine, data, org, actor=ACTOR, **options)


def stored(engine: Engine, org: str) -> dict[str, dict[str, Any]]:
    """The org's records as stored, keyed by asset_ref, with the point in degrees and BNG metres."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    """SELECT asset_ref, uprn, name, street_number, street, post_town, postcode, tenure,
                      tenure_detail, holding_type, use_category, gia_m2, value_gbp, rag, rag_reason,
                      rag_set_by, version, deleted_at, ST_X(geom) AS lon, ST_Y(geom) AS lat,
                      ST_X(geom_bng) AS easting, ST_Y(geom_bng) AS northing,
                      footprint IS NOT NULL AS has_footprint, id::text AS id
               FROM property WHERE owner = :org"""
                ),
                {"org": org},
            )
            .mappings()
            .all()
        )
    return {row["asset_ref"]: dict(row) for row in rows}


def history_rows(engine: Engine, org: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM property_history WHERE owner = :org"), {"org": org}
        ).scalar_one()


def lines(outcome: ImportOutcome, row: int) -> list[tuple[str, str]]:
    return [(line["field"], line["action"]) for line in outcome.report if line["row"] == row]


def patch(client, headers: dict[str, str], record: dict[str, Any], body: dict[str, Any]) -> None:
    response = client.patch(
        f"/properties/{record['id']}", json=body, headers={**headers, "If-Match": f'"{record["version"]}"'}
    )
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------------------
# each fixture, as councils publish them


FIXTURE_EXPECTATIONS: list[tuple[str, dict[str, Any]]] = [
    (
        BROMSGROVE,
        {
            "rows_read": 13,
            "inserted": 12,
            "rejected_rows": [12],
            "kept_without_location": 1,
            "by_action": {
                "normalised": 5,
                "kept without location": 1,
                "field left empty": 3,
                "rejected row": 1,
                "generated": 3,
            },
            "rows": {
                7: [("location", "kept without location")],
                9: [("asset_ref", "generated")],  # BDC-0003 of row 4, a different asset: kept as BDC-0003 #2
                12: [("", "rejected row")],  # no name, reference or address
                8: [("tenure", "field left empty")],
            },  # "Peppercorn" is never guessed
        },
    ),
    (
        MALVERN,
        {
            "rows_read": 8,
            "inserted": 8,
            "rejected_rows": [],
            "kept_without_location": 0,
            "by_action": {"normalised": 3},
            "rows": {1: [("(file)", "normalised")], 9: [("value_gbp", "normalised")]},
        },
    ),
    (
        REDDITCH,
        {
            "rows_read": 9,
            "inserted": 9,
            "rejected_rows": [],
            "kept_without_location": 0,
            "by_action": {"normalised": 9, "corrected": 2},
            "rows": {
                5: [("tenure_detail", "normalised"), ("location", "corrected")],
                1: [("postcode", "normalised")],
            },  # the duplicated Postcode column
        },
    ),
    (
        WORCESTER,
        {
            "rows_read": 7,
            "inserted": 7,
            "rejected_rows": [],
            "kept_without_location": 1,
            "by_action": {"normalised": 1, "kept without location": 1},
            "rows": {8: [("location", "kept without location")]},  # 0,0 placeholder
        },
    ),
    (
        WYCHAVON,
        {
            "rows_read": 10,
            "inserted": 10,
            "rejected_rows": [],
            "kept_without_location": 1,
            "by_action": {"normalised": 7, "corrected": 1, "kept without location": 1},
            "rows": {
                10: [("location", "corrected")],  # degrees under GeoX/GeoY
                11: [("use_category", "normalised"), ("location", "kept without location")],
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("fixture", "expected"), FIXTURE_EXPECTATIONS, ids=[f for f, _ in FIXTURE_EXPECTATIONS]
)
def test_each_fixture_imports_with_its_report(
    seeded: Engine, make_org: Callable[..., str], fixture: str, expected: dict[str, Any]
) -> None:
    org = make_org()
    outcome = run(seeded, org, fixture)
    assert outcome.rows_read == expected["rows_read"]
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (expected["inserted"], 0, 0)
    assert outcome.rejected_rows == expected["rejected_rows"]
    assert outcome.rejected == len(expected["rejected_rows"])
    assert outcome.kept_without_location == expected["kept_without_location"]
    assert outcome.counts_by_action() == expected["by_action"]
    for row, expected_lines in expected["rows"].items():
        assert lines(outcome, row) == expected_lines
    assert outcome.written and not outcome.dry_run
    assert len(stored(seeded, org)) == expected["inserted"]


def test_stored_records_carry_the_files_values(seeded: Engine, make_org: Callable[..., str]) -> None:
    wychavon, redditch, malvern = make_org(), make_org(), make_org()
    run(seeded, wychavon, WYCHAVON)
    run(seeded, redditch, REDDITCH)
    run(seeded, malvern, MALVERN)
    evesham = stored(seeded, wychavon)["WYC-0001"]
    assert math.hypot(evesham["easting"] - 404012.45, evesham["northing"] - 243812.30) < CM
    assert (evesham["uprn"], evesham["tenure"], evesham["holding_type"], evesham["use_category"]) == (
        10023456701,
        "freehold",
        "land_and_building",
        "library",
    )
    assert stored(seeded, wychavon)["WYC-0005"]["postcode"] == "WR11 8HY"
    stadium = stored(seeded, redditch)["RBC/004"]  # latitude and longitude swapped in the file
    assert (stadium["lon"], stadium["lat"]) == pytest.approx((-1.932371, 52.287887), abs=1e-9)
    splash = stored(seeded, malvern)["MHDC002"]
    assert (splash["gia_m2"], splash["value_gbp"]) == (3100.5, 4_100_000)
    assert stored(seeded, malvern)["MHDC003"]["name"] == "St Ann\u2019s Well Caf\u00e9"


def test_unplaceable_rows_are_stored_with_null_geometry_never_zero_zero(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    bromsgrove, worcester, wychavon = make_org(), make_org(), make_org()
    run(seeded, bromsgrove, BROMSGROVE)
    run(seeded, worcester, WORCESTER)
    run(seeded, wychavon, WYCHAVON)
    for org, ref in ((bromsgrove, "BDC-0006"), (worcester, "WCC0006"), (wychavon, "WYC-0010")):
        record = stored(seeded, org)[ref]  # blank coordinates, a 0,0 placeholder, an easting typo
        assert (record["lon"], record["lat"]) == (None, None), ref
    with seeded.connect() as conn:
        at_origin = conn.execute(
            text(
                "SELECT count(*) FROM property WHERE owner = ANY(:orgs) AND geom IS NOT NULL "
                "AND (abs(ST_X(geom)) < 1e-6 AND abs(ST_Y(geom)) < 1e-6 "
                "     OR ST_X(geom_bng) < 1 OR ST_Y(geom_bng) < 1)"
            ),
            {"orgs": [bromsgrove, worcester, wychavon]},
        ).scalar_one()
    assert at_origin == 0


def test_one_uprn_with_three_assets_gives_three_rows(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    run(seeded, org, BROMSGROVE)
    with seeded.connect() as conn:
        refs = (
            conn.execute(
                text(
                    "SELECT asset_ref FROM property WHERE owner = :org AND uprn = 100120655000 ORDER BY asset_ref"
                ),
                {"org": org},
            )
            .scalars()
            .all()
        )
    assert refs == ["BDC-0002", "BDC-0003", "BDC-0004"]


def test_duplicate_reference_keeps_the_first_row(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    run(seeded, org, BROMSGROVE)
    assert stored(seeded, org)["BDC-0003"]["name"] == "Market Hall - Unit 2"  # row 4, not row 9's depot


# --------------------------------------------------------------------------------------
# dry run and strict mode


def test_dry_run_writes_nothing_and_forecasts_the_counts(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    before = register_fingerprint(seeded)
    forecast = run(seeded, org, BROMSGROVE, dry_run=True)
    assert register_fingerprint(seeded) == before
    assert stored(seeded, org) == {}
    assert forecast.dry_run and not forecast.written
    assert (forecast.inserted, forecast.updated, forecast.unchanged, forecast.rejected) == (12, 0, 0, 1)
    real = run(seeded, org, BROMSGROVE)
    assert (real.inserted, real.updated, real.unchanged) == (forecast.inserted, 0, 0)
    assert real.report == forecast.report


def test_dry_run_of_a_changed_file_forecasts_updates(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    run(seeded, org, GOOD_ROWS)
    before = register_fingerprint(seeded)
    changed = GOOD_ROWS.replace("Beta Depot", "Beta Depot and Stores")
    forecast = run(seeded, org, changed, dry_run=True)
    assert (forecast.inserted, forecast.updated, forecast.unchanged) == (0, 1, 2)
    assert register_fingerprint(seeded) == before


def test_strict_with_one_bad_row_writes_nothing_and_names_the_row(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    before = register_fingerprint(seeded)
    with pytest.raises(ImportRejected) as caught:
        run(seeded, org, GOOD_ROWS + DUPLICATE_REF_ROW, strict=True)
    assert register_fingerprint(seeded) == before
    [error] = caught.value.errors
    assert (error.index, error.field) == (5, "asset_ref")
    assert "row 3" in error.message
    assert caught.value.outcome.rejected_rows == [5] and caught.value.outcome.inserted == 0


def test_strict_refuses_a_row_the_register_rejects(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    before = register_fingerprint(seeded)
    with pytest.raises(ImportRejected) as caught:
        run(seeded, org, GOOD_ROWS + HUGE_VALUE_ROW, strict=True)
    assert register_fingerprint(seeded) == before
    assert [(e.index, e.field) for e in caught.value.errors] == [(5, "value_gbp")]


def test_strict_with_every_row_good_imports(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    outcome = run(seeded, org, GOOD_ROWS, strict=True)
    assert (outcome.inserted, outcome.rejected) == (3, 0)


def test_row_the_register_refuses_is_reported_and_the_others_imported(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    outcome = run(seeded, org, GOOD_ROWS + HUGE_VALUE_ROW)
    assert (outcome.inserted, outcome.rejected, outcome.rejected_rows) == (3, 1, [5])
    [line] = [line for line in outcome.report if line["row"] == 5]
    assert (line["field"], line["raw"], line["action"]) == ("value_gbp", "99999999999999", "rejected row")
    assert sorted(stored(seeded, org)) == ["T-1", "T-2", "T-3"]


def test_unknown_owner_is_refused_naming_owner(seeded: Engine) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run(seeded, "no-such-council", GOOD_ROWS)
    assert [e.field for e in caught.value.errors] == ["owner"]


def test_file_without_a_header_is_refused_naming_file(seeded: Engine, make_org: Callable[..., str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run(seeded, make_org(), b"Ward,Councillor\r\nAbbey,Smith\r\n")
    assert [e.field for e in caught.value.errors] == ["file"]


def test_report_csv_lists_every_line(seeded: Engine, make_org: Callable[..., str]) -> None:
    outcome = run(seeded, make_org(), BROMSGROVE, dry_run=True)
    rows = list(csv.DictReader(io.StringIO(outcome.report_csv())))
    assert list(rows[0]) == ["row", "field", "raw", "problem", "action"]
    assert len(rows) == len(outcome.report) == 13
    assert [r["row"] for r in rows if r["action"] == "rejected row"] == ["12"]


# --------------------------------------------------------------------------------------
# re-importing: idempotent, and never erasing what the file does not say


@pytest.mark.parametrize("fixture", [BROMSGROVE, MALVERN, REDDITCH, WORCESTER, WYCHAVON])
def test_reimporting_the_same_file_changes_nothing(
    seeded: Engine, make_org: Callable[..., str], fixture: str
) -> None:
    org = make_org()
    first = run(seeded, org, fixture)
    versions = {ref: r["version"] for ref, r in stored(seeded, org).items()}
    history = history_rows(seeded, org)
    again = run(seeded, org, fixture)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    assert not again.written
    assert history_rows(seeded, org) == history == first.inserted
    assert {ref: r["version"] for ref, r in stored(seeded, org).items()} == versions


def test_reimport_keeps_fields_the_file_lacks(
    seeded: Engine,
    client,
    make_org: Callable[..., str],
    make_key: Callable[[str, str], str],
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    run(seeded, org, BROMSGROVE)
    parkside = stored(seeded, org)["BDC-0001"]
    patch(
        client,
        headers,
        parkside,
        {"value_gbp": 2_400_000, "rag": "green", "rag_reason": "surplus after move", "gia_m2": 1850.0},
    )
    history = history_rows(seeded, org)

    again = run(seeded, org, BROMSGROVE)
    assert (again.updated, again.unchanged) == (0, 12)
    kept = stored(seeded, org)["BDC-0001"]
    assert (kept["value_gbp"], kept["rag"], kept["rag_reason"], kept["gia_m2"]) == (
        2_400_000,
        "green",
        "surplus after move",
        1850.0,
    )
    assert kept["version"] == parkside["version"] + 1  # the API edit, and nothing from the re-import
    assert history_rows(seeded, org) == history


def test_reimport_of_a_changed_file_updates_what_it_says_and_keeps_the_rest(
    seeded: Engine,
    client,
    make_org: Callable[..., str],
    make_key: Callable[[str, str], str],
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    run(seeded, org, BROMSGROVE)
    before = stored(seeded, org)["BDC-0001"]
    patch(client, headers, before, {"value_gbp": 2_400_000, "rag": "amber", "rag_reason": "half empty"})
    changed = (FIXTURES / BROMSGROVE).read_bytes().replace(b"Parkside,", b"Parkside House,")

    outcome = run(seeded, org, changed)
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 1, 11)
    after = stored(seeded, org)["BDC-0001"]
    assert after["name"] == "Parkside House"
    assert (after["value_gbp"], after["rag"], after["rag_reason"]) == (2_400_000, "amber", "half empty")
    assert after["rag_set_by"] != ACTOR  # the rating is still the person's, not the import's
    assert after["version"] == before["version"] + 2


def test_blank_or_unreadable_cells_do_not_erase_stored_values(
    seeded: Engine,
    client,
    make_org: Callable[..., str],
    make_key: Callable[[str, str], str],
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    run(seeded, org, BROMSGROVE)
    records = stored(seeded, org)
    # In the file BDC-0006 has blank coordinates, BDC-0007 the tenure "Peppercorn"
    # and BDC-0002 the use "Retail" (read as other).
    # A longitude under 1 degree at full precision: the stored point must come back bit for bit.
    located = {"geometry": {"type": "Point", "coordinates": [-0.9876543210987654, 52.43171234567891]}}
    patch(client, headers, records["BDC-0006"], located)
    patch(client, headers, records["BDC-0007"], {"tenure": "leasehold"})
    patch(client, headers, records["BDC-0002"], {"use_category": "office"})

    again = run(seeded, org, BROMSGROVE)
    assert (again.updated, again.unchanged) == (0, 12)
    after = stored(seeded, org)
    assert (after["BDC-0006"]["lon"], after["BDC-0006"]["lat"]) == (-0.9876543210987654, 52.43171234567891)
    assert after["BDC-0007"]["tenure"] == "leasehold"
    assert after["BDC-0002"]["use_category"] == "office"


def test_values_the_file_carries_replace_stored_ones(
    seeded: Engine,
    client,
    make_org: Callable[..., str],
    make_key: Callable[[str, str], str],
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    run(seeded, org, MALVERN)
    patch(client, headers, stored(seeded, org)["MHDC001"], {"value_gbp": 999})
    again = run(seeded, org, MALVERN)
    assert (again.updated, again.unchanged) == (1, 7)
    assert stored(seeded, org)["MHDC001"]["value_gbp"] == 1_250_000  # the file's Value (£)


def test_generated_name_does_not_replace_a_stored_name(
    seeded: Engine,
    client,
    make_org: Callable[..., str],
    make_key: Callable[[str, str], str],
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    run(seeded, org, BROMSGROVE)
    [ref] = [ref for ref, r in stored(seeded, org).items() if r["name"] == "12 Hanover Street Bromsgrove"]
    patch(client, headers, stored(seeded, org)[ref], {"name": "Hanover Street Offices"})
    again = run(seeded, org, BROMSGROVE)
    assert again.updated == 0
    assert stored(seeded, org)[ref]["name"] == "Hanover Street Offices"


def test_reimport_brings_back_a_retired_record_with_its_values(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    run(seeded, org, GOOD_ROWS)
    with write_transaction(seeded, ACTOR) as conn:
        conn.execute(
            text(
                "UPDATE property SET deleted_at = now(), deleted_by = 'test', gia_m2 = 420 "
                "WHERE owner = :org AND asset_ref = 'T-1'"
            ),
            {"org": org},
        )
    again = run(seeded, org, GOOD_ROWS)
    assert (again.updated, again.unchanged) == (1, 2)
    record = stored(seeded, org)["T-1"]
    assert record["deleted_at"] is None and record["gia_m2"] == 420


# --------------------------------------------------------------------------------------
# vector files


VECTOR_MAPPING = {"SITE_REF": "asset_ref", "SITE_NAME": "name", "TENURE": "tenure"}


@pytest.fixture()
def geopackage(tmp_path: Path) -> Path:
    import geopandas as gpd

    layer = gpd.GeoDataFrame(
        {
            "SITE_REF": ["V-1", "V-2", "V-3"],
            "SITE_NAME": ["Evesham Library", "Bromsgrove Depot", "Unplaced Store"],
            "TENURE": ["Freehold", "Long Leasehold", "F/H"],
        },
        geometry=[
            Point(404012.45, 243812.30),
            Polygon([(396000, 270500), (396040, 270500), (396040, 270530), (396000, 270530)]),
            None,
        ],
        crs="EPSG:27700",
    )
    path = tmp_path / "assets.gpkg"
    pyogrio.write_dataframe(layer, path, driver="GPKG")
    return path


def test_vector_import_stores_points_and_footprints_and_reimports_unchanged(
    seeded: Engine, make_org: Callable[..., str], geopackage: Path
) -> None:
    org = make_org()
    outcome = import_vector(seeded, geopackage, org, VECTOR_MAPPING, actor=ACTOR)
    assert (outcome.rows_read, outcome.inserted, outcome.kept_without_location) == (3, 3, 1)
    records = stored(seeded, org)
    assert math.hypot(records["V-1"]["easting"] - 404012.45, records["V-1"]["northing"] - 243812.30) < CM
    centroid = (396020, 270515)
    assert math.hypot(records["V-2"]["easting"] - centroid[0], records["V-2"]["northing"] - centroid[1]) < CM
    assert records["V-2"]["has_footprint"] and not records["V-1"]["has_footprint"]
    assert (records["V-3"]["lon"], records["V-2"]["tenure"]) == (None, "leasehold")
    history = history_rows(seeded, org)
    again = import_vector(seeded, geopackage, org, VECTOR_MAPPING, actor=ACTOR)
    assert (again.updated, again.unchanged) == (0, 3)
    assert history_rows(seeded, org) == history


def test_vector_mapping_to_an_unknown_field_is_refused_naming_column_mapping(
    seeded: Engine, make_org: Callable[..., str], geopackage: Path
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        import_vector(seeded, geopackage, make_org(), {"SITE_NAME": "title"}, actor=ACTOR)
    assert [e.field for e in caught.value.errors] == ["column_mapping"]


def test_vector_mapping_of_a_missing_column_is_refused_naming_file(
    seeded: Engine, make_org: Callable[..., str], geopackage: Path
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        import_vector(seeded, geopackage, make_org(), {"NO_SUCH": "name"}, actor=ACTOR)
    assert [e.field for e in caught.value.errors] == ["file"]


# --------------------------------------------------------------------------------------
# the command line, wired as the lead will wire it


@pytest.fixture()
def estate(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    monkeypatch.setattr(cli_imports, "_engine", lambda: seeded)
    app = typer.Typer()
    imports_app = typer.Typer()
    app.add_typer(imports_app, name="import")
    imports_app.command("transparency")(cli_imports.import_transparency)
    imports_app.command("vector")(cli_imports.import_vector)
    return lambda *args: CliRunner().invoke(app, ["import", *map(str, args)])


def test_cli_dry_run_prints_the_summary_and_writes_the_report(
    estate, seeded: Engine, make_org: Callable[..., str], tmp_path: Path
) -> None:
    org = make_org()
    report = tmp_path / "report.csv"
    result = estate("transparency", FIXTURES / BROMSGROVE, "--org", org, "--dry-run", "--report", report)
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was written" in result.output and "rejected row" in result.output
    assert stored(seeded, org) == {}
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert [r["row"] for r in rows if r["action"] == "rejected row"] == ["12"]


def test_cli_strict_failure_exits_1_and_writes_nothing(
    estate,
    seeded: Engine,
    make_org: Callable[..., str],
) -> None:
    org = make_org()
    result = estate("transparency", FIXTURES / BROMSGROVE, "--org", org, "--strict")
    assert result.exit_code == 1
    assert "1 row(s) rejected; nothing was written" in result.output
    assert stored(seeded, org) == {}


def test_cli_imports_a_file(estate, seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    result = estate("transparency", FIXTURES / WYCHAVON, "--org", org)
    assert result.exit_code == 0, result.output
    assert len(stored(seeded, org)) == 10


def test_cli_unknown_org_exits_1(estate) -> None:
    result = estate("transparency", FIXTURES / WYCHAVON, "--org", "no-such-council")
    assert result.exit_code == 1 and "owner" in result.output


def test_cli_vector_import_with_mapping(
    estate,
    seeded: Engine,
    make_org: Callable[..., str],
    geopackage: Path,
) -> None:
    org = make_org()
    result = estate("vector", geopackage, "--org", org, "--mapping", "SITE_REF=asset_ref, SITE_NAME=name")
    assert result.exit_code == 0, result.output
    assert sorted(stored(seeded, org)) == ["V-1", "V-2", "V-3"]


def test_cli_malformed_mapping_is_a_usage_error(
    estate,
    make_org: Callable[..., str],
    geopackage: Path,
) -> None:
    result = estate("vector", geopackage, "--org", make_org(), "--mapping", "SITE_NAME")
    assert result.exit_code == 2


# --------------------------------------------------------------------------------------
# round trip: import(export(register)) reproduces the key fields


ROUND_TRIP_OWNER = "redditch"
Records = dict[str, dict[str, Any]]
KEY_FIELDS = (
    "name",
    "street_number",
    "street",
    "post_town",
    "postcode",
    "uprn",
    "tenure",
    "tenure_detail",
    "holding_type",
)


@pytest.fixture(scope="module")
def round_trip(
    seeded: Engine, make_org: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Records, Records, ImportOutcome]:
    """Export a seed owner to Transparency CSV in EPSG:27700, import it into a fresh org."""
    from api.services import exports
    from api.services.filters import build_filter
    from gis import crs as crs_mod
    from gis import exports as writer
    from gis.visibility import Tier, Viewer

    path = tmp_path_factory.mktemp("round-trip") / "redditch.csv"
    with seeded.connect() as conn:
        owner_view = Viewer(Tier.partner, org=ROUND_TRIP_OWNER)
        exports.export_properties(
            conn,
            path,
            writer.get_format("csv"),
            crs_mod.EPSG27700,
            build_filter(owner=ROUND_TRIP_OWNER),
            owner_view,
        )
    org = make_org()
    outcome = import_transparency(seeded, path, org, actor=ACTOR)
    return stored(seeded, ROUND_TRIP_OWNER), stored(seeded, org), outcome


def test_round_trip_reproduces_the_key_fields(round_trip) -> None:
    source, imported, outcome = round_trip
    assert len(source) == 86
    assert (outcome.rows_read, outcome.inserted, outcome.rejected) == (len(source), len(source), 0)
    assert sorted(imported) == sorted(source)
    for ref, original in source.items():
        assert {k: imported[ref][k] for k in KEY_FIELDS} == {k: original[k] for k in KEY_FIELDS}, ref


def test_round_trip_reproduces_the_location_within_a_centimetre(round_trip) -> None:
    source, imported, _ = round_trip
    for ref, original in source.items():
        got = imported[ref]
        assert got["easting"] is not None, ref
        distance_m = math.hypot(got["easting"] - original["easting"], got["northing"] - original["northing"])
        assert distance_m < CM, ref


# --------------------------------------------------------------------------------------
# a council's files year after year (issue 14): Avon Vale's 2022 and 2023 files

YEAR_ONE = "avon_vale_2022.csv"  # the Code's headings; references with "Land and Building"
# 2023: references re-spelt (case, "BLDG"), one address column, a use in Holding Type, a
# repeated reference for a different asset, PA-005 re-referenced (same UPRN), PA-006
# re-referenced without UPRN (same place, similar name), PA-007 gone, PA-009 new.
YEAR_TWO = "avon_vale_2023.csv"


def live(engine: Engine, org: str) -> dict[str, dict[str, Any]]:
    return {ref: r for ref, r in stored(engine, org).items() if r["deleted_at"] is None}


def ids_by_uprn_or_name(records: dict[str, dict[str, Any]]) -> dict[Any, str]:
    return {r["uprn"] or r["name"]: r["id"] for r in records.values()}


def test_year_two_updates_year_one_in_place_and_holds_back_probable_matches(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    first = run(seeded, org, YEAR_ONE)
    assert first.inserted == 7
    before = live(seeded, org)

    second = run(seeded, org, YEAR_TWO)
    after = live(seeded, org)
    # Seven assets plus two new ones: none of the re-spelt references came in twice.
    assert len(after) == 9
    uprns = [r["uprn"] for r in after.values() if r["uprn"] is not None]
    assert len(uprns) == len(set(uprns))
    assert (second.inserted, second.matched, second.probable_held, second.not_in_file) == (2, 3, 2, 1)
    old_ids = {r["id"] for r in before.values()}
    assert sorted(ref for ref, r in after.items() if r["id"] not in old_ids) == ["PA-004 #2", "PA-009"]
    # The records matched by a re-spelt reference are the same records, now under the file's reference.
    for old, new in (
        ("PA-001 Land and Building", "pa-001 BLDG"),
        ("PA-002 Land and Building", "PA-002 BLDG"),
    ):
        assert after[new]["id"] == before[old]["id"]
    assert after["PA-004"]["id"] == before["pa-004"]["id"]
    # Probable matches wait for review: the stored record is untouched and nothing was inserted for them.
    assert after["PA-005"] == before["PA-005"] and after["PA-006"] == before["PA-006"]
    held = {line["row"]: line for line in second.report if line["action"] == "probable match held back"}
    assert sorted(held) == [7, 8]
    assert "same UPRN" in held[7]["problem"] and "'PA-005'" in held[7]["problem"]
    assert "same place" in held[8]["problem"] and "m apart" in held[8]["problem"]
    assert all("score" in line["problem"] for line in held.values())
    [gone] = [line for line in second.report if line["action"] == "not in file"]
    assert (gone["row"], gone["raw"]) == (None, "PA-007")
    assert after["PA-007"]["deleted_at"] is None  # listed, not deleted


def test_accept_probable_and_retire_missing_then_the_same_file_changes_nothing(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    before = live(seeded, org)

    second = run(seeded, org, YEAR_TWO, accept_probable=True, retire_missing=True)
    assert (second.probable_applied, second.probable_held, second.retired) == (2, 0, 1)
    after = live(seeded, org)
    assert len(after) == 8 and "PA-007" not in after
    assert stored(seeded, org)["PA-007"]["deleted_at"] is not None
    assert after["DEP-5"]["id"] == before["PA-005"]["id"] and after["DEP-5"]["name"] == "Pershore Depot"
    assert after["ALLOT-1"]["id"] == before["PA-006"]["id"]
    applied = [line for line in second.report if line["action"] == "probable match applied"]
    assert sorted(line["row"] for line in applied) == [7, 8]

    again = run(seeded, org, YEAR_TWO, accept_probable=True, retire_missing=True)
    assert (again.inserted, again.updated, again.unchanged, again.retired) == (0, 0, 8, 0)
    assert (again.matched, again.probable_applied, again.not_in_file) == (0, 0, 0)
    assert live(seeded, org) == after


def test_dry_run_of_a_new_year_shows_the_whole_plan_and_writes_nothing(
    seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    before = register_fingerprint(seeded)
    plan = run(seeded, org, YEAR_TWO, dry_run=True, retire_missing=True)
    assert register_fingerprint(seeded) == before
    assert not plan.written
    actions = {(line["asset_ref"], line["action"]) for line in plan.plan}
    assert actions == {
        ("pa-001 BLDG", "update"),
        ("PA-002 BLDG", "update"),
        ("PA-003", "update"),  # the use read from Holding Type
        ("PA-004", "update"),
        ("DEP-5", "held back"),
        ("ALLOT-1", "held back"),
        ("PA-004 #2", "insert"),
        ("PA-009", "insert"),
        ("PA-007", "retire"),
    }
    assert (plan.inserted, plan.updated, plan.probable_held, plan.retired) == (2, 4, 2, 1)


def test_year_two_reads_what_the_code_allows(seeded: Engine, make_org: Callable[..., str]) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    outcome = run(seeded, org, YEAR_TWO, accept_probable=True)
    records = live(seeded, org)
    # "Occupied by local authority", the Code's own sub-category, is stored, not left empty.
    assert {records[r]["tenure_detail"] for r in ("pa-001 BLDG", "PA-002 BLDG", "PA-003")} == {"occupied"}
    # The one-column "Site Address" is split into number, street, town and postcode.
    unit2 = records["PA-004 #2"]
    assert (unit2["street_number"], unit2["street"], unit2["post_town"], unit2["postcode"]) == (
        "2",
        "High Street",
        "Pershore",
        "WR10 1AA",
    )
    assert records["PA-009"]["post_town"] == "Evesham" and records["PA-009"]["name"] == "Riverside Pavilion"
    # A use in the Holding Type column is read as the use, with a warning; the holding type stays.
    assert (records["PA-003"]["use_category"], records["PA-003"]["holding_type"]) == ("land", "land")
    assert ("holding_type", "normalised") in lines(outcome, 5)
    # The column the importer does not read is listed.
    [ward] = [line for line in outcome.report if line["action"] == "not imported"]
    assert ward["field"] == "Ward" and "8 non-blank" in ward["problem"]


def export_csv(engine: Engine, org: str, path: Path) -> str:
    from api.services.exports import export_properties
    from api.services.filters import PropertyFilter
    from gis import crs as crs_mod
    from gis import exports as ex
    from gis.visibility import Tier, Viewer

    with engine.connect() as conn:
        export_properties(
            conn,
            path,
            ex.FORMATS["csv"],
            crs_mod.EPSG27700,
            PropertyFilter(owner=[org]),
            Viewer(Tier.owner, admin=True),
        )
    return path.read_text(encoding="utf-8-sig")


def test_import_export_import_changes_nothing_and_keeps_leading_zeros(
    seeded: Engine, make_org: Callable[..., str], tmp_path: Path
) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    exported = export_csv(seeded, org, tmp_path / "one.csv")
    rows = {row["Unique asset identity"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert rows["PA-001 Land and Building"]["UPRN"] == "010090001001"  # as the council wrote it
    assert rows["PA-002 Land and Building"]["UPRN"] == "100090001002"
    assert rows["PA-001 Land and Building"]["Tenure sub-category"] == "Occupied by local authority"
    assert {row["Organisation"] for row in rows.values()} == {org}
    before = register_fingerprint(seeded)

    again = run(seeded, org, exported.encode("utf-8"))
    assert (again.inserted, again.updated, again.unchanged, again.not_in_file) == (0, 0, 7, 0)
    assert register_fingerprint(seeded) == before
    assert export_csv(seeded, org, tmp_path / "two.csv") == exported


def test_a_uprn_changed_by_hand_is_exported_as_the_integer(
    client, seeded: Engine, make_org: Callable[..., str], make_key, tmp_path: Path
) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    record = stored(seeded, org)["PA-001 Land and Building"]
    patch(client, auth_header(make_key(org, "writer")), record, {"uprn": 10090001999})
    rows = {
        r["Unique asset identity"]: r
        for r in csv.DictReader(io.StringIO(export_csv(seeded, org, tmp_path / "x.csv")))
    }
    assert rows["PA-001 Land and Building"]["UPRN"] == "10090001999"


# --------------------------------------------------------------------------------------
# exit status of the real command, with standard output closed early


def estate_process(db_url: str, *args: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url}
    command = [str(Path(sys.executable).parent / "estate"), "import", "transparency", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def closed_early(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Close the reading end before the command prints (what ``| head -1`` does), then wait."""
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=120), stderr


def test_exit_status_is_0_and_the_report_written_when_stdout_closes_early(
    db_url: str, seeded: Engine, make_org: Callable[..., str], tmp_path: Path
) -> None:
    org = make_org()
    report = tmp_path / "report.csv"
    status, stderr = closed_early(
        estate_process(db_url, FIXTURES / YEAR_TWO, "--org", org, "--report", report)
    )
    assert status == 0, stderr
    assert "Traceback" not in stderr
    assert len(live(seeded, org)) == 8
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert any(r["action"] == "not imported" and r["field"] == "Ward" for r in rows)


def test_exit_status_is_1_with_errors_even_when_stdout_closes_early(
    db_url: str, seeded: Engine, make_org: Callable[..., str], tmp_path: Path
) -> None:
    org = make_org()
    report = tmp_path / "report.csv"
    status, _ = closed_early(
        estate_process(db_url, FIXTURES / BROMSGROVE, "--org", org, "--strict", "--report", report)
    )
    assert status == 1
    assert stored(seeded, org) == {}
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert [r["row"] for r in rows if r["action"] == "rejected row"] == ["12"]

    unknown = tmp_path / "unknown.csv"
    status, _ = closed_early(
        estate_process(db_url, FIXTURES / YEAR_ONE, "--org", "no-such-council", "--report", unknown)
    )
    assert status == 1
    assert [r["field"] for r in csv.DictReader(io.StringIO(unknown.read_text(encoding="utf-8")))] == ["owner"]


def test_exit_status_is_2_for_a_usage_error(db_url: str, tmp_path: Path) -> None:
    status, stderr = closed_early(estate_process(db_url, tmp_path / "no-such-file.csv", "--org", "x"))
    assert status == 2 and "Usage:" in stderr


def test_cli_dry_run_prints_the_plan_of_next_years_file(
    estate, seeded: Engine, make_org: Callable[..., str], tmp_path: Path
) -> None:
    org = make_org()
    run(seeded, org, YEAR_ONE)
    before = register_fingerprint(seeded)
    report = tmp_path / "plan.csv"
    result = estate("transparency", FIXTURES / YEAR_TWO, "--org", org, "--dry-run", "--report", report)
    assert result.exit_code == 0, result.output
    assert register_fingerprint(seeded) == before
    assert "plan" in result.output and "DEP-5" in result.output and "PA-007" in result.output
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert sorted(r["raw"] for r in rows if r["action"] == "probable match held back") == ["ALLOT-1", "DEP-5"]
    assert [(r["row"], r["raw"]) for r in rows if r["action"] == "not in file"] == [("", "PA-007")]
