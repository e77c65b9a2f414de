"""The embedded backend: chdb, the ClickHouse engine inside this process, on a directory.

chdb runs one engine per process, on one directory, and locks that directory against
other processes. So this module keeps one engine per process (`open_embedded` hands out
the same object again, counting users) and several sessions on it: a writer for inserts
and DDL, one reader for this process's own queries, and a pool of readers for the reads
the sink's endpoint serves, so that an analyst's long query holds up neither the sink's
inserts, nor its own reads, nor other analysts' (ClickHouse checks the time limit only
between blocks: one costly function over one block can outrun it). Every query passes
the door (`door.admit`) and runs on a session with ``readonly=1`` and limits on time and
result size (`door.read_settings`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import door
from .base import (INSERT_SETTINGS, QUERY_SETTINGS, Result, Warehouse, WarehouseError, WarehouseUnavailable, bind,
                   check_identifier)

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine: "EmbeddedWarehouse | None" = None
SHARED_READERS = 4  # reads served at once for other processes; a fifth waits ...
READER_WAIT_SECONDS = 10.0  # ... this long for one to be free, then is told to try again


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
        self._write_lock = threading.Lock()
        _set(self._writer, INSERT_SETTINGS)
        limits = read_limits or door.configured_read_settings()
        # Reads for other processes (the sink's endpoint) take a session of the pool, so one
        # long read holds up only itself; this process's own reads (the sink's positions, its
        # checks) have a session of their own and never wait behind an analyst's.
        self._pool: queue.Queue[_Reader] = queue.Queue()
        self._readers = [_Reader(self, _session(path), limits) for _ in range(SHARED_READERS + 1)]
        self._own = self._readers[0]
        for reader in self._readers[1:]:
            self._pool.put(reader)

    @contextmanager
    def _shared_reader(self) -> Iterator["_Reader"]:
        try:
            reader = self._pool.get(timeout=READER_WAIT_SECONDS)
        except queue.Empty:
            raise WarehouseUnavailable(f"all {SHARED_READERS} read sessions are busy with long queries; try again "
                                       "in a while (RAVAO_QUERY_TIMEOUT_SECONDS bounds each)") from None
        try:
            yield reader
        finally:
            self._pool.put(reader)

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
        """This process's own read, on its own session."""
        with self._own.lock:
            return Result.from_json(self._own.read(sql, bind(params), personal=False))

    def query_raw(self, sql: str, bound: Mapping[str, str], *, personal: bool = False) -> bytes:
        """The engine's JSONCompact answer, for parameters already in ClickHouse's text
        form (the sink's endpoint passes on what its client encoded), if the door admits
        ``sql``; `door.Refused` otherwise. On a session of the shared pool."""
        with self._shared_reader() as reader, reader.lock:
            return reader.read(sql, bound, personal=personal)

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
            for session in [reader.session for reader in self._readers] + [self._writer]:
                try:
                    session.close()
                except Exception:  # closing must not hide the error that led here
                    log.exception("closing a chdb session failed")
            self._readers, self._writer = [], None
            if _engine is self:
                _engine = None


class _Reader:
    """One read-only session (``readonly=1`` and the door's limits), with the door's view
    of the engine through it. Used by one thread at a time (``lock``)."""

    def __init__(self, warehouse: EmbeddedWarehouse, session, limits: Mapping[str, Any]) -> None:
        self.warehouse = warehouse
        self.session = session
        self.lock = threading.Lock()
        _set(session, QUERY_SETTINGS)
        # readonly=1 comes last: from then on the session takes no setting, for good.
        _set(session, limits)
        self.parser = _ReaderParser(warehouse, session)

    def read(self, sql: str, bound: Mapping[str, str], *, personal: bool) -> bytes:
        admitted = door.admit(sql, bound, self.parser, personal=personal)
        return self.warehouse._run(self.session, admitted, bound, "JSONCompact", bound=True).bytes()


class _ReaderParser:
    """`door.Engine` on a reader session; called with that reader's lock held."""

    def __init__(self, warehouse: EmbeddedWarehouse, session) -> None:
        self.warehouse = warehouse
        self.session = session
        self._table_functions: set[str] | None = None

    def _ask(self, sql: str, params: Mapping[str, Any], fmt: str, bound: bool) -> str:
        return self.warehouse._run(self.session, sql, params, fmt, bound=bound).bytes().decode()

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
