"""No patient identifier ever reaches a receiver; a delivery process killed after its decision
loses no alert and doubles none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from db.alerts import ALERT
from db.repository import OUTBOX
from pathway.alerts import AlertContext
from pathway.safety import SafetyAlertContext
from pathway.simulation import simulate_cohort
from services.alerts import list_alerts
from services.intake import Intake
from tests.alerts.conftest import Receivers, watch
from tests.alerts.receivers import wait_until
from tests.conftest import RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import pathway_lines

ROOT = Path(__file__).resolve().parents[2]


def _canary_cohort(start: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """A simulated cohort whose names and MRNs are canaries; returns events and identifiers."""
    events = simulate_cohort(
        patients=40, seed=4, start=start, span_days=2, horizon=start + timedelta(days=2)
    )
    identifiers: list[str] = []
    for index, event in enumerate(e for e in events if e["type"] == "referral.received"):
        patient = event["data"]["patient"]
        patient["given_name"] = f"Canarygiven{index:03d}"
        patient["family_name"] = f"Canaryfamily{index:03d}"
        patient["mrn"] = f"CANARYMRN{index:05d}"
        born = date.fromisoformat(patient["date_of_birth"])
        nhs = patient.get("nhs_number")
        if nhs is not None:
            identifiers += [nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"]
        identifiers += [
            patient["given_name"],
            patient["family_name"],
            patient["mrn"],
            born.isoformat(),
            born.strftime("%d/%m/%Y"),
            born.strftime("%d %b %Y"),
            born.strftime("%d%m%Y"),
        ]
    return events, identifiers


def _email_texts(receivers: Receivers) -> list[str]:
    texts = []
    for message in receivers.smtp.messages:
        payload = message.get_payload(decode=True)
        body = payload.decode() if isinstance(payload, bytes) else str(payload)
        texts.append(f"{message['Subject']}\n{message['From']}\n{message['To']}\n{body}")
    return texts


def test_the_alert_context_has_no_field_for_an_identifier() -> None:
    fields = {name.lower() for name in AlertContext.__dataclass_fields__}

    assert (
        not any(
            word in name
            for name in fields
            for word in ("name", "nhs", "mrn", "birth", "dob", "patient")
        )
        or fields & {"name"} == set()
    )
    assert fields == {
        "alert_id",
        "level",
        "step",
        "pathway_id",
        "category",
        "clock_id",
        "clock_title",
        "due_local",
        "time_left",
        "link",
        "ack_command",
    }


def test_the_safety_alert_context_has_no_field_for_an_identifier_a_reference_or_an_event_id() -> (
    None
):
    """``templates/alerts/safety.txt.j2`` can say only these (StrictUndefined); the receivers
    of a BIOPSY-GUARD alert and its escalations are checked for canaries in
    ``tests/alerts/test_safety.py::test_no_identifier_or_reference_reaches_a_receiver``."""
    fields = set(SafetyAlertContext.__dataclass_fields__)

    assert fields == {
        "alert_id",
        "level",
        "step",
        "escalation",
        "safety_alert_id",
        "pathway_id",
        "rule",
        "rule_words",
        "event_type",
        "event_words",
        "occurred_local",
        "advice",
        "link",
        "ack_command",
    }


def test_no_identifier_of_a_simulated_cohort_reaches_any_receiver(
    alert_engine: Engine, receivers: Receivers
) -> None:
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    events, identifiers = _canary_cohort(start)
    intake = Intake(alert_engine, new_pathway_rules=lambda: RULES)
    result = intake.ingest_lines(
        ((n, json.dumps(e)) for n, e in enumerate(events, 1)), now=start + timedelta(days=2)
    )
    assert result.rejected == []

    for step in range(3 * 24):  # every hour for three days
        watch(alert_engine, start + timedelta(minutes=60 * step + 1))

    with alert_engine.connect() as conn:
        levels = {a["level"] for a in list_alerts(conn)}
    assert {"at_risk", "breach", "escalation"} <= levels
    assert wait_until(lambda: len(receivers.smtp.messages) >= 1)
    payloads = [body.decode() for body in receivers.ok.raw] + _email_texts(receivers)
    assert len(payloads) > 50
    leaks = [(i, p) for p in payloads for i in identifiers if i.lower() in p.lower()]
    assert leaks == []


KILLED_DELIVERY = """
import sys, time
from datetime import datetime
from db.engine import make_engine
from services.watch import run_watch
engine = make_engine(sys.argv[1])
report = run_watch(engine, as_of=datetime.fromisoformat(sys.argv[2]))
print(len(report.sweep.queued), flush=True)   # decided and committed...
time.sleep(600)                               # ...and killed before sending anything
"""


def test_a_delivery_killed_after_its_decision_loses_nothing_and_doubles_nothing(
    alert_engine: Engine, receivers: Receivers, database_url: str, tmp_path: Path
) -> None:
    intake = Intake(alert_engine, new_pathway_rules=lambda: RULES)
    for n in range(5):
        intake.ingest_lines(
            enumerate(pathway_lines(f"REF-K{n}", T0, f"k{n}")[:2], 1), now=T0 + timedelta(hours=1)
        )
    script = tmp_path / "killed_delivery.py"
    script.write_text(KILLED_DELIVERY, encoding="utf-8")
    as_of = T0 + timedelta(hours=4, minutes=1)
    child = subprocess.Popen(
        [sys.executable, str(script), database_url, as_of.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    queued = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    watch(alert_engine, as_of + timedelta(minutes=1))
    watch(alert_engine, as_of + timedelta(minutes=2))

    assert child.returncode == -signal.SIGKILL
    assert queued == 5
    with alert_engine.connect() as conn:
        ids = set(conn.execute(select(ALERT.c.id).where(ALERT.c.level == "breach")).scalars())
        statuses = set(
            conn.execute(select(OUTBOX.c.status).where(OUTBOX.c.kind == "alert")).scalars()
        )
    received = [
        b["message"].rsplit("ack ", 1)[1].split()[0] for b in receivers.ok.bodies("coordinator")
    ]
    assert sorted(received) == sorted(ids)
    assert len(ids) == 5
    assert statuses == {"sent"}
