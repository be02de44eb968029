"""The tumour-board form an MDT listing owes, decided without I/O (pathway-spec.md section 3).

An accepted ``mdt.listed`` owes one form: a suspended ``board-decision`` run in which the board
records its decision. It is an outbox :class:`~pathway.outbox.Effect` like a letter, so the
intake queues it in the event's transaction whatever later processes the event (a
``handle-event`` run, the deadline watch's re-drive, the bulk ``ingest`` flow), and it is
keyed by the listing event, so a replay or a second delivery never opens a second form.
"""

from __future__ import annotations

from pathway.engine import PathwayView
from pathway.events import MdtListed, PathwayEvent
from pathway.outbox import Effect, IntakeMoment

BOARD_FORM = "board_form"
"""The outbox kind of a tumour-board form."""


def board_form_key(listed_event_id: str) -> str:
    """The outbox key of the form a listing owes: one per ``mdt.listed`` event."""
    return f"board-form:{listed_event_id}"


def board_form_effects(
    pathway_id: str,
    event: PathwayEvent,
    before: PathwayView | None,
    after: PathwayView,
    moment: IntakeMoment | None = None,
) -> list[Effect]:
    """The board form an accepted event owes (an effect rule of :mod:`pathway.effects`).

    Every listing owes its own form, a re-listing included: the board meets again and decides
    again. The payload names the pathway and the listing by their ids only; the form's summary
    is read from the database when it runs. A backfilled listing still owes its form: the
    form is a way to record the decision (not news sent to anyone), and a listing imported
    undecided is waiting for one.
    """
    if not isinstance(event, MdtListed):
        return []
    return [
        Effect(
            kind=BOARD_FORM,
            key=board_form_key(event.event_id),
            payload={"pathway_id": pathway_id, "listed_event_id": event.event_id},
        )
    ]


def board_form_moot(view: PathwayView, listed_event_id: str) -> str | None:
    """Why a listing's form is no longer wanted when it comes to be opened, or None.

    A form is for recording a decision still to come. A bulk intake or a back-dated feed
    queues the form of a listing whose pathway has since closed, or whose board decision is
    already recorded: opening it would put a form nobody should answer on the worklist (and a
    second decision in reach of a click).
    """
    if view.is_closed:
        return "the pathway is closed"
    listing = next((m for m in view.milestones if m.event_id == listed_event_id), None)
    if listing is None:
        return "the listing is no longer recorded"
    if any(m.type == "mdt.decided" and m.at >= listing.at for m in view.milestones):
        return "the board's decision is already recorded"
    return None
