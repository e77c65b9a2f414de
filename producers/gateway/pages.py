"""The web scanner pages: self check-in at /s/<venue code> (the poster's URL) and the
guard page at /guard. Plain HTML, CSS and JavaScript served by the gateway, nothing from
another site; the QR decoder is vendored (static/vendor/). Vietnamese first, English
beneath. Both pages post to the JSON API. Both carry the health declaration form (the
fixed list of symptoms, `schemas.declarations.Symptom`): the self check-in page offers it
once a day, the guard page after a scan, for that person.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from schemas.declarations import Symptom
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

# The fixed list, in its order (what a self declaration signs follows it): Vietnamese, English.
SYMPTOM_LABELS = {
    Symptom.fever: ("Sốt", "Fever"),
    Symptom.cough: ("Ho", "Cough"),
    Symptom.shortness_of_breath: ("Khó thở", "Shortness of breath"),
    Symptom.sore_throat: ("Đau họng", "Sore throat"),
    Symptom.loss_of_taste_or_smell: ("Mất vị giác hoặc khứu giác", "Loss of taste or smell"),
    Symptom.fatigue: ("Mệt mỏi", "Fatigue"),
    Symptom.muscle_pain: ("Đau nhức cơ", "Muscle pain"),
    Symptom.diarrhoea: ("Tiêu chảy", "Diarrhoea"),
}
assert list(SYMPTOM_LABELS) == list(Symptom), "every symptom needs its labels, in the list's order"


def declaration_fields() -> str:
    """The declaration form's fields (date, symptoms, contact with a case, travel), as HTML."""
    boxes = "\n".join(f'    <label class="check"><input type="checkbox" name="symptom" value="{s.value}"> '
                      f'{escape(vi)} <small>{escape(en)}</small></label>' for s, (vi, en) in SYMPTOM_LABELS.items())
    return f"""<label for="declared-on">Ngày khai báo <small>Date</small></label>
  <input id="declared-on" name="declared_on" type="date" required>
  <fieldset class="symptoms"><legend>Triệu chứng <small>Symptoms</small></legend>
{boxes}
  </fieldset>
  <label class="check"><input type="checkbox" id="contact-with-case" name="contact"> Tiếp xúc gần với ca bệnh
    <small>Close contact with a case</small></label>
  <label for="travel">Đi từ nơi khác đến: nơi nào? <small>Travel: where from? (leave empty if none)</small></label>
  <input id="travel" name="travel" maxlength="200" spellcheck="false">"""


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def page(name: str, status: int = 200, html_values: dict[str, str] | None = None, **values: str) -> HTMLResponse:
    """``values`` are escaped; ``html_values`` are the gateway's own HTML."""
    html = template(name).substitute({**{k: escape(v, quote=True) for k, v in values.items()},
                                      **(html_values or {})})
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
    return page("checkin.html", venue_name=label.name if label else "", config=config,
                html_values={"declaration_fields": declaration_fields()})


@router.get("/guard")
async def guard_page() -> HTMLResponse:
    return page("guard.html", html_values={"declaration_fields": declaration_fields()})
