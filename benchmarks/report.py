"""Time `cordwatch report` and `cordwatch audit verify` on 1,000, 10,000 and 100,000 pathways.

Run: python benchmarks/report.py [--sizes 1000,10000,100000] [--postgres URL | --no-postgres]

The databases are built by bulk-inserting realistic rows (pathways, their referral and imaging
milestones with inbox rows, six clocks each with the simulator's mix of outcomes, and four
audit entries each, chained through ``append_audit``), not by running every event through the
intake, which would take far longer than the figures measured. PostgreSQL runs in a scratch
database that is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, insert, text

from cordwatch.audit_report import performance_report
from db.audit import append_audit, verify_chain
from db.engine import make_engine
from db.migrate import upgrade
from db.repository import CLOCK, INBOX, MILESTONE, PATHWAY, PATIENT

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPAN_DAYS = 300
CLOCKS = (  # id, kind, limit in hours, category
    ("COORD-MSCC", "hour", 1, "suspected_mscc"),
    ("STEROID-MSCC", "hour", 4, "suspected_mscc"),
    ("MRI-MSCC", "hour", 24, "suspected_mscc"),
    ("PLAN-MSCC", "hour", 24, "suspected_mscc"),
    ("MRI-METS", "day", 7 * 24, "suspected_spinal_metastases"),
    ("PLAN-METS", "day", 7 * 24, "suspected_spinal_metastases"),
    ("CWT-62", "day", 62 * 24, None),
)


def _rows(n: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("patient", "pathway", "inbox", "milestone", "clock", "audit")
    }
    for i in range(n):
        pid = f"PW-{i:08d}"
        category = "suspected_mscc" if rng.random() < 0.6 else "suspected_spinal_metastases"
        referred = START + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 60))
        rows["patient"].append(
            {
                "id": f"PT-{i}",
                "given_name": "Synthetic",
                "family_name": "Person",
                "date_of_birth": date(1950, 1, 1),
                "created_at": referred,
            }
        )
        rows["pathway"].append(
            {
                "id": pid,
                "reference": f"REF-{i}",
                "patient_id": f"PT-{i}",
                "category": category,
                "stage": "closed",
                "status": "closed",
                "referred_at": referred,
                "ruleset": "nice-ng234-2023.v1",
                "rules": "{}",
                "version": 3,
                "updated_at": referred,
            }
        )
        finding = "mscc" if rng.random() < 0.35 else "spinal_metastases"
        for n_event, (etype, details) in enumerate(
            (
                ("referral.received", '{"ambulatory_status": "with_aid"}'),
                ("imaging.performed", '{"modality": "mri_whole_spine"}'),
                ("imaging.reported", f'{{"finding": "{finding}"}}'),
            )
        ):
            event_id = f"bench-{i}-{n_event}"
            at = referred + timedelta(hours=6 * n_event)
            rows["inbox"].append(
                {
                    "event_id": event_id,
                    "pathway_id": pid,
                    "type": etype,
                    "occurred_at": at,
                    "received_at": at,
                    "content_hash": "x",
                    "payload": "{}",
                }
            )
            rows["milestone"].append(
                {
                    "pathway_id": pid,
                    "event_id": event_id,
                    "type": etype,
                    "occurred_at": at,
                    "details": details,
                }
            )
            rows["audit"].append(
                {
                    "at": at,
                    "action": "event.accepted",
                    "pathway_id": pid,
                    "pathway_reference": f"REF-{i}",
                    "event_id": event_id,
                    "event_type": etype,
                    "occurred_at": at,
                    "actor": "bench",
                    "source": "bench",
                }
            )
        rows["audit"].append(
            {
                "at": referred,
                "action": "clock.met",
                "pathway_id": pid,
                "field": "MRI-MSCC",
                "details": '{"status": "met"}',
            }
        )
        for clock_id, kind, hours, only in CLOCKS:
            if only is not None and only != category:
                continue
            due = referred + timedelta(hours=hours)
            roll = rng.random()
            if roll < 0.8:
                stopped, status, reason = (
                    referred + timedelta(hours=hours * rng.uniform(0.1, 0.99)),
                    "met",
                    None,
                )
            elif roll < 0.9:
                stopped, status, reason = (
                    referred + timedelta(hours=hours * rng.uniform(1.01, 3)),
                    "breached",
                    None,
                )
            elif roll < 0.95:
                stopped, status, reason = (
                    referred + timedelta(hours=hours * 0.5),
                    "excluded",
                    "died",
                )
            else:
                stopped, status, reason = None, "running", None
            rows["clock"].append(
                {
                    "pathway_id": pid,
                    "clock_id": clock_id,
                    "kind": kind,
                    "limit": f"{hours} h",
                    "local": False,
                    "starts_at": referred,
                    "due_at": due,
                    "warn_at": due,
                    "warnings": "[]",
                    "stopped_at": stopped,
                    "status": status,
                    "reason": reason,
                }
            )
    return rows


def build(engine: Engine, n: int) -> int:
    rows = _rows(n, random.Random(n))
    with engine.begin() as conn:
        for table, key in (
            (PATIENT, "patient"),
            (PATHWAY, "pathway"),
            (INBOX, "inbox"),
            (MILESTONE, "milestone"),
            (CLOCK, "clock"),
        ):
            for start in range(0, len(rows[key]), 20_000):
                conn.execute(insert(table), rows[key][start : start + 20_000])
        for start in range(0, len(rows["audit"]), 20_000):
            append_audit(conn, rows["audit"][start : start + 20_000])
    return len(rows["audit"])


def measure(engine: Engine) -> tuple[float, float, int]:
    began = time.perf_counter()
    with engine.connect() as conn:
        report = performance_report(
            conn,
            start=START.date(),
            end=(START + timedelta(days=SPAN_DAYS)).date(),
            as_of=AS_OF,
            timezone="Europe/London",
        )
    report_seconds = time.perf_counter() - began
    assert sum(report.pathways.values()) > 0
    began = time.perf_counter()
    with engine.connect() as conn:
        chain = verify_chain(conn)
    assert chain.ok, chain.problem
    return report_seconds, time.perf_counter() - began, chain.entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "Database built by bulk-inserting realistic rows (not through the intake); report over all of it."
    )
    print(
        f"{'backend':<10} {'pathways':>9} {'clocks':>8} {'audit rows':>11} {'build s':>8} {'report s':>9} {'verify s':>9} {'verify us/entry':>16}"
    )
    results: dict[str, list[tuple[int, float, float, int]]] = {}
    backends = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    for backend in backends:
        for n in sizes:
            if backend == "sqlite":
                folder = tempfile.mkdtemp()
                url = f"sqlite:///{folder}/bench.db"
                admin = None
                name = ""
            else:
                admin = create_engine(
                    "postgresql+psycopg://" + args.postgres.removeprefix("postgresql://"),
                    isolation_level="AUTOCOMMIT",
                )
                name = f"cordwatch_bench_{uuid.uuid4().hex[:8]}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                url = args.postgres.rsplit("/", 1)[0] + "/" + name
            engine = make_engine(url)
            try:
                upgrade(engine)
                began = time.perf_counter()
                entries = build(engine, n)
                build_seconds = time.perf_counter() - began
                with engine.connect() as conn:
                    clocks = conn.execute(text("SELECT count(*) FROM clock")).scalar_one()
                report_s, verify_s, checked = measure(engine)
                assert checked == entries
                results.setdefault(backend, []).append((n, report_s, verify_s, entries))
                print(
                    f"{backend:<10} {n:>9,} {clocks:>8,} {entries:>11,} {build_seconds:>8.1f} {report_s:>9.2f} {verify_s:>9.2f} {verify_s / entries * 1e6:>16.1f}",
                    flush=True,
                )
            finally:
                engine.dispose()
                if admin is not None:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()
    print()
    for backend, rows in results.items():
        (n0, r0, v0, e0), (n1, r1, v1, e1) = rows[0], rows[-1]
        print(
            f"{backend}: report x{r1 / r0:.1f} for x{n1 / n0:.0f} pathways; verify x{v1 / v0:.1f} for x{e1 / e0:.0f} entries (linear); verify of 1,000,000 entries extrapolated: {v1 / e1 * 1e6:.1f} s (target < 30 s); report for 100,000 pathways target < 10 s"
        )


if __name__ == "__main__":
    main()
