"""A real HTTP receiver of Standard Webhooks on loopback, for the notifier's tests: it
verifies every request with `standardwebhooks.Webhook(secret).verify(...)`, records it,
and answers what the test's policy says."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

# (path, webhook-id, how many times this id was received before) -> (status, headers)
Policy = Callable[[str, str, int], tuple[int, dict[str, str]]]


def new_secret(seed: bytes) -> str:
    return "whsec_" + base64.b64encode(seed.ljust(32, b"."))[:43].decode()


@dataclass
class Received:
    path: str
    msg_id: str
    body: bytes
    status: int
    at: float
    verified: bool


@dataclass
class Receiver:
    secrets: dict[str, str]  # path -> secret
    policy: Policy = lambda path, msg_id, before: (200, {})
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secrets[self.path]).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                msg_id = self.headers.get("webhook-id", "")
                with receiver.lock:
                    before = sum(1 for r in receiver.received if r.msg_id == msg_id and r.path == self.path)
                    status, extra = receiver.policy(self.path, msg_id, before) if verified else (400, {})
                    receiver.received.append(Received(self.path, msg_id, body, status, time.time(), verified))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def fail_first_try_of_every(n: int):
    """A policy: the first try of every n-th notification (in the order they first arrive)
    is answered 500, everything else 200. By arrival, not by id: ids are random, and a
    rule on their digits could fail none of them."""
    order: dict[str, int] = {}

    def policy(path, msg_id, before):
        index = order.setdefault(msg_id, len(order))
        return (500, {}) if before == 0 and index % n == 0 else (200, {})

    return policy
