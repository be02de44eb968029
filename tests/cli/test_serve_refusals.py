"""`cordwatch serve` refuses, in one line, what would break a running service, and its demo
never reuses the keys of an earlier demo nor calls a failed ingest a success."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cordwatch.serve import LOCK_FILE, ServeRefused, _demo_events, _hold_lock, demo_ingest_failure

CORDWATCH = str(Path(sys.executable).with_name("cordwatch"))
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _serve(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CORDWATCH_"))}
    return subprocess.run(
        [CORDWATCH, "serve", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_second_serve_on_the_same_data_folder_refuses_in_one_line_and_touches_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cordwatch-data"
    data.mkdir()
    demo_db = data / "demo.db"
    demo_db.write_bytes(b"the running demo's database")
    first = _hold_lock(data)  # the running `serve`

    second = _serve(tmp_path, "--demo")

    first.close()
    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert line.startswith("cordwatch serve: cordwatch serve is already running for ")
    assert f"(pid {os.getpid()})" in line
    assert demo_db.read_bytes() == b"the running demo's database"


@pytest.mark.slow
def test_a_port_held_by_another_program_gets_one_line_not_a_traceback(
    tmp_path: Path, held_port: int
) -> None:
    refused = _serve(tmp_path, "--port", str(held_port))

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"cordwatch serve: port {held_port} on 127.0.0.1 is in use by another program: choose "
        "another with --port, or set PREFECT_API_URL to a Prefect server that is running"
    ]
    assert refused.stdout == ""


def test_the_lock_is_free_again_once_its_holder_is_gone(tmp_path: Path) -> None:
    first = _hold_lock(tmp_path)
    with pytest.raises(ServeRefused):
        _hold_lock(tmp_path)

    first.close()
    again = _hold_lock(tmp_path)

    again.close()
    assert (tmp_path / LOCK_FILE).read_text(encoding="utf-8") == str(os.getpid())


def test_two_demos_never_share_an_event_id() -> None:
    """Prefect keeps each handle-event idempotency key (the event id) after the demo database
    is wiped: a second demo with the same ids would find the first demo's runs."""
    first = _demo_events(5, 2026, NOW)
    second = _demo_events(5, 2026, NOW + timedelta(minutes=30))

    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in second)
    assert [e["type"] for e in first] == [e["type"] for e in second]


@pytest.mark.parametrize(
    ("state", "stored", "failure"),
    [
        ("Completed", 120, None),
        ("Completed", 0, "stored none of the 120 events: every one was refused"),
        ("Failed", 60, "ended Failed: see its logs in the Prefect UI"),
        ("Crashed", 0, "ended Crashed: see its logs in the Prefect UI"),
    ],
)
def test_a_demo_ingest_that_stored_nothing_or_failed_is_reported_as_failed(
    state: str, stored: int, failure: str | None
) -> None:
    assert demo_ingest_failure(state, stored=stored, sent=120) == failure
