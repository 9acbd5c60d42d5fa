"""POST /imports/transparency: uploads by multipart and raw CSV, dry run, strict mode, who may import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import auth_header, register_fingerprint

FIXTURES = Path(__file__).parents[1] / "fixtures" / "transparency"
BROMSGROVE = (FIXTURES / "bromsgrove_2021.csv").read_bytes()  # 13 rows: 12 good, row 12 rejected
MALVERN = (FIXTURES / "malvern_hills_2015_cp1252.csv").read_bytes()  # 8 rows, cp1252
URL = "/imports/transparency"


@pytest.fixture()
def writer(make_org: Callable[..., str], make_key: Callable[[str, str], str]) -> tuple[str, dict[str, str]]:
    org = make_org()
    return org, auth_header(make_key(org, "writer"))


def upload(client: TestClient, org: str, data: bytes, headers: dict[str, str], **params: Any) -> Any:
    """POST the file as a browser form does: multipart with a ``file`` field."""
    return client.post(
        URL,
        params={"owner": org, **params},
        headers=headers,
        files={"file": ("assets.csv", data, "text/csv")},
    )


def count(engine: Engine, org: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM property WHERE owner = :org"), {"org": org}
        ).scalar_one()


def test_multipart_upload_imports_and_answers_201(client: TestClient, seeded: Engine, writer) -> None:
    org, headers = writer
    response = upload(client, org, BROMSGROVE, headers)
    assert response.status_code == 201, response.text
    body = response.json()
    summary = body["summary"]
    assert (summary["rows_read"], summary["inserted"], summary["rejected"]) == (13, 12, 1)
    assert summary["rejected_rows"] == [12] and summary["kept_without_location"] == 1
    assert summary["dry_run"] is False
    assert [(line["row"], line["action"]) for line in body["report"] if line["action"] == "rejected row"] == [
        (12, "rejected row"),
    ]
    assert count(seeded, org) == 12
    listed = client.get("/properties", params={"owner": org}, headers=headers).json()
    assert listed["count"] == 12


def test_raw_text_csv_body_imports(client: TestClient, seeded: Engine, writer) -> None:
    org, headers = writer
    response = client.post(
        URL,
        params={"owner": org},
        content=MALVERN,
        headers={**headers, "Content-Type": "text/csv; charset=windows-1252"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["summary"]["inserted"] == 8
    with seeded.connect() as conn:
        name = conn.execute(
            text("SELECT name FROM property WHERE owner = :o AND asset_ref = 'MHDC003'"), {"o": org}
        ).scalar_one()
    assert name == "St Ann\u2019s Well Caf\u00e9"


def test_uploading_the_same_file_again_answers_200_and_changes_nothing(
    client: TestClient,
    seeded: Engine,
    writer,
) -> None:
    org, headers = writer
    assert upload(client, org, BROMSGROVE, headers).status_code == 201
    before = register_fingerprint(seeded)
    again = upload(client, org, BROMSGROVE, headers)
    assert again.status_code == 200
    assert (again.json()["summary"]["unchanged"], again.json()["summary"]["updated"]) == (12, 0)
    assert register_fingerprint(seeded) == before


def test_dry_run_answers_200_and_writes_nothing(client: TestClient, seeded: Engine, writer) -> None:
    org, headers = writer
    before = register_fingerprint(seeded)
    response = upload(client, org, BROMSGROVE, headers, dry_run="true")
    assert response.status_code == 200
    summary = response.json()["summary"]
    assert summary["dry_run"] is True and summary["inserted"] == 12
    assert register_fingerprint(seeded) == before


def test_strict_with_rejected_rows_is_422_listing_them_and_writes_nothing(
    client: TestClient,
    seeded: Engine,
    writer,
) -> None:
    org, headers = writer
    before = register_fingerprint(seeded)
    response = upload(client, org, BROMSGROVE, headers, strict="true")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(12, "row")]
    assert "nothing was written" in body["detail"]
    assert body["summary"]["rejected_rows"] == [12] and len(body["report"]) == 13
    assert register_fingerprint(seeded) == before


def test_writer_of_another_org_is_403_and_nothing_is_written(
    client: TestClient,
    seeded: Engine,
    writer,
    make_org: Callable[..., str],
) -> None:
    _, headers = writer
    target = make_org()
    before = register_fingerprint(seeded)
    response = upload(client, target, BROMSGROVE, headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert register_fingerprint(seeded) == before


def test_reader_key_is_403(
    client: TestClient, make_org: Callable[..., str], make_key: Callable[[str, str], str]
) -> None:
    org = make_org()
    response = upload(client, org, BROMSGROVE, auth_header(make_key(org, "reader")))
    assert response.status_code == 403


def test_anonymous_is_401_and_nothing_is_written(
    client: TestClient, seeded: Engine, make_org: Callable[..., str]
) -> None:
    org = make_org()
    before = register_fingerprint(seeded)
    response = upload(client, org, BROMSGROVE, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert register_fingerprint(seeded) == before


def test_admin_key_imports_for_any_organisation(
    client: TestClient, seeded: Engine, make_org: Callable[..., str], make_key: Callable[[str, str], str]
) -> None:
    admin = auth_header(make_key(make_org(), "admin"))
    org = make_org()
    assert upload(client, org, BROMSGROVE, admin).status_code == 201
    assert count(seeded, org) == 12


def test_unknown_owner_is_422_naming_owner(
    client: TestClient, make_org: Callable[..., str], make_key: Callable[[str, str], str]
) -> None:
    admin = auth_header(make_key(make_org(), "admin"))
    response = upload(client, "no-such-council", BROMSGROVE, admin)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["owner"]


def test_missing_owner_parameter_is_422_naming_owner(client: TestClient, writer) -> None:
    _, headers = writer
    response = client.post(URL, headers=headers, files={"file": ("assets.csv", BROMSGROVE, "text/csv")})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["owner"]


def test_form_without_a_file_field_is_422_naming_file(client: TestClient, writer) -> None:
    org, headers = writer
    response = client.post(
        URL, params={"owner": org}, headers=headers, files={"upload": ("assets.csv", BROMSGROVE, "text/csv")}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["file"]


def test_file_that_is_not_a_transparency_csv_is_422_naming_file(client: TestClient, writer) -> None:
    org, headers = writer
    response = upload(client, org, b"Ward,Councillor\r\nAbbey,Smith\r\n", headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["file"]


def test_json_body_is_415(client: TestClient, writer) -> None:
    org, headers = writer
    response = client.post(URL, params={"owner": org}, headers=headers, json={"rows": []})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_size_limit_is_413_and_nothing_is_written(
    client: TestClient,
    app,
    seeded: Engine,
    writer,
    monkeypatch: pytest.MonkeyPatch,
    chunked: bool,
) -> None:
    org, headers = writer
    monkeypatch.setattr(app.state.settings, "max_body_bytes", 1024)
    assert len(BROMSGROVE) > 1024
    # Without a Content-Length the app's size check cannot see the body; the route counts it.
    content = iter([BROMSGROVE[:800], BROMSGROVE[800:]]) if chunked else BROMSGROVE
    response = client.post(
        URL, params={"owner": org}, content=content, headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 413
    assert count(seeded, org) == 0


def test_openapi_documents_both_upload_forms(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "text/csv"}
    assert {p["name"] for p in operation["parameters"]} >= {"owner", "dry_run", "strict"}


YEAR_ONE = (FIXTURES / "avon_vale_2022.csv").read_bytes()
YEAR_TWO = (FIXTURES / "avon_vale_2023.csv").read_bytes()


def live_count(engine: Engine, org: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM property WHERE owner = :org AND deleted_at IS NULL"), {"org": org}
        ).scalar_one()


def test_next_years_file_reconciles_and_answers_the_plan(client: TestClient, seeded: Engine, writer) -> None:
    org, headers = writer
    assert upload(client, org, YEAR_ONE, headers).status_code == 201

    held = upload(client, org, YEAR_TWO, headers)
    assert held.status_code == 201
    summary = held.json()["summary"]
    assert (summary["probable_held_back"], summary["not_in_file"], summary["retired"]) == (2, 1, 0)
    assert live_count(seeded, org) == 9
    plan = {line["asset_ref"]: line for line in held.json()["plan"]}
    assert plan["DEP-5"]["action"] == "held back" and plan["DEP-5"]["stored_ref"] == "PA-005"
    assert plan["DEP-5"]["match"] == "same UPRN" and 0 < plan["DEP-5"]["score"] < 1

    applied = upload(client, org, YEAR_TWO, headers, accept_probable="true", retire_missing="true")
    assert applied.status_code == 201
    summary = applied.json()["summary"]
    assert (summary["probable_applied"], summary["retired"], summary["inserted"]) == (2, 1, 0)
    assert live_count(seeded, org) == 8


def test_a_dry_run_with_retire_missing_retires_nothing(client: TestClient, seeded: Engine, writer) -> None:
    org, headers = writer
    upload(client, org, YEAR_ONE, headers)
    before = register_fingerprint(seeded)
    response = upload(
        client, org, YEAR_TWO, headers, dry_run="true", retire_missing="true", accept_probable="true"
    )
    assert response.status_code == 200
    assert response.json()["summary"]["retired"] == 1  # what a real run would retire
    assert register_fingerprint(seeded) == before
