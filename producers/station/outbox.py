"""The station's durable queue: every accepted read, on disk before the guard hears OK,
removed only when the gateway acknowledged it.

One SQLite file per device (RAVAO_DATA_DIR/station/<device>.sqlite) in WAL mode with
``synchronous=FULL``: each `put` is one transaction whose commit fsyncs the log, so a
read that was confirmed survives a crash or a power cut. Rows are numbered by an
AUTOINCREMENT key that is never reused, so the queue is sent strictly in read order,
across restarts. A scan the gateway refused for good is moved, in the same
transaction, to a ``refused`` table that the operator can read: nothing leaves the
station silently.

The reader thread and the sender thread share one connection behind a lock; every
call is short (no network I/O under the lock).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS queued (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  TEXT NOT NULL UNIQUE,
    body      TEXT NOT NULL,          -- the scan as sent, without sent_at (added per attempt)
    queued_at REAL NOT NULL           -- wall clock, seconds
);
CREATE TABLE IF NOT EXISTS refused (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL,
    body       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    refused_at REAL NOT NULL
);
"""


class Queued(NamedTuple):
    seq: int
    event_id: str
    body: str
    queued_at: float


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # WAL + FULL: every commit is fsync'd
        self._db.executescript(SCHEMA)

    def put(self, event_id: str, body: str) -> int:
        """Store one scan durably; returns how many scans are waiting, itself included."""
        with self._lock:
            self._db.execute("INSERT INTO queued (event_id, body, queued_at) VALUES (?, ?, ?)",
                             (event_id, body, time.time()))
            return self._db.execute("SELECT count(*) FROM queued").fetchone()[0]

    def oldest(self, limit: int) -> list[Queued]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, body, queued_at FROM queued ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [Queued(*row) for row in rows]

    def acknowledge(self, event_ids: Iterable[str]) -> int:
        """The gateway has these: forget them."""
        ids = [(e,) for e in event_ids]
        if not ids:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM queued WHERE event_id = ?", ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(ids)

    def refuse(self, refusals: dict[str, str]) -> int:
        """The gateway refused these for good (event id -> reason): keep them aside."""
        if not refusals:
            return 0
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event_id, reason in refusals.items():
                    self._db.execute(
                        "INSERT INTO refused (seq, event_id, body, reason, refused_at) "
                        "SELECT seq, event_id, body, ?, ? FROM queued WHERE event_id = ?",
                        (reason, now, event_id))
                    self._db.execute("DELETE FROM queued WHERE event_id = ?", (event_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(refusals)

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM queued").fetchone()[0]

    def refused(self) -> list[tuple[str, str, str]]:
        """(event id, reason, body) of every scan the gateway refused, oldest first."""
        with self._lock:
            return self._db.execute("SELECT event_id, reason, body FROM refused ORDER BY seq").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
