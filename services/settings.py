"""Service settings, read from ``CORDWATCH_*`` environment variables (never at import time)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pathway.errors import RulesetError
from pathway.ruleset import DEFAULT_RULESET, PinnedRules, load_ruleset, pin_rules

DEFAULT_DATABASE_URL = "sqlite:///cordwatch-data/cordwatch.db"


class Settings(BaseSettings):
    """Every setting of a cordwatch service. The README's configuration table lists them all."""

    model_config = SettingsConfigDict(env_prefix="CORDWATCH_", extra="forbid")

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL of the pathway database: a SQLite file (default, under "
        "the working directory) or postgresql://user@host/db.",
    )
    timezone: str = Field(
        default="Europe/London",
        description="Service time zone: day clocks count calendar days here (IANA name).",
    )
    ruleset: str = Field(
        default=DEFAULT_RULESET[0], description="Ruleset id new pathways are pinned to."
    )
    ruleset_version: int = Field(
        default=DEFAULT_RULESET[1], ge=1, description="Ruleset version new pathways are pinned to."
    )
    local_slas: dict[str, float] = Field(
        default_factory=dict,
        description='Local SLA overrides in hours, as JSON: {"COORD-MSCC": 0.5}. Only clocks '
        "the ruleset marks local, within its bounds.",
    )
    intake_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Events applied per database transaction by `cordwatch ingest` (each "
        "event stays all-or-nothing).",
    )

    report_dir: str = Field(
        default="cordwatch-data/reports",
        description="Folder where the `performance-report` flow writes its HTML reports "
        "(linked from its Prefect artifact).",
    )

    alert_config_path: str = Field(
        default="cordwatch-data/apprise.yml",
        min_length=1,
        description="Apprise YAML configuration file: URLs tagged coordinator, "
        "oncall-consultant, service-lead, ops and fallback (never logged: URLs hold secrets).",
    )
    alert_delivery_attempts: int = Field(
        default=3,
        ge=1,
        le=50,
        description="Delivery attempts (one per watch, with backoff) before an alert goes to "
        "the `fallback` tag and shows as undelivered.",
    )
    alert_timeout_seconds: float = Field(
        default=10.0,
        ge=1,
        le=300,
        description="Longest wait for one service to take an alert (connect and answer), in "
        "seconds; a slower service counts as failed for this watch and is tried at the next.",
    )
    alert_retry_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=600,
        description="First backoff between delivery attempts of a failing alert (one per "
        "watch); doubles with each attempt.",
    )
    alert_concurrency: int = Field(
        default=64,
        ge=1,
        le=256,
        description="Alerts sent at once by the deadline watch (each to all its services at "
        "once): a pass with more alerts owed takes one more timeout per extra batch.",
    )
    escalation_minutes_hour_clocks: int | None = Field(
        default=None,
        ge=1,
        le=10_080,
        description="Escalation interval of unacknowledged breaches of hour clocks, in minutes. "
        "Default: the ruleset's (30).",
    )
    escalation_minutes_day_clocks: int | None = Field(
        default=None,
        ge=1,
        le=43_200,
        description="Escalation interval of unacknowledged breaches of day clocks, in minutes. "
        "Default: the ruleset's (1440, one day).",
    )
    watch_interval_seconds: int = Field(
        default=60,
        ge=10,
        le=3_600,
        description="Interval of the scheduled deadline watch and the heartbeat check; the "
        "heartbeat alerts `ops` after 3 intervals without a completed sweep.",
    )
    prefect_ui_url: str = Field(
        default="http://127.0.0.1:4200",
        pattern=r"^https?://",
        description="Base URL of the Prefect UI, for the pathway link in alerts.",
    )

    letters_dir: str = Field(
        default="cordwatch-data/letters",
        min_length=1,
        description="Folder letters are written to (one subfolder per pathway: HTML, PDF, text).",
    )
    letter_service_name: str = Field(
        default="Metastatic Spinal Cord Compression (MSCC) Service",
        min_length=1,
        description="Letterhead: the service that sends the letters.",
    )
    letter_organisation: str = Field(
        default="Example Hospitals NHS Foundation Trust",
        min_length=1,
        description="Letterhead: the organisation (trust) the service belongs to.",
    )
    letter_address: str = Field(
        default="Example General Hospital, Example Road, Exampletown, EX1 1AA",
        min_length=1,
        description="Letterhead: the postal address, lines separated by commas.",
    )
    letter_phone: str = Field(
        default="01632 960000",
        min_length=1,
        description="Letterhead: the service's telephone number (office hours).",
    )
    letter_hotline: str = Field(
        default="01632 960111",
        min_length=1,
        description="The MSCC coordinator hotline (24 hours), printed in every letter and the "
        "patient's safety-netting advice.",
    )
    letter_email: str | None = Field(
        default=None, description="Letterhead: the service's e-mail address (optional)."
    )
    letter_logo_path: str | None = Field(
        default=None,
        description="Letterhead: a logo image (PNG or SVG) printed top right (optional).",
    )
    letter_render_processes: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Worker processes that render PDF letters when many are owed at once "
        "(default: one per CPU).",
    )
    letter_delivery_attempts: int = Field(
        default=3,
        ge=1,
        le=50,
        description="Attempts (one per watch or event run) to produce and deliver a letter "
        "before it shows as undelivered.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

    def url(self) -> str:
        """The database URL. Building it touches nothing: the engine that opens a SQLite file
        creates its folder (``db.engine.make_engine``)."""
        return self.database_url.get_secret_value()

    def pinned_rules(self) -> PinnedRules:
        """The rules a pathway opened now is pinned to.

        Raises:
            RulesetError: an unknown ruleset or an override it does not allow.
        """
        return pin_rules(
            load_ruleset(self.ruleset, self.ruleset_version),
            timezone=self.timezone,
            local_sla_hours=self.local_slas,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (tests build ``Settings(...)`` or clear this cache)."""
    return Settings()


__all__ = ["DEFAULT_DATABASE_URL", "RulesetError", "Settings", "get_settings"]
