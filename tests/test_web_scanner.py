"""The web scanner pages in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): self check-in from a poster's page, a USB reader typing into the guard
page, and a real camera scan from a fake video of a rendered personal QR. What the
pages sent is read back from scans.raw on the real broker."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno

from conftest import TEST_QR_KEYS
from gateway_helpers import Stack, published, register, start_gateway, stop_gateway
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

pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason="needs Debian's chromium (make setup installs it: apt-get install chromium)")]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("web-scanner")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"w{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return register(settings)


@pytest.fixture(scope="module")
def base(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A short self check-in window, so that a page giving up an unsent check-in is seen quickly.
    process, url = start_gateway(stack.settings, tmp_path_factory.mktemp("web-scanner-logs"),
                                 RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS=str(SELF_WINDOW))
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


def test_a_person_saves_their_code_once_then_checks_in_and_out_with_one_tap(stack: Stack, base: str, page) -> None:
    page.goto(f"{base}/s/{stack.market_code}")
    assert page.locator("#venue-name").inner_text() == "Chợ Thủ Dầu Một"
    page.locator("#register").wait_for(state="visible")

    code = stack.codes[2]
    page.fill("#person-code", code[:-1] + ("B" if code[-1] != "B" else "C"))  # one symbol mistyped
    page.click("#save-code")
    page.locator("#result[data-kind=refused]").wait_for()
    assert "Đọc sai mã" in page.inner_text("#result")

    page.fill("#person-code", display_form(code).lower())  # as printed, in groups, typed on a phone
    page.click("#save-code")
    page.locator("#checkin").wait_for(state="visible")
    assert page.inner_text("#my-code").replace(" ", "") == code

    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    assert "ĐÃ VÀO" in page.inner_text("#result") and "Checked in" in page.inner_text("#result")

    page.reload()  # the code stays on the phone
    page.locator("#checkin").wait_for(state="visible")
    page.click("#btn-out")
    page.locator("#result[data-kind=ok]").wait_for()
    assert "ĐÃ RA" in page.inner_text("#result")

    sent = scans_of(stack, 2)
    assert [s.direction.value for _, s in sent] == ["in", "out"]
    assert all(k == stack.persons[2] and s.source is ScanSource.self_checkin for k, s in sent)
    assert all(s.venue_qr == stack.market_code for _, s in sent)


def test_the_guard_logs_in_and_a_usb_reader_types_codes_into_the_field(stack: Stack, base: str, page) -> None:
    page.goto(f"{base}/guard")
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

    sent = scans_of(stack, 0)
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


def save_code(page, base: str, stack: Stack, person: int) -> None:
    page.goto(f"{base}/s/{stack.market_code}")
    page.locator("#register").wait_for(state="visible")
    page.fill("#person-code", stack.codes[person])
    page.click("#save-code")
    page.locator("#checkin").wait_for(state="visible")


def test_a_phone_with_a_wrong_clock_still_checks_in_dated_on_arrival(stack: Stack, base: str, page) -> None:
    page.add_init_script(SLOW_CLOCK)
    save_code(page, base, stack, 0)
    page.click("#btn-in")
    page.locator("#result[data-kind=ok]").wait_for()
    sent = [s for _, s in scans_of(stack, 0) if s.source is ScanSource.self_checkin]
    assert len(sent) == 1  # refused for its time, then the same event dated by the gateway
    assert abs(datetime.now(timezone.utc) - sent[0].scanned_at) < timedelta(minutes=1)


def test_a_checkin_that_cannot_be_sent_in_time_is_given_up_and_the_person_taps_again(
        stack: Stack, base: str, page) -> None:
    save_code(page, base, stack, 1)
    before = len(scans_of(stack, 1))
    page.route("**/api/v1/checkins", lambda route: route.abort())  # the network is down
    page.click("#btn-out")
    page.locator("#result[data-kind=pending]").wait_for()
    # The gateway takes a check-in dated at most SELF_WINDOW seconds from its arrival: the
    # page stops resending it before that, and says so.
    page.locator("#result[data-kind=refused]").wait_for(timeout=(SELF_WINDOW + 15) * 1000)
    assert "tap again" in page.inner_text("#result")
    page.unroute("**/api/v1/checkins")
    page.click("#btn-out")
    page.locator("#result[data-kind=ok]").wait_for()
    assert len(scans_of(stack, 1)) == before + 1
