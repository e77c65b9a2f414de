"""What every page of `ravao web` shares: templates, words, the signed-in caller, headers.

    @router.get("/areas/{area_id}", response_class=HTMLResponse)
    async def tiers(request: Request, caller: Caller = Depends(page_caller)):
        ...
        return render(request, "tiers.html", caller, title=_("Tiers"), rows=rows)

Pages are rendered on the server (Jinja2, autoescaped) and run light JavaScript from
`static/` only: the content security policy allows no inline script or style and nothing
from another site. Data a script needs travels in ``<script type="application/json">``
(`|tojson` escapes it). Words are written in English in the templates, ``{{ _("Scans") }}``,
and shown in Vietnamese unless the reader chose English (`words`).

A page asked for without a session redirects to `/sign-in`; a refusal (`policy.Denied`)
is the error page with the same words the API gives (`app.install_error_handlers`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from starlette.routing import Match
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from pipeline.access.caller import Caller, Role
from pipeline.access.http import SignIn, session_token, sign_in
from pipeline.access.policy import Denied

from . import words

HERE = Path(__file__).parent
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
LANGUAGE_COOKIE = "ravao_lang"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class SignInNeeded(Exception):
    """A page was asked for without a (live) session: the answer is a redirect."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def page_caller(request: Request, service: SignIn = Depends(sign_in)) -> Caller:
    """The signed-in caller of a page; without one, a redirect to the sign-in page."""
    caller = service.sessions.resolve(session_token(request))
    if caller is None:
        raise SignInNeeded(_way_back(request))
    return caller


def _way_back(request: Request) -> str:
    """Where to go after signing in: the page asked for; for a form sent when the session
    had ended, the page at the form's address if there is one (a case's), else the home
    page: a form's action is no page to come back to (it would answer 405)."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    as_page = {**request.scope, "method": "GET"}
    if any(route.matches(as_page)[0] is Match.FULL for route in request.app.router.routes):
        return request.url.path
    return "/"


def same_origin(request: Request) -> None:
    """A form posted from another site is refused (`Denied`), whatever its cookies: the
    session cookie is SameSite=Strict already; this is the second lock. Browsers say where
    a request comes from in ``Sec-Fetch-Site``, older ones in ``Origin`` (``null`` under
    our referrer policy); a request with neither (a script) is let through."""
    fetched_from = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if fetched_from in ("cross-site", "same-site") or (
            fetched_from is None and origin not in (None, "null")
            and urlsplit(origin).netloc != request.headers.get("host", request.url.netloc)):
        raise Denied("this form was sent from another site; open the page here and send it again")


def sign_in_url(next_path: str) -> str:
    return "/sign-in?next=" + quote(local_path(next_path), safe="")


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (not ``//elsewhere`` or ``https://...``).
    No control character either: browsers drop tabs and newlines from a URL before they
    read it, so ``/<tab>/elsewhere`` is ``//elsewhere`` to them."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        return default
    return value


def language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return wanted if wanted in words.LANGUAGES else words.DEFAULT


# --- how values are written on a page ------------------------------------------------------

def local_time(value: datetime | str | None, form: str = "%H:%M %d/%m/%Y") -> str:
    """A moment in Vietnam time, as people there read it; also the warehouse's text form
    of a UTC time (``2026-03-01 08:00:00.000``), as its JSON answers give it."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(VIETNAM).strftime(form)


def duration(seconds: float | int | None) -> str:
    """``8100`` → ``2 h 15 min``; under a minute, ``45 s``."""
    if seconds is None or seconds == "":
        return ""
    seconds = int(round(float(seconds)))  # 64-bit integers come quoted in the warehouse's JSON
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@pass_context
def number(context, value: float | int | None) -> str:
    """``12345`` → ``12.345`` on a Vietnamese page, ``12,345`` on an English one."""
    written = f"{round(float(value or 0)):,}"
    return written.replace(",", ".") if context.get("lang", words.DEFAULT) == "vi" else written


def share(part: float | int | None, whole: float | int | None) -> str:
    """``part`` of ``whole`` as a percentage, ``—`` when there is no whole."""
    if not whole:
        return "—"
    return f"{100 * (part or 0) / whole:.0f}%"


TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
TEMPLATES.filters.update(local_time=local_time, duration=duration, number=number)
TEMPLATES.globals.update(share=share)


def nav(caller: Caller, say) -> list[tuple[str, str]]:
    """The pages the caller's grants open, in the order they are shown."""
    links: list[tuple[str, str]] = []
    for grant in caller.grants:
        if grant.role is Role.area_officer:
            links.append((say("Area {area}", area=grant.area_id), f"/areas/{grant.area_id}"))
        elif grant.venue_id:
            links.append((say("Venue {venue}", venue=grant.venue_id[:8]), f"/venues/{grant.venue_id}"))
    if caller.has(Role.tracer, Role.admin):
        links.append((say("Tracing"), "/trace"))
    if caller.is_admin:
        links.append((say("Operations"), "/ops"))
    return list(dict.fromkeys(links))


def home_of(caller: Caller) -> str | None:
    """The page a caller lands on after signing in: their first grant's."""
    links = nav(caller, lambda text, **_: text)
    return links[0][1] if links else None


def _with_query(request: Request, **values: str) -> str:
    """This page again with ``values`` in its query; the site's home when its path would
    read as another site (``//elsewhere``: any address of ours may start so)."""
    url = request.url.include_query_params(**values)
    return local_path(url.path) + "?" + url.query


def render(request: Request, template: str, caller: Caller | None, *, status: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    say = words.translator(lang)
    path = request.url.path
    html = TEMPLATES.get_template(template).render(
        _=say, lang=lang, caller=caller, nav=nav(caller, say) if caller else [], path=path,
        here=path + (f"?{request.url.query}" if request.url.query else ""),
        switch_url=_with_query(request, lang="en" if lang == "vi" else "vi"), **context)
    response = HTMLResponse(html, status, headers={"Cache-Control": "no-store"})
    if request.query_params.get("lang") == lang:  # a chosen language is kept
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/")
    return response
