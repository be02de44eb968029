"""Effects an accepted event causes (letters, board forms, safety alerts): every effect rule of
the core, in one tuple, asked in a fixed order.

What an effect is (:class:`~pathway.outbox.Effect`, :class:`~pathway.outbox.IntakeMoment`)
lives in :mod:`pathway.outbox`, below the rules, because each rule module builds effects; this
module sits above them and imports them directly, so adding a rule is one line here.
"""

from __future__ import annotations

from pathway.board import board_form_effects
from pathway.engine import PathwayView
from pathway.events import PathwayEvent
from pathway.letters import letter_effects
from pathway.outbox import Effect, EffectRule, IntakeMoment
from pathway.safety import safety_alerts

EFFECT_RULES: tuple[EffectRule, ...] = (letter_effects, board_form_effects, safety_alerts)
"""Every effect rule, in the order their effects are queued: letters, board form, safety alerts.

The order is the outbox rows' order for one event, so it stays fixed (an alert row and a
letter row of one event are delivered oldest first)."""


def effects_of_event(
    pathway_id: str,
    event: PathwayEvent,
    before: PathwayView | None,
    after: PathwayView,
    *,
    moment: IntakeMoment | None = None,
) -> list[Effect]:
    """Every effect an accepted event causes, from every rule of :data:`EFFECT_RULES`, in order.

    Args:
        moment: the intake's ``now`` and backfill flag; a backfilled event older than
            :data:`~pathway.outbox.BACKFILL_GRACE` owes no letter (each rule decides what
            history owes).
    """
    effects: list[Effect] = []
    for rule in EFFECT_RULES:
        effects.extend(rule(pathway_id, event, before, after, moment))
    return effects
