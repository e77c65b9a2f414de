"""The server backend: a ClickHouse server through clickhouse-connect (HTTP).

Parameters go as ``param_<name>`` beside the SQL (clickhouse-connect's server-side
binding); results come back as JSON and are parsed like the embedded backend's. Every
query passes the door (`door.admit`, the server parsing) and runs with ``readonly=1`` and
the limits of `door.read_settings` as its settings; the server's own users and grants
(a read-only user for analysts) remain the wall a client cannot take down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import door
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
    def __init__(self, url: str, read_limits: Mapping[str, Any] | None = None) -> None:
        import clickhouse_connect

        self._read_settings = dict(read_limits or door.configured_read_settings())
        self._table_functions: set[str] | None = None
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

    def _ask(self, sql: str, params: Mapping[str, Any], fmt: str) -> str:
        settings = {**QUERY_SETTINGS, **self._read_settings}  # readonly last
        try:
            return self._client.raw_query(sql, parameters=dict(params), settings=settings, fmt=fmt).decode()
        except Exception as exc:
            raise _translate(exc, "query") from None

    def format_query(self, sql: str) -> str:
        return self._ask("SELECT formatQuerySingleLine({statement:String})", {"statement": sql}, "TSVRaw")

    def explain_ast(self, sql: str, params: Mapping[str, Any]) -> str:
        return self._ask("EXPLAIN AST " + sql, params, "TSVRaw")  # the canonical statement, parsed only

    def catalogue(self) -> tuple[set[str], set[str], str]:
        if self._table_functions is None:
            self._table_functions = set(self._ask("SELECT name FROM system.table_functions", {}, "TSVRaw").split())
        databases, current = Result.from_json(self._ask(
            "SELECT (SELECT groupArray(name) FROM system.databases), currentDatabase()", {}, "JSONCompact")).rows[0]
        return self._table_functions, set(databases), current

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *, personal: bool = False) -> Result:
        params = dict(params or {})
        admitted = door.admit(sql, params, self, personal=personal)
        return Result.from_json(self._ask(admitted, params, "JSONCompact"))

    def read_personal(self, name: str, params: Mapping[str, Any], *, action: str, subject: str,
                      detail: Mapping[str, Any]) -> Result:
        query = door.personal_query(name)
        row = door.audit_row(door.local_account(), action, subject, detail, name, params)
        self.insert("audit_log", door.AUDIT_COLUMNS, [row])  # first: no audit row, no personal data
        return self.query(query.sql, params, personal=True)

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
