"""`ravao areas|venue|person|device`: the registry, published on compacted topics."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer

from schemas.declarations import Declaration, DeclaredBy, Symptom
from schemas.ids import PERSON, VENUE
from schemas.registry import DeviceKind, GateMode, VenueCategory

from ..areas import NAMED_SOURCES, load_areas
from ..declarations import declare
from ..kafka_local import bootstrap_servers
from ..keys import load_codec
from ..privacy import mask_name
from ..registry import Registry, RegistryError, read_latest
from ..settings import get_settings
from schemas.registry import PersonalData

areas_app = typer.Typer(help="Administrative areas (any number of tiers).\n\nExample: ravao areas load vn-2025", no_args_is_help=True)
venue_app = typer.Typer(help="Venues: register, add staff phones, print the QR poster.\n\n"
                        "Example: ravao venue add --name 'Chợ Bến Thành' --area 26734 --category market --owner-phone 0981234791",
                        no_args_is_help=True)
person_app = typer.Typer(help="People: register, print the personal QR card, declare their health.\n\n"
                         "Example: ravao person add --name 'Nguyễn Văn An' --phone 0981234791",
                         no_args_is_help=True)
device_app = typer.Typer(help="Devices: bind a guard phone or a reader station to a venue.\n\n"
                         "Example: ravao device add --venue VXXXXXXXXXXXXXX --kind reader_station --mode entry",
                         no_args_is_help=True)


def _registry() -> Registry:
    settings = get_settings()
    return Registry(settings, bootstrap_servers(settings))


@areas_app.command("load")
def areas_load(
    source: str = typer.Argument(..., help=f"{', '.join(NAMED_SOURCES)}, or a nested-JSON file"),
) -> None:
    """Publish every area of SOURCE to the registry. Named sources: vn-2025 (the current
    two tiers, province and commune, from the vietnam-provinces package) and
    binh-duong-2021 (province, district, commune, as in the 2021 letter). A file uses the
    same nested format: provinces with `wards`, or with `districts` holding `wards`.

    Example: ravao areas load binh-duong-2021
    """
    areas = load_areas(source)
    registry = _registry()
    count = registry.load_areas(areas)
    registry.close()
    tiers: dict[str, int] = {}
    for area in areas:
        tiers[area.tier] = tiers.get(area.tier, 0) + 1
    summary = ", ".join(f"{n} {tier}{'s' if n > 1 else ''}" for tier, n in tiers.items())
    typer.echo(f"loaded {count} areas: {summary}")


@venue_app.command("add")
def venue_add(
    name: str = typer.Option(..., help="The venue's name, as printed on its poster"),
    area: str = typer.Option(..., help="Code of the area it is in (a commune/ward, or any tier)"),
    category: VenueCategory = typer.Option(..., help="Decides the default and maximum stay"),
    owner_phone: str = typer.Option(..., help="The owner's mobile number (logs in to the venue screen)"),
    address: str = typer.Option("", help="Street address"),
    staff_phone: list[str] = typer.Option([], help="A staff phone allowed to scan (repeatable)"),
    privileged: Optional[bool] = typer.Option(
        None, "--privileged/--not-privileged",
        help="Staff see personal data in full (default: hospitals and checkpoints only)"),
    default_stay: Optional[int] = typer.Option(None, help="Minutes a visit lasts when no exit is scanned"),
    max_stay: Optional[int] = typer.Option(None, help="Minutes after which an open visit is closed"),
) -> None:
    """Register a venue and print its id.

    Example: ravao venue add --name 'Chợ Thủ Dầu Một' --area 25741 --category market --owner-phone 0981234791
    """
    registry = _registry()
    venue = registry.add_venue(
        name=name, area_id=area, category=category, owner_phone=owner_phone, address=address,
        staff_phones=tuple(staff_phone), privileged=privileged,
        default_stay_minutes=default_stay, max_stay_minutes=max_stay,
    )
    registry.close()
    typer.echo(venue.venue_id)


@venue_app.command("add-staff")
def venue_add_staff(venue_id: str = typer.Argument(..., metavar="VENUE"), phone: str = typer.Argument(...)) -> None:
    """Authorise one more staff phone for a venue (its guards can then register a phone).

    Example: ravao venue add-staff VXXXXXXXXXXXXXX 0912345678
    """
    registry = _registry()
    venue = registry.add_staff_phone(venue_id, phone)
    registry.close()
    typer.echo(f"{venue.venue_id}: {len(venue.staff_phones)} staff phone(s)")


@venue_app.command("qr")
def venue_qr(
    venue_id: str = typer.Argument(..., metavar="VENUE"),
    output: Path = typer.Option(..., "-o", "--output", help="poster.pdf (A4), .png or .svg"),
) -> None:
    """Render the venue's A4 poster with its signed QR code (a link to the web scanner).

    Example: ravao venue qr VXXXXXXXXXXXXXX -o poster.pdf
    """
    from producers.posters import render_venue_poster

    settings = get_settings()
    registry = _registry()
    venue = registry.venues().get(venue_id)
    if venue is None or not venue_id.startswith(VENUE):
        raise RegistryError(f"unknown venue {venue_id!r}")
    areas = registry.areas()
    area_names = [areas[a].name for a in reversed(venue.area_path) if a in areas]
    codec = load_codec(settings)
    code = codec.encode(venue.venue_id)
    render_venue_poster(venue, area_names, codec.venue_url(venue.venue_id, settings.public_url), code, output)
    output.chmod(0o644)  # a poster is meant to be seen; the process's umask keeps everything else private
    typer.echo(f"wrote {output}")


@person_app.command("add")
def person_add(
    name: str = typer.Option(..., help="Full name (personal data: kept on its own topic, masked outside tracing)"),
    phone: Optional[str] = typer.Option(None, help="Mobile number"),
    id_number: Optional[str] = typer.Option(None, help="Citizen ID (9 or 12 digits)"),
    birth_year: Optional[int] = typer.Option(None, help="Year of birth"),
    home_area: Optional[str] = typer.Option(None, help="Code of the area the person lives in"),
) -> None:
    """Register a person and print their id. The id, not personal data, goes into their QR.

    Example: ravao person add --name 'Nguyễn Văn An' --phone 0981234791 --home-area 25741
    """
    registry = _registry()
    person = registry.add_person(full_name=name, phone=phone, id_number=id_number,
                                 birth_year=birth_year, home_area_id=home_area)
    registry.close()
    typer.echo(person.person_id)


@person_app.command("declare")
def person_declare(
    person_id: str = typer.Argument(..., metavar="PERSON"),
    symptom: list[Symptom] = typer.Option([], "--symptom", help="A symptom the person has (repeatable)"),
    contact_with_case: bool = typer.Option(False, "--contact-with-case",
                                           help="The person was in contact with a case or a suspected case"),
    travel: str = typer.Option("", help="Where the person travelled from lately, in their words (at most 200 "
                               "characters)"),
    on: Optional[datetime] = typer.Option(None, "--on", formats=["%Y-%m-%d"],
                                          help="The day the declaration is for (default: today)"),
) -> None:
    """Publish a health declaration (khai báo y tế) on the person's behalf. Scans of the
    person then carry its status (none, ok, symptoms, exposed) for
    RAVAO_DECLARATION_CURRENT_DAYS days; the answers stay in the declarations topic and
    table. Prints the declaration id and the status, never the answers.

    Example: ravao person declare PXXXXXXXXXXXXXX --symptom fever --symptom cough --travel 'Hà Nội'
    """
    day = on.date() if on is not None else date.today()
    declaration = Declaration(person_id=person_id, declared_on=day, symptoms=list(dict.fromkeys(symptom)),
                              contact_with_case=contact_with_case, travel=travel, declared_by=DeclaredBy.cli)
    registry = _registry()
    try:
        declare(registry, declaration)
    finally:
        registry.close()
    typer.echo(f"{declaration.declaration_id} {declaration.status().value}")


@person_app.command("qr")
def person_qr(
    person_id: str = typer.Argument(..., metavar="PERSON"),
    output: Path = typer.Option(..., "-o", "--output", help="card.pdf, .png or .svg"),
    full_name: bool = typer.Option(False, "--full-name", help="Print the name unmasked on the card"),
) -> None:
    """Render a printable personal QR card, for people without a smartphone.

    Example: ravao person qr PXXXXXXXXXXXXXX -o card.pdf
    """
    from producers.posters import render_person_card

    settings = get_settings()
    registry = _registry()
    if not person_id.startswith(PERSON) or person_id not in registry.persons():
        raise RegistryError(f"unknown person {person_id!r}")
    personal = read_latest(registry.bootstrap, registry.topics.personal_data, PersonalData).get(person_id)
    name = "" if personal is None else (personal.full_name if full_name else mask_name(personal.full_name))
    code = load_codec(settings).encode(person_id)
    render_person_card(person_id, name, code, output)
    typer.echo(f"wrote {output}")


@device_app.command("add")
def device_add(
    venue: str = typer.Option(..., help="The venue the device scans for"),
    kind: DeviceKind = typer.Option(..., help="guard_phone or reader_station"),
    mode: GateMode = typer.Option(GateMode.auto, help="entry gate, exit gate, or auto (toggles)"),
    phone: Optional[str] = typer.Option(None, help="For a guard phone: an authorised number of the venue"),
    label: str = typer.Option("", help="A name for the device, e.g. 'Gate 2 in'"),
) -> None:
    """Bind a device to a venue. Prints the device id and its token; the token is shown
    only once (only its hash is stored) and authenticates the device to the gateway.

    Example: ravao device add --venue VXXXXXXXXXXXXXX --kind reader_station --mode entry --label 'Cổng 1'
    """
    registry = _registry()
    device, token = registry.add_device(venue_id=venue, kind=kind, mode=mode, phone=phone, label=label)
    registry.close()
    typer.echo(f"{device.device_id} {token}")
