"""A venue's own page, for its owner and staff (and the officers above it, tracers, admins:
`policy.require_venue`).

    GET /venues/{id}                  who is inside now, the live feed, staff, devices, alerts
    GET /venues/{id}/feed             the live feed: server-sent events (`venue_feed`)
    GET /venues/{id}/poster.pdf       the A4 poster with the venue's signed QR    } the owner
    GET /venues/{id}/staff-cards.pdf  a card for each of its phones               } and admins

People are shown as `Reads` allows: masked, or in full (audited) for the staff of a
privileged venue. The feed's stream checks the session before it starts and again every
`RECHECK_SECONDS` (sign-out, expiry, a grant taken away end it), sends a heartbeat
comment every `HEARTBEAT_SECONDS`, and is told to reload when it falls behind
(`venue_feed.QUEUE_SIZE`) instead of being buffered without end.

Its events: ``status`` {live}, ``movement`` {kind, time, how, name, phone}, and the last
one a stream sends, ``reload`` (fell behind), ``signed-out`` or ``denied``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException

from pipeline.access.audit import AuditUnavailable
from pipeline.access.caller import Caller, Role
from pipeline.access.http import session_token, sign_in
from pipeline.access.policy import Denied, require_staff
from pipeline.warehouse.base import WarehouseError

from . import words
from .site import language, local_time, page_caller, render
from .venue_feed import Movement, VenueFeed

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

RECHECK_SECONDS = 5.0  # the session and the scope are asked again this often
HEARTBEAT_SECONDS = 15  # a comment line, so that proxies and browsers keep the stream open
SEND_TIMEOUT_SECONDS = 10.0  # a browser that stops reading is let go
GUARD_PAGE = "/guard"  # on the gateway (RAVAO_PUBLIC_URL): where a staff card leads


@dataclass(frozen=True)
class _Signboard:
    """What a poster shows of a venue (`producers.posters.PosterVenue`)."""

    venue_id: str
    name: str
    address: str
    privileged: bool


def _movement_words(say) -> dict[str, str]:
    return {"entry": say("Entry"), "exit": say("Exit"), "next_scan": say("left: scanned in elsewhere"),
            "timeout": say("left: past the longest stay"), "live": say("Live"),
            "waiting": say("Waiting for the feed…"), "reload": say("The feed fell behind: reload the page."),
            "signed-out": say("Signed out: sign in again to see the feed."),
            "denied": say("This venue is no longer yours to see."),
            "lost": say("The feed was interrupted: trying again…"), "again": say("Reload")}


# How the warehouse's words are shown (alerts, devices): English here, Vietnamese in words/.
LABELS = {"proposed": "Proposed", "confirmed": "Confirmed", "notified": "Notified", "retracted": "Withdrawn",
          "venue": "A case was here", "cluster": "Cluster of cases", "guard_phone": "Guard phone",
          "reader_station": "Reader station", "entry": "Entries only", "exit": "Exits only",
          "auto": "Entry or exit"}


@router.get("/venues/{venue_id}", response_class=HTMLResponse)
def venue_page(venue_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    reads = request.app.state.reads
    sheet = reads.venue_sheet(caller, venue_id)  # the scope check first: Denied is the 403 page
    inside = reads.venue_inside(caller, venue_id).dicts()
    phones = request.app.state.sign_in.directory.phones_at_venue(venue_id)
    staff = reads.venue_staff(caller, venue_id, phones)
    devices = reads.venue_devices(caller, venue_id).dicts()
    alerts = reads.alerts(caller, venue=venue_id).dicts()
    say = words.translator(language(request))
    data = {"feed": f"/venues/{venue_id}/feed", "words": _movement_words(say)}
    return render(request, "venue.html", caller, title=sheet["name"], venue=sheet, inside=inside, staff=staff,
                  devices=devices, alerts=alerts, labels={k: say(v) for k, v in LABELS.items()}, manages=_manages(caller, reads, venue_id), data=data,
                  in_full=bool(sheet["privileged"]) and venue_id in caller.venues())


def _manages(caller: Caller, reads, venue_id: str) -> bool:
    try:
        require_staff(caller, reads.venue(venue_id))
    except Denied:
        return False
    return True


# --- the live feed ---------------------------------------------------------------------

@router.get("/venues/{venue_id}/feed")
async def venue_feed(venue_id: str, request: Request) -> Response:
    service = sign_in(request)
    token = session_token(request)
    caller = service.sessions.resolve(token)
    if caller is None:
        raise HTTPException(401, "sign in to watch the feed")
    reads = request.app.state.reads
    await run_in_threadpool(reads.feed_people, caller, venue_id, ())  # the scope check: Denied is a 403
    feed: VenueFeed = request.app.state.venue_feed
    say = words.translator(language(request))
    return EventSourceResponse(_stream(feed, reads, service, token, caller, venue_id, say),
                               ping=HEARTBEAT_SECONDS, send_timeout=SEND_TIMEOUT_SECONDS,
                               headers={"Cache-Control": "no-store"})


def _event(event: str, data: dict | None = None) -> dict:
    return {"event": event, "data": json.dumps(data or {}, ensure_ascii=False)}


async def _stream(feed: VenueFeed, reads, service, token: str, caller: Caller, venue_id: str, say):
    watcher = feed.watch(venue_id)
    loop = asyncio.get_running_loop()
    try:
        said_live = feed.live
        yield _event("status", {"live": said_live})
        next_check = loop.time() + RECHECK_SECONDS
        while True:
            if watcher.overflowed.is_set():
                yield _event("reload")
                return
            try:
                first = await asyncio.wait_for(watcher.queue.get(), 1.0)
            except TimeoutError:
                first = None
            if feed.live != said_live:
                said_live = feed.live
                yield _event("status", {"live": said_live})
            recheck = loop.time() >= next_check
            if recheck:
                next_check = loop.time() + RECHECK_SECONDS
                caller = service.sessions.resolve(token)
                if caller is None:
                    yield _event("signed-out")
                    return
            if first is None and not recheck:
                continue
            # The people are read, and the scope asked again, for the batch (empty at a recheck).
            batch = [first] if first is not None else []
            while not watcher.queue.empty():
                batch.append(watcher.queue.get_nowait())
            try:
                people = await _people(reads, caller, venue_id, batch)
            except Denied:
                yield _event("denied")
                return
            for movement in batch:
                yield _event("movement", _shown(movement, people.get(movement.person_id), say))
    finally:
        feed.stop_watching(watcher)


async def _people(reads, caller: Caller, venue_id: str, batch: list[Movement]) -> dict[str, dict[str, str]]:
    """The batch's people as the caller may see them (an empty batch: the scope check
    alone). Without the audit trail or the warehouse, the movements go out without them."""
    try:
        return await run_in_threadpool(reads.feed_people, caller, venue_id, [m.person_id for m in batch])
    except (AuditUnavailable, WarehouseError) as exc:
        log.warning("the live feed of a venue shows movements without people: %s", type(exc).__name__)
        return {}


def _shown(movement: Movement, person: dict[str, str] | None, say) -> dict[str, str]:
    person = person or {}
    return {"kind": movement.kind, "time": local_time(movement.at, "%H:%M:%S"), "how": movement.how,
            "name": person.get("full_name") or say("(name not available)"), "phone": person.get("phone", "")}


# --- to print --------------------------------------------------------------------------

def _print_of(request: Request, caller: Caller, venue_id: str) -> dict:
    reads = request.app.state.reads
    sheet = reads.venue_sheet(caller, venue_id)
    require_staff(caller, reads.venue(venue_id))
    return sheet


def _pdf(render_to, name: str) -> Response:
    with tempfile.TemporaryDirectory(prefix="ravao-print-") as folder:
        out = Path(folder) / "print.pdf"
        render_to(out)
        body = out.read_bytes()
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/venues/{venue_id}/poster.pdf")
def poster(venue_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    from pipeline.keys import load_codec
    from producers.posters import render_venue_poster

    sheet = _print_of(request, caller, venue_id)
    settings = request.app.state.settings
    codec = load_codec(settings)
    board = _Signboard(venue_id, sheet["name"], sheet["address"], bool(sheet["privileged"]))
    return _pdf(lambda out: render_venue_poster(board, sheet["area_names"], codec.venue_url(
        venue_id, settings.public_url), codec.encode(venue_id), out), f"poster-{venue_id}.pdf")


@router.get("/venues/{venue_id}/staff-cards.pdf")
def staff_cards(venue_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    from producers.staff_cards import StaffCard, render_staff_cards

    sheet = _print_of(request, caller, venue_id)
    phones = request.app.state.sign_in.directory.phones_at_venue(venue_id)
    staff = request.app.state.reads.venue_staff(caller, venue_id, phones)
    if not staff:
        raise LookupError(f"venue {venue_id} has no active phone to print a card for")
    url = request.app.state.settings.public_url.rstrip("/") + GUARD_PAGE
    cards = [StaffCard(sheet["name"], person["phone"], person["role"] == Role.venue_owner) for person in staff]
    return _pdf(lambda out: render_staff_cards(cards, url, out), f"staff-cards-{venue_id}.pdf")
