"""Settings: environment variables with the ``AIF_`` prefix, optionally a TOML file.

Built explicitly (``load_settings``) and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aifactory.domain.access import AccessMode
from aifactory.domain.data import DEFAULT_CHUNK_BYTES

DEV_SECRET = "aifactory-development-secret-change-me"


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIF_", extra="forbid")

    mode: Mode = Mode.DEVELOPMENT
    config_file: Path | None = Field(default=None, description="TOML file read after env.")
    data_dir: Path = Field(default=Path("data"), description="Database, job work dirs, tokens.")
    database_url: str = Field(default="", description="Empty: SQLite file in data_dir.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    catalog: Path | None = Field(default=None, description="Federation catalog YAML.")
    local_slots: int = Field(default=4, ge=1, le=1024, description="Accelerator slots here.")
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    kill_grace_s: float = Field(default=10.0, gt=0)
    loop_interval_s: float = Field(default=0.5, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    run_loops: bool = Field(default=True, description="Run dispatch and executor loops.")
    db_pool_size: int = Field(default=20, ge=1)
    default_calls: bool = Field(
        default=True, description="On first start, open one call of each mode on this machine."
    )
    deadline_interval_s: float = Field(
        default=60.0, gt=0, description="How often the deadlines loop runs."
    )
    smtp_host: str = Field(default="", description="Empty: mail stays in the outbox.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = Field(default="aifactory@localhost", description="From address.")
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    slurm_sites: Path | None = Field(
        default=None, description="Site connection YAML: which sites run real Slurm, and how."
    )
    slurm_sync_interval_s: float = Field(
        default=5.0, gt=0, description="How often the Slurm loop asks each cluster."
    )
    slurm_reconcile_interval_s: float = Field(
        default=300.0, gt=0, description="How often Slurm accounts and limits are reconciled."
    )
    slurm_window: int = Field(
        default=16,
        ge=1,
        le=100_000,
        description="Jobs handed to each Slurm partition and not yet running, at most.",
    )
    preemption: list[str] = Field(
        default_factory=list,
        description=(
            "Partitions (site/partition) where a higher-priority job may preempt Playground "
            "jobs that allow it. Empty: preemption is off."
        ),
    )
    fairshare_half_life_s: float = Field(
        default=7 * 86400.0, gt=0, description="Half-life of past usage in fair share."
    )
    public_url: str = Field(
        default="",
        max_length=500,
        description="The address users reach the platform at, for links in mail; default: http://host:port.",
    )
    signup: bool = Field(default=True, description="Anyone may sign up (e-mail verified).")
    signups_per_hour: int = Field(default=5, ge=1, description="Sign-ups per client address.")
    logins_per_5min: int = Field(
        default=10, ge=1, description="Log-in attempts per client address and per e-mail."
    )
    session_idle_minutes: int = Field(
        default=60, ge=1, le=10_080, description="A portal session ends after this long unused."
    )
    session_hours: int = Field(
        default=12, ge=1, le=720, description="A portal session ends this long after log-in."
    )
    oidc_issuer: str = Field(
        default="",
        max_length=500,
        description="OpenID Connect provider (its issuer URL) for log-in; empty: OIDC is off.",
    )
    oidc_client_id: str = Field(default="", max_length=500)
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_name: str = Field(
        default="single sign-on",
        max_length=60,
        description="The provider's name on the log-in button, e.g. MyAccessID.",
    )
    oidc_scopes: str = Field(default="openid email profile", max_length=500)
    data_stores: Path | None = Field(
        default=None,
        description=(
            "Object stores per site YAML (local directories or S3-compatible); a site not in "
            "it keeps dataset bytes under data_dir/storage/<site>."
        ),
    )
    data_chunk_bytes: int = Field(
        default=DEFAULT_CHUNK_BYTES,
        ge=64 * 1024,
        le=64 * 1024 * 1024,
        description="Plaintext bytes per uploaded chunk (S3 needs 5 MiB or more).",
    )
    master_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Master keys wrapping the datasets' data keys, 'id:base64' (32 bytes), comma- or "
            "line-separated, the first current. Empty: read master_key_file."
        ),
    )
    master_key_file: Path | None = Field(
        default=None,
        description="The master keys file; default data_dir/master-keys (made in development).",
    )
    # The AI Act's figures (compliance.compute.Rules): configuration, since the rules change.
    compliance_gpai_flop: float = Field(
        default=1e23, gt=0, description="Indicative GPAI criterion: training compute, FLOP."
    )
    compliance_systemic_flop: float = Field(
        default=1e25, gt=0, description="Systemic-risk presumption, Art. 51(2): FLOP."
    )
    compliance_notify_days: int = Field(
        default=14, ge=1, le=365, description="Art. 52(1): days to notify a crossing."
    )
    compliance_default_utilisation: float = Field(
        default=0.4, gt=0, le=1, description="Share of peak FLOP/s a job without a measure ran at."
    )
    compliance_modification_fraction: float = Field(
        default=1 / 3,
        gt=0,
        le=1,
        description="A modifier becomes a provider above this share of the base's compute.",
    )
    qos_weights: dict[AccessMode, float] = Field(
        default_factory=dict,
        description=(
            "Per access mode, its QoS factor in [0, 1] (default: large_scale and "
            "ai_for_science 1, fast_lane 0.5, playground 0)."
        ),
    )

    @field_validator("preemption")
    @classmethod
    def _partition_keys(cls, value: list[str]) -> list[str]:
        for item in value:
            site, _, part = item.partition("/")
            if not site or not part or "/" in part:
                raise ValueError(f"{item!r} is not site/partition (e.g. local/local)")
        return value

    @field_validator("qos_weights")
    @classmethod
    def _qos_range(cls, value: dict[AccessMode, float]) -> dict[AccessMode, float]:
        for mode, weight in value.items():
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"{mode.value}: {weight} is outside [0, 1]")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        host = urlsplit(value).hostname or ""
        loopback = host == "localhost" or host.startswith("127.") or host == "::1"
        # Discovery and the token exchange carry the client secret: TLS, but on loopback.
        if not (value.startswith("https://") or (value.startswith("http://") and loopback)):
            raise ValueError(f"{value!r} is not an https:// URL (http:// only on loopback)")
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("the scopes must include openid")
        return " ".join(value.split())

    @model_validator(mode="after")
    def _oidc_client(self) -> Settings:
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("oidc_client_id: required when AIF_OIDC_ISSUER is set")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.mode is Mode.PRODUCTION and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "secret_key: the development default is refused in production mode; "
                "set AIF_SECRET_KEY to a long random value"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'aifactory.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("AIF_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Environment, then the TOML file named by ``AIF_CONFIG_FILE``; keyword overrides win."""
    return Settings(**overrides)
