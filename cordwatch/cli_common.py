"""Helpers shared by every `cordwatch` command module: times from the command line, the engine."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

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


def migrated_engine(settings: Settings | None = None) -> Engine:
    """An engine on the configured database, migrated to the latest schema."""
    engine = engine_for((settings or get_settings()).url())
    upgrade(engine)
    return engine
