"""Settings: parsed once, frozen, passed down.

Values come from three layers, later ones winning: ``config/default.toml``
(every setting, commented), the TOML file named by ``SCHEDULER_CONFIG`` or
``serve --config``, and ``SCHEDULER_<NAME>`` environment variables. A bad value
stops the start with one line naming the setting and where it came from. No
other module reads the environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler.exceptions import ConfigError

ENV_PREFIX = "SCHEDULER_"


class Settings(BaseModel):
    """Every setting of the service; see ``config/default.toml`` for what each means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(65536, ge=1024)
    public_base_url: str = ""
    http_header_timeout_seconds: float = Field(10, gt=0)
    http_max_line_size: int = Field(8190, ge=1024, le=65536)
    http_max_field_size: int = Field(8190, ge=1024, le=65536)
    http_max_headers: int = Field(100, ge=16, le=1000)
    metrics_token: str = ""

    data_dir: Path = Path("./data")
    database_url: str = ""
    database_pool_size: int = Field(10, ge=1, le=1000)

    api_tokens: tuple[str, ...] = ()

    default_reminders: tuple[int, ...] = (60, 15)
    idempotency_ttl_hours: int = Field(24, ge=1)
    page_size_default: int = Field(50, ge=1)
    page_size_max: int = Field(500, ge=1)
    import_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    import_horizon_days: int = Field(400, ge=1, le=3660)

    series_horizon_days: int = Field(400, ge=1, le=3650)
    series_max_occurrences: int = Field(1000, ge=1, le=100000)
    series_extend_seconds: float = Field(3600, gt=0)

    scheduler_horizon_seconds: float = Field(60, gt=0)
    scheduler_refill_seconds: float = Field(15, gt=0)
    dispatch_lookahead_seconds: float = Field(2, ge=0)
    claim_lease_seconds: float = Field(60, gt=0)
    trigger_grace_seconds: float = Field(900, ge=0)
    replica_id: str = ""
    #: TEST HOOK, deliberately not in config/default.toml: shifts this process's own
    #: clock so that tests can show replicas tolerate clock skew (on PostgreSQL the
    #: database's clock decides). Only SCHEDULER_DEBUG_CLOCK_OFFSET_SECONDS sets it.
    debug_clock_offset_seconds: float = 0

    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000)
    webhook_timeout_seconds: float = Field(10, gt=0)
    webhook_concurrency: int = Field(100, ge=1)
    webhook_disable_after_hours: float = Field(120, gt=0)
    webhook_secret_grace_hours: float = Field(24, ge=0)
    webhook_response_excerpt_bytes: int = Field(1024, ge=0, le=65536)
    allow_private_webhook_targets: bool = False

    calendar_name: str = "Live webstreams"
    calendar_description: str = "Scheduled live webstreams"
    calendar_timezone: str = "UTC"
    calendar_uid_domain: str = "broadcast-scheduler.local"
    feed_past_days: int = Field(30, ge=0)
    feed_cancelled_days: int = Field(30, ge=0)
    feed_max_events: int = Field(10000, ge=1)
    feed_refresh_minutes: int = Field(60, ge=1)
    feed_max_age_seconds: int = Field(60, ge=0)

    organizer_name: str = ""
    organizer_url: str = ""
    embed_frame_ancestors: str = "*"

    status_overdue_seconds: float = Field(60, gt=0)
    sse_heartbeat_seconds: float = Field(15, gt=0)
    sse_retry_ms: int = Field(2000, ge=100)
    sse_max_streams: int = Field(20000, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("api_tokens")
    @classmethod
    def _tokens_long_enough(cls, tokens: tuple[str, ...]) -> tuple[str, ...]:
        for token in tokens:
            if len(token) < 16:
                raise ValueError("each token must be at least 16 characters long")
        return tokens

    @field_validator("default_reminders")
    @classmethod
    def _reminders_valid(cls, minutes: tuple[int, ...]) -> tuple[int, ...]:
        if any(m < 0 or m > 40320 for m in minutes):
            raise ValueError("reminders are minutes before start, between 0 and 40320")
        return tuple(sorted(set(minutes), reverse=True))

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _retry_delays_valid(cls, delays: tuple[float, ...]) -> tuple[float, ...]:
        if any(d < 0 for d in delays):
            raise ValueError("retry delays are seconds and cannot be negative")
        return delays

    @field_validator("calendar_timezone")
    @classmethod
    def _zone_known(cls, zone: str) -> str:
        from scheduler.timezones import canonical_zone_name

        return canonical_zone_name(zone)

    @field_validator("embed_frame_ancestors")
    @classmethod
    def _frame_sources(cls, value: str) -> str:
        # the sources of one CSP directive: ";" or "," would begin another one
        sources = value.split()
        quoted = [s for s in sources if "'" in s]
        if (
            not sources
            or any(c in value for c in ';,"')
            or any(s not in ("'self'", "'none'") for s in quoted)
        ):
            raise ValueError(
                "must be CSP frame-ancestors sources separated by spaces, such as "
                "'https://press.example https://*.example.org', '*', or \"'none'\""
            )
        return " ".join(sources)

    @field_validator("organizer_url")
    @classmethod
    def _organizer_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url

    @property
    def effective_database_url(self) -> str:
        """The database to use: the configured URL, or a SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'scheduler.db').resolve()}"


def _default_file() -> Path:
    packaged = resources.files("scheduler").joinpath("default.toml")
    if packaged.is_file():
        return Path(str(packaged))
    # editable install / source checkout: the file lives at the top of the repo
    return Path(__file__).resolve().parent.parent / "config" / "default.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None


def _env_value(name: str, raw: str) -> Any:
    annotation = Settings.model_fields[name].annotation
    if annotation is not None and str(annotation).startswith("tuple"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def load_settings(
    env: Mapping[str, str],
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, a config file, ``env`` and explicit overrides.

    ``overrides`` come from command-line flags and win over everything.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    default_path = _default_file()
    layers: list[tuple[Path, dict[str, Any]]] = [(default_path, _read_toml(default_path))]
    file_name = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if file_name:
        layers.append((Path(file_name), _read_toml(Path(file_name))))
    for path, data in layers:
        for key, value in data.items():
            if key not in Settings.model_fields:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            values[key] = value
            sources[key] = str(path)

    if f"{ENV_PREFIX}API_TOKEN" in env:
        values["api_tokens"] = [env[f"{ENV_PREFIX}API_TOKEN"]]
        sources["api_tokens"] = f"{ENV_PREFIX}API_TOKEN"
    for name in Settings.model_fields:
        var = f"{ENV_PREFIX}{name.upper()}"
        if var in env:
            values[name] = _env_value(name, env[var])
            sources[name] = var
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = "the command line"

    try:
        return Settings(**values)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        source = sources.get(name, "defaults")
        raise ConfigError(f"invalid setting {name} (from {source}): {first['msg']}") from None
