"""The clock table of pathway-spec.md section 5, one row per clinical case, for every clock id.

Each row is: the pathway's events, the moment T it is looked at, the clock id, and the clock as a
coordinator would see it at T (``None``: the clock has not started). T0 is a Monday in November
(GMT, so London time is UTC); the rows that cross a clock change say so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pathway.events import PathwayEvent
from tests.factories import (
    RULES,
    T0,
    D,
    H,
    S,
    Seen,
    clocks_at,
    closed,
    coordinator_contacted,
    diagnosis_communicated,
    imaging_performed,
    imaging_reported,
    imaging_requested,
    mdt_decided,
    mets_referral,
    mscc_referral,
    neuro_deteriorated,
    overridden,
    referral,
    review_referral,
    steroids_started,
    steroids_withheld,
    treatment_started,
)
from tests.unit.clock_table import (
    CWT31_DUE,
    CWT62_DUE,
    DECIDED,
    FDS_DUE,
    METS,
    MSCC,
    NOT_STARTED,
    REVIEW,
    WEEK_DUE,
    M,
    breached,
    excluded,
    met,
    running,
)


def _mscc_reported(*more: PathwayEvent, finding: str = "mscc") -> list[PathwayEvent]:
    """Suspected MSCC, MRI at T0+2 h, reported at T0+4 h (PLAN-MSCC starts there on mscc)."""
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 4 * H, finding),
        *more,
    ]


def _decided(
    plan: str = "radiotherapy", *more: PathwayEvent, dtt: bool = True
) -> list[PathwayEvent]:
    """Suspected MSCC confirmed, and the MDT decides at DECIDED (T0+6 h)."""
    return [*_mscc_reported(), mdt_decided(DECIDED, plan, decision_to_treat=dtt), *more]


def _suspected(*more: PathwayEvent) -> list[PathwayEvent]:
    """Suspected (not known) cancer with limb weakness: suspected MSCC on a CWT pathway."""
    return [mscc_referral(cancer_status="suspected"), *more]


COORD_MSCC = [
    pytest.param(
        [mscc_referral(), coordinator_contacted(T0 + 30 * M)],
        T0 + 2 * H,
        "COORD-MSCC",
        met(T0 + H, T0 + 30 * M),
        id="COORD-MSCC met on time",
    ),
    pytest.param(
        [mscc_referral(), coordinator_contacted(T0 + 90 * M)],
        T0 + 2 * H,
        "COORD-MSCC",
        breached(T0 + H, stopped=T0 + 90 * M),
        id="COORD-MSCC met late is breached",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 20 * M,
        "COORD-MSCC",
        running(T0 + H),
        id="COORD-MSCC running",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 30 * M - S,
        "COORD-MSCC",
        running(T0 + H),
        id="COORD-MSCC not at risk just before 50 %",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 30 * M,
        "COORD-MSCC",
        running(T0 + H, at_risk=True),
        id="COORD-MSCC at risk at 50 %",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + H + S,
        "COORD-MSCC",
        breached(T0 + H),
        id="COORD-MSCC breached while running",
    ),
    pytest.param(
        [mscc_referral(), closed(T0 + 20 * M, "transferred")],
        T0 + 2 * H,
        "COORD-MSCC",
        excluded(T0 + H, T0 + 20 * M, "transferred"),
        id="COORD-MSCC excluded by closing within its limit",
    ),
    pytest.param(
        [mscc_referral(), closed(T0 + 2 * H, "died")],
        T0 + 3 * H,
        "COORD-MSCC",
        breached(T0 + H, stopped=T0 + 2 * H, reason="died"),
        id="COORD-MSCC closing after the due time stays breached",
    ),
    pytest.param(
        [mscc_referral(), coordinator_contacted(T0 + 30 * M), closed(T0 + 2 * H, "died")],
        T0 + 3 * H,
        "COORD-MSCC",
        met(T0 + H, T0 + 30 * M),
        id="COORD-MSCC met stays met after closing",
    ),
    pytest.param(
        [mets_referral(), neuro_deteriorated(T0 + 5 * H)],
        T0 + 5 * H + 10 * M,
        "COORD-MSCC",
        running(T0 + 6 * H, starts=T0 + 5 * H),
        id="COORD-MSCC starts at the neurological upgrade",
    ),
    pytest.param(
        [
            review_referral(),
            overridden(T0 + H, METS),
            neuro_deteriorated(T0 + 5 * H),
        ],
        T0 + 5 * H + 10 * M,
        "COORD-MSCC",
        running(T0 + 6 * H, starts=T0 + 5 * H),
        id="COORD-MSCC starts when a pathway overridden to metastases deteriorates",
    ),
    pytest.param(
        [referral(neuro=[], pain=[]), neuro_deteriorated(T0 + 5 * H)],
        T0 + 5 * H + 10 * M,
        "COORD-MSCC",
        running(T0 + 6 * H, starts=T0 + 5 * H),
        id="COORD-MSCC starts when known cancer in review develops neurology",
    ),
    pytest.param(
        [mets_referral(), coordinator_contacted(T0 + H), neuro_deteriorated(T0 + 5 * H)],
        T0 + 6 * H,
        "COORD-MSCC",
        NOT_STARTED,
        id="COORD-MSCC does not start on an upgrade after coordinator contact",
    ),
    pytest.param(
        [mets_referral(), overridden(T0 + 2 * H, MSCC)],
        T0 + 2 * H + 10 * M,
        "COORD-MSCC",
        running(T0 + 3 * H, starts=T0 + 2 * H),
        id="COORD-MSCC starts on an override up",
    ),
    pytest.param(
        [mscc_referral(), overridden(T0 + 20 * M, METS)],
        T0 + 2 * H,
        "COORD-MSCC",
        excluded(T0 + H, T0 + 20 * M, "triage_overridden"),
        id="COORD-MSCC excluded by an override down",
    ),
    pytest.param(
        [mscc_referral(), overridden(T0 + 2 * H, REVIEW)],
        T0 + 3 * H,
        "COORD-MSCC",
        breached(T0 + H, stopped=T0 + 2 * H, reason="triage_overridden"),
        id="COORD-MSCC override down after the due time stays breached",
    ),
    pytest.param(
        [review_referral()],
        T0 + 2 * H,
        "COORD-MSCC",
        NOT_STARTED,
        id="COORD-MSCC needs_review runs no clock",
    ),
    pytest.param(
        [review_referral(), overridden(T0 + 3 * H, MSCC)],
        T0 + 3 * H + 10 * M,
        "COORD-MSCC",
        running(T0 + 4 * H, starts=T0 + 3 * H),
        id="COORD-MSCC starts when needs_review is overridden up",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 2 * H,
        "COORD-MSCC",
        NOT_STARTED,
        id="COORD-MSCC not on suspected spinal metastases",
    ),
    pytest.param(
        [review_referral(), coordinator_contacted(T0 + H), overridden(T0 + 2 * H, MSCC)],
        T0 + 2 * H + 10 * M,
        "COORD-MSCC",
        NOT_STARTED,
        id="COORD-MSCC does not start on an override up after coordinator contact",
    ),
]

COORD_METS = [
    pytest.param(
        [mets_referral(), coordinator_contacted(T0 + 20 * H)],
        T0 + 2 * D,
        "COORD-METS",
        met(T0 + 24 * H, T0 + 20 * H),
        id="COORD-METS met on time",
    ),
    pytest.param(
        [mets_referral(), coordinator_contacted(T0 + 25 * H)],
        T0 + 2 * D,
        "COORD-METS",
        breached(T0 + 24 * H, stopped=T0 + 25 * H),
        id="COORD-METS met late is breached",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 11 * H,
        "COORD-METS",
        running(T0 + 24 * H),
        id="COORD-METS running",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 12 * H,
        "COORD-METS",
        running(T0 + 24 * H, at_risk=True),
        id="COORD-METS at risk at 50 %",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 24 * H + S,
        "COORD-METS",
        breached(T0 + 24 * H),
        id="COORD-METS breached while running",
    ),
    pytest.param(
        [mets_referral(), closed(T0 + 3 * H, "declined")],
        T0 + 2 * D,
        "COORD-METS",
        excluded(T0 + 24 * H, T0 + 3 * H, "declined"),
        id="COORD-METS excluded by closing within its limit",
    ),
    pytest.param(
        [mets_referral(), overridden(T0 + 2 * H, REVIEW)],
        T0 + 2 * D,
        "COORD-METS",
        excluded(T0 + 24 * H, T0 + 2 * H, "triage_overridden"),
        id="COORD-METS excluded by an override down to needs_review",
    ),
    pytest.param(
        [mets_referral(), neuro_deteriorated(T0 + 5 * H)],
        T0 + 6 * H,
        "COORD-METS",
        running(T0 + 24 * H),
        id="COORD-METS keeps running after the neurological upgrade",
    ),
    pytest.param(
        [mets_referral(), overridden(T0 + 5 * H, MSCC)],
        T0 + 6 * H,
        "COORD-METS",
        running(T0 + 24 * H),
        id="COORD-METS keeps running after an override up",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 6 * H,
        "COORD-METS",
        NOT_STARTED,
        id="COORD-METS not on suspected MSCC",
    ),
    pytest.param(
        [mscc_referral(), overridden(T0 + 2 * H, METS)],
        T0 + 3 * H,
        "COORD-METS",
        running(T0 + 26 * H, starts=T0 + 2 * H),
        id="COORD-METS starts at an override down from MSCC",
    ),
    pytest.param(
        [mscc_referral(), coordinator_contacted(T0 + 30 * M), overridden(T0 + 2 * H, METS)],
        T0 + 3 * H,
        "COORD-METS",
        NOT_STARTED,
        id="COORD-METS does not start on an override down after coordinator contact",
    ),
]

STEROID_MSCC = [
    pytest.param(
        [mscc_referral(), steroids_started(T0 + 3 * H)],
        T0 + 5 * H,
        "STEROID-MSCC",
        met(T0 + 4 * H, T0 + 3 * H),
        id="STEROID-MSCC met on time",
    ),
    pytest.param(
        [mscc_referral(), steroids_started(T0 + 5 * H)],
        T0 + 6 * H,
        "STEROID-MSCC",
        breached(T0 + 4 * H, stopped=T0 + 5 * H),
        id="STEROID-MSCC met late is breached",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + H,
        "STEROID-MSCC",
        running(T0 + 4 * H),
        id="STEROID-MSCC running",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 2 * H,
        "STEROID-MSCC",
        running(T0 + 4 * H, at_risk=True),
        id="STEROID-MSCC at risk at 50 %",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 4 * H + S,
        "STEROID-MSCC",
        breached(T0 + 4 * H),
        id="STEROID-MSCC breached while running",
    ),
    pytest.param(
        [mscc_referral(), steroids_withheld(T0 + H, "suspected lymphoma")],
        T0 + 5 * H,
        "STEROID-MSCC",
        excluded(T0 + 4 * H, T0 + H, "suspected lymphoma"),
        id="STEROID-MSCC excluded by steroids.withheld with its reason",
    ),
    pytest.param(
        [mscc_referral(), steroids_withheld(T0 + 5 * H, "suspected myeloma")],
        T0 + 6 * H,
        "STEROID-MSCC",
        breached(T0 + 4 * H, stopped=T0 + 5 * H, reason="suspected myeloma"),
        id="STEROID-MSCC withheld after the due time stays breached",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_performed(T0 + H),
            imaging_reported(T0 + 2 * H, "no_spinal_metastases"),
        ],
        T0 + 5 * H,
        "STEROID-MSCC",
        excluded(T0 + 4 * H, T0 + 2 * H, "ruled_out"),
        id="STEROID-MSCC excluded when a report rules out metastases",
    ),
    pytest.param(
        [mscc_referral(), closed(T0 + 6 * H, "died")],
        T0 + 7 * H,
        "STEROID-MSCC",
        breached(T0 + 4 * H, stopped=T0 + 6 * H, reason="died"),
        id="STEROID-MSCC closing after the due time stays breached",
    ),
    pytest.param(
        [mets_referral(), neuro_deteriorated(T0 + 10 * H)],
        T0 + 11 * H,
        "STEROID-MSCC",
        running(T0 + 14 * H, starts=T0 + 10 * H),
        id="STEROID-MSCC starts at the neurological upgrade",
    ),
    pytest.param(
        [mets_referral(), steroids_started(T0 + H), neuro_deteriorated(T0 + 10 * H)],
        T0 + 11 * H,
        "STEROID-MSCC",
        NOT_STARTED,
        id="STEROID-MSCC does not start on an upgrade after steroids started",
    ),
    pytest.param(
        [mets_referral(), steroids_withheld(T0 + H), neuro_deteriorated(T0 + 10 * H)],
        T0 + 11 * H,
        "STEROID-MSCC",
        NOT_STARTED,
        id="STEROID-MSCC does not start on an upgrade after steroids were withheld",
    ),
    pytest.param(
        [mscc_referral(), overridden(T0 + H, METS)],
        T0 + 5 * H,
        "STEROID-MSCC",
        excluded(T0 + 4 * H, T0 + H, "triage_overridden"),
        id="STEROID-MSCC excluded by an override down",
    ),
]

MRI_MSCC = [
    pytest.param(
        [mscc_referral(), imaging_performed(T0 + 23 * H)],
        T0 + 2 * D,
        "MRI-MSCC",
        met(T0 + 24 * H, T0 + 23 * H),
        id="MRI-MSCC met on time",
    ),
    pytest.param(
        [mscc_referral(), imaging_performed(T0 + 24 * H)],
        T0 + 2 * D,
        "MRI-MSCC",
        met(T0 + 24 * H, T0 + 24 * H),
        id="MRI-MSCC stopped exactly at due_at is met",
    ),
    pytest.param(
        [mscc_referral(), imaging_performed(T0 + 24 * H + S)],
        T0 + 2 * D,
        "MRI-MSCC",
        breached(T0 + 24 * H, stopped=T0 + 24 * H + S),
        id="MRI-MSCC met one second late is breached",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + H,
        "MRI-MSCC",
        running(T0 + 24 * H),
        id="MRI-MSCC running",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 12 * H,
        "MRI-MSCC",
        running(T0 + 24 * H, at_risk=True),
        id="MRI-MSCC at risk at 50 %",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 24 * H,
        "MRI-MSCC",
        running(T0 + 24 * H, at_risk=True),
        id="MRI-MSCC still running exactly at due_at",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 24 * H + S,
        "MRI-MSCC",
        breached(T0 + 24 * H),
        id="MRI-MSCC breached while running",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_requested(T0 + H, "ct_whole_spine", "pacemaker"),
            imaging_performed(T0 + 3 * H, "ct_whole_spine"),
        ],
        T0 + 2 * D,
        "MRI-MSCC",
        met(T0 + 24 * H, T0 + 3 * H),
        id="MRI-MSCC met by a CT requested with a contraindication",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_requested(T0 + H, "mri_whole_spine"),
            imaging_performed(T0 + 3 * H, "ct_whole_spine"),
        ],
        T0 + 4 * H,
        "MRI-MSCC",
        running(T0 + 24 * H),
        id="MRI-MSCC not stopped by a CT without a CT request",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H, "ct_whole_spine"),
            imaging_requested(T0 + 3 * H, "ct_whole_spine", "pacemaker"),
        ],
        T0 + 4 * H,
        "MRI-MSCC",
        running(T0 + 24 * H),
        id="MRI-MSCC not stopped by a CT requested only after it was done",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H, "ct_whole_spine"),
            imaging_performed(T0 + 5 * H, "mri_whole_spine"),
        ],
        T0 + 2 * D,
        "MRI-MSCC",
        met(T0 + 24 * H, T0 + 5 * H),
        id="MRI-MSCC met by the MRI that follows an unrequested CT",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H, "ct_whole_spine"),
            imaging_reported(T0 + 6 * H, "no_spinal_metastases"),
        ],
        T0 + 2 * D,
        "MRI-MSCC",
        excluded(T0 + 24 * H, T0 + 6 * H, "ruled_out"),
        id="MRI-MSCC excluded when the pathway closes as ruled_out",
    ),
    pytest.param(
        [mets_referral(), neuro_deteriorated(T0 + 30 * H)],
        T0 + 31 * H,
        "MRI-MSCC",
        running(T0 + 54 * H, starts=T0 + 30 * H),
        id="MRI-MSCC restarts at the neurological upgrade",
    ),
    pytest.param(
        [mets_referral(), imaging_performed(T0 + 5 * H), neuro_deteriorated(T0 + 30 * H)],
        T0 + 31 * H,
        "MRI-MSCC",
        NOT_STARTED,
        id="MRI-MSCC does not start on an upgrade after the MRI",
    ),
    pytest.param(
        [mscc_referral(), neuro_deteriorated(T0 + 2 * H)],
        T0 + 3 * H,
        "MRI-MSCC",
        running(T0 + 24 * H),
        id="MRI-MSCC already running keeps its start on deterioration",
    ),
    pytest.param(
        [
            mets_referral(),
            overridden(T0 + 2 * H, MSCC),
            neuro_deteriorated(T0 + 5 * H),
        ],
        T0 + 6 * H,
        "MRI-MSCC",
        running(T0 + 26 * H, starts=T0 + 2 * H),
        id="MRI-MSCC started by an override up keeps its start on deterioration",
    ),
    pytest.param(
        [mscc_referral(), overridden(T0 + 3 * H, METS)],
        T0 + 4 * H,
        "MRI-MSCC",
        excluded(T0 + 24 * H, T0 + 3 * H, "triage_overridden"),
        id="MRI-MSCC excluded by an override down",
    ),
    pytest.param(
        [mscc_referral(at=datetime(2026, 10, 24, 12, 0, tzinfo=UTC))],
        datetime(2026, 10, 25, 11, 59, tzinfo=UTC),
        "MRI-MSCC",
        running(
            datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
            starts=datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            at_risk=True,
        ),
        id="MRI-MSCC counts 24 elapsed hours across the October clock change",
    ),
]

MRI_METS = [
    pytest.param(
        [mets_referral(), imaging_performed(T0 + 5 * D)],
        T0 + 10 * D,
        "MRI-METS",
        met(WEEK_DUE, T0 + 5 * D),
        id="MRI-METS met on time",
    ),
    pytest.param(
        [mets_referral(), imaging_performed(WEEK_DUE - S)],
        T0 + 10 * D,
        "MRI-METS",
        met(WEEK_DUE, WEEK_DUE - S),
        id="MRI-METS stopped at due_at - 1 s is met",
    ),
    pytest.param(
        [mets_referral(), imaging_performed(WEEK_DUE)],
        T0 + 10 * D,
        "MRI-METS",
        breached(WEEK_DUE, stopped=WEEK_DUE),
        id="MRI-METS stopped exactly at due_at is breached",
    ),
    pytest.param(
        [mets_referral()],
        T0 + D,
        "MRI-METS",
        running(WEEK_DUE),
        id="MRI-METS running",
    ),
    pytest.param(
        # 50 % of 2 Nov 09:00 -> 10 Nov 00:00 (183 h) is 91.5 h.
        [mets_referral()],
        T0 + 91 * H,
        "MRI-METS",
        running(WEEK_DUE),
        id="MRI-METS not at risk before 50 % of its span",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 91 * H + 30 * M,
        "MRI-METS",
        running(WEEK_DUE, at_risk=True),
        id="MRI-METS at risk at 50 % of its span",
    ),
    pytest.param(
        [mets_referral()],
        WEEK_DUE - S,
        "MRI-METS",
        running(WEEK_DUE, at_risk=True),
        id="MRI-METS still running on the last second of the due date",
    ),
    pytest.param(
        [mets_referral()],
        WEEK_DUE,
        "MRI-METS",
        breached(WEEK_DUE),
        id="MRI-METS breached exactly at due_at",
    ),
    pytest.param(
        [mets_referral(), imaging_performed(T0 + 9 * D)],
        T0 + 10 * D,
        "MRI-METS",
        breached(WEEK_DUE, stopped=T0 + 9 * D),
        id="MRI-METS met late is breached",
    ),
    pytest.param(
        [mets_referral(at=datetime(2026, 3, 25, 23, 30, tzinfo=UTC))],
        datetime(2026, 3, 26, tzinfo=UTC),
        "MRI-METS",
        running(
            datetime(2026, 4, 1, 23, 0, tzinfo=UTC),
            starts=datetime(2026, 3, 25, 23, 30, tzinfo=UTC),
        ),
        id="MRI-METS spec example across the start of BST",
    ),
    pytest.param(
        [mets_referral(at=datetime(2026, 11, 2, 23, 50, tzinfo=UTC))],
        datetime(2026, 11, 3, 1, 0, tzinfo=UTC),
        "MRI-METS",
        running(WEEK_DUE, starts=datetime(2026, 11, 2, 23, 50, tzinfo=UTC)),
        id="MRI-METS referred at 23:50 London counts from that day",
    ),
    pytest.param(
        [mets_referral(at=datetime(2026, 11, 3, 0, 10, tzinfo=UTC))],
        datetime(2026, 11, 3, 1, 0, tzinfo=UTC),
        "MRI-METS",
        running(WEEK_DUE + D, starts=datetime(2026, 11, 3, 0, 10, tzinfo=UTC)),
        id="MRI-METS referred at 00:10 London counts from the next day",
    ),
    pytest.param(
        # 23:10 UTC on 1 June is 00:10 BST on 2 June: the London date decides.
        [mets_referral(at=datetime(2026, 6, 1, 23, 10, tzinfo=UTC))],
        datetime(2026, 6, 2, tzinfo=UTC),
        "MRI-METS",
        running(
            datetime(2026, 6, 9, 23, 0, tzinfo=UTC),
            starts=datetime(2026, 6, 1, 23, 10, tzinfo=UTC),
        ),
        id="MRI-METS takes the London date, not the UTC date, in summer",
    ),
    pytest.param(
        [
            mets_referral(),
            imaging_requested(T0 + D, "ct_whole_spine", "claustrophobia"),
            imaging_performed(T0 + 2 * D, "ct_whole_spine"),
        ],
        T0 + 10 * D,
        "MRI-METS",
        met(WEEK_DUE, T0 + 2 * D),
        id="MRI-METS met by a CT requested with a contraindication",
    ),
    pytest.param(
        [mets_referral(), neuro_deteriorated(T0 + D)],
        T0 + 2 * D,
        "MRI-METS",
        running(WEEK_DUE),
        id="MRI-METS keeps running after the neurological upgrade",
    ),
    pytest.param(
        [mets_referral(), closed(T0 + 2 * D, "transferred")],
        T0 + 10 * D,
        "MRI-METS",
        excluded(WEEK_DUE, T0 + 2 * D, "transferred"),
        id="MRI-METS excluded by closing within its limit",
    ),
    pytest.param(
        [mets_referral(), closed(T0 + 9 * D, "died")],
        T0 + 10 * D,
        "MRI-METS",
        breached(WEEK_DUE, stopped=T0 + 9 * D, reason="died"),
        id="MRI-METS closing after the due time stays breached",
    ),
    pytest.param(
        [mets_referral(), overridden(T0 + D, REVIEW)],
        T0 + 10 * D,
        "MRI-METS",
        excluded(WEEK_DUE, T0 + D, "triage_overridden"),
        id="MRI-METS excluded by an override down to needs_review",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + D,
        "MRI-METS",
        NOT_STARTED,
        id="MRI-METS not on suspected MSCC",
    ),
]

PLAN_METS = [
    pytest.param(
        [
            mets_referral(),
            imaging_performed(T0 + D),
            imaging_reported(T0 + 2 * D, "spinal_metastases"),
            mdt_decided(T0 + 4 * D),
        ],
        T0 + 10 * D,
        "PLAN-METS",
        met(WEEK_DUE, T0 + 4 * D),
        id="PLAN-METS met on time",
    ),
    pytest.param(
        [
            mets_referral(),
            imaging_performed(T0 + D),
            imaging_reported(T0 + 2 * D, "spinal_metastases"),
            mdt_decided(T0 + 4 * D, "best_supportive_care", decision_to_treat=False),
        ],
        T0 + 10 * D,
        "PLAN-METS",
        met(WEEK_DUE, T0 + 4 * D),
        id="PLAN-METS met by a decision not to treat",
    ),
    pytest.param(
        [mets_referral(), mdt_decided(T0 + 9 * D)],
        T0 + 10 * D,
        "PLAN-METS",
        breached(WEEK_DUE, stopped=T0 + 9 * D),
        id="PLAN-METS met late is breached",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 3 * D,
        "PLAN-METS",
        running(WEEK_DUE),
        id="PLAN-METS running",
    ),
    pytest.param(
        [mets_referral()],
        T0 + 5 * D,
        "PLAN-METS",
        running(WEEK_DUE, at_risk=True),
        id="PLAN-METS at risk",
    ),
    pytest.param(
        [mets_referral()],
        WEEK_DUE,
        "PLAN-METS",
        breached(WEEK_DUE),
        id="PLAN-METS breached while running",
    ),
    pytest.param(
        [
            mets_referral(),
            imaging_performed(T0 + D),
            imaging_reported(T0 + 2 * D, "no_spinal_metastases"),
        ],
        T0 + 10 * D,
        "PLAN-METS",
        excluded(WEEK_DUE, T0 + 2 * D, "ruled_out"),
        id="PLAN-METS excluded when a report rules out metastases",
    ),
    pytest.param(
        [mets_referral(), closed(T0 + 8 * D, "died")],
        T0 + 10 * D,
        "PLAN-METS",
        breached(WEEK_DUE, stopped=T0 + 8 * D, reason="died"),
        id="PLAN-METS closing after the due time stays breached",
    ),
]

PLAN_MSCC = [
    pytest.param(
        _mscc_reported(mdt_decided(T0 + 20 * H)),
        T0 + 2 * D,
        "PLAN-MSCC",
        met(T0 + 28 * H, T0 + 20 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC met on time",
    ),
    pytest.param(
        _mscc_reported(mdt_decided(T0 + 30 * H)),
        T0 + 2 * D,
        "PLAN-MSCC",
        breached(T0 + 28 * H, stopped=T0 + 30 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC met late is breached",
    ),
    pytest.param(
        _mscc_reported(),
        T0 + 5 * H,
        "PLAN-MSCC",
        running(T0 + 28 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC running from the mscc report",
    ),
    pytest.param(
        _mscc_reported(),
        T0 + 16 * H,
        "PLAN-MSCC",
        running(T0 + 28 * H, starts=T0 + 4 * H, at_risk=True),
        id="PLAN-MSCC at risk at 50 %",
    ),
    pytest.param(
        _mscc_reported(),
        T0 + 28 * H + S,
        "PLAN-MSCC",
        breached(T0 + 28 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC breached while running",
    ),
    pytest.param(
        _mscc_reported(finding="spinal_metastases"),
        T0 + 5 * H,
        "PLAN-MSCC",
        NOT_STARTED,
        id="PLAN-MSCC not started by a spinal_metastases report",
    ),
    pytest.param(
        _mscc_reported(imaging_reported(T0 + 6 * H, "mscc"), finding="spinal_metastases"),
        T0 + 7 * H,
        "PLAN-MSCC",
        running(T0 + 30 * H, starts=T0 + 6 * H),
        id="PLAN-MSCC starts at the first report finding mscc",
    ),
    pytest.param(
        _mscc_reported(imaging_reported(T0 + 6 * H, "mscc")),
        T0 + 7 * H,
        "PLAN-MSCC",
        running(T0 + 28 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC a second mscc report does not restart it",
    ),
    pytest.param(
        [
            mscc_referral(),
            imaging_performed(T0 + 2 * H),
            mdt_decided(T0 + 3 * H),
            imaging_reported(T0 + 4 * H, "mscc"),
        ],
        T0 + 5 * H,
        "PLAN-MSCC",
        NOT_STARTED,
        id="PLAN-MSCC does not start when the decision came first",
    ),
    pytest.param(
        [mets_referral(), imaging_performed(T0 + 2 * H), imaging_reported(T0 + 4 * H, "mscc")],
        T0 + 5 * H,
        "PLAN-MSCC",
        running(T0 + 28 * H, starts=T0 + 4 * H),
        id="PLAN-MSCC runs on a suspected metastases pathway when imaging finds mscc",
    ),
    pytest.param(
        [review_referral(), imaging_performed(T0 + 2 * H), imaging_reported(T0 + 4 * H, "mscc")],
        T0 + 5 * H,
        "PLAN-MSCC",
        NOT_STARTED,
        id="PLAN-MSCC needs_review runs no clock",
    ),
    pytest.param(
        _mscc_reported(closed(T0 + 10 * H, "died")),
        T0 + 2 * D,
        "PLAN-MSCC",
        excluded(T0 + 28 * H, T0 + 10 * H, "died", starts=T0 + 4 * H),
        id="PLAN-MSCC excluded by closing within its limit",
    ),
]

RT_24H = [
    pytest.param(
        _decided("radiotherapy", treatment_started(T0 + 20 * H, "radiotherapy")),
        T0 + 2 * D,
        "RT-24H",
        met(DECIDED + 24 * H, T0 + 20 * H, starts=DECIDED),
        id="RT-24H met on time",
    ),
    pytest.param(
        _decided("radiotherapy", treatment_started(DECIDED + 25 * H, "radiotherapy")),
        T0 + 2 * D,
        "RT-24H",
        breached(DECIDED + 24 * H, stopped=DECIDED + 25 * H, starts=DECIDED),
        id="RT-24H met late is breached",
    ),
    pytest.param(
        _decided("radiotherapy"),
        DECIDED + H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="RT-24H running from the decision to treat",
    ),
    pytest.param(
        _decided("radiotherapy"),
        DECIDED + 12 * H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED, at_risk=True),
        id="RT-24H at risk at 50 %",
    ),
    pytest.param(
        _decided("radiotherapy"),
        DECIDED + 24 * H + S,
        "RT-24H",
        breached(DECIDED + 24 * H, starts=DECIDED),
        id="RT-24H breached while running",
    ),
    pytest.param(
        _decided("surgery_then_radiotherapy"),
        DECIDED + H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="RT-24H started by a plan of surgery then radiotherapy",
    ),
    pytest.param(
        _decided("surgery_then_radiotherapy", treatment_started(DECIDED + 2 * H, "surgery")),
        DECIDED + 3 * H,
        "RT-24H",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="RT-24H not stopped by surgery",
    ),
    pytest.param(
        _decided("radiotherapy", dtt=False),
        DECIDED + H,
        "RT-24H",
        NOT_STARTED,
        id="RT-24H not started without a decision to treat",
    ),
    pytest.param(
        _decided("systemic_therapy"),
        DECIDED + H,
        "RT-24H",
        NOT_STARTED,
        id="RT-24H not started by a plan without radiotherapy",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            mdt_decided(DECIDED, "radiotherapy", decision_to_treat=False),
            mdt_decided(DECIDED + 2 * H, "radiotherapy"),
        ],
        DECIDED + 3 * H,
        "RT-24H",
        running(DECIDED + 26 * H, starts=DECIDED + 2 * H),
        id="RT-24H starts at the first decision to treat",
    ),
    pytest.param(
        _decided("radiotherapy", closed(DECIDED + 2 * H, "died")),
        DECIDED + 3 * H,
        "RT-24H",
        excluded(DECIDED + 24 * H, DECIDED + 2 * H, "died", starts=DECIDED),
        id="RT-24H excluded by closing within its limit",
    ),
    pytest.param(
        _decided("radiotherapy", closed(DECIDED + 30 * H, "unfit_for_treatment")),
        DECIDED + 31 * H,
        "RT-24H",
        breached(
            DECIDED + 24 * H,
            stopped=DECIDED + 30 * H,
            reason="unfit_for_treatment",
            starts=DECIDED,
        ),
        id="RT-24H closing after the due time stays breached",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            treatment_started(T0 + 5 * H, "radiotherapy", "cord compression, out of hours"),
            mdt_decided(DECIDED, "radiotherapy"),
        ],
        DECIDED + H,
        "RT-24H",
        NOT_STARTED,
        id="RT-24H does not start when radiotherapy was given before the decision",
    ),
]

SURGERY = [
    pytest.param(
        _decided("surgery", treatment_started(DECIDED + 20 * H, "surgery")),
        T0 + 2 * D,
        "SURGERY",
        met(DECIDED + 24 * H, DECIDED + 20 * H, starts=DECIDED),
        id="SURGERY met on time",
    ),
    pytest.param(
        _decided("surgery", treatment_started(DECIDED + 26 * H, "surgery")),
        T0 + 3 * D,
        "SURGERY",
        breached(DECIDED + 24 * H, stopped=DECIDED + 26 * H, starts=DECIDED),
        id="SURGERY met late is breached",
    ),
    pytest.param(
        _decided("surgery"),
        DECIDED + H,
        "SURGERY",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="SURGERY running",
    ),
    pytest.param(
        _decided("surgery"),
        DECIDED + 18 * H,
        "SURGERY",
        running(DECIDED + 24 * H, starts=DECIDED, at_risk=True),
        id="SURGERY at risk",
    ),
    pytest.param(
        _decided("surgery"),
        DECIDED + 25 * H,
        "SURGERY",
        breached(DECIDED + 24 * H, starts=DECIDED),
        id="SURGERY breached while running",
    ),
    pytest.param(
        _decided("surgery_then_radiotherapy", treatment_started(DECIDED + 2 * H, "radiotherapy")),
        DECIDED + 3 * H,
        "SURGERY",
        running(DECIDED + 24 * H, starts=DECIDED),
        id="SURGERY not stopped by radiotherapy",
    ),
    pytest.param(
        _decided("radiotherapy"),
        DECIDED + H,
        "SURGERY",
        NOT_STARTED,
        id="SURGERY not started by a plan without surgery",
    ),
    pytest.param(
        _decided("surgery", dtt=False),
        DECIDED + H,
        "SURGERY",
        NOT_STARTED,
        id="SURGERY not started without a decision to treat",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            treatment_started(T0 + 5 * H, "surgery", "cauda equina, theatre free"),
            mdt_decided(DECIDED, "surgery"),
        ],
        DECIDED + H,
        "SURGERY",
        NOT_STARTED,
        id="SURGERY does not start after emergency surgery before the MDT",
    ),
    pytest.param(
        _decided("surgery", overridden(DECIDED + H, REVIEW)),
        DECIDED + 2 * H,
        "SURGERY",
        excluded(DECIDED + 24 * H, DECIDED + H, "triage_overridden", starts=DECIDED),
        id="SURGERY excluded by an override down to needs_review",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            mdt_decided(DECIDED, "surgery", decision_to_treat=False),
            mdt_decided(DECIDED + 2 * H, "surgery"),
        ],
        DECIDED + 3 * H,
        "SURGERY",
        running(DECIDED + 26 * H, starts=DECIDED + 2 * H),
        id="SURGERY starts at the first decision to treat after a decision not to",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            mdt_decided(DECIDED, "radiotherapy"),
            mdt_decided(DECIDED + 2 * H, "surgery"),
        ],
        DECIDED + 3 * H,
        "SURGERY",
        running(DECIDED + 26 * H, starts=DECIDED + 2 * H),
        id="SURGERY starts at the first decision to treat whose plan includes surgery",
    ),
]

CWT_FDS = [
    pytest.param(
        _suspected(
            imaging_performed(T0 + H),
            imaging_reported(T0 + 3 * H, "mscc"),
            diagnosis_communicated(T0 + 10 * D),
        ),
        T0 + 30 * D,
        "CWT-FDS",
        met(FDS_DUE, T0 + 10 * D),
        id="CWT-FDS met on time",
    ),
    pytest.param(
        _suspected(
            imaging_performed(T0 + H),
            imaging_reported(T0 + 3 * H, "mscc"),
            diagnosis_communicated(FDS_DUE + 10 * H),
        ),
        T0 + 40 * D,
        "CWT-FDS",
        breached(FDS_DUE, stopped=FDS_DUE + 10 * H),
        id="CWT-FDS met late is breached",
    ),
    pytest.param(
        _suspected(),
        T0 + 3 * D,
        "CWT-FDS",
        running(FDS_DUE),
        id="CWT-FDS running",
    ),
    pytest.param(
        _suspected(),
        T0 + 20 * D,
        "CWT-FDS",
        running(FDS_DUE, at_risk=True),
        id="CWT-FDS at risk",
    ),
    pytest.param(
        _suspected(),
        FDS_DUE,
        "CWT-FDS",
        breached(FDS_DUE),
        id="CWT-FDS breached while running",
    ),
    pytest.param(
        _suspected(closed(T0 + 5 * D, "died")),
        T0 + 30 * D,
        "CWT-FDS",
        excluded(FDS_DUE, T0 + 5 * D, "died"),
        id="CWT-FDS excluded by closing within its limit",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + D,
        "CWT-FDS",
        NOT_STARTED,
        id="CWT-FDS not for known cancer",
    ),
    pytest.param(
        [referral(cancer_status="suspected", neuro=[], pain=[])],
        T0 + D,
        "CWT-FDS",
        NOT_STARTED,
        id="CWT-FDS needs_review runs no clock",
    ),
    pytest.param(
        [referral(cancer_status="suspected", neuro=[], pain=[]), overridden(T0 + D, METS)],
        T0 + 2 * D,
        "CWT-FDS",
        running(FDS_DUE),
        id="CWT-FDS starts at the referral date once needs_review is overridden",
    ),
]

CWT_31 = [
    pytest.param(
        _decided("radiotherapy", treatment_started(DECIDED + 20 * H, "radiotherapy")),
        T0 + 40 * D,
        "CWT-31",
        met(CWT31_DUE, DECIDED + 20 * H, starts=DECIDED),
        id="CWT-31 met on time",
    ),
    pytest.param(
        _decided("systemic_therapy", treatment_started(T0 + 20 * D, "systemic_therapy")),
        T0 + 40 * D,
        "CWT-31",
        met(CWT31_DUE, T0 + 20 * D, starts=DECIDED),
        id="CWT-31 met by any first treatment",
    ),
    pytest.param(
        _decided("radiotherapy", treatment_started(CWT31_DUE + 9 * H, "radiotherapy")),
        T0 + 40 * D,
        "CWT-31",
        breached(CWT31_DUE, stopped=CWT31_DUE + 9 * H, starts=DECIDED),
        id="CWT-31 met late is breached",
    ),
    pytest.param(
        _decided("radiotherapy"),
        T0 + 2 * D,
        "CWT-31",
        running(CWT31_DUE, starts=DECIDED),
        id="CWT-31 running",
    ),
    pytest.param(
        _decided("radiotherapy"),
        T0 + 20 * D,
        "CWT-31",
        running(CWT31_DUE, starts=DECIDED, at_risk=True),
        id="CWT-31 at risk",
    ),
    pytest.param(
        _decided("radiotherapy"),
        CWT31_DUE,
        "CWT-31",
        breached(CWT31_DUE, starts=DECIDED),
        id="CWT-31 breached while running",
    ),
    pytest.param(
        _decided("best_supportive_care", dtt=False),
        T0 + 2 * D,
        "CWT-31",
        NOT_STARTED,
        id="CWT-31 not started without a decision to treat",
    ),
    pytest.param(
        _decided("radiotherapy", closed(T0 + 3 * D, "declined")),
        T0 + 40 * D,
        "CWT-31",
        excluded(CWT31_DUE, T0 + 3 * D, "declined", starts=DECIDED),
        id="CWT-31 excluded by closing within its limit",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            mdt_decided(DECIDED, "best_supportive_care", decision_to_treat=False),
            mdt_decided(DECIDED + 2 * D, "radiotherapy"),
        ],
        DECIDED + 3 * D,
        "CWT-31",
        running(CWT31_DUE + 2 * D, starts=DECIDED + 2 * D),
        id="CWT-31 starts at the first decision to treat after a decision not to",
    ),
    pytest.param(
        [
            *_mscc_reported(),
            treatment_started(T0 + 5 * H, "radiotherapy", "cord compression, out of hours"),
            mdt_decided(DECIDED, "radiotherapy"),
        ],
        DECIDED + H,
        "CWT-31",
        NOT_STARTED,
        id="CWT-31 does not start when treatment came before the decision",
    ),
]

CWT_62 = [
    pytest.param(
        _suspected(mdt_decided(T0 + 20 * D), treatment_started(T0 + 30 * D)),
        T0 + 70 * D,
        "CWT-62",
        met(CWT62_DUE, T0 + 30 * D),
        id="CWT-62 met on time",
    ),
    pytest.param(
        _suspected(mdt_decided(T0 + 20 * D), treatment_started(CWT62_DUE + 9 * H)),
        T0 + 70 * D,
        "CWT-62",
        breached(CWT62_DUE, stopped=CWT62_DUE + 9 * H),
        id="CWT-62 met late is breached",
    ),
    pytest.param(
        _suspected(treatment_started(T0 + 2 * H, "radiotherapy", "cord compression, MDT tomorrow")),
        T0 + 70 * D,
        "CWT-62",
        met(CWT62_DUE, T0 + 2 * H),
        id="CWT-62 met by emergency treatment before the MDT",
    ),
    pytest.param(
        _suspected(),
        T0 + 10 * D,
        "CWT-62",
        running(CWT62_DUE),
        id="CWT-62 running",
    ),
    pytest.param(
        _suspected(),
        T0 + 40 * D,
        "CWT-62",
        running(CWT62_DUE, at_risk=True),
        id="CWT-62 at risk",
    ),
    pytest.param(
        _suspected(),
        CWT62_DUE,
        "CWT-62",
        breached(CWT62_DUE),
        id="CWT-62 breached while running",
    ),
    pytest.param(
        _suspected(closed(T0 + 10 * D, "transferred")),
        T0 + 70 * D,
        "CWT-62",
        excluded(CWT62_DUE, T0 + 10 * D, "transferred"),
        id="CWT-62 excluded by closing within its limit",
    ),
    pytest.param(
        [mscc_referral()],
        T0 + 10 * D,
        "CWT-62",
        NOT_STARTED,
        id="CWT-62 not for known cancer",
    ),
    pytest.param(
        [mscc_referral(cancer_status="suspected", at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))],
        datetime(2026, 3, 2, tzinfo=UTC),
        "CWT-62",
        running(
            datetime(2026, 5, 2, 23, 0, tzinfo=UTC),
            starts=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        ),
        id="CWT-62 due date 2 May ends at midnight BST",
    ),
    pytest.param(
        [referral(cancer_status="suspected", neuro=[], pain=[])],
        T0 + D,
        "CWT-62",
        NOT_STARTED,
        id="CWT-62 needs_review runs no clock",
    ),
    pytest.param(
        [referral(cancer_status="suspected", neuro=[], pain=[]), overridden(T0 + D, MSCC)],
        T0 + 2 * D,
        "CWT-62",
        running(CWT62_DUE),
        id="CWT-62 starts at the referral date once needs_review is overridden",
    ),
    pytest.param(
        [
            referral(cancer_status="suspected", neuro=[], pain=[]),
            treatment_started(T0 + H, "radiotherapy", "cord compression, out of hours"),
            overridden(T0 + D, MSCC),
        ],
        T0 + 2 * D,
        "CWT-62",
        NOT_STARTED,
        id="CWT-62 does not start on an override after the first treatment",
    ),
]


@pytest.mark.parametrize(
    ("events", "as_of", "clock_id", "expected"),
    [
        *COORD_MSCC,
        *COORD_METS,
        *STEROID_MSCC,
        *MRI_MSCC,
        *MRI_METS,
        *PLAN_METS,
        *PLAN_MSCC,
        *RT_24H,
        *SURGERY,
        *CWT_FDS,
        *CWT_31,
        *CWT_62,
    ],
)
def test_each_clock_follows_its_rule(
    events: list[PathwayEvent], as_of: datetime, clock_id: str, expected: Seen | None
) -> None:
    seen = clocks_at(events, as_of)

    assert seen.get(clock_id) == expected


def test_the_table_covers_every_clock_of_the_ruleset() -> None:
    ids = {
        row.values[2]
        for table in (
            COORD_MSCC,
            COORD_METS,
            STEROID_MSCC,
            MRI_MSCC,
            MRI_METS,
            PLAN_METS,
            PLAN_MSCC,
            RT_24H,
            SURGERY,
            CWT_FDS,
            CWT_31,
            CWT_62,
        )
        for row in table
    }

    assert ids == {rule.id for rule in RULES.ruleset.clocks}
