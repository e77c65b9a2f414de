"""`ravao demo`: the embedded stack with a province and its registry.

At this stage: start the local broker, create the topics, load the Binh Duong 2021
areas, register a few venues, people and devices, and print their posters and cards.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from schemas.registry import DeviceKind, GateMode, VenueCategory

from ..areas import load_areas
from ..kafka_io import ensure_topics
from ..kafka_local import LocalKafka
from ..keys import load_codec
from ..privacy import mask_name, mask_phone
from ..registry import Registry
from ..settings import get_settings
from ..topics import topics_for

DEMO_VENUES = [
    ("Công ty Giày Da Bình Dương", "25741", VenueCategory.factory, "Khu công nghiệp Đồng An"),
    ("Chợ Thủ Dầu Một", "25744", VenueCategory.market, "Đường Bạch Đằng"),
    ("Bệnh viện Đa khoa tỉnh Bình Dương", "25747", VenueCategory.hospital, "Phạm Ngọc Thạch"),
]
DEMO_PEOPLE = [("Nguyễn Văn An", "0981234791"), ("Trần Thị Bình", "0912345678"), ("Lê Hoàng Cường", "0387654321")]


def demo(out: Path = typer.Option(None, help="Where to write posters and cards (default: RAVAO_DATA_DIR/demo)")) -> None:
    """Start the local broker, load the Binh Duong 2021 areas (province, 9 districts,
    91 communes), register demo venues, people and gate stations, and render their
    posters and cards. The broker keeps running; stop it with `ravao kafka stop`.

    Example: ravao demo
    """
    console = Console()
    settings = get_settings()
    out = out or settings.data_dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    with console.status("starting Kafka (the first start fetches its jars with Maven)..."):
        bootstrap = settings.kafka_bootstrap or LocalKafka.from_settings(settings).start().bootstrap
        ensure_topics(bootstrap, topics_for(settings).all(), settings.topic_replication)
    console.print(f"Kafka: [bold]{bootstrap}[/]")

    registry = Registry(settings, bootstrap)
    areas = load_areas("binh-duong-2021")
    registry.load_areas(areas)
    console.print(f"areas: {len(areas)} loaded (Tỉnh Bình Dương, 3 tiers)")

    from producers.posters import render_person_card, render_venue_poster

    codec = load_codec(settings)
    names = {a.area_id: a.name for a in areas}
    table = Table(title="demo registry")
    for column in ("kind", "id", "name", "area / phone", "file"):
        table.add_column(column, no_wrap=column in ("id", "file"))
    for name, area_id, category, address in DEMO_VENUES:
        venue = registry.add_venue(name=name, area_id=area_id, category=category,
                                   owner_phone="0981234791", address=address)
        device, _token = registry.add_device(venue_id=venue.venue_id, kind=DeviceKind.reader_station,
                                             mode=GateMode.auto, label="Cổng chính")
        poster = out / f"poster-{venue.venue_id}.pdf"
        render_venue_poster(venue, [names[a] for a in reversed(venue.area_path)],
                            codec.venue_url(venue.venue_id, settings.public_url), codec.encode(venue.venue_id), poster)
        table.add_row(category.value, venue.venue_id, name, names[area_id], poster.name)
        table.add_row("station", device.device_id, "Cổng chính", "", "")
    for full_name, phone in DEMO_PEOPLE:
        person = registry.add_person(full_name=full_name, phone=phone, home_area_id="25741")
        card = out / f"card-{person.person_id}.pdf"
        render_person_card(person.person_id, mask_name(full_name), codec.encode(person.person_id), card)
        table.add_row("person", person.person_id, mask_name(full_name), mask_phone(phone), card.name)
    registry.close()
    console.print(table)
    console.print(f"posters and cards: {out}/")
    console.print("The broker keeps running: try `ravao venue add --help`; stop it with `ravao kafka stop`.")
