"""Helpers shared by every `cordwatch` command module: times from the command line, the engine."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from sqlalchemy import Engine

from cordwatch.settings import Settings, get_settings
from db.engine import make_engine
from db.migrate import upgrade


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
    engine = make_engine((settings or get_settings()).url())
    upgrade(engine)
    return engine
