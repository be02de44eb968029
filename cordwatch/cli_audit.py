"""Administrator commands: `cordwatch audit verify`, `cordwatch timeline` and `cordwatch report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from cordwatch.cli_common import AsOf, JsonFlag, err, migrated_engine, moment_or_now, out, parse_day
from db.engine import reading
from db.private import write_private
from services.settings import get_settings

audit_app = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)


def _engine() -> Engine:
    return migrated_engine()


@audit_app.command("verify")
def audit_verify(as_json: JsonFlag = False) -> None:
    """Walk the audit hash chain; name the first entry changed, removed or inserted, and any
    append-only trigger missing or disabled.

    Exit code 0 when the chain is intact, 1 otherwise.
    """
    from db.audit import verify_chain

    engine = _engine()
    with reading(engine) as conn:
        report = verify_chain(conn)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    elif report.ok:
        out.print(
            f"audit chain intact: {report.entries} entries, head entry {report.head_id} "
            f"hash {report.head_hash}"
        )
    else:
        problem = report.problem
        if problem is not None:
            where = f" at entry {problem.entry_id}" if problem.entry_id else ""
            out.print(
                Text.assemble(
                    (f"audit chain broken{where} ({problem.kind}):", "red"),
                    f" {problem.explanation}",
                )
            )
        if report.missing_triggers:
            out.print(
                Text.assemble(
                    ("append-only triggers missing or disabled:", "red"),
                    " " + ", ".join(report.missing_triggers),
                )
            )
    if not report.ok:
        raise typer.Exit(1)


def timeline(
    pathway: Annotated[str, typer.Argument(help="Referral reference or internal PW- id.")],
    as_json: JsonFlag = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write a Gantt chart of the clocks to FILE.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the timeline and chart as HTML to FILE.")
    ] = None,
    as_of: AsOf = None,
) -> None:
    """One pathway's timeline: milestones, clocks and alerts in order, who recorded what and
    when it arrived versus when it happened."""
    from db.errors import UnknownPathway
    from services.audit_report import pathway_timeline
    from services.report_render import local, timeline_html, timeline_png

    moment = moment_or_now(as_of)
    settings = get_settings()
    engine = _engine()
    with reading(engine) as conn:
        try:
            found = pathway_timeline(conn, pathway, as_of=moment)
        except UnknownPathway as error:
            err.print(str(error), style="red")
            raise typer.Exit(1) from error
    if png is not None:
        write_private(png, timeline_png(found, settings.timezone))
        out.print(f"wrote {png}")
    if html is not None:
        write_private(html, timeline_html(found, settings.timezone))
        out.print(f"wrote {html}")
    if png is not None or html is not None:
        return
    if as_json:
        out.print_json(json.dumps(found.as_dict()))
        return
    out.print(
        f"{found.pathway_id} ({found.reference})  {found.category}  {found.status}  "
        f"ruleset {found.ruleset}"
    )
    table = Table("happened", "what", "recorded by", "source", "arrived", title="Timeline")
    for item in found.items:
        table.add_row(
            local(item.at, settings.timezone),
            item.what,
            item.recorded_by or "",
            item.source or "",
            local(item.received_at, settings.timezone) if item.received_at else "",
        )
    out.print(table)


def report(
    date_from: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD), service time zone.")
    ],
    date_to: Annotated[str, typer.Option("--to", help="Last day, inclusive (YYYY-MM-DD).")],
    as_json: JsonFlag = False,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write one CSV file per table into DIR.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the printable HTML report to FILE.")
    ] = None,
    as_of: AsOf = None,
) -> None:
    """Performance against NICE QS56 and the cancer waiting-time standards for a period."""
    from services.audit_report import performance_report
    from services.report_render import report_csv, report_html, report_text

    start, end = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    if end < start:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    moment = moment_or_now(as_of)
    settings = get_settings()
    engine = _engine()
    with reading(engine) as conn:
        result = performance_report(
            conn, start=start, end=end, as_of=moment, timezone=settings.timezone
        )
    if csv_dir is not None:
        for name in report_csv(result, csv_dir):
            out.print(f"wrote {name}")
    if html is not None:
        write_private(html, report_html(result))
        out.print(f"wrote {html}")
    if csv_dir is not None or html is not None:
        return
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    out.print(report_text(result))


def register(app: typer.Typer) -> None:
    """Add the administrator commands to the `cordwatch` application."""
    app.add_typer(audit_app, name="audit")
    app.command("timeline")(timeline)
    app.command("report")(report)
