"""The pathway engine: from a pathway's accepted events to its category, stage and clocks.

A pathway *is* its set of events. :func:`evaluate` sorts them by the time they happened (not the
time they arrived), folds them in order and returns a :class:`PathwayView`; so the same events
give the same clocks whatever order they arrived in. :func:`admit` decides whether one more
event may join the set, and raises :class:`~pathway.errors.EventRejected` naming the field when
it may not. Neither reads the clock or touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    AlertAcknowledged,
    BiopsyPerformed,
    BiopsyRequested,
    CancerStatus,
    Category,
    CoordinatorContacted,
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
    SteroidsStarted,
    SteroidsWithheld,
    TreatmentStarted,
    TriageOverridden,
)
from pathway.ruleset import EffectiveClock, PinnedRules
from pathway.triage import triage

INTAKE_SKEW = timedelta(minutes=5)
"""How far in the future an ``occurred_at`` may be, for feeds whose clocks run slightly fast."""

AFTER_CLOSING = frozenset({"outcome.recorded", "alert.acknowledged"})
"""The only event types a closed pathway accepts (pathway-spec.md section 5, "Closing")."""

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

    def clone(self) -> _Fold:
        """An independent copy (clock instances are immutable, containers are copied)."""
        return _Fold(
            rules=self.rules,
            clocks=self.clocks,
            reference=self.reference,
            category=self.category,
            cancer_status=self.cancer_status,
            pain=set(self.pain),
            neuro=set(self.neuro),
            referred_at=self.referred_at,
            closed_at=self.closed_at,
            closed_reason=self.closed_reason,
            running=dict(self.running),
            finished=list(self.finished),
            satisfied=set(self.satisfied),
            started_once=set(self.started_once),
            seen=dict(self.seen),
            ct_requested=self.ct_requested,
            decided_to_treat=self.decided_to_treat,
            steroids_to_stop=self.steroids_to_stop,
            milestones=list(self.milestones),
            last_key=self.last_key,
        )

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
    return True


def _event_starts(clock: EffectiveClock, event: PathwayEvent) -> bool:
    start = clock.rule.start
    if start.at != "event" or event.type != start.event:
        return False
    if isinstance(event, MdtDecided):
        if (
            start.decision_to_treat is not None
            and event.data.decision_to_treat != start.decision_to_treat
        ):
            return False
        return start.plan_includes is None or start.plan_includes in _PLAN_PARTS[event.data.plan]
    # Only imaging.reported starts on a finding (PLAN-MSCC).
    return start.finding is None or getattr(event.data, "finding", None) is start.finding


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


def _check_prerequisites(fold: _Fold, event: PathwayEvent) -> None:
    if fold.referred_at is None and not isinstance(event, ReferralReceived):
        raise _fail(event, "pathway", "unknown pathway: no referral.received is recorded for it")
    if fold.closed_at is not None and event.type not in AFTER_CLOSING:
        raise _fail(
            event,
            "type",
            "the pathway is closed; only outcome.recorded and alert.acknowledged are accepted",
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


def _apply(fold: _Fold, event: PathwayEvent) -> None:
    at = event.occurred_at
    fold.last_key = sort_key(event)
    _check_prerequisites(fold, event)
    fold.milestones.append(Milestone(event.type, at, event.event_id, _details(event)))
    fold.seen.setdefault(event.type, at)

    for clock in fold.clocks:
        if _stops(clock, event, fold):
            fold.satisfied.add(clock.id)
            running = fold.running.pop(clock.id, None)
            if running is not None:
                fold.finished.append(stop_with_milestone(running, at))
        elif event.type in clock.rule.stop.excluded_by:
            fold.satisfied.add(clock.id)
            reason = event.data.reason if isinstance(event, SteroidsWithheld) else event.type
            fold.stop_all(at, reason, only=[clock.id])

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
            if event.data.finding is Finding.NO_SPINAL_METASTASES:
                # D10: a steroid course started for suspected MSCC is flagged for stopping.
                fold.steroids_to_stop = "steroids.started" in fold.seen
                _close(fold, at, "ruled_out")
        case MdtDecided():
            if fold.decided_to_treat is None or event.data.decision_to_treat:
                fold.decided_to_treat = event.data.decision_to_treat
        case PathwayClosed():
            _close(fold, at, event.data.reason.value)
        case (  # pragma: no branch - the remaining types, listed: no event falls through
            CoordinatorContacted()
            | SteroidsStarted()
            | SteroidsWithheld()
            | ImagingPerformed()
            | BiopsyRequested()
            | BiopsyPerformed()
            | HistologyReported()
            | MdtListed()
            | DiagnosisCommunicated()
            | TreatmentStarted()
            | OutcomeRecorded()
            | AlertAcknowledged()
        ):
            pass

    if fold.closed_at is None and fold.category is not Category.NEEDS_REVIEW:
        for clock in fold.clocks:
            if (
                clock.id not in fold.started_once
                and clock.id not in fold.satisfied
                and _event_starts(clock, event)
            ):
                fold.start(clock, at)


def _override(fold: _Fold, category: Category, at: datetime) -> None:
    """triage.overridden: up is an upgrade; down stops the clocks that no longer apply."""
    if category is fold.category:
        return
    if CATEGORY_RANK[category] < CATEGORY_RANK[fold.category]:
        if category is Category.NEEDS_REVIEW:
            no_longer = list(fold.running)  # needs_review runs no clocks at all
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
    if view.is_closed and event.type not in AFTER_CLOSING:
        raise _fail(
            event,
            "type",
            f"the pathway is closed ({view.closed_reason}); only outcome.recorded and "
            "alert.acknowledged are accepted",
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
