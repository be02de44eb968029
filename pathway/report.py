"""Performance figures for administrators, from clock and pathway facts (pathway-spec.md section 8).

Pure: the shell loads :class:`ClockFact` and :class:`PathwayFact` rows for a period and passes
the moment the report looks at (``as_of``). A clock belongs to the period its start falls in; a
pathway to the period of its referral.

Counting rules (clinical-research.md section 10):

* A clock is *met* or *breached* once stopped; a running clock past its due time counts as
  breached (still running); one still within its limit is *running* and not yet decided.
* *Excluded* clocks (stopped without their milestone while within the limit) leave every
  denominator, with their reason counted; they never count as met.
* Percentage met = met / (met + breached).
* Time to stop is measured on clocks stopped by their milestone (met, or breached late with no
  exclusion reason). Percentiles use linear interpolation between closest ranks (numpy's
  default): the p-th percentile of sorted x[0..n-1] is at rank (n - 1) * p.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pathway.clocks import ClockStatus
from pathway.report_v2 import (
    BreachReasons,
    ExplanationFact,
    SarcomaEvent,
    SarcomaFigures,
    TimeFigures,
    TimeTally,
    breach_reasons,
    sarcoma_figures,
    sarcoma_status,
)
from pathway.ruleset import DEFAULT_RULESET, Ruleset, load_ruleset

AMBULATORY = frozenset({"independent", "with_aid"})
"""Ambulatory with or without aids (K10, SCORAD)."""


@dataclass(frozen=True, slots=True)
class Standard:
    """A national measure a clock reports against; ``target`` None when no % is set."""

    kpi: str
    title: str
    target: float | None
    """A fraction (0.8 for 80 %): the ``target_percent`` of the clock's rule."""
    source: str


class _Measure(NamedTuple):
    kpi: str
    title: str
    source: str


_MEASURES: dict[str, _Measure] = {
    "COORD-MSCC": _Measure("K3", "Coordinator contact, suspected MSCC", "QS56 st.4"),
    "STEROID-MSCC": _Measure("K6", "Dexamethasone within the local SLA", "NG234 1.8.1"),
    "MRI-MSCC": _Measure("K1", "MRI within 24 h, suspected MSCC", "QS56 st.3"),
    "MRI-METS": _Measure("K2", "MRI within 7 days, suspected metastases", "QS56 st.2"),
    "PLAN-METS": _Measure("K2", "Plan within 7 days, suspected metastases", "QS56 st.2"),
    "RT-24H": _Measure("K4", "Radiotherapy within 24 h of decision", "QS56 st.6"),
    # W1: the Faster Diagnosis Standard rises from 75 % to 80 % (March 2026).
    "CWT-FDS": _Measure("K17", "Faster Diagnosis Standard, 28 days", "CWT (75-80 %)"),
    "CWT-31": _Measure("K17", "Decision to treat to treatment, 31 days", "CWT"),
    "CWT-62": _Measure("K17", "Referral to treatment, 62 days", "CWT"),
}
"""The measures in report order; their percentage targets live in the ruleset."""


def standards_from(ruleset: Ruleset) -> dict[str, Standard]:
    """The measures with the ``target_percent`` of each clock's rule in ``ruleset``.

    The ruleset is the one place a national target is written, next to its sources, so a
    change of target (the FDS rising to 80 %) is a ruleset change the report follows.
    """
    percents = {rule.id: rule.target_percent for rule in ruleset.clocks}
    standards = {}
    for clock_id, (kpi, title, source) in _MEASURES.items():
        percent = percents.get(clock_id)
        target = None if percent is None else percent / 100
        standards[clock_id] = Standard(kpi, title, target, source)
    return standards


_SHIPPED = (load_ruleset(*DEFAULT_RULESET), load_ruleset(DEFAULT_RULESET[0], 2))


def clock_measures(*rulesets: Ruleset) -> dict[str, tuple[str, str]]:
    """Each clock's title and sources, from the rule that defines it (a later version wins).

    The per-clock table names every clock a report can hold, version-2 clocks included
    (POSTOP-RT, SPINE-OPINION, SARC-REFER, SARC-REVIEW, HAEM-REFER), from its ruleset entry.
    """
    measures: dict[str, tuple[str, str]] = {}
    for ruleset in sorted(rulesets, key=lambda r: r.version):
        for rule in ruleset.clocks:
            measures[rule.id] = (rule.title, ", ".join(rule.sources))
    return measures


CLOCK_MEASURES: dict[str, tuple[str, str]] = clock_measures(*_SHIPPED)
_CLOCK_KPIS = {"SARC-REFER": "K-SARC-2", "SARC-REVIEW": "K-SARC-2"}
"""Measures of clocks without a national standard (clinical-research-v2.md: K-SARC-2)."""

STANDARDS: dict[str, Standard] = standards_from(_SHIPPED[0])
"""The measures against the targets of the default ruleset.

A report spans pathways pinned to any ruleset version, but a target is the national standard
of the period reported, not of a pathway; the default ruleset is the current one.
"""


class ClockFact(NamedTuple):
    """One clock instance as stored (status ``running`` until it stops).

    A named tuple, not a dataclass: a report reads hundreds of thousands, and building one
    from a database row (``ClockFact._make(row)``) costs a fifth of a frozen dataclass's.
    """

    pathway_id: str
    category: str
    clock_id: str
    kind: str
    starts_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    status: str
    reason: str | None


class PathwayFact(NamedTuple):
    """What K10 and K14 need of one pathway (no patient identifiers); a named tuple as above."""

    pathway_id: str
    category: str
    referred_at: datetime
    ambulatory_at_referral: str | None = None
    ambulatory_after_treatment: str | None = None
    """Of the latest outcome at or after the first treatment; None if untreated or none since."""
    mri_scans: int = 0
    mscc_confirmed: bool = False
    outcomes_out_of_window: int = 0
    """Version 2: outcomes from the first treatment on left out of K10 (out of window)."""
    sarcoma_events: tuple[SarcomaEvent, ...] = ()
    """Version 2: the milestones K-SARC-1 reads (none unless a primary tumour was suspected)."""


@dataclass(frozen=True, slots=True)
class ClockFigures:
    """Counts and times of one clock in one category (``category`` "all" for every category)."""

    clock_id: str
    category: str
    kind: str
    started: int
    met: int
    breached: int
    breached_running: int
    excluded: int
    excluded_by_reason: dict[str, int]
    running: int
    percent_met: float | None
    median_hours: float | None
    p90_hours: float | None
    target: float | None
    kpi: str | None
    title: str | None = None
    """The clock rule's title in its ruleset; ``source`` its sources."""
    source: str | None = None

    @property
    def decided(self) -> int:
        return self.met + self.breached


@dataclass(frozen=True, slots=True)
class Kpi:
    """A headline measure: numerator over denominator against the standard's target."""

    id: str
    title: str
    numerator: int
    denominator: int
    percent: float | None
    target: float | None
    source: str
    median_hours: float | None = None
    p90_hours: float | None = None

    @property
    def meets_target(self) -> bool | None:
        if self.target is None or self.percent is None:
            return None
        return self.percent >= self.target * 100


@dataclass(frozen=True, slots=True)
class AmbulatoryFigures:
    """K10: pathways with status at referral and after treatment both recorded (paired).

    The status after treatment is that of the latest outcome recorded at or after the
    pathway's first treatment. ``at_referral`` and ``after_treatment`` count every pathway
    referred, by status, those without one as "not recorded" (for after treatment: never
    treated, or no outcome since).
    """

    paired: int
    ambulatory_at_referral: int
    ambulatory_after_treatment: int
    improved: int
    unchanged: int
    worse: int
    at_referral: dict[str, int]
    after_treatment: dict[str, int]
    outcomes_out_of_window: int = 0
    """Version-2 outcomes left out because they fall outside their timepoint's window."""


@dataclass(frozen=True, slots=True)
class MriYield:
    """K14: MRIs performed per confirmed MSCC, among pathways referred in the period."""

    pathways_scanned: int
    mri_scans: int
    mscc_confirmed: int
    percent_confirmed: float | None
    scans_per_confirmed: float | None


@dataclass(frozen=True, slots=True)
class Breach:
    """One breached clock: how late it stopped, or is as of the report (still running)."""

    pathway_id: str
    clock_id: str
    category: str
    kind: str
    due_at: datetime
    stopped_at: datetime | None
    hours_late: float
    """From ``due_at`` (the first late instant) to the stop, or to ``as_of`` when still open."""
    days_late: int | None
    """Day clocks: calendar days past the due date in the service zone (1 = the day after)."""
    reason: str | None


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """Compliance of one clock in one week (Monday, service time zone, by clock start)."""

    week: date
    clock_id: str
    met: int
    decided: int

    @property
    def percent(self) -> float | None:
        return _percent(self.met, self.decided)


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    period_start: date
    period_end: date
    as_of: datetime
    timezone: str
    pathways: dict[str, int]
    clocks: list[ClockFigures]
    kpis: list[Kpi]
    ambulatory: AmbulatoryFigures
    mri_yield: MriYield
    breaches: list[Breach]
    weekly: list[WeekFigures]
    sarcoma: SarcomaFigures
    """K-SARC-1 in detail (its headline is in ``kpis``)."""
    breach_reasons: list[BreachReasons]
    times: TimeFigures
    times_to_stop: dict[str, list[float]] = field(default_factory=dict)
    """Hours from start to stop of every clock stopped by its milestone, by clock id."""

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["weekly"] = [{**asdict(w), "percent": w.percent} for w in self.weekly]
        document["kpis"] = [{**asdict(k), "meets_target": k.meets_target} for k in self.kpis]
        document["sarcoma"] = {**asdict(self.sarcoma), "decided": self.sarcoma.decided}
        converted: dict[str, Any] = _jsonable(document)
        return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _percent(numerator: int, denominator: int) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile by linear interpolation between closest ranks; None if empty."""
    return _interpolate(sorted(values), fraction)


def _interpolate(ordered: list[float], fraction: float) -> float | None:
    """:func:`percentile` of values already sorted."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * fraction
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _is_late(kind: str, instant: datetime, due_at: datetime) -> bool:
    return instant > due_at if kind == "hour" else instant >= due_at


_STATUSES = {status.value: status for status in ClockStatus}


def status_at(clock: ClockFact, at: datetime) -> ClockStatus:
    """Status of a stored clock at ``at`` (a clock stopped after ``at`` was still running)."""
    if clock.status != "running" and clock.stopped_at is not None and clock.stopped_at <= at:
        return _STATUSES[clock.status]
    if _is_late(clock.kind, at, clock.due_at):
        return ClockStatus.BREACHED
    return ClockStatus.RUNNING


def _time_to_stop(clock: ClockFact, at: datetime) -> float | None:
    """Hours from start to stop of a clock stopped by its milestone by ``at``, else None."""
    if clock.stopped_at is None or clock.reason is not None or clock.stopped_at > at:
        return None
    if clock.status not in ("met", "breached"):
        return None
    return (clock.stopped_at - clock.starts_at).total_seconds() / 3600


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _week_start(moment: datetime, zone: ZoneInfo, cache: dict[float, date]) -> date:
    """The Monday (service zone) of the week containing ``moment``."""
    # Every offset and transition of the time zone database falls on a quarter-hour, so all
    # the instants of one UTC quarter-hour share their local date: convert once per
    # quarter-hour (a report of 100,000 pathways has a few hundred thousand clock starts).
    key = moment.timestamp() // 900
    week = cache.get(key)
    if week is None:
        day = moment.astimezone(zone).date()
        week = cache[key] = day - timedelta(days=day.weekday())
    return week


@dataclass(slots=True)
class _Tally:
    """The counts and times of one group of clocks, gathered in one pass over the clocks."""

    kind: str
    started: int = 0
    met: int = 0
    breached: int = 0
    breached_running: int = 0
    excluded: int = 0
    running: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)

    def add(self, clock: ClockFact, status: ClockStatus, at: datetime) -> None:
        self.started += 1
        if status is ClockStatus.MET:
            self.met += 1
        elif status is ClockStatus.BREACHED:
            self.breached += 1
            if clock.stopped_at is None or clock.stopped_at > at:
                self.breached_running += 1
        elif status is ClockStatus.EXCLUDED:
            self.excluded += 1
            self.reasons[clock.reason or "unspecified"] += 1
        else:
            self.running += 1
        if (hours := _time_to_stop(clock, at)) is not None:
            self.times.append(hours)

    def merge(self, other: _Tally) -> None:
        self.started += other.started
        self.met += other.met
        self.breached += other.breached
        self.breached_running += other.breached_running
        self.excluded += other.excluded
        self.running += other.running
        self.reasons.update(other.reasons)
        self.times.extend(other.times)


def _figures(clock_id: str, category: str, tally: _Tally) -> ClockFigures:
    """The figures of a tally whose times are sorted."""
    standard = STANDARDS.get(clock_id)
    title, source = CLOCK_MEASURES.get(clock_id, (None, None))
    return ClockFigures(
        clock_id=clock_id,
        category=category,
        kind=tally.kind,
        started=tally.started,
        met=tally.met,
        breached=tally.breached,
        breached_running=tally.breached_running,
        excluded=tally.excluded,
        excluded_by_reason=dict(sorted(tally.reasons.items())),
        running=tally.running,
        percent_met=_percent(tally.met, tally.met + tally.breached),
        median_hours=_round(_interpolate(tally.times, 0.5)),
        p90_hours=_round(_interpolate(tally.times, 0.9)),
        target=standard.target if standard else None,
        kpi=standard.kpi if standard else _CLOCK_KPIS.get(clock_id),
        title=title,
        source=source,
    )


_K2_CLOCKS = frozenset({"MRI-METS", "PLAN-METS"})


def build_report(
    clocks: list[ClockFact],
    pathways: list[PathwayFact],
    *,
    period_start: date,
    period_end: date,
    as_of: datetime,
    timezone: str,
    explanations: Sequence[ExplanationFact] = (),
) -> PerformanceReport:
    """Every figure of the performance report for the facts of one period.

    One pass over the clocks gathers every figure (a report of 100,000 pathways has
    some 400,000 clocks).

    Args:
        clocks: the clocks that started in the period.
        pathways: the pathways referred in the period.
        period_start: first day of the period (service time zone).
        period_end: last day of the period, inclusive.
        as_of: the moment the report looks at: running clocks past due by then are breached.
        timezone: the service time zone (weeks start on Monday there).
        explanations: the ``breach.explained`` of the pathways of these clocks (9.4).
    """
    zone = ZoneInfo(timezone)
    groups: dict[tuple[str, str], _Tally] = {}
    k2: dict[str, dict[str, ClockStatus]] = defaultdict(dict)
    breaches: list[Breach] = []
    weekly: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    weeks: dict[float, date] = {}
    times = TimeTally(zone)
    for clock in clocks:
        status = status_at(clock, as_of)
        key = (clock.clock_id, clock.category)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Tally(clock.kind)
        group.add(clock, status, as_of)
        if status is ClockStatus.BREACHED:
            breaches.append(_breach(clock, as_of, zone))
        if status is ClockStatus.MET or status is ClockStatus.BREACHED:
            cell = weekly[(_week_start(clock.starts_at, zone, weeks), clock.clock_id)]
            cell[1] += 1
            cell[0] += status is ClockStatus.MET
            times.clock(clock.clock_id, clock.starts_at, status is ClockStatus.MET)
        if clock.clock_id in _K2_CLOCKS:
            k2[clock.pathway_id][clock.clock_id] = status
    # A clock's totals over every category; its kind is that of its first clock. Times are
    # sorted once per group, and the totals' sorted runs merged.
    totals: dict[str, _Tally] = {}
    for (clock_id, _), group in groups.items():
        group.times.sort()
        if clock_id not in totals:
            totals[clock_id] = _Tally(group.kind)
        totals[clock_id].merge(group)
    for total in totals.values():
        total.times.sort()
    order = {clock_id: rank for rank, clock_id in enumerate(STANDARDS)}
    figures = [
        _figures(clock_id, category, group)
        for (clock_id, category), group in sorted(
            groups.items(), key=lambda item: (order.get(item[0][0], 99), item[0])
        )
    ]
    total_figures = {
        clock_id: _figures(clock_id, "all", total) for clock_id, total in totals.items()
    }
    sarcoma = sarcoma_figures(
        (p.pathway_id, sarcoma_status(p.sarcoma_events, as_of)) for p in pathways
    )
    ordered = sorted(breaches, key=lambda b: (-b.hours_late, b.pathway_id, b.clock_id))
    return PerformanceReport(
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        timezone=timezone,
        pathways=dict(sorted(Counter(p.category for p in pathways).items())),
        clocks=figures,
        kpis=[*_kpis(total_figures, k2), _k_sarc_1(sarcoma)],
        ambulatory=_ambulatory(pathways),
        mri_yield=_mri_yield(pathways),
        breaches=ordered,
        weekly=[
            WeekFigures(week, clock_id, met, decided)
            for (week, clock_id), (met, decided) in sorted(weekly.items())
        ],
        sarcoma=sarcoma,
        breach_reasons=breach_reasons(ordered, explanations, as_of=as_of),
        times=times.figures(p.referred_at for p in pathways),
        times_to_stop={clock_id: total.times for clock_id, total in sorted(totals.items())},
    )


def _kpi_from(figures: ClockFigures | None, clock_id: str) -> Kpi:
    standard = STANDARDS[clock_id]
    if figures is None:
        return Kpi(standard.kpi, standard.title, 0, 0, None, standard.target, standard.source)
    return Kpi(
        id=standard.kpi,
        title=standard.title,
        numerator=figures.met,
        denominator=figures.decided,
        percent=figures.percent_met,
        target=standard.target,
        source=standard.source,
        median_hours=figures.median_hours,
        p90_hours=figures.p90_hours,
    )


def _kpis(totals: dict[str, ClockFigures], k2: dict[str, dict[str, ClockStatus]]) -> list[Kpi]:
    kpis = [_kpi_from(totals.get("MRI-MSCC"), "MRI-MSCC")]
    kpis.append(_k2(k2))
    kpis.append(_kpi_from(totals.get("RT-24H"), "RT-24H"))
    kpis.append(_kpi_from(totals.get("STEROID-MSCC"), "STEROID-MSCC"))
    kpis.extend(_kpi_from(totals.get(c), c) for c in ("CWT-FDS", "CWT-31", "CWT-62"))
    return kpis


def _k2(per_pathway: dict[str, dict[str, ClockStatus]]) -> Kpi:
    """K2: MRI *and* plan within 7 days, per pathway with both clocks decided.

    ``per_pathway`` holds the status of each pathway's MRI-METS and PLAN-METS (its last
    instance of each). A pathway with either clock excluded, or one still running within its
    limit, is left out; one with either breached fails.
    """
    met = decided = 0
    for both in per_pathway.values():
        values = set(both.values())
        if ClockStatus.EXCLUDED in values:
            continue
        if ClockStatus.BREACHED in values:
            decided += 1
        elif values == {ClockStatus.MET} and len(both) == 2:
            decided += 1
            met += 1
    return Kpi(
        "K2",
        "MRI and plan within 7 days, suspected metastases",
        met,
        decided,
        _percent(met, decided),
        None,
        "QS56 st.2",
    )


def _k_sarc_1(sarcoma: SarcomaFigures) -> Kpi:
    """K-SARC-1 as a headline measure: reviewed by the centre first, of those decided."""
    return Kpi(
        "K-SARC-1",
        "No biopsy before the bone sarcoma centre's review",
        sarcoma.reviewed_first,
        sarcoma.decided,
        sarcoma.percent,
        sarcoma.target,
        "BSG X5/X6, ESMO X7 (local)",
    )


def _ambulatory(pathways: list[PathwayFact]) -> AmbulatoryFigures:
    paired = [
        p
        for p in pathways
        if p.ambulatory_at_referral is not None and p.ambulatory_after_treatment is not None
    ]
    rank = {"non_ambulatory": 0, "with_aid": 1, "independent": 2}
    improved = sum(
        1
        for p in paired
        if rank[p.ambulatory_after_treatment or ""] > rank[p.ambulatory_at_referral or ""]
    )
    worse = sum(
        1
        for p in paired
        if rank[p.ambulatory_after_treatment or ""] < rank[p.ambulatory_at_referral or ""]
    )
    return AmbulatoryFigures(
        paired=len(paired),
        ambulatory_at_referral=sum(1 for p in paired if p.ambulatory_at_referral in AMBULATORY),
        ambulatory_after_treatment=sum(
            1 for p in paired if p.ambulatory_after_treatment in AMBULATORY
        ),
        improved=improved,
        unchanged=len(paired) - improved - worse,
        worse=worse,
        at_referral=dict(
            sorted(Counter(p.ambulatory_at_referral or "not recorded" for p in pathways).items())
        ),
        after_treatment=dict(
            sorted(
                Counter(p.ambulatory_after_treatment or "not recorded" for p in pathways).items()
            )
        ),
        outcomes_out_of_window=sum(p.outcomes_out_of_window for p in pathways),
    )


def _mri_yield(pathways: list[PathwayFact]) -> MriYield:
    scanned = [p for p in pathways if p.mri_scans > 0]
    scans = sum(p.mri_scans for p in scanned)
    confirmed = sum(1 for p in scanned if p.mscc_confirmed)
    return MriYield(
        pathways_scanned=len(scanned),
        mri_scans=scans,
        mscc_confirmed=confirmed,
        percent_confirmed=_percent(confirmed, len(scanned)),
        scans_per_confirmed=round(scans / confirmed, 2) if confirmed else None,
    )


def _breach(clock: ClockFact, at: datetime, zone: ZoneInfo) -> Breach:
    """How late a clock breached by ``at`` stopped, or is at ``at`` (still running)."""
    stopped = clock.stopped_at if clock.stopped_at is not None and clock.stopped_at <= at else None
    end = stopped or at
    days_late = None
    if clock.kind == "day":
        due_date = clock.due_at.astimezone(zone).date() - timedelta(days=1)
        days_late = (end.astimezone(zone).date() - due_date).days
    return Breach(
        pathway_id=clock.pathway_id,
        clock_id=clock.clock_id,
        category=clock.category,
        kind=clock.kind,
        due_at=clock.due_at,
        stopped_at=stopped,
        hours_late=round(_hours(end - clock.due_at), 2),
        days_late=days_late,
        reason=clock.reason if stopped is not None else None,
    )
