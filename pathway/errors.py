"""Exceptions raised by the pathway core.

* PathwayError
  x EventRejected          (an event fails validation or its prerequisites; names the field)
  x RulesetError           (a ruleset file or a local SLA override is invalid; also a ValueError)
  x LetterNotApplicable    (a letter asked of a pathway with no fact it is about; also a ValueError)

Messages never contain patient data: they name a field and a reason, never a value.
"""

from __future__ import annotations


class PathwayError(Exception):
    """Root of every error the pathway core raises."""


class EventRejected(PathwayError, ValueError):
    """An event that cordwatch refuses; nothing of it may be written.

    Attributes:
        field: dotted path of the offending field (``data.patient.nhs_number``), or
            ``event`` when the event as a whole is refused.
        reason: why, in words a coordinator can act on.
        event_id: the refused event's id, when it had a well-formed one (else None).
    """

    def __init__(self, field: str, reason: str, *, event_id: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.event_id = event_id


class RulesetError(PathwayError, ValueError):
    """A ruleset or a local SLA override that cannot be used."""


class LetterNotApplicable(PathwayError, ValueError):
    """The pathway has no fact this letter is about (no such event, no such breached clock).

    Attributes:
        field: what to change (``--pathway``, ``--clock``, ``NAME``), or the letter's field.
        reason: why, in words a coordinator can act on.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class FormAnswerRefused(PathwayError, ValueError):
    """A Prefect form's answer cannot be recorded as it is: the field and why (ids and codes
    only, never patient data), shown to the coordinator as the run's failure."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
