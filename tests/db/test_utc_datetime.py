"""UTCDateTime: aware UTC in, aware UTC out, on SQLite and PostgreSQL, by the fast and slow paths."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from db.types import UTCDateTime

NOON_UTC = datetime(2026, 3, 29, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def moments(engine: Engine) -> Iterator[Table]:
    """A scratch table with one UTCDateTime column, dropped afterwards."""
    metadata = MetaData()
    table = Table(
        f"utc_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime(), nullable=True),
    )
    metadata.create_all(engine)
    yield table
    metadata.drop_all(engine)


def test_any_aware_time_comes_back_as_the_same_instant_in_utc(
    engine: Engine, moments: Table
) -> None:
    british_summer_time = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        conn.execute(
            insert(moments),
            [
                {"id": 1, "at": NOON_UTC},
                {"id": 2, "at": NOON_UTC.astimezone(british_summer_time)},
                {"id": 3, "at": NOON_UTC.replace(microsecond=0)},
                {"id": 4, "at": None},
            ],
        )

    with engine.connect() as conn:
        values = conn.execute(select(moments.c.at).order_by(moments.c.id)).scalars().all()

    assert values == [NOON_UTC, NOON_UTC, NOON_UTC.replace(microsecond=0), None]
    assert [v.tzinfo for v in values if v is not None] == [UTC, UTC, UTC]


def test_a_naive_time_is_refused(engine: Engine, moments: Table) -> None:
    with pytest.raises(StatementError, match="naive datetime refused"), engine.begin() as conn:
        conn.execute(insert(moments).values(id=1, at=datetime(2026, 3, 29, 12, 0)))  # noqa: DTZ001


def test_a_time_written_by_hand_with_an_offset_is_read_in_utc(
    engine: Engine, moments: Table
) -> None:
    # SQLite keeps the text as written (not UTCDateTime's naive UTC): the slow path reads it.
    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO {moments.name} (id, at) VALUES (1, '2026-03-29T13:00:00+01:00')")
        )

    with engine.connect() as conn:
        value = conn.execute(select(moments.c.at)).scalar_one()

    assert (value, value.tzinfo) == (NOON_UTC.replace(microsecond=0), UTC)


def test_a_session_in_another_time_zone_still_reads_utc(engine: Engine, moments: Table) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL sessions have a time zone")
    with engine.begin() as conn:
        conn.execute(insert(moments).values(id=1, at=NOON_UTC))

    with engine.connect() as conn:
        default_zone = conn.execute(text("SHOW TIME ZONE")).scalar_one()
        conn.execute(text("SET TIME ZONE 'Europe/London'"))
        value = conn.execute(select(moments.c.at)).scalar_one()

    assert default_zone == "UTC"
    assert (value, value.tzinfo) == (NOON_UTC, UTC)
