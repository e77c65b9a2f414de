"""The one settings class. Every variable is documented here (the alerting job's and its
notifications' in `settings_alerting`, which `Settings` builds on) and in `.env.example`.

Values come from the environment (prefix ``RAVAO_``), then from a ``.env`` file in the
working directory. A secret may instead be read from a file named by ``<NAME>_FILE``
(``RAVAO_QR_KEYS_FILE=/run/secrets/qr_keys``), the usual way of passing secrets to
containers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .settings_alerting import AlertingSettings
from .settings_sources import ENV_PREFIX, FileSecretsSource

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(AlertingSettings):
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
        48, ge=1, description="Scans older than this when they reached Kafka are refused (too_late); "
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
    worker_envelopes: bool = Field(
        True, description="The worker sends its own output (valid scans, visits, scans to repartition) in "
        "envelopes, many records of a partition per message; off: one record per message, for readers that "
        "do not unpack envelopes."
    )
    tick_seconds: float = Field(
        30.0, gt=0, description="How often the wall clock closes visits left open past their maximum stay."
    )
    reject_guard_sources: int = Field(
        10, ge=1, description="Sources (devices, or venues for self check-ins) over which the reject guard "
        "judges: the last this many heard from (see next)."
    )
    reject_guard_ratio: float = Field(
        0.5, gt=0, le=1,
        description="The worker stops if more than this share of those sources had every recent scan refused "
        "under every key (bad_signature, expired_key) or by an empty registry; other refusals never count.",
    )
    reject_guard_quiet: int = Field(
        500, ge=1, description="...and only once this many such refusals came in a row with no scan accepted "
        "in between (forged scans amid real traffic do not get there)."
    )

    # --- warehouse ----------------------------------------------------------------------
    clickhouse_url: str | None = Field(
        None,
        description="ClickHouse server for clickhouse-connect, http(s)://user:password@host:8123/database. "
        "Unset: the embedded chdb engine on RAVAO_DATA_DIR/warehouse (opened by one process: the sink).",
    )
    sink_batch_rows: int = Field(
        50_000, ge=1, description="The sink inserts when this many messages are waiting (or see next)."
    )
    sink_batch_seconds: float = Field(
        1.0, gt=0, description="The sink inserts at least this often while messages are waiting."
    )
    sink_retry_max_seconds: float = Field(
        30.0, gt=0, description="Longest wait between the sink's retries while the warehouse is down."
    )
    sink_port: int = Field(
        8124, ge=0, le=65535,
        description="Port on 127.0.0.1 where the embedded sink answers ClickHouse's HTTP interface, read-only, "
        "for `ravao sql`, `ravao trace` and the services; 0: any free port (written to RAVAO_DATA_DIR/sink.json).",
    )
    query_timeout_seconds: float = Field(
        300.0, gt=0, description="Longest a read through the warehouse's door (`ravao sql`, `ravao trace`, the "
        "sink's endpoint) may run before the engine stops it.",
    )
    query_max_result_rows: int = Field(
        1_000_000, ge=1, description="Most rows a read through the door may return (more: an error, not a cut).",
    )
    query_max_result_bytes: int = Field(
        256 * 1024 * 1024, ge=1, description="Most bytes a read through the door may return (more: an error).",
    )
    query_max_memory_bytes: int = Field(
        2 * 1024 ** 3, ge=1, description="Most memory a read through the door may use (more: an error), so "
        "that an analyst's query cannot take the memory of the process that writes.",
    )

    # --- the gateway (HTTP API and web scanner pages) -----------------------------------
    gateway_host: str = Field(
        "127.0.0.1", description="Address `ravao gateway` listens on (0.0.0.0: every interface)."
    )
    gateway_port: int = Field(
        8080, ge=0, le=65535, description="Port `ravao gateway` listens on (RAVAO_PUBLIC_URL should reach it)."
    )
    gateway_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body the gateway reads; larger ones get 413."
    )
    gateway_device_rate: float = Field(
        50.0, gt=0, description="Scans per second a device may send on average (token bucket; 429 above it)."
    )
    gateway_device_burst: int = Field(
        1000, ge=1, description="Scans a device may send at once before its rate applies (a station catching up)."
    )
    gateway_self_rate: float = Field(
        0.1, gt=0, description="Self check-ins per second per person on average (token bucket; 429 above it)."
    )
    gateway_self_burst: int = Field(
        5, ge=1, description="Self check-ins a person may make at once before that rate applies."
    )
    gateway_ack_timeout_seconds: float = Field(
        10.0, gt=0, description="How long the gateway waits for Kafka to acknowledge scans before it answers "
        "503 (retry with the same event ids)."
    )
    gateway_self_clock_skew_seconds: int = Field(
        300, ge=1, description="A self check-in sent (its signed sent_at) further than this from its arrival (either "
        "way) is refused (too_late, future_scan): the phone's clock is wrong, or the request is replayed."
    )
    gateway_client_rate: float = Field(
        1.0, gt=0, description="Self check-ins per second one client address may send on average, forged or not "
        "(token bucket; 429 above it)."
    )
    gateway_client_burst: int = Field(
        30, ge=1, description="Self check-ins one client address may send at once before that rate applies."
    )
    gateway_enrol_rate: float = Field(
        0.2, gt=0, description="Phone-enrolment requests (codes asked for, codes tried) per second one client address "
        "may send on average (429 above)."
    )
    gateway_enrol_burst: int = Field(
        10, ge=1, description="Phone-enrolment requests one client address may send at once before that rate applies."
    )
    gateway_auth_failure_rate: float = Field(
        0.2, gt=0, description="Failed device log-ins per second one client address may make on average (429 above)."
    )
    gateway_auth_failure_burst: int = Field(
        20, ge=1, description="Failed device log-ins one client address may make at once before that rate applies."
    )
    gateway_trusted_proxies: str = Field(
        "127.0.0.1", description="Addresses of the TLS proxy in front of the gateway (comma-separated, or *) whose "
        "X-Forwarded-For names the client; the per-address limits use it."
    )
    gateway_body_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest time to receive one request body, once the request was admitted; a slower "
        "upload gets 408 and is closed."
    )
    gateway_head_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest time to receive a request's head (request line and headers); a slower "
        "client, or one that sends nothing, is disconnected."
    )
    gateway_max_connections: int = Field(
        1000, ge=1, description="Open connections the gateway serves at once; beyond it new requests get 503."
    )
    gateway_workers: int = Field(
        1, ge=1, description="Processes `ravao gateway` serves on (uvicorn workers, one port). Each keeps its own "
        "sign-in and enrolment codes, guard sessions and rate limits in memory: see the README before raising it."
    )
    gateway_envelopes: bool = Field(
        True, description="Publish the scans of one partition as one message (an envelope, schemas/envelopes.py); "
        "false: one message per scan, for workers that read no envelopes."
    )
    gateway_flush_ms: float = Field(
        2.0, ge=0, le=1000, description="How long the first scan of a partition waits for others from concurrent "
        "requests to go in the same envelope (ms); 0: each request's scans go alone."
    )

    # --- the web (ravao web: the read API and the dashboards) --------------------------------
    web_host: str = Field("127.0.0.1", description="Address `ravao web` listens on (0.0.0.0: every interface).")
    web_port: int = Field(8090, ge=0, le=65535, description="Port `ravao web` listens on.")

    # --- Prometheus metrics (pipeline/prometheus.py) ---------------------------------------
    metrics_from: str = Field(
        "127.0.0.1,::1", description="Addresses or networks (comma-separated; *: anyone) that may read /metrics on "
        "the gateway and the web; others get 404. The client is the TLS proxy's X-Forwarded-For one when the proxy "
        "is trusted (RAVAO_GATEWAY_TRUSTED_PROXIES), so the internet through the proxy is not let in."
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the sink's and the alerting job's metrics ports listen on (0.0.0.0: every "
        "interface, e.g. for Prometheus in another container)."
    )
    sink_metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the sink's Prometheus /metrics (on RAVAO_METRICS_HOST); 0: off."
    )
    alerts_metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the alerting job's Prometheus /metrics (on RAVAO_METRICS_HOST); 0: off."
    )
    ops_kafka_timeout_seconds: float = Field(
        5.0, gt=0, description="How long the web's operations page waits for the broker (consumer lag, end offsets, "
        "the workers' counters) before it shows the broker as unreachable."
    )

    # --- station and simulator (producers/station, producers/simulator) ------------------
    station_gateway_url: str | None = Field(
        None, description="Gateway base URL a reader station sends its scans to; unset: RAVAO_PUBLIC_URL."
    )
    station_token: str | None = Field(
        None, description="The token `ravao device add` printed for the station (a secret: or "
        "RAVAO_STATION_TOKEN_FILE); `ravao station --token` overrides it."
    )
    station_batch_size: int = Field(
        100, ge=1, le=500, description="Most scans a station sends in one request to the gateway."
    )
    station_batch_seconds: float = Field(
        0.2, ge=0, description="How long a station waits for more reads to fill a batch before it sends."
    )
    station_retry_max_seconds: float = Field(
        30.0, gt=0, description="Longest wait between a station's retries while the gateway is unreachable."
    )
    station_http_timeout_seconds: float = Field(
        15.0, gt=0, description="How long a station waits for the gateway's answer to one request."
    )

    # --- accounts and sign-in (pipeline/access) -------------------------------------------
    code_ttl_seconds: int = Field(
        300, ge=30, description="How long a one-time sign-in (or phone enrolment) code is valid once sent."
    )
    code_tries: int = Field(
        5, ge=1, description="Wrong tries that end a one-time code (a new code must be asked for)."
    )
    code_client_tries: int = Field(
        5, ge=1, description="Failed code tries (wrong, expired or used codes) one client address may make at "
        "once, for any phone, before the next waits (see next)."
    )
    code_client_refill_seconds: float = Field(
        300.0, gt=0, description="...after which one client address earns one more try per this many seconds."
    )
    code_phone_lockout_seconds: float = Field(
        60.0, gt=0, description="When a phone's code is ended by wrong tries, every try for that phone waits this "
        "long (kept short: a stranger cannot lock the owner out for long)."
    )
    code_issue_phone_burst: int = Field(
        3, ge=1, description="Codes a phone may be sent at once asked from one address, for any purpose (from every "
        "address together three times that: no SMS bombing, and a stranger cannot spend the owner's; see next)."
    )
    code_issue_phone_refill_seconds: float = Field(
        300.0, gt=0, description="...after which a phone may be sent one more code per this many seconds."
    )
    code_issue_client_burst: int = Field(
        10, ge=1, description="Codes one client address may ask for at once, for any phone (see next)."
    )
    code_issue_client_refill_seconds: float = Field(
        60.0, gt=0, description="...after which one client address may ask for one more code per this many seconds."
    )
    session_ttl_seconds: int = Field(
        8 * 3600, ge=60, description="A sign-in session ends this long after it began, used or not."
    )
    session_idle_seconds: int = Field(
        1800, ge=60, description="...or once it has not been used for this long."
    )
    session_cookie_secure: bool | None = Field(
        None, description="Mark the session cookie Secure (sent over https only). Unset: Secure unless "
        "RAVAO_PUBLIC_URL is plain http on loopback (the embedded default)."
    )
    sms_url: str | None = Field(
        None, description="SMS gateway that sends one-time codes (and alerts): POST JSON {to, text}. Unset: codes "
        "are written to the console log (the embedded default), the phone masked."
    )
    sms_token: str | None = Field(
        None, description="Bearer token for RAVAO_SMS_URL (a secret: or RAVAO_SMS_TOKEN_FILE)."
    )
    sms_timeout_seconds: float = Field(
        10.0, gt=0, description="How long to wait for the SMS gateway's answer."
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
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        url = urlparse(self.public_url)
        return not (url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1"))

    @property
    def notify_retry_schedule(self) -> tuple[float, ...]:
        return tuple(float(part) for part in self.notify_retry_seconds.split(","))

    @property
    def retention_ms(self) -> int:
        return self.retention_days * 24 * 3600 * 1000


def default(name: str):
    """The default of the setting ``name``, for a module constant or a function's default that
    needs one without a `Settings` at hand: changing the default here changes it there."""
    return Settings.model_fields[name].default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
