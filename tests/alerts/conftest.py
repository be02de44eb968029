"""Alert fixtures: real local receivers behind an Apprise YAML file, and a watch driven by time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from db.repository import PATHWAY
from services.intake import Intake
from services.settings import get_settings
from services.watch import WatchReport, run_watch
from tasks.alerts import deliver_pending_alerts
from tests.alerts.receivers import JsonReceiver, SmtpReceiver, free_port
from tests.conftest import RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import pathway_lines


@dataclass
class Receivers:
    """One JSON receiver per role (paths), a failing one, a closed port, and an SMTP server."""

    ok: JsonReceiver
    failing: JsonReceiver
    smtp: SmtpReceiver
    closed_port: int
    config: Path

    def write_config(self, routes: dict[str, list[str]]) -> None:
        """Write the Apprise YAML: ``{tag: [url, ...]}``."""
        lines = ["urls:"]
        for tag, urls in routes.items():
            for url in urls:
                lines.append(f'  - "{url}":')
                lines.append(f"      - tag: {tag}")
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def standard(self) -> None:
        """Every role reachable: JSON paths per role, the consultant also by e-mail."""
        self.write_config(
            {
                "coordinator": [self.ok.url("coordinator")],
                "oncall-consultant": [
                    self.ok.url("oncall-consultant"),
                    self.smtp.url("oncall@example.org"),
                ],
                "service-lead": [self.ok.url("service-lead")],
                "ops": [self.ok.url("ops")],
                "fallback": [self.ok.url("fallback")],
            }
        )


@pytest.fixture
def receivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receivers]:
    ok, failing, smtp = JsonReceiver(), JsonReceiver(status=500), SmtpReceiver()
    config = tmp_path / "apprise.yml"
    monkeypatch.setenv("CORDWATCH_ALERT_CONFIG_PATH", str(config))
    monkeypatch.setenv("CORDWATCH_ALERT_RETRY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("CORDWATCH_ALERT_DELIVERY_ATTEMPTS", "3")
    monkeypatch.setenv("CORDWATCH_PREFECT_UI_URL", "http://prefect.example.org")
    get_settings.cache_clear()
    found = Receivers(ok, failing, smtp, free_port(), config)
    found.standard()
    yield found
    ok.close()
    failing.close()
    smtp.close()


@pytest.fixture
def alert_engine(engine: Engine) -> Engine:
    """The test engine with the alert tables emptied (PostgreSQL is shared by the session)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alert"))
        conn.execute(text("DELETE FROM watch_run"))
    return engine


def watch(engine: Engine, at: datetime) -> WatchReport:
    """One deadline watch at ``at`` as the scheduled flow runs it: sweep, then deliver."""
    report = run_watch(engine, as_of=at)
    asyncio.run(deliver_pending_alerts(at))
    return report


def refer(
    engine: Engine, ref: str = "REF-A1", prefix: str = "a1", *, now: datetime | None = None
) -> tuple[Intake, str]:
    """A referral at T0 and coordinator contact at 20 min, received at 30 min (or ``now``):
    STEROID-MSCC (4 h) runs and nothing else is near. The intake and the PW- id."""
    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    received = now or T0 + timedelta(minutes=30)
    result = intake.ingest_lines(enumerate(pathway_lines(ref, T0, prefix)[:2], 1), now=received)
    assert result.rejected == []
    with engine.connect() as conn:
        pathway_id = conn.execute(
            select(PATHWAY.c.id).where(PATHWAY.c.reference == ref)
        ).scalar_one()
    return intake, str(pathway_id)
