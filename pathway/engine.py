"""The pathway engine: from a pathway's accepted events to its category, stage and clocks.

A pathway *is* its set of events. :func:`evaluate` sorts them by the time they happened (not the
time they arrived), folds them in order and returns a :class:`PathwayView`; so the same events
give the same clocks whatever order they arrived in. :func:`admit` decides whether one more
event may join the set, and raises :class:`~pathway.errors.EventRejected` naming the field when
it may not. Neither reads the clock or touches a database.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pathway.clocks import (
    Clock,
    ClockStatus,
    start_clock,
    stop_with_milestone,
    stop_without_milestone,
)
from pathway.errors import EventRejected
from pathway.events import (
    CATEGORY_RANK,
    EVENT_TYPES,
    VERSIONED_FIELDS,
    VERSIONED_TYPES,
    Advice,
    AlertAcknowledged,
    AmbulatoryStatus,
    BiopsyPerformed,
    BiopsyRequested,
    Board,
    BreachExplained,
    CancerStatus,
    Category,
    ClosedReason,
    CoordinatorContacted,
    CwtUpgraded,
    DiagnosisCommunicated,
    Finding,
    HistologyReported,
    ImagingPerformed,
    ImagingReported,
    ImagingRequested,
    MdtDecided,
    MdtListed,
    Modality,
    NeuroDeteriorated,
    NeuroFeature,
    OutcomeRecorded,
    PainFeature,
    PathwayClosed,
    PathwayEvent,
    Plan,
    ReferralReceived,
    Service,
    SpecialistReferred,
    SpecialistReviewed,
    SteroidsStarted,
    SteroidsWithheld,
    TreatmentModality,
    TreatmentStarted,
    TriageOverridden,
)
from pathway.ruleset import ClockStart, EffectiveClock, PinnedRules, Ruleset
from pathway.triage import triage

INTAKE_SKEW = timedelta(minutes=5)
"""How far in the future an ``occurred_at`` may be, for feeds whose clocks run slightly fast."""

AFTER_CLOSING = frozenset({"outcome.recorded", "alert.acknowledged"})
"""The only event types a closed version-1 pathway accepts (pathway-spec.md section 5,
"Closing"); a ruleset's ``accepted_after_closing`` says it for its own version."""

BIOPSY_GUARD = "BIOPSY-GUARD"
"""The safety rule of pathway-spec.md section 9.3."""

_PRIMARY_LESIONS = frozenset({Finding.SUSPECTED_PRIMARY_BONE_TUMOUR, Finding.INDETERMINATE_LESION})
"""Findings that put a primary bone tumour under specialist review (section 9.1)."""

_TYPE_RANK = {name: rank for rank, name in enumerate(EVENT_TYPES)}

_PLAN_PARTS: dict[Plan, frozenset[str]] = {
    Plan.SURGERY: frozenset({"surgery"}),
    Plan.RADIOTHERAPY: frozenset({"radiotherapy"}),
    # As the spec reads: "plan includes radiotherapy" covers surgery then radiotherapy.
    Plan.SURGERY_THEN_RADIOTHERAPY: frozenset({"surgery", "radiotherapy"}),
    Plan.SYSTEMIC_THERAPY: frozenset({"systemic_therapy"}),
    Plan.BEST_SUPPORTIVE_CARE: frozenset(),
}


class Stage(StrEnum):
    """A label for people to read, derived from the milestones; it drives nothing."""

    NEEDS_REVIEW = "needs_review"
    AWAITING_IMAGING = "awaiting_imaging"
    AWAITING_REPORT = "awaiting_report"
    AWAITING_DECISION = "awaiting_decision"
    AWAITING_TREATMENT = "awaiting_treatment"
    NO_TREATMENT_PLANNED = "no_treatment_planned"
    IN_TREATMENT = "in_treatment"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Milestone:
    """A fact with a time, stripped of patient identifiers."""

    type: str
    at: datetime
    event_id: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SafetyFlag:
    """A safety rule fired on an admitted event (BIOPSY-GUARD, section 9.3)."""

    code: str
    event_id: str
    event_type: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PathwayView:
    """Everything the engine knows about one pathway after its events."""

    reference: str
    category: Category
    cancer_status: CancerStatus
    status: str
    closed_reason: str | None
    closed_at: datetime | None
    referred_at: datetime
    stage: Stage
    milestones: tuple[Milestone, ...]
    clocks: tuple[Clock, ...]
    steroids_to_stop: bool
    ruleset: str
    safety: tuple[SafetyFlag, ...] = ()
    """Safety rules fired by admitted events, in clinical order (BIOPSY-GUARD)."""
    haematology_advisory: bool = False
    """E4: a haematological lesion is suspected and no steroids were started or withheld:
    discuss with haematology before dexamethasone (STEROID-MSCC still runs)."""
    outcomes_out_of_window: tuple[str, ...] = ()
    """Event ids of ``outcome.recorded`` outside their timepoint's window (left out of K10)."""
    primary_tumour_before_review: bool = False
    """Section 9.3: an open pathway with a primary bone tumour suspected and no review by the
    bone sarcoma centre yet: no biopsy or operation here until the centre has advised."""
    fold: _Fold | None = field(default=None, compare=False, repr=False)
    """The fold state behind this view: lets :func:`admit` apply one more in-order event
    without folding the whole history again."""

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    def most_urgent(self, at: datetime) -> Clock | None:
        """The running or breached-but-running clock whose due time comes first."""
        candidates = [c for c in self.clocks if c.stopped_at is None or c.stopped_at > at]
        candidates = [c for c in candidates if c.starts_at <= at]
        return min(candidates, key=lambda c: c.due_at, default=None)


def sort_key(event: PathwayEvent) -> tuple[datetime, int, str]:
    """Clinical order: when it happened, then the logical order of types, then the id."""
    return (event.occurred_at, _TYPE_RANK[event.type], event.event_id)


@dataclass
class _Fold:
    rules: PinnedRules
    clocks: tuple[EffectiveClock, ...]
    reference: str = ""
    category: Category = Category.NEEDS_REVIEW
    cancer_status: CancerStatus = CancerStatus.NONE
    pain: set[PainFeature] = field(default_factory=set)
    neuro: set[NeuroFeature] = field(default_factory=set)
    referred_at: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None
    running: dict[str, Clock] = field(default_factory=dict)
    finished: list[Clock] = field(default_factory=list)
    satisfied: set[str] = field(default_factory=set)
    started_once: set[str] = field(default_factory=set)
    seen: dict[str, datetime] = field(default_factory=dict)
    ct_requested: bool = False
    decided_to_treat: bool | None = None
    steroids_to_stop: bool = False
    milestones: list[Milestone] = field(default_factory=list)
    last_key: tuple[datetime, int, str] | None = None
    category_entered_at: datetime | None = None
    treatment_plan: Plan | None = None
    """The plan of the latest decision, when it was a decision to treat."""
    latest_board: Board | None = None
    lesion_seen: bool = False
    compression_at: datetime | None = None
    """The first report that showed cord compression."""
    suspected: set[str] = field(default_factory=set)
    """What reports suspected: ``bone_sarcoma``, ``haematological`` (the SARC/HAEM clocks)."""
    primary_under_review: bool = False
    haem_under_review: bool = False
    sarcoma_reviewed: bool = False
    referred_to: dict[Service, datetime] = field(default_factory=dict)
    safety: list[SafetyFlag] = field(default_factory=list)
    explanations: dict[str, str] = field(default_factory=dict)
    """breach.explained event id -> clock id."""
    primary_explanation: dict[str, str] = field(default_factory=dict)
    """clock id -> the event id of its primary breach explanation."""
    outcome_ids: dict[str, str] = field(default_factory=dict)
    """outcome.recorded event id -> timepoint."""
    outcome_at: dict[str, str] = field(default_factory=dict)
    """timepoint -> the event id of its current outcome record."""
    out_of_window: list[str] = field(default_factory=list)
    ruled_out_by: tuple[datetime, int, str] | None = None
    """The sort key of the report that closed the pathway as ruled out, if one did."""

    def clone(self) -> _Fold:
        """An independent copy (clock instances are immutable, containers are copied)."""
        twin = copy.copy(self)
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, set | dict | list):
                setattr(twin, item.name, copy.copy(value))
        return twin

    @property
    def ruleset(self) -> Ruleset:
        return self.rules.ruleset

    def start(self, clock: EffectiveClock, at: datetime) -> None:
        self.running[clock.id] = start_clock(
            clock, at, zone=self.rules.zone, fractions=self.rules.ruleset.warning_fractions
        )
        self.started_once.add(clock.id)

    def stop_all(self, at: datetime, reason: str, only: Iterable[str] | None = None) -> None:
        for clock_id in list(self.running if only is None else only):
            clock = self.running.pop(clock_id, None)
            if clock is not None:
                self.finished.append(stop_without_milestone(clock, at, reason))

    def enter(self, category: Category, at: datetime) -> None:
        """The pathway enters ``category`` at ``at`` (referral, upgrade or override up)."""
        self.category = category
        self.category_entered_at = at
        if category is Category.NEEDS_REVIEW:
            return
        for clock in self.clocks:
            start = clock.rule.start
            if start.at == "category" and start.category is category:
                # Upgrade rule: a clock whose stopping milestone has happened does not start;
                # one already running keeps running from its original start.
                if clock.id not in self.running and clock.id not in self.satisfied:
                    self.start(clock, at)
            elif (
                start.at == "referral"
                and start.cancer_status == self.cancer_status.value
                and clock.id not in self.started_once
                and clock.id not in self.satisfied
                and self.referred_at is not None
            ):
                # CWT clocks start at the referral date by definition (W1), even when the
                # category was set later by a clinician.
                self.start(clock, self.referred_at)
            elif (
                start.at == "referral"
                and any(name in self.seen for name in start.also_on)
                and clock.id not in self.started_once
                and clock.id not in self.satisfied
            ):
                # A consultant upgrade recorded while the pathway was in review: CWT-62 runs
                # from the upgrade date once a category is set (section 9.2).
                self.start(
                    clock, min(self.seen[name] for name in start.also_on if name in self.seen)
                )


def _fail(event: PathwayEvent, field_name: str, reason: str) -> EventRejected:
    return _Rejection(event.event_id, field_name, reason)


class _Rejection(EventRejected):
    event_id: str

    def __init__(self, event_id: str, field_name: str, reason: str) -> None:
        super().__init__(field_name, reason, event_id=event_id)


def _qualifying_imaging(fold: _Fold, event: ImagingPerformed) -> bool:
    # E1: a CT counts in place of MRI only when it was requested with a contraindication reason.
    return event.data.modality is Modality.MRI_WHOLE_SPINE or fold.ct_requested


def _stops(clock: EffectiveClock, event: PathwayEvent, fold: _Fold) -> bool:
    stop = clock.rule.stop
    if event.type not in stop.events:
        return False
    if stop.qualifying_imaging and isinstance(event, ImagingPerformed):
        return _qualifying_imaging(fold, event)
    if stop.modality is not None and isinstance(event, TreatmentStarted):
        return event.data.modality.value == stop.modality.value
    if stop.service is not None and isinstance(event, SpecialistReferred | SpecialistReviewed):
        return event.data.service is stop.service
    if stop.boards and isinstance(event, MdtDecided):
        # SPINE-OPINION: a decision by a board with a spinal surgeon on it is the opinion.
        return fold.latest_board in stop.boards
    return True


def _decision_qualifies(start: ClockStart, event: MdtDecided) -> bool:
    if (
        start.decision_to_treat is not None
        and event.data.decision_to_treat != start.decision_to_treat
    ):
        return False
    if start.plan is not None and event.data.plan is not start.plan:
        return False
    return start.plan_includes is None or start.plan_includes in _PLAN_PARTS[event.data.plan]


def shows_compression(finding: Finding, cord_compression: bool | None) -> bool:
    """Section 9.1: ``mscc`` is compression; any other lesion when ``cord_compression``."""
    return finding is Finding.MSCC or cord_compression is True


def _suspects(ruleset: Ruleset, event: ImagingReported) -> str | None:
    """What a report suspects, for SARC-REFER / HAEM-REFER (section 9.2)."""
    data = event.data
    histology = data.suspected_histology.value if data.suspected_histology else None
    if ruleset.suspects_bone_sarcoma(data.finding.value, histology):
        return "bone_sarcoma"
    if data.finding is Finding.SUSPECTED_HAEMATOLOGICAL_MALIGNANCY:
        return "haematological"
    return None


def _report_starts(start: ClockStart, event: ImagingReported, fold: _Fold) -> bool:
    data = event.data
    if start.finding is not None and data.finding is not start.finding:
        return False
    if start.compression is not None and (
        shows_compression(data.finding, data.cord_compression) is not start.compression
    ):
        return False
    if start.suspects is not None and _suspects(fold.ruleset, event) != start.suspects:
        return False
    return start.sins_at_least is None or (data.sins or 0) >= start.sins_at_least


def _event_starts(clock: EffectiveClock, event: PathwayEvent, fold: _Fold) -> bool:
    start = clock.rule.start
    if event.type in start.also_on:
        return True
    if start.at != "event" or event.type != start.event:
        return False
    if isinstance(event, MdtDecided):
        return _decision_qualifies(start, event) and (
            not start.requires_compression or fold.compression_at is not None
        )
    if isinstance(event, ImagingReported):
        return _report_starts(start, event, fold)
    if isinstance(event, SpecialistReferred):
        return (start.service is None or event.data.service is start.service) and (
            start.suspects is None or start.suspects in fold.suspected
        )
    # treatment.started, the one event type left in ClockStart.event (POSTOP-RT).
    return (start.modality is None or _modality(event) is start.modality) and (
        start.decided_plan is None or fold.treatment_plan is start.decided_plan
    )


def _modality(event: PathwayEvent) -> TreatmentModality | None:
    return event.data.modality if isinstance(event, TreatmentStarted) else None


def _effective_for(clock: EffectiveClock, event: PathwayEvent, fold: _Fold) -> EffectiveClock:
    """The clock with its urgent limit when the starting report calls for it (SPINE-OPINION)."""
    urgent = clock.rule.urgent
    if urgent is None or not isinstance(event, ImagingReported):
        return clock
    sins = event.data.sins or 0
    if (urgent.sins_at_least is not None and sins >= urgent.sins_at_least) or (
        urgent.neurological and fold.neuro
    ):
        return EffectiveClock(clock.rule, urgent.limit, overridden=False)
    return clock


def _details(event: PathwayEvent) -> dict[str, Any]:
    """Milestone details safe to show anywhere: never the patient block of a referral."""
    if isinstance(event, ReferralReceived):
        data = event.data
        return {
            "cancer_status": data.cancer_status.value,
            "pain_features": [f.value for f in data.pain_features],
            "neuro_features": [f.value for f in data.neuro_features],
            "ambulatory_status": data.ambulatory_status.value if data.ambulatory_status else None,
            "primary_site": data.primary_site,
        }
    return dict(event.data.model_dump(mode="json", exclude_none=True))


_NOT_YET = "{}: no {} is recorded before it (record the {} first, then send this event again)"
"""A prerequisite not yet recorded. The event is refused rather than kept waiting: accepted, a
report ruling out metastases would close the pathway before its scan arrived, and the scan
could then never be recorded. Refused events are not stored, so the sender resends the same
event id once the prerequisite is in (DEVELOPERS.md, "Arrival order")."""


def _after_closing_words(ruleset: Ruleset) -> str:
    *first, last = ruleset.accepted_after_closing
    return f"{', '.join(first)} and {last}" if first else last


def _check_version(fold: _Fold, event: PathwayEvent) -> None:
    """Refuse what the pathway's pinned ruleset does not know, naming the type or field."""
    ruleset = fold.ruleset
    label = fold.rules.label
    if event.type in VERSIONED_TYPES and event.type not in ruleset.event_types:
        raise _fail(
            event, "type", f"{event.type} is not an event of {label}, this pathway's ruleset"
        )
    if isinstance(event, ImagingReported) and event.data.finding not in ruleset.findings:
        # The finding first: a feed re-maps its findings on purpose (section 9.1).
        raise _fail(
            event,
            "data.finding",
            f"not a finding of {label}, this pathway's ruleset; one of "
            + ", ".join(ruleset.findings),
        )
    for name in VERSIONED_FIELDS.get(event.type, ()):
        if (
            getattr(event.data, name) is not None
            and f"{event.type}.{name}" not in ruleset.event_fields
        ):
            raise _fail(event, f"data.{name}", f"not a field of {label}, this pathway's ruleset")
    if isinstance(event, ImagingReported):
        _check_report(fold, event)


def _check_report(fold: _Fold, event: ImagingReported) -> None:
    ruleset = fold.ruleset
    data = event.data
    if data.finding in ruleset.cord_compression_required_for and data.cord_compression is None:
        raise _fail(
            event, "data.cord_compression", f"required when the finding is {data.finding.value}"
        )
    if data.finding is Finding.MSCC and data.cord_compression is False:
        raise _fail(event, "data.cord_compression", "mscc is cord compression")
    if data.finding is ruleset.ruled_out_finding and data.cord_compression is True:
        raise _fail(
            event,
            "data.cord_compression",
            f"{data.finding.value} has no compression; report the lesion that compresses",
        )


def _guard_fires(fold: _Fold, event: PathwayEvent) -> bool:
    """BIOPSY-GUARD (section 9.3): a biopsy, or surgery, while a primary bone tumour is
    suspected, before any bone sarcoma centre review and not at an agreed site."""
    if fold.ruleset.biopsy_guard == "off" or not fold.primary_under_review or fold.sarcoma_reviewed:
        return False
    if isinstance(event, BiopsyRequested | BiopsyPerformed):
        return event.data.site_agreed_with_treating_centre is not True
    return _modality(event) is TreatmentModality.SURGERY


def _check_rules(fold: _Fold, event: PathwayEvent) -> None:
    """Section 9's validations: they need the pathway, so the event model cannot make them."""
    ruleset = fold.ruleset
    if isinstance(event, BreachExplained):
        _check_breach_explained(fold, event)
    elif isinstance(event, OutcomeRecorded) and ruleset.outcome_timepoints:
        _check_outcome(fold, event)
    elif (
        isinstance(event, PathwayClosed)
        and event.data.reason is ClosedReason.RULED_OUT
        and (fold.primary_under_review or fold.haem_under_review)
    ):
        # The hazard of section 9: a primary or haematological lesion read as "nothing".
        raise _fail(
            event,
            "data.reason",
            "a lesion is under specialist review: ruled_out only after a specialist.reviewed "
            "advising not_primary_bone_tumour or not_haematological_malignancy",
        )
    elif (
        isinstance(event, BiopsyRequested)
        and ruleset.biopsy_guard == "reject"
        and _guard_fires(fold, event)
    ):
        raise _fail(
            event,
            "data.site_agreed_with_treating_centre",
            "suspected primary bone tumour: discuss the biopsy with the bone sarcoma centre "
            "first (BIOPSY-GUARD), then send it with site_agreed_with_treating_centre true",
        )


def _check_breach_explained(fold: _Fold, event: BreachExplained) -> None:
    data = event.data
    instances = [c for c in [*fold.finished, *fold.running.values()] if c.id == data.clock]
    if not any(c.status_at(event.occurred_at) is ClockStatus.BREACHED for c in instances):
        raise _fail(
            event,
            "data.clock",
            f"{data.clock} is not a breached clock of this pathway at {event.occurred_at:%Y-%m-%dT%H:%MZ}",
        )
    current = fold.primary_explanation.get(data.clock)
    if data.supersedes is not None and fold.explanations.get(data.supersedes) != data.clock:
        raise _fail(event, "data.supersedes", f"names no earlier breach.explained of {data.clock}")
    if data.primary and current is not None and data.supersedes != current:
        raise _fail(
            event,
            "data.primary",
            f"{data.clock} already has a primary explanation ({current}); name it in "
            "supersedes to replace it, or send primary false",
        )


_NO_MOTOR = frozenset({"A", "B"})


def _check_outcome(fold: _Fold, event: OutcomeRecorded) -> None:
    ruleset = fold.ruleset
    data = event.data
    if data.at not in ruleset.outcome_timepoints:
        raise _fail(event, "data.at", "one of " + ", ".join(ruleset.outcome_timepoints))
    for name, grade in (("frankel_grade", data.frankel_grade), ("asia_grade", data.asia_grade)):
        if grade in _NO_MOTOR and data.ambulatory_status is not AmbulatoryStatus.NON_AMBULATORY:
            raise _fail(
                event,
                f"data.{name}",
                f"grade {grade} has no motor function below the lesion: the ambulatory_status "
                "must be non_ambulatory",
            )
    if data.supersedes is not None and fold.outcome_ids.get(data.supersedes) != data.at:
        raise _fail(event, "data.supersedes", f"names no earlier outcome.recorded at {data.at}")
    current = fold.outcome_at.get(data.at)
    if current is not None and data.supersedes != current:
        raise _fail(
            event,
            "data.supersedes",
            f"an outcome at {data.at} is already recorded ({current}); name it in supersedes "
            "to correct it",
        )
    if data.at in ruleset.outcome_windows and _outcome_anchor(fold) is None:
        raise _fail(
            event,
            "data.at",
            _NOT_YET.format(
                f"{data.at} is counted from the first treatment, or untreated from the first "
                "report of compression",
                "treatment.started or imaging.reported with compression",
                "treatment or the report",
            ),
        )


def _outcome_anchor(fold: _Fold) -> datetime | None:
    return fold.seen.get("treatment.started", fold.compression_at)


def _check_prerequisites(fold: _Fold, event: PathwayEvent) -> None:
    if fold.referred_at is None and not isinstance(event, ReferralReceived):
        raise _fail(event, "pathway", "unknown pathway: no referral.received is recorded for it")
    _check_version(fold, event)
    if fold.closed_at is not None and event.type not in fold.ruleset.accepted_after_closing:
        raise _fail(
            event,
            "type",
            f"the pathway is closed; only {_after_closing_words(fold.ruleset)} are accepted",
        )
    if isinstance(event, ReferralReceived) and fold.referred_at is not None:
        raise _fail(event, "type", "the pathway already has a referral.received")
    if isinstance(event, ImagingReported) and "imaging.performed" not in fold.seen:
        raise _fail(
            event,
            "occurred_at",
            _NOT_YET.format(
                "a report cannot precede the imaging.performed it reports",
                "imaging.performed",
                "scan",
            ),
        )
    if (
        isinstance(event, TreatmentStarted)
        and fold.decided_to_treat is None
        and event.data.emergency_without_mdt_reason is None
    ):
        raise _fail(
            event,
            "data.emergency_without_mdt_reason",
            "treatment before any mdt.decided needs an emergency_without_mdt_reason (E5)",
        )
    if isinstance(event, DiagnosisCommunicated) and not (
        {"imaging.reported", "histology.reported"} & fold.seen.keys()
    ):
        raise _fail(
            event,
            "occurred_at",
            _NOT_YET.format(
                "a diagnosis cannot be communicated before imaging or histology is reported",
                "imaging.reported or histology.reported",
                "report",
            ),
        )
    if isinstance(event, HistologyReported) and "biopsy.performed" not in fold.seen:
        raise _fail(
            event,
            "occurred_at",
            _NOT_YET.format(
                "histology cannot be reported before a biopsy.performed",
                "biopsy.performed",
                "biopsy",
            ),
        )
    _check_rules(fold, event)


def _apply(fold: _Fold, event: PathwayEvent) -> None:
    at = event.occurred_at
    fold.last_key = sort_key(event)
    _check_prerequisites(fold, event)
    fold.milestones.append(Milestone(event.type, at, event.event_id, _details(event)))
    fold.seen.setdefault(event.type, at)

    for clock in fold.clocks:
        stop = clock.rule.stop
        if _stops(clock, event, fold):
            fold.satisfied.add(clock.id)
            running = fold.running.pop(clock.id, None)
            if running is not None:
                fold.finished.append(stop_with_milestone(running, at))
        elif event.type in stop.excluded_by:
            fold.satisfied.add(clock.id)
            reason = event.data.reason if isinstance(event, SteroidsWithheld) else event.type
            fold.stop_all(at, reason, only=[clock.id])
        elif isinstance(event, SpecialistReviewed) and event.data.advice in stop.excluded_by_advice:
            # Section 9.2: not_primary_bone_tumour from any review excludes the SARC clocks.
            fold.satisfied.add(clock.id)
            fold.stop_all(at, str(event.data.advice), only=[clock.id])
        elif (
            stop.plan_changed
            and isinstance(event, MdtDecided)
            and not _decision_qualifies(clock.rule.start, event)
        ):
            fold.stop_all(at, "plan_changed", only=[clock.id])

    match event:
        case ReferralReceived():
            data = event.data
            fold.reference = event.pathway
            fold.referred_at = at
            fold.cancer_status = data.cancer_status
            fold.pain = set(data.pain_features)
            fold.neuro = set(data.neuro_features)
            fold.enter(triage(data.cancer_status, fold.pain, fold.neuro), at)
        case TriageOverridden():
            _override(fold, event.data.category, at)
        case NeuroDeteriorated():
            fold.neuro |= set(event.data.neuro_features)
            # Spec section 3: deterioration upgrades suspected spinal metastases to suspected
            # MSCC, also when a clinician set that category on a referral triage left in review.
            upgraded = (
                Category.SUSPECTED_MSCC
                if fold.category is Category.SUSPECTED_SPINAL_METASTASES
                else triage(fold.cancer_status, fold.pain, fold.neuro)
            )
            if CATEGORY_RANK[upgraded] > CATEGORY_RANK[fold.category]:
                fold.enter(upgraded, at)
        case ImagingRequested():
            if event.data.modality is Modality.CT_WHOLE_SPINE:
                fold.ct_requested = True
        case ImagingReported():
            _report(fold, event)
        case SpecialistReferred():
            fold.referred_to.setdefault(event.data.service, at)
        case SpecialistReviewed():
            _reviewed(fold, event)
        case MdtListed():
            fold.latest_board = event.data.board
        case MdtDecided():
            if fold.decided_to_treat is None or event.data.decision_to_treat:
                fold.decided_to_treat = event.data.decision_to_treat
            fold.treatment_plan = event.data.plan if event.data.decision_to_treat else None
        case BiopsyRequested() | BiopsyPerformed() | TreatmentStarted():
            if _guard_fires(fold, event):
                fold.safety.append(SafetyFlag(BIOPSY_GUARD, event.event_id, event.type, at))
        case OutcomeRecorded():
            _outcome(fold, event)
        case BreachExplained():
            fold.explanations[event.event_id] = event.data.clock
            if event.data.primary:
                fold.primary_explanation[event.data.clock] = event.event_id
        case PathwayClosed():
            _close(fold, at, event.data.reason.value)
        case (  # pragma: no branch - the remaining types, listed: no event falls through
            CoordinatorContacted()
            | SteroidsStarted()
            | SteroidsWithheld()
            | ImagingPerformed()
            | HistologyReported()
            | DiagnosisCommunicated()
            | CwtUpgraded()
            | AlertAcknowledged()
        ):
            pass

    if fold.closed_at is None:
        for clock in fold.clocks:
            start = clock.rule.start
            if (
                (fold.category is not Category.NEEDS_REVIEW or start.runs_in_review)
                and clock.id not in fold.started_once
                and (clock.id not in fold.satisfied or start.even_after_stop)
                and _event_starts(clock, event, fold)
            ):
                fold.start(_effective_for(clock, event, fold), at)
        if isinstance(event, ImagingReported):
            _backdated_starts(fold, event)


def _report(fold: _Fold, event: ImagingReported) -> None:
    """imaging.reported: rule out, or record what the report shows (sections 3 and 9.1)."""
    ruleset = fold.ruleset
    data = event.data
    at = event.occurred_at
    if data.finding is ruleset.ruled_out_finding:
        # Section 9.1: after a lesion finding, "no malignant lesion" does not close by itself.
        if not (ruleset.lesion_review and fold.lesion_seen):
            # D10: a steroid course started for suspected MSCC is flagged for stopping.
            fold.steroids_to_stop = "steroids.started" in fold.seen
            _close(fold, at, "ruled_out")
            fold.ruled_out_by = sort_key(event)
        return
    fold.lesion_seen = True
    if shows_compression(data.finding, data.cord_compression) and fold.compression_at is None:
        fold.compression_at = at
    suspects = _suspects(ruleset, event)
    if suspects is not None:
        fold.suspected.add(suspects)
    if data.finding in _PRIMARY_LESIONS:
        fold.primary_under_review = True
    if data.finding is Finding.SUSPECTED_HAEMATOLOGICAL_MALIGNANCY:
        fold.haem_under_review = True


def _reviewed(fold: _Fold, event: SpecialistReviewed) -> None:
    if event.data.service is Service.BONE_SARCOMA_CENTRE:
        fold.sarcoma_reviewed = True
    if event.data.advice is Advice.NOT_PRIMARY_BONE_TUMOUR:
        fold.primary_under_review = False
    if event.data.advice is Advice.NOT_HAEMATOLOGICAL_MALIGNANCY:
        fold.haem_under_review = False


def _outcome(fold: _Fold, event: OutcomeRecorded) -> None:
    """Record a timepoint; flag it when outside its window (section 9.1, left out of K10)."""
    data = event.data
    if not fold.ruleset.outcome_timepoints:
        return
    fold.outcome_ids[event.event_id] = data.at
    fold.outcome_at[data.at] = event.event_id
    window = fold.ruleset.outcome_windows.get(data.at)
    anchor = _outcome_anchor(fold)
    if window is None or anchor is None:
        return
    if not window.holds(anchor, event.occurred_at, fold.rules.zone):
        fold.out_of_window.append(event.event_id)


def _backdated_starts(fold: _Fold, event: ImagingReported) -> None:
    """Clocks a report creates with an earlier start (section 9.2).

    PLAN-METS on suspected MSCC when the report shows metastases without compression (and no
    report showed compression): from the moment the category was entered. SARC-REVIEW when
    the report that suspects a bone sarcoma follows the referral to the centre: from it.
    """
    data = event.data
    for clock in fold.clocks:
        start = clock.rule.start
        if clock.id in fold.started_once or clock.id in fold.satisfied:
            continue
        if (
            start.backdated_on_metastases_report
            and fold.category is Category.SUSPECTED_MSCC
            and data.finding is Finding.SPINAL_METASTASES
            and data.cord_compression is False
            and fold.compression_at is None
            and fold.category_entered_at is not None
        ):
            fold.start(clock, fold.category_entered_at)
        elif (
            start.event == "specialist.referred"
            and start.service in fold.referred_to
            and start.suspects in fold.suspected
        ):
            fold.start(clock, fold.referred_to[start.service])


def _override(fold: _Fold, category: Category, at: datetime) -> None:
    """triage.overridden: up is an upgrade; down stops the clocks that no longer apply."""
    if category is fold.category:
        return
    if CATEGORY_RANK[category] < CATEGORY_RANK[fold.category]:
        if category is Category.NEEDS_REVIEW:
            # needs_review runs no clocks, but those a lesion on imaging started (section 9.2).
            keep = {c.id for c in fold.clocks if c.rule.start.runs_in_review}
            no_longer = [clock_id for clock_id in fold.running if clock_id not in keep]
        else:
            no_longer = [
                c.id
                for c in fold.clocks
                if c.rule.start.at == "category" and c.rule.start.category is fold.category
            ]
        fold.stop_all(at, "triage_overridden", only=no_longer)
    fold.enter(category, at)


def _close(fold: _Fold, at: datetime, reason: str) -> None:
    fold.closed_at = at
    fold.closed_reason = reason
    fold.stop_all(at, reason)


def _stage(fold: _Fold) -> Stage:
    seen = fold.seen
    if fold.closed_at is not None:
        return Stage.CLOSED
    if fold.category is Category.NEEDS_REVIEW:
        return Stage.NEEDS_REVIEW
    if "treatment.started" in seen:
        return Stage.IN_TREATMENT
    if fold.decided_to_treat is True:
        return Stage.AWAITING_TREATMENT
    if fold.decided_to_treat is False:
        return Stage.NO_TREATMENT_PLANNED
    if "imaging.reported" in seen:
        return Stage.AWAITING_DECISION
    if "imaging.performed" in seen:
        return Stage.AWAITING_REPORT
    return Stage.AWAITING_IMAGING


def evaluate(events: Iterable[PathwayEvent], rules: PinnedRules) -> PathwayView:
    """Fold a pathway's events, in clinical order, into its view.

    Args:
        events: every accepted event of one pathway, in any order; the first in clinical
            order must be its ``referral.received``.
        rules: the rules the pathway was pinned to at referral.

    Returns:
        Category, stage, milestones and every clock instance (running ones included).

    Raises:
        EventRejected: the events break a prerequisite (a report before its scan, an event
            on a closed pathway...). The exception's ``event_id`` names the culprit.
    """
    fold = _Fold(rules=rules, clocks=rules.clocks())
    for event in sorted(events, key=sort_key):
        _apply(fold, event)
    return _view(fold)


def _view(fold: _Fold) -> PathwayView:
    if fold.referred_at is None:
        raise EventRejected("pathway", "unknown pathway: no referral.received is recorded for it")
    clocks = sorted([*fold.finished, *fold.running.values()], key=lambda c: (c.starts_at, c.id))
    return PathwayView(
        reference=fold.reference,
        category=fold.category,
        cancer_status=fold.cancer_status,
        status="closed" if fold.closed_at is not None else "open",
        closed_reason=fold.closed_reason,
        closed_at=fold.closed_at,
        referred_at=fold.referred_at,
        stage=_stage(fold),
        milestones=tuple(fold.milestones),
        clocks=tuple(clocks),
        steroids_to_stop=fold.steroids_to_stop,
        ruleset=fold.rules.label,
        safety=tuple(fold.safety),
        haematology_advisory=(
            fold.haem_under_review
            and fold.closed_at is None
            and not {"steroids.started", "steroids.withheld"} & fold.seen.keys()
        ),
        outcomes_out_of_window=tuple(fold.out_of_window),
        primary_tumour_before_review=(
            fold.primary_under_review and not fold.sarcoma_reviewed and fold.closed_at is None
        ),
        fold=fold,
    )


def admit(
    recorded: Sequence[PathwayEvent],
    event: PathwayEvent,
    *,
    rules: PinnedRules,
    now: datetime,
    current: PathwayView | None = None,
) -> PathwayView:
    """Decide whether ``event`` may join a pathway's recorded events, and return the new view.

    Args:
        recorded: the pathway's events accepted so far (empty for a new pathway).
        event: the candidate.
        rules: the pathway's pinned rules (for a referral, the rules it will be pinned to).
        now: the moment of intake; an event later than ``now`` plus :data:`INTAKE_SKEW` is
            refused.
        current: the view of ``recorded`` when the caller already has it (saves a fold).

    Raises:
        EventRejected: with the field and the reason; nothing of the event may be kept.
    """
    if event.occurred_at > now + INTAKE_SKEW:
        raise _fail(event, "occurred_at", "later than the moment of intake")
    if isinstance(event, MdtListed):
        _check_meeting(event)
    if not recorded:
        if not isinstance(event, ReferralReceived):
            raise _fail(
                event, "pathway", "unknown pathway: no referral.received is recorded for it"
            )
        _check_referral_dates(event)
        return evaluate([event], rules)
    view = current if current is not None else evaluate(recorded, rules)
    if isinstance(event, ReferralReceived):
        raise _fail(event, "type", "the pathway already has a referral.received")
    if (
        view.is_closed
        and event.type not in rules.ruleset.accepted_after_closing
        and not _undoes_ruled_out(view, event, rules)
    ):
        raise _fail(
            event,
            "type",
            f"the pathway is closed ({view.closed_reason}); only "
            f"{_after_closing_words(rules.ruleset)} are accepted",
        )
    if event.occurred_at < view.referred_at:
        raise _fail(event, "occurred_at", "before the pathway's referral")
    try:
        if (
            view.fold is not None
            and view.fold.last_key is not None
            and sort_key(event) > view.fold.last_key
        ):
            # In clinical order (the usual case): apply just this event to a copy of the fold.
            fold = view.fold.clone()
            _apply(fold, event)
            return _view(fold)
        return evaluate([*recorded, event], rules)
    except _Rejection as err:
        if err.event_id == event.event_id:
            raise
        raise _fail(
            event,
            "occurred_at",
            f"out of clinical order: it would leave a recorded event ({err.field}: {err.reason})",
        ) from err


SYMPTOM_ONSET_YEARS = 10
"""A symptom onset more than this many years before the referral is a typing error (DEVELOPERS.md)."""

MEETING_WINDOW = timedelta(days=366)
"""An MDT meeting is listed at most about a year before or after the listing (DEVELOPERS.md)."""


def _undoes_ruled_out(view: PathwayView, event: PathwayEvent, rules: PinnedRules) -> bool:
    """A lesion report dated before the report that closed the pathway as ruled out.

    Section 9.1: a no-lesion report after a lesion finding never closes. When the reports
    arrive in the wrong order, the earlier lesion report is let in and the pathway is folded
    again in clinical order, so it reopens instead of staying closed on the wrong report.
    """
    closing = view.fold.ruled_out_by if view.fold is not None else None
    return (
        rules.ruleset.lesion_review
        and closing is not None
        and isinstance(event, ImagingReported)
        and event.data.finding is not rules.ruleset.ruled_out_finding
        and sort_key(event) < closing
    )


def _check_referral_dates(event: ReferralReceived) -> None:
    referred_on = event.occurred_at.date()
    born = event.data.patient.date_of_birth
    if born > referred_on:
        raise _fail(event, "data.patient.date_of_birth", "after the referral")
    onset = event.data.symptom_onset
    if onset is None:
        return
    if onset > referred_on:
        raise _fail(event, "data.symptom_onset", "after the referral")
    if onset < born:
        raise _fail(event, "data.symptom_onset", "before the date of birth")
    earliest = _years_before(referred_on, SYMPTOM_ONSET_YEARS)
    if onset < earliest:
        raise _fail(
            event,
            "data.symptom_onset",
            f"more than {SYMPTOM_ONSET_YEARS} years before the referral",
        )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _check_meeting(event: MdtListed) -> None:
    if abs(event.data.meeting_at - event.occurred_at) > MEETING_WINDOW:
        raise _fail(event, "data.meeting_at", "more than a year before or after the listing")


def clock_statuses(view: PathwayView, at: datetime) -> list[tuple[Clock, ClockStatus, bool]]:
    """Every clock started by ``at`` with its status and at-risk flag at that moment."""
    return [(c, c.status_at(at), c.at_risk(at)) for c in view.clocks if c.starts_at <= at]
