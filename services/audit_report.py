"""The performance report and the pathway timeline, built from the rows ``db/reports.py`` reads.

The report's facts come from clock rows and a few coded milestone details; the timeline from
one pathway's milestones with their inbox envelope (who recorded what, when it arrived), its
clocks, its alerts and its audit entries. Neither touches the patient table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from db.reports import (
    list_alert_effects,
    list_pathway_clocks,
    list_timeline_audit,
    list_timeline_milestones,
    load_clock_facts,
    load_explanations,
    load_pathway_facts,
)
from db.repository import get_pathway
from pathway.report import PerformanceReport, build_report


def period_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants from the first moment of ``start`` to the first moment after ``end``."""
    return (
        datetime.combine(start, time(0), tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone),
    )


def performance_report(
    conn: Connection, *, start: date, end: date, as_of: datetime, timezone: str
) -> PerformanceReport:
    """The performance report for the days ``start`` to ``end`` (inclusive) in ``timezone``."""
    begin, finish = period_bounds(start, end, ZoneInfo(timezone))
    return build_report(
        load_clock_facts(conn, begin, finish),
        load_pathway_facts(conn, begin, finish),
        period_start=start,
        period_end=end,
        as_of=as_of,
        timezone=timezone,
        explanations=load_explanations(conn, begin, finish),
    )


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One line of a pathway's timeline: what happened when, who recorded it, when it arrived."""

    at: datetime
    kind: str  # milestone, clock.started, clock.due, clock.stopped, alert, audit
    what: str
    clock_id: str | None = None
    status: str | None = None
    recorded_by: str | None = None
    source: str | None = None
    received_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineClock:
    clock_id: str
    kind: str
    limit: str
    starts_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    pathway_id: str
    reference: str
    category: str
    status: str
    ruleset: str
    as_of: datetime
    clocks: list[TimelineClock]
    items: list[TimelineItem]

    def as_dict(self) -> dict[str, Any]:
        def convert(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list):
                return [convert(v) for v in value]
            if isinstance(value, datetime):
                return value.isoformat()
            return value

        return dict(convert(asdict(self)))


_KIND_ORDER = {"milestone": 0, "clock.started": 1, "clock.stopped": 2, "audit": 3, "alert": 4}


def pathway_timeline(conn: Connection, key: str, *, as_of: datetime) -> Timeline:
    """Everything that happened to one pathway, in the order it happened.

    Raises:
        UnknownPathway: no pathway has that reference or id.
    """
    pathway = get_pathway(conn, key)
    items: list[TimelineItem] = []
    for m in list_timeline_milestones(conn, pathway.id):
        items.append(
            TimelineItem(
                at=m.occurred_at,
                kind="milestone",
                what=m.type,
                recorded_by=m.recorded_by,
                source=m.source,
                received_at=m.received_at,
                details=json.loads(m.details),
            )
        )
    clocks = [
        TimelineClock(
            r.clock_id, r.kind, r.limit, r.starts_at, r.due_at, r.stopped_at, r.status, r.reason
        )
        for r in list_pathway_clocks(conn, pathway.id)
    ]
    for c in clocks:
        items.append(
            TimelineItem(
                c.starts_at, "clock.started", f"{c.clock_id} started ({c.limit})", c.clock_id
            )
        )
        items.append(TimelineItem(c.due_at, "clock.due", f"{c.clock_id} due", c.clock_id))
        if c.stopped_at is not None:
            items.append(
                TimelineItem(
                    c.stopped_at,
                    "clock.stopped",
                    f"{c.clock_id} stopped: {c.status}" + (f" ({c.reason})" if c.reason else ""),
                    c.clock_id,
                    c.status,
                )
            )
    for alert in list_alert_effects(conn, pathway.id):
        payload = json.loads(alert.payload)
        items.append(
            TimelineItem(
                alert.created_at,
                "alert",
                f"{payload.get('level', 'alert')} alert for {payload.get('clock_id', '?')}",
                payload.get("clock_id"),
                alert.status,
                source="deadline-watch",
            )
        )
    # Audit entries other than accepted events (those are the milestones above): rejections,
    # alerts and acknowledgements, letters.
    for entry in list_timeline_audit(conn, pathway.id):
        items.append(
            TimelineItem(
                entry.occurred_at or entry.at,
                "audit",
                entry.action
                + (f" {entry.field}" if entry.field else "")  # the letter, clock or field
                + (f": {entry.reason}" if entry.reason else ""),
                recorded_by=entry.actor,
                source=entry.source,
                received_at=entry.at,
            )
        )
    items.sort(key=lambda i: (i.at, _KIND_ORDER.get(i.kind, 5)))
    return Timeline(
        pathway_id=pathway.id,
        reference=pathway.reference,
        category=pathway.category,
        status=pathway.status,
        ruleset=pathway.ruleset,
        as_of=as_of,
        clocks=clocks,
        items=items,
    )
