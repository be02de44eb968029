"""Adopting a ruleset version (pathway-spec.md 9.6): the what-if replay's reads and the re-pinning.

:func:`load_what_if` reads, in the caller's read snapshot, the pathways referred in a period
(pinned rules and accepted events) and their report facts, and hands them to the pure replay
(:func:`pathway.whatif.what_if`); it writes nothing. :func:`adopt` re-pins open pathways to a
candidate version, one transaction per batch, storing their clocks with the intake's own
:func:`db.repository.sync_clocks` and one ``ruleset.adopted`` audit entry per pathway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from db.adoption import (
    list_open_pathway_ids,
    list_referred_pathway_rules,
    lock_open_pathways,
    repin_pathways,
)
from db.audit import append_audit, audit_entry, clock_status_entries
from db.engine import reading, transaction
from db.reports import load_pathway_facts
from db.repository import chunks, list_events, pathway_values, sync_clocks
from pathway.clocks import Clock
from pathway.engine import evaluate
from pathway.errors import EventRejected
from pathway.ruleset import Ruleset, repin, rules_from_json
from pathway.whatif import StoredPathway, WhatIf, what_if
from services.audit_report import period_bounds

ADOPTED = "ruleset.adopted"
"""The audit action of one pathway re-pinned to another ruleset version."""

ADOPT_SOURCE = "cordwatch ruleset adopt"


def load_what_if(
    conn: Connection,
    *,
    candidate: Ruleset,
    start: date,
    end: date,
    as_of: datetime,
    timezone: str,
) -> WhatIf:
    """The what-if replay of the pathways referred from ``start`` to ``end`` (inclusive)."""
    begin, finish = period_bounds(start, end, ZoneInfo(timezone))
    rows = list_referred_pathway_rules(conn, begin, finish)
    events = list_events(conn, [row.id for row in rows])
    pathways = (StoredPathway(row.id, rules_from_json(row.rules), events[row.id]) for row in rows)
    return what_if(
        pathways,
        load_pathway_facts(conn, begin, finish),
        candidate=candidate,
        period_start=start,
        period_end=end,
        begin=begin,
        end=finish,
        as_of=as_of,
        timezone=timezone,
    )


@dataclass(frozen=True, slots=True)
class LeftAlone:
    """An open pathway not re-pinned: the candidate refuses one of its stored events."""

    pathway_id: str
    version: str
    event_id: str | None
    field: str
    reason: str


@dataclass(slots=True)
class Adoption:
    """What one ``cordwatch ruleset adopt`` changed."""

    candidate: str
    adopted: list[str] = field(default_factory=list)
    already: int = 0
    left_alone: list[LeftAlone] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "adopted": len(self.adopted),
            "adopted_pathways": self.adopted,
            "already_on_candidate": self.already,
            "left_alone": [
                {
                    "pathway_id": p.pathway_id,
                    "version": p.version,
                    "field": p.field,
                    "reason": p.reason,
                }
                for p in self.left_alone
            ],
        }


def adopt(
    engine: Engine,
    *,
    candidate: Ruleset,
    by: str,
    reason: str,
    now: datetime,
    batch_size: int = 200,
) -> Adoption:
    """Re-pin every open pathway to ``candidate``, keeping its time zone and allowed local SLAs.

    Each batch is one transaction: its pathways are locked (PostgreSQL) and re-read, so a
    pathway closed meanwhile is skipped. A pathway already on the candidate changes nothing
    (running twice is a no-op); one whose stored events the candidate refuses is left on its
    version and listed. Earlier audit entries are never touched: the clocks a pathway had
    reported keep their ``clock.*`` entries, and clocks that stop under the candidate get new
    ones. No letter or alert is queued here; the deadline watch reads the stored clocks.

    Args:
        engine: the database.
        candidate: the ruleset version to adopt.
        by: who adopts (free text, checked by the caller).
        reason: why (free text, checked by the caller).
        now: the moment of adoption (audit entries, ``updated_at``).
        batch_size: pathways per transaction.
    """
    result = Adoption(candidate=f"{candidate.id}.v{candidate.version}")
    with reading(engine) as conn:
        open_ids = list_open_pathway_ids(conn)
    for batch in chunks(open_ids, batch_size):
        with transaction(engine) as conn:
            _adopt_batch(conn, batch, candidate, result, by=by, reason=reason, now=now)
    return result


def _instances(
    clocks: Sequence[Clock], other: Sequence[Clock], at: datetime
) -> list[dict[str, str]]:
    """The clock instances of ``clocks`` that ``other`` lacks (matched on id and start)."""
    present = {(c.id, c.starts_at) for c in other}
    return [
        {"clock": c.id, "starts_at": c.starts_at.isoformat(), "status": c.status_at(at).value}
        for c in clocks
        if (c.id, c.starts_at) not in present
    ]


def _adopt_batch(
    conn: Connection,
    ids: Sequence[str],
    candidate: Ruleset,
    result: Adoption,
    *,
    by: str,
    reason: str,
    now: datetime,
) -> None:
    rows = lock_open_pathways(conn, ids)
    events = list_events(conn, [row.id for row in rows])
    updates: list[dict[str, Any]] = []
    changes = []
    audit: list[dict[str, Any]] = []
    for row in rows:
        pinned = rules_from_json(row.rules)
        if (pinned.ruleset.id, pinned.ruleset.version) == (candidate.id, candidate.version):
            result.already += 1
            continue
        rules, dropped = repin(pinned, candidate)
        try:
            before = evaluate(events[row.id], pinned)
            after = evaluate(events[row.id], rules)
        except EventRejected as err:
            result.left_alone.append(
                LeftAlone(row.id, pinned.label, err.event_id, err.field, err.reason)
            )
            continue
        changes.append((row.id, before.clocks, after.clocks))
        updates.append(
            {
                "b_id": row.id,
                "rules": rules.to_json(),
                "ruleset": rules.label,
                # A new version number: the intake's cache of this pathway (rules, view) is stale.
                "version": row.version + 1,
                **pathway_values(after, updated_at=now),
            }
        )
        common = {
            "at": now,
            "pathway_id": row.id,
            "pathway_reference": row.reference,
            "actor": by,
            "source": ADOPT_SOURCE,
        }
        audit.append(
            audit_entry(
                **common,
                action=ADOPTED,
                field="ruleset",
                reason=reason,
                details={
                    "from": json.loads(pinned.to_json()),
                    "to": json.loads(rules.to_json()),
                    "local_sla_dropped": dropped,
                    # What the clock table no longer or newly holds, as it stood at adoption.
                    "clocks_removed": _instances(before.clocks, after.clocks, now),
                    "clocks_added": _instances(after.clocks, before.clocks, now),
                },
            )
        )
        audit.extend(clock_status_entries(before.clocks, after.clocks, **common))
        result.adopted.append(row.id)
    repin_pathways(conn, updates)
    sync_clocks(conn, changes)
    append_audit(conn, audit)
