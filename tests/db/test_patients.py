"""One patient per NHS number: concurrent ingests, the unique index and migration 0006."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from db.migrate import alembic_config, upgrade
from db.repository import PATHWAY, PATIENT
from pathway.nhs_number import nhs_check_digit
from services.intake import Intake
from tests.conftest import NOW, RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import referral_line as referral


def nhs_numbers(count: int) -> list[str]:
    """Valid NHS numbers (modulus 11 check digit) from the 999 test range."""
    found: list[str] = []
    stem = 999_000_000
    while len(found) < count:
        digit = nhs_check_digit(str(stem))
        if digit is not None:
            found.append(f"{stem}{digit}")
        stem += 1
    return found


def _cohort(path: Path, prefix: str, numbers: list[str]) -> Path:
    lines = [
        referral(f"{prefix}-{n}", f"REF-{prefix}-{n:03d}", T0 + timedelta(minutes=n), nhs=number)
        for n, number in enumerate(numbers)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        patients = conn.execute(select(func.count()).select_from(PATIENT)).scalar_one()
        pathways = conn.execute(select(func.count()).select_from(PATHWAY)).scalar_one()
        owners = conn.execute(select(func.count(func.distinct(PATHWAY.c.patient_id)))).scalar_one()
    return patients, pathways, owners


@pytest.mark.slow
def test_two_processes_referring_the_same_patients_store_each_patient_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    numbers = nhs_numbers(400)
    files = [
        _cohort(tmp_path / "a.jsonl", "a", numbers),
        _cohort(tmp_path / "b.jsonl", "b", list(reversed(numbers))),
    ]
    env = {**os.environ, "CORDWATCH_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "cordwatch", "ingest", "--json", "--as-of", NOW.isoformat()]

    workers = [
        subprocess.Popen([*command, str(f)], env=env, stdout=subprocess.PIPE, text=True)
        for f in files
    ]
    outputs = [json.loads(w.communicate(timeout=300)[0]) for w in workers]

    assert [w.returncode for w in workers] == [0, 0]
    assert [o["accepted"] for o in outputs] == [400, 400]
    assert _counts(engine) == (400, 800, 400)


def test_two_threads_referring_the_same_patients_store_each_patient_once(
    engine: Engine, tmp_path: Path
) -> None:
    numbers = nhs_numbers(200)
    files = [
        _cohort(tmp_path / "a.jsonl", "a", numbers),
        _cohort(tmp_path / "b.jsonl", "b", list(reversed(numbers))),
    ]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def ingest(path: Path) -> None:
        lines = list(enumerate(path.read_text().splitlines(), start=1))
        try:
            start.wait()
            result = Intake(engine, new_pathway_rules=lambda: RULES).ingest_lines(lines, now=NOW)
            assert not result.rejected
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=ingest, args=(f,)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert _counts(engine) == (200, 400, 200)


def test_the_database_refuses_a_second_patient_with_the_same_nhs_number(engine: Engine) -> None:
    row = {"given_name": "A", "family_name": "B", "date_of_birth": T0.date(), "created_at": NOW}
    with engine.begin() as conn:
        conn.execute(insert(PATIENT), [{**row, "id": "PT-1", "nhs_number": "9434765919"}])
        conn.execute(insert(PATIENT), [{**row, "id": "PT-2", "nhs_number": None}])
        conn.execute(insert(PATIENT), [{**row, "id": "PT-3", "nhs_number": None}])

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(PATIENT), [{**row, "id": "PT-4", "nhs_number": "9434765919"}])


def test_migration_0006_merges_existing_duplicates_onto_the_oldest_patient(
    engine: Engine, intake: Intake
) -> None:
    from db.audit import verify_chain
    from db.repository import AUDIT

    numbers = nhs_numbers(2)
    intake.ingest_lines(
        [
            (1, referral("d-1", "REF-D1", T0, nhs=numbers[0])),
            (2, referral("d-2", "REF-D2", T0, nhs=numbers[1])),
        ],
        now=NOW,
    )
    _downgrade(engine, "0005")  # before the unique index: duplicates could be written
    with engine.begin() as conn:
        oldest = conn.execute(
            select(PATIENT.c.id, PATIENT.c.created_at).where(PATIENT.c.nhs_number == numbers[0])
        ).one()
        for n, later in enumerate(("PT-LATER-1", "PT-LATER-2"), start=1):
            conn.execute(
                insert(PATIENT),
                [
                    {
                        "id": later,
                        "nhs_number": numbers[0],
                        "given_name": "Dup",
                        "family_name": "Licate",
                        "date_of_birth": T0.date(),
                        "created_at": oldest.created_at + timedelta(minutes=n),
                    }
                ],
            )
        conn.execute(
            PATHWAY.update().where(PATHWAY.c.reference == "REF-D2").values(patient_id="PT-LATER-2")
        )

    upgrade(engine)

    with engine.connect() as conn:
        owners = {
            row.reference: row.patient_id
            for row in conn.execute(select(PATHWAY.c.reference, PATHWAY.c.patient_id))
        }
        same = conn.execute(
            select(func.count()).select_from(PATIENT).where(PATIENT.c.nhs_number == numbers[0])
        ).scalar_one()
        merged = conn.execute(
            select(AUDIT.c.details).where(AUDIT.c.action == "patient.merged")
        ).scalar_one()
        chain = verify_chain(conn)
    assert same == 1
    assert owners == {"REF-D1": oldest.id, "REF-D2": oldest.id}
    assert json.loads(merged) == {
        "kept": oldest.id,
        "merged": ["PT-LATER-1", "PT-LATER-2"],
        "pathways": [_pathway_id(engine, "REF-D2")],
    }
    assert numbers[0] not in merged
    assert chain.ok, chain.problem


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _pathway_id(engine: Engine, reference: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(PATHWAY.c.id).where(PATHWAY.c.reference == reference)).scalar_one()
        )


def test_the_model_declares_the_index_the_migrations_create(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)

    assert [d for d in differences if "patient" in repr(d)] == []
