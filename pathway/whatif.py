"""What-if replay: a pathway's stored events under another ruleset version, decided without I/O.

pathway-spec.md 9.6: an administrator sees what a version would change before adopting it.
The shell loads each pathway's pinned rules and accepted events; :func:`replay` folds them, in
clinical order and one at a time, as the intake would have admitted them under a set of rules:
an event those rules refuse is listed (field and reason) and left out, as the intake would have
left it out, and the replay goes on. The letters owed come from the same effect rules as the
intake's (:func:`pathway.effects.effects_of_event`), the alerts from the same alert rules as the
deadline watch's (:func:`pathway.alerts.alerts_due`), and the figures from the same code as
``cordwatch report`` (:func:`pathway.report.build_report`). Nothing here sends or stores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pathway.alerts import AlertDue, alerts_due
from pathway.clocks import Clock, ClockStatus
from pathway.effects import effects_of_event
from pathway.engine import PathwayView, admit, sort_key
from pathway.errors import EventRejected
from pathway.events import PathwayEvent
from pathway.letters import BREACH_REPORT, breach_report_effect
from pathway.report import ClockFact, PathwayFact, PerformanceReport, build_report
from pathway.report_v2 import ExplanationFact
from pathway.ruleset import PinnedRules, Ruleset, repin


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event that a set of rules would have refused.

    Shown by pathway id, type, field and reason only: an event id is chosen by the feed and
    may carry its reference, so it stays out of the replay's output.
    """

    pathway_id: str
    event_id: str
    event_type: str
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Replay:
    """One pathway's events folded under one set of rules.

    ``view`` is None when the rules refuse its referral (nothing of the pathway would exist).
    ``letters`` maps each letter's idempotency key to its template name.
    """

    view: PathwayView | None
    refused: tuple[Refusal, ...]
    letters: dict[str, str]


def replay(
    pathway_id: str, events: Iterable[PathwayEvent], rules: PinnedRules, *, as_of: datetime
) -> Replay:
    """Admit a pathway's events one at a time, in clinical order, under ``rules``.

    Args:
        pathway_id: the internal ``PW-`` id (the letters' keys carry it).
        events: the pathway's accepted events, in any order.
        rules: the rules to replay them under (pinned or candidate).
        as_of: the moment looked at: events that happened after it are not yet known.

    Returns:
        The final view, the events refused and the letters the accepted ones owe.
    """
    recorded: list[PathwayEvent] = []
    view: PathwayView | None = None
    refused: list[Refusal] = []
    letters: dict[str, str] = {}
    for event in sorted(events, key=sort_key):
        if event.occurred_at > as_of:
            continue
        try:
            after = admit(recorded, event, rules=rules, now=as_of, current=view)
        except EventRejected as err:
            refused.append(Refusal(pathway_id, event.event_id, event.type, err.field, err.reason))
            continue
        for effect in effects_of_event(pathway_id, event, view, after):
            if effect.kind == "letter":
                letters[effect.key] = str(effect.payload.get("letter", "breach_report"))
        recorded.append(event)
        view = after
    if view is not None:
        # A clock still running past its due time owes its breach report from the deadline
        # watch (the same key as the intake's, so it is owed once).
        for clock in view.clocks:
            if clock.outcome is None and clock.status_at(as_of) is ClockStatus.BREACHED:
                effect = breach_report_effect(pathway_id, clock.id, clock.starts_at)
                letters[effect.key] = BREACH_REPORT
    return Replay(view=view, refused=tuple(refused), letters=letters)


def alerts_owed(clock: Clock, *, as_of: datetime) -> list[AlertDue]:
    """The at-risk and breach alerts a clock instance owed from its start until ``as_of``.

    The deadline watch asks :func:`pathway.alerts.alerts_due` at every sweep; a watch that
    never missed one would have asked at each warning moment and at the last moment the clock
    ran, so those are the moments asked here. Escalations depend on acknowledgements, which a
    replay cannot know, and are left out.
    """
    end = as_of if clock.stopped_at is None else min(clock.stopped_at, as_of)
    if end < clock.starts_at:
        return []
    owed: dict[tuple[str, int], AlertDue] = {}
    for moment in (*[w for w in clock.warnings if w <= end], end):
        for due in alerts_due(
            kind=clock.kind,
            due_at=clock.due_at,
            warnings=clock.warnings,
            running=True,
            at=moment,
        ):
            owed[(due.level.value, due.step)] = due
    return list(owed.values())


@dataclass(frozen=True, slots=True)
class ClockChange:
    """A clock instance whose status at ``as_of`` differs (None: it exists under one side only)."""

    pathway_id: str
    clock_id: str
    pinned: str | None
    candidate: str | None
    pinned_starts_at: datetime | None
    candidate_starts_at: datetime | None


def compare_clocks(
    pathway_id: str, pinned: Sequence[Clock], candidate: Sequence[Clock], *, as_of: datetime
) -> list[ClockChange]:
    """The clocks whose status at ``as_of`` would change, matched by id and order of start.

    The n-th instance of a clock id under one version is compared with the n-th under the
    other (a restarted clock keeps its rank); a clock started after ``as_of`` is not counted.
    """

    def by_id(clocks: Sequence[Clock]) -> dict[str, list[Clock]]:
        grouped: dict[str, list[Clock]] = {}
        for clock in sorted(clocks, key=lambda c: (c.starts_at, c.id)):
            if clock.starts_at <= as_of:
                grouped.setdefault(clock.id, []).append(clock)
        return grouped

    before, after = by_id(pinned), by_id(candidate)
    changes = []
    for clock_id in sorted(before.keys() | after.keys()):
        old, new = before.get(clock_id, []), after.get(clock_id, [])
        for rank in range(max(len(old), len(new))):
            a = old[rank] if rank < len(old) else None
            b = new[rank] if rank < len(new) else None
            status_a = a.status_at(as_of).value if a is not None else None
            status_b = b.status_at(as_of).value if b is not None else None
            if status_a != status_b:
                changes.append(
                    ClockChange(
                        pathway_id,
                        clock_id,
                        status_a,
                        status_b,
                        a.starts_at if a is not None else None,
                        b.starts_at if b is not None else None,
                    )
                )
    return changes


@dataclass(frozen=True, slots=True)
class StoredPathway:
    """What the shell loads of one pathway: its id, pinned rules and accepted events."""

    pathway_id: str
    rules: PinnedRules
    events: Sequence[PathwayEvent]


@dataclass(frozen=True, slots=True)
class Owed:
    """Alerts (by clock id and level) and letters (by template) owed under one side only."""

    alerts: dict[str, int] = field(default_factory=dict)
    """``"<clock id> <level>"`` to a count."""
    letters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeadlineFigure:
    id: str
    title: str
    pinned: float | None
    candidate: float | None
    pinned_of: tuple[int, int]
    candidate_of: tuple[int, int]


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Everything the what-if replay shows for one period and one candidate version."""

    candidate: str
    period_start: date
    period_end: date
    as_of: datetime
    pathways: int
    pinned_versions: dict[str, int]
    changes: list[ClockChange]
    refused: list[Refusal]
    local_sla_dropped: dict[str, int]
    """Clock id to the number of pathways whose local SLA the candidate does not allow."""
    only_candidate: Owed
    only_pinned: Owed
    headline: list[HeadlineFigure]
    report_pinned: PerformanceReport
    report_candidate: PerformanceReport

    def as_dict(self) -> dict[str, Any]:
        """A stable document (keys sorted by the caller's JSON encoder; lists in fixed order)."""
        return {
            "candidate": self.candidate,
            "period": {"from": self.period_start.isoformat(), "to": self.period_end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "pathways": self.pathways,
            "pinned_versions": self.pinned_versions,
            "changed_clocks": [
                {
                    "pathway_id": c.pathway_id,
                    "clock_id": c.clock_id,
                    "pinned": c.pinned,
                    "candidate": c.candidate,
                    "pinned_starts_at": _iso(c.pinned_starts_at),
                    "candidate_starts_at": _iso(c.candidate_starts_at),
                }
                for c in self.changes
            ],
            "would_be_refused": [
                {
                    "pathway_id": r.pathway_id,
                    "event_type": r.event_type,
                    "field": r.field,
                    "reason": r.reason,
                }
                for r in self.refused
            ],
            "local_sla_dropped": self.local_sla_dropped,
            "owed_only_under_candidate": {
                "alerts": self.only_candidate.alerts,
                "letters": self.only_candidate.letters,
            },
            "owed_only_under_pinned": {
                "alerts": self.only_pinned.alerts,
                "letters": self.only_pinned.letters,
            },
            "headline": [
                {
                    "id": h.id,
                    "title": h.title,
                    "pinned": {
                        "percent": h.pinned,
                        "numerator": h.pinned_of[0],
                        "denominator": h.pinned_of[1],
                    },
                    "candidate": {
                        "percent": h.candidate,
                        "numerator": h.candidate_of[0],
                        "denominator": h.candidate_of[1],
                    },
                }
                for h in self.headline
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _facts(pathway_id: str, view: PathwayView, begin: datetime, end: datetime) -> list[ClockFact]:
    return [
        ClockFact(
            pathway_id,
            view.category.value,
            c.id,
            c.kind,
            c.starts_at,
            c.due_at,
            c.stopped_at,
            c.outcome.value if c.outcome is not None else ClockStatus.RUNNING.value,
            c.reason,
        )
        for c in view.clocks
        if begin <= c.starts_at < end
    ]


def _explanations(pathway_id: str, view: PathwayView) -> list[ExplanationFact]:
    """The breach explanations a side accepted (one the candidate refuses is not counted)."""
    return [
        ExplanationFact(
            pathway_id,
            m.event_id,
            m.at,
            m.details["clock"],
            m.details["reason"],
            m.details["stage"],
            m.details.get("primary", True),
            m.details.get("supersedes"),
        )
        for m in view.milestones
        if m.type == "breach.explained"
    ]


def _alert_keys(
    pathway_id: str, view: PathwayView | None, as_of: datetime
) -> dict[tuple[Any, ...], str]:
    if view is None:
        return {}
    return {
        (pathway_id, c.id, c.starts_at, due.level.value, due.step): f"{c.id} {due.level.value}"
        for c in view.clocks
        for due in alerts_owed(c, as_of=as_of)
    }


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def what_if(
    pathways: Iterable[StoredPathway],
    pathway_facts: list[PathwayFact],
    *,
    candidate: Ruleset,
    period_start: date,
    period_end: date,
    begin: datetime,
    end: datetime,
    as_of: datetime,
    timezone: str,
) -> WhatIf:
    """Replay every pathway under its pinned rules and under ``candidate``, and compare.

    Args:
        pathways: the pathways referred in the period, with their pinned rules and events.
        pathway_facts: their report facts (as ``cordwatch report`` loads them).
        candidate: the ruleset version an administrator considers adopting.
        period_start: first day of the period (service time zone).
        period_end: last day, inclusive.
        begin: the first instant of the period.
        end: the first instant after it (a clock belongs to the period its start falls in).
        as_of: the moment looked at.
        timezone: the service time zone (the report's weeks).
    """
    changes: list[ClockChange] = []
    refused: list[Refusal] = []
    dropped: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    facts_pinned: list[ClockFact] = []
    facts_candidate: list[ClockFact] = []
    explained_pinned: list[ExplanationFact] = []
    explained_candidate: list[ExplanationFact] = []
    # Compared pathway by pathway (every key names its pathway), so only counts are kept.
    alerts_a: Counter[str] = Counter()
    alerts_b: Counter[str] = Counter()
    letters_a: Counter[str] = Counter()
    letters_b: Counter[str] = Counter()
    count = 0
    for stored in pathways:
        count += 1
        versions[stored.rules.label] += 1
        rules, left = repin(stored.rules, candidate)
        dropped.update(left)
        a = replay(stored.pathway_id, stored.events, stored.rules, as_of=as_of)
        b = replay(stored.pathway_id, stored.events, rules, as_of=as_of)
        refused.extend(b.refused)
        clocks_a = a.view.clocks if a.view is not None else ()
        clocks_b = b.view.clocks if b.view is not None else ()
        changes.extend(compare_clocks(stored.pathway_id, clocks_a, clocks_b, as_of=as_of))
        if a.view is not None:
            facts_pinned.extend(_facts(stored.pathway_id, a.view, begin, end))
            explained_pinned.extend(_explanations(stored.pathway_id, a.view))
        if b.view is not None:
            facts_candidate.extend(_facts(stored.pathway_id, b.view, begin, end))
            explained_candidate.extend(_explanations(stored.pathway_id, b.view))
        owed_a = _alert_keys(stored.pathway_id, a.view, as_of)
        owed_b = _alert_keys(stored.pathway_id, b.view, as_of)
        alerts_a.update(v for k, v in owed_a.items() if k not in owed_b)
        alerts_b.update(v for k, v in owed_b.items() if k not in owed_a)
        letters_a.update(v for k, v in a.letters.items() if k not in b.letters)
        letters_b.update(v for k, v in b.letters.items() if k not in a.letters)
    report_a, report_b = (
        build_report(
            facts,
            pathway_facts,
            period_start=period_start,
            period_end=period_end,
            as_of=as_of,
            timezone=timezone,
            explanations=explained,
        )
        for facts, explained in (
            (facts_pinned, explained_pinned),
            (facts_candidate, explained_candidate),
        )
    )
    return WhatIf(
        candidate=f"{candidate.id}.v{candidate.version}",
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        pathways=count,
        pinned_versions=dict(sorted(versions.items())),
        changes=changes,
        refused=refused,
        local_sla_dropped=dict(sorted(dropped.items())),
        only_candidate=Owed(alerts=_sorted(alerts_b), letters=_sorted(letters_b)),
        only_pinned=Owed(alerts=_sorted(alerts_a), letters=_sorted(letters_a)),
        headline=headline(report_a, report_b),
        report_pinned=report_a,
        report_candidate=report_b,
    )


def headline(pinned: PerformanceReport, candidate: PerformanceReport) -> list[HeadlineFigure]:
    """The report's headline measures (its KPIs, always listed in one order) side by side."""
    return [
        HeadlineFigure(
            a.id,
            a.title,
            a.percent,
            b.percent,
            (a.numerator, a.denominator),
            (b.numerator, b.denominator),
        )
        for a, b in zip(pinned.kpis, candidate.kpis, strict=True)
    ]
