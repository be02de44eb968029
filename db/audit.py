"""The audit trail: every accepted or rejected event, clock change, alert, acknowledgement and letter.

All writers go through :func:`append_audit`, in the same transaction as the fact they record.
The trail is a hash chain: entry *n* stores the hash of entry *n - 1* (``prev_hash``) and its
own hash (``entry_hash``, SHA-256 of ``prev_hash`` and its canonical content), and the
``audit_head`` row stores the last id and hash. Appends are serialised: PostgreSQL locks the
head row (``SELECT ... FOR UPDATE``); SQLite writers already hold ``BEGIN IMMEDIATE``. Ids are
given here, 1, 2, 3 ..., so a removed entry leaves a visible gap.

Triggers (migrations 0002 and 0006) refuse UPDATE, DELETE, TRUNCATE and SQLite's ``INSERT OR
REPLACE`` of audit rows; :func:`verify_chain` finds what someone with enough database access to
bypass them changed, removed or inserted, and reports a trigger that is missing or disabled.

The chain proves its own completeness: it starts with an ``audit.genesis`` entry (entry 1 of
every database created since migration 0006; a trail written before it keeps its first entries
and gets its genesis entry appended by the migration), and the head row must exist. A trail
emptied, or emptied together with its head, therefore fails verification.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, String, insert, select, type_coerce, update
from sqlalchemy import text as sql

from db.models import GENESIS_HASH
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
GENESIS_ACTION = "audit.genesis"
"""The action of the entry every chain since migration 0006 contains (entry 1 of new ones)."""

REFUSAL = "audit entries are append-only"
SQLITE_TRIGGERS = {
    "audit_entry_no_update": f"""CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
    "audit_entry_no_delete": f"""CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers: refuse any insert
    # of an id that exists or that the chain head has already given out.
    "audit_entry_no_replace": f"""CREATE TRIGGER audit_entry_no_replace BEFORE INSERT ON audit_entry
    WHEN EXISTS (SELECT 1 FROM audit_entry WHERE id = NEW.id)
      OR NEW.id <= (SELECT last_id FROM audit_head WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
}
"""SQLite's append-only triggers, by name (0002 created the first two, 0006 the third)."""

POSTGRES_FUNCTION = f"""CREATE FUNCTION audit_entry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$"""
POSTGRES_TRIGGERS = {
    # INSERT ... ON CONFLICT DO UPDATE fires the UPDATE trigger, so it is refused too.
    "audit_entry_no_change": """CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE
    ON audit_entry FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse()""",
    "audit_entry_no_truncate": """CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE
    ON audit_entry FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse()""",
}
"""PostgreSQL's append-only triggers (migration 0002), by name."""


class AuditHeadMissing(RuntimeError):
    """The ``audit_head`` row is gone: the trail was tampered with; nothing is appended."""

    def __init__(self) -> None:
        super().__init__(
            "the audit chain head is missing (the trail was tampered with): "
            "run `cordwatch audit verify`"
        )


def create_append_only_triggers(conn: Connection) -> None:
    """Create the append-only triggers of this dialect (migrations; tests that dropped one)."""
    if conn.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS.values():
            conn.execute(sql(statement))
        return
    conn.execute(sql(POSTGRES_FUNCTION))
    for statement in POSTGRES_TRIGGERS.values():
        conn.execute(sql(statement))


def missing_triggers(conn: Connection) -> list[str]:
    """The append-only triggers that are missing, disabled or no longer refuse, by name."""
    if conn.dialect.name == "sqlite":
        found = {
            row.name: row.sql
            for row in conn.execute(
                sql(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'audit_entry'"
                )
            )
        }
        return [
            name if name not in found else f"{name} (changed)"
            for name in SQLITE_TRIGGERS
            if name not in found or "RAISE(ABORT" not in found[name].upper().replace(" ", "")
        ]
    enabled = {
        row.tgname: row.tgenabled
        for row in conn.execute(
            sql(
                "SELECT tgname, tgenabled FROM pg_trigger "
                "WHERE tgrelid = 'audit_entry'::regclass AND NOT tgisinternal"
            )
        )
    }
    problems = []
    for name in POSTGRES_TRIGGERS:
        state = enabled.get(name)
        if state is None:
            problems.append(name)
        elif state == "D":
            problems.append(f"{name} (disabled)")
    source = conn.execute(
        sql("SELECT prosrc FROM pg_proc WHERE proname = 'audit_entry_refuse'")
    ).scalar()
    if source is None or "RAISE EXCEPTION" not in source.upper():
        problems.append("audit_entry_refuse() (missing or changed)")
    return problems


def genesis_entry(at: datetime, *, source: str = "cordwatch") -> dict[str, Any]:
    """The entry a chain starts from (or, for a trail written before 0006, is sealed with)."""
    return audit_entry(
        at=at,
        action=GENESIS_ACTION,
        actor="cordwatch",
        source=source,
        reason="the audit trail is complete from its first entry to here",
    )


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
    if head is None:  # migration 0002 creates it: its absence is tampering, never healed here
        raise AuditHeadMissing
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
    """The first bad entry of the chain: its id, what happened to it, and how we know.

    ``entry_id`` is 0 for a problem of the chain as a whole (its head or genesis is gone).
    """

    entry_id: int
    kind: str  # "changed", "removed" or "inserted"
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "kind": self.kind, "explanation": self.explanation}


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: entries checked, the head, the first problem, and
    the append-only triggers that are missing or disabled."""

    entries: int
    head_id: int
    head_hash: str
    problem: ChainProblem | None
    missing_triggers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.missing_triggers

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "problem": self.problem.as_dict() if self.problem else None,
            "missing_triggers": list(self.missing_triggers),
        }


_VERIFY_COLUMNS = ("id", "prev_hash", "entry_hash", *AUDIT_FIELDS)
_TIME_POSITIONS = tuple(i for i, name in enumerate(AUDIT_FIELDS) if name in _TIME_FIELDS)


def _canonical_time(value: Any) -> str | None:
    """A stored time as hashed (ISO 8601 UTC), from the raw column value of either database.

    Read raw rather than through ``UTCDateTime``, so a value that is not a time is reported
    as a wrong entry instead of crashing the walk.
    """
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: naive UTC text, as UTCDateTime writes it
        try:
            return datetime.fromisoformat(value + "+00:00").isoformat()
        except ValueError:
            value = datetime.fromisoformat(value)  # text with its own offset
    if not isinstance(value, datetime):
        raise TypeError(type(value).__name__)
    moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def verify_chain(conn: Connection, *, batch_size: int = 20_000) -> ChainReport:
    """Walk the whole trail in id order and report the first entry changed, removed or inserted.

    * the head row missing, or a trail without its ``audit.genesis`` entry: emptied or
      rewritten from its start;
    * an entry holding a value of the wrong type (a BLOB, a time that is not one): changed;
    * an entry whose content no longer gives its ``entry_hash``: changed;
    * a gap in the ids: the missing entry was removed (a missing tail shows against the head);
    * an id past the head, or an entry whose ``prev_hash`` is not the hash of the entry before
      it although its own hash holds: inserted, moved (two entries swapped), or the entry
      before it rewritten with a new hash; the first entry that no longer fits is named.

    The append-only triggers are checked as well (:func:`missing_triggers`).

    A chain rewritten from some entry to the end *together with* the head row cannot be told
    from a genuine one by the database alone: compare the head hash with a copy kept elsewhere
    (the performance-report flow publishes it to Prefect).

    Each entry costs one hash and a few comparisons (a million entries are verified in well
    under the 30 s target); an entry that fails any check is examined again, in the order
    above, by :func:`_check_row`, which says what is wrong with it.
    """
    triggers = tuple(missing_triggers(conn))
    head = conn.execute(select(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1)).first()
    if head is None:
        return ChainReport(
            entries=0,
            head_id=0,
            head_hash=GENESIS_HASH,
            problem=ChainProblem(
                0,
                "removed",
                "the chain head (the audit_head row) is missing: the trail was tampered with",
            ),
            missing_triggers=triggers,
        )
    head_id: int = head.last_id
    head_hash: str = head.last_hash
    columns = [
        type_coerce(AUDIT.c[name], String()) if name in _TIME_FIELDS else AUDIT.c[name]
        for name in _VERIFY_COLUMNS
    ]
    query = select(*columns).order_by(AUDIT.c.id).execution_options(yield_per=batch_size)
    expected_id = 1
    expected_prev = GENESIS_HASH
    checked = 0
    genesis_seen = False
    problem: ChainProblem | None = None
    for row in conn.execute(query):
        checked += 1
        entry_id, prev_hash, stored_hash, *content = row
        try:
            for position in _TIME_POSITIONS:
                content[position] = _canonical_time(content[position])
            digest = _digest(prev_hash, content)
        except (TypeError, ValueError):
            problem = _wrong_type(entry_id, row)
            break
        if (
            entry_id != expected_id
            or entry_id > head_id
            or prev_hash != expected_prev
            or digest != stored_hash
        ):
            problem = _check_row(
                conn, entry_id, prev_hash, stored_hash, digest, expected_id, expected_prev, head_id
            )
            if problem is not None:
                break
        genesis_seen = genesis_seen or content[1] == GENESIS_ACTION
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
        elif not genesis_seen:
            problem = ChainProblem(
                0,
                "removed",
                f"the trail has no {GENESIS_ACTION} entry: it was emptied or rewritten from its start",
            )
    return ChainReport(
        entries=checked,
        head_id=head_id,
        head_hash=head_hash,
        problem=problem,
        missing_triggers=triggers,
    )


def _wrong_type(entry_id: int, row: Any) -> ChainProblem:
    names = []
    for name in _VERIFY_COLUMNS[1:]:
        value = getattr(row, name)
        if name in _TIME_FIELDS:
            try:
                _canonical_time(value)
            except (TypeError, ValueError):
                names.append(name)
        elif value is not None and not isinstance(value, str):
            names.append(name)
    return ChainProblem(
        entry_id,
        "changed",
        f"entry {entry_id} holds a value of the wrong type in {', '.join(names) or 'a field'}",
    )


def _check_row(
    conn: Connection,
    entry_id: int,
    prev_hash: Any,
    stored_hash: Any,
    digest: str,
    expected_id: int,
    expected_prev: str,
    head_id: int,
) -> ChainProblem | None:
    if entry_id > head_id or entry_id < expected_id:
        return ChainProblem(
            entry_id,
            "inserted",
            f"entry {entry_id} is not part of the chain (the head records entries 1 to {head_id})",
        )
    if entry_id > expected_id:
        missing = (
            f"entry {expected_id} is missing"
            if entry_id == expected_id + 1
            else f"entries {expected_id} to {entry_id - 1} are missing"
        )
        return ChainProblem(expected_id, "removed", missing)
    if stored_hash is None or digest != stored_hash:
        return ChainProblem(
            entry_id, "changed", f"entry {entry_id}'s content no longer matches its hash"
        )
    if prev_hash != expected_prev:
        if entry_id == 1:
            return ChainProblem(1, "changed", "entry 1 does not start the chain")
        # Which entry is wrong: the one this entry was chained to tells. Only on this
        # error path, so the lookup (no index on entry_hash) costs nothing when intact.
        chained_to = conn.execute(
            select(AUDIT.c.id).where(AUDIT.c.entry_hash == prev_hash).order_by(AUDIT.c.id).limit(1)
        ).scalar()
        if chained_to is not None and chained_to >= entry_id:
            return ChainProblem(
                entry_id,
                "changed",
                f"entry {entry_id} is out of place: it was chained to the entry now numbered "
                f"{chained_to} (entries swapped or moved)",
            )
        if chained_to is not None and chained_to < entry_id - 2:
            return ChainProblem(
                chained_to + 1,
                "inserted",
                f"entries {chained_to + 1} to {entry_id - 1} are not part of the chain: "
                f"entry {entry_id} was chained to entry {chained_to}",
            )
        return ChainProblem(
            entry_id - 1,
            "changed",
            f"entry {entry_id - 1} is not the entry that entry {entry_id} was chained to "
            "(changed with its hash recomputed, or inserted in its place)",
        )
    return None
