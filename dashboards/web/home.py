"""The site's door: `/` (to the signed-in caller's own page), `/sign-in`, `/sign-out`.

Sign-in is the phone and one-time code of `pipeline.access.http`: the page's script
asks `/api/v1/session/code`, then `/api/v1/session`, which sets the session cookie, and
goes on to the page it was sent from (a path on this site only).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.access.caller import Caller
from pipeline.access.http import COOKIE, SignIn, session_token, sign_in

from .site import home_of, local_path, page_caller, render, same_origin

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: Caller = Depends(page_caller)) -> Response:
    page = home_of(caller)
    if page is not None:
        return RedirectResponse(page, 303)
    return render(request, "nothing.html", caller)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the parameter's name in URLs
    return render(request, "sign_in.html", None, next_path=local_path(next))


@router.post("/sign-out")
def sign_out(request: Request, lang: str = Form("")) -> Response:
    same_origin(request)
    service: SignIn = sign_in(request)
    service.sessions.end(session_token(request))
    response = RedirectResponse("/sign-in" + (f"?lang={lang}" if lang in ("vi", "en") else ""), 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=service.settings.cookie_secure)
    return response
