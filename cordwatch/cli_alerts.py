"""Alert commands: `cordwatch alerts` (list), `cordwatch alerts test`, `cordwatch alerts check`
(the heartbeat) and `cordwatch ack ALERT_ID --by NAME`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from cordwatch.cli_common import ActAsOf, JsonFlag, err, migrated_engine, moment_or_now, out
from db.engine import reading
from pathway.alerts import ALL_TAGS
from services.settings import get_settings

alerts_app = typer.Typer(
    help="List alerts, send test messages, check the deadline watch's heartbeat.",
    invoke_without_command=True,
)


def _engine() -> Engine:
    return migrated_engine()


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    pathway: Annotated[
        str | None, typer.Option("--pathway", help="Only this pathway (PW- id or reference).")
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only alerts not delivered (pending, undelivered).")
    ] = False,
) -> None:
    """Alerts, newest first: level, tags, status, attempts, per-service results, acknowledgement."""
    if ctx.invoked_subcommand is not None:
        return
    from services.alerts import list_alerts

    engine = _engine()
    with reading(engine) as conn:
        alerts = list_alerts(conn, pathway=pathway, pending=pending)
    if as_json:
        out.print_json(json.dumps(alerts))
        return
    table = Table(
        "alert", "pathway", "clock", "level", "tags", "status", "tries", "services", "ack"
    )
    for alert in alerts:
        services = ", ".join(
            f"{name} {'ok' if result['ok'] else 'FAILED'}"
            for name, result in alert["services"].items()
        )
        status = (
            Text("UNDELIVERED", style="red")
            if alert["status"] == "undelivered"
            else Text(alert["status"])
        )
        table.add_row(
            alert["id"],
            alert["pathway_id"] or "-",
            alert["clock"] or "-",
            f"{alert['level']} {alert['step']}"
            if alert["level"] == "escalation"
            else alert["level"],
            ",".join(alert["tags"]),
            status,
            str(alert["attempts"]),
            services or "-",
            f"{alert['acknowledged_by']} {alert['acknowledged_at']}"
            if alert["acknowledged_by"]
            else "-",
        )
    out.print(table)


@alerts_app.command("test")
def alerts_test(
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only this tag (repeatable). Default: every role tag."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a test message to each tag and report each service's result (exit 1 on a failure)."""
    from tasks.alerts import send_test

    settings = get_settings()
    now = datetime.now(UTC)
    report: dict[str, list[dict[str, object]]] = {}
    for one in tag or list(ALL_TAGS):
        report[one] = [
            {"service": r.service, "ok": r.ok} for r in send_test(one, now=now, settings=settings)
        ]
    failed = any(not r["ok"] for results in report.values() for r in results)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        for one, results in report.items():
            for result in results:
                mark = ("ok", "") if result["ok"] else ("FAILED", "red")
                out.print(Text.assemble(f"{one:<18} {result['service']:<40} ", mark))
    if failed:
        raise typer.Exit(1)


@alerts_app.command("check")
def alerts_check(as_of: ActAsOf = None, as_json: JsonFlag = False) -> None:
    """The heartbeat check: alert `ops` if the deadline watch has not completed a sweep for
    3 intervals, or never completed one though events arrived more than 3 intervals ago
    (exit 1 when the watch is down). The `heartbeat-check` deployment runs it."""
    import asyncio

    from services.alerts import queue_heartbeat, watch_pulse
    from tasks.alerts import deliver_pending_alerts

    settings = get_settings()
    moment = moment_or_now(as_of)
    engine = _engine()
    interval = timedelta(seconds=settings.watch_interval_seconds)
    queued = queue_heartbeat(engine, now=moment, interval=interval)
    delivered = asyncio.run(deliver_pending_alerts(moment, key_prefix="alert:heartbeat:"))
    with reading(engine) as conn:
        pulse = watch_pulse(conn, at=moment)
    dead = pulse.dead(at=moment, interval=interval)
    last, first = pulse.last_sweep_at, pulse.first_event_received_at
    summary = {
        "last_sweep_at": last.isoformat() if last else None,
        "first_event_received_at": first.isoformat() if first else None,
        "watch_down": dead,
        "queued": queued.alert_id if queued else None,
        "delivered": delivered,
    }
    if as_json:
        out.print_json(json.dumps(summary))
    else:
        state = ("DOWN", "red") if dead else ("alive", "")
        out.print(
            Text.assemble(
                "deadline watch ", state, f"; last sweep {summary['last_sweep_at'] or 'never'}"
            )
        )
        if queued is not None:
            out.print(f"heartbeat alert {queued.alert_id} queued for ops: {delivered}")
    if dead:
        raise typer.Exit(1)


def ack(
    alert_id: Annotated[str, typer.Argument(help="The alert id (AL-...) quoted in the message.")],
    by: Annotated[str, typer.Option("--by", help="Your name, as recorded in the audit trail.")],
    as_of: ActAsOf = None,
    as_json: JsonFlag = False,
) -> None:
    """Acknowledge an alert: recorded as an alert.acknowledged event; stops its escalation."""
    from db.errors import UnknownAlert
    from services.alerts import acknowledge

    settings = get_settings()
    engine = _engine()
    try:
        done = acknowledge(
            engine,
            alert_id.strip(),
            by=by.strip(),
            now=moment_or_now(as_of),
            source="cordwatch-cli",
            new_pathway_rules=settings.pinned_rules,
        )
    except UnknownAlert as error:
        err.print(str(error), style="red")
        raise typer.Exit(1) from error
    except ValueError as error:
        err.print(Text.assemble(("refused:", "red"), f" {error}"))
        raise typer.Exit(1) from error
    if as_json:
        out.print_json(json.dumps(done.as_dict()))
    elif done.newly:
        out.print(f"{done.alert_id} acknowledged by {done.by}")
    else:
        out.print(f"{done.alert_id} was already acknowledged by {done.by} at {done.at.isoformat()}")


def register(app: typer.Typer) -> None:
    """Add the alert commands to the `cordwatch` application."""
    app.add_typer(alerts_app, name="alerts")
    app.command("ack")(ack)
