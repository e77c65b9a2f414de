"""The embedded sink's door: ClickHouse's own HTTP interface on 127.0.0.1, read-only, for
every other process (`ravao sql`, `ravao trace`, the web and alerting services) and an
analyst's ClickHouse tools, while the sink holds the chdb directory.

    GET  /ping                 Ok.
    GET|POST /?query=...       a read, answered in its FORMAT (`clickhouse_http`)

Every request signs in with an account of `accounts` (passwords in the sink's state file,
`state`), and passes the warehouse's door (`pipeline.warehouse.door`) on a reader of the
sink's pool (``readonly=1``, the door's limits). The door's settings come from the door,
never from the request: a URL setting equal to the door's own value is ignored, as a
``readonly=1`` ClickHouse server ignores it; any other is refused (READONLY), as such a
server refuses it. Personal tables: only the named queries of `door.PERSONAL_QUERIES`,
recognised by the engine's canonical form, for accounts with that right. Bounded: at most
`MAX_REQUESTS` at once, bodies up to `MAX_BODY`, a client silent for `SOCKET_TIMEOUT`
dropped. Nothing of a request is logged: queries may hold ids.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import uuid
from pathlib import Path

import anyio.to_thread
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..warehouse import door
from ..warehouse.base import WarehouseError, WarehouseUnavailable, bind
from ..warehouse.client import Warehouse
from . import clickhouse_http as ch
from .accounts import Accounts, generate
from .state import SinkState, remove_state, write_state

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024 * 1024
SOCKET_TIMEOUT = 30.0  # a client silent this long while sending its request is dropped
MAX_REQUESTS = 16  # requests handled at once (their bodies and answers are in memory); more get 503
# A client must take its answer at least this fast (bytes a second, over each SOCKET_TIMEOUT)
# or be dropped: one that does not read would hold its place and its answer's memory.
MIN_ANSWER_RATE = 1024 * 1024
DISPLAY_NAME = "ravao-sink"
# A client's query_id is echoed in a header: one that cannot be a header value (a line
# break, say) would make the answer itself fail, so it is replaced by a fresh one.
QUERY_ID = re.compile(r"[!-~]{1,128}")
SETTINGS_QUERY = "SELECT name, value, readonly FROM system.settings LIMIT 10000"  # clickhouse-connect's probe
# Its answer: the settings the door changed, and those the client consults to decide what
# to send; every one read-only (the reader has readonly=1), so the client sends none. All
# 1,500 would not fit in the door's result limit, and tell a client nothing more.
SETTINGS_ANSWER = ("SELECT name, value, readonly FROM system.settings WHERE changed OR name IN "
                   "('readonly', 'date_time_input_format', 'cast_string_to_dynamic_use_inference', "
                   "'cancel_http_readonly_queries_on_client_close', 'enable_http_compression', "
                   "'send_progress_in_http_headers', 'http_headers_progress_interval_ms')")


class _TimedProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, which drops an idle connection only between requests:
    this one also drops a connection that takes longer than `SOCKET_TIMEOUT` to send a
    request's head (from its opening, or from the previous answer), so silent clients
    cannot hold every one of the door's `MAX_REQUESTS` places. The body has its own limit
    (`Endpoint._body`). And while an answer waits to be sent, a client that takes less
    than `MIN_ANSWER_RATE` of it over `SOCKET_TIMEOUT` is cut off: closing politely would
    wait for it to read, which it may never do."""

    _deadline: asyncio.TimerHandle | None = None
    _stall: asyncio.TimerHandle | None = None  # the answer's watch, apart: a pipelined head must not end it
    _unsent = 0

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(SOCKET_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request's head came

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_answer()
        self._arm()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_answer()

    def _watch_answer(self) -> None:
        unsent = self.transport.get_write_buffer_size()
        if self._stall is None and unsent:
            self._unsent = unsent
            self._stall = self.loop.call_later(SOCKET_TIMEOUT, self._check_answer)

    def _check_answer(self) -> None:
        self._stall = None
        unsent = self.transport.get_write_buffer_size()
        if not unsent:
            return
        if self._unsent - unsent >= min(MIN_ANSWER_RATE * SOCKET_TIMEOUT, self._unsent):
            self._watch_answer()  # taking it at a fair pace
            return
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().connection_lost(exc)


class Endpoint:
    def __init__(self, warehouse: Warehouse, data_dir: Path, port: int, accounts: Accounts | None = None) -> None:
        self.warehouse = warehouse
        self.data_dir = data_dir
        if accounts is None:
            accounts, self.passwords = generate()
        else:
            self.passwords = {}
        self.accounts = accounts
        self.state: SinkState | None = None
        self._socket = socket.create_server(("127.0.0.1", port), backlog=128)
        self._canonical: dict[str, str] = {}
        self._version: str | None = None
        self._timezone = "UTC"  # until the engine says (its process's zone, on chdb)
        app = Starlette(routes=[Route("/ping", self._ping, methods=["GET", "HEAD"]),
                                Route("/", self._query, methods=["GET", "POST"])])
        config = uvicorn.Config(app, http=_TimedProtocol, log_level="warning", access_log=False, lifespan="off",
                                limit_concurrency=MAX_REQUESTS, timeout_keep_alive=int(SOCKET_TIMEOUT),
                                h11_max_incomplete_event_size=64 * 1024, server_header=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def start(self) -> SinkState:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="sink-door", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        self.state = write_state(self.data_dir, self.port, Path(self.warehouse.location), self.passwords)
        log.info("read-only ClickHouse HTTP door for `ravao sql`, `ravao trace` and the services on "
                 "127.0.0.1:%d (`ravao warehouse url`)", self.port)
        return self.state

    def stop(self) -> None:
        if self.state is not None:
            remove_state(self.data_dir, self.state)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()

    # --- HTTP -----------------------------------------------------------------------------
    async def _ping(self, request: Request) -> Response:
        return Response(b"Ok.\n", media_type="text/html; charset=UTF-8")

    async def _query(self, request: Request) -> Response:
        given = request.query_params.get("query_id") or ""
        query_id = given if QUERY_ID.fullmatch(given) else str(uuid.uuid4())
        try:
            # Signed in first: a stranger's body is never read.
            user, password = ch.credentials(request.headers, dict(request.query_params))
            account = self.accounts.check(user, password)
            if account is None:
                raise ch.ClickHouseError(516, f"{user}: Authentication failed: password is incorrect, or there is "
                                              "no user with such name")
            body = await asyncio.wait_for(self._body(request), SOCKET_TIMEOUT)
            parsed = ch.parse(request.headers, request.query_params.multi_items(), body)
            answer, fmt = await anyio.to_thread.run_sync(self._answer, parsed, account.personal)
        except asyncio.TimeoutError:
            return self._error(query_id, ch.ClickHouseError(159, "the request body did not arrive in time"))
        except ch.ClickHouseError as error:
            return self._error(query_id, error)
        except door.Unparsable as refused:
            return self._error(query_id, ch.ClickHouseError(62, str(refused)))
        except door.Refused as refused:
            return self._error(query_id, ch.ClickHouseError(497, str(refused)))
        except WarehouseUnavailable as exc:
            return self._error(query_id, ch.ClickHouseError(202, str(exc)))
        except WarehouseError as exc:
            return self._error(query_id, ch.ClickHouseError.from_engine(str(exc)))
        except Exception:  # a bug: logged with its trace, the client gets a 500
            log.exception("the sink's door failed on a request")
            return self._error(query_id, ch.ClickHouseError(1000, "internal error (see the sink's log)"))
        return Response(answer, media_type=ch.content_type(fmt), headers={
            **self._headers(query_id), "X-ClickHouse-Format": fmt, "X-ClickHouse-Summary": ch.summary(size=len(answer))})

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > MAX_BODY:  # h11 took only digits
            raise ch.ClickHouseError(131, f"the request is larger than {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise ch.ClickHouseError(131, f"the request is larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _headers(self, query_id: str) -> dict[str, str]:
        return {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self._timezone,
                "X-ClickHouse-Server-Display-Name": DISPLAY_NAME}

    def _error(self, query_id: str, error: ch.ClickHouseError) -> Response:
        return Response(error.body(self._version or "unknown"), status_code=error.status,
                        media_type="text/plain; charset=UTF-8",
                        headers={**self._headers(query_id), "X-ClickHouse-Exception-Code": str(error.code)})

    # --- the answer, in a worker thread, on a reader of the pool --------------------------
    def _answer(self, request: ch.Request, may_read_personal: bool) -> tuple[bytes, str]:
        with self.warehouse.shared_reader() as reader, reader.lock:
            if self._version is None:
                version, _, zone = reader.ask("SELECT version(), timezone()", {}, "TSVRaw").decode().strip().partition("\t")
                self._version, self._timezone = version, zone or "UTC"
            self._check_settings(reader, request)
            if not ch.TRAILING_FORMAT.sub("", " " + request.sql).strip():  # the engine reads "FORMAT X" as a SELECT
                raise door.Unparsable("refused: the engine cannot parse this as one statement (an empty query)")
            sql, fmt = self._split_format(reader, request.sql)
            fmt = ch.output_format(fmt or request.default_format or "TabSeparated")
            if sql == self._canonical_of(reader, SETTINGS_QUERY):
                return reader.ask(SETTINGS_ANSWER, {}, fmt), fmt
            personal = door.personal_query_of(sql, reader)
            if personal is not None and not may_read_personal:
                raise door.Refused(f"refused: {personal} reads personal data, which {request.user} may not read")
            return reader.read(sql, request.params, fmt, personal=personal is not None), fmt

    def _canonical_of(self, reader, sql: str) -> str:
        if sql not in self._canonical:
            self._canonical[sql] = reader.format_query(sql).strip()
        return self._canonical[sql]

    def _split_format(self, reader, sql: str) -> tuple[str, str | None]:
        """The statement without its trailing ``FORMAT X``, and X. Judged on the engine's
        canonical form when the whole parses (the statement left must format back to the
        one asked, minus the clause). When it does not (a client's ``FORMAT Native``
        appended to text that already ends in a clause, or to two statements), the last
        ``FORMAT X`` of the text is taken off and the rest goes to the door, which judges
        it in full: at worst the answer comes in another allowed format than a server's."""
        try:
            canonical = reader.format_query(sql).strip()
        except WarehouseError:
            match = ch.TRAILING_FORMAT.search(sql)
            return (sql[:match.start()], match.group(2)) if match else (sql, None)
        match = ch.TRAILING_FORMAT.search(canonical)
        if match is None:
            return canonical, None
        statement = canonical[:match.start()]
        try:
            again = reader.format_query(statement).strip()
        except WarehouseError:
            return canonical, None
        if again + match.group(0) != canonical:
            return canonical, None
        return statement, match.group(2)

    def _check_settings(self, reader, request: ch.Request) -> None:
        if request.database not in (None, "default"):
            raise ch.ClickHouseError(81, f"refused: the database {request.database}; the door reads the "
                                         "warehouse's own database, default")
        for name, value in request.settings.items():
            current = reader.ask("SELECT value FROM system.settings WHERE name = {n:String}",
                                 bind({"n": name}), "TSVRaw").decode().rstrip("\n")
            if not current and not reader.ask("SELECT count() FROM system.settings WHERE name = {n:String}",
                                              bind({"n": name}), "TSVRaw").strip() == b"1":
                raise ch.ClickHouseError(115, f"Unknown setting '{name}'", "UNKNOWN_SETTING")
            if value != current:
                raise ch.ClickHouseError(164, f"Cannot modify '{name}' setting in readonly mode: the door's "
                                              "settings and limits are its own")
