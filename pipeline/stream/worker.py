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

Failures stay as small as they are. One scan's (a bug) makes that scan an
`internal_error` dead letter; the batch goes on. A whole batch's (the producer, the table)
stops the worker with the batch unacknowledged: Faust would restart the agent past it,
and then wait for it forever when asked to stop. A message the broker refuses after the
producer took it exits the worker before the next commit. And any stop ends within
`stopping.STOP_GRACE_SECONDS`; what was not committed is processed at the next start.

A message may be one scan or an envelope of many scans of one partition
(`schemas.envelopes`): each scan is handled as if it had come alone (`scan_handling`). The
worker's own output (valid scans, scans to repartition, visits) is gathered per topic
partition over a batch and sent as envelopes at the batch's end (`outbox`;
`RAVAO_WORKER_ENVELOPES`).

The modules, by job: `app` (Faust's configuration, the topics and the table),
`scan_handling` (validate, refuse, pair), `person_store` (the states: cache and batched
writes), `ticks` (the wall clock), `outbox` (what a batch sends), `faust_seam` (every
private Faust API), and this one (the agents' loop, a batch's end, stopping).

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

from faust.types import EventT

from ..kafka_io import ensure_topics
from ..kafka_local import bootstrap_servers
from ..keys import load_codec
from ..pairing import EXIT_AFTER_TIMEOUT_WINDOW
from ..prometheus import exposition
from ..recent_declarations import RecentDeclarations
from ..registry_cache import RegistryCache
from ..settings import Settings
from ..topics import topics_for
from ..validate import Limits
from .app import STATE_TABLE, Topology, make_app
from .batch import Batch, OpenVisits
from .declaration_follower import DeclarationFollower
from .faust_seam import FaustProcess
from .guard import RejectGuard, TooManyRejects
from .layout import check_partitions
from .metrics import Metrics
from .person_store import PersonStates, state_cache
from .registry_follower import RegistryFollower
from .scan_handling import ScanHandling
from .stopping import STOP_GRACE_SECONDS, exit_unless_stopped
from .ticks import WallClock

log = logging.getLogger(__name__)

__all__ = ["BATCH", "BATCH_WAIT", "STATE_TABLE", "Worker"]
EXIT_TOO_MANY_REJECTS = 3
EXIT_BATCH_FAILED = 4
EXIT_SEND_REFUSED = 5
BATCH = 1000  # events an agent takes at a time ...
BATCH_WAIT = 0.05  # ... or what came within this many seconds: at most this much latency added
BATCH_SCANS = 5000  # and a batch ends once its messages held this many scans (envelopes)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Worker(ScanHandling, PersonStates, WallClock):
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
        self.envelopes = settings.worker_envelopes
        port = settings.worker_port if web_port is None else web_port
        self.app = make_app(settings, self.bootstrap, datadir / "faust", store=store, port=port)
        self._declare()

    # --- topics, table, agents, timers: declared once -------------------------------------
    def _declare(self) -> None:
        app = self.app
        top = self.topology = Topology.declare(app, self.topics)
        self.raw_topic, self.repartition_topic, self.stats_topic = top.raw_topic, top.repartition_topic, top.stats_topic
        self.states, self.changelog = top.states, top.changelog
        self.valid_name, self.dlq_name, self.visits_name = top.valid_name, top.dlq_name, top.visits_name
        self.repartition_name = top.repartition_name
        self._cache = state_cache()
        app.on_partitions_revoked.connect(self._forget_cached_states)
        app.on_partitions_assigned.connect(self._forget_cached_states)

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
            try:
                if before is not None:
                    await before(events)
                batch, first = Batch(), 0
                for at, event in enumerate(events):
                    await take(event, batch)
                    if batch.scans >= BATCH_SCANS:  # envelopes: a batch is bounded in scans, not messages
                        await self._finish(batch, stream, events[first:at + 1])
                        batch, first = Batch(), at + 1
                await self._finish(batch, stream, events[first:])
            except Exception as exc:  # noqa: BLE001 - not one scan's failure: see _stop_for
                await self._stop_for(exc)
                return

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
        for key, partition, visits in batch.visits:
            self._add_visits(batch, key, visits, partition)
        for topic, partition, key, value in batch.outbox.messages(self.envelopes):
            await self._send(topic, key, value, partition)
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

    def _add_visits(self, batch: Batch, key: str, visits: list, partition: int) -> None:
        """``partition``: the person's (`check_partitions`)."""
        for visit in visits:
            batch.outbox.add(self.visits_name, partition, key.encode(), visit.to_bytes())
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

