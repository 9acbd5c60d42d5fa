"""docs/disposal.md's rules table says what gis/rag.py does: same rules, weights, thresholds."""

from __future__ import annotations

from pathlib import Path

from gis import rag

DOC = Path(__file__).resolve().parents[2] / "docs" / "disposal.md"


def test_the_documented_rules_table_matches_the_code():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- rules-table", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| `")]
    documented = [
        (
            cells[0].strip().strip("`"),
            cells[1].strip(),
            float(cells[2]),
            cells[3].strip(),
            cells[4].strip() == "yes",
        )
        for cells in rows
    ]
    coded = [
        (r.name, r.leaning, float(r.weight), "" if r.threshold is None else f"{r.threshold:g}", r.decisive)
        for r in rag.RULES
    ]
    assert documented == coded
    assert (
        f"score of **{rag.GREEN_AT:g} or more suggests green, {rag.RED_AT:g} or less red**".replace("-", "−")
        in text
    )
