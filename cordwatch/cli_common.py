"""Helpers shared by every `cordwatch` command module: the consoles, the options several
commands take, times and dates from the command line, the engine.

Declared once, so ``--json`` and ``--as-of`` read and behave the same in every command.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from db.engine import engine_for
from db.migrate import upgrade
from services.settings import Settings, get_settings


def console(*, stderr: bool = False) -> Console:
    """A console that prints every string as text: no Rich markup, no emoji codes.

    References, names and reasons come from the feeds; read as markup, a ``[/red]`` in one
    of them crashed the board for everyone while that pathway was open. Styling is given
    explicitly instead (``style=`` or :class:`rich.text.Text`).
    """
    if stderr:
        return Console(stderr=True, markup=False, emoji=False)
    return Console(width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)


out = console()
"""Standard output of every command."""
err = console(stderr=True)
"""Standard error of every command: refusals and warnings."""

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The moment to look at (ISO 8601 with offset). Default: now."),
]
"""``--as-of`` of the commands that read (the board, a pathway, reports)."""
ActAsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The moment to act at (ISO 8601 with offset). Default: now."),
]
"""``--as-of`` of the commands that write (acknowledge, send letters, check alerts)."""


def parse_moment(text: str, option: str) -> datetime:
    """An aware instant from ISO 8601 text; a naive time is refused, never guessed."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from error
    if moment.tzinfo is None:
        raise typer.BadParameter(
            "give a UTC offset (2026-11-24T09:00+00:00): a naive time is ambiguous",
            param_hint=option,
        )
    return moment.astimezone(UTC)


def moment_or_now(text: str | None, option: str = "--as-of") -> datetime:
    """The shell's single reading of the clock, unless the user gave the moment."""
    return datetime.now(UTC) if text is None else parse_moment(text, option)


def parse_day(text: str, option: str) -> date:
    """A calendar day from ``YYYY-MM-DD`` text (``--from``, ``--to``)."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from error


def migrated_engine(settings: Settings | None = None) -> Engine:
    """An engine on the configured database, migrated to the latest schema."""
    engine = engine_for((settings or get_settings()).url())
    upgrade(engine)
    return engine
