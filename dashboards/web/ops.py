"""`GET /ops`: the operations page, for administrators only (`policy.require_admin`).

    scans per second      the workers' snapshots on the `stats` topic (their two latest)
    dead letters          by reason, from the warehouse (`Reads.dead_letters_by_reason`)
    consumer lag          every consumer group, per topic: committed against end offsets
    the sink's batches    how far each topic is landed (`sink_positions`), and behind the end
    deliveries failing    notifications given up, disabled or retrying (the warehouse)

Scans per second come from the workers' snapshots rather than from the offsets of
`scans.raw`: an envelope is one message of many scans, so offsets count messages; the
snapshots count scans, accepted and refused apart, and carry their own times, so one read
gives a rate without this process keeping samples between page views.

The broker is read in a worker thread, each request bounded by
RAVAO_OPS_KAFKA_TIMEOUT_SECONDS and the whole by a few of them: a broker that is down
makes the page say "broker unreachable" (the warehouse's parts still shown), never a 500,
and never holds up the event loop that serves everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from pipeline.access import policy
from pipeline.access.caller import Caller
from pipeline.alerts.evaluate import moment
from pipeline.consumer_lag import BrokerUnreachable, GroupLag, consumer_lag, topic_ends
from pipeline.kafka_local import KafkaSetupError, bootstrap_servers
from pipeline.settings import Settings
from pipeline.stream.metrics import ScanRate, recent_snapshots, scan_rate
from pipeline.topics import topics_for

from .site import language, page_caller, render
from .words import translator

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
BROKER_CALLS = 3  # consumer lag, end offsets, snapshots: each bounded by the timeout


@dataclass
class BrokerView:
    """What the broker said, or why it said nothing."""

    reachable: bool
    error: str = ""
    groups: list[GroupLag] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)  # topic -> sum of its end offsets
    rate: ScanRate | None = None


def read_broker(settings: Settings) -> BrokerView:
    """Blocking: every broker read the page needs (run it in a thread)."""
    timeout = settings.ops_kafka_timeout_seconds
    try:
        bootstrap = bootstrap_servers(settings)
        groups = consumer_lag(bootstrap, timeout)
        ends: dict[str, int] = {}
        for (topic, _partition), end in topic_ends(bootstrap, [t.name for t in topics_for(settings).all()],
                                                   timeout).items():
            ends[topic] = ends.get(topic, 0) + end
        rate = scan_rate(recent_snapshots(bootstrap, settings, timeout), time.time())
    except (BrokerUnreachable, KafkaException, KafkaSetupError, TimeoutError, OSError) as exc:
        return BrokerView(False, str(exc)[:300])
    return BrokerView(True, groups=groups, ends=ends, rate=rate)


async def broker_view(settings: Settings) -> BrokerView:
    limit = settings.ops_kafka_timeout_seconds * BROKER_CALLS + 1
    try:
        return await asyncio.wait_for(asyncio.to_thread(read_broker, settings), limit)
    except TimeoutError:
        return BrokerView(False, f"no answer within {limit:g} s")


def typed(result) -> list[dict]:
    """Rows as dicts, times and counts as Python values (the warehouse's JSON quotes both)."""
    rows = []
    for values in result.rows:
        row = {}
        for name, kind, v in zip(result.columns, result.types, values):
            if v is not None and "DateTime" in kind:
                v = moment(v)
            elif v is not None and kind.removeprefix("Nullable(").startswith(("UInt", "Int")):
                v = int(v)
            row[name] = v
        rows.append(row)
    return rows


def _sink_rows(progress: list[dict], broker: BrokerView) -> list[dict]:
    rows = []
    for row in progress:
        end = broker.ends.get(row["topic"]) if broker.reachable else None
        rows.append({**row, "behind": None if end is None else max(0, end - row["landed"])})
    return rows


@router.get("/ops", response_class=HTMLResponse)
async def operations(request: Request, caller: Caller = Depends(page_caller)) -> HTMLResponse:
    policy.require_admin(caller, "see the operations page")
    reads, settings = request.app.state.reads, request.app.state.settings
    now = datetime.now(timezone.utc)
    broker_reading = asyncio.create_task(broker_view(settings))
    try:
        dead = typed(await run_in_threadpool(reads.dead_letters_by_reason, caller, now))
        progress = typed(await run_in_threadpool(reads.sink_progress, caller))
        failing = typed(await run_in_threadpool(reads.failing_notifications, caller))
    except BaseException:
        broker_reading.cancel()  # the warehouse's error page answers; its thread ends on its own timeouts
        raise
    broker = await broker_reading
    if not broker.reachable:
        log.warning("the operations page could not read the broker: %s", broker.error)
    lang = language(request)
    say = translator(lang)
    return render(request, "ops.html", caller, title=say("Operations"), now=now, broker=broker,
                  decimal=lambda v: f"{v:.1f}".replace(".", "," if lang == "vi" else "."),
                  dead=dead, sink=_sink_rows(progress, broker), failing=failing,
                  lagging=sum(1 for g in broker.groups if g.lag))
