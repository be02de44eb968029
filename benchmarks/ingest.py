"""Measure intake throughput: cordwatch into SQLite and PostgreSQL, a raw sqlite3 baseline, replay, memory.

Run: ``.venv/bin/python benchmarks/ingest.py [--patients 10000] [--postgres URL]``. Each phase runs
in its own process so its peak memory is its own. Prints a table of figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
START = datetime(2026, 6, 1, tzinfo=UTC)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_generate(path: Path, patients: int) -> dict[str, Any]:
    from pathway.simulation import simulate_cohort

    began = time.perf_counter()
    events = simulate_cohort(patients=patients, seed=1, start=START, span_days=120, horizon=NOW)
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")
    return {"events": len(events), "seconds": time.perf_counter() - began, "peak_mb": _peak_mb()}


def phase_cordwatch(path: Path, url: str) -> dict[str, Any]:
    from db.engine import make_engine
    from db.migrate import upgrade
    from services.intake import Intake
    from services.settings import Settings

    engine = make_engine(url)
    upgrade(engine)
    rules = Settings(database_url=url).pinned_rules()
    lines = path.read_text(encoding="utf-8").splitlines()
    began = time.perf_counter()
    result = Intake(engine, new_pathway_rules=lambda: rules).ingest_lines(
        enumerate(lines, 1), now=NOW
    )
    first = time.perf_counter() - began
    began = time.perf_counter()
    replay = Intake(engine, new_pathway_rules=lambda: rules).ingest_lines(
        enumerate(lines, 1), now=NOW
    )
    again = time.perf_counter() - began
    return {
        "events": len(lines),
        "accepted": result.accepted,
        "rejected": len(result.rejected),
        "seconds": first,
        "replay_seconds": again,
        "replay_duplicates": replay.duplicates,
        "peak_mb": _peak_mb(),
    }


def phase_raw_sqlite(path: Path, db_file: Path) -> dict[str, Any]:
    """The physical baseline: per event, one insert and one pathway update, in batches of 500."""
    lines = path.read_text(encoding="utf-8").splitlines()
    conn = sqlite3.connect(db_file, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE event (event_id TEXT PRIMARY KEY, pathway TEXT, type TEXT, occurred_at TEXT, payload TEXT)"
    )
    conn.execute(
        "CREATE TABLE pathway (reference TEXT PRIMARY KEY, version INTEGER, last_type TEXT)"
    )
    began = time.perf_counter()
    for start in range(0, len(lines), 500):
        conn.execute("BEGIN IMMEDIATE")
        for line in lines[start : start + 500]:
            event = json.loads(line)
            conn.execute(
                "INSERT INTO event VALUES (?, ?, ?, ?, ?)",
                (event["event_id"], event["pathway"], event["type"], event["occurred_at"], line),
            )
            conn.execute(
                "INSERT INTO pathway VALUES (?, 1, ?) ON CONFLICT(reference) DO UPDATE "
                "SET version = version + 1, last_type = excluded.last_type",
                (event["pathway"], event["type"]),
            )
        conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return {"events": len(lines), "seconds": seconds, "peak_mb": _peak_mb()}


def _run_phase(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", *args], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _postgres_database(admin_url: str) -> tuple[str, str] | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"cordwatch_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        return None
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def _drop_postgres(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        if name == "generate":
            figures = phase_generate(Path(rest[0]), int(rest[1]))
        elif name == "cordwatch":
            figures = phase_cordwatch(Path(rest[0]), rest[1])
        else:
            figures = phase_raw_sqlite(Path(rest[0]), Path(rest[1]))
        print(json.dumps(figures))
        return

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        cohort = work / "cohort.jsonl"
        generated = _run_phase("generate", str(cohort), str(args.patients))
        raw = _run_phase("raw", str(cohort), str(work / "raw.db"))
        sqlite = _run_phase("cordwatch", str(cohort), f"sqlite:///{work / 'cordwatch.db'}")
        pg_db = _postgres_database(args.postgres)
        postgres = None
        if pg_db is not None:
            try:
                postgres = _run_phase("cordwatch", str(cohort), pg_db[0])
            finally:
                _drop_postgres(args.postgres, pg_db[1])

    events = generated["events"]
    rows = [
        (
            "cohort",
            f"{args.patients:,} patients, {events:,} events (generated in {generated['seconds']:.1f} s)",
        ),
        (
            "raw sqlite3 insert+update",
            f"{events / raw['seconds']:,.0f} events/s ({raw['seconds']:.1f} s)",
        ),
        (
            "cordwatch → SQLite",
            f"{events / sqlite['seconds']:,.0f} events/s ({sqlite['seconds']:.1f} s; {sqlite['accepted']:,} accepted, {sqlite['rejected']} rejected)",
        ),
        (
            "ratio raw / cordwatch (SQLite)",
            f"{raw['seconds'] and sqlite['seconds'] / raw['seconds']:.1f}x slower than the physical baseline",
        ),
        (
            "replay (SQLite, all duplicates)",
            f"{sqlite['replay_seconds']:.1f} s = {sqlite['seconds'] / sqlite['replay_seconds']:.1f}x faster than first ingest ({sqlite['replay_duplicates']:,} duplicates)",
        ),
        ("peak memory (SQLite ingest process)", f"{sqlite['peak_mb']:.0f} MB"),
    ]
    if postgres is not None:
        rows += [
            (
                "cordwatch → PostgreSQL",
                f"{events / postgres['seconds']:,.0f} events/s ({postgres['seconds']:.1f} s; {postgres['accepted']:,} accepted)",
            ),
            (
                "replay (PostgreSQL)",
                f"{postgres['replay_seconds']:.1f} s = {postgres['seconds'] / postgres['replay_seconds']:.1f}x faster than first ingest",
            ),
            ("peak memory (PostgreSQL ingest process)", f"{postgres['peak_mb']:.0f} MB"),
        ]
    else:
        rows.append(("cordwatch → PostgreSQL", "skipped: no server at " + args.postgres))
    width = max(len(name) for name, _ in rows)
    print(
        "benchmarks/ingest.py — targets: ≥ 2,000 events/s SQLite, ≥ 1,000 PostgreSQL, replay ≥ 5x, < 500 MB"
    )
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
