"""The embedded sink's read-only SQL endpoint on 127.0.0.1, for `ravao sql` and
`ravao trace` while the sink holds the chdb directory (`pipeline.warehouse.via_sink`).

    POST /health                                 {"warehouse": path, "pid": n}
    POST /query     {"sql", "params"}            the engine's JSONCompact result
    POST /personal  {"query", "params", "action", "subject", "detail"}
                                                 a named personal query, audited

Every request carries the token from the state file. Queries pass the warehouse's door
(`pipeline.warehouse.door`) and run on the reader session (``readonly=1``, limits). No
route writes for the caller: the audit row of a personal read is written here, with the
account that owns the caller's socket as its actor.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..warehouse.base import WarehouseError, WarehouseUnavailable
from ..warehouse.embedded import EmbeddedWarehouse
from ..warehouse.via_sink import SinkState, remove_state, write_state
from .peer import loopback_peer_account

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024 * 1024
SOCKET_TIMEOUT = 30.0  # a client silent this long, reading or writing, is dropped
MAX_REQUESTS = 16  # requests handled at once (their bodies and answers are in memory); more get 503


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops connections under a burst

    def handle_error(self, request, client_address) -> None:
        """A client that went away or fell silent is no bug: one line, no stack trace."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("SQL endpoint: a client went away (%s)", type(error).__name__)
            return
        log.exception("the SQL endpoint failed on a request")


class Endpoint:
    def __init__(self, warehouse: EmbeddedWarehouse, data_dir: Path, port: int) -> None:
        self.warehouse = warehouse
        self.data_dir = data_dir
        self.server = Server(("127.0.0.1", port), self._handler())
        self.busy = threading.BoundedSemaphore(MAX_REQUESTS)
        self.state: SinkState | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> SinkState:
        self._thread = threading.Thread(target=self.server.serve_forever, name="sql-endpoint", daemon=True)
        self._thread.start()
        self.state = write_state(self.data_dir, self.port, self.warehouse.path)
        log.info("read-only SQL for `ravao sql` / `ravao trace` on 127.0.0.1:%d", self.port)
        return self.state

    def stop(self) -> None:
        if self.state is not None:
            remove_state(self.data_dir, self.state)
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT  # on every read and write of the connection

            def log_message(self, fmt: str, *args) -> None:  # queries may hold ids: keep them out of logs
                pass

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                self._reply(status, json.dumps({"error": message}).encode())

            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                if not endpoint.busy.acquire(blocking=False):
                    self.close_connection = True
                    return self._error(503, f"{MAX_REQUESTS} requests are being served: try again shortly")
                try:
                    self._serve()
                finally:
                    endpoint.busy.release()

            def _serve(self) -> None:
                state = endpoint.state
                given = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if state is None or not hmac.compare_digest(given.encode(), state.token.encode()):
                    return self._error(403, "wrong or missing token: read it from the sink's state file")
                declared = self.headers.get("Content-Length") or "0"
                if not declared.isdigit():  # "-1" would read to the end of the stream
                    self.close_connection = True
                    return self._error(400, "Content-Length must be a whole number of bytes")
                if int(declared) > MAX_BODY:
                    self.close_connection = True
                    return self._error(413, "request too large")
                try:
                    body = json.loads(self.rfile.read(int(declared)) or b"{}")
                except (ValueError, RecursionError):
                    return self._error(400, "the body is not JSON")
                if not isinstance(body, dict) or not isinstance(body.get("params") or {}, dict) \
                        or not isinstance(body.get("detail") or {}, dict):
                    return self._error(400, "the body must be a JSON object, and its params and detail objects")
                try:
                    if self.path == "/health":
                        answer = {"warehouse": str(endpoint.warehouse.path), "pid": state.pid}
                        return self._reply(200, json.dumps(answer).encode())
                    if self.path == "/query":
                        params = {str(k): str(v) for k, v in (body.get("params") or {}).items()}
                        result = endpoint.warehouse.query_raw(str(body["sql"]), params)
                        return self._reply(200, result)
                    if self.path == "/personal":
                        actor = loopback_peer_account(self.client_address[1], endpoint.port) or "unknown local account"
                        result = endpoint.warehouse.read_personal(
                            str(body["query"]), dict(body.get("params") or {}), action=str(body["action"]),
                            subject=str(body["subject"]), detail=dict(body.get("detail") or {}), actor=actor)
                        answer = {"meta": [{"name": c, "type": t} for c, t in zip(result.columns, result.types)],
                                  "data": result.rows}
                        return self._reply(200, json.dumps(answer).encode())
                    return self._error(404, f"no {self.path}")
                except WarehouseUnavailable as exc:
                    return self._error(503, str(exc))
                except WarehouseError as exc:
                    return self._error(400, str(exc))
                except (KeyError, TypeError) as exc:
                    return self._error(400, f"malformed request: {exc}")
                except Exception:  # a bug: logged with its trace, the client gets a 500
                    log.exception("the SQL endpoint failed")
                    return self._error(500, "internal error (see the sink's log)")

        return Handler
