"""The floor under `ravao worker`: Faust and aiokafka moving the same messages with no work.

One Faust agent reads the pre-loaded raw scans in the worker's batches and, for each, sends
as many messages as the worker produced per raw scan (valid scan, visits, changelog, ...)
to a topic of its own; no validation, no pairing, no table. Its rate is what the framework
alone allows on this machine: the worker cannot be faster, and the gap between the two is
the work itself.

Run by `bench.pipeline` as a subprocess; prints one JSON line {"rate": events/s}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

import faust
from faust.worker import Worker

from pipeline.stream.worker import BATCH, BATCH_WAIT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="the pre-loaded raw scans")
    parser.add_argument("--out", required=True, help="an existing topic to send to")
    parser.add_argument("--count", type=int, required=True, help="events to read before stopping")
    parser.add_argument("--sends", type=float, required=True, help="messages to send per event read")
    args = parser.parse_args()

    app = faust.App(f"ravao-floor-{uuid.uuid4().hex[:8]}", broker=f"kafka://{args.bootstrap}", store="memory://",
                    consumer_auto_offset_reset="earliest", web_enabled=False, worker_redirect_stdouts=False,
                    processing_guarantee="at_least_once", broker_commit_every=2000, stream_buffer_maxsize=8192,
                    producer_acks=-1, producer_linger=0.01)
    source = app.topic(args.topic, key_serializer="raw", value_serializer="raw")
    seen, owed, started = 0, 0.0, None

    @app.agent(source)
    async def floor(stream):
        nonlocal seen, owed, started
        send = app.producer.send
        async for events in stream.noack_take(BATCH, within=BATCH_WAIT):
            if started is None:
                started = time.perf_counter()
            for event in events:
                owed += args.sends
                while owed >= 1:
                    owed -= 1
                    await send(args.out, event.key, event.value, partition=None, timestamp=None, headers=None)
            if args.sends:
                await app.producer.flush()  # as the worker does once per batch
            for event in events:
                await stream.ack(event)
            seen += len(events)
            if seen >= args.count:
                rate = seen / (time.perf_counter() - started)
                os.write(1, (json.dumps({"rate": rate}) + "\n").encode())  # fd 1: Faust may wrap sys.stdout
                os._exit(0)  # the figure is out; Faust's orderly shutdown adds nothing to it

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
