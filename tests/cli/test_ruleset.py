"""`cordwatch ruleset what-if` and `cordwatch ruleset adopt` (pathway-spec.md 9.6) on SQLite and
PostgreSQL: the replay writes nothing, adoption re-pins open pathways only, audited, once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from cordwatch.cli import app
from db.audit import verify_chain
from db.repository import AUDIT, CLOCK, PATHWAY
from services.intake import Intake
from tests.conftest import NOW
from tests.factories import INTAKE_T0 as T0
from tests.factories import RULES_V2, envelope
from tests.factories import referral_line as referral

runner = CliRunner()
H = timedelta(hours=1)
AS_OF = NOW
TABLES = ("pathway", "clock", "inbox_event", "milestone", "outbox", "audit_entry", "audit_head")


def _pathway(ref: str, *later: tuple[str, dict[str, Any]], nhs: str) -> list[str]:
    """A suspected-MSCC referral at T0, its MRI at T0+2 h, then ``later`` an hour apart."""
    lines = [
        referral(f"{ref}-0", ref, T0, nhs=nhs),
        envelope(f"{ref}-1", ref, "imaging.performed", T0 + 2 * H, {"modality": "mri_whole_spine"}),
    ]
    for n, (type_, data) in enumerate(later, start=2):
        lines.append(envelope(f"{ref}-{n}", ref, type_, T0 + (2 + n) * H, data))
    return lines


COHORT = [
    # RT-24H breaches under version 1 and does not exist under version 2 (9.2).
    *_pathway(
        "REF-A",
        ("imaging.reported", {"finding": "mscc"}),
        ("mdt.decided", {"plan": "surgery_then_radiotherapy", "decision_to_treat": True}),
        nhs="9434765919",
    ),
    # Ruled out (closed) under version 1; version 2 refuses the finding.
    *_pathway("REF-B", ("imaging.reported", {"finding": "no_spinal_metastases"}), nhs="9434765005"),
    # Open; version 2 refuses a metastases report without cord_compression.
    *_pathway("REF-C", ("imaging.reported", {"finding": "spinal_metastases"}), nhs="9434765013"),
    # Open, nothing version 2 refuses.
    *_pathway("REF-D", ("coordinator.contacted", {"coordinator": "Sam"}), nhs="9434765021"),
]


@pytest.fixture
def cohort(engine: Engine, intake: Intake) -> dict[str, str]:
    """The internal id of each reference, every pathway pinned to version 1."""
    result = intake.ingest_lines(enumerate(COHORT, 1), now=NOW)
    assert result.rejected == []
    with engine.connect() as conn:
        return dict(conn.execute(select(PATHWAY.c.reference, PATHWAY.c.id)).tuples().all())


def _contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(text(f"SELECT * FROM {name}"))), key=repr
            )
            for name in TABLES
        }


def _run(*args: str) -> str:
    result = runner.invoke(app, ["ruleset", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _what_if(*extra: str) -> str:
    return _run(
        "what-if",
        "--version",
        "2",
        "--from",
        T0.date().isoformat(),
        "--to",
        T0.date().isoformat(),
        "--as-of",
        AS_OF.isoformat(),
        *extra,
    )


def _adopt(*extra: str) -> dict[str, Any]:
    output = _run(
        "adopt",
        "--version",
        "2",
        "--open",
        "--by",
        "Dr Admin",
        "--reason",
        "QS56 2023 adopted by the MSCC board",
        "--as-of",
        AS_OF.isoformat(),
        "--json",
        *extra,
    )
    document: dict[str, Any] = json.loads(output)
    return document


def test_what_if_shows_the_changed_clocks_and_refused_events_and_writes_nothing(
    engine: Engine, cohort: dict[str, str], tmp_path: Path
) -> None:
    before = _contents(engine)

    document = json.loads(_what_if("--json"))
    text_output = _what_if()
    _what_if("--html", str(tmp_path / "what-if.html"))

    assert _contents(engine) == before
    changed = {
        (c["pathway_id"], c["clock_id"], c["pinned"], c["candidate"])
        for c in document["changed_clocks"]
    }
    assert (cohort["REF-A"], "RT-24H", "breached", None) in changed
    refused = {(r["pathway_id"], r["field"]) for r in document["would_be_refused"]}
    assert refused == {
        (cohort["REF-B"], "data.finding"),
        (cohort["REF-C"], "data.cord_compression"),
    }
    assert document["pathways"] == 4
    assert document["owed_only_under_pinned"]["alerts"]["RT-24H breach"] == 1
    assert "would be refused" in text_output.lower()
    assert "REF-" not in text_output + json.dumps(document)
    assert "Testpatient" not in (tmp_path / "what-if.html").read_text()


def test_adopt_re_pins_open_pathways_only_audits_each_and_is_idempotent(
    engine: Engine, cohort: dict[str, str]
) -> None:
    with engine.connect() as conn:
        clock_entries = conn.execute(
            select(AUDIT.c.id, AUDIT.c.entry_hash).where(AUDIT.c.action.like("clock.%"))
        ).all()

    first = _adopt()
    after_first = _contents(engine)
    second = _adopt()

    assert sorted(first["adopted_pathways"]) == sorted([cohort["REF-A"], cohort["REF-D"]])
    assert [p["pathway_id"] for p in first["left_alone"]] == [cohort["REF-C"]]
    assert (second["adopted"], second["already_on_candidate"]) == (0, 2)
    assert _contents(engine) == after_first
    with engine.connect() as conn:
        versions = dict(conn.execute(select(PATHWAY.c.reference, PATHWAY.c.ruleset)).tuples().all())
        a_clocks = set(
            conn.execute(select(CLOCK.c.clock_id).where(CLOCK.c.pathway_id == cohort["REF-A"]))
            .scalars()
            .all()
        )
        adopted = conn.execute(
            select(AUDIT.c.pathway_id, AUDIT.c.actor, AUDIT.c.reason, AUDIT.c.details).where(
                AUDIT.c.action == "ruleset.adopted"
            )
        ).all()
        still = conn.execute(
            select(AUDIT.c.id, AUDIT.c.entry_hash).where(
                AUDIT.c.id.in_([e.id for e in clock_entries])
            )
        ).all()
        chain = verify_chain(conn)
    assert versions == {
        "REF-A": "nice-ng234-2023.v2",
        "REF-B": "nice-ng234-2023.v1",
        "REF-C": "nice-ng234-2023.v1",
        "REF-D": "nice-ng234-2023.v2",
    }
    assert "RT-24H" not in a_clocks
    assert {row.pathway_id for row in adopted} == {cohort["REF-A"], cohort["REF-D"]}
    assert {(row.actor, row.reason) for row in adopted} == {
        ("Dr Admin", "QS56 2023 adopted by the MSCC board")
    }
    details = {row.pathway_id: json.loads(row.details) for row in adopted}
    assert {(d["from"]["version"], d["to"]["version"]) for d in details.values()} == {(1, 2)}
    assert [(c["clock"], c["status"]) for c in details[cohort["REF-A"]]["clocks_removed"]] == [
        ("RT-24H", "breached")
    ]
    assert details[cohort["REF-D"]]["clocks_removed"] == []
    assert sorted(still) == sorted(clock_entries)
    assert chain.ok


def test_the_intake_reads_the_adopted_version_at_once(
    engine: Engine, cohort: dict[str, str], intake: Intake
) -> None:
    _adopt()
    # specialist.referred is an event of version 2 only: the intake's cached pathway is stale.
    line = envelope(
        "REF-D-9", "REF-D", "specialist.referred", T0 + 9 * H, {"service": "spinal_surgery"}
    )

    result = intake.ingest_lines([(1, line)], now=NOW)

    assert (result.accepted, result.rejected) == (1, [])


def test_a_version_1_pathway_keeps_its_clocks_when_the_default_changes_and_nobody_adopts(
    engine: Engine, cohort: dict[str, str]
) -> None:
    version_2 = Intake(engine, new_pathway_rules=lambda: RULES_V2)
    line = envelope("REF-A-9", "REF-A", "treatment.started", T0 + 9 * H, {"modality": "surgery"})

    result = version_2.ingest_lines([(1, line)], now=NOW)

    assert result.rejected == []
    with engine.connect() as conn:
        ruleset = conn.execute(
            select(PATHWAY.c.ruleset).where(PATHWAY.c.id == cohort["REF-A"])
        ).scalar_one()
        clocks = set(
            conn.execute(select(CLOCK.c.clock_id).where(CLOCK.c.pathway_id == cohort["REF-A"]))
            .scalars()
            .all()
        )
    assert ruleset == "nice-ng234-2023.v1"
    assert "RT-24H" in clocks
    assert "POSTOP-RT" not in clocks


@pytest.mark.parametrize(
    ("option", "value"), [("--by", "   "), ("--reason", "adopted\x1b[2J"), ("--by", "a\nb")]
)
def test_adopt_refuses_blank_or_control_characters(
    engine: Engine, cohort: dict[str, str], option: str, value: str
) -> None:
    args = {"--by": "Dr Admin", "--reason": "QS56 2023"} | {option: value}

    result = runner.invoke(
        app,
        [
            "ruleset",
            "adopt",
            "--version",
            "2",
            "--open",
            "--by",
            args["--by"],
            "--reason",
            args["--reason"],
        ],
    )

    assert result.exit_code == 2
    with engine.connect() as conn:
        assert (
            conn.execute(select(AUDIT.c.id).where(AUDIT.c.action == "ruleset.adopted")).all() == []
        )
