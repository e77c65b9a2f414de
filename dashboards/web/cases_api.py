"""Cases and alerts over HTTP, `/api/v1/...`, for the health authority's tracers.

    GET   /api/v1/cases?status=              the registered cases (tracers, admins)
    POST  /api/v1/cases                      register: {person_id, onset, status, note}
    PATCH /api/v1/cases/{case}               change: {status?, onset?, note?}
    GET   /api/v1/cases/{case}/contacts      its contact list, as the alerting job wrote it
    GET   /api/v1/alerts?venue=&area=&case=&status=   alerts in the caller's scope

A POST for a person who has an open case answers 200 with that case (201: a new one), so
a form sent twice registers one case. A case goes to the `cases` topic and is acknowledged
by the broker before the answer; the alerting job takes it from there.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from pipeline.access import Caller
from pipeline.access.http import current_caller
from pipeline.access.policy import require_case_management
from pipeline.access.reads import Reads
from pipeline.alerts.cases import CaseBook
from schemas.cases import Case, CaseStatus

router = APIRouter(prefix="/api/v1")


class NewCase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: str = Field(max_length=20)
    onset: date
    status: CaseStatus
    note: str = Field("", max_length=500)


class CaseChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: CaseStatus | None = None
    onset: date | None = None
    note: str | None = Field(None, max_length=500)


def book(request: Request) -> CaseBook:
    return request.app.state.cases


def reads(request: Request) -> Reads:
    return request.app.state.reads


def _case(case: Case) -> dict:
    return case.model_dump(mode="json", exclude={"schema_version"})


@router.get("/cases", summary="The registered cases (tracers)")
async def list_cases(status: CaseStatus | None = None, caller: Caller = Depends(current_caller),
                     cases: CaseBook = Depends(book)):
    require_case_management(caller)
    found = await run_in_threadpool(cases.cases)
    ordered = sorted(found.values(), key=lambda c: (c.registered_at, c.case_id), reverse=True)
    return {"rows": [_case(c) for c in ordered if status is None or c.status is status]}


@router.post("/cases", summary="Register a case (tracers)", status_code=201)
async def register_case(body: NewCase, response: Response, caller: Caller = Depends(current_caller),
                        cases: CaseBook = Depends(book), r: Reads = Depends(reads)):
    require_case_management(caller)
    case, created = await run_in_threadpool(cases.register, body.person_id, body.onset, body.status, body.note,
                                            by=caller.actor, known=r.person_known)
    if not created:
        response.status_code = 200
    return {"case": _case(case), "created": created}


@router.patch("/cases/{case_id}", summary="Change a case's status, onset or note (tracers)")
async def update_case(case_id: str, body: CaseChange, caller: Caller = Depends(current_caller),
                      cases: CaseBook = Depends(book)):
    require_case_management(caller)
    case = await run_in_threadpool(cases.update, case_id, by=caller.actor, status=body.status, onset=body.onset,
                                   note=body.note)
    return {"case": _case(case)}


@router.get("/cases/{case_id}/contacts", summary="A case's contact list (tracers)")
async def case_contacts(case_id: str, caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    return {"rows": (await run_in_threadpool(r.case_contacts, caller, case_id)).dicts()}


@router.get("/alerts", summary="Alerts at the venues the caller may see")
async def alerts(venue: str = "", area: str = "", case: str = "", status: str = "",
                 caller: Caller = Depends(current_caller), r: Reads = Depends(reads)):
    result = await run_in_threadpool(r.alerts, caller, venue=venue.strip(), area=area.strip(), case=case.strip(),
                                     status=status.strip())
    return {"rows": result.dicts()}
