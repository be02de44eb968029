"""Time the what-if replay of ruleset version 2 (and its adoption) over a simulated cohort.

Run: ``.venv/bin/python benchmarks/whatif.py [--pathways 100000] [--postgres URL] [--no-adopt]``

The database is built the way a service fills it: :func:`pathway.simulation.simulate_cohort`
events (version-1 findings, a quarter of scans ruling metastases out) ingested through the
intake pinned to version 1, on SQLite (a temporary file) and, with ``--postgres``, in a scratch
PostgreSQL database dropped at the end. Building takes far longer than what is measured (the
intake runs some 3,000 events/s). Then, for each database, it times ``load_what_if`` over the
whole referral window in one read snapshot (every pathway replayed under its pinned version and
under version 2), and ``adopt`` of version 2 for every open pathway, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text

from db.engine import make_engine, reading
from db.migrate import upgrade
from db.repository import INBOX, PATHWAY
from pathway.ruleset import load_ruleset, pin_rules
from pathway.simulation import simulate_cohort
from services.adoption import adopt, load_what_if
from services.intake import Intake

START = datetime(2026, 6, 1, tzinfo=UTC)
SPAN_DAYS = 120
AS_OF = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TIMEZONE = "Europe/London"


def _build(url: str, pathways: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    rules = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone=TIMEZONE)
    events = simulate_cohort(
        patients=pathways, seed=1, start=START, span_days=SPAN_DAYS, horizon=AS_OF
    )
    lines = [json.dumps(event) for event in events]
    began = time.perf_counter()
    Intake(engine, new_pathway_rules=lambda: rules).ingest_lines(enumerate(lines, 1), now=AS_OF)
    built = time.perf_counter() - began
    with reading(engine) as conn:
        stored = conn.execute(select(func.count()).select_from(INBOX)).scalar_one()
        open_count = conn.execute(
            select(func.count()).select_from(PATHWAY).where(PATHWAY.c.status == "open")
        ).scalar_one()
    engine.dispose()
    return {"events": stored, "open": open_count, "build_seconds": built}


def _measure(url: str, *, with_adopt: bool) -> dict[str, Any]:
    engine = make_engine(url)
    candidate = load_ruleset("nice-ng234-2023", 2)
    began = time.perf_counter()
    with reading(engine) as conn:
        result = load_what_if(
            conn,
            candidate=candidate,
            start=START.date(),
            end=(START + timedelta(days=SPAN_DAYS)).date(),
            as_of=AS_OF,
            timezone=TIMEZONE,
        )
    replay_seconds = time.perf_counter() - began
    figures: dict[str, Any] = {
        "pathways": result.pathways,
        "changed": len(result.changes),
        "refused": len(result.refused),
        "replay_seconds": replay_seconds,
    }
    if with_adopt:
        began = time.perf_counter()
        adoption = adopt(engine, candidate=candidate, by="benchmark", reason="benchmark", now=AS_OF)
        figures["adopt_seconds"] = time.perf_counter() - began
        figures["adopted"] = len(adoption.adopted)
        figures["left_alone"] = len(adoption.left_alone)
    engine.dispose()
    return figures


def _postgres(admin_url: str) -> tuple[str, str]:
    name = f"cordwatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_postgres(admin_url: str, name: str) -> None:
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pathways", type=int, default=100_000)
    parser.add_argument("--postgres", help="admin URL (postgresql://user@host/db) for a scratch db")
    parser.add_argument("--no-adopt", action="store_true", help="time the replay only")
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'whatif.db'}"
        built = _build(url, args.pathways)
        rows.append(("SQLite", built, _measure(url, with_adopt=not args.no_adopt)))
    if args.postgres:
        url, name = _postgres(args.postgres)
        try:
            built = _build(url, args.pathways)
            rows.append(("PostgreSQL", built, _measure(url, with_adopt=not args.no_adopt)))
        finally:
            _drop_postgres(args.postgres, name)
    print(
        f"{'database':<11} {'pathways':>9} {'events':>9} {'changed':>8} {'refused':>8} "
        f"{'replay s':>9} {'ms/pathway':>10} {'adopted':>8} {'left':>6} {'adopt s':>8} "
        f"{'build s':>8}"
    )
    for label, built, figures in rows:
        per = 1000 * figures["replay_seconds"] / max(1, figures["pathways"])
        print(
            f"{label:<11} {figures['pathways']:>9,} {built['events']:>9,} "
            f"{figures['changed']:>8,} {figures['refused']:>8,} "
            f"{figures['replay_seconds']:>9.1f} {per:>10.2f} "
            f"{figures.get('adopted', 0):>8,} {figures.get('left_alone', 0):>6,} "
            f"{figures.get('adopt_seconds', 0.0):>8.1f} {built['build_seconds']:>8.1f}"
        )


if __name__ == "__main__":
    main()
