"""`cordwatch letter deliver` killed mid-way leaves no PDF render worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.intake import Intake
from tests.letters.canonical import CANONICAL_FILE, INTAKE_AT


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: the parent id follows its closing ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition: object, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_killing_letter_deliver_mid_way_leaves_no_render_worker(
    intake: Intake, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the worker pool does not depend on the database")
    lines = list(enumerate(CANONICAL_FILE.read_text().splitlines(), start=1))
    assert not intake.ingest_lines(lines, now=INTAKE_AT).rejected
    letters = tmp_path / "letters"
    environment = os.environ | {
        "CORDWATCH_DATABASE_URL": database_url,
        "CORDWATCH_LETTER_RENDER_PROCESSES": "2",
        "CORDWATCH_LETTERS_DIR": str(letters),
    }
    command = [sys.executable, "-c", "from cordwatch.cli import main; main()"]
    deliver = subprocess.Popen(
        [*command, "letter", "deliver", "--as-of", INTAKE_AT.isoformat()],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        # Workers are rendering once the first PDF is written: kill the command then.
        assert _wait_for(lambda: any(letters.rglob("*.pdf")), seconds=120)
        workers = _children(deliver.pid)  # the render workers and their resource tracker
        assert workers, "no render worker was started"

        deliver.send_signal(signal.SIGKILL)
        deliver.wait(timeout=10)

        assert _wait_for(lambda: not any(_alive(w) for w in workers), seconds=15), (
            f"render workers still running: {[w for w in workers if _alive(w)]}"
        )
    finally:
        for worker in workers:  # orphans are no longer children of the killed command
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)
        if deliver.poll() is None:
            deliver.kill()
