"""Serving `ravao web` to a real browser in the tests: the app on a loopback port in a
thread of the test process (over the test's own warehouse and account directory), an SMS
sender that keeps the codes it sent, and signing in through the sign-in page.

    sms = KeptSms()
    with served(create_app(settings, warehouse=wh, sign_in=SignIn(settings, directory, sms=sms))) as base:
        page = browser.new_page()
        sign_in_by_page(page, base, "0901000001", sms)   # lands on the caller's own page
        page.screenshot(path=artifact("tiers-commune"))

Screenshots go to ``RAVAO_TEST_ARTIFACTS`` (default ``.cache/test-artifacts/``), kept after
the run for people to look at (`artifact`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from pipeline.access.http import COOKIE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000
needs_chromium = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                    reason="needs Debian's chromium (make test installs it: apt-get install chromium)")


class KeptSms:
    """An SMS sender that keeps what it sent, for a test to read the code from."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        with self._lock:
            self.sent.append((phone, text))

    def code_for(self, phone: str, timeout: float = 10.0) -> str:
        """The newest code sent to ``phone`` (codes are sent just after the answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                texts = [text for to, text in self.sent if to == phone]
            if texts:
                return re.search(r"\b(\d{6})\b", texts[-1]).group(1)
            time.sleep(0.05)
        raise AssertionError(f"no code was sent to {phone} within {timeout} s")

    def forget(self) -> None:
        with self._lock:
            self.sent.clear()


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` served on a free loopback port until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="web-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def sign_in_by_page(page, base: str, phone: str, sms: KeptSms, next_path: str = "/") -> None:
    """Sign in through the sign-in page as a person would; returns on the page it leads to."""
    sms.forget()
    page.goto(f"{base}/sign-in?next={next_path}")
    page.fill("#phone", phone)
    page.click("#ask button[type=submit]")
    page.wait_for_selector("#code", state="visible", timeout=TIMEOUT_MS)
    page.fill("#code", sms.code_for(phone))
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.click("#enter button[type=submit]")


def api_session(base: str, phone: str, sms: KeptSms) -> dict[str, str]:
    """Signed in through the API, as the sign-in page's script does: the session cookie."""
    sms.forget()
    assert httpx.post(f"{base}/api/v1/session/code", json={"phone": phone}).status_code == 202
    answer = httpx.post(f"{base}/api/v1/session", json={"phone": phone, "code": sms.code_for(phone)})
    assert answer.status_code == 200, answer.text
    return {COOKIE: answer.cookies[COOKIE]}


def with_session(page, base: str, cookies: dict[str, str]):
    page.context.add_cookies([{"name": k, "value": v, "url": base} for k, v in cookies.items()])
    return page


def artifact(name: str) -> str:
    """Where a screenshot called ``name`` goes (a PNG kept after the run)."""
    folder = Path(os.environ.get("RAVAO_TEST_ARTIFACTS", Path(__file__).parent.parent / ".cache" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{name}.png")


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) per test, Vietnamese like most readers; CSP
    violations and script errors fail the test."""
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" and "Content Security Policy" in m.text else None)
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


__all__ = ["browser", "page", "playwright"]  # the fixtures: `from web_helpers import *`
