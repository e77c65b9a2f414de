"""A batch's events are acknowledged only once the changelog has the states they made:
Faust commits what was acknowledged, and a state that was only in the worker's local
store when its scan was committed is lost to whoever restores the partition from the
changelog (a restart that re-reads the last changelog messages, another worker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from pipeline.person_state import Emitted
from pipeline.pairing import PersonState
from pipeline.settings import Settings
from pipeline.stream.batch import Batch
from pipeline.stream.worker import Worker
from pipeline.topics import Topics

SLOW_HAND_OVER = 0.3  # seconds: over the 0.1 s after which Faust's flush stops waiting


@dataclass
class Message:
    topic: str
    partition: int
    offset: int = 0


class Event:
    def __init__(self, topic: str, partition: int) -> None:
        self.message = Message(topic, partition)


class Acks:
    """Records, at each acknowledgement, whether every changelog message was delivered."""

    def __init__(self, sent: list) -> None:
        self.sent, self.delivered_at_ack = sent, []

    async def ack(self, event) -> None:
        self.delivered_at_ack.append(all(f.done() for f in self.sent))


def a_state(person: str) -> PersonState:
    state = PersonState(person)
    state.emitted["in|e"] = Emitted(1, False, (0, 0, "open", None))  # not empty: stored, not deleted
    return state


@pytest.mark.kafka
def test_a_batch_is_acknowledged_only_once_the_changelog_has_its_states(settings: Settings, topics: Topics,
                                                                        tmp_path) -> None:
    """Handing a message to the Kafka client can take long (a partition's batch is full
    and waits for the broker; a loaded machine): Faust's `producer.flush()` then returns
    with states still in its buffer, and commits after that same flush."""
    worker = Worker(settings, name="w", store="memory://", web_port=0)
    sent = []
    send = worker.states.send_changelog

    def recorded(*args, **kwargs):
        fut = send(*args, **kwargs)
        sent.append(fut)
        return fut

    worker.states.send_changelog = recorded

    async def finish_a_batch() -> Acks:
        producer = worker.app.producer
        await producer.start()
        await worker.states.changelog_topic.maybe_declare()  # as the worker's start does
        try:
            hand_over = producer.buffer._send_pending

            async def slowly(fut) -> None:
                await asyncio.sleep(SLOW_HAND_OVER)
                await hand_over(fut)

            producer.buffer._send_pending = slowly
            event = Event(worker.repartition_name, 0)
            batch = Batch()
            for person in ("P1", "P2", "P3"):
                batch.add(person, event, a_state(person), [])
            acks = Acks(sent)
            await worker._finish(batch, acks, [event])
            assert len(sent) == 3
            await asyncio.gather(*sent)
            return acks
        finally:
            await producer.stop()

    acks = asyncio.run(finish_a_batch())
    assert acks.delivered_at_ack == [True]
