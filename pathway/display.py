"""What may be shown outside the database: milestone details without free text or identifiers.

Prefect artifacts, events, tags and alert texts are read by many people and kept by Prefect; they
carry the opaque pathway id and coded facts only. Free text (reasons, names of staff, drug
names typed by hand) can hold patient details, so only enumerated or numeric fields pass.
"""

from __future__ import annotations

from typing import Any

from pathway.engine import PathwayView

SAFE_DETAIL_KEYS = frozenset(
    {
        "cancer_status",
        "pain_features",
        "neuro_features",
        "ambulatory_status",
        "category",
        "modality",
        "finding",
        "bilsky_grade",
        "sins",
        "malignant",
        "board",
        "plan",
        "decision_to_treat",
        "intent",
        "dose_mg",
        "frankel_grade",
        # Version 2 (pathway-spec.md section 9.1): enumerations and booleans only.
        "cord_compression",
        "suspected_histology",
        "service",
        "mode",
        "advice",
        "site_agreed_with_treating_centre",
        "asia_grade",
        "bladder",
        "clock",
        "stage",
        "primary",
    }
)

_CODED_REASON_TYPES = frozenset({"pathway.closed", "breach.explained"})
"""Types whose ``reason`` is a code (a closing reason, a breach reason of section 9.4)."""


def safe_details(event_type: str, details: dict[str, Any]) -> dict[str, Any]:
    """Keep only coded fields of a milestone's details (a closing reason is coded too)."""
    kept = {k: v for k, v in details.items() if k in SAFE_DETAIL_KEYS and v not in (None, [], "")}
    if event_type in _CODED_REASON_TYPES and "reason" in details:
        kept["reason"] = details["reason"]
    return kept


# Inside a cell or line these are the characters that format, link or end the cell.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]|~")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def markdown_text(value: object) -> str:
    """``value`` as literal text inside one markdown table cell or line of a Prefect artifact.

    Artifacts carry coded facts only, but a coded field is still text from a feed: a ``|`` or a
    newline in it would break the table, ``*`` or ``[..](..)`` would format, and ``<script>``
    would reach the UI's renderer as HTML. Line breaks become spaces, HTML is entity-escaped and
    the characters that format or link inside a line are backslash-escaped.
    """
    escaped = []
    for character in " ".join(str(value).splitlines()):
        if character in _HTML_ENTITIES:
            escaped.append(_HTML_ENTITIES[character])
        elif character in _MARKDOWN_SPECIAL:
            escaped.append("\\" + character)
        else:
            escaped.append(character)
    return "".join(escaped)


_SAFETY_WORDS = {
    "biopsy.requested": "a biopsy was requested",
    "biopsy.performed": "a biopsy was performed",
    "treatment.started": "surgery was started",
}


def cautions(view: PathwayView) -> list[str]:
    """The warnings a coordinator and the tumour board must see first (sections 9.3, E4).

    Plain sentences with codes only: they are shown in the terminal, the board form and the
    JSON view, so they carry no identifier. Version-1 pathways never have any.
    """
    lines = []
    if view.primary_tumour_before_review:
        lines.append(
            "Primary bone tumour suspected, not yet reviewed by the bone sarcoma centre: "
            "do not biopsy or operate locally before its advice."
        )
    for flag in view.safety:
        words = _SAFETY_WORDS.get(flag.event_type, flag.event_type)
        lines.append(
            f"{flag.code}: {words} before the bone sarcoma centre's review "
            f"({flag.at.isoformat()}, event {flag.event_id})."
        )
    if view.haematology_advisory:
        lines.append(
            "Haematological malignancy suspected: discuss with haematology before "
            "dexamethasone (steroids can spoil the biopsy); STEROID-MSCC still runs."
        )
    return lines
