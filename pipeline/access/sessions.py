"""Sign-in sessions: a random token for a phone that proved it holds a code.

    token, expires_at = sessions.start(phone)
    caller = sessions.resolve(token)   # None: unknown, expired, idle too long, or disabled
    sessions.end(token)                # sign-out

The token (`secrets.token_urlsafe(32)`) is given once and kept only as its SHA-256: a
memory dump holds no usable token. A session ends RAVAO_SESSION_TTL_SECONDS after it
began, or once unused for RAVAO_SESSION_IDLE_SECONDS. Every `resolve` asks the directory
again, so a disabled account, or a staff phone removed from its venue, stops at once, and
the caller's grants are always the current ones.

Sessions live in the memory of the process that serves them, bounded (`MAX_SESSIONS`, and
`MAX_PER_PHONE` per phone: the oldest go first). That is the honest limit: sign-in holds
for one web process, or several behind sticky routing; a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..settings import Settings
from .caller import Caller
from .directory import AccountDirectory

MAX_SESSIONS = 100_000
MAX_PER_PHONE = 20


@dataclass
class _Session:
    phone: str
    expires_at: float  # epoch seconds
    last_used: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, directory: AccountDirectory, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.ttl = float(settings.session_ttl_seconds)
        self.idle = float(settings.session_idle_seconds)
        self.clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # by token digest, oldest first
        self._lock = threading.Lock()

    def start(self, phone: str) -> tuple[str, datetime]:
        """A new session for ``phone`` (whose code was checked): its token, shown once, and
        when it ends at the latest."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = _Session(phone, now + self.ttl, now)
        with self._lock:
            self._make_room(phone, now)
            self._sessions[_digest(token)] = session
        return token, datetime.fromtimestamp(session.expires_at, timezone.utc)

    def resolve(self, token: str | None) -> Caller | None:
        if not token:
            return None
        digest = _digest(token)
        now = self.clock()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            if session.expires_at <= now or now - session.last_used >= self.idle:
                del self._sessions[digest]
                return None
        caller = self.directory.caller_for(session.phone)
        with self._lock:
            if caller is None:
                self._sessions.pop(digest, None)
                return None
            session.last_used = now
        # The session's id in audit rows and logs: a prefix of the digest, never the token.
        return Caller(actor=caller.actor, grants=caller.grants, session_id=digest[:16], phone=caller.phone)

    def expires_at(self, token: str) -> datetime | None:
        with self._lock:
            session = self._sessions.get(_digest(token))
        return None if session is None else datetime.fromtimestamp(session.expires_at, timezone.utc)

    def end(self, token: str | None) -> bool:
        """Sign-out: True if there was such a session."""
        if not token:
            return False
        with self._lock:
            return self._sessions.pop(_digest(token), None) is not None

    def end_all(self, phone: str) -> int:
        with self._lock:
            mine = [d for d, s in self._sessions.items() if s.phone == phone]
            for digest in mine:
                del self._sessions[digest]
            return len(mine)

    def _make_room(self, phone: str, now: float) -> None:
        mine = [d for d, s in self._sessions.items() if s.phone == phone]
        for digest in mine[: max(0, len(mine) - MAX_PER_PHONE + 1)]:
            del self._sessions[digest]
        if len(self._sessions) < MAX_SESSIONS:
            return
        for digest in [d for d, s in self._sessions.items() if s.expires_at <= now or now - s.last_used >= self.idle]:
            del self._sessions[digest]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)
