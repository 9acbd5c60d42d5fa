"""Capital receipts over the seeded register: API, chart and CLI."""

from __future__ import annotations

import pytest
from support import auth_header, words
from typer.testing import CliRunner

FAST = {"runs": 500}


@pytest.fixture(scope="module")
def reader(make_key) -> dict[str, str]:
    return auth_header(make_key("worcestershire-cc", "reader"))


def test_default_estimate_shows_single_estate_beating_silo(client, reader) -> None:
    body = client.get("/receipts/estimate", headers=reader).json()
    single, silo = body["single_estate"], body["silo"]
    assert single["net"]["expected"] >= silo["net"]["expected"] > 0
    assert single["net"]["p10"] <= single["net"]["p50"] <= single["net"]["p90"]
    assert body["difference"]["additional_releasable"] > 0
    assert (
        single["assumptions"]["discount_rate"] == 0.035
        and single["assumptions"]["disposal_cost_rate"] == 0.04
    )
    assert (
        len(single["years"]) == 10 and single["by_owner"] and single["by_town"] and single["top_contributors"]
    )


def test_changing_one_assumption_moves_the_estimate(client, reader) -> None:
    base = client.post("/receipts/estimate", json=FAST, headers=reader).json()["single_estate"]
    costly = client.post(
        "/receipts/estimate", json={**FAST, "disposal_cost_rate": 0.10}, headers=reader
    ).json()["single_estate"]
    assert costly["gross"]["expected"] == base["gross"]["expected"]
    assert costly["net"]["expected"] < base["net"]["expected"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"discount_rate": -0.01}, "discount_rate"),
        ({"green_probability": 1.5}, "green_probability"),
        ({"runs": 0}, "runs"),
        ({"amber_first_year": 6, "amber_last_year": 2}, "amber_first_year"),
        ({"market_volatility_pa": "high"}, "market_volatility_pa"),
    ],
)
def test_impossible_scenarios_are_422_naming_the_field(client, reader, body, field) -> None:
    response = client.post("/receipts/estimate", json=body, headers=reader)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def test_public_callers_cannot_add_up_valuations(client) -> None:
    assert client.get("/receipts/estimate").status_code == 403


def test_openapi_shows_scenario_defaults(client) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ReceiptsScenario"]["properties"]
    assert schema["discount_rate"]["default"] == 0.035 and schema["disposal_cost_rate"]["default"] == 0.04


@pytest.mark.parametrize(
    ("fmt", "magic", "media"), [("svg", b"<svg", "image/svg+xml"), ("png", b"\x89PNG", "image/png")]
)
def test_chart_endpoint(client, reader, fmt, magic, media) -> None:
    response = client.post(f"/receipts/chart.{fmt}", json=FAST, headers=reader)
    assert response.status_code == 200 and response.headers["content-type"] == media
    assert magic in response.content[:300]


def test_cli_prints_the_summary_and_writes_the_chart(db_url, monkeypatch, tmp_path) -> None:
    from api import db, settings
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        runner = CliRunner()
        chart = tmp_path / "receipts.svg"
        result = runner.invoke(
            app,
            ["receipts", "--runs", "300", "--chart", str(chart)],
            catch_exceptions=False,
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        said = words(result.output)
        assert "single estate adds" in said and "silo" in said
        assert chart.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
        bad = runner.invoke(app, ["receipts", "--discount-rate", "-1"])
        assert bad.exit_code == 1 and "discount_rate" in bad.output
    finally:
        settings.get_settings.cache_clear()
        db.get_engine.cache_clear()
