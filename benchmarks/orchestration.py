"""Measure orchestration through a real Prefect server and `cordwatch serve`, per backend: record
→ committed and → processed by the served `handle-event` deployment, `handle-event` runs per
minute under a burst, the `ingest` flow's events/s, and one deadline watch over many open
pathways (through the deployment and in-process).

Run: ``.venv/bin/python benchmarks/orchestration.py [--backend sqlite|postgres|both]
[--events 30] [--burst 60] [--ingest-events 10000] [--pathways 10000]``.

Everything listens on 127.0.0.1, on free ports. For each backend: ``prefect server start`` with
its own database on that backend (PostgreSQL: a scratch ``postgresql+asyncpg://`` database), then,
for each of the three groups of measures, a fresh cordwatch database and its own
``cordwatch serve --no-demo`` (poll interval 1 s), so that one measure leaves nothing another
picks up (the ingested cohort's back-dated clocks and letters owed would otherwise land in the
watch). The scheduled ``deadline-watch``, ``heartbeat-check`` and ``performance-report`` are
paused once registered: only the runs the benchmark asks for run, and a scheduled watch never
processes a burst's events itself. Temporary folders, processes and scratch databases are
removed at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.exc import OperationalError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cordwatch.prefect_server import free_port, start_server, stop_server
from db.engine import make_engine, reading, transaction
from db.repository import CLOCK, INBOX, OUTBOX
from pathway.nhs_number import nhs_check_digit

BIN = Path(sys.executable).parent
DEPLOYMENTS = 7  # flows/deployments.py::all_deployments
PAUSED = (
    "deadline-watch/deadline-watch",
    "heartbeat-check/heartbeat-check",
    "performance-report/performance-report",
)
GIVEN = ("Ada", "Bram", "Cleo", "Dov", "Esme", "Finn", "Gus", "Hana", "Ivo", "Juno")
FAMILY = ("Benchley", "Timewell", "Clockson", "Latimer", "Quickly", "Steadman", "Waites")


@dataclass
class Figures:
    """What one backend measured (seconds unless named otherwise)."""

    committed: list[float] = field(default_factory=list)
    processed: dict[str, list[float]] = field(default_factory=dict)
    in_run: list[float] = field(default_factory=list)
    live_event_ids: list[str] = field(default_factory=list)
    latency_missing: int = 0
    burst_size: int = 0
    burst_processed: list[float] = field(default_factory=list)
    failed_runs: int = 0
    ingest_events: int = 0
    ingest_accepted: int = 0
    ingest_request_to_done: float = 0.0
    ingest_in_run: float = 0.0
    ingest_state: str = ""
    watch_pathways: int = 0
    watch_request_to_done: float = 0.0
    watch_in_run: float = 0.0
    watch_state: str = ""
    watch_in_process: float = 0.0
    watch_clocks_read: int = 0
    watch_idle: float = 0.0


class NhsNumbers:
    """Valid NHS numbers in the 999 test range, never issued to a patient, none repeated."""

    def __init__(self) -> None:
        self.next_stem = 100_000

    def take(self) -> str:
        while True:
            stem = f"999{self.next_stem:06d}"
            self.next_stem += 1
            check = nhs_check_digit(stem)
            if check is not None and len(set(f"{stem}{check}")) > 1:
                return f"{stem}{check}"


def referral(n: int, numbers: NhsNumbers, *, at: datetime, tag: str) -> dict[str, Any]:
    """A suspected-MSCC referral of an invented patient (the COORD, STEROID and MRI clocks run)."""
    return {
        "event_id": f"bench-{tag}-{n}-referral",
        "pathway": f"REF-BENCH-{tag}-{n}",
        "type": "referral.received",
        "occurred_at": at.isoformat(),
        "source": "benchmark",
        "data": {
            "patient": {
                "nhs_number": numbers.take(),
                "given_name": GIVEN[n % len(GIVEN)],
                "family_name": FAMILY[n % len(FAMILY)],
                "date_of_birth": "1951-03-04",
            },
            "referrer": {"name": "Dr Q. Example", "organisation": "Benchmark GP"},
            "cancer_status": "known",
            "pain_features": [],
            "neuro_features": ["limb_weakness"],
        },
    }


def contacted(n: int, *, at: datetime, tag: str) -> dict[str, Any]:
    return {
        "event_id": f"bench-{tag}-{n}-contacted",
        "pathway": f"REF-BENCH-{tag}-{n}",
        "type": "coordinator.contacted",
        "occurred_at": at.isoformat(),
        "recorded_by": "Sam Coordinator",
        "source": "benchmark",
        "data": {"coordinator": "Sam Coordinator"},
    }


def percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _admin(admin_url: str) -> Engine:
    return create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )


@contextlib.contextmanager
def postgres_databases(admin_url: str, names: list[str]) -> Iterator[list[str]]:
    """Scratch databases on the server of ``admin_url``, dropped at the end; yields their URLs."""
    admin = _admin(admin_url)
    created: list[str] = []
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        base = admin_url.rsplit("/", 1)[0]
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _api_json(api: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{api}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


def _active_runs(api: str) -> int:
    body = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}}}}
    return int(_api_json(api, "/flow_runs/count", body))


def _failed_handle_event_runs(api: str) -> int:
    body = {
        "flows": {"name": {"any_": ["handle-event"]}},
        "flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}},
    }
    return int(_api_json(api, "/flow_runs/count", body))


def _handle_event_run_seconds(api: str) -> dict[str, float]:
    """Each handle-event run's own duration (Prefect's start → end), by its event id."""
    seconds: dict[str, float] = {}
    offset = 0
    while True:
        body = {"flows": {"name": {"any_": ["handle-event"]}}, "limit": 200, "offset": offset}
        runs = _api_json(api, "/flow_runs/filter", body)
        for run in runs:
            if run["start_time"] and run["end_time"]:
                duration = datetime.fromisoformat(run["end_time"]) - datetime.fromisoformat(
                    run["start_time"]
                )
                seconds[run["parameters"]["event_id"]] = duration.total_seconds()
        if len(runs) < 200:
            return seconds
        offset += 200


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def served(api: str, database_url: str, folder: Path, limit: int) -> Iterator[None]:
    """``cordwatch serve --no-demo`` on ``database_url``, deployments registered and the
    scheduled ones paused; stopped with its flow-run processes (its process group) at the end."""
    folder.mkdir(parents=True)
    # The previous serve's deployments would look registered (and get paused) before this
    # serve re-registers them unpaused: start from none.
    for deployment in _api_json(api, "/deployments/filter", {"limit": 50, "offset": 0}):
        httpx.delete(f"{api}/deployments/{deployment['id']}", timeout=30).raise_for_status()
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "CORDWATCH_DATABASE_URL": database_url,
        "CORDWATCH_HOME": str(folder),
    }
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "cordwatch"), "serve", "--no-demo", "--limit", str(limit)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                _wait(lambda: _registered(api, process), 180, "cordwatch serve's deployments")
                asyncio.run(_pause_schedules())
                _wait(lambda: _active_runs(api) == 0, 180, "scheduled runs to finish")
            except BaseException:
                print(f"cordwatch serve log (tail):\n{_tail(log_path)}", file=sys.stderr)
                raise
            yield
        finally:
            _stop_group(process)


def _registered(api: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"cordwatch serve exited with {process.returncode}")
    # READY once the runner has polled for them: from then on their runs are picked up.
    deployments = _api_json(api, "/deployments/filter", {"limit": 50, "offset": 0})
    return len(deployments) >= DEPLOYMENTS and all(d["status"] == "READY" for d in deployments)


async def _pause_schedules() -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for name in PAUSED:
            deployment = await client.read_deployment_by_name(name)
            await client.pause_deployment(deployment.id)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the serve and its flow runs (as Ctrl-C would), then SIGKILL to what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class Recorder:
    """Records events as ``cordwatch record`` does: the intake commits, then `handle-event` is
    requested through ``notify_event``; a poller watches the inbox for ``processed_at``."""

    def __init__(self, database_url: str) -> None:
        from services.intake import Intake
        from services.settings import Settings

        self.engine = make_engine(database_url)
        rules = Settings(database_url=database_url).pinned_rules()
        self.intake = Intake(self.engine, new_pathway_rules=lambda: rules, mark_processed=False)
        self.started: dict[str, float] = {}
        self.processed: dict[str, float] = {}

    async def record(self, events: list[dict[str, Any]]) -> float:
        """Admit ``events`` in one transaction and request their runs; returns the seconds to
        commit. The clock starts before the intake, as for a coordinator pressing Enter."""
        from db.inbox import find_inbox_entries
        from flows.notify import notify_event

        began = time.perf_counter()
        for event in events:
            self.started[event["event_id"]] = began
        result = self.intake.ingest_lines(
            [(None, json.dumps(e)) for e in events], now=datetime.now(UTC), batch_size=len(events)
        )
        committed = time.perf_counter() - began
        if result.rejected:
            raise RuntimeError(f"intake refused benchmark events: {result.rejected[:3]}")
        with reading(self.engine) as conn:
            entries = find_inbox_entries(conn, result.accepted_event_ids)
        for entry in entries:
            await notify_event(entry)
        return committed

    async def poll(self) -> None:
        """Every 50 ms, note when each recorded event's inbox row was first seen processed."""
        while True:
            waiting = [e for e in self.started if e not in self.processed]
            if waiting:
                with reading(self.engine) as conn:
                    done = conn.execute(
                        select(INBOX.c.event_id)
                        .where(INBOX.c.event_id.in_(waiting))
                        .where(INBOX.c.processed_at.is_not(None))
                    ).scalars()
                    seen = time.perf_counter()
                    for event_id in done:
                        self.processed[event_id] = seen
            await asyncio.sleep(0.05)

    async def until_processed(self, event_ids: list[str], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and any(e not in self.processed for e in event_ids):
            await asyncio.sleep(0.05)


async def measure_events(
    database_url: str, figures: Figures, *, events: int, spacing: float, burst: int
) -> None:
    """Latency of events recorded one every ``spacing`` s (referrals, then their coordinator
    contact), then a burst of ``burst`` referrals recorded at once."""
    recorder = Recorder(database_url)
    poller = asyncio.create_task(recorder.poll())
    numbers = NhsNumbers()
    try:
        pathways = math.ceil(events / 2)
        plan: list[tuple[str, int]] = [("referral", n) for n in range(pathways)]
        plan += [("contacted", n) for n in range(pathways)]
        kinds: dict[str, str] = {}
        start = time.perf_counter()
        for slot, (kind, n) in enumerate(plan):
            await asyncio.sleep(max(0.0, start + slot * spacing - time.perf_counter()))
            now = datetime.now(UTC)
            event = (
                referral(n, numbers, at=now - timedelta(minutes=1), tag="live")
                if kind == "referral"
                else contacted(n, at=now, tag="live")
            )
            kinds[event["event_id"]] = event["type"]
            figures.live_event_ids.append(event["event_id"])
            figures.committed.append(await recorder.record([event]))
        await recorder.until_processed(list(kinds), 300)
        for event_id, event_type in kinds.items():
            if event_id in recorder.processed:
                figures.processed.setdefault(event_type, []).append(
                    recorder.processed[event_id] - recorder.started[event_id]
                )
            else:
                figures.latency_missing += 1

        now = datetime.now(UTC)
        batch = [referral(n, numbers, at=now, tag="burst") for n in range(burst)]
        figures.burst_size = burst
        await recorder.record(batch)
        ids = [e["event_id"] for e in batch]
        await recorder.until_processed(ids, 60 * 30)
        figures.burst_processed = sorted(
            recorder.processed[e] - recorder.started[e] for e in ids if e in recorder.processed
        )
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        recorder.engine.dispose()


async def run_and_wait(name: str, parameters: dict[str, Any]) -> tuple[float, float, str]:
    """Request a run of deployment ``name`` and poll it every 0.2 s until it ends: seconds from
    request to its final state, seconds the run itself took (start → end), state name."""
    from prefect.client.orchestration import get_client
    from prefect.deployments.flow_runs import arun_deployment

    began = time.perf_counter()
    run = await arun_deployment(name, parameters=parameters, timeout=0, as_subflow=False)
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run.id)
            state = run.state
            if state is not None and state.is_final():
                elapsed = time.perf_counter() - began
                break
            if time.perf_counter() - began > 1800:
                raise RuntimeError(f"the {name} run did not finish within 30 minutes")
            await asyncio.sleep(0.2)
    in_run = (
        (run.end_time - run.start_time).total_seconds()
        if run.start_time is not None and run.end_time is not None
        else math.nan
    )
    return elapsed, in_run, state.name or state.type.value


def simulated_cohort(count: int, folder: Path) -> tuple[Path, int]:
    """At least ``count`` simulated events, whole pathways in referral order (so nearly every
    pathway is complete, as a backfill is), cut to ``count``; written as JSON Lines."""
    from pathway.simulation import simulate_cohort

    now = datetime.now(UTC)
    patients = max(1, count // 8)
    while True:
        events = simulate_cohort(
            patients=patients,
            seed=2026,
            start=now - timedelta(days=400),
            span_days=200,
            horizon=now,
        )
        if len(events) >= count:
            break
        patients *= 2
    per_pathway: dict[str, int] = {}
    for event in events:
        per_pathway[event["pathway"]] = per_pathway.get(event["pathway"], 0) + 1
    chosen: set[str] = set()
    total = 0
    for reference in dict.fromkeys(e["pathway"] for e in events):  # in referral order
        if total >= count:
            break
        chosen.add(reference)
        total += per_pathway[reference]
    kept = [e for e in events if e["pathway"] in chosen][:count]
    path = folder / "cohort.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in kept), encoding="utf-8")
    return path, len(kept)


async def measure_ingest(database_url: str, figures: Figures, *, events: int, folder: Path) -> None:
    path, figures.ingest_events = simulated_cohort(events, folder)
    (
        figures.ingest_request_to_done,
        figures.ingest_in_run,
        figures.ingest_state,
    ) = await run_and_wait("ingest/ingest", {"path": str(path)})
    engine = make_engine(database_url)
    with reading(engine) as conn:
        figures.ingest_accepted = conn.execute(select(func.count()).select_from(INBOX)).scalar_one()
    engine.dispose()


async def measure_watch(database_url: str, figures: Figures, *, pathways: int) -> None:
    """Open pathways referred in the last ten minutes (their clocks run, none is at risk yet),
    one watch through the deployment, then the same sweep in-process, then an idle one."""
    from services.intake import Intake
    from services.settings import Settings
    from services.watch import configured_escalation, run_watch

    settings = Settings(database_url=database_url)
    rules = settings.pinned_rules()
    engine = make_engine(database_url)
    numbers = NhsNumbers()
    now = datetime.now(UTC)
    lines = (
        (None, json.dumps(referral(n, numbers, at=now - timedelta(seconds=n % 600), tag="open")))
        for n in range(pathways)
    )
    Intake(engine, new_pathway_rules=lambda: rules).ingest_lines(lines, now=now)
    figures.watch_pathways = pathways
    with transaction(engine) as conn:
        # As if each referral's letters had gone out in its handle-event run: the watch
        # measured is the sweep and the board, not 2 letters x N rendered in one run.
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.kind == "letter")
            .where(OUTBOX.c.status == "pending")
            .values(status="sent")
        )
    (
        figures.watch_request_to_done,
        figures.watch_in_run,
        figures.watch_state,
    ) = await run_and_wait("deadline-watch/deadline-watch", {})
    with transaction(engine) as conn:
        # That sweep computed every new clock's next alert moment; forget it so the in-process
        # sweep does the same work (a clock the intake just inserted has none).
        conn.execute(update(CLOCK).where(CLOCK.c.status == "running").values(next_alert_at=None))
    escalation = configured_escalation(settings)
    began = time.perf_counter()
    report = run_watch(engine, as_of=datetime.now(UTC), escalation=escalation)
    figures.watch_in_process = time.perf_counter() - began
    figures.watch_clocks_read = report.sweep.clocks_read
    began = time.perf_counter()
    run_watch(engine, as_of=datetime.now(UTC), escalation=escalation)
    figures.watch_idle = time.perf_counter() - began
    engine.dispose()


def run_backend(backend: str, args: argparse.Namespace, folder: Path) -> Figures:
    """Start Prefect's server on ``backend``, then each group of measures on its own database."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    figures = Figures()
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            suffix = uuid.uuid4().hex[:8]
            names = [f"cordwatch_orch_{part}_{suffix}" for part in ("events", "ingest", "watch")]
            names.append(f"prefect_orch_{suffix}")
            *urls, prefect_url = stack.enter_context(postgres_databases(args.postgres, names))
            prefect_database: str | None = prefect_url.replace(
                "postgresql://", "postgresql+asyncpg://"
            )
        else:
            urls = [f"sqlite:///{folder / f'{part}.db'}" for part in ("events", "ingest", "watch")]
            prefect_database = None
        port = free_port()
        log = folder / "prefect-server.log"
        try:
            server = start_server(
                home=folder / "prefect-server",
                port=port,
                log=log,
                wait_seconds=300,
                database_url=prefect_database,
            )
        except RuntimeError:
            print(f"prefect server log (tail):\n{_tail(log)}", file=sys.stderr)
            raise
        stack.callback(stop_server, server)
        api = f"http://127.0.0.1:{port}/api"
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api}))
        events_url, ingest_url, watch_url = urls
        with served(api, events_url, folder / "serve-events", args.limit):
            asyncio.run(
                measure_events(
                    events_url,
                    figures,
                    events=args.events,
                    spacing=args.spacing,
                    burst=args.burst,
                )
            )
            figures.failed_runs = _failed_handle_event_runs(api)
            durations = _handle_event_run_seconds(api)
            figures.in_run = [durations[e] for e in figures.live_event_ids if e in durations]
        with served(api, ingest_url, folder / "serve-ingest", args.limit):
            asyncio.run(
                measure_ingest(ingest_url, figures, events=args.ingest_events, folder=folder)
            )
        with served(api, watch_url, folder / "serve-watch", args.limit):
            asyncio.run(measure_watch(watch_url, figures, pathways=args.pathways))
    return figures


def _spread(values: list[float]) -> str:
    if not values:
        return "none measured"
    return f"median {statistics.median(values):.2f} s, p95 {percentile(values, 0.95):.2f} s"


def table(figures: Figures) -> list[tuple[str, str]]:
    processed = [v for values in figures.processed.values() for v in values]
    rows = [
        (f"record -> committed ({len(figures.committed)} events)", _spread(figures.committed)),
        (
            "record -> processed by its handle-event run",
            _spread(processed)
            + (f" ({figures.latency_missing} never processed)" if figures.latency_missing else ""),
        ),
    ]
    rows += [
        (f"  {event_type} ({len(values)})", _spread(values))
        for event_type, values in figures.processed.items()
    ]
    rows.append(("  of which the run itself (Prefect start -> end)", _spread(figures.in_run)))
    burst = figures.burst_processed
    if burst:
        rate = 60 * len(burst) / burst[-1]
        rows.append(
            (
                f"burst of {figures.burst_size} referrals -> all processed",
                f"{rate:.1f} runs/min ({len(burst)} done in {burst[-1]:.1f} s, "
                f"first after {burst[0]:.1f} s)",
            )
        )
    else:
        rows.append((f"burst of {figures.burst_size} referrals", "none processed"))
    rows.append(("handle-event runs failed or crashed", str(figures.failed_runs)))
    rows.append(
        (
            f"ingest flow, {figures.ingest_events:,} events (request -> {figures.ingest_state})",
            f"{figures.ingest_events / figures.ingest_request_to_done:,.0f} events/s "
            f"({figures.ingest_request_to_done:.1f} s; the run itself {figures.ingest_in_run:.1f} s;"
            f" {figures.ingest_accepted:,} accepted)",
        )
    )
    rows.append(
        (
            f"deadline-watch run, {figures.watch_pathways:,} open pathways "
            f"(request -> {figures.watch_state})",
            f"{figures.watch_request_to_done:.2f} s (the run itself {figures.watch_in_run:.2f} s)",
        )
    )
    rows.append(
        (
            "run_watch in-process, the same first sweep",
            f"{figures.watch_in_process:.2f} s ({figures.watch_clocks_read:,} clocks read)",
        )
    )
    rows.append(("run_watch in-process, idle (next sweep)", f"{figures.watch_idle:.3f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=30, help="events timed one by one")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between them")
    parser.add_argument("--burst", type=int, default=60, help="referrals recorded at once")
    parser.add_argument("--ingest-events", type=int, default=10_000)
    parser.add_argument("--pathways", type=int, default=10_000, help="open, for the watch")
    parser.add_argument("--limit", type=int, default=4, help="cordwatch serve --limit")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every process we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    began = datetime.now(UTC)
    print(
        f"benchmarks/orchestration.py, {began:%Y-%m-%d %H:%M} UTC: --events {args.events} "
        f"(one every {args.spacing:g} s) --burst {args.burst} --ingest-events "
        f"{args.ingest_events:,} --pathways {args.pathways:,}; cordwatch serve --limit "
        f"{args.limit}, runner poll 1 s, scheduled watch paused",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="cordwatch-orchestration-") as tmp:
        folder = Path(tmp)
        # The benchmark's own Prefect client keeps its files here, not in ~/.prefect.
        os.environ["PREFECT_HOME"] = str(folder / "client-home")
        os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        for backend in backends:
            title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]
            if backend == "postgres":
                admin = _admin(args.postgres)
                try:
                    admin.connect().close()
                except OperationalError:
                    print(f"\n{title}: skipped, no server at {args.postgres}", flush=True)
                    continue
                finally:
                    admin.dispose()
            (folder / backend).mkdir()
            backend_began = time.perf_counter()
            # Each table is printed as soon as its backend is done: an interrupted run keeps it.
            rows = table(run_backend(backend, args, folder / backend))
            minutes = (time.perf_counter() - backend_began) / 60
            print(f"\n{title}, cordwatch's database and Prefect's own ({minutes:.1f} min)")
            width = max(len(name) for name, _ in rows)
            for name, value in rows:
                print(f"{name:<{width}}  {value}", flush=True)


if __name__ == "__main__":
    main()
