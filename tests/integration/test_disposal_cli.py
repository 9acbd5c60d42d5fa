"""estate rag review, estate disposal …, estate webhooks deliver, estate receipts --calibrate."""

from __future__ import annotations

import datetime as dt

from support import new_property, words


def test_rag_review_prints_the_disagreements(cli, seeded) -> None:
    result = cli("rag", "review", "--limit", "3", "--owner", "worcestershire-cc")
    assert result.exit_code == 0, result.output
    assert "differ from the suggestion" in result.output


def test_a_building_declared_surplus_and_sold_from_the_shell(cli, engine, make_org) -> None:
    from api.db import write_transaction
    from api.services.properties import create_record
    from gis.register import validate_property

    org = make_org()
    with write_transaction(engine, "test") as conn:
        pid = create_record(conn, validate_property(new_property(org), creating=True))["id"]
    assert cli("disposal", "transition", pid, "under_review", "--note", "review").exit_code == 0
    declared = cli("disposal", "declare-surplus", pid)
    assert declared.exit_code == 0 and "partners may register interest until" in words(declared.output)
    bad = cli("disposal", "transition", pid, "sold")
    assert bad.exit_code == 1 and "allowed: marketed, retained, under_review" in words(bad.output)
    assert (
        cli("disposal", "transition", pid, "marketed", "--note", "urgent: site needed for housing").exit_code
        == 0
    )
    assert cli("disposal", "transition", pid, "under_offer").exit_code == 0
    sold = cli("disposal", "record-sale", pid, "--completed-on", dt.date.today().isoformat(),
               "--gross-receipt-gbp", "750000", "--disposal-costs-gbp", "30000", "--buyer-type", "private")  # fmt: skip
    assert sold.exit_code == 0, sold.output
    assert "sold" in sold.output
    shown = cli("disposal", "show", pid)
    assert '"gross_receipt_gbp": 750000' in shown.output
    delivered = cli("webhooks", "deliver")
    assert delivered.exit_code == 0 and "deliveries attempted" in delivered.output
    receipts = cli("receipts", "--runs", "200", "--calibrate")
    assert receipts.exit_code == 0, receipts.output
    said = words(receipts.output)
    assert "Recorded to date" in said and "calibrated from recorded outcomes" in said
