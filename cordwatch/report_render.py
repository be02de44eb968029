"""Rendering of the performance report and the pathway timeline: text, CSV, HTML and PNG charts.

Charts use matplotlib's Agg backend (no display); HTML comes from ``templates/reports/*.j2``
with the charts embedded as data URIs, so one file can be mailed or printed.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cordwatch.audit_report import Timeline
from pathway.report import STANDARDS, PerformanceReport

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATUS_COLOURS = {
    "met": "#2e7d32",
    "breached": "#c62828",
    "excluded": "#9e9e9e",
    "running": "#f9a825",
}
CHART_CLOCKS = ("MRI-MSCC", "MRI-METS", "RT-24H", "STEROID-MSCC", "CWT-62")


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


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        keep_trailing_newline=True,
    )
    environment.filters["duration"] = duration
    environment.filters["percent"] = percent
    return environment


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
    lost beside a 62-day one.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    groups = [
        (title, [c for c in timeline.clocks if c.kind == kind])
        for kind, title in (("hour", "hour clocks"), ("day", "day clocks (calendar days)"))
    ]
    groups = [(title, clocks) for title, clocks in groups if clocks] or [("clocks", [])]
    heights = [max(1.2, 0.5 * len(clocks) + 0.6) for _, clocks in groups]
    figure, axes_list = plt.subplots(
        len(groups),
        1,
        figsize=(11, sum(heights) + 1.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for (title, clocks), axes in zip(groups, axes_list[:, 0], strict=True):
        _gantt(axes, list(reversed(clocks)), timeline.as_of, timezone)
        axes.set_title(title, fontsize=10, loc="left")
    figure.suptitle(
        f"Clocks of {timeline.pathway_id} ({timeline.category.replace('_', ' ')}, "
        f"{timeline.status}) as of {local(timeline.as_of, timezone)} ({timezone})"
    )
    handles = [Patch(color=colour, label=name) for name, colour in STATUS_COLOURS.items()]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="still running"))
    handles.append(Patch(facecolor="black", label="due time (black tick)"))
    figure.legend(handles=handles, loc="lower center", ncol=6, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return _png(figure)


def _gantt(axes: Any, clocks: list[Any], as_of: datetime, timezone: str) -> None:
    from matplotlib.dates import DateFormatter

    zone = ZoneInfo(timezone)
    for row, clock in enumerate(clocks):
        status = clock.status
        end = clock.stopped_at or as_of
        if status == "running" and as_of > clock.due_at:
            status = "breached"
        start = clock.starts_at.astimezone(zone)
        finish = end.astimezone(zone)
        axes.barh(
            row,
            finish - start,
            left=start,
            height=0.5,
            color=STATUS_COLOURS.get(status, "#607d8b"),
            edgecolor="black" if clock.stopped_at is None else "none",
            hatch="//" if clock.stopped_at is None else None,
        )
        due = clock.due_at.astimezone(zone)
        axes.plot([due, due], [row - 0.4, row + 0.4], color="black", linewidth=2.5)
        label = status + ("" if clock.stopped_at else " (still running)")
        if clock.reason:
            label += f": {clock.reason.replace('_', ' ')}"
        axes.text(max(finish, due), row, f"  {label}", va="center", fontsize=8)
    axes.set_yticks(range(len(clocks)))
    axes.set_yticklabels([f"{c.clock_id} ({c.limit})" for c in clocks])
    axes.xaxis.set_major_formatter(DateFormatter("%d %b\n%H:%M", tz=zone))  # type: ignore[no-untyped-call]
    axes.grid(axis="x", linestyle=":", alpha=0.6)
    axes.margins(x=0.15, y=0.25)


def timeline_html(timeline: Timeline, timezone: str) -> str:
    """The timeline as one printable HTML page with its Gantt chart."""
    chart = _data_uri(timeline_png(timeline, timezone)) if timeline.clocks else None
    return (
        _environment()
        .get_template("reports/timeline.html.j2")
        .render(timeline=timeline, chart=chart, timezone=timezone, local=local)
    )


def compliance_chart(report: PerformanceReport) -> bytes:
    """Percentage met per week for the headline clocks, with the CWT targets drawn."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 4))
    weeks = sorted({w.week for w in report.weekly})
    for clock_id in CHART_CLOCKS:
        points = [(w.week, w.percent) for w in report.weekly if w.clock_id == clock_id]
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=clock_id)
    for clock_id in ("CWT-62",):
        target = STANDARDS[clock_id].target
        if target is not None:
            axes.axhline(target * 100, color="grey", linestyle="--", linewidth=1)
            axes.text(
                weeks[0] if weeks else 0,
                target * 100 + 1,
                f"{clock_id} target {target:.0%}",
                fontsize=8,
                color="grey",
            )
    axes.set_ylim(0, 105)
    axes.set_ylabel("% of clocks met")
    axes.set_xlabel("week starting (Monday, by clock start)")
    axes.set_title("Compliance by week")
    axes.grid(linestyle=":", alpha=0.6)
    axes.legend(fontsize=8, loc="lower left", ncol=5)
    figure.autofmt_xdate()
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
    right.axvline(8, color="#c62828", linestyle="--")
    right.text(8.2, right.get_ylim()[1] * 0.9, "7-day limit", color="#c62828", fontsize=8)
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
    return "\n".join(lines)


def report_csv(report: PerformanceReport, folder: Path) -> list[Path]:
    """clocks.csv, kpis.csv, breaches.csv and weekly.csv in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
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
        with path.open("w", newline="", encoding="utf-8") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        written.append(path)
    return written
