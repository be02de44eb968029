"""Reads behind the performance report and the pathway timeline: no patient identifiers leave.

The report reads clock rows and a few coded milestone details, aggregated in SQL where the
dialect allows; the timeline reads one pathway's milestones with their inbox envelope, its
clocks, its alert effects and its audit entries. None of them touches the patient table. The
reports themselves are built in ``services/audit_report.py`` and the core (``pathway/report``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Connection, Row, case, cast, func, select, type_coerce

from db.audit import AUDIT_FIELDS
from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY
from pathway.events import EVENT_TYPES
from pathway.report import ClockFact, PathwayFact
from pathway.report_v2 import (
    AfterTreatment,
    ExplanationFact,
    OutcomeFact,
    SarcomaEvent,
    status_after_treatment,
)
from pathway.ruleset import OutcomeWindow, Ruleset, load_ruleset, rules_from_json

_RANK = {name: rank for rank, name in enumerate(EVENT_TYPES)}


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


def list_timeline_milestones(conn: Connection, pathway_id: str) -> Sequence[Row[Any]]:
    """One pathway's milestones with who recorded each, from where and when it arrived
    (``type``, ``occurred_at``, ``details``, ``recorded_by``, ``source``, ``received_at``)."""
    return conn.execute(
        select(
            MILESTONE.c.type,
            MILESTONE.c.occurred_at,
            MILESTONE.c.details,
            INBOX.c.recorded_by,
            INBOX.c.source,
            INBOX.c.received_at,
        )
        .join(INBOX, INBOX.c.event_id == MILESTONE.c.event_id)
        .where(MILESTONE.c.pathway_id == pathway_id)
    ).all()


def list_pathway_clocks(conn: Connection, pathway_id: str) -> Sequence[Row[Any]]:
    """Every clock row of one pathway, earliest start first."""
    return conn.execute(
        select(CLOCK).where(CLOCK.c.pathway_id == pathway_id).order_by(CLOCK.c.starts_at)
    ).all()


def list_alert_effects(conn: Connection, pathway_id: str) -> Sequence[Row[Any]]:
    """The alert outbox rows of one pathway (``created_at``, ``payload``, ``status``)."""
    return conn.execute(
        select(OUTBOX.c.created_at, OUTBOX.c.payload, OUTBOX.c.status).where(
            OUTBOX.c.pathway_id == pathway_id, OUTBOX.c.kind == "alert"
        )
    ).all()


def list_timeline_audit(conn: Connection, pathway_id: str) -> Sequence[Row[Any]]:
    """One pathway's audit entries other than accepted events and clock status changes (the
    timeline shows those as milestones and clocks), in chain order, with the audit fields."""
    audit_columns = [AUDIT.c[name] for name in AUDIT_FIELDS]
    return conn.execute(
        select(*audit_columns)
        .where(AUDIT.c.pathway_id == pathway_id, AUDIT.c.action != "event.accepted")
        .where(~AUDIT.c.action.like("clock.%"))
        .order_by(AUDIT.c.id)
    ).all()
