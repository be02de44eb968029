"""The audit trail: every accepted or rejected event, clock change, alert, acknowledgement and letter.

All writers go through :func:`append_audit`, in the same transaction as the fact they record.
The trail is a hash chain: entry *n* stores the hash of entry *n - 1* (``prev_hash``) and its
own hash (``entry_hash``, SHA-256 of ``prev_hash`` and its canonical content), and the
``audit_head`` row stores the last id and hash. Appends are serialised: PostgreSQL locks the
head row (``SELECT ... FOR UPDATE``); SQLite writers already hold ``BEGIN IMMEDIATE``. Ids are
given here, 1, 2, 3 ..., so a removed entry leaves a visible gap.

Triggers (migration 0002) refuse UPDATE and DELETE of audit rows; :func:`verify_chain` finds
what someone with enough database access to bypass them changed, removed or inserted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from db.models_audit import GENESIS_HASH
from db.repository import AUDIT, table
from pathway.clocks import Clock

AUDIT_HEAD = table("audit_head")

AUDIT_FIELDS = (
    "at",
    "action",
    "pathway_id",
    "pathway_reference",
    "event_id",
    "event_type",
    "occurred_at",
    "actor",
    "source",
    "field",
    "reason",
    "run_id",
    "details",
)
"""The content of an entry, in the order it is hashed (ids and hashes are not content)."""

_TIME_FIELDS = frozenset({"at", "occurred_at"})
_CONFIGURATION_CHANGED = "configuration.changed"


def audit_entry(**values: Any) -> dict[str, Any]:
    """A complete audit row: every field present (None when not applicable).

    ``details`` may be given as a dict or list (stored as canonical JSON text) or as text.
    """
    unknown = set(values) - set(AUDIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown audit fields: {sorted(unknown)}")
    entry = {name: values.get(name) for name in AUDIT_FIELDS}
    details = entry["details"]
    if details is not None and not isinstance(details, str):
        entry["details"] = json.dumps(details, sort_keys=True, separators=(",", ":"))
    return entry


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every stored time is aware UTC")
        return value.astimezone(UTC).isoformat()
    return value


# One encoder for every hash: json.dumps with options builds a new encoder on each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, entry: dict[str, Any] | Any) -> str:
    """SHA-256 (hex) of the previous hash and this entry's content, in :data:`AUDIT_FIELDS` order.

    ``entry`` is a mapping or a row with those attributes.
    """
    if isinstance(entry, dict):
        content = [_canonical(entry[name]) for name in AUDIT_FIELDS]
    else:
        content = [_canonical(getattr(entry, name)) for name in AUDIT_FIELDS]
    return _digest(prev_hash, content)


def _digest(prev_hash: str, content: list[Any]) -> str:
    """The hash of :func:`entry_hash` from the content already in canonical form."""
    text = _ENCODER.encode([prev_hash, *content])
    return hashlib.sha256(text.encode()).hexdigest()


def _lock_head(conn: Connection) -> Any:
    query = select(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    head = conn.execute(query).first()
    if head is None:  # a database migrated by hand: create the head once
        conn.execute(insert(AUDIT_HEAD).values(id=1, last_id=0, last_hash=GENESIS_HASH))
        head = conn.execute(query).one()
    return head


def append_audit(conn: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append entries to the audit trail, in order, inside the caller's transaction.

    Each entry is chained to the one before it; the head row moves to the last one.
    """
    if not entries:
        return
    head = _lock_head(conn)
    last_id: int = head.last_id
    last_hash: str = head.last_hash
    configuration: str | None = head.configuration
    rows = []
    for values in entries:
        entry = audit_entry(**values)
        last_id += 1
        digest = entry_hash(last_hash, entry)
        rows.append({**entry, "id": last_id, "prev_hash": last_hash, "entry_hash": digest})
        last_hash = digest
        if entry["action"] == _CONFIGURATION_CHANGED:
            configuration = _configuration_of(entry["details"])
    conn.execute(insert(AUDIT), rows)
    conn.execute(
        update(AUDIT_HEAD)
        .where(AUDIT_HEAD.c.id == 1)
        .values(last_id=last_id, last_hash=last_hash, configuration=configuration)
    )


def _configuration_of(details: str | None) -> str | None:
    if details is None:
        return None
    stored = json.loads(details)
    return json.dumps(stored.get("configuration"), sort_keys=True)


def configuration_entries(
    conn: Connection,
    configurations: Iterable[str],
    *,
    at: datetime,
    run_id: str | None,
    source: str = "cordwatch",
) -> list[dict[str, Any]]:
    """``configuration.changed`` entries for pinned configurations new to the trail.

    Args:
        configurations: the pinned rules (``PinnedRules.to_json()``) of pathways opened in
            this transaction, in order.

    Returns:
        One entry per change from the last recorded configuration (none when unchanged).
    """
    pending = list(configurations)
    if not pending:
        return []
    head = _lock_head(conn)
    last = head.configuration
    entries = []
    for text in pending:
        canonical = json.dumps(json.loads(text), sort_keys=True)
        if canonical == last:
            continue
        entries.append(
            audit_entry(
                at=at,
                action=_CONFIGURATION_CHANGED,
                actor="cordwatch",
                source=source,
                reason="pinned configuration of new pathways changed",
                run_id=run_id,
                details={
                    "configuration": json.loads(canonical),
                    "previous": json.loads(last) if last is not None else None,
                },
            )
        )
        last = canonical
    return entries


def clock_status_entries(
    before: Sequence[Clock],
    after: Sequence[Clock],
    **common: Any,
) -> list[dict[str, Any]]:
    """One ``clock.<status>`` entry per clock instance that stopped between two views.

    Args:
        before: the clocks before the event (empty for a new pathway).
        after: the clocks after it.
        common: fields shared by the entries (at, pathway_id, event_id, actor, source, run_id...).
    """
    stopped_before = {(c.id, c.starts_at) for c in before if c.outcome is not None}
    entries = []
    for clock in after:
        if clock.outcome is None or (clock.id, clock.starts_at) in stopped_before:
            continue
        entries.append(
            audit_entry(
                **common,
                action=f"clock.{clock.outcome.value}",
                field=clock.id,
                reason=clock.reason,
                details={
                    "clock": clock.id,
                    "kind": clock.kind,
                    "limit": clock.limit,
                    "local": clock.local,
                    "status": clock.outcome.value,
                    "starts_at": clock.starts_at.isoformat(),
                    "due_at": clock.due_at.isoformat(),
                    "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
                },
            )
        )
    return entries


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first bad entry of the chain: its id, what happened to it, and how we know."""

    entry_id: int
    kind: str  # "changed", "removed" or "inserted"
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "kind": self.kind, "explanation": self.explanation}


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: entries checked, the head, the first problem."""

    entries: int
    head_id: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "problem": self.problem.as_dict() if self.problem else None,
        }


_VERIFY_COLUMNS = ("id", "prev_hash", "entry_hash", *AUDIT_FIELDS)
_TIME_POSITIONS = tuple(i for i, name in enumerate(AUDIT_FIELDS) if name in _TIME_FIELDS)


def verify_chain(conn: Connection, *, batch_size: int = 20_000) -> ChainReport:
    """Walk the whole trail in id order and report the first entry changed, removed or inserted.

    * an entry whose content no longer gives its ``entry_hash``: changed;
    * a gap in the ids: the missing entry was removed (a missing tail shows against the head);
    * an id past the head, or an entry whose ``prev_hash`` is not the hash of the entry before
      it although its own hash holds: inserted, or the entry before it rewritten with a new
      hash; the first entry that no longer fits is named.

    A chain rewritten from some entry to the end *together with* the head row cannot be told
    from a genuine one by the database alone: compare the head hash with a copy kept elsewhere
    (the performance-report flow publishes it to Prefect).

    Each entry costs one hash and a few comparisons (a million entries are verified in well
    under the 30 s target); an entry that fails any check is examined again, in the order
    above, by :func:`_check_row`, which says what is wrong with it.
    """
    head = conn.execute(select(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1)).first()
    head_id = head.last_id if head is not None else 0
    head_hash = head.last_hash if head is not None else GENESIS_HASH
    query = (
        select(*(AUDIT.c[name] for name in _VERIFY_COLUMNS))
        .order_by(AUDIT.c.id)
        .execution_options(yield_per=batch_size)
    )
    expected_id = 1
    expected_prev = GENESIS_HASH
    checked = 0
    problem: ChainProblem | None = None
    for row in conn.execute(query):
        checked += 1
        entry_id, prev_hash, stored_hash, *content = row
        # The time columns come back as aware UTC instants; hashed as ISO 8601 text.
        for position in _TIME_POSITIONS:
            content[position] = _canonical(content[position])
        if (
            entry_id != expected_id
            or entry_id > head_id
            or prev_hash != expected_prev
            or stored_hash is None
            or _digest(prev_hash, content) != stored_hash
        ):
            problem = _check_row(row, expected_id, expected_prev, head_id)
            if problem is not None:
                break
        expected_id = entry_id + 1
        expected_prev = stored_hash
    if problem is None:
        if expected_id - 1 < head_id:
            problem = ChainProblem(
                expected_id,
                "removed",
                f"entries {expected_id} to {head_id} are missing: the chain head records "
                f"entry {head_id}",
            )
        elif expected_prev != head_hash:
            problem = ChainProblem(
                head_id,
                "changed",
                "the last entry's hash differs from the one the chain head records",
            )
    return ChainReport(entries=checked, head_id=head_id, head_hash=head_hash, problem=problem)


def _check_row(row: Any, expected_id: int, expected_prev: str, head_id: int) -> ChainProblem | None:
    if row.id > head_id or row.id < expected_id:
        return ChainProblem(
            row.id,
            "inserted",
            f"entry {row.id} is not part of the chain (the head records entries 1 to {head_id})",
        )
    if row.id > expected_id:
        missing = (
            f"entry {expected_id} is missing"
            if row.id == expected_id + 1
            else f"entries {expected_id} to {row.id - 1} are missing"
        )
        return ChainProblem(expected_id, "removed", missing)
    if row.entry_hash is None or entry_hash(row.prev_hash or "", row) != row.entry_hash:
        return ChainProblem(
            row.id, "changed", f"entry {row.id}'s content no longer matches its hash"
        )
    if row.prev_hash != expected_prev:
        if row.id == 1:
            return ChainProblem(1, "changed", "entry 1 does not start the chain")
        return ChainProblem(
            row.id - 1,
            "changed",
            f"entry {row.id - 1} is not the entry that entry {row.id} was chained to "
            "(changed with its hash recomputed, or inserted in its place)",
        )
    return None
