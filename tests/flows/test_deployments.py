"""The deployments `cordwatch serve` serves are those prefect.yaml declares for workers, and
their schedules follow the settings the heartbeat alarm is computed from."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from flows.deployments import all_deployments
from services.settings import Settings

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def _schedules(deployment: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in deployment.schedules or []:
        schedule = entry.schedule
        if isinstance(schedule, IntervalSchedule):
            found.append({"interval": int(schedule.interval.total_seconds())})
        else:
            assert isinstance(schedule, CronSchedule)
            found.append({"cron": schedule.cron, "timezone": schedule.timezone})
    return found


def _limit(deployment: Any) -> int | None:
    limit = deployment.concurrency_limit
    return None if limit is None else int(getattr(limit, "limit", limit))


def test_serve_and_prefect_yaml_declare_the_same_deployments_and_schedules() -> None:
    declared = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    in_yaml = {
        d["name"]: (d["entrypoint"], d.get("schedules", []), d.get("concurrency_limit"))
        for d in declared
    }

    served = {d.name: (d.entrypoint, _schedules(d), _limit(d)) for d in all_deployments(Settings())}

    assert served == in_yaml


def test_the_watch_and_heartbeat_follow_the_watch_interval_setting() -> None:
    settings = Settings(watch_interval_seconds=120, timezone="Europe/Dublin")

    deployments = {d.name: d for d in all_deployments(settings)}

    for name in ("deadline-watch", "heartbeat-check"):
        (entry,) = deployments[name].schedules or []
        assert isinstance(entry.schedule, IntervalSchedule)
        assert entry.schedule.interval == timedelta(seconds=120)
        assert (deployments[name].description or "").startswith("Every 120 s")
    (report,) = deployments["performance-report"].schedules or []
    assert isinstance(report.schedule, CronSchedule)
    assert report.schedule.timezone == "Europe/Dublin"
