"""One-time codes sent to a phone: for signing in, and for enrolling a person's phone.

    codes = OneTimeCodes(settings)
    code = codes.issue(SIGN_IN, phone, client)          # None: throttled
    result = codes.check(SIGN_IN, phone, typed, client)  # ok / wrong / expired / used / throttled

A code is six digits drawn with `secrets`, valid for RAVAO_CODE_TTL_SECONDS, good for one
success, and kept only as an HMAC under a key drawn when the process starts (a memory
dump shows no code; a restart voids every code, which is harmless: ask again). A new code
for the same purpose and phone replaces the old one. ``purpose`` keeps sign-in codes and
enrolment codes apart: one cannot be spent as the other.

Guessing is limited three ways:

- a code ends after RAVAO_CODE_TRIES wrong tries;
- failed tries (wrong, expired, used) are counted per client address (a token bucket: a
  few at once, then one per RAVAO_CODE_CLIENT_REFILL_SECONDS): a stranger guessing from
  one address is stopped there;
- when a code is ended by wrong tries, its phone is locked for
  RAVAO_CODE_PHONE_LOCKOUT_SECONDS — short, so that a stranger cannot keep the owner out
  for long; a guesser spread over many addresses then needs a new code, and codes are
  rate-limited per phone and per client address (which also stops SMS bombing).

Asking for codes is limited per phone *and address* (RAVAO_CODE_ISSUE_PHONE_BURST, then
one per RAVAO_CODE_ISSUE_PHONE_REFILL_SECONDS), so that a stranger asking for the owner's
phone from one address spends only that address's share, never the owner's; and per phone
from every address together at `ISSUING_ADDRESSES_PER_PHONE` times that, which bounds the
SMS a phone can be sent however many addresses ask.

Everything lives in memory, bounded: at most `MAX_CODES` live codes (expired ones are
dropped first, then the oldest), and the buckets of `TokenBuckets` are bounded likewise.
The caller decides what a phone is (normalised, an account or not); this module treats it
as an opaque string and never logs it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from producers.gateway.rate_limit import TokenBuckets

from ..settings import Settings

SIGN_IN = "sign_in"
ENROL_PHONE = "enrol_phone"

CODE_DIGITS = 6
MAX_CODES = 100_000
MAX_LOCKOUTS = 100_000
# How many addresses' worth of codes a phone may be sent in all (see the docstring).
ISSUING_ADDRESSES_PER_PHONE = 3


class Outcome(StrEnum):
    ok = "ok"
    wrong = "wrong"  # not this code (tries left, or this try ended it)
    expired = "expired"  # no live code: never sent, past its time, replaced, or ended by wrong tries
    used = "used"  # this code already signed in once
    throttled = "throttled"  # too many tries: wait `retry_after` seconds


@dataclass(frozen=True)
class CodeCheck:
    outcome: Outcome
    retry_after: float = 0.0  # seconds, when throttled

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ok


@dataclass
class _Code:
    digest: bytes
    expires_at: float
    wrong_tries: int = 0
    used: bool = False


def _pair(phone: str, client: str) -> str:
    return f"{phone}\0{client}"


class OneTimeCodes:
    """Thread-safe: the web app may call it from its worker threads."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = float(settings.code_ttl_seconds)
        self.tries = settings.code_tries
        self.lockout = settings.code_phone_lockout_seconds
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._codes: OrderedDict[tuple[str, str], _Code] = OrderedDict()  # oldest issue first
        self._locked_until: OrderedDict[str, float] = OrderedDict()
        self._wrong_by_client = TokenBuckets(1 / settings.code_client_refill_seconds,
                                             settings.code_client_tries, clock)
        self._issued_to_phone_from = TokenBuckets(1 / settings.code_issue_phone_refill_seconds,
                                                  settings.code_issue_phone_burst, clock)
        self._issued_to_phone = TokenBuckets(ISSUING_ADDRESSES_PER_PHONE / settings.code_issue_phone_refill_seconds,
                                             settings.code_issue_phone_burst * ISSUING_ADDRESSES_PER_PHONE, clock)
        self._issued_to_client = TokenBuckets(1 / settings.code_issue_client_refill_seconds,
                                              settings.code_issue_client_burst, clock)
        self._lock = threading.Lock()

    # --- issuing ------------------------------------------------------------------------

    def issue(self, purpose: str, phone: str, client: str) -> str | None:
        """A new code for ``phone`` (replacing any live one for ``purpose``), or None when
        this phone or this client address asked too often (`wait_to_issue` says how long)."""
        with self._lock:
            if self._issue_wait(phone, client) > 0:
                return None
            self._issued_to_client.take(client)
            self._issued_to_phone_from.take(_pair(phone, client))
            self._issued_to_phone.take(phone)
            code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
            key = (purpose, phone)
            self._codes.pop(key, None)  # re-inserted last: the order stays oldest first
            self._make_room()
            self._codes[key] = _Code(self._digest(purpose, phone, code), self.clock() + self.ttl)
            return code

    def wait_to_issue(self, phone: str, client: str) -> float:
        """Seconds before ``phone`` may be sent a code asked for from ``client`` (0.0: now)."""
        with self._lock:
            return self._issue_wait(phone, client)

    def _issue_wait(self, phone: str, client: str) -> float:
        return max(self._issued_to_client.wait(client), self._issued_to_phone_from.wait(_pair(phone, client)),
                   self._issued_to_phone.wait(phone))

    # --- checking -----------------------------------------------------------------------

    def check(self, purpose: str, phone: str, code: str, client: str) -> CodeCheck:
        with self._lock:
            now = self.clock()
            wait = max(self._lock_wait(phone, now), self._wrong_by_client.wait(client))
            if wait > 0:
                return CodeCheck(Outcome.throttled, wait)
            entry = self._codes.get((purpose, phone))
            if entry is None or entry.expires_at <= now:
                self._codes.pop((purpose, phone), None)
                # Every failed try costs the address, this one too: probing which phones
                # were sent a code is guessing as well.
                self._wrong_by_client.take(client)
                return CodeCheck(Outcome.expired)
            if hmac.compare_digest(entry.digest, self._digest(purpose, phone, code)):
                if entry.used:
                    self._wrong_by_client.take(client)
                    return CodeCheck(Outcome.used)
                entry.used = True  # kept until it expires, so that a replay says "used"
                return CodeCheck(Outcome.ok)
            self._wrong_by_client.take(client)
            entry.wrong_tries += 1
            if entry.wrong_tries >= self.tries:
                del self._codes[(purpose, phone)]
                self._lock_phone(phone, now)
            return CodeCheck(Outcome.wrong)

    def _digest(self, purpose: str, phone: str, code: str) -> bytes:
        message = "\0".join((purpose, phone, code.strip())).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    # --- bounds ---------------------------------------------------------------------------

    def _lock_wait(self, phone: str, now: float) -> float:
        until = self._locked_until.get(phone)
        if until is None:
            return 0.0
        if until <= now:
            del self._locked_until[phone]
            return 0.0
        return until - now

    def _lock_phone(self, phone: str, now: float) -> None:
        self._locked_until.pop(phone, None)
        while len(self._locked_until) >= MAX_LOCKOUTS:  # the oldest lock ends soonest
            self._locked_until.popitem(last=False)
        self._locked_until[phone] = now + self.lockout

    def _make_room(self) -> None:
        if len(self._codes) < MAX_CODES:
            return
        now = self.clock()
        for key in [k for k, c in self._codes.items() if c.expires_at <= now]:
            del self._codes[key]
        while len(self._codes) >= MAX_CODES:
            self._codes.popitem(last=False)

    def __len__(self) -> int:
        return len(self._codes)
