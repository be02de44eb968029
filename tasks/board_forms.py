"""Opening the tumour-board form an MDT listing owes: one suspended `board-decision` run per row.

Each pending outbox row of kind ``board_form`` (queued by the intake, :mod:`pathway.board`)
becomes a ``board-decision`` flow run named ``<PW-id> board decision``, created with the Prefect
idempotency key ``board-decision:<listing event id>``: a retry after a crash between creating
the run and recording it finds the same run. The row is then ``sent`` with the flow run id in
its result, and a ``board_form.created`` audit entry names the run.

The form needs Prefect. Where there is none (``cordwatch watch --once`` from cron with no
``PREFECT_API_URL``, a server that does not answer, no ``board-decision`` deployment), the row
stays ``pending`` with its attempts unchanged, so it never becomes ``undelivered`` for that
reason: the next watch run under Prefect opens the form. Any other failure is an attempt; after
:data:`BOARD_FORM_ATTEMPTS` the row is ``undelivered`` and audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import httpx
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import get_current_settings

from db.audit import append_audit, audit_entry
from db.engine import engine_for, reading, transaction
from db.outbox import claim, finish
from pathway.board import board_form_moot
from services.prefect_health import api_healthy
from services.settings import get_settings
from services.views import pathway_view

BOARD_DECISION = "board-decision/board-decision"

BOARD_FORM_ATTEMPTS = 3
"""Failed attempts (Prefect answered, but refused) before a form is recorded undelivered."""

logger = logging.getLogger(__name__)


class PrefectUnavailable(Exception):
    """No Prefect API or no ``board-decision`` deployment: the form waits, no attempt is used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _api_url() -> str | None:
    url = get_current_settings().api.url
    return str(url) if url else None


async def request_board_decision(pathway_id: str, listed_event_id: str) -> str:
    """Create the suspended tumour-board form of one listing (or find it); its flow run id.

    Raises:
        PrefectUnavailable: no ``board-decision`` deployment to create it from.
    """
    try:
        run = await arun_deployment(
            BOARD_DECISION,
            parameters={"pathway_id": pathway_id, "listed_event_id": listed_event_id},
            flow_run_name=f"{pathway_id} board decision",
            tags=[f"pathway:{pathway_id}", "board-decision"],
            idempotency_key=f"board-decision:{listed_event_id}",
            timeout=0,
            as_subflow=False,
        )
    except ObjectNotFound as error:
        raise PrefectUnavailable("no board-decision deployment") from error
    return str(run.id)


def _current_run_id() -> str | None:
    """The Prefect flow run opening this form, for the audit trail (None outside one)."""
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def _finish(
    row: dict[str, Any],
    now: datetime,
    *,
    status: str,
    attempts: int,
    outcome: dict[str, Any],
    action: str | None = None,
    reason: str | None = None,
) -> str:
    payload = json.loads(row["payload"])
    engine = engine_for(get_settings().url())
    with transaction(engine) as conn:
        finish(conn, row["id"], status=status, attempts=attempts, now=now, result=outcome)
        if action is not None:
            entry = audit_entry(
                at=now,
                action=action,
                run_id=_current_run_id(),
                pathway_id=payload["pathway_id"],
                event_id=payload["listed_event_id"],
                event_type="mdt.listed",
                actor="cordwatch",
                source="board",
                reason=reason,
                details={"attempts": attempts, **outcome},
            )
            append_audit(conn, [entry])
    return status


async def deliver_board_form(row: dict[str, Any], now: datetime) -> str:
    """Open the board form of one outbox row; returns its new status (sent, pending...).

    A form no longer wanted (:func:`pathway.board.board_form_moot`: the pathway closed, or the
    decision is already recorded) is cancelled, audited, without asking Prefect.
    """
    engine = engine_for(get_settings().url())
    payload = json.loads(row["payload"])
    with reading(engine) as conn:
        view = pathway_view(conn, payload["pathway_id"], as_of=now)[1]
    moot = board_form_moot(view, payload["listed_event_id"])
    if moot is not None:
        with transaction(engine) as conn:
            if not claim(conn, row, now):
                return "claimed"
        return _finish(
            row,
            now,
            status="cancelled",
            attempts=int(row["attempts"]),
            outcome={"cancelled": moot},
            action="board_form.cancelled",
            reason=moot,
        )
    api_url = _api_url()
    if api_url is None or not await asyncio.to_thread(api_healthy, api_url):
        return "pending"  # untouched: no Prefect to open it in, the next watch under one will
    if row["attempts"] > 0 and row["updated_at"] >= now:
        return "pending"  # already tried at this moment: at most one attempt per run
    engine = engine_for(get_settings().url())
    with transaction(engine) as conn:
        if not claim(conn, row, now):
            return "claimed"
    payload = json.loads(row["payload"])
    attempts = int(row["attempts"])
    try:
        run_id = await request_board_decision(payload["pathway_id"], payload["listed_event_id"])
    except PrefectUnavailable as error:
        logger.warning("%s: %s; the board form waits", payload["pathway_id"], error.reason)
        return _finish(
            row, now, status="pending", attempts=attempts, outcome={"waiting": error.reason}
        )
    except (httpx.TransportError, PrefectHTTPStatusError) as error:
        if not isinstance(error, PrefectHTTPStatusError) or error.response.status_code >= 500:
            # Prefect went away or is overloaded: the same as no Prefect, not a failed attempt.
            return _finish(
                row,
                now,
                status="pending",
                attempts=attempts,
                outcome={"waiting": f"Prefect unavailable ({error.__class__.__name__})"},
            )
        return _failed(row, now, attempts + 1, error)
    except Exception as error:  # recorded by class only, as every delivery failure
        return _failed(row, now, attempts + 1, error)
    return _finish(
        row,
        now,
        status="sent",
        attempts=attempts + 1,
        outcome={"flow_run_id": run_id},
        action="board_form.created",
    )


def _failed(row: dict[str, Any], now: datetime, attempts: int, error: Exception) -> str:
    outcome = {"error": error.__class__.__name__}
    if attempts < BOARD_FORM_ATTEMPTS:
        return _finish(row, now, status="pending", attempts=attempts, outcome=outcome)
    return _finish(
        row,
        now,
        status="undelivered",
        attempts=attempts,
        outcome=outcome,
        action="board_form.undelivered",
        reason=f"{error.__class__.__name__} after {attempts} attempts",
    )
