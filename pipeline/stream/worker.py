"""The Faust app: every topic and table declared once, and thin agents.

    scans.raw ──validate_scans──> scans.valid (keyed by person) ──pair_scans──> visits
                      └──────────> scans.dlq

Processing is at-least-once: Faust commits an offset only after the producer flushed what
the event produced, so a crash replays, never loses. Replays are harmless downstream:
a scan keeps its event id and a visit its id and version.

`pair_scans` keeps one `PersonState` per person in a table (RocksDB through rocksdict,
with a changelog topic for recovery). Faust lets a table be written only while an event
of its partition is processed, so the wall clock reaches the pairing as *tick* messages:
a timer sends one to each `scans.valid` partition this worker owns, and the agent then
closes the visits of that partition whose maximum stay has passed.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import faust
from aiokafka.partitioner import murmur2

from schemas.dlq import DeadLetter, RejectReason
from schemas.scans import ValidScan

from ..kafka_io import ensure_topics
from ..kafka_local import bootstrap_servers
from ..keys import load_codec
from ..pairing import (
    EXIT_AFTER_TIMEOUT_WINDOW,
    Outcome,
    PersonState,
    advance,
    apply_scan,
    next_timeout,
    sent_visits,
)
from ..registry_cache import RegistryCache
from ..settings import Settings
from ..topics import topics_for
from ..validate import Limits, Position, validate
from .guard import RejectRateGuard, TooManyRejects
from .metrics import Metrics
from .registry_follower import RegistryFollower

log = logging.getLogger(__name__)

TICK = b'{"tick":1}'
# Rejections that a registry record published a moment ago could turn into acceptance.
REGISTRY_REASONS = {RejectReason.unknown_venue, RejectReason.unknown_device, RejectReason.unknown_person,
                    RejectReason.inactive_venue, RejectReason.device_not_authorised}
STATE_TABLE = "person-state"
EXIT_TOO_MANY_REJECTS = 3
STATE_CACHE_SIZE = 200_000  # persons whose decoded state is kept in memory (a few KB each)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the Kafka default partitioner gives ``key`` (murmur2, as aiokafka
    and the Java client do), to know which table keys belong to a ticked partition."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class OpenVisits:
    """In memory: person -> (partition, when the open visit times out). Rebuilt from the
    table after each rebalance; it only tells the tick whom to look at."""

    deadlines: dict[str, tuple[int, float]] = field(default_factory=dict)
    built_for: frozenset = frozenset()

    def note(self, person: str, partition: int, state: PersonState) -> None:
        deadline = next_timeout(state)
        if deadline is None:
            self.deadlines.pop(person, None)
        else:
            self.deadlines[person] = (partition, deadline.timestamp())

    def due(self, partition: int, now: float) -> list[str]:
        return [p for p, (part, at) in self.deadlines.items() if part == partition and at <= now]


class Worker:
    """One worker process: the Faust app and what its agents share."""

    def __init__(self, settings: Settings, *, name: str = "worker", store: str = "rocksdb://",
                 web_port: int | None = None, clock=utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.topics = topics_for(settings)
        self.bootstrap = bootstrap_servers(settings)
        ensure_topics(self.bootstrap, self.topics.all(), settings.topic_replication)
        self.codec = load_codec(settings)
        self.limits = Limits(future_tolerance=timedelta(minutes=settings.future_tolerance_minutes),
                             lateness=timedelta(hours=settings.accepted_lateness_hours))
        # Pairing keeps what a late scan could still change: the lateness plus the day
        # in which an exit may still end a timed-out visit.
        self.horizon = self.limits.lateness + EXIT_AFTER_TIMEOUT_WINDOW
        self.debounce = timedelta(seconds=settings.debounce_seconds)
        self.metrics = Metrics()
        self.guard = RejectRateGuard(settings.reject_guard_window, settings.reject_guard_ratio)
        datadir = Path(settings.data_dir).resolve() / "worker" / name
        self.registry = RegistryCache.on_disk(datadir / "registry")
        self.follower = RegistryFollower(self.bootstrap, self.topics, self.registry)
        self.open_visits = OpenVisits()
        port = settings.worker_port if web_port is None else web_port
        self.app = faust.App(
            f"{settings.topic_prefix}ravao-worker",
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
            producer_linger=0.05,  # bigger batches: aiokafka spends much per produce request
        )
        self._declare()

    # --- topics, table, agents, timers: declared once -------------------------------------
    def _declare(self) -> None:
        app, t = self.app, self.topics
        raw = dict(key_serializer="raw", value_serializer="raw")
        self.raw_topic = app.topic(t.scans_raw.name, **raw)
        self.valid_topic = app.topic(t.scans_valid.name, partitions=t.scans_valid.partitions, **raw)
        self.dlq_topic = app.topic(t.scans_dlq.name, **raw)
        self.visits_topic = app.topic(t.visits.name, **raw)
        self.stats_topic = app.topic(t.stats.name, **raw)
        # person id -> PersonState.to_dict(), stored with Faust's json codec.
        self.states = app.Table(STATE_TABLE, default=None, partitions=t.scans_valid.partitions)
        self._cache: dict[str, PersonState] = {}
        app.on_partitions_revoked.connect(self._forget_cached_states)
        app.on_partitions_assigned.connect(self._forget_cached_states)
        self.valid_name, self.dlq_name, self.visits_name = t.scans_valid.name, t.scans_dlq.name, t.visits.name


        app.task(self._follow_registry)
        app.agent(self.raw_topic, name="validate_scans")(self.validate_scans)
        app.agent(self.valid_topic, name="pair_scans")(self.pair_scans)
        app.timer(self.settings.tick_seconds)(self._send_ticks)
        app.timer(5.0)(self._publish_stats)
        if app.conf.web_enabled:
            app.page("/metrics")(self._metrics_page)

    async def _follow_registry(self) -> None:
        await self.follower.run()

    async def validate_scans(self, stream) -> None:
        await self.follower.ready.wait()
        async for event in stream.events():
            message = event.message
            where = Position(message.topic, message.partition, message.offset)
            result = validate(event.value, codec=self.codec, registry=self.registry, now=self.clock(),
                              position=where, limits=self.limits)
            if isinstance(result, DeadLetter) and result.reason in REGISTRY_REASONS:
                await self.follower.catch_up(if_older_than=message.timestamp)
                result = validate(event.value, codec=self.codec, registry=self.registry, now=self.clock(),
                                  position=where, limits=self.limits)
            if isinstance(result, DeadLetter):
                self.metrics.inc("scans_rejected", result.reason.value)
                await self._send(self.dlq_name, (result.event_id or "").encode() or None, result.to_bytes())
            else:
                self.metrics.inc("scans_accepted")
                await self._send(self.valid_name, result.person_id.encode(), result.to_bytes())
            try:
                self.guard.record(isinstance(result, DeadLetter))
            except TooManyRejects as exc:
                log.critical("%s", exc)
                # Faust's shutdown after a crash can hang (seen waiting on its services);
                # the worker must stop all the same: exit hard if it has not within 20 s.
                # Nothing is lost: offsets not yet committed are processed again.
                deadline = threading.Timer(20.0, os._exit, args=(EXIT_TOO_MANY_REJECTS,))
                deadline.daemon = True  # must not itself keep the process alive
                deadline.start()
                await self.app.crash(exc)  # stops the worker with a non-zero exit status
                return

    async def pair_scans(self, stream) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if event.value == TICK:
                await self._on_tick(partition)
                continue
            scan = ValidScan.model_validate_json(event.value)
            key = scan.person_id
            state = self._state_of(key)
            now = self.clock()
            state, visits, outcome = apply_scan(state, scan, now, self.debounce, self.horizon)
            self._count(outcome)
            if outcome is Outcome.duplicate_event:
                # A retry, or a replay after a crash: the visits this scan made may not
                # have reached the topic even though the state has them. Send them again.
                visits = sent_visits(state, now)
            await self._store(key, partition, state, visits)

    def _state_of(self, key: str) -> PersonState:
        """The person's state: from the in-memory cache, else from the table. Only the
        owner of a partition writes its persons, so the cache is exact until a rebalance,
        which clears it."""
        state = self._cache.get(key)
        if state is None:
            stored = self.states.get(key)
            state = PersonState.from_dict(stored) if stored else PersonState(key)
            if len(self._cache) >= STATE_CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = state
        return state

    async def _forget_cached_states(self, *_args, **_kwargs) -> None:
        self._cache.clear()

    async def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        # The producer directly: Topic.send wraps every message in channel futures that
        # cost more than the work. Faust flushes this producer before it commits offsets.
        await self.app.producer.send(topic, key, value, partition=partition, timestamp=None, headers=None)

    async def _store(self, key: str, partition: int, state: PersonState, visits: list) -> None:
        for visit in visits:
            await self._send(self.visits_name, key.encode(), visit.to_bytes())
            self.metrics.inc("visits_emitted")
            if visit.version > 1:
                self.metrics.inc("visits_revised")
            if visit.deleted:
                self.metrics.inc("visits_withdrawn")
        if state.is_empty:
            self.states.pop(key, None)
            self._cache.pop(key, None)
        else:
            self.states[key] = state.to_dict()
        self.open_visits.note(key, partition, state)

    def _count(self, outcome: Outcome) -> None:
        if outcome is Outcome.duplicate_event:
            self.metrics.inc("scans_duplicate")
        elif outcome is Outcome.double_scan:
            self.metrics.inc("scans_double")
        elif outcome is Outcome.repeat_entry:
            self.metrics.inc("scans_repeat_entry")
        else:
            self.metrics.inc("scans_paired", "" if outcome is Outcome.accepted else outcome.value)

    # --- the wall clock ------------------------------------------------------------------
    def _owned_valid_partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self.app.assignor.assigned_actives()
                      if tp.topic == self.valid_topic.get_topic_name())

    async def _send_ticks(self) -> None:
        for partition in self._owned_valid_partitions():
            await self._send(self.valid_name, None, TICK, partition=partition)

    def _rebuild_open_visits(self) -> None:
        owned = frozenset(self._owned_valid_partitions())
        if owned == self.open_visits.built_for:
            return
        partitions = self.topics.scans_valid.partitions
        self.open_visits = OpenVisits(built_for=owned)
        for key, value in self.states.items():
            self.open_visits.note(key, partition_of(key.encode(), partitions), PersonState.from_dict(value))

    async def _on_tick(self, partition: int) -> None:
        self._rebuild_open_visits()
        now = self.clock()
        for key in self.open_visits.due(partition, now.timestamp()):
            if key not in self._cache and not self.states.get(key):
                self.open_visits.deadlines.pop(key, None)
                continue
            state, visits = advance(self._state_of(key), now, self.debounce, self.horizon)
            self.metrics.inc("visits_timed_out_by_clock", by=sum(v.exit_how == "timeout" for v in visits))
            await self._store(key, partition, state, visits)

    # --- what it did ---------------------------------------------------------------------
    async def _publish_stats(self) -> None:
        await self.stats_topic.send(key=self.metrics.worker.encode(), value=self.metrics.snapshot())

    async def _metrics_page(self, request):
        return self.app.web.text(self.metrics.prometheus(), content_type="text/plain; version=0.0.4")

    def run(self, loglevel: str = "info") -> None:
        """Run until SIGINT/SIGTERM; a fatal error (the reject guard) exits non-zero."""
        from faust.worker import Worker as FaustWorker

        class QuietWorker(FaustWorker):
            def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
                # Faust's terminal spinner sets the root logger to DEBUG so that it spins on
                # every record: each message sent then builds a debug record holding its
                # key and value. Keep the level asked for, and no spinner.
                self.spinner = None
                logger.setLevel(level)

        QuietWorker(self.app, loglevel=loglevel, quiet=True).execute_from_commandline()


def read_stats(bootstrap: str, settings: Settings):
    from ..kafka_io import read_to_end
    from .metrics import sum_snapshots

    return sum_snapshots([v for _, v, _, _ in read_to_end(bootstrap, topics_for(settings).stats.name) if v])

