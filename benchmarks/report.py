"""Time `cordwatch report` and `cordwatch audit verify` on 1,000, 10,000 and 100,000 pathways.

Run: python benchmarks/report.py [--sizes 1000,10000,100000] [--verify-entries 1000000]
[--postgres URL | --no-postgres]

The databases are built by bulk-inserting realistic rows (pathways, their referral and imaging
milestones with inbox rows, six clocks each with the simulator's mix of outcomes, and four
audit entries each, chained through ``append_audit``), not by running every event through the
intake, which would take far longer than the figures measured. PostgreSQL runs in a scratch
database that is dropped at the end; it is analysed after the bulk load, as autovacuum does on
a live database.

For each size it prints the report and verify times and their cost per pathway and per audit
entry, then how each grows from one size to the next. ``--verify-entries N`` then extends the
largest database's chain with more entries of the same kinds until it holds N, and verifies
that real chain (0 skips it), so the one-million-entry figure is measured, not extrapolated.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, insert, text

from db.audit import append_audit, verify_chain
from db.engine import make_engine, transaction
from db.migrate import upgrade
from db.repository import CLOCK, INBOX, MILESTONE, PATHWAY, PATIENT
from services.audit_report import performance_report

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


def _audit_entries(i: int, pid: str, referred: datetime) -> list[dict[str, Any]]:
    """The four audit entries of one pathway: three accepted events and a clock stop."""
    entries: list[dict[str, Any]] = [
        {
            "at": referred + timedelta(hours=6 * n_event),
            "action": "event.accepted",
            "pathway_id": pid,
            "pathway_reference": f"REF-{i}",
            "event_id": f"bench-{i}-{n_event}",
            "event_type": etype,
            "occurred_at": referred + timedelta(hours=6 * n_event),
            "actor": "bench",
            "source": "bench",
        }
        for n_event, etype in enumerate(
            ("referral.received", "imaging.performed", "imaging.reported")
        )
    ]
    entries.append(
        {
            "at": referred,
            "action": "clock.met",
            "pathway_id": pid,
            "field": "MRI-MSCC",
            "details": '{"status": "met"}',
        }
    )
    return entries


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
        rows["audit"].extend(_audit_entries(i, pid, referred))
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
    with transaction(engine) as conn:
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
    if engine.dialect.name == "postgresql":
        with transaction(engine) as conn:
            conn.execute(text("ANALYZE"))
    return len(rows["audit"])


def extend_chain(engine: Engine, first_pathway: int, entries: int) -> None:
    """Append audit entries of further (synthetic) pathways until ``entries`` more are chained."""
    rng = random.Random(first_pathway)
    batch: list[dict[str, Any]] = []
    i = first_pathway
    with transaction(engine) as conn:
        while entries > 0:
            referred = START + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 60))
            batch.extend(_audit_entries(i, f"PW-{i:08d}", referred)[:entries])
            entries -= min(4, entries)
            i += 1
            if len(batch) >= 20_000 or entries == 0:
                append_audit(conn, batch)
                batch = []


def time_report(engine: Engine) -> tuple[float, int]:
    """Seconds for the report over the whole span; the number of pathways it counted."""
    began = time.perf_counter()
    with engine.connect() as conn:
        report = performance_report(
            conn,
            start=START.date(),
            end=(START + timedelta(days=SPAN_DAYS)).date(),
            as_of=AS_OF,
            timezone="Europe/London",
        )
    return time.perf_counter() - began, sum(report.pathways.values())


def time_verify(engine: Engine) -> tuple[float, int]:
    """Seconds for verifying the whole chain; the entries checked (it must be intact)."""
    began = time.perf_counter()
    with engine.connect() as conn:
        chain = verify_chain(conn)
    if not chain.ok:
        raise SystemExit(f"the benchmark chain does not verify: {chain.problem}")
    return time.perf_counter() - began, chain.entries


@contextmanager
def scratch_database(backend: str, postgres: str) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file in a temporary folder, or a PostgreSQL one."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.db")
            try:
                upgrade(engine)
                yield engine
            finally:
                engine.dispose()
        return
    admin = create_engine(
        "postgresql+psycopg://" + postgres.removeprefix("postgresql://"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"cordwatch_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(postgres.rsplit("/", 1)[0] + "/" + name)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _growth(label: str, points: list[tuple[int, float]], unit: str, units: str) -> str:
    """Cost per item at each size, and how the time grows from one size to the next."""
    costs = ", ".join(f"{seconds / n * 1e6:.1f} us/{unit} at {n:,}" for n, seconds in points)
    steps = ", ".join(
        f"x{s1 / s0:.1f} time for x{n1 / n0:.1f} {units}" for (n0, s0), (n1, s1) in pairwise(points)
    )
    return f"  {label}: {costs}; {steps}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--verify-entries",
        type=int,
        default=1_000_000,
        help="extend the largest chain to this many entries and verify it (0: skip)",
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "Database built by bulk-inserting realistic rows (not through the intake); report over all of it."
    )
    print(
        f"{'backend':<10} {'pathways':>9} {'clocks':>8} {'audit rows':>11} {'build s':>8} "
        f"{'report s':>9} {'us/pathway':>11} {'verify s':>9} {'us/entry':>9}"
    )
    backends = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    summary: list[str] = []
    for backend in backends:
        reports: list[tuple[int, float]] = []
        verifies: list[tuple[int, float]] = []
        for n in sizes:
            with scratch_database(backend, args.postgres) as engine:
                began = time.perf_counter()
                entries = build(engine, n)
                build_seconds = time.perf_counter() - began
                with engine.connect() as conn:
                    clocks = conn.execute(text("SELECT count(*) FROM clock")).scalar_one()
                report_s, counted = time_report(engine)
                verify_s, checked = time_verify(engine)
                # The migration writes the chain's genesis entry before any of the build's.
                entries += 1
                if (counted, checked) != (n, entries):
                    raise SystemExit(f"counted {counted} pathways, {checked} entries")
                reports.append((n, report_s))
                verifies.append((entries, verify_s))
                print(
                    f"{backend:<10} {n:>9,} {clocks:>8,} {entries:>11,} {build_seconds:>8.1f} "
                    f"{report_s:>9.2f} {report_s / n * 1e6:>11.1f} {verify_s:>9.2f} "
                    f"{verify_s / entries * 1e6:>9.1f}",
                    flush=True,
                )
                if n == sizes[-1] and args.verify_entries > entries:
                    began = time.perf_counter()
                    extend_chain(engine, n, args.verify_entries - entries)
                    extend_seconds = time.perf_counter() - began
                    verify_s, checked = time_verify(engine)
                    if checked != args.verify_entries:
                        raise SystemExit(f"verified {checked} entries")
                    verifies.append((checked, verify_s))
                    print(
                        f"{backend:<10} {'(chain)':>9} {'':>8} {checked:>11,} "
                        f"{extend_seconds:>8.1f} {'':>9} {'':>11} {verify_s:>9.2f} "
                        f"{verify_s / checked * 1e6:>9.1f}",
                        flush=True,
                    )
        summary.append(f"{backend}:")
        summary.append(_growth("report", reports, "pathway", "pathways"))
        summary.append(_growth("verify", sorted(verifies), "entry", "entries"))
        largest_report = reports[-1]
        largest_verify = max(verifies)
        summary.append(
            f"  report for {largest_report[0]:,} pathways {largest_report[1]:.2f} s (target < 10 s); "
            f"verify of {largest_verify[0]:,} entries {largest_verify[1]:.2f} s (target < 30 s "
            "for 1,000,000)"
        )
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
