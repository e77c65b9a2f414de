"""The embedded backend: chdb, the ClickHouse engine inside this process, on a directory.

chdb runs one engine per process, on one directory, and locks that directory against
other processes. So this module keeps one engine per process (`open_embedded` hands out
the same object again, counting users) and two sessions on it: a writer for inserts and
DDL, and a read-only reader (``readonly=2``) for queries, so that an analyst's long query
served by the sink does not hold up the sink's inserts, and cannot change data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import INSERT_SETTINGS, QUERY_SETTINGS, Result, Warehouse, WarehouseError, bind, check_identifier

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine: "EmbeddedWarehouse | None" = None


def open_embedded(path: Path) -> "EmbeddedWarehouse":
    """The process's engine on ``path``, opened on first use. Another path while one is
    open is refused: chdb runs a single engine per process."""
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
        _engine = EmbeddedWarehouse(path)
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


def _set(session, settings: Mapping[str, Any]) -> None:
    for name, value in settings.items():
        session.query(f"SET {check_identifier(name)} = {{value:String}}", params={"value": str(value)})


class EmbeddedWarehouse(Warehouse):
    exclusive = True

    def __init__(self, path: Path) -> None:
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
        self._reader.query("SET readonly = 2")  # SELECTs and settings only, for good

    def _run(self, session, sql: str, params: Mapping[str, Any] | None, fmt: str, bound: bool = False):
        try:
            return session.query(sql, fmt, params=params if bound else bind(params))
        except RuntimeError as exc:  # ChdbError derives from it
            raise WarehouseError(str(exc).strip()) from None

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._write_lock:
            self._run(self._writer, sql, params, "CSV")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        return Result.from_json(self.query_raw(sql, bind(params)))

    def query_raw(self, sql: str, bound: Mapping[str, str]) -> bytes:
        """The engine's JSONCompact answer, for parameters already in ClickHouse's text
        form (the sink's endpoint passes on what its client encoded)."""
        with self._read_lock:
            return self._run(self._reader, sql, bound, "JSONCompact", bound=True).bytes()

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
