"""`GET /alerts/{alert}`: the page a notification links to (SMS and webhook).

What the notification itself said, and no more: the venue, when the case (or cases) were
there, the advice, or that the alert was withdrawn. No case id, no person. It needs no
sign-in, since a venue's staff open it from an SMS on any phone; the id is not guessable
(derived from a random case id), and an alert nobody has confirmed yet is not shown.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.alerts.evaluate import moment
from pipeline.alerts.messages import RETRACTION_ADVICE, VIETNAM
from pipeline.warehouse.queries import load, run

router = APIRouter(include_in_schema=False)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))
SHOWN = {"confirmed", "notified", "retracted"}


def _page(html: str, nonce: str, status: int = 200) -> HTMLResponse:
    csp = (f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; base-uri 'none'; "
           "frame-ancestors 'none'; form-action 'none'")
    return HTMLResponse(html, status, headers={"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer",
                                               "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


def _local(value) -> str:
    return moment(value).astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(alert_id: str, request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(12)
    missing = "<!doctype html><meta charset='utf-8'><title>ravao</title><p>Không có cảnh báo này · No such alert.</p>"
    try:
        wanted = UUID(alert_id)
    except ValueError:
        return _page(missing, nonce, 404)
    reads = request.app.state.reads
    rows = (await run_in_threadpool(run, reads.warehouse, load("alert_notice"), {"alert": str(wanted)})).dicts()
    if not rows or rows[0]["status"] not in SHOWN:
        return _page(missing, nonce, 404)
    row = rows[0]
    settings = request.app.state.settings
    html = TEMPLATES.get_template("alert.html").render(
        nonce=nonce, venue=row["venue_name"] or "?", address=row["venue_address"], area=row["area_name"],
        retracted=row["status"] == "retracted", cluster=row["kind"] == "cluster", start=_local(row["first_presence"]),
        end=_local(row["last_presence"]), updated=_local(row["updated_at"]), advice=settings.notify_advice,
        retraction=RETRACTION_ADVICE)
    return _page(html, nonce)
