"""The reader station: a computer at a busy gate with a keyboard-emulating USB QR reader.

    reader (stdin or /dev/input/eventN) ──> check the code locally ──> SQLite queue (fsync'd)
                                              │ refused: reason, not queued        │
                                              v                                    v
                                         beep + OK / reason          sender thread ──HTTP batch──> gateway

One concept per module: `check` (is this line a genuine personal code?), `outbox` (the
durable queue), `gateway_client` (the HTTP contract), `sender` (batches, retries,
backoff), `keyboard` (a Linux input device read directly), `station` (the wiring).
"""
