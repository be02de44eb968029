"""The clock table as versioned data: loading, validating and pinning a ruleset.

A ruleset file (``pathway/rulesets/<id>.v<version>.yaml``) holds every clock rule of
pathway-spec.md section 5. A pathway is pinned at referral to a :class:`PinnedRules`: the ruleset
id and version, the service time zone, and any local SLA overrides then in force, so that a new
ruleset version or a configuration change never rewrites the clocks of a pathway already open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pathway.errors import RulesetError
from pathway.events import Category, Finding, TreatmentModality

ClockKind = Literal["hour", "day"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Data):
    """An hour limit (elapsed UTC hours) or a day limit (calendar days in the service zone)."""

    hours: Annotated[float, Field(gt=0)] | None = None
    days: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Limit:
        if (self.hours is None) == (self.days is None):
            raise ValueError("a limit has exactly one of hours or days")
        return self

    @property
    def kind(self) -> ClockKind:
        return "hour" if self.hours is not None else "day"

    def describe(self) -> str:
        if self.hours is not None:
            value = f"{self.hours:g}"
            return f"{value} h"
        return f"{self.days} days"


class ClockStart(_Data):
    """Where a clock starts.

    ``category``: when the pathway enters ``category`` (referral, upgrade or override).
    ``referral``: at the referral, when ``cancer_status`` matches (the CWT clocks).
    ``event``: at the first ``event`` that matches the filters.
    """

    at: Literal["category", "referral", "event"]
    category: Category | None = None
    cancer_status: Literal["known", "suspected", "none"] | None = None
    event: Literal["imaging.reported", "mdt.decided"] | None = None
    finding: Finding | None = None
    plan_includes: Literal["radiotherapy", "surgery"] | None = None
    decision_to_treat: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ClockStart:
        if self.at == "category" and self.category is None:
            raise ValueError("a category start names its category")
        if self.at == "referral" and self.cancer_status is None:
            raise ValueError("a referral start names its cancer_status")
        if self.at == "event" and self.event is None:
            raise ValueError("an event start names its event")
        return self


class ClockStop(_Data):
    events: Annotated[tuple[str, ...], Field(min_length=1)]
    modality: TreatmentModality | None = None
    qualifying_imaging: bool = False
    excluded_by: tuple[str, ...] = ()


class ClockRule(_Data):
    id: Annotated[str, Field(pattern=r"^[A-Z0-9-]+$")]
    title: str
    applies_to: str
    start: ClockStart
    stop: ClockStop
    limit: Limit
    local: bool
    local_bounds_hours: tuple[float, float] | None = None
    national_wording: str | None = None
    target_percent: float | None = None
    sources: tuple[str, ...]

    @model_validator(mode="after")
    def _local_has_bounds(self) -> ClockRule:
        if self.local and self.local_bounds_hours is None:
            raise ValueError(f"{self.id}: a local SLA declares local_bounds_hours")
        return self

    @property
    def kind(self) -> ClockKind:
        return self.limit.kind


class EscalationMinutes(_Data):
    hour_clocks: Annotated[int, Field(gt=0)]
    day_clocks: Annotated[int, Field(gt=0)]


class Ruleset(_Data):
    id: str
    version: Annotated[int, Field(ge=1)]
    title: str
    warning_fractions: tuple[float, ...]
    escalation_minutes: EscalationMinutes
    clocks: tuple[ClockRule, ...]

    @model_validator(mode="after")
    def _valid_table(self) -> Ruleset:
        ids = [rule.id for rule in self.clocks]
        if len(ids) != len(set(ids)):
            raise ValueError("clock ids must be unique")
        fractions = self.warning_fractions
        if (
            not fractions
            or list(fractions) != sorted(fractions)
            or not all(0 < f < 1 for f in fractions)
        ):
            raise ValueError("warning_fractions: increasing fractions between 0 and 1")
        return self

    def rule(self, clock_id: str) -> ClockRule:
        for rule in self.clocks:
            if rule.id == clock_id:
                return rule
        raise RulesetError(f"unknown clock id {clock_id!r}")


DEFAULT_RULESET = ("nice-ng234-2023", 1)


def parse_ruleset(text: str) -> Ruleset:
    """Validate the YAML text of a ruleset file.

    Raises:
        RulesetError: not YAML, or not a valid clock table.
    """
    try:
        return Ruleset.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as err:
        raise RulesetError(f"invalid ruleset: {err}") from err


@lru_cache(maxsize=16)
def load_ruleset(ruleset_id: str, version: int) -> Ruleset:
    """Load a ruleset shipped in ``pathway/rulesets`` (package data, read-only).

    Raises:
        RulesetError: no such ruleset, or its file is invalid.
    """
    name = f"{ruleset_id}.v{version}.yaml"
    path = resources.files("pathway.rulesets").joinpath(name)
    if not path.is_file():
        raise RulesetError(f"no ruleset {ruleset_id} version {version}")
    ruleset = parse_ruleset(path.read_text(encoding="utf-8"))
    if (ruleset.id, ruleset.version) != (ruleset_id, version):
        raise RulesetError(f"{name} declares {ruleset.id} version {ruleset.version}")
    return ruleset


def available_rulesets() -> list[tuple[str, int]]:
    """Every (id, version) shipped with cordwatch."""
    found = []
    for entry in resources.files("pathway.rulesets").iterdir():
        name = entry.name
        if name.endswith(".yaml") and ".v" in name:
            stem, version = name.removesuffix(".yaml").rsplit(".v", 1)
            found.append((stem, int(version)))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class EffectiveClock:
    """A clock rule with the limit actually in force for one pathway."""

    rule: ClockRule
    limit: Limit
    overridden: bool

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def kind(self) -> ClockKind:
        return self.limit.kind

    @property
    def duration(self) -> timedelta:
        if self.limit.hours is None:
            raise RulesetError(f"{self.id} is a day clock")
        return timedelta(hours=self.limit.hours)


@dataclass(frozen=True, slots=True)
class PinnedRules:
    """The rules one pathway runs under, fixed at its referral."""

    ruleset: Ruleset
    timezone: str
    local_sla_hours: dict[str, float] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @property
    def label(self) -> str:
        return f"{self.ruleset.id}.v{self.ruleset.version}"

    def clocks(self) -> tuple[EffectiveClock, ...]:
        return _effective(self)

    def to_json(self) -> str:
        """What is stored on the pathway row: enough to rebuild these exact rules."""
        return json.dumps(
            {
                "ruleset": self.ruleset.id,
                "version": self.ruleset.version,
                "timezone": self.timezone,
                "local_sla_hours": self.local_sla_hours,
            },
            sort_keys=True,
        )

    def __hash__(self) -> int:
        return hash(self.to_json())


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=64)
def _effective(rules: PinnedRules) -> tuple[EffectiveClock, ...]:
    result = []
    for rule in rules.ruleset.clocks:
        hours = rules.local_sla_hours.get(rule.id)
        if hours is None:
            result.append(EffectiveClock(rule, rule.limit, overridden=False))
        else:
            result.append(EffectiveClock(rule, Limit(hours=hours), overridden=True))
    return tuple(result)


def pin_rules(
    ruleset: Ruleset, *, timezone: str, local_sla_hours: dict[str, float] | None = None
) -> PinnedRules:
    """Check a service's local SLA overrides against the ruleset and pin them.

    Args:
        ruleset: the ruleset a new pathway starts under.
        timezone: the service time zone for day clocks (IANA name, ``Europe/London``).
        local_sla_hours: clock id to limit in hours, for clocks the ruleset marks local.

    Raises:
        RulesetError: an unknown time zone, an unknown clock, a national limit, or a value
            outside the bounds the ruleset allows.
    """
    try:
        _zone(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise RulesetError(f"unknown time zone {timezone!r}") from err
    overrides = {clock_id: float(hours) for clock_id, hours in (local_sla_hours or {}).items()}
    for clock_id, hours in overrides.items():
        rule = ruleset.rule(clock_id)
        if not rule.local or rule.local_bounds_hours is None:
            raise RulesetError(f"{clock_id} is a national limit and cannot be overridden")
        low, high = rule.local_bounds_hours
        if not low <= hours <= high:
            raise RulesetError(f"{clock_id}: local SLA must be between {low:g} and {high:g} hours")
    return PinnedRules(ruleset=ruleset, timezone=timezone, local_sla_hours=overrides)


def rules_from_json(text: str) -> PinnedRules:
    """Rebuild the pinned rules stored on a pathway row."""
    stored = json.loads(text)
    return _rules_from_json_cached(text, stored["ruleset"], stored["version"])


@lru_cache(maxsize=256)
def _rules_from_json_cached(text: str, ruleset_id: str, version: int) -> PinnedRules:
    stored = json.loads(text)
    return pin_rules(
        load_ruleset(ruleset_id, version),
        timezone=stored["timezone"],
        local_sla_hours={k: float(v) for k, v in stored["local_sla_hours"].items()},
    )
