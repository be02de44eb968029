"""Intake: validate events, admit them to their pathway and store every consequence atomically.

Each event is all-or-nothing: it is validated and folded into its pathway in memory first, and
only an admitted event queues rows (inbox, milestone, clocks, pathway, audit). Rows of a batch
are written in one transaction; a database error rolls the batch back and re-runs it one event
per transaction, so a failing event leaves nothing behind and never takes others with it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from db.alerts import alert_references
from db.audit import append_audit, clock_status_entries, configuration_entries
from db.engine import transaction
from db.intake import (
    alerts_raised_at,
    inbox_row,
    milestone_row,
    new_pathway_row,
    outbox_row,
    pathway_update,
    patient_row,
    write_effects,
    write_events,
    write_pathways,
)
from db.repository import (
    add_patients,
    existing_event_hashes,
    list_events,
    lock_pathways,
    patient_ids_by_nhs_number,
    sync_clocks,
)
from pathway.effects import effects_of_event
from pathway.engine import PathwayView, admit, evaluate
from pathway.errors import EventRejected
from pathway.events import (
    AlertAcknowledged,
    PathwayEvent,
    ReferralReceived,
    event_to_json,
    parse_event,
)
from pathway.outbox import BACKFILL_GRACE, IntakeMoment
from pathway.ruleset import PinnedRules, rules_from_json
from services.watch import event_alert

_RACE_RETRIES = 4

_LINE_FAILURES = (OverflowError, RecursionError, UnicodeError)
"""What the content of one line could still raise in the core: refused for that line alone."""

_ID_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes: never spells a word


def new_pathway_id() -> str:
    """An opaque internal id (``PW-7F3K2Q``): the only handle Prefect and alerts ever see."""
    return "PW-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def content_hash(event: PathwayEvent) -> str:
    """SHA-256 of the event's canonical JSON: equal for a replay, different for a conflict."""
    return hashlib.sha256(event_to_json(event).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused event: where it was, which field, and why (never a patient value)."""

    line: int | None
    event_id: str | None
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "event_id": self.event_id,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass
class IntakeResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    accepted_event_ids: list[str] = field(default_factory=list)
    pathway_ids: set[str] = field(default_factory=set)
    history: int = 0
    """Accepted events a backfill imported as history: counted, owing no letter."""

    def merge(self, other: IntakeResult) -> None:
        self.accepted += other.accepted
        self.history += other.history
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.accepted_event_ids.extend(other.accepted_event_ids)
        self.pathway_ids |= other.pathway_ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass
class _Pathway:
    id: str
    reference: str
    version: int
    rules: PinnedRules
    events: list[PathwayEvent]
    view: PathwayView
    is_new: bool = False
    patient_id: str = ""


@dataclass
class _Item:
    line: int | None
    raw: str | bytes
    event: PathwayEvent | None = None
    """Already typed (and validated when it was built): not parsed again."""


@dataclass
class _Batch:
    """Rows queued by the admitted events of one batch."""

    patients: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    """``alert`` rows of the alerts among ``outbox`` (a safety alert): inserted only where
    their outbox row went in."""
    touched: dict[str, _Pathway] = field(default_factory=dict)
    before: dict[str, PathwayView | None] = field(default_factory=dict)


def refused_acknowledgements(
    conn: Connection, events: Sequence[PathwayEvent], replayed: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Why new ``alert.acknowledged`` events are refused, by event id (field, reason): the
    alert must exist, be an alert of the pathway the acknowledgement is for, and have been
    raised by the time it was acknowledged.

    An acknowledgement filed under the wrong referral would be accepted while the alert it
    meant to stop kept escalating, and the clinician would believe it acknowledged. The
    reason never names the other pathway.
    """
    acks = {
        e.event_id: e
        for e in events
        if isinstance(e, AlertAcknowledged) and e.event_id not in replayed
    }
    if not acks:
        return {}
    alert_ids = sorted({e.data.alert_id for e in acks.values()})
    owners = alert_references(conn, alert_ids)
    raised = alerts_raised_at(conn, alert_ids)
    refused: dict[str, tuple[str, str]] = {}
    for event_id, ack in acks.items():
        alert_id = ack.data.alert_id
        if alert_id not in owners:
            refused[event_id] = ("data.alert_id", "no alert with this id")
        elif owners[alert_id] != ack.pathway:
            refused[event_id] = ("data.alert_id", "this alert is not one of this pathway's alerts")
        elif ack.occurred_at < raised[alert_id]:
            # Nobody acknowledges an alert before it exists: a wrong clock or a wrong alert.
            refused[event_id] = ("occurred_at", "before the alert was raised")
    return refused


class Intake:
    """Admits events into the database; keeps a cache of pathways it has seen.

    The cache is checked against each pathway's ``version`` inside every transaction, so
    several processes may ingest at once: a pathway changed elsewhere is simply reloaded.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        new_pathway_rules: Callable[[], PinnedRules],
        mark_processed: bool = True,
        run_id: str | None = None,
        backfill: bool = False,
    ) -> None:
        self.engine = engine
        self._new_rules = new_pathway_rules
        self._cache: dict[str, _Pathway] = {}
        self.mark_processed = mark_processed
        self.run_id = run_id
        self.backfill = backfill
        """A backfill imports history: events older than the grace owe no letter
        (:class:`~pathway.outbox.IntakeMoment`); clocks, breaches and figures are as usual."""

    def audit_backfill(self, result: IntakeResult, *, now: datetime) -> None:
        """Record one ``ingest.backfill`` audit entry for a whole backfill, with its counts.

        The entry says when history was imported and how much of it owed nothing, so an
        auditor asking "why was no acknowledgement sent for this referral?" finds the answer.
        """
        with transaction(self.engine) as conn:
            append_audit(
                conn,
                [
                    {
                        "at": now,
                        "action": "ingest.backfill",
                        "run_id": self.run_id,
                        "details": {
                            "import_moment": now.isoformat(),
                            "grace_minutes": int(BACKFILL_GRACE.total_seconds() // 60),
                            "accepted": result.accepted,
                            "history": result.history,
                            "duplicates": result.duplicates,
                            "rejected": len(result.rejected),
                        },
                    }
                ],
            )

    def ingest_lines(
        self,
        lines: Iterable[tuple[int | None, str | bytes]],
        *,
        now: datetime,
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> IntakeResult:
        """Admit JSON events given as (line number, text) pairs; blank lines are skipped."""
        total = IntakeResult()
        batch: list[_Item] = []
        for line, raw in lines:
            if not raw.strip():
                continue
            batch.append(_Item(line, raw))
            if len(batch) >= batch_size:
                total.merge(self._run_batch(batch, now))
                if progress is not None:
                    progress(len(batch))
                batch = []
        if batch:
            total.merge(self._run_batch(batch, now))
            if progress is not None:
                progress(len(batch))
        return total

    def ingest_events(self, events: Sequence[PathwayEvent], *, now: datetime) -> IntakeResult:
        """Admit already-typed events (for example one typed by a coordinator): validated when
        they were built, they are admitted as they are, never serialised and parsed again."""
        items = [_Item(None, "", event) for event in events]
        return self._run_batch(items, now) if items else IntakeResult()

    def _run_batch(self, items: list[_Item], now: datetime) -> IntakeResult:
        parsed: list[tuple[_Item, PathwayEvent | Rejection]] = []
        for item in items:
            if item.event is not None:
                parsed.append((item, item.event))
                continue
            try:
                parsed.append((item, parse_event(item.raw)))
            except EventRejected as err:
                parsed.append((item, Rejection(item.line, err.event_id, err.field, err.reason)))
            except _LINE_FAILURES as err:
                # parse_event raises nothing else; should a line still reach an edge it
                # missed, that line is refused and the lines after it are still read.
                reason = f"could not be read ({err.__class__.__name__})"
                parsed.append((item, Rejection(item.line, None, "event", reason)))
        for _attempt in range(_RACE_RETRIES):
            try:
                return self._apply(parsed, now)
            except (IntegrityError, OperationalError):
                # Another writer may have won a race (same new pathway, same event id, a
                # lock): everything was rolled back; reload and try again.
                self._cache.clear()
            except DBAPIError:
                self._cache.clear()
                break
        # Still failing: isolate the culprit, one event per transaction.
        result = IntakeResult()
        for one in parsed:
            try:
                result.merge(self._apply([one], now))
            except DBAPIError as err:
                self._cache.clear()
                item, candidate = one
                event_id = candidate.event_id if not isinstance(candidate, Rejection) else None
                unstorable = Rejection(
                    item.line, event_id, "event", f"could not be stored ({err.__class__.__name__})"
                )
                result.rejected.append(unstorable)
                self._audit_unstorable(unstorable, now)
        return result

    def _audit_unstorable(self, rejection: Rejection, now: datetime) -> None:
        # Every refusal is audited, this one too: only its id, field and reason, which the
        # database can always store (the id passed the printable-ASCII pattern).
        with transaction(self.engine) as conn:
            append_audit(
                conn,
                [
                    {
                        "at": now,
                        "action": "event.rejected",
                        "pathway_id": None,
                        "pathway_reference": None,
                        "event_id": rejection.event_id,
                        "event_type": None,
                        "occurred_at": None,
                        "actor": None,
                        "source": None,
                        "field": rejection.field,
                        "reason": rejection.reason,
                        "run_id": self.run_id,
                    }
                ],
            )

    def _apply(
        self, parsed: list[tuple[_Item, PathwayEvent | Rejection]], now: datetime
    ) -> IntakeResult:
        result = IntakeResult()
        batch = _Batch()
        with transaction(self.engine) as conn:
            events = [e for _, e in parsed if not isinstance(e, Rejection)]
            known = existing_event_hashes(conn, [e.event_id for e in events])
            # A replayed event needs no pathway state: load only what new events touch.
            pathways = self._load(
                conn, sorted({e.pathway for e in events if e.event_id not in known})
            )
            refused = refused_acknowledgements(conn, events, known)
            for item, candidate in parsed:
                if not isinstance(candidate, Rejection) and candidate.event_id in refused:
                    # An acknowledgement must name an alert of its pathway that was sent.
                    field_name, reason = refused[candidate.event_id]
                    unknown = Rejection(item.line, candidate.event_id, field_name, reason)
                    self._reject(batch, result, unknown, candidate, now)
                    continue
                if isinstance(candidate, Rejection):
                    self._reject(batch, result, candidate, None, now)
                    continue
                self._admit_one(batch, result, item, candidate, known, pathways, now)
            self._flush(conn, batch, now)
        self._cache.update({p.reference: p for p in batch.touched.values()})
        for p in batch.touched.values():
            p.is_new = False
        return result

    def _load(self, conn: Connection, references: list[str]) -> dict[str, _Pathway]:
        stored = lock_pathways(conn, references)
        stale = [
            row
            for ref, row in stored.items()
            if ref not in self._cache or self._cache[ref].version != row.version
        ]
        loaded = list_events(conn, [row.id for row in stale])
        for row in stale:
            rules = rules_from_json(row.rules)
            events = loaded[row.id]
            self._cache[row.reference] = _Pathway(
                id=row.id,
                reference=row.reference,
                version=row.version,
                rules=rules,
                events=events,
                view=evaluate(events, rules),
                patient_id=row.patient_id,
            )
        return {ref: self._cache[ref] for ref in stored}

    def _admit_one(
        self,
        batch: _Batch,
        result: IntakeResult,
        item: _Item,
        event: PathwayEvent,
        known: dict[str, str],
        pathways: dict[str, _Pathway],
        now: datetime,
    ) -> None:
        digest = content_hash(event)
        if event.event_id in known:
            if known[event.event_id] == digest:
                result.duplicates += 1
                return
            self._reject(
                batch,
                result,
                Rejection(
                    item.line,
                    event.event_id,
                    "event_id",
                    "already used by an event with different content (conflicting replay)",
                ),
                event,
                now,
            )
            return
        current = batch.touched.get(event.pathway) or pathways.get(event.pathway)
        try:
            if current is None:
                rules = self._new_rules()
                view = admit([], event, rules=rules, now=now)
                current = _Pathway(
                    id=new_pathway_id(),
                    reference=event.pathway,
                    version=0,
                    rules=rules,
                    events=[],
                    view=view,
                    is_new=True,
                )
                batch.before[current.id] = None
                self._new_patient(batch, current, event)
            else:
                view = admit(
                    current.events, event, rules=current.rules, now=now, current=current.view
                )
                if current.id not in batch.before:
                    batch.before[current.id] = current.view
        except EventRejected as err:
            self._reject(
                batch,
                result,
                Rejection(item.line, event.event_id, err.field, err.reason),
                event,
                now,
            )
            return
        except _LINE_FAILURES as err:
            reason = f"could not be admitted ({err.__class__.__name__})"
            self._reject(
                batch, result, Rejection(item.line, event.event_id, "event", reason), event, now
            )
            return
        known[event.event_id] = digest
        touched = _Pathway(
            id=current.id,
            reference=current.reference,
            version=current.version + 1,
            rules=current.rules,
            events=[*current.events, event],
            view=view,
            is_new=current.is_new,
            patient_id=current.patient_id,
        )
        batch.touched[event.pathway] = touched
        result.accepted += 1
        result.accepted_event_ids.append(event.event_id)
        result.pathway_ids.add(touched.id)
        batch.inbox.append(
            inbox_row(
                event,
                pathway_id=touched.id,
                content_hash=digest,
                received_at=now,
                processed=self.mark_processed,
            )
        )
        milestone = next(m for m in view.milestones if m.event_id == event.event_id)
        before_view = current.view if current.events else None
        moment = IntakeMoment(now=now, backfill=self.backfill)
        if moment.is_history(event):
            result.history += 1
        for owed in effects_of_event(touched.id, event, before_view, view, moment=moment):
            effect = owed
            if owed.kind == "alert":
                effect, alert = event_alert(owed, at=now)
                batch.alerts.append(alert)
            batch.outbox.append(outbox_row(effect, pathway_id=touched.id, at=now))
        batch.milestones.append(milestone_row(touched.id, event, milestone))
        batch.audit.append(
            {
                "at": now,
                "action": "event.accepted",
                "pathway_id": touched.id,
                "pathway_reference": event.pathway,
                "event_id": event.event_id,
                "event_type": event.type,
                "occurred_at": event.occurred_at,
                "actor": event.recorded_by,
                "source": event.source,
                "field": None,
                "reason": None,
                "run_id": self.run_id,
                # A referral records the configuration it is pinned to (ruleset, local SLAs).
                "details": {"configuration": json.loads(touched.rules.to_json())}
                if touched.is_new
                else None,
            }
        )
        batch.audit.extend(
            clock_status_entries(
                before_view.clocks if before_view is not None else (),
                view.clocks,
                at=now,
                pathway_id=touched.id,
                pathway_reference=event.pathway,
                event_id=event.event_id,
                event_type=event.type,
                occurred_at=event.occurred_at,
                actor=event.recorded_by,
                source=event.source,
                run_id=self.run_id,
            )
        )

    def _new_patient(self, batch: _Batch, pathway: _Pathway, event: PathwayEvent) -> None:
        if not isinstance(event, ReferralReceived):  # admit() guarantees a referral
            return
        pathway.patient_id = "PT-" + secrets.token_hex(8)
        batch.patients.append(patient_row(pathway.patient_id, event))

    def _reject(
        self,
        batch: _Batch,
        result: IntakeResult,
        rejection: Rejection,
        event: PathwayEvent | None,
        now: datetime,
    ) -> None:
        result.rejected.append(rejection)
        touched = batch.touched.get(event.pathway) if event is not None else None
        cached = self._cache.get(event.pathway) if event is not None else None
        known = touched or cached
        batch.audit.append(
            {
                "at": now,
                "action": "event.rejected",
                "pathway_id": known.id if known is not None and not known.is_new else None,
                "pathway_reference": event.pathway if event is not None else None,
                "event_id": rejection.event_id,
                "event_type": event.type if event is not None else None,
                "occurred_at": event.occurred_at if event is not None else None,
                "actor": event.recorded_by if event is not None else None,
                "source": event.source if event is not None else None,
                "field": rejection.field,
                "reason": rejection.reason,
                "run_id": self.run_id,
            }
        )

    def _flush(self, conn: Connection, batch: _Batch, now: datetime) -> None:
        if batch.patients:
            numbers = [p["nhs_number"] for p in batch.patients if p["nhs_number"]]
            existing = patient_ids_by_nhs_number(conn, numbers)
            fresh = []
            for patient in batch.patients:
                known_id = existing.get(patient["nhs_number"] or "")
                if known_id is not None:
                    # The same person referred again: one patient, several pathways.
                    for p in batch.touched.values():
                        if p.patient_id == patient["id"]:
                            p.patient_id = known_id
                else:
                    fresh.append({**patient, "created_at": now})
                    if patient["nhs_number"]:
                        existing[patient["nhs_number"]] = patient["id"]
            stored = add_patients(conn, fresh)
            for patient in fresh:
                winner = stored.get(patient["nhs_number"] or "", patient["id"])
                if winner != patient["id"]:  # another intake stored this patient meanwhile
                    for p in batch.touched.values():
                        if p.patient_id == patient["id"]:
                            p.patient_id = winner
        new_rows = []
        updates = []
        for p in batch.touched.values():
            if p.is_new:
                new_rows.append(
                    new_pathway_row(
                        pathway_id=p.id,
                        reference=p.reference,
                        patient_id=p.patient_id,
                        rules=p.rules,
                        version=p.version,
                        view=p.view,
                        at=now,
                    )
                )
            else:
                updates.append(pathway_update(p.id, version=p.version, view=p.view, at=now))
        write_pathways(conn, new_rows, updates)
        write_events(conn, batch.inbox, batch.milestones)
        changes = []
        for p in batch.touched.values():
            before = batch.before[p.id]
            changes.append((p.id, () if before is None else before.clocks, p.view.clocks))
        sync_clocks(conn, changes)
        write_effects(conn, batch.outbox, batch.alerts)
        new_rules = [p.rules.to_json() for p in batch.touched.values() if p.is_new]
        configuration = configuration_entries(conn, new_rules, at=now, run_id=self.run_id)
        append_audit(conn, [*configuration, *batch.audit])
