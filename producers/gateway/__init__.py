"""The HTTP gateway and the web scanner pages (`ravao gateway`).

Phones and reader stations cannot speak Kafka: they post scans here. The gateway
authenticates the device, refuses what it can already tell is wrong, publishes the rest to
`scans.raw` with an idempotent, acks=all producer, and answers once Kafka acknowledged
them. It also serves the self check-in page a venue poster opens and the guard page.

    app.py        the FastAPI application
    api.py        the JSON API (/api/v1/...)
    pages.py      the HTML pages (/s/<venue code>, /guard) and static/ files
    service.py    what a gateway process holds; device authentication
    scans.py      request -> published scan and screen answer (plain functions)
    publisher.py  Kafka producer with awaitable acknowledgements
    directory.py  the registry as the gateway sees it (tokens, venue names, names)
    rate_limit.py token buckets per device, per client address, per person at an address
    body.py       admission on the headers, then the body within a time and size limit
    errors.py     JSON errors, bounded
"""

from .app import create_app

__all__ = ["create_app"]
