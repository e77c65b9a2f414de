"""The tier page, `/areas/{area_id}`: an area's counts for the officers above it (and for
tracers and admins, who see every area).

    GET /areas/74                       today
    GET /areas/74?view=hours            today hour by hour
    GET /areas/74?view=days&day=2026-11-30   the 30 days up to that day

One window per view (a day, or the 30 days up to it): the area's figures, a chart over
time (hours, or days), the areas one tier below with the same figures (each a link to its
own page, keeping the view and the day), and the venues with no scan in the window, their
owners' phones masked. Every figure comes from the count views through `Reads`, which
refuses an area outside the caller's scope before reading anything; so does this page,
in the reader's language, with the pages the caller may open instead.

Days are the warehouse's days (UTC, as the count views are keyed): a day on this page
runs from 07:00 to 07:00 Vietnam time, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from pipeline.access import Caller
from pipeline.access.policy import Denied, Place
from pipeline.access.reads import Reads
from pipeline.warehouse.queries import QueryInputError

from . import words
from .site import language, local_time, nav, page_caller, render

router = APIRouter(include_in_schema=False)

VIEWS = ("today", "hours", "days")
DAYS = 30
COUNTS = ("venues_scanned", "scans", "entries", "exits", "people", "scans_declared", "scans_with_symptoms")
CHARTED = ("scans", "entries", "exits", "people")


@dataclass
class TierWindow:
    """What the page shows for one area, one view and one day."""

    area: Place
    trail: list[Place]
    view: str
    day: date
    first_day: date
    own: dict[str, Any]
    children: list[dict[str, Any]]
    series: list[dict[str, Any]]  # one row per hour or day, every one of them (zeros too)
    idle: list[dict[str, Any]]
    area_names: dict[str, str] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(), timezone.utc)


def the_day(text: str | None, today: date) -> date:
    """``?day=YYYY-MM-DD``, up to today; today without one."""
    if not text:
        return today
    try:
        asked = date.fromisoformat(text)
    except ValueError:
        raise QueryInputError(f"day {text[:20]!r}: give a day as YYYY-MM-DD") from None
    if asked > today:
        raise QueryInputError(f"day {asked.isoformat()}: give a day up to today ({today.isoformat()})")
    return asked


def _zeros(moment) -> dict[str, Any]:
    return {"at": moment, **{name: 0 for name in COUNTS}}


def _every(rows: list[dict[str, Any]], key: str, moments: list) -> list[dict[str, Any]]:
    found = {row[key]: row for row in rows}
    return [{**_zeros(m), **found.get(_key_text(m), found.get(m, {})), "at": m} for m in moments]


def _key_text(moment) -> str:
    """The hour or day as the engine writes it in JSON."""
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat()


def read_window(reads: Reads, caller: Caller, area_id: str, view: str, day: date) -> TierWindow:
    """Every read of the page, scope first (the trail's read refuses a foreign area)."""
    trail = reads.area_trail(caller, area_id)
    first_day = day - timedelta(days=DAYS - 1) if view == "days" else day
    window = TierWindow(trail[-1], trail, view, day, first_day, {}, [], [], [])
    counts = reads.area_counts(caller, area_id, first_day, day).dicts()
    window.own = next((row for row in counts if row["area_id"] == area_id), {"area_id": area_id})
    window.own.setdefault("venues_registered", 0)
    window.children = [row for row in counts if row["area_id"] != area_id]
    if view == "days":
        days = [first_day + timedelta(days=n) for n in range(DAYS)]
        window.series = _every(reads.area_days(caller, area_id, first_day, day).dicts(), "day", days)
    else:
        hours = [window.start + timedelta(hours=n) for n in range(24)]
        window.series = _every(reads.area_hours(caller, area_id, window.start, window.end).dicts(), "hour", hours)
    window.idle = reads.venues_without_scans_on_days(caller, area_id, window.first_day, window.day).dicts()
    window.area_names = {place.place_id: place.name for place in trail}
    window.area_names.update({row["area_id"]: row.get("name") or row["area_id"] for row in window.children})
    for area in {row["area_id"] for row in window.idle} - set(window.area_names):
        place = reads.area(area)  # below the caller's area, as each venue listed is
        window.area_names[area] = place.name if place else area
    return window


def area_url(area_id: str, view: str, day: str | None) -> str:
    query = {"view": view} if view != "today" else {}
    if day:
        query["day"] = day
    return f"/areas/{area_id}" + (f"?{urlencode(query)}" if query else "")


def chart_data(window: TierWindow, say) -> dict[str, Any]:
    """What `static/tiers.js` draws: times in seconds since 1970, a series per count."""
    moments = [m if isinstance(m, datetime) else datetime.combine(m, time(), timezone.utc)
               for m in (row["at"] for row in window.series)]
    return {"view": window.view, "x": [int(m.timestamp()) for m in moments],
            "time_label": say("Hour") if window.view != "days" else say("Day"),
            "series": [{"key": key, "label": say(LABELS[key]), "values": [row[key] for row in window.series]}
                       for key in CHARTED]}


LABELS = {"venues_registered": "Venues registered", "venues_scanned": "Venues with scans", "scans": "Scans",
          "entries": "Entries", "exits": "Exits", "people": "People",
          "scans_declared": "Scans with a current declaration", "scans_with_symptoms": "Scans with symptoms"}
HEADINGS = {**LABELS, "scans_declared": "Declared", "scans_with_symptoms": "Symptoms"}  # narrow table columns


def moment_words(window: TierWindow, moment) -> str:
    if isinstance(moment, datetime):
        return local_time(moment, "%H:%M") + "–" + local_time(moment + timedelta(hours=1), "%H:%M")
    return moment.strftime("%d/%m/%Y")


@router.get("/areas/{area_id}", response_class=HTMLResponse)
async def area_page(request: Request, area_id: str, view: str = "today", day: str | None = None,
                    caller: Caller = Depends(page_caller)) -> Response:
    say = words.translator(language(request))
    view = view if view in VIEWS else "today"
    today = datetime.now(timezone.utc).date()
    shown_day = the_day(day, today)
    try:
        window = await run_in_threadpool(read_window, request.app.state.reads, caller, area_id, view, shown_day)
    except Denied:
        return refused(request, caller, area_id)
    kept_day = shown_day.isoformat() if day else None
    return render(request, "tiers.html", caller, title=window.area.name or area_id, w=window, labels=LABELS,
                  headings=HEADINGS,
                  counts=COUNTS, views=VIEWS, kept_day=kept_day, today=today.isoformat(), area_url=area_url,
                  moment_words=moment_words, data=chart_data(window, say),
                  window_words=_window_words(window, say))


def _window_words(window: TierWindow, say) -> str:
    start, end = local_time(window.start, "%H:%M %d/%m/%Y"), local_time(window.end, "%H:%M %d/%m/%Y")
    return say("From {start} to {end}, Vietnam time", start=start, end=end)


def refused(request: Request, caller: Caller, area_id: str) -> Response:
    """The refusal, in the reader's words, the same for an area that does not exist: with
    the pages the caller may open instead (their own)."""
    say = words.translator(language(request))
    return render(request, "area_refused.html", caller, status=403, title=say("Not allowed"),
                  message=say("Area {area} is outside what you may see.", area=area_id[:40]),
                  may_see=nav(caller, say))
