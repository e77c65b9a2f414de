"""`ravao user add|list|disable|enable`: people's accounts, published on `accounts`."""

from __future__ import annotations

from typing import Optional

import typer

from ..access.accounts import add_user, listing, set_active
from ..access.caller import Role, local_admin
from ..kafka_local import bootstrap_servers
from ..registry import Registry
from ..settings import get_settings
from ..access.caller import local_account

user_app = typer.Typer(help="People's accounts: who may sign in, with which role and where. A venue's owner and "
                       "staff phones are accounts already (`ravao venue add`, `ravao venue add-staff`).\n\n"
                       "Example: ravao user add --phone 0981234791 --role area_officer --area 718",
                       no_args_is_help=True)


def _registry() -> Registry:
    settings = get_settings()
    return Registry(settings, bootstrap_servers(settings))


def _actor() -> str:
    return local_admin(local_account()).actor  # the CLI acts as admin on the warehouse's machine


@user_app.command("add")
def user_add(
    phone: str = typer.Option(..., help="The person's mobile number (signs in with a code sent to it)"),
    role: Role = typer.Option(..., help="venue_staff, venue_owner (need --venue), area_officer (needs --area), "
                              "tracer, admin"),
    venue: Optional[str] = typer.Option(None, help="The venue id, for venue_staff and venue_owner"),
    area: Optional[str] = typer.Option(None, help="The area code, for area_officer (it and everything below it)"),
) -> None:
    """Give a phone an account with one role (replacing the account it had, if any).

    Example: ravao user add --phone 0981234791 --role tracer
    """
    registry = _registry()
    try:
        account = add_user(registry, phone, role, venue_id=venue, area_id=area, added_by=_actor())
    finally:
        registry.close()
    typer.echo(f"{account.grant().describe()}: added")


@user_app.command("list")
def user_list(
    full: bool = typer.Option(False, "--full", help="Show phone numbers in full (they are masked by default)"),
) -> None:
    """List every account: those of `ravao user add` and the phones the venues make accounts
    (source `venue`). Phone numbers are masked unless --full: the list is often shown or
    pasted where it should not be.

    Example: ravao user list --full
    """
    registry = _registry()
    try:
        rows = listing(registry, full=full)
    finally:
        registry.close()
    typer.echo(f"{'phone':<12}  {'role':<13}  {'venue/area':<16}  {'active':<6}  source")
    for row in rows:
        typer.echo(f"{row.phone:<12}  {row.role:<13}  {row.where:<16}  {'yes' if row.active else 'no':<6}  {row.source}")


@user_app.command("disable")
def user_disable(phone: str = typer.Option(..., help="The mobile number to disable")) -> None:
    """Disable a phone entirely, its venue roles included: its sessions end at once.

    Example: ravao user disable --phone 0981234791
    """
    registry = _registry()
    try:
        set_active(registry, phone, False, added_by=_actor())
    finally:
        registry.close()
    typer.echo("disabled")


@user_app.command("enable")
def user_enable(phone: str = typer.Option(..., help="The mobile number to enable again")) -> None:
    """Enable a disabled phone again (it signs in anew).

    Example: ravao user enable --phone 0981234791
    """
    registry = _registry()
    try:
        set_active(registry, phone, True, added_by=_actor())
    finally:
        registry.close()
    typer.echo("enabled")
