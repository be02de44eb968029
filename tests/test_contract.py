"""What a deploy must never change, pinned to literal values (issue 13's must-not-change list).

Every idempotency key is compared byte for byte: a key that changes makes the outbox, Prefect or
the inbox take a redelivery for a new effect, and letters and alerts go out twice. The Prefect
surface (deployments, flow and run names, artifact keys), the command line and the
``CORDWATCH_*`` names are what operators, workers and scripts already depend on.

The builders are looked up by their current module path in :data:`BUILDERS` only, so a
restructure that moves one changes one line here and never the expected value.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer.main
import yaml

ROOT = Path(__file__).resolve().parent.parent

BUILDERS = {
    "alert_key": "pathway.alerts",
    "heartbeat_key": "pathway.alerts",
    "AlertDue": "pathway.alerts",
    "AlertLevel": "pathway.alerts",
    "TAGS": "pathway.alerts",
    "letter_key": "pathway.letters",
    "breach_report_key": "pathway.letters",
    "Recipient": "pathway.letters",
    "safety_key": "pathway.safety",
    "safety_escalation_key": "pathway.safety",
    "board_form_key": "pathway.board",
    "InboxEntry": "db.inbox",
    "notify_event": "flows.notify",
    "request_board_decision": "tasks.board_forms",
    "artifact_key": "tasks.views",
    "Settings": "services.settings",
    "app": "cordwatch.cli",
}
"""Where each name lives today: the one line to change when a restructure moves it."""


def builder(name: str) -> Any:
    """The real builder (or type) ``name`` from the module it lives in today."""
    return getattr(importlib.import_module(BUILDERS[name]), name)


AT = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)


# --- idempotency keys --------------------------------------------------------------------------


def test_alert_keys_are_byte_for_byte_as_before() -> None:
    alert_key, due, level = builder("alert_key"), builder("AlertDue"), builder("AlertLevel")

    at_risk = alert_key("PW-7F3K2Q", "MRI-MSCC", AT, due(level.AT_RISK, 2, AT))
    escalation = alert_key("PW-7F3K2Q", "CWT-62", AT, due(level.ESCALATION, 3, AT))

    assert at_risk == "alert:PW-7F3K2Q:MRI-MSCC:20261102T093015Z:at_risk:2"
    assert escalation == "alert:PW-7F3K2Q:CWT-62:20261102T093015Z:escalation:3"


def test_heartbeat_keys_are_byte_for_byte_as_before() -> None:
    heartbeat_key = builder("heartbeat_key")

    assert heartbeat_key(AT) == "alert:heartbeat:20261102T093015Z"
    assert heartbeat_key(None) == "alert:heartbeat:never"


def test_letter_and_breach_report_keys_are_byte_for_byte_as_before() -> None:
    letter_key, recipient = builder("letter_key"), builder("Recipient")
    breach_report_key = builder("breach_report_key")

    letter = letter_key("mri_booked", "PW-7F3K2Q", "ris-41", recipient.BONE_SARCOMA_CENTRE)
    report = breach_report_key("PW-7F3K2Q", "STEROID-MSCC", AT)

    assert letter == "letter:mri_booked:PW-7F3K2Q:ris-41:bone_sarcoma_centre"
    assert report == "letter:breach_report:PW-7F3K2Q:STEROID-MSCC:2026-11-02T09:30:15+00:00"


def test_safety_alert_and_escalation_keys_are_byte_for_byte_as_before() -> None:
    safety_key, escalation_key = builder("safety_key"), builder("safety_escalation_key")

    assert safety_key("PW-7F3K2Q", "ris:41") == "alert:safety:PW-7F3K2Q:ris:41"
    assert escalation_key("PW-7F3K2Q", "ris:41", 2) == "alert:safety-escalation:PW-7F3K2Q:2:ris:41"


def test_the_board_form_outbox_key_is_as_before() -> None:
    assert builder("board_form_key")("ev-6") == "board-form:ev-6"


def _capture_run_deployment(monkeypatch: pytest.MonkeyPatch, caller: Any) -> dict[str, Any]:
    """Replace ``arun_deployment`` where ``caller`` is defined; returns what it was called with."""
    seen: dict[str, Any] = {}

    async def fake(name: str, **kwargs: Any) -> Any:
        seen.update(kwargs, name=name)
        return SimpleNamespace(id="run-1")

    monkeypatch.setattr(sys.modules[caller.__module__], "arun_deployment", fake)
    return seen


def test_a_handle_event_run_is_keyed_named_and_tagged_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notify_event = builder("notify_event")
    seen = _capture_run_deployment(monkeypatch, notify_event)
    entry = builder("InboxEntry")(
        event_id="ris-41",
        pathway_id="PW-7F3K2Q",
        type="imaging.reported",
        category="suspected_mscc",
        stage="awaiting_decision",
        processed=False,
    )

    assert asyncio.run(notify_event(entry)) == "run-1"
    assert seen == {
        "name": "handle-event/handle-event",
        "parameters": {"event_id": "ris-41"},
        "flow_run_name": "PW-7F3K2Q imaging.reported",
        "tags": ["pathway:PW-7F3K2Q", "category:suspected_mscc", "stage:awaiting_decision"],
        "idempotency_key": "handle-event:ris-41",
        "timeout": 0,
        "as_subflow": False,
    }


def test_a_board_decision_form_is_keyed_named_and_tagged_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_board_decision = builder("request_board_decision")
    seen = _capture_run_deployment(monkeypatch, request_board_decision)

    assert asyncio.run(request_board_decision("PW-7F3K2Q", "ev-6")) == "run-1"
    assert seen == {
        "name": "board-decision/board-decision",
        "parameters": {"pathway_id": "PW-7F3K2Q", "listed_event_id": "ev-6"},
        "flow_run_name": "PW-7F3K2Q board decision",
        "tags": ["pathway:PW-7F3K2Q", "board-decision"],
        "idempotency_key": "board-decision:ev-6",
        "timeout": 0,
        "as_subflow": False,
    }


def test_alerts_are_routed_by_the_same_apprise_tags() -> None:
    tags = {level.value: routes for level, routes in builder("TAGS").items()}

    assert tags == {
        "at_risk": ("coordinator",),
        "breach": ("coordinator", "oncall-consultant"),
        "escalation": ("service-lead",),
        "heartbeat": ("ops",),
        "safety": ("coordinator", "oncall-consultant"),
    }


# --- the Prefect surface -----------------------------------------------------------------------


def test_prefect_yaml_declares_the_same_deployments() -> None:
    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))

    found = [
        (
            d["name"],
            d["entrypoint"],
            d.get("schedules", []),
            d.get("concurrency_limit"),
            d["work_pool"]["name"],
            d.get("tags", []),
        )
        for d in declared["deployments"]
    ]

    assert declared["name"] == "cordwatch"
    assert found == [
        ("handle-event", "flows.handle_event.handle_event", [], 4, "cordwatch", []),
        (
            "deadline-watch",
            "flows.deadline_watch.deadline_watch",
            [{"interval": 60}],
            1,
            "cordwatch",
            [],
        ),
        ("heartbeat-check", "flows.alerts.heartbeat_check", [{"interval": 60}], 1, "cordwatch", []),
        ("acknowledge-alert", "flows.alerts.acknowledge_alert", [], None, "cordwatch", []),
        ("board-decision", "flows.board_decision.board_decision", [], None, "cordwatch", []),
        ("explain-breach", "flows.explain_breach.explain_breach", [], None, "cordwatch", []),
        ("ingest", "flows.ingest.ingest_file", [], None, "cordwatch", []),
        (
            "performance-report",
            "flows.report.performance_report_flow",
            [{"cron": "0 7 * * 1", "timezone": "Europe/London"}],
            1,
            "cordwatch",
            [],
        ),
    ]


def _flow_at(entrypoint: str) -> Any:
    module, _, name = entrypoint.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_entrypoint_is_the_flow_of_the_same_name_and_run_name() -> None:
    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    flows = {d["entrypoint"]: _flow_at(d["entrypoint"]) for d in declared["deployments"]}

    found = {
        entrypoint: (
            flow.name,
            flow.flow_run_name if isinstance(flow.flow_run_name, str) else "(computed)",
            flow.retries,
        )
        for entrypoint, flow in flows.items()
    }

    # The computed run names are pinned where they are built: "<PW-id> <event type>"
    # (InboxEntry.run_name, above), "<PW-id> explain breach", "ingest <8 hex>" (test_run_names).
    assert found == {
        "flows.handle_event.handle_event": ("handle-event", "(computed)", 2),
        "flows.deadline_watch.deadline_watch": ("deadline-watch", "deadline watch", 0),
        "flows.alerts.heartbeat_check": ("heartbeat-check", "heartbeat check", 0),
        "flows.alerts.acknowledge_alert": ("acknowledge-alert", "acknowledge {alert_id}", 0),
        "flows.board_decision.board_decision": (
            "board-decision",
            "{pathway_id} board decision",
            0,
        ),
        "flows.explain_breach.explain_breach": ("explain-breach", "(computed)", 0),
        "flows.ingest.ingest_file": ("ingest", "(computed)", 0),
        "flows.report.performance_report_flow": ("performance-report", "performance report", 0),
    }


def _literal_artifact_keys() -> set[str]:
    """Every ``key="..."`` given to a Prefect artifact call in flows/ and tasks/."""
    keys: set[str] = set()
    for path in [*(ROOT / "flows").rglob("*.py"), *(ROOT / "tasks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            called = node.func.id if isinstance(node.func, ast.Name) else called
            if "artifact" not in called:
                continue
            for keyword in node.keywords:
                if keyword.arg == "key" and isinstance(keyword.value, ast.Constant):
                    keys.add(str(keyword.value.value))
    return keys


def test_the_artifact_keys_are_as_before() -> None:
    artifact_key = builder("artifact_key")

    assert _literal_artifact_keys() == {
        "breaches-to-explain",
        "coordinator-board",
        "ingest-progress",
        "performance-report",
        "performance-report-link",
    }
    assert artifact_key("PW-7F3K2Q", "timeline") == "pathway-pw-7f3k2q-timeline"
    assert artifact_key("PW-7F3K2Q", "clocks") == "pathway-pw-7f3k2q-clocks"


# --- the command line --------------------------------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> dict[str, tuple[list[str], list[str]]]:
    """``{"letter preview": ([options...], [arguments...]), ...}`` for the whole command tree."""
    options = sorted(
        flag
        for param in command.params
        if param.param_type_name == "option"
        for flag in (*param.opts, *param.secondary_opts)
    )
    arguments = [param.name for param in command.params if param.param_type_name == "argument"]
    found = {" ".join(path): (options, arguments)}
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found |= _commands(sub, (*path, name))
    return found


def test_the_entry_point_is_the_same() -> None:
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

    assert '[project.scripts]\ncordwatch = "cordwatch.cli:main"\n' in project


def test_every_command_subcommand_and_option_is_as_before() -> None:
    found = _commands(typer.main.get_command(builder("app")))

    assert found == {
        "": ([], []),
        "ack": (["--as-of", "--by", "--json"], ["alert_id"]),
        "alerts": (["--json", "--pathway", "--pending"], []),
        "alerts check": (["--as-of", "--json"], []),
        "alerts test": (["--json", "--tag"], []),
        "audit": ([], []),
        "audit verify": (["--json"], []),
        "board": (["--as-of", "--json", "--limit"], []),
        "db": ([], []),
        "db upgrade": ([], []),
        "demo": (["--as-of", "--patients", "--seed"], []),
        "ingest": (["--as-of", "--backfill", "--json"], ["files"]),
        "letter": ([], []),
        "letter deliver": (["--as-of", "--json", "--pathway"], []),
        "letter preview": (
            ["--as-of", "--clock", "--event", "--format", "--output", "--pathway", "--to", "-o"],
            ["name"],
        ),
        "letter show": (["--json", "--sources"], ["letter_id"]),
        "letters": (["--json"], ["pathway"]),
        "record": (["--as-of", "--at", "--by", "--data", "--json"], ["pathway", "event_type"]),
        "report": (["--as-of", "--csv", "--from", "--html", "--json", "--to"], []),
        "ruleset": ([], []),
        "ruleset adopt": (
            ["--as-of", "--by", "--json", "--open", "--reason", "--version"],
            [],
        ),
        "ruleset what-if": (["--as-of", "--from", "--html", "--json", "--to", "--version"], []),
        "serve": (["--demo", "--limit", "--no-demo", "--patients", "--port", "--seed"], []),
        "show": (["--as-of", "--json"], ["pathway"]),
        "simulate": (
            [
                "--as-of",
                "--patients",
                "--ruleset-version",
                "--seed",
                "--span-days",
                "--start",
                "--until",
            ],
            [],
        ),
        "timeline": (["--as-of", "--html", "--json", "--png"], ["pathway"]),
        "watch": (["--as-of", "--deliver", "--json", "--no-deliver", "--once"], []),
    }


# --- settings ----------------------------------------------------------------------------------


def test_every_cordwatch_setting_name_is_as_before() -> None:
    settings = builder("Settings")

    names = sorted(
        f"{settings.model_config['env_prefix']}{n.upper()}" for n in settings.model_fields
    )

    assert names == [
        "CORDWATCH_ALERT_CONCURRENCY",
        "CORDWATCH_ALERT_CONFIG_PATH",
        "CORDWATCH_ALERT_DELIVERY_ATTEMPTS",
        "CORDWATCH_ALERT_RETRY_BACKOFF_SECONDS",
        "CORDWATCH_ALERT_TIMEOUT_SECONDS",
        "CORDWATCH_DATABASE_URL",
        "CORDWATCH_ESCALATION_MINUTES_DAY_CLOCKS",
        "CORDWATCH_ESCALATION_MINUTES_HOUR_CLOCKS",
        "CORDWATCH_INTAKE_BATCH_SIZE",
        "CORDWATCH_LETTERS_DIR",
        "CORDWATCH_LETTER_ADDRESS",
        "CORDWATCH_LETTER_DELIVERY_ATTEMPTS",
        "CORDWATCH_LETTER_EMAIL",
        "CORDWATCH_LETTER_HOTLINE",
        "CORDWATCH_LETTER_LOGO_PATH",
        "CORDWATCH_LETTER_ORGANISATION",
        "CORDWATCH_LETTER_PHONE",
        "CORDWATCH_LETTER_RENDER_PROCESSES",
        "CORDWATCH_LETTER_SERVICE_NAME",
        "CORDWATCH_LOCAL_SLAS",
        "CORDWATCH_PREFECT_UI_URL",
        "CORDWATCH_REPORT_DIR",
        "CORDWATCH_RULESET",
        "CORDWATCH_RULESET_VERSION",
        "CORDWATCH_TIMEZONE",
        "CORDWATCH_WATCH_INTERVAL_SECONDS",
    ]


def test_a_cordwatch_variable_is_read_under_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORDWATCH_WATCH_INTERVAL_SECONDS", "120")
    monkeypatch.setenv("CORDWATCH_LETTER_SERVICE_NAME", "Spinal Service")

    settings = builder("Settings")()

    assert settings.watch_interval_seconds == 120
    assert settings.letter_service_name == "Spinal Service"
