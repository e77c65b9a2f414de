"""The web scanner pages: self check-in at /s/<venue code> (the poster's URL) and the
guard page at /guard. Plain HTML, CSS and JavaScript served by the gateway, nothing from
another site; the QR decoder is vendored (static/vendor/). Vietnamese first, English
beneath. Both pages post to the JSON API.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from schemas.qrcode import InvalidCode

from .api import gateway
from .service import Gateway

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# The pages run no inline script and load nothing from elsewhere; the camera is allowed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def page(name: str, status: int = 200, **values: str) -> HTMLResponse:
    html = template(name).substitute({k: escape(v, quote=True) for k, v in values.items()})
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@router.get("/")
async def index() -> RedirectResponse:
    return RedirectResponse("/guard", status_code=307)


@router.get("/s/{venue_code}")
async def self_checkin_page(venue_code: str, gw: Gateway = Depends(gateway)) -> HTMLResponse:
    try:
        venue = gw.codec.decode(venue_code, expect="V")
    except InvalidCode as error:
        return page("invalid_venue.html", status=404, reason=error.reason.value)
    label = gw.directory.venue_labels.get(venue.entity_id)
    # The page keeps an unsent check-in only as long as the gateway would take its time: a
    # check-in signed by the enrolled phone counts within the worker's lateness.
    config = json.dumps({"venueCode": venue.text, "venueId": venue.entity_id,
                         "maxAgeSeconds": gw.settings.accepted_lateness_hours * 3600})
    return page("checkin.html", venue_name=label.name if label else "", config=config)


@router.get("/guard")
async def guard_page() -> HTMLResponse:
    return page("guard.html")
