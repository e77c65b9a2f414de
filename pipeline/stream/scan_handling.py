"""What the agents do with each scan: validate, refuse, pair, and hand on. A mixin of
`Worker`, whose registry, codec, table, batch and metrics it uses.

A message on scans.raw or scans.repartition is one scan or an envelope of many
(`schemas.envelopes`); each scan of an envelope is handled as if it had come alone: its
own validation, its own dead letter (its own bytes, and its place in the envelope as
``source_index``), its own pairing. An envelope that is not one (it starts as one and
does not parse) is one dead letter, undecodable.

Failures stay as small as they are: one scan's (a bug) makes that scan an
`internal_error` dead letter and the others go on.
"""

from __future__ import annotations

import logging

from faust.types import EventT
from pydantic import ValidationError

from schemas.dlq import DeadLetter, RejectReason, raw_fields
from schemas.envelopes import EnvelopeError, unpack
from schemas.scans import ValidScan

from ..pairing import Outcome, apply_scan, sent_visits
from ..validate import Position, arrival_time, source_of, validate
from .batch import Batch
from .guard import TooManyRejects, known_source, signals_broken_deployment
from .layout import partition_of
from .ticks import TICK

log = logging.getLogger(__name__)

# Rejections that a registry record published a moment ago could turn into acceptance.
REGISTRY_REASONS = {RejectReason.unknown_venue, RejectReason.unknown_device, RejectReason.unknown_person,
                    RejectReason.inactive_venue, RejectReason.device_not_authorised}


def _where(event: EventT, index: int = 0) -> Position:
    message = event.message
    return Position(message.topic, message.partition, message.offset, index)


class ScanHandling:
    async def _scans_of(self, event: EventT) -> list[bytes | None]:
        """The scans a message carries (one, or an envelope's); none, after its dead
        letter, for an envelope that is not one."""
        try:
            return unpack(event.value)
        except EnvelopeError as exc:
            await self._refuse(_where(event), event.value, RejectReason.undecodable, str(exc))
            return []

    async def _take_raw(self, event: EventT, batch: Batch) -> None:
        scans = await self._scans_of(event)
        batch.scans += len(scans)
        for index, raw in enumerate(scans):
            await self._take_scan(event, raw, index, batch)

    async def _take_scan(self, event: EventT, raw: bytes | None, index: int, batch: Batch) -> None:
        """One raw scan: validated, then paired at once when it is in its person's
        partition, else handed to `pair_repartitioned` through scans.repartition; its
        valid scan goes out with the batch. A failure handling it (a bug) makes it an
        `internal_error` dead letter and leaves the rest of the batch alone."""
        try:
            scan = await self._validate(event, raw, index)
            if scan is None:
                return
            key = scan.person_id.encode()
            value = scan.to_bytes()
            # The person's partition, the same in every person-keyed topic and in the
            # table (`check_partitions`); computed once and given to the producer.
            home = partition_of(key, self.topics.scans_repartition.partitions)
            if event.message.partition == home:
                self._pair(event, scan, batch)
            batch.outbox.add(self.valid_name, home, key, value)
            if event.message.partition != home:
                self.metrics.inc("scans_repartitioned")
                batch.outbox.add(self.repartition_name, home, key, value)
        except TooManyRejects:
            raise
        except Exception:  # noqa: BLE001 - one scan's failure must not stop the others
            await self._refuse(_where(event, index), raw, RejectReason.internal_error,
                               "the worker failed on this message", failed=True)

    async def _validate(self, event: EventT, raw: bytes | None, index: int) -> ValidScan | None:
        """The scan if valid; else its dead letter is sent and None returned."""
        message = event.message
        where = _where(event, index)
        arrived = arrival_time(message.timestamp, message.timestamp_type, self.clock(), self.limits.lateness)
        result = validate(raw, codec=self.codec, registry=self.registry, now=arrived, position=where,
                          limits=self.limits)
        if isinstance(result, DeadLetter) and result.reason in REGISTRY_REASONS:
            await self.follower.catch_up(if_older_than=message.timestamp)
            result = validate(raw, codec=self.codec, registry=self.registry, now=arrived, position=where,
                              limits=self.limits)
        if isinstance(result, DeadLetter):
            self.metrics.inc("scans_rejected", result.reason.value)
            await self._send(self.dlq_name, (result.event_id or "").encode() or None, result.to_bytes())
            empty = self.registry.is_empty()
            if signals_broken_deployment(result.reason, empty):
                # Raises TooManyRejects when most recent sources fail this way.
                self.guard.refused(known_source(self.registry, source_of(raw), empty), result.reason, empty)
            return None
        self.metrics.inc("scans_accepted")
        self.guard.accepted(result.device_id or result.venue_id)
        status = self.declarations.status_of(result.person_id, result.scanned_at)
        return result if status is result.declaration else result.model_copy(update={"declaration": status})

    async def _refuse(self, where: Position, raw: bytes | None, reason: RejectReason, message: str,
                      failed: bool = False) -> None:
        """A dead letter for a message, or a scan of an envelope, that the worker could not
        handle (not a validation refusal: `validate` makes those)."""
        if failed:
            log.exception("handling %s[%d]@%d#%d failed: kept as an %s dead letter", where.topic, where.partition,
                          where.offset, where.index, reason.value)
        letter = DeadLetter(reason=reason, message=message, **raw_fields(raw), source_topic=where.topic,
                            source_partition=where.partition, source_offset=where.offset, source_index=where.index,
                            rejected_at=self.clock())
        self.metrics.inc("scans_rejected", reason.value)
        await self._send(self.dlq_name, None, letter.to_bytes())

    async def _take_repartitioned(self, event: EventT, batch: Batch) -> None:
        """scans.repartition: valid scans keyed by person (alone or in envelopes), and the
        wall-clock ticks."""
        if event.value == TICK:
            try:
                self._on_tick(event, batch)
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("a tick of %s[%d] failed", event.message.topic, event.message.partition)
            return
        scans = await self._scans_of(event)
        batch.scans += len(scans)
        for index, raw in enumerate(scans):
            try:
                scan = ValidScan.model_validate_json(raw)
            except (ValidationError, TypeError):  # only the worker writes there; someone else did
                await self._refuse(_where(event, index), raw, RejectReason.undecodable,
                                   "not a valid scan (only the worker writes this topic)")
                continue
            try:
                self._pair(event, scan, batch)
            except Exception:  # noqa: BLE001 - one scan's failure must not stop the others
                await self._refuse(_where(event, index), raw, RejectReason.internal_error,
                                   "the worker failed on this message", failed=True)

    def _pair(self, event: EventT, scan: ValidScan, batch: Batch) -> None:
        """Apply one valid scan to its person's state; the new state and the visits it
        changed go out when the batch is finished."""
        key = scan.person_id
        state = self._state_of(key, event)
        now = self.clock()
        state, visits, outcome = apply_scan(state, scan, now, self.debounce, self.horizon)
        self.metrics.count_outcome(outcome)
        if outcome is Outcome.duplicate_event:
            # A retry, or a replay after a crash: the visits this scan made may not have
            # reached the topic even though the state has them. Send them again, and write
            # the state again: a replayed state may so far be only in this worker's local
            # store, and every visit sent must be backed by the changelog.
            visits = sent_visits(state, now)
        batch.add(key, event, state, visits)
        self._cache[key] = state
        self.open_visits.note(key, event.message.partition, state)
