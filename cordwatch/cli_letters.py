"""Letter commands: `cordwatch letters PATHWAY` (what was sent, and its status),
`cordwatch letter preview NAME --pathway P` (render without recording) and
`cordwatch letter deliver` (produce and deliver the letters owed, as the flows do)."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cordwatch.cli_common import ActAsOf, JsonFlag, err, migrated_engine, moment_or_now, out
from db.engine import reading
from db.private import write_private
from services.settings import get_settings

letter_app = typer.Typer(help="Preview a letter, or deliver the letters owed now.")


class Format(StrEnum):
    HTML = "html"
    PDF = "pdf"
    TXT = "txt"


def letters(
    pathway: Annotated[str, typer.Argument(help="Referral reference or internal PW- id.")],
    as_json: JsonFlag = False,
) -> None:
    """The letters of one pathway, oldest first: letter, recipient, status, attempts,
    template version, channel, files. Letters still owed show as pending."""
    from db.errors import UnknownPathway
    from db.letters import list_letters
    from db.repository import get_pathway

    engine = migrated_engine()
    with reading(engine) as conn:
        try:
            row = get_pathway(conn, pathway)
        except UnknownPathway as error:
            err.print(str(error), style="red")
            raise typer.Exit(1) from error
        found = list_letters(conn, row.id)
    if as_json:
        typer.echo(json.dumps({"pathway": row.id, "letters": found}, indent=2))
        return
    table = Table(title=f"Letters of {row.id}")
    for column in ("id", "letter", "to", "status", "tries", "version", "channel", "produced"):
        table.add_column(column)
    for letter in found:
        table.add_row(
            letter["id"] or "-",
            letter["letter"],
            letter["recipient"],
            letter["status"] + (f" ({letter['error']})" if letter["error"] else ""),
            str(letter["attempts"]),
            letter["template_version"] or "-",
            letter["channel"] or "-",
            (letter["produced_at"] or "-")[:16],
        )
    out.print(table)


@letter_app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(help="The letter, e.g. referral_acknowledgement.")],
    pathway: Annotated[
        str, typer.Option("--pathway", help="Referral reference or internal PW- id.")
    ],
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TXT,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Recipient role (referrer, radiology, patient, gp, "
            "service_lead). Default: the letter's first.",
        ),
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="The triggering event id. Default: the latest.")
    ] = None,
    clock: Annotated[
        str | None,
        typer.Option("--clock", help="breach_report: the clock id. Default: the first breached."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    as_of: ActAsOf = None,
) -> None:
    """Render a letter of a pathway as it would be sent now, without recording or sending it."""
    from db.errors import UnknownPathway
    from db.letters import load_facts
    from pathway.errors import LetterNotApplicable
    from pathway.letters import Recipient
    from services.letters import context_for, preview_request, render_letter

    if to is not None and to not in {r.value for r in Recipient}:
        raise typer.BadParameter(
            f"unknown recipient {to!r}; one of {', '.join(r.value for r in Recipient)}",
            param_hint="--to",
        )
    moment = moment_or_now(as_of)
    settings = get_settings()
    engine = migrated_engine(settings)
    try:
        with reading(engine) as conn:
            facts = load_facts(conn, pathway)
        request = preview_request(
            facts, name, recipient=to, event_id=event, clock_id=clock, as_of=moment
        )
        context = context_for(request, facts, settings=settings, produced_at=moment)
    except UnknownPathway as error:
        err.print(str(error), style="red")
        raise typer.Exit(1) from error
    except (LetterNotApplicable, ValueError) as error:
        err.print(str(error), style="red")
        raise typer.Exit(1) from error
    rendered = render_letter(request.name, context, pdf=fmt is Format.PDF)
    content = rendered.content(fmt.value)
    if output is not None:
        write_private(output, content)
        err.print(f"wrote {output}")
    elif fmt is Format.PDF and sys.stdout.isatty():
        err.print("a PDF is binary: give --output FILE, or redirect stdout", style="red")
        raise typer.Exit(2)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()


@letter_app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument(help="The letter's id, LT-....")],
    as_json: JsonFlag = False,
    sources: Annotated[
        bool,
        typer.Option("--sources", help="Also print the template sources it was rendered from."),
    ] = False,
) -> None:
    """One letter as sent: what, to whom, why, the template version and whether its files still
    match the hashes recorded when it was sent (exit 1 when one does not)."""
    from services.letters import letter_record

    engine = migrated_engine()
    with reading(engine) as conn:
        record = letter_record(conn, letter_id.strip())
    if record is None:
        err.print(f"no letter with id {letter_id!r}", style="red")
        raise typer.Exit(1)
    intact = all(state == "intact" for state in record["files_check"].values())
    if as_json:
        typer.echo(
            json.dumps(
                record
                if sources
                else {**record, "template_sources": sorted(record["template_sources"])},
                indent=2,
            )
        )
    else:
        for key in (
            "id",
            "name",
            "recipient",
            "pathway_id",
            "event_id",
            "clock_id",
            "status",
            "template_version",
            "channel",
            "produced_at",
            "delivered_at",
        ):
            out.print(f"{key:<17} {record[key] if record[key] is not None else '-'}")
        for fmt, state in record["files_check"].items():
            out.print(f"{fmt + ' file':<17} {state}")
        if sources:
            for name, text in record["template_sources"].items():
                out.print(f"\n--- {name} ---\n{text}", markup=False, highlight=False)
    if not intact:
        raise typer.Exit(1)


@letter_app.command("deliver")
def deliver(
    pathway: Annotated[
        str | None, typer.Option("--pathway", help="Only this pathway (PW- id or reference).")
    ] = None,
    as_of: ActAsOf = None,
    as_json: JsonFlag = False,
) -> None:
    """Produce and deliver every letter owed now (the handle-event and deadline-watch flows do
    this on their own); prints counts by resulting status."""
    from db.errors import UnknownPathway
    from db.repository import get_pathway
    from tasks.letters import deliver_pending_letters

    moment = moment_or_now(as_of)
    engine = migrated_engine()
    pathway_id = None
    if pathway is not None:
        with reading(engine) as conn:
            try:
                pathway_id = get_pathway(conn, pathway).id
            except UnknownPathway as error:
                err.print(str(error), style="red")
                raise typer.Exit(1) from error
    counts = asyncio.run(deliver_pending_letters(moment, pathway_id=pathway_id))
    if as_json:
        typer.echo(json.dumps(counts, sort_keys=True))
        return
    if not counts:
        out.print("no letters owed")
    for status, count in sorted(counts.items()):
        out.print(f"{count} {status}")


def register(app: typer.Typer) -> None:
    """Add the letter commands to the `cordwatch` application."""
    app.command("letters")(letters)
    app.add_typer(letter_app, name="letter")
