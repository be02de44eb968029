"""Letters per second for HTML, text and PDF over 1,000 letters, and peak memory.

Run: python benchmarks/letters.py [--letters 1000] [--workers 2]

The 1,000 letters are the referral acknowledgements of 1,000 synthetic patients (the canonical
pathway of the letter tests, with a new reference, name and referral time each). Two parts:

1. Rendering as ``tasks/letters.py`` renders: context from the pure core, the Jinja2
   templates, WeasyPrint for the PDF; the PDF pass once in this process and once on a process
   pool of ``--workers``.
2. The delivery path end to end: the 1,000 referrals ingested into a SQLite database, then
   ``cordwatch letter deliver`` (``deliver_pending_letters``) produces every acknowledgement
   (context, HTML, text, PDF on the worker pool, three files, the ``letter`` row, audit) and
   delivers it to the letters folder. The patients' information letters are owed too; they
   are cancelled first so that exactly the 1,000 acknowledgements are timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pathway.events import parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import environment, render_pdf
from tests.conftest import RULES
from tests.letters.canonical import CANONICAL_FILE, LETTERHEAD

CANONICAL = CANONICAL_FILE
"""The canonical pathway of the letter tests, its letterhead and rules: one source for both."""
GIVEN = ("Ann", "Bola", "Chen", "Dafydd", "Eilidh", "Farah", "Gareth", "Hana", "Iwan", "Jo")
FAMILY = ("Adeyemi", "Brown", "Clarke", "Davies", "Evans", "Fraser", "Gill", "Hughes")


def referrals(count: int) -> list[str]:
    """``count`` synthetic referrals (JSON lines): the canonical one, with a new reference,
    name, hospital number and referral time each, 37 minutes apart."""
    referral = json.loads(CANONICAL.read_text().splitlines()[0])
    start = datetime.fromisoformat(referral["occurred_at"])
    found = []
    for i in range(count):
        event = json.loads(json.dumps(referral))
        event["event_id"] = f"bench-{i}"
        event["pathway"] = f"REF-BENCH-{i:05d}"
        event["occurred_at"] = (start + timedelta(minutes=37 * i)).isoformat()
        patient = event["data"]["patient"]
        patient["given_name"] = GIVEN[i % len(GIVEN)]
        patient["family_name"] = FAMILY[i % len(FAMILY)]
        patient.pop("nhs_number")
        patient["mrn"] = f"RX1-{100000 + i}"
        found.append(json.dumps(event))
    return found


def contexts(count: int) -> list[dict[str, Any]]:
    """The referral acknowledgement context of ``count`` synthetic patients."""
    found = []
    for i, line in enumerate(referrals(count)):
        event = parse_event(line)
        facts = PathwayFacts(f"PW-B{i:05d}", (event,), RULES)
        request = LetterRequest(
            "referral_acknowledgement", Recipient.REFERRER, event_id=event.event_id
        )
        produced = event.occurred_at + timedelta(seconds=30)
        found.append(letter_context(request, facts, letterhead=LETTERHEAD, produced_at=produced))
    return found


def delivery_path(count: int, workers: int) -> tuple[float, int]:
    """Seconds to produce and deliver ``count`` acknowledgements through the real path."""
    import asyncio
    import os
    import tempfile

    from sqlalchemy import update

    from db.engine import make_engine, transaction
    from db.migrate import upgrade
    from db.repository import OUTBOX
    from services.intake import Intake
    from services.settings import get_settings
    from tasks.letters import deliver_pending_letters

    folder = Path(tempfile.mkdtemp(prefix="cordwatch-letters-bench-"))
    os.environ["CORDWATCH_DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
    os.environ["CORDWATCH_LETTERS_DIR"] = str(folder / "letters")
    os.environ["CORDWATCH_ALERT_CONFIG_PATH"] = str(folder / "none.yml")
    os.environ["CORDWATCH_LETTER_RENDER_PROCESSES"] = str(workers)
    get_settings.cache_clear()
    engine = make_engine(get_settings().url())
    upgrade(engine)
    lines = list(enumerate(referrals(count), start=1))
    start = parse_event(lines[0][1]).occurred_at
    now = start + timedelta(minutes=37 * count + 1)
    Intake(engine, new_pathway_rules=lambda: RULES).ingest_lines(lines, now=now)
    with transaction(engine) as conn:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.key.startswith("letter:patient_information:"))
            .values(status="cancelled")
        )
    began = time.perf_counter()
    counts = asyncio.run(deliver_pending_letters(now))
    seconds = time.perf_counter() - began
    engine.dispose()
    return seconds, counts.get("sent", 0)


def timed(label: str, count: int, work: Callable[[], object]) -> tuple[str, float, float]:
    began = time.perf_counter()
    work()
    seconds = time.perf_counter() - began
    return label, seconds, count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.letters
    rows = [timed("contexts (pure core)", n, lambda: contexts(n))]
    found = contexts(n)
    html_template = environment().get_template("referral_acknowledgement.html.j2")
    text_template = environment().get_template("referral_acknowledgement.txt.j2")
    html: list[str] = []
    rows.append(timed("HTML", n, lambda: html.extend(html_template.render(**c) for c in found)))
    rows.append(timed("text", n, lambda: [text_template.render(**c) for c in found]))
    render_pdf(html[0])  # WeasyPrint's first call loads fonts: not part of a letter's cost
    pdfs: list[bytes] = []
    rows.append(timed("PDF, 1 process", n, lambda: pdfs.extend(render_pdf(h) for h in html)))
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        list(pool.map(render_pdf, html[: args.workers]))  # warm the workers
        rows.append(
            timed(
                f"PDF, {args.workers} processes",
                n,
                lambda: list(pool.map(render_pdf, html, chunksize=25)),
            )
        )
    path_seconds, sent = delivery_path(n, args.workers)
    rows.append((f"delivered, {args.workers} processes", path_seconds, sent / path_seconds))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{n} referral acknowledgements (canonical letter, {len(pdfs[0]):,} bytes of PDF each)")
    print(f"{'pass':<24}{'seconds':>10}{'letters/s':>12}")
    for label, seconds, rate in rows:
        print(f"{label:<24}{seconds:>10.2f}{rate:>12.1f}")
    print(f"peak memory: {peak_mb:.0f} MB (this process), {children_mb:.0f} MB (largest worker)")
    print(f"delivered end to end: {sent} letters (database rows, three files each, audit)")
    print(
        f"target: {n} acknowledgements as PDF under 60 s -> "
        f"{'met' if path_seconds < 60 else 'MISSED'} ({path_seconds:.1f} s through the delivery "
        f"path on {args.workers} processes; {rows[3][1]:.1f} s rendering in one process)"
    )


if __name__ == "__main__":
    main()
