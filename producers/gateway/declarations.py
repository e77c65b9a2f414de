"""Health declarations as the gateway sees them: what a self declaration's phone signs, each
person's last few declarations (their statuses only), and the follower of `declarations`.

What the gateway keeps. A scan's answer carries the person's `DeclarationStatus` at the scan
time (`schemas.declarations.status_at`), never the answers; so the gateway keeps no answers
either: for each person, the time and the status of their last `KEEP` declarations, packed
in one int each (milliseconds since 1970 << 2 | status). A million people who declared within the
window cost about 290 MiB, 300 bytes each (measured with tracemalloc: a dict entry, the
person id, a tuple of four ints); a person's entry is forgotten once their newest declaration is older
than the window, so the memory follows who declared lately, not everyone ever registered.

The window: a scan may be dated up to RAVAO_ACCEPTED_LATENESS_HOURS back, and a declaration
counts RAVAO_DECLARATION_CURRENT_DAYS after it is made; so at start the follower reads
`declarations` from that long before now (Kafka's offsets by time), not from the beginning
of the retention period, and a gateway starts in seconds whatever the topic holds.

What a self declaration signs: these lines, joined by ``\\n``, in UTF-8 (sent_at in whole
milliseconds since 1970 UTC; symptoms in the list's order, joined by ``,``)::

    ravao-declaration/1
    <person id>
    <declaration id, lower-case>
    <declared_on, YYYY-MM-DD>
    <symptoms>
    <contact with a case: 1 or 0>
    <travel>
    <sent_at>
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from pipeline.stream.faust_seam import refresh_metadata
from schemas.declarations import Declaration, DeclarationStatus, Symptom, status_at

from .phone import millis

log = logging.getLogger(__name__)

PREFIX = "ravao-declaration/1"
KEEP = 4  # a person's last declarations kept: one a day covers a scan dated two days back
STATUSES = (DeclarationStatus.ok, DeclarationStatus.exposed, DeclarationStatus.symptoms)
# What the screens show: a word and a colour, never the answers.
COLOURS = {DeclarationStatus.none: "grey", DeclarationStatus.ok: "green", DeclarationStatus.exposed: "amber",
           DeclarationStatus.symptoms: "red"}
PRUNE_SECONDS = 3600.0
SYMPTOM_ORDER = {s: i for i, s in enumerate(Symptom)}


def signed_bytes(person_id: str, declaration_id: UUID, declared_on: date, symptoms: Iterable[Symptom],
                 contact_with_case: bool, travel: str, sent_at: datetime | None) -> bytes:
    ordered = sorted(set(symptoms), key=SYMPTOM_ORDER.__getitem__)
    return "\n".join((PREFIX, person_id, str(declaration_id), declared_on.isoformat(),
                      ",".join(s.value for s in ordered), "1" if contact_with_case else "0", travel,
                      millis(sent_at))).encode()


def _pack(declaration: Declaration) -> int:
    return _millis(declaration.declared_at) << 2 | STATUSES.index(declaration.status())


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _stand_in(packed: int) -> Declaration:
    """A declaration with only what `status_at` reads: its time and its status."""
    status = STATUSES[packed & 3]
    return Declaration.model_construct(declared_at=datetime.fromtimestamp((packed >> 2) / 1000, timezone.utc),
                                       symptoms=[Symptom.fever] if status is DeclarationStatus.symptoms else [],
                                       contact_with_case=status is DeclarationStatus.exposed)


class DeclarationBook:
    """Each person's last `KEEP` declarations, as (time, status)."""

    def __init__(self, current_days: int, window: timedelta) -> None:
        self.current_days = current_days
        self.window = window  # how far back a scan's status may be asked
        self._by_person: dict[str, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self._by_person)

    def add(self, declaration: Declaration) -> None:
        packed = _pack(declaration)
        held = self._by_person.get(declaration.person_id, ())
        if packed in held:
            return  # the same declaration again (a resend, or the gateway's own read back)
        self._by_person[declaration.person_id] = tuple(sorted((*held, packed)))[-KEEP:]

    def apply(self, _key: bytes, value: bytes | None) -> None:
        """A record of `declarations`; one that is not a declaration is skipped (its content is
        not logged: it may be a person's answers)."""
        if value is None:
            return
        try:
            self.add(Declaration.from_bytes(value))
        except (ValidationError, ValueError):
            log.warning("a record on the declarations topic is not a declaration; skipped")

    def status(self, person_id: str, at: datetime) -> DeclarationStatus:
        held = self._by_person.get(person_id)
        if not held:
            return DeclarationStatus.none
        # Newest first: of two made in the same millisecond, `status_at` keeps the first it
        # meets, so a tie goes to the graver status (symptoms over exposed over ok).
        return status_at((_stand_in(p) for p in reversed(held)), at, self.current_days)

    def prune(self, now: datetime) -> None:
        """Forget people whose newest declaration can no longer make any status."""
        oldest = _millis(now - self.window - timedelta(days=self.current_days)) << 2
        for person in [p for p, held in self._by_person.items() if held[-1] < oldest]:
            del self._by_person[person]


class DeclarationFollower:
    """Reads `declarations` from the window's start, then tails it, into a `DeclarationBook`."""

    def __init__(self, bootstrap: str, topic: str, book: DeclarationBook,
                 clock: Callable[[], float] = time.time) -> None:
        self.bootstrap, self.topic, self.book, self.clock = bootstrap, topic, book, clock
        self.ready = asyncio.Event()

    def since(self) -> datetime:
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        return now - self.book.window - timedelta(days=self.book.current_days)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in await self._partitions(consumer)]
            consumer.assign(partitions)
            starts = await consumer.offsets_for_times({tp: int(self.since().timestamp() * 1000) for tp in partitions})
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                await self._poll(consumer, 200)
            self.ready.set()
            log.info("declarations loaded: %d people declared within the window", len(self.book))
            pruned = time.monotonic()
            while True:
                await self._poll(consumer, 1000)
                if time.monotonic() - pruned > PRUNE_SECONDS:
                    self.book.prune(datetime.fromtimestamp(self.clock(), timezone.utc))
                    pruned = time.monotonic()
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        for _ in range(50):
            found = consumer.partitions_for_topic(self.topic)
            if found:
                return found
            await refresh_metadata(consumer)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the topic {self.topic} does not exist: run `ravao kafka topics`")

    async def _poll(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for messages in batches.values():
            for message in messages:
                self.book.apply(message.key, message.value)
