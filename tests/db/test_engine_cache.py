"""``engine_for`` gives the process one engine per database, with ``make_engine``'s options."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from db.engine import dispose_engines, engine_for, reading, transaction


def test_one_engine_per_url_until_disposed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"

    first = engine_for(url)
    again = engine_for(url)
    dispose_engines()
    after = engine_for(url)

    assert first is again
    assert after is not first


def test_a_cached_sqlite_engine_keeps_the_pragmas_and_the_write_lock(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'pragmas.db'}")

    with transaction(engine) as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with reading(engine) as conn:
        query_only = conn.exec_driver_sql("PRAGMA query_only").scalar_one()
    with transaction(engine) as conn:
        writable = conn.exec_driver_sql("PRAGMA query_only").scalar_one()

    assert (journal, foreign_keys, query_only, writable) == ("wal", 1, 1, 0)
