"""The web scanner pages in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): enrolling a phone and self check-in from a poster's page, a USB reader
typing into the guard page, and a real camera scan from a fake video of a rendered
personal QR. What the pages sent is read back from scans.raw on the real broker."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import segno

from conftest import TEST_QR_KEYS
from gateway_helpers import OWNER, TEXTED, Stack, published, register, start_gateway, stop_gateway
from phone_helpers import attended_code, sms_code
from pipeline.privacy import mask_phone
from pipeline.registry import Registry
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import topics_for
from schemas.qrcode import display_form
from schemas.scans import ScanSource

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000
SELF_WINDOW = 20  # seconds
STAFF = "0912345678"  # a staff phone of the market

pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason="needs Debian's chromium (make setup installs it: apt-get install chromium)")]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("web-scanner")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"w{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    stack = register(settings)
    registry = Registry(settings, kafka_bootstrap)
    registry.add_staff_phone(stack.market, STAFF)
    registry.close()
    return stack


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-scanner-logs")


@pytest.fixture(scope="module")
def base(stack: Stack, logs: Path) -> Iterator[str]:
    # A short clock skew: a phone clock an hour off is far outside it.
    process, url = start_gateway(stack.settings, logs, RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS=str(SELF_WINDOW))
    try:
        yield url
    finally:
        assert stop_gateway(process) == 0


@pytest.fixture(scope="module")
def playwright() -> Iterator:
    with playwright_api.sync_playwright() as p:
        yield p


@pytest.fixture
def page(playwright) -> Iterator:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        page = browser.new_context(locale="vi-VN").new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        browser.close()


def scans_of(stack: Stack, person: int) -> list[tuple[str, object]]:
    return [(k, s) for k, s in published(stack.settings) if s.person_qr.replace(" ", "") == stack.codes[person]]


KEY_IN_INDEXEDDB = """
() => new Promise((resolve, reject) => {
  const open = indexedDB.open("ravao", 1);
  open.onsuccess = () => {
    const get = open.result.transaction("phone").objectStore("phone").get("enrolled");
    get.onsuccess = async () => {
      const key = get.result;
      let exported = true;
      try { await crypto.subtle.exportKey("pkcs8", key.privateKey); } catch (e) { exported = false; }
      resolve({ keyId: key.keyId, extractable: key.privateKey.extractable, exported: exported,
                type: key.privateKey.type, curve: key.privateKey.algorithm.namedCurve });
    };
    get.onerror = () => reject(get.error);
  };
  open.onerror = () => reject(open.error);
})
"""


def test_a_person_saves_their_code_enrols_the_phone_by_sms_then_checks_in_and_out_with_one_tap(
        stack: Stack, base: str, logs: Path, page) -> None:
    page.goto(f"{base}/s/{stack.market_code}")
    assert page.locator("#venue-name").inner_text() == "Chợ Thủ Dầu Một"
    page.locator("#register").wait_for(state="visible")

    code = stack.codes[TEXTED]
    page.fill("#person-code", code[:-1] + ("B" if code[-1] != "B" else "C"))  # one symbol mistyped
    page.click("#save-code")
    page.locator("#result[data-kind=refused]").wait_for()
    assert "Đọc sai mã" in page.inner_text("#result")

    page.fill("#person-code", display_form(code).lower())  # as printed, in groups, typed on a phone
    page.click("#save-code")
    page.locator("#enrol").wait_for(state="visible")  # a code alone does not check in: enrol first
    offset = (logs / "gateway.log").stat().st_size
    page.click("#send-sms")
    page.locator("#sms-sent").wait_for(state="visible")
    assert mask_phone(OWNER) in page.inner_text("#sms-sent") and OWNER not in page.content()
    page.fill("#enrol-code", sms_code(logs / "gateway.log", mask_phone(OWNER), offset))
    page.click("#enrol-button")
    page.locator("#checkin").wait_for(state="visible")
    assert page.inner_text("#my-code").replace(" ", "") == code
    kept = page.evaluate(KEY_IN_INDEXEDDB)
    assert kept["type"] == "private" and kept["curve"] == "P-256"
    assert kept["extractable"] is False and kept["exported"] is False  # the key cannot leave the browser

    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    assert "ĐÃ VÀO" in page.inner_text("#result") and "Checked in" in page.inner_text("#result")

    page.reload()  # the code and the key stay on the phone
    page.locator("#checkin").wait_for(state="visible")
    page.click("#btn-out")
    page.locator("#result[data-kind=ok]").wait_for()
    assert "ĐÃ RA" in page.inner_text("#result")

    sent = scans_of(stack, TEXTED)
    assert [s.direction.value for _, s in sent] == ["in", "out"]
    assert all(k == stack.persons[TEXTED] and s.source is ScanSource.self_checkin for k, s in sent)
    assert all(s.venue_qr == stack.market_code for _, s in sent)


def test_another_phone_with_a_copy_of_the_code_is_refused_and_offered_enrolment(
        stack: Stack, base: str, page, playwright) -> None:
    enrol_page(page, base, stack, 0)  # the owner's phone
    other = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        thief = other.new_context(locale="vi-VN").new_page()
        thief.set_default_timeout(TIMEOUT_MS)
        thief.goto(f"{base}/s/{stack.market_code}")
        thief.fill("#person-code", stack.codes[0])  # a photo of the card
        thief.click("#save-code")
        thief.locator("#enrol").wait_for(state="visible")
        assert thief.locator("#checkin").is_hidden()
        # Even with a key of its own, forced into the page as if enrolled, it is refused.
        thief.evaluate("""async () => {
          const made = await PhoneKey.create();
          await PhoneKey.keep(localStorage.getItem("ravao.personCode"), "%s", "%s", made.keyPair);
        }""" % (stack.persons[0], "A" * 22))
        thief.reload()
        thief.locator("#checkin").wait_for(state="visible")
        thief.click("#btn-in")
        thief.locator("#result[data-kind=refused]").wait_for()
        assert "enrol" in thief.inner_text("#result")
        thief.locator("#enrol").wait_for(state="visible")  # offered enrolment
    finally:
        other.close()
    assert not [s for _, s in scans_of(stack, 0) if s.source is ScanSource.self_checkin]
    page.click("#btn-in")  # the owner's phone still checks in
    page.locator("#result[data-kind=ok]").wait_for()


def test_the_guard_logs_in_and_a_usb_reader_types_codes_into_the_field(stack: Stack, base: str, page) -> None:
    page.goto(f"{base}/guard")
    page.click("#device-login summary")  # a bound device's log-in, below the phone sign-in
    page.fill("#device-id", stack.guard[0])
    page.fill("#device-token", "not-the-token")
    page.click("#login-button")
    page.locator("#login-error").wait_for(state="visible")
    assert "Sai mã bí mật" in page.inner_text("#login-error")

    page.fill("#device-token", stack.guard[1])
    page.click("#login-button")
    page.locator("#scanner").wait_for(state="visible")
    assert page.inner_text("#venue-name") == "Chợ Thủ Dầu Một"
    assert "Cổng vào" in page.inner_text("#mode-fixed")  # an entry gate: no direction to choose

    # A keyboard-emulating reader: it types the code into the focused field and presses Enter.
    page.locator("#reader-input").focus()
    page.keyboard.type(stack.codes[0])
    page.keyboard.press("Enter")
    page.locator("#result[data-kind=ok]").wait_for()
    assert "VÀO" in page.inner_text("#result-title") and page.inner_text("#result-name") == "Nguyễn V** A*"
    assert page.input_value("#reader-input") == ""

    page.keyboard.type(stack.codes[1][:30])  # the reader lost the end of the code
    page.keyboard.press("Enter")
    page.locator("#result[data-kind=refused]").wait_for()
    assert "Mã bị thiếu" in page.inner_text("#result")

    sent = [(k, s) for k, s in scans_of(stack, 0) if s.device_id == stack.guard[0]]
    assert len(sent) == 1 and sent[0][0] == stack.persons[0] and sent[0][1].source is ScanSource.staff
    assert not [s for _, s in published(stack.settings) if s.person_qr == stack.codes[1][:30]]
    assert page.locator("#recent li").count() == 2


def write_y4m(path: Path, text: str, frames: int = 10, width: int = 640, height: int = 480) -> None:
    """A few frames of a QR code on white, as a raw YUV 4:2:0 video Chromium can play as its
    fake camera."""
    qr = segno.make(text, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    scale, border = 9, 4
    size = (len(matrix) + 2 * border) * scale
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xeb" * (width * height))  # white (235)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                y0, x0 = top + (r + border) * scale, left + (c + border) * scale
                for y in range(y0, y0 + scale):
                    luma[y * width + x0: y * width + x0 + scale] = b"\x10" * scale  # black (16)
    chroma = b"\x80" * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


def test_a_guard_phone_reads_a_personal_qr_with_its_camera(stack: Stack, base: str, playwright,
                                                           tmp_path: Path) -> None:
    video = tmp_path / "card.y4m"
    write_y4m(video, stack.codes[1])
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        page = browser.new_context(locale="vi-VN").new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/guard")
        page.click("#device-login summary")
        page.fill("#device-id", stack.hospital_guard[0])
        page.fill("#device-token", stack.hospital_guard[1])
        page.click("#login-button")
        page.locator("#scanner").wait_for(state="visible")
        page.click("#camera-toggle")
        page.locator("#result[data-kind=ok]").wait_for(timeout=60_000)
        # A hospital is privileged: the guard sees the full name.
        assert page.inner_text("#result-name") == "Trần Thị Bích"
    finally:
        browser.close()
    sent = [(k, s) for k, s in scans_of(stack, 1) if s.device_id == stack.hospital_guard[0]]
    assert len(sent) == 1, "the camera's code should be read and sent once, though it stays in view"
    assert sent[0][1].source is ScanSource.staff and sent[0][1].device_id == stack.hospital_guard[0]


def test_a_scan_the_guard_page_cannot_send_is_kept_and_sent_again_with_the_same_event_id(
        stack: Stack, base: str, page) -> None:
    page.goto(f"{base}/guard")
    page.click("#device-login summary")  # a bound device's log-in, below the phone sign-in
    page.fill("#device-id", stack.station[0])
    page.fill("#device-token", stack.station[1])
    page.click("#login-button")
    page.locator("#scanner").wait_for(state="visible")
    page.route("**/api/v1/scans*", lambda route: route.abort())  # the network is down
    page.route("**/api/v1/scans/batch", lambda route: route.abort())
    page.locator("#reader-input").focus()
    page.keyboard.type(stack.codes[2])
    page.keyboard.press("Enter")
    page.locator("#result[data-kind=pending]").wait_for()
    assert "1" in page.inner_text("#pending")
    pending = page.evaluate("JSON.parse(localStorage.getItem('ravao.guard.pending'))")
    assert len(pending) == 1
    page.unroute("**/api/v1/scans*")
    page.unroute("**/api/v1/scans/batch")  # back: the page sends it by itself within 5 s
    page.locator("#pending").wait_for(state="hidden", timeout=TIMEOUT_MS)
    assert page.evaluate("JSON.parse(localStorage.getItem('ravao.guard.pending'))") == []
    sent = [s for k, s in published(stack.settings) if str(s.event_id) == pending[0]["event_id"]]
    assert len(sent) == 1 and sent[0].device_id == stack.station[0]


# This phone's clock is an hour slow: every Date the page makes is shifted.
SLOW_CLOCK = """
(() => {
  const Real = Date, shift = -3600 * 1000;
  class Slow extends Real {
    constructor(...args) { if (args.length) super(...args); else super(Real.now() + shift); }
    static now() { return Real.now() + shift; }
  }
  window.Date = Slow;
})();
"""


def enrol_page(page, base: str, stack: Stack, person: int) -> None:
    """Save the person's code on the page and enrol the phone with a code a guard gave."""
    page.goto(f"{base}/s/{stack.market_code}")
    page.locator("#register").wait_for(state="visible")
    page.fill("#person-code", stack.codes[person])
    page.click("#save-code")
    page.locator("#enrol").wait_for(state="visible")
    with httpx.Client(base_url=base, timeout=60) as http:
        code = attended_code(http, stack.bearer(stack.guard), stack.codes[person])
    page.fill("#enrol-code", code)
    page.click("#enrol-button")
    page.locator("#checkin").wait_for(state="visible")


def test_a_phone_with_a_wrong_clock_still_checks_in_dated_on_arrival(stack: Stack, base: str, page) -> None:
    page.add_init_script(SLOW_CLOCK)
    enrol_page(page, base, stack, 1)
    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    sent = [s for _, s in scans_of(stack, 1) if s.source is ScanSource.self_checkin]
    assert len(sent) == 1  # refused for its time, then the same event re-dated by the gateway's clock
    assert abs(datetime.now(timezone.utc) - sent[0].scanned_at) < timedelta(minutes=1)


def test_a_checkin_the_phone_cannot_send_is_kept_and_sent_later_with_the_time_it_was_tapped(
        stack: Stack, base: str, page) -> None:
    enrol_page(page, base, stack, 1)
    before = len(scans_of(stack, 1))
    page.route("**/api/v1/checkins", lambda route: route.abort())  # the network is down
    tapped = datetime.now(timezone.utc)
    page.click("#btn-out")
    page.locator("#result[data-kind=pending]").wait_for()
    # Longer offline than the clock skew (SELF_WINDOW): a signed check-in keeps its time.
    page.wait_for_timeout((SELF_WINDOW + 5) * 1000)
    kept = page.evaluate("JSON.parse(localStorage.getItem('ravao.checkin.pending'))")
    assert len(kept) == 1
    page.unroute("**/api/v1/checkins")
    page.click("#retry")  # or wait: the page tries again by itself
    page.locator("#result[data-kind=ok]").wait_for()
    sent = scans_of(stack, 1)
    assert len(sent) == before + 1
    assert str(sent[-1][1].event_id) == kept[0]["event_id"]
    assert abs(sent[-1][1].scanned_at - tapped) < timedelta(seconds=5)  # when tapped, not when sent
    assert page.evaluate("JSON.parse(localStorage.getItem('ravao.checkin.pending'))") == []


def test_a_guard_signs_in_with_the_staff_phone_scans_and_gives_a_visitor_an_enrolment_code(
        stack: Stack, base: str, logs: Path, page, playwright) -> None:
    page.goto(f"{base}/guard")
    page.fill("#staff-phone", STAFF)
    offset = (logs / "gateway.log").stat().st_size
    page.click("#send-code")
    page.locator("#code-form").wait_for(state="visible")
    page.fill("#signin-code", sms_code(logs / "gateway.log", mask_phone(STAFF), offset))
    page.click("#signin-button")
    page.locator("#scanner").wait_for(state="visible")
    assert page.inner_text("#venue-name") == "Chợ Thủ Dầu Một"
    assert page.evaluate("localStorage.getItem('ravao.guard.credentials')").find("token") == -1  # a cookie, no token

    page.locator("#reader-input").focus()
    page.keyboard.type(stack.codes[2])
    page.keyboard.press("Enter")
    page.locator("#result[data-kind=ok]").wait_for()
    assert page.inner_text("#result-name") == "Lê H**** C****"
    staff = [s for _, s in scans_of(stack, 2) if s.source is ScanSource.staff]
    assert len(staff) == 1 and staff[0].device_id not in {stack.guard[0], stack.hospital_guard[0], stack.station[0]}

    # A visitor with no phone number on record: the guard checks the card against an ID.
    registry = Registry(stack.settings, stack.settings.kafka_bootstrap)
    visitor = registry.add_person(full_name="Phạm Thị Dung")
    registry.close()
    card = stack.codec.encode(visitor.person_id)
    page.click("#enrol-visitor summary")
    page.fill("#visitor-card", card)
    page.check("#id-checked")
    page.click("#visitor-button")
    page.locator("#visitor-result").wait_for(state="visible")
    assert page.inner_text("#visitor-name") == "Phạm T** D***"
    code = page.inner_text("#visitor-code").strip()
    assert len(code) == 6 and code.isdigit()

    other = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        phone = other.new_context(locale="vi-VN").new_page()  # the visitor's own phone
        phone.set_default_timeout(TIMEOUT_MS)
        phone.goto(f"{base}/s/{stack.market_code}")
        phone.fill("#person-code", card)
        phone.click("#save-code")
        phone.locator("#enrol").wait_for(state="visible")
        phone.fill("#enrol-code", code)
        phone.click("#enrol-button")
        phone.locator("#checkin").wait_for(state="visible")
        phone.click("#btn-in")
        phone.locator("#result[data-kind=ok]").wait_for()
    finally:
        other.close()
    mine = [s for _, s in published(stack.settings) if s.person_qr == card]
    assert len(mine) == 1 and mine[0].source is ScanSource.self_checkin


RED = "rgb(198, 40, 40)"  # app.css: .declaration.symptoms
GREEN = "rgb(27, 138, 58)"  # .declaration.ok


def test_a_person_declares_symptoms_on_the_self_page_and_the_guard_page_shows_symptoms_in_red(
        stack: Stack, base: str, page, playwright) -> None:
    registry = Registry(stack.settings, stack.settings.kafka_bootstrap)
    person = registry.add_person(full_name="Đỗ Văn Giang")
    registry.close()
    card = stack.codec.encode(person.person_id)
    page.goto(f"{base}/s/{stack.market_code}")
    page.fill("#person-code", card)
    page.click("#save-code")
    page.locator("#enrol").wait_for(state="visible")
    with httpx.Client(base_url=base, timeout=60) as http:
        page.fill("#enrol-code", attended_code(http, stack.bearer(stack.guard), card))
    page.click("#enrol-button")
    page.locator("#checkin").wait_for(state="visible")

    # Offered once a day, beside the check-in buttons: today's date, the fixed list.
    page.locator("#declare").wait_for(state="visible")
    assert page.input_value("#declared-on") == datetime.now().date().isoformat()
    assert "Sốt" in page.inner_text("#declare") and "Fever" in page.inner_text("#declare")
    page.check("input[name=symptom][value=fever]")
    page.check("input[name=symptom][value=cough]")
    page.fill("#travel", "Đà Nẵng")
    page.click("#declare-button")
    page.locator("#result[data-kind=ok]").wait_for()
    page.locator("#result-declaration[data-status=symptoms]").wait_for()
    assert page.locator("#declare").is_hidden()
    page.reload()
    page.locator("#checkin").wait_for(state="visible")
    assert page.locator("#declare").is_hidden()  # declared today: not offered again
    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    assert page.get_attribute("#result-declaration", "data-status") == "symptoms"  # the self page shows it

    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        guard = browser.new_context(locale="vi-VN").new_page()
        guard.set_default_timeout(TIMEOUT_MS)
        guard.goto(f"{base}/guard")
        guard.click("#device-login summary")
        guard.fill("#device-id", stack.guard[0])
        guard.fill("#device-token", stack.guard[1])
        guard.click("#login-button")
        guard.locator("#scanner").wait_for(state="visible")
        guard.locator("#reader-input").focus()
        guard.keyboard.type(card)
        guard.keyboard.press("Enter")
        guard.locator("#result[data-kind=ok]").wait_for()
        badge = guard.locator("#result-declaration")
        badge.wait_for(state="visible")
        assert badge.get_attribute("data-status") == "symptoms" and "symptoms" in badge.inner_text()
        assert badge.evaluate("node => getComputedStyle(node).backgroundColor") == RED
        assert "Đà Nẵng" not in guard.content() and "fever" not in badge.inner_text().lower()  # never the answers

        # The guard declares for the person just scanned (who now reports no symptoms).
        guard.locator("#declare-for").wait_for(state="visible")
        guard.click("#declare-for summary")
        guard.click("#declare-button")
        guard.locator("#result-declaration[data-status=ok]").wait_for()
        guard.locator("#reader-input").focus()
        guard.keyboard.type(card)
        guard.keyboard.press("Enter")
        guard.locator("#recent li").nth(1).wait_for()  # the second scan's answer is in
        guard.locator("#result-declaration[data-status=ok]").wait_for()
        assert badge.evaluate("node => getComputedStyle(node).backgroundColor") == GREEN
    finally:
        browser.close()


def test_the_self_page_declaration_can_be_skipped_for_the_day(stack: Stack, base: str, page) -> None:
    enrol_page(page, base, stack, 2)
    page.locator("#declare").wait_for(state="visible")
    page.click("#declare-skip")
    assert page.locator("#declare").is_hidden()
    page.reload()
    page.locator("#checkin").wait_for(state="visible")
    assert page.locator("#declare").is_hidden()
    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    assert page.get_attribute("#result-declaration", "data-status") == "none"
