"""Finding or starting the Prefect server cordwatch talks to (loopback only)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from db.private import create_private, private_folder
from services.prefect_health import api_healthy


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    *,
    home: Path,
    port: int,
    log: Path,
    wait_seconds: float = 120,
    database_url: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``prefect server start`` on 127.0.0.1:``port`` with its own PREFECT_HOME (SQLite).

    Args:
        database_url: Prefect's own database (``postgresql+asyncpg://...``) instead of SQLite.

    Raises:
        RuntimeError: the server did not answer within ``wait_seconds``.
    """
    private_folder(home)  # Prefect's database holds flow parameters and logs
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    if database_url is not None:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    prefect = Path(sys.executable).with_name("prefect")
    create_private(log)
    handle = log.open("ab")
    process = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}; see {log}")
        if api_healthy(api_url):
            return process
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(
        f"prefect server did not answer on {api_url} within {wait_seconds:.0f} s; see {log}"
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start_server` (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
