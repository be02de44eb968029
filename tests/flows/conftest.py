"""One Prefect test harness for the whole flow suite (it takes 10-15 s to start).

Only tests marked ``prefect`` start it: the unmarked tests here (form answers, artifact markdown,
deployment declarations) run in the fast suite and need no API, so they must not pay for one,
nor pass only because one happens to be running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import Engine

from db.engine import make_engine
from db.migrate import upgrade
from services.settings import get_settings


@pytest.fixture(scope="session")
def _prefect_harness() -> Iterator[None]:
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _harness_for_prefect_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("prefect") is not None:
        request.getfixturevalue("_prefect_harness")


@pytest.fixture
def sqlite_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Flow tests run on a SQLite file (the settings point at it); the db suite covers PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
