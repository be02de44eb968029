"""The report figures ruleset version 2 adds (pathway-spec.md sections 9.1, 9.4 and 9.5).

Pure, like :mod:`pathway.report`, which calls these while it builds a report: K-SARC-1 (no
biopsy before the bone sarcoma centre's review), the breaches by reason, roll-up and stage
(``breach.explained``), arrivals and compliance by weekday and hour, and the choice of K10's
status after treatment (outcomes out of their window, or corrected, left out).

An explanation annotates a breach; it never changes a clock (9.1), so nothing here feeds back
into the clock figures: an explained breach is breached in every figure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from pathway.events import BREACH_ROLL_UP, BreachReason
from pathway.ruleset import OutcomeWindow

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
IN_HOURS_FROM = 9
IN_HOURS_UNTIL = 17
"""In hours: Monday to Friday, 09:00 to 16:59 in the service time zone (DEVELOPERS.md).

17:00 is out of hours: the MSCC services of the reference (E3, L6) describe the day team
handing over at five, and referrals "picked up later in the day, particularly Fridays".
Bank holidays are not known to cordwatch and count as the weekday they fall on."""

K_SARC_1_TARGET = 1.0
"""Section 9.5: every suspected primary bone tumour reaches the centre before any biopsy."""

UNEXPLAINED = "unexplained"
"""The reason, roll-up and stage of a breach with no primary explanation."""


def _percent(numerator: int, denominator: int) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


class OutcomeFact(NamedTuple):
    """One stored ``outcome.recorded`` of a pathway (coded facts only)."""

    event_id: str
    occurred_at: datetime
    stored: int
    """The order it was stored in (the milestone id): breaks ties at one instant."""
    at: str | None
    ambulatory_status: str | None
    supersedes: str | None = None


@dataclass(frozen=True, slots=True)
class AfterTreatment:
    """K10's status after treatment of one pathway, and the outcomes left out of window."""

    status: str | None
    out_of_window: int


def status_after_treatment(
    outcomes: Iterable[OutcomeFact],
    treated_at: datetime | None,
    *,
    windows: Mapping[str, OutcomeWindow],
    zone: ZoneInfo,
) -> AfterTreatment:
    """The ambulatory status of the latest outcome at or after the first treatment.

    Version 2 (section 9.1): an outcome whose timepoint (day_30, week_8, week_12) falls outside
    its window from the first treatment is flagged by the engine and left out of K10; the same
    :meth:`OutcomeWindow.holds` decides it here. A record named by another's ``supersedes`` was
    corrected and is left out too. Version 1 has no windows: every outcome counts.

    Args:
        outcomes: every outcome of the pathway, in any order.
        treated_at: the pathway's first ``treatment.started``; None when never treated.
        windows: the pinned ruleset's outcome windows.
        zone: the pathway's time zone (days are calendar days there).
    """
    if treated_at is None:
        return AfterTreatment(None, 0)
    every = list(outcomes)
    corrected = {o.supersedes for o in every if o.supersedes is not None}
    latest: OutcomeFact | None = None
    left_out = 0
    for outcome in sorted(every, key=lambda o: (o.occurred_at, o.stored)):
        if outcome.occurred_at < treated_at or outcome.event_id in corrected:
            continue
        window = windows.get(outcome.at or "")
        if window is not None and not window.holds(treated_at, outcome.occurred_at, zone):
            left_out += 1
            continue
        latest = outcome
    return AfterTreatment(latest.ambulatory_status if latest else None, left_out)


class SarcomaEvent(NamedTuple):
    """A milestone K-SARC-1 reads, in clinical order by ``(at, rank)``."""

    at: datetime
    rank: int
    """The event type's place in :data:`pathway.events.EVENT_TYPES` (ties at one instant)."""
    kind: str
    """``suspected`` (a report suspecting a primary bone tumour), ``not_primary`` (a review
    advising ``not_primary_bone_tumour``), ``centre_review`` (a review by the bone sarcoma
    centre, ``not_primary`` too when it so advised) or ``biopsy`` (a ``biopsy.performed``
    whose site was not agreed with the treating centre)."""


SARCOMA_STATUSES = ("reviewed_first", "biopsied_first", "awaiting_review", "not_primary")


def sarcoma_status(events: Iterable[SarcomaEvent], as_of: datetime) -> str | None:
    """K-SARC-1 for one pathway, from its milestones up to ``as_of``; None if never suspected.

    Folded in clinical order: a biopsy while a primary bone tumour is suspected and before
    any review by the bone sarcoma centre decides the pathway as ``biopsied_first``; a review
    by the centre after the suspicion (with no such biopsy) as ``reviewed_first``. Otherwise
    it is ``not_primary`` when a review lifted the suspicion, else ``awaiting_review``.
    """
    suspected = ever = reviewed = False
    for event in sorted(events):
        if event.at > as_of:
            break
        if event.kind == "suspected":
            suspected = ever = True
        elif event.kind == "not_primary":
            suspected = False
        elif event.kind == "centre_review":
            reviewed = True
        elif suspected and not reviewed:
            return "biopsied_first"
    if not ever:
        return None
    if reviewed:
        return "reviewed_first"
    return "awaiting_review" if suspected else "not_primary"


@dataclass(frozen=True, slots=True)
class SarcomaFigures:
    """K-SARC-1: suspected primary bone tumours with no biopsy before the centre's review.

    Pathways referred in the period whose reports suspected a primary bone tumour. Decided:
    reviewed by the centre first (on target) or biopsied first (not); awaiting the centre's
    review, or no longer suspected (``not_primary_bone_tumour``), they leave the denominator.
    """

    suspected: int
    reviewed_first: int
    biopsied_first: int
    awaiting_review: int
    not_primary: int
    percent: float | None
    target: float
    biopsied_first_pathways: list[str] = field(default_factory=list)
    """``PW-`` ids, for clinical governance to look at."""

    @property
    def decided(self) -> int:
        return self.reviewed_first + self.biopsied_first


def sarcoma_figures(statuses: Iterable[tuple[str, str | None]]) -> SarcomaFigures:
    """K-SARC-1 from ``(pathway id, sarcoma_status)`` pairs."""
    counts: Counter[str] = Counter()
    biopsied: list[str] = []
    for pathway_id, status in statuses:
        if status is None:
            continue
        counts[status] += 1
        if status == "biopsied_first":
            biopsied.append(pathway_id)
    met, failed = counts["reviewed_first"], counts["biopsied_first"]
    return SarcomaFigures(
        suspected=sum(counts.values()),
        reviewed_first=met,
        biopsied_first=failed,
        awaiting_review=counts["awaiting_review"],
        not_primary=counts["not_primary"],
        percent=_percent(met, met + failed),
        target=K_SARC_1_TARGET,
        biopsied_first_pathways=sorted(biopsied),
    )


class ExplanationFact(NamedTuple):
    """One stored ``breach.explained`` (its free-text comment is never loaded)."""

    pathway_id: str
    event_id: str
    occurred_at: datetime
    clock_id: str
    reason: str
    stage: str
    primary: bool = True
    supersedes: str | None = None


class _Late(Protocol):
    """What the breach figures read of a breach (:class:`pathway.report.Breach`)."""

    @property
    def pathway_id(self) -> str: ...
    @property
    def clock_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def hours_late(self) -> float: ...


def roll_up(reason: str) -> str:
    """A reason's roll-up (patient, clinical, capacity, process, external, other)."""
    if reason == UNEXPLAINED:
        return UNEXPLAINED
    return BREACH_ROLL_UP[BreachReason(reason)][0]


@dataclass(frozen=True, slots=True)
class BreachReasons:
    """The breaches of one clock (``clock_id`` "all": every clock) by their explanation.

    Each breach counts once, by its primary explanation (or as unexplained); contributing
    reasons (``primary: false``) are counted apart. The delay is from the due time to the stop,
    or to the report's moment while still running (:attr:`pathway.report.Breach.hours_late`).
    """

    clock_id: str
    kind: str
    breached: int
    explained: int
    unexplained: int
    by_reason: dict[str, int]
    by_roll_up: dict[str, int]
    by_stage: dict[str, int]
    contributing: dict[str, int]
    median_delay_hours_by_stage: dict[str, float]


def current_explanations(
    explanations: Iterable[ExplanationFact], as_of: datetime
) -> tuple[dict[tuple[str, str], ExplanationFact], dict[tuple[str, str], list[ExplanationFact]]]:
    """The primary and the contributing explanations standing at ``as_of``, per (pathway, clock).

    One explained later than ``as_of`` is not yet known; one named by another's ``supersedes``
    is replaced. Of the primaries left the latest stands (the engine allows one per clock).
    """
    known = [e for e in explanations if e.occurred_at <= as_of]
    replaced = {e.supersedes for e in known if e.supersedes is not None}
    primary: dict[tuple[str, str], ExplanationFact] = {}
    contributing: dict[tuple[str, str], list[ExplanationFact]] = defaultdict(list)
    for e in sorted(known, key=lambda e: (e.occurred_at, e.event_id)):
        if e.event_id in replaced:
            continue
        if e.primary:
            primary[(e.pathway_id, e.clock_id)] = e
        else:
            contributing[(e.pathway_id, e.clock_id)].append(e)
    return primary, contributing


def breach_reasons(
    breaches: Sequence[_Late], explanations: Iterable[ExplanationFact], *, as_of: datetime
) -> list[BreachReasons]:
    """Breaches by reason, roll-up and stage per clock, and the median delay per stage.

    An explanation names a clock id, not an instance: it explains every breached instance of
    that clock on its pathway (DEVELOPERS.md). Explanations of clocks outside the report's
    breaches (started in another period) are not counted.
    """
    primary, contributing = current_explanations(explanations, as_of)
    groups: dict[str, list[tuple[_Late, ExplanationFact | None]]] = defaultdict(list)
    for breach in breaches:
        key = (breach.pathway_id, breach.clock_id)
        explained = primary.get(key)
        groups[breach.clock_id].append((breach, explained))
        groups["all"].append((breach, explained))
    rows = []
    for clock_id in sorted(groups, key=lambda c: (c == "all", c)):
        items = groups[clock_id]
        kinds = {b.kind for b, _ in items}
        delays: dict[str, list[float]] = defaultdict(list)
        reasons: Counter[str] = Counter()
        stages: Counter[str] = Counter()
        extra: Counter[str] = Counter()
        for breach, explained in items:
            reason = explained.reason if explained else UNEXPLAINED
            stage = explained.stage if explained else UNEXPLAINED
            reasons[reason] += 1
            stages[stage] += 1
            delays[stage].append(breach.hours_late)
            extra.update(
                e.reason for e in contributing.get((breach.pathway_id, breach.clock_id), [])
            )
        rolled: Counter[str] = Counter()
        for reason, n in reasons.items():
            rolled[roll_up(reason)] += n
        rows.append(
            BreachReasons(
                clock_id=clock_id,
                kind=kinds.pop() if len(kinds) == 1 else "hour",
                breached=len(items),
                explained=len(items) - reasons[UNEXPLAINED],
                unexplained=reasons[UNEXPLAINED],
                by_reason=dict(sorted(reasons.items())),
                by_roll_up=dict(sorted(rolled.items())),
                by_stage=dict(sorted(stages.items())),
                contributing=dict(sorted(extra.items())),
                median_delay_hours_by_stage={
                    stage: round(median(values), 2) for stage, values in sorted(delays.items())
                },
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class Cell:
    """Clocks met of decided (met + breached) in one slot."""

    met: int
    decided: int
    percent: float | None


def _cell(met: int, decided: int) -> Cell:
    return Cell(met, decided, _percent(met, decided))


@dataclass(frozen=True, slots=True)
class HoursCompliance:
    """One clock's compliance by whether it started in hours or out of hours."""

    clock_id: str
    in_hours: Cell
    out_of_hours: Cell


@dataclass(frozen=True, slots=True)
class TimeFigures:
    """Arrivals and compliance by weekday and hour of day, in the service time zone.

    Referrals by their ``referral.received`` time (when the referral reached the service,
    not when cordwatch stored it); clocks by the moment they started. Lists of seven run
    Monday to Sunday; of 24, hour 0 (00:00-00:59) to 23.
    """

    referrals_by_weekday: list[int]
    referrals_by_hour: list[int]
    referrals_in_hours: int
    referrals_out_of_hours: int
    busiest_weekday: str | None
    compliance_by_weekday: list[Cell]
    compliance_by_hour: list[Cell]
    compliance_in_hours: Cell
    compliance_out_of_hours: Cell
    by_clock: list[HoursCompliance]


def in_hours(weekday: int, hour: int) -> bool:
    """Monday to Friday, 09:00 to 16:59 (see :data:`IN_HOURS_FROM`)."""
    return weekday < 5 and IN_HOURS_FROM <= hour < IN_HOURS_UNTIL


class TimeTally:
    """Gathers :class:`TimeFigures` in the report's one pass over its clocks."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._slots: dict[float, tuple[int, int]] = {}
        self._met: Counter[tuple[int, int]] = Counter()
        self._decided: Counter[tuple[int, int]] = Counter()
        self._clocks: dict[str, list[int]] = {}

    def slot(self, moment: datetime) -> tuple[int, int]:
        """(weekday, hour) of ``moment`` in the service zone."""
        # Every offset of the time zone database is a whole quarter-hour, so the instants of
        # one UTC quarter-hour share their local weekday and hour: convert once per key.
        key = moment.timestamp() // 900
        slot = self._slots.get(key)
        if slot is None:
            local = moment.astimezone(self._zone)
            slot = self._slots[key] = (local.weekday(), local.hour)
        return slot

    def clock(self, clock_id: str, starts_at: datetime, met: bool) -> None:
        """A decided clock (met or breached), by the weekday and hour of its start."""
        slot = self.slot(starts_at)
        self._decided[slot] += 1
        self._met[slot] += met
        cells = self._clocks.get(clock_id)
        if cells is None:
            cells = self._clocks[clock_id] = [0, 0, 0, 0]
        offset = 0 if in_hours(*slot) else 2
        cells[offset] += met
        cells[offset + 1] += 1

    def figures(self, referrals: Iterable[datetime]) -> TimeFigures:
        arrivals = Counter(self.slot(moment) for moment in referrals)
        by_weekday = [sum(n for (d, _), n in arrivals.items() if d == day) for day in range(7)]
        busiest = max(range(7), key=lambda day: by_weekday[day]) if arrivals else None

        def pooled(slots: Iterable[tuple[int, int]]) -> Cell:
            chosen = list(slots)
            return _cell(sum(self._met[s] for s in chosen), sum(self._decided[s] for s in chosen))

        every = [(d, h) for d in range(7) for h in range(24)]
        return TimeFigures(
            referrals_by_weekday=by_weekday,
            referrals_by_hour=[
                sum(n for (_, h), n in arrivals.items() if h == hour) for hour in range(24)
            ],
            referrals_in_hours=sum(n for slot, n in arrivals.items() if in_hours(*slot)),
            referrals_out_of_hours=sum(n for slot, n in arrivals.items() if not in_hours(*slot)),
            busiest_weekday=WEEKDAYS[busiest] if busiest is not None else None,
            compliance_by_weekday=[pooled((d, h) for h in range(24)) for d in range(7)],
            compliance_by_hour=[pooled((d, h) for d in range(7)) for h in range(24)],
            compliance_in_hours=pooled(s for s in every if in_hours(*s)),
            compliance_out_of_hours=pooled(s for s in every if not in_hours(*s)),
            by_clock=[
                HoursCompliance(clock_id, _cell(c[0], c[1]), _cell(c[2], c[3]))
                for clock_id, c in sorted(self._clocks.items())
            ],
        )
