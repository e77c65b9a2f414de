"""The read API, `/api/v1/...`: what a signed-in caller may read, as JSON.

    GET /api/v1/areas/{area}/counts?from_day=&to_day=   tier counts of an area and its children
    GET /api/v1/areas/{area}/hours?from=&to=            one area's counts hour by hour
    GET /api/v1/areas/{area}/idle-venues?from=&to=      venues with no scan in the window
    GET /api/v1/venues/{venue}/visits?from=&to=         a venue's visits, people masked or in full
    GET /api/v1/venues/{venue}/inside                   who is inside now
    GET /api/v1/persons/{person}/visits?case=&from=&to= a person's visits (tracers)
    GET /api/v1/trace/{person}?case=&names=             F1 (and F2) contacts (tracers)
    GET /api/v1/audit?person=&actor=                    the audit trail (admins)

Times as the command line takes them (`2026-03-01T08:00+07:00`, `now-14d`). Every answer
is `{"rows": [...]}`; a refusal is 403 with what the caller may see instead, the same
for a place that does not exist; a read in full whose audit row cannot be written is 503.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from pipeline.access import Caller
from pipeline.access.http import current_caller
from pipeline.access.reads import Reads
from pipeline.warehouse.base import Result
from pipeline.warehouse.queries import parse_duration, parse_time

router = APIRouter(prefix="/api/v1")


def reads(request: Request) -> Reads:
    return request.app.state.reads


def _time(text: str, now: datetime) -> datetime:
    return parse_time(text, now)


def _rows(result: Result) -> dict[str, Any]:
    return {"rows": result.dicts()}


async def _run(function, *args, **kwargs) -> dict[str, Any]:
    # The warehouse client blocks: run it off the event loop.
    return _rows(await run_in_threadpool(function, *args, **kwargs))


@router.get("/areas/{area_id}/counts", summary="Tier counts of an area and its children")
async def area_counts(area_id: str, from_day: str = Query("now-1d"), to_day: str = Query("now"),
                      caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    now = datetime.now(timezone.utc)
    return await _run(r.area_counts, caller, area_id, _time(from_day, now).date(), _time(to_day, now).date())


@router.get("/areas/{area_id}/hours", summary="One area's counts hour by hour")
async def area_hours(area_id: str, start: str = Query("now-1d", alias="from"), end: str = Query("now", alias="to"),
                     caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    now = datetime.now(timezone.utc)
    return await _run(r.area_hours, caller, area_id, _time(start, now), _time(end, now))


@router.get("/areas/{area_id}/idle-venues", summary="Active venues of an area with no scan in the window")
async def idle_venues(area_id: str, start: str = Query("now-1d", alias="from"), end: str = Query("now", alias="to"),
                      caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    now = datetime.now(timezone.utc)
    return await _run(r.venues_without_scans, caller, area_id, _time(start, now), _time(end, now))


@router.get("/venues/{venue_id}/visits", summary="A venue's visits, people masked unless the policy says in full")
async def venue_visits(venue_id: str, start: str = Query("now-1d", alias="from"), end: str = Query("now", alias="to"),
                       case: str | None = None, caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    now = datetime.now(timezone.utc)
    return await _run(r.venue_visits, caller, venue_id, _time(start, now), _time(end, now), purpose=case)


@router.get("/venues/{venue_id}/inside", summary="Who is inside a venue now")
async def venue_inside(venue_id: str, case: str | None = None, caller: Caller = Depends(current_caller),
                       r: Reads = Depends(reads)):
    return await _run(r.venue_inside, caller, venue_id, purpose=case)


@router.get("/persons/{person_id}/visits", summary="A person's visits (tracers, for a case)")
async def person_visits(person_id: str, case: str | None = None, start: str = Query("now-14d", alias="from"),
                        end: str = Query("now", alias="to"), caller: Caller = Depends(current_caller),
                        r: Reads = Depends(reads)):
    now = datetime.now(timezone.utc)
    return await _run(r.person_visits, caller, person_id, _time(start, now), _time(end, now), purpose=case)


@router.get("/trace/{person_id}", summary="A case's contacts, F1 and F2 (tracers, for a case)")
async def trace(person_id: str, case: str | None = None, start: str = Query("now-14d", alias="from"),
                end: str = Query("now", alias="to"), min_overlap: str = "15m", depth: int = Query(1, ge=1, le=2),
                names: bool = False, caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    from pipeline.warehouse.trace import TraceRequest

    now = datetime.now(timezone.utc)
    request = TraceRequest(person=person_id, start=_time(start, now), end=_time(end, now),
                           min_overlap_seconds=parse_duration(min_overlap), depth=depth)
    return await _run(r.trace, caller, request, purpose=case, with_names=names)


@router.get("/audit", summary="The audit trail (administrators)")
async def audit(person: str = "", actor: str = "", caller: Caller = Depends(current_caller),
                r: Reads = Depends(reads)):
    return await _run(r.audit_trail, caller, person=person, actor=actor)
