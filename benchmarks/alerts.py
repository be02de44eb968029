"""Measure alerting: the idle watch over 100,000 open pathways, 1,000 alerts to a local receiver,
and the delay from a clock's at-risk moment to its alert arriving under the scheduled watch.

Run: ``.venv/bin/python benchmarks/alerts.py [--pathways 100000] [--burst 1000]``. SQLite files in
a temporary folder; the receiver is a real HTTP server on 127.0.0.1 behind ``json://``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _configure(folder: Path, name: str, receiver_url: str) -> str:
    from services.settings import get_settings

    url = f"sqlite:///{folder / name}"
    config = folder / "apprise.yml"
    config.write_text(
        "urls:\n"
        f'  - "{receiver_url}":\n'
        "      - tag: coordinator, oncall-consultant, service-lead, ops, fallback\n",
        encoding="utf-8",
    )
    os.environ["CORDWATCH_DATABASE_URL"] = url
    os.environ["CORDWATCH_ALERT_CONFIG_PATH"] = str(config)
    get_settings.cache_clear()
    return url


def idle_watch(folder: Path, pathways: int, receiver_url: str) -> tuple[float, int]:
    """Bulk-insert open pathways with running clocks whose next alert is in the future (rows
    written directly, as the intake and an earlier watch would leave them), then time a watch."""
    from sqlalchemy import insert

    from db.engine import make_engine, transaction
    from db.migrate import upgrade
    from db.repository import CLOCK, PATHWAY, PATIENT
    from services.watch import run_watch
    from tests.conftest import RULES

    engine = make_engine(_configure(folder, "idle.db", receiver_url))
    upgrade(engine)
    rules = RULES.to_json()
    clocks_per_pathway = ("STEROID-MSCC", "MRI-MSCC", "PLAN-MSCC")
    with transaction(engine) as conn:
        for start in range(0, pathways, 10_000):
            ids = range(start, min(start + 10_000, pathways))
            conn.execute(
                insert(PATIENT),
                [
                    {
                        "id": f"PT-{n}",
                        "nhs_number": None,
                        "mrn": None,
                        "given_name": "x",
                        "family_name": "x",
                        "date_of_birth": date(1950, 1, 1),
                        "created_at": T0,
                    }
                    for n in ids
                ],
            )
            conn.execute(
                insert(PATHWAY),
                [
                    {
                        "id": f"PW-{n:07d}",
                        "reference": f"REF-{n}",
                        "patient_id": f"PT-{n}",
                        "category": "suspected_mscc",
                        "stage": "awaiting_imaging",
                        "status": "open",
                        "referred_at": T0,
                        "ruleset": RULES.label,
                        "rules": rules,
                        "version": 1,
                        "updated_at": T0,
                    }
                    for n in ids
                ],
            )
            due = T0 + timedelta(days=3)
            conn.execute(
                insert(CLOCK),
                [
                    {
                        "pathway_id": f"PW-{n:07d}",
                        "clock_id": clock,
                        "kind": "hour",
                        "limit": "72 h",
                        "local": False,
                        "starts_at": T0,
                        "due_at": due,
                        "warn_at": T0 + timedelta(hours=36),
                        "warnings": json.dumps(
                            [(T0 + timedelta(hours=h)).isoformat() for h in (36, 54)]
                        ),
                        "status": "running",
                        "next_alert_at": T0 + timedelta(hours=36),
                    }
                    for n in ids
                    for clock in clocks_per_pathway
                ],
            )
    as_of = T0 + timedelta(hours=1)
    run_watch(engine, as_of=as_of)  # warm the connection and caches
    began = time.perf_counter()
    report = run_watch(engine, as_of=as_of + timedelta(minutes=1))
    elapsed = time.perf_counter() - began
    engine.dispose()
    return elapsed, report.sweep.clocks_read


def _ingest(engine: Any, count: int, start_of: Any) -> None:
    from services.intake import Intake
    from tests.conftest import RULES
    from tests.factories import pathway_lines

    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    lines = []
    for n in range(count):
        lines.extend(pathway_lines(f"REF-B{n}", start_of(n), f"b{n}")[:2])
    result = intake.ingest_lines(enumerate(lines, 1), now=T0 + timedelta(days=1))
    assert not result.rejected, result.rejected[:3]


def burst(folder: Path, count: int, receiver: Any) -> float:
    """``count`` STEROID-MSCC clocks pass 50 % at once: time from the watch to all received."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from services.watch import run_watch
    from tasks.alerts import deliver_pending_alerts

    engine = make_engine(_configure(folder, "burst.db", receiver.url("burst")))
    upgrade(engine)
    _ingest(engine, count, lambda n: T0)
    run_watch(engine, as_of=T0 + timedelta(minutes=30))  # nothing due yet
    at = T0 + timedelta(hours=2, minutes=1)
    began = time.perf_counter()
    run_watch(engine, as_of=at)
    asyncio.run(deliver_pending_alerts(at))
    while len(receiver.bodies("burst")) < count:
        time.sleep(0.01)
    elapsed = time.perf_counter() - began
    engine.dispose()
    return elapsed


def scheduled_delay(folder: Path, count: int, interval: int, receiver: Any) -> list[float]:
    """Clocks whose at-risk moments spread over an hour, watched every ``interval`` seconds
    (the schedule simulated in-process): delay = wait for the next tick + real processing."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from services.watch import run_watch
    from tasks.alerts import deliver_pending_alerts

    engine = make_engine(_configure(folder, "scheduled.db", receiver.url("scheduled")))
    upgrade(engine)
    offsets = [timedelta(seconds=3600 * n / count + 7) for n in range(count)]
    _ingest(engine, count, lambda n: T0 + offsets[n])
    at_risk = {f"REF-B{n}": T0 + offsets[n] + timedelta(hours=2) for n in range(count)}
    from sqlalchemy import select

    from db.repository import PATHWAY

    with engine.connect() as conn:
        ref_of = dict(conn.execute(select(PATHWAY.c.id, PATHWAY.c.reference)).tuples().all())
    delays: list[float] = []
    tick = T0 + timedelta(hours=2)
    seen = 0
    first_seen: set[str] = set()
    while tick <= T0 + timedelta(hours=3, minutes=2):
        began = time.perf_counter()
        run_watch(engine, as_of=tick)
        asyncio.run(deliver_pending_alerts(tick))
        bodies = receiver.bodies("scheduled")
        processing = time.perf_counter() - began
        for body in bodies[seen:]:
            pathway_id = body["title"].split()[2]
            if pathway_id in first_seen:  # the 75 % alert of a clock seen at 50 %
                continue
            first_seen.add(pathway_id)
            wait = (tick - at_risk[ref_of[pathway_id]]).total_seconds()
            delays.append(wait + processing)
        seen = len(bodies)
        tick += timedelta(seconds=interval)
    engine.dispose()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pathways", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--scheduled", type=int, default=200)
    parser.add_argument("--interval", type=int, default=60)
    args = parser.parse_args()
    from tests.alerts.receivers import JsonReceiver

    receiver = JsonReceiver()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        idle, read = idle_watch(folder, args.pathways, receiver.url("idle"))
        burst_seconds = burst(folder, args.burst, receiver)
        delays = scheduled_delay(folder, args.scheduled, args.interval, receiver)
    receiver.close()
    rows = [
        (
            f"idle watch, {args.pathways:,} open pathways ({3 * args.pathways:,} running clocks)",
            f"{idle:.3f} s ({read} clocks read)",
            "< 2 s",
        ),
        (f"{args.burst:,} clocks due -> all alerts received", f"{burst_seconds:.2f} s", "< 30 s"),
        (
            f"at-risk -> received, watch every {args.interval} s ({len(delays)} alerts)",
            f"median {statistics.median(delays):.1f} s, max {max(delays):.1f} s",
            f"< {args.interval + 15} s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<34}  target")
    for name, result, target in rows:
        print(f"{name:<{width}}  {result:<34}  {target}")


if __name__ == "__main__":
    main()
