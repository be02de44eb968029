"""Real local receivers for alert tests: a JSON webhook server and an SMTP server on 127.0.0.1.

No Apprise mock: Apprise sends real HTTP requests and real SMTP sessions to these.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass (no timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 resets connections when a watch sends dozens at once.
    request_queue_size = 256


class JsonReceiver:
    """A threading HTTP server recording every JSON body posted to it, by path.

    ``status`` is what it answers: 200, or 500 to play a failing service. ``delay`` is how
    long it takes to answer, in seconds, or a function of the request's number (0, 1, ...):
    a slow service. It records a request when it arrives, before answering, as a real service
    may act on a page it never confirms. Closing it releases every request still waiting.
    """

    def __init__(self, status: int = 200, delay: float | Callable[[int], float] = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    number = len(receiver.raw)
                    receiver.raw.append(body)
                    receiver.received.append((self.path, json.loads(body)))
                delay = receiver.delay(number) if callable(receiver.delay) else receiver.delay
                if delay and receiver._closed.wait(delay):
                    return  # closed while waiting: no answer
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base signature)
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [body for p, body in self.received if path is None or p == f"/{path}"]

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A local SMTP server (aiosmtpd) recording every message, plain SMTP without TLS."""

    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str) -> str:
        # mailto:// is plain SMTP (mailtos:// would be TLS); the host is the SMTP server.
        return (
            f"mailto://127.0.0.1:{self.port}?from=cordwatch@example.org&to={to}"
            "&format=text&mode=insecure"
        )

    @property
    def messages(self) -> list[Message]:
        return list(self.mailbox.messages)

    def texts(self) -> list[str]:
        return [raw.decode("utf-8", errors="replace") for raw in self.mailbox.raw]

    def close(self) -> None:
        self.controller.stop()
