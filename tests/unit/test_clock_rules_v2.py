"""The clock table of ruleset version 2 (pathway-spec.md section 9.2), one row per clinical case.

Rows are as in ``test_clock_rules.py`` with the rules first: version 2 for every new and changed
clock, and version 1 beside it where the two differ. Every version-1 row of a clock version 2
does not change is also checked under version 2 (:func:`test_unchanged_clocks_keep_their_rows`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from pathway.events import PathwayEvent
from pathway.ruleset import PinnedRules, rules_from_json
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    D,
    H,
    S,
    Seen,
    clocks_at,
    cwt_upgraded,
    event,
    imaging_performed,
    imaging_reported,
    mdt_decided,
    mdt_listed,
    mets_referral,
    mscc_referral,
    neuro_deteriorated,
    overridden,
    referral,
    review_referral,
    specialist_referred,
    specialist_reviewed,
    treatment_started,
)
from tests.unit import test_clock_rules as v1_table
from tests.unit.clock_table import (
    CWT62_DUE,
    DECIDED,
    MSCC,
    NOT_STARTED,
    REVIEW,
    WEEK_DUE,
    breached,
    excluded,
    met,
    running,
)

REPORTED = T0 + 4 * H
"""When the report arrives in the rows below (MRI at T0+2 h)."""
FORTNIGHT_DUE = datetime(2026, 11, 17, tzinfo=UTC)
"""A 14-day clock from 2 November: due date 16 November, first late instant the 17th."""
SURGERY_AT = DECIDED + 20 * H
"""3 November, 11:00: surgery in the POSTOP-RT rows."""
POSTOP_DUE = datetime(2026, 12, 2, tzinfo=UTC)
"""POSTOP-RT from surgery on 3 November: due date 1 December (28 days)."""
UPGRADE_CWT62_DUE = datetime(2027, 1, 6, tzinfo=UTC)
"""CWT-62 from a consultant upgrade on 4 November: due date 5 January 2027."""


def _reported(
    finding: str = "mscc", *more: PathwayEvent, first: PathwayEvent | None = None, **data: Any
) -> list[PathwayEvent]:
    """A referral (suspected MSCC unless ``first``), MRI at T0+2 h, the report at T0+4 h."""
    return [
        mscc_referral() if first is None else first,
        imaging_performed(T0 + 2 * H),
        imaging_reported(REPORTED, finding, **data),
        *more,
    ]


def _primary(*more: PathwayEvent, first: PathwayEvent | None = None) -> list[PathwayEvent]:
    """A suspected primary bone tumour without compression, reported at T0+4 h."""
    return _reported("suspected_primary_bone_tumour", *more, first=first, cord_compression=False)


def _haem(*more: PathwayEvent) -> list[PathwayEvent]:
    return _reported("suspected_haematological_malignancy", *more, cord_compression=False)


def _decided(
    plan: str, *more: PathwayEvent, dtt: bool = True, finding: str = "mscc", **data: Any
) -> list[PathwayEvent]:
    report = imaging_reported(REPORTED, finding, **data)
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        report,
        mdt_decided(DECIDED, plan, decision_to_treat=dtt),
        *more,
    ]


def _board(at: datetime, board: str) -> PathwayEvent:
    return event("mdt.listed", at, {"meeting_at": (at + H).isoformat(), "board": board})


RT_24H = [
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", treatment_started(DECIDED + 20 * H, "radiotherapy")),
        T0 + 2 * D,
        "RT-24H",
        met(DECIDED + 24 * H, DECIDED + 20 * H, starts=DECIDED),
        id="v2 RT-24H met on time after an mscc report",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy"),
        DECIDED + 24 * H + S,
        "RT-24H",
        breached(DECIDED + 24 * H, starts=DECIDED),
        id="v2 RT-24H breached while running",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery_then_radiotherapy"),
        DECIDED + H,
        "RT-24H",
        NOT_STARTED,
        id="v2 RT-24H not started by surgery then radiotherapy",
    ),
    pytest.param(
        RULES,
        _decided("surgery_then_radiotherapy"),
        DECIDED + H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v1 RT-24H still started by surgery then radiotherapy",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", finding="spinal_metastases", cord_compression=False),
        DECIDED + H,
        "RT-24H",
        NOT_STARTED,
        id="v2 RT-24H not started on metastases without compression",
    ),
    pytest.param(
        RULES,
        _decided("radiotherapy", finding="spinal_metastases"),
        DECIDED + H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v1 RT-24H started on metastases without compression",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", finding="suspected_primary_bone_tumour", cord_compression=True),
        DECIDED + H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v2 RT-24H started on a compressing primary tumour",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H),
            mdt_decided(T0 + 3 * H, "radiotherapy"),
            imaging_reported(REPORTED, "mscc"),
        ],
        T0 + 5 * H,
        "RT-24H",
        NOT_STARTED,
        id="v2 RT-24H not started by a decision before compression was reported",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", mdt_decided(DECIDED + 2 * H, "systemic_therapy")),
        DECIDED + 3 * H,
        "RT-24H",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "plan_changed", starts=DECIDED),
        id="v2 RT-24H excluded when the plan changes to one without radiotherapy",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", mdt_decided(DECIDED + 2 * H, "surgery_then_radiotherapy")),
        DECIDED + 3 * H,
        "RT-24H",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "plan_changed", starts=DECIDED),
        id="v2 RT-24H excluded when the plan changes to surgery first",
    ),
    pytest.param(
        RULES_V2,
        _decided(
            "radiotherapy",
            mdt_decided(DECIDED + 2 * H, "radiotherapy", decision_to_treat=False),
        ),
        DECIDED + 3 * H,
        "RT-24H",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "plan_changed", starts=DECIDED),
        id="v2 RT-24H excluded by a later decision not to treat",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", mdt_decided(DECIDED + 30 * H, "best_supportive_care")),
        DECIDED + 31 * H,
        "RT-24H",
        breached(DECIDED + 24 * H, stopped=DECIDED + 30 * H, reason="plan_changed", starts=DECIDED),
        id="v2 RT-24H plan changed after the due time stays breached",
    ),
    pytest.param(
        RULES_V2,
        _decided("radiotherapy", mdt_decided(DECIDED + 2 * H, "radiotherapy")),
        DECIDED + 3 * H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v2 RT-24H keeps running when a later decision keeps the plan",
    ),
    pytest.param(
        RULES,
        _decided("radiotherapy", mdt_decided(DECIDED + 2 * H, "systemic_therapy")),
        DECIDED + 3 * H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v1 RT-24H runs on whatever a later decision says",
    ),
    pytest.param(
        RULES_V2,
        _decided(
            "radiotherapy",
            mdt_decided(DECIDED + 2 * H, "systemic_therapy"),
            mdt_decided(DECIDED + 4 * H, "radiotherapy"),
        ),
        DECIDED + 5 * H,
        "RT-24H",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "plan_changed", starts=DECIDED),
        id="v2 RT-24H stopped by a plan change does not restart on a later decision",
    ),
]

SURGERY = [
    pytest.param(
        RULES_V2,
        _decided("surgery", treatment_started(DECIDED + 20 * H, "surgery")),
        T0 + 2 * D,
        "SURGERY",
        met(DECIDED + 24 * H, DECIDED + 20 * H, starts=DECIDED),
        id="v2 SURGERY met on time",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery", mdt_decided(DECIDED + 2 * H, "radiotherapy")),
        DECIDED + 3 * H,
        "SURGERY",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "plan_changed", starts=DECIDED),
        id="v2 SURGERY excluded when the plan changes to radiotherapy alone",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery", mdt_decided(DECIDED + 2 * H, "surgery_then_radiotherapy")),
        DECIDED + 3 * H,
        "SURGERY",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v2 SURGERY keeps running when the new plan still has surgery",
    ),
    pytest.param(
        RULES,
        _decided("surgery", mdt_decided(DECIDED + 2 * H, "radiotherapy")),
        DECIDED + 3 * H,
        "SURGERY",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="v1 SURGERY runs on whatever a later decision says",
    ),
]

POSTOP_RT = [
    pytest.param(
        RULES_V2,
        _decided("surgery_then_radiotherapy", treatment_started(SURGERY_AT, "surgery")),
        SURGERY_AT + H,
        "POSTOP-RT",
        running(POSTOP_DUE, starts=SURGERY_AT),
        id="POSTOP-RT starts at surgery on a plan of surgery then radiotherapy",
    ),
    pytest.param(
        RULES_V2,
        _decided(
            "surgery_then_radiotherapy",
            treatment_started(SURGERY_AT, "surgery"),
            treatment_started(SURGERY_AT + 14 * D, "radiotherapy"),
        ),
        SURGERY_AT + 30 * D,
        "POSTOP-RT",
        met(POSTOP_DUE, SURGERY_AT + 14 * D, starts=SURGERY_AT),
        id="POSTOP-RT met by radiotherapy two weeks after surgery",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery_then_radiotherapy", treatment_started(SURGERY_AT, "surgery")),
        SURGERY_AT + 15 * D,
        "POSTOP-RT",
        running(POSTOP_DUE, starts=SURGERY_AT, at_risk=True),
        id="POSTOP-RT at risk after half its span",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery_then_radiotherapy", treatment_started(SURGERY_AT, "surgery")),
        POSTOP_DUE,
        "POSTOP-RT",
        breached(POSTOP_DUE, starts=SURGERY_AT),
        id="POSTOP-RT breached at its due instant",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery", treatment_started(SURGERY_AT, "surgery")),
        SURGERY_AT + H,
        "POSTOP-RT",
        NOT_STARTED,
        id="POSTOP-RT not started by surgery alone",
    ),
    pytest.param(
        RULES_V2,
        _decided("surgery_then_radiotherapy"),
        SURGERY_AT + H,
        "POSTOP-RT",
        NOT_STARTED,
        id="POSTOP-RT not started before surgery",
    ),
    pytest.param(
        RULES,
        _decided("surgery_then_radiotherapy", treatment_started(SURGERY_AT, "surgery")),
        SURGERY_AT + H,
        "POSTOP-RT",
        NOT_STARTED,
        id="v1 has no POSTOP-RT",
    ),
]

PLAN_METS = [
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False),
        REPORTED + H,
        "PLAN-METS",
        running(WEEK_DUE),
        id="v2 PLAN-METS created on suspected MSCC by metastases without compression, from referral",
    ),
    pytest.param(
        RULES,
        _reported("spinal_metastases"),
        REPORTED + H,
        "PLAN-METS",
        NOT_STARTED,
        id="v1 PLAN-METS not on suspected MSCC whatever the report",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", mdt_decided(T0 + 3 * D), cord_compression=False),
        T0 + 8 * D,
        "PLAN-METS",
        met(WEEK_DUE, T0 + 3 * D),
        id="v2 widened PLAN-METS met by the decision",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            imaging_performed(T0 + 7 * D),
            imaging_reported(T0 + 8 * D, "spinal_metastases", cord_compression=False),
        ],
        T0 + 8 * D + H,
        "PLAN-METS",
        breached(WEEK_DUE),
        id="v2 widened PLAN-METS created late is already breached",
    ),
    pytest.param(
        RULES_V2,
        [
            review_referral(),
            overridden(T0 + H, MSCC),
            imaging_performed(T0 + 2 * H),
            imaging_reported(REPORTED, "spinal_metastases", cord_compression=False),
        ],
        REPORTED + H,
        "PLAN-METS",
        running(WEEK_DUE, starts=T0 + H),
        id="v2 widened PLAN-METS back-dated to the override into suspected MSCC",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=True),
        REPORTED + H,
        "PLAN-METS",
        NOT_STARTED,
        id="v2 PLAN-METS not created by metastases with compression",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "mscc",
            imaging_reported(REPORTED + H, "spinal_metastases", cord_compression=False),
        ),
        REPORTED + 2 * H,
        "PLAN-METS",
        NOT_STARTED,
        id="v2 PLAN-METS not created after a report of compression",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "spinal_metastases",
            imaging_reported(REPORTED + H, "mscc"),
            cord_compression=False,
        ),
        REPORTED + 2 * H,
        "PLAN-METS",
        running(WEEK_DUE),
        id="v2 widened PLAN-METS runs on when a later report shows compression",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, first=mets_referral()),
        REPORTED + H,
        "PLAN-METS",
        running(WEEK_DUE),
        id="v2 PLAN-METS on suspected metastases as in v1",
    ),
]

PLAN_MSCC = [
    pytest.param(
        RULES_V2,
        _reported("suspected_primary_bone_tumour", cord_compression=True),
        REPORTED + H,
        "PLAN-MSCC",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="v2 PLAN-MSCC started by a compressing primary tumour",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=True),
        REPORTED + H,
        "PLAN-MSCC",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="v2 PLAN-MSCC started by metastases with compression",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False),
        REPORTED + H,
        "PLAN-MSCC",
        NOT_STARTED,
        id="v2 PLAN-MSCC not started without compression",
    ),
    pytest.param(
        RULES_V2,
        _reported("mscc", first=review_referral()),
        REPORTED + H,
        "PLAN-MSCC",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="v2 PLAN-MSCC runs on a needs_review pathway",
    ),
    pytest.param(
        RULES,
        _reported("mscc", first=review_referral()),
        REPORTED + H,
        "PLAN-MSCC",
        NOT_STARTED,
        id="v1 PLAN-MSCC needs_review runs no clock",
    ),
    pytest.param(
        RULES_V2,
        _reported("mscc", overridden(REPORTED + H, REVIEW)),
        REPORTED + 2 * H,
        "PLAN-MSCC",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="v2 PLAN-MSCC keeps running after an override to needs_review",
    ),
]

SPINE_OPINION = [
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, sins=9, first=mets_referral()),
        REPORTED + H,
        "SPINE-OPINION",
        running(WEEK_DUE, starts=REPORTED),
        id="SPINE-OPINION 7 days on SINS 7-12 without neurology",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, sins=13, first=mets_referral()),
        REPORTED + H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION 24 h on SINS 13 or more",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, sins=8),
        REPORTED + H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION 24 h when the pathway has a neurological feature",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, sins=6, first=mets_referral()),
        REPORTED + H,
        "SPINE-OPINION",
        NOT_STARTED,
        id="SPINE-OPINION not started on SINS 6",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, first=mets_referral()),
        REPORTED + H,
        "SPINE-OPINION",
        NOT_STARTED,
        id="SPINE-OPINION not started without a SINS",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "mscc",
            specialist_reviewed(REPORTED + 10 * H, "spinal_surgery"),
            sins=10,
        ),
        REPORTED + D,
        "SPINE-OPINION",
        met(REPORTED + 24 * H, REPORTED + 10 * H, starts=REPORTED),
        id="SPINE-OPINION met by a spinal surgical review",
    ),
    pytest.param(
        RULES_V2,
        _reported("mscc", specialist_reviewed(REPORTED + 10 * H, "clinical_oncology"), sins=10),
        REPORTED + 11 * H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION not stopped by another service's review",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "mscc",
            mdt_listed(REPORTED + H),
            mdt_decided(REPORTED + 3 * H),
            sins=10,
        ),
        REPORTED + 4 * H,
        "SPINE-OPINION",
        met(REPORTED + 24 * H, REPORTED + 3 * H, starts=REPORTED),
        id="SPINE-OPINION met by a decision of the spinal board",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "mscc",
            _board(REPORTED + H, "emergency_virtual"),
            mdt_decided(REPORTED + 3 * H),
            sins=10,
        ),
        REPORTED + 4 * H,
        "SPINE-OPINION",
        met(REPORTED + 24 * H, REPORTED + 3 * H, starts=REPORTED),
        id="SPINE-OPINION met by a decision of the emergency virtual board",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "mscc",
            _board(REPORTED + H, "site_specific"),
            mdt_decided(REPORTED + 3 * H),
            sins=10,
        ),
        REPORTED + 4 * H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION not stopped by a site-specific board's decision",
    ),
    pytest.param(
        RULES_V2,
        _reported("mscc", mdt_decided(REPORTED + 3 * H), sins=10),
        REPORTED + 4 * H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION not stopped by a decision never listed at a board",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H),
            specialist_reviewed(T0 + 3 * H, "spinal_surgery"),
            imaging_reported(REPORTED, "mscc", sins=10),
        ],
        REPORTED + H,
        "SPINE-OPINION",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SPINE-OPINION an opinion before the report does not stop it",
    ),
    pytest.param(
        RULES_V2,
        _reported("spinal_metastases", cord_compression=False, sins=9, first=review_referral()),
        REPORTED + H,
        "SPINE-OPINION",
        running(WEEK_DUE, starts=REPORTED),
        id="SPINE-OPINION runs on a needs_review pathway",
    ),
    pytest.param(
        RULES,
        _reported("mscc", sins=10),
        REPORTED + H,
        "SPINE-OPINION",
        NOT_STARTED,
        id="v1 has no SPINE-OPINION",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "spinal_metastases",
            neuro_deteriorated(REPORTED + H),
            cord_compression=False,
            sins=9,
            first=mets_referral(),
        ),
        REPORTED + 2 * H,
        "SPINE-OPINION",
        running(WEEK_DUE, starts=REPORTED),
        id="SPINE-OPINION keeps the limit of its report when neurology appears later",
    ),
]

SARC_REFER = [
    pytest.param(
        RULES_V2,
        _primary(),
        REPORTED + H,
        "SARC-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SARC-REFER running from a suspected primary bone tumour",
    ),
    pytest.param(
        RULES_V2,
        _primary(specialist_referred(REPORTED + 6 * H)),
        REPORTED + D,
        "SARC-REFER",
        met(REPORTED + 24 * H, REPORTED + 6 * H, starts=REPORTED),
        id="SARC-REFER met by the referral to the bone sarcoma centre",
    ),
    pytest.param(
        RULES_V2,
        _primary(specialist_referred(REPORTED + 25 * H)),
        REPORTED + 2 * D,
        "SARC-REFER",
        breached(REPORTED + 24 * H, stopped=REPORTED + 25 * H, starts=REPORTED),
        id="SARC-REFER met late is breached",
    ),
    pytest.param(
        RULES_V2,
        _primary(specialist_referred(REPORTED + 6 * H, "haematology")),
        REPORTED + 7 * H,
        "SARC-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SARC-REFER not stopped by a referral to haematology",
    ),
    pytest.param(
        RULES_V2,
        _reported("indeterminate_lesion", cord_compression=False, suspected_histology="chordoma"),
        REPORTED + H,
        "SARC-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SARC-REFER on an indeterminate lesion of bone-sarcoma histology",
    ),
    pytest.param(
        RULES_V2,
        _reported(
            "indeterminate_lesion", cord_compression=False, suspected_histology="giant_cell_tumour"
        ),
        REPORTED + H,
        "SARC-REFER",
        NOT_STARTED,
        id="SARC-REFER not on an indeterminate lesion of another histology",
    ),
    pytest.param(
        RULES_V2,
        _reported("indeterminate_lesion", cord_compression=False),
        REPORTED + H,
        "SARC-REFER",
        NOT_STARTED,
        id="SARC-REFER not on an indeterminate lesion without a histology",
    ),
    pytest.param(
        RULES_V2,
        _primary(
            specialist_reviewed(REPORTED + 3 * H, "spinal_surgery", "not_primary_bone_tumour")
        ),
        REPORTED + 4 * H,
        "SARC-REFER",
        excluded(REPORTED + 24 * H, REPORTED + 3 * H, "not_primary_bone_tumour", starts=REPORTED),
        id="SARC-REFER excluded by advice of not a primary bone tumour from any review",
    ),
    pytest.param(
        RULES_V2,
        _primary(first=review_referral()),
        REPORTED + H,
        "SARC-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SARC-REFER runs on a needs_review pathway",
    ),
    pytest.param(
        RULES_V2,
        _primary(overridden(REPORTED + H, REVIEW)),
        REPORTED + 2 * H,
        "SARC-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="SARC-REFER keeps running after an override to needs_review",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H),
            specialist_referred(T0 + 3 * H),
            imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False),
        ],
        REPORTED + H,
        "SARC-REFER",
        NOT_STARTED,
        id="SARC-REFER not started when the referral came first",
    ),
]

SARC_REVIEW = [
    pytest.param(
        RULES_V2,
        _primary(specialist_referred(REPORTED + 2 * H)),
        REPORTED + 3 * H,
        "SARC-REVIEW",
        running(FORTNIGHT_DUE, starts=REPORTED + 2 * H),
        id="SARC-REVIEW running from the referral to the centre",
    ),
    pytest.param(
        RULES_V2,
        _primary(
            specialist_referred(REPORTED + 2 * H),
            specialist_reviewed(T0 + 5 * D, advice="not_primary_bone_tumour"),
        ),
        T0 + 20 * D,
        "SARC-REVIEW",
        met(FORTNIGHT_DUE, T0 + 5 * D, starts=REPORTED + 2 * H),
        id="SARC-REVIEW met by the centre's review whatever its advice",
    ),
    pytest.param(
        RULES_V2,
        _primary(
            specialist_referred(REPORTED + 2 * H),
            specialist_reviewed(FORTNIGHT_DUE + H, advice="not_primary_bone_tumour"),
        ),
        T0 + 20 * D,
        "SARC-REVIEW",
        breached(FORTNIGHT_DUE, stopped=FORTNIGHT_DUE + H, starts=REPORTED + 2 * H),
        id="SARC-REVIEW a late review is breached even when it rules out a primary",
    ),
    pytest.param(
        RULES_V2,
        _primary(specialist_referred(REPORTED + 2 * H)),
        T0 + 8 * D,
        "SARC-REVIEW",
        running(FORTNIGHT_DUE, starts=REPORTED + 2 * H, at_risk=True),
        id="SARC-REVIEW at risk after half its span",
    ),
    pytest.param(
        RULES_V2,
        _primary(
            specialist_referred(REPORTED + 2 * H),
            specialist_reviewed(T0 + 3 * D, "haematology", "not_primary_bone_tumour"),
        ),
        T0 + 4 * D,
        "SARC-REVIEW",
        excluded(FORTNIGHT_DUE, T0 + 3 * D, "not_primary_bone_tumour", starts=REPORTED + 2 * H),
        id="SARC-REVIEW excluded by another service's advice of not a primary",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H),
            specialist_referred(T0 + 3 * H),
            imaging_reported(REPORTED, "suspected_primary_bone_tumour", cord_compression=False),
        ],
        REPORTED + H,
        "SARC-REVIEW",
        running(FORTNIGHT_DUE, starts=T0 + 3 * H),
        id="SARC-REVIEW back-dated to a referral that came before the report",
    ),
    pytest.param(
        RULES_V2,
        _reported("mscc", specialist_referred(REPORTED + 2 * H)),
        REPORTED + 3 * H,
        "SARC-REVIEW",
        NOT_STARTED,
        id="SARC-REVIEW not started by a referral without a suspected bone sarcoma",
    ),
]

HAEM_REFER = [
    pytest.param(
        RULES_V2,
        _haem(),
        REPORTED + H,
        "HAEM-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="HAEM-REFER running from a suspected haematological malignancy",
    ),
    pytest.param(
        RULES_V2,
        _haem(specialist_referred(REPORTED + 5 * H, "haematology")),
        REPORTED + D,
        "HAEM-REFER",
        met(REPORTED + 24 * H, REPORTED + 5 * H, starts=REPORTED),
        id="HAEM-REFER met by the referral to haematology",
    ),
    pytest.param(
        RULES_V2,
        _haem(specialist_referred(REPORTED + 5 * H)),
        REPORTED + 6 * H,
        "HAEM-REFER",
        running(REPORTED + 24 * H, starts=REPORTED),
        id="HAEM-REFER not stopped by a referral to the bone sarcoma centre",
    ),
    pytest.param(
        RULES_V2,
        _haem(
            specialist_reviewed(
                REPORTED + 2 * H, "clinical_oncology", "not_haematological_malignancy"
            )
        ),
        REPORTED + 3 * H,
        "HAEM-REFER",
        excluded(
            REPORTED + 24 * H, REPORTED + 2 * H, "not_haematological_malignancy", starts=REPORTED
        ),
        id="HAEM-REFER excluded by advice of not a haematological malignancy",
    ),
    pytest.param(
        RULES_V2,
        _haem(),
        REPORTED + 25 * H,
        "HAEM-REFER",
        breached(REPORTED + 24 * H, starts=REPORTED),
        id="HAEM-REFER breached while running",
    ),
    pytest.param(
        RULES_V2,
        _primary(),
        REPORTED + H,
        "HAEM-REFER",
        NOT_STARTED,
        id="HAEM-REFER not on a suspected primary bone tumour",
    ),
]

CWT_62 = [
    pytest.param(
        RULES_V2,
        [mscc_referral(), cwt_upgraded(T0 + 2 * D)],
        T0 + 3 * D,
        "CWT-62",
        running(UPGRADE_CWT62_DUE, starts=T0 + 2 * D),
        id="v2 CWT-62 starts at a consultant upgrade of known cancer",
    ),
    pytest.param(
        RULES_V2,
        [mscc_referral(cancer_status="suspected"), cwt_upgraded(T0 + 2 * D)],
        T0 + 3 * D,
        "CWT-62",
        running(CWT62_DUE),
        id="v2 CWT-62 already running keeps its referral start on an upgrade",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            treatment_started(T0 + D, "radiotherapy", "cord compression, out of hours"),
            cwt_upgraded(T0 + 2 * D),
        ],
        T0 + 3 * D,
        "CWT-62",
        NOT_STARTED,
        id="v2 CWT-62 does not start on an upgrade after the first treatment",
    ),
    pytest.param(
        RULES_V2,
        [
            mscc_referral(),
            cwt_upgraded(T0 + 2 * D),
            treatment_started(T0 + 20 * D, "radiotherapy", "cord compression"),
        ],
        T0 + 30 * D,
        "CWT-62",
        met(UPGRADE_CWT62_DUE, T0 + 20 * D, starts=T0 + 2 * D),
        id="v2 CWT-62 from an upgrade met by the first treatment",
    ),
    pytest.param(
        RULES_V2,
        [
            referral(neuro=[], pain=[]),
            cwt_upgraded(T0 + 2 * D),
            overridden(T0 + 3 * D, MSCC),
        ],
        T0 + 4 * D,
        "CWT-62",
        running(UPGRADE_CWT62_DUE, starts=T0 + 2 * D),
        id="v2 CWT-62 upgraded in review starts at the upgrade date once a category is set",
    ),
    pytest.param(
        RULES_V2,
        [referral(neuro=[], pain=[]), cwt_upgraded(T0 + 2 * D)],
        T0 + 3 * D,
        "CWT-62",
        NOT_STARTED,
        id="v2 CWT-62 upgraded in review runs no clock until a category is set",
    ),
]

V2_TABLES = (
    RT_24H,
    SURGERY,
    POSTOP_RT,
    PLAN_METS,
    PLAN_MSCC,
    SPINE_OPINION,
    SARC_REFER,
    SARC_REVIEW,
    HAEM_REFER,
    CWT_62,
)


@pytest.mark.parametrize(
    ("rules", "events", "as_of", "clock_id", "expected"),
    [row for table in V2_TABLES for row in table],
)
def test_each_version_2_clock_follows_its_rule(
    rules: PinnedRules,
    events: list[PathwayEvent],
    as_of: datetime,
    clock_id: str,
    expected: Seen | None,
) -> None:
    seen = clocks_at(events, as_of, rules)

    assert seen.get(clock_id) == expected


UNCHANGED = (
    "COORD-MSCC",
    "COORD-METS",
    "STEROID-MSCC",
    "MRI-MSCC",
    "MRI-METS",
    "CWT-FDS",
    "CWT-31",
)
"""Version-1 clocks that section 9.2 does not name."""

_V1_ROWS = [
    row
    for table in (
        v1_table.COORD_MSCC,
        v1_table.COORD_METS,
        v1_table.STEROID_MSCC,
        v1_table.MRI_MSCC,
        v1_table.MRI_METS,
        v1_table.CWT_FDS,
        v1_table.CWT_31,
    )
    for row in table
    # A report of no_spinal_metastases is refused on version 2 (section 9.1).
    if not any(
        getattr(e.data, "finding", None) == "no_spinal_metastases"
        for e in cast("list[PathwayEvent]", row.values[0])
    )
]


@pytest.mark.parametrize(("events", "as_of", "clock_id", "expected"), _V1_ROWS)
def test_unchanged_clocks_keep_their_rows(
    events: list[PathwayEvent], as_of: datetime, clock_id: str, expected: Seen | None
) -> None:
    seen = clocks_at(events, as_of, RULES_V2)

    assert seen.get(clock_id) == expected


def test_the_tables_cover_every_clock_of_version_2() -> None:
    ids = {row.values[3] for table in V2_TABLES for row in table} | set(UNCHANGED)

    assert ids == {rule.id for rule in RULES_V2.ruleset.clocks}


def test_a_version_1_pathway_keeps_version_1_clocks_whatever_is_shipped_next() -> None:
    """A pathway's stored pin rebuilds its own version, with version 2 loaded beside it."""
    events = _decided("surgery_then_radiotherapy", treatment_started(SURGERY_AT, "surgery"))
    stored = rules_from_json(RULES.to_json())

    ids = set(clocks_at(events, SURGERY_AT + H, stored))

    assert stored.label == "nice-ng234-2023.v1"
    assert RULES_V2.label == "nice-ng234-2023.v2"
    assert "RT-24H" in ids
    assert "POSTOP-RT" not in ids
    assert set(clocks_at(events, SURGERY_AT + H, RULES_V2)) >= {"POSTOP-RT"}
