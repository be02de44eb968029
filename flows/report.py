"""The `performance-report` flow: the week's figures as Prefect artifacts beside the runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from db.audit import verify_chain
from db.engine import engine_for, reading
from db.private import private_folder, write_private
from pathway.report import PerformanceReport
from services.audit_report import performance_report
from services.report_render import percent, report_html
from services.settings import get_settings
from tasks.views import render_artifact


def last_full_week(moment: datetime, timezone: str) -> tuple[date, date]:
    """Monday to Sunday of the week before the one containing ``moment`` (service zone)."""
    today = moment.astimezone(ZoneInfo(timezone)).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


@task(name="build-performance-report")
def build_performance_report(
    start: date, end: date, as_of: datetime
) -> tuple[PerformanceReport, dict[str, Any], str]:
    """The report, the audit chain's verification, and the path of the HTML file written."""
    settings = get_settings()
    with reading(engine_for(settings.url())) as conn:
        report = performance_report(
            conn, start=start, end=end, as_of=as_of, timezone=settings.timezone
        )
        chain = verify_chain(conn).as_dict()
    folder = Path(settings.report_dir)
    private_folder(folder)
    path = (folder / f"performance-{start}-to-{end}.html").resolve()
    write_private(path, report_html(report))
    return report, chain, str(path)


def headline_rows(report: PerformanceReport) -> list[dict[str, Any]]:
    """One row per headline measure: what, on time of decided, %, target, verdict."""
    rows = []
    for k in report.kpis:
        verdict = {True: "met", False: "NOT met", None: "-"}[k.meets_target]
        rows.append(
            {
                "measure": f"{k.id} {k.title}",
                "on time": f"{k.numerator} of {k.denominator}",
                "%": percent(k.percent),
                "target": f"{k.target:.0%}" if k.target is not None else "no national %",
                "target met": verdict,
            }
        )
    a, y = report.ambulatory, report.mri_yield
    rows.append(
        {
            "measure": "K10 walking at referral -> after treatment (paired)",
            "on time": f"{a.ambulatory_at_referral} -> {a.ambulatory_after_treatment} of {a.paired}",
            "%": "-",
            "target": "-",
            "target met": "-",
        }
    )
    rows.append(
        {
            "measure": "K14 MRI yield (MSCC confirmed of pathways scanned)",
            "on time": f"{y.mscc_confirmed} of {y.pathways_scanned}",
            "%": percent(y.percent_confirmed),
            "target": "-",
            "target met": "-",
        }
    )
    return rows


@flow(name="performance-report", flow_run_name="performance report")
async def performance_report_flow(
    start: date | None = None, end: date | None = None, as_of: datetime | None = None
) -> dict[str, Any]:
    """Publish the headline figures (table artifact) and a link to the HTML report (markdown)."""
    moment = as_of or datetime.now(UTC)
    settings = get_settings()
    if start is None or end is None:
        start, end = last_full_week(moment, settings.timezone)
    report, chain, path = build_performance_report(start, end, moment)
    await acreate_table_artifact(
        headline_rows(report),
        key="performance-report",
        description=f"MSCC pathway performance {start} to {end}",
    )
    await acreate_markdown_artifact(
        render_artifact(
            "performance_report_link",
            start=start,
            end=end,
            uri=Path(path).as_uri(),
            path=path,
            breaches=len(report.breaches),
            referred=", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.pathways.items()),
            chain=chain,
        ),
        key="performance-report-link",
        description="Link to the HTML performance report",
    )
    get_run_logger().info(
        "performance report %s to %s: %d breaches, audit chain %s",
        start,
        end,
        len(report.breaches),
        "intact" if chain["ok"] else "BROKEN",
    )
    return {"start": str(start), "end": str(end), "html": path, "audit_chain_ok": chain["ok"]}
