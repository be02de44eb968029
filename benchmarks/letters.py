"""Letters per second for HTML, text and PDF over 1,000 letters, and peak memory.

Run: python benchmarks/letters.py [--letters 1000] [--workers 2]

The 1,000 letters are the referral acknowledgements of 1,000 synthetic patients (the canonical
pathway of the letter tests, with a new reference, name and referral time each), rendered as
``tasks/letters.py`` renders them: context from the pure core, the Jinja2 templates, WeasyPrint
for the PDF. Nothing is written to a database: this measures rendering, the part that costs.
The PDF pass runs once in this process and once on a process pool of ``--workers``.
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

from cordwatch.letters import environment, render_pdf
from pathway.events import parse_event
from pathway.letters import Letterhead, LetterRequest, PathwayFacts, Recipient, letter_context
from pathway.ruleset import load_ruleset, pin_rules

CANONICAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "letters_canonical.jsonl"
RULES = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone="Europe/London")
LETTERHEAD = Letterhead(
    service_name="Metastatic Spinal Cord Compression (MSCC) Service",
    organisation="Example Hospitals NHS Foundation Trust",
    address=("Example General Hospital", "Example Road", "Exampletown", "EX1 1AA"),
    phone="01632 960000",
    hotline="01632 960111",
)
GIVEN = ("Ann", "Bola", "Chen", "Dafydd", "Eilidh", "Farah", "Gareth", "Hana", "Iwan", "Jo")
FAMILY = ("Adeyemi", "Brown", "Clarke", "Davies", "Evans", "Fraser", "Gill", "Hughes")


def contexts(count: int) -> list[dict[str, Any]]:
    """The referral acknowledgement context of ``count`` synthetic patients."""
    referral = json.loads(CANONICAL.read_text().splitlines()[0])
    start = datetime.fromisoformat(referral["occurred_at"])
    found = []
    for i in range(count):
        event = json.loads(json.dumps(referral))
        event["event_id"] = f"bench-{i}"
        event["pathway"] = f"REF-BENCH-{i:05d}"
        event["occurred_at"] = (start + timedelta(minutes=37 * i)).isoformat()
        event["data"]["patient"]["given_name"] = GIVEN[i % len(GIVEN)]
        event["data"]["patient"]["family_name"] = FAMILY[i % len(FAMILY)]
        event["data"]["patient"].pop("nhs_number")
        event["data"]["patient"]["mrn"] = f"RX1-{100000 + i}"
        facts = PathwayFacts(f"PW-B{i:05d}", (parse_event(json.dumps(event)),), RULES)
        request = LetterRequest(
            "referral_acknowledgement", Recipient.REFERRER, event_id=f"bench-{i}"
        )
        produced = start + timedelta(minutes=37 * i, seconds=30)
        found.append(letter_context(request, facts, letterhead=LETTERHEAD, produced_at=produced))
    return found


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
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{n} referral acknowledgements (canonical letter, {len(pdfs[0]):,} bytes of PDF each)")
    print(f"{'pass':<24}{'seconds':>10}{'letters/s':>12}")
    for label, seconds, rate in rows:
        print(f"{label:<24}{seconds:>10.2f}{rate:>12.1f}")
    print(f"peak memory: {peak_mb:.0f} MB (this process), {children_mb:.0f} MB (largest worker)")
    slowest_pdf = rows[3][1]
    print(
        f"target: {n} PDFs under 60 s -> {'met' if slowest_pdf < 60 else 'MISSED'} "
        f"({slowest_pdf:.1f} s in one process)"
    )


if __name__ == "__main__":
    main()
