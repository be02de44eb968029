"""Plain factories for pathway events: valid, boring defaults that a test overrides as it needs.

Each ``*_json`` function returns the JSON envelope as a dict (for tests of :func:`parse_event`);
the other functions return the parsed, typed event. Times default to the fixed :data:`T0`, never
to the current time, and event ids are derived from the type and the time, so they are
deterministic and unique unless a test records two events of one type at one instant.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine, select

from db.repository import INBOX, OUTBOX
from pathway.clocks import ClockStatus
from pathway.engine import PathwayView, evaluate
from pathway.events import PathwayEvent, ReferralReceived, parse_event
from pathway.ruleset import PinnedRules, load_ruleset, pin_rules
from services.intake import Intake
from tests.conftest import NOW

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""A Monday in GMT, far from either clock change."""

H = timedelta(hours=1)
D = timedelta(days=1)
S = timedelta(seconds=1)

REF = "REF-1"

RULES: PinnedRules = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone="Europe/London")
RULES_V2: PinnedRules = pin_rules(load_ruleset("nice-ng234-2023", 2), timezone="Europe/London")
"""Ruleset version 2 (pathway-spec.md section 9)."""

VALID_NHS_NUMBER = "9434765919"
"""The NHS Digital worked example; it passes Modulus 11."""


def patient_json(**overrides: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "nhs_number": VALID_NHS_NUMBER,
        "mrn": "MRN-0001",
        "given_name": "Ada",
        "family_name": "Example",
        "date_of_birth": "1950-01-31",
        "sex": "female",
    }
    return defaults | overrides


def referral_data_json(
    *,
    neuro: list[str] | None = None,
    pain: list[str] | None = None,
    cancer_status: str = "known",
    **overrides: Any,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "patient": patient_json(),
        "referrer": {"name": "Dr Referrer", "organisation": "Example Hospital"},
        "cancer_status": cancer_status,
        "primary_site": "breast",
        "pain_features": [] if pain is None else pain,
        "neuro_features": ["limb_weakness"] if neuro is None else neuro,
    }
    return defaults | overrides


def envelope_json(
    type_: str,
    at: datetime = T0,
    data: dict[str, Any] | None = None,
    *,
    ref: str = REF,
    event_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """One event envelope as JSON-ready data (``occurred_at`` in ISO 8601 with its offset)."""
    defaults: dict[str, Any] = {
        "event_id": event_id if event_id is not None else f"{type_}@{at.isoformat()}",
        "pathway": ref,
        "type": type_,
        "occurred_at": at.isoformat(),
        "recorded_by": "test",
        "source": "factory",
        "data": {} if data is None else data,
    }
    return defaults | overrides


def referral_json(
    *,
    ref: str = REF,
    at: datetime = T0,
    neuro: list[str] | None = None,
    pain: list[str] | None = None,
    cancer_status: str = "known",
    event_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A ``referral.received`` envelope; by default known cancer with limb weakness (suspected MSCC)."""
    return envelope_json(
        "referral.received",
        at,
        referral_data_json(neuro=neuro, pain=pain, cancer_status=cancer_status, **data),
        ref=ref,
        event_id=event_id,
    )


def parse(raw: dict[str, Any]) -> PathwayEvent:
    return parse_event(json.dumps(raw))


def event(
    type_: str,
    at: datetime = T0,
    data: dict[str, Any] | None = None,
    *,
    ref: str = REF,
    event_id: str | None = None,
) -> PathwayEvent:
    """Any event, parsed exactly as the intake parses it."""
    return parse(envelope_json(type_, at, data, ref=ref, event_id=event_id))


def referral(
    *,
    ref: str = REF,
    at: datetime = T0,
    neuro: list[str] | None = None,
    pain: list[str] | None = None,
    cancer_status: str = "known",
    event_id: str | None = None,
    **data: Any,
) -> ReferralReceived:
    parsed = parse(
        referral_json(
            ref=ref,
            at=at,
            neuro=neuro,
            pain=pain,
            cancer_status=cancer_status,
            event_id=event_id,
            **data,
        )
    )
    if not isinstance(parsed, ReferralReceived):
        raise TypeError(parsed.type)
    return parsed


def mscc_referral(**overrides: Any) -> ReferralReceived:
    """Suspected MSCC: known cancer and a neurological feature."""
    return referral(**({"neuro": ["limb_weakness"], "pain": []} | overrides))


def mets_referral(**overrides: Any) -> ReferralReceived:
    """Suspected spinal metastases: known cancer, pain red flags, no neurological feature."""
    return referral(**({"neuro": [], "pain": ["nocturnal_pain"]} | overrides))


def review_referral(**overrides: Any) -> ReferralReceived:
    """Needs review: pain red flags but no cancer known or suspected."""
    return referral(
        **({"neuro": [], "pain": ["nocturnal_pain"], "cancer_status": "none"} | overrides)
    )


def overridden(at: datetime, category: str, reason: str = "clinical review") -> PathwayEvent:
    return event("triage.overridden", at, {"category": category, "reason": reason})


def neuro_deteriorated(at: datetime, features: Iterable[str] = ("limb_weakness",)) -> PathwayEvent:
    return event("neuro.deteriorated", at, {"neuro_features": list(features)})


def coordinator_contacted(at: datetime) -> PathwayEvent:
    return event("coordinator.contacted", at, {"coordinator": "MSCC coordinator"})


def steroids_started(at: datetime, dose_mg: float = 16) -> PathwayEvent:
    return event("steroids.started", at, {"drug": "dexamethasone", "dose_mg": dose_mg})


def steroids_withheld(at: datetime, reason: str = "suspected lymphoma") -> PathwayEvent:
    return event("steroids.withheld", at, {"reason": reason})


def imaging_requested(
    at: datetime, modality: str = "mri_whole_spine", reason: str | None = None
) -> PathwayEvent:
    data: dict[str, Any] = {"modality": modality}
    if reason is not None:
        data["reason"] = reason
    return event("imaging.requested", at, data)


def imaging_performed(at: datetime, modality: str = "mri_whole_spine") -> PathwayEvent:
    return event("imaging.performed", at, {"modality": modality})


def imaging_reported(at: datetime, finding: str = "mscc", **more: Any) -> PathwayEvent:
    """A report; ``more`` adds fields (``cord_compression``, ``sins``, ``suspected_histology``)."""
    return event("imaging.reported", at, {"finding": finding, **more})


def biopsy_requested(at: datetime, **more: Any) -> PathwayEvent:
    return event("biopsy.requested", at, {"method": "CT-guided", **more})


def biopsy_performed(at: datetime, **more: Any) -> PathwayEvent:
    return event("biopsy.performed", at, dict(more))


def specialist_referred(at: datetime, service: str = "bone_sarcoma_centre") -> PathwayEvent:
    return event(
        "specialist.referred", at, {"service": service}, event_id=f"ref-{service}@{at.isoformat()}"
    )


def specialist_reviewed(
    at: datetime, service: str = "bone_sarcoma_centre", advice: str | None = None
) -> PathwayEvent:
    data: dict[str, Any] = {"service": service, "mode": "mdt"}
    if advice is not None:
        data["advice"] = advice
    return event("specialist.reviewed", at, data, event_id=f"rev-{service}@{at.isoformat()}")


def cwt_upgraded(at: datetime) -> PathwayEvent:
    return event("cwt.upgraded", at, {"by": "Dr Consultant"})


def breach_explained(
    at: datetime,
    clock: str,
    reason: str = "imaging_capacity",
    *,
    event_id: str | None = None,
    **more: Any,
) -> PathwayEvent:
    data = {"clock": clock, "reason": reason, "stage": "imaging", **more}
    return event("breach.explained", at, data, event_id=event_id)


def histology_reported(at: datetime, *, malignant: bool = True) -> PathwayEvent:
    return event("histology.reported", at, {"malignant": malignant})


def mdt_listed(at: datetime, meeting_at: datetime | None = None) -> PathwayEvent:
    meeting = at + H if meeting_at is None else meeting_at
    return event("mdt.listed", at, {"meeting_at": meeting.isoformat(), "board": "spinal"})


def mdt_decided(
    at: datetime, plan: str = "radiotherapy", *, decision_to_treat: bool = True
) -> PathwayEvent:
    return event("mdt.decided", at, {"plan": plan, "decision_to_treat": decision_to_treat})


def diagnosis_communicated(at: datetime) -> PathwayEvent:
    return event("diagnosis.communicated", at, {})


def treatment_started(
    at: datetime, modality: str = "radiotherapy", emergency_reason: str | None = None
) -> PathwayEvent:
    data: dict[str, Any] = {"modality": modality}
    if emergency_reason is not None:
        data["emergency_without_mdt_reason"] = emergency_reason
    return event("treatment.started", at, data)


def outcome_recorded(
    at: datetime,
    ambulatory_status: str = "independent",
    timepoint: str = "6 weeks",
    *,
    event_id: str | None = None,
    **more: Any,
) -> PathwayEvent:
    data = {"ambulatory_status": ambulatory_status, "at": timepoint, **more}
    return event("outcome.recorded", at, data, event_id=event_id)


def alert_acknowledged(at: datetime, alert_id: str = "alert-1") -> PathwayEvent:
    return event("alert.acknowledged", at, {"alert_id": alert_id, "by": "coordinator"})


def closed(at: datetime, reason: str = "died") -> PathwayEvent:
    return event("pathway.closed", at, {"reason": reason})


class Seen(NamedTuple):
    """One clock as seen at a moment T: what a coordinator's screen would show then."""

    status: ClockStatus
    at_risk: bool
    starts_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    reason: str | None


def view_of(events: Iterable[PathwayEvent], rules: PinnedRules = RULES) -> PathwayView:
    return evaluate(events, rules)


def clocks_at(
    events: Iterable[PathwayEvent], at: datetime, rules: PinnedRules = RULES
) -> dict[str, Seen]:
    """Every clock started by ``at``, by id, as seen at ``at``.

    A clock that stops after ``at`` shows no ``stopped_at`` nor reason: it was running then.
    When a clock id has several instances (stopped by an override down, started again by an
    upgrade), the latest one is kept.
    """
    seen: dict[str, Seen] = {}
    for clock in evaluate(events, rules).clocks:
        if clock.starts_at > at:
            continue
        stopped = clock.stopped_at is not None and clock.stopped_at <= at
        seen[clock.id] = Seen(
            status=clock.status_at(at),
            at_risk=clock.at_risk(at),
            starts_at=clock.starts_at,
            due_at=clock.due_at,
            stopped_at=clock.stopped_at if stopped else None,
            reason=clock.reason if stopped else None,
        )
    return seen


# --- JSON lines for the intake (the database, alert and flow tests) --------------------------


INTAKE_T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
"""The referral time of the intake tests' JSON lines (:func:`pathway_lines`)."""


def envelope(event_id: str, ref: str, type_: str, at: datetime, data: dict[str, Any]) -> str:
    """One event as the JSON line a feed sends (no source, no recorded_by)."""
    return json.dumps(
        {
            "event_id": event_id,
            "pathway": ref,
            "type": type_,
            "occurred_at": at.isoformat(),
            "data": data,
        }
    )


def referral_line(event_id: str, ref: str, at: datetime, *, nhs: str = "9434765919") -> str:
    """A suspected-MSCC referral (known cancer, limb weakness) as a JSON line."""
    return envelope(
        event_id,
        ref,
        "referral.received",
        at,
        {
            "patient": {
                "nhs_number": nhs,
                "given_name": "Canary",
                "family_name": "Testpatient",
                "date_of_birth": "1951-02-03",
            },
            "referrer": {"name": "Dr Who", "organisation": "GP practice"},
            "cancer_status": "known",
            "pain_features": [],
            "neuro_features": ["limb_weakness"],
        },
    )


def pathway_lines(ref: str, start: datetime, prefix: str) -> list[str]:
    """Referral, coordinator contact, steroids, MRI and an MSCC report (``<prefix>-1`` to ``-5``)."""
    return [
        referral_line(f"{prefix}-1", ref, start),
        envelope(
            f"{prefix}-2",
            ref,
            "coordinator.contacted",
            start + timedelta(minutes=20),
            {"coordinator": "Sam"},
        ),
        envelope(
            f"{prefix}-3",
            ref,
            "steroids.started",
            start + timedelta(hours=1),
            {"drug": "dexamethasone", "dose_mg": 16},
        ),
        envelope(
            f"{prefix}-4",
            ref,
            "imaging.performed",
            start + timedelta(hours=20),
            {"modality": "mri_whole_spine"},
        ),
        envelope(
            f"{prefix}-5", ref, "imaging.reported", start + timedelta(hours=22), {"finding": "mscc"}
        ),
    ]


# --- a listed pathway in the database (the board-form tests, with and without Prefect) ---------


def listed_pathway(ref: str, prefix: str) -> list[str]:
    """Referred at ``NOW - 30 h``, imaged, MSCC reported, then listed for the spinal MDT
    (``<prefix>-6``, a meeting 4 h after ``NOW``): JSON lines for the intake."""
    listing = {"meeting_at": (NOW + timedelta(hours=4)).isoformat(), "board": "spinal"}
    return [
        *pathway_lines(ref, NOW - 30 * H, prefix),
        envelope(f"{prefix}-6", ref, "mdt.listed", NOW - 7 * H, listing),
    ]


def ingest_all(engine: Engine, lines: list[str]) -> None:
    """Ingest ``lines`` at ``NOW`` on ruleset version 1, unprocessed (a flow's work), all accepted."""
    intake = Intake(engine, new_pathway_rules=lambda: RULES, mark_processed=False)
    assert intake.ingest_lines(enumerate(lines, 1), now=NOW).rejected == []


def pathway_id_of(engine: Engine, event_id: str) -> str:
    """The PW- id the intake gave the pathway of ``event_id``."""
    with engine.connect() as conn:
        query = select(INBOX.c.pathway_id).where(INBOX.c.event_id == event_id)
        return str(conn.execute(query).scalar_one())


def board_forms(engine: Engine) -> list[dict[str, Any]]:
    """Every tumour-board form in the outbox, as rows."""
    with engine.connect() as conn:
        rows = conn.execute(select(OUTBOX).where(OUTBOX.c.kind == "board_form"))
        return [dict(row._mapping) for row in rows]


needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (installed by .ci/setup) is missing"
)
"""Skips a test that reads a PDF back as text when poppler's ``pdftotext`` is not installed."""
