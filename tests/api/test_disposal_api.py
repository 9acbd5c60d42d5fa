"""The disposal pipeline over HTTP: transitions, blockers, partners' interest, outcomes, access."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from support import auth_header, new_property, register_fingerprint

from gis.disposal import interest_window_end

TODAY = dt.date.today()


@pytest.fixture()
def bodies(make_org, make_key):
    """An owner and two partner bodies, each with a writer key; the owner with a reader key too."""
    owner, partner, other = make_org("district"), make_org("police"), make_org("nhs_trust")
    return {
        "owner": owner,
        "partner": partner,
        "other": other,
        "owner_h": auth_header(make_key(owner, "writer")),
        "owner_reader_h": auth_header(make_key(owner, "reader")),
        "partner_h": auth_header(make_key(partner, "writer")),
        "other_h": auth_header(make_key(other, "writer")),
    }


def building(client, bodies, **fields) -> str:
    response = client.post(
        "/properties", json=new_property(bodies["owner"], **fields), headers=bodies["owner_h"]
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def move(client, pid, stage, headers, **body):
    return client.post(
        f"/properties/{pid}/disposal/transitions", json={"to_stage": stage, **body}, headers=headers
    )


def test_a_building_moves_through_the_pipeline_to_a_recorded_sale(client, bodies) -> None:
    pid = building(client, bodies, value_gbp=900_000)
    h = bodies["owner_h"]
    assert move(client, pid, "under_review", h, note="service moving to the hub").status_code == 200
    declared = move(client, pid, "declared_surplus", h).json()
    window = declared["interest_window"]
    assert window["opened_on"] == TODAY.isoformat() and window["working_days"] == 40
    assert window["ends_on"] == interest_window_end(TODAY, 40).isoformat()
    assert declared["allowed_transitions"] == ["marketed", "retained", "under_review"]

    early = move(client, pid, "marketed", h)
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "note"
    marketed = move(client, pid, "marketed", h, note="the buyer of the next-door site made an offer")
    assert marketed.status_code == 200
    assert marketed.json()["interest_window"] is None
    assert marketed.json()["windows"][0]["close_reason"] == "marketed_early"
    assert move(client, pid, "under_offer", h).status_code == 200

    sale = {
        "outcome": "sale",
        "completed_on": TODAY.isoformat(),
        "gross_receipt_gbp": 1_050_000,
        "disposal_costs_gbp": 42_000,
        "buyer_type": "registered_provider",
    }
    sold = client.post(f"/properties/{pid}/disposal/outcome", json=sale, headers=h)
    assert sold.status_code == 200, sold.text
    record = sold.json()
    assert record["stage"] == "sold" and record["allowed_transitions"] == []
    assert [t["to_stage"] for t in record["transitions"]] == [
        "under_review", "declared_surplus", "marketed", "under_offer", "sold",
    ]  # fmt: skip
    (outcome,) = record["outcomes"]
    assert outcome["net_receipt_gbp"] == 1_008_000 and outcome["buyer_type"] == "registered_provider"
    assert outcome["stages_reached"] == ["declared_surplus", "marketed", "under_offer"]
    assert client.get(f"/properties/{pid}", headers=h).json()["disposal_stage"] == "sold"

    # The history and the change feed carry each move, with its note.
    history = client.get(f"/properties/{pid}/history", headers=h).json()["changes"]
    moves = [c["transition"] for c in history if "transition" in c]
    assert [m["to_stage"] for m in moves] == [
        "under_review",
        "declared_surplus",
        "marketed",
        "under_offer",
        "sold",
    ]
    assert moves[0]["note"] == "service moving to the hub"
    feed = client.get("/changes", params={"owner": bodies["owner"], "limit": 1000}, headers=h).json()
    fed = [c["transition"]["to_stage"] for c in feed["changes"] if c.get("transition")]
    assert fed == ["under_review", "declared_surplus", "marketed", "under_offer", "sold"]


def test_the_public_sees_no_transition_in_the_feed(client, bodies) -> None:
    pid = building(client, bodies)
    move(client, pid, "under_review", bodies["owner_h"], note="internal: staff consultation")
    feed = client.get("/changes", params={"owner": bodies["owner"], "limit": 1000}).json()
    assert feed["changes"] and not any("transition" in c for c in feed["changes"])
    assert "staff consultation" not in str(feed)


def test_an_invalid_transition_is_a_422_naming_the_allowed_ones_and_changes_nothing(
    client, bodies, engine
) -> None:
    pid = building(client, bodies)
    before = register_fingerprint(engine)
    response = move(client, pid, "marketed", bodies["owner_h"])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["allowed"] == ["under_review"]
    assert body["errors"][0]["field"] == "to_stage" and "under_review" in body["errors"][0]["message"]
    assert register_fingerprint(engine) == before


def test_sold_only_through_a_recorded_sale(client, bodies) -> None:
    pid = building(client, bodies)
    for stage in ("under_review", "declared_surplus"):
        move(client, pid, stage, bodies["owner_h"])
    move(client, pid, "marketed", bodies["owner_h"], note="agreed with partners")
    move(client, pid, "under_offer", bodies["owner_h"])
    response = move(client, pid, "sold", bodies["owner_h"])
    assert response.status_code == 422 and "outcome" in response.json()["errors"][0]["message"]
    missing = client.post(
        f"/properties/{pid}/disposal/outcome", json={"outcome": "sale"}, headers=bodies["owner_h"]
    )
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {
        "completed_on", "gross_receipt_gbp", "disposal_costs_gbp", "buyer_type",
    }  # fmt: skip
    future = {"outcome": "sale", "completed_on": (TODAY + dt.timedelta(days=3)).isoformat(),
              "gross_receipt_gbp": 1, "disposal_costs_gbp": 0, "buyer_type": "private"}  # fmt: skip
    response = client.post(f"/properties/{pid}/disposal/outcome", json=future, headers=bodies["owner_h"])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "completed_on"


def test_withdrawal_from_the_market_is_an_outcome(client, bodies) -> None:
    pid = building(client, bodies, rag="green", rag_reason="vacant")
    for stage in ("under_review", "declared_surplus"):
        move(client, pid, stage, bodies["owner_h"])
    body = {"outcome": "withdrawal", "to_stage": "retained", "note": "needed for the new hub"}
    record = client.post(f"/properties/{pid}/disposal/outcome", json=body, headers=bodies["owner_h"]).json()
    assert record["stage"] == "retained"
    (outcome,) = record["outcomes"]
    assert outcome["kind"] == "withdrawal" and outcome["rag_at_outcome"] == "green"
    assert outcome["stages_reached"] == ["declared_surplus"]
    assert record["windows"][0]["close_reason"] == "withdrawn"
    # Once back in the estate there is nothing to withdraw.
    again = client.post(f"/properties/{pid}/disposal/outcome", json=body, headers=bodies["owner_h"])
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "outcome"


def test_only_an_editor_of_the_owner_or_an_admin_moves_a_building(client, bodies, make_key) -> None:
    pid = building(client, bodies)
    assert move(client, pid, "under_review", {}).status_code == 401
    assert move(client, pid, "under_review", bodies["owner_reader_h"]).status_code == 403
    assert move(client, pid, "under_review", bodies["partner_h"]).status_code == 403
    admin = auth_header(make_key(bodies["other"], "admin"))
    assert move(client, pid, "under_review", admin).status_code == 200


def test_blockers_are_added_and_cleared_with_dates(client, bodies) -> None:
    pid = building(client, bodies)
    url = f"/properties/{pid}/disposal/blockers"
    week_ago = (TODAY - dt.timedelta(days=7)).isoformat()
    added = client.post(url, json={"add": ["title", "planning"], "effective_on": week_ago,
                                   "note": "covenant on the deeds"}, headers=bodies["owner_h"])  # fmt: skip
    assert added.status_code == 200, added.text
    assert added.json()["current_blockers"] == ["planning", "title"]
    cleared = client.post(url, json={"clear": ["title"]}, headers=bodies["owner_h"]).json()
    assert cleared["current_blockers"] == ["planning"]
    title = next(b for b in cleared["blockers"] if b["blocker"] == "title")
    assert title["added_on"] == week_ago and title["cleared_on"] == TODAY.isoformat()
    assert title["added_note"] == "covenant on the deeds"
    assert client.get(f"/properties/{pid}", headers=bodies["owner_h"]).json()["disposal_blockers"] == [
        "planning"
    ]
    bad = client.post(url, json={"clear": ["lease"], "add": ["planning"]}, headers=bodies["owner_h"])
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"add", "clear"}
    assert client.post(url, json={"add": ["lease"]}, headers=bodies["partner_h"]).status_code == 403


def test_partners_register_interest_the_owner_sees_all_the_public_none(client, bodies) -> None:
    pid = building(client, bodies)
    interest_url = f"/properties/{pid}/disposal/interest"
    offer = {"service": "neighbourhood policing team", "floor_area_m2": 240.0}
    # Not yet surplus: no window to register in.
    assert client.post(interest_url, json=offer, headers=bodies["partner_h"]).status_code == 409
    move(client, pid, "under_review", bodies["owner_h"])
    move(client, pid, "declared_surplus", bodies["owner_h"])

    created = client.post(interest_url, json=offer, headers=bodies["partner_h"])
    assert created.status_code == 201, created.text
    assert created.json()["org"] == bodies["partner"]
    other_offer = {"service": "community mental health clinic", "floor_area_m2": 400}
    assert client.post(interest_url, json=other_offer, headers=bodies["other_h"]).status_code == 201
    assert (
        client.post(interest_url, json=offer, headers=bodies["partner_h"]).status_code == 409
    )  # once a window
    assert client.post(interest_url, json=offer, headers=bodies["owner_h"]).status_code == 403  # not its own
    assert client.post(interest_url, json=offer).status_code == 401
    bad = client.post(interest_url, json={"service": "", "floor_area_m2": -5}, headers=bodies["partner_h"])
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {
        "service",
        "floor_area_m2",
    }

    seen_by_owner = client.get(f"/properties/{pid}/disposal", headers=bodies["owner_reader_h"]).json()
    assert sorted(i["org"] for i in seen_by_owner["interest"]) == sorted([bodies["partner"], bodies["other"]])
    seen_by_partner = client.get(f"/properties/{pid}/disposal", headers=bodies["partner_h"]).json()
    assert [i["org"] for i in seen_by_partner["interest"]] == [bodies["partner"]]
    assert seen_by_partner["interest_window"]["open_for_interest"] is True
    public = client.get(f"/properties/{pid}/disposal")
    assert public.status_code == 403
    assert "neighbourhood policing" not in public.text


def test_a_window_that_has_ended_is_closed_and_takes_no_more_interest(client, bodies, engine) -> None:
    from api.db import write_transaction
    from api.services.disposal import close_due_windows

    pid = building(client, bodies)
    long_ago = TODAY - dt.timedelta(days=120)
    move(
        client,
        pid,
        "under_review",
        bodies["owner_h"],
        effective_on=(long_ago - dt.timedelta(days=1)).isoformat(),
    )
    declared = move(
        client, pid, "declared_surplus", bodies["owner_h"], effective_on=long_ago.isoformat()
    ).json()
    ends_on = declared["interest_window"]["ends_on"]
    assert ends_on < TODAY.isoformat()
    offer = {"service": "fire prevention office", "floor_area_m2": 90}
    late = client.post(f"/properties/{pid}/disposal/interest", json=offer, headers=bodies["partner_h"])
    assert late.status_code == 409 and ends_on in late.json()["detail"]
    with write_transaction(engine, "test-worker") as conn:
        assert close_due_windows(conn, TODAY) >= 1
    record = client.get(f"/properties/{pid}/disposal", headers=bodies["owner_h"]).json()
    assert record["interest_window"] is None
    assert record["windows"][0]["closed_on"] == ends_on and record["windows"][0]["close_reason"] == "ended"
    # Marketing after the window needs no reason.
    assert move(client, pid, "marketed", bodies["owner_h"]).status_code == 200


def test_window_end_across_christmas_through_the_api(client, bodies) -> None:
    pid = building(client, bodies)
    move(client, pid, "under_review", bodies["owner_h"], effective_on="2025-12-01")
    declared = move(client, pid, "declared_surplus", bodies["owner_h"], effective_on="2025-12-22").json()
    # Monday 22 December 2025: Christmas, Boxing Day, New Year's Day and six weekends fall in
    # the 40 working days, which end on Thursday 19 February 2026.
    assert declared["interest_window"]["ends_on"] == "2026-02-19"


def test_dates_must_not_go_backwards_or_into_the_future(client, bodies) -> None:
    pid = building(client, bodies)
    move(client, pid, "under_review", bodies["owner_h"], effective_on="2026-01-10")
    back = move(client, pid, "declared_surplus", bodies["owner_h"], effective_on="2026-01-09")
    assert back.status_code == 422 and back.json()["errors"][0]["field"] == "effective_on"
    ahead = move(client, pid, "declared_surplus", bodies["owner_h"],
                 effective_on=(TODAY + dt.timedelta(days=1)).isoformat())  # fmt: skip
    assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "effective_on"


def test_a_rejected_move_writes_no_event(client, bodies, engine) -> None:
    pid = building(client, bodies)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM webhook_event")).scalar_one()
    assert move(client, pid, "declared_surplus", bodies["owner_h"]).status_code == 422
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_event")).scalar_one() == before
