"""`ravao alerts ...`: the alerting job's commands."""

from __future__ import annotations

import json

import typer

from ..alerts.outbox import Outbox
from ..alerts.status import status_result, summary
from ..kafka_local import bootstrap_servers
from ..settings import get_settings
from ..topics import topics_for
from ..warehouse.output import render

alerts_app = typer.Typer(help="Alerts of venues where cases were, and their notifications.\n\n"
                         "Example: ravao alerts status --failed", no_args_is_help=True)


@alerts_app.command("status")
def status(
    failed: bool = typer.Option(False, "--failed", help="Only the notifications given up (failed) or not sent "
                                "because their endpoint is disabled"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Every notification's delivery state: delivered, pending (with its next attempt),
    failed (with the last error), and the webhook endpoints disabled by a 410 Gone. Phone
    numbers are masked.

    Example: ravao alerts status --failed --format json
    """
    if fmt not in ("table", "json"):
        raise typer.BadParameter("one of table, json", param_hint="--format")
    settings = get_settings()
    outbox = Outbox(bootstrap_servers(settings), topics_for(settings).notifications.name)
    outbox.restore()
    result = status_result(outbox, failed_only=failed)
    if fmt == "json":
        typer.echo(json.dumps({"notifications": result.dicts(),
                               "endpoints_disabled": sorted(outbox.disabled_endpoints())},
                              ensure_ascii=False, indent=1))
        return
    typer.echo(render(result, "table") + summary(outbox), nl=False)
