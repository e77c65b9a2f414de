"""The tier page, `/areas/{area}`, in a real browser: a commune, a district and a
provincial officer each sign in through the page, land on their area, and read exactly
what a recount of the base tables (`scans FINAL`, `venues FINAL`) gives, for the area
and for each area below it, by day, by hour and over 30 days; each is refused every other
area by URL (a neighbour, the areas above, one that does not exist: the same refusal) and
by link (every link of every page they can reach stays inside their area). Without a
session nothing is shown, and no page carries a person or a phone in full."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import (ADMIN, COMMUNE, COMMUNE_OFFICER, DISTRICT, DISTRICT_OFFICER, HOSPITAL_OWNER, OWNER,
                     PROVINCE, PROVINCE_OFFICER)
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import artifact, needs_chromium, sign_in_by_page

COUNTS = ("venues_scanned", "scans", "entries", "exits", "people", "scans_declared", "scans_with_symptoms")
RECOUNT = """
SELECT {group} AS at, uniqExact(venue_id) AS venues_scanned, count() AS scans,
       countIf(direction = 'in') AS entries, countIf(direction = 'out') AS exits,
       uniqExact(person_id) AS people, countIf(declaration != 'none') AS scans_declared,
       countIf(declaration = 'symptoms') AS scans_with_symptoms
FROM scans FINAL
WHERE has(area_path, {{area:String}}) AND toDate(scanned_at) BETWEEN {{first:Date}} AND {{last:Date}}
GROUP BY at
"""
REGISTERED = """
SELECT area_path[indexOf(area_path, {area:String}) + 1] AS child, count() AS venues
FROM venues FINAL
WHERE active AND NOT deleted AND has(area_path, {area:String})
GROUP BY child
"""
CHILD = "area_path[indexOf(area_path, {area:String}) + 1]"
OFFICERS = {COMMUNE_OFFICER: COMMUNE, DISTRICT_OFFICER: DISTRICT, PROVINCE_OFFICER: PROVINCE}
REFUSED_WORDS = "nằm ngoài phạm vi bạn được xem"


@pytest.fixture(scope="module")
def owners_known(web_directory, web_day):
    """Every venue in the directory, as the account follower has them in production (the
    idle venues' owner phones come from there, masked)."""
    for venue in web_day.venues[2:]:
        web_directory.apply_venue(venue.venue_id.encode(), venue.to_bytes())
    return web_directory


def recount(warehouse, area: str, first: date, last: date, group: str) -> dict:
    """The counts of the scans in the area from the base table, by ``group``."""
    found = warehouse.query(RECOUNT.format(group=group), {"area": area, "first": first, "last": last}).dicts()
    return {row.pop("at"): row for row in found}


def expected_tiers(warehouse, web_day, area: str, first: date, last: date) -> tuple[dict, dict]:
    """The area's own figures and each child's, recounted (children without a scan: zeros)."""
    own = recount(warehouse, area, first, last, "1").get(1, dict.fromkeys(COUNTS, 0))
    by_child = recount(warehouse, area, first, last, CHILD)
    registered = {r["child"]: r["venues"] for r in warehouse.query(REGISTERED, {"area": area}).dicts()}
    own["venues_registered"] = sum(registered.values())
    children = {a.area_id: {**dict.fromkeys(COUNTS, 0), **by_child.get(a.area_id, {}),
                            "venues_registered": registered.get(a.area_id, 0)}
                for a in web_day.areas if a.parent_id == area}
    return own, children


def written(text: str) -> int:
    """A number as the Vietnamese page writes it (``12.345``), share left off."""
    return int(text.split()[0].replace(".", ""))


def figures(page) -> dict[str, int]:
    return {el.get_attribute("data-count"): written(el.locator(".value").inner_text())
            for el in page.locator("#figures .figure").all()}


def rows_of(page, table: str, key: str) -> dict[str, dict[str, int]]:
    found = {}
    for row in page.locator(f"#{table} tbody tr").all():
        found[row.get_attribute(key)] = {cell.get_attribute("data-count"): written(cell.inner_text())
                                         for cell in row.locator("td[data-count]").all()}
    return found


def descendants(web_day, area: str) -> set[str]:
    return {a.area_id for a in web_day.areas if area in a.path}


def crawl(page, base: str, start: str, allowed: set[str]) -> int:
    """Open every link of every area page reachable from ``start`` (a language switch is
    opened, not followed further); each must answer, none may lead outside ``allowed``."""
    queue, seen, opened = [start], {start}, 0
    while queue:
        url = queue.pop()
        answer = page.request.get(base + url)
        opened += 1
        assert answer.status == 200, (url, answer.status)
        path = urlsplit(answer.url).path
        if path.startswith("/areas/"):
            assert path.split("/")[2] in allowed, (url, answer.url)
        if not path.startswith("/areas/") or "lang" in parse_qs(urlsplit(url).query):
            continue
        for href in re.findall(r'href="([^"]+)"', answer.text()):
            link = html.unescape(href)
            assert link.startswith("/") and not link.startswith("//"), (url, link)  # nothing off the site
            linked = urlsplit(link).path
            if linked.startswith("/areas/"):
                assert linked.split("/")[2] in allowed, (url, link)
            if link not in seen:
                seen.add(link)
                queue.append(link)
    return opened


@needs_chromium
@pytest.mark.parametrize("phone", list(OFFICERS), ids=["commune", "district", "province"])
def test_an_officer_sees_exactly_the_recount_of_their_area_and_nothing_else(
        web_base, web_day, web_warehouse, web_sms, owners_known, page, phone) -> None:
    area, day = OFFICERS[phone], web_day.day
    sign_in_by_page(page, web_base, phone, web_sms)
    assert page.url == f"{web_base}/areas/{area}"  # their own page, today's
    assert page.locator(".tabs a[aria-current]").inner_text() == "Hôm nay"

    page.goto(f"{web_base}/areas/{area}?day={day.isoformat()}")
    own, children = expected_tiers(web_warehouse, web_day, area, day, day)
    assert own["scans"] > 0 and figures(page) == own
    assert rows_of(page, "children", "data-area") == {a: {k: c[k] for k in ("venues_registered",) + COUNTS}
                                                      for a, c in children.items()}
    crumbs = page.locator(".crumbs li").all_inner_texts()
    assert crumbs[0] == next(a.name for a in web_day.areas if a.area_id == area)  # nothing above their own
    idle = page.locator("#idle tbody tr")
    assert idle.count() == sum(v.name.startswith("idle") and area in v.area_path for v in web_day.venues)
    assert set(page.locator("#idle td.phone").all_inner_texts()) == {"098****791"}
    page.screenshot(path=artifact(f"tiers-{area}"), full_page=True)

    page.goto(f"{web_base}/areas/{area}?view=hours&day={day.isoformat()}")
    hours = recount(web_warehouse, area, day, day, "toStartOfHour(scanned_at)")
    shown = rows_of(page, "series", "data-at")
    assert len(shown) == 24 and {at: row for at, row in shown.items() if row["scans"]} == {
        at.replace(" ", "T") + "+00:00": row for at, row in hours.items()}
    page.locator("#chart .u-over").wait_for()  # uPlot drew
    page.screenshot(path=artifact(f"tiers-{area}-hours"), full_page=True)

    page.goto(f"{web_base}/areas/{area}?view=days&day={day.isoformat()}")
    month_own, month_children = expected_tiers(web_warehouse, web_day, area, day - timedelta(days=29), day)
    assert figures(page) == month_own
    assert {a: r["scans"] for a, r in rows_of(page, "children", "data-area").items()} == {
        a: c["scans"] for a, c in month_children.items()}
    shown = rows_of(page, "series", "data-at")
    assert len(shown) == 30 and shown[day.isoformat()]["scans"] == month_own["scans"]
    assert sum(row["scans"] for row in shown.values()) == month_own["scans"]

    refusals = []
    for other in sorted({a.area_id for a in web_day.areas} - descendants(web_day, area)) + ["99999"]:
        answer = page.goto(f"{web_base}/areas/{other}?view=days&day={day.isoformat()}")
        assert answer.status == 403, other
        refusals.append(page.locator("#refusal").inner_text().replace(other, "…"))
        assert REFUSED_WORDS in refusals[-1] and page.locator(f".may-see a[href='/areas/{area}']").count() == 1
    assert len(set(refusals)) == 1  # an unknown area is refused in the very words of a real one
    if area != PROVINCE:
        page.screenshot(path=artifact(f"tiers-{area}-refused"))

    opened = crawl(page, web_base, f"/areas/{area}?day={day.isoformat()}", descendants(web_day, area))
    assert opened >= 3 * len(descendants(web_day, area))


@needs_chromium
def test_a_district_officer_goes_down_by_link_and_the_phone_width_page_reads(
        web_base, web_day, web_sms, owners_known, page) -> None:
    day = web_day.day.isoformat()
    sign_in_by_page(page, web_base, DISTRICT_OFFICER, web_sms,
                    next_path=quote(f"/areas/{DISTRICT}?view=hours&day={day}", safe="/"))
    page.click(f"#children tr[data-area='{COMMUNE}'] a")
    page.wait_for_url(f"{web_base}/areas/{COMMUNE}?view=hours&day={day}")  # one tier down, same view and day
    assert page.locator(".crumbs li").all_inner_texts() == ["Thủ Dầu Một", "Phú Cường"]
    page.click(".crumbs a")
    page.wait_for_url(f"{web_base}/areas/{DISTRICT}?view=hours&day={day}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{web_base}/areas/{DISTRICT}?day={day}")
    page.locator("#chart .u-over").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # wide tables scroll on their own
    page.screenshot(path=artifact("tiers-718-phone"), full_page=True)


# -- over HTTP --------------------------------------------------------------------------------

def signed_in_client(web_app, web_sms, phone: str) -> TestClient:
    client = TestClient(web_app)  # the served app's state (no second lifespan)
    web_sms.forget()
    assert client.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    assert client.post("/api/v1/session", json={"phone": phone, "code": web_sms.code_for(phone)}).status_code == 200
    return client


def test_without_a_session_no_tier_page_and_no_drill_down_is_shown(web_app, web_base, web_day) -> None:
    client = TestClient(web_app)
    for url in [f"/areas/{PROVINCE}", f"/areas/{DISTRICT}?view=days&day={web_day.day.isoformat()}",
                f"/areas/{COMMUNE}?view=hours"]:
        for forged in [None, "A" * 43]:
            client.cookies.clear()
            if forged:
                client.cookies.set("ravao_session", forged)
            answer = client.get(url, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next="), url
            assert "scans" not in answer.text.lower()


def test_a_tier_page_carries_no_personal_data_and_owner_phones_only_masked(
        web_app, web_base, web_day, web_sms, owners_known) -> None:
    client = signed_in_client(web_app, web_sms, PROVINCE_OFFICER)
    for view in ["today", "hours", "days"]:
        text = client.get(f"/areas/{PROVINCE}", params={"view": view, "day": web_day.day.isoformat()}).text
        assert "098****791" in text  # the idle venues' owner, masked
        for secret in [OWNER, HOSPITAL_OWNER, "Nguyễn Văn", *web_day.persons]:
            assert secret not in text, (view, secret[:4])
    idle = client.get(f"/api/v1/areas/{PROVINCE}/idle-venues").json()["rows"]
    assert idle and {row["owner_phone"] for row in idle} <= {"098****791", "098****111"}  # the hospital's too


def test_admins_see_every_area_and_are_told_when_one_does_not_exist(web_app, web_base, web_day, web_sms) -> None:
    client = signed_in_client(web_app, web_sms, ADMIN)
    page = client.get("/areas/25777", params={"day": web_day.day.isoformat()})
    assert page.status_code == 200 and page.text.count('class="crumbs"') == 1
    assert re.findall(r'<li><a href="/areas/(\d+)\?day=', page.text) == ["74", "719"]  # the whole way up
    missing = client.get("/areas/99999")
    assert missing.status_code == 404 and "99999" in missing.text
    assert client.get("/areas/74", params={"day": "2026-13-40"}).status_code == 422


def test_every_text_of_the_tier_pages_has_its_vietnamese() -> None:
    from dashboards.web import tiers, words
    from dashboards.web.site import HERE
    from schemas import VenueCategory

    texts = set(tiers.LABELS.values()) | set(tiers.HEADINGS.values()) | {c.value for c in VenueCategory}
    for template in ["tiers.html", "area_refused.html"]:
        text = (HERE / "templates" / template).read_text()
        texts |= set(re.findall(r'_\("([^"]+)"\)', text)) | set(re.findall(r"_\('([^']+)'\)", text))
    texts |= set(re.findall(r'say\("([^"]+)"', (HERE / "tiers.py").read_text()))
    assert len(texts) > 30 and not sorted(texts - set(words.vietnamese()))
