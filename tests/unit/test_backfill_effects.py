"""A backfill owes no letter for history: an event more than an hour before the import moment."""

from __future__ import annotations

from datetime import datetime

import pytest

from pathway.effects import effects_of_event
from pathway.outbox import BACKFILL_GRACE, IntakeMoment
from tests.factories import T0, H, imaging_performed, mscc_referral, view_of

REFERRAL = mscc_referral()  # at T0


def _kinds(moment: IntakeMoment | None) -> list[str]:
    return sorted(
        e.kind for e in effects_of_event("PW-1", REFERRAL, None, view_of([REFERRAL]), moment=moment)
    )


@pytest.mark.parametrize(
    ("moment", "letters"),
    [
        pytest.param(None, 2, id="no-moment-live"),
        pytest.param(IntakeMoment(now=T0 + 5 * H), 2, id="late-but-not-a-backfill"),
        pytest.param(
            IntakeMoment(now=T0 + BACKFILL_GRACE, backfill=True), 2, id="backfill-within-grace"
        ),
        pytest.param(
            IntakeMoment(now=T0 + BACKFILL_GRACE + H, backfill=True), 0, id="backfill-history"
        ),
    ],
)
def test_referral_letters_are_owed_unless_a_backfill_imports_them_as_history(
    moment: IntakeMoment | None, letters: int
) -> None:
    assert _kinds(moment).count("letter") == letters


def test_a_clock_stopped_late_in_history_owes_no_breach_report() -> None:
    late_scan = imaging_performed(T0 + 30 * H)  # MRI-MSCC (24 h) stopped 6 h late
    before = view_of([REFERRAL])
    after = view_of([REFERRAL, late_scan])
    now: datetime = T0 + 5 * 24 * H

    live = effects_of_event("PW-1", late_scan, before, after, moment=IntakeMoment(now=now))
    history = effects_of_event(
        "PW-1", late_scan, before, after, moment=IntakeMoment(now=now, backfill=True)
    )

    assert any(e.payload.get("letter") == "breach_report" for e in live)
    assert history == []
