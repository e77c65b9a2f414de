"""The Faust app: every topic and table declared once, and thin agents.

    scans.raw ──process_scans──> scans.valid (keyed by person, for the warehouse)
                     │    └────> visits (keyed by person)        when the raw key was the person
                     ├─────────> scans.dlq
                     └─────────> scans.repartition ──pair_repartitioned──> visits   otherwise

Producers key raw scans by person id (the gateway and the simulator do; the id is in the
person's code), so a raw scan already sits in its person's partition and is validated and
paired in one step, by one consumer, against the table partition of that person. A scan
keyed otherwise (a station publishing straight to Kafka with its device id, say) is valid
all the same: it takes one more hop through `scans.repartition`, keyed by person, and is
paired there. Both agents write the same table; Faust assigns partition N of both topics
and of the table's changelog to the same worker.

Events are taken in batches (`BATCH` events, or what came within `BATCH_WAIT`): Faust
spends more per event it hands over than the work itself costs, and a batch lets each
person's state be written once. Processing is at-least-once: a batch's events are
acknowledged only once everything they produced was sent, and Faust commits an offset
only when its event was acknowledged and after the producer flushed, so a crash or a stop
replays, never loses. Replays are harmless downstream: a scan keeps its event id and a
visit its id and version.

Failures stay as small as they are. One scan's (a bug, a send refused) makes that scan an
`internal_error` dead letter; the batch goes on. A whole batch's (the producer, the table)
stops the worker with the batch unacknowledged: Faust would restart the agent past it,
and then wait for it forever when asked to stop. A message the broker refuses after the
producer took it exits the worker before the next commit. And any stop ends within
`stopping.STOP_GRACE_SECONDS`; what was not committed is processed at the next start.

Each valid scan carries its person's health declaration status at the scan's time, from
`DeclarationFollower` (a bounded memory of everyone's recent statuses, caught up before
each batch of raw scans: see there why not the person's state).

The table keeps one `PersonState` per person (RocksDB through rocksdict, with a changelog
topic for recovery). Faust lets a table be read and written only for the partition of the
event being processed; within a batch each write is made on behalf of its own event
(`on_behalf_of`). The wall clock reaches the pairing as ticks (`ticks.WallClock`).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import faust
from faust.types import EventT
from pydantic import ValidationError

from schemas.dlq import DeadLetter, RejectReason, raw_fields
from schemas.scans import ValidScan

from ..kafka_io import ensure_topics
from ..kafka_local import bootstrap_servers
from ..keys import load_codec
from ..pairing import (
    EXIT_AFTER_TIMEOUT_WINDOW,
    Outcome,
    PersonState,
    apply_scan,
    sent_visits,
)
from ..prometheus import exposition
from ..recent_declarations import RecentDeclarations
from ..registry_cache import RegistryCache
from ..settings import Settings
from ..topics import groups_for, topics_for
from ..validate import Limits, Position, arrival_time, source_of, validate
from .batch import Batch, OpenVisits
from .declaration_follower import DeclarationFollower
from .faust_seam import ChangelogReceipts, FaustProcess
from .person_store import PersonStates
from .guard import RejectGuard, TooManyRejects, known_source, signals_broken_deployment
from .layout import check_partitions, partition_of
from .metrics import Metrics
from .registry_follower import RegistryFollower
from .stopping import STOP_GRACE_SECONDS, exit_unless_stopped
from .ticks import TICK, WallClock

log = logging.getLogger(__name__)

# Rejections that a registry record published a moment ago could turn into acceptance.
REGISTRY_REASONS = {RejectReason.unknown_venue, RejectReason.unknown_device, RejectReason.unknown_person,
                    RejectReason.inactive_venue, RejectReason.device_not_authorised}
STATE_TABLE = "person-state"
EXIT_TOO_MANY_REJECTS = 3
EXIT_BATCH_FAILED = 4
EXIT_SEND_REFUSED = 5
BATCH = 1000  # events an agent takes at a time ...
BATCH_WAIT = 0.05  # ... or what came within this many seconds: at most this much latency added


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Worker(PersonStates, WallClock):
    """One worker process: the Faust app and what its agents share."""

    def __init__(self, settings: Settings, *, name: str = "worker", store: str = "rocksdb://",
                 web_port: int | None = None, clock=utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.topics = topics_for(settings)
        self.bootstrap = bootstrap_servers(settings)
        ensure_topics(self.bootstrap, self.topics.all(), settings.topic_replication)
        check_partitions(self.bootstrap, self.topics)
        self.codec = load_codec(settings)
        self.limits = Limits(future_tolerance=timedelta(minutes=settings.future_tolerance_minutes),
                             lateness=timedelta(hours=settings.accepted_lateness_hours))
        # Pairing keeps what a late scan could still change: the lateness plus the day
        # in which an exit may still end a timed-out visit.
        self.horizon = self.limits.lateness + EXIT_AFTER_TIMEOUT_WINDOW
        self.debounce = timedelta(seconds=settings.debounce_seconds)
        self.metrics = Metrics()
        self.guard = RejectGuard(settings.reject_guard_sources, settings.reject_guard_ratio,
                                 settings.reject_guard_quiet)
        datadir = Path(settings.data_dir).resolve() / "worker" / name
        self.registry = RegistryCache.on_disk(datadir / "registry")
        self.follower = RegistryFollower(self.bootstrap, self.topics, self.registry)
        # Each person's recent declarations, for the status a valid scan carries.
        self.declarations = DeclarationFollower(self.bootstrap, self.topics.declarations.name, RecentDeclarations(
            settings.declaration_current_days, self.limits.lateness, clock))
        self.open_visits = OpenVisits()
        self.exit_code = 0  # set by a fatal error (`_stop_for`)
        port = settings.worker_port if web_port is None else web_port
        self.app = faust.App(
            groups_for(settings).worker,
            broker=f"kafka://{self.bootstrap}",
            store=store,
            datadir=str(datadir / "faust"),
            processing_guarantee="at_least_once",
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=2000,
            broker_commit_interval=1.0,
            stream_buffer_maxsize=8192,
            web_enabled=port != 0,
            web_port=port or 6066,
            web_bind="127.0.0.1",
            worker_redirect_stdouts=False,
            producer_acks=-1,
            # Some linger for bigger produce requests (aiokafka spends much per request), but
            # short: each batch of events waits for its states to reach Kafka.
            producer_linger=0.01,
        )
        self._declare()

    # --- topics, table, agents, timers: declared once -------------------------------------
    def _declare(self) -> None:
        app, t = self.app, self.topics
        raw = dict(key_serializer="raw", value_serializer="raw")
        self.raw_topic = app.topic(t.scans_raw.name, **raw)
        self.repartition_topic = app.topic(t.scans_repartition.name, partitions=t.scans_repartition.partitions, **raw)
        self.stats_topic = app.topic(t.stats.name, **raw)
        # person id -> PersonState.to_dict(), stored with Faust's json codec.
        self.states = app.Table(STATE_TABLE, default=None, partitions=t.scans_repartition.partitions)
        self.changelog = ChangelogReceipts(self.states)
        self._cache: dict[str, PersonState] = {}
        app.on_partitions_revoked.connect(self._forget_cached_states)
        app.on_partitions_assigned.connect(self._forget_cached_states)
        self.valid_name, self.dlq_name, self.visits_name = t.scans_valid.name, t.scans_dlq.name, t.visits.name
        self.repartition_name = t.scans_repartition.name

        app.task(self._follow_registry)
        app.task(self._follow_declarations)
        app.agent(self.raw_topic, name="process_scans")(self.process_scans)
        app.agent(self.repartition_topic, name="pair_repartitioned")(self.pair_repartitioned)
        app.timer(self.settings.tick_seconds)(self._send_ticks)
        app.timer(5.0)(self._publish_stats)
        if app.conf.web_enabled:
            app.page("/metrics")(self._metrics_page)

    async def _follow_registry(self) -> None:
        await self.follower.run()

    async def _follow_declarations(self) -> None:
        await self.declarations.run()

    async def process_scans(self, stream) -> None:
        """scans.raw: validate; pair at once when the scan is in its person's partition,
        else hand it to `pair_repartitioned` through scans.repartition."""
        await self.follower.ready.wait()
        await self.declarations.ready.wait()
        await self._in_batches(stream, self._take_raw, self._declarations_before)

    async def _declarations_before(self, events: list[EventT]) -> None:
        """Every declaration that reached the broker before the batch's newest scan is
        applied first (one ListOffsets request, skipped when a sync started after it)."""
        await self.declarations.catch_up(if_older_than=max(event.message.timestamp for event in events))

    async def _in_batches(self, stream, take, before=None) -> None:
        """The loop of both agents: ``take`` each event of a batch, then `_finish` it. One
        scan's failure is handled inside ``take``; what escapes it is the batch's, and
        stops the worker with the batch unacknowledged (`_stop_for`)."""
        async for events in stream.noack_take(BATCH, within=BATCH_WAIT):
            batch = Batch()
            try:
                if before is not None:
                    await before(events)
                for event in events:
                    await take(event, batch)
                await self._finish(batch, stream, events)
            except Exception as exc:  # noqa: BLE001 - not one scan's failure: see _stop_for
                await self._stop_for(exc)
                return

    async def _take_raw(self, event: EventT, batch: Batch) -> None:
        """One raw scan: validated, paired or handed on, and sent. A failure handling it
        (a bug, a send refused) makes it an `internal_error` dead letter and leaves the
        rest of the batch alone; only a failure to send that dead letter goes further."""
        try:
            scan = await self._validate(event)
            if scan is None:
                return
            key = scan.person_id.encode()
            value = scan.to_bytes()
            # The person's partition, the same in every person-keyed topic and in the
            # table (`check_partitions`); computed once and given to the producer.
            home = partition_of(key, self.topics.scans_repartition.partitions)
            if event.message.partition == home:
                self._pair(event, scan, batch)
            await self._send(self.valid_name, key, value, home)
            if event.message.partition != home:
                self.metrics.inc("scans_repartitioned")
                await self._send(self.repartition_name, key, value, home)
        except TooManyRejects:
            raise
        except Exception:  # noqa: BLE001 - one scan's failure must not stop the others
            await self._refuse(event, RejectReason.internal_error, "the worker failed on this message", failed=True)

    async def _validate(self, event: EventT) -> ValidScan | None:
        """The scan if valid; else its dead letter is sent and None returned."""
        message = event.message
        where = Position(message.topic, message.partition, message.offset)
        arrived = arrival_time(message.timestamp, message.timestamp_type, self.clock(), self.limits.lateness)
        result = validate(event.value, codec=self.codec, registry=self.registry, now=arrived,
                          position=where, limits=self.limits)
        if isinstance(result, DeadLetter) and result.reason in REGISTRY_REASONS:
            await self.follower.catch_up(if_older_than=message.timestamp)
            result = validate(event.value, codec=self.codec, registry=self.registry, now=arrived,
                              position=where, limits=self.limits)
        if isinstance(result, DeadLetter):
            self.metrics.inc("scans_rejected", result.reason.value)
            await self._send(self.dlq_name, (result.event_id or "").encode() or None, result.to_bytes())
            empty = self.registry.is_empty()
            if signals_broken_deployment(result.reason, empty):
                # Raises TooManyRejects when most recent sources fail this way.
                self.guard.refused(known_source(self.registry, source_of(event.value), empty), result.reason, empty)
            return None
        self.metrics.inc("scans_accepted")
        self.guard.accepted(result.device_id or result.venue_id)
        status = self.declarations.status_of(result.person_id, result.scanned_at)
        return result if status is result.declaration else result.model_copy(update={"declaration": status})

    async def _refuse(self, event: EventT, reason: RejectReason, message: str, failed: bool = False) -> None:
        """A dead letter for a message the worker could not handle (not a validation
        refusal: `validate` makes those)."""
        where = event.message
        if failed:
            log.exception("handling %s[%d]@%d failed: kept as an %s dead letter", where.topic, where.partition,
                          where.offset, reason.value)
        letter = DeadLetter(reason=reason, message=message, **raw_fields(event.value), source_topic=where.topic,
                            source_partition=where.partition, source_offset=where.offset, rejected_at=self.clock())
        self.metrics.inc("scans_rejected", reason.value)
        await self._send(self.dlq_name, None, letter.to_bytes())

    async def _stop_for(self, exc: Exception) -> None:
        """Stop the worker, non-zero, for a failure that is not one scan's: the guard, or
        the producer or the table failing for a whole batch. The batch stays unacknowledged:
        acknowledging it would lose it, and an agent restarted by Faust would never see it
        again while the consumer waited for it. The next start processes it again."""
        if isinstance(exc, TooManyRejects):
            log.critical("%s", exc)
            code = EXIT_TOO_MANY_REJECTS
        else:
            log.critical("a batch failed as a whole: the worker stops, and the next start processes it again",
                         exc_info=exc)
            code = EXIT_BATCH_FAILED
        self.exit_code = code
        # Faust's stop waits for the batch, which will never be acknowledged (`stopping`).
        exit_unless_stopped(STOP_GRACE_SECONDS, code, "the stop after a fatal error")
        await self.app.crash(exc)  # stops the worker with a non-zero exit status

    async def pair_repartitioned(self, stream) -> None:
        """scans.repartition: valid scans keyed by person, and the wall-clock ticks."""
        await self._in_batches(stream, self._take_repartitioned)

    async def _take_repartitioned(self, event: EventT, batch: Batch) -> None:
        if event.value == TICK:
            try:
                self._on_tick(event, batch)
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("a tick of %s[%d] failed", event.message.topic, event.message.partition)
            return
        try:
            scan = ValidScan.model_validate_json(event.value)
        except (ValidationError, TypeError):  # only the worker writes there; someone else did
            await self._refuse(event, RejectReason.undecodable, "not a valid scan (only the worker writes this topic)")
            return
        try:
            self._pair(event, scan, batch)
        except Exception:  # noqa: BLE001 - one scan's failure must not stop the others
            await self._refuse(event, RejectReason.internal_error, "the worker failed on this message", failed=True)

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

    async def _finish(self, batch: Batch, stream, events: list[EventT]) -> None:
        """Write the batch's states, wait until Kafka has them, send their visits, and
        only then acknowledge the batch's events.

        The events are taken unacknowledged (`noack_take`): Faust commits an offset once
        its event is acknowledged, and a batch cut short (a rebalance, SIGTERM, a crash)
        must leave its events to be processed again, not committed with their visits
        unsent.

        In this order a visit version is never sent before the state that made it is in
        the changelog. A crash in between loses only visits not yet sent, which the
        replay sends again (its scans are then duplicates: `sent_visits`). Without the wait,
        a replay that meets a person's scans in another order (raw and repartitioned
        scans interleave by timing) could give an already-sent version other content."""
        self._write_states(batch.states)
        await self.changelog.delivered()  # not Faust's flush: see ChangelogReceipts
        if batch.visits:
            for key, partition, visits in batch.visits:
                await self._send_visits(key, visits, partition)
        for event in events:
            await stream.ack(event)

    async def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        # The producer directly: Topic.send wraps every message in channel futures that
        # cost more than the work. Faust flushes this producer before it commits offsets.
        sent = await self.app.producer.send(topic, key, value, partition=partition, timestamp=None, headers=None)
        sent.add_done_callback(self._check_sent)

    def _check_sent(self, sent) -> None:
        """A message the broker refused after the producer took it (a topic's size limit,
        replicas missing past the retries): the flush that precedes a commit does not
        fail for it, so the offsets of what made it would be committed and the message
        lost. Exit at once, before the commit that waits on the same flush can run (the
        loop runs this callback first): the next start processes it all again."""
        if sent.cancelled() or sent.exception() is None:
            return
        log.critical("the broker refused a message the worker produced (%r): the worker stops, and the next "
                     "start processes again what it was made from; check the topic's max.message.bytes and "
                     "its replicas", sent.exception())
        logging.shutdown()
        os._exit(EXIT_SEND_REFUSED)

    async def _send_visits(self, key: str, visits: list, partition: int) -> None:
        """``partition``: the person's (`check_partitions`)."""
        for visit in visits:
            await self._send(self.visits_name, key.encode(), visit.to_bytes(), partition)
            self.metrics.inc("visits_emitted")
            if visit.version > 1:
                self.metrics.inc("visits_revised")
            if visit.deleted:
                self.metrics.inc("visits_withdrawn")

    # --- what it did ---------------------------------------------------------------------
    async def _publish_stats(self) -> None:
        await self.stats_topic.send(key=self.metrics.worker.encode(), value=self.metrics.snapshot())

    async def _metrics_page(self, request):
        body, content_type = exposition(self.metrics.registry)
        return self.app.web.bytes(body, content_type=content_type.split(";")[0] + "; version=0.0.4")

    def run(self, loglevel: str = "info") -> None:
        """Run until SIGINT/SIGTERM (stopping within 10 s); a fatal error (the reject guard,
        a batch failing as a whole) exits non-zero."""
        try:
            FaustProcess(self.app, loglevel=loglevel, quiet=True).execute_from_commandline()
        except SystemExit as exit:
            # Faust exits 1 after any crash; say which fatal error it was.
            if exit.code and self.exit_code:
                raise SystemExit(self.exit_code) from None
            raise

