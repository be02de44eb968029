"""`cordwatch serve`: a local Prefect server if none answers, every deployment served until Ctrl-C,
and a watchdog of the deadline watch that shares none of the watch's failures.

The watch is a scheduled Prefect run: if the scheduler, the runner or the Prefect server breaks,
no watch runs, and a heartbeat scheduled by the same scheduler cannot say so. So this process
checks the last completed sweep itself every watch interval (:class:`Watchdog`), prints a loud
line on the console and alerts ``ops`` through Apprise directly when the watch is down.

With ``--demo`` it also feeds a simulated cohort through the flows once the deployments are up:
a bulk `ingest` run for three weeks of back-dated referrals (so clocks are at risk and breached at
once), a few live events each handled by its own `handle-event` run, and a deadline watch.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import SQLAlchemyError

from cordwatch.prefect_server import start_server, stop_server
from db.engine import engine_for, reading
from services.prefect_health import api_healthy

DATA = Path("cordwatch-data")
LOCK_FILE = "serve.lock"


class ServeRefused(RuntimeError):
    """`cordwatch serve` cannot start as asked; the message is the one line to show."""


def _hold_lock(folder: Path) -> IO[str]:
    """Hold ``<folder>/serve.lock`` for this process's life: one `serve` per data folder.

    A second `serve` on the same folder would wipe the demo database under the first and pause
    its deployments when it stops. The lock is released by the kernel when the process ends,
    however it ends, so a crashed `serve` never blocks the next.

    Raises:
        ServeRefused: another process holds it.
    """
    folder.mkdir(exist_ok=True)
    handle = (folder / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ServeRefused(
            f"cordwatch serve is already running for {folder.resolve()} (pid {holder}): "
            "stop it first, or run this one from another folder"
        ) from error
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (a socket in TIME_WAIT after a restart
    does not count: the server binds with SO_REUSEADDR, and so does this check)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _demo_events(patients: int, seed: int, now: datetime, version: int = 1) -> list[dict[str, Any]]:
    """The simulated cohort with event ids unique to this demo run.

    Prefect keeps each ``handle-event`` run's idempotency key (the event id) in its own
    database, which outlives the demo's: a second demo with the same ids would find the first
    demo's runs and never process its own events.
    """
    from pathway.simulation import simulate_cohort

    events = simulate_cohort(
        patients=patients,
        seed=seed,
        start=now - timedelta(days=21),
        span_days=21,
        horizon=now,
        version=version,
    )
    run = now.strftime("demo%Y%m%d%H%M%S")
    return [{**event, "event_id": f"{run}-{event['event_id']}"} for event in events]


def demo_ingest_failure(state_name: str | None, *, stored: int, sent: int) -> str | None:
    """Why the demo's bulk ingest failed, or None when it stored its events.

    A demo whose every event was refused, or whose run failed, has nothing to show; saying
    "finished" would leave a newcomer looking at an empty board for a working service.
    """
    if state_name != "Completed":
        return f"ended {state_name}: see its logs in the Prefect UI"
    if stored == 0:
        return f"stored none of the {sent} events: every one was refused"
    return None


def _feed_demo(patients: int, seed: int, *, say: Callable[[str], Any]) -> None:
    """Runs in a thread next to `serve`: waits for the deployments, then feeds the demo cohort."""
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.exceptions import ObjectNotFound

    from db.inbox import find_inbox_entries
    from db.views import count_inbox_events
    from flows.ingest import stage_for_ingest
    from flows.notify import notify_event
    from services.intake import Intake
    from services.settings import get_settings

    now = datetime.now(UTC)
    events = _demo_events(patients, seed, now, get_settings().ruleset_version)
    # Hold back the last events of a few pathways: they arrive "live", one flow run each.
    live_refs = sorted({e["pathway"] for e in events})[:3]
    live = [
        next(
            e for e in reversed(events) if e["pathway"] == ref and e["type"] != "referral.received"
        )
        for ref in live_refs
    ]
    live_ids = {e["event_id"] for e in live}
    # The simulated cohort has names and NHS numbers: owner-only, under an opaque name.
    cohort = stage_for_ingest(
        "".join(json.dumps(e) + "\n" for e in events if e["event_id"] not in live_ids).encode(),
        DATA,
    )
    for _ in range(120):
        try:
            run = asyncio.run(
                arun_deployment(
                    "ingest/ingest",
                    # Three weeks of history: no letter about the past, alerts from now.
                    parameters={"path": str(cohort.resolve()), "backfill": True},
                    timeout=600,
                )
            )
            break
        except ObjectNotFound:  # the deployments are not registered yet
            time.sleep(1)
    else:
        say("[bold red]demo FAILED: the ingest deployment never appeared[/bold red]")
        return
    settings = get_settings()
    engine = engine_for(settings.url())
    with reading(engine) as conn:
        stored = count_inbox_events(conn)
    failure = demo_ingest_failure(run.state_name, stored=stored, sent=len(events) - len(live))
    if failure is not None:
        say(f"[bold red]demo FAILED: bulk ingest run {run.name} {failure}[/bold red]")
        return
    say(f"demo: bulk ingest run {run.name} stored {stored} events ({run.state_name})")
    intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
    result = intake.ingest_lines(((None, json.dumps(e)) for e in live), now=datetime.now(UTC))
    with reading(engine) as conn:
        entries = find_inbox_entries(conn, result.accepted_event_ids)
    for entry in entries:
        asyncio.run(notify_event(entry))
        say(f"demo: live event → flow run '{entry.run_name}'")
    asyncio.run(arun_deployment("deadline-watch/deadline-watch", timeout=0))
    say("demo: deadline watch requested; see the 'coordinator-board' artifact")


class Watchdog:
    """Checks, from the `serve` process itself, that the deadline watch keeps sweeping.

    Every watch interval it reads the last completed sweep from the database. When the watch
    has missed 3 intervals it queues the one heartbeat alert of this outage and delivers it to
    ``ops`` at once, in this process, through Apprise: no Prefect scheduler, worker or server is
    involved, so whichever of them broke, someone hears. It prints a loud line each check while
    the watch is down, and when the Prefect API or the database stops answering.
    """

    def __init__(self, *, api_url: str, interval: timedelta, say: Callable[[str], Any]) -> None:
        self.api_url = api_url
        self.interval = interval
        self.say = say
        self.stopping = threading.Event()
        self._api_was_up = True
        self._watch_was_down = False
        self._database_outage_told = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name="cordwatch-watchdog", daemon=True)
        thread.start()
        return thread

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval.total_seconds()):
            self.check(datetime.now(UTC))

    def check(self, now: datetime) -> bool:
        """One check at ``now``; True when the deadline watch is alive."""
        self._check_api()
        try:
            return self._check_watch(now)
        except SQLAlchemyError as error:
            self._database_unreachable(now, error)
            return False

    def _check_api(self) -> None:
        up = api_healthy(self.api_url)
        if not up and self._api_was_up:
            self.say(
                f"[bold red]!!! cordwatch: the Prefect API at {self.api_url} does not answer: "
                "no deadline watch or event run can start until it is back[/bold red]"
            )
        elif up and not self._api_was_up:
            self.say("cordwatch: the Prefect API answers again")
        self._api_was_up = up

    def _check_watch(self, now: datetime) -> bool:
        from services.alerts import queue_heartbeat, watch_pulse
        from services.settings import get_settings
        from tasks.alerts import deliver_pending_alerts

        engine = engine_for(get_settings().url())
        queued = queue_heartbeat(engine, now=now, interval=self.interval)
        delivered = asyncio.run(deliver_pending_alerts(now, key_prefix="alert:heartbeat:"))
        with reading(engine) as conn:
            pulse = watch_pulse(conn, at=now)
        self._database_outage_told = False
        if not pulse.dead(at=now, interval=self.interval):
            if self._watch_was_down:
                self.say("cordwatch: the deadline watch is sweeping again")
            self._watch_was_down = False
            return True
        self._watch_was_down = True
        since = pulse.last_sweep_at or pulse.first_event_received_at
        told = f"; ops alerted ({queued.alert_id}: {delivered})" if queued else ""
        self.say(
            "[bold red]!!! cordwatch: NO DEADLINE WATCH SWEEP since "
            f"{since.isoformat(timespec='seconds') if since else 'start'}: clocks are NOT being "
            f"watched and no alert is being sent{told}[/bold red]"
        )
        return False

    def _database_unreachable(self, now: datetime, error: SQLAlchemyError) -> None:
        """The database itself is what broke: say so, and tell ops once per outage directly."""
        from services.settings import get_settings
        from tasks.alerts import render, send_all, targets_for

        self.say(
            "[bold red]!!! cordwatch: the cordwatch database cannot be read "
            f"({error.__class__.__name__}): clocks are NOT being watched[/bold red]"
        )
        if self._database_outage_told:
            return
        settings = get_settings()
        title, body = render(
            "heartbeat",
            {
                "last_sweep_local": "unknown (the database cannot be read)",
                "missed": "an unknown number of",
                "interval": f"{settings.watch_interval_seconds} s",
                "link": f"{settings.prefect_ui_url.rstrip('/')}/deployments",
                "ack_command": "fix the database connection",
            },
        )
        targets, _ = targets_for(settings.alert_config_path, ["ops"])
        results = asyncio.run(
            send_all(targets, title, body, timeout=settings.alert_timeout_seconds)
        )
        self._database_outage_told = any(result.ok for result in results)


def _serve_until_stopped(
    deployments: list[Any], *, limit: int, interval: timedelta, say: Callable[[str], Any]
) -> None:
    """Serve the deployments until Ctrl-C; if the runner ends by itself, start it again.

    Prefect's runner gives up when its API stays unreachable; the watchdog must outlive that,
    and serving must resume once the API is back. Ctrl-C (asyncio's own SIGINT handling: the
    runner is cancelled and shuts down cleanly) ends it; SIGTERM exits through the runner's
    handler.
    """
    from prefect.runner import Runner

    async def run_once() -> None:
        runner = Runner(limit=limit, pause_on_shutdown=True)
        for deployment in deployments:
            await runner.aadd_deployment(deployment)
        await runner.start()

    while True:
        try:
            asyncio.run(run_once())
        except KeyboardInterrupt:
            return
        except Exception as error:  # the runner failed; the watchdog must keep watching
            say(
                "[bold red]!!! cordwatch: serving the deployments failed "
                f"({error.__class__.__name__}); trying again in "
                f"{interval.total_seconds():.0f} s[/bold red]"
            )
        else:
            say(
                "[bold red]!!! cordwatch: the Prefect runner stopped; trying again in "
                f"{interval.total_seconds():.0f} s[/bold red]"
            )
        try:
            time.sleep(interval.total_seconds())
        except KeyboardInterrupt:
            return
        say("cordwatch: starting the runner again")


def serve(
    *,
    port: int,
    demo: bool,
    patients: int,
    seed: int,
    limit: int,
    say: Callable[[str], Any] = print,
) -> None:
    """Serve every deployment in the foreground until interrupted; stop what we started.

    Raises:
        ServeRefused: another `serve` holds this data folder, or the port is taken.
    """
    lock = _hold_lock(DATA)
    api_url = os.environ.get("PREFECT_API_URL")
    server = None
    if not api_url or not api_healthy(api_url):
        if not _port_free(port):
            raise ServeRefused(
                f"port {port} on 127.0.0.1 is in use by another program: choose another with "
                "--port, or set PREFECT_API_URL to a Prefect server that is running"
            )
        say(
            f"starting a local Prefect server on 127.0.0.1:{port} (logs: {DATA / 'prefect-server.log'})"
        )
        server = start_server(home=DATA / "prefect", port=port, log=DATA / "prefect-server.log")
        api_url = f"http://127.0.0.1:{port}/api"
    ui = api_url.removesuffix("/api")
    os.environ["PREFECT_API_URL"] = api_url
    # Alert links and runs started by this process point at the UI that is really there.
    os.environ.setdefault("CORDWATCH_PREFECT_UI_URL", ui)
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if demo and "CORDWATCH_DATABASE_URL" not in os.environ:
        demo_file = DATA / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_file}{suffix}").unlink(missing_ok=True)
        os.environ["CORDWATCH_DATABASE_URL"] = f"sqlite:///{demo_file}"
    from db.migrate import upgrade
    from services.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    upgrade(engine_for(settings.url()))
    from flows.deployments import all_deployments

    interval = timedelta(seconds=settings.watch_interval_seconds)
    say(f"Prefect UI: {ui}   (runs: {ui}/runs, artifacts: {ui}/artifacts)")
    say(
        f"deadline watch every {interval.total_seconds():.0f} s; this process checks it too and "
        "alerts ops if it misses 3 intervals"
    )
    watchdog = Watchdog(api_url=api_url, interval=interval, say=say)
    watchdog.start()
    if demo:
        threading.Thread(
            target=_feed_demo, args=(patients, seed), kwargs={"say": say}, daemon=True
        ).start()
    try:
        _serve_until_stopped(all_deployments(), limit=limit, interval=interval, say=say)
    finally:
        watchdog.stopping.set()
        if server is not None:
            say("stopping the local Prefect server")
            stop_server(server)
        lock.close()
