"""What the command line shows: one pathway (`show`) and the coordinator worklist (`board`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from db.repository import get_pathway, list_events
from db.views import (
    list_late_clock_keys,
    list_open_clock_rows,
    list_open_pathways,
    list_pathway_rows,
    list_primary_explanations,
)
from pathway.alerts import describe_delta
from pathway.breaches import explains_breaches
from pathway.breaches import unexplained_breaches as unexplained_in_view
from pathway.clocks import ClockStatus, is_late
from pathway.display import cautions
from pathway.engine import Milestone, PathwayView, SafetyFlag, evaluate
from pathway.ruleset import rules_from_json


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with offset (UTC), or None."""
    return None if moment is None else moment.isoformat()


def pathway_view(conn: Connection, key: str, *, as_of: datetime) -> tuple[str, PathwayView, str]:
    """Evaluate a pathway from its events that had happened by ``as_of``.

    Returns:
        (internal id, view, pinned rules JSON).

    Raises:
        UnknownPathway: no such reference or id.
    """
    row = get_pathway(conn, key)
    rules = rules_from_json(row.rules)
    events = [e for e in list_events(conn, [row.id])[row.id] if e.occurred_at <= as_of]
    return row.id, evaluate(events, rules), row.rules


@dataclass(frozen=True, slots=True)
class ShownClock:
    """A clock as it stood at the moment shown: a stop or reason after it is not yet known."""

    id: str
    limit: str
    local: bool
    starts_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    status: str
    at_risk: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class PathwayShown:
    """One pathway at a moment, as ``cordwatch show`` prints it: typed values, so each reader
    (the table, the Prefect artifacts) formats times itself and only ``--json`` writes ISO text.
    Safety flags (BIOPSY-GUARD, paged or not: a backfill's history owes no page) and milestones
    are the core's own values."""

    id: str
    reference: str
    category: str
    stage: str
    status: str
    closed_reason: str | None
    ruleset: str
    timezone: str
    local_sla_hours: dict[str, Any]
    steroids_to_stop: bool
    cautions: list[str]
    safety: list[SafetyFlag]
    as_of: datetime
    milestones: list[Milestone]
    clocks: list[ShownClock]

    def as_dict(self) -> dict[str, Any]:
        """The ``cordwatch show --json`` object (keys in this order, times ISO 8601 UTC)."""
        return {
            "id": self.id,
            "reference": self.reference,
            "category": self.category,
            "stage": self.stage,
            "status": self.status,
            "closed_reason": self.closed_reason,
            "ruleset": self.ruleset,
            "timezone": self.timezone,
            "local_sla_hours": self.local_sla_hours,
            "steroids_to_stop": self.steroids_to_stop,
            "cautions": self.cautions,
            "safety": [
                {
                    "rule": f.code,
                    "event_id": f.event_id,
                    "event_type": f.event_type,
                    "at": iso(f.at),
                }
                for f in self.safety
            ],
            "as_of": iso(self.as_of),
            "milestones": [
                {"type": m.type, "at": iso(m.at), "event_id": m.event_id, "details": m.details}
                for m in self.milestones
            ],
            "clocks": [
                {
                    "id": c.id,
                    "limit": c.limit,
                    "local": c.local,
                    "starts_at": iso(c.starts_at),
                    "due_at": iso(c.due_at),
                    "stopped_at": iso(c.stopped_at),
                    "status": c.status,
                    "at_risk": c.at_risk,
                    "reason": c.reason,
                }
                for c in self.clocks
            ],
        }


def shown(pathway_id: str, view: PathwayView, rules_json: str, *, as_of: datetime) -> PathwayShown:
    """Ids, status, milestones and every clock that had started by ``as_of``, at ``as_of``."""
    import json

    rules = json.loads(rules_json)
    return PathwayShown(
        id=pathway_id,
        reference=view.reference,
        category=view.category.value,
        stage=view.stage.value,
        status=view.status,
        closed_reason=view.closed_reason,
        ruleset=view.ruleset,
        timezone=rules["timezone"],
        local_sla_hours=rules["local_sla_hours"],
        steroids_to_stop=view.steroids_to_stop,
        cautions=cautions(view),
        safety=list(view.safety),
        as_of=as_of,
        milestones=list(view.milestones),
        clocks=[
            ShownClock(
                id=c.id,
                limit=c.limit,
                local=c.local,
                starts_at=c.starts_at,
                due_at=c.due_at,
                stopped_at=c.stopped_at if c.stopped_at and c.stopped_at <= as_of else None,
                status=c.status_at(as_of).value,
                at_risk=c.at_risk(as_of),
                reason=c.reason if c.stopped_at and c.stopped_at <= as_of else None,
            )
            for c in view.clocks
            if c.starts_at <= as_of
        ],
    )


def show_json(
    pathway_id: str, view: PathwayView, rules_json: str, *, as_of: datetime
) -> dict[str, Any]:
    """The ``cordwatch show --json`` object: ids, status, milestones and every clock at ``as_of``."""
    return shown(pathway_id, view, rules_json, as_of=as_of).as_dict()


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One line of the coordinator worklist."""

    pathway_id: str
    reference: str
    category: str
    stage: str
    clock_id: str | None
    due_at: datetime | None
    time_left: timedelta | None
    mark: str
    breached_clocks: int
    at_risk_clocks: int
    undelivered_alerts: int = 0
    undelivered_letters: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pathway_id,
            "reference": self.reference,
            "category": self.category,
            "stage": self.stage,
            "clock": self.clock_id,
            "due_at": iso(self.due_at),
            "seconds_left": None if self.time_left is None else int(self.time_left.total_seconds()),
            "mark": self.mark,
            "breached_clocks": self.breached_clocks,
            "at_risk_clocks": self.at_risk_clocks,
            "undelivered_alerts": self.undelivered_alerts,
            "undelivered_letters": self.undelivered_letters,
        }


def board(conn: Connection, *, as_of: datetime) -> list[BoardRow]:
    """Open pathways, most urgent first: by the due time of their most urgent running clock.

    A breached clock that is still running sorts first (its due time has passed). Pathways
    with no running clock (needs review, awaiting closure) come last.
    """
    from db.alerts import count_undelivered

    undelivered = count_undelivered(conn)
    letters_undelivered = count_undelivered(conn, "letter")
    clocks: dict[str, list[Any]] = {}
    for row in list_open_clock_rows(conn, as_of):
        clocks.setdefault(row.pathway_id, []).append(row)
    rows = []
    for pathway in list_open_pathways(conn):
        mine = clocks.get(pathway.id, [])
        breached = [c for c in mine if is_late(c.kind, as_of, c.due_at)]
        at_risk = [c for c in mine if c not in breached and as_of >= c.warn_at]
        urgent = min(mine, key=lambda c: c.due_at, default=None)
        if urgent is None:
            mark = "REVIEW" if pathway.category == "needs_review" else "no clock"
        elif breached:
            mark = ClockStatus.BREACHED.value
        elif at_risk:
            mark = "at_risk"
        else:
            mark = "ok"
        rows.append(
            BoardRow(
                pathway_id=pathway.id,
                reference=pathway.reference,
                category=pathway.category,
                stage=pathway.stage,
                clock_id=urgent.clock_id if urgent else None,
                due_at=urgent.due_at if urgent else None,
                time_left=(urgent.due_at - as_of) if urgent else None,
                mark=mark,
                breached_clocks=len(breached),
                at_risk_clocks=len(at_risk),
                undelivered_alerts=undelivered.get(pathway.id, 0),
                undelivered_letters=letters_undelivered.get(pathway.id, 0),
            )
        )
    far = datetime.max.replace(tzinfo=as_of.tzinfo)
    return sorted(rows, key=lambda r: (r.due_at or far, r.pathway_id))


@dataclass(frozen=True, slots=True)
class UnexplainedBreach:
    """A breached clock instance of a version-2 pathway still waiting for its reason."""

    pathway_id: str
    reference: str
    pathway_status: str
    clock_id: str
    clock_starts_at: datetime
    breached_since: datetime
    still_running: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pathway_id,
            "reference": self.reference,
            "pathway_status": self.pathway_status,
            "clock": self.clock_id,
            "clock_starts_at": iso(self.clock_starts_at),
            "breached_since": iso(self.breached_since),
            "still_running": self.still_running,
        }


def unexplained_breaches(conn: Connection, *, as_of: datetime) -> list[UnexplainedBreach]:
    """Breaches still waiting for a ``breach.explained``, on open and closed pathways whose
    ruleset knows the event (version 2), oldest breach first.

    Closed pathways too: the event is accepted after closing, and a breach left off the list
    when its pathway closes would never be explained. The stored clock rows and explanation
    milestones only narrow the pathways to look at; each is then evaluated from its events and
    the core decides (:func:`pathway.breaches.unexplained_breaches`), so the board and the
    intake never disagree about what is breached.
    """
    late = list_late_clock_keys(conn, as_of)
    if not late:
        return []
    explained = list_primary_explanations(conn, sorted({r.pathway_id for r in late}), as_of)
    waiting = {r.pathway_id for r in late if (r.pathway_id, r.clock_id) not in explained}
    rows = [
        row
        for row in list_pathway_rows(conn, sorted(waiting))
        if explains_breaches(rules_from_json(row.rules))
    ]
    events = list_events(conn, [row.id for row in rows])
    found: list[UnexplainedBreach] = []
    for row in rows:
        rules = rules_from_json(row.rules)
        view = evaluate([e for e in events[row.id] if e.occurred_at <= as_of], rules)
        found.extend(
            UnexplainedBreach(
                pathway_id=row.id,
                reference=row.reference,
                pathway_status=row.status,
                clock_id=clock.id,
                clock_starts_at=clock.starts_at,
                breached_since=clock.due_at,
                still_running=clock.stopped_at is None or clock.stopped_at > as_of,
            )
            for clock in unexplained_in_view(view, rules, as_of)
        )
    return sorted(found, key=lambda b: (b.breached_since, b.pathway_id, b.clock_id))


human_delta = describe_delta
"""``3 h 05 min left`` or ``overdue 2 d 4 h``: the board's wording is the alerts' wording."""


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time as a coordinator reads it, in the service zone: ``Tue 24 Nov 14:05``."""
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")
