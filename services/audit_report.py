"""Queries behind the performance report and the pathway timeline (no patient identifiers leave).

The report reads clock rows and a few coded milestone details; the timeline reads one pathway's
milestones with their inbox envelope (who recorded what, when it arrived), its clocks, its
alerts and its audit entries. Neither touches the patient table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Connection, case, cast, func, select, type_coerce

from db.audit import AUDIT_FIELDS
from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY, get_pathway
from pathway.events import EVENT_TYPES
from pathway.report import ClockFact, PathwayFact, PerformanceReport, build_report
from pathway.report_v2 import (
    AfterTreatment,
    ExplanationFact,
    OutcomeFact,
    SarcomaEvent,
    status_after_treatment,
)
from pathway.ruleset import OutcomeWindow, Ruleset, load_ruleset, rules_from_json

_RANK = {name: rank for rank, name in enumerate(EVENT_TYPES)}


def period_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants from the first moment of ``start`` to the first moment after ``end``."""
    return (
        datetime.combine(start, time(0), tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone),
    )


def load_clock_facts(conn: Connection, begin: datetime, end: datetime) -> list[ClockFact]:
    """Clocks that started in [begin, end), with their pathway's category."""
    query = (
        select(
            CLOCK.c.pathway_id,
            PATHWAY.c.category,
            CLOCK.c.clock_id,
            CLOCK.c.kind,
            CLOCK.c.starts_at,
            CLOCK.c.due_at,
            CLOCK.c.stopped_at,
            CLOCK.c.status,
            CLOCK.c.reason,
        )
        .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
        .where(CLOCK.c.starts_at >= begin, CLOCK.c.starts_at < end)
    )
    return [ClockFact._make(row) for row in conn.execute(query)]


def _json_text(column: Any, key: str, dialect: str) -> Any:
    """The text of a top-level key of a JSON text column, in SQL (NULL when absent or null)."""
    # PostgreSQL needs the text cast to json before ->>; SQLite's json_extract reads text as
    # is (and a CAST to JSON there would give the column numeric affinity).
    document = cast(column, JSON) if dialect == "postgresql" else type_coerce(column, JSON)
    return document[key].as_string()


def load_pathway_facts(conn: Connection, begin: datetime, end: datetime) -> list[PathwayFact]:
    """Pathways referred in [begin, end), with ambulatory status, MRI scans and confirmed MSCC.

    The milestone facts are aggregated in SQL, one row per pathway: the ambulatory status of
    its referral, the whole-spine MRIs performed, whether any report found MSCC. The status
    after treatment (K10) is that of the latest ``outcome.recorded`` (by when it happened,
    then by when it was stored) among those that happened at or after the pathway's first
    ``treatment.started``: an outcome recorded before any treatment says nothing of the
    treatment's effect, so a pathway never treated, or with no outcome since, has none.
    """
    dialect = conn.dialect.name
    in_period = (PATHWAY.c.referred_at >= begin, PATHWAY.c.referred_at < end)
    kind = MILESTONE.c.type
    details = MILESTONE.c.details
    at_referral = func.max(
        case((kind == "referral.received", _json_text(details, "ambulatory_status", dialect)))
    )
    mri_scans = func.sum(
        case(
            (
                (kind == "imaging.performed")
                & (_json_text(details, "modality", dialect) == "mri_whole_spine"),
                1,
            ),
            else_=0,
        )
    )
    mscc = func.max(
        case(
            (
                (kind == "imaging.reported") & (_json_text(details, "finding", dialect) == "mscc"),
                1,
            ),
            else_=0,
        )
    )
    facts = conn.execute(
        select(
            PATHWAY.c.id,
            PATHWAY.c.category,
            PATHWAY.c.referred_at,
            at_referral.label("at_referral"),
            mri_scans.label("mri_scans"),
            mscc.label("mscc"),
        )
        .select_from(PATHWAY)
        .outerjoin(
            MILESTONE,
            (MILESTONE.c.pathway_id == PATHWAY.c.id)
            & kind.in_(("referral.received", "imaging.performed", "imaging.reported")),
        )
        .where(*in_period)
        .group_by(PATHWAY.c.id, PATHWAY.c.category, PATHWAY.c.referred_at)
    ).all()
    after_treatment = _after_treatment(conn, in_period)
    sarcoma = _sarcoma_events(conn, in_period, dialect)
    nothing = AfterTreatment(None, 0)
    return [
        PathwayFact(
            pathway_id,
            category,
            referred_at,
            ambulatory_at_referral=at_referral,
            ambulatory_after_treatment=after_treatment.get(pathway_id, nothing).status,
            mri_scans=int(scans or 0),
            mscc_confirmed=bool(mscc),
            outcomes_out_of_window=after_treatment.get(pathway_id, nothing).out_of_window,
            sarcoma_events=sarcoma.get(pathway_id, ()),
        )
        for pathway_id, category, referred_at, at_referral, scans, mscc in facts
    ]


def _pinned_ruleset(label: str) -> Ruleset:
    """The ruleset a pathway row names (``nice-ng234-2023.v2``)."""
    ruleset_id, version = label.rsplit(".v", 1)
    return load_ruleset(ruleset_id, int(version))


def _windows(label: str, rules: str) -> tuple[dict[str, OutcomeWindow], ZoneInfo]:
    """The outcome windows of a pathway's pinned ruleset and its time zone.

    Version 1 has no windows, and its rows are never parsed further.
    """
    windows = _pinned_ruleset(label).outcome_windows
    if not windows:
        return {}, ZoneInfo("UTC")
    return dict(windows), rules_from_json(rules).zone


def _after_treatment(conn: Connection, in_period: tuple[Any, ...]) -> dict[str, AfterTreatment]:
    """K10's status after treatment of each treated pathway referred in the period.

    The outcomes from the pathway's first ``treatment.started`` on are read with their coded
    details; :func:`pathway.report_v2.status_after_treatment` picks the latest, leaving out
    those out of their window (version 2) and those corrected by a later record.
    """
    kind = MILESTONE.c.type
    treated = (
        select(MILESTONE.c.pathway_id, func.min(MILESTONE.c.occurred_at).label("treated_at"))
        .join(PATHWAY, PATHWAY.c.id == MILESTONE.c.pathway_id)
        .where(*in_period, kind == "treatment.started")
        .group_by(MILESTONE.c.pathway_id)
        .subquery("treated")
    )
    rows = conn.execute(
        select(
            MILESTONE.c.pathway_id,
            treated.c.treated_at,
            PATHWAY.c.ruleset,
            PATHWAY.c.rules,
            MILESTONE.c.event_id,
            MILESTONE.c.occurred_at,
            MILESTONE.c.id,
            MILESTONE.c.details,
        )
        .join(treated, treated.c.pathway_id == MILESTONE.c.pathway_id)
        .join(PATHWAY, PATHWAY.c.id == MILESTONE.c.pathway_id)
        .where(kind == "outcome.recorded", MILESTONE.c.occurred_at >= treated.c.treated_at)
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.pathway_id, []).append(row)
    result = {}
    for pathway_id, outcomes in grouped.items():
        first = outcomes[0]
        windows, zone = _windows(first.ruleset, first.rules)
        facts = []
        for row in outcomes:
            data = json.loads(row.details)
            facts.append(
                OutcomeFact(
                    row.event_id,
                    row.occurred_at,
                    row.id,
                    data.get("at"),
                    data.get("ambulatory_status"),
                    data.get("supersedes"),
                )
            )
        result[pathway_id] = status_after_treatment(
            facts, first.treated_at, windows=windows, zone=zone
        )
    return result


_SARCOMA_TYPES = ("imaging.reported", "specialist.reviewed", "biopsy.performed")


def _sarcoma_events(
    conn: Connection, in_period: tuple[Any, ...], dialect: str
) -> dict[str, tuple[SarcomaEvent, ...]]:
    """K-SARC-1's milestones of the pathways referred in the period that suspected a sarcoma.

    Only lesion reports, specialist reviews and biopsies performed are read; whether a report
    suspects a primary bone tumour is the pinned ruleset's :meth:`Ruleset.suspects_bone_sarcoma`.
    """
    kind = MILESTONE.c.type
    lesion = _json_text(MILESTONE.c.details, "finding", dialect).in_(
        ("suspected_primary_bone_tumour", "indeterminate_lesion")
    )
    with_lesion = (
        select(MILESTONE.c.pathway_id)
        .join(PATHWAY, PATHWAY.c.id == MILESTONE.c.pathway_id)
        .where(*in_period, kind == "imaging.reported", lesion)
        .distinct()
    )
    rows = conn.execute(
        select(
            MILESTONE.c.pathway_id,
            PATHWAY.c.ruleset,
            MILESTONE.c.type,
            MILESTONE.c.occurred_at,
            MILESTONE.c.details,
        )
        .join(PATHWAY, PATHWAY.c.id == MILESTONE.c.pathway_id)
        .where(MILESTONE.c.pathway_id.in_(with_lesion), kind.in_(_SARCOMA_TYPES))
    ).all()
    events: dict[str, list[SarcomaEvent]] = {}
    for row in rows:
        data = json.loads(row.details)
        found = events.setdefault(row.pathway_id, [])
        rank = _RANK[row.type]
        if row.type == "imaging.reported":
            ruleset = _pinned_ruleset(row.ruleset)
            if ruleset.suspects_bone_sarcoma(data["finding"], data.get("suspected_histology")):
                found.append(SarcomaEvent(row.occurred_at, rank, "suspected"))
        elif row.type == "specialist.reviewed":
            if data["service"] == "bone_sarcoma_centre":
                found.append(SarcomaEvent(row.occurred_at, rank, "centre_review"))
            if data.get("advice") == "not_primary_bone_tumour":
                found.append(SarcomaEvent(row.occurred_at, rank, "not_primary"))
        elif data.get("site_agreed_with_treating_centre") is not True:
            found.append(SarcomaEvent(row.occurred_at, rank, "biopsy"))
    return {
        pathway_id: tuple(sorted(found))
        for pathway_id, found in events.items()
        if any(e.kind == "suspected" for e in found)
    }


def load_explanations(conn: Connection, begin: datetime, end: datetime) -> list[ExplanationFact]:
    """The ``breach.explained`` of the pathways with a clock that started in [begin, end).

    Coded fields only: the free-text ``comment`` is never read into the report.
    """
    with_clocks = (
        select(CLOCK.c.pathway_id)
        .where(CLOCK.c.starts_at >= begin, CLOCK.c.starts_at < end)
        .distinct()
    )
    rows = conn.execute(
        select(
            MILESTONE.c.pathway_id,
            MILESTONE.c.event_id,
            MILESTONE.c.occurred_at,
            MILESTONE.c.details,
        ).where(MILESTONE.c.type == "breach.explained", MILESTONE.c.pathway_id.in_(with_clocks))
    ).all()
    facts = []
    for row in rows:
        data = json.loads(row.details)
        facts.append(
            ExplanationFact(
                row.pathway_id,
                row.event_id,
                row.occurred_at,
                data["clock"],
                data["reason"],
                data["stage"],
                bool(data.get("primary", True)),
                data.get("supersedes"),
            )
        )
    return facts


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
    milestones = conn.execute(
        select(
            MILESTONE.c.type,
            MILESTONE.c.occurred_at,
            MILESTONE.c.details,
            INBOX.c.recorded_by,
            INBOX.c.source,
            INBOX.c.received_at,
        )
        .join(INBOX, INBOX.c.event_id == MILESTONE.c.event_id)
        .where(MILESTONE.c.pathway_id == pathway.id)
    )
    for m in milestones:
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
        for r in conn.execute(
            select(CLOCK).where(CLOCK.c.pathway_id == pathway.id).order_by(CLOCK.c.starts_at)
        )
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
    for alert in conn.execute(
        select(OUTBOX.c.created_at, OUTBOX.c.payload, OUTBOX.c.status).where(
            OUTBOX.c.pathway_id == pathway.id, OUTBOX.c.kind == "alert"
        )
    ):
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
    # alerts and acknowledgements, letters, clock status changes.
    audit_columns = [AUDIT.c[name] for name in AUDIT_FIELDS]
    for entry in conn.execute(
        select(*audit_columns)
        .where(AUDIT.c.pathway_id == pathway.id, AUDIT.c.action != "event.accepted")
        .where(~AUDIT.c.action.like("clock.%"))
        .order_by(AUDIT.c.id)
    ):
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
