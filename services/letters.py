"""Rendering letters: one Jinja2 environment, versioned templates, HTML, text and PDF, files on disk.

The wording lives in ``templates/letters/<name>.html.j2`` and ``<name>.txt.j2`` (sharing the
``_*.j2`` layouts); the values come from :func:`pathway.letter_context.letter_context`. The environment
uses ``StrictUndefined``, so a missing value is an error, never a blank in a patient letter, and
autoescapes the HTML templates, so a name like ``<script>`` prints as text. A template version is
the hash of every source a letter is rendered from: the ``letter`` row records it and
``letter_template`` keeps those sources, so the exact wording sent can always be shown.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment
from sqlalchemy import Connection

from db.letters import find_letter, produced_hashes, template_sources_of
from db.private import private_folder, write_private
from pathway.clocks import ClockStatus
from pathway.engine import evaluate
from pathway.errors import LetterNotApplicable
from pathway.letter_context import Letterhead, PathwayFacts, letter_context
from pathway.letters import BREACH_REPORT, LETTERS, LetterRequest, Recipient, events_owing
from services.settings import Settings
from services.templating import template_environment

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "letters"

FORMATS = ("html", "txt", "pdf")

_ID_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"  # as alert ids: no vowels, no look-alikes


def letter_id(key: str) -> str:
    """``LT-7F3K2Q9B``: derived from the outbox key, so a retry rewrites the same files."""
    digest = hashlib.sha256(key.encode()).digest()
    return "LT-" + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest[:8])


def paragraph(text: str, width: int = 76, indent: str = "") -> str:
    """The ``para`` filter of the text letters: whitespace collapsed, wrapped at ``width``."""
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        initial_indent=indent,
        subsequent_indent=" " * len(indent),
        break_on_hyphens=False,
    )


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja environment of letters: strict, and autoescaping its HTML templates."""
    return template_environment(
        "letters",
        html=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        filters={"para": paragraph},
    )


def template_sources(name: str) -> dict[str, str]:
    """Every source ``name`` is rendered from: its two templates and the shared layouts."""
    files = [TEMPLATES / f"{name}.html.j2", TEMPLATES / f"{name}.txt.j2"]
    files.extend(sorted(TEMPLATES.glob("_*.j2")))
    return {path.name: path.read_text(encoding="utf-8") for path in files}


@lru_cache(maxsize=32)
def template_version(name: str) -> tuple[str, str]:
    """(version, sources as JSON): the version is the first 16 hex digits of their SHA-256."""
    sources = json.dumps(template_sources(name), sort_keys=True)
    return hashlib.sha256(sources.encode()).hexdigest()[:16], sources


@dataclass(frozen=True, slots=True)
class RenderedLetter:
    """A letter rendered in its three formats (PDF only when asked for)."""

    name: str
    html: str
    text: str
    pdf: bytes | None
    version: str

    def content(self, fmt: str) -> bytes:
        if fmt == "html":
            return self.html.encode()
        if fmt == "txt":
            return self.text.encode()
        if self.pdf is None:
            raise ValueError("the PDF was not rendered")
        return self.pdf


STYLESHEET = "_letter.css.j2"
"""The letters' styles: inlined in every HTML letter, parsed once per process for the PDFs."""


@lru_cache(maxsize=1)
def _pdf_styles() -> tuple[str, Any, Any]:
    """(stylesheet text, parsed stylesheet, font configuration), built once per process:
    parsing the stylesheet and setting up fonts is a third of a letter's PDF time."""
    from weasyprint import CSS  # imported late: it loads Pango, which a text preview never needs
    from weasyprint.text.fonts import FontConfiguration

    text = (TEMPLATES / STYLESHEET).read_text(encoding="utf-8")
    fonts = FontConfiguration()
    return text, CSS(string=text, font_config=fonts, base_url=str(TEMPLATES)), fonts


def render_pdf(html: str) -> bytes:
    """A4 PDF of a letter's HTML (its print styles set the page), with WeasyPrint.

    The inlined stylesheet is swapped for the same one parsed once, so the PDF is that of
    the HTML file, only faster.
    """
    from weasyprint import HTML

    text, stylesheet, fonts = _pdf_styles()
    if text in html:
        document = HTML(string=html.replace(text, "", 1), base_url=str(TEMPLATES))
        pdf: bytes = document.write_pdf(stylesheets=[stylesheet], font_config=fonts)
    else:
        pdf = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    return pdf


PdfRenderer = Callable[[str], bytes]
"""HTML in, PDF out: :func:`render_pdf` here, or the same in a worker process."""


def render_letter(
    name: str,
    context: dict[str, Any],
    *,
    pdf: bool = True,
    pdf_renderer: PdfRenderer | None = None,
) -> RenderedLetter:
    """Render ``name`` with ``context`` (StrictUndefined: a missing value raises)."""
    env = environment()
    html = env.get_template(f"{name}.html.j2").render(**context)
    text = env.get_template(f"{name}.txt.j2").render(**context).rstrip() + "\n"
    return RenderedLetter(
        name=name,
        html=html,
        text=text,
        pdf=(pdf_renderer or render_pdf)(html) if pdf else None,
        version=template_version(name)[0],
    )


def letterhead_from(settings: Settings) -> Letterhead:
    """The letterhead the settings describe (a logo is embedded by its file URI)."""
    logo = Path(settings.letter_logo_path).resolve() if settings.letter_logo_path else None
    return Letterhead(
        service_name=settings.letter_service_name,
        organisation=settings.letter_organisation,
        address=tuple(part.strip() for part in settings.letter_address.split(",") if part.strip()),
        phone=settings.letter_phone,
        hotline=settings.letter_hotline,
        email=settings.letter_email,
        logo_uri=logo.as_uri() if logo is not None and logo.is_file() else None,
    )


def context_for(
    request: LetterRequest, facts: PathwayFacts, *, settings: Settings, produced_at: datetime
) -> dict[str, Any]:
    """The template context of one letter request (raises LetterNotApplicable)."""
    return letter_context(
        request, facts, letterhead=letterhead_from(settings), produced_at=produced_at
    )


def preview_request(
    facts: PathwayFacts,
    name: str,
    *,
    recipient: str | None,
    event_id: str | None,
    clock_id: str | None,
    as_of: datetime,
) -> LetterRequest:
    """The letter ``cordwatch letter preview`` renders: the latest triggering event, or the
    first clock breached at ``as_of`` for a breach report, unless one is named."""
    spec = LETTERS.get(name)
    if spec is None:
        raise LetterNotApplicable("NAME", f"unknown letter {name!r}; letters: {', '.join(LETTERS)}")
    to = Recipient(recipient) if recipient is not None else spec.recipients[0]
    if name == BREACH_REPORT:
        view = evaluate(facts.events, facts.rules)
        breached = [
            c
            for c in view.clocks
            if c.status_at(as_of) is ClockStatus.BREACHED and clock_id in (None, c.id)
        ]
        if not breached:
            raise LetterNotApplicable(
                "--clock", "no clock of this pathway is breached at that time"
            )
        clock = breached[0]
        return LetterRequest(name, to, clock_id=clock.id, clock_starts_at=clock.starts_at)
    if event_id is None:
        # The same rule as the intake: a biopsy caution only for a flagged event, a referral
        # letter only for its service's referral.
        owing = set(events_owing(name, facts.events, facts.rules))
        matching = [e for e in facts.events if e.event_id in owing]
        if not matching:
            raise LetterNotApplicable(
                "--pathway",
                f"has no {' or '.join(spec.event_types)} event that owes {name}",
            )
        event_id = max(matching, key=lambda e: (e.occurred_at, e.event_id)).event_id
    return LetterRequest(name, to, event_id=event_id)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_files(directory: Path, stem: str, rendered: RenderedLetter) -> dict[str, Path]:
    """Write the letter's three files atomically (a temporary file, then a rename), owner-only
    in an owner-only folder (the letters name the patient)."""
    private_folder(directory)
    paths: dict[str, Path] = {}
    for fmt in FORMATS:
        path = directory / f"{stem}.{fmt}"
        partial = directory / f".{stem}.{fmt}.partial"
        write_private(partial, rendered.content(fmt))
        partial.replace(path)
        paths[fmt] = path
    return paths


def letter_record(conn: Connection, ident: str) -> dict[str, Any] | None:
    """One letter as the audit needs it: its row, whether each file still matches the hash
    recorded when it was sent, and the sources of the template version that rendered it.

    A file is intact only when its SHA-256 is the one in the ``letter.produced`` audit entry
    (hash-chained, so it cannot be edited unnoticed) as well as in the letter row: editing a
    file and its row's hash together is still seen.
    """
    row = find_letter(conn, ident)
    if row is None:
        return None
    produced = produced_hashes(conn, row.pathway_id, row.id)
    files: dict[str, str] = {}
    for fmt, path_column, hash_column in (
        ("html", "html_path", "html_sha256"),
        ("pdf", "pdf_path", "pdf_sha256"),
        ("txt", "text_path", "text_sha256"),
    ):
        path = Path(getattr(row, path_column))
        if not path.is_file():
            files[fmt] = "missing"
            continue
        actual = sha256(path.read_bytes())
        audited = produced.get(hash_column) if produced is not None else None
        if produced is None:
            files[fmt] = "not verifiable: no letter.produced audit entry for this letter"
        elif actual == audited == getattr(row, hash_column):
            files[fmt] = "intact"
        elif actual == getattr(row, hash_column):
            files[fmt] = (
                "changed since it was sent (its hash in the letter row was changed too; "
                "the audit trail holds the original)"
            )
        else:
            files[fmt] = "changed since it was sent"
    sources = template_sources_of(conn, row.template_version)
    record = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._mapping.items()
    }
    record["files_check"] = files
    record["template_sources"] = json.loads(sources) if sources else {}
    return record
