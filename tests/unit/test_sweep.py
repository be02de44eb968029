"""What one sweep owes (``pathway.sweep.plan_sweep``), and when a queued alert is moot at delivery
(``pathway.recheck.alert_moot``), without a database.

STEROID-MSCC (4 h from referral at T0): warnings at 2 h (50 %) and 3 h (75 %), due at 4 h;
escalation every 30 min (ruleset version 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from pathway.alerts import NEVER, AlertLevel
from pathway.letters import breach_report_key
from pathway.recheck import alert_moot
from pathway.safety import safety_escalation_key, safety_key
from pathway.sweep import (
    BreachState,
    OpenSafetyAlert,
    OwedAlert,
    RunningClock,
    clock_instance,
    escalation_minutes,
    late_pathways,
    plan_sweep,
)
from tests.factories import RULES, T0, H

M = timedelta(minutes=1)
PW = "PW-AAAAAA"


def steroid_clock(row_id: int = 1, pathway_id: str = PW) -> RunningClock:
    return RunningClock(
        row_id=row_id,
        pathway_id=pathway_id,
        clock_id="STEROID-MSCC",
        kind="hour",
        starts_at=T0,
        due_at=T0 + 4 * H,
        warnings=(T0 + 2 * H, T0 + 3 * H),
        category="suspected_mscc",
        rules=RULES,
    )


def safety_alert(*, payload_category: bool = True) -> OpenSafetyAlert:
    payload = {"rule": "BIOPSY-GUARD", "event_type": "biopsy.requested", "occurred_at": "x"}
    if payload_category:
        payload["category"] = "suspected_spinal_metastases"
    return OpenSafetyAlert(
        alert_id="AL-SAFETY01",
        key=safety_key(PW, "ev-7"),
        pathway_id=PW,
        created_at=T0,
        payload=payload,
        category="suspected_mscc",
        rules=RULES,
    )


class TestClockAlerts:
    def test_a_quiet_clock_owes_nothing_and_is_next_read_at_its_first_warning(self) -> None:
        plan = plan_sweep([steroid_clock()], at=T0 + H, breaches={})

        assert (plan.alerts, plan.reports, plan.clocks_at_risk, plan.clocks_breached) == (
            [],
            [],
            0,
            0,
        )
        assert plan.moves == [(1, T0 + 2 * H)]

    def test_a_clock_past_its_first_warning_owes_one_at_risk_alert(self) -> None:
        plan = plan_sweep([steroid_clock()], at=T0 + 2 * H + M, breaches={})

        [owed] = plan.alerts
        assert (owed.level, owed.step, owed.due_at, owed.clock_starts_at) == (
            AlertLevel.AT_RISK,
            1,
            T0 + 4 * H,
            T0,
        )
        assert owed.key == f"alert:{PW}:STEROID-MSCC:20261102T090000Z:at_risk:1"
        assert dict(owed.extra) == {
            "clock_starts_at": T0.isoformat(),
            "clock_title": "Steroids within 4 h",
            "kind": "hour",
        }
        assert (plan.clocks_at_risk, plan.clocks_breached, plan.reports) == (1, 0, [])
        assert plan.moves == [(1, T0 + 3 * H)]

    def test_a_breach_owes_its_alert_and_governance_its_breach_report(self) -> None:
        plan = plan_sweep([steroid_clock()], at=T0 + 4 * H + M, breaches={})

        assert [(a.level, a.step) for a in plan.alerts] == [(AlertLevel.BREACH, 1)]
        assert [r.key for r in plan.reports] == [breach_report_key(PW, "STEROID-MSCC", T0)]
        assert (plan.clocks_at_risk, plan.clocks_breached) == (0, 1)
        # Raised now: the first escalation is owed one interval later.
        assert plan.moves == [(1, T0 + 4 * H + M + 30 * M)]

    def test_an_unacknowledged_breach_escalates_and_an_acknowledged_one_owes_nothing_more(
        self,
    ) -> None:
        raised = T0 + 4 * H
        instance = clock_instance(PW, "STEROID-MSCC", T0)
        at = raised + 31 * M

        open_breach = plan_sweep(
            [steroid_clock()], at=at, breaches={instance: BreachState(raised_at=raised)}
        )
        acknowledged = plan_sweep(
            [steroid_clock()],
            at=at,
            breaches={instance: BreachState(raised_at=raised, acknowledged=True)},
        )

        assert [(a.level, a.step) for a in open_breach.alerts] == [
            (AlertLevel.BREACH, 1),
            (AlertLevel.ESCALATION, 1),
        ]
        assert open_breach.moves == [(1, raised + 60 * M)]
        assert [(a.level, a.step) for a in acknowledged.alerts] == [(AlertLevel.BREACH, 1)]
        assert acknowledged.moves == [(1, NEVER)]

    def test_the_service_escalation_interval_replaces_the_rulesets(self) -> None:
        raised = T0 + 4 * H
        breaches = {clock_instance(PW, "STEROID-MSCC", T0): BreachState(raised_at=raised)}

        plan = plan_sweep(
            [steroid_clock()], at=raised + 11 * M, breaches=breaches, escalation={"hour_clocks": 10}
        )

        assert [(a.level, a.step) for a in plan.alerts][-1] == (AlertLevel.ESCALATION, 1)
        assert escalation_minutes(RULES, {}) is RULES.ruleset.escalation_minutes
        assert escalation_minutes(RULES, {"day_clocks": 60}).day_clocks == 60

    def test_only_pathways_with_a_late_clock_need_their_breach_state(self) -> None:
        clocks = [steroid_clock(1, "PW-AAAAAA"), steroid_clock(2, "PW-BBBBBB")]
        early = [clocks[0]]

        assert late_pathways(clocks, T0 + 4 * H) == ["PW-AAAAAA", "PW-BBBBBB"]
        assert late_pathways(early, T0 + 4 * H - M) == []

    def test_an_owed_alert_gets_its_id_and_its_levels_recipients(self) -> None:
        [owed] = plan_sweep([steroid_clock()], at=T0 + 4 * H + M, breaches={}).alerts

        queued = owed.with_id("AL-23456789")

        assert queued.as_dict() == {
            "key": owed.key,
            "alert_id": "AL-23456789",
            "pathway_id": PW,
            "clock_id": "STEROID-MSCC",
            "level": "breach",
            "step": 1,
            "due_at": (T0 + 4 * H).isoformat(),
            "category": "suspected_mscc",
            "tags": ["coordinator", "oncall-consultant"],
        }


class TestSafetyEscalations:
    def test_an_unacknowledged_safety_alert_escalates_every_interval_to_the_service_lead(
        self,
    ) -> None:
        plan = plan_sweep([], at=T0 + 61 * M, breaches={}, safety_alerts=[safety_alert()])

        [owed] = plan.alerts
        assert owed == OwedAlert(
            key=safety_escalation_key(PW, "ev-7", 2),
            pathway_id=PW,
            clock_id="",
            level=AlertLevel.ESCALATION,
            step=2,
            due_at=T0 + 60 * M,
            category="suspected_spinal_metastases",
            clock_starts_at=None,
            extra={
                "safety_alert_id": "AL-SAFETY01",
                "rule": "BIOPSY-GUARD",
                "event_type": "biopsy.requested",
                "occurred_at": "x",
            },
        )
        assert owed.with_id("AL-X").tags == ("service-lead",)
        assert (plan.moves, plan.reports) == ([], [])

    def test_a_safety_alert_within_its_first_interval_owes_nothing_yet(self) -> None:
        assert (
            plan_sweep([], at=T0 + 29 * M, breaches={}, safety_alerts=[safety_alert()]).alerts == []
        )

    def test_an_acknowledged_safety_alert_owes_no_escalation(self) -> None:
        plan = plan_sweep(
            [],
            at=T0 + 5 * H,
            breaches={},
            safety_alerts=[safety_alert()],
            safety_acknowledged={(PW, "ev-7")},
        )

        assert plan.alerts == []

    def test_a_payload_without_category_takes_the_pathways(self) -> None:
        plan = plan_sweep(
            [], at=T0 + 31 * M, breaches={}, safety_alerts=[safety_alert(payload_category=False)]
        )

        assert [a.category for a in plan.alerts] == ["suspected_mscc"]

    def test_clock_alerts_come_before_safety_escalations(self) -> None:
        plan = plan_sweep(
            [steroid_clock()], at=T0 + 4 * H + M, breaches={}, safety_alerts=[safety_alert()]
        )

        assert [a.level for a in plan.alerts] == [AlertLevel.BREACH, AlertLevel.ESCALATION]
        assert plan.alerts[1].clock_id == ""


@dataclass
class Facts:
    """The facts a delivery re-checks, and which of them the rule asked for."""

    safety: bool = False
    running: bool = True
    breach: bool = False
    asked: list[str] = field(default_factory=list)

    def safety_acknowledged(self) -> bool:
        self.asked.append("safety")
        return self.safety

    def clock_running(self) -> bool:
        self.asked.append("clock")
        return self.running

    def breach_acknowledged(self) -> bool:
        self.asked.append("breach")
        return self.breach


class TestRecheck:
    @pytest.mark.parametrize("level", ["heartbeat", "safety"])
    def test_a_heartbeat_or_a_safety_alert_is_never_cancelled(self, level: str) -> None:
        facts = Facts(running=False, safety=True)

        assert alert_moot(level, has_clock=False, facts=facts) is None
        assert facts.asked == []

    @pytest.mark.parametrize(
        ("acknowledged", "reason"), [(True, "the safety alert was acknowledged"), (False, None)]
    )
    def test_a_safety_escalation_stops_only_once_acknowledged(
        self, acknowledged: bool, reason: str | None
    ) -> None:
        facts = Facts(safety=acknowledged, running=False)

        assert alert_moot("escalation", has_clock=False, facts=facts) == reason
        assert facts.asked == ["safety"]

    @pytest.mark.parametrize("level", ["at_risk", "breach", "escalation"])
    def test_a_clock_alert_is_moot_once_its_clock_stopped(self, level: str) -> None:
        facts = Facts(running=False, breach=True)

        assert alert_moot(level, has_clock=True, facts=facts) == "the clock has stopped"
        assert facts.asked == ["clock"]

    @pytest.mark.parametrize(("level", "asked"), [("at_risk", ["clock"]), ("breach", ["clock"])])
    def test_an_acknowledged_breach_does_not_cancel_its_breach_alert_or_a_warning(
        self, level: str, asked: list[str]
    ) -> None:
        facts = Facts(breach=True)

        assert alert_moot(level, has_clock=True, facts=facts) is None
        assert facts.asked == asked

    @pytest.mark.parametrize(
        ("acknowledged", "reason"), [(True, "the breach was acknowledged"), (False, None)]
    )
    def test_an_escalation_stops_once_its_breach_is_acknowledged(
        self, acknowledged: bool, reason: str | None
    ) -> None:
        facts = Facts(breach=acknowledged)

        assert alert_moot("escalation", has_clock=True, facts=facts) == reason
        assert facts.asked == ["clock", "breach"]
