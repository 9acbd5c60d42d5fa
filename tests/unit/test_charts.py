"""Charts of the receipts model (gis.charts)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from gis.charts import receipts_chart_title, render_receipts_chart
from gis.receipts import (
    EstateBuildings,
    ReceiptsEstimate,
    ReceiptsScenario,
    compare_single_estate_with_silo,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def comparison() -> dict[str, ReceiptsEstimate]:
    buildings = EstateBuildings.from_records(
        {
            "id": f"b{i}",
            "owner": "County" if i % 2 else "Wychavon",
            "town": "Worcester",
            "rag": ("green", "amber", "red")[i % 3],
            "value_gbp": 250_000.0 * (i + 1),
            "gia_m2": 300.0,
            "own_host_nearby": i % 4 == 0,
            "partner_host_nearby": True,
        }
        for i in range(30)
    )
    return compare_single_estate_with_silo(buildings, ReceiptsScenario(runs=300))


def test_svg_parses_as_xml_and_contains_the_title(
    comparison: dict[str, ReceiptsEstimate],
) -> None:
    estimate = comparison["single_estate"]

    svg = render_receipts_chart(estimate, "svg", silo=comparison["silo"])

    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert receipts_chart_title(estimate) in "".join(root.itertext())


def test_title_carries_the_headline(comparison: dict[str, ReceiptsEstimate]) -> None:
    estimate = comparison["single_estate"]

    title = receipts_chart_title(estimate)

    assert f"£{estimate.net.expected / 1e6:,.1f}m" in title
    assert f"P10–P90 £{estimate.net.p10 / 1e6:,.1f}m–£{estimate.net.p90 / 1e6:,.1f}m" in title


@pytest.mark.parametrize("with_silo", [False, True])
def test_png_starts_with_the_png_signature(comparison: dict[str, ReceiptsEstimate], with_silo: bool) -> None:
    silo = comparison["silo"] if with_silo else None

    png = render_receipts_chart(comparison["single_estate"], "png", silo=silo)

    assert png.startswith(PNG_SIGNATURE)


def test_same_estimate_gives_identical_svg(comparison: dict[str, ReceiptsEstimate]) -> None:
    estimate = comparison["single_estate"]

    assert render_receipts_chart(estimate, "svg") == render_receipts_chart(estimate, "svg")


def test_unknown_format_is_refused(comparison: dict[str, ReceiptsEstimate]) -> None:
    with pytest.raises(ValueError, match="fmt"):
        render_receipts_chart(comparison["single_estate"], "gif")  # type: ignore[arg-type]
