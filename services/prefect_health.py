"""Whether a Prefect API answers: asked by the shell (serve, the watchdog) and by tasks that
must not open a board form on a server that is down."""

from __future__ import annotations

import httpx


def api_healthy(api_url: str, timeout: float = 1.0) -> bool:
    """True when a Prefect API answers its health check at ``api_url``."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
