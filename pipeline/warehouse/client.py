"""The warehouse: one class over clickhouse-connect, whatever the URL.

    chdb:///abs/path                  the embedded engine in this process (the sink, or a
                                      command that opens the directory when no sink runs)
    http(s)://user:pass@host:port/db  a ClickHouse server, or the embedded sink's door,
                                      which answers ClickHouse's own HTTP interface

Writes go by a writer client (its inserts carry a deduplication token). Reads go by
reader clients with ``readonly=1`` and the limits of `door.read_settings` as their own
settings, after the door (`door.admit`) has judged the statement on the engine's parse.
With chdb a client is one engine handle used by one thread at a time, so there is a pool
of them: this process's own reads have a reader of their own, and the reads the sink's
door serves for other processes take one of the pool, so an analyst's long read holds up
neither the sink's writes nor its own reads nor other analysts' (ClickHouse checks the
time limit only between blocks). An HTTP client is safe to share between threads: one
reader serves them all.

Through the sink's door (``door_is_remote``) the door runs in the sink, on the sink's own
engine; this process sends the statement as it is and the sink answers or refuses it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import door
from .base import (INSERT_SETTINGS, QUERY_SETTINGS, Result, WarehouseError, WarehouseUnavailable, bind,
                   check_identifier, json_lines)
from .seam import raw_query_bound

log = logging.getLogger(__name__)

SHARED_READERS = 4  # chdb: reads served at once for other processes; a fifth waits ...
READER_WAIT_SECONDS = 10.0  # ... this long for one to be free, then is told to try again
EXCEPTION_MARK = "DB::Exception: "
FORMATTED_CACHE = 256  # canonical forms a reader keeps (the library's queries, asked again and again) ...
FORMATTED_CACHE_TEXT = 16 * 1024  # ... of texts up to this long


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def chdb_url(path: Path) -> str:
    return "chdb://" + str(Path(path).resolve())


def engine_message(exc: Exception) -> str:
    """The engine's own words (``Code: N. DB::Exception: ...``) without what the HTTP
    client wraps around them (its preamble, the URL); a refusal of the door as it said it."""
    text = str(exc).strip()
    code = getattr(exc, "code", None)
    start = text.find(EXCEPTION_MARK)
    if start < 0:
        return text
    body = text[start + len(EXCEPTION_MARK):]
    for tail in (" (for url ", " (version "):
        if tail in body:
            body = body[:body.index(tail)]
    body = body.strip()
    if body.startswith("refused: "):
        return re.sub(r"\.? \([A-Z_]+\)$", "", body)
    return f"Code: {code}. {EXCEPTION_MARK}{body}" if code else body


def translate(exc: Exception, what: str = "") -> WarehouseError:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

    prefix = f"{what}: " if what else ""
    if isinstance(exc, (OperationalError, OSError)):
        return WarehouseUnavailable(f"{prefix}the warehouse cannot be reached ({engine_message(exc)})")
    if isinstance(exc, (DatabaseError, ProgrammingError)):
        message = engine_message(exc)
        if message.startswith("refused: "):
            return door.Refused(message)
        if getattr(exc, "code", None) == 516:
            return WarehouseError(f"{prefix}{message}. The sink writes its accounts' passwords to "
                                  "RAVAO_DATA_DIR/sink.json; `ravao warehouse url` prints the URL")
        if getattr(exc, "code", None) == 202:
            return WarehouseUnavailable(f"{prefix}{message}")
        return WarehouseError(prefix + message)
    return WarehouseError(f"{prefix}{exc!r}")


def _client(url: str, settings: Mapping[str, Any]):
    import clickhouse_connect

    options: dict[str, Any] = {"settings": dict(settings)}
    if not url.startswith("chdb:"):
        # No session: a server serialises the queries of one session. Plain bodies: the
        # sink's door answers uncompressed.
        options.update(autogenerate_session_id=False, connect_timeout=5, send_receive_timeout=600,
                       compress=False)
    try:
        return clickhouse_connect.get_client(dsn=url, **options)
    except Exception as exc:
        if url.startswith("chdb:"):
            raise WarehouseError(
                f"cannot open the warehouse at {url.removeprefix('chdb://')}: another process (the sink?) has it "
                "open. While `ravao sink` runs, `ravao sql` and `ravao trace` go through it; otherwise stop the "
                f"process that holds the directory. ({engine_message(exc)})") from None
        raise translate(exc, f"connecting to {redact(url)}") from None


class Warehouse:
    """A ClickHouse engine behind clickhouse-connect: embedded (``chdb://``) or over HTTP.

    One object per process and target, shared by its threads; ``close`` it at exit.
    Methods raise `WarehouseUnavailable` when the engine cannot be reached (the caller
    may retry) and `WarehouseError` when it refused the request (retrying will not help).
    """

    def __init__(self, url: str, read_limits: Mapping[str, Any] | None = None, *,
                 door_is_remote: bool = False) -> None:
        self.url = url
        self.embedded = url.startswith("chdb:")
        #: Where the data lives, for messages: a directory or a URL without its password.
        self.location = url.removeprefix("chdb://") if self.embedded else redact(url)
        #: True when this process is the only writer (the embedded engine).
        self.exclusive = self.embedded
        self.door_is_remote = door_is_remote
        self._users = 1
        self._write_lock = threading.Lock()
        if self.embedded:
            Path(self.location).mkdir(parents=True, exist_ok=True)
        self._writer = None if door_is_remote else _client(url, {})
        # The door sets a door's reader's settings; anywhere else they are the reader's
        # own: the JSON shape of results, then the limits, readonly=1 last (from then on
        # the client takes no setting, for good).
        limits = {} if door_is_remote else {**QUERY_SETTINGS, **(read_limits or door.configured_read_settings())}
        #: The engine's max_result_bytes counts a constant column once and a format's escapes
        #: not at all, so a read's answer is also measured as it comes (`_Reader.read`).
        self.max_answer_bytes: int | None = limits.get("max_result_bytes")
        count = SHARED_READERS + 1 if self.embedded else 1
        self._readers = []
        try:
            for _ in range(count):
                self._readers.append(_Reader(self, _client(url, limits)))
        except Exception:
            for client in [reader.client for reader in self._readers] + [self._writer]:
                if client is not None:
                    client.close()  # an open chdb handle would keep the engine, and its directory, open
            raise
        self._own = self._readers[0]
        self._pool: queue.Queue[_Reader] = queue.Queue()
        for reader in self._readers[1:] or self._readers:
            self._pool.put(reader)

    # --- writes ---------------------------------------------------------------------------
    def _writer_client(self):
        if self._writer is None:
            raise WarehouseError(f"{self.location} is the sink's read-only door: it takes no writes; stop "
                                 "`ravao sink` to change the warehouse")
        return self._writer

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement that returns no rows (DDL, ALTER, OPTIMIZE, DELETE...)."""
        client = self._writer_client()
        with self._write_lock:
            try:
                client.command(sql, parameters=dict(params or {}))
            except Exception as exc:
                raise translate(exc) from None

    def insert_json(self, table: str, payload: bytes, token: str | None = None) -> None:
        """Insert rows given as JSONEachRow lines in one INSERT. With ``token``, an insert
        whose token the table has already seen (within ``non_replicated_deduplication_window``
        blocks) is dropped by the engine: retrying a batch cannot duplicate it."""
        client = self._writer_client()
        settings = dict(INSERT_SETTINGS)
        if token:
            settings["insert_deduplication_token"] = token  # a setting of this insert alone
        # chdb: clickhouse-connect writes the rows to a file and runs INSERT ... FROM INFILE
        # through chdb's ordinary query path, which reports a killed insert or a failed
        # view as the failure it is (chdb 4.4's streaming insert did not).
        with self._write_lock:
            try:
                client.raw_insert(check_identifier(table), insert_block=payload, settings=settings, fmt="JSONEachRow")
            except Exception as exc:
                raise translate(exc, f"insert into {table} failed") from None

    def insert(self, table: str, columns, rows, token: str | None = None) -> None:
        """Insert Python rows (a convenience over `insert_json`)."""
        payload = json_lines(columns, rows)
        if payload:
            self.insert_json(table, payload, token)

    # --- reads ----------------------------------------------------------------------------
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        """One SELECT through the door; the whole result in memory. Refuses (`door.Refused`)
        anything that is not a read of the warehouse's own non-personal tables. This
        process's own read: on a reader of its own."""
        with self._own.lock:
            if self.door_is_remote:
                self._not_personal(sql)
            return Result.from_json(self._own.read(sql, bind(params), "JSONCompact", personal=False))

    def _not_personal(self, sql: str) -> None:
        """Through the sink's door, `Refused` if ``sql`` is one of the named personal queries:
        the door serves those to accounts with the right, and cannot tell this call from
        `read_personal`, whose caller audits the read (`ravao sql copy.sql` would read
        personal data unaudited). What does not parse is left to the door to refuse."""
        try:
            name = door.personal_query_of(sql, self._own)
        except door.Refused:
            return
        if name is not None:
            raise door.Refused(f"refused: this is {name}, which reads personal data; `ravao trace PERSON "
                               "--with-names` (or `ravao audit`) reads it, with an audit row")

    def query_raw(self, sql: str, bound: Mapping[str, str], fmt: str = "JSONCompact", *,
                  personal: bool = False) -> bytes:
        """The engine's answer in ``fmt`` for parameters already in ClickHouse's text form
        (the sink's door passes on what its client encoded), if the door admits ``sql``;
        `door.Refused` otherwise. On a reader of the shared pool."""
        with self.shared_reader() as reader, reader.lock:
            return reader.read(sql, bound, fmt, personal=personal)

    def read_personal(self, name: str, params: Mapping[str, Any], *, action: str, subject: str,
                      detail: Mapping[str, Any]) -> Result:
        """Run ``name``, a query of `door.PERSONAL_QUERIES` (the only way to the personal
        tables), and nothing else. The caller (`pipeline.access`) decides whether its
        caller may read it and writes the audit record of the read; ``action``, ``subject``
        and ``detail`` are that caller's statement of purpose, kept for it and not stored
        here. Through the sink's door the account of the URL must hold the right to
        personal reads."""
        query = door.personal_query(name)
        with self._own.lock:
            return Result.from_json(self._own.read(query.sql, bind(params), "JSONCompact", personal=True))

    @contextmanager
    def shared_reader(self) -> Iterator["_Reader"]:
        if not self.embedded:
            yield self._own
            return
        try:
            reader = self._pool.get(timeout=READER_WAIT_SECONDS)
        except queue.Empty:
            raise WarehouseUnavailable(f"all {SHARED_READERS} readers are busy with long queries; try again in a "
                                       "while (RAVAO_QUERY_TIMEOUT_SECONDS bounds each)") from None
        try:
            yield reader
        finally:
            self._pool.put(reader)

    def close(self) -> None:
        """Release the engine or the connection. Idempotent."""
        from . import opened

        if not opened.release(self):
            return
        for client in [reader.client for reader in self._readers] + [self._writer]:
            if client is None:
                continue
            try:
                client.close()
            except Exception:  # closing must not hide the error that led here
                log.exception("closing a warehouse client failed")
        self._readers, self._writer = [], None

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Reader:
    """One reader client, with the door's view of the engine through it."""

    def __init__(self, warehouse: Warehouse, client) -> None:
        self.warehouse = warehouse
        self.client = client
        # A chdb handle runs one call at a time; an HTTP client sends each from its own
        # connection.
        self.lock = threading.Lock() if warehouse.embedded else nullcontext()
        self._table_functions: set[str] | None = None
        self._formatted: dict[str, str] = {}  # text -> the engine's canonical form, as it does not change

    def ask(self, sql: str, bound: Mapping[str, str], fmt: str | None) -> bytes:
        try:
            return raw_query_bound(self.client, sql, bound, fmt)
        except Exception as exc:
            if self.warehouse.embedded:
                self._drain()
            raise translate(exc) from None

    def _drain(self) -> None:
        """After a query fails part-way (a result limit hit while writing it), chdb 4.4
        hands what that query had written to the *next* query on the handle as its answer
        (through clickhouse-connect's chdb backend too). One throwaway query takes it, so
        the next caller gets its own result."""
        try:
            raw_query_bound(self.client, "SELECT 1", {}, "CSV")
        except Exception:
            log.warning("a chdb reader did not answer after a failed query")

    def read(self, sql: str, bound: Mapping[str, str], fmt: str, *, personal: bool) -> bytes:
        if not self.warehouse.door_is_remote:
            sql = door.admit(sql, bound, self, personal=personal)
        answer = self.ask(sql, bound, fmt)
        limit = self.warehouse.max_answer_bytes
        if limit and len(answer) > limit:
            raise WarehouseError(f"Code: 396. DB::Exception: Limit for result exceeded, max bytes: {limit}, the "
                                 f"answer in {fmt} has {len(answer)} bytes: ask for fewer rows or columns, or "
                                 "aggregate. (TOO_MANY_ROWS_OR_BYTES)")
        return answer

    # `door.Engine`, on this reader; called with its lock held.
    def format_query(self, sql: str) -> str:
        known = self._formatted.get(sql)
        if known is None:
            known = self.ask("SELECT formatQuerySingleLine({statement:String})", bind({"statement": sql}),
                             "TSVRaw").decode()
            if len(sql) <= FORMATTED_CACHE_TEXT:  # never an analyst's 64 MiB of text, 256 times over
                if len(self._formatted) >= FORMATTED_CACHE:
                    self._formatted.clear()
                self._formatted[sql] = known
        return known

    def explain_ast(self, sql: str, params: Mapping[str, Any]) -> str:
        # ``sql`` is the engine's own canonical form of one statement (door.admit), and
        # EXPLAIN AST only parses it: nothing of it runs. No FORMAT clause: it would be
        # parsed as the explained statement's own.
        return self.ask("EXPLAIN AST " + sql, params, None).decode()

    def catalogue(self) -> tuple[set[str], set[str], str]:
        if self._table_functions is None:
            listed = self.ask("SELECT name FROM system.table_functions", {}, "TSVRaw").decode()
            self._table_functions = set(listed.split())
        result = Result.from_json(self.ask("SELECT (SELECT groupArray(name) FROM system.databases), "
                                           "currentDatabase()", {}, "JSONCompact"))
        databases, current = result.rows[0]
        return self._table_functions, set(databases), current
