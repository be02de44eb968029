"""The version-2 sections of the HTML report: inline SVG bar charts, each named and with its table."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from pathway.report import ClockFact, PathwayFact, build_report
from pathway.report_v2 import ExplanationFact, SarcomaEvent
from services.report_render import Bar, report_html, report_text, svg_bars

T0 = datetime(2026, 11, 6, 17, 30, tzinfo=UTC)  # a Friday evening, out of hours
H = timedelta(hours=1)


def _report() -> str:
    clocks = [
        ClockFact(
            "PW-AAAAAA",
            "suspected_mscc",
            "MRI-MSCC",
            "hour",
            T0,
            T0 + 24 * H,
            T0 + 30 * H,
            "breached",
            None,
        ),
        ClockFact(
            "PW-BBBBBB",
            "suspected_mscc",
            "HAEM-REFER",
            "hour",
            T0,
            T0 + 24 * H,
            T0 + H,
            "met",
            None,
        ),
    ]
    pathways = [
        PathwayFact(
            "PW-AAAAAA",
            "suspected_mscc",
            T0,
            sarcoma_events=(SarcomaEvent(T0, 0, "suspected"), SarcomaEvent(T0 + H, 0, "biopsy")),
        ),
        PathwayFact("PW-BBBBBB", "suspected_mscc", T0 + H),
    ]
    explanations = [
        ExplanationFact("PW-AAAAAA", "e1", T0 + 31 * H, "MRI-MSCC", "imaging_capacity", "imaging")
    ]
    report = build_report(
        clocks,
        pathways,
        period_start=date(2026, 11, 2),
        period_end=date(2026, 11, 8),
        as_of=T0 + 48 * H,
        timezone="Europe/London",
        explanations=explanations,
    )
    assert "breaches MRI-MSCC: 1 (1 explained, 0 unexplained): capacity 1" in report_text(report)
    return report_html(report)


def test_the_charts_are_inline_svg_without_script_or_external_resources() -> None:
    page = _report()

    charts = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(charts) == 5
    for chart in charts:
        assert 'role="img"' in chart
        assert re.search(
            r"<title id=\"c\w+-t\">[^<]+</title><desc id=\"c\w+-d\">[^<]+</desc>", chart
        )
    assert "<script" not in page.lower()
    # The only URL is the SVG namespace, which names and fetches nothing.
    urls = set(re.findall(r"https?://[^\"' )]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}


def test_each_chart_has_its_figures_in_a_table() -> None:
    page = _report()

    for caption in (
        "Breaches by roll-up (every clock)",
        "Referrals by weekday (busiest: Friday)",
        "By hour of day",
        "In hours against out of hours, by clock start",
    ):
        assert f"<caption>{caption}</caption>" in page
    assert "K-SARC-1" in page
    assert "biopsied before the review: PW-AAAAAA" in page
    assert "Referral to haematology within 24 h of the report" in page
    assert "imaging capacity 1" in page


def test_chart_text_is_escaped_and_axes_are_round() -> None:
    chart = svg_bars(
        [Bar("<b>", 7, "7 & more")],
        title="A & B",
        description="d",
        y_max=7,
        y_label="x",
    )

    assert "<b>" not in chart
    assert "&lt;b&gt;" in chart
    assert "A &amp; B" in chart
    # Seven fits under a top of 8 in steps of 2.
    assert re.findall(r'text-anchor="end">(\d+)</text>', chart) == ["0", "2", "4", "6", "8"]
