"""The HTTP gateway and the web scanner pages (`ravao gateway`).

Phones and reader stations cannot speak Kafka: they post scans here. The gateway
authenticates the device (or a guard's sign-in session, or a self check-in's enrolled
phone signature), refuses what it can already tell is wrong, publishes the rest to
`scans.raw` with an idempotent, acks=all producer, and answers once Kafka acknowledged
them. It also serves the self check-in page a venue poster opens and the guard page.

    app.py        the FastAPI application
    api.py        the JSON API (/api/v1/...)
    enrol.py      enrolling a person's phone (/api/v1/enrolment...)
    declare.py    health declarations (/api/v1/declarations), by the person or a guard
    declarations.py  what a declaration's phone signs; each person's last statuses, followed
                  from the declarations topic
    phone.py      what a self check-in's enrolled phone signs, and the check
    p256.py       ECDSA P-256 verification (the `cryptography` package)
    guard_session.py  a staff phone signed in as a guard scans as a device of its venue
    pages.py      the HTML pages (/s/<venue code>, /guard) and static/ files
    service.py    what a gateway process holds; device authentication
    scans.py      request -> published scan and screen answer (plain functions)
    publisher.py  Kafka producer with awaitable acknowledgements
    envelopes.py  the scans of one partition as one message, per request and flush window
    directory.py  the registry as the gateway sees it (tokens, venue names, names, phones on
                  record, enrolled phone keys, guard-session devices)
    rate_limit.py token buckets per device, per client address, per person at an address
    body.py       admission on the headers, then the body within a time and size limit
    errors.py     JSON errors, bounded
"""



def create_app(settings):
    """The gateway's FastAPI app (`app.create_app`). Imported when called: the sign-in
    layer (`pipeline.access`) uses the gateway's rate limits and errors, and the gateway's
    service uses sign-in, so importing the package must not import the app."""
    from .app import create_app as build

    return build(settings)


__all__ = ["create_app"]
