"""Printable venue posters and personal QR cards, as PDF, PNG or SVG.

Each printable is described once as a `Layout`: page size, text lines and one QR box,
all in millimetres from the top-left corner. Three small backends draw any layout, so
the poster and the card are each laid out in one place and look the same in every
format. Text is set in the vendored DejaVu fonts, which have every Vietnamese glyph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from math import ceil
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from schemas.ids import ID_LENGTH
from schemas.qrcode import HEADER_LENGTH, display_form


class PosterVenue(Protocol):
    """What a poster shows of a venue: a `schemas.registry.Venue`, or the web's read of one."""

    venue_id: str
    name: str
    address: str
    privileged: bool

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FILES = {False: FONT_DIR / "DejaVuSans.ttf", True: FONT_DIR / "DejaVuSans-Bold.ttf"}
PDF_FONT_NAMES = {False: "DejaVuSans", True: "DejaVuSans-Bold"}
SVG_FONT_FAMILY = "DejaVu Sans, sans-serif"
SUPPORTED_SUFFIXES = (".pdf", ".png", ".svg")

MM_PER_PT = 25.4 / 72
A4 = (210.0, 297.0)
ID1_CARD = (85.6, 54.0)
POSTER_DPI = 150
CARD_DPI = 300
PDF_QR_DPI = 300  # the QR goes into the PDF as an image sharp enough for any printer
QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 asks
# A QR code scans from about ten times its width: 14 cm reaches a phone held 1 m away.
MIN_POSTER_SYMBOL_MM = 140.0
LINE_PITCH_EM = 1.3  # room for Vietnamese stacked marks (Ấ, Ệ) above capitals
ASCENT_EM = 1.0
DESCENT_EM = 0.3
EPS = 1e-6  # mm: lines stacked edge to edge touch, they do not overlap

POSTER_TITLE = "QUÉT MÃ QR KHI RA VÀO"
POSTER_SUBTITLE = "Scan this QR code when you enter and leave"
POSTER_INSTRUCTIONS = (
    "1. Mở ứng dụng hoặc camera của điện thoại.",
    "2. Quét mã QR này khi vào và khi ra.",
    "3. Không có điện thoại? Đưa thẻ QR cá nhân cho bảo vệ quét.",
)
POSTER_INSTRUCTIONS_EN = "No phone? Ask the guard to scan your personal QR card."
PRIVILEGED_NOTICE = "Cơ sở được phép xem đầy đủ thông tin cá nhân"
CARD_TITLE = "Thẻ QR cá nhân — ravao"
CARD_HINT = "Đưa thẻ cho bảo vệ quét khi vào và khi ra."


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    x: float  # mm: the centre of the line, or its left edge when align is "left"
    baseline: float  # mm from the top of the page
    size: float  # points
    bold: bool = False
    align: str = "center"

    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in mm, descenders and stacked marks included."""
        width = text_width(self.text, self.size, self.bold)
        left = self.x - width / 2 if self.align == "center" else self.x
        em = self.size * MM_PER_PT
        return left, self.baseline - ASCENT_EM * em, left + width, self.baseline + DESCENT_EM * em


@dataclass(frozen=True, slots=True)
class QrBox:
    qr: segno.QRCode
    x: float  # mm: top-left corner of the quiet zone
    y: float
    module: float  # mm per module

    @property
    def modules(self) -> int:
        return self.qr.symbol_size(scale=1, border=QUIET_ZONE)[0]

    @property
    def size(self) -> float:
        return self.modules * self.module

    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.size, self.y + self.size


@dataclass(frozen=True, slots=True)
class Layout:
    title: str  # document title in the PDF and SVG
    width: float  # mm
    height: float
    lines: tuple[TextLine, ...]
    qr: QrBox


def render_venue_poster(venue: PosterVenue, area_names: list[str], url: str, code: str, out: Path) -> Path:
    """An A4 portrait poster with the venue's QR (encoding ``url``); format by suffix."""
    return _render(venue_poster_layout(venue, area_names, url, code), Path(out), POSTER_DPI)


def render_person_card(person_id: str, display_name: str, code: str, out: Path) -> Path:
    """An ID-1 sized card with the person's QR (the compact code); format by suffix."""
    return _render(person_card_layout(person_id, display_name, code), Path(out), CARD_DPI)


def venue_poster_layout(venue: PosterVenue, area_names: list[str], url: str, code: str) -> Layout:
    _check_code_names(code, venue.venue_id)
    if not url.endswith(code):
        raise ValueError("the poster URL must end with the venue's code; build it with QrCodec.venue_url")
    width, height = A4
    margin = 12.0
    column = _Column(top=margin, x=width / 2, max_width=width - 2 * margin)
    column.add(POSTER_TITLE, 26, bold=True)
    column.add(POSTER_SUBTITLE, 13)
    column.skip(3)
    column.add(venue.name, 24, bold=True, max_lines=2, min_size=16)
    if venue.address:
        column.add(venue.address, 12, max_lines=2, min_size=10)
    if area_names:
        column.add(", ".join(area_names), 12, max_lines=2, min_size=10)
    qr = segno.make(url, error="m")  # segno raises M to Q or H when that fits the same size
    module = MIN_POSTER_SYMBOL_MM / qr.symbol_size(scale=1, border=0)[0]
    side = module * qr.symbol_size(scale=1, border=QUIET_ZONE)[0]
    qr_box = QrBox(qr, x=(width - side) / 2, y=column.top, module=module)
    column.top += qr_box.size
    column.add(display_form(code), 16, bold=True)
    column.skip(2)
    # The numbered steps line up with the left edge of the symbol, not the quiet zone.
    steps_left = qr_box.x + QUIET_ZONE * qr_box.module
    steps = _Column(top=column.top, x=steps_left, max_width=width - steps_left - margin, align="left")
    for instruction in POSTER_INSTRUCTIONS:
        steps.add(instruction, 12, min_size=10)
    steps.add(POSTER_INSTRUCTIONS_EN, 11, min_size=9)
    column.lines += steps.lines
    column.top = steps.top
    if venue.privileged:
        column.skip(1)
        column.add(PRIVILEGED_NOTICE, 12, bold=True)
    return _checked(Layout(f"{venue.name} — ravao", width, height, tuple(column.lines), qr_box), margin / 2)


def person_card_layout(person_id: str, display_name: str, code: str) -> Layout:
    _check_code_names(code, person_id)
    width, height = ID1_CARD
    margin = 3.0
    column = _Column(top=margin, x=margin, max_width=width - 2 * margin, align="left")
    column.add(CARD_TITLE, 8, bold=True)
    # Alphanumeric mode: a 36-letter code fits version 2 (25 modules), big modules on a card.
    qr = segno.make(code, error="m", mode="alphanumeric")
    side = height - column.top - margin
    qr_box = QrBox(qr, x=margin, y=column.top, module=side / qr.symbol_size(scale=1, border=QUIET_ZONE)[0])
    text_left = qr_box.x + qr_box.size + 1
    details = _Column(top=qr_box.y + QUIET_ZONE * qr_box.module, x=text_left,
                      max_width=width - text_left - margin, align="left")
    details.add(display_name, 9, bold=True, max_lines=2, min_size=7)
    details.skip(2)
    groups = display_form(code).split()
    for first in range(0, len(groups), 3):  # three groups of four a line, to type by hand
        details.add(" ".join(groups[first : first + 3]), 9, min_size=6)
    details.skip(2)
    details.add(CARD_HINT, 7, max_lines=2, min_size=6)
    lines = tuple(column.lines + details.lines)
    return _checked(Layout(f"{CARD_TITLE} {person_id}", width, height, lines, qr_box), margin / 2)


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in mm of ``text`` set in DejaVu at ``size`` points (the same in every backend)."""
    return pdfmetrics.stringWidth(text, _pdf_font(bold), size) * MM_PER_PT


def fit_text(text: str, size: float, max_width: float, *, bold: bool = False, max_lines: int = 1,
             min_size: float | None = None) -> tuple[float, list[str]]:
    """The largest size from ``size`` down to ``min_size`` at which ``text`` wraps into at
    most ``max_lines``. Past that the text is cut with "…": a 200-character venue name
    must still give a printable poster."""
    min_size = size if min_size is None else min_size
    while True:
        lines = _wrap(text, size, bold, max_width)
        if len(lines) <= max_lines or size - 1 < min_size:
            break
        size -= 1
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and text_width(last + "…", size, bold) > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return size, lines


def _wrap(text: str, size: float, bold: bool, max_width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while text_width(current, size, bold) > max_width:  # one word wider than a line
            cut = len(current) - 1
            while cut > 1 and text_width(current[:cut], size, bold) > max_width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    return lines + [current] if current else lines


class _Column:
    """Stacks lines of text downwards from ``top``, each taking `LINE_PITCH_EM`."""

    def __init__(self, top: float, x: float, max_width: float, align: str = "center") -> None:
        self.top, self.x, self.max_width, self.align = top, x, max_width, align
        self.lines: list[TextLine] = []

    def add(self, text: str, size: float, *, bold: bool = False, max_lines: int = 1,
            min_size: float | None = None) -> None:
        size, wrapped = fit_text(text, size, self.max_width, bold=bold, max_lines=max_lines,
                                 min_size=min_size)
        em = size * MM_PER_PT
        for line in wrapped:
            self.lines.append(TextLine(line, self.x, self.top + ASCENT_EM * em, size, bold, self.align))
            self.top += LINE_PITCH_EM * em

    def skip(self, gap: float) -> None:
        self.top += gap


def _checked(layout: Layout, edge: float) -> Layout:
    """The layout, if every text line stays on the page, off the QR's quiet zone and off
    the other lines; otherwise a bug in the layout code, so fail before printing it."""
    boxes = [line.box() for line in layout.lines] + [layout.qr.box()]
    for i, (left, top, right, bottom) in enumerate(boxes):
        if left < edge or top < edge or right > layout.width - edge or bottom > layout.height - edge:
            raise RuntimeError(f"{layout.title}: element {i} runs off the page")
        for other in boxes[i + 1 :]:
            if (left < other[2] - EPS and other[0] < right - EPS
                    and top < other[3] - EPS and other[1] < bottom - EPS):
                raise RuntimeError(f"{layout.title}: element {i} overlaps another")
    return layout


def _check_code_names(code: str, entity_id: str) -> None:
    if code[HEADER_LENGTH : HEADER_LENGTH + ID_LENGTH] != entity_id:
        raise ValueError(f"the code given is not {entity_id}'s code; encode it with QrCodec.encode")


def _render(layout: Layout, out: Path, dpi: int) -> Path:
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        write_pdf([layout], out)
    elif suffix == ".png":
        _write_png(layout, out, dpi)
    elif suffix == ".svg":
        _write_svg(layout, out)
    else:
        raise ValueError(f"cannot write {out.name!r}: name the file with one of "
                         f"{', '.join(SUPPORTED_SUFFIXES)}")
    return out


@cache
def _pdf_font(bold: bool) -> str:
    name = PDF_FONT_NAMES[bold]
    pdfmetrics.registerFont(TTFont(name, str(FONT_FILES[bold])))
    return name


@cache
def _pil_font(bold: bool, pixels: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILES[bold]), pixels)


def _qr_image(qr_box: QrBox, pixels_per_module: int) -> Image.Image:
    """The symbol and its quiet zone as a black-and-white image with square modules."""
    rows = list(qr_box.qr.matrix_iter(scale=pixels_per_module, border=QUIET_ZONE))
    image = Image.new("1", (len(rows), len(rows)))
    image.putdata([0 if dark else 1 for row in rows for dark in row])
    return image


def write_pdf(layouts: Sequence[Layout], out: Path, title: str | None = None) -> None:
    """One page per layout, each its own size."""
    pdf = canvas.Canvas(str(out), pagesize=(layouts[0].width * mm, layouts[0].height * mm))
    pdf.setTitle(title or layouts[0].title)
    pdf.setAuthor("ravao")
    for layout in layouts:
        pdf.setPageSize((layout.width * mm, layout.height * mm))
        _draw_pdf_page(pdf, layout)
    pdf.save()


def _draw_pdf_page(pdf: canvas.Canvas, layout: Layout) -> None:
    for line in layout.lines:
        pdf.setFont(_pdf_font(line.bold), line.size)
        draw = pdf.drawCentredString if line.align == "center" else pdf.drawString
        draw(line.x * mm, (layout.height - line.baseline) * mm, line.text)
    qr_box = layout.qr
    # An image rather than vector squares: whole-pixel modules print crisp, and the QR
    # can be pulled out of the file again to check it scans.
    image = _qr_image(qr_box, ceil(qr_box.module / 25.4 * PDF_QR_DPI))
    pdf.drawImage(ImageReader(image), qr_box.x * mm, (layout.height - qr_box.y - qr_box.size) * mm,
                  qr_box.size * mm, qr_box.size * mm)
    pdf.showPage()


def _write_png(layout: Layout, out: Path, dpi: int) -> None:
    px_per_mm = dpi / 25.4
    page = Image.new("L", (round(layout.width * px_per_mm), round(layout.height * px_per_mm)), 255)
    draw = ImageDraw.Draw(page)
    for line in layout.lines:
        font = _pil_font(line.bold, line.size / 72 * dpi)
        anchor = "ms" if line.align == "center" else "ls"  # x is the centre/left, y the baseline
        draw.text((line.x * px_per_mm, line.baseline * px_per_mm), line.text, fill=0, font=font, anchor=anchor)
    qr_box = layout.qr
    side = round(qr_box.size * px_per_mm)
    page.paste(_qr_image(qr_box, 1).resize((side, side), Image.Resampling.NEAREST),
               (round(qr_box.x * px_per_mm), round(qr_box.y * px_per_mm)))
    page.save(out, dpi=(dpi, dpi))


def _write_svg(layout: Layout, out: Path) -> None:
    w, h = layout.width, layout.height
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">',
        f"<title>{escape(layout.title)}</title>",
        f'<rect width="{w}" height="{h}" fill="#fff"/>',
        f"<g font-family={quoteattr(SVG_FONT_FAMILY)} fill=\"#000\">",
    ]
    for line in layout.lines:
        anchor = "middle" if line.align == "center" else "start"
        weight = "bold" if line.bold else "normal"
        parts.append(f'<text x="{line.x:.2f}" y="{line.baseline:.2f}" font-size="{line.size * MM_PER_PT:.3f}" '
                     f'font-weight="{weight}" text-anchor="{anchor}">{escape(line.text)}</text>')
    parts.append("</g>")
    qr_box = layout.qr
    # One rect per horizontal run of dark modules, in module units scaled to mm.
    parts.append(f'<g id="qr" transform="translate({qr_box.x:.3f} {qr_box.y:.3f}) scale({qr_box.module:.5f})" '
                 'fill="#000" shape-rendering="crispEdges">')
    for y, row in enumerate(qr_box.qr.matrix_iter(scale=1, border=QUIET_ZONE)):
        x = 0
        for dark, run in groupby(bool(module) for module in row):
            width = len(list(run))
            if dark:
                parts.append(f'<rect x="{x}" y="{y}" width="{width}" height="1"/>')
            x += width
    parts += ["</g>", "</svg>", ""]
    out.write_text("\n".join(parts), encoding="utf-8")
