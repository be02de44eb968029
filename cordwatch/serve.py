"""`cordwatch serve`: a local Prefect server if none answers, every deployment served until Ctrl-C.

With ``--demo`` it also feeds a simulated cohort through the flows once the deployments are up:
a bulk `ingest` run for three weeks of back-dated referrals (so clocks are at risk and breached at
once), a few live events each handled by its own `handle-event` run, and a deadline watch.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cordwatch.prefect_server import api_healthy, start_server, stop_server
from db.engine import reading

DATA = Path("cordwatch-data")


def _feed_demo(patients: int, seed: int, *, say: Callable[[str], Any]) -> None:
    """Runs in a thread next to `serve`: waits for the deployments, then feeds the demo cohort."""
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.exceptions import ObjectNotFound

    from cordwatch.effects import find_inbox_entries
    from cordwatch.intake import Intake
    from cordwatch.settings import get_settings
    from db.engine import make_engine
    from flows.notify import notify_event
    from pathway.simulation import simulate_cohort

    printer = say
    now = datetime.now(UTC)
    events = simulate_cohort(
        patients=patients, seed=seed, start=now - timedelta(days=21), span_days=21, horizon=now
    )
    # Hold back the last events of a few pathways: they arrive "live", one flow run each.
    live_refs = sorted({e["pathway"] for e in events})[:3]
    live = [
        next(
            e for e in reversed(events) if e["pathway"] == ref and e["type"] != "referral.received"
        )
        for ref in live_refs
    ]
    live_ids = {e["event_id"] for e in live}
    cohort = DATA / "demo-cohort.jsonl"
    cohort.write_text(
        "".join(json.dumps(e) + "\n" for e in events if e["event_id"] not in live_ids),
        encoding="utf-8",
    )
    for _ in range(120):
        try:
            run = asyncio.run(
                arun_deployment(
                    "ingest/ingest", parameters={"path": str(cohort.resolve())}, timeout=600
                )
            )
            break
        except ObjectNotFound:  # the deployments are not registered yet
            time.sleep(1)
    else:
        printer("demo: the ingest deployment never appeared")
        return
    printer(f"demo: bulk ingest run {run.name} finished ({run.state_name})")
    settings = get_settings()
    engine = make_engine(settings.url())
    intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
    result = intake.ingest_lines(((None, json.dumps(e)) for e in live), now=datetime.now(UTC))
    with reading(engine) as conn:
        entries = find_inbox_entries(conn, result.accepted_event_ids)
    for entry in entries:
        asyncio.run(notify_event(entry))
        printer(f"demo: live event → flow run '{entry.run_name}'")
    asyncio.run(arun_deployment("deadline-watch/deadline-watch", timeout=0))
    printer("demo: deadline watch requested; see the 'coordinator-board' artifact")


def serve(
    *,
    port: int,
    demo: bool,
    patients: int,
    seed: int,
    limit: int,
    say: Callable[[str], Any] = print,
) -> None:
    """Serve every deployment in the foreground until interrupted; stop what we started."""
    printer = say
    DATA.mkdir(exist_ok=True)
    api_url = os.environ.get("PREFECT_API_URL")
    server = None
    if not api_url or not api_healthy(api_url):
        printer(
            f"starting a local Prefect server on 127.0.0.1:{port} (logs: {DATA / 'prefect-server.log'})"
        )
        server = start_server(home=DATA / "prefect", port=port, log=DATA / "prefect-server.log")
        api_url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = api_url
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if demo and "CORDWATCH_DATABASE_URL" not in os.environ:
        demo_file = DATA / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_file}{suffix}").unlink(missing_ok=True)
        os.environ["CORDWATCH_DATABASE_URL"] = f"sqlite:///{demo_file}"
    from cordwatch.settings import get_settings
    from db.engine import make_engine
    from db.migrate import upgrade

    get_settings.cache_clear()
    upgrade(make_engine(get_settings().url()))
    from prefect import serve as prefect_serve

    from flows.deployments import all_deployments

    ui = api_url.removesuffix("/api")
    printer(f"Prefect UI: {ui}   (runs: {ui}/runs, artifacts: {ui}/artifacts)")
    if demo:
        threading.Thread(
            target=_feed_demo, args=(patients, seed), kwargs={"say": printer}, daemon=True
        ).start()
    try:
        prefect_serve(*all_deployments(), limit=limit, print_starting_message=False)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            printer("stopping the local Prefect server")
            stop_server(server)
