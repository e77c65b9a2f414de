"""The sink: Kafka topics -> warehouse tables, in batches, idempotently.

    routes.py    which topic goes to which table; one message -> one row
    batch.py     what has been read and not yet written
    writer.py    writing a batch: rows, scans once per event id, then the position
    sink.py      the consumer loop: batching, back-pressure, rebalances, stopping
    endpoint.py  the door: ClickHouse's HTTP interface, read-only, on 127.0.0.1, while the
                 sink holds the embedded engine
    clickhouse_http.py  that interface's requests, formats and errors
    accounts.py  who may sign in to the door, and what each may read
    state.py     the state file: where the door listens, the accounts' passwords
    service.py   `ravao sink`: all of the above in one process
"""
