"""Recorded sales beside the receipts forecast, and sale probabilities calibrated from outcomes."""

from __future__ import annotations

import datetime as dt

from support import auth_header, new_property

from api.auth import Principal
from api.db import write_transaction
from api.services import disposal
from api.services.properties import create_record
from gis.register import validate_property
from gis.visibility import Tier, Viewer

FAST = {"runs": 200}
TODAY = dt.date.today()


def _through_pipeline(engine, owner: str, rag: str, *, sell_for: int | None) -> str:
    """A building of ``owner`` taken to market, then sold for ``sell_for`` or withdrawn."""
    admin = Principal(Viewer(Tier.owner, admin=True), "admin", "test-admin")
    with write_transaction(engine, admin.actor) as conn:
        body = new_property(owner, rag=rag, rag_reason="test")
        pid = create_record(conn, validate_property(body, creating=True))["id"]
        disposal.transition(conn, pid, "under_review", admin)
        disposal.transition(conn, pid, "declared_surplus", admin)
        disposal.transition(conn, pid, "marketed", admin, note="test market")
        if sell_for is None:
            disposal.record_withdrawal(conn, pid, admin, to_stage="retained", effective_on=None, note="kept")
        else:
            disposal.transition(conn, pid, "under_offer", admin)
            disposal.record_sale(conn, pid, admin, completed_on=TODAY, gross_receipt_gbp=sell_for,
                                 disposal_costs_gbp=sell_for // 25, buyer_type="public_body")  # fmt: skip
    return pid


def _green(body: dict) -> dict:
    return next(g for g in body["calibration"]["groups"] if g["group"] == "rag" and g["key"] == "green")


def test_recorded_sales_appear_by_year_and_owner_beside_the_forecast(
    client, engine, make_org, make_key
) -> None:
    org = make_org()
    _through_pipeline(engine, org, "amber", sell_for=1_000_000)
    _through_pipeline(engine, org, "amber", sell_for=500_000)
    _through_pipeline(engine, org, "amber", sell_for=None)
    reader = auth_header(make_key(org, "reader"))
    body = client.post("/receipts/estimate", params={"owner": org}, json=FAST, headers=reader).json()
    actual = body["actual"]
    assert actual["sales"] == 2 and actual["gross_gbp"] == 1_500_000
    assert actual["costs_gbp"] == 60_000 and actual["net_gbp"] == 1_440_000
    assert actual["by_year_and_owner"] == [
        {"year": TODAY.year, "owner": org, "sales": 2, "gross_gbp": 1_500_000, "costs_gbp": 60_000,
         "net_gbp": 1_440_000},
    ]  # fmt: skip
    assert body["single_estate"]["counts"]["excluded_sold"] == 2  # sold ones leave the forecast
    assert body["calibration"] is None  # only when asked
    assert client.post("/receipts/estimate", json=FAST).status_code == 403


def test_calibration_follows_the_evidence_and_shows_its_sample(client, engine, make_org, make_key) -> None:
    reader = auth_header(make_key("worcestershire-cc", "reader"))

    def calibrated() -> dict:
        response = client.post("/receipts/estimate", params={"calibrate": "true"}, json=FAST, headers=reader)
        assert response.status_code == 200
        return response.json()

    org = make_org()
    start = _green(calibrated())
    # Enough green buildings withdrawn from the market to outweigh the 90% default...
    for _ in range(max(0, 20 - start["outcomes"])):
        _through_pipeline(engine, org, "green", sell_for=None)
    after_withdrawals = calibrated()
    green = _green(after_withdrawals)
    assert green["source"] == "calibrated" and green["outcomes"] >= 20
    assert green["probability"] < green["default_probability"]
    assert after_withdrawals["single_estate"]["assumptions"]["green_probability"] == green["probability"]
    assert "at least 20 outcomes" in after_withdrawals["calibration"]["rule"]
    # ...then sales move it back up.
    for _ in range(10):
        _through_pipeline(engine, org, "green", sell_for=100_000)
    after_sales = _green(calibrated())
    assert after_sales["outcomes"] == green["outcomes"] + 10
    assert after_sales["probability"] > green["probability"]
    # Groups with too few outcomes keep their defaults, and say so.
    red = next(g for g in after_withdrawals["calibration"]["groups"] if g["key"] == "red")
    assert red["source"] == "default" or red["outcomes"] >= 20
