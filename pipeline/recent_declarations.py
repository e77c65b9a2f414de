"""Each person's last few health declarations, as their time and status only: what the
worker (the status a valid scan carries) and the gateway (the status on a scan's answer)
both need to call `schemas.declarations.status_at`, never the answers.

The rules, the same for both:
- at most `PER_PERSON` declarations a person, the latest ones (more a day is not a real
  person);
- one older than `current_days` + the accepted lateness before now is not kept, and
  `prune` forgets those that fell out of that window since: no scan accepted now can be
  within their days, and the memory follows who declared lately, not everyone ever
  registered;
- times are kept to the millisecond; of two made in the same millisecond, the graver status
  counts (symptoms over exposed over ok), whatever order they arrive in; the same
  declaration twice (a replay, a resend, the gateway's own read back) is held once.

What it costs: one int per declaration (milliseconds since 1970 << 2 | status), in a tuple
per person: about 180 bytes for a person with one declaration, 300 with four, 460 with
`PER_PERSON` (measured with tracemalloc: a dict entry, the person id's string, the tuple of
ints), so 180 to 460 MiB for a million people who all declared within the window, in each
worker and each gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from pydantic import ValidationError

from schemas.declarations import Declaration, DeclarationStatus, status_at
from schemas.scans import MAX_RAW_SCAN_BYTES

FUTURE_SLACK = timedelta(minutes=10)  # a declaration dated further ahead than this is not kept
PER_PERSON = 8
MAX_DECLARATION_BYTES = MAX_RAW_SCAN_BYTES  # a real one is a few hundred bytes
# Graver last: a packed int sorts by time, then by gravity.
GRAVITY = (DeclarationStatus.ok, DeclarationStatus.exposed, DeclarationStatus.symptoms)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)


class Declared(NamedTuple):
    """All that `status_at` reads of a declaration: its time and its status."""

    declared_at: datetime
    word: DeclarationStatus

    def status(self) -> DeclarationStatus:
        return self.word


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def pack(declared_at: datetime, status: DeclarationStatus) -> int:
    # Integer milliseconds, floored: exact, where a float timestamp can round a time down
    # into the millisecond before it.
    return (declared_at - EPOCH) // MILLISECOND << 2 | GRAVITY.index(status)


def unpack(packed: int) -> Declared:
    return Declared(EPOCH + (packed >> 2) * MILLISECOND, GRAVITY[packed & 3])


def read_declaration(value: bytes | None) -> Declaration | None:
    """The declaration in a message of `declarations`; None for one that is not (empty,
    oversized, not a declaration, a schema version this reader does not know: not guessed
    at). The caller says where it was; never what it holds (it may be a person's answers)."""
    if not value or len(value) > MAX_DECLARATION_BYTES:
        return None
    try:
        declaration = Declaration.model_validate_json(value)
    except (ValidationError, ValueError):
        return None
    return declaration if declaration.schema_version == Declaration.SCHEMA_VERSION else None


class RecentDeclarations:
    """Each person's last `PER_PERSON` declarations within the window, as packed ints.
    ``lateness``: how far back a scan may be dated."""

    def __init__(self, current_days: int, lateness: timedelta, clock: Callable[[], datetime] = utcnow) -> None:
        self.current_days = current_days
        self.window = timedelta(days=current_days) + lateness  # older ones make no status
        self.clock = clock
        self._by_person: dict[str, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self._by_person)

    def add(self, declaration: Declaration) -> None:
        self.remember(declaration.person_id, Declared(declaration.declared_at, declaration.status()))

    def remember(self, person_id: str, declared: Declared) -> None:
        now = self.clock()
        if declared.declared_at < now - self.window:
            return  # no scan accepted now can be within its days
        if declared.declared_at > now + FUTURE_SLACK:
            return  # dated ahead (only a producer with its own clock can): it would push real ones out
        packed = pack(*declared)
        held = self._by_person.get(person_id, ())
        if packed in held:
            return
        self._by_person[person_id] = tuple(sorted((*held, packed)))[-PER_PERSON:]

    def held(self, person_id: str) -> tuple[Declared, ...]:
        """A person's declarations kept, oldest first."""
        return tuple(unpack(p) for p in self._by_person.get(person_id, ()))

    def status(self, person_id: str, at: datetime) -> DeclarationStatus:
        held = self._by_person.get(person_id)
        if not held:
            return DeclarationStatus.none
        # Newest first: of two in the same millisecond, `status_at` keeps the first it meets,
        # which is the graver.
        return status_at((unpack(p) for p in reversed(held)), at, self.current_days)

    def prune(self) -> None:
        """Forget what fell out of the window."""
        oldest = pack(self.clock() - self.window, GRAVITY[0])
        for person, held in list(self._by_person.items()):
            if held[0] >= oldest:
                continue  # sorted: nothing of theirs is old (most people, at no cost)
            left = tuple(p for p in held if p >= oldest)
            if left:
                self._by_person[person] = left
            else:
                del self._by_person[person]
