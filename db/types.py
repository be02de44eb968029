"""A datetime column type that stores aware UTC instants on every backend (after Prefect's Timestamp)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Refuses naive datetimes and always returns aware UTC, even from SQLite.

    SQLite has no time zone type: values are stored as naive UTC text and given their UTC
    offset back when read. PostgreSQL uses ``timestamp with time zone``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: every stored time is aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        """One C-level parse per value instead of SQLAlchemy's parse, a Python call and a copy.

        Reports read a million and more of these: SQLite's stored text (naive UTC, as
        written by :meth:`process_bind_param`) is parsed with its offset appended, which
        gives the aware value at once; an aware UTC value from PostgreSQL is returned as is.
        Anything else (text with its own offset, another time zone) takes the general path,
        :meth:`process_result_value`, so the values are exactly those it would return.
        """
        general = self.process_result_value
        parse = datetime.fromisoformat

        def from_text(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                moment = parse(value + "+00:00")
            except (TypeError, ValueError):
                return general(value, dialect)
            return moment

        def from_aware(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, datetime) and value.tzinfo is UTC:
                return value
            return general(value, dialect)

        return from_text if dialect.name == "sqlite" else from_aware
