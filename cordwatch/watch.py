"""One sweep of the deadline watch: clocks now at risk or breached become alert rows in the outbox.

The same code runs in the scheduled `deadline-watch` flow and in `cordwatch watch --once`. Each
(clock instance, level, step) has one outbox key, so however often the sweep runs, and whatever
crashes in between, an alert is queued once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from cordwatch.effects import REDRIVE_GRACE, InboxEntry, list_unprocessed, mark_processed
from db.engine import transaction
from db.repository import CLOCK, OUTBOX, PATHWAY, chunks
from pathway.alerts import AlertDue, alert_key, alerts_due


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """An alert decided by a sweep (what the outbox row carries: ids and coded facts only)."""

    key: str
    pathway_id: str
    clock_id: str
    level: str
    step: int
    due_at: datetime
    category: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "pathway_id": self.pathway_id,
            "clock_id": self.clock_id,
            "level": self.level,
            "step": self.step,
            "due_at": self.due_at.isoformat(),
            "category": self.category,
        }


@dataclass
class SweepResult:
    as_of: datetime
    queued: list[QueuedAlert] = field(default_factory=list)
    clocks_at_risk: int = 0
    clocks_breached: int = 0


def _candidate_clocks(conn: Connection, at: datetime) -> list[Any]:
    """Running clocks of open pathways that have reached their first warning by ``at``."""
    return list(
        conn.execute(
            select(
                CLOCK.c.pathway_id,
                CLOCK.c.clock_id,
                CLOCK.c.kind,
                CLOCK.c.starts_at,
                CLOCK.c.due_at,
                CLOCK.c.warnings,
                PATHWAY.c.category,
            )
            .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
            .where(CLOCK.c.status == "running")
            .where(CLOCK.c.warn_at <= at)
            .where(CLOCK.c.starts_at <= at)
            .where(PATHWAY.c.status == "open")
        )
    )


def _existing_keys(conn: Connection, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(keys):
        found.update(
            row.key for row in conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.key.in_(part)))
        )
    return found


def sweep(engine: Engine, *, as_of: datetime) -> SweepResult:
    """Queue every alert owed at ``as_of`` that is not queued yet, in one transaction."""
    result = SweepResult(as_of=as_of)
    with transaction(engine) as conn:
        owed: list[tuple[Any, AlertDue, str]] = []
        for row in _candidate_clocks(conn, as_of):
            warnings = tuple(datetime.fromisoformat(w) for w in json.loads(row.warnings))
            dues = alerts_due(
                kind=row.kind, due_at=row.due_at, warnings=warnings, running=True, at=as_of
            )
            if any(d.level == "breach" for d in dues):
                result.clocks_breached += 1
            elif dues:
                result.clocks_at_risk += 1
            owed.extend(
                (row, due, alert_key(row.pathway_id, row.clock_id, row.starts_at, due))
                for due in dues
            )
        existing = _existing_keys(conn, [key for _, _, key in owed])
        rows = []
        for row, due, key in owed:
            if key in existing:
                continue
            existing.add(key)
            alert = QueuedAlert(
                key=key,
                pathway_id=row.pathway_id,
                clock_id=row.clock_id,
                level=due.level.value,
                step=due.step,
                due_at=row.due_at,
                category=row.category,
            )
            result.queued.append(alert)
            payload = {
                **alert.as_dict(),
                "clock_starts_at": row.starts_at.isoformat(),
                "kind": row.kind,
            }
            rows.append(
                {
                    "key": key,
                    "kind": "alert",
                    "pathway_id": row.pathway_id,
                    "payload": json.dumps(payload, sort_keys=True),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": as_of,
                    "updated_at": as_of,
                }
            )
        if rows:
            conn.execute(insert(OUTBOX), rows)
    return result


@dataclass
class WatchReport:
    """What one watch did: alerts queued, clocks at risk and breached, events re-driven."""

    sweep: SweepResult
    redriven: list[InboxEntry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.sweep.as_of.isoformat(),
            "clocks_at_risk": self.sweep.clocks_at_risk,
            "clocks_breached": self.sweep.clocks_breached,
            "queued": [alert.as_dict() for alert in self.sweep.queued],
            "redriven": [entry.event_id for entry in self.redriven],
        }


def run_watch(
    engine: Engine, *, as_of: datetime, redrive_grace: timedelta = REDRIVE_GRACE
) -> WatchReport:
    """One deadline watch: queue owed alerts, then process accepted events left unprocessed.

    An event is re-driven when it was received more than ``redrive_grace`` before ``as_of`` and
    never processed: its Prefect notification was lost, or its run failed for good.
    """
    report = WatchReport(sweep=sweep(engine, as_of=as_of))
    with engine.connect() as conn:
        pending = list_unprocessed(conn, received_before=as_of - redrive_grace)
    for entry in pending:
        if mark_processed(engine, entry.event_id, at=as_of):
            report.redriven.append(entry)
    return report
