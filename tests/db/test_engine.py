"""``engine_for`` gives the process one engine per database, with ``make_engine``'s options,
and the engine, not the settings, creates a SQLite file's owner-only folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import dispose_engines, engine_for, reading, transaction
from services.settings import get_settings


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


def test_building_the_url_creates_no_folder_and_opening_it_an_owner_only_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data" / "db"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", f"sqlite:///{folder / 'cordwatch.db'}")
    get_settings.cache_clear()
    previous = os.umask(0o022)
    try:
        url = get_settings().url()
        created_by_url = (tmp_path / "data").exists()
        engine_for(url)
    finally:
        os.umask(previous)

    assert not created_by_url
    assert [oct(stat.S_IMODE(p.stat().st_mode)) for p in (folder.parent, folder)] == ["0o700"] * 2
    assert oct(stat.S_IMODE((folder / "cordwatch.db").stat().st_mode)) == "0o600"
