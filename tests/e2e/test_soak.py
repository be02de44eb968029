"""The service as it is operated: `cordwatch serve` left alone must watch the clocks by itself.

Nothing is run by hand: a referral whose first warning has passed is ingested, `serve` starts
(its own Prefect server, on SQLite; or with both databases on PostgreSQL), and the test waits,
bounded, for completed *scheduled* `deadline-watch` runs and for the AT RISK page at a loopback
receiver. On the lock file of before (Prefect 3.8.8 with SQLAlchemy 2.1.9) the scheduler failed
every minute ("Can't evaluate bulk DML statement"), no scheduled run was ever created, and these
tests time out.

The watchdog test breaks what the watch depends on, the Prefect server, under a running `serve`,
and waits for `ops` to be paged by `serve` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from cordwatch.prefect_server import free_port, start_server, stop_server
from tests.alerts.receivers import JsonReceiver
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

CORDWATCH = str(Path(sys.executable).with_name("cordwatch"))
INTERVAL = 10
"""Watch interval of these tests, seconds (the smallest the settings allow)."""
IDENTIFIERS = ("Sasha", "Soaktest", "9434765919", "943 476 5919", "1949-09-09")


def _wait(condition: Callable[[], bool], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{tail}")


def _scheduled_watches(api: str) -> list[dict[str, Any]]:
    """Completed `deadline-watch` runs that the scheduler created (not requested by anyone)."""
    body = {
        "limit": 50,
        "flow_runs": {
            "name": {"any_": ["deadline watch"]},
            "state": {"type": {"any_": ["COMPLETED"]}},
        },
    }
    try:
        response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=5)
    except httpx.HTTPError:
        return []
    if response.status_code != 200:
        return []
    return [run for run in response.json() if run.get("auto_scheduled")]


def _referral(now: datetime) -> dict[str, Any]:
    """Suspected spinal metastases referred 13 h ago: COORD-METS (24 h) is past its 50 %
    warning and nowhere near 75 %; no other clock is near a warning."""
    return {
        "event_id": f"soak-{uuid.uuid4().hex[:8]}",
        "pathway": "REF-SOAK-1",
        "type": "referral.received",
        "occurred_at": (now - timedelta(hours=13)).isoformat(),
        "recorded_by": "soak-test",
        "data": {
            "patient": {
                "nhs_number": "9434765919",
                "given_name": "Sasha",
                "family_name": "Soaktest",
                "date_of_birth": "1949-09-09",
            },
            "referrer": {"name": "Dr Ref", "organisation": "GP"},
            "cancer_status": "known",
            "pain_features": ["thoracic_or_cervical_pain"],
            "neuro_features": [],
        },
    }


@pytest.fixture
def receiver() -> Iterator[JsonReceiver]:
    found = JsonReceiver()
    yield found
    found.close()


def _environment(folder: Path, receiver: JsonReceiver, database_url: str) -> dict[str, str]:
    config = folder / "apprise.yml"
    config.write_text(
        "urls:\n"
        + "".join(
            f'  - "{receiver.url(tag)}":\n      - tag: {tag}\n'
            for tag in ("coordinator", "oncall-consultant", "service-lead", "ops", "fallback")
        ),
        encoding="utf-8",
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "CORDWATCH_"))
    }
    env.update(
        {
            "CORDWATCH_DATABASE_URL": database_url,
            "CORDWATCH_ALERT_CONFIG_PATH": str(config),
            "CORDWATCH_WATCH_INTERVAL_SECONDS": str(INTERVAL),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    return env


def _ingest(folder: Path, env: dict[str, str]) -> None:
    source = folder / "referral.jsonl"
    source.write_text(json.dumps(_referral(datetime.now(UTC))) + "\n", encoding="utf-8")
    done = subprocess.run(
        [CORDWATCH, "ingest", str(source)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _start_serve(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CORDWATCH, "serve", "--no-demo", *args],
        cwd=folder,
        env=env,
        stdout=(folder / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 2)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.fixture
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two scratch PostgreSQL databases: cordwatch's and the Prefect server's own."""
    admin = create_engine(
        "postgresql+psycopg://" + POSTGRES_ADMIN_URL.removeprefix("postgresql://"),
        isolation_level="AUTOCOMMIT",
    )
    names = [f"cordwatch_soak_{uuid.uuid4().hex[:8]}", f"prefect_soak_{uuid.uuid4().hex[:8]}"]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable ({error.__class__.__name__})")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield (
        f"{base}/{names[0]}",
        base.replace("postgresql://", "postgresql+asyncpg://") + "/" + names[1],
    )
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _soak(folder: Path, env: dict[str, str], receiver: JsonReceiver) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    _ingest(folder, env)
    serving = _start_serve(folder, env, "--port", str(port))
    log = folder / "serve.log"
    try:
        _wait(
            lambda: len(_scheduled_watches(api)) >= 2,
            300,
            "two completed scheduled deadline-watch runs",
            log,
        )
        _wait(
            lambda: bool(receiver.bodies("coordinator")),
            120,
            "the AT RISK page at the coordinator's receiver",
            log,
        )
    finally:
        _stop(serving)
    [page] = receiver.bodies("coordinator")
    assert page["title"].startswith("AT RISK PW-")
    assert "COORD-METS" in page["message"]
    assert f"http://127.0.0.1:{port}/runs?tag=pathway:PW-" in page["message"]
    text_sent = json.dumps(receiver.bodies())
    assert [i for i in IDENTIFIERS if i.lower() in text_sent.lower()] == []


def test_served_on_the_embedded_defaults_the_watch_runs_by_schedule_and_pages(
    tmp_path: Path, receiver: JsonReceiver
) -> None:
    env = _environment(tmp_path, receiver, f"sqlite:///{tmp_path / 'cordwatch.db'}")

    _soak(tmp_path, env, receiver)


@pytest.mark.postgres
def test_served_on_postgresql_for_both_databases_the_watch_runs_by_schedule_and_pages(
    tmp_path: Path, receiver: JsonReceiver, postgres_databases: tuple[str, str]
) -> None:
    cordwatch_url, prefect_url = postgres_databases
    env = _environment(tmp_path, receiver, cordwatch_url)
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_url

    _soak(tmp_path, env, receiver)


def test_the_watchdog_in_serve_pages_ops_when_the_prefect_server_is_stopped(
    tmp_path: Path, receiver: JsonReceiver
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = start_server(home=tmp_path / "prefect", port=port, log=tmp_path / "server.log")
    env = _environment(tmp_path, receiver, f"sqlite:///{tmp_path / 'cordwatch.db'}")
    env["PREFECT_API_URL"] = api
    serving = _start_serve(tmp_path, env)
    log = tmp_path / "serve.log"
    try:
        _wait(lambda: len(_scheduled_watches(api)) >= 1, 300, "a scheduled watch", log)
        assert receiver.bodies("ops") == []

        stop_server(server)  # the scheduler, the API and every run go with it

        _wait(lambda: bool(receiver.bodies("ops")), 180, "the heartbeat page to ops", log)
    finally:
        _stop(serving)
        stop_server(server)
    [page] = receiver.bodies("ops")
    assert page["title"] == "HEARTBEAT cordwatch deadline watch stopped"
    console = log.read_text(encoding="utf-8", errors="replace")
    assert "NO DEADLINE WATCH SWEEP" in console
    assert "does not answer" in console
