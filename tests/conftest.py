"""Shared fixtures: real databases (SQLite files, and PostgreSQL where reachable), fixed times."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from db.audit import append_audit, genesis_entry
from db.engine import dispose_engines, make_engine
from db.migrate import upgrade
from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY, PATIENT
from pathway.ruleset import PinnedRules, load_ruleset, pin_rules
from services.intake import Intake
from services.settings import get_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "CORDWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""The moment of intake in database tests: after every fixture event, never today's date."""

SQLITE_NO_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
)

RULES: PinnedRules = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone="Europe/London")


@pytest.fixture(autouse=True)
def _fail_closed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A test that forgets its database fixture fails instead of touching a real database.

    The engines the code under test cached (``db.engine.engine_for``) are closed after each
    test, so no test reaches the next one's database, or a dropped one, through an old pool.
    """
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/forgotten")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def version_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service still on ruleset version 1 (``CORDWATCH_RULESET_VERSION=1``): the tests of
    version-1 data (the canonical letters pathway, its golden letters) pin new pathways to it."""
    monkeypatch.setenv("CORDWATCH_RULESET_VERSION", "1")
    get_settings.cache_clear()


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Skipped when no server answers, except in CI (CI=true), where it must.
    """
    admin = create_engine(_psycopg(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"cordwatch_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable ({error.__class__.__name__})")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Triggers refuse DELETE on audit_entry; a superuser may switch them off here.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
        for name in ("alert", "watch_run", "letter", "letter_template"):
            conn.execute(text(f"DELETE FROM {name}"))
        for table in (AUDIT, OUTBOX, CLOCK, MILESTONE, INBOX, PATHWAY, PATIENT):
            conn.execute(table.delete())
        # As a new database has it: the head, and the genesis entry the migration wrote.
        conn.execute(text("DELETE FROM audit_head"))
        conn.execute(
            text("INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, :h)"),
            {"h": "0" * 64},
        )
        if conn.dialect.name == "sqlite":
            conn.execute(text(SQLITE_NO_DELETE_TRIGGER))
        append_audit(conn, [genesis_entry(NOW)])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cordwatch.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _empty(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An engine on the test database; the CLI's settings point at it too."""
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def intake(engine: Engine) -> Intake:
    return Intake(engine, new_pathway_rules=lambda: RULES)
