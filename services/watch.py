"""One sweep of the deadline watch: clocks now at risk, breached or unacknowledged become alerts,
and so do the escalations of unacknowledged safety alerts (pathway-spec.md 9.3).

The same code runs in the scheduled `deadline-watch` flow and in `cordwatch watch --once`. Each
(clock instance, level, step) has one outbox key, so however often the sweep runs, and whatever
crashes in between, an alert is queued once. The alert's outbox row and its ``alert`` row are
written in the same transaction as the decision, skipping keys another transaction (an intake
deciding the same breach report) took meanwhile; delivery (tasks/alerts.py) comes after.

A sweep reads (db/watch.py, db/alerts.py), decides (:func:`pathway.sweep.plan_sweep`, pure) and
writes what was decided, in that order and in one transaction. The sweep is selective: it
reads only running clocks whose ``next_alert_at`` has come, or has not been computed yet (a
clock the intake just inserted), and moves ``next_alert_at`` to the next moment each owes
something. Over 100,000 quiet pathways it reads no clock at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from db.alerts import ALERT, alert_values, breach_states, open_safety_alerts, safety_acknowledged
from db.engine import reading, rolled_back, transaction
from db.inbox import REDRIVE_GRACE, InboxEntry, list_unprocessed, mark_processed
from db.outbox import alert_outbox_values, effect_values
from db.repository import OUTBOX, existing_outbox_keys, insert_new
from db.watch import (
    due_clocks,
    move_next_alerts,
    record_watch_run,
)
from db.watch import last_sweep_at as _last_sweep_at
from pathway.engine import INTAKE_SKEW
from pathway.outbox import Effect
from pathway.sweep import QueuedAlert, late_pathways, plan_sweep
from services.settings import Settings

__all__ = [
    "SweepResult",
    "WatchReport",
    "configured_escalation",
    "event_alert",
    "is_future",
    "last_sweep_at",
    "new_alert_id",
    "run_watch",
    "sweep",
]

_ID_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes: never spells a word


def new_alert_id() -> str:
    """An opaque alert id (``AL-7F3K2Q9B``): what a clinician types to acknowledge."""
    return "AL-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass
class SweepResult:
    as_of: datetime
    queued: list[QueuedAlert] = field(default_factory=list)
    clocks_at_risk: int = 0
    clocks_breached: int = 0
    clocks_read: int = 0


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

    Reads (db/watch.py, db/alerts.py), decides (:func:`pathway.sweep.plan_sweep`), writes.

    Args:
        escalation: escalation minutes replacing the ruleset's (:func:`escalation_override`).
        commit: False for a preview: the same decisions, rolled back, so nothing is queued.
    """
    result = SweepResult(as_of=as_of)
    with transaction(engine) if commit else rolled_back(engine) as conn:
        safety = open_safety_alerts(conn)
        acknowledged = (
            safety_acknowledged(conn, [alert.pathway_id for alert in safety]) if safety else set()
        )
        clocks = due_clocks(conn, as_of)
        result.clocks_read = len(clocks)
        late = late_pathways(clocks, as_of)
        # Nothing owed reads and writes nothing more: every statement below is skipped when
        # its list is empty, as over 100,000 quiet pathways.
        plan = plan_sweep(
            clocks,
            at=as_of,
            breaches=breach_states(conn, late) if late else {},
            safety_alerts=safety,
            safety_acknowledged=acknowledged,
            escalation=escalation,
        )
        result.clocks_at_risk = plan.clocks_at_risk
        result.clocks_breached = plan.clocks_breached
        existing = existing_outbox_keys(
            conn, [owed.key for owed in plan.alerts] + [report.key for report in plan.reports]
        )
        outbox_rows: list[dict[str, Any]] = []
        alert_rows: list[dict[str, Any]] = []
        for owed in plan.alerts:
            if owed.key in existing:
                continue
            existing.add(owed.key)
            alert = owed.with_id(new_alert_id())
            result.queued.append(alert)
            outbox_rows.append(alert_outbox_values(alert, at=as_of, extra=owed.extra))
            alert_rows.append(alert_values(alert, at=as_of, clock_starts_at=owed.clock_starts_at))
        # A breach also owes clinical governance its breach report letter (once per clock).
        outbox_rows.extend(
            effect_values(report, at=as_of) for report in plan.reports if report.key not in existing
        )
        # An intake (or another watch) may queue the same keys between the check above and
        # here: skipped, not a unique violation; an alert row only where its outbox row went in.
        inserted = insert_new(conn, OUTBOX, outbox_rows)
        insert_new(conn, ALERT, [row for row in alert_rows if row["key"] in inserted])
        result.queued = [alert for alert in result.queued if alert.key in inserted]
        move_next_alerts(conn, plan.moves)
    return result


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
        record_watch_run(
            conn, as_of=as_of, queued=len(report.sweep.queued), redriven=len(report.redriven)
        )
    return report


def last_sweep_at(conn: Connection, *, at: datetime | None = None) -> datetime | None:
    """The ``as_of`` of the latest completed sweep, or None when the watch never ran.

    With ``at`` (the moment of a heartbeat check), a sweep recorded for a later moment (beyond
    the intake's skew) is no sign of life at ``at``: only sweeps up to then count. (Such
    sweeps are refused as previews now; rows written before that are ignored here.)
    """
    return _last_sweep_at(conn, until=None if at is None else at + INTAKE_SKEW)
