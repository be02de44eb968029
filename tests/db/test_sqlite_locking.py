"""SQLite locking on a real database file: readers never hold up writers; writers queue at BEGIN.

A report or ``audit verify`` may read for many seconds. Under WAL its ``reading`` snapshot
(a plain ``BEGIN``) lets the intake and the deadline watch commit meanwhile; every other
transaction takes the write lock at ``BEGIN IMMEDIATE``, so two writers queue instead of one
failing half-way. Each blocked
attempt below runs with ``busy_timeout=0``: a lock shows as an immediate error, never a wait.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from db.engine import make_engine, reading, transaction


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "locking.db"
    engine = make_engine(f"sqlite:///{path}")
    with transaction(engine) as conn:
        conn.execute(text("CREATE TABLE fact (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO fact (n) VALUES (1)"))
    yield engine, path
    engine.dispose()


def _impatient_write(path: Path, n: int) -> None:
    """A writer in another connection that fails at once if anything holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("PRAGMA busy_timeout=0")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO fact (n) VALUES (?)", (n,))
        other.execute("COMMIT")
    finally:
        other.close()


def test_a_long_read_does_not_block_a_writer_and_keeps_its_snapshot(
    database: tuple[Engine, Path],
) -> None:
    engine, path = database
    with reading(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM fact")).scalar_one() == 1

        _impatient_write(path, 2)  # would raise "database is locked" under BEGIN IMMEDIATE

        # The read goes on in the snapshot it started with: one report, one moment.
        assert reader.execute(text("SELECT count(*) FROM fact")).scalar_one() == 1
    with engine.connect() as later:
        assert later.execute(text("SELECT count(*) FROM fact")).scalar_one() == 2


def test_a_write_transaction_holds_the_write_lock_from_its_begin(
    database: tuple[Engine, Path],
) -> None:
    engine, path = database
    with transaction(engine) as writer:
        writer.execute(text("SELECT 1"))  # no write yet: the lock is taken at BEGIN
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _impatient_write(path, 2)
        writer.execute(text("INSERT INTO fact (n) VALUES (3)"))
    _impatient_write(path, 4)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM fact ORDER BY n")).scalars().all() == [1, 3, 4]


def test_a_connection_not_marked_reading_takes_the_write_lock(
    database: tuple[Engine, Path],
) -> None:
    """Reading is opt-in: a connection that may write (``engine.begin()``, tests, migrations
    written by hand) queues like a writer rather than failing on a late upgrade."""
    engine, path = database
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fact")).scalar_one() == 1
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _impatient_write(path, 2)


def test_a_write_through_a_reading_connection_fails_at_once(
    database: tuple[Engine, Path],
) -> None:
    """Never write through ``reading``: SQLite refuses it outright, so any code path that
    tries is caught by the tests, not by a rare lock conflict in service."""
    engine, _ = database
    with reading(engine) as reader, pytest.raises(OperationalError, match="readonly"):
        reader.execute(text("INSERT INTO fact (n) VALUES (9)"))
    with transaction(engine) as writer:  # the pooled connection writes again afterwards
        writer.execute(text("INSERT INTO fact (n) VALUES (5)"))
    with reading(engine) as reader:
        assert reader.execute(text("SELECT n FROM fact ORDER BY n")).scalars().all() == [1, 5]


def _in_another_process(path: Path, statement: str) -> str:
    import subprocess
    import sys

    script = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "rows = c.execute(sys.argv[2]).fetchall()\n"
        "c.close()\n"
        "print(rows)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), statement],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_a_second_engine_on_the_same_file_keeps_this_process_s_writes_visible(
    database: tuple[Engine, Path],
) -> None:
    """Making the database file private must not open it: closing any descriptor of the file
    drops this process's SQLite locks, another process closing its last connection then
    deletes the WAL, and this process's later commits land in a deleted file (a long-lived
    `serve` whose watchdog saw no sweep while the watch was sweeping)."""
    engine, path = database
    with engine.connect() as held:  # a pooled connection of a long-lived process
        held.execute(text("SELECT 1"))
        held.commit()
        second = make_engine(f"sqlite:///{path}")  # another engine, e.g. the watchdog's
        second.dispose()
        _in_another_process(path, "INSERT INTO fact (n) VALUES (2)")  # then closes: last?
        held.execute(text("INSERT INTO fact (n) VALUES (3)"))
        held.commit()

        seen = _in_another_process(path, "SELECT n FROM fact ORDER BY n")

    assert seen == "[(1,), (2,), (3,)]"
