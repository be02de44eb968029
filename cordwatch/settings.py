"""Service settings, read from ``CORDWATCH_*`` environment variables (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
        """The database URL, creating the folder of a SQLite file on first use."""
        url = self.database_url.get_secret_value()
        if url.startswith("sqlite:///") and url not in {"sqlite:///:memory:"}:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return url

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
