"""Every Kafka topic, declared once: name, partitions, retention, compaction, key; and
every consumer group.

Import `topics_for(settings)` and `groups_for(settings)` everywhere instead of spelling a
name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool
    retention_ms: int | None  # None: keep forever (compacted registry topics)
    key: str  # what the message key is, for the reader
    # The broker stamps each message with the time it arrived (LogAppendTime), whatever the
    # producer says: validation judges a scan's lateness against that time.
    stamped_on_arrival: bool = False

    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
        config = {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}
        if self.stamped_on_arrival:
            config["message.timestamp.type"] = "LogAppendTime"
        return config


@dataclass(frozen=True)
class Topics:
    scans_raw: TopicSpec
    scans_valid: TopicSpec
    scans_repartition: TopicSpec
    scans_dlq: TopicSpec
    visits: TopicSpec
    areas: TopicSpec
    venues: TopicSpec
    persons: TopicSpec
    personal_data: TopicSpec
    devices: TopicSpec
    phone_enrolments: TopicSpec
    cases: TopicSpec
    alerts: TopicSpec
    contacts: TopicSpec
    alert_decisions: TopicSpec
    notifications: TopicSpec
    declarations: TopicSpec
    audit: TopicSpec
    stats: TopicSpec
    accounts: TopicSpec

    def all(self) -> list[TopicSpec]:
        return [getattr(self, name) for name in self.__dataclass_fields__]

    def registry(self) -> list[TopicSpec]:
        return [self.areas, self.venues, self.persons, self.personal_data, self.devices]


@dataclass(frozen=True)
class ConsumerGroups:
    """The consumer groups, prefixed like the topics (RAVAO_TOPIC_PREFIX)."""

    worker: str  # the worker's Faust app id: its group, and the first part of its changelog topics' names
    sink: str  # the sink's committed offsets (`ravao sink --group` reads under another)
    alerts: str  # the alerting job assigns its partitions and commits nothing; librdkafka wants a group


# `kafka_io`'s readers assign partitions and commit nothing: no offsets are kept under this
# id and no group is joined, so stacks sharing a cluster need no prefix on it (and the
# readers take no settings).
READER_GROUP = "ravao-reader"


def groups_for(settings: Settings) -> ConsumerGroups:
    p = settings.topic_prefix
    return ConsumerGroups(worker=p + "ravao-worker", sink=p + "ravao-sink", alerts=p + "ravao-alerts")


def topics_for(settings: Settings) -> Topics:
    p, n, keep = settings.topic_prefix, settings.topic_partitions, settings.retention_ms

    def stream(name: str, key: str, partitions: int = n, stamped_on_arrival: bool = False) -> TopicSpec:
        return TopicSpec(p + name, partitions, False, keep, key, stamped_on_arrival)

    def registry(name: str, key: str) -> TopicSpec:
        return TopicSpec(p + name, 1, True, None, key)

    return Topics(
        scans_raw=stream("scans.raw", "person id (any other key works, at the cost of one more hop)",
                         stamped_on_arrival=True),
        scans_valid=stream("scans.valid", "person id"),
        scans_repartition=stream("scans.repartition", "person id (the worker's own: raw scans not keyed by person)"),
        scans_dlq=stream("scans.dlq", "none", partitions=1),
        visits=stream("visits", "person id"),
        areas=registry("registry.areas", "area id"),
        venues=registry("registry.venues", "venue id"),
        persons=registry("registry.persons", "person id"),
        personal_data=registry("registry.personal_data", "person id"),
        devices=registry("registry.devices", "device id"),
        # A person's enrolled phone (its public key), followed by every gateway; the worker
        # and the sink do not read it (`schemas.enrolment`).
        phone_enrolments=registry("registry.phone_enrolments", "person id"),
        cases=registry("cases", "case id"),
        # The alerting job's own state, kept on Kafka: the latest version of each alert,
        # of each contact, of each notification's delivery (`pipeline.alerts`).
        alerts=registry("alerts", "alert id (its latest version is the alert)"),
        contacts=registry("contacts", "case id:person id (a case's contact list, as `ravao trace` gives it)"),
        alert_decisions=registry("alerts.decisions", "alert id (a tracer's confirmation, applied by the job)"),
        notifications=registry("notifications", "notification id (its latest delivery state)"),
        # People's health declarations, by person like the scans (the same partitions).
        declarations=stream("declarations", "person id"),
        # Kept on the topic like the rest; the warehouse's audit_log keeps it for good.
        audit=stream("audit", "audit id (one per read of personal data in full)", partitions=1),
        stats=registry("stats", "worker instance (counter snapshots for `ravao stats`)"),
        accounts=registry("accounts", "phone (people's roles from `ravao user add`)"),
    )
