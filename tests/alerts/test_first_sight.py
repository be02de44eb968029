"""A clock the deadline watch first sees late (after downtime, or a late-arriving referral),
end to end against real local receivers: one AT RISK at most, never two at once, and none at
all for a clock first seen breached.

STEROID-MSCC (4 h from referral at T0): warnings at 2 h (50 %) and 3 h (75 %), due at 4 h.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from db.alerts import ALERT
from tests.alerts.conftest import Receivers, refer, watch
from tests.factories import INTAKE_T0 as T0

H = timedelta(hours=1)
M = timedelta(minutes=1)


def _steroid_alerts(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ALERT.c.level, ALERT.c.step)
            .where(ALERT.c.clock_id == "STEROID-MSCC")
            .order_by(ALERT.c.created_at, ALERT.c.level)
        )
        return [(level, step) for level, step in rows]


def test_a_clock_first_seen_past_both_warnings_sends_one_at_risk_then_its_breach(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = refer(alert_engine, "REF-F1", "f1")[1]

    for at in (T0 + 3 * H + 10 * M, T0 + 3 * H + 11 * M, T0 + 3 * H + 40 * M, T0 + 4 * H + M):
        watch(alert_engine, at)

    assert [body["title"] for body in receivers.ok.bodies("coordinator")] == [
        f"AT RISK {pathway_id} Steroids within 4 h",
        f"BREACH {pathway_id} Steroids within 4 h",
    ]
    assert _steroid_alerts(alert_engine) == [("at_risk", 2), ("breach", 1)]


def test_a_clock_first_seen_breached_sends_its_breach_and_no_at_risk(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = refer(alert_engine, "REF-F1", "f1")[1]

    for at in (T0 + 4 * H + 10 * M, T0 + 4 * H + 11 * M, T0 + 4 * H + 20 * M):
        watch(alert_engine, at)

    assert [body["title"] for body in receivers.ok.bodies("coordinator")] == [
        f"BREACH {pathway_id} Steroids within 4 h"
    ]
    assert _steroid_alerts(alert_engine) == [("breach", 1)]
