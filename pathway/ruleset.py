"""The clock table as versioned data: loading, validating and pinning a ruleset.

A ruleset file (``pathway/rulesets/<id>.v<version>.yaml``) holds every clock rule of
pathway-spec.md section 5. A pathway is pinned at referral to a :class:`PinnedRules`: the ruleset
id and version, the service time zone, and any local SLA overrides then in force, so that a new
ruleset version or a configuration change never rewrites the clocks of a pathway already open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pathway.errors import RulesetError
from pathway.events import (
    VERSIONED_FIELDS,
    VERSIONED_TYPES,
    Advice,
    Board,
    Category,
    Finding,
    Histology,
    Plan,
    Service,
    TreatmentModality,
)

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
    event: (
        Literal["imaging.reported", "mdt.decided", "specialist.referred", "treatment.started"]
        | None
    ) = None
    finding: Finding | None = None
    plan_includes: Literal["radiotherapy", "surgery"] | None = None
    decision_to_treat: bool | None = None
    plan: Plan | None = None
    """``mdt.decided``: the plan exactly (version 2's RT-24H: ``radiotherapy`` only)."""
    requires_compression: bool = False
    """``mdt.decided``: only once a report has shown cord compression (version 2's RT-24H)."""
    compression: bool | None = None
    """``imaging.reported``: the report shows compression (``mscc`` or ``cord_compression``)."""
    suspects: Literal["bone_sarcoma", "haematological"] | None = None
    """``imaging.reported``: the report suspects it; ``specialist.referred``: a report did."""
    sins_at_least: Annotated[int, Field(ge=0, le=18)] | None = None
    service: Service | None = None
    modality: TreatmentModality | None = None
    decided_plan: Plan | None = None
    """``treatment.started``: the latest decision to treat had this plan (POSTOP-RT)."""
    also_on: tuple[Literal["cwt.upgraded"], ...] = ()
    """Further events that start the clock at their own time (CWT-62 on a consultant upgrade)."""
    runs_in_review: bool = False
    """Also on a ``needs_review`` pathway: a lesion on imaging is reason enough (section 9.2)."""
    even_after_stop: bool = False
    """Starts at its event even when a stopping event came earlier (SPINE-OPINION)."""
    backdated_on_metastases_report: bool = False
    """Also on suspected MSCC, created by a report of metastases without compression and
    back-dated to the moment the category was entered (version 2's PLAN-METS)."""

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
    service: Service | None = None
    """``specialist.*`` stop events count only for this service."""
    boards: tuple[Board, ...] = ()
    """``mdt.decided`` stops only when the latest ``mdt.listed`` board is one of these."""
    excluded_by_advice: tuple[Advice, ...] = ()
    """A ``specialist.reviewed`` with this advice, from any service, excludes the clock."""
    plan_changed: bool = False
    """A later ``mdt.decided`` that would not start the clock stops it (``plan_changed``)."""


class UrgentLimit(_Data):
    """A shorter limit when the starting report says so (SPINE-OPINION)."""

    limit: Limit
    sins_at_least: Annotated[int, Field(ge=0, le=18)] | None = None
    neurological: bool = False
    """Also when the pathway has any neurological feature."""


class ClockRule(_Data):
    id: Annotated[str, Field(pattern=r"^[A-Z0-9-]+$")]
    title: str
    applies_to: str
    start: ClockStart
    stop: ClockStop
    limit: Limit
    urgent: UrgentLimit | None = None
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


FIRST_FINDINGS = (Finding.MSCC, Finding.SPINAL_METASTASES, Finding.NO_SPINAL_METASTASES)
"""The findings of ruleset version 1, for a ruleset file that lists none."""


class OutcomeWindow(_Data):
    """An outcome timepoint counted from treatment (or, untreated, the compression report)."""

    days: Annotated[int, Field(gt=0)]
    tolerance_days: Annotated[int, Field(ge=0)]

    def holds(self, anchor: datetime, recorded: datetime, zone: ZoneInfo) -> bool:
        """Whether an outcome recorded at ``recorded`` falls in this window from ``anchor``.

        Calendar days in the pathway's time zone (section 9.1). One function for the engine,
        which flags an outcome out of window, and the report, which leaves it out of K10.
        """
        days = (recorded.astimezone(zone).date() - anchor.astimezone(zone).date()).days
        return abs(days - self.days) <= self.tolerance_days


class Ruleset(_Data):
    """A clock table and the capabilities of its version.

    Every capability defaults to version 1's behaviour, so a version-1 file never names them:
    the findings accepted, the event types and optional fields accepted, what a closed
    pathway still accepts, how outcomes are validated and the BIOPSY-GUARD mode.
    """

    id: str
    version: Annotated[int, Field(ge=1)]
    title: str
    warning_fractions: tuple[float, ...]
    escalation_minutes: EscalationMinutes
    clocks: tuple[ClockRule, ...]
    findings: tuple[Finding, ...] = FIRST_FINDINGS
    ruled_out_finding: Finding = Finding.NO_SPINAL_METASTASES
    """The finding that closes the pathway as ``ruled_out``."""
    lesion_review: bool = False
    """Section 9.1: no ``ruled_out`` after a lesion finding, nor while one is under review."""
    cord_compression_required_for: tuple[Finding, ...] = ()
    bone_sarcoma_histologies: tuple[Histology, ...] = ()
    event_types: tuple[str, ...] = ()
    """Types of :data:`~pathway.events.VERSIONED_TYPES` this version accepts."""
    event_fields: tuple[str, ...] = ()
    """``type.field`` of :data:`~pathway.events.VERSIONED_FIELDS` this version accepts."""
    accepted_after_closing: tuple[str, ...] = ("outcome.recorded", "alert.acknowledged")
    outcome_timepoints: tuple[str, ...] = ()
    """The ``outcome.recorded.at`` codes; none: free text, unchecked (version 1)."""
    outcome_windows: dict[str, OutcomeWindow] = Field(default_factory=dict)
    biopsy_guard: Literal["off", "alert", "reject"] = "off"

    def suspects_bone_sarcoma(self, finding: str, histology: str | None) -> bool:
        """Whether a report suspects a primary bone tumour (SARC-REFER's filter, section 9.2).

        ``suspected_primary_bone_tumour``, or ``indeterminate_lesion`` with a bone-sarcoma
        ``suspected_histology`` of this version; read by the engine and by K-SARC-1.
        """
        if finding == Finding.SUSPECTED_PRIMARY_BONE_TUMOUR.value:
            return True
        return finding == Finding.INDETERMINATE_LESION.value and histology in {
            h.value for h in self.bone_sarcoma_histologies
        }

    @model_validator(mode="after")
    def _valid_table(self) -> Ruleset:
        ids = [rule.id for rule in self.clocks]
        if len(ids) != len(set(ids)):
            raise ValueError("clock ids must be unique")
        if self.ruled_out_finding not in self.findings:
            raise ValueError("ruled_out_finding: one of the ruleset's findings")
        if not set(self.event_types) <= VERSIONED_TYPES:
            raise ValueError("event_types: only types that a ruleset may add")
        known_fields = {f"{t}.{f}" for t, names in VERSIONED_FIELDS.items() for f in names}
        if not set(self.event_fields) <= known_fields:
            raise ValueError("event_fields: only optional fields that a ruleset may add")
        if not set(self.outcome_windows) <= set(self.outcome_timepoints):
            raise ValueError("outcome_windows: only for listed outcome_timepoints")
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


DEFAULT_RULESET = ("nice-ng234-2023", 2)


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
        elif rule.limit.days is not None:
            # A local day clock stays a day clock (pin_rules checks whole days).
            result.append(EffectiveClock(rule, Limit(days=int(hours // 24)), overridden=True))
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
        if rule.limit.days is not None and hours % 24:
            raise RulesetError(
                f"{clock_id} is a day clock: its local SLA is whole days, in hours (336 = 14 days)"
            )
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


def repin(rules: PinnedRules, ruleset: Ruleset) -> tuple[PinnedRules, dict[str, str]]:
    """The rules of a pathway moved to another ruleset version (pathway-spec.md 9.6).

    The pathway keeps its time zone, and each of its local SLA values that the new version
    allows: a clock the version still has, still marks local, and whose bounds (and whole days,
    for a day clock) the value fits. The others fall back to the version's own limits.

    Args:
        rules: the rules the pathway is pinned to now.
        ruleset: the candidate ruleset version.

    Returns:
        The new pinned rules, and the local SLA values left behind (clock id to the reason).
    """
    kept: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for clock_id, hours in sorted(rules.local_sla_hours.items()):
        try:
            pin_rules(ruleset, timezone=rules.timezone, local_sla_hours={clock_id: hours})
        except RulesetError as err:
            dropped[clock_id] = str(err)
            continue
        kept[clock_id] = hours
    return pin_rules(ruleset, timezone=rules.timezone, local_sla_hours=kept), dropped
