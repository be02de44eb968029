"""Audit fixtures: a referred trail, an attacker who sets the append-only triggers aside, and
`cordwatch audit verify` as its JSON report (shared by the chain and tamper tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import AUDIT
from services.intake import Intake
from tests.conftest import NOW
from tests.factories import INTAKE_T0 as T0
from tests.factories import pathway_lines

runner = CliRunner()


@contextmanager
def as_attacker(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_replace"))
        yield conn


@pytest.fixture
def trail(engine: Engine, intake: Intake) -> int:
    """Two referred pathways after the genesis entry: 1 configuration entry, 10 events, 6 clock
    stops = 18 entries."""
    lines = pathway_lines("REF-1", T0, "a") + pathway_lines("REF-2", T0, "b")
    intake.ingest_lines(enumerate(lines, 1), now=NOW)
    with engine.connect() as conn:
        return len(conn.execute(select(AUDIT.c.id)).all())


def verify(engine: Engine) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.stdout)
