"""`ravao audit`: who read personal data in full, when, why and about whom."""

from __future__ import annotations

import sys

import typer

from ..settings import get_settings


def _account(text: str) -> str:
    from schemas.registry import normalise_phone

    if not text or ":" in text:
        return text
    try:
        return normalise_phone(text)
    except ValueError:
        return text


def audit(
    person: str = typer.Option("", "--person", help="Only the reads that named this person id"),
    actor: str = typer.Option("", "--actor", help="Only the reads by this account: a phone "
                              "(0XXXXXXXXX), admin:NAME or service:NAME"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """List the audit trail: every read of names, phones or ID numbers in full, with the
    account, the purpose (a case id), the people read and the query's values. Reading
    the trail is itself written to it. Administrators only: the command line acts as
    admin on the machine that holds the warehouse.

    Example: ravao audit --person PBCDEFGHIJKLNOP
    """
    from ..access import cli_caller, reads_for
    from ..warehouse import open_for_reading
    from ..warehouse.output import FORMATS, render
    from ..warehouse.queries import QueryInputError

    if fmt not in FORMATS:
        raise QueryInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    settings = get_settings()
    with open_for_reading(settings) as warehouse:
        reads = reads_for(settings, warehouse)
        try:
            result = reads.audit_trail(cli_caller(), person=person.strip(), actor=_account(actor.strip()))
        finally:
            reads.trail.close()
    sys.stdout.write(render(result, fmt))
