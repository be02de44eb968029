"""Scaling out, tested: PostgreSQL for cordwatch and for Prefect, a process work pool from
prefect.yaml, and two workers on separate processes running the handle-event flows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from cordwatch.prefect_server import free_port, start_server, stop_server
from db.engine import make_engine
from db.repository import INBOX
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _admin() -> Any:
    return create_engine(
        POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases: one for cordwatch, one for Prefect."""
    suffix = uuid.uuid4().hex[:8]
    names = (f"cordwatch_scale_{suffix}", f"prefect_scale_{suffix}")
    admin = _admin()
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable ({error.__class__.__name__})")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield (
        f"{base}/{names[0]}",
        f"{base}/{names[1]}".replace("postgresql://", "postgresql+asyncpg://"),
    )
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_on_a_process_pool_run_the_flows_against_postgresql(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    cordwatch_url, prefect_url = databases
    port = free_port()
    server = start_server(
        home=tmp_path / "prefect", port=port, log=tmp_path / "server.log", database_url=prefect_url
    )
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "CORDWATCH_DATABASE_URL": cordwatch_url,
        "CORDWATCH_HOME": str(ROOT),
    }
    workers: list[subprocess.Popen[bytes]] = []
    try:

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(BIN / args[0]), *args[1:]],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )

        assert run("cordwatch", "db", "upgrade").returncode == 0
        created = run("prefect", "work-pool", "create", "cordwatch", "--type", "process")
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = run("prefect", "--no-prompt", "deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        for name in ("worker-a", "worker-b"):
            log = (tmp_path / f"{name}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    [
                        str(BIN / "prefect"),
                        "worker",
                        "start",
                        "--pool",
                        "cordwatch",
                        "--name",
                        name,
                    ],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        now = datetime.now(UTC)
        referrals = [
            {
                "event_id": f"scale-{n}",
                "pathway": f"REF-SCALE-{n}",
                "type": "referral.received",
                "occurred_at": (now - timedelta(hours=1)).isoformat(),
                "data": {
                    "patient": {
                        "mrn": f"MRN90000{n}",
                        "given_name": "Sam",
                        "family_name": f"Scale{n}",
                        "date_of_birth": "1960-01-01",
                    },
                    "referrer": {"name": "Dr Ref", "organisation": "GP"},
                    "cancer_status": "known",
                    "pain_features": ["nocturnal_pain"],
                    "neuro_features": [],
                },
            }
            for n in range(6)
        ]
        source = tmp_path / "referrals.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in referrals), encoding="utf-8")
        assert run("cordwatch", "ingest", str(source)).returncode == 0

        engine = make_engine(cordwatch_url)

        def all_processed() -> bool:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(INBOX).where(INBOX.c.processed_at.is_(None))
                ).scalar_one()
            return pending == 0

        _wait_for(all_processed, 240, "six handle-event runs on the workers")
        engine.dispose()
        body = {
            "limit": 50,
            "offset": 0,
            "sort": "ID_DESC",
            "flows": {"name": {"any_": ["handle-event"]}},
        }
        runs = httpx.post(f"{api}/flow_runs/filter", json=body).json()
        assert len(runs) == 6
        assert {r["state_type"] for r in runs} == {"COMPLETED"}
        online = httpx.post(f"{api}/work_pools/cordwatch/workers/filter", json={}).json()
        assert {w["name"] for w in online} == {"worker-a", "worker-b"}
    finally:
        for worker in workers:
            os.killpg(worker.pid, 2)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
        stop_server(server)
