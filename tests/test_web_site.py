"""What every page of `ravao web` shares: sign-in through the page, the redirect of a
page asked for without a session, the strict content security policy, the language
switch, the error page for a refusal, and no redirect off the site."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from dashboards.web import words
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import COMMUNE_OFFICER
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import artifact, needs_chromium, sign_in_by_page


def test_a_page_without_a_session_redirects_to_sign_in_and_keeps_where_it_was_going(web_base) -> None:
    answer = httpx.get(f"{web_base}/?lang=en", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2F%3Flang%3Den"
    assert httpx.get(f"{web_base}/", follow_redirects=False).headers["location"] == "/sign-in?next=%2F"


def test_every_answer_has_the_strict_policy(web_base) -> None:
    for url in ["/sign-in", "/static/app.css", "/static/sign_in.js", "/nowhere"]:
        headers = httpx.get(f"{web_base}{url}").headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp, url
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", url


def test_the_sign_in_page_is_vietnamese_first_and_english_on_request(web_base) -> None:
    vietnamese = httpx.get(f"{web_base}/sign-in").text
    assert "Đăng nhập" in vietnamese and 'lang="vi"' in vietnamese
    english = httpx.get(f"{web_base}/sign-in?lang=en")
    assert "Send me a code" in english.text and 'lang="en"' in english.text
    assert "ravao_lang=en" in english.headers["set-cookie"]
    kept = httpx.get(f"{web_base}/sign-in", cookies={"ravao_lang": "en"}).text
    assert "Send me a code" in kept
    assert 'lang="vi"' in httpx.get(f"{web_base}/sign-in?lang=xx").text  # an unknown language: the default


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_sign_in_never_leads_off_the_site(web_base, elsewhere) -> None:
    text = httpx.get(f"{web_base}/sign-in", params={"next": elsewhere}).text
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', text, re.S).group(1)
    assert json.loads(data)["next"] == "/"


def test_the_words_have_no_conflicting_translations() -> None:
    table = words.vietnamese()
    assert table["Sign in"] == "Đăng nhập"
    assert words.translator("en")("Area {area}", area="74") == "Area 74"
    assert words.translator("vi")("Area {area}", area="74") == "Địa bàn 74"


@needs_chromium
def test_an_officer_signs_in_through_the_page_and_is_taken_where_they_were_going(web_base, page, web_sms) -> None:
    page.goto(f"{web_base}/sign-in")
    page.screenshot(path=artifact("sign-in"))
    page.fill("#phone", "12345")
    page.click("#ask button[type=submit]")
    page.wait_for_selector("#message:has-text('di động')")  # not a phone: said in Vietnamese
    sign_in_by_page(page, web_base, COMMUNE_OFFICER, web_sms, next_path="/nowhere")
    assert page.url == f"{web_base}/nowhere"
    assert page.locator("header .actor").inner_text().startswith("090")  # signed in: the masked phone
    assert "Không tìm thấy" in page.content()
    page.click("text=Đăng xuất")
    page.wait_for_url(f"{web_base}/sign-in?lang=vi")
    page.goto(f"{web_base}/")
    assert "/sign-in?next=" in page.url
