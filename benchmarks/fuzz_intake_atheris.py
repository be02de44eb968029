"""Coverage-guided fuzzing of the intake with atheris (libFuzzer): the long run, by hand.

The property-based fuzzer in ``tests/db/test_intake_fuzz.py`` runs in CI; this one follows the
branches of ``pathway.events`` and ``services.intake`` to find inputs Hypothesis would not
think of. Each input is one line fed to the real intake on a SQLite file: the intake must not
raise, and a non-blank line must be accepted, a duplicate, or rejected naming a field.

Run: ``.venv/bin/python benchmarks/fuzz_intake_atheris.py -atheris_runs=100000`` (libFuzzer
flags; a corpus folder as last argument keeps what it found). A crash prints the input.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SEED = (
    b'{"event_id": "seed-1", "pathway": "REF-SEED", "type": "referral.received", '
    b'"occurred_at": "2026-11-20T08:00:00+00:00", "data": {"patient": {"mrn": "M1", '
    b'"given_name": "Ann", "family_name": "Lee", "date_of_birth": "1950-01-01"}, '
    b'"referrer": {"name": "Dr R", "organisation": "GP"}, "cancer_status": "known", '
    b'"pain_features": [], "neuro_features": ["limb_weakness"]}}'
)

with atheris.instrument_imports():
    import pathway.events
    from services.intake import Intake


def main() -> None:
    from db.engine import make_engine
    from db.migrate import upgrade
    from pathway.ruleset import load_ruleset, pin_rules

    folder = Path(tempfile.mkdtemp(prefix="cordwatch-fuzz-"))
    engine = make_engine(f"sqlite:///{folder / 'fuzz.db'}")
    upgrade(engine)
    rules = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone="Europe/London")
    intake = Intake(engine, new_pathway_rules=lambda: rules)
    intake.ingest_lines([(1, SEED)], now=NOW)
    assert pathway.events.MAX_DEPTH > 0

    def one_input(data: bytes) -> None:
        line = data.replace(b"\n", b" ")
        result = intake.ingest_lines([(1, line)], now=NOW)
        if not line.strip():
            return
        if result.accepted + result.duplicates + len(result.rejected) != 1:
            raise AssertionError("a line was neither accepted nor rejected")
        for rejection in result.rejected:
            if not rejection.field or not rejection.reason:
                raise AssertionError("a rejection without a field or reason")

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
