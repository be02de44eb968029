"""Rendering of the performance report and the pathway timeline: text, CSV, HTML and PNG charts.

Charts use matplotlib's Agg backend (no display); HTML comes from ``templates/reports/*.j2``
with the charts embedded as data URIs, so one file can be mailed or printed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup, escape

from db.private import create_private, private_folder
from pathway.alerts import CATEGORY_WORDS
from pathway.report import CLOCK_MEASURES, STANDARDS, ClockFact, PerformanceReport, status_at
from pathway.report_v2 import IN_HOURS_FROM, IN_HOURS_UNTIL, WEEKDAYS, Cell
from services.audit_report import Timeline, TimelineClock
from services.templating import template_environment

STATUS_COLOURS = {
    "met": "#2e7d32",
    "breached": "#c62828",
    "excluded": "#9e9e9e",
    "running": "#f9a825",
}
CHART_CLOCKS = ("MRI-MSCC", "STEROID-MSCC", "RT-24H", "MRI-METS", "CWT-FDS", "CWT-31", "CWT-62")
"""The clocks of the headline measures, one panel each in the weekly compliance chart."""


def local(moment: datetime | None, timezone: str) -> str:
    """A moment as the service reads it: ``2026-11-24 09:00`` in the service time zone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def duration(hours: float | None, kind: str = "hour") -> str:
    """Hours for hour clocks, days for day clocks ("-" when there is nothing to show)."""
    if hours is None:
        return "-"
    if kind == "day":
        return f"{hours / 24:.1f} d"
    return f"{hours:.1f} h"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def category(value: str) -> str:
    """A category in words: ``suspected_mscc`` is "suspected MSCC"."""
    return CATEGORY_WORDS.get(value, value.replace("_", " "))


def clock_status(clock: TimelineClock, as_of: datetime) -> str:
    """The status of a clock at ``as_of`` in words: "breached (still running)", "met"..."""
    fact = ClockFact(
        "",
        "",
        clock.clock_id,
        clock.kind,
        clock.starts_at,
        clock.due_at,
        clock.stopped_at,
        clock.status,
        clock.reason,
    )
    status = status_at(fact, as_of).value
    if clock.stopped_at is None or clock.stopped_at > as_of:
        return status if status == "running" else f"{status} (still running)"
    return status


def due_text(clock: TimelineClock, timezone: str) -> str:
    """When a clock is due: the time for hour clocks, the due date for day clocks.

    A day clock's ``due_at`` is the first instant after its due date (midnight in the service
    zone), so "due 23 Nov 00:00" reads as the end of 22 November.
    """
    if clock.kind != "day":
        return local(clock.due_at, timezone)
    last_day = clock.due_at.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)
    return f"{last_day} (end of day)"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # The whole templates tree: the report templates name theirs ``reports/...``.
    return template_environment(
        "",
        html=True,
        keep_trailing_newline=True,
        filters={"duration": duration, "percent": percent, "category": category},
    )


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def timeline_png(timeline: Timeline, timezone: str) -> bytes:
    """A Gantt chart: one bar per clock from start to stop (or to now), its due time marked.

    Hour clocks and day clocks get their own panel and time axis, so a one-hour clock is not
    lost beside a 62-day one. Each clock's status as of the timeline is written in a column
    right of the bars, in its colour.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    groups = [
        (kind, title, [c for c in timeline.clocks if c.kind == kind])
        for kind, title in (
            ("hour", "hour clocks (elapsed hours)"),
            ("day", "day clocks (calendar days; due at midnight after the due date)"),
        )
    ]
    groups = [group for group in groups if group[2]] or [("hour", "clocks", [])]
    heights = [max(1.2, 0.5 * len(clocks) + 0.6) for _, _, clocks in groups]
    figure, axes_list = plt.subplots(
        len(groups),
        1,
        figsize=(11, sum(heights) + 1.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for (kind, title, clocks), axes in zip(groups, axes_list[:, 0], strict=True):
        _gantt(axes, list(reversed(clocks)), timeline.as_of, timezone, kind)
        axes.set_title(title, fontsize=10, loc="left")
    figure.suptitle(
        f"Clocks of {timeline.pathway_id} ({category(timeline.category)}, {timeline.status}) "
        f"as of {local(timeline.as_of, timezone)} ({timezone})"
    )
    handles: list[Any] = [
        Patch(color=colour, label=name) for name, colour in STATUS_COLOURS.items()
    ]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="still running"))
    handles.append(Line2D([], [], color="black", linewidth=2.5, label="due time"))
    figure.legend(handles=handles, loc="lower center", ncol=6, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return _png(figure)


def _gantt(
    axes: Any, clocks: list[TimelineClock], as_of: datetime, timezone: str, kind: str
) -> None:
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.transforms import blended_transform_factory

    zone = ZoneInfo(timezone)
    # The status column sits just right of the plot, in axes coordinates across and data
    # coordinates down: never over a bar or a due tick, never cut off.
    column = blended_transform_factory(axes.transAxes, axes.transData)
    for row, clock in enumerate(clocks):
        shown = clock_status(clock, as_of)
        status = shown.split(" ")[0]
        end = (
            clock.stopped_at
            if clock.stopped_at is not None and clock.stopped_at <= as_of
            else as_of
        )
        still_running = shown == "running" or shown.endswith("(still running)")
        start = clock.starts_at.astimezone(zone)
        finish = end.astimezone(zone)
        axes.barh(
            row,
            finish - start,
            left=start,
            height=0.5,
            color=STATUS_COLOURS.get(status, "#607d8b"),
            edgecolor="black" if still_running else "none",
            hatch="//" if still_running else None,
        )
        due = clock.due_at.astimezone(zone)
        axes.plot([due, due], [row - 0.4, row + 0.4], color="black", linewidth=2.5)
        label = shown + (f": {clock.reason.replace('_', ' ')}" if clock.reason else "")
        axes.text(
            1.01,
            row,
            label,
            transform=column,
            va="center",
            fontsize=8.5,
            color=STATUS_COLOURS.get(status, "#1a1a1a"),
            fontweight="bold",
        )
    axes.set_yticks(range(len(clocks)))
    axes.set_yticklabels([f"{c.clock_id} ({c.limit})" for c in clocks])
    # Day ticks evenly spaced (multiples restart each month and crowd its turn) and without
    # a time of day; hour ticks on round hours.
    locator = AutoDateLocator(tz=zone, minticks=4, maxticks=9, interval_multiples=kind == "hour")  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    pattern = "%d %b" if kind == "day" else "%d %b\n%H:%M"
    axes.xaxis.set_major_formatter(DateFormatter(pattern, tz=zone))  # type: ignore[no-untyped-call]
    axes.grid(axis="x", linestyle=":", alpha=0.6)
    axes.margins(x=0.03, y=0.25)


def timeline_html(timeline: Timeline, timezone: str) -> str:
    """The timeline as one printable HTML page with its Gantt chart."""
    chart = _data_uri(timeline_png(timeline, timezone)) if timeline.clocks else None
    return (
        _environment()
        .get_template("reports/timeline.html.j2")
        .render(
            timeline=timeline,
            chart=chart,
            timezone=timezone,
            local=local,
            clock_status=clock_status,
            due_text=due_text,
        )
    )


def report_weeks(start: date, end: date) -> list[date]:
    """The Mondays of the weeks that overlap the days ``start`` to ``end``."""
    monday = start - timedelta(days=start.weekday())
    return [monday + timedelta(weeks=n) for n in range((end - monday).days // 7 + 1)]


def compliance_chart(report: PerformanceReport) -> bytes:
    """Percentage met per week, one panel per headline clock, with its counts and target.

    A bar is green when it reaches the national target, red when it does not, blue when the
    standard sets no percentage; each says how many clocks it counts (met of decided). Weeks
    only partly inside the period are hatched.
    """
    plt = _pyplot()
    weeks = report_weeks(report.period_start, report.period_end)
    partial = {
        w for w in weeks if w < report.period_start or w + timedelta(days=6) > report.period_end
    }
    decided = {w.clock_id for w in report.weekly if w.decided}
    clocks = [c for c in CHART_CLOCKS if c in decided]
    columns = min(4, max(1, len(clocks)))
    rows = max(1, math.ceil(len(clocks) / columns))
    figure, grid = plt.subplots(
        rows, columns, figsize=(11, 2.6 * rows + 1.0), sharey=True, squeeze=False
    )
    labelled = len(weeks) <= 8
    step = max(1, math.ceil(len(weeks) / 5))
    for axes, clock_id in zip(grid.flat, clocks, strict=False):
        cells = {w.week: w for w in report.weekly if w.clock_id == clock_id}
        standard = STANDARDS.get(clock_id)
        target = standard.target if standard else None
        for x, week in enumerate(weeks):
            cell = cells.get(week)
            if cell is None or cell.percent is None:
                if labelled:
                    axes.text(x, 2, "none", ha="center", fontsize=7, color="#777")
                continue
            colour = (
                "#1565c0"
                if target is None
                else ("#2e7d32" if cell.percent >= target * 100 else "#c62828")
            )
            axes.bar(
                x,
                cell.percent,
                width=0.7,
                color=colour,
                alpha=0.55 if week in partial else 1.0,
                hatch="//" if week in partial else None,
                edgecolor="white",
            )
            if labelled:
                axes.text(
                    x, cell.percent + 2, f"{cell.met}/{cell.decided}", ha="center", fontsize=7
                )
        name = f"{clock_id} ({standard.kpi})" if standard else clock_id
        if target is not None:
            axes.axhline(target * 100, color="black", linestyle="--", linewidth=1)
            name += f", target {target:.0%} (dashed)"
        axes.set_title(name, fontsize=9, loc="left")
        axes.set_ylim(0, 112)
        axes.set_yticks([0, 25, 50, 75, 100])
        axes.set_xlim(-0.6, len(weeks) - 0.4)
        axes.set_xticks(range(0, len(weeks), step))
        axes.set_xticklabels([w.strftime("%d %b") for w in weeks[::step]], fontsize=8)
        axes.grid(axis="y", linestyle=":", alpha=0.6)
    for axes in list(grid.flat)[len(clocks) :]:
        axes.set_visible(False)
    if not clocks:
        grid[0][0].set_visible(True)
        grid[0][0].text(0.5, 0.5, "no clock was decided in this period", ha="center")
        grid[0][0].set_axis_off()
    figure.supylabel("% met of decided", fontsize=9)
    figure.supxlabel(
        "week starting Monday (clocks counted in the week they started; hatched: partly "
        "outside the period)",
        fontsize=9,
    )
    figure.tight_layout()
    return _png(figure)


def mri_chart(report: PerformanceReport) -> bytes:
    """Distribution of time to MRI: hours for suspected MSCC, days for suspected metastases."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    # Longer waits are drawn in the last bar (72 h or more; 21 days or more).
    mscc = [min(h, 73.5) for h in report.times_to_stop.get("MRI-MSCC", [])]
    mets = [min(h / 24, 21.5) for h in report.times_to_stop.get("MRI-METS", [])]
    left.hist(mscc, bins=[*range(0, 76, 3)], color="#1565c0", edgecolor="white")
    left.axvline(24, color="#c62828", linestyle="--")
    left.text(24.5, left.get_ylim()[1] * 0.9, "24 h limit", color="#c62828", fontsize=8)
    left.set_title(f"Suspected MSCC: hours to MRI (n={len(mscc)})")
    left.set_xlabel("hours from referral (last bar: 72 h or more)")
    left.set_ylabel("pathways")
    right.hist(mets, bins=[*range(23)], color="#6a1b9a", edgecolor="white")
    # The 7-day limit is calendar days: due by midnight after day 7, which is 7 to 8 days
    # after the referral depending on its hour. Inside the band an MRI may be on time or not.
    right.axvspan(7, 8, color="#c62828", alpha=0.15, linewidth=0)
    right.axvline(8, color="#c62828", linestyle="--")
    right.text(
        8.2,
        right.get_ylim()[1] * 0.9,
        "7-day limit\n(end of day 7: 7-8 days\nafter referral)",
        color="#c62828",
        fontsize=8,
        va="top",
    )
    right.set_title(f"Suspected metastases: days to MRI (n={len(mets)})")
    right.set_xlabel("days from referral (last bar: 21 days or more)")
    figure.tight_layout()
    return _png(figure)


def report_html(report: PerformanceReport) -> str:
    """The printable performance report with its charts."""
    return (
        _environment()
        .get_template("reports/performance.html.j2")
        .render(
            report=report,
            compliance=_data_uri(compliance_chart(report)),
            mri=_data_uri(mri_chart(report)),
            local=local,
            standards=STANDARDS,
            measures=CLOCK_MEASURES,
            times=time_charts(report),
            breach_chart=breach_chart(report),
            weekdays=WEEKDAYS,
        )
    )


def report_text(report: PerformanceReport) -> str:
    """A plain summary for the terminal."""
    lines = [
        f"Performance {report.period_start} to {report.period_end} "
        f"(as of {local(report.as_of, report.timezone)}, {report.timezone})",
        "pathways: " + ", ".join(f"{k} {v}" for k, v in report.pathways.items()),
        "",
        f"{'KPI':<5} {'measure':<52} {'met':>9} {'%':>8} {'target':>7}",
    ]
    for k in report.kpis:
        target = f"{k.target:.0%}" if k.target is not None else "-"
        lines.append(
            f"{k.id:<5} {k.title:<52} {k.numerator:>4}/{k.denominator:<4} {percent(k.percent):>8} {target:>7}"
        )
    lines += [
        "",
        f"{'clock':<13} {'category':<28} {'start':>6} {'met':>5} {'brch':>5} {'excl':>5} {'run':>5} {'% met':>8} {'median':>8} {'p90':>8}",
    ]
    for c in report.clocks:
        lines.append(
            f"{c.clock_id:<13} {c.category:<28} {c.started:>6} {c.met:>5} {c.breached:>5} "
            f"{c.excluded:>5} {c.running:>5} {percent(c.percent_met):>8} "
            f"{duration(c.median_hours, c.kind):>8} {duration(c.p90_hours, c.kind):>8}"
        )
    a = report.ambulatory
    y = report.mri_yield
    lines += [
        "",
        f"K10 ambulatory (paired n={a.paired}): at referral {a.ambulatory_at_referral}, after "
        f"treatment {a.ambulatory_after_treatment}; improved {a.improved}, unchanged "
        f"{a.unchanged}, worse {a.worse}",
        f"K14 MRI yield: {y.mri_scans} MRIs in {y.pathways_scanned} pathways, {y.mscc_confirmed} "
        f"MSCC confirmed ({percent(y.percent_confirmed)}), {y.scans_per_confirmed} MRIs per MSCC",
        f"breaches: {len(report.breaches)}",
    ]
    if a.outcomes_out_of_window:
        lines.append(
            f"K10 leaves out {a.outcomes_out_of_window} outcomes recorded outside their window"
        )
    for r in report.breach_reasons:
        rolled = ", ".join(f"{k} {v}" for k, v in r.by_roll_up.items())
        lines.append(
            f"breaches {r.clock_id}: {r.breached} ({r.explained} explained, "
            f"{r.unexplained} unexplained): {rolled}"
        )
    t = report.times
    if t.busiest_weekday is not None:
        lines.append(
            "referrals by weekday (Mon-Sun): "
            + " ".join(str(n) for n in t.referrals_by_weekday)
            + f"; busiest {t.busiest_weekday}; in hours {t.referrals_in_hours}, out of hours "
            f"{t.referrals_out_of_hours}"
        )
    lines.append(
        f"clocks met in hours {percent(t.compliance_in_hours.percent)} "
        f"({t.compliance_in_hours.met}/{t.compliance_in_hours.decided}), out of hours "
        f"{percent(t.compliance_out_of_hours.percent)} "
        f"({t.compliance_out_of_hours.met}/{t.compliance_out_of_hours.decided})"
    )
    return "\n".join(lines)


def report_csv(report: PerformanceReport, folder: Path) -> list[Path]:
    """clocks.csv, kpis.csv, breaches.csv and weekly.csv in ``folder``."""
    private_folder(folder)
    document = report.as_dict()
    tables: dict[str, list[dict[str, Any]]] = {
        "clocks": [
            {
                **row,
                "excluded_by_reason": "; ".join(
                    f"{k}={v}" for k, v in row["excluded_by_reason"].items()
                ),
            }
            for row in document["clocks"]
        ],
        "kpis": document["kpis"],
        "breaches": document["breaches"],
        "weekly": document["weekly"],
    }
    written = []
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        create_private(path)  # the breaches table lists references
        with path.open("w", newline="", encoding="utf-8") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        written.append(path)
    return written


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of an SVG chart: its axis label, height, the text above it and its colour."""

    label: str
    value: float
    text: str
    colour: str = "#1565c0"


def svg_bars(
    bars: list[Bar],
    *,
    title: str,
    description: str,
    y_max: float,
    y_label: str,
    target: float | None = None,
    width: int = 560,
    height: int = 220,
) -> Markup:
    """A bar chart as inline SVG: no script, no external resource, readable by screen readers.

    ``role="img"`` with a ``<title>`` and a ``<desc>`` names it; the figures themselves are in
    the table the template puts beside every chart, so nothing is only in the picture.
    """
    left, right, top, bottom = 40, 8, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    scale, step = (100, 25) if y_max == 100 else _axis(y_max)
    slot = plot_w / max(1, len(bars))
    ident = "c" + hashlib.sha1(title.encode()).hexdigest()[:8]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="bars" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(description)}</desc>',
        f'<text x="{left}" y="14" class="ct">{escape(title)}</text>',
    ]
    for tick in range(0, scale + 1, step):
        y = top + plot_h - tick / scale * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" class="ax" text-anchor="end">{tick}</text>'
        )
    labelled_every = max(1, math.ceil(len(bars) / 24))
    for n, bar in enumerate(bars):
        h = plot_h * min(bar.value, scale) / scale
        x = left + n * slot + slot * 0.12
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.76:.1f}" height="{h:.1f}" '
            f'fill="{bar.colour}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
        )
        centre = x + slot * 0.38
        if bar.text and len(bars) <= 12:
            parts.append(
                f'<text x="{centre:.1f}" y="{y - 3:.1f}" class="vl" text-anchor="middle">'
                f"{escape(bar.text)}</text>"
            )
        if n % labelled_every == 0:
            parts.append(
                f'<text x="{centre:.1f}" y="{top + plot_h + 13}" class="ax" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    if target is not None:
        y = top + plot_h - plot_h * min(target, scale) / scale
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="target"/>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" class="ax" '
        f'text-anchor="middle">{escape(y_label)}</text></svg>'
    )
    return Markup("".join(parts))


def _axis(highest: float) -> tuple[int, int]:
    """A round top and step for a count axis: at most five whole-number steps."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000):
        if highest <= 5 * step:
            return max(step, math.ceil(highest / step) * step), step
    step = 10 ** math.ceil(math.log10(highest / 5))
    return math.ceil(highest / step) * step, step


IN_HOURS_COLOUR = "#1565c0"
OUT_OF_HOURS_COLOUR = "#6a1b9a"


def _compliance_bars(cells: list[Cell], labels: list[str], colours: list[str]) -> list[Bar]:
    return [
        Bar(
            label,
            cell.percent or 0,
            f"{cell.met}/{cell.decided}" if cell.decided else "none",
            colour,
        )
        for label, cell, colour in zip(labels, cells, colours, strict=True)
    ]


def time_charts(report: PerformanceReport) -> dict[str, Markup]:
    """The arrivals and compliance charts by weekday and by hour (inline SVG)."""
    t = report.times
    days = [d[:3] for d in WEEKDAYS]
    hours = [f"{h:02d}" for h in range(24)]
    day_colours = [IN_HOURS_COLOUR if d < 5 else OUT_OF_HOURS_COLOUR for d in range(7)]
    hour_colours = [
        IN_HOURS_COLOUR if IN_HOURS_FROM <= h < IN_HOURS_UNTIL else OUT_OF_HOURS_COLOUR
        for h in range(24)
    ]
    busiest = max(t.referrals_by_weekday, default=0)
    return {
        "arrivals_weekday": svg_bars(
            [
                Bar(day, n, str(n), "#ef6c00" if n == busiest and n else colour)
                for day, n, colour in zip(days, t.referrals_by_weekday, day_colours, strict=True)
            ],
            title="Referrals by weekday",
            description="Referrals received in the period on each weekday, Monday to Sunday; "
            "the busiest day in orange. The table beside it has the numbers.",
            y_max=busiest,
            y_label="weekday the referral was received",
        ),
        "arrivals_hour": svg_bars(
            [
                Bar(hour, n, str(n), colour)
                for hour, n, colour in zip(hours, t.referrals_by_hour, hour_colours, strict=True)
            ],
            title="Referrals by hour of day",
            description="Referrals received in each hour of the day (service time zone); "
            "blue 09:00-16:59, purple outside those hours.",
            y_max=max(t.referrals_by_hour, default=0),
            y_label="hour of day the referral was received",
        ),
        "compliance_weekday": svg_bars(
            _compliance_bars(t.compliance_by_weekday, days, day_colours),
            title="% of clocks met, by weekday of start",
            description="Clocks met of decided (met or breached), by the weekday the clock "
            "started, every clock together.",
            y_max=100,
            y_label="weekday the clock started",
        ),
        "compliance_hour": svg_bars(
            _compliance_bars(t.compliance_by_hour, hours, hour_colours),
            title="% of clocks met, by hour of start",
            description="Clocks met of decided, by the hour of day the clock started; blue in "
            "hours (09:00-16:59), purple out of hours.",
            y_max=100,
            y_label="hour of day the clock started",
        ),
    }


ROLL_UP_COLOURS = {
    "patient": "#00838f",
    "clinical": "#2e7d32",
    "capacity": "#c62828",
    "process": "#ef6c00",
    "external": "#5d4037",
    "other": "#757575",
    "unexplained": "#9e9e9e",
}


def breach_chart(report: PerformanceReport) -> Markup | None:
    """Every clock's breaches by roll-up of their primary reason (None without breaches)."""
    total = next((r for r in report.breach_reasons if r.clock_id == "all"), None)
    if total is None:
        return None
    return svg_bars(
        [
            Bar(name, n, str(n), ROLL_UP_COLOURS.get(name, "#757575"))
            for name, n in sorted(total.by_roll_up.items(), key=lambda item: -item[1])
        ],
        title="Breaches by roll-up of their primary reason",
        description="Every breach of the period counted once, by the roll-up of its primary "
        "explanation (breach.explained), or as unexplained.",
        y_max=max(total.by_roll_up.values()),
        y_label="roll-up (section 9.4)",
        width=460,
    )
