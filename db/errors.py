"""Exceptions raised by the database layer when a lookup names nothing stored.

* NotStored                (also a LookupError)
  x UnknownPathway         (no pathway has that reference or internal id)
  x UnknownAlert           (no alert has that ``AL-`` id)
  x UnknownEvent           (no accepted event has that id in the inbox)

They live in ``db/`` because the lookup that fails is a database read; the services, tasks and
the command line above catch them by these names. Messages name the key the caller gave (a
reference or an opaque id), never patient data.
"""

from __future__ import annotations


class NotStored(LookupError):
    """Root of every "no such row" error the database layer raises."""


class UnknownPathway(NotStored):
    """No pathway has that reference or internal id."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no pathway with reference or id {key!r}")
        self.key = key


class UnknownAlert(NotStored):
    """No alert has that id."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert with id {alert_id!r}")
        self.alert_id = alert_id


class UnknownEvent(NotStored):
    """The flow was asked to handle an event id that is not in the inbox."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no accepted event with id {event_id!r}")
        self.event_id = event_id
