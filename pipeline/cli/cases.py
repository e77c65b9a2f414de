"""`ravao case register|update|list`: cases, on the compacted `cases` topic."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Optional

import typer

from schemas.cases import CaseStatus

from ..access import cli_caller
from ..alerts.cases import CaseBook
from ..kafka_local import bootstrap_servers
from ..registry import Registry
from ..settings import get_settings

case_app = typer.Typer(help="Cases registered by the health authority: the alerting job (`ravao alerts`) flags "
                       "the venues a case visited and lists its contacts.\n\n"
                       "Example: ravao case register PBCDEFGHIJKLNOP --onset 2026-11-28 --status confirmed",
                       no_args_is_help=True)


def _book() -> CaseBook:
    settings = get_settings()
    return CaseBook(settings, bootstrap_servers(settings))


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{what} {text!r}: write a date as 2026-11-28") from None


@case_app.command("register")
def register(
    person: str = typer.Argument(..., help="The person's id (P...)"),
    onset: str = typer.Option(..., help="Day the symptoms began, or of the positive test: 2026-11-28"),
    status: CaseStatus = typer.Option(..., help="confirmed or suspected"),
    note: str = typer.Option("", help="A short note for tracers (health data: kept on the cases topic only)"),
) -> None:
    """Register a case for a person. A person who already has an open case gets that case
    back (nothing new is registered). The alerting job then writes the venue alerts of
    the case's infectious window and its contact list.

    Example: ravao case register PBCDEFGHIJKLNOP --onset 2026-11-28 --status suspected
    """
    settings = get_settings()
    book = _book()
    registry = Registry(settings, book.bootstrap)
    try:
        case, created = book.register(person, _date(onset, "--onset"), status, note, by=cli_caller().actor,
                                      known=lambda p: p in registry.persons())
    finally:
        book.close()
        registry.close()
    if created:
        typer.echo(f"{case.case_id}: registered ({case.status}, onset {case.onset})")
    else:
        typer.echo(f"{case.case_id}: this person's open case ({case.status}, onset {case.onset}), registered "
                   f"{case.registered_at:%Y-%m-%d %H:%M} UTC; nothing new registered (`ravao case update` "
                   "changes it)")


@case_app.command("update")
def update(
    case_id: str = typer.Argument(..., help="The case id (C...)"),
    status: Optional[CaseStatus] = typer.Option(None, help="confirmed, suspected, or cleared (retracts its alerts)"),
    onset: Optional[str] = typer.Option(None, help="A corrected onset: 2026-11-27"),
    note: Optional[str] = typer.Option(None, help="A new note"),
) -> None:
    """Change a case's status, onset or note. A new status or onset makes the alerting
    job evaluate the case again; cleared retracts its alerts.

    Example: ravao case update CBCDEFGHIJKLNOP --status cleared
    """
    book = _book()
    try:
        case = book.update(case_id, by=cli_caller().actor, status=status,
                           onset=_date(onset, "--onset") if onset else None, note=note)
    finally:
        book.close()
    typer.echo(f"{case.case_id}: {case.status}, onset {case.onset}")


@case_app.command("list")
def listing(
    status: Optional[CaseStatus] = typer.Option(None, help="Only cases with this status"),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
) -> None:
    """List the registered cases, newest first (notes are not shown: `--format json` has them).

    Example: ravao case list --status confirmed
    """
    book = _book()
    try:
        cases = sorted(book.cases().values(), key=lambda c: (c.registered_at, c.case_id), reverse=True)
    finally:
        book.close()
    cases = [c for c in cases if status is None or c.status is status]
    if fmt == "json":
        json.dump([c.model_dump(mode="json") for c in cases], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    if fmt != "table":
        raise typer.BadParameter(f"--format {fmt}: use table or json")
    typer.echo(f"{'case':<15}  {'person':<15}  {'status':<9}  {'onset':<10}  {'registered (UTC)':<16}  by")
    for c in cases:
        typer.echo(f"{c.case_id:<15}  {c.person_id:<15}  {c.status:<9}  {c.onset!s:<10}  "
                   f"{c.registered_at:%Y-%m-%d %H:%M}  {c.updated_by or c.registered_by}")
