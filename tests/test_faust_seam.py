"""The private API behind `pipeline.stream.faust_seam` is still there: this fails on the
upgrade that moves it, not in production."""

from __future__ import annotations

import contextvars
import inspect

from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from faust import streams

from pipeline.stream.faust_seam import on_behalf_of


def test_faust_still_keeps_its_current_event_in_the_context_variable_the_seam_sets() -> None:
    assert isinstance(streams._current_event, contextvars.ContextVar)

    class Event:  # what on_behalf_of stores is a weak reference to the event
        pass

    event = Event()
    with on_behalf_of(event):
        assert streams.current_event() is event
    assert streams.current_event() is None


def test_aiokafka_consumers_still_hold_a_client_that_can_refresh_metadata() -> None:
    assert "self._client = AIOKafkaClient(" in inspect.getsource(AIOKafkaConsumer.__init__)
    # It returns an awaitable (a future), which the seam awaits.
    assert "def force_metadata_update(self)" in inspect.getsource(AIOKafkaClient.force_metadata_update)


def test_faust_apps_still_have_an_assignor_that_lists_its_active_partitions() -> None:
    import faust
    from faust.types import TP

    from pipeline.stream.faust_seam import active_partitions

    app = faust.App("seam-test", broker="kafka://127.0.0.1:1")
    assignor = app.assignor
    assert callable(assignor.assigned_actives)
    assignor.assigned_actives = lambda: {TP("ticks", 2), TP("ticks", 0), TP("other", 1)}  # what a rebalance sets
    assert active_partitions(app, "ticks") == [0, 2]
