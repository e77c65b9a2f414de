"""The lag of every consumer group on the cluster, from Kafka's admin API: each group's
committed offsets against the end offsets of the same partitions, per group and topic.

    for row in consumer_lag(bootstrap, timeout=5.0):
        print(row.group, row.topic, row.lag)

Blocking, with every request bounded by ``timeout`` (async code: run it in a thread).
A broker that does not answer in time raises `BrokerUnreachable`. The sink commits its
offsets only for this (its position lives in the warehouse); Faust commits the worker's.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


class BrokerUnreachable(RuntimeError):
    """The broker did not answer in time (or refused): the page says so."""


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str  # stable, empty, preparing_rebalance, ... as the coordinator says
    members: int
    topic: str
    partitions: int
    committed: int  # sum of the committed offsets
    end: int  # sum of the end offsets of the same partitions
    lag: int  # messages not yet committed: sum over partitions of end - committed


def _admin(bootstrap: str, timeout: float) -> AdminClient:
    milliseconds = str(int(timeout * 1000))
    # log_level 2: a broker that is down is said once on the page, not every second in the log.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": milliseconds,
                        "socket.connection.setup.timeout.ms": milliseconds, "log_level": 2})


def _result(future, timeout: float, what: str):
    try:
        return future.result(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(f"{what}: {exc.args[0].str() if exc.args else exc}") from None
    except TimeoutError:
        raise BrokerUnreachable(f"{what}: no answer within {timeout:g} s") from None


def consumer_lag(bootstrap: str, timeout: float = 5.0) -> list[GroupLag]:
    """Every group with committed offsets, per topic, sorted by group and topic."""
    client = _admin(bootstrap, timeout)
    listed = _result(client.list_consumer_groups(request_timeout=timeout), timeout, "listing the consumer groups")
    groups = sorted(g.group_id for g in listed.valid)
    if not groups:
        return []
    described = {}
    for group, future in client.describe_consumer_groups(groups, request_timeout=timeout).items():
        try:
            described[group] = future.result(timeout=timeout)
        except (KafkaException, TimeoutError):
            described[group] = None  # the group went away meanwhile: its offsets say the rest
    committed: dict[str, dict[tuple[str, int], int]] = {}
    for group in groups:  # the API takes one group per request
        future = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                    request_timeout=timeout)[group]
        answer = _result(future, timeout, f"reading the offsets of group {group}")
        committed[group] = {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or []
                            if tp.offset >= 0}
    partitions = sorted({source for offsets in committed.values() for source in offsets})
    ends = end_offsets(client, partitions, timeout)
    rows: list[GroupLag] = []
    for group in groups:
        description = described.get(group)
        state = _state_name(description.state) if description is not None else "unknown"
        members = len(description.members) if description is not None else 0
        by_topic: dict[str, list[tuple[int, int]]] = {}
        for (topic, partition), offset in committed[group].items():
            by_topic.setdefault(topic, []).append((offset, ends.get((topic, partition), offset)))
        for topic in sorted(by_topic):
            pairs = by_topic[topic]
            rows.append(GroupLag(group, state, members, topic, len(pairs), sum(c for c, _ in pairs),
                                 sum(e for _, e in pairs), sum(max(0, e - c) for c, e in pairs)))
    return rows


def end_offsets(client: AdminClient, partitions: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], int]:
    """The end (high watermark) of each partition; a partition whose topic is gone is left out."""
    if not partitions:
        return {}
    wanted = {TopicPartition(topic, partition): OffsetSpec.latest() for topic, partition in partitions}
    ends = {}
    for tp, future in client.list_offsets(wanted, request_timeout=timeout).items():
        try:
            ends[(tp.topic, tp.partition)] = future.result(timeout=timeout).offset
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise BrokerUnreachable(f"reading the end offsets: {exc}") from None
        except TimeoutError:
            raise BrokerUnreachable(f"reading the end offsets: no answer within {timeout:g} s") from None
    return ends


def topic_ends(bootstrap: str, topics: list[str], timeout: float = 5.0) -> dict[tuple[str, int], int]:
    """The end offset of every partition of ``topics`` (those that exist)."""
    client = _admin(bootstrap, timeout)
    try:
        metadata = client.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise BrokerUnreachable(f"reading the topics: {exc}") from None
    partitions = [(t, p) for t in topics if t in metadata and metadata[t].error is None for p in metadata[t].partitions]
    return end_offsets(client, partitions, timeout)


def _state_name(state) -> str:
    name = getattr(state, "name", str(state))
    return name.lower()

