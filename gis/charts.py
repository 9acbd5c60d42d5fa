"""Charts of the receipts model, rendered off-screen with matplotlib's Agg backend."""

from __future__ import annotations

import io
from typing import Literal

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from gis.receipts import ReceiptsEstimate

__all__ = ["receipts_chart_title", "render_receipts_chart"]

_MODE_LABEL = {"single_estate": "Single estate", "silo": "Silo"}
_BAR = "#2b6cb0"
_BAND = "#90cdf4"
_SILO = "#c05621"


def receipts_chart_title(estimate: ReceiptsEstimate) -> str:
    """The chart's headline: expected net receipts and their P10–P90 range over the horizon."""
    net = estimate.net
    scenario = estimate.assumptions
    last_year = scenario.start_year + scenario.horizon_years - 1
    return (
        f"{_MODE_LABEL[scenario.mode]} capital receipts {scenario.start_year}–{last_year}: "
        f"expected net £{net.expected / 1e6:,.1f}m "
        f"(P10–P90 £{net.p10 / 1e6:,.1f}m–£{net.p90 / 1e6:,.1f}m)"
    )


def render_receipts_chart(
    estimate: ReceiptsEstimate,
    fmt: Literal["svg", "png"] = "svg",
    *,
    silo: ReceiptsEstimate | None = None,
) -> bytes:
    """Bars of expected net receipts per year with their P10–P90 band, in £m.

    ``silo`` adds its expected yearly net receipts as a line, to show what
    the single estate adds. SVG keeps its text as text, so it is searchable.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt must be 'svg' or 'png', not {fmt!r}")

    years = np.array([year.calendar_year for year in estimate.years])
    expected = np.array([year.expected_net for year in estimate.years]) / 1e6
    p10 = np.array([year.net_p10 for year in estimate.years]) / 1e6
    p90 = np.array([year.net_p90 for year in estimate.years]) / 1e6
    title = receipts_chart_title(estimate)

    # Deterministic output (no dates, fixed ids) so identical estimates give
    # identical bytes and can be cached or compared.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "shared-estate", "font.size": 10}):
        figure = Figure(figsize=(10, 5.5), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.bar(
            years,
            p90 - p10,
            bottom=p10,
            width=0.9,
            color=_BAND,
            alpha=0.6,
            label="P10–P90 of the year's net receipts",
            zorder=1,
        )
        axes.bar(years, expected, width=0.6, color=_BAR, label="Expected net receipts", zorder=2)
        if silo is not None:
            silo_years = [year.calendar_year for year in silo.years]
            silo_net = [year.expected_net / 1e6 for year in silo.years]
            axes.plot(
                silo_years,
                silo_net,
                color=_SILO,
                marker="o",
                linewidth=2,
                label=f"Silo: expected net (total £{silo.net.expected / 1e6:,.1f}m)",
                zorder=3,
            )
        axes.axhline(0, color="#4a5568", linewidth=0.8, zorder=2)
        axes.set_title(title, fontsize=12, loc="left", wrap=True)
        axes.set_xlabel("Year of sale")
        axes.set_ylabel("Net capital receipts (£m, real)")
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"£{value:,.0f}m"))
        axes.set_xticks(years)
        if len(years) > 15:
            axes.tick_params(axis="x", labelrotation=90)
        axes.grid(axis="y", color="#e2e8f0", zorder=0)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.legend(loc="upper right", frameon=False)

        buffer = io.BytesIO()
        if fmt == "svg":
            figure.savefig(buffer, format="svg", metadata={"Title": title, "Date": None})
        else:
            figure.savefig(buffer, format="png", metadata={"Title": title, "Software": None})
    return buffer.getvalue()
