"""Producing and delivering letters: once per outbox row, to the letters folder and by e-mail.

Each pending outbox row of kind ``letter`` is claimed (``pending`` -> ``sending``), then:

1. **Produced once.** Unless an earlier attempt already did, the letter is rendered (HTML,
   text, PDF), its files are written under ``letters_dir/<PW-id>/`` and its ``letter`` row is
   inserted with the template version, the triggering event, recipient, channel, paths and the
   SHA-256 of each file, with a ``letter.produced`` audit entry, in one transaction. A retry
   finds the row and never renders again: the wording and date sent stay those recorded.
2. **Delivered.** Writing the files is the folder delivery. Where the Apprise configuration
   has services tagged ``letters-<recipient>`` (``letters-gp``, ``letters-radiology`` ...), each
   is sent a short cover note with the PDF attached, once: a service that succeeded is skipped
   on a retry.
3. **Recorded.** ``sent`` when every channel succeeded; otherwise the row stays ``pending`` for
   the next run (each event run and deadline watch tries once), and after
   ``letter_delivery_attempts`` it is ``undelivered``, visible in ``cordwatch letters`` and the
   audit trail. A letter whose cause no longer exists is ``cancelled`` with the reason.

Nothing here logs a patient identifier: errors are recorded by class, letters by their ids.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import apprise
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from db.audit import append_audit, audit_entry
from db.engine import reading, transaction
from db.letters import (
    find_letter_by_key,
    insert_letter,
    load_facts,
    mark_letter,
    record_template,
)
from db.outbox import cached_engine, claim, finish, pending_rows
from pathway.errors import LetterNotApplicable
from pathway.letters import LETTERS, LetterRequest
from services.letters import (
    PdfRenderer,
    context_for,
    letter_id,
    render_letter,
    render_pdf,
    sha256,
    template_version,
    write_files,
)
from services.settings import Settings, get_settings
from tasks.alerts import services_for

EMAIL_TAG_PREFIX = "letters-"


def email_tag(recipient: str) -> str:
    """The Apprise tag of a recipient role's e-mail services: ``letters-gp``."""
    return EMAIL_TAG_PREFIX + recipient.replace("_", "-")


def _current_run_id() -> str | None:
    """The Prefect flow run delivering this letter, for the audit trail (None outside one)."""
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def _audit(
    action: str,
    letter: Any,
    *,
    now: datetime,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return audit_entry(
        at=now,
        action=action,
        run_id=_current_run_id(),
        pathway_id=letter["pathway_id"],
        event_id=letter.get("event_id"),
        actor="cordwatch",
        source="letters",
        field=letter["name"],
        reason=reason,
        details={"letter_id": letter["id"], "recipient": letter["recipient"], **(details or {})},
    )


def produce_letter(
    engine: Engine,
    settings: Settings,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    pdf_renderer: PdfRenderer | None = None,
) -> dict[str, Any]:
    """Render and store the letter of one outbox row, or return the one already produced."""
    with reading(engine) as conn:
        existing = find_letter_by_key(conn, key)
        if existing is not None:
            return existing
        facts = load_facts(conn, payload["pathway_id"])
    request = LetterRequest.from_payload(payload)
    context = context_for(request, facts, settings=settings, produced_at=now)
    rendered = render_letter(request.name, context, pdf_renderer=pdf_renderer)
    ident = letter_id(key)
    directory = Path(settings.letters_dir) / facts.pathway_id
    paths = write_files(directory, f"{ident}-{request.name}-{request.recipient.value}", rendered)
    has_email = bool(services_for(settings.alert_config_path, email_tag(request.recipient)))
    version, sources = template_version(request.name)
    letter = {
        "id": ident,
        "key": key,
        "pathway_id": facts.pathway_id,
        "name": request.name,
        "template_version": version,
        "event_id": request.event_id,
        "clock_id": request.clock_id,
        "clock_starts_at": request.clock_starts_at,
        "recipient": request.recipient.value,
        "channel": "folder+email" if has_email else "folder",
        "html_path": str(paths["html"]),
        "pdf_path": str(paths["pdf"]),
        "text_path": str(paths["txt"]),
        "html_sha256": sha256(rendered.content("html")),
        "pdf_sha256": sha256(rendered.content("pdf")),
        "text_sha256": sha256(rendered.content("txt")),
        "status": "produced",
        "attempts": 0,
        "produced_at": now,
        "delivered_at": None,
        "note": None,
    }
    try:
        with transaction(engine) as conn:
            record_template(conn, version, request.name, sources, now)
            insert_letter(conn, letter)
            append_audit(
                conn,
                [
                    _audit(
                        "letter.produced",
                        letter,
                        now=now,
                        details={
                            "template_version": version,
                            "channel": letter["channel"],
                            "pdf_sha256": letter["pdf_sha256"],
                            "html_sha256": letter["html_sha256"],
                            "text_sha256": letter["text_sha256"],
                        },
                    )
                ],
            )
    except IntegrityError:
        # Another process produced it first (same key): theirs is the letter of record.
        with reading(engine) as conn:
            won = find_letter_by_key(conn, key)
        if won is None:
            raise  # not a lost race for this letter: a real conflict, retried as a failure
        return won
    return letter


def cover_note(letter: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """(subject, body) of the e-mail carrying a letter: ids only, the letter is the attachment."""
    title = LETTERS[letter["name"]].title
    subject = f"{settings.letter_service_name}: {title} ({letter['id']})"
    body = (
        f"Please find attached a letter from the {settings.letter_service_name}, "
        f"{settings.letter_organisation}: {title}.\n"
        f"Letter {letter['id']}, pathway {letter['pathway_id']}.\n"
        f"Questions: MSCC coordinator hotline {settings.letter_hotline} (24 hours)."
    )
    return subject, body


def send_by_email(
    letter: dict[str, Any], settings: Settings, *, skip: frozenset[str]
) -> dict[str, bool]:
    """Send the PDF to every service tagged for the recipient; results by safe service name."""
    subject, body = cover_note(letter, settings)
    results: dict[str, bool] = {}
    for name, server in services_for(settings.alert_config_path, email_tag(letter["recipient"])):
        if name in skip:
            continue
        attachment = apprise.AppriseAttachment(letter["pdf_path"])
        try:
            ok = bool(server.notify(body=body, title=subject, attach=attachment))
        except Exception:  # a plugin error is a failed delivery, never a crash (never logged)
            ok = False
        results[name] = ok
    return results


def _finish(
    engine: Engine,
    row: dict[str, Any],
    *,
    status: str,
    now: datetime,
    outcome: dict[str, Any],
    letter: dict[str, Any] | None,
    audit: dict[str, Any] | None,
) -> None:
    with transaction(engine) as conn:
        finish(
            conn,
            row["id"],
            status=status,
            attempts=int(row["attempts"]) + 1,
            now=now,
            result=outcome,
        )
        if letter is not None:
            mark_letter(
                conn,
                letter["id"],
                status=status,
                attempts=int(row["attempts"]) + 1,
                delivered_at=now if status == "sent" else None,
            )
        if audit is not None:
            append_audit(conn, [audit])


def _unproduced(payload: dict[str, Any]) -> dict[str, Any]:
    """What the audit names of a letter that was never produced: its outbox payload's ids."""
    return {
        "id": None,
        "pathway_id": payload["pathway_id"],
        "name": payload["letter"],
        "recipient": payload["recipient"],
        "event_id": payload.get("event_id"),
    }


async def deliver_letter(
    row: dict[str, Any], now: datetime, *, pdf_renderer: PdfRenderer | None = None
) -> str:
    """Produce (once) and deliver one letter outbox row; returns its new status."""
    settings = get_settings()
    engine = cached_engine(settings.url())
    if row["attempts"] > 0 and row["updated_at"] >= now:
        return "pending"  # already tried at this moment: at most one attempt per run
    with transaction(engine) as conn:
        if not claim(conn, row, now):
            return "claimed"
    payload = json.loads(row["payload"])
    previous: dict[str, Any] = json.loads(row["result"]) if row.get("result") else {}
    services: dict[str, Any] = previous.get("services", {})
    letter: dict[str, Any] | None = None
    attempts = int(row["attempts"]) + 1
    try:
        letter = await asyncio.to_thread(
            produce_letter, engine, settings, row["key"], payload, now, pdf_renderer=pdf_renderer
        )
        done = frozenset(name for name, result in services.items() if result["ok"])
        sent = await asyncio.to_thread(send_by_email, letter, settings, skip=done)
    except LetterNotApplicable as error:
        subject = _unproduced(payload)
        _finish(
            engine,
            row,
            status="cancelled",
            now=now,
            outcome={"error": f"{error.field}: {error.reason}"},
            letter=None,
            audit=_audit("letter.cancelled", subject, now=now, reason=str(error)),
        )
        return "cancelled"
    except Exception as error:  # recorded by class only: a message may quote patient data
        status = "undelivered" if attempts >= settings.letter_delivery_attempts else "pending"
        failed = {"error": error.__class__.__name__, "services": services}
        audit = None
        if status == "undelivered":
            subject = letter or _unproduced(payload)
            audit = _audit(
                "letter.undelivered",
                subject,
                now=now,
                reason=f"{error.__class__.__name__} after {attempts} attempts",
            )
        _finish(engine, row, status=status, now=now, outcome=failed, letter=letter, audit=audit)
        return status
    for name, ok in sent.items():
        services[name] = {"ok": ok, "at": now.isoformat()}
    failed_services = sorted(name for name, result in services.items() if not result["ok"])
    outcome: dict[str, Any] = {"folder": letter["pdf_path"], "services": services}
    if not failed_services:
        status = "sent"
        audit = _audit(
            "letter.sent",
            letter,
            now=now,
            details={"channel": letter["channel"], "services": services},
        )
    elif attempts >= settings.letter_delivery_attempts:
        status = "undelivered"
        audit = _audit(
            "letter.undelivered",
            letter,
            now=now,
            reason=f"failed: {', '.join(failed_services)}",
            details={"services": services},
        )
    else:
        status = "pending"
        outcome["error"] = f"failed: {', '.join(failed_services)}"
        audit = None
    _finish(engine, row, status=status, now=now, outcome=outcome, letter=letter, audit=audit)
    return status


POOL_FROM = 8
"""Letters owed at once from which rendering moves to worker processes (each costs a second
of imports to start, worth it only for a batch: a back-dated bulk intake, a restarted watch)."""


PARENT_POLL_SECONDS = 0.2
"""How often a render worker checks that the process that started it is still alive."""


def _exit_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this render worker as soon as its parent process is gone.

    A ``letter deliver`` killed mid-way (SIGKILL, an OOM kill) runs no clean-up, and its
    workers would keep rendering letters for nobody. ``PR_SET_PDEATHSIG`` is not used: it
    fires when the parent *thread* that started the worker ends, and the pool starts workers
    from whichever thread submits first; polling the parent id works on every POSIX system.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


async def deliver_pending_letters(
    now: datetime, *, pathway_id: str | None = None, budget_seconds: float | None = None
) -> dict[str, int]:
    """Produce and deliver every letter owed, rendering PDFs on ``letter_render_processes``
    worker processes when many are owed; counts by new status.

    Args:
        budget_seconds: no letter is started once this much time has passed; the rest stay
            pending, untouched (counted ``deferred``), for the next run. The deadline watch
            sets it so that a backlog of letters (a bulk intake, a watch back from downtime)
            never holds the watch past its interval: alerts and the board come every interval.
    """
    settings = get_settings()
    rows = pending_rows(settings.url(), pathway_id, {"letter"}, now=now)
    processes = settings.letter_render_processes or os.cpu_count() or 1
    counts: dict[str, int] = {}
    started = time.monotonic()

    def out_of_time() -> bool:
        return budget_seconds is not None and time.monotonic() - started >= budget_seconds

    if processes < 2 or len(rows) < POOL_FROM:
        for row in rows:
            status = "deferred" if out_of_time() else await deliver_letter(row, now)
            counts[status] = counts.get(status, 0) + 1
        return counts
    spawn = multiprocessing.get_context("spawn")  # never fork a process that holds threads
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=spawn,
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:

        def in_pool(html: str) -> bytes:
            return pool.submit(render_pdf, html).result()

        gate = asyncio.Semaphore(processes * 2)

        async def one(row: dict[str, Any]) -> str:
            async with gate:
                if out_of_time():
                    return "deferred"
                return await deliver_letter(row, now, pdf_renderer=in_pool)

        for status in await asyncio.gather(*(one(row) for row in rows)):
            counts[status] = counts.get(status, 0) + 1
    return counts
