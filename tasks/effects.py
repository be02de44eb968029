"""Delivering pending outbox effects: each kind (letter, alert, board form) has one handler task.

:data:`HANDLERS` names them: a plain dict, so what is delivered is what this file says. A
handler receives one pending outbox row, delivers it and records the result; a failure leaves
the row pending for the next attempt, so nothing is lost and the unique key means nothing is
sent twice. The outbox statements they share (claim, lease, finish) are in db/outbox.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from db.outbox import pending_rows
from services.settings import get_settings
from tasks.alerts import deliver_alert
from tasks.board_forms import deliver_board_form
from tasks.letters import deliver_letter

__all__ = [
    "HANDLERS",
    "EffectHandler",
    "run_pending_effects",
]

EffectHandler = Callable[[dict[str, Any], datetime], Awaitable[str]]
"""(outbox row as a dict, now) -> the row's new status."""

HANDLERS: dict[str, EffectHandler] = {
    "alert": deliver_alert,
    "letter": deliver_letter,
    "board_form": deliver_board_form,
}
"""The handler of each outbox kind (``pathway.board.BOARD_FORM`` is ``board_form``)."""


async def run_pending_effects(
    pathway_id: str | None, now: datetime, *, kinds: set[str] | None = None
) -> dict[str, int]:
    """Deliver every pending effect (of ``kinds``) that has a handler; counts by new status."""
    handled = set(HANDLERS) if kinds is None else set(HANDLERS) & kinds
    counts: dict[str, int] = {}
    for row in pending_rows(get_settings().url(), pathway_id, handled, now=now):
        status = await HANDLERS[row["kind"]](row, now)
        counts[status] = counts.get(status, 0) + 1
    return counts
