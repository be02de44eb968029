"""The `cordwatch` command line: a thin shell over the intake service, the views and the core."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from cordwatch.cli_common import (
    AsOf,
    JsonFlag,
    err,
    migrated_engine,
    moment_or_now,
    out,
    parse_moment,
)
from db.engine import engine_for, reading
from db.errors import UnknownPathway
from db.migrate import upgrade
from db.repository import INTERNAL_ID, get_pathway
from pathway.breaches import EXPLAIN_BREACH_DEPLOYMENT
from pathway.errors import EventRejected, RulesetError
from pathway.events import EVENT_TYPES
from services.intake import Intake, IntakeResult
from services.settings import Settings, get_settings
from services.views import (
    BoardRow,
    UnexplainedBreach,
    board,
    human_delta,
    local_time,
    pathway_view,
    shown,
    unexplained_breaches,
)

app = typer.Typer(
    help="cordwatch watches the clocks of the metastatic spinal cord compression pathway.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Create and migrate the cordwatch database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _engine(settings: Settings) -> Engine:
    return migrated_engine(settings)


def _intake(settings: Settings, engine: Engine, *, backfill: bool = False) -> Intake:
    try:
        settings.pinned_rules()
    except RulesetError as error:
        err.print(Text.assemble(("configuration error:", "red"), f" {error}"))
        raise typer.Exit(2) from error
    # Effects run after intake: in a `handle-event` flow run when Prefect is configured, or by
    # the next deadline watch (which processes every accepted event left unprocessed).
    return Intake(
        engine, new_pathway_rules=settings.pinned_rules, mark_processed=False, backfill=backfill
    )


def _notify(engine: Engine, result: IntakeResult) -> None:
    """Hand accepted events to Prefect when PREFECT_API_URL is set; a failure is only a delay."""
    import asyncio
    import os

    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url or not result.accepted_event_ids:
        return
    from db.inbox import find_inbox_entries
    from services.prefect_health import api_healthy

    if not api_healthy(api_url):
        err.print(
            "Prefect is not reachable: the deadline watch will process these events",
            style="yellow",
        )
        return
    from flows.notify import notify_event

    with reading(engine) as conn:
        entries = find_inbox_entries(conn, result.accepted_event_ids)

    async def send() -> None:
        for entry in entries:
            await notify_event(entry)

    asyncio.run(send())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or migrate it to the latest schema."""
    settings = get_settings()
    engine = engine_for(settings.url())
    upgrade(engine)
    out.print(f"database at the latest schema ({engine.dialect.name})")


def _read_lines(paths: list[str]) -> Iterator[tuple[int | None, bytes]]:
    """Each line of each file (``-``: stdin) as bytes, numbered from 1 in its file.

    Bytes, never decoded here: a line that is not UTF-8 (a Latin-1 or UTF-16 file) is
    refused on its own by the intake, and the lines after it are still read.
    """
    for name in paths:
        handle = sys.stdin.buffer if name == "-" else Path(name).open("rb")  # noqa: SIM115
        try:
            yield from enumerate(handle, start=1)
        finally:
            if name != "-":
                handle.close()


def _count_lines(paths: list[str]) -> int | None:
    if "-" in paths:
        return None
    total = 0
    for name in paths:
        with Path(name).open("rb") as handle:
            total += sum(1 for _ in handle)
    return total


def _report(result: IntakeResult, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        out.print(
            f"accepted {result.accepted}, duplicates {result.duplicates}, "
            f"rejected {len(result.rejected)}"
        )
        for r in result.rejected:
            where = f"line {r.line}" if r.line is not None else "event"
            out.print(f"  rejected {where} (event {r.event_id or '?'}): {r.field}: {r.reason}")
    if result.rejected:
        raise typer.Exit(1)


@app.command()
def ingest(
    files: Annotated[list[str], typer.Argument(help="JSON Lines files of events; - for stdin.")],
    as_json: JsonFlag = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The moment of intake (events later than it are refused)."),
    ] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Import history: clocks and figures as usual, but no letter for an event "
            "more than an hour before now (the watch alerts what is at risk from now).",
        ),
    ] = False,
) -> None:
    """Ingest JSON Lines events: accepted, duplicates and each rejection with its field.

    Exit code 0 when nothing was rejected, 1 otherwise.
    """
    settings = get_settings()
    now = moment_or_now(as_of)
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise typer.BadParameter(f"no such file: {name}", param_hint="FILES")
    engine = _engine(settings)
    intake = _intake(settings, engine, backfill=backfill)
    lines = _read_lines(files)
    if out.is_terminal and not as_json:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("ingesting", total=_count_lines(files))
            result = intake.ingest_lines(
                lines,
                now=now,
                batch_size=settings.intake_batch_size,
                progress=lambda n: progress.advance(task, n),
            )
    else:
        result = intake.ingest_lines(lines, now=now, batch_size=settings.intake_batch_size)
    if backfill:
        intake.audit_backfill(result, now=now)
        if not as_json:
            err.print(f"backfill: {result.history} events imported as history (no letters owed)")
    _notify(engine, result)
    _report(result, as_json)


def _data_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_data(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs into the event's data; dotted keys nest, values are JSON when they parse."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--data")
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = _data_value(value)
    return data


@app.command()
def record(
    pathway: Annotated[str, typer.Argument(help="Referral reference or internal PW- id.")],
    event_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="Event type, e.g. coordinator.contacted.")
    ],
    at: Annotated[str, typer.Option("--at", help="When it happened (ISO 8601 with offset).")],
    by: Annotated[str | None, typer.Option("--by", help="Who records it.")] = None,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="Event data as key=value (repeat; dotted keys nest)."),
    ] = None,
    as_json: JsonFlag = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The moment of intake. Default: now.")
    ] = None,
) -> None:
    """Record one event typed by a coordinator, with a generated event id."""
    settings = get_settings()
    now = moment_or_now(as_of)
    if event_type not in EVENT_TYPES:
        raise typer.BadParameter(
            f"unknown event type; one of: {', '.join(EVENT_TYPES)}", param_hint="TYPE"
        )
    engine = _engine(settings)
    reference = pathway
    if event_type != "referral.received":
        with reading(engine) as conn:
            try:
                reference = get_pathway(conn, pathway).reference
            except UnknownPathway as unknown:
                if INTERNAL_ID.fullmatch(pathway):  # a mistyped PW- id, not a reference
                    err.print(f"no pathway with id {pathway}", style="red")
                    raise typer.Exit(1) from unknown
                reference = pathway  # intake rejects it with the field named
    envelope: dict[str, Any] = {
        "event_id": f"cli-{uuid.uuid4()}",
        "pathway": reference,
        "type": event_type,
        "occurred_at": parse_moment(at, "--at").isoformat(),
        "source": "cordwatch-cli",
        "data": parse_data(data or []),
    }
    if by is not None:
        envelope["recorded_by"] = by
    intake = _intake(settings, engine)
    result = intake.ingest_lines([(None, json.dumps(envelope))], now=now, batch_size=1)
    _notify(engine, result)
    if not as_json and result.accepted:
        out.print(f"recorded {event_type} as {envelope['event_id']}")
    _report(result, as_json)


@app.command()
def show(
    pathway: Annotated[str, typer.Argument(help="Referral reference or internal PW- id.")],
    as_json: JsonFlag = False,
    as_of: AsOf = None,
) -> None:
    """One pathway: category, stage, milestones and every clock with its status."""
    settings = get_settings()
    moment = moment_or_now(as_of)
    engine = _engine(settings)
    with reading(engine) as conn:
        try:
            pathway_id, view, rules = pathway_view(conn, pathway, as_of=moment)
        except UnknownPathway as error:
            err.print(str(error), style="red")
            raise typer.Exit(1) from error
        except EventRejected as error:  # no referral by --as-of
            err.print(f"nothing recorded for {pathway} by {moment.isoformat()}", style="red")
            raise typer.Exit(1) from error
    document = shown(pathway_id, view, rules, as_of=moment)
    if as_json:
        out.print_json(json.dumps(document.as_dict()))
        return
    zone = settings.pinned_rules().zone
    out.print(
        Text.assemble(
            (pathway_id, "bold"),
            f" ({document.reference})  {document.category}  "
            f"stage {document.stage}  {document.status}"
            + (f" ({document.closed_reason})" if document.closed_reason else "")
            + f"  ruleset {document.ruleset}",
        )
    )
    if view.steroids_to_stop:
        out.print(
            "MSCC ruled out: the steroid course is flagged for stopping (D10)", style="yellow"
        )
    for caution in document.cautions:
        out.print(Text(f"CAUTION: {caution}", style="bold red"))
    milestones = Table("when", "milestone", title="Milestones")
    for m in view.milestones:
        milestones.add_row(local_time(m.at, zone), m.type)
    out.print(milestones)
    clocks = Table(
        "clock", "limit", "started", "due", "stopped", "status", "reason", title="Clocks"
    )
    for c in document.clocks:
        status = c.status + (" (at risk)" if c.at_risk else "")
        colour = {"breached": "red", "met": "green", "excluded": "dim"}.get(
            c.status, "yellow" if c.at_risk else ""
        )
        clocks.add_row(
            c.id,
            c.limit + (" local" if c.local else ""),
            local_time(c.starts_at, zone),
            local_time(c.due_at, zone),
            local_time(c.stopped_at, zone),
            Text(status, style=colour),
            c.reason or "",
        )
    out.print(clocks)


def _print_board(rows: list[BoardRow], moment: datetime, settings: Settings) -> None:
    zone = settings.pinned_rules().zone
    table = Table(
        "pathway",
        "reference",
        "category",
        "stage",
        "most urgent clock",
        "due",
        "time",
        "status",
        title=f"Coordinator board at {local_time(moment, zone)} ({zone.key})",
    )
    colours = {"breached": "bold red", "at_risk": "yellow", "ok": "green", "REVIEW": "magenta"}
    for r in rows:
        colour = colours.get(r.mark, "white")
        mark = r.mark + (f" ({r.breached_clocks} clocks)" if r.breached_clocks > 1 else "")
        mark += f" UNDELIVERED ALERTS: {r.undelivered_alerts}" if r.undelivered_alerts else ""
        mark += f" UNDELIVERED LETTERS: {r.undelivered_letters}" if r.undelivered_letters else ""
        table.add_row(
            r.pathway_id,
            r.reference,
            r.category,
            r.stage,
            r.clock_id or "-",
            local_time(r.due_at, zone),
            human_delta(r.time_left) if r.time_left is not None else "-",
            Text(mark, style=colour),
        )
    out.print(table)


@app.command("board")
def board_command(
    as_json: JsonFlag = False,
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most N rows (0: all).")] = 0,
) -> None:
    """The coordinator worklist: open pathways, most urgent clock first."""
    from services.alerts import watch_pulse

    settings = get_settings()
    moment = moment_or_now(as_of)
    engine = _engine(settings)
    interval = timedelta(seconds=settings.watch_interval_seconds)
    with reading(engine) as conn:
        rows = board(conn, as_of=moment)
        pulse = watch_pulse(conn, at=moment)
        to_explain = unexplained_breaches(conn, as_of=moment)
    watch_down = pulse.dead(at=moment, interval=interval)
    unexplained_count = len(to_explain)
    if limit:
        rows = rows[:limit]
        to_explain = to_explain[:limit]
    if as_json:
        last = pulse.last_sweep_at
        out.print_json(
            json.dumps(
                {
                    "as_of": moment.isoformat(),
                    "watch": {
                        "down": watch_down,
                        "last_sweep_at": last.isoformat() if last else None,
                    },
                    "pathways": [r.as_dict() for r in rows],
                    "unexplained_breaches": {
                        "count": unexplained_count,
                        "breaches": [b.as_dict() for b in to_explain],
                    },
                }
            )
        )
        return
    if watch_down:
        since = pulse.last_sweep_at or pulse.first_event_received_at
        zone = settings.pinned_rules().zone
        out.print(
            "DEADLINE WATCH DOWN: no sweep since "
            f"{local_time(since, zone) if since else 'it started'}. Clocks on this board are "
            "computed now, but nobody is being alerted: call ops.",
            style="bold red",
        )
    _print_board(rows, moment, settings)
    if unexplained_count:
        _print_unexplained(to_explain, unexplained_count, settings)


def _print_unexplained(breaches: list[UnexplainedBreach], count: int, settings: Settings) -> None:
    """Breaches of version-2 pathways still waiting for their reason (``breach.explained``)."""
    zone = settings.pinned_rules().zone
    shown = f" (first {len(breaches)})" if len(breaches) < count else ""
    table = Table(
        "pathway",
        "reference",
        "pathway status",
        "clock",
        "breached since",
        "clock now",
        title=f"Breaches to explain: {count}{shown}",
    )
    for b in breaches:
        table.add_row(
            b.pathway_id,
            b.reference,
            b.pathway_status,
            b.clock_id,
            local_time(b.breached_since, zone),
            "still running" if b.still_running else "stopped",
        )
    out.print(table)
    out.print(
        "Record each reason: cordwatch record PW-… breach.explained --at T --by NAME "
        "--data clock=CLOCK --data reason=REASON --data stage=STAGE, or the "
        f"{EXPLAIN_BREACH_DEPLOYMENT} form in the Prefect UI."
    )


@app.command()
def simulate(
    patients: Annotated[int, typer.Option("--patients", min=1, help="Number of patients.")],
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed, the same cohort.")
    ],
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First referral date (YYYY-MM-DD or ISO time). Default: 30 days before --as-of.",
        ),
    ] = None,
    span_days: Annotated[
        float, typer.Option("--span-days", min=0.01, help="Days over which referrals arrive.")
    ] = 30.0,
    horizon: Annotated[
        str | None,
        typer.Option(
            "--until", help="Drop events after this moment (ISO 8601), leaving clocks running."
        ),
    ] = None,
    ruleset_version: Annotated[
        int | None,
        typer.Option(
            "--ruleset-version",
            min=1,
            max=2,
            help="Write the events for this ruleset version. Default: CORDWATCH_RULESET_VERSION.",
        ),
    ] = None,
    as_of: AsOf = None,
) -> None:
    """Print a synthetic cohort as JSON Lines (test-range NHS numbers, invented names)."""
    from pathway.simulation import simulate_cohort

    now = moment_or_now(as_of)
    if start is None:
        first = now - timedelta(days=30)
    elif len(start) == 10:
        first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    else:
        first = parse_moment(start, "--start")
    events = simulate_cohort(
        patients=patients,
        seed=seed,
        start=first,
        span_days=span_days,
        horizon=parse_moment(horizon, "--until") if horizon else None,
        version=ruleset_version or get_settings().ruleset_version,
    )
    write = sys.stdout.write
    for event in events:
        write(json.dumps(event) + "\n")


@app.command()
def demo(
    patients: Annotated[int, typer.Option("--patients", min=1)] = 60,
    seed: Annotated[int, typer.Option("--seed")] = 2026,
    as_of: AsOf = None,
) -> None:
    """Fresh demo database, a simulated cohort of the last three weeks ingested, the board printed.

    Uses ``cordwatch-data/demo.db`` unless CORDWATCH_DATABASE_URL is set; the demo database is
    recreated each time.
    """
    from pathway.simulation import simulate_cohort

    now = moment_or_now(as_of)
    settings = get_settings()
    if "database_url" not in settings.model_fields_set:
        demo_file = Path("cordwatch-data/demo.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_file}{suffix}").unlink(missing_ok=True)
        settings = Settings(
            database_url=f"sqlite:///{demo_file}", **settings.model_dump(exclude={"database_url"})
        )
    engine = _engine(settings)
    events = simulate_cohort(
        patients=patients,
        seed=seed,
        start=now - timedelta(days=21),
        span_days=21,
        horizon=now,
        version=settings.ruleset_version,
    )
    # The cohort is three weeks of history: imported as a backfill, it owes no letter about
    # the past, and the watch alerts only what is at risk or breached from now.
    intake = _intake(settings, engine, backfill=True)
    result = intake.ingest_lines(((n, json.dumps(e)) for n, e in enumerate(events, 1)), now=now)
    intake.audit_backfill(result, now=now)
    out.print(
        f"demo: {patients} simulated patients, {result.accepted} events accepted, "
        f"{len(result.rejected)} rejected, database {settings.url()}"
    )
    with reading(engine) as conn:
        rows = board(conn, as_of=now)
    _print_board(rows, now, settings)
    out.print(
        "Look closer: cordwatch show <PW-id>   (set CORDWATCH_DATABASE_URL=sqlite:///cordwatch-data/demo.db)"
    )


@app.command()
def watch(
    once: Annotated[bool, typer.Option("--once", help="Run one deadline watch and exit.")] = False,
    deliver: Annotated[
        bool,
        typer.Option(
            "--deliver/--no-deliver",
            help="Send the alerts and letters owed (default), or only queue them.",
        ),
    ] = True,
    as_of: AsOf = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the deadline watch in-process: queue owed alerts and breach reports, re-drive
    unprocessed events, then deliver what is owed, as the scheduled `deadline-watch` does.

    For a service without Prefect, run it from cron every `CORDWATCH_WATCH_INTERVAL_SECONDS`.
    """
    import asyncio

    from services.watch import configured_escalation, run_watch

    if not once:
        raise typer.BadParameter(
            "only --once is supported here; `cordwatch serve` schedules the watch"
        )
    settings = get_settings()
    now = datetime.now(UTC)
    moment = now if as_of is None else parse_moment(as_of, "--as-of")
    engine = _engine(settings)
    report = run_watch(engine, as_of=moment, now=now, escalation=configured_escalation(settings))
    delivered: dict[str, int] = {}
    if deliver and not report.preview:
        from flows.deadline_watch import deliver_owed

        delivered = asyncio.run(deliver_owed(moment))
    if as_json:
        out.print_json(json.dumps({**report.as_dict(), "delivered": delivered}))
        return
    if report.preview:
        err.print(
            f"{moment.isoformat()} is in the future: this is a preview. Nothing was "
            "queued, sent or recorded as a sweep; the alerts listed would be owed then.",
            style="yellow",
        )
    queued = "alerts would be owed" if report.preview else "alerts queued"
    out.print(
        f"watch at {moment.isoformat()}: {len(report.sweep.queued)} {queued}, "
        f"{report.sweep.clocks_at_risk} clocks at risk, {report.sweep.clocks_breached} breached, "
        f"{len(report.redriven)} events re-driven"
    )
    for alert in report.sweep.queued:
        out.print(
            f"  {alert.level:<8} {alert.pathway_id} {alert.clock_id} due {alert.due_at.isoformat()}"
        )
    if delivered:
        out.print("delivered: " + ", ".join(f"{n} {s}" for s, n in sorted(delivered.items())))
    elif deliver and not report.preview:
        out.print("delivered: nothing was owed")


def _say_serve(line: str) -> None:
    """`serve`'s own lines carry Rich markup (ids and states only); anything else is text."""
    from rich.errors import MarkupError

    try:
        text = Text.from_markup(line, emoji=False)
    except MarkupError:
        text = Text(line)
    out.print(text)


@app.command("serve")
def serve_command(
    port: Annotated[
        int, typer.Option("--port", help="Port of the local Prefect server, if one is started.")
    ] = 4200,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Feed a simulated cohort through the flows.")
    ] = False,
    patients: Annotated[int, typer.Option("--patients", min=1, help="Demo cohort size.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Demo cohort seed.")] = 2026,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Flow runs at once.")] = 4,
) -> None:
    """Serve every deployment until Ctrl-C, starting a local Prefect server if none answers.

    Uses PREFECT_API_URL when it answers; otherwise starts `prefect server start` on 127.0.0.1
    with its data in cordwatch-data/prefect, and stops it on exit.
    """
    from cordwatch.serve import ServeRefused, serve

    try:
        serve(port=port, demo=demo, patients=patients, seed=seed, limit=limit, say=_say_serve)
    except ServeRefused as refused:
        err.print(f"cordwatch serve: {refused}", style="red", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from refused


from cordwatch.cli_audit import register as _register_audit  # noqa: E402

_register_audit(app)

from cordwatch.cli_alerts import register as _register_alerts  # noqa: E402

_register_alerts(app)

from cordwatch.cli_letters import register as _register_letters  # noqa: E402

_register_letters(app)

from cordwatch.cli_ruleset import register as _register_ruleset  # noqa: E402

_register_ruleset(app)


def _private_data() -> None:
    """Owner-only from here on, for this process and every one it starts (the Prefect server,
    flow runs); data folders written by an earlier version are tightened."""
    from pydantic import ValidationError

    from db.private import restrict_umask, tighten

    restrict_umask()
    tighten(Path("cordwatch-data"))  # the defaults, the demo cohort and Prefect's database
    try:
        settings = get_settings()
    except ValidationError:
        return  # the command reports the configuration error itself
    tighten(Path(settings.letters_dir))
    tighten(Path(settings.report_dir))


def main() -> None:
    """Console entry point."""
    _private_data()
    app()
