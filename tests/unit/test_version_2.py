"""Ruleset version 2 beyond its clocks (pathway-spec.md section 9): what each version refuses,
the closing rule, BIOPSY-GUARD, the haematology advisory, breach explanations and outcomes.

Clocks are in ``test_clock_rules_v2.py``; this file holds one test per behaviour.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pathway.alerts import AlertLevel, escalation_due, escalation_interval
from pathway.clocks import ClockStatus
from pathway.display import cautions, safe_details
from pathway.effects import effects_of_event
from pathway.engine import BIOPSY_GUARD, PathwayView, admit, evaluate
from pathway.errors import EventRejected, RulesetError
from pathway.events import BREACH_ROLL_UP, BreachReason, PathwayEvent
from pathway.outbox import BACKFILL_GRACE, IntakeMoment
from pathway.ruleset import PinnedRules, parse_ruleset, pin_rules
from pathway.safety import (
    SAFETY_ESCALATION_KIND,
    safety_alert_context,
    safety_alerts,
    safety_escalation_key,
    safety_event_of,
    safety_key,
)
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    D,
    H,
    biopsy_performed,
    biopsy_requested,
    breach_explained,
    closed,
    coordinator_contacted,
    cwt_upgraded,
    envelope_json,
    event,
    imaging_performed,
    imaging_reported,
    mdt_decided,
    mscc_referral,
    outcome_recorded,
    parse,
    specialist_referred,
    specialist_reviewed,
    steroids_started,
    steroids_withheld,
    treatment_started,
)

NOW = T0 + 200 * D
REPORTED = T0 + 4 * H
M = timedelta(minutes=1)


def _refused(
    recorded: list[PathwayEvent], candidate: PathwayEvent, rules: PinnedRules = RULES_V2
) -> EventRejected:
    with pytest.raises(EventRejected) as rejected:
        admit(recorded, candidate, rules=rules, now=NOW)
    return rejected.value


def _scanned() -> list[PathwayEvent]:
    return [mscc_referral(), imaging_performed(T0 + 2 * H)]


def _primary(rules_events: list[PathwayEvent] | None = None) -> list[PathwayEvent]:
    """A suspected primary bone tumour reported at T0+4 h (no compression)."""
    return [
        *_scanned(),
        imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False),
        *(rules_events or []),
    ]


def _with(rules: PinnedRules, **update: Any) -> PinnedRules:
    return pin_rules(rules.ruleset.model_copy(update=update), timezone="Europe/London")


class TestWhatEachVersionAccepts:
    @pytest.mark.parametrize(
        "candidate",
        [
            specialist_referred(T0 + 3 * H),
            specialist_reviewed(T0 + 3 * H),
            cwt_upgraded(T0 + 3 * H),
            breach_explained(T0 + 3 * H, "COORD-MSCC"),
        ],
        ids=lambda e: e.type,
    )
    def test_version_1_refuses_the_event_types_of_version_2_naming_the_type(
        self, candidate: PathwayEvent
    ) -> None:
        rejected = _refused([mscc_referral()], candidate, RULES)

        assert rejected.field == "type"
        assert "nice-ng234-2023.v1" in rejected.reason

    @pytest.mark.parametrize(
        ("candidate", "field"),
        [
            pytest.param(
                imaging_reported(REPORTED, "mscc", cord_compression=True),
                "data.cord_compression",
                id="cord_compression",
            ),
            pytest.param(
                imaging_reported(REPORTED, "mscc", suspected_histology="lymphoma"),
                "data.suspected_histology",
                id="suspected_histology",
            ),
            pytest.param(
                biopsy_requested(REPORTED, site_agreed_with_treating_centre=True),
                "data.site_agreed_with_treating_centre",
                id="biopsy.requested site agreed",
            ),
            pytest.param(
                biopsy_performed(REPORTED, site_agreed_with_treating_centre=False),
                "data.site_agreed_with_treating_centre",
                id="biopsy.performed site agreed",
            ),
            pytest.param(
                outcome_recorded(REPORTED, asia_grade="D"), "data.asia_grade", id="asia_grade"
            ),
            pytest.param(
                outcome_recorded(REPORTED, bladder="continent"), "data.bladder", id="bladder"
            ),
            pytest.param(
                outcome_recorded(REPORTED, supersedes="x-1"), "data.supersedes", id="supersedes"
            ),
        ],
    )
    def test_version_1_refuses_the_fields_of_version_2_naming_the_field(
        self, candidate: PathwayEvent, field: str
    ) -> None:
        assert _refused(_scanned(), candidate, RULES).field == field

    @pytest.mark.parametrize(
        "finding",
        [
            "suspected_primary_bone_tumour",
            "suspected_haematological_malignancy",
            "indeterminate_lesion",
            "no_malignant_spinal_lesion",
        ],
    )
    def test_version_1_refuses_the_findings_of_version_2(self, finding: str) -> None:
        rejected = _refused(_scanned(), imaging_reported(REPORTED, finding), RULES)

        assert rejected.field == "data.finding"

    def test_version_2_refuses_no_spinal_metastases_so_feeds_are_remapped(self) -> None:
        rejected = _refused(_scanned(), imaging_reported(REPORTED, "no_spinal_metastases"))

        assert rejected.field == "data.finding"
        assert "no_malignant_spinal_lesion" in rejected.reason

    @pytest.mark.parametrize(
        "finding",
        [
            "spinal_metastases",
            "suspected_primary_bone_tumour",
            "suspected_haematological_malignancy",
            "indeterminate_lesion",
        ],
    )
    def test_version_2_needs_cord_compression_for_a_lesion_other_than_mscc(
        self, finding: str
    ) -> None:
        assert _refused(_scanned(), imaging_reported(REPORTED, finding)).field == (
            "data.cord_compression"
        )

    @pytest.mark.parametrize(
        ("finding", "compression"),
        [("mscc", False), ("no_malignant_spinal_lesion", True)],
    )
    def test_version_2_refuses_a_compression_that_contradicts_the_finding(
        self, finding: str, compression: bool
    ) -> None:
        candidate = imaging_reported(REPORTED, finding, cord_compression=compression)

        assert _refused(_scanned(), candidate).field == "data.cord_compression"

    @pytest.mark.parametrize(
        "report",
        [
            imaging_reported(REPORTED, "mscc"),
            imaging_reported(REPORTED, "mscc", cord_compression=True),
            imaging_reported(REPORTED, "no_malignant_spinal_lesion"),
            imaging_reported(REPORTED, "no_malignant_spinal_lesion", cord_compression=False),
        ],
    )
    def test_version_2_implies_compression_for_mscc_and_none_for_no_lesion(
        self, report: PathwayEvent
    ) -> None:
        view = admit(_scanned(), report, rules=RULES_V2, now=NOW)

        assert view.milestones[-1].type == "imaging.reported"

    def test_a_closed_version_2_pathway_names_what_it_still_accepts(self) -> None:
        rejected = _refused([mscc_referral(), closed(T0 + H)], coordinator_contacted(T0 + 2 * H))

        assert rejected.field == "type"
        assert "outcome.recorded, alert.acknowledged and breach.explained" in rejected.reason

    def test_a_closed_pathway_of_a_ruleset_accepting_one_type_names_it(self) -> None:
        rules = _with(RULES_V2, accepted_after_closing=("alert.acknowledged",))

        rejected = _refused(
            [mscc_referral(), closed(T0 + H)], coordinator_contacted(T0 + 2 * H), rules
        )

        assert "only alert.acknowledged are accepted" in rejected.reason


class TestRuledOut:
    def test_no_malignant_lesion_closes_as_ruled_out_and_flags_steroids(self) -> None:
        view = evaluate(
            [
                mscc_referral(),
                steroids_started(T0 + H),
                imaging_performed(T0 + 2 * H),
                imaging_reported(REPORTED, "no_malignant_spinal_lesion"),
            ],
            RULES_V2,
        )

        assert view.closed_reason == "ruled_out"
        assert view.steroids_to_stop

    def test_a_suspected_primary_bone_tumour_is_never_closed_by_a_later_report(self) -> None:
        events = _primary([imaging_reported(REPORTED + H, "no_malignant_spinal_lesion")])

        view = evaluate(events, RULES_V2)

        assert not view.is_closed
        assert view.milestones[-1].details["finding"] == "no_malignant_spinal_lesion"

    @pytest.mark.parametrize(
        ("finding", "histology"),
        [
            ("suspected_primary_bone_tumour", None),
            ("indeterminate_lesion", None),
            ("indeterminate_lesion", "chordoma"),
            ("suspected_haematological_malignancy", "lymphoma"),
        ],
    )
    def test_a_lesion_under_specialist_review_is_never_closed_as_ruled_out_by_hand(
        self, finding: str, histology: str | None
    ) -> None:
        extra = {} if histology is None else {"suspected_histology": histology}
        recorded = [
            *_scanned(),
            imaging_reported(REPORTED, finding, cord_compression=False, **extra),
        ]

        rejected = _refused(recorded, closed(REPORTED + H, "ruled_out"))

        assert rejected.field == "data.reason"

    @pytest.mark.parametrize(
        ("finding", "advice"),
        [
            ("suspected_primary_bone_tumour", "not_primary_bone_tumour"),
            ("suspected_haematological_malignancy", "not_haematological_malignancy"),
        ],
    )
    def test_ruled_out_by_hand_once_the_specialist_advises_it(
        self, finding: str, advice: str
    ) -> None:
        recorded = [
            *_scanned(),
            imaging_reported(REPORTED, finding, cord_compression=False),
            specialist_reviewed(REPORTED + D, "bone_sarcoma_centre", advice),
        ]

        view = admit(recorded, closed(REPORTED + 2 * D, "ruled_out"), rules=RULES_V2, now=NOW)

        assert view.closed_reason == "ruled_out"

    def test_a_new_suspicion_after_the_advice_blocks_ruled_out_again(self) -> None:
        recorded = [
            *_primary(
                [
                    specialist_reviewed(REPORTED + D, "spinal_surgery", "not_primary_bone_tumour"),
                    imaging_reported(
                        REPORTED + 2 * D, "indeterminate_lesion", cord_compression=False
                    ),
                ]
            ),
        ]

        assert _refused(recorded, closed(REPORTED + 3 * D, "ruled_out")).field == "data.reason"

    def test_a_lesion_under_review_may_still_close_for_another_reason(self) -> None:
        view = admit(_primary(), closed(REPORTED + H, "died"), rules=RULES_V2, now=NOW)

        assert view.closed_reason == "died"


class TestBiopsyGuard:
    @pytest.mark.parametrize(
        "candidate",
        [
            biopsy_requested(REPORTED + H),
            biopsy_performed(REPORTED + H),
            biopsy_requested(REPORTED + H, site_agreed_with_treating_centre=False),
            treatment_started(REPORTED + H, "surgery", "cord compression, theatre free"),
        ],
        ids=["biopsy requested", "biopsy performed", "site not agreed", "surgery"],
    )
    def test_biopsy_guard_fires_before_the_bone_sarcoma_centre_reviews(
        self, candidate: PathwayEvent
    ) -> None:
        view = admit(_primary(), candidate, rules=RULES_V2, now=NOW)

        assert [(f.code, f.event_id) for f in view.safety] == [(BIOPSY_GUARD, candidate.event_id)]

    def test_biopsy_guard_fires_on_an_indeterminate_lesion(self) -> None:
        recorded = [
            *_scanned(),
            imaging_reported(REPORTED, "indeterminate_lesion", cord_compression=False),
        ]

        view = admit(recorded, biopsy_performed(REPORTED + H), rules=RULES_V2, now=NOW)

        assert [f.code for f in view.safety] == [BIOPSY_GUARD]

    @pytest.mark.parametrize(
        ("recorded", "candidate"),
        [
            pytest.param(
                _primary(),
                biopsy_requested(REPORTED + H, site_agreed_with_treating_centre=True),
                id="site agreed with the treating centre",
            ),
            pytest.param(
                _primary([specialist_reviewed(REPORTED + H, advice="biopsy_locally_as_agreed")]),
                biopsy_performed(REPORTED + 2 * H),
                id="after the bone sarcoma centre's review",
            ),
            pytest.param(
                _primary(
                    [specialist_reviewed(REPORTED + H, "spinal_surgery", "not_primary_bone_tumour")]
                ),
                biopsy_performed(REPORTED + 2 * H),
                id="after advice of not a primary bone tumour",
            ),
            pytest.param(
                [*_scanned(), imaging_reported(REPORTED, "mscc")],
                biopsy_performed(REPORTED + H),
                id="no primary bone tumour suspected",
            ),
            pytest.param(
                _primary([mdt_decided(REPORTED + H, "radiotherapy")]),
                treatment_started(REPORTED + 2 * H, "radiotherapy"),
                id="radiotherapy is not surgery",
            ),
        ],
    )
    def test_biopsy_guard_stays_quiet(
        self, recorded: list[PathwayEvent], candidate: PathwayEvent
    ) -> None:
        view = admit(recorded, candidate, rules=RULES_V2, now=NOW)

        assert view.safety == ()

    def test_version_1_has_no_biopsy_guard(self) -> None:
        recorded = [*_scanned(), imaging_reported(REPORTED, "spinal_metastases")]

        view = admit(recorded, biopsy_performed(REPORTED + H), rules=RULES, now=NOW)

        assert view.safety == ()

    def test_biopsy_guard_reject_refuses_the_request_naming_the_field(self) -> None:
        rules = _with(RULES_V2, biopsy_guard="reject")

        rejected = _refused(_primary(), biopsy_requested(REPORTED + H), rules)

        assert rejected.field == "data.site_agreed_with_treating_centre"

    def test_biopsy_guard_reject_never_refuses_a_biopsy_performed(self) -> None:
        rules = _with(RULES_V2, biopsy_guard="reject")

        view = admit(_primary(), biopsy_performed(REPORTED + H), rules=rules, now=NOW)

        assert [f.code for f in view.safety] == [BIOPSY_GUARD]

    def test_biopsy_guard_reject_accepts_a_request_at_the_agreed_site(self) -> None:
        rules = _with(RULES_V2, biopsy_guard="reject")
        candidate = biopsy_requested(REPORTED + H, site_agreed_with_treating_centre=True)

        view = admit(_primary(), candidate, rules=rules, now=NOW)

        assert view.safety == ()

    def test_the_safety_alert_effect_is_keyed_by_the_event_and_carries_codes_only(self) -> None:
        candidate = biopsy_performed(REPORTED + H)
        before = evaluate(_primary(), RULES_V2)
        after = admit(_primary(), candidate, rules=RULES_V2, now=NOW, current=before)

        effects = safety_alerts("PW-ABC123", candidate, before, after)

        assert [(e.kind, e.key) for e in effects] == [
            ("alert", f"alert:safety:PW-ABC123:{candidate.event_id}")
        ]
        assert effects[0].payload == {
            "level": "safety",
            "pathway_id": "PW-ABC123",
            "category": "suspected_mscc",
            "event_id": candidate.event_id,
            "event_type": "biopsy.performed",
            "occurred_at": (REPORTED + H).isoformat(),
            "rule": BIOPSY_GUARD,
            "recipients": ["coordinator", "oncall-consultant"],
        }
        assert safety_alerts("PW-ABC123", _primary()[-1], None, before) == []

    def test_the_safety_alert_is_registered_with_the_intakes_effect_rules(self) -> None:
        candidate = treatment_started(REPORTED + H, "surgery", "cord compression, theatre free")
        before = evaluate(_primary(), RULES_V2)
        after = admit(_primary(), candidate, rules=RULES_V2, now=NOW, current=before)

        effects = effects_of_event("PW-ABC123", candidate, before, after)

        assert [e.key for e in effects if e.kind == "alert"] == [
            f"alert:safety:PW-ABC123:{candidate.event_id}"
        ]

    @pytest.mark.parametrize(
        ("age", "backfill", "pages"),
        [
            (2 * H, True, False),
            (BACKFILL_GRACE - timedelta(minutes=1), True, True),
            (2 * H, False, True),
        ],
        ids=["history older than the grace", "backfill within the grace", "live, however late"],
    )
    def test_a_backfilled_historical_biopsy_owes_no_page_but_stays_on_the_view(
        self, age: timedelta, backfill: bool, pages: bool
    ) -> None:
        candidate = biopsy_performed(REPORTED + H)
        before = evaluate(_primary(), RULES_V2)
        after = admit(_primary(), candidate, rules=RULES_V2, now=NOW, current=before)
        moment = IntakeMoment(now=candidate.occurred_at + age, backfill=backfill)

        effects = safety_alerts("PW-ABC123", candidate, before, after, moment)

        assert len(effects) == (1 if pages else 0)
        assert [f.code for f in after.safety] == [BIOPSY_GUARD]

    def test_a_version_1_pathway_owes_no_safety_alert(self) -> None:
        recorded = [*_scanned(), imaging_reported(REPORTED, "spinal_metastases")]
        candidate = biopsy_performed(REPORTED + H)
        after = admit(recorded, candidate, rules=RULES, now=NOW)

        assert safety_alerts("PW-ABC123", candidate, None, after) == []


class TestSafetyAlertKeysAndWording:
    @pytest.mark.parametrize("event_id", ["bx-1", "a:escalation:1", "x:1:y"])
    def test_every_key_names_its_pathway_and_event_and_no_other_alerts(self, event_id: str) -> None:
        keys = [safety_key("PW-ABC123", event_id)] + [
            safety_escalation_key("PW-ABC123", event_id, step) for step in (1, 2, 12)
        ]

        assert {safety_event_of(key) for key in keys} == {("PW-ABC123", event_id)}
        assert safety_key("PW-ABC123", f"{event_id}:escalation:1") not in keys

    def test_a_key_of_another_alert_is_not_a_safety_key(self) -> None:
        with pytest.raises(ValueError, match="not a safety alert key"):
            safety_event_of("alert:PW-ABC123:SURGERY:20261120T100000Z:escalation:1")

    def test_a_safety_alert_escalates_each_hour_clock_interval_from_when_it_was_raised(
        self,
    ) -> None:
        raised = REPORTED + H
        every = escalation_interval(SAFETY_ESCALATION_KIND, RULES_V2.ruleset.escalation_minutes)

        owed = [
            [(d.level, d.step) for d in escalation_due(raised_at=raised, at=at, every=every)]
            for at in (raised + 29 * M, raised + 30 * M, raised + 95 * M)
        ]

        assert every == timedelta(minutes=30)
        assert owed == [[], [(AlertLevel.ESCALATION, 1)], [(AlertLevel.ESCALATION, 3)]]

    def test_the_wording_says_the_rule_the_event_and_what_to_do_with_ids_only(self) -> None:
        context = safety_alert_context(
            alert_id="AL-ESC",
            level=AlertLevel.ESCALATION,
            step=2,
            safety_alert_id="AL-SAFE",
            pathway_id="PW-ABC123",
            rule=BIOPSY_GUARD,
            event_type="treatment.started",
            occurred_at=REPORTED,
            zone=ZoneInfo("Europe/London"),
            ui_url="http://prefect.example.org/",
        )

        assert context.as_dict() == {
            "alert_id": "AL-ESC",
            "level": "escalation",
            "step": 2,
            "escalation": True,
            "safety_alert_id": "AL-SAFE",
            "pathway_id": "PW-ABC123",
            "rule": BIOPSY_GUARD,
            "rule_words": "a primary bone tumour is suspected and the bone sarcoma centre has "
            "not reviewed it",
            "event_type": "treatment.started",
            "event_words": "surgery started",
            "occurred_local": REPORTED.astimezone(ZoneInfo("Europe/London")).strftime(
                "%a %d %b %H:%M %Z"
            ),
            "advice": "Do not biopsy or operate locally before the bone sarcoma centre's review.",
            "link": "http://prefect.example.org/runs?tag=pathway:PW-ABC123",
            "ack_command": "cordwatch ack AL-ESC --by NAME",
        }


class TestHaematologyAdvisory:
    def _haem(self, *more: PathwayEvent) -> PathwayView:
        return evaluate(
            [
                *_scanned(),
                imaging_reported(
                    REPORTED, "suspected_haematological_malignancy", cord_compression=True
                ),
                *more,
            ],
            RULES_V2,
        )

    def test_a_haematological_lesion_without_steroids_raises_the_advisory(self) -> None:
        view = self._haem()

        assert view.haematology_advisory
        assert any(c.id == "STEROID-MSCC" for c in view.clocks)

    @pytest.mark.parametrize(
        "more",
        [
            steroids_started(REPORTED + H),
            steroids_withheld(REPORTED + H, "suspected lymphoma"),
            specialist_reviewed(REPORTED + H, "haematology", "not_haematological_malignancy"),
            closed(REPORTED + H, "transferred"),
        ],
        ids=["steroids started", "steroids withheld", "not haematological", "closed"],
    )
    def test_the_advisory_ends(self, more: PathwayEvent) -> None:
        assert not self._haem(more).haematology_advisory

    def test_no_advisory_on_other_lesions(self) -> None:
        assert not evaluate(_primary(), RULES_V2).haematology_advisory


class TestCautions:
    """What the show view and the board form put first (section 9.3, E4)."""

    def test_a_primary_tumour_before_review_and_a_local_biopsy_are_both_cautioned(self) -> None:
        biopsy = biopsy_requested(REPORTED + H)
        view = admit(_primary(), biopsy, rules=RULES_V2, now=NOW)

        lines = cautions(view)

        assert view.primary_tumour_before_review
        assert lines[0].startswith("Primary bone tumour suspected, not yet reviewed")
        assert lines[1].startswith("BIOPSY-GUARD: a biopsy was requested before")
        assert biopsy.event_id in lines[1]

    def test_the_centre_s_review_ends_the_standing_caution_but_not_the_record(self) -> None:
        view = evaluate(
            _primary(
                [
                    biopsy_performed(REPORTED + H),
                    specialist_reviewed(REPORTED + 2 * H, "bone_sarcoma_centre"),
                ]
            ),
            RULES_V2,
        )

        assert not view.primary_tumour_before_review
        assert [line.split(":")[0] for line in cautions(view)] == ["BIOPSY-GUARD"]

    def test_the_haematology_advisory_is_a_caution(self) -> None:
        view = evaluate(
            [
                *_scanned(),
                imaging_reported(
                    REPORTED, "suspected_haematological_malignancy", cord_compression=True
                ),
            ],
            RULES_V2,
        )

        assert cautions(view) == [
            "Haematological malignancy suspected: discuss with haematology before "
            "dexamethasone (steroids can spoil the biopsy); STEROID-MSCC still runs."
        ]

    def test_version_1_pathways_have_no_cautions(self) -> None:
        assert cautions(evaluate(_scanned(), RULES)) == []


def _late_mri() -> list[PathwayEvent]:
    """MRI-MSCC breached: the scan 30 h after the referral."""
    return [mscc_referral(), imaging_performed(T0 + 30 * H)]


class TestBreachExplained:
    def test_an_explained_breach_stays_breached_and_no_clock_changes(self) -> None:
        before = evaluate(_late_mri(), RULES_V2)

        after = admit(
            _late_mri(), breach_explained(T0 + 31 * H, "MRI-MSCC"), rules=RULES_V2, now=NOW
        )

        assert after.clocks == before.clocks
        mri = next(c for c in after.clocks if c.id == "MRI-MSCC")
        assert mri.status_at(NOW) is ClockStatus.BREACHED
        assert after.milestones[-1].details["reason"] == "imaging_capacity"

    def test_a_clock_still_running_past_its_due_time_may_be_explained(self) -> None:
        view = admit(
            [mscc_referral()], breach_explained(T0 + 2 * H, "COORD-MSCC"), rules=RULES_V2, now=NOW
        )

        assert view.milestones[-1].type == "breach.explained"

    @pytest.mark.parametrize(
        "clock",
        ["MRI-MSCC", "COORD-METS", "NO-SUCH-CLOCK"],
        ids=["within its limit", "never ran on this pathway", "unknown"],
    )
    def test_only_a_breached_clock_of_this_pathway_is_explained(self, clock: str) -> None:
        rejected = _refused([mscc_referral()], breach_explained(T0 + 2 * H, clock))

        assert rejected.field == "data.clock"

    def test_a_breach_is_explained_after_closing(self) -> None:
        recorded = [*_late_mri(), closed(T0 + 2 * D, "died")]

        view = admit(recorded, breach_explained(T0 + 3 * D, "MRI-MSCC"), rules=RULES_V2, now=NOW)

        assert view.is_closed

    def test_one_primary_explanation_per_clock(self) -> None:
        recorded = [*_late_mri(), breach_explained(T0 + 31 * H, "MRI-MSCC", event_id="why-1")]

        rejected = _refused(
            recorded,
            breach_explained(T0 + 32 * H, "MRI-MSCC", "reporting_capacity", event_id="why-2"),
        )

        assert rejected.field == "data.primary"

    @pytest.mark.parametrize(
        "more",
        [{"supersedes": "why-1"}, {"primary": False}],
        ids=["superseding the first", "a contributing reason"],
    )
    def test_a_second_explanation_supersedes_or_contributes(self, more: dict[str, Any]) -> None:
        recorded = [*_late_mri(), breach_explained(T0 + 31 * H, "MRI-MSCC", event_id="why-1")]
        candidate = breach_explained(
            T0 + 32 * H, "MRI-MSCC", "reporting_capacity", event_id="why-2", **more
        )

        view = admit(recorded, candidate, rules=RULES_V2, now=NOW)

        assert view.milestones[-1].event_id == "why-2"

    def test_supersedes_must_name_an_explanation_of_the_same_clock(self) -> None:
        candidate = breach_explained(T0 + 32 * H, "MRI-MSCC", supersedes="nothing", event_id="w")

        assert _refused(_late_mri(), candidate).field == "data.supersedes"

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"clock": "MRI-MSCC", "reason": "other", "stage": "imaging"}, "data.comment"),
            (
                {"clock": "MRI-MSCC", "reason": "clinical_complexity", "stage": "imaging"},
                "data.comment",
            ),
            ({"clock": "MRI-MSCC", "reason": "weather", "stage": "imaging"}, "data.reason"),
            (
                {"clock": "MRI-MSCC", "reason": "other", "stage": "moon", "comment": "x"},
                "data.stage",
            ),
            ({"clock": "mri msc", "reason": "imaging_capacity", "stage": "imaging"}, "data.clock"),
        ],
    )
    def test_the_explanation_is_coded(self, data: dict[str, Any], field: str) -> None:
        with pytest.raises(EventRejected) as rejected:
            parse(envelope_json("breach.explained", T0, data))

        assert rejected.value.field == field


def _treated(at: datetime = T0 + D) -> list[PathwayEvent]:
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(REPORTED, "mscc"),
        mdt_decided(T0 + 6 * H),
        treatment_started(at, "radiotherapy"),
    ]


class TestOutcomeRecorded:
    @pytest.mark.parametrize(
        ("more", "field"),
        [
            ({"timepoint": "6 weeks"}, "data.at"),
            ({"frankel_grade": "A"}, "data.frankel_grade"),
            ({"frankel_grade": "B", "ambulatory_status": "with_aid"}, "data.frankel_grade"),
            ({"asia_grade": "B"}, "data.asia_grade"),
        ],
    )
    def test_an_outcome_is_refused_naming_the_field(self, more: dict[str, Any], field: str) -> None:
        args = {"timepoint": "post_treatment"} | more
        candidate = outcome_recorded(T0 + 2 * D, **args)

        assert _refused(_treated(), candidate).field == field

    def test_grade_a_without_walking_is_accepted(self) -> None:
        candidate = outcome_recorded(
            T0 + 2 * D, "non_ambulatory", "post_treatment", frankel_grade="A", asia_grade="A"
        )

        view = admit(_treated(), candidate, rules=RULES_V2, now=NOW)

        assert view.outcomes_out_of_window == ()

    def test_one_record_per_timepoint_unless_it_supersedes(self) -> None:
        recorded = [
            *_treated(),
            outcome_recorded(T0 + 2 * D, timepoint="post_treatment", event_id="o-1"),
        ]

        second = outcome_recorded(T0 + 3 * D, "with_aid", "post_treatment", event_id="o-2")
        correction = outcome_recorded(
            T0 + 3 * D, "with_aid", "post_treatment", event_id="o-3", supersedes="o-1"
        )

        assert _refused(recorded, second).field == "data.supersedes"
        assert admit(recorded, correction, rules=RULES_V2, now=NOW).milestones[-1].event_id == "o-3"

    def test_supersedes_names_an_earlier_record_of_the_same_timepoint(self) -> None:
        recorded = [
            *_treated(),
            outcome_recorded(T0 + 2 * D, timepoint="post_treatment", event_id="o-1"),
        ]
        candidate = outcome_recorded(
            T0 + 3 * D, timepoint="day_30", supersedes="o-1", event_id="o-2"
        )

        assert _refused(recorded, candidate).field == "data.supersedes"

    @pytest.mark.parametrize(
        ("timepoint", "days", "flagged"),
        [
            ("day_30", 30, False),
            ("day_30", 23, False),
            ("day_30", 37, False),
            ("day_30", 22, True),
            ("day_30", 38, True),
            ("week_8", 49, False),
            ("week_8", 64, True),
            ("week_12", 70, False),
            ("week_12", 99, True),
        ],
    )
    def test_a_timepoint_outside_its_window_is_accepted_and_flagged(
        self, timepoint: str, days: int, flagged: bool
    ) -> None:
        treated = T0 + D
        candidate = outcome_recorded(treated + days * D, timepoint=timepoint)

        view = admit(_treated(treated), candidate, rules=RULES_V2, now=NOW)

        assert view.outcomes_out_of_window == ((candidate.event_id,) if flagged else ())

    def test_untreated_the_window_counts_from_the_first_report_of_compression(self) -> None:
        recorded = [*_scanned(), imaging_reported(REPORTED, "mscc")]

        view = admit(
            recorded,
            outcome_recorded(REPORTED + 60 * D, timepoint="day_30"),
            rules=RULES_V2,
            now=NOW,
        )

        assert len(view.outcomes_out_of_window) == 1

    def test_a_timed_outcome_without_treatment_or_compression_waits_for_it(self) -> None:
        recorded = [
            *_scanned(),
            imaging_reported(REPORTED, "spinal_metastases", cord_compression=False),
        ]

        rejected = _refused(recorded, outcome_recorded(REPORTED + 30 * D, timepoint="day_30"))

        assert rejected.field == "data.at"

    def test_version_1_keeps_free_text_timepoints(self) -> None:
        view = admit(_treated(), outcome_recorded(T0 + 2 * D), rules=RULES, now=NOW)

        assert view.outcomes_out_of_window == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ruled_out_finding": "no_spinal_metastases"}, "ruled_out_finding"),
        ({"event_types": ["specialist.referred", "letter.sent"]}, "event_types"),
        ({"event_fields": ["imaging.reported.colour"]}, "event_fields"),
        ({"outcome_windows": {"day_99": {"days": 99, "tolerance_days": 1}}}, "outcome_windows"),
    ],
)
def test_a_version_2_ruleset_file_is_checked(change: dict[str, Any], message: str) -> None:
    import yaml

    data = RULES_V2.ruleset.model_dump(mode="json") | change

    with pytest.raises(RulesetError, match=message):
        parse_ruleset(yaml.safe_dump(data))


def test_event_factories_used_here_parse() -> None:
    assert event("cwt.upgraded", T0, {"by": "Dr A"}).type == "cwt.upgraded"


class TestReportsInTheWrongOrder:
    def _ruled_out(self) -> list[PathwayEvent]:
        return [*_scanned(), imaging_reported(REPORTED + H, "no_malignant_spinal_lesion")]

    def test_an_earlier_lesion_report_arriving_late_reopens_a_ruled_out_pathway(self) -> None:
        late = imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False)

        view = admit(self._ruled_out(), late, rules=RULES_V2, now=NOW)

        assert not view.is_closed
        assert view == evaluate([*self._ruled_out(), late], RULES_V2)
        assert any(c.id == "SARC-REFER" and c.stopped_at is None for c in view.clocks)

    def test_a_lesion_report_dated_after_the_ruling_out_is_refused(self) -> None:
        late = imaging_reported(REPORTED + 2 * H, "indeterminate_lesion", cord_compression=False)

        assert _refused(self._ruled_out(), late).field == "type"

    def test_other_events_dated_before_the_ruling_out_are_refused(self) -> None:
        assert _refused(self._ruled_out(), coordinator_contacted(REPORTED)).field == "type"

    def test_a_manual_closure_is_not_undone_by_a_late_report(self) -> None:
        recorded = [*_scanned(), closed(REPORTED + H, "declined")]
        late = imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False)

        assert _refused(recorded, late).field == "type"

    def test_a_view_without_its_fold_state_is_not_undone(self) -> None:
        view = dataclasses.replace(evaluate(self._ruled_out(), RULES_V2), fold=None)
        late = imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False)

        with pytest.raises(EventRejected):
            admit(self._ruled_out(), late, rules=RULES_V2, now=NOW, current=view)

    def test_version_1_keeps_refusing_a_report_after_ruling_out(self) -> None:
        recorded = [*_scanned(), imaging_reported(REPORTED + H, "no_spinal_metastases")]

        assert _refused(recorded, imaging_reported(REPORTED, "mscc"), RULES).field == "type"


def test_every_breach_reason_has_its_roll_up() -> None:
    assert set(BREACH_ROLL_UP) == set(BreachReason)
    assert {roll_up for roll_up, _ in BREACH_ROLL_UP.values()} == {
        "patient",
        "clinical",
        "capacity",
        "process",
        "external",
        "other",
    }
    assert BREACH_ROLL_UP[BreachReason.ADMINISTRATIVE_DELAY] == ("process", "03")


def test_coded_version_2_details_are_safe_to_show_and_comments_are_not() -> None:
    details = {
        "clock": "MRI-MSCC",
        "reason": "imaging_capacity",
        "stage": "imaging",
        "primary": True,
        "comment": "Mrs Smith's scan was lost",
    }

    assert safe_details("breach.explained", details) == {
        "clock": "MRI-MSCC",
        "reason": "imaging_capacity",
        "stage": "imaging",
        "primary": True,
    }


def test_a_local_day_clock_stays_a_day_clock_when_a_service_overrides_it() -> None:
    rules = pin_rules(
        RULES_V2.ruleset, timezone="Europe/London", local_sla_hours={"POSTOP-RT": 336}
    )

    postop = next(c for c in rules.clocks() if c.id == "POSTOP-RT")

    assert (postop.limit.days, postop.kind, postop.overridden) == (14, "day", True)


def test_a_local_day_clock_override_is_whole_days() -> None:
    with pytest.raises(RulesetError, match="day clock"):
        pin_rules(RULES_V2.ruleset, timezone="Europe/London", local_sla_hours={"SARC-REVIEW": 300})
