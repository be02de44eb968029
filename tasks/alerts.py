"""Delivering alerts with Apprise: per-service results, one attempt per watch, fallback and audit.

Each pending outbox row of kind ``alert`` is claimed (``pending`` -> ``sending``), rendered from
``templates/alerts/<level>.txt.j2`` with a context that holds opaque ids and coded facts only,
and sent to every Apprise URL of each of its tags separately, so each service's outcome is known
and recorded with what it cost (seconds). All alerts of a watch, and all services of an alert,
are sent at once, each send bounded by ``alert_timeout_seconds``: a delivery pass takes about one
timeout, not one per alert. A service that succeeded is never sent the alert again; a failing
one is tried once per watch (never again at once: a slow service that did take the page would
get it twice), with backoff, until ``alert_delivery_attempts`` is reached, when the alert goes
to the ``fallback`` tag and is marked ``undelivered``. A crash mid-send re-sends nothing a
service may have taken: see :func:`deliver_alert` (``unconfirmed``, ``fallback`` told once).
A clock's alert is re-checked before it is sent and cancelled once the clock has stopped; a
safety alert's escalation once the safety alert is acknowledged (``templates/alerts/safety.txt.j2``
words both the safety alert and its escalations).
Every alert sent, undelivered, unconfirmed or cancelled goes into the audit trail.

Apprise URLs hold secrets: they are never logged; services are named ``<tag>#<n> <service>``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apprise
from jinja2 import Environment
from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from sqlalchemy import Connection, Engine, Row

from db.alerts import (
    breach_states,
    clock_running,
    find_alert_by_key,
    pathway_rules,
    safety_acknowledged,
    update_alert,
)
from db.audit import append_audit, audit_entry
from db.engine import reading, transaction
from db.outbox import (
    cached_engine,
    cancel,
    claim,
    finish,
    list_deliverable,
    save_result,
    stored_result,
)
from pathway.alerts import (
    FALLBACK_TAG,
    HEARTBEAT_MISSED_SWEEPS,
    AlertLevel,
    ack_command,
    alert_context,
)
from pathway.recheck import alert_moot
from pathway.safety import safety_alert_context, safety_event_of
from pathway.sweep import clock_instance
from services.settings import Settings, get_settings
from services.templating import template_environment

# Apprise logs request URLs (with their secrets) at debug level and hosts in its warnings.
logging.getLogger("apprise").setLevel(logging.CRITICAL)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja environment of alert texts (plain text: no autoescape)."""
    return template_environment("alerts", html=False, keep_trailing_newline=False)


def render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of ``templates/alerts/<name>.txt.j2``: its first line is the title."""
    text = environment().get_template(f"{name}.txt.j2").render(**context).strip()
    title, _, body = text.partition("\n")
    return title.strip(), body.strip()


@dataclass(frozen=True, slots=True)
class ServiceResult:
    """The outcome of one Apprise service (named by tag and position, never by URL)."""

    service: str
    ok: bool
    tries: int
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tries": self.tries, "seconds": round(self.seconds, 3)}


def services_for(config_path: str, tag: str) -> list[tuple[str, Any]]:
    """The Apprise services tagged ``tag`` in the configuration file, with their safe names."""
    servers = apprise.Apprise()
    if Path(config_path).is_file():
        config = apprise.AppriseConfig()
        config.add(config_path)
        servers.add(config)
    return [
        (f"{tag}#{index} {server.service_name}", server)
        for index, server in enumerate(servers.find(tag=tag), start=1)
    ]


def _notify_once(server: Any, title: str, body: str) -> bool:
    try:
        return bool(server.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
    except Exception:  # a plugin error is a failed delivery, never a crash (and never logged)
        return False


SEND_THREADS = 256
"""Blocking Apprise sends in flight at once in one process (threads start only when needed)."""


@lru_cache(maxsize=1)
def _senders() -> ThreadPoolExecutor:
    # Not asyncio's default executor: it has min(32, CPUs + 4) threads (6 on these machines), so
    # 30 alerts to a slow service would queue behind each other.
    return ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="alert-send")


Target = tuple[str, Any]
"""A service to send to: (safe name, Apprise plugin instance)."""


def targets_for(
    config_path: str, tags: list[str], *, skip: frozenset[str] = frozenset()
) -> tuple[list[Target], list[ServiceResult]]:
    """The services of ``tags`` to send to (not in ``skip``), and a failure per tag without any."""
    targets: list[Target] = []
    missing: list[ServiceResult] = []
    for tag in tags:
        services = services_for(config_path, tag)
        if not services:
            missing.append(ServiceResult(f"{tag}: no service configured", False, 0))
        targets.extend((name, server) for name, server in services if name not in skip)
    return targets, missing


async def send_one(target: Target, title: str, body: str, *, timeout: float) -> ServiceResult:
    """One attempt to one service, bounded by ``timeout`` seconds: never retried here.

    The plugin's own connect and read timeouts are set to ``timeout`` (Apprise's default read
    timeout of 4 s failed slow services that did take the page, which was then sent again), and
    the wait is bounded by the wall clock too, whatever the plugin does.
    """
    name, server = target
    server.socket_connect_timeout = timeout
    server.socket_read_timeout = timeout
    started = time.perf_counter()
    sending = asyncio.get_running_loop().run_in_executor(
        _senders(), _notify_once, server, title, body
    )
    try:
        ok = await asyncio.wait_for(sending, timeout=timeout)
    except TimeoutError:
        ok = False
    return ServiceResult(name, ok, 1, time.perf_counter() - started)


async def send_all(
    targets: list[Target],
    title: str,
    body: str,
    *,
    timeout: float,
    on_result: Callable[[ServiceResult], None] | None = None,
) -> list[ServiceResult]:
    """Send to every target at once, once each; ``on_result`` sees each result as it comes."""

    async def one(target: Target) -> ServiceResult:
        result = await send_one(target, title, body, timeout=timeout)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(target) for target in targets)))


def _zone_of(conn: Connection, pathway_id: str | None, settings: Settings) -> ZoneInfo:
    rules = pathway_rules(conn, pathway_id) if pathway_id is not None else None
    return rules.zone if rules is not None else ZoneInfo(settings.timezone)


def _heartbeat_since(payload: dict[str, Any], zone: ZoneInfo) -> str:
    """Since when the watch has been silent: its last sweep or, for a watch that never swept,
    the arrival of the first event it should have watched (a time, never whose event)."""

    def local(text: str) -> str:
        return datetime.fromisoformat(text).astimezone(zone).strftime("%a %d %b %H:%M %Z")

    if last := payload.get("last_sweep_at"):
        return local(last)
    if first := payload.get("first_event_received_at"):
        return f"the first event was received {local(first)}"
    return "never"


def message_for(
    payload: dict[str, Any], *, zone: ZoneInfo, now: datetime, settings: Settings
) -> tuple[str, str]:
    """The (title, body) of an alert from its outbox payload (ids and coded facts only)."""
    level = AlertLevel(payload["level"])
    if level is AlertLevel.HEARTBEAT:
        context: dict[str, Any] = {
            "last_sweep_local": _heartbeat_since(payload, zone),
            "missed": HEARTBEAT_MISSED_SWEEPS,
            "interval": f"{settings.watch_interval_seconds} s",
            "link": f"{settings.prefect_ui_url.rstrip('/')}/deployments",
            "ack_command": ack_command(payload["alert_id"]),
        }
        return render(level.value, context)
    if "rule" in payload:  # a safety alert, or one of its escalations: no clock
        safety = safety_alert_context(
            alert_id=payload["alert_id"],
            level=level,
            step=int(payload["step"]),
            safety_alert_id=payload.get("safety_alert_id", payload["alert_id"]),
            pathway_id=payload["pathway_id"],
            rule=payload["rule"],
            event_type=payload["event_type"],
            occurred_at=datetime.fromisoformat(payload["occurred_at"]),
            zone=zone,
            ui_url=settings.prefect_ui_url,
        )
        return render(AlertLevel.SAFETY.value, safety.as_dict())
    context = alert_context(
        alert_id=payload["alert_id"],
        level=level,
        step=int(payload["step"]),
        pathway_id=payload["pathway_id"],
        category=payload["category"],
        clock_id=payload["clock_id"],
        clock_title=payload["clock_title"],
        due_at=datetime.fromisoformat(payload["due_at"]),
        zone=zone,
        now=now,
        ui_url=settings.prefect_ui_url,
    ).as_dict()
    return render(level.value, context)


class _StoredFacts:
    """What :func:`pathway.recheck.alert_moot` asks of an alert, read from the database in the
    delivery's transaction, each only when asked (the breach state heals acknowledgements)."""

    def __init__(self, conn: Connection, alert: Row[Any]) -> None:
        self._conn = conn
        self._alert = alert

    def safety_acknowledged(self) -> bool:
        alert = self._alert
        return safety_event_of(alert.key) in safety_acknowledged(self._conn, [alert.pathway_id])

    def clock_running(self) -> bool:
        return clock_running(self._conn, self._alert)

    def breach_acknowledged(self) -> bool:
        alert = self._alert
        breach = breach_states(self._conn, [alert.pathway_id]).get(
            clock_instance(alert.pathway_id, alert.clock_id, alert.clock_starts_at)
        )
        return breach is not None and breach.acknowledged


def _audit(
    action: str, alert: Any, *, now: datetime, reason: str | None, details: dict[str, Any]
) -> dict[str, Any]:
    return audit_entry(
        at=now,
        action=action,
        pathway_id=alert.pathway_id,
        actor="cordwatch",
        source="alerts",
        field=alert.clock_id,
        reason=reason,
        details={"alert_id": alert.id, "level": alert.level, "step": alert.step, **details},
    )


def alert_lease(settings: Settings) -> timedelta:
    """How long an alert stays claimed (``sending``): past it, its claimer died.

    Short (one send timeout and a margin: every send is bounded by the timeout), so the next
    watch after a crash picks up what was claimed and not sent. Letters keep their own lease.
    """
    return timedelta(seconds=settings.alert_timeout_seconds + 30)


def _state(result: dict[str, Any]) -> str:
    """sending (in flight), sent, failed or unconfirmed; results written before states: by ok."""
    state = result.get("state")
    if state is not None:
        return str(state)
    return "sent" if result["ok"] else "failed"


def _recover(services: dict[str, Any], now: datetime) -> list[str]:
    """Services left in flight by a claimer that died: unconfirmed, never sent again.

    Such a service may have taken the page before the process died; sending it again could page
    a clinician twice for one alert, so a human is told instead (``fallback``).
    """
    found = sorted(name for name, result in services.items() if _state(result) == "sending")
    for name in found:
        services[name] = {
            **services[name],
            "state": "unconfirmed",
            "ok": False,
            "reported": False,
            "at": now.isoformat(),
        }
    return found


async def deliver_alert(row: dict[str, Any], now: datetime) -> str:
    """Deliver one alert outbox row; returns its new status (sent, pending, undelivered...).

    Crash safety: the services about to be paged are committed as in flight before any send,
    and each service's result is committed as soon as it returns; so a watch killed mid-send
    leaves, per service, a result or an in-flight mark, and the next watch sends only what was
    never sent (an in-flight one becomes ``unconfirmed`` and ``fallback`` is told, once).
    """
    settings = get_settings()
    engine = cached_engine(settings.url())
    payload = json.loads(row["payload"])
    with transaction(engine) as conn:
        alert = find_alert_by_key(conn, row["key"])
        if alert is None:
            return str(row["status"])
        retried_already = row["attempts"] > 0 and row["updated_at"] >= now
        if (alert.next_attempt_at is not None and alert.next_attempt_at > now) or retried_already:
            return "pending"  # backing off: at most one attempt per watch
        if not claim(conn, row, now, lease=alert_lease(settings)):
            return "claimed"
        reason = alert_moot(
            alert.level, has_clock=alert.clock_id is not None, facts=_StoredFacts(conn, alert)
        )
        if reason is not None:
            cancel(conn, row["id"], now=now)
            update_alert(conn, alert.id, note=reason)
            append_audit(
                conn, [_audit("alert.cancelled", alert, now=now, reason=reason, details={})]
            )
            return "cancelled"
        zone = _zone_of(conn, alert.pathway_id, settings)
        # Read after the claim: a claimer that died may have written results since our read.
        previous = stored_result(conn, row["id"])
    title, body = message_for(payload, zone=zone, now=now, settings=settings)
    services: dict[str, Any] = previous.get("services", {})
    attempts = int(row["attempts"]) + 1
    _recover(services, now)
    done = frozenset(
        name for name, result in services.items() if _state(result) in ("sent", "unconfirmed")
    )
    targets, missing = targets_for(settings.alert_config_path, alert.tags.split(","), skip=done)
    for name, _ in targets:
        services[name] = {
            "state": "sending",
            "ok": False,
            "attempt": attempts,
            "at": now.isoformat(),
        }

    def save() -> None:
        with transaction(engine) as conn:
            save_result(conn, row["id"], {**previous, "services": services})

    def record(result: ServiceResult) -> None:
        state = "sent" if result.ok else "failed"
        services[result.service] = {
            **result.as_dict(),
            "state": state,
            "attempt": attempts,
            "at": now.isoformat(),
        }
        save()

    save()  # the in-flight marks (and any recovered as unconfirmed) before the first send
    for result in missing:
        services[result.service] = {**result.as_dict(), "state": "failed", "at": now.isoformat()}
    await send_all(targets, title, body, timeout=settings.alert_timeout_seconds, on_result=record)
    await _report_unconfirmed(alert.id, services, settings=settings, now=now, save=save)
    failed = sorted(name for name, result in services.items() if _state(result) == "failed")
    unconfirmed = sorted(
        name for name, result in services.items() if _state(result) == "unconfirmed"
    )
    unreported = [name for name in unconfirmed if not services[name].get("reported")]
    outcome: dict[str, Any] = {**previous, "services": services}
    delivered: dict[str, Any] = {}
    if not failed and not unreported:
        status = "unconfirmed" if unconfirmed else "sent"
        delivered["fallback_at" if unconfirmed else "delivered_at"] = now
    elif attempts >= settings.alert_delivery_attempts:
        status = "undelivered"
        fallback_title, fallback_body = render(
            "fallback", {"tags": alert.tags, "title": title, "body": body}
        )
        fallback_targets, no_fallback = targets_for(settings.alert_config_path, [FALLBACK_TAG])
        fallback = no_fallback + await send_all(
            fallback_targets,
            fallback_title,
            fallback_body,
            timeout=settings.alert_timeout_seconds,
        )
        outcome["fallback"] = {r.service: {**r.as_dict(), "at": now.isoformat()} for r in fallback}
        delivered["fallback_at"] = now
    else:
        status = "pending"
        backoff = settings.alert_retry_backoff_seconds * 2 ** (attempts - 1)
        delivered["next_attempt_at"] = now + timedelta(seconds=backoff)
    with transaction(engine) as conn:
        finish(conn, row["id"], status=status, attempts=attempts, now=now, result=outcome)
        update_alert(conn, alert.id, **delivered)
        if status != "pending":
            reasons = [f"failed: {', '.join(failed)}"] if failed else []
            if unconfirmed:
                reasons.append(f"not confirmed: {', '.join(unconfirmed)}")
            append_audit(
                conn,
                [
                    _audit(
                        f"alert.{status}",
                        alert,
                        now=now,
                        reason="; ".join(reasons) or None,
                        details={"tags": alert.tags.split(","), "attempts": attempts, **outcome},
                    )
                ],
            )
    return status


async def _report_unconfirmed(
    alert_id: str,
    services: dict[str, Any],
    *,
    settings: Settings,
    now: datetime,
    save: Callable[[], None],
) -> None:
    """Tell ``fallback``, once per service, of a delivery a dead watch could not confirm."""
    for name, result in sorted(services.items()):
        if _state(result) != "unconfirmed" or result.get("reported"):
            continue
        title, body = render("unconfirmed", {"alert_id": alert_id, "service": name})
        targets, missing = targets_for(settings.alert_config_path, [FALLBACK_TAG])
        told = missing + await send_all(
            targets, title, body, timeout=settings.alert_timeout_seconds
        )
        services[name] = {
            **result,
            "reported": any(r.ok for r in told),
            "fallback": {r.service: {**r.as_dict(), "at": now.isoformat()} for r in told},
        }
        save()


def deliverable_rows(
    engine: Engine, now: datetime, *, key_prefix: str = "alert:"
) -> list[dict[str, Any]]:
    """Alert outbox rows to try now: pending, or left ``sending`` by a process that died."""
    lease = alert_lease(get_settings())
    with reading(engine) as conn:
        return list_deliverable(conn, now=now, lease=lease, kind="alert", key_prefix=key_prefix)


async def deliver_pending_alerts(now: datetime, *, key_prefix: str = "alert:") -> dict[str, int]:
    """Deliver every alert that is due, ``alert_concurrency`` at a time; counts by new status.

    One attempt per alert and service: the pass takes about one ``alert_timeout_seconds``
    however many alerts are owed (up to ``alert_concurrency``). It logs how many alerts it
    tried and the seconds it took (ids and counts only).
    """
    settings = get_settings()
    started = time.perf_counter()
    rows = deliverable_rows(cached_engine(settings.url()), now, key_prefix=key_prefix)
    gate = asyncio.Semaphore(settings.alert_concurrency)

    async def one(row: dict[str, Any]) -> str:
        async with gate:
            return await deliver_alert(row, now)

    counts: dict[str, int] = {}
    for status in await asyncio.gather(*(one(row) for row in rows)):
        counts[status] = counts.get(status, 0) + 1
    if rows:
        _logger().info(
            "alert delivery at %s: %d alerts tried (%s) in %.1f s",
            now.isoformat(),
            len(rows),
            ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
            time.perf_counter() - started,
        )
    return counts


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside a Prefect flow or task, else this module's."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("cordwatch.alerts")


def send_test(tag: str, *, now: datetime, settings: Settings) -> list[ServiceResult]:
    """Send the test message to every service of ``tag`` (``cordwatch alerts test``)."""
    zone = ZoneInfo(settings.timezone)
    title, body = render(
        "test", {"tag": tag, "sent_local": now.astimezone(zone).strftime("%a %d %b %H:%M %Z")}
    )
    targets, missing = targets_for(settings.alert_config_path, [tag])
    return missing + asyncio.run(
        send_all(targets, title, body, timeout=settings.alert_timeout_seconds)
    )
