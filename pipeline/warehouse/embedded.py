"""The embedded backend: chdb, the ClickHouse engine inside this process, on a directory.

chdb runs one engine per process, on one directory, and locks that directory against
other processes. So this module keeps one engine per process (`open_embedded` hands out
the same object again, counting users) and two sessions on it: a writer for inserts and
DDL, and a reader for queries, so that an analyst's long query served by the sink does
not hold up the sink's inserts. Every query passes the door (`door.admit`) and runs on a
session with ``readonly=1`` and limits on time and result size (`door.read_settings`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import door
from .base import INSERT_SETTINGS, QUERY_SETTINGS, Result, Warehouse, WarehouseError, bind, check_identifier

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine: "EmbeddedWarehouse | None" = None


def open_embedded(path: Path, read_limits: Mapping[str, Any] | None = None) -> "EmbeddedWarehouse":
    """The process's engine on ``path``, opened on first use. Another path while one is
    open is refused: chdb runs a single engine per process. ``read_limits``: the reader's
    `door.read_settings` (default: from the process's settings)."""
    global _engine
    path = Path(path).resolve()
    with _lock:
        if _engine is not None:
            if _engine.path != path:
                raise WarehouseError(
                    f"this process already has the warehouse at {_engine.path} open; chdb runs one "
                    f"engine per process, so {path} cannot be opened beside it"
                )
            _engine._users += 1
            return _engine
        _engine = EmbeddedWarehouse(path, read_limits)
        return _engine


def _session(path: Path):
    from chdb import session

    try:
        return session.Session(str(path))
    except Exception as exc:  # chdb says only "Error initializing EmbeddedServer"
        raise WarehouseError(
            f"cannot open the warehouse at {path}: another process (the sink?) has it open. "
            "While `ravao sink` runs, `ravao sql` and `ravao trace` go through it; otherwise "
            f"stop the process that holds the directory. ({exc})"
        ) from exc


def _drain(session) -> None:
    """After a query fails part-way (a result limit hit while writing it), chdb 4.4 hands
    what that query had written to the *next* query on the session as its answer. One
    throwaway query takes it, so the next caller gets its own result."""
    try:
        session.query("SELECT 1", "CSV")
    except RuntimeError:
        log.warning("a chdb session did not answer after a failed query")


def _set(session, settings: Mapping[str, Any]) -> None:
    for name, value in settings.items():
        session.query(f"SET {check_identifier(name)} = {{value:String}}", params={"value": str(value)})


class EmbeddedWarehouse(Warehouse):
    exclusive = True

    def __init__(self, path: Path, read_limits: Mapping[str, Any] | None = None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.location = str(path)
        self._users = 1
        self._writer = _session(path)
        self._reader = _session(path)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        _set(self._writer, INSERT_SETTINGS)
        _set(self._reader, QUERY_SETTINGS)
        # readonly=1 comes last: from then on the session takes no setting, for good.
        _set(self._reader, read_limits or door.configured_read_settings())
        self._parser = _ReaderParser(self)

    def _run(self, session, sql: str, params: Mapping[str, Any] | None, fmt: str, bound: bool = False):
        try:
            return session.query(sql, fmt, params=params if bound else bind(params))
        except RuntimeError as exc:  # ChdbError derives from it
            _drain(session)
            raise WarehouseError(str(exc).strip()) from None

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._write_lock:
            self._run(self._writer, sql, params, "CSV")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        return Result.from_json(self.query_raw(sql, bind(params)))

    def query_raw(self, sql: str, bound: Mapping[str, str], *, personal: bool = False) -> bytes:
        """The engine's JSONCompact answer, for parameters already in ClickHouse's text
        form (the sink's endpoint passes on what its client encoded), if the door admits
        ``sql``; `door.Refused` otherwise."""
        with self._read_lock:
            admitted = door.admit(sql, bound, self._parser, personal=personal)
            return self._run(self._reader, admitted, bound, "JSONCompact", bound=True).bytes()

    def read_personal(self, name: str, params: Mapping[str, Any], *, action: str, subject: str,
                      detail: Mapping[str, Any], actor: str | None = None) -> Result:
        """``actor``: who the door knows is asking; the sink's endpoint passes the account
        on the other end of its socket, and in-process it is this process's account."""
        query = door.personal_query(name)
        row = door.audit_row(actor or door.local_account(), action, subject, detail, name, params)
        self.insert("audit_log", door.AUDIT_COLUMNS, [row])  # first: no audit row, no personal data
        return Result.from_json(self.query_raw(query.sql, bind(params), personal=True))

    def insert_json(self, table: str, payload: bytes, token: str | None = None) -> None:
        # The data travels inline, after FORMAT, through chdb's ordinary query path. Not
        # through its streaming insert (`send_insert`): on chdb 4.4 that one reports success
        # when the insert was killed (KILL QUERY) or when a materialized view failed,
        # having committed some of the parts (the table's, maybe a view's) or none.
        statement = b"INSERT INTO " + check_identifier(table).encode() + b" FORMAT JSONEachRow\n"
        with self._write_lock:
            # The token goes in as a session setting, bound like any value, and is cleared
            # before anyone else inserts.
            if token:
                self._run(self._writer, "SET insert_deduplication_token = {token:String}", {"token": token}, "CSV")
            try:
                self._writer.query(statement + payload, "CSV")
            except RuntimeError as exc:
                raise WarehouseError(f"insert into {table} failed: {str(exc).strip()}") from None
            finally:
                if token:
                    self._run(self._writer, "SET insert_deduplication_token = ''", None, "CSV")

    def close(self) -> None:
        global _engine
        with _lock:
            self._users -= 1
            if self._users > 0 or self._writer is None:
                return
            for session in (self._reader, self._writer):
                try:
                    session.close()
                except Exception:  # closing must not hide the error that led here
                    log.exception("closing a chdb session failed")
            self._reader = self._writer = None
            if _engine is self:
                _engine = None


class _ReaderParser:
    """`door.Engine` on the reader session; called with the reader's lock held."""

    def __init__(self, warehouse: EmbeddedWarehouse) -> None:
        self.warehouse = warehouse
        self._table_functions: set[str] | None = None

    def _ask(self, sql: str, params: Mapping[str, Any], fmt: str, bound: bool) -> str:
        return self.warehouse._run(self.warehouse._reader, sql, params, fmt, bound=bound).bytes().decode()

    def format_query(self, sql: str) -> str:
        return self._ask("SELECT formatQuerySingleLine({statement:String})", {"statement": sql}, "TSVRaw", False)

    def explain_ast(self, sql: str, params: Mapping[str, Any]) -> str:
        # ``sql`` is the engine's own canonical form of one statement (door.admit), and
        # EXPLAIN AST only parses it: nothing of it runs.
        return self._ask("EXPLAIN AST " + sql, params, "TSVRaw", True)

    def catalogue(self) -> tuple[set[str], set[str], str]:
        if self._table_functions is None:
            listed = self._ask("SELECT name FROM system.table_functions", {}, "TSVRaw", False)
            self._table_functions = set(listed.split())
        result = Result.from_json(self._ask("SELECT (SELECT groupArray(name) FROM system.databases), "
                                            "currentDatabase()", {}, "JSONCompact", False))
        databases, current = result.rows[0]
        return self._table_functions, set(databases), current
