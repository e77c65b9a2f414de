"""Staff cards: one ID-1 card for each phone a venue authorises (its owner's and its
staff's), to print and hand to the guard who holds that phone.

A card says which venue it is for, the role, the phone masked (enough to tell whose card
it is; the guard knows their own number), and carries a QR code of the guard page on the
gateway, where that phone signs in with a one-time code and scans visitors. The card is
no credential: without the phone and its code it opens nothing.

    render_staff_cards([StaffCard("Chợ Thủ Dầu Một", "098****791", owner=True)],
                       "https://ravao.example/guard", Path("cards.pdf"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import segno

from .posters import ID1_CARD, QUIET_ZONE, Layout, QrBox, _checked, _Column, write_pdf

STAFF_CARD_TITLE = "Thẻ nhân viên — ravao"
ROLE_WORDS = {True: "Chủ cơ sở · Owner", False: "Nhân viên · Staff"}
STAFF_CARD_HINT = "Quét mã để mở trang bảo vệ; đăng nhập bằng số điện thoại này."


@dataclass(frozen=True)
class StaffCard:
    venue_name: str
    masked_phone: str
    owner: bool = False


def staff_card_layout(card: StaffCard, guard_url: str) -> Layout:
    width, height = ID1_CARD
    margin = 3.0
    column = _Column(top=margin, x=margin, max_width=width - 2 * margin, align="left")
    column.add(STAFF_CARD_TITLE, 8, bold=True)
    qr = segno.make(guard_url, error="m")
    side = height - column.top - margin
    qr_box = QrBox(qr, x=margin, y=column.top, module=side / qr.symbol_size(scale=1, border=QUIET_ZONE)[0])
    text_left = qr_box.x + qr_box.size + 1
    details = _Column(top=qr_box.y + QUIET_ZONE * qr_box.module, x=text_left,
                      max_width=width - text_left - margin, align="left")
    details.add(card.venue_name, 9, bold=True, max_lines=2, min_size=7)
    details.skip(1)
    details.add(ROLE_WORDS[card.owner], 8, min_size=6)
    details.add(card.masked_phone, 10, bold=True)
    details.skip(2)
    details.add(STAFF_CARD_HINT, 7, max_lines=3, min_size=6)
    lines = tuple(column.lines + details.lines)
    return _checked(Layout(f"{STAFF_CARD_TITLE} {card.masked_phone}", width, height, lines, qr_box), margin / 2)


def render_staff_cards(cards: list[StaffCard], guard_url: str, out: Path) -> Path:
    """A PDF with one card a page, in the order given."""
    if not cards:
        raise ValueError("no card to print: the venue has no active phone")
    layouts = [staff_card_layout(card, guard_url) for card in cards]
    write_pdf(layouts, Path(out), title=f"{STAFF_CARD_TITLE} {cards[0].venue_name}")
    return Path(out)
