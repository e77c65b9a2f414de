"""The server backend: a ClickHouse server through clickhouse-connect (HTTP).

Parameters go as ``param_<name>`` beside the SQL (clickhouse-connect's server-side
binding); results come back as JSON and are parsed like the embedded backend's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .base import INSERT_SETTINGS, QUERY_SETTINGS, Result, Warehouse, WarehouseError, WarehouseUnavailable, check_identifier


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _translate(exc: Exception, what: str) -> WarehouseError:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, OperationalError) or isinstance(exc, OSError):
        return WarehouseUnavailable(f"{what}: the ClickHouse server cannot be reached ({exc})")
    if isinstance(exc, DatabaseError):
        return WarehouseError(f"{what}: {exc}")
    return WarehouseError(f"{what}: {exc!r}")


class ServerWarehouse(Warehouse):
    def __init__(self, url: str) -> None:
        import clickhouse_connect

        self.location = redact(url)
        try:
            self._client = clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False,
                                                         connect_timeout=5, send_receive_timeout=300)
        except Exception as exc:
            raise _translate(exc, f"connecting to {self.location}") from None

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(params or {}))
        except Exception as exc:
            raise _translate(exc, "command") from None

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        try:
            raw = self._client.raw_query(sql, parameters=dict(params or {}), settings=QUERY_SETTINGS,
                                         fmt="JSONCompact")
        except Exception as exc:
            raise _translate(exc, "query") from None
        return Result.from_json(raw)

    def insert_json(self, table: str, payload: bytes, token: str | None = None) -> None:
        settings = dict(INSERT_SETTINGS)
        if token:
            settings["insert_deduplication_token"] = token
        try:
            self._client.raw_insert(check_identifier(table), insert_block=payload, settings=settings,
                                    fmt="JSONEachRow")
        except Exception as exc:
            raise _translate(exc, f"insert into {table}") from None

    def close(self) -> None:
        self._client.close()
