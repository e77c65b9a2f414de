"""The one settings class. Every variable is documented here and in `.env.example`.

Values come from the environment (prefix ``RAVAO_``), then from a ``.env`` file in the
working directory. A secret may instead be read from a file named by ``<NAME>_FILE``
(``RAVAO_QR_KEYS_FILE=/run/secrets/qr_keys``), the usual way of passing secrets to
containers.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "RAVAO_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``RAVAO_<NAME>_FILE`` for any field: the file's content, stripped, is the value."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise ValueError(f"{ENV_PREFIX}{field_name.upper()}_FILE={path}: cannot read it ({exc})") from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    # --- Kafka -----------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...). Unset: use the local broker "
        "started by `ravao kafka start` (and start none).",
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic name, to run several stacks on one cluster."
    )
    topic_partitions: int = Field(6, ge=1, description="Partitions of the scan and visit topics.")
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics.")
    kafka_heap: str = Field("512m", description="JVM heap of the local broker (-Xmx).")

    # --- storage ---------------------------------------------------------------------
    data_dir: Path = Field(
        Path("data"), description="Where the embedded stack keeps its state (broker, warehouse, keys)."
    )
    retention_days: int = Field(
        30, ge=1, description="Days scans and visits are kept, in Kafka and in the warehouse."
    )

    # --- QR codes --------------------------------------------------------------------
    qr_keys: str | None = Field(
        None,
        description="Active QR signing keys, 'KID=secret,KID=secret' (KID: two characters of "
        "the code alphabet). Unset: a key is generated once under RAVAO_DATA_DIR/secrets.",
    )
    qr_signing_key: str | None = Field(
        None, description="Key id that signs new codes; default: the last key in RAVAO_QR_KEYS."
    )
    public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Base URL of the gateway; venue posters encode <public_url>/s/<venue code>.",
    )

    # --- stream semantics ------------------------------------------------------------
    debounce_seconds: int = Field(
        60, ge=0, description="Same person, venue and direction within this window: a double scan."
    )
    accepted_lateness_hours: int = Field(
        48, ge=1, description="Scans older than this when they reach the worker are refused (too_late); "
        "a station may stay offline this long."
    )
    future_tolerance_minutes: int = Field(
        15, ge=0, description="Scans dated further ahead than this are refused (future_scan): a fast device clock."
    )

    # --- the worker --------------------------------------------------------------------
    worker_port: int = Field(
        6066, ge=0, le=65535,
        description="Web port of a worker (Prometheus /metrics); 0: no web server.",
    )
    tick_seconds: float = Field(
        30.0, gt=0, description="How often the wall clock closes visits left open past their maximum stay."
    )
    reject_guard_window: int = Field(
        2000, ge=1, description="Scans over which the reject-rate guard judges (see next)."
    )
    reject_guard_ratio: float = Field(
        0.5, gt=0, le=1,
        description="The worker stops if more than this share of the last window was rejected.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileSecretsSource(settings_cls), dotenv_settings)

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def retention_ms(self) -> int:
        return self.retention_days * 24 * 3600 * 1000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
