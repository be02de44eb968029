"""Effects an accepted event causes (letters, alerts, board forms), decided in the core and keyed by domain data.

The intake writes each :class:`Effect` as an outbox row in the same transaction as the event, so an
effect is never lost (a crash before delivery leaves it pending) and never doubled (the key is
unique: a replay or a retry finds it already there). Delivery happens later, in tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pathway.engine import PathwayView
from pathway.events import PathwayEvent


@dataclass(frozen=True, slots=True)
class Effect:
    """One external effect to deliver: ``payload`` holds ids and coded facts, never patient data."""

    kind: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)


EffectRule = Callable[[str, PathwayEvent, PathwayView | None, PathwayView], list[Effect]]
"""(internal pathway id, event, view before, view after) -> effects. Pure."""

EVENT_EFFECT_RULES: list[EffectRule] = []
"""Each feature (letters, board forms...) registers its rule here at import of its core module."""


FEATURE_RULE_MODULES = ("pathway.letters", "pathway.board")
"""Core modules that register effect rules when imported (absent modules are skipped)."""


_rules_loaded: list[bool] = []


def _load_rules() -> None:
    if _rules_loaded:
        return
    _rules_loaded.append(True)
    import importlib

    for module in FEATURE_RULE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


def effects_of_event(
    pathway_id: str, event: PathwayEvent, before: PathwayView | None, after: PathwayView
) -> list[Effect]:
    """Every effect an accepted event causes, from every registered rule, in a stable order."""
    _load_rules()
    effects: list[Effect] = []
    for rule in EVENT_EFFECT_RULES:
        effects.extend(rule(pathway_id, event, before, after))
    return effects
