"""Which version-2 letter is owed when (pathway-spec.md 9.3, 9.5): the pure rule, event by event.

The intake asks :func:`pathway.effects.effects_of_event` once per admitted event, with the view
before and after it; these tests do the same. A version-1 pathway never owes these letters.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pathway.effects import effects_of_event
from pathway.errors import LetterNotApplicable
from pathway.events import PathwayEvent
from pathway.letter_context import Letterhead, PathwayFacts, letter_context
from pathway.letters import LETTERS, LetterRequest, Recipient, events_owing, letter_key
from pathway.outbox import BACKFILL_GRACE, IntakeMoment
from pathway.ruleset import PinnedRules
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    H,
    biopsy_performed,
    biopsy_requested,
    imaging_performed,
    imaging_reported,
    mets_referral,
    mscc_referral,
    specialist_referred,
    specialist_reviewed,
    treatment_started,
    view_of,
)

PW = "PW-LETTV2"
REFERRAL = mets_referral()
SCAN = imaging_performed(T0 + 2 * H)
PRIMARY = imaging_reported(
    T0 + 3 * H, "suspected_primary_bone_tumour", cord_compression=False, levels=["T7"]
)
HAEM = imaging_reported(T0 + 3 * H, "suspected_haematological_malignancy", cord_compression=False)
LETTERHEAD = Letterhead("MSCC Service", "Example Trust", ("Example Road",), "01632", "01633")


def _owed(
    events: Sequence[PathwayEvent],
    rules: PinnedRules = RULES_V2,
    moment: IntakeMoment | None = None,
) -> list[str]:
    """The letter keys each event owes, admitted one by one in the order given."""
    keys: list[str] = []
    for count, admitted in enumerate(events, start=1):
        before = view_of(events[: count - 1], rules) if count > 1 else None
        after = view_of(events[:count], rules)
        keys.extend(
            e.key
            for e in effects_of_event(PW, admitted, before, after, moment=moment)
            if e.kind == "letter"
        )
    return keys


def _new(events: Sequence[PathwayEvent], **kwargs: object) -> list[str]:
    """The letters owed by the last event alone."""
    everything = _owed(events, **kwargs)  # type: ignore[arg-type]
    return everything[len(_owed(events[:-1], **kwargs)) :]  # type: ignore[arg-type]


def _key(name: str, owing: PathwayEvent, to: Recipient) -> str:
    return letter_key(name, PW, owing.event_id, to)


class TestSpecialistReferral:
    def test_a_referral_to_the_bone_sarcoma_centre_owes_its_letter_and_the_patients(self) -> None:
        referred = specialist_referred(T0 + 5 * H)
        assert _new([REFERRAL, SCAN, PRIMARY, referred]) == [
            _key("patient_information", referred, Recipient.PATIENT),
            _key("sarcoma_centre_referral", referred, Recipient.BONE_SARCOMA_CENTRE),
        ]

    def test_a_referral_to_haematology_owes_the_haematology_letter_only(self) -> None:
        referred = specialist_referred(T0 + 5 * H, "haematology")
        assert _new([REFERRAL, SCAN, HAEM, referred]) == [
            _key("haematology_referral", referred, Recipient.HAEMATOLOGY)
        ]

    @pytest.mark.parametrize(
        "service", ["spinal_surgery", "clinical_oncology", "site_specific_mdt"]
    )
    def test_a_referral_within_the_mscc_pathways_own_board_owes_no_letter(
        self, service: str
    ) -> None:
        assert _new([REFERRAL, SCAN, PRIMARY, specialist_referred(T0 + 5 * H, service)]) == []

    def test_a_referral_before_any_report_still_owes_its_letters(self) -> None:
        # The coordinator may refer on a radiologist's call before the report is issued.
        referred = specialist_referred(T0 + 2 * H)
        assert len(_new([REFERRAL, referred])) == 2


class TestBiopsyCaution:
    def test_a_biopsy_requested_while_a_primary_tumour_is_suspected_owes_a_caution(self) -> None:
        biopsy = biopsy_requested(T0 + 4 * H)
        assert _new([REFERRAL, SCAN, PRIMARY, biopsy]) == [
            _key("biopsy_caution", biopsy, Recipient.REQUESTER)
        ]

    def test_a_biopsy_performed_and_surgery_started_owe_one_each(self) -> None:
        performed = biopsy_performed(T0 + 4 * H)
        surgery = treatment_started(T0 + 5 * H, "surgery", emergency_reason="cord compression")
        assert _owed([REFERRAL, SCAN, PRIMARY, performed, surgery])[-2:] == [
            _key("biopsy_caution", performed, Recipient.REQUESTER),
            _key("biopsy_caution", surgery, Recipient.REQUESTER),
        ]

    def test_an_indeterminate_lesion_guards_biopsy_too(self) -> None:
        report = imaging_reported(T0 + 3 * H, "indeterminate_lesion", cord_compression=False)
        assert len(_new([REFERRAL, SCAN, report, biopsy_requested(T0 + 4 * H)])) == 1

    @pytest.mark.parametrize(
        "quiet",
        [
            pytest.param(
                [PRIMARY, biopsy_requested(T0 + 4 * H, site_agreed_with_treating_centre=True)],
                id="site-agreed",
            ),
            pytest.param(
                [PRIMARY, specialist_reviewed(T0 + 4 * H), biopsy_requested(T0 + 5 * H)],
                id="after-the-centres-review",
            ),
            pytest.param([HAEM, biopsy_requested(T0 + 4 * H)], id="haematological-lesion"),
            pytest.param(
                [PRIMARY, treatment_started(T0 + 4 * H, "radiotherapy", "cord compression")],
                id="radiotherapy-is-not-surgery",
            ),
        ],
    )
    def test_no_caution_when_the_guard_is_quiet(self, quiet: list[PathwayEvent]) -> None:
        keys = _owed([REFERRAL, SCAN, *quiet])
        assert not [k for k in keys if k.startswith("letter:biopsy_caution:")]

    def test_a_late_report_dated_before_a_biopsy_owes_the_caution_for_that_biopsy(self) -> None:
        biopsy = biopsy_requested(T0 + 4 * H)
        # The biopsy arrives first; the report, dated before it, arrives after.
        assert _new([REFERRAL, SCAN, biopsy, PRIMARY]) == [
            _key("imaging_outcome", PRIMARY, Recipient.GP),
            _key("imaging_outcome", PRIMARY, Recipient.REFERRER),
            _key("biopsy_caution", biopsy, Recipient.REQUESTER),
        ]

    def test_a_flag_already_owed_is_not_owed_again_by_a_later_event(self) -> None:
        biopsy = biopsy_requested(T0 + 4 * H)
        keys = _owed([REFERRAL, SCAN, PRIMARY, biopsy, specialist_referred(T0 + 5 * H)])
        assert keys.count(_key("biopsy_caution", biopsy, Recipient.REQUESTER)) == 1


class TestVersionOneAndHistory:
    def test_a_version_1_pathway_never_owes_a_version_2_letter(self) -> None:
        # Version 1 refuses specialist.referred and the lesion findings, and its ruleset turns
        # the guard off: the same biopsy on a version-1 MSCC pathway owes no caution.
        events = [
            mscc_referral(),
            SCAN,
            imaging_reported(T0 + 3 * H, "mscc"),
            biopsy_requested(T0 + 4 * H),
            treatment_started(T0 + 5 * H, "surgery", emergency_reason="cord compression"),
        ]
        keys = _owed(events, rules=RULES)
        assert RULES.ruleset.biopsy_guard == "off"
        names = {k.split(":")[1] for k in keys}
        assert names == {
            "referral_acknowledgement",
            "patient_information",
            "imaging_outcome",
        }

    def test_a_backfilled_historical_event_owes_no_version_2_letter(self) -> None:
        events = [REFERRAL, SCAN, PRIMARY, biopsy_requested(T0 + 4 * H)]
        events.append(specialist_referred(T0 + 5 * H))
        history = IntakeMoment(now=T0 + 5 * H + BACKFILL_GRACE + H, backfill=True)
        assert _owed(events, moment=history) == []
        # Within the grace (an hour before the import moment) an event is news and owes its
        # letters: here the biopsy's caution and the referral's two letters.
        live = IntakeMoment(now=T0 + 5 * H, backfill=True)
        assert [k.split(":")[1] for k in _owed(events, moment=live)] == [
            "biopsy_caution",
            "patient_information",
            "sarcoma_centre_referral",
        ]

    def test_the_keys_of_the_new_letters_follow_the_existing_form(self) -> None:
        referred = specialist_referred(T0 + 5 * H)
        assert _key("sarcoma_centre_referral", referred, Recipient.BONE_SARCOMA_CENTRE) == (
            f"letter:sarcoma_centre_referral:{PW}:{referred.event_id}:bone_sarcoma_centre"
        )


class TestWhichEventALetterIsAbout:
    def _facts(self, events: list[PathwayEvent]) -> PathwayFacts:
        return PathwayFacts(PW, tuple(events), RULES_V2)

    def test_events_owing_uses_the_intakes_rule(self) -> None:
        biopsy = biopsy_requested(T0 + 4 * H)
        haem = specialist_referred(T0 + 5 * H, "haematology")
        sarcoma = specialist_referred(T0 + 6 * H)
        events = [REFERRAL, SCAN, PRIMARY, biopsy, haem, sarcoma]
        assert events_owing("biopsy_caution", events, RULES_V2) == [biopsy.event_id]
        assert events_owing("haematology_referral", events, RULES_V2) == [haem.event_id]
        assert events_owing("patient_information", events, RULES_V2) == [
            REFERRAL.event_id,
            sarcoma.event_id,
        ]

    @pytest.mark.parametrize(
        ("name", "recipient", "index"),
        [
            ("sarcoma_centre_referral", Recipient.BONE_SARCOMA_CENTRE, 4),  # haematology's
            ("patient_information", Recipient.PATIENT, 4),
            ("biopsy_caution", Recipient.REQUESTER, 5),  # agreed site: no flag
        ],
    )
    def test_a_letter_about_an_event_that_owes_none_is_not_applicable(
        self, name: str, recipient: Recipient, index: int
    ) -> None:
        events = [
            REFERRAL,
            SCAN,
            PRIMARY,
            specialist_referred(T0 + 4 * H),
            specialist_referred(T0 + 5 * H, "haematology"),
            biopsy_requested(T0 + 6 * H, site_agreed_with_treating_centre=True),
        ]
        with pytest.raises(LetterNotApplicable, match="owes no"):
            letter_context(
                LetterRequest(name, recipient, event_id=events[index].event_id),
                self._facts(events),
                letterhead=LETTERHEAD,
                produced_at=T0 + 7 * H,
            )

    def test_a_biopsy_a_back_dated_review_no_longer_flags_is_not_applicable(self) -> None:
        biopsy = biopsy_requested(T0 + 5 * H)
        events = [REFERRAL, SCAN, PRIMARY, biopsy]
        assert events_owing("biopsy_caution", events, RULES_V2) == [biopsy.event_id]
        reviewed = [*events, specialist_reviewed(T0 + 4 * H)]  # arrives later, dated before
        with pytest.raises(LetterNotApplicable, match="owes no biopsy_caution"):
            letter_context(
                LetterRequest("biopsy_caution", Recipient.REQUESTER, event_id=biopsy.event_id),
                self._facts(reviewed),
                letterhead=LETTERHEAD,
                produced_at=T0 + 7 * H,
            )

    def test_the_wrong_event_type_is_named(self) -> None:
        with pytest.raises(
            LetterNotApplicable, match=r"not biopsy\.requested or biopsy\.performed"
        ):
            letter_context(
                LetterRequest("biopsy_caution", Recipient.REQUESTER, event_id=SCAN.event_id),
                self._facts([REFERRAL, SCAN]),
                letterhead=LETTERHEAD,
                produced_at=T0 + 7 * H,
            )

    def test_every_new_recipient_may_see_the_patients_identifiers(self) -> None:
        biopsy = biopsy_requested(T0 + 4 * H)
        referred = specialist_referred(T0 + 5 * H)
        facts = self._facts([REFERRAL, SCAN, PRIMARY, biopsy, referred])
        for name, to, owing in (
            ("biopsy_caution", Recipient.REQUESTER, biopsy),
            ("sarcoma_centre_referral", Recipient.BONE_SARCOMA_CENTRE, referred),
        ):
            context = letter_context(
                LetterRequest(name, to, event_id=owing.event_id),
                facts,
                letterhead=LETTERHEAD,
                produced_at=T0 + 7 * H,
            )
            assert context["patient"]["name"] == "Ada Example"
        assert set(LETTERS["haematology_referral"].recipients) == {Recipient.HAEMATOLOGY}
