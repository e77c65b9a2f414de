"""Venue posters and personal cards: every format scans back to the payload it was given."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader

from producers.posters import (
    MIN_POSTER_SYMBOL_MM,
    POSTER_INSTRUCTIONS,
    PRIVILEGED_NOTICE,
    QUIET_ZONE,
    person_card_layout,
    render_person_card,
    render_venue_poster,
    venue_poster_layout,
)
from schemas.ids import new_id
from schemas.qrcode import QrCodec, display_form
from schemas.registry import Venue

SVG = "{http://www.w3.org/2000/svg}"
PUBLIC_URL = "http://127.0.0.1:8080"
AREA_NAMES = ["Phường Phú Cường", "Thành phố Thủ Dầu Một", "Tỉnh Bình Dương"]
PT = 72 / 25.4  # PDF points per mm


@pytest.fixture
def codec() -> QrCodec:
    return QrCodec({"KB": b"k" * 32})


def make_venue(**changes) -> Venue:
    fields = dict(venue_id=new_id("V"), name="Chợ Thủ Dầu Một", address="Số 1 Đường Bạch Đằng",
                  area_id="25741", area_path=("74", "718", "25741"), category="market",
                  default_stay_minutes=60, max_stay_minutes=240, owner_phone="0981234791")
    return Venue(**(fields | changes))


def poster(codec: QrCodec, out: Path, venue: Venue | None = None) -> tuple[Venue, str, str]:
    """Renders a poster to ``out``; returns the venue, its URL and its code."""
    venue = venue or make_venue()
    url, code = codec.venue_url(venue.venue_id, PUBLIC_URL), codec.encode(venue.venue_id)
    render_venue_poster(venue, AREA_NAMES, url, code, out)
    return venue, url, code


def card(codec: QrCodec, out: Path) -> str:
    """Renders a card to ``out``; returns the person's code."""
    person_id = new_id("P")
    code = codec.encode(person_id)
    render_person_card(person_id, "Nguyễn V** A*", code, out)
    return code


def scan(image: Image.Image) -> str:
    barcodes = zxingcpp.read_barcodes(image)
    assert len(barcodes) == 1
    assert barcodes[0].format == zxingcpp.BarcodeFormat.QRCode
    assert barcodes[0].ec_level in ("M", "Q", "H")  # M at least; segno raises it when free
    return barcodes[0].text


def svg_qr_matrix(path: Path) -> tuple[list[list[int]], float]:
    """The module matrix (quiet zone included) drawn by the SVG's rects, and mm per module."""
    group = ET.parse(path).getroot().find(f"{SVG}g[@id='qr']")
    scale = float(group.get("transform").split("scale(")[1].rstrip(")"))
    rects = [(int(r.get("x")), int(r.get("y")), int(r.get("width"))) for r in group.iter(f"{SVG}rect")]
    size = max(y for _, y, _ in rects) + 1 + QUIET_ZONE
    matrix = [[0] * size for _ in range(size)]
    for x, y, width in rects:
        for column in range(x, x + width):
            matrix[y][column] = 1
    return matrix, scale


def segno_matrix(qr: segno.QRCode) -> list[list[int]]:
    return [[int(bool(m)) for m in row] for row in qr.matrix_iter(scale=1, border=QUIET_ZONE)]


def paint(matrix: list[list[int]], pixels: int = 8) -> Image.Image:
    """A raster of the SVG's QR drawn from its rects, since no SVG renderer is installed."""
    image = Image.new("L", (len(matrix) * pixels,) * 2, 255)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle((x * pixels, y * pixels, (x + 1) * pixels - 1, (y + 1) * pixels - 1), fill=0)
    return image


def pdf_text_and_qr(path: Path) -> tuple[str, str, tuple[float, float]]:
    page = PdfReader(path).pages[0]
    images = page.images
    assert len(images) == 1
    size = (float(page.mediabox.width) / PT, float(page.mediabox.height) / PT)
    return page.extract_text(), scan(images[0].image), size


def test_poster_png_scans_back_to_the_venue_url(codec, tmp_path):
    venue, url, code = poster(codec, tmp_path / "poster.png")
    with Image.open(tmp_path / "poster.png") as image:
        assert image.size == (1240, 1754)  # A4 at 150 dpi
        assert scan(image) == url
    decoded = codec.decode(url, expect="V")
    assert decoded.entity_id == venue.venue_id and decoded.text == code


def test_card_png_scans_back_to_the_compact_code(codec, tmp_path):
    code = card(codec, tmp_path / "card.png")
    with Image.open(tmp_path / "card.png") as image:
        assert image.size == (1011, 638)  # 85.6 x 54 mm at 300 dpi
        text = scan(image)
    assert text == code
    assert codec.decode(text, expect="P").text == code


def test_poster_svg_draws_the_qr_of_the_url(codec, tmp_path):
    out = tmp_path / "poster.svg"
    _, url, code = poster(codec, out)
    root = ET.parse(out).getroot()
    assert root.get("width") == "210.0mm" and root.get("height") == "297.0mm"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Chợ Thủ Dầu Một" in texts and display_form(code) in texts
    matrix, module_mm = svg_qr_matrix(out)
    assert matrix == segno_matrix(segno.make(url, error="m"))
    assert (len(matrix) - 2 * QUIET_ZONE) * module_mm >= MIN_POSTER_SYMBOL_MM - 0.01
    assert scan(paint(matrix)) == url


def test_card_svg_draws_the_qr_of_the_code(codec, tmp_path):
    out = tmp_path / "card.svg"
    code = card(codec, out)
    root = ET.parse(out).getroot()
    assert root.get("width") == "85.6mm" and root.get("height") == "54.0mm"
    matrix, _ = svg_qr_matrix(out)
    assert matrix == segno_matrix(segno.make(code, error="m", mode="alphanumeric"))
    assert codec.decode(scan(paint(matrix)), expect="P").text == code


def test_poster_pdf_has_the_vietnamese_text_and_a_scannable_qr(codec, tmp_path):
    out = tmp_path / "poster.pdf"
    _, url, code = poster(codec, out)
    text, scanned, size = pdf_text_and_qr(out)
    assert size == pytest.approx((210, 297), abs=0.1)
    for line in ("QUÉT MÃ QR KHI RA VÀO", "Chợ Thủ Dầu Một", "Số 1 Đường Bạch Đằng",
                 ", ".join(AREA_NAMES), display_form(code), *POSTER_INSTRUCTIONS):
        assert line in text
    assert PRIVILEGED_NOTICE not in text
    assert scanned == url


def test_card_pdf_is_id1_sized_with_the_name_and_a_scannable_code(codec, tmp_path):
    out = tmp_path / "card.pdf"
    code = card(codec, out)
    text, scanned, size = pdf_text_and_qr(out)
    assert size == pytest.approx((85.6, 54), abs=0.1)
    assert "Thẻ QR cá nhân — ravao" in text and "Nguyễn V** A*" in text
    assert scanned == code


def test_privileged_venue_poster_says_personal_data_is_shown_in_full(codec, tmp_path):
    out = tmp_path / "poster.pdf"
    poster(codec, out, make_venue(category="hospital", privileged=True))
    assert PRIVILEGED_NOTICE in PdfReader(out).pages[0].extract_text()


def test_poster_qr_is_at_least_14_cm_wide_with_its_quiet_zone(codec):
    venue = make_venue()
    layout = venue_poster_layout(venue, AREA_NAMES, codec.venue_url(venue.venue_id, PUBLIC_URL),
                                 codec.encode(venue.venue_id))
    symbol_mm = (layout.qr.modules - 2 * QUIET_ZONE) * layout.qr.module
    assert symbol_mm >= MIN_POSTER_SYMBOL_MM - 1e-9
    assert layout.qr.modules == layout.qr.qr.symbol_size(scale=1, border=0)[0] + 2 * QUIET_ZONE


def test_long_names_are_shrunk_or_cut_and_still_fit_the_page(codec, tmp_path):
    # The layout refuses overlaps and overflow itself; this feeds it the longest fields.
    venue = make_venue(name=("Bệnh viện Đa khoa Tỉnh Bình Dương " * 6)[:200],
                       address=("Khu phố Đông " * 24)[:300],
                       privileged=True)
    url = codec.venue_url(venue.venue_id, "https://ravao.binhduong.gov.vn/quet-ma-qr-ra-vao")
    code = codec.encode(venue.venue_id)
    layout = venue_poster_layout(venue, AREA_NAMES * 3, url, code)
    assert any(line.text.endswith("…") for line in layout.lines)
    render_venue_poster(venue, AREA_NAMES * 3, url, code, tmp_path / "long.png")
    with Image.open(tmp_path / "long.png") as image:
        assert scan(image) == url


def test_card_uses_alphanumeric_mode(codec):
    person_id = new_id("P")
    layout = person_card_layout(person_id, "N*", codec.encode(person_id))
    assert layout.qr.qr.mode == "alphanumeric"


def test_card_refuses_another_persons_code(codec, tmp_path):
    with pytest.raises(ValueError, match="not P"):
        render_person_card(new_id("P"), "N*", codec.encode(new_id("P")), tmp_path / "card.pdf")


@pytest.mark.parametrize("name", ["poster.jpg", "poster", "poster.pdf.txt"])
def test_unsupported_suffix_is_refused_with_the_supported_ones(codec, tmp_path, name):
    with pytest.raises(ValueError, match=r"\.pdf, \.png, \.svg"):
        poster(codec, tmp_path / name)
    with pytest.raises(ValueError, match=r"\.pdf, \.png, \.svg"):
        card(codec, tmp_path / name)
    assert list(tmp_path.iterdir()) == []
