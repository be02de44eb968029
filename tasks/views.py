"""Tasks that publish what coordinators see in the Prefect UI: artifacts and Prefect events.

Everything published here carries the opaque pathway id and coded facts only (see
``pathway/display.py``): never a name, NHS number, MRN, date of birth or free text.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment
from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.events import emit_event

from db.engine import engine_for, reading
from db.inbox import InboxEntry
from pathway.breaches import EXPLAIN_BREACH_DEPLOYMENT
from pathway.display import markdown_text, safe_details
from services.settings import get_settings
from services.templating import template_environment
from services.views import (
    BoardRow,
    UnexplainedBreach,
    board,
    human_delta,
    local_time,
    pathway_view,
    show_json,
    unexplained_breaches,
)

EVENT_NAMESPACE = uuid.UUID("5d0c6c2e-6f1e-4a55-9a53-2f6c8d1f0c11")
"""Prefect event ids are derived from our event ids, so a replay emits the same event id."""


def artifact_key(pathway_id: str, view: str) -> str:
    """``pathway-pw-7f3k2q-timeline``: Prefect keys allow lowercase letters, digits and dashes."""
    return f"pathway-{pathway_id.lower()}-{view}"


def _zone_name() -> str:
    return get_settings().timezone


@lru_cache(maxsize=1)
def artifact_templates() -> Environment:
    """The Jinja environment of the markdown artifacts.

    Markdown, so no HTML autoescape; every value goes through the ``md`` filter instead
    (:func:`pathway.display.markdown_text`), so a ``|``, a newline or ``<script>`` in a value
    prints as text. ``StrictUndefined``: a missing value fails instead of publishing a blank.
    """
    return template_environment(
        "artifacts",
        html=False,
        trim_blocks=True,
        keep_trailing_newline=False,
        filters={"md": markdown_text},
    )


def render_artifact(name: str, **context: Any) -> str:
    """``templates/artifacts/<name>.md.j2`` rendered: ids and coded facts only."""
    return artifact_templates().get_template(f"{name}.md.j2").render(**context)


def timeline_markdown(document: dict[str, Any], zone: Any) -> str:
    """The pathway timeline for the UI: milestones in order, coded details only."""
    rows = []
    for milestone in document["milestones"]:
        details = safe_details(milestone["type"], milestone["details"])
        text = ", ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in details.items()
        )
        when = local_time(datetime.fromisoformat(milestone["at"]), zone)
        rows.append({"when": when, "type": milestone["type"], "details": text})
    return render_artifact(
        "timeline",
        id=document["id"],
        category=document["category"],
        stage=document["stage"],
        status=document["status"],
        closed_reason=document["closed_reason"],
        ruleset=document["ruleset"],
        rows=rows,
    )


def clocks_table(document: dict[str, Any], zone: Any) -> list[dict[str, Any]]:
    """One row per clock with its status at the moment of publishing."""
    return [
        {
            "clock": c["id"],
            "limit": c["limit"] + (" (local)" if c["local"] else ""),
            "started": local_time(datetime.fromisoformat(c["starts_at"]), zone),
            "due": local_time(datetime.fromisoformat(c["due_at"]), zone),
            "stopped": local_time(datetime.fromisoformat(c["stopped_at"]), zone)
            if c["stopped_at"]
            else "",
            "status": c["status"] + (" · at risk" if c["at_risk"] else ""),
            "reason": c["reason"]
            if c["status"] == "excluded" and c["reason"] in _CODED_REASONS
            else ("recorded" if c["reason"] else ""),
        }
        for c in document["clocks"]
    ]


_CODED_REASONS = frozenset(
    {
        "treatment_completed",
        "declined",
        "died",
        "transferred",
        "ruled_out",
        "unfit_for_treatment",
        "triage_overridden",
    }
)


@task(name="publish-pathway-views")
async def publish_pathway_views(pathway_id: str, as_of: datetime) -> None:
    """Publish the pathway's timeline (markdown) and clocks (table) as keyed artifacts."""
    from zoneinfo import ZoneInfo

    settings = get_settings()
    with reading(engine_for(settings.url())) as conn:
        internal, view, rules = pathway_view(conn, pathway_id, as_of=as_of)
    document = show_json(internal, view, rules, as_of=as_of)
    zone = ZoneInfo(_zone_name())
    await acreate_markdown_artifact(
        timeline_markdown(document, zone),
        key=artifact_key(internal, "timeline"),
        description=f"{internal}: milestones in clinical order",
    )
    await acreate_table_artifact(
        clocks_table(document, zone),
        key=artifact_key(internal, "clocks"),
        description=f"{internal}: every clock with its status",
    )


@task(name="emit-pathway-event")
def emit_pathway_event(entry: InboxEntry, occurred_at: datetime) -> None:
    """One Prefect event per domain event, on resource ``cordwatch.pathway.<PW-id>``."""
    emit_event(
        event=f"cordwatch.{entry.type}",
        resource={
            "prefect.resource.id": f"cordwatch.pathway.{entry.pathway_id}",
            "prefect.resource.name": entry.pathway_id,
        },
        occurred=occurred_at,
        id=uuid.uuid5(EVENT_NAMESPACE, entry.event_id),
        payload={"event_type": entry.type, "category": entry.category, "stage": entry.stage},
    )


def board_table(rows: list[BoardRow], zone: Any) -> list[dict[str, Any]]:
    """The coordinator board as artifact rows with a red / amber / green flag."""
    flags = {
        "breached": "RED: breached",
        "at_risk": "AMBER: at risk",
        "ok": "GREEN: on track",
        "REVIEW": "REVIEW: set a category",
        "no clock": "no running clock",
    }
    return [
        {
            "status": flags.get(r.mark, r.mark),
            "pathway": r.pathway_id,
            "category": r.category,
            "stage": r.stage,
            "clock": r.clock_id or "",
            "due": local_time(r.due_at, zone) if r.due_at else "",
            "time left": human_delta(r.time_left) if r.time_left is not None else "",
            "breached clocks": r.breached_clocks,
            "undelivered alerts": r.undelivered_alerts,
            "undelivered letters": r.undelivered_letters,
        }
        for r in rows
    ]


def breaches_table(breaches: list[UnexplainedBreach], zone: Any) -> list[dict[str, Any]]:
    """Breaches still waiting for their reason, as artifact rows: ids and coded facts only
    (no referral reference: Prefect sees the ``PW-`` id alone)."""
    return [
        {
            "pathway": b.pathway_id,
            "clock": b.clock_id,
            "breached since": local_time(b.breached_since, zone),
            "pathway status": b.pathway_status,
            "clock now": "still running" if b.still_running else "stopped",
        }
        for b in breaches
    ]


@task(name="publish-coordinator-board")
async def publish_board(as_of: datetime, limit: int = 500) -> int:
    """Publish the coordinator board (most urgent first) as the keyed table ``coordinator-board``."""
    from zoneinfo import ZoneInfo

    settings = get_settings()
    with reading(engine_for(settings.url())) as conn:
        rows = board(conn, as_of=as_of)
        breaches = unexplained_breaches(conn, as_of=as_of)
    zone = ZoneInfo(settings.timezone)
    await acreate_table_artifact(
        board_table(rows[:limit], zone),
        key="coordinator-board",
        description=f"Open pathways by time left on their most urgent clock, at {local_time(as_of, zone)}"
        + (f" (first {limit} of {len(rows)})" if len(rows) > limit else ""),
    )
    # Published even when empty, so a list whose last breach was explained empties too.
    await acreate_table_artifact(
        breaches_table(breaches[:limit], zone),
        key="breaches-to-explain",
        description=f"Breaches to explain: {len(breaches)}, oldest first, at "
        f"{local_time(as_of, zone)}"
        + (f" (first {limit})" if len(breaches) > limit else "")
        + f". Record each reason with the {EXPLAIN_BREACH_DEPLOYMENT} deployment's form.",
    )
    return len(rows)
