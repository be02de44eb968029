"""One sweep of the deadline watch: clocks now at risk, breached or unacknowledged become alerts,
and so do the escalations of unacknowledged safety alerts (pathway-spec.md 9.3).

The same code runs in the scheduled `deadline-watch` flow and in `cordwatch watch --once`. Each
(clock instance, level, step) has one outbox key, so however often the sweep runs, and whatever
crashes in between, an alert is queued once. The alert's outbox row and its ``alert`` row are
written in the same transaction as the decision, skipping keys another transaction (an intake
deciding the same breach report) took meanwhile; delivery (tasks/alerts.py) comes after.

The sweep is selective: it reads only running clocks whose ``next_alert_at`` has come, or has
not been computed yet (a clock the intake just inserted), and moves ``next_alert_at`` to the
next moment each owes something. Over 100,000 quiet pathways it reads no clock at all.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from db.engine import reading, rolled_back, transaction
from db.repository import (
    CLOCK,
    INBOX,
    OUTBOX,
    PATHWAY,
    chunks,
    existing_outbox_keys,
    insert_new,
    table,
)
from pathway.alerts import (
    TAGS,
    AlertDue,
    AlertLevel,
    alert_key,
    alerts_due,
    escalation_due,
    escalation_interval,
    next_alert_at,
)
from pathway.effects import Effect
from pathway.engine import INTAKE_SKEW
from pathway.letters import breach_report_effect
from pathway.ruleset import EscalationMinutes, PinnedRules, rules_from_json
from pathway.safety import SAFETY_ESCALATION_KIND, safety_escalation_key, safety_event_of
from services.effects import REDRIVE_GRACE, InboxEntry, list_unprocessed, mark_processed
from services.settings import Settings

ALERT = table("alert")
WATCH_RUN = table("watch_run")

_ID_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes: never spells a word


def new_alert_id() -> str:
    """An opaque alert id (``AL-7F3K2Q9B``): what a clinician types to acknowledge."""
    return "AL-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """An alert decided by a sweep (what the outbox row carries: ids and coded facts only)."""

    key: str
    alert_id: str
    pathway_id: str
    clock_id: str
    level: str
    step: int
    due_at: datetime
    category: str
    tags: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "alert_id": self.alert_id,
            "pathway_id": self.pathway_id,
            "clock_id": self.clock_id,
            "level": self.level,
            "step": self.step,
            "due_at": self.due_at.isoformat(),
            "category": self.category,
            "tags": list(self.tags),
        }


@dataclass
class SweepResult:
    as_of: datetime
    queued: list[QueuedAlert] = field(default_factory=list)
    clocks_at_risk: int = 0
    clocks_breached: int = 0
    clocks_read: int = 0


def _candidate_clocks(conn: Connection, at: datetime) -> list[Any]:
    """Running clocks of open pathways whose next alert moment has come or is not yet known."""
    columns = (
        CLOCK.c.id,
        CLOCK.c.pathway_id,
        CLOCK.c.clock_id,
        CLOCK.c.kind,
        CLOCK.c.starts_at,
        CLOCK.c.due_at,
        CLOCK.c.warnings,
        PATHWAY.c.category,
        PATHWAY.c.rules,
    )
    found: list[Any] = []
    # Two range reads of ix_clock_next_alert (status, next_alert_at): an OR would defeat it.
    for condition in (CLOCK.c.next_alert_at.is_(None), CLOCK.c.next_alert_at <= at):
        found.extend(
            conn.execute(
                select(*columns)
                .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
                .where(CLOCK.c.status == "running")
                .where(condition)
                .where(PATHWAY.c.status == "open")
            )
        )
    return found


@dataclass
class BreachState:
    """What the sweep knows of one clock instance's breach: when raised, whether acknowledged."""

    raised_at: datetime | None = None
    acknowledged: bool = False


def clock_instance(pathway_id: str, clock_id: str, starts_at: datetime) -> tuple[str, str, str]:
    """The key of one clock instance (a clock restarted by an upgrade is another instance)."""
    return pathway_id, clock_id, starts_at.isoformat()


def acknowledged_alert_ids(conn: Connection, pathway_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Alert ids acknowledged by ``alert.acknowledged`` events in the inbox (the record)."""
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(set(pathway_ids))):
        rows = conn.execute(
            select(INBOX.c.event_id, INBOX.c.payload, INBOX.c.occurred_at)
            .where(INBOX.c.pathway_id.in_(part))
            .where(INBOX.c.type == "alert.acknowledged")
            .order_by(INBOX.c.occurred_at)
        )
        for row in rows:
            data = json.loads(row.payload)["data"]
            found.setdefault(
                data["alert_id"],
                {"by": data["by"], "at": row.occurred_at, "event_id": row.event_id},
            )
    return found


def _acknowledged_rows(
    conn: Connection, pathway_ids: list[str], condition: Any
) -> list[tuple[Any, bool]]:
    """The alert rows of these pathways that match ``condition``, each with whether it was
    acknowledged; heals acknowledgements not yet applied.

    An acknowledgement is an event in the inbox: if the process that recorded it died before
    marking its alert, the alert row is marked here, so escalation stops all the same.
    """
    acks = acknowledged_alert_ids(conn, pathway_ids)
    found: list[tuple[Any, bool]] = []
    heal: list[dict[str, Any]] = []
    for part in chunks(sorted(set(pathway_ids))):
        rows = conn.execute(
            select(
                ALERT.c.id,
                ALERT.c.key,
                ALERT.c.pathway_id,
                ALERT.c.clock_id,
                ALERT.c.clock_starts_at,
                ALERT.c.level,
                ALERT.c.created_at,
                ALERT.c.acknowledged_at,
            )
            .where(ALERT.c.pathway_id.in_(part))
            .where(condition)
        )
        for row in rows:
            ack = acks.get(row.id)
            found.append((row, row.acknowledged_at is not None or ack is not None))
            if row.acknowledged_at is None and ack is not None:
                heal.append(
                    {
                        "b_id": row.id,
                        "acknowledged_at": ack["at"],
                        "acknowledged_by": ack["by"],
                        "ack_event_id": ack["event_id"],
                    }
                )
    if heal:
        conn.execute(
            update(ALERT)
            .where(ALERT.c.id == bindparam("b_id"))
            .values(
                acknowledged_at=bindparam("acknowledged_at"),
                acknowledged_by=bindparam("acknowledged_by"),
                ack_event_id=bindparam("ack_event_id"),
            ),
            heal,
        )
    return found


def breach_states(
    conn: Connection, pathway_ids: list[str]
) -> dict[tuple[str, str, str], BreachState]:
    """Breach state of the late clocks of these pathways; heals acknowledgements not yet applied.

    Acknowledging the breach alert or any of its escalations stops the escalation.
    """
    breaches: dict[tuple[str, str, str], BreachState] = {}
    condition = ALERT.c.level.in_(
        [AlertLevel.BREACH.value, AlertLevel.ESCALATION.value]
    ) & ALERT.c.clock_id.is_not(None)  # a safety alert's escalations have no clock
    for row, acknowledged in _acknowledged_rows(conn, pathway_ids, condition):
        state = breaches.setdefault(
            clock_instance(row.pathway_id, row.clock_id, row.clock_starts_at), BreachState()
        )
        if row.level == AlertLevel.BREACH.value:
            state.raised_at = row.created_at
        state.acknowledged = state.acknowledged or acknowledged
    return breaches


def safety_acknowledged(conn: Connection, pathway_ids: list[str]) -> set[tuple[str, str]]:
    """The safety alerts of these pathways that are acknowledged, as (pathway id, event id):
    the safety alert itself or any of its escalations (heals acknowledgements not yet applied).
    """
    condition = ALERT.c.level.in_(
        [AlertLevel.SAFETY.value, AlertLevel.ESCALATION.value]
    ) & ALERT.c.clock_id.is_(None)
    return {
        safety_event_of(row.key)
        for row, acknowledged in _acknowledged_rows(conn, pathway_ids, condition)
        if acknowledged
    }


def escalation_override(hour_clocks: int | None, day_clocks: int | None) -> dict[str, int]:
    """The local escalation intervals that replace the ruleset's (settings), when given."""
    given = {"hour_clocks": hour_clocks, "day_clocks": day_clocks}
    return {name: minutes for name, minutes in given.items() if minutes is not None}


def configured_escalation(settings: Settings) -> dict[str, int]:
    """The escalation intervals the service set (``CORDWATCH_ESCALATION_MINUTES_*``), for every
    way the watch runs: the scheduled flow and ``cordwatch watch --once`` escalate alike."""
    return escalation_override(
        settings.escalation_minutes_hour_clocks, settings.escalation_minutes_day_clocks
    )


def _escalation_minutes(rules: PinnedRules, override: dict[str, int]) -> EscalationMinutes:
    minutes = rules.ruleset.escalation_minutes
    return minutes.model_copy(update=override) if override else minutes


def _open_safety_alerts(conn: Connection) -> list[Any]:
    """Safety alerts not themselves acknowledged (index ``ix_alert_level_ack``), with their
    outbox payload and their pathway's rules and category. Safety alerts are rare: a sweep
    reads a handful of rows, however many clock alerts the table holds."""
    return list(
        conn.execute(
            select(
                ALERT.c.id,
                ALERT.c.key,
                ALERT.c.pathway_id,
                ALERT.c.created_at,
                OUTBOX.c.payload,
                PATHWAY.c.rules,
                PATHWAY.c.category,
            )
            .join(OUTBOX, OUTBOX.c.key == ALERT.c.key)
            .join(PATHWAY, PATHWAY.c.id == ALERT.c.pathway_id)
            .where(ALERT.c.level == AlertLevel.SAFETY.value)
            .where(ALERT.c.acknowledged_at.is_(None))
        )
    )


def owed_safety_escalations(
    conn: Connection, *, as_of: datetime, escalation: dict[str, int] | None = None
) -> list[tuple[QueuedAlert, dict[str, Any]]]:
    """The escalations unacknowledged safety alerts owe at ``as_of`` (to ``service-lead``).

    A safety alert escalates as a breach does (:func:`pathway.alerts.escalation_due`), with
    the hour clocks' interval, until it or one of its escalations is acknowledged; whatever
    the pathway does next (a review, a closure) does not stop it. Each (safety alert, step)
    has one key, so a step is queued once however often the sweep runs.

    Returns:
        Each owed escalation and the extra facts its outbox payload carries (codes only).
    """
    rows = _open_safety_alerts(conn)
    if not rows:
        return []
    acknowledged = safety_acknowledged(conn, [row.pathway_id for row in rows])
    owed: list[tuple[QueuedAlert, dict[str, Any]]] = []
    for row in rows:
        pathway_id, event_id = safety_event_of(row.key)
        if (pathway_id, event_id) in acknowledged:
            continue
        minutes = _escalation_minutes(rules_from_json(row.rules), escalation or {})
        every = escalation_interval(SAFETY_ESCALATION_KIND, minutes)
        payload = json.loads(row.payload)
        for due in escalation_due(raised_at=row.created_at, at=as_of, every=every):
            alert = QueuedAlert(
                key=safety_escalation_key(pathway_id, event_id, due.step),
                alert_id=new_alert_id(),
                pathway_id=pathway_id,
                clock_id="",
                level=due.level.value,
                step=due.step,
                due_at=due.fires_at,
                category=str(payload.get("category", row.category)),
                tags=TAGS[due.level],
            )
            extra = {
                "safety_alert_id": row.id,
                "rule": payload["rule"],
                "event_type": payload["event_type"],
                "occurred_at": payload["occurred_at"],
            }
            owed.append((alert, extra))
    return owed


def event_alert(effect: Effect, *, at: datetime) -> tuple[Effect, dict[str, Any]]:
    """An alert the core decided for an accepted event (a safety alert) with its alert id.

    Returns:
        The effect to write as its outbox row (its payload now names the alert id), and its
        ``alert`` row (no clock), to insert only where the outbox row went in.
    """
    payload = effect.payload
    alert = QueuedAlert(
        key=effect.key,
        alert_id=new_alert_id(),
        pathway_id=payload["pathway_id"],
        clock_id="",
        level=payload["level"],
        step=1,
        due_at=at,
        category=payload["category"],
        tags=tuple(payload["recipients"]),
    )
    decided = Effect(effect.kind, effect.key, {**payload, "alert_id": alert.alert_id, "step": 1})
    return decided, alert_values(alert, at=at, clock_starts_at=None)


def sweep(
    engine: Engine,
    *,
    as_of: datetime,
    escalation: dict[str, int] | None = None,
    commit: bool = True,
) -> SweepResult:
    """Queue every alert owed at ``as_of`` that is not queued yet, in one transaction.

    Args:
        escalation: escalation minutes replacing the ruleset's (:func:`escalation_override`).
        commit: False for a preview: the same decisions, rolled back, so nothing is queued.
    """
    result = SweepResult(as_of=as_of)
    with transaction(engine) if commit else rolled_back(engine) as conn:
        safety = owed_safety_escalations(conn, as_of=as_of, escalation=escalation)
        candidates = _candidate_clocks(conn, as_of)
        result.clocks_read = len(candidates)
        if not candidates and not safety:
            return result
        late = [row.pathway_id for row in candidates if row.due_at <= as_of]
        breaches = breach_states(conn, late) if late else {}
        owed: list[tuple[Any, AlertDue, str, str]] = []
        moves: list[dict[str, Any]] = []
        for row in candidates:
            rules = rules_from_json(row.rules)
            every = escalation_interval(row.kind, _escalation_minutes(rules, escalation or {}))
            warnings = tuple(datetime.fromisoformat(w) for w in json.loads(row.warnings))
            breach = breaches.get(
                clock_instance(row.pathway_id, row.clock_id, row.starts_at), BreachState()
            )
            dues = alerts_due(
                kind=row.kind,
                due_at=row.due_at,
                warnings=warnings,
                running=True,
                at=as_of,
                escalate_every=every,
                breach_raised_at=breach.raised_at,
                acknowledged=breach.acknowledged,
            )
            if any(d.level == AlertLevel.BREACH for d in dues):
                result.clocks_breached += 1
            elif dues:
                result.clocks_at_risk += 1
            title = rules.ruleset.rule(row.clock_id).title
            owed.extend(
                (row, due, alert_key(row.pathway_id, row.clock_id, row.starts_at, due), title)
                for due in dues
            )
            moves.append(
                {
                    "b_id": row.id,
                    "next_alert_at": next_alert_at(
                        kind=row.kind,
                        due_at=row.due_at,
                        warnings=warnings,
                        at=as_of,
                        escalate_every=every,
                        breach_raised_at=breach.raised_at,
                        acknowledged=breach.acknowledged,
                    ),
                }
            )
        reports = [
            breach_report_effect(row.pathway_id, row.clock_id, row.starts_at)
            for row, due, _, _ in owed
            if due.level is AlertLevel.BREACH
        ]
        existing = existing_outbox_keys(
            conn,
            [key for _, _, key, _ in owed]
            + [report.key for report in reports]
            + [alert.key for alert, _ in safety],
        )
        outbox_rows: list[dict[str, Any]] = []
        alert_rows: list[dict[str, Any]] = []
        for row, due, key, title in owed:
            if key in existing:
                continue
            existing.add(key)
            alert = QueuedAlert(
                key=key,
                alert_id=new_alert_id(),
                pathway_id=row.pathway_id,
                clock_id=row.clock_id,
                level=due.level.value,
                step=due.step,
                due_at=row.due_at,
                category=row.category,
                tags=TAGS[due.level],
            )
            result.queued.append(alert)
            outbox_rows.append(
                outbox_values(
                    alert,
                    at=as_of,
                    extra={
                        "clock_starts_at": row.starts_at.isoformat(),
                        "clock_title": title,
                        "kind": row.kind,
                    },
                )
            )
            alert_rows.append(alert_values(alert, at=as_of, clock_starts_at=row.starts_at))
        for alert, extra in safety:
            if alert.key in existing:
                continue
            existing.add(alert.key)
            result.queued.append(alert)
            outbox_rows.append(outbox_values(alert, at=as_of, extra=extra))
            alert_rows.append(alert_values(alert, at=as_of, clock_starts_at=None))
        # A breach also owes clinical governance its breach report letter (once per clock).
        outbox_rows.extend(
            effect_values(report, at=as_of) for report in reports if report.key not in existing
        )
        # An intake (or another watch) may queue the same keys between the check above and
        # here: skipped, not a unique violation; an alert row only where its outbox row went in.
        inserted = insert_new(conn, OUTBOX, outbox_rows)
        insert_new(conn, ALERT, [row for row in alert_rows if row["key"] in inserted])
        result.queued = [alert for alert in result.queued if alert.key in inserted]
        if moves:
            conn.execute(
                update(CLOCK)
                .where(CLOCK.c.id == bindparam("b_id"))
                .values(next_alert_at=bindparam("next_alert_at")),
                moves,
            )
    return result


def effect_values(effect: Effect, *, at: datetime) -> dict[str, Any]:
    """The outbox row of an effect decided by the core (a letter), pending until delivered."""
    return {
        "key": effect.key,
        "kind": effect.kind,
        "pathway_id": effect.payload.get("pathway_id"),
        "payload": json.dumps(effect.payload, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


def outbox_values(alert: QueuedAlert, *, at: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    """The outbox row of a decided alert (pending until delivered)."""
    return {
        "key": alert.key,
        "kind": "alert",
        "pathway_id": alert.pathway_id or None,
        "payload": json.dumps({**alert.as_dict(), **extra}, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


def alert_values(
    alert: QueuedAlert, *, at: datetime, clock_starts_at: datetime | None
) -> dict[str, Any]:
    """The ``alert`` row of a decided alert."""
    return {
        "id": alert.alert_id,
        "key": alert.key,
        "pathway_id": alert.pathway_id or None,
        "clock_id": alert.clock_id or None,
        "clock_starts_at": clock_starts_at,
        "level": alert.level,
        "step": alert.step,
        "tags": ",".join(alert.tags),
        "created_at": at,
        "next_attempt_at": at,
    }


@dataclass
class WatchReport:
    """What one watch did: alerts queued, clocks at risk and breached, events re-driven.

    A ``preview`` (a watch asked for a moment in the future) decided the same but changed
    nothing: no alert queued, no event re-driven, no sweep recorded.
    """

    sweep: SweepResult
    redriven: list[InboxEntry] = field(default_factory=list)
    preview: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.sweep.as_of.isoformat(),
            "preview": self.preview,
            "clocks_at_risk": self.sweep.clocks_at_risk,
            "clocks_breached": self.sweep.clocks_breached,
            "queued": [alert.as_dict() for alert in self.sweep.queued],
            "redriven": [entry.event_id for entry in self.redriven],
        }


def is_future(as_of: datetime, now: datetime | None) -> bool:
    """True when ``as_of`` is later than the real moment ``now`` (beyond the intake's skew).

    A watch asked for such a moment would queue alerts not yet due and, recorded as a sweep,
    would tell the heartbeat the watch is alive for years: it may only preview.
    """
    return now is not None and as_of > now + INTAKE_SKEW


def run_watch(
    engine: Engine,
    *,
    as_of: datetime,
    now: datetime | None = None,
    redrive_grace: timedelta = REDRIVE_GRACE,
    escalation: dict[str, int] | None = None,
) -> WatchReport:
    """One deadline watch: queue owed alerts, then process accepted events left unprocessed.

    An event is re-driven when it was received more than ``redrive_grace`` before ``as_of`` and
    never processed: its Prefect notification was lost, or its run failed for good. The
    completed sweep is recorded in ``watch_run`` for the heartbeat check.

    Args:
        now: the real moment, read once by the shell. When ``as_of`` is later (beyond the
            intake's skew) the watch is a preview (:func:`is_future`) and changes nothing.
    """
    if is_future(as_of, now):
        return WatchReport(
            sweep=sweep(engine, as_of=as_of, escalation=escalation, commit=False), preview=True
        )
    report = WatchReport(sweep=sweep(engine, as_of=as_of, escalation=escalation))
    with reading(engine) as conn:
        pending = list_unprocessed(conn, received_before=as_of - redrive_grace)
    for entry in pending:
        if mark_processed(engine, entry.event_id, at=as_of):
            report.redriven.append(entry)
    with transaction(engine) as conn:
        conn.execute(
            insert(WATCH_RUN).values(
                as_of=as_of, queued=len(report.sweep.queued), redriven=len(report.redriven)
            )
        )
    return report


def last_sweep_at(conn: Connection, *, at: datetime | None = None) -> datetime | None:
    """The ``as_of`` of the latest completed sweep, or None when the watch never ran.

    With ``at`` (the moment of a heartbeat check), a sweep recorded for a later moment (beyond
    the intake's skew) is no sign of life at ``at``: only sweeps up to then count. (Such
    sweeps are refused as previews now; rows written before that are ignored here.)
    """
    query = select(func.max(WATCH_RUN.c.as_of))
    if at is not None:
        query = query.where(WATCH_RUN.c.as_of <= at + INTAKE_SKEW)
    value: datetime | None = conn.execute(query).scalar()
    return value
