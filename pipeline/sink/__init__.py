"""The sink: Kafka topics -> warehouse tables, in batches, idempotently.

    routes.py    which topic goes to which table; one message -> one row
    batch.py     what has been read and not yet written
    writer.py    writing a batch: rows, scans once per event id, then the position
    sink.py      the consumer loop: batching, back-pressure, rebalances, stopping
    endpoint.py  read-only SQL on 127.0.0.1 while the sink holds the embedded engine
    peer.py      the account on the other end of an endpoint connection, for audit rows
    service.py   `ravao sink`: all of the above in one process
"""
